//! The seam between the server loop (sockets, threads, waiting) and
//! whatever steps the core: the core in-process here, a WASI guest in
//! `portico-wasi`. Either way a step is the core's driver
//! ([`portico_core::Connection::step`]) and its answer the core's
//! [`Step`], its response's head already serialised ([`Written`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use portico_core::{Connection, Moment, Now, Site, Step, Written};

use crate::files::{OpenFiles, Reads, RootDir, SharedFile};

/// Decides what each connection's bytes mean. The server calls it from
/// each of its worker threads at once; a worker steps its connections one
/// at a time.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection protocol state, owned by the worker serving it.
    type Conn;

    /// Per-worker state (a sandbox instance of the worker's own, say),
    /// made on the worker thread, passed to each of its steps.
    type Worker;

    /// State for a new worker thread, whose reads are numbered by `reads`
    /// (the worker's loop counts them; the handler's file caches date
    /// their checks by them).
    fn worker(&self, reads: Arc<Reads>) -> Self::Worker;

    /// The head buffer of a response the loop finished sending, for the
    /// worker's next response (a response then costs no allocation for
    /// its head). By default it is dropped.
    fn recycle(&self, worker: &mut Self::Worker, head: Vec<u8>) {
        let _ = (worker, head);
    }

    /// The site configuration this handler serves with.
    fn site(&self) -> &Site;

    /// State for a new connection.
    fn connect(&self) -> Self::Conn;

    /// Step a connection over its unconsumed bytes (the core's
    /// [`portico_core::Connection::step`]). `timed_out`: the loop woke at
    /// [`Handler::poll_timeout`] with no new bytes, so the connection's
    /// deadline applies first. A rejection's `consumed` is 0: it closes.
    /// A step must not block: every other connection of the worker waits
    /// for it.
    fn step(
        &self,
        worker: &mut Self::Worker,
        conn: &mut Self::Conn,
        input: &[u8],
        now: Now,
        timed_out: bool,
    ) -> Step<Written<SharedFile>>;

    /// When to wake `conn` if no bytes come.
    fn poll_timeout(&self, conn: &Self::Conn) -> Option<Moment>;

    /// True while `conn` waits for a request head: with nothing buffered,
    /// shutdown may close it.
    fn awaiting_head(&self, conn: &Self::Conn) -> bool;

    /// True once `conn`'s client has sent its last request whole and
    /// nothing more should come ([`portico_core::Connection::input_complete`]):
    /// with nothing buffered the loop then closes after the response
    /// instead of a lingering close. False, the default, always lingers.
    fn input_complete(&self, conn: &Self::Conn) -> bool {
        let _ = conn;
        false
    }

    /// The read buffer size: the longest head the site accepts, so a head
    /// never needs more room than there is.
    fn buffer_size(&self) -> usize {
        self.site().limits.max_head
    }

    /// Stack size for a worker thread.
    fn stack_size(&self) -> usize {
        512 * 1024
    }

    /// Serve from now on as `site` says (`SIGHUP`): requests already
    /// being answered finish as before, connections stay open. The limits
    /// (sizes, timeouts) stay those of [`Handler::site`]: buffers and
    /// waits were sized by them.
    fn reload(&self, site: Site) -> anyhow::Result<()> {
        let _ = site;
        anyhow::bail!("this server cannot reload its configuration")
    }
}

/// Free head buffers a worker keeps, so a response costs no allocation
/// for its head: the server loop gives each back when its response is
/// sent ([`Handler::recycle`]), and the worker's next response takes it.
#[derive(Debug, Default)]
pub struct SpareHeads {
    heads: Vec<Vec<u8>>,
}

impl SpareHeads {
    /// At most this many are kept.
    const KEPT: usize = 64;
    /// A head that carried a big generated body (a listing of up to
    /// 3 MiB) is not kept.
    const LARGEST: usize = 32 * 1024;

    /// An empty buffer for a response head, one a response finished with
    /// if there is one: `portico-wasi` copies the guest's head into it.
    pub fn take(&mut self) -> Vec<u8> {
        self.heads.pop().unwrap_or_default()
    }

    /// Keep `head` for [`SpareHeads::take`], unless enough are kept or it
    /// is big.
    pub fn keep(&mut self, mut head: Vec<u8>) {
        if head.capacity() <= Self::LARGEST && self.heads.len() < Self::KEPT {
            head.clear();
            self.heads.push(head);
        }
    }
}

/// A value a reload replaces (the site) and every request reads. Each
/// worker keeps a [`Snapshot`] and takes the lock only when the generation
/// moved: a lock and an `Arc` count taken per request are cache lines
/// written by every core, and they bounced between the workers.
#[derive(Debug)]
pub struct Reloadable<T> {
    generation: AtomicU64,
    value: RwLock<Arc<T>>,
}

impl<T> Reloadable<T> {
    /// The first generation of `value`.
    pub fn new(value: T) -> Self {
        Self { generation: AtomicU64::new(0), value: RwLock::new(Arc::new(value)) }
    }

    /// `value` from now on: every snapshot sees it at its next read.
    pub fn replace(&self, value: T) {
        let mut current = self.value.write().unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(value);
        // Under the lock, so a snapshot's generation names its value.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// How many times it was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The value now, with its generation.
    pub fn snapshot(&self) -> Snapshot<T> {
        let current = self.value.read().unwrap_or_else(PoisonError::into_inner);
        Snapshot { generation: self.generation(), value: Arc::clone(&current) }
    }
}

/// One reader's copy of a [`Reloadable`] value.
#[derive(Debug)]
pub struct Snapshot<T> {
    generation: u64,
    value: Arc<T>,
}

impl<T> Snapshot<T> {
    /// The value `of` holds now: this copy, unless it was replaced since.
    pub fn current(&mut self, of: &Reloadable<T>) -> &T {
        if of.generation() != self.generation {
            *self = of.snapshot();
        }
        &self.value
    }

    /// The generation this copy is of.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// This copy, however old.
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }
}

/// The core, in-process, over a real directory.
#[derive(Debug)]
pub struct NativeHandler {
    root: Arc<RootDir>,
    /// The site at start: its limits size the buffers.
    site: Site,
    /// The site requests are answered with, replaced by a reload.
    current: Reloadable<Site>,
}

impl NativeHandler {
    /// Serve `root` as `site` says.
    pub fn new(root: RootDir, site: Site) -> Self {
        let current = Reloadable::new(site.clone());
        Self { root: Arc::new(root), site, current }
    }
}

/// What a worker thread of [`NativeHandler`] keeps: the files it opened
/// (see [`OpenFiles`]) and its copy of the site.
#[derive(Debug)]
pub struct NativeWorker {
    files: OpenFiles,
    site: Snapshot<Site>,
    heads: SpareHeads,
}

/// A connection as [`NativeHandler`] keeps it: the core's state, and,
/// while a listing it asked for is read off the loop, when to step it
/// again.
#[derive(Debug)]
pub struct NativeConn {
    core: Connection,
    retry_at: Option<Moment>,
}

/// How soon a request put off for a large listing is stepped again.
pub const RETRY: std::time::Duration = std::time::Duration::from_millis(5);

impl Handler for NativeHandler {
    type Conn = NativeConn;
    type Worker = NativeWorker;

    fn worker(&self, reads: Arc<Reads>) -> NativeWorker {
        NativeWorker {
            files: OpenFiles::new(Arc::clone(&self.root), reads),
            site: self.current.snapshot(),
            heads: SpareHeads::default(),
        }
    }

    fn recycle(&self, worker: &mut NativeWorker, head: Vec<u8>) {
        worker.heads.keep(head);
    }

    fn site(&self) -> &Site {
        &self.site
    }

    fn connect(&self) -> NativeConn {
        NativeConn { core: Connection::new(self.site.limits), retry_at: None }
    }

    fn step(
        &self,
        NativeWorker { files, site, heads }: &mut NativeWorker,
        conn: &mut NativeConn,
        input: &[u8],
        now: Now,
        timed_out: bool,
    ) -> Step<Written<SharedFile>> {
        let waited = conn.retry_at.take().is_some();
        if timed_out {
            // Only a deadline that passed applies (a retry's wake is not one).
            conn.core.handle_timeout(now.mono);
        }
        let before = conn.core;
        files.set_waited(waited);
        let step = conn.core.step(input, now, site.current(&self.current), &*files);
        if files.take_deferred() {
            // A large directory is being read off the loop: as if these
            // bytes had not been looked at, until it is read.
            conn.core = before;
            conn.retry_at = Some(now.mono.saturating_add(RETRY));
            return Step::NeedMore;
        }
        step.written(heads.take())
    }

    fn poll_timeout(&self, conn: &NativeConn) -> Option<Moment> {
        match (conn.core.poll_timeout(), conn.retry_at) {
            (Some(deadline), Some(retry)) => Some(deadline.min(retry)),
            (deadline, retry) => deadline.or(retry),
        }
    }

    fn awaiting_head(&self, conn: &NativeConn) -> bool {
        conn.core.awaiting_head()
    }

    fn input_complete(&self, conn: &NativeConn) -> bool {
        conn.core.input_complete()
    }

    fn reload(&self, mut site: Site) -> anyhow::Result<()> {
        site.limits = self.site.limits;
        self.current.replace(site);
        Ok(())
    }
}
