//! Call recording (issue 6, reference §10): with `autoRecording=1` every call is recorded from
//! CONFIRMED to its end, its audio and the microphone, into `recordingPath` (relative to the
//! settings file's folder) under MicroSIP's name
//! `YYYYMMDD-HHMMSS-<remote user>-<incoming|outgoing>-<label or local user>.wav`.
//! Only WAV is written: `recordingFormat=mp3` (MicroSIP's default) is reported once and
//! recorded as WAV.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{self, RecordingFormat};
use crate::engine::{AccountId, CallId, CallInfo, CallState, Engine, Event, RecorderId, Role};

pub struct Recording {
    enabled: bool,
    dir: PathBuf,
    /// The label used in file names, per account.
    labels: HashMap<AccountId, String>,
    active: HashMap<CallId, (RecorderId, PathBuf)>,
}

impl Recording {
    pub fn new(engine: &Engine, cfg: &config::Config) -> Recording {
        let s = &cfg.settings;
        let base = cfg.path.parent().unwrap_or(Path::new("."));
        let dir = base.join(&s.recording_path);
        let mut labels = HashMap::new();
        let info = engine.info();
        if let (Some(id), Some((_, acc))) = (info.account, cfg.active_account()) {
            let l = if acc.label.is_empty() {
                acc.username.clone()
            } else {
                acc.label.clone()
            };
            labels.insert(id, l);
        }
        if let Some(id) = info.local_account {
            let l = cfg
                .accounts
                .get(&0)
                .map(|a| a.label.clone())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| config::LOCAL_ACCOUNT_LABEL.to_string());
            labels.insert(id, l);
        }
        if s.auto_recording {
            if s.recording_format == RecordingFormat::Mp3 {
                log::warn!(
                    "recordingFormat: MP3 is not supported; calls are recorded as WAV in {}",
                    dir.display()
                );
            } else {
                log::info!("autoRecording=1: calls are recorded in {}", dir.display());
            }
        }
        Recording {
            enabled: s.auto_recording,
            dir,
            labels,
            active: HashMap::new(),
        }
    }

    /// Starts recording at CONFIRMED and stops at the end of each call.
    pub fn on_event(&mut self, engine: &Engine, ev: &Event) {
        let Event::CallState { info } = ev else {
            return;
        };
        match info.state {
            CallState::Confirmed if self.enabled && !self.active.contains_key(&info.call) => {
                self.start(engine, info);
            }
            CallState::Disconnected => {
                if let Some((rec, path)) = self.active.remove(&info.call) {
                    engine.stop_recording(rec);
                    log::info!("call {}: recorded in {}", info.call, path.display());
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, engine: &Engine, info: &CallInfo) {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            log::warn!(
                "call {}: cannot record: cannot create {}: {e}",
                info.call,
                self.dir.display()
            );
            return;
        }
        let label = self
            .labels
            .get(&info.account)
            .cloned()
            .unwrap_or_else(|| uri_user(&info.local));
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = file_name(
            secs,
            &uri_user(&info.remote),
            info.role == Role::Callee,
            &label,
        );
        let path = self.dir.join(format!("{name}.wav"));
        match engine.start_recording(info.call, &path) {
            Ok(rec) => {
                log::info!("call {}: recording to {}", info.call, path.display());
                self.active.insert(info.call, (rec, path));
            }
            Err(e) => log::warn!("call {}: cannot record: {e}", info.call),
        }
    }
}

/// The user part of a SIP URI in a header value (`"Bob" <sip:bob@host>` → `bob`), or its host
/// when it has no user.
pub fn uri_user(value: &str) -> String {
    let uri = value
        .rsplit_once('<')
        .map_or(value, |(_, r)| r.split('>').next().unwrap_or(r));
    let rest = uri
        .trim()
        .trim_start_matches("sips:")
        .trim_start_matches("sip:")
        .trim_start_matches("tel:");
    let rest = rest.split([';', '?', '>']).next().unwrap_or(rest);
    match rest.split_once('@') {
        Some((user, _)) => user.to_string(),
        None => rest.split(':').next().unwrap_or(rest).to_string(),
    }
}

/// MicroSIP's recording name (§10): `YYYYMMDD-HHMMSS-<remote>-<incoming|outgoing>-<label>`,
/// with `/ \ ? % * : | " < > .` and spaces turned into `_`. The time is UTC.
pub fn file_name(unix_secs: u64, remote_user: &str, incoming: bool, label: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if "/\\?%*:|\"<>. ".contains(c) { '_' } else { c })
            .collect()
    };
    let days = (unix_secs / 86400) as i64;
    let (y, m, d) = civil_from_days(days);
    let t = unix_secs % 86400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{}-{}-{}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        clean(remote_user),
        if incoming { "incoming" } else { "outgoing" },
        clean(label)
    )
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsip_file_names() {
        // 2026-11-23 14:05:09 UTC.
        let t = 1_795_442_709;
        assert_eq!(
            file_name(t, "bob", true, "Local (call by IP address)"),
            "20261123-140509-bob-incoming-Local_(call_by_IP_address)"
        );
        assert_eq!(
            file_name(t, "a/b\\c?d%e*f:g|h\"i<j>k.l m", false, "Office"),
            "20261123-140509-a_b_c_d_e_f_g_h_i_j_k_l_m-outgoing-Office"
        );
        assert_eq!(file_name(0, "x", true, "y"), "19700101-000000-x-incoming-y");
        // A leap day.
        assert!(file_name(951_782_400, "x", true, "y").starts_with("20000229-"));
    }

    #[test]
    fn user_part_of_header_values() {
        assert_eq!(uri_user("\"Bob\" <sip:bob@example.com>"), "bob");
        assert_eq!(uri_user("<sip:127.0.0.1>"), "127.0.0.1");
        assert_eq!(uri_user("<sip:127.0.0.1:5060;transport=udp>"), "127.0.0.1");
        assert_eq!(uri_user("sip:100@pbx;user=phone"), "100");
        assert_eq!(uri_user("<tel:+4930123>"), "+4930123");
    }
}
