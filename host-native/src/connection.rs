//! One connection's thread: read, step the handler, write, until the
//! protocol, the peer, a timeout or shutdown ends it.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use portico_core::{ProtocolError, Rejection, error_response};
use socket2::SockRef;

use crate::access_log;
use crate::handler::{Handler, HostBody, Reply, Step};
use crate::server::{Config, Shared};

/// After the last response, how long and how much to keep reading before
/// closing, so unread request bytes do not turn the close into a reset that
/// destroys the response before the client reads it (as Apache's and
/// nginx's "lingering close").
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

pub(crate) fn serve<H: Handler>(
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    handler: &H,
    config: &Config,
    shared: &Shared,
) {
    // TCP_NODELAY, the write timeout and the idle read timeout were set on
    // the listener, and accepted sockets inherit them on Linux: three
    // system calls a connection saved (see `server::listen`).
    let stream: &TcpStream = &stream;
    let peer = peer.ip().to_canonical();
    let mut conn = handler.connect();
    let mut buf = vec![0u8; handler.buffer_size().max(1024)];
    let (mut start, mut end) = (0, 0);
    // When the request head now being received must be complete.
    let mut head_deadline: Option<Instant> = None;
    // The socket's read timeout as last set: setting it costs a syscall,
    // and it rarely changes between requests.
    let mut read_timeout = Some(config.idle_timeout);

    loop {
        let now = SystemTime::now();
        match handler.step(&mut conn, &buf[start..end], now) {
            Step::NeedMore => {
                let awaiting_head = handler.awaiting_head(&conn);
                if shared.stopping() && awaiting_head && start == end {
                    return;
                }
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
                if end == buf.len() {
                    // The handler wants more than its own buffer size
                    // allows: a handler bug, not the client's fault.
                    return;
                }
                let timeout = if awaiting_head && end > 0 {
                    let deadline =
                        *head_deadline.get_or_insert_with(|| Instant::now() + config.head_timeout);
                    deadline.saturating_duration_since(Instant::now())
                } else {
                    config.idle_timeout
                };
                match read_some(stream, &mut buf[end..], timeout, &mut read_timeout) {
                    Ok(0) => return,
                    Ok(n) => end += n,
                    Err(error) if is_timeout(&error) && awaiting_head && end > 0 => {
                        let now = SystemTime::now();
                        let rejection = Rejection::new(ProtocolError::Timeout, &buf[..end]);
                        let reply = Reply::from_core(0, error_response(rejection, now));
                        let sent = write_reply(stream, reply.head, reply.body).unwrap_or(0);
                        if config.access_log {
                            access_log::log(peer, now, &buf[..end], 408, sent);
                        }
                        return linger(stream);
                    }
                    Err(_) => return,
                }
            }
            Step::Discard(n) => start += n.min(end - start),
            Step::Respond(reply) => {
                let request_line = &buf[start..end];
                let (status, keep_alive) = (reply.status, reply.keep_alive);
                let consumed = reply.consumed.min(end - start);
                let result = write_reply(stream, reply.head, reply.body);
                if config.access_log {
                    let sent = result.as_ref().map_or(0, |n| *n);
                    access_log::log(peer, now, request_line, status, sent);
                }
                start += consumed;
                head_deadline = None;
                if result.is_err() {
                    return;
                }
                if !keep_alive {
                    return linger(stream);
                }
                if shared.stopping() {
                    // The client may have sent more already: do not let
                    // a reset destroy the response it has not read.
                    return linger(stream);
                }
            }
            Step::Close => return linger(stream),
        }
    }
}

fn read_some(
    mut stream: &TcpStream,
    into: &mut [u8],
    timeout: Duration,
    current: &mut Option<Duration>,
) -> io::Result<usize> {
    // A zero timeout means "none" to the socket API: the deadline passed.
    if timeout.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    if *current != Some(timeout) {
        stream.set_read_timeout(Some(timeout))?;
        *current = Some(timeout);
    }
    loop {
        match stream.read(into) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Write a head and its body; returns the body bytes sent. A file that
/// ends before the promised length is an error: the connection must close
/// rather than leave the client waiting for bytes that will not come.
fn write_reply(mut stream: &TcpStream, head: Vec<u8>, body: HostBody) -> io::Result<u64> {
    match body {
        HostBody::Empty => stream.write_all(&head).map(|()| 0),
        HostBody::Bytes(bytes) => {
            let mut all = head;
            all.extend_from_slice(&bytes);
            stream.write_all(&all).map(|()| bytes.len() as u64)
        }
        // MSG_MORE holds the head for data that would never come.
        HostBody::File { len: 0, .. } => stream.write_all(&head).map(|()| 0),
        HostBody::File { file, offset, len } => {
            send_more(stream, &head)?;
            send_file(stream, &file, offset, len)?;
            Ok(len)
        }
    }
}

/// `len` bytes of `file` from `offset` with sendfile(2): the body goes from
/// the page cache to the socket without passing through this process.
/// (std's `io::copy` reads and writes in 8 KiB chunks here.) A file that
/// ends early is an error: the head promised `len` bytes.
fn send_file(
    stream: &TcpStream,
    file: &std::fs::File,
    mut offset: u64,
    len: u64,
) -> io::Result<()> {
    let end = offset.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
    while offset < end {
        // sendfile moves at most 0x7ffff000 bytes a call.
        let chunk = usize::try_from(end - offset).unwrap_or(usize::MAX).min(1 << 30);
        match rustix::fs::sendfile(stream, file, Some(&mut offset), chunk) {
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while sent"));
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

/// Write all of `head` with MSG_MORE, so the kernel holds it to go out in
/// one packet with the start of the body that follows.
fn send_more(stream: &TcpStream, mut head: &[u8]) -> io::Result<()> {
    let socket = SockRef::from(stream);
    while !head.is_empty() {
        match socket.send_with_flags(head, libc::MSG_MORE) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => head = &head[n..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Close after the last response without losing it (see [`LINGER_TIME`]).
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match read_some(stream, &mut scratch, left, &mut None) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}
