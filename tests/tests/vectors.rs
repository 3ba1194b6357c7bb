//! The conformance vectors of `tests/vectors/` over TCP, against each
//! host binary serving `tests/vectors/root/`: each vector on a connection
//! of its own, sent whole, byte by byte, and followed by a pipelined second
//! request. One server per host per way of sending.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portico_tests::vectors::{self, After, Expect, SECOND, Vector};
use portico_tests::{Host, RawResponse, ResponseReader, Server, for_each_host};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Send {
    Whole,
    ByteByByte,
    Pipelined,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn whole(host: Host) {
    run_vectors(host, &[Send::Whole], |v| v.bug.is_none());
}

fn byte_by_byte(host: Host) {
    run_vectors(host, &[Send::ByteByByte], |v| v.bug.is_none());
}

fn pipelined(host: Host) {
    run_vectors(host, &[Send::Pipelined], |v| v.bug.is_none());
}

/// The vectors marked `bug:`, sent every way: each expects what the RFC
/// requires, so this fails until the server is fixed (and then until the
/// marks are removed).
fn known_bug_vectors(host: Host) {
    run_vectors(host, &[Send::Whole, Send::ByteByByte, Send::Pipelined], |v| v.bug.is_some());
}

for_each_host!(whole, byte_by_byte, pipelined, known_bug_vectors);

/// Start one server on the vectors' root and send it each picked vector,
/// each way, on a connection of its own.
fn run_vectors(host: Host, ways: &[Send], pick: fn(&Vector) -> bool) {
    let dir = vectors_dir();
    let all: Vec<Vector> = vectors::load(&dir).into_iter().filter(pick).collect();
    let root = dir.join("root");
    let files = vectors::root_files(&root);
    let server = Server::start_with(host, &root, &["--quiet"]);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut ran = 0;
    for v in &all {
        let mut failed = Vec::new();
        for &how in ways {
            let pipelines =
                matches!(v.expect, Expect::Responses(_, After::Close | After::KeepAlive));
            if how == Send::Pipelined && !pipelines {
                continue;
            }
            ran += 1;
            if let Err(why) = exchange(&server, v, how, &files) {
                failed.push(format!("\n    sent {how:?}: {why}"));
            }
        }
        match (failed.is_empty(), &v.bug) {
            (true, None) => {}
            (true, Some(_)) => {
                failures.push(format!("{}: passes now; remove its `bug:` line", v.label()));
            }
            (false, _) => failures.push(format!("{}:{}", v.label(), failed.concat())),
        }
    }
    eprintln!("{} {ways:?}: {ran} exchanges in {:?}", host.name(), started.elapsed());
    assert!(
        failures.is_empty(),
        "{} {ways:?}: {} of {} vectors failed:\n{}\nserver stderr:\n{}",
        host.name(),
        failures.len(),
        all.len(),
        failures.join("\n"),
        server.stderr_lines().join("\n")
    );
}

/// Send one vector on a fresh connection and check what comes back.
fn exchange(
    server: &Server,
    v: &Vector,
    how: Send,
    files: &[(String, Vec<u8>)],
) -> Result<(), String> {
    let file = |name: &str| {
        files.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice()).unwrap_or_else(|| {
            panic!("{name} is not in tests/vectors/root");
        })
    };
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    // Long enough for a loaded machine, short enough that a server that
    // never closes fails the run rather than hanging it.
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A server that has answered and closed may refuse the rest of the
    // bytes: that is its right, so write errors end the sending only.
    match how {
        Send::Whole => {
            let _ = stream.write_all(&v.request);
        }
        Send::ByteByByte => {
            for byte in &v.request {
                if stream.write_all(std::slice::from_ref(byte)).is_err() {
                    break;
                }
            }
        }
        Send::Pipelined => {
            let _ = stream.write_all(&[v.request.as_slice(), SECOND].concat());
        }
    }
    let mut reader = ResponseReader::new(stream);
    let (statuses, after) = match &v.expect {
        Expect::NeedMore => {
            let _ = reader.stream().shutdown(Shutdown::Write);
            return expect_closed(&mut reader, "a valid prefix, then the end of input");
        }
        Expect::Responses(statuses, after) => (statuses, *after),
    };
    let mut responses = Vec::new();
    for (i, &status) in statuses.iter().enumerate() {
        let response = reader
            .next(i == 0 && v.is_head())
            .ok_or_else(|| format!("response {} of {:?} missing", i + 1, statuses))?;
        if response.status != status {
            return Err(format!("response {} is {}, expected {status}", i + 1, response.status));
        }
        responses.push(response);
    }
    check_first(v, &responses[0], file)?;
    match after {
        After::Close => expect_closed(&mut reader, "the connection to close"),
        After::Body => {
            let _ = reader.stream().shutdown(Shutdown::Write);
            expect_closed(&mut reader, "the body to be awaited, then the end of input")
        }
        After::KeepAlive => {
            if let Some(r) = responses.iter().find(|r| says_close(r)) {
                return Err(format!("a {} response says Connection: close", r.status));
            }
            if how != Send::Pipelined {
                let _ = reader.stream().write_all(SECOND);
            }
            let second = reader.next(false).ok_or("no answer to the second request")?;
            if second.status != 200 || second.body != file("index.html") {
                return Err(format!("the second request got {}, not index.html", second.status));
            }
            let _ = reader.stream().shutdown(Shutdown::Write);
            expect_closed(&mut reader, "the server to close after the client did")
        }
    }
}

fn says_close(response: &RawResponse) -> bool {
    response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

/// The first response carries what the vector says it does.
fn check_first<'f>(
    v: &Vector,
    response: &RawResponse,
    file: impl Fn(&str) -> &'f [u8],
) -> Result<(), String> {
    if let Some(name) = &v.file
        && response.body != file(name)
    {
        return Err(format!("the first response's body is not {name}"));
    }
    for (name, value) in &v.response_headers {
        if response.header(name) != Some(value.as_str()) {
            return Err(format!(
                "the first response has {name}: {:?}, expected {value:?}",
                response.header(name)
            ));
        }
    }
    Ok(())
}

/// Nothing more arrives, and the server closes.
fn expect_closed(reader: &mut ResponseReader, waiting_for: &str) -> Result<(), String> {
    if reader.closed() {
        return Ok(());
    }
    let pending = reader.pending();
    if pending.is_empty() {
        return Err(format!("expected {waiting_for}; no close within 5 s"));
    }
    let shown = String::from_utf8_lossy(&pending[..pending.len().min(120)]).into_owned();
    Err(format!("expected {waiting_for}; got {} more bytes: {shown:?}", pending.len()))
}
