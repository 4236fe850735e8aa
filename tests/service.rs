//! Running as a service: systemd's readiness and watchdog protocol (a datagram socket of the
//! test stands in for `$NOTIFY_SOCKET`), journald's log format, and `microsip --status` as an
//! operator reads it, with a real Kamailio registrar.

mod support;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Kamailio, Phone, TempDir, ALICE, ALICE_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(20);

/// `[Settings]` and `[Account1]` = alice at `server` (or the local account only).
fn ini(server: Option<&str>, extra: &str) -> String {
    let account_id = if server.is_some() { 1 } else { 0 };
    let mut text = support::settings(account_id, &format!("audioCodecs=PCMA/8000/1\n{extra}"));
    if let Some(server) = server {
        text += &format!(
            "[Account1]\nserver={server}\ndomain={DOMAIN}\nusername={ALICE}\n\
             password={ALICE_PASSWORD}\ntransport=udp\nregisterRefresh=10\nkeepAlive=15\n"
        );
    }
    text
}

/// A datagram socket standing in for systemd's notification socket.
struct Notify {
    _dir: TempDir,
    path: String,
    socket: UnixDatagram,
}

impl Notify {
    fn new() -> Notify {
        let dir = TempDir::new("notify");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        Notify {
            path: path.to_str().unwrap().to_string(),
            _dir: dir,
            socket,
        }
    }

    /// The next message, or `None` when none comes within `timeout`.
    fn next(&self, timeout: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => return Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
                // A signal (the test process stopped and resumed under load): wait again.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            }
        }
    }

    /// Messages until one holds `needle` (which is returned); panics after `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(m) if m.lines().any(|l| l == needle) => return m,
                Some(m) => seen.push(m),
                None => break,
            }
        }
        panic!("no {needle:?} within {timeout:?}; got {seen:?}");
    }

    /// What is already queued, without waiting.
    fn queued(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.socket.set_nonblocking(false).unwrap();
        out
    }
}

#[test]
fn ready_is_sent_only_once_the_account_is_registered() {
    let kam = Kamailio::start();
    let notify = Notify::new();
    let phone = Phone::start_with_env(
        &ini(Some(&kam.addr()), ""),
        &[],
        &[("NOTIFY_SOCKET", &notify.path)],
    );
    let ready = notify.wait_for("READY=1", T);
    // The registrar already holds the binding when systemd hears "ready".
    assert!(
        kam.binding(ALICE).is_some(),
        "READY=1 came before the registration: {ready:?}"
    );
    assert!(ready.contains("STATUS=registered: Account1"), "{ready:?}");
    // A clean stop says so.
    phone.signal(SIGTERM);
    notify.wait_for("STOPPING=1", T);
}

#[test]
fn no_ready_while_the_registrar_does_not_answer() {
    // A registrar that takes the REGISTERs and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    silent.set_read_timeout(Some(T)).unwrap();
    let notify = Notify::new();
    let _phone = Phone::start_with_env(
        &ini(Some(&silent.local_addr().unwrap().to_string()), ""),
        &[],
        &[("NOTIFY_SOCKET", &notify.path)],
    );
    // The first REGISTER and its retransmission: the phone has long been up.
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        let (n, _) = support::recv_from(&silent, &mut buf).expect("a REGISTER");
        assert!(buf[..n].starts_with(b"REGISTER "));
    }
    let queued = notify.queued();
    assert!(
        !queued.iter().any(|m| m.contains("READY=1")),
        "ready without a registration: {queued:?}"
    );
}

#[test]
fn the_local_account_is_ready_at_once_and_the_watchdog_is_fed() {
    let notify = Notify::new();
    let phone = Phone::start_with_env(
        &ini(None, ""),
        &[],
        &[("NOTIFY_SOCKET", &notify.path), ("WATCHDOG_USEC", "400000")],
    );
    let ready = notify.wait_for("READY=1", T);
    assert!(
        ready.contains("STATUS=running: SIP on 127.0.0.1:"),
        "{ready:?}"
    );
    // Half the interval: several pings while the phone idles.
    notify.wait_for("WATCHDOG=1", T);
    notify.wait_for("WATCHDOG=1", T);
    // SIGHUP with a changed file: reloading, then ready again.
    let text = std::fs::read_to_string(phone.ini_path()).unwrap();
    std::fs::write(phone.ini_path(), text + "autoAnswerDelay=3\n").unwrap();
    phone.signal(SIGHUP);
    notify.wait_for("RELOADING=1", T);
    notify.wait_for("READY=1", T);
}

const SIGTERM: i32 = 15;
const SIGHUP: i32 = 1;

/// `microsip --ini INI --status [--json]`: exit code and stdout.
fn status(ini: &Path, json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(Phone::binary());
    cmd.arg("--ini").arg(ini).arg("--status");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run microsip --status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_follows_the_registration_and_the_registrar_going_away() {
    let kam = Kamailio::start();
    let phone = Phone::start(&ini(Some(&kam.addr()), ""), &[]);
    phone.wait_line("registered: Account1: 200", T);
    let (code, out, err) = status(phone.ini_path(), false);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Account1: registered (200 OK"), "{out}");
    assert!(out.contains("calls: none"), "{out}");
    assert!(out.contains(&format!("pid {}", phone.pid())), "{out}");
    let (code, out, _) = status(phone.ini_path(), true);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["accounts"][0]["account"], "Account1");
    assert_eq!(v["accounts"][0]["state"], "registered");
    assert_eq!(v["accounts"][0]["registered"], true);
    assert!(v["uptime_seconds"].as_u64().is_some());
    assert_eq!(v["calls"].as_array().map(Vec::len), Some(0));

    // The registrar stops: the next refresh (registerRefresh=10) fails, and --status says so.
    drop(kam);
    phone.wait_line("registration failed: Account1", Duration::from_secs(60));
    let (code, out, _) = status(phone.ini_path(), true);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["accounts"][0]["state"], "failed", "{v}");
    assert_eq!(v["accounts"][0]["registered"], false);
    let problem = v["last_problem"]["message"].as_str().unwrap_or_default();
    assert!(problem.contains("registration failed: Account1"), "{v}");
    let (_, text, _) = status(phone.ini_path(), false);
    assert!(text.contains("Account1: failed ("), "{text}");
    assert!(text.contains("last problem: "), "{text}");
}

#[test]
fn status_without_a_phone_exits_1_and_says_why() {
    let dir = TempDir::new("no-phone");
    let ini = dir.path().join("MicroSIP.ini");
    std::fs::write(&ini, ini_text_local()).unwrap();
    let (code, out, err) = status(&ini, false);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no phone is running for"), "{err}");
}

fn ini_text_local() -> String {
    ini(None, "")
}

#[test]
fn under_journald_lines_carry_priorities_and_no_timestamps() {
    let (read_end, write_end) = rustix::pipe::pipe().expect("a pipe");
    let stat = rustix::fs::fstat(&write_end).unwrap();
    let journal = format!("{}:{}", stat.st_dev, stat.st_ino);
    let dir = TempDir::new("journal");
    let ini_path = dir.path().join("MicroSIP.ini");
    // An unknown autoAnswer value: a warning at start.
    std::fs::write(&ini_path, ini(None, "autoAnswer=bogus\n")).unwrap();
    let mut child = Command::new(Phone::binary())
        .arg("--ini")
        .arg(&ini_path)
        .args(["--bind", "127.0.0.1"])
        .env("JOURNAL_STREAM", &journal)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .spawn()
        .expect("spawn the phone");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(std::fs::File::from(read_end))
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + T;
    while !lines
        .iter()
        .any(|l: &String| l.contains("started: SIP on udp"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let started = lines
        .iter()
        .find(|l| l.contains("started: SIP on udp"))
        .unwrap_or_else(|| panic!("no start line in {lines:#?}"));
    assert!(started.starts_with("<6>started: "), "{started}");
    let warning = lines
        .iter()
        .find(|l| l.contains("autoAnswer"))
        .unwrap_or_else(|| panic!("no autoAnswer warning in {lines:#?}"));
    assert!(warning.starts_with("<4>"), "{warning}");
    for line in &lines {
        assert!(
            line.starts_with('<') && !line.contains(" INFO ") && !line.starts_with("<6>20"),
            "a journal line with a time or level word: {line}"
        );
    }
}
