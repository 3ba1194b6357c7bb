//! How the core asks about files without opening any: the [`FileLookup`]
//! trait a host implements, and [`MemoryLookup`] for tests and fuzzing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::SafePath;

/// Access to the files below a web root. Hosts implement it over a
/// capability-confined directory; the core only ever calls `lookup`.
pub trait FileLookup {
    /// Whatever the host needs to stream the file later: an open file, a
    /// path, an index. The core never looks inside it.
    type Handle;

    /// What is at `path`. Symbolic links are followed only as far as they
    /// stay below the root; one that leaves it is [`Lookup::NotFound`] or
    /// [`Lookup::Forbidden`], never the outside file.
    fn lookup(&self, path: &SafePath) -> Lookup<Self::Handle>;
}

/// What a lookup found. Misses are expected outcomes, not errors.
#[derive(Debug)]
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

/// A file ready to be sent.
#[derive(Debug)]
pub struct FileInfo<H> {
    /// The host's handle to stream it with.
    pub handle: H,
    /// Its length in bytes at lookup time.
    pub len: u64,
    /// Its modification time, if the file system keeps one.
    pub modified: Option<SystemTime>,
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
            return Lookup::File(FileInfo {
                handle: Arc::clone(contents),
                len: contents.len() as u64,
                modified: *modified,
            });
        }
        let is_dir = path.is_root() || {
            let prefix = format!("{}/", path.as_str());
            self.files.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
        };
        if is_dir { Lookup::Directory } else { Lookup::NotFound }
    }
}
