//! Incoming-call decisions: pure functions over a snapshot of the call and the settings,
//! evaluated on the SIP thread (they never block) and unit-tested without PJSUA.
//! Reference: MicroSIP's `on_incoming_call` and `AutoAnswer` (spec §8, §9).
#![forbid(unsafe_code)]

use std::time::Duration;

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

/// The settings the incoming-call decision depends on.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub auto_answer: AutoAnswerMode,
    /// The `AA` toggle.
    pub aa_button: bool,
    /// `autoAnswerDelay`, in seconds.
    pub auto_answer_delay: u32,
}

/// What to do with a new incoming call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// 200 at once.
    AnswerNow,
    /// 180, then 200 after the delay.
    AnswerAfter(Duration),
    /// 180, and let it ring.
    Ring,
    /// A final error response.
    Reject { code: u16, reason: Option<String> },
}

impl Decision {
    /// The response the SIP thread sends right away.
    pub fn immediate_action(&self) -> IncomingAction {
        match self {
            Decision::AnswerNow => IncomingAction::Answer,
            Decision::AnswerAfter(_) | Decision::Ring => IncomingAction::Ring,
            Decision::Reject { code, reason } => IncomingAction::Reject {
                code: *code,
                reason: reason.clone(),
            },
        }
    }
}

/// Decides what to do with `call` under `policy`.
pub fn decide(policy: &Policy, call: &IncomingCall) -> Decision {
    let auto = match policy.auto_answer {
        AutoAnswerMode::Off => None,
        AutoAnswerMode::All => Some(policy.auto_answer_delay),
        AutoAnswerMode::Button => policy.aa_button.then_some(policy.auto_answer_delay),
        AutoAnswerMode::Header => {
            header_request(call).map(|after| after.unwrap_or(policy.auto_answer_delay))
        }
    };
    match auto {
        Some(0) => Decision::AnswerNow,
        Some(secs) => Decision::AnswerAfter(Duration::from_secs(u64::from(secs))),
        None => Decision::Ring,
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

    fn call() -> IncomingCall {
        IncomingCall {
            from: "<sip:100@pbx>".into(),
            to: "<sip:200@pbx>".into(),
            live_calls: 1,
            ..Default::default()
        }
    }

    fn policy(mode: AutoAnswerMode, aa: bool, delay: u32) -> Policy {
        Policy {
            auto_answer: mode,
            aa_button: aa,
            auto_answer_delay: delay,
        }
    }

    #[test]
    fn all_answers_every_call_after_the_delay() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::All, false, 0), &call()),
            Decision::AnswerNow
        );
        assert_eq!(
            decide(&policy(AutoAnswerMode::All, false, 3), &call()),
            Decision::AnswerAfter(Duration::from_secs(3))
        );
    }

    #[test]
    fn button_follows_the_aa_toggle() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::Button, true, 0), &call()),
            Decision::AnswerNow
        );
        assert_eq!(
            decide(&policy(AutoAnswerMode::Button, false, 0), &call()),
            Decision::Ring
        );
    }

    #[test]
    fn off_rings() {
        assert_eq!(
            decide(&policy(AutoAnswerMode::Off, true, 0), &call()),
            Decision::Ring
        );
        assert_eq!(Decision::Ring.immediate_action(), IncomingAction::Ring);
    }

    #[test]
    fn header_mode_reads_x_autoanswer_and_call_info() {
        let p = policy(AutoAnswerMode::Header, false, 5);
        assert_eq!(decide(&p, &call()), Decision::Ring);
        let mut c = call();
        c.x_autoanswer = Some("TRUE".into());
        assert_eq!(
            decide(&p, &c),
            Decision::AnswerAfter(Duration::from_secs(5))
        );
        c.x_autoanswer = Some("no".into());
        assert_eq!(decide(&p, &c), Decision::Ring);
        c.call_info = Some("<sip:pbx>;answer-after=0".into());
        assert_eq!(decide(&p, &c), Decision::AnswerNow);
        c.call_info = Some("<sip:pbx>;Answer-After=2".into());
        assert_eq!(
            decide(&p, &c),
            Decision::AnswerAfter(Duration::from_secs(2))
        );
        c.call_info = Some("<http://x>;info=Auto Answer".into());
        assert_eq!(
            decide(&p, &c),
            Decision::AnswerAfter(Duration::from_secs(5))
        );
    }

    #[test]
    fn delayed_answer_rings_first() {
        let d = Decision::AnswerAfter(Duration::from_secs(1));
        assert_eq!(d.immediate_action(), IncomingAction::Ring);
        assert_eq!(
            Decision::AnswerNow.immediate_action(),
            IncomingAction::Answer
        );
    }
}
