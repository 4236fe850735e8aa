//! The control socket's framing, one-shot and incremental (checks in `fuzz/src/lib.rs`).
//!
//! Run: `scripts/fuzz.sh --minutes 5 wire_decode`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microsip_fuzz::wire_decode(data));
