//! Graceful shutdown: SIGTERM (or Ctrl-C) stops accepting, closes idle
//! connections, finishes responses in flight, and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use portico_tests::{Host, Server, get, send, temp_root};

const BIG: usize = 20 << 20;

fn big_file() -> Vec<u8> {
    (0..BIG).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(11) as u8).collect()
}

/// True once connecting to `addr` is refused; tries for `within`.
fn refused_within(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => return true,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

/// Read a response head off `stream`: (head, body bytes already read).
fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end + 4].to_vec()).unwrap();
            return (head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn sigterm_finishes_downloads_then_exits_0(host: Host) {
    let big = big_file();
    let root = temp_root(&[("big.bin", &big), ("index.html", b"home")]);
    // Several workers, as on a bigger machine: each stops accepting and
    // finishes what it holds.
    let mut server = Server::start_with(host, root.path(), &["--workers", "3"]);
    let addr = server.addr;

    // An idle keep-alive connection that has had one response.
    let mut idle = send(&server, &get("/"));
    assert_eq!(idle.next(false).unwrap().body, b"home");

    // A download, read slowly at first.
    let mut download = server.connect();
    download.write_all(&get("/big.bin")).unwrap();
    let (head, mut body) = read_head(&mut download);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {BIG}\r\n")), "{head}");
    let mut chunk = vec![0u8; 64 * 1024];
    while body.len() < 1 << 20 {
        let n = download.read(&mut chunk[..16 * 1024]).unwrap();
        assert!(n > 0);
        body.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(5));
    }

    server.signal("TERM");

    // The listener goes away at once, while the download is still going.
    assert!(refused_within(addr, Duration::from_secs(3)), "still accepting after SIGTERM");
    assert!(server.is_running(), "exited before the download finished");
    // The idle connection is closed without a response.
    assert!(idle.closed(), "the idle connection was not closed");

    // The download completes, byte for byte.
    loop {
        let n = download.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
        assert!(body.len() <= BIG, "more bytes than promised");
    }
    assert_eq!(body.len(), BIG, "the download was cut short");
    assert!(body == big, "the download's bytes differ from the file");

    let status = server.wait_exit(Duration::from_secs(10)).expect("the server did not exit");
    assert!(status.success(), "exit status {status:?}");
    assert!(refused_within(addr, Duration::from_secs(1)));
}

fn sigint_exits_0_promptly(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let mut server = Server::start(host, root.path());
    let mut reader = send(&server, &get("/"));
    assert_eq!(reader.next(false).unwrap().status, 200);
    let since = Instant::now();
    server.signal("INT");
    let status = server.wait_exit(Duration::from_secs(5)).expect("the server did not exit");
    assert!(status.success(), "{status:?}");
    assert!(since.elapsed() < Duration::from_secs(3), "took {:?}", since.elapsed());
    assert!(reader.closed());
}

fn sigterm_without_connections_exits_0(host: Host) {
    let root = temp_root(&[("index.html", b"home")]);
    let server = Server::start(host, root.path());
    let addr = server.addr;
    let since = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(since.elapsed() < Duration::from_secs(3), "took {:?}", since.elapsed());
    assert!(refused_within(addr, Duration::from_secs(1)));
}

portico_tests::for_each_host!(
    sigterm_finishes_downloads_then_exits_0,
    sigint_exits_0_promptly,
    sigterm_without_connections_exits_0,
);
