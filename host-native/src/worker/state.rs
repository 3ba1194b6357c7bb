//! What a worker holds: its connections and their deadlines, its buffers,
//! the idle list, and its link to the others. The loop (`event_loop.rs`)
//! and every concern's file work on it; it depends only on the leaf
//! types (`conn.rs`, `idle.rs`, `outgoing.rs`, `timers.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::Poll;
use mio::net::TcpListener;
use slab::Slab;

use super::conn::Conn;
use super::idle::Idle;
use super::outgoing::Outgoing;
use super::timers::Timers;
use crate::access_log::Entry;
use crate::clock;
use crate::files::Reads;
use crate::handler::Handler;
use crate::shared::{Config, Inbox, Shared};

/// Connections a worker accepts in one turn before it looks at its other
/// events. Each is served at once (its request is there already: see
/// `server::DEFER_ACCEPT_SECS`),
/// so with many short connections (`Connection: close`) a batch saves a
/// `poll` per connection (epoll_wait calls per connection: 1.0 with one, 0.11
/// with 16); 16 bounds how long the worker's other connections wait. A new
/// connection wakes one worker that waits in `poll` (`watch_listener`), so
/// a burst still spreads over the workers that are free.
pub(super) const ACCEPT_BATCH: usize = 16;

/// Ready connections read before any is answered, and how much of each
/// (the rest, if any, is read as before): requests read together can
/// share one look at the file system per path (`files::Checked`), so a
/// burst of requests for one file costs one `fstatat`, not one each.
pub(super) const READ_AHEAD: usize = 64;
pub(super) const READ_AHEAD_LEN: usize = 4096;

/// After `accept` fails for want of file descriptors, how long the worker
/// stops accepting (the listener stays ready, so it would spin).
pub(super) const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How often stderr may say that the cap or the file limit binds.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// One worker thread: its connections, their deadlines, its buffers.
pub(super) struct Worker<'a, H: Handler> {
    pub(super) handler: &'a H,
    pub(super) state: H::Worker,
    /// This worker's reads, numbered (`files::Reads`), shared with the
    /// handler's file caches.
    pub(super) reads: Arc<Reads>,
    pub(super) shared: &'a Shared,
    /// This worker as the others see it.
    pub(super) inbox: Arc<Inbox>,
    pub(super) config: &'a Config,
    pub(super) poll: Poll,
    /// Set `LOOPBACK_SEND_BUFFER` on each connection from a local peer.
    pub(super) tune_local_peers: bool,
    /// `None` once shutdown began: the last worker to let it go closes
    /// the listening socket, so new clients are refused at once.
    pub(super) listener: Option<Arc<TcpListener>>,
    /// The listener may hold connections (edge-triggered: it does not say
    /// so again until a new one arrives).
    pub(super) accept_ready: bool,
    pub(super) accept_paused: Option<Instant>,
    pub(super) conns: Slab<Conn<H::Conn>>,
    pub(super) timers: Timers,
    pub(super) idle: Idle,
    /// Where every read lands (the longest head the site accepts).
    pub(super) scratch: Vec<u8>,
    /// [`READ_AHEAD`] slots of [`READ_AHEAD_LEN`] bytes, for the reads
    /// made before a group of ready connections is driven.
    pub(super) ahead: Vec<u8>,
    /// The connections (slot, serial) found ready by this loop turn.
    pub(super) ready: Vec<(usize, u64)>,
    /// Connections that yielded with more to write: driven again after
    /// the others had their turn, without waiting for an event.
    pub(super) again: Vec<(usize, u64)>,
    pub(super) serial: u64,
    pub(super) drain_until: Option<Instant>,
    pub(super) last_report: Option<Instant>,
}

/// What a connection does after a drive.
pub(super) enum Next {
    /// Wait for readiness or its deadline.
    Wait,
    /// Shut down writes and drain input, then close.
    Linger,
    /// Close now.
    Close,
}

impl<H: Handler> Worker<'_, H> {
    /// Whether a line about a binding limit may go to stderr now (at
    /// most one every [`REPORT_EVERY`]).
    pub(super) fn may_report(&mut self) -> bool {
        let now = Instant::now();
        if self.last_report.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
            return false;
        }
        self.last_report = Some(now);
        true
    }

    /// Append `key` to the idle list (it is not in it), and publish the
    /// list's length for the other workers.
    pub(super) fn list(&mut self, key: usize) {
        self.idle.push(&mut self.conns, key);
        self.inbox.idle.store(self.idle.count, Ordering::Relaxed);
    }

    /// Take `key` out of the idle list, if it is in it.
    pub(super) fn unlist(&mut self, key: usize) {
        if self.idle.remove(&mut self.conns, key) {
            self.inbox.idle.store(self.idle.count, Ordering::Relaxed);
        }
    }
}

/// The access log's line for a response written (whole or not).
pub(super) fn log<C>(shared: &Shared, conn: &Conn<C>, out: &Outgoing, input: &[u8]) {
    let Some(log) = &shared.log else { return };
    let now = clock::now().mono;
    log.log(&Entry {
        peer: conn.peer,
        when: out.when,
        input,
        status: out.status,
        bytes: out.body_sent(),
        duration: now.saturating_duration_since(conn.began.unwrap_or(now)),
    });
}
