//! MicroSIP.ini reading and byte-exact write-back (checks in `fuzz/src/lib.rs`).
//!
//! Run: `scripts/fuzz.sh --minutes 5 ini_parse`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microsip_fuzz::ini_parse(data));
