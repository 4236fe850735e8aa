//! MicroSIP's incoming-call rules on the wire (spec §8, §9): the real phone, SIPp callers on
//! 127.0.0.1, and a Kamailio registrar where the account matters. Each test checks what the
//! caller gets: the SIP code, the `Reason:` header (MicroSIP 3.22.16's form), or the call
//! being answered or left ringing.

mod support;

use std::time::Duration;

use support::{Kamailio, Phone, Sipp, SippOutput, ALICE, ALICE_PASSWORD};

const T: Duration = Duration::from_secs(20);

/// The [Settings] every phone here starts with: its own SIP and RTP ports, no sounds.
fn base_settings(account_id: u32) -> String {
    support::settings(account_id, "")
}

/// A MicroSIP.ini for the local account (calls by IP) with `extra` lines in [Settings].
fn local_ini(extra: &str) -> String {
    base_settings(0) + extra
}

/// A SIPp caller (`uac_as.xml`): `caller`@`from_host` calls `to_user`@`to_host` at the phone.
fn caller(phone_addr: &str, caller: &str, from_host: &str, to_user: &str, to_host: &str) -> Sipp {
    Sipp::uac("uac_as.xml", phone_addr).service(to_user).args(&[
        "-key",
        "caller",
        caller,
        "-key",
        "from_host",
        from_host,
        "-key",
        "to_host",
        to_host,
    ])
}

/// `caller`@127.0.0.1 calls intercom@127.0.0.1 at the phone.
fn call_from(phone_addr: &str, user: &str) -> Sipp {
    Sipp::caller_as(phone_addr, user)
}

/// Runs a caller to its end and asserts it was refused with `code` and, when given, the
/// `Reason:` header text.
fn assert_refused(out: &SippOutput, code: u16, text: Option<&str>) {
    out.assert_success();
    assert!(
        out.messages.contains(&format!("SIP/2.0 {code} ")),
        "want {code}:\n{}",
        out.messages
    );
    assert!(
        !out.messages.contains("SIP/2.0 200 OK"),
        "refused, not answered:\n{}",
        out.messages
    );
    if let Some(text) = text {
        let header = format!("Reason: SIP ;cause={code} ;text=\"{text}\"");
        assert!(
            out.messages.contains(&header),
            "want {header}:\n{}",
            out.messages
        );
    }
}

/// Hangs up every call and waits for the answered callers to have seen their BYE.
fn hang_up(phone: &Phone, callers: Vec<Sipp>) {
    phone.send("/hangupall");
    for mut c in callers {
        c.wait(T).assert_success();
    }
}

#[test]
fn dnd_with_deny_incoming_button_refuses_with_486_do_not_disturb() {
    for extra in [
        "DND=1\n",
        "denyIncoming=button\nDND=1\n",
        "DoNotDisturb=1\n",
    ] {
        let phone = Phone::start(&local_ini(&format!("autoAnswer=all\n{extra}")), &[]);
        let addr = phone.sip_addr();
        let out = call_from(&addr, "100").run(T);
        assert_refused(&out, 486, Some("Do Not Disturb"));
        phone.wait_line("rejected (486 Do Not Disturb)", T);
    }
    // DND=0: the same call is answered.
    let phone = Phone::start(&local_ini("autoAnswer=all\nDND=0\n"), &[]);
    let addr = phone.sip_addr();
    let c = call_from(&addr, "100").spawn();
    c.wait_answered(T);
    hang_up(&phone, vec![c]);
}

#[test]
fn deny_incoming_all_refuses_every_call() {
    let phone = Phone::start(&local_ini("autoAnswer=all\ndenyIncoming=all\n"), &[]);
    let addr = phone.sip_addr();
    assert_refused(
        &call_from(&addr, "100").run(T),
        486,
        Some("Incoming calls blocked by user"),
    );
}

/// The phone registered as alice at a Kamailio registrar, answering calls at once, with
/// `denyIncoming=<mode>`: (Kamailio, phone, the phone's address).
fn registered_phone(mode: &str) -> (Kamailio, Phone, String) {
    let kam = Kamailio::start();
    let ini = format!(
        "{}autoAnswer=all\ndenyIncoming={mode}\n[Account1]\nserver={}\ndomain={}\n\
         username={ALICE}\npassword={ALICE_PASSWORD}\ntransport=udp\n",
        base_settings(1),
        kam.addr(),
        support::DOMAIN,
    );
    let phone = Phone::start(&ini, &[]);
    let addr = phone.sip_addr();
    phone.wait_line("registered: Account1", T);
    (kam, phone, addr)
}

/// Whether a call from `from_user`@`from_host` to `to_user`@`to_host` is answered (true) or
/// refused with 486 "Incoming calls blocked by user" (false).
fn answered(
    phone: &Phone,
    addr: &str,
    (from_user, from_host): (&str, &str),
    (to_user, to_host): (&str, &str),
) -> bool {
    let mut c = caller(addr, from_user, from_host, to_user, to_host).spawn();
    let out = c.wait_message_or_end("SIP/2.0 200 OK", T);
    match out {
        None => {
            hang_up(phone, vec![c]);
            true
        }
        Some(out) => {
            assert_refused(&out, 486, Some("Incoming calls blocked by user"));
            false
        }
    }
}

#[test]
fn deny_incoming_user_domain_and_remote_domain_compare_with_the_account() {
    let ours = (ALICE, support::DOMAIN);
    let other_user = ("bob", support::DOMAIN);
    let other_domain = (ALICE, "elsewhere.example");
    let near = ("100", support::DOMAIN);
    let far = ("100", "far.example");

    let (_kam, phone, addr) = registered_phone("user");
    assert!(answered(&phone, &addr, near, ours));
    assert!(!answered(&phone, &addr, near, other_user));
    assert!(answered(&phone, &addr, near, other_domain));
    drop(phone);

    let (_kam, phone, addr) = registered_phone("domain");
    assert!(answered(&phone, &addr, near, other_user));
    assert!(!answered(&phone, &addr, near, other_domain));
    drop(phone);

    let (_kam, phone, addr) = registered_phone("userdomain");
    assert!(answered(&phone, &addr, near, ours));
    assert!(!answered(&phone, &addr, near, other_user));
    assert!(!answered(&phone, &addr, near, other_domain));
    drop(phone);

    let (_kam, phone, addr) = registered_phone("remotedomain");
    assert!(answered(&phone, &addr, near, other_domain));
    assert!(!answered(&phone, &addr, far, ours));
}

#[test]
fn call_waiting_off_and_the_call_limit_refuse_with_486() {
    // callWaiting=0: a second call while one is up.
    let phone = Phone::start(&local_ini("autoAnswer=all\ncallWaiting=0\n"), &[]);
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    first.wait_answered(T);
    assert_refused(
        &call_from(&addr, "101").run(T),
        486,
        Some("Maximum concurrent calls reached"),
    );
    hang_up(&phone, vec![first]);
    drop(phone);

    // maxConcurrentCalls=2: a third call (singleMode=0, else answering the second call
    // ends the first; AC=1, so the first is not put on hold, which this caller cannot take).
    let phone = Phone::start(
        &local_ini(
            "autoAnswer=all\nautoAnswerCalls=all\nsingleMode=0\nAC=1\nmaxConcurrentCalls=2\n",
        ),
        &[],
    );
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    first.wait_answered(T);
    let second = call_from(&addr, "101").spawn();
    second.wait_answered(T);
    assert_refused(
        &call_from(&addr, "102").run(T),
        486,
        Some("Maximum concurrent calls reached"),
    );
    hang_up(&phone, vec![first, second]);
}

#[test]
fn a_second_call_from_the_same_caller_is_refused_with_486() {
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerCalls=all\n"), &[]);
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    first.wait_answered(T);
    assert_refused(
        &call_from(&addr, "100").run(T),
        486,
        Some("Already in call with this contact"),
    );
    // Someone else gets through.
    let other = call_from(&addr, "101").spawn();
    other.wait_answered(T);
    hang_up(&phone, vec![first, other]);
}

#[test]
fn an_invite_repeating_an_answered_call_id_gets_487() {
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerCalls=all\n"), &[]);
    let addr = phone.sip_addr();
    let mut sipp = Sipp::uac("uac_repeat_call_id.xml", &addr)
        .service("intercom")
        .spawn();
    phone.wait_line("rejected (487)", T);
    phone.send("/hangupall");
    let out = sipp.wait(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 487"), "{}", out.messages);
}

#[test]
fn auto_answer_number_answers_only_the_callers_it_lists() {
    // The intercom answers 100 and 2xx by itself; anybody else rings until they give up.
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerNumber=100;2*\n"), &[]);
    let addr = phone.sip_addr();
    for listed in ["100", "205"] {
        let c = call_from(&addr, listed).spawn();
        c.wait_answered(T);
        hang_up(&phone, vec![c]);
    }
    // SIPp's own caller (sipp) is not listed: 180, and it rings until cancelled (a 200
    // would fail the scenario).
    let mark = phone.mark();
    Sipp::uac("uac_cancel.xml", &addr)
        .service("intercom")
        .run(T)
        .assert_success();
    phone.wait_line_after(mark, "ringing (180)", T);
}

#[test]
fn a_call_during_another_is_not_auto_answered_unless_auto_answer_calls_allows() {
    // MicroSIP's default autoAnswerCalls="": the second caller rings; the first call stays.
    let phone = Phone::start(&local_ini("autoAnswer=all\n"), &[]);
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    first.wait_answered(T);
    let mark = phone.mark();
    let second = Sipp::uac("uac_cancel.xml", &addr)
        .service("intercom")
        .run(T);
    second.assert_success();
    phone.wait_line_after(mark, "ringing (180)", T);
    hang_up(&phone, vec![first]);
    drop(phone);

    // autoAnswerCalls=all: the second caller is answered too.
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerCalls=all\n"), &[]);
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    first.wait_answered(T);
    let second = call_from(&addr, "101").spawn();
    second.wait_answered(T);
    hang_up(&phone, vec![first, second]);
}

/// The 302 a forwarded caller got: its `Contact` and `Diversion` headers.
fn assert_forwarded(out: &SippOutput, contact: &str, diversion: &str) {
    out.assert_success();
    let m = &out.messages;
    assert!(m.contains("SIP/2.0 302 "), "want a 302:\n{m}");
    assert!(
        !m.contains("SIP/2.0 200 OK"),
        "forwarded, not answered:\n{m}"
    );
    let reply = &m[m.find("SIP/2.0 302 ").unwrap()..];
    let reply = &reply[..reply
        .find("\n\n")
        .or(reply.find("\r\n\r\n"))
        .unwrap_or(reply.len())];
    for want in [
        format!("Contact: {contact}"),
        format!("Diversion: {diversion}"),
    ] {
        assert!(reply.contains(&want), "want {want} in the 302:\n{reply}");
    }
}

#[test]
fn forwarding_all_sends_302_with_contact_and_diversion_at_once() {
    // forwarding=all wins over an auto-answer at once.
    let phone = Phone::start(
        &local_ini("autoAnswer=all\nforwarding=all\nforwardingNumber=300@127.0.0.1\n"),
        &[],
    );
    let addr = phone.sip_addr();
    let out = call_from(&addr, "100").run(T);
    assert_forwarded(&out, "<sip:300@127.0.0.1>", "<sip:intercom@127.0.0.1>");
    assert!(
        !out.messages.contains("SIP/2.0 180"),
        "forwarded at once, without ringing:\n{}",
        out.messages
    );
    phone.wait_line("forwarded (302) to <sip:300@127.0.0.1>", T);
}

#[test]
fn forwarding_button_follows_fwd_and_forwarding_delay_rings_first() {
    // button with FWD=1 and a delay: 180 first, then the 302.
    let phone = Phone::start(
        &local_ini(
            "autoAnswer=\nforwarding=button\nFWD=1\nforwardingNumber=sip:301@127.0.0.1\n\
             forwardingDelay=1\n",
        ),
        &[],
    );
    let addr = phone.sip_addr();
    let out = call_from(&addr, "100").run(T);
    assert_forwarded(&out, "<sip:301@127.0.0.1>", "<sip:intercom@127.0.0.1>");
    let m = &out.messages;
    let ring = m.find("SIP/2.0 180").expect("it rang first");
    assert!(ring < m.find("SIP/2.0 302").unwrap(), "{m}");
    phone.wait_line("forwarded to <sip:301@127.0.0.1> (302, forwardingDelay)", T);
    drop(phone);

    // button with FWD=0: not forwarded (answered, as autoAnswer=all says).
    let phone = Phone::start(
        &local_ini("autoAnswer=all\nforwarding=button\nFWD=0\nforwardingNumber=301@127.0.0.1\n"),
        &[],
    );
    let addr = phone.sip_addr();
    let c = call_from(&addr, "100").spawn();
    c.wait_answered(T);
    hang_up(&phone, vec![c]);
}

#[test]
fn a_shorter_auto_answer_delay_wins_over_forwarding() {
    let phone = Phone::start(
        &local_ini(
            "autoAnswer=all\nautoAnswerDelay=1\nforwarding=all\nforwardingNumber=300@127.0.0.1\n\
             forwardingDelay=30\n",
        ),
        &[],
    );
    let addr = phone.sip_addr();
    let c = call_from(&addr, "100").spawn();
    c.wait_answered(T);
    phone.wait_line("auto-answer in 1 s", T);
    // The delay is honoured on the wire: the 200 never comes before it.
    let m = c.messages();
    // (rem_euclid: a run across midnight)
    let waited =
        (wire_time(&m, "SIP/2.0 200 OK") - wire_time(&m, "INVITE sip:")).rem_euclid(86400.0);
    assert!(waited >= 1.0, "answered {waited:.3} s after the INVITE");
    hang_up(&phone, vec![c]);
}

/// When SIPp sent or received the first message containing `needle`, in seconds of the day
/// (from the `-trace_msg` separator line before it).
fn wire_time(messages: &str, needle: &str) -> f64 {
    let at = messages
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?}:\n{messages}"));
    let stamp = messages[..at]
        .rfind("----- ")
        .map(|i| &messages[i + 6..])
        .and_then(|rest| rest.lines().next())
        .expect("a trace separator");
    let time = stamp.split_whitespace().nth(1).expect("date and time");
    let mut parts = time.split(':').map(|p| p.parse::<f64>().unwrap());
    let (h, m, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    h * 3600.0 + m * 60.0 + s
}

#[test]
fn auto_hang_up_time_ends_the_call_with_a_warning_header() {
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoHangUpTime=1\n"), &[]);
    let addr = phone.sip_addr();
    let mut c = call_from(&addr, "100").spawn();
    c.wait_answered(T);
    // The caller never hangs up: the phone's BYE ends the scenario.
    let out = c.wait(T);
    out.assert_success();
    let m = &out.messages;
    let bye = &m[m.find("BYE sip:").expect("the phone sent BYE")..];
    assert!(
        bye.contains("Warning: 399 localhost \"Call duration exceeded\""),
        "{bye}"
    );
    phone.wait_line("autoHangUpTime (1 s) reached", T);
}

#[test]
fn one_ringing_call_is_declined_with_486_and_another_answered_by_id() {
    let phone = Phone::start(&local_ini("autoAnswer=\n"), &[]);
    let addr = phone.sip_addr();
    let first = call_from(&addr, "100").spawn();
    let second = call_from(&addr, "101").spawn();
    first.wait_message("SIP/2.0 180", T);
    second.wait_message("SIP/2.0 180", T);
    let (a, b) = (phone.incoming_call_id("100"), phone.incoming_call_id("101"));
    let reply = phone.send(&format!("msip:callanswer:{a}:-486"));
    assert!(
        reply.contains(&format!("answered call {a} with 486")),
        "{reply}"
    );
    let reply = phone.send(&format!("msip:callanswer:{b}"));
    assert!(reply.contains(&format!("answered call {b}")), "{reply}");
    let mut first = first;
    let out = first.wait(T);
    assert_refused(&out, 486, None);
    second.wait_answered(T);
    // A call that does not ring is not answered; a bad value says what to give.
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(
        &["--ini", &ini, "--send", &format!("msip:callanswer:{b}")],
        T,
    );
    assert!(!status.success() && out.contains("not ringing in"), "{out}");
    let (status, out) = Phone::run_to_exit(
        &["--ini", &ini, "--send", &format!("msip:callanswer:{b}:486")],
        T,
    );
    assert!(!status.success() && out.contains("-486"), "{out}");
    // msip:callhangup ends that one call with a BYE.
    phone.send(&format!("msip:callhangup:{b}"));
    let mut second = second;
    second.wait(T).assert_success();
}

#[test]
fn window_command_ids_map_to_microsip_meanings() {
    let phone = Phone::start(&local_ini(""), &[]);
    phone.sip_addr();
    let reply = phone.send("msip:command:32802");
    assert!(reply.contains("mic muted"), "{reply}");
    let reply = phone.send("msip:command:32803");
    assert!(reply.contains("speaker muted"), "{reply}");
    let reply = phone.send("msip:command:32789");
    assert!(reply.contains("ID_SETTINGS"), "{reply}");
    let ini = phone.ini_path().to_str().unwrap().to_string();
    // 40001 is account 2 in MicroSIP (not "hang up"): there is no [Account2] here.
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--send", "msip:command:40001"], T);
    assert!(
        !status.success() && out.contains("[Account2] does not load"),
        "{out}"
    );
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--send", "msip:command:1234"], T);
    assert!(
        !status.success() && out.contains("not one of MicroSIP's stable ids"),
        "{out}"
    );
    let mut phone = phone;
    phone.send("msip:command:32784");
    assert!(phone.wait_exit(T).success());
}

#[test]
fn hide_cid_sends_privacy_and_an_anonymous_from() {
    for (mode, from) in [
        ("soft", "From: \"Anonymous\" <sip:alice@127.0.0.1>"),
        ("1", "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>"),
        ("0", "From: <sip:alice@127.0.0.1>"),
    ] {
        // An account without a server: no registration, calls go straight to the target.
        let phone = Phone::start(
            &(base_settings(1)
                + &format!("\n[Account1]\ndomain=127.0.0.1\nusername=alice\nhideCID={mode}\n")),
            &[],
        );
        phone.sip_addr();
        let mut callee = Sipp::uas("uas_answer.xml").spawn();
        phone.send(&format!("sip:400@{}", callee.addr()));
        callee.wait_message("INVITE sip:400@", T);
        phone.wait_line(": CONFIRMED", T);
        phone.send("/hangupall");
        let out = callee.wait(T);
        out.assert_success();
        let m = &out.messages;
        let invite = &m[m.find("INVITE sip:400@").unwrap()..];
        let invite = &invite[..invite.find("\n\n").unwrap_or(invite.len())];
        assert!(
            invite.contains(from),
            "hideCID={mode}: want {from}:\n{invite}"
        );
        assert_eq!(
            invite.contains("Privacy: id"),
            mode != "0",
            "hideCID={mode}:\n{invite}"
        );
    }
}

/// Whether a call carrying the INVITE header `hdr` (a whole line) is auto-answered (true) or
/// rings (false; the test then rejects it with /hangupincoming).
fn auto_answered_with(extra: &str, hdr: &str) -> bool {
    let phone = Phone::start(&local_ini(extra), &[]);
    let addr = phone.sip_addr();
    let mut c = Sipp::caller_as(&addr, "100")
        .scenario("uac_header.xml")
        .args(&["-key", "hdr", hdr])
        .spawn();
    let (_, line) = phone.wait_for(0, "the decision", T, |l| l.contains("incoming call "));
    if line.contains("answering (200)") {
        c.wait_answered(T);
        phone.send("/hangupall");
        let out = c.wait(T);
        out.assert_success();
        // Answered at once: the 200 is the first response (no 100 Trying before it).
        assert!(!out.messages.contains("SIP/2.0 100 "), "{}", out.messages);
        true
    } else {
        assert!(line.contains("ringing (180)"), "{line}");
        c.wait_message("SIP/2.0 180", T);
        phone.send("/hangupincoming");
        let out = c.wait(T);
        assert_refused(&out, 603, None);
        false
    }
}

#[test]
fn each_auto_answer_trigger_on_the_wire() {
    let plain = "X-Nothing: 1";
    // button: the AA toggle decides.
    assert!(auto_answered_with("autoAnswer=button\nAA=1\n", plain));
    assert!(!auto_answered_with("autoAnswer=button\nAA=0\n", plain));
    // header: X-AUTOANSWER true/1 (any case), Call-Info "auto answer" or answer-after=0.
    let header = "autoAnswer=header\n";
    assert!(auto_answered_with(header, "X-AUTOANSWER: true"));
    assert!(auto_answered_with(header, "x-autoanswer: 1"));
    assert!(auto_answered_with(
        header,
        "Call-Info: <sip:127.0.0.1>;answer-after=0"
    ));
    assert!(auto_answered_with(
        header,
        "Call-Info: <sip:127.0.0.1>;info=Auto Answer"
    ));
    assert!(!auto_answered_with(header, "X-AUTOANSWER: false"));
    assert!(!auto_answered_with(header, plain));
    // "" (off): never, whatever the INVITE asks.
    assert!(!auto_answered_with("autoAnswer=\n", "X-AUTOANSWER: true"));
}
