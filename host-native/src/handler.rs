//! The seam between the server loop (sockets, threads, timeouts) and
//! whatever decides the HTTP: the core in-process here, a WASI guest in
//! `portico-wasi`.

use std::time::SystemTime;

use portico_core::{Body, Connection, Event, Limits, Response, error_response, respond};

use crate::files::RootDir;

/// What to do next with a connection's buffered bytes.
#[derive(Debug)]
pub enum Step {
    /// Read more bytes and step again with the whole unconsumed buffer.
    NeedMore,
    /// Drop this many bytes (request body) and step again.
    Discard(usize),
    /// Drop `consumed` bytes, write this reply, and go on or close as it
    /// says.
    Respond(Reply),
    /// Close now without writing.
    Close,
}

/// A response ready to write.
#[derive(Debug)]
pub struct Reply {
    /// Input bytes the request head took (0 for a rejection: the
    /// connection closes anyway).
    pub consumed: usize,
    /// The status code, for the access log.
    pub status: u16,
    /// The serialised head.
    pub head: Vec<u8>,
    /// What follows the head.
    pub body: HostBody,
    /// Whether to read another request afterwards.
    pub keep_alive: bool,
}

/// A response body in a form the server loop can write.
#[derive(Debug)]
pub enum HostBody {
    /// Nothing.
    Empty,
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `offset`, sent with sendfile.
    File {
        /// An open file below the web root.
        file: std::fs::File,
        /// Where to start.
        offset: u64,
        /// How many bytes the head promised.
        len: u64,
    },
}

impl HostBody {
    /// How many bytes follow the head.
    pub fn len(&self) -> u64 {
        match self {
            Self::Empty => 0,
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    /// True when nothing follows the head.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Reply {
    /// A reply from a core response whose body handle is an open file.
    pub fn from_core(consumed: usize, response: Response<std::fs::File>) -> Self {
        let (status, head, body, keep_alive) = response.into_parts();
        let body = match body {
            Body::Empty => HostBody::Empty,
            Body::Bytes(bytes) => HostBody::Bytes(bytes),
            Body::File { handle, offset, len } => HostBody::File { file: handle, offset, len },
        };
        Self { consumed, status, head, body, keep_alive }
    }
}

/// Decides what each connection's bytes mean. The server calls it from
/// many threads at once, one connection per thread.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection protocol state, owned by the connection's thread.
    type Conn: Send;

    /// State for a new connection.
    fn connect(&self) -> Self::Conn;

    /// Look at the unconsumed bytes of a connection.
    fn step(&self, conn: &mut Self::Conn, input: &[u8], now: SystemTime) -> Step;

    /// True while `conn` waits for a request head: a read timeout then
    /// means "idle" (close quietly) or "stalled mid-head" (408).
    fn awaiting_head(&self, conn: &Self::Conn) -> bool;

    /// The read buffer size: at least the longest head the handler
    /// accepts, so a head never needs more room than there is.
    fn buffer_size(&self) -> usize {
        Limits::default().max_head
    }

    /// Stack size for a connection thread.
    fn stack_size(&self) -> usize {
        256 * 1024
    }
}

/// The core, in-process, over a real directory.
#[derive(Debug)]
pub struct NativeHandler {
    root: RootDir,
    limits: Limits,
}

impl NativeHandler {
    /// Serve `root` with these limits.
    pub fn new(root: RootDir, limits: Limits) -> Self {
        Self { root, limits }
    }
}

impl Handler for NativeHandler {
    type Conn = Connection;

    fn connect(&self) -> Connection {
        Connection::new(self.limits)
    }

    fn step(&self, conn: &mut Connection, input: &[u8], now: SystemTime) -> Step {
        match conn.poll(input) {
            Event::NeedMore => Step::NeedMore,
            Event::Discard(n) => Step::Discard(n),
            Event::Request(request) => {
                let response = respond(&request, &self.root, now);
                Step::Respond(Reply::from_core(request.head_len(), response))
            }
            Event::Reject(rejection) => {
                Step::Respond(Reply::from_core(0, error_response(rejection, now)))
            }
            Event::Close => Step::Close,
        }
    }

    fn awaiting_head(&self, conn: &Connection) -> bool {
        conn.awaiting_head()
    }

    fn buffer_size(&self) -> usize {
        self.limits.max_head
    }
}
