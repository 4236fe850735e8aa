//! How long the speaker's echo takes to come back through the microphone, measured while a
//! call runs, so that the echo canceller's 20 ms tail sits where the echo is.
//!
//! The way from our speaker ring to our microphone ring goes through the sound devices'
//! buffers, the air (or a loopback), and both rings, whose fill settles differently on each
//! run: no formula knows it to within the tail. So the port copies what it plays and what it
//! captures (before cancelling) into two lock-free rings, and this thread cross-correlates
//! them once a second (on a 2 kHz envelope, lags up to 400 ms) and publishes the delay it
//! finds, when the match is clear. The port then moves its reference delay line to it.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest echo delay looked for.
pub const MAX_DELAY_MS: usize = 400;
/// Correlation window.
const WINDOW_MS: usize = 1000;
/// The rate the correlation runs at.
const ANALYSIS_RATE: usize = 2000;
/// The normalised correlation a delay needs before it is believed.
const MIN_MATCH: f64 = 0.4;

/// The port's side: copies of both streams, and the delay the estimator found.
pub struct EchoTap {
    played: rtrb::Producer<i16>,
    captured: rtrb::Producer<i16>,
    /// The echo's delay in samples at the bridge rate; 0 until one is measured.
    pub found: Arc<AtomicUsize>,
}

impl EchoTap {
    /// Copies a played frame (dropped when the estimator lags: it only needs a sample).
    pub fn played(&mut self, frame: &[i16]) {
        if let Ok(chunk) = self.played.write_chunk_uninit(frame.len()) {
            chunk.fill_from_iter(frame.iter().copied());
        }
    }

    /// Copies a captured frame.
    pub fn captured(&mut self, frame: &[i16]) {
        if let Ok(chunk) = self.captured.write_chunk_uninit(frame.len()) {
            chunk.fill_from_iter(frame.iter().copied());
        }
    }
}

/// The estimator thread; dropping this stops it.
pub struct Estimator {
    stop: Option<crossbeam_channel::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Estimator {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Starts an estimator for a bridge at `rate` Hz.
pub fn start(rate: u32) -> std::io::Result<(EchoTap, Estimator)> {
    let rate = rate as usize;
    let cap = rate * 2;
    let (played_tx, mut played_rx) = rtrb::RingBuffer::<i16>::new(cap);
    let (captured_tx, mut captured_rx) = rtrb::RingBuffer::<i16>::new(cap);
    let found = Arc::new(AtomicUsize::new(0));
    let publish = found.clone();
    let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
    let handle = std::thread::Builder::new()
        .name("echo-delay".into())
        .spawn(move || {
            let step = (rate / ANALYSIS_RATE).max(1);
            let keep = (WINDOW_MS + MAX_DELAY_MS) * ANALYSIS_RATE / 1000;
            let mut env = Envelopes::new(step, keep);
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                env.take(&mut played_rx, &mut captured_rx);
                if env.ready() && env.fresh >= ANALYSIS_RATE {
                    env.fresh = 0;
                    if let Some(lag) = env.best_lag(MAX_DELAY_MS * ANALYSIS_RATE / 1000) {
                        publish.store(lag * step, Ordering::Relaxed);
                    }
                }
            }
        })?;
    Ok((
        EchoTap {
            played: played_tx,
            captured: captured_tx,
            found,
        },
        Estimator {
            stop: Some(stop),
            handle: Some(handle),
        },
    ))
}

/// Both streams, decimated (mean of `step` samples), the last `keep` values of each.
struct Envelopes {
    step: usize,
    keep: usize,
    played: std::collections::VecDeque<f64>,
    captured: std::collections::VecDeque<f64>,
    acc: [(f64, usize); 2],
    fresh: usize,
}

impl Envelopes {
    fn new(step: usize, keep: usize) -> Envelopes {
        Envelopes {
            step,
            keep,
            played: Default::default(),
            captured: Default::default(),
            acc: [(0.0, 0); 2],
            fresh: 0,
        }
    }

    fn take(&mut self, played: &mut rtrb::Consumer<i16>, captured: &mut rtrb::Consumer<i16>) {
        // The two streams advance together (one frame each per tick); take the same amount.
        let n = played.slots().min(captured.slots());
        for (i, ring) in [played, captured].into_iter().enumerate() {
            let Ok(chunk) = ring.read_chunk(n) else {
                continue;
            };
            let (a, b) = chunk.as_slices();
            for &s in a.iter().chain(b) {
                let (sum, count) = &mut self.acc[i];
                *sum += f64::from(s);
                *count += 1;
                if *count == self.step {
                    let v = *sum / self.step as f64;
                    let q = if i == 0 {
                        &mut self.played
                    } else {
                        &mut self.captured
                    };
                    q.push_back(v);
                    if q.len() > self.keep {
                        q.pop_front();
                    }
                    if i == 1 {
                        self.fresh += 1;
                    }
                    *sum = 0.0;
                    *count = 0;
                }
            }
            chunk.commit_all();
        }
    }

    fn ready(&self) -> bool {
        self.played.len() == self.keep && self.captured.len() == self.keep
    }

    /// The lag (in decimated samples) at which the capture best matches the playback, if the
    /// match is clear.
    fn best_lag(&self, max_lag: usize) -> Option<usize> {
        let played: Vec<f64> = self.played.iter().copied().collect();
        let captured: Vec<f64> = self.captured.iter().copied().collect();
        best_lag(&played, &captured, max_lag)
    }
}

/// The lag `d` in `0..=max_lag` maximising the normalised correlation of `captured[t]` with
/// `played[t - d]` over the last `captured.len() - max_lag` values, if it is above
/// [`MIN_MATCH`].
pub fn best_lag(played: &[f64], captured: &[f64], max_lag: usize) -> Option<usize> {
    let n = captured.len().min(played.len());
    if n <= max_lag + 1 {
        return None;
    }
    let window = n - max_lag;
    let cap = &captured[max_lag..n];
    let cap_energy: f64 = cap.iter().map(|v| v * v).sum();
    if cap_energy <= 0.0 {
        return None;
    }
    let mut best = (0.0, 0);
    for d in 0..=max_lag {
        let p = &played[max_lag - d..max_lag - d + window];
        let energy: f64 = p.iter().map(|v| v * v).sum();
        if energy <= 0.0 {
            continue;
        }
        let dot: f64 = p.iter().zip(cap).map(|(a, b)| a * b).sum();
        let c = dot / (energy * cap_energy).sqrt();
        if c > best.0 {
            best = (c, d);
        }
    }
    (best.0 >= MIN_MATCH).then_some(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn finds_the_delay_of_an_echo() {
        let played = noise(3000, 7);
        // The echo: 146 samples later, at a third of the level, with some noise of its own.
        let own = noise(3000, 99);
        let captured: Vec<f64> = (0..3000)
            .map(|t| {
                let echo = if t >= 146 { played[t - 146] / 3.0 } else { 0.0 };
                echo + own[t] * 0.05
            })
            .collect();
        assert_eq!(best_lag(&played, &captured, 800), Some(146));
    }

    #[test]
    fn no_echo_no_delay() {
        let played = noise(3000, 7);
        let captured = noise(3000, 12345);
        assert_eq!(best_lag(&played, &captured, 800), None);
        assert_eq!(best_lag(&played, &vec![0.0; 3000], 800), None);
    }
}
