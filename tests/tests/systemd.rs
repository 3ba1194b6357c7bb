//! systemd socket activation, end to end: `systemd-socket-activate` binds
//! and listens as a socket unit would, and starts the server with the
//! socket as fd 3; anything else on fd 3 is refused in one line.
//!
//! Without `systemd-socket-activate` those tests print `SKIPPED` and pass;
//! the ones that fake the protocol with `sh` always run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portico_tests::{
    Host, Server, Stdout, agent, assert_one_line_failure, free_port, run_command_to_exit,
    static_file, static_root,
};

const ACTIVATE: &str = "systemd-socket-activate";

/// Whether `systemd-socket-activate` runs; if not, says `test` is skipped.
fn activate_installed(test: &str, host: Host) -> bool {
    let runs = Command::new(ACTIVATE)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !runs {
        eprintln!("SKIPPED {test} ({host:?}): {ACTIVATE} is not installed");
    }
    runs
}

/// `systemd-socket-activate [extra] -l 127.0.0.1:PORT... BINARY args ROOT`.
fn activate(host: Host, ports: &[u16], extra: &[&str], args: &[&str]) -> Command {
    let mut cmd = Command::new(ACTIVATE);
    cmd.args(extra);
    for port in ports {
        cmd.arg(format!("--listen=127.0.0.1:{port}"));
    }
    cmd.arg(host.binary()).args(args).arg(static_root());
    cmd
}

/// Connect to `addr` as soon as something listens there (at most 30 s),
/// send a GET for /style.css and return everything read until the server
/// closes. systemd-socket-activate starts the server on this connection.
fn first_request(addr: SocketAddr) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            match TcpStream::connect(addr) {
                Ok(stream) => break stream,
                Err(error) if Instant::now() > deadline => panic!("connect {addr}: {error}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let request = "GET /style.css HTTP/1.1\r\nHost: portico.test\r\nConnection: close\r\n\r\n";
        // The server may refuse the connection (these tests expect it
        // to), so a failed write is an answer too.
        let _ = stream.write_all(request.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        answer
    })
}

/// A child whose stderr lines are collected as they come; killed when
/// dropped.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start systemd-socket-activate");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    /// Wait until systemd-socket-activate says it listens on every one of
    /// `ports`: connecting earlier could reach whatever else took a port
    /// freed by `free_port` while the whole suite runs.
    fn wait_listening(&self, ports: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let all = || {
            let lines = self.lines.lock().unwrap();
            ports.iter().all(|port| {
                let said = format!("Listening on 127.0.0.1:{port} ");
                lines.iter().any(|line| line.starts_with(&said))
            })
        };
        while !all() {
            let lines = self.lines.lock().unwrap().clone();
            assert!(Instant::now() < deadline, "{ACTIVATE} did not listen on {ports:?}: {lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines `host` printed (systemd-socket-activate prints its own),
    /// once there is at least one and a moment has passed for more.
    fn host_lines(&self, host: Host) -> Vec<String> {
        let prefix = format!("{}: ", host.name());
        let ours = || -> Vec<String> {
            let lines = self.lines.lock().unwrap();
            lines.iter().filter(|line| line.starts_with(&prefix)).cloned().collect()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ours().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        ours()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags of fd 3 of `pid`, from /proc (`flags: 02000002`).
fn fd3_flags(pid: u32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/3")).unwrap();
    let flags = info.lines().find_map(|line| line.strip_prefix("flags:")).unwrap();
    u32::from_str_radix(flags.trim(), 8).unwrap()
}

fn serves_on_the_socket_systemd_passed(host: Host) {
    if !activate_installed("serves_on_the_socket_systemd_passed", host) {
        return;
    }
    let port = free_port();
    // -p and -b are ignored: binding 192.0.2.1 (not on this machine) or
    // port 1 would fail.
    let cmd = activate(host, &[port], &[], &["-p", "1", "-b", "192.0.2.1"]);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The server starts on the first connection, and answers it.
    let first = first_request(addr);
    let server = Server::spawn_command(host, cmd, Stdout::Read);
    let first = first.join().unwrap();
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").expect("a response") + 4;
    assert!(first.starts_with(b"HTTP/1.1 200 "), "{}", String::from_utf8_lossy(&first));
    assert!(first[head_end..] == static_file("style.css"));

    let root = std::fs::canonicalize(static_root()).unwrap();
    let expected = format!(
        "{}: serving {} at http://127.0.0.1:{port}/ (socket from systemd)",
        host.name(),
        root.display()
    );
    assert_eq!(server.banner(), expected);
    assert_eq!(server.addr, addr);

    // The server kept systemd's socket as fd 3, made it close-on-exec
    // (systemd passes it without, to survive the exec) and non-blocking
    // (its workers accept from a readiness loop).
    let link = std::fs::read_link(format!("/proc/{}/fd/3", server.pid())).unwrap();
    assert!(link.to_string_lossy().starts_with("socket:"), "{link:?}");
    let flags = fd3_flags(server.pid());
    assert_ne!(flags & 0o2_000_000, 0, "fd 3 is not O_CLOEXEC: {flags:o}");
    assert_ne!(flags & 0o4000, 0, "fd 3 is not O_NONBLOCK: {flags:o}");

    let mut response = agent().get(&server.url("/style.css")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.body_mut().read_to_vec().unwrap() == static_file("style.css"));
    assert_eq!(server.wait_for_log(2).len(), 2);
    // SIGTERM (what `systemctl stop` sends) ends it cleanly.
    assert!(server.terminate().success());
}

fn a_connection_on_fd_3_is_refused(host: Host) {
    if !activate_installed("a_connection_on_fd_3_is_refused", host) {
        return;
    }
    // --accept: a socket unit with Accept=yes, which passes each
    // connection rather than the listening socket.
    let port = free_port();
    let running = Running::start(activate(host, &[port], &["--accept"], &["-p", "0"]));
    running.wait_listening(&[port]);
    let answer = first_request(SocketAddr::from(([127, 0, 0, 1], port))).join().unwrap();
    assert_eq!(String::from_utf8_lossy(&answer), "", "the server answered");
    let expected = format!(
        "{}: error: cannot use the socket systemd passed (LISTEN_FDS=1): fd 3 is a connection, \
         not a listening socket (the socket unit needs Accept=no)",
        host.name()
    );
    assert_eq!(running.host_lines(host), [expected]);
}

fn two_sockets_are_refused(host: Host) {
    if !activate_installed("two_sockets_are_refused", host) {
        return;
    }
    let (one, two) = (free_port(), free_port());
    let mut running = Running::start(activate(host, &[one, two], &[], &["-p", "0"]));
    running.wait_listening(&[one, two]);
    let answer = first_request(SocketAddr::from(([127, 0, 0, 1], one))).join().unwrap();
    assert_eq!(String::from_utf8_lossy(&answer), "", "the server answered");
    let expected = format!(
        "{}: error: systemd passed 2 sockets (LISTEN_FDS=2) and this server listens on one: \
         give its socket unit a single ListenStream=",
        host.name()
    );
    assert_eq!(running.host_lines(host), [expected]);
    let status = running.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

/// `sh` sets the variables for its own pid and opens `fd3` (if any) as
/// fd 3, then execs the server in its place, keeping the pid:
/// systemd's protocol with anything on fd 3.
fn fake_activation(host: Host, listen_fds: &str, fd3: Option<&Path>, args: &[&str]) -> Command {
    let redirect = if fd3.is_some() { r#"exec 3<"$FD3"; "# } else { "" };
    let script = format!(r#"export LISTEN_PID=$$ LISTEN_FDS='{listen_fds}'; {redirect}exec "$@""#);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, "sh"]).arg(host.binary()).args(args).arg(static_root());
    if let Some(path) = fd3 {
        cmd.env("FD3", path);
    }
    cmd
}

fn a_file_on_fd_3_is_refused(host: Host) {
    let file = static_root().join("style.css");
    let cmd = fake_activation(host, "1", Some(&file), &["-p", "0"]);
    let line = assert_one_line_failure(host, "a file on fd 3", run_command_to_exit(cmd));
    let expected = format!(
        "{}: error: cannot use the socket systemd passed (LISTEN_FDS=1): \
         fd 3 is not a socket but a file",
        host.name()
    );
    assert_eq!(line, expected);
}

fn a_listen_fds_that_is_not_a_number_is_refused(host: Host) {
    let cmd = fake_activation(host, "lots", None, &["-p", "0"]);
    let line = assert_one_line_failure(host, "LISTEN_FDS=lots", run_command_to_exit(cmd));
    assert_eq!(
        line,
        format!(r#"{}: error: LISTEN_FDS="lots" is not a number of sockets"#, host.name())
    );
}

fn another_process_s_sockets_are_ignored(host: Host) {
    // LISTEN_PID names another process (the variables were inherited):
    // fd 3 is not ours to take; bind as told.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"export LISTEN_PID=1 LISTEN_FDS=1; exec "$@""#, "sh"])
        .arg(host.binary())
        .args(["-p", "0", "-b", "127.0.0.1"])
        .arg(static_root());
    let server = Server::spawn_command(host, cmd, Stdout::Read);
    assert!(!server.banner().contains("systemd"), "{}", server.banner());
    let mut response = agent().get(&server.url("/style.css")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.body_mut().read_to_vec().unwrap() == static_file("style.css"));
}

portico_tests::for_each_host!(
    serves_on_the_socket_systemd_passed,
    a_connection_on_fd_3_is_refused,
    two_sockets_are_refused,
    a_file_on_fd_3_is_refused,
    a_listen_fds_that_is_not_a_number_is_refused,
    another_process_s_sockets_are_ignored,
);
