//! The connection state machine: the only place a connection's state
//! changes. It turns buffered bytes into requests in order, skips request
//! bodies, and says when the connection must close.

use std::time::Duration;

use crate::parse::chunked::{self, Phase};
use crate::parse::{Parsed, is_head_request, parse_request};
use crate::request::Framing;
use crate::{Moment, ProtocolError, Rejection, Request};

/// Limits on what a client may send, in size and in time. Each size has a
/// status code when exceeded; see [`crate::ProtocolError`]. Build one with
/// [`Limits::default`] and set the fields you change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
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
    /// How long a connection may wait for the first byte of its next
    /// request (or between reads of a request body) before it is closed
    /// without a word. 15 s: long enough for a browser's keep-alive reuse,
    /// short enough not to hold idle sockets (nginx: 75 s, Apache: 5 s).
    pub idle_timeout: Duration,
    /// How long a client may take to send a whole request head once it
    /// has sent its first byte; then 408 (the slowloris guard). 10 s.
    pub head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head: 16 * 1024,
            max_target: 8 * 1024,
            max_headers: 100,
            max_body: 1 << 20,
            idle_timeout: Duration::from_secs(15),
            head_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// With this [`Limits::max_head`].
    #[must_use]
    pub fn with_max_head(mut self, bytes: usize) -> Self {
        self.max_head = bytes;
        self
    }

    /// With this [`Limits::max_target`].
    #[must_use]
    pub fn with_max_target(mut self, bytes: usize) -> Self {
        self.max_target = bytes;
        self
    }

    /// With this [`Limits::max_headers`].
    #[must_use]
    pub fn with_max_headers(mut self, fields: usize) -> Self {
        self.max_headers = fields;
        self
    }

    /// With this [`Limits::max_body`].
    #[must_use]
    pub fn with_max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// With this [`Limits::idle_timeout`].
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// With this [`Limits::head_timeout`].
    #[must_use]
    pub fn with_head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout;
        self
    }
}

/// What the host should do next with its buffered bytes.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
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
    /// The bytes are not an acceptable request, or a request head did not
    /// arrive in time: answer with [`crate::error_response`] and close.
    Reject(Rejection),
    /// Close without writing anything more: the last response said so, a
    /// request body broke its framing after its response went out, or the
    /// connection was idle past its deadline.
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
    /// A request head did not arrive by its deadline: the next poll
    /// rejects it with 408.
    Expired,
    /// Nothing more will be read.
    Closed,
    /// Nothing more will be read, and nothing more should come: the
    /// client's last request (it asked to close) was read whole and had
    /// no body.
    Done,
}

/// Which deadline is armed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Timer {
    /// Waiting for a request's first byte, or for more of a body: close.
    Idle,
    /// Waiting for the rest of a request head: 408.
    Head,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Deadline {
    at: Moment,
    timer: Timer,
}

/// One HTTP/1.1 connection's protocol state, without the connection.
///
/// The host owns the buffer, the socket and the clock. Its loop, per
/// connection:
///
/// ```text
/// loop {
///     match conn.poll(&buf, now) {
///         NeedMore     => wait for bytes until conn.poll_timeout();
///                         bytes: append to buf (EOF: close);
///                         the deadline passed: conn.handle_timeout(now)
///         Discard(n)   => drop n bytes from the front of buf
///         Request(req) => drop req.head_len() bytes, write respond(&req, ..),
///                         close if !req.keep_alive()
///         Reject(e)    => write error_response(e, ..), close
///         Close        => close
///     }
/// }
/// ```
///
/// The connection owns its deadlines (quinn-proto's `poll_timeout` /
/// `handle_timeout`): idle while it waits for a request or a body, the
/// head deadline once a request head has started. The host only asks when
/// to wake it and tells it when it woke, so every host answers a stalled
/// head with the same 408 and closes an idle connection the same way.
///
/// It is small and `Copy`, so a host that cannot keep it between calls
/// (a stateless guest) can hand it back and forth with the bytes
/// ([`Connection::to_bytes`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Connection {
    limits: Limits,
    state: State,
    deadline: Option<Deadline>,
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
        Self { limits, state: State::Head, deadline: None }
    }

    /// The limits this connection enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True while waiting for a request head: a host shutting down may
    /// close such a connection if it has no bytes buffered.
    #[must_use]
    pub fn awaiting_head(&self) -> bool {
        self.state == State::Head
    }

    /// True once the client's last request has been read whole: it asked
    /// to close (`Connection: close`, or HTTP/1.0 without keep-alive) and
    /// had no body, so nothing more should arrive. With nothing buffered,
    /// a host may then close the connection at once after the response
    /// instead of a lingering close (as nginx does), which is there for
    /// input still on its way: a request body, the rest of a rejected
    /// request, requests pipelined behind one the server closes after.
    #[must_use]
    pub fn input_complete(&self) -> bool {
        self.state == State::Done
    }

    /// When the host must wake this connection with
    /// [`Connection::handle_timeout`] if no bytes came before then; `None`
    /// if it may wait for ever (a request is being answered). Ask after
    /// every [`Connection::poll`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Moment> {
        self.deadline.map(|deadline| deadline.at)
    }

    /// The host woke at `now` without new bytes. If the deadline has
    /// passed, the next [`Connection::poll`] says what to do: a stalled
    /// request head is rejected with [`ProtocolError::Timeout`] (408), an
    /// idle connection or a stalled body is closed. Waking early changes
    /// nothing.
    pub fn handle_timeout(&mut self, now: Moment) {
        let Some(deadline) = self.deadline else { return };
        if now < deadline.at {
            return;
        }
        self.deadline = None;
        self.state = match (self.state, deadline.timer) {
            (State::Head, Timer::Head) => State::Expired,
            _ => State::Closed,
        };
    }

    /// Look at the bytes received and not yet dropped, starting where the
    /// previous event left off. `now` arms the deadlines: the idle one
    /// when a connection starts waiting for a request, the head one at the
    /// first byte of a head.
    pub fn poll<'b>(&mut self, buf: &'b [u8], now: Moment) -> Event<'b> {
        let event = self.advance(buf);
        self.deadline = match (&event, self.state) {
            (Event::NeedMore, State::Head) => {
                let timer = if buf.is_empty() { Timer::Idle } else { Timer::Head };
                match self.deadline {
                    // Armed when this wait began: a poll with nothing new
                    // does not push it back.
                    Some(armed) if armed.timer == timer => Some(armed),
                    _ => Some(self.arm(timer, now)),
                }
            }
            // Progress on a body (bytes to drop) restarts its idle time;
            // waiting does not, so a poll with nothing new (a spurious
            // wake-up) leaves the deadline where it was. Found by the
            // connection_clock fuzz target: a chunked body's partial line
            // pushed it back at every poll.
            (Event::Discard(_), State::Body(_) | State::Chunked { .. }) => {
                Some(self.arm(Timer::Idle, now))
            }
            (Event::NeedMore, State::Body(_) | State::Chunked { .. }) => match self.deadline {
                Some(armed) if armed.timer == Timer::Idle => Some(armed),
                _ => Some(self.arm(Timer::Idle, now)),
            },
            _ => None,
        };
        event
    }

    fn arm(&self, timer: Timer, now: Moment) -> Deadline {
        let after = match timer {
            Timer::Idle => self.limits.idle_timeout,
            Timer::Head => self.limits.head_timeout,
        };
        Deadline { at: now.saturating_add(after), timer }
    }

    fn advance<'b>(&mut self, buf: &'b [u8]) -> Event<'b> {
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
            State::Expired => {
                self.state = State::Closed;
                Event::Reject(Rejection::new(ProtocolError::Timeout, buf))
            }
            State::Closed | State::Done => Event::Close,
        }
    }

    fn poll_head<'b>(&mut self, buf: &'b [u8]) -> Event<'b> {
        match parse_request(buf, &self.limits) {
            Ok(Parsed::Partial) => Event::NeedMore,
            Ok(Parsed::Complete(request)) => {
                self.state = match request.framing() {
                    Framing::None if !request.keep_alive() => State::Done,
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
pub const STATE_LEN: usize = 32;

impl Connection {
    /// The connection's state as bytes, for a host that keeps it outside
    /// the process that steps it (the WASI guest is stateless: the host
    /// hands these back with the next bytes). Byte 0 is the state kind:
    /// 0 waiting for a head, 1 skipping a `Content-Length` body, 2 skipping
    /// a chunked body, 3 closed, 4 a head past its deadline, 5 closed after
    /// the client's last request ([`Connection::input_complete`]); byte 2 the
    /// armed timer (0 none, 1 idle, 2 head) and bytes 24..32 its deadline
    /// ([`Moment::as_nanos`]); the rest is little-endian detail. The limits
    /// are not included.
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
            State::Expired => (4, 0, 0, 0),
            State::Done => (5, 0, 0, 0),
        };
        let (timer, at) = match self.deadline {
            None => (0, 0),
            Some(Deadline { at, timer: Timer::Idle }) => (1, at.as_nanos()),
            Some(Deadline { at, timer: Timer::Head }) => (2, at.as_nanos()),
        };
        let mut bytes = [0u8; STATE_LEN];
        bytes[0] = kind;
        bytes[1] = phase;
        bytes[2] = timer;
        bytes[8..16].copy_from_slice(&u64::to_le_bytes(a));
        bytes[16..24].copy_from_slice(&u64::to_le_bytes(b));
        bytes[24..32].copy_from_slice(&u64::to_le_bytes(at));
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
        let (a, b, at) = (word(8..16)?, word(16..24)?, word(24..32)?);
        if bytes[3..8].iter().any(|&b| b != 0) {
            return None;
        }
        let state = match (bytes[0], bytes[1]) {
            (0, 0) => State::Head,
            (1, 0) if a > 0 => State::Body(a),
            (2, 0) => State::Chunked { phase: Phase::Size, received: b },
            (2, 1) if a > 0 => State::Chunked { phase: Phase::Data(a), received: b },
            (2, 2) => State::Chunked { phase: Phase::DataEnd, received: b },
            (2, 3) => State::Chunked { phase: Phase::Trailer, received: b },
            (3, 0) => State::Closed,
            (4, 0) => State::Expired,
            (5, 0) => State::Done,
            _ => return None,
        };
        let deadline = match (bytes[2], at) {
            (0, 0) => None,
            (1, at) => Some(Deadline { at: Moment::from_nanos(at), timer: Timer::Idle }),
            (2, at) => Some(Deadline { at: Moment::from_nanos(at), timer: Timer::Head }),
            _ => return None,
        };
        Some(Self { limits, state, deadline })
    }
}
