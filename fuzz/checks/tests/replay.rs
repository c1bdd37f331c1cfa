//! Every seed corpus file of `fuzz/corpus/` through every fuzz check, on stable Rust, as part
//! of `cargo test --workspace`: the fuzz targets' properties hold on the real fixtures in CI
//! without cargo-fuzz (docs/decisions/027-fuzzing-in-ci.md). Every check gets every target's
//! seeds, since a GitLab body is as good a hostile card field as any. Reproducers of defects
//! found by fuzzing live in `fuzz/regressions/<target>/` and are replayed by the ignored test at
//! the end until the defect is fixed.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use secops_fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Files under `dir/<target>/`, sorted, by target.
fn files(dir: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(fuzz_dir().join(dir).join(target)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

thread_local! {
    /// Set while a check runs under [`failure`], whose caller reports the panic itself.
    static IN_CHECK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `check` on `data`; the panic message when a property failed. The default panic hook stays
/// quiet for these panics only (the test reports each with its input), not for the tests' own.
fn failure(check: fn(&[u8]), data: &[u8]) -> Option<String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CHECK.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
    IN_CHECK.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| check(data)));
    IN_CHECK.with(|c| c.set(false));
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".to_owned())
    })
}

#[test]
fn every_target_has_a_seed_corpus_and_a_fuzz_target() {
    for (target, _) in TARGETS {
        assert!(
            !files("corpus", target).is_empty(),
            "fuzz/corpus/{target}/ has seeds"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs exists"
        );
    }
}

/// The open defects fuzzing found (`fuzz/regressions/open-defects.tsv`: a target, a tab, and
/// a piece of the failure message): a failure they explain is reported, not failed on, so the
/// suite stays green while the defect is open and every other property is still enforced.
fn open_defects() -> Vec<(String, String)> {
    let list =
        fs::read_to_string(fuzz_dir().join("regressions/open-defects.tsv")).unwrap_or_default();
    list.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, m)| (t.trim().to_owned(), m.trim().to_owned()))
        .collect()
}

/// Every check on every input; panics listing the failures no open defect explains.
fn replay(inputs: &[(String, Vec<u8>)]) {
    let open = open_defects();
    let mut failures = Vec::new();
    let mut known = 0;
    for (name, data) in inputs {
        for (target, check) in TARGETS {
            let Some(message) = failure(*check, data) else {
                continue;
            };
            if open
                .iter()
                .any(|(t, m)| t == target && message.contains(m.as_str()))
            {
                known += 1;
                continue;
            }
            let short: String = message.chars().take(1_200).collect();
            failures.push(format!("{target} on {name}: {short}"));
        }
    }
    let total = failures.len();
    failures.sort();
    let mut shown: Vec<String> = Vec::new();
    for (target, _) in TARGETS {
        let prefix = format!("{target} on ");
        let mine: Vec<&String> = failures.iter().filter(|f| f.starts_with(&prefix)).collect();
        shown.extend(mine.iter().take(3).map(|f| f.to_string()));
        if mine.len() > 3 {
            shown.push(format!(
                "… and {} more failure(s) of {target}",
                mine.len() - 3
            ));
        }
    }
    if known > 0 {
        eprintln!("{known} failure(s) explained by fuzz/regressions/open-defects.tsv");
    }
    assert!(total == 0, "{total} failure(s):\n{}", shown.join("\n\n"));
}

#[test]
fn every_seed_passes_every_check() {
    let inputs: Vec<(String, Vec<u8>)> = TARGETS
        .iter()
        .flat_map(|(t, _)| files("corpus", t))
        .map(|seed| {
            (
                seed.display().to_string(),
                fs::read(&seed).expect("a readable seed"),
            )
        })
        .collect();
    replay(&inputs);
}

/// Inputs no seed holds, generated the same way on every run: each line of every hostile seed
/// alone, repeated past Slack's and Linear's limits, and as every field at once; and
/// pseudo-random bytes and text (a fixed-seed xorshift), so CI explores a little beyond the
/// corpus without a fuzzer.
#[test]
fn generated_hostile_and_oversized_inputs_pass_every_check() {
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for (target, _) in TARGETS {
        for seed in files("corpus", target) {
            if seed.extension().is_some_and(|e| e == "txt") {
                let text = fs::read_to_string(&seed).expect("a text seed");
                lines.extend(text.lines().map(str::to_owned));
            }
        }
    }
    lines.sort();
    lines.dedup();
    for line in &lines {
        inputs.push((format!("line {line:?}"), line.clone().into_bytes()));
        let long = line.repeat(5_000 / line.len().max(1) + 1);
        inputs.push((format!("line {line:?} x{}", long.len()), long.into_bytes()));
    }
    let mut state: u64 = 0x5EC0_F022_2026_1203;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> = "ab|<>&@:/.-_[]()!`*#\\\n\t\"' é🔑\u{202E}\u{0}w"
        .chars()
        .collect();
    for i in 0..200 {
        let len = (next() % 600) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        inputs.push((format!("random bytes #{i}"), bytes));
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        inputs.push((format!("random text #{i}: {text:?}"), text.into_bytes()));
    }
    replay(&inputs);
}

/// The defects fuzzing found, as reproducers: each must pass its own target's check. While a
/// new defect is open, mark this test `#[ignore]` and list it in `open-defects.tsv`
/// (fuzz/regressions/README.md); every defect found so far is fixed.
#[test]
fn regressions_pass_their_checks() {
    let mut failures = Vec::new();
    for (target, check) in TARGETS {
        for file in files("regressions", target) {
            let data = fs::read(&file).expect("a readable reproducer");
            if let Some(message) = failure(*check, &data) {
                let short: String = message.chars().take(300).collect();
                failures.push(format!("{target} on {}: {short}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} open defect(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
