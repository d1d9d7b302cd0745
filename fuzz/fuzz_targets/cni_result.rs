//! A CNI plugin's stdout: an ADD result (the pod's addresses) or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|stdout: &[u8]| {
    cradle_cni::fuzzing::check_plugin_output(stdout);
});
