//! What the phone tells other programs: one vocabulary for everything that happens. The
//! engine's [`Event`]s (registration, an incoming call and its decision, call states, media,
//! DTMF...) and the phone's own outcomes ([`AppEvent`]: a delayed auto-answer, a forward, a
//! hold, a hook's result...) travel together as [`PhoneEvent`]s. The log prints them; the
//! hooks read the engine's; an event stream serialises these same types.
#![forbid(unsafe_code)]

use std::time::Duration;

use super::hooks::HookResult;
use crate::engine::{CallId, Event};

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
        }
    }

    /// Whether it reports a failure (logged as a warning).
    pub fn is_failure(&self) -> bool {
        matches!(self, AppEvent::Hook(r) if !r.succeeded())
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
