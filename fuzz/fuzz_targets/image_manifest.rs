//! A registry's answer for a reference: an image manifest, or an index
//! (Docker manifest list) from which this node's manifest is chosen.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    cradle_snapshotter::fuzzing::check_manifest(bytes);
});
