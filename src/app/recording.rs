//! Call recording (issue 6, reference §10): with `autoRecording=1` every call is recorded from
//! CONFIRMED to its end; `msip:recordstart`, `msip:recordstop` and `msip:recordclick` (a
//! toggle, like MicroSIP's record button) do the same for the selected call on demand. A
//! recording holds the call's audio and the microphone, in `recordingPath` (relative to the
//! settings file's folder) under MicroSIP's name
//! `YYYYMMDD-HHMMSS-<remote user>-<incoming|outgoing>-<label or local user>.<wav|mp3>`.
//!
//! PJSUA's recorder writes WAV. For `recordingFormat` other than `wav` (MicroSIP's default is
//! MP3) the call is recorded into a hidden `.wav` beside the target and encoded to MP3 with
//! LAME when the recording ends, on a thread of its own; the WAV is then removed.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::commands::CallControl;
use crate::config::{self, RecordingFormat};
use crate::engine::{AccountId, CallId, CallInfo, CallState, Event, RecorderId, Role};

/// One call being recorded: PJSUA's recorder, the file it writes, and the file the user gets.
struct Active {
    recorder: RecorderId,
    wav: PathBuf,
    target: PathBuf,
}

pub struct Recording {
    auto: bool,
    mp3: bool,
    dir: PathBuf,
    /// The label used in file names, per account.
    labels: HashMap<AccountId, String>,
    active: HashMap<CallId, Active>,
    /// MP3 encoders still at work; the phone waits for them before it exits.
    encoders: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Recording {
    fn drop(&mut self) {
        for handle in self.encoders.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Recording {
    pub fn new(engine: &dyn CallControl, cfg: &config::Config) -> Recording {
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
        let mp3 = s.recording_format == RecordingFormat::Mp3;
        if s.auto_recording {
            log::info!(
                "autoRecording=1: calls are recorded in {} as {}",
                dir.display(),
                if mp3 { "MP3" } else { "WAV" }
            );
        }
        Recording {
            auto: s.auto_recording,
            mp3,
            dir,
            labels,
            active: HashMap::new(),
            encoders: Vec::new(),
        }
    }

    /// Starts recording at CONFIRMED (with `autoRecording=1`) and stops at the end of each call.
    pub fn on_event(&mut self, engine: &dyn CallControl, ev: &Event) {
        let Event::CallState { info } = ev else {
            return;
        };
        match info.state {
            CallState::Confirmed if self.auto && !self.active.contains_key(&info.call) => {
                if let Err(e) = self.start(engine, info) {
                    log::warn!("call {}: cannot record: {e}", info.call);
                }
            }
            CallState::Disconnected => {
                self.stop(engine, info.call);
            }
            _ => {}
        }
    }

    /// Whether `call` is being recorded.
    pub fn is_recording(&self, call: CallId) -> bool {
        self.active.contains_key(&call)
    }

    /// Starts recording `info`'s call; returns the file it will be in.
    pub fn start(&mut self, engine: &dyn CallControl, info: &CallInfo) -> Result<PathBuf, String> {
        if let Some(a) = self.active.get(&info.call) {
            return Ok(a.target.clone());
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
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
        let (wav, target) = if self.mp3 {
            (
                self.dir.join(format!(".{name}.recording.wav")),
                self.dir.join(format!("{name}.mp3")),
            )
        } else {
            let p = self.dir.join(format!("{name}.wav"));
            (p.clone(), p)
        };
        let recorder = engine
            .start_recording(info.call, &wav)
            .map_err(|e| e.to_string())?;
        log::info!("call {}: recording to {}", info.call, target.display());
        self.active.insert(
            info.call,
            Active {
                recorder,
                wav,
                target: target.clone(),
            },
        );
        Ok(target)
    }

    /// Stops recording `call`, if it is recorded; returns the file it is (or will be, once
    /// encoded) in.
    pub fn stop(&mut self, engine: &dyn CallControl, call: CallId) -> Option<PathBuf> {
        let a = self.active.remove(&call)?;
        engine.stop_recording(a.recorder);
        if a.wav == a.target {
            log::info!("call {call}: recorded in {}", a.target.display());
        } else {
            let target = a.target.clone();
            let spawned = std::thread::Builder::new()
                .name("mp3-encoder".into())
                .spawn(move || match encode_mp3(&a.wav, &a.target) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&a.wav);
                        log::info!("call {call}: recorded in {}", a.target.display());
                    }
                    Err(e) => log::warn!(
                        "call {call}: cannot encode {} to MP3 ({e}); the recording stays in {}",
                        a.target.display(),
                        a.wav.display()
                    ),
                });
            match spawned {
                Ok(handle) => {
                    self.encoders.retain(|h| !h.is_finished());
                    self.encoders.push(handle);
                }
                Err(e) => log::warn!("call {call}: cannot start the MP3 encoder: {e}"),
            }
            return Some(target);
        }
        Some(a.target)
    }
}

/// Encodes a 16-bit mono or stereo WAV file into an MP3 file with LAME (CBR; 32 kbit/s per
/// channel up to 16 kHz, which is what calls are, 64 above).
pub fn encode_mp3(wav: &Path, mp3: &Path) -> Result<(), String> {
    use mp3lame_encoder::{Bitrate, Builder, FlushNoGap, InterleavedPcm, MonoPcm, Quality};
    let mut reader = hound::WavReader::open(wav).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        return Err(format!(
            "{} is not 16-bit PCM ({} bits)",
            wav.display(),
            spec.bits_per_sample
        ));
    }
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let channels = spec.channels.clamp(1, 2);
    let bitrate = match (spec.sample_rate <= 16_000, channels) {
        (true, 1) => Bitrate::Kbps32,
        (true, _) | (false, 1) => Bitrate::Kbps64,
        (false, _) => Bitrate::Kbps128,
    };
    let err = |e: mp3lame_encoder::BuildError| format!("LAME: {e}");
    let mut builder = Builder::new().ok_or("LAME cannot start")?;
    builder.set_num_channels(channels as u8).map_err(err)?;
    builder.set_sample_rate(spec.sample_rate).map_err(err)?;
    builder.set_brate(bitrate).map_err(err)?;
    builder.set_quality(Quality::Good).map_err(err)?;
    let mut encoder = builder.build().map_err(err)?;
    let frames = samples.len() / usize::from(channels);
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(frames));
    let enc = |e: mp3lame_encoder::EncodeError| format!("LAME: {e}");
    if channels == 1 {
        encoder
            .encode_to_vec(MonoPcm(&samples), &mut out)
            .map_err(enc)?;
    } else {
        encoder
            .encode_to_vec(InterleavedPcm(&samples), &mut out)
            .map_err(enc)?;
    }
    encoder.flush_to_vec::<FlushNoGap>(&mut out).map_err(enc)?;
    // Under a temporary name first: a file with the final name is always complete.
    let part = mp3.with_extension("mp3.part");
    std::fs::write(&part, &out)
        .and_then(|()| std::fs::rename(&part, mp3))
        .map_err(|e| format!("cannot write {}: {e}", mp3.display()))
}

/// The user part of a SIP URI in a header value (`"Bob" <sip:bob@host>` → `bob`), or its host
/// when it has no user.
pub fn uri_user(value: &str) -> String {
    let (user, host) = crate::dial::uri_user_host(value);
    if user.is_empty() {
        host
    } else {
        user
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
