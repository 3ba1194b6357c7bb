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
        (vec!["--fallback", "../index.html"], "fallback"),
        (vec!["--spa", "--fallback", "a.html"], "cannot be used with"),
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

/// `--cors`: every answer readable cross-origin, and a preflight (an
/// OPTIONS with `Origin` and `Access-Control-Request-Method`) answered.
fn cors_allows_cross_origin_reads(host: Host) {
    let root = temp_root(&[("data.json", b"{}")]);
    let server = Server::start_with(host, root.path(), &["--cors"]);
    let ask = |request: &str| send(&server, request.as_bytes()).next(false).expect("an answer");
    let file = ask("GET /data.json HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n");
    assert_eq!(file.status, 200);
    assert_eq!(file.header("access-control-allow-origin"), Some("*"));
    assert!(file.header("access-control-expose-headers").unwrap().contains("ETag"));
    let miss = ask("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((miss.status, miss.header("access-control-allow-origin")), (404, Some("*")));
    let preflight =
        ask("OPTIONS /data.json HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\
         Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\r\n");
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(preflight.header("access-control-allow-methods"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(preflight.header("access-control-allow-headers"), Some("range"));
    assert!(preflight.header("access-control-max-age").is_some());
    // Without --cors: no CORS fields at all, so browsers keep the data
    // to its own origin.
    let closed = Server::start(host, root.path());
    let file = send(&closed, &get("/data.json")).next(false).unwrap();
    assert_eq!(file.header("access-control-allow-origin"), None);
}

/// `--spa` / `--fallback`: a page a browser navigates to that is not
/// there gets the app's entry page with 200; a missing asset still 404.
fn spa_fallback_serves_the_entry_page_for_navigations(host: Host) {
    let root = temp_root(&[
        ("index.html", b"<div id=app></div>"),
        ("shell.html", b"<main>shell</main>"),
        ("app.js", b"start()"),
    ]);
    let navigate = "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";
    let request = |path: &str, accept: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}\r\n").into_bytes()
    };
    for (args, page) in [
        (&["--spa"][..], &b"<div id=app></div>"[..]),
        (&["--fallback", "/shell.html"], b"<main>shell</main>"),
    ] {
        let server = Server::start_with(host, root.path(), args);
        let route = send(&server, &request("/users/42/edit", navigate)).next(false).unwrap();
        assert_eq!((route.status, route.body.as_slice()), (200, page), "{args:?}");
        assert!(route.header("vary").unwrap().contains("Accept"), "{args:?}");
        let asset = send(&server, &request("/missing.js", "Accept: */*\r\n")).next(false).unwrap();
        assert_eq!(asset.status, 404, "{args:?}");
        let real = send(&server, &request("/app.js", navigate)).next(false).unwrap();
        assert_eq!((real.status, real.body.as_slice()), (200, &b"start()"[..]), "{args:?}");
    }
}

portico_tests::for_each_host!(
    cors_allows_cross_origin_reads,
    spa_fallback_serves_the_entry_page_for_navigations,
    options_shape_every_response,
    hidden_serves_dotfiles,
    bad_site_options_are_one_line_errors,
);
