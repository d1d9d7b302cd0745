//! The committed seed corpora of the snapshotter's fuzz targets
//! (`fuzz/corpus/{unpack_layer,image_manifest,image_config}`), replayed
//! through the same checks the targets run, so CI exercises them without
//! cargo-fuzz (docs/fuzzing.md).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::PathBuf;

use cradle_snapshotter::fuzzing;

/// Every seed of `target`, by file name; a target without seeds fails.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

#[test]
fn image_manifest_seeds_parse_or_are_refused_without_panic() {
    for (name, bytes) in seeds("image_manifest") {
        eprintln!("seed {name}");
        fuzzing::check_manifest(&bytes);
    }
}

#[test]
fn image_config_seeds_parse_or_are_refused_without_panic() {
    for (name, bytes) in seeds("image_config") {
        eprintln!("seed {name}");
        fuzzing::check_config(&bytes);
    }
}

/// Without root some entries (devices, chown) are refused; what the check
/// asserts, that nothing lands outside the layer root, holds either way.
#[test]
fn unpack_layer_seeds_leave_nothing_outside_the_layer_root() {
    let dir = tempfile::tempdir().unwrap();
    for (name, blob) in seeds("unpack_layer") {
        eprintln!("seed {name}");
        fuzzing::check_unpack(&blob, &dir.path().join("sandbox"));
    }
}
