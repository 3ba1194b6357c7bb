//! The access log: one Common Log Format line per response on stdout,
//! escaped so a client cannot forge lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use portico_tests::{Host, Server, get, http_date, send, static_file, static_root};

/// `26/Nov/2026:13:03:29 +0000` for `when`.
fn clf_date(when: SystemTime) -> String {
    // "Thu, 26 Nov 2026 13:03:29 GMT"
    let imf = http_date(when);
    let (day, month, year, time) = (&imf[5..7], &imf[8..11], &imf[12..16], &imf[17..25]);
    format!("{day}/{month}/{year}:{time} +0000")
}

/// Split a CLF line into (date, request line, status, bytes), checking
/// the fixed parts.
fn parse(line: &str) -> (String, String, String, String) {
    let rest = line.strip_prefix("127.0.0.1 - - [").unwrap_or_else(|| panic!("prefix: {line}"));
    let (date, rest) = rest.split_once("] \"").unwrap_or_else(|| panic!("date: {line}"));
    let (request, rest) = rest.rsplit_once("\" ").unwrap_or_else(|| panic!("request: {line}"));
    let (status, bytes) = rest.split_once(' ').unwrap_or_else(|| panic!("status: {line}"));
    (date.to_owned(), request.to_owned(), status.to_owned(), bytes.to_owned())
}

/// The date is one of the seconds between `before` and `after`.
fn assert_date_between(date: &str, before: SystemTime, after: SystemTime) {
    let mut t = before - Duration::from_secs(1);
    while t <= after + Duration::from_secs(1) {
        if clf_date(t) == date {
            return;
        }
        t += Duration::from_millis(500);
    }
    panic!("log date {date} is not the time of the request ({})", clf_date(before));
}

fn not_found_line(host: Host) {
    let server = Server::start(host, &static_root());
    let before = SystemTime::now();
    let mut reader = send(&server, &get("/x"));
    let response = reader.next(false).unwrap();
    let after = SystemTime::now();
    assert_eq!(response.status, 404);
    let lines = server.wait_for_log(1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let (date, request, status, bytes) = parse(&lines[0]);
    assert_date_between(&date, before, after);
    assert_eq!(request, "GET /x HTTP/1.1");
    assert_eq!(status, "404");
    assert_eq!(bytes, static_file("404.html").len().to_string());
    // And the whole line, exactly.
    assert_eq!(lines[0], format!("127.0.0.1 - - [{date}] \"GET /x HTTP/1.1\" 404 {bytes}"));
}

fn one_line_per_response_in_order(host: Host) {
    let server = Server::start(host, &static_root());
    let request = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
                    HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /docs HTTP/1.1\r\nHost: x\r\n\r\n\
                    DELETE /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
                    GET /index.html HTTP/1.0\r\n\r\n";
    let mut reader = send(&server, request);
    for head_request in [false, true, false, false, false] {
        reader.next(head_request).unwrap();
    }
    let lines = server.wait_for_log(5);
    let got: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let (_, request, status, bytes) = parse(l);
            (request, status, bytes)
        })
        .collect();
    let css = static_file("style.css").len().to_string();
    let index = static_file("index.html").len().to_string();
    let expected = [
        ("GET /style.css HTTP/1.1", "200", css.as_str()),
        ("HEAD / HTTP/1.1", "200", "-"),
        ("GET /docs HTTP/1.1", "301", "-"),
        ("DELETE /style.css HTTP/1.1", "405", ""),
        ("GET /index.html HTTP/1.0", "200", index.as_str()),
    ];
    assert_eq!(got.len(), expected.len(), "{lines:?}");
    for (got, (request, status, bytes)) in got.iter().zip(expected) {
        assert_eq!(got.0, request);
        assert_eq!(got.1, status, "{request}");
        if !bytes.is_empty() {
            assert_eq!(got.2, bytes, "{request}");
        }
    }
    // The 405 page's size is logged, whatever it is.
    assert!(got[3].2.parse::<u64>().unwrap() > 0);
}

fn rejected_requests_are_logged(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: [(&[u8], &str, &str); 3] = [
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "GET / HTTP/2.0", "505"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n",
            "POST / HTTP/1.1",
            "413",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1", "400"),
    ];
    for (i, (request, line, status)) in cases.iter().enumerate() {
        let mut reader = send(&server, request);
        let response = reader.next(false).unwrap();
        assert_eq!(response.status.to_string(), *status);
        let lines = server.wait_for_log(i + 1);
        let (_, logged, logged_status, bytes) = parse(&lines[i]);
        assert_eq!(logged, *line);
        assert_eq!(logged_status, *status);
        assert_eq!(bytes, response.body.len().to_string());
    }
}

fn hostile_bytes_are_escaped(host: Host) {
    let server = Server::start(host, &static_root());
    let cases: [(&[u8], u16, &str); 4] = [
        (b"GET /a\"b HTTP/1.1\r\nHost: x\r\n\r\n", 404, r#"GET /a\"b HTTP/1.1"#),
        (b"GET /a\\b HTTP/1.1\r\nHost: x\r\n\r\n", 400, r"GET /a\\b HTTP/1.1"),
        (
            b"GET /\xff\x1b[31mred HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
            r"GET /\xFF\x1B[31mred HTTP/1.1",
        ),
        (b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", 400, r"GET /a\x0Db HTTP/1.1"),
    ];
    for (i, (request, status, escaped)) in cases.iter().enumerate() {
        let mut reader = send(&server, request);
        let response = reader.next(false).unwrap();
        assert_eq!(response.status, *status, "{escaped}");
        let lines = server.wait_for_log(i + 1);
        assert_eq!(lines.len(), i + 1, "{lines:?}");
        let (_, logged, _, _) = parse(&lines[i]);
        assert_eq!(logged, *escaped);
        assert!(lines[i].is_ascii() && !lines[i].contains('\r'), "{:?}", lines[i]);
    }
}

fn long_request_lines_are_cut(host: Host) {
    let server = Server::start(host, &static_root());
    let target = format!("/style.css?{}", "q".repeat(3000));
    let mut reader = send(&server, &get(&target));
    assert_eq!(reader.next(false).unwrap().status, 200);
    let lines = server.wait_for_log(1);
    let (_, logged, status, _) = parse(&lines[0]);
    assert_eq!(status, "200");
    assert_eq!(logged.len(), 1024, "the logged request line is not capped at 1 KiB");
    assert!(format!("GET {target} HTTP/1.1").starts_with(&logged));
}

fn refused_connection_is_logged(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--max-connections", "1"]);
    let mut held = send(&server, &get("/style.css"));
    assert_eq!(held.next(false).unwrap().status, 200);
    // The 200 is logged after it is sent: wait, or the 503 may come first.
    assert_eq!(server.wait_for_log(1).len(), 1);
    let mut refused = portico_tests::ResponseReader::new(server.connect());
    assert_eq!(refused.next(false).unwrap().status, 503);
    let lines = server.wait_for_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (_, request, status, _) = parse(&lines[1]);
    assert_eq!((request.as_str(), status.as_str()), ("-", "503"));
    held.stream().write_all(&get("/")).unwrap();
    assert_eq!(held.next(false).unwrap().status, 200);
}

portico_tests::for_each_host!(
    not_found_line,
    one_line_per_response_in_order,
    rejected_requests_are_logged,
    hostile_bytes_are_escaped,
    long_request_lines_are_cut,
    refused_connection_is_logged,
);
