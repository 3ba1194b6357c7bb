//! From a request to a response, as a pipeline of named stages. Each stage
//! takes the [`Plan`] so far and returns the next: what to send is decided
//! as a value first, and only [`build`] turns it into a [`Response`].
//!
//! ```text
//! policy::method ─▶ resolve ─▶ listing ─▶ resolve::not_found_page
//!     ─▶ negotiate ─▶ conditional ─▶ range ─▶ build
//! ```
//!
//! Negotiation comes before the conditional and range stages because
//! validators and byte ranges belong to the representation chosen
//! (RFC 9110 §8.8.3, §14.1.2).

mod build;
mod conditional;
mod listing;
mod negotiate;
mod policy;
mod range;
mod resolve;

use std::time::SystemTime;

use crate::lookup::{FileInfo, FileLookup};
use crate::request::{Method, Version};
use crate::response::{Response, date_range};
use crate::{Rejection, Request, SafePath, Site};

/// What a request will be answered with, decided before any header is
/// written. Stages rewrite it; [`build::response`] writes it.
#[derive(Debug)]
pub(crate) enum Plan<H> {
    /// Send this file with this status (200, or 404 for the site's 404
    /// page).
    File {
        /// 200 or 404.
        status: u16,
        /// Where it is (its name gives the media type).
        path: SafePath,
        /// What the lookup found.
        file: FileInfo<H>,
    },
    /// A directory asked for with its slash, with no index file: where
    /// listings plug in.
    Directory {
        /// The directory.
        // Read by the listing stage once listings exist (and by tests).
        #[allow(dead_code)]
        path: SafePath,
    },
    /// Nothing to serve here: the site's 404 page or a generated one.
    NotFound,
    /// 301 to this absolute path (and query).
    Redirect {
        /// The `Location` value, built from the sanitised path.
        location: String,
    },
    /// A generated HTML page for this status.
    Page {
        /// The status code.
        status: u16,
        /// One sentence for the page.
        detail: &'static str,
        /// A field this status needs (`Allow` on a 405).
        field: Option<(&'static str, &'static str)>,
    },
}

impl<H> Plan<H> {
    pub(crate) fn page(status: u16, detail: &'static str) -> Self {
        Self::Page { status, detail, field: None }
    }
}

/// What every response to one request shares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    /// The `Date`, clamped to what an HTTP-date can say.
    pub(crate) now: SystemTime,
    pub(crate) keep_alive: bool,
    /// An HTTP/1.0 client only keeps the connection if told so.
    pub(crate) echo_keep_alive: bool,
    /// HEAD: the same head as GET, no body (RFC 9110 §9.3.2).
    pub(crate) head_only: bool,
}

impl Exchange {
    fn new(request: &Request<'_>, now: SystemTime) -> Self {
        Self {
            now: date_range(now),
            keep_alive: request.keep_alive(),
            echo_keep_alive: request.keep_alive() && request.version() == Version::Http10,
            head_only: request.method() == Method::Head,
        }
    }

    /// A response that ends the connection (errors a connection or a host
    /// gives).
    fn closing(now: SystemTime, head_only: bool) -> Self {
        Self { now: date_range(now), keep_alive: false, echo_keep_alive: false, head_only }
    }
}

/// Answer a request from the files `files` can see, as `site` says: GET
/// and HEAD are served, any other method gets 405. `now` is the `Date` of
/// the response: the core never reads a clock.
pub fn respond<L: FileLookup>(
    request: &Request<'_>,
    site: &Site,
    files: &L,
    now: SystemTime,
) -> Response<L::Handle> {
    let exchange = Exchange::new(request, now);
    let plan = match policy::method(request) {
        Ok(()) => resolve::resolve(request.target_form(), site, files),
        Err(refusal) => refusal,
    };
    let plan = listing::directory(plan, site);
    let plan = resolve::not_found_page(plan, site, files);
    let plan = negotiate::encoding(plan, request);
    let plan = conditional::evaluate(plan, request);
    let plan = range::select(plan, request);
    build::response(plan, &exchange, site)
}

/// The answer to a request the connection refused (a [`Rejection`], or
/// just a [`crate::ProtocolError`]). It closes the connection.
pub fn error_response<H>(rejection: impl Into<Rejection>, now: SystemTime) -> Response<H> {
    let rejection = rejection.into();
    let exchange = Exchange::closing(now, rejection.head_request);
    let status = rejection.error.status();
    build::response(Plan::page(status, rejection.error.reason()), &exchange, &Site::default())
}

/// A generated error page with this status that closes the connection,
/// for failures only a host can see: 503 when it is at its connection cap
/// or its sandbox ran out of time (with `Retry-After`), 500 when its
/// handler failed, 404/403/500 for a file it could not open.
pub fn closing_response<H>(status: u16, now: SystemTime) -> Response<H> {
    let field = (status == 503).then_some(("Retry-After", "1"));
    let plan = Plan::Page { status, detail: crate::reason_phrase(status), field };
    build::response(plan, &Exchange::closing(now, false), &Site::default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{Limits, Parsed, parse_request};

    /// The stages still to come (negotiation, conditionals, ranges) pass
    /// every plan through unchanged, each on its own, even for a request
    /// that asks for what they will do.
    #[test]
    fn the_stages_still_to_come_pass_plans_through() {
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\
                    Accept-Encoding: br\r\nIf-None-Match: *\r\n\r\n";
        let Ok(Parsed::Complete(request)) = parse_request(raw, &Limits::default()) else {
            panic!("a request")
        };
        type Stage = fn(Plan<()>, &Request<'_>) -> Plan<()>;
        let stages: [(&str, Stage); 3] = [
            ("negotiate", negotiate::encoding),
            ("conditional", conditional::evaluate),
            ("range", range::select),
        ];
        for (name, stage) in stages {
            let plan = stage(Plan::Redirect { location: "/x/".into() }, &request);
            assert!(matches!(plan, Plan::Redirect { location } if location == "/x/"), "{name}");
            assert!(matches!(stage(Plan::NotFound, &request), Plan::NotFound), "{name}");
            let file = Plan::File {
                status: 200,
                path: SafePath::root().join("a").unwrap(),
                file: FileInfo::new((), 3),
            };
            let Plan::File { status, path, file } = stage(file, &request) else { panic!("{name}") };
            assert_eq!((status, path.as_str(), file.len), (200, "a", 3), "{name}");
        }
    }
}
