//! Large directories are read off the event loop. A listing of a
//! directory of up to [`INLINE`] entries is read on the worker, as it
//! costs little; one of more is read by a background thread into a
//! [`Snapshot`] (every name and its metadata), while the request waits
//! without holding its worker: the handler puts it back as if its bytes
//! had not been answered yet ([`crate::OpenFiles::take_deferred`]) and
//! steps it again a few milliseconds later, until the snapshot is there.
//! A snapshot answers for its directory for [`FRESH`] and only while the
//! directory's own metadata is unchanged (an entry added, removed or
//! renamed changes its modification time); sizes and times of the
//! entries it lists may be that much behind. Then it is dropped: memory
//! holds only the snapshots of the last second (at most 16, and at most
//! [`MAX_KEPT_ENTRIES`] entries in all but the newest), about 100 bytes an
//! entry.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use portico_core::{EntryStat, SafePath};

use crate::files::{Identity, RootDir};

/// A listing reads at most this many entries on the worker; a directory
/// with more is read off the loop.
pub const INLINE: usize = 4096;

/// How long a snapshot answers for its unchanged directory.
pub const FRESH: Duration = Duration::from_secs(1);

/// Snapshots kept at most (then the oldest goes).
const KEPT: usize = 16;

/// Entries the snapshots hold in all at most, but for the newest one
/// (which may be larger alone: it is what a request waits for).
pub const MAX_KEPT_ENTRIES: usize = 1_000_000;

/// Directories waiting to be read at most.
const QUEUE: usize = 64;

/// The snapshots of a root's large directories, and the thread that
/// takes them.
#[derive(Debug)]
pub struct Listings {
    state: Mutex<State>,
    jobs: SyncSender<SafePath>,
}

#[derive(Debug, Default)]
struct State {
    snapshots: HashMap<Box<str>, Arc<Snapshot>>,
    pending: HashSet<Box<str>>,
}

/// A directory's entries and their metadata, as read at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// The directory itself when it was read.
    pub dir: Identity,
    made: Instant,
    /// Every entry but `.` and `..`, sorted by name (bytes).
    pub entries: Vec<SnapEntry>,
}

/// One entry of a [`Snapshot`], kept small: a directory of 100,000
/// entries makes 100,000 of them.
#[derive(Debug)]
pub struct SnapEntry {
    /// Its name, as the file system has it.
    pub name: Box<[u8]>,
    /// Its own metadata (a symbolic link not followed); `None` if it
    /// vanished while being read.
    pub meta: Option<Meta>,
    /// For a symbolic link, what a listing shows of what it leads to,
    /// followed beneath the root (`None`: not served).
    pub followed: Option<Box<EntryStat>>,
}

/// What a snapshot keeps of an entry's own metadata.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Device and inode.
    pub device: u64,
    /// See `device`.
    pub inode: u64,
    /// Length in bytes.
    pub len: u64,
    /// Hard links.
    pub nlink: u64,
    /// Modification time.
    pub modified: Option<std::time::SystemTime>,
    /// What it is.
    pub kind: Kind,
}

/// What an entry is, unfollowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// Anything else (a socket, a FIFO, a device).
    Other,
}

impl Meta {
    fn of(meta: &cap_std::fs::Metadata) -> Self {
        use cap_std::fs::MetadataExt as _;
        let kind = if meta.is_file() {
            Kind::File
        } else if meta.is_dir() {
            Kind::Directory
        } else if meta.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        Self {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            nlink: meta.nlink(),
            modified: meta.modified().ok().map(cap_std::time::SystemTime::into_std),
            kind,
        }
    }
}

impl SnapEntry {
    /// What a listing shows of it.
    pub fn stat(&self) -> Option<EntryStat> {
        let meta = self.meta?;
        match meta.kind {
            Kind::File => Some(EntryStat::file(meta.len, meta.modified)),
            Kind::Directory => Some(EntryStat::directory(meta.modified)),
            Kind::Symlink => self.followed.as_deref().copied(),
            Kind::Other => None,
        }
    }
}

impl Snapshot {
    /// The entry named `name`, and where it is; looked for at `near`
    /// first (a listing asks about the entries in the order it read them).
    pub fn entry(&self, name: &[u8], near: usize) -> Option<(usize, &SnapEntry)> {
        if let Some(entry) = self.entries.get(near)
            && *entry.name == *name
        {
            return Some((near, entry));
        }
        let at = self.entries.binary_search_by(|entry| (*entry.name).cmp(name)).ok()?;
        Some((at, self.entries.get(at)?))
    }
}

impl Listings {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Snapshots of directories below `root` (its own handle), with the
    /// thread that takes them.
    pub fn start(root: RootDir) -> io::Result<Arc<Self>> {
        let (jobs, queue) = std::sync::mpsc::sync_channel(QUEUE);
        let listings = Arc::new(Self { state: Mutex::default(), jobs });
        let weak = Arc::downgrade(&listings);
        std::thread::Builder::new()
            .name("listings".into())
            .spawn(move || run(&root, &queue, &weak))?;
        Ok(listings)
    }

    /// A snapshot of the directory at `dir` that answers for it as it is
    /// now (`now`, its metadata just looked at), if one is there. For a
    /// request that waited for one (`waited`), any snapshot taken within
    /// [`FRESH`] will do: a directory that changes all the time would
    /// otherwise keep it waiting for ever.
    pub fn fresh(&self, dir: &SafePath, now: &Identity, waited: bool) -> Option<Arc<Snapshot>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = state.snapshots.get(dir.as_str())?;
        let current = snapshot.dir == *now || waited;
        (current && snapshot.made.elapsed() < FRESH).then(|| Arc::clone(snapshot))
    }

    /// Whether a snapshot of `dir` is being taken.
    pub fn pending(&self, dir: &SafePath) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).pending.contains(dir.as_str())
    }

    /// Have a snapshot of `dir` taken, unless one is under way. False if
    /// it cannot be (the queue is full): the caller reads it itself.
    pub fn request(&self, dir: &SafePath) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.pending.contains(dir.as_str()) {
            return true;
        }
        if self.jobs.try_send(dir.clone()).is_err() {
            return false;
        }
        state.pending.insert(dir.as_str().into());
        true
    }
}

/// The snapshot thread: one directory at a time, until the listings are
/// dropped.
fn run(root: &RootDir, queue: &Receiver<SafePath>, owner: &std::sync::Weak<Listings>) {
    loop {
        let job = queue.recv_timeout(FRESH);
        let dir = match job {
            Ok(dir) => dir,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // A snapshot answers nothing once it is older than FRESH:
                // its memory (a few hundred bytes an entry) goes.
                let Some(listings) = owner.upgrade() else { return };
                listings.state().snapshots.retain(|_, snapshot| snapshot.made.elapsed() < FRESH);
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let snapshot = take(root, &dir).ok();
        let Some(listings) = owner.upgrade() else { return };
        let mut state = listings.state();
        state.pending.remove(dir.as_str());
        state.snapshots.retain(|_, snapshot| snapshot.made.elapsed() < FRESH);
        let Some(snapshot) = snapshot else { continue };
        let mut held: usize = state.snapshots.values().map(|s| s.entries.len()).sum();
        while state.snapshots.len() >= KEPT
            || (!state.snapshots.is_empty() && held + snapshot.entries.len() > MAX_KEPT_ENTRIES)
        {
            let oldest = state.snapshots.iter().min_by_key(|(_, s)| s.made).map(|(k, _)| k.clone());
            let Some(gone) = oldest.and_then(|oldest| state.snapshots.remove(&oldest)) else {
                break;
            };
            held -= gone.entries.len();
        }
        state.snapshots.insert(dir.as_str().into(), Arc::new(snapshot));
    }
}

/// Read every entry of `dir` and its metadata.
fn take(root: &RootDir, dir: &SafePath) -> io::Result<Snapshot> {
    let mut entries = Vec::new();
    for entry in root.dir().read_dir(dir.relative())? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let meta = entry.metadata().ok();
        let followed = match &meta {
            Some(meta) if meta.is_symlink() => {
                root.entry_stat(dir, name.as_encoded_bytes(), Some(meta)).map(Box::new)
            }
            _ => None,
        };
        let meta = meta.as_ref().map(Meta::of);
        entries.push(SnapEntry { name: name.as_encoded_bytes().into(), meta, followed });
    }
    entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    // The directory as it is after the read: a change while it was read
    // may be half in it, as in any read of a changing directory, and is
    // seen by the next request (its identity differs then).
    let dir_id = Identity::at(root.dir(), dir.relative(), true)
        .ok_or_else(|| io::Error::other("the directory vanished"))?;
    Ok(Snapshot { dir: dir_id, made: Instant::now(), entries })
}
