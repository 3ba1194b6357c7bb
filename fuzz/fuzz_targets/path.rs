//! Any request path sanitises into a normal relative path, or an error.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::path(data));
