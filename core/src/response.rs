//! A response as data: a status, an ordered header list and a body
//! description, until [`Response::write_head`] serialises the head. Hosts,
//! the WASI guest and embedders exchange this value, never finished bytes.

use std::borrow::Cow;
use std::cell::Cell;
use std::time::SystemTime;

use crate::request::Version;
use crate::time::Utc;

/// A response: its [`ResponseHead`] and its [`Body`] for the host to send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Response<H> {
    head: ResponseHead,
    body: Body<H>,
}

/// Everything of a response but its body.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The status code, 100 to 999.
    pub status: u16,
    /// The end-to-end header fields, in the order they are written. The
    /// hop-by-hop `Connection` field is not among them: the HTTP/1.1
    /// serialiser ([`ResponseHead::write`]) adds it from `keep_alive` and
    /// `client_version`, so a host that is no HTTP/1.1 connection (a
    /// wasi:http component, a runtime with its own framing) can pass these
    /// fields on as they are.
    pub headers: Headers,
    /// Whether the connection stays open after this response. When false,
    /// the serialised head says `Connection: close` and the host closes
    /// after the body.
    pub keep_alive: bool,
    /// The version of the request this answers: an HTTP/1.0 client keeps
    /// its connection only if told `Connection: keep-alive` (RFC 9112
    /// §9.3), so the serialiser says so to it.
    pub client_version: Version,
}

impl ResponseHead {
    /// A head with this status and no fields, keeping the connection of an
    /// HTTP/1.1 client.
    pub fn new(status: u16) -> Self {
        Self::with_headers(status, Headers::new(), true, Version::Http11)
    }

    pub(crate) fn with_headers(
        status: u16,
        headers: Headers,
        keep_alive: bool,
        client_version: Version,
    ) -> Self {
        Self { status, headers, keep_alive, client_version }
    }

    /// The hop-by-hop `Connection` value the HTTP/1.1 serialiser adds:
    /// `close` when the connection ends, `keep-alive` for an HTTP/1.0
    /// client that keeps it, none otherwise.
    #[must_use]
    pub fn connection(&self) -> Option<&'static str> {
        match (self.keep_alive, self.client_version) {
            (false, _) => Some("close"),
            (true, Version::Http10) => Some("keep-alive"),
            (true, Version::Http11) => None,
        }
    }

    /// Serialise for HTTP/1.1: the status line, each field, then the
    /// hop-by-hop `Connection` field ([`ResponseHead::connection`]), the
    /// empty line, appended to `out`. The one serialiser every host uses.
    pub fn write(&self, out: &mut Vec<u8>) {
        // Appending bytes, not `write!`: core::fmt was a fifth of the
        // user-space time of a small response (callgrind). Room for a
        // typical head first, so the appends do not grow the buffer.
        out.reserve(64 + 48 * self.headers.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        push_number(out, u64::from(self.status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(self.status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in self.headers.iter() {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            value.write(out);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(connection) = self.connection() {
            out.extend_from_slice(b"Connection: ");
            out.extend_from_slice(connection.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl<H> Response<H> {
    /// A response from its parts.
    pub fn from_parts(head: ResponseHead, body: Body<H>) -> Self {
        Self { head, body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The end-to-end header fields, in order (see
    /// [`ResponseHead::headers`]: `Connection` is the serialiser's).
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// The status, fields and persistence.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The body to write after the head.
    pub fn body(&self) -> &Body<H> {
        &self.body
    }

    /// Whether the connection stays open after this response.
    pub fn keep_alive(&self) -> bool {
        self.head.keep_alive
    }

    /// Append the serialised head (status line, fields, empty line) to
    /// `out`. Write these bytes first, then the body.
    pub fn write_head(&self, out: &mut Vec<u8>) {
        self.head.write(out);
    }

    /// The serialised head as new bytes (see [`Response::write_head`]).
    #[must_use]
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.head.write(&mut out);
        out
    }

    /// Take the response apart.
    pub fn into_parts(self) -> (ResponseHead, Body<H>) {
        (self.head, self.body)
    }

    /// The response with its head serialised into `head` (cleared first:
    /// a buffer kept from an earlier response saves the allocation).
    pub fn written(self, mut head: Vec<u8>) -> Written<H> {
        head.clear();
        self.head.write(&mut head);
        Written {
            status: self.head.status,
            keep_alive: self.head.keep_alive,
            head,
            body: self.body,
        }
    }
}

/// A response with its head serialised ([`Response::written`]): what a
/// host writes, the head's bytes as they are, then the body. The WASI
/// guest answers with this (its host checks the head line by line rather
/// than rebuild it from fields), and the server loop sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written<H> {
    /// The status code, as the status line says.
    pub status: u16,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    /// The status line, the header fields and the empty line.
    pub head: Vec<u8>,
    /// The body to send after the head.
    pub body: Body<H>,
}

/// The header fields of a response, in order. Names and values are checked
/// when they come from outside the core ([`Headers::try_push`]), so the
/// serialised head cannot be split or smuggled into by a CR or LF.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Headers {
    fields: Vec<(Cow<'static, str>, FieldValue)>,
}

impl Headers {
    /// No fields.
    #[must_use]
    pub fn new() -> Self {
        // A file response has 6 to 9 fields.
        Self { fields: Vec::with_capacity(10) }
    }

    /// Append a field the core wrote itself: a constant name, a value it
    /// built from checked parts.
    pub(crate) fn add(&mut self, name: &'static str, value: impl Into<FieldValue>) {
        let value = value.into();
        debug_assert!(valid_name(name) && value.is_valid(), "{name}: {value:?}");
        self.fields.push((Cow::Borrowed(name), value));
    }

    /// Append a field, checking that the name is a token (RFC 9110 §5.1)
    /// and the value holds no CR, LF, NUL or other control but HTAB
    /// (§5.5).
    pub fn try_push(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FieldValue>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = checked(name.into(), value.into())?;
        self.fields.push((name, value));
        Ok(())
    }

    /// Replace the value of the named field (case-insensitive) where it
    /// first appears, dropping any later ones, or append it; checked as
    /// [`Headers::try_push`] checks.
    pub fn try_set(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FieldValue>,
    ) -> Result<(), InvalidHeader> {
        let (name, value) = checked(name.into(), value.into())?;
        let mut kept = false;
        self.fields.retain_mut(|(existing, old)| {
            if !existing.eq_ignore_ascii_case(&name) {
                return true;
            }
            if kept {
                return false;
            }
            kept = true;
            *old = value.clone();
            true
        });
        if !kept {
            self.fields.push((name, value));
        }
        Ok(())
    }

    /// The fields in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(name, value)| (&**name, value))
    }

    /// The first value of the named field (case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// How many fields there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A field from outside the core, if it cannot break the head.
fn checked(
    name: Cow<'static, str>,
    value: FieldValue,
) -> Result<(Cow<'static, str>, FieldValue), InvalidHeader> {
    if !valid_name(&name) {
        return Err(InvalidHeader::Name);
    }
    if !value.is_valid() {
        return Err(InvalidHeader::Value);
    }
    Ok((name, value))
}

/// Why [`Headers::try_push`] refused a field.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// The name is empty or not a token.
    Name,
    /// The value holds a control character other than HTAB, or starts or
    /// ends with whitespace.
    Value,
}

impl core::fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Name => "a header field name must be a token (letters, digits, !#$%&'*+-.^_`|~)",
            Self::Value => "a header field value may not hold control characters",
        })
    }
}

impl std::error::Error for InvalidHeader {}

/// A field value, kept typed until it is written so numbers and dates go
/// straight into the head without an intermediate string.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum FieldValue {
    /// Text as written.
    Text(Cow<'static, str>),
    /// A decimal number.
    Number(u64),
    /// An HTTP-date (RFC 9110 §5.6.7, IMF-fixdate). Times outside what an
    /// HTTP-date can say (before 1970, after 9999) are clamped.
    Date(SystemTime),
}

impl FieldValue {
    /// Append the value as it goes on the wire.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Text(text) => out.extend_from_slice(text.as_bytes()),
            Self::Number(n) => push_number(out, *n),
            Self::Date(when) => push_date(out, *when),
        }
    }

    /// The value as it goes on the wire.
    #[must_use]
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(text) => Cow::Borrowed(text),
            other => {
                let mut out = Vec::with_capacity(32);
                other.write(&mut out);
                // Numbers and dates are ASCII.
                Cow::Owned(String::from_utf8_lossy(&out).into_owned())
            }
        }
    }

    fn is_valid(&self) -> bool {
        match self {
            Self::Text(text) => valid_value(text),
            Self::Number(_) | Self::Date(_) => true,
        }
    }
}

impl From<&'static str> for FieldValue {
    fn from(text: &'static str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for FieldValue {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl From<u64> for FieldValue {
    fn from(n: u64) -> Self {
        Self::Number(n)
    }
}

impl From<SystemTime> for FieldValue {
    fn from(when: SystemTime) -> Self {
        Self::Date(when)
    }
}

/// token = 1*tchar (RFC 9110 §5.6.2)
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(crate::parse::is_tchar)
}

/// field-value = *field-content, no leading or trailing whitespace
/// (RFC 9110 §5.5); obs-text is allowed, controls other than HTAB are not.
pub(crate) fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    let trimmed = bytes.trim_ascii();
    trimmed.len() == bytes.len() && bytes.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// The body of a response, described rather than carried: the host writes
/// it after the head.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<H> {
    /// No body (HEAD, redirects, empty files).
    Empty,
    /// A small generated body, such as an error page.
    Bytes(Vec<u8>),
    /// `len` bytes of the file behind `handle`, starting at `offset`. The
    /// host streams them (sendfile where it can); the head already
    /// promised exactly `len` bytes, so a host that cannot send them all
    /// must close the connection rather than send fewer.
    File {
        /// The handle [`crate::FileLookup`] returned.
        handle: H,
        /// Where in the file to start.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
    /// Generated bytes and ranges of one file, in order: the body of a
    /// `multipart/byteranges` response. The same promise as
    /// [`Body::File`] holds for every file part.
    Parts {
        /// The handle [`crate::FileLookup`] returned.
        handle: H,
        /// What to send, in order.
        parts: Vec<Part>,
    },
}

/// One piece of a [`Body::Parts`].
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Part {
    /// These bytes (a part's boundary and header lines).
    Bytes(Vec<u8>),
    /// `len` bytes of the body's file from `offset`.
    File {
        /// Where in the file to start.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

/// One piece of any body, borrowed: what a host writes, in order. Hosts
/// that send bodies through [`Body::segments`] handle every body kind,
/// including ones added later.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Segment<'a> {
    /// Write these bytes.
    Bytes(&'a [u8]),
    /// Stream `len` bytes of the body's file ([`Body::handle`]) from
    /// `offset`.
    File {
        /// Where in the file to start.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

impl<H> Body<H> {
    /// How many bytes the host will send after the head.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.segments()
            .map(|segment| match segment {
                Segment::Bytes(bytes) => bytes.len() as u64,
                Segment::File { len, .. } => len,
            })
            .fold(0, u64::saturating_add)
    }

    /// True if nothing follows the head.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file the body streams from, if it has one.
    #[must_use]
    pub fn handle(&self) -> Option<&H> {
        match self {
            Self::Empty | Self::Bytes(_) => None,
            Self::File { handle, .. } | Self::Parts { handle, .. } => Some(handle),
        }
    }

    /// What to write, in order. Empty segments are skipped.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> {
        let (single, parts) = match self {
            Self::Empty => (None, &[][..]),
            Self::Bytes(bytes) => (Some(Segment::Bytes(bytes)), &[][..]),
            Self::File { offset, len, .. } => {
                (Some(Segment::File { offset: *offset, len: *len }), &[][..])
            }
            Self::Parts { parts, .. } => (None, parts.as_slice()),
        };
        let parts = parts.iter().map(|part| match part {
            Part::Bytes(bytes) => Segment::Bytes(bytes),
            Part::File { offset, len } => Segment::File { offset: *offset, len: *len },
        });
        single.into_iter().chain(parts).filter(|segment| match segment {
            Segment::Bytes(bytes) => !bytes.is_empty(),
            Segment::File { len, .. } => *len > 0,
        })
    }

    /// The same body with its file handle replaced by `f(handle)`, or the
    /// error `f` gave.
    pub fn try_map_handle<H2, E>(self, f: impl FnOnce(H) -> Result<H2, E>) -> Result<Body<H2>, E> {
        Ok(match self {
            Self::Empty => Body::Empty,
            Self::Bytes(bytes) => Body::Bytes(bytes),
            Self::File { handle, offset, len } => Body::File { handle: f(handle)?, offset, len },
            Self::Parts { handle, parts } => Body::Parts { handle: f(handle)?, parts },
        })
    }
}

/// The reason phrase for a status code (RFC 9110 §15); `""` for codes
/// portico has no phrase for (the phrase is optional on the wire).
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// An HTTP-date can only say 1970 to 9999 (httpdate panics outside), so a
/// time beyond either end is pinned to it rather than trusted.
pub(crate) fn date_range(when: SystemTime) -> SystemTime {
    // 9999-12-31T23:59:59Z
    let last = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    when.clamp(SystemTime::UNIX_EPOCH, last)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7 IMF-fixdate), by
/// arithmetic and byte appends: two dates a response made `core::fmt` (in
/// httpdate's `Display`) a tenth of the user-space time of a small
/// response. Checked against httpdate for the whole range in tests.
///
/// The last two seconds written are kept per thread (a small response
/// writes `Date` and the file's `Last-Modified`, and both repeat from one
/// response to the next): a hit is one copy.
fn push_date(out: &mut Vec<u8>, when: SystemTime) {
    type Written = [(u64, [u8; 29]); 2];
    thread_local! {
        static LAST: Cell<Written> = const { Cell::new([(u64::MAX, [0; 29]); 2]) };
    }
    let secs =
        date_range(when).duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let mut last = LAST.get();
    if let Some((_, date)) = last.iter().find(|(at, _)| *at == secs) {
        out.extend_from_slice(date);
        return;
    }
    let date = format_date(secs);
    last[1] = last[0];
    last[0] = (secs, date);
    LAST.set(last);
    out.extend_from_slice(&date);
}

/// The IMF-fixdate of `secs` after the epoch.
fn format_date(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let utc = Utc::from_unix(secs);
    // Written into a fixed buffer, appended once: 29 bytes, always.
    let mut date = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let two = |at: &mut [u8], n: u64| {
        at[0] = b'0' + (n / 10 % 10) as u8;
        at[1] = b'0' + (n % 10) as u8;
    };
    date[..3].copy_from_slice(DAYS[(secs / 86_400 % 7) as usize]);
    two(&mut date[5..7], utc.day.into());
    date[8..11].copy_from_slice(MONTHS[usize::from(utc.month) - 1]);
    two(&mut date[12..14], utc.year / 100);
    two(&mut date[14..16], utc.year % 100);
    two(&mut date[17..19], utc.hour.into());
    two(&mut date[20..22], utc.minute.into());
    two(&mut date[23..25], utc.second.into());
    date
}

/// A number in decimal.
pub(crate) fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn push_number_writes_decimal() {
        for n in [0, 7, 10, 404, 1_048_576, u64::MAX] {
            let mut out = Vec::new();
            push_number(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn the_head_is_the_status_line_the_fields_in_order_and_an_empty_line() {
        let mut head = ResponseHead::new(404);
        head.headers.add("Content-Length", 12u64);
        head.headers.add("Date", SystemTime::UNIX_EPOCH);
        head.headers.add("X-A", "b");
        let mut out = Vec::new();
        head.write(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\
              Date: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-A: b\r\n\r\n"
        );
    }

    #[test]
    fn try_push_refuses_what_would_break_the_head() {
        let mut headers = Headers::new();
        assert_eq!(headers.try_push("X-Ok", "a\tb c"), Ok(()));
        assert_eq!(headers.try_push("", "v"), Err(InvalidHeader::Name));
        assert_eq!(headers.try_push("Bad Name", "v"), Err(InvalidHeader::Name));
        assert_eq!(headers.try_push("X:Y", "v"), Err(InvalidHeader::Name));
        for value in ["a\r\nSet-Cookie: x", "a\nb", "a\rb", "nul\0", " lead", "trail ", "\x7f"] {
            assert_eq!(headers.try_push("X", value), Err(InvalidHeader::Value), "{value:?}");
        }
        assert_eq!(headers.try_push("X-Utf8", String::from("caf\u{e9}")), Ok(()));
        assert_eq!(headers.len(), 2);
        assert_eq!(headers.get("x-ok").map(FieldValue::to_text).as_deref(), Some("a\tb c"));
        headers.try_push("X-Ok", "second").unwrap();
        assert_eq!(headers.try_set("x-OK", "set"), Ok(()));
        assert_eq!(headers.len(), 2, "the later X-Ok is dropped");
        assert_eq!(
            headers.iter().next().map(|(_, v)| v.to_text().into_owned()).as_deref(),
            Some("set")
        );
        assert_eq!(headers.try_set("X-New", "n"), Ok(()));
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.try_set("X-New", "a\nb"), Err(InvalidHeader::Value));
    }

    #[test]
    fn dates_are_what_httpdate_writes() {
        let check = |secs: u64| {
            let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let mut out = Vec::new();
            push_date(&mut out, when);
            assert_eq!(String::from_utf8(out).unwrap(), httpdate::fmt_http_date(when), "{secs}");
        };
        // Every day boundary's neighbours over 1970..9999 would be 2.9
        // million checks; a stride through it plus the edges is enough to
        // cross every month, leap rule and weekday.
        for secs in (0..253_402_300_799u64).step_by(7_919_999) {
            check(secs);
        }
        // Seconds written again, alternating as `Date` and `Last-Modified`
        // do, come from the thread's memory of the last two.
        for secs in [5, 9, 5, 9, 9, 5, 7, 5, 9, 7] {
            check(secs);
        }
        for secs in [
            0,
            59,
            86_399,
            86_400,
            784_111_777,
            951_782_400,     // 2000-02-29
            4_107_542_400,   // 2100-03-01 (2100 is no leap year)
            253_402_300_799, // 9999-12-31 23:59:59
        ] {
            check(secs);
        }
    }

    #[test]
    fn dates_out_of_range_are_clamped_not_a_panic() {
        let before = SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(1);
        assert_eq!(FieldValue::Date(before).to_text(), "Thu, 01 Jan 1970 00:00:00 GMT");
        let after = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 40);
        assert_eq!(FieldValue::Date(after).to_text(), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn segments_cover_every_body_kind_and_skip_empty_pieces() {
        let file: Body<()> = Body::File { handle: (), offset: 3, len: 4 };
        assert_eq!(file.segments().collect::<Vec<_>>(), [Segment::File { offset: 3, len: 4 }]);
        assert_eq!(file.len(), 4);
        let parts: Body<()> = Body::Parts {
            handle: (),
            parts: vec![
                Part::Bytes(b"--b\r\n".to_vec()),
                Part::File { offset: 0, len: 2 },
                Part::Bytes(Vec::new()),
                Part::File { offset: 9, len: 0 },
                Part::Bytes(b"--b--".to_vec()),
            ],
        };
        assert_eq!(
            parts.segments().collect::<Vec<_>>(),
            [
                Segment::Bytes(b"--b\r\n"),
                Segment::File { offset: 0, len: 2 },
                Segment::Bytes(b"--b--")
            ]
        );
        assert_eq!(parts.len(), 12);
        assert_eq!(Body::<()>::Empty.segments().count(), 0);
        assert_eq!(Body::<()>::Bytes(Vec::new()).segments().count(), 0);
        assert!(Body::<()>::Bytes(Vec::new()).is_empty());
    }

    #[test]
    fn try_map_handle_keeps_the_ranges() {
        let body: Body<u8> = Body::File { handle: 1, offset: 2, len: 3 };
        let mapped: Result<Body<String>, ()> = body.try_map_handle(|h| Ok(h.to_string()));
        assert_eq!(mapped, Ok(Body::File { handle: "1".to_owned(), offset: 2, len: 3 }));
        let failed: Result<Body<String>, &str> =
            Body::<u8>::Parts { handle: 1, parts: Vec::new() }.try_map_handle(|_| Err("gone"));
        assert_eq!(failed, Err("gone"));
        let bytes: Result<Body<String>, &str> =
            Body::<u8>::Bytes(b"x".to_vec()).try_map_handle(|_| Err("unused"));
        assert_eq!(bytes, Ok(Body::Bytes(b"x".to_vec())));
    }
}
