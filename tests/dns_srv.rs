//! MicroSIP's `dnsSrv=1` with `dnsSrvNs`: the registrar is found by DNS SRV through the given
//! name server. A name server of the test's own (SRV and A records, port 53 in a network
//! namespace of the test's own) and a real Kamailio.

mod support;

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Kamailio, Phone, ALICE, ALICE_PASSWORD};

const T: Duration = Duration::from_secs(20);

/// A DNS name in wire format.
fn name(n: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in n.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// Answers `_sip._udp.pbx.test SRV 0 0 <port> sip1.pbx.test` and `sip1.pbx.test A
/// 127.0.0.1`; anything else NXDOMAIN. Returns the questions it got ("name type").
fn serve(sock: UdpSocket, port: u16) -> Arc<Mutex<Vec<String>>> {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            if n < 17 {
                continue;
            }
            // The question: labels from byte 12, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_lowercase());
                i += 1 + len;
            }
            let qname = labels.join(".");
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let question = &q[12..i + 5];
            log.lock().unwrap().push(format!("{qname} {qtype}"));
            let answer: Option<(u16, Vec<u8>)> = match (qname.as_str(), qtype) {
                ("_sip._udp.pbx.test", 33) => {
                    let mut rdata = vec![0, 0, 0, 0];
                    rdata.extend_from_slice(&port.to_be_bytes());
                    rdata.extend(name("sip1.pbx.test"));
                    Some((33, rdata))
                }
                ("sip1.pbx.test", 1) => Some((1, vec![127, 0, 0, 1])),
                _ => None,
            };
            let mut r = vec![q[0], q[1], 0x81, if answer.is_some() { 0x80 } else { 0x83 }];
            r.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
            r.extend_from_slice(question);
            if let Some((t, rdata)) = answer {
                r.extend_from_slice(&[0xc0, 0x0c]);
                r.extend_from_slice(&t.to_be_bytes());
                r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
                r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                r.extend(rdata);
            }
            let _ = sock.send_to(&r, from);
        }
    });
    asked
}

#[test]
fn the_registrar_is_found_by_dns_srv_through_dns_srv_ns() {
    support::private_network(&["10.213.0.53"]);
    let kam = Kamailio::start();
    let dns = UdpSocket::bind("10.213.0.53:53").expect("bind port 53 (root)");
    let asked = serve(dns, kam.port());
    let ini = support::settings(1, "dnsSrv=1\ndnsSrvNs=10.213.0.53\n")
        + &format!(
            "[Account1]\nserver=pbx.test\ndomain=pbx.test\nusername={ALICE}\n\
             password={ALICE_PASSWORD}\ntransport=udp\n"
        );
    let phone = Phone::start(&ini, &[]);
    phone.wait_line("registered: Account1: 200", T);
    kam.wait_binding(ALICE, T);
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.iter().any(|q| q == "_sip._udp.pbx.test 33"),
        "an SRV question: {asked:?}"
    );
}
