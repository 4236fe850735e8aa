//! Audio numbers, not pass/fail checks of behaviour (run them by hand, they are `#[ignore]`d):
//!
//! ```text
//! cargo test --test audio_bench -- --ignored --nocapture --test-threads=1
//! MICROSIP_BENCH_SECONDS=600 cargo test --test audio_bench long_call -- --ignored --nocapture
//! ```
//!
//! - `loop_latency`: a click's round trip caller → phone's speaker → (the harness's loopback
//!   sound card) → phone's microphone → caller, minus the same round trip through a pjsua
//!   that loops the call's audio back inside its bridge: what our device path adds.
//! - `long_call`: CPU of the phone per call with audio, and glitches (underruns, overruns)
//!   over a long call, through PulseAudio null sinks (real-time, like a desktop).

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ini() -> String {
    let sip = support::free_udp_port();
    let rtp = support::free_udp_port_block(8);
    format!(
        "[Settings]\naccountId=0\nsourcePort={sip}\nrtpPortMin={rtp}\nrtpPortMax={}\n\
         autoAnswer=all\nautoAnswerDelay=0\naudioCodecs=PCMA/8000/1\nlocalDTMF=0\n",
        rtp + 7
    )
}

#[test]
#[ignore = "a measurement; run by hand"]
fn loop_latency() {
    let dir = TempDir::new("bench-latency");
    let play = clicks(dir.path(), 8);

    let baseline = {
        let lp = PjsuaLoop::start();
        let mut caller = PjsuaCaller::call(&lp.uri(), &play, 8);
        caller.wait_log("DISCONNECTED", T);
        let (rate, rec) = caller.quit_and_recording();
        round_trips(rate, &rec)
    };

    let lb = PacedLoopback::start(&dir.path().join("spk"), &dir.path().join("mic"), 8000);
    let phone = Phone::start_with_env(
        &ini(),
        &[],
        &[
            ("ALSA_CONFIG_PATH", audio::asoundrc().to_str().unwrap()),
            ("AUDIO_OUT", lb.speaker_path().to_str().unwrap()),
            ("AUDIO_IN", lb.mic_path().to_str().unwrap()),
        ],
    );
    let line = phone.wait_line("started: SIP on udp ", T);
    let addr = line.rsplit(' ').next().unwrap().trim().to_string();
    let mut caller = PjsuaCaller::call(&format!("sip:intercom@{addr}"), &play, 8);
    phone.wait_line(": DISCONNECTED", T);
    let stats = phone.wait_line("audio: stopped after", T);
    let (rate, rec) = caller.quit_and_recording();
    let ours = round_trips(rate, &rec);

    let (b, o) = (median(baseline.clone()), median(ours.clone()));
    eprintln!("round trips through pjsua's own loop (ms): {baseline:.0?}");
    eprintln!("round trips through the phone and its sound card (ms): {ours:.0?}");
    eprintln!("{stats}");
    eprintln!(
        "median: {b:.0} ms baseline, {o:.0} ms through the phone: the device path adds {:.0} ms \
         (both ways, including ~25-35 ms of the harness's loopback)",
        o - b
    );
    assert!(ours.len() >= 5, "clicks came back: {ours:?}");
}

#[test]
#[ignore = "a measurement; run by hand"]
fn long_call() {
    let seconds: u32 = std::env::var("MICROSIP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
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
    let phone = Phone::start_with_env(&ini(), &[], &env);
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
