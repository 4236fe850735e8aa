//! IPv6: phones bound to `::1` (`--bind ::1`) call each other over IPv6, UDP and TCP: SIP and
//! RTP on ::1 (the SDP says `IP6`), the caller's microphone tone heard on the callee's ALSA
//! file speaker.

mod support;

use std::path::Path;
use std::time::Duration;

use support::audio::{self, PacedMic, PacedSpeaker, SPEAKER_RATE};
use support::{Kamailio, KamailioTransports, Phone, TempDir, ALICE, ALICE_PASSWORD};

const T: Duration = Duration::from_secs(20);

/// A phone on ::1, answering at once, on the ALSA file plugin: the local account, or with
/// `transport`, [Account1] (no registrar, domain [::1]) over it.
fn phone(extra: &str, transport: Option<&str>, speaker: &Path, mic: &Path) -> Phone {
    let mut ini = support::settings(
        u32::from(transport.is_some()),
        &format!("autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\n{extra}"),
    );
    if let Some(t) = transport {
        ini += &format!("[Account1]\ndomain=[::1]\nusername=caller\ntransport={t}\n");
    }
    Phone::start_with_env(
        &ini,
        &["--bind", "::1", "--log-level", "debug"],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", speaker.to_str().unwrap()),
            ("AUDIO_IN", mic.to_str().unwrap()),
        ],
    )
}

/// Caller and callee (both over `transport`, else the local account) : the caller dials
/// `target(callee's UDP address, its TCP address)`; the callee hangs up after 3 s. Returns
/// the callee's 200 as logged.
fn call(transport: Option<&str>, target: impl Fn(&str, &str) -> String) -> String {
    let dir = TempDir::new("ipv6");
    let callee_speaker = PacedSpeaker::start(&dir.path().join("callee-spk"));
    let callee = phone(
        "autoHangUpTime=3\n",
        transport,
        callee_speaker.path(),
        Path::new("/nonexistent/in.raw"),
    );
    let udp = callee.sip_addr();
    assert!(udp.starts_with("[::1]:"), "{udp}");
    let tcp_line = callee.wait_line("SIP over tcp on ", T);
    let tcp = tcp_line
        .split("tcp on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .to_string();
    assert!(tcp.starts_with("[::1]:"), "{tcp_line}");

    let caller_speaker = PacedSpeaker::start(&dir.path().join("caller-spk"));
    let mic = PacedMic::start(&dir.path().join("caller-mic"), 8000, 1000.0, 0.5);
    let caller = phone("", transport, caller_speaker.path(), mic.path());
    caller.sip_addr();
    caller.send(&target(&udp, &tcp));
    callee.wait_line(": CONFIRMED", T);
    callee.wait_line(": DISCONNECTED", T);
    callee.wait_line("audio: stopped after", T);
    let r = audio::analyse(&callee_speaker.samples(), SPEAKER_RATE, 1000.0, 0.5);
    assert!(
        r.seconds >= 1.5,
        "the caller's tone must be heard: {:.2} s",
        r.seconds
    );
    let log = callee.log();
    let answer = &log[log
        .find("Response msg 200/INVITE")
        .expect("the callee's 200")..];
    answer[..answer.find("--end msg--").unwrap_or(answer.len())].to_string()
}

#[test]
fn a_call_over_ipv6_udp() {
    let answer = call(None, |udp, _| format!("sip:intercom@{udp}"));
    assert!(
        answer.contains("to UDP [::1]:") || answer.contains("UDP6"),
        "{answer}"
    );
    assert!(answer.contains("c=IN IP6 ::1"), "{answer}");
    assert!(answer.contains("Contact: <sip:[::1]:"), "{answer}");
}

#[test]
fn a_call_over_ipv6_tcp() {
    // transport=tcp: the dial pipeline adds ;transport=tcp, as MicroSIP does.
    let answer = call(Some("tcp"), |_, tcp| format!("sip:intercom@{tcp}"));
    assert!(answer.contains("Via: SIP/2.0/TCP [::1]:"), "{answer}");
    assert!(answer.contains("c=IN IP6 ::1"), "{answer}");
}

#[test]
fn registers_over_ipv6_udp_and_tcp() {
    let kam = Kamailio::start_with(&KamailioTransports {
        ip: Some("::1".into()),
        tcp: true,
        ..Default::default()
    });
    for (transport, server) in [("udp", kam.addr()), ("tcp", kam.tcp_addr())] {
        let ini = support::settings(1, "")
            + &format!(
                "[Account1]\nserver={server}\ndomain=[::1]\nusername={ALICE}\n\
                 password={ALICE_PASSWORD}\ntransport={transport}\n"
            );
        let phone = Phone::start(&ini, &["--bind", "::1"]);
        phone.wait_line("registered: Account1: 200", T);
        let contact = kam.wait_binding(ALICE, T);
        assert!(contact.contains("@[::1]:"), "{transport}: {contact}");
        if transport == "tcp" {
            assert!(
                contact.to_lowercase().contains("transport=tcp"),
                "{contact}"
            );
        }
        drop(phone);
        kam.wait_no_binding(ALICE, T);
    }
}
