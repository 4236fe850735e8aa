//! Streaming linear-interpolation resamplers, used only when a device cannot open at the
//! bridge's clock rate. They keep their state between callbacks and never allocate.
#![forbid(unsafe_code)]

/// Bridge rate → device rate (for output callbacks): pulls bridge samples as needed.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Bridge samples per device frame.
    step: f64,
    pos: f64,
    prev: f32,
    next: f32,
}

impl Upstream {
    pub fn new(bridge_rate: u32, device_rate: u32) -> Self {
        Upstream {
            step: f64::from(bridge_rate) / f64::from(device_rate.max(1)),
            pos: 1.0,
            prev: 0.0,
            next: 0.0,
        }
    }

    /// The next device-rate sample; `pull` gives the next bridge sample.
    pub fn next(&mut self, mut pull: impl FnMut() -> i16) -> i16 {
        while self.pos >= 1.0 {
            self.prev = self.next;
            self.next = f32::from(pull());
            self.pos -= 1.0;
        }
        let v = self.prev + (self.next - self.prev) * self.pos as f32;
        self.pos += self.step;
        v.round().clamp(-32768.0, 32767.0) as i16
    }

    /// How many bridge samples `frames` device frames consume (rounded up).
    pub fn bridge_samples(&self, frames: usize) -> usize {
        (frames as f64 * self.step).ceil() as usize
    }
}

/// Device rate → bridge rate (for input callbacks): emits bridge samples as they fall due.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// Device samples per bridge sample.
    step: f64,
    pos: f64,
    prev: f32,
}

impl Downstream {
    pub fn new(device_rate: u32, bridge_rate: u32) -> Self {
        Downstream {
            step: f64::from(device_rate) / f64::from(bridge_rate.max(1)),
            pos: 1.0,
            prev: 0.0,
        }
    }

    /// Feeds one device sample; `emit` receives each bridge sample that falls due.
    pub fn push(&mut self, x: i16, mut emit: impl FnMut(i16)) {
        let x = f32::from(x);
        while self.pos <= 1.0 {
            let v = self.prev + (x - self.prev) * self.pos as f32;
            emit(v.round().clamp(-32768.0, 32767.0) as i16);
            self.pos += self.step;
        }
        self.pos -= 1.0;
        self.prev = x;
    }
}

/// A whole buffer from `from` Hz to `to` Hz: low-passed first when going down (a windowed
/// sinc, so that speech above the new Nyquist frequency does not fold back), then linearly
/// interpolated.
pub fn convert(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || samples.is_empty() || from == 0 || to == 0 {
        return samples.to_vec();
    }
    let filtered: Vec<i16> = if to < from {
        low_pass(samples, 0.45 * f64::from(to) / f64::from(from))
    } else {
        samples.to_vec()
    };
    let out_len = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let mut up = Upstream::new(from, to);
    let mut source = filtered.into_iter();
    (0..out_len)
        .map(|_| up.next(|| source.next().unwrap_or(0)))
        .collect()
}

/// A 63-tap windowed-sinc low-pass at `cutoff` (a fraction of the sample rate).
fn low_pass(x: &[i16], cutoff: f64) -> Vec<i16> {
    const TAPS: usize = 63;
    let mid = (TAPS / 2) as f64;
    let mut h: Vec<f64> = (0..TAPS)
        .map(|i| {
            let n = i as f64 - mid;
            let sinc = if n == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * n).sin() / (std::f64::consts::PI * n)
            };
            let window =
                0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (TAPS - 1) as f64).cos();
            sinc * window
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    (0..x.len())
        .map(|i| {
            let acc: f64 = h
                .iter()
                .enumerate()
                .filter_map(|(k, c)| {
                    let j = i as isize + k as isize - mid as isize;
                    x.get(usize::try_from(j).ok()?).map(|&s| c * f64::from(s))
                })
                .sum();
            acc.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    /// Amplitude of `hz` in `x` (Goertzel).
    fn level(x: &[i16], rate: u32, hz: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2).sqrt() * 2.0 / x.len() as f64
    }

    #[test]
    fn upsampling_keeps_rate_pitch_and_level() {
        let src = tone(8000, 1000.0, 8000);
        let mut it = src.iter().copied();
        let mut up = Upstream::new(8000, 48000);
        let out: Vec<i16> = (0..47000)
            .map(|_| up.next(|| it.next().unwrap_or(0)))
            .collect();
        let l = level(&out[1000..], 48000, 1000.0);
        assert!((l - 10000.0).abs() < 600.0, "level {l}");
        assert!(level(&out[1000..], 48000, 1500.0) < 300.0);
    }

    #[test]
    fn downsampling_keeps_pitch_and_count() {
        let src = tone(48000, 440.0, 48000);
        let mut down = Downstream::new(48000, 16000);
        let mut out = Vec::new();
        for &x in &src {
            down.push(x, |v| out.push(v));
        }
        assert!((out.len() as i64 - 16000).abs() <= 1, "{}", out.len());
        let l = level(&out[100..], 16000, 440.0);
        assert!((l - 10000.0).abs() < 300.0, "level {l}");
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_length_and_high_sounds_do_not_fold_back() {
        let x = tone(22050, 1000.0, 22050);
        let y = convert(&x, 22050, 8000);
        assert_eq!(y.len(), 8000);
        assert!(
            level(&y, 8000, 1000.0) > 9000.0,
            "{}",
            level(&y, 8000, 1000.0)
        );
        // 6 kHz would fold to 2 kHz at 8 kHz without the low-pass.
        let hiss = convert(&tone(22050, 6000.0, 22050), 22050, 8000);
        assert!(
            level(&hiss, 8000, 2000.0) < 500.0,
            "{}",
            level(&hiss, 8000, 2000.0)
        );
        assert_eq!(convert(&x, 22050, 22050), x);
        assert_eq!(convert(&tone(8000, 440.0, 800), 8000, 16000).len(), 1600);
    }
}
