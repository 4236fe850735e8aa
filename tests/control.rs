//! MicroSIP's command line and WM_COPYDATA commands (issue 5), end to end: the real `microsip`
//! binary as the running phone, a second `microsip` process (or a raw socket client) sending
//! commands, and SIPp (plus Kamailio where a registrar is needed) on 127.0.0.1 as the far end.
//! Every assertion is about what a user would see: SIP on the wire, RTP DTMF events, exit
//! codes, replies and log lines.

mod support;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microsip::control::wire::{self, Encoding, Reply, ReplyKind};
use support::{Kamailio, Phone, Sipp, TempDir, ALICE, ALICE_PASSWORD, BOB, BOB_PASSWORD, DOMAIN};

const T: Duration = Duration::from_secs(15);

/// A MicroSIP.ini for the local "call by IP" account only.
fn local_ini(auto_answer: &str) -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    format!(
        "[Settings]\naccountId=0\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer={auto_answer}\nautoAnswerDelay=0\nAA=0\naudioCodecs=PCMA/8000/1\n",
        rtp + 7
    )
}

/// A MicroSIP.ini with [Account1] = alice at `server`, calls through `proxy`.
fn account_ini(server: &str, domain: &str, proxy: &str, password: &str) -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    format!(
        "[Settings]\naccountId=1\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer=\naudioCodecs=PCMA/8000/1\n\
         [Account1]\nserver={server}\ndomain={domain}\nproxy={proxy}\nusername={ALICE}\n\
         password={password}\ntransport=udp\nregisterRefresh=300\nkeepAlive=15\n",
        rtp + 7
    )
}

/// The phone's SIP port, from its start-up line.
fn phone_port(phone: &Phone) -> u16 {
    let line = phone.wait_line("started: SIP on udp ", T);
    line.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// What a second `microsip` process did.
struct Client {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `microsip --ini <the phone's ini> <args>` as a second process and waits for it.
fn client(phone: &Phone, args: &[&str]) -> Client {
    client_cmd(Command::new(Phone::binary()), phone.ini_path(), args)
}

fn client_cmd(mut cmd: Command, ini: &Path, args: &[&str]) -> Client {
    let started = Instant::now();
    let mut child = cmd
        .arg("--ini")
        .arg(ini)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let deadline = started + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("microsip {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Client {
        status,
        stdout,
        stderr,
        took,
    }
}

fn assert_ok(c: &Client, what: &str) {
    assert!(
        c.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        c.status,
        c.stdout,
        c.stderr
    );
}

/// A SIPp scenario from tests/sipp with "[media_port]" in its SDP replaced by `port`, so
/// the phone's RTP comes to a socket of the test. Returns the temp dir holding it and its path.
fn scenario_with_media_port(name: &str, port: u16) -> (TempDir, String) {
    let text = std::fs::read_to_string(support::tests_dir().join("sipp").join(name)).unwrap();
    let text = text.replace("m=audio [media_port]", &format!("m=audio {port}"));
    let dir = TempDir::new("scenario");
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// A UDP socket receiving the phone's RTP.
fn rtp_socket() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    sock
}

/// RFC 4733 events (payload type 101) received until `want` digits were seen or `timeout`:
/// each digit with the wall-clock time of its first packet.
fn dtmf_events(sock: &UdpSocket, want: usize, timeout: Duration) -> Vec<(char, SystemTime)> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<(char, SystemTime)> = Vec::new();
    let mut last_ts = None;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && seen.len() < want {
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n < 16 || buf[0] >> 6 != 2 || buf[1] & 0x7f != 101 {
            continue;
        }
        let header = 12 + 4 * usize::from(buf[0] & 0x0f);
        if n < header + 4 {
            continue;
        }
        let ts = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if last_ts == Some(ts) {
            continue;
        }
        last_ts = Some(ts);
        let digit = match buf[header] {
            d @ 0..=9 => char::from(b'0' + d),
            10 => '*',
            11 => '#',
            other => char::from(b'A' + other.saturating_sub(12)),
        };
        seen.push((digit, SystemTime::now()));
    }
    seen
}

/// Milliseconds since midnight UTC of a phone log line ("2026-01-01T12:34:56.789Z ...").
fn line_ms_of_day(line: &str) -> u64 {
    let time = line
        .split('T')
        .nth(1)
        .and_then(|t| t.split('Z').next())
        .unwrap_or_else(|| panic!("no timestamp in {line:?}"));
    let mut parts = time.split(':');
    let h: u64 = parts.next().unwrap().parse().unwrap();
    let m: u64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    (h * 3600 + m * 60) * 1000 + (s * 1000.0).round() as u64
}

fn ms_of_day(t: SystemTime) -> u64 {
    (t.duration_since(UNIX_EPOCH).unwrap().as_millis() % 86_400_000) as u64
}

/// The control socket of a running phone (asked with `--socket-path`).
fn socket_of(phone: &Phone) -> PathBuf {
    let c = client(phone, &["--socket-path"]);
    assert_ok(&c, "--socket-path");
    PathBuf::from(c.stdout.trim())
}

/// One raw request on a new connection; the reply.
fn raw_request(socket: &Path, frame: &[u8]) -> Reply {
    let mut s = UnixStream::connect(socket).expect("connect to the control socket");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The phone may reply and close before reading all of a bad frame: the write can then
    // fail, the reply is still there.
    let _ = s.write_all(frame);
    read_reply(&mut s)
}

fn read_reply(s: &mut UnixStream) -> Reply {
    read_reply_into(s, &mut Vec::new())
}

/// Reads the next reply on a connection that carries several: `buf` keeps what was read past
/// it (two replies can arrive in one read).
fn read_reply_into(s: &mut UnixStream, buf: &mut Vec<u8>) -> Reply {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((reply, used)) = wire::parse_reply(buf).expect("a valid reply frame") {
            buf.drain(..used);
            return reply;
        }
        let n = s.read(&mut chunk).expect("read the reply");
        assert!(n > 0, "the phone closed the connection without a reply");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn switches_on_an_incoming_call_from_a_second_process() {
    let phone = Phone::start(&local_ini(""), &[]);
    let port = phone_port(&phone);
    let rtp = rtp_socket();
    let (_dir, scenario) =
        scenario_with_media_port("uac_wait_bye.xml", rtp.local_addr().unwrap().port());
    let mut sipp = Sipp::uac(&scenario, &format!("127.0.0.1:{port}"))
        .service("intercom")
        .spawn();
    phone.wait_line("ringing (180)", T);

    // /hangupall leaves a ringing incoming call alone.
    assert_ok(&client(&phone, &["/hangupall"]), "/hangupall");

    // /answer from a second process: 200 OK on the wire. The phone runs commands in order,
    // so a 603 from /hangupall would have come before it.
    let answer = client(&phone, &["/answer"]);
    assert_ok(&answer, "/answer");
    sipp.wait_answered(T);
    let messages = sipp.messages();
    assert!(
        !messages.contains("SIP/2.0 603"),
        "the ringing call must be untouched by /hangupall:\n{messages}"
    );
    phone.wait_line(": CONFIRMED", T);
    // A second /answer finds nothing to answer, and says so.
    let again = client(&phone, &["/answer"]);
    assert!(!again.status.success());
    assert!(
        again.stderr.contains("no ringing incoming call"),
        "{}",
        again.stderr
    );

    // DTMF to the connected call: RFC 4733 events on the wire.
    assert_ok(&client(&phone, &["/dtmf:4#"]), "/dtmf:4#");
    let digits: String = dtmf_events(&rtp, 2, Duration::from_secs(5))
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(digits, "4#");
    // A trailing '?' only asks MicroSIP's user to confirm: nothing is sent.
    let confirm = client(&phone, &["/dtmf:7?"]);
    assert!(!confirm.status.success() && confirm.stderr.contains("not sent"));
    let late = dtmf_events(&rtp, 3, Duration::from_millis(1000));
    assert!(late.iter().all(|(d, _)| *d != '7'), "{late:?}");

    // Mic and speaker commands are kept as state and reported (--send prints the reply).
    let steps = [
        ("msip:micmute", "mic muted at 100%, speaker on at 100%"),
        ("msip:speakdown", "mic muted at 100%, speaker on at 95%"),
        ("msip:micmuteclick", "mic on at 100%, speaker on at 95%"),
        ("msip:micdown", "mic on at 95%, speaker on at 95%"),
        ("msip:speakmute", "mic on at 95%, speaker muted at 95%"),
        ("msip:speakmuteclick", "mic on at 95%, speaker on at 95%"),
        ("msip:speakup", "mic on at 95%, speaker on at 100%"),
        ("msip:speakup", "mic on at 95%, speaker on at 100%"),
        ("mute", "mic muted at 95%, speaker on at 100%"),
        ("msip:micunmute", "mic on at 95%, speaker on at 100%"),
        ("msip:micup", "mic on at 100%, speaker on at 100%"),
    ];
    for (command, state) in steps {
        let c = client(&phone, &["--send", command]);
        assert_ok(&c, command);
        assert_eq!(c.stdout.trim(), format!("ok: {state}"), "after {command}");
    }
    phone.wait_line("accepted alias mute for msip:micmuteclick", T);
    // /password: is kept for the session; /account:N of an account that does not load is
    // dropped with a clear error.
    let pw = client(&phone, &["--send", "/password:secret"]);
    assert!(
        pw.stdout.starts_with("ok: password override set"),
        "{}",
        pw.stdout
    );
    phone.wait_line("command \"/password:********\": password override set", T);
    phone.assert_no_line("secret");
    let acc = client(&phone, &["--send", "/account:7 100"]);
    assert!(!acc.status.success());
    assert!(
        acc.stdout.contains("[Account7] does not load"),
        "{}",
        acc.stdout
    );

    // /hangupall ends the connected call: BYE on the wire.
    assert_ok(&client(&phone, &["/hangupall"]), "/hangupall");
    sipp.wait(T).assert_success();
}

#[test]
fn hangupincoming_rejects_with_603_and_async_send_returns_at_once() {
    let phone = Phone::start(&local_ini(""), &[]);
    let port = phone_port(&phone);
    let mut sipp = Sipp::uac("uac_rejected.xml", &format!("127.0.0.1:{port}"))
        .service("intercom")
        .spawn();
    phone.wait_line("ringing (180)", T);
    let c = client(&phone, &["--send", "/hangupincoming", "--async"]);
    assert_ok(&c, "--send --async");
    assert_eq!(c.stdout.trim(), "ok: queued", "dwData=2 replies at once");
    let out = sipp.wait(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 603"));
    phone.wait_line("rejected (603): call", T);
}

#[test]
fn unknown_msip_command_is_dialled_and_hangupcalling_cancels_it() {
    let phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let mut sipp = Sipp::uas("uas_ring_cancel.xml").spawn();
    let target = format!("msip:ring@127.0.0.1:{}", sipp.port());
    assert_ok(&client(&phone, &[&target]), "msip:ring@...");
    sipp.wait_message("INVITE sip:ring@127.0.0.1", T);
    phone.wait_line(": EARLY", T);
    assert_ok(&client(&phone, &["/hangupcalling"]), "/hangupcalling");
    let out = sipp.wait(T);
    out.assert_success();
    assert!(out.messages.contains("CANCEL sip:ring@"));
}

#[test]
fn dialled_uri_headers_reach_the_invite_and_dtmf_groups_follow_microsip_timing() {
    let phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let rtp = rtp_socket();
    let (_dir, scenario) =
        scenario_with_media_port("uas_answer_dtmf.xml", rtp.local_addr().unwrap().port());
    let mut sipp = Sipp::uas(&scenario).spawn();
    let target = format!("sip:dtmf@127.0.0.1:{}?X-Test=hello,12,,3", sipp.port());
    let c = client(&phone, &[&target]);
    assert_ok(&c, "dial");
    let (_, confirmed) = phone.wait_for(0, "CONFIRMED", T, |l| l.contains(": CONFIRMED"));
    let events = dtmf_events(&rtp, 3, Duration::from_secs(8));
    let digits: String = events.iter().map(|(d, _)| *d).collect();
    assert_eq!(digits, "123", "the groups 12 and 3, in order");
    // MicroSIP: the first group 1 s after CONFIRMED; the next one 1000 + 200 × 2 ms after
    // "12", then the empty group adds 1000 ms: "3" comes 2400 ms after "1".
    let first = ms_of_day(events[0].1) as i64 - line_ms_of_day(&confirmed) as i64;
    assert!(
        (800..=1400).contains(&first),
        "first DTMF {first} ms after CONFIRMED, expected about 1000"
    );
    let gap = events[2].1.duration_since(events[0].1).unwrap().as_millis() as i64;
    assert!(
        (2150..=2750).contains(&gap),
        "\"3\" came {gap} ms after \"1\", expected about 2400"
    );
    assert_ok(&client(&phone, &["/hangupall"]), "/hangupall");
    let out = sipp.wait(T);
    out.assert_success();
    assert!(
        out.messages.contains("X-Test: hello"),
        "the URI header is an INVITE header"
    );
}

#[test]
fn blind_transfer_sends_refer() {
    let phone = Phone::start(&local_ini("all"), &[]);
    let port = phone_port(&phone);
    let mut sipp = Sipp::uac("uac_refer.xml", &format!("127.0.0.1:{port}"))
        .service("intercom")
        .args(&["-aa"])
        .spawn();
    phone.wait_line(": CONFIRMED", T);
    let c = client(&phone, &["--send", "/transfer:300@127.0.0.1"]);
    assert_ok(&c, "/transfer");
    assert!(c.stdout.contains("REFER sent"), "{}", c.stdout);
    let out = sipp.wait(T);
    out.assert_success();
    assert!(
        out.messages.contains("Refer-To: <sip:300@127.0.0.1>"),
        "{}",
        out.messages
    );
}

#[test]
fn msip_hold_toggles_hold_on_the_connected_call() {
    let phone = Phone::start(&local_ini("all"), &[]);
    let port = phone_port(&phone);
    let mut sipp = Sipp::uac("uac_hold.xml", &format!("127.0.0.1:{port}"))
        .service("intercom")
        .spawn();
    phone.wait_line(": CONFIRMED", T);
    let mark = phone.mark();
    let hold = client(&phone, &["--send", "msip:hold"]);
    assert!(hold.stdout.contains("on hold"), "{}", hold.stdout);
    phone.wait_line_after(mark, "on local hold", T);
    let resume = client(&phone, &["--send", "msip:hold"]);
    assert!(
        resume.stdout.contains("taken off hold"),
        "{}",
        resume.stdout
    );
    phone.wait_line_after(mark, "audio active", T);
    assert_ok(&client(&phone, &["/hangupall"]), "/hangupall");
    sipp.wait(T).assert_success();
}

#[test]
fn number_and_text_sends_a_sip_message() {
    let phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let mut sipp = Sipp::uas("uas_message.xml").spawn();
    let command = format!("sip:msg@127.0.0.1:{} hello there", sipp.port());
    assert_ok(&client(&phone, &[&command]), "message");
    let out = sipp.wait(T);
    out.assert_success();
    assert!(out.messages.contains("MESSAGE sip:msg@127.0.0.1"));
}

#[test]
fn dw_data_1_waits_2_queues_and_others_are_ignored() {
    let phone = Phone::start(&local_ini(""), &[]);
    let port = phone_port(&phone);
    let socket = socket_of(&phone);
    let mut sipp = Sipp::uac("uac_wait_bye.xml", &format!("127.0.0.1:{port}"))
        .service("intercom")
        .spawn();
    phone.wait_line("ringing (180)", T);

    // An unknown dwData is ignored: TRUE, and the call keeps ringing.
    let frame = wire::encode_request(7, "/answer", Encoding::Utf8).unwrap();
    let reply = raw_request(&socket, &frame);
    assert_eq!(
        (reply.kind, reply.result),
        (ReplyKind::Done, 1),
        "{reply:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!sipp.messages().contains("SIP/2.0 200 OK"));

    // dwData=2 replies FALSE at once; the answer follows.
    let frame = wire::encode_request(2, "/answer", Encoding::Utf8).unwrap();
    let reply = raw_request(&socket, &frame);
    assert_eq!(reply, Reply::done(0, "ok: queued"));
    sipp.wait_answered(T);
    phone.wait_line(": CONFIRMED", T);

    // dwData=1 runs the command and replies with its result (FALSE, and the text).
    let frame = wire::encode_request(1, "/answer", Encoding::Utf8).unwrap();
    let reply = raw_request(&socket, &frame);
    assert_eq!(reply.result, 0);
    assert_eq!(reply.text, "error: no ringing incoming call to answer");

    // As Windows' WM_COPYDATA carries it: UTF-16LE with its NUL. Two requests on one
    // connection, answered in order.
    let mut s = UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let first_frame = wire::encode_request(1, "msip:speakmute", Encoding::Utf16Le).unwrap();
    let payload: Vec<u8> = "/hangupall\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut raw = b"MSIP\x01".to_vec();
    raw.extend_from_slice(&1u32.to_le_bytes());
    raw.push(1);
    raw.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    raw.extend_from_slice(&payload);
    s.write_all(&first_frame).unwrap();
    s.write_all(&raw).unwrap();
    let mut pending = Vec::new();
    let first = read_reply_into(&mut s, &mut pending);
    assert_eq!(first.text, "ok: mic on at 100%, speaker muted at 100%");
    let second = read_reply_into(&mut s, &mut pending);
    assert!(second.text.starts_with("ok: hung up: call"), "{second:?}");
    sipp.wait(T).assert_success();
}

#[test]
fn answer_and_hangupall_without_a_running_phone_exit_at_once() {
    let dir = TempDir::new("no-instance");
    let ini = dir.path().join("MicroSIP.ini");
    std::fs::write(&ini, local_ini("")).unwrap();
    for command in ["/answer", "/hangupall"] {
        let c = client_cmd(Command::new(Phone::binary()), &ini, &[command]);
        assert_ok(&c, command);
        assert!(
            c.took < Duration::from_secs(2),
            "{command} took {:?}",
            c.took
        );
        assert!(c.stderr.contains("no phone is running"), "{}", c.stderr);
        assert!(
            !c.stderr.contains("started"),
            "no phone was started: {}",
            c.stderr
        );
    }
    let socket = client_cmd(Command::new(Phone::binary()), &ini, &["--socket-path"]);
    assert!(
        !Path::new(socket.stdout.trim()).exists(),
        "no socket was created"
    );
    let c = client_cmd(Command::new(Phone::binary()), &ini, &["/exit"]);
    assert_ok(&c, "/exit");
    assert!(c.stderr.contains("no phone is running"), "{}", c.stderr);
    // --send with no phone: an error that says so.
    let c = client_cmd(Command::new(Phone::binary()), &ini, &["--send", "/answer"]);
    assert_eq!(c.status.code(), Some(1));
    assert!(c.stderr.contains("no phone is running"), "{}", c.stderr);
}

#[test]
fn exit_unregisters_and_stops_the_running_phone() {
    let kam = Kamailio::start();
    let ini = account_ini(&kam.addr(), DOMAIN, "", ALICE_PASSWORD);
    let mut phone = Phone::start(&ini, &[]);
    phone.wait_line("registered: Account1: 200", T);
    kam.wait_binding(ALICE, T);
    let c = client(&phone, &["/exit"]);
    assert_ok(&c, "/exit");
    assert!(c.stderr.contains("has stopped"), "{}", c.stderr);
    // The client returns once the phone is gone.
    let status = phone.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status:?}\n{}", phone.log());
    let log = phone.log();
    let exit = log.find("/exit: shutting down").expect("the /exit line");
    let unregistered = log
        .find("unregistered: Account1: 200")
        .expect("un-REGISTER");
    assert!(exit < unregistered);
    assert!(kam.binding(ALICE).is_none(), "the binding is gone");
}

#[test]
fn a_number_on_the_command_line_is_dialled_once_registered() {
    let kam = Kamailio::start();
    let bob_port = support::free_udp_port();
    Sipp::uac("register_auth.xml", &kam.addr())
        .service(BOB)
        .auth(BOB, BOB_PASSWORD)
        .local_port(bob_port)
        .run(T)
        .assert_success();
    let mut bob = Sipp::uas("uas_ring_cancel.xml")
        .local_port(bob_port)
        .spawn();
    let ini = account_ini(&kam.addr(), DOMAIN, &kam.addr(), ALICE_PASSWORD);
    // The first process: no phone runs, so it starts one and keeps the number for later.
    // `/account:1` names the active account, so the rest of the command runs.
    let phone = Phone::start(&ini, &["/account:1", BOB]);
    bob.wait_message("INVITE sip:bob@", T);
    let log = phone.log();
    let waiting = log
        .find("command line: calling bob once Account1 is registered")
        .expect("the number waits");
    let registered = log.find("registered: Account1: 200").expect("registered");
    let dialled = log
        .find("after registration: calling <sip:bob@")
        .expect("dialled");
    assert!(waiting < registered && registered < dialled, "{log}");
    assert_ok(&client(&phone, &["/hangupcalling"]), "/hangupcalling");
    bob.wait(T).assert_success();
}

#[test]
fn only_the_last_number_waits_for_the_registration() {
    // A registrar that takes 1.5 s to answer, and a callee.
    let registrar = Sipp::uas("uas_register_slow.xml").spawn();
    let mut callee = Sipp::uas("uas_ring_cancel.xml").spawn();
    let ini = account_ini(&registrar.addr(), &callee.addr(), "", "any");
    let phone = Phone::start(&ini, &["carol"]);
    phone.wait_line("command line: calling carol once Account1 is registered", T);
    let c = client(&phone, &["--send", "bob"]);
    assert_ok(&c, "bob");
    assert!(
        c.stdout
            .contains("calling bob once Account1 is registered (instead of calling carol)"),
        "{}",
        c.stdout
    );
    phone.wait_line("registered: Account1: 200", T);
    callee.wait_message("INVITE sip:bob@", T);
    assert_ok(&client(&phone, &["/hangupcalling"]), "/hangupcalling");
    let out = callee.wait(T);
    out.assert_success();
    assert!(!out.messages.contains("sip:carol@"), "carol was replaced");
}

#[test]
fn a_client_of_another_user_is_refused() {
    // A runtime dir that user nobody can traverse, so only the socket's own checks stop it.
    let runtime = TempDir::new("runtime");
    let rt = runtime.path().to_str().unwrap().to_string();
    let mut phone = Phone::start_with_env(&local_ini(""), &[], &[("XDG_RUNTIME_DIR", &rt)]);
    phone_port(&phone);
    let socket = {
        let mut cmd = Command::new(Phone::binary());
        cmd.env("XDG_RUNTIME_DIR", &rt);
        client_cmd(cmd, phone.ini_path(), &["--socket-path"]).stdout
    };
    assert!(socket.trim().starts_with(&rt), "{socket}");
    let as_nobody = |caps: bool| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        if caps {
            // Pass the file mode check, so the peer uid check must do the refusing.
            cmd.args(["--inh-caps=+dac_override", "--ambient-caps=+dac_override"]);
        }
        cmd.arg("env")
            .arg(format!("XDG_RUNTIME_DIR={rt}"))
            .arg(Phone::binary());
        client_cmd(cmd, phone.ini_path(), &["--send", "/hangupall"])
    };
    // Mode 0600: another user cannot even connect.
    let c = as_nobody(false);
    assert_eq!(c.status.code(), Some(1), "{}", c.stderr);
    assert!(c.stderr.contains("Permission denied"), "{}", c.stderr);
    // With the file check bypassed, the phone refuses the peer's uid.
    let c = as_nobody(true);
    assert_eq!(c.status.code(), Some(1), "{}", c.stderr);
    assert!(
        c.stdout.contains(
            "permission denied: this phone takes commands from uid 0 only, not from uid 65534"
        ),
        "stdout: {}\nstderr: {}",
        c.stdout,
        c.stderr
    );
    phone.wait_line("refused a connection from uid 65534", T);
    assert!(phone.try_exit().is_none());
    // The owner still gets through.
    let mut cmd = Command::new(Phone::binary());
    cmd.env("XDG_RUNTIME_DIR", &rt);
    assert_ok(
        &client_cmd(cmd, phone.ini_path(), &["--send", "/hangupall"]),
        "owner",
    );
}

#[test]
fn a_copied_binary_reaches_the_phone_of_its_settings_file_and_a_portable_one_has_its_own() {
    let mut phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let dir = TempDir::new("copied-binary");
    let copy = dir.path().join("softphone");
    std::fs::copy(Phone::binary(), &copy).expect("copy the binary");
    // Same settings file, another binary: the command reaches the running phone, and the
    // phone's reply (the toggle's new state) is printed.
    let c = client_cmd(
        Command::new(&copy),
        phone.ini_path(),
        &["msip:micmuteclick"],
    );
    assert_ok(&c, "copied binary");
    assert!(c.stderr.contains("ok: mic muted"), "{}", c.stderr);
    let c = client_cmd(
        Command::new(&copy),
        phone.ini_path(),
        &["msip:micmuteclick"],
    );
    assert!(c.stderr.contains("ok: mic on"), "{}", c.stderr);
    // A portable MicroSIP.ini next to a binary is that binary's own phone (MicroSIP's
    // one-instance-per-program rule): nothing runs for it.
    std::fs::write(dir.path().join("MicroSIP.ini"), local_ini("")).unwrap();
    let out = Command::new(&copy)
        .arg("/answer")
        .output()
        .expect("run the portable copy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no phone is running"), "{stderr}");
    assert!(phone.try_exit().is_none(), "the first phone still runs");
}

#[test]
fn a_bare_number_on_the_call_by_ip_account_says_a_host_is_needed() {
    let mut phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let c = client(&phone, &["1234"]);
    assert_eq!(c.status.code(), Some(1), "{}", c.stderr);
    assert!(
        c.stderr.contains("1234 is a number") && c.stderr.contains("1234@HOST"),
        "{}",
        c.stderr
    );
    assert!(phone.try_exit().is_none());
}

#[test]
fn garbage_on_the_socket_gets_errors_and_the_phone_keeps_working() {
    let mut phone = Phone::start(&local_ini(""), &[]);
    phone_port(&phone);
    let socket = socket_of(&phone);
    let refused = |frame: &[u8], expect: &str| {
        let reply = raw_request(&socket, frame);
        assert_eq!(reply.kind, ReplyKind::Refused, "{reply:?}");
        assert_eq!(reply.result, 1);
        assert!(
            reply.text.contains(expect),
            "{expect:?} not in {:?}",
            reply.text
        );
    };
    // Random bytes.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1usize, 13, 100, 5000] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed as u8) | 0x80 // never "M", so never a valid start
            })
            .collect();
        refused(&junk, "bad magic");
    }
    refused(b"GET / HTTP/1.1\r\n\r\n", "bad magic");
    // A huge length: refused from the header alone.
    let mut huge = b"MSIP\x01".to_vec();
    huge.extend_from_slice(&1u32.to_le_bytes());
    huge.push(0);
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    refused(&huge, "more than the maximum");
    // Invalid UTF-16 (a lone surrogate) and invalid UTF-8.
    let mut bad16 = b"MSIP\x01".to_vec();
    bad16.extend_from_slice(&1u32.to_le_bytes());
    bad16.push(1);
    bad16.extend_from_slice(&4u32.to_le_bytes());
    bad16.extend_from_slice(&[b'1', 0, 0x00, 0xD8]);
    refused(&bad16, "unpaired surrogate");
    let mut bad8 = b"MSIP\x01".to_vec();
    bad8.extend_from_slice(&1u32.to_le_bytes());
    bad8.push(0);
    bad8.extend_from_slice(&2u32.to_le_bytes());
    bad8.extend_from_slice(&[0xC3, 0x28]);
    refused(&bad8, "not valid UTF-8");
    // A request cut short by the client's end of stream.
    let full = wire::encode_request(1, "/answer", Encoding::Utf8).unwrap();
    let mut s = UnixStream::connect(&socket).unwrap();
    s.write_all(&full[..10]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_reply(&mut s);
    assert!(reply.text.contains("truncated"), "{reply:?}");
    // A client that stalls in the middle of a frame is answered and dropped after the
    // timeout; others are served meanwhile.
    let mut stalled = UnixStream::connect(&socket).unwrap();
    stalled.write_all(&full[..16]).unwrap();
    let started = Instant::now();
    let c = client(&phone, &["--send", "msip:micmute"]);
    assert_ok(&c, "a command while another client stalls");
    assert!(
        c.took < Duration::from_secs(2),
        "not blocked by the stalled client"
    );
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reply = read_reply(&mut stalled);
    assert!(reply.text.contains("timed out"), "{reply:?}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    // The phone is alive and still takes commands.
    assert!(
        phone.try_exit().is_none(),
        "the phone died:\n{}",
        phone.log()
    );
    let c = client(&phone, &["--send", "msip:micunmute"]);
    assert_eq!(c.stdout.trim(), "ok: mic on at 100%, speaker on at 100%");
}

#[test]
fn a_stale_socket_is_replaced_and_a_second_start_forwards() {
    let ini_text = local_ini("");
    let mut first = Phone::start(&ini_text, &[]);
    phone_port(&first);
    let socket = socket_of(&first);
    // Killed without a chance to clean up: its socket file stays behind.
    first.signal(9);
    first.wait_exit(T);
    assert!(socket.exists(), "the dead phone's socket is left behind");
    // A new phone with the same settings file takes over.
    let ini = first.ini_path().to_path_buf();
    let mut cmd = Command::new(Phone::binary());
    let log_path = ini.with_file_name("second.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut second = cmd
        .arg("--ini")
        .arg(&ini)
        .args(["--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    while !std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("started: SIP")
    {
        assert!(Instant::now() < deadline, "the second phone did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("replacing the stale control socket"),
        "{text}"
    );
    // A third start with the same settings forwards to it instead of starting.
    let third = client_cmd(Command::new(Phone::binary()), &ini, &["msip:micmute"]);
    assert_ok(&third, "forwarded to the second phone");
    assert!(third.took < Duration::from_secs(2));
    let c = client_cmd(Command::new(Phone::binary()), &ini, &["/exit"]);
    assert_ok(&c, "/exit");
    let status = second.wait().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("command \"msip:micmute\": mic muted"),
        "{text}"
    );
    assert!(!socket.exists(), "a clean exit removes the socket");
    drop(first);
}

#[test]
fn register_uri_handler_installs_desktop_file_and_defaults() {
    let home = TempDir::new("home");
    let mut cmd = Command::new(Phone::binary());
    cmd.env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME");
    let ini = home.path().join("my phone.ini");
    std::fs::write(&ini, local_ini("")).unwrap();
    let c = client_cmd(cmd, &ini, &["--register-uri-handler"]);
    assert_ok(&c, "--register-uri-handler");
    let desktop = std::fs::read_to_string(
        home.path()
            .join(".local/share/applications/microsip.desktop"),
    )
    .unwrap();
    let exe = std::fs::canonicalize(Phone::binary()).unwrap();
    let ini = std::fs::canonicalize(&ini).unwrap();
    assert!(
        desktop.contains(&format!(
            "Exec={} --ini \"{}\" %u\n",
            exe.display(),
            ini.display()
        )),
        "{desktop}"
    );
    for scheme in ["sip", "sips", "tel", "callto"] {
        assert!(desktop.contains(&format!("x-scheme-handler/{scheme};")));
    }
    let mimeapps = std::fs::read_to_string(home.path().join(".config/mimeapps.list")).unwrap();
    for scheme in ["sip", "sips", "tel", "callto"] {
        assert!(
            mimeapps.contains(&format!("x-scheme-handler/{scheme}=microsip.desktop\n")),
            "{mimeapps}"
        );
    }
}

#[test]
fn two_starts_at_once_make_one_phone_that_runs_both_command_lines() {
    let dir = TempDir::new("race");
    let ini = dir.path().join("MicroSIP.ini");
    std::fs::write(&ini, local_ini("")).unwrap();
    let spawn = |args: &[&str], log: &str| {
        let out = std::fs::File::create(dir.path().join(log)).unwrap();
        Command::new(Phone::binary())
            .arg("--ini")
            .arg(&ini)
            .args(["--bind", "127.0.0.1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap()
    };
    let mut a = spawn(&["msip:micmute"], "a.log");
    let mut b = spawn(&["msip:speakmute"], "b.log");
    // One of them becomes the phone; the other forwards its command to it and exits 0.
    let deadline = Instant::now() + T;
    let (mut phone, forwarder_status, phone_log) = loop {
        if let Some(status) = a.try_wait().unwrap() {
            break (b, status, "b.log");
        }
        if let Some(status) = b.try_wait().unwrap() {
            break (a, status, "a.log");
        }
        assert!(Instant::now() < deadline, "neither process exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(forwarder_status.success(), "the forwarding process failed");
    let read = || std::fs::read_to_string(dir.path().join(phone_log)).unwrap();
    let deadline = Instant::now() + T;
    while !(read().contains("mic muted") && read().contains("speaker muted")) {
        assert!(
            Instant::now() < deadline,
            "both commands must run:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        read().contains("mic muted at 100%, speaker muted at 100%"),
        "{}",
        read()
    );
    let c = client_cmd(Command::new(Phone::binary()), &ini, &["/exit"]);
    assert_ok(&c, "/exit");
    assert!(phone.wait().unwrap().success());
}
