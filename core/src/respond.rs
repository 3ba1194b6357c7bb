//! From a request and a file lookup to a response: status, serialised
//! head, and a description of the body for the host to send.

use std::io::Write as _;
use std::time::SystemTime;

use httpdate::HttpDate;

use crate::lookup::{FileInfo, FileLookup, Lookup};
use crate::request::{Method, Version};
use crate::{Rejection, Request, SafePath};

/// The body of a response, described rather than carried: the host writes
/// it after [`Response::head`].
#[derive(Debug, PartialEq, Eq)]
pub enum Body<H> {
    /// No body (HEAD, redirects without one).
    Empty,
    /// A small generated body, such as an error page.
    Bytes(Vec<u8>),
    /// `len` bytes of the file behind `handle`, starting at `offset`. The
    /// host streams them (sendfile where it can); the head already
    /// promised exactly `len` bytes, so a host that cannot send them all
    /// must close the connection rather than send fewer.
    File {
        /// The handle [`FileLookup`] returned.
        handle: H,
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
        match self {
            Self::Empty => 0,
            Self::Bytes(bytes) => bytes.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    /// True if nothing follows the head.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A response: its serialised head, and its body for the host to send.
#[derive(Debug)]
#[must_use]
pub struct Response<H> {
    status: u16,
    head: Vec<u8>,
    body: Body<H>,
    keep_alive: bool,
}

impl<H> Response<H> {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The serialised status line and header section, ending in the empty
    /// line. Write these bytes first.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The body to write after the head.
    pub fn body(&self) -> &Body<H> {
        &self.body
    }

    /// Whether the connection stays open after this response. When false,
    /// the head says `Connection: close`, and the host closes after the
    /// body.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Take the response apart: `(status, head, body, keep_alive)`.
    pub fn into_parts(self) -> (u16, Vec<u8>, Body<H>, bool) {
        (self.status, self.head, self.body, self.keep_alive)
    }
}

/// The reason phrase for a status code portico sends.
#[must_use]
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Answer a GET or HEAD from the files `files` can see; any other method
/// gets 405. `now` is the `Date` of the response: the core never reads a
/// clock.
pub fn respond<L: FileLookup>(
    request: &Request<'_>,
    files: &L,
    now: SystemTime,
) -> Response<L::Handle> {
    let out = Out {
        now: date_range(now),
        keep_alive: request.keep_alive(),
        echo_keep_alive: request.keep_alive() && request.version() == Version::Http10,
        head_only: request.method() == Method::Head,
    };
    if let Method::Other(_) = request.method() {
        return out.page(405, "This server only serves files: use GET or HEAD.");
    }
    let form = request.target_form();
    let Some(raw_path) = form.path() else {
        return out.page(400, "This target does not name a file.");
    };
    let path = match SafePath::from_request_path(raw_path) {
        Ok(path) => path,
        Err(error) => return out.page(error.status(), "The request path is not valid."),
    };
    if path.is_hidden() {
        return out.not_found(files);
    }
    match files.lookup(&path) {
        Lookup::File(_) if path.names_directory() => out.not_found(files),
        Lookup::File(file) => out.file(200, file, path.file_name()),
        Lookup::Directory if !path.names_directory() => {
            let mut location = path.to_url_path(true);
            if let Some(query) = form.query() {
                location.push('?');
                location.push_str(query);
            }
            out.redirect(&location)
        }
        Lookup::Directory => match files.lookup(&path.join("index.html")) {
            Lookup::File(file) => out.file(200, file, "index.html"),
            Lookup::Directory | Lookup::NotFound => out.not_found(files),
            Lookup::Forbidden => out.page(403, "You may not read this directory."),
            Lookup::Failed => out.page(500, "The file could not be read."),
        },
        Lookup::NotFound => out.not_found(files),
        Lookup::Forbidden => out.page(403, "You may not read this file."),
        Lookup::Failed => out.page(500, "The file could not be read."),
    }
}

/// The answer to a request the connection refused (a [`Rejection`], or
/// just a [`crate::ProtocolError`] such as a host's
/// [`crate::ProtocolError::Timeout`]).
/// It closes the connection.
pub fn error_response<H>(rejection: impl Into<Rejection>, now: SystemTime) -> Response<H> {
    let rejection = rejection.into();
    let out = Out { head_only: rejection.head_request, ..Out::closing(now) };
    out.page(rejection.error.status(), rejection.error.reason())
}

/// A generated error page with this status that closes the connection,
/// for failures only a host can see: 503 when it is at its connection cap
/// (with `Retry-After`), 500 when its handler failed.
pub fn closing_response<H>(status: u16, now: SystemTime) -> Response<H> {
    Out::closing(now).page(status, reason_phrase(status))
}

/// What every response to one request shares.
struct Out {
    now: SystemTime,
    keep_alive: bool,
    /// An HTTP/1.0 client only keeps the connection if told so.
    echo_keep_alive: bool,
    head_only: bool,
}

impl Out {
    fn closing(now: SystemTime) -> Self {
        Self { now: date_range(now), keep_alive: false, echo_keep_alive: false, head_only: false }
    }

    fn file<H>(&self, status: u16, file: FileInfo<H>, name: &str) -> Response<H> {
        let mut head = self.start(status);
        let (mime, charset) = content_type(name);
        header(&mut head, "Content-Type", &[mime, charset]);
        header_number(&mut head, "Content-Length", file.len);
        // RFC 9110 §8.8.2.1: never later than Date. An HTTP-date cannot
        // name a time before 1970 (httpdate panics on one), so a file
        // stamped earlier, as some file systems allow, gets no
        // Last-Modified rather than a crash or a wrong one.
        let modified =
            file.modified.map(|m| m.min(self.now)).filter(|&m| m >= SystemTime::UNIX_EPOCH);
        if let Some(modified) = modified {
            header_date(&mut head, "Last-Modified", modified);
        }
        let body = if self.head_only || file.len == 0 {
            Body::Empty
        } else {
            Body::File { handle: file.handle, offset: 0, len: file.len }
        };
        self.finish(status, head, body)
    }

    fn not_found<L: FileLookup>(&self, files: &L) -> Response<L::Handle> {
        match files.lookup(&SafePath::root().join("404.html")) {
            Lookup::File(file) => self.file(404, file, "404.html"),
            _ => self.page(404, "There is nothing at this address."),
        }
    }

    fn redirect<H>(&self, location: &str) -> Response<H> {
        let mut head = self.start(301);
        header(&mut head, "Location", &[location]);
        header(&mut head, "Content-Length", &["0"]);
        self.finish(301, head, Body::Empty)
    }

    /// A small generated HTML page for a status.
    fn page<H>(&self, status: u16, detail: &str) -> Response<H> {
        let reason = reason_phrase(status);
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{status} {reason}</title></head>\n<body><h1>{status} {reason}</h1>\
             <p>{detail}</p><hr><p>portico</p></body></html>\n"
        );
        let mut head = self.start(status);
        header(&mut head, "Content-Type", &["text/html; charset=utf-8"]);
        header_number(&mut head, "Content-Length", html.len() as u64);
        if status == 405 {
            header(&mut head, "Allow", &["GET, HEAD"]);
        }
        if status == 503 {
            header(&mut head, "Retry-After", &["1"]);
        }
        let body = if self.head_only { Body::Empty } else { Body::Bytes(html.into_bytes()) };
        self.finish(status, head, body)
    }

    fn start(&self, status: u16) -> Vec<u8> {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"HTTP/1.1 ");
        push_number(&mut head, u64::from(status));
        head.push(b' ');
        head.extend_from_slice(reason_phrase(status).as_bytes());
        head.extend_from_slice(b"\r\nServer: portico\r\n");
        header_date(&mut head, "Date", self.now);
        head
    }

    fn finish<H>(&self, status: u16, mut head: Vec<u8>, body: Body<H>) -> Response<H> {
        head.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
        if !self.keep_alive {
            head.extend_from_slice(b"Connection: close\r\n");
        } else if self.echo_keep_alive {
            head.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        head.extend_from_slice(b"\r\n");
        Response { status, head, body, keep_alive: self.keep_alive }
    }
}

/// An HTTP-date can only say 1970 to 9999 (httpdate panics outside), so a
/// host clock beyond either end is pinned to it rather than trusted.
fn date_range(now: SystemTime) -> SystemTime {
    // 9999-12-31T23:59:59Z
    let last = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799);
    now.clamp(SystemTime::UNIX_EPOCH, last)
}

// The head is built by appending bytes, not with `write!`: core::fmt was
// a fifth of the user-space time of a small response (callgrind).

/// `name: value\r\n`, the value given in parts.
fn header(head: &mut Vec<u8>, name: &str, value: &[&str]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    for part in value {
        head.extend_from_slice(part.as_bytes());
    }
    head.extend_from_slice(b"\r\n");
}

/// `name: 1234\r\n`
fn header_number(head: &mut Vec<u8>, name: &str, value: u64) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    push_number(head, value);
    head.extend_from_slice(b"\r\n");
}

/// `name: Sun, 06 Nov 1994 08:49:37 GMT\r\n` (RFC 9110 §5.6.7 IMF-fixdate)
fn header_date(head: &mut Vec<u8>, name: &str, when: SystemTime) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    // Writing into a Vec cannot fail.
    let _ = write!(head, "{}", HttpDate::from(when));
    head.extend_from_slice(b"\r\n");
}

/// A number in decimal.
fn push_number(out: &mut Vec<u8>, mut n: u64) {
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

/// The media type for a file name, with `charset=utf-8` on text: portico
/// assumes UTF-8 text files, as browsers otherwise guess (RFC 9110 §8.3).
fn content_type(name: &str) -> (&'static str, &'static str) {
    let mime = mime_guess::from_path(name).first_raw().unwrap_or("application/octet-stream");
    let texty = mime.starts_with("text/")
        || matches!(mime, "application/javascript" | "application/json" | "image/svg+xml");
    (mime, if texty { "; charset=utf-8" } else { "" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn push_number_writes_decimal() {
        for n in [0, 7, 10, 404, 1_048_576, u64::MAX] {
            let mut out = Vec::new();
            super::push_number(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
