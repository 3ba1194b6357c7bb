//! The last stage: a [`Plan`] and the site become a [`Response`] (status,
//! fields in order, body description). Nothing is decided here that an
//! earlier stage could decide.

use super::{Exchange, Plan, Served, conditional, listing, policy};
use crate::lookup::FileInfo;
use crate::response::{Body, FieldValue, Headers, Part, Response, ResponseHead, reason_phrase};
use crate::{PathRule, SafePath, Site};

/// Write the plan as a response.
pub(crate) fn response<H>(plan: Plan<H>, exchange: &Exchange, site: &Site) -> Response<H> {
    match plan {
        Plan::File(served) => file(served, exchange, site),
        Plan::NotModified(served) => not_modified(&served, exchange, site),
        Plan::Unsatisfiable { len } => {
            let range = format!("bytes */{len}");
            let detail = "No part of the range asked for lies within the file.";
            page(416, detail, Some(("Content-Range", range.into())), exchange, site)
        }
        Plan::Listing { body, format } => {
            let mut headers = start(exchange);
            headers.add(
                "Content-Type",
                match format {
                    listing::Format::Html => "text/html; charset=utf-8",
                    listing::Format::Json => "application/json",
                },
            );
            headers.add("Content-Length", body.len() as u64);
            headers.add("Content-Security-Policy", listing::POLICY);
            // Without `?format=`, `Accept` chooses between the two.
            headers.add("Vary", "Accept");
            let body =
                if exchange.head_only { Body::Empty } else { Body::Bytes(body.into_bytes()) };
            finish(200, headers, body, exchange, site, &[])
        }
        Plan::Options => {
            // 204: no Content-Length (RFC 9110 §8.6), no body.
            let mut headers = start(exchange);
            headers.add("Allow", policy::ALLOW);
            finish(204, headers, Body::Empty, exchange, site, &[])
        }
        Plan::Preflight { headers: requested } => {
            let mut headers = start(exchange);
            headers.add("Allow", policy::ALLOW);
            headers.add("Access-Control-Allow-Methods", policy::ALLOW);
            if let Some(requested) = requested {
                headers.add("Access-Control-Allow-Headers", requested);
                headers.add("Vary", "Access-Control-Request-Headers");
            }
            headers.add("Access-Control-Max-Age", 86_400u64);
            finish(204, headers, Body::Empty, exchange, site, &[])
        }
        Plan::Redirect { location } => {
            let mut headers = start(exchange);
            headers.add("Location", location);
            headers.add("Content-Length", 0u64);
            finish(301, headers, Body::Empty, exchange, site, &[])
        }
        // The listing stage answers directories; one that reaches here has
        // nothing to show.
        Plan::Directory { .. } | Plan::NotFound => {
            page(404, "There is nothing at this address.", None, exchange, site)
        }
        Plan::Page { status, detail, field } => {
            let field = field.map(|(name, value)| (name, FieldValue::from(value)));
            page(status, detail, field, exchange, site)
        }
    }
}

/// The fields a file's 200, 206 and 304 share: its validators, `Vary`
/// and the site's `Cache-Control` (RFC 9110 §15.4.5 asks a 304 for those
/// a 200 would carry).
/// `rules` are the site's rules that match the file, found once per
/// response by [`matching`].
fn validators<H>(
    headers: &mut Headers,
    served: &Served<H>,
    exchange: &Exchange,
    site: &Site,
    rules: &[&PathRule],
) {
    if let Some(modified) = conditional::last_modified(&served.file, exchange.now) {
        headers.add("Last-Modified", modified);
    }
    if let Some(tag) = conditional::etag(&served.file, served.coding) {
        headers.add("ETag", tag);
    }
    match (served.negotiated, served.fallback) {
        (true, true) => headers.add("Vary", "Accept, Accept-Encoding"),
        (true, false) => headers.add("Vary", "Accept-Encoding"),
        (false, true) => headers.add("Vary", "Accept"),
        (false, false) => {}
    }
    // The last rule for this path that sets one, else the site's.
    let rule = rules.iter().rev().find_map(|rule| rule.cache_control.as_ref());
    if let Some(cache_control) = rule.or(site.cache_control.as_ref()) {
        headers.add("Cache-Control", cache_control.clone());
    }
}

fn file<H>(served: Served<H>, exchange: &Exchange, site: &Site) -> Response<H> {
    let mut headers = start(exchange);
    let media_type = content_type(served.path.file_name());
    // The site's 404 page is a page, not the resource asked for: no
    // validators, ranges or caching.
    if served.status != 200 {
        headers.add("Content-Type", media_type);
        headers.add("Content-Length", served.file.len);
        let body = whole(served.file, exchange);
        return finish(served.status, headers, body, exchange, site, &[]);
    }
    enum Shape {
        Whole,
        One(u64, u64),
        Many(Vec<Part>),
    }
    let len = served.file.len;
    let (status, body_len, shape) = match served.ranges.as_slice() {
        [] => (200, len, Shape::Whole),
        &[(offset, part)] => (206, part, Shape::One(offset, part)),
        ranges => {
            let boundary = boundary(&served, exchange);
            let parts = multipart(ranges, len, &media_type, &boundary);
            let total = parts.iter().map(|part| match part {
                Part::Bytes(bytes) => bytes.len() as u64,
                Part::File { len, .. } => *len,
            });
            let total = total.fold(0, u64::saturating_add);
            let mut value = String::with_capacity(64);
            value.push_str("multipart/byteranges; boundary=");
            value.push_str(&boundary);
            headers.add("Content-Type", value);
            (206, total, Shape::Many(parts))
        }
    };
    if !matches!(shape, Shape::Many(_)) {
        headers.add("Content-Type", media_type);
    }
    if let Some(coding) = served.coding {
        headers.add("Content-Encoding", coding.token());
    }
    headers.add("Content-Length", body_len);
    if let Shape::One(offset, part) = shape {
        headers.add("Content-Range", content_range(offset, part, len));
    }
    headers.add("Accept-Ranges", "bytes");
    let rules = matching(site, &served.path);
    validators(&mut headers, &served, exchange, site, &rules);
    let handle = served.file.handle;
    let body = match shape {
        _ if exchange.head_only || body_len == 0 => Body::Empty,
        Shape::Whole => Body::File { handle, offset: 0, len },
        Shape::One(offset, len) => Body::File { handle, offset, len },
        Shape::Many(parts) => Body::Parts { handle, parts },
    };
    finish(status, headers, body, exchange, site, &rules)
}

/// The whole file, or nothing for HEAD and empty files.
fn whole<H>(file: FileInfo<H>, exchange: &Exchange) -> Body<H> {
    if exchange.head_only || file.len == 0 {
        Body::Empty
    } else {
        Body::File { handle: file.handle, offset: 0, len: file.len }
    }
}

fn not_modified<H>(served: &Served<H>, exchange: &Exchange, site: &Site) -> Response<H> {
    let mut headers = start(exchange);
    let rules = matching(site, &served.path);
    validators(&mut headers, served, exchange, site, &rules);
    finish(304, headers, Body::Empty, exchange, site, &rules)
}

/// `bytes first-last/len`.
fn content_range(offset: u64, len: u64, total: u64) -> String {
    let mut value = String::with_capacity(48);
    value.push_str("bytes ");
    value.push_str(&offset.to_string());
    value.push('-');
    value.push_str(&(offset + len - 1).to_string());
    value.push('/');
    value.push_str(&total.to_string());
    value
}

/// A boundary unlikely to occur in the file: derived from its validators
/// and the time of the response (the core has no randomness), 30
/// characters, all valid in a quoted or token boundary (RFC 2046 §5.1.1).
fn boundary<H>(served: &Served<H>, exchange: &Exchange) -> String {
    // FNV-1a over what identifies this file and this moment.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    mix(conditional::etag(&served.file, served.coding).unwrap_or_default().as_bytes());
    mix(served.path.as_str().as_bytes());
    let nanos = exchange.now.duration_since(std::time::SystemTime::UNIX_EPOCH).unwrap_or_default();
    mix(&nanos.as_nanos().to_le_bytes());
    format!("portico-{hash:016x}{:06x}", served.file.len & 0xff_ffff)
}

/// The parts of a `multipart/byteranges` body (RFC 9110 §14.6): each
/// range with its own `Content-Type` and `Content-Range`, the file's bytes
/// left for the host to stream.
fn multipart(
    ranges: &[(u64, u64)],
    len: u64,
    content_type: &FieldValue,
    boundary: &str,
) -> Vec<Part> {
    let mut parts = Vec::with_capacity(ranges.len() * 2 + 1);
    for (i, &(offset, part)) in ranges.iter().enumerate() {
        let mut head = String::with_capacity(128);
        if i > 0 {
            head.push_str("\r\n");
        }
        head.push_str("--");
        head.push_str(boundary);
        head.push_str("\r\nContent-Type: ");
        head.push_str(&content_type.to_text());
        head.push_str("\r\nContent-Range: ");
        head.push_str(&content_range(offset, part, len));
        head.push_str("\r\n\r\n");
        parts.push(Part::Bytes(head.into_bytes()));
        parts.push(Part::File { offset, len: part });
    }
    parts.push(Part::Bytes(format!("\r\n--{boundary}--\r\n").into_bytes()));
    parts
}

/// A small generated HTML page for a status.
fn page<H>(
    status: u16,
    detail: &str,
    field: Option<(&'static str, FieldValue)>,
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
    finish(status, headers, body, exchange, site, &[])
}

fn start(exchange: &Exchange) -> Headers {
    let mut headers = Headers::new();
    headers.add("Server", "portico");
    headers.add("Date", exchange.now);
    headers
}

/// The site's rules for the file at `path`, in order.
fn matching<'s>(site: &'s Site, path: &SafePath) -> Vec<&'s PathRule> {
    site.rules.iter().filter(|rule| rule.matches(path)).collect()
}

/// The fields every response ends with: `nosniff`, CORS, the site's
/// extra fields, and those of `rules` (the rules matching a file
/// response's file; none for other responses).
fn finish<H>(
    status: u16,
    mut headers: Headers,
    body: Body<H>,
    exchange: &Exchange,
    site: &Site,
    rules: &[&PathRule],
) -> Response<H> {
    headers.add("X-Content-Type-Options", "nosniff");
    if site.cors {
        headers.add("Access-Control-Allow-Origin", "*");
        // Beyond the CORS-safelisted ones, what a script reading a file
        // needs: validators, ranges, the coding.
        headers.add(
            "Access-Control-Expose-Headers",
            "ETag, Content-Range, Accept-Ranges, Content-Encoding, Date",
        );
    }
    for (name, value) in site.extra_headers.iter() {
        // Checked when the site was built; a field the core sent too
        // (`Server`, say) takes the site's value.
        let _ = headers.try_set(name.to_owned(), value.clone());
    }
    for (name, value) in rules.iter().flat_map(|rule| rule.headers.iter()) {
        let _ = headers.try_set(name.to_owned(), value.clone());
    }
    // Built whole: `ResponseHead::new` would allocate a field list only
    // to drop it for this one. `Connection` is the serialiser's.
    let head =
        ResponseHead::with_headers(status, headers, exchange.keep_alive, exchange.client_version);
    Response::from_parts(head, body)
}

/// The media type portico serves a file of this name as (without
/// parameters), from its extension: what `Content-Type` says, and what a
/// host that compresses files on the fly asks of a name.
#[must_use]
pub fn media_type(name: &str) -> &'static str {
    // The extension as `Path::extension` gives it (none for `.name`),
    // without building a `Path`: its component parsing was the largest
    // user-space cost of a small response (callgrind).
    let extension = match name.rfind('.') {
        None | Some(0) => "",
        Some(dot) => &name[dot + 1..],
    };
    common_type(extension)
        .or_else(|| mime_guess::from_ext(extension).first_raw())
        .unwrap_or("application/octet-stream")
}

/// The media type for a file name, with `charset=utf-8` on text: portico
/// assumes UTF-8 text files, as browsers otherwise guess (RFC 9110 §8.3).
/// The common text types are constants, so most responses build this
/// field without an allocation.
fn content_type(name: &str) -> FieldValue {
    let mime = media_type(name);
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

/// The types of the extensions most requests name, as `mime_guess` has
/// them (a test keeps the two equal): a few comparisons instead of its
/// case-insensitive search through a thousand extensions, which was a
/// visible share of a small response's time.
const COMMON_TYPES: [(&str, &str); 12] = [
    ("html", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("svg", "image/svg+xml"),
    ("json", "application/json"),
    ("webp", "image/webp"),
    ("woff2", "font/woff2"),
    ("ico", "image/x-icon"),
    ("txt", "text/plain"),
    ("wasm", "application/wasm"),
];

fn common_type(extension: &str) -> Option<&'static str> {
    COMMON_TYPES.iter().find(|(ext, _)| ext.eq_ignore_ascii_case(extension)).map(|(_, mime)| *mime)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn common_types_are_what_mime_guess_says() {
        for (ext, mime) in super::COMMON_TYPES {
            for ext in [ext.to_owned(), ext.to_uppercase()] {
                assert_eq!(mime_guess::from_ext(&ext).first_raw(), Some(mime), "{ext}");
                assert_eq!(super::common_type(&ext), Some(mime));
            }
        }
    }

    use std::time::SystemTime;

    use super::*;
    use crate::SafePath;
    use crate::fields::Coding;

    fn exchange() -> Exchange {
        Exchange {
            now: SystemTime::UNIX_EPOCH,
            keep_alive: true,
            client_version: crate::Version::Http11,
            head_only: false,
        }
    }

    fn names<H>(response: &Response<H>) -> Vec<String> {
        response.headers().iter().map(|(name, _)| name.to_owned()).collect()
    }

    fn served(status: u16) -> Served<u8> {
        let file = FileInfo::new(7u8, 5).modified(Some(SystemTime::UNIX_EPOCH));
        Served::new(status, SafePath::root().join("a.css").unwrap(), file)
    }

    fn site() -> Site {
        Site::default()
            .with_cache_control(Some("max-age=60".into()))
            .and_then(|s| s.with_header("X-Frame-Options", "DENY"))
            .unwrap()
    }

    #[test]
    fn a_file_plan_is_a_file_body_with_its_fields() {
        let response = response(Plan::File(served(200)), &exchange(), &site());
        assert_eq!(response.status(), 200);
        assert_eq!(
            names(&response),
            [
                "Server",
                "Date",
                "Content-Type",
                "Content-Length",
                "Accept-Ranges",
                "Last-Modified",
                "ETag",
                "Cache-Control",
                "X-Content-Type-Options",
                "X-Frame-Options"
            ]
        );
        assert_eq!(
            response.headers().get("content-type").unwrap().to_text(),
            "text/css; charset=utf-8"
        );
        assert_eq!(response.headers().get("etag").unwrap().to_text(), "\"0.0-5\"");
        assert_eq!(response.body(), &Body::File { handle: 7, offset: 0, len: 5 });
        // The site's 404 page: no validators, no caching, no ranges.
        let page = response_with(Plan::File(served(404)));
        assert_eq!(page.status(), 404);
        for absent in ["etag", "last-modified", "cache-control", "accept-ranges", "vary"] {
            assert!(page.headers().get(absent).is_none(), "{absent}");
        }
    }

    fn response_with(plan: Plan<u8>) -> Response<u8> {
        response(plan, &exchange(), &site())
    }

    #[test]
    fn rfc9110_15_4_5_a_304_carries_the_validators_vary_and_cache_control_only() {
        let mut served = served(200);
        served.coding = Some(Coding::Gzip);
        served.negotiated = true;
        let response = response_with(Plan::NotModified(served));
        assert_eq!(response.status(), 304);
        assert_eq!(
            names(&response),
            [
                "Server",
                "Date",
                "Last-Modified",
                "ETag",
                "Vary",
                "Cache-Control",
                "X-Content-Type-Options",
                "X-Frame-Options"
            ]
        );
        assert_eq!(response.headers().get("etag").unwrap().to_text(), "\"0.0-5-gz\"");
        assert_eq!(response.body(), &Body::Empty);
    }

    #[test]
    fn rfc9110_14_4_a_single_range_is_206_with_content_range() {
        let mut served = served(200);
        served.ranges = vec![(1, 3)];
        let response = response_with(Plan::File(served));
        assert_eq!(response.status(), 206);
        let field = |name| response.headers().get(name).unwrap().to_text().into_owned();
        assert_eq!(field("content-range"), "bytes 1-3/5");
        assert_eq!(field("content-length"), "3");
        assert_eq!(field("content-type"), "text/css; charset=utf-8");
        assert_eq!(response.body(), &Body::File { handle: 7, offset: 1, len: 3 });
    }

    #[test]
    fn rfc9110_14_6_several_ranges_are_multipart_byteranges_streamed_from_the_file() {
        let mut served = served(200);
        served.file.len = 1000;
        served.ranges = vec![(0, 10), (500, 20)];
        let response = response_with(Plan::File(served));
        assert_eq!(response.status(), 206);
        let content_type = response.headers().get("content-type").unwrap().to_text().into_owned();
        let boundary = content_type.strip_prefix("multipart/byteranges; boundary=").unwrap();
        assert!(response.headers().get("content-range").is_none());
        let Body::Parts { handle: 7, parts } = response.body() else { panic!("parts") };
        let expected = [
            Part::Bytes(
                format!(
                    "--{boundary}\r\nContent-Type: text/css; charset=utf-8\r\n\
                     Content-Range: bytes 0-9/1000\r\n\r\n"
                )
                .into_bytes(),
            ),
            Part::File { offset: 0, len: 10 },
            Part::Bytes(
                format!(
                    "\r\n--{boundary}\r\nContent-Type: text/css; charset=utf-8\r\n\
                     Content-Range: bytes 500-519/1000\r\n\r\n"
                )
                .into_bytes(),
            ),
            Part::File { offset: 500, len: 20 },
            Part::Bytes(format!("\r\n--{boundary}--\r\n").into_bytes()),
        ];
        assert_eq!(parts, &expected);
        assert_eq!(
            response.headers().get("content-length").unwrap().to_text(),
            response.body().len().to_string()
        );
    }

    #[test]
    fn rfc9110_14_1_3_unsatisfiable_is_416_with_the_length() {
        let response = response_with(Plan::Unsatisfiable { len: 42 });
        assert_eq!(response.status(), 416);
        assert_eq!(response.headers().get("content-range").unwrap().to_text(), "bytes */42");
    }

    #[test]
    fn rfc9110_9_3_7_options_is_204_with_allow_and_no_length() {
        let response = response_with(Plan::Options);
        assert_eq!(response.status(), 204);
        assert_eq!(response.headers().get("allow").unwrap().to_text(), "GET, HEAD, OPTIONS");
        assert!(response.headers().get("content-length").is_none());
        assert_eq!(response.body(), &Body::Empty);
    }

    #[test]
    fn cors_fields_go_on_every_response_and_preflights_get_their_own() {
        let cors = Site::default().with_cors(true);
        for plan in [Plan::File(served(200)), Plan::page(404, "x"), Plan::Options] {
            let response = response(plan, &exchange(), &cors);
            let field = |name| response.headers().get(name).map(|v| v.to_text().into_owned());
            assert_eq!(field("access-control-allow-origin").as_deref(), Some("*"));
            assert!(field("access-control-expose-headers").unwrap().contains("ETag"));
        }
        let plain = response_with(Plan::File(served(200)));
        assert!(plain.headers().get("access-control-allow-origin").is_none());
        let preflight =
            response::<()>(Plan::Preflight { headers: Some("range".into()) }, &exchange(), &cors);
        assert_eq!(preflight.status(), 204);
        let field = |name| preflight.headers().get(name).map(|v| v.to_text().into_owned());
        assert_eq!(field("access-control-allow-methods").as_deref(), Some("GET, HEAD, OPTIONS"));
        assert_eq!(field("access-control-allow-headers").as_deref(), Some("range"));
        assert_eq!(field("access-control-max-age").as_deref(), Some("86400"));
        assert_eq!(field("vary").as_deref(), Some("Access-Control-Request-Headers"));
        assert_eq!(preflight.body(), &Body::Empty);
    }

    #[test]
    fn rules_set_cache_control_and_fields_for_the_files_they_match() {
        use crate::PathRule;
        let site = Site::default()
            .with_cache_control(Some("no-cache".into()))
            .unwrap()
            .with_rule(
                PathRule::new("/**/*.css")
                    .and_then(|r| r.with_cache_control(Some("max-age=60".into())))
                    .and_then(|r| r.with_header("X-Rule", "one"))
                    .unwrap(),
            )
            .with_rule(
                PathRule::new("/a.css")
                    .and_then(|r| r.with_cache_control(Some("immutable".into())))
                    .unwrap(),
            );
        let at = |name: &str| {
            let file = FileInfo::new(7u8, 5).modified(Some(SystemTime::UNIX_EPOCH));
            let plan = Plan::File(Served::new(200, SafePath::root().join(name).unwrap(), file));
            let response = response(plan, &exchange(), &site);
            let field = |n| response.headers().get(n).map(|v| v.to_text().into_owned());
            (field("cache-control"), field("x-rule"))
        };
        assert_eq!(
            at("a.css"),
            (Some("immutable".into()), Some("one".into())),
            "the last rule wins"
        );
        assert_eq!(at("b.css"), (Some("max-age=60".into()), Some("one".into())));
        assert_eq!(at("b.js"), (Some("no-cache".into()), None), "no rule: the site's");
        let page = response::<()>(Plan::page(404, "x"), &exchange(), &site);
        assert!(page.headers().get("x-rule").is_none(), "rules are for files");
    }

    #[test]
    fn a_fallback_page_varies_by_accept() {
        let mut fallback = served(200);
        fallback.fallback = true;
        let response = response_with(Plan::File(fallback));
        assert_eq!(response.headers().get("vary").unwrap().to_text(), "Accept");
        let mut both = served(200);
        both.fallback = true;
        both.negotiated = true;
        let response = response_with(Plan::File(both));
        assert_eq!(response.headers().get("vary").unwrap().to_text(), "Accept, Accept-Encoding");
    }

    #[test]
    fn a_listing_forbids_scripts() {
        let response =
            response_with(Plan::Listing { body: "<p>x</p>".into(), format: listing::Format::Html });
        let policy = response.headers().get("content-security-policy").unwrap().to_text();
        assert!(policy.starts_with("default-src 'none'"), "{policy}");
        assert!(!policy.contains("script-src"));
        assert_eq!(response.body(), &Body::Bytes(b"<p>x</p>".to_vec()));
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
            Plan::Page { status: 405, detail: "no", field: Some(("Allow", "GET, HEAD, OPTIONS")) };
        let response = response(plan, &exchange(), &Site::default());
        assert_eq!(response.headers().get("Allow").unwrap().to_text(), "GET, HEAD, OPTIONS");
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
        assert!(closed.headers().get("Connection").is_none(), "hop-by-hop: the serialiser's");
        assert!(closed.head_bytes().ends_with(b"\r\nConnection: close\r\n\r\n"));
        let http10 = Exchange { client_version: crate::Version::Http10, ..exchange() };
        let kept =
            response(Plan::<()>::Redirect { location: "/d/".into() }, &http10, &Site::default());
        assert!(kept.headers().get("Connection").is_none());
        assert!(kept.head_bytes().ends_with(b"\r\nConnection: keep-alive\r\n\r\n"));
        assert_eq!(kept.status(), 301);
    }
}
