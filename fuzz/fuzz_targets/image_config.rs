//! An image config blob (OCI or Docker schema 2).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    cradle_snapshotter::fuzzing::check_config(bytes);
});
