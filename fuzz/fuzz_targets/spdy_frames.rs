//! A client's bytes on an upgraded SPDY/3.1 connection: frames and the
//! connection's zlib header blocks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    cradle_streaming::fuzzing::check_spdy(input);
});
