//! What the site allows, before anything is looked up: which methods are
//! served, and which names are hidden.

use super::Plan;
use crate::request::Method;
use crate::{Request, SafePath, Site};

/// The methods every resource here allows, for `Allow`.
pub(crate) const ALLOW: &str = "GET, HEAD, OPTIONS";

/// GET and HEAD are served. `OPTIONS` (on `*` or any path) is answered
/// with 204 and `Allow` (RFC 9110 §9.3.7). A method portico recognises but
/// does not allow is 405 with the same `Allow` (§15.5.6); a token it does
/// not recognise (`FOOBAR`, `get`: methods are case-sensitive) is 501
/// (§15.6.2), whatever the target.
pub(crate) fn method<H>(request: &Request<'_>, site: &Site) -> Result<(), Plan<H>> {
    match request.method() {
        Method::Get | Method::Head => Ok(()),
        Method::Options if site.cors && request.header("origin").is_some() => {
            match request.header("access-control-request-method") {
                Some(_) => Err(preflight(request)),
                None => Err(options(request)),
            }
        }
        Method::Options => Err(options(request)),
        method if method.is_known() => Err(Plan::Page {
            status: 405,
            detail: "This server only serves files: use GET, HEAD or OPTIONS.",
            field: Some(("Allow", ALLOW)),
        }),
        _ => Err(Plan::page(501, "This server does not implement that method.")),
    }
}

/// `OPTIONS *` asks about the server, `OPTIONS /path` about a resource:
/// both get the same answer, as every path allows the same methods. A
/// path that is not valid is 400, as it would be for GET.
fn options<H>(request: &Request<'_>) -> Plan<H> {
    match request.target_form() {
        crate::Target::Asterisk => Plan::Options,
        target => match target.path().map(SafePath::from_request_path) {
            Some(Ok(_)) => Plan::Options,
            Some(Err(error)) => Plan::page(error.status(), "The request path is not valid."),
            None => Plan::page(400, "This target does not name a file."),
        },
    }
}

/// A CORS preflight (Fetch standard, "CORS-preflight request"): the
/// methods are always GET, HEAD and OPTIONS; the request headers the
/// client asks for are allowed as asked (a static file reads none of
/// them), if they are a list of field names.
fn preflight<H>(request: &Request<'_>) -> Plan<H> {
    let mut names: Vec<&str> = Vec::new();
    let mut valid = true;
    for name in request.header_list("access-control-request-headers") {
        match std::str::from_utf8(name) {
            Ok(name) if name.bytes().all(crate::parse::is_tchar) && names.len() < 64 => {
                names.push(name);
            }
            _ => valid = false,
        }
    }
    let headers = (valid && !names.is_empty()).then(|| names.join(", "));
    Plan::Preflight { headers }
}

/// Whether `path` may be served at all. A name starting with `.` (`.git`,
/// `.env`) is a miss unless the site serves hidden files; `.well-known`
/// (RFC 8615) always may be. Asked before the lookup, so a hidden file is
/// never even opened.
pub(crate) fn visible(path: &SafePath, site: &Site) -> bool {
    site.hidden || !path.is_hidden()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{Limits, Parsed, parse_request};

    fn with_method(raw: &[u8]) -> Result<(), u16> {
        let Ok(Parsed::Complete(request)) = parse_request(raw, &Limits::default()) else {
            panic!("a request")
        };
        method::<()>(&request, &Site::default()).map_err(|plan| match plan {
            Plan::Page { status: 405, field, .. } => {
                assert_eq!(field, Some(("Allow", "GET, HEAD, OPTIONS")));
                405
            }
            Plan::Options => 204,
            Plan::Page { status, field: None, .. } => status,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn get_and_head_pass_options_is_204_known_methods_405_unknown_tokens_501() {
        assert_eq!(with_method(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), Ok(()));
        // RFC 9110 §9.3.7: OPTIONS on the server and on a resource.
        assert_eq!(with_method(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), Err(204));
        assert_eq!(with_method(b"OPTIONS /a/b.txt HTTP/1.1\r\nHost: h\r\n\r\n"), Err(204));
        assert_eq!(with_method(b"OPTIONS /%zz HTTP/1.1\r\nHost: h\r\n\r\n"), Err(400));
        assert_eq!(with_method(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"), Ok(()));
        for raw in [
            &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"[..],
            b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"PATCH / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        ] {
            assert_eq!(with_method(raw), Err(405), "{}", String::from_utf8_lossy(raw));
        }
        for raw in [
            &b"get / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"Head / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"FOOBAR / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert_eq!(with_method(raw), Err(501), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn a_cors_preflight_is_answered_only_with_cors_on() {
        let raw = b"OPTIONS /a HTTP/1.1\r\nHost: h\r\nOrigin: https://x.example\r\n\
                    Access-Control-Request-Method: GET\r\n\
                    Access-Control-Request-Headers: range, if-none-match\r\n\r\n";
        let Ok(Parsed::Complete(request)) = parse_request(raw, &Limits::default()) else {
            panic!("a request")
        };
        let cors = Site::default().with_cors(true);
        let plan = method::<()>(&request, &cors).unwrap_err();
        assert!(
            matches!(&plan, Plan::Preflight { headers: Some(h) } if h == "range, if-none-match"),
            "{plan:?}"
        );
        let plan = method::<()>(&request, &Site::default()).unwrap_err();
        assert!(matches!(plan, Plan::Options), "{plan:?}");
        let bad = b"OPTIONS /a HTTP/1.1\r\nHost: h\r\nOrigin: o\r\n\
                    Access-Control-Request-Method: GET\r\n\
                    Access-Control-Request-Headers: a b\r\n\r\n";
        let Ok(Parsed::Complete(request)) = parse_request(bad, &Limits::default()) else {
            panic!("a request")
        };
        let plan = method::<()>(&request, &cors).unwrap_err();
        assert!(matches!(plan, Plan::Preflight { headers: None }), "{plan:?}");
    }

    #[test]
    fn hidden_names_are_invisible_unless_the_site_serves_them() {
        let path = |p: &str| SafePath::from_request_path(p).unwrap();
        let site = Site::default();
        for shown in ["/", "/a.txt", "/dir/file", "/.well-known/security.txt", "/a.b/c"] {
            assert!(visible(&path(shown), &site), "{shown}");
        }
        for hidden in ["/.env", "/.git/config", "/dir/.secret", "/.well-known/.x"] {
            assert!(!visible(&path(hidden), &site), "{hidden}");
            assert!(visible(&path(hidden), &site.clone().with_hidden(true)), "{hidden}");
        }
    }
}
