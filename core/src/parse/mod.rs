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

use crate::request::{Header, Version};
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

/// A request from parts that some other parser produced, checked as
/// [`parse_request`] checks the same head sent as bytes (see
/// [`Request::from_parts`]).
pub(crate) fn request_from_parts<'b>(
    method: &'b str,
    target: &'b str,
    version: Version,
    fields: impl IntoIterator<Item = (&'b str, &'b [u8])>,
    limits: &Limits,
) -> Result<Request<'b>, ProtocolError> {
    // As the grammar reads the request-line: a run of token bytes longer
    // than any method is 501, then a bad byte or an empty method 400;
    // then the target's charset, where a run past the limit is 414.
    let run = method.bytes().position(|b| !is_tchar(b)).unwrap_or(method.len());
    if run > MAX_METHOD {
        return Err(ProtocolError::LongMethod);
    }
    if run == 0 || run < method.len() {
        return Err(ProtocolError::Malformed);
    }
    let run = target.bytes().position(|b| !b.is_ascii_graphic()).unwrap_or(target.len());
    if run > limits.max_target {
        return Err(ProtocolError::TargetTooLong);
    }
    if run == 0 || run < target.len() {
        return Err(ProtocolError::Malformed);
    }
    // Where the head as bytes would have each field line: past
    // `max_head` the parser would have stopped with 431 before it saw
    // what follows, so that is the answer here too.
    let mut at = method.len() + target.len() + " ".len() * 2 + "HTTP/1.1\r\n".len();
    let mut headers = Vec::new();
    for (name, value) in fields {
        // In the grammar's order: the line's first byte (whitespace there
        // is obs-fold, a lone CR no line end), then the count, then the
        // field.
        if at >= limits.max_head {
            return Err(ProtocolError::HeadTooLarge);
        }
        match name.as_bytes().first() {
            Some(b' ' | b'\t') => return Err(ProtocolError::Malformed),
            // A CR is a line end or not by the byte after it: at the end
            // of the window the parser cannot tell, and it is 431.
            Some(b'\r') if at + 1 >= limits.max_head => return Err(ProtocolError::HeadTooLarge),
            Some(b'\r') => return Err(ProtocolError::Malformed),
            _ => {}
        }
        if headers.len() == limits.max_headers {
            return Err(ProtocolError::HeadTooLarge);
        }
        let value = trim_ows(value);
        // Where the first bad byte is, and how many bytes from there the
        // parser needs to call it bad: a CR ending a value might be a line
        // end until the byte after it is seen.
        let bad = match name.bytes().position(|b| !is_tchar(b)) {
            Some(i) => Some((i, 1)),
            None if name.is_empty() => Some((0, 1)),
            None => {
                let run = field_run(value);
                let seen = if value.get(run) == Some(&b'\r') { 2 } else { 1 };
                (run < value.len()).then_some((name.len() + ": ".len() + run, seen))
            }
        };
        if let Some((i, seen)) = bad {
            let beyond = at + i + seen > limits.max_head;
            return Err(if beyond {
                ProtocolError::HeadTooLarge
            } else {
                ProtocolError::Malformed
            });
        }
        at += name.len() + ": ".len() + value.len() + "\r\n".len();
        headers.push(Header { name, value });
    }
    if at + "\r\n".len() > limits.max_head {
        return Err(ProtocolError::HeadTooLarge);
    }
    let raw = grammar::RawHead { method, target, version, headers };
    semantics::check(raw, 0, limits)
}

/// A field value without the optional whitespace around it (RFC 9110
/// §5.5: SP and HTAB), as the grammar leaves it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(value.len());
    let end = value.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |at| at + 1);
    &value[start..end]
}
