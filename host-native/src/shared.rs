//! What the server and its workers share: the socket configuration, the
//! counters and flags of a running server, each worker's inbox (how
//! another thread reaches it), and the one test of a loopback address.
//! Both `server.rs` and `worker/` use it; neither uses the other's
//! insides.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use portico_config::LogFormat;

use crate::access_log::AccessLog;

/// How the server treats its sockets. What a connection may send, and for
/// how long, is the handler's site configuration
/// ([`portico_core::Limits`]): the core owns those deadlines.
#[derive(Clone, Debug)]
pub struct Config {
    /// The program's name, which begins every line it prints on stderr.
    pub name: &'static str,
    /// Connections open at once. A connection beyond it closes the
    /// longest-idle one (a keep-alive connection between requests, or one
    /// that has sent nothing yet); when none is idle it is answered 503.
    /// Lowered at start to what the open-file limit allows.
    pub max_connections: usize,
    /// How long a response may wait for its client to take a single byte
    /// (nginx's `send_timeout`); then the connection is dropped.
    pub send_timeout: Duration,
    /// How long shutdown waits for responses in flight.
    pub drain_timeout: Duration,
    /// Worker threads, each with its own readiness loop; 0 means one per
    /// core, or half the cores (at least one) on a loopback address, whose
    /// clients share the cores; it becomes that number when the server
    /// starts.
    pub workers: usize,
    /// The format of the line per response on stdout; `None` prints none.
    /// Lines go through a bounded queue to a thread of their own: a stdout
    /// that does not keep up loses lines (counted on stderr), never time.
    pub access_log: Option<LogFormat>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: "portico",
            max_connections: portico_config::DEFAULT_MAX_CONNECTIONS as usize,
            send_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            workers: 0,
            access_log: Some(LogFormat::Common),
        }
    }
}

/// True for an address on this machine's loopback, an IPv4-mapped one
/// (`::ffff:127.0.0.1`) included: the one test of where a listener or a
/// peer is, for the worker count and the loopback send buffer.
pub(crate) fn on_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The send buffer of a connection from this machine (the kernel doubles
/// it: 512 KiB). Autotuning grows it to 4 MiB, sized for a network's
/// bandwidth-delay product, which loopback does not have: there one
/// sendfile pushed whole megabytes straight into a receive queue faster
/// than the client drained it, and the client paid for the overflow
/// (pruned queues, retransmits). Measured with wrk on a 10 MiB file: 1.9x
/// the requests/s and less than half the CPU per request of the
/// autotuned buffer; 1 MiB and more brought the loss back.
pub(crate) const LOOPBACK_SEND_BUFFER: usize = 256 * 1024;

/// What the workers and a shutdown trigger share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    stopping: AtomicBool,
    /// Each worker's inbox: its waker, so shutdown reaches a worker
    /// blocked in poll, and where connections are handed to it at the cap.
    inboxes: Mutex<Vec<Arc<Inbox>>>,
    /// Connections open across all workers.
    pub(crate) open: AtomicUsize,
    /// Where connections log their responses, if they do.
    pub(crate) log: Option<AccessLog>,
    /// Connections closed to admit new ones at the cap.
    pub(crate) evicted: AtomicU64,
    /// Connections answered 503 at the cap (none was idle).
    pub(crate) refused: AtomicU64,
    /// Responses dropped because the client took nothing for
    /// [`Config::send_timeout`].
    pub(crate) send_timeouts: AtomicU64,
    /// Responses cut short because their file shrank while it was sent.
    pub(crate) cut_short: AtomicU64,
}

impl Shared {
    /// Nothing stopping yet; lines go to `log`.
    pub(crate) fn new(log: Option<AccessLog>) -> Self {
        Self { log, ..Self::default() }
    }

    /// Begin shutting down: every worker is woken to see it.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        for inbox in self.inboxes.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            // A worker that cannot be woken sees the flag at its next
            // event or timer.
            let _ = inbox.waker.wake();
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub(crate) fn add_inbox(&self, inbox: Arc<Inbox>) {
        self.inboxes.lock().unwrap_or_else(PoisonError::into_inner).push(inbox);
    }

    /// Give a connection accepted at the cap by `from`, which had no idle
    /// connection to close for it, to the worker with the most idle ones:
    /// that one closes its longest-idle connection and serves this one.
    /// The connection stays counted in [`Shared::open`]. Handed back if no
    /// other worker has an idle connection (or it is stopping).
    pub(crate) fn hand_over(&self, from: &Inbox, handed: Handed) -> Result<(), Handed> {
        if self.stopping() {
            return Err(handed);
        }
        let inboxes = self.inboxes.lock().unwrap_or_else(PoisonError::into_inner);
        let target = inboxes
            .iter()
            .filter(|inbox| !std::ptr::eq(inbox.as_ref(), from))
            .map(|inbox| (inbox.idle.load(Ordering::Relaxed), inbox))
            .filter(|&(idle, _)| idle > 0)
            .max_by_key(|&(idle, _)| idle);
        match target {
            Some((_, inbox)) => inbox.give(handed),
            None => Err(handed),
        }
    }
}

/// A connection one worker accepted and another is to serve.
pub(crate) type Handed = (mio::net::TcpStream, SocketAddr);

/// What the other threads see of one worker, and how they reach it.
#[derive(Debug)]
pub(crate) struct Inbox {
    waker: mio::Waker,
    /// How many idle connections it holds (its own count, published for
    /// [`Shared::hand_over`] to read: exact only to within a moment).
    pub(crate) idle: AtomicUsize,
    /// Set when `handed` has connections, so the worker's loop checks a
    /// flag, not a lock, each turn.
    mail: AtomicBool,
    handed: Mutex<Mailbox>,
}

#[derive(Debug, Default)]
struct Mailbox {
    /// Once the worker stops, nothing more is handed to it.
    closed: bool,
    conns: Vec<Handed>,
}

impl Inbox {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Self {
            waker,
            idle: AtomicUsize::new(0),
            mail: AtomicBool::new(false),
            handed: Mutex::default(),
        }
    }

    fn give(&self, handed: Handed) -> Result<(), Handed> {
        let mut mailbox = self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        if mailbox.closed {
            return Err(handed);
        }
        mailbox.conns.push(handed);
        drop(mailbox);
        self.mail.store(true, Ordering::Release);
        // A worker that cannot be woken finds them at its next turn.
        let _ = self.waker.wake();
        Ok(())
    }

    /// The connections handed to this worker since it last looked.
    pub(crate) fn take(&self) -> Vec<Handed> {
        // A load first: the loop asks every turn, and mail is rare.
        if !self.mail.load(Ordering::Relaxed) || !self.mail.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut self.handed.lock().unwrap_or_else(PoisonError::into_inner).conns)
    }

    /// Take no more; what was handed and not taken yet.
    pub(crate) fn close(&self) -> Vec<Handed> {
        let mut mailbox = self.handed.lock().unwrap_or_else(PoisonError::into_inner);
        mailbox.closed = true;
        std::mem::take(&mut mailbox.conns)
    }
}
