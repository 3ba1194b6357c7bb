//! The container image, end to end: where a Docker daemon answers, build
//! the repository's `Dockerfile` (the default target, `portico`, and the
//! `portico-wasi` one), run it on a free port of 127.0.0.1 with a test root
//! mounted, GET a file, stop it, and remove the container and the image.
//! Without a daemon the tests print `SKIPPED` and pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use portico_tests::{Host, agent, free_port, temp_root, wait_or_kill};

/// Run `docker args` to completion, at most `limit`: (status, stdout and
/// stderr together). Output goes to a file, so nothing blocks on a pipe.
fn docker(args: &[&str], limit: Duration) -> (ExitStatus, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .expect("run docker");
    let status = wait_or_kill(&mut child, limit, &format!("docker {args:?}"));
    (status, std::fs::read_to_string(out.path()).unwrap_or_default())
}

/// Whether a Docker daemon answers; if not, says `test` is skipped.
fn daemon_reachable(test: &str, host: Host) -> bool {
    let installed = Command::new("docker")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        eprintln!("SKIPPED {test} ({host:?}): docker is not installed");
        return false;
    }
    let (status, _) = docker(&["info"], Duration::from_secs(60));
    if !status.success() {
        eprintln!("SKIPPED {test} ({host:?}): no docker daemon");
    }
    status.success()
}

/// Removes the container and the image, however the test ends.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.container], Duration::from_secs(60));
        let _ = docker(&["rmi", "--force", &self.image], Duration::from_secs(60));
    }
}

fn the_image_serves_a_mounted_root(host: Host) {
    if !daemon_reachable("the_image_serves_a_mounted_root", host) {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let name = format!("{}-test-{}", host.name(), std::process::id());
    let cleanup = Cleanup { container: name.clone(), image: format!("{name}:latest") };

    // A first build compiles everything and may download the base image
    // and crates: minutes, not hours.
    let mut build = vec!["build", "--tag", &cleanup.image];
    if host == Host::Wasi {
        build.extend(["--target", "portico-wasi"]);
    }
    let repo_arg = repo.to_str().unwrap();
    build.push(repo_arg);
    let (status, output) = docker(&build, Duration::from_secs(45 * 60));
    assert!(status.success(), "docker build failed:\n{output}");

    let (_, user) = docker(
        &["image", "inspect", "--format", "{{.Config.User}}", &cleanup.image],
        Duration::from_secs(60),
    );
    assert_eq!(user.trim(), "65532:65532", "the image runs as root");

    // The container's user (65532) reads the root: world-readable.
    let root = temp_root(&[("hello.txt", b"hello from the container\n")]);
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mount = format!("{}:/srv/www:ro", root.path().display());
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let run = ["run", "--detach", "--name", &name, "--publish", &publish, "--volume", &mount];
    let (status, output) =
        docker(&[&run[..], &[cleanup.image.as_str()]].concat(), Duration::from_secs(120));
    assert!(status.success(), "docker run failed:\n{output}");

    let url = format!("http://127.0.0.1:{port}/hello.txt");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut response = loop {
        match agent().get(&url).call() {
            Ok(response) => break response,
            Err(error) if Instant::now() > deadline => {
                let (_, logs) = docker(&["logs", &name], Duration::from_secs(60));
                panic!("{url}: {error}; the container's output:\n{logs}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.body_mut().read_to_string().unwrap(), "hello from the container\n");

    // `docker stop` sends SIGTERM to the server, PID 1: a clean exit.
    let (status, output) = docker(&["stop", "--time", "20", &name], Duration::from_secs(60));
    assert!(status.success(), "docker stop failed:\n{output}");
    let (_, code) = docker(
        &["container", "inspect", "--format", "{{.State.ExitCode}}", &name],
        Duration::from_secs(60),
    );
    assert_eq!(code.trim(), "0", "the server's exit code");
    let (_, logs) = docker(&["logs", &name], Duration::from_secs(60));
    let banner = format!("{}: serving /srv/www at http://0.0.0.0:8080/", host.name());
    assert!(logs.lines().any(|line| line == banner), "no start-up line:\n{logs}");
    assert!(logs.contains("\"GET /hello.txt HTTP/1.1\" 200"), "no access-log line:\n{logs}");
    drop(cleanup);
}

portico_tests::for_each_host!(the_image_serves_a_mounted_root);
