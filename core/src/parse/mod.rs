//! The RFC 9112 request grammar, written with nom's streaming combinators.
//!
//! Every rule here sees a prefix of what the client will eventually send, so
//! "ran out of input" is `nom::Err::Incomplete` (mapped to
//! [`Parsed::Partial`]) and never an error. `nom::Err` stays inside this
//! module: [`parse_request`] turns it into the crate's [`ProtocolError`].

pub(crate) mod chunked;
mod grammar;
mod semantics;

pub use grammar::MAX_METHOD;
pub use grammar::{field_run, is_tchar};

use crate::{Limits, ProtocolError, Request};

/// True if `buf`, after any empty lines, starts with the `HEAD` method:
/// even a malformed HEAD request must get an answer without a body.
pub(crate) fn is_head_request(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    buf[start..].starts_with(b"HEAD ")
}

/// The outcome of looking at a buffer that may hold a request head.
#[derive(Clone, PartialEq, Eq, Debug)]
#[must_use]
pub enum Parsed<T> {
    /// A complete head; [`Request::head_len`] says how many bytes it took.
    Complete(T),
    /// The bytes so far are a valid prefix of a request head: read more and
    /// call again with the longer buffer (from the same start).
    Partial,
}

/// Parse one request head from the start of `buf`.
///
/// The result depends only on the bytes, never on how they arrived: a
/// buffer that grows one byte at a time gives `Partial` until the same
/// outcome the whole buffer gives at once. Only the first
/// [`Limits::max_head`] bytes are ever looked at, so a head that has not
/// ended by then is [`ProtocolError::HeadTooLarge`].
///
/// # Warning
///
/// On `Partial`, keep every byte: the next call must see the buffer from
/// the same start. A caller that retries on a buffer that can no longer
/// grow (its peer closed) must stop, not loop.
pub fn parse_request<'b>(
    buf: &'b [u8],
    limits: &Limits,
) -> Result<Parsed<Request<'b>>, ProtocolError> {
    let window = &buf[..buf.len().min(limits.max_head)];
    match grammar::head(window, limits) {
        Ok((rest, raw)) => {
            let head_len = window.len() - rest.len();
            semantics::check(raw, head_len, limits).map(Parsed::Complete)
        }
        Err(nom::Err::Incomplete(_)) if buf.len() >= limits.max_head => {
            Err(ProtocolError::HeadTooLarge)
        }
        Err(nom::Err::Incomplete(_)) => Ok(Parsed::Partial),
        Err(nom::Err::Error(fail) | nom::Err::Failure(fail)) => Err(fail.0),
    }
}
