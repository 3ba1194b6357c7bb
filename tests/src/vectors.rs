//! The conformance vectors of `tests/vectors/`: raw request bytes and the
//! outcome RFC 9112 (or portico's documented choice) gives them. The format
//! is described in `tests/vectors/README.md`.
//!
//! This file is std-only: `portico-core`'s tests include it with
//! `#[path]`, as the core must not depend on this crate.

use std::path::Path;

/// The second request of the pipelined runs, sent right after a vector's
/// bytes. A connection that stays open answers it with `200` and
/// `index.html`.
pub const SECOND: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";

/// What happens to the connection after the last expected response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// `expect-close: yes`: it ends; nothing more is answered.
    Close,
    /// `expect-close: no`: it persists; the next request is answered.
    KeepAlive,
    /// `expect-close: wait`: the server is still reading the body of the
    /// last request (it would take a following request for body bytes).
    Body,
}

/// The outcome a vector expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `expect: need-more`: a valid prefix; no response, the server reads on.
    NeedMore,
    /// `expect-status: S[, S...]`: these responses, in order, then `After`.
    Responses(Vec<u16>, After),
}

/// One vector.
#[derive(Clone, Debug)]
pub struct Vector {
    /// `=== name`, unique across all files.
    pub name: String,
    /// The file it is in, without `.vectors`.
    pub category: String,
    /// `file.vectors:line`, for messages.
    pub location: String,
    /// The raw bytes to send.
    pub request: Vec<u8>,
    /// The expected outcome.
    pub expect: Expect,
    /// `expect-method`: the first request's method, as sent.
    pub method: Option<String>,
    /// `expect-target`: the first request's request-target, as sent.
    pub target: Option<String>,
    /// `expect-version`: `HTTP/1.0` or `HTTP/1.1`, as the core reads it.
    pub version: Option<String>,
    /// `expect-header` lines: the first request's header fields, exactly
    /// and in order (name as sent, value without surrounding OWS).
    pub headers: Option<Vec<(String, Vec<u8>)>>,
    /// `expect-file`: the first response's body is this file of the root.
    pub file: Option<String>,
    /// `expect-response-header` lines: fields the first response carries.
    pub response_headers: Vec<(String, String)>,
    /// `source`: where the vector comes from, if not written here.
    pub source: Option<String>,
    /// `note` lines: why the expectation is what it is.
    pub notes: Vec<String>,
    /// `bug`: a known server bug; the vector expects what the RFC requires,
    /// and its failure is labelled with this.
    pub bug: Option<String>,
}

impl Vector {
    /// True if the first request is a HEAD, so its response has no body.
    pub fn is_head(&self) -> bool {
        let start = self.request.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(0);
        self.request[start..].starts_with(b"HEAD ")
    }

    /// `name (file:line)`, plus the bug label if there is one.
    pub fn label(&self) -> String {
        match &self.bug {
            Some(bug) => format!("{} ({}) [known server bug: {bug}]", self.name, self.location),
            None => format!("{} ({})", self.name, self.location),
        }
    }
}

/// Every vector of every `*.vectors` file in `dir`, sorted by file name.
/// A malformed file is a panic naming the file and line.
pub fn load(dir: &Path) -> Vec<Vector> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}")))
        .filter(|p| p.extension().is_some_and(|x| x == "vectors"))
        .collect();
    paths.sort();
    let mut all: Vec<Vector> = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let vectors = parse(&file, &text).unwrap_or_else(|e| panic!("{e}"));
        for v in vectors {
            if let Some(other) = all.iter().find(|o| o.name == v.name) {
                panic!("{}: vector name {} already used at {}", v.location, v.name, other.location);
            }
            all.push(v);
        }
    }
    all
}

/// The files below `root` as `(path relative to root, bytes)`, `/`-separated.
pub fn root_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let rel = format!("{prefix}{}", name.unwrap_or_default());
            if path.is_dir() {
                walk(&path, &format!("{rel}/"), out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
                out.push((rel, bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, "", &mut out);
    out.sort();
    out
}

/// Parse one file's text. `file` names it in errors and locations.
pub fn parse(file: &str, text: &str) -> Result<Vec<Vector>, String> {
    let category = file.trim_end_matches(".vectors");
    let mut out = Vec::new();
    let mut current: Option<Draft> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if let Some(name) = line.strip_prefix("=== ") {
            if let Some(done) = current.take() {
                out.push(build(file, category, done)?);
            }
            let name = name.trim().to_owned();
            current = Some(Draft { name, at: n, fields: Vec::new(), request: None });
            continue;
        }
        match &mut current {
            None if line.trim().is_empty() || line.starts_with('#') => {}
            None => return Err(format!("{file}:{n}: text before the first `=== name` line")),
            Some(Draft { request: Some(request), .. }) => request.push((n, line.to_owned())),
            Some(Draft { request, .. }) if line == "---" => *request = Some(Vec::new()),
            Some(_) if line.trim().is_empty() || line.starts_with('#') => {}
            Some(Draft { fields, .. }) => fields.push((n, line.to_owned())),
        }
    }
    if let Some(done) = current.take() {
        out.push(build(file, category, done)?);
    }
    Ok(out)
}

/// A vector as read, before its lines are interpreted: numbered lines.
struct Draft {
    name: String,
    at: usize,
    fields: Vec<(usize, String)>,
    request: Option<Vec<(usize, String)>>,
}

fn build(file: &str, category: &str, draft: Draft) -> Result<Vector, String> {
    let Draft { name, at, fields, request } = draft;
    let location = format!("{file}:{at}");
    let err = |n: usize, what: &str| format!("{file}:{n}: vector {name}: {what}");
    let mut v = Vector {
        name: name.clone(),
        category: category.to_owned(),
        location,
        request: Vec::new(),
        expect: Expect::NeedMore,
        method: None,
        target: None,
        version: None,
        headers: None,
        file: None,
        response_headers: Vec::new(),
        source: None,
        notes: Vec::new(),
        bug: None,
    };
    let (mut statuses, mut close, mut need_more) = (None, None, false);
    for (n, line) in fields {
        let (key, value) = line.split_once(':').ok_or_else(|| err(n, "expected `key: value`"))?;
        let value = value.trim();
        match key {
            "expect" if value == "need-more" => need_more = true,
            "expect-status" => {
                let list: Result<Vec<u16>, _> =
                    value.split(',').map(|s| s.trim().parse()).collect();
                statuses = Some(list.map_err(|_| err(n, "expect-status: 3-digit codes"))?);
            }
            "expect-close" => {
                close = Some(match value {
                    "yes" => After::Close,
                    "no" => After::KeepAlive,
                    "wait" => After::Body,
                    _ => return Err(err(n, "expect-close: yes, no or wait")),
                });
            }
            "expect-method" => v.method = Some(value.to_owned()),
            "expect-target" => v.target = Some(text(&decode(value).map_err(|e| err(n, &e))?)),
            "expect-version" => v.version = Some(value.to_owned()),
            "expect-header" => {
                let bytes = decode(value).map_err(|e| err(n, &e))?;
                let colon = bytes.iter().position(|&b| b == b':');
                let colon = colon.ok_or_else(|| err(n, "expect-header: `Name: value`"))?;
                let value = bytes[colon + 1..].trim_ascii().to_vec();
                v.headers.get_or_insert_with(Vec::new).push((text(&bytes[..colon]), value));
            }
            "expect-file" => v.file = Some(value.to_owned()),
            "expect-response-header" => {
                let (h, val) = value.split_once(':').ok_or_else(|| err(n, "`Name: value`"))?;
                v.response_headers.push((h.trim().to_owned(), val.trim().to_owned()));
            }
            "source" => v.source = Some(value.to_owned()),
            "note" => v.notes.push(value.to_owned()),
            "bug" => v.bug = Some(value.to_owned()),
            _ => return Err(err(n, &format!("unknown key {key:?}"))),
        }
    }
    v.expect = match (need_more, statuses, close) {
        (true, None, None) => Expect::NeedMore,
        (false, Some(s), Some(c)) if !s.is_empty() => Expect::Responses(s, c),
        _ => return Err(err(at, "give `expect: need-more`, or expect-status and expect-close")),
    };
    let request = request.ok_or_else(|| err(at, "no `---` line before the request bytes"))?;
    for (n, line) in request {
        if line.ends_with([' ', '\t']) || line.contains(|c: char| c.is_control()) {
            return Err(err(n, "trailing whitespace or a control character: escape it"));
        }
        v.request.extend(decode(&line).map_err(|e| err(n, &e))?);
    }
    if v.request.is_empty() {
        return Err(err(at, "no request bytes"));
    }
    Ok(v)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decode the escapes of a request line: `\r \n \t \\ \xHH`, and
/// `\{N:TEXT}`, TEXT (itself escaped, no `}`) repeated N times. Other
/// characters stand for their UTF-8 bytes.
pub fn decode(line: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find('\\') {
        out.extend_from_slice(&rest.as_bytes()[..at]);
        let esc = &rest[at + 1..];
        let (bytes, used): (Vec<u8>, usize) = match esc.as_bytes().first() {
            Some(b'r') => (vec![b'\r'], 1),
            Some(b'n') => (vec![b'\n'], 1),
            Some(b't') => (vec![b'\t'], 1),
            Some(b'\\') => (vec![b'\\'], 1),
            Some(b'x') => {
                let hex = esc.get(1..3).ok_or("\\x needs two hex digits")?;
                let byte = u8::from_str_radix(hex, 16).map_err(|_| "\\x needs two hex digits")?;
                (vec![byte], 3)
            }
            Some(b'{') => {
                let end = esc.find('}').ok_or("\\{N:TEXT} without `}`")?;
                let (count, inner) = esc[1..end].split_once(':').ok_or("\\{N:TEXT}")?;
                let count: usize = count.parse().map_err(|_| "\\{N:TEXT}: N is a number")?;
                (decode(inner)?.repeat(count), end + 1)
            }
            _ => return Err(format!("unknown escape in {line:?}")),
        };
        out.extend(bytes);
        rest = &esc[used..];
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}
