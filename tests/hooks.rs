//! MicroSIP's event hooks (`cmd*` keys, spec §6) on the real phone: SIPp callers and callees
//! on 127.0.0.1, and a hook script that records its arguments and `MSIP_*` environment.
//! Checks the moments and their order, the caller id as one literal argument whatever it
//! contains (no shell), the placeholders of `cmdOutgoingCall`, hidden (refused) calls, and
//! the 10 s limit.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{Phone, Sipp};

const T: Duration = Duration::from_secs(20);
/// Field and record separators of the hook script's log.
const FS: char = '\u{1f}';
const RS: char = '\u{1e}';

/// One hook run, as the script saw it.
#[derive(Debug, Clone)]
struct Run {
    event: String,
    call_id: String,
    remote_uri: String,
    remote_name: String,
    direction: String,
    status: String,
    args: Vec<String>,
}

/// Writes the recording hook script into `dir`; it appends one record per run to `hooks.log`.
fn hook_script(dir: &Path) -> PathBuf {
    let script = dir.join("hook.sh");
    let log = dir.join("hooks.log");
    let body = format!(
        "#!/bin/sh\n\
         f=$(printf '\\037')\n\
         {{ printf '%s' \"$MSIP_EVENT$f$MSIP_CALL_ID$f$MSIP_REMOTE_URI$f$MSIP_REMOTE_NAME$f$MSIP_DIRECTION$f$MSIP_STATUS\"\n\
           for a in \"$@\"; do printf '%s' \"$f$a\"; done\n\
           printf '\\036'; }} >> '{}'\n",
        log.display()
    );
    fs::write(&script, body).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn runs(dir: &Path) -> Vec<Run> {
    let text = fs::read_to_string(dir.join("hooks.log")).unwrap_or_default();
    text.split(RS)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let f: Vec<&str> = r.split(FS).collect();
            Run {
                event: f[0].into(),
                call_id: f[1].into(),
                remote_uri: f[2].into(),
                remote_name: f[3].into(),
                direction: f[4].into(),
                status: f[5].into(),
                args: f[6..].iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect()
}

fn ini(extra: &str) -> String {
    support::settings(0, extra)
}

/// Waits for the phone's line saying `key`'s hook for some call ended with exit code 0.
fn wait_hook_done(phone: &Phone, key: &str) {
    phone.wait_for(0, key, T, |l| {
        l.contains(&format!("hook {key} ")) && l.contains("exited with 0")
    });
}

#[test]
fn hooks_fire_in_order_with_the_caller_id_as_one_literal_argument() {
    let dir = support::TempDir::new("hooks");
    let script = hook_script(dir.path());
    let s = script.display();
    // Every hook of an incoming call, each with a fixed argument that has a space in it.
    let hooks: String = [
        "cmdIncomingCall",
        "cmdCallRing",
        "cmdCallAnswer",
        "cmdCallStart",
        "cmdCallEnd",
        "cmdCallBusy",
    ]
    .iter()
    .map(|k| format!("{k}={s} {k} 'two words'\n"))
    .collect();
    // The delay makes the call ring first (cmdCallRing), then the phone answers it.
    let phone = Phone::start(
        &ini(&format!("autoAnswer=all\nautoAnswerDelay=1\n{hooks}")),
        &[],
    );
    let addr = phone.sip_addr();
    let d = dir.path().display();
    // A hostile caller: command substitutions, backticks, a semicolon, quotes and a newline
    // (escaped as the URI syntax requires) in the user part, and more in the display name.
    let user = format!("$(touch%20{d}/F1)%60touch%20{d}/F2%60;%22%0A");
    let name = format!("$(touch {d}/F3) `touch {d}/F4` ; \\\"q\\\"");
    let mut caller = Sipp::uac("uac_named.xml", &addr)
        .service("intercom")
        .args(&["-key", "caller", &user, "-key", "name", &name])
        .spawn();
    caller.wait_answered(T);
    wait_hook_done(&phone, "cmdCallStart");
    phone.send("/hangupall");
    caller.wait(T).assert_success();
    wait_hook_done(&phone, "cmdCallEnd");

    let runs = runs(dir.path());
    let events: Vec<&str> = runs.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "incoming_call",
            "call_ring",
            "call_answer",
            "call_start",
            "call_end"
        ],
        "{runs:#?}"
    );
    let literal_user = format!("$(touch {d}/F1)`touch {d}/F2`;\"\n");
    for r in &runs {
        let key = format!("cmd{}", camel(&r.event));
        assert_eq!(
            r.args,
            [key.as_str(), "two words", literal_user.as_str()],
            "{r:#?}"
        );
        assert_eq!(
            r.remote_name,
            format!("$(touch {d}/F3) `touch {d}/F4` ; \"q\"")
        );
        assert!(r.remote_uri.starts_with("sip:$(touch%20"), "{r:#?}");
        assert_eq!(r.direction, "incoming");
        assert!(!r.call_id.is_empty());
    }
    assert_eq!(runs[4].status, "200", "a BYE ends the call: {runs:#?}");
    for f in ["F1", "F2", "F3", "F4"] {
        assert!(
            !dir.path().join(f).exists(),
            "{f} was created: the caller id reached a shell"
        );
    }
    // The log shows the caller id escaped, on one line.
    let log = phone.log();
    let line = log
        .lines()
        .find(|l| l.contains("incoming call") && l.contains("touch"))
        .expect("the incoming call is logged");
    assert!(line.to_ascii_lowercase().contains("%0a"), "{line}");
}

/// `call_answer` → `CallAnswer`.
fn camel(event: &str) -> String {
    event
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn an_outgoing_call_to_a_busy_callee_runs_the_outgoing_and_busy_hooks() {
    let dir = support::TempDir::new("hooks");
    let s = hook_script(dir.path()).display().to_string();
    let phone = Phone::start(
        &ini(&format!(
            "cmdOutgoingCall={s} out {{number}}@{{domain}} {{server}} {{duration}}\n\
             cmdCallBusy={s} busy\ncmdCallEnd={s} end\ncmdCallStart={s} start\n"
        )),
        &[],
    );
    phone.sip_addr();
    let mut callee = Sipp::uas("uas_busy.xml").spawn();
    phone.send(&format!("sip:500@{}", callee.addr()));
    callee.wait(T).assert_success();
    wait_hook_done(&phone, "cmdCallBusy");
    let runs = runs(dir.path());
    let events: Vec<&str> = runs.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["outgoing_call", "call_busy"], "{runs:#?}");
    assert_eq!(
        runs[0].args,
        ["out", "500@127.0.0.1", "localhost", "-1", "500"],
        "URLMask placeholders, then the callee's user part"
    );
    assert_eq!(runs[1].args, ["busy", "500"]);
    assert_eq!(runs[1].status, "486");
    assert!(runs.iter().all(|r| r.direction == "outgoing"));
}

#[test]
fn a_refused_call_runs_the_incoming_hook_and_no_end_hook() {
    let dir = support::TempDir::new("hooks");
    let s = hook_script(dir.path()).display().to_string();
    let phone = Phone::start(
        &ini(&format!(
            "DND=1\ncmdIncomingCall={s} in\ncmdCallRing={s} ring\n\
             cmdCallBusy={s} busy\ncmdCallEnd={s} end\n"
        )),
        &[],
    );
    let addr = phone.sip_addr();
    let out = Sipp::caller_as(&addr, "100").run(T);
    out.assert_success();
    assert!(out.messages.contains("SIP/2.0 486 "), "{}", out.messages);
    // Hooks start in the same loop turn as the state change is logged, so once the call's
    // end is logged, an end hook would have been started (and logged) before it.
    phone.wait_line("DISCONNECTED", T);
    wait_hook_done(&phone, "cmdIncomingCall");
    phone.assert_no_line("hook cmdCallBusy");
    phone.assert_no_line("hook cmdCallEnd");
    phone.assert_no_line("hook cmdCallRing");
    let runs = runs(dir.path());
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].args, ["in", "100"]);
}

#[test]
fn a_hook_that_hangs_is_killed_at_10_s_and_calls_are_still_answered_at_once() {
    let dir = support::TempDir::new("hooks");
    let d = dir.path().display();
    // The hook starts a child that would sleep 30 s, notes its pid, and waits for it.
    let script = dir.path().join("slow.sh");
    fs::write(
        &script,
        format!("#!/bin/sh\nsleep 30 &\necho $! > '{d}/child.'\"$1\"\nwait\n"),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let phone = Phone::start(
        &ini(&format!(
            "autoAnswer=all\ncmdIncomingCall={}\n",
            script.display()
        )),
        &[],
    );
    let addr = phone.sip_addr();
    let call = |user: &str| {
        Sipp::uac("uac_named.xml", &addr)
            .service("intercom")
            .args(&["-key", "caller", user, "-key", "name", user])
            .spawn()
    };
    let started = Instant::now();
    let mut first = call("first");
    first.wait_answered(T);
    phone.send("/hangupall");
    first.wait(T).assert_success();
    let mut second = call("second");
    second.wait_answered(T);
    // Both answered while the first hook still runs: it is killed only later.
    let killed_line = |l: &str| l.contains("hook cmdIncomingCall (call") && l.contains("killed");
    assert!(
        !phone.log().lines().any(killed_line),
        "a hook was killed before the second call was answered:\n{}",
        phone.log()
    );
    phone.wait_for(
        0,
        "the first hook killed",
        Duration::from_secs(30),
        killed_line,
    );
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "killed before its 10 s"
    );
    // The hook's child went with it (the whole process group is killed).
    let pid: i32 = fs::read_to_string(dir.path().join("child.first"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + T;
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(
            Instant::now() < deadline,
            "the hook's child {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    phone.send("/hangupall");
    second.wait(T).assert_success();
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}
