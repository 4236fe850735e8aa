//! The second process: MicroSIP's one-phone rule (reference §1), per settings file. A
//! `microsip` that finds a phone running for the same settings file (wherever either binary
//! lies) hands its command to it over the control socket and exits with the result.
#![forbid(unsafe_code)]

use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{cli, setup, EXIT_BAD_INPUT};
use crate::control::client::{self, ClientError};
use crate::control::dispatch::DROPPED_STARTING;
use crate::control::grammar::{self, Command, WithInstance};
use crate::control::socket::{InstanceKey, RuntimeEnv, SocketPaths};
use crate::control::wire::{Reply, DW_DATA_RUN};

/// Exit code when a command reached the phone and failed, or the phone could not be reached.
pub const EXIT_COMMAND_FAILED: u8 = 1;
/// How long `/exit` waits for the running phone to end (it un-REGISTERs first).
const EXIT_WAIT: Duration = Duration::from_secs(15);
/// How long a process that lost the race to become the instance waits for the winner; also
/// how long a command dropped by a phone still starting is sent again.
pub const STARTING_WAIT: Duration = Duration::from_secs(10);

/// The instance key: the settings file the phone would use.
pub fn key(opts: &cli::Options) -> InstanceKey {
    InstanceKey::new(&setup::locate(opts).path)
}

/// Where a phone for `key` started by this process would serve.
pub fn own_paths(key: &InstanceKey) -> SocketPaths {
    SocketPaths::for_key(key, &RuntimeEnv::current())
}

/// The phone running for `key`, wherever it serves (this process's folder first, then a
/// user's or the system service's): its connection and paths, or `None`. A failure other
/// than "nobody there" counts only for this process's own folder, since the others may be
/// closed to this user.
pub fn running(key: &InstanceKey) -> Result<Option<(UnixStream, SocketPaths)>, ClientError> {
    for (i, paths) in SocketPaths::candidates(key, &RuntimeEnv::current())
        .into_iter()
        .enumerate()
    {
        match client::connect(&paths.socket) {
            Ok(stream) => return Ok(Some((stream, paths))),
            Err(ClientError::NotRunning) => {}
            Err(e) if i == 0 => return Err(e),
            Err(_) => {}
        }
    }
    Ok(None)
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
            // The phone's one-line reply says what it did (and a toggle's new state).
            Ok(reply) if client::succeeded(&reply) => {
                eprintln!("microsip: {}", reply.text);
                ExitCode::SUCCESS
            }
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

/// The running phone's control socket; the exit code (the reason said) when there is none.
pub fn connect_running(key: &InstanceKey) -> Result<(UnixStream, SocketPaths), ExitCode> {
    match running(key) {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(failed(format!(
            "no phone is running for {} (no control socket at {})",
            key.ini().display(),
            own_paths(key).socket.display()
        ))),
        Err(e) => Err(failed(format!("{e} ({})", own_paths(key).socket.display()))),
    }
}

/// `microsip --events`: the running phone's events on stdout, one JSON object per line,
/// until it stops (exit 0) or cannot be reached (exit 1).
pub fn events(key: &InstanceKey) -> ExitCode {
    use std::io::Write;
    let stream = match connect_running(key) {
        Ok((s, _)) => s,
        Err(code) => return code,
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

/// `microsip --alert ARGS` while a phone runs for these settings: the alert runs in that
/// phone (its account), and this process follows it through the event stream, printing each
/// attempt, and exits with the alert's code.
pub fn alert(paths: &SocketPaths, args: &[String], json: bool) -> ExitCode {
    use std::io::Write;
    let usage = |e: String| {
        eprintln!("microsip: {e}");
        ExitCode::from(super::alert::USAGE)
    };
    let id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    // A file to play is opened by the phone: give it the whole path.
    let mut args = args.to_vec();
    for i in 1..args.len() {
        if args[i - 1] == "--play" {
            if let Ok(abs) = std::path::absolute(&args[i]) {
                args[i] = abs.display().to_string();
            }
        }
    }
    let connect = || client::connect(&paths.socket).map_err(|e| e.to_string());
    // Subscribe first, so that no event of the alert is missed.
    let mut events = match connect().and_then(|s| client::subscribe(s).map_err(|e| e.to_string())) {
        Ok((reply, reader)) if client::succeeded(&reply) => reader,
        Ok((reply, _)) => return failed(reply.text),
        Err(e) => return failed(e),
    };
    let command = format!(
        "msip:alert:{}",
        serde_json::json!({ "id": id, "args": args })
    );
    let mut stream = match connect() {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match request_when_up(
        &mut stream,
        DW_DATA_RUN,
        &command,
        Instant::now() + STARTING_WAIT,
    ) {
        Ok(reply) if client::succeeded(&reply) => {}
        Ok(reply) => return usage(reply.text.trim_start_matches("error: ").to_string()),
        Err(e) => return failed(e),
    }
    let mut out = std::io::stdout().lock();
    loop {
        let frame = match events.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => return failed("the phone stopped during the alert"),
            Err(e) => return failed(e),
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&frame.text) else {
            continue;
        };
        if v["alert"] != id.as_str() {
            continue;
        }
        match v["type"].as_str() {
            Some("alert_attempt") => {
                let _ = if json {
                    writeln!(out, "{v}")
                } else {
                    writeln!(
                        out,
                        "alert round {}: {}: {} after {} s",
                        v["round"],
                        v["target"].as_str().unwrap_or("?"),
                        v["outcome"].as_str().unwrap_or("?"),
                        v["seconds"]
                    )
                };
            }
            Some("alert_done") => {
                let code = v["exit_code"].as_u64().unwrap_or(1) as u8;
                let by = v["acknowledged_by"].as_str();
                let _ = if json {
                    writeln!(out, "{}", super::alert::result_json(code, by, None))
                } else {
                    match by {
                        Some(by) => writeln!(out, "alert: acknowledged by {by}"),
                        None => writeln!(out, "alert: not acknowledged"),
                    }
                };
                let _ = out.flush();
                return ExitCode::from(code);
            }
            _ => {}
        }
        let _ = out.flush();
    }
}

/// `microsip --status [--json]`: the running phone's state on stdout (exit 0), or why it
/// cannot be had (exit 1).
pub fn status(key: &InstanceKey, json: bool) -> ExitCode {
    let mut stream = match connect_running(key) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    let deadline = Instant::now() + STARTING_WAIT;
    let reply = match request_when_up(&mut stream, DW_DATA_RUN, "msip:status", deadline) {
        Ok(reply) if client::succeeded(&reply) => reply,
        Ok(reply) => return failed(reply.text),
        Err(e) => return failed(e),
    };
    let body = reply.text.strip_prefix("ok: ").unwrap_or(&reply.text);
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if json => {
            super::print_out(&format!("{v}\n"));
        }
        Ok(v) => {
            super::print_out(&super::status::render(&v));
        }
        Err(e) => return failed(format!("the phone's status is not understood: {e}")),
    }
    ExitCode::SUCCESS
}

/// `microsip --send TEXT [--async]`: one request, the reply on stdout.
pub fn send(key: &InstanceKey, dw_data: u32, text: &str) -> ExitCode {
    let mut stream = match connect_running(key) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    let deadline = Instant::now() + STARTING_WAIT;
    match request_when_up(&mut stream, dw_data, text, deadline) {
        Ok(reply) => {
            super::print_out(&format!("{}\n", reply.text));
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
