//! The CRI log writer given any output in any chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    cradle_shim::fuzzing::check_cri_log(input);
});
