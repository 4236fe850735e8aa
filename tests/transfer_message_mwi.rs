//! Transfers and redirects on the wire (spec §7: MicroSIP's `on_call_transfer_request2`,
//! `on_call_transfer_status`, `on_call_redirected`): the real phone, SIPp peers on 127.0.0.1.
//! Each test checks what a user notices: the SIP code the far end gets, the call that follows,
//! or the phone's log line.

mod support;

use std::time::Duration;

use support::{Phone, Sipp, LOCALHOST};

const T: Duration = Duration::from_secs(20);

/// A MicroSIP.ini for the local account (calls by IP), its own ports, `extra` in [Settings].
fn local_ini(extra: &str) -> String {
    let rtp = support::free_udp_port_block(16);
    format!(
        "[Settings]\naccountId=0\nsourcePort={}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         localDTMF=0\naudioCodecs=PCMA/8000/1\n{extra}",
        support::free_udp_port(),
        rtp + 15
    )
}

/// The phone's SIP address ("127.0.0.1:port") once it has started.
fn phone_addr(phone: &Phone) -> String {
    let line = phone.wait_line("started: SIP on udp ", T);
    line.rsplit(' ').next().unwrap().trim().to_string()
}

/// Sends a MicroSIP command to the running phone; panics when it fails.
fn send(phone: &Phone, command: &str) -> String {
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--send", command], T);
    assert!(status.success(), "--send {command}: {out}");
    out
}

/// A caller (`uac_refer_in.xml`) that is answered and then REFERs the phone to `target`.
fn referring_caller(phone: &str, target: &str) -> Sipp {
    Sipp::uac("uac_refer_in.xml", phone)
        .service("intercom")
        .args(&["-key", "refer_to", target])
}

#[test]
fn an_accepted_refer_is_answered_202_and_the_phone_calls_the_target() {
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerCalls=all\n"), &[]);
    let addr = phone_addr(&phone);
    let mut target = Sipp::uas("uas_answer.xml").spawn();
    let refer_to = format!("sip:300@{}", target.addr());
    let out = referring_caller(&addr, &refer_to).run(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 202"), "{}", out.report());
    // The transfer's progress: the last NOTIFY carries the target's 200.
    assert!(
        out.messages.contains("message/sipfrag") && out.messages.contains("\nSIP/2.0 200 OK"),
        "no NOTIFY with the target's 200:\n{}",
        out.report()
    );
    target.wait_message("INVITE sip:300@127.0.0.1", T);
    let line = phone.wait_line("Call Transfer: ", T);
    assert!(
        line.contains(&format!("\"<{refer_to}>\": accepted (202)")),
        "{line}"
    );
    send(&phone, "/hangupall");
    target.wait(T).assert_success();
}

#[test]
fn a_refer_to_a_party_already_in_a_call_is_refused_603() {
    let phone = Phone::start(&local_ini("autoAnswer=all\nautoAnswerCalls=all\n"), &[]);
    let addr = phone_addr(&phone);
    // 300@127.0.0.1 is in a call with the phone...
    let mut first = Sipp::uac("uac_as.xml", &addr).service("intercom").args(&[
        "-key",
        "caller",
        "300",
        "-key",
        "from_host",
        LOCALHOST,
        "-key",
        "to_host",
        LOCALHOST,
    ]);
    first = first.spawn();
    first.wait_message("SIP/2.0 200 OK", T);
    // ...when another caller transfers the phone to it.
    let out = referring_caller(&addr, "sip:300@127.0.0.1").run(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 603"), "{}", out.report());
    assert!(!out.messages.contains("SIP/2.0 202"), "{}", out.report());
    let line = phone.wait_line("Call Transfer: ", T);
    assert!(line.contains("refused (603)"), "{line}");
    send(&phone, "/hangupall");
    first.wait(T).assert_success();
}

#[test]
fn a_blind_transfer_hangs_up_when_the_target_answered() {
    let phone = Phone::start(&local_ini("autoAnswer=all\n"), &[]);
    let addr = phone_addr(&phone);
    let mut caller = Sipp::uac("uac_refer_done.xml", &addr)
        .service("intercom")
        .spawn();
    phone.wait_line(": CONFIRMED", T);
    send(&phone, "/transfer:300@127.0.0.1");
    // SIPp succeeds only if the phone sends BYE after the NOTIFY with "SIP/2.0 200 OK".
    let out = caller.wait(T);
    out.assert_success();
    assert!(out.messages.contains("BYE sip:"), "{}", out.report());
    let line = phone.wait_line("Call Transfer: 200", T);
    assert!(line.contains("[Final]; transferred, hanging up"), "{line}");
    phone.wait_line(": DISCONNECTED", T);
}

#[test]
fn a_302_is_followed_to_its_contact() {
    let phone = Phone::start(&local_ini(""), &[]);
    phone_addr(&phone);
    let mut moved = Sipp::uas("uas_answer.xml").spawn();
    let new_target = format!("sip:moved@{}", moved.addr());
    let redirector = Sipp::uas("uas_redirect.xml")
        .args(&["-key", "redirect_to", &new_target])
        .spawn();
    send(&phone, &format!("sip:first@{}", redirector.addr()));
    let mut redirector = redirector;
    redirector.wait(T).assert_success();
    moved.wait_message("INVITE sip:moved@127.0.0.1", T);
    let line = phone.wait_line("redirected, calling ", T);
    assert!(line.contains(&format!("{new_target:?}")), "{line}");
    phone.wait_line(": CONFIRMED", T);
    send(&phone, "/hangupall");
    moved.wait(T).assert_success();
}
