//! Every parser of `portico_core::fields` takes any bytes, and what it
//! returns keeps its promises.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::fields(data));
