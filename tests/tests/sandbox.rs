//! portico-wasi's sandbox, proven with a misbehaving guest
//! (`tests/guests/misbehave.wat`): runaway loops, memory bombs and traps
//! are contained to their own request, the guest cannot read outside the
//! root or write into it, and other connections are served throughout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portico_tests::{Host, ResponseReader, Server, run_to_exit};

/// Compile the WAT guest into `dir`.
fn misbehaving_module(dir: &Path) -> PathBuf {
    let wat = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/misbehave.wat");
    let wasm = wat::parse_file(&wat).expect("the test guest is valid WAT");
    let path = dir.join("misbehave.wasm");
    std::fs::write(&path, wasm).unwrap();
    path
}

/// A web root with an index page, inside a parent holding a secret, with
/// symlinks pointing out of the root.
struct Site {
    _parent: tempfile::TempDir,
    root: PathBuf,
    module: PathBuf,
}

fn site() -> Site {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), b"<h1>index</h1>").unwrap();
    std::fs::write(root.join(".hidden"), b"hidden").unwrap();
    std::fs::write(parent.path().join("secret"), b"SECRET-MARKER").unwrap();
    std::os::unix::fs::symlink("../secret", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
    let module = misbehaving_module(parent.path());
    Site { _parent: parent, root, module }
}

fn start(site: &Site) -> Server {
    let module = site.module.to_str().unwrap();
    Server::start_with(Host::Wasi, &site.root, &["--module", module])
}

/// One request on a fresh connection: the status and body.
fn ask(server: &Server, first_byte: &str) -> Option<(u16, Vec<u8>)> {
    let mut stream = server.connect();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream.write_all(format!("{first_byte} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    ResponseReader::new(stream).next(false).map(|r| (r.status, r.body))
}

/// While a request misbehaves on one connection, another connection that
/// is already open keeps getting answers, and new ones do too.
fn contained(server: &Server, trigger: &str, expected: &[u16]) {
    let mut bystander = ResponseReader::new(server.connect());
    let ok = |reader: &mut ResponseReader| {
        reader.stream().write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let response = reader.next(false).expect("the bystander is answered");
        assert_eq!((response.status, response.body.as_slice()), (200, &b"ok"[..]));
    };
    ok(&mut bystander);

    let started = Instant::now();
    let bad = std::thread::scope(|scope| {
        let bad = scope.spawn(|| ask(server, trigger));
        // Serve others while the bad request runs (a loop runs ~1 s).
        while !bad.is_finished() && started.elapsed() < Duration::from_secs(20) {
            ok(&mut bystander);
            assert_eq!(ask(server, "GET").map(|r| r.0), Some(200));
            std::thread::sleep(Duration::from_millis(50));
        }
        bad.join().unwrap()
    });
    let (status, _) = bad.expect("the misbehaving request gets a response");
    assert!(expected.contains(&status), "{trigger}: status {status}, expected one of {expected:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{trigger} took {:?}", started.elapsed());
    // The same open connection and new ones are still served afterwards.
    ok(&mut bystander);
    assert_eq!(ask(server, "GET").map(|r| r.0), Some(200));
}

#[test]
fn runaway_loop_is_cut_off_with_503() {
    let site = site();
    let mut server = start(&site);
    contained(&server, "L", &[503]);
    assert!(server.is_running());
}

#[test]
fn memory_bomb_hits_the_cap_and_is_contained() {
    let site = site();
    let mut server = start(&site);
    contained(&server, "B", &[500, 503]);
    assert!(server.is_running());
}

#[test]
fn trap_is_500_and_the_instance_is_replaced() {
    let site = site();
    let mut server = start(&site);
    contained(&server, "T", &[500]);
    // Many traps in a row: each instance is thrown away and replaced,
    // without exhausting the pool.
    for _ in 0..200 {
        assert_eq!(ask(&server, "T").map(|r| r.0), Some(500));
    }
    assert_eq!(ask(&server, "GET").map(|r| r.0), Some(200));
    assert!(server.is_running());
}

#[test]
fn guest_cannot_escape_the_root_or_write_into_it() {
    let site = site();
    let index_before = std::fs::metadata(site.root.join("index.html")).unwrap().modified().unwrap();
    let server = start(&site);
    let (status, errnos) = ask(&server, "E").expect("an answer");
    assert_eq!(status, 200, "stderr: {:?}", server.stderr_lines());
    let attempts = [
        "open ../etc/passwd",
        "open etc-link/passwd (symlink to /etc)",
        "open escape (symlink to ../secret)",
        "create created.txt",
        "open index.html for writing",
        "truncate index.html",
        "mkdir newdir",
        "unlink index.html",
        "set the times of index.html",
        "open /etc/passwd",
    ];
    // Then the escapes by stat, answered by portico-wasi's own
    // path_filestat_get for the root.
    let stats = [
        "stat ../etc/passwd",
        "stat etc-link/passwd (symlink to /etc)",
        "stat escape (symlink to ../secret)",
        "stat /etc/passwd",
    ];
    assert_eq!(errnos.len(), attempts.len() + 1 + stats.len() + 1);
    for (attempt, errno) in attempts.iter().zip(&errnos) {
        assert_ne!(*errno, 0, "the guest could {attempt}");
    }
    assert_eq!(errnos[attempts.len()], 0, "reading index.html (the control) must work");
    let stat_errnos = &errnos[attempts.len() + 1..];
    for (attempt, errno) in stats.iter().zip(stat_errnos) {
        assert_ne!(*errno, 0, "the guest could {attempt}");
    }
    assert_eq!(stat_errnos[stats.len()], 0, "a stat of index.html (the control) must work");
    // And nothing changed on disk.
    assert!(!site.root.join("created.txt").exists());
    assert!(!site.root.join("newdir").exists());
    assert_eq!(std::fs::read(site.root.join("index.html")).unwrap(), b"<h1>index</h1>");
    let index_after = std::fs::metadata(site.root.join("index.html")).unwrap().modified().unwrap();
    assert_eq!(index_before, index_after);
}

#[test]
fn a_module_that_is_not_a_portico_guest_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("not-wasm.wasm", b"this is not wasm".to_vec()),
        ("empty.wasm", wat::parse_str("(module)").unwrap()),
        (
            "incomplete.wasm",
            wat::parse_str(
                r#"(module (memory (export "memory") 1) (func (export "_initialize"))
                   (func (export "portico_abi_version") (result i32) (i32.const 5)))"#,
            )
            .unwrap(),
        ),
        (
            "v3.wasm",
            wat::parse_str(
                r#"(module (memory (export "memory") 1) (func (export "_initialize"))
                   (func (export "portico_abi_version") (result i32) (i32.const 3)))"#,
            )
            .unwrap(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let args = ["--module", path.to_str().unwrap(), "-p", "0", dir.path().to_str().unwrap()];
        let (status, _out, err) = run_to_exit(Host::Wasi, &args);
        assert!(!status.success(), "{name} was accepted");
        assert_eq!(err.lines().count(), 1, "{name}: one line expected, got:\n{err}");
        assert!(err.starts_with("portico-wasi: error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        if name == "v3.wasm" {
            assert!(err.contains("ABI version 3, this host version 5"), "{err}");
        }
    }
}

/// The host does not trust what the guest names: a file whose size is not
/// what the guest measured (as when it changes between lookup and send)
/// closes the connection with nothing sent; a path out of the root, or a
/// range beyond the size the guest itself reported, is a broken guest
/// (500, close). The server goes on either way.
#[test]
fn host_refuses_a_file_body_it_cannot_send_as_described() {
    let site = site();
    let server = start(&site);
    let send = |trigger: &str| {
        let mut stream = server.connect();
        stream.write_all(format!("{trigger} / HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        ResponseReader::new(stream)
    };
    assert!(send("F").closed(), "F: the connection must close with nothing sent");
    let mut reader = send("P");
    let response = reader.next(false).expect("P: an answer");
    assert_eq!(response.status, 500);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(reader.closed(), "P: the connection must close");
    let mut reader = send("R");
    assert_eq!(reader.next(false).map(|r| r.status), Some(500), "R: a range beyond the file");
    assert!(reader.closed(), "R: the connection must close");
    assert_eq!(ask(&server, "GET").map(|r| r.0), Some(200));
}

/// A header value with CR LF in it would let a guest write a second
/// header (or a second response) into the head: the host's decoder
/// refuses it as a broken guest.
#[test]
fn a_header_that_would_split_the_head_is_a_fault() {
    let site = site();
    let server = start(&site);
    let mut stream = server.connect();
    stream.write_all(b"H / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = ResponseReader::new(stream);
    let response = reader.next(false).expect("an answer");
    assert_eq!(response.status, 500);
    assert_eq!(response.header("set-cookie"), None);
    assert!(reader.closed());
    assert_eq!(ask(&server, "GET").map(|r| r.0), Some(200));
}

/// A file the host will not send (hidden) or cannot open (gone since the
/// guest looked) goes back to the guest: it is called again with the same
/// input and told what the host found (1: not found), so it can answer as
/// it would natively (the site's 404 page).
#[test]
fn a_file_the_host_refuses_is_answered_again_by_the_guest() {
    let site = site();
    let server = start(&site);
    for trigger in ["D", "M"] {
        let (status, body) = ask(&server, trigger).expect("an answer");
        assert_eq!((status, body.as_slice()), (200, &[1u8][..]), "{trigger}");
    }
}

/// A guest that answers without consuming anything, keeping the
/// connection, would be stepped over the same bytes forever: the host
/// treats it as broken (500, close).
#[test]
fn a_kept_alive_answer_that_consumes_nothing_is_a_fault() {
    let site = site();
    let server = start(&site);
    let mut stream = server.connect();
    stream.write_all(b"Z / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = ResponseReader::new(stream);
    assert_eq!(reader.next(false).map(|r| r.status), Some(500));
    assert!(reader.closed());
    assert_eq!(ask(&server, "GET").map(|r| r.0), Some(200));
}

/// The epoch deadline only stops wasm code, so a guest must not be able to
/// sleep in the host: poll_oneoff is refused with ENOSYS (52), at once.
#[test]
fn the_guest_cannot_sleep_in_the_host() {
    let site = site();
    let server = start(&site);
    let started = Instant::now();
    let (status, body) = ask(&server, "S").expect("an answer");
    assert_eq!((status, body.as_slice()), (200, &[52u8][..]));
    assert!(started.elapsed() < Duration::from_secs(3), "slept {:?}", started.elapsed());
}

/// portico-wasi answers the guest's stats of the root itself: once the
/// guest closes or moves that descriptor, a stat through it must fail as
/// WASI says (EBADF), and through the descriptor it moved to, work.
#[test]
fn root_descriptor_closed_or_moved_is_seen() {
    const EBADF: u8 = 8;
    let site = site();
    let server = start(&site);
    let (status, errnos) = ask(&server, "C").expect("an answer");
    assert_eq!(status, 200, "stderr: {:?}", server.stderr_lines());
    assert_eq!(errnos, [0, EBADF], "fd_close of the root, then a stat through it");
    drop(server);

    let server = start(&site);
    let (status, errnos) = ask(&server, "N").expect("an answer");
    assert_eq!(status, 200, "stderr: {:?}", server.stderr_lines());
    assert_eq!(errnos, [0, 0, EBADF], "fd_renumber 3 to 0, a stat through 0, one through 3");
}
