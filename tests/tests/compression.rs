//! Compression on the fly, done once, the same on both hosts: a
//! compressible file without a precompressed sibling is compressed off
//! the event loop and then served exactly as a sibling would be (its own
//! `ETag`, `Vary`, ranges, conditional requests); until then it goes out
//! as it is; a changed file never gets the old variant.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::time::{Duration, Instant, SystemTime};

use portico_tests::{Host, RawResponse, Server, exchange, set_mtime, temp_root};

fn get(server: &Server, target: &str, fields: &str) -> RawResponse {
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    exchange(server, request.as_bytes()).unwrap_or_else(|| panic!("GET {target}: no answer"))
}

/// Text that compresses well but not trivially, `seed` making it differ.
fn script(seed: u32, lines: u32) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| {
            format!("const v{i} = compute({}, \"{seed}\");\n", (i * 7919 + seed) % 1000)
                .into_bytes()
        })
        .collect()
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "br" => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        "gzip" => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
        }
        other => panic!("{other}"),
    }
    out
}

/// Ask for `target` in `coding` until it comes compressed (at most 60 s):
/// the answers before that, and the compressed one.
fn until_compressed(
    server: &Server,
    target: &str,
    coding: &str,
) -> (Vec<RawResponse>, RawResponse) {
    let fields = format!("Accept-Encoding: {coding}\r\n");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut before = Vec::new();
    loop {
        let answer = get(server, target, &fields);
        assert_eq!(answer.status, 200, "{target}");
        if answer.header("content-encoding").is_some() {
            return (before, answer);
        }
        assert!(Instant::now() < deadline, "{target} never came in {coding}");
        before.push(answer);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stamp(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn a_file_is_compressed_once_and_served_as_a_sibling(host: Host) {
    let source = script(1, 3000);
    let root = temp_root(&[("app.js", &source), ("tiny.css", b"a{}"), ("photo.png", &source)]);
    set_mtime(&root.path().join("app.js"), stamp(1_700_000_000));
    let server = Server::start(host, root.path());

    for coding in ["br", "zstd", "gzip"] {
        let (before, variant) = until_compressed(&server, "/app.js", coding);
        // Until it is ready: the file as it is, negotiated all the same.
        for answer in &before {
            assert_eq!(answer.body, source);
            assert_eq!(answer.header("vary"), Some("Accept-Encoding"));
        }
        assert_eq!(variant.header("content-encoding"), Some(coding));
        assert_eq!(variant.header("vary"), Some("Accept-Encoding"));
        assert_eq!(variant.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert!(variant.body.len() * 4 < source.len(), "{coding}: {}", variant.body.len());
        assert_eq!(decode(coding, &variant.body), source, "{coding}");
        let etag = variant.header("etag").unwrap().to_owned();
        let plain = get(&server, "/app.js", "");
        assert_ne!(plain.header("etag"), Some(etag.as_str()), "{coding}: its own ETag");
        assert_eq!(plain.body, source);

        // A conditional request and a range of the variant, as of a sibling.
        let fields = format!("Accept-Encoding: {coding}\r\nIf-None-Match: {etag}\r\n");
        assert_eq!(get(&server, "/app.js", &fields).status, 304, "{coding}");
        let fields = format!("Accept-Encoding: {coding}\r\nRange: bytes=10-19\r\n");
        let range = get(&server, "/app.js", &fields);
        assert_eq!(range.status, 206, "{coding}");
        assert_eq!(range.body, variant.body[10..20]);
        let total = variant.body.len();
        assert_eq!(range.header("content-range"), Some(format!("bytes 10-19/{total}").as_str()));
        let fields =
            format!("Accept-Encoding: {coding}\r\nRange: bytes=0-1\r\nIf-Range: {etag}\r\n");
        assert_eq!(get(&server, "/app.js", &fields).status, 206, "{coding}");
        let fields = format!("Accept-Encoding: {coding}\r\nIf-Match: {etag}\r\n");
        assert_eq!(get(&server, "/app.js", &fields).body, variant.body, "{coding}");
        let fields = format!("Accept-Encoding: {coding}\r\nIf-Match: \"other\"\r\n");
        assert_eq!(get(&server, "/app.js", &fields).status, 412, "{coding}");
        // HEAD: the variant's head, no body.
        let request =
            format!("HEAD /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {coding}\r\n\r\n");
        let head = exchange(&server, request.as_bytes()).expect("an answer");
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert_eq!(head.header("content-length"), Some(total.to_string().as_str()));
        assert!(head.body.is_empty());
    }
    // A browser's list gets brotli, the smallest.
    let browser = get(&server, "/app.js", "Accept-Encoding: gzip, deflate, br, zstd\r\n");
    assert_eq!(browser.header("content-encoding"), Some("br"));

    // Too small to gain, or not a compressible type: never compressed.
    for target in ["/tiny.css", "/photo.png"] {
        for _ in 0..20 {
            let answer = get(&server, target, "Accept-Encoding: br, gzip\r\n");
            assert_eq!(answer.header("content-encoding"), None, "{target}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn a_changed_file_never_gets_the_old_variant(host: Host) {
    let old = script(1, 3000);
    let root = temp_root(&[("app.js", &old)]);
    let path = root.path().join("app.js");
    set_mtime(&path, stamp(1_700_000_000));
    let server = Server::start(host, root.path());
    let (_, first) = until_compressed(&server, "/app.js", "gzip");
    assert_eq!(decode("gzip", &first.body), old);

    // The same length, another time; then another length.
    let mut same_length = script(2, 3000);
    same_length.truncate(old.len());
    same_length.resize(old.len(), b'\n');
    for (new, secs) in [(same_length, 1_700_000_100), (script(3, 2000), 1_700_000_200)] {
        std::fs::write(&path, &new).unwrap();
        set_mtime(&path, stamp(secs));
        let (before, variant) = until_compressed(&server, "/app.js", "gzip");
        for answer in &before {
            assert_eq!(answer.body, new, "the new file, as it is, until its variant is ready");
        }
        assert_eq!(decode("gzip", &variant.body), new, "never the old variant");
        assert_ne!(variant.header("etag"), first.header("etag"));
    }
}

fn compression_on_the_fly_can_be_turned_off(host: Host) {
    let source = script(1, 3000);
    let root = temp_root(&[("app.js", &source), ("data.csv", &source)]);
    let off = Server::start_with(host, root.path(), &["--compress-cache", "0"]);
    for _ in 0..30 {
        let answer = get(&off, "/app.js", "Accept-Encoding: gzip\r\n");
        assert_eq!(answer.header("content-encoding"), None);
        assert_eq!(answer.body, source);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only the types named: CSV but not JavaScript.
    let csv_only = Server::start_with(host, root.path(), &["--compress-types", "text/csv"]);
    let (_, variant) = until_compressed(&csv_only, "/data.csv", "gzip");
    assert_eq!(decode("gzip", &variant.body), source);
    for _ in 0..30 {
        let answer = get(&csv_only, "/app.js", "Accept-Encoding: gzip\r\n");
        assert_eq!(answer.header("content-encoding"), None);
        std::thread::sleep(Duration::from_millis(20));
    }
}

portico_tests::for_each_host!(
    a_file_is_compressed_once_and_served_as_a_sibling,
    a_changed_file_never_gets_the_old_variant,
    compression_on_the_fly_can_be_turned_off,
);
