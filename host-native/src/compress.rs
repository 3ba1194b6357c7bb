//! Compression on the fly, done once: when a client that accepts a coding
//! asks for a compressible file that has no precompressed sibling on
//! disk, the file is compressed once per coding, off the event loop, at a
//! high level, and the result is kept in a bounded cache and served from
//! then on exactly as a sibling `NAME.br` / `NAME.zst` / `NAME.gz` would be.
//!
//! The core needs no part in it: its negotiation looks the sibling up,
//! and [`crate::OpenFiles`] (and portico-wasi's stat of the guest's
//! lookups) answer that lookup from here when the disk has no such file.
//! Until a variant is ready, the lookup misses and the request gets what
//! it got before: the file itself.
//!
//! - **Keyed by the file's identity and validators** (device, inode,
//!   length, modification time): a changed file is a new key, so a stale
//!   variant is never served; it ages out of the cache.
//! - **Off the loop**: one background thread compresses; a worker only
//!   looks the cache up and, on a miss, queues the job (a burst of
//!   requests for a new file queues it once). The thread opens the file
//!   beneath the root itself and checks it is still the one the key
//!   names.
//! - **Bounded**: variants live in memory (`memfd`, so they are sent with
//!   `sendfile` like any file) up to the cache size and [`MAX_VARIANTS`]
//!   of them, least recently used out first. A variant not smaller than its file is remembered as
//!   such, so it is not tried again.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use portico_core::fields::Coding;
use portico_core::{FileId, SafePath};

use crate::files::RootDir;

/// Files smaller than this are not compressed (little to gain); larger
/// than [`MAX_SOURCE`], neither (too long to hold the thread).
const MIN_SOURCE: u64 = 256;
/// See [`MIN_SOURCE`].
const MAX_SOURCE: u64 = 32 << 20;
/// Above this, a lower level: brotli 11 runs at about 1 MB/s.
const HIGHEST_LEVEL_UP_TO: u64 = 4 << 20;

/// Variants kept at most, whatever their size: each holds a descriptor
/// (the server keeps this many out of its connection budget).
pub const MAX_VARIANTS: usize = 256;

/// Jobs waiting at most; a miss with the queue full is not queued (the
/// next request for the file queues it again).
const QUEUE: usize = 256;

/// Which file, in which state, in which coding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    /// The file's device and inode.
    pub id: FileId,
    /// Its length.
    pub len: u64,
    /// Its modification time.
    pub modified: Option<SystemTime>,
    /// The coding.
    pub coding: Coding,
}

/// A file's bytes in one coding, ready to send.
#[derive(Debug)]
pub struct Variant {
    /// The compressed bytes, in a sealed in-memory file, shared with the
    /// responses sending them.
    pub file: Arc<std::fs::File>,
    /// How many.
    pub len: u64,
}

/// The compressed variants of a root's files, and the thread that makes
/// them.
#[derive(Debug)]
pub struct Compressor {
    cache: Mutex<Cache>,
    jobs: SyncSender<Job>,
    types: Vec<String>,
    /// Jobs done, for the tests and the curious.
    made: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Job {
    path: SafePath,
    key: Key,
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    /// Jobs queued or being done.
    pending: HashSet<Key>,
    /// Bytes held by ready variants.
    used: u64,
    limit: u64,
    /// Advances on every hit: an entry's last use.
    clock: u64,
}

#[derive(Debug)]
enum Entry {
    Ready {
        variant: Arc<Variant>,
        used: u64,
    },
    /// Not smaller than the file (or too large to keep): not worth
    /// sending, not tried again.
    NotWorth,
}

impl Compressor {
    /// A cache of `limit` bytes over `root`, compressing files of these
    /// media types, with its thread started; `None` for a limit of 0.
    pub fn start(root: RootDir, limit: u64, types: Vec<String>) -> io::Result<Option<Arc<Self>>> {
        if limit == 0 {
            return Ok(None);
        }
        let (jobs, queue) = std::sync::mpsc::sync_channel(QUEUE);
        let cache = Mutex::new(Cache { limit, ..Cache::default() });
        let compressor = Arc::new(Self { cache, jobs, types, made: Default::default() });
        let worker = Arc::downgrade(&compressor);
        std::thread::Builder::new()
            .name("compress".into())
            .spawn(move || run(&root, &queue, &worker))?;
        Ok(Some(compressor))
    }

    /// The coding a sibling path names, and the file it is a sibling of,
    /// if that file's media type is one to compress: `app.js.br` is
    /// brotli of `app.js`.
    pub fn sibling_of(&self, path: &SafePath) -> Option<(SafePath, Coding)> {
        let name = path.as_str();
        let (coding, base) = Coding::ALL
            .iter()
            .find_map(|&coding| Some((coding, name.strip_suffix(coding.extension())?)))?;
        let base = SafePath::from_normal(base).ok()?;
        let media = portico_core::media_type(base.file_name());
        self.compresses(media).then_some((base, coding))
    }

    fn compresses(&self, media: &str) -> bool {
        let media = media.split(';').next().unwrap_or_default().trim();
        self.types.iter().any(|wanted| match wanted.strip_suffix("/*") {
            Some(kind) => media.split('/').next().is_some_and(|k| k.eq_ignore_ascii_case(kind)),
            None => wanted.eq_ignore_ascii_case(media),
        })
    }

    /// The variant of the file at `path` (whose identity is `key`, as its
    /// caller just found it beneath the root) if it is ready; otherwise
    /// its making is queued, once, and `None`.
    pub fn variant(&self, path: &SafePath, key: Key) -> Option<Arc<Variant>> {
        if !(MIN_SOURCE..=MAX_SOURCE).contains(&key.len) {
            return None;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.clock += 1;
        let now = cache.clock;
        match cache.entries.get_mut(&key) {
            Some(Entry::Ready { variant, used }) => {
                *used = now;
                return Some(Arc::clone(variant));
            }
            Some(Entry::NotWorth) => return None,
            None => {}
        }
        if cache.pending.contains(&key) {
            return None;
        }
        match self.jobs.try_send(Job { path: path.clone(), key }) {
            Ok(()) => {
                cache.pending.insert(key);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
        None
    }

    /// Bytes the ready variants hold (never above the limit).
    pub fn used(&self) -> u64 {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).used
    }

    /// How many compressions were done (whether worth keeping or not).
    pub fn made(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Cache {
    /// Keep `variant` for `key`, making room by dropping the least
    /// recently used variants; one larger than the whole cache is
    /// remembered as not worth it.
    fn insert(&mut self, key: Key, variant: Option<Variant>) {
        self.pending.remove(&key);
        let Some(variant) = variant.filter(|v| v.len <= self.limit) else {
            self.entries.insert(key, Entry::NotWorth);
            return;
        };
        let mut ready = self.entries.values().filter(|e| matches!(e, Entry::Ready { .. })).count();
        while self.used + variant.len > self.limit || ready >= MAX_VARIANTS {
            let oldest = self
                .entries
                .iter()
                .filter_map(|(key, entry)| match entry {
                    Entry::Ready { used, .. } => Some((*used, *key)),
                    Entry::NotWorth => None,
                })
                .min_by_key(|&(used, _)| used);
            let Some((_, oldest)) = oldest else { break };
            if let Some(Entry::Ready { variant, .. }) = self.entries.remove(&oldest) {
                self.used -= variant.len;
                ready -= 1;
            }
        }
        // Markers cost a few bytes each; a site of many files changing
        // often must not grow them without end.
        if self.entries.len() >= 100_000 {
            self.entries.retain(|_, entry| matches!(entry, Entry::Ready { .. }));
        }
        self.used += variant.len;
        self.clock += 1;
        let used = self.clock;
        self.entries.insert(key, Entry::Ready { variant: Arc::new(variant), used });
    }
}

/// The compression thread: one job at a time, until the compressor is
/// dropped.
fn run(root: &RootDir, queue: &Receiver<Job>, compressor: &std::sync::Weak<Compressor>) {
    while let Ok(Job { path, key }) = queue.recv() {
        let variant = make(root, &path, key).unwrap_or(None);
        let Some(compressor) = compressor.upgrade() else { return };
        compressor.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut cache = compressor.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, variant);
    }
}

/// Read the file at `path` beneath `root`, if it is still the file `key`
/// names, and compress it; `None` if the result is not smaller.
fn make(root: &RootDir, path: &SafePath, key: Key) -> io::Result<Option<Variant>> {
    let (file, meta) = root.open_file(path)?;
    let same = |meta: &std::fs::Metadata| {
        crate::files::file_id(meta) == key.id
            && meta.len() == key.len
            && meta.modified().ok() == key.modified
    };
    if !meta.is_file() || !same(&meta) {
        return Ok(None);
    }
    let mut source = vec![0; usize::try_from(key.len).unwrap_or(0)];
    file.read_exact_at(&mut source, 0)?;
    // Changed while being read: what was read may be torn.
    if !same(&file.metadata()?) {
        return Ok(None);
    }
    let compressed = encode(&source, key.coding)?;
    if compressed.len() as u64 >= key.len {
        return Ok(None);
    }
    let memory = rustix::fs::memfd_create(
        "portico-variant",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )?;
    let mut memory = std::fs::File::from(memory);
    memory.write_all(&compressed)?;
    // Sealed: nothing can change the bytes a response is sending.
    rustix::fs::fcntl_add_seals(
        &memory,
        rustix::fs::SealFlags::SHRINK
            | rustix::fs::SealFlags::GROW
            | rustix::fs::SealFlags::WRITE
            | rustix::fs::SealFlags::SEAL,
    )?;
    Ok(Some(Variant { file: Arc::new(memory), len: compressed.len() as u64 }))
}

/// `source` in `coding`, at a high level: brotli 11, zstd 19, gzip 9
/// (above [`HIGHEST_LEVEL_UP_TO`]: brotli 9, zstd 15).
pub fn encode(source: &[u8], coding: Coding) -> io::Result<Vec<u8>> {
    let highest = source.len() as u64 <= HIGHEST_LEVEL_UP_TO;
    let mut out = Vec::with_capacity(source.len() / 3);
    match coding {
        Coding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: if highest { 11 } else { 9 },
                lgwin: 22,
                size_hint: source.len(),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &source[..], &mut out, &params)?;
        }
        Coding::Zstd => {
            out = zstd::bulk::compress(source, if highest { 19 } else { 15 })?;
        }
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::best());
            encoder.write_all(source)?;
            out = encoder.finish()?;
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Read as _;

    use super::*;

    #[test]
    fn each_coding_round_trips() {
        let source: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("line {} of text\n", i % 97).into_bytes())
            .collect();
        for coding in Coding::ALL {
            let packed = encode(&source, coding).unwrap();
            assert!(packed.len() * 10 < source.len(), "{coding:?}: {}", packed.len());
            let mut unpacked = Vec::new();
            match coding {
                Coding::Brotli => {
                    brotli::BrotliDecompress(&mut &packed[..], &mut unpacked).unwrap();
                }
                Coding::Zstd => unpacked = zstd::bulk::decompress(&packed, source.len()).unwrap(),
                Coding::Gzip => {
                    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
                }
            }
            assert_eq!(unpacked, source, "{coding:?}");
        }
    }

    fn variant(len: u64) -> Option<Variant> {
        let file = Arc::new(std::fs::File::open("/dev/null").unwrap());
        Some(Variant { file, len })
    }

    fn key(inode: u64) -> Key {
        Key { id: FileId { device: 1, inode }, len: 1000, modified: None, coding: Coding::Gzip }
    }

    #[test]
    fn the_cache_keeps_within_its_size_least_recently_used_out() {
        let mut cache = Cache { limit: 250, ..Cache::default() };
        cache.insert(key(1), variant(100));
        cache.insert(key(2), variant(100));
        // A use of 1 makes 2 the oldest.
        cache.clock += 1;
        if let Some(Entry::Ready { used, .. }) = cache.entries.get_mut(&key(1)) {
            *used = cache.clock;
        }
        cache.insert(key(3), variant(100));
        assert_eq!(cache.used, 200);
        assert!(matches!(cache.entries.get(&key(1)), Some(Entry::Ready { .. })));
        assert!(!cache.entries.contains_key(&key(2)));
        assert!(matches!(cache.entries.get(&key(3)), Some(Entry::Ready { .. })));
        // At most MAX_VARIANTS, however small.
        let mut many = Cache { limit: u64::MAX, ..Cache::default() };
        for inode in 0..MAX_VARIANTS as u64 + 10 {
            many.insert(key(100 + inode), variant(1));
        }
        assert_eq!(many.used, MAX_VARIANTS as u64);
        // Larger than the whole cache: remembered as not worth it.
        cache.insert(key(4), variant(300));
        assert!(matches!(cache.entries.get(&key(4)), Some(Entry::NotWorth)));
        assert_eq!(cache.used, 200);
    }

    #[test]
    fn a_burst_of_misses_compresses_once_and_a_changed_file_is_a_new_key() {
        let dir = tempfile::TempDir::new().unwrap();
        let source: Vec<u8> =
            (0..20_000u32).flat_map(|i| format!("{}\n", i % 91).into_bytes()).collect();
        std::fs::write(dir.path().join("app.js"), &source).unwrap();
        let root = RootDir::open(dir.path()).unwrap();
        let types = vec!["application/javascript".to_owned(), "text/*".to_owned()];
        let compressor = Compressor::start(root, 1 << 20, types).unwrap().unwrap();
        let path = SafePath::from_normal("app.js").unwrap();
        let (sibling, coding) =
            compressor.sibling_of(&SafePath::from_normal("app.js.gz").unwrap()).unwrap();
        assert_eq!((sibling.as_str(), coding), ("app.js", Coding::Gzip));
        assert!(compressor.sibling_of(&SafePath::from_normal("a.png.gz").unwrap()).is_none());
        assert!(compressor.sibling_of(&SafePath::from_normal("app.js").unwrap()).is_none());
        let meta = std::fs::metadata(dir.path().join("app.js")).unwrap();
        let key = Key {
            id: crate::files::file_id(&meta),
            len: meta.len(),
            modified: meta.modified().ok(),
            coding: Coding::Gzip,
        };
        for _ in 0..200 {
            if compressor.variant(&path, key).is_some() {
                break;
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let variant = loop {
            if let Some(variant) = compressor.variant(&path, key) {
                break variant;
            }
            assert!(std::time::Instant::now() < deadline, "never compressed");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(compressor.made(), 1, "a burst compresses once");
        assert_eq!(compressor.used(), variant.len);
        let mut packed = vec![0; usize::try_from(variant.len).unwrap()];
        variant.file.read_exact_at(&mut packed, 0).unwrap();
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, source);
        // A key the file no longer matches (another time): compressed
        // from the file as it is, the job finds it is not that file, and
        // nothing is kept for it.
        let stale = Key { modified: None, ..key };
        assert!(compressor.variant(&path, stale).is_none());
        while compressor.made() < 2 {
            assert!(std::time::Instant::now() < deadline, "the stale job never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(compressor.variant(&path, stale).is_none());
    }
}
