//! SIP over TLS and TCP: the real `microsip` binary against a real Kamailio (digest auth,
//! its TLS module with a CA and certificates the test makes with openssl) and SIPp.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{
    Kamailio, KamailioTransports, Phone, Sipp, TestCa, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD,
    DOMAIN,
};

const T: Duration = Duration::from_secs(20);

/// [Account1] alice at `server` over `transport`, auto-answering, with `extra` [Settings].
fn ini(transport: &str, server: &str, extra: &str) -> String {
    support::settings(
        1,
        &format!("autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1 PCMU/8000/1\n{extra}"),
    ) + &format!(
        "[Account1]\nserver={server}\nproxy={server}\ndomain={DOMAIN}\nusername={ALICE}\n\
         password={ALICE_PASSWORD}\ntransport={transport}\nregisterRefresh=300\nkeepAlive=15\n"
    )
}

fn ca_line(ca: &Path) -> String {
    format!("tlsCaFile={}\n", ca.display())
}

/// SIPp calls alice through Kamailio (over UDP); the phone answers on its own connection.
fn call_in(kam: &Kamailio) {
    Sipp::uac("uac_call_bye.xml", &kam.addr())
        .service(ALICE)
        .run(T)
        .assert_success();
}

/// bob registered (SIPp over UDP) and answering on the registered port.
fn bob_answering(kam: &Kamailio) -> Sipp {
    let bob_port = support::free_udp_port();
    Sipp::uac("register_auth.xml", &kam.addr())
        .service(BOB)
        .auth(BOB, BOB_PASSWORD)
        .local_port(bob_port)
        .run(T)
        .assert_success();
    Sipp::uas("uas_answer.xml").local_port(bob_port).spawn()
}

/// Registers bob (SIPp, UDP) and has the phone call `target` (bob); returns SIPp's messages.
fn call_out(kam: &Kamailio, phone: &Phone, target: &str) -> String {
    let mut bob = bob_answering(kam);
    phone.send(target);
    bob.wait_message("ACK sip:", T);
    phone.send("/hangupall");
    let out = bob.wait(T);
    out.assert_success();
    out.messages
}

#[test]
fn registers_with_digest_over_tls_and_calls_both_ways() {
    let ca = TestCa::new();
    let cert = ca.server("pbx", "IP:127.0.0.1");
    let kam = Kamailio::start_with(&KamailioTransports {
        tls: Some(cert),
        ..Default::default()
    });
    let phone = Phone::start(
        &ini("tls", &kam.tls_addr(), &ca_line(&ca.ca_file())),
        &["--log-level", "debug"],
    );
    phone.wait_line("registered: Account1: 200", T);
    // Digest over TLS: a 401 first, then the 200, on the TLS connection.
    let log = phone.log();
    let challenge = log.find("SIP/2.0 401").expect("a 401 challenge");
    assert!(log[challenge..].contains("SIP/2.0 200 OK"), "{log}");
    assert!(
        log.contains("Via: SIP/2.0/TLS"),
        "REGISTER went over TLS:\n{log}"
    );
    let contact = kam.wait_binding(ALICE, T);
    assert!(
        contact.to_lowercase().contains("transport=tls"),
        "{contact}"
    );

    // In: Kamailio reaches the phone over the phone's TLS connection.
    call_in(&kam);
    let routed = kam.log();
    assert!(
        routed.contains(&format!("routing INVITE to sip:{ALICE}@"))
            && routed.contains("transport=tls"),
        "{routed}"
    );
    phone.wait_line(": CONFIRMED", T);

    // Out: the INVITE leaves over TLS (the phone's Via), through Kamailio to bob.
    let messages = call_out(&kam, &phone, BOB);
    assert!(
        messages.contains("Via: SIP/2.0/TLS 127.0.0.1"),
        "the phone's INVITE came over TLS:\n{messages}"
    );
    phone.wait_line(&format!("calling <sip:{BOB}@{DOMAIN};transport=tls>"), T);

    // A sips: target stays sips: and leaves over TLS. (bob answers with a plain sip: Contact
    // over UDP, which a SIPS dialog must not accept, so only the INVITE is checked.)
    let mut bob = bob_answering(&kam);
    phone.send(&format!("sips:{BOB}@{DOMAIN}"));
    bob.wait_message("INVITE sip:", T);
    let invite = bob.messages();
    assert!(
        invite.contains(&format!("To: <sips:{BOB}@{DOMAIN}>"))
            && invite.contains("Via: SIP/2.0/TLS 127.0.0.1"),
        "{invite}"
    );
    phone.wait_line(&format!("calling <sips:{BOB}@{DOMAIN};transport=tls>"), T);
    phone.send("/hangupall");
    drop(bob.wait_message_or_end("BYE sip:", T));
}

#[test]
fn a_certificate_with_the_wrong_name_is_refused_and_the_opt_out_lets_it_through() {
    let ca = TestCa::new();
    let cert = ca.server("wrong", "DNS:wrong.example");
    let kam = Kamailio::start_with(&KamailioTransports {
        tls: Some(cert),
        ..Default::default()
    });
    let trusted = ca_line(&ca.ca_file());
    {
        let phone = Phone::start(&ini("tls", &kam.tls_addr(), &trusted), &[]);
        let line = phone.wait_line(&format!("TLS connection to {} refused", kam.tls_addr()), T);
        assert!(line.contains("server identity does not match"), "{line}");
        phone.wait_line("registration failed: Account1: ", T);
        assert!(kam.binding(ALICE).is_none());
    }
    {
        // Our CA is not in the system store: an unknown CA is refused too.
        let phone = Phone::start(&ini("tls", &kam.tls_addr(), ""), &[]);
        let line = phone.wait_line(&format!("TLS connection to {} refused", kam.tls_addr()), T);
        assert!(
            line.contains("issuer certificate cannot be found") || line.contains("untrusted"),
            "{line}"
        );
    }
    let phone = Phone::start(
        &ini(
            "tls",
            &kam.tls_addr(),
            &format!("{trusted}tlsVerifyServer=0\n"),
        ),
        &[],
    );
    let line = phone.wait_line("connected anyway because tlsVerifyServer=0", T);
    assert!(line.contains("server identity does not match"), "{line}");
    phone.wait_line("registered: Account1: 200", T);
    kam.wait_binding(ALICE, T);
}

#[test]
fn registers_and_calls_over_tcp() {
    let kam = Kamailio::start_with(&KamailioTransports {
        tcp: true,
        ..Default::default()
    });
    let phone = Phone::start(&ini("tcp", &kam.tcp_addr(), ""), &["--log-level", "debug"]);
    phone.wait_line("registered: Account1: 200", T);
    assert!(phone.log().contains("Via: SIP/2.0/TCP"), "{}", phone.log());
    let contact = kam.wait_binding(ALICE, T);
    assert!(
        contact.to_lowercase().contains("transport=tcp"),
        "{contact}"
    );
    call_in(&kam);
    phone.wait_line(": CONFIRMED", T);
    let messages = call_out(&kam, &phone, BOB);
    assert!(
        messages.contains("Via: SIP/2.0/TCP 127.0.0.1"),
        "the phone's INVITE came over TCP:\n{messages}"
    );
}

#[test]
fn a_client_certificate_is_shown_to_a_server_that_asks_for_one() {
    let ca = TestCa::new();
    let cert = ca.server("pbx", "IP:127.0.0.1");
    let kam = Kamailio::start_with(&KamailioTransports {
        tls: Some(cert),
        tls_client_ca: Some(ca.ca_file()),
        ..Default::default()
    });
    let trusted = ca_line(&ca.ca_file());
    {
        // Without one, the server refuses the connection: no registration.
        let phone = Phone::start(&ini("tls", &kam.tls_addr(), &trusted), &[]);
        phone.wait_line("registration failed: Account1: ", T);
        assert!(kam.binding(ALICE).is_none());
    }
    let (cert, key) = ca.client("phone", "DNS:alice.example");
    let keys = format!(
        "{trusted}tlsCertFile={}\ntlsPrivateKeyFile={}\n",
        cert.display(),
        key.display()
    );
    let phone = Phone::start(&ini("tls", &kam.tls_addr(), &keys), &[]);
    phone.wait_line("registered: Account1: 200", T);
    kam.wait_binding(ALICE, T);
}

#[test]
fn an_expired_certificate_is_refused_with_the_reason() {
    let ca = TestCa::new();
    let cert = ca.expired_server("old", "IP:127.0.0.1");
    let kam = Kamailio::start_with(&KamailioTransports {
        tls: Some(cert),
        ..Default::default()
    });
    let phone = Phone::start(&ini("tls", &kam.tls_addr(), &ca_line(&ca.ca_file())), &[]);
    let line = phone.wait_line(&format!("TLS connection to {} refused", kam.tls_addr()), T);
    assert!(line.contains("expired"), "{line}");
    phone.wait_line("registration failed: Account1: ", T);
}

/// The libraries mapped into the phone's process that are loaded on first use.
fn lazy_libraries_mapped(phone: &Phone) -> Vec<&'static str> {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", phone.pid())).expect("maps");
    ["libssl.so", "libcrypto.so", "libsrtp2.so"]
        .into_iter()
        .filter(|l| maps.contains(l))
        .collect()
}

#[test]
fn openssl_and_srtp_load_when_first_used_not_at_start() {
    // An account on TLS with no registrar: nothing uses TLS until a call does.
    let ini = support::settings(1, "")
        + &format!("[Account1]\ndomain=127.0.0.1\nusername={ALICE}\ntransport=tls\n");
    let phone = Phone::start(&ini, &["--log-level", "debug"]);
    let line = phone.wait_line(", tls on 127.0.0.1:", T);
    let tls_port: u16 = line
        .rsplit("tls on 127.0.0.1:")
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no TLS port in {line:?}"));
    // Running and idle, with a TLS listener: none of them is in the process.
    assert_eq!(lazy_libraries_mapped(&phone), Vec::<&str>::new());

    // A call over TLS (to the phone's own listener, which has no certificate: the handshake
    // fails and the call ends) loads OpenSSL for the connection.
    phone.send(&format!("sips:echo@127.0.0.1:{tls_port}"));
    phone.wait_line(": DISCONNECTED", T);
    let mapped = lazy_libraries_mapped(&phone);
    assert!(
        mapped.contains(&"libssl.so") && mapped.contains(&"libcrypto.so"),
        "after a TLS call: {mapped:?}\n{}",
        phone.log()
    );
}
