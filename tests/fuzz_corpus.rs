//! Replays every committed fuzz input through the same target functions the
//! fuzzers run (`ascend_device_plugin::fuzzing`), on stable Rust: the seed
//! corpora in `fuzz/corpus/<target>/` and the inputs that once broke a
//! target, in `fuzz/regressions/<target>/`, so a fixed finding stays fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ascend_device_plugin::fuzzing;

#[path = "../fuzz/reference.rs"]
mod reference;

const DIFFERENTIAL: [&str; 2] = ["hpack_diff", "huffman_diff"];

fn all_targets() -> BTreeSet<&'static str> {
    fuzzing::TARGETS
        .iter()
        .map(|(name, _)| *name)
        .chain(DIFFERENTIAL)
        .collect()
}

fn run(target: &str, data: &[u8]) {
    match target {
        "hpack_diff" => fuzzing::hpack_differential(data, reference::Loona::new),
        "huffman_diff" => fuzzing::huffman_differential(data, reference::Loona::new),
        _ => {
            let (_, entry) = fuzzing::TARGETS
                .iter()
                .find(|(name, _)| *name == target)
                .unwrap_or_else(|| panic!("no fuzz target {target:?}"));
            entry(data);
        }
    }
}

fn fuzz_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
}

/// (target, file) for every file under `fuzz/<kind>/<target>/`; a folder
/// that names no target is an error, not something to skip.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let known = all_targets();
    let mut found = Vec::new();
    let Ok(dirs) = std::fs::read_dir(fuzz_dir(kind)) else {
        return found;
    };
    for dir in dirs {
        let dir = dir.unwrap().path();
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            known.contains(target.as_str()),
            "{} names no fuzz target",
            dir.display()
        );
        for file in std::fs::read_dir(&dir).unwrap() {
            found.push((target.clone(), file.unwrap().path()));
        }
    }
    found.sort();
    found
}

fn replay(kind: &str) -> usize {
    let inputs = inputs(kind);
    for (target, file) in &inputs {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| run(target, &data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
    inputs.len()
}

#[test]
fn every_target_has_a_seed_corpus_and_every_seed_passes() {
    let seeded: BTreeSet<String> = inputs("corpus").into_iter().map(|(t, _)| t).collect();
    let missing: Vec<_> = all_targets()
        .into_iter()
        .filter(|t| !seeded.contains(*t))
        .collect();
    assert!(missing.is_empty(), "targets without seeds: {missing:?}");
    let count = replay("corpus");
    println!("replayed {count} seed inputs");
}

#[test]
fn every_input_that_once_broke_a_target_passes() {
    let count = replay("regressions");
    println!("replayed {count} regression inputs");
}

#[test]
fn every_fuzz_target_binary_is_a_known_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    let binaries: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|f| {
            f.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let known: BTreeSet<String> = all_targets().into_iter().map(str::to_owned).collect();
    assert_eq!(binaries, known);
}
