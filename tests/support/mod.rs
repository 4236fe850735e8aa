//! Integration-test harness: a private Kamailio registrar, SIPp runs and the
//! real `microsip` binary, all on 127.0.0.1.
//!
//! Use from an integration test with `mod support;`.
//!
//! Dev-dependencies: none, std only (signals go through the `kill` command).
//!
//! Needs the Debian packages `kamailio` (registrar, `kamcmd`) and `sip-tester`
//! (SIPp 3.6, whose `/usr/share/sip-tester/g711a.pcap` the scenarios play).
//!
//! Every server runs in its own temp dir and process group; dropping its
//! handle stops the whole group (SIGTERM, then SIGKILL) and reaps it, also
//! when the test panics. On a panic the temp dirs are kept and their paths
//! printed, so the logs can be read afterwards.
//!
//! Ports come from [`free_udp_port`] / [`free_udp_port_block`]: the kernel
//! picks an unused ephemeral port, and a per-process registry guarantees no
//! two tests in one test binary get the same one.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod audio;
pub mod events;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the helpers wait for a phone's line or command.
const PHONE_WAIT: Duration = Duration::from_secs(20);

/// `[Settings]` for a phone of its own: `accountId`, free SIP and RTP ports, no local tones
/// (`localDTMF=0`), then `extra`.
pub fn settings(account_id: u32, extra: &str) -> String {
    let rtp = free_udp_port_block(16);
    format!(
        "[Settings]\naccountId={account_id}\nsourcePort={}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         localDTMF=0\n{extra}",
        free_udp_port(),
        rtp + 15
    )
}

/// Digest realm of the test registrar (also the SIP domain).
pub const REALM: &str = "127.0.0.1";
/// SIP domain of the test accounts.
pub const DOMAIN: &str = "127.0.0.1";
/// Loopback address every test uses.
pub const LOCALHOST: &str = "127.0.0.1";

/// Accounts known to the test registrar (tests/kamailio/kamailio.cfg.in).
pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "alicepw";
pub const BOB: &str = "bob";
pub const BOB_PASSWORD: &str = "bobpw";
pub const CAROL: &str = "carol";
pub const CAROL_PASSWORD: &str = "carolpw";

/// `(user, password)` of every account known to the test registrar.
pub const USERS: &[(&str, &str)] = &[
    (ALICE, ALICE_PASSWORD),
    (BOB, BOB_PASSWORD),
    (CAROL, CAROL_PASSWORD),
];

/// Password of a test account. Panics for an unknown user.
pub fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no test account {user:?}; known: {USERS:?}"))
}

/// The repository's `tests/` directory.
pub fn tests_dir() -> PathBuf {
    // file!() is absolute when this module is pulled in with #[path = "/abs"]
    // (scratch crates), else relative to the workspace root, which is this
    // package's root.
    let here = Path::new(file!());
    let here = if here.is_absolute() {
        here.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(here)
    };
    here.parent()
        .and_then(Path::parent)
        .expect("tests/support/mod.rs has a grandparent")
        .to_path_buf()
}

// ---------------------------------------------------------------------------
// Ports

/// Ports handed out by this process: the kernel may give a just-released
/// port again, a test running in parallel must not get it.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `sock.recv_from`, waiting again when a signal interrupts it: a test process stopped and
/// resumed (a loaded machine, a debugger) gets EINTR from a socket with a read timeout.
pub fn recv_from(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, std::net::SocketAddr)> {
    loop {
        match sock.recv_from(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A UDP port on 127.0.0.1 that is free now (for TCP too) and that no other
/// test in this process has been given.
pub fn free_udp_port() -> u16 {
    free_udp_port_block(1)
}

/// The first of `n` consecutive ports on 127.0.0.1 that are free now (UDP and
/// TCP) and not given to another test of this process. For SIPp's media
/// ports (`-mp P` binds P and P+2) ask for 4.
pub fn free_udp_port_block(n: u16) -> u16 {
    assert!(n >= 1);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..200 {
        let first = UdpSocket::bind((LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .expect("bind a UDP socket on 127.0.0.1:0")
            .port();
        let Some(last) = first.checked_add(n - 1) else {
            continue;
        };
        let candidates = first..=last;
        if candidates.clone().any(|p| handed_out.contains(&p)) {
            continue;
        }
        // Hold all of them at once so the check is meaningful, then release.
        let held: Result<Vec<_>, _> = candidates
            .clone()
            .map(|p| {
                let udp = UdpSocket::bind((LOCALHOST, p))?;
                let tcp = TcpListener::bind((LOCALHOST, p))?;
                Ok::<_, std::io::Error>((udp, tcp))
            })
            .collect();
        if held.is_ok() {
            handed_out.extend(candidates);
            return first;
        }
    }
    panic!("no block of {n} free UDP ports on 127.0.0.1 after 200 tries");
}

// ---------------------------------------------------------------------------
// Temp dirs, programs, processes

/// A fresh directory under the system temp dir, removed on drop unless the
/// thread is panicking (then kept, and its path printed).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("microsip-{tag}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => return TempDir { path },
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("create temp dir {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("[harness] test failed; kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Finds `name` in PATH or in the sbin dirs (kamailio lives in /usr/sbin,
/// which a non-root PATH lacks). Panics with the package to install.
fn find_program(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` not found in PATH or /usr/sbin: install it with `apt-get install {package}`")
        })
}

/// Sends `signal` (a number, e.g. 15, or a name, e.g. "KILL") to a pid, or to
/// a process group when `group` is set. Errors (no such process) are ignored.
fn send_signal(pid: u32, signal: &str, group: bool) {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// State letter (R, S, D, Z, ...) and process group of `pid` from
/// /proc/<pid>/stat; None if it is gone.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name: state, ppid, pgrp, ...
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

fn is_dead(state: char) -> bool {
    state == 'Z' || state == 'X'
}

/// True once `pid` has exited (zombie or gone), without reaping it: while it
/// is an unreaped zombie its pid and process group id cannot be reused.
fn has_exited(pid: u32) -> bool {
    proc_stat(pid).is_none_or(|(state, _)| is_dead(state))
}

/// Pids of live (non-zombie) processes in process group `pgid`.
fn live_group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_stat(pid).is_some_and(|(state, pgrp)| pgrp == pgid && !is_dead(state)))
        .collect()
}

/// Stops a child that leads its own process group: SIGTERM to the group,
/// up to `grace` for the leader to exit, then SIGKILL to whatever is left of
/// the group, then reap. Returns the leader's exit status.
fn stop_group(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        // Leader already reaped: its group id may be reused, don't signal it.
        return Some(status);
    }
    let pid = child.id();
    send_signal(pid, "TERM", true);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !has_exited(pid) {
        thread::sleep(Duration::from_millis(20));
    }
    send_signal(pid, "KILL", true);
    let status = child.wait().ok();
    // Children that outlived the leader die from the SIGKILL asynchronously:
    // make sure none still runs when we return.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let alive = live_group_members(pid);
        if alive.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!("[harness] processes {alive:?} of group {pid} survived SIGKILL");
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    status
}

/// Waits up to `timeout` for a child to exit; None on timeout.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of a text, for panic messages.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---------------------------------------------------------------------------
// Kamailio

/// A private Kamailio registrar/proxy on udp:127.0.0.1:`port()`, configured
/// from tests/kamailio/kamailio.cfg.in (accounts: [`USERS`], realm [`REALM`]).
/// Dropping it stops it.
pub struct Kamailio {
    child: Child,
    cfg_path: PathBuf,
    defines: Vec<&'static str>,
    ip: String,
    port: u16,
    tcp_port: Option<u16>,
    tls_port: Option<u16>,
    ctl_socket: PathBuf,
    log_path: PathBuf,
    dir: TempDir,
}

/// The transports a [`Kamailio`] listens on besides UDP, and where.
#[derive(Default, Clone)]
pub struct KamailioTransports {
    /// The address it listens on (`::1` for IPv6); `None`: 127.0.0.1.
    pub ip: Option<String>,
    /// Listen on TCP too.
    pub tcp: bool,
    /// Listen on TLS (and TCP) with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// With TLS: ask every client for a certificate signed by this CA (PEM), and refuse
    /// clients without one.
    pub tls_client_ca: Option<PathBuf>,
}

impl Kamailio {
    /// Starts Kamailio (UDP only) and waits until it answers SIP OPTIONS and kamcmd.
    /// Panics if kamailio is not installed or does not come up in 10 s.
    pub fn start() -> Kamailio {
        Kamailio::start_with(&KamailioTransports::default())
    }

    /// Starts Kamailio on UDP and the transports of `t` (TLS needs the Debian package
    /// kamailio-tls-modules).
    pub fn start_with(t: &KamailioTransports) -> Kamailio {
        let kamailio = find_program("kamailio", "kamailio");
        find_program("kamcmd", "kamailio");
        let template_path = tests_dir().join("kamailio/kamailio.cfg.in");
        let template = fs::read_to_string(&template_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", template_path.display()));

        // A port taken by another process between the probe and Kamailio's
        // bind makes it exit at once: try again with another port.
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = TempDir::new("kamailio");
            let port = free_udp_port();
            let tcp_port = (t.tcp || t.tls.is_some()).then(free_udp_port);
            let tls_port = t.tls.is_some().then(free_udp_port);
            let ctl_socket = dir.path().join("ctl.sock");
            let cfg_path = dir.path().join("kamailio.cfg");
            let log_path = dir.path().join("kamailio.log");
            let tls_cfg = dir.path().join("tls.cfg");
            if let Some((cert, key)) = &t.tls {
                let client_check = match &t.tls_client_ca {
                    Some(ca) => format!(
                        "verify_certificate = yes\nrequire_certificate = yes\nca_list = {}\n",
                        ca.display()
                    ),
                    None => "verify_certificate = no\nrequire_certificate = no\n".to_string(),
                };
                fs::write(
                    &tls_cfg,
                    format!(
                        "[server:default]\nmethod = TLSv1.2+\n{client_check}\
                         private_key = {}\ncertificate = {}\n\n\
                         [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
                         require_certificate = no\n",
                        key.display(),
                        cert.display()
                    ),
                )
                .expect("write tls.cfg");
            }
            let ip = t.ip.clone().unwrap_or_else(|| LOCALHOST.to_string());
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.clone()
            };
            let cfg = template
                .replace("127.0.0.1:@", &format!("{host}:@"))
                .replace("@PORT@", &port.to_string())
                .replace("@TCP_PORT@", &tcp_port.unwrap_or(0).to_string())
                .replace("@TLS_PORT@", &tls_port.unwrap_or(0).to_string())
                .replace("@TLS_CFG@", tls_cfg.to_str().expect("UTF-8 temp dir"))
                .replace("@CTL_SOCKET@", ctl_socket.to_str().expect("UTF-8 temp dir"))
                .replace("@REALM@", REALM);
            fs::write(&cfg_path, cfg).expect("write kamailio.cfg");
            let mut defines = Vec::new();
            if t.tcp {
                defines.extend(["-A", "WITH_TCP"]);
            }
            if t.tls.is_some() {
                defines.extend(["-A", "WITH_TLS"]);
            }

            let log = File::create(&log_path).expect("create kamailio.log");
            let child = spawn_kamailio(&kamailio, &cfg_path, &defines, dir.path(), log);

            let mut k = Kamailio {
                child,
                cfg_path,
                defines,
                ip,
                port,
                tcp_port,
                tls_port,
                ctl_socket,
                log_path,
                dir,
            };
            match k.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return k,
                Err(why) => {
                    last_log = k.log();
                    if !last_log.contains("Address already in use") {
                        panic!("kamailio did not start: {why}\n--- kamailio log ---\n{last_log}");
                    }
                }
            }
        }
        panic!("kamailio could not bind a port in 3 tries\n--- kamailio log ---\n{last_log}");
    }

    /// Kills Kamailio with SIGKILL (no goodbye to anyone, its registrations are lost: the
    /// location table is in memory) and reaps it.
    pub fn kill(&mut self) {
        send_signal(self.child.id(), "KILL", true);
        let _ = self.child.wait();
    }

    /// Starts Kamailio again after [`kill`](Self::kill), on the same ports with the same
    /// configuration (its log goes on in the same file), and waits until it answers. Panics
    /// if it does not come up in 10 s.
    pub fn restart(&mut self) {
        let log = fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)
            .expect("open kamailio.log");
        let kamailio = find_program("kamailio", "kamailio");
        let dir = self.dir.path().to_path_buf();
        self.child = spawn_kamailio(&kamailio, &self.cfg_path, &self.defines, &dir, log);
        if let Err(why) = self.wait_ready(Duration::from_secs(10)) {
            panic!(
                "kamailio did not start again: {why}\n--- kamailio log ---\n{}",
                tail(&self.log(), 40)
            );
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let probe = UdpSocket::bind((self.ip.as_str(), 0)).expect("bind probe socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut sip_ready = false;
        let mut seq = 0u32;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for kamailio") {
                return Err(format!("kamailio exited with {status}"));
            }
            if !sip_ready {
                seq += 1;
                let request = options_request(self.port, probe.local_addr().unwrap().port(), seq);
                let _ = probe.send_to(request.as_bytes(), (self.ip.as_str(), self.port));
                let mut buf = [0u8; 4096];
                if let Ok((n, _)) = probe.recv_from(&mut buf) {
                    sip_ready = buf[..n].starts_with(b"SIP/2.0 ");
                }
            } else if self.try_kamcmd(&["core.uptime"]).is_ok() {
                return Ok(());
            } else {
                thread::sleep(Duration::from_millis(50));
            }
        }
        Err(format!(
            "no {} within {timeout:?}",
            if sip_ready {
                "kamcmd answer"
            } else {
                "SIP reply to OPTIONS"
            }
        ))
    }

    /// The UDP port Kamailio listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// "ip:port" (127.0.0.1 unless started elsewhere), e.g. for SIPp's remote address or an
    /// ini's server.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host(), self.port)
    }

    /// The address as a URI host: IPv6 in brackets.
    fn host(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]", self.ip)
        } else {
            self.ip.clone()
        }
    }

    /// "ip:port" of the TCP listener (started with TCP or TLS).
    pub fn tcp_addr(&self) -> String {
        format!(
            "{}:{}",
            self.host(),
            self.tcp_port.expect("Kamailio started without TCP")
        )
    }

    /// "ip:port" of the TLS listener (started with TLS).
    pub fn tls_addr(&self) -> String {
        format!(
            "{}:{}",
            self.host(),
            self.tls_port.expect("Kamailio started without TLS")
        )
    }

    /// The temp dir holding the config, log and ctl socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kamailio's log (stderr) so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// Runs `kamcmd -s unix:<ctl socket> <args>`; Ok(stdout) or Err(text).
    /// kamcmd exits 0 even for RPC errors; those print "error: <code> - ...".
    pub fn try_kamcmd(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(find_program("kamcmd", "kamailio"))
            .arg("-s")
            .arg(format!("unix:{}", self.ctl_socket.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run kamcmd: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() || stdout.starts_with("error:") || !stderr.trim().is_empty() {
            return Err(format!("kamcmd {args:?}: {}\n{stdout}{stderr}", out.status));
        }
        Ok(stdout)
    }

    /// Like [`try_kamcmd`](Self::try_kamcmd), panicking with the log on error.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        self.try_kamcmd(args)
            .unwrap_or_else(|e| panic!("{e}\n--- kamailio log ---\n{}", tail(&self.log(), 50)))
    }

    /// Contact URIs currently registered for `user` (AoRs are stored without
    /// domain), e.g. `["sip:alice@127.0.0.1:40000;transport=UDP"]`.
    pub fn bindings(&self, user: &str) -> Vec<String> {
        match self.try_kamcmd(&["ul.lookup", "location", user]) {
            Ok(out) => out
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Address: "))
                .map(str::to_owned)
                .collect(),
            Err(e) if e.contains("AOR not found") => Vec::new(),
            Err(e) => panic!("{e}\n--- kamailio log ---\n{}", tail(&self.log(), 50)),
        }
    }

    /// The (first) registered contact of `user`, or None.
    pub fn binding(&self, user: &str) -> Option<String> {
        self.bindings(user).into_iter().next()
    }

    /// Waits until `user` has a binding; returns its contact. Panics with the
    /// Kamailio log on timeout.
    pub fn wait_binding(&self, user: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(contact) = self.binding(user) {
                return contact;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no binding for {user:?} within {timeout:?}\n--- kamailio log ---\n{}",
                    tail(&self.log(), 80)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `user` has no binding left. Panics on timeout.
    pub fn wait_no_binding(&self, user: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let contacts = self.bindings(user);
            if contacts.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{user:?} still bound to {contacts:?} after {timeout:?}\n--- kamailio log ---\n{}",
                    tail(&self.log(), 80)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(5));
        if thread::panicking() {
            eprintln!(
                "[harness] kamailio log (last 40 lines):\n{}",
                tail(&self.log(), 40)
            );
        }
    }
}

/// Runs Kamailio in the foreground (no daemon), logging to `log`, with its runtime dir and pid
/// file in `dir` and small memory pools, in a process group of its own.
fn spawn_kamailio(
    kamailio: &Path,
    cfg_path: &Path,
    defines: &[&str],
    dir: &Path,
    log: File,
) -> Child {
    Command::new(kamailio)
        .arg("-f")
        .arg(cfg_path)
        .args(["-DD", "-E", "-m", "32", "-M", "8"])
        .args(defines)
        .arg("-Y")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log file"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", kamailio.display()))
}

fn options_request(port: u16, local_port: u16, seq: u32) -> String {
    format!(
        "OPTIONS sip:{LOCALHOST}:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {LOCALHOST}:{local_port};branch=z9hG4bK-probe-{pid}-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{LOCALHOST}>;tag=probe{seq}\r\n\
         To: <sip:{LOCALHOST}:{port}>\r\n\
         Call-ID: probe-{pid}-{port}@{LOCALHOST}\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        pid = std::process::id()
    )
}

// ---------------------------------------------------------------------------
// SIPp

/// One SIPp run of a scenario from tests/sipp/. Builder methods first, then
/// [`spawn`](Self::spawn) and [`wait`](Self::wait) (or [`run`](Self::run)).
///
/// Always passes `-i 127.0.0.1 -p <port> -mi 127.0.0.1 -mp <media port>
/// -cp <control port> -m <calls> -nostdin -trace_msg -trace_err`, with ports
/// from [`free_udp_port`] unless set. Note SIPp binds its control port on
/// 0.0.0.0 (not configurable in 3.6). Dropping a running Sipp kills it.
pub struct Sipp {
    scenario: PathBuf,
    remote: Option<String>,
    port: u16,
    media_port: u16,
    control_port: u16,
    calls: u32,
    extra: Vec<String>,
    /// Trace every message (-trace_msg); off for floods, whose trace would be the bottleneck.
    trace: bool,
    dir: TempDir,
    child: Option<Child>,
}

/// What a finished SIPp run left behind.
#[derive(Debug)]
pub struct SippOutput {
    /// Exit code 0: every call of the scenario succeeded.
    pub success: bool,
    /// SIPp's exit code (0 all calls ok, 1 some failed, 97/99 other ends,
    /// 255/254 fatal); None if killed by a signal.
    pub code: Option<i32>,
    /// True if the harness killed it after the wait timeout.
    pub timed_out: bool,
    /// Every SIP message sent and received (-trace_msg).
    pub messages: String,
    /// Unexpected messages (-trace_err).
    pub errors: String,
    /// SIPp's stdout and stderr (screens, scenario errors).
    pub screen: String,
}

/// A flood of `uac_flood.xml` calls, as it went: SIPp's output, and how many calls the phone
/// answered (200) and shed (503).
pub struct Flood {
    pub out: SippOutput,
    pub answered: usize,
    pub shed: usize,
}

impl Flood {
    /// `calls` calls of `uac_flood.xml` to `addr` (user "intercom"), `rate` new ones a second,
    /// all from 127.0.0.1; an answered call is hung up at once. Counts answered and shed
    /// calls from SIPp's `-trace_logs`, one line each. Waits up to 300 s.
    pub fn run(addr: &str, calls: u32, rate: u32) -> Flood {
        let logs = TempDir::new("flood");
        let log = logs.path().join("flood.log");
        let rate = rate.to_string();
        let out = Sipp::uac("uac_flood.xml", addr)
            .service("intercom")
            .untraced()
            .calls(calls)
            .args(&[
                "-r",
                &rate,
                "-trace_logs",
                "-log_file",
                log.to_str().unwrap(),
            ])
            .run(Duration::from_secs(300));
        let text = fs::read_to_string(&log).unwrap_or_default();
        let count = |word: &str| text.lines().filter(|l| l.starts_with(word)).count();
        Flood {
            answered: count("answered"),
            shed: count("shed"),
            out,
        }
    }
}

impl SippOutput {
    /// Panics with everything SIPp logged unless all calls succeeded.
    pub fn assert_success(&self) {
        if !self.success {
            panic!("SIPp failed: {}", self.report());
        }
    }

    /// Panics unless the phone refused the call with `code` and never answered it.
    pub fn assert_refused_with(&self, code: u16, what: &str) {
        assert!(
            self.messages.contains(&format!("SIP/2.0 {code} ")),
            "{what} is refused with {code}:\n{}",
            self.report()
        );
        assert!(
            !self.messages.contains("SIP/2.0 200 "),
            "{what} was answered:\n{}",
            self.report()
        );
    }

    /// A readable account of the run, for panic messages.
    pub fn report(&self) -> String {
        format!(
            "exit code {:?}{}\n--- SIPp messages ---\n{}\n--- SIPp errors ---\n{}\n--- SIPp output (tail) ---\n{}",
            self.code,
            if self.timed_out { " (timed out, killed)" } else { "" },
            self.messages,
            self.errors,
            tail(&self.screen, 40)
        )
    }
}

impl Sipp {
    /// A run of `scenario`: a file name in tests/sipp/ or a path.
    pub fn new(scenario: &str) -> Sipp {
        let scenario = if scenario.contains('/') {
            PathBuf::from(scenario)
        } else {
            tests_dir().join("sipp").join(scenario)
        };
        assert!(
            scenario.is_file(),
            "SIPp scenario {} not found",
            scenario.display()
        );
        Sipp {
            scenario,
            remote: None,
            port: free_udp_port(),
            media_port: free_udp_port_block(4),
            control_port: free_udp_port(),
            calls: 1,
            extra: Vec::new(),
            trace: true,
            dir: TempDir::new("sipp"),
            child: None,
        }
    }

    /// The same run with another scenario file of `tests/sipp` (its keys kept).
    pub fn scenario(mut self, scenario: &str) -> Sipp {
        self.scenario = tests_dir().join("sipp").join(scenario);
        assert!(
            self.scenario.is_file(),
            "SIPp scenario {scenario} not found"
        );
        self
    }

    /// A client run sending to `remote` ("127.0.0.1:port").
    pub fn uac(scenario: &str, remote: &str) -> Sipp {
        Sipp::new(scenario).remote(remote)
    }

    /// `uac_as.xml`: `user`@127.0.0.1 ("Caller USER") calls intercom@127.0.0.1 at `addr`
    /// (not started yet).
    pub fn caller_as(addr: &str, user: &str) -> Sipp {
        Sipp::uac("uac_as.xml", addr).service("intercom").args(&[
            "-key",
            "caller",
            user,
            "-key",
            "from_host",
            LOCALHOST,
            "-key",
            "to_host",
            LOCALHOST,
        ])
    }

    /// A server run waiting for requests on [`port`](Self::port).
    pub fn uas(scenario: &str) -> Sipp {
        Sipp::new(scenario)
    }

    /// Remote address ("127.0.0.1:port") for client scenarios.
    pub fn remote(mut self, remote: &str) -> Sipp {
        self.remote = Some(remote.to_owned());
        self
    }

    /// `-s`: the user part of the Request-URI ([service]).
    pub fn service(self, user: &str) -> Sipp {
        self.args(&["-s", user])
    }

    /// `-au` / `-ap`: credentials for `[authentication]`.
    pub fn auth(self, user: &str, password: &str) -> Sipp {
        self.args(&["-au", user, "-ap", password])
    }

    /// `-m`: number of calls before SIPp exits (default 1).
    pub fn calls(mut self, n: u32) -> Sipp {
        self.calls = n;
        self
    }

    /// `-p`: the local SIP port (default: a free one). Reuse the port of a
    /// `register_auth.xml` run so calls to the registered user reach this run.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.port = port;
        self
    }

    /// `-mp`: the local media port (default: a free block of 4); SIPp binds
    /// it and port + 2.
    pub fn local_media_port(mut self, port: u16) -> Sipp {
        self.media_port = port;
        self
    }

    /// `-rtp_echo`: echo RTP received on the media port back to its sender.
    pub fn rtp_echo(self) -> Sipp {
        self.args(&["-rtp_echo"])
    }

    /// No message trace (`messages` stays empty): for floods, where tracing tens of
    /// thousands of messages would slow SIPp down more than the phone.
    pub fn untraced(mut self) -> Sipp {
        self.trace = false;
        self
    }

    /// Any other SIPp arguments, e.g. `&["-aa"]` or `&["-key", "k", "v"]`.
    pub fn args(mut self, args: &[&str]) -> Sipp {
        self.extra.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// "127.0.0.1:port" of this run's SIP socket.
    pub fn addr(&self) -> String {
        format!("{LOCALHOST}:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts SIPp in the background.
    pub fn spawn(mut self) -> Sipp {
        assert!(self.child.is_none(), "SIPp already spawned");
        let sipp = find_program("sipp", "sip-tester");
        let mut cmd = Command::new(sipp);
        if let Some(remote) = &self.remote {
            cmd.arg(remote);
        }
        cmd.arg("-sf")
            .arg(&self.scenario)
            .args(["-i", LOCALHOST, "-mi", LOCALHOST])
            .args(["-p", &self.port.to_string()])
            .args(["-mp", &self.media_port.to_string()])
            .args(["-cp", &self.control_port.to_string()])
            .args(["-m", &self.calls.to_string()])
            .args(["-nostdin", "-trace_err"]);
        if self.trace {
            cmd.arg("-trace_msg")
                .arg("-message_file")
                .arg(self.messages_path());
        }
        cmd.arg("-error_file")
            .arg(self.errors_path())
            .args(&self.extra);
        let screen = File::create(self.screen_path()).expect("create SIPp output file");
        let child = cmd
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(screen.try_clone().expect("dup SIPp output file"))
            .stderr(screen)
            .process_group(0)
            .spawn()
            .expect("spawn sipp");
        self.child = Some(child);
        self
    }

    /// Spawns, then waits (see [`wait`](Self::wait)).
    pub fn run(self, timeout: Duration) -> SippOutput {
        self.spawn().wait(timeout)
    }

    /// Waits up to `timeout` for SIPp to exit, killing it after that.
    pub fn wait(&mut self, timeout: Duration) -> SippOutput {
        let child = self.child.as_mut().expect("SIPp not spawned");
        let (status, timed_out) = match wait_timeout(child, timeout) {
            Some(status) => (Some(status), false),
            None => (stop_group(child, Duration::from_secs(2)), true),
        };
        self.child = None;
        let code = status.and_then(|s| s.code());
        SippOutput {
            success: !timed_out && code == Some(0),
            code,
            timed_out,
            messages: self.messages(),
            errors: read_lossy(&self.errors_path()),
            screen: read_lossy(&self.screen_path()),
        }
    }

    /// SIP messages traced so far (also while running).
    pub fn messages(&self) -> String {
        read_lossy(&self.messages_path())
    }

    /// Waits until the traced messages satisfy `done`; panics on timeout, saying it waited
    /// for `what`.
    fn wait_trace(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if done(&messages) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("SIPp saw no {what} within {timeout:?}\n--- SIPp messages ---\n{messages}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the traced messages contain `needle`; panics on timeout.
    pub fn wait_message(&self, needle: &str, timeout: Duration) {
        self.wait_trace(&format!("{needle:?}"), timeout, |m| m.contains(needle));
    }

    /// Waits until this caller has its INVITE's 200 OK and has sent the ACK. Only then does
    /// SIPp wait for a BYE: a BYE that comes between the 200 and SIPp's ACK (the phone hung up
    /// while SIPp was slow to go on) is "unexpected" to it and fails the call.
    pub fn wait_answered(&self, timeout: Duration) {
        self.wait_trace("200 OK it acknowledged", timeout, |m| {
            m.find("SIP/2.0 200 OK")
                .is_some_and(|at| m[at..].contains("\nACK sip:"))
        });
    }

    /// Waits until the traced messages contain `needle` (`None`: SIPp goes on) or SIPp
    /// ends first (`Some`: its output); panics on timeout.
    pub fn wait_message_or_end(&mut self, needle: &str, timeout: Duration) -> Option<SippOutput> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.messages().contains(needle) {
                return None;
            }
            let ended = self
                .child
                .as_mut()
                .expect("SIPp not spawned")
                .try_wait()
                .ok()
                .flatten()
                .is_some();
            if ended {
                return Some(self.wait(timeout));
            }
            if Instant::now() >= deadline {
                panic!(
                    "SIPp saw no {needle:?} within {timeout:?} and goes on\n--- SIPp messages ---\n{}",
                    self.messages()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn messages_path(&self) -> PathBuf {
        self.dir.path().join("messages.log")
    }

    fn errors_path(&self) -> PathBuf {
        self.dir.path().join("errors.log")
    }

    fn screen_path(&self) -> PathBuf {
        self.dir.path().join("output.log")
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            stop_group(child, Duration::from_secs(2));
            if thread::panicking() {
                eprintln!(
                    "[harness] SIPp {} messages:\n{}",
                    self.scenario.display(),
                    self.messages()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The microsip binary

/// Lines the phone printed, shared with the reader threads.
#[derive(Default)]
struct Lines {
    state: Mutex<LinesState>,
    changed: Condvar,
}

#[derive(Default)]
struct LinesState {
    lines: Vec<String>,
    /// Output streams that reached end of file (2 = the phone is done).
    closed: usize,
}

/// The real `microsip` binary, running in a fresh temp dir with its ini
/// there; stdout and stderr are collected line by line (and echoed to the
/// test's stderr as `[phone] ...`). Dropping it stops it.
pub struct Phone {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Lines>,
    ini: PathBuf,
    dir: TempDir,
}

impl Phone {
    /// The binary under test: `$MICROSIP_BIN` if set, else cargo's
    /// CARGO_BIN_EXE_microsip.
    pub fn binary() -> PathBuf {
        if let Some(bin) = std::env::var_os("MICROSIP_BIN") {
            return PathBuf::from(bin);
        }
        match option_env!("CARGO_BIN_EXE_microsip") {
            Some(bin) => PathBuf::from(bin),
            None => panic!("no microsip binary: not built by cargo as an integration test of microsip, and MICROSIP_BIN is not set"),
        }
    }

    /// Writes `ini_text` to `<temp dir>/MicroSIP.ini` (UTF-8) and runs
    /// `microsip --ini <it> --bind 127.0.0.1 <extra_args>` in that dir.
    pub fn start(ini_text: &str, extra_args: &[&str]) -> Phone {
        Phone::start_with_env(ini_text, extra_args, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables.
    pub fn start_with_env(ini_text: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Phone {
        let dir = TempDir::new("phone");
        let ini = dir.path().join("MicroSIP.ini");
        fs::write(&ini, ini_text).expect("write MicroSIP.ini");
        let bin = Phone::binary();
        let mut child = Command::new(&bin)
            .arg("--ini")
            .arg(&ini)
            .args(["--bind", LOCALHOST])
            .args(extra_args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

        let lines = Arc::new(Lines::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_reader(stdout, Arc::clone(&lines));
        spawn_reader(stderr, Arc::clone(&lines));
        Phone {
            stdin: child.stdin.take(),
            child,
            lines,
            ini,
            dir,
        }
    }

    /// Runs `microsip <args>` (no ini or --bind added) in a fresh temp dir
    /// until it exits; returns its status and combined stdout + stderr.
    /// Panics if it runs longer than `timeout`. For bad-input tests.
    pub fn run_to_exit(args: &[&str], timeout: Duration) -> (ExitStatus, String) {
        Phone::run_to_exit_with_env(args, &[], timeout)
    }

    /// Like [`run_to_exit`](Self::run_to_exit), with extra environment variables.
    pub fn run_to_exit_with_env(
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> (ExitStatus, String) {
        let dir = TempDir::new("phone-run");
        let out_path = dir.path().join("output.log");
        let out = File::create(&out_path).expect("create output file");
        let bin = Phone::binary();
        let mut child = Command::new(&bin)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup output file"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        match wait_timeout(&mut child, timeout) {
            Some(status) => (status, read_lossy(&out_path)),
            None => {
                stop_group(&mut child, Duration::from_secs(2));
                panic!(
                    "microsip {args:?} still running after {timeout:?}\n--- output ---\n{}",
                    read_lossy(&out_path)
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The phone's temp dir (its working dir, holding MicroSIP.ini).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn ini_path(&self) -> &Path {
        &self.ini
    }

    /// The phone's SIP address ("127.0.0.1:port") once it has started.
    pub fn sip_addr(&self) -> String {
        let line = self.wait_line("started: SIP on udp ", PHONE_WAIT);
        line.rsplit(' ').next().unwrap().trim().to_string()
    }

    /// Runs `microsip --send COMMAND` for this phone; panics when it fails; returns what it
    /// printed.
    pub fn send(&self, command: &str) -> String {
        let ini = self.ini_path().to_str().unwrap().to_string();
        let (status, out) = Phone::run_to_exit(&["--ini", &ini, "--send", command], PHONE_WAIT);
        assert!(status.success(), "--send {command}: {out}");
        out
    }

    /// The phone's id of the call from `user` (`uac_as.xml` and its kin show themselves as
    /// "Caller USER"), from its "incoming call N from" line.
    pub fn incoming_call_id(&self, user: &str) -> String {
        let (_, line) = self.wait_for(0, user, PHONE_WAIT, |l| {
            l.contains("incoming call ") && l.contains(&format!("Caller {user}"))
        });
        let rest = line.split("incoming call ").nth(1).unwrap();
        rest.split(' ').next().unwrap().to_string()
    }

    /// Every line printed so far (stdout and stderr interleaved).
    pub fn lines(&self) -> Vec<String> {
        self.state().lines.clone()
    }

    /// Every line printed so far, joined.
    pub fn log(&self) -> String {
        self.state().lines.join("\n")
    }

    /// How many lines were printed so far: pass it to
    /// [`wait_line_after`](Self::wait_line_after) to wait for a new event.
    pub fn mark(&self) -> usize {
        self.state().lines.len()
    }

    /// The first line containing `needle`, among all lines printed so far or
    /// until `timeout`. Panics with the full log on timeout or if the phone
    /// exits without printing it.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        self.wait_line_after(0, needle, timeout)
    }

    /// Like [`wait_line`](Self::wait_line), ignoring the first `mark` lines.
    pub fn wait_line_after(&self, mark: usize, needle: &str, timeout: Duration) -> String {
        self.wait_for(mark, needle, timeout, |l| l.contains(needle))
            .1
    }

    /// The first line from index `mark` on that satisfies `pred`; returns its
    /// index and text. `what` names the wait in the panic message.
    pub fn wait_for(
        &self,
        mark: usize,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        let mut scanned = mark;
        loop {
            if let Some((i, line)) = state
                .lines
                .iter()
                .enumerate()
                .skip(scanned)
                .find(|(_, l)| pred(l))
            {
                return (i, line.clone());
            }
            scanned = scanned.max(state.lines.len());
            let now = Instant::now();
            let why = if state.closed == 2 {
                "the phone closed its output"
            } else if now >= deadline {
                "timed out"
            } else {
                state = self
                    .lines
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                continue;
            };
            let log = state.lines.join("\n");
            drop(state);
            panic!(
                "waiting {timeout:?} for a phone line {what:?}: {why}\n--- phone log ---\n{log}"
            );
        }
    }

    /// Panics if any line printed so far contains `needle`.
    pub fn assert_no_line(&self, needle: &str) {
        let state = self.state();
        if let Some(line) = state.lines.iter().find(|l| l.contains(needle)) {
            panic!(
                "unexpected phone line {line:?}\n--- phone log ---\n{}",
                state.lines.join("\n")
            );
        }
    }

    /// Writes `line` and a newline to the phone's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("phone stdin already closed");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("write to phone stdin");
    }

    /// Closes the phone's stdin (it sees end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends a signal number (e.g. `libc::SIGTERM`, `libc::SIGINT`) to the
    /// phone process (not its children).
    pub fn signal(&self, signal: i32) {
        send_signal(self.pid(), &signal.to_string(), false);
    }

    /// Exit status if the phone has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait for phone")
    }

    /// Waits for the phone to exit; panics with the log after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match wait_timeout(&mut self.child, timeout) {
            Some(status) => {
                // Let the reader threads collect the last lines.
                self.wait_output_closed(Duration::from_secs(2));
                status
            }
            None => panic!(
                "phone still running after {timeout:?}\n--- phone log ---\n{}",
                self.log()
            ),
        }
    }

    fn wait_output_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.closed < 2 {
            let now = Instant::now();
            if now >= deadline {
                // A grandchild (hook) may hold the pipes open: don't wait.
                return;
            }
            state = self
                .lines
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinesState> {
        self.lines.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        // SIGTERM first: a graceful exit unregisters from the registrar.
        self.stdin = None;
        stop_group(&mut self.child, Duration::from_secs(5));
    }
}

/// Reads lines from a phone output stream into `lines`, echoing them.
fn spawn_reader(stream: impl Read + Send + 'static, lines: Arc<Lines>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .to_owned();
                    eprintln!("[phone] {line}");
                    let mut state = lines.state.lock().unwrap_or_else(|e| e.into_inner());
                    state.lines.push(line);
                    lines.changed.notify_all();
                }
            }
        }
        let mut state = lines.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed += 1;
        lines.changed.notify_all();
    });
}

/// Engine settings for the Rust-API tests: SIP and RTP on 127.0.0.1, the local account,
/// PCMA and PCMU, PJSIP's own log quiet; `incoming` decides what new calls get.
pub fn loopback_engine(
    sip_port: u16,
    incoming: Arc<
        dyn Fn(&microsip::engine::IncomingCall) -> microsip::engine::IncomingAction + Send + Sync,
    >,
) -> microsip::engine::EngineSettings {
    microsip::engine::EngineSettings {
        sip_port,
        user_agent: "microsip-test".into(),
        incoming,
        ..microsip::engine::EngineSettings::local(LOCALHOST.parse().unwrap())
    }
}

// ---------------------------------------------------------------------------
// TLS certificates

/// A certificate authority of the test's own, made with the `openssl` command in a temp dir,
/// and server certificates it signs.
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    /// A new CA (`ca.pem`, P-256 key), valid for a day.
    pub fn new() -> TestCa {
        let dir = TempDir::new("ca");
        let ca = TestCa { dir };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=microsip test CA",
        ]);
        ca
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate and key signed by this CA for `name` (`IP:127.0.0.1` or
    /// `DNS:pbx.example`: the subjectAltName; the CN is the name without its prefix), valid
    /// for a day, in files named after `tag`. Returns (certificate, key).
    pub fn server(&self, tag: &str, name: &str) -> (PathBuf, PathBuf) {
        self.issue(tag, name, "serverAuth")
    }

    /// A client certificate and key signed by this CA for `name` (as in
    /// [`server`](Self::server)). Returns (certificate, key).
    pub fn client(&self, tag: &str, name: &str) -> (PathBuf, PathBuf) {
        self.issue(tag, name, "clientAuth")
    }

    /// A server certificate for `name` that expired long ago (valid on 1 January 2020 only).
    pub fn expired_server(&self, tag: &str, name: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n\
             serial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        )
        .expect("write ca.cnf");
        fs::write(d.join("index.txt"), "").expect("write index.txt");
        fs::write(d.join("serial"), "1000\n").expect("write serial");
        let (key, csr, cert, ext) = self.request(tag, name, "extendedKeyUsage=serverAuth");
        // `openssl ca` is the one that takes a start date in the past.
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &csr,
            "-out",
            &cert,
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
            "-extfile",
            &ext,
            "-notext",
        ]);
        (d.join(cert), d.join(key))
    }

    fn issue(&self, tag: &str, name: &str, usage: &str) -> (PathBuf, PathBuf) {
        let (key, csr, cert, ext) = self.request(
            tag,
            name,
            &format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}"),
        );
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "1",
            "-extfile",
            &ext,
        ]);
        (self.dir.path().join(cert), self.dir.path().join(key))
    }

    /// A new key and a signing request for `name` (the CN is the name without its `IP:` or
    /// `DNS:` prefix), and the extension file (subjectAltName=`name`, then `extensions`) for
    /// the certificate. Returns the file names (key, request, certificate to be, extensions).
    fn request(&self, tag: &str, name: &str, extensions: &str) -> (String, String, String, String) {
        let cn = name.split_once(':').map_or(name, |(_, v)| v);
        let (key, csr, cert, ext) = (
            format!("{tag}.key"),
            format!("{tag}.csr"),
            format!("{tag}.pem"),
            format!("{tag}.ext"),
        );
        fs::write(
            self.dir.path().join(&ext),
            format!("subjectAltName={name}\n{extensions}\n"),
        )
        .expect("write the extension file");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ]);
        (key, csr, cert, ext)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new(find_program("openssl", "openssl"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---------------------------------------------------------------------------
// Network namespaces

/// Moves the calling test's thread, and every process it starts from now on, into a network
/// namespace of its own: loopback up, with the IPv4 addresses `addrs` on it too (addresses
/// outside 127/8, for what ignores loopback addresses, such as ICE host candidates). The
/// namespace goes away with the thread and its processes. Needs root (CAP_SYS_ADMIN).
pub fn private_network(addrs: &[&str]) {
    // SAFETY: unshare(CLONE_NEWNET) only moves this thread into a new network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET) (needs root): {}",
        std::io::Error::last_os_error()
    );
    ip(&["link", "set", "lo", "up"]);
    for a in addrs {
        ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"]);
    }
}

/// Runs `ip ARGS` (iproute2) in the calling thread's network namespace; panics on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new(find_program("ip", "iproute2"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
