//! What a grammatically valid head must also satisfy: the target form fits
//! the method, `Host` is there once (1.1), the body length is unambiguous,
//! and whether the connection persists.

use super::grammar::RawHead;
use crate::request::{Framing, Header, Method, Target, Version, list_elements, valid_host};
use crate::{Limits, ProtocolError, Request};

pub(super) fn check<'b>(
    raw: RawHead<'b>,
    head_len: usize,
    limits: &Limits,
) -> Result<Request<'b>, ProtocolError> {
    let method = Method::from_token(raw.method);
    let form = target_form(raw.method, raw.target)?;
    let fields = Fields::scan(&raw.headers);
    check_host(raw.version, &fields)?;
    let framing = if fields.transfer_encoding || fields.content_length {
        framing(raw.version, &raw.headers, limits)?
    } else {
        Framing::None
    };
    let keep_alive = persists(raw.version, &raw.headers, &fields, framing);
    Ok(Request {
        method,
        target: raw.target,
        form,
        version: raw.version,
        headers: raw.headers,
        head_len,
        framing,
        keep_alive,
    })
}

/// The header fields the rules below depend on, found in one pass: most
/// requests have none but `Host` (and `Connection`), so the other rules
/// need not look at the fields again.
#[derive(Default)]
struct Fields<'b> {
    hosts: usize,
    host: Option<&'b [u8]>,
    transfer_encoding: bool,
    content_length: bool,
    connection: bool,
    expect_continue: bool,
}

impl<'b> Fields<'b> {
    fn scan(headers: &[Header<'b>]) -> Self {
        let mut fields = Self::default();
        for header in headers {
            let name = header.name.as_bytes();
            // The length first: one compare rules out almost every field.
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    fields.hosts += 1;
                    fields.host.get_or_insert(header.value);
                }
                6 if name.eq_ignore_ascii_case(b"expect") => {
                    fields.expect_continue |= header.value.eq_ignore_ascii_case(b"100-continue");
                }
                10 if name.eq_ignore_ascii_case(b"connection") => fields.connection = true,
                14 if name.eq_ignore_ascii_case(b"content-length") => fields.content_length = true,
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    fields.transfer_encoding = true;
                }
                _ => {}
            }
        }
        fields
    }
}

/// RFC 9112 §3.2: asterisk-form only for OPTIONS, authority-form only for
/// CONNECT (and CONNECT only with it).
fn target_form<'b>(method: &str, target: &'b str) -> Result<Target<'b>, ProtocolError> {
    let form = Target::parse(target).ok_or(ProtocolError::Malformed)?;
    let fits = match form {
        Target::Asterisk => method == "OPTIONS",
        Target::Authority(_) => method == "CONNECT",
        Target::Origin { .. } | Target::Absolute { .. } => method != "CONNECT",
    };
    if fits { Ok(form) } else { Err(ProtocolError::Malformed) }
}

/// RFC 9112 §3.2: an HTTP/1.1 request without exactly one `Host`, or any
/// request with more than one or with an invalid value, gets a 400.
fn check_host(version: Version, fields: &Fields<'_>) -> Result<(), ProtocolError> {
    if fields.hosts > 1 {
        return Err(ProtocolError::BadHost);
    }
    match fields.host {
        None if version == Version::Http11 => Err(ProtocolError::BadHost),
        Some(host) if !valid_host(host) => Err(ProtocolError::BadHost),
        _ => Ok(()),
    }
}

/// RFC 9112 §6.1 and §6.3: how long the body is, or why nobody can tell.
fn framing(
    version: Version,
    headers: &[Header<'_>],
    limits: &Limits,
) -> Result<Framing, ProtocolError> {
    let named = |name: &'static str| {
        headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    };
    let mut codings = named("transfer-encoding").peekable();
    let mut lengths = named("content-length").peekable();

    if codings.peek().is_some() {
        // §6.1: TE in a 1.0 request means the framing is faulty; with a
        // Content-Length too it is a smuggling attempt (§6.3 item 3).
        if version == Version::Http10 || lengths.peek().is_some() {
            return Err(ProtocolError::BadFraming);
        }
        let codings: Vec<&[u8]> = codings.flat_map(list_elements).collect();
        let is_chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        return match codings.split_last() {
            None => Err(ProtocolError::BadFraming),
            // §6.3 item 4: chunked anywhere but last (or twice) leaves the
            // length unknowable: 400, whatever the other codings are.
            Some((_, before)) if before.iter().any(is_chunked) => Err(ProtocolError::BadFraming),
            // §6.1: any other coding is one portico does not implement.
            Some((last, before)) if is_chunked(last) && before.is_empty() => Ok(Framing::Chunked),
            Some(_) => Err(ProtocolError::UnknownTransferCoding),
        };
    }

    // §6.3 item 5 and RFC 9110 §8.6: several identical values (in one
    // field or several) are one length; differing or invalid ones are 400.
    let mut length: Option<u64> = None;
    for field in lengths {
        let mut elements = list_elements(field).peekable();
        // An empty field (`Content-Length:` or `Content-Length: ,`) is not
        // 1*DIGIT but an invalid length (§6.3 item 5), not "no body": a
        // front end that reads it another way would frame the body
        // differently from us.
        if elements.peek().is_none() {
            return Err(ProtocolError::BadFraming);
        }
        for element in elements {
            let value = content_length(element)?;
            match length {
                Some(seen) if seen != value => return Err(ProtocolError::BadFraming),
                _ => length = Some(value),
            }
        }
    }
    match length {
        None | Some(0) => Ok(Framing::None),
        Some(n) if n > limits.max_body => Err(ProtocolError::BodyTooLarge),
        Some(n) => Ok(Framing::Length(n)),
    }
}

/// Content-Length = 1*DIGIT. A value that does not fit in 64 bits is
/// certainly larger than any body limit.
fn content_length(digits: &[u8]) -> Result<u64, ProtocolError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ProtocolError::BadFraming);
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ProtocolError::BodyTooLarge)
    })
}

/// RFC 9112 §9.3: 1.1 persists unless `close`; 1.0 only with `keep-alive`.
/// A request that announced a body and waits for `100 Continue` will not be
/// sent its body (portico reads none), so its connection cannot be reused
/// without guessing what the client did (RFC 9110 §10.1.1).
fn persists(
    version: Version,
    headers: &[Header<'_>],
    fields: &Fields<'_>,
    framing: Framing,
) -> bool {
    let awaits_continue = framing != Framing::None && fields.expect_continue;
    if !fields.connection {
        return version == Version::Http11 && !awaits_continue;
    }
    let mut options = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| list_elements(h.value));
    let persistent = match version {
        Version::Http11 => !options.any(|o| o.eq_ignore_ascii_case(b"close")),
        Version::Http10 => {
            let (mut keep, mut close) = (false, false);
            for option in options {
                keep |= option.eq_ignore_ascii_case(b"keep-alive");
                close |= option.eq_ignore_ascii_case(b"close");
            }
            keep && !close
        }
    };
    persistent && !awaits_continue
}
