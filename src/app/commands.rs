//! MicroSIP's commands (`/answer`, a number to dial, `msip:hold`, ...) run against the engine
//! on the main thread, as MicroSIP's `CmainDlg::CommandLine` does on its UI thread
//! (reference §2–§4).
//!
//! The commands come from the control socket (through [`crate::control::dispatch`]) or from
//! this process's own command line (run once the stack is up). Everything that has to happen
//! later is kept here and driven by the main loop: the number waiting for the registration
//! (MicroSIP's single `dialNumberDelayed`), the `,DTMF` groups sent after the call is
//! confirmed, with MicroSIP's timing (1 s, then 1000 + 200 × the previous group's length ms).
//!
//! Mic and speaker commands only change [`AudioState`] for now; the audio layer hooks in
//! through [`AudioControl`].
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, Receiver};

use super::recording::Recording;
use super::setup::{Dialing, Setup};
use crate::config;
use crate::control::dispatch::{ControlRequest, Outcome, StackGate};
use crate::control::grammar::{self, Command, Parsed};
use crate::control::socket::Server;
use crate::dial::{self, AccountChoice, DialInput};
use crate::engine::{
    self, AccountId, CallId, CallInfo, CallState, DtmfVia, Engine, EngineInfo, Event, MediaState,
    RecorderId, Role,
};

/// What the commands need of the SIP engine: [`Engine`] in the phone, a fake in the unit
/// tests (so the command state machine is tested without PJSUA).
pub trait CallControl {
    fn info(&self) -> EngineInfo;
    fn calls(&self) -> Vec<CallInfo>;
    fn call(&self, call: CallId) -> engine::Result<CallInfo>;
    fn make_call(&self, account: AccountId, uri: &str) -> engine::Result<CallId>;
    fn answer(&self, call: CallId, code: u16) -> engine::Result<()>;
    fn hangup(&self, call: CallId, code: u16, reason: Option<&str>) -> engine::Result<()>;
    fn send_dtmf(&self, call: CallId, digits: &str, via: DtmfVia) -> engine::Result<()>;
    fn transfer(&self, call: CallId, target: &str) -> engine::Result<()>;
    fn transfer_replaces(&self, call: CallId, to: CallId) -> engine::Result<()>;
    fn set_hold(&self, call: CallId, hold: bool) -> engine::Result<()>;
    fn send_message(&self, account: AccountId, to: &str, text: &str) -> engine::Result<()>;
    fn play_local_tones(&self, digits: &str, level: f32);
    fn start_recording(&self, call: CallId, path: &std::path::Path) -> engine::Result<RecorderId>;
    fn stop_recording(&self, rec: RecorderId);
}

impl CallControl for Engine {
    fn info(&self) -> EngineInfo {
        Engine::info(self)
    }
    fn calls(&self) -> Vec<CallInfo> {
        Engine::calls(self)
    }
    fn call(&self, call: CallId) -> engine::Result<CallInfo> {
        Engine::call(self, call)
    }
    fn make_call(&self, account: AccountId, uri: &str) -> engine::Result<CallId> {
        Engine::make_call(self, account, uri)
    }
    fn answer(&self, call: CallId, code: u16) -> engine::Result<()> {
        Engine::answer(self, call, code)
    }
    fn hangup(&self, call: CallId, code: u16, reason: Option<&str>) -> engine::Result<()> {
        Engine::hangup(self, call, code, reason)
    }
    fn send_dtmf(&self, call: CallId, digits: &str, via: DtmfVia) -> engine::Result<()> {
        Engine::send_dtmf(self, call, digits, via)
    }
    fn transfer(&self, call: CallId, target: &str) -> engine::Result<()> {
        Engine::transfer(self, call, target)
    }
    fn transfer_replaces(&self, call: CallId, to: CallId) -> engine::Result<()> {
        Engine::transfer_replaces(self, call, to)
    }
    fn set_hold(&self, call: CallId, hold: bool) -> engine::Result<()> {
        Engine::set_hold(self, call, hold)
    }
    fn send_message(&self, account: AccountId, to: &str, text: &str) -> engine::Result<()> {
        Engine::send_message(self, account, to, text)
    }
    fn play_local_tones(&self, digits: &str, level: f32) {
        Engine::play_local_tones(self, digits, level)
    }
    fn start_recording(&self, call: CallId, path: &std::path::Path) -> engine::Result<RecorderId> {
        Engine::start_recording(self, call, path)
    }
    fn stop_recording(&self, rec: RecorderId) {
        Engine::stop_recording(self, rec)
    }
}

/// How much `msip:micup` / `msip:micdown` / `msip:speakup` / `msip:speakdown` move a level,
/// in percent. The reference does not give MicroSIP's slider step; 5 is our choice.
pub const LEVEL_STEP: u32 = 5;

/// What the main loop gets from the control side: the requests of every transport, the gate
/// it opens once the stack runs, and the command of this process's own command line.
pub struct Control {
    /// Commands from the transports.
    pub requests: Receiver<ControlRequest>,
    /// Opened once the engine runs, closed when the phone stops.
    pub gate: StackGate,
    /// This process's own MicroSIP command line, run once the stack is up.
    pub startup: Option<Parsed>,
    /// The control socket; removed when this is dropped.
    pub server: Option<Server>,
    /// MicroSIP's `/password:` override: it outlives a restart of the SIP stack and is used
    /// whenever the active account is added again (as MicroSIP's global `password`).
    pub password_override: Option<String>,
    /// The event stream's subscribers (`microsip --events`).
    pub events: crate::control::hub::EventHub,
    /// `microsip --alert`: the alert to run once the stack is up, and its prompt; the phone
    /// exits with the alert's code when it is over.
    pub alert: Option<(super::alert::AlertSpec, super::alert::Sound)>,
}

impl Control {
    /// No transport and no command (a phone that does not take commands).
    pub fn none() -> Control {
        Control {
            requests: never(),
            gate: StackGate::default(),
            startup: None,
            server: None,
            password_override: None,
            events: Default::default(),
            alert: None,
        }
    }
}

/// Whether the main loop goes on after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Keep running.
    Continue,
    /// `/exit`: stop the phone cleanly.
    Exit,
    /// `/account:N` for another account (0: none, only the local account): save
    /// `accountId=N` and put that account in place of the active one (MicroSIP un-registers
    /// the old account and registers N), then run `then`.
    SwitchAccount { id: u32, then: Option<Command> },
    /// `/account:N /password:PWD`: store PWD in `[AccountN]` (and re-register when N is the
    /// active account).
    StoreAccountPassword { account: u32, password: String },
    /// `msip:alert:`: start alert `id` with `microsip --alert`'s arguments.
    StartAlert { id: String, args: Vec<String> },
}

/// Mic and speaker state as MicroSIP's commands leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioState {
    /// The microphone is muted.
    pub mic_muted: bool,
    /// The speaker is muted.
    pub speaker_muted: bool,
    /// Microphone level, 0..=100 percent (`volumeInput`).
    pub mic_level: u32,
    /// Speaker level, 0..=100 percent (`volumeOutput`).
    pub speaker_level: u32,
}

impl AudioState {
    /// One line for logs and replies.
    pub fn describe(&self) -> String {
        let onoff = |muted: bool| if muted { "muted" } else { "on" };
        format!(
            "mic {} at {}%, speaker {} at {}%",
            onoff(self.mic_muted),
            self.mic_level,
            onoff(self.speaker_muted),
            self.speaker_level
        )
    }
}

/// Where the audio layer hooks in: called on the main thread with the new state after every
/// mic or speaker command.
pub trait AudioControl {
    /// Apply `state` to the sound devices.
    fn apply(&mut self, state: &AudioState);
}

/// The dial-related settings, copied out of MicroSIP.ini at start.
#[derive(Debug, Clone, Default)]
struct DialSettings {
    /// `DTMFMethod`.
    dtmf_method: config::DtmfMethod,
    /// `localDTMF`: play the digits of `/dtmf:` on our own sound device too.
    local_dtmf: bool,
    /// `volumeRing`: the level of local tones, in percent.
    volume_ring: u32,
    /// `accountId` when that account was added to the engine.
    account_number: Option<u32>,
    /// How dialled text becomes a URI (the accounts' domains, prefixes, plans, transports).
    dialing: Dialing,
    /// The main account has a `server`: numbers wait for its registration.
    has_registrar: bool,
    /// `featureCodeBT` when `enableFeatureCodeBT=1`: blind transfers by DTMF.
    feature_bt: Option<String>,
    /// `featureCodeAT` when `enableFeatureCodeAT=1`: attended transfers by DTMF.
    feature_at: Option<String>,
    /// `featureCodeCP` when `enableFeatureCodeCP=1`: call pickup prefix.
    feature_cp: Option<String>,
    single_mode: bool,
    /// `[AccountN]` sections that load.
    loadable_accounts: BTreeSet<u32>,
    ini: String,
}

/// A DTMF group due at a time on a call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DtmfTimer {
    at: Instant,
    call: CallId,
    digits: String,
}

/// Runs commands and keeps what they leave pending.
pub struct Commands {
    settings: DialSettings,
    main_account: Option<AccountId>,
    local_account: Option<AccountId>,
    registered: bool,
    /// MicroSIP's `dialNumberDelayed`: one number (or message) waiting for the registration.
    delayed: Option<Command>,
    /// `,DTMF` groups of calls we placed, waiting for CONFIRMED.
    dtmf_pending: HashMap<CallId, Vec<String>>,
    /// Groups scheduled after CONFIRMED, in time order.
    dtmf_timers: Vec<DtmfTimer>,
    /// The call that was confirmed last: MicroSIP's "selected tab".
    selected: Option<CallId>,
    audio: AudioState,
    audio_hook: Option<Box<dyn AudioControl>>,
    password_override: Option<String>,
    /// Call recordings: `autoRecording` and the `msip:record*` commands.
    recording: Recording,
}

impl Commands {
    /// The command state for a phone built from `setup`, running `engine`.
    pub fn new(engine: &dyn CallControl, setup: &Setup) -> Commands {
        let cfg = &setup.config;
        let info = engine.info();
        Commands {
            settings: DialSettings::new(engine, setup),
            main_account: info.account,
            local_account: info.local_account,
            registered: false,
            delayed: None,
            dtmf_pending: HashMap::new(),
            dtmf_timers: Vec::new(),
            selected: None,
            audio: AudioState {
                mic_muted: false,
                speaker_muted: false,
                mic_level: cfg.settings.volume_input.min(100),
                speaker_level: cfg.settings.volume_output.min(100),
            },
            audio_hook: None,
            password_override: None,
            recording: Recording::new(engine, &setup.config),
        }
    }

    /// The active account changed (`/account:N` without a restart): numbers are formatted and
    /// wait for registration as the new account says.
    pub fn account_changed(&mut self, engine: &dyn CallControl, setup: &Setup) {
        let info = engine.info();
        self.settings = DialSettings::new(engine, setup);
        self.main_account = info.account;
        self.local_account = info.local_account;
        self.registered = false;
    }
}

impl DialSettings {
    /// From the settings, with the accounts `engine` runs.
    fn new(engine: &dyn CallControl, setup: &Setup) -> DialSettings {
        let cfg = &setup.config;
        let main = engine.info().account.and(cfg.active_account());
        DialSettings {
            account_number: main.map(|(n, _)| n),
            dialing: Dialing::new(cfg, main.map(|(_, a)| a)),
            has_registrar: setup
                .engine
                .account
                .as_ref()
                .is_some_and(|a| a.registrar.is_some()),
            single_mode: cfg.settings.single_mode,
            feature_bt: feature_code(
                cfg.settings.enable_feature_code_bt,
                &cfg.settings.feature_code_bt,
            ),
            feature_at: feature_code(
                cfg.settings.enable_feature_code_at,
                &cfg.settings.feature_code_at,
            ),
            feature_cp: feature_code(
                cfg.settings.enable_feature_code_cp,
                &cfg.settings.feature_code_cp,
            ),
            loadable_accounts: cfg.accounts.keys().copied().filter(|&n| n > 0).collect(),
            ini: cfg.path.display().to_string(),
            dtmf_method: cfg.settings.dtmf_method,
            local_dtmf: cfg.settings.local_dtmf,
            volume_ring: cfg.settings.volume_ring.min(100),
        }
    }
}

impl Commands {
    /// Lets the audio layer follow the mic and speaker commands; it gets the current state at
    /// once.
    pub fn set_audio_control(&mut self, mut hook: Box<dyn AudioControl>) {
        hook.apply(&self.audio);
        self.audio_hook = Some(hook);
    }

    /// The mic and speaker state.
    pub fn audio(&self) -> AudioState {
        self.audio
    }

    /// The `/password:` override, if one was given (used when the account is added again).
    /// Carries a `/password:` override over from an earlier run of the stack.
    pub fn set_password_override(&mut self, password: Option<String>) {
        self.password_override = password;
    }

    pub fn password_override(&self) -> Option<&str> {
        self.password_override.as_deref()
    }

    /// Runs this process's own command line, once the stack is up.
    pub fn run_startup(&mut self, engine: &dyn CallControl, parsed: Parsed) -> Flow {
        let (outcome, flow) = self.execute_parsed(engine, parsed);
        log_outcome("command line", &outcome);
        flow
    }

    /// Runs a request from a transport and answers it.
    pub fn on_request(&mut self, engine: &dyn CallControl, request: ControlRequest) -> Flow {
        let parsed = grammar::parse(&request.text);
        let (outcome, flow) = self.execute_parsed(engine, parsed);
        log_outcome(&format!("command {:?}", masked(&request.text)), &outcome);
        request.answer(outcome);
        flow
    }

    /// Follows the engine's events: registration (the waiting number), call states (DTMF
    /// groups, the selected call).
    pub fn on_event(&mut self, engine: &dyn CallControl, event: &Event) {
        self.recording.on_event(engine, event);
        match event {
            Event::Registration {
                account,
                code,
                expires,
                ..
            } if Some(*account) == self.main_account => {
                let ok = (200..300).contains(code) && *expires > 0;
                let first_ok = ok && !self.registered;
                self.registered = ok;
                if first_ok {
                    if let Some(command) = self.delayed.take() {
                        let outcome = self.dial_now(engine, &command);
                        log_outcome("after registration", &outcome);
                    }
                }
            }
            Event::CallState { info } => match info.state {
                CallState::Confirmed => {
                    self.selected = Some(info.call);
                    if let Some(groups) = self.dtmf_pending.remove(&info.call) {
                        let now = Instant::now();
                        for send in dial::dtmf_schedule(&groups) {
                            self.dtmf_timers.push(DtmfTimer {
                                at: now + Duration::from_millis(send.at_ms),
                                call: info.call,
                                digits: send.digits,
                            });
                        }
                        self.dtmf_timers.sort_by_key(|t| t.at);
                    }
                }
                CallState::Disconnected => {
                    self.dtmf_pending.remove(&info.call);
                    self.dtmf_timers.retain(|t| t.call != info.call);
                    if self.selected == Some(info.call) {
                        self.selected = None;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// When [`Commands::on_timer`] has something to do next.
    pub fn next_timer(&self) -> Option<Instant> {
        self.dtmf_timers.first().map(|t| t.at)
    }

    /// Sends the DTMF groups that are due.
    pub fn on_timer(&mut self, engine: &dyn CallControl) {
        let now = Instant::now();
        while self.dtmf_timers.first().is_some_and(|t| t.at <= now) {
            let timer = self.dtmf_timers.remove(0);
            match send_dtmf(engine, self.settings.dtmf_method, timer.call, &timer.digits) {
                Ok(()) => log::info!("call {}: sent DTMF {}", timer.call, timer.digits),
                Err(e) => log::warn!(
                    "call {}: could not send DTMF {}: {e}",
                    timer.call,
                    timer.digits
                ),
            }
        }
    }

    fn execute_parsed(&mut self, engine: &dyn CallControl, parsed: Parsed) -> (Outcome, Flow) {
        if let Some(message) = parsed.alias_message() {
            log::info!("{message}");
        }
        self.execute(engine, parsed.command)
    }

    /// Runs one command; the outcome says what happened in one line.
    pub fn execute(&mut self, engine: &dyn CallControl, command: Command) -> (Outcome, Flow) {
        let outcome = match command {
            Command::Exit => {
                return (
                    Outcome {
                        ok: true,
                        text: "exiting: ending calls and un-registering".into(),
                        exiting: true,
                    },
                    Flow::Exit,
                )
            }
            Command::Answer => self.answer(engine),
            Command::HangupAll => self.hang_up(engine, "hung up", |c| !is_ringing_in(c)),
            Command::HangupIncoming => self.hang_up(engine, "rejected (603)", is_ringing_in),
            Command::HangupCalling => self.hang_up(engine, "cancelled", |c| {
                c.role == Role::Caller && c.state != CallState::Confirmed
            }),
            Command::Dtmf {
                digits,
                confirm: true,
            } => Outcome::error(format!(
                "DTMF {digits} not sent: a trailing '?' asks for confirmation in MicroSIP's \
                 dialer, which this phone does not have; send /dtmf:{digits}"
            )),
            Command::Dtmf { digits, .. } => {
                // MicroSIP's dialer plays the digits locally (localDTMF=1), with or without
                // a call.
                if self.settings.local_dtmf {
                    engine.play_local_tones(&digits, self.settings.volume_ring as f32 / 100.0);
                }
                match self.selected_call(engine) {
                    None if self.settings.local_dtmf => Outcome::ok(format!(
                        "no call is connected: DTMF {digits} only played here"
                    )),
                    None => Outcome::error(format!("DTMF {digits} not sent: no call is connected")),
                    Some(call) => {
                        match send_dtmf(engine, self.settings.dtmf_method, call.call, &digits) {
                            Ok(()) => {
                                Outcome::ok(format!("sent DTMF {digits} on call {}", call.call))
                            }
                            Err(e) => Outcome::error(format!("DTMF {digits}: {e}")),
                        }
                    }
                }
            }
            Command::Transfer(number) => self.transfer(engine, &number),
            Command::Hold => match self.selected_call(engine) {
                None => Outcome::error("nothing to hold: no call is connected"),
                Some(call) => {
                    let hold = call.media != MediaState::LocalHold;
                    match engine.set_hold(call.call, hold) {
                        Ok(()) if hold => Outcome::ok(format!("call {} on hold", call.call)),
                        Ok(()) => Outcome::ok(format!("call {} taken off hold", call.call)),
                        Err(e) => Outcome::error(format!("hold: {e}")),
                    }
                }
            },
            Command::Password(password) => {
                if password.is_empty() {
                    self.password_override = None;
                    Outcome::ok("password override cleared")
                } else {
                    self.password_override = Some(password);
                    Outcome::ok(
                        "password override set for this session: not saved, and (as in \
                         MicroSIP) used the next time the account is added, not at once",
                    )
                }
            }
            Command::SetAccount { id, then } => {
                if !self.settings.loadable_accounts.contains(&id) {
                    Outcome::error(format!(
                        "[Account{id}] does not load (missing, or without domain) in {}: \
                         command dropped",
                        self.settings.ini
                    ))
                } else if self.settings.account_number == Some(id) {
                    return self.execute(engine, *then);
                } else {
                    let then =
                        Some(*then).filter(|c| !matches!(c, Command::Nothing | Command::Activate));
                    return (
                        Outcome::ok(format!(
                            "switching to [Account{id}]: saving accountId={id}; calls of the \
                             local account go on"
                        )),
                        Flow::SwitchAccount { id, then },
                    );
                }
            }
            Command::AccountPassword { account, password } => {
                if !self.settings.loadable_accounts.contains(&account) {
                    Outcome::error(format!(
                        "[Account{account}] does not load (missing, or without domain) in {}: \
                         password not stored",
                        self.settings.ini
                    ))
                } else {
                    return (
                        Outcome::ok(format!("storing the password of [Account{account}]")),
                        Flow::StoreAccountPassword { account, password },
                    );
                }
            }
            Command::Dial { .. } | Command::Message { .. } => self.dial_or_wait(engine, command),
            Command::CallAnswer { call, lparam } => self.call_answer(engine, CallId(call), lparam),
            Command::CallHangup { call } => match engine.call(CallId(call)) {
                Ok(info) if info.state != CallState::Disconnected => {
                    match engine.hangup(info.call, 0, None) {
                        Ok(()) => Outcome::ok(format!("hung up call {call}")),
                        Err(e) => Outcome::error(format!("call {call}: {e}")),
                    }
                }
                _ => Outcome::error(format!("call {call} does not exist (it may have ended)")),
            },
            Command::WindowCommand(id) => return self.window_command(engine, id),
            Command::AttendedTransfer(target) => self.attended_transfer(engine, &target),
            Command::Pickup(number) => self.pickup(engine, &number),
            // The main loop answers it before commands run (it knows the registrations).
            Command::Status => {
                Outcome::error("msip:status goes to the running phone's control socket")
            }
            Command::Alert { id, args } => {
                return match super::alert::AlertSpec::parse(&args) {
                    Ok(_) => (
                        Outcome::ok(format!("alert {id}: starting")),
                        Flow::StartAlert { id, args },
                    ),
                    Err(e) => (Outcome::error(e), Flow::Continue),
                }
            }
            Command::Invalid(why) => Outcome::error(why),
            Command::MicMute => self.set_audio(|a| a.mic_muted = true),
            Command::MicUnmute => self.set_audio(|a| a.mic_muted = false),
            Command::MicMuteToggle => self.set_audio(|a| a.mic_muted = !a.mic_muted),
            Command::SpeakMute => self.set_audio(|a| a.speaker_muted = true),
            Command::SpeakUnmute => self.set_audio(|a| a.speaker_muted = false),
            Command::SpeakMuteToggle => self.set_audio(|a| a.speaker_muted = !a.speaker_muted),
            Command::MicUp => self.set_audio(|a| a.mic_level = (a.mic_level + LEVEL_STEP).min(100)),
            Command::MicDown => {
                self.set_audio(|a| a.mic_level = a.mic_level.saturating_sub(LEVEL_STEP))
            }
            Command::SpeakUp => {
                self.set_audio(|a| a.speaker_level = (a.speaker_level + LEVEL_STEP).min(100))
            }
            Command::SpeakDown => {
                self.set_audio(|a| a.speaker_level = a.speaker_level.saturating_sub(LEVEL_STEP))
            }
            Command::RecordStart => self.record(engine, Some(true)),
            Command::RecordStop => self.record(engine, Some(false)),
            Command::RecordToggle => self.record(engine, None),
            Command::Activate | Command::Minimize | Command::Minimized | Command::Nothing => {
                Outcome::ok("nothing to do: microsip has no window to show or hide")
            }
            Command::Reset { .. } => Outcome::error(format!(
                "/reset is not supported: microsip does not delete user data; remove {} \
                 yourself",
                self.settings.ini
            )),
        };
        (outcome, Flow::Continue)
    }

    /// `msip:recordstart` (`Some(true)`), `msip:recordstop` (`Some(false)`) and
    /// `msip:recordclick` (`None`: toggle) on the selected call.
    fn record(&mut self, engine: &dyn CallControl, on: Option<bool>) -> Outcome {
        let Some(call) = self.selected_call(engine) else {
            return Outcome::error("no call is connected: nothing to record");
        };
        let id = call.call;
        let on = on.unwrap_or(!self.recording.is_recording(id));
        if on {
            match self.recording.start(engine, &call) {
                Ok(path) => Outcome::ok(format!("call {id}: recording to {}", path.display())),
                Err(e) => Outcome::error(format!("call {id}: cannot record: {e}")),
            }
        } else {
            match self.recording.stop(engine, id) {
                Some(path) => Outcome::ok(format!(
                    "call {id}: recording stopped; it is in {}",
                    path.display()
                )),
                None => Outcome::error(format!("call {id} is not being recorded")),
            }
        }
    }

    fn set_audio(&mut self, change: impl FnOnce(&mut AudioState)) -> Outcome {
        change(&mut self.audio);
        if let Some(hook) = self.audio_hook.as_mut() {
            hook.apply(&self.audio);
        }
        Outcome::ok(self.audio.describe())
    }

    fn answer(&mut self, engine: &dyn CallControl) -> Outcome {
        let calls = engine.calls();
        let Some(ringing) = calls.iter().find(|c| is_ringing_in(c)) else {
            return Outcome::error("no ringing incoming call to answer");
        };
        if self.settings.single_mode {
            // MicroSIP's singleMode: the other calls end before the answer.
            self.end_others(engine, ringing.call);
        }
        match engine.answer(ringing.call, 200) {
            Ok(()) => Outcome::ok(format!(
                "answered call {} from {}",
                ringing.call, ringing.remote
            )),
            Err(e) => Outcome::error(format!("answer call {}: {e}", ringing.call)),
        }
    }

    /// MicroSIP's `UM_CALL_ANSWER` (`onCallAnswer`): only a ringing incoming call is
    /// answered; `lparam` < 0 answers with status `-lparam` (e.g. 486), else 200.
    fn call_answer(&mut self, engine: &dyn CallControl, call: CallId, lparam: i32) -> Outcome {
        let info = match engine.call(call) {
            Ok(info) if is_ringing_in(&info) => info,
            Ok(info) => {
                return Outcome::error(format!(
                    "call {call} is not ringing in ({}): nothing to answer",
                    info.state
                ))
            }
            Err(e) => return Outcome::error(e.to_string()),
        };
        if lparam >= 0 {
            if self.settings.single_mode {
                self.end_others(engine, call);
            }
            return match engine.answer(call, 200) {
                Ok(()) => Outcome::ok(format!("answered call {call} from {}", info.remote)),
                Err(e) => Outcome::error(format!("answer call {call}: {e}")),
            };
        }
        let code = lparam.unsigned_abs() as u16;
        match engine.answer(call, code) {
            Ok(()) => Outcome::ok(format!("answered call {call} with {code}")),
            Err(e) => Outcome::error(format!("call {call}: answer with {code}: {e}")),
        }
    }

    /// MicroSIP's singleMode before an answer: the calls other than `keep` that are not
    /// ringing in end.
    fn end_others(&mut self, engine: &dyn CallControl, keep: CallId) {
        for other in engine
            .calls()
            .iter()
            .filter(|c| c.call != keep && !is_ringing_in(c) && c.state != CallState::Disconnected)
        {
            if let Err(e) = engine.hangup(other.call, 0, None) {
                log::warn!(
                    "call {}: could not hang up before answering: {e}",
                    other.call
                );
            }
        }
    }

    /// A `WM_COMMAND` by its stable id (reference §3).
    fn window_command(&mut self, engine: &dyn CallControl, id: u32) -> (Outcome, Flow) {
        const ID_EXIT: u32 = 32784;
        const ID_MUTE_INPUT: u32 = 32802;
        const ID_MUTE_OUTPUT: u32 = 32803;
        const ID_ACCOUNT_CHANGE_RANGE: u32 = 40000;
        let window_only = [
            (32789, "ID_SETTINGS"),
            (32776, "ID_ALWAYS_ON_TOP"),
            (32786, "ID_LOG"),
            (32798, "ID_SHORTCUTS"),
            (32813, "ID_UPDATES"),
        ];
        match id {
            ID_EXIT => self.execute(engine, Command::Exit),
            ID_MUTE_INPUT => self.execute(engine, Command::MicMuteToggle),
            ID_MUTE_OUTPUT => self.execute(engine, Command::SpeakMuteToggle),
            ID_ACCOUNT_CHANGE_RANGE..=40099 => {
                let n = id - ID_ACCOUNT_CHANGE_RANGE + 1;
                if self.settings.account_number == Some(n) {
                    // MicroSIP: the active account's entry deactivates it.
                    (
                        Outcome::ok(format!(
                            "deactivating [Account{n}]: saving accountId=0; the local account \
                             takes the calls"
                        )),
                        Flow::SwitchAccount { id: 0, then: None },
                    )
                } else {
                    self.execute(
                        engine,
                        Command::SetAccount {
                            id: n,
                            then: Box::new(Command::Activate),
                        },
                    )
                }
            }
            _ => match window_only.iter().find(|(i, _)| *i == id) {
                Some((_, name)) => (
                    Outcome::ok(format!(
                        "{name}: MicroSIP's window only; nothing to do here"
                    )),
                    Flow::Continue,
                ),
                None => (
                    Outcome::error(format!(
                        "WM_COMMAND {id} is not one of MicroSIP's stable ids: 32784 (exit), \
                         32802 / 32803 (mute input / output), 40000+i (account i+1)"
                    )),
                    Flow::Continue,
                ),
            },
        }
    }

    fn hang_up(
        &mut self,
        engine: &dyn CallControl,
        what: &str,
        select: impl Fn(&CallInfo) -> bool,
    ) -> Outcome {
        let mut done = Vec::new();
        let mut errors = Vec::new();
        for call in engine
            .calls()
            .iter()
            .filter(|c| c.state != CallState::Disconnected && select(c))
        {
            match engine.hangup(call.call, 0, None) {
                Ok(()) => done.push(call.call.to_string()),
                Err(e) => errors.push(format!("call {}: {e}", call.call)),
            }
        }
        if !errors.is_empty() {
            Outcome::error(errors.join("; "))
        } else if done.is_empty() {
            Outcome::ok("no call to act on")
        } else {
            Outcome::ok(format!("{what}: call {}", done.join(", ")))
        }
    }

    /// MicroSIP's selected call: the one confirmed last, else the first confirmed one.
    fn selected_call(&self, engine: &dyn CallControl) -> Option<CallInfo> {
        let calls = engine.calls();
        let confirmed = |c: &&CallInfo| c.state == CallState::Confirmed;
        self.selected
            .and_then(|id| calls.iter().filter(confirmed).find(|c| c.call == id))
            .or_else(|| calls.iter().find(confirmed))
            .cloned()
    }

    fn transfer(&mut self, engine: &dyn CallControl, number: &str) -> Outcome {
        let Some(call) = self.selected_call(engine) else {
            return Outcome::error(format!("transfer to {number}: no call is connected"));
        };
        if let Some(code) = self.settings.feature_bt.clone() {
            return self.feature_code_dtmf(engine, call.call, "blind transfer", &code, number);
        }
        let plan = match dial::prepare_call(&self.dial_input(number)) {
            Ok(p) => p,
            Err(e) => return Outcome::error(format!("transfer to {number}: {e}")),
        };
        match engine.transfer(call.call, &plan.uri) {
            Ok(()) => Outcome::ok(format!(
                "transferring call {} to {} (REFER sent)",
                call.call, plan.uri
            )),
            Err(e) => Outcome::error(format!("transfer to {number}: {e}")),
        }
    }

    /// Sends `code`+`number` as DTMF on `call` (a PBX feature code), with `DTMFMethod`.
    fn feature_code_dtmf(
        &mut self,
        engine: &dyn CallControl,
        call: CallId,
        what: &str,
        code: &str,
        number: &str,
    ) -> Outcome {
        let digits = format!("{code}{number}");
        match send_dtmf(engine, self.settings.dtmf_method, call, &digits) {
            Ok(()) => Outcome::ok(format!(
                "{what} of call {call} to {number}: feature code sent as DTMF {digits}"
            )),
            Err(e) => Outcome::error(format!("{what} to {number}: DTMF {digits}: {e}")),
        }
    }

    /// MicroSIP's attended transfer (`OnAttendedTransferRange`): the selected call is
    /// transferred to the party of call `target` (REFER with Replaces), or, with
    /// `enableFeatureCodeAT=1`, `featureCodeAT`+`target` is sent as DTMF.
    fn attended_transfer(&mut self, engine: &dyn CallControl, target: &str) -> Outcome {
        let Some(call) = self.selected_call(engine) else {
            return Outcome::error(format!(
                "attended transfer to {target}: no call is connected"
            ));
        };
        if let Some(code) = self.settings.feature_at.clone() {
            return self.feature_code_dtmf(engine, call.call, "attended transfer", &code, target);
        }
        let Some(to) = target.parse::<i32>().ok().map(CallId) else {
            return Outcome::error(format!(
                "attended transfer to {target:?}: give the id of the call to transfer to (or set \
                 enableFeatureCodeAT=1 to send featureCodeAT and a number)"
            ));
        };
        // The selected call is the one confirmed last, often the consultation call itself:
        // then the other connected call is transferred.
        let from = if call.call == to {
            engine
                .calls()
                .into_iter()
                .find(|c| c.call != to && c.state == CallState::Confirmed)
                .map(|c| c.call)
        } else {
            Some(call.call)
        };
        let Some(from) = from else {
            return Outcome::error(format!(
                "attended transfer to call {to}: no other connected call to transfer"
            ));
        };
        match engine.transfer_replaces(from, to) {
            Ok(()) => Outcome::ok(format!(
                "transferring call {from} to the party of call {to} (REFER with Replaces sent)"
            )),
            Err(e) => Outcome::error(format!(
                "attended transfer of call {from} to call {to}: {e}"
            )),
        }
    }

    /// MicroSIP's call pickup (`CommandCallPickup`): dials `featureCodeCP`+`number`; without
    /// the feature code, the number itself.
    fn pickup(&mut self, engine: &dyn CallControl, number: &str) -> Outcome {
        let target = match &self.settings.feature_cp {
            Some(code) => format!("{code}{number}"),
            None => number.to_string(),
        };
        self.dial_or_wait(engine, Command::Dial { target })
    }

    /// MicroSIP's `DialNumberFromCommandLine`: dial at once when the account can, else keep
    /// the number until the registration reports OK (only one number waits).
    fn dial_or_wait(&mut self, engine: &dyn CallControl, command: Command) -> Outcome {
        if self.main_account.is_some() && self.settings.has_registrar && !self.registered {
            let what = describe_dial(&command);
            let replaced = self.delayed.replace(command);
            let account = self.settings.account_number.unwrap_or_default();
            return Outcome::ok(match replaced {
                Some(old) => format!(
                    "{what} once Account{account} is registered (instead of {})",
                    describe_dial(&old)
                ),
                None => format!("{what} once Account{account} is registered"),
            });
        }
        self.dial_now(engine, &command)
    }

    fn dial_now(&mut self, engine: &dyn CallControl, command: &Command) -> Outcome {
        match command {
            Command::Dial { target } => self.call(engine, target),
            Command::Message { to, text } => self.message(engine, to, text),
            _ => Outcome::error("internal error: not a number to dial"),
        }
    }

    fn call(&mut self, engine: &dyn CallControl, target: &str) -> Outcome {
        if self.settings.single_mode
            && engine
                .calls()
                .iter()
                .any(|c| c.state != CallState::Disconnected)
        {
            return Outcome::error(format!(
                "not calling {target}: singleMode=1 and a call is in progress"
            ));
        }
        let plan = match dial::prepare_call(&self.dial_input(target)) {
            Ok(p) => p,
            Err(e) => return Outcome::error(format!("cannot call {target}: {e}")),
        };
        let Some(account) = self.account_for(plan.account) else {
            return Outcome::error(format!(
                "cannot call {target}: {}",
                dial::DialError::NoAccount
            ));
        };
        match engine.make_call(account, &plan.uri) {
            Ok(call) => {
                let dtmf = if plan.dtmf_groups.is_empty() {
                    String::new()
                } else {
                    format!(", then DTMF {}", plan.dtmf_groups.join(","))
                };
                if !plan.dtmf_groups.is_empty() {
                    self.dtmf_pending.insert(call, plan.dtmf_groups);
                }
                Outcome::ok(format!("calling {} (call {call}){dtmf}", plan.uri))
            }
            Err(e) => Outcome::error(format!("cannot call {target}: {e}")),
        }
    }

    fn message(&mut self, engine: &dyn CallControl, to: &str, text: &str) -> Outcome {
        let plan = match dial::prepare_call(&self.dial_input(to)) {
            Ok(p) => p,
            Err(e) => return Outcome::error(format!("cannot send a message to {to}: {e}")),
        };
        let Some(account) = self.account_for(plan.account) else {
            return Outcome::error(format!(
                "cannot send a message to {to}: {}",
                dial::DialError::NoAccount
            ));
        };
        let uri = plan
            .uri
            .strip_prefix('<')
            .and_then(|u| u.strip_suffix('>'))
            .unwrap_or(&plan.uri);
        match engine.send_message(account, uri, text) {
            Ok(()) => Outcome::ok(format!("message sent to {uri}")),
            Err(e) => Outcome::error(format!("cannot send a message to {to}: {e}")),
        }
    }

    fn account_for(&self, choice: AccountChoice) -> Option<AccountId> {
        match choice {
            AccountChoice::Main => self.main_account,
            AccountChoice::Local => self.local_account,
        }
    }

    fn dial_input<'a>(&'a self, target: &'a str) -> DialInput<'a> {
        self.settings.dialing.input(
            target,
            self.main_account.is_some(),
            self.local_account.is_some(),
        )
    }
}

fn is_ringing_in(call: &CallInfo) -> bool {
    call.role == Role::Callee && matches!(call.state, CallState::Incoming | CallState::Early)
}

fn describe_dial(command: &Command) -> String {
    match command {
        Command::Dial { target } => format!("calling {target}"),
        Command::Message { to, .. } => format!("sending the message to {to}"),
        other => format!("{other:?}"),
    }
}

/// The command text for the log, without a password (`/password:` runs to the end).
fn masked(text: &str) -> String {
    match text.find("/password:") {
        Some(at) => format!("{}/password:********", &text[..at]),
        None => text.to_string(),
    }
}

pub(crate) fn log_outcome(source: &str, outcome: &Outcome) {
    if outcome.ok {
        log::info!("{source}: {}", outcome.text);
    } else {
        log::warn!("{source}: {}", outcome.text);
    }
}

/// Sends DTMF as MicroSIP's `DTMFMethod` says: 0 (auto) RFC 2833 with SIP INFO when the call
/// has no telephone-event, 2 RFC 2833, 3 SIP INFO. In-band tones (1) are not generated by this
/// phone: RFC 2833 is used instead, with a warning.
/// A feature code when its `enableFeatureCode*` key is on and it is not empty.
fn feature_code(enabled: bool, code: &str) -> Option<String> {
    (enabled && !code.trim().is_empty()).then(|| code.trim().to_string())
}

fn send_dtmf(
    engine: &dyn CallControl,
    method: config::DtmfMethod,
    call: CallId,
    digits: &str,
) -> Result<(), crate::engine::Error> {
    match method {
        config::DtmfMethod::SipInfo => engine.send_dtmf(call, digits, DtmfVia::SipInfo),
        config::DtmfMethod::Rfc2833 => engine.send_dtmf(call, digits, DtmfVia::Rfc2833),
        config::DtmfMethod::InBand => engine.send_dtmf(call, digits, DtmfVia::InBand),
        // MicroSIP: RFC 2833, in-band when the call has no telephone-event.
        config::DtmfMethod::Auto => engine
            .send_dtmf(call, digits, DtmfVia::Rfc2833)
            .or_else(|_| engine.send_dtmf(call, digits, DtmfVia::InBand)),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::net::SocketAddr;
    use std::path::Path;

    use super::*;
    use crate::app::cli::Options;
    use crate::engine::Error;

    /// An engine that keeps a list of calls and writes down what it is asked to do.
    struct Fake {
        info: EngineInfo,
        calls: RefCell<Vec<CallInfo>>,
        done: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(account: Option<i32>) -> Fake {
            Fake {
                info: EngineInfo {
                    sip_addr: SocketAddr::from(([127, 0, 0, 1], 5060)),
                    tcp_addr: None,
                    tls_addr: None,
                    local_account: Some(AccountId(0)),
                    account: account.map(AccountId),
                },
                calls: RefCell::new(Vec::new()),
                done: RefCell::new(Vec::new()),
            }
        }

        fn with_call(self, id: i32, role: Role, state: CallState, remote: &str) -> Fake {
            self.calls.borrow_mut().push(CallInfo {
                call: CallId(id),
                account: AccountId(0),
                role,
                state,
                media: MediaState::Active,
                remote: remote.into(),
                local: "<sip:me@127.0.0.1>".into(),
                sip_call_id: format!("cid{id}"),
                last_status: 0,
                last_reason: String::new(),
            });
            self
        }

        fn note(&self, what: String) -> engine::Result<()> {
            self.done.borrow_mut().push(what);
            Ok(())
        }

        fn done(&self) -> Vec<String> {
            self.done.borrow().clone()
        }
    }

    impl CallControl for Fake {
        fn info(&self) -> EngineInfo {
            self.info
        }
        fn calls(&self) -> Vec<CallInfo> {
            self.calls.borrow().clone()
        }
        fn call(&self, call: CallId) -> engine::Result<CallInfo> {
            self.calls()
                .into_iter()
                .find(|c| c.call == call)
                .ok_or(Error::NoSuchCall(call))
        }
        fn make_call(&self, account: AccountId, uri: &str) -> engine::Result<CallId> {
            self.note(format!("call {uri} from {account}"))?;
            Ok(CallId(9))
        }
        fn answer(&self, call: CallId, code: u16) -> engine::Result<()> {
            self.note(format!("answer {call} {code}"))
        }
        fn hangup(&self, call: CallId, code: u16, _: Option<&str>) -> engine::Result<()> {
            self.note(format!("hangup {call} {code}"))
        }
        fn send_dtmf(&self, call: CallId, digits: &str, via: DtmfVia) -> engine::Result<()> {
            self.note(format!("dtmf {call} {digits} {via:?}"))
        }
        fn transfer(&self, call: CallId, target: &str) -> engine::Result<()> {
            self.note(format!("refer {call} {target}"))
        }
        fn transfer_replaces(&self, call: CallId, to: CallId) -> engine::Result<()> {
            self.note(format!("refer {call} replaces {to}"))
        }
        fn set_hold(&self, call: CallId, hold: bool) -> engine::Result<()> {
            self.note(format!("hold {call} {hold}"))
        }
        fn send_message(&self, account: AccountId, to: &str, text: &str) -> engine::Result<()> {
            self.note(format!("message {to} {text:?} from {account}"))
        }
        fn play_local_tones(&self, digits: &str, _: f32) {
            let _ = self.note(format!("tones {digits}"));
        }
        fn start_recording(&self, call: CallId, _: &Path) -> engine::Result<RecorderId> {
            self.note(format!("record {call}"))?;
            Ok(RecorderId(1))
        }
        fn stop_recording(&self, _: RecorderId) {}
    }

    fn commands(fake: &Fake, ini: &str) -> Commands {
        let text = format!("[Settings]\nlocalDTMF=0\n{ini}");
        let cfg = config::parse_bytes(Path::new("MicroSIP.ini"), text.as_bytes()).unwrap();
        let setup = crate::app::setup::build(cfg, &Options::default(), None);
        Commands::new(fake, &setup)
    }

    fn run(c: &mut Commands, fake: &Fake, text: &str) -> (Outcome, Flow) {
        c.execute(fake, grammar::parse(text).command)
    }

    const ALICE: &str = "\"A\" <sip:100@127.0.0.1>";
    const BOB: &str = "<sip:101@127.0.0.1>";

    #[test]
    fn answer_takes_the_first_ringing_call_and_single_mode_ends_the_others() {
        let fake = Fake::new(None)
            .with_call(0, Role::Caller, CallState::Confirmed, BOB)
            .with_call(1, Role::Callee, CallState::Early, ALICE)
            .with_call(2, Role::Callee, CallState::Incoming, BOB);
        let mut c = commands(&fake, "singleMode=1\n");
        let (out, flow) = run(&mut c, &fake, "/answer");
        assert!(out.ok, "{out:?}");
        assert_eq!(flow, Flow::Continue);
        assert_eq!(fake.done(), ["hangup 0 0", "answer 1 200"]);

        let fake = Fake::new(None)
            .with_call(0, Role::Caller, CallState::Confirmed, BOB)
            .with_call(1, Role::Callee, CallState::Early, ALICE);
        let mut c = commands(&fake, "singleMode=0\n");
        run(&mut c, &fake, "/answer");
        assert_eq!(fake.done(), ["answer 1 200"]);
    }

    #[test]
    fn one_call_is_answered_or_declined_by_id() {
        let fake = Fake::new(None)
            .with_call(1, Role::Callee, CallState::Early, ALICE)
            .with_call(2, Role::Callee, CallState::Early, BOB)
            .with_call(3, Role::Caller, CallState::Confirmed, BOB);
        let mut c = commands(&fake, "singleMode=0\n");
        assert!(run(&mut c, &fake, "msip:callanswer:2:-486").0.ok);
        assert!(run(&mut c, &fake, "msip:callanswer:1").0.ok);
        let (out, _) = run(&mut c, &fake, "msip:callanswer:3");
        assert!(!out.ok && out.text.contains("not ringing in"), "{out:?}");
        assert!(!run(&mut c, &fake, "msip:callanswer:7").0.ok);
        assert!(run(&mut c, &fake, "msip:callhangup:3").0.ok);
        assert_eq!(fake.done(), ["answer 2 486", "answer 1 200", "hangup 3 0"]);
    }

    #[test]
    fn hangup_commands_pick_their_calls() {
        let fake = Fake::new(None)
            .with_call(0, Role::Caller, CallState::Confirmed, BOB)
            .with_call(1, Role::Callee, CallState::Early, ALICE)
            .with_call(2, Role::Caller, CallState::Early, BOB);
        let mut c = commands(&fake, "");
        run(&mut c, &fake, "/hangupall");
        assert_eq!(
            fake.done(),
            ["hangup 0 0", "hangup 2 0"],
            "ringing-in calls stay"
        );
        fake.done.borrow_mut().clear();
        run(&mut c, &fake, "/hangupincoming");
        assert_eq!(fake.done(), ["hangup 1 0"]);
        fake.done.borrow_mut().clear();
        run(&mut c, &fake, "/hangupcalling");
        assert_eq!(fake.done(), ["hangup 2 0"]);
    }

    #[test]
    fn transfers_use_refer_or_the_feature_codes() {
        let fake = Fake::new(None)
            .with_call(0, Role::Callee, CallState::Confirmed, ALICE)
            .with_call(1, Role::Caller, CallState::Confirmed, BOB);
        let mut c = commands(&fake, "");
        c.on_event(
            &fake,
            &Event::CallState {
                info: fake.call(CallId(1)).unwrap(),
            },
        );
        run(&mut c, &fake, "/transfer:300@127.0.0.1");
        // The selected call is the one confirmed last; the consultation call's own id
        // transfers the other one.
        run(&mut c, &fake, "msip:attendedtransfer:1");
        run(&mut c, &fake, "msip:attendedtransfer:0");
        assert_eq!(
            fake.done(),
            [
                "refer 1 <sip:300@127.0.0.1>",
                "refer 0 replaces 1",
                "refer 1 replaces 0"
            ]
        );
        let fake = Fake::new(None).with_call(0, Role::Callee, CallState::Confirmed, ALICE);
        let mut c = commands(
            &fake,
            "enableFeatureCodeBT=1\nfeatureCodeBT=##\nenableFeatureCodeAT=1\nfeatureCodeAT=*2\n\
             DTMFMethod=3\n",
        );
        run(&mut c, &fake, "/transfer:300");
        run(&mut c, &fake, "msip:attendedtransfer:301");
        assert_eq!(
            fake.done(),
            ["dtmf 0 ##300 SipInfo", "dtmf 0 *2301 SipInfo"]
        );
    }

    #[test]
    fn pickup_dials_the_feature_code() {
        let fake = Fake::new(None);
        let mut c = commands(&fake, "");
        run(&mut c, &fake, "msip:pickup:201@127.0.0.1");
        let fake2 = Fake::new(None);
        let mut c2 = commands(&fake2, "enableFeatureCodeCP=0\n");
        run(&mut c2, &fake2, "msip:pickup:201@127.0.0.1");
        assert_eq!(fake.done(), ["call <sip:**201@127.0.0.1> from 0"]);
        assert_eq!(fake2.done(), ["call <sip:201@127.0.0.1> from 0"]);
    }

    #[test]
    fn window_commands_map_to_microsip_ids() {
        let fake = Fake::new(Some(1));
        let mut c = commands(
            &fake,
            "accountId=1\n[Account1]\ndomain=pbx.example\nusername=100\n\
             [Account2]\ndomain=pbx.example\nusername=200\n",
        );
        assert_eq!(run(&mut c, &fake, "msip:command:32784").1, Flow::Exit);
        let (out, _) = run(&mut c, &fake, "msip:command:32802");
        assert!(out.text.contains("mic muted"), "{out:?}");
        assert_eq!(
            run(&mut c, &fake, "msip:command:40000").1,
            Flow::SwitchAccount { id: 0, then: None },
            "the active account's entry deactivates it"
        );
        assert_eq!(
            run(&mut c, &fake, "msip:command:40001").1,
            Flow::SwitchAccount { id: 2, then: None }
        );
        let (out, flow) = run(&mut c, &fake, "msip:command:40002");
        assert!(!out.ok && flow == Flow::Continue, "{out:?}");
        assert!(!run(&mut c, &fake, "msip:command:1").0.ok);
    }

    #[test]
    fn a_number_waits_for_the_registration() {
        let fake = Fake::new(Some(1));
        let mut c = commands(
            &fake,
            "accountId=1\n[Account1]\nserver=pbx.example\ndomain=pbx.example\nusername=100\n\
             password=x\n",
        );
        let (out, _) = run(&mut c, &fake, "200");
        assert!(out.ok && fake.done().is_empty(), "{out:?}");
        c.on_event(
            &fake,
            &Event::Registration {
                account: AccountId(1),
                code: 200,
                reason: "OK".into(),
                expires: 300,
                renew: false,
            },
        );
        assert_eq!(fake.done(), ["call <sip:200@pbx.example> from 1"]);
    }
}
