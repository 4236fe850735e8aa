//! Transfers, redirects, SIP MESSAGE and voicemail indication on the wire (spec §7: MicroSIP's
//! `on_call_transfer_request2`, `on_call_transfer_status`, `on_call_redirected`, `on_pager2`,
//! `on_mwi_info`): the real phone, SIPp peers on 127.0.0.1. Each test checks what a user
//! notices: the SIP code the far end gets, the call that follows, or the phone's log line.

mod support;

use std::time::Duration;

use support::{Phone, Sipp, SippOutput, LOCALHOST};

const T: Duration = Duration::from_secs(20);

/// A MicroSIP.ini for the local account (calls by IP), its own ports, `extra` in [Settings].
/// Two calls at once without a hold re-INVITE (which these SIPp peers do not take): MicroSIP
/// holds the other calls when one starts, unless auto-conference merges them.
const TWO_CALLS: &str = "autoAnswer=all\nautoAnswerCalls=all\nsingleMode=0\nAC=1\n";

fn local_ini(extra: &str) -> String {
    support::settings(0, &format!("audioCodecs=PCMA/8000/1\n{extra}"))
}

/// A caller running `scenario` (`uac_refer_in.xml`: answered, then REFERs; or
/// `uac_refer_early.xml`: REFERs before its ACK) with the phone's transfer target `target`.
fn referring_caller(scenario: &str, phone: &str, target: &str) -> Sipp {
    Sipp::uac(scenario, phone)
        .service("intercom")
        .args(&["-key", "refer_to", target])
}

/// Asserts the caller's REFER to `target` was refused with 603, and the phone logged it.
fn assert_refer_refused(phone: &Phone, out: &SippOutput, target: &str) {
    out.assert_success();
    assert!(
        out.messages.contains("SIP/2.0 603") && !out.messages.contains("SIP/2.0 202"),
        "{}",
        out.report()
    );
    let line = phone.wait_line("Call Transfer: ", T);
    assert!(
        line.contains(&format!("\"<{target}>\": refused (603)")),
        "{line}"
    );
}

#[test]
fn an_accepted_refer_is_answered_202_and_the_phone_calls_the_target() {
    let phone = Phone::start(&local_ini(TWO_CALLS), &[]);
    let addr = phone.sip_addr();
    let mut target = Sipp::uas("uas_answer.xml").spawn();
    let refer_to = format!("sip:300@{}", target.addr());
    let out = referring_caller("uac_refer_in.xml", &addr, &refer_to).run(T);
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
    phone.send("/hangupall");
    target.wait(T).assert_success();
}

#[test]
fn a_refer_to_a_party_already_in_a_call_is_refused_603() {
    let phone = Phone::start(&local_ini(TWO_CALLS), &[]);
    let addr = phone.sip_addr();
    // 300@127.0.0.1 is in a call with the phone...
    let mut first = Sipp::uac("uac_as.xml", &addr)
        .service("intercom")
        .args(&["-key", "caller", "300", "-key", "from_host", LOCALHOST])
        .args(&["-key", "to_host", LOCALHOST])
        .spawn();
    first.wait_answered(T);
    // ...when another caller transfers the phone to it.
    let target = "sip:300@127.0.0.1";
    let out = referring_caller("uac_refer_in.xml", &addr, target).run(T);
    assert_refer_refused(&phone, &out, target);
    phone.send("/hangupall");
    first.wait(T).assert_success();
}

#[test]
fn a_refer_before_the_call_is_connected_is_refused_603() {
    let phone = Phone::start(&local_ini("autoAnswer=all\n"), &[]);
    let addr = phone.sip_addr();
    // The REFER goes out as soon as the 200 arrives, before the ACK confirms the call.
    let target = "sip:300@127.0.0.1";
    let out = referring_caller("uac_refer_early.xml", &addr, target).run(T);
    assert_refer_refused(&phone, &out, target);
}

#[test]
fn a_blind_transfer_hangs_up_when_the_target_answered() {
    let phone = Phone::start(&local_ini("autoAnswer=all\n"), &[]);
    let addr = phone.sip_addr();
    let mut caller = Sipp::uac("uac_refer_done.xml", &addr)
        .service("intercom")
        .spawn();
    phone.wait_line(": CONFIRMED", T);
    phone.send("/transfer:300@127.0.0.1");
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
    phone.sip_addr();
    let mut moved = Sipp::uas("uas_answer.xml").spawn();
    let new_target = format!("sip:moved@{}", moved.addr());
    let redirector = Sipp::uas("uas_redirect.xml")
        .args(&["-key", "redirect_to", &new_target])
        .spawn();
    phone.send(&format!("sip:first@{}", redirector.addr()));
    let mut redirector = redirector;
    redirector.wait(T).assert_success();
    moved.wait_message("INVITE sip:moved@127.0.0.1", T);
    let line = phone.wait_line("redirected, calling ", T);
    assert!(line.contains(&format!("{new_target:?}")), "{line}");
    phone.wait_line(": CONFIRMED", T);
    phone.send("/hangupall");
    moved.wait(T).assert_success();
}

/// The phone's log has no line starting (after its time and level) with `text`.
fn assert_no_line_starting(phone: &Phone, text: &str) {
    for line in phone.lines() {
        assert!(
            !line.trim_start().starts_with(text),
            "a line of its own: {line:?}\n{}",
            phone.log()
        );
    }
}

#[test]
fn a_text_message_is_logged_escaped_on_one_line_and_other_types_are_not() {
    let phone = Phone::start(&local_ini("disableMessaging=0\n"), &[]);
    let addr = phone.sip_addr();
    let out = Sipp::uac("uac_message.xml", &addr)
        .service("intercom")
        .run(T);
    out.assert_success();
    // The text/plain MESSAGE came second: once it is logged, the first was handled.
    let line = phone.wait_line("message from ", T);
    assert!(line.contains("sip:sipp@127.0.0.1"), "{line}");
    assert!(
        line.contains(r#": "hello there\r\nrm -rf $(echo /tmp/x)"#),
        "the body, escaped, on the line: {line}"
    );
    assert_no_line_starting(&phone, "rm -rf");
    phone.assert_no_line("NOT-TEXT");
}

#[test]
fn disable_messaging_answers_messages_but_does_not_show_them_and_mwi_still_shows() {
    let phone = Phone::start(&local_ini("disableMessaging=1\n"), &[]);
    let addr = phone.sip_addr();
    let out = Sipp::uac("uac_message.xml", &addr)
        .service("intercom")
        .run(T);
    // PJSUA answers 200 (as MicroSIP does): the sender sees them delivered.
    out.assert_success();
    // An unsolicited message-summary NOTIFY after them: its line proves the MESSAGEs were
    // handled before.
    Sipp::uac("uac_mwi_notify.xml", &addr)
        .service("intercom")
        .run(T)
        .assert_success();
    let line = phone.wait_line("voicemail: ", T);
    assert!(
        line.contains("messages waiting: yes (2 new, 8 old)"),
        "{line}"
    );
    phone.assert_no_line("message from");
    phone.assert_no_line("hello there");
}

#[test]
fn voicemail_number_subscribes_to_message_summary_and_shows_the_notify() {
    let registrar = Sipp::uas("uas_register_slow.xml").spawn();
    let mut mwi = Sipp::uas("uas_mwi.xml").spawn();
    let ini = local_ini("").replace("accountId=0", "accountId=1")
        + &format!(
            "[Account1]\nserver={}\ndomain={}\nusername=alice\npassword=x\nvoicemailNumber=*97\n",
            registrar.addr(),
            mwi.addr()
        );
    let phone = Phone::start(&ini, &[]);
    phone.wait_line("registered: Account1", T);
    let out = mwi.wait(T);
    out.assert_success();
    assert!(
        out.messages.contains("SUBSCRIBE sip:alice@127.0.0.1"),
        "{}",
        out.report()
    );
    let line = phone.wait_line("voicemail: Account1", T);
    assert!(
        line.contains("messages waiting: yes (3 new, 1 old)"),
        "{line}"
    );
    drop(registrar);
}
