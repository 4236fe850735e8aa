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
            let target = if record.target() == "pjsip" {
                "pjsip: "
            } else {
                ""
            };
            writeln!(buf, "{ts} {:<5} {target}{}", record.level(), record.args())
        })
        .try_init();
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
