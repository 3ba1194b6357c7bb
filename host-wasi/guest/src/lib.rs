//! # portico-guest
//!
//! `portico-core` compiled to a `wasm32-wasip1` module: a pure step
//! function over a connection's buffered bytes. It keeps no state between
//! calls (the connection state travels with each call), so any instance
//! can serve any connection and a broken one can be thrown away.
//!
//! The web root is the WASI preopen `/`. Files are only *looked up* here
//! (`path_filestat_get`); bodies are named (path, offset, length) for the
//! host to stream, so they never pass through guest memory.
//!
//! The exported ABI is documented in `docs/ABI.md`; the layout constants
//! below are the source of truth.

// Exports need `#[unsafe(no_mangle)]`, and the ABI hands raw pointers
// across the boundary; every use is commented.
#![allow(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portico_core::{
    Body, Connection, Event, FileInfo, FileLookup, Limits, Lookup, Response, STATE_LEN, SafePath,
    error_response, respond,
};

/// Bumped on any incompatible change to the exports or the result layout.
pub const ABI_VERSION: u32 = 1;

/// What the host should do; `RESULT_ACTION`.
pub const ACTION_NEED_MORE: u32 = 0;
/// Drop `RESULT_CONSUMED` body bytes and step again.
pub const ACTION_DISCARD: u32 = 1;
/// Drop `RESULT_CONSUMED` bytes and send the response.
pub const ACTION_RESPOND: u32 = 2;
/// Close the connection without writing.
pub const ACTION_CLOSE: u32 = 3;

/// Body kinds; `RESULT_BODY_KIND`.
pub const BODY_EMPTY: u32 = 0;
/// The body bytes follow the head in the result block.
pub const BODY_BYTES: u32 = 1;
/// The body is a file: its path (UTF-8, relative to the root, `""` for the
/// root) follows the head; stream `file_len` bytes from `file_offset`.
pub const BODY_FILE: u32 = 2;

/// Byte offsets of the little-endian fields of a result block.
pub mod layout {
    /// u32: length of the whole block (pass it to `portico_free`).
    pub const TOTAL_LEN: usize = 0;
    /// u32: one of the `ACTION_*` values.
    pub const ACTION: usize = 4;
    /// u32: input bytes consumed (head length, or body bytes to discard).
    pub const CONSUMED: usize = 8;
    /// u32: the response status.
    pub const STATUS: usize = 12;
    /// u32: bit 0 set = keep the connection open after the response.
    pub const FLAGS: usize = 16;
    /// u32: one of the `BODY_*` values.
    pub const BODY_KIND: usize = 20;
    /// u32: length of the serialised response head.
    pub const HEAD_LEN: usize = 24;
    /// u32: length of the body bytes, or of the file path.
    pub const BODY_LEN: usize = 28;
    /// u64: where in the file the body starts.
    pub const FILE_OFFSET: usize = 32;
    /// u64: how many bytes of the file to send.
    pub const FILE_LEN: usize = 40;
    /// u64: the file's whole size when the guest looked it up. A host that
    /// finds another size when it opens the file must not send it: the
    /// head already promised a length.
    pub const FILE_SIZE: usize = 48;
    /// `STATE_LEN` bytes: the connection state to pass to the next call.
    pub const STATE: usize = 56;
    /// The head, then the body bytes or the file path.
    pub const DATA: usize = STATE + super::STATE_LEN;
}

/// WASI preview 1's `errno::loop` (ELOOP); std has no stable ErrorKind
/// for it.
const WASI_ERRNO_LOOP: i32 = 32;

/// The web root as this WASI instance sees it: the preopen `/`.
struct WasiRoot;

/// A file found by the guest, named for the host to open and stream.
#[derive(Debug)]
struct GuestFile {
    path: SafePath,
    size: u64,
}

impl FileLookup for WasiRoot {
    type Handle = GuestFile;

    fn lookup(&self, path: &SafePath) -> Lookup<GuestFile> {
        let full = format!("/{}", path.as_str());
        match std::fs::metadata(&full) {
            Ok(meta) if meta.is_dir() => Lookup::Directory,
            Ok(meta) if meta.is_file() => Lookup::File(FileInfo {
                handle: GuestFile { path: path.clone(), size: meta.len() },
                len: meta.len(),
                modified: meta.modified().ok(),
            }),
            Ok(_) => Lookup::NotFound,
            Err(error) => match error.kind() {
                // Too long a name cannot exist: a miss, not a 500.
                std::io::ErrorKind::NotFound
                | std::io::ErrorKind::NotADirectory
                | std::io::ErrorKind::InvalidFilename => Lookup::NotFound,
                std::io::ErrorKind::PermissionDenied => Lookup::Forbidden,
                // A symlink loop: nothing there to serve, as natively.
                _ if error.raw_os_error() == Some(WASI_ERRNO_LOOP) => Lookup::NotFound,
                _ => Lookup::Failed,
            },
        }
    }
}

/// One step, as plain Rust: the exports below only move bytes.
pub fn step(state: &[u8; STATE_LEN], input: &[u8], now: SystemTime) -> Vec<u8> {
    let Some(mut conn) = Connection::from_bytes(Limits::default(), state) else {
        return encode(ACTION_CLOSE, 0, None, &Connection::default());
    };
    match conn.poll(input) {
        Event::NeedMore => encode(ACTION_NEED_MORE, 0, None, &conn),
        Event::Discard(n) => encode(ACTION_DISCARD, n, None, &conn),
        Event::Request(request) => {
            let response = respond(&request, &WasiRoot, now);
            encode(ACTION_RESPOND, request.head_len(), Some(response), &conn)
        }
        Event::Reject(rejection) => {
            encode(ACTION_RESPOND, 0, Some(error_response(rejection, now)), &conn)
        }
        Event::Close => encode(ACTION_CLOSE, 0, None, &conn),
    }
}

fn encode(
    action: u32,
    consumed: usize,
    response: Option<Response<GuestFile>>,
    conn: &Connection,
) -> Vec<u8> {
    let mut out = vec![0u8; layout::DATA];
    let put32 = |out: &mut Vec<u8>, at: usize, v: u32| {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    put32(&mut out, layout::ACTION, action);
    put32(&mut out, layout::CONSUMED, u32::try_from(consumed).unwrap_or(u32::MAX));
    out[layout::STATE..layout::DATA].copy_from_slice(&conn.to_bytes());
    if let Some(response) = response {
        let (status, head, body, keep_alive) = response.into_parts();
        put32(&mut out, layout::STATUS, u32::from(status));
        put32(&mut out, layout::FLAGS, u32::from(keep_alive));
        put32(&mut out, layout::HEAD_LEN, len32(&head));
        out.extend_from_slice(&head);
        let (kind, data, offset, len, size) = match &body {
            Body::Empty => (BODY_EMPTY, &[][..], 0, 0, 0),
            Body::Bytes(bytes) => (BODY_BYTES, bytes.as_slice(), 0, 0, 0),
            Body::File { handle, offset, len } => {
                (BODY_FILE, handle.path.as_str().as_bytes(), *offset, *len, handle.size)
            }
        };
        put32(&mut out, layout::BODY_KIND, kind);
        put32(&mut out, layout::BODY_LEN, len32(data));
        out[layout::FILE_OFFSET..layout::FILE_OFFSET + 8].copy_from_slice(&offset.to_le_bytes());
        out[layout::FILE_LEN..layout::FILE_LEN + 8].copy_from_slice(&len.to_le_bytes());
        out[layout::FILE_SIZE..layout::FILE_SIZE + 8].copy_from_slice(&size.to_le_bytes());
        out.extend_from_slice(data);
    }
    let total = len32(&out);
    put32(&mut out, layout::TOTAL_LEN, total);
    out
}

/// Heads and generated bodies are a few KiB; wasm32 addresses are 32-bit.
fn len32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

/// The ABI version this module implements.
#[unsafe(no_mangle)]
pub extern "C" fn portico_abi_version() -> u32 {
    ABI_VERSION
}

/// Allocate `len` bytes of guest memory for the host to write into. Free
/// with `portico_free(ptr, len)`. Returns 0 if `len` is 0 or allocation
/// fails.
#[unsafe(no_mangle)]
pub extern "C" fn portico_alloc(len: u32) -> *mut u8 {
    if len == 0 {
        return std::ptr::null_mut();
    }
    let mut block = Vec::<u8>::with_capacity(len as usize);
    let ptr = block.as_mut_ptr();
    std::mem::forget(block);
    ptr
}

/// Free a block from `portico_alloc` or `portico_step`.
///
/// # Safety
///
/// `ptr` and `len` must be exactly what `portico_alloc` returned/was
/// given, or a result pointer and its `TOTAL_LEN`; each freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_free(ptr: *mut u8, len: u32) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: the caller passes back a block this module allocated with
    // capacity `len` (a result block is allocated exactly to its length).
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len as usize) });
}

/// Step a connection: `state` points to `STATE_LEN` bytes of connection
/// state (all zero for a new connection), `input` to the bytes received
/// and not yet consumed; `now` is the time since the Unix epoch. Returns a
/// result block (see [`layout`]) the host must free with `portico_free`.
///
/// # Safety
///
/// `state` must point to `STATE_LEN` readable bytes and `input` to
/// `input_len` readable bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_step(
    state: *const u8,
    input: *const u8,
    input_len: u32,
    now_secs: u64,
    now_nanos: u32,
) -> *mut u8 {
    // SAFETY: the host promises these ranges are readable guest memory.
    let state = unsafe { &*state.cast::<[u8; STATE_LEN]>() };
    let input = if input_len == 0 {
        &[][..]
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(input, input_len as usize) }
    };
    let now = UNIX_EPOCH + Duration::new(now_secs, now_nanos.min(999_999_999));
    let mut block = step(state, input, now);
    block.shrink_to_fit();
    let ptr = block.as_mut_ptr();
    std::mem::forget(block);
    ptr
}

/// A reactor module: the runtime calls `_initialize` once (Node's
/// `wasi.initialize`, wasmtime by the host) so the exports are not wrapped
/// in per-call constructor shims.
#[cfg(target_os = "wasi")]
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: called once by the runtime before any other export.
    unsafe { __wasm_call_ctors() }
}
