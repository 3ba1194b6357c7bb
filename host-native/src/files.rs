//! The web root on the real file system, confined with cap-std.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::compress::{Compressor, Key};
use crate::listings::Listings;
use anyhow::{Context as _, anyhow, bail};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use portico_core::{EntryName, EntryStat, FileId, FileInfo, FileLookup, Lookup, SafePath};

/// A directory every lookup stays beneath: cap-std resolves each path
/// relative to the directory's handle (with `openat2(RESOLVE_BENEATH)` on
/// Linux), so neither `..` nor a symbolic link can leave it, whatever the
/// core's sanitiser lets through.
#[derive(Debug)]
pub struct RootDir {
    dir: Dir,
    /// Variants compressed on the fly, if on ([`RootDir::compressing`]).
    compress: Option<Arc<Compressor>>,
    /// Snapshots of large directories, if on ([`RootDir::listing_off_loop`]).
    listings: Option<Arc<Listings>>,
}

impl RootDir {
    /// Open `path` as the web root. This is the server's only ambient file
    /// system access; everything after goes through the handle.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                anyhow!("cannot serve '{}': no such directory", path.display())
            }
            _ => anyhow::Error::new(error).context(format!("cannot serve '{}'", path.display())),
        })?;
        if !meta.is_dir() {
            bail!("cannot serve '{}': not a directory", path.display());
        }
        let dir = Dir::open_ambient_dir(path, ambient_authority())
            .with_context(|| format!("cannot open web root '{}'", path.display()))?;
        Ok(Self { dir, compress: None, listings: None })
    }

    /// Compress files of these media types on the fly, keeping up to
    /// `limit` bytes of variants (0: off), answered as if they were
    /// precompressed siblings on disk (see [`crate::compress`]).
    pub fn compressing(mut self, limit: u64, types: Vec<String>) -> io::Result<Self> {
        let own = Self { dir: self.dir.try_clone()?, compress: None, listings: None };
        self.compress = Compressor::start(own, limit, types)?;
        Ok(self)
    }

    /// Read directories of more than [`crate::listings::INLINE`] entries
    /// off the event loop (see [`crate::listings`]): a request for such a
    /// listing waits, without holding its worker, for a background
    /// thread to read it.
    pub fn listing_off_loop(mut self) -> io::Result<Self> {
        let own = Self { dir: self.dir.try_clone()?, compress: None, listings: None };
        self.listings = Some(Listings::start(own)?);
        Ok(self)
    }

    /// The compressor, if compression on the fly is on.
    pub fn compressor(&self) -> Option<&Arc<Compressor>> {
        self.compress.as_ref()
    }

    /// The snapshots of large directories, if they are read off the loop.
    pub fn listings(&self) -> Option<&Arc<Listings>> {
        self.listings.as_ref()
    }

    /// A second handle to the root directory, for a sandbox that must see
    /// the very tree this host streams from (not whatever the path names
    /// by the time it is opened again).
    pub fn try_clone_dir(&self) -> io::Result<Dir> {
        self.dir.try_clone()
    }

    /// Open a file below the root for reading, for a host that was told a
    /// path rather than handed a file (the WASI host). Same confinement as
    /// [`FileLookup::lookup`].
    pub fn open_file(&self, path: &SafePath) -> io::Result<(std::fs::File, std::fs::Metadata)> {
        let mut options = OpenOptions::new();
        // O_NONBLOCK: opening a FIFO someone left in the root must not
        // block a worker (and every connection it serves) waiting for a writer.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let rel = path.relative();
        let file = self.dir.open_with(rel, &options)?.into_std();
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}

impl FileLookup for RootDir {
    type Handle = std::fs::File;

    fn lookup(&self, path: &SafePath) -> Lookup<std::fs::File> {
        match self.open_file(path) {
            Ok((_, meta)) if meta.is_dir() => Lookup::Directory,
            Ok((file, meta)) if meta.is_file() => Lookup::File(
                FileInfo::new(file, meta.len())
                    .modified(meta.modified().ok())
                    .id(Some(file_id(&meta))),
            ),
            // Sockets, FIFOs, devices: not something to serve.
            Ok(_) => Lookup::NotFound,
            // cap-std reports a symlink that leads out of the root as
            // PermissionDenied: a 403 like an unreadable file.
            Err(error) => Lookup::from_io_error(&error),
        }
    }

    /// Read inline, however large the directory (see [`RootDir::list`]).
    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        self.list(dir, visit, Wait::Never).map_err(|refusal| match refusal {
            Listing::Failed(miss) => miss,
            Listing::Later => Lookup::Failed,
        })
    }
}

/// Whether a listing may be put off until its directory is read off the
/// loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// No: read it here, however large.
    Never,
    /// Yes, if it is large; the request has not waited yet.
    First,
    /// Yes; the request waited for a snapshot already, and any recent one
    /// will do.
    Again,
}

/// Why a listing was not read.
#[derive(Debug)]
pub(crate) enum Listing {
    /// What a lookup of the directory would have found instead.
    Failed(Lookup<()>),
    /// The directory is large and is being read off the loop: ask again.
    Later,
}

impl RootDir {
    /// The directory handle, for this crate's background readers.
    pub(crate) fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Each entry of `dir` with what a listing shows of it: from the
    /// open directory (`fstatat` of its name, which cannot leave the
    /// directory; a symbolic link alone is followed, from the root and
    /// beneath it, as a lookup would), or from a fresh snapshot of a
    /// large directory ([`crate::listings`]). With `wait` other than
    /// [`Wait::Never`] and large-directory snapshots on, a directory of
    /// more than [`crate::listings::INLINE`] entries without a fresh
    /// snapshot is not read here: its snapshot is asked for and the
    /// answer is [`Listing::Later`] (whatever was visited by then is to be
    /// thrown away).
    pub(crate) fn list(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
        wait: Wait,
    ) -> Result<(), Listing> {
        let listings = self.listings.as_ref().filter(|_| wait != Wait::Never);
        if let Some(listings) = listings {
            let now = Identity::at(&self.dir, dir.relative(), true);
            let fresh = now.and_then(|now| listings.fresh(dir, &now, wait == Wait::Again));
            if let Some(snapshot) = fresh {
                for entry in &snapshot.entries {
                    visit(EntryName::from_bytes(&entry.name), entry.stat());
                }
                return Ok(());
            }
            if listings.pending(dir) {
                return Err(Listing::Later);
            }
        }
        let entries = self
            .dir
            .read_dir(dir.relative())
            .map_err(|error| Listing::Failed(Lookup::from_io_error(&error)))?;
        for (read, entry) in entries.enumerate() {
            if read == crate::listings::INLINE
                && let Some(listings) = listings
                && listings.request(dir)
            {
                return Err(Listing::Later);
            }
            // An entry that vanished or cannot be read mid-listing is
            // left out; the rest of the directory is still listed.
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let meta = entry.metadata().ok();
            let stat = self.entry_stat(dir, name.as_encoded_bytes(), meta.as_ref());
            visit(EntryName::from_bytes(name.as_encoded_bytes()), stat);
        }
        Ok(())
    }

    /// What a listing shows of the entry `name` of `dir`, whose own
    /// metadata (not followed) is `meta`: a symbolic link is followed
    /// from the root, beneath it.
    pub(crate) fn entry_stat(
        &self,
        dir: &SafePath,
        name: &[u8],
        meta: Option<&cap_std::fs::Metadata>,
    ) -> Option<EntryStat> {
        let meta = meta?;
        if !meta.is_symlink() {
            return entry_stat(meta);
        }
        let EntryName::Utf8(name) = EntryName::from_bytes(name) else { return None };
        let path = dir.join(name).ok()?;
        entry_stat(&self.dir.metadata(path.relative()).ok()?)
    }
}

/// What a listing shows of a file or directory; `None` for anything else.
fn entry_stat(meta: &cap_std::fs::Metadata) -> Option<EntryStat> {
    let modified = meta.modified().ok().map(cap_std::time::SystemTime::into_std);
    if meta.is_dir() {
        Some(EntryStat::directory(modified))
    } else if meta.is_file() {
        Some(EntryStat::file(meta.len(), modified))
    } else {
        None
    }
}

/// Which file `meta` describes: its device and inode.
pub fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt as _;
    FileId { device: meta.dev(), inode: meta.ino() }
}

/// A file as a response holds it: shared with the worker's cache of open
/// files ([`OpenFiles`]), so a file asked for again is not opened again;
/// a small one also keeps its bytes (see [`SharedFile::contents`]).
#[derive(Clone, Debug)]
pub struct SharedFile(Rc<OpenFile>);

#[derive(Debug)]
struct OpenFile {
    /// Shared with the compressor's cache for a variant compressed on the
    /// fly (no descriptor per response).
    file: Arc<std::fs::File>,
    len: u64,
    modified: Option<SystemTime>,
    contents: std::cell::OnceCell<Box<[u8]>>,
}

/// Files up to this long keep their bytes in the cache once read.
pub const SMALL_FILE: u64 = 16 * 1024;

/// How old a file's modification time must be before its bytes are kept:
/// a file system whose timestamps are coarse (a second) could otherwise
/// see a same-length rewrite within that second go unnoticed.
const SETTLED: Duration = Duration::from_secs(1);

impl SharedFile {
    /// The open file, to stream from.
    pub fn file(&self) -> &std::fs::File {
        &self.0.file
    }

    /// The whole file's bytes if it is small ([`SMALL_FILE`]): from memory
    /// when a request before read them, else read now (one `pread`) and
    /// kept if the file is older than a second. `None` for a larger file.
    /// An error if it cannot be read whole (it shrank).
    pub fn contents(&self) -> Option<io::Result<std::borrow::Cow<'_, [u8]>>> {
        use std::os::unix::fs::FileExt as _;
        let open = &*self.0;
        if open.len > SMALL_FILE {
            return None;
        }
        if let Some(bytes) = open.contents.get() {
            return Some(Ok(std::borrow::Cow::Borrowed(bytes)));
        }
        let mut bytes = vec![0; usize::try_from(open.len).unwrap_or(0)];
        if let Err(error) = open.file.read_exact_at(&mut bytes, 0) {
            return Some(Err(error));
        }
        let settled = open
            .modified
            .is_some_and(|at| SystemTime::now().duration_since(at).is_ok_and(|age| age >= SETTLED));
        if !settled {
            return Some(Ok(std::borrow::Cow::Owned(bytes)));
        }
        Some(Ok(std::borrow::Cow::Borrowed(open.contents.get_or_init(|| bytes.into()))))
    }
}

/// Open files a worker keeps between requests, at most this many (each
/// holds a file descriptor).
pub const OPEN_FILES: usize = 128;

/// A worker's cache of the files (and directories) it looked up, with
/// what they were when opened: for the next request of the same path one
/// `fstatat` tells whether the path still names that very file (same
/// device, inode, length, modification time and kind), and if so the open
/// handle is used again. That saves the `openat2`, `fstat` and `close` of
/// a confined open per request.
///
/// Confinement still holds: the `fstatat` follows the path without
/// cap-std's checks, but only to compare; a file is only ever served from
/// a handle opened beneath the root, and a path that now names anything
/// else (another file, something outside the root) misses and goes
/// through [`RootDir`]'s confined open again. Requests read together
/// share one `fstatat` per path ([`Checked`]); a change is seen by every
/// request sent after it, with the same blind spot as the `ETag`: a
/// rewrite of the same length within one timestamp tick.
#[derive(Debug)]
pub struct OpenFiles {
    root: Arc<RootDir>,
    reads: Arc<Reads>,
    entries: RefCell<HashMap<Box<str>, Cached>>,
    /// Whether the request being answered waited for a listing already,
    /// and whether its answer is to wait (again).
    waited: std::cell::Cell<bool>,
    deferred: std::cell::Cell<bool>,
}

#[derive(Debug)]
struct Cached {
    what: Identity,
    /// `None` for a directory.
    file: Option<SharedFile>,
    /// When the file system last said the path names `what`.
    checked: std::cell::Cell<Checked>,
}

/// When a stat was made, in the order of its worker's reads: it came
/// after every read the worker had made by then. A request read before a
/// stat was sent before it, so any change its client made before sending
/// it is in what that stat saw: the stat can answer for it, and a burst of
/// requests for one file read together costs one `fstatat`. A request
/// read after the stat is not answered from it (its client may have
/// changed the file, then sent it): a change is never missed by a request
/// sent after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The worker's number (0: none), so what one worker saw never answers
    /// for another's reads (a sandbox instance can move between workers).
    worker: u64,
    /// How many reads the worker had made.
    after: u64,
}

/// A worker's reads, numbered: the worker's loop counts the reads that
/// bring bytes ([`Reads::note`]) and says which read brought the input it
/// hands the handler next ([`Reads::serve`]); the worker's open-file cache
/// and its sandbox instance's directory date their checks by it
/// ([`Reads::checked`], [`Reads::answers`]). Passed to each of them when
/// the worker starts (`Handler::worker`), so the flow is in the
/// signatures. Atomics only because a sandbox's directory must be `Sync`:
/// one worker thread uses it.
#[derive(Debug)]
pub struct Reads {
    worker: u64,
    done: AtomicU64,
    serving: AtomicU64,
}

impl Reads {
    /// The reads of a new worker, numbered apart from every other's.
    pub fn new() -> Arc<Self> {
        static WORKERS: AtomicU64 = AtomicU64::new(1);
        let worker = WORKERS.fetch_add(1, Ordering::Relaxed);
        Arc::new(Self { worker, done: AtomicU64::new(0), serving: AtomicU64::new(0) })
    }

    /// A read brought bytes: its number, which goes with the bytes to
    /// [`Reads::serve`].
    pub fn note(&self) -> u64 {
        self.done.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The input handed to the handler next came from reads up to `read`
    /// (0: none: nothing is answered from an earlier check).
    pub fn serve(&self, read: u64) {
        self.serving.store(read, Ordering::Relaxed);
    }

    /// A check made now.
    pub fn checked(&self) -> Checked {
        Checked { worker: self.worker, after: self.done.load(Ordering::Relaxed) }
    }

    /// Whether a check made `then` can answer for the request being
    /// served: its bytes were read before the check.
    pub fn answers(&self, then: Checked) -> bool {
        let serving = self.serving.load(Ordering::Relaxed);
        then.worker == self.worker && serving != 0 && serving <= then.after
    }
}

/// Which file a path names and in what state: device, inode, length,
/// modification time and kind. Two equal identities are the same file,
/// unchanged as far as its metadata tells (the `ETag`'s blind spot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    device: u64,
    inode: u64,
    len: u64,
    mtime: (i64, i64),
    /// `S_IFMT` bits.
    kind: u32,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            kind: meta.mode() & libc::S_IFMT,
        }
    }

    /// What `path` names now, beneath `dir` or not (one `fstatat`,
    /// following a final symbolic link if `follow`): only for comparing
    /// with an identity found through a confined open or stat.
    pub fn at(dir: &cap_std::fs::Dir, path: &str, follow: bool) -> Option<Self> {
        use rustix::fs::AtFlags;
        let flags = if follow { AtFlags::empty() } else { AtFlags::SYMLINK_NOFOLLOW };
        rustix::fs::statat(dir, path, flags).ok().map(|stat| Self::of_stat(&stat))
    }

    /// Whether it is this device and inode, of this length.
    pub fn names(&self, id: FileId, len: u64) -> bool {
        self.id() == id && self.len == len
    }

    fn of_stat(stat: &rustix::fs::Stat) -> Self {
        Self {
            device: stat.st_dev,
            inode: stat.st_ino,
            len: u64::try_from(stat.st_size).unwrap_or(u64::MAX),
            mtime: (stat.st_mtime, i64::try_from(stat.st_mtime_nsec).unwrap_or(i64::MAX)),
            kind: stat.st_mode & libc::S_IFMT,
        }
    }

    fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    fn modified(&self) -> Option<SystemTime> {
        let (secs, nanos) = self.mtime;
        let nanos = Duration::from_nanos(u64::try_from(nanos).ok()?);
        match u64::try_from(secs) {
            Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs) + nanos),
            Err(_) => UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .and_then(|t| t.checked_add(nanos)),
        }
    }

    fn id(&self) -> FileId {
        FileId { device: self.device, inode: self.inode }
    }
}

impl OpenFiles {
    /// An empty cache over `root`, its checks dated by `reads`.
    pub fn new(root: Arc<RootDir>, reads: Arc<Reads>) -> Self {
        Self {
            root,
            reads,
            entries: RefCell::default(),
            waited: std::cell::Cell::new(false),
            deferred: std::cell::Cell::new(false),
        }
    }

    /// What `path` names, a file opened beneath the root, from the cache
    /// when the path still names the cached file.
    pub fn open(&self, path: &SafePath) -> io::Result<Opened> {
        self.open_seen(path, None)
    }

    /// [`OpenFiles::open`], when the caller has just taken `seen`, what
    /// [`Identity::at`] (following symbolic links) says of the same path
    /// beneath the same root: the cached handle is reused if it is that
    /// file, without asking the file system again. portico-wasi's guest
    /// stats each file it serves right before the host opens it.
    pub fn open_seen(&self, path: &SafePath, seen: Option<Identity>) -> io::Result<Opened> {
        let rel = path.relative();
        if seen.is_none()
            && let Some(cached) = self.entries.borrow().get(rel)
            && self.reads.answers(cached.checked.get())
        {
            return Ok(opened(&cached.what, cached.file.as_ref()));
        }
        let now = seen.or_else(|| Identity::at(&self.root.dir, rel, true));
        if let Some(now) = now
            && let Some(cached) = self.entries.borrow().get(rel)
            && cached.what == now
        {
            // Only a look made here dates the check: `seen` may be an
            // earlier look remembered by the caller (portico-wasi answers a
            // guest's stat from its own check), which must not pass for a
            // new one.
            if seen.is_none() {
                cached.checked.set(self.reads.checked());
            }
            return Ok(opened(&cached.what, cached.file.as_ref()));
        }
        let (file, meta) = match self.root.open_file(path) {
            Ok(found) => found,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return self.variant(path).unwrap_or(Err(error));
            }
            Err(error) => return Err(error),
        };
        let what = Identity::of(&meta);
        let file = (what.kind == libc::S_IFREG).then(|| {
            SharedFile(Rc::new(OpenFile {
                file: Arc::new(file),
                len: what.len,
                modified: what.modified(),
                contents: Default::default(),
            }))
        });
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= OPEN_FILES {
            // Simpler than an LRU; a site with more files in use than this
            // pays a confined open per request, as with no cache.
            entries.clear();
        }
        let result = opened(&what, file.as_ref());
        // What the confined open found is as good as a stat.
        let checked = std::cell::Cell::new(self.reads.checked());
        entries.insert(rel.into(), Cached { what, file, checked });
        Ok(result)
    }
}

impl OpenFiles {
    /// Whether the answer just made is to be thrown away, the request
    /// asked again later: it lists a large directory being read off the
    /// loop. Cleared by the call.
    pub fn take_deferred(&self) -> bool {
        self.deferred.replace(false)
    }

    /// The next answer is for a request that waited for a listing (see
    /// [`OpenFiles::take_deferred`]).
    pub fn set_waited(&self, waited: bool) {
        self.waited.set(waited);
    }

    /// For a path the disk has no file at: the variant compressed on the
    /// fly it names (`app.js.br`: `app.js` in brotli), if it is ready
    /// for the file as it is now. `None`: not a variant's name, or not
    /// ready (then queued).
    fn variant(&self, path: &SafePath) -> Option<io::Result<Opened>> {
        // Never an error of its own: not ready is a miss.
        let compress = self.root.compress.as_ref()?;
        let (base, coding) = compress.sibling_of(path)?;
        let Ok(Opened::File { len, modified, id, .. }) = self.open(&base) else { return None };
        let variant = compress.variant(&base, Key { id, len, modified, coding })?;
        let file = Arc::clone(&variant.file);
        let len = variant.len;
        let file =
            SharedFile(Rc::new(OpenFile { file, len, modified, contents: Default::default() }));
        // The file's time and identity: the variant's validators follow
        // the file's, and its `ETag` differs by its coding and length.
        Some(Ok(Opened::File { file, len, modified, id }))
    }
}

/// What a path names, as [`OpenFiles::open`] found it.
#[derive(Debug)]
pub enum Opened {
    /// A directory (not kept open).
    Directory,
    /// A regular file, open for reading.
    File {
        /// The handle, shared with the cache.
        file: SharedFile,
        /// Its length when opened.
        len: u64,
        /// Its modification time.
        modified: Option<SystemTime>,
        /// Its device and inode.
        id: FileId,
    },
    /// Something not to serve: a socket, a FIFO, a device.
    Other,
}

fn opened(what: &Identity, file: Option<&SharedFile>) -> Opened {
    match file {
        Some(file) => Opened::File {
            file: file.clone(),
            len: what.len,
            modified: what.modified(),
            id: what.id(),
        },
        None if what.is_dir() => Opened::Directory,
        None => Opened::Other,
    }
}

impl FileLookup for OpenFiles {
    type Handle = SharedFile;

    fn lookup(&self, path: &SafePath) -> Lookup<SharedFile> {
        match self.open(path) {
            Ok(Opened::Directory) => Lookup::Directory,
            Ok(Opened::File { file, len, modified, id }) => {
                Lookup::File(FileInfo::new(file, len).modified(modified).id(Some(id)))
            }
            // Sockets, FIFOs, devices: not something to serve.
            Ok(Opened::Other) => Lookup::NotFound,
            Err(error) => Lookup::from_io_error(&error),
        }
    }

    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        let wait = if self.waited.get() { Wait::Again } else { Wait::First };
        self.root.list(dir, visit, wait).map_err(|refusal| match refusal {
            Listing::Failed(miss) => miss,
            Listing::Later => {
                self.deferred.set(true);
                Lookup::Failed
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a listing of `dir` visits.
    fn listed(files: &OpenFiles, dir: &SafePath) -> Result<Vec<String>, Lookup<()>> {
        let mut names = Vec::new();
        files.read_dir(dir, &mut |name, stat| {
            if let (EntryName::Utf8(name), Some(_)) = (name, stat) {
                names.push(name.to_owned());
            }
        })?;
        Ok(names)
    }

    #[test]
    fn a_large_directory_is_read_off_the_loop_and_a_small_one_here() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let big = root.path().join("big");
        std::fs::create_dir(&big)?;
        for i in 0..crate::listings::INLINE + 10 {
            std::fs::write(big.join(format!("f{i}")), b"")?;
        }
        std::fs::create_dir(root.path().join("small"))?;
        std::fs::write(root.path().join("small/one"), b"1")?;
        let dir = RootDir::open(root.path())?.listing_off_loop()?;
        let files = OpenFiles::new(Arc::new(dir), Reads::new());

        let small = SafePath::from_normal("small")?;
        assert_eq!(listed(&files, &small).ok(), Some(vec!["one".to_owned()]));
        assert!(!files.take_deferred());

        // The first ask is put off, and so is every ask until the
        // snapshot is there; then the whole directory is listed.
        let big = SafePath::from_normal("big")?;
        assert!(matches!(listed(&files, &big), Err(Lookup::Failed)));
        assert!(files.take_deferred());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let names = loop {
            files.set_waited(true);
            match listed(&files, &big) {
                Ok(names) => break names,
                Err(_) => assert!(files.take_deferred(), "a failure that is not a wait"),
            }
            assert!(std::time::Instant::now() < deadline, "the snapshot never came");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(!files.take_deferred());
        assert_eq!(names.len(), crate::listings::INLINE + 10);
        // Without the off-loop reader (a RootDir as a plain lookup): read
        // here, however large.
        let plain = RootDir::open(root.path())?;
        let mut count = 0;
        plain.read_dir(&big, &mut |_, _| count += 1).map_err(|_| anyhow::anyhow!("read"))?;
        assert_eq!(count, crate::listings::INLINE + 10);
        Ok(())
    }

    /// A web root holding `page.html` with `bytes`, a cache over it, and
    /// the page's path.
    fn page(bytes: &[u8]) -> anyhow::Result<(tempfile::TempDir, OpenFiles, SafePath)> {
        let root = tempfile::tempdir()?;
        std::fs::write(root.path().join("page.html"), bytes)?;
        let files = OpenFiles::new(Arc::new(RootDir::open(root.path())?), Reads::new());
        Ok((root, files, SafePath::from_normal("page.html")?))
    }

    /// Put another file in the page's place by a rename, as a deploy does.
    fn replace(root: &tempfile::TempDir, bytes: &[u8]) -> io::Result<()> {
        let fresh = root.path().join("page.new");
        std::fs::write(&fresh, bytes)?;
        std::fs::rename(&fresh, root.path().join("page.html"))
    }

    fn len_of(files: &OpenFiles, path: &SafePath) -> u64 {
        match files.open(path) {
            Ok(Opened::File { len, .. }) => len,
            other => panic!("not a file: {other:?}"),
        }
    }

    #[test]
    fn a_stat_answers_for_requests_read_before_it_never_after() -> anyhow::Result<()> {
        let (root, files, path) = page(b"first")?;
        let file = root.path().join("page.html");

        // Before the loop says which read brought the input, every open
        // looks at the file system.
        assert_eq!(len_of(&files, &path), 5);
        std::fs::write(&file, b"second")?;
        assert_eq!(len_of(&files, &path), 6);

        // Two requests read together: the first one's stat answers for
        // the second, even if the file changed in between (its client
        // sent it before the stat).
        let reads = &files.reads;
        let (one, two) = (reads.note(), reads.note());
        reads.serve(one);
        assert_eq!(len_of(&files, &path), 6);
        replace(&root, b"the third")?;
        reads.serve(two);
        assert_eq!(len_of(&files, &path), 6);

        // A request read after the stat is not answered from it.
        reads.serve(reads.note());
        assert_eq!(len_of(&files, &path), 9);
        std::fs::remove_file(&file)?;
        reads.serve(reads.note());
        assert!(files.open(&path).is_err());

        // Nor is input that no read brought, or another worker's.
        std::fs::write(&file, b"fourth!")?;
        reads.serve(0);
        assert_eq!(len_of(&files, &path), 7);
        let stat = reads.checked();
        let other = Reads::new();
        other.serve(other.note());
        assert!(!other.answers(stat));
        Ok(())
    }

    #[test]
    fn a_look_handed_in_does_not_pass_for_a_new_one() -> anyhow::Result<()> {
        let (root, files, path) = page(b"second")?;
        let reads = &files.reads;
        let early = reads.note();
        reads.serve(early);
        assert_eq!(len_of(&files, &path), 6);
        let then = Identity::at(&files.root.dir, "page.html", true);

        // The file changes; then a request is read.
        replace(&root, b"the third")?;
        let late = reads.note();

        // The early request, answered from what its caller saw then (as
        // portico-wasi does from the guest's stat), gets that file...
        reads.serve(early);
        assert!(matches!(files.open_seen(&path, then)?, Opened::File { len: 6, .. }));
        // ...which must not count as a look for the late one.
        reads.serve(late);
        assert_eq!(len_of(&files, &path), 9);
        Ok(())
    }
}
