//! The command line: the banner, and one clean line on stderr (never a
//! panic) for every way starting can fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use portico_tests::{
    Host, Server, agent, assert_one_line_failure, run_command_to_exit, run_to_exit, static_file,
    static_root, temp_root,
};

fn root_arg() -> String {
    static_root().to_str().unwrap().to_owned()
}

fn bad_port_values(host: Host) {
    let root = root_arg();
    for port in ["99999", "65536", "abc", "-1", "", "80.5", "0x50"] {
        let line = assert_one_line_failure(
            host,
            &format!("-p {port:?}"),
            run_to_exit(host, &["-p", port, &root]),
        );
        // The line quotes the bad value (not just the program's name).
        assert!(line.contains(&format!("'{port}'")), "-p {port:?}: {line}");
    }
}

fn bad_options(host: Host) {
    let root = root_arg();
    let cases: &[&[&str]] = &[
        &["-b", "999.1.1.1"],
        &["--bind", "localhost"],
        &["--bind", "[::1"],
        &["--max-connections", "0"],
        &["--workers", "129"],
        &["--workers", "-1"],
        &["--send-timeout", "0"],
        &["--idle-timeout", "0"],
        &["--idle-timeout", "soon"],
        &["--no-such-option"],
        &["extra-root"],
    ];
    for args in cases {
        let mut all = args.to_vec();
        all.extend(["-p", "0", &root]);
        let (status, out, err) = run_to_exit(host, &all);
        assert_eq!(status.code(), Some(2), "{args:?}: usage errors exit 2");
        assert_one_line_failure(host, &format!("{args:?}"), (status, out, err));
    }
}

fn missing_root_directory(host: Host) {
    let dir = tempfile::TempDir::new().unwrap();
    let missing = dir.path().join("no-such-dir");
    let missing = missing.to_str().unwrap();
    let line =
        assert_one_line_failure(host, "missing root", run_to_exit(host, &["-p", "0", missing]));
    assert!(line.contains(missing), "the line names the root: {line}");
}

fn root_is_a_file(host: Host) {
    let file = static_root().join("index.html");
    let file = file.to_str().unwrap();
    let line =
        assert_one_line_failure(host, "root is a file", run_to_exit(host, &["-p", "0", file]));
    assert!(line.contains(file), "{line}");
    assert!(line.contains("not a directory"), "{line}");
}

fn address_in_use(host: Host) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let line = assert_one_line_failure(
        host,
        "address in use",
        run_to_exit(host, &["-b", "127.0.0.1", "-p", &port, &root_arg()]),
    );
    assert!(line.contains("in use"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "the line names the address: {line}");
}

fn address_not_on_this_machine(host: Host) {
    // TEST-NET-1 (RFC 5737): never a local address.
    let line = assert_one_line_failure(
        host,
        "foreign address",
        run_to_exit(host, &["-b", "192.0.2.1", "-p", "0", &root_arg()]),
    );
    assert!(line.contains("192.0.2.1"), "{line}");
}

fn privileged_port_without_permission(host: Host) {
    let skip = |why: &str| eprintln!("skipped privileged_port_without_permission: {why}");
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref().ok() != Some("0") {
        return skip("not running as root, so cannot drop to an unprivileged user");
    }
    let unprivileged_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
    if unprivileged_start.is_some_and(|start| start <= 80) {
        return skip("net.ipv4.ip_unprivileged_port_start lets anyone bind port 80");
    }
    let binary = host.binary();
    let as_nobody = |program: &Path, args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(program).args(args);
        cmd
    };
    match as_nobody(&binary, &["--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Err(_) => return skip("setpriv is not available"),
        Ok(status) if !status.success() => {
            return skip("the binary is not executable by uid 65534 (or setpriv failed)");
        }
        Ok(_) => {}
    }
    let root = root_arg();
    let readable = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "test",
            "-r",
            &root,
            "-a",
            "-x",
            &root,
        ])
        .status();
    if !readable.is_ok_and(|s| s.success()) {
        return skip("the web root is not readable by uid 65534");
    }
    let line = assert_one_line_failure(
        host,
        "port 80 as nobody",
        run_command_to_exit(as_nobody(&binary, &["-p", "80", &root])),
    );
    assert!(line.to_lowercase().contains("permission"), "{line}");
}

fn ipv6_loopback(host: Host) {
    if let Err(error) = TcpListener::bind("[::1]:0") {
        eprintln!("skipped ipv6_loopback: cannot bind [::1]:0 here: {error}");
        return;
    }
    for bind in ["::1", "[::1]"] {
        let server = Server::spawn(host, &static_root(), &["--port", "0", "--bind", bind]);
        assert!(server.addr.is_ipv6(), "{bind}: {}", server.addr);
        let banner = server.banner();
        let url = format!("http://[::1]:{}/", server.addr.port());
        assert!(banner.ends_with(&format!(" at {url}")), "{bind}: {banner}");
        let mut response = agent().get(&server.url("/style.css")).call().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.body_mut().read_to_vec().unwrap() == static_file("style.css"));
        let log = server.wait_for_log(1);
        assert!(log.first().is_some_and(|l| l.starts_with("::1 - - [")), "{log:?}");
    }
}

fn help_and_version(host: Host) {
    let (status, out, err) = run_to_exit(host, &["--help"]);
    assert!(status.success());
    assert!(
        out.contains("--port") && out.contains("--bind") && out.contains("--idle-timeout"),
        "{out}"
    );
    assert_eq!(err, "");
    let (status, out, _) = run_to_exit(host, &["--version"]);
    assert!(status.success());
    assert!(out.starts_with(&format!("{} ", host.name())), "{out}");
}

fn banner_names_the_absolute_root_and_url(host: Host) {
    let server = Server::start(host, &static_root());
    let root = std::fs::canonicalize(static_root()).unwrap();
    let expected =
        format!("{}: serving {} at http://{}/", host.name(), root.display(), server.addr);
    assert_eq!(server.banner(), expected);
    assert!(server.addr.ip().is_loopback() && server.addr.port() != 0);
}

/// Start the binary in `cwd` with `args` and return its first stderr line
/// (the start-up line: stdout is only for the access log).
fn first_line_in(host: Host, cwd: &Path, args: &[&str]) -> String {
    let mut child = Command::new(host.binary())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    line.expect("a banner").trim_end().to_owned()
}

fn relative_and_default_roots_are_made_absolute(host: Host) {
    let site = temp_root(&[("static/index.html", b"x"), ("other/index.html", b"y")]);
    let base = std::fs::canonicalize(site.path()).unwrap();
    let line = first_line_in(host, site.path(), &["-p", "0", "other"]);
    let prefix =
        format!("{}: serving {} at http://127.0.0.1:", host.name(), base.join("other").display());
    assert!(line.starts_with(&prefix), "{line}");
    // Without a root, `static` in the working directory.
    let line = first_line_in(host, site.path(), &["-p", "0"]);
    let prefix =
        format!("{}: serving {} at http://127.0.0.1:", host.name(), base.join("static").display());
    assert!(line.starts_with(&prefix), "{line}");
}

fn quiet_disables_the_access_log(host: Host) {
    let server = Server::start_with(host, &static_root(), &["--quiet"]);
    let mut response = agent().get(&server.url("/")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let _ = response.body_mut().read_to_vec().unwrap();
    // A logged line would appear right after the response; wait a little.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.log_lines(), Vec::<String>::new());
}

portico_tests::for_each_host!(
    bad_port_values,
    bad_options,
    missing_root_directory,
    root_is_a_file,
    address_in_use,
    address_not_on_this_machine,
    privileged_port_without_permission,
    ipv6_loopback,
    help_and_version,
    banner_names_the_absolute_root_and_url,
    relative_and_default_roots_are_made_absolute,
    quiet_disables_the_access_log,
);
