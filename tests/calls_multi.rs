//! Several calls at once, as MicroSIP arranges them (spec §11): `singleMode` ends the other
//! calls when one is answered; otherwise a call that starts or is answered puts the others
//! on hold; `AC=1` merges connected calls into a local conference. The real phone, SIPp and
//! pjsua callers on 127.0.0.1.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::audio::{self, PjsuaCaller};
use support::{Phone, Sipp};

const T: Duration = Duration::from_secs(20);

fn ini(extra: &str) -> String {
    support::settings(0, &format!("autoAnswer=all\nautoAnswerCalls=all\n{extra}"))
}

/// `user`@127.0.0.1 calls the phone (`uac_as.xml`: answered, then waits for the BYE).
fn caller(addr: &str, user: &str) -> Sipp {
    Sipp::caller_as(addr, user).spawn()
}

#[test]
fn single_mode_answering_a_second_call_ends_the_first() {
    // singleMode=1 is MicroSIP's default.
    let phone = Phone::start(&ini(""), &[]);
    let addr = phone.sip_addr();
    let mut first = caller(&addr, "100");
    first.wait_answered(T);
    let mut second = caller(&addr, "101");
    second.wait_answered(T);
    // The first caller gets a BYE (its scenario ends after answering it).
    first.wait(T).assert_success();
    phone.wait_line("(singleMode)", T);
    phone.send("/hangupall");
    second.wait(T).assert_success();
}

#[test]
fn a_second_call_puts_the_first_on_hold() {
    let phone = Phone::start(&ini("singleMode=0\n"), &[]);
    let addr = phone.sip_addr();
    // uac_hold.xml: answered, then held (a=sendonly), resumed (a=sendrecv), then BYE.
    let mut first = Sipp::uac("uac_hold.xml", &addr).service("intercom").spawn();
    first.wait_answered(T);
    let mut second = caller(&addr, "101");
    second.wait_answered(T);
    first.wait_message("a=sendonly", T);
    phone.wait_line("on hold: call", T);
    // The second call ends; the first is resumed by hand (as in MicroSIP), then hung up.
    phone.send(&format!(
        "msip:callhangup:{}",
        phone.incoming_call_id("101")
    ));
    second.wait(T).assert_success();
    phone.send("msip:hold");
    phone.send("/hangupall");
    first.wait(T).assert_success();
}

/// Waits until pjsua's recording (still being written) holds `seconds` of audio at 16 bits,
/// `rate` Hz.
fn wait_recorded(dir: &Path, rate: u64, seconds: u64) {
    let deadline = Instant::now() + T;
    let wav = dir.join("rec.wav");
    while std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0) < 44 + rate * 2 * seconds {
        assert!(
            Instant::now() < deadline,
            "pjsua recorded less than {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn auto_conference_lets_the_callers_hear_each_other() {
    let phone = Phone::start(&ini("singleMode=0\nAC=1\n"), &[]);
    let addr = phone.sip_addr();
    let dir = support::TempDir::new("conference");
    let wav = |hz: f64| {
        let path = dir.path().join(format!("tone{hz}.wav"));
        audio::write_wav(&path, 8000, &audio::tone(8000, hz, 0.5, 0, 8000 * 2));
        path
    };
    let target = format!("sip:intercom@{addr}");
    let a = PjsuaCaller::call_from(Some("alice"), &target, &wav(700.0), 60);
    a.wait_log("CONFIRMED", T);
    let mut b = PjsuaCaller::call_from(Some("bob"), &target, &wav(1100.0), 60);
    b.wait_log("CONFIRMED", T);
    phone.wait_line("conference (AC=1): calls", T);
    phone.assert_no_line("on hold: call");
    wait_recorded(b.dir(), 16000, 3);
    let (rate, heard) = b.quit_and_recording();
    // The last second of bob's recording: alice's tone, loud and clear (the phone's own
    // microphone is silent here, so nothing else could carry it).
    let tail = &heard[heard.len().saturating_sub(rate as usize)..];
    let alice = audio::goertzel(tail, rate, 700.0);
    let own = audio::goertzel(tail, rate, 1100.0);
    assert!(
        alice > 0.1 && alice > 4.0 * own,
        "bob does not hear alice: 700 Hz at {alice:.3} of full scale (1100 Hz at {own:.3})"
    );
    drop(a);
}

#[test]
fn blind_transfer_by_feature_code_sends_the_digits_instead_of_refer() {
    let phone = Phone::start(
        &ini("enableFeatureCodeBT=1\nfeatureCodeBT=##\nDTMFMethod=3\n"),
        &[],
    );
    let addr = phone.sip_addr();
    let mut a = Sipp::caller_as(&addr, "100").args(&["-aa"]).spawn();
    a.wait_answered(T);
    phone.wait_line(": CONFIRMED", T);
    let reply = phone.send("/transfer:300");
    assert!(reply.contains("feature code sent as DTMF ##300"), "{reply}");
    phone.send("/hangupall");
    let out = a.wait(T);
    out.assert_success();
    let m = &out.messages;
    assert!(
        !m.contains("REFER "),
        "no REFER with the feature code:\n{m}"
    );
    let signals: Vec<&str> = m
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Signal="))
        .collect();
    assert_eq!(signals, ["#", "#", "3", "0", "0"], "{m}");
}

#[test]
fn attended_transfer_refers_one_call_to_the_other_with_replaces_and_ends_it() {
    let phone = Phone::start(&ini("singleMode=0\nAC=1\n"), &[]);
    let addr = phone.sip_addr();
    // Call A: a caller that accepts the transfer and reports it done.
    let mut a = Sipp::uac("uac_refer_replaces.xml", &addr)
        .service("intercom")
        .args(&["-aa"])
        .spawn();
    a.wait_answered(T);
    // Call B: the phone calls the transfer target.
    let mut b = Sipp::uas("uas_answer.xml").spawn();
    phone.send(&format!("sip:400@{}", b.addr()));
    let (_, line) = phone.wait_for(0, "call B confirmed", T, |l| {
        l.contains("sip:400@") && l.contains(": CONFIRMED")
    });
    let b_id = line
        .split("call ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let reply = phone.send(&format!("msip:attendedtransfer:{b_id}"));
    assert!(reply.contains("REFER with Replaces sent"), "{reply}");
    // A gets the REFER, reports success, and the phone hangs up A (its scenario ends).
    let out = a.wait(T);
    out.assert_success();
    assert!(out.messages.contains("Replaces="), "{}", out.messages);
    phone.send("/hangupall");
    b.wait(T).assert_success();
}

#[test]
fn call_pickup_dials_the_feature_code_and_the_extension() {
    let phone = Phone::start(&ini(""), &[]);
    phone.sip_addr();
    let mut callee = Sipp::uas("uas_answer.xml").spawn();
    // The local account has no domain: the extension comes with its host.
    let reply = phone.send(&format!("msip:pickup:201@{}", callee.addr()));
    assert!(reply.contains("**201@"), "{reply}");
    callee.wait_message("INVITE sip:**201@", T);
    phone.wait_line(": CONFIRMED", T);
    phone.send("/hangupall");
    callee.wait(T).assert_success();
}

#[test]
fn the_rtp_port_range_bounds_the_calls_at_once_and_the_next_is_refused_with_500() {
    // rtpPortMin..rtpPortMax of 4 ports: two RTP/RTCP pairs, so two calls with audio. AC=1:
    // the calls join a conference (no hold re-INVITE, which uac_as.xml does not expect).
    let rtp = support::free_udp_port_block(4);
    let phone = Phone::start(
        &format!(
            "[Settings]\naccountId=0\nsourcePort={}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
             localDTMF=0\nautoAnswer=all\nautoAnswerCalls=all\nsingleMode=0\nAC=1\n",
            support::free_udp_port(),
            rtp + 3
        ),
        &[],
    );
    let addr = phone.sip_addr();
    let mut first = caller(&addr, "100");
    first.wait_answered(T);
    let mut second = caller(&addr, "101");
    second.wait_answered(T);
    Sipp::caller_as(&addr, "102")
        .run(T)
        .assert_refused_with(500, "a third call");
    let why = phone.wait_line("Unable to find appropriate RTP/RTCP ports combination", T);
    assert!(
        why.contains(" ERROR ") && why.contains("widen rtpPortMin..rtpPortMax"),
        "{why}"
    );
    // A call that ends gives its ports back: the next caller is answered.
    phone.send(&format!(
        "msip:callhangup:{}",
        phone.incoming_call_id("100")
    ));
    first.wait(T).assert_success();
    phone.wait_line("\"Caller 100\" <sip:100@127.0.0.1>: DISCONNECTED", T);
    let mut fourth = caller(&addr, "103");
    fourth.wait_answered(T);
    phone.send("/hangupall");
    second.wait(T).assert_success();
    fourth.wait(T).assert_success();
}
