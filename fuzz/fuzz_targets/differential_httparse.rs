//! Where httparse and portico both parse a head, they parse the same head.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| portico_fuzz::differential_httparse(data));
