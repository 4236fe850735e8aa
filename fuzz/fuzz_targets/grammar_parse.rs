//! MicroSIP's command line, and the dial pipeline on what it dials (checks in `fuzz/src/lib.rs`).
//!
//! Run: `scripts/fuzz.sh --minutes 5 grammar_parse`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microsip_fuzz::grammar_parse(data));
