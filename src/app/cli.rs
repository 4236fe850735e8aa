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
    /// `--check`: validate the settings file, print the effective settings and exit.
    pub check: bool,
    pub help: bool,
    pub version: bool,
}

pub const USAGE: &str = "\
microsip: a headless softphone (MicroSIP's core on PJSIP)

usage: microsip [--ini PATH] [--bind ADDR] [--log-level LEVEL]
       microsip [--ini PATH] --check
       microsip --help | --version

  --ini PATH         settings file (MicroSIP.ini; UTF-16LE or UTF-8)
  --bind ADDR        bind SIP and RTP to ADDR and advertise it in Contact and SDP
  --log-level LEVEL  error, warn, info (default), debug or trace
  --check            validate the settings file, print the effective settings, exit
                     (0: usable, 2: not)
  --help             this text
  --version          version of microsip and of the linked pjproject

Signals: SIGINT or SIGTERM end calls, un-REGISTER and exit.";

/// Parses our options; the error says what was wrong and what is accepted.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut opts = Options::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
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
            Long("check") => opts.check = true,
            Long("help") => opts.help = true,
            Long("version") => opts.version = true,
            other => return Err(format!("{}; see microsip --help", other.unexpected())),
        }
    }
    Ok(opts)
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
}
