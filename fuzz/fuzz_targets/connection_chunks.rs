//! A connection's events do not depend on how the bytes were cut up.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::connection_chunks(data));
