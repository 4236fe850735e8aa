//! The JSON we read: alerting webhooks, msip:alert:, the status object (checks in `fuzz/src/lib.rs`).
//!
//! Run: `scripts/fuzz.sh --minutes 5 json_inputs`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microsip_fuzz::json_inputs(data));
