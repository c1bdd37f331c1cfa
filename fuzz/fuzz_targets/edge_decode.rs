//! API Gateway event decoding: never panics; a request or a well-formed 4xx refusal.
//! The property lives in `secops_fuzz_checks::edge::decode`, which CI replays over the corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| secops_fuzz_checks::edge::decode(data));
