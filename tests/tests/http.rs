//! Ordinary requests, as a real client (ureq) makes them: files, content
//! types, directories, redirects, 404 pages, and HEAD.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::Command;
use std::time::Duration;

use portico_tests::{
    Host, ResponseReader, Server, agent, get, http_date, is_imf_fixdate, send, static_file,
    static_root, temp_root, without_date,
};

/// One response read completely through ureq.
#[derive(Debug)]
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }
}

fn fetch(server: &Server, path: &str) -> Got {
    let mut response = agent().get(&server.url(path)).call().unwrap();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_ascii_lowercase(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    Got { status: response.status().as_u16(), headers, body }
}

/// A 200 for exactly these bytes, with this content type.
fn assert_file(got: &Got, bytes: &[u8], content_type: &str) {
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.header("content-type"), Some(content_type));
    assert_eq!(got.header("content-length"), Some(bytes.len().to_string().as_str()));
    assert_eq!(got.count("content-length"), 1);
    assert!(got.body == bytes, "the body differs from the file ({} bytes)", got.body.len());
}

fn index_with_exact_headers(host: Host) {
    let server = Server::start(host, &static_root());
    let got = fetch(&server, "/");
    let index = static_file("index.html");
    assert_file(&got, &index, "text/html; charset=utf-8");
    assert_eq!(got.header("server"), Some("portico"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    let date = got.header("date").expect("a Date header");
    assert!(is_imf_fixdate(date), "Date {date:?}");
    let modified = std::fs::metadata(static_root().join("index.html")).unwrap().modified().unwrap();
    assert_eq!(got.header("last-modified"), Some(http_date(modified).as_str()));
    // An HTTP/1.1 keep-alive response says nothing about the connection.
    assert_eq!(got.header("connection"), None);
    assert_eq!(got.header("transfer-encoding"), None);
}

fn content_types(host: Host) {
    let server = Server::start(host, &static_root());
    let cases = [
        ("/style.css", "style.css", "text/css; charset=utf-8"),
        ("/images/columns.png", "images/columns.png", "image/png"),
        ("/images/portico.svg", "images/portico.svg", "image/svg+xml; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
    ];
    for (path, file, content_type) in cases {
        assert_file(&fetch(&server, path), &static_file(file), content_type);
    }
}

fn unknown_extension_and_empty_file(host: Host) {
    let root = temp_root(&[("data.bin-xyz", b"\x00\x01\x02binary"), ("empty.txt", b"")]);
    let server = Server::start(host, root.path());
    assert_file(
        &fetch(&server, "/data.bin-xyz"),
        b"\x00\x01\x02binary",
        "application/octet-stream",
    );
    assert_file(&fetch(&server, "/empty.txt"), b"", "text/plain; charset=utf-8");
}

fn directory_without_slash_redirects(host: Host) {
    let server = Server::start(host, &static_root());
    let got = fetch(&server, "/docs");
    assert_eq!(got.status, 301);
    assert_eq!(got.header("location"), Some("/docs/"));
    assert_eq!(got.header("content-length"), Some("0"));
    assert!(got.body.is_empty());
    // The query survives the redirect.
    let got = fetch(&server, "/docs?page=2&x=y");
    assert_eq!(got.status, 301);
    assert_eq!(got.header("location"), Some("/docs/?page=2&x=y"));
    // Nested and percent-encoded directory names come back encoded.
    let root = temp_root(&[("a b/c d/index.html", b"deep")]);
    let server = Server::start(host, root.path());
    let got = fetch(&server, "/a%20b/c%20d");
    assert_eq!(got.status, 301);
    assert_eq!(got.header("location"), Some("/a%20b/c%20d/"));
    assert_file(&fetch(&server, "/a%20b/c%20d/"), b"deep", "text/html; charset=utf-8");
}

fn directory_with_slash_serves_index(host: Host) {
    let server = Server::start(host, &static_root());
    assert_file(
        &fetch(&server, "/docs/"),
        &static_file("docs/index.html"),
        "text/html; charset=utf-8",
    );
    assert_file(
        &fetch(&server, "/docs/index.html"),
        &static_file("docs/index.html"),
        "text/html; charset=utf-8",
    );
}

fn percent_encoded_utf8_name(host: Host) {
    let server = Server::start(host, &static_root());
    let bytes = static_file("中文.html");
    assert_file(&fetch(&server, "/%E4%B8%AD%E6%96%87.html"), &bytes, "text/html; charset=utf-8");
    // Hex digits are case-insensitive.
    assert_file(&fetch(&server, "/%e4%b8%ad%e6%96%87.html"), &bytes, "text/html; charset=utf-8");
}

fn query_string_is_ignored(host: Host) {
    let server = Server::start(host, &static_root());
    assert_file(
        &fetch(&server, "/style.css?v=123"),
        &static_file("style.css"),
        "text/css; charset=utf-8",
    );
}

fn missing_file_gets_the_roots_404_page(host: Host) {
    let server = Server::start(host, &static_root());
    let page = static_file("404.html");
    for path in ["/no-such-file.html", "/docs/missing/", "/images/nope.png"] {
        let got = fetch(&server, path);
        assert_eq!(got.status, 404, "{path}");
        assert_eq!(got.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(got.header("content-length"), Some(page.len().to_string().as_str()));
        assert!(got.body == page, "{path}: not the root's 404.html");
    }
}

fn missing_file_without_404_page_gets_generated_page(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let server = Server::start(host, root.path());
    let got = fetch(&server, "/missing");
    assert_eq!(got.status, 404);
    assert_eq!(got.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(got.header("content-length"), Some(got.body.len().to_string().as_str()));
    let body = String::from_utf8(got.body).unwrap();
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains("<title>404 Not Found</title>"), "{body}");
    assert!(body.len() < 1024, "a small page, not {} bytes", body.len());
}

fn file_named_as_directory_is_not_found(host: Host) {
    let server = Server::start(host, &static_root());
    for path in ["/index.html/", "/index.html/x", "/style.css/index.html"] {
        let got = fetch(&server, path);
        assert_eq!(got.status, 404, "{path}");
        assert!(got.body == static_file("404.html"), "{path}");
    }
}

fn directory_without_index_is_listed_unless_no_listing(host: Host) {
    let root = temp_root(&[("files/a.txt", b"a"), ("files/b.txt", b"b")]);
    let server = Server::start(host, root.path());
    let got = fetch(&server, "/files/");
    assert_eq!(got.status, 200);
    let body = String::from_utf8(got.body).unwrap();
    assert!(body.contains("href=\"a.txt\"") && body.contains("href=\"b.txt\""), "{body}");
    let server = Server::start_with(host, root.path(), &["--no-listing"]);
    let got = fetch(&server, "/files/");
    assert_eq!(got.status, 404);
    let body = String::from_utf8(got.body).unwrap();
    assert!(!body.contains("a.txt") && !body.contains("b.txt"), "a listing: {body}");
}

fn dotfiles_are_hidden_except_well_known(host: Host) {
    let root = temp_root(&[
        (".env", b"SECRET=1"),
        (".git/config", b"[core]"),
        ("sub/.hidden", b"hidden"),
        (".well-known/security.txt", b"Contact: x"),
    ]);
    let server = Server::start(host, root.path());
    for path in ["/.env", "/.git/config", "/sub/.hidden", "/%2eenv", "/.git/"] {
        let got = fetch(&server, path);
        assert_eq!(got.status, 404, "{path}");
        assert!(!String::from_utf8_lossy(&got.body).contains("SECRET"), "{path}");
    }
    assert_file(
        &fetch(&server, "/.well-known/security.txt"),
        b"Contact: x",
        "text/plain; charset=utf-8",
    );
}

fn large_file_arrives_whole(host: Host) {
    // Not a multiple of any buffer size; every byte position distinct-ish.
    let bytes: Vec<u8> =
        (0..3_000_017u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let root = temp_root(&[("big.bin", &bytes)]);
    let server = Server::start(host, root.path());
    assert_file(&fetch(&server, "/big.bin"), &bytes, "application/octet-stream");
}

fn fifo_in_root_is_not_served(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let fifo = root.path().join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo is not available");
        return;
    }
    let server = Server::start(host, root.path());
    // Opening a FIFO without a writer must not hang the connection.
    let mut reader = send(&server, &get("/pipe"));
    reader.stream().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let response = reader.next(false).expect("an answer, not a hang");
    assert_eq!(response.status, 404);
    // The connection is still usable.
    reader.stream().write_all(&get("/")).unwrap();
    let response = reader.next(false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"home");
}

fn head_matches_get_without_body(host: Host) {
    let server = Server::start(host, &static_root());
    for path in ["/", "/style.css", "/images/columns.png", "/missing", "/docs", "/docs/"] {
        let request = format!(
            "HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET {path} HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let mut reader = send(&server, request.as_bytes());
        let head = reader.next(true).unwrap();
        let full = reader.next(false).unwrap();
        assert_eq!(without_date(&head.head), without_date(&full.head), "{path}");
        assert!(head.body.is_empty());
        // HEAD sent no body: the next response starts right after its head.
        let next = reader.next(false).unwrap();
        assert_eq!(next.status, 200, "{path}: the response after HEAD is garbled");
        assert_eq!(next.body, static_file("style.css"));
        assert!(reader.closed());
        assert!(reader.pending().is_empty());
    }
}

fn head_with_ureq(host: Host) {
    let server = Server::start(host, &static_root());
    let mut response = agent().head(&server.url("/style.css")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let len = static_file("style.css").len().to_string();
    assert_eq!(response.headers().get("content-length").unwrap().to_str().unwrap(), len);
    assert!(response.body_mut().read_to_vec().unwrap().is_empty());
}

fn responses_use_http_1_1_and_reason_phrases(host: Host) {
    let server = Server::start(host, &static_root());
    let cases = [
        ("/", "HTTP/1.1 200 OK\r\n"),
        ("/docs", "HTTP/1.1 301 Moved Permanently\r\n"),
        ("/missing", "HTTP/1.1 404 Not Found\r\n"),
    ];
    for (path, status_line) in cases {
        let request = format!("GET {path} HTTP/1.0\r\n\r\n");
        let mut reader = ResponseReader::new(server.connect());
        reader.stream().write_all(request.as_bytes()).unwrap();
        let response = reader.next(false).unwrap();
        assert!(response.head.starts_with(status_line), "{path}: {}", response.head);
    }
}

portico_tests::for_each_host!(
    index_with_exact_headers,
    content_types,
    unknown_extension_and_empty_file,
    directory_without_slash_redirects,
    directory_with_slash_serves_index,
    percent_encoded_utf8_name,
    query_string_is_ignored,
    missing_file_gets_the_roots_404_page,
    missing_file_without_404_page_gets_generated_page,
    file_named_as_directory_is_not_found,
    directory_without_index_is_listed_unless_no_listing,
    dotfiles_are_hidden_except_well_known,
    large_file_arrives_whole,
    fifo_in_root_is_not_served,
    head_matches_get_without_body,
    head_with_ureq,
    responses_use_http_1_1_and_reason_phrases,
);
