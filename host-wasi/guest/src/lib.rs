//! # portico-guest
//!
//! `portico-core` compiled to a `wasm32-wasip1` module: a pure step
//! function over a connection's buffered bytes. It keeps no state between
//! calls but the site configuration it is given once (the connection
//! state travels with each call), so any instance can serve any
//! connection and a broken one can be thrown away.
//!
//! The web root is the WASI preopen `/`. Files are only *looked up* here
//! (`path_filestat_get`); bodies are named (path, ranges, and the size,
//! time and identity seen) for the host to stream, so they never pass
//! through guest memory.
//!
//! The exports speak the ABI of `portico_abi::ABI_VERSION` (`docs/ABI.md`);
//! every value crossing them is encoded and decoded by `portico-abi`, the
//! crate the host uses too.

// Exports need `#[unsafe(no_mangle)]`, and the ABI hands raw pointers
// across the boundary; every use is commented.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::sync::OnceLock;

use portico_abi::{
    ABI_VERSION, Call, FileRef, Refusal, StepResult, decode_call, decode_site, encode_result_into,
};
use portico_core::{
    Connection, EntryName, EntryStat, FileLookup, Lookup, Now, SafePath, Site, Step,
};

/// The configuration `portico_configure` set, or the defaults.
static SITE: OnceLock<Site> = OnceLock::new();

fn site() -> &'static Site {
    SITE.get_or_init(Site::default)
}

/// The web root as this WASI instance sees it: the preopen `/`.
struct WasiRoot;

impl FileLookup for WasiRoot {
    type Handle = FileRef;

    fn lookup(&self, path: &SafePath) -> Lookup<FileRef> {
        wasi_fs::lookup(path)
    }

    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        wasi_fs::read_dir(dir, visit)
    }
}

/// The web root, except that the file the host could not open is what
/// the host found there instead.
struct AsRefused<'a> {
    root: &'a WasiRoot,
    refusal: Option<&'a Refusal>,
}

impl FileLookup for AsRefused<'_> {
    type Handle = FileRef;

    fn lookup(&self, path: &SafePath) -> Lookup<FileRef> {
        match self.refusal {
            Some(refusal) if refusal.path == *path => refusal.miss.lookup(),
            _ => self.root.lookup(path),
        }
    }

    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        self.root.read_dir(dir, visit)
    }
}

#[cfg(target_os = "wasi")]
mod wasi_fs {
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    use portico_abi::FileRef;
    use portico_core::{EntryName, EntryStat, FileId, Lookup, SafePath};

    /// The descriptor of the preopen named `/`, found as wasi-libc finds
    /// preopens: descriptors from 3 up, until one is not a preopen.
    fn root() -> Option<wasi::Fd> {
        static ROOT: OnceLock<Option<wasi::Fd>> = OnceLock::new();
        *ROOT.get_or_init(|| {
            (3..64).find(|&fd| {
                // SAFETY: plain WASI calls; the name buffer is as long as
                // the length the runtime reported.
                unsafe {
                    let Ok(prestat) = wasi::fd_prestat_get(fd) else { return false };
                    if prestat.tag != wasi::PREOPENTYPE_DIR.raw() {
                        return false;
                    }
                    let len = prestat.u.dir.pr_name_len;
                    let mut name = vec![0u8; len];
                    wasi::fd_prestat_dir_name(fd, name.as_mut_ptr(), len).is_ok() && name == b"/"
                }
            })
        })
    }

    pub(crate) fn lookup(path: &SafePath) -> Lookup<FileRef> {
        let Some(root) = root() else { return Lookup::Failed };
        let rel = path.relative();
        // SAFETY: a plain WASI call on a descriptor this module found.
        let stat = unsafe { wasi::path_filestat_get(root, wasi::LOOKUPFLAGS_SYMLINK_FOLLOW, rel) };
        match stat {
            Ok(stat) if stat.filetype == wasi::FILETYPE_DIRECTORY => Lookup::Directory,
            Ok(stat) if stat.filetype == wasi::FILETYPE_REGULAR_FILE => {
                let modified = SystemTime::UNIX_EPOCH + Duration::from_nanos(stat.mtim);
                let id = FileId { device: stat.dev, inode: stat.ino };
                let file = FileRef {
                    path: path.clone(),
                    size: stat.size,
                    modified: Some(modified),
                    id: Some(id),
                };
                Lookup::File(
                    portico_core::FileInfo::new(file, stat.size)
                        .modified(Some(modified))
                        .id(Some(id)),
                )
            }
            // Sockets, devices, FIFOs: not something to serve.
            Ok(_) => Lookup::NotFound,
            Err(errno) => {
                Lookup::from_io_error(&std::io::Error::from_raw_os_error(i32::from(errno.raw())))
            }
        }
    }

    /// What a listing shows of an entry, from its filestat; `None` for
    /// what is not served.
    fn entry_stat(stat: &wasi::Filestat) -> Option<EntryStat> {
        let modified = Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(stat.mtim));
        if stat.filetype == wasi::FILETYPE_DIRECTORY {
            Some(EntryStat::directory(modified))
        } else if stat.filetype == wasi::FILETYPE_REGULAR_FILE {
            Some(EntryStat::file(stat.size, modified))
        } else {
            None
        }
    }

    /// What a listing shows of the entry `name` of the directory `fd`
    /// (at `dir`): a stat of the name on the directory, not followed; a
    /// symbolic link is followed from the root, as a lookup would.
    fn stat_entry(root: wasi::Fd, fd: wasi::Fd, dir: &SafePath, name: &str) -> Option<EntryStat> {
        // SAFETY: a plain WASI call on a descriptor this module opened.
        let stat = unsafe { wasi::path_filestat_get(fd, 0, name) }.ok()?;
        if stat.filetype != wasi::FILETYPE_SYMBOLIC_LINK {
            return entry_stat(&stat);
        }
        let path = dir.join(name).ok()?;
        // SAFETY: a plain WASI call on a descriptor this module found.
        let stat = unsafe {
            wasi::path_filestat_get(root, wasi::LOOKUPFLAGS_SYMLINK_FOLLOW, path.relative())
        }
        .ok()?;
        entry_stat(&stat)
    }

    /// The names in a directory, read with `fd_readdir` into one large
    /// buffer: a runtime may resume each call by skipping from the start
    /// (wasi-common does), so few large reads beat many small ones (std's
    /// `read_dir` reads 4 KiB at a time).
    pub(crate) fn read_dir(
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        /// wasi's `dirent`: d_next u64, d_ino u64, d_namlen u32, d_type u8,
        /// padded to 24 bytes, then the name.
        const DIRENT: usize = 24;
        const BUFFER: usize = 1 << 20;
        let failed = |errno: wasi::Errno| {
            Lookup::from_io_error(&std::io::Error::from_raw_os_error(i32::from(errno.raw())))
        };
        let Some(root) = root() else { return Err(Lookup::Failed) };
        let rel = dir.relative();
        // SAFETY: a plain WASI call on a descriptor this module found.
        let fd = unsafe {
            wasi::path_open(
                root,
                wasi::LOOKUPFLAGS_SYMLINK_FOLLOW,
                rel,
                wasi::OFLAGS_DIRECTORY,
                wasi::RIGHTS_FD_READDIR | wasi::RIGHTS_PATH_FILESTAT_GET,
                0,
                0,
            )
        }
        .map_err(failed)?;
        let mut buffer = vec![0u8; BUFFER];
        let mut cookie = 0u64;
        let result = loop {
            // SAFETY: the buffer is BUFFER bytes long and ours.
            let used = match unsafe { wasi::fd_readdir(fd, buffer.as_mut_ptr(), BUFFER, cookie) } {
                Ok(used) => used.min(BUFFER),
                Err(errno) => break Err(failed(errno)),
            };
            let mut at = 0;
            let mut progressed = false;
            // Whole entries only: a full buffer may end in a cut one, which
            // the next call, from the last whole entry's cookie, repeats.
            while at + DIRENT <= used {
                let field = |from: usize, len: usize| &buffer[at + from..at + from + len];
                let next = u64::from_le_bytes(field(0, 8).try_into().unwrap_or_default());
                let len = u32::from_le_bytes(field(16, 4).try_into().unwrap_or_default()) as usize;
                if at + DIRENT + len > used {
                    break;
                }
                let name = &buffer[at + DIRENT..at + DIRENT + len];
                if name != b"." && name != b".." {
                    // portico-wasi's host names an entry whose name is
                    // not UTF-8 `/`, which no entry can be named
                    // (docs/ABI.md, "Files"); a runtime that passes the
                    // bytes through gets the same answer.
                    match EntryName::from_bytes(name) {
                        EntryName::Utf8(name) if !name.contains('/') => {
                            visit(EntryName::Utf8(name), stat_entry(root, fd, dir, name));
                        }
                        _ => visit(EntryName::NotUtf8, None),
                    }
                }
                cookie = next;
                progressed = true;
                at += DIRENT + len;
            }
            if used < BUFFER {
                break Ok(());
            }
            if !progressed {
                // One entry larger than the buffer: no name is that long.
                break Err(Lookup::Failed);
            }
        };
        // SAFETY: closing the descriptor opened above, once.
        let _ = unsafe { wasi::fd_close(fd) };
        result
    }
}

/// The guest's file system exists only under WASI; built for anything
/// else (the workspace's native build and lints), every lookup fails.
#[cfg(not(target_os = "wasi"))]
mod wasi_fs {
    use portico_abi::FileRef;
    use portico_core::{EntryName, EntryStat, Lookup, SafePath};

    pub(crate) fn lookup(_: &SafePath) -> Lookup<FileRef> {
        Lookup::Failed
    }

    pub(crate) fn read_dir(
        _: &SafePath,
        _: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        Err(Lookup::Failed)
    }
}

thread_local! {
    /// The result block `portico_step` hands out, kept from step to step
    /// (the host reads it before its next call): no allocation, copy or
    /// free per step once it has grown to the largest answer.
    static BLOCK: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
    /// The buffer the last answer's head was written into, for the next.
    static HEAD: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

/// One step, as plain Rust: the core's driver ([`Connection::step`]) on
/// the state the host handed over; the exports below only move bytes.
#[must_use]
pub fn step(call: &Call, input: &[u8]) -> StepResult {
    let site = site();
    let Some(mut conn) = Connection::from_bytes(site.limits, &call.state) else {
        return StepResult::new(call.state, None, false, Step::Close);
    };
    if call.timed_out {
        conn.handle_timeout(call.now);
    }
    let files = AsRefused { root: &WasiRoot, refusal: call.refused.as_ref() };
    let now = Now::new(call.wall, call.now);
    let step = conn.step(input, now, site, &files).written(spare_head());
    StepResult::new(conn.to_bytes(), conn.poll_timeout(), conn.awaiting_head(), step)
        .with_input_complete(conn.input_complete())
}

fn spare_head() -> Vec<u8> {
    HEAD.with_borrow_mut(std::mem::take)
}

/// The ABI version this module implements.
#[unsafe(no_mangle)]
pub extern "C" fn portico_abi_version() -> u32 {
    ABI_VERSION
}

/// Allocate `len` bytes of guest memory for the host to write into. Free
/// with `portico_free(ptr, len)`. Returns 0 if `len` is 0.
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

/// Free a block from `portico_alloc`.
///
/// # Safety
///
/// `ptr` and `len` must be exactly what `portico_alloc` returned and was
/// given; each freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_free(ptr: *mut u8, len: u32) {
    if ptr.is_null() || len == 0 {
        return;
    }
    // SAFETY: the caller passes back a block this module allocated with
    // capacity `len`.
    drop(unsafe { Vec::from_raw_parts(ptr, 0, len as usize) });
}

/// Borrow `len` bytes at `ptr`.
///
/// # Safety
///
/// `ptr` must point to `len` readable bytes of this module's memory.
unsafe fn bytes<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: as the caller promised.
        unsafe { std::slice::from_raw_parts(ptr, len as usize) }
    }
}

/// Configure this instance with an encoded site (`portico_abi::encode_site`)
/// before its first step. Returns 0 on success, 1 if the bytes are not a
/// valid site, 2 if the instance was configured (or stepped) already.
///
/// # Safety
///
/// `site` must point to `site_len` readable bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_configure(site: *const u8, site_len: u32) -> u32 {
    // SAFETY: the host promises the range is readable guest memory.
    let Ok(decoded) = decode_site(unsafe { bytes(site, site_len) }) else { return 1 };
    match SITE.set(decoded) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// Step a connection: `call` points to an encoded `Call` (state, clocks,
/// flags), `input` to the bytes received and not yet consumed. Returns a
/// result block: a little-endian u32 with the block's whole length, then
/// the encoded `StepResult`. The block belongs to this module and stays
/// valid until the next call of any export: read it, do not free it. A
/// call that does not decode is answered with "close".
///
/// # Safety
///
/// `call` must point to `call_len` and `input` to `input_len` readable
/// bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_step(
    call: *const u8,
    call_len: u32,
    input: *const u8,
    input_len: u32,
) -> *mut u8 {
    // SAFETY: the host promises these ranges are readable guest memory.
    let (call, input) = unsafe { (bytes(call, call_len), bytes(input, input_len)) };
    let result = match decode_call(call) {
        Ok(call) => step(&call, input),
        Err(_) => StepResult::new([0; portico_core::STATE_LEN], None, false, Step::Close),
    };
    let ptr = BLOCK.with_borrow_mut(|block| {
        block.clear();
        // The block of a listing (up to 4 MiB) is not kept.
        block.shrink_to(64 * 1024);
        block.extend_from_slice(&[0; 4]);
        encode_result_into(&result, block);
        let total = u32::try_from(block.len()).unwrap_or(u32::MAX);
        block[..4].copy_from_slice(&total.to_le_bytes());
        block.as_mut_ptr()
    });
    if let Step::Respond { response, .. } = result.step {
        HEAD.set(response.head);
    }
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
