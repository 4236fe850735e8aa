//! Sound devices through cpal: MicroSIP's `audioInputDevice` / `audioOutputDevice` /
//! `audioRingDevice`, chosen by name ("" = the default device).
//!
//! [`CpalAudio`] is the engine's [`AudioDevice`]: when the media clock starts for a call it
//! opens an output stream (and an input stream when a microphone opens) in a format the device
//! supports, as close as possible to the bridge's (mono `i16` at the bridge's clock rate;
//! resampling only when the device cannot run at that rate), always with a fixed buffer size.
//! The stream callbacks only convert samples and move them through the lock-free rings of
//! [`crate::engine::device`]: no allocation, lock, logging or pjlib call in them.
//!
//! cpal threads never touch pjlib, and pjmedia threads never touch cpal.
#![forbid(unsafe_code)]

/// Calls the generic stream builder `f::<T>(args)` with `T` the sample type of `format`
/// (cpal's formats, one arm each), or fails for a format cpal adds later.
macro_rules! with_sample_type {
    ($format:expr, $f:ident($($arg:expr),*)) => {
        match $format {
            cpal::SampleFormat::I16 => $f::<i16>($($arg),*),
            cpal::SampleFormat::F32 => $f::<f32>($($arg),*),
            cpal::SampleFormat::I32 => $f::<i32>($($arg),*),
            cpal::SampleFormat::F64 => $f::<f64>($($arg),*),
            cpal::SampleFormat::U16 => $f::<u16>($($arg),*),
            cpal::SampleFormat::I8 => $f::<i8>($($arg),*),
            cpal::SampleFormat::U8 => $f::<u8>($($arg),*),
            other => Err(format!("sample format {other} is not supported")),
        }
    };
}
pub(crate) use with_sample_type;

pub mod dtmf;
pub mod resample;
pub mod sounds;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    FromSample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize,
    SupportedStreamConfigRange,
};

use crate::engine::device::{AudioCounters, MicWriter, SpeakerReader};
use crate::engine::{ActiveAudio, AudioDevice, DeviceEnds};

/// Device period we ask for: 10 ms. Short enough for a small added latency, long enough not
/// to wake up too often.
const PERIOD_MS: u32 = 10;

/// The largest callback converted in one piece (longer ones are split): 100 ms at 48 kHz.
const SCRATCH: usize = 4800;

/// The device names MicroSIP's `[Settings]` give ("" = the system's default device).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceNames {
    /// `audioInputDevice`: the microphone.
    pub input: String,
    /// `audioOutputDevice`: the speaker for calls.
    pub output: String,
    /// `audioRingDevice`: where the ringtone plays.
    pub ring: String,
}

impl DeviceNames {
    pub fn from_settings(s: &crate::config::Settings) -> DeviceNames {
        DeviceNames {
            input: s.audio_input_device.clone(),
            output: s.audio_output_device.clone(),
            ring: s.audio_ring_device.clone(),
        }
    }
}

/// Levels and mutes, changed by commands while audio flows (atomics, read once per callback).
#[derive(Debug)]
pub struct Levels {
    speaker_mute: AtomicBool,
    mic_mute: AtomicBool,
    /// Percent, 0..=100 (MicroSIP's `volumeOutput`).
    speaker_volume: AtomicU32,
    /// Percent, 0..=100 (MicroSIP's `volumeInput`).
    mic_volume: AtomicU32,
    /// MicroSIP's `micAmplification`: the upper half of the input level boosts the signal.
    mic_amplification: AtomicBool,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            speaker_mute: AtomicBool::new(false),
            mic_mute: AtomicBool::new(false),
            speaker_volume: AtomicU32::new(100),
            mic_volume: AtomicU32::new(100),
            mic_amplification: AtomicBool::new(false),
        }
    }
}

impl Levels {
    pub fn set_speaker_mute(&self, on: bool) {
        self.speaker_mute.store(on, Ordering::Relaxed);
    }
    pub fn set_mic_mute(&self, on: bool) {
        self.mic_mute.store(on, Ordering::Relaxed);
    }
    pub fn speaker_muted(&self) -> bool {
        self.speaker_mute.load(Ordering::Relaxed)
    }
    pub fn mic_muted(&self) -> bool {
        self.mic_mute.load(Ordering::Relaxed)
    }
    pub fn set_speaker_volume(&self, percent: u32) {
        self.speaker_volume
            .store(percent.min(100), Ordering::Relaxed);
    }
    pub fn set_mic_volume(&self, percent: u32) {
        self.mic_volume.store(percent.min(100), Ordering::Relaxed);
    }
    pub fn set_mic_amplification(&self, on: bool) {
        self.mic_amplification.store(on, Ordering::Relaxed);
    }
    pub fn speaker_volume(&self) -> u32 {
        self.speaker_volume.load(Ordering::Relaxed)
    }
    pub fn mic_volume(&self) -> u32 {
        self.mic_volume.load(Ordering::Relaxed)
    }

    fn speaker_gain(&self) -> f32 {
        if self.speaker_muted() {
            0.0
        } else {
            self.speaker_volume() as f32 / 100.0
        }
    }

    fn mic_gain(&self) -> f32 {
        if self.mic_muted() {
            0.0
        } else {
            mic_level_percent(
                self.mic_volume(),
                self.mic_amplification.load(Ordering::Relaxed),
            ) / 100.0
        }
    }
}

/// MicroSIP's software microphone level for the input slider at `volume` percent
/// (`msip_audio_input_set_volume` when the device's own volume cannot be set, which is always
/// the case here: cpal has no mixer control, so `swLevelAdjustment` makes no difference).
/// Without `micAmplification` the level is the slider's; with it, the upper half of the
/// slider boosts: `50 + (volume - 50)^1.7` percent above 50 (8.2× at 100).
pub fn mic_level_percent(volume: u32, amplification: bool) -> f32 {
    let v = volume.min(100) as f32;
    if amplification && v > 50.0 {
        50.0 + (v - 50.0).powf(1.7)
    } else {
        v
    }
}

fn apply_gain(s: i16, gain: f32) -> i16 {
    if gain == 1.0 {
        s
    } else {
        (f32::from(s) * gain).clamp(-32768.0, 32767.0) as i16
    }
}

/// Call audio through cpal's default host.
pub struct CpalAudio {
    names: DeviceNames,
    levels: Arc<Levels>,
}

impl CpalAudio {
    pub fn new(names: DeviceNames, levels: Arc<Levels>) -> CpalAudio {
        CpalAudio { names, levels }
    }
}

/// What [`CpalAudio::open`] opened; dropping it stops the streams.
struct OpenStreams {
    // Field order is drop order: the streams stop before their host's connection closes, and
    // the speaker before the microphone, so that a microphone whose driver is stuck (a read
    // that never returns) cannot keep the speaker open; the media clock does not wait for it
    // (`close_streams`).
    _output: cpal::Stream,
    _input: Option<cpal::Stream>,
    _host: cpal::Host,
    description: String,
    /// The speaker's and the microphone's periods, in ms.
    periods_ms: (f64, Option<f64>),
}

impl ActiveAudio for OpenStreams {
    fn describe(&self) -> String {
        self.description.clone()
    }

    /// The output buffer (two periods, cpal's `Fixed` layout, half full on average plus the
    /// period being written) and one input period.
    fn echo_delay_ms(&self) -> Option<u32> {
        let (out, input) = self.periods_ms;
        input.map(|i| (out * 2.0 + i).round() as u32)
    }
}

impl AudioDevice for CpalAudio {
    fn open(&mut self, ends: DeviceEnds) -> Result<Box<dyn ActiveAudio>, String> {
        let alsa_messages = AlsaMessages::capture();
        let result = self.open_streams(ends);
        alsa_messages.log();
        result
    }

    fn is_null(&self) -> bool {
        is_null_device(&self.names.output)
    }
}

/// ALSA's `null` device, which `--list-audio-devices` offers: MicroSIP.ini's way to say "no
/// sound device here". It never blocks, so a stream on it would spin a core; instead nothing
/// is opened: calls use the engine's null port (silence out, what comes in is dropped), a
/// `null` microphone is no microphone, and sounds on it are not played.
pub const NULL_DEVICE: &str = "null";

/// Whether a device name (as MicroSIP.ini gives it) is ALSA's null device.
pub fn is_null_device(name: &str) -> bool {
    name == NULL_DEVICE || name == "alsa:null"
}

impl CpalAudio {
    fn open_streams(&mut self, ends: DeviceEnds) -> Result<Box<dyn ActiveAudio>, String> {
        let host = cpal::default_host();
        let DeviceEnds {
            format,
            mic,
            speaker,
            counters,
        } = ends;
        let rate = format.clock_rate;

        let out_dev = find_device(&host, &self.names.output, Direction::Output)?;
        let out_name = device_label(&out_dev);
        let out_cfg = negotiate(&out_dev, Direction::Output, rate)
            .map_err(|e| output_problem(&out_name, &e))?;
        let reader = SpeakerReader::new(speaker, counters.clone(), format.samples_per_frame);
        let output = build_output(
            &out_dev,
            &out_cfg,
            rate,
            reader,
            self.levels.clone(),
            counters.clone(),
        )
        .map_err(|e| output_problem(&out_name, &e))?;
        let mut description = format!("speaker {out_name}: {}", out_cfg.describe(rate));

        let writer = MicWriter::new(mic, counters.clone());
        let microphone = if is_null_device(&self.names.input) {
            Err(None)
        } else {
            find_device(&host, &self.names.input, Direction::Input).map_err(Some)
        };
        let input = match microphone.and_then(|dev| {
            let name = device_label(&dev);
            let cfg = negotiate(&dev, Direction::Input, rate)
                .map_err(|e| Some(input_problem(&name, &e)))?;
            let stream = build_input(&dev, &cfg, rate, writer, self.levels.clone(), counters)
                .map_err(|e| Some(input_problem(&name, &e)))?;
            let text = format!("microphone {name}: {}", cfg.describe(rate));
            Ok((stream, text, cfg.period_ms()))
        }) {
            Ok((stream, text, ms)) => {
                let _ = write!(description, "; {text}");
                Some((stream, ms))
            }
            Err(Some(e)) => {
                crate::logging::condition(MICROPHONE, Some(&mic_warning(&e)));
                None
            }
            // audioInputDevice=null: no microphone, on purpose.
            Err(None) => None,
        };
        let in_period_ms = input.as_ref().map(|(_, ms)| *ms);
        let input = input.map(|(stream, _)| stream);
        // Both streams start together, once both are built (opening one can take a while on
        // a sound server: the other would run dry or overflow meanwhile).
        output
            .play()
            .map_err(|e| format!("cannot start sound output ({out_name}): {e}"))?;
        let input = input.and_then(|stream| match stream.play() {
            Ok(()) => {
                crate::logging::condition(MICROPHONE, None);
                Some(stream)
            }
            Err(e) => {
                let e = format!("cannot start the microphone: {e}");
                crate::logging::condition(MICROPHONE, Some(&mic_warning(&e)));
                None
            }
        });
        let periods_ms = (out_cfg.period_ms(), input.as_ref().and(in_period_ms));
        Ok(Box::new(OpenStreams {
            _output: output,
            _input: input,
            _host: host,
            description,
            periods_ms,
        }))
    }
}

/// alsa-lib prints its complaints to stderr (a box with no sound card gets a dozen lines per
/// call); while this lives, those of the current thread go to our log at debug level instead.
struct AlsaMessages {
    #[cfg(target_os = "linux")]
    buffer: Option<std::rc::Rc<std::cell::RefCell<alsa::Output>>>,
}

impl AlsaMessages {
    fn capture() -> AlsaMessages {
        AlsaMessages {
            #[cfg(target_os = "linux")]
            buffer: alsa::Output::local_error_handler().ok(),
        }
    }

    fn log(&self) {
        for line in self.lines() {
            log::debug!(target: "alsa", "{line}");
        }
    }

    fn lines(&self) -> Vec<String> {
        #[cfg(target_os = "linux")]
        if let Some(b) = &self.buffer {
            return b.borrow().to_string().lines().map(String::from).collect();
        }
        Vec::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

impl Direction {
    fn key(self) -> &'static str {
        match self {
            Direction::Input => "audioInputDevice",
            Direction::Output => "audioOutputDevice",
        }
    }
}

/// The condition key of the call's microphone.
const MICROPHONE: &str = "microphone";

fn output_problem(label: &str, e: &str) -> String {
    format!("no usable sound output ({label}): {e}")
}

fn input_problem(label: &str, e: &str) -> String {
    format!("no usable microphone ({label}): {e}")
}

fn mic_warning(e: &str) -> String {
    format!("audio: {e}; the caller hears silence")
}

/// What the start-up check of the sound devices found: each condition (its key, and its
/// problem or `None` when the device is usable), the notes to log, and ALSA's own messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCheck {
    pub conditions: Vec<(String, Option<String>)>,
    pub notes: Vec<String>,
    pub alsa: Vec<String>,
}

impl DeviceCheck {
    /// Whether every device checked is usable.
    pub fn all_usable(&self) -> bool {
        self.conditions.iter().all(|(_, p)| p.is_none())
    }

    /// The check as one JSON object (`--check-audio-devices --json`): `conditions`, a list of
    /// `[key, problem or null]`; `notes` and `alsa`, lists of lines.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "conditions": self.conditions,
            "notes": self.notes,
            "alsa": self.alsa,
        })
        .to_string()
    }

    /// Reads [`DeviceCheck::to_json`]'s object back.
    pub fn from_json(text: &str) -> Result<DeviceCheck, String> {
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).map_err(|e| format!("not JSON: {e}"))?;
        let lines = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let conditions = v["conditions"]
            .as_array()
            .ok_or("no \"conditions\" list")?
            .iter()
            .map(|c| match (c[0].as_str(), &c[1]) {
                (Some(key), serde_json::Value::Null) => Ok((key.to_string(), None)),
                (Some(key), serde_json::Value::String(p)) => Ok((key.to_string(), Some(p.clone()))),
                _ => Err(format!("a condition is not [key, problem or null]: {c}")),
            })
            .collect::<Result<_, String>>()?;
        Ok(DeviceCheck {
            conditions,
            notes: lines("notes"),
            alsa: lines("alsa"),
        })
    }

    /// What a person reads (`--check-audio-devices`): each problem, or that all is usable.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for note in &self.notes {
            let _ = writeln!(out, "{note}");
        }
        for (key, problem) in &self.conditions {
            match problem {
                Some(p) => {
                    let _ = writeln!(out, "{p}");
                }
                None => {
                    let _ = writeln!(out, "{key}: usable");
                }
            }
        }
        out
    }

    /// Logs the notes and sets the conditions (a problem is warned once, as at every call).
    pub fn apply(&self) {
        for note in &self.notes {
            log::info!("{note}");
        }
        for line in &self.alsa {
            log::debug!(target: "alsa", "{line}");
        }
        for (key, problem) in &self.conditions {
            crate::logging::condition(key, problem.as_deref());
        }
    }
}

/// Checks the devices `names` give as a call and the sounds would open them. It loads ALSA
/// and its plugins (PulseAudio's, PipeWire's...) into the process: the phone runs it in a
/// child process (`--check-audio-devices --json`), so that they load only when a call needs
/// them.
pub fn check_devices(names: &DeviceNames) -> DeviceCheck {
    let quiet = AlsaMessages::capture();
    let host = cpal::default_host();
    let usable = |name: &str, dir: Direction, rate: u32| -> Result<(), (String, String)> {
        let dev = find_device(&host, name, dir).map_err(|e| ("?".to_string(), e))?;
        let label = device_label(&dev);
        negotiate(&dev, dir, rate)
            .map(|_| ())
            .map_err(|e| (label, e))
    };
    let mut check = DeviceCheck::default();
    if is_null_device(&names.output) {
        check
            .notes
            .push("audio: audioOutputDevice=null: calls have no local audio, on purpose".into());
    } else {
        let speaker = usable(&names.output, Direction::Output, 16000)
            .err()
            .map(|(label, e)| output_problem(&label, &e));
        check.conditions.push((
            crate::engine::device::CALL_AUDIO.into(),
            speaker
                .as_deref()
                .map(crate::engine::device::call_audio_problem),
        ));
        if !is_null_device(&names.input) {
            let mic = usable(&names.input, Direction::Input, 16000)
                .err()
                .map(|(label, e)| mic_warning(&input_problem(&label, &e)));
            check.conditions.push((MICROPHONE.into(), mic));
        }
    }
    let mut sound_devices = vec![&names.ring, &names.output];
    sound_devices.dedup();
    sound_devices.retain(|d| !is_null_device(d));
    for device in sound_devices {
        let problem = usable(device, Direction::Output, 8000)
            .err()
            .map(|(label, e)| sounds::sounds_problem(&format!("cannot play on {label}: {e}")));
        check.conditions.push((sounds::sounds_key(device), problem));
    }
    check.alsa = quiet.lines();
    check
}

/// "'default' (Default Audio Device)": how logs name a device.
fn device_label(dev: &cpal::Device) -> String {
    let id = dev
        .id()
        .map(|i| i.id().to_string())
        .unwrap_or_else(|_| "?".into());
    match dev.description() {
        Ok(d) if d.name() != id => format!("'{id}' ({})", d.name()),
        _ => format!("'{id}'"),
    }
}

/// Whether `name` (as written in MicroSIP.ini) names `dev`: its cpal id ("alsa:default"), its
/// host-specific id ("default", "hw:CARD=PCH,DEV=0") or its description's name.
fn matches_name(dev: &cpal::Device, name: &str) -> bool {
    if let Ok(id) = dev.id() {
        if id.id() == name || id.to_string() == name {
            return true;
        }
    }
    dev.description().is_ok_and(|d| d.name() == name)
}

/// The device `name` names, or the default one for "". A name that is not found falls back
/// to the default device, with a warning that lists what exists.
fn find_device(host: &cpal::Host, name: &str, dir: Direction) -> Result<cpal::Device, String> {
    let default = || match dir {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    };
    if !name.is_empty() {
        let found = host
            .devices()
            .ok()
            .and_then(|mut all| all.find(|d| matches_name(d, name)));
        if let Some(dev) = found {
            return Ok(dev);
        }
        let known: Vec<String> = list_devices(host)
            .into_iter()
            .filter(|d| match dir {
                Direction::Input => d.input,
                Direction::Output => d.output,
            })
            .map(|d| format!("'{}'", d.id))
            .collect();
        log::warn!(
            "audio: {}={name:?} is not a sound device here (known: {}); using the default device",
            dir.key(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    default().ok_or_else(|| "the sound system has no default device".to_string())
}

/// One device, for `--list-audio-devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceListing {
    /// What to write in MicroSIP.ini.
    pub id: String,
    pub description: String,
    pub input: bool,
    pub output: bool,
}

fn list_devices(host: &cpal::Host) -> Vec<DeviceListing> {
    let Ok(devices) = host.devices() else {
        return Vec::new();
    };
    devices
        .map(|d| DeviceListing {
            id: d
                .id()
                .map(|i| i.id().to_string())
                .unwrap_or_else(|_| "?".into()),
            description: d
                .description()
                .map(|x| x.name().to_string())
                .unwrap_or_default(),
            input: d.supports_input(),
            output: d.supports_output(),
        })
        .collect()
}

/// Whether a listed device is one of ALSA's plugins that convert or process sound for another
/// device (rate converters, up- and down-mixers, speex's DSP) rather than a place where sound
/// plays or comes from. `null`, `pulse`, `jack`, `oss` and the cards stay.
pub fn is_alsa_plugin(d: &DeviceListing) -> bool {
    let desc = d.description.to_ascii_lowercase();
    desc.contains("plugin") || desc.contains("rate converter")
}

/// The text of `microsip --list-audio-devices`; `all`: ALSA's plugins too.
pub fn device_report(all: bool) -> String {
    let _quiet = AlsaMessages::capture();
    let host = cpal::default_host();
    let mut out = String::new();
    let _ = writeln!(out, "audio host: {}", host.id().name());
    let (devices, plugins): (Vec<DeviceListing>, Vec<DeviceListing>) = list_devices(&host)
        .into_iter()
        .partition(|d| all || !is_alsa_plugin(d));
    let mut section = |title: &str, pick: fn(&DeviceListing) -> bool, keys: &str| {
        let _ = writeln!(out, "{title} (for {keys}):");
        let _ = writeln!(out, "  \"\" = the default device");
        let mut any = false;
        for d in devices.iter().filter(|d| pick(d)) {
            any = true;
            if d.description.is_empty() || d.description == d.id {
                let _ = writeln!(out, "  {}", d.id);
            } else {
                let _ = writeln!(out, "  {:<28} {}", d.id, d.description);
            }
        }
        if !any {
            let _ = writeln!(out, "  (none listed)");
        }
    };
    section(
        "output devices",
        |d| d.output,
        "audioOutputDevice, audioRingDevice",
    );
    section("input devices", |d| d.input, "audioInputDevice");
    if !plugins.is_empty() {
        let names: Vec<&str> = plugins.iter().map(|d| d.id.as_str()).collect();
        let _ = writeln!(
            out,
            "not listed: {} ALSA plugin(s) that convert sound for another device ({}); \
             --all lists them",
            plugins.len(),
            names.join(", ")
        );
    }
    // What a call would open now.
    for (what, dev, dir) in [
        ("speaker", host.default_output_device(), Direction::Output),
        ("microphone", host.default_input_device(), Direction::Input),
    ] {
        let status = match dev {
            None => "no default device".to_string(),
            Some(d) => match negotiate(&d, dir, 16000) {
                Ok(cfg) => format!("{} opens: {}", device_label(&d), cfg.describe(16000)),
                Err(e) => format!("{} cannot open: {e}", device_label(&d)),
            },
        };
        let _ = writeln!(out, "default {what}: {status}");
    }
    out
}

/// What a stream is opened with.
#[derive(Debug, Clone, PartialEq)]
struct Chosen {
    format: SampleFormat,
    channels: u16,
    rate: u32,
    period: u32,
}

impl Chosen {
    fn period_ms(&self) -> f64 {
        f64::from(self.period) * 1000.0 / f64::from(self.rate.max(1))
    }

    fn describe(&self, bridge_rate: u32) -> String {
        let resampled = if self.rate == bridge_rate {
            String::new()
        } else {
            format!(", resampled from {bridge_rate} Hz")
        };
        format!(
            "{} Hz {} {} ch, period {} frames{resampled}",
            self.rate, self.format, self.channels, self.period
        )
    }

    fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            channels: self.channels,
            sample_rate: self.rate,
            buffer_size: cpal::BufferSize::Fixed(self.period),
        }
    }
}

fn format_rank(f: SampleFormat) -> Option<u8> {
    Some(match f {
        SampleFormat::I16 => 0,
        SampleFormat::F32 => 1,
        SampleFormat::I32 => 2,
        SampleFormat::F64 => 3,
        SampleFormat::U16 => 4,
        SampleFormat::I8 => 5,
        SampleFormat::U8 => 6,
        _ => return None,
    })
}

/// Picks the best configuration among `ranges` for a bridge at `rate`: the bridge's rate
/// when possible (no resampling), then the fewest channels, then i16 over other formats.
/// Without the bridge's rate, a common rate the device supports (48000, 44100...) is taken
/// and resampled to. The period is 10 ms, clamped to what the device allows.
fn choose(ranges: &[SupportedStreamConfigRange], rate: u32) -> Option<Chosen> {
    const COMMON: [u32; 7] = [48000, 44100, 32000, 16000, 96000, 22050, 8000];
    let rate_for = |r: &SupportedStreamConfigRange| -> u32 {
        let range = r.min_sample_rate()..=r.max_sample_rate();
        if range.contains(&rate) {
            return rate;
        }
        COMMON
            .into_iter()
            .find(|c| range.contains(c))
            .unwrap_or(r.max_sample_rate())
    };
    let preference = |rate: u32| {
        COMMON
            .iter()
            .position(|&c| c == rate)
            .unwrap_or(COMMON.len())
    };
    let best = ranges
        .iter()
        .filter(|r| r.channels() > 0 && format_rank(r.sample_format()).is_some())
        .min_by_key(|r| {
            let chosen = rate_for(r);
            (
                chosen != rate,
                r.channels(),
                if chosen == rate {
                    0
                } else {
                    preference(chosen)
                },
                format_rank(r.sample_format()),
            )
        })?;
    let chosen_rate = rate_for(best);
    let want = (chosen_rate * PERIOD_MS / 1000).max(1);
    let period = match best.buffer_size() {
        SupportedBufferSize::Range { min, max } => want.clamp(*min, (*max).max(*min)),
        SupportedBufferSize::Unknown => want,
    };
    Some(Chosen {
        format: best.sample_format(),
        channels: best.channels(),
        rate: chosen_rate,
        period,
    })
}

fn negotiate(dev: &cpal::Device, dir: Direction, rate: u32) -> Result<Chosen, String> {
    let ranges: Vec<SupportedStreamConfigRange> = match dir {
        Direction::Output => dev.supported_output_configs().map(|i| i.collect()),
        Direction::Input => dev.supported_input_configs().map(|i| i.collect()),
    }
    .map_err(cpal_error)?;
    choose(&ranges, rate).ok_or_else(|| "it offers no format we can use".to_string())
}

/// cpal's error text, without a final full stop (it goes inside longer sentences).
fn cpal_error(e: cpal::Error) -> String {
    e.to_string().trim_end().trim_end_matches('.').to_string()
}

fn error_callback(counters: Arc<AudioCounters>) -> impl FnMut(cpal::Error) + Send + 'static {
    // No logging here (a pulse device can report hundreds of harmless errors a second): the
    // count is logged when the call's audio stops.
    move |_e| AudioCounters::bump(&counters.device_errors)
}

fn build_output(
    dev: &cpal::Device,
    cfg: &Chosen,
    bridge_rate: u32,
    reader: SpeakerReader,
    levels: Arc<Levels>,
    counters: Arc<AudioCounters>,
) -> Result<cpal::Stream, String> {
    with_sample_type!(
        cfg.format,
        output_stream(dev, cfg, bridge_rate, reader, levels, counters)
    )
}

fn output_stream<T>(
    dev: &cpal::Device,
    cfg: &Chosen,
    bridge_rate: u32,
    mut reader: SpeakerReader,
    levels: Arc<Levels>,
    counters: Arc<AudioCounters>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample + FromSample<i16>,
{
    let ch = usize::from(cfg.channels);
    let mut scratch = vec![0i16; SCRATCH];
    let mut up = (cfg.rate != bridge_rate).then(|| resample::Upstream::new(bridge_rate, cfg.rate));
    let callback = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        let gain = levels.speaker_gain();
        let frames = data.len() / ch;
        match up.as_mut() {
            None => {
                for chunk in data.chunks_mut(ch * SCRATCH) {
                    let n = chunk.len() / ch;
                    let mono = &mut scratch[..n];
                    reader.read(mono, frames);
                    for (f, &s) in chunk.chunks_mut(ch).zip(mono.iter()) {
                        f.fill(T::from_sample(apply_gain(s, gain)));
                    }
                }
            }
            Some(up) => {
                let playing = reader.start(up.bridge_samples(frames));
                for f in data.chunks_mut(ch) {
                    let s = if playing {
                        up.next(|| reader.next_sample())
                    } else {
                        0
                    };
                    f.fill(T::from_sample(apply_gain(s, gain)));
                }
            }
        }
    };
    dev.build_output_stream::<T, _, _>(
        cfg.stream_config(),
        callback,
        error_callback(counters),
        None,
    )
    .map_err(cpal_error)
}

fn build_input(
    dev: &cpal::Device,
    cfg: &Chosen,
    bridge_rate: u32,
    writer: MicWriter,
    levels: Arc<Levels>,
    counters: Arc<AudioCounters>,
) -> Result<cpal::Stream, String> {
    with_sample_type!(
        cfg.format,
        input_stream(dev, cfg, bridge_rate, writer, levels, counters)
    )
}

fn input_stream<T>(
    dev: &cpal::Device,
    cfg: &Chosen,
    bridge_rate: u32,
    mut writer: MicWriter,
    levels: Arc<Levels>,
    counters: Arc<AudioCounters>,
) -> Result<cpal::Stream, String>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let ch = usize::from(cfg.channels);
    let mut scratch = vec![0i16; SCRATCH];
    let mut down =
        (cfg.rate != bridge_rate).then(|| resample::Downstream::new(cfg.rate, bridge_rate));
    let callback = move |data: &[T], _: &cpal::InputCallbackInfo| {
        let gain = levels.mic_gain();
        // Mono: the mean of the channels.
        let mono = |f: &[T]| -> i16 {
            if ch == 1 {
                f[0].to_sample::<i16>()
            } else {
                let sum: i32 = f.iter().map(|&x| i32::from(x.to_sample::<i16>())).sum();
                (sum / ch as i32) as i16
            }
        };
        match down.as_mut() {
            None => {
                for chunk in data.chunks(ch * SCRATCH) {
                    let n = chunk.len() / ch;
                    for (dst, f) in scratch[..n].iter_mut().zip(chunk.chunks(ch)) {
                        *dst = apply_gain(mono(f), gain);
                    }
                    writer.write(&scratch[..n]);
                }
            }
            Some(down) => {
                for f in data.chunks(ch) {
                    down.push(apply_gain(mono(f), gain), |s| writer.push(s));
                }
            }
        }
    };
    dev.build_input_stream::<T, _, _>(
        cfg.stream_config(),
        callback,
        error_callback(counters),
        None,
    )
    .map_err(cpal_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_check_crosses_the_process_boundary_whole() {
        let check = DeviceCheck {
            conditions: vec![
                ("call audio".into(), None),
                (
                    "microphone".into(),
                    Some("no \"usable\"\nmic\u{1b}[31m".into()),
                ),
            ],
            notes: vec!["a note".into()],
            alsa: vec!["parse_card: cannot find card '0'".into()],
        };
        assert_eq!(DeviceCheck::from_json(&check.to_json()), Ok(check.clone()));
        assert!(!check.all_usable());
        assert!(check.report().contains("call audio: usable"));
        for bad in [
            "",
            "garbage",
            "{}",
            r#"{"conditions":[[1,2]]}"#,
            r#"{"conditions":[["k",3]]}"#,
        ] {
            assert!(DeviceCheck::from_json(bad).is_err(), "{bad:?} was accepted");
        }
    }

    fn range(ch: u16, min: u32, max: u32, f: SampleFormat) -> SupportedStreamConfigRange {
        SupportedStreamConfigRange::new(
            ch,
            min,
            max,
            SupportedBufferSize::Range { min: 32, max: 8192 },
            f,
        )
    }

    #[test]
    fn microsips_mic_amplification_curve() {
        assert_eq!(mic_level_percent(30, false), 30.0);
        assert_eq!(mic_level_percent(100, false), 100.0);
        assert_eq!(mic_level_percent(30, true), 30.0);
        assert_eq!(mic_level_percent(50, true), 50.0);
        assert!((mic_level_percent(60, true) - (50.0 + 10f32.powf(1.7))).abs() < 1e-3);
        assert!((mic_level_percent(100, true) - 823.12).abs() < 0.01);
        let l = Levels::default();
        l.set_mic_volume(100);
        l.set_mic_amplification(true);
        assert!((l.mic_gain() - 8.2312).abs() < 1e-3);
        l.set_mic_mute(true);
        assert_eq!(l.mic_gain(), 0.0);
    }

    #[test]
    fn the_bridge_rate_in_mono_i16_wins() {
        let ranges = [
            range(2, 8000, 48000, SampleFormat::F32),
            range(1, 8000, 48000, SampleFormat::F32),
            range(1, 8000, 48000, SampleFormat::I16),
            range(2, 8000, 48000, SampleFormat::I16),
        ];
        let c = choose(&ranges, 16000).unwrap();
        assert_eq!(
            c,
            Chosen {
                format: SampleFormat::I16,
                channels: 1,
                rate: 16000,
                period: 160
            }
        );
    }

    #[test]
    fn a_device_without_the_bridge_rate_is_resampled_at_a_common_rate() {
        // A raw hw: device: 44.1/48 kHz stereo only.
        let ranges = [
            range(2, 44100, 44100, SampleFormat::I16),
            range(2, 48000, 48000, SampleFormat::I32),
        ];
        let c = choose(&ranges, 8000).unwrap();
        assert_eq!(c.rate, 48000);
        assert_eq!(c.channels, 2);
        assert_eq!(c.format, SampleFormat::I32);
        assert_eq!(c.period, 480);
        assert!(c.describe(8000).contains("resampled from 8000 Hz"));
    }

    #[test]
    fn rate_match_beats_channel_count_and_period_is_clamped() {
        let ranges = [
            SupportedStreamConfigRange::new(
                2,
                8000,
                8000,
                SupportedBufferSize::Range {
                    min: 256,
                    max: 4096,
                },
                SampleFormat::F32,
            ),
            range(1, 48000, 48000, SampleFormat::I16),
        ];
        let c = choose(&ranges, 8000).unwrap();
        assert_eq!((c.rate, c.channels, c.period), (8000, 2, 256));
    }

    #[test]
    fn nothing_usable_is_none() {
        assert!(choose(&[], 8000).is_none());
    }

    #[test]
    fn levels_mute_wins_over_volume() {
        let l = Levels::default();
        assert_eq!(l.speaker_gain(), 1.0);
        l.set_speaker_volume(50);
        assert_eq!(apply_gain(1000, l.speaker_gain()), 500);
        l.set_speaker_mute(true);
        assert_eq!(apply_gain(1000, l.speaker_gain()), 0);
        l.set_mic_volume(250);
        assert_eq!(l.mic_volume(), 100);
    }
}
