//! Rotation importers (campaigns, consumers CSV): never panic; refusals say why.
//! The property lives in `secops_fuzz_checks::imports::consumers`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::imports::consumers(data));
