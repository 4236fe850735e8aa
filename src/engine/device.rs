//! The contract between the media clock and a sound device: plain Rust, no FFI.
//!
//! While a call has audio, the engine's media clock drives PJSUA's conference bridge through
//! our `pjmedia_port` (`port.rs`). That port only moves samples through two lock-free
//! single-producer single-consumer rings of mono `i16` at the bridge's clock rate:
//!
//! ```text
//!   cpal input callback  --mic ring-->      port get_frame  --> conference bridge
//!   cpal output callback <--speaker ring--  port put_frame  <-- conference bridge
//! ```
//!
//! The device side (an [`AudioDevice`], e.g. `crate::audio::CpalAudio`) gets the other ends
//! of both rings in [`DeviceEnds`] when the clock starts, opens its streams, and closes them
//! when the clock stops. Both sides count what went wrong in [`AudioCounters`] (atomics only:
//! no locks, no allocation, no logging where audio flows).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bridge's audio format: mono, signed 16-bit, `clock_rate` samples per second, one
/// frame of `samples_per_frame` samples per media clock tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeFormat {
    /// Samples per second.
    pub clock_rate: u32,
    /// Samples in one frame (one tick of the media clock).
    pub samples_per_frame: u32,
}

impl BridgeFormat {
    /// The length of one frame in milliseconds.
    pub fn frame_ms(&self) -> u32 {
        self.samples_per_frame * 1000 / self.clock_rate.max(1)
    }

    /// Ring capacity in samples: 160 ms (and at least eight frames) of slack for jitter
    /// between the two clocks and for a device that delivers a burst when it starts.
    pub fn ring_capacity(&self) -> usize {
        (self.clock_rate as usize * 160 / 1000).max(self.samples_per_frame as usize * 8)
    }
}

/// Glitch and traffic counters shared by the port and the device callbacks.
#[derive(Debug, Default)]
pub struct AudioCounters {
    /// The speaker wanted samples and the ring was empty (once primed): a gap was heard.
    pub speaker_underruns: AtomicU64,
    /// A bridge frame did not fit into the speaker ring: its excess was dropped.
    pub speaker_overruns: AtomicU64,
    /// The bridge wanted a frame and the microphone had not delivered enough: it was padded.
    pub mic_underruns: AtomicU64,
    /// The same in the first half second of a run, while the device starts (its first
    /// periods can come late or in bursts): counted apart, not in `mic_underruns`.
    pub mic_startup_underruns: AtomicU64,
    /// The microphone delivered more than the ring holds: the excess was dropped.
    pub mic_overruns: AtomicU64,
    /// Speaker samples skipped to keep the latency bounded when the bridge's clock runs
    /// ahead of the device's (drift).
    pub speaker_dropped: AtomicU64,
    /// Microphone samples skipped when the device's clock runs ahead of the bridge's.
    pub mic_dropped: AtomicU64,
    /// Samples the bridge sent to the speaker ring.
    pub speaker_samples: AtomicU64,
    /// Samples the bridge took from the microphone ring.
    pub mic_samples: AtomicU64,
    /// Errors the sound device reported on its streams.
    pub device_errors: AtomicU64,
    /// Output callbacks so far.
    pub speaker_callbacks: AtomicU64,
    /// Input callbacks so far.
    pub mic_callbacks: AtomicU64,
    /// Sum over output callbacks of the samples queued in the speaker ring when it started:
    /// divided by `speaker_callbacks`, the mean latency the ring adds.
    pub speaker_queued: AtomicU64,
    /// Sum over the bridge's frames of the samples queued in the microphone ring.
    pub mic_queued: AtomicU64,
    /// Frames the bridge asked the microphone ring for.
    pub mic_reads: AtomicU64,
    /// The longest output callback, in bridge samples.
    pub speaker_max_callback: AtomicU64,
    /// The longest input callback, in bridge samples.
    pub mic_max_callback: AtomicU64,
    /// Slack the speaker ring has added in this run after underruns, in samples.
    pub speaker_slack: AtomicU64,
    /// Slack the microphone ring has added in this run after underruns, in samples.
    pub mic_slack: AtomicU64,
}

/// A snapshot of [`AudioCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AudioStats {
    /// Speaker callbacks that found too few samples (a gap was played).
    pub speaker_underruns: u64,
    /// Speaker samples that did not fit and were dropped.
    pub speaker_overruns: u64,
    /// Microphone reads that found too few samples.
    pub mic_underruns: u64,
    /// Microphone underruns while the stream was starting (not glitches).
    pub mic_startup_underruns: u64,
    /// Microphone samples that did not fit and were dropped.
    pub mic_overruns: u64,
    /// Speaker samples dropped to catch up.
    pub speaker_dropped: u64,
    /// Microphone samples dropped to catch up.
    pub mic_dropped: u64,
    /// Samples played.
    pub speaker_samples: u64,
    /// Samples captured.
    pub mic_samples: u64,
    /// Errors the device reported.
    pub device_errors: u64,
    /// Speaker callbacks run.
    pub speaker_callbacks: u64,
    /// Microphone callbacks run.
    pub mic_callbacks: u64,
    /// Samples queued for the speaker now.
    pub speaker_queued: u64,
    /// Samples queued from the microphone now.
    pub mic_queued: u64,
    /// Microphone reads by the bridge.
    pub mic_reads: u64,
    /// The longest speaker callback, in microseconds.
    pub speaker_max_callback: u64,
    /// The longest microphone callback, in microseconds.
    pub mic_max_callback: u64,
    /// Slack added to the speaker ring after underruns, in samples.
    pub speaker_slack: u64,
    /// Slack added to the microphone ring after underruns, in samples.
    pub mic_slack: u64,
}

impl AudioStats {
    /// Underruns and overruns on both sides.
    pub fn glitches(&self) -> u64 {
        self.speaker_underruns + self.speaker_overruns + self.mic_underruns + self.mic_overruns
    }
}

impl AudioCounters {
    /// Adds one to a counter (relaxed: they are statistics, not synchronisation).
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Raises a maximum to `n`.
    pub fn max(counter: &AtomicU64, n: u64) {
        counter.fetch_max(n, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> AudioStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AudioStats {
            speaker_underruns: get(&self.speaker_underruns),
            speaker_overruns: get(&self.speaker_overruns),
            mic_underruns: get(&self.mic_underruns),
            mic_startup_underruns: get(&self.mic_startup_underruns),
            mic_overruns: get(&self.mic_overruns),
            speaker_dropped: get(&self.speaker_dropped),
            mic_dropped: get(&self.mic_dropped),
            speaker_samples: get(&self.speaker_samples),
            mic_samples: get(&self.mic_samples),
            device_errors: get(&self.device_errors),
            speaker_callbacks: get(&self.speaker_callbacks),
            mic_callbacks: get(&self.mic_callbacks),
            speaker_queued: get(&self.speaker_queued),
            mic_queued: get(&self.mic_queued),
            mic_reads: get(&self.mic_reads),
            speaker_max_callback: get(&self.speaker_max_callback),
            mic_max_callback: get(&self.mic_max_callback),
            speaker_slack: get(&self.speaker_slack),
            mic_slack: get(&self.mic_slack),
        }
    }
}

/// A call recording (PJSUA's recorder id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecorderId(pub(crate) i32);

/// What a device gets when the media clock starts: its ends of the two rings.
pub struct DeviceEnds {
    /// The bridge's format.
    pub format: BridgeFormat,
    /// The input callback pushes captured samples here (mono, bridge rate).
    pub mic: rtrb::Producer<i16>,
    /// The output callback pops the samples to play here (mono, bridge rate).
    pub speaker: rtrb::Consumer<i16>,
    /// Where the device counts its glitches.
    pub counters: Arc<AudioCounters>,
}

/// Open streams; dropping it stops and closes them. Created and dropped on the media
/// supervisor thread, so it need not be `Send` (cpal streams are not on every platform).
pub trait ActiveAudio: Send {
    /// One line for the log: which devices, rates and formats are playing.
    fn describe(&self) -> String;

    /// When both a speaker and a microphone are open: the time their buffers add between
    /// a sample leaving the speaker ring and its echo entering the microphone ring, in ms
    /// (the echo canceller's latency). `None` without a microphone.
    fn echo_delay_ms(&self) -> Option<u32> {
        None
    }
}

/// A sound device the media clock can play calls through.
pub trait AudioDevice: Send {
    /// Opens the streams for a call. An error (no device, unsupported format...) makes the
    /// engine warn and fall back to a null device: the call goes on without local audio.
    fn open(&mut self, ends: DeviceEnds) -> Result<Box<dyn ActiveAudio>, String>;

    /// The device discards what it is given and gives silence (ALSA's `null`): calls then use
    /// the engine's null port, and nothing is opened.
    fn is_null(&self) -> bool {
        false
    }
}

/// Reports whether a call's sound device opened (`None`) or why not, once per change (not
/// at every call: see [`crate::logging::condition`]).
pub fn report_call_audio(problem: Option<&str>) {
    let text = problem.map(call_audio_problem);
    crate::logging::condition(CALL_AUDIO, text.as_deref());
}

/// The condition key of the call's sound output.
pub const CALL_AUDIO: &str = "call audio";

/// The condition text of a call's unusable sound output `msg`.
pub fn call_audio_problem(msg: &str) -> String {
    format!("audio: {msg}; calls go on without local audio (null device)")
}

/// Creates the two rings for one run of the media clock: the port's ends and the device's.
pub fn rings(format: BridgeFormat, counters: Arc<AudioCounters>) -> (BridgeSide, DeviceEnds) {
    let (mic_tx, mic_rx) = rtrb::RingBuffer::new(format.ring_capacity());
    let (spk_tx, spk_rx) = rtrb::RingBuffer::new(format.ring_capacity());
    let spf = format.samples_per_frame as usize;
    // A new run starts with no slack.
    counters.speaker_slack.store(0, Ordering::Relaxed);
    counters.mic_slack.store(0, Ordering::Relaxed);
    let bridge = BridgeSide {
        mic: mic_rx,
        speaker: spk_tx,
        counters: counters.clone(),
        spf,
        mic_primed: false,
        mic_drift: Drift::new(spf),
        mic_slack: Slack::new(spf, format.ring_capacity()),
        mic_frames: 0,
        startup_frames: (format.clock_rate as usize / 2).div_ceil(spf.max(1)),
    };
    let device = DeviceEnds {
        format,
        mic: mic_tx,
        speaker: spk_rx,
        counters,
    };
    (bridge, device)
}

/// The port's ends of the rings, used from the media clock's thread only.
pub struct BridgeSide {
    mic: rtrb::Consumer<i16>,
    speaker: rtrb::Producer<i16>,
    counters: Arc<AudioCounters>,
    spf: usize,
    mic_primed: bool,
    mic_drift: Drift,
    mic_slack: Slack,
    /// Frames read in this run so far, up to the end of the start-up half second.
    mic_frames: usize,
    startup_frames: usize,
}

/// Tells clock drift (a queue that stays long) from jitter (one that is long for a moment,
/// after a late callback): only a queue above its high mark for half a second of audio is
/// trimmed, so a scheduling hiccup costs no audio, and drift costs one small skip now and then.
#[derive(Debug)]
struct Drift {
    high_for: usize,
    patience: usize,
}

impl Drift {
    fn new(spf: usize) -> Drift {
        Drift {
            high_for: 0,
            patience: 25 * spf,
        }
    }

    /// With `fill` samples queued and `used` about to be consumed: how many to skip so that
    /// `target` remain.
    fn skip(&mut self, fill: usize, high: usize, target: usize, used: usize) -> usize {
        if fill <= high {
            self.high_for = 0;
            return 0;
        }
        self.high_for += used;
        if self.high_for < self.patience {
            return 0;
        }
        self.high_for = 0;
        fill - target
    }
}

/// Queue kept beyond the lowest latency after underruns. Each underrun past the start-up
/// raises the level a queue is primed to by one frame, up to three eighths of the ring (60 ms
/// of a 160 ms ring): a quiet machine keeps the lowest latency, a loaded one, whose threads
/// wake late, gets the slack it needs after a glitch or two instead of a glitch every time.
/// It lasts for the run (the next call starts low again) and is published in `counter`.
#[derive(Debug)]
struct Slack {
    samples: usize,
    step: usize,
    max: usize,
}

impl Slack {
    fn new(spf: usize, capacity: usize) -> Slack {
        Slack {
            samples: 0,
            step: spf,
            max: capacity * 3 / 8,
        }
    }

    /// An underrun happened: one step more, within the maximum.
    fn grow(&mut self, counter: &AtomicU64) {
        self.samples = (self.samples + self.step).min(self.max);
        counter.store(self.samples as u64, Ordering::Relaxed);
    }
}

impl BridgeSide {
    /// The port's `get_frame`: fills `out` with the next captured samples. Until one and a
    /// half frames (plus the `Slack` earned by underruns) are buffered, and again after an
    /// underrun, it gives silence, so the microphone's periods and the clock's frames need not
    /// line up. When the microphone keeps running ahead (its clock is faster), the oldest
    /// samples are skipped down to that level.
    pub fn read_mic(&mut self, out: &mut [i16]) {
        let prime = self.spf + self.spf / 2 + self.mic_slack.samples;
        let high = prime + self.spf * 5 / 2;
        let fill = self.mic.slots();
        AudioCounters::add(&self.counters.mic_queued, fill as u64);
        AudioCounters::bump(&self.counters.mic_reads);
        let starting = self.mic_frames < self.startup_frames;
        self.mic_frames += usize::from(starting);
        if !self.mic_primed {
            if fill < prime {
                out.fill(0);
                return;
            }
            self.mic_primed = true;
        }
        let skip = self.mic_drift.skip(fill, high, prime, out.len());
        if skip > 0 {
            if let Ok(chunk) = self.mic.read_chunk(skip) {
                chunk.commit_all();
            }
            AudioCounters::add(&self.counters.mic_dropped, skip as u64);
        }
        let (got, rest) = self.mic.pop_partial_slice(out);
        AudioCounters::add(&self.counters.mic_samples, got.len() as u64);
        if !rest.is_empty() {
            rest.fill(0);
            if starting {
                AudioCounters::bump(&self.counters.mic_startup_underruns);
            } else {
                AudioCounters::bump(&self.counters.mic_underruns);
                self.mic_slack.grow(&self.counters.mic_slack);
            }
            self.mic_primed = false;
        }
    }

    /// The port's `put_frame`: queues one frame for the speaker (`None`: a silent frame).
    pub fn write_speaker(&mut self, frame: Option<&[i16]>) {
        let dropped = match frame {
            Some(samples) => {
                let (_, rest) = self.speaker.push_partial_slice(samples);
                AudioCounters::add(&self.counters.speaker_samples, samples.len() as u64);
                rest.len()
            }
            None => {
                let n = self.spf.min(self.speaker.slots());
                if let Ok(mut chunk) = self.speaker.write_chunk(n) {
                    let (a, b) = chunk.as_mut_slices();
                    a.fill(0);
                    b.fill(0);
                    chunk.commit_all();
                }
                AudioCounters::add(&self.counters.speaker_samples, self.spf as u64);
                self.spf - n
            }
        };
        if dropped > 0 {
            AudioCounters::bump(&self.counters.speaker_overruns);
        }
    }
}

/// The device's end of the speaker ring, for an output callback.
pub struct SpeakerReader {
    ring: rtrb::Consumer<i16>,
    counters: Arc<AudioCounters>,
    spf: usize,
    capacity: usize,
    primed: bool,
    drift: Drift,
    slack: Slack,
}

impl SpeakerReader {
    /// A reader of the speaker ring, for a device's output callback.
    pub fn new(ring: rtrb::Consumer<i16>, counters: Arc<AudioCounters>, spf: u32) -> Self {
        let capacity = ring.buffer().capacity();
        SpeakerReader {
            capacity,
            ring,
            counters,
            spf: spf as usize,
            primed: false,
            drift: Drift::new(spf as usize),
            slack: Slack::new(spf as usize, capacity),
        }
    }

    /// The ring ran dry: counted, and the next priming waits for more.
    fn underrun(&mut self) {
        AudioCounters::bump(&self.counters.speaker_underruns);
        self.slack.grow(&self.counters.speaker_slack);
        self.primed = false;
    }

    /// Fills `out` (mono, bridge rate) for an output callback that plays `period` samples at
    /// a time. Plays silence until a frame and a period (plus the `Slack` earned by
    /// underruns) are buffered; pads with silence and counts an underrun when the ring runs
    /// dry; skips samples when the bridge keeps running ahead of the device's clock, so the
    /// latency stays near one frame plus one period (plus that slack).
    pub fn read(&mut self, out: &mut [i16], period: usize) {
        if !self.start(period) {
            out.fill(0);
            return;
        }
        let (_, rest) = self.ring.pop_partial_slice(out);
        if !rest.is_empty() {
            rest.fill(0);
            self.underrun();
        }
    }

    /// Starts an output callback of `period` bridge samples: false while priming; trims the
    /// queue when the bridge ran ahead.
    pub fn start(&mut self, period: usize) -> bool {
        AudioCounters::max(&self.counters.speaker_max_callback, period as u64);
        AudioCounters::bump(&self.counters.speaker_callbacks);
        // A device asking for more than the ring can hold at once still gets what is there.
        let prime = self.spf + period.min(self.capacity / 2) + self.slack.samples;
        let high = prime + 2 * self.spf;
        let fill = self.ring.slots();
        AudioCounters::add(&self.counters.speaker_queued, fill as u64);
        if !self.primed {
            if fill < prime {
                return false;
            }
            self.primed = true;
        }
        let skip = self.drift.skip(fill, high, prime, period);
        if skip > 0 {
            if let Ok(chunk) = self.ring.read_chunk(skip) {
                chunk.commit_all();
            }
            AudioCounters::add(&self.counters.speaker_dropped, skip as u64);
        }
        true
    }

    /// One sample for a resampling callback, after [`start`](Self::start) returned true:
    /// silence (and an underrun, counted once) when the ring runs dry.
    pub fn next_sample(&mut self) -> i16 {
        if !self.primed {
            return 0;
        }
        match self.ring.pop() {
            Ok(s) => s,
            Err(_) => {
                self.underrun();
                0
            }
        }
    }
}

/// The device's end of the microphone ring, for an input callback.
pub struct MicWriter {
    ring: rtrb::Producer<i16>,
    counters: Arc<AudioCounters>,
}

impl MicWriter {
    /// A writer into the microphone ring, for a device's input callback.
    pub fn new(ring: rtrb::Producer<i16>, counters: Arc<AudioCounters>) -> Self {
        MicWriter { ring, counters }
    }

    /// Queues captured samples (mono, bridge rate); what does not fit is dropped and counted.
    pub fn write(&mut self, samples: &[i16]) {
        AudioCounters::max(&self.counters.mic_max_callback, samples.len() as u64);
        AudioCounters::bump(&self.counters.mic_callbacks);
        let (_, rest) = self.ring.push_partial_slice(samples);
        if !rest.is_empty() {
            AudioCounters::bump(&self.counters.mic_overruns);
        }
    }

    /// Queues one sample (for a resampling callback).
    pub fn push(&mut self, sample: i16) {
        if self.ring.push(sample).is_err() {
            AudioCounters::bump(&self.counters.mic_overruns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FMT: BridgeFormat = BridgeFormat {
        clock_rate: 8000,
        samples_per_frame: 160,
    };

    fn setup() -> (BridgeSide, SpeakerReader, MicWriter, Arc<AudioCounters>) {
        let counters = Arc::new(AudioCounters::default());
        let (bridge, ends) = rings(FMT, counters.clone());
        let spk = SpeakerReader::new(ends.speaker, counters.clone(), FMT.samples_per_frame);
        let mic = MicWriter::new(ends.mic, counters.clone());
        (bridge, spk, mic, counters)
    }

    fn ramp(start: i16, n: usize) -> Vec<i16> {
        (0..n).map(|i| start.wrapping_add(i as i16)).collect()
    }

    #[test]
    fn speaker_plays_every_sample_in_order_once_primed() {
        let (mut bridge, mut spk, _mic, counters) = setup();
        let period = 80;
        let mut out = vec![0i16; period];
        // Nothing queued: silence, and no underrun counted while priming.
        spk.read(&mut out, period);
        assert!(out.iter().all(|&s| s == 0));
        let mut played = Vec::new();
        let mut next = 1i16;
        // The bridge ticks every 160 samples, the device every 80: equal rates.
        for tick in 0..100 {
            if tick % 2 == 0 {
                bridge.write_speaker(Some(&ramp(next, 160)));
                next = next.wrapping_add(160);
            }
            spk.read(&mut out, period);
            played.extend_from_slice(&out);
        }
        let s = counters.snapshot();
        assert_eq!(s.speaker_underruns, 0, "{s:?}");
        assert_eq!(s.speaker_overruns, 0);
        let first = played.iter().position(|&v| v != 0).unwrap();
        let audio = &played[first..];
        assert!(audio.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        // Latency: one frame plus one period, no more.
        assert!(first <= 160 + 80, "primed after {first} samples");
    }

    #[test]
    fn speaker_underrun_is_counted_and_padded() {
        let (mut bridge, mut spk, _mic, counters) = setup();
        bridge.write_speaker(Some(&ramp(1, 160)));
        bridge.write_speaker(Some(&ramp(161, 160)));
        let mut out = vec![0i16; 400];
        spk.read(&mut out, 80);
        assert_eq!(&out[..320], &ramp(1, 320)[..]);
        assert!(out[320..].iter().all(|&s| s == 0));
        assert_eq!(counters.snapshot().speaker_underruns, 1);
    }

    #[test]
    fn a_fast_bridge_is_trimmed_to_bounded_latency() {
        let (mut bridge, mut spk, _mic, counters) = setup();
        let mut out = vec![0i16; 80];
        // A late device (a burst of 5 extra frames) is jitter: nothing is skipped at once.
        let mut next = 0i16;
        for _ in 0..7 {
            bridge.write_speaker(Some(&ramp(next, 160)));
            next = next.wrapping_add(160);
        }
        spk.read(&mut out, 80);
        assert_eq!(counters.snapshot().speaker_dropped, 0);
        // The queue stays long (the bridge's clock is ahead): trimmed after half a second.
        let mut played = out.clone();
        for tick in 0..100 {
            if tick % 2 == 0 {
                bridge.write_speaker(Some(&ramp(next, 160)));
                next = next.wrapping_add(160);
            }
            spk.read(&mut out, 80);
            played.extend_from_slice(&out);
        }
        let s = counters.snapshot();
        assert!(s.speaker_dropped > 0, "{s:?}");
        assert_eq!(s.speaker_underruns, 0);
        // One skip, and in order otherwise.
        let jumps = played
            .windows(2)
            .filter(|w| w[1] != w[0].wrapping_add(1))
            .count();
        assert_eq!(jumps, 1);
    }

    #[test]
    fn microphone_reaches_the_bridge_in_order() {
        let (mut bridge, _spk, mut mic, counters) = setup();
        let mut frame = vec![0i16; 160];
        let mut got = Vec::new();
        let mut next = 1i16;
        for tick in 0..50 {
            // Device periods of 80 samples, two per bridge frame.
            mic.write(&ramp(next, 80));
            next = next.wrapping_add(80);
            mic.write(&ramp(next, 80));
            next = next.wrapping_add(80);
            bridge.read_mic(&mut frame);
            if tick > 0 {
                got.extend_from_slice(&frame);
            }
        }
        let s = counters.snapshot();
        assert_eq!(s.mic_underruns, 0, "{s:?}");
        assert_eq!(s.mic_overruns, 0);
        assert!(got.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        assert_eq!(got.len(), 49 * 160);
    }

    #[test]
    fn microphone_overrun_and_bridge_underrun_are_counted() {
        let (mut bridge, _spk, mut mic, counters) = setup();
        mic.write(&vec![1i16; 160 * 9]);
        assert_eq!(counters.snapshot().mic_overruns, 1);
        let mut frame = vec![0i16; 160];
        for _ in 0..8 {
            bridge.read_mic(&mut frame);
            assert!(frame.iter().all(|&s| s == 1));
        }
        // Past the start-up half second (25 frames of 20 ms), in step with the microphone.
        for _ in 0..20 {
            mic.write(&[1i16; 160]);
            bridge.read_mic(&mut frame);
        }
        bridge.read_mic(&mut frame);
        let s = counters.snapshot();
        assert_eq!((s.mic_underruns, s.mic_startup_underruns), (1, 0));
        assert!(frame.iter().all(|&s| s == 0));
    }

    #[test]
    fn a_microphone_late_in_its_first_half_second_counts_apart() {
        let (mut bridge, _spk, mut mic, counters) = setup();
        let mut frame = vec![0i16; 160];
        mic.write(&[1i16; 240]);
        bridge.read_mic(&mut frame);
        bridge.read_mic(&mut frame);
        let s = counters.snapshot();
        assert_eq!((s.mic_underruns, s.mic_startup_underruns), (0, 1));
    }

    #[test]
    fn a_fast_microphone_is_trimmed_once_it_stays_ahead() {
        let (mut bridge, _spk, mut mic, counters) = setup();
        let mut frame = vec![0i16; 160];
        mic.write(&vec![1i16; 160 * 6]);
        for _ in 0..40 {
            mic.write(&[1i16; 160]);
            bridge.read_mic(&mut frame);
        }
        let s = counters.snapshot();
        assert!(s.mic_dropped > 0, "{s:?}");
        assert_eq!(s.mic_underruns, 0);
    }

    /// A speaker fed by a media clock that is `late` frames late once in a while (a loaded
    /// machine) and then catches up, played by a device on time: the underruns, and the slack.
    fn speaker_with_late_clock(late: usize) -> (u64, u64) {
        let (mut bridge, mut spk, _mic, counters) = setup();
        let mut out = vec![0i16; 80];
        let mut owed = 0;
        for tick in 0..2000 {
            if tick % 2 == 0 {
                // Every 50th frame the clock sleeps through `late` frames, then runs them.
                if tick % 100 == 50 && late > 0 {
                    owed = late;
                } else if owed > 0 {
                    owed -= 1;
                    if owed == 0 {
                        for _ in 0..=late {
                            bridge.write_speaker(Some(&[1i16; 160]));
                        }
                    }
                } else {
                    bridge.write_speaker(Some(&[1i16; 160]));
                }
            }
            spk.read(&mut out, 80);
        }
        let s = counters.snapshot();
        (s.speaker_underruns, s.speaker_slack)
    }

    #[test]
    fn a_clock_that_is_late_now_and_then_earns_slack_and_stops_underrunning() {
        // Late by 2 frames (40 ms) 20 times: without slack, every time would underrun.
        let (underruns, slack) = speaker_with_late_clock(3);
        assert!(
            (1..=4).contains(&underruns),
            "underruns {underruns} slack {slack}"
        );
        assert!(
            slack > 0 && slack <= 480,
            "slack {slack} samples, underruns {underruns}"
        );
        // On time: no underrun, no slack (the lowest latency is kept).
        assert_eq!(speaker_with_late_clock(0), (0, 0));
    }

    #[test]
    fn a_microphone_late_now_and_then_earns_slack_and_stops_underrunning() {
        let (mut bridge, _spk, mut mic, counters) = setup();
        let mut frame = vec![0i16; 160];
        let mut owed = 0;
        for tick in 0..1000 {
            // Every 50th frame the microphone's thread is 40 ms late, then delivers it all.
            if tick % 50 == 30 {
                owed += 3;
            } else {
                for _ in 0..=owed {
                    mic.write(&[1i16; 160]);
                }
                owed = 0;
            }
            bridge.read_mic(&mut frame);
        }
        let s = counters.snapshot();
        assert!(
            (1..=4).contains(&s.mic_underruns),
            "mic underruns {} slack {}",
            s.mic_underruns,
            s.mic_slack
        );
        assert!(s.mic_slack > 0, "{s:?}");
    }

    #[test]
    fn silent_bridge_frames_keep_the_speaker_fed() {
        let (mut bridge, mut spk, _mic, counters) = setup();
        bridge.write_speaker(None);
        bridge.write_speaker(None);
        let mut out = vec![7i16; 240];
        spk.read(&mut out, 80);
        assert!(out.iter().all(|&s| s == 0));
        assert_eq!(counters.snapshot().speaker_underruns, 0);
    }
}
