//! Rotation nudge: within Block Kit's limits, no mention or link from untrusted text.
//! The property lives in `secops_fuzz_checks::slack_cards::rotation_nudge`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::slack_cards::rotation_nudge(data));
