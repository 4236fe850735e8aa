//! Every request gets an answer: the real `microsip` binary, with SIPp sending requests a phone
//! does not serve (RFC 3261 §8.2.1, §12.2.2).

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use support::{Phone, Sipp};

const T: Duration = Duration::from_secs(15);

#[test]
fn unknown_methods_and_register_get_405_with_allow_and_stray_requests_481() {
    let phone = Phone::start(&support::settings(0, "audioCodecs=PCMA/8000/1\n"), &[]);
    let addr = phone.sip_addr();
    let out = Sipp::uac("uac_unserved.xml", &addr)
        .service("intercom")
        .run(T);
    out.assert_success();
    // One answer each, at the first try: no retransmission into silence.
    for request in ["FOO sip:", "REGISTER sip:", "BYE sip:"] {
        assert_eq!(
            out.messages.matches(request).count(),
            1,
            "{request} must be answered at once\n{}",
            out.report()
        );
    }
    let allow = out
        .messages
        .lines()
        .find(|l| l.starts_with("Allow:"))
        .unwrap_or_else(|| panic!("no Allow header\n{}", out.report()));
    for method in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "MESSAGE"] {
        assert!(allow.contains(method), "{allow} must list {method}");
    }
    assert!(
        !allow.contains("REGISTER"),
        "{allow}: the phone is no registrar"
    );
    let line = phone.wait_line("FOO from 127.0.0.1:", T);
    assert!(
        line.ends_with("not served by this phone, answered 405"),
        "{line}"
    );
    let line = phone.wait_line("REGISTER from 127.0.0.1:", T);
    assert!(line.ends_with("answered 405"), "{line}");
}

/// Sends `msg` from `sock` to `to`, then an OPTIONS probe, and returns the status lines of
/// every response up to the probe's 200, keyed by Call-ID: the phone handles one socket's
/// datagrams in order, so the probe's answer means `msg` was dealt with.
fn exchange(sock: &UdpSocket, to: &str, msg: &str, n: u32) -> Vec<(String, String)> {
    let port = sock.local_addr().unwrap().port();
    sock.send_to(msg.as_bytes(), to).unwrap();
    let probe = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprobe{n}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:{to}>\r\nCall-ID: probe-{n}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(probe.as_bytes(), to).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let (len, _) = support::recv_from(sock, &mut buf)
            .unwrap_or_else(|e| panic!("no answer to the probe after {msg:?}: {e}"));
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_string();
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap_or_default()
            .to_string();
        if call_id == format!("probe-{n}") {
            assert!(status.starts_with("SIP/2.0 200"), "{status}");
            return seen;
        }
        seen.push((call_id, status));
    }
}

/// Malformed and odd requests in the spirit of RFC 4475 (torture tests): each is answered as
/// RFC 3261 says or dropped as unparsable, and the phone keeps answering.
#[test]
fn torture_requests_are_answered_or_dropped_and_the_phone_lives_on() {
    let mut phone = Phone::start(&support::settings(0, "audioCodecs=PCMA/8000/1\n"), &[]);
    let to = phone.sip_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let head = |method: &str, uri: &str, id: &str, cseq: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{id}\r\n\
             From: <sip:t@127.0.0.1>;tag={id}\r\nTo: <sip:{to}>\r\nCall-ID: {id}\r\n\
             CSeq: {cseq}\r\nMax-Forwards: 70\r\n"
        )
    };
    // (message, the status it must get, or None: dropped or any answer)
    let cases: Vec<(String, Option<&str>)> = vec![
        // An unknown method with a body (RFC 4475 3.1.1.13).
        (
            head("NEWMETHOD", &format!("sip:{to}"), "t1", "8 NEWMETHOD")
                + "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
            Some("SIP/2.0 405"),
        ),
        // An unknown URI scheme in the Request-URI (3.3.7): PJSIP's parser knows sip:, sips:
        // and tel: only, so it drops the request as unparsable (RFC 4475 would like a 416).
        (
            head("OPTIONS", "nobodyKnowsThisScheme:totallyopaquecontent", "t2", "1 OPTIONS")
                + "Content-Length: 0\r\n\r\n",
            None,
        ),
        // Method and CSeq method disagree (3.1.2.9).
        (
            head("OPTIONS", &format!("sip:{to}"), "t3", "1 INVITE") + "Content-Length: 0\r\n\r\n",
            None,
        ),
        // No Call-ID, From or To: unparsable as a request.
        (
            format!(
                "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKt4\r\n\
                 CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ),
            None,
        ),
        // Content-Length larger than the body (3.1.2.7), and a negative one (3.1.2.4).
        (
            head("MESSAGE", &format!("sip:{to}"), "t5", "1 MESSAGE")
                + "Content-Type: text/plain\r\nContent-Length: 9999\r\n\r\nshort",
            None,
        ),
        (
            head("MESSAGE", &format!("sip:{to}"), "t6", "1 MESSAGE")
                + "Content-Type: text/plain\r\nContent-Length: -999\r\n\r\nshort",
            None,
        ),
        // A REGISTER with an escaped, odd Contact (3.1.1.6-like): the phone is no registrar.
        (
            head("REGISTER", "sip:127.0.0.1", "t7", "1 REGISTER")
                + "Contact: <sip:%61lice@127.0.0.1;%6C%72>\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
            Some("SIP/2.0 405"),
        ),
        // Not SIP at all, and binary garbage.
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(), None),
        (
            String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x13, 0x37, b'\r', b'\n']).into_owned(),
            None,
        ),
    ];
    for (n, (msg, want)) in cases.iter().enumerate() {
        let seen = exchange(&sock, &to, msg, n as u32);
        if let Some(want) = want {
            let id = format!("t{}", n + 1);
            let got = seen.iter().find(|(c, _)| *c == id);
            assert!(
                got.is_some_and(|(_, s)| s.starts_with(want)),
                "{msg:?} must get {want}, got {seen:?}"
            );
        }
    }
    assert!(
        phone.try_exit().is_none(),
        "the phone must live on:\n{}",
        phone.log()
    );
}
