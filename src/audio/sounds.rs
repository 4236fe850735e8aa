//! MicroSIP's sounds (§10): WAV files played on a sound device, outside any call's audio.
//!
//! `ringtone.wav` (or `ringingSound`) loops on `audioRingDevice` while an incoming call rings,
//! `ringing.wav` (ringback) loops on `audioOutputDevice` while an outgoing call rings with no
//! early media, and `hangup.wav` plays once when a call ends (with `localDTMF=1`). A file
//! next to the executable wins over our built-in default (made by scripts/make-sounds.py).
//!
//! A [`Player`] owns one cpal output stream; its callback only copies from a buffer prepared
//! before the stream starts (already at the device's rate and channel count).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::{find_device, negotiate, AlsaMessages, Chosen, Direction};

/// A decoded sound: mono 16-bit samples at `rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sound {
    pub rate: u32,
    pub samples: Arc<[i16]>,
}

/// The condition key (see [`crate::logging::condition`]) of a device the sounds play on.
pub fn sounds_key(device: &str) -> String {
    format!("sounds on {device:?}")
}

/// The warning for sounds that cannot play: `e` says why.
pub fn sounds_problem(e: &str) -> String {
    format!("sounds: {e}; ringtones and other sounds are not played")
}

/// Which of MicroSIP's sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ringtone.wav`: an incoming call rings.
    Ringtone,
    /// `ringing.wav`: an outgoing call rings (ringback).
    Ringback,
    /// `ringing2.wav`: the auto-answer / call-waiting beep.
    Beep,
    /// `hangup.wav`: a call ended.
    Hangup,
}

impl Kind {
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Ringtone => "ringtone.wav",
            Kind::Ringback => "ringing.wav",
            Kind::Beep => "ringing2.wav",
            Kind::Hangup => "hangup.wav",
        }
    }

    fn builtin(self) -> &'static [u8] {
        match self {
            Kind::Ringtone => include_bytes!("../../sounds/ringtone.wav"),
            Kind::Ringback => include_bytes!("../../sounds/ringing.wav"),
            Kind::Beep => include_bytes!("../../sounds/ringing2.wav"),
            Kind::Hangup => include_bytes!("../../sounds/hangup.wav"),
        }
    }
}

impl Sound {
    /// Decodes a WAV file's bytes (PCM 8/16/24/32-bit or float, any channel count).
    pub fn from_wav(bytes: &[u8]) -> Result<Sound, String> {
        let mut r =
            hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
        let spec = r.spec();
        let ch = usize::from(spec.channels.max(1));
        let all: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => r
                .samples::<f32>()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                r.samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?
            }
        };
        let samples: Vec<i16> = all
            .chunks(ch)
            .map(|f| {
                let m = f.iter().sum::<f32>() / f.len() as f32;
                (m * 32767.0).clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        if samples.is_empty() || spec.sample_rate == 0 {
            return Err("it holds no audio".into());
        }
        Ok(Sound {
            rate: spec.sample_rate,
            samples: samples.into(),
        })
    }

    /// MicroSIP's choice of file: `setting` if not empty (environment variables such as
    /// `$HOME` or `%HOME%` expanded), else `kind`'s file next to the executable if it exists
    /// (or in `../share/microsip/` beside it, where scripts/install.sh puts the sounds), else
    /// our built-in sound. A file that cannot be read falls back to the built-in one,
    /// with a warning.
    pub fn load(kind: Kind, setting: &str, exe_dir: Option<&Path>) -> Sound {
        let path = if setting.is_empty() {
            exe_dir.and_then(|d| {
                [d.to_path_buf(), d.join("../share/microsip")]
                    .into_iter()
                    .map(|dir| dir.join(kind.file_name()))
                    .find(|p| p.is_file())
            })
        } else {
            Some(PathBuf::from(expand_env(setting)))
        };
        if let Some(p) = path {
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| Sound::from_wav(&b))
            {
                Ok(s) => return s,
                Err(e) => log::warn!(
                    "sound {}: {e}; using the built-in {}",
                    p.display(),
                    kind.file_name()
                ),
            }
        }
        Sound::from_wav(kind.builtin()).expect("built-in sounds are valid WAV files")
    }

    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// Expands `$NAME`, `${NAME}` and `%NAME%` (MicroSIP expands Windows-style variables).
fn expand_env(s: &str) -> String {
    let re = regex::Regex::new(r"\$\{(\w+)\}|\$(\w+)|%(\w+)%").expect("valid regex");
    re.replace_all(s, |c: &regex::Captures| {
        let name = c
            .get(1)
            .or(c.get(2))
            .or(c.get(3))
            .map_or("", |m| m.as_str());
        std::env::var(name).unwrap_or_else(|_| c[0].to_string())
    })
    .into_owned()
}

/// A sound playing on a device; dropping it stops it.
pub struct Player {
    _stream: cpal::Stream,
    finished: Arc<AtomicBool>,
    description: String,
}

impl Player {
    /// Plays `sound` on the output device `device` ("" = default) at `volume` percent, in a
    /// loop or once.
    pub fn start(device: &str, sound: &Sound, volume: u32, looped: bool) -> Result<Player, String> {
        let quiet = AlsaMessages::capture();
        let result = Self::open(device, sound, volume, looped);
        quiet.log();
        result
    }

    fn open(device: &str, sound: &Sound, volume: u32, looped: bool) -> Result<Player, String> {
        let host = cpal::default_host();
        let dev = find_device(&host, device, Direction::Output)?;
        let label = super::device_label(&dev);
        let cfg = negotiate(&dev, Direction::Output, sound.rate)
            .map_err(|e| format!("cannot play on {label}: {e}"))?;
        let gain = volume.min(100) as f32 / 100.0;
        // Everything the callback needs, prepared here: mono samples at the device's rate.
        let prepared: Arc<[f32]> = resample(sound, cfg.rate)
            .into_iter()
            .map(|s| f32::from(s) / 32768.0 * gain)
            .collect();
        let finished = Arc::new(AtomicBool::new(false));
        let stream = build(&dev, &cfg, prepared, looped, finished.clone())
            .map_err(|e| format!("cannot play on {label}: {e}"))?;
        stream
            .play()
            .map_err(|e| format!("cannot play on {label}: {e}"))?;
        Ok(Player {
            _stream: stream,
            finished,
            description: format!("{label}: {}", cfg.describe(sound.rate)),
        })
    }

    /// True once a sound played once has ended.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    /// One line for the log.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

/// `sound` at `rate`, by linear interpolation (done once, before playing).
fn resample(sound: &Sound, rate: u32) -> Vec<i16> {
    if rate == sound.rate {
        return sound.samples.to_vec();
    }
    let mut up = super::resample::Upstream::new(sound.rate, rate);
    let mut it = sound.samples.iter().copied();
    let n = (sound.samples.len() as u64 * u64::from(rate) / u64::from(sound.rate)) as usize;
    (0..n).map(|_| up.next(|| it.next().unwrap_or(0))).collect()
}

fn build(
    dev: &cpal::Device,
    cfg: &Chosen,
    samples: Arc<[f32]>,
    looped: bool,
    finished: Arc<AtomicBool>,
) -> Result<cpal::Stream, String> {
    super::with_sample_type!(cfg.format, stream(dev, cfg, samples, looped, finished))
}

fn stream<T>(
    dev: &cpal::Device,
    cfg: &Chosen,
    samples: Arc<[f32]>,
    looped: bool,
    finished: Arc<AtomicBool>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<f32>,
{
    let ch = usize::from(cfg.channels);
    let mut pos = 0usize;
    let callback = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        for frame in data.chunks_mut(ch) {
            let v = if pos < samples.len() {
                let v = samples[pos];
                pos += 1;
                if pos == samples.len() && looped {
                    pos = 0;
                }
                v
            } else {
                finished.store(true, Ordering::Relaxed);
                0.0
            };
            frame.fill(T::from_sample(v));
        }
    };
    let errors = |_e: cpal::Error| {};
    dev.build_output_stream::<T, _, _>(cfg.stream_config(), callback, errors, None)
        .map_err(super::cpal_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_sounds_decode() {
        for kind in [Kind::Ringtone, Kind::Ringback, Kind::Beep, Kind::Hangup] {
            let s = Sound::from_wav(kind.builtin()).unwrap();
            assert_eq!(s.rate, 8000, "{kind:?}");
            assert!(s.seconds() > 0.2 && s.seconds() < 6.0, "{kind:?}");
            let peak = s.samples.iter().map(|v| v.unsigned_abs()).max().unwrap();
            assert!(peak > 8000, "{kind:?} is audible");
        }
    }

    #[test]
    fn a_file_next_to_the_executable_wins_and_a_bad_one_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("ringtone.wav"), spec).unwrap();
        for i in 0..3200 {
            w.write_sample((i % 100) as i16 * 100).unwrap();
            w.write_sample((i % 100) as i16 * 100).unwrap();
        }
        w.finalize().unwrap();
        let s = Sound::load(Kind::Ringtone, "", Some(dir.path()));
        assert_eq!(
            (s.rate, s.samples.len()),
            (16000, 3200),
            "stereo folded to mono"
        );

        std::fs::write(dir.path().join("bad.wav"), b"not a wav").unwrap();
        let bad = dir.path().join("bad.wav");
        let s = Sound::load(Kind::Ringtone, bad.to_str().unwrap(), Some(dir.path()));
        assert_eq!(s, Sound::from_wav(Kind::Ringtone.builtin()).unwrap());
        // Nothing next to the executable: the built-in sound.
        let s = Sound::load(Kind::Hangup, "", Some(dir.path()));
        assert_eq!(s, Sound::from_wav(Kind::Hangup.builtin()).unwrap());
        // An installed binary: bin/microsip finds share/microsip/hangup.wav.
        let bin = dir.path().join("bin");
        let share = dir.path().join("share/microsip");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&share).unwrap();
        std::fs::copy(dir.path().join("ringtone.wav"), share.join("hangup.wav")).unwrap();
        let s = Sound::load(Kind::Hangup, "", Some(&bin));
        assert_eq!(
            (s.rate, s.samples.len()),
            (16000, 3200),
            "the installed sound"
        );
    }

    #[test]
    fn environment_variables_are_expanded() {
        std::env::set_var("MICROSIP_TEST_SOUNDS", "/x/y");
        assert_eq!(expand_env("$MICROSIP_TEST_SOUNDS/a.wav"), "/x/y/a.wav");
        assert_eq!(expand_env("%MICROSIP_TEST_SOUNDS%\\a.wav"), "/x/y\\a.wav");
        assert_eq!(expand_env("${MICROSIP_TEST_SOUNDS}b"), "/x/yb");
        assert_eq!(
            expand_env("$NO_SUCH_VARIABLE_HERE/c"),
            "$NO_SUCH_VARIABLE_HERE/c"
        );
    }

    #[test]
    fn resampling_keeps_the_duration() {
        let s = Sound::from_wav(Kind::Ringtone.builtin()).unwrap();
        let r = resample(&s, 48000);
        assert_eq!(r.len(), s.samples.len() * 6);
    }
}
