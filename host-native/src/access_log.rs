//! The access log: one line per response on stdout, in the format of
//! `--log-format`, written by a thread of its own so that a slow or
//! stalled stdout never holds up serving.
//!
//! ```text
//! worker threads ──── format a line; append it to the queue, or drop
//!         │              and count it if the queue is full: never wait
//!         ▼
//!   Queue (≤ 1 MiB) ──▶ writer thread: takes all queued lines, one write
//!         │              to stdout; blocks there, alone, if nobody reads
//!         └──────────▶ reporter thread: drops, on stderr, at most every 5 s
//! ```
//!
//! Everything a client sent is escaped (a request cannot forge a line or
//! send terminal escapes) and cut at [`MAX_LOGGED`] bytes (a client cannot
//! make lines of any size).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portico_config::LogFormat;
use portico_core::{RequestFacts, Utc, request_line_parts};

/// The longest request line, `User-Agent` or `Referer` logged; longer ones
/// are cut, so a hostile client cannot make log lines of any size.
const MAX_LOGGED: usize = 1024;

/// Lines waiting for stdout, in bytes: about 10,000 common lines or 4,000
/// JSON ones, a second or so of a busy server. Past it lines are dropped,
/// never waited for.
const QUEUE_BYTES: usize = 1 << 20;

/// While lines are being dropped, how often stderr says so.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// How long the writer, woken by a first line, lets more join it before
/// it writes: lines show within about this, and a busy server wakes the
/// writer about a thousand times a second rather than once a line.
const COALESCE: Duration = Duration::from_millis(1);

/// How long shutdown waits for stdout to take the lines still queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// What one line tells of one response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    /// The client's address.
    pub(crate) peer: IpAddr,
    /// When the response was decided.
    pub(crate) when: SystemTime,
    /// What the client sent, from the first byte of this request (more may
    /// follow: only the head, up to its blank line, is read). Empty when
    /// there was no request, as for a connection refused at the cap.
    pub(crate) input: &'a [u8],
    /// The response's status code.
    pub(crate) status: u16,
    /// Body bytes sent.
    pub(crate) bytes: u64,
    /// From the first time the server loop saw a byte of this request
    /// (right after the read that brought it; for a pipelined request,
    /// when the response before it was written) to when the last write
    /// of the response returned, by the monotonic clock. Time in the
    /// kernel's queues before the first read and after the last write
    /// (the client reading) is not in it.
    pub(crate) duration: Duration,
}

/// The running access log: formats lines for its writer thread. Dropping
/// it lets the threads end once the queue is written.
#[derive(Debug)]
pub(crate) struct AccessLog {
    format: LogFormat,
    queue: Arc<Queue>,
}

/// What the workers, the writer and the reporter share.
#[derive(Debug, Default)]
struct Queue {
    /// The program's name, which begins its lines on stderr.
    name: &'static str,
    state: Mutex<State>,
    /// Wakes the writer: lines were queued, or the log is closing.
    queued: Condvar,
    /// Wakes the reporter (a first drop since its last report) and
    /// [`AccessLog::close`] (the writer finished); also on closing.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Whole lines, newline-terminated, at most [`QUEUE_BYTES`].
    lines: Vec<u8>,
    /// How many lines `lines` holds.
    queued: u64,
    /// How many the writer took and has not written yet.
    writing: u64,
    /// Lines dropped on a full queue so far. Counted under the lock the
    /// decision to drop takes anyway, so no atomic is needed.
    dropped: u64,
    /// `dropped` when the reporter last reported.
    reported: u64,
    /// The writer waits on `queued` for a first line.
    idle: bool,
    /// No more lines are coming: the writer ends once they are written.
    closing: bool,
    /// The writer has ended.
    finished: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AccessLog {
    /// Start the writer and reporter threads.
    pub(crate) fn start(format: LogFormat, name: &'static str) -> std::io::Result<Self> {
        let queue = Arc::new(Queue { name, ..Queue::default() });
        let writer = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&writer))?;
        let reporter = Arc::clone(&queue);
        let reporting = std::thread::Builder::new()
            .name("access-log-drops".into())
            .spawn(move || report_drops(&reporter));
        if let Err(error) = reporting {
            // Without a reporter drops are still counted, and reported
            // at shutdown.
            eprintln!("{name}: cannot start the access-log drop reporter: {error}");
        }
        Ok(Self { format, queue })
    }

    /// Queue the line for `entry`, or drop it if the queue is full: never
    /// waits for stdout.
    pub(crate) fn log(&self, entry: &Entry<'_>) {
        let mut line = String::with_capacity(256);
        format_into(&mut line, self.format, entry);
        let mut state = self.queue.lock();
        if state.lines.len() + line.len() > QUEUE_BYTES {
            state.dropped += 1;
            let first = state.dropped == state.reported + 1;
            drop(state);
            if first {
                self.queue.changed.notify_all();
            }
            return;
        }
        // A system call to wake the writer only if it is waiting for lines,
        // which is at most every `COALESCE` while they keep coming.
        let wake = std::mem::take(&mut state.idle);
        state.lines.extend_from_slice(line.as_bytes());
        state.queued += 1;
        drop(state);
        if wake {
            self.queue.queued.notify_one();
        }
    }

    /// At shutdown, after the last response: write what is queued (for at
    /// most [`FLUSH_TIMEOUT`], in case nobody reads stdout) and say on
    /// stderr how many lines were dropped or left unwritten.
    pub(crate) fn close(&self) {
        self.begin_closing();
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = self.queue.lock();
        while !state.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .queue
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let (dropped, unwritten) = (state.dropped, state.queued + state.writing);
        let finished = state.finished;
        drop(state);
        if dropped > 0 {
            eprintln!(
                "{}: {dropped} access-log lines dropped in all: stdout was not keeping up",
                self.queue.name
            );
        }
        if !finished && unwritten > 0 {
            eprintln!(
                "{}: up to {unwritten} access-log lines not written: stdout did not take them within {} s",
                self.queue.name,
                FLUSH_TIMEOUT.as_secs()
            );
        }
    }

    fn begin_closing(&self) {
        self.queue.lock().closing = true;
        self.queue.queued.notify_all();
        self.queue.changed.notify_all();
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        // The threads write what is queued and end; nobody waits for them.
        self.begin_closing();
    }
}

/// The writer thread: take every queued line at once, write them to
/// stdout in one `write_all`, repeat; end once closing and empty.
fn write_lines(queue: &Queue) {
    // Swapped with the queue's buffer, so neither is reallocated once
    // both have grown to the traffic: in effect a `BufWriter` flushed
    // whenever the queue is empty, so lines show promptly.
    let mut batch = Vec::new();
    let mut failed = false;
    loop {
        let mut state = queue.lock();
        if state.lines.is_empty() && !state.closing {
            while state.lines.is_empty() && !state.closing {
                state.idle = true;
                state = queue.queued.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            state.idle = false;
            if !state.closing {
                drop(state);
                std::thread::sleep(COALESCE);
                state = queue.lock();
            }
        }
        if state.lines.is_empty() {
            state.finished = true;
            drop(state);
            queue.changed.notify_all();
            return;
        }
        batch.clear();
        std::mem::swap(&mut batch, &mut state.lines);
        state.writing = std::mem::take(&mut state.queued);
        drop(state);
        // Rust ignores SIGPIPE, so a closed stdout is an EPIPE here: the
        // lines are thrown away, once said on stderr, and serving goes on.
        // (`stdout()` writes whole lines straight through its line buffer.)
        let written = std::io::stdout().lock().write_all(&batch);
        if let Err(error) = written
            && !std::mem::replace(&mut failed, true)
        {
            eprintln!(
                "{}: cannot write the access log to stdout: {error}; lines are dropped",
                queue.name
            );
        }
        queue.lock().writing = 0;
    }
}

/// The reporter thread: after a drop, say on stderr how many lines were
/// dropped, then stay quiet for [`REPORT_EVERY`]. Its own thread, as the
/// writer may be blocked on stdout for as long as the drops go on.
fn report_drops(queue: &Queue) {
    let mut state = queue.lock();
    loop {
        while state.dropped == state.reported && !state.closing {
            state = queue.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.closing {
            // `close` reports the total.
            return;
        }
        let new = state.dropped - state.reported;
        state.reported = state.dropped;
        drop(state);
        eprintln!("{}: {new} access-log lines dropped: stdout is not keeping up", queue.name);
        let quiet_until = Instant::now() + REPORT_EVERY;
        state = queue.lock();
        while !state.closing {
            let left = quiet_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state =
                queue.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// What a line shows of the request, from the core's [`RequestFacts`],
/// each piece cut at [`MAX_LOGGED`].
#[derive(Clone, Copy, Debug)]
struct Head<'a> {
    facts: RequestFacts<'a>,
    /// The request line (or whatever stood in its place), cut.
    line: &'a [u8],
}

impl<'a> Head<'a> {
    fn new(input: &'a [u8]) -> Self {
        let facts = RequestFacts::of(input);
        Self { facts, line: cut(facts.line()) }
    }

    /// The first value of header field `name` in the head, cut.
    fn field(&self, name: &str) -> Option<&'a [u8]> {
        self.facts.field(name).map(cut)
    }

    /// The cut line's method, target and protocol.
    fn parts(&self) -> [Option<&'a [u8]>; 3] {
        request_line_parts(self.line)
    }
}

/// At most [`MAX_LOGGED`] bytes of `bytes`.
fn cut(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(MAX_LOGGED)]
}

/// One line, newline included, for `entry` in `format`.
fn format_into(out: &mut String, format: LogFormat, entry: &Entry<'_>) {
    let head = Head::new(entry.input);
    match format {
        LogFormat::Common => common_into(out, entry, &head),
        LogFormat::Combined => {
            common_into(out, entry, &head);
            for name in ["referer", "user-agent"] {
                out.push_str(" \"");
                match head.field(name) {
                    Some(value) => escape_into(out, value),
                    None => out.push('-'),
                }
                out.push('"');
            }
        }
        LogFormat::Json => json_into(out, entry, &head),
    }
    out.push('\n');
}

/// `host - - [date] "request line" status bytes`, without the newline.
fn common_into(out: &mut String, entry: &Entry<'_>, head: &Head<'_>) {
    let _ = write!(out, "{} - - [{}] \"", entry.peer, clf_date(entry.when));
    if head.line.is_empty() {
        out.push('-');
    } else {
        escape_into(out, head.line);
    }
    let status = entry.status;
    let _ = match entry.bytes {
        0 => write!(out, "\" {status} -"),
        bytes => write!(out, "\" {status} {bytes}"),
    };
}

/// The JSON object of [`LogFormat::Json`], without the newline.
fn json_into(out: &mut String, entry: &Entry<'_>, head: &Head<'_>) {
    let [method, path, protocol] = head.parts();
    let _ = write!(out, "{{\"time\":\"{}\",\"remote\":\"{}\"", rfc3339(entry.when), entry.peer);
    for (key, value) in [("method", method), ("path", path), ("protocol", protocol)] {
        let _ = write!(out, ",\"{key}\":");
        json_string_into(out, value);
    }
    let millis = entry.duration.as_secs_f64() * 1000.0;
    let _ = write!(
        out,
        ",\"status\":{},\"bytes\":{},\"duration_ms\":{millis:.3}",
        entry.status, entry.bytes
    );
    for (key, name) in [("user_agent", "user-agent"), ("referer", "referer")] {
        let _ = write!(out, ",\"{key}\":");
        json_string_into(out, head.field(name));
    }
    out.push('}');
}

/// `"..."` escaped, or `null`.
fn json_string_into(out: &mut String, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            out.push('"');
            escape_json_into(out, bytes);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// Client bytes as the inside of a JSON string (RFC 8259 §7). `"` and `\`
/// are escaped; control characters (C0, DEL, C1), the line separators
/// U+2028 and U+2029 and the bidirectional formatting characters become
/// `\u00XX`-style escapes, so the line cannot end early, move a
/// terminal's cursor or read in another order than it is written; other
/// valid UTF-8 is kept. A byte that is not part of valid UTF-8 becomes
/// `\u00XX` of its value: it is read as ISO-8859-1, as RFC 9110 §5.5 says
/// field values historically were. (A parser cannot then tell byte 0xE9
/// from a client's UTF-8 "é"; the raw line can.)
fn escape_json_into(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                ' '..='~' => out.push(c),
                c if c.is_control() || is_unsafe_format(c) => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\u{b:04x}");
        }
    }
}

/// Characters that change how the text around them reads: line and
/// paragraph separators, and bidirectional marks, embeddings, overrides
/// and isolates ("Trojan Source", CVE-2021-42574).
fn is_unsafe_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Printable ASCII as is, `"` and `\` escaped, everything else `\xHH`, as
/// nginx does, so a request cannot forge log lines or terminal escapes.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b' '..=b'~' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
}

/// `26/Nov/2026:13:03:29 +0000`
fn clf_date(when: SystemTime) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Utc { year, month, day, hour, minute, second, .. } = Utc::of(when);
    let month = MONTHS.get(usize::from(month).wrapping_sub(1)).copied().unwrap_or("Jan");
    format!("{day:02}/{month}/{year}:{hour:02}:{minute:02}:{second:02} +0000")
}

/// `2026-12-02T02:03:04.567Z`: RFC 3339, UTC, milliseconds.
fn rfc3339(when: SystemTime) -> String {
    let Utc { year, month, day, hour, minute, second, .. } = Utc::of(when);
    let millis = when.duration_since(UNIX_EPOCH).unwrap_or_default().subsec_millis();
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clf_dates_match_known_instants() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(clf_date(at(0)), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_date(at(951_782_400)), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf_date(at(1_795_698_209)), "26/Nov/2026:13:03:29 +0000");
    }

    #[test]
    fn rfc3339_dates_match_known_instants() {
        let at = |millis| UNIX_EPOCH + Duration::from_millis(millis);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400_001)), "2000-02-29T00:00:00.001Z");
        assert_eq!(rfc3339(at(1_796_176_984_567)), "2026-12-02T02:03:04.567Z");
    }

    #[test]
    fn what_the_line_shows_is_cut_at_the_cap() {
        assert_eq!(Head::new(&[b'a'; 5000]).line.len(), MAX_LOGGED);
        let long = [&b"GET / HTTP/1.1\r\nUser-Agent: "[..], &[b'u'; 5000]].concat();
        assert_eq!(Head::new(&long).field("user-agent").map(<[u8]>::len), Some(MAX_LOGGED));
        let line = [&b"GET /"[..], &[b'q'; 3000], b" HTTP/1.1"].concat();
        let [_, target, protocol] = Head::new(&line).parts();
        assert_eq!(target.map(<[u8]>::len), Some(MAX_LOGGED - 4), "the cut line's parts");
        assert_eq!(protocol, None);
    }

    #[test]
    fn json_escaping_keeps_lines_whole_and_terminals_safe() {
        let escaped = |bytes: &[u8]| {
            let mut s = String::new();
            escape_json_into(&mut s, bytes);
            s
        };
        assert_eq!(escaped(b"plain /a?b=c"), "plain /a?b=c");
        assert_eq!(escaped(b"\"q\" back\\slash"), r#"\"q\" back\\slash"#);
        assert_eq!(escaped(b"\r\n\t\x00\x1b[31m\x7f"), r"\u000d\u000a\u0009\u0000\u001b[31m\u007f");
        // Valid UTF-8 is kept, but not C1 controls, separators, bidi.
        assert_eq!(escaped("é中😀".as_bytes()), "é中😀");
        assert_eq!(
            escaped("\u{85}\u{9b}\u{2028}\u{202e}\u{2066}".as_bytes()),
            r"\u0085\u009b\u2028\u202e\u2066"
        );
        // Bytes that are not UTF-8 are read as ISO-8859-1.
        assert_eq!(escaped(b"\xff\xfe a\xc3"), r"\u00ff\u00fe a\u00c3");
        assert_eq!(escaped(b"\xe4\xb8"), r"\u00e4\u00b8", "a character cut at the cap");
    }

    #[test]
    fn lines_in_each_format() {
        let entry = Entry {
            peer: IpAddr::from([127, 0, 0, 1]),
            when: UNIX_EPOCH + Duration::from_millis(1_796_176_984_567),
            input: b"GET /a\"b HTTP/1.1\r\nReferer: http://r/\r\nUser-Agent: UA \x01\r\n\r\n",
            status: 404,
            bytes: 12,
            duration: Duration::from_micros(1500),
        };
        let line = |format| {
            let mut s = String::new();
            format_into(&mut s, format, &entry);
            s
        };
        let common = r#"127.0.0.1 - - [02/Dec/2026:02:03:04 +0000] "GET /a\"b HTTP/1.1" 404 12"#;
        assert_eq!(line(LogFormat::Common), format!("{common}\n"));
        assert_eq!(line(LogFormat::Combined), format!("{common} \"http://r/\" \"UA \\x01\"\n"));
        assert_eq!(
            line(LogFormat::Json),
            concat!(
                r#"{"time":"2026-12-02T02:03:04.567Z","remote":"127.0.0.1","method":"GET","#,
                r#""path":"/a\"b","protocol":"HTTP/1.1","status":404,"bytes":12,"#,
                r#""duration_ms":1.500,"user_agent":"UA \u0001","referer":"http://r/"}"#,
                "\n"
            )
        );
        let refused = Entry { input: b"", status: 503, bytes: 0, ..entry };
        let line = |format| {
            let mut s = String::new();
            format_into(&mut s, format, &refused);
            s
        };
        assert!(line(LogFormat::Combined).ends_with(concat!(r#""-" 503 - "-" "-""#, "\n")));
        assert!(
            line(LogFormat::Json)
                .contains(r#""method":null,"path":null,"protocol":null,"status":503,"bytes":0,"#)
        );
        assert!(
            line(LogFormat::Json).ends_with(concat!(r#""user_agent":null,"referer":null}"#, "\n"))
        );
    }

    #[test]
    fn hostile_bytes_are_escaped() {
        let mut s = String::new();
        escape_into(&mut s, b"GET /\x1b[31m\"x\\ HTTP/1.1");
        assert_eq!(s, "GET /\\x1B[31m\\\"x\\\\ HTTP/1.1");
    }
}
