//! The harness of portico's end-to-end tests: build the real binaries,
//! start them on port 0 over a web root, and talk to them over TCP.
//!
//! Every test body takes a [`Host`] and runs once per host binary, so both
//! hosts pass the same suite.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness: failing loudly is the point

pub mod vectors;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A server binary under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// `portico`: the core in-process.
    Native,
    /// `portico-wasi`: the core as a WASI guest under wasmtime.
    Wasi,
}

impl Host {
    /// The package and binary name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "portico",
            Self::Wasi => "portico-wasi",
        }
    }

    /// The binary, built on first use with the profile the tests were
    /// built with.
    pub fn binary(self) -> PathBuf {
        static BUILT: OnceLock<()> = OnceLock::new();
        BUILT.get_or_init(build_binaries);
        target_dir().join(self.name())
    }
}

/// `target/<profile>`: the test executable lives in its `deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    deps.parent().unwrap().to_path_buf()
}

/// Cargo does not build other packages' binaries for a test, so build
/// them here, after the test build has released its lock.
fn build_binaries() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "portico", "-p", "portico-wasi"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "building the servers failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The repository's `static/` directory.
pub fn static_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("static")
}

/// The bytes of a file of the shipped site, e.g. `static_file("style.css")`.
pub fn static_file(rel: &str) -> Vec<u8> {
    std::fs::read(static_root().join(rel)).unwrap()
}

/// A fresh web root holding these files (parent directories made as
/// needed); removed when dropped.
pub fn temp_root(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    for (rel, bytes) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The start-up line: `NAME: serving ROOT at http://ADDR/`.
    banner: String,
    /// Stdout: the access log.
    lines: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// The read end of a stdout pipe held open and never read.
    _unread: Option<std::process::ChildStdout>,
}

/// What a test does with a server's stdout, where the access log goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdout {
    /// Read it line by line, for [`Server::log_lines`].
    Read,
    /// Keep the pipe open and never read it: a log consumer that stalls.
    Unread,
    /// Close the pipe's read end at once: writes fail with EPIPE.
    Closed,
}

impl Server {
    /// Serve `root` on 127.0.0.1, port 0.
    pub fn start(host: Host, root: &Path) -> Self {
        Self::start_with(host, root, &[])
    }

    /// Serve `root` on 127.0.0.1, port 0, with extra options.
    pub fn start_with(host: Host, root: &Path, extra: &[&str]) -> Self {
        Self::start_with_stdout(host, root, extra, Stdout::Read)
    }

    /// Serve `root` on 127.0.0.1, port 0, with extra options, doing
    /// `stdout` with the server's stdout.
    pub fn start_with_stdout(host: Host, root: &Path, extra: &[&str], stdout: Stdout) -> Self {
        let mut args = vec!["--port", "0", "--bind", "127.0.0.1"];
        args.extend_from_slice(extra);
        Self::spawn_with_stdout(host, root, &args, stdout)
    }

    /// Start with exactly these options (before the root).
    pub fn spawn(host: Host, root: &Path, args: &[&str]) -> Self {
        Self::spawn_with_stdout(host, root, args, Stdout::Read)
    }

    /// Start with exactly these options (before the root), doing `stdout`
    /// with its stdout. The URL is read from the start-up line on stderr.
    pub fn spawn_with_stdout(host: Host, root: &Path, args: &[&str], stdout: Stdout) -> Self {
        let mut cmd = Command::new(host.binary());
        cmd.args(args).arg(root);
        Self::spawn_command(host, cmd, stdout)
    }

    /// Start `cmd`: the host binary, or a program that execs it in its own
    /// process (as `systemd-socket-activate` does), doing `stdout` with its
    /// stdout. The URL is read from the start-up line on stderr.
    pub fn spawn_command(host: Host, mut cmd: Command, stdout: Stdout) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().unwrap();
        let mut unread = None;
        match stdout {
            Stdout::Read => {
                let sink = Arc::clone(&lines);
                std::thread::spawn(move || read_lines(pipe, &sink, |_| {}));
            }
            Stdout::Unread => unread = Some(pipe),
            Stdout::Closed => drop(pipe),
        }
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&errors);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            read_lines(stderr, &sink, |line| {
                if line.contains(" at http://")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line.to_owned());
                }
            });
        });
        let Ok(banner) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            let err = errors.lock().unwrap().join("\n");
            panic!("{} printed no URL; stderr:\n{err}", host.name());
        };
        let url = banner.split("http://").nth(1).expect("the start-up line holds the URL");
        // `http://ADDR/`, then maybe a note: ` (socket from systemd)`.
        let url = url.split(' ').next().unwrap_or(url);
        let addr = url.trim_end_matches('/').parse().expect("a socket address in the URL");
        Self { child, addr, banner, lines, errors, _unread: unread }
    }

    /// What the server printed on stderr so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// `http://addr{path}`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stdout lines so far: the access log.
    pub fn log_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Wait until the access log has at least `n` lines, or 5 s.
    pub fn wait_for_log(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines = self.log_lines();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A raw connection to the server.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
    }

    /// Send SIGTERM and wait for the exit (at most 20 s).
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        wait_until(&mut self.child, Duration::from_secs(20))
            .expect("server did not exit after SIGTERM")
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The start-up line on stderr: `NAME: serving ROOT at http://ADDR/`.
    pub fn banner(&self) -> String {
        self.banner.clone()
    }

    /// Send a signal (`TERM`, `INT`, ...) without waiting for anything.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for the process to exit on its own, at most `timeout`; `None`
    /// if it is still running then.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(&mut self.child, timeout)
    }
}

/// Store each line of `from` in `sink` (lossily decoded: a line that is
/// not UTF-8 must not stop the reading, or the server would stall on a
/// full pipe), calling `each` on it after it is stored.
fn read_lines(from: impl std::io::Read, sink: &Mutex<Vec<String>>, mut each: impl FnMut(&str)) {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text).to_owned();
                sink.lock().unwrap().push(text.clone());
                each(&text);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A failed start: non-zero exit, nothing on stdout, exactly one line on
/// stderr naming the program, and no panic. Returns that line.
pub fn assert_one_line_failure(
    host: Host,
    what: &str,
    (status, out, err): (ExitStatus, String, String),
) -> String {
    assert!(!status.success(), "{what}: exited successfully");
    assert!(status.code().is_some(), "{what}: killed by a signal: {status:?}");
    assert_eq!(out, "", "{what}: printed on stdout");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{what}: panic: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: not one line on stderr:\n{err}");
    assert!(err.ends_with('\n'), "{what}: the line is not terminated: {err:?}");
    assert!(lines[0].starts_with(&format!("{}: ", host.name())), "{what}: {err}");
    lines[0].to_owned()
}

/// A port on 127.0.0.1 that was free a moment ago, for a program that
/// must be told a port rather than pick one (`systemd-socket-activate`,
/// `docker run -p`).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Run a host binary with `args` to completion (it must fail fast):
/// `(exit status, stdout, stderr)`.
pub fn run_to_exit(host: Host, args: &[&str]) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(host.binary());
    cmd.args(args);
    run_command_to_exit(cmd)
}

/// Run any command to completion (it must fail fast, within 30 s):
/// `(exit status, stdout, stderr)`.
pub fn run_command_to_exit(mut cmd: Command) -> (ExitStatus, String, String) {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let status = wait_or_kill(&mut child, Duration::from_secs(30), &what);
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status, out, err)
}

/// Wait for `child` to exit, at most `limit`; `None` if it still runs.
pub fn wait_until(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `child` to exit, at most `limit`; past it, kill it and panic
/// naming `what`.
pub fn wait_or_kill(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    wait_until(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not exit within {limit:?}");
    })
}

/// One parsed response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The status line and header lines, as received.
    pub head: String,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header field (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads responses off a raw connection, keeping bytes beyond one response
/// for the next (pipelining).
#[derive(Debug)]
pub struct ResponseReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl ResponseReader {
    /// Read responses from this stream.
    pub fn new(stream: TcpStream) -> Self {
        Self { stream, buf: Vec::new() }
    }

    /// The underlying stream (to write more requests).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    fn fill(&mut self) -> bool {
        matches!(self.fill_once(), Fill::Data)
    }

    fn fill_once(&mut self) -> Fill {
        let mut chunk = [0u8; 8192];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => Fill::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Fill::Data
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    Fill::TimedOut
                }
                Err(_) => Fill::Reset,
            };
        }
    }

    /// The next response; `head_request` means no body follows. `None` if
    /// the connection closed (or timed out) before a whole head.
    pub fn next(&mut self, head_request: bool) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        self.buf.drain(..head_end);
        let len: usize = if head_request || status == 304 {
            0
        } else {
            headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        while self.buf.len() < len {
            if !self.fill() {
                return None;
            }
        }
        let body = self.buf.drain(..len).collect();
        Some(RawResponse { status, head, headers, body })
    }

    /// True if the server closes the connection (EOF, or a reset) within
    /// the read timeout, with no further bytes. A read timeout is *not* a
    /// close: it returns false.
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && matches!(self.fill_once(), Fill::Eof | Fill::Reset)
    }

    /// Bytes received but not yet parsed as part of a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// What one read of a [`ResponseReader`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Data,
    Eof,
    Reset,
    TimedOut,
}

/// Send `request` on a new connection and read one response.
pub fn exchange(server: &Server, request: &[u8]) -> Option<RawResponse> {
    let mut stream = server.connect();
    stream.write_all(request).unwrap();
    let head_request = request.starts_with(b"HEAD ");
    ResponseReader::new(stream).next(head_request)
}

/// Declare end-to-end tests that run once per host: each name must be a
/// `fn(Host)` in scope. Attributes before a name (such as
/// `#[ignore = "BUG: ..."]`) go on each host's test.
#[macro_export]
macro_rules! for_each_host {
    ($($(#[$meta:meta])* $name:ident),* $(,)?) => {
        mod native {
            $(
                #[test]
                $(#[$meta])*
                fn $name() {
                    super::$name($crate::Host::Native);
                }
            )*
        }
        mod wasi {
            $(
                #[test]
                $(#[$meta])*
                fn $name() {
                    super::$name($crate::Host::Wasi);
                }
            )*
        }
    };
}

/// A ureq agent that returns 4xx/5xx responses instead of errors and never
/// follows redirects, so tests see exactly what the server sent.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        // No `Accept-Encoding`: the tests that read lengths and bytes want
        // the file as it is, and portico compresses on the fly for a
        // client that asks (the compression tests ask themselves).
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// `GET {target} HTTP/1.1` with a Host and nothing else.
pub fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: portico.test\r\n\r\n").into_bytes()
}

/// A response head without its `Date` line, which legitimately differs
/// between two responses.
pub fn without_date(head: &str) -> String {
    head.split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
pub fn http_date(when: std::time::SystemTime) -> String {
    let secs = when.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[usize::try_from(days.rem_euclid(7)).unwrap()],
        MONTHS[usize::try_from(month - 1).unwrap()],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// True if `s` is an IMF-fixdate in shape: `Www, DD Mon YYYY HH:MM:SS GMT`.
pub fn is_imf_fixdate(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() == 29
        && s.is_ascii()
        && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&&s[..3])
        && &s[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&&s[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &s[25..] == " GMT"
}

/// A request and every response read back, plus the reader to go on with.
pub fn send(server: &Server, request: &[u8]) -> ResponseReader {
    let mut stream = server.connect();
    stream.write_all(request).unwrap();
    ResponseReader::new(stream)
}

/// Bytes no two offsets of which are likely equal in a row, so a byte
/// sent from the wrong offset (or the wrong version of a file) shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Set the modification time of the file at `path`.
pub fn set_mtime(path: &Path, when: std::time::SystemTime) {
    std::fs::File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
}

/// The parts of a `multipart/byteranges` body: each part's
/// `Content-Range` and bytes, read by the lengths the ranges give.
pub fn multipart_parts(response: &RawResponse) -> Vec<(String, Vec<u8>)> {
    let content_type = response.header("content-type").unwrap();
    let boundary = content_type.strip_prefix("multipart/byteranges; boundary=").unwrap();
    let delimiter = format!("--{boundary}\r\n");
    let mut rest = response.body.as_slice();
    let mut parts = Vec::new();
    loop {
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        if rest == format!("--{boundary}--\r\n").as_bytes() {
            return parts;
        }
        rest = rest.strip_prefix(delimiter.as_bytes()).expect("a delimiter");
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let range = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Range: "))
            .expect("a Content-Range per part")
            .to_owned();
        let (first, last) =
            range["bytes ".len()..range.find('/').unwrap()].split_once('-').unwrap();
        let len = last.parse::<usize>().unwrap() - first.parse::<usize>().unwrap() + 1;
        rest = &rest[end + 4..];
        parts.push((range, rest[..len].to_vec()));
        rest = &rest[len..];
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn http_dates_match_known_instants() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(super::http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(super::http_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::http_date(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert!(super::is_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(!super::is_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"));
    }
}
