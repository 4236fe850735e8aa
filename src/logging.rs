//! One readable line per event on stderr: time, level, text. PJSIP's own log arrives through
//! the same facade under the target `pjsip`.
#![forbid(unsafe_code)]

use std::io::Write;

use log::LevelFilter;

/// Installs the logger. `RUST_LOG` still works for finer filtering.
pub fn init(level: LevelFilter) {
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .parse_default_env()
        .format(|buf, record| {
            let ts = buf.timestamp_millis();
            let pjsip = record.target() == "pjsip";
            let target = if pjsip { "pjsip: " } else { "" };
            let text = one_entry(&record.args().to_string(), pjsip);
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
    use super::one_entry;

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
