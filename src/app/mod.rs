//! The `microsip` phone: settings in, engine started, events logged and acted upon, signals
//! handled. Like MicroSIP's `CmainDlg`, one thread owns the engine and reacts to what the
//! SIP callbacks report.
#![forbid(unsafe_code)]

pub mod alert;
pub mod alerting;
pub mod cli;
pub mod clidoc;
pub mod commands;
pub mod events;
pub mod hooks;
pub mod instance;
mod recording;
mod service;
pub mod setup;
mod sounds;
pub mod status;
pub mod webhook;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{after, never, select, unbounded, Receiver};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config;
use crate::control::dispatch::Outcome;
use crate::control::grammar::{self, Command};
use crate::control::hub::EventHub;
use crate::engine::{
    AccountId, CallId, CallState, Engine, Event, IncomingAction, IncomingCall, MediaState,
};
use crate::policy::{self, Policy};

/// How long after a call ended the phone gives freed memory back to the system: by then
/// PJSIP's transactions for the calls that ended are over (Timer J, 32 s on UDP) and their
/// pools are freed. Once per batch of ended calls, so an idle phone never wakes for it.
const TRIM_AFTER_LAST_CALL: Duration = Duration::from_secs(35);

/// Memory given back that the log reports at info level (a burst's), in kB.
const RETURN_WORTH_SAYING_KB: u64 = 1024;

/// This process's resident memory (VmRSS), in kB; None where /proc does not say.
fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Writes `text` to stdout; a reader that has gone (`microsip --check | head -1`) ends the
/// output quietly instead of a panic. Returns whether all of it was written.
pub fn print_out(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Exit code for bad input (settings, command line), as the issue tracker and scripts expect.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the phone could not start (e.g. its SIP port is taken).
pub const EXIT_START_FAILED: u8 = 1;

/// Runs the phone until SIGINT or SIGTERM (or `/exit` through `control`). SIGHUP re-reads the
/// settings and restarts the SIP stack with them, as MicroSIP does when settings are saved.
pub fn run(opts: cli::Options, mut control: commands::Control) -> ExitCode {
    status::mark_start();
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
    // [Alerting]: the HTTP receiver for alerting systems, for the life of the process.
    let (alerting_tx, alerting_rx) = unbounded();
    let alerting_status: alerting::Status = Default::default();
    match alerting::AlertingSettings::from_config(&setup.config) {
        Ok(Some(settings)) => {
            if let Err(e) = alerting::start(settings, alerting_tx, alerting_status.clone()) {
                log::error!("{e}; no alerting receiver");
            }
        }
        Ok(None) => {}
        Err(e) => log::error!("{e}; no alerting receiver"),
    }
    let alerting = Alerting {
        requests: alerting_rx,
        status: alerting_status,
    };
    let mut service = service::Service::from_env();
    loop {
        match run_stack(
            &opts,
            &mut setup,
            &mut control,
            &signals,
            &alerting,
            &mut service,
        ) {
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

/// SIGHUP: the settings file read again, with what changed logged; `None` (logged) when the
/// file cannot be used (the phone keeps the settings it runs with) or when nothing changed
/// (the stack and its calls go on), unless a `/password:` override (`new_password`) waits for
/// the account to be added again.
fn reload(
    opts: &cli::Options,
    current: &setup::Setup,
    new_password: bool,
) -> Option<Box<setup::Setup>> {
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
    if changes.is_empty() && new_password {
        log::info!("no setting changed; the account is added again with the /password: override");
        return Some(Box::new(new));
    }
    if changes.is_empty() {
        log::info!(
            "SIGHUP: no setting of {} changed; the SIP stack, its registration and its calls \
             go on",
            current.config.path.display()
        );
        return None;
    }
    for c in &changes {
        log::info!("changed {c}");
    }
    // Every key is applied by a restart of the stack (as MicroSIP applies saved settings):
    // the line names the keys that force it.
    let keys: Vec<&str> = changes
        .iter()
        .map(|c| c.split_once(':').map_or(c.as_str(), |(k, _)| k))
        .collect();
    log::info!(
        "restarting the SIP stack for {} (calls in progress end)",
        keys.join(", ")
    );
    Some(Box::new(new))
}

/// `/account:N`: saves `accountId=N` in the settings file (keeping everything else in it as it
/// was) and reads it again; `None` (logged) when that fails.
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
/// again so that it re-registers with it. `None` when nothing changes.
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

/// The settings read again after a change; `None` (logged) when they cannot be.
fn restart_with(opts: &cli::Options, what: &str) -> Option<Box<setup::Setup>> {
    match setup::load(opts) {
        Ok(new) => Some(Box::new(new)),
        Err(msg) => {
            log::error!("{what}: {msg}");
            None
        }
    }
}

/// The phone's pieces a command's [`commands::Flow`] may change while the stack runs.
struct Live<'a, 'e> {
    opts: &'a cli::Options,
    setup: &'a mut setup::Setup,
    engine: &'e Engine,
    policy: &'a RwLock<Arc<Policy>>,
    phone: &'a mut Phone<'e>,
    commands: &'a mut commands::Commands,
    hooks: &'a mut hooks::Runner,
    /// Alert calls in progress.
    alerts: Vec<RunningAlert>,
}

/// An alert call in progress, by its id.
struct RunningAlert {
    id: String,
    alert: alert::Alert,
    /// Started by this process's own `--alert`: its report goes to stdout, and the phone
    /// exits with its code when it is over.
    own: bool,
}

impl Live<'_, '_> {
    /// `msip:status`: the registrations, the calls, the uptime and the last problem.
    fn status_json(&self) -> serde_json::Value {
        let info = self.engine.info();
        let mut accounts = Vec::new();
        if let Some(id) = info.account {
            accounts.push(status::AccountStatus {
                name: self.phone.name(id),
                registration: if registers(self.setup) {
                    self.phone
                        .registered
                        .get(&id)
                        .cloned()
                        .unwrap_or(status::Registration::Pending)
                } else {
                    status::Registration::NotRegistering
                },
            });
        }
        if let Some(id) = info.local_account {
            accounts.push(status::AccountStatus {
                name: self.phone.name(id),
                registration: status::Registration::NotRegistering,
            });
        }
        status::to_json(
            &self.setup.config.path,
            &info.sip_addr.to_string(),
            &accounts,
            &self.engine.calls(),
            crate::logging::last_problem().as_ref(),
        )
    }

    /// systemd hears of the active account's registration: ready on the first success.
    fn tell_service(&self, service: &mut service::Service, ev: &Event) {
        let Event::Registration {
            account,
            code,
            reason,
            expires,
            ..
        } = ev
        else {
            return;
        };
        if Some(*account) != self.engine.info().account {
            return;
        }
        let name = self.phone.name(*account);
        if (200..300).contains(code) && *expires > 0 {
            service.ready(&format!("registered: {name}"));
        } else {
            service.status(&format!(
                "not registered: {name}: {code} {}",
                crate::logging::one_entry(reason, false)
            ));
        }
    }

    /// Acts on what a command asks of the main loop; `true` when the phone is to stop.
    fn apply(&mut self, flow: commands::Flow) -> bool {
        match flow {
            commands::Flow::Continue => false,
            commands::Flow::Exit => {
                let calls = self.engine.calls().len();
                log::info!("/exit: shutting down (ending {calls} call(s), un-registering)");
                true
            }
            commands::Flow::SwitchAccount { id, then } => {
                if let Some(new) = switch_account(self.opts, self.setup, id) {
                    self.change_account(*new);
                    if let Some(then) = then {
                        let (outcome, flow) = self.commands.execute(self.engine, then);
                        commands::log_outcome(&format!("/account:{id}"), &outcome);
                        return self.apply(flow);
                    }
                }
                false
            }
            commands::Flow::StoreAccountPassword { account, password } => {
                if let Some(new) = store_account_password(self.opts, self.setup, account, &password)
                {
                    self.change_account(*new);
                }
                false
            }
            commands::Flow::StartAlert { id, args } => {
                let prepared = alert::AlertSpec::parse(&args).and_then(|spec| {
                    let prompt = alert::Sound::prompt(&spec.prompt)?;
                    Ok((spec, prompt))
                });
                match prepared {
                    Ok((spec, prompt)) => self.start_alert(id, spec, prompt, false),
                    Err(e) => {
                        log::warn!("alert {id}: {e}");
                        self.phone.outbox.push(events::AppEvent::AlertDone {
                            alert: id,
                            code: alert::USAGE,
                            acknowledged_by: None,
                        });
                    }
                }
                false
            }
        }
    }

    /// Starts an alert call.
    fn start_alert(&mut self, id: String, spec: alert::AlertSpec, prompt: alert::Sound, own: bool) {
        let a = alert::Alert::new(
            spec,
            prompt,
            alert::Sound::confirmation(),
            self.engine,
            self.setup,
        );
        self.alerts.push(RunningAlert { id, alert: a, own });
    }

    /// A request of the alerting receiver.
    fn on_alerting(&mut self, request: alerting::AlertingRequest) {
        match request {
            alerting::AlertingRequest::Start { id, spec, prompt } => {
                if self.alerts.iter().any(|a| a.id == id) {
                    log::info!("alert {id}: already in progress");
                } else {
                    log::info!("alert {id}: calling {}", spec.targets.join(", "));
                    self.start_alert(id, spec, prompt, false);
                }
            }
            alerting::AlertingRequest::Cancel { id } => {
                match self.alerts.iter_mut().find(|a| a.id == id) {
                    Some(a) => {
                        log::info!("alert {id}: resolved; called off");
                        a.alert.cancel(self.engine);
                    }
                    None => log::info!("alert {id}: resolved; nothing in progress"),
                }
            }
        }
    }

    /// What `GET /status` shows: the alerts in progress.
    fn alert_status(&self) -> Vec<serde_json::Value> {
        self.alerts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "alert": a.id,
                    "targets": a.alert.targets(),
                    "attempts": a.alert.attempts().len(),
                })
            })
            .collect()
    }

    /// The calls the alerts in progress placed.
    fn alert_calls(&self) -> std::collections::HashSet<CallId> {
        self.alerts.iter().flat_map(|a| a.alert.calls()).collect()
    }

    /// When the next alert timer is due.
    fn alert_timer(&self) -> Option<Instant> {
        self.alerts
            .iter()
            .filter_map(|a| a.alert.next_timer())
            .min()
    }

    /// Hands the alerts their events and due timers.
    fn alerts_on_event(&mut self, ev: &Event) {
        for a in &mut self.alerts {
            a.alert.on_event(self.engine, ev);
        }
    }

    fn alerts_on_timer(&mut self) {
        for a in &mut self.alerts {
            a.alert.on_timer(self.engine);
        }
    }

    /// Publishes what the alerts did (and prints this process's own); returns the exit code
    /// when this process's own alert is over.
    fn report_alerts(&mut self) -> Option<u8> {
        let mut own_code = None;
        let mut i = 0;
        while i < self.alerts.len() {
            let a = &mut self.alerts[i];
            for attempt in a.alert.take_reports() {
                if a.own {
                    print_attempt(&a.alert, &attempt);
                }
                self.phone.outbox.push(events::AppEvent::AlertAttempt {
                    alert: a.id.clone(),
                    attempt,
                });
            }
            match a.alert.exit_code() {
                Some(code) => {
                    let a = self.alerts.remove(i);
                    let by = a.alert.acknowledged_by().map(|b| b.target.clone());
                    if a.own {
                        print_result(&a.alert, code);
                        own_code = Some(code);
                    }
                    self.phone.outbox.push(events::AppEvent::AlertDone {
                        alert: a.id,
                        code,
                        acknowledged_by: by,
                    });
                }
                None => i += 1,
            }
        }
        own_code
    }

    /// Puts the active account of `new` in place of the running one (MicroSIP's account
    /// switch): the old account un-REGISTERs and goes, the new one registers; the local
    /// account and its calls stay.
    fn change_account(&mut self, new: setup::Setup) {
        let password = self.commands.password_override().map(str::to_string);
        let mut account = new.engine.account.clone();
        if let (Some(pw), Some(a)) = (password.as_ref(), account.as_mut()) {
            a.password = pw.clone();
        }
        match self
            .engine
            .switch_account(account.as_ref(), new.engine.local_account)
        {
            Ok(id) => self.phone.outbox.push(events::AppEvent::AccountSwitched {
                account: id.map(|_| new.account_name.clone()),
            }),
            Err(e) => log::error!("switching the account: {e}"),
        }
        *self.policy.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new.policy.clone());
        self.phone.account_changed(&new);
        self.commands.account_changed(self.engine, &new);
        self.hooks
            .set_account(account_facts(&new, password.as_deref()));
        *self.setup = new;
    }
}

/// Starts the SIP stack with `setup` and runs it until exit or reload.
/// The alerting receiver's side of the main loop.
struct Alerting {
    requests: Receiver<alerting::AlertingRequest>,
    status: alerting::Status,
}

fn run_stack(
    opts: &cli::Options,
    setup: &mut setup::Setup,
    control: &mut commands::Control,
    signals: &Receiver<i32>,
    alerting: &Alerting,
    service: &mut service::Service,
) -> StackEnd {
    let mut reload_to = None;
    let policy = Arc::new(RwLock::new(Arc::new(setup.policy.clone())));
    let mut engine_settings = setup.engine.clone();
    let started_password = control.password_override.clone();
    if let (Some(password), Some(account)) = (
        control.password_override.as_ref(),
        engine_settings.account.as_mut(),
    ) {
        log::info!("{}: using the /password: override", setup.account_name);
        account.password = password.clone();
    }
    let decide = policy.clone();
    engine_settings.incoming = Arc::new(move |call| {
        let current = decide.read().unwrap_or_else(|e| e.into_inner()).clone();
        policy::decide(&current, call)
    });

    let (engine, events) = match Engine::start(engine_settings) {
        Ok(v) => v,
        Err(e) => {
            log::error!("the SIP engine could not start: {e}");
            return StackEnd::Exit(ExitCode::from(EXIT_START_FAILED));
        }
    };
    // Commands are taken from here on (they wait in the channel for the loop).
    control.gate.set_running(true);
    // Call audio through the sound devices MicroSIP.ini names (cpal).
    let audio_levels = audio_device(&engine, setup);
    let mut phone = Phone::new(&engine, setup, Arc::new(setup.policy.clone()));
    phone.announce();
    // systemd: ready once the account is registered, or now when nothing registers.
    if !registers(setup) {
        service.ready(&format!("running: SIP on {}", engine.info().sip_addr));
    }
    // MicroSIP's commands: the control socket's requests and our own command line.
    let mut commands = commands::Commands::new(&engine, setup);
    commands.set_password_override(control.password_override.clone());
    commands.set_audio_control(Box::new(LevelsControl(audio_levels)));
    // Ringtone, ringback and hang-up sounds.
    let mut sounds = sounds::CallSounds::new(&setup.config.settings);
    // The cmd* hooks, on threads of their own; their results come back to this loop.
    let (hook_results_tx, hook_results) = unbounded();
    let mut hooks = hooks::Runner::new(
        &setup.config.settings,
        account_facts(setup, control.password_override.as_deref()),
        hook_results_tx,
    );
    let mut hook_tracker = hooks::Tracker::default();
    // webhookUrl: the events, POSTed by a thread of its own.
    let webhook = start_webhook(&setup.config.settings.webhook_url);
    let sink = EventSink {
        hub: &control.events,
        webhook: webhook.as_ref(),
    };
    let own_alert = control.alert.take();
    let mut alert_code = None;
    let startup = control.startup.take();
    let mut live = Live {
        opts,
        setup,
        engine: &engine,
        policy: &policy,
        phone: &mut phone,
        commands: &mut commands,
        hooks: &mut hooks,
        alerts: Vec::new(),
    };
    if let Some((spec, prompt)) = own_alert {
        live.start_alert(format!("{}", std::process::id()), spec, prompt, true);
    }
    let mut exit_requested = match startup {
        Some(parsed) => {
            let flow = live.commands.run_startup(&engine, parsed);
            live.apply(flow)
        }
        None => false,
    };
    let (no_requests, mut requests_open) = (never(), true);
    // When freed memory next goes back to the system, and when the last call ended.
    let (mut trim_at, mut last_end): (Option<Instant>, Option<Instant>) = (None, None);
    // Whether the last return of memory was said at info level (see the trim below).
    let mut return_said = false;
    while !exit_requested {
        if let Some(code) = live.report_alerts() {
            alert_code = Some(code);
            break;
        }
        // GET /status: written only while alerts run (and once when the last one ends).
        {
            let mut status = alerting.status.lock().unwrap_or_else(|e| e.into_inner());
            if !live.alerts.is_empty() || !status.is_empty() {
                *status = live.alert_status();
            }
        }
        for event in live.phone.outbox.drain() {
            publish(&event);
            stream(&sink, &live.phone.account_names, event.into());
        }
        let timer = match live.phone.next_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let command_timer = match live.commands.next_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let sound_timer = match sounds.next_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let alert_timer = match live.alert_timer() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let watchdog = match service.next_ping() {
            Some(at) => after(at.saturating_duration_since(Instant::now())),
            None => never(),
        };
        let trim_timer = match trim_at {
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
                    fire_hooks(&mut hook_tracker, live.hooks, &ev);
                    stream(&sink, &live.phone.account_names, ev.clone().into());
                    live.phone.alert_calls = live.alert_calls();
                    live.phone.on_event(ev.clone());
                    live.tell_service(service, &ev);
                    live.commands.on_event(&engine, &ev);
                    sounds.on_event(&ev);
                    live.alerts_on_event(&ev);
                    // Counted from the first call that ends after the last return, not
                    // postponed by later ones, so that stragglers of a burst ending one by
                    // one (up to rtpTimeout later) do not hold the burst's memory.
                    if matches!(&ev, Event::CallState { info } if info.state == CallState::Disconnected) {
                        let now = Instant::now();
                        last_end = Some(now);
                        trim_at.get_or_insert(now + TRIM_AFTER_LAST_CALL);
                    }
                }
                Err(_) => break,
            },
            recv(trim_timer) -> _ => {
                // Calls that ended less than TRIM_AFTER_LAST_CALL ago still hold their
                // transactions: once more when they are over.
                trim_at = last_end
                    .map(|end| end + TRIM_AFTER_LAST_CALL)
                    .filter(|at| *at > Instant::now());
                // Also with calls still up: after a burst, a few calls a caller abandoned
                // may last until rtpTimeout, and the burst's memory should not wait for them.
                let before = resident_kb();
                engine.return_free_memory();
                let after = resident_kb();
                // Said at info level when a burst's memory went back, and once more at the
                // next return, which ends the burst's story (an intercom's single calls
                // return next to nothing, and get a debug line).
                let worth = matches!((before, after),
                    (Some(b), Some(a)) if b.saturating_sub(a) >= RETURN_WORTH_SAYING_KB);
                let level = if worth || return_said {
                    log::Level::Info
                } else {
                    log::Level::Debug
                };
                return_said = worth;
                log::log!(
                    level,
                    "memory: calls ended a while ago; free memory returned to the system \
                     (resident {} kB, was {} kB)",
                    after.map_or("?".into(), |v| v.to_string()),
                    before.map_or("?".into(), |v| v.to_string())
                );
            },
            recv(alert_timer) -> _ => live.alerts_on_timer(),
            recv(alerting.requests) -> request => {
                if let Ok(request) = request {
                    live.on_alerting(request);
                }
            },
            recv(hook_results) -> result => {
                if let Ok(result) = result {
                    live.phone.outbox.push(events::AppEvent::Hook(result));
                }
            },
            recv(timer) -> _ => live.phone.on_timer(&mut sounds),
            recv(command_timer) -> _ => live.commands.on_timer(&engine),
            recv(sound_timer) -> _ => sounds.on_timer(),
            recv(watchdog) -> _ => service.ping(),
            recv(requests) -> request => match request {
                // The registrations are known here, not to the commands.
                Ok(request) if grammar::parse(&request.text).command == Command::Status => {
                    request.answer(Outcome::ok(live.status_json().to_string()));
                }
                Ok(request) => {
                    let flow = live.commands.on_request(&engine, request);
                    exit_requested = live.apply(flow);
                }
                Err(_) => requests_open = false,
            },
            recv(signals) -> sig => {
                if sig == Ok(SIGHUP) {
                    // A /password: override waits for the account to be added again.
                    let new_password = live.commands.password_override() != started_password.as_deref();
                    reload_to = reload(opts, live.setup, new_password);
                    if reload_to.is_some() {
                        service.reloading();
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
    if reload_to.is_none() {
        service.stopping();
    }
    control.password_override = live.commands.password_override().map(str::to_string);
    // From here on, commands are dropped (MicroSIP returns TRUE when the stack is not running).
    control.gate.set_running(false);
    // Un-REGISTER first and wait (briefly) for the registrar's answer, so it is logged.
    let mut pending = engine.unregister_all();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !pending.is_empty() {
        match events.recv_deadline(deadline) {
            Ok(ev) => {
                if let Event::Registration { account, .. } = &ev {
                    pending.retain(|a| a != account);
                }
                fire_hooks(&mut hook_tracker, live.hooks, &ev);
                stream(&sink, &live.phone.account_names, ev.clone().into());
                live.phone.log_event(&ev);
            }
            Err(_) => break,
        }
    }
    for event in live.phone.outbox.drain() {
        publish(&event);
        stream(&sink, &live.phone.account_names, event.into());
    }
    let names = live.phone.account_names.clone();
    engine.shutdown();
    // The end hooks of the calls the shutdown ended, then the hooks still running.
    let mut tail_events = Vec::new();
    while let Ok(ev) = events.try_recv() {
        fire_hooks(&mut hook_tracker, &mut hooks, &ev);
        stream(&sink, &names, ev.clone().into());
        tail_events.push(ev);
    }
    hooks.finish();
    while let Ok(result) = hook_results.try_recv() {
        let event = events::AppEvent::Hook(result);
        publish(&event);
        stream(&sink, &names, event.into());
    }
    // What PJSUA reported while it shut down (the un-REGISTER result, the last call states).
    let mut tail = Phone::detached(names);
    for ev in &tail_events {
        tail.log_event(ev);
    }
    if let Some(w) = webhook {
        w.finish(Duration::from_secs(5));
    }
    match (reload_to, alert_code) {
        (_, Some(code)) => StackEnd::Exit(ExitCode::from(code)),
        (Some(new), None) => StackEnd::Reload(new),
        (None, None) => {
            log::info!("stopped");
            StackEnd::Exit(ExitCode::SUCCESS)
        }
    }
}

/// Whether the active account registers (it has a registrar).
fn registers(setup: &setup::Setup) -> bool {
    setup
        .engine
        .account
        .as_ref()
        .is_some_and(|a| a.registrar.is_some())
}

/// What `cmdOutgoingCall`'s placeholders name: the active account (or the local one).
fn account_facts(setup: &setup::Setup, password_override: Option<&str>) -> hooks::AccountFacts {
    match setup.config.active_account() {
        Some((_, account)) => hooks::AccountFacts {
            server: if account.server.is_empty() {
                "localhost".to_string()
            } else {
                account.server.clone()
            },
            extension: account.username.clone(),
            password: password_override
                .map(str::to_string)
                .unwrap_or_else(|| account.password.clone()),
        },
        None => hooks::AccountFacts {
            server: "localhost".to_string(),
            ..Default::default()
        },
    }
}

/// Starts the hooks `ev` fires.
fn fire_hooks(tracker: &mut hooks::Tracker, runner: &mut hooks::Runner, ev: &Event) {
    if runner.is_empty() {
        return;
    }
    for firing in tracker.on_event(ev) {
        runner.run(firing);
    }
}

/// One attempt of this process's own alert on stdout: a line, or JSON with `--json`.
fn print_attempt(a: &alert::Alert, attempt: &alert::Attempt) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = if a.json() {
        writeln!(out, "{}", attempt.to_json())
    } else {
        writeln!(out, "{}", attempt.describe())
    };
    let _ = out.flush();
}

/// The end of this process's own alert on stdout.
fn print_result(a: &alert::Alert, code: u8) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let by = a.acknowledged_by();
    let _ = if a.json() {
        let who = by.map(|b| b.target.as_str());
        writeln!(
            out,
            "{}",
            alert::result_json(code, who, Some(a.attempts().len()))
        )
    } else {
        match by {
            Some(b) => writeln!(out, "alert: acknowledged by {}", b.target),
            None if code == alert::NOT_ACKNOWLEDGED => {
                writeln!(out, "alert: answered, but nobody acknowledged")
            }
            None => writeln!(out, "alert: nobody was reached"),
        }
    };
    let _ = out.flush();
}

/// Where the events go as JSON: the stream's subscribers and the webhook.
struct EventSink<'a> {
    hub: &'a EventHub,
    webhook: Option<&'a webhook::Webhook>,
}

/// Hands `event` to the event stream's subscribers and the webhook, as JSON (nothing to do
/// without either).
fn stream(sink: &EventSink<'_>, accounts: &HashMap<AccountId, String>, event: events::PhoneEvent) {
    if sink.hub.subscribers() == 0 && sink.webhook.is_none() {
        return;
    }
    for object in event.to_json(accounts) {
        let text = object.to_string();
        sink.hub.publish(&text);
        if let Some(w) = sink.webhook {
            w.post(text);
        }
    }
}

/// The webhook of `webhookUrl`, or `None` when it is empty or unusable (logged).
fn start_webhook(url: &str) -> Option<webhook::Webhook> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    if let Err(e) = webhook::check_url(url) {
        log::warn!("{e}; no webhook");
        return None;
    }
    match webhook::Webhook::start(url) {
        Ok(w) => {
            log::info!("webhook: events are POSTed to {url}");
            Some(w)
        }
        Err(e) => {
            log::warn!("webhook: cannot start ({e}); no webhook");
            None
        }
    }
}

/// Publishes one of the phone's own outcomes: the log line (a warning for a failure).
fn publish(event: &events::AppEvent) {
    if event.is_failure() {
        log::warn!("{}", event.describe());
    } else {
        log::info!("{}", event.describe());
    }
}

/// Removes the calls whose time has come from `timers` and returns them.
fn take_due(timers: &mut HashMap<CallId, Instant>, now: Instant) -> Vec<CallId> {
    let due: Vec<CallId> = timers
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(c, _)| *c)
        .collect();
    for call in &due {
        timers.remove(call);
    }
    due
}

/// The active account's `registerRetry` (0 when no account registers).
fn register_retry(setup: &setup::Setup) -> u32 {
    setup
        .config
        .active_account()
        .map_or(0, |(_, a)| a.register_retry)
}

/// How often a connected call's incoming RTP is looked at (`rtpTimeout`); only while calls
/// are connected, so an idle phone never wakes up for it.
const RTP_CHECK: Duration = Duration::from_secs(1);

/// One connected call's incoming RTP, as `rtpTimeout` watches it.
struct RtpWatch {
    /// When to look again.
    next_check: Instant,
    /// The packet count last seen; `None` while no RTP is expected (on hold, no audio).
    count: Option<u64>,
    /// Since when the count has not moved (or RTP was not expected).
    since: Instant,
}

impl RtpWatch {
    /// Watching starts when the call connects: a peer that never sends counts from then.
    fn new(now: Instant) -> RtpWatch {
        RtpWatch {
            next_check: now + RTP_CHECK,
            count: Some(0),
            since: now,
        }
    }

    /// Takes the call's packet count (`None`: no RTP expected now); true when it has not
    /// moved for `timeout`.
    fn observe(&mut self, count: Option<u64>, now: Instant, timeout: Duration) -> bool {
        if count.is_none() || count != self.count {
            self.count = count;
            self.since = now;
        } else if now.duration_since(self.since) >= timeout {
            return true;
        }
        self.next_check = (now + RTP_CHECK)
            .min(self.since + timeout)
            .max(now + Duration::from_millis(10));
        false
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
    /// Ringing calls to forward (`forwardingDelay`), and when.
    forwards: HashMap<CallId, Instant>,
    /// `autoHangUpTime`: how long a connected call may last.
    max_duration: Option<Duration>,
    /// Connected calls and when `autoHangUpTime` ends them.
    hang_ups: HashMap<CallId, Instant>,
    /// `rtpTimeout`: how long a connected call may receive no RTP.
    rtp_timeout: Option<Duration>,
    /// Connected calls whose incoming RTP is watched (`rtpTimeout`).
    rtp_watch: HashMap<CallId, RtpWatch>,
    /// `singleMode` and `AC`.
    multi_call: policy::MultiCall,
    /// The calls in the local conference.
    conference: std::collections::HashSet<CallId>,
    /// The calls that alerts placed: their own business, neither held for a new call nor
    /// holding the others (the main loop keeps it current).
    alert_calls: std::collections::HashSet<CallId>,
    /// What the phone did on its own, for the main loop to publish.
    outbox: events::Outbox,
    /// Each account's last registration answer (for `--status`).
    registered: HashMap<AccountId, status::Registration>,
    /// The active account's `registerRetry` (seconds), for the log.
    register_retry: u32,
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
            forwards: HashMap::new(),
            max_duration: match setup.config.settings.auto_hang_up_time {
                0 => None,
                secs => Some(Duration::from_secs(u64::from(secs))),
            },
            hang_ups: HashMap::new(),
            rtp_timeout: match setup.config.settings.rtp_timeout {
                0 => None,
                secs => Some(Duration::from_secs(u64::from(secs))),
            },
            rtp_watch: HashMap::new(),
            multi_call: policy::MultiCall {
                single_mode: setup.config.settings.single_mode,
                auto_conference: setup.config.settings.ac,
            },
            conference: Default::default(),
            alert_calls: Default::default(),
            outbox: Default::default(),
            registered: HashMap::new(),
            register_retry: register_retry(setup),
        }
    }

    /// The active account changed: log lines name it, decisions follow its policy.
    fn account_changed(&mut self, setup: &setup::Setup) {
        let Some(engine) = self.engine else { return };
        let info = engine.info();
        self.account_names
            .retain(|id, _| Some(*id) == info.local_account);
        if let Some(id) = info.local_account {
            self.account_names
                .insert(id, "local account (call by IP)".to_string());
        }
        if let Some(id) = info.account {
            self.account_names.insert(id, setup.account_name.clone());
        }
        self.policy = Arc::new(setup.policy.clone());
        self.register_retry = register_retry(setup);
    }

    /// A phone that only logs (after the engine is gone).
    fn detached(names: HashMap<AccountId, String>) -> Phone<'static> {
        Phone {
            engine: None,
            policy: Arc::new(Policy::default()),
            account_names: names,
            auto_answer: None,
            beeping: false,
            forwards: HashMap::new(),
            max_duration: None,
            hang_ups: HashMap::new(),
            rtp_timeout: None,
            rtp_watch: HashMap::new(),
            multi_call: policy::MultiCall::default(),
            conference: Default::default(),
            alert_calls: Default::default(),
            outbox: Default::default(),
            registered: HashMap::new(),
            register_retry: 0,
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
        let addr =
            |a: Option<std::net::SocketAddr>| a.map_or("none".to_string(), |a| a.to_string());
        log::info!(
            "SIP over tcp on {}, tls on {}",
            addr(info.tcp_addr),
            addr(info.tls_addr)
        );
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
                        answer_after,
                        forward_after,
                    },
            } => {
                // MicroSIP's single timer: only the first pending call gets it.
                if let (Some(delay), None) = (answer_after, self.auto_answer) {
                    self.auto_answer = Some((call, Instant::now() + delay));
                    self.beeping = false;
                }
                if let Some(delay) = forward_after {
                    self.forwards.insert(call, Instant::now() + delay);
                }
            }
            Event::CallState { info } => {
                let ended = info.state == CallState::Disconnected;
                if matches!(info.state, CallState::Confirmed) || ended {
                    if self.auto_answer.is_some_and(|(c, _)| c == info.call) {
                        self.auto_answer = None;
                    }
                    self.forwards.remove(&info.call);
                }
                self.arrange_calls(&info, false);
                if ended {
                    self.hang_ups.remove(&info.call);
                    self.rtp_watch.remove(&info.call);
                    self.conference.remove(&info.call);
                } else if info.state == CallState::Confirmed {
                    if let Some(max) = self.max_duration {
                        self.hang_ups
                            .entry(info.call)
                            .or_insert_with(|| Instant::now() + max);
                    }
                    if self.rtp_timeout.is_some() {
                        self.rtp_watch
                            .entry(info.call)
                            .or_insert_with(|| RtpWatch::new(Instant::now()));
                    }
                }
            }
            // A connected call's audio (re)started: PJSUA made it a new conference port (its
            // CONFIRMED may have come first, or a re-INVITE changed the codec), so with AC=1 it
            // joins the conference again from that port.
            Event::Media {
                call,
                state: MediaState::Active,
                ..
            } if self.multi_call.auto_conference && !self.multi_call.single_mode => {
                let info = self
                    .engine
                    .and_then(|e| e.call(call).ok())
                    .filter(|c| c.state == CallState::Confirmed);
                if let Some(info) = info {
                    self.arrange_calls(&info, true);
                }
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

    /// Holds, ends or merges the other calls as `singleMode` and `AC` say when `info`'s call
    /// starts, is answered or connects (MicroSIP's `msip_call_unhold`, `OnMergeAll`).
    /// `new_port`: the call's audio has just (re)started on a new conference port, so its
    /// earlier connections are gone.
    /// An alert's calls take no part (an alert calls several people at once).
    fn arrange_calls(&mut self, info: &crate::engine::CallInfo, new_port: bool) {
        let Some(engine) = self.engine else { return };
        if self.alert_calls.contains(&info.call) {
            return;
        }
        let snapshot = |c: &crate::engine::CallInfo| policy::CallSnapshot {
            call: c.call,
            state: c.state,
            role: c.role,
            held: c.media == MediaState::LocalHold,
            in_conference: self.conference.contains(&c.call),
        };
        let others: Vec<_> = engine
            .calls()
            .iter()
            .filter(|c| c.call != info.call && !self.alert_calls.contains(&c.call))
            .map(snapshot)
            .collect();
        for step in policy::arrange(self.multi_call, &snapshot(info), &others) {
            match step {
                policy::Arrange::HangUp(other) => {
                    log::info!(
                        "call {other}: hung up: call {} was answered (singleMode)",
                        info.call
                    );
                    if let Err(e) = engine.hangup(other, 0, None) {
                        log::warn!("call {other}: could not hang up: {e}");
                    }
                }
                policy::Arrange::Hold(other) => {
                    log::info!("call {other}: on hold: call {} started", info.call);
                    if let Err(e) = engine.set_hold(other, true) {
                        log::warn!("call {other}: could not hold: {e}");
                    }
                }
                policy::Arrange::Conference(calls) => {
                    let names: Vec<String> = calls.iter().map(|c| c.to_string()).collect();
                    let renewed = |c: CallId| new_port && c == info.call;
                    let joined = |c: CallId| self.conference.contains(&c) && !renewed(c);
                    match engine.conference(&calls, &joined) {
                        Ok(members) => {
                            let before = self.conference.len();
                            self.conference.extend(members);
                            if self.conference.len() != before {
                                log::info!("conference (AC=1): calls {}", names.join(", "));
                            }
                        }
                        Err(e) => log::warn!("conference of calls {}: {e}", names.join(", ")),
                    }
                }
            }
        }
    }

    /// When the next of the auto-answer, forwarding and `autoHangUpTime` timers is due.
    fn next_timer(&self) -> Option<Instant> {
        self.auto_answer
            .map(|(_, at)| at)
            .into_iter()
            .chain(self.forwards.values().copied())
            .chain(self.hang_ups.values().copied())
            .chain(self.rtp_watch.values().map(|w| w.next_check))
            .min()
    }

    /// Runs the timers that are due.
    fn on_timer(&mut self, sounds: &mut sounds::CallSounds) {
        let now = Instant::now();
        if self.auto_answer.is_some_and(|(_, at)| at <= now) {
            self.on_auto_answer_timer(sounds);
        }
        let Some(engine) = self.engine else { return };
        for call in take_due(&mut self.forwards, now) {
            let ringing = engine
                .call(call)
                .is_ok_and(|info| matches!(info.state, CallState::Incoming | CallState::Early));
            let Some(target) = self.policy.forwarding.as_ref().map(|f| f.target.clone()) else {
                continue;
            };
            if !ringing {
                continue;
            }
            match engine.forward(call, &target) {
                Ok(()) => self
                    .outbox
                    .push(events::AppEvent::Forwarded { call, to: target }),
                Err(e) => log::warn!("call {call}: could not forward to {target}: {e}"),
            }
        }
        for call in take_due(&mut self.hang_ups, now) {
            let warning = (
                "Warning",
                "399 localhost \"Call duration exceeded\"".to_string(),
            );
            match engine.hangup_with(call, 200, &[warning]) {
                Ok(()) => self.outbox.push(events::AppEvent::AutoHungUp {
                    call,
                    after: self.max_duration.unwrap_or_default(),
                }),
                Err(e) => log::warn!("call {call}: autoHangUpTime: could not hang up: {e}"),
            }
        }
        self.check_rtp(engine, now);
    }

    /// `rtpTimeout`: ends, with a BYE, each watched call that received no RTP for that long
    /// while it should have (a peer that vanished sends no BYE).
    fn check_rtp(&mut self, engine: &Engine, now: Instant) {
        let Some(timeout) = self.rtp_timeout else {
            return;
        };
        let mut silent = Vec::new();
        for (call, watch) in self.rtp_watch.iter_mut() {
            if watch.next_check > now {
                continue;
            }
            if watch.observe(engine.rtp_received(*call), now, timeout) {
                silent.push(*call);
            }
        }
        for call in silent {
            self.rtp_watch.remove(&call);
            let warning = ("Warning", "399 localhost \"No RTP received\"".to_string());
            match engine.hangup_with(call, 200, &[warning]) {
                Ok(()) => self.outbox.push(events::AppEvent::RtpTimeout {
                    call,
                    after: timeout,
                }),
                Err(e) => log::warn!("call {call}: rtpTimeout: could not hang up: {e}"),
            }
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
            self.outbox
                .push(events::AppEvent::AutoAnswerSkipped { call });
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
        match engine.answer(call, 200) {
            Ok(()) => self.outbox.push(events::AppEvent::AutoAnswered { call }),
            Err(e) => log::warn!("call {call}: auto-answer failed: {e}"),
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
                        ..
                    } => format!("ringing (180), auto-answer in {} s", d.as_secs()),
                    IncomingAction::Ring {
                        forward_after: Some(d),
                        ..
                    } => format!("ringing (180), forwarding in {} s", d.as_secs()),
                    IncomingAction::Ring { .. } => "ringing (180)".to_string(),
                    IncomingAction::Forward { to } => format!("forwarded (302) to {to}"),
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
            Event::Media {
                call,
                state,
                security,
            } => {
                let text = match state {
                    MediaState::Active => "audio active",
                    MediaState::LocalHold => "on local hold",
                    MediaState::RemoteHold => "on remote hold",
                    MediaState::Error => "audio failed",
                    MediaState::None => "no audio",
                };
                if matches!(state, MediaState::Active | MediaState::RemoteHold) {
                    log::info!("call {call}: {text}, {security}");
                } else {
                    log::info!("call {call}: {text}");
                }
            }
            Event::Registration {
                account,
                code,
                reason,
                expires,
                ..
            } => {
                let name = self.name(*account);
                let was = self
                    .registered
                    .get(account)
                    .is_some_and(status::Registration::is_registered);
                self.registered.insert(
                    *account,
                    status::Registration::Answered {
                        code: *code,
                        reason: reason.clone(),
                        expires: *expires,
                        at: std::time::SystemTime::now(),
                    },
                );
                if (200..300).contains(code) && *expires > 0 {
                    log::info!("registered: {name}: {code} {reason}, expires in {expires} s");
                } else if (200..300).contains(code) {
                    log::info!("unregistered: {name}: {code} {reason}");
                } else {
                    let hint = match code {
                        401 | 403 | 407 => " (check username, authID and password)",
                        408 | 502 | 503 => " (is the server reachable?)",
                        _ => "",
                    };
                    let lost = if was { ", registration lost" } else { "" };
                    // PJSUA tries again after these (a server that is down or overloaded);
                    // after any other answer it waits for new settings.
                    let retried = matches!(code, 408 | 480 | 500 | 502 | 503 | 504)
                        || (600..700).contains(code);
                    let next = match (retried, self.register_retry) {
                        (true, 0) => "not retrying (registerRetry=0)".to_string(),
                        (true, secs) => format!("will retry (registerRetry={secs} s)"),
                        (false, _) => "not retrying until the settings change".to_string(),
                    };
                    log::warn!("registration failed: {name}: {code} {reason}{hint}{lost}; {next}");
                }
            }
            Event::Dtmf {
                call,
                digit,
                duration_ms,
            } => match duration_ms {
                Some(ms) => log::info!("call {call}: DTMF {digit} ({ms} ms)"),
                None => log::info!("call {call}: DTMF {digit} (duration unknown)"),
            },
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
            Event::PromptPlayed { call, times } => {
                log::debug!("call {call}: prompt played {times} time(s)")
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
        names.clone(),
        levels.clone(),
    )));
    // A missing sound device is said at start (once), not at every call; off the main
    // thread, so that a slow sound system does not hold the registration up, and in a child
    // process, so that ALSA and its plugins load only when a call needs them.
    let ini = setup.config.path.clone();
    let probe = std::thread::Builder::new()
        .name("audio-check".into())
        .spawn(move || match check_devices_apart(&ini) {
            Ok(check) => check.apply(),
            Err(e) => {
                log::debug!("sound devices checked in this process: {e}");
                crate::audio::check_devices(&names).apply();
            }
        });
    if let Err(e) = probe {
        log::debug!("no sound device check at start: {e}");
    }
    levels
}

/// Runs `microsip --ini INI --check-audio-devices --json` and reads its answer.
fn check_devices_apart(ini: &std::path::Path) -> Result<crate::audio::DeviceCheck, String> {
    let exe = std::env::current_exe().map_err(|e| format!("no path to this program: {e}"))?;
    let out = std::process::Command::new(exe)
        .arg("--ini")
        .arg(ini)
        .args(["--check-audio-devices", "--json"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the check: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    crate::audio::DeviceCheck::from_json(&text)
        .map_err(|e| format!("the check answered {:?} ({e})", out.status))
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

#[cfg(test)]
mod rtp_watch_tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);

    #[test]
    fn packets_that_keep_coming_never_time_out() {
        let t0 = Instant::now();
        let mut w = RtpWatch::new(t0);
        for i in 1..20u64 {
            let now = t0 + Duration::from_secs(i);
            assert!(!w.observe(Some(i * 50), now, TIMEOUT));
            assert!(w.next_check > now && w.next_check <= now + RTP_CHECK);
        }
    }

    #[test]
    fn a_count_that_stops_times_out_after_the_timeout_not_before() {
        let t0 = Instant::now();
        let mut w = RtpWatch::new(t0);
        assert!(!w.observe(Some(100), t0 + Duration::from_secs(1), TIMEOUT));
        assert!(!w.observe(Some(100), t0 + Duration::from_secs(3), TIMEOUT));
        assert!(w.observe(Some(100), t0 + Duration::from_secs(4), TIMEOUT));
    }

    #[test]
    fn a_peer_that_never_sends_counts_from_the_answer() {
        let t0 = Instant::now();
        let mut w = RtpWatch::new(t0);
        assert!(!w.observe(Some(0), t0 + Duration::from_secs(2), TIMEOUT));
        assert!(w.observe(Some(0), t0 + Duration::from_secs(3), TIMEOUT));
    }

    #[test]
    fn on_hold_nothing_is_expected_and_the_count_starts_again_after() {
        let t0 = Instant::now();
        let mut w = RtpWatch::new(t0);
        assert!(!w.observe(Some(100), t0 + Duration::from_secs(1), TIMEOUT));
        for s in 2..30 {
            assert!(!w.observe(None, t0 + Duration::from_secs(s), TIMEOUT));
        }
        // Taken off hold: a new stream counts from 0, and the timeout counts from there.
        assert!(!w.observe(Some(0), t0 + Duration::from_secs(30), TIMEOUT));
        assert!(!w.observe(Some(0), t0 + Duration::from_secs(32), TIMEOUT));
        assert!(w.observe(Some(0), t0 + Duration::from_secs(33), TIMEOUT));
    }
}
