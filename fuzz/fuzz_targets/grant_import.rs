//! Grant importer (GAM, CSV, JSON): never panics; whole file or nothing, each grant once.
//! The property lives in `secops_fuzz_checks::imports::grants`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::imports::grants(data));
