//! Linear issue renderer: no live link, image or HTML, no extra table cell, values shown as written.
//! The property lives in `secops_fuzz_checks::linear::issue`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::linear::issue(data));
