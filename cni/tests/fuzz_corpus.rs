//! The committed seed corpus of the CNI result fuzz target
//! (`fuzz/corpus/cni_result`), replayed through the check the target runs,
//! so CI exercises it without cargo-fuzz (docs/fuzzing.md).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::PathBuf;

#[test]
fn cni_result_seeds_give_well_ordered_pod_ips_or_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/cni_result");
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    for seed in seeds {
        eprintln!("seed {}", seed.display());
        cradle_cni::fuzzing::check_plugin_output(&std::fs::read(&seed).unwrap());
    }
}
