//! The `microsip` binary: a headless MicroSIP.
//!
//! Like MicroSIP, one phone runs per program and settings file: a second `microsip` passes
//! its MicroSIP command line (`/answer`, `sip:100`, ...) to the running one over the control
//! socket and exits (reference §1). With no phone running, `/answer` and `/hangupall` exit at
//! once, `/exit` has nothing to stop, and anything else starts the phone, which runs the
//! command once its SIP stack is up.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use microsip::app::{self, cli, commands};
use microsip::control::client::{self, ClientError};
use microsip::control::dispatch::{Dispatcher, StackGate, DROPPED_STARTING};
use microsip::control::grammar::{self, Command, NoInstance, WithInstance};
use microsip::control::socket::{self, Claim, InstanceKey, SocketPaths};
use microsip::control::wire::{DW_DATA_POST, DW_DATA_RUN};

/// Exit code when a command reached the phone and failed, or the phone could not be reached.
const EXIT_COMMAND_FAILED: u8 = 1;
/// How long `/exit` waits for the running phone to end (it un-REGISTERs first).
const EXIT_WAIT: Duration = Duration::from_secs(15);
/// How long a process that lost the race to become the instance waits for the winner.
const STARTING_WAIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("microsip: {e}");
            return ExitCode::from(app::EXIT_BAD_INPUT);
        }
    };
    if opts.help {
        println!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    if opts.check {
        microsip::logging::init(opts.log_level.unwrap_or(log::LevelFilter::Info));
        return app::setup::check(&opts);
    }
    if opts.list_audio_devices {
        print!("{}", microsip::audio::device_report());
        return ExitCode::SUCCESS;
    }
    if opts.version {
        println!(
            "microsip {} (pjproject {})",
            env!("CARGO_PKG_VERSION"),
            microsip::engine::pjproject_version()
        );
        return ExitCode::SUCCESS;
    }
    if opts.register_uri_handler {
        return match microsip::desktop::register_uri_handler(opts.ini.as_deref()) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("microsip: {e}");
                ExitCode::from(EXIT_COMMAND_FAILED)
            }
        };
    }
    let key = instance_key(&opts);
    let paths = SocketPaths::from_env(&key);
    if opts.socket_path {
        println!("{}", paths.socket.display());
        return ExitCode::SUCCESS;
    }
    if let Some(text) = &opts.send {
        let dw_data = if opts.send_async {
            DW_DATA_POST
        } else {
            DW_DATA_RUN
        };
        return send(&paths, &key, dw_data, text);
    }
    let tail = opts.command_line();
    match client::connect(&paths.socket) {
        Ok(stream) => return forward(stream, &tail, Instant::now() + STARTING_WAIT),
        Err(ClientError::NotRunning) => {}
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
    let server = match socket::claim(&paths, dispatcher) {
        Ok(Claim::Server(server)) => {
            log::info!("control socket: {}", server.paths().socket.display());
            Some(server)
        }
        Ok(Claim::Taken) => return forward_when_started(&paths, &tail),
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
        },
    )
}

/// The instance key: this executable and the settings file the phone would use.
fn instance_key(opts: &cli::Options) -> InstanceKey {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("microsip"));
    let env_path = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let located = microsip::config::locate(
        opts.ini.as_deref(),
        &exe,
        env_path("XDG_CONFIG_HOME").as_deref(),
        env_path("HOME").as_deref(),
    );
    InstanceKey::new(&exe, &located.path)
}

/// A second process: MicroSIP's `InitInstance` decisions for a running instance.
/// Until `deadline`, a command dropped because the phone's SIP stack is not up yet is sent
/// again (the phone was started a moment ago, maybe by another process).
fn forward(mut stream: std::os::unix::net::UnixStream, tail: &str, deadline: Instant) -> ExitCode {
    match grammar::with_running_instance(tail) {
        WithInstance::Nothing => ExitCode::SUCCESS,
        WithInstance::Activate => {
            eprintln!("microsip: the phone is already running");
            ExitCode::SUCCESS
        }
        WithInstance::Reset { .. } => {
            eprintln!("microsip: {tail} is not supported: microsip does not delete user data");
            ExitCode::from(app::EXIT_BAD_INPUT)
        }
        WithInstance::StopRunning => match client::request(&mut stream, DW_DATA_RUN, "/exit") {
            Ok(reply) if client::succeeded(&reply) => {
                if client::wait_until_closed(&mut stream, EXIT_WAIT) {
                    eprintln!("microsip: the running phone has stopped");
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "microsip: the running phone did not stop within {} s",
                        EXIT_WAIT.as_secs()
                    );
                    ExitCode::from(EXIT_COMMAND_FAILED)
                }
            }
            Ok(reply) => {
                eprintln!("microsip: {}", reply.text);
                ExitCode::from(EXIT_COMMAND_FAILED)
            }
            Err(e) => {
                eprintln!("microsip: {e}");
                ExitCode::from(EXIT_COMMAND_FAILED)
            }
        },
        WithInstance::Forward => loop {
            match client::request(&mut stream, DW_DATA_RUN, tail) {
                Ok(reply) if client::succeeded(&reply) => return ExitCode::SUCCESS,
                Ok(reply)
                    if reply.text.starts_with(DROPPED_STARTING) && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(reply) => {
                    eprintln!("microsip: {}", reply.text);
                    return ExitCode::from(EXIT_COMMAND_FAILED);
                }
                Err(e) => {
                    eprintln!("microsip: {e}");
                    return ExitCode::from(EXIT_COMMAND_FAILED);
                }
            }
        },
    }
}

/// Another process is becoming the instance right now: wait for its socket, then forward.
fn forward_when_started(paths: &SocketPaths, tail: &str) -> ExitCode {
    let deadline = Instant::now() + STARTING_WAIT;
    loop {
        match client::connect(&paths.socket) {
            Ok(stream) => return forward(stream, tail, deadline),
            Err(ClientError::NotRunning) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!(
                    "microsip: another microsip is starting with these settings, and its \
                     control socket {} does not answer: {e}",
                    paths.socket.display()
                );
                return ExitCode::from(EXIT_COMMAND_FAILED);
            }
        }
    }
}

/// `microsip --send TEXT [--async]`: one request, the reply on stdout.
fn send(paths: &SocketPaths, key: &InstanceKey, dw_data: u32, text: &str) -> ExitCode {
    let mut stream = match client::connect(&paths.socket) {
        Ok(s) => s,
        Err(ClientError::NotRunning) => {
            eprintln!(
                "microsip: no phone is running for {} (no control socket at {})",
                key.ini().display(),
                paths.socket.display()
            );
            return ExitCode::from(EXIT_COMMAND_FAILED);
        }
        Err(e) => {
            eprintln!("microsip: {e} ({})", paths.socket.display());
            return ExitCode::from(EXIT_COMMAND_FAILED);
        }
    };
    // A phone started a moment ago drops commands until its SIP stack runs: send again.
    let deadline = Instant::now() + STARTING_WAIT;
    let mut result = client::request(&mut stream, dw_data, text);
    while matches!(&result, Ok(r) if r.text.starts_with(DROPPED_STARTING))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
        result = client::request(&mut stream, dw_data, text);
    }
    match result {
        Ok(reply) => {
            println!("{}", reply.text);
            let ok = client::succeeded(&reply);
            if ok && dw_data == DW_DATA_RUN && grammar::parse(text).command == Command::Exit {
                client::wait_until_closed(&mut stream, EXIT_WAIT);
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_COMMAND_FAILED)
            }
        }
        Err(e) => {
            eprintln!("microsip: {e}");
            ExitCode::from(EXIT_COMMAND_FAILED)
        }
    }
}
