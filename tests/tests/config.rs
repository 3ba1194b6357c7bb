//! Options from a TOML file and from `PORTICO_*` variables, their
//! precedence (command line > environment > file > defaults), the errors
//! a bad file gets, `--print-config`, and the generated completions and
//! manual page. Run against the real binaries, both hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use portico_tests::{Host, Server, get, run_command_to_exit, run_to_exit, send, temp_root};

/// Run the binary with these arguments and environment variables.
fn run(host: Host, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(host.binary());
    command.args(args);
    // Nothing from the test runner's own environment may leak in.
    for (name, _) in std::env::vars() {
        if name.starts_with("PORTICO_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let (status, out, err) = run_command_to_exit(command);
    (status.code(), out, err)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The value of `key = ...` in `--print-config` output.
fn printed<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|line| line.strip_prefix(&format!("{key} = ")))
}

fn a_config_file_shapes_the_site(host: Host) {
    let root = temp_root(&[
        ("index.html", b"home"),
        ("assets/app.js", b"start()"),
        ("page.html", b"page"),
    ]);
    let config = write(
        root.path(),
        "portico.toml",
        r#"
# Long-lived assets, everything else revalidated.
cache-control = "no-cache"
cors = true
headers = { "X-Frame-Options" = "DENY" }

[[rules]]
path = "/assets/**"
cache-control = "public, max-age=31536000, immutable"
headers = { "X-Asset" = "yes" }
"#,
    );
    let server = Server::start_with(host, root.path(), &["--config", &config]);
    let asset = send(&server, &get("/assets/app.js")).next(false).unwrap();
    assert_eq!(asset.status, 200);
    assert_eq!(asset.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(asset.header("x-asset"), Some("yes"));
    assert_eq!(asset.header("x-frame-options"), Some("DENY"));
    assert_eq!(asset.header("access-control-allow-origin"), Some("*"));
    let page = send(&server, &get("/page.html")).next(false).unwrap();
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(page.header("x-asset"), None);
}

fn the_command_line_beats_the_environment_beats_the_file(host: Host) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "c.toml", "port = 1111\nlog-format = \"json\"\nhidden = true\n");
    let print = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["--config", config.as_str(), "--print-config"];
        all.extend_from_slice(args);
        let (code, out, err) = run(host, &all, env);
        assert_eq!(code, Some(0), "{err}");
        out
    };
    let out = print(&[], &[]);
    assert_eq!(printed(&out, "port"), Some("1111"), "the file over the default");
    assert_eq!(printed(&out, "log-format"), Some("\"json\""));
    assert_eq!(printed(&out, "hidden"), Some("true"));
    assert_eq!(printed(&out, "idle-timeout"), Some("15"), "the default where nothing says");
    let out = print(&[], &[("PORTICO_PORT", "2222"), ("PORTICO_HIDDEN", "no")]);
    assert_eq!(printed(&out, "port"), Some("2222"), "the environment over the file");
    assert_eq!(printed(&out, "hidden"), Some("false"));
    let out = print(&["-p", "3333"], &[("PORTICO_PORT", "2222")]);
    assert_eq!(printed(&out, "port"), Some("3333"), "the command line over both");
    // The configuration file itself may come from the environment.
    let (code, out, _) = run(host, &["--print-config"], &[("PORTICO_CONFIG", &config)]);
    assert_eq!((code, printed(&out, "port")), (Some(0), Some("1111")));
    // What --print-config prints is a configuration that gives the same.
    let rules = write(
        dir.path(),
        "r.toml",
        "cors = true\nindex = [\"home.htm\"]\n[[rules]]\npath = \"/a/**\"\ncache-control = \"max-age=9\"\n",
    );
    let (_, first, _) = run(host, &["--config", &rules, "--print-config"], &[]);
    let again = write(dir.path(), "again.toml", &first);
    let (code, second, err) = run(host, &["--config", &again, "--print-config"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(first, second);
    assert!(first.contains("[[rules]]") && first.contains("path = \"/a/**\""), "{first}");
}

fn a_bad_config_file_is_one_error_naming_file_line_and_key(host: Host) {
    let dir = tempfile::tempdir().unwrap();
    for (text, says) in [
        ("port = 80\nprot = 8080\n", ":2: unknown field `prot`"),
        ("port = \"eighty\"\n", ":1: invalid type"),
        ("\n\nbind = \"localhost:80\"\n", ":3: bind: 'localhost:80' is not an IP address"),
        ("headers = { \"Content-Length\" = \"1\" }\n", ":1: headers: 'Content-Length'"),
        ("log-format = \"xml\"\n", ":1: log-format: 'xml' is not"),
        ("index = [\"../x\"]\n", ":1: index:"),
        ("max-connections = 0\n", ":1: max-connections: must be at least 1"),
        ("\nworkers = 129\n", ":2: workers: at most 128 (0: one per core, half on loopback)"),
        ("send-timeout = 0\n", ":1: send-timeout: must be at least 1 (seconds)"),
        ("[[rules]]\npath = \"assets/**\"\n", ":1: rules: 'assets/**' is not a path pattern"),
        ("[[rules]]\npath = \"/a\"\nmax-age = 1\n", ":3: unknown field `max-age`"),
        ("spa = true\nfallback = \"a.html\"\n", "spa and fallback"),
        ("port = 80\nport = 81\n", ":2: duplicate key"),
        ("this is not toml", ":1:"),
    ] {
        let config = write(dir.path(), "bad.toml", text);
        let (code, out, err) = run(host, &["--config", &config, "-p", "0"], &[]);
        assert_eq!(code, Some(2), "{text:?}: {err}");
        assert_eq!(out, "", "{text:?}: nothing may start");
        assert_eq!(err.lines().count(), 1, "{text:?}: {err}");
        assert!(err.starts_with(&format!("{}: error: {config}", host.name())), "{text:?}: {err}");
        assert!(err.contains(says), "{text:?}: expected {says:?} in {err}");
    }
    let (code, _, err) = run(host, &["--config", "/nonexistent/portico.toml"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read the configuration '/nonexistent/portico.toml'"), "{err}");
    // A bad value in the environment is an error too, naming the option.
    let (code, _, err) = run(host, &["--print-config"], &[("PORTICO_PORT", "http")]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--port"), "{err}");
}

fn completions_and_the_manual_come_from_the_command_line_definition(host: Host) {
    let name = host.name();
    for shell in ["bash", "zsh", "fish"] {
        let (status, out, err) = run_to_exit(host, &["--completions", shell]);
        assert!(status.success(), "{shell}: {err}");
        assert!(out.contains("cors") && out.contains("log-format"), "{shell}: {out}");
        assert!(out.contains(name), "{shell}");
    }
    let (status, out, _) = run_to_exit(host, &["--man"]);
    assert!(status.success());
    assert!(out.starts_with(".ie") || out.contains(".TH"), "{out}");
    assert!(out.contains(&format!(".TH {name}")), "{out}");
    assert!(out.contains("config"), "the manual lists every option");
    let (status, out, _) = run_to_exit(host, &["--help"]);
    assert!(status.success());
    for heading in ["Listening:", "What is served:", "Logs:", "Configuration:"] {
        assert!(out.contains(heading), "--help groups options: {heading} missing in\n{out}");
    }
}

/// Wait until the server has printed a stderr line containing `text`.
fn wait_for_stderr(server: &Server, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server.stderr_lines().iter().any(|line| line.contains(text)) {
        assert!(std::time::Instant::now() < deadline, "no {text:?} in {:?}", server.stderr_lines());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGHUP: the file is read again and the new site served from the next
/// request on, on connections that stay open; a broken file is reported
/// and the running configuration kept.
fn sighup_reloads_the_configuration_without_dropping_connections(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "site.toml", "cache-control = \"max-age=1\"\n");
    let server = Server::start_with(host, root.path(), &["--config", &config]);
    let mut kept = send(&server, &get("/a.txt"));
    let before = kept.next(false).unwrap();
    assert_eq!(before.header("cache-control"), Some("max-age=1"));
    assert_eq!(before.header("access-control-allow-origin"), None);

    write(
        dir.path(),
        "site.toml",
        "cache-control = \"max-age=2\"\ncors = true\nheaders = { \"X-Reloaded\" = \"yes\" }\n",
    );
    server.signal("HUP");
    wait_for_stderr(&server, "configuration reloaded");
    // The same connection, still open, gets the new site.
    use std::io::Write as _;
    kept.stream().write_all(&get("/a.txt")).unwrap();
    let after = kept.next(false).expect("the connection stayed open");
    assert_eq!(after.header("cache-control"), Some("max-age=2"));
    assert_eq!(after.header("access-control-allow-origin"), Some("*"));
    assert_eq!(after.header("x-reloaded"), Some("yes"));

    write(dir.path(), "site.toml", "cache-control = \"max-age=3\"\nprot = 1\n");
    server.signal("HUP");
    wait_for_stderr(&server, "reload failed");
    let failed = server.stderr_lines().into_iter().find(|l| l.contains("reload failed")).unwrap();
    assert!(failed.contains("site.toml:2") && failed.contains("prot"), "{failed}");
    let still = send(&server, &get("/a.txt")).next(false).unwrap();
    assert_eq!(still.header("cache-control"), Some("max-age=2"), "the running site is kept");
}

/// A reload whose file changes settings that apply only at start says
/// which were not applied, applies the rest, and keeps the old values of
/// those (the idle timeout, say).
fn sighup_names_the_settings_that_take_a_restart(host: Host) {
    let root = temp_root(&[("a.txt", b"a")]);
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "site.toml", "idle-timeout = 30\n");
    let server = Server::start_with(host, root.path(), &["--config", &config]);
    // (The port and the address are given on the command line, which
    // beats the file: changing them there changes nothing.)
    write(
        dir.path(),
        "site.toml",
        "idle-timeout = 1\nmax-connections = 100\nworkers = 3\ncors = true\nport = 1\n",
    );
    server.signal("HUP");
    wait_for_stderr(&server, "configuration reloaded");
    let line = server
        .stderr_lines()
        .into_iter()
        .find(|line| line.contains("configuration reloaded"))
        .unwrap();
    assert!(
        line.contains("not applied") && line.contains("restart"),
        "the reload does not say what it left out: {line}"
    );
    let (_, named) = line.split_once("restart: ").unwrap();
    let mut named: Vec<&str> = named.split(", ").collect();
    named.sort_unstable();
    // Not cors (applied), not the port (the command line's stands).
    assert_eq!(named, ["idle-timeout", "max-connections", "workers"], "{line}");
    // cors applied; the idle timeout kept: a connection idle for 2 s
    // is still open.
    let mut kept = send(&server, &get("/a.txt"));
    let first = kept.next(false).unwrap();
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    use std::io::Write as _;
    kept.stream().write_all(&get("/a.txt")).unwrap();
    assert!(kept.next(false).is_some(), "the idle timeout changed without a restart");
    // A reload that changes nothing of the kind says nothing of it.
    write(dir.path(), "site.toml", "idle-timeout = 30\ncors = false\n");
    server.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let second = loop {
        let lines: Vec<String> = server
            .stderr_lines()
            .into_iter()
            .filter(|line| line.contains("configuration reloaded"))
            .collect();
        if lines.len() == 2 {
            break lines[1].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no second reload line");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!second.contains("restart"), "{second}");
}

portico_tests::for_each_host!(
    sighup_reloads_the_configuration_without_dropping_connections,
    sighup_names_the_settings_that_take_a_restart,
    a_config_file_shapes_the_site,
    the_command_line_beats_the_environment_beats_the_file,
    a_bad_config_file_is_one_error_naming_file_line_and_key,
    completions_and_the_manual_come_from_the_command_line_definition,
);
