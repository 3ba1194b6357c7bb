//! One file-system condition, one answer, on both hosts: every lookup
//! (portico's, the WASI guest's, the WASI host's re-check) maps errors
//! through the core's one classifier, so a missing file, a file used as a
//! directory, a name too long, a symlink loop, a socket or a FIFO are all
//! the site's 404 page, and a link out of the root is 403, whichever host
//! serves them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_tests::{Host, Server, get, send, temp_root};

const NOT_FOUND_PAGE: &[u8] = b"<h1>site: not found</h1>";

fn conditions_get_the_same_answer_on_every_host(host: Host) {
    let root = temp_root(&[
        ("index.html", b"<h1>home</h1>"),
        ("404.html", NOT_FOUND_PAGE),
        ("a.txt", b"a"),
        (".secret", b"hidden"),
    ]);
    let dir = root.path();
    std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
    std::os::unix::fs::symlink("../outside", dir.join("escape")).unwrap();
    std::fs::write(dir.parent().unwrap().join("outside"), b"outside").ok();
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(dir.join("fifo")).status();
    let has_fifo = fifo.is_ok_and(|status| status.success());
    if !has_fifo {
        eprintln!("SKIPPED the FIFO case: mkfifo is not available");
    }
    let server = Server::start(host, dir);
    let long = format!("/{}", "n".repeat(300));
    let mut cases: Vec<(&str, u16, Option<&[u8]>)> = vec![
        ("/missing.html", 404, Some(NOT_FOUND_PAGE)),
        ("/a.txt/under-a-file", 404, Some(NOT_FOUND_PAGE)),
        ("/a.txt/", 404, Some(NOT_FOUND_PAGE)),
        (&long, 404, Some(NOT_FOUND_PAGE)),
        ("/loop", 404, Some(NOT_FOUND_PAGE)),
        ("/loop/x", 404, Some(NOT_FOUND_PAGE)),
        ("/socket", 404, Some(NOT_FOUND_PAGE)),
        ("/.secret", 404, Some(NOT_FOUND_PAGE)),
        ("/escape", 403, None),
        ("/a.txt", 200, Some(b"a")),
    ];
    if has_fifo {
        cases.push(("/fifo", 404, Some(NOT_FOUND_PAGE)));
    }
    for (target, status, body) in cases {
        let response = send(&server, &get(target)).next(false).expect("an answer");
        assert_eq!(response.status, status, "{host:?} {target}: {}", response.head);
        if let Some(body) = body {
            assert_eq!(response.body, body, "{host:?} {target}");
        }
    }
    // The server is still fine: no condition cost it a worker.
    assert_eq!(send(&server, &get("/")).next(false).unwrap().status, 200);
}

portico_tests::for_each_host!(conditions_get_the_same_answer_on_every_host);
