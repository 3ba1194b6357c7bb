//! A parsed request head: zero-copy views into the caller's buffer.

use crate::{Limits, ProtocolError};

/// The request method (RFC 9110 §9). Methods are case-sensitive, so `get`
/// is [`Method::Other`]. The methods of RFC 9110 §9.3 and `PATCH` (RFC
/// 5789) have variants; any other token is [`Method::Other`]. Match with a
/// `_` arm: methods portico comes to treat specially may get variants.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Method<'b> {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`
    Connect,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other token: a method portico does not recognise (501).
    Other(&'b str),
}

impl<'b> Method<'b> {
    pub(crate) fn from_token(token: &'b str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            "OPTIONS" => Self::Options,
            "TRACE" => Self::Trace,
            "PATCH" => Self::Patch,
            other => Self::Other(other),
        }
    }

    /// The method as sent.
    #[must_use]
    pub fn as_str(&self) -> &'b str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other(token) => token,
        }
    }

    /// True for a method portico recognises, whether or not it allows it
    /// on a file; false for [`Method::Other`].
    #[must_use]
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

/// The protocol version of a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`, or a later 1.x minor version, which RFC 9110 §2.5 says to
    /// treat as the highest minor version we implement.
    Http11,
}

impl Version {
    /// The version as written in a message.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }
}

/// One header field line. The name is a token (so ASCII); the value is the
/// raw bytes between the optional whitespace, which may hold obs-text.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header<'b> {
    /// The field name as sent (compare with `eq_ignore_ascii_case`).
    pub name: &'b str,
    /// The field value without leading or trailing whitespace.
    pub value: &'b [u8],
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes follow the head.
    Length(u64),
    /// A `chunked` body follows the head.
    Chunked,
}

/// The request-target, split by form (RFC 9112 §3.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target<'b> {
    /// `/path?query`: the usual form.
    Origin {
        /// The path, still percent-encoded; starts with `/`.
        path: &'b str,
        /// What follows `?`, if anything did.
        query: Option<&'b str>,
    },
    /// `http://authority/path?query`: what proxies are sent, and what
    /// servers must accept too (RFC 9112 §3.2.2).
    Absolute {
        /// The authority, as sent.
        authority: &'b str,
        /// The path, still percent-encoded; `/` when the URI had none.
        path: &'b str,
        /// What follows `?`, if anything did.
        query: Option<&'b str>,
    },
    /// `*`, only with `OPTIONS`.
    Asterisk,
    /// `host:port`, only with `CONNECT`.
    Authority(&'b str),
}

impl<'b> Target<'b> {
    /// Split a request-target into its form. `None` if it fits no form: a
    /// fragment (`#`) is part of none (RFC 9112 §3.2), and an
    /// absolute-form authority must be a valid, non-empty host with an
    /// optional port, without userinfo (RFC 9110 §4.2.1, §4.2.4).
    #[must_use]
    pub fn parse(target: &'b str) -> Option<Self> {
        if target.contains('#') {
            return None;
        }
        if target == "*" {
            return Some(Self::Asterisk);
        }
        if target.starts_with('/') {
            let (path, query) = split_query(target);
            return Some(Self::Origin { path, query });
        }
        if let Some(rest) = strip_scheme(target) {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, rest) = rest.split_at(end);
            let host_end = if authority.starts_with('[') {
                authority.find(']').map_or(authority.len(), |at| at + 1)
            } else {
                authority.find(':').unwrap_or(authority.len())
            };
            if host_end == 0 || !valid_host(authority.as_bytes()) {
                return None;
            }
            let (path, query) = split_query(rest);
            let path = if path.is_empty() { "/" } else { path };
            return Some(Self::Absolute { authority, path, query });
        }
        // authority-form has no scheme and no path; anything with a '/' or
        // '?' that is not absolute-form is malformed.
        if !target.contains(['/', '?', '@']) && target.contains(':') {
            return Some(Self::Authority(target));
        }
        None
    }

    /// The (still percent-encoded) path, if this form has one.
    #[must_use]
    pub fn path(&self) -> Option<&'b str> {
        match *self {
            Self::Origin { path, .. } | Self::Absolute { path, .. } => Some(path),
            Self::Asterisk | Self::Authority(_) => None,
        }
    }

    /// The query, if this form has one.
    #[must_use]
    pub fn query(&self) -> Option<&'b str> {
        match *self {
            Self::Origin { query, .. } | Self::Absolute { query, .. } => query,
            Self::Asterisk | Self::Authority(_) => None,
        }
    }
}

/// The elements of a `#rule` list (RFC 9110 §5.6.1), trimmed, empty ones
/// skipped as the RFC asks of recipients.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|e| !e.is_empty())
}

/// Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2), where
/// uri-host is an IP-literal in brackets (an IPv6 address, or IPvFuture)
/// or a reg-name / IPv4 address, and port = *DIGIT. Empty is allowed (RFC
/// 9112 §3.2, for `Host`). Userinfo (`user@`) is not: `@` is no reg-name
/// character (RFC 9110 §4.2.4).
pub(crate) fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.strip_prefix(b"[") {
        Some(literal) => match literal.iter().position(|&b| b == b']') {
            Some(end) if ip_literal(&literal[..end]) => (&[][..], &literal[end + 1..]),
            _ => return false,
        },
        None => {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            value.split_at(end)
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    host.iter().all(|&b| REG_NAME[usize::from(b)]) && port_ok
}

/// reg-name's bytes: unreserved, pct-encoded's `%` and its hex digits, and
/// sub-delims (RFC 3986 §3.2.2). A table: every request's `Host` is
/// checked byte by byte.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'%')
            || matches!(
                c,
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            );
        b += 1;
    }
    table
};

/// IP-literal = "[" ( IPv6address / IPvFuture ) "]" without the brackets
/// (RFC 3986 §3.2.2). An IPv6 address is checked by the standard parser
/// (two `::`, a group of five digits, too many groups: all refused);
/// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
fn ip_literal(inside: &[u8]) -> bool {
    if let [b'v' | b'V', rest @ ..] = inside {
        let dot = rest.iter().position(|&b| b == b'.').unwrap_or(0);
        let (version, tail) = rest.split_at(dot);
        let future = |b: &u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(b);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && tail.len() > 1
            && tail[1..].iter().all(future);
    }
    core::str::from_utf8(inside).is_ok_and(|text| text.parse::<core::net::Ipv6Addr>().is_ok())
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

fn strip_scheme(target: &str) -> Option<&str> {
    let (scheme, rest) = target.split_once("://")?;
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")).then_some(rest)
}

/// A complete, valid request head. Every `&'b` in it points into the buffer
/// the caller handed to [`crate::parse_request`] or
/// [`crate::Connection::poll`] (except the method of [`Method::Get`] and
/// [`Method::Head`], which need no slice).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request<'b> {
    pub(crate) method: Method<'b>,
    pub(crate) target: &'b str,
    pub(crate) form: Target<'b>,
    pub(crate) version: Version,
    pub(crate) headers: Vec<Header<'b>>,
    pub(crate) head_len: usize,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
}

impl<'b> Request<'b> {
    /// A request from parts that another parser produced (a wasi:http
    /// runtime, hyper, an embedder's own), checked exactly as
    /// [`crate::parse_request`] checks the same head sent as bytes: the
    /// method a token (501 past [`crate::MAX_METHOD`]), the target visible
    /// ASCII in one of the four forms that fits the method (no `#`, an
    /// absolute-form authority without userinfo; 414 past
    /// [`Limits::max_target`]), field names tokens and values free of
    /// controls (their surrounding spaces and tabs are trimmed), at most
    /// [`Limits::max_headers`] fields and [`Limits::max_head`] bytes as a
    /// head, exactly one valid `Host` for HTTP/1.1, an unambiguous body
    /// length. Persistence follows the version and `Connection`, as on
    /// the wire.
    ///
    /// A runtime that speaks another version (HTTP/2, HTTP/3) passes
    /// [`Version::Http11`] and the `Host` it has (`:authority`), and
    /// ignores [`Request::keep_alive`]: its connection is its own. The
    /// request has no bytes behind it, so [`Request::head_len`] is 0.
    ///
    /// ```
    /// use portico_core::{Limits, Method, Request, Version};
    ///
    /// let fields = [("Host", &b"example.org"[..]), ("Range", b"bytes=0-99")];
    /// let request =
    ///     Request::from_parts("GET", "/a%20b?x", Version::Http11, fields, &Limits::default())?;
    /// assert_eq!(request.method(), Method::Get);
    /// assert_eq!(request.target_form().path(), Some("/a%20b"));
    /// assert!(Request::from_parts("GET", "/#x", Version::Http11, fields, &Limits::default()).is_err());
    /// # Ok::<(), portico_core::ProtocolError>(())
    /// ```
    pub fn from_parts(
        method: &'b str,
        target: &'b str,
        version: Version,
        fields: impl IntoIterator<Item = (&'b str, &'b [u8])>,
        limits: &Limits,
    ) -> Result<Self, ProtocolError> {
        crate::parse::request_from_parts(method, target, version, fields, limits)
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> Method<'b> {
        self.method
    }

    /// The request-target exactly as sent.
    #[must_use]
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The request-target split by form.
    #[must_use]
    pub fn target_form(&self) -> Target<'b> {
        self.form
    }

    /// The protocol version.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields in the order they were sent.
    #[must_use]
    pub fn headers(&self) -> &[Header<'b>] {
        &self.headers
    }

    /// The first value of the named field (case-insensitive). For a field
    /// that may be sent more than once, use [`Request::header_values`] or
    /// [`Request::header_list`].
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// Every value of the named field (case-insensitive), in the order the
    /// lines were sent.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'b [u8]> + 'a {
        self.headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The elements of a list-valued field (`Accept-Encoding`,
    /// `If-None-Match`, `Connection`, ...) across all its lines, as RFC
    /// 9110 §5.6.1 says a recipient reads them: split at commas, trimmed,
    /// empty elements skipped. A comma inside a quoted string splits too:
    /// quoted strings are not kept whole, and none of the entity-tags
    /// portico makes holds a comma.
    pub fn header_list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'b [u8]> + 'a {
        self.header_values(name).flat_map(list_elements)
    }

    /// How many bytes of the buffer the head took, including any empty lines
    /// skipped before it (0 for a request made from parts).
    #[must_use]
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// How the body that follows the head is delimited.
    #[must_use]
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the connection stays open after the response (RFC 9112
    /// §9.3). When false, the host closes after writing the response.
    #[must_use]
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reg_name_table_holds_exactly_rfc_3986s_bytes() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
            assert_eq!(REG_NAME[usize::from(b)], expected, "{b:#04x}");
        }
    }

    #[test]
    fn hosts() {
        for good in ["", "example.com", "127.0.0.1:8080", "a-b_c~d%41:", "[::1]:80", "[v1.x]"] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in ["user@host", "a b", "host:8o", "[::1", "[::1]x", "h\u{e9}", "a/b", "a:1:2"] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
