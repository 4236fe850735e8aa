//! The `microsip` binary: a headless MicroSIP.
//!
//! Like MicroSIP, one phone runs per program and settings file: a second `microsip` passes
//! its MicroSIP command line (`/answer`, `sip:100`, ...) to the running one over the control
//! socket and exits (reference §1). With no phone running, `/answer` and `/hangupall` exit at
//! once, `/exit` has nothing to stop, and anything else starts the phone, which runs the
//! command once its SIP stack is up.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Instant;

use microsip::app::instance::{self, EXIT_COMMAND_FAILED, STARTING_WAIT};
use microsip::app::{self, cli, commands};
use microsip::control::dispatch::{Dispatcher, StackGate};
use microsip::control::grammar::{self, Command, NoInstance};
use microsip::control::socket::{self, Claim};
use microsip::control::wire::{DW_DATA_POST, DW_DATA_RUN};

fn main() -> ExitCode {
    let mode = cli::parse(std::env::args_os().skip(1)).and_then(|o| Ok((o.mode()?, o)));
    let (mode, opts) = match mode {
        Ok(v) => v,
        Err(e) => {
            eprintln!("microsip: {e}");
            return ExitCode::from(app::EXIT_BAD_INPUT);
        }
    };
    match mode {
        cli::Mode::Help => {
            app::print_out(&format!("{}\n", app::clidoc::help()));
            ExitCode::SUCCESS
        }
        cli::Mode::Man => write_out(app::clidoc::man()),
        cli::Mode::Completions(shell) => write_out(app::clidoc::completions(&shell)),
        cli::Mode::Version => {
            app::print_out(&format!(
                "microsip {} (pjproject {})\n",
                env!("CARGO_PKG_VERSION"),
                microsip::engine::pjproject_version()
            ));
            ExitCode::SUCCESS
        }
        cli::Mode::Check => {
            microsip::logging::init(opts.log_level.unwrap_or(log::LevelFilter::Info));
            app::setup::check(&opts)
        }
        cli::Mode::ListAudioDevices { all } => {
            app::print_out(&microsip::audio::device_report(all));
            ExitCode::SUCCESS
        }
        cli::Mode::CheckAudioDevices { json } => check_audio_devices(&opts, json),
        cli::Mode::RegisterUriHandler => {
            match microsip::desktop::register_uri_handler(opts.ini.as_deref()) {
                Ok(report) => {
                    app::print_out(&format!("{report}\n"));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("microsip: {e}");
                    ExitCode::from(EXIT_COMMAND_FAILED)
                }
            }
        }
        cli::Mode::SocketPath => {
            // The running phone's socket, or where this process's phone would serve.
            let key = instance::key(&opts);
            let paths = match instance::running(&key) {
                Ok(Some((_, paths))) => paths,
                _ => instance::own_paths(&key),
            };
            app::print_out(&format!("{}\n", paths.socket.display()));
            ExitCode::SUCCESS
        }
        cli::Mode::Send { text, queue } => {
            let dw_data = if queue { DW_DATA_POST } else { DW_DATA_RUN };
            instance::send(&instance::key(&opts), dw_data, &text)
        }
        cli::Mode::Events => instance::events(&instance::key(&opts)),
        cli::Mode::Status { json } => instance::status(&instance::key(&opts), json),
        cli::Mode::Alert(args) => alert(opts, &args),
        cli::Mode::Phone => phone(opts),
    }
}

/// Writes generated text (the man page, a completion script) to stdout.
fn write_out(text: Result<Vec<u8>, String>) -> ExitCode {
    use std::io::Write;
    match text.and_then(|t| {
        std::io::stdout()
            .write_all(&t)
            .map_err(|e| format!("cannot write: {e}"))
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("microsip: {e}");
            ExitCode::from(EXIT_COMMAND_FAILED)
        }
    }
}

/// `microsip --alert ...`: a phone that runs the alert and exits with its code.
fn alert(opts: cli::Options, args: &[String]) -> ExitCode {
    use microsip::app::alert;
    let usage = |e: String| {
        eprintln!("microsip: {e}");
        ExitCode::from(alert::USAGE)
    };
    let spec = match alert::AlertSpec::parse(args) {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    microsip::logging::init(opts.log_level.unwrap_or(log::LevelFilter::Warn));
    // A settings file that cannot be used is a configuration error (3), said before calling.
    if let Err(e) = app::setup::read(&opts) {
        return usage(e);
    }
    let key = instance::key(&opts);
    // A phone runs for these settings: the alert goes through it (its account).
    if let Ok(Some((_, running))) = instance::running(&key) {
        return instance::alert(&running, args, spec.json);
    }
    let paths = instance::own_paths(&key);
    let gate = StackGate::default();
    let (dispatcher, requests) = Dispatcher::new(gate.clone());
    let events = dispatcher.hub();
    let server = match socket::claim(&paths, dispatcher) {
        Ok(Claim::Server(server)) => Some(server),
        Ok(Claim::Taken) => return instance::alert(&paths, args, spec.json),
        Err(e) => {
            log::warn!("no control socket ({e}): --events cannot follow this alert");
            None
        }
    };
    // The prompt is made here only for an alert of our own (a running phone makes its own).
    let prompt = match alert::Sound::prompt(&spec.prompt) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    app::run(
        opts,
        commands::Control {
            requests,
            gate,
            startup: None,
            server,
            password_override: None,
            events,
            alert: Some((spec, prompt)),
        },
    )
}

/// Runs the phone, or hands MicroSIP's command line to the one running for these settings.
fn phone(opts: cli::Options) -> ExitCode {
    let key = instance::key(&opts);
    let paths = instance::own_paths(&key);
    let tail = opts.command_line();
    match instance::running(&key) {
        Ok(Some((stream, _))) => {
            return instance::forward(stream, &tail, Instant::now() + STARTING_WAIT)
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("microsip: {e} ({})", paths.socket.display());
            return ExitCode::from(EXIT_COMMAND_FAILED);
        }
    }
    let parsed = match grammar::without_running_instance(&tail) {
        NoInstance::ExitAtOnce => {
            eprintln!("microsip: no phone is running, so there is no call for {tail}");
            return ExitCode::SUCCESS;
        }
        NoInstance::NothingToStop => {
            eprintln!("microsip: no phone is running for {}", key.ini().display());
            return ExitCode::SUCCESS;
        }
        NoInstance::Reset { .. } => {
            eprintln!(
                "microsip: {tail} is not supported: microsip does not delete user data; remove {} \
                 yourself",
                key.ini().display()
            );
            return ExitCode::from(app::EXIT_BAD_INPUT);
        }
        NoInstance::Start(parsed) => parsed,
    };
    microsip::logging::init(opts.log_level.unwrap_or(log::LevelFilter::Info));
    let gate = StackGate::default();
    let (dispatcher, requests) = Dispatcher::new(gate.clone());
    let events = dispatcher.hub();
    let server = match socket::claim(&paths, dispatcher) {
        Ok(Claim::Server(server)) => {
            log::info!("control socket: {}", server.paths().socket.display());
            Some(server)
        }
        Ok(Claim::Taken) => return instance::forward_when_started(&paths, &tail),
        Err(e) => {
            log::warn!(
                "no control socket ({e}): commands from other processes cannot reach this phone"
            );
            None
        }
    };
    let startup = match parsed.command {
        // Nothing to run: MicroSIP would just show its window (or start hidden).
        Command::Activate | Command::Minimized | Command::Nothing => None,
        _ => Some(parsed),
    };
    app::run(
        opts,
        commands::Control {
            requests,
            gate,
            startup,
            server,
            password_override: None,
            events,
            alert: None,
        },
    )
}

/// `--check-audio-devices [--json]`: the settings' sound devices, checked as a call and the
/// sounds open them (the phone runs this at start, in a child process, with `--json`).
fn check_audio_devices(opts: &cli::Options, json: bool) -> ExitCode {
    let cfg = match app::setup::read(opts) {
        Ok((cfg, _)) => cfg,
        Err(msg) => {
            eprintln!("microsip: {msg}");
            return ExitCode::from(app::EXIT_BAD_INPUT);
        }
    };
    let check =
        microsip::audio::check_devices(&microsip::audio::DeviceNames::from_settings(&cfg.settings));
    if json {
        app::print_out(&format!("{}\n", check.to_json()));
    } else {
        app::print_out(&check.report());
    }
    if check.all_usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DEVICES_UNUSABLE)
    }
}

/// `--check-audio-devices`: a device the settings name cannot be used.
const EXIT_DEVICES_UNUSABLE: u8 = 1;
