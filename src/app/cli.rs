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
    /// `--all`: with `--list-audio-devices`, ALSA's plugins (rate converters...) too.
    pub all: bool,
    /// `--check-audio-devices`: check the sound devices the settings name, and exit.
    pub check_audio_devices: bool,
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
    /// `--status`: print the running phone's state.
    pub status: bool,
    /// `--json`: with `--status`, the state as one JSON object.
    pub json: bool,
    /// `--alert ...`: an alert call; everything after `--alert` (targets and its options).
    pub alert: Option<Vec<String>>,
    /// `--completions SHELL`: print the completion script for SHELL.
    pub completions: Option<String>,
    /// `--man`: print the manual page.
    pub man: bool,
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

/// One of our `--long` options: the one definition the parser, `--help`, the man page and
/// the shell completions are made from (see [`super::clidoc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The name, with its dashes (`--ini`).
    pub long: &'static str,
    /// A one-letter alias (`-h`).
    pub short: Option<char>,
    /// The value's name when the option takes one (`PATH`).
    pub value: Option<&'static str>,
    /// The values a completion offers (empty: any).
    pub choices: &'static [&'static str],
    /// The value is a file name (completions offer files).
    pub file: bool,
    /// What it does, one sentence or two.
    pub help: &'static str,
}

const fn flag(long: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec {
        long,
        short: None,
        value: None,
        choices: &[],
        file: false,
        help,
    }
}

const fn valued(long: &'static str, value: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec {
        value: Some(value),
        ..flag(long, help)
    }
}

/// Our options, in the order `--help` lists them.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        file: true,
        ..valued(
            "--ini",
            "PATH",
            "the settings file (MicroSIP.ini, UTF-16LE or UTF-8); see FILES",
        )
    },
    valued(
        "--bind",
        "ADDR",
        "bind SIP and RTP to the IP address ADDR and advertise it in Contact and SDP",
    ),
    OptionSpec {
        choices: &["error", "warn", "info", "debug", "trace"],
        ..valued(
            "--log-level",
            "LEVEL",
            "error, warn, info (the default), debug or trace",
        )
    },
    OptionSpec {
        short: Some('h'),
        ..flag("--help", "print this text and exit (anywhere on the line)")
    },
    flag(
        "--version",
        "print the version of microsip and of its pjproject, and exit",
    ),
    flag(
        "--check",
        "validate the settings file, print the effective settings and exit (0: usable, 2: not)",
    ),
    flag(
        "--list-audio-devices",
        "list the sound devices by the names audioInputDevice, audioOutputDevice and \
         audioRingDevice take, and exit",
    ),
    flag(
        "--all",
        "with --list-audio-devices: ALSA's converter plugins (lavrate, upmix...) too",
    ),
    flag(
        "--check-audio-devices",
        "check that the sound devices the settings name (audioOutputDevice, audioInputDevice, \
         audioRingDevice) can be opened as a call would, print what is wrong, and exit (0: all \
         usable, 1: not); with --json, one JSON object",
    ),
    valued(
        "--send",
        "COMMAND",
        "run COMMAND (MicroSIP's command line) in the running phone, wait for it and print \
         its reply",
    ),
    flag(
        "--async",
        "with --send: queue the command and return at once (dwData=2)",
    ),
    flag(
        "--status",
        "print the running phone's registrations, calls, uptime and last problem",
    ),
    flag(
        "--json",
        "with --status or --check-audio-devices: one JSON object",
    ),
    flag(
        "--events",
        "print the running phone's events, one JSON object per line, until it stops",
    ),
    valued(
        "--alert",
        "TARGET...",
        "call the TARGETs (in turn, or all at once with --parallel) until one acknowledges \
         with a digit; everything after --alert is the alert's: TARGET... [--play FILE.wav | \
         --say TEXT] [--ack DIGITS] [--repeat N] [--timeout S] [--retries N] \
         [--retry-delay S] [--parallel] [--json]",
    ),
    flag(
        "--socket-path",
        "print the path of the control socket for these settings and exit",
    ),
    flag(
        "--register-uri-handler",
        "open sip:, sips:, tel: and callto: links with microsip (xdg-mime) and exit",
    ),
    OptionSpec {
        choices: &["bash", "zsh", "fish"],
        ..valued(
            "--completions",
            "SHELL",
            "print the shell completion script for bash, zsh or fish, and exit",
        )
    },
    flag("--man", "print the manual page (roff) and exit"),
];

/// The option `word` names (`--ini`, `-h`), if it is one of ours.
pub fn find_option(word: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| {
        o.long == word
            || o.short
                .is_some_and(|c| word.len() == 2 && word.starts_with('-') && word.ends_with(c))
    })
}

/// What one run of `microsip` does, settled once from the options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `--help`: print the usage.
    Help,
    /// `--version`.
    Version,
    /// `--check`: validate the settings and print the effective values.
    Check,
    /// `--list-audio-devices [--all]`.
    ListAudioDevices { all: bool },
    /// `--check-audio-devices [--json]`.
    CheckAudioDevices { json: bool },
    /// `--register-uri-handler`.
    RegisterUriHandler,
    /// `--socket-path`.
    SocketPath,
    /// `--send TEXT [--async]`: one command to the running phone.
    Send { text: String, queue: bool },
    /// `--events`: the running phone's events, one JSON object per line.
    Events,
    /// `--status [--json]`: the running phone's registrations, calls, uptime, last problem.
    Status { json: bool },
    /// `--completions SHELL`: the completion script for SHELL (bash, zsh or fish).
    Completions(String),
    /// `--man`: the manual page, in roff.
    Man,
    /// `--alert TARGET... [options]`: an alert call (its arguments, parsed by the alert).
    Alert(Vec<String>),
    /// Run the phone, or hand MicroSIP's command line to the one running.
    Phone,
}

impl Options {
    /// The one thing this run does. `--help`, then `--version`, win over everything; two
    /// other modes at once are an error that names them.
    pub fn mode(&self) -> Result<Mode, String> {
        if self.help {
            return Ok(Mode::Help);
        }
        if self.version {
            return Ok(Mode::Version);
        }
        let mut modes = Vec::new();
        if self.check {
            modes.push(("--check", Mode::Check));
        }
        if self.list_audio_devices {
            modes.push((
                "--list-audio-devices",
                Mode::ListAudioDevices { all: self.all },
            ));
        }
        if self.check_audio_devices {
            modes.push((
                "--check-audio-devices",
                Mode::CheckAudioDevices { json: self.json },
            ));
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
        if self.status {
            modes.push(("--status", Mode::Status { json: self.json }));
        }
        if let Some(shell) = &self.completions {
            modes.push(("--completions", Mode::Completions(shell.clone())));
        }
        if self.man {
            modes.push(("--man", Mode::Man));
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
///
/// Our `--long` options may stand before or after MicroSIP's command line (MicroSIP's own
/// switches never start with `--`; `--call` is one of its popular aliases); `-h`, `--help`
/// and `--version` count wherever they are, and a lone `help` asks for help too. After
/// `--` everything is MicroSIP's command line; after `--alert`, the alert's arguments.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, String> {
    let words: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut opts = Options::default();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if word == "--" {
            opts.tail.extend(words[i..].iter().cloned());
            break;
        }
        // MicroSIP's alias takes its URI along.
        if word == "--call" {
            opts.tail.push(word.clone());
            if let Some(uri) = words.get(i) {
                opts.tail.push(uri.clone());
                i += 1;
            }
            continue;
        }
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let Some(spec) = find_option(name) else {
            if word.starts_with("--") && opts.tail.is_empty() {
                return Err(format!(
                    "unknown option {word}; see microsip --help (MicroSIP's own switches \
                     start with / or -)"
                ));
            }
            opts.tail.push(word.clone());
            continue;
        };
        if spec.long == "--alert" {
            opts.alert = Some(words[i..].to_vec());
            break;
        }
        let value = match (spec.value, inline) {
            (None, Some(_)) => {
                return Err(format!("{} takes no value; see microsip --help", spec.long))
            }
            (None, None) => String::new(),
            (Some(_), Some(v)) => v,
            (Some(what), None) => {
                let v = words.get(i).cloned().ok_or_else(|| {
                    format!("{} needs a value ({what}); see microsip --help", spec.long)
                })?;
                i += 1;
                v
            }
        };
        if !spec.choices.is_empty() && !spec.choices.contains(&value.as_str()) {
            return Err(format!(
                "{} {value:?}: use {}; see microsip --help",
                spec.long,
                spec.choices.join(", ")
            ));
        }
        set(&mut opts, spec.long, value)?;
    }
    if opts.tail == ["help"] {
        opts.tail.clear();
        opts.help = true;
    }
    if opts.all && !opts.list_audio_devices {
        return Err("--all goes with --list-audio-devices; see microsip --help".into());
    }
    if opts.json && !opts.status && !opts.check_audio_devices {
        return Err(
            "--json goes with --status or --check-audio-devices (or after --alert); see \
             microsip --help"
                .into(),
        );
    }
    if opts.send_async && opts.send.is_none() {
        return Err("--async only goes with --send COMMAND; see microsip --help".into());
    }
    Ok(opts)
}

/// Applies option `long` (one of [`OPTIONS`]) with its value ("" for a flag).
fn set(opts: &mut Options, long: &str, value: String) -> Result<(), String> {
    match long {
        "--ini" => opts.ini = Some(value.into()),
        "--bind" => {
            opts.bind = Some(value.parse().map_err(|_| {
                format!("--bind {value:?} is not an IP address (e.g. --bind 127.0.0.1)")
            })?)
        }
        "--log-level" => {
            opts.log_level = Some(value.parse().map_err(|_| {
                format!("--log-level {value:?}: use error, warn, info, debug or trace")
            })?)
        }
        "--help" => opts.help = true,
        "--version" => opts.version = true,
        "--check" => opts.check = true,
        "--list-audio-devices" => opts.list_audio_devices = true,
        "--check-audio-devices" => opts.check_audio_devices = true,
        "--all" => opts.all = true,
        "--send" => opts.send = Some(value),
        "--async" => opts.send_async = true,
        "--status" => opts.status = true,
        "--json" => opts.json = true,
        "--events" => opts.events = true,
        "--socket-path" => opts.socket_path = true,
        "--register-uri-handler" => opts.register_uri_handler = true,
        "--completions" => opts.completions = Some(value),
        "--man" => opts.man = true,
        other => return Err(format!("internal error: option {other} has no effect")),
    }
    Ok(())
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
        assert_eq!(mode(&["--check", "--version"]), Ok(Mode::Version));
        let err = mode(&["--check", "--events"]).unwrap_err();
        assert!(err.contains("--check and --events"), "{err}");
        let err = mode(&["--socket-path", "100"]).unwrap_err();
        assert!(err.contains("takes no MicroSIP command"), "{err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, String> {
        parse(args.iter().map(OsString::from))?.mode()
    }

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
        // Our options after MicroSIP's command line are ours too.
        let o = parse(args(&["sip:100@pbx", "--ini", "x"])).unwrap();
        assert_eq!(o.command_line(), "sip:100@pbx");
        assert_eq!(o.ini, Some(PathBuf::from("x")));
        let o = parse(args(&["100", "hello", "--ini=y", "there"])).unwrap();
        assert_eq!(o.command_line(), "100 hello there");
        assert_eq!(o.ini, Some(PathBuf::from("y")));
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
    fn help_and_version_count_anywhere() {
        for a in [
            &["-h"][..],
            &["--help"],
            &["help"],
            &["100", "-h"],
            &["/answer", "--help"],
        ] {
            assert!(parse(args(a)).unwrap().help, "{a:?}");
        }
        let o = parse(args(&["sip:1", "--version"])).unwrap();
        assert!(o.version);
        assert_eq!(
            o.mode(),
            Ok(Mode::Version),
            "the dial target does not count"
        );
        // `help` with more words is a message to a contact called help.
        assert!(!parse(args(&["help", "me"])).unwrap().help);
        let e = parse(args(&["--bogus"])).unwrap_err();
        assert!(e.contains("unknown option --bogus"), "{e}");
        // Once MicroSIP's command line started, other words are its (a message text).
        let o = parse(args(&["100", "see", "--bogus"])).unwrap();
        assert_eq!(o.command_line(), "100 see --bogus");
    }

    #[test]
    fn every_option_of_the_table_is_parsed() {
        for spec in OPTIONS {
            if spec.long == "--alert" {
                continue;
            }
            let value = spec.choices.first().copied().unwrap_or("127.0.0.1");
            let words: Vec<&str> = match spec.value {
                Some(_) => vec![spec.long, value],
                None => vec![spec.long],
            };
            // Flags that only go with another one get their partner.
            let partner = match spec.long {
                "--all" => Some("--list-audio-devices"),
                "--async" => Some("--send=x"),
                "--json" => Some("--status"),
                _ => None,
            };
            let mut all = words.clone();
            all.extend(partner);
            parse(args(&all)).unwrap_or_else(|e| panic!("{all:?}: {e}"));
        }
        assert!(parse(args(&["--check=yes"]))
            .unwrap_err()
            .contains("takes no value"));
        assert!(parse(args(&["--completions", "tcsh"]))
            .unwrap_err()
            .contains("bash, zsh, fish"));
    }

    #[test]
    fn send_and_async() {
        let o = parse(args(&["--send", "/answer", "--async"])).unwrap();
        assert_eq!(o.send.as_deref(), Some("/answer"));
        assert!(o.send_async);
        assert!(parse(args(&["--async"])).unwrap_err().contains("--send"));
        assert_eq!(
            mode(&["--status", "--json"]),
            Ok(Mode::Status { json: true })
        );
        assert_eq!(
            mode(&["--json", "--status"]),
            Ok(Mode::Status { json: true })
        );
        assert!(parse(args(&["--json"])).unwrap_err().contains("--status"));
    }
}
