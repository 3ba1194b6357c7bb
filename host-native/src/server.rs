//! The listener, the worker threads, the connection cap, and graceful
//! shutdown. Each worker runs its own readiness loop (`worker.rs`); the
//! HTTP is the handler's.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use socket2::{Domain, SockRef, Socket, Type};

use portico_config::LogFormat;

use crate::access_log::AccessLog;
use crate::handler::Handler;
use crate::worker;

/// How the server treats its sockets. What a connection may send, and for
/// how long, is the handler's site configuration
/// ([`portico_core::Limits`]): the core owns those deadlines.
#[derive(Clone, Debug)]
pub struct Config {
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
            max_connections: portico_config::DEFAULT_MAX_CONNECTIONS as usize,
            send_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            workers: 0,
            access_log: Some(LogFormat::Common),
        }
    }
}

/// The workers started when none are asked for: one per core this
/// process may run on, or half of them (at least one) when the listener
/// is on a loopback address. A loopback server's clients run on the same
/// cores, and each request costs its client about what it costs the
/// server (wrk beside portico: a core each), so the server's share is
/// about half the machine. A worker per core there makes busy threads
/// outnumber cores, and a worker that runs out of ready connections is
/// switched out and back in: on the 2-core benchmark machine, wrk's 32
/// keep-alive connections on two workers spent 9-14 % of the samples in
/// the scheduler and 12-17 % under `epoll_wait`, 1-3 % and 3-6 % on one
/// (lighttpd with two processes pays the same), and whether they fell on
/// both was up to the kernel from run to run.
fn default_workers(loopback: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if loopback { (cores / 2).max(1) } else { cores }
}

/// True for an address on this machine's loopback, an IPv4-mapped one
/// (`::ffff:127.0.0.1`) included: the one test of where a listener or a
/// peer is, for the worker count and the loopback send buffer.
pub(crate) fn on_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The listen queue length (the kernel caps it at `somaxconn`): room for
/// bursts of connects before the kernel refuses them.
const BACKLOG: i32 = 4096;

/// File descriptors kept out of the connection cap, beyond each worker's
/// open files (`OPEN_FILES`): the listener, the poll and waker of each
/// worker, stdio, and files being sent that are not cached.
const FD_RESERVE: u64 = 64;

/// A bound listener and the handler that will serve its connections.
#[derive(Debug)]
pub struct Server<H> {
    listener: TcpListener,
    handler: Arc<H>,
    config: Config,
    shared: Arc<Shared>,
    /// Set when the open-file limit lowered [`Config::max_connections`].
    limited: Option<String>,
}

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
}

impl Shared {
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

/// Stops a running [`Server`]: no new connections, idle ones closed,
/// responses in flight finished. Cheap to clone; safe from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Begin shutting down. [`Server::run`] returns once drained.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        for inbox in self.shared.inboxes.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            // A worker that cannot be woken sees the flag at its next
            // event or timer.
            let _ = inbox.waker.wake();
        }
    }
}

impl<H: Handler> Server<H> {
    /// Listen on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr, handler: H, config: Config) -> anyhow::Result<Self> {
        let listener = listen(addr).map_err(|e| bind_error(addr, e))?;
        Self::start(listener, handler, config)
    }

    /// Serve on a socket that already listens (the one systemd passed, say).
    /// It gets the options [`bind`](Self::bind) sets.
    pub fn on_listener(listener: TcpListener, handler: H, config: Config) -> anyhow::Result<Self> {
        configure(&SockRef::from(&listener)).context("cannot set up the listening socket")?;
        Self::start(listener, handler, config)
    }

    fn start(listener: TcpListener, handler: H, mut config: Config) -> anyhow::Result<Self> {
        if config.workers == 0 {
            let loopback = listener.local_addr().is_ok_and(on_loopback);
            config.workers = default_workers(loopback);
        }
        let limited = fit_to_fd_limit(&mut config);
        let log = config.access_log.map(AccessLog::start).transpose();
        let log = log.context("cannot start the access-log thread")?;
        Ok(Self {
            listener,
            handler: Arc::new(handler),
            config,
            shared: Arc::new(Shared { log, ..Shared::default() }),
            limited,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener.local_addr().context("cannot read the listening address")
    }

    /// If the open-file limit lowered the connection cap: a line saying so.
    pub fn limit_note(&self) -> Option<&str> {
        self.limited.as_deref()
    }

    /// The configuration in force (the cap as the open-file limit left it).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True if this IPv6 listener takes IPv4 connections too (it is not
    /// `IPV6_V6ONLY`, the Linux default).
    pub(crate) fn dual_stack(&self) -> bool {
        let v6 = self.local_addr().is_ok_and(|addr| addr.is_ipv6());
        v6 && SockRef::from(&self.listener).only_v6().is_ok_and(|only| !only)
    }

    /// The handler, shared with the workers (to reload it).
    pub fn handler(&self) -> Arc<H> {
        Arc::clone(&self.handler)
    }

    /// A handle that stops the server from another thread (a signal
    /// handler).
    pub fn shutdown_handle(&self) -> anyhow::Result<ShutdownHandle> {
        Ok(ShutdownHandle { shared: Arc::clone(&self.shared) })
    }

    /// Serve until shut down, then let open connections finish their
    /// responses (up to [`Config::drain_timeout`]) and stdout take their
    /// access-log lines (up to 2 s).
    pub fn run(self) -> anyhow::Result<()> {
        let workers = self.config.workers.max(1);
        let listener = mio::net::TcpListener::from_std(self.listener);
        let listener = Arc::new(listener);
        let mut threads = Vec::with_capacity(workers);
        for index in 0..workers {
            let handler = Arc::clone(&self.handler);
            let shared = Arc::clone(&self.shared);
            let listener = Arc::clone(&listener);
            let config = self.config.clone();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .stack_size(self.handler.stack_size())
                .spawn(move || worker::run(&*handler, listener, &shared, &config))
                .context("cannot start a worker thread")?;
            threads.push(thread);
        }
        // The workers hold the listener now; the last to stop closes it.
        drop(listener);
        let mut failed = None;
        for thread in threads {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failed = Some(error),
                Err(_) => failed = Some(anyhow::anyhow!("a worker thread panicked")),
            }
        }
        report(&self.shared);
        if let Some(log) = &self.shared.log {
            log.close();
        }
        failed.map_or(Ok(()), Err)
    }
}

/// At exit, what the deadlines and the cap did, if anything.
fn report(shared: &Shared) {
    let evicted = shared.evicted.load(Ordering::Relaxed);
    let refused = shared.refused.load(Ordering::Relaxed);
    let stalled = shared.send_timeouts.load(Ordering::Relaxed);
    if evicted + refused + stalled > 0 {
        eprintln!(
            "portico: at the connection cap {evicted} idle connection(s) closed and {refused} \
             refused; {stalled} response(s) dropped after the send timeout"
        );
    }
}

/// Raise the soft open-file limit to the hard one (as nginx's
/// `worker_rlimit_nofile` would), then lower the connection cap to fit
/// under it. Returns a line to print when the limit binds.
fn fit_to_fd_limit(config: &mut Config) -> Option<String> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let files = limit.current?;
    let cached = (config.workers * crate::files::OPEN_FILES) as u64;
    let reserve = FD_RESERVE.saturating_add(cached);
    let room = usize::try_from(files.saturating_sub(reserve)).unwrap_or(usize::MAX).max(1);
    if config.max_connections <= room {
        return None;
    }
    let asked = config.max_connections;
    config.max_connections = room;
    Some(format!(
        "at most {room} connections at once, not {asked}: the open-file limit is {files} \
         (raise it with `ulimit -n` or LimitNOFILE=)"
    ))
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting the server must not wait out TIME_WAIT on its port.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    configure(&socket)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn configure(socket: &Socket) -> io::Result<()> {
    // Inherited by every accepted socket on Linux: responses go out as
    // soon as written (no Nagle delay between a head and its body), one
    // system call saved per connection.
    socket.set_tcp_nodelay(true)?;
    // A listener on loopback has only local peers: their send buffer is
    // set here once (see `LOOPBACK_SEND_BUFFER`); other listeners set it
    // per connection from a local peer.
    if socket.local_addr()?.as_socket().is_some_and(on_loopback) {
        socket.set_send_buffer_size(LOOPBACK_SEND_BUFFER)?;
    }
    tcp_option(socket, libc::TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECS)?;
    tcp_option(socket, libc::TCP_NOTSENT_LOWAT, NOTSENT_LOWAT)?;
    socket.set_nonblocking(true)
}

/// How long the kernel keeps a new connection from `accept` while the
/// client has sent nothing (`TCP_DEFER_ACCEPT`, as nginx's `deferred`).
/// Nearly every client sends its request with or right after the
/// handshake: the worker then accepts a connection with its request
/// already there, reads and answers it in one turn, and never registers
/// it with epoll or arms a deadline for it. Measured with wrk on
/// `Connection: close`, `--workers 1`: 28.5 -> 20.5 µs of CPU per
/// connection, 1.1x the connections/s. A client that stays silent
/// reaches `accept` after about this long (the kernel's next SYN-ACK
/// retransmission, which the client acknowledges), holding no file
/// descriptor or slot until then, and is then held to the idle timeout
/// like any other.
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// An integer TCP option (`IPPROTO_TCP`) on `socket`.
fn tcp_option(socket: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of_val(&value)).unwrap_or(4);
    // setsockopt(2) for an option neither socket2 nor rustix offers.
    #[allow(unsafe_code)]
    // SAFETY: a valid descriptor (the socket is borrowed for the call), and
    // a pointer to an int that outlives the call, with its size.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            option,
            std::ptr::from_ref(&value).cast(),
            len,
        )
    };
    if status == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The most a connection's send queue holds that is not yet on the wire
/// (`TCP_NOTSENT_LOWAT`, inherited by accepted sockets): the socket takes
/// no more, and polls writable again, until what it holds unsent is below
/// this. A client that reads slowly, or not at all, then pins this much
/// of the kernel's memory, not a whole send buffer (512 KiB from
/// loopback, up to 4 MiB autotuned). 2,000 clients asking for a 10 MiB
/// file with a 4 KiB receive buffer and never reading, from loopback: the
/// kernel's TCP memory 1,013 MiB -> 188 MiB (nginx 2,250, lighttpd 2,220,
/// at the kernel's `tcp_mem` limit, where every socket on the machine is
/// squeezed), and the first client after them waited 137–1,500 ms ->
/// 42–190 ms, as the worker copied 64 KiB instead of 512 KiB into each.
/// What is in flight is not counted, so a fast client's transfer is not
/// held back: with wrk at `--workers 1`, 10 MiB and 100 KiB files took
/// the same CPU per request with and without it (±5 %, 5–6 alternating
/// rounds); 16 KiB cost a tenth more on the 10 MiB file.
const NOTSENT_LOWAT: libc::c_int = 64 * 1024;

/// The send buffer of a connection from this machine (the kernel doubles
/// it: 512 KiB). Autotuning grows it to 4 MiB, sized for a network's
/// bandwidth-delay product, which loopback does not have: there one
/// sendfile pushed whole megabytes straight into a receive queue faster
/// than the client drained it, and the client paid for the overflow
/// (pruned queues, retransmits). Measured with wrk on a 10 MiB file: 1.9x
/// the requests/s and less than half the CPU per request of the
/// autotuned buffer; 1 MiB and more brought the loss back.
pub(crate) const LOOPBACK_SEND_BUFFER: usize = 256 * 1024;

fn bind_error(addr: SocketAddr, error: io::Error) -> anyhow::Error {
    let why = match error.kind() {
        io::ErrorKind::AddrInUse => {
            "address already in use (another server there? -p 0 picks a free port)".to_owned()
        }
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)".to_owned()
        }
        io::ErrorKind::AddrNotAvailable => "no such address on this machine".to_owned(),
        _ => error.to_string(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {why}")
}
