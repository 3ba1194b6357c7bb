//! The options that shape the site (`--index`, `-H/--header`,
//! `--cache-control`, `--hidden`) reach every response the same way on
//! both hosts: portico-wasi hands them to its guest as the site
//! configuration. Bad values are one-line errors before anything starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_tests::{Host, Server, get, run_to_exit, send, temp_root};

fn options_shape_every_response(host: Host) {
    let root = temp_root(&[
        ("home.htm", b"<h1>home</h1>"),
        ("index.html", b"<h1>index</h1>"),
        ("docs/index.html", b"<h1>docs</h1>"),
        ("style.css", b"p {}"),
        (".env", b"SECRET=1"),
        (".well-known/security.txt", b"Contact: x"),
        ("404.html", b"<h1>gone</h1>"),
    ]);
    let server = Server::start_with(
        host,
        root.path(),
        &[
            "--index",
            "home.htm",
            "--index",
            "index.html",
            "-H",
            "X-Frame-Options: DENY",
            "--header",
            "Server:   site-server  ",
            "--cache-control",
            "public, max-age=60",
        ],
    );
    let ask = |target: &str| send(&server, &get(target)).next(false).expect("an answer");

    // The first index name found wins; the second is tried when it is not there.
    let home = ask("/");
    assert_eq!((home.status, home.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    let docs = ask("/docs/");
    assert_eq!((docs.status, docs.body.as_slice()), (200, &b"<h1>docs</h1>"[..]));
    for response in [&home, &ask("/style.css")] {
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("cache-control"), Some("public, max-age=60"));
        // Replaced, not sent twice.
        let servers: Vec<_> = response.headers.iter().filter(|(n, _)| n == "server").collect();
        assert_eq!(servers.len(), 1, "{}", response.head);
        assert_eq!(response.header("server"), Some("site-server"));
    }
    // Extra fields go on every answer, errors and redirects too; the
    // Cache-Control of files does not.
    let miss = ask("/nope");
    assert_eq!((miss.status, miss.body.as_slice()), (404, &b"<h1>gone</h1>"[..]));
    assert_eq!(miss.header("x-frame-options"), Some("DENY"));
    let redirect = ask("/docs");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("x-frame-options"), Some("DENY"));
    assert_eq!(redirect.header("cache-control"), None);
    // Without --hidden, dotfiles are a miss.
    assert_eq!(ask("/.env").status, 404);
    assert_eq!(ask("/.well-known/security.txt").status, 200);
}

fn hidden_serves_dotfiles(host: Host) {
    let root = temp_root(&[(".env", b"SECRET=1"), ("index.html", b"i")]);
    let server = Server::start_with(host, root.path(), &["--hidden"]);
    let response = send(&server, &get("/.env")).next(false).unwrap();
    assert_eq!((response.status, response.body.as_slice()), (200, &b"SECRET=1"[..]));
}

fn bad_site_options_are_one_line_errors(host: Host) {
    let root = temp_root(&[("index.html", b"i")]);
    let root = root.path().to_str().unwrap().to_owned();
    for (args, says) in [
        (vec!["-H", "X Bad: 1"], "token"),
        (vec!["-H", "no colon"], "Name: value"),
        (vec!["-H", "Content-Length: 5"], "set by portico itself"),
        (vec!["-H", "Transfer-Encoding: chunked"], "set by portico itself"),
        (vec!["-H", "X-Evil: a\r\nSet-Cookie: b"], "control characters"),
        (vec!["--index", "../x"], "plain file name"),
        (vec!["--index", "a/b"], "plain file name"),
        (vec!["--cache-control", "a\nb"], "control characters"),
    ] {
        let mut all = args.clone();
        all.extend(["-p", "0", root.as_str()]);
        let (status, out, err) = run_to_exit(host, &all);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(&format!("{}: error: ", host.name())), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

portico_tests::for_each_host!(
    options_shape_every_response,
    hidden_serves_dotfiles,
    bad_site_options_are_one_line_errors,
);
