//! Audio numbers, not pass/fail checks of behaviour (run them by hand, they are `#[ignore]`d):
//!
//! ```text
//! cargo test --test audio_bench -- --ignored --nocapture --test-threads=1
//! MICROSIP_BENCH_SECONDS=600 cargo test --test audio_bench long_call -- --ignored --nocapture
//! ```
//!
//! - `loop_latency`: a click's round trip caller → phone's speaker → (the harness's loopback
//!   sound card) → phone's microphone → caller, minus the same round trip through a pjsua
//!   that loops the call's audio back inside its bridge, minus the harness's card alone
//!   (measured too): what our device path adds, both ways; half of it is mouth-to-ear.
//! - `long_call`: CPU of the phone per call with audio, and glitches (underruns, overruns)
//!   over a long call, through PulseAudio null sinks (real-time, like a desktop).
//! - `echo_attenuation`: how many dB MicroSIP's `EC=1` takes off the speaker's echo on the
//!   harness's loopback card with someone in the room talking and pausing (the test suite only
//!   checks that the echo is clearly reduced), and how much of the room's voice is kept; and
//!   the glitches of those calls. `MICROSIP_BENCH_ROUNDS` rounds (default 3).

mod support;

use std::time::{Duration, Instant};

use support::audio::{self, PacedLoopback, PjsuaCaller, PjsuaLoop, PulseServer};
use support::{Phone, TempDir};

const T: Duration = Duration::from_secs(30);

/// A WAV of `n` clicks, one a second: 5 ms of 1 kHz at -6 dBFS, silence otherwise.
fn clicks(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut x = vec![0i16; 8000 * n];
    for k in 0..n {
        let burst = audio::tone(8000, 1000.0, 0.5, 0, 40);
        x[k * 8000..k * 8000 + 40].copy_from_slice(&burst);
    }
    let path = dir.join("clicks.wav");
    audio::write_wav(&path, 8000, &x);
    path
}

/// Round trips (ms) of the clicks in a caller's recording, one click a second.
fn round_trips(rate: u32, rec: &[i16]) -> Vec<f64> {
    audio::click_onsets(rec, rate, 0.1, 0.5)
        .into_iter()
        .map(|t| (t - t.floor()) * 1000.0)
        .collect()
}

/// Round trips (ms) through the harness's loopback sound card alone, with no phone: a writer
/// plays clicks into the speaker FIFO the way the ALSA file plugin does (48 kHz stereo S32,
/// 10 ms periods, blocking writes: the pipe stays full, like a card's buffer), a reader takes
/// the microphone FIFO in 10 ms periods. Each click is timed from the start of the write of
/// its period to the end of the read that holds it, corrected by its place in that read.
fn harness_round_trips(dir: &std::path::Path) -> Vec<f64> {
    use std::io::{Read, Write};
    let lb = PacedLoopback::start(&dir.join("h-spk"), &dir.join("h-mic"), 8000);
    let mut spk = std::fs::OpenOptions::new()
        .write(true)
        .open(lb.speaker_path())
        .unwrap();
    let mut mic = std::fs::File::open(lb.mic_path()).unwrap();
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let s = sent.clone();
    let writer = std::thread::spawn(move || {
        // 4 s of 10 ms periods; a 5 ms click at the start of every 50th.
        for k in 0..400 {
            let mut period = vec![0u8; 480 * 8];
            if k % 50 == 10 {
                for (i, f) in period.chunks_exact_mut(8).take(240).enumerate() {
                    let v = ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 48000.0).sin()
                        * 0.5
                        * f64::from(i32::MAX)) as i32;
                    f[..4].copy_from_slice(&v.to_le_bytes());
                    f[4..].copy_from_slice(&v.to_le_bytes());
                }
                s.lock().unwrap().push(Instant::now());
            }
            spk.write_all(&period).unwrap();
        }
    });
    let t_end = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 160];
    let mut loud_until: Option<Instant> = None;
    while Instant::now() < t_end && got.len() < 8 {
        let n = mic.read(&mut buf).unwrap();
        let now = Instant::now();
        let x = audio::s16le(&buf[..n - n % 2]);
        if let Some(i) = x.iter().position(|v| v.unsigned_abs() > 3000) {
            if loud_until.is_none_or(|t| now > t) {
                let back = Duration::from_secs_f64((x.len() - i) as f64 / 8000.0);
                got.push(now - back);
                loud_until = Some(now + Duration::from_millis(200));
            }
        }
    }
    writer.join().unwrap();
    let sent = sent.lock().unwrap();
    sent.iter()
        .zip(&got)
        .map(|(a, b)| b.saturating_duration_since(*a).as_secs_f64() * 1000.0)
        .collect()
}

/// A number from the environment variable `name`, or `default`.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The phone answering at once with PCMA; `ec` is MicroSIP's `EC` (the latency loop turns it
/// off: a canceller would take the returning clicks for echo, which they are).
fn ini(ec: bool) -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    format!(
        "[Settings]\naccountId=0\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\nlocalDTMF=0\nEC={}\n",
        rtp + 7,
        u8::from(ec)
    )
}

#[test]
#[ignore = "a measurement; run by hand"]
fn loop_latency() {
    let dir = TempDir::new("bench-latency");
    let play = clicks(dir.path(), 8);
    let rounds: usize = env_number("MICROSIP_BENCH_ROUNDS", 3);
    let harness = harness_round_trips(dir.path());
    let lb = PacedLoopback::start(&dir.path().join("spk"), &dir.path().join("mic"), 8000);
    let phone = Phone::start_with_env(
        &ini(false),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", lb.speaker_path().to_str().unwrap()),
            ("AUDIO_IN", lb.mic_path().to_str().unwrap()),
        ],
    );
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();

    // Both jitter buffers adapt call by call, so the baseline and the phone take turns, and
    // the medians over all rounds are compared.
    let (mut baseline, mut ours) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let lp = PjsuaLoop::start();
        let mut caller = PjsuaCaller::call(&lp.uri(), &play, 8);
        caller.wait_log("DISCONNECTED", T);
        let (rate, rec) = caller.quit_and_recording();
        let b = round_trips(rate, &rec);
        drop(lp);

        let mark = phone.mark();
        let mut caller = PjsuaCaller::call(&format!("sip:intercom@{addr}"), &play, 8);
        phone.wait_line_after(mark, ": DISCONNECTED", T);
        let stats = phone.wait_line_after(mark, "audio: stopped after", T);
        let (rate, rec) = caller.quit_and_recording();
        let o = round_trips(rate, &rec);
        eprintln!("round {round}: pjsua's own loop (ms) {b:.0?}");
        eprintln!("round {round}: through the phone and its sound card (ms) {o:.0?}");
        eprintln!(
            "round {round}: {}",
            &stats[stats.find("audio: stopped").unwrap_or(0)..]
        );
        assert!(o.len() >= 5, "clicks came back: {o:?}");
        baseline.extend(b);
        ours.extend(o);
    }

    let (b, o, h) = (median(baseline), median(ours), median(harness.clone()));
    eprintln!("round trips through the harness's sound card alone (ms): {harness:.1?}");
    let added = o - b - h;
    eprintln!(
        "median over {rounds} rounds: {b:.0} ms baseline, {o:.0} ms through the phone, {h:.1} ms \
         in the harness's card: the phone's device path adds {added:.0} ms round trip, {:.0} ms \
         mouth-to-ear (one way)",
        added / 2.0
    );
}

#[test]
#[ignore = "a measurement; run by hand"]
fn long_call() {
    let seconds: u32 = env_number("MICROSIP_BENCH_SECONDS", 60);
    let dir = TempDir::new("bench-long");
    let mut pulse = PulseServer::start(8000);
    pulse.record("spk.monitor", 8000, &dir.path().join("spk.raw"));
    pulse.play(
        "mic",
        8000,
        &audio::tone(8000, 440.0, 0.5, 0, 8000 * (seconds as usize + 10)),
    );
    let env = pulse.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let phone = Phone::start_with_env(&ini(true), &[], &env);
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();
    let play = dir.path().join("tone.wav");
    audio::write_wav(&play, 8000, &audio::tone(8000, 1000.0, 0.5, 0, 16000));
    let idle0 = audio::cpu_ticks(phone.pid());
    std::thread::sleep(Duration::from_secs(5));
    let idle = audio::cpu_ticks(phone.pid()) - idle0;
    let mut caller = PjsuaCaller::call(&format!("sip:intercom@{addr}"), &play, seconds);
    phone.wait_line("audio: speaker ", T);
    let t0 = Instant::now();
    let c0 = audio::cpu_ticks(phone.pid());
    let before = audio::thread_ticks(phone.pid());
    std::thread::sleep(Duration::from_secs(u64::from(seconds) / 2));
    let threads: Vec<(String, u64)> = audio::thread_ticks(phone.pid())
        .into_iter()
        .map(|(name, t)| {
            let t0 = before.iter().find(|(n, _)| *n == name).map_or(0, |b| b.1);
            (name, t - t0)
        })
        .filter(|(_, t)| *t > 0)
        .collect();
    phone.wait_line_after(
        0,
        ": DISCONNECTED",
        Duration::from_secs(u64::from(seconds) + 30),
    );
    let busy = audio::cpu_ticks(phone.pid()) - c0;
    let wall = t0.elapsed().as_secs_f64();
    let stats = phone.wait_line("audio: stopped after", T);
    caller.quit_and_recording();
    eprintln!("{stats}");
    eprintln!(
        "phone CPU: idle {:.2}% of a core (5 s), during a {seconds} s call {:.2}% of a core",
        idle as f64 / 5.0,
        busy as f64 / wall
    );
    eprintln!("busiest threads over the first half of the call (CPU ticks of 10 ms): {threads:?}");
}

#[test]
#[ignore = "a measurement; run by hand"]
fn echo_attenuation() {
    let rounds: usize = env_number("MICROSIP_BENCH_ROUNDS", 3);
    let (mut attenuation, mut kept) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (off, voice_off) = audio::echo_and_voice(&ini(false));
        let (on, voice_on) = audio::echo_and_voice(&ini(true));
        eprintln!(
            "round {round}: echo EC=0 {off:.1} dBFS, EC=1 {on:.1} dBFS: {:.1} dB less; the \
             room's 440 Hz {voice_off:.3} / {voice_on:.3}",
            off - on
        );
        attenuation.push(off - on);
        kept.push(voice_on / voice_off);
    }
    eprintln!(
        "median over {rounds} rounds: EC=1 takes {:.1} dB off the echo (min {:.1}); the room's \
         voice is kept at {:.0}%",
        median(attenuation.clone()),
        attenuation.iter().copied().fold(f64::MAX, f64::min),
        median(kept) * 100.0
    );
}
