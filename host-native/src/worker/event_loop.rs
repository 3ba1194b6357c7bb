//! The worker's loop: poll, drive what is ready, take in handed-over and
//! new connections, act on deadlines, drive those that yielded; and its
//! start and shutdown.

use std::io;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use super::idle::Idle;
use super::state::{READ_AHEAD, READ_AHEAD_LEN, Worker};
use super::timers::Timers;
use crate::clock;
use crate::files::Reads;
use crate::handler::Handler;
use crate::shared::{Config, Inbox, Shared, on_loopback};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);

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
                    let (name, open) = (self.config.name, self.conns.len());
                    eprintln!("{name}: {open} connection(s) still open at shutdown");
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
    pub(super) fn drive_all(&mut self, ready: &[(usize, u64)]) {
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
}
