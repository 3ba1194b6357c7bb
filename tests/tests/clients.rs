//! Real clients against both hosts: curl's byte ranges, time conditions,
//! entity tags, resumed downloads and `--compressed`, compared byte for
//! byte with what it saved; and headless Chromium reading a directory
//! listing whose every link must lead back to the file it names.
//!
//! A client that is not installed makes its tests print `SKIPPED` and
//! return (`.ci/run` installs them where it can).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portico_tests::{
    Host, Server, get, http_date, run_command_to_exit, send, temp_root, wait_until,
};

/// The modification time of every served file: in the past, so that dates
/// either side of it are too, and with a fraction of a second, which
/// `Last-Modified` (whole seconds) drops.
fn modified() -> SystemTime {
    UNIX_EPOCH + Duration::new(1_600_000_000, 250_000_000)
}

/// Sun, 13 Sep 2020 12:26:40 GMT, `modified()` as `Last-Modified` says it.
fn last_modified() -> String {
    http_date(UNIX_EPOCH + Duration::from_secs(1_600_000_000))
}

/// `len` bytes from xorshift64: no run or pattern a range bug could hide
/// in.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// The length of `big.bin`: 300 KiB.
const BIG_LEN: usize = 300 * 1024;

/// Compressible text, about 40 KiB.
fn text() -> Vec<u8> {
    (0..600)
        .map(|i| format!("line {i:04}: the quick brown fox jumps over the lazy dog\n"))
        .collect::<String>()
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn set_modified(path: &Path, when: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(when))
        .unwrap_or_else(|e| panic!("set the modification time of {}: {e}", path.display()));
}

/// A web root with `big.bin` (pseudo-random), `notes.txt` and its smaller
/// `notes.txt.gz`, all modified at `modified()`.
fn curl_root() -> tempfile::TempDir {
    let text = text();
    let gz = gzip(&text);
    assert!(gz.len() < text.len(), "the gzip sibling must be smaller to be served");
    let root = temp_root(&[
        ("big.bin", &pseudo_random(BIG_LEN)),
        ("notes.txt", &text),
        ("notes.txt.gz", &gz),
    ]);
    for name in ["big.bin", "notes.txt", "notes.txt.gz"] {
        set_modified(&root.path().join(name), modified());
    }
    root
}

/// Whether `tool` runs; if not, says the test is skipped.
fn installed(tool: &str, test: &str, host: Host) -> bool {
    let runs = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        eprintln!("SKIPPED {test} ({host:?}): {tool} is not installed");
    }
    runs
}

/// curl's stdout (here: `-w` output or `-I` heads, never a body); it must
/// exit 0. `-q` first: no `.curlrc`; no proxy, even if the environment
/// names one.
fn curl(args: &[&str]) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-q", "--silent", "--show-error", "--noproxy", "*", "--max-time", "20"]);
    cmd.args(args);
    let (status, out, err) = run_command_to_exit(cmd);
    assert!(status.success(), "curl {args:?} failed ({status}): {err}");
    out
}

/// A response head as curl writes it (`-D file`, `-I`): the status and
/// the fields, names lower-cased.
#[derive(Debug)]
struct Head {
    status: u16,
    fields: Vec<(String, String)>,
}

impl Head {
    fn parse(text: &str) -> Self {
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        assert!(status_line.starts_with("HTTP/1.1 "), "a status line: {text:?}");
        let status = status_line[9..12].parse().unwrap();
        let fields = lines
            .take_while(|line| !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once(':').expect("a field line");
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        Self { status, fields }
    }

    fn read(path: &Path) -> Self {
        Self::parse(&std::fs::read_to_string(path).expect("curl wrote the head (-D)"))
    }

    /// The value of a field sent exactly once.
    fn field(&self, name: &str) -> Option<&str> {
        let mut values = self.fields.iter().filter(|(n, _)| n == name);
        let value = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "{name} sent twice: {self:?}");
        value
    }
}

/// Where curl saves, and the URL of `path` on `server`.
struct Client {
    dir: tempfile::TempDir,
}

impl Client {
    fn new() -> Self {
        Self { dir: tempfile::TempDir::new().unwrap() }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn saved(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("curl saved no {name}: {e}"))
    }

    /// What curl saved as `name`, or nothing when it made no file.
    fn saved_or_empty(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_default()
    }

    fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.path(name));
    }
}

/// One part of a `multipart/byteranges` body.
#[derive(Debug)]
struct Part {
    /// Names lower-cased.
    fields: Vec<(String, String)>,
    bytes: Vec<u8>,
}

impl Part {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The parts of a `multipart/byteranges` body, checked to be framed as
/// RFC 2046 §5.1.1 says: no preamble, a close delimiter last, at most a
/// CRLF after it.
fn multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(body);
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    let mut pieces = Vec::new();
    let mut rest = &framed[..];
    while let Some(at) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
        pieces.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    assert_eq!(pieces.first().copied(), Some(&b""[..]), "a preamble or no delimiter");
    assert!(rest == b"--\r\n" || rest == b"--", "the close delimiter ends the body: {rest:?}");
    pieces[1..]
        .iter()
        .map(|piece| {
            let piece = piece.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
            let end = piece.windows(4).position(|w| w == b"\r\n\r\n").expect("a part head");
            let head = std::str::from_utf8(&piece[..end]).unwrap();
            let fields = head
                .split("\r\n")
                .map(|line| {
                    let (name, value) = line.split_once(':').expect("a part field");
                    (name.to_ascii_lowercase(), value.trim().to_owned())
                })
                .collect();
            Part { fields, bytes: piece[end + 4..].to_vec() }
        })
        .collect()
}

fn boundary_of(content_type: &str) -> String {
    let rest = content_type
        .strip_prefix("multipart/byteranges;")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {content_type}"));
    let boundary = rest.trim().strip_prefix("boundary=").expect("a boundary parameter");
    boundary.trim_matches('"').to_owned()
}

fn curl_saves_exactly_the_ranges_it_asks_for(host: Host) {
    if !installed("curl", "curl_saves_exactly_the_ranges_it_asks_for", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let big = pseudo_random(BIG_LEN);
    let url = server.url("/big.bin");
    let client = Client::new();
    let (out, head) = (client.path("out"), client.path("head"));
    let fetch = |args: &[&str]| {
        client.remove("out");
        let mut all = vec!["-o", &out, "-D", &head, "-w", "%{http_code}"];
        all.extend_from_slice(args);
        all.push(&url);
        let code = curl(&all);
        let head = Head::read(Path::new(&head));
        assert_eq!(code, head.status.to_string());
        head
    };

    // One range: exactly those bytes, 206 with Content-Range.
    let head = fetch(&["-r", "100-199"]);
    assert_eq!(head.status, 206, "{head:?}");
    assert_eq!(head.field("content-range"), Some("bytes 100-199/307200"));
    assert_eq!(head.field("content-length"), Some("100"));
    assert!(client.saved("out") == big[100..200], "bytes 100..200 differ");

    // A suffix range: the last 500 bytes.
    let head = fetch(&["-r", "-500"]);
    assert_eq!(head.status, 206);
    assert_eq!(head.field("content-range"), Some("bytes 306700-307199/307200"));
    assert!(client.saved("out") == big[BIG_LEN - 500..], "the last 500 bytes differ");

    // Two ranges: a multipart/byteranges body, each part with its own
    // Content-Type and Content-Range.
    let head = fetch(&["-r", "0-9,1000-1009"]);
    assert_eq!(head.status, 206, "{head:?}");
    assert_eq!(head.field("content-range"), None, "a multipart 206 has it in each part");
    let body = client.saved("out");
    assert_eq!(head.field("content-length"), Some(body.len().to_string().as_str()));
    let parts = multipart(&body, &boundary_of(head.field("content-type").unwrap()));
    let expected =
        [("bytes 0-9/307200", &big[0..10]), ("bytes 1000-1009/307200", &big[1000..1010])];
    assert_eq!(parts.len(), expected.len(), "{parts:?}");
    for (part, (range, wanted)) in parts.iter().zip(expected) {
        assert_eq!(part.field("content-type"), Some("application/octet-stream"));
        assert_eq!(part.field("content-range"), Some(range));
        assert!(part.bytes == wanted, "the part {range} differs: {part:?}");
    }

    // Overlapping and near ranges are merged: no byte is sent twice.
    let head = fetch(&["-r", "0-9,5-19,30-39,5000-5009"]);
    let body = client.saved("out");
    let parts = multipart(&body, &boundary_of(head.field("content-type").unwrap()));
    let ranges: Vec<_> = parts.iter().map(|part| part.field("content-range")).collect();
    assert_eq!(ranges, [Some("bytes 0-39/307200"), Some("bytes 5000-5009/307200")]);
    assert!(parts[0].bytes == big[0..40] && parts[1].bytes == big[5000..5010]);

    // Beyond the end: 416 with the length.
    let head = fetch(&["-r", "400000-500000"]);
    assert_eq!(head.status, 416);
    assert_eq!(head.field("content-range"), Some("bytes */307200"));

    // If-Range: the current tag gets the range, another the whole file.
    let etag = fetch(&[]).field("etag").expect("an ETag").to_owned();
    assert!(client.saved("out") == big, "the whole file differs");
    let if_range = format!("If-Range: {etag}");
    assert_eq!(fetch(&["-r", "100-199", "-H", &if_range]).status, 206);
    assert!(client.saved("out") == big[100..200]);
    let head = fetch(&["-r", "100-199", "-H", "If-Range: \"stale\""]);
    assert_eq!(head.status, 200);
    assert!(client.saved("out") == big, "a stale If-Range gets the whole file");
    let if_range = format!("If-Range: {}", last_modified());
    assert_eq!(fetch(&["-r", "100-199", "-H", &if_range]).status, 206, "a date If-Range");
}

fn curl_time_conditions_and_etags(host: Host) {
    if !installed("curl", "curl_time_conditions_and_etags", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let big = pseudo_random(BIG_LEN);
    let url = server.url("/big.bin");
    let client = Client::new();
    let (out, head) = (client.path("out"), client.path("head"));
    // The status the server sent, from the head curl saved: on a 200 whose
    // Last-Modified fails `-z`, curl drops the body and reports a 304 of
    // its own in `%{http_code}`, so that alone proves nothing.
    let fetch = |args: &[&str]| {
        client.remove("out");
        let mut all = vec!["-o", &out, "-D", &head, "-w", "%{http_code}"];
        all.extend_from_slice(args);
        all.push(&url);
        let code = curl(&all);
        let sent = Head::read(Path::new(&head)).status.to_string();
        assert_eq!(code, sent, "curl {args:?} reported {code}, the server sent {sent}");
        code
    };

    // -z FILE: If-Modified-Since the file's time, here the same second
    // (the served file's fraction of a second is not in Last-Modified).
    let reference = client.path("reference");
    std::fs::write(&reference, b"a copy").unwrap();
    set_modified(Path::new(&reference), modified());
    assert_eq!(fetch(&["-z", &reference]), "304");
    assert_eq!(client.saved_or_empty("out"), b"", "a 304 saves nothing");

    // -z DATE after the modification: 304; before it: the whole file.
    let later = http_date(modified() + Duration::from_secs(3_600));
    assert_eq!(fetch(&["-z", &later]), "304");
    assert_eq!(client.saved_or_empty("out"), b"");
    let earlier = http_date(modified() - Duration::from_secs(3_600));
    assert_eq!(fetch(&["-z", &earlier]), "200");
    assert!(client.saved("out") == big, "the whole file differs");

    // -z -DATE: If-Unmodified-Since, 412 when the file changed after it.
    assert_eq!(fetch(&["-z", &format!("-{earlier}")]), "412");
    assert_eq!(fetch(&["-z", &format!("-{later}")]), "200");
    assert!(client.saved("out") == big);

    // --etag-save, then --etag-compare: If-None-Match with the saved tag.
    let etag = client.path("etag");
    assert_eq!(fetch(&["--etag-save", &etag]), "200");
    let saved = std::fs::read_to_string(&etag).unwrap();
    assert!(saved.trim().starts_with('"') && saved.trim().ends_with('"'), "a strong tag: {saved}");
    assert_eq!(fetch(&["--etag-compare", &etag]), "304");
    assert_eq!(client.saved_or_empty("out"), b"");
    std::fs::write(&etag, "\"something-else\"\n").unwrap();
    assert_eq!(fetch(&["--etag-compare", &etag]), "200");
    assert!(client.saved("out") == big);
}

fn curl_compressed_gets_the_gzip_sibling(host: Host) {
    if !installed("curl", "curl_compressed_gets_the_gzip_sibling", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let text = text();
    let gz = std::fs::read(root.path().join("notes.txt.gz")).unwrap();
    let url = server.url("/notes.txt");
    let client = Client::new();
    let (out, head) = (client.path("out"), client.path("head"));

    // --compressed offers gzip (and br, zstd, deflate): only .gz exists.
    curl(&["--compressed", "-o", &out, "-D", &head, &url]);
    let head = Head::read(Path::new(&head));
    assert_eq!(head.status, 200);
    assert_eq!(head.field("content-encoding"), Some("gzip"));
    assert_eq!(head.field("vary"), Some("Accept-Encoding"));
    assert_eq!(head.field("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(head.field("content-length"), Some(gz.len().to_string().as_str()));
    assert!(head.field("etag").is_some_and(|tag| tag.ends_with("-gz\"")), "{head:?}");
    assert!(client.saved("out") == text, "curl inflated something else than the file");

    // Without it: the file itself, and still Vary.
    client.remove("out");
    let head = client.path("head");
    curl(&["-o", &out, "-D", &head, &url]);
    let head = Head::read(Path::new(&head));
    assert_eq!(head.status, 200);
    assert_eq!(head.field("content-encoding"), None);
    assert_eq!(head.field("vary"), Some("Accept-Encoding"));
    assert_eq!(head.field("content-length"), Some(text.len().to_string().as_str()));
    assert!(client.saved("out") == text);
}

fn curl_resumes_an_interrupted_download(host: Host) {
    if !installed("curl", "curl_resumes_an_interrupted_download", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let big = pseudo_random(BIG_LEN);
    let url = server.url("/big.bin");
    let client = Client::new();
    let out = client.path("out");

    // An interrupted download: the first bytes only.
    std::fs::write(&out, &big[..123_457]).unwrap();
    let code = curl(&["-C", "-", "-o", &out, "-w", "%{http_code}", &url]);
    assert_eq!(code, "206");
    let saved = client.saved("out");
    assert_eq!(saved.len(), big.len());
    assert!(saved == big, "the resumed file differs from the original");

    // Resuming a complete file asks for nothing that exists: 416, which
    // curl takes as done, leaving the file as it was.
    let code = curl(&["-C", "-", "-o", &out, "-w", "%{http_code}", &url]);
    assert_eq!(code, "416");
    assert!(client.saved("out") == big);
}

fn curl_head_shows_length_and_validators(host: Host) {
    if !installed("curl", "curl_head_shows_length_and_validators", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let url = server.url("/big.bin");
    let head = Head::parse(&curl(&["-I", &url]));
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.field("content-length"), Some("307200"));
    assert_eq!(head.field("content-type"), Some("application/octet-stream"));
    assert_eq!(head.field("accept-ranges"), Some("bytes"));
    assert_eq!(head.field("last-modified"), Some(last_modified().as_str()));
    let etag = head.field("etag").expect("an ETag");
    let inner = etag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).expect("a strong tag");
    assert!(
        !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'-'),
        "{etag}"
    );
    // The GET of the same file carries the same validators.
    let client = Client::new();
    let (out, saved_head) = (client.path("out"), client.path("head"));
    curl(&["-o", &out, "-D", &saved_head, &url]);
    let get = Head::read(Path::new(&saved_head));
    for name in ["etag", "last-modified", "content-length", "accept-ranges"] {
        assert_eq!(get.field(name), head.field(name), "{name}");
    }
}

fn curl_options_lists_the_methods(host: Host) {
    if !installed("curl", "curl_options_lists_the_methods", host) {
        return;
    }
    let root = curl_root();
    let server = Server::start(host, root.path());
    let client = Client::new();
    let (out, head) = (client.path("out"), client.path("head"));
    let url = server.url("/big.bin");
    for extra in [&[][..], &["--request-target", "*"][..]] {
        client.remove("out");
        let mut args = vec!["-X", "OPTIONS", "-o", &out, "-D", &head, "-w", "%{http_code}"];
        args.extend_from_slice(extra);
        args.push(&url);
        assert_eq!(curl(&args), "204", "{extra:?}");
        let head = Head::read(Path::new(&head));
        assert_eq!(head.status, 204);
        assert_eq!(head.field("allow"), Some("GET, HEAD, OPTIONS"));
        // RFC 9110 §8.6: no Content-Length on a 204.
        assert_eq!(head.field("content-length"), None);
        assert_eq!(client.saved_or_empty("out"), b"");
    }
}

/// The files of the listed directory: names a link must survive, each
/// file holding its own name. `100%25.txt` beside `100%.txt` catches a
/// server that decodes twice.
const LISTED_FILES: &[&str] = &[
    "a#b.txt",
    "q?x.txt",
    "100%.txt",
    "100%25.txt",
    "c:d.txt",
    "e;f.txt",
    "g,h.txt",
    "[i].txt",
    "<j>.txt",
    "k&l.txt",
    "sp ace.txt",
    "\"q\".txt",
    "it's.txt",
    "a+b=c.txt",
    "caf\u{e9}.txt",
    "\u{65e5}\u{672c}.txt",
];

const LISTED_DIRECTORY: &str = "sub dir #2";

/// Run headless Chromium with these options on `url`, at most 60 s: its
/// stdout. Its processes (it starts several) are killed by process group
/// when it is done or hangs.
fn chromium(options: &[String], url: &str) -> String {
    use std::os::unix::process::CommandExt as _;
    let scratch = tempfile::TempDir::new().unwrap();
    let profile = scratch.path().join("profile");
    let (stdout, stderr) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-proxy-server",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(options)
        .arg(url)
        .env("HOME", scratch.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let group = format!("-{}", child.id());
    let kill_group = |signal: &str| {
        let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
    };
    let Some(status) = wait_until(&mut child, Duration::from_secs(60)) else {
        kill_group("-KILL");
        let _ = child.wait();
        panic!(
            "chromium hung for 60 s on {url}; stderr:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
    };
    // Helpers (crashpad) can outlive the browser.
    kill_group("-KILL");
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}) on {url}:\n{err}");
    std::fs::read_to_string(&stdout).expect("chromium's output is UTF-8")
}

/// Text of the DOM as serialised: HTML's escapes undone.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// `(href, text)` of every `<a href="...">text</a>` in `html`.
fn links(html: &str) -> Vec<(String, String)> {
    html.split("<a href=\"")
        .skip(1)
        .map(|rest| {
            let (href, rest) = rest.split_once('"').expect("the href ends");
            let (_, rest) = rest.split_once('>').expect("the tag ends");
            let (text, _) = rest.split_once("</a>").expect("the link ends");
            (unescape(href), unescape(text))
        })
        .collect()
}

/// RFC 3986 §5.2: a reference without scheme, authority, query or
/// fragment, resolved against the directory `base` (ending in `/`); the
/// percent-encoding is left as it is.
fn resolve(base: &str, href: &str) -> String {
    assert!(!href.contains(['?', '#', ':']), "a plain path reference: {href}");
    let merged = if href.starts_with('/') { href.to_owned() } else { format!("{base}{href}") };
    // §5.2.4 remove_dot_segments, for an absolute path.
    let segments: Vec<&str> = merged.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
        if last && matches!(*segment, "." | "..") {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

fn chromium_lists_a_directory_whose_links_all_lead_back(host: Host) {
    let test = "chromium_lists_a_directory_whose_links_all_lead_back";
    if !installed("chromium", test, host) {
        return;
    }
    let mut files: Vec<(String, Vec<u8>)> = LISTED_FILES
        .iter()
        .map(|name| (format!("list/{name}"), name.as_bytes().to_vec()))
        .collect();
    files.push((format!("list/{LISTED_DIRECTORY}/inner.txt"), b"inner".to_vec()));
    files.push(("list/.secret".into(), b"hidden".to_vec()));
    files.push(("list/.git/config".into(), b"hidden".to_vec()));
    let files: Vec<(&str, &[u8])> =
        files.iter().map(|(path, bytes)| (path.as_str(), bytes.as_slice())).collect();
    let root = temp_root(&files);
    let server = Server::start(host, root.path());

    let dom = chromium(&["--dump-dom".into()], &server.url("/list/"));
    assert!(dom.contains("<title>Index of /list/</title>"), "{dom}");
    assert!(!dom.contains("secret") && !dom.contains(".git"), "a hidden name is listed:\n{dom}");
    let table = &dom[dom.find("<tbody>").expect("a table")..];
    let table = &table[..table.find("</tbody>").expect("the table ends")];
    let rows = links(table);

    // Each name exactly once, as its text (so escaped where it must be),
    // the directory first, then the files.
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, text) in &rows {
        *shown.entry(text.as_str()).or_default() += 1;
    }
    let directory = format!("{LISTED_DIRECTORY}/");
    let mut expected: Vec<&str> = vec!["../", &directory];
    expected.extend_from_slice(LISTED_FILES);
    for name in &expected {
        assert_eq!(
            shown.get(name),
            Some(&1),
            "{name:?} listed {:?} times:\n{dom}",
            shown.get(name)
        );
    }
    assert_eq!(rows.len(), expected.len(), "unexpected rows: {rows:?}");
    assert_eq!(rows[0].1, "../");
    assert_eq!(rows[1].1, directory, "directories come first");

    // Every link, resolved against the page, gets that very file.
    for (href, text) in &rows {
        let target = resolve("/list/", href);
        let response = send(&server, &get(&target)).next(false).expect("an answer");
        assert_eq!(response.status, 200, "{text:?}: {href} -> {target}: {}", response.head);
        if text.ends_with('/') {
            let html = String::from_utf8(response.body).unwrap();
            assert!(html.starts_with("<!DOCTYPE html>"), "{target}");
            let wanted = if text == "../" { "href=\"list/\"" } else { "href=\"inner.txt\"" };
            assert!(html.contains(wanted), "{target} is not the listing of {text}: {html}");
        } else {
            assert_eq!(response.body, text.as_bytes(), "{text:?}: {href} -> {target}");
        }
    }

    // The breadcrumbs lead to the root and back here.
    let heading = &dom[dom.find("<h1>").unwrap()..dom.find("</h1>").unwrap()];
    let crumbs: Vec<_> = links(heading).into_iter().map(|(href, _)| href).collect();
    assert_eq!(crumbs, ["/", "/list/"]);

    // Sorted by size: the same rows, the directory still first, every
    // link as before; the headings are plain links that sort.
    let sorted = chromium(&["--dump-dom".into()], &server.url("/list/?sort=size&order=desc"));
    let table = &sorted[sorted.find("<tbody>").expect("a table")..];
    let sorted_rows = links(&table[..table.find("</tbody>").expect("the table ends")]);
    assert_eq!(sorted_rows[..2], rows[..2], "{sorted}");
    let mut again: Vec<_> = sorted_rows.clone();
    let mut before: Vec<_> = rows.clone();
    again.sort();
    before.sort();
    assert_eq!(again, before);
    let thead = &sorted[sorted.find("<thead>").unwrap()..sorted.find("</thead>").unwrap()];
    let headings: Vec<String> = links(thead).into_iter().map(|(href, _)| href).collect();
    assert_eq!(headings, ["?sort=name&order=asc", "?sort=size&order=asc", "?sort=time&order=desc"]);

    // The JSON form, as a browser shows it: the same names, intact.
    let shown = unescape(&chromium(&["--dump-dom".into()], &server.url("/list/?format=json")));
    let json = &shown[shown.find("{\"path\"").expect("the document")..=shown.rfind('}').unwrap()];
    let doc: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let mut names: Vec<&str> =
        doc["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut wanted: Vec<&str> = LISTED_FILES.to_vec();
    wanted.push(LISTED_DIRECTORY);
    wanted.sort_unstable();
    assert_eq!(names, wanted);

    // The page allows no script: the policy's script-src (or its
    // default-src fallback) is 'none'.
    let page = send(&server, &get("/list/")).next(false).expect("an answer");
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = page.header("content-security-policy").expect("a Content-Security-Policy");
    let directive = |name: &str| {
        policy.split(';').map(str::trim).find_map(|d| d.strip_prefix(name)).map(str::trim)
    };
    let scripts = directive("script-src ").or_else(|| directive("default-src "));
    assert_eq!(scripts, Some("'none'"), "{policy}");
    assert!(!String::from_utf8_lossy(&page.body).to_lowercase().contains("<script"));
}

#[test]
fn reference_resolution_keeps_the_encoding() {
    assert_eq!(resolve("/list/", "a%23b.txt"), "/list/a%23b.txt");
    assert_eq!(resolve("/list/", "sub%20dir/"), "/list/sub%20dir/");
    assert_eq!(resolve("/list/", "../"), "/");
    assert_eq!(resolve("/a/b/", ".."), "/a/");
    assert_eq!(resolve("/list/", "/"), "/");
}

portico_tests::for_each_host!(
    curl_saves_exactly_the_ranges_it_asks_for,
    curl_time_conditions_and_etags,
    curl_compressed_gets_the_gzip_sibling,
    curl_resumes_an_interrupted_download,
    curl_head_shows_length_and_validators,
    curl_options_lists_the_methods,
    chromium_lists_a_directory_whose_links_all_lead_back,
);
