//! Any bytes as a request body: `Request::from_slice` must never panic, and a request it
//! accepts must come back equal from its own serialization, since the client serializes
//! what the handler parses.
//!
//! `cargo +nightly fuzz run request`, or scripts/fuzz.sh.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sql_core::wire::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = Request::from_slice(data) else {
        return;
    };
    let body = match serde_json::to_vec(&request) {
        Ok(body) => body,
        Err(err) => panic!("a parsed request does not serialize: {err}: {request:?}"),
    };
    match Request::from_slice(&body) {
        Ok(again) => assert_eq!(
            again,
            request,
            "the request changed through {}",
            String::from_utf8_lossy(&body)
        ),
        Err(err) => panic!(
            "the serialized request is refused ({}: {err}): {}",
            err.field(),
            String::from_utf8_lossy(&body)
        ),
    }
});
