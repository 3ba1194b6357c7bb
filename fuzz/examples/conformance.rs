//! Where portico's parser decides differently from httparse and from
//! llhttp: the raw material of `docs/CONFORMANCE.md`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example conformance -- \
//!     [LLHTTP_JSONL] [CORPUS_DIR..]
//! ```
//!
//! 1. Every vector of `shared/corpora/llhttp_requests.jsonl` (or
//!    LLHTTP_JSONL) fed whole to a portico `Connection`, next to llhttp's
//!    verdict. The vectors carry no `Host`, which RFC 9112 §3.2 makes a
//!    400 for HTTP/1.1, so where portico refuses a head only for lacking
//!    one, `Host: h` is added after its request-line and the vector run
//!    again: the verdict that is printed is about everything else.
//! 2. A list of crafted heads, then every file of the given corpus
//!    directories (default: `fuzz/corpus/differential_httparse` and
//!    `fuzz/target/corpus/differential_httparse`), through httparse and
//!    portico's `parse_request`, grouped by how the two disagree, with the
//!    shortest inputs of each group.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use portico_core::{Limits, Parsed, ProtocolError, parse_request};
use portico_fuzz::{Seen, drive};

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let jsonl = args
        .next()
        .map_or_else(|| manifest.join("../../shared/corpora/llhttp_requests.jsonl"), PathBuf::from);
    let mut dirs: Vec<PathBuf> = args.map(PathBuf::from).collect();
    if dirs.is_empty() {
        dirs = vec![
            manifest.join("corpus/differential_httparse"),
            manifest.join("target/corpus/differential_httparse"),
        ];
    }
    llhttp(&jsonl);
    chunked();
    httparse_classes(&dirs);
}

// ---------------------------------------------------------------------------
// llhttp
// ---------------------------------------------------------------------------

fn llhttp(jsonl: &Path) {
    let text = std::fs::read_to_string(jsonl)
        .unwrap_or_else(|e| panic!("reading {}: {e}", jsonl.display()));
    println!("# portico and llhttp ({})\n", jsonl.display());
    println!("| # | mode | vector | llhttp | portico | agree |");
    println!("|---|---|---|---|---|---|");
    let (mut agree, mut total) = (0, 0);
    for (n, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v["request_b64"].as_str().unwrap())
            .unwrap();
        let mode = v["meta"]["type"].as_str().unwrap().trim_start_matches("request");
        let mode = mode.trim_start_matches('-');
        let messages = v["messages"].as_u64().unwrap();
        let theirs = match v["error"].as_str() {
            // llhttp pauses at an upgrade: it parsed the head, and the rest
            // is another protocol's. Not a refusal of the request.
            Some(e) if e.starts_with("Pause on") => format!("ok {messages} (upgrade)"),
            Some(e) => format!("error after {messages}: {e}"),
            None => format!("ok {messages}"),
        };
        let (ours, host_added) = portico_verdict(&bytes);
        let ours_ok = !ours.starts_with("error");
        let theirs_ok = theirs.starts_with("ok");
        let same = ours_ok == theirs_ok;
        total += 1;
        agree += usize::from(same);
        let host = if host_added { " (Host added)" } else { "" };
        println!(
            "| {n} | {} | {} | {theirs} | {ours}{host} | {} |",
            if mode.is_empty() { "strict" } else { mode },
            v["name"].as_str().unwrap().replace('|', "\\|"),
            if same { "yes" } else { "**no**" }
        );
    }
    println!("\n{agree} of {total} vectors: same accept/refuse verdict.\n");
}

/// portico's verdict on a vector fed whole, after adding `Host` to heads
/// refused only for lacking it.
fn portico_verdict(bytes: &[u8]) -> (String, bool) {
    let mut input = bytes.to_vec();
    let mut host_added = false;
    for _ in 0..8 {
        let seen = drive(Limits::default(), [&input[..]], false);
        if let Some(at) = lacks_host(&input, &seen) {
            input.splice(at..at, b"Host: h\r\n".iter().copied());
            host_added = true;
            continue;
        }
        return (describe(&seen), host_added);
    }
    ("error: Host added too often".to_owned(), host_added)
}

/// If `seen` ends in a `BadHost` for a head with no `Host` line, where a
/// `Host` line goes in that head (just after its request-line).
fn lacks_host(input: &[u8], seen: &[Seen]) -> Option<usize> {
    let Some(Seen::Reject(ProtocolError::BadHost)) = seen.last() else { return None };
    let start: usize = seen
        .iter()
        .map(|s| match s {
            Seen::Request(r) => r.head_len,
            Seen::Discard(n) => *n,
            _ => 0,
        })
        .sum();
    let head = &input[start..];
    let end = find(head, b"\r\n\r\n").or_else(|| find(head, b"\n\n")).unwrap_or(head.len());
    let has_host = head[..end]
        .split(|&b| b == b'\n')
        .any(|line| line.to_ascii_lowercase().starts_with(b"host:"));
    if has_host {
        return None;
    }
    // Skip the empty lines a head may start with, then the request-line.
    let first = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let eol = head[first..].iter().position(|&b| b == b'\n')?;
    Some(start + first + eol + 1)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `ok N` (N requests; what happened at the end), or `error ..`.
fn describe(seen: &[Seen]) -> String {
    let requests = seen.iter().filter(|s| matches!(s, Seen::Request(_))).count();
    let last_closes = seen.iter().rev().find_map(|s| match s {
        Seen::Request(r) => Some(!r.keep_alive),
        _ => None,
    });
    match seen.last() {
        Some(Seen::Reject(e)) => format!("error after {requests}: {e:?} ({})", e.status()),
        Some(Seen::Close) if last_closes == Some(true) => {
            format!("ok {requests} (then closes: not persistent)")
        }
        Some(Seen::Close) => format!("error after {requests}: chunked body broken, close"),
        Some(Seen::End { buffered: 0, .. }) => format!("ok {requests}"),
        Some(Seen::End { buffered, awaiting_head: true }) => {
            format!("ok {requests} (+{buffered} bytes of an unfinished head)")
        }
        Some(Seen::End { .. }) => format!("ok {requests} (body unfinished)"),
        _ => format!("? {seen:?}"),
    }
}

// ---------------------------------------------------------------------------
// Chunked bodies
// ---------------------------------------------------------------------------

/// Chunked bodies, each followed by a second request, to show where portico
/// thinks the body ends (no other parser here: httparse does not decode
/// bodies, and llhttp's vectors are above).
const CHUNKED: &[(&str, &[u8])] = &[
    ("baseline", b"5\r\nhello\r\n0\r\n\r\n"),
    ("extension", b"5;a=b;c=\"d e\"\r\nhello\r\n0\r\n\r\n"),
    ("BWS before ;", b"5 ;a\r\nhello\r\n0\r\n\r\n"),
    ("; with no name", b"5;\r\nhello\r\n0\r\n\r\n"),
    ("unbalanced quote", b"5;a=\"b\r\nhello\r\n0\r\n\r\n"),
    ("bare LF lines", b"5\nhello\n0\n\n"),
    ("LF inside an extension", b"5;a\nxx\r\nhello\r\n0\r\n\r\n"),
    ("CR inside an extension", b"5;a\rxx\r\nhello\r\n0\r\n\r\n"),
    ("space after size", b"5 \r\nhello\r\n0\r\n\r\n"),
    ("leading zeros", b"005\r\nhello\r\n000\r\n\r\n"),
    ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("no CRLF after data", b"5\r\nhelloXX0\r\n\r\n"),
    ("trailer field", b"5\r\nhello\r\n0\r\nT: v\r\n\r\n"),
    ("obs-fold in trailer", b"5\r\nhello\r\n0\r\nT: v\r\n w\r\n\r\n"),
    ("17 hex digits", b"10000000000000000\r\n"),
    ("over 1 MiB", b"100001\r\n"),
];

fn chunked() {
    println!("# portico and chunked bodies\n");
    println!("Each body follows `POST / HTTP/1.1, Host: h, Transfer-Encoding: chunked`");
    println!("and is followed by `GET /next HTTP/1.1, Host: h`.\n");
    println!("| body | portico |");
    println!("|---|---|");
    let head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let next = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    for (name, body) in CHUNKED {
        let input = [&head[..], body, next].concat();
        let seen = drive(Limits::default(), [&input[..]], false);
        let events: Vec<String> = seen
            .iter()
            .map(|s| match s {
                Seen::Request(r) => format!("Request({})", r.target),
                Seen::Discard(n) => format!("Discard({n})"),
                Seen::Reject(e) => format!("Reject({e:?})"),
                Seen::Close => "Close".to_owned(),
                Seen::End { buffered, .. } => format!("End(+{buffered})"),
            })
            .collect();
        println!(
            "| {name} `{}` | {} |",
            String::from_utf8_lossy(body).escape_debug(),
            events.join(", ")
        );
    }
    println!();
}

// ---------------------------------------------------------------------------
// httparse
// ---------------------------------------------------------------------------

/// Heads chosen to show each way httparse and portico part, by name.
const CRAFTED: &[(&str, &[u8])] = &[
    ("baseline", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("no Host (1.1)", b"GET / HTTP/1.1\r\n\r\n"),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
    ("HTTP/1.9 (1.0-style)", b"GET / HTTP/1.9\r\n\r\n"),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
    ("HTTP/0.9 style", b"GET /\r\n\r\n"),
    ("lowercase version", b"GET / http/1.1\r\nHost: h\r\n\r\n"),
    ("UTF-8 in target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("DEL in target", b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("quote in target", b"GET /\"a\" HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("brace, pipe in target", b"GET /{a}|b HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("fragment in target", b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("GET *", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("GET authority-form", b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("relative target", b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("two spaces after method", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("tab after method", b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("space after version", b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n"),
    ("lowercase method", b"get / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("bare LF everywhere", b"GET / HTTP/1.1\nHost: h\n\n"),
    ("bare CR ends a line", b"GET / HTTP/1.1\rHost: h\r\n\r\n"),
    ("CR inside a value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"),
    ("leading empty lines", b"\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("leading space", b" GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
    ("space before first field", b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
    ("empty field name", b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"),
    ("no colon", b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"),
    ("other CTL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n"),
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n"),
    ("obs-text in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: \xff\xfe\r\n\r\n"),
    ("trailing OWS in value", b"GET / HTTP/1.1\r\nHost: h\r\nX: v \t \r\n\r\n"),
    ("empty value", b"GET / HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n"),
    (
        "CL and TE",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ),
    ("CL differ", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    ("CL list, same", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n"),
    ("CL not digits", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n"),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n"),
    ("CL over 1 MiB", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n"),
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("TE chunked, gzip", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    ("TE in 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("101 headers", b""),
    ("target over 8 KiB", b""),
    ("head over 16 KiB", b""),
];

/// How one parser ended.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    Complete,
    Partial,
    Error(String),
}

fn theirs(data: &[u8]) -> Outcome {
    let mut slots = [httparse::EMPTY_HEADER; 100];
    match httparse::Request::new(&mut slots).parse(data) {
        Ok(httparse::Status::Complete(_)) => Outcome::Complete,
        Ok(httparse::Status::Partial) => Outcome::Partial,
        Err(e) => Outcome::Error(format!("{e:?}")),
    }
}

fn ours(data: &[u8]) -> Outcome {
    match parse_request(data, &Limits::default()) {
        Ok(Parsed::Complete(_)) => Outcome::Complete,
        Ok(Parsed::Partial) => Outcome::Partial,
        Err(e) => Outcome::Error(format!("{e:?}")),
    }
}

fn crafted() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = CRAFTED
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect();
    let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    out.push(("101 headers".to_owned(), many));
    let long = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(8 * 1024));
    out.push(("target over 8 KiB".to_owned(), long.into_bytes()));
    let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(16 * 1024));
    out.push(("head over 16 KiB".to_owned(), big.into_bytes()));
    out
}

fn httparse_classes(dirs: &[PathBuf]) {
    println!("# portico and httparse 1.10\n");
    println!("## Crafted heads\n");
    println!("| head | httparse | portico |");
    println!("|---|---|---|");
    for (name, bytes) in crafted() {
        let (t, o) = (theirs(&bytes), ours(&bytes));
        let mark = if same_verdict(&t, &o) { "" } else { " **≠**" };
        println!("| {name} | {t:?} | {o:?}{mark} |");
    }

    // CONFORMANCE_SHOW=N prints N inputs of each disagreeing class.
    let shown = std::env::var("CONFORMANCE_SHOW").ok().and_then(|n| n.parse().ok()).unwrap_or(4);
    let mut classes: BTreeMap<(Outcome, Outcome), Vec<Vec<u8>>> = BTreeMap::new();
    let mut files = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            files += 1;
            classes.entry((theirs(&bytes), ours(&bytes))).or_default().push(bytes);
        }
    }
    println!("\n## Corpus ({files} files from {dirs:?})\n");
    for ((t, o), mut inputs) in classes {
        let mark = if same_verdict(&t, &o) { "" } else { " **disagree**" };
        println!("### httparse {t:?} / portico {o:?}: {}{mark}\n", inputs.len());
        if mark.is_empty() {
            continue;
        }
        inputs.sort_by_key(Vec::len);
        for input in inputs.iter().take(shown) {
            println!("    {:?}", String::from_utf8_lossy(input));
        }
        println!();
    }
}

/// Both complete, both waiting, or both refusing.
fn same_verdict(a: &Outcome, b: &Outcome) -> bool {
    matches!(
        (a, b),
        (Outcome::Complete, Outcome::Complete)
            | (Outcome::Partial, Outcome::Partial)
            | (Outcome::Error(_), Outcome::Error(_))
    )
}
