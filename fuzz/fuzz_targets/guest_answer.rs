//! What a compromised guest answers cannot make the host write an
//! unchecked head, open a path out of the root or send past a file.
#![no_main]

#[path = "../src/guest.rs"]
mod guest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| guest::guest_answer(data));
