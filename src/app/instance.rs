//! The second process: MicroSIP's one-phone-per-program-and-settings rule (reference §1). A
//! `microsip` that finds a phone running for the same program and settings file hands its
//! command to it over the control socket and exits with the result.
#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{cli, setup, EXIT_BAD_INPUT};
use crate::control::client::{self, ClientError};
use crate::control::dispatch::DROPPED_STARTING;
use crate::control::grammar::{self, Command, WithInstance};
use crate::control::socket::{InstanceKey, SocketPaths};
use crate::control::wire::{Reply, DW_DATA_RUN};

/// Exit code when a command reached the phone and failed, or the phone could not be reached.
pub const EXIT_COMMAND_FAILED: u8 = 1;
/// How long `/exit` waits for the running phone to end (it un-REGISTERs first).
const EXIT_WAIT: Duration = Duration::from_secs(15);
/// How long a process that lost the race to become the instance waits for the winner; also
/// how long a command dropped by a phone still starting is sent again.
pub const STARTING_WAIT: Duration = Duration::from_secs(10);

/// The instance key: this executable and the settings file the phone would use.
pub fn key(opts: &cli::Options) -> InstanceKey {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("microsip"));
    InstanceKey::new(&exe, &setup::locate(opts).path)
}

fn failed(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("microsip: {message}");
    ExitCode::from(EXIT_COMMAND_FAILED)
}

/// Sends `text` and, while the phone answers that its SIP stack is not up yet (it was
/// started a moment ago), sends it again until `deadline`.
fn request_when_up(
    stream: &mut UnixStream,
    dw_data: u32,
    text: &str,
    deadline: Instant,
) -> Result<Reply, ClientError> {
    loop {
        let reply = client::request(stream, dw_data, text)?;
        if !reply.text.starts_with(DROPPED_STARTING) || Instant::now() >= deadline {
            return Ok(reply);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// MicroSIP's `InitInstance` decisions for a running instance: `tail` goes to it.
pub fn forward(mut stream: UnixStream, tail: &str, deadline: Instant) -> ExitCode {
    match grammar::with_running_instance(tail) {
        WithInstance::Nothing => ExitCode::SUCCESS,
        WithInstance::Activate => {
            eprintln!("microsip: the phone is already running");
            ExitCode::SUCCESS
        }
        WithInstance::Reset { .. } => {
            eprintln!("microsip: {tail} is not supported: microsip does not delete user data");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        WithInstance::StopRunning => match client::request(&mut stream, DW_DATA_RUN, "/exit") {
            Ok(reply) if client::succeeded(&reply) => stopped(&mut stream),
            Ok(reply) => failed(reply.text),
            Err(e) => failed(e),
        },
        WithInstance::Forward => match request_when_up(&mut stream, DW_DATA_RUN, tail, deadline) {
            Ok(reply) if client::succeeded(&reply) => ExitCode::SUCCESS,
            Ok(reply) => failed(reply.text),
            Err(e) => failed(e),
        },
    }
}

/// Waits for the phone that was asked to exit to be gone.
fn stopped(stream: &mut UnixStream) -> ExitCode {
    if client::wait_until_closed(stream, EXIT_WAIT) {
        eprintln!("microsip: the running phone has stopped");
        ExitCode::SUCCESS
    } else {
        failed(format!(
            "the running phone did not stop within {} s",
            EXIT_WAIT.as_secs()
        ))
    }
}

/// Another process is becoming the instance right now: wait for its socket, then forward.
pub fn forward_when_started(paths: &SocketPaths, tail: &str) -> ExitCode {
    let deadline = Instant::now() + STARTING_WAIT;
    loop {
        match client::connect(&paths.socket) {
            Ok(stream) => return forward(stream, tail, deadline),
            Err(ClientError::NotRunning) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return failed(format!(
                    "another microsip is starting with these settings, and its control socket \
                     {} does not answer: {e}",
                    paths.socket.display()
                ))
            }
        }
    }
}

/// `microsip --events`: the running phone's events on stdout, one JSON object per line,
/// until it stops (exit 0) or cannot be reached (exit 1).
pub fn events(paths: &SocketPaths, key: &InstanceKey) -> ExitCode {
    use std::io::Write;
    let stream = match client::connect(&paths.socket) {
        Ok(s) => s,
        Err(ClientError::NotRunning) => {
            return failed(format!(
                "no phone is running for {} (no control socket at {})",
                key.ini().display(),
                paths.socket.display()
            ))
        }
        Err(e) => return failed(format!("{e} ({})", paths.socket.display())),
    };
    let mut reader = match client::subscribe(stream) {
        Ok((reply, reader)) if client::succeeded(&reply) => {
            eprintln!("microsip: {}", reply.text);
            reader
        }
        Ok((reply, _)) => return failed(reply.text),
        Err(e) => return failed(e),
    };
    let mut out = std::io::stdout().lock();
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => {
                // A reader that has gone (a closed pipe) ends the subscription.
                if writeln!(out, "{}", frame.text)
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return ExitCode::SUCCESS;
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) => return failed(e),
        }
    }
}

/// `microsip --send TEXT [--async]`: one request, the reply on stdout.
pub fn send(paths: &SocketPaths, key: &InstanceKey, dw_data: u32, text: &str) -> ExitCode {
    let mut stream = match client::connect(&paths.socket) {
        Ok(s) => s,
        Err(ClientError::NotRunning) => {
            return failed(format!(
                "no phone is running for {} (no control socket at {})",
                key.ini().display(),
                paths.socket.display()
            ))
        }
        Err(e) => return failed(format!("{e} ({})", paths.socket.display())),
    };
    let deadline = Instant::now() + STARTING_WAIT;
    match request_when_up(&mut stream, dw_data, text, deadline) {
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
        Err(e) => failed(e),
    }
}
