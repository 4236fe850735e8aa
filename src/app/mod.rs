//! The `microsip` phone: settings in, engine started, events logged and acted upon, signals
//! handled. Like MicroSIP's `CmainDlg`, one thread owns the engine and reacts to what the
//! SIP callbacks report.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
mod recording;
pub mod setup;
mod sounds;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{after, never, select, unbounded, Receiver};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config;
use crate::control::grammar::Parsed;
use crate::engine::{
    AccountId, CallId, CallState, Engine, Event, IncomingAction, IncomingCall, MediaState,
};
use crate::policy::{self, Policy};

/// Exit code for bad input (settings, command line), as the issue tracker and scripts expect.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the phone could not start (e.g. its SIP port is taken).
pub const EXIT_START_FAILED: u8 = 1;

/// Runs the phone until SIGINT or SIGTERM (or `/exit` through `control`). SIGHUP re-reads the
/// settings and restarts the SIP stack with them, as MicroSIP does when settings are saved.
pub fn run(opts: cli::Options, mut control: commands::Control) -> ExitCode {
    let mut setup = match setup::load(&opts) {
        Ok(s) => s,
        Err(msg) => {
            log::error!("{msg}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let signals = match signal_channel() {
        Ok(rx) => rx,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return ExitCode::from(EXIT_START_FAILED);
        }
    };
    loop {
        match run_stack(&opts, &setup, &mut control, &signals) {
            StackEnd::Exit(code) => return code,
            StackEnd::Reload(new) => {
                log::info!("settings reloaded; SIP stack restarted");
                setup = *new;
            }
        }
    }
}

/// Why a run of the SIP stack ended.
enum StackEnd {
    Exit(ExitCode),
    /// SIGHUP with a usable settings file: run again with it.
    Reload(Box<setup::Setup>),
}

/// SIGHUP: the settings file read again, with what changed logged, or `None` (logged) when
/// the file cannot be used, in which case the phone keeps the settings it runs with.
fn reload(opts: &cli::Options, current: &setup::Setup) -> Option<Box<setup::Setup>> {
    log::info!("SIGHUP: reading {} again", current.config.path.display());
    let new = match setup::load(opts) {
        Ok(new) => new,
        Err(msg) => {
            log::error!("{msg}; keeping the settings in use");
            return None;
        }
    };
    let old: HashMap<String, String> = current.config.effective_values().into_iter().collect();
    let fresh: HashMap<String, String> = new.config.effective_values().into_iter().collect();
    let mut changes: Vec<String> = fresh
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}: {:?} -> {v:?}",
                old.get(k).map(String::as_str).unwrap_or("")
            )
        })
        .chain(
            old.keys()
                .filter(|k| !fresh.contains_key(*k))
                .map(|k| format!("{k}: removed")),
        )
        .collect();
    changes.sort();
    for c in &changes {
        log::info!("changed {c}");
    }
    log::info!(
        "{} setting(s) changed; restarting the SIP stack (calls in progress end)",
        changes.len()
    );
    Some(Box::new(new))
}

/// `/account:N`: saves `accountId=N` in the settings file (keeping everything else in it as it
/// was) and reads it again for the restart; `None` (logged) when that fails.
fn switch_account(
    opts: &cli::Options,
    current: &setup::Setup,
    n: u32,
) -> Option<Box<setup::Setup>> {
    let what = format!("/account:{n}: accountId={n}");
    write_key(current, &what, |cfg| {
        cfg.try_set_setting("accountId", &n.to_string())
    })?;
    restart_with(opts, &what)
}

/// `/account:N /password:PWD`: stores PWD in `[AccountN]` (in plain text: MicroSIP's
/// encryption key is not published) and, when N is the active account, reads the settings
/// again so the stack restarts and re-registers with it. `None` when nothing restarts.
fn store_account_password(
    opts: &cli::Options,
    current: &setup::Setup,
    n: u32,
    password: &str,
) -> Option<Box<setup::Setup>> {
    let what = format!("[Account{n}] password");
    write_key(current, &what, |cfg| {
        cfg.try_set_account_key(n, "password", password)
    })?;
    if current.config.active_account().map(|(id, _)| id) != Some(n) {
        return None;
    }
    restart_with(opts, &what)
}

/// Changes one key of the settings file as it is on disk now (like MicroSIP's
/// WritePrivateProfileString) and saves it; `None` (logged) when that fails.
fn write_key(
    current: &setup::Setup,
    what: &str,
    edit: impl FnOnce(&mut config::Config) -> Result<(), config::ConfigError>,
) -> Option<()> {
    let path = &current.config.path;
    let saved = config::load(path).and_then(|mut cfg| {
        edit(&mut cfg)?;
        cfg.save()
    });
    match saved {
        Ok(()) => {
            log::info!("{what} saved in {}", path.display());
            Some(())
        }
        Err(e) => {
            log::error!("{what} not saved: {e}; nothing changes");
            None
        }
    }
}

/// The settings read again for a restart of the stack; `None` (logged) when they cannot be.
fn restart_with(opts: &cli::Options, what: &str) -> Option<Box<setup::Setup>> {
    match setup::load(opts) {
        Ok(new) => Some(Box::new(new)),
        Err(msg) => {
            log::error!("{what}: {msg}");
            None
        }
    }
}

/// Starts the SIP stack with `setup` and runs it until exit or reload.
fn run_stack(
    opts: &cli::Options,
    setup: &setup::Setup,
    control: &mut commands::Control,
    signals: &Receiver<i32>,
) -> StackEnd {
    let mut reload_to = None;
    let policy = Arc::new(setup.policy.clone());
    let mut engine_settings = setup.engine.clone();
    if let (Some(password), Some(account)) = (
        control.password_override.as_ref(),
        engine_settings.account.as_mut(),
    ) {
        log::info!("{}: using the /password: override", setup.account_name);
        account.password = password.clone();
    }
    let decide = policy.clone();
    engine_settings.incoming = Arc::new(move |call| policy::decide(&decide, call));

    let (engine, events) = match Engine::start(engine_settings) {
        Ok(v) => v,
        Err(e) => {
            log::error!("the SIP engine could not start: {e}");
            return StackEnd::Exit(ExitCode::from(EXIT_START_FAILED));
        }
    };
    // Issue 5: commands are taken from here on (they wait in the channel for the loop).
    control.gate.set_running(true);
    // Issue 6: call audio through the sound devices MicroSIP.ini names (cpal).
    let audio_levels = audio_device(&engine, setup);
    let mut phone = Phone::new(&engine, setup, policy);
    phone.announce();
    // MicroSIP's commands (issue 5): the control socket's requests and our own command line.
    let mut commands = commands::Commands::new(&engine, setup);
    commands.set_password_override(control.password_override.clone());
    commands.set_audio_control(Box::new(LevelsControl(audio_levels)));
    // Issue 6: ringtone, ringback and hang-up sounds.
    let mut sounds = sounds::CallSounds::new(&setup.config.settings);
    let mut exit_requested = match control.startup.take() {
        Some(parsed) => match commands.run_startup(&engine, parsed) {
            commands::Flow::Exit => true,
            commands::Flow::SwitchAccount(n) => {
                reload_to = switch_account(opts, setup, n);
                reload_to.is_some()
            }
            commands::Flow::StoreAccountPassword(_) => {
                if let Some((n, password)) = commands.take_account_password() {
                    reload_to = store_account_password(opts, setup, n, &password);
                }
                reload_to.is_some()
            }
            commands::Flow::Continue => false,
        },
        None => false,
    };
    let (no_requests, mut requests_open) = (never(), true);
    while !exit_requested {
        let timer = match phone.auto_answer {
            Some((_, at)) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let command_timer = match commands.next_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let sound_timer = match sounds.next_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let requests = if requests_open {
            &control.requests
        } else {
            &no_requests
        };
        select! {
            recv(events) -> ev => match ev {
                Ok(ev) => {
                    phone.on_event(ev.clone());
                    commands.on_event(&engine, &ev);
                    sounds.on_event(&ev);
                }
                Err(_) => break,
            },
            recv(timer) -> _ => phone.on_auto_answer_timer(&mut sounds),
            recv(command_timer) -> _ => commands.on_timer(&engine),
            recv(sound_timer) -> _ => sounds.on_timer(),
            recv(requests) -> request => match request {
                Ok(request) => match commands.on_request(&engine, request) {
                    commands::Flow::Exit => {
                        let calls = engine.calls().len();
                        log::info!("/exit: shutting down (ending {calls} call(s), un-registering)");
                        exit_requested = true;
                    }
                    commands::Flow::SwitchAccount(n) => {
                        reload_to = switch_account(opts, setup, n);
                        exit_requested = reload_to.is_some();
                    }
                    commands::Flow::StoreAccountPassword(_) => {
                        if let Some((n, password)) = commands.take_account_password() {
                            reload_to = store_account_password(opts, setup, n, &password);
                            exit_requested = reload_to.is_some();
                        }
                    }
                    commands::Flow::Continue => {}
                },
                Err(_) => requests_open = false,
            },
            recv(signals) -> sig => {
                if sig == Ok(SIGHUP) {
                    reload_to = reload(opts, setup);
                    if reload_to.is_some() {
                        break;
                    }
                    continue;
                }
                let name = match sig { Ok(SIGINT) => "SIGINT", Ok(SIGTERM) => "SIGTERM", _ => "signal" };
                let calls = engine.calls().len();
                log::info!("{name}: shutting down (ending {calls} call(s), un-registering)");
                break;
            }
        }
    }
    if reload_to.is_some() {
        if let Some(then) = commands.take_after_switch() {
            control.startup = Some(Parsed {
                command: then,
                alias: None,
            });
        }
    }
    control.password_override = commands.password_override().map(str::to_string);
    // From here on, commands are dropped (MicroSIP returns TRUE when the stack is not running).
    control.gate.set_running(false);
    // Un-REGISTER first and wait (briefly) for the registrar's answer, so it is logged.
    let mut pending = engine.unregister_all();
    let deadline = Instant::now() + std::time::Duration::from_secs(3);
    while !pending.is_empty() {
        match events.recv_deadline(deadline) {
            Ok(ev) => {
                if let Event::Registration { account, .. } = &ev {
                    pending.retain(|a| a != account);
                }
                phone.log_event(&ev);
            }
            Err(_) => break,
        }
    }
    let names = phone.account_names.clone();
    engine.shutdown();
    // What PJSUA reported while it shut down (the un-REGISTER result, the last call states).
    let mut tail = Phone::detached(names);
    while let Ok(ev) = events.try_recv() {
        tail.log_event(&ev);
    }
    match reload_to {
        Some(new) => StackEnd::Reload(new),
        None => {
            log::info!("stopped");
            StackEnd::Exit(ExitCode::SUCCESS)
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP as a channel, so the main loop can `select!` on them.
fn signal_channel() -> std::io::Result<Receiver<i32>> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let (tx, rx) = unbounded();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}

/// The state the main loop keeps between events.
struct Phone<'e> {
    engine: Option<&'e Engine>,
    policy: Arc<Policy>,
    /// "Account1", "local account": how log lines name PJSUA's accounts.
    account_names: HashMap<AccountId, String>,
    /// MicroSIP's single auto-answer timer: only the first pending call gets one.
    auto_answer: Option<(CallId, Instant)>,
    /// The auto-answer beep plays for the timer's call; it is answered when the beep ends.
    beeping: bool,
    registered: HashMap<AccountId, bool>,
}

impl<'e> Phone<'e> {
    fn new(engine: &'e Engine, setup: &setup::Setup, policy: Arc<Policy>) -> Phone<'e> {
        let info = engine.info();
        let mut names = HashMap::new();
        if let Some(id) = info.local_account {
            names.insert(id, "local account (call by IP)".to_string());
        }
        if let Some(id) = info.account {
            names.insert(id, setup.account_name.clone());
        }
        Phone {
            engine: Some(engine),
            policy,
            account_names: names,
            auto_answer: None,
            beeping: false,
            registered: HashMap::new(),
        }
    }

    /// A phone that only logs (after the engine is gone).
    fn detached(names: HashMap<AccountId, String>) -> Phone<'static> {
        Phone {
            engine: None,
            policy: Arc::new(Policy::default()),
            account_names: names,
            auto_answer: None,
            beeping: false,
            registered: HashMap::new(),
        }
    }

    fn name(&self, acc: AccountId) -> String {
        self.account_names
            .get(&acc)
            .cloned()
            .unwrap_or_else(|| format!("account {acc}"))
    }

    fn announce(&self) {
        let Some(engine) = self.engine else { return };
        let info = engine.info();
        log::info!("started: SIP on udp {}", info.sip_addr);
        if info.local_account.is_some() {
            log::info!(
                "local account (call by IP) listening: sip:{}",
                info.sip_addr
            );
        }
        if info.account.is_none() && info.local_account.is_none() {
            log::warn!("no account is active: set accountId and an [AccountN] with a domain, or accountId=0 for calls by IP");
        }
    }

    fn on_event(&mut self, ev: Event) {
        self.log_event(&ev);
        match ev {
            Event::Incoming {
                info: IncomingCall {
                    call: Some(call), ..
                },
                action:
                    IncomingAction::Ring {
                        answer_after: Some(delay),
                    },
            } if self.auto_answer.is_none() => {
                // MicroSIP's single timer: only the first pending call gets it.
                self.auto_answer = Some((call, Instant::now() + delay));
                self.beeping = false;
            }
            Event::CallState { info }
                if matches!(info.state, CallState::Confirmed | CallState::Disconnected)
                    && self.auto_answer.is_some_and(|(c, _)| c == info.call) =>
            {
                self.auto_answer = None;
            }
            // MicroSIP: the transfer target answered (a 2xx), our leg is hung up.
            Event::TransferStatus { call, code, .. } if code / 100 == 2 => {
                if let Some(engine) = self.engine {
                    if let Err(e) = engine.hangup(call, 0, None) {
                        log::warn!("call {call}: cannot hang up after the transfer: {e}");
                    }
                }
            }
            _ => {}
        }
    }

    /// The auto-answer timer (MicroSIP's `IDT_TIMER_AUTOANSWER` and `onPlayerStop`): with
    /// `localDTMF=1` the beep (`ringing2.wav`) plays first and the call is answered when it
    /// has played; the timer then polls for its end.
    fn on_auto_answer_timer(&mut self, sounds: &mut sounds::CallSounds) {
        let Some((call, _)) = self.auto_answer.take() else {
            return;
        };
        let Some(engine) = self.engine else { return };
        let ringing = engine
            .call(call)
            .is_ok_and(|info| matches!(info.state, CallState::Incoming | CallState::Early));
        if !ringing {
            self.beeping = false;
            return;
        }
        // MicroSIP checks autoAnswerCalls again when the timer fires.
        let others: Vec<_> = engine
            .calls()
            .into_iter()
            .filter(|c| c.call != call && c.state != CallState::Disconnected)
            .collect();
        let active = others
            .iter()
            .filter(|c| c.state == CallState::Confirmed && c.media == MediaState::Active)
            .count();
        if !policy::others_allow_auto_answer(&self.policy, others.len(), active) {
            log::info!("call {call}: not auto-answered (autoAnswerCalls: other calls); it rings");
            self.beeping = false;
            return;
        }
        if !self.beeping && sounds.start_beep() {
            self.beeping = true;
        }
        if self.beeping && !sounds.beep_finished() {
            self.auto_answer = Some((call, Instant::now() + std::time::Duration::from_millis(20)));
            return;
        }
        self.beeping = false;
        log::info!("call {call}: auto-answer");
        if let Err(e) = engine.answer(call, 200) {
            log::warn!("call {call}: auto-answer failed: {e}");
        }
    }

    /// One readable line per event.
    fn log_event(&mut self, ev: &Event) {
        match ev {
            Event::Incoming { info, action } => {
                let what = match action {
                    IncomingAction::Answer => "answering (200)".to_string(),
                    IncomingAction::Ring {
                        answer_after: Some(d),
                    } => format!("ringing (180), auto-answer in {} s", d.as_secs()),
                    IncomingAction::Ring { answer_after: None } => "ringing (180)".to_string(),
                    IncomingAction::Reject { code, reason } => {
                        format!(
                            "rejected ({code}{})",
                            reason.as_ref().map(|r| format!(" {r}")).unwrap_or_default()
                        )
                    }
                };
                let call = info
                    .call
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "?".into());
                log::info!(
                    "incoming call {call} from {} to {}: {what}",
                    info.from,
                    info.to
                );
            }
            Event::CallState { info } => {
                let status = if info.last_status > 0 {
                    format!(" ({} {})", info.last_status, info.last_reason)
                } else {
                    String::new()
                };
                log::info!("call {} {}: {}{status}", info.call, info.remote, info.state);
            }
            Event::Media { call, state } => {
                let text = match state {
                    MediaState::Active => "audio active",
                    MediaState::LocalHold => "on local hold",
                    MediaState::RemoteHold => "on remote hold",
                    MediaState::Error => "audio failed",
                    MediaState::None => "no audio",
                };
                log::info!("call {call}: {text}");
            }
            Event::Registration {
                account,
                code,
                reason,
                expires,
                ..
            } => {
                let name = self.name(*account);
                let was = self.registered.get(account).copied().unwrap_or(false);
                if (200..300).contains(code) && *expires > 0 {
                    self.registered.insert(*account, true);
                    log::info!("registered: {name}: {code} {reason}, expires in {expires} s");
                } else if (200..300).contains(code) {
                    self.registered.insert(*account, false);
                    log::info!("unregistered: {name}: {code} {reason}");
                } else {
                    self.registered.insert(*account, false);
                    let hint = match code {
                        401 | 403 | 407 => " (check username, authID and password)",
                        408 | 502 | 503 => " (is the server reachable?)",
                        _ => "",
                    };
                    let lost = if was { ", registration lost" } else { "" };
                    log::warn!(
                        "registration failed: {name}: {code} {reason}{hint}{lost}; will retry"
                    );
                }
            }
            Event::Dtmf {
                call,
                digit,
                duration_ms,
            } => log::info!("call {call}: DTMF {digit} ({duration_ms} ms)"),
            // Text from the far end (URIs, reason phrases, message bodies) is logged escaped:
            // one line per event, whatever it contains.
            Event::TransferRequest {
                call,
                target,
                accepted,
            } => {
                let what = if *accepted {
                    "accepted (202), calling the target"
                } else {
                    "refused (603)"
                };
                log::info!("call {call}: Call Transfer: {target:?}: {what}");
            }
            Event::TransferStatus {
                call,
                code,
                text,
                last,
            } => {
                let last = if *last { " [Final]" } else { "" };
                let done = if code / 100 == 2 {
                    "; transferred, hanging up"
                } else {
                    ""
                };
                log::info!("call {call}: Call Transfer: {code} {text:?}{last}{done}");
            }
            Event::Redirected { call, target } => {
                log::info!("call {call}: redirected, calling {target:?}");
            }
            Event::Message {
                account,
                from,
                to,
                body,
                ..
            } => {
                let name = self.name(*account);
                log::info!("message from {from:?} to {to:?} ({name}): {body:?}");
            }
            Event::Mwi {
                account,
                waiting,
                new,
                old,
            } => {
                let name = self.name(*account);
                let waiting = if *waiting { "yes" } else { "no" };
                log::info!("voicemail: {name}: messages waiting: {waiting} ({new} new, {old} old)");
            }
        }
    }
}

/// Issue 6: plays call audio through cpal on the devices `audioOutputDevice` and
/// `audioInputDevice` name, at `volumeOutput` / `volumeInput`. The devices open when a call
/// gets audio; with none usable, calls go on without local audio (a warning says why).
fn audio_device(engine: &Engine, setup: &setup::Setup) -> Arc<crate::audio::Levels> {
    let s = &setup.config.settings;
    let levels = Arc::new(crate::audio::Levels::default());
    levels.set_speaker_volume(s.volume_output);
    levels.set_mic_volume(s.volume_input);
    levels.set_mic_amplification(s.mic_amplification);
    let names = crate::audio::DeviceNames::from_settings(s);
    engine.set_audio_device(Box::new(crate::audio::CpalAudio::new(
        names,
        levels.clone(),
    )));
    levels
}

/// Issue 6: `msip:micmute`, `speakmute`, `micup`... reach the sound device's streams.
struct LevelsControl(Arc<crate::audio::Levels>);

impl commands::AudioControl for LevelsControl {
    fn apply(&mut self, state: &commands::AudioState) {
        self.0.set_mic_mute(state.mic_muted);
        self.0.set_speaker_mute(state.speaker_muted);
        self.0.set_mic_volume(state.mic_level);
        self.0.set_speaker_volume(state.speaker_level);
    }
}
