//! How the core asks about files without opening any: the [`FileLookup`]
//! trait a host implements, and [`MemoryLookup`] for tests and fuzzing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::SafePath;

/// Access to the files below a web root. Hosts implement it over a
/// capability-confined directory. `lookup` is all a host must provide;
/// `read_dir` adds directory listings.
pub trait FileLookup {
    /// Whatever the host needs to stream the file later: an open file, a
    /// path, an index. The core never looks inside it.
    type Handle;

    /// What is at `path`. Symbolic links are followed only as far as they
    /// stay below the root; one that leaves it is [`Lookup::NotFound`] or
    /// [`Lookup::Forbidden`], never the outside file.
    fn lookup(&self, path: &SafePath) -> Lookup<Self::Handle>;

    /// Call `visit` with every entry of the directory at `dir`, in any
    /// order, without `.` and `..`: its name (a name that is not UTF-8 as
    /// [`EntryName::NotUtf8`]: no request path can name it, and the
    /// listing counts it among the entries it cannot show) and what a
    /// listing shows of it ([`EntryStat`]: its kind, length and time, a
    /// symbolic link followed as [`FileLookup::lookup`] would, beneath the
    /// root). The stat is `None` for an entry a lookup would not serve: a
    /// socket, a link out of the root or to nothing, one that vanished or
    /// cannot be read mid-listing. A host answers it from what it has at
    /// hand for the directory (`fstatat` on the open directory; a link
    /// alone needs a walk from the root), so a listing of 10,000 entries
    /// costs 10,000 cheap calls, not 10,000 path walks. On failure, what
    /// a lookup of `dir` would have found instead ([`Lookup::NotFound`],
    /// [`Lookup::Forbidden`], [`Lookup::Failed`]).
    ///
    /// The default has no listings: every directory without an index is
    /// [`Lookup::NotFound`].
    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        let _ = (dir, visit);
        Err(Lookup::NotFound)
    }
}

/// What a listing shows of a directory entry, as [`FileLookup::read_dir`]
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryStat {
    /// A directory (else a regular file).
    pub directory: bool,
    /// The file's length in bytes; 0 for a directory.
    pub len: u64,
    /// When it was last modified, if the file system keeps that.
    pub modified: Option<SystemTime>,
}

impl EntryStat {
    /// A regular file of `len` bytes.
    #[must_use]
    pub fn file(len: u64, modified: Option<SystemTime>) -> Self {
        Self { directory: false, len, modified }
    }

    /// A directory.
    #[must_use]
    pub fn directory(modified: Option<SystemTime>) -> Self {
        Self { directory: true, len: 0, modified }
    }
}

/// The name of a directory entry, as [`FileLookup::read_dir`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryName<'a> {
    /// The name, valid UTF-8.
    Utf8(&'a str),
    /// A name that is not valid UTF-8 (file systems allow any bytes but
    /// `/` and NUL): no request path can name it.
    NotUtf8,
}

impl<'a> EntryName<'a> {
    /// The name from its bytes.
    #[must_use]
    pub fn from_bytes(name: &'a [u8]) -> Self {
        std::str::from_utf8(name).map_or(Self::NotUtf8, Self::Utf8)
    }
}

/// What a lookup found. Misses are expected outcomes, not errors.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup<H> {
    /// A regular file, opened or otherwise ready to stream.
    File(FileInfo<H>),
    /// A directory.
    Directory,
    /// Nothing there (or something that is neither a file nor a directory).
    NotFound,
    /// There, but the server may not read it (403).
    Forbidden,
    /// The lookup failed for another reason (500).
    Failed,
}

impl<H> Lookup<H> {
    /// The one mapping from a file-system error to a lookup outcome, for
    /// every [`FileLookup`] over a real file system (portico's, the WASI
    /// guest's, the WASI host's re-check), so the same condition gets the
    /// same status everywhere:
    ///
    /// | condition | outcome |
    /// |---|---|
    /// | not found, a file used as a directory (`ENOTDIR`), a name too long (`ENAMETOOLONG`) | [`Lookup::NotFound`]: it cannot exist, and a client must not be able to cause 500s at will |
    /// | a symlink loop (`ELOOP`), a socket or device with nothing behind it (`ENXIO`) | [`Lookup::NotFound`]: nothing there to serve |
    /// | permission denied (`EACCES`, `EPERM`), including a symlink that leads out of the root (cap-std reports those so) | [`Lookup::Forbidden`] |
    /// | anything else | [`Lookup::Failed`] |
    ///
    /// The error numbers are the target's own (Linux, WASI preview 1 or
    /// Darwin): the guest and the native host each hand in what their
    /// system returned.
    #[must_use]
    pub fn from_io_error(error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename => {
                Self::NotFound
            }
            ErrorKind::PermissionDenied => Self::Forbidden,
            _ if error.raw_os_error().is_some_and(errno::means_nothing_there) => Self::NotFound,
            _ => Self::Failed,
        }
    }

    /// The status code this outcome is answered with when it is final:
    /// 200 for a file, otherwise the miss's.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::File(_) | Self::Directory => 200,
            Self::NotFound => 404,
            Self::Forbidden => 403,
            Self::Failed => 500,
        }
    }
}

/// The error numbers [`Lookup::from_io_error`] needs beyond what
/// `io::ErrorKind` says on stable Rust (`FilesystemLoop` is unstable).
mod errno {
    #[cfg(target_os = "wasi")]
    const NOTHING_THERE: [i32; 3] =
        [32 /* loop */, 60 /* nxio */, 37 /* nametoolong */];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const NOTHING_THERE: [i32; 3] =
        [40 /* ELOOP */, 6 /* ENXIO */, 36 /* ENAMETOOLONG */];
    #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "openbsd"))]
    const NOTHING_THERE: [i32; 3] =
        [62 /* ELOOP */, 6 /* ENXIO */, 63 /* ENAMETOOLONG */];
    #[cfg(not(any(
        target_os = "wasi",
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "openbsd"
    )))]
    const NOTHING_THERE: [i32; 0] = [];

    pub(super) fn means_nothing_there(code: i32) -> bool {
        NOTHING_THERE.contains(&code)
    }
}

/// A file ready to be sent.
#[derive(Debug)]
#[non_exhaustive]
pub struct FileInfo<H> {
    /// The host's handle to stream it with.
    pub handle: H,
    /// Its length in bytes at lookup time.
    pub len: u64,
    /// Its modification time, if the file system keeps one.
    pub modified: Option<SystemTime>,
    /// Which file it is (device and inode), if the file system says.
    pub id: Option<FileId>,
}

impl<H> FileInfo<H> {
    /// A file of `len` bytes behind `handle`, with no time or identity yet.
    pub fn new(handle: H, len: u64) -> Self {
        Self { handle, len, modified: None, id: None }
    }

    /// With its modification time.
    #[must_use]
    pub fn modified(mut self, modified: Option<SystemTime>) -> Self {
        self.modified = modified;
        self
    }

    /// With its identity.
    #[must_use]
    pub fn id(mut self, id: Option<FileId>) -> Self {
        self.id = id;
        self
    }
}

/// Which file a path led to: a host that re-opens a file someone else
/// looked up (the WASI host, after its guest) checks it is the same one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FileId {
    /// The device the file is on.
    pub device: u64,
    /// The file's inode number on that device.
    pub inode: u64,
}

/// An in-memory web root: files by path, directories implied by them.
#[derive(Clone, Default, Debug)]
pub struct MemoryLookup {
    files: BTreeMap<String, (Arc<[u8]>, Option<SystemTime>)>,
}

impl MemoryLookup {
    /// An empty root.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a file at `path` (`/`-separated, no leading `/`).
    pub fn insert(
        &mut self,
        path: &str,
        contents: impl Into<Arc<[u8]>>,
        modified: Option<SystemTime>,
    ) {
        self.files.insert(path.trim_start_matches('/').to_owned(), (contents.into(), modified));
    }

    /// Builder form of [`MemoryLookup::insert`].
    #[must_use]
    pub fn with(mut self, path: &str, contents: impl Into<Arc<[u8]>>) -> Self {
        self.insert(path, contents, None);
        self
    }
}

impl FileLookup for MemoryLookup {
    type Handle = Arc<[u8]>;

    fn lookup(&self, path: &SafePath) -> Lookup<Arc<[u8]>> {
        if let Some((contents, modified)) = self.files.get(path.as_str()) {
            return Lookup::File(
                FileInfo::new(Arc::clone(contents), contents.len() as u64).modified(*modified),
            );
        }
        let is_dir = path.is_root() || {
            let prefix = format!("{}/", path.as_str());
            self.files.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
        };
        if is_dir { Lookup::Directory } else { Lookup::NotFound }
    }

    fn read_dir(
        &self,
        dir: &SafePath,
        visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
    ) -> Result<(), Lookup<()>> {
        if !matches!(self.lookup(dir), Lookup::Directory) {
            return Err(Lookup::NotFound);
        }
        let prefix = if dir.is_root() { String::new() } else { format!("{}/", dir.as_str()) };
        let mut last: Option<&str> = None;
        for (path, (contents, modified)) in
            self.files.iter().filter_map(|(path, file)| Some((path.strip_prefix(&prefix)?, file)))
        {
            // A file, or the first segment of a directory's files.
            let (name, within) = path.split_once('/').unwrap_or((path, ""));
            if last != Some(name) {
                let stat = if within.is_empty() {
                    EntryStat::file(contents.len() as u64, *modified)
                } else {
                    EntryStat::directory(None)
                };
                visit(EntryName::Utf8(name), Some(stat));
                last = Some(name);
            }
        }
        Ok(())
    }
}
