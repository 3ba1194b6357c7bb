//! Any bytes are a request head, a valid prefix of one, or a protocol
//! error, and `respond` turns a head into a well-formed response.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::parse_request(data));
