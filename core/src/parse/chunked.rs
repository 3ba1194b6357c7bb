//! The chunked transfer-coding (RFC 9112 §7.1), decoded only far enough to
//! know where the body ends: portico never needs request body bytes.
//!
//! chunked-body = *chunk last-chunk trailer-section CRLF

use nom::Parser;
use nom::branch::alt;
use nom::bytes::streaming::take_while1;
use nom::character::streaming::char;
use nom::combinator::{map, opt};
use nom::multi::many0;

use super::grammar::{PResult, eol, fail, field_line, is_field_byte, ows, section_end, token};
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

/// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
fn quoted_string(i: &[u8]) -> PResult<'_, ()> {
    let (mut i, _) = char('"')(i)?;
    loop {
        match i {
            [] | [b'\\'] => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            [b'"', rest @ ..] => return Ok((rest, ())),
            [b'\\', escaped, rest @ ..] if is_field_byte(*escaped) => i = rest,
            [b, rest @ ..] if is_field_byte(*b) && *b != b'\\' => i = rest,
            _ => return fail(ProtocolError::BadFraming),
        }
    }
}

/// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-name = token; chunk-ext-val = token / quoted-string
///
/// Checked, then ignored (§7.1.1): a malformed extension is a framing
/// error, as a front end that reads it differently would frame the body
/// differently.
fn chunk_ext(i: &[u8]) -> PResult<'_, ()> {
    let value = alt((map(token, |_| ()), quoted_string));
    let (i, _) = (ows, char(';'), ows, token, opt((ows, char('='), ows, value))).parse(i)?;
    Ok((i, ()))
}

/// chunk-size [ chunk-ext ] CRLF
fn size_line(i: &[u8]) -> PResult<'_, u64> {
    let (i, size) = chunk_size(i)?;
    let (i, _) = many0(chunk_ext).parse(i)?;
    let (i, ()) = eol(i)?;
    Ok((i, size))
}

/// RFC 9112 lets a recipient take a bare LF as a line end only in the
/// start-line and header fields (§2.2); chunked framing needs CRLF (§7.1).
/// A bare LF there is how requests are smuggled past a front end that
/// reads it another way, so it is a framing error.
fn bare_lf(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b'\n') {
        Some(0) => true,
        Some(at) => line[at - 1] != b'\r',
        None => false,
    }
}

/// Decode the next unit of a chunked body from the start of `buf`.
pub(crate) fn step(phase: Phase, buf: &[u8]) -> Result<Step, ProtocolError> {
    let line: fn(&[u8]) -> PResult<'_, Step> = match phase {
        // Chunk data is opaque: any byte, LF included.
        Phase::Data(remaining) => return Ok(skip_data(remaining, buf)),
        Phase::Size => size_step,
        Phase::DataEnd => data_end_step,
        Phase::Trailer => trailer_step,
    };
    let window = &buf[..buf.len().min(MAX_LINE)];
    if bare_lf(window) {
        return Err(ProtocolError::BadFraming);
    }
    let parsed = line(window);
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

/// A size line: then the chunk's data, or the trailer after the last chunk.
fn size_step(i: &[u8]) -> PResult<'_, Step> {
    let (rest, size) = size_line(i)?;
    let next = if size == 0 { Phase::Trailer } else { Phase::Data(size) };
    Ok((rest, Step::Advance { consumed: 0, next, data: size }))
}

/// The CRLF after chunk-data: then the next size line.
fn data_end_step(i: &[u8]) -> PResult<'_, Step> {
    let (rest, ()) = eol(i)?;
    Ok((rest, Step::Advance { consumed: 0, next: Phase::Size, data: 0 }))
}

/// trailer-section = *( field-line CRLF ), then the final CRLF.
fn trailer_step(i: &[u8]) -> PResult<'_, Step> {
    let (rest, ended) = section_end(i)?;
    if ended {
        return Ok((rest, Step::Done { consumed: 0 }));
    }
    let (rest, _) = field_line(rest)?;
    Ok((rest, Step::Advance { consumed: 0, next: Phase::Trailer, data: 0 }))
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
