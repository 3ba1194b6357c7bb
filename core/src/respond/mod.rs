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
pub use build::media_type;
mod conditional;
mod listing;
mod negotiate;
mod policy;
mod range;
mod resolve;

use std::time::SystemTime;

use crate::fields::Coding;
use crate::lookup::{FileInfo, FileLookup};
use crate::request::{Method, Version};
use crate::response::{Response, date_range};
use crate::{Rejection, Request, SafePath, Site};

/// A file on its way out: what was asked for, what will be sent, and how.
#[derive(Debug)]
pub(crate) struct Served<H> {
    /// 200, or 404 for the site's 404 page.
    pub(crate) status: u16,
    /// The path asked for: its name gives the media type, also when a
    /// precompressed sibling is sent.
    pub(crate) path: SafePath,
    /// The file sent: the one at `path`, or its sibling in `coding`.
    pub(crate) file: FileInfo<H>,
    /// The content coding of `file`, if it is a precompressed sibling.
    pub(crate) coding: Option<Coding>,
    /// Whether the answer depends on `Accept-Encoding` (`Vary`).
    pub(crate) negotiated: bool,
    /// `(offset, len)` ranges to send with 206; empty for the whole file.
    pub(crate) ranges: Vec<(u64, u64)>,
    /// The site's fallback page, sent for a miss that accepts HTML: the
    /// answer depends on `Accept` too.
    pub(crate) fallback: bool,
}

impl<H> Served<H> {
    pub(crate) fn new(status: u16, path: SafePath, file: FileInfo<H>) -> Self {
        Self {
            status,
            path,
            file,
            coding: None,
            negotiated: false,
            ranges: Vec::new(),
            fallback: false,
        }
    }
}

/// What a request will be answered with, decided before any header is
/// written. Stages rewrite it; [`build::response`] writes it.
#[derive(Debug)]
pub(crate) enum Plan<H> {
    /// Send this file (or these ranges of it).
    File(Served<H>),
    /// 304: the client's copy of this file is current.
    NotModified(Served<H>),
    /// 416: no range asked for lies within a representation of `len` bytes.
    Unsatisfiable {
        /// The representation's length, for `Content-Range: bytes */len`.
        len: u64,
    },
    /// A directory asked for with its slash, with no index file: the
    /// listing stage answers it.
    Directory {
        /// The directory.
        path: SafePath,
    },
    /// A generated listing of a directory.
    Listing {
        /// The page (HTML) or document (JSON).
        body: String,
        /// Which of the two.
        format: listing::Format,
    },
    /// 204 to `OPTIONS`: what the server allows.
    Options,
    /// 204 to a CORS preflight (an `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) on a site with CORS on.
    Preflight {
        /// The `Access-Control-Request-Headers` to allow, if the client
        /// sent a valid list.
        headers: Option<String>,
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
    pub(crate) client_version: Version,
    /// HEAD: the same head as GET, no body (RFC 9110 §9.3.2).
    pub(crate) head_only: bool,
}

impl Exchange {
    fn new(request: &Request<'_>, now: SystemTime) -> Self {
        Self {
            now: date_range(now),
            keep_alive: request.keep_alive(),
            client_version: request.version(),
            head_only: request.method() == Method::Head,
        }
    }

    /// A response that ends the connection (errors a connection or a host
    /// gives).
    fn closing(now: SystemTime, head_only: bool) -> Self {
        Self { now: date_range(now), keep_alive: false, client_version: Version::Http11, head_only }
    }
}

/// Answer a request from the files `files` can see, as `site` says. GET
/// and HEAD are served with validators, conditionals, byte ranges,
/// precompressed siblings and directory listings; `OPTIONS` gets 204 with
/// `Allow`; another method portico knows gets 405, an unknown one 501.
/// `now` is the `Date` of the response: the core never reads a clock.
pub fn respond<L: FileLookup>(
    request: &Request<'_>,
    site: &Site,
    files: &L,
    now: SystemTime,
) -> Response<L::Handle> {
    let exchange = Exchange::new(request, now);
    let plan = match policy::method(request, site) {
        Ok(()) => resolve::resolve(request.target_form(), site, files),
        Err(refusal) => refusal,
    };
    let plan = listing::directory(plan, request, site, files);
    let plan = resolve::fallback(plan, request, site, files);
    let plan = resolve::not_found_page(plan, site, files);
    let plan = negotiate::encoding(plan, request, files);
    let plan = conditional::evaluate(plan, request, now);
    let plan = range::select(plan, request, now);
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
