//! The real `microsip` binary against real peers on 127.0.0.1: a Kamailio registrar with
//! digest auth, and SIPp as caller. Each test starts its own servers and phone.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::{Kamailio, Phone, Sipp, ALICE, ALICE_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(15);
const SIGTERM: i32 = 15;

/// A MicroSIP.ini with [Account1] registering `alice` at `kam`, or the local account only.
fn ini(kam: Option<&Kamailio>, password: &str, auto_answer: &str) -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    let account_id = if kam.is_some() { 1 } else { 0 };
    let mut text = format!(
        "[Settings]\naccountId={account_id}\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer={auto_answer}\nautoAnswerDelay=0\nAA=0\naudioCodecs=PCMA/8000/1 PCMU/8000/1\n",
        rtp + 7
    );
    if let Some(k) = kam {
        text += &format!(
            "[Account1]\nserver={addr}\ndomain={DOMAIN}\nusername={ALICE}\npassword={password}\n\
             transport=udp\nregisterRefresh=300\nkeepAlive=15\n",
            addr = k.addr()
        );
    }
    text
}

/// The phone's SIP port, from its start-up line.
fn phone_port(phone: &Phone) -> u16 {
    let line = phone.wait_line("started: SIP on udp ", T);
    line.rsplit(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("port in the start line")
}

#[test]
fn registers_with_digest_auth_and_unregisters_on_sigterm() {
    let kam = Kamailio::start();
    let mut phone = Phone::start(
        &ini(Some(&kam), ALICE_PASSWORD, "all"),
        &["--log-level", "debug"],
    );
    phone.wait_line("registered: Account1: 200", T);
    // On the wire (PJSIP's message log): a 401 challenge first, then the 200.
    let log = phone.log();
    let challenge = log
        .find("SIP/2.0 401")
        .expect("a 401 challenge before the 200");
    let ok = log[challenge..]
        .find("SIP/2.0 200 OK")
        .expect("a 200 after the challenge");
    assert!(ok > 0);
    let contact = kam.wait_binding(ALICE, T);
    assert!(
        contact.contains("127.0.0.1"),
        "binding {contact} must advertise 127.0.0.1"
    );

    phone.signal(SIGTERM);
    let status = phone.wait_exit(T);
    assert!(
        status.success(),
        "clean exit expected, got {status:?}\n{}",
        phone.log()
    );
    phone.wait_line("unregistered: Account1: 200", T);
    kam.wait_no_binding(ALICE, T);
}

#[test]
fn wrong_password_is_reported_once_and_the_phone_keeps_running() {
    let kam = Kamailio::start();
    let mut phone = Phone::start(&ini(Some(&kam), "not-the-password", "all"), &[]);
    let line = phone.wait_line("registration failed: Account1: ", T);
    assert!(line.contains("401") || line.contains("403"), "{line}");
    assert!(
        line.contains("check username"),
        "the line says what to fix: {line}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        phone.try_exit().is_none(),
        "the phone must keep running:\n{}",
        phone.log()
    );
    let failures = phone
        .lines()
        .iter()
        .filter(|l| l.contains("registration failed"))
        .count();
    assert_eq!(failures, 1, "one clear line, not a flood:\n{}", phone.log());
    assert!(kam.binding(ALICE).is_none());
}

#[test]
fn sipp_call_through_kamailio_is_auto_answered_with_rtp() {
    let kam = Kamailio::start();
    let phone = Phone::start(&ini(Some(&kam), ALICE_PASSWORD, "all"), &[]);
    phone.wait_line("registered: Account1: 200", T);

    // SIPp offers PCMA and PCMU, with its SDP pointing at a socket of ours, so we see the
    // phone's RTP. SIPp's own pcap audio is left out here: its raw-socket packets carry source
    // port 0, and PJMEDIA rightly latches onto the address RTP comes from.
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let scenario = std::fs::read_to_string(support::tests_dir().join("sipp/uac_call_bye.xml"))
        .unwrap()
        .replace("m=audio [media_port]", &format!("m=audio {rtp_port}"))
        .replace(
            r#"<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>"#,
            "",
        );
    let dir = support::TempDir::new("scenario");
    let path = dir.path().join("uac_call_rtp.xml");
    std::fs::write(&path, scenario).unwrap();

    let mut sipp = Sipp::uac(path.to_str().unwrap(), &kam.addr())
        .service(ALICE)
        .spawn();
    let mut packets = 0;
    let mut from_phone = true;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && packets < 20 {
        if let Ok((n, src)) = rtp.recv_from(&mut buf) {
            // RTP version 2, payload type PCMA (8) or PCMU (0).
            if n >= 12 && buf[0] >> 6 == 2 && matches!(buf[1] & 0x7f, 0 | 8) {
                packets += 1;
                from_phone &= src.ip().is_loopback();
            }
        }
    }
    let out = sipp.wait(T);
    out.assert_success();
    assert!(
        packets >= 20,
        "the phone must send RTP; got {packets} packets"
    );
    assert!(from_phone);

    let answer = out
        .messages
        .split("SIP/2.0 200 OK")
        .nth(1)
        .expect("a 200 OK on the wire");
    let sdp = answer.split("\n\n").take(2).collect::<Vec<_>>().join("\n");
    assert!(
        sdp.contains("PCMA/8000") && sdp.contains("PCMU/8000"),
        "the answer offers PCMA and PCMU:\n{answer}"
    );
    assert!(
        answer.contains("c=IN IP4 127.0.0.1"),
        "SDP advertises the bound address"
    );

    // The events came in order: incoming, connecting, confirmed, disconnected.
    phone.wait_line(": DISCONNECTED", T);
    let lines = phone.lines();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{}", lines.join("\n")))
    };
    let incoming = pos("incoming call ");
    assert!(lines[incoming].contains("answering (200)"));
    assert!(incoming < pos(": CONNECTING"));
    assert!(pos(": CONNECTING") < pos(": CONFIRMED"));
    assert!(pos(": CONFIRMED") < pos(": DISCONNECTED"));
}

#[test]
fn without_auto_answer_the_call_rings_until_cancelled() {
    let phone = Phone::start(&ini(None, "", ""), &[]);
    let port = phone_port(&phone);
    let out = Sipp::uac("uac_cancel.xml", &format!("127.0.0.1:{port}"))
        .service("intercom")
        .run(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 180 Ringing"));
    assert!(
        out.messages.contains("SIP/2.0 487"),
        "the INVITE ends with 487 after the CANCEL"
    );
    let lines = phone.log();
    assert!(lines.contains("ringing (180)"));
    assert!(
        !lines.contains(": CONFIRMED"),
        "the call must never be answered"
    );
}

#[test]
fn garbage_and_malformed_invites_do_not_crash_the_phone() {
    let mut phone = Phone::start(&ini(None, "", "all"), &[]);
    let port = phone_port(&phone);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{port}");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 17, 300, 1400, 4000, 65000] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        sock.send_to(&junk, &target).unwrap();
    }
    let malformed = [
        "INVITE sip:x@127.0.0.1 SIP/2.0\r\n\r\n".to_string(),
        "INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: 1\r\nCSeq: abc INVITE\r\nContent-Length: 99999\r\n\r\nv=0".to_string(),
        format!("INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: 2\r\nCSeq: 1 INVITE\r\nContact: <{}>\r\nContent-Type: application/sdp\r\nContent-Length: 10\r\n\r\nm=audio x\r\n", "sip:".repeat(500)),
        "INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: 3\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 20\r\n\r\nv=0\r\nm=audio -1 RTP\r\n".to_string(),
    ];
    for m in &malformed {
        sock.send_to(m.as_bytes(), &target).unwrap();
    }
    // It still takes a real call, which it reads after all of the above.
    let out = Sipp::uac("uac_call_bye.xml", &target)
        .service("intercom")
        .run(T);
    assert!(
        phone.try_exit().is_none(),
        "the phone died:\n{}",
        phone.log()
    );
    out.assert_success();
}

/// The first payload type of the `m=audio` line in the phone's 200 OK to a caller offering
/// PCMU before PCMA.
fn answer_order(force_codec: u8) -> String {
    let port = support::free_udp_port();
    let phone = Phone::start(
        &format!(
            "[Settings]\naccountId=0\nsourcePort={port}\nautoAnswer=all\n\
             audioCodecs=PCMA/8000/1 PCMU/8000/1\nforceCodec={force_codec}\n"
        ),
        &[],
    );
    phone.wait_line("started: SIP on udp", T);
    let scenario = std::fs::read_to_string(support::tests_dir().join("sipp/uac_call_bye.xml"))
        .unwrap()
        .replace("RTP/AVP 8 0", "RTP/AVP 0 8")
        .replace(
            r#"<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>"#,
            "",
        );
    let dir = support::TempDir::new("scenario");
    let path = dir.path().join("uac_pcmu_first.xml");
    std::fs::write(&path, scenario).unwrap();
    let out = Sipp::uac(path.to_str().unwrap(), &format!("127.0.0.1:{port}"))
        .service("door")
        .run(T);
    out.assert_success();
    let answer = out
        .messages
        .split("SIP/2.0 200 OK")
        .nth(1)
        .expect("a 200 OK");
    let m = answer
        .lines()
        .find(|l| l.starts_with("m=audio"))
        .expect("an m=audio line");
    m.split_whitespace().nth(3).unwrap().to_string()
}

#[test]
fn force_codec_answers_in_our_order_and_otherwise_in_the_callers() {
    assert_eq!(
        answer_order(0),
        "0",
        "forceCodec=0 keeps the caller's PCMU first"
    );
    assert_eq!(answer_order(1), "8", "forceCodec=1 puts our PCMA first");
}
