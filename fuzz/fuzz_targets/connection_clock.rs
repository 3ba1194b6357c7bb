//! A connection's deadlines hold whatever the bytes and the timing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::connection_clock(data));
