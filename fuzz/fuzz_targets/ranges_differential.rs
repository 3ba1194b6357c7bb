//! The range rules agree with a byte-by-byte reference model of RFC 9110
//! §14.1, and the `Range` parser with a reference parser of its grammar.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::ranges_differential(data));
