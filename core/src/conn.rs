//! The connection state machine: the only place a connection's state
//! changes. It turns buffered bytes into requests in order, skips request
//! bodies, and says when the connection must close.

use crate::parse::chunked::{self, Phase};
use crate::parse::{Parsed, is_head_request, parse_request};
use crate::request::Framing;
use crate::{Rejection, Request};

/// Size limits on what a client may send. Each has a status code when
/// exceeded; see [`crate::ProtocolError`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// The longest request head, request-line and header fields together,
    /// in bytes (431 beyond it). 16 KiB, as h11 and node's llhttp default.
    pub max_head: usize,
    /// The longest request-target in bytes (414 beyond it). 8 KiB, as
    /// nginx's default `large_client_header_buffers` and RFC 9112 §3's
    /// recommended minimum.
    pub max_target: usize,
    /// The most header fields in one request (431 beyond it). 100, as
    /// hyper and Go's net/http.
    pub max_headers: usize,
    /// The largest request body the server will read (and discard) to keep
    /// a connection open. A larger `Content-Length` is refused with 413
    /// unread; a chunked body, counted as the bytes it takes on the wire
    /// (sizes, extensions, data, trailers), closes the connection when it
    /// goes over. 1 MiB, as nginx's `client_max_body_size`.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_head: 16 * 1024, max_target: 8 * 1024, max_headers: 100, max_body: 1 << 20 }
    }
}

/// What the host should do next with its buffered bytes.
#[derive(Debug)]
#[must_use]
pub enum Event<'b> {
    /// Read more bytes, append them, and poll again with the whole buffer.
    NeedMore,
    /// Drop this many bytes of request body from the front of the buffer
    /// and poll again.
    Discard(usize),
    /// A request. Drop [`Request::head_len`] bytes from the front of the
    /// buffer, answer it with [`crate::respond`], write the response, and
    /// poll again, unless [`Request::keep_alive`] is false: then close.
    Request(Request<'b>),
    /// The bytes are not an acceptable request: answer with
    /// [`crate::error_response`] and close.
    Reject(Rejection),
    /// Close without writing anything more: the last response said so,
    /// or a request body broke its framing after its response went out.
    Close,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Skipping this many bytes of a `Content-Length` body.
    Body(u64),
    /// Skipping a chunked body; `received` counts chunk-data so far.
    Chunked { phase: Phase, received: u64 },
    /// Nothing more will be read.
    Closed,
}

/// One HTTP/1.1 connection's protocol state, without the connection.
///
/// The host owns the buffer and the socket. Its loop, per connection:
///
/// ```text
/// loop {
///     match conn.poll(&buf) {
///         NeedMore     => read more into buf (EOF: close)
///         Discard(n)   => drop n bytes from the front of buf
///         Request(req) => drop req.head_len() bytes, write respond(&req, ..),
///                         close if !req.keep_alive()
///         Reject(e)    => write error_response(e, ..), close
///         Close        => close
///     }
/// }
/// ```
///
/// It is small and `Copy`, so a host that cannot keep it between calls
/// (a stateless guest) can hand it back and forth with the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Connection {
    limits: Limits,
    state: State,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Connection {
    /// A connection that has received nothing yet.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits, state: State::Head }
    }

    /// The limits this connection enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True while waiting for a request head. A host that times out in this
    /// state with bytes buffered answers 408; with none, it just closes.
    #[must_use]
    pub fn awaiting_head(&self) -> bool {
        self.state == State::Head
    }

    /// Look at the bytes received and not yet dropped, starting where the
    /// previous event left off.
    pub fn poll<'b>(&mut self, buf: &'b [u8]) -> Event<'b> {
        match self.state {
            State::Head => self.poll_head(buf),
            State::Body(remaining) => {
                if buf.is_empty() {
                    return Event::NeedMore;
                }
                let n = remaining.min(buf.len() as u64);
                self.state = if n == remaining { State::Head } else { State::Body(remaining - n) };
                // `n <= buf.len()`, so the cast back to usize is lossless.
                Event::Discard(n as usize)
            }
            State::Chunked { phase, received } => self.poll_chunked(phase, received, buf),
            State::Closed => Event::Close,
        }
    }

    fn poll_head<'b>(&mut self, buf: &'b [u8]) -> Event<'b> {
        match parse_request(buf, &self.limits) {
            Ok(Parsed::Partial) => Event::NeedMore,
            Ok(Parsed::Complete(request)) => {
                self.state = match request.framing() {
                    _ if !request.keep_alive() => State::Closed,
                    Framing::None => State::Head,
                    Framing::Length(n) => State::Body(n),
                    Framing::Chunked => State::Chunked { phase: Phase::Size, received: 0 },
                };
                Event::Request(request)
            }
            Err(error) => {
                self.state = State::Closed;
                Event::Reject(Rejection { error, head_request: is_head_request(buf) })
            }
        }
    }

    /// Skip as much of a chunked body as `buf` holds. Its request has been
    /// answered already, so a framing error can only close.
    fn poll_chunked<'b>(&mut self, mut phase: Phase, mut received: u64, buf: &[u8]) -> Event<'b> {
        let mut total = 0;
        loop {
            match chunked::step(phase, &buf[total..]) {
                Ok(chunked::Step::NeedMore) => break,
                Ok(chunked::Step::Advance { consumed, next, data }) => {
                    // Every byte counts against the limit: a chunk's data
                    // by its declared size (so a huge chunk is refused
                    // before it is read), and the framing around it, or
                    // long extensions or an endless trailer section would
                    // make a body of any size out of tiny chunks.
                    let framing = if matches!(phase, Phase::Data(_)) { 0 } else { consumed as u64 };
                    received = received.saturating_add(data).saturating_add(framing);
                    if received > self.limits.max_body {
                        self.state = State::Closed;
                        return Event::Close;
                    }
                    total += consumed;
                    phase = next;
                }
                Ok(chunked::Step::Done { consumed }) => {
                    self.state = State::Head;
                    return Event::Discard(total + consumed);
                }
                Err(_) => {
                    self.state = State::Closed;
                    return Event::Close;
                }
            }
        }
        self.state = State::Chunked { phase, received };
        if total == 0 { Event::NeedMore } else { Event::Discard(total) }
    }
}

/// The length of [`Connection::to_bytes`].
pub const STATE_LEN: usize = 24;

impl Connection {
    /// The connection's state as bytes, for a host that keeps it outside
    /// the process that steps it (the WASI guest is stateless: the host
    /// hands these back with the next bytes). Byte 0 is the state kind:
    /// 0 waiting for a head, 1 skipping a `Content-Length` body, 2 skipping
    /// a chunked body, 3 closed; the rest is little-endian detail. The
    /// limits are not included.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; STATE_LEN] {
        let (kind, phase, a, b) = match self.state {
            State::Head => (0, 0, 0, 0),
            State::Body(remaining) => (1, 0, remaining, 0),
            State::Chunked { phase, received } => match phase {
                Phase::Size => (2, 0, 0, received),
                Phase::Data(left) => (2, 1, left, received),
                Phase::DataEnd => (2, 2, 0, received),
                Phase::Trailer => (2, 3, 0, received),
            },
            State::Closed => (3, 0, 0, 0),
        };
        let mut bytes = [0u8; STATE_LEN];
        bytes[0] = kind;
        bytes[1] = phase;
        bytes[8..16].copy_from_slice(&u64::to_le_bytes(a));
        bytes[16..24].copy_from_slice(&u64::to_le_bytes(b));
        bytes
    }

    /// A connection in the state `bytes` describe (from
    /// [`Connection::to_bytes`]), enforcing `limits`. `None` if the bytes
    /// describe no state.
    #[must_use]
    pub fn from_bytes(limits: Limits, bytes: &[u8; STATE_LEN]) -> Option<Self> {
        let word = |range: core::ops::Range<usize>| {
            bytes.get(range).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes)
        };
        let (a, b) = (word(8..16)?, word(16..24)?);
        let state = match (bytes[0], bytes[1]) {
            (0, 0) => State::Head,
            (1, 0) if a > 0 => State::Body(a),
            (2, 0) => State::Chunked { phase: Phase::Size, received: b },
            (2, 1) if a > 0 => State::Chunked { phase: Phase::Data(a), received: b },
            (2, 2) => State::Chunked { phase: Phase::DataEnd, received: b },
            (2, 3) => State::Chunked { phase: Phase::Trailer, received: b },
            (3, 0) => State::Closed,
            _ => return None,
        };
        Some(Self { limits, state })
    }
}
