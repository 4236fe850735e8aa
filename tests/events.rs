//! The event stream (`microsip --events`) on real calls: each object is checked against the
//! README's schema (the common fields, then each type's own).

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::events::Events;
use support::{Kamailio, Phone, Sipp, ALICE, ALICE_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(20);

/// The README's schema: the common fields, then per type the fields and their JSON kinds
/// ("s" string, "n" number, "b" bool, "o" object, "a" array; a trailing "?" allows null).
fn check_schema(v: &Value) {
    assert_eq!(v["v"], 1, "{v}");
    let ts = v["ts"].as_str().unwrap_or_else(|| panic!("ts: {v}"));
    assert!(
        ts.len() >= 20 && ts.ends_with('Z') && ts.contains('T'),
        "{v}"
    );
    assert!(v["call"].is_null() || v["call"].is_u64(), "{v}");
    let kind = v["type"].as_str().unwrap_or_else(|| panic!("type: {v}"));
    let fields: &[(&str, &str)] = match kind {
        "registration" => &[
            ("account", "s"),
            ("code", "n"),
            ("reason", "s"),
            ("expires", "n"),
            ("registered", "b"),
        ],
        "incoming_call" => &[
            ("account", "s?"),
            ("from", "s"),
            ("caller", "s"),
            ("caller_name", "s"),
            ("caller_uri", "s"),
            ("to", "s"),
            ("sip_call_id", "s"),
            ("headers", "o"),
            ("other_calls", "n"),
        ],
        "decision" => &[("decision", "s"), ("code", "n")],
        "call_state" => &[
            ("state", "s"),
            ("direction", "s"),
            ("remote", "s"),
            ("sip_call_id", "s"),
            ("status", "n?"),
            ("ended", "b"),
        ],
        "media" => &[
            ("state", "s"),
            ("encrypted", "b"),
            ("srtp_suite", "s?"),
            ("srtp_keying", "s?"),
        ],
        "dtmf" => &[("digit", "s"), ("duration_ms", "n?")],
        "message" => &[
            ("from", "s"),
            ("to", "s"),
            ("content_type", "s"),
            ("body", "s"),
        ],
        "hook" => &[
            ("hook", "s"),
            ("event", "s"),
            ("program", "s"),
            ("outcome", "s"),
            ("exit_code", "n?"),
            ("elapsed_ms", "n"),
        ],
        "auto_hangup" => &[("after_s", "n")],
        "rtp_timeout" => &[("after_s", "n")],
        "mwi" => &[
            ("account", "s"),
            ("waiting", "b"),
            ("new", "n"),
            ("old", "n"),
        ],
        "redirected" => &[("target", "s")],
        "prompt_played" => &[("times", "n")],
        "alert_attempt" => &[
            ("alert", "s"),
            ("round", "n"),
            ("target", "s"),
            ("outcome", "s"),
            ("seconds", "n"),
            ("prompt_plays", "n"),
        ],
        "alert_done" => &[
            ("alert", "s"),
            ("exit_code", "n"),
            ("acknowledged_by", "s?"),
        ],
        other => panic!("a type the README does not document: {other}: {v}"),
    };
    for (name, want) in fields {
        let f = &v[*name];
        let ok = match want.trim_end_matches('?') {
            "s" => f.is_string(),
            "n" => f.is_number(),
            "b" => f.is_boolean(),
            "o" => f.is_object(),
            "a" => f.is_array(),
            _ => unreachable!(),
        } || (want.ends_with('?') && f.is_null());
        assert!(ok, "{kind}.{name} should be {want}: {v}");
    }
}

#[test]
fn a_call_in_events_from_the_invite_to_the_hang_up() {
    let kam = Kamailio::start();
    let ini = support::settings(
        1,
        &format!(
            "enableLocalAccount=1\nautoAnswer=all\nautoHangUpTime=1\ncmdCallStart=/bin/true\n\
             [Account1]\nserver={}\ndomain={DOMAIN}\nusername={ALICE}\npassword={ALICE_PASSWORD}\n",
            kam.addr()
        ),
    );
    let phone = Phone::start(&ini, &[]);
    let addr = phone.sip_addr();
    let events = Events::subscribe(&phone);
    let mut caller = Sipp::uac("uac_info_dtmf.xml", &addr)
        .args(&["-key", "caller", "100", "-key", "name", "Door \\\"1\\\""])
        .service("intercom")
        .spawn();
    let incoming = events.of_type("incoming_call");
    assert_eq!(incoming["caller"], "100");
    assert_eq!(incoming["caller_name"], "Door \"1\"");
    let call = incoming["call"].clone();
    let decision = events.of_type("decision");
    assert_eq!(decision["decision"], "answered");
    assert_eq!(decision["call"], call);
    let dtmf = events.of_type("dtmf");
    assert_eq!(dtmf["digit"], "5");
    assert_eq!(dtmf["duration_ms"], 160, "SIP INFO's Duration");
    let hook = events.of_type("hook");
    assert_eq!(hook["hook"], "cmdCallStart");
    assert_eq!(hook["outcome"], "exited");
    assert_eq!(hook["exit_code"], 0);
    events.of_type("auto_hangup");
    let end = events.wait("call end", |v| {
        v["type"] == "call_state" && v["ended"] == true
    });
    assert_eq!(end["call"], call);
    caller.wait(T).assert_success();
    events.wait("media", |v| v["type"] == "media" && v["state"] == "active");
    // A text message outside the call.
    let out = Sipp::uac("uac_message.xml", &addr)
        .service("intercom")
        .run(T);
    out.assert_success();
    let message = events.of_type("message");
    assert!(
        message["body"].as_str().unwrap().contains("$("),
        "{message}"
    );
    for v in events.all() {
        check_schema(&v);
    }
    drop(kam);
}

#[test]
fn registration_events_and_the_stream_ends_with_the_phone() {
    let kam = Kamailio::start();
    let ini = support::settings(
        1,
        &format!(
            "[Account1]\nserver={}\ndomain={DOMAIN}\nusername={ALICE}\npassword={ALICE_PASSWORD}\n",
            kam.addr()
        ),
    );
    let mut phone = Phone::start(&ini, &[]);
    phone.wait_line("registered: Account1", T);
    let mut events = Events::subscribe(&phone);
    phone.send("/exit");
    let unregistered = events.wait("unregistration", |v| {
        v["type"] == "registration" && v["registered"] == false
    });
    check_schema(&unregistered);
    assert_eq!(unregistered["account"], "Account1");
    assert!(phone.wait_exit(T).success());
    // The phone is gone: --events ends, with 0.
    let status = events.wait_exit();
    assert!(status.success(), "{status:?}");
}

#[test]
fn events_without_a_phone_is_an_error() {
    let dir = support::TempDir::new("events");
    let ini = dir.path().join("MicroSIP.ini");
    std::fs::write(&ini, "[Settings]\n").unwrap();
    let (status, out) = Phone::run_to_exit(&["--ini", ini.to_str().unwrap(), "--events"], T);
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("no phone is running"), "{out}");
}

#[test]
fn the_webhook_gets_every_event_and_a_failed_post_is_sent_again() {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("a local HTTP server"));
    let port = server.server_addr().to_ip().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<(u16, Value)>();
    let endpoint_server = Arc::clone(&server);
    let endpoint = std::thread::spawn(move || {
        let server = endpoint_server;
        // The first POST gets 500; the phone must send that event again.
        let mut first = true;
        while let Ok(mut request) = server.recv() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let json = request
                .headers()
                .iter()
                .any(|h| h.field.equiv("Content-Type") && h.value.as_str() == "application/json");
            assert!(json, "Content-Type is application/json");
            let status = if first { 500 } else { 200 };
            first = false;
            let v: Value = serde_json::from_str(&body).expect("a JSON object");
            let _ = request.respond(tiny_http::Response::empty(status));
            if tx.send((status, v)).is_err() {
                return;
            }
        }
    });
    let ini = support::settings(
        0,
        &format!("autoAnswer=all\nwebhookUrl=http://127.0.0.1:{port}/microsip\n"),
    );
    let phone = Phone::start(&ini, &[]);
    let addr = phone.sip_addr();
    let mut caller = Sipp::caller_as(&addr, "100").spawn();
    caller.wait_answered(T);
    phone.send("/hangupall");
    caller.wait(T).assert_success();
    let mut got = Vec::new();
    while !got
        .iter()
        .any(|(_, v): &(u16, Value)| v["type"] == "call_state" && v["ended"] == true)
    {
        got.push(rx.recv_timeout(T).expect("the webhook's next event"));
    }
    // The first event came twice: refused with 500, then delivered; order kept.
    assert_eq!(got[0].0, 500);
    assert_eq!(got[1].0, 200);
    assert_eq!(got[0].1, got[1].1, "the same event, sent again");
    let types: Vec<&str> = got[1..]
        .iter()
        .map(|(_, v)| v["type"].as_str().unwrap())
        .collect();
    let pos = |t: &str| types.iter().position(|x| *x == t).unwrap_or(usize::MAX);
    assert!(pos("incoming_call") < pos("decision"), "{types:?}");
    assert!(pos("decision") < types.len(), "{types:?}");
    for (_, v) in &got {
        check_schema(v);
    }
    drop(phone);
    server.unblock();
    let _ = endpoint.join();
}

#[test]
fn voicemail_redirects_and_alerts_in_events() {
    let phone = Phone::start(&support::settings(0, ""), &[]);
    let addr = phone.sip_addr();
    let events = Events::subscribe(&phone);
    // An unsolicited message-summary NOTIFY.
    Sipp::uac("uac_mwi_notify.xml", &addr)
        .service("intercom")
        .run(T)
        .assert_success();
    let mwi = events.of_type("mwi");
    assert_eq!(
        (mwi["waiting"].clone(), mwi["new"].clone()),
        (true.into(), 2.into())
    );
    // A call that is redirected (302) to a second callee.
    let mut moved = Sipp::uas("uas_answer.xml").spawn();
    let new_target = format!("sip:moved@{}", moved.addr());
    let mut redirector = Sipp::uas("uas_redirect.xml")
        .args(&["-key", "redirect_to", &new_target])
        .spawn();
    phone.send(&format!("sip:first@{}", redirector.addr()));
    redirector.wait(T).assert_success();
    let redirected = events.of_type("redirected");
    assert!(redirected["target"]
        .as_str()
        .unwrap()
        .contains("sip:moved@"));
    events.wait("confirmed", |v| {
        v["type"] == "call_state" && v["state"] == "confirmed"
    });
    phone.send("/hangupall");
    moved.wait(T).assert_success();
    // An alert through the phone: a silent callee, the prompt played once.
    let dir = support::TempDir::new("events");
    let wav = dir.path().join("beep.wav");
    support::audio::write_wav(&wav, 8000, &support::audio::tone(8000, 700.0, 0.5, 0, 4000));
    let mut silent = Sipp::uas("uas_answer.xml").spawn();
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let target = format!("sip:oncall@{}", silent.addr());
    let (status, out) = Phone::run_to_exit(
        &[
            "--ini",
            &ini,
            "--alert",
            &target,
            "--play",
            wav.to_str().unwrap(),
            "--repeat",
            "1",
        ],
        T,
    );
    assert_eq!(status.code(), Some(2), "{out}");
    silent.wait(T).assert_success();
    assert_eq!(events.of_type("prompt_played")["times"], 1);
    let attempt = events.of_type("alert_attempt");
    assert_eq!(attempt["outcome"], "not_acknowledged");
    let done = events.of_type("alert_done");
    assert_eq!(done["exit_code"], 2);
    assert_eq!(done["alert"], attempt["alert"]);
    for v in events.all() {
        check_schema(&v);
    }
}
