//! The WASI preview 1 functions replaced for the guest: sleeping refused,
//! the root's stats answered directly, the root's descriptor followed.

use anyhow::Context as _;
use wasi_common::snapshots::preview_1::types::Errno;
use wasi_common::snapshots::preview_1::wasi_snapshot_preview1 as wasi;
use wasmtime::{Caller, Linker};

use super::failure::wasm_error;
use super::instance::Data;

/// WASI preview 1's `errno::nosys`.
const WASI_ENOSYS: i32 = 52;

/// Replace some of wasi-common's preview 1 functions in `linker`. The
/// epoch deadline only interrupts wasm code: a guest asleep in the host
/// would hold its thread and instance, so sleeping and yielding are
/// refused (ENOSYS); the guest needs neither. The root's stats are
/// answered directly, and closing or renumbering the root is noted.
pub(super) fn shadow(linker: &mut Linker<Data>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker
        .func_wrap("wasi_snapshot_preview1", "poll_oneoff", |_: i32, _: i32, _: i32, _: i32| {
            WASI_ENOSYS
        })
        .and_then(|l| l.func_wrap("wasi_snapshot_preview1", "sched_yield", || WASI_ENOSYS))
        .and_then(|l| l.func_wrap("wasi_snapshot_preview1", "path_filestat_get", path_filestat_get))
        .and_then(|l| l.func_wrap("wasi_snapshot_preview1", "fd_close", fd_close))
        .and_then(|l| l.func_wrap("wasi_snapshot_preview1", "fd_renumber", fd_renumber))
        .map_err(wasm_error)
        .context("cannot link the WASI stubs")?;
    Ok(())
}

/// `path_filestat_get`, answered directly for the web root: the guest
/// stats every file it serves, and wasi-common's dispatch (a span, a
/// descriptor table lookup, the memory export found by name, a boxed
/// future, the conversions) cost more than the stat itself. The answer is
/// [`ReadOnlyDir::stat`]'s, as through wasi-common; any other descriptor
/// goes through wasi-common.
fn path_filestat_get(
    mut caller: Caller<'_, Data>,
    fd: i32,
    flags: i32,
    path: i32,
    path_len: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    let Some((bytes, data)) = memory_and_data(&mut caller) else { return Ok(errno(Errno::Fault)) };
    if data.root_fd != Some(fd as u32) {
        let mut guest = wiggle::GuestMemory::Unshared(bytes);
        let call =
            wasi::path_filestat_get(&mut data.wasi, &mut guest, fd, flags, path, path_len, out);
        return wiggle::run_in_dummy_executor(call)?;
    }
    // As wiggle checks: unknown flags are EINVAL; a pointer out of bounds
    // or misaligned traps; a path that is not UTF-8 is EILSEQ.
    const SYMLINK_FOLLOW: i32 = 1;
    const FILESTAT_LEN: usize = 64;
    if flags & !SYMLINK_FOLLOW != 0 {
        return Ok(errno(Errno::Inval));
    }
    let (path, path_len, out) =
        (path as u32 as usize, path_len as u32 as usize, out as u32 as usize);
    let Some(name) = path.checked_add(path_len).and_then(|end| bytes.get(path..end)) else {
        wasmtime::bail!("path_filestat_get: the path is out of bounds");
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return Ok(errno(Errno::Ilseq));
    };
    let stat = match data.root.stat(name, flags & SYMLINK_FOLLOW != 0) {
        Ok(stat) => stat,
        Err(error) => return Ok(errno(error.downcast()?)),
    };
    if out.checked_add(FILESTAT_LEN).is_none_or(|end| end > bytes.len()) || out % 8 != 0 {
        wasmtime::bail!("path_filestat_get: the result pointer is out of bounds or misaligned");
    }
    let nanos = |time: Option<std::time::SystemTime>| {
        time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    };
    use wasi_common::file::FileType;
    // WASI's filetype numbers.
    let filetype: u64 = match stat.filetype {
        FileType::BlockDevice => 1,
        FileType::CharacterDevice => 2,
        FileType::Directory => 3,
        FileType::RegularFile => 4,
        FileType::SocketDgram => 5,
        FileType::SocketStream => 6,
        FileType::SymbolicLink => 7,
        FileType::Unknown | FileType::Pipe => 0,
    };
    let words = [
        stat.device_id,
        stat.inode,
        filetype,
        stat.nlink,
        stat.size,
        nanos(stat.atim),
        nanos(stat.mtim),
        nanos(stat.ctim),
    ];
    for (slot, word) in bytes[out..out + FILESTAT_LEN].chunks_exact_mut(8).zip(words) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
    Ok(0)
}

/// `fd_close`, through wasi-common, noting when the root goes.
fn fd_close(mut caller: Caller<'_, Data>, fd: i32) -> wasmtime::Result<i32> {
    let Some((bytes, data)) = memory_and_data(&mut caller) else { return Ok(errno(Errno::Fault)) };
    if data.root_fd == Some(fd as u32) {
        data.root_fd = None;
    }
    let mut guest = wiggle::GuestMemory::Unshared(bytes);
    wiggle::run_in_dummy_executor(wasi::fd_close(&mut data.wasi, &mut guest, fd))?
}

/// `fd_renumber`, through wasi-common, noting when the root moves or is
/// replaced.
fn fd_renumber(mut caller: Caller<'_, Data>, from: i32, to: i32) -> wasmtime::Result<i32> {
    let Some((bytes, data)) = memory_and_data(&mut caller) else { return Ok(errno(Errno::Fault)) };
    if data.root_fd.is_some_and(|root| root == from as u32 || root == to as u32) {
        data.root_fd = None;
    }
    let mut guest = wiggle::GuestMemory::Unshared(bytes);
    wiggle::run_in_dummy_executor(wasi::fd_renumber(&mut data.wasi, &mut guest, from, to))?
}

/// The guest's memory and the store's data at once, as the WASI functions
/// need both; `None` before the instance's memory is known.
fn memory_and_data<'a>(caller: &'a mut Caller<'_, Data>) -> Option<(&'a mut [u8], &'a mut Data)> {
    let memory = caller.data().memory?;
    Some(memory.data_and_store_mut(caller))
}

/// An errno as a WASI function returns it.
fn errno(errno: Errno) -> i32 {
    i32::from(u16::from(errno))
}
