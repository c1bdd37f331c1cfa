//! The properties the fuzz targets in `fuzz/` assert, one plain function per target. Each takes
//! the fuzzer's raw bytes, drives one parser or renderer of `secops-shared` with them and panics
//! when a property fails (a panic is what libFuzzer records as a crash). Kept out of the fuzz
//! crate so that `cargo test` replays every seed corpus file through every check on stable Rust,
//! without cargo-fuzz or a sanitizer build (see docs/decisions/027-fuzzing-in-ci.md).

pub mod confluence;
pub mod edge;
pub mod gitlab;
pub mod imports;
pub mod linear;
pub mod slack;
pub mod slack_cards;

/// A check: the fuzzer's bytes in, a panic when a property fails.
pub type Check = fn(&[u8]);

/// Every fuzz target by name (the name of its file in `fuzz/fuzz_targets/` and of its corpus
/// directory in `fuzz/corpus/`), with its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("slack_signature", slack::signature),
    ("slack_interaction", slack::interaction),
    ("gitlab_hook", gitlab::hook),
    ("grant_import", imports::grants),
    ("consumer_import", imports::consumers),
    ("linear_issue", linear::issue),
    ("review_card", slack_cards::review_card),
    ("rotation_nudge", slack_cards::rotation_nudge),
    ("confluence_row", confluence::row),
    ("edge_decode", edge::decode),
];

/// Longest input a check reads. libFuzzer's default `-max_len` is 4,096; the seed files are a
/// few KiB. Past this the renderers' cost, not their correctness, is what a run would measure.
pub const MAX_INPUT: usize = 64 * 1024;

/// The input as text (invalid UTF-8 replaced), bounded by [`MAX_INPUT`].
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]).into_owned()
}

/// `n` attacker-chosen strings from one input: its lines, repeated in turn when there are fewer
/// than `n`, so a one-line input puts the same hostile text in every field.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let text = text(data);
    let lines: Vec<&str> = text.split('\n').collect();
    (0..n).map(|i| lines[i % lines.len()].to_owned()).collect()
}

/// Like [`fields`], but when the input is JSON (a fixture event) its string values are the
/// fields, in document order, so a seed's real values land in the renderer.
pub fn values(data: &[u8], n: usize) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        walk(&value, &mut found);
    }
    if found.is_empty() {
        return fields(data, n);
    }
    (0..n).map(|i| found[i % found.len()].clone()).collect()
}
