//! The connection, over raw TCP: pipelining, slow clients, keep-alive and
//! its end, request bodies skipped, the idle timeout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use portico_tests::{Host, ResponseReader, Server, get, send, static_file, static_root};

const ALLOW: &str = "GET, HEAD, OPTIONS";

fn pipelined_requests_answered_in_order(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /images/columns.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut reader = send(&server, request);
    let expected = ["style.css", "docs/index.html", "images/columns.png"];
    for file in expected {
        let response = reader.next(false).expect(file);
        assert_eq!(response.status, 200, "{file}");
        assert!(response.body == static_file(file), "{file}: wrong body or order");
    }
    assert_eq!(reader.pending(), b"", "bytes after the last response");
    assert!(reader.closed());
}

fn many_pipelined_requests_beyond_one_buffer(host: Host) {
    // 400 requests (~24 KiB) in one write: more than the server's 16 KiB
    // read buffer, so requests straddle its reads.
    let server = Server::start(host, &static_root());
    let files = ["style.css", "images/columns.png", "index.html", "docs/index.html"];
    let mut request = Vec::new();
    for i in 0..400 {
        request.extend_from_slice(&get(&format!("/{}?n={i:05}", files[i % files.len()])));
    }
    let mut reader = send(&server, &request);
    for i in 0..400 {
        let response = reader.next(false).unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(response.status, 200, "response {i}");
        assert!(response.body == static_file(files[i % files.len()]), "response {i}");
    }
}

fn request_sent_one_byte_at_a_time(host: Host) {
    let server = Server::start(host, &static_root());
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    let request = b"GET /style.css HTTP/1.1\r\nHost: portico.test\r\nUser-Agent: slow\r\n\r\n";
    for byte in request {
        stream.write_all(&[*byte]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
    let mut reader = ResponseReader::new(stream);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn keep_alive_serves_many_requests(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = ResponseReader::new(server.connect());
    let files = ["index.html", "style.css", "docs/index.html", "images/columns.png", "中文.html"];
    for round in 0..3 {
        for file in files {
            let target = match file {
                "index.html" => "/".to_owned(),
                "中文.html" => "/%E4%B8%AD%E6%96%87.html".to_owned(),
                other => format!("/{other}"),
            };
            reader.stream().write_all(&get(&target)).unwrap();
            let response = reader.next(false).expect("the connection stays open");
            assert_eq!(response.status, 200, "round {round}: {file}");
            assert!(response.body == static_file(file), "round {round}: {file}");
            assert_eq!(response.header("connection"), None);
        }
    }
}

fn connection_close_is_honoured(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(&server, &get("/style.css"));
    assert_eq!(reader.next(false).unwrap().status, 200);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    reader.stream().write_all(request).unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(response.body == static_file("index.html"));
    // The request pipelined after the close is never answered.
    assert!(reader.closed(), "the server kept the connection open");
}

fn connection_close_token_in_a_list(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(&server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn http_1_0_closes_by_default(host: Host) {
    let server = Server::start(host, &static_root());
    for request in
        [&b"GET /style.css HTTP/1.0\r\n\r\n"[..], b"GET /style.css HTTP/1.0\r\nHost: x\r\n\r\n"]
    {
        let mut reader = send(&server, request);
        let response = reader.next(false).unwrap();
        assert_eq!(response.status, 200);
        assert!(response.head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(response.header("connection"), Some("close"));
        assert!(response.body == static_file("style.css"));
        assert!(reader.closed());
    }
}

fn http_1_0_keep_alive_stays_open(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let mut reader = send(&server, request);
    for round in 0..3 {
        let response = reader.next(false).unwrap();
        assert_eq!(response.status, 200, "round {round}");
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert!(response.body == static_file("style.css"));
        reader.stream().write_all(request).unwrap();
    }
    let _ = reader.next(false).unwrap();
    // A 1.0 request without keep-alive on the same connection ends it.
    reader.stream().write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn post_with_content_length_body_then_get(host: Host) {
    let server = Server::start(host, &static_root());
    // The body looks like a request: it must be skipped, not parsed.
    let body = b"GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut request =
        format!("POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(&get("/style.css"));
    let mut reader = send(&server, &request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some(ALLOW));
    assert_eq!(response.header("connection"), None, "a 405 keeps the connection");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"), "the body was parsed as a request");
}

fn get_with_a_body_has_its_body_skipped(host: Host) {
    let server = Server::start(host, &static_root());
    // A body on a GET is framed like any other: it must not be read as
    // the next request (request smuggling).
    let request = b"GET /docs/ HTTP/1.1\r\nHost: x\r\nContent-Length: 37\r\n\r\n\
                    GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = send(&server, request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("docs/index.html"));
    let response = reader.next(false).unwrap();
    assert!(response.body == static_file("style.css"), "the GET's body was served as a request");
}

fn body_arriving_in_pieces_is_skipped(host: Host) {
    let server = Server::start(host, &static_root());
    let body = vec![b'G'; 100_000];
    let mut reader = send(
        &server,
        format!("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
    );
    // The answer comes before the body: nothing waits for it.
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 405);
    for piece in body.chunks(7_001) {
        reader.stream().write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    reader.stream().write_all(&get("/style.css")).unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn chunked_body_with_extension_and_trailer_then_get(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5;name=value\r\nhello\r\n\
                    1A ; other=\"quoted\"\r\nGET /docs/ HTTP/1.1\r\nHost:\r\n\
                    0\r\nX-Trailer: yes\r\nChecksum: abc\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = send(&server, request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some(ALLOW));
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"), "the chunked body was misframed");
}

fn chunked_body_without_trailer_sent_slowly(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"DELETE / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = ResponseReader::new(server.connect());
    reader.stream().set_nodelay(true).unwrap();
    for piece in request.chunks(3) {
        reader.stream().write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(reader.next(false).unwrap().status, 405);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn oversized_content_length_is_413_and_closes(host: Host) {
    let server = Server::start(host, &static_root());
    // Only the head: the server must not wait for the body.
    let mut reader =
        send(&server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 413);
    assert!(response.head.starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
    // Exactly 1 MiB is allowed (and skipped).
    let mut request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 1 << 20));
    request.extend_from_slice(&get("/style.css"));
    let mut reader = send(&server, &request);
    assert_eq!(reader.next(false).unwrap().status, 405);
    assert_eq!(reader.next(false).unwrap().body, static_file("style.css"));
}

fn huge_content_length_is_413(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    );
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn oversized_chunked_body_closes_after_answering(host: Host) {
    let server = Server::start(host, &static_root());
    // A 2 MiB chunk is announced: the request is answered, then the
    // connection closed rather than the body read.
    let request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\nxxxx";
    let mut reader = send(&server, request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 405);
    assert!(reader.closed(), "the server went on reading a 2 MiB chunked body");
}

fn malformed_chunked_body_closes_after_answering(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = send(&server, request);
    assert_eq!(reader.next(false).unwrap().status, 405);
    assert!(reader.closed(), "a request after a broken chunked body was answered");
}

fn expect_continue_with_body_closes(host: Host) {
    let server = Server::start(host, &static_root());
    // portico sends no 100 Continue and reads no body: it cannot know
    // whether the client sends the body, so it must close after answering.
    let request =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    let mut reader = send(&server, request);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 405);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn leading_empty_lines_are_ignored(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(&server, b"\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn bare_lf_line_endings_are_accepted(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(&server, b"GET /style.css HTTP/1.1\nHost: x\n\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

fn later_http_1_minor_version_is_served_as_1_1(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader = send(&server, b"GET /style.css HTTP/1.9\r\nHost: x\r\n\r\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.head.starts_with("HTTP/1.1 200 OK\r\n"));
    // 1.1 rules: the connection persists.
    reader.stream().write_all(&get("/")).unwrap();
    assert_eq!(reader.next(false).unwrap().status, 200);
}

fn absolute_form_target_is_served(host: Host) {
    let server = Server::start(host, &static_root());
    let mut reader =
        send(&server, b"GET http://portico.test/style.css HTTP/1.1\r\nHost: portico.test\r\n\r\n");
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
    reader
        .stream()
        .write_all(b"GET http://portico.test HTTP/1.1\r\nHost: portico.test\r\n\r\n")
        .unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("index.html"));
}

fn names_and_tokens_are_case_insensitive(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"POST / HTTP/1.1\r\nHOST: x\r\ntransfer-encoding: Chunked\r\n\r\n\
                    3\r\nabc\r\n0\r\n\r\n\
                    GET /style.css HTTP/1.1\r\nhost: x\r\nCONNECTION: CLOSE\r\n\r\n";
    let mut reader = send(&server, request);
    assert_eq!(reader.next(false).unwrap().status, 405);
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed());
}

fn idle_keep_alive_connection_is_closed(host: Host) {
    // 2 s, and bounds that tell 2 s from twice that: a host that armed the
    // idle wait late (say, only once the first wait ran out) fails here.
    let server = Server::start_with(host, &static_root(), &["--idle-timeout", "2"]);
    let (least, most) = (Duration::from_millis(1800), Duration::from_millis(3500));
    let mut reader = send(&server, &get("/style.css"));
    assert_eq!(reader.next(false).unwrap().status, 200);
    let idle_since = Instant::now();
    assert!(reader.closed(), "the idle connection was not closed");
    let idle = idle_since.elapsed();
    assert!(idle >= least, "closed after only {idle:?}");
    assert!(idle <= most, "closed after {idle:?}");
    assert!(reader.pending().is_empty(), "a response was sent to an idle connection");

    // A connection that never sends anything is closed the same way, once
    // the kernel hands it over: the listener defers a silent connection's
    // accept by about a second (TCP_DEFER_ACCEPT).
    let mut reader = ResponseReader::new(server.connect());
    let since = Instant::now();
    assert!(reader.closed());
    let idle = since.elapsed();
    let most = most + Duration::from_secs(1);
    assert!(idle >= least && idle <= most, "{idle:?}");
}

fn idle_timeout_does_not_cut_a_request_head_in_progress(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--idle-timeout", "1"]);
    let mut reader = ResponseReader::new(server.connect());
    // Half a head, then a pause longer than the idle timeout: the head
    // timeout (10 s), not the idle one, applies to a started request.
    reader.stream().write_all(b"GET /style.css HTTP/1.1\r\nHo").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    reader.stream().write_all(b"st: x\r\n\r\n").unwrap();
    let response = reader.next(false).expect("cut off mid-head by the idle timeout");
    assert_eq!(response.status, 200);
    assert!(response.body == static_file("style.css"));
}

/// A head that stops arriving gets 408 and a close once `--head-timeout`
/// has passed since it began (the slowloris guard), with `Connection:
/// close`; for a HEAD, without the page.
fn stalled_request_head_is_408(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--head-timeout", "1"]);
    for (start, head_request) in
        [(&b"GET /style.css HTTP/1.1\r\nHo"[..], false), (b"HEAD / HT", true)]
    {
        let mut reader = ResponseReader::new(server.connect());
        let since = Instant::now();
        reader.stream().write_all(start).unwrap();
        let response = reader.next(head_request).expect("a 408");
        let waited = since.elapsed();
        assert_eq!(response.status, 408, "{}", response.head);
        assert!(
            waited >= Duration::from_millis(800) && waited <= Duration::from_millis(3000),
            "{waited:?}"
        );
        assert_eq!(response.header("connection"), Some("close"));
        assert!(reader.closed(), "the connection stays open after a 408");
        if head_request {
            assert!(reader.pending().is_empty(), "a HEAD's 408 carried a body");
        }
    }
    let log = server.wait_for_log(2);
    assert!(log.iter().any(|l| l.contains("\"GET /style.css HTTP/1.1\" 408 ")), "{log:?}");
}

fn active_connection_outlives_the_idle_timeout(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--idle-timeout", "1"]);
    let mut reader = ResponseReader::new(server.connect());
    // Requests every 400 ms for 2 s: never idle for 1 s.
    for _ in 0..5 {
        reader.stream().write_all(&get("/style.css")).unwrap();
        assert_eq!(reader.next(false).expect("closed while active").status, 200);
        std::thread::sleep(Duration::from_millis(400));
    }
}

portico_tests::for_each_host!(
    pipelined_requests_answered_in_order,
    many_pipelined_requests_beyond_one_buffer,
    request_sent_one_byte_at_a_time,
    keep_alive_serves_many_requests,
    connection_close_is_honoured,
    connection_close_token_in_a_list,
    http_1_0_closes_by_default,
    http_1_0_keep_alive_stays_open,
    post_with_content_length_body_then_get,
    get_with_a_body_has_its_body_skipped,
    body_arriving_in_pieces_is_skipped,
    chunked_body_with_extension_and_trailer_then_get,
    chunked_body_without_trailer_sent_slowly,
    oversized_content_length_is_413_and_closes,
    huge_content_length_is_413,
    oversized_chunked_body_closes_after_answering,
    malformed_chunked_body_closes_after_answering,
    expect_continue_with_body_closes,
    leading_empty_lines_are_ignored,
    bare_lf_line_endings_are_accepted,
    later_http_1_minor_version_is_served_as_1_1,
    absolute_form_target_is_served,
    names_and_tokens_are_case_insensitive,
    idle_keep_alive_connection_is_closed,
    active_connection_outlives_the_idle_timeout,
    idle_timeout_does_not_cut_a_request_head_in_progress,
    stalled_request_head_is_408,
);
