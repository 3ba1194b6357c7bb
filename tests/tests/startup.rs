//! Start-up that helps: a server on every address (`0.0.0.0`, `::`) says
//! every URL it answers at, under a first line that stays machine-readable;
//! a start that fails says why in one line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use portico_tests::{
    Host, Server, agent, assert_one_line_failure, run_to_exit, static_file, static_root,
};

/// The banner every server prints first: `NAME: serving ROOT at URL`.
fn banner(host: Host, url: &str) -> String {
    let root = std::fs::canonicalize(static_root()).unwrap();
    format!("{}: serving {} at {url}", host.name(), root.display())
}

/// The addresses of the interfaces that are up, as `ip` sees them (an
/// independent view of what getifaddrs tells the server); `None` without
/// `ip`.
fn machine_addresses() -> Option<Vec<IpAddr>> {
    let out = Command::new("ip").args(["-o", "addr", "show", "up"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // `2: eth0    inet 192.0.2.2/24 brd ... scope global eth0`
    let addresses = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != "inet" && *w != "inet6");
            words.next()?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect();
    Some(addresses)
}

/// The URL lines printed under the banner. They are all written before
/// the server accepts a connection, so call this after a request was
/// answered; it waits for at least `expected` lines (the reader thread may
/// lag), then a little more for lines that should not be there.
fn url_lines(server: &Server, expected: usize) -> Vec<String> {
    let lines = || -> Vec<String> {
        let all = server.stderr_lines();
        all.into_iter().skip(1).filter(|line| line.starts_with("  ")).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while lines().len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    lines()
}

/// GET /style.css at `url` and check the bytes.
fn get_style(url: &str) {
    let mut response = agent().get(&format!("{url}style.css")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    assert!(response.body_mut().read_to_vec().unwrap() == static_file("style.css"), "{url}");
}

/// Check `lines` against what a server on `port` should print for these
/// `families` (IPv4, IPv6): loopback first, every up address once, no
/// IPv6 link-local one, each an address of this machine.
fn check_urls(lines: &[String], port: u16, ipv4: bool, ipv6: bool) {
    let mut printed = Vec::new();
    for line in lines {
        let url = line.strip_prefix("  http://").and_then(|l| l.strip_suffix('/'));
        let addr: std::net::SocketAddr =
            url.and_then(|u| u.parse().ok()).unwrap_or_else(|| panic!("not a URL line: {line:?}"));
        assert_eq!(addr.port(), port, "{line}");
        let ip = addr.ip();
        assert!(if ip.is_ipv4() { ipv4 } else { ipv6 }, "a URL of the wrong family: {line}");
        if let IpAddr::V6(v6) = ip {
            assert!(!v6.is_unicast_link_local(), "a link-local URL without its zone: {line}");
        }
        // Only an address of this machine can be bound (no traffic).
        assert!(TcpListener::bind((ip, 0)).is_ok(), "{ip} is not an address of this machine");
        printed.push(ip);
    }
    assert!(printed.first().is_some_and(IpAddr::is_loopback), "loopback first: {lines:?}");
    let unique: BTreeSet<IpAddr> = printed.iter().copied().collect();
    assert_eq!(unique.len(), printed.len(), "an address twice: {lines:?}");
    let Some(machine) = machine_addresses() else {
        eprintln!("SKIPPED comparing with `ip addr`: ip is not installed");
        return;
    };
    let expected: BTreeSet<IpAddr> = machine
        .into_iter()
        .filter(|ip| match ip {
            IpAddr::V4(_) => ipv4,
            IpAddr::V6(v6) => ipv6 && !v6.is_unicast_link_local(),
        })
        .collect();
    assert_eq!(unique, expected, "the URLs are not every address that is up: {lines:?}");
}

fn any_ipv4_address_prints_every_url(host: Host) {
    let server = Server::spawn(host, &static_root(), &["--port", "0", "--bind", "0.0.0.0"]);
    let port = server.addr.port();
    assert_eq!(server.banner(), banner(host, &format!("http://0.0.0.0:{port}/")));
    get_style(&format!("http://127.0.0.1:{port}/"));
    let expected = machine_addresses().map_or(1, |all| all.iter().filter(|i| i.is_ipv4()).count());
    let lines = url_lines(&server, expected);
    assert_eq!(lines.first().map(String::as_str), Some(&*format!("  http://127.0.0.1:{port}/")));
    check_urls(&lines, port, true, false);
}

fn any_ipv6_address_prints_both_families(host: Host) {
    if let Err(error) = TcpListener::bind("[::1]:0") {
        eprintln!("SKIPPED any_ipv6_address_prints_both_families ({host:?}): no [::1]: {error}");
        return;
    }
    // Linux's default: a socket on `::` takes IPv4 connections too.
    let dual = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .is_ok_and(|value| value.trim() == "0");
    let server = Server::spawn(host, &static_root(), &["--port", "0", "--bind", "::"]);
    let port = server.addr.port();
    assert_eq!(server.banner(), banner(host, &format!("http://[::]:{port}/")));
    get_style(&if dual { format!("http://127.0.0.1:{port}/") } else { server.url("/") });
    let expected = machine_addresses().map_or(1, |all| {
        let link_local = |ip: &IpAddr| matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local());
        all.iter().filter(|ip| (dual || ip.is_ipv6()) && !link_local(ip)).count()
    });
    let lines = url_lines(&server, expected);
    assert!(lines.contains(&format!("  http://[::1]:{port}/")), "{lines:?}");
    assert!(!lines.iter().any(|line| line.contains("[fe80")), "{lines:?}");
    check_urls(&lines, port, dual, true);
}

fn one_address_prints_one_line(host: Host) {
    let server = Server::start(host, &static_root());
    get_style(&server.url("/"));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.stderr_lines(), [server.banner()]);
}

fn a_port_in_use_suggests_a_free_one(host: Host) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let root = static_root();
    let line = assert_one_line_failure(
        host,
        "port in use",
        run_to_exit(host, &["-b", "127.0.0.1", "-p", &port, root.to_str().unwrap()]),
    );
    let expected = format!(
        "{}: error: cannot listen on 127.0.0.1:{port}: address already in use \
         (another server there? -p 0 picks a free port)",
        host.name()
    );
    assert_eq!(line, expected);
}

fn a_missing_root_says_so(host: Host) {
    let dir = tempfile::TempDir::new().unwrap();
    let missing = dir.path().join("no-such-dir");
    let missing = missing.to_str().unwrap();
    let line =
        assert_one_line_failure(host, "missing root", run_to_exit(host, &["-p", "0", missing]));
    assert_eq!(
        line,
        format!("{}: error: cannot serve '{missing}': no such directory", host.name())
    );
}

fn a_root_that_is_a_file_says_so(host: Host) {
    let file = static_root().join("style.css");
    let file = file.to_str().unwrap();
    let line = assert_one_line_failure(host, "file root", run_to_exit(host, &["-p", "0", file]));
    assert_eq!(line, format!("{}: error: cannot serve '{file}': not a directory", host.name()));
}

/// Start `host` on one worker under an open-file limit of `files`, and
/// wait for its line saying the cap became `cap` (`connections`, the
/// word it uses for that many).
fn start_under_file_limit(host: Host, files: u32, cap: usize, connections: &str) -> Server {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("ulimit -n {files} && exec \"$@\"")).arg("sh").arg(host.binary());
    cmd.args(["-p", "0", "--workers", "1", "-q"]).arg(static_root());
    let server = Server::spawn_command(host, cmd, portico_tests::Stdout::Read);
    let expected = format!(
        "{}: at most {cap} {connections} at once, not 16384: the open-file limit is {files} \
         (raise it with `ulimit -n` or LimitNOFILE=)",
        host.name()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stderr_lines().contains(&expected) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.stderr_lines().contains(&expected), "{:?}", server.stderr_lines());
    server
}

fn a_low_open_file_limit_lowers_the_cap_and_says_so(host: Host) {
    // 512 files; one worker, whose open-file cache may hold 128, the
    // variants compressed on the fly 256, and 64 kept back: 64 connections.
    let server = start_under_file_limit(host, 512, 64, "connections");
    // It serves all the same.
    let mut response = portico_tests::agent().get(&server.url("/")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(!response.body_mut().read_to_vec().unwrap().is_empty());
    // Room for one: said in the singular.
    drop(start_under_file_limit(host, 449, 1, "connection"));
    // With the limit as it is here, nothing is said.
    let server = Server::start_with(host, &static_root(), &["--max-connections", "100"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.stderr_lines().len(), 1, "{:?}", server.stderr_lines());
}

/// How many threads of `server` are workers (named `worker-N` when they
/// start), once that count has held still for a moment.
fn worker_threads(server: &Server) -> usize {
    let count = || {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
        let names =
            tasks.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok());
        names.filter(|name| name.starts_with("worker-")).count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = count();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = count();
        if (now == last && now > 0) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn workers_are_one_per_core_and_half_as_many_on_loopback(host: Host) {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let everywhere = ["--port", "0", "--bind", "0.0.0.0", "-q"];
    let everywhere = Server::spawn(host, &static_root(), &everywhere);
    get_style(&format!("http://127.0.0.1:{}/", everywhere.addr.port()));
    assert_eq!(worker_threads(&everywhere), cores, "on 0.0.0.0");
    let loopback = Server::start_with(host, &static_root(), &["-q"]);
    get_style(&loopback.url("/"));
    assert_eq!(worker_threads(&loopback), (cores / 2).max(1), "on 127.0.0.1, {cores} cores");
    let asked = Server::start_with(host, &static_root(), &["-q", "--workers", "3"]);
    get_style(&asked.url("/"));
    assert_eq!(worker_threads(&asked), 3, "--workers 3");
}

portico_tests::for_each_host!(
    workers_are_one_per_core_and_half_as_many_on_loopback,
    a_low_open_file_limit_lowers_the_cap_and_says_so,
    any_ipv4_address_prints_every_url,
    any_ipv6_address_prints_both_families,
    one_address_prints_one_line,
    a_port_in_use_suggests_a_free_one,
    a_missing_root_says_so,
    a_root_that_is_a_file_says_so,
);
