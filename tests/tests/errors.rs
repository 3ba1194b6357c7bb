//! Every error status a client can provoke: the status line, the generated
//! page, `Connection: close`, and the close itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use portico_tests::{
    Host, RawResponse, Server, get, is_imf_fixdate, send, static_file, static_root,
};

/// What follows every bad request in the same write: it must never be
/// answered, since the connection closes after the error.
const FOLLOW_UP: &[u8] = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => panic!("no reason phrase for {status} in this test"),
    }
}

/// A generated error page for `status`, exactly as long as it says.
fn assert_error_page(response: &RawResponse, status: u16, what: &str) {
    let status_line = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    assert!(response.head.starts_with(&status_line), "{what}: {}", response.head);
    assert_eq!(response.header("server"), Some("portico"), "{what}");
    assert!(response.header("date").is_some_and(is_imf_fixdate), "{what}: Date");
    assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"), "{what}");
    let len = response.body.len().to_string();
    assert_eq!(response.header("content-length"), Some(len.as_str()), "{what}");
    let body = String::from_utf8_lossy(&response.body);
    let title = format!("<title>{status} {}</title>", reason(status));
    assert!(body.contains(&title), "{what}: {body}");
}

/// Send `request` (then [`FOLLOW_UP`]) and expect one `status` response
/// that closes the connection.
fn assert_closing_error(server: &Server, request: &[u8], status: u16) {
    let what = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
    let mut all = request.to_vec();
    all.extend_from_slice(FOLLOW_UP);
    let mut reader = send(server, &all);
    let response = reader.next(false).unwrap_or_else(|| panic!("{what:?}: no response"));
    assert_eq!(response.status, status, "{what:?}: {}", response.head);
    assert_error_page(&response, status, &what);
    assert_eq!(response.header("connection"), Some("close"), "{what:?}");
    assert!(reader.closed(), "{what:?}: the connection stayed open");
}

fn malformed_request_lines_are_400(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: &[&[u8]] = &[
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / http/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/11.1\r\nHost: x\r\n\r\n",
        b" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\tx HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET ../x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS client hello\r\n\r\n",
    ];
    for request in cases {
        assert_closing_error(&server, request, 400);
    }
}

fn malformed_header_fields_are_400(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\nNo-Colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nSpace : before colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad(Name): x\r\n\r\n",
    ];
    for request in cases {
        assert_closing_error(&server, request, 400);
    }
}

fn host_errors_are_400(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
    ];
    for request in cases {
        assert_closing_error(&server, request, 400);
    }
}

fn framing_errors_are_400(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n",
    ];
    for request in cases {
        assert_closing_error(&server, request, 400);
    }
}

fn repeated_equal_content_lengths_are_one_length(host: Host) {
    let server = Server::start(host, &static_root());
    let request =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\nhello";
    let mut all = request.to_vec();
    all.extend_from_slice(FOLLOW_UP);
    let mut reader = send(&server, &all);
    assert_eq!(reader.next(false).unwrap().status, 405);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn long_target_is_414(host: Host) {
    let server = Server::start(host, &static_root());
    let target = format!("/{}", "a".repeat(9000));
    assert_closing_error(&server, &get(&target), 414);
    // The same with a query, and in absolute form.
    let target = format!("/?q={}", "a".repeat(8200));
    assert_closing_error(&server, &get(&target), 414);
    let target = format!("http://x/{}", "a".repeat(8200));
    assert_closing_error(&server, &get(&target), 414);
}

fn target_at_the_limit_is_accepted(host: Host) {
    let server = Server::start(host, &static_root());
    // Exactly 8 KiB: served (the query is ignored).
    let target = format!("/style.css?{}", "a".repeat(8 * 1024 - 11));
    assert_eq!(target.len(), 8 * 1024);
    let mut reader = send(&server, &get(&target));
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
    // One more byte: 414.
    let target = format!("/{}", "a".repeat(8 * 1024));
    assert_closing_error(&server, &get(&target), 414);
}

fn oversized_header_section_is_431(host: Host) {
    let server = Server::start(host, &static_root());
    // One huge field.
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(17 * 1024));
    assert_closing_error(&server, request.as_bytes(), 431);
    // Many ordinary fields, fewer than 100, more than 16 KiB together.
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..90 {
        request.push_str(&format!("X-Field-{i}: {}\r\n", "v".repeat(200)));
    }
    request.push_str("\r\n");
    assert!(request.len() > 16 * 1024);
    assert_closing_error(&server, request.as_bytes(), 431);
}

fn header_section_at_the_limit_is_accepted(host: Host) {
    let server = Server::start(host, &static_root());
    // A head of exactly `len` bytes, padded with one field.
    let head_of = |len: usize| {
        let start = "GET /style.css HTTP/1.1\r\nHost: x\r\nX-Pad: ";
        let end = "\r\n\r\n";
        format!("{start}{}{end}", "p".repeat(len - start.len() - end.len()))
    };
    let request = head_of(16 * 1024);
    assert_eq!(request.len(), 16 * 1024);
    let mut reader = send(&server, request.as_bytes());
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200, "a 16 KiB head is allowed");
    assert!(response.body == static_file("style.css"));
    // The same after another request on the connection, so the head
    // starts part-way into the server's buffer.
    let mut both = get("/");
    both.extend_from_slice(request.as_bytes());
    let mut reader = send(&server, &both);
    assert_eq!(reader.next(false).unwrap().status, 200);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200, "a 16 KiB head after a pipelined request");
    assert!(response.body == static_file("style.css"));
    // One byte more: 431.
    assert_closing_error(&server, head_of(16 * 1024 + 1).as_bytes(), 431);
}

fn too_many_header_fields_is_431(host: Host) {
    let server = Server::start(host, &static_root());
    let with_fields = |n: usize| {
        let mut request = String::from("GET /style.css HTTP/1.1\r\nHost: x\r\n");
        for i in 1..n {
            request.push_str(&format!("X-{i}: y\r\n"));
        }
        request + "\r\n"
    };
    // 100 fields including Host: fine.
    let mut reader = send(&server, with_fields(100).as_bytes());
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
    // 101: too many, though the head is small.
    let request = with_fields(101);
    assert!(request.len() < 2048);
    assert_closing_error(&server, request.as_bytes(), 431);
}

fn unknown_transfer_coding_is_501(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
    ];
    for request in cases {
        assert_closing_error(&server, request, 501);
    }
}

fn other_http_versions_are_505(host: Host) {
    let server = Server::start(host, &static_root());
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9"] {
        let request = format!("GET / {version}\r\nHost: x\r\n\r\n");
        assert_closing_error(&server, request.as_bytes(), 505);
    }
}

fn oversized_body_is_413(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n";
    let mut reader = send(&server, request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 413);
    assert_error_page(&response, 413, "PUT 2000000");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn other_methods_are_405_or_501_and_keep_the_connection(host: Host) {
    let server = Server::start(host, &static_root());
    // OPTIONS: 204 with Allow. Recognised but not allowed on a file: 405
    // with Allow (RFC 9110 §15.5.6); not recognised (methods are
    // case-sensitive): 501 (§15.6.2).
    let requests = [
        ("DELETE /index.html HTTP/1.1", 405),
        ("PUT /index.html HTTP/1.1", 405),
        ("OPTIONS / HTTP/1.1", 204),
        ("OPTIONS * HTTP/1.1", 204),
        ("POST / HTTP/1.1", 405),
        ("PATCH / HTTP/1.1", 405),
        ("TRACE / HTTP/1.1", 405),
        ("CONNECT example.com:443 HTTP/1.1", 405),
        ("get / HTTP/1.1", 501),
        ("BREW /pot HTTP/1.1", 501),
        ("FOOBAR / HTTP/1.1", 501),
        ("PROPFIND / HTTP/1.1", 501),
    ];
    let mut reader = send(&server, b"");
    for (line, status) in requests {
        let request = format!("{line}\r\nHost: x\r\n\r\n");
        reader.stream().write_all(request.as_bytes()).unwrap();
        let response = reader.next(false).unwrap_or_else(|| panic!("{line}: no response"));
        assert_eq!(response.status, status, "{line}");
        if status == 204 {
            // RFC 9110 §9.3.7: OPTIONS says what is allowed, with no body.
            assert!(response.body.is_empty(), "{line}");
            assert_eq!(response.header("content-length"), None, "{line}");
        } else {
            assert_error_page(&response, status, line);
        }
        let allow = matches!(status, 204 | 405).then_some("GET, HEAD, OPTIONS");
        assert_eq!(response.header("allow"), allow, "{line}");
        assert_eq!(response.header("connection"), None, "{line}");
    }
    reader.stream().write_all(&get("/style.css")).unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

/// RFC 9112 §3: a method longer than any the server implements gets 501,
/// here as soon as it passes 32 bytes, not 431 after a head's worth.
fn an_overlong_method_is_501_and_closes(host: Host) {
    let server = Server::start(host, &static_root());
    let mut request = "G".repeat(100_000).into_bytes();
    request.extend_from_slice(b" / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_closing_error(&server, &request, 501);
    let mut request = "M".repeat(33).into_bytes();
    request.extend_from_slice(b" / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_closing_error(&server, &request, 501);
}

fn head_of_an_error_has_no_body(host: Host) {
    let server = Server::start(host, &static_root());
    // A HEAD that gets a generated 404 page: its length, not its bytes.
    let root = portico_tests::temp_root(&[("index.html", b"home")]);
    let bare = Server::start(host, root.path());
    for server in [&server, &bare] {
        let mut reader = send(
            server,
            b"HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        let head = reader.next(true).unwrap();
        let full = reader.next(false).unwrap();
        assert_eq!(head.status, 404);
        assert!(head.body.is_empty());
        assert_eq!(head.header("content-length"), full.header("content-length"));
        assert_eq!(full.body.len().to_string(), full.header("content-length").unwrap());
    }
}

/// A file name over NAME_MAX or a path over PATH_MAX cannot exist: 404,
/// not the 500 (ENAMETOOLONG as a lookup failure) it once was.
fn overlong_file_names_are_not_server_errors(host: Host) {
    let server = Server::start(host, &static_root());
    let targets = [
        format!("/{}", "a".repeat(256)),
        format!("/{}.html", "a".repeat(300)),
        format!("/docs/{}", "b".repeat(1000)),
        "/ab".repeat(1400),
    ];
    for target in targets {
        let mut reader = send(&server, &get(&target));
        let response = reader.next(false).unwrap();
        assert_eq!(response.status, 404, "GET /{}... ({} bytes)", &target[1..8], target.len());
        assert!(response.body == static_file("404.html"));
    }
}

portico_tests::for_each_host!(
    malformed_request_lines_are_400,
    malformed_header_fields_are_400,
    host_errors_are_400,
    framing_errors_are_400,
    repeated_equal_content_lengths_are_one_length,
    long_target_is_414,
    target_at_the_limit_is_accepted,
    oversized_header_section_is_431,
    header_section_at_the_limit_is_accepted,
    too_many_header_fields_is_431,
    unknown_transfer_coding_is_501,
    other_http_versions_are_505,
    oversized_body_is_413,
    other_methods_are_405_or_501_and_keep_the_connection,
    an_overlong_method_is_501_and_closes,
    head_of_an_error_has_no_body,
    overlong_file_names_are_not_server_errors,
);
