//! Alert calls (`microsip --alert TARGET...`): phone a person, play the prompt in a loop until
//! they press the acknowledgement digit (RFC 2833, SIP INFO or a tone in the audio), confirm
//! and hang up; otherwise try the next target (escalation), or all at once (`--parallel`,
//! the first acknowledgement wins), and the whole round again after `--retry-delay`.
//!
//! The alert runs in the phone's main loop, driven by the engine's events and its own
//! timers; what happens is reported as one [`Attempt`] per call and an exit code:
//! 0 acknowledged, 1 not answered / busy / failed after all retries, 2 answered but never
//! acknowledged, 3 a configuration or usage error.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dial::{self, AccountChoice};
use crate::engine::{AccountId, CallId, CallState, Engine, Event, MediaState, MediaTap};

/// Exit code: acknowledged.
pub const ACKNOWLEDGED: u8 = 0;
/// Exit code: not answered, busy or failed, after all retries.
pub const NOT_REACHED: u8 = 1;
/// Exit code: answered, never acknowledged.
pub const NOT_ACKNOWLEDGED: u8 = 2;
/// Exit code: configuration or usage error.
pub const USAGE: u8 = 3;

/// What to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// A WAV file (`--play`).
    File(PathBuf),
    /// Text to speak (`--say`).
    Say(String),
    /// Neither: a built-in alert tone.
    Tone,
}

/// An alert as the command line asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSpec {
    pub targets: Vec<String>,
    pub prompt: PromptSource,
    /// The digits that acknowledge (any one of them).
    pub ack: String,
    /// How many times the prompt plays before the call ends unacknowledged.
    pub repeat: u32,
    /// How long a call may ring.
    pub ring_timeout: Duration,
    /// How many more rounds after the first.
    pub retries: u32,
    pub retry_delay: Duration,
    pub parallel: bool,
    pub json: bool,
}

impl Default for AlertSpec {
    fn default() -> Self {
        AlertSpec {
            targets: Vec::new(),
            prompt: PromptSource::Tone,
            ack: "1".into(),
            repeat: 3,
            ring_timeout: Duration::from_secs(30),
            retries: 0,
            retry_delay: Duration::from_secs(60),
            parallel: false,
            json: false,
        }
    }
}

impl AlertSpec {
    /// Parses `--alert`'s arguments: targets and options, in any order.
    pub fn parse(args: &[String]) -> Result<AlertSpec, String> {
        use lexopt::prelude::*;
        let mut spec = AlertSpec::default();
        let mut parser = lexopt::Parser::from_args(args.iter());
        let text = |v: std::ffi::OsString| v.to_string_lossy().into_owned();
        let number = |name: &str, v: std::ffi::OsString| -> Result<u64, String> {
            let t = v.to_string_lossy().into_owned();
            t.parse::<u64>()
                .map_err(|_| format!("--{name} {t:?}: give a whole number"))
        };
        let (mut play, mut say) = (None, None);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("play") => {
                    play = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?))
                }
                Long("say") => say = Some(text(parser.value().map_err(|e| e.to_string())?)),
                Long("ack") => {
                    let digits = text(parser.value().map_err(|e| e.to_string())?);
                    if digits.is_empty()
                        || !digits
                            .chars()
                            .all(|c| c.is_ascii_digit() || "*#ABCD".contains(c))
                    {
                        return Err(format!(
                            "--ack {digits:?}: give DTMF digits (0-9, *, #, A-D)"
                        ));
                    }
                    spec.ack = digits;
                }
                Long("repeat") => {
                    spec.repeat = number("repeat", parser.value().map_err(|e| e.to_string())?)?
                        .clamp(1, 1000) as u32
                }
                Long("timeout") => {
                    spec.ring_timeout = Duration::from_secs(
                        number("timeout", parser.value().map_err(|e| e.to_string())?)?.max(1),
                    )
                }
                Long("retries") => {
                    spec.retries = number("retries", parser.value().map_err(|e| e.to_string())?)?
                        .min(100) as u32
                }
                Long("retry-delay") => {
                    spec.retry_delay = Duration::from_secs(number(
                        "retry-delay",
                        parser.value().map_err(|e| e.to_string())?,
                    )?)
                }
                Long("parallel") => spec.parallel = true,
                Long("json") => spec.json = true,
                Value(v) => spec.targets.push(text(v)),
                other => return Err(format!("--alert: {}", other.unexpected())),
            }
        }
        spec.prompt = match (play, say) {
            (Some(_), Some(_)) => return Err("--play and --say: give one of them".into()),
            (Some(p), None) => PromptSource::File(p),
            (None, Some(s)) if s.trim().is_empty() => {
                return Err("--say: give the text to speak".into())
            }
            (None, Some(s)) => PromptSource::Say(s),
            (None, None) => PromptSource::Tone,
        };
        if spec.targets.is_empty() {
            return Err("--alert: give at least one target (a number or SIP URI)".into());
        }
        Ok(spec)
    }
}

/// Audio to play: mono samples at a rate.
#[derive(Debug, Clone)]
pub struct Sound {
    pub samples: Arc<Vec<i16>>,
    pub rate: u32,
}

impl Sound {
    /// A WAV file, mixed down to mono.
    pub fn from_wav(path: &std::path::Path) -> Result<Sound, String> {
        let mut reader =
            hound::WavReader::open(path).map_err(|e| format!("--play {}: {e}", path.display()))?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let samples: Vec<i32> = match spec.sample_format {
            hound::SampleFormat::Int => reader
                .samples::<i32>()
                .map(|s| s.map(|v| v << (32 - u32::from(spec.bits_per_sample)) >> 16))
                .collect::<Result<_, _>>(),
            hound::SampleFormat::Float => reader
                .samples::<f32>()
                .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i32))
                .collect::<Result<_, _>>(),
        }
        .map_err(|e| format!("--play {}: {e}", path.display()))?;
        let mono: Vec<i16> = samples
            .chunks(channels)
            .map(|frame| (frame.iter().sum::<i32>() / frame.len() as i32) as i16)
            .collect();
        if mono.is_empty() {
            return Err(format!("--play {}: the file has no audio", path.display()));
        }
        Ok(Sound {
            samples: Arc::new(mono),
            rate: spec.sample_rate,
        })
    }

    /// `text` spoken by espeak-ng (its default English voice), in memory; `None` (with the
    /// reason) when the speech engine cannot start.
    pub fn say(text: &str) -> Result<Sound, String> {
        let (samples, rate) =
            crate::engine::speech::synthesize(text).map_err(|e| format!("--say: {e}"))?;
        // A pause after the sentence, before it is said again.
        let mut samples = samples;
        samples.extend(std::iter::repeat_n(0, rate as usize * 7 / 10));
        Ok(Sound {
            samples: Arc::new(samples),
            rate,
        })
    }

    /// The prompt of `source`.
    pub fn prompt(source: &PromptSource) -> Result<Sound, String> {
        match source {
            PromptSource::File(p) => Sound::from_wav(p),
            PromptSource::Say(text) => Sound::say(text),
            PromptSource::Tone => Ok(Sound::beeps(880.0, 3, 200, 150, 1200)),
        }
    }

    /// What the callee hears after acknowledging: "acknowledged", spoken when the speech
    /// engine works, else a rising two-tone chime.
    pub fn confirmation() -> Sound {
        Sound::say("Acknowledged. Thank you.").unwrap_or_else(|_| {
            let a = Sound::beeps(660.0, 1, 150, 0, 0);
            let b = Sound::beeps(990.0, 1, 300, 0, 300);
            let mut s = (*a.samples).clone();
            s.extend(b.samples.iter());
            Sound {
                samples: Arc::new(s),
                rate: a.rate,
            }
        })
    }

    /// Beeps: `count` times `hz` for `on` ms, `off` ms apart, then `tail` ms of silence.
    pub fn beeps(hz: f64, count: u32, on: u32, off: u32, tail: u32) -> Sound {
        let rate = 16000u32;
        let ms = |m: u32| (rate * m / 1000) as usize;
        let mut samples = Vec::new();
        for i in 0..count {
            samples.extend((0..ms(on)).map(|n| {
                let t = n as f64 / f64::from(rate);
                (0.4 * 32767.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
            }));
            let gap = if i + 1 == count { tail } else { off };
            samples.extend(std::iter::repeat_n(0, ms(gap)));
        }
        Sound {
            samples: Arc::new(samples),
            rate,
        }
    }
}

/// How one call of the alert ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The callee pressed an acknowledgement digit.
    Acknowledged { digit: char },
    /// Answered; the prompt played through `--repeat` times (or the callee hung up) without
    /// an acknowledgement.
    NotAcknowledged,
    /// It rang until `--timeout`.
    NoAnswer,
    /// 486, 600 or 603.
    Busy { code: u16 },
    /// Any other failure (the code and reason the call ended with).
    Failed { code: u16, reason: String },
    /// Ended because another target acknowledged (`--parallel`).
    Cancelled,
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Acknowledged { digit } => format!("acknowledged with {digit}"),
            Outcome::NotAcknowledged => "answered, not acknowledged".into(),
            Outcome::NoAnswer => "no answer".into(),
            Outcome::Busy { code } => format!("busy ({code})"),
            Outcome::Failed { code, reason } => format!("failed ({code} {reason})"),
            Outcome::Cancelled => "cancelled (acknowledged elsewhere)".into(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::Acknowledged { .. } => "acknowledged",
            Outcome::NotAcknowledged => "not_acknowledged",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy { .. } => "busy",
            Outcome::Failed { .. } => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// One call of the alert, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// 1 for the first round, then one more per retry.
    pub round: u32,
    pub target: String,
    pub call: Option<CallId>,
    pub outcome: Outcome,
    /// From dialling to the end.
    pub seconds: f64,
    /// Times the prompt played through.
    pub plays: u32,
}

impl Attempt {
    /// The summary line.
    pub fn describe(&self) -> String {
        format!(
            "alert round {}: {}: {} after {:.1} s{}",
            self.round,
            self.target,
            self.outcome.describe(),
            self.seconds,
            if self.plays > 0 {
                format!(" (prompt played {} time(s))", self.plays)
            } else {
                String::new()
            }
        )
    }

    /// As a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": "alert_attempt",
            "round": self.round,
            "target": self.target,
            "call": self.call.map(|c| c.0),
            "outcome": self.outcome.kind(),
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "prompt_plays": self.plays,
        });
        match &self.outcome {
            Outcome::Acknowledged { digit } => v["digit"] = serde_json::json!(digit.to_string()),
            Outcome::Busy { code } => v["code"] = serde_json::json!(code),
            Outcome::Failed { code, reason } => {
                v["code"] = serde_json::json!(code);
                v["reason"] = serde_json::json!(reason);
            }
            _ => {}
        }
        v
    }
}

/// The final JSON object of `--alert --json`.
pub fn result_json(
    code: u8,
    acknowledged_by: Option<&str>,
    attempts: Option<usize>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": "alert_result",
        "exit_code": code,
        "acknowledged_by": acknowledged_by,
    });
    if let Some(n) = attempts {
        v["attempts"] = serde_json::json!(n);
    }
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Ringing,
    Playing,
    /// The confirmation plays; the call ends after it.
    Confirming,
    /// Hung up by us; waiting for DISCONNECTED.
    Ending,
}

#[derive(Debug)]
struct Leg {
    target: String,
    call: CallId,
    started: Instant,
    state: LegState,
    answered: bool,
    prompt: Option<MediaTap>,
    listener: Option<MediaTap>,
    plays: u32,
    /// Decided before the end (acknowledged, not acknowledged, no answer, cancelled).
    outcome: Option<Outcome>,
}

/// A running alert.
pub struct Alert {
    spec: AlertSpec,
    prompt: Sound,
    confirmation: Sound,
    /// The accounts calls go out from.
    main: Option<AccountId>,
    local: Option<AccountId>,
    dialing: super::setup::Dialing,
    /// The main account registers first (calls wait for it).
    wait_registration: bool,
    round: u32,
    next_target: usize,
    legs: Vec<Leg>,
    /// The next round starts then (after `--retry-delay`).
    next_round_at: Option<Instant>,
    attempts: Vec<Attempt>,
    /// Reports not yet taken by the main loop.
    fresh: Vec<Attempt>,
    acknowledged: bool,
    /// Called off (`resolved`): no more calls or rounds.
    cancelled: bool,
    finished: bool,
}

impl Alert {
    /// An alert for `spec` with its prompt ready, calling from the accounts of `setup` as
    /// `engine` runs them.
    pub fn new(
        spec: AlertSpec,
        prompt: Sound,
        confirmation: Sound,
        engine: &Engine,
        setup: &super::setup::Setup,
    ) -> Alert {
        let info = engine.info();
        let main_account = info
            .account
            .and(setup.config.active_account())
            .map(|(_, a)| a);
        Alert {
            spec,
            prompt,
            confirmation,
            main: info.account,
            local: info.local_account,
            dialing: super::setup::Dialing::new(&setup.config, main_account),
            wait_registration: setup
                .engine
                .account
                .as_ref()
                .is_some_and(|a| a.registrar.is_some()),
            round: 0,
            next_target: 0,
            legs: Vec::new(),
            next_round_at: Some(Instant::now()),
            attempts: Vec::new(),
            fresh: Vec::new(),
            acknowledged: false,
            cancelled: false,
            finished: false,
        }
    }

    /// The exit code once the alert is over.
    pub fn exit_code(&self) -> Option<u8> {
        if !self.finished {
            return None;
        }
        Some(if self.acknowledged {
            ACKNOWLEDGED
        } else if self.attempts.iter().any(|a| {
            matches!(
                a.outcome,
                Outcome::NotAcknowledged | Outcome::Acknowledged { .. }
            )
        }) {
            NOT_ACKNOWLEDGED
        } else {
            NOT_REACHED
        })
    }

    /// Calls the alert off: its calls end (reported as cancelled), no retry follows.
    pub fn cancel(&mut self, engine: &Engine) {
        self.cancelled = true;
        self.next_round_at = None;
        for leg in &mut self.legs {
            if leg.state != LegState::Ending {
                leg.outcome.get_or_insert(Outcome::Cancelled);
                leg.state = LegState::Ending;
                let _ = engine.hangup(leg.call, 0, None);
            }
        }
        self.check_round_end();
    }

    /// Whom it calls.
    pub fn targets(&self) -> &[String] {
        &self.spec.targets
    }

    /// `--json`: the report is JSON.
    pub fn json(&self) -> bool {
        self.spec.json
    }

    /// Every attempt so far.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The attempts that ended since the last call.
    pub fn take_reports(&mut self) -> Vec<Attempt> {
        std::mem::take(&mut self.fresh)
    }

    /// Who acknowledged, when someone did.
    pub fn acknowledged_by(&self) -> Option<&Attempt> {
        self.attempts
            .iter()
            .find(|a| matches!(a.outcome, Outcome::Acknowledged { .. }))
    }

    /// The calls this alert placed.
    pub fn calls(&self) -> impl Iterator<Item = CallId> + '_ {
        self.legs.iter().map(|l| l.call)
    }

    /// When the next timer (a ring timeout, the next round) is due.
    pub fn next_timer(&self) -> Option<Instant> {
        if self.finished || self.wait_registration {
            return None;
        }
        self.legs
            .iter()
            .filter(|l| l.state == LegState::Ringing)
            .map(|l| l.started + self.spec.ring_timeout)
            .chain(self.next_round_at)
            .min()
    }

    /// Runs the timers that are due.
    pub fn on_timer(&mut self, engine: &Engine) {
        let now = Instant::now();
        if self.next_round_at.is_some_and(|at| at <= now) && !self.wait_registration {
            self.next_round_at = None;
            self.start_round(engine);
        }
        let timeout = self.spec.ring_timeout;
        for leg in self
            .legs
            .iter_mut()
            .filter(|l| l.state == LegState::Ringing && l.started + timeout <= now)
        {
            leg.outcome = Some(Outcome::NoAnswer);
            leg.state = LegState::Ending;
            let _ = engine.hangup(leg.call, 0, None);
        }
    }

    fn start_round(&mut self, engine: &Engine) {
        self.round += 1;
        self.next_target = 0;
        if self.spec.parallel {
            for i in 0..self.spec.targets.len() {
                self.dial(engine, i);
            }
        } else {
            self.dial_next(engine);
        }
        self.check_round_end();
    }

    /// Dials the next target of the round in escalation order.
    fn dial_next(&mut self, engine: &Engine) {
        while self.next_target < self.spec.targets.len() {
            let i = self.next_target;
            self.next_target += 1;
            if self.dial(engine, i) {
                return;
            }
        }
    }

    /// Dials target `i`; false (and an attempt reported) when the call cannot be placed.
    fn dial(&mut self, engine: &Engine, i: usize) -> bool {
        let target = self.spec.targets[i].clone();
        let started = Instant::now();
        let placed = dial::prepare_call(&self.dialing.input(
            &target,
            self.main.is_some(),
            self.local.is_some(),
        ))
        .map_err(|e| e.to_string())
        .and_then(|plan| {
            let account = match plan.account {
                AccountChoice::Main => self.main,
                AccountChoice::Local => self.local,
            }
            .ok_or_else(|| "no account to call from".to_string())?;
            engine
                .make_call(account, &plan.uri)
                .map_err(|e| e.to_string())
        });
        match placed {
            Ok(call) => {
                self.legs.push(Leg {
                    target,
                    call,
                    started,
                    state: LegState::Ringing,
                    answered: false,
                    prompt: None,
                    listener: None,
                    plays: 0,
                    outcome: None,
                });
                true
            }
            Err(reason) => {
                self.report(Attempt {
                    round: self.round,
                    target,
                    call: None,
                    outcome: Outcome::Failed { code: 0, reason },
                    seconds: 0.0,
                    plays: 0,
                });
                false
            }
        }
    }

    fn report(&mut self, attempt: Attempt) {
        self.attempts.push(attempt.clone());
        self.fresh.push(attempt);
    }

    /// Follows the engine's events for the alert's calls.
    pub fn on_event(&mut self, engine: &Engine, event: &Event) {
        if self.finished {
            return;
        }
        match event {
            Event::Registration {
                account,
                code,
                expires,
                ..
            } if Some(*account) == self.main
                && self.wait_registration
                && (200..300).contains(code)
                && *expires > 0 =>
            {
                self.wait_registration = false;
            }
            Event::CallState { info } => {
                let Some(i) = self.legs.iter().position(|l| l.call == info.call) else {
                    return;
                };
                match info.state {
                    CallState::Confirmed if !self.legs[i].answered => {
                        self.legs[i].answered = true;
                        if self.legs[i].state == LegState::Ringing {
                            self.legs[i].state = LegState::Playing;
                        }
                        self.start_prompt(engine, i);
                    }
                    CallState::Disconnected => {
                        self.leg_ended(engine, i, info.last_status, &info.last_reason)
                    }
                    _ => {}
                }
            }
            Event::Media { call, state, .. } if *state == MediaState::Active => {
                if let Some(i) = self.legs.iter().position(|l| l.call == *call) {
                    self.start_prompt(engine, i);
                }
            }
            Event::Dtmf { call, digit, .. } => {
                if let Some(i) = self.legs.iter().position(|l| l.call == *call) {
                    if self.legs[i].state == LegState::Playing && self.spec.ack.contains(*digit) {
                        self.acknowledge(engine, i, *digit);
                    }
                }
            }
            Event::PromptPlayed { call, times } => {
                let Some(i) = self.legs.iter().position(|l| l.call == *call) else {
                    return;
                };
                let leg = &mut self.legs[i];
                match leg.state {
                    LegState::Playing => {
                        leg.plays = *times;
                        if *times >= self.spec.repeat {
                            leg.outcome = Some(Outcome::NotAcknowledged);
                            leg.state = LegState::Ending;
                            let _ = engine.hangup(leg.call, 0, None);
                        }
                    }
                    LegState::Confirming => {
                        leg.state = LegState::Ending;
                        let _ = engine.hangup(leg.call, 0, None);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// The prompt and the in-band listener, once the call has audio.
    fn start_prompt(&mut self, engine: &Engine, i: usize) {
        let leg = &mut self.legs[i];
        if leg.state != LegState::Playing || leg.prompt.is_some() {
            return;
        }
        if let Ok(tap) = engine.play_prompt(leg.call, &self.prompt.samples, self.prompt.rate) {
            leg.prompt = Some(tap);
            match engine.listen_dtmf(leg.call) {
                Ok(l) => leg.listener = Some(l),
                Err(e) => log::warn!("alert: call {}: no in-band DTMF: {e}", leg.call),
            }
        }
    }

    fn acknowledge(&mut self, engine: &Engine, i: usize, digit: char) {
        self.acknowledged = true;
        let leg = &mut self.legs[i];
        leg.outcome = Some(Outcome::Acknowledged { digit });
        leg.state = LegState::Confirming;
        for tap in [leg.prompt.take(), leg.listener.take()]
            .into_iter()
            .flatten()
        {
            engine.stop_tap(tap);
        }
        match engine.play_prompt(leg.call, &self.confirmation.samples, self.confirmation.rate) {
            Ok(tap) => leg.prompt = Some(tap),
            Err(_) => {
                leg.state = LegState::Ending;
                let _ = engine.hangup(leg.call, 0, None);
            }
        }
        // The first acknowledgement wins: the other calls stop.
        let winner = self.legs[i].call;
        for other in self.legs.iter_mut().filter(|l| l.call != winner) {
            if matches!(other.state, LegState::Ringing | LegState::Playing) {
                other.outcome = Some(Outcome::Cancelled);
                other.state = LegState::Ending;
                let _ = engine.hangup(other.call, 0, None);
            }
        }
    }

    fn leg_ended(&mut self, engine: &Engine, i: usize, status: u16, reason: &str) {
        let leg = self.legs.remove(i);
        for tap in [leg.prompt, leg.listener].into_iter().flatten() {
            engine.stop_tap(tap);
        }
        let outcome = match leg.outcome {
            Some(o) => o,
            None if leg.answered => Outcome::NotAcknowledged,
            None => match status {
                486 | 600 | 603 => Outcome::Busy { code: status },
                408 | 480 => Outcome::NoAnswer,
                _ => Outcome::Failed {
                    code: status,
                    reason: reason.to_string(),
                },
            },
        };
        self.report(Attempt {
            round: self.round,
            target: leg.target,
            call: Some(leg.call),
            outcome,
            seconds: leg.started.elapsed().as_secs_f64(),
            plays: leg.plays,
        });
        if !self.acknowledged && !self.cancelled && !self.spec.parallel {
            self.dial_next(engine);
        }
        self.check_round_end();
    }

    /// When no call of the round is left: done, or the next round after the delay.
    fn check_round_end(&mut self) {
        if !self.legs.is_empty() {
            return;
        }
        if !self.spec.parallel
            && !self.acknowledged
            && !self.cancelled
            && self.next_target < self.spec.targets.len()
        {
            return;
        }
        if self.acknowledged || self.cancelled || self.round > self.spec.retries {
            self.finished = true;
        } else {
            self.next_round_at = Some(Instant::now() + self.spec.retry_delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_and_targets_in_any_order() {
        let spec = AlertSpec::parse(&args(&[
            "100",
            "--play",
            "a.wav",
            "sip:200@pbx",
            "--ack",
            "19",
            "--repeat",
            "5",
            "--timeout",
            "20",
            "--retries",
            "2",
            "--retry-delay",
            "10",
            "--parallel",
            "--json",
        ]))
        .unwrap();
        assert_eq!(spec.targets, ["100", "sip:200@pbx"]);
        assert_eq!(spec.prompt, PromptSource::File("a.wav".into()));
        assert_eq!(spec.ack, "19");
        assert_eq!((spec.repeat, spec.retries), (5, 2));
        assert_eq!(spec.ring_timeout, Duration::from_secs(20));
        assert_eq!(spec.retry_delay, Duration::from_secs(10));
        assert!(spec.parallel && spec.json);
        let d = AlertSpec::parse(&args(&["100"])).unwrap();
        assert_eq!((d.ack.as_str(), d.repeat, d.retries), ("1", 3, 0));
        assert_eq!(d.prompt, PromptSource::Tone);
    }

    #[test]
    fn usage_errors_say_what_to_fix() {
        for (a, want) in [
            (&["--play", "x.wav"][..], "at least one target"),
            (&["100", "--ack", "x"], "DTMF digits"),
            (&["100", "--repeat", "many"], "whole number"),
            (&["100", "--play", "a", "--say", "b"], "one of them"),
            (&["100", "--bogus"], "--alert"),
        ] {
            let e = AlertSpec::parse(&args(a)).unwrap_err();
            assert!(e.contains(want), "{a:?}: {e}");
        }
    }

    #[test]
    fn attempts_read_as_lines_and_json() {
        let a = Attempt {
            round: 1,
            target: "100".into(),
            call: Some(CallId(2)),
            outcome: Outcome::Acknowledged { digit: '1' },
            seconds: 12.34,
            plays: 2,
        };
        assert_eq!(
            a.describe(),
            "alert round 1: 100: acknowledged with 1 after 12.3 s (prompt played 2 time(s))"
        );
        let j = a.to_json();
        assert_eq!(j["outcome"], "acknowledged");
        assert_eq!(j["digit"], "1");
        assert_eq!(j["call"], 2);
    }
}
