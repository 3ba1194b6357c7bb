//! The listener, the accept loop, the connection cap, and graceful
//! shutdown. One thread per connection; the HTTP is the handler's.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use socket2::{Domain, SockRef, Socket, Type};

use crate::access_log::{AccessLog, Entry, LogFormat};
use crate::connection;
use crate::handler::Handler;

/// How the server treats its sockets. What a connection may send, and for
/// how long, is the handler's site configuration
/// ([`portico_core::Limits`]): the core owns those deadlines.
#[derive(Clone, Debug)]
pub struct Config {
    /// Connections served at once. One more is answered 503 and closed.
    pub max_connections: usize,
    /// How long one write may block on a client that does not read.
    pub write_timeout: Duration,
    /// How long shutdown waits for responses in flight.
    pub drain_timeout: Duration,
    /// The format of the line per response on stdout; `None` prints none.
    /// Lines go through a bounded queue to a thread of their own: a stdout
    /// that does not keep up loses lines (counted on stderr), never time.
    pub access_log: Option<LogFormat>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            access_log: Some(LogFormat::Common),
        }
    }
}

/// The listen queue length: room for bursts of connects (a 512-connection
/// benchmark) before the kernel refuses them.
const BACKLOG: i32 = 1024;

/// How long a connection thread that finished its connection waits for the
/// next one before it exits. Reusing threads saves their creation (a
/// clone, a stack, a malloc arena: ~20 µs) on every new connection.
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// A bound listener and the handler that will serve its connections.
#[derive(Debug)]
pub struct Server<H> {
    listener: TcpListener,
    handler: Arc<H>,
    config: Config,
    shared: Arc<Shared>,
    workers: Arc<Workers>,
}

/// An accepted connection waiting for a thread.
#[derive(Debug)]
struct Job {
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    registration: Registration,
}

/// Threads between connections, and connections waiting for them.
#[derive(Debug, Default)]
struct Workers {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting in [`Workers::next_job`].
    idle: usize,
}

impl Workers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hand `job` to an idle thread; give it back if none is idle.
    fn offer(&self, job: Job) -> Option<Job> {
        let mut queue = self.lock();
        if queue.idle <= queue.jobs.len() {
            return Some(job);
        }
        queue.jobs.push_back(job);
        drop(queue);
        self.ready.notify_one();
        None
    }

    /// The next connection for a thread that finished one, or `None` after
    /// [`WORKER_IDLE`] without one: then the thread ends.
    fn next_job(&self) -> Option<Job> {
        let deadline = Instant::now() + WORKER_IDLE;
        let mut queue = self.lock();
        queue.idle += 1;
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                queue.idle -= 1;
                return Some(job);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                queue.idle -= 1;
                return None;
            }
            queue = self.ready.wait_timeout(queue, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// What the accept loop, the connection threads and a shutdown trigger
/// share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    stopping: AtomicBool,
    /// Every open connection, so shutdown can wake the idle ones.
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
    drained: Condvar,
    next_id: AtomicU64,
    /// Where connections log their responses, if they do.
    pub(crate) log: Option<AccessLog>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// Stops a running [`Server`]: no new connections, idle ones closed,
/// responses in flight finished. Cheap to clone; safe from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    wake: SocketAddr,
}

impl ShutdownHandle {
    /// Begin shutting down. [`Server::run`] returns once drained.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        // `accept` has no timeout: a connection of our own wakes it.
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

impl<H: Handler> Server<H> {
    /// Listen on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr, handler: H, config: Config) -> anyhow::Result<Self> {
        let idle = handler.site().limits.idle_timeout;
        let listener = listen(addr, &config, idle).map_err(|e| bind_error(addr, e))?;
        Self::start(listener, handler, config)
    }

    /// Serve on a socket that already listens (the one systemd passed, say).
    /// It gets the options [`bind`](Self::bind) sets, and blocking mode,
    /// which the accept loop needs (systemd's sockets are non-blocking).
    pub fn on_listener(listener: TcpListener, handler: H, config: Config) -> anyhow::Result<Self> {
        let idle = handler.site().limits.idle_timeout;
        configure(&SockRef::from(&listener), &config, idle)
            .and_then(|()| listener.set_nonblocking(false))
            .context("cannot set up the listening socket")?;
        Self::start(listener, handler, config)
    }

    fn start(listener: TcpListener, handler: H, config: Config) -> anyhow::Result<Self> {
        let log = config.access_log.map(AccessLog::start).transpose();
        let log = log.context("cannot start the access-log thread")?;
        Ok(Self {
            listener,
            handler: Arc::new(handler),
            config,
            shared: Arc::new(Shared { log, ..Shared::default() }),
            workers: Arc::default(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener.local_addr().context("cannot read the listening address")
    }

    /// True if this IPv6 listener takes IPv4 connections too (it is not
    /// `IPV6_V6ONLY`, the Linux default).
    pub(crate) fn dual_stack(&self) -> bool {
        let v6 = self.local_addr().is_ok_and(|addr| addr.is_ipv6());
        v6 && SockRef::from(&self.listener).only_v6().is_ok_and(|only| !only)
    }

    /// The handler, shared with the connection threads (to reload it).
    pub fn handler(&self) -> Arc<H> {
        Arc::clone(&self.handler)
    }

    /// A handle that stops the server from another thread (a signal
    /// handler).
    pub fn shutdown_handle(&self) -> anyhow::Result<ShutdownHandle> {
        let mut wake = self.local_addr()?;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        Ok(ShutdownHandle { shared: Arc::clone(&self.shared), wake })
    }

    /// Accept and serve until shut down, then wait for open connections to
    /// finish their responses (up to [`Config::drain_timeout`]) and for
    /// stdout to take their access-log lines (up to 2 s).
    pub fn run(self) -> anyhow::Result<()> {
        loop {
            let accepted = self.listener.accept();
            if self.shared.stopping() {
                break;
            }
            match accepted {
                Ok((stream, peer)) => self.admit(stream, peer),
                Err(error) => accept_failed(&error),
            }
        }
        drop(self.listener);
        drain(&self.shared, self.config.drain_timeout);
        if let Some(log) = &self.shared.log {
            log.close();
        }
        Ok(())
    }

    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let stream = {
            let mut open = self.shared.open.lock().unwrap_or_else(PoisonError::into_inner);
            if open.len() >= self.config.max_connections {
                drop(open);
                return refuse(stream, peer, self.shared.log.as_ref());
            }
            // Shared with the open set, so shutdown can wake it.
            let stream = Arc::new(stream);
            open.insert(id, Arc::clone(&stream));
            stream
        };
        let registration = Registration { shared: Arc::clone(&self.shared), id };
        let Some(job) = self.workers.offer(Job { stream, peer, registration }) else { return };
        let handler = Arc::clone(&self.handler);
        let shared = Arc::clone(&self.shared);
        let workers = Arc::clone(&self.workers);
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(self.handler.stack_size())
            .spawn(move || {
                let mut next = Some(job);
                while let Some(Job { stream, peer, registration }) = next {
                    connection::serve(stream, peer, &*handler, &shared);
                    // Out of the open set before waiting for more work, so
                    // shutdown does not wait for idle threads.
                    drop(registration);
                    next = workers.next_job();
                }
            });
        if let Err(error) = spawned {
            eprintln!("portico: cannot start a connection thread: {error}");
        }
    }
}

fn drain(shared: &Shared, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut open = shared.open.lock().unwrap_or_else(PoisonError::into_inner);
    // Threads blocked reading an idle connection see end-of-file and
    // exit; threads writing a response finish it first.
    for stream in open.values() {
        let _ = stream.shutdown(Shutdown::Read);
    }
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!("portico: {} connection(s) still open at shutdown", open.len());
            return;
        }
        open = shared.drained.wait_timeout(open, left).unwrap_or_else(PoisonError::into_inner).0;
    }
}

/// Removes a connection from the open set when its connection ends, however
/// it ends (dropped after serving, or unwound by a panic).
#[derive(Debug)]
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.shared.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(&self.id);
        self.shared.drained.notify_all();
    }
}

fn listen(addr: SocketAddr, config: &Config, idle: Duration) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Restarting the server must not wait out TIME_WAIT on its port.
    socket.set_reuse_address(true)?;
    configure(&socket, config, idle)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

fn configure(socket: &Socket, config: &Config, idle: Duration) -> io::Result<()> {
    // Set once here, inherited by every accepted socket on Linux (which
    // portico needs anyway for MSG_MORE and sendfile): responses go out as
    // soon as written (no Nagle delay between a head and its body), a
    // client that stops reading fails a write after `write_timeout`, and
    // the first read waits at most the idle timeout.
    socket.set_tcp_nodelay(true)?;
    socket.set_write_timeout(Some(config.write_timeout))?;
    socket.set_read_timeout(Some(idle))
}

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

fn accept_failed(error: &io::Error) {
    // Out of file descriptors: back off instead of spinning on a listener
    // that stays readable until some connection closes.
    if matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    ) {
        eprintln!("portico: accept failed: {error}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// At the cap: a 503 right away beats leaving the client in the backlog.
fn refuse(mut stream: TcpStream, peer: SocketAddr, log: Option<&AccessLog>) {
    let began = Instant::now();
    let now = SystemTime::now();
    let response = portico_core::closing_response::<()>(503, now);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut bytes = response.head_bytes();
    for segment in response.body().segments() {
        if let portico_core::Segment::Bytes(body) = segment {
            bytes.extend_from_slice(body);
        }
    }
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
    if let Some(log) = log {
        log.log(&Entry {
            peer: peer.ip().to_canonical(),
            when: now,
            input: b"",
            status: 503,
            bytes: 0,
            duration: began.elapsed(),
        });
    }
}
