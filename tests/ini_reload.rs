//! SIGHUP re-reads MicroSIP.ini and, when a setting changed, restarts the SIP stack with it
//! (as MicroSIP does when its settings are saved), logging what changed; with nothing changed
//! the calls go on; a broken edit is refused and the phone keeps running on the settings it
//! had.

mod support;

use std::time::Duration;

use support::{Phone, Sipp};

const T: Duration = Duration::from_secs(15);
const SIGHUP: i32 = 1;

fn ini(port: u16, auto_answer: &str) -> String {
    format!("[Settings]\naccountId=0\nsourcePort={port}\nautoAnswer={auto_answer}\n")
}

#[test]
fn sighup_applies_the_edited_file_and_logs_the_change() {
    let port = support::free_udp_port();
    let phone = Phone::start(&ini(port, ""), &[]);
    phone.wait_line("started: SIP on udp", T);
    let target = format!("127.0.0.1:{port}");

    // Before: calls ring (180) until cancelled.
    Sipp::uac("uac_cancel.xml", &target)
        .service("door")
        .run(T)
        .assert_success();

    std::fs::write(phone.ini_path(), ini(port, "all")).unwrap();
    let mark = phone.mark();
    phone.signal(SIGHUP);
    let changed = phone.wait_line_after(mark, "Settings.autoAnswer", T);
    assert!(changed.contains("all"), "{changed}");
    phone.wait_line_after(mark, "settings reloaded", T);

    // After: the same call is answered.
    Sipp::uac("uac_call_bye.xml", &target)
        .service("door")
        .run(T)
        .assert_success();
}

#[test]
fn a_broken_edit_is_refused_and_the_phone_keeps_its_settings() {
    let port = support::free_udp_port();
    let mut phone = Phone::start(&ini(port, "all"), &[]);
    phone.wait_line("started: SIP on udp", T);
    std::fs::write(phone.ini_path(), "[Settings]\nsourcePort=70000\n").unwrap();
    let mark = phone.mark();
    phone.signal(SIGHUP);
    let refused = phone.wait_line_after(mark, "sourcePort", T);
    assert!(refused.contains("keeping"), "{refused}");
    assert!(phone.try_exit().is_none(), "the phone keeps running");
    let target = format!("127.0.0.1:{port}");
    Sipp::uac("uac_call_bye.xml", &target)
        .service("door")
        .run(T)
        .assert_success();
}

/// A phone answering everything on a port of its own, with SIPp's call (waiting for our BYE)
/// connected.
fn phone_in_a_call() -> (u16, Phone, Sipp) {
    let port = support::free_udp_port();
    let phone = Phone::start(&ini(port, "all"), &[]);
    phone.wait_line("started: SIP on udp", T);
    let caller = Sipp::uac("uac_wait_bye.xml", &format!("127.0.0.1:{port}"))
        .service("door")
        .spawn();
    phone.wait_line(": CONFIRMED", T);
    (port, phone, caller)
}

#[test]
fn sighup_with_nothing_changed_keeps_the_call_in_progress() {
    let (_, phone, mut caller) = phone_in_a_call();
    let mark = phone.mark();
    phone.signal(SIGHUP);
    phone.wait_line_after(mark, "no setting of", T);
    // The call is still there: /hangupall ends it with a BYE the caller expects.
    let reply = phone.send("/hangupall");
    assert!(reply.contains("hung up: call 0"), "{reply}");
    caller.wait(T).assert_success();
    phone.assert_no_line("settings reloaded");
}

#[test]
fn sighup_with_a_change_restarts_the_stack_naming_the_key_and_the_call_ends() {
    let (port, phone, mut caller) = phone_in_a_call();
    std::fs::write(phone.ini_path(), ini(port, "all") + "autoHangUpTime=600\n").unwrap();
    let mark = phone.mark();
    phone.signal(SIGHUP);
    let line = phone.wait_line_after(mark, "restarting the SIP stack for", T);
    assert!(
        line.contains("for Settings.autoHangUpTime (calls in progress end)"),
        "the log names the key that forced the restart, and only it: {line}"
    );
    // The call in progress ended with a BYE the caller expects, and the phone runs on the
    // new settings.
    caller.wait(T).assert_success();
    phone.wait_line_after(mark, "settings reloaded", T);
    phone.wait_line_after(mark, "started: SIP on udp", T);
}
