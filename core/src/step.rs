//! The one driver every host calls: a connection's bytes in, what to do
//! next out. The core decides; a host only reads, writes, opens files and
//! keeps time.
//!
//! ```text
//!         input (unconsumed bytes), now ──▶ Connection::step ──▶ Step
//!  host:  NeedMore          wait for bytes until Connection::poll_timeout
//!                           (then handle_timeout(now) and step again);
//!                           the peer closed: close
//!         Discard(n)        drop n bytes of request body, step again
//!         Respond{consumed, drop `consumed` bytes, write the response,
//!                response}  then step again, or close if it does not
//!                           keep the connection
//!         Close             close without writing
//! ```

use crate::conn::{Connection, Event};
use crate::lookup::FileLookup;
use crate::respond::{error_response, respond};
use crate::response::{Response, Written};
use crate::{Now, Request, Site};

/// What a host does next with a connection, as [`Connection::step`]
/// decides it. `R` is the response as the host holds it: a
/// [`Response`] from the core in-process, a [`Written`] one (its head
/// already serialised) when it crossed the WASI boundary.
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use]
#[non_exhaustive]
pub enum Step<R> {
    /// Wait for more bytes, until [`Connection::poll_timeout`]; append
    /// them and step again with the whole unconsumed input. If the
    /// deadline passes first, call [`Connection::handle_timeout`] and step
    /// again. If the peer closed, close.
    NeedMore,
    /// Drop this many bytes (request body) from the front of the input and
    /// step again.
    Discard(usize),
    /// Drop `consumed` bytes from the front of the input, write
    /// `response`, then step again, or close if the response does not keep
    /// the connection.
    Respond {
        /// Input bytes the request head took (0 for a rejection: the
        /// connection closes after it).
        consumed: usize,
        /// What to write.
        response: R,
    },
    /// Close without writing anything more: the last response said so, a
    /// request body broke its framing after its response went out, or the
    /// connection was idle past its deadline.
    Close,
}

impl<R> Step<R> {
    /// The same step with its response turned into another form (a
    /// [`Response`] into [`Written`], say).
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Step<S> {
        match self {
            Self::NeedMore => Step::NeedMore,
            Self::Discard(n) => Step::Discard(n),
            Self::Respond { consumed, response } => {
                Step::Respond { consumed, response: f(response) }
            }
            Self::Close => Step::Close,
        }
    }
}

impl<H> Step<Response<H>> {
    /// The same step with its response's head serialised into `head`
    /// ([`Response::written`]).
    pub fn written(self, head: Vec<u8>) -> Step<Written<H>> {
        self.map(|response| response.written(head))
    }
}

impl Connection {
    /// Step the connection: look at the bytes received and not yet
    /// consumed (`input`, from where the previous step left off) at `now`,
    /// and answer a whole request from `files` as `site` says. This is
    /// [`Connection::poll`] and [`respond`] (or [`error_response`] for a
    /// rejection) in the one order every host needs.
    ///
    /// # Warning
    ///
    /// On [`Step::NeedMore`] keep every byte: the next step must see the
    /// input from the same start. A host whose peer closed must stop
    /// stepping, not loop.
    pub fn step<L: FileLookup>(
        &mut self,
        input: &[u8],
        now: Now,
        site: &Site,
        files: &L,
    ) -> Step<Response<L::Handle>> {
        self.step_with(input, now, |request| respond(request, site, files, now.wall))
    }

    /// [`Connection::step`] with the answer to a whole request made by
    /// `answer` (a host that wraps [`respond`], a test or fuzz driver
    /// that looks at the request first). A rejection is answered with
    /// [`error_response`].
    pub fn step_with<H>(
        &mut self,
        input: &[u8],
        now: Now,
        answer: impl FnOnce(&Request<'_>) -> Response<H>,
    ) -> Step<Response<H>> {
        match self.poll(input, now.mono) {
            Event::NeedMore => Step::NeedMore,
            Event::Discard(n) => Step::Discard(n),
            Event::Request(request) => {
                Step::Respond { consumed: request.head_len(), response: answer(&request) }
            }
            Event::Reject(rejection) => {
                Step::Respond { consumed: 0, response: error_response(rejection, now.wall) }
            }
            Event::Close => Step::Close,
        }
    }
}
