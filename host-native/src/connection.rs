//! One connection's thread: read, step the handler, write, until the
//! protocol, the peer, a timeout or shutdown ends it.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_core::{Moment, Response, Segment};
use socket2::SockRef;

use crate::access_log::Entry;
use crate::handler::{Handler, Now, Step};
use crate::server::Shared;

/// After the last response, how long and how much to keep reading before
/// closing, so unread request bytes do not turn the close into a reset that
/// destroys the response before the client reads it (as Apache's and
/// nginx's "lingering close").
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// How much later than asked a read may time out and still reuse the
/// socket's current timeout: setting it costs a system call, and the idle
/// wait is the same length after every request.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

pub(crate) fn serve<H: Handler>(
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    handler: &H,
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
    // The socket's read timeout as last set.
    let mut read_timeout = Some(handler.site().limits.idle_timeout);
    // Serialised heads, one allocation per connection.
    let mut out = Vec::with_capacity(1024);
    // The last wait ended at the connection's deadline, not with bytes.
    let mut timed_out = false;
    // The first step that saw a byte of the request being read, for the
    // access log's duration (see `Entry::duration`).
    let mut began: Option<Moment> = None;

    loop {
        let now = Now::current();
        let woke = std::mem::take(&mut timed_out);
        if began.is_none() && start < end {
            began = Some(now.mono);
        }
        match handler.step(&mut conn, &buf[start..end], now, woke) {
            Step::NeedMore => {
                if shared.stopping() && handler.awaiting_head(&conn) && start == end {
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
                // The connection always arms a deadline while it waits; a
                // handler that armed none still does not wait for ever.
                let deadline = handler.poll_timeout(&conn);
                let wait = deadline.map_or(handler.site().limits.idle_timeout, |at| {
                    at.saturating_duration_since(now.mono)
                });
                match read_some(stream, &mut buf[end..], wait, &mut read_timeout) {
                    Ok(0) => return,
                    Ok(n) => end += n,
                    Err(error) if is_timeout(&error) && deadline.is_some() => timed_out = true,
                    Err(_) => return,
                }
            }
            Step::Discard(n) => {
                start += n.min(end - start);
                if start == end {
                    // Blank lines or a body skipped: the next request's
                    // time starts with its own bytes.
                    began = None;
                }
            }
            Step::Respond { consumed, response } => {
                let (status, keep_alive) = (response.status(), response.keep_alive());
                let consumed = consumed.min(end - start);
                out.clear();
                let result = write_response(stream, &mut out, &response);
                if let Some(log) = &shared.log {
                    let written = Now::current().mono;
                    log.log(&Entry {
                        peer,
                        when: now.wall,
                        input: &buf[start..end],
                        status,
                        bytes: result.as_ref().map_or(0, |n| *n),
                        duration: written.saturating_duration_since(began.unwrap_or(now.mono)),
                    });
                }
                began = None;
                start += consumed;
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
            // An idle connection that timed out has nothing unread to
            // drain; any other close may.
            Step::Close if woke => return,
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
    let close_enough = current.is_some_and(|set| set >= timeout && set - timeout <= TIMEOUT_SLACK);
    if !close_enough {
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

/// Write a response: its head, then each segment of its body. Returns
/// the body bytes sent. Bytes are gathered into one write; before a file
/// range, what is gathered goes out with MSG_MORE so the kernel sends it
/// in one packet with the file's first bytes. A file that ends before the
/// promised length is an error: the connection must close rather than
/// leave the client waiting for bytes that will not come.
fn write_response(
    mut stream: &TcpStream,
    out: &mut Vec<u8>,
    response: &Response<std::fs::File>,
) -> io::Result<u64> {
    response.write_head(out);
    let body = response.body();
    let mut sent = 0;
    for segment in body.segments() {
        match segment {
            Segment::Bytes(bytes) => {
                out.extend_from_slice(bytes);
                sent += bytes.len() as u64;
            }
            Segment::File { offset, len } => {
                let file = body.handle().ok_or(io::ErrorKind::InvalidInput)?;
                send_more(stream, out)?;
                out.clear();
                send_file(stream, file, offset, len)?;
                sent += len;
            }
        }
    }
    if !out.is_empty() {
        stream.write_all(out)?;
    }
    Ok(sent)
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
