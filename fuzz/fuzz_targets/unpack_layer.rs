//! The layer unpacker (tar entries, whiteouts, links; plain, gzip or zstd)
//! must never create, change or remove anything outside the layer root.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A fixed path, so seeds can hold absolute symlinks aimed at the canary
/// (`/tmp/cradle-fuzz-unpack/outside/canary`). One fuzzing process at a time.
const SANDBOX: &str = "/tmp/cradle-fuzz-unpack";

fuzz_target!(|blob: &[u8]| {
    cradle_snapshotter::fuzzing::check_unpack(blob, std::path::Path::new(SANDBOX));
});
