//! Many clients at once, and the connection cap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{ErrorKind, Read as _, Write as _};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use portico_tests::{
    Host, ResponseReader, Server, agent, get, static_file, static_root, temp_root,
};

const CLIENTS: usize = 100;
const REQUESTS: usize = 5;

// Three workers, not the default (one on a 2-core machine's loopback):
// the clients spread over them, as on a bigger machine.
const SPREAD: [&str; 3] = ["--quiet", "--workers", "3"];

fn hundred_keep_alive_clients_at_once(host: Host) {
    let server = Arc::new(Server::start_with(host, &static_root(), &SPREAD));
    let files = ["index.html", "style.css", "docs/index.html", "images/columns.png", "404.html"];
    let expected: Arc<Vec<Vec<u8>>> = Arc::new(files.iter().map(|f| static_file(f)).collect());
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (server, expected, start) =
                (Arc::clone(&server), Arc::clone(&expected), Arc::clone(&start));
            std::thread::spawn(move || {
                let mut reader = ResponseReader::new(server.connect());
                start.wait();
                for i in 0..REQUESTS {
                    let k = (client + i) % files.len();
                    let target = if files[k] == "404.html" {
                        format!("/missing-{client}-{i}")
                    } else {
                        format!("/{}", files[k])
                    };
                    reader.stream().write_all(&get(&target)).unwrap();
                    let response = reader
                        .next(false)
                        .unwrap_or_else(|| panic!("client {client}: no response {i}"));
                    let status = if files[k] == "404.html" { 404 } else { 200 };
                    assert_eq!(response.status, status, "client {client}, request {i}");
                    assert!(response.body == expected[k], "client {client}, request {i}: body");
                }
                REQUESTS
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|c| c.join().expect("a client failed")).sum();
    assert_eq!(answered, CLIENTS * REQUESTS);
}

fn hundred_ureq_clients_at_once(host: Host) {
    let server = Arc::new(Server::start_with(host, &static_root(), &SPREAD));
    let style = Arc::new(static_file("style.css"));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, style) = (Arc::clone(&server), Arc::clone(&style));
            std::thread::spawn(move || {
                // One agent per client: its pool keeps the connection alive.
                let agent = agent();
                for _ in 0..3 {
                    let mut response = agent.get(&server.url("/style.css")).call().unwrap();
                    assert_eq!(response.status().as_u16(), 200);
                    assert!(response.body_mut().read_to_vec().unwrap() == *style);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
}

/// A connection the server holds busy: answered once (so it is surely
/// admitted), then halfway through its next request head (so it is not
/// idle, and no new connection may close it).
fn busy(server: &Server) -> ResponseReader {
    let mut reader = ResponseReader::new(server.connect());
    let mut bytes = get("/style.css");
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n");
    reader.stream().write_all(&bytes).unwrap();
    assert_eq!(reader.next(false).unwrap().status, 200);
    reader
}

fn connections_beyond_the_cap_get_503_when_none_is_idle(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--max-connections", "2"]);
    let mut held: Vec<ResponseReader> = (0..2).map(|_| busy(&server)).collect();
    let mut third = ResponseReader::new(server.connect());
    let response = third.next(false).expect("a 503, not silence");
    assert_eq!(response.status, 503);
    assert!(response.head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(response.body.len().to_string(), response.header("content-length").unwrap());
    assert!(third.closed());
    // The held connections still work: their heads end, they are answered.
    for reader in &mut held {
        reader.stream().write_all(b"\r\n").unwrap();
        assert_eq!(reader.next(false).unwrap().status, 200);
    }
    // Once one closes, a new connection is admitted.
    drop(held.pop());
    let mut admitted = None;
    for _ in 0..100 {
        let mut reader = ResponseReader::new(server.connect());
        reader.stream().write_all(&get("/style.css")).unwrap();
        let response = reader.next(false).unwrap();
        if response.status == 200 {
            admitted = Some(response);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(admitted.is_some(), "no connection admitted after one closed");
}

fn at_the_cap_a_new_connection_closes_the_longest_idle_one(host: Host) {
    // One worker: each worker closes the longest-idle of its own
    // connections, so with one the order is exact.
    let args = ["--max-connections", "2", "--workers", "1"];
    let server = Server::start_with(host, &static_root(), &args);
    let answered = |reader: &mut ResponseReader| {
        reader.stream().write_all(&get("/style.css")).unwrap();
        assert_eq!(reader.next(false).unwrap().status, 200);
    };
    let mut oldest = ResponseReader::new(server.connect());
    answered(&mut oldest);
    let mut newer = ResponseReader::new(server.connect());
    answered(&mut newer);
    answered(&mut oldest);
    // `newer` has now been idle longest: the third connection takes its
    // place instead of being refused.
    let mut third = ResponseReader::new(server.connect());
    answered(&mut third);
    assert!(newer.closed(), "the longest-idle connection was closed");
    answered(&mut oldest);
    answered(&mut third);
    // A connection that has sent nothing yet is idle too: it takes the
    // place of `oldest`, and is then newer than `third`.
    let mut silent = ResponseReader::new(server.connect());
    assert!(oldest.closed(), "the longest-idle connection was closed");
    let mut fourth = ResponseReader::new(server.connect());
    answered(&mut fourth);
    assert!(third.closed(), "the longest-idle connection was closed");
    answered(&mut silent);
}

fn refused_client_that_already_sent_a_request_reads_the_503(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--max-connections", "1"]);
    let _held = busy(&server);
    // A client sends its request right away, as clients do. The server
    // closes without reading it; the 503 must still reach the client.
    for attempt in 0..20 {
        let mut reader = ResponseReader::new(server.connect());
        reader.stream().write_all(&get("/style.css")).unwrap();
        let response = reader.next(false);
        assert!(
            response.as_ref().is_some_and(|r| r.status == 503),
            "attempt {attempt}: no 503 (connection reset?): {response:?}"
        );
    }
}

fn stalled_clients_do_not_block_others(host: Host) {
    let big = vec![b'z'; 16 << 20];
    let root = portico_tests::temp_root(&[("big.bin", &big), ("index.html", b"home")]);
    let server = Server::start_with(host, root.path(), &["--quiet"]);
    // Clients that never finish their request head...
    let mut stalled: Vec<_> = (0..50)
        .map(|i| {
            let mut stream = server.connect();
            stream
                .write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\nX-Slow:").as_bytes())
                .unwrap();
            stream
        })
        .collect();
    // ...and clients that ask for a big file and do not read it.
    for _ in 0..5 {
        let mut stream = server.connect();
        stream.write_all(&get("/big.bin")).unwrap();
        stalled.push(stream);
    }
    std::thread::sleep(Duration::from_millis(100));
    let since = std::time::Instant::now();
    for _ in 0..10 {
        let mut reader = ResponseReader::new(server.connect());
        reader.stream().write_all(&get("/")).unwrap();
        let response = reader.next(false).expect("served while others stall");
        assert_eq!(response.body, b"home");
    }
    assert!(since.elapsed() < Duration::from_secs(2), "took {:?}", since.elapsed());
    drop(stalled);
}

/// The listener defers a connection until its client sends something
/// (TCP_DEFER_ACCEPT): a silent one holds no slot for its first second,
/// so at a cap of one the next client is served without closing it, and
/// it is handed over and held to the idle timeout after that.
fn a_silent_connection_holds_no_slot_until_the_kernel_hands_it_over(host: Host) {
    let args = ["--max-connections", "1", "--workers", "1", "--idle-timeout", "2"];
    let server = Server::start_with(host, &static_root(), &args);
    let mut silent = server.connect();
    let opened = Instant::now();
    let mut reader = ResponseReader::new(server.connect());
    reader
        .stream()
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(reader.next(false).expect("an answer at the cap").status, 200);
    // Had the server taken the silent connection, it would have closed it
    // (the longest idle) to admit the client above.
    silent.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut byte = [0u8; 1];
    match silent.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the silent connection was taken and closed: {other:?}"),
    }
    assert!(
        opened.elapsed() < Duration::from_millis(900),
        "too slow to tell: {:?}",
        opened.elapsed()
    );
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(silent.read(&mut byte).expect("the silent connection was never closed"), 0);
    let after = opened.elapsed();
    assert!(after >= Duration::from_secs(2), "closed after {after:?}, before the idle timeout");
}

/// Connections the kernel hands over together (one `accept` batch) at the
/// cap: each earlier one is served and becomes idle, so each later one
/// takes its place instead of being refused. Their requests are sent only
/// once all are connected, so they reach the listener together.
fn at_the_cap_connections_accepted_together_make_room_for_each_other(host: Host) {
    let args = ["--max-connections", "1", "--workers", "1", "--quiet"];
    let server = Server::start_with(host, &static_root(), &args);
    let mut readers: Vec<ResponseReader> =
        (0..16).map(|_| ResponseReader::new(server.connect())).collect();
    // Nothing is accepted yet (the deferred accept waits for bytes), so
    // these arrive at the listener within microseconds of each other.
    for reader in &mut readers {
        reader.stream().write_all(&get("/style.css")).unwrap();
    }
    let statuses: Vec<u16> =
        readers.iter_mut().map(|r| r.next(false).map_or(0, |response| response.status)).collect();
    assert!(statuses.iter().all(|&s| s == 200), "every client served: {statuses:?}");
    // Only the last one admitted is still open; the others made room.
    for reader in &mut readers {
        reader.stream().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    }
    let open = readers.iter_mut().map(|r| !r.closed()).filter(|&open| open).count();
    assert_eq!(open, 1, "connections left open at a cap of one");
}

/// At the cap, a worker with no idle connection of its own hands a new
/// connection to a worker that has one: that worker closes its
/// longest-idle connection and serves the new one. The idle connection is
/// put on the second worker by connecting while the first is busy with
/// thousands of pipelined requests (a new connection wakes a worker asleep
/// in `poll`, not a busy one); the unfinished heads that fill the rest of
/// the cap, and then the new client, come while both sleep and go to the
/// first. Before the hand-over the new client got 503: in 10 of 10 runs
/// by hand on both hosts, and this test failed in 5 of 6 (the placement
/// is the kernel's; the other way round the old code passed too).
fn at_the_cap_a_worker_with_no_idle_connection_hands_a_new_one_to_another(host: Host) {
    let root = temp_root(&[("s", b"small")]);
    let args = ["--max-connections", "3", "--workers", "2", "--quiet"];
    let server = Server::start_with(host, root.path(), &args);
    let request = get("/s");
    let pipelined = 20_000;
    let mut busy = ResponseReader::new(server.connect());
    let mut writer = busy.stream().try_clone().unwrap();
    let burst = request.repeat(pipelined);
    let sending = std::thread::spawn(move || writer.write_all(&burst));
    std::thread::sleep(Duration::from_millis(5));
    let mut idle = ResponseReader::new(server.connect());
    idle.stream().write_all(&request).unwrap();
    assert_eq!(idle.next(false).map(|r| r.status), Some(200));
    for i in 0..pipelined {
        assert_eq!(busy.next(false).map(|r| r.status), Some(200), "pipelined response {i}");
    }
    sending.join().unwrap().unwrap();
    // Closed, and seen closed by the server, before the cap fills.
    busy.stream().shutdown(std::net::Shutdown::Write).unwrap();
    assert!(busy.closed(), "the pipelining connection closes after its input ends");
    let mut unfinished: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for stream in &mut unfinished {
        stream.write_all(b"GET /s HTTP/1.1\r\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let mut new = ResponseReader::new(server.connect());
    new.stream().write_all(&request).unwrap();
    assert_eq!(new.next(false).map(|r| r.status), Some(200), "the new client at the cap");
    assert!(idle.closed(), "the idle connection was closed to make room");
    new.stream().write_all(&request).unwrap();
    assert_eq!(new.next(false).map(|r| r.status), Some(200), "the new client's second request");
}

portico_tests::for_each_host!(
    hundred_keep_alive_clients_at_once,
    hundred_ureq_clients_at_once,
    connections_beyond_the_cap_get_503_when_none_is_idle,
    at_the_cap_a_new_connection_closes_the_longest_idle_one,
    refused_client_that_already_sent_a_request_reads_the_503,
    stalled_clients_do_not_block_others,
    a_silent_connection_holds_no_slot_until_the_kernel_hands_it_over,
    at_the_cap_connections_accepted_together_make_room_for_each_other,
    at_the_cap_a_worker_with_no_idle_connection_hands_a_new_one_to_another,
);
