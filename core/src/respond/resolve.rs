//! From a request-target to what is there: a file, a directory, a
//! redirect or a miss, looked up through [`FileLookup`]; and from a miss to
//! the site's 404 page.

use super::{Plan, Served, policy};
use crate::lookup::{FileLookup, Lookup};
use crate::request::Method;
use crate::{Request, SafePath, Site, Target};

/// Sanitise the target's path and look it up: a file is served, a
/// directory named without its slash is redirected to it (so relative
/// links work), a directory with it serves its first index file, and
/// anything else is a miss.
pub(crate) fn resolve<L: FileLookup>(
    target: Target<'_>,
    site: &Site,
    files: &L,
) -> Plan<L::Handle> {
    let Some(raw_path) = target.path() else {
        return Plan::page(400, "This target does not name a file.");
    };
    let path = match SafePath::from_request_path(raw_path) {
        Ok(path) => path,
        Err(error) => return Plan::page(error.status(), "The request path is not valid."),
    };
    if !policy::visible(&path, site) {
        return Plan::NotFound;
    }
    match files.lookup(&path) {
        // `/file.txt/`: a file asked for as a directory is not there.
        Lookup::File(_) if path.names_directory() => Plan::NotFound,
        Lookup::File(file) => Plan::File(Served::new(200, path, file)),
        Lookup::Directory if !path.names_directory() => {
            let mut location = path.to_url_path(true);
            if let Some(query) = target.query() {
                location.push('?');
                location.push_str(query);
            }
            Plan::Redirect { location }
        }
        Lookup::Directory => index(path, site, files),
        Lookup::NotFound => Plan::NotFound,
        Lookup::Forbidden => Plan::page(403, "You may not read this file."),
        _ => Plan::page(500, "The file could not be read."),
    }
}

/// The directory's first index file, or [`Plan::Directory`] when it has
/// none.
fn index<L: FileLookup>(path: SafePath, site: &Site, files: &L) -> Plan<L::Handle> {
    for name in &site.index_names {
        let Ok(candidate) = path.join(name) else { continue };
        match files.lookup(&candidate) {
            Lookup::File(file) => return Plan::File(Served::new(200, candidate, file)),
            Lookup::Directory | Lookup::NotFound => {}
            Lookup::Forbidden => return Plan::page(403, "You may not read this directory."),
            _ => return Plan::page(500, "The file could not be read."),
        }
    }
    Plan::Directory { path }
}

/// A miss of a GET or HEAD that accepts `text/html` becomes the site's
/// fallback page with status 200, when the site has one and it is there:
/// a single-page application's entry page for every route it handles on
/// the client. Anything else passes through.
pub(crate) fn fallback<L: FileLookup>(
    plan: Plan<L::Handle>,
    request: &Request<'_>,
    site: &Site,
    files: &L,
) -> Plan<L::Handle> {
    let (Plan::NotFound, Some(page)) = (&plan, &site.fallback) else { return plan };
    if !matches!(request.method(), Method::Get | Method::Head) || !accepts_html(request) {
        return plan;
    }
    match files.lookup(page) {
        Lookup::File(file) => {
            let mut served = Served::new(200, page.clone(), file);
            served.fallback = true;
            Plan::File(served)
        }
        _ => plan,
    }
}

/// Whether `Accept` names `text/html` with a weight above 0: what a
/// browser sends when it navigates, and not for scripts, styles, images
/// or `fetch()` (`*/*`).
fn accepts_html(request: &Request<'_>) -> bool {
    crate::fields::accept_weight(request.header_list("accept"), "text/html") > 0
}

/// A miss becomes the site's 404 page, served with status 404, or a
/// generated one when the site has none (or it cannot be read).
pub(crate) fn not_found_page<L: FileLookup>(
    plan: Plan<L::Handle>,
    site: &Site,
    files: &L,
) -> Plan<L::Handle> {
    let Plan::NotFound = plan else { return plan };
    if let Some(page) = &site.not_found_page
        && let Lookup::File(file) = files.lookup(page)
    {
        return Plan::File(Served::new(404, page.clone(), file));
    }
    Plan::page(404, "There is nothing at this address.")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::{FileInfo, MemoryLookup};

    /// A lookup that records every path it was asked for.
    struct Recording<'a>(&'a MemoryLookup, RefCell<Vec<String>>);

    impl FileLookup for Recording<'_> {
        type Handle = <MemoryLookup as FileLookup>::Handle;
        fn lookup(&self, path: &SafePath) -> Lookup<Self::Handle> {
            self.1.borrow_mut().push(path.as_str().to_owned());
            self.0.lookup(path)
        }
    }

    fn files() -> MemoryLookup {
        MemoryLookup::new()
            .with("index.html", &b"home"[..])
            .with("a.txt", &b"a"[..])
            .with("docs/index.htm", &b"docs"[..])
            .with("bare/x.txt", &b"x"[..])
            .with(".env", &b"secret"[..])
    }

    fn plan(target: &str, site: &Site) -> (String, Vec<String>) {
        let files = files();
        let recording = Recording(&files, RefCell::default());
        let plan = resolve(Target::parse(target).unwrap(), site, &recording);
        let shown = match plan {
            Plan::File(served) => format!("file {} {}", served.status, served.path.as_str()),
            Plan::Directory { path } => format!("directory {}", path.as_str()),
            Plan::NotFound => "not found".to_owned(),
            Plan::Redirect { location } => format!("redirect {location}"),
            Plan::Page { status, .. } => format!("page {status}"),
            other => format!("{other:?}"),
        };
        (shown, recording.1.into_inner())
    }

    #[test]
    fn files_directories_and_misses() {
        let site = Site::default();
        assert_eq!(plan("/a.txt", &site).0, "file 200 a.txt");
        assert_eq!(plan("/", &site).0, "file 200 index.html");
        assert_eq!(plan("/a.txt/", &site).0, "not found");
        assert_eq!(plan("/nope", &site).0, "not found");
        assert_eq!(plan("/docs", &site).0, "redirect /docs/");
        assert_eq!(plan("/docs?x=1", &site).0, "redirect /docs/?x=1");
        assert_eq!(plan("/bare/", &site).0, "directory bare");
        assert_eq!(plan("/docs/", &site).0, "directory docs");
        assert_eq!(plan("/%zz", &site).0, "page 400");
        assert_eq!(plan("*", &site).0, "page 400");
    }

    #[test]
    fn index_names_are_tried_in_order() {
        let site = Site::default().with_index_names(["index.htm", "index.html"]).unwrap();
        let (shown, asked) = plan("/docs/", &site);
        assert_eq!(shown, "file 200 docs/index.htm");
        assert_eq!(asked, ["docs", "docs/index.htm"]);
        let (shown, asked) = plan("/", &site);
        assert_eq!(shown, "file 200 index.html");
        assert_eq!(asked, ["", "index.htm", "index.html"]);
    }

    #[test]
    fn a_hidden_name_is_never_looked_up() {
        let (shown, asked) = plan("/.env", &Site::default());
        assert_eq!(shown, "not found");
        assert!(asked.is_empty(), "{asked:?}");
        assert_eq!(plan("/.env", &Site::default().with_hidden(true)).0, "file 200 .env");
    }

    #[test]
    fn misses_that_accept_html_get_the_fallback_page() {
        use crate::{Limits, Parsed, parse_request};
        let files = files();
        let site = Site::default().with_fallback(Some("index.html")).unwrap();
        let served = |raw: &str, site: &Site| {
            let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
            else {
                panic!("a request")
            };
            match fallback(Plan::NotFound, &request, site, &files) {
                Plan::File(served) => {
                    assert!(served.fallback);
                    format!("{} {}", served.status, served.path.as_str())
                }
                Plan::NotFound => "miss".to_owned(),
                other => format!("{other:?}"),
            }
        };
        let browser = "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n";
        let get = |accept: &str| format!("GET /app/route HTTP/1.1\r\nHost: h\r\n{accept}\r\n");
        assert_eq!(served(&get(browser), &site), "200 index.html");
        assert_eq!(served(&get("Accept: TEXT/HTML;q=0.5\r\n"), &site), "200 index.html");
        for asset in
            ["Accept: */*\r\n", "Accept: image/webp,*/*\r\n", "", "Accept: text/html;q=0\r\n"]
        {
            assert_eq!(served(&get(asset), &site), "miss", "{asset}");
        }
        assert_eq!(served(&get(browser), &Site::default()), "miss", "no fallback set");
        let missing = Site::default().with_fallback(Some("app.html")).unwrap();
        assert_eq!(served(&get(browser), &missing), "miss", "the page is not there");
        let head = format!("HEAD /x HTTP/1.1\r\nHost: h\r\n{browser}\r\n");
        assert_eq!(served(&head, &site), "200 index.html");
    }

    #[test]
    fn misses_become_the_sites_404_page_or_a_generated_one() {
        let with_page = files().with("404.html", &b"gone"[..]);
        let site = Site::default();
        let status = |plan: Plan<_>| match plan {
            Plan::File(served) => format!("file {} {}", served.status, served.path.as_str()),
            Plan::Page { status, .. } => format!("page {status}"),
            _ => "other".to_owned(),
        };
        assert_eq!(status(not_found_page(Plan::NotFound, &site, &with_page)), "file 404 404.html");
        assert_eq!(status(not_found_page(Plan::NotFound, &site, &files())), "page 404");
        let no_page = Site::default().with_not_found_page(None).unwrap();
        assert_eq!(status(not_found_page(Plan::NotFound, &no_page, &with_page)), "page 404");
        // Anything but a miss passes through.
        let file = Plan::File(Served::new(
            200,
            SafePath::root().join("a.txt").unwrap(),
            FileInfo::new(std::sync::Arc::from(&b"a"[..]), 1),
        ));
        assert_eq!(status(not_found_page(file, &site, &with_page)), "file 200 a.txt");
    }
}
