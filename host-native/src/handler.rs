//! The seam between the server loop (sockets, threads, waiting) and
//! whatever decides the HTTP: the core in-process here, a WASI guest in
//! `portico-wasi`. The core in-process answers with its own [`Response`]
//! value; the guest with the head it serialised (`Written`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use portico_core::{Connection, Event, Moment, Response, Site, Written, error_response, respond};

use crate::files::{OpenFiles, RootDir, SharedFile};

/// The two clocks a step needs: wall-clock time for `Date`, monotonic
/// time for deadlines. Read by the server loop, never by the core.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// For `Date` and the access log.
    pub wall: SystemTime,
    /// For deadlines: the time since this process first asked.
    pub mono: Moment,
}

impl Now {
    /// Read the clocks. The monotonic clock is read every time; the wall
    /// clock at most every 100 ms per thread, and derived from the
    /// monotonic one in between (as nginx caches its time): `Date` has
    /// one-second resolution, a clock step shows within 100 ms, and a
    /// request costs one clock read, not two.
    pub fn current() -> Self {
        const REREAD: Duration = Duration::from_millis(100);
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        thread_local! {
            static WALL: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
        }
        let origin = *ORIGIN.get_or_init(Instant::now);
        let now = Instant::now();
        let wall = WALL.with(|cached| match cached.get() {
            Some((at, wall)) if now.saturating_duration_since(at) < REREAD => {
                wall + now.saturating_duration_since(at)
            }
            _ => {
                let wall = SystemTime::now();
                cached.set(Some((now, wall)));
                wall
            }
        });
        Self { wall, mono: Moment::from_duration(now.saturating_duration_since(origin)) }
    }
}

/// What to do next with a connection's buffered bytes.
#[derive(Debug)]
pub enum Step {
    /// Wait for more bytes (until [`Handler::poll_timeout`]) and step
    /// again with the whole unconsumed buffer.
    NeedMore,
    /// Drop this many bytes (request body) and step again.
    Discard(usize),
    /// Drop `consumed` bytes, write `response`, and go on or close as it
    /// says.
    Respond {
        /// Input bytes the request head took (0 for a rejection: the
        /// connection closes anyway).
        consumed: usize,
        /// What to write; file bodies are open files below the web root.
        response: Response<SharedFile>,
    },
    /// As [`Step::Respond`], the head already serialised and checked by
    /// the handler.
    RespondWritten {
        /// Input bytes the request head took (0 for a rejection).
        consumed: usize,
        /// What to write; file bodies are open files below the web root.
        response: Written<SharedFile>,
    },
    /// Close now without writing.
    Close,
}

/// Decides what each connection's bytes mean. The server calls it from
/// each of its worker threads at once; a worker steps its connections one
/// at a time.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection protocol state, owned by the worker serving it.
    type Conn;

    /// Per-worker state (a sandbox instance of the worker's own, say),
    /// made on the worker thread, passed to each of its steps.
    type Worker;

    /// State for a new worker thread.
    fn worker(&self) -> Self::Worker;

    /// The site configuration this handler serves with.
    fn site(&self) -> &Site;

    /// State for a new connection.
    fn connect(&self) -> Self::Conn;

    /// Look at the unconsumed bytes of a connection. `timed_out`: the loop
    /// woke at [`Handler::poll_timeout`] with no new bytes, so the
    /// connection's deadline applies first.
    /// A step must not block: every other connection of the worker waits
    /// for it.
    fn step(
        &self,
        worker: &mut Self::Worker,
        conn: &mut Self::Conn,
        input: &[u8],
        now: Now,
        timed_out: bool,
    ) -> Step;

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

/// Free head buffers kept per thread, so a response costs no allocation
/// for its head: the server loop gives each back when its response is
/// sent, and either handler's next response takes it.
const SPARE_HEADS: usize = 64;
/// A head that carried a big generated body (a listing of up to 3 MiB)
/// is not kept.
const SPARE_HEAD_BYTES: usize = 32 * 1024;

thread_local! {
    static HEADS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty buffer for a response head, one this thread's server loop
/// finished sending if there is one: `portico-wasi` copies the guest's
/// head into it.
pub fn spare_head() -> Vec<u8> {
    HEADS.with_borrow_mut(Vec::pop).unwrap_or_default()
}

/// Keep `head` for [`spare_head`], unless enough are kept or it is big.
pub(crate) fn recycle_head(mut head: Vec<u8>) {
    if head.capacity() <= SPARE_HEAD_BYTES {
        head.clear();
        HEADS.with_borrow_mut(|heads| {
            if heads.len() < SPARE_HEADS {
                heads.push(head);
            }
        });
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
}

impl Handler for NativeHandler {
    type Conn = Connection;
    type Worker = NativeWorker;

    fn worker(&self) -> NativeWorker {
        NativeWorker {
            files: OpenFiles::new(Arc::clone(&self.root)),
            site: self.current.snapshot(),
        }
    }

    fn site(&self) -> &Site {
        &self.site
    }

    fn connect(&self) -> Connection {
        Connection::new(self.site.limits)
    }

    fn step(
        &self,
        NativeWorker { files, site }: &mut NativeWorker,
        conn: &mut Connection,
        input: &[u8],
        now: Now,
        timed_out: bool,
    ) -> Step {
        if timed_out {
            conn.handle_timeout(now.mono);
        }
        match conn.poll(input, now.mono) {
            Event::NeedMore => Step::NeedMore,
            Event::Discard(n) => Step::Discard(n),
            Event::Request(request) => Step::Respond {
                consumed: request.head_len(),
                response: respond(&request, site.current(&self.current), &*files, now.wall),
            },
            Event::Reject(rejection) => {
                Step::Respond { consumed: 0, response: error_response(rejection, now.wall) }
            }
            _ => Step::Close,
        }
    }

    fn poll_timeout(&self, conn: &Connection) -> Option<Moment> {
        conn.poll_timeout()
    }

    fn awaiting_head(&self, conn: &Connection) -> bool {
        conn.awaiting_head()
    }

    fn input_complete(&self, conn: &Connection) -> bool {
        conn.input_complete()
    }

    fn reload(&self, mut site: Site) -> anyhow::Result<()> {
        site.limits = self.site.limits;
        self.current.replace(site);
        Ok(())
    }
}
