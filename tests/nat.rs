//! MicroSIP's network keys on the wire: `rport`, `disableSessionTimer`, `publicAddr`,
//! `allowRewrite` and `ICE`, with the real `microsip` binary against SIPp and pjsua (built
//! from our own pjproject tree).

mod support;

use std::time::Duration;

use support::audio::{self, PacedSpeaker, PjsuaCaller, SPEAKER_RATE};
use support::{Phone, Sipp, TempDir};

const T: Duration = Duration::from_secs(20);

/// [Account1] `intercom` with no registrar (calls by address) and `account` lines, answering
/// every call at once, PCMA only; `settings` adds [Settings] lines.
fn ini(settings: &str, account: &str) -> String {
    support::settings(
        1,
        &format!("autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\n{settings}"),
    ) + &format!("[Account1]\ndomain=127.0.0.1\nusername=intercom\ntransport=udp\n{account}")
}

/// The phone dials a busy SIPp; returns the INVITE SIPp received.
fn invite_from(phone: &Phone) -> String {
    phone.wait_line("started: SIP on udp ", T);
    let mut callee = Sipp::uas("uas_busy.xml").spawn();
    phone.send(&format!("sip:busy@{}", callee.addr()));
    let out = callee.wait(T);
    out.assert_success();
    let start = out.messages.find("INVITE sip:").expect("an INVITE");
    let invite = &out.messages[start..];
    invite[..invite.find("-----").unwrap_or(invite.len())].to_string()
}

fn via(invite: &str) -> &str {
    invite
        .lines()
        .find(|l| l.starts_with("Via:"))
        .expect("a Via header")
}

#[test]
fn rport_is_asked_for_unless_rport_is_0() {
    let phone = Phone::start(&ini("", ""), &[]);
    let invite = invite_from(&phone);
    assert!(via(&invite).contains(";rport"), "{invite}");
    drop(phone);

    let phone = Phone::start(&ini("rport=0\n", ""), &[]);
    let invite = invite_from(&phone);
    assert!(!via(&invite).contains("rport"), "{invite}");
}

#[test]
fn session_timers_are_offered_unless_disable_session_timer() {
    let phone = Phone::start(&ini("", ""), &[]);
    let invite = invite_from(&phone);
    assert!(invite.contains("Session-Expires:"), "{invite}");
    let supported = invite
        .lines()
        .find(|l| l.starts_with("Supported:"))
        .unwrap_or_default();
    assert!(supported.contains("timer"), "{invite}");
    drop(phone);

    let phone = Phone::start(&ini("", "disableSessionTimer=1\n"), &[]);
    let invite = invite_from(&phone);
    assert!(!invite.contains("Session-Expires:"), "{invite}");
    assert!(!invite.contains("Min-SE:"), "{invite}");
}

#[test]
fn public_addr_is_the_address_in_the_sdp() {
    // A documentation address (RFC 5737), in no private range: used as given.
    let phone = Phone::start(&ini("", "publicAddr=203.0.113.7\n"), &[]);
    let invite = invite_from(&phone);
    assert!(invite.contains("c=IN IP4 203.0.113.7"), "{invite}");
    // SIP itself keeps the bound address.
    assert!(via(&invite).contains("127.0.0.1"), "{invite}");
}

/// ICE ignores loopback addresses, so this call runs in a network namespace of the test's
/// own, the phone on 10.213.0.1 and pjsua on 10.213.0.2.
#[test]
fn ice_candidates_are_offered_and_answered_and_media_connects() {
    support::private_network(&["10.213.0.1", "10.213.0.2"]);
    let dir = TempDir::new("ice");
    let speaker = PacedSpeaker::start(&dir.path().join("speaker"));
    let phone = Phone::start_with_env(
        &ini("", "ICE=1\n"),
        &["--log-level", "debug", "--bind", "10.213.0.1"],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", speaker.path().to_str().unwrap()),
            ("AUDIO_IN", "/nonexistent/in.raw"),
        ],
    );
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();
    assert!(addr.starts_with("10.213.0.1:"), "{line}");
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 1000.0, 0.5, 0, 8000 * 2));
    let mut caller = PjsuaCaller::call_with(
        &[
            "--use-ice",
            "--ip-addr=10.213.0.2",
            "--bound-addr=10.213.0.2",
        ],
        &format!("sip:intercom@{addr}"),
        &play,
        3,
    );
    caller.wait_log("ICE negotiation success", T);
    phone.wait_line(": DISCONNECTED", T);
    phone.wait_line("audio: stopped after", T);
    caller.quit_and_recording();
    let log = phone.log();
    let answer = &log[log.find("Response msg 200/INVITE").expect("our 200")..];
    let answer = &answer[..answer.find("--end msg--").unwrap_or(answer.len())];
    assert!(answer.contains("a=ice-ufrag:"), "{answer}");
    assert!(
        answer.contains("a=candidate:") && answer.contains("10.213.0.1"),
        "{answer}"
    );
    assert!(
        log.contains("ICE negotiation success"),
        "the phone's ICE checks succeeded too"
    );
    let r = audio::analyse(&speaker.samples(), SPEAKER_RATE, 1000.0, 0.5);
    assert!(
        r.seconds >= 1.5,
        "the caller's tone must be heard: {:.2} s",
        r.seconds
    );
}

#[test]
fn without_ice_no_candidates_are_offered() {
    let phone = Phone::start(&ini("", ""), &[]);
    let invite = invite_from(&phone);
    assert!(!invite.contains("a=candidate:"), "{invite}");
    assert!(!invite.contains("a=ice-ufrag:"), "{invite}");
}
