//! A request has two routes into the core: bytes parsed by the connection,
//! and parts another parser produced (`Request::from_parts`, for a
//! wasi:http runtime or an embedder). The same head by either route is
//! the same request with the same answer, or the same refusal. The check
//! is the `request_from_parts` fuzz target's, fed structured heads here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_core::{Limits, ProtocolError, Request, Version};
use proptest::prelude::*;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod invariants;

/// The fuzz target's input: a control byte, then the method, the target
/// and each field, a line each.
fn encode(
    version: bool,
    small: bool,
    method: &str,
    target: &str,
    fields: &[(String, String)],
) -> Vec<u8> {
    let mut data = vec![u8::from(version) | u8::from(small) << 1];
    data.extend_from_slice(method.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(target.as_bytes());
    for (name, value) in fields {
        data.push(b'\n');
        data.extend_from_slice(name.as_bytes());
        data.push(b':');
        data.extend_from_slice(value.as_bytes());
    }
    data
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "GET",
            "HEAD",
            "POST",
            "OPTIONS",
            "CONNECT",
            "PUT",
            "PATCH",
            "BREW",
            "get",
            "",
            "G\tT",
            "G\u{1}T",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH",
        ])
        .prop_map(str::to_owned),
        "[A-Z!#~]{1,8}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "/",
            "/index.html",
            "/docs/",
            "/docs",
            "/docs/a%20b.txt",
            "/app.js",
            "/empty.txt",
            "/missing",
            "*",
            "http://h/docs/",
            "HTTPS://h:8080/app.js?x",
            "http://u@h/",
            "http:///x",
            "h:443",
            "/#frag",
            "/a/../docs/",
            "/%2e%2e/etc",
            "/.git/config",
            "/a\u{1}b",
            "/caf\u{e9}",
            "/?q",
            "",
        ])
        .prop_map(str::to_owned),
        "[!-~]{0,40}",
    ]
}

fn field() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "Host",
            "host",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Range",
            "If-None-Match",
            "If-Modified-Since",
            "Accept-Encoding",
            "Accept",
            "Expect",
            "X",
            "Bad Name",
            "",
            "\tLead",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z-]{1,10}",
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            "h",
            "example.org:8080",
            "close",
            "keep-alive",
            "0",
            "5",
            "1, 1",
            "1, 2",
            "chunked",
            "gzip, chunked",
            "bytes=0-3",
            "bytes=0-1,5-",
            "*",
            "gzip, br, zstd",
            "text/html",
            "  padded\t ",
            "a\u{1}b",
            "100-continue",
            "\"x\"",
            "u@h",
            "[::1]",
            "",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,20}",
    ];
    (name, value)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn bytes_and_parts_get_the_same_answer(
        version in any::<bool>(),
        small in any::<bool>(),
        method in method(),
        target in target(),
        fields in prop::collection::vec(field(), 0..7),
    ) {
        invariants::request_from_parts(&encode(version, small, &method, &target, &fields));
    }

    /// With a Host in front, most heads are valid: the responses of the
    /// two routes are compared, not only their refusals.
    #[test]
    fn valid_heads_from_parts_get_the_same_response(
        method in prop::sample::select(vec!["GET", "HEAD", "OPTIONS", "POST"]),
        target in target(),
        fields in prop::collection::vec(field(), 0..5),
    ) {
        let mut all = vec![("Host".to_owned(), "h".to_owned())];
        all.extend(fields);
        invariants::request_from_parts(&encode(false, false, method, &target, &all));
    }
}

#[test]
fn the_parsers_checks_apply_to_parts() {
    let limits = Limits::default();
    let host = [("Host", &b"h"[..])];
    let build = |method, target, version, fields: &[(&'static str, &'static [u8])]| {
        Request::from_parts(method, target, version, fields.iter().copied(), &limits).map(|_| ())
    };
    assert_eq!(build("GET", "/", Version::Http11, &host), Ok(()));
    assert_eq!(build("GET", "/", Version::Http11, &[]), Err(ProtocolError::BadHost));
    assert_eq!(build("GET", "/", Version::Http10, &[]), Ok(()));
    assert_eq!(build("GET", "/#x", Version::Http11, &host), Err(ProtocolError::Malformed));
    assert_eq!(build("GET", "/a b", Version::Http11, &host), Err(ProtocolError::Malformed));
    assert_eq!(build("GET", "h:80", Version::Http11, &host), Err(ProtocolError::Malformed));
    assert_eq!(build("CONNECT", "h:80", Version::Http11, &host), Ok(()));
    assert_eq!(build("GET", "http://u@h/", Version::Http11, &host), Err(ProtocolError::Malformed));
    assert_eq!(build("G T", "/", Version::Http11, &host), Err(ProtocolError::Malformed));
    let long = "M".repeat(portico_core::MAX_METHOD + 1);
    assert_eq!(
        Request::from_parts(&long, "/", Version::Http11, host.iter().copied(), &limits).map(|_| ()),
        Err(ProtocolError::LongMethod)
    );
    let target = format!("/{}", "a".repeat(limits.max_target));
    assert_eq!(
        Request::from_parts("GET", &target, Version::Http11, host.iter().copied(), &limits)
            .map(|_| ()),
        Err(ProtocolError::TargetTooLong)
    );
    assert_eq!(
        build("GET", "/", Version::Http11, &[("Host", b"h"), ("Host", b"h")]),
        Err(ProtocolError::BadHost)
    );
    assert_eq!(
        build("GET", "/", Version::Http11, &[("Host", b"u@h")]),
        Err(ProtocolError::BadHost)
    );
    assert_eq!(
        build("GET", "/", Version::Http11, &[("Host", b"h"), ("X", b"a\r\nY: b")]),
        Err(ProtocolError::Malformed)
    );
    assert_eq!(
        build("POST", "/", Version::Http11, &[("Host", b"h"), ("Content-Length", b"1, 2")]),
        Err(ProtocolError::BadFraming)
    );
    let request = Request::from_parts(
        "GET",
        "/x?y",
        Version::Http11,
        [("Host", &b"h"[..]), ("X", b" \tpadded \t"), ("Connection", b"close")],
        &limits,
    )
    .unwrap();
    assert_eq!(request.header("x"), Some(&b"padded"[..]), "spaces and tabs trimmed");
    assert!(!request.keep_alive());
    assert_eq!(request.head_len(), 0);
}
