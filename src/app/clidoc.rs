//! `--help`, `--man` and `--completions SHELL`, all made from the one option table
//! ([`super::cli::OPTIONS`]) and the texts below, so that they cannot drift apart. The man
//! page and the completions are rendered by clap_mangen and clap_complete from a clap
//! `Command` built from the table (clap does not parse our command line: MicroSIP's grammar
//! lets our options stand before or after its own words).
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command, ValueHint};

use super::cli::{OptionSpec, OPTIONS};

/// One line on what microsip is.
const ABOUT: &str = "a headless softphone: MicroSIP's core on PJSIP";

/// The usage lines.
const SYNOPSIS: &[&str] = &[
    "[--ini PATH] [--bind ADDR] [--log-level LEVEL] [MICROSIP COMMAND]",
    "[--ini PATH] --send COMMAND [--async]",
    "[--ini PATH] --status [--json] | --events",
    "[--ini PATH] --alert TARGET... [--play FILE.wav | --say TEXT] [--ack DIGITS] ...",
    "[--ini PATH] --check | --socket-path | --register-uri-handler",
    "--list-audio-devices [--all] | --completions SHELL | --man | --help | --version",
];

/// The sections after the options: (title, paragraphs).
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "MICROSIP COMMAND",
        &[
            "MicroSIP's command line, before or after our --options (MicroSIP's own switches \
             never start with --): a number or URI to dial, `number text` (a SIP MESSAGE), \
             /answer, /hangupall, /hangupincoming, /hangupcalling, /dtmf:DIGITS, \
             /transfer:NUMBER, /account:N, /password:PWD, /exit, msip:... (README: Command \
             line).",
            "One phone runs per settings file. When one already runs for the same file \
             (wherever either binary lies), the command goes to it, its one-line reply is \
             printed on stderr, and this process exits; /answer and /hangupall with no running \
             phone exit at once. A portable MicroSIP.ini next to the binary makes that binary's \
             phone its own, as MicroSIP's one instance per program.",
        ],
    ),
    (
        "EXIT STATUS",
        &[
            "0: done (the phone stopped cleanly, the command ran, the text was printed).",
            "1: a forwarded command was refused or failed (the reason is printed), no phone \
             runs for --send, --status or --events, or the phone could not start (its SIP port \
             is taken).",
            "2: bad input: the command line or the settings file (the message names the file, \
             the key and what is accepted).",
            "--alert: 0 acknowledged, 1 not reached, 2 answered but not acknowledged, 3 usage \
             or settings error.",
        ],
    ),
    (
        "SIGNALS",
        &[
            "SIGINT, SIGTERM: end the calls, un-REGISTER and exit 0.",
            "SIGHUP: read the settings file again; when a setting changed the SIP stack \
             restarts with it (calls in progress end) and the log names each change; when \
             nothing changed the calls go on; a file that cannot be used is refused, and the \
             phone keeps the settings it runs with and says why.",
        ],
    ),
    (
        "FILES",
        &[
            "The settings file is the first of: --ini PATH; MicroSIP.ini next to the binary \
             (portable, as MicroSIP); $XDG_CONFIG_HOME/microsip/MicroSIP.ini (default \
             ~/.config/microsip/MicroSIP.ini), created with MicroSIP's defaults on the first \
             run.",
            "The control socket: $RUNTIME_DIRECTORY (a systemd unit's), else \
             $XDG_RUNTIME_DIR/microsip, else /tmp/microsip-UID; a client also looks in \
             /run/microsip, the system service's.",
            "enableLog=1 writes PJSIP's log to $XDG_STATE_HOME/microsip/microsip_log.txt \
             (next to the binary in portable mode).",
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            "NOTIFY_SOCKET, WATCHDOG_USEC: systemd's readiness (once the account is \
             registered) and watchdog. JOURNAL_STREAM: log lines carry syslog priorities and no \
             time. RUST_LOG: finer log filters. ALSA_CONFIG_PATH: the sound system's \
             configuration.",
        ],
    ),
];

fn option_label(o: &OptionSpec) -> String {
    let mut label = String::new();
    if let Some(c) = o.short {
        let _ = write!(label, "-{c}, ");
    }
    label.push_str(o.long);
    if let Some(v) = o.value {
        let _ = write!(label, " {v}");
    }
    label
}

/// Wraps `text` at `width` columns, each line after `indent` spaces.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{:indent$}{line}", "");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{:indent$}{line}", "");
    }
    out
}

/// The text of `microsip --help`.
pub fn help() -> String {
    let mut out = format!("microsip: {ABOUT}\n\n");
    for (i, line) in SYNOPSIS.iter().enumerate() {
        let lead = if i == 0 { "usage:" } else { "" };
        let _ = writeln!(out, "{lead:<6} microsip {line}");
    }
    out.push_str("\nOPTIONS (-h, --help and --version act anywhere on the line)\n");
    for o in OPTIONS {
        let label = option_label(o);
        let text = wrap(o.help, 24, 92);
        if label.len() < 21 {
            let _ = write!(out, "  {label:<21} {}", text.trim_start());
        } else {
            let _ = writeln!(out, "  {label}");
            out.push_str(&text);
        }
    }
    for (title, paragraphs) in SECTIONS {
        let _ = write!(out, "\n{title}\n");
        for p in *paragraphs {
            out.push_str(&wrap(p, 2, 92));
        }
    }
    out.trim_end().to_string()
}

/// The clap `Command` the man page and the completions are rendered from.
pub fn command() -> Command {
    let mut cmd = Command::new("microsip")
        .about(ABOUT)
        .version(env!("CARGO_PKG_VERSION"))
        .override_usage(
            SYNOPSIS
                .iter()
                .map(|l| format!("microsip {l}"))
                .collect::<Vec<_>>()
                .join("\n       "),
        )
        .disable_help_flag(true)
        .disable_version_flag(true);
    for o in OPTIONS {
        let id = o.long.trim_start_matches('-');
        let mut arg = Arg::new(id).long(id).help(o.help);
        if let Some(c) = o.short {
            arg = arg.short(c);
        }
        arg = match o.value {
            Some(v) if o.long == "--alert" => arg
                .value_name(v.trim_end_matches("..."))
                .num_args(1..)
                .action(ArgAction::Append),
            Some(v) => {
                let mut a = arg.value_name(v).action(ArgAction::Set);
                if !o.choices.is_empty() {
                    a = a.value_parser(o.choices.to_vec());
                }
                if o.file {
                    a = a.value_hint(ValueHint::FilePath);
                }
                a
            }
            None => arg.action(ArgAction::SetTrue),
        };
        cmd = cmd.arg(arg);
    }
    cmd.arg(
        Arg::new("COMMAND")
            .help("MicroSIP's command line: a number or URI to dial, /answer, /exit, msip:...")
            .num_args(0..)
            .trailing_var_arg(true)
            .allow_hyphen_values(true),
    )
}

/// The manual page, in roff.
pub fn man() -> Result<Vec<u8>, String> {
    use clap_mangen::roff::{roman, Roff};
    let page = clap_mangen::Man::new(command())
        .title("MICROSIP")
        .section("1")
        .source(format!("microsip {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut out = Vec::new();
    let sections = (|| {
        page.render_title(&mut out)?;
        page.render_name_section(&mut out)?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        let mut roff = Roff::default();
        for (title, paragraphs) in SECTIONS {
            roff.control("SH", [*title]);
            for p in *paragraphs {
                roff.control("PP", []).text([roman(*p)]);
            }
        }
        roff.to_writer(&mut out)
    })();
    sections.map_err(|e| format!("cannot write the manual page: {e}"))?;
    Ok(out)
}

/// The completion script for `shell` (bash, zsh or fish).
pub fn completions(shell: &str) -> Result<Vec<u8>, String> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        other => {
            return Err(format!(
                "no completions for {other:?}: use bash, zsh or fish"
            ))
        }
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "microsip", &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_option_and_the_sections() {
        let text = help();
        for o in OPTIONS {
            assert!(text.contains(o.long), "{} missing in --help", o.long);
        }
        for (title, _) in SECTIONS {
            assert!(text.contains(title), "{title}");
        }
        assert!(text.contains("SIGHUP") && text.contains("2: bad input"));
        assert!(text.lines().all(|l| l.len() <= 100), "{text}");
    }

    #[test]
    fn the_man_page_and_completions_name_every_option() {
        let page = String::from_utf8(man().unwrap()).unwrap();
        assert!(page.contains("\n.TH MICROSIP 1 "), "{page}");
        for o in OPTIONS {
            // roff escapes dashes.
            let name = o.long.trim_start_matches('-').replace('-', "\\-");
            assert!(page.contains(&name), "{} missing in the man page", o.long);
        }
        assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
        for shell in ["bash", "zsh", "fish"] {
            let script = String::from_utf8(completions(shell).unwrap()).unwrap();
            for o in OPTIONS {
                let name = o.long.trim_start_matches('-');
                assert!(script.contains(name), "{shell}: {name}");
            }
        }
        assert!(completions("tcsh").is_err());
    }
}
