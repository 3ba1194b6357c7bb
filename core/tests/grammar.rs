//! The request-head grammar and its semantic checks, through the public
//! `parse_request`: what is accepted, what each refusal maps to, and the
//! status code each refusal answers with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_core::{
    Framing, Header, Limits, Method, Parsed, ProtocolError, Request, Target, Version, parse_request,
};

fn parse(buf: &[u8]) -> Result<Parsed<Request<'_>>, ProtocolError> {
    parse_request(buf, &Limits::default())
}

#[track_caller]
fn complete(buf: &[u8]) -> Request<'_> {
    complete_with(buf, &Limits::default())
}

#[track_caller]
fn complete_with<'b>(buf: &'b [u8], limits: &Limits) -> Request<'b> {
    match parse_request(buf, limits) {
        Ok(Parsed::Complete(request)) => request,
        other => {
            panic!("{:?}: expected a complete head, got {other:?}", String::from_utf8_lossy(buf))
        }
    }
}

/// The request is refused with `expected`, which answers `status`.
#[track_caller]
fn rejects(buf: &[u8], expected: ProtocolError, status: u16) {
    rejects_with(buf, &Limits::default(), expected, status);
}

#[track_caller]
fn rejects_with(buf: &[u8], limits: &Limits, expected: ProtocolError, status: u16) {
    match parse_request(buf, limits) {
        Err(error) => {
            assert_eq!(error, expected, "{:?}", String::from_utf8_lossy(buf));
            assert_eq!(error.status(), status, "status of {error:?}");
        }
        other => panic!("{:?}: expected {expected:?}, got {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// `part` lies entirely inside `buf`: it is a borrowed slice, not a copy.
fn inside(buf: &[u8], part: &[u8]) -> bool {
    let outer = buf.as_ptr_range();
    let inner = part.as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

fn request_with_header(line: &[u8]) -> Vec<u8> {
    [b"GET / HTTP/1.1\r\nHost: example\r\n".as_slice(), line, b"\r\n\r\n"].concat()
}

// ---------------------------------------------------------------------------
// Accepted requests
// ---------------------------------------------------------------------------

#[test]
fn get_with_headers_is_parsed_into_slices_of_the_buffer() {
    let buf = b"GET /docs/index.html?lang=en HTTP/1.1\r\n\
                Host: example.com:8080\r\n\
                Accept: text/html\r\n\
                User-Agent: test/1.0\r\n\
                \r\n\
                trailing bytes of the next request";
    let request = complete(buf);

    assert_eq!(request.method(), Method::Get);
    assert_eq!(request.method().as_str(), "GET");
    assert_eq!(request.target(), "/docs/index.html?lang=en");
    assert_eq!(
        request.target_form(),
        Target::Origin { path: "/docs/index.html", query: Some("lang=en") }
    );
    assert_eq!(request.target_form().path(), Some("/docs/index.html"));
    assert_eq!(request.target_form().query(), Some("lang=en"));
    assert_eq!(request.version(), Version::Http11);
    assert_eq!(
        request.headers(),
        &[
            Header { name: "Host", value: b"example.com:8080" },
            Header { name: "Accept", value: b"text/html" },
            Header { name: "User-Agent", value: b"test/1.0" },
        ]
    );
    assert_eq!(request.header("accept"), Some(&b"text/html"[..]));
    assert_eq!(request.header("HOST"), Some(&b"example.com:8080"[..]));
    assert_eq!(request.header("cookie"), None);
    assert_eq!(request.framing(), Framing::None);
    assert!(request.keep_alive());
    let head_len = buf.len() - b"trailing bytes of the next request".len();
    assert_eq!(request.head_len(), head_len);

    // Zero-copy: every borrowed field points into the caller's buffer, at
    // the place it was sent.
    // (GET and HEAD are unit variants; other methods borrow, see below.)
    assert!(inside(buf, request.target().as_bytes()));
    assert_eq!(request.target().as_ptr(), buf[4..].as_ptr());
    for header in request.headers() {
        assert!(inside(&buf[..head_len], header.name.as_bytes()), "{header:?}");
        assert!(inside(&buf[..head_len], header.value), "{header:?}");
    }
    let Target::Origin { path, query } = request.target_form() else { unreachable!() };
    assert!(inside(buf, path.as_bytes()));
    assert!(inside(buf, query.unwrap().as_bytes()));
}

#[test]
fn http_1_0_and_1_1_are_both_accepted() {
    let request = complete(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(request.version(), Version::Http10);
    assert_eq!(request.version().as_str(), "HTTP/1.0");

    let request = complete(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(request.version(), Version::Http11);
    assert_eq!(request.version().as_str(), "HTTP/1.1");
}

#[test]
fn later_1_x_minor_versions_are_served_as_1_1() {
    for version in ["HTTP/1.2", "HTTP/1.9"] {
        let buf = format!("GET / {version}\r\nHost: h\r\n\r\n");
        assert_eq!(complete(buf.as_bytes()).version(), Version::Http11, "{version}");
    }
    // Served as 1.1, so a 1.x request still needs its Host.
    rejects(b"GET / HTTP/1.2\r\n\r\n", ProtocolError::BadHost, 400);
}

#[test]
fn other_major_versions_are_505() {
    for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"] {
        let buf = format!("GET / {version}\r\nHost: h\r\n\r\n");
        rejects(buf.as_bytes(), ProtocolError::VersionNotSupported, 505);
    }
}

#[test]
fn version_name_is_case_sensitive() {
    rejects(b"GET / http/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / Http/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn malformed_versions_are_400() {
    for version in ["HTTP/1", "HTTP/1.", "HTTP/11", "HTTP/1.10", "HTTP/1.1 ", "HTTP/a.b", "HTTP"] {
        let buf = format!("GET / {version}\r\nHost: h\r\n\r\n");
        rejects(buf.as_bytes(), ProtocolError::Malformed, 400);
    }
}

#[test]
fn methods_are_case_sensitive_tokens() {
    assert_eq!(complete(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n").method(), Method::Head);
    assert_eq!(complete(b"get / HTTP/1.1\r\nHost: h\r\n\r\n").method(), Method::Other("get"));
    let buf = b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n";
    let request = complete(buf);
    assert_eq!(request.method(), Method::Other("PROPFIND"));
    assert_eq!(request.method().as_str().as_ptr(), buf.as_ptr(), "borrowed, not copied");
    assert_eq!(request.method().as_str(), "PROPFIND");
    rejects(b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn request_line_needs_single_spaces() {
    rejects(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let buf = b"GET /a HTTP/1.1\nHost: h\nAccept: */*\n\nrest";
    let request = complete(buf);
    assert_eq!(request.target(), "/a");
    assert_eq!(request.header("accept"), Some(&b"*/*"[..]));
    assert_eq!(request.head_len(), buf.len() - 4);

    // Mixed endings too.
    let buf = b"GET /a HTTP/1.1\r\nHost: h\n\r\n";
    assert_eq!(complete(buf).head_len(), buf.len());
}

#[test]
fn bare_cr_is_malformed() {
    rejects(b"GET / HTTP/1.1\rHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: h\r\n\rX", ProtocolError::Malformed, 400);
    rejects(b"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    for prefix in ["\r\n", "\n", "\r\n\r\n\n"] {
        let buf = format!("{prefix}GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        let request = complete(buf.as_bytes());
        assert_eq!(request.target(), "/x");
        // head_len covers the skipped lines, so the caller drops them too.
        assert_eq!(request.head_len(), buf.len(), "{prefix:?}");
    }
    // Only empty lines so far: wait for the request-line.
    assert_eq!(parse(b"\r\n\r\n").unwrap(), Parsed::Partial);
}

#[test]
fn obs_fold_is_malformed() {
    rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", ProtocolError::Malformed, 400);
    // Whitespace between the request-line and the first field, too.
    rejects(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn whitespace_between_field_name_and_colon_is_malformed() {
    rejects(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(&request_with_header(b"Content-Length : 5"), ProtocolError::Malformed, 400);
}

#[test]
fn field_names_must_be_tokens() {
    rejects(&request_with_header(b": empty name"), ProtocolError::Malformed, 400);
    rejects(&request_with_header(b"Bad(Name): v"), ProtocolError::Malformed, 400);
    rejects(&request_with_header(b"No colon"), ProtocolError::Malformed, 400);
    rejects(&request_with_header(b"Caf\xc3\xa9: v"), ProtocolError::Malformed, 400);
}

#[test]
fn control_characters_in_a_field_value_are_malformed() {
    for ctl in [0x00u8, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f] {
        let line = [b"X-Test: a".as_slice(), &[ctl], b"b"].concat();
        rejects(&request_with_header(&line), ProtocolError::Malformed, 400);
    }
    rejects(b"GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn obs_text_and_inner_whitespace_in_a_field_value_are_kept() {
    let buf = request_with_header(b"X-Test: caf\xc3\xa9 \x80\xff\tend");
    let request = complete(&buf);
    assert_eq!(request.header("x-test"), Some(&b"caf\xc3\xa9 \x80\xff\tend"[..]));
}

#[test]
fn optional_whitespace_is_trimmed_from_field_values() {
    let buf =
        b"GET / HTTP/1.1\r\nHost:h\r\nA:   spaced   \r\nB:\t\ttabbed\t \r\nC:\r\nD: \t \r\n\r\n";
    let request = complete(buf);
    assert_eq!(request.header("host"), Some(&b"h"[..]));
    assert_eq!(request.header("a"), Some(&b"spaced"[..]));
    assert_eq!(request.header("b"), Some(&b"tabbed"[..]));
    assert_eq!(request.header("c"), Some(&b""[..]));
    assert_eq!(request.header("d"), Some(&b""[..]));
}

#[test]
fn repeated_fields_keep_their_order() {
    let buf = request_with_header(b"X: 1\r\nx: 2\r\nX: 3");
    let request = complete(&buf);
    let values: Vec<&[u8]> = request
        .headers()
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("x"))
        .map(|h| h.value)
        .collect();
    assert_eq!(values, [&b"1"[..], b"2", b"3"]);
    assert_eq!(request.header("x"), Some(&b"1"[..]));
}

// ---------------------------------------------------------------------------
// Incomplete input
// ---------------------------------------------------------------------------

#[test]
fn every_strict_prefix_of_a_valid_request_is_partial() {
    let requests: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX:  v  \r\n\r\n",
        b"\r\n\nHEAD / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n",
    ];
    for request in requests {
        let whole = complete(request);
        assert_eq!(whole.head_len(), request.len());
        for end in 0..request.len() {
            let prefix = &request[..end];
            assert_eq!(
                parse(prefix),
                Ok(Parsed::Partial),
                "prefix {:?} of {:?}",
                String::from_utf8_lossy(prefix),
                String::from_utf8_lossy(request)
            );
        }
    }
}

#[test]
fn a_lone_cr_at_the_end_of_the_buffer_is_partial_not_malformed() {
    assert_eq!(parse(b"GET / HTTP/1.1\r"), Ok(Parsed::Partial));
    assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: h\r"), Ok(Parsed::Partial));
    assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r"), Ok(Parsed::Partial));
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

#[test]
fn target_longer_than_max_target_is_414_before_the_line_ends() {
    let limits = Limits::default().with_max_target(16);
    let mut buf = b"GET /".to_vec();
    buf.extend(std::iter::repeat_n(b'a', 15));
    // Exactly max_target bytes of target, line not ended: wait.
    assert_eq!(parse_request(&buf, &limits), Ok(Parsed::Partial));
    buf.push(b'a');
    // One byte more and the line has not ended: refuse now.
    rejects_with(&buf, &limits, ProtocolError::TargetTooLong, 414);
    // And with the rest of the line.
    buf.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
    rejects_with(&buf, &limits, ProtocolError::TargetTooLong, 414);

    // Exactly max_target is fine.
    let ok = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(15));
    assert_eq!(complete_with(ok.as_bytes(), &limits).target().len(), 16);
}

#[test]
fn target_longer_than_the_default_max_target_is_414() {
    let target = format!("/{}", "x".repeat(Limits::default().max_target));
    let buf = format!("GET {target}");
    rejects(buf.as_bytes(), ProtocolError::TargetTooLong, 414);
}

#[test]
fn head_larger_than_max_head_is_431() {
    let limits = Limits::default();
    let filler = "v".repeat(limits.max_head);
    let buf = format!("GET / HTTP/1.1\r\nHost: h\r\nX-Big: {filler}\r\n\r\n");
    rejects(buf.as_bytes(), ProtocolError::HeadTooLarge, 431);
    // The head has not ended by max_head bytes: refused without the rest.
    rejects(&buf.as_bytes()[..limits.max_head], ProtocolError::HeadTooLarge, 431);
    assert_eq!(parse(&buf.as_bytes()[..limits.max_head - 1]), Ok(Parsed::Partial));
}

#[test]
fn head_of_exactly_max_head_bytes_is_accepted() {
    let limits = Limits::default().with_max_head(64);
    let start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    let pad = "p".repeat(64 - start.len() - 4);
    let buf = format!("{start}{pad}\r\n\r\nGET / HTTP/1.1\r\n");
    let request = complete_with(buf.as_bytes(), &limits);
    assert_eq!(request.head_len(), 64);

    // One byte more and it is too large.
    let buf = format!("{start}{pad}p\r\n\r\n");
    rejects_with(buf.as_bytes(), &limits, ProtocolError::HeadTooLarge, 431);
}

#[test]
fn more_than_max_headers_fields_is_431() {
    let limits = Limits::default();
    let fields: String = (1..limits.max_headers).map(|n| format!("X-{n}: {n}\r\n")).collect();
    let at_limit = format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
    assert_eq!(complete(at_limit.as_bytes()).headers().len(), limits.max_headers);

    let over = format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}X-Last: 1\r\n\r\n");
    rejects(over.as_bytes(), ProtocolError::HeadTooLarge, 431);

    let small = Limits::default().with_max_headers(2);
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    rejects_with(buf, &small, ProtocolError::HeadTooLarge, 431);
}

// ---------------------------------------------------------------------------
// Host
// ---------------------------------------------------------------------------

#[test]
fn http_1_1_without_host_is_400() {
    rejects(b"GET / HTTP/1.1\r\n\r\n", ProtocolError::BadHost, 400);
    rejects(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", ProtocolError::BadHost, 400);
}

#[test]
fn two_host_fields_are_400() {
    rejects(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ProtocolError::BadHost, 400);
    rejects(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", ProtocolError::BadHost, 400);
    rejects(b"GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", ProtocolError::BadHost, 400);
}

#[test]
fn http_1_0_without_host_is_fine() {
    let request = complete(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(request.header("host"), None);
}

#[test]
fn host_values() {
    for ok in
        ["example.com", "example.com:8080", "127.0.0.1:80", "[::1]:8080", "xn--bcher-kva.ch", ""]
    {
        let buf = format!("GET / HTTP/1.1\r\nHost: {ok}\r\n\r\n");
        assert_eq!(complete(buf.as_bytes()).header("host"), Some(ok.as_bytes()), "{ok:?}");
    }
    for bad in ["exa mple.com", "a/b", "a@b", "a\"b", "a<b", "a{b}", "caf\u{e9}.fr", "a\\b"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        rejects(buf.as_bytes(), ProtocolError::BadHost, 400);
        // Invalid in 1.0 too.
        let buf = format!("GET / HTTP/1.0\r\nHost: {bad}\r\n\r\n");
        rejects(buf.as_bytes(), ProtocolError::BadHost, 400);
    }
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

fn framing_of(header_lines: &str) -> Result<Framing, ProtocolError> {
    let buf = format!("POST /f HTTP/1.1\r\nHost: h\r\n{header_lines}\r\n");
    match parse(buf.as_bytes())? {
        Parsed::Complete(request) => Ok(request.framing()),
        Parsed::Partial => panic!("{buf:?} is a whole head"),
    }
}

#[test]
fn content_length_frames_the_body() {
    assert_eq!(framing_of("Content-Length: 5\r\n"), Ok(Framing::Length(5)));
    assert_eq!(framing_of("content-length:   42  \r\n"), Ok(Framing::Length(42)));
    assert_eq!(framing_of("Content-Length: 0\r\n"), Ok(Framing::None));
    assert_eq!(framing_of("Content-Length: 007\r\n"), Ok(Framing::Length(7)));
    assert_eq!(framing_of(""), Ok(Framing::None));
}

#[test]
fn identical_content_lengths_are_one_length() {
    assert_eq!(framing_of("Content-Length: 5, 5\r\n"), Ok(Framing::Length(5)));
    assert_eq!(framing_of("Content-Length: 5\r\nContent-Length: 5\r\n"), Ok(Framing::Length(5)));
    assert_eq!(framing_of("Content-Length: 5,5,\r\n"), Ok(Framing::Length(5)));
}

#[test]
fn differing_content_lengths_are_400() {
    assert_eq!(framing_of("Content-Length: 5, 6\r\n"), Err(ProtocolError::BadFraming));
    assert_eq!(
        framing_of("Content-Length: 5\r\nContent-Length: 6\r\n"),
        Err(ProtocolError::BadFraming)
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
}

#[test]
fn non_digit_content_lengths_are_400() {
    for bad in ["abc", "-1", "+5", "5 5", "0x10", "1.0", "5;", "١"] {
        let line = format!("Content-Length: {bad}\r\n");
        assert_eq!(framing_of(&line), Err(ProtocolError::BadFraming), "{bad:?}");
    }
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: five\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
}

/// Regression: an empty `Content-Length` (or one holding only commas) was
/// read as "no body", although `Content-Length = 1*DIGIT` (RFC 9110 §8.6).
/// A front end that reads it differently would desynchronise from us.
#[test]
fn empty_content_length_is_bad_framing_not_no_body() {
    for bad in ["", " ", ",", " , ,"] {
        let line = format!("Content-Length:{bad}\r\n");
        assert_eq!(framing_of(&line), Err(ProtocolError::BadFraming), "{bad:?}");
    }
    assert_eq!(
        framing_of("Content-Length: 5\r\nContent-Length:\r\n"),
        Err(ProtocolError::BadFraming)
    );
}

#[test]
fn content_length_above_max_body_is_413() {
    let max = Limits::default().max_body;
    assert_eq!(framing_of(&format!("Content-Length: {max}\r\n")), Ok(Framing::Length(max)));
    let over = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", max + 1);
    rejects(over.as_bytes(), ProtocolError::BodyTooLarge, 413);
    // Larger than a u64 is larger than any limit.
    let huge = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    rejects(huge.as_bytes(), ProtocolError::BodyTooLarge, 413);
}

#[test]
fn chunked_frames_the_body() {
    assert_eq!(framing_of("Transfer-Encoding: chunked\r\n"), Ok(Framing::Chunked));
    assert_eq!(framing_of("transfer-encoding: CHUNKED\r\n"), Ok(Framing::Chunked));
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
}

#[test]
fn unknown_transfer_codings_are_501() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ProtocolError::UnknownTransferCoding,
        501,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        ProtocolError::UnknownTransferCoding,
        501,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
        ProtocolError::UnknownTransferCoding,
        501,
    );
}

#[test]
fn chunked_twice_is_400() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
    rejects(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
}

#[test]
fn transfer_encoding_without_a_coding_is_400() {
    assert_eq!(framing_of("Transfer-Encoding:\r\n"), Err(ProtocolError::BadFraming));
    assert_eq!(framing_of("Transfer-Encoding: ,\r\n"), Err(ProtocolError::BadFraming));
}

#[test]
fn transfer_encoding_in_http_1_0_is_400() {
    rejects(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        ProtocolError::BadFraming,
        400,
    );
}

// ---------------------------------------------------------------------------
// Request-target forms
// ---------------------------------------------------------------------------

#[test]
fn asterisk_form_only_with_options() {
    let request = complete(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(request.target_form(), Target::Asterisk);
    assert_eq!(request.target_form().path(), None);
    assert_eq!(request.target_form().query(), None);
    rejects(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"CONNECT * HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn authority_form_only_with_connect() {
    let request = complete(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!(request.target_form(), Target::Authority("example.com:443"));
    assert_eq!(request.target_form().path(), None);
    rejects(b"GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    // And CONNECT only with it.
    rejects(b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
    rejects(b"CONNECT http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", ProtocolError::Malformed, 400);
}

#[test]
fn absolute_form_is_split_into_authority_path_and_query() {
    let buf = b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n";
    let request = complete(buf);
    assert_eq!(request.target(), "http://h/p?q");
    assert_eq!(
        request.target_form(),
        Target::Absolute { authority: "h", path: "/p", query: Some("q") }
    );
    let Target::Absolute { authority, path, query } = request.target_form() else { unreachable!() };
    assert!(inside(buf, authority.as_bytes()));
    assert!(inside(buf, path.as_bytes()));
    assert!(inside(buf, query.unwrap().as_bytes()));

    let request = complete(b"GET HTTPS://example.com:8443 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        request.target_form(),
        Target::Absolute { authority: "example.com:8443", path: "/", query: None }
    );
    let request = complete(b"GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        request.target_form(),
        Target::Absolute { authority: "h", path: "/", query: Some("x=1") }
    );
}

#[test]
fn targets_of_no_form_are_400() {
    for target in ["index.html", "http://", "http:///path", "ftp://h/p", "h:1/p"] {
        let buf = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        rejects(buf.as_bytes(), ProtocolError::Malformed, 400);
    }
}

#[test]
fn target_parse_directly() {
    assert_eq!(Target::parse("/"), Some(Target::Origin { path: "/", query: None }));
    assert_eq!(Target::parse("/a?"), Some(Target::Origin { path: "/a", query: Some("") }));
    assert_eq!(Target::parse("/a?b?c"), Some(Target::Origin { path: "/a", query: Some("b?c") }));
    assert_eq!(Target::parse("*"), Some(Target::Asterisk));
    assert_eq!(Target::parse("[::1]:443"), Some(Target::Authority("[::1]:443")));
    assert_eq!(Target::parse("user@h:1"), None);
    assert_eq!(Target::parse(""), None);
}

// ---------------------------------------------------------------------------
// Status codes
// ---------------------------------------------------------------------------

#[test]
fn every_protocol_error_has_its_status_and_a_reason() {
    let table = [
        (ProtocolError::Malformed, 400),
        (ProtocolError::BadHost, 400),
        (ProtocolError::BadFraming, 400),
        (ProtocolError::Timeout, 408),
        (ProtocolError::BodyTooLarge, 413),
        (ProtocolError::TargetTooLong, 414),
        (ProtocolError::HeadTooLarge, 431),
        (ProtocolError::UnknownTransferCoding, 501),
        (ProtocolError::VersionNotSupported, 505),
    ];
    for (error, status) in table {
        assert_eq!(error.status(), status, "{error:?}");
        assert!(!error.reason().is_empty());
        let shown = error.to_string();
        assert!(shown.contains(error.reason()) && shown.contains(&status.to_string()), "{shown}");
    }
}

#[test]
fn every_value_of_a_field_and_its_list_elements() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip, br;q=0.5\r\n\
                X-Other: 1\r\naccept-encoding: ,, zstd ,\r\nAccept-Encoding:\r\n\r\n";
    let Ok(Parsed::Complete(request)) = parse(raw) else { panic!("a request") };
    let values: Vec<&[u8]> = request.header_values("Accept-Encoding").collect();
    assert_eq!(values, [&b"gzip, br;q=0.5"[..], b",, zstd ,", b""]);
    let list: Vec<&[u8]> = request.header_list("ACCEPT-ENCODING").collect();
    assert_eq!(list, [&b"gzip"[..], b"br;q=0.5", b"zstd"]);
    assert_eq!(request.header("accept-encoding"), Some(&b"gzip, br;q=0.5"[..]));
    assert_eq!(request.header_list("If-None-Match").count(), 0);
}

#[test]
fn known_methods_have_variants_and_others_are_tokens() {
    for (token, method) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("OPTIONS", Method::Options),
        ("TRACE", Method::Trace),
        ("PATCH", Method::Patch),
    ] {
        let raw = format!("{token} / HTTP/1.1\r\nHost: h\r\n\r\n");
        let request = complete(raw.as_bytes());
        assert_eq!(request.method(), method);
        assert_eq!(request.method().as_str(), token);
        assert!(method.is_known());
    }
    let connect = complete(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
    assert_eq!(connect.method(), Method::Connect);
    for token in ["get", "Head", "FOOBAR", "M-SEARCH", "PROPFIND"] {
        let raw = format!("{token} / HTTP/1.1\r\nHost: h\r\n\r\n");
        let request = complete(raw.as_bytes());
        assert_eq!(request.method(), Method::Other(token));
        assert!(!request.method().is_known());
    }
}

/// RFC 9112 §3: a method longer than any implemented gets 501, as soon as
/// that is known: the 33rd byte of a token, whole or byte by byte.
#[test]
fn a_method_longer_than_32_bytes_is_501_at_once() {
    let at_limit =
        format!("{} / HTTP/1.1\r\nHost: h\r\n\r\n", "M".repeat(portico_core::MAX_METHOD));
    assert!(matches!(parse(at_limit.as_bytes()), Ok(Parsed::Complete(_))));
    assert_eq!(parse(&at_limit.as_bytes()[..portico_core::MAX_METHOD]), Ok(Parsed::Partial));
    let over = "M".repeat(portico_core::MAX_METHOD + 1);
    rejects(over.as_bytes(), ProtocolError::LongMethod, 501);
    rejects(format!("{over} / HTTP/1.1\r\n").as_bytes(), ProtocolError::LongMethod, 501);
    let huge = format!("{} / HTTP/1.1\r\nHost: h\r\n\r\n", "G".repeat(100_000));
    rejects(huge.as_bytes(), ProtocolError::LongMethod, 501);
    // Empty lines before the request-line do not count.
    rejects(format!("\r\n\r\n{over}").as_bytes(), ProtocolError::LongMethod, 501);
}

#[test]
fn a_fragment_is_in_no_target_form() {
    for target in ["/a#b", "/#", "/a?q#f", "http://x/a#b", "#"] {
        assert_eq!(Target::parse(target), None, "{target}");
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        rejects(raw.as_bytes(), ProtocolError::Malformed, 400);
    }
    // %23 is a "#" in a name.
    assert!(matches!(Target::parse("/a%23b"), Some(Target::Origin { path: "/a%23b", .. })));
}

#[test]
fn an_absolute_form_authority_is_a_host_and_port_without_userinfo() {
    for good in [
        "http://x/",
        "http://x:80/",
        "http://x:/",
        "http://a.example/p?q",
        "http://[::1]:8080/",
        "http://[2001:db8::1]/",
        "http://[::ffff:192.0.2.1]/",
        "http://[v1.fe80::a+en1]/",
        "http://192.0.2.1:8080/",
    ] {
        assert!(matches!(Target::parse(good), Some(Target::Absolute { .. })), "{good}");
    }
    for bad in [
        "http://x:80x/",
        "http://x:80:80/",
        "http://:80/",
        "http://::80/",
        "http://4712::abcd/",
        "http://[4712::abcd::]/",
        "http://[::1/",
        "http://[]/",
        "http://[v1]/",
        "http://[::1]x/",
        "http://user@x/",
        "http://user:pass@x:80/",
        "http:///",
    ] {
        assert_eq!(Target::parse(bad), None, "{bad}");
        let raw = format!("GET {bad} HTTP/1.1\r\nHost: x\r\n\r\n");
        rejects(raw.as_bytes(), ProtocolError::Malformed, 400);
    }
}

#[test]
fn host_ip_literals_are_real_ipv6_addresses() {
    for bad in ["[4712::abcd::]", "[12345::]", "[1:2:3:4:5:6:7:8:9]", "[::g]"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        rejects(raw.as_bytes(), ProtocolError::BadHost, 400);
    }
    for good in ["[::1]", "[::1]:80", "[2001:db8::1]", "[v7.a:b]"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
        assert!(matches!(parse(raw.as_bytes()), Ok(Parsed::Complete(_))), "{good}");
    }
}
