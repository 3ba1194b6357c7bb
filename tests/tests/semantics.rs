//! Static-file semantics over TCP, the same on both hosts: validators and
//! conditional requests (RFC 9110 §8.8, §13), byte ranges (§14),
//! precompressed siblings (§12.5.3), directory listings and OPTIONS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use portico_tests::{
    Host, RawResponse, ResponseReader, Server, exchange, http_date, multipart_parts, pattern,
    set_mtime, temp_root,
};

/// The modification time the tests give their files: well in the past, so
/// `Last-Modified` is a strong validator.
fn stamp() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn ask(server: &Server, method: &str, target: &str, fields: &str) -> RawResponse {
    let request = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    exchange(server, request.as_bytes()).unwrap_or_else(|| panic!("{method} {target}: no answer"))
}

fn get(server: &Server, target: &str, fields: &str) -> RawResponse {
    ask(server, "GET", target, fields)
}

fn validators_and_conditional_requests(host: Host) {
    let root = temp_root(&[("page.html", b"<h1>v1</h1>")]);
    set_mtime(&root.path().join("page.html"), stamp());
    let server = Server::start_with(host, root.path(), &["--cache-control", "max-age=60"]);

    let first = get(&server, "/page.html", "");
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "strong: {etag}");
    assert_eq!(first.header("last-modified"), Some(http_date(stamp()).as_str()));
    assert_eq!(first.header("accept-ranges"), Some("bytes"));
    assert_eq!(get(&server, "/page.html", "").header("etag"), Some(etag.as_str()), "stable");

    // If-None-Match: the weak comparison, lists, `*` (RFC 9110 §13.1.2).
    for fields in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: W/{etag}\r\n"),
        format!("If-None-Match: \"nope\", {etag}\r\n"),
        "If-None-Match: *\r\n".to_owned(),
        format!("If-Modified-Since: {}\r\n", http_date(stamp())),
        format!("If-Modified-Since: {}\r\n", http_date(stamp() + Duration::from_secs(60))),
    ] {
        let response = get(&server, "/page.html", &fields);
        assert_eq!(response.status, 304, "{fields}");
        assert!(response.body.is_empty());
        // §15.4.5: what the 200 would carry for caches, and no more.
        assert_eq!(response.header("etag"), Some(etag.as_str()), "{fields}");
        assert_eq!(response.header("cache-control"), Some("max-age=60"), "{fields}");
        assert!(response.header("date").is_some());
        assert_eq!(response.header("content-type"), None, "{fields}");
    }
    let head = ask(&server, "HEAD", "/page.html", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(head.status, 304);

    // §13.2.2: If-None-Match wins over If-Modified-Since; invalid dates
    // and a date older than the file mean "send it".
    let fresh = http_date(stamp() + Duration::from_secs(60));
    for fields in [
        format!("If-None-Match: \"nope\"\r\nIf-Modified-Since: {fresh}\r\n"),
        "If-Modified-Since: not a date\r\n".to_owned(),
        format!("If-Modified-Since: {}\r\n", http_date(stamp() - Duration::from_secs(1))),
        format!("If-Match: {etag}\r\n"),
        "If-Match: *\r\n".to_owned(),
        format!("If-Unmodified-Since: {}\r\n", http_date(stamp())),
    ] {
        let response = get(&server, "/page.html", &fields);
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"<h1>v1</h1>"[..]),
            "{fields}"
        );
    }
    // If-Match (strong comparison) and If-Unmodified-Since fail with 412.
    for fields in [
        "If-Match: \"nope\"\r\n".to_owned(),
        format!("If-Match: W/{etag}\r\n"),
        format!("If-Unmodified-Since: {}\r\n", http_date(stamp() - Duration::from_secs(1))),
    ] {
        assert_eq!(get(&server, "/page.html", &fields).status, 412, "{fields}");
    }

    // A 304 keeps the connection: the next request on it is answered.
    let mut reader = ResponseReader::new(server.connect());
    let two = format!(
        "GET /page.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n\
         GET /page.html HTTP/1.1\r\nHost: t\r\n\r\n"
    );
    reader.stream().write_all(two.as_bytes()).unwrap();
    assert_eq!(reader.next(false).unwrap().status, 304);
    assert_eq!(reader.next(false).unwrap().body, b"<h1>v1</h1>");

    // The tag changes with the file, even at the same length.
    std::fs::write(root.path().join("page.html"), b"<h1>v2</h1>").unwrap();
    set_mtime(&root.path().join("page.html"), stamp() + Duration::from_secs(5));
    let changed = get(&server, "/page.html", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((changed.status, changed.body.as_slice()), (200, &b"<h1>v2</h1>"[..]));
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}

fn byte_ranges(host: Host) {
    const LEN: usize = 300_000;
    let data = pattern(LEN, 0);
    let root = temp_root(&[("blob.bin", &data)]);
    set_mtime(&root.path().join("blob.bin"), stamp());
    let server = Server::start(host, root.path());
    let etag = get(&server, "/blob.bin", "").header("etag").unwrap().to_owned();

    // One range: 206 with Content-Range (RFC 9110 §14.4).
    for (spec, first, last) in [
        ("0-99", 0, 99),
        ("299990-", 299_990, LEN - 1),
        ("-10", LEN - 10, LEN - 1),
        ("1000-999999999", 1000, LEN - 1),
        ("-999999999", 0, LEN - 1),
        // Overlapping and adjacent ranges merge into one.
        ("10-19, 0-9, 15-40", 0, 40),
    ] {
        let response = get(&server, "/blob.bin", &format!("Range: bytes={spec}\r\n"));
        assert_eq!(response.status, 206, "{spec}");
        assert_eq!(
            response.header("content-range"),
            Some(format!("bytes {first}-{last}/{LEN}").as_str()),
            "{spec}"
        );
        assert!(response.body == data[first..=last], "{spec}");
        assert_eq!(response.header("etag"), Some(etag.as_str()));
    }

    // Several ranges: multipart/byteranges, each part from the file.
    let response = get(&server, "/blob.bin", "Range: bytes=-5,0-9,150000-150099\r\n");
    assert_eq!(response.status, 206);
    assert_eq!(response.header("content-range"), None);
    let got = multipart_parts(&response);
    let expected = [(0, 9), (150_000, 150_099), (LEN - 5, LEN - 1)];
    assert_eq!(got.len(), expected.len());
    for ((range, bytes), (first, last)) in got.iter().zip(expected) {
        assert_eq!(range, &format!("bytes {first}-{last}/{LEN}"));
        assert!(*bytes == data[first..=last], "{range}");
    }

    // Nothing satisfiable: 416 with the length (§15.5.17).
    let response = get(&server, "/blob.bin", &format!("Range: bytes={LEN}-\r\n"));
    assert_eq!(response.status, 416);
    assert_eq!(response.header("content-range"), Some(format!("bytes */{LEN}").as_str()));

    // Ignored: bad syntax, another unit, too many ranges, HEAD, an If-Range
    // that does not match. Then the whole file, 200.
    let many = format!(
        "Range: bytes={}\r\n",
        (0..65).map(|i| format!("{}-{}", i * 1000, i * 1000)).collect::<Vec<_>>().join(",")
    );
    for fields in [
        "Range: bytes=9-5\r\n".to_owned(),
        "Range: items=0-5\r\n".to_owned(),
        "Range: bytes 0-5\r\n".to_owned(),
        many,
        "Range: bytes=0-5\r\nIf-Range: \"old\"\r\n".to_owned(),
        format!("Range: bytes=0-5\r\nIf-Range: W/{etag}\r\n"),
        format!(
            "Range: bytes=0-5\r\nIf-Range: {}\r\n",
            http_date(stamp() - Duration::from_secs(9))
        ),
    ] {
        let response = get(&server, "/blob.bin", &fields);
        assert_eq!(response.status, 200, "{fields}");
        assert!(response.body == data, "{fields}");
    }
    let head = ask(&server, "HEAD", "/blob.bin", "Range: bytes=0-5\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(LEN.to_string().as_str()));

    // If-Range that holds: by tag, or by the exact Last-Modified.
    for fields in [
        format!("Range: bytes=0-5\r\nIf-Range: {etag}\r\n"),
        format!("Range: bytes=0-5\r\nIf-Range: {}\r\n", http_date(stamp())),
    ] {
        let response = get(&server, "/blob.bin", &fields);
        assert_eq!(response.status, 206, "{fields}");
        assert!(response.body == data[..6], "{fields}");
    }

    // An empty file has no satisfiable range.
    std::fs::write(root.path().join("empty"), b"").unwrap();
    assert_eq!(get(&server, "/empty", "Range: bytes=0-\r\n").status, 416);
}

fn precompressed_siblings(host: Host) {
    let original = b"function hello() { return 'hello, world'; }\n".repeat(20);
    let root = temp_root(&[
        ("app.js", &original),
        ("app.js.br", b"BROTLI-BYTES"),
        ("app.js.gz", b"GZIP-BYTES-LONGER"),
        ("style.css", b"p{}"),
        ("style.css.gz", b"a sibling larger than the file"),
        ("plain.txt", b"no siblings"),
        ("pic.png", b"\x89PNG fake image bytes"),
        ("pic.png.gz", b"gz"),
    ]);
    let server = Server::start(host, root.path());
    let fetch = |target: &str, accept: &str| {
        let fields = if accept.is_empty() {
            String::new()
        } else {
            format!("Accept-Encoding: {accept}\r\n")
        };
        get(&server, target, &fields)
    };

    let plain = fetch("/app.js", "");
    assert_eq!(plain.body, original);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"), "also on the uncompressed answer");

    for (accept, coding, bytes) in [
        ("gzip, deflate, br, zstd", "br", &b"BROTLI-BYTES"[..]),
        ("gzip", "gzip", b"GZIP-BYTES-LONGER"),
        ("br;q=0.2, gzip;q=0.8", "gzip", b"GZIP-BYTES-LONGER"),
        ("*", "br", b"BROTLI-BYTES"),
        ("x-gzip", "gzip", b"GZIP-BYTES-LONGER"),
    ] {
        let response = fetch("/app.js", accept);
        assert_eq!(response.status, 200, "{accept}");
        assert_eq!(response.header("content-encoding"), Some(coding), "{accept}");
        assert_eq!(response.body, bytes, "{accept}");
        assert_eq!(response.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(response.header("vary"), Some("Accept-Encoding"));
        assert_ne!(response.header("etag"), plain.header("etag"), "a tag per encoding");
    }
    for accept in ["zstd", "br;q=0, gzip;q=0", "identity", "gzip;q=0.5, identity", ""] {
        let response = fetch("/app.js", accept);
        assert_eq!(
            (response.header("content-encoding"), &response.body),
            (None, &original),
            "{accept}"
        );
    }
    // Not larger than the file; not for types that are compressed already.
    assert_eq!(fetch("/style.css", "gzip").body, b"p{}");
    assert_eq!(fetch("/pic.png", "gzip").header("content-encoding"), None);
    // identity refused and no sibling: 406.
    assert_eq!(fetch("/plain.txt", "br, identity;q=0").status, 406);
    assert_eq!(fetch("/plain.txt", "*;q=0").status, 406);

    // Conditionals and ranges apply to the representation sent.
    let br = fetch("/app.js", "br");
    let br_tag = br.header("etag").unwrap();
    let fields = format!("Accept-Encoding: br\r\nIf-None-Match: {br_tag}\r\n");
    assert_eq!(get(&server, "/app.js", &fields).status, 304);
    let fields = format!("Accept-Encoding: gzip\r\nIf-None-Match: {br_tag}\r\n");
    assert_eq!(get(&server, "/app.js", &fields).status, 200);
    let range = get(&server, "/app.js", "Accept-Encoding: br\r\nRange: bytes=0-5\r\n");
    assert_eq!(range.status, 206);
    assert_eq!(range.body, b"BROTLI");
    assert_eq!(range.header("content-range"), Some("bytes 0-5/12"));
}

/// The `(href, text)` of each link in a listing's table.
fn listed(html: &str) -> Vec<(String, String)> {
    let table = &html[html.find("<tbody>").expect("a table")..];
    let table = &table[..table.find("</tbody>").expect("the table ends")];
    table
        .split("<a href=\"")
        .skip(1)
        .map(|rest| {
            let (href, rest) = rest.split_once("\">").unwrap();
            (href.to_owned(), rest.split_once("</a>").unwrap().0.to_owned())
        })
        .collect()
}

fn listings(host: Host) {
    let outside = temp_root(&[("secret.txt", b"outside the root")]);
    let names = [
        "a#b",
        "q?x",
        "100%",
        "c:d",
        "e;f",
        "g,h",
        "[i]",
        "<j>",
        "k&l",
        "sp ace",
        "\"q\"",
        "it's",
        "caf\u{e9}",
        "\u{65e5}\u{672c}",
    ];
    let mut files: Vec<(String, Vec<u8>)> =
        names.iter().map(|n| (format!("d/{n}"), format!("contents of {n}").into_bytes())).collect();
    files.push(("d/sub/inner.txt".into(), b"inner".to_vec()));
    files.push(("d/.hidden".into(), b"hidden".to_vec()));
    let borrowed: Vec<(&str, &[u8])> =
        files.iter().map(|(p, b)| (p.as_str(), b.as_slice())).collect();
    let root = temp_root(&borrowed);
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("d/escape"))
        .unwrap();
    std::os::unix::fs::symlink("sub/inner.txt", root.path().join("d/alias")).unwrap();
    let server = Server::start(host, root.path());

    let page = get(&server, "/d/", "");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = page.header("content-security-policy").expect("a CSP");
    assert!(policy.contains("default-src 'none'") && !policy.contains("script"), "{policy}");
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(!html.to_lowercase().contains("<script"));
    let links = listed(&html);
    let hrefs: Vec<&str> = links.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hrefs[..2], ["../", "sub/"], "parent, then directories first");
    assert!(!html.contains("hidden"), "dotfiles are not listed");
    assert!(!html.contains("escape"), "a link out of the root is not listed");
    assert!(hrefs.contains(&"alias"), "a link within the root is");
    assert_eq!(links.len(), 2 + names.len() + 1, "{hrefs:?}");
    // Every link, followed, gives its file.
    for (href, _) in &links[2..] {
        let response = get(&server, &format!("/d/{href}"), "");
        assert_eq!(response.status, 200, "{href}");
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.starts_with("contents of ") || body == "inner", "{href}: {body}");
        if let Some(name) = body.strip_prefix("contents of ") {
            assert!(names.contains(&name), "{href} gave {name}");
        }
    }
    // The link out of the root is not followed either.
    assert!(matches!(get(&server, "/d/escape", "").status, 403 | 404));
    // HEAD: the listing's length, no body.
    let head = ask(&server, "HEAD", "/d/", "");
    assert_eq!(head.header("content-length"), Some(page.body.len().to_string().as_str()));
    // With --hidden, dotfiles are listed.
    let open = Server::start_with(host, root.path(), &["--hidden"]);
    assert!(String::from_utf8(get(&open, "/d/", "").body).unwrap().contains("href=\".hidden\""));
}

fn a_large_directory_is_listed_in_part(host: Host) {
    let root = temp_root(&[]);
    let dir = root.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..10_050 {
        std::fs::write(dir.join(format!("f{i:05}")), b"").unwrap();
    }
    let server = Server::start(host, root.path());
    let page = get(&server, "/many/", "");
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    let links = listed(&html);
    assert_eq!(links.len(), 1 + 10_000);
    assert_eq!(links[1].0, "f00000");
    assert_eq!(links[10_000].0, "f09999");
    assert!(
        html.contains("50 more entries are not listed: a listing shows at most 10000"),
        "{}",
        &html[html.len() - 400..]
    );
}

/// Names no request can name (not UTF-8, a backslash, a control
/// character) are left out of a listing and counted apart from the
/// entry cap; entries that are not served (a link out of the root) are
/// left out silently; both hosts list the same entries.
fn names_that_cannot_be_requested_are_counted_apart(host: Host) {
    use std::os::unix::ffi::OsStrExt as _;
    let outside = temp_root(&[("secret.txt", b"outside the root")]);
    let root = temp_root(&[("t/ok.txt", b"ok"), ("t/.hidden", b"hidden")]);
    let dir = root.path().join("t");
    let odd: [&[u8]; 3] = [b"bad\xff", b"back\\slash", b"ctl\x01"];
    for name in odd {
        let path = dir.join(std::ffi::OsStr::from_bytes(name));
        if let Err(error) = std::fs::write(&path, b"odd") {
            eprintln!("skipped: this file system refuses the name {name:?}: {error}");
            return;
        }
    }
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.join("escape")).unwrap();
    let server = Server::start(host, root.path());
    let page = get(&server, "/t/", "");
    assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
    let html = String::from_utf8(page.body).unwrap();
    let hrefs: Vec<String> = listed(&html).into_iter().map(|(href, _)| href).collect();
    assert_eq!(hrefs, ["../", "ok.txt"]);
    assert!(
        html.contains("3 entries are not listed: their names cannot be requested"),
        "{}",
        &html[html.find("</table>").unwrap_or(0)..]
    );
    assert!(!html.contains("at most"), "nothing was left out for the cap");
    assert!(!html.contains("escape") && !html.contains("hidden"));
    // One of them: the singular, and nothing else said.
    for name in &odd[1..] {
        std::fs::remove_file(dir.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    let html = String::from_utf8(get(&server, "/t/", "").body).unwrap();
    assert!(html.contains("1 entry is not listed: its name cannot be requested"), "{html}");
    assert!(!html.contains("at most"));
}

/// The same listing as JSON for a program that asks (`Accept`, or
/// `?format=json`), and sorted by size or time for people, with the
/// times and sizes the file system has, directories' times too.
fn listings_as_json_and_sorted(host: Host) {
    let root = temp_root(&[
        ("s/file10.txt", b"x"),
        ("s/file2.txt", b"xxxxxxxxxx"),
        ("s/File1.txt", b"xxxxx"),
        ("s/q\"<b>.txt", b"xx"),
        ("s/dir/inner", b""),
    ]);
    let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let dir = root.path().join("s");
    for (name, secs) in [
        ("file10.txt", 1_700_000_300),
        ("file2.txt", 1_700_000_100),
        ("File1.txt", 1_700_000_200),
        ("q\"<b>.txt", 1_600_000_000),
        ("dir", 1_700_000_400),
    ] {
        std::fs::File::open(dir.join(name)).unwrap().set_modified(at(secs)).unwrap();
    }
    let server = Server::start(host, root.path());
    let names_of = |target: &str| -> Vec<String> {
        let page = get(&server, target, "");
        assert_eq!(page.status, 200, "{target}");
        listed(&String::from_utf8(page.body).unwrap()).into_iter().map(|(href, _)| href).collect()
    };
    assert_eq!(
        names_of("/s/"),
        ["../", "dir/", "File1.txt", "file2.txt", "file10.txt", "q%22%3Cb%3E.txt"]
    );
    assert_eq!(
        names_of("/s/?sort=size&order=desc"),
        ["../", "dir/", "file2.txt", "File1.txt", "q%22%3Cb%3E.txt", "file10.txt"]
    );
    assert_eq!(
        names_of("/s/?sort=time&order=desc"),
        ["../", "dir/", "file10.txt", "File1.txt", "file2.txt", "q%22%3Cb%3E.txt"]
    );

    for (target, fields) in [("/s/", "Accept: application/json\r\n"), ("/s/?format=json", "")] {
        let answer = get(&server, target, fields);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-type"), Some("application/json"), "{target}");
        assert_eq!(answer.header("vary"), Some("Accept"));
        let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(doc["path"], "/s/");
        let entries = doc["entries"].as_array().unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["dir", "File1.txt", "file2.txt", "file10.txt", "q\"<b>.txt"]);
        assert_eq!(entries[0]["type"], "directory");
        assert_eq!(entries[0]["mtime"], 1_700_000_400);
        assert_eq!(entries[0]["modified"], "2023-11-14T22:20:00Z");
        assert_eq!(
            (entries[2]["type"].as_str(), entries[2]["size"].as_u64()),
            (Some("file"), Some(10))
        );
        assert_eq!(entries[4]["mtime"], 1_600_000_000);
        assert_eq!(doc["not_listed"]["over_limit"], 0);
    }
    // A browser's Accept gets the page; HEAD the document's length.
    let browser = "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";
    assert_eq!(
        get(&server, "/s/", browser).header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let json = get(&server, "/s/?format=json", "");
    let head = ask(&server, "HEAD", "/s/?format=json", "");
    assert_eq!(head.header("content-length"), Some(json.body.len().to_string().as_str()));
}

fn options_and_allow(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let server = Server::start(host, root.path());
    for target in ["*", "/", "/a.txt", "/missing"] {
        let response = ask(&server, "OPTIONS", target, "");
        assert_eq!(response.status, 204, "{target}");
        assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(response.header("content-length"), None);
        assert!(response.body.is_empty());
    }
    let post = ask(&server, "POST", "/a.txt", "Content-Length: 0\r\n");
    assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
}

portico_tests::for_each_host!(
    validators_and_conditional_requests,
    byte_ranges,
    precompressed_siblings,
    listings,
    a_large_directory_is_listed_in_part,
    names_that_cannot_be_requested_are_counted_apart,
    listings_as_json_and_sorted,
    options_and_allow,
);
