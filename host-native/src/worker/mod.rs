//! One worker thread: a readiness loop (mio, edge-triggered epoll on
//! Linux) over non-blocking sockets. It accepts from the shared listener,
//! reads, steps the handler, writes responses that resume where they
//! stopped, and keeps every connection's deadline in one timer heap.
//! Nothing in it blocks but `poll`.
//!
//! ```text
//! poll ─▶ connections ready ─▶ read each ahead (64 at a time) ─▶ drive each:
//!                                write what is pending ─▶ step ─▶ read ─▶ step … until it waits
//!      ─▶ connections handed over by another worker at the cap ─▶ admit each (close an idle one; else 503)
//!      ─▶ listener ready ─▶ accept up to 16 ─▶ admit (at the cap: close the longest-idle; if none is, serve those
//!                                accepted before it and try again; else hand it to the worker with the most
//!                                idle connections; else 503)
//!                                ─▶ read each ahead ─▶ drive each
//!      ─▶ timers due ─▶ the core's deadline (step with timed_out), a send timeout, a linger's end
//! ```
//!
//! Memory per connection: an idle one (between requests, or before its
//! first byte) holds its socket, the core's state and a few words of
//! bookkeeping; input is read into the worker's buffers (its read-ahead
//! slots, then its one buffer of `max_head` bytes), and only the
//! bytes not yet consumed (a head cut by a packet boundary, a pipelined
//! request behind a response that is still being written) are copied out
//! to the connection.

//!
//! One concern a file: `admit.rs` (accepting, the cap, hand-over, 503),
//! `drive.rs` (one connection's reads, steps and writes), `outgoing.rs`
//! (a response being written, sendfile), `linger.rs` (the end of a
//! connection), `timers.rs` (the deadline heap, waiting, expiry),
//! `idle.rs` (the idle list), `conn.rs` (a connection's state).

mod admit;
mod conn;
mod drive;
mod idle;
mod linger;
mod outgoing;
mod timers;

use std::io;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use self::conn::Conn;
use self::idle::Idle;
use self::outgoing::Outgoing;
use self::timers::Timers;
use crate::access_log::Entry;
use crate::clock;
use crate::files::Reads;
use crate::handler::Handler;
use crate::shared::{Config, Inbox, Shared, on_loopback};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// Connections a worker accepts in one turn before it looks at its other
/// events. Each is served at once (its request is there already: see
/// `server::DEFER_ACCEPT_SECS`),
/// so with many short connections (`Connection: close`) a batch saves a
/// `poll` per connection (epoll_wait calls per connection: 1.0 with one, 0.11
/// with 16); 16 bounds how long the worker's other connections wait. A new
/// connection wakes one worker that waits in `poll` (`watch_listener`), so
/// a burst still spreads over the workers that are free.
const ACCEPT_BATCH: usize = 16;

/// Ready connections read before any is answered, and how much of each
/// (the rest, if any, is read as before): requests read together can
/// share one look at the file system per path (`files::Checked`), so a
/// burst of requests for one file costs one `fstatat`, not one each.
const READ_AHEAD: usize = 64;
const READ_AHEAD_LEN: usize = 4096;

/// After `accept` fails for want of file descriptors, how long the worker
/// stops accepting (the listener stays ready, so it would spin).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How often stderr may say that the cap or the file limit binds.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Watch the shared listener, edge-triggered, with `EPOLLEXCLUSIVE`: a new
/// connection wakes one worker that waits in `poll`, not all of them (all
/// but one found the listener empty: a wake-up and an `epoll_wait` for
/// nothing). A worker that is busy when the connection comes still finds
/// the listener ready at its next `poll`. mio has no such flag, so this one
/// registration is made with rustix on mio's epoll; mio reads its events
/// like any other (the token is the event's data), and `deregister`
/// removes it.
fn watch_listener(registry: &mio::Registry, listener: &TcpListener) -> io::Result<()> {
    use rustix::event::epoll::{self, EventData, EventFlags};
    let flags = EventFlags::IN | EventFlags::ET | EventFlags::EXCLUSIVE;
    let data = EventData::new_u64(LISTENER.0 as u64);
    epoll::add(registry, listener, data, flags).map_err(io::Error::from)
}

/// Run one worker until shutdown has drained its connections.
pub(crate) fn run<H: Handler>(
    handler: &H,
    listener: Arc<TcpListener>,
    shared: &Shared,
    config: &Config,
) -> anyhow::Result<()> {
    let poll = Poll::new().context("cannot create a poll instance")?;
    let waker = Waker::new(poll.registry(), WAKER).context("cannot create a waker")?;
    let inbox = Arc::new(Inbox::new(waker));
    shared.add_inbox(Arc::clone(&inbox));
    watch_listener(poll.registry(), &listener).context("cannot watch the listening socket")?;
    // Connections from this machine to a listener that is not on loopback
    // get the loopback send buffer one by one.
    let local = listener.local_addr().context("cannot read the listening address")?;
    let reads = Reads::new();
    let mut worker = Worker {
        tune_local_peers: !on_loopback(local),
        handler,
        state: handler.worker(Arc::clone(&reads)),
        reads,
        shared,
        inbox,
        config,
        poll,
        listener: Some(listener),
        accept_ready: true,
        accept_paused: None,
        conns: Slab::new(),
        timers: Timers::default(),
        idle: Idle::default(),
        scratch: vec![0; handler.buffer_size().max(1024)],
        ahead: vec![0; READ_AHEAD * READ_AHEAD_LEN],
        ready: Vec::new(),
        again: Vec::new(),
        serial: 0,
        drain_until: None,
        last_report: None,
    };
    let result = worker.run();
    // Connections handed over as it stopped get the 503 they would have
    // had from the worker that accepted them.
    worker.refuse_handed();
    result
}

struct Worker<'a, H: Handler> {
    handler: &'a H,
    state: H::Worker,
    /// This worker's reads, numbered (`files::Reads`), shared with the
    /// handler's file caches.
    reads: Arc<Reads>,
    shared: &'a Shared,
    /// This worker as the others see it.
    inbox: Arc<Inbox>,
    config: &'a Config,
    poll: Poll,
    /// Set `LOOPBACK_SEND_BUFFER` on each connection from a local peer.
    tune_local_peers: bool,
    /// `None` once shutdown began: the last worker to let it go closes
    /// the listening socket, so new clients are refused at once.
    listener: Option<Arc<TcpListener>>,
    /// The listener may hold connections (edge-triggered: it does not say
    /// so again until a new one arrives).
    accept_ready: bool,
    accept_paused: Option<Instant>,
    conns: Slab<Conn<H::Conn>>,
    timers: Timers,
    idle: Idle,
    /// Where every read lands (the longest head the site accepts).
    scratch: Vec<u8>,
    /// [`READ_AHEAD`] slots of [`READ_AHEAD_LEN`] bytes, for the reads
    /// made before a group of ready connections is driven.
    ahead: Vec<u8>,
    /// The connections (slot, serial) found ready by this loop turn.
    ready: Vec<(usize, u64)>,
    /// Connections that yielded with more to write: driven again after
    /// the others had their turn, without waiting for an event.
    again: Vec<(usize, u64)>,
    serial: u64,
    drain_until: Option<Instant>,
    last_report: Option<Instant>,
}

/// What a connection does after a drive.
enum Next {
    /// Wait for readiness or its deadline.
    Wait,
    /// Shut down writes and drain input, then close.
    Linger,
    /// Close now.
    Close,
}

impl<H: Handler> Worker<'_, H> {
    fn run(&mut self) -> anyhow::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.shared.stopping() && self.drain_until.is_none() {
                self.begin_shutdown();
            }
            if let Some(until) = self.drain_until {
                if self.conns.is_empty() {
                    return Ok(());
                }
                if Instant::now() >= until {
                    eprintln!("portico: {} connection(s) still open at shutdown", self.conns.len());
                    return Ok(());
                }
            }
            let timeout = self.poll_timeout();
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error).context("poll failed");
            }
            let mut ready = std::mem::take(&mut self.ready);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_ready = true,
                    WAKER => {}
                    Token(key) => {
                        if let Some(conn) = self.conns.get_mut(key) {
                            let ended = event.is_read_closed() || event.is_error();
                            conn.input = conn.input.on_event(event.is_readable() || ended, ended);
                            ready.push((key, conn.serial));
                        }
                    }
                }
            }
            self.drive_all(&ready);
            ready.clear();
            for (stream, peer) in self.inbox.take() {
                if let Some(conn) = self.admit(stream, peer, &mut ready, true) {
                    ready.push(conn);
                }
            }
            self.accept(&mut ready);
            self.drive_all(&ready);
            ready.clear();
            self.ready = ready;
            self.expire();
            for (key, serial) in std::mem::take(&mut self.again) {
                if self.conns.get(key).is_some_and(|conn| conn.serial == serial) {
                    self.drive(key, false);
                }
            }
        }
    }

    /// How long poll may sleep: until the next deadline, not at all while
    /// connections wait in the listener.
    fn poll_timeout(&self) -> Option<Duration> {
        let can_accept = self.listener.is_some()
            && self.accept_ready
            && self.accept_paused.is_none_or(|until| Instant::now() >= until);
        if can_accept || !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let now = clock::now().mono;
        let timer = self.timers.next().map(|at| at.saturating_duration_since(now));
        let paused =
            self.accept_paused.map(|until| until.saturating_duration_since(Instant::now()));
        let drain = self.drain_until.map(|until| until.saturating_duration_since(Instant::now()));
        [timer, paused, drain].into_iter().flatten().min()
    }

    /// Drive these connections, each group of [`READ_AHEAD`] read first.
    fn drive_all(&mut self, ready: &[(usize, u64)]) {
        for group in ready.chunks(READ_AHEAD) {
            for (slot, &(key, serial)) in group.iter().enumerate() {
                self.read_ahead(key, serial, slot);
            }
            for &(key, serial) in group {
                if self.conns.get(key).is_some_and(|conn| conn.serial == serial) {
                    self.drive(key, false);
                }
            }
        }
    }

    /// Stop accepting; close the connections with nothing to finish.
    fn begin_shutdown(&mut self) {
        self.drain_until = Some(Instant::now() + self.config.drain_timeout);
        if let Some(listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut SourceFd(&listener.as_raw_fd()));
        }
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            // An idle connection closes at once; one reading a request or
            // writing a response finishes it first.
            self.drive(key, false);
        }
    }

    fn may_report(&mut self) -> bool {
        let now = Instant::now();
        if self.last_report.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
            return false;
        }
        self.last_report = Some(now);
        true
    }
}

fn log<C>(shared: &Shared, conn: &Conn<C>, out: &Outgoing, input: &[u8]) {
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
