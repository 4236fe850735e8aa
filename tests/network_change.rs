//! MicroSIP's `networkChanges` and port knocking: the real `microsip` binary in a network
//! namespace of the test's own, with a real Kamailio and pjsua (built from our own tree).

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::audio::{self, PjsuaCaller};
use support::{Kamailio, KamailioTransports, Phone, TempDir, ALICE, ALICE_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(20);

fn ini(kam: &Kamailio, extra: &str) -> String {
    support::settings(
        1,
        &format!("autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\n{extra}"),
    ) + &format!(
        "[Account1]\nserver={}\ndomain={DOMAIN}\nusername={ALICE}\npassword={ALICE_PASSWORD}\n\
         transport=udp\n",
        kam.addr()
    )
}

/// Waits for `knock\0` on `sock`.
fn knocked(sock: &UdpSocket) {
    sock.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = support::recv_from(sock, &mut buf).expect("a knock");
    assert_eq!(&buf[..n], b"knock\0");
}

#[test]
fn ports_are_knocked_before_registering() {
    let kam = Kamailio::start();
    let (a, b) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let ports = format!(
        "{},{}",
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port()
    );
    // No portKnockerHost: the account's server host is knocked.
    let phone = Phone::start(&ini(&kam, &format!("portKnockerPorts={ports}\n")), &[]);
    knocked(&a);
    knocked(&b);
    phone.wait_line("registered: Account1: 200", T);
    let lines = phone.lines();
    let pos = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(
        pos("port knocking: knocked at 127.0.0.1") < pos("registered: Account1: 200"),
        "{}",
        phone.log()
    );
}

/// A Kamailio in a network namespace of its own at 10.213.0.2, joined to the test's
/// namespace by a veth pair (`v0` here, `v1` there).
fn kamailio_across_a_veth() -> Kamailio {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (moved_tx, moved_rx) = std::sync::mpsc::channel::<()>();
    let helper = std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_NEWNET) only moves this helper thread.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        moved_rx.recv().unwrap();
        support::ip(&["link", "set", "lo", "up"]);
        support::ip(&["addr", "add", "10.213.0.2/24", "dev", "v1"]);
        support::ip(&["link", "set", "v1", "up"]);
        support::ip(&["route", "add", "10.213.5.0/24", "dev", "v1"]);
        Kamailio::start_with(&KamailioTransports {
            ip: Some("10.213.0.2".into()),
            ..Default::default()
        })
    });
    let tid = tid_rx.recv().unwrap();
    support::ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    support::ip(&["link", "set", "v1", "netns", &tid.to_string()]);
    moved_tx.send(()).unwrap();
    helper.join().expect("Kamailio in its namespace")
}

/// The phone listens on every address (`--bind 0.0.0.0`) of the test's network namespace,
/// whose way out is a veth with 10.213.0.1 (PJSIP finds its own address on the route to
/// 1.1.1.1); Kamailio is across the veth. Then 10.213.5.5 comes and 10.213.0.1 goes. (No
/// default route: name lookups fail at once instead of waiting for a server that is not
/// there.)
#[test]
fn an_address_change_moves_the_registration_and_the_call() {
    support::private_network(&[]);
    let kam = kamailio_across_a_veth();
    support::ip(&["addr", "add", "10.213.0.1/24", "dev", "v0"]);
    // A private address of the machine's: MicroSIP's publicAddr rule picks it for
    // publicAddr=192.168.50.50 (the same private range).
    support::ip(&["addr", "add", "192.168.7.1/32", "dev", "lo"]);
    support::ip(&["link", "set", "v0", "up"]);
    support::ip(&["route", "add", "1.1.1.1/32", "dev", "v0"]);
    // PJSUA moves the registration on an address change when the account may rewrite its
    // Contact (MicroSIP's allowRewrite=1); calls move either way.
    let text = ini(&kam, "") + "allowRewrite=1\npublicAddr=192.168.50.50\n";
    let phone = Phone::start(&text, &["--bind", "0.0.0.0", "--log-level", "debug"]);
    phone.wait_line("registered: Account1: 200", T);
    let contact = kam.wait_binding(ALICE, T);
    assert!(contact.contains("10.213.0.1"), "{contact}");

    // A call in progress: pjsua calls the phone directly and talks for a while.
    let dir = TempDir::new("netchange");
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 1000.0, 0.5, 0, 8000 * 30));
    let addr = phone.sip_addr();
    let port = addr.rsplit(':').next().unwrap();
    let mut caller = PjsuaCaller::call(&format!("sip:{ALICE}@127.0.0.1:{port}"), &play, 30);
    phone.wait_line(": CONFIRMED", T);
    caller.wait_log("c=IN IP4 192.168.7.1", T);

    let mark = phone.mark();
    support::ip(&["addr", "add", "10.213.5.5/24", "dev", "v0"]);
    support::ip(&["addr", "add", "192.168.60.1/32", "dev", "lo"]);
    support::ip(&["addr", "del", "192.168.7.1/32", "dev", "lo"]);
    support::ip(&["addr", "del", "10.213.0.1/24", "dev", "v0"]);
    support::ip(&["route", "add", "10.213.0.2/32", "dev", "v0"]);
    support::ip(&["route", "replace", "1.1.1.1/32", "dev", "v0"]);
    let changed = Instant::now();
    phone.wait_line_after(mark, "network change: the addresses changed", T);
    // It registers from the new address (within 10 s of the change).
    let deadline = changed + Duration::from_secs(10);
    loop {
        if kam.bindings(ALICE).iter().any(|c| c.contains("10.213.5.5")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no REGISTER from 10.213.5.5: {:?}\n{}",
            kam.bindings(ALICE),
            phone.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The call goes on: the phone re-INVITEs, and its SDP carries publicAddr's rule applied
    // to the new addresses.
    caller.wait_log("c=IN IP4 192.168.60.1", T);
    phone.wait_line_after(
        mark,
        "publicAddr 192.168.50.50 is now advertised as 192.168.60.1",
        T,
    );
    assert!(
        phone
            .lines()
            .iter()
            .skip(mark)
            .all(|l| !l.contains(": DISCONNECTED")),
        "the call must go on:\n{}",
        phone.log()
    );
    caller.quit_and_recording();
}

/// MicroSIP's default `allowRewrite=0`: PJSUA alone would keep the old Contact until the
/// registration's refresh (here 300 s); as MicroSIP 3.22.16, the phone registers again with a
/// Contact on the new address at once, and `allowRewrite=0` holds again afterwards.
#[test]
fn with_allow_rewrite_off_the_registration_moves_too() {
    support::private_network(&[]);
    let kam = kamailio_across_a_veth();
    support::ip(&["addr", "add", "10.213.0.1/24", "dev", "v0"]);
    support::ip(&["link", "set", "v0", "up"]);
    support::ip(&["route", "add", "1.1.1.1/32", "dev", "v0"]);
    let phone = Phone::start(&ini(&kam, ""), &["--bind", "0.0.0.0"]);
    phone.wait_line("registered: Account1: 200", T);
    let contact = kam.wait_binding(ALICE, T);
    assert!(contact.contains("10.213.0.1"), "{contact}");

    let mark = phone.mark();
    support::ip(&["addr", "add", "10.213.5.5/24", "dev", "v0"]);
    support::ip(&["addr", "del", "10.213.0.1/24", "dev", "v0"]);
    support::ip(&["route", "add", "10.213.0.2/32", "dev", "v0"]);
    support::ip(&["route", "replace", "1.1.1.1/32", "dev", "v0"]);
    let changed = Instant::now();
    phone.wait_line_after(mark, "network change: the addresses changed", T);
    phone.wait_line_after(
        mark,
        "registered again with a Contact on the new address",
        T,
    );
    let deadline = changed + Duration::from_secs(10);
    while !kam.bindings(ALICE).iter().any(|c| c.contains("10.213.5.5")) {
        assert!(
            Instant::now() < deadline,
            "no binding at 10.213.5.5: {:?}\n{}",
            kam.bindings(ALICE),
            phone.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
