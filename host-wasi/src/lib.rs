//! # portico-wasi
//!
//! portico with its HTTP logic sandboxed: `portico-core` runs as a WASI
//! module (the guest, `guest/`) under wasmtime, and this host only moves
//! bytes and streams the files the guest names. A bug in the parsing or
//! serving code can read nothing but the web root, write nothing, use at
//! most [`MEMORY_LIMIT`] bytes and about a second per step, and cannot take
//! the server down: its instance is dropped and the request gets a 500
//! (503 on time).
//!
//! It reuses the native host's server loop through [`portico::Handler`]:
//! [`WasiHandler`] is that handler.

mod handler;
mod readonly;
mod sandbox;

pub use handler::{WasiConn, WasiHandler, WasiWorker};
pub use sandbox::MEMORY_LIMIT;

/// The guest module built by build.rs from `guest/`.
pub static GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/portico_guest.wasm"));
