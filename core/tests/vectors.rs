//! The conformance vectors of `tests/vectors/` against the core: a
//! `Connection` and `respond` over a `MemoryLookup` holding
//! `tests/vectors/root/`, driven the way a host drives them. Each vector is
//! fed whole, byte by byte, and followed by a pipelined second request
//! (whole and byte by byte).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use portico_core::{
    Connection, Event, MemoryLookup, Method, Moment, Response, Segment, Site, error_response,
    respond,
};

#[path = "../../tests/src/vectors.rs"]
#[allow(dead_code, unreachable_pub)]
mod vectors;

use vectors::{After, Expect, SECOND, Vector};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

/// A response as a host would have written it.
#[derive(Debug)]
struct Answer {
    status: u16,
    keep_alive: bool,
    head: String,
    body: Vec<u8>,
}

/// The first request's parsed fields.
#[derive(Debug)]
struct Fields {
    method: String,
    target: String,
    version: &'static str,
    headers: Vec<(String, Vec<u8>)>,
}

/// Where the connection stands when the input runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The host closed it (after a response that said so, a rejection, or
    /// `Event::Close`).
    Closed,
    /// It waits for more bytes: of a request head, or of a request body.
    Waiting { awaiting_head: bool },
}

#[derive(Debug)]
struct Run {
    answers: Vec<Answer>,
    first: Option<Fields>,
    end: End,
}

fn answer(response: Response<std::sync::Arc<[u8]>>) -> Answer {
    let head = response.head_bytes();
    let mut body = Vec::new();
    for segment in response.body().segments() {
        match segment {
            Segment::Bytes(bytes) => body.extend_from_slice(bytes),
            Segment::File { offset, len } => {
                let file = response.body().handle().unwrap();
                let start = usize::try_from(offset).unwrap();
                body.extend_from_slice(&file[start..start + usize::try_from(len).unwrap()]);
            }
        }
    }
    Answer {
        status: response.status(),
        keep_alive: response.keep_alive(),
        head: String::from_utf8_lossy(&head).into_owned(),
        body,
    }
}

/// Drive a connection over `input`, handing it `step` more bytes each time
/// it asks for more, until the input is used up or the connection closes.
fn drive(input: &[u8], step: usize, files: &MemoryLookup) -> Run {
    let mut conn = Connection::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut answers = Vec::new();
    let mut first = None;
    for _ in 0..10 * input.len() + 100 {
        let end = match conn.poll(&buf, Moment::ZERO) {
            Event::NeedMore if fed == input.len() => {
                Some(End::Waiting { awaiting_head: conn.awaiting_head() })
            }
            Event::NeedMore => {
                let more = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + more]);
                fed += more;
                None
            }
            Event::Discard(n) => {
                assert!(n > 0 && n <= buf.len(), "Discard({n}) with {} buffered", buf.len());
                buf.drain(..n);
                None
            }
            Event::Request(request) => {
                if first.is_none() {
                    first = Some(Fields {
                        method: request.method().as_str().to_owned(),
                        target: request.target().to_owned(),
                        version: request.version().as_str(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| (h.name.to_owned(), h.value.to_vec()))
                            .collect(),
                    });
                }
                let response = respond(&request, &Site::default(), files, SystemTime::UNIX_EPOCH);
                assert_eq!(response.keep_alive(), request.keep_alive());
                if request.method() == Method::Head {
                    assert!(response.body().is_empty(), "a body for HEAD");
                }
                let head_len = request.head_len();
                let keep_alive = response.keep_alive();
                answers.push(answer(response));
                buf.drain(..head_len);
                (!keep_alive).then_some(End::Closed)
            }
            Event::Reject(rejection) => {
                answers.push(answer(error_response(rejection, SystemTime::UNIX_EPOCH)));
                Some(End::Closed)
            }
            Event::Close => Some(End::Closed),
            other => panic!("an event this test does not know: {other:?}"),
        };
        if let Some(end) = end {
            return Run { answers, first, end };
        }
    }
    panic!("the connection never settled");
}

fn statuses(run: &Run) -> Vec<u16> {
    run.answers.iter().map(|a| a.status).collect()
}

/// Check one run against the vector; `pipelined` says whether `SECOND`
/// followed the vector's bytes.
fn check(v: &Vector, run: &Run, pipelined: bool, root: &MemoryLookup) -> Result<(), String> {
    let index = file(root, "index.html");
    match &v.expect {
        Expect::NeedMore => {
            if !run.answers.is_empty() {
                return Err(format!("expected no response, got {:?}", statuses(run)));
            }
            if run.end != (End::Waiting { awaiting_head: true }) {
                return Err(format!(
                    "expected to wait for the rest of the head, got {:?}",
                    run.end
                ));
            }
        }
        Expect::Responses(expected, after) => {
            let mut expected = expected.clone();
            if pipelined && *after == After::KeepAlive {
                expected.push(200);
            }
            if statuses(run) != expected {
                return Err(format!("expected statuses {expected:?}, got {:?}", statuses(run)));
            }
            let want_end = match after {
                After::Close => End::Closed,
                After::KeepAlive => End::Waiting { awaiting_head: true },
                After::Body => End::Waiting { awaiting_head: false },
            };
            if run.end != want_end {
                return Err(format!(
                    "expected the connection to end {want_end:?}, got {:?}",
                    run.end
                ));
            }
            if *after == After::KeepAlive {
                if let Some(a) = run.answers.iter().find(|a| !a.keep_alive) {
                    return Err(format!("a {} response says Connection: close", a.status));
                }
                if pipelined && run.answers.last().is_some_and(|a| a.body != index) {
                    return Err("the pipelined request did not get index.html".into());
                }
            }
            check_first(v, run, root)?;
        }
    }
    Ok(())
}

/// The parsed fields and the first response, where the vector gives them.
fn check_first(v: &Vector, run: &Run, root: &MemoryLookup) -> Result<(), String> {
    let wants_fields = v.method.is_some() || v.target.is_some();
    let wants_fields = wants_fields || v.version.is_some() || v.headers.is_some();
    if wants_fields {
        let Some(first) = &run.first else {
            return Err("no request was parsed, but the vector expects fields".into());
        };
        let same = |what: &str, want: &Option<String>, got: &str| match want {
            Some(want) if want != got => Err(format!("expected {what} {want:?}, got {got:?}")),
            _ => Ok(()),
        };
        same("method", &v.method, &first.method)?;
        same("target", &v.target, &first.target)?;
        same("version", &v.version, first.version)?;
        if let Some(headers) = &v.headers
            && *headers != first.headers
        {
            return Err(format!(
                "expected headers {}, got {}",
                show(headers),
                show(&first.headers)
            ));
        }
    }
    let first_answer = &run.answers[0];
    // RFC 9110 §9.3.2: no content in a response to HEAD, rejected or not.
    if v.is_head() && !first_answer.body.is_empty() {
        return Err(format!(
            "{} bytes of content in the response to HEAD",
            first_answer.body.len()
        ));
    }
    if let Some(name) = &v.file {
        let want = file(root, name);
        if first_answer.body != want {
            return Err(format!("the first response's body is not {name}"));
        }
    }
    for (name, value) in &v.response_headers {
        let found = first_answer.head.split("\r\n").any(|line| {
            line.split_once(':').is_some_and(|(n, val)| {
                n.eq_ignore_ascii_case(name) && val.trim() == value.as_str()
            })
        });
        if !found {
            return Err(format!("the first response lacks `{name}: {value}`"));
        }
    }
    Ok(())
}

fn show(headers: &[(String, Vec<u8>)]) -> String {
    let fields: Vec<String> =
        headers.iter().map(|(n, v)| format!("{n}: {}", v.escape_ascii())).collect();
    format!("[{}]", fields.join(" | "))
}

fn file(root: &MemoryLookup, name: &str) -> Vec<u8> {
    let path = portico_core::SafePath::from_normal(name).unwrap();
    match portico_core::FileLookup::lookup(root, &path) {
        portico_core::Lookup::File(f) => f.handle.to_vec(),
        _ => panic!("{name} is not in tests/vectors/root"),
    }
}

fn memory_root() -> MemoryLookup {
    let mut root = MemoryLookup::new();
    for (path, bytes) in vectors::root_files(&vectors_dir().join("root")) {
        root.insert(&path, bytes, None);
    }
    root
}

/// Feed one vector every way; what went wrong, if anything, as one
/// message naming the vector.
fn run_vector(v: &Vector, root: &MemoryLookup) -> Option<String> {
    let mut runs = vec![("whole", false, v.request.clone(), usize::MAX)];
    runs.push(("byte by byte", false, v.request.clone(), 1));
    if let Expect::Responses(_, After::Close | After::KeepAlive) = v.expect {
        let both = [v.request.as_slice(), SECOND].concat();
        // Byte by byte costs O(n²) re-parsing: the big limit vectors are
        // split-checked by the run above already.
        if both.len() <= 4096 {
            runs.push(("pipelined byte by byte", true, both.clone(), 1));
        }
        runs.push(("pipelined", true, both, usize::MAX));
    }
    let mut failures = Vec::new();
    for (how, pipelined, input, step) in runs {
        let run = drive(&input, step, root);
        if let Err(why) = check(v, &run, pipelined, root) {
            failures.push(format!("\n    fed {how}: {why}"));
        }
    }
    match (failures.is_empty(), &v.bug) {
        (true, None) => None,
        (true, Some(_)) => Some(format!("{}: passes now; remove its `bug:` line", v.label())),
        (false, _) => Some(format!("{}:{}", v.label(), failures.concat())),
    }
}

/// Run the vectors `pick` selects, on every core thread; all failures,
/// sorted.
fn run_vectors(pick: fn(&Vector) -> bool) -> (usize, Vec<String>) {
    let root = memory_root();
    let all: Vec<Vector> = vectors::load(&vectors_dir()).into_iter().filter(pick).collect();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    // Interleaved, so the few big limit vectors land on different threads.
    let mut failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (all, root) = (&all, &root);
                scope.spawn(move || {
                    let mine = all.iter().skip(t).step_by(threads);
                    mine.filter_map(|v| run_vector(v, root)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a vector thread panicked")).collect()
    });
    failures.sort();
    (all.len(), failures)
}

#[test]
fn vectors_against_the_core() {
    let (count, failures) = run_vectors(|v| v.bug.is_none());
    assert!(count >= 80, "only {count} vectors");
    assert!(
        failures.is_empty(),
        "{} of {count} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The vectors marked `bug:`: each expects what the RFC requires, so this
/// fails until the server is fixed (and then until the marks are removed).
#[test]
fn known_bug_vectors_against_the_core() {
    let (count, failures) = run_vectors(|v| v.bug.is_some());
    assert!(
        failures.is_empty(),
        "{} of {count} vectors marked `bug:` failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
