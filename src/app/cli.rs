//! Our own command-line options. They use only the `--long` form, so they never collide with
//! MicroSIP's `/switch` commands.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// `--ini PATH`: the settings file.
    pub ini: Option<PathBuf>,
    /// `--bind ADDR`: bind SIP and RTP to ADDR and advertise it.
    pub bind: Option<IpAddr>,
    /// `--log-level LEVEL`: error, warn, info (default), debug or trace.
    pub log_level: Option<log::LevelFilter>,
    pub help: bool,
    pub version: bool,
    /// `--check`: validate the settings file, print the effective settings and exit.
    pub check: bool,
    /// `--list-audio-devices`: print the sound devices (names for MicroSIP.ini) and exit.
    pub list_audio_devices: bool,
    /// `--send TEXT`: send TEXT to the running phone and exit (issue 5).
    pub send: Option<String>,
    /// `--async`: with `--send`, queue the command (`dwData=2`) instead of waiting for it.
    pub send_async: bool,
    /// `--socket-path`: print the control socket's path for these settings and exit.
    pub socket_path: bool,
    /// `--register-uri-handler`: make microsip the handler of sip:, sips:, tel: and callto:.
    pub register_uri_handler: bool,
    /// `--events`: print the running phone's events, one JSON object per line.
    pub events: bool,
    /// `--alert ...`: an alert call; everything after `--alert` (targets and its options).
    pub alert: Option<Vec<String>>,
    /// MicroSIP's command line: every argument from the first one that is not one of our
    /// `--long` options (`/answer`, `sip:100`, `-answer`, `--call URI`, ...).
    pub tail: Vec<String>,
}

impl Options {
    /// The MicroSIP command line as one string (the arguments joined by spaces), as
    /// MicroSIP's `CommandLine` would receive it.
    pub fn command_line(&self) -> String {
        self.tail.join(" ")
    }
}

pub const USAGE: &str = "\
microsip: a headless softphone (MicroSIP's core on PJSIP)

usage: microsip [--ini PATH] [--bind ADDR] [--log-level LEVEL] [MICROSIP COMMAND]
       microsip [--ini PATH] --send COMMAND [--async]
       microsip [--ini PATH] --events
       microsip [--ini PATH] --alert TARGET... [--play FILE.wav | --say TEXT] [--ack DIGITS]
                [--repeat N] [--timeout S] [--retries N] [--retry-delay S] [--parallel] [--json]
       microsip [--ini PATH] --socket-path | --register-uri-handler
       microsip [--ini PATH] --check
       microsip --help | --version | --list-audio-devices

  --ini PATH         settings file (MicroSIP.ini; UTF-16LE or UTF-8)
  --bind ADDR        bind SIP and RTP to ADDR and advertise it in Contact and SDP
  --log-level LEVEL  error, warn, info (default), debug or trace
  --help             this text
  --version          version of microsip and of the linked pjproject
  --check            validate the settings file, print the effective settings, exit
                     (0: usable, 2: not)
  --list-audio-devices
                     list the sound devices, by the names audioInputDevice,
                     audioOutputDevice and audioRingDevice take, and exit
  --send COMMAND     run COMMAND in the running phone, wait for it and print its reply
  --async            with --send: queue the command and return at once (dwData=2)
  --events           print the running phone's events, one JSON object per line, until
                     it stops (README: Events)
  --alert TARGET...  call TARGETs in turn (or --parallel) with the account of the settings,
                     play the prompt until a digit of --ack (default 1) is pressed, and exit
                     0 acknowledged, 1 not reached, 2 answered but not acknowledged, 3 usage
                     (README: Alert calls)
  --socket-path      print the path of the control socket for these settings
  --register-uri-handler
                     open sip:, sips:, tel: and callto: links with microsip (xdg-mime)

MICROSIP COMMAND: MicroSIP's command line, after our options: a number or URI to dial,
`number text` (a SIP MESSAGE), /answer, /hangupall, /hangupincoming, /hangupcalling,
/dtmf:DIGITS, /transfer:NUMBER, /account:N, /password:PWD, /exit, msip:... If this phone
already runs (same program, same settings file), the command goes to it and this process
exits; /answer and /hangupall with no running phone exit at once.

Signals: SIGINT or SIGTERM end calls, un-REGISTER and exit.";

/// What one run of `microsip` does, settled once from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `--help`: print the usage.
    Help,
    /// `--version`.
    Version,
    /// `--check`: validate the settings and print the effective values.
    Check,
    /// `--list-audio-devices`.
    ListAudioDevices,
    /// `--register-uri-handler`.
    RegisterUriHandler,
    /// `--socket-path`.
    SocketPath,
    /// `--send TEXT [--async]`: one command to the running phone.
    Send { text: String, queue: bool },
    /// `--events`: the running phone's events, one JSON object per line.
    Events,
    /// `--alert TARGET... [options]`: an alert call (its arguments, parsed by the alert).
    Alert(Vec<String>),
    /// Run the phone, or hand MicroSIP's command line to the one running.
    Phone,
}

impl Options {
    /// The one thing this run does. `--help` wins over everything; two other modes at once
    /// are an error that names them.
    pub fn mode(&self) -> Result<Mode, String> {
        if self.help {
            return Ok(Mode::Help);
        }
        let mut modes = Vec::new();
        if self.version {
            modes.push(("--version", Mode::Version));
        }
        if self.check {
            modes.push(("--check", Mode::Check));
        }
        if self.list_audio_devices {
            modes.push(("--list-audio-devices", Mode::ListAudioDevices));
        }
        if self.register_uri_handler {
            modes.push(("--register-uri-handler", Mode::RegisterUriHandler));
        }
        if self.socket_path {
            modes.push(("--socket-path", Mode::SocketPath));
        }
        if self.events {
            modes.push(("--events", Mode::Events));
        }
        if let Some(args) = &self.alert {
            modes.push(("--alert", Mode::Alert(args.clone())));
        }
        if let Some(text) = &self.send {
            modes.push((
                "--send",
                Mode::Send {
                    text: text.clone(),
                    queue: self.send_async,
                },
            ));
        }
        match modes.len() {
            0 => Ok(Mode::Phone),
            1 => {
                let (name, mode) = modes.remove(0);
                if !self.tail.is_empty() {
                    return Err(format!(
                        "{name} takes no MicroSIP command ({:?}); see microsip --help",
                        self.command_line()
                    ));
                }
                Ok(mode)
            }
            _ => {
                let names: Vec<&str> = modes.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "{} cannot go together: give one; see microsip --help",
                    names.join(" and ")
                ))
            }
        }
    }
}

/// Parses our options; the error says what was wrong and what is accepted.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut opts = Options::default();
    let mut parser = lexopt::Parser::from_args(args);
    loop {
        // MicroSIP's command line starts at the first argument that is not a `--long`
        // option of ours (`--call` is one of MicroSIP's aliases): it is taken as it is.
        if let Some(raw) = parser.try_raw_args() {
            if raw.peek().is_some_and(starts_microsip_command) {
                opts.tail = raw.map(|a| a.to_string_lossy().into_owned()).collect();
                break;
            }
        }
        let Some(arg) = parser.next().map_err(|e| e.to_string())? else {
            break;
        };
        match arg {
            Long("ini") => opts.ini = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("bind") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let text = v.to_string_lossy().into_owned();
                opts.bind = Some(text.parse().map_err(|_| {
                    format!("--bind {text:?} is not an IP address (e.g. --bind 127.0.0.1)")
                })?);
            }
            Long("log-level") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let text = v.to_string_lossy().into_owned();
                opts.log_level = Some(text.parse().map_err(|_| {
                    format!("--log-level {text:?}: use error, warn, info, debug or trace")
                })?);
            }
            Long("help") => opts.help = true,
            Long("version") => opts.version = true,
            Long("list-audio-devices") => opts.list_audio_devices = true,
            Long("check") => opts.check = true,
            Long("send") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                opts.send = Some(v.to_string_lossy().into_owned());
            }
            Long("async") => opts.send_async = true,
            Long("socket-path") => opts.socket_path = true,
            Long("register-uri-handler") => opts.register_uri_handler = true,
            Long("events") => opts.events = true,
            // Everything after --alert is the alert's: its targets and options.
            Long("alert") => {
                opts.alert = Some(
                    parser
                        .raw_args()
                        .map_err(|e| e.to_string())?
                        .map(|a| a.to_string_lossy().into_owned())
                        .collect(),
                );
                break;
            }
            // After `--`, everything is MicroSIP's command line.
            Value(v) => {
                opts.tail.push(v.to_string_lossy().into_owned());
                opts.tail.extend(
                    parser
                        .raw_args()
                        .map_err(|e| e.to_string())?
                        .map(|a| a.to_string_lossy().into_owned()),
                );
                break;
            }
            other => return Err(format!("{}; see microsip --help", other.unexpected())),
        }
    }
    if opts.send_async && opts.send.is_none() {
        return Err("--async only goes with --send COMMAND; see microsip --help".into());
    }
    Ok(opts)
}

/// Whether a raw argument begins MicroSIP's command line: anything but our `--long`
/// options (and the `--` separator), plus `--call`, an alias MicroSIP users know.
fn starts_microsip_command(arg: &std::ffi::OsStr) -> bool {
    let text = arg.to_string_lossy();
    !text.starts_with("--") || text == "--call"
}

#[cfg(test)]
mod mode_tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, String> {
        parse(args.iter().map(OsString::from))?.mode()
    }

    #[test]
    fn one_mode_per_run() {
        assert_eq!(mode(&[]), Ok(Mode::Phone));
        assert_eq!(mode(&["--ini", "x", "100"]), Ok(Mode::Phone));
        assert_eq!(mode(&["--check"]), Ok(Mode::Check));
        assert_eq!(
            mode(&["--send", "/answer", "--async"]),
            Ok(Mode::Send {
                text: "/answer".into(),
                queue: true
            })
        );
        // --help wins; two others are an error naming both.
        assert_eq!(mode(&["--check", "--help"]), Ok(Mode::Help));
        let err = mode(&["--check", "--version"]).unwrap_err();
        assert!(err.contains("--version and --check"), "{err}");
        let err = mode(&["--socket-path", "100"]).unwrap_err();
        assert!(err.contains("takes no MicroSIP command"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_our_options() {
        let o = parse(args(&[
            "--ini",
            "/tmp/x.ini",
            "--bind",
            "127.0.0.1",
            "--log-level",
            "debug",
        ]))
        .unwrap();
        assert_eq!(o.ini, Some(PathBuf::from("/tmp/x.ini")));
        assert_eq!(o.bind, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(o.log_level, Some(log::LevelFilter::Debug));
        assert!(parse(args(&["--ini=/a"])).unwrap().ini.is_some());
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        assert!(parse(args(&["--bind", "localhost"]))
            .unwrap_err()
            .contains("not an IP address"));
        assert!(parse(args(&["--log-level", "loud"]))
            .unwrap_err()
            .contains("use error, warn"));
        assert!(parse(args(&["--frobnicate"]))
            .unwrap_err()
            .contains("--help"));
        assert!(parse(args(&["--ini"])).is_err());
    }

    #[test]
    fn microsip_command_line_after_our_options() {
        let o = parse(args(&["--ini", "a.ini", "/answer"])).unwrap();
        assert_eq!(o.tail, vec!["/answer"]);
        assert_eq!(o.ini, Some(PathBuf::from("a.ini")));
        let o = parse(args(&["sip:100@pbx", "--ini", "x"])).unwrap();
        assert_eq!(
            o.command_line(),
            "sip:100@pbx --ini x",
            "all of it, taken as it is"
        );
        assert_eq!(o.ini, None);
        assert_eq!(parse(args(&["-answer"])).unwrap().tail, vec!["-answer"]);
        assert_eq!(parse(args(&["-"])).unwrap().tail, vec!["-"]);
        assert_eq!(
            parse(args(&["--call", "sip:1"])).unwrap().command_line(),
            "--call sip:1"
        );
        assert_eq!(
            parse(args(&["100 hello"])).unwrap().command_line(),
            "100 hello"
        );
        assert_eq!(parse(args(&[""])).unwrap().tail, vec![""]);
        assert_eq!(
            parse(args(&["--", "--ini", "x"])).unwrap().tail,
            vec!["--ini", "x"]
        );
        assert!(parse(args(&["--ini", "x"])).unwrap().tail.is_empty());
    }

    #[test]
    fn send_and_async() {
        let o = parse(args(&["--send", "/answer", "--async"])).unwrap();
        assert_eq!(o.send.as_deref(), Some("/answer"));
        assert!(o.send_async);
        assert!(parse(args(&["--async"])).unwrap_err().contains("--send"));
    }
}
