//! The access log: one line per response on stdout (Common Log Format,
//! combined, or JSON), escaped so a client cannot forge lines, and never
//! in the way of serving, even when nobody reads stdout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use portico_tests::{
    Host, ResponseReader, Server, Stdout, get, http_date, send, static_file, static_root, temp_root,
};
use serde_json::Value;

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
    // Answered, then halfway through its next head: busy, so the next
    // connection cannot take its place and is refused.
    let mut bytes = get("/style.css");
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let mut held = send(&server, &bytes);
    assert_eq!(held.next(false).unwrap().status, 200);
    // The 200 is logged after it is sent: wait, or the 503 may come first.
    assert_eq!(server.wait_for_log(1).len(), 1);
    let mut refused = portico_tests::ResponseReader::new(server.connect());
    assert_eq!(refused.next(false).unwrap().status, 503);
    let lines = server.wait_for_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (_, request, status, _) = parse(&lines[1]);
    assert_eq!((request.as_str(), status.as_str()), ("-", "503"));
    held.stream().write_all(b"\r\n").unwrap();
    assert_eq!(held.next(false).unwrap().status, 200);
}

fn combined_adds_referer_and_user_agent(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--log-format", "combined"]);
    let request = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\
                    referer: http://example.test/page?q=\"a\"\r\n\
                    USER-AGENT:   agent/1.0 (test; caf\xc3\xa9)  \r\n\r\n\
                    HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut reader = send(&server, request);
    reader.next(false).unwrap();
    reader.next(true).unwrap();
    let lines = server.wait_for_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let css = static_file("style.css").len();
    // The common line, then the fields (names matched in any case, values
    // trimmed) quoted and escaped as the request line is.
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
    assert!(
        lines[0].ends_with(&format!(
            "] \"GET /style.css HTTP/1.1\" 200 {css} \
             \"http://example.test/page?q=\\\"a\\\"\" \"agent/1.0 (test; caf\\xC3\\xA9)\""
        )),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with("] \"HEAD / HTTP/1.1\" 200 - \"-\" \"-\""), "{}", lines[1]);
}

/// `2026-11-26T13:03:29` for `when` (the seconds of an RFC 3339 time).
fn rfc3339_seconds(when: SystemTime) -> String {
    // "Thu, 26 Nov 2026 13:03:29 GMT"
    let imf = http_date(when);
    let months =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = months.iter().position(|m| *m == &imf[8..11]).unwrap() + 1;
    format!("{}-{month:02}-{}T{}", &imf[12..16], &imf[5..7], &imf[17..25])
}

/// Parse a JSON log line, checking it has exactly the documented keys.
fn parse_json(line: &str) -> serde_json::Map<String, Value> {
    let Value::Object(object) =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    else {
        panic!("not an object: {line}");
    };
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = [
        "time",
        "remote",
        "method",
        "path",
        "protocol",
        "status",
        "bytes",
        "duration_ms",
        "user_agent",
        "referer",
    ];
    expected.sort_unstable();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "{line}");
    object
}

fn json_lines_have_every_field(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--log-format", "json"]);
    let before = SystemTime::now();
    let request = b"GET /style.css?v=1 HTTP/1.1\r\nHost: x\r\n\
                    User-Agent: Mozilla/5.0 (X11; Linux) \"quoted\"\r\n\
                    Referer: https://example.test/from?a=1&b=2\r\n\r\n\
                    HEAD /missing HTTP/1.0\r\n\r\n";
    let mut reader = send(&server, request);
    assert_eq!(reader.next(false).unwrap().status, 200);
    assert_eq!(reader.next(true).unwrap().status, 404);
    let after = SystemTime::now();
    let lines = server.wait_for_log(2);
    assert_eq!(lines.len(), 2, "{lines:?}");

    let first = parse_json(&lines[0]);
    let time = first["time"].as_str().unwrap();
    let shape = time.len() == 24
        && time.as_bytes()[19] == b'.'
        && time.ends_with('Z')
        && time[20..23].bytes().all(|b| b.is_ascii_digit());
    assert!(shape, "{time}");
    let mut t = before - Duration::from_secs(1);
    let mut seconds = Vec::new();
    while t <= after + Duration::from_secs(1) {
        seconds.push(rfc3339_seconds(t));
        t += Duration::from_millis(500);
    }
    assert!(seconds.iter().any(|s| time.starts_with(s.as_str())), "{time} not in {seconds:?}");
    assert_eq!(first["remote"], "127.0.0.1");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/style.css?v=1");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"].as_u64(), Some(static_file("style.css").len() as u64));
    let ms = first["duration_ms"].as_f64().expect("duration_ms is a number");
    assert!((0.0..10_000.0).contains(&ms), "{ms}");
    assert_eq!(first["user_agent"], "Mozilla/5.0 (X11; Linux) \"quoted\"");
    assert_eq!(first["referer"], "https://example.test/from?a=1&b=2");

    let second = parse_json(&lines[1]);
    assert_eq!(second["method"], "HEAD");
    assert_eq!(second["path"], "/missing");
    assert_eq!(second["protocol"], "HTTP/1.0");
    assert_eq!(second["status"], 404);
    assert_eq!(second["bytes"], 0);
    assert_eq!(second["user_agent"], Value::Null);
    assert_eq!(second["referer"], Value::Null);
}

fn json_survives_hostile_bytes(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--log-format", "json"]);
    let long_agent = "u".repeat(5000);
    // (request, expected path, expected user_agent): what the client sent,
    // with bytes that are not UTF-8 read as ISO-8859-1.
    let cases: [(Vec<u8>, &str, &str); 4] = [
        (
            b"GET /style.css HTTP/1.1\r\nHost: x\r\nUser-Agent: \"q\" back\\slash caf\xc3\xa9 \xff\x7f\x01 x\r\n\r\n".to_vec(),
            "/style.css",
            "\"q\" back\\slash caf\u{e9} \u{ff}\u{7f}\u{1} x",
        ),
        (
            b"GET /a\"b\\c\x1b[31m\xfe\xff HTTP/1.1\r\nHost: x\r\nUser-Agent: \x1b]0;pwned\x07\r\n\r\n".to_vec(),
            "/a\"b\\c\u{1b}[31m\u{fe}\u{ff}",
            "\u{1b}]0;pwned\u{7}",
        ),
        (
            b"GET /a\rb HTTP/1.1\r\nHost: x\r\nUser-Agent: \xe2\x80\xae evil\r\n\r\n".to_vec(),
            "/a\rb",
            "\u{202e} evil",
        ),
        (
            format!("GET /style.css HTTP/1.1\r\nHost: x\r\nUser-Agent: {long_agent}\r\n\r\n")
                .into_bytes(),
            "/style.css",
            &long_agent[..1024],
        ),
    ];
    for (i, (request, path, agent)) in cases.iter().enumerate() {
        let mut reader = send(&server, request);
        reader.next(false).unwrap();
        let lines = server.wait_for_log(i + 1);
        assert_eq!(lines.len(), i + 1, "{lines:?}");
        let line = &lines[i];
        // One line, nothing a terminal would act on, nothing reordered.
        assert!(!line.chars().any(|c| c.is_control() || c == '\u{202e}'), "{line:?}");
        let object = parse_json(line);
        assert_eq!(object["method"], "GET", "{line}");
        assert_eq!(object["path"], *path, "{line}");
        assert_eq!(object["protocol"], "HTTP/1.1", "{line}");
        assert_eq!(object["user_agent"], *agent, "{line}");
    }
}

/// Send `total` keep-alive requests in pipelined batches; panics if one is
/// not answered within the reader's 10 s timeout or all within `limit`.
fn hammer(server: &Server, request: &[u8], total: usize, limit: Duration) {
    let since = Instant::now();
    let mut reader = ResponseReader::new(server.connect());
    let batch = 100;
    let mut answered = 0;
    while answered < total {
        let n = batch.min(total - answered);
        reader.stream().write_all(&request.repeat(n)).unwrap();
        for _ in 0..n {
            let response = reader
                .next(false)
                .unwrap_or_else(|| panic!("no answer to request {answered} of {total}"));
            assert_eq!(response.status, 200);
            answered += 1;
        }
        assert!(since.elapsed() < limit, "{answered} of {total} answered in {limit:?}");
    }
}

/// Wait up to 10 s for a stderr line containing `needle`.
fn wait_for_stderr(server: &Server, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = server.stderr_lines();
        if lines.iter().any(|l| l.contains(needle)) || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Regression: a stdout nobody reads filled its 64 KiB pipe after ~600
/// lines, and then every connection thread blocked writing its line.
fn unread_stdout_does_not_stall_serving(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let mut server =
        Server::start_with_stdout(host, root.path(), &["--log-format", "json"], Stdout::Unread);
    let request = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: stdout-stall-test/1.0\r\n\r\n";
    hammer(&server, request, 20_000, Duration::from_secs(240));
    // Other connections too.
    assert_eq!(send(&server, &get("/a.txt")).next(false).unwrap().status, 200);
    let errors = wait_for_stderr(&server, "access-log lines dropped");
    assert!(
        errors.iter().any(|l| l.contains("access-log lines dropped: stdout is not keeping up")),
        "{errors:?}"
    );
    // Shutdown does not wait for ever on the stalled stdout either.
    let since = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(15)).expect("no exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(since.elapsed() < Duration::from_secs(8), "took {:?}", since.elapsed());
    let errors = wait_for_stderr(&server, "dropped in all");
    assert!(errors.iter().any(|l| l.contains("access-log lines dropped in all")), "{errors:?}");
}

fn closed_stdout_does_not_stop_serving(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let mut server = Server::start_with_stdout(host, root.path(), &[], Stdout::Closed);
    hammer(&server, &get("/a.txt"), 500, Duration::from_secs(60));
    assert_eq!(send(&server, &get("/a.txt")).next(false).unwrap().status, 200);
    let errors = wait_for_stderr(&server, "cannot write the access log");
    let said: Vec<_> =
        errors.iter().filter(|l| l.contains("cannot write the access log")).collect();
    assert_eq!(said.len(), 1, "said once: {errors:?}");
    assert!(server.is_running());
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(10)).expect("no exit after SIGTERM");
    assert!(status.success(), "{status:?}");
}

fn shutdown_writes_every_answered_line(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let mut server = Server::start_with(host, root.path(), &["--log-format", "json"]);
    let total = 300;
    hammer(&server, &get("/a.txt"), total, Duration::from_secs(60));
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(10)).expect("no exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    let lines = server.wait_for_log(total);
    assert_eq!(lines.len(), total);
    for line in &lines {
        assert_eq!(parse_json(line)["path"], "/a.txt");
    }
}

portico_tests::for_each_host!(
    not_found_line,
    one_line_per_response_in_order,
    rejected_requests_are_logged,
    hostile_bytes_are_escaped,
    long_request_lines_are_cut,
    refused_connection_is_logged,
    combined_adds_referer_and_user_agent,
    json_lines_have_every_field,
    json_survives_hostile_bytes,
    unread_stdout_does_not_stall_serving,
    closed_stdout_does_not_stop_serving,
    shutdown_writes_every_answered_line,
);
