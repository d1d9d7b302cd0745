//! A client's WebSocket messages to an exec, attach or port-forward
//! session (channel bytes, base64 text, resize objects).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    cradle_streaming::fuzzing::check_websocket(input);
});
