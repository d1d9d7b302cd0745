//! The committed seed corpora of the streaming fuzz targets
//! (`fuzz/corpus/{spdy_frames,websocket_channel}`), replayed through the
//! checks the targets run, so CI exercises them without cargo-fuzz
//! (docs/fuzzing.md).

// Test code only: lets clippy.toml's allow-unwrap/expect-in-tests cover the helpers too.
#![cfg(test)]

use std::path::PathBuf;

use cradle_streaming::fuzzing;

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
fn spdy_frame_seeds_decode_and_round_trip() {
    for (name, bytes) in seeds("spdy_frames") {
        eprintln!("seed {name}");
        fuzzing::check_spdy(&bytes);
    }
}

#[test]
fn websocket_channel_seeds_decode_and_round_trip() {
    for (name, bytes) in seeds("websocket_channel") {
        eprintln!("seed {name}");
        fuzzing::check_websocket(&bytes);
    }
}
