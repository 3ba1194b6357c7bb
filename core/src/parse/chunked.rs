//! The chunked transfer-coding (RFC 9112 §7.1), decoded only far enough to
//! know where the body ends: portico never needs request body bytes.
//!
//! chunked-body = *chunk last-chunk trailer-section CRLF

use nom::Parser;
use nom::bytes::streaming::{take_while, take_while1};
use nom::character::streaming::char;
use nom::combinator::opt;

use super::grammar::{PResult, eol, fail, field_line, is_field_byte, ows, section_end};
use crate::ProtocolError;

/// A size line or trailer line longer than this is refused. Chunk
/// extensions are rarely more than a few bytes; nginx and h11 bound the
/// line similarly.
const MAX_LINE: usize = 4096;

/// Where in a chunked body the decoder stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Before a `chunk-size [ chunk-ext ] CRLF` line.
    Size,
    /// Inside chunk-data, with this many bytes still to come.
    Data(u64),
    /// After chunk-data, before its CRLF.
    DataEnd,
    /// After the last-chunk, in the trailer section.
    Trailer,
}

/// What one decoding step did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Step {
    /// The buffer does not hold the next unit yet.
    NeedMore,
    /// `consumed` bytes decoded; the body goes on in `next`.
    Advance { consumed: usize, next: Phase, data: u64 },
    /// `consumed` bytes decoded and the body is complete.
    Done { consumed: usize },
}

/// chunk-size = 1*HEXDIG, at most 16 digits (a u64)
fn chunk_size(i: &[u8]) -> PResult<'_, u64> {
    let (rest, hex) = take_while1(|b: u8| b.is_ascii_hexdigit())(i)?;
    if hex.len() > 16 {
        return fail(ProtocolError::BodyTooLarge);
    }
    let size = hex.iter().fold(0u64, |n, &d| (n << 4) | u64::from(hex_value(d)));
    Ok((rest, size))
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d.wrapping_sub(b'A').wrapping_add(10),
    }
}

/// chunk-size [ chunk-ext ] CRLF, where
/// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
///
/// Extensions are skipped, not interpreted; whitespace after the size is
/// only allowed before a `;`.
fn size_line(i: &[u8]) -> PResult<'_, u64> {
    let (i, size) = chunk_size(i)?;
    let (i, _) = opt((ows, char(';'), take_while(is_field_byte))).parse(i)?;
    let (i, ()) = eol(i)?;
    Ok((i, size))
}

/// Decode the next unit of a chunked body from the start of `buf`.
pub(crate) fn step(phase: Phase, buf: &[u8]) -> Result<Step, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_LINE)];
    let parsed = match phase {
        Phase::Data(remaining) => return Ok(skip_data(remaining, buf)),
        Phase::Size => size_line(window).map(|(rest, size)| {
            let next = if size == 0 { Phase::Trailer } else { Phase::Data(size) };
            (rest, Step::Advance { consumed: 0, next, data: size })
        }),
        Phase::DataEnd => eol(window)
            .map(|(rest, ())| (rest, Step::Advance { consumed: 0, next: Phase::Size, data: 0 })),
        Phase::Trailer => section_end(window).and_then(|(rest, ended)| {
            if ended {
                Ok((rest, Step::Done { consumed: 0 }))
            } else {
                let (rest, _) = field_line(rest)?;
                Ok((rest, Step::Advance { consumed: 0, next: Phase::Trailer, data: 0 }))
            }
        }),
    };
    match parsed {
        Ok((rest, step)) => {
            let consumed = window.len() - rest.len();
            Ok(match step {
                Step::Advance { next, data, .. } => Step::Advance { consumed, next, data },
                Step::Done { .. } => Step::Done { consumed },
                Step::NeedMore => Step::NeedMore,
            })
        }
        Err(nom::Err::Incomplete(_)) if buf.len() >= MAX_LINE => Err(ProtocolError::BadFraming),
        Err(nom::Err::Incomplete(_)) => Ok(Step::NeedMore),
        Err(nom::Err::Error(_)) => Err(ProtocolError::BadFraming),
        Err(nom::Err::Failure(f)) => Err(match f.0 {
            ProtocolError::Malformed => ProtocolError::BadFraming,
            other => other,
        }),
    }
}

/// chunk-data = 1*OCTET: skip what the buffer holds of it.
fn skip_data(remaining: u64, buf: &[u8]) -> Step {
    if buf.is_empty() {
        return Step::NeedMore;
    }
    // `n <= buf.len()`, so the cast back to usize is lossless.
    let n = remaining.min(buf.len() as u64);
    let next = if n == remaining { Phase::DataEnd } else { Phase::Data(remaining - n) };
    Step::Advance { consumed: n as usize, next, data: 0 }
}
