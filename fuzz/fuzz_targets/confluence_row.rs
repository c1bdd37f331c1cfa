//! Confluence audit row writer: the page stays well-formed XML with exactly one row per MR.
//! The property lives in `secops_fuzz_checks::confluence::row`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::confluence::row(data));
