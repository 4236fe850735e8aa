//! One readable line per event on stderr: time, level, text. PJSIP's own log arrives through
//! the same facade under the target `pjsip`.
//!
//! Under systemd's journal (`$JOURNAL_STREAM` names our stderr), lines carry the syslog
//! priority as `<N>` instead of a time and a level: the journal keeps its own time, and
//! `journalctl -p warning` then means what it says.
#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use log::{Level, LevelFilter};

/// The last warning or error logged (what `microsip --status` reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// When it was logged.
    pub at: SystemTime,
    /// `Error` or `Warn`.
    pub level: Level,
    /// The message, escaped as logged.
    pub text: String,
}

static LAST_PROBLEM: Mutex<Option<Problem>> = Mutex::new(None);

/// The last warning or error logged since the process started.
pub fn last_problem() -> Option<Problem> {
    LAST_PROBLEM
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

fn remember(level: Level, text: &str) {
    if level <= Level::Warn {
        *LAST_PROBLEM.lock().unwrap_or_else(|e| e.into_inner()) = Some(Problem {
            at: SystemTime::now(),
            level,
            text: text.to_string(),
        });
    }
}

/// Whether stderr is the journal's stream: `$JOURNAL_STREAM` is `DEVICE:INODE` of the stream
/// systemd connected, and must still be our stderr (not inherited by a child whose stderr
/// was redirected).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else {
        return false;
    };
    journal_stream_matches(&value.to_string_lossy(), stat.st_dev, stat.st_ino)
}

/// `JOURNAL_STREAM`'s `DEVICE:INODE` compared with a file's.
pub fn journal_stream_matches(value: &str, dev: u64, ino: u64) -> bool {
    match value.split_once(':') {
        Some((d, i)) => d.parse() == Ok(dev) && i.parse() == Ok(ino),
        None => false,
    }
}

/// The syslog priority of a level (sd-daemon(3)'s `<N>` prefixes).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// Installs the logger. `RUST_LOG` still works for finer filtering.
pub fn init(level: LevelFilter) {
    let journal = stderr_is_journal();
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .parse_default_env()
        .format(move |buf, record| {
            let pjsip = record.target() == "pjsip";
            let target = if pjsip { "pjsip: " } else { "" };
            let text = one_entry(&record.args().to_string(), pjsip);
            remember(record.level(), &text);
            if journal {
                // Every line of a multi-line entry is a journal entry of its own.
                let prio = syslog_priority(record.level());
                let text = text.replace('\n', &format!("\n<{prio}>"));
                return writeln!(buf, "<{prio}>{target}{text}");
            }
            let ts = buf.timestamp_millis();
            writeln!(buf, "{ts} {:<5} {target}{text}", record.level())
        })
        .try_init();
}

/// A log message made safe to print: text from the network (caller ids, headers, message
/// bodies) can hold control characters; they are escaped (`\n`, `\x1b`...), so no message
/// can forge a log line or move a terminal's cursor. PJSIP's own multi-line messages (SIP
/// message dumps at the debug levels) keep their lines, indented under the entry.
pub fn one_entry(text: &str, multi_line: bool) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if multi_line => out.push_str("\n    "),
            '\r' if multi_line => {}
            '\t' => out.push('\t'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The PJSIP log level (0..=6) that matches our filter: PJSIP's level 3 is chatty, so `info`
/// shows only its warnings and errors.
pub fn pjsip_level(level: LevelFilter) -> u32 {
    match level {
        LevelFilter::Off => 0,
        LevelFilter::Error => 1,
        LevelFilter::Warn | LevelFilter::Info => 2,
        LevelFilter::Debug => 4,
        LevelFilter::Trace => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_stream_must_be_our_stderr() {
        assert!(journal_stream_matches("64769:123456", 64769, 123456));
        assert!(!journal_stream_matches("64769:123456", 64769, 1));
        assert!(!journal_stream_matches("garbage", 0, 0));
        assert_eq!(syslog_priority(Level::Error), 3);
        assert_eq!(syslog_priority(Level::Warn), 4);
        assert_eq!(syslog_priority(Level::Info), 6);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_entry("plain", false), "plain");
        assert_eq!(
            one_entry("a\nINFO forged\r\x1b[2J", false),
            "a\\nINFO forged\\r\\x1b[2J"
        );
        assert_eq!(one_entry("l1\r\nl2\x07", true), "l1\n    l2\\x07");
    }
}
