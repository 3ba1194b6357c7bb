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

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read as _};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use portico_core::{Body, Moment, Now, Segment, Step, Written};
use slab::Slab;
use socket2::SockRef;

use crate::access_log::Entry;
use crate::clock;
use crate::files::{SMALL_FILE, SharedFile};
use crate::handler::{Handler, recycle_head};
use crate::server::{Config, Inbox, LOOPBACK_SEND_BUFFER, Shared, on_loopback};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

/// After the last response, how long and how much to keep reading before
/// closing, so unread request bytes do not turn the close into a reset that
/// destroys the response before the client reads it (as Apache's and
/// nginx's "lingering close").
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

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

/// How many skippable entries the timer heap may hold beyond twice the
/// connections before it is compacted.
const TIMERS_SLACK: usize = 1024;

/// After `accept` fails for want of file descriptors, how long the worker
/// stops accepting (the listener stays ready, so it would spin).
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// How often stderr may say that the cap or the file limit binds.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Bytes one connection may write before the worker turns to its other
/// connections: a fast client taking a large file (a local proxy, say)
/// would otherwise hold the loop for the whole file.
const WRITE_BUDGET: u64 = 2 << 20;

/// A slot index that is no connection (the ends of the idle list).
const NIL: usize = usize::MAX;

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
    let mut worker = Worker {
        tune_local_peers: !on_loopback(local),
        handler,
        state: handler.worker(),
        shared,
        inbox,
        idle_count: 0,
        config,
        poll,
        listener: Some(listener),
        accept_ready: true,
        accept_paused: None,
        conns: Slab::new(),
        timers: BinaryHeap::new(),
        idle: Idle { head: NIL, tail: NIL },
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
    shared: &'a Shared,
    /// This worker as the others see it.
    inbox: Arc<Inbox>,
    /// Connections in the idle list (published in `inbox`).
    idle_count: usize,
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
    /// Deadlines, earliest first: (when, slot, the serial of the
    /// connection it was set for). Entries of closed connections, or for
    /// deadlines since moved later, are skipped when they come up (or
    /// dropped together by `compact_timers`); a
    /// connection adds one only when its deadline moves earlier than the
    /// one it has in the heap, so an idle deadline pushed back after each
    /// request costs nothing here.
    timers: BinaryHeap<Reverse<(Moment, usize, u64)>>,
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

/// The idle connections, longest-idle first: a list threaded through the
/// slots, so joining, leaving and taking the oldest are O(1).
struct Idle {
    head: usize,
    tail: usize,
}

struct Conn<C> {
    stream: TcpStream,
    peer: IpAddr,
    proto: C,
    /// Tells this connection from a later one in the same slot.
    serial: u64,
    /// Watched by the worker's poll (from its first wait on).
    registered: bool,
    /// It read bytes since it last waited: its idle time starts anew.
    active: bool,
    /// Input not consumed yet, kept between readiness events.
    pending: Vec<u8>,
    /// Bytes read ahead: how many, in which slot of `Worker::ahead`.
    ahead: Option<(usize, usize)>,
    /// The number of the last read that brought bytes (`files::note_read`).
    read_mark: u64,
    out: Option<Outgoing>,
    lingering: Option<usize>,
    /// The socket may hold unread bytes (edge-triggered: set by an event,
    /// cleared by a read that did not fill its buffer).
    readable: bool,
    /// The peer shut down its side (EPOLLRDHUP): a short read no longer
    /// means the socket is empty, the end of input is still to be read.
    read_closed: bool,
    /// Its deadline passed: the next step is told.
    timed_out: bool,
    /// A wait for the next request that began at this moment without a
    /// step, so the handler's deadline is not armed yet.
    unarmed: Option<Moment>,
    /// The handler has not seen the input as it is (new bytes, a
    /// response finished): step before reading.
    fresh: bool,
    /// The first step that saw a byte of the request being read.
    began: Option<Moment>,
    deadline: Option<Moment>,
    /// The earliest entry this connection has in the timer heap.
    scheduled: Option<Moment>,
    prev: usize,
    next: usize,
    listed: bool,
}

/// A response being written: where it stands, so a write that would
/// block resumes at the same byte when the socket has room.
struct Outgoing {
    /// The head, and when the body is only bytes, the body after it: one
    /// write for a whole small response.
    head: Vec<u8>,
    status: u16,
    keep_alive: bool,
    body: Body<SharedFile>,
    /// Pieces to write: the head, then each body segment (none when the
    /// body was gathered into `head`).
    pieces: usize,
    /// The piece being written, and how far into it.
    at: usize,
    pos: u64,
    /// Bytes written in all (head included), and the body bytes promised.
    sent: u64,
    head_len: u64,
    consumed: usize,
    when: SystemTime,
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

enum Wrote {
    Done,
    /// The connection used its share of this loop iteration; the socket
    /// may take more.
    Yield,
    /// The socket is full; `progressed`: some bytes went before it filled.
    Blocked {
        progressed: bool,
    },
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
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                conn.readable = true;
                            }
                            conn.read_closed |= event.is_read_closed() || event.is_error();
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
                    self.drive(key);
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
        let timer = self.timers.peek().map(|Reverse((at, ..))| at.saturating_duration_since(now));
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
                    self.drive(key);
                }
            }
        }
    }

    /// Read what a ready connection's socket holds (up to
    /// [`READ_AHEAD_LEN`]) into slot `slot` of the read-ahead buffer; its
    /// drive takes it from there. A connection with a response to write
    /// or a close under way is left to its drive.
    fn read_ahead(&mut self, key: usize, serial: u64, slot: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.serial != serial
            || !conn.readable
            || conn.out.is_some()
            || conn.lingering.is_some()
            || conn.ahead.is_some()
        {
            return;
        }
        let room = READ_AHEAD_LEN.min(self.scratch.len().saturating_sub(conn.pending.len()));
        let from = slot * READ_AHEAD_LEN;
        let Some(buf) = self.ahead.get_mut(from..from + room) else { return };
        if buf.is_empty() {
            return;
        }
        match (&conn.stream).read(buf) {
            Ok(0) => {
                // The end of input: drive reads it again and closes.
                conn.read_closed = true;
            }
            Ok(n) => {
                conn.ahead = Some((slot, n));
                conn.read_mark = crate::files::note_read();
                conn.active = true;
                conn.readable = n == room || conn.read_closed;
                conn.fresh = true;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => conn.readable = false,
            // An error: drive's own read meets it (or the end) and closes.
            Err(_) => {}
        }
    }

    fn accept(&mut self, admitted: &mut Vec<(usize, u64)>) {
        let Some(listener) = self.listener.clone() else { return };
        if !self.accept_ready || self.accept_paused.is_some_and(|until| Instant::now() < until) {
            return;
        }
        self.accept_paused = None;
        for _ in 0..ACCEPT_BATCH {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(conn) = self.admit(stream, peer, admitted, false) {
                        admitted.push(conn);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_ready = false;
                    return;
                }
                Err(error) if is_transient(&error) => {}
                Err(error) => {
                    // Out of file descriptors, say: the listener stays
                    // ready, so back off instead of spinning.
                    if self.may_report() {
                        eprintln!("portico: accept failed: {error}");
                    }
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Take a new connection (its slot and serial, to drive), or refuse
    /// it at the cap. `admitted` are the connections accepted before it in
    /// this batch, not driven yet. `handed`: another worker accepted it
    /// (and counted it in `open`) at the cap, with no idle connection of
    /// its own to close for it.
    fn admit(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        admitted: &mut Vec<(usize, u64)>,
        handed: bool,
    ) -> Option<(usize, u64)> {
        let open = if handed {
            self.shared.open.load(Ordering::Acquire)
        } else {
            self.shared.open.fetch_add(1, Ordering::AcqRel) + 1
        };
        if open > self.config.max_connections && !self.evict() {
            // Those accepted with it are not idle only because they have
            // not been served yet: serve them now, so they close or become
            // idle and make room, as they would had they come one by one.
            // Without this a burst of clients at the cap got 503 all but
            // one.
            self.drive_all(admitted);
            admitted.clear();
            let room = self.shared.open.load(Ordering::Acquire) <= self.config.max_connections;
            if !room && !self.evict() {
                // Another worker may hold idle connections: it closes one
                // and takes this one. A connection is handed over once.
                let (stream, peer) = if handed {
                    (stream, peer)
                } else {
                    match self.shared.hand_over(&self.inbox, (stream, peer)) {
                        Ok(()) => return None,
                        Err(back) => back,
                    }
                };
                self.refuse_counted(stream, peer);
                return None;
            }
        }
        if self.tune_local_peers && on_loopback(peer) {
            let _ = SockRef::from(&stream).set_send_buffer_size(LOOPBACK_SEND_BUFFER);
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        self.serial += 1;
        entry.insert(Conn {
            stream,
            peer: peer.ip().to_canonical(),
            proto: self.handler.connect(),
            serial: self.serial,
            registered: false,
            active: false,
            pending: Vec::new(),
            ahead: None,
            read_mark: 0,
            out: None,
            lingering: None,
            // The listener's deferred accept hands over a connection once
            // its first bytes are here (or a second has passed): reading
            // at once saves a trip through poll.
            readable: true,
            read_closed: false,
            timed_out: false,
            unarmed: None,
            fresh: true,
            began: None,
            deadline: None,
            scheduled: None,
            prev: NIL,
            next: NIL,
            listed: false,
        });
        Some((key, self.serial))
    }

    /// Answer 503 to a connection counted in `open`, and uncount it.
    fn refuse_counted(&self, stream: TcpStream, peer: SocketAddr) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        refuse(stream, peer, self.shared);
    }

    /// Close the inbox; refuse what was handed over and not taken.
    fn refuse_handed(&self) {
        for (stream, peer) in self.inbox.close() {
            self.refuse_counted(stream, peer);
        }
    }

    /// Close the longest-idle connection of this worker to make room (as
    /// nginx reuses its keep-alive connections when it runs out). False if
    /// none is idle.
    fn evict(&mut self) -> bool {
        let oldest = self.idle.head;
        if oldest == NIL {
            return false;
        }
        self.close(oldest);
        let evicted = self.shared.evicted.fetch_add(1, Ordering::Relaxed) + 1;
        if self.may_report() {
            eprintln!(
                "portico: at the connection cap ({}): closing the longest-idle connections \
                 to admit new ones ({evicted} so far)",
                self.config.max_connections
            );
        }
        true
    }

    fn may_report(&mut self) -> bool {
        let now = Instant::now();
        if self.last_report.is_some_and(|at| now.duration_since(at) < REPORT_EVERY) {
            return false;
        }
        self.last_report = Some(now);
        true
    }

    /// Move a connection as far as it goes without waiting: finish the
    /// response being written, step the handler over what is buffered,
    /// read more while it needs more and the socket has it.
    fn drive(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.lingering.is_some() {
            return self.linger(key);
        }
        let scratch = &mut self.scratch;
        let mut end = conn.pending.len().min(scratch.len());
        scratch[..end].copy_from_slice(&conn.pending[..end]);
        conn.pending.clear();
        if let Some((slot, n)) = conn.ahead.take() {
            let from = slot * READ_AHEAD_LEN;
            match (self.ahead.get(from..from + n), scratch.get_mut(end..end + n)) {
                (Some(ahead), Some(room)) => {
                    room.copy_from_slice(ahead);
                    end += n;
                }
                // `read_ahead` leaves room for what is pending, so this
                // cannot be; if it were, closing beats losing bytes.
                _ => return self.close(key),
            }
        }
        let mut start = 0;
        let stopping = self.shared.stopping();
        // The input (or the state) changed since the handler last said it
        // needs more: step before reading.
        let mut fresh = std::mem::take(&mut conn.fresh);
        let next = loop {
            if let Some(out) = conn.out.as_mut() {
                match write_out(&conn.stream, out) {
                    Ok(Wrote::Done) => {
                        let Some(out) = conn.out.take() else { break Next::Close };
                        log(self.shared, conn, &out, &scratch[start..end]);
                        start += out.consumed.min(end - start);
                        conn.began = None;
                        // With nothing more buffered, the handler is not
                        // stepped just to arm its idle deadline (a guest
                        // call for portico-wasi): the wait's start is kept
                        // and given to it if the deadline comes first.
                        fresh = start < end;
                        if !fresh {
                            conn.unarmed = Some(clock::now().mono);
                        }
                        let keep_alive = out.keep_alive;
                        recycle_head(out.head);
                        if !keep_alive || stopping {
                            break Next::Linger;
                        }
                        continue;
                    }
                    Ok(Wrote::Yield) => {
                        let now = clock::now().mono;
                        conn.deadline = Some(now.saturating_add(self.config.send_timeout));
                        self.again.push((key, conn.serial));
                        break Next::Wait;
                    }
                    Ok(Wrote::Blocked { progressed }) => {
                        if progressed || conn.deadline.is_none() {
                            let now = clock::now().mono;
                            conn.deadline = Some(now.saturating_add(self.config.send_timeout));
                        }
                        break Next::Wait;
                    }
                    Err(_) => {
                        if let Some(out) = conn.out.take() {
                            log(self.shared, conn, &out, &scratch[start..end]);
                        }
                        break Next::Close;
                    }
                }
            }
            let woke = std::mem::take(&mut conn.timed_out);
            if fresh || woke {
                fresh = false;
                crate::files::serving(conn.read_mark);
                let now = clock::now();
                let unarmed = conn.unarmed.take();
                if let Some(since) = unarmed
                    && woke
                {
                    // The wait began at `since` with no step: the handler
                    // arms its deadline as of then, and is then told it
                    // passed.
                    let then = Now { wall: now.wall, mono: since };
                    let input = &scratch[start..end];
                    let step =
                        self.handler.step(&mut self.state, &mut conn.proto, input, then, false);
                    if !matches!(step, Step::NeedMore) {
                        break Next::Close;
                    }
                }
                if conn.began.is_none() && start < end {
                    conn.began = Some(now.mono);
                }
                let input = &scratch[start..end];
                let written =
                    match self.handler.step(&mut self.state, &mut conn.proto, input, now, woke) {
                        Step::NeedMore => None,
                        Step::Discard(n) => {
                            start += n.min(end - start);
                            if start == end {
                                // Blank lines or a body skipped: the next
                                // request's time starts with its own bytes.
                                conn.began = None;
                            }
                            fresh = true;
                            continue;
                        }
                        Step::Respond { consumed, response } => Some((consumed, response)),
                        // An idle connection that timed out has nothing unread
                        // to drain; any other close may.
                        _ if woke => break Next::Close,
                        _ => break Next::Linger,
                    };
                if let Some((consumed, response)) = written {
                    match Outgoing::new(response, consumed, now.wall) {
                        Ok(out) => conn.out = Some(out),
                        Err(_) => break Next::Close,
                    }
                    conn.deadline = None;
                    continue;
                }
            }
            // The handler needs more input.
            if stopping && start == end && self.handler.awaiting_head(&conn.proto) {
                break Next::Close;
            }
            if !conn.readable {
                break Next::Wait;
            }
            scratch.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end == scratch.len() {
                // The handler wants more than its own buffer size allows:
                // a handler bug, not the client's fault.
                break Next::Close;
            }
            match (&conn.stream).read(&mut scratch[end..]) {
                Ok(0) => break Next::Close,
                Ok(n) => {
                    conn.read_mark = crate::files::note_read();
                    conn.active = true;
                    // A read that did not fill the buffer emptied the
                    // socket: the next bytes bring an event.
                    conn.readable = end + n == scratch.len() || conn.read_closed;
                    end += n;
                    fresh = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    conn.readable = false;
                    break Next::Wait;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break Next::Close,
            }
        };
        // No file is looked up for this connection's input until its next
        // step says which read brought it.
        crate::files::serving(0);
        if matches!(next, Next::Wait) && conn.out.is_none() {
            // The connection always arms a deadline while it waits; a
            // handler that armed none still does not wait for ever.
            let wait = self.handler.poll_timeout(&conn.proto);
            let idle = self.handler.site().limits.idle_timeout;
            conn.deadline = Some(wait.unwrap_or_else(|| clock::now().mono.saturating_add(idle)));
        }
        conn.pending.extend_from_slice(&scratch[start..end]);
        if conn.pending.is_empty() && conn.pending.capacity() > 4096 {
            conn.pending = Vec::new();
        }
        match next {
            Next::Wait => self.wait(key),
            Next::Linger => self.begin_linger(key),
            Next::Close => self.close(key),
        }
    }

    /// The connection waits: its deadline into the heap, and into the idle
    /// list if it is idle.
    fn wait(&mut self, key: usize) {
        if self.timers.len() >= 2 * self.conns.len() + TIMERS_SLACK {
            self.compact_timers();
        }
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !conn.registered {
            // Registered only now that it waits: a connection answered
            // and closed within its first turn never costs an epoll_ctl.
            // Readiness that came since the last read is reported at once.
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self.poll.registry().register(&mut conn.stream, Token(key), interest).is_err() {
                return self.close(key);
            }
            conn.registered = true;
        }
        let idle = conn.out.is_none()
            && conn.lingering.is_none()
            && conn.pending.is_empty()
            && self.handler.awaiting_head(&conn.proto);
        if let Some(at) = conn.deadline
            && conn.scheduled.is_none_or(|scheduled| at < scheduled)
        {
            conn.scheduled = Some(at);
            self.timers.push(Reverse((at, key, conn.serial)));
        }
        // Idle since when: a connection moves to the end of the list only
        // when it becomes idle again after doing something, not when a
        // spurious wake-up (a writability edge, say) drives it.
        let moved = std::mem::take(&mut conn.active) || !conn.listed;
        if !idle {
            self.unlist(key);
        } else if moved {
            self.unlist(key);
            self.list(key);
        }
    }

    fn begin_linger(&mut self, key: usize) {
        self.unlist(key);
        let Some(conn) = self.conns.get_mut(key) else { return };
        let mut drained = 0;
        if conn.pending.is_empty() && self.handler.input_complete(&conn.proto) {
            // The client's last request was read whole: nothing more
            // should come, so unless something did, close at once (the
            // FIN goes with the close), as nginx does, rather than shut
            // down, wait for the client's FIN and read it: that was a
            // syscall, often a wait and a wake-up, and a slot held, per
            // `Connection: close` request. Edge-triggered: with the socket
            // not readable since it was emptied, nothing has come.
            if !conn.readable {
                return self.close(key);
            }
            match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => return self.close(key),
                Ok(n) => drained = n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return self.close(key);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key),
            }
        }
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return self.close(key);
        }
        conn.pending = Vec::new();
        conn.out = None;
        conn.lingering = Some(drained);
        conn.readable = true;
        conn.deadline = Some(clock::now().mono.saturating_add(LINGER_TIME));
        self.linger(key);
    }

    /// Read and drop what the client still sends until it closes, or
    /// [`LINGER_TIME`] or [`LINGER_BYTES`] runs out.
    fn linger(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let drained = conn.lingering.get_or_insert(0);
        loop {
            if *drained >= LINGER_BYTES {
                return self.close(key);
            }
            match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => return self.close(key),
                Ok(n) => *drained += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key),
            }
        }
        self.wait(key);
    }

    fn close(&mut self, key: usize) {
        self.unlist(key);
        if self.conns.try_remove(key).is_some() {
            self.shared.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Drop the heap's entries that can only be skipped: those of closed
    /// connections and those for deadlines since moved. Without this, a
    /// stream of connections that each wait once and then close (a head
    /// split over packets, keep-alive clients that come and go) leaves
    /// their deadlines behind and grows the heap to the connection rate
    /// times the timeout: megabytes, and a deeper heap for every push and
    /// pop. Called when the heap is twice the connections, so
    /// its cost is a constant per push.
    fn compact_timers(&mut self) {
        let conns = &self.conns;
        self.timers.retain(|Reverse((at, key, serial))| {
            conns.get(*key).is_some_and(|c| c.serial == *serial && c.scheduled == Some(*at))
        });
        if self.timers.capacity() > 4 * self.timers.len() + TIMERS_SLACK {
            self.timers.shrink_to(2 * self.timers.len() + TIMERS_SLACK);
        }
    }

    /// Act on every deadline that has passed.
    fn expire(&mut self) {
        let now = clock::now().mono;
        while let Some(&Reverse((at, key, serial))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.serial != serial {
                continue;
            }
            conn.scheduled = None;
            match conn.deadline {
                Some(deadline) if deadline <= now => {}
                // Moved later since: back in the heap at its new time.
                Some(_) => {
                    self.wait(key);
                    continue;
                }
                None => continue,
            }
            conn.deadline = None;
            if conn.lingering.is_some() {
                self.close(key);
            } else if let Some(out) = conn.out.take() {
                // The client took nothing for the send timeout.
                self.shared.send_timeouts.fetch_add(1, Ordering::Relaxed);
                log(self.shared, conn, &out, &conn.pending);
                self.close(key);
            } else {
                conn.timed_out = true;
                self.drive(key);
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
            self.drive(key);
        }
    }

    fn list(&mut self, key: usize) {
        let tail = self.idle.tail;
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.listed = true;
        self.idle_count += 1;
        self.inbox.idle.store(self.idle_count, Ordering::Relaxed);
        conn.prev = tail;
        conn.next = NIL;
        match self.conns.get_mut(tail) {
            Some(last) => last.next = key,
            None => self.idle.head = key,
        }
        self.idle.tail = key;
    }

    fn unlist(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !conn.listed {
            return;
        }
        conn.listed = false;
        self.idle_count -= 1;
        self.inbox.idle.store(self.idle_count, Ordering::Relaxed);
        let (prev, next) = (conn.prev, conn.next);
        match self.conns.get_mut(prev) {
            Some(before) => before.next = next,
            None => self.idle.head = next,
        }
        match self.conns.get_mut(next) {
            Some(after) => after.prev = prev,
            None => self.idle.tail = prev,
        }
    }
}

impl Outgoing {
    /// The response ready to write. A body of bytes only (an error page,
    /// a listing) or a small file joins the head: one write sends the whole
    /// response. Fails if a small file cannot be read whole.
    fn new(response: Written<SharedFile>, consumed: usize, when: SystemTime) -> io::Result<Self> {
        let Written { status, keep_alive, mut head, body } = response;
        let head_len = head.len() as u64;
        let pieces = Self::gather(&mut head, &body)?;
        Ok(Self {
            head,
            status,
            keep_alive,
            body,
            pieces,
            at: 0,
            pos: 0,
            sent: 0,
            head_len,
            consumed,
            when,
        })
    }

    /// Append what joins the head; the number of pieces to write. A small
    /// file ([`SMALL_FILE`]) goes with its head in one `send` (from the
    /// bytes the worker's cache keeps, or one `pread`), not a `send` with
    /// MSG_MORE and a `sendfile`: fewer system calls, one packet.
    fn gather(head: &mut Vec<u8>, body: &Body<SharedFile>) -> io::Result<usize> {
        let mut segments = body.segments();
        Ok(match (body.handle(), segments.next(), segments.next()) {
            (None, ..) => {
                for segment in body.segments() {
                    if let Segment::Bytes(bytes) = segment {
                        head.extend_from_slice(bytes);
                    }
                }
                1
            }
            (Some(file), Some(Segment::File { offset, len }), None) if len <= SMALL_FILE => {
                match file.contents() {
                    Some(contents) => {
                        // A file that shrank since its length was read
                        // fails here: the head promised `len` bytes.
                        let contents = contents?;
                        let range = usize::try_from(offset)
                            .ok()
                            .zip(usize::try_from(offset + len).ok())
                            .and_then(|(start, end)| contents.get(start..end))
                            .ok_or(io::ErrorKind::UnexpectedEof)?;
                        head.extend_from_slice(range);
                    }
                    None => {
                        use std::os::unix::fs::FileExt as _;
                        let start = head.len();
                        head.resize(start + usize::try_from(len).unwrap_or(0), 0);
                        file.file().read_exact_at(&mut head[start..], offset)?;
                    }
                }
                1
            }
            _ => 1 + body.segments().count(),
        })
    }

    /// Body bytes sent so far.
    fn body_sent(&self) -> u64 {
        self.sent.saturating_sub(self.head_len)
    }
}

/// Write what the socket takes of `out`, from where it stopped. The
/// head goes with MSG_MORE when a file follows, so the kernel sends it in
/// one packet with the file's first bytes; file ranges go with
/// sendfile(2) from an explicit offset. A write the socket took only
/// part of means it is full: wait for it to drain rather than ask again.
/// A file that ends before the length promised is an error: the
/// connection must close rather than leave the client waiting.
fn write_out(stream: &TcpStream, out: &mut Outgoing) -> io::Result<Wrote> {
    let mut progressed = false;
    let mut budget = WRITE_BUDGET;
    while out.at < out.pieces {
        if budget == 0 {
            return Ok(Wrote::Yield);
        }
        let more = out.at + 1 < out.pieces;
        let pos = usize::try_from(out.pos).unwrap_or(usize::MAX);
        let (piece_len, asked, result) = if out.at == 0 {
            let bytes = out.head.get(pos..).unwrap_or(&[]);
            (out.head.len() as u64, bytes.len() as u64, send(stream, bytes, more))
        } else {
            match out.body.segments().nth(out.at - 1) {
                Some(Segment::Bytes(all)) => {
                    let bytes = all.get(pos..).unwrap_or(&[]);
                    (all.len() as u64, bytes.len() as u64, send(stream, bytes, more))
                }
                Some(Segment::File { offset, len }) => {
                    let file = out.body.handle().ok_or(io::ErrorKind::InvalidInput)?;
                    let file = file.file();
                    // sendfile moves at most 0x7ffff000 bytes a call.
                    let chunk = len.saturating_sub(out.pos).min(1 << 30).min(budget);
                    let result = send_file(stream, file, offset + out.pos, chunk);
                    if matches!(result, Ok(0)) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shrank while sent",
                        ));
                    }
                    (len, chunk, result)
                }
                None => return Err(io::ErrorKind::InvalidInput.into()),
            }
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let n = n as u64;
                out.pos += n;
                out.sent += n;
                budget = budget.saturating_sub(n);
                progressed = true;
                if out.pos >= piece_len {
                    out.at += 1;
                    out.pos = 0;
                } else if n < asked {
                    return Ok(Wrote::Blocked { progressed });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Wrote::Blocked { progressed });
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Wrote::Done)
}

fn send(stream: &TcpStream, bytes: &[u8], more: bool) -> io::Result<usize> {
    let flags = if more { libc::MSG_MORE } else { 0 };
    SockRef::from(stream).send_with_flags(bytes, flags)
}

/// `len` bytes of `file` from `offset` with sendfile(2): the body goes from
/// the page cache to the socket without passing through this process.
fn send_file(stream: &TcpStream, file: &std::fs::File, offset: u64, len: u64) -> io::Result<usize> {
    let mut offset = offset;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    rustix::fs::sendfile(stream, file, Some(&mut offset), len).map_err(io::Error::from)
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

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// At the cap with no idle connection to close: a 503 right away beats
/// leaving the client in the backlog. The socket is new, so its buffer
/// takes the small answer whole; what the client already sent is read
/// first, so the close is not a reset that destroys the answer.
fn refuse(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let now = clock::now();
    let response = portico_core::closing_response::<()>(503, now.wall);
    let mut bytes = response.head_bytes();
    for segment in response.body().segments() {
        if let Segment::Bytes(body) = segment {
            bytes.extend_from_slice(body);
        }
    }
    let mut scratch = [0u8; 4096];
    let _ = (&stream).read(&mut scratch);
    let _ = send(&stream, &bytes, false);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = (&stream).read(&mut scratch);
    if let Some(log) = &shared.log {
        log.log(&Entry {
            peer: peer.ip().to_canonical(),
            when: now.wall,
            input: b"",
            status: 503,
            bytes: 0,
            duration: Duration::ZERO,
        });
    }
}
