//! The invariants portico's fuzz targets check, one function per target.
//!
//! They live here rather than in `fuzz_targets/` so that
//! `core/tests/fuzz_regressions.rs` can replay the committed corpus and every
//! saved crash through exactly the same checks under `cargo test`, on
//! stable and without libFuzzer: it includes this file as a module. So this
//! file uses nothing but `portico_core`, `httparse` (a dev-dependency of
//! the core), `httpdate` (a dependency of the core, which its integration
//! tests can use as well) and `std`, and no `unwrap` (the core's lints
//! apply to it there).
//!
//! Each function panics when its invariant breaks; the panic is the crash
//! libFuzzer reports.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use portico_core::fields::{
    AcceptEncoding, ByteRange, COALESCE_GAP, Coding, EntityTag, MAX_RANGES, MAX_TAGS,
    RangeSelection, Tags, parse_http_date, parse_range, parse_tags, select_ranges,
};
use portico_core::{
    Body, Connection, Event, Framing, Limits, MemoryLookup, Method, Moment, Now, Parsed,
    ProtocolError, Request, Response, SafePath, Segment, Site, Step, Version,
    parse_request as parse, respond,
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
    ("fields", fields),
    ("ranges_differential", ranges_differential),
    ("request_from_parts", request_from_parts),
    ("connection_clock", connection_clock),
];

/// Targets whose checks need more than this file may use, replayed by
/// the test named beside each (their corpus directories are not this
/// file's to check).
pub const REPLAYED_ELSEWHERE: &[(&str, &str)] =
    &[("guest_answer", "host-wasi/abi/tests/fuzz_regressions.rs")];

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
/// response that no request byte can split or redirect off the site, and
/// that keeps the promises of the static-file stages (conditionals,
/// ranges, content codings: [`check_semantics`], [`check_partial`]).
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

/// When every response is made: the `Date`, and the `now` the validators
/// are judged against.
pub const NOW: u64 = 1_700_000_000;

/// A few files for [`respond`] to find, so that fuzzed paths reach files,
/// directories, listings, redirects and the 404 page, and fuzzed fields
/// reach the stages after them: modification times for validators and
/// conditionals (one less than a second before [`NOW`], so its
/// `Last-Modified` is weak; one after it, a clock ahead of the server's;
/// one without), files long enough for several ranges at least
/// [`COALESCE_GAP`] bytes apart, precompressed
/// siblings smaller than their file (and one larger, never sent), and an
/// empty file, where every range is unsatisfiable.
pub fn site() -> &'static MemoryLookup {
    static SITE: OnceLock<MemoryLookup> = OnceLock::new();
    SITE.get_or_init(|| {
        let at = |secs: u64, nanos: u32| Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos));
        let text = |len: usize| -> Vec<u8> {
            b"abcdefghijklmnopqrstuvwxyz0123456789\n".iter().copied().cycle().take(len).collect()
        };
        let mut files = MemoryLookup::new();
        files.insert("index.html", &b"<h1>home</h1>"[..], at(1_600_000_000, 0));
        files.insert("404.html", &b"<h1>not here</h1>"[..], at(1_600_000_000, 0));
        files.insert("docs/index.html", &b"<h1>docs</h1>"[..], at(NOW - 1, 500_000_000));
        files.insert("docs/a b.txt", text(600), at(1_650_000_000, 123_456_789));
        files.insert("docs/a b.txt.gz", text(90), at(1_650_000_001, 0));
        files.insert("app.js", text(400), at(NOW + 3_600, 0));
        files.insert("app.js.br", text(150), at(1_650_000_000, 0));
        files.insert("app.js.zst", text(401), at(1_650_000_000, 0));
        files.insert("empty.txt", &b""[..], at(1_650_000_000, 0));
        files.insert("plain/no-time.txt", text(300), None);
        files.insert(".well-known/security.txt", &b"Contact: x"[..], None);
        files.insert(".git/config", &b"secret"[..], None);
        files
    })
}

/// What [`respond`] answers `request` with from [`site`] at [`NOW`].
pub fn site_response(request: &Request<'_>) -> Response<Arc<[u8]>> {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    respond(request, &Site::default(), site(), now)
}

/// The bytes a part's head lines may add to a body, at most: a
/// `multipart/byteranges` body holds at most [`MAX_RANGES`] parts.
const PART_OVERHEAD: u64 = 200;

fn check_response(request: &Request<'_>) {
    let response = site_response(request);
    let head = &response.head_bytes()[..];
    let shown = String::from_utf8_lossy(head);

    let Some(head_fields) = head.strip_suffix(b"\r\n\r\n") else {
        panic!("the response head does not end in an empty line: {shown:?}");
    };
    // Every line ends in CRLF and holds no other CR: nothing from the
    // request split the head.
    let mut lines = head_fields.split(|&b| b == b'\n').map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(!line.contains(&b'\r'), "a bare CR in the response head: {shown:?}");
        line
    });
    let status_line = lines.next().unwrap_or_default();
    let expected = format!("HTTP/1.1 {} ", response.status());
    assert!(status_line.starts_with(expected.as_bytes()), "status line: {shown:?}");
    let fields: Vec<(&[u8], &[u8])> = lines
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii()))
        })
        .collect();
    let field = |name: &str| {
        fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, v)| v)
    };
    // A redirect stays on this site: an absolute path, never a
    // network-path reference (`//evil.example`).
    for (_, location) in fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(b"location")) {
        assert!(
            location.starts_with(b"/") && !location.starts_with(b"//"),
            "Location leaves the site: {shown:?}"
        );
    }
    let closes = fields
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case(b"connection") && v.eq_ignore_ascii_case(b"close"));
    let content_length =
        field("content-length").and_then(|v| core::str::from_utf8(v).ok()?.parse::<u64>().ok());

    check_semantics(request, &response, &field, &shown);

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
    if response.status() == 206 {
        check_partial(response.body(), &field, content_length, &shown);
    }
}

/// What the static-file stages promise: a conditional or range answer only
/// where the request asked for one, and with the fields that say what it
/// is; a content coding only where the client accepts it, and never
/// without `Vary`; a file body that stays within its file and sends none
/// of its bytes twice.
fn check_semantics<'a>(
    request: &Request<'_>,
    response: &Response<Arc<[u8]>>,
    field: &impl Fn(&str) -> Option<&'a [u8]>,
    shown: &str,
) {
    let asked = |name: &str| request.header(name).is_some();
    let get_or_head = matches!(request.method(), Method::Get | Method::Head);
    match response.status() {
        304 => {
            let not_modified = asked("if-none-match") || asked("if-modified-since");
            assert!(get_or_head && not_modified, "{shown:?}");
            // A 304 carries what the client validates its copy with, unless
            // it answers `If-None-Match: *`, which needs none (§13.1.2).
            let any = parse_tags(request.header_values("if-none-match")) == Some(Tags::Any);
            let validated = field("etag").is_some() || field("last-modified").is_some();
            assert!(validated || any, "a 304 without a validator: {shown:?}");
            assert!(field("content-range").is_none(), "{shown:?}");
        }
        412 => {
            let precondition = asked("if-match") || asked("if-unmodified-since");
            assert!(get_or_head && precondition, "{shown:?}");
            // `If-Match: *` holds for any file that exists (§13.1.1), and it
            // decides alone when it is valid.
            let any = parse_tags(request.header_values("if-match")) == Some(Tags::Any);
            assert!(!any, "412 to If-Match: *: {shown:?}");
        }
        206 => assert!(request.method() == Method::Get && asked("range"), "{shown:?}"),
        416 => {
            assert!(request.method() == Method::Get && asked("range"), "{shown:?}");
            let range = field("content-range").and_then(|v| v.strip_prefix(b"bytes */"));
            let len = range.and_then(|v| core::str::from_utf8(v).ok()?.parse::<u64>().ok());
            assert!(len.is_some(), "416 without Content-Range: bytes */N: {shown:?}");
        }
        _ => {}
    }

    if let Some(coding) = field("content-encoding") {
        let vary = field("vary").unwrap_or_default();
        let varies = vary
            .split(|&b| b == b',')
            .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"));
        assert!(varies, "Content-Encoding without Vary: Accept-Encoding: {shown:?}");
        let Some(&coding) = Coding::ALL.iter().find(|c| c.token().as_bytes() == coding) else {
            panic!("a coding portico does not make: {shown:?}");
        };
        let accept = AcceptEncoding::parse(request.header_values("accept-encoding"));
        assert!(accept.weight(coding) > 0, "{coding:?}, which the client refused: {shown:?}");
    }

    // Anything but a 206 sends a file whole.
    if let Body::File { handle, offset, len } = response.body()
        && response.status() != 206
    {
        assert_eq!((*offset, *len), (0, handle.len() as u64), "not the whole file: {shown:?}");
    }

    // A body from a file sends each of its bytes at most once, plus the
    // lines of at most MAX_RANGES parts. Generated pages and listings
    // (`Body::Bytes`) hold none of a file's bytes, and are left out.
    let body = response.body();
    if let Some(file) = body.handle() {
        let file_len = file.len() as u64;
        let spans: Vec<(u64, u64)> = body
            .segments()
            .filter_map(|segment| match segment {
                Segment::File { offset, len } => Some((offset, len)),
                Segment::Bytes(_) => None,
            })
            .collect();
        let sent: u64 = spans.iter().map(|&(_, len)| len).sum();
        for &(offset, len) in &spans {
            let end = offset.checked_add(len);
            assert!(end.is_some_and(|end| end <= file_len), "past the file's end: {shown:?}");
        }
        assert!(sent <= file_len, "{sent} bytes of a {file_len}-byte file: {shown:?}");
        let bound = file_len + MAX_RANGES as u64 * PART_OVERHEAD;
        assert!(body.len() <= bound, "a {}-byte body: {shown:?}", body.len());
    }
}

/// A 206 is one range, with `Content-Range: bytes a-b/len` and the bytes
/// from `a` to `b` of the file; or several, as a `multipart/byteranges`
/// body (RFC 9110 §14.6) whose parts are in order, carry those same
/// bytes, and lie at least [`COALESCE_GAP`] bytes apart.
fn check_partial<'a>(
    body: &Body<Arc<[u8]>>,
    field: &impl Fn(&str) -> Option<&'a [u8]>,
    content_length: u64,
    shown: &str,
) {
    match body {
        Body::File { handle, offset, len } => {
            let range = field("content-range").and_then(|v| v.strip_prefix(b"bytes "));
            let Some((first, last, total)) = range.and_then(content_range) else {
                panic!("a 206 without a valid Content-Range: {shown:?}");
            };
            assert!(first <= last && last < total, "Content-Range: {shown:?}");
            assert_eq!(content_length, last - first + 1, "Content-Length: {shown:?}");
            assert_eq!((*offset, *len), (first, content_length), "the body: {shown:?}");
            assert_eq!(total, handle.len() as u64, "the length in Content-Range: {shown:?}");
        }
        Body::Parts { handle, .. } => {
            assert!(field("content-range").is_none(), "Content-Range on a multipart 206");
            let content_type = field("content-type").unwrap_or_default();
            let boundary = content_type.strip_prefix(b"multipart/byteranges; boundary=");
            let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
                panic!("a multipart 206 without multipart/byteranges and a boundary: {shown:?}");
            };
            let mut bytes = Vec::new();
            for segment in body.segments() {
                match segment {
                    Segment::Bytes(b) => bytes.extend_from_slice(b),
                    Segment::File { offset, len } => {
                        let range = usize::try_from(offset).ok().zip(usize::try_from(len).ok());
                        let part = range.and_then(|(o, l)| handle.get(o..o.checked_add(l)?));
                        bytes.extend_from_slice(part.unwrap_or_default());
                    }
                }
            }
            assert_eq!(bytes.len() as u64, content_length, "Content-Length: {shown:?}");
            check_multipart(&bytes, boundary, handle, shown);
        }
        other => panic!("a 206 with the body {other:?}: {shown:?}"),
    }
}

/// `first-last/len` of a `Content-Range`.
fn content_range(value: &[u8]) -> Option<(u64, u64, u64)> {
    let value = core::str::from_utf8(value).ok()?;
    let (range, total) = value.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?, total.parse().ok()?))
}

/// Read `body` as a `multipart/byteranges` body of `file`, from scratch:
/// parts delimited by `--boundary`, each with a `Content-Type` and a
/// `Content-Range` followed by exactly those bytes of the file, at least
/// two parts, ascending and apart, and the closing delimiter at the end.
fn check_multipart(body: &[u8], boundary: &[u8], file: &[u8], shown: &str) {
    let delimiter = [&b"--"[..], boundary, b"\r\n"].concat();
    let close = [&b"--"[..], boundary, b"--\r\n"].concat();
    let mut rest = body;
    let mut parts = 0;
    let mut previous_end: Option<u64> = None;
    loop {
        if parts > 0 {
            let Some(after) = rest.strip_prefix(b"\r\n") else {
                panic!("no CRLF before a delimiter: {shown:?}");
            };
            rest = after;
        }
        if rest == &close[..] {
            break;
        }
        let Some(after) = rest.strip_prefix(&delimiter[..]) else {
            panic!("part {parts} does not start with the delimiter: {shown:?}");
        };
        let Some(end) = after.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!("part {parts} has no end of its header lines: {shown:?}");
        };
        let (lines, after) = (&after[..end], &after[end + 4..]);
        let mut range = None;
        let mut typed = false;
        for line in lines.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            typed |= line.starts_with(b"Content-Type: ");
            if let Some(value) = line.strip_prefix(b"Content-Range: bytes ") {
                range = content_range(value);
            }
        }
        let Some((first, last, total)) = range.filter(|_| typed) else {
            panic!("part {parts} lacks a Content-Type or a valid Content-Range: {shown:?}");
        };
        assert!(first <= last && last < total, "part {parts}'s range: {shown:?}");
        assert_eq!(total, file.len() as u64, "part {parts}'s length: {shown:?}");
        if let Some(previous_end) = previous_end {
            assert!(first >= previous_end + COALESCE_GAP, "part {parts} too close: {shown:?}");
        }
        previous_end = Some(last + 1);
        let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
            panic!("part {parts}'s range is past any file here: {shown:?}");
        };
        let expected = &file[first..=last];
        assert!(after.starts_with(expected), "part {parts}'s bytes: {shown:?}");
        rest = &after[expected.len()..];
        parts += 1;
    }
    assert!(parts >= 2, "a multipart body of {parts} part: {shown:?}");
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

/// The `connection_clock` target: a connection driven through time, as
/// `core/tests/deadlines.rs`'s property test drives it but with any bytes
/// and any timing. `data[0]` says how many happenings follow (at most
/// 64), each three bytes: a kind and a pause in milliseconds (`u16`,
/// little-endian); after them, the bytes the client sends. A kind with
/// its high bit set is a wake with no bytes; otherwise its low six bits
/// (plus one) are how many of the client's next bytes arrive. Whatever
/// the bytes and the timing:
///
/// - the state, deadline included, survives `to_bytes` at every poll;
/// - waking before the deadline changes nothing;
/// - waiting always has a deadline, ahead of now unless the bytes that
///   came were not of the kind that pushes it back (a head's: the host
///   wakes at once and the head gets its 408; a body's that gave nothing
///   to drop, such as part of a chunk's size line: the host wakes at once
///   and closes);
/// - polling again with no new bytes (a spurious wake-up) changes
///   nothing, a deadline that passed included;
/// - once a deadline fired nothing waits and no request is read: a head
///   cut short gets 408, anything else closes without a word;
/// - a 408 comes only after a deadline, with part of a head buffered, and
///   no other refusal comes after one;
/// - a close comes only from a deadline, a request that ended the
///   connection, or a body whose framing broke;
/// - what the core asks to drop is there to drop.
pub fn connection_clock(data: &[u8]) {
    let Some((&count, rest)) = data.split_first() else { return };
    let count = usize::from(count).min(64);
    let (happenings, mut input) = rest.split_at((count * 3).min(rest.len()));
    let limits = Limits::default()
        .with_idle_timeout(Duration::from_secs(15))
        .with_head_timeout(Duration::from_secs(10));
    let mut conn = Connection::new(limits);
    let mut now = Moment::ZERO;
    let mut buf: Vec<u8> = Vec::new();
    // What the last request allows next: a close (it ended the
    // connection, or its body may break its framing).
    let mut may_close = false;
    // Polled at least once (the first poll arms the idle deadline).
    let mut polled = false;
    for happening in happenings.chunks_exact(3) {
        let pause =
            Duration::from_millis(u64::from(u16::from_le_bytes([happening[1], happening[2]])));
        now = now.saturating_add(pause);
        let kind = happening[0];
        // Bytes that arrive push a deadline back; a poll with none (a
        // spurious wake-up) leaves it where it was, passed or not.
        let mut fresh = true;
        let (woke, stalled) = if kind & 0x80 != 0 {
            let before = conn;
            let stalled = conn.awaiting_head() && !buf.is_empty();
            let deadline = conn.poll_timeout();
            conn.handle_timeout(now);
            let fired = deadline.is_some_and(|at| now >= at);
            if !fired {
                assert_eq!(conn, before, "a wake before the deadline changed the state");
            }
            (fired, stalled)
        } else {
            let take = usize::from(kind & 0x3f) + 1;
            let (arrived, later) = input.split_at(take.min(input.len()));
            buf.extend_from_slice(arrived);
            input = later;
            fresh = !arrived.is_empty();
            (false, false)
        };
        if !fresh && polled {
            // The last poll ended waiting: polling again with nothing new,
            // whatever the time, changes nothing.
            let before = conn;
            assert!(
                matches!(conn.poll(&buf, now), Event::NeedMore),
                "nothing new, yet not waiting"
            );
            assert_eq!(conn, before, "a poll with nothing new changed the state");
            continue;
        }
        // Body bytes dropped in this turn: they restart the idle time.
        let mut dropped = false;
        loop {
            let restored = Connection::from_bytes(limits, &conn.to_bytes());
            assert_eq!(restored, Some(conn), "the state did not survive its bytes");
            polled = true;
            match conn.poll(&buf, now) {
                Event::NeedMore => {
                    let at = conn.poll_timeout();
                    assert!(at.is_some(), "waiting with no deadline");
                    if at.is_some_and(|at| at <= now) {
                        // Only bytes that push a deadline back keep it
                        // ahead: a head's do not, nor a body's that gave
                        // nothing to drop (part of a chunk's line).
                        let head = conn.awaiting_head() && !buf.is_empty();
                        let body = !conn.awaiting_head() && !dropped;
                        assert!(head || body, "{at:?} due at {now:?}");
                    }
                    assert!(!woke, "a fired deadline still waits");
                    break;
                }
                Event::Discard(n) => {
                    assert!(n > 0 && n <= buf.len(), "discard {n} of {}", buf.len());
                    buf.drain(..n);
                    dropped = true;
                }
                Event::Request(request) => {
                    assert!(!woke, "a request after the deadline fired");
                    let n = request.head_len();
                    assert!(n > 0 && n <= buf.len(), "a head of {n} of {}", buf.len());
                    may_close = !request.keep_alive() || request.framing() != Framing::None;
                    buf.drain(..n);
                }
                Event::Reject(rejection) => {
                    if rejection.error == ProtocolError::Timeout {
                        assert!(woke && stalled, "408 without a stalled head");
                    } else {
                        assert!(!woke, "{:?} after a deadline fired", rejection.error);
                    }
                    return;
                }
                Event::Close => {
                    assert!(
                        (woke && !stalled) || may_close,
                        "closed without a deadline or a reason (woke {woke}, stalled {stalled})"
                    );
                    return;
                }
                other => panic!("an event this target does not know: {other:?}"),
            }
        }
    }
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
    /// A request head, answered.
    Request(Summary),
    /// Consecutive discards, summed: how a body is cut into `Discard`s may
    /// depend on the pieces, the number of bytes skipped may not.
    Discard(usize),
    /// The connection refused the bytes with a response of this status.
    Reject(u16),
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

/// Feed `pieces` in order to a fresh connection the way every host does
/// ([`Connection::step`]'s loop): append, step until it needs more, drop
/// what it says to drop, answer from [`site`]. With `restore`, the
/// connection is rebuilt from [`Connection::to_bytes`] before every step,
/// as the stateless WASI guest sees it.
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

/// Step until the connection needs more bytes (false) or is done (true).
fn pump(conn: &mut Connection, buf: &mut Vec<u8>, seen: &mut Vec<Seen>, restore: bool) -> bool {
    let now = Now::new(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW), Moment::ZERO);
    // Every step but the last drops at least one byte, so this bounds the
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
        let mut summary = None;
        let step = conn.step_with(buf, now, |request| {
            summary = Some(Summary::of(request));
            site_response(request)
        });
        match step {
            Step::NeedMore => return false,
            Step::Discard(n) => {
                assert!(n > 0, "Discard(0) would make the host spin");
                assert!(n <= buf.len(), "Discard({n}) of {} buffered bytes", buf.len());
                buf.drain(..n);
                match seen.last_mut() {
                    Some(Seen::Discard(total)) => *total += n,
                    _ => seen.push(Seen::Discard(n)),
                }
            }
            Step::Respond { consumed, response } => match summary {
                Some(summary) => {
                    let n = summary.head_len;
                    assert_eq!(consumed, n, "a response consumed other than its head");
                    assert!(n > 0 && n <= buf.len(), "head_len {n} of {} bytes", buf.len());
                    assert_eq!(response.keep_alive(), summary.keep_alive);
                    buf.drain(..n);
                    seen.push(Seen::Request(summary));
                }
                None => {
                    assert_eq!(consumed, 0, "a rejection consumed bytes");
                    assert!(!response.keep_alive(), "a rejection keeps the connection");
                    seen.push(Seen::Reject(response.status()));
                    return true;
                }
            },
            Step::Close => {
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
            other => panic!("a step this driver does not know: {other:?}"),
        }
    }
    panic!("the connection kept stepping without consuming bytes: {seen:?}");
}

// ---------------------------------------------------------------------------
// request_from_parts
// ---------------------------------------------------------------------------

/// A request built from parts ([`Request::from_parts`]) is the request the
/// same head sent as bytes parses to, and gets the same answer; where one
/// route refuses, the other refuses with the same error.
///
/// The first byte of `data` picks the version (bit 0: HTTP/1.0) and the
/// limits (bit 1: [`small_limits`]); the rest is lines split at `\n`: the
/// method, the target, then one field a line, its name before the first
/// `:` and its value after (a line without one is a name with an empty
/// value). Parts a head cannot carry as they are (a space in the method or
/// target, text that is not UTF-8 where the API takes `&str`) are skipped.
pub fn request_from_parts(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else { return };
    let version = if control & 1 == 0 { Version::Http11 } else { Version::Http10 };
    let limits = if control & 2 == 0 { Limits::default() } else { small_limits() };
    let mut lines = rest.split(|&b| b == b'\n');
    let (Some(method), Some(target)) = (lines.next(), lines.next()) else { return };
    let (Ok(method), Ok(target)) = (std::str::from_utf8(method), std::str::from_utf8(target))
    else {
        return;
    };
    if method.contains(' ') || target.contains(' ') {
        return;
    }
    let mut fields = Vec::new();
    for line in lines {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (line, &[][..]),
        };
        let Ok(name) = std::str::from_utf8(name) else { return };
        fields.push((name, value));
    }

    // Values as the parser leaves them, without spaces and tabs around:
    // what `from_parts` measures against `max_head`.
    let mut head = format!("{method} {target} {}\r\n", version.as_str()).into_bytes();
    for &(name, value) in &fields {
        let start = value.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(value.len());
        let end = value.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |at| at + 1);
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(&value[start..end]);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    let parsed = match parse(&head, &limits) {
        Ok(Parsed::Complete(request)) => Ok(request),
        Ok(Parsed::Partial) => {
            panic!("a whole head is partial: {:?}", String::from_utf8_lossy(&head))
        }
        Err(error) => Err(error),
    };
    let built = Request::from_parts(method, target, version, fields.iter().copied(), &limits);
    let shown = String::from_utf8_lossy(&head);
    match (parsed, built) {
        (Ok(parsed), Ok(built)) => {
            assert_eq!(built.head_len(), 0, "a request from parts took bytes");
            assert_eq!(built.method(), parsed.method(), "{shown:?}");
            assert_eq!(built.target(), parsed.target(), "{shown:?}");
            assert_eq!(built.target_form(), parsed.target_form(), "{shown:?}");
            assert_eq!(built.version(), parsed.version(), "{shown:?}");
            assert_eq!(built.headers(), parsed.headers(), "{shown:?}");
            assert_eq!(built.framing(), parsed.framing(), "{shown:?}");
            assert_eq!(built.keep_alive(), parsed.keep_alive(), "{shown:?}");
            assert_eq!(site_response(&built), site_response(&parsed), "{shown:?}");
        }
        (Err(parsed), Err(built)) => assert_eq!(built, parsed, "{shown:?}"),
        (parsed, built) => panic!(
            "bytes and parts disagree on {shown:?}: parsed {:?}, built {:?}",
            parsed.map(|r| r.target()),
            built.map(|r| r.target())
        ),
    }
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

fn trim_ows_start(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    value
}

// ---------------------------------------------------------------------------
// fields
// ---------------------------------------------------------------------------

/// Every parser of [`portico_core::fields`] takes any bytes without a
/// panic, and what it returns keeps its promises. The same input goes to
/// all of them, whole, or cut into field lines at LF where a parser reads
/// several lines as one list.
pub fn fields(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    entity_tags(data, &lines);
    ranges(data);
    accept_encoding(&lines);
    http_dates(data);
}

/// `W/"opaque"` or `"opaque"`, as sent.
fn serialise(tag: &EntityTag<'_>) -> Vec<u8> {
    let weak: &[u8] = if tag.weak { b"W/" } else { b"" };
    [weak, b"\"", tag.opaque, b"\""].concat()
}

/// An entity tag is the bytes it was read from; a tag list holds at most
/// [`MAX_TAGS`] tags, each one a whole entity tag, matches each of them
/// by the weak comparison and its strong ones by the strong comparison,
/// and reads the same when written back as one line.
fn entity_tags(data: &[u8], lines: &[&[u8]]) {
    if let Some(tag) = EntityTag::parse(data) {
        assert_eq!(serialise(&tag), data, "{tag:?} was read from other bytes");
        assert!(tag.weak_eq(&tag), "{tag:?} is not itself");
        assert_eq!(tag.strong_eq(&tag), !tag.weak, "{tag:?}, strongly");
    }
    let Some(tags) = parse_tags(lines.iter().copied()) else { return };
    let Tags::List(list) = &tags else {
        let any = EntityTag { weak: true, opaque: b"x" };
        assert!(tags.matches(&any, true) && tags.matches(&any, false), "* matches any tag");
        return;
    };
    assert!(!list.is_empty() && list.len() <= MAX_TAGS, "{} tags", list.len());
    for tag in list {
        assert_eq!(EntityTag::parse(&serialise(tag)), Some(*tag), "a member that is no tag");
        assert!(tags.matches(tag, true), "{tag:?} is not in its own list");
        assert_eq!(tags.matches(tag, false), !tag.weak, "{tag:?}, strongly");
    }
    let line = list.iter().map(serialise).collect::<Vec<_>>().join(&b", "[..]);
    assert_eq!(parse_tags([&line[..]]).as_ref(), Some(&tags), "written back as {line:?}");
}

/// A parsed `Range` holds 1 to [`MAX_RANGES`] specs, none backwards, and
/// [`select_ranges`] keeps its promises for it at lengths on either side
/// of every position it names, and a few others.
fn ranges(data: &[u8]) {
    let Some(specs) = parse_range(data) else { return };
    assert!((1..=MAX_RANGES).contains(&specs.len()), "{} range-specs", specs.len());
    // Some length the specs do not name.
    let hashed = data.iter().fold(0u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let mut lengths = vec![0, 1, u64::MAX, hashed, hashed % 1024];
    for spec in &specs {
        let positions = match *spec {
            ByteRange::FromTo(first, last) => {
                assert!(first <= last, "{spec:?} is backwards");
                [first, last]
            }
            ByteRange::From(first) => [first, first],
            ByteRange::Suffix(n) => [n, n],
        };
        for n in positions {
            lengths.extend([n.saturating_sub(1), n, n.saturating_add(1)]);
        }
    }
    lengths.sort_unstable();
    lengths.dedup();
    for len in lengths {
        check_selection(&specs, len);
    }
}

/// Whether a range-spec asks for any byte of `len` (RFC 9110 §14.1.3):
/// one that starts within it, or a suffix of at least one byte of a
/// representation that has one.
fn satisfiable(spec: ByteRange, len: u64) -> bool {
    match spec {
        ByteRange::FromTo(first, _) | ByteRange::From(first) => first < len,
        ByteRange::Suffix(n) => n > 0 && len > 0,
    }
}

/// The byte positions `spec` asks for out of `len`, clamped, as a
/// half-open `first..end` (empty when unsatisfiable).
fn clamped(spec: ByteRange, len: u64) -> (u64, u64) {
    match spec {
        ByteRange::FromTo(first, last) => (first, last.saturating_add(1).min(len)),
        ByteRange::From(first) => (first, len),
        ByteRange::Suffix(0) => (len, len),
        ByteRange::Suffix(n) => (len.saturating_sub(n), len),
    }
}

/// [`select_ranges`] of `specs` for `len`: unsatisfiable exactly when no
/// spec is satisfiable; otherwise parts that are not empty, lie within
/// `len`, are sorted and apart by at least [`COALESCE_GAP`] bytes, hold
/// every byte asked for, and start and end at bytes some spec asked for
/// (so a merge never reaches beyond what was asked).
fn check_selection(specs: &[ByteRange], len: u64) {
    let selection = select_ranges(specs, len);
    let shown = format!("{specs:?} of {len} bytes: {selection:?}");
    let RangeSelection::Ranges(parts) = selection else {
        assert!(!specs.iter().any(|&s| satisfiable(s, len)), "unsatisfiable? {shown}");
        return;
    };
    assert!(!parts.is_empty(), "no parts: {shown}");
    let mut previous_end: Option<u64> = None;
    for &(offset, part) in &parts {
        let end = offset.checked_add(part).filter(|&end| part > 0 && end <= len);
        let Some(end) = end else { panic!("a part empty or past the end: {shown}") };
        if let Some(previous_end) = previous_end {
            let apart = offset.checked_sub(previous_end).is_some_and(|gap| gap >= COALESCE_GAP);
            assert!(apart, "parts out of order or too close: {shown}");
        }
        previous_end = Some(end);
        let asked = |position: u64| {
            specs.iter().any(|&s| {
                satisfiable(s, len) && {
                    let (first, end) = clamped(s, len);
                    (first..end).contains(&position)
                }
            })
        };
        assert!(asked(offset) && asked(end - 1), "a part reaches beyond what was asked: {shown}");
    }
    for &spec in specs.iter().filter(|&&s| satisfiable(s, len)) {
        let (first, end) = clamped(spec, len);
        let inside = parts.iter().any(|&(offset, part)| offset <= first && end <= offset + part);
        assert!(inside, "{spec:?} is not in one part: {shown}");
    }
}

/// `Accept-Encoding` weights are at most 1000 (`q=1`); `preferred()`
/// lists only codings the client accepts, each once, best first; and the
/// field read as several lines is the field read as one, joined by commas
/// (RFC 9110 §5.3).
fn accept_encoding(lines: &[&[u8]]) {
    let accept = AcceptEncoding::parse(lines.iter().copied());
    for coding in Coding::ALL {
        assert!(accept.weight(coding) <= 1000, "{coding:?} weighs {}", accept.weight(coding));
    }
    let preferred = accept.preferred();
    for (i, &coding) in preferred.iter().enumerate() {
        assert!(accept.weight(coding) > 0, "{coding:?} refused, yet in {preferred:?}");
        assert!(!preferred[..i].contains(&coding), "{coding:?} twice in {preferred:?}");
        if let Some(&next) = preferred.get(i + 1) {
            assert!(accept.weight(coding) >= accept.weight(next), "not best first: {preferred:?}");
        }
    }
    let joined = lines.join(&b","[..]);
    assert_eq!(AcceptEncoding::parse([&joined[..]]), accept, "one line differs from several");
}

/// The first second an HTTP-date cannot say (10000-01-01T00:00:00Z):
/// years have four digits (RFC 9110 §5.6.7).
const END_OF_HTTP_DATES: u64 = 253_402_300_800;

/// A date `parse_http_date` reads is a whole second an HTTP-date can say,
/// and reads back the same once formatted; and a time taken from the
/// input, formatted in each of the three forms a recipient must accept
/// (§5.6.7), reads back as that time to the second.
fn http_dates(data: &[u8]) {
    if let Some(date) = parse_http_date(data) {
        let since = date.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        assert!(date >= SystemTime::UNIX_EPOCH && since.subsec_nanos() == 0, "{date:?}");
        assert!(since.as_secs() < END_OF_HTTP_DATES, "{date:?}");
        let again = httpdate::fmt_http_date(date);
        assert_eq!(parse_http_date(again.as_bytes()), Some(date), "{again}");
    }

    let mut word = [0u8; 12];
    for (slot, &b) in word.iter_mut().zip(data) {
        *slot = b;
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7, n0, n1, n2, n3] = word;
    let secs = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]) % END_OF_HTTP_DATES;
    let nanos = u32::from_le_bytes([n0, n1, n2, n3]) % 1_000_000_000;
    let second = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let imf = httpdate::fmt_http_date(second + Duration::from_nanos(nanos.into()));
    assert_eq!(parse_http_date(imf.as_bytes()), Some(second), "{imf}");
    let (Some(day), Some(weekday), Some(month), Some(year), Some(time)) =
        (imf.get(5..7), imf.get(..3), imf.get(8..11), imf.get(12..16), imf.get(17..25))
    else {
        panic!("not an IMF-fixdate: {imf:?}");
    };
    // "Sun Nov  6 08:49:37 1994"
    let asctime = format!("{weekday} {month} {:>2} {time} {year}", day.trim_start_matches('0'));
    assert_eq!(parse_http_date(asctime.as_bytes()), Some(second), "{asctime}");
    // "Sunday, 06-Nov-94 08:49:37 GMT", whose two-digit year is read as
    // 1970 to 2069 (httpdate's rule: RFC 9110 §5.6.7 asks for a window
    // around the current year, which a parser without a clock cannot know).
    let long_days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let long = long_days.iter().find(|long| long.starts_with(weekday));
    if let (Some(long), Some(yy)) = (long, year.get(2..))
        && ("1970".."2070").contains(&year)
    {
        let rfc850 = format!("{long}, {day}-{month}-{yy} {time} GMT");
        assert_eq!(parse_http_date(rfc850.as_bytes()), Some(second), "{rfc850}");
    }
}

// ---------------------------------------------------------------------------
// ranges_differential
// ---------------------------------------------------------------------------

/// `parse_range` and `select_ranges` agree with a reference model simple
/// enough to check by reading: a reference parser of the `Range` grammar,
/// and the set of bytes the satisfiable specs ask for, byte by byte.
///
/// The input is `len, mode, rest..`: the representation is `len % 200`
/// bytes long; if `mode` is even, `rest` is cut into triples that each
/// become one range-spec (mostly valid, sometimes not) with assorted
/// separators, after an assorted spelling of `bytes=`; if it is odd,
/// `rest` is the field value as it is.
pub fn ranges_differential(data: &[u8]) {
    let Some((text, len)) = range_case(data) else { return };
    let ours = parse_range(&text);
    let shown = String::from_utf8_lossy(&text);
    // Bytes no field value holds (RFC 9110 §5.5; portico's parser refuses
    // them) are left out of the comparison: `parse_range` trims any ASCII
    // whitespace, the grammar only SP and HTAB.
    if text.iter().all(|&b| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)) {
        assert_eq!(ours, reference_range(&text), "parse of {shown:?}");
    }
    let Some(specs) = ours else { return };
    let requested = requested_bytes(&specs, len);
    let shown = format!("{shown:?} of {len} bytes");
    let RangeSelection::Ranges(parts) = select_ranges(&specs, len as u64) else {
        assert!(!requested.contains(&true), "416 for a satisfiable {shown}");
        return;
    };
    let mut covered = vec![0u8; len];
    let mut previous_end = None;
    for &(offset, part) in &parts {
        let (Ok(offset), Ok(part)) = (usize::try_from(offset), usize::try_from(part)) else {
            panic!("a part past the end: {parts:?} for {shown}");
        };
        let Some(slots) = covered.get_mut(offset..offset.saturating_add(part)) else {
            panic!("a part past the end: {parts:?} for {shown}");
        };
        assert!(part > 0, "an empty part: {parts:?} for {shown}");
        for slot in slots {
            *slot += 1;
        }
        if let Some(end) = previous_end {
            let apart = offset.checked_sub(end).is_some_and(|gap| gap >= COALESCE_GAP as usize);
            assert!(apart, "parts out of order or too close: {parts:?} for {shown}");
        }
        previous_end = Some(offset + part);
    }
    for (i, (&asked, &times)) in requested.iter().zip(&covered).enumerate() {
        assert!(times <= 1, "byte {i} sent twice: {parts:?} for {shown}");
        assert!(!asked || times == 1, "byte {i} asked for and not sent: {parts:?} for {shown}");
    }
    // A byte sent but not asked for lies in a run of unasked bytes between
    // two asked ones, shorter than COALESCE_GAP. With the checks above,
    // this leaves exactly one right answer.
    let mut start = 0;
    for run in requested.split(|&asked| asked) {
        let end = start + run.len();
        let sent = covered[start..end].iter().any(|&times| times > 0);
        let between = start > 0 && end < len;
        if sent {
            let short = run.len() < COALESCE_GAP as usize;
            assert!(between && short, "bytes {start}..{end} filled in: {parts:?} for {shown}");
        }
        start = end + 1;
    }
}

/// The field value and representation length an input of
/// [`ranges_differential`] stands for; `None` for an input too short.
pub fn range_case(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (&[len, mode], rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(len % 200);
    if mode & 1 == 1 {
        return Some((rest.to_vec(), len));
    }
    let units: [&[u8]; 4] = [b"bytes=", b"Bytes=", b"BYTES=", b" bytes="];
    let separators: [&[u8]; 4] = [b",", b", ", b" ,\t", b",,"];
    // u64::MAX, one past it, and far past it.
    let huge = ["18446744073709551615", "18446744073709551616", "99999999999999999999999"];
    let mut text = units[usize::from(mode >> 1) % units.len()].to_vec();
    for (i, triple) in rest.chunks(3).enumerate() {
        let [kind, a, b] = [0, 1, 2].map(|j| triple.get(j).copied().unwrap_or(0));
        if i > 0 {
            text.extend_from_slice(separators[usize::from(kind >> 6)]);
        }
        let big = huge[usize::from(b) % huge.len()];
        let (a, b) = (u16::from(a), u16::from(b));
        let spec = match kind & 15 {
            0..=3 => format!("{a}-{}", a + b),
            4 | 5 => format!("{a}-"),
            6 | 7 => format!("-{b}"),
            8 => format!("{a}-{b}"),
            9 => format!("{a}-{big}"),
            10 => format!("{big}-"),
            11 => format!("-{big}"),
            12 => format!("{big}-{}", huge[usize::from(a) % huge.len()]),
            13 => format!("000{a}-0{}", a + b),
            14 => String::new(),
            _ => ["-", "1", "x-1", "1-2-3", "1 -2", "\t", "=1-2"][usize::from(a) % 7].to_owned(),
        };
        text.extend_from_slice(spec.as_bytes());
    }
    Some((text, len))
}

/// The `Range` grammar of RFC 9110 §14.1.1, read another way than
/// `parse_range` does: `bytes` in any case, `=`, then comma-separated
/// members (SP and HTAB around them, empty ones skipped), each
/// `first-last` with `last >= first` as numbers of any size, `first-` or
/// `-suffix`; anything else, no spec at all, or over [`MAX_RANGES`] specs
/// is `None`. Positions past `u64::MAX` read as `u64::MAX`.
fn reference_range(text: &[u8]) -> Option<Vec<ByteRange>> {
    let trim = |s| trim_ows_end(trim_ows_start(s));
    let text = trim(text);
    let (unit, set) = text.split_at_checked(6)?;
    if !unit.eq_ignore_ascii_case(b"bytes=") {
        return None;
    }
    let mut specs = Vec::new();
    for member in set.split(|&b| b == b',').map(trim).filter(|m| !m.is_empty()) {
        let member = core::str::from_utf8(member).ok()?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let value = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
        let spec = match member.split_once('-')? {
            ("", suffix) if digits(suffix) => ByteRange::Suffix(value(suffix)),
            (first, "") if digits(first) => ByteRange::From(value(first)),
            (first, last) if digits(first) && digits(last) => {
                // As numbers of any size: fewer significant digits is
                // smaller, then the digits decide.
                let significant = |s: &str| s.trim_start_matches('0').to_owned();
                let (first_digits, last_digits) = (significant(first), significant(last));
                let backwards =
                    (last_digits.len(), &last_digits) < (first_digits.len(), &first_digits);
                if backwards {
                    return None;
                }
                ByteRange::FromTo(value(first), value(last))
            }
            _ => return None,
        };
        specs.push(spec);
    }
    (1..=MAX_RANGES).contains(&specs.len()).then_some(specs)
}

/// Which of `len` bytes the satisfiable specs ask for, one spec at a
/// time (RFC 9110 §14.1.3): `first-last` from `first` up to `last` or
/// the end; `first-` from `first` to the end; `-n` the last `n` bytes,
/// all of them if there are fewer. A spec starting at or past the end,
/// and `-0`, ask for none.
fn requested_bytes(specs: &[ByteRange], len: usize) -> Vec<bool> {
    let mut asked = vec![false; len];
    let position = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    for &spec in specs {
        let (first, end) = match spec {
            ByteRange::FromTo(first, last) => (position(first), position(last).saturating_add(1)),
            ByteRange::From(first) => (position(first), len),
            ByteRange::Suffix(n) => (len.saturating_sub(position(n)), len),
        };
        for slot in asked.iter_mut().take(end).skip(first) {
            *slot = true;
        }
    }
    asked
}
