//! Faults the phone must ride out on its own, without a restart: a registrar that dies and
//! comes back, and a peer that vanishes in the middle of a call.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::audio::{self, PjsuaCaller};
use support::events::Events;
use support::{Kamailio, KamailioTransports, Phone, Sipp, ALICE, ALICE_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(20);
/// PJSIP gives up on a REGISTER over UDP after 64 × T1 = 32 s (RFC 3261's Timer F).
const TIMER_F: Duration = Duration::from_secs(32);
/// PJSUA spreads each registration retry by up to 10 s (`reg_retry_random_interval`).
const RETRY_SPREAD: Duration = Duration::from_secs(10);
/// Slack for a loaded machine (the suite runs under `stress-ng --cpu 2` too).
const SLACK: Duration = Duration::from_secs(5);

fn account(server: &str, extra: &str) -> String {
    support::settings(
        1,
        &format!(
            "[Account1]\nserver={server}\ndomain={DOMAIN}\nusername={ALICE}\n\
             password={ALICE_PASSWORD}\n{extra}"
        ),
    )
}

/// What `microsip --status` prints for the running phone.
fn status(phone: &Phone) -> String {
    let ini = phone.ini_path().to_str().unwrap().to_string();
    let (code, out) = Phone::run_to_exit(&["--ini", &ini, "--status"], T);
    assert!(code.success(), "--status: {out}");
    out
}

fn registered(v: &serde_json::Value) -> bool {
    v["type"] == "registration" && v["registered"] == true
}

fn failed(v: &serde_json::Value) -> bool {
    v["type"] == "registration" && v["registered"] == false && v["code"] != 200
}

/// UDP, MicroSIP's default: the registrar dies without a word, so the phone finds out when
/// its registration is due for a refresh (`registerRefresh=10`: after 5 s), gets no answer
/// (408 after Timer F), says so, and registers again on its own as soon as the registrar is
/// back: the first retry after a lost registration comes within PJSUA's 10 s spread.
#[test]
fn registrar_killed_over_udp_the_phone_says_so_and_registers_again() {
    let mut kam = Kamailio::start();
    let phone = Phone::start(
        &account(&kam.addr(), "registerRefresh=10\nregisterRetry=5\n"),
        &[],
    );
    phone.wait_line("registered: Account1: 200", T);
    let events = Events::subscribe(&phone);
    let first_contact = kam.wait_binding(ALICE, T);
    let pid = phone.pid();

    let mark = phone.mark();
    let ev_mark = events.mark();
    kam.kill();
    let killed = Instant::now();
    let lost = phone.wait_line_after(
        mark,
        "registration failed: Account1: 408",
        Duration::from_secs(10) + TIMER_F + SLACK,
    );
    let noticed = killed.elapsed();
    assert!(lost.contains("registration lost"), "{lost}");
    assert!(lost.contains("will retry (registerRetry=5 s)"), "{lost}");
    let event = events.wait_after(ev_mark, "failed registration", T, failed);
    assert_eq!(event["code"], 408, "{event}");
    assert_eq!(event["account"], "Account1", "{event}");
    let down = status(&phone);
    assert!(down.contains("Account1: failed (408 "), "{down}");

    // The registrar comes back on the same port, with an empty location table. The phone's
    // retry may reach it at once (before any check of that table here), so the new
    // registration is proven by the restarted registrar's own log instead.
    let log_before = kam.log().len();
    kam.restart();
    let back = Instant::now();
    let again = phone.wait_line_after(
        mark,
        "registered: Account1: 200",
        RETRY_SPREAD + SLACK + SLACK,
    );
    let reregistered = back.elapsed();
    assert!(again.contains("expires in 10 s"), "{again}");
    let event = events.wait_after(ev_mark, "registration", T, registered);
    assert_eq!(event["code"], 200, "{event}");
    let contact = kam.wait_binding(ALICE, T);
    assert_eq!(contact, first_contact, "the same phone registered again");
    let log = kam.log();
    let since_restart = log.get(log_before..).unwrap_or(&log);
    assert!(
        since_restart.contains("REGISTER for alice saved"),
        "the restarted registrar saw no registration:\n{since_restart}"
    );
    let up = status(&phone);
    assert!(up.contains("Account1: registered (200 "), "{up}");
    assert_eq!(phone.pid(), pid);
    assert!(
        reregistered <= RETRY_SPREAD + SLACK,
        "registered again {reregistered:?} after the registrar came back"
    );
    eprintln!(
        "[faults] udp: failure noticed {noticed:?} after the kill; registered again \
         {reregistered:?} after the restart"
    );
}

/// TCP: the registrar's death closes the connection, so the phone finds out at once; its
/// attempt to connect again is refused (503) while the registrar is down, and the next
/// attempt, `registerRetry` later, registers again.
#[test]
fn registrar_killed_over_tcp_the_phone_retries_every_register_retry_seconds() {
    let mut kam = Kamailio::start_with(&KamailioTransports {
        tcp: true,
        ..Default::default()
    });
    let phone = Phone::start(
        &account(&kam.tcp_addr(), "transport=tcp\nregisterRetry=5\n"),
        &[],
    );
    phone.wait_line("registered: Account1: 200", T);
    let events = Events::subscribe(&phone);
    kam.wait_binding(ALICE, T);

    let mark = phone.mark();
    let ev_mark = events.mark();
    kam.kill();
    let killed = Instant::now();
    // The connection closed: PJSUA tries again within its 10 s spread, and is refused.
    let lost = phone.wait_line_after(
        mark,
        "registration failed: Account1: 503",
        RETRY_SPREAD + SLACK,
    );
    let noticed = killed.elapsed();
    assert!(lost.contains("registration lost"), "{lost}");
    assert!(lost.contains("will retry (registerRetry=5 s)"), "{lost}");
    let event = events.wait_after(ev_mark, "failed registration", T, failed);
    assert_eq!(event["code"], 503, "{event}");
    let down = status(&phone);
    assert!(down.contains("Account1: failed (503 "), "{down}");

    kam.restart();
    let back = Instant::now();
    phone.wait_line_after(
        mark,
        "registered: Account1: 200",
        Duration::from_secs(5) + RETRY_SPREAD + SLACK,
    );
    let reregistered = back.elapsed();
    events.wait_after(ev_mark, "registration", T, registered);
    let contact = kam.wait_binding(ALICE, T);
    assert!(
        contact.to_lowercase().contains("transport=tcp"),
        "{contact}"
    );
    let up = status(&phone);
    assert!(up.contains("Account1: registered (200 "), "{up}");
    eprintln!(
        "[faults] tcp: failure noticed {noticed:?} after the kill; registered again \
         {reregistered:?} after the restart"
    );
}

/// An auto-answering phone with `rtpTimeout`, the URI to call it, and a tone for the caller
/// to play (in the returned directory).
fn phone_with_rtp_timeout(
    tag: &str,
    timeout: Duration,
) -> (support::TempDir, std::path::PathBuf, Phone, String) {
    let dir = support::TempDir::new(tag);
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 440.0, 8000.0, 0, 8000));
    let settings = format!("autoAnswer=all\nrtpTimeout={}\n", timeout.as_secs());
    let phone = Phone::start(&support::settings(0, &settings), &[]);
    let target = format!("sip:intercom@{}", phone.sip_addr());
    (dir, play, phone, target)
}

/// The caller (pjsua, sending RTP all along) is killed in the middle of the call: no BYE
/// comes. With `rtpTimeout=3` the phone ends the call 3 s after the last packet, sends a
/// BYE to where the caller was, and says why in the log and the event stream. While RTP
/// flowed, the same timeout did not end the call.
#[test]
fn a_caller_that_vanishes_mid_call_is_hung_up_by_rtp_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let (_dir, play, phone, target) = phone_with_rtp_timeout("faults-rtp", TIMEOUT);
    let events = Events::subscribe(&phone);
    let mut caller = PjsuaCaller::call(&target, &play, 120);
    phone.wait_line(": CONFIRMED", T);
    let active = phone.wait_line("audio active", T);
    let call = active
        .split("call ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .expect("call id in the media line")
        .to_string();
    // RTP flows: the timeout does not fire (an absence has to be watched for a while).
    std::thread::sleep(TIMEOUT + Duration::from_secs(2));
    phone.assert_no_line("rtpTimeout");

    let peer_port = caller.port();
    let mark = phone.mark();
    let ev_mark = events.mark();
    let vanished = Instant::now();
    caller.kill();
    // Where the caller was, something listens again: the BYE must arrive there.
    let peer = UdpSocket::bind(("127.0.0.1", peer_port)).expect("take over the caller's port");
    let line = phone.wait_line_after(
        mark,
        "(rtpTimeout)",
        TIMEOUT + Duration::from_secs(1) + SLACK,
    );
    let ended_after = vanished.elapsed();
    assert!(
        line.contains(&format!(
            "call {call}: hung up: no RTP from the other side for 3 s"
        )),
        "{line}"
    );
    // Its last packet may have left up to a frame (20 ms) before the kill.
    assert!(
        ended_after + Duration::from_millis(100) >= TIMEOUT,
        "ended {ended_after:?} after the caller vanished, before rtpTimeout"
    );
    peer.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 4096];
    let bye = loop {
        let (n, _) =
            support::recv_from(&peer, &mut buf).expect("a BYE at the vanished caller's address");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("BYE ") {
            break text;
        }
    };
    assert!(bye.contains("No RTP received"), "{bye}");
    let timeout_event =
        events.wait_after(ev_mark, "rtp_timeout", T, |v| v["type"] == "rtp_timeout");
    assert_eq!(timeout_event["after_s"], 3, "{timeout_event}");
    assert_eq!(timeout_event["call"].to_string(), call, "{timeout_event}");
    let end = events.wait_after(ev_mark, "call end", T, |v| {
        v["type"] == "call_state" && v["ended"] == true
    });
    assert_eq!(end["call"].to_string(), call, "{end}");
    // The phone is free for the next call at once (the BYE to the vanished caller is still
    // being retransmitted): it is answered as the first was.
    phone.wait_line_after(mark, "DISCONNECTED", T);
    Sipp::uac("uac_call_bye.xml", &phone.sip_addr())
        .service("intercom")
        .run(T)
        .assert_success();
    eprintln!("[faults] rtpTimeout=3: call ended {ended_after:?} after the caller vanished");
}

/// On hold nothing has to come (the held side may send nothing at all): `rtpTimeout` leaves
/// a held call alone, and watches it again once it is taken off hold.
#[test]
fn a_call_on_hold_is_not_ended_by_rtp_timeout() {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let (_dir, play, phone, target) = phone_with_rtp_timeout("faults-hold", TIMEOUT);
    let mut caller = PjsuaCaller::call(&target, &play, 120);
    phone.wait_line("audio active", T);
    let mark = phone.mark();
    phone.send("msip:hold");
    phone.wait_line_after(mark, "on local hold", T);
    // Held for twice the timeout: the call stays.
    std::thread::sleep(TIMEOUT * 2 + Duration::from_secs(1));
    phone.assert_no_line("rtpTimeout");
    let mark = phone.mark();
    phone.send("msip:hold");
    phone.wait_line_after(mark, "audio active", T);
    // Off hold, it is watched again: the caller vanishes, the call ends.
    caller.kill();
    phone.wait_line_after(
        mark,
        "no RTP from the other side for 2 s (rtpTimeout)",
        TIMEOUT + Duration::from_secs(1) + SLACK,
    );
}
