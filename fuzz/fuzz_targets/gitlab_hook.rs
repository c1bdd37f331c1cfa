//! GitLab merge request hook parser: never panics; errors one bounded line.
//! The property lives in `secops_fuzz_checks::gitlab::hook`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::gitlab::hook(data));
