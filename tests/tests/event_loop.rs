//! The readiness loop under load and abuse: thousands of idle sockets,
//! slowloris heads, clients that never read, responses written a few
//! kilobytes at a time, files that change under the open-file cache, and
//! what the connection cap and the deadlines report at exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use portico_tests::{
    Host, RawResponse, ResponseReader, Server, exchange, get, multipart_parts, pattern, send,
    set_mtime, temp_root,
};

/// Where two byte strings first differ, for a message that says more
/// than "not equal" about a megabyte body.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!("first differing byte at {at} of {}", want.len()),
        None => format!("{} bytes, {} expected", got.len(), want.len()),
    }
}

/// A connection whose receive buffer is `bytes` (set before connecting,
/// so the window it advertises is small from the start): the server's
/// writes fill it at once and must wait for the client.
fn small_window_client(server: &Server, bytes: usize) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Raise this process's soft open-file limit to its hard limit (the
/// servers started after inherit it); the soft limit now.
fn raise_open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            eprintln!("cannot raise the open-file limit: {error}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// Sockets process `pid` has open, from `/proc`.
fn open_sockets(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Stop the server with SIGTERM and return the stderr line with the
/// exit summary (`portico: at exit: ...`).
fn exit_summary(host: Host, mut server: Server) -> String {
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(15)).expect("the server did not exit");
    assert!(status.success(), "exit status {status:?}");
    // The exit closes stderr; its reader thread may still be catching up.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = server.stderr_lines();
        let summary = lines.iter().find(|line| line.contains(": at exit: "));
        if let Some(line) = summary {
            // Every line begins with the program's own name.
            assert!(line.starts_with(&format!("{}: at exit: ", host.name())), "{line}");
            return line.clone();
        }
        assert!(Instant::now() < deadline, "no exit summary on stderr:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The connections the first test opens.
const IDLE: usize = 3_000;

fn thousands_of_idle_connections_and_a_new_client_is_served(host: Host) {
    let limit = raise_open_file_limit();
    // Both hosts' runs of this test may hold their connections at once,
    // beside the other tests of this file (the slowloris test holds 200
    // per host): each takes half of what is left after a reserve for
    // those.
    let count = usize::try_from(limit.saturating_sub(512) / 2).unwrap_or(usize::MAX);
    let count = count.clamp(10, IDLE);
    if count < IDLE {
        eprintln!(
            "{}: the open-file hard limit is {limit}: {count} idle connections, not {IDLE}",
            host.name()
        );
    }
    let data = pattern(100_000, 1);
    let root = temp_root(&[("index.html", b"home"), ("data.bin", &data)]);
    // Two workers whatever the machine, so the cap (lowered to fit the
    // open-file limit, per worker) does not depend on its core count; an
    // idle timeout no run of this test comes near.
    let args = ["--quiet", "--workers", "2", "--idle-timeout", "120"];
    let server = Server::start_with(host, root.path(), &args);

    // Every tenth connection has had one keep-alive request; the rest
    // have sent nothing.
    let mut conns: Vec<ResponseReader> = Vec::with_capacity(count);
    for i in 0..count {
        let mut reader = ResponseReader::new(server.connect());
        if i % 10 == 5 {
            reader.stream().write_all(&get("/index.html")).unwrap();
            let response =
                reader.next(false).unwrap_or_else(|| panic!("connection {i}: no response"));
            assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]), "{i}");
        }
        conns.push(reader);
    }
    // Connected is not accepted: the silent ones may still sit in the
    // listen queue. The server holds a socket for each once it took them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut held = open_sockets(server.pid());
    while held < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        held = open_sockets(server.pid());
    }
    assert!(held >= count, "the server holds {held} sockets for {count} open connections");

    let mut fresh = send(&server, &get("/data.bin"));
    let response = fresh.next(false).expect("a new client among idle thousands is answered");
    assert_eq!(response.status, 200);
    assert!(response.body == data, "{}", first_difference(&response.body, &data));

    // None of the idle connections was closed to make room: the oldest
    // one that has had a request, the oldest that sent nothing, and the
    // newest are all still served.
    for i in [5, 0, count - 1] {
        let reader = &mut conns[i];
        reader.stream().write_all(&get("/index.html")).unwrap();
        let response = reader.next(false).unwrap_or_else(|| panic!("idle connection {i} closed"));
        assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]), "{i}");
    }
}

/// Slowloris connections at once.
const SLOW_CLIENTS: usize = 200;

/// A slowloris connection: a head begun, then a byte now and then.
struct Slow {
    stream: TcpStream,
    first_byte: Instant,
    received: Vec<u8>,
    answered: Option<Instant>,
    ended: Option<Instant>,
}

impl Slow {
    /// Take what the server sent; then, while it has said nothing, one
    /// more byte of the head.
    fn tick(&mut self, trickle: &[u8], sent: usize) {
        let mut chunk = [0u8; 1024];
        while self.ended.is_none() {
            match self.stream.read(&mut chunk) {
                Ok(0) => self.ended = Some(Instant::now()),
                Ok(n) => {
                    self.received.extend_from_slice(&chunk[..n]);
                    self.answered.get_or_insert_with(Instant::now);
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                // A reset: the connection is over too.
                Err(_) => self.ended = Some(Instant::now()),
            }
        }
        if self.ended.is_none() && self.received.is_empty() {
            let byte = &trickle[sent % trickle.len()..][..1];
            // A failed write shows as a reset at the next read.
            let _ = self.stream.write(byte);
        }
    }
}

fn slowloris_is_closed_at_the_head_deadline_while_others_are_served(host: Host) {
    const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
    let root = temp_root(&[("index.html", b"home")]);
    let args = ["--quiet", "--head-timeout", "2"];
    let server = Arc::new(Server::start_with(host, root.path(), &args));

    let mut slow: Vec<Slow> = (0..SLOW_CLIENTS)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            let first_byte = Instant::now();
            stream.set_nonblocking(true).unwrap();
            Slow { stream, first_byte, received: Vec::new(), answered: None, ended: None }
        })
        .collect();

    // Other clients, one after another on new connections, while the
    // slowloris connections are open.
    let stop = Arc::new(AtomicBool::new(false));
    let others = {
        let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut served = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = exchange(&server, &get("/index.html"))
                    .expect("a client is answered while slowloris connections trickle");
                assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]));
                served.push(Instant::now());
                std::thread::sleep(Duration::from_millis(20));
            }
            served
        })
    };

    // Each tick sends every stalled head one byte more: a server that
    // restarted the head deadline at each byte would never answer.
    let trickle = b"X-Slowloris: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let give_up = Instant::now() + HEAD_TIMEOUT + Duration::from_secs(6);
    let mut sent = 0;
    while slow.iter().any(|s| s.ended.is_none()) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(300));
        for s in &mut slow {
            s.tick(trickle, sent);
        }
        sent += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let served = others.join().expect("another client was not served");

    for (i, s) in slow.iter().enumerate() {
        let text = String::from_utf8_lossy(&s.received);
        let answered = s.answered.unwrap_or_else(|| {
            panic!("slowloris {i}: no answer {:?} after its first byte", s.first_byte.elapsed())
        });
        assert!(text.starts_with("HTTP/1.1 408 "), "slowloris {i}: {text}");
        let after = answered - s.first_byte;
        assert!(
            after >= HEAD_TIMEOUT / 2 && after <= HEAD_TIMEOUT + Duration::from_secs(5),
            "slowloris {i}: answered {after:?} after its first byte, the head timeout is 2 s"
        );
        assert!(s.ended.is_some(), "slowloris {i}: still open after its 408");
    }
    let first_answer = slow.iter().filter_map(|s| s.answered).min().unwrap();
    assert!(
        served.iter().any(|&at| at < first_answer),
        "no other client was served while the slowloris connections were open"
    );
}

fn a_client_that_never_reads_is_dropped_at_the_send_timeout(host: Host) {
    const LEN: usize = 32 << 20;
    const SEND_TIMEOUT: Duration = Duration::from_secs(2);
    let big = pattern(LEN, 2);
    let root = temp_root(&[("big.bin", &big), ("index.html", b"home")]);
    // The access log stays on: the line of the dropped response says when
    // the server gave up on it.
    let server = Server::start_with(host, root.path(), &["--send-timeout", "2"]);

    let mut stalled = small_window_client(&server, 4096);
    stalled.write_all(&get("/big.bin")).unwrap();
    let asked = Instant::now();

    let (line, after) = loop {
        let response =
            exchange(&server, &get("/index.html")).expect("served while another client stalls");
        assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]));
        let other = server.log_lines().into_iter().find(|line| !line.contains("/index.html"));
        if let Some(line) = other {
            break (line, asked.elapsed());
        }
        assert!(
            asked.elapsed() < SEND_TIMEOUT + Duration::from_secs(8),
            "the response nobody reads was not dropped within {:?}",
            asked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(after >= SEND_TIMEOUT / 2, "dropped {after:?} after the request: {line}");
    // `... "request line" 200 BYTES`: the body bytes sent before the drop.
    let mut fields = line.rsplit(' ');
    let bytes = fields.next().unwrap();
    let status = fields.next().unwrap();
    assert_eq!(status, "200", "{line}");
    let bytes = if bytes == "-" { 0 } else { bytes.parse::<usize>().unwrap() };
    assert!(bytes < LEN, "logged as sent whole: {line}");

    // The server closed the connection: what its buffers held still
    // arrives, then the end of the stream, well short of the file.
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match stalled.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the dropped connection is still open ({} bytes read)", received.len())
            }
            // A reset also ends it.
            Err(_) => break,
        }
    }
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&received[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {LEN}\r\n")), "{head}");
    let body = &received[head_end..];
    assert!(body.len() < LEN, "the whole file arrived: the response was not dropped");
    assert!(body == &big[..body.len()], "{}", first_difference(body, &big[..body.len()]));

    let summary = exit_summary(host, server);
    assert!(
        summary.ends_with(": at exit: 1 response(s) dropped after the send timeout"),
        "{summary}"
    );
}

fn a_dropped_response_is_logged_with_its_request_line(host: Host) {
    let root = temp_root(&[("big.bin", &pattern(32 << 20, 4))]);
    let server = Server::start_with(host, root.path(), &["--send-timeout", "1"]);
    let mut stalled = small_window_client(&server, 4096);
    stalled.write_all(&get("/big.bin")).unwrap();
    let lines = server.wait_for_log(1);
    assert_eq!(lines.len(), 1, "no access-log line for the dropped response");
    assert!(lines[0].contains("\"GET /big.bin HTTP/1.1\" 200 "), "{}", lines[0]);
}

/// Reads responses a kilobyte at a time, pausing now and then: a client
/// slower than the server, whose small window takes a few kilobytes.
struct SlowReader {
    stream: TcpStream,
    buf: Vec<u8>,
    reads: usize,
}

impl SlowReader {
    fn fill(&mut self) {
        let mut chunk = [0u8; 1024];
        let n = self.stream.read(&mut chunk).expect("the response was cut short");
        assert!(n > 0, "the connection closed mid-response");
        self.buf.extend_from_slice(&chunk[..n]);
        self.reads += 1;
        if self.reads.is_multiple_of(16) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn next(&mut self) -> RawResponse {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map_or(0, |(_, value)| value.parse().unwrap());
        self.buf.drain(..head_end);
        while self.buf.len() < len {
            self.fill();
        }
        let body = self.buf.drain(..len).collect();
        RawResponse { status, head, headers, body }
    }
}

fn partial_writes_deliver_every_byte(host: Host) {
    const LEN: usize = 4 << 20;
    // Responses in the burst: more bytes than the server's socket buffer
    // (512 KiB on loopback) and the client's window hold.
    const BURST: usize = 64;
    let data = pattern(LEN, 3);
    let small = b"small, and answered after the big ones";
    // As large as a file sent with its head in one `send` may be.
    let page = pattern(16 * 1024, 5);
    let root = temp_root(&[("big.bin", &data), ("small.txt", small), ("page.bin", &page)]);
    let server = Server::start_with(host, root.path(), &["--quiet"]);
    let mut client =
        SlowReader { stream: small_window_client(&server, 4096), buf: Vec::new(), reads: 0 };

    client.stream.write_all(&get("/big.bin")).unwrap();
    let whole = client.next();
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "the whole file: {}", first_difference(&whole.body, &data));

    // Several ranges (head, part heads and file ranges each cut wherever
    // the window closes), and a request pipelined behind them that waits
    // in the server until the multipart response is out.
    let mut requests = b"GET /big.bin HTTP/1.1\r\nHost: portico.test\r\n\
                         Range: bytes=0-99,1000000-1999999,3000000-\r\n\r\n"
        .to_vec();
    requests.extend_from_slice(&get("/small.txt"));
    client.stream.write_all(&requests).unwrap();
    let multipart = client.next();
    assert_eq!(multipart.status, 206, "{}", multipart.head);
    let got = multipart_parts(&multipart);
    let expected = [(0, 99), (1_000_000, 1_999_999), (3_000_000, LEN - 1)];
    assert_eq!(got.len(), expected.len(), "{}", multipart.head);
    for ((range, bytes), (first, last)) in got.iter().zip(expected) {
        assert_eq!(range, &format!("bytes {first}-{last}/{LEN}"));
        assert!(
            *bytes == data[first..=last],
            "{range}: {}",
            first_difference(bytes, &data[first..=last])
        );
    }
    let pipelined = client.next();
    assert_eq!((pipelined.status, pipelined.body.as_slice()), (200, &small[..]));

    // A burst of small responses, each one `send` with its head (a file of
    // 16 KiB, an error page): the one that meets a full socket goes only
    // in part, and must go on from the same byte.
    let mut burst = Vec::new();
    for i in 0..BURST {
        burst.extend_from_slice(&get(if i % 4 == 3 { "/missing" } else { "/page.bin" }));
    }
    client.stream.write_all(&burst).unwrap();
    for i in 0..BURST {
        let response = client.next();
        if i % 4 == 3 {
            assert_eq!(response.status, 404, "burst {i}: {}", response.head);
        } else {
            assert_eq!(response.status, 200, "burst {i}: {}", response.head);
            assert!(
                response.body == page,
                "burst {i}: {}",
                first_difference(&response.body, &page)
            );
        }
    }

    // The connection is back to waiting for requests, nothing left over.
    client.stream.write_all(&get("/small.txt")).unwrap();
    let last = client.next();
    assert_eq!((last.status, last.body.as_slice()), (200, &small[..]));
    assert!(client.buf.is_empty(), "bytes beyond the last response: {:?}", client.buf);
}

fn a_file_changed_between_requests_is_served_new(host: Host) {
    let root = temp_root(&[]);
    // Old enough that a small file's bytes are kept in the cache.
    let old = SystemTime::now() - Duration::from_secs(3600);
    // One worker: every request meets the one cache of open files.
    let server = Server::start_with(host, root.path(), &["--quiet", "--workers", "1"]);
    let mut kept = ResponseReader::new(server.connect());
    let mut ask = |name: &str| {
        kept.stream().write_all(&get(&format!("/{name}"))).unwrap();
        let on_kept = kept.next(false).expect("an answer on the kept-alive connection");
        let on_new = exchange(&server, &get(&format!("/{name}"))).expect("an answer");
        [on_kept, on_new]
    };
    let mut expect = |name: &str, content: &[u8], what: &str| {
        // Twice: the first refills the cache, the second is served from it.
        for response in ask(name).into_iter().chain(ask(name)) {
            assert_eq!(response.status, 200, "{name} {what}");
            assert!(
                response.body == content,
                "{name} {what}: {}",
                first_difference(&response.body, content)
            );
        }
    };

    for (seed, name, len) in [(10, "small.txt", 1024), (20, "big.bin", 100 * 1024)] {
        let path = root.path().join(name);
        let v1 = pattern(len, seed);
        std::fs::write(&path, &v1).unwrap();
        set_mtime(&path, old);
        expect(name, &v1, "as first written");

        // The same file, its mtime put back: only its length changed.
        let v2 = pattern(len + 100, seed + 1);
        std::fs::write(&path, &v2).unwrap();
        set_mtime(&path, old);
        expect(name, &v2, "rewritten in place to another length");

        // The same file and length: only the mtime changed.
        let v3 = pattern(len + 100, seed + 2);
        std::fs::write(&path, &v3).unwrap();
        set_mtime(&path, old + Duration::from_secs(10));
        expect(name, &v3, "rewritten in place to the same length");

        // Another file renamed over it, with the same length and mtime:
        // only the inode changed (the cache's open handle keeps the old
        // inode from being reused).
        let v4 = pattern(len + 100, seed + 3);
        let fresh = root.path().join(format!("{name}.new"));
        std::fs::write(&fresh, &v4).unwrap();
        set_mtime(&fresh, old + Duration::from_secs(10));
        std::fs::rename(&fresh, &path).unwrap();
        expect(name, &v4, "replaced by a rename");
    }

    std::fs::remove_file(root.path().join("small.txt")).unwrap();
    for response in ask("small.txt") {
        assert_eq!(response.status, 404, "deleted: {}", response.head);
    }

    let old_bytes = std::fs::read(root.path().join("big.bin")).unwrap();
    std::fs::remove_file(root.path().join("big.bin")).unwrap();
    std::fs::create_dir(root.path().join("big.bin")).unwrap();
    for response in ask("big.bin") {
        assert_eq!(response.status, 301, "now a directory: {}", response.head);
        assert_eq!(response.header("location"), Some("/big.bin/"));
        assert!(response.body != old_bytes);
    }
}

fn eviction_counts_and_shutdown_summary(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let args = ["--quiet", "--max-connections", "2", "--workers", "1"];
    let server = Server::start_with(host, root.path(), &args);
    let answered = |reader: &mut ResponseReader| {
        let response = reader.next(false).expect("an answer");
        assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]));
    };
    // Answered once, then half of a second head sent with the first, so
    // the server holds it before it answers: busy, not idle.
    let busy = || {
        let mut bytes = get("/");
        bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n");
        let mut reader = send(&server, &bytes);
        answered(&mut reader);
        reader
    };
    let mut idle = send(&server, &get("/"));
    answered(&mut idle);
    let mut first = busy();
    // At the cap: admitted by closing the idle one.
    let mut second = busy();
    assert!(idle.closed(), "the idle connection was not closed to admit another");
    // At the cap with none idle: refused.
    let refused = exchange(&server, &get("/")).expect("a 503, not silence");
    assert_eq!(refused.status, 503, "{}", refused.head);
    for reader in [&mut first, &mut second] {
        reader.stream().write_all(b"\r\n").unwrap();
        answered(reader);
    }
    drop((first, second));
    // The notice while running, under the program's own name.
    let deadline = Instant::now() + Duration::from_secs(5);
    let notice = loop {
        let lines = server.stderr_lines();
        if let Some(line) = lines.iter().find(|line| line.contains("at the connection cap (2)")) {
            break line.clone();
        }
        assert!(Instant::now() < deadline, "no notice of the cap:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(notice.starts_with(&format!("{}: at the connection cap", host.name())), "{notice}");

    let summary = exit_summary(host, server);
    assert!(
        summary.ends_with(
            ": at exit: 1 idle connection(s) closed at the connection cap; \
             1 connection(s) refused at the connection cap (503)"
        ),
        "{summary}"
    );
}

/// After a client's last request (`Connection: close`, no body) the server
/// closes at once, as nginx does: the client's socket still open, its slot
/// is free for the next (at a cap of one: no 503). Input that may still be
/// on its way (a body behind the last request) gets the lingering close:
/// read and dropped, so the client sees an orderly end, not a reset.
fn a_last_request_is_closed_at_once_and_a_body_still_coming_is_drained(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let args = ["--quiet", "--max-connections", "1", "--workers", "1"];
    let server = Server::start_with(host, root.path(), &args);
    let last = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for round in 0..5 {
        let mut first = send(&server, last);
        let response = first.next(false).expect("an answer");
        assert_eq!((response.status, response.body.as_slice()), (200, &b"home"[..]));
        // An orderly end (EOF), not a reset.
        match first.stream().read(&mut [0u8; 64]) {
            Ok(0) => {}
            other => panic!("round {round}: a close expected, got {other:?}"),
        }
        // `first` stays open on this side: the server must not wait for it.
        let next = exchange(&server, &get("/")).expect("an answer");
        assert_eq!(next.status, 200, "round {round}: the slot was still held: {}", next.head);
        drop(first);
    }

    // A body announced behind the last request, most of it sent only after
    // the response came back.
    let body_len = 256 * 1024;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {body_len}\r\n\r\n"
    );
    let mut post = send(&server, head.as_bytes());
    let response = post.next(false).expect("an answer");
    assert_eq!(response.header("connection"), Some("close"), "{}", response.head);
    assert!(post.closed(), "the server did not finish its side");
    let body = vec![b'x'; body_len];
    for chunk in body.chunks(16 * 1024) {
        post.stream().write_all(chunk).expect("the rest of the body was refused");
        std::thread::sleep(Duration::from_millis(5));
    }
    post.stream().shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = [0u8; 64];
    match post.stream().read(&mut rest) {
        Ok(0) => {}
        other => panic!("an orderly end expected after the body, got {other:?}"),
    }
}

/// Every short connection that waited for its request leaves its first
/// deadline in the worker's timer heap; the heap drops those when it
/// grows past twice the connections. A slowloris head and an idle
/// keep-alive connection opened before thousands of such connections must
/// still be closed at their own deadlines after that.
fn deadlines_hold_after_thousands_of_short_connections(host: Host) {
    const HEAD_TIMEOUT: Duration = Duration::from_secs(3);
    const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
    const BATCH: usize = 200;
    const BATCHES: usize = 8;
    let root = temp_root(&[("index.html", b"home")]);
    // One worker, so every connection's deadline is in the same heap.
    let args = ["--quiet", "--workers", "1", "--head-timeout", "3", "--idle-timeout", "4"];
    let server = Server::start_with(host, root.path(), &args);

    let started = Instant::now();
    let mut slow = server.connect();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut idle = server.connect();
    idle.write_all(&get("/index.html")).unwrap();
    let mut reader = ResponseReader::new(idle.try_clone().unwrap());
    let first = reader.next(false).expect("the keep-alive connection's answer");
    assert_eq!(first.status, 200, "{}", first.head);
    let idle_since = Instant::now();

    // Batches of connections that each send the start of a head, wait,
    // then the rest, so each waits in the loop (and arms a deadline)
    // first: a connection that sent nothing would not even be accepted
    // yet (the deferred accept), and a whole request is answered at once.
    let (start, rest) =
        (&b"GET /index.html HTTP/1.1\r\n"[..], &b"Host: x\r\nConnection: close\r\n\r\n"[..]);
    for batch in 0..BATCHES {
        let mut streams: Vec<TcpStream> = (0..BATCH).map(|_| server.connect()).collect();
        for stream in &mut streams {
            stream.write_all(start).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        for stream in &mut streams {
            stream.write_all(rest).unwrap();
        }
        for (i, stream) in streams.iter_mut().enumerate() {
            let mut response = Vec::new();
            stream.read_to_end(&mut response).unwrap();
            assert!(
                response.starts_with(b"HTTP/1.1 200 ") && response.ends_with(b"home"),
                "batch {batch}, connection {i}: {}",
                String::from_utf8_lossy(&response)
            );
        }
    }
    assert!(
        started.elapsed() < HEAD_TIMEOUT,
        "the short connections took {:?}, past the head timeout: the test proves nothing",
        started.elapsed()
    );

    slow.set_read_timeout(Some(HEAD_TIMEOUT + Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).expect("the slowloris connection was never closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408 "), "slowloris: {text}");
    let after = started.elapsed();
    assert!(after >= HEAD_TIMEOUT - Duration::from_millis(500), "408 after {after:?}");

    idle.set_read_timeout(Some(IDLE_TIMEOUT + Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    match idle.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "the idle connection got {rest:?}"),
        Err(error) => panic!("the idle connection was never closed: {error}"),
    }
    let after = idle_since.elapsed();
    assert!(after >= IDLE_TIMEOUT - Duration::from_millis(500), "closed after {after:?}");
}

/// A file truncated while it is being sent: the response ends at the
/// file's new end and the connection closes at once (not at the send
/// timeout), the access log has the line with the bytes sent, and the
/// exit summary counts it.
fn a_file_truncated_while_sent_ends_the_response_at_once(host: Host) {
    const LEN: usize = 48 << 20;
    const CUT: usize = 16 << 20;
    let big = pattern(LEN, 7);
    let root = temp_root(&[("big.bin", &big)]);
    let server = Server::start_with(host, root.path(), &["--send-timeout", "60"]);
    let mut client = small_window_client(&server, 64 * 1024);
    client.write_all(&get("/big.bin")).unwrap();
    // Some of the body, so the server is well into the file; its buffers
    // hold far less than CUT.
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while received.len() < 1 << 20 {
        let n = client.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        received.extend_from_slice(&chunk[..n]);
    }
    let file = std::fs::OpenOptions::new().write(true).open(root.path().join("big.bin")).unwrap();
    file.set_len(CUT as u64).unwrap();
    let cut_at = Instant::now();
    loop {
        match client.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "the connection hangs {:?} after the file shrank ({} bytes read)",
                    cut_at.elapsed(),
                    received.len()
                )
            }
            Err(error) => panic!("{error}"),
        }
    }
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&received[..head_end]);
    assert!(head.contains(&format!("\r\nContent-Length: {LEN}\r\n")), "{head}");
    let body = &received[head_end..];
    assert_eq!(body.len(), CUT, "the body ends where the file now ends");
    assert!(body == &big[..CUT], "{}", first_difference(body, &big[..CUT]));

    let line = server.wait_for_log(1).remove(0);
    assert!(line.ends_with(&format!(" 200 {CUT}")), "{line}");
    let summary = exit_summary(host, server);
    assert!(
        summary.contains("1 response(s) cut short: their file shrank while it was sent"),
        "{summary}"
    );
    assert!(!summary.contains("connection cap") && !summary.contains("send timeout"), "{summary}");
}

portico_tests::for_each_host!(
    a_file_truncated_while_sent_ends_the_response_at_once,
    a_last_request_is_closed_at_once_and_a_body_still_coming_is_drained,
    thousands_of_idle_connections_and_a_new_client_is_served,
    slowloris_is_closed_at_the_head_deadline_while_others_are_served,
    a_client_that_never_reads_is_dropped_at_the_send_timeout,
    partial_writes_deliver_every_byte,
    a_file_changed_between_requests_is_served_new,
    eviction_counts_and_shutdown_summary,
    a_dropped_response_is_logged_with_its_request_line,
    deadlines_hold_after_thousands_of_short_connections,
);
