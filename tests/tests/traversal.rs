//! Path traversal: raw request targets (ureq would normalise them) and
//! symbolic links must never reach a file outside the web root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use portico_tests::{Host, RawResponse, Server, send};

/// In `secret.txt`, beside (not inside) the web root.
const MARKER: &str = "PORTICO-SECRET-7f3a9c-OUTSIDE-THE-ROOT";
/// The first line of /etc/passwd on any Linux.
const PASSWD: &str = "root:x:0:0";

/// A temporary parent holding `secret.txt` and the web root `root/`.
struct Site {
    parent: tempfile::TempDir,
}

impl Site {
    fn new() -> Self {
        let parent = tempfile::TempDir::new().unwrap();
        let p = parent.path();
        std::fs::write(p.join("secret.txt"), format!("{MARKER}\n")).unwrap();
        std::fs::create_dir_all(p.join("sibling")).unwrap();
        std::fs::write(p.join("sibling/index.html"), format!("{MARKER} sibling\n")).unwrap();
        let root = p.join("root");
        for (rel, text) in Self::INSIDE {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let link =
            |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        link("../secret.txt", "escape");
        link("..", "escape-dir");
        link("/etc", "etc-link");
        link("/etc/passwd", "passwd-link");
        link("../sibling", "sibling-link");
        link("docs/page.html", "inside-link");
        link("loop", "loop");
        Self { parent }
    }

    /// The files inside the root, and what they hold.
    const INSIDE: [(&str, &str); 4] = [
        ("index.html", "<h1>inside: index</h1>\n"),
        ("404.html", "<h1>inside: not found</h1>\n"),
        ("docs/index.html", "<h1>inside: docs index</h1>\n"),
        ("docs/page.html", "<h1>inside: docs page</h1>\n"),
    ];

    fn root(&self) -> std::path::PathBuf {
        self.parent.path().join("root")
    }
}

/// Request `target` raw and check the answer cannot have leaked anything.
fn probe(server: &Server, target: &str) -> RawResponse {
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: portico.test\r\nConnection: close\r\n\r\n");
    let mut reader = send(server, request.as_bytes());
    let response = reader.next(false).unwrap_or_else(|| panic!("{target}: no response"));
    let body = String::from_utf8_lossy(&response.body);
    assert!(!body.contains(MARKER), "{target}: leaked the secret outside the root: {body}");
    assert!(!body.contains(PASSWD), "{target}: leaked /etc/passwd");
    match response.status {
        200 => assert!(
            Site::INSIDE.iter().any(|(_, text)| response.body == text.as_bytes()),
            "{target}: 200 with a body that is no file inside the root: {body}"
        ),
        301 => {
            let location = response.header("location").unwrap();
            assert!(
                location.starts_with('/')
                    && !location.starts_with("//")
                    && !location.contains('\\'),
                "{target}: redirect off the site to {location:?}"
            );
            assert!(!location.contains(".."), "{target}: redirect to {location:?}");
        }
        400 | 403 | 404 => {}
        other => panic!("{target}: unexpected status {other}: {}", response.head),
    }
    response
}

const VECTORS: &[&str] = &[
    "/../secret.txt",
    "/../../etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/..%2fsecret.txt",
    "/..%2f..%2fetc/passwd",
    "/..%2F..%2Fetc%2Fpasswd",
    "/%2e%2e/secret.txt",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/%2e%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fetc%252fpasswd",
    "/%25%32%65%25%32%65/secret.txt",
    "/..\\secret.txt",
    "/..\\..\\etc\\passwd",
    "/%5c..%5csecret.txt",
    "/%5c..%5c..%5cetc%5cpasswd",
    "/..%5c..%5csecret.txt",
    "/%2e%2e%5c",
    "/%2e%2e%5csecret.txt",
    "/%00",
    "/index.html%00.png",
    "/../secret.txt%00.html",
    "/./../secret.txt",
    "/././../secret.txt",
    "/docs/../../secret.txt",
    "/docs/../../../etc/passwd",
    "/docs/./../../secret.txt",
    "/docs/%2e%2e/%2e%2e/secret.txt",
    "//etc/passwd",
    "///etc/passwd",
    "//../secret.txt",
    "/etc/passwd",
    "/proc/self/environ",
    "/proc/self/root/etc/passwd",
    "/dev/stdin",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/%c0%2e%c0%2e/secret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/%c1%9c..%c1%9csecret.txt",
    "/%ef%bc%8e%ef%bc%8e/secret.txt",
    "/%u002e%u002e/secret.txt",
    "/..;/secret.txt",
    "/..;/..;/etc/passwd",
    "/...//secret.txt",
    "/..../secret.txt",
    "/.../.../secret.txt",
    "/docs/..%2f..%2fsecret.txt",
    "/docs%2f..%2f..%2fsecret.txt",
    "/%2f..%2f..%2fsecret.txt",
    "/%2fetc%2fpasswd",
    "/..%00/secret.txt",
    "/..%0d%0a/secret.txt",
    "/..%09/secret.txt",
    "/ ../secret.txt",
    "/C:/Windows/win.ini",
    "/C:%5cWindows%5cwin.ini",
    "/secret.txt",
    "/root/../secret.txt",
    "/../root/index.html",
    "/../sibling/index.html",
    "/%2e%2e/sibling/",
    "/..",
    "/../",
    "/%2e%2e",
    "/docs/..",
    "/docs/%2e%2e",
    "/docs/..?x=/../secret.txt",
    "/?/../../secret.txt",
    "/#/../secret.txt",
    "http://portico.test/../../etc/passwd",
    "http://portico.test/../secret.txt",
    "http://portico.test/%2e%2e/secret.txt",
    "HTTP://portico.test/..%2fsecret.txt",
    "https://portico.test/../secret.txt",
    "http://portico.test/..\\secret.txt",
    "http://../secret.txt",
    "http://portico.test@evil/../secret.txt",
    "http:///../secret.txt",
    "file:///etc/passwd",
    "../secret.txt",
    "..%2fsecret.txt",
    "secret.txt",
    "etc/passwd",
    "*",
];

fn traversal_vectors_never_leave_the_root(host: Host) {
    assert!(VECTORS.len() >= 30);
    let site = Site::new();
    let server = Server::start(host, &site.root());
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    for target in VECTORS {
        let response = probe(&server, target);
        *seen.entry(response.status).or_default() += 1;
    }
    // The corpus exercises the sanitiser, not only the grammar.
    assert!(seen.get(&400).copied().unwrap_or(0) > 5, "{seen:?}");
    assert!(seen.get(&404).copied().unwrap_or(0) > 5, "{seen:?}");
}

fn dot_segments_resolve_inside_the_root(host: Host) {
    let site = Site::new();
    let server = Server::start(host, &site.root());
    // `..` at the root stays at the root, as in browsers: these are the
    // root's own files.
    let cases = [
        ("/../index.html", "<h1>inside: index</h1>\n"),
        ("/%2e%2e/%2e%2e/index.html", "<h1>inside: index</h1>\n"),
        ("/docs/../index.html", "<h1>inside: index</h1>\n"),
        ("/docs/./page.html", "<h1>inside: docs page</h1>\n"),
        ("/x/../docs/page.html", "<h1>inside: docs page</h1>\n"),
        ("/../", "<h1>inside: index</h1>\n"),
        ("http://portico.test/../docs/", "<h1>inside: docs index</h1>\n"),
    ];
    for (target, text) in cases {
        let response = probe(&server, target);
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(String::from_utf8_lossy(&response.body), text, "{target}");
    }
    // Directories reached through dot segments redirect to their clean name.
    let response = probe(&server, "/x/../docs");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/docs/"));
    let response = probe(&server, "//docs");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/docs/"));
}

fn bad_encodings_are_400(host: Host) {
    let site = Site::new();
    let server = Server::start(host, &site.root());
    for target in [
        "/%00",
        "/index.html%00.png",
        "/%c0%ae%c0%ae/secret.txt",
        "/%5c..%5csecret.txt",
        "/..\\secret.txt",
        "/%u002e%u002e/secret.txt",
        "/%",
        "/%2",
        "/%zz",
        "/%0a",
        "/%7f",
    ] {
        assert_eq!(probe(&server, target).status, 400, "{target}");
    }
}

fn symlinks_out_of_the_root_are_refused(host: Host) {
    let site = Site::new();
    let server = Server::start(host, &site.root());
    for target in [
        "/escape",
        "/escape/",
        "/escape-dir",
        "/escape-dir/",
        "/escape-dir/secret.txt",
        "/escape-dir/root/index.html",
        "/escape-dir/sibling/index.html",
        "/etc-link",
        "/etc-link/",
        "/etc-link/passwd",
        "/etc-link/hostname",
        "/passwd-link",
        "/sibling-link/",
        "/sibling-link/index.html",
        "/loop",
        "/loop/x",
    ] {
        let response = probe(&server, target);
        assert!(
            matches!(response.status, 403 | 404),
            "{target}: a link out of the root got {}",
            response.head
        );
    }
}

fn symlinks_within_the_root_are_followed(host: Host) {
    let site = Site::new();
    let server = Server::start(host, &site.root());
    let response = probe(&server, "/inside-link");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"<h1>inside: docs page</h1>\n");
}

fn the_root_itself_may_be_a_symlink(host: Host) {
    let site = Site::new();
    let link = site.parent.path().join("root-link");
    std::os::unix::fs::symlink(Path::new("root"), &link).unwrap();
    let server = Server::start(host, &link);
    let response = probe(&server, "/docs/page.html");
    assert_eq!(response.status, 200);
    // And `..` beneath it still stops at the root.
    assert_eq!(probe(&server, "/../secret.txt").status, 404);
}

portico_tests::for_each_host!(
    traversal_vectors_never_leave_the_root,
    dot_segments_resolve_inside_the_root,
    bad_encodings_are_400,
    symlinks_out_of_the_root_are_refused,
    symlinks_within_the_root_are_followed,
    the_root_itself_may_be_a_symlink,
);
