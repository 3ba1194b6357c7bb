//! A request built from parts is the one its bytes parse to, with the same answer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::request_from_parts(data));
