//! Real audio for the integration tests, with no sound card: the ALSA `file` plugin
//! (tests/alsa/file.asoundrc, chosen with ALSA_CONFIG_PATH) turned into a real-time sound
//! card by FIFOs that this harness reads and writes at real-time pace, a pjsua peer built from
//! our own pjproject tree, tone generation and Goertzel analysis.
//!
//! Why FIFOs: over the `null` slave the file plugin is not paced (it runs hundreds of times
//! faster than real time), so a phone playing a real-time RTP stream into it would mostly
//! write underrun padding. A FIFO whose reader takes exactly 32000 bytes a second (16 kHz
//! mono S16) blocks the plugin's writes like a sound card's clock; a FIFO fed at real-time
//! pace does the same for capture. The pipes are opened read-write by the harness, so they
//! live for the whole test whatever the phone opens and closes, and they are shrunk to one
//! page so they add little latency.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{tests_dir, TempDir, LOCALHOST};

/// The asoundrc of the file-backed sound card.
pub fn asoundrc() -> PathBuf {
    tests_dir().join("alsa/file.asoundrc")
}

/// `amp * sin(2 pi hz t)` as i16 samples, starting at sample index `start`.
pub fn tone(rate: u32, hz: f64, amp: f64, start: u64, n: usize) -> Vec<i16> {
    (0..n as u64)
        .map(|i| {
            let t = (start + i) as f64 / f64::from(rate);
            (amp * 32767.0 * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16
        })
        .collect()
}

/// Writes a mono 16-bit WAV file.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    for &s in samples {
        w.write_sample(s).expect("write WAV sample");
    }
    w.finalize().expect("finish WAV file");
}

/// Reads a 16-bit WAV file: (rate, samples of the first channel).
pub fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!(spec.bits_per_sample, 16, "{}: not 16-bit", path.display());
    let ch = usize::from(spec.channels);
    let all: Vec<i16> = r.samples::<i16>().map_while(Result::ok).collect();
    (spec.sample_rate, all.chunks(ch).map(|f| f[0]).collect())
}

/// Raw S16_LE bytes to samples.
pub fn s16le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Amplitude (0..1 of full scale) of `hz` in `x`, by Goertzel.
pub fn goertzel(x: &[i16], rate: u32, hz: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) / 32767.0 + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0).sqrt() * 2.0 / x.len() as f64
}

fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let sum: f64 = x.iter().map(|&v| (f64::from(v) / 32767.0).powi(2)).sum();
    (sum / x.len() as f64).sqrt()
}

/// What a recording holds of a tone.
#[derive(Debug, Clone)]
pub struct ToneReport {
    /// Seconds of tone analysed (from onset + 0.3 s to the end of the tone - 0.3 s).
    pub seconds: f64,
    /// Amplitude (sqrt(2) x RMS, 0..1 of full scale) of each 50 ms block of that window.
    pub block_levels: Vec<f64>,
    /// The longest stretch (ms) of 2.5 ms blocks quieter than a quarter of the tone's RMS.
    pub longest_gap_ms: f64,
    /// Per 50 ms block, the share of its power at the tone's frequency (1.0 = a pure tone);
    /// the median over the window.
    pub purity: f64,
    /// Share of blocks whose purity is under 0.9 (a click, a skip, another sound).
    pub impure_blocks: f64,
}

impl ToneReport {
    /// dB of the median 50 ms block relative to `amp`, and the share of blocks more than
    /// `tolerance` dB away from it.
    pub fn level_db(&self, amp: f64, tolerance: f64) -> (f64, f64) {
        let db = |l: f64| 20.0 * (l / amp).log10();
        let mut levels = self.block_levels.clone();
        levels.sort_by(f64::total_cmp);
        let median = levels
            .get(levels.len() / 2)
            .copied()
            .map_or(f64::NEG_INFINITY, db);
        let off = levels.iter().filter(|&&l| db(l).abs() > tolerance).count();
        (median, off as f64 / levels.len().max(1) as f64)
    }

    /// dB of the quietest and loudest 50 ms block relative to `amp`.
    pub fn level_range_db(&self, amp: f64) -> (f64, f64) {
        let db = |l: f64| 20.0 * (l / amp).log10();
        let lo = self.block_levels.iter().copied().fold(f64::MAX, f64::min);
        let hi = self.block_levels.iter().copied().fold(0.0, f64::max);
        (db(lo), db(hi))
    }
}

/// Finds the tone of frequency `hz` and amplitude about `amp` in `x` and measures it.
pub fn analyse(x: &[i16], rate: u32, hz: f64, amp: f64) -> ToneReport {
    let small = (rate / 400) as usize; // 2.5 ms
    let expected_rms = amp / 2f64.sqrt();
    let loud: Vec<bool> = x
        .chunks(small)
        .map(|b| rms(b) > expected_rms / 4.0)
        .collect();
    let first = loud.iter().position(|&l| l).unwrap_or(loud.len());
    let last = loud.iter().rposition(|&l| l).unwrap_or(0);
    let margin = (rate as usize * 3 / 10) / small; // 0.3 s
    let (a, b) = (first + margin, last.saturating_sub(margin));
    if b <= a + 1 {
        return ToneReport {
            seconds: 0.0,
            block_levels: Vec::new(),
            longest_gap_ms: 0.0,
            purity: 0.0,
            impure_blocks: 1.0,
        };
    }
    let window = &x[a * small..b * small];
    let mut longest = 0usize;
    let mut run = 0usize;
    for &l in &loud[a..b] {
        run = if l { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    let block = (rate / 20) as usize; // 50 ms
    let blocks: Vec<&[i16]> = window.chunks_exact(block).collect();
    let block_levels: Vec<f64> = blocks.iter().map(|c| rms(c) * 2f64.sqrt()).collect();
    let mut purities: Vec<f64> = blocks
        .iter()
        .map(|c| {
            let total = rms(c);
            if total > 0.0 {
                (goertzel(c, rate, hz) / 2f64.sqrt() / total).powi(2)
            } else {
                0.0
            }
        })
        .collect();
    let impure = purities.iter().filter(|&&p| p < 0.9).count() as f64 / blocks.len() as f64;
    purities.sort_by(f64::total_cmp);
    ToneReport {
        seconds: window.len() as f64 / f64::from(rate),
        block_levels,
        longest_gap_ms: longest as f64 * 2.5,
        purity: purities[purities.len() / 2],
        impure_blocks: impure,
    }
}

/// CPU time (user + system, in clock ticks, usually 10 ms) a process has used so far.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat has a command name")
        .1
        .split_whitespace()
        .collect();
    // After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// CPU ticks per thread of a process: (thread name, ticks), busiest first.
pub fn thread_ticks(pid: u32) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = fs::read_dir(format!("/proc/{pid}/task"))
        .map(|rd| {
            rd.filter_map(|e| {
                let tid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let comm = fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).ok()?;
                let stat = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
                let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks = f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?;
                Some((format!("{} ({tid})", comm.trim()), ticks))
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|t| std::cmp::Reverse(t.1));
    out
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// Opens a FIFO read-write (so it never sees end of file or a broken pipe), non-blocking, and
/// shrinks its buffer to one page.
fn open_fifo(path: &Path) -> File {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open FIFO {}: {e}", path.display()));
    let _ = rustix::pipe::fcntl_setpipe_size(&f, 4096);
    rustix::fs::fcntl_setfl(&f, rustix::fs::OFlags::NONBLOCK).expect("O_NONBLOCK on the FIFO");
    f
}

/// A harness thread that runs `body` until this is dropped (then it is told to stop and
/// joined). `body` gets the flag to poll.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Runs `body` on a thread of its own, at real-time priority where the system allows it:
    /// these threads are the sound card's clock, and a card's clock is hardware, never late
    /// because the machine is busy.
    fn spawn(body: impl FnOnce(&AtomicBool) + Send + 'static) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            real_time_priority(rustix::thread::gettid().as_raw_nonzero().get());
            body(&flag)
        });
        Worker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Puts thread `tid` of this process under SCHED_FIFO (with `chrt`), when allowed.
pub fn real_time_priority(tid: i32) {
    let _ = Command::new("chrt")
        .args(["-f", "-p", "20", &tid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The command that runs a program at real-time priority (`chrt -f 10`) where the system
/// allows it, else as it is.
pub fn real_time_command(program: &Path) -> Command {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let allowed = *ALLOWED.get_or_init(|| {
        Command::new("chrt")
            .args(["-f", "10", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if allowed {
        let mut c = Command::new("chrt");
        c.args(["-f", "10"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// How long the card waits for a phone that is late with its samples before it counts the
/// time as played silence (a stream that stopped: between calls, say).
const CARD_PATIENCE: Duration = Duration::from_millis(250);

/// The speaker FIFO read as a sound card's clock would: [`SPEAKER_RATE`] frames a second. The
/// card waits for the phone: when the pipe is empty, the time is owed, and what the phone
/// writes late is played whole and in order, at once, instead of as a gap (a loaded machine
/// delays the phone's threads, not a card's hardware clock). After [`CARD_PATIENCE`] with
/// nothing, the stream has stopped: the time is gone, and the next stream starts at pace.
struct SpeakerClock {
    fifo: File,
    t0: Instant,
    taken: u64,
    last_data: Instant,
    buf: Vec<u8>,
}

impl SpeakerClock {
    fn new(fifo: File) -> SpeakerClock {
        SpeakerClock {
            fifo,
            t0: Instant::now(),
            taken: 0,
            last_data: Instant::now(),
            buf: vec![0u8; 65536],
        }
    }

    /// What the card has played since the last call (raw playback-format bytes).
    fn played(&mut self) -> &[u8] {
        let due = (self.t0.elapsed().as_secs_f64() * f64::from(SPEAKER_RATE)) as u64
            * SPEAKER_FRAME as u64;
        let want = due.saturating_sub(self.taken).min(self.buf.len() as u64) as usize;
        if want == 0 {
            return &[];
        }
        match self.fifo.read(&mut self.buf[..want]) {
            Ok(n) => {
                self.taken += n as u64;
                self.last_data = Instant::now();
                &self.buf[..n]
            }
            Err(_) => {
                if self.last_data.elapsed() > CARD_PATIENCE {
                    self.taken = due;
                }
                &[]
            }
        }
    }

    /// Whether the phone has written nothing for longer than the card's patience.
    fn stopped(&self) -> bool {
        self.last_data.elapsed() > CARD_PATIENCE
    }
}

/// The speaker: a FIFO the phone plays into (AUDIO_OUT), drained in real time in the file
/// plugin's playback format (48 kHz, stereo, S32_LE); everything drained is kept.
pub struct PacedSpeaker {
    path: PathBuf,
    data: Arc<Mutex<Played>>,
    _worker: Worker,
}

/// What a [`PacedSpeaker`] has played (its left channel as 16-bit samples), and whether the
/// phone has stopped writing to it. The lock is held only to append a few milliseconds of
/// samples or to copy them: the card's real-time thread never waits for the test's analysis.
struct Played {
    samples: Vec<i16>,
    stopped: bool,
}

/// Sample rate of the file plugin's playback format (tests/alsa/file.asoundrc).
pub const SPEAKER_RATE: u32 = 48000;
/// Bytes per frame of that format: 2 channels of S32_LE.
const SPEAKER_FRAME: usize = 8;

impl PacedSpeaker {
    pub fn start(path: &Path) -> PacedSpeaker {
        mkfifo(path);
        let mut card = SpeakerClock::new(open_fifo(path));
        let data = Arc::new(Mutex::new(Played {
            samples: Vec::new(),
            stopped: true,
        }));
        let d = data.clone();
        let worker = Worker::spawn(move |stop| {
            let mut pending: Vec<u8> = Vec::new();
            let mut left: Vec<i16> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                pending.extend_from_slice(card.played());
                let whole = pending.len() / SPEAKER_FRAME * SPEAKER_FRAME;
                left.clear();
                left.extend(
                    pending[..whole]
                        .chunks_exact(SPEAKER_FRAME)
                        .map(|f| (i32::from_le_bytes([f[0], f[1], f[2], f[3]]) >> 16) as i16),
                );
                pending.drain(..whole);
                let stopped = card.stopped();
                let mut d = d.lock().unwrap();
                d.samples.extend_from_slice(&left);
                d.stopped = stopped;
                drop(d);
                thread::sleep(Duration::from_millis(5));
            }
        });
        PacedSpeaker {
            path: path.to_path_buf(),
            data,
            _worker: worker,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything played so far: the left channel, as 16-bit samples at [`SPEAKER_RATE`].
    pub fn samples(&self) -> Vec<i16> {
        self.data.lock().unwrap().samples.clone()
    }

    /// How many samples have been played so far (a mark for [`samples`](Self::samples)).
    pub fn len(&self) -> usize {
        self.data.lock().unwrap().samples.len()
    }

    /// Waits until what has been played satisfies `done` (checked every 50 ms) and returns
    /// it; panics after `timeout`, saying `what` was awaited.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[i16]) -> bool,
    ) -> Vec<i16> {
        let deadline = Instant::now() + timeout;
        loop {
            let played = self.samples();
            if done(&played) {
                return played;
            }
            assert!(
                Instant::now() < deadline,
                "the speaker did not get {what} within {timeout:?} ({:.2} s played)",
                played.len() as f64 / f64::from(SPEAKER_RATE)
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `seconds` more have been played after `mark` (the card's own clock: a
    /// phone slowed down by a busy machine gets the time it needs).
    pub fn wait_played(&self, mark: usize, seconds: f64, timeout: Duration) -> Vec<i16> {
        let want = mark + (seconds * f64::from(SPEAKER_RATE)) as usize;
        self.wait_for(&format!("{seconds} s more audio"), timeout, |p| {
            p.len() >= want
        })
    }

    /// Waits until the phone has stopped playing (its stream closed, or silent for longer than
    /// the card's patience) and returns everything played.
    pub fn wait_closed(&self, timeout: Duration) -> Vec<i16> {
        let deadline = Instant::now() + timeout;
        while !self.data.lock().unwrap().stopped {
            assert!(
                Instant::now() < deadline,
                "the phone kept its speaker stream open for {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        self.samples()
    }
}

/// The microphone: a FIFO the phone records from (AUDIO_IN), fed with a tone at real-time
/// pace in 20 ms chunks (mono S16 at `rate`). While nobody reads, at most 80 ms wait in it.
pub struct PacedMic {
    path: PathBuf,
    stalled: Arc<AtomicBool>,
    _worker: Worker,
}

impl PacedMic {
    pub fn start(path: &Path, rate: u32, hz: f64, amp: f64) -> PacedMic {
        mkfifo(path);
        let mut f = open_fifo(path);
        let stalled = Arc::new(AtomicBool::new(false));
        let stall = stalled.clone();
        let worker = Worker::spawn(move |stop| {
            let chunk = (rate / 50) as usize;
            let mut next = Instant::now();
            let mut index = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if stall.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
                // A chunk is written whole or not at all, and the tone goes on from where it
                // stopped: what the phone reads is one continuous tone.
                let queued = rustix::io::ioctl_fionread(&f).unwrap_or(0) as usize;
                if queued < 4 * chunk * 2 {
                    let bytes: Vec<u8> = tone(rate, hz, amp, index, chunk)
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect();
                    // One atomic write (under PIPE_BUF): the reader never sees half a chunk.
                    if f.write(&bytes).is_ok() {
                        index += chunk as u64;
                    }
                }
                next += Duration::from_millis(20);
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else if now - next > Duration::from_millis(100) {
                    next = now;
                }
            }
        });
        PacedMic {
            path: path.to_path_buf(),
            stalled,
            _worker: worker,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on the microphone delivers nothing, and a read of it waits forever (a stuck
    /// driver): the FIFO stays open with nothing in it.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }
}

/// pjsua, built from the pjproject tree pjsip-sys configured (under target/), once.
pub fn pjsua_binary() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.as_ref() {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("PJSUA_BIN") {
        return PathBuf::from(p);
    }
    let install = option_env!("MICROSIP_PJPROJECT_INSTALL")
        .filter(|s| !s.is_empty())
        .expect("no MICROSIP_PJPROJECT_INSTALL: build.rs did not record pjsip-sys's tree");
    let tree = Path::new(install)
        .parent()
        .expect("install dir has a parent")
        .join("pjproject");
    let bin_dir = tree.join("pjsip-apps/bin");
    let find = || {
        fs::read_dir(&bin_dir).ok().and_then(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("pjsua-"))
            })
        })
    };
    {
        // Another test binary may be building it too: look only under the lock on the tree,
        // as a binary that make is still linking exists before it can run.
        let lock = File::create(tree.join(".pjsua-build.lock")).expect("create lock file");
        lock.lock().expect("lock the pjproject tree");
        if find().is_none() {
            let log = tree.join("pjsua-build.log");
            let out = File::create(&log).expect("create build log");
            let status = Command::new("make")
                .arg("-C")
                .arg(tree.join("pjsip-apps/build"))
                .arg("pjsua")
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .status()
                .expect("run make");
            assert!(
                status.success(),
                "building pjsua in {} failed; see {}",
                tree.display(),
                log.display()
            );
        }
    }
    let bin = find().unwrap_or_else(|| panic!("no pjsua in {}", bin_dir.display()));
    *built = Some(bin.clone());
    bin
}

/// A pjsua peer calling `target` with `--null-audio` (its own real-time clock): it plays a
/// WAV file into the call (pjsua loops it) and records what it receives.
pub struct PjsuaCaller {
    child: Child,
    stdin: Option<ChildStdin>,
    dir: TempDir,
    port: u16,
}

impl PjsuaCaller {
    /// Calls `target` (a SIP URI), playing `play` (a WAV file) and hanging up after
    /// `seconds` of conversation. Its From is `sip:127.0.0.1`.
    pub fn call(target: &str, play: &Path, seconds: u32) -> PjsuaCaller {
        PjsuaCaller::call_from(None, target, play, seconds)
    }

    /// As [`call`](Self::call), from `sip:<user>@127.0.0.1` when `user` is given (two calls
    /// at once must come from two callers: MicroSIP refuses a second call from the same one).
    pub fn call_from(user: Option<&str>, target: &str, play: &Path, seconds: u32) -> PjsuaCaller {
        PjsuaCaller::spawn(user, Some(target), play, seconds, &[])
    }

    /// As [`call`](Self::call), with more pjsua options (`--use-srtp=2`...).
    pub fn call_with(args: &[&str], target: &str, play: &Path, seconds: u32) -> PjsuaCaller {
        PjsuaCaller::spawn(None, Some(target), play, seconds, args)
    }

    /// pjsua waiting for a call (`--auto-answer=200`) at [`uri`](Self::uri), with more
    /// options; it plays `play` into the call, records it, and hangs up after `seconds`.
    pub fn answer_with(args: &[&str], play: &Path, seconds: u32) -> PjsuaCaller {
        let mut all = vec!["--auto-answer=200"];
        all.extend_from_slice(args);
        PjsuaCaller::spawn(None, None, play, seconds, &all)
    }

    /// The SIP URI this pjsua listens on.
    pub fn uri(&self) -> String {
        format!("sip:pjsua@{LOCALHOST}:{}", self.port)
    }

    fn spawn(
        user: Option<&str>,
        target: Option<&str>,
        play: &Path,
        seconds: u32,
        args: &[&str],
    ) -> PjsuaCaller {
        let dir = TempDir::new("pjsua");
        let sip = super::free_udp_port();
        let rtp = super::free_udp_port_block(4);
        let log = File::create(dir.path().join("pjsua.out")).expect("create pjsua output");
        // Its console line-buffered (stdbuf), with the log file's level: the console is what
        // wait_log reads, as pjsua writes it. The log file goes through stdio's buffer in 4 kB
        // blocks, so a line can sit there unseen for as long as pjsua stays quiet.
        let mut child = real_time_command(Path::new("stdbuf"))
            .arg("-oL")
            .arg(pjsua_binary())
            .args(["--null-audio", "--no-tcp", "--no-vad", "--max-calls=1"])
            .arg(format!("--ip-addr={LOCALHOST}"))
            .arg(format!("--bound-addr={LOCALHOST}"))
            .arg(format!("--local-port={sip}"))
            .arg(format!("--rtp-port={rtp}"))
            .arg(format!("--play-file={}", play.display()))
            .args(["--auto-play", "--auto-rec"])
            .arg(format!(
                "--rec-file={}",
                dir.path().join("rec.wav").display()
            ))
            .arg(format!("--duration={seconds}"))
            .args(user.map(|u| format!("--id=sip:{u}@{LOCALHOST}")))
            .args(["--log-level=4", "--app-log-level=4"])
            .arg(format!(
                "--log-file={}",
                dir.path().join("pjsua.log").display()
            ))
            .args(args)
            .args(target)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn pjsua");
        PjsuaCaller {
            stdin: child.stdin.take(),
            child,
            dir,
            port: sip,
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pjsua.log")).unwrap_or_default()
    }

    /// Its folder (its recording is `rec.wav` there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What pjsua printed so far (its log at level 4, line by line).
    pub fn console(&self) -> String {
        fs::read_to_string(self.dir.path().join("pjsua.out")).unwrap_or_default()
    }

    /// Waits until pjsua has printed `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.console().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "pjsua printed no {needle:?} within {timeout:?}\n--- pjsua console ---\n{}",
                self.console()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills pjsua with SIGKILL: it vanishes mid-call, sending nothing more (no BYE, no
    /// RTP), as a peer that crashed or lost power.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }

    /// Its SIP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until pjsua has opened its SIP UDP port (read from /proc/net/udp, so nothing
    /// races pjsua for the port). Its log file is no sign: pjsua writes it through stdio's
    /// buffer, in 4 kB blocks.
    pub fn wait_listening(&self, timeout: Duration) {
        let local = format!("0100007F:{:04X}", self.port);
        let deadline = Instant::now() + timeout;
        while !fs::read_to_string("/proc/net/udp")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        {
            assert!(
                Instant::now() < deadline,
                "pjsua did not open UDP port {} within {timeout:?}\n--- pjsua log ---\n{}",
                self.port,
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Quits pjsua (menu command `q`, so its recording is finished) and returns what it
    /// recorded: (rate, samples).
    pub fn quit_and_recording(&mut self) -> (u32, Vec<i16>) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"q\n");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().expect("wait for pjsua").is_none() {
            assert!(
                Instant::now() < deadline,
                "pjsua did not quit\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        read_wav(&self.dir.path().join("rec.wav"))
    }
}

impl Drop for PjsuaCaller {
    fn drop(&mut self) {
        self.stdin = None;
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .status();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("[harness] pjsua log:\n{}", self.log());
        }
    }
}

/// A private PulseAudio server with two null sinks at `rate` Hz mono: `spk` (the phone's
/// speaker; record `spk.monitor`) and `mic` (play into it; the phone records
/// `mic.monitor`). Real-time paced, like a sound card. Dropping it stops it and its clients.
pub struct PulseServer {
    child: Child,
    clients: Vec<Child>,
    dir: TempDir,
}

impl PulseServer {
    pub fn start(rate: u32) -> PulseServer {
        let dir = TempDir::new("pulse");
        for sub in ["run", "state", "home"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let socket = dir.path().join("native");
        let script = format!(
            "load-module module-native-protocol-unix auth-anonymous=1 socket={}\n\
             load-module module-null-sink sink_name=spk rate={rate} channels=1\n\
             load-module module-null-sink sink_name=mic rate={rate} channels=1\n\
             set-default-sink spk\nset-default-source mic.monitor\n",
            socket.display()
        );
        fs::write(dir.path().join("ci.pa"), script).unwrap();
        let log = File::create(dir.path().join("pulse.log")).unwrap();
        let mut server = PulseServer {
            child: Command::new(find_pulse_program("pulseaudio"))
                .args([
                    "-n",
                    "--daemonize=no",
                    "--exit-idle-time=-1",
                    "--use-pid-file=no",
                ])
                .arg("-F")
                .arg(dir.path().join("ci.pa"))
                .envs(Self::env_in(dir.path()))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("spawn pulseaudio"),
            clients: Vec::new(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = Command::new(find_pulse_program("pactl"))
                .arg("info")
                .envs(server.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("pulseaudio exited with {status}:\n{}", server.log());
            }
            assert!(
                Instant::now() < deadline,
                "pulseaudio did not come up:\n{}",
                server.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn env_in(dir: &Path) -> Vec<(String, String)> {
        vec![
            (
                "PULSE_SERVER".into(),
                format!("unix:{}", dir.join("native").display()),
            ),
            (
                "PULSE_RUNTIME_PATH".into(),
                dir.join("run").display().to_string(),
            ),
            (
                "PULSE_STATE_PATH".into(),
                dir.join("state").display().to_string(),
            ),
            ("HOME".into(), dir.join("home").display().to_string()),
        ]
    }

    /// The variables a client (the phone, parec, pacat) needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        Self::env_in(self.dir.path())
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("pulse.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts recording `source` (e.g. "spk.monitor") as raw S16_LE mono at `rate` into
    /// `path`, with a 10 ms latency (which also keeps the sink running without stalls).
    pub fn record(&mut self, source: &str, rate: u32, path: &Path) {
        let out = File::create(path).unwrap();
        let child = Command::new(find_pulse_program("parec"))
            .args(["-d", source, "--latency-msec=10", "--raw", "--format=s16le"])
            .arg(format!("--rate={rate}"))
            .arg("--channels=1")
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn parec");
        self.clients.push(child);
    }

    /// Starts playing raw S16_LE mono samples at `rate` into `sink` (e.g. "mic").
    pub fn play(&mut self, sink: &str, rate: u32, samples: &[i16]) {
        let path = self
            .dir
            .path()
            .join(format!("play-{}.raw", self.clients.len()));
        let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        fs::write(&path, bytes).unwrap();
        let child = Command::new(find_pulse_program("pacat"))
            .args([
                "-p",
                "-d",
                sink,
                "--latency-msec=20",
                "--raw",
                "--format=s16le",
            ])
            .arg(format!("--rate={rate}"))
            .arg("--channels=1")
            .arg(&path)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn pacat");
        self.clients.push(child);
    }
}

fn find_pulse_program(name: &str) -> PathBuf {
    let p = Path::new("/usr/bin").join(name);
    assert!(
        p.exists(),
        "`{name}` not found: install pulseaudio and pulseaudio-utils (scripts/setup.sh --test)"
    );
    p
}

fn kill_group(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status();
        let _ = child.wait();
    }
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        for c in &mut self.clients {
            kill_group(c);
        }
        kill_group(&mut self.child);
        if thread::panicking() {
            eprintln!("[harness] pulseaudio log:\n{}", self.log());
        }
    }
}

/// A sound card whose microphone hears its speaker: the harness drains the speaker FIFO
/// (AUDIO_OUT, 48 kHz stereo S32) in real time and writes what it got, as `mic_rate` mono
/// S16 (the left channel, decimated), into the microphone FIFO (AUDIO_IN). Adds about one
/// pipe page, 20 ms of chunking and 5 ms of polling to the loop.
pub struct PacedLoopback {
    speaker: PathBuf,
    mic: PathBuf,
    _worker: Worker,
}

impl PacedLoopback {
    pub fn start(speaker: &Path, mic: &Path, mic_rate: u32) -> PacedLoopback {
        PacedLoopback::with_voice(speaker, mic, mic_rate, None)
    }

    /// As [`start`](Self::start), with someone in the room: a tone of (`hz`, `amp`) added to
    /// what the microphone hears besides the speaker, half a second on, half a second off
    /// (people pause).
    pub fn with_voice(
        speaker: &Path,
        mic: &Path,
        mic_rate: u32,
        voice: Option<(f64, f64)>,
    ) -> PacedLoopback {
        mkfifo(speaker);
        mkfifo(mic);
        let mut card = SpeakerClock::new(open_fifo(speaker));
        let mut input = open_fifo(mic);
        let step = (SPEAKER_RATE / mic_rate) as usize;
        let worker = Worker::spawn(move |stop| {
            let mut pending: Vec<u8> = Vec::new();
            let mut mono: Vec<u8> = Vec::new();
            let mut phase = 0usize;
            let mut voiced = 0u64;
            let mut silence_due = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                pending.extend_from_slice(card.played());
                let frames = pending.len() / SPEAKER_FRAME;
                for f in pending[..frames * SPEAKER_FRAME].chunks_exact(SPEAKER_FRAME) {
                    if phase == 0 {
                        let mut v = i32::from_le_bytes([f[0], f[1], f[2], f[3]]) >> 16;
                        if let Some((hz, amp)) = voice {
                            let t = voiced as f64 / f64::from(mic_rate);
                            if t.fract() < 0.5 {
                                v += ((2.0 * std::f64::consts::PI * hz * t).sin() * amp * 32767.0)
                                    as i32;
                            }
                            voiced += 1;
                        }
                        let v = v.clamp(-32768, 32767) as i16;
                        mono.extend_from_slice(&v.to_le_bytes());
                    }
                    phase = (phase + 1) % step;
                }
                pending.drain(..frames * SPEAKER_FRAME);
                // 20 ms chunks, each in one write: the phone's capture reads whole 10 ms
                // periods, and the file plugin pads a short read with stale samples.
                let chunk = (mic_rate / 50) as usize * 2;
                // The microphone's clock is the card's, not the speaker stream's: with the
                // speaker closed (or stalled past the card's patience) it records silence,
                // as a real card would, rather than leave a capture waiting for a period.
                if card.stopped() && silence_due.elapsed() >= Duration::from_millis(20) {
                    mono.resize(mono.len().max(chunk), 0);
                    silence_due = Instant::now();
                }
                while mono.len() >= chunk {
                    // A full pipe (nobody recording) drops the chunk.
                    let _ = input.write(&mono[..chunk]);
                    mono.drain(..chunk);
                }
                thread::sleep(Duration::from_millis(5));
            }
        });
        PacedLoopback {
            speaker: speaker.to_path_buf(),
            mic: mic.to_path_buf(),
            _worker: worker,
        }
    }

    pub fn speaker_path(&self) -> &Path {
        &self.speaker
    }

    pub fn mic_path(&self) -> &Path {
        &self.mic
    }
}

/// pjsua answering calls at once and looping their audio straight back (`--auto-loop`):
/// the baseline of a round trip with no sound device in it.
pub struct PjsuaLoop {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl PjsuaLoop {
    pub fn start() -> PjsuaLoop {
        let dir = TempDir::new("pjsua-loop");
        let sip = super::free_udp_port();
        let rtp = super::free_udp_port_block(4);
        let log = File::create(dir.path().join("pjsua.out")).unwrap();
        let child = real_time_command(&pjsua_binary())
            .args(["--null-audio", "--no-tcp", "--no-vad", "--max-calls=1"])
            .args(["--auto-answer=200", "--auto-loop", "--add-codec=PCMA"])
            .arg(format!("--ip-addr={LOCALHOST}"))
            .arg(format!("--bound-addr={LOCALHOST}"))
            .arg(format!("--local-port={sip}"))
            .arg(format!("--rtp-port={rtp}"))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn pjsua");
        thread::sleep(Duration::from_millis(500));
        PjsuaLoop {
            child,
            port: sip,
            _dir: dir,
        }
    }

    pub fn uri(&self) -> String {
        format!("sip:loop@{LOCALHOST}:{}", self.port)
    }
}

impl Drop for PjsuaLoop {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Times (s) at which clicks start in `x`: the first sample above `threshold` after at least
/// `quiet` seconds under it.
pub fn click_onsets(x: &[i16], rate: u32, threshold: f64, quiet: f64) -> Vec<f64> {
    let t = (threshold * 32767.0) as i32;
    let quiet = (quiet * f64::from(rate)) as usize;
    let mut last_loud: Option<usize> = None;
    let mut onsets = Vec::new();
    for (i, &v) in x.iter().enumerate() {
        if i32::from(v).abs() > t {
            if last_loud.is_none_or(|l| i - l > quiet) {
                onsets.push(i as f64 / f64::from(rate));
            }
            last_loud = Some(i);
        }
    }
    onsets
}

/// White noise (a fixed pseudo-random sequence) at `amp` of full scale: what an echo
/// canceller adapts to best, like speech.
pub fn noise(n: usize, amp: f64) -> Vec<i16> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (u * amp * 32767.0) as i16
        })
        .collect()
}

/// What the caller hears back when the phone (set up by `ini_text`: the local account,
/// answering at once, with PCMA) has its speaker heard by its microphone (the harness's card
/// loops one into the other) while someone in the room says 440 Hz at 0.1 of full scale, on
/// and off: (the echo of the caller's noise in dBFS while the room is quiet, the 440 Hz level
/// while it talks), medians over the call's last seconds.
pub fn echo_and_voice(ini_text: &str) -> (f64, f64) {
    let dir = TempDir::new("audio-echo");
    let lb = PacedLoopback::with_voice(
        &dir.path().join("spk"),
        &dir.path().join("mic"),
        8000,
        Some((440.0, 0.1)),
    );
    let phone = super::Phone::start_with_env(
        ini_text,
        &[],
        &[
            ("ALSA_CONFIG_PATH", asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", lb.speaker_path().to_str().unwrap()),
            ("AUDIO_IN", lb.mic_path().to_str().unwrap()),
        ],
    );
    let play = dir.path().join("noise.wav");
    write_wav(&play, 8000, &noise(8000 * 10, 0.25));
    let line = phone.wait_line("started: SIP on udp ", Duration::from_secs(20));
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();
    let mut caller = PjsuaCaller::call(&format!("sip:intercom@{addr}"), &play, 9);
    phone.wait_line(": DISCONNECTED", Duration::from_secs(30));
    let stats = phone.wait_line("audio: stopped after", Duration::from_secs(30));
    eprintln!("{}", &stats[stats.find("audio: stopped").unwrap_or(0)..]);
    let (rate, rec) = caller.quit_and_recording();
    // The last 5 s (the canceller has had 3 s to learn), in tenths of a second: the echo where
    // the room is quiet, the voice where it talks, each the median (when the echo's path moves
    // by a frame, as a ring refills after a late period, the canceller needs a moment to
    // follow: a median judges the call, not that moment).
    let tail =
        &rec[rec.len().saturating_sub(rate as usize * 11 / 2)..rec.len() - rate as usize / 2];
    let (mut echo_db, mut voice) = (Vec::new(), Vec::new());
    for block in tail.chunks_exact(rate as usize / 10) {
        let v = goertzel(block, rate, 440.0);
        if v > 0.03 {
            voice.push(v);
        } else {
            echo_db.push(20.0 * rms(block).max(1e-6).log10());
        }
    }
    let median = |mut v: Vec<f64>| {
        assert!(
            v.len() >= 10,
            "both the room's talk and its pauses are in the call"
        );
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(echo_db), median(voice))
}
