//! What the phone tells other programs: one vocabulary for everything that happens. The
//! engine's [`Event`]s (registration, an incoming call and its decision, call states, media,
//! DTMF...) and the phone's own outcomes ([`AppEvent`]: a delayed auto-answer, a forward, a
//! hold, a hook's result...) travel together as [`PhoneEvent`]s. The log prints them; the
//! hooks read the engine's; an event stream serialises these same types.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::hooks::{HookOutcome, HookResult, Remote};
use crate::engine::{
    AccountId, CallId, CallState, Event, IncomingAction, MediaSecurity, MediaState, Role,
    SrtpKeying,
};

/// The version of the event objects' schema (`"v"` in each).
pub use crate::control::hub::EVENTS_VERSION as SCHEMA_VERSION;

/// Something the phone did on its own, beyond what the engine reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AppEvent {
    /// A ringing call was answered when its auto-answer delay ran out.
    AutoAnswered { call: CallId },
    /// A delayed auto-answer did not happen: other calls exist (`autoAnswerCalls`); it rings.
    AutoAnswerSkipped { call: CallId },
    /// A ringing call was forwarded (302) when `forwardingDelay` ran out.
    Forwarded { call: CallId, to: String },
    /// A connected call was ended by `autoHangUpTime`.
    AutoHungUp { call: CallId, after: Duration },
    /// A connected call was ended because no RTP came for `rtpTimeout`.
    RtpTimeout { call: CallId, after: Duration },
    /// A connected call was put on hold because another started or was answered.
    Held { call: CallId, because: CallId },
    /// A call was ended because another was answered (`singleMode`).
    EndedForAnswer { call: CallId, answered: CallId },
    /// Connected calls were merged into the local conference (`AC=1`).
    Conference { calls: Vec<CallId> },
    /// The active SIP account changed (`/account:N`); `None`: only the local account.
    AccountSwitched { account: Option<String> },
    /// A hook ended.
    Hook(HookResult),
    /// One call of alert `alert` ended (`microsip --alert`).
    AlertAttempt {
        alert: String,
        attempt: super::alert::Attempt,
    },
    /// Alert `alert` is over, with its exit code.
    AlertDone {
        alert: String,
        code: u8,
        acknowledged_by: Option<String>,
    },
}

impl AppEvent {
    /// One readable log line.
    pub fn describe(&self) -> String {
        match self {
            AppEvent::AutoAnswered { call } => format!("call {call}: auto-answer"),
            AppEvent::AutoAnswerSkipped { call } => {
                format!("call {call}: not auto-answered (autoAnswerCalls: other calls); it rings")
            }
            AppEvent::Forwarded { call, to } => {
                format!("call {call}: forwarded to {to} (302, forwardingDelay)")
            }
            AppEvent::AutoHungUp { call, after } => format!(
                "call {call}: hung up: autoHangUpTime ({} s) reached",
                after.as_secs()
            ),
            AppEvent::RtpTimeout { call, after } => format!(
                "call {call}: hung up: no RTP from the other side for {} s (rtpTimeout)",
                after.as_secs()
            ),
            AppEvent::Held { call, because } => {
                format!("call {call}: on hold: call {because} started")
            }
            AppEvent::EndedForAnswer { call, answered } => {
                format!("call {call}: hung up: call {answered} was answered (singleMode)")
            }
            AppEvent::Conference { calls } => {
                let names: Vec<String> = calls.iter().map(|c| c.to_string()).collect();
                format!("conference (AC=1): calls {}", names.join(", "))
            }
            AppEvent::AccountSwitched {
                account: Some(name),
            } => {
                format!("{name} is the active account")
            }
            AppEvent::AccountSwitched { account: None } => {
                "no SIP account is active; the local account takes the calls".to_string()
            }
            AppEvent::Hook(result) => result.describe(),
            AppEvent::AlertAttempt { alert, attempt } => {
                format!("alert {alert}: {}", attempt.describe())
            }
            AppEvent::AlertDone {
                alert,
                code,
                acknowledged_by,
            } => match acknowledged_by {
                Some(by) => format!("alert {alert}: acknowledged by {by}"),
                None => format!("alert {alert}: over, not acknowledged (exit {code})"),
            },
        }
    }

    /// Whether it reports a failure (logged as a warning).
    pub fn is_failure(&self) -> bool {
        matches!(self, AppEvent::Hook(r) if !r.succeeded())
            || matches!(self, AppEvent::RtpTimeout { .. })
    }
}

/// Everything that happens, in one type.
#[derive(Debug, Clone)]
pub enum PhoneEvent {
    /// Reported by the SIP engine.
    Engine(Event),
    /// Done by the phone itself.
    App(AppEvent),
}

impl From<Event> for PhoneEvent {
    fn from(e: Event) -> Self {
        PhoneEvent::Engine(e)
    }
}

impl From<AppEvent> for PhoneEvent {
    fn from(e: AppEvent) -> Self {
        PhoneEvent::App(e)
    }
}

impl PhoneEvent {
    /// The event as the stream's JSON objects (README, "Events"): each has `v`, `ts` (RFC 3339,
    /// UTC), `type` and `call` (the call's id, or null). An incoming call gives two objects:
    /// `incoming_call`, then its `decision`. `accounts` names the accounts.
    pub fn to_json(&self, accounts: &HashMap<AccountId, String>) -> Vec<Value> {
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let account = |a: &AccountId| {
            accounts
                .get(a)
                .cloned()
                .unwrap_or_else(|| format!("account {a}"))
        };
        let objects: Vec<(&str, Option<CallId>, Value)> = match self {
            PhoneEvent::Engine(e) => match e {
                Event::Incoming { info, action } => {
                    let caller =
                        Remote::parse(info.asserted_identity.as_deref().unwrap_or(&info.from));
                    vec![
                        (
                            "incoming_call",
                            info.call,
                            json!({
                                "account": info.account.as_ref().map(account),
                                "from": info.from,
                                "caller": caller.user,
                                "caller_name": caller.name,
                                "caller_uri": caller.uri,
                                "to": info.to,
                                "sip_call_id": info.sip_call_id,
                                "headers": {
                                    "p_asserted_identity": info.asserted_identity,
                                    "x_autoanswer": info.x_autoanswer,
                                    "call_info": info.call_info,
                                },
                                "other_calls": info.others.len(),
                            }),
                        ),
                        ("decision", info.call, decision(action)),
                    ]
                }
                Event::CallState { info } => vec![(
                    "call_state",
                    Some(info.call),
                    json!({
                        "state": info.state.to_string().to_lowercase(),
                        "direction": direction(info.role),
                        "account": account(&info.account),
                        "remote": info.remote,
                        "local": info.local,
                        "sip_call_id": info.sip_call_id,
                        "status": (info.last_status > 0).then_some(info.last_status),
                        "reason": info.last_reason,
                        "ended": info.state == CallState::Disconnected,
                    }),
                )],
                Event::Media {
                    call,
                    state,
                    security,
                } => {
                    let (srtp, keying) = match security {
                        MediaSecurity::Plain => (None, None),
                        MediaSecurity::Srtp { suite, keying } => (
                            Some(suite.clone().unwrap_or_default()),
                            Some(match keying {
                                SrtpKeying::Sdes => "sdes",
                                SrtpKeying::Dtls => "dtls",
                            }),
                        ),
                    };
                    vec![(
                        "media",
                        Some(*call),
                        json!({
                            "state": media(*state),
                            "encrypted": security.encrypted(),
                            "srtp_suite": srtp,
                            "srtp_keying": keying,
                        }),
                    )]
                }
                Event::Registration {
                    account: a,
                    code,
                    reason,
                    expires,
                    renew,
                } => vec![(
                    "registration",
                    None,
                    json!({
                        "account": account(a),
                        "code": code,
                        "reason": reason,
                        "expires": expires,
                        "registered": (200..300).contains(code) && *expires > 0,
                        "renew": renew,
                    }),
                )],
                Event::Dtmf {
                    call,
                    digit,
                    duration_ms,
                } => vec![(
                    "dtmf",
                    Some(*call),
                    json!({ "digit": digit.to_string(), "duration_ms": duration_ms }),
                )],
                Event::TransferRequest {
                    call,
                    target,
                    accepted,
                } => vec![(
                    "transfer_request",
                    Some(*call),
                    json!({ "target": target, "accepted": accepted }),
                )],
                Event::TransferStatus {
                    call,
                    code,
                    text,
                    last,
                } => vec![(
                    "transfer_status",
                    Some(*call),
                    json!({ "code": code, "text": text, "final": last }),
                )],
                Event::Redirected { call, target } => {
                    vec![("redirected", Some(*call), json!({ "target": target }))]
                }
                Event::Message {
                    account: a,
                    call,
                    from,
                    to,
                    content_type,
                    body,
                } => vec![(
                    "message",
                    *call,
                    json!({
                        "account": account(a),
                        "from": from,
                        "to": to,
                        "content_type": content_type,
                        "body": body,
                    }),
                )],
                Event::PromptPlayed { call, times } => {
                    vec![("prompt_played", Some(*call), json!({ "times": times }))]
                }
                Event::Mwi {
                    account: a,
                    waiting,
                    new,
                    old,
                } => vec![(
                    "mwi",
                    None,
                    json!({ "account": account(a), "waiting": waiting, "new": new, "old": old }),
                )],
            },
            PhoneEvent::App(a) => vec![app_json(a)],
        };
        objects
            .into_iter()
            .map(|(kind, call, fields)| {
                let mut object = Map::new();
                object.insert("v".into(), json!(SCHEMA_VERSION));
                object.insert("ts".into(), json!(ts));
                object.insert("type".into(), json!(kind));
                object.insert("call".into(), json!(call.map(|c| c.0)));
                if let Value::Object(fields) = fields {
                    object.extend(fields);
                }
                Value::Object(object)
            })
            .collect()
    }
}

pub(crate) fn direction(role: Role) -> &'static str {
    match role {
        Role::Caller => "outgoing",
        Role::Callee => "incoming",
    }
}

pub(crate) fn media(state: MediaState) -> &'static str {
    match state {
        MediaState::None => "none",
        MediaState::Active => "active",
        MediaState::LocalHold => "local_hold",
        MediaState::RemoteHold => "remote_hold",
        MediaState::Error => "error",
    }
}

fn decision(action: &IncomingAction) -> Value {
    let secs = |d: &Option<Duration>| d.map(|d| d.as_secs());
    match action {
        IncomingAction::Answer => json!({ "decision": "answered", "code": 200 }),
        IncomingAction::Ring {
            answer_after,
            forward_after,
        } => json!({
            "decision": "ringing",
            "code": 180,
            "auto_answer_in_s": secs(answer_after),
            "forward_in_s": secs(forward_after),
        }),
        IncomingAction::Reject { code, reason } => {
            json!({ "decision": "rejected", "code": code, "reason": reason })
        }
        IncomingAction::Forward { to } => {
            json!({ "decision": "forwarded", "code": 302, "to": to })
        }
    }
}

fn app_json(event: &AppEvent) -> (&'static str, Option<CallId>, Value) {
    match event {
        AppEvent::AutoAnswered { call } => ("auto_answered", Some(*call), json!({})),
        AppEvent::AutoAnswerSkipped { call } => (
            "auto_answer_skipped",
            Some(*call),
            json!({ "reason": "autoAnswerCalls: other calls" }),
        ),
        AppEvent::Forwarded { call, to } => ("forwarded", Some(*call), json!({ "to": to })),
        AppEvent::AutoHungUp { call, after } => (
            "auto_hangup",
            Some(*call),
            json!({ "after_s": after.as_secs() }),
        ),
        AppEvent::RtpTimeout { call, after } => (
            "rtp_timeout",
            Some(*call),
            json!({ "after_s": after.as_secs() }),
        ),
        AppEvent::Held { call, because } => {
            ("held", Some(*call), json!({ "because_of": because.0 }))
        }
        AppEvent::EndedForAnswer { call, answered } => (
            "ended_for_answer",
            Some(*call),
            json!({ "answered": answered.0 }),
        ),
        AppEvent::Conference { calls } => (
            "conference",
            None,
            json!({ "calls": calls.iter().map(|c| c.0).collect::<Vec<_>>() }),
        ),
        AppEvent::AccountSwitched { account } => {
            ("account_switched", None, json!({ "account": account }))
        }
        AppEvent::AlertAttempt { alert, attempt } => {
            let mut v = attempt.to_json();
            v["alert"] = json!(alert);
            if let Some(fields) = v.as_object_mut() {
                fields.remove("type");
                fields.remove("call");
            }
            ("alert_attempt", attempt.call, v)
        }
        AppEvent::AlertDone {
            alert,
            code,
            acknowledged_by,
        } => (
            "alert_done",
            None,
            json!({ "alert": alert, "exit_code": code, "acknowledged_by": acknowledged_by }),
        ),
        AppEvent::Hook(r) => {
            let (outcome, code, error) = match &r.outcome {
                HookOutcome::Exited(c) => ("exited", Some(*c), None),
                HookOutcome::Signalled => ("signalled", None, None),
                HookOutcome::Killed => ("killed", None, None),
                HookOutcome::NotStarted(e) => ("not_started", None, Some(e.clone())),
            };
            (
                "hook",
                Some(r.call),
                json!({
                    "hook": r.kind.key(),
                    "event": r.kind.event_name(),
                    "program": r.program,
                    "outcome": outcome,
                    "exit_code": code,
                    "error": error,
                    "elapsed_ms": r.elapsed.as_millis() as u64,
                }),
            )
        }
    }
}

/// Where the phone's own outcomes wait until the main loop publishes them.
#[derive(Debug, Default)]
pub struct Outbox(Vec<AppEvent>);

impl Outbox {
    pub fn push(&mut self, event: AppEvent) {
        self.0.push(event);
    }

    /// The events so far, oldest first.
    pub fn drain(&mut self) -> std::vec::Drain<'_, AppEvent> {
        self.0.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::IncomingCall;

    #[test]
    fn an_incoming_call_is_two_objects_with_the_common_fields() {
        let ev = PhoneEvent::Engine(Event::Incoming {
            info: IncomingCall {
                call: Some(CallId(3)),
                account: Some(AccountId(0)),
                from: "\"Door\" <sip:100@10.0.0.9>;tag=x".into(),
                to: "<sip:intercom@10.0.0.2>".into(),
                sip_call_id: "abc@host".into(),
                ..Default::default()
            },
            action: IncomingAction::Reject {
                code: 486,
                reason: Some("Do Not Disturb".into()),
            },
        });
        let names = HashMap::from([(AccountId(0), "local".to_string())]);
        let objects = ev.to_json(&names);
        assert_eq!(objects.len(), 2);
        for o in &objects {
            assert_eq!(o["v"], 1);
            assert_eq!(o["call"], 3);
            assert!(o["ts"].as_str().unwrap().ends_with('Z'), "{o}");
        }
        assert_eq!(objects[0]["type"], "incoming_call");
        assert_eq!(objects[0]["caller"], "100");
        assert_eq!(objects[0]["caller_name"], "Door");
        assert_eq!(objects[0]["account"], "local");
        assert_eq!(objects[0]["sip_call_id"], "abc@host");
        assert_eq!(objects[1]["type"], "decision");
        assert_eq!(objects[1]["decision"], "rejected");
        assert_eq!(objects[1]["code"], 486);
        assert_eq!(objects[1]["reason"], "Do Not Disturb");
    }

    #[test]
    fn app_events_carry_their_call() {
        let objects = PhoneEvent::App(AppEvent::AutoHungUp {
            call: CallId(1),
            after: Duration::from_secs(30),
        })
        .to_json(&HashMap::new());
        assert_eq!(objects[0]["type"], "auto_hangup");
        assert_eq!(objects[0]["call"], 1);
        assert_eq!(objects[0]["after_s"], 30);
        let reg = PhoneEvent::Engine(Event::Registration {
            account: AccountId(1),
            code: 200,
            reason: "OK".into(),
            expires: 300,
            renew: false,
        })
        .to_json(&HashMap::new());
        assert_eq!(reg[0]["call"], Value::Null);
        assert_eq!(reg[0]["registered"], true);
        assert_eq!(reg[0]["account"], "account 1");
    }

    #[test]
    fn outcomes_read_as_log_lines() {
        let e = AppEvent::Forwarded {
            call: CallId(2),
            to: "<sip:300@pbx>".into(),
        };
        assert_eq!(
            e.describe(),
            "call 2: forwarded to <sip:300@pbx> (302, forwardingDelay)"
        );
        assert!(!e.is_failure());
        let c = AppEvent::Conference {
            calls: vec![CallId(0), CallId(1)],
        };
        assert_eq!(c.describe(), "conference (AC=1): calls 0, 1");
        let mut out = Outbox::default();
        out.push(e);
        out.push(c);
        assert_eq!(out.drain().count(), 2);
        assert_eq!(out.drain().count(), 0);
    }
}
