//! MicroSIP's event hooks (the `cmd*` keys, spec §6): a program run at a moment of a call, with
//! the remote party's user part as its last argument.
//!
//! Same moments as MicroSIP; safer in how the program is run:
//! - the key is split with POSIX shell-word rules and run directly: no shell ever sees it, and
//!   the caller id is ONE argument, whatever it contains;
//! - hooks run on threads of their own, never on the SIP thread or the main loop, so a hook
//!   never delays the 180 or the 200; the hooks of one call run one after the other, in the
//!   order of its events; those of different calls run side by side;
//! - each hook has [`HOOK_LIMIT`]; a hook still running then is killed (its whole process
//!   group) and the kill is logged;
//! - the event's details are also in the environment (`MSIP_EVENT`, `MSIP_CALL_ID`,
//!   `MSIP_REMOTE_URI`, `MSIP_REMOTE_NAME`, `MSIP_DIRECTION`, `MSIP_STATUS`), so scripts need
//!   no parsing.
//!
//! [`Tracker`] decides which hooks fire for which engine events (pure, unit-tested);
//! [`Runner`] runs them.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;
use md5::{Digest, Md5};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use wait_timeout::ChildExt;

use crate::config::Settings;
use crate::dial::{display_name, uri_user_host};
use crate::engine::{CallId, CallInfo, CallState, Event, IncomingAction, Role};

/// What `{placeholders}` keep unencoded: RFC 3986's unreserved characters.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How long a hook may run (MicroSIP waits 10 s for each).
pub const HOOK_LIMIT: Duration = Duration::from_secs(10);

/// The moments a hook can run at (the `cmd*` keys). `cmdCallAnswerVideo` never fires: this
/// phone has no video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// Every incoming INVITE, before it is decided (also for calls then refused).
    IncomingCall,
    /// An incoming call rings (180 sent; not answered or forwarded at once).
    CallRing,
    /// An outgoing call reaches CALLING.
    OutgoingCall,
    /// We answered: CONFIRMED as the called side.
    CallAnswer,
    /// A call connects (CONFIRMED, both directions), after `cmdCallAnswer`.
    CallStart,
    /// A call ended with 486, 600 or 603.
    CallBusy,
    /// A call ended otherwise.
    CallEnd,
}

impl HookKind {
    pub const ALL: [HookKind; 7] = [
        HookKind::IncomingCall,
        HookKind::CallRing,
        HookKind::OutgoingCall,
        HookKind::CallAnswer,
        HookKind::CallStart,
        HookKind::CallBusy,
        HookKind::CallEnd,
    ];

    /// The MicroSIP.ini key.
    pub fn key(self) -> &'static str {
        match self {
            HookKind::IncomingCall => "cmdIncomingCall",
            HookKind::CallRing => "cmdCallRing",
            HookKind::OutgoingCall => "cmdOutgoingCall",
            HookKind::CallAnswer => "cmdCallAnswer",
            HookKind::CallStart => "cmdCallStart",
            HookKind::CallBusy => "cmdCallBusy",
            HookKind::CallEnd => "cmdCallEnd",
        }
    }

    /// The event's name in `MSIP_EVENT` (and in the event stream).
    pub fn event_name(self) -> &'static str {
        match self {
            HookKind::IncomingCall => "incoming_call",
            HookKind::CallRing => "call_ring",
            HookKind::OutgoingCall => "outgoing_call",
            HookKind::CallAnswer => "call_answer",
            HookKind::CallStart => "call_start",
            HookKind::CallBusy => "call_busy",
            HookKind::CallEnd => "call_end",
        }
    }

    fn command(self, s: &Settings) -> &str {
        match self {
            HookKind::IncomingCall => &s.cmd_incoming_call,
            HookKind::CallRing => &s.cmd_call_ring,
            HookKind::OutgoingCall => &s.cmd_outgoing_call,
            HookKind::CallAnswer => &s.cmd_call_answer,
            HookKind::CallStart => &s.cmd_call_start,
            HookKind::CallBusy => &s.cmd_call_busy,
            HookKind::CallEnd => &s.cmd_call_end,
        }
    }
}

/// The remote party as hooks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    /// The URI, without display name or parameters outside `<…>`.
    pub uri: String,
    /// The display name (unquoted), or "".
    pub name: String,
    /// The user part, percent-decoded.
    pub user: String,
    /// The host.
    pub domain: String,
}

impl Remote {
    /// Parses a header value such as `"Bob" <sip:bob@host>;tag=1`.
    pub fn parse(value: &str) -> Remote {
        let (user, domain) = uri_user_host(value);
        let uri = match (value.find('<'), value.rfind('>')) {
            (Some(lt), Some(gt)) if gt > lt => &value[lt + 1..gt],
            _ => value.split(';').next().unwrap_or(value),
        };
        Remote {
            uri: uri.trim().to_string(),
            name: display_name(value),
            user: percent_decode_str(&user).decode_utf8_lossy().into_owned(),
            domain,
        }
    }

    /// MicroSIP's hook argument: the user part; for the end hooks, the domain when there is
    /// no user.
    fn argument(&self, kind: HookKind) -> &str {
        if self.user.is_empty() && matches!(kind, HookKind::CallBusy | HookKind::CallEnd) {
            &self.domain
        } else {
            &self.user
        }
    }
}

/// One hook to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    pub kind: HookKind,
    pub call: CallId,
    /// Numbers calls in the order they appeared (PJSUA reuses call ids).
    pub seq: u64,
    pub remote: Remote,
    pub sip_call_id: String,
    /// `incoming` or `outgoing`.
    pub direction: &'static str,
    /// The last SIP status of the call (0: none yet).
    pub status: u16,
}

impl Firing {
    /// The `MSIP_*` environment of the hook.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MSIP_EVENT", self.kind.event_name().to_string()),
            ("MSIP_CALL", self.call.to_string()),
            ("MSIP_CALL_ID", self.sip_call_id.clone()),
            ("MSIP_REMOTE_URI", self.remote.uri.clone()),
            ("MSIP_REMOTE_NAME", self.remote.name.clone()),
            ("MSIP_REMOTE_USER", self.remote.user.clone()),
            ("MSIP_DIRECTION", self.direction.to_string()),
            (
                "MSIP_STATUS",
                if self.status > 0 {
                    self.status.to_string()
                } else {
                    String::new()
                },
            ),
        ]
    }
}

/// What the tracker keeps of a call.
#[derive(Debug, Clone)]
struct Tracked {
    seq: u64,
    role: Role,
    /// Refused by the phone itself (busy, DND, denied, limit): no end hook (MicroSIP's
    /// `hidden`).
    hidden: bool,
    remote: Remote,
    sip_call_id: String,
    outgoing_fired: bool,
    started: bool,
}

/// Decides, from the engine's events, which hooks fire (MicroSIP's moments, §6).
#[derive(Debug, Default)]
pub struct Tracker {
    calls: HashMap<CallId, Tracked>,
    next_seq: u64,
}

impl Tracker {
    /// The hooks `event` fires, in order.
    pub fn on_event(&mut self, event: &Event) -> Vec<Firing> {
        match event {
            Event::Incoming { info, action } => {
                let Some(call) = info.call else {
                    return Vec::new();
                };
                let remote = Remote::parse(info.asserted_identity.as_deref().unwrap_or(&info.from));
                let tracked = self.track(call, Role::Callee, remote, &info.sip_call_id);
                tracked.hidden = matches!(action, IncomingAction::Reject { .. });
                let mut out = vec![self.firing(call, HookKind::IncomingCall, 0)];
                if matches!(action, IncomingAction::Ring { .. }) {
                    out.push(self.firing(call, HookKind::CallRing, 0));
                }
                out
            }
            Event::CallState { info } => self.on_state(info),
            _ => Vec::new(),
        }
    }

    fn on_state(&mut self, info: &CallInfo) -> Vec<Firing> {
        if !self.calls.contains_key(&info.call) {
            if info.state == CallState::Disconnected {
                return Vec::new();
            }
            self.track(
                info.call,
                info.role,
                Remote::parse(&info.remote),
                &info.sip_call_id,
            );
        }
        let status = info.last_status;
        let Some(t) = self.calls.get_mut(&info.call) else {
            return Vec::new();
        };
        let mut kinds = Vec::new();
        match info.state {
            CallState::Calling if t.role == Role::Caller && !t.outgoing_fired => {
                t.outgoing_fired = true;
                kinds.push(HookKind::OutgoingCall);
            }
            CallState::Confirmed if !t.started => {
                t.started = true;
                if t.role == Role::Callee {
                    kinds.push(HookKind::CallAnswer);
                }
                kinds.push(HookKind::CallStart);
            }
            CallState::Disconnected if !t.hidden => {
                kinds.push(if matches!(status, 486 | 600 | 603) {
                    HookKind::CallBusy
                } else {
                    HookKind::CallEnd
                });
            }
            _ => {}
        }
        let out = kinds
            .into_iter()
            .map(|k| self.firing(info.call, k, status))
            .collect();
        if info.state == CallState::Disconnected {
            self.calls.remove(&info.call);
        }
        out
    }

    fn track(
        &mut self,
        call: CallId,
        role: Role,
        remote: Remote,
        sip_call_id: &str,
    ) -> &mut Tracked {
        self.next_seq += 1;
        let tracked = Tracked {
            seq: self.next_seq,
            role,
            hidden: false,
            remote,
            sip_call_id: sip_call_id.to_string(),
            outgoing_fired: false,
            started: false,
        };
        self.calls.insert(call, tracked);
        self.calls.get_mut(&call).expect("just inserted")
    }

    fn firing(&self, call: CallId, kind: HookKind, status: u16) -> Firing {
        let t = &self.calls[&call];
        Firing {
            kind,
            call,
            seq: t.seq,
            remote: t.remote.clone(),
            sip_call_id: t.sip_call_id.clone(),
            direction: match t.role {
                Role::Callee => "incoming",
                Role::Caller => "outgoing",
            },
            status,
        }
    }
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutcome {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it.
    Signalled,
    /// It ran past [`HOOK_LIMIT`] and was killed.
    Killed,
    /// It could not be started (the program is missing, not executable...).
    NotStarted(String),
}

/// A hook that ran: the event the phone reports.
#[derive(Debug, Clone)]
pub struct HookResult {
    pub kind: HookKind,
    pub call: CallId,
    pub program: String,
    pub outcome: HookOutcome,
    pub elapsed: Duration,
}

impl HookResult {
    /// Whether it exited with 0.
    pub fn succeeded(&self) -> bool {
        self.outcome == HookOutcome::Exited(0)
    }

    /// One log line (the program name escaped).
    pub fn describe(&self) -> String {
        let ms = self.elapsed.as_millis();
        let what = match &self.outcome {
            HookOutcome::Exited(code) => format!("exited with {code} after {ms} ms"),
            HookOutcome::Signalled => format!("ended by a signal after {ms} ms"),
            HookOutcome::Killed => {
                format!("still running after {} s: killed", HOOK_LIMIT.as_secs())
            }
            HookOutcome::NotStarted(e) => format!("could not start: {e}"),
        };
        format!(
            "hook {} (call {}) {:?}: {what}",
            self.kind.key(),
            self.call,
            self.program
        )
    }
}

/// What `cmdOutgoingCall`'s placeholders are filled with (MicroSIP's `URLMask`).
#[derive(Debug, Clone, Default)]
pub struct AccountFacts {
    /// The account's server, or `localhost` for the local account.
    pub server: String,
    /// The account's user name.
    pub extension: String,
    pub password: String,
}

/// Runs the configured hooks.
pub struct Runner {
    commands: HashMap<HookKind, Vec<String>>,
    account: AccountFacts,
    results: Sender<HookResult>,
    limit: Duration,
    /// The last hook thread of each call (by [`Firing::seq`]): the next one waits for it.
    chains: HashMap<u64, JoinHandle<()>>,
}

impl Runner {
    /// The hooks of `settings`; a key that cannot be split (an unclosed quote) is logged and
    /// left out.
    pub fn new(settings: &Settings, account: AccountFacts, results: Sender<HookResult>) -> Runner {
        let mut commands = HashMap::new();
        for kind in HookKind::ALL {
            let text = kind.command(settings).trim();
            if text.is_empty() {
                continue;
            }
            match shell_words::split(text) {
                Ok(words) if !words.is_empty() => {
                    commands.insert(kind, words);
                }
                Ok(_) => {}
                Err(e) => log::warn!(
                    "{}: {e} (it is split like a POSIX shell command line); this hook does not run",
                    kind.key()
                ),
            }
        }
        Runner {
            commands,
            account,
            results,
            limit: HOOK_LIMIT,
            chains: HashMap::new(),
        }
    }

    /// What `cmdOutgoingCall`'s placeholders name from now on (the active account changed).
    pub fn set_account(&mut self, account: AccountFacts) {
        self.account = account;
    }

    /// Whether any hook is configured.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Starts `firing`'s hook, after the call's previous hook has finished.
    pub fn run(&mut self, firing: Firing) {
        self.chains.retain(|_, h| !h.is_finished());
        let Some(words) = self.commands.get(&firing.kind) else {
            return;
        };
        let mut argv: Vec<String> = if firing.kind == HookKind::OutgoingCall {
            words
                .iter()
                .map(|w| url_mask(w, &self.account, &firing.remote))
                .collect()
        } else {
            words.clone()
        };
        argv.push(firing.remote.argument(firing.kind).to_string());
        log::info!(
            "hook {} (call {}): starting {:?}",
            firing.kind.key(),
            firing.call,
            argv[0]
        );
        let previous = self.chains.remove(&firing.seq);
        let results = self.results.clone();
        let limit = self.limit;
        let (seq, key) = (firing.seq, firing.kind.key());
        let spawned = std::thread::Builder::new()
            .name("hook".into())
            .spawn(move || {
                if let Some(p) = previous {
                    let _ = p.join();
                }
                let result = run_one(&argv, &firing, limit);
                let _ = results.send(result);
            });
        match spawned {
            Ok(handle) => {
                self.chains.insert(seq, handle);
            }
            Err(e) => log::warn!("{key}: no thread to run it: {e}"),
        }
    }

    /// Waits for the hooks still running (each is bounded by its limit).
    pub fn finish(&mut self) {
        for (_, h) in self.chains.drain() {
            let _ = h.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Runs one hook to its end or its limit.
fn run_one(argv: &[String], firing: &Firing, limit: Duration) -> HookResult {
    let started = Instant::now();
    let result = |outcome| HookResult {
        kind: firing.kind,
        call: firing.call,
        program: argv[0].clone(),
        outcome,
        elapsed: started.elapsed(),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(firing.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Its own process group, so a kill reaches whatever it started.
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return result(HookOutcome::NotStarted(e.to_string())),
    };
    match child.wait_timeout(limit) {
        Ok(Some(status)) => result(match status.code() {
            Some(code) => HookOutcome::Exited(code),
            None => HookOutcome::Signalled,
        }),
        Ok(None) | Err(_) => {
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            result(HookOutcome::Killed)
        }
    }
}

/// MicroSIP's `URLMask` for `cmdOutgoingCall`, applied to one word of the split command:
/// `{server}`, `{extension}`, `{password}`, `{md5_password}`, `{duration}` (-1), `{time}`,
/// `{callid}` and `{direction}` (empty, as MicroSIP has no call here), `{callerid}` (name,
/// else user), `{user}`, `{number}`, `{domain}`, `{name}`; every value URL-encoded.
pub fn url_mask(word: &str, account: &AccountFacts, remote: &Remote) -> String {
    if !word.contains('{') {
        return word.to_string();
    }
    let enc = |v: &str| utf8_percent_encode(v, URL_VALUE).to_string();
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let md5 = format!("{:x}", Md5::digest(account.password.as_bytes()));
    let callerid = if remote.name.is_empty() {
        &remote.user
    } else {
        &remote.name
    };
    let values = [
        ("{server}", enc(&account.server)),
        ("{extension}", enc(&account.extension)),
        ("{password}", enc(&account.password)),
        ("{md5_password}", md5),
        ("{duration}", "-1".to_string()),
        ("{time}", time.to_string()),
        ("{callid}", String::new()),
        ("{direction}", String::new()),
        ("{callerid}", enc(callerid)),
        ("{user}", enc(&remote.user)),
        ("{number}", enc(&remote.user)),
        ("{domain}", enc(&remote.domain)),
        ("{name}", enc(&remote.name)),
    ];
    let mut out = word.to_string();
    for (placeholder, value) in &values {
        out = out.replace(placeholder, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{IncomingCall, MediaState};

    fn incoming(call: i32, from: &str, action: IncomingAction) -> Event {
        Event::Incoming {
            info: IncomingCall {
                call: Some(CallId(call)),
                from: from.into(),
                to: "<sip:intercom@127.0.0.1>".into(),
                sip_call_id: format!("cid-{call}"),
                ..Default::default()
            },
            action,
        }
    }

    fn state(call: i32, role: Role, state: CallState, status: u16) -> Event {
        Event::CallState {
            info: CallInfo {
                call: CallId(call),
                account: crate::engine::AccountId(0),
                role,
                state,
                media: MediaState::None,
                remote: "\"Bob\" <sip:bob@pbx.example>".into(),
                local: "<sip:me@pbx.example>".into(),
                sip_call_id: format!("cid-{call}"),
                last_status: status,
                last_reason: String::new(),
            },
        }
    }

    fn kinds(f: Vec<Firing>) -> Vec<HookKind> {
        f.into_iter().map(|f| f.kind).collect()
    }

    fn ring() -> IncomingAction {
        IncomingAction::RING
    }

    #[test]
    fn an_answered_incoming_call_fires_incoming_ring_answer_start_end() {
        let mut t = Tracker::default();
        let from = "\"Al\" <sip:100@127.0.0.1>;tag=x";
        assert_eq!(
            kinds(t.on_event(&incoming(0, from, ring()))),
            [HookKind::IncomingCall, HookKind::CallRing]
        );
        assert!(t
            .on_event(&state(0, Role::Callee, CallState::Early, 180))
            .is_empty());
        assert_eq!(
            kinds(t.on_event(&state(0, Role::Callee, CallState::Confirmed, 200))),
            [HookKind::CallAnswer, HookKind::CallStart]
        );
        let end = t.on_event(&state(0, Role::Callee, CallState::Disconnected, 200));
        assert_eq!(kinds(end.clone()), [HookKind::CallEnd]);
        // The remote party is the caller of the INVITE, not the state's remote text.
        assert_eq!(end[0].remote.user, "100");
        assert_eq!(end[0].direction, "incoming");
    }

    #[test]
    fn an_auto_answered_call_does_not_ring() {
        let mut t = Tracker::default();
        let fired = t.on_event(&incoming(0, "<sip:100@h>", IncomingAction::Answer));
        assert_eq!(kinds(fired), [HookKind::IncomingCall]);
    }

    #[test]
    fn a_refused_call_fires_only_the_incoming_hook() {
        let mut t = Tracker::default();
        let refused = IncomingAction::Reject {
            code: 486,
            reason: Some("Do Not Disturb".into()),
        };
        assert_eq!(
            kinds(t.on_event(&incoming(0, "<sip:100@h>", refused))),
            [HookKind::IncomingCall]
        );
        assert!(t
            .on_event(&state(0, Role::Callee, CallState::Disconnected, 486))
            .is_empty());
    }

    #[test]
    fn busy_codes_fire_the_busy_hook_others_the_end_hook() {
        for (code, kind) in [
            (486, HookKind::CallBusy),
            (600, HookKind::CallBusy),
            (603, HookKind::CallBusy),
            (404, HookKind::CallEnd),
            (487, HookKind::CallEnd),
        ] {
            let mut t = Tracker::default();
            assert_eq!(
                kinds(t.on_event(&state(1, Role::Caller, CallState::Calling, 0))),
                [HookKind::OutgoingCall]
            );
            let end = t.on_event(&state(1, Role::Caller, CallState::Disconnected, code));
            assert_eq!(kinds(end.clone()), [kind], "{code}");
            assert_eq!(end[0].status, code);
            assert_eq!(end[0].direction, "outgoing");
        }
    }

    #[test]
    fn an_outgoing_call_that_connects_fires_start_but_not_answer() {
        let mut t = Tracker::default();
        t.on_event(&state(1, Role::Caller, CallState::Calling, 0));
        assert!(t
            .on_event(&state(1, Role::Caller, CallState::Calling, 0))
            .is_empty());
        assert_eq!(
            kinds(t.on_event(&state(1, Role::Caller, CallState::Confirmed, 200))),
            [HookKind::CallStart]
        );
        // A re-INVITE's CONFIRMED does not fire again.
        assert!(t
            .on_event(&state(1, Role::Caller, CallState::Confirmed, 200))
            .is_empty());
    }

    #[test]
    fn a_reused_call_id_is_a_new_call() {
        let mut t = Tracker::default();
        let a = t.on_event(&incoming(0, "<sip:a@h>", ring()));
        t.on_event(&state(0, Role::Callee, CallState::Disconnected, 487));
        let b = t.on_event(&incoming(0, "<sip:b@h>", ring()));
        assert_ne!(a[0].seq, b[0].seq);
    }

    #[test]
    fn the_asserted_identity_overrides_from() {
        let mut t = Tracker::default();
        let ev = Event::Incoming {
            info: IncomingCall {
                call: Some(CallId(0)),
                from: "<sip:anonymous@anonymous.invalid>".into(),
                asserted_identity: Some("\"Reception\" <sip:200@pbx.example>".into()),
                ..Default::default()
            },
            action: ring(),
        };
        let f = t.on_event(&ev);
        assert_eq!(f[0].remote.user, "200");
        assert_eq!(f[0].remote.name, "Reception");
    }

    #[test]
    fn remote_parties_are_decoded() {
        let r =
            Remote::parse("\"a \\\"b\\\"\" <sip:%24%28x%29%0A@h.example:5060;transport=udp>;tag=1");
        assert_eq!(r.user, "$(x)\n");
        assert_eq!(r.name, "a \"b\"");
        assert_eq!(r.domain, "h.example");
        assert_eq!(r.uri, "sip:%24%28x%29%0A@h.example:5060;transport=udp");
        let bare = Remote::parse("sip:host.example;tag=1");
        assert_eq!(bare.argument(HookKind::CallEnd), "host.example");
        assert_eq!(bare.argument(HookKind::CallStart), "");
    }

    #[test]
    fn url_mask_fills_and_encodes_the_placeholders() {
        let account = AccountFacts {
            server: "pbx.example".into(),
            extension: "100".into(),
            password: "p w&".into(),
        };
        let remote = Remote::parse("\"Bob Smith\" <sip:200@pbx.example>");
        assert_eq!(
            url_mask(
                "https://crm/?n={number}&c={callerid}&s={server}&e={extension}",
                &account,
                &remote
            ),
            "https://crm/?n=200&c=Bob%20Smith&s=pbx.example&e=100"
        );
        assert_eq!(url_mask("{password}", &account, &remote), "p%20w%26");
        assert_eq!(
            url_mask("{md5_password}", &account, &remote),
            format!("{:x}", Md5::digest(b"p w&"))
        );
        assert_eq!(
            url_mask("{duration}{callid}{direction}", &account, &remote),
            "-1"
        );
        assert_eq!(url_mask("plain", &account, &remote), "plain");
    }

    #[test]
    fn the_environment_names_the_event() {
        let f = Firing {
            kind: HookKind::CallBusy,
            call: CallId(2),
            seq: 1,
            remote: Remote::parse("\"N\" <sip:u@d>"),
            sip_call_id: "abc".into(),
            direction: "outgoing",
            status: 486,
        };
        let env: HashMap<_, _> = f.env().into_iter().collect();
        assert_eq!(env["MSIP_EVENT"], "call_busy");
        assert_eq!(env["MSIP_CALL"], "2");
        assert_eq!(env["MSIP_CALL_ID"], "abc");
        assert_eq!(env["MSIP_REMOTE_URI"], "sip:u@d");
        assert_eq!(env["MSIP_REMOTE_NAME"], "N");
        assert_eq!(env["MSIP_DIRECTION"], "outgoing");
        assert_eq!(env["MSIP_STATUS"], "486");
    }
}
