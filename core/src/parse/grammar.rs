//! One function per RFC 9112 rule. Each returns `Incomplete` when the input
//! ends before the rule can be decided, `Error` for "not this rule" and
//! `Failure` for "this request is broken, and here is why".

use nom::IResult;
use nom::Parser;
use nom::branch::alt;
use nom::bytes::streaming::{tag, take, take_while, take_while1};

use nom::character::streaming::char;
use nom::error::{ErrorKind, ParseError};

use crate::request::{Header, Version};
use crate::{Limits, ProtocolError};

/// The longest method token parsed as one: 32 bytes, well over the
/// longest registered method (`UPDATEREDIRECTREF`, 17) and any portico
/// implements. Longer is [`ProtocolError::LongMethod`] (501).
pub const MAX_METHOD: usize = 32;

/// The only error type the grammar produces: which protocol error to
/// answer with. nom's own error kinds all mean "malformed".
#[derive(Debug)]
pub(crate) struct Fail(pub(crate) ProtocolError);

impl ParseError<&[u8]> for Fail {
    fn from_error_kind(_: &[u8], _: ErrorKind) -> Self {
        Self(ProtocolError::Malformed)
    }

    fn append(_: &[u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'b, O> = IResult<&'b [u8], O, Fail>;

pub(crate) fn fail<T>(error: ProtocolError) -> Result<T, nom::Err<Fail>> {
    Err(nom::Err::Failure(Fail(error)))
}

/// A request head as the grammar sees it, before any meaning is checked.
#[derive(Debug)]
pub(crate) struct RawHead<'b> {
    pub(crate) method: &'b str,
    pub(crate) target: &'b str,
    pub(crate) version: Version,
    pub(crate) headers: Vec<Header<'b>>,
}

/// Whether `b` may appear in a token, such as a method or a header field
/// name (RFC 9110 §5.6.2):
/// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
///         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
#[must_use]
pub fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] as a table: one load per byte on the hot path.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.')
            || matches!(c, b'^' | b'_' | b'`' | b'|' | b'~');
        b += 1;
    }
    table
};

/// field-vchar = VCHAR / obs-text, plus the SP and HTAB allowed inside a
/// field-value (RFC 9110 §5.5). Everything else (CTLs, DEL, a bare CR) is
/// refused, as §5.5 asks of recipients that do not replace them.
pub(crate) fn is_field_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// The request-target charset: any VCHAR. The form is checked later.
fn is_target_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// token = 1*tchar
pub(crate) fn token(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(is_tchar)(i)
}

/// OWS = *( SP / HTAB )
pub(crate) fn ows(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while(|b| b == b' ' || b == b'\t')(i)
}

/// CRLF, or a bare LF: RFC 9112 §2.2 lets a recipient accept LF alone as a
/// line terminator. A CR not followed by LF is an error.
pub(crate) fn eol(i: &[u8]) -> PResult<'_, ()> {
    let (i, _) = alt((tag("\r\n"), tag("\n"))).parse(i)?;
    Ok((i, ()))
}

/// RFC 9112 §2.2: a server SHOULD ignore at least one empty line received
/// before the request-line. The head limit bounds how many.
fn leading_empty_lines(mut i: &[u8]) -> PResult<'_, ()> {
    loop {
        match eol(i) {
            Ok((rest, ())) => i = rest,
            Err(nom::Err::Error(_)) => return Ok((i, ())),
            Err(other) => return Err(other),
        }
    }
}

/// method = token
///
/// A token longer than [`MAX_METHOD`] is no method portico implements:
/// 501 as soon as it is known (RFC 9112 §3), the same however it arrives.
fn method(i: &[u8]) -> PResult<'_, &str> {
    let m = match i.iter().position(|&b| !is_tchar(b)) {
        Some(0) => return fail(ProtocolError::Malformed),
        Some(n) if n > MAX_METHOD => return fail(ProtocolError::LongMethod),
        Some(n) => &i[..n],
        None if i.len() > MAX_METHOD => return fail(ProtocolError::LongMethod),
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
    };
    let i = &i[m.len()..];
    // The common ones need no UTF-8 check.
    let method = match m {
        b"GET" => "GET",
        b"HEAD" => "HEAD",
        other => ascii(other),
    };
    Ok((i, method))
}

/// request-target = origin-form / absolute-form / authority-form /
///                  asterisk-form
///
/// Only the charset is checked here. Longer than `max` is 414 as soon as
/// it is known, without waiting for the rest of the line.
fn request_target(max: usize) -> impl Fn(&[u8]) -> PResult<'_, &str> {
    move |i: &[u8]| match i.iter().position(|&b| !is_target_byte(b)) {
        Some(0) => fail(ProtocolError::Malformed),
        Some(n) if n > max => fail(ProtocolError::TargetTooLong),
        Some(n) => Ok((&i[n..], ascii(&i[..n]))),
        None if i.len() > max => fail(ProtocolError::TargetTooLong),
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
    }
}

fn digit(i: &[u8]) -> PResult<'_, u8> {
    let (rest, d) = take(1usize)(i)?;
    match d {
        [d @ b'0'..=b'9'] => Ok((rest, d - b'0')),
        _ => fail(ProtocolError::Malformed),
    }
}

/// HTTP-version = HTTP-name "/" DIGIT "." DIGIT ; HTTP-name = %s"HTTP"
///
/// A later 1.x is served as 1.1 (RFC 9110 §2.5); another major is 505.
fn http_version(i: &[u8]) -> PResult<'_, Version> {
    let (i, (_, major, _, minor)) = (tag("HTTP/"), digit, char('.'), digit).parse(i)?;
    match (major, minor) {
        (1, 0) => Ok((i, Version::Http10)),
        (1, _) => Ok((i, Version::Http11)),
        _ => fail(ProtocolError::VersionNotSupported),
    }
}

/// request-line = method SP request-target SP HTTP-version CRLF
fn request_line(limits: &Limits) -> impl Fn(&[u8]) -> PResult<'_, (&str, &str, Version)> {
    let target = request_target(limits.max_target);
    move |i: &[u8]| {
        let (i, (m, _, t, _, v, _)) =
            (method, char(' '), &target, char(' '), http_version, eol).parse(i)?;
        Ok((i, (m, t, v)))
    }
}

/// field-line = field-name ":" OWS field-value OWS
///
/// No whitespace is allowed between the name and the colon (RFC 9112 §5.1
/// requires a 400).
pub(crate) fn field_line(i: &[u8]) -> PResult<'_, Header<'_>> {
    let (i, (name, _, _, value, _)) = (token, char(':'), ows, field_value, eol).parse(i)?;
    let value = value.trim_ascii_end();
    Ok((i, Header { name: ascii(name), value }))
}

/// *field-byte, streaming: the longest run of [`is_field_byte`]s.
fn field_value(i: &[u8]) -> PResult<'_, &[u8]> {
    let n = field_run(i);
    if n == i.len() {
        return Err(nom::Err::Incomplete(nom::Needed::new(1)));
    }
    Ok((&i[n..], &i[..n]))
}

/// How many leading bytes of `bytes` may stand in a field value or a
/// reason phrase: HTAB, SP, visible ASCII and obs-text (RFC 9110 §5.5);
/// the run ends at the first CR, LF, NUL, DEL or other control. Values are
/// the bulk of a request head (a cookie can be kilobytes), so this looks at
/// eight bytes at a time: a word with no byte below 0x20 and none equal to
/// 0x7F is all field bytes (bytes from 0x80 are obs-text, allowed). Only a
/// word that has one, usually the line's CR, is looked at byte by byte.
/// `portico-abi` checks a guest's response head with it too.
#[must_use]
pub fn field_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut n = 0;
    for word in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else { break };
        let w = u64::from_ne_bytes(word);
        // "has a byte < 0x20" and "has a byte == 0x7F", from Sean
        // Anderson's bit twiddling hacks (hasless, haszero).
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let del = w ^ (ONES * 0x7F);
        let has_del = del.wrapping_sub(ONES) & !del & HIGH;
        if below_space | has_del != 0 {
            break;
        }
        n += 8;
    }
    n + bytes[n..].iter().position(|&b| !is_field_byte(b)).unwrap_or(bytes.len() - n)
}

/// The end of a header section or trailer section: an empty line. A line
/// that starts with whitespace is obs-fold (or whitespace before the first
/// field), which RFC 9112 §5.2 / §2.2 let a server reject with 400.
pub(crate) fn section_end(i: &[u8]) -> PResult<'_, bool> {
    match i.first() {
        None => Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Some(b' ' | b'\t') => fail(ProtocolError::Malformed),
        Some(b'\r' | b'\n') => eol(i).map(|(i, ())| (i, true)),
        Some(_) => Ok((i, false)),
    }
}

/// *( field-line CRLF ) CRLF, at most `max` fields.
fn header_section(max: usize) -> impl Fn(&[u8]) -> PResult<'_, Vec<Header<'_>>> {
    move |mut i: &[u8]| {
        let mut headers = Vec::with_capacity(16);
        loop {
            let (rest, ended) = section_end(i)?;
            if ended {
                return Ok((rest, headers));
            }
            if headers.len() == max {
                return fail(ProtocolError::HeadTooLarge);
            }
            let (rest, header) = field_line(rest)?;
            headers.push(header);
            i = rest;
        }
    }
}

/// HTTP-message head = start-line CRLF *( field-line CRLF ) CRLF
pub(crate) fn head<'b>(i: &'b [u8], limits: &Limits) -> PResult<'b, RawHead<'b>> {
    let (i, ()) = leading_empty_lines(i)?;
    let (i, (method, target, version)) = request_line(limits)(i)?;
    let (i, headers) = header_section(limits.max_headers)(i)?;
    Ok((i, RawHead { method, target, version, headers }))
}

/// The grammar only lets ASCII through to here, so this never falls back;
/// it exists so no `unwrap` is needed on client bytes.
fn ascii(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time scan agrees with the byte test for every byte
    /// value at every position of a run, including tab, DEL and obs-text.
    #[test]
    fn field_run_matches_the_byte_rule() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let expected = bytes.iter().position(|&c| !is_field_byte(c)).unwrap_or(len);
                    assert_eq!(field_run(&bytes), expected, "byte {b:#x} at {at} of {len}");
                }
            }
        }
    }
}
