//! The listener, the worker threads, the connection cap, and graceful
//! shutdown. Each worker runs its own readiness loop (`worker/`); the
//! HTTP is the handler's. What both share is in `shared.rs`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use socket2::{Domain, SockRef, Socket, Type};

use crate::access_log::AccessLog;
use crate::handler::Handler;
use crate::shared::{Config, LOOPBACK_SEND_BUFFER, Shared, on_loopback};
use crate::worker;

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

/// Stops a running [`Server`]: no new connections, idle ones closed,
/// responses in flight finished. Cheap to clone; safe from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Begin shutting down. [`Server::run`] returns once drained.
    pub fn shutdown(&self) {
        self.shared.stop();
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
        let log = config.access_log.map(|format| AccessLog::start(format, config.name)).transpose();
        let log = log.context("cannot start the access-log thread")?;
        Ok(Self {
            listener,
            handler: Arc::new(handler),
            config,
            shared: Arc::new(Shared::new(log)),
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
        report(self.config.name, &self.shared);
        if let Some(log) = &self.shared.log {
            log.close();
        }
        failed.map_or(Ok(()), Err)
    }
}

/// At exit, what the cap, the send timeout and files that shrank did:
/// one line naming only what happened, nothing if nothing did.
fn report(name: &str, shared: &Shared) {
    let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let parts: Vec<String> = [
        (count(&shared.evicted), "idle connection(s) closed at the connection cap"),
        (count(&shared.refused), "connection(s) refused at the connection cap (503)"),
        (count(&shared.send_timeouts), "response(s) dropped after the send timeout"),
        (count(&shared.cut_short), "response(s) cut short: their file shrank while it was sent"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !parts.is_empty() {
        eprintln!("{name}: at exit: {}", parts.join("; "));
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
    // The compressor's variants each hold a descriptor too.
    let variants = crate::compress::MAX_VARIANTS as u64;
    let reserve = FD_RESERVE.saturating_add(cached).saturating_add(variants);
    let room = usize::try_from(files.saturating_sub(reserve)).unwrap_or(usize::MAX).max(1);
    if config.max_connections <= room {
        return None;
    }
    let asked = config.max_connections;
    config.max_connections = room;
    let connections = if room == 1 { "connection" } else { "connections" };
    Some(format!(
        "at most {room} {connections} at once, not {asked}: the open-file limit is {files} \
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
