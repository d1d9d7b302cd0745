//! The committed seed corpus of the CRI log writer's fuzz target
//! (`fuzz/corpus/cri_log`), replayed through the check the target runs, so
//! CI exercises it without cargo-fuzz (docs/fuzzing.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test: its helpers fail the test that called them"
)]

use std::path::PathBuf;

#[test]
fn cri_log_seeds_become_well_formed_records() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/cri_log");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    for seed in seeds {
        eprintln!("seed {}", seed.display());
        cradle_shim::fuzzing::check_cri_log(&std::fs::read(&seed).unwrap());
    }
}
