//! One readable line per event on stderr: time, level, text. PJSIP's own log arrives through
//! the same facade under the target `pjsip`.
//!
//! Under systemd's journal (`$JOURNAL_STREAM` names our stderr), lines carry the syslog
//! priority as `<N>` instead of a time and a level: the journal keeps its own time, and
//! `journalctl -p warning` then means what it says.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
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

/// The conditions reported by [`condition`], by key: the text of the problem that holds.
static CONDITIONS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// A condition that lasts (a sound device that cannot be opened) is news when it starts or
/// changes, not at every call: `Some(problem)` is a warning the first time for `key`, or when
/// its text changes, and a debug line while it holds; `None` after a problem says, once, that
/// it is over. Returns whether a warning was logged.
pub fn condition(key: &str, problem: Option<&str>) -> bool {
    let mut held = CONDITIONS.lock().unwrap_or_else(|e| e.into_inner());
    match problem {
        Some(text) if held.get(key).map(String::as_str) == Some(text) => {
            log::debug!("{text} (still)");
            false
        }
        Some(text) => {
            log::warn!("{text}");
            held.insert(key.to_string(), text.to_string());
            true
        }
        None => {
            if held.remove(key).is_some() {
                log::info!("{key}: works again");
            }
            false
        }
    }
}

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

/// One PJSIP log message as we log it: its level and its text without PJSIP's own time (ours,
/// or the journal's, is there already), thread-switch mark and indentation dots. A port that
/// is taken ("Address already in use") is not an error: PJSUA tries the next RTP port of the
/// range, the engine falls back to another SIP port (and says so), and when nothing is left
/// the engine's own error says what failed. Those lines are debug, and so are PJSIP's
/// complaints about packets it could not parse (what a scanner or a fuzzer sends).
pub fn pjsip_record(pj_level: i32, text: &str) -> (Level, String) {
    let mut rest = text.trim_end();
    // "08:50:00.494 " (PJ_LOG_HAS_TIME | PJ_LOG_HAS_MICRO_SEC).
    let bytes = rest.as_bytes();
    if bytes.len() > 13
        && bytes[2] == b':'
        && bytes[5] == b':'
        && bytes[8] == b'.'
        && bytes[..12]
            .iter()
            .enumerate()
            .all(|(i, b)| matches!(i, 2 | 5 | 8) || b.is_ascii_digit())
    {
        rest = rest[12..].trim_start();
    }
    // "pjsua_media.c !...text": the sender, then the marks before the text.
    let text = match rest.split_once(' ') {
        Some((sender, msg)) if sender.ends_with(".c") || sender.contains("0x") => {
            let msg = msg
                .trim_start()
                .trim_start_matches('!')
                .trim_start_matches('.');
            format!("{sender} {msg}")
        }
        _ => rest.to_string(),
    };
    // PJSUA's words for a full RTP port range, with what the user can do about it.
    let text = if text.ends_with("Unable to find appropriate RTP/RTCP ports combination") {
        format!(
            "{text}: every RTP/RTCP port pair is taken, so this call fails (an incoming one \
             is refused with 500); widen rtpPortMin..rtpPortMax (a call takes 2 ports) or set \
             rtpPortMin=0 for any free port"
        )
    } else {
        text
    };
    let retry = text.contains("Address already in use");
    // A packet PJSIP could not parse or use is what someone else sent: news for debugging,
    // not a problem of the phone's, and a flood of garbage must not flood the log (or make
    // `--status` report it as the last problem).
    let garbage = text.starts_with("sip_transport.c Dropping ")
        || text.starts_with("sip_endpoint.c Error processing packet")
        || text.starts_with("sip_parser.c Error parsing");
    let level = match pj_level {
        _ if retry || garbage => Level::Debug,
        0 | 1 => Level::Error,
        2 => Level::Warn,
        3 => Level::Info,
        4 => Level::Debug,
        _ => Level::Trace,
    };
    (level, text)
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
    fn pjsip_lines_lose_their_own_time_and_a_port_retry_is_not_an_error() {
        let (level, text) = pjsip_record(
            1,
            "08:50:00.494          pjsua_media.c !...RTP socket bind() at 127.0.0.1:14000 \
             error: Address already in use\n",
        );
        assert_eq!(level, Level::Debug);
        assert_eq!(
            text,
            "pjsua_media.c RTP socket bind() at 127.0.0.1:14000 error: Address already in use"
        );
        let (level, _) = pjsip_record(
            1,
            "10:37:07.003 pjsua_core.c Error creating SIP TCP listener: Address already in use \
             [status=120098]",
        );
        assert_eq!(level, Level::Debug, "the engine falls back to another port");
        let (level, text) = pjsip_record(
            1,
            "07:02:58.164 pjsua_media.c ..Unable to find appropriate RTP/RTCP ports combination",
        );
        assert_eq!(level, Level::Error);
        assert!(
            text.starts_with(
                "pjsua_media.c Unable to find appropriate RTP/RTCP ports combination: "
            ) && text.contains("refused with 500")
                && text.contains("widen rtpPortMin..rtpPortMax"),
            "{text}"
        );
        let (level, text) = pjsip_record(1, "12:00:01.002 sip_transport.c Bad thing");
        assert_eq!(level, Level::Error);
        assert_eq!(text, "sip_transport.c Bad thing");
        assert_eq!(pjsip_record(2, "plain").1, "plain");
        for garbage in [
            "10:37:07.003 sip_transport.c Dropping 225 bytes packet from UDP 127.0.0.1:5062 : \
             PJSIP syntax error exception when parsing 'From' header on line 4 col 23",
            "10:37:07.003 sip_endpoint.c Error processing packet from 127.0.0.1:40374: Missing \
             required header(s) (PJSIP_EMISSINGHDR)  Via [code 171050]:",
            "10:37:07.003 sip_parser.c Error parsing '36893488147419103232': String value was \
             greater than the maximum allowed value.",
        ] {
            assert_eq!(pjsip_record(1, garbage).0, Level::Debug, "{garbage}");
            assert_eq!(pjsip_record(2, garbage).0, Level::Debug, "{garbage}");
        }
        assert_eq!(pjsip_record(2, "plain").0, Level::Warn);
    }

    #[test]
    fn a_lasting_condition_is_news_only_when_it_starts_or_changes() {
        let key = "test device";
        assert!(condition(key, Some("no device")));
        assert!(
            !condition(key, Some("no device")),
            "the same again is not news"
        );
        assert!(condition(key, Some("another cause")), "a change is");
        assert!(!condition(key, None));
        assert!(condition(key, Some("another cause")), "it came back");
        condition(key, None);
    }

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
