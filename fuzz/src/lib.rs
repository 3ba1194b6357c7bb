//! The invariants portico's fuzz targets check, one function per target.
//!
//! They live here rather than in `fuzz_targets/` so that
//! `core/tests/fuzz_regressions.rs` can replay the committed corpus and every
//! saved crash through exactly the same checks under `cargo test`, on
//! stable and without libFuzzer: it includes this file as a module. So this
//! file uses nothing but `portico_core`, `httparse` and `std`, and no
//! `unwrap` (the core's lints apply to it there).
//!
//! Each function panics when its invariant breaks; the panic is the crash
//! libFuzzer reports.

use std::time::{Duration, SystemTime};

use portico_core::{
    Body, Connection, Event, Framing, Limits, MemoryLookup, Method, Moment, Parsed, ProtocolError,
    Request, SafePath, Site, Version, parse_request as parse, respond,
};

/// A target's check: panics if `data` breaks its invariant.
pub type Check = fn(&[u8]);

/// Every target, by the name of its directory under `fuzz/corpus/` and
/// `fuzz/artifacts/`.
pub const TARGETS: &[(&str, Check)] = &[
    ("parse_request", parse_request),
    ("connection_chunks", connection_chunks),
    ("path", path),
    ("differential_httparse", differential_httparse),
];

/// Limits small enough that short inputs cross every one of them (the same
/// as `core/tests/split_invariance.rs`).
pub fn small_limits() -> Limits {
    Limits::default().with_max_head(96).with_max_target(24).with_max_headers(4).with_max_body(24)
}

// ---------------------------------------------------------------------------
// parse_request
// ---------------------------------------------------------------------------

/// Any bytes are a complete head, a valid prefix of one, or a protocol
/// error, never a panic (h11's fuzzing invariant). A complete head lies
/// inside the buffer and inside the limits, and is the same head without
/// the bytes after it. What [`respond`] makes of it is a well-formed
/// response that no request byte can split or redirect off the site.
pub fn parse_request(data: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        // `Partial` and every `Err` are acceptable outcomes.
        let Ok(Parsed::Complete(request)) = parse(data, &limits) else { continue };
        let n = request.head_len();
        assert!(n > 0 && n <= data.len(), "head_len {n} of a {}-byte buffer", data.len());
        assert!(n <= limits.max_head, "head_len {n} over the limit {}", limits.max_head);
        assert!(request.target().len() <= limits.max_target, "target over the limit");
        assert!(request.headers().len() <= limits.max_headers, "headers over the limit");
        assert_eq!(
            parse(&data[..n], &limits),
            Ok(Parsed::Complete(request.clone())),
            "the head alone parses differently"
        );
        check_response(&request);
    }
}

/// A few files for [`respond`] to find, so that fuzzed paths reach files,
/// directories, redirects and the 404 page.
fn site() -> MemoryLookup {
    MemoryLookup::new()
        .with("index.html", &b"<h1>home</h1>"[..])
        .with("404.html", &b"<h1>not here</h1>"[..])
        .with("docs/index.html", &b"<h1>docs</h1>"[..])
        .with("docs/a b.txt", &b"text"[..])
        .with(".well-known/security.txt", &b"Contact: x"[..])
        .with(".git/config", &b"secret"[..])
}

fn check_response(request: &Request<'_>) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let response = respond(request, &Site::default(), &site(), now);
    let head = &response.head_bytes()[..];
    let shown = String::from_utf8_lossy(head);

    let Some(fields) = head.strip_suffix(b"\r\n\r\n") else {
        panic!("the response head does not end in an empty line: {shown:?}");
    };
    // Every line ends in CRLF and holds no other CR: nothing from the
    // request split the head.
    let mut lines = fields.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(!line.contains(&b'\r'), "a bare CR in the response head: {shown:?}");
        line
    });
    let status_line = lines.next().unwrap_or_default();
    let expected = format!("HTTP/1.1 {} ", response.status());
    assert!(status_line.starts_with(expected.as_bytes()), "status line: {shown:?}");
    let mut content_length = None;
    let mut closes = false;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = core::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
        } else if name.eq_ignore_ascii_case(b"location") {
            // A redirect stays on this site: an absolute path, never a
            // network-path reference (`//evil.example`).
            assert!(
                value.starts_with(b"/") && !value.starts_with(b"//"),
                "Location leaves the site: {shown:?}"
            );
        } else if name.eq_ignore_ascii_case(b"connection") {
            closes |= value.eq_ignore_ascii_case(b"close");
        }
    }
    // 204 has no Content-Length (RFC 9110 §8.6) and 304 need not; neither
    // has a body.
    if matches!(response.status(), 204 | 304) {
        assert!(content_length.is_none() || response.status() == 304, "{shown:?}");
        assert_eq!(response.body(), &Body::Empty, "a body on a {}", response.status());
        assert_eq!(response.keep_alive(), request.keep_alive(), "keep-alive: {shown:?}");
        return;
    }
    let Some(content_length) = content_length else {
        panic!("no valid Content-Length: {shown:?}");
    };
    // HEAD announces the length GET would send, and sends nothing.
    match request.method() {
        Method::Head => assert_eq!(response.body(), &Body::Empty, "a body for HEAD"),
        _ => assert_eq!(response.body().len(), content_length, "Content-Length: {shown:?}"),
    }
    assert_eq!(response.keep_alive(), request.keep_alive(), "keep-alive: {shown:?}");
    assert_eq!(closes, !response.keep_alive(), "Connection: close: {shown:?}");
}

// ---------------------------------------------------------------------------
// connection_chunks
// ---------------------------------------------------------------------------

/// The events of a [`Connection`] depend only on the bytes, not on how the
/// network cut them up (or on the state being carried through
/// [`Connection::to_bytes`] between polls, as the WASI host does).
///
/// The input is `control, sizes.., bytes..`: bit 0 of `control` picks the
/// small limits, bit 1 rebuilds the connection from its bytes before every
/// poll, and its high four bits say how many size bytes follow. The bytes
/// are fed in pieces of those sizes, cycled (a 0 is an empty read), or one
/// by one if there are none, and must give the events they give whole.
pub fn connection_chunks(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let limits = if control & 1 == 0 { Limits::default() } else { small_limits() };
    let restore = control & 2 != 0;
    let (sizes, input) = rest.split_at(usize::from(control >> 4).min(rest.len()));
    let expected = drive(limits, [input], false);
    let actual = drive(limits, pieces(input, sizes), restore);
    assert_eq!(actual, expected, "cut into pieces of {sizes:?} (restore: {restore})");
}

/// `input` cut into pieces whose sizes cycle through `sizes`.
fn pieces<'a>(input: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    if sizes.iter().all(|&s| s == 0) {
        return input.chunks(1).collect();
    }
    let mut pieces = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(usize::from(size).min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// An owned summary of a request, comparable across runs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Summary {
    /// [`Request::method`]
    pub method: String,
    /// [`Request::target`]
    pub target: String,
    /// [`Request::version`]
    pub version: Version,
    /// [`Request::headers`], names and values
    pub headers: Vec<(String, Vec<u8>)>,
    /// [`Request::head_len`]
    pub head_len: usize,
    /// [`Request::framing`]
    pub framing: Framing,
    /// [`Request::keep_alive`]
    pub keep_alive: bool,
}

impl Summary {
    fn of(request: &Request<'_>) -> Self {
        Self {
            method: request.method().as_str().to_owned(),
            target: request.target().to_owned(),
            version: request.version(),
            headers: request
                .headers()
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            head_len: request.head_len(),
            framing: request.framing(),
            keep_alive: request.keep_alive(),
        }
    }
}

/// What a host saw, in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Seen {
    /// A request head.
    Request(Summary),
    /// Consecutive discards, summed: how a body is cut into `Discard`s may
    /// depend on the pieces, the number of bytes skipped may not.
    Discard(usize),
    /// The connection refused the bytes.
    Reject(ProtocolError),
    /// The connection closed without a word.
    Close,
    /// All input fed and the connection wants more: this many bytes are
    /// still buffered, and it is (or is not) between requests.
    End {
        /// Bytes fed and not yet dropped.
        buffered: usize,
        /// [`Connection::awaiting_head`] at the end.
        awaiting_head: bool,
    },
}

/// Feed `pieces` in order to a fresh connection the way a host does:
/// append, poll until it needs more, drop what it says to drop. With
/// `restore`, the connection is rebuilt from [`Connection::to_bytes`]
/// before every poll, as the stateless WASI guest sees it.
pub fn drive<'a>(
    limits: Limits,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    restore: bool,
) -> Vec<Seen> {
    let mut conn = Connection::new(limits);
    let mut buf = Vec::new();
    let mut seen = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        if pump(&mut conn, &mut buf, &mut seen, restore) {
            return seen;
        }
    }
    seen.push(Seen::End { buffered: buf.len(), awaiting_head: conn.awaiting_head() });
    seen
}

/// Poll until the connection needs more bytes (false) or is done (true).
fn pump(conn: &mut Connection, buf: &mut Vec<u8>, seen: &mut Vec<Seen>, restore: bool) -> bool {
    // Every event but the last drops at least one byte, so this bounds the
    // loop without trusting the code under test.
    for _ in 0..=buf.len() + 2 {
        if restore {
            let limits = *conn.limits();
            let Some(restored) = Connection::from_bytes(limits, &conn.to_bytes()) else {
                panic!("the state {conn:?} does not round-trip through its bytes");
            };
            assert_eq!(&restored, conn, "the state changed through its bytes");
            *conn = restored;
        }
        match conn.poll(buf, Moment::ZERO) {
            Event::NeedMore => return false,
            Event::Discard(n) => {
                assert!(n > 0, "Discard(0) would make the host spin");
                assert!(n <= buf.len(), "Discard({n}) of {} buffered bytes", buf.len());
                buf.drain(..n);
                match seen.last_mut() {
                    Some(Seen::Discard(total)) => *total += n,
                    _ => seen.push(Seen::Discard(n)),
                }
            }
            Event::Request(request) => {
                let summary = Summary::of(&request);
                let n = summary.head_len;
                assert!(n > 0 && n <= buf.len(), "head_len {n} of {} buffered bytes", buf.len());
                buf.drain(..n);
                seen.push(Seen::Request(summary));
            }
            Event::Reject(portico_core::Rejection { error, .. }) => {
                seen.push(Seen::Reject(error));
                return true;
            }
            Event::Close => {
                // A chunked body that breaks its framing (or its limit)
                // closes the connection. Fed whole, the bytes before the
                // break are never reported as discarded; fed in pieces, the
                // earlier pieces were. Nothing is read after a close, so
                // those discards mean nothing: leave them out.
                if matches!(seen.last(), Some(Seen::Discard(_))) {
                    seen.pop();
                }
                seen.push(Seen::Close);
                return true;
            }
            other => panic!("an event this check does not know: {other:?}"),
        }
    }
    panic!("the connection kept producing events without consuming bytes: {seen:?}");
}

// ---------------------------------------------------------------------------
// path
// ---------------------------------------------------------------------------

/// Any string sanitises into a [`SafePath`] or an error, never a panic. A
/// `SafePath` is relative, normal (no empty, `.` or `..` segment), holds no
/// backslash or control character, is accepted unchanged by
/// [`SafePath::from_normal`], and its URL is an absolute path on this site
/// that sanitises back into the same path.
pub fn path(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let Ok(path) = SafePath::from_request_path(&raw) else { return };
    let s = path.as_str();
    assert!(!s.starts_with('/'), "leading slash in {s:?} from {raw:?}");
    assert!(!s.contains('\\'), "backslash in {s:?} from {raw:?}");
    assert!(!s.chars().any(char::is_control), "control character in {s:?} from {raw:?}");
    if !s.is_empty() {
        let abnormal = s.split('/').any(|segment| matches!(segment, "" | "." | ".."));
        assert!(!abnormal, "an empty, . or .. segment in {s:?} from {raw:?}");
    }
    assert_eq!(path.is_root(), s.is_empty());
    assert!(!path.is_root() || path.names_directory(), "the root is a directory");

    match SafePath::from_normal(s) {
        Ok(normal) => assert_eq!(normal.as_str(), s, "from_normal changed it"),
        Err(error) => panic!("from_normal refused {s:?} ({error}) from {raw:?}"),
    }
    for directory in [false, true] {
        let url = path.to_url_path(directory);
        assert!(url.starts_with('/') && !url.starts_with("//"), "URL {url:?} from {raw:?}");
        match SafePath::from_request_path(&url) {
            Ok(again) => {
                assert_eq!(again.as_str(), s, "{url:?} names another path");
                assert_eq!(again.names_directory(), directory || path.is_root(), "{url:?}");
            }
            Err(error) => panic!("its own URL {url:?} is refused ({error}), from {raw:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// differential_httparse
// ---------------------------------------------------------------------------

/// Where httparse and portico both see a complete request head, they see
/// the same one: method, target, version, header fields and length.
///
/// One accepting what the other refuses is no crash: portico checks
/// meaning (Host, framing) that httparse leaves to its caller, and the
/// grammars differ on purpose in places (`docs/CONFORMANCE.md`).
pub fn differential_httparse(data: &[u8]) {
    let mut slots = [httparse::EMPTY_HEADER; 100];
    let mut theirs = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(their_len)) = theirs.parse(data) else { return };
    let shown = String::from_utf8_lossy(data);
    let ours = match parse(data, &Limits::default()) {
        Ok(Parsed::Complete(ours)) => ours,
        // A method httparse takes and portico refuses as too long really
        // is longer than any portico parses (RFC 9112 §3: 501).
        Err(ProtocolError::LongMethod) => {
            let length = theirs.method.map_or(0, str::len);
            assert!(length > portico_core::MAX_METHOD, "LongMethod for {length} bytes: {shown:?}");
            return;
        }
        _ => return,
    };
    // What portico accepts has no fragment (RFC 9112 §3.2), and an
    // absolute-form target names a host (RFC 9110 §4.2.1) without userinfo
    // (§4.2.4): httparse takes both; portico must not.
    assert!(!ours.target().contains('#'), "a fragment accepted: {shown:?}");
    if let portico_core::Target::Absolute { authority, .. } = ours.target_form() {
        assert!(
            !authority.is_empty() && !authority.starts_with(':') && !authority.contains('@'),
            "absolute-form authority {authority:?} accepted: {shown:?}"
        );
    }

    assert_eq!(Some(ours.method().as_str()), theirs.method, "method: {shown:?}");
    assert_eq!(Some(ours.target()), theirs.path, "target: {shown:?}");
    let version = match ours.version() {
        Version::Http10 => 0,
        Version::Http11 => 1,
    };
    assert_eq!(Some(version), theirs.version, "version: {shown:?}");
    // portico drops the whitespace after a value (RFC 9112 §5.1: OWS is not
    // part of the field value); httparse may keep it.
    let their_headers: Vec<(&str, &[u8])> =
        theirs.headers.iter().map(|h| (h.name, trim_ows_end(h.value))).collect();
    let our_headers: Vec<(&str, &[u8])> =
        ours.headers().iter().map(|h| (h.name, h.value)).collect();
    assert_eq!(our_headers, their_headers, "header fields: {shown:?}");
    assert_eq!(ours.head_len(), their_len, "head length: {shown:?}");
}

fn trim_ows_end(mut value: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}
