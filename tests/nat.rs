//! MicroSIP's network keys on the wire: `rport`, `disableSessionTimer`, `publicAddr`,
//! `allowRewrite` and `ICE`, with the real `microsip` binary against SIPp and pjsua (built
//! from our own pjproject tree).

mod support;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A registrar of the test's own on 127.0.0.1 that answers every REGISTER 200 (echoing its
/// Contact) and reports in the Via's `received`/`rport` that it came from 192.0.2.10:40000, as
/// a registrar behind which the phone seems to sit behind a NAT. Keeps every REGISTER it got.
struct NatRegistrar {
    addr: String,
    seen: Arc<Mutex<Vec<String>>>,
    /// When each keep-alive (a bare CRLF datagram) came.
    keepalives: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl NatRegistrar {
    fn start() -> NatRegistrar {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keepalives = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, ka2) = (seen.clone(), stop.clone(), keepalives.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                if req.trim().is_empty() {
                    ka2.lock().unwrap().push(Instant::now());
                    continue;
                }
                if !req.starts_with("REGISTER ") {
                    continue;
                }
                let header = |name: &str| {
                    req.lines()
                        .find(|l| {
                            l.to_ascii_lowercase()
                                .starts_with(&name.to_ascii_lowercase())
                        })
                        .unwrap_or_default()
                        .to_string()
                };
                let via = header("Via:").replace(";rport", ";received=192.0.2.10;rport=40000");
                let contact = header("Contact:");
                let reply = format!(
                    "SIP/2.0 200 OK\r\n{via}\r\n{}\r\n{};tag=nat\r\n{}\r\n{}\r\n\
                     {contact};expires=300\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n",
                    header("From:"),
                    header("To:"),
                    header("Call-ID:"),
                    header("CSeq:"),
                );
                let _ = sock.send_to(reply.as_bytes(), from);
                seen2.lock().unwrap().push(req);
            }
        });
        NatRegistrar {
            addr,
            seen,
            keepalives,
            stop,
        }
    }

    /// Waits for a REGISTER with a `header` line that contains `needle`.
    fn wait_register(&self, header: &str, needle: &str) {
        let deadline = Instant::now() + T;
        loop {
            let found = self.seen.lock().unwrap().iter().any(|r| {
                r.lines()
                    .any(|l| l.starts_with(header) && l.contains(needle))
            });
            if found {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no REGISTER with {needle} in {header}\n{:?}",
                self.seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NatRegistrar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn allow_rewrite_takes_the_address_the_registrar_sees() {
    // allowRewrite=1: the phone re-registers (un-REGISTER, then REGISTER) with that address
    // in its Via, and its calls carry it there too. (PJSUA, configured as MicroSIP does it
    // with contact_rewrite_method ALWAYS_UPDATE|UNREGISTER, rebuilds the Contact from the
    // transport's bound address when it re-creates the registration; only the Via follows.)
    let registrar = NatRegistrar::start();
    let phone = Phone::start(
        &ini("", &format!("server={}\nallowRewrite=1\n", registrar.addr)),
        &[],
    );
    registrar.wait_register("Via:", "192.0.2.10:40000");
    phone.wait_line("registered: Account1: 200", T);
    let invite = invite_from(&phone);
    assert!(via(&invite).contains("192.0.2.10:40000"), "{invite}");
    drop(phone);

    // allowRewrite=0 (MicroSIP's default): the phone keeps its own address.
    let registrar = NatRegistrar::start();
    let phone = Phone::start(&ini("", &format!("server={}\n", registrar.addr)), &[]);
    phone.wait_line("registered: Account1: 200", T);
    let invite = invite_from(&phone);
    assert!(via(&invite).contains("127.0.0.1"), "{invite}");
    let seen = registrar.seen.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|r| r.contains("192.0.2.10:40000")),
        "no rewritten REGISTER: {seen:?}"
    );
}

/// Runs `nft ARGS` in the test's network namespace.
fn nft(args: &[&str]) {
    let out = std::process::Command::new("nft")
        .args(args)
        .output()
        .expect("run nft (Debian package nftables)");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until a STUN server answers a Binding request at `to`.
fn wait_stun(to: &str) {
    let sock = UdpSocket::bind("10.213.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(b"microsiptest");
    let deadline = Instant::now() + T;
    let mut buf = [0u8; 512];
    loop {
        sock.send_to(&request, to).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            if n >= 20 && buf[0] == 0x01 && buf[1] == 0x01 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no STUN answer from {to}");
    }
}

/// The phone sits behind a NAT (in a network namespace of the test's own, nftables maps what
/// it sends to the STUN server to 10.213.0.9); coturn is the STUN server. The mapped address is
/// what the phone advertises in Contact and SDP.
#[test]
fn stun_finds_the_address_a_nat_maps_the_phone_to() {
    support::private_network(&["10.213.0.1", "10.213.0.2"]);
    support::ip(&["route", "add", "10.213.0.9/32", "dev", "lo"]);
    let stun_port = support::free_udp_port();
    nft(&["add", "table", "ip", "nat"]);
    nft(&[
        "add",
        "chain",
        "ip",
        "nat",
        "post",
        "{ type nat hook postrouting priority 100; }",
    ]);
    nft(&[
        "add",
        "rule",
        "ip",
        "nat",
        "post",
        "ip",
        "daddr",
        "10.213.0.2",
        "udp",
        "dport",
        &stun_port.to_string(),
        "snat",
        "to",
        "10.213.0.9",
    ]);
    let dir = TempDir::new("stun");
    let mut server = std::process::Command::new("turnserver")
        .args(["-n", "--stun-only", "-L", "10.213.0.2", "-p"])
        .arg(stun_port.to_string())
        .args([
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--simple-log",
            "--log-file",
        ])
        .arg(dir.path().join("turn.log"))
        .args(["--pidfile"])
        .arg(dir.path().join("turn.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn turnserver (Debian package coturn)");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(&mut server);
    let stun = format!("10.213.0.2:{stun_port}");
    wait_stun(&stun);

    let phone = Phone::start(
        &ini(&format!("enableSTUN=1\nSTUN={stun}\n"), ""),
        &["--bind", "10.213.0.1"],
    );
    let line = phone.wait_line("started: SIP on udp ", T);
    assert!(line.contains("10.213.0.9:"), "the mapped address: {line}");
    let invite = invite_from(&phone);
    let contact = invite.lines().find(|l| l.starts_with("Contact:")).unwrap();
    assert!(contact.contains("@10.213.0.9:"), "{invite}");
    assert!(invite.contains("c=IN IP4 10.213.0.9"), "{invite}");
}

/// MicroSIP's keepAlive rule: 1 becomes 2 s (PJSIP would send keep-alives back to back with
/// 1: it waits a random whole number of seconds from 80% of the interval, rounded down, up to
/// the interval, exclusive: 1 s for 2).
#[test]
fn keep_alives_go_to_the_registrar_every_keep_alive_seconds() {
    let registrar = NatRegistrar::start();
    let phone = Phone::start(
        &ini("", &format!("server={}\nkeepAlive=1\n", registrar.addr)),
        &[],
    );
    phone.wait_line("registered: Account1: 200", T);
    let deadline = Instant::now() + T;
    let times = loop {
        let times = registrar.keepalives.lock().unwrap().clone();
        if times.len() >= 5 {
            break times;
        }
        assert!(Instant::now() < deadline, "keep-alives: {}", times.len());
        std::thread::sleep(Duration::from_millis(50));
    };
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(900) && gap <= Duration::from_millis(2100),
            "keepAlive=1 means 2 s, so PJSIP's 1 s: {gap:?} in {:?}",
            times.windows(2).map(|p| p[1] - p[0]).collect::<Vec<_>>()
        );
    }
}
