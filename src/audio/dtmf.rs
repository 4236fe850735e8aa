//! In-band DTMF detection: the digits a caller plays as tones in the audio (PSTN gateways do
//! not always turn them into RFC 2833 events). Goertzel filters on the eight DTMF
//! frequencies over blocks of about 25 ms; a digit counts when one row and one column tone
//! stand out of everything else for two blocks in a row, and it is reported once, when it
//! starts.
#![forbid(unsafe_code)]

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// The quietest tone pair detected, as a fraction of full scale (about -40 dBFS each).
const MIN_AMPLITUDE: f64 = 0.01;
/// How much stronger the row and column tones are than the other bins of their group.
const DOMINANCE: f64 = 4.0;
/// The largest level difference between the row and the column tone (twist), as a ratio.
const MAX_TWIST: f64 = 4.0;
/// How much of the block's energy the two tones carry at least (speech spreads wider).
const PURITY: f64 = 0.6;

/// Finds DTMF digits in a stream of samples at one rate.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    rate: u32,
    block: Vec<f64>,
    block_len: usize,
    /// The digit the last block held, and how many blocks in a row.
    candidate: Option<(char, u32)>,
    /// The digit reported and still sounding.
    sounding: Option<char>,
    /// Blocks of the sounding digit, for its length.
    sounding_blocks: u32,
}

/// A digit that started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub digit: char,
}

impl DtmfDetector {
    /// A detector for audio at `rate` Hz (8 kHz and up).
    pub fn new(rate: u32) -> DtmfDetector {
        let block_len = (rate as usize / 40).max(100);
        DtmfDetector {
            rate,
            block: Vec::with_capacity(block_len),
            block_len,
            candidate: None,
            sounding: None,
            sounding_blocks: 0,
        }
    }

    /// How long one analysis block is, in milliseconds.
    pub fn block_ms(&self) -> u32 {
        (self.block_len as u64 * 1000 / u64::from(self.rate)) as u32
    }

    /// Feeds samples; returns the digits that started in them.
    pub fn feed(&mut self, samples: &[i16]) -> Vec<Detected> {
        let mut found = Vec::new();
        for &s in samples {
            self.block.push(f64::from(s) / 32768.0);
            if self.block.len() == self.block_len {
                if let Some(d) = self.analyse() {
                    found.push(d);
                }
                self.block.clear();
            }
        }
        found
    }

    fn analyse(&mut self) -> Option<Detected> {
        let digit = self.block_digit();
        self.candidate = match (digit, self.candidate) {
            (Some(d), Some((c, n))) if c == d => Some((d, n + 1)),
            (Some(d), _) => Some((d, 1)),
            (None, _) => None,
        };
        match (self.candidate, self.sounding) {
            (Some((d, n)), None) if n >= 2 => {
                self.sounding = Some(d);
                self.sounding_blocks = n;
                Some(Detected { digit: d })
            }
            (Some((d, _)), Some(s)) if d == s => {
                self.sounding_blocks += 1;
                None
            }
            (Some((d, n)), Some(_)) if n >= 2 => {
                self.sounding = Some(d);
                self.sounding_blocks = n;
                Some(Detected { digit: d })
            }
            (None, _) => {
                self.sounding = None;
                None
            }
            _ => None,
        }
    }

    /// The digit this block holds, if any.
    fn block_digit(&self) -> Option<char> {
        let x = &self.block;
        let energy: f64 = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let rows: Vec<f64> = ROWS.iter().map(|&f| self.amplitude(f)).collect();
        let cols: Vec<f64> = COLS.iter().map(|&f| self.amplitude(f)).collect();
        let (r, row) = strongest(&rows)?;
        let (c, col) = strongest(&cols)?;
        if row < MIN_AMPLITUDE || col < MIN_AMPLITUDE {
            return None;
        }
        let dominant = |group: &[f64], best: usize, level: f64| {
            group
                .iter()
                .enumerate()
                .all(|(i, &a)| i == best || a * DOMINANCE < level)
        };
        if !dominant(&rows, r, row) || !dominant(&cols, c, col) {
            return None;
        }
        if row > col * MAX_TWIST || col > row * MAX_TWIST {
            return None;
        }
        // Two sines of amplitude a and b carry (a² + b²) / 2 of the energy.
        let tones = (row * row + col * col) / 2.0;
        if tones < energy * PURITY {
            return None;
        }
        Some(KEYS[r][c])
    }

    /// The amplitude (fraction of full scale) of `hz` in the block, by Goertzel.
    fn amplitude(&self, hz: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * hz / f64::from(self.rate);
        let coeff = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &v in &self.block {
            let s = v + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        let power = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0);
        power.sqrt() * 2.0 / self.block.len() as f64
    }
}

fn strongest(levels: &[f64]) -> Option<(usize, f64)> {
    levels
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `digit` as tones of `amp` each for `ms`, at `rate`.
    fn tone(rate: u32, digit: char, amp: f64, ms: u32) -> Vec<i16> {
        let (r, c) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, row)| row.iter().position(|&k| k == digit).map(|c| (r, c)))
            .unwrap();
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let v = amp * (2.0 * std::f64::consts::PI * ROWS[r] * t).sin()
                    + amp * (2.0 * std::f64::consts::PI * COLS[c] * t).sin();
                (v * 32767.0) as i16
            })
            .collect()
    }

    fn silence(rate: u32, ms: u32) -> Vec<i16> {
        vec![0; (rate * ms / 1000) as usize]
    }

    fn digits(rate: u32, audio: &[i16]) -> String {
        let mut d = DtmfDetector::new(rate);
        audio
            .chunks(160)
            .flat_map(|c| d.feed(c))
            .map(|x| x.digit)
            .collect()
    }

    #[test]
    fn every_key_is_found_at_8_and_16_khz() {
        for rate in [8000, 16000, 48000] {
            let mut audio = Vec::new();
            for key in "123A456B789C*0#D".chars() {
                audio.extend(tone(rate, key, 0.2, 100));
                audio.extend(silence(rate, 60));
            }
            assert_eq!(digits(rate, &audio), "123A456B789C*0#D", "{rate} Hz");
        }
    }

    #[test]
    fn a_long_press_is_one_digit_and_a_repeat_is_two() {
        let rate = 8000;
        let mut audio = tone(rate, '1', 0.3, 600);
        assert_eq!(digits(rate, &audio), "1");
        audio.extend(silence(rate, 80));
        audio.extend(tone(rate, '1', 0.3, 120));
        assert_eq!(digits(rate, &audio), "11");
    }

    #[test]
    fn quiet_short_or_single_tones_and_noise_are_not_digits() {
        let rate = 8000;
        assert_eq!(digits(rate, &tone(rate, '5', 0.002, 200)), "", "too quiet");
        assert_eq!(digits(rate, &tone(rate, '5', 0.3, 30)), "", "too short");
        // One frequency alone (a 697 Hz hum).
        let hum: Vec<i16> = (0..4000)
            .map(|i| {
                (0.3 * 32767.0 * (2.0 * std::f64::consts::PI * 697.0 * i as f64 / 8000.0).sin())
                    as i16
            })
            .collect();
        assert_eq!(digits(rate, &hum), "");
        // White-ish noise.
        let mut x: u32 = 12345;
        let noise: Vec<i16> = (0..8000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 16) as i16) / 4
            })
            .collect();
        assert_eq!(digits(rate, &noise), "");
        // A digit under noise still counts.
        let mut noisy = tone(rate, '9', 0.3, 200);
        for (s, n) in noisy.iter_mut().zip(&noise) {
            *s = s.saturating_add(n / 8);
        }
        assert_eq!(digits(rate, &noisy), "9");
    }
}
