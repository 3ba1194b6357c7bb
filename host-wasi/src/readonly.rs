//! A read-only view of a WASI preopened directory. wasi-common 46 has no
//! read-only preopen, so every way to change the tree is refused here
//! with EPERM, and every read is passed through.

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use portico::Identity as DirIdentity;
use portico::compress::{Compressor, Key};
use portico::listings::{INLINE, Kind, Listings, Snapshot};
use portico::{Checked, Identity, Reads};
use portico_core::{FileId, SafePath};
use wasi_common::dir::{OpenResult, ReaddirCursor, ReaddirEntity, WasiDir};
use wasi_common::file::{FdFlags, FileType, Filestat, OFlags};
use wasi_common::snapshots::preview_1::types::Errno;
use wasi_common::{Error, ErrorExt as _, SystemTimeSpec, WasiFile};

/// Wraps a directory (and every directory opened through it) so the guest
/// can look and read, never write, create, remove, rename or touch.
///
/// It keeps its own cap-std handle to the same directory for `readdir`:
/// wasi-common's reads every entry's full metadata (a `statx` each) and,
/// as a cookie resumes by skipping from the start, does so again for every
/// entry before the cookie on each call, which made listing a directory
/// of 10,000 names cost millions of `statx`. Here an entry costs what
/// `getdents` already says (its type and inode), and skipping is cheap.
///
/// It also remembers what `path_filestat_get` answered (the guest stats
/// every file it serves): wasi-common's confined stat costs an `openat2`,
/// a `statx` and a `close`; a path asked again costs one `fstatat` here
/// (none if one was made since the request being answered was read, see
/// [`Checked`]), and if that names the very file seen before (device,
/// inode, length, modification time, kind), the answer the confined stat
/// gave is given again. The `fstatat` is not confined, but it is only compared: an
/// answer is only ever one the confined stat gave, for a path that now
/// names the same file.
///
/// The root's also tells the host, through [`Vouch`], which file the
/// guest's last stat found, so the host's open of that file right after
/// does not stat it again.
///
/// A clone is the same directory with the same memory: the sandbox keeps
/// one of the root to answer the guest's stats of it without going
/// through wasi-common's dispatch (see `sandbox::path_filestat_get`).
#[derive(Clone)]
pub(crate) struct ReadOnlyDir {
    inner: Arc<dyn WasiDir>,
    dir: Arc<cap_std::fs::Dir>,
    /// Per `follow_symlinks` (false, true): keyed by the path alone, so a
    /// lookup borrows the guest's path instead of copying it.
    stats: Arc<Mutex<[Stats; 2]>>,
    vouch: Option<Arc<Vouch>>,
    /// Whose reads date its checks.
    clock: Arc<Clock>,
    /// The root's: variants compressed on the fly, stat'ed as the files
    /// `NAME.br`, `NAME.zst`, `NAME.gz` where the disk has none.
    compress: Option<Arc<Compressor>>,
    /// Snapshots of large directories, read off the loop, and which
    /// directory this is below the root (if it is a plain path there).
    listings: Option<Arc<Listings>>,
    path: Option<SafePath>,
    /// The snapshot the listing under way is read from, if any: its
    /// entries' stats are answered from it too.
    snapshot: Arc<Mutex<Option<Reading>>>,
}

/// A snapshot being listed, and the entry the guest is likely to ask
/// about next.
type Reading = (Arc<Snapshot>, usize);

/// Whose reads date a directory's checks ([`Checked`]): the worker that
/// holds the instance, set when it takes it. Before that nothing is
/// answered from an earlier check.
#[derive(Default)]
pub(crate) struct Clock {
    reads: Mutex<Option<Arc<Reads>>>,
    /// The step under way answers a request that waited for a listing
    /// read off the loop (any recent snapshot will do).
    waited: AtomicBool,
    /// The step under way asked for a listing being read off the loop:
    /// its answer is to be thrown away, the request stepped again later.
    deferred: AtomicBool,
}

impl Clock {
    /// From now on, the checks are dated by `reads`.
    pub(crate) fn set(&self, reads: Arc<Reads>) {
        *self.reads.lock().unwrap_or_else(PoisonError::into_inner) = Some(reads);
    }

    /// Whether the next step answers a request that waited for a listing.
    pub(crate) fn set_waited(&self, waited: bool) {
        self.waited.store(waited, Ordering::Relaxed);
    }

    /// Whether the step just made asked for a listing being read off the
    /// loop; cleared by the call.
    pub(crate) fn take_deferred(&self) -> bool {
        self.deferred.swap(false, Ordering::Relaxed)
    }

    /// A check made now, if a worker holds the instance.
    fn checked(&self) -> Option<Checked> {
        let reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
        reads.as_ref().map(|reads| reads.checked())
    }

    /// Whether a check made `then` answers for the request being served.
    fn answers(&self, then: Option<Checked>) -> bool {
        let reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
        matches!((reads.as_ref(), then), (Some(reads), Some(then)) if reads.answers(then))
    }
}

/// The path the root's last stat (following symbolic links) answered
/// for, and what an `fstatat` of it said just then: only an answer given
/// for a path that still named the same file is recorded. The host clears
/// it before each guest call and reads it after.
#[derive(Default)]
pub(crate) struct Vouch {
    last: Mutex<(String, Option<Identity>)>,
}

impl Vouch {
    pub(crate) fn clear(&self) {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).1 = None;
    }

    /// What the fstatat said, if the last stat was of `path`.
    pub(crate) fn of(&self, path: &str) -> Option<Identity> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.1.filter(|_| last.0 == path)
    }

    fn record(&self, path: &str, identity: Identity) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.0.clear();
        last.0.push_str(path);
        last.1 = Some(identity);
    }
}

/// What a directory's stats answered, by path.
type Stats = HashMap<Box<str>, Seen>;

/// A confined stat's answer, and what `fstatat` said of the path then.
struct Seen {
    quick: Identity,
    stat: Filestat,
    /// When `quick` was last found true: it answers for requests read
    /// before then (as the native host's open files).
    checked: Option<Checked>,
}

/// Paths remembered per directory; then the memory starts again.
const REMEMBERED: usize = 256;

impl ReadOnlyDir {
    /// The root: `dir` is the web root wasi-common was given as `inner`.
    pub(crate) fn new(
        inner: Box<dyn WasiDir>,
        dir: cap_std::fs::Dir,
        vouch: Arc<Vouch>,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            inner: Arc::from(inner),
            dir: Arc::new(dir),
            stats: Arc::default(),
            vouch: Some(vouch),
            clock,
            compress: None,
            listings: None,
            path: Some(SafePath::root()),
            snapshot: Arc::default(),
        }
    }

    /// Serve listings of large directories from snapshots `listings`
    /// takes off the loop.
    pub(crate) fn listing_from(mut self, listings: Option<Arc<Listings>>) -> Self {
        self.listings = listings;
        self
    }

    /// Answer stats of variants compressed on the fly by `compress`.
    pub(crate) fn compressing(mut self, compress: Option<Arc<Compressor>>) -> Self {
        self.compress = compress;
        self
    }

    /// A directory below the root: paths are relative to it, so it vouches
    /// for nothing.
    fn below(&self, inner: Box<dyn WasiDir>, dir: Arc<cap_std::fs::Dir>, path: &str) -> Self {
        let path = self.path.as_ref().and_then(|here| {
            let joined =
                if here.is_root() { path.to_owned() } else { format!("{}/{path}", here.as_str()) };
            SafePath::from_normal(&joined).ok()
        });
        Self {
            inner: Arc::from(inner),
            dir,
            stats: Arc::default(),
            vouch: None,
            clock: Arc::clone(&self.clock),
            compress: None,
            listings: self.listings.clone(),
            path,
            snapshot: Arc::default(),
        }
    }

    /// For a listing (a `readdir` from `cursor`): the snapshot to read it
    /// from, or `None` to read the directory here. A large directory with
    /// no fresh snapshot is read off the loop: the step is marked
    /// deferred and the call fails (the guest's answer is thrown away).
    fn snapshot_for(&self, cursor: u64) -> Result<Option<Arc<Snapshot>>, Error> {
        let (Some(listings), Some(path)) = (&self.listings, &self.path) else { return Ok(None) };
        let mut held = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        if cursor > 0 {
            // A listing under way goes on as it began.
            return Ok(held.as_ref().map(|(snapshot, _)| Arc::clone(snapshot)));
        }
        let waited = self.clock.waited.load(Ordering::Relaxed);
        let now = DirIdentity::at(&self.dir, ".", true);
        *held = now.and_then(|now| listings.fresh(path, &now, waited)).map(|s| (s, 0));
        if let Some((snapshot, _)) = &*held {
            return Ok(Some(Arc::clone(snapshot)));
        }
        let large = || self.dir.entries().map(|e| e.take(INLINE + 1).count() > INLINE);
        if listings.pending(path) || (large()? && listings.request(path)) {
            self.clock.deferred.store(true, Ordering::Relaxed);
            return Err(Errno::Again.into());
        }
        Ok(None)
    }

    fn vouch(&self, path: &str, follow_symlinks: bool, identity: Identity) {
        if follow_symlinks && let Some(vouch) = &self.vouch {
            vouch.record(path, identity);
        }
    }

    /// What `path` is, beneath this directory: `path_filestat_get`, without
    /// an executor (every future of wasi-common's synchronous directory is
    /// ready at once).
    pub(crate) fn stat(&self, path: &str, follow_symlinks: bool) -> Result<Filestat, Error> {
        match self.stat_disk(path, follow_symlinks) {
            Err(error) if error.downcast_ref() == Some(&Errno::Noent) => {
                self.stat_variant(path).ok_or(error)
            }
            answer => answer,
        }
    }

    /// A variant compressed on the fly, ready for the file at `path`
    /// without its coding's suffix as it is now (a confined stat says),
    /// as the file it stands for: the file's device, inode and time, the
    /// variant's length. Not ready: queued, and `None`.
    fn stat_variant(&self, path: &str) -> Option<Filestat> {
        let compress = self.compress.as_ref()?;
        let (base, coding) = compress.sibling_of(&SafePath::from_normal(path).ok()?)?;
        let stat = self.stat_disk(base.as_str(), true).ok()?;
        if stat.filetype != FileType::RegularFile {
            return None;
        }
        let id = FileId { device: stat.device_id, inode: stat.inode };
        let key = Key { id, len: stat.size, modified: stat.mtim, coding };
        let variant = compress.variant(&base, key)?;
        Some(Filestat { size: variant.len, nlink: 1, ..stat })
    }

    /// What `path` is on the disk.
    fn stat_disk(&self, path: &str, follow_symlinks: bool) -> Result<Filestat, Error> {
        if !follow_symlinks && is_one_name(path) {
            let mut held = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((snapshot, next)) = &mut *held
                && let Some((at, entry)) = snapshot.entry(path.as_bytes(), *next)
                && let Some(meta) = entry.meta
            {
                // An entry of the listing under way, read off the loop;
                // the guest asks about them in the order they were read.
                *next = at + 1;
                return Ok(Filestat {
                    device_id: meta.device,
                    inode: meta.inode,
                    filetype: filetype(meta.kind),
                    nlink: meta.nlink,
                    size: meta.len,
                    atim: None,
                    mtim: meta.modified,
                    ctim: None,
                });
            }
        }
        if !follow_symlinks && is_one_name(path) {
            // A listing's stat of each entry of the directory it read: one
            // name, not followed, so an `fstatat` on this directory, which
            // cannot leave it. Not remembered: a listing of 100,000
            // entries would only push out the paths worth remembering.
            let meta = self.dir.symlink_metadata(path)?;
            return Ok(filestat(&meta));
        }
        let which = usize::from(follow_symlinks);
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let stats = &mut stats[which];
        let seen = stats.get_mut(path);
        if let Some(seen) = &seen
            && self.clock.answers(seen.checked)
        {
            self.vouch(path, follow_symlinks, seen.quick);
            return Ok(seen.stat.clone());
        }
        let now = Identity::at(&self.dir, path, follow_symlinks);
        if let Some(now) = now
            && let Some(seen) = seen
            && seen.quick == now
        {
            seen.checked = self.clock.checked();
            self.vouch(path, follow_symlinks, now);
            return Ok(seen.stat.clone());
        }
        let stat = ready(self.inner.get_path_filestat(path, follow_symlinks))
            .unwrap_or_else(|| Err(Error::io()))?;
        // Remembered only when both looked at the same file.
        if let Some(now) = now
            && now.names(FileId { device: stat.device_id, inode: stat.inode }, stat.size)
        {
            if stats.len() >= REMEMBERED {
                stats.clear();
            }
            let checked = self.clock.checked();
            stats.insert(path.into(), Seen { quick: now, stat: stat.clone(), checked });
            self.vouch(path, follow_symlinks, now);
        }
        Ok(stat)
    }
}

/// A listing's entries as `readdir` gives them, from `cursor` on.
fn entities(
    entries: impl Iterator<Item = Result<(FileType, u64, String), Error>> + Send + 'static,
    cursor: ReaddirCursor,
) -> Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send> {
    Box::new(numbered(entries, 0).skip(u64::from(cursor) as usize))
}

/// Entries as `readdir` gives them, the first being number `first`
/// (each entity's cursor is the next one's number).
fn numbered(
    entries: impl Iterator<Item = Result<(FileType, u64, String), Error>> + Send + 'static,
    first: u64,
) -> Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send> {
    Box::new(entries.enumerate().map(move |(ix, entry)| {
        entry.map(|(filetype, inode, name)| ReaddirEntity {
            next: ReaddirCursor::from(first + ix as u64 + 1),
            filetype,
            inode,
            name,
        })
    }))
}

/// WASI's kind of a snapshot's entry (a socket, FIFO or device as
/// unknown: the guest serves none of them).
fn filetype(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Directory => FileType::Directory,
        Kind::Symlink => FileType::SymbolicLink,
        Kind::Other => FileType::Unknown,
    }
}

/// A single name within a directory: no `/`, not `.` or `..`.
fn is_one_name(path: &str) -> bool {
    !path.is_empty() && !path.contains('/') && path != "." && path != ".."
}

/// What `path_filestat_get` says of `meta`, as wasi-common's own stat
/// would.
fn filestat(meta: &cap_std::fs::Metadata) -> Filestat {
    use cap_std::fs::MetadataExt as _;
    let time = |t: std::io::Result<cap_std::time::SystemTime>| t.ok().map(|t| t.into_std());
    Filestat {
        device_id: meta.dev(),
        inode: meta.ino(),
        filetype: wasi_common::sync::file::filetype_from(&meta.file_type()),
        nlink: meta.nlink(),
        size: meta.len(),
        atim: time(meta.accessed()),
        mtim: time(meta.modified()),
        ctim: time(meta.created()),
    }
}

/// A future's output if it is ready on its first poll.
fn ready<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[async_trait::async_trait]
impl WasiDir for ReadOnlyDir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn open_file(
        &self,
        symlink_follow: bool,
        path: &str,
        oflags: OFlags,
        read: bool,
        write: bool,
        fdflags: FdFlags,
    ) -> Result<OpenResult, Error> {
        let changes = OFlags::CREATE | OFlags::TRUNCATE | OFlags::EXCLUSIVE;
        if write || oflags.intersects(changes) || fdflags.contains(FdFlags::APPEND) {
            return Err(Error::perm());
        }
        // Non-blocking, so a FIFO left in the root cannot park the guest's
        // thread in open(2), out of reach of the epoch deadline.
        let fdflags = fdflags | FdFlags::NONBLOCK;
        match self.inner.open_file(symlink_follow, path, oflags, read, false, fdflags).await? {
            OpenResult::Dir(inner) => {
                // The same directory for our readdir, resolved beneath this
                // one as wasi-common just resolved it (cap-std confines
                // both; had the last name been swapped for a symlink since,
                // it could still only lead to a directory below the root).
                let dir = self.dir.open_dir(path)?;
                Ok(OpenResult::Dir(Box::new(self.below(inner, Arc::new(dir), path))))
            }
            OpenResult::File(file) => Ok(OpenResult::File(Box::new(ReadOnlyFile(file)))),
        }
    }

    async fn create_dir(&self, _path: &str) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn readdir(
        &self,
        cursor: ReaddirCursor,
    ) -> Result<Box<dyn Iterator<Item = Result<ReaddirEntity, Error>> + Send>, Error> {
        use rustix::fs::DirEntryExt as _;
        let own = self.dir.dir_metadata()?;
        let own_inode = cap_std::fs::MetadataExt::ino(&own);
        let dots = [".", ".."].map(|name| Ok((FileType::Directory, own_inode, name.to_owned())));
        if let Some(snapshot) = self.snapshot_for(u64::from(cursor))? {
            // From the cursor on only: a large directory is read in many
            // calls, each from where the last one stopped.
            let from = (u64::from(cursor) as usize).saturating_sub(dots.len());
            let entries = (from..snapshot.entries.len()).map(move |at| {
                let entry = &snapshot.entries[at];
                let (filetype, inode) =
                    entry.meta.map_or((FileType::Unknown, 0), |m| (filetype(m.kind), m.inode));
                // Named as below: `/` for a name that is not UTF-8.
                let name = std::str::from_utf8(&entry.name).unwrap_or("/").to_owned();
                Ok((filetype, inode, name))
            });
            let skipped = u64::from(cursor) as usize - from;
            return Ok(numbered(dots.into_iter().skip(skipped).chain(entries), u64::from(cursor)));
        }
        let entries = self.dir.entries()?.map(|entry| {
            let entry = entry?;
            // From the directory entry's type byte; a stat only where the
            // file system leaves it unknown.
            let kind = entry.file_type()?;
            let filetype = if kind.is_dir() {
                FileType::Directory
            } else if kind.is_file() {
                FileType::RegularFile
            } else if kind.is_symlink() {
                FileType::SymbolicLink
            } else {
                FileType::Unknown
            };
            // WASI carries names as strings: one that is not UTF-8 would
            // fail the whole listing (wasi-common's own readdir does), so
            // it is named `/`, which no entry can be, and the guest counts
            // it as a name that cannot be requested (docs/ABI.md, "Files").
            let name = entry.file_name().into_string().unwrap_or_else(|_| "/".to_owned());
            Ok((filetype, entry.ino(), name))
        });
        Ok(entities(dots.into_iter().chain(entries), cursor))
    }

    async fn symlink(&self, _old_path: &str, _new_path: &str) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn remove_dir(&self, _path: &str) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn unlink_file(&self, _path: &str) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn read_link(&self, path: &str) -> Result<PathBuf, Error> {
        self.inner.read_link(path).await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.inner.get_filestat().await
    }

    async fn get_path_filestat(
        &self,
        path: &str,
        follow_symlinks: bool,
    ) -> Result<Filestat, Error> {
        self.stat(path, follow_symlinks)
    }

    async fn rename(
        &self,
        _path: &str,
        _dest_dir: &dyn WasiDir,
        _dest_path: &str,
    ) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn hard_link(
        &self,
        _path: &str,
        _target_dir: &dyn WasiDir,
        _target_path: &str,
    ) -> Result<(), Error> {
        Err(Error::perm())
    }

    async fn set_times(
        &self,
        _path: &str,
        _atime: Option<SystemTimeSpec>,
        _mtime: Option<SystemTimeSpec>,
        _follow_symlinks: bool,
    ) -> Result<(), Error> {
        Err(Error::perm())
    }
}

/// A file opened through [`ReadOnlyDir`]: the OS already refuses writes to
/// a descriptor opened for reading, but not `futimens` by the owner, so
/// metadata changes are refused here too.
struct ReadOnlyFile(Box<dyn WasiFile>);

#[async_trait::async_trait]
impl WasiFile for ReadOnlyFile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    async fn get_filetype(&self) -> Result<wasi_common::file::FileType, Error> {
        self.0.get_filetype().await
    }

    async fn get_fdflags(&self) -> Result<FdFlags, Error> {
        self.0.get_fdflags().await
    }

    async fn get_filestat(&self) -> Result<Filestat, Error> {
        self.0.get_filestat().await
    }

    async fn read_vectored<'a>(&self, bufs: &mut [std::io::IoSliceMut<'a>]) -> Result<u64, Error> {
        self.0.read_vectored(bufs).await
    }

    async fn read_vectored_at<'a>(
        &self,
        bufs: &mut [std::io::IoSliceMut<'a>],
        offset: u64,
    ) -> Result<u64, Error> {
        self.0.read_vectored_at(bufs, offset).await
    }

    async fn seek(&self, pos: std::io::SeekFrom) -> Result<u64, Error> {
        self.0.seek(pos).await
    }

    async fn peek(&self, buf: &mut [u8]) -> Result<u64, Error> {
        self.0.peek(buf).await
    }

    async fn readable(&self) -> Result<(), Error> {
        self.0.readable().await
    }
}
