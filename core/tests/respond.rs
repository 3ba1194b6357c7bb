//! `respond` over an in-memory web root: status, serialised head and body
//! description for each kind of request, and `error_response`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portico_core::{
    Body, FileLookup, Limits, Lookup, MemoryLookup, Parsed, ProtocolError, Request, Response,
    SafePath, Segment, Site, closing_response, error_response, parse_request, reason_phrase,
    respond,
};

/// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110 §5.6.7.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
}

const NOW_HTTP: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

const INDEX: &[u8] = b"<!DOCTYPE html><h1>home</h1>";
const STYLE: &[u8] = b"body { color: red }";

fn site() -> MemoryLookup {
    let mut files = MemoryLookup::new()
        .with("index.html", INDEX)
        .with("style.css", STYLE)
        .with("docs/index.html", &b"<h1>docs</h1>"[..])
        .with("docs/guide.txt", &b"read me"[..])
        .with("empty/.keep", &b""[..])
        .with("images/logo.png", &b"\x89PNG\r\n\x1a\n"[..])
        .with("data.bin", &b"\x00\x01"[..])
        .with("\u{4e2d}\u{6587}.html", &b"<p>zh</p>"[..])
        .with(".git/config", &b"[core]"[..])
        .with(".env", &b"SECRET=1"[..])
        .with(".well-known/security.txt", &b"Contact: x"[..])
        .with("zero.txt", &b""[..]);
    files.insert("old.html", &b"old"[..], Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1)));
    files.insert("future.html", &b"future"[..], Some(now() + Duration::from_secs(3600)));
    files
}

fn site_with_404_page() -> MemoryLookup {
    site().with("404.html", &b"<h1>custom not found</h1>"[..])
}

#[track_caller]
fn request(raw: &[u8]) -> Request<'_> {
    match parse_request(raw, &Limits::default()) {
        Ok(Parsed::Complete(request)) => request,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn answer(files: &MemoryLookup, method: &str, target: &str) -> Response<Arc<[u8]>> {
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: example\r\n\r\n");
    respond(&request(raw.as_bytes()), &Site::default(), files, now())
}

fn get(target: &str) -> Response<Arc<[u8]>> {
    answer(&site(), "GET", target)
}

/// The head as text, split into its status line and `(name, value)` pairs.
fn head_of<H>(response: &Response<H>) -> (String, Vec<(String, String)>) {
    let bytes = response.head_bytes();
    let text = std::str::from_utf8(&bytes).expect("heads are ASCII");
    let text = text.strip_suffix("\r\n\r\n").expect("a head ends in an empty line");
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let fields = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    (status_line, fields)
}

/// Every value of the named field, case-insensitively.
fn fields<H>(response: &Response<H>, name: &str) -> Vec<String> {
    head_of(response)
        .1
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// The one value of the named field, if there is one (and never two).
fn field<H>(response: &Response<H>, name: &str) -> Option<String> {
    let mut values = fields(response, name);
    assert!(values.len() <= 1, "{name} sent {} times", values.len());
    values.pop()
}

fn status_line<H>(response: &Response<H>) -> String {
    head_of(response).0
}

/// The bytes the body would send, read from the in-memory handle.
fn body_bytes(response: &Response<Arc<[u8]>>) -> Vec<u8> {
    let mut out = Vec::new();
    for segment in response.body().segments() {
        match segment {
            Segment::Bytes(bytes) => out.extend_from_slice(bytes),
            Segment::File { offset, len } => {
                let file = response.body().handle().expect("a file segment has a handle");
                let start = usize::try_from(offset).unwrap();
                out.extend_from_slice(&file[start..start + usize::try_from(len).unwrap()]);
            }
        }
    }
    out
}

/// What every response must satisfy, whatever its status.
#[track_caller]
fn check_common<H>(response: &Response<H>, head_only: bool) {
    let (status_line, _) = head_of(response);
    let status = response.status();
    assert_eq!(status_line, format!("HTTP/1.1 {status} {}", reason_phrase(status)));
    assert_eq!(field(response, "Server").as_deref(), Some("portico"));
    assert_eq!(field(response, "Date").as_deref(), Some(NOW_HTTP));
    // Hop-by-hop fields are the HTTP/1.1 serialiser's, never the headers'
    // a wasi:http host or an embedder passes on.
    for hop in ["Connection", "Keep-Alive", "Transfer-Encoding"] {
        assert!(response.headers().get(hop).is_none(), "{hop} among the end-to-end fields");
    }
    let length: u64 = field(response, "Content-Length").expect("Content-Length").parse().unwrap();
    if head_only {
        assert!(matches!(response.body(), Body::Empty), "HEAD has no body");
    } else {
        assert_eq!(response.body().len(), length, "Content-Length and body disagree");
        assert_eq!(response.body().is_empty(), length == 0);
    }
}

#[test]
fn get_root_serves_index_html() {
    let response = get("/");
    check_common(&response, false);
    assert_eq!(response.status(), 200);
    assert!(response.head_bytes().starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(field(&response, "Content-Type").as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(field(&response, "Content-Length"), Some(INDEX.len().to_string()));
    assert_eq!(field(&response, "X-Content-Type-Options").as_deref(), Some("nosniff"));
    assert_eq!(field(&response, "Connection"), None);
    assert_eq!(field(&response, "Last-Modified"), None);
    assert!(response.keep_alive());
    let Body::File { offset, len, .. } = response.body() else { panic!("a file body") };
    assert_eq!((*offset, *len), (0, INDEX.len() as u64));
    assert_eq!(body_bytes(&response), INDEX);
}

#[test]
fn head_has_the_same_head_as_get_and_no_body() {
    let files = site_with_404_page();
    for target in ["/", "/style.css", "/docs/", "/docs", "/missing", "/.env", "/%00", "/old.html"] {
        let get = answer(&files, "GET", target);
        let head = answer(&files, "HEAD", target);
        assert_eq!(head.status(), get.status(), "{target}");
        assert_eq!(head.head_bytes(), get.head_bytes(), "{target}");
        assert_eq!(head.body(), &Body::Empty, "{target}");
        check_common(&head, true);
    }
}

#[test]
fn other_known_methods_are_405_with_allow() {
    for method in ["POST", "PUT", "DELETE", "TRACE", "PATCH"] {
        let response = answer(&site(), method, "/");
        check_common(&response, false);
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(status_line(&response), "HTTP/1.1 405 Method Not Allowed");
        assert_eq!(field(&response, "Allow").as_deref(), Some("GET, HEAD, OPTIONS"));
        assert!(matches!(response.body(), Body::Bytes(_)));
    }
    let response = respond(
        &request(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
        &Site::default(),
        &site(),
        now(),
    );
    // RFC 9110 §9.3.7: OPTIONS is answered, with what is allowed.
    assert_eq!(response.status(), 204);
    assert_eq!(field(&response, "Allow").as_deref(), Some("GET, HEAD, OPTIONS"));
    assert_eq!(answer(&site(), "OPTIONS", "/a.txt").status(), 204);
    let response = respond(
        &request(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
        &Site::default(),
        &site(),
        now(),
    );
    assert_eq!(response.status(), 405);
    // GET has no Allow.
    assert_eq!(field(&get("/"), "Allow"), None);
}

#[test]
fn unrecognised_methods_are_501_and_keep_the_connection() {
    for method in ["get", "Head", "FOOBAR", "PROPFIND", "M-SEARCH"] {
        let response = answer(&site(), method, "/");
        check_common(&response, false);
        assert_eq!(status_line(&response), "HTTP/1.1 501 Not Implemented", "{method}");
        assert_eq!(field(&response, "Allow"), None, "{method}");
        assert!(response.keep_alive(), "{method}");
    }
}

#[test]
fn missing_file_is_a_generated_404_page() {
    let response = get("/nope.html");
    check_common(&response, false);
    assert_eq!(response.status(), 404);
    assert_eq!(status_line(&response), "HTTP/1.1 404 Not Found");
    assert_eq!(field(&response, "Content-Type").as_deref(), Some("text/html; charset=utf-8"));
    let Body::Bytes(page) = response.body() else { panic!("a generated page") };
    let page = String::from_utf8(page.clone()).unwrap();
    assert!(page.contains("404 Not Found"), "{page}");
    assert!(response.keep_alive(), "a 404 does not end the connection");
}

#[test]
fn missing_file_serves_the_root_404_html_with_status_404() {
    let files = site_with_404_page();
    for target in ["/nope.html", "/docs/nope", "/.git/config", "/style.css/"] {
        let response = answer(&files, "GET", target);
        check_common(&response, false);
        assert_eq!(response.status(), 404, "{target}");
        assert_eq!(status_line(&response), "HTTP/1.1 404 Not Found");
        assert_eq!(field(&response, "Content-Type").as_deref(), Some("text/html; charset=utf-8"));
        assert_eq!(body_bytes(&response), b"<h1>custom not found</h1>");
    }
}

#[test]
fn a_directory_without_its_slash_is_redirected() {
    let response = get("/docs");
    check_common(&response, false);
    assert_eq!(response.status(), 301);
    assert_eq!(status_line(&response), "HTTP/1.1 301 Moved Permanently");
    assert_eq!(field(&response, "Location").as_deref(), Some("/docs/"));
    assert_eq!(field(&response, "Content-Length").as_deref(), Some("0"));
    assert_eq!(response.body(), &Body::Empty);

    // The query survives the redirect.
    let response = get("/docs?lang=en&x=%20");
    assert_eq!(field(&response, "Location").as_deref(), Some("/docs/?lang=en&x=%20"));

    // A directory with no index.html is still redirected first.
    assert_eq!(field(&get("/empty"), "Location").as_deref(), Some("/empty/"));
}

#[test]
fn redirect_location_is_built_from_the_sanitised_path() {
    let files = site().with("a b/index.html", &b"x"[..]).with("evil.example/index.html", &b"x"[..]);
    let response = answer(&files, "GET", "/a%20b");
    assert_eq!(field(&response, "Location").as_deref(), Some("/a%20b/"));
    // Not a scheme-relative URL to another site.
    let response = answer(&files, "GET", "//evil.example");
    assert_eq!(field(&response, "Location").as_deref(), Some("/evil.example/"));
    let response = answer(&files, "GET", "/%2F%2Fevil.example");
    assert_eq!(field(&response, "Location").as_deref(), Some("/evil.example/"));
    let response = answer(&files, "GET", "/x/../docs");
    assert_eq!(field(&response, "Location").as_deref(), Some("/docs/"));
}

#[test]
fn a_directory_with_its_slash_serves_its_index_html() {
    let response = get("/docs/");
    check_common(&response, false);
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response, "Content-Type").as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(body_bytes(&response), b"<h1>docs</h1>");
    assert_eq!(body_bytes(&get("/docs/x/..")), b"<h1>docs</h1>");
    assert_eq!(body_bytes(&get("/%2e%2e/docs/")), b"<h1>docs</h1>");
    // A directory without one is listed, or not found with listings off.
    assert_eq!(get("/empty/").status(), 200);
    let no_listing = Site::default().with_listings(false);
    let raw = b"GET /empty/ HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(respond(&request(raw), &no_listing, &site(), now()).status(), 404);
}

#[test]
fn a_file_asked_for_as_a_directory_is_404() {
    assert_eq!(get("/style.css/").status(), 404);
    assert_eq!(get("/docs/guide.txt/").status(), 404);
    assert_eq!(get("/style.css/.").status(), 404);
    assert_eq!(get("/style.css").status(), 200);
}

#[test]
fn hidden_files_are_404_but_well_known_is_served() {
    assert_eq!(get("/.git/config").status(), 404);
    assert_eq!(get("/.env").status(), 404);
    assert_eq!(get("/%2eenv").status(), 404);
    assert_eq!(get("/.git/").status(), 404);
    assert_eq!(get("/.git").status(), 404, "not even a redirect that reveals it exists");
    let response = get("/.well-known/security.txt");
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), b"Contact: x");
}

#[test]
fn traversal_stays_in_the_root() {
    assert_eq!(body_bytes(&get("/../../style.css")), STYLE);
    assert_eq!(body_bytes(&get("/%2e%2e/%2e%2e/style.css")), STYLE);
    assert_eq!(body_bytes(&get("/docs/..%2fstyle.css")), STYLE);
}

#[test]
fn invalid_paths_are_400() {
    for target in ["/%00", "/%zz", "/%ff", "/a%5cb", "/a\\b"] {
        let response = get(target);
        check_common(&response, false);
        assert_eq!(response.status(), 400, "{target}");
        assert!(response.keep_alive(), "a bad path does not break the framing");
    }
}

#[test]
fn absolute_form_serves_its_path() {
    let response = respond(
        &request(b"GET http://example/style.css?v=1 HTTP/1.1\r\nHost: example\r\n\r\n"),
        &Site::default(),
        &site(),
        now(),
    );
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), STYLE);
    let response = respond(
        &request(b"GET http://example/docs?v=1 HTTP/1.1\r\nHost: example\r\n\r\n"),
        &Site::default(),
        &site(),
        now(),
    );
    assert_eq!(field(&response, "Location").as_deref(), Some("/docs/?v=1"));
}

#[test]
fn percent_encoded_names_are_served() {
    let response = get("/%E4%B8%AD%E6%96%87.html");
    assert_eq!(response.status(), 200);
    assert_eq!(body_bytes(&response), b"<p>zh</p>");
}

#[test]
fn content_types() {
    let cases = [
        ("/style.css", "text/css; charset=utf-8"),
        ("/docs/guide.txt", "text/plain; charset=utf-8"),
        ("/images/logo.png", "image/png"),
        ("/data.bin", "application/octet-stream"),
        ("/old.html", "text/html; charset=utf-8"),
    ];
    for (target, content_type) in cases {
        let response = get(target);
        assert_eq!(response.status(), 200, "{target}");
        assert_eq!(field(&response, "Content-Type").as_deref(), Some(content_type), "{target}");
    }
}

#[test]
fn an_empty_file_has_an_empty_body() {
    let response = get("/zero.txt");
    check_common(&response, false);
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response, "Content-Length").as_deref(), Some("0"));
    assert_eq!(response.body(), &Body::Empty);
}

#[test]
fn date_is_formatted_from_now() {
    let response = get("/style.css");
    assert_eq!(field(&response, "Date").as_deref(), Some(NOW_HTTP));
    // Sub-second parts are dropped, never rounded up.
    let later = now() + Duration::from_millis(999);
    let response =
        respond(&request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), &Site::default(), &site(), later);
    assert_eq!(field(&response, "Date").as_deref(), Some(NOW_HTTP));
    let response = respond(
        &request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        &Site::default(),
        &site(),
        SystemTime::UNIX_EPOCH,
    );
    assert_eq!(field(&response, "Date").as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
}

#[test]
fn last_modified_is_the_files_time() {
    let response = get("/old.html");
    assert_eq!(field(&response, "Last-Modified").as_deref(), Some("Thu, 01 Jan 1970 00:00:01 GMT"));
}

#[test]
fn last_modified_is_never_later_than_date() {
    let response = get("/future.html");
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response, "Last-Modified").as_deref(), Some(NOW_HTTP));
    assert_eq!(field(&response, "Date").as_deref(), Some(NOW_HTTP));

    // Even one no HTTP-date can express (after year 9999).
    let mut files = site();
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(300_000_000_000);
    files.insert("far.html", &b"far"[..], Some(far));
    let response = answer(&files, "GET", "/far.html");
    assert_eq!(field(&response, "Last-Modified").as_deref(), Some(NOW_HTTP));
}

/// Regression: a file whose modification time is before 1970 (which a file
/// system can hold: `touch -d 1960-01-01`) made `respond` panic inside
/// `httpdate`, taking the host's handler with it.
#[test]
fn last_modified_before_the_epoch_does_not_panic() {
    let mut files = site();
    files.insert(
        "ancient.html",
        &b"old"[..],
        Some(SystemTime::UNIX_EPOCH - Duration::from_secs(86_400 * 365)),
    );
    let response = answer(&files, "GET", "/ancient.html");
    check_common(&response, false);
    assert_eq!(response.status(), 200);
    assert_eq!(field(&response, "Last-Modified"), None);
    assert_eq!(body_bytes(&response), b"old");
}

#[test]
fn http_1_0_keep_alive_is_confirmed() {
    let raw = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let response = respond(&request(raw), &Site::default(), &site(), now());
    assert!(response.keep_alive());
    assert_eq!(field(&response, "Connection").as_deref(), Some("keep-alive"));
    // The status line is always 1.1 (RFC 9110 §2.5).
    assert!(response.head_bytes().starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn requests_that_do_not_keep_alive_get_connection_close() {
    for raw in [
        &b"GET / HTTP/1.0\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET /missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    ] {
        let response = respond(&request(raw), &Site::default(), &site(), now());
        assert!(!response.keep_alive(), "{:?}", String::from_utf8_lossy(raw));
        assert_eq!(field(&response, "Connection").as_deref(), Some("close"));
    }
}

#[test]
fn every_protocol_error_gets_a_closing_response() {
    let errors = [
        ProtocolError::Malformed,
        ProtocolError::BadHost,
        ProtocolError::BadFraming,
        ProtocolError::TargetTooLong,
        ProtocolError::HeadTooLarge,
        ProtocolError::BodyTooLarge,
        ProtocolError::UnknownTransferCoding,
        ProtocolError::VersionNotSupported,
        ProtocolError::Timeout,
    ];
    for error in errors {
        let response: Response<()> = error_response(error, now());
        check_common(&response, false);
        let status = error.status();
        assert_eq!(response.status(), status);
        assert!(!reason_phrase(status).is_empty(), "{status} has a reason phrase");
        assert_eq!(status_line(&response), format!("HTTP/1.1 {status} {}", reason_phrase(status)));
        assert_eq!(field(&response, "Connection").as_deref(), Some("close"));
        assert!(!response.keep_alive());
        let Body::Bytes(page) = response.body() else { panic!("an error page") };
        let page = String::from_utf8(page.clone()).unwrap();
        assert!(page.contains(error.reason()), "{page}");
    }
}

#[test]
fn closing_response_for_host_failures() {
    let response: Response<()> = closing_response(503, now());
    check_common(&response, false);
    assert_eq!(status_line(&response), "HTTP/1.1 503 Service Unavailable");
    assert_eq!(field(&response, "Retry-After").as_deref(), Some("1"));
    assert_eq!(field(&response, "Connection").as_deref(), Some("close"));
    assert!(!response.keep_alive());

    let response: Response<()> = closing_response(500, now());
    assert_eq!(status_line(&response), "HTTP/1.1 500 Internal Server Error");
    assert_eq!(field(&response, "Retry-After"), None);
}

#[test]
fn into_parts_gives_back_every_piece() {
    let response = get("/style.css");
    let head = response.head_bytes();
    let (parts, body) = response.into_parts();
    assert_eq!(parts.status, 200);
    let mut again = Vec::new();
    parts.write(&mut again);
    assert_eq!(again, head);
    assert_eq!(body.len(), STYLE.len() as u64);
    assert!(parts.keep_alive);
}

/// A lookup whose answers are fixed, for the outcomes MemoryLookup cannot
/// produce.
struct Fixed(fn(&SafePath) -> Lookup<()>);

impl FileLookup for Fixed {
    type Handle = ();
    fn lookup(&self, path: &SafePath) -> Lookup<()> {
        (self.0)(path)
    }
}

#[test]
fn forbidden_and_failed_lookups() {
    let raw = b"GET /secret HTTP/1.1\r\nHost: h\r\n\r\n";
    let response = respond(&request(raw), &Site::default(), &Fixed(|_| Lookup::Forbidden), now());
    check_common(&response, false);
    assert_eq!(response.status(), 403);
    let response = respond(&request(raw), &Site::default(), &Fixed(|_| Lookup::Failed), now());
    check_common(&response, false);
    assert_eq!(response.status(), 500);

    // A directory whose index.html is forbidden or unreadable.
    let raw = b"GET /dir/ HTTP/1.1\r\nHost: h\r\n\r\n";
    let forbidden_index =
        Fixed(|p| if p.as_str() == "dir" { Lookup::Directory } else { Lookup::Forbidden });
    assert_eq!(respond(&request(raw), &Site::default(), &forbidden_index, now()).status(), 403);
    let failed_index =
        Fixed(|p| if p.as_str() == "dir" { Lookup::Directory } else { Lookup::Failed });
    assert_eq!(respond(&request(raw), &Site::default(), &failed_index, now()).status(), 500);
}

#[test]
fn memory_lookup_answers() {
    let files = site();
    let path = |raw: &str| SafePath::from_request_path(raw).unwrap();
    assert!(
        matches!(files.lookup(&path("/style.css")), Lookup::File(f) if f.len == STYLE.len() as u64)
    );
    assert!(matches!(files.lookup(&path("/docs")), Lookup::Directory));
    assert!(matches!(files.lookup(&path("/")), Lookup::Directory));
    assert!(matches!(files.lookup(&path("/doc")), Lookup::NotFound));
    assert!(matches!(files.lookup(&path("/docs/guide")), Lookup::NotFound));
    // "docs-old" sorts before "docs/": no false directory.
    let files = MemoryLookup::new().with("/docs-old/a", &b""[..]);
    assert!(matches!(files.lookup(&path("/docs")), Lookup::NotFound));
    assert!(matches!(files.lookup(&path("/docs-old")), Lookup::Directory));
}

/// A host clock before 1970 (or past 9999) cannot be written as an
/// HTTP-date; the response pins it instead of panicking in httpdate.
#[test]
fn date_from_a_clock_out_of_range_does_not_panic() {
    let files = site();
    let before = SystemTime::UNIX_EPOCH - Duration::from_secs(86_400);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let Ok(Parsed::Complete(req)) = parse_request(request, &Limits::default()) else {
        panic!("a valid request")
    };
    let response = respond(&req, &Site::default(), &files, before);
    let head = String::from_utf8_lossy(&response.head_bytes()).into_owned();
    assert!(head.contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"), "{head}");
    let late = SystemTime::UNIX_EPOCH + Duration::from_secs(300_000_000_000);
    let response: Response<Arc<[u8]>> = closing_response(503, late);
    assert!(
        String::from_utf8_lossy(&response.head_bytes())
            .contains("Date: Fri, 31 Dec 9999 23:59:59 GMT")
    );
}

/// The one mapping from a file-system error to a lookup outcome, as a
/// table: every host (portico, the WASI guest, the WASI host's re-check)
/// goes through it, so the same condition gets the same status.
#[test]
fn io_errors_map_to_lookup_outcomes_by_one_table() {
    use std::io::{Error, ErrorKind};
    let outcome = |error: Error| match Lookup::<()>::from_io_error(&error) {
        Lookup::NotFound => 404,
        Lookup::Forbidden => 403,
        Lookup::Failed => 500,
        other => panic!("{other:?}"),
    };
    let by_kind = [
        (ErrorKind::NotFound, 404),
        (ErrorKind::NotADirectory, 404),
        (ErrorKind::InvalidFilename, 404),
        (ErrorKind::PermissionDenied, 403),
        (ErrorKind::Other, 500),
        (ErrorKind::Interrupted, 500),
        (ErrorKind::OutOfMemory, 500),
    ];
    for (kind, status) in by_kind {
        assert_eq!(outcome(Error::from(kind)), status, "{kind:?}");
    }
    // The numbers a Linux host sees (the guest's are checked by the
    // end-to-end tests, which make the same conditions on disk).
    #[cfg(target_os = "linux")]
    for (errno, status) in [
        (2, 404),  // ENOENT
        (20, 404), // ENOTDIR
        (36, 404), // ENAMETOOLONG
        (40, 404), // ELOOP
        (6, 404),  // ENXIO
        (13, 403), // EACCES
        (1, 403),  // EPERM
        (5, 500),  // EIO
        (24, 500), // EMFILE
        (12, 500), // ENOMEM
    ] {
        assert_eq!(outcome(Error::from_raw_os_error(errno)), status, "errno {errno}");
    }
}

#[test]
fn lookup_status_hints() {
    assert_eq!(Lookup::<()>::NotFound.status(), 404);
    assert_eq!(Lookup::<()>::Forbidden.status(), 403);
    assert_eq!(Lookup::<()>::Failed.status(), 500);
    assert_eq!(Lookup::<()>::Directory.status(), 200);
}

#[test]
fn the_site_configuration_reaches_the_response() {
    let config = Site::default()
        .with_index_names(["home.htm", "index.html"])
        .and_then(|s| s.with_not_found_page(Some("docs/guide.txt")))
        .and_then(|s| s.with_cache_control(Some("public, max-age=60".into())))
        .and_then(|s| s.with_header("X-Frame-Options", "DENY"))
        .unwrap();
    let files = site().with("home.htm", &b"home page"[..]);
    let ask = |target: &str| {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: example\r\n\r\n");
        let response = respond(&request(raw.as_bytes()), &config, &files, now());
        (
            response.status(),
            body_bytes(&response),
            field(&response, "Cache-Control"),
            field(&response, "X-Frame-Options"),
        )
    };
    let (status, body, cache, frame) = ask("/");
    assert_eq!((status, body.as_slice()), (200, &b"home page"[..]));
    assert_eq!(cache.as_deref(), Some("public, max-age=60"));
    assert_eq!(frame.as_deref(), Some("DENY"));
    let (status, body, cache, frame) = ask("/nope");
    assert_eq!((status, body.as_slice()), (404, &b"read me"[..]));
    // Only successful file responses are cacheable as the site says: a
    // cached 404 would hide a file added later.
    assert_eq!(cache, None, "the 404 page is not cached");
    assert_eq!(frame.as_deref(), Some("DENY"));
    let (status, _, cache, frame) = ask("/docs");
    assert_eq!((status, cache, frame.as_deref()), (301, None, Some("DENY")));
    // Hidden files, served when the site says so.
    let open = Site::default().with_hidden(true);
    let raw = b"GET /.env HTTP/1.1\r\nHost: example\r\n\r\n";
    assert_eq!(respond(&request(raw), &Site::default(), &files, now()).status(), 404);
    assert_eq!(respond(&request(raw), &open, &files, now()).status(), 200);
}
