//! The path sanitiser: percent-decoding, dot-segment resolution, what it
//! refuses, and the invariants every `SafePath` keeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_core::{PathError, SafePath};
use proptest::prelude::*;

#[track_caller]
fn safe(raw: &str) -> SafePath {
    match SafePath::from_request_path(raw) {
        Ok(path) => path,
        Err(error) => panic!("{raw:?}: expected a safe path, got {error:?}"),
    }
}

#[track_caller]
fn refused(raw: &str) -> PathError {
    match SafePath::from_request_path(raw) {
        Ok(path) => panic!("{raw:?}: expected a refusal, got {path:?}"),
        Err(error) => {
            assert_eq!(error.status(), 400);
            error
        }
    }
}

#[test]
fn percent_encoded_utf8_is_decoded() {
    let path = safe("/%E4%B8%AD%E6%96%87.html");
    assert_eq!(path.as_str(), "中文.html");
    assert_eq!(path.file_name(), "中文.html");
    assert!(!path.names_directory());
    // Lower-case hex digits too.
    assert_eq!(safe("/%e4%b8%ad%e6%96%87.html").as_str(), "中文.html");
    assert_eq!(safe("/a%20b").as_str(), "a b");
}

#[test]
fn dot_segments_are_resolved() {
    assert_eq!(safe("/a/./b/../c").as_str(), "a/c");
    assert_eq!(safe("/a/b/c/../../d").as_str(), "a/d");
    assert_eq!(safe("/./a").as_str(), "a");
    assert_eq!(safe("/a/b/..").as_str(), "a");
    assert_eq!(safe("/a/b/.").as_str(), "a/b");
}

#[test]
fn dot_dot_is_clamped_at_the_root() {
    assert_eq!(safe("/../../etc/passwd").as_str(), "etc/passwd");
    assert_eq!(safe("/a/../../../etc/passwd").as_str(), "etc/passwd");
    assert!(safe("/..").is_root());
    assert!(safe("/../..").is_root());
}

#[test]
fn encoded_dot_segments_are_decoded_before_resolving() {
    assert_eq!(safe("/%2e%2e/%2e%2e/etc/passwd").as_str(), "etc/passwd");
    assert_eq!(safe("/a/%2E%2E/b").as_str(), "b");
    assert_eq!(safe("/a/.%2e/b").as_str(), "b");
    assert_eq!(safe("/a/%2e/b").as_str(), "a/b");
}

#[test]
fn percent_is_decoded_once() {
    // %25 is a literal '%': the result names a file called "%2e".
    let path = safe("/%252e");
    assert_eq!(path.as_str(), "%2e");
    let path = safe("/a/%252e%252e/b");
    assert_eq!(path.as_str(), "a/%2e%2e/b");
}

#[test]
fn encoded_slashes_separate_segments() {
    assert_eq!(safe("/a/..%2fb").as_str(), "b");
    assert_eq!(safe("/a/..%2Fb").as_str(), "b");
    assert_eq!(safe("/..%2f..%2fetc%2fpasswd").as_str(), "etc/passwd");
    assert_eq!(safe("/a%2Fb").as_str(), "a/b");
    assert!(safe("/a%2F").names_directory());
}

#[test]
fn nul_and_control_characters_are_refused() {
    assert_eq!(refused("/a%00b"), PathError::Control);
    assert_eq!(refused("/index.html%00.png"), PathError::Control);
    assert_eq!(refused("/a%0d%0aSet-Cookie:x"), PathError::Control);
    assert_eq!(refused("/a%7f"), PathError::Control);
    assert_eq!(refused("/a%1b"), PathError::Control);
    // C1 controls, as UTF-8.
    assert_eq!(refused("/a%c2%85"), PathError::Control);
}

#[test]
fn invalid_utf8_is_refused() {
    assert_eq!(refused("/%ff"), PathError::NotUtf8);
    assert_eq!(refused("/%c0%af"), PathError::NotUtf8);
    assert_eq!(refused("/%e4%b8"), PathError::NotUtf8);
}

#[test]
fn backslashes_are_refused() {
    assert_eq!(refused("/%5c"), PathError::Backslash);
    assert_eq!(refused("/a%5Cb"), PathError::Backslash);
    assert_eq!(refused("/..\\..\\windows"), PathError::Backslash);
    assert_eq!(refused("/a\\b"), PathError::Backslash);
}

#[test]
fn bad_percent_encodings_are_refused() {
    for raw in ["/%zz", "/%4", "/%", "/a%g0", "/%0g", "/%%41", "/%4/"] {
        assert_eq!(refused(raw), PathError::BadPercent, "{raw:?}");
    }
}

#[test]
fn path_errors_display() {
    for error in
        [PathError::BadPercent, PathError::NotUtf8, PathError::Control, PathError::Backslash]
    {
        assert!(!error.to_string().is_empty());
        assert_eq!(error.status(), 400);
    }
}

#[test]
fn a_trailing_slash_names_a_directory() {
    assert!(safe("/").names_directory());
    assert!(safe("/").is_root());
    assert_eq!(safe("/").as_str(), "");
    assert_eq!(safe("/").file_name(), "");
    assert!(safe("/docs/").names_directory());
    assert_eq!(safe("/docs/").as_str(), "docs");
    assert!(!safe("/docs").names_directory());
    assert!(safe("/docs/.").names_directory());
    assert!(safe("/docs/x/..").names_directory());
    assert!(safe("/docs//").names_directory());
    assert!(!safe("/docs/index.html").names_directory());
    assert_eq!(SafePath::root(), safe("/"));
}

#[test]
fn empty_segments_are_dropped() {
    assert_eq!(safe("//a///b").as_str(), "a/b");
    assert_eq!(safe("//a///b").segments().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(safe("/").segments().count(), 0);
}

#[test]
fn dotfiles_are_hidden_but_well_known_is_not() {
    assert!(safe("/.git/config").is_hidden());
    assert!(safe("/.env").is_hidden());
    assert!(safe("/a/.htaccess").is_hidden());
    assert!(safe("/%2egit/config").is_hidden());
    assert!(safe("/..git").is_hidden());
    assert!(!safe("/.well-known/x").is_hidden());
    assert!(!safe("/.well-known/acme-challenge/token").is_hidden());
    assert!(!safe("/a.b/c.d").is_hidden());
    assert!(!safe("/").is_hidden());
    // Resolved away before the check: not a dotfile.
    assert!(!safe("/a/./b").is_hidden());
}

#[test]
fn to_url_path_re_encodes_segments() {
    let path = safe("/a%3Fb/c%23d/e%20f/g%25h/%E4%B8%AD");
    assert_eq!(path.as_str(), "a?b/c#d/e f/g%h/中");
    assert_eq!(path.to_url_path(false), "/a%3Fb/c%23d/e%20f/g%25h/%E4%B8%AD");
    assert_eq!(path.to_url_path(true), "/a%3Fb/c%23d/e%20f/g%25h/%E4%B8%AD/");
    assert_eq!(safe("/docs").to_url_path(true), "/docs/");
    assert_eq!(safe("/docs/").to_url_path(false), "/docs");
}

#[test]
fn to_url_path_of_the_root_is_a_single_slash() {
    assert_eq!(SafePath::root().to_url_path(false), "/");
    assert_eq!(SafePath::root().to_url_path(true), "/");
    assert_eq!(safe("//").to_url_path(true), "/");
}

/// A path built from `//evil.example` must not become a scheme-relative
/// URL (`//evil.example/`) when a redirect is built from it.
#[test]
fn to_url_path_never_starts_with_two_slashes() {
    for raw in ["//evil.example", "/%2F%2Fevil.example", "/%2f/evil.example", "/.//evil", "/..//x"]
    {
        let url = safe(raw).to_url_path(true);
        assert!(url.starts_with('/') && !url.starts_with("//"), "{raw:?} -> {url:?}");
        assert_eq!(safe(raw).to_url_path(false).get(..2).map(|s| s == "//"), Some(false));
    }
}

/// Request paths built mostly from the pieces that matter to the sanitiser.
fn tricky_path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/",
        "/",
        "/",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "\\",
        "%00",
        "%",
        "%2",
        "%25",
        "%252e",
        "a",
        "b.html",
        ".git",
        ".well-known",
        "%E4%B8%AD",
        "%ff",
        "?",
        "#",
        " ",
        "%20",
        "%3f",
        "%23",
        "~",
        "\u{e9}",
        "\0",
        "\t",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![tricky_path(), any::<String>(), "/[ -~]{0,40}".prop_map(String::from)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the client sends, a `SafePath` cannot climb out of the
    /// root or smuggle a separator, NUL or backslash.
    #[test]
    fn safe_paths_keep_their_invariants(raw in any_path()) {
        if let Ok(path) = SafePath::from_request_path(&raw) {
            let s = path.as_str();
            prop_assert!(!s.starts_with('/'), "{:?} -> {:?}", raw, s);
            prop_assert!(!s.contains('\\'), "{:?} -> {:?}", raw, s);
            prop_assert!(!s.contains('\0'), "{:?} -> {:?}", raw, s);
            prop_assert!(!s.chars().any(char::is_control), "{:?} -> {:?}", raw, s);
            prop_assert_eq!(path.is_root(), s.is_empty());
            if !s.is_empty() {
                for segment in s.split('/') {
                    prop_assert!(
                        !segment.is_empty() && segment != "." && segment != "..",
                        "{:?} -> {:?}", raw, s
                    );
                }
            }
            prop_assert_eq!(path.segments().collect::<Vec<_>>().join("/"), s);
            let url = path.to_url_path(path.names_directory());
            prop_assert!(url.starts_with('/') && !url.starts_with("//"), "{:?}", url);
        }
    }

    /// `to_url_path` is the inverse of `from_request_path` on safe paths:
    /// a redirect to it names the same file again.
    #[test]
    fn to_url_path_round_trips(raw in any_path()) {
        if let Ok(path) = SafePath::from_request_path(&raw) {
            let url = path.to_url_path(path.names_directory());
            prop_assert!(url.is_ascii(), "{:?}", url);
            prop_assert!(!url.contains(['?', '#', ' ']), "{:?}", url);
            let again = SafePath::from_request_path(&url);
            prop_assert_eq!(again, Ok(path), "{:?} -> {:?}", raw, url);
        }
    }

    /// Sanitising is idempotent on what it produced.
    #[test]
    fn sanitising_a_safe_path_again_changes_nothing(raw in tricky_path()) {
        if let Ok(path) = SafePath::from_request_path(&raw) {
            // as_str is decoded; re-encode '%' so it stays literal.
            let reencoded = format!("/{}", path.as_str().replace('%', "%25"));
            let again = SafePath::from_request_path(&reencoded).unwrap();
            prop_assert_eq!(again.as_str(), path.as_str());
        }
    }
}

/// The WASI host re-checks the path a guest names: only what `as_str`
/// prints is accepted, nothing is decoded or resolved.
#[test]
fn from_normal_accepts_only_normal_paths() {
    for ok in ["", "index.html", "docs/index.html", "中文.html", "a%2e%2e/b"] {
        let path = SafePath::from_normal(ok).unwrap();
        assert_eq!(path.as_str(), ok);
    }
    for bad in ["/etc/passwd", "../x", "a/../b", "./a", "a//b", "a/", "..", ".", "a\\b", "a\0b"] {
        assert!(SafePath::from_normal(bad).is_err(), "{bad:?} was accepted");
    }
}

proptest! {
    /// Whatever the sanitiser produces, `from_normal` accepts unchanged.
    #[test]
    fn sanitised_paths_are_normal(raw in "(/[a-z.%2Ee]{0,4}){0,6}") {
        if let Ok(path) = SafePath::from_request_path(&raw) {
            let again = SafePath::from_normal(path.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), path.as_str());
        }
    }
}

#[test]
fn join_takes_one_plain_name_only() {
    let docs = SafePath::from_request_path("/docs/").unwrap();
    let joined = docs.join("index.html").unwrap();
    assert_eq!(joined.as_str(), "docs/index.html");
    assert!(!joined.names_directory());
    assert_eq!(SafePath::root().join("404.html").unwrap().as_str(), "404.html");
    assert_eq!(SafePath::root().join("caf\u{e9} #1.txt").unwrap().file_name(), "caf\u{e9} #1.txt");
    for (bad, error) in [
        ("", PathError::NotNormal),
        (".", PathError::NotNormal),
        ("..", PathError::NotNormal),
        ("a/b", PathError::NotNormal),
        ("/a", PathError::NotNormal),
        ("a\\b", PathError::Backslash),
        ("a\0", PathError::Control),
        ("a\nb", PathError::Control),
    ] {
        assert_eq!(docs.join(bad), Err(error), "{bad:?}");
    }
}
