//! Our command-line options, --alert's arguments (checks in `fuzz/src/lib.rs`).
//!
//! Run: `scripts/fuzz.sh --minutes 5 cli_args`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microsip_fuzz::cli_args(data));
