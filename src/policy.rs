//! Incoming-call decisions: pure functions over a snapshot of the call and the settings,
//! evaluated on the SIP thread (they never block) and unit-tested without PJSUA.
//! Reference: MicroSIP's `on_incoming_call` and `AutoAnswer` (spec §8, §9).
#![forbid(unsafe_code)]

use std::time::Duration;

use crate::config::{AutoAnswerCalls, DenyIncoming};
use crate::dial::{uri_user_host, wild_match};
use crate::engine::{IncomingAction, IncomingCall};

/// MicroSIP's `autoAnswer` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoAnswerMode {
    /// "": never.
    Off,
    /// `button`: when the Auto-Answer toggle (`AA=1`) is on. MicroSIP's default.
    #[default]
    Button,
    /// `header`: when the INVITE asks for it (`X-AUTOANSWER`, `Call-Info`).
    Header,
    /// `all`: every call.
    All,
}

/// The account incoming calls are checked against (`denyIncoming`'s user and domain modes):
/// MicroSIP's active account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountIdentity {
    pub username: String,
    pub domain: String,
}

/// The settings the incoming-call decision depends on.
#[derive(Debug, Clone)]
pub struct Policy {
    pub auto_answer: AutoAnswerMode,
    /// The `AA` toggle.
    pub aa_button: bool,
    /// `autoAnswerDelay`, in seconds.
    pub auto_answer_delay: u32,
    /// `autoAnswerNumber`: wildcard patterns (`*`, `?`) one of which the caller's user part must
    /// match to be auto-answered; empty: any caller.
    pub auto_answer_numbers: Vec<String>,
    /// `autoAnswerCalls`: whether other calls stop an auto-answer.
    pub auto_answer_calls: AutoAnswerCalls,
    /// `denyIncoming`.
    pub deny_incoming: DenyIncoming,
    /// The Do-Not-Disturb toggle (`DND`).
    pub dnd: bool,
    /// `callWaiting`: a call may come in while another is alive.
    pub call_waiting: bool,
    /// `maxConcurrentCalls` (0: no limit).
    pub max_concurrent_calls: u32,
    /// The active SIP account, `None` when only the local account (calls by IP) runs.
    pub account: Option<AccountIdentity>,
    /// Where calls are forwarded (`forwarding=all`, or `button` with `FWD=1`, and a
    /// `forwardingNumber` that can be called); `None`: not forwarding.
    pub forwarding: Option<Forwarding>,
}

/// MicroSIP's call forwarding, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// The formatted `forwardingNumber` (a SIP URI).
    pub target: String,
    /// `forwardingDelay`: seconds of ringing first; 0 forwards at once.
    pub delay: u32,
}

impl Default for Policy {
    /// MicroSIP's defaults.
    fn default() -> Self {
        Policy {
            auto_answer: AutoAnswerMode::default(),
            aa_button: false,
            auto_answer_delay: 0,
            auto_answer_numbers: Vec::new(),
            auto_answer_calls: AutoAnswerCalls::NoOtherCall,
            deny_incoming: DenyIncoming::Button,
            dnd: false,
            call_waiting: true,
            max_concurrent_calls: 0,
            account: None,
            forwarding: None,
        }
    }
}

/// Why a call is refused (MicroSIP 3.22.16's `Reason:` texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another call with the same caller is alive.
    DuplicateCaller,
    /// `callWaiting=0` with another call alive, or more calls than `maxConcurrentCalls`.
    CallLimit,
    /// The INVITE's Call-ID belongs to a call already answered or declined (a fork or a
    /// re-sent INVITE).
    RepeatedCallId,
    /// `denyIncoming=button` with `DND=1`.
    DoNotDisturb,
    /// Another `denyIncoming` rule.
    Denied,
}

impl Refusal {
    /// The SIP status code MicroSIP sends.
    pub fn code(self) -> u16 {
        match self {
            Refusal::RepeatedCallId => 487,
            _ => 486,
        }
    }

    /// The text of the `Reason:` header (3.22.16); `None` for the 487.
    pub fn text(self) -> Option<&'static str> {
        match self {
            Refusal::DuplicateCaller => Some("Already in call with this contact"),
            Refusal::CallLimit => Some("Maximum concurrent calls reached"),
            Refusal::RepeatedCallId => None,
            Refusal::DoNotDisturb => Some("Do Not Disturb"),
            Refusal::Denied => Some("Incoming calls blocked by user"),
        }
    }

    /// The engine's action for this refusal.
    pub fn action(self) -> IncomingAction {
        IncomingAction::Reject {
            code: self.code(),
            reason: self.text().map(str::to_string),
        }
    }
}

/// Decides what to do with `call` under `policy`, in the order of MicroSIP's
/// `on_incoming_call`: the duplicate caller, call waiting and the call limit, a repeated
/// Call-ID, `denyIncoming`; then forwarding and auto-answer (their delays carried in the
/// ringing action): forwarding at once wins over everything, an auto-answer at once over a
/// delayed forward, and of two delays the shorter (a tie forwards).
pub fn decide(policy: &Policy, call: &IncomingCall) -> IncomingAction {
    if let Some(r) = refusal(policy, call) {
        return r.action();
    }
    let secs = |s: u32| Some(Duration::from_secs(u64::from(s)));
    let answer = auto_answer_delay(policy, call);
    match (&policy.forwarding, answer) {
        (Some(f), _) if f.delay == 0 => IncomingAction::Forward {
            to: f.target.clone(),
        },
        (_, Some(0)) => IncomingAction::Answer,
        (Some(f), Some(a)) if a < f.delay => IncomingAction::Ring {
            answer_after: secs(a),
            forward_after: None,
        },
        (Some(f), _) => IncomingAction::Ring {
            answer_after: None,
            forward_after: secs(f.delay),
        },
        (None, a) => IncomingAction::Ring {
            answer_after: a.and_then(secs),
            forward_after: None,
        },
    }
}

/// Steps 2 to 6 of §8: why `call` is refused, if it is.
pub fn refusal(policy: &Policy, call: &IncomingCall) -> Option<Refusal> {
    let (caller_user, caller_host) = uri_user_host(&call.from);
    let same_caller = |remote: &str| {
        let (user, host) = uri_user_host(remote);
        user == caller_user && host.eq_ignore_ascii_case(&caller_host)
    };
    if call.others.iter().any(|o| same_caller(&o.remote)) {
        return Some(Refusal::DuplicateCaller);
    }
    let count = call.live_calls.max(call.others.len() + 1);
    let limit = policy.max_concurrent_calls as usize;
    if (!policy.call_waiting && count > 1) || (limit > 0 && count > limit) {
        return Some(Refusal::CallLimit);
    }
    if call.answered_before {
        return Some(Refusal::RepeatedCallId);
    }
    let (to_user, to_host) = uri_user_host(&call.to);
    let account = policy.account.clone().unwrap_or_default();
    let user_differs = to_user != account.username;
    // The domain modes need an account (MicroSIP: "only with an account").
    let domain_differs = |host: &str| {
        policy
            .account
            .as_ref()
            .is_some_and(|a| !host.eq_ignore_ascii_case(&a.domain))
    };
    let denied = match policy.deny_incoming {
        DenyIncoming::Off => false,
        DenyIncoming::All => true,
        DenyIncoming::Button => return policy.dnd.then_some(Refusal::DoNotDisturb),
        DenyIncoming::User => user_differs,
        DenyIncoming::Domain => domain_differs(&to_host),
        DenyIncoming::UserDomain => user_differs || domain_differs(&to_host),
        DenyIncoming::RemoteDomain => domain_differs(&caller_host),
    };
    denied.then_some(Refusal::Denied)
}

/// §9: the auto-answer delay in seconds for `call` (0: at once), or `None` when it rings.
fn auto_answer_delay(policy: &Policy, call: &IncomingCall) -> Option<u32> {
    let delay = match policy.auto_answer {
        AutoAnswerMode::Off => None,
        AutoAnswerMode::All => Some(policy.auto_answer_delay),
        AutoAnswerMode::Button => policy.aa_button.then_some(policy.auto_answer_delay),
        AutoAnswerMode::Header => {
            header_request(call).map(|after| after.unwrap_or(policy.auto_answer_delay))
        }
    }?;
    let (user, _) = uri_user_host(&call.from);
    let allowed = policy.auto_answer_numbers.is_empty()
        || policy
            .auto_answer_numbers
            .iter()
            .any(|pattern| wild_match(pattern, &user));
    let others_allow = match policy.auto_answer_calls {
        AutoAnswerCalls::NoOtherCall => call.others.is_empty(),
        AutoAnswerCalls::NoActiveCall => !call.others.iter().any(|o| o.active),
        AutoAnswerCalls::Always => true,
    };
    (allowed && others_allow).then_some(delay)
}

/// How calls live side by side (MicroSIP's `singleMode` and `AC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MultiCall {
    /// `singleMode`: one call at a time; answering ends the others.
    pub single_mode: bool,
    /// `AC`: auto-conference (multi-call mode only): connected calls are merged.
    pub auto_conference: bool,
}

/// A call as the arrangement of calls sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSnapshot {
    pub call: crate::engine::CallId,
    pub state: crate::engine::CallState,
    pub role: crate::engine::Role,
    /// On hold from our side already.
    pub held: bool,
    /// In the local conference.
    pub in_conference: bool,
}

impl CallSnapshot {
    fn ringing_in(&self) -> bool {
        use crate::engine::CallState;
        self.role == crate::engine::Role::Callee
            && matches!(self.state, CallState::Incoming | CallState::Early)
    }
}

/// What to do with the other calls when one changes state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrange {
    /// End this call (`singleMode`: another was answered).
    HangUp(crate::engine::CallId),
    /// Put this call on hold (another started or connected).
    Hold(crate::engine::CallId),
    /// Merge these connected calls into the local conference (`AC=1`).
    Conference(Vec<crate::engine::CallId>),
}

/// MicroSIP's `msip_call_unhold`, `onCallAnswer` (singleMode) and `OnMergeAll` (AC): when
/// `call` reaches `state`, what happens to `others` (every other live call).
///
/// - Starting (an outgoing call at CALLING) or being answered (an incoming one at
///   CONNECTING): in `singleMode` an answer ends the other calls that are not ringing in;
///   otherwise the other connected calls go on hold, unless auto-conference is on or both
///   are in the conference.
/// - Connecting (CONFIRMED) with auto-conference: every connected call is merged.
pub fn arrange(mode: MultiCall, call: &CallSnapshot, others: &[CallSnapshot]) -> Vec<Arrange> {
    use crate::engine::{CallState, Role};
    let auto_conference = mode.auto_conference && !mode.single_mode;
    let starting = matches!(
        (call.role, call.state),
        (Role::Caller, CallState::Calling) | (Role::Callee, CallState::Connecting)
    );
    let live = |o: &&CallSnapshot| o.state != CallState::Disconnected;
    if starting {
        if mode.single_mode && call.role == Role::Callee {
            return others
                .iter()
                .filter(live)
                .filter(|o| !o.ringing_in())
                .map(|o| Arrange::HangUp(o.call))
                .collect();
        }
        if auto_conference {
            return Vec::new();
        }
        return others
            .iter()
            .filter(|o| o.state == CallState::Confirmed && !o.held)
            .filter(|o| !(o.in_conference && call.in_conference))
            .map(|o| Arrange::Hold(o.call))
            .collect();
    }
    if call.state == CallState::Confirmed && auto_conference {
        let mut merged: Vec<_> = others
            .iter()
            .filter(|o| o.state == CallState::Confirmed)
            .map(|o| o.call)
            .collect();
        if !merged.is_empty() {
            merged.insert(0, call.call);
            return vec![Arrange::Conference(merged)];
        }
    }
    Vec::new()
}

/// Whether the other calls let a call be auto-answered now (`autoAnswerCalls`, checked again
/// when a delayed auto-answer is due): `others` are the other live calls, `active` those
/// connected and not held.
pub fn others_allow_auto_answer(policy: &Policy, others: usize, active: usize) -> bool {
    match policy.auto_answer_calls {
        AutoAnswerCalls::NoOtherCall => others == 0,
        AutoAnswerCalls::NoActiveCall => active == 0,
        AutoAnswerCalls::Always => true,
    }
}

/// Whether the INVITE asks to be auto-answered (`autoAnswer=header`): `Some(None)` to use the
/// configured delay, `Some(Some(n))` when `Call-Info` carries `answer-after=n`.
fn header_request(call: &IncomingCall) -> Option<Option<u32>> {
    if let Some(v) = &call.x_autoanswer {
        let v = v.trim();
        if v.eq_ignore_ascii_case("true") || v == "1" {
            return Some(None);
        }
    }
    let info = call.call_info.as_deref()?.to_ascii_lowercase();
    if let Some(pos) = info.find("answer-after=") {
        let digits: String = info[pos + "answer-after=".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse() {
            return Some(Some(n));
        }
    }
    info.contains("auto answer").then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CallId, CallState, OtherCall, Role};

    fn call() -> IncomingCall {
        IncomingCall {
            from: "\"Alice\" <sip:100@pbx.example>;tag=1".into(),
            to: "<sip:200@pbx.example>".into(),
            live_calls: 1,
            ..Default::default()
        }
    }

    fn policy(mode: AutoAnswerMode, aa: bool, delay: u32) -> Policy {
        Policy {
            auto_answer: mode,
            aa_button: aa,
            auto_answer_delay: delay,
            ..Default::default()
        }
    }

    fn ring() -> IncomingAction {
        IncomingAction::RING
    }

    fn after(secs: u64) -> IncomingAction {
        IncomingAction::Ring {
            answer_after: Some(Duration::from_secs(secs)),
            forward_after: None,
        }
    }

    fn forward_after(secs: u64) -> IncomingAction {
        IncomingAction::Ring {
            answer_after: None,
            forward_after: Some(Duration::from_secs(secs)),
        }
    }

    fn snap(call: i32, role: Role, state: CallState) -> CallSnapshot {
        CallSnapshot {
            call: CallId(call),
            state,
            role,
            held: false,
            in_conference: false,
        }
    }

    #[test]
    fn a_call_that_starts_or_is_answered_holds_the_connected_others() {
        let multi = MultiCall::default();
        let others = [
            snap(0, Role::Callee, CallState::Confirmed),
            snap(1, Role::Callee, CallState::Early),
            CallSnapshot {
                held: true,
                ..snap(2, Role::Caller, CallState::Confirmed)
            },
        ];
        let want = vec![Arrange::Hold(CallId(0))];
        let answered = snap(3, Role::Callee, CallState::Connecting);
        assert_eq!(arrange(multi, &answered, &others), want);
        let dialled = snap(3, Role::Caller, CallState::Calling);
        assert_eq!(arrange(multi, &dialled, &others), want);
        // Other moments change nothing.
        let confirmed = snap(3, Role::Callee, CallState::Confirmed);
        assert!(arrange(multi, &confirmed, &others).is_empty());
        // Both in the conference: no hold.
        let conf = |c: CallSnapshot| CallSnapshot {
            in_conference: true,
            ..c
        };
        assert!(arrange(multi, &conf(answered), &[conf(others[0])]).is_empty());
    }

    #[test]
    fn single_mode_ends_the_others_when_a_call_is_answered() {
        let single = MultiCall {
            single_mode: true,
            auto_conference: true,
        };
        let others = [
            snap(0, Role::Caller, CallState::Confirmed),
            snap(1, Role::Callee, CallState::Incoming),
            snap(2, Role::Caller, CallState::Early),
        ];
        assert_eq!(
            arrange(
                single,
                &snap(3, Role::Callee, CallState::Connecting),
                &others
            ),
            vec![Arrange::HangUp(CallId(0)), Arrange::HangUp(CallId(2))]
        );
        // AC has no effect in singleMode: nothing is merged.
        let confirmed = snap(3, Role::Callee, CallState::Confirmed);
        assert!(arrange(single, &confirmed, &others).is_empty());
    }

    #[test]
    fn auto_conference_merges_instead_of_holding() {
        let ac = MultiCall {
            single_mode: false,
            auto_conference: true,
        };
        let others = [
            snap(0, Role::Callee, CallState::Confirmed),
            snap(1, Role::Callee, CallState::Early),
        ];
        assert!(arrange(ac, &snap(2, Role::Callee, CallState::Connecting), &others).is_empty());
        assert_eq!(
            arrange(ac, &snap(2, Role::Callee, CallState::Confirmed), &others),
            vec![Arrange::Conference(vec![CallId(2), CallId(0)])]
        );
    }

    fn forwarding(delay: u32) -> Option<Forwarding> {
        Some(Forwarding {
            target: "<sip:300@pbx.example>".into(),
            delay,
        })
    }

    #[test]
    fn forwarding_at_once_wins_over_everything_but_a_refusal() {
        let p = Policy {
            forwarding: forwarding(0),
            ..policy(AutoAnswerMode::All, false, 0)
        };
        assert_eq!(
            decide(&p, &call()),
            IncomingAction::Forward {
                to: "<sip:300@pbx.example>".into()
            }
        );
        let dnd = Policy { dnd: true, ..p };
        assert_eq!(decide(&dnd, &call()), Refusal::DoNotDisturb.action());
    }

    #[test]
    fn forwarding_after_a_delay_against_auto_answer() {
        let with = |aa: AutoAnswerMode, aa_delay: u32, fwd_delay: u32| {
            let p = Policy {
                forwarding: forwarding(fwd_delay),
                ..policy(aa, false, aa_delay)
            };
            decide(&p, &call())
        };
        // No auto-answer: it rings, then is forwarded.
        assert_eq!(with(AutoAnswerMode::Off, 0, 10), forward_after(10));
        // An auto-answer at once wins over a delayed forward.
        assert_eq!(with(AutoAnswerMode::All, 0, 10), IncomingAction::Answer);
        // The shorter delay wins; a tie forwards.
        assert_eq!(with(AutoAnswerMode::All, 5, 10), after(5));
        assert_eq!(with(AutoAnswerMode::All, 15, 10), forward_after(10));
        assert_eq!(with(AutoAnswerMode::All, 10, 10), forward_after(10));
    }

    fn with_other(mut c: IncomingCall, remote: &str, active: bool) -> IncomingCall {
        c.others.push(OtherCall {
            remote: remote.into(),
            active,
        });
        c.live_calls = c.others.len() + 1;
        c
    }

    #[test]
    fn all_answers_every_call_after_the_delay() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::All, false, 0), &call()),
            IncomingAction::Answer
        );
        assert_eq!(
            decide(&policy(AutoAnswerMode::All, false, 3), &call()),
            after(3)
        );
    }

    #[test]
    fn button_follows_the_aa_toggle() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::Button, true, 0), &call()),
            IncomingAction::Answer
        );
        assert_eq!(
            decide(&policy(AutoAnswerMode::Button, false, 0), &call()),
            ring()
        );
    }

    #[test]
    fn off_rings() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::Off, true, 0), &call()),
            ring()
        );
    }

    #[test]
    fn header_mode_reads_x_autoanswer_and_call_info() {
        let p = policy(AutoAnswerMode::Header, false, 5);
        assert_eq!(decide(&p, &call()), ring());
        let mut c = call();
        c.x_autoanswer = Some("TRUE".into());
        assert_eq!(decide(&p, &c), after(5));
        c.x_autoanswer = Some("no".into());
        assert_eq!(decide(&p, &c), ring());
        c.call_info = Some("<sip:pbx>;answer-after=0".into());
        assert_eq!(decide(&p, &c), IncomingAction::Answer);
        c.call_info = Some("<sip:pbx>;Answer-After=2".into());
        assert_eq!(decide(&p, &c), after(2));
        c.call_info = Some("<http://x>;info=Auto Answer".into());
        assert_eq!(decide(&p, &c), after(5));
    }

    #[test]
    fn the_allow_list_limits_auto_answer_to_matching_callers() {
        let mut p = policy(AutoAnswerMode::All, false, 0);
        p.auto_answer_numbers = vec!["100".into()];
        assert_eq!(decide(&p, &call()), IncomingAction::Answer);
        p.auto_answer_numbers = vec!["2*".into(), "1?0".into()];
        assert_eq!(decide(&p, &call()), IncomingAction::Answer);
        p.auto_answer_numbers = vec!["200".into(), "10".into()];
        // Not on the list: it rings (it is not refused).
        assert_eq!(decide(&p, &call()), ring());
    }

    #[test]
    fn other_calls_stop_an_auto_answer_as_auto_answer_calls_says() {
        let mut p = policy(AutoAnswerMode::All, false, 0);
        let held = with_other(call(), "<sip:300@pbx.example>", false);
        let active = with_other(call(), "<sip:300@pbx.example>", true);
        // "": only when no other call is alive.
        assert_eq!(decide(&p, &call()), IncomingAction::Answer);
        assert_eq!(decide(&p, &held), ring());
        assert_eq!(decide(&p, &active), ring());
        // hold: only when no other call is active.
        p.auto_answer_calls = AutoAnswerCalls::NoActiveCall;
        assert_eq!(decide(&p, &held), IncomingAction::Answer);
        assert_eq!(decide(&p, &active), ring());
        // all: always.
        p.auto_answer_calls = AutoAnswerCalls::Always;
        assert_eq!(decide(&p, &active), IncomingAction::Answer);
        assert!(others_allow_auto_answer(&p, 3, 3));
        p.auto_answer_calls = AutoAnswerCalls::NoActiveCall;
        assert!(others_allow_auto_answer(&p, 1, 0) && !others_allow_auto_answer(&p, 1, 1));
        p.auto_answer_calls = AutoAnswerCalls::NoOtherCall;
        assert!(others_allow_auto_answer(&p, 0, 0) && !others_allow_auto_answer(&p, 1, 0));
    }

    #[test]
    fn a_second_call_from_the_same_caller_gets_486() {
        let p = policy(AutoAnswerMode::All, false, 0);
        let c = with_other(call(), "<sip:100@PBX.example:5060>", true);
        assert_eq!(refusal(&p, &c), Some(Refusal::DuplicateCaller));
        assert_eq!(
            decide(&p, &c),
            IncomingAction::Reject {
                code: 486,
                reason: Some("Already in call with this contact".into())
            }
        );
        let other = with_other(call(), "<sip:101@pbx.example>", true);
        assert_eq!(refusal(&p, &other), None);
    }

    #[test]
    fn call_waiting_off_and_the_call_limit_give_486() {
        let mut p = policy(AutoAnswerMode::Off, false, 0);
        let second = with_other(call(), "<sip:300@pbx.example>", true);
        assert_eq!(refusal(&p, &second), None);
        p.call_waiting = false;
        assert_eq!(refusal(&p, &second), Some(Refusal::CallLimit));
        assert_eq!(refusal(&p, &call()), None);
        p.call_waiting = true;
        p.max_concurrent_calls = 2;
        assert_eq!(refusal(&p, &second), None);
        let third = with_other(second, "<sip:301@pbx.example>", true);
        assert_eq!(refusal(&p, &third), Some(Refusal::CallLimit));
        assert_eq!(Refusal::CallLimit.code(), 486);
        assert_eq!(
            Refusal::CallLimit.text(),
            Some("Maximum concurrent calls reached")
        );
    }

    #[test]
    fn a_repeated_call_id_gets_487() {
        let p = policy(AutoAnswerMode::All, false, 0);
        let mut c = call();
        c.answered_before = true;
        assert_eq!(
            decide(&p, &c),
            IncomingAction::Reject {
                code: 487,
                reason: None
            }
        );
    }

    #[test]
    fn each_deny_incoming_mode() {
        let account = AccountIdentity {
            username: "200".into(),
            domain: "pbx.example".into(),
        };
        let mut p = policy(AutoAnswerMode::All, false, 0);
        p.account = Some(account);
        let check = |p: &Policy, from: &str, to: &str| {
            let mut c = call();
            c.from = from.into();
            c.to = to.into();
            refusal(p, &c)
        };
        let ours = "<sip:200@pbx.example>";
        let other_user = "<sip:201@pbx.example>";
        let other_domain = "<sip:200@elsewhere.example>";
        let local = "<sip:100@pbx.example>";
        let remote = "<sip:100@far.example>";
        let denied = Some(Refusal::Denied);

        p.deny_incoming = DenyIncoming::Off;
        assert_eq!(check(&p, remote, other_domain), None);
        p.deny_incoming = DenyIncoming::All;
        assert_eq!(check(&p, local, ours), denied);
        p.deny_incoming = DenyIncoming::Button;
        assert_eq!(check(&p, local, ours), None);
        p.dnd = true;
        assert_eq!(check(&p, local, ours), Some(Refusal::DoNotDisturb));
        p.dnd = false;
        p.deny_incoming = DenyIncoming::User;
        assert_eq!(check(&p, local, ours), None);
        assert_eq!(check(&p, local, other_user), denied);
        assert_eq!(check(&p, local, other_domain), None);
        p.deny_incoming = DenyIncoming::Domain;
        assert_eq!(check(&p, local, other_user), None);
        assert_eq!(check(&p, local, other_domain), denied);
        assert_eq!(
            check(&p, local, "<sip:200@PBX.example:5060;transport=udp>"),
            None,
            "the port and the case of the host are not compared"
        );
        p.deny_incoming = DenyIncoming::UserDomain;
        assert_eq!(check(&p, local, ours), None);
        assert_eq!(check(&p, local, other_user), denied);
        assert_eq!(check(&p, local, other_domain), denied);
        p.deny_incoming = DenyIncoming::RemoteDomain;
        assert_eq!(check(&p, local, other_domain), None);
        assert_eq!(check(&p, remote, ours), denied);
        assert_eq!(
            Refusal::Denied.text(),
            Some("Incoming calls blocked by user")
        );

        // Without an account (calls by IP only): the user is compared with an empty name,
        // the domain modes never refuse.
        p.account = None;
        p.deny_incoming = DenyIncoming::Domain;
        assert_eq!(check(&p, remote, other_domain), None);
        p.deny_incoming = DenyIncoming::RemoteDomain;
        assert_eq!(check(&p, remote, other_domain), None);
        p.deny_incoming = DenyIncoming::User;
        assert_eq!(check(&p, remote, ours), denied);
        assert_eq!(check(&p, remote, "<sip:127.0.0.1:5060>"), None);
    }

    #[test]
    fn the_checks_run_in_microsips_order() {
        let mut p = policy(AutoAnswerMode::All, false, 0);
        p.deny_incoming = DenyIncoming::All;
        p.call_waiting = false;
        let mut c = with_other(call(), "<sip:100@pbx.example>", true);
        c.answered_before = true;
        assert_eq!(refusal(&p, &c), Some(Refusal::DuplicateCaller));
        let mut c = with_other(call(), "<sip:300@pbx.example>", true);
        c.answered_before = true;
        assert_eq!(refusal(&p, &c), Some(Refusal::CallLimit));
        let mut c = call();
        c.answered_before = true;
        assert_eq!(refusal(&p, &c), Some(Refusal::RepeatedCallId));
        assert_eq!(refusal(&p, &call()), Some(Refusal::Denied));
    }
}
