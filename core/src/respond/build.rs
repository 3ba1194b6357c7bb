//! The last stage: a [`Plan`] and the site become a [`Response`] (status,
//! fields in order, body description). Nothing is decided here that an
//! earlier stage could decide.

use std::time::SystemTime;

use super::{Exchange, Plan};
use crate::Site;
use crate::lookup::FileInfo;
use crate::response::{Body, FieldValue, Headers, Response, ResponseHead, reason_phrase};

/// Write the plan as a response.
pub(crate) fn response<H>(plan: Plan<H>, exchange: &Exchange, site: &Site) -> Response<H> {
    match plan {
        Plan::File { status, path, file } => {
            self::file(status, path.file_name(), file, exchange, site)
        }
        Plan::Redirect { location } => {
            let mut headers = start(exchange);
            headers.add("Location", location);
            headers.add("Content-Length", 0u64);
            finish(301, headers, Body::Empty, exchange, site)
        }
        // Only the listing stage makes these, and it answers them; a
        // directory that reaches here has nothing to show.
        Plan::Directory { .. } | Plan::NotFound => {
            page(404, "There is nothing at this address.", None, exchange, site)
        }
        Plan::Page { status, detail, field } => page(status, detail, field, exchange, site),
    }
}

fn file<H>(
    status: u16,
    name: &str,
    file: FileInfo<H>,
    exchange: &Exchange,
    site: &Site,
) -> Response<H> {
    let mut headers = start(exchange);
    headers.add("Content-Type", content_type(name));
    headers.add("Content-Length", file.len);
    // RFC 9110 §8.8.2.1: never later than Date. An HTTP-date cannot name a
    // time before 1970, so a file stamped earlier, as some file systems
    // allow, gets no Last-Modified rather than a wrong one.
    let modified =
        file.modified.map(|m| m.min(exchange.now)).filter(|&m| m >= SystemTime::UNIX_EPOCH);
    if let Some(modified) = modified {
        headers.add("Last-Modified", modified);
    }
    if let Some(cache_control) = &site.cache_control {
        headers.add("Cache-Control", cache_control.clone());
    }
    let body = if exchange.head_only || file.len == 0 {
        Body::Empty
    } else {
        Body::File { handle: file.handle, offset: 0, len: file.len }
    };
    finish(status, headers, body, exchange, site)
}

/// A small generated HTML page for a status.
fn page<H>(
    status: u16,
    detail: &str,
    field: Option<(&'static str, &'static str)>,
    exchange: &Exchange,
    site: &Site,
) -> Response<H> {
    let reason = reason_phrase(status);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{status} {reason}</title></head>\n<body><h1>{status} {reason}</h1>\
         <p>{detail}</p><hr><p>portico</p></body></html>\n"
    );
    let mut headers = start(exchange);
    headers.add("Content-Type", "text/html; charset=utf-8");
    headers.add("Content-Length", html.len() as u64);
    if let Some((name, value)) = field {
        headers.add(name, value);
    }
    let body = if exchange.head_only { Body::Empty } else { Body::Bytes(html.into_bytes()) };
    finish(status, headers, body, exchange, site)
}

fn start(exchange: &Exchange) -> Headers {
    let mut headers = Headers::new();
    headers.add("Server", "portico");
    headers.add("Date", exchange.now);
    headers
}

fn finish<H>(
    status: u16,
    mut headers: Headers,
    body: Body<H>,
    exchange: &Exchange,
    site: &Site,
) -> Response<H> {
    headers.add("X-Content-Type-Options", "nosniff");
    for (name, value) in site.extra_headers.iter() {
        // Checked when the site was built; a field the core sent too
        // (`Server`, say) takes the site's value.
        let _ = headers.try_set(name.to_owned(), value.clone());
    }
    if !exchange.keep_alive {
        headers.add("Connection", "close");
    } else if exchange.echo_keep_alive {
        headers.add("Connection", "keep-alive");
    }
    let mut head = ResponseHead::new(status);
    head.headers = headers;
    head.keep_alive = exchange.keep_alive;
    Response::from_parts(head, body)
}

/// The media type for a file name, with `charset=utf-8` on text: portico
/// assumes UTF-8 text files, as browsers otherwise guess (RFC 9110 §8.3).
/// The common text types are constants, so most responses build this
/// field without an allocation.
fn content_type(name: &str) -> FieldValue {
    // The extension as `Path::extension` gives it (none for `.name`),
    // without building a `Path`: its component parsing was the largest
    // user-space cost of a small response (callgrind).
    let extension = match name.rfind('.') {
        None | Some(0) => "",
        Some(dot) => &name[dot + 1..],
    };
    let mime = mime_guess::from_ext(extension).first_raw().unwrap_or("application/octet-stream");
    let with_charset = match mime {
        "text/html" => "text/html; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "text/plain" => "text/plain; charset=utf-8",
        "text/javascript" => "text/javascript; charset=utf-8",
        "application/javascript" => "application/javascript; charset=utf-8",
        "application/json" => "application/json; charset=utf-8",
        "image/svg+xml" => "image/svg+xml; charset=utf-8",
        "text/markdown" => "text/markdown; charset=utf-8",
        "text/xml" => "text/xml; charset=utf-8",
        "text/csv" => "text/csv; charset=utf-8",
        other if other.starts_with("text/") => {
            return FieldValue::from(format!("{other}; charset=utf-8"));
        }
        other => other,
    };
    FieldValue::from(with_charset)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::SafePath;

    fn exchange() -> Exchange {
        Exchange {
            now: SystemTime::UNIX_EPOCH,
            keep_alive: true,
            echo_keep_alive: false,
            head_only: false,
        }
    }

    fn names<H>(response: &Response<H>) -> Vec<String> {
        response.headers().iter().map(|(name, _)| name.to_owned()).collect()
    }

    #[test]
    fn a_file_plan_is_a_file_body_with_its_fields() {
        let plan = Plan::File {
            status: 200,
            path: SafePath::root().join("a.css").unwrap(),
            file: FileInfo::new(7u8, 5).modified(Some(SystemTime::UNIX_EPOCH)),
        };
        let site = Site::default()
            .with_cache_control(Some("max-age=60".into()))
            .and_then(|s| s.with_header("X-Frame-Options", "DENY"))
            .unwrap();
        let response = response(plan, &exchange(), &site);
        assert_eq!(response.status(), 200);
        assert_eq!(
            names(&response),
            [
                "Server",
                "Date",
                "Content-Type",
                "Content-Length",
                "Last-Modified",
                "Cache-Control",
                "X-Content-Type-Options",
                "X-Frame-Options"
            ]
        );
        assert_eq!(
            response.headers().get("content-type").unwrap().to_text(),
            "text/css; charset=utf-8"
        );
        assert_eq!(response.body(), &Body::File { handle: 7, offset: 0, len: 5 });
    }

    #[test]
    fn media_types_follow_the_extension_as_path_gives_it() {
        for name in [
            "index.html",
            "a.CSS",
            "x.tar.gz",
            "noext",
            "file.",
            ".hidden",
            ".html",
            "a.b.js",
            "data.json",
            "logo.svg",
            "report.pdf",
            "caf\u{e9}.txt",
            "weird.\u{e9}",
        ] {
            let by_path =
                mime_guess::from_path(name).first_raw().unwrap_or("application/octet-stream");
            let ours = content_type(name).to_text().into_owned();
            assert!(ours.starts_with(by_path), "{name}: {ours} vs {by_path}");
        }
    }

    #[test]
    fn pages_carry_the_field_their_status_needs() {
        let plan: Plan<()> =
            Plan::Page { status: 405, detail: "no", field: Some(("Allow", "GET, HEAD")) };
        let response = response(plan, &exchange(), &Site::default());
        assert_eq!(response.headers().get("Allow").unwrap().to_text(), "GET, HEAD");
        let Body::Bytes(html) = response.body() else { panic!("a page") };
        assert_eq!(
            response.headers().get("Content-Length").unwrap().to_text(),
            html.len().to_string()
        );
        let plan: Plan<()> = Plan::page(400, "bad");
        assert!(response_of(plan).headers().get("Allow").is_none());
    }

    fn response_of(plan: Plan<()>) -> Response<()> {
        response(plan, &exchange(), &Site::default())
    }

    #[test]
    fn head_only_and_closing_exchanges() {
        let closing = Exchange { keep_alive: false, head_only: true, ..exchange() };
        let closed = response(Plan::<()>::page(404, "x"), &closing, &Site::default());
        assert_eq!(closed.body(), &Body::Empty);
        assert!(!closed.keep_alive());
        assert_eq!(closed.headers().get("Connection").unwrap().to_text(), "close");
        let http10 = Exchange { echo_keep_alive: true, ..exchange() };
        let kept =
            response(Plan::<()>::Redirect { location: "/d/".into() }, &http10, &Site::default());
        assert_eq!(kept.headers().get("Connection").unwrap().to_text(), "keep-alive");
        assert_eq!(kept.status(), 301);
    }
}
