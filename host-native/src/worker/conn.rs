//! One connection as its worker keeps it: the socket, the core's state
//! (through the handler), and where the connection stands, as enums
//! rather than flags: what it is doing ([`Phase`]), what its socket may
//! hold ([`Input`]), and its place in the idle list ([`Links`]).

use std::net::IpAddr;

use mio::net::TcpStream;
use portico_core::Moment;

use super::outgoing::Outgoing;

/// What a connection is doing.
pub(super) enum Phase {
    /// Reading requests and stepping the handler over them.
    Reading,
    /// Writing a response, resumable where the socket stopped taking it.
    Writing(Outgoing),
    /// After its last response: writes shut down, reading and dropping
    /// what the client still sends (this many bytes so far) until it
    /// closes or the linger ends.
    Lingering {
        /// Bytes read and dropped.
        drained: usize,
    },
}

/// What the socket may hold, as edge-triggered readiness tells it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Input {
    /// Emptied by a read that did not fill its buffer: the next bytes
    /// bring an event.
    Drained,
    /// May hold unread bytes.
    Ready,
    /// The peer shut down its side (EPOLLRDHUP, or an error): a short read
    /// no longer means the socket is empty, the end of input is still to
    /// be read.
    Ended,
}

impl Input {
    /// After a readiness event: `readable` (or hung up), `ended`.
    pub(super) fn on_event(self, readable: bool, ended: bool) -> Self {
        match self {
            _ if ended => Self::Ended,
            Self::Drained if readable => Self::Ready,
            other => other,
        }
    }

    /// After a read that returned bytes and `filled` its buffer or not.
    pub(super) fn after_read(self, filled: bool) -> Self {
        match self {
            Self::Ended => Self::Ended,
            _ if filled => Self::Ready,
            _ => Self::Drained,
        }
    }

    /// Whether a read may find bytes (or the end).
    pub(super) fn readable(self) -> bool {
        self != Self::Drained
    }
}

/// A connection's neighbours in the idle list (slot indices; [`NIL`] at
/// the ends).
#[derive(Clone, Copy, Debug)]
pub(super) struct Links {
    pub(super) prev: usize,
    pub(super) next: usize,
}

/// A slot index that is no connection (the ends of the idle list).
pub(super) const NIL: usize = usize::MAX;

pub(super) struct Conn<C> {
    pub(super) stream: TcpStream,
    pub(super) peer: IpAddr,
    /// The handler's state of this connection.
    pub(super) proto: C,
    /// Tells this connection from a later one in the same slot.
    pub(super) serial: u64,
    pub(super) phase: Phase,
    pub(super) input: Input,
    /// Watched by the worker's poll (from its first wait on).
    pub(super) registered: bool,
    /// It read bytes since it last waited: its idle time starts anew.
    pub(super) active: bool,
    /// The handler has not seen the input as it is (new bytes, a new
    /// connection): step before reading.
    pub(super) fresh: bool,
    /// Input not consumed yet, kept between readiness events.
    pub(super) pending: Vec<u8>,
    /// Bytes read ahead: how many, in which slot of the worker's
    /// read-ahead buffer.
    pub(super) ahead: Option<(usize, usize)>,
    /// The number of the last read that brought bytes (`Reads::note`).
    pub(super) read_mark: u64,
    /// A wait for the next request that began at this moment without a
    /// step, so the handler's deadline is not armed yet.
    pub(super) unarmed: Option<Moment>,
    /// The first step that saw a byte of the request being read.
    pub(super) began: Option<Moment>,
    /// When the connection must be woken: the handler's deadline, a send
    /// timeout, a linger's end.
    pub(super) deadline: Option<Moment>,
    /// The earliest entry this connection has in the timer heap.
    pub(super) scheduled: Option<Moment>,
    /// In the idle list, between these.
    pub(super) idle: Option<Links>,
}

impl<C> Conn<C> {
    /// A connection just accepted. The listener's deferred accept hands
    /// one over once its first bytes are here (or a second has passed):
    /// reading at once saves a trip through poll.
    pub(super) fn new(stream: TcpStream, peer: IpAddr, proto: C, serial: u64) -> Self {
        Self {
            stream,
            peer,
            proto,
            serial,
            phase: Phase::Reading,
            input: Input::Ready,
            registered: false,
            active: false,
            fresh: true,
            pending: Vec::new(),
            ahead: None,
            read_mark: 0,
            unarmed: None,
            began: None,
            deadline: None,
            scheduled: None,
            idle: None,
        }
    }

    /// The response being written, taken out: the connection reads again.
    pub(super) fn take_out(&mut self) -> Option<Outgoing> {
        match std::mem::replace(&mut self.phase, Phase::Reading) {
            Phase::Writing(out) => Some(out),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Whether it is reading (not writing a response, not lingering).
    pub(super) fn reading(&self) -> bool {
        matches!(self.phase, Phase::Reading)
    }
}
