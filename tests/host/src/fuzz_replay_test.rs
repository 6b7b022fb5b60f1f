// SPDX-License-Identifier: GPL-2.0

//! Replays the fuzz corpus on stable Rust: every input kept in `tests/fuzz/corpus/<target>/`
//! (seeds cut from real images and the inputs the fuzzer found new coverage with, minimised)
//! and in `tests/fuzz/crashes/<target>/` (every input that once made a harness panic, kept
//! out of reach of the minimiser) runs through the same harness the fuzz target calls.
//! `make check` runs this; `make fuzz` (nightly, cargo-fuzz) searches for new inputs.

use crate::fuzz_harness::TARGETS;
use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `tests/fuzz/<kind>/<name>/` (none if the directory does not exist).
fn inputs(kind: &str, name: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(name);
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(d) => d.map(|e| e.expect("corpus entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|p| p.is_file());
    files.sort();
    files
}

#[test]
fn every_corpus_input_runs_clean() {
    let mut failed = Vec::new();
    for (name, harness) in TARGETS {
        let files = inputs("corpus", name);
        assert!(!files.is_empty(), "the corpus of target {name} is empty");
        for f in files.into_iter().chain(inputs("crashes", name)) {
            let data = fs::read(&f).expect("corpus file");
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                failed.push(f.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}

#[test]
fn crash_inputs_belong_to_targets() {
    let dir = fuzz_dir().join("crashes");
    for e in fs::read_dir(&dir).expect("tests/fuzz/crashes") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            TARGETS.iter().any(|(n, _)| *n == name),
            "tests/fuzz/crashes/{name} is no target"
        );
        assert!(!inputs("crashes", &name).is_empty());
    }
}

#[test]
fn every_target_is_a_cargo_fuzz_target() {
    let toml = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("tests/fuzz/Cargo.toml");
    let mut files: Vec<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("tests/fuzz/fuzz_targets")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut names: Vec<String> = TARGETS.iter().map(|(n, _)| format!("{n}.rs")).collect();
    names.sort();
    assert_eq!(files, names, "fuzz_targets/*.rs and TARGETS differ");
    for (name, _) in TARGETS {
        assert!(
            toml.contains(&format!("name = \"{name}\"")),
            "tests/fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let src = fs::read_to_string(fuzz_dir().join("fuzz_targets").join(format!("{name}.rs")))
            .expect("target source");
        assert!(
            src.contains(&format!("harness::{name}(")),
            "fuzz_targets/{name}.rs does not call harness::{name}"
        );
    }
}

#[test]
fn harnesses_take_short_and_degenerate_inputs() {
    for (_, harness) in TARGETS {
        for len in 0..96usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            harness(&data);
            harness(&vec![0u8; len]);
            harness(&vec![0xffu8; len]);
        }
    }
}
