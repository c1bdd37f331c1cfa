//! Slack request signature check: a signed body verifies; upper-case hex, another secret or a tampered body does not; never panics.
//! The property lives in `secops_fuzz_checks::slack::signature`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::slack::signature(data));
