//! Directory listings: a directory asked for with its slash and without an
//! index file becomes a small HTML page of its entries, when the site has
//! listings on (the default).
//!
//! - Directories first, then files, each sorted by name ignoring case;
//!   size and modification time (UTC) beside each; a parent link below
//!   the root.
//! - Names are shown as they are (UTF-8), HTML-escaped; links are the
//!   names percent-encoded (everything but letters, digits and `-._~`),
//!   relative to the directory, so any name a request path can name
//!   round-trips. Names that are not UTF-8 or hold a control character or
//!   a backslash cannot be requested: they are not listed, and the page
//!   says how many there are.
//! - Hidden names (a leading `.`) are not listed unless the site serves
//!   them; an entry whose [`FileLookup::stat`] is not a file or a
//!   directory (a symlink out of the root, a socket, a dangling link) is
//!   not listed either, and not counted: it is not served.
//! - Bounded: the names are read once, and only the first
//!   [`MAX_ENTRIES`] in the listing's order are kept, looked at and shown
//!   (the page says how many more there are); the page stops growing at
//!   [`MAX_PAGE_BYTES`] (and says how many rows that left out). A directory of 100,000 entries costs one pass over
//!   its names, a heap of 10,000, and 10,000 `stat`s.
//! - The page needs no script, and its `Content-Security-Policy` allows
//!   none.

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Plan;
use crate::lookup::{EntryName, FileLookup, Lookup};
use crate::{SafePath, Site};

/// At most this many entries are listed.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Rows stop being added once the page is this large (names can be long,
/// and escape to several bytes a character).
pub(crate) const MAX_PAGE_BYTES: usize = 3 << 20;

/// The `Content-Security-Policy` of a listing: its own inline style, and
/// nothing else (no script, no frame, no form, no base).
pub(crate) const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A link's characters left as they are: RFC 3986 unreserved.
const LINK: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A [`Plan::Directory`] becomes its listing (or a miss, with listings
/// off); every other plan passes through.
pub(crate) fn directory<L: FileLookup>(
    plan: Plan<L::Handle>,
    site: &Site,
    files: &L,
) -> Plan<L::Handle> {
    let Plan::Directory { path } = plan else { return plan };
    if !site.listings {
        return Plan::NotFound;
    }
    // The first MAX_ENTRIES names in listing order, in a max-heap whose
    // top is the last of them; any later name pushes it out.
    let mut kept: BinaryHeap<Name> = BinaryHeap::new();
    let mut left_out = LeftOut::default();
    let mut named = 0usize;
    let read = files.read_dir(&path, &mut |name| {
        let EntryName::Utf8(name) = name else {
            left_out.unnamable += 1;
            return;
        };
        if name.starts_with('.') && !site.hidden {
            return;
        }
        if SafePath::check_name(name).is_err() {
            left_out.unnamable += 1;
            return;
        }
        named += 1;
        let name = Name::new(name);
        if kept.len() < MAX_ENTRIES {
            kept.push(name);
        } else if kept.peek().is_some_and(|last| name < *last) {
            kept.pop();
            kept.push(name);
        }
    });
    match read {
        Ok(()) => {}
        Err(Lookup::Forbidden) => return Plan::page(403, "You may not read this directory."),
        Err(Lookup::NotFound | Lookup::File(_) | Lookup::Directory) => return Plan::NotFound,
        Err(Lookup::Failed) => return Plan::page(500, "The directory could not be read."),
    }
    left_out.over_cap = named - kept.len().min(named);
    let mut entries: Vec<Entry> = kept
        .into_sorted_vec()
        .into_iter()
        .filter_map(|Name { name, .. }| {
            let child = path.join(&name).ok()?;
            match files.stat(&child) {
                Lookup::File(file) => Some(Entry {
                    name,
                    directory: false,
                    len: Some(file.len),
                    modified: file.modified,
                }),
                Lookup::Directory => {
                    Some(Entry { name, directory: true, len: None, modified: None })
                }
                _ => None,
            }
        })
        .collect();
    // Stable: names stay in order within directories and files.
    entries.sort_by_key(|entry| !entry.directory);
    Plan::Listing { html: page(&path, &entries, left_out) }
}

/// Entries a listing leaves out, besides the hidden ones and those not
/// served (neither a file nor a directory below the root), by why.
#[derive(Default)]
struct LeftOut {
    /// Names no request can name: not UTF-8, a control character, a
    /// backslash.
    unnamable: usize,
    /// Beyond the first [`MAX_ENTRIES`].
    over_cap: usize,
}

/// A name with its sort key: case folded, then as it is.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Name {
    folded: String,
    name: String,
}

impl Name {
    fn new(name: &str) -> Self {
        Self { folded: name.to_lowercase(), name: name.to_owned() }
    }
}

struct Entry {
    name: String,
    directory: bool,
    len: Option<u64>,
    modified: Option<SystemTime>,
}

fn page(path: &SafePath, entries: &[Entry], left_out: LeftOut) -> String {
    let mut html = String::with_capacity(1024 + entries.len() * 160);
    let shown = format!("/{}{}", path.as_str(), if path.is_root() { "" } else { "/" });
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ",
    );
    escape(&mut html, &shown);
    html.push_str("</title>\n<style>");
    html.push_str(STYLE);
    html.push_str("</style></head>\n<body><main>\n<h1>Index of <a href=\"/\">/</a>");
    // Breadcrumbs: each ancestor links to itself.
    let mut ancestor = SafePath::root();
    for segment in path.segments() {
        let Ok(next) = ancestor.join(segment) else { break };
        ancestor = next;
        let _ = write!(html, "<a href=\"{}\">", ancestor.to_url_path(true));
        escape(&mut html, segment);
        html.push_str("</a>/");
    }
    html.push_str(
        "</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead>\n<tbody>\n",
    );
    if !path.is_root() {
        html.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    let mut cut = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        if html.len() > MAX_PAGE_BYTES {
            cut = entries.len() - i;
            break;
        }
        row(&mut html, entry);
    }
    html.push_str("</tbody>\n</table>\n");
    let are = |n: usize| if n == 1 { "entry is" } else { "entries are" };
    let LeftOut { unnamable, over_cap } = left_out;
    if over_cap > 0 {
        let _ = writeln!(
            html,
            "<p class=\"more\">{over_cap} more {} not listed: a listing shows at most {MAX_ENTRIES}.</p>",
            are(over_cap)
        );
    }
    if cut > 0 {
        let _ = writeln!(
            html,
            "<p class=\"more\">{cut} more {} not listed: the page is at its size limit.</p>",
            are(cut)
        );
    }
    if unnamable > 0 {
        let _ = writeln!(
            html,
            "<p class=\"more\">{unnamable} {} not listed: {} cannot be requested \
             (not UTF-8, or with a control character or a backslash).</p>",
            are(unnamable),
            if unnamable == 1 { "its name" } else { "their names" }
        );
    }
    if entries.is_empty() && over_cap + cut + unnamable == 0 {
        html.push_str("<p class=\"more\">This directory is empty.</p>\n");
    }
    html.push_str("<footer>portico</footer>\n</main></body></html>\n");
    html
}

fn row(html: &mut String, entry: &Entry) {
    let slash = if entry.directory { "/" } else { "" };
    let class = if entry.directory { " class=\"d\"" } else { "" };
    let _ = write!(
        html,
        "<tr{class}><td><a href=\"{}{slash}\">",
        utf8_percent_encode(&entry.name, LINK)
    );
    escape(html, &entry.name);
    html.push_str(slash);
    html.push_str("</a></td>");
    match entry.len {
        Some(len) => {
            let _ = write!(html, "<td title=\"{len} bytes\">");
            size(html, len);
            html.push_str("</td>");
        }
        None => html.push_str("<td>-</td>"),
    }
    html.push_str("<td>");
    if let Some(secs) = entry
        .modified
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
    {
        let crate::Utc { year, month, day, hour, minute, .. } = crate::Utc::from_unix(secs);
        let _ = write!(
            html,
            "<time datetime=\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}Z\">\
             {year:04}-{month:02}-{day:02} {hour:02}:{minute:02}</time>"
        );
    }
    html.push_str("</td></tr>\n");
}

/// `len` in bytes, or KiB, MiB, GiB, TiB with one decimal.
fn size(html: &mut String, len: u64) {
    if len < 1024 {
        let _ = write!(html, "{len} B");
        return;
    }
    let mut unit = 0;
    let mut value = len as f64 / 1024.0;
    while value >= 1024.0 && unit < 3 {
        value /= 1024.0;
        unit += 1;
    }
    let _ = write!(html, "{value:.1} {}", ["KiB", "MiB", "GiB", "TiB"][unit]);
}

/// Text for HTML content or a quoted attribute.
fn escape(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}

const STYLE: &str = ":root{color-scheme:light dark;font-family:system-ui,-apple-system,sans-serif}\
body{margin:0 auto;max-width:62rem;padding:1rem}\
h1{font-size:1.2rem;font-weight:600;overflow-wrap:anywhere}\
h1 a{color:inherit}\
table{width:100%;border-collapse:collapse;font-size:.95rem}\
th,td{padding:.45rem .5rem;text-align:left;border-bottom:1px solid #8884}\
th{font-weight:600;color:#888}\
td:first-child{overflow-wrap:anywhere}\
th:nth-child(2),td:nth-child(2){text-align:right;white-space:nowrap}\
td:nth-child(3){white-space:nowrap;font-variant-numeric:tabular-nums}\
tr.d a{font-weight:600}\
a{text-decoration:none}a:hover{text-decoration:underline}\
.more,footer{color:#888;font-size:.85rem}\
footer{margin-top:1rem}\
@media (max-width:36rem){th:nth-child(3),td:nth-child(3){display:none}}";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::MemoryLookup;

    fn listing(files: &MemoryLookup, dir: &str, site: &Site) -> Plan<std::sync::Arc<[u8]>> {
        let path = SafePath::from_request_path(dir).unwrap();
        directory(Plan::Directory { path }, site, files)
    }

    fn html(files: &MemoryLookup, dir: &str, site: &Site) -> String {
        match listing(files, dir, site) {
            Plan::Listing { html } => html,
            other => panic!("{other:?}"),
        }
    }

    /// The (href, text) of every link in the table.
    fn links(html: &str) -> Vec<(String, String)> {
        let body = &html[html.find("<tbody>").unwrap()..];
        body.split("<a href=\"")
            .skip(1)
            .map(|rest| {
                let (href, rest) = rest.split_once("\">").unwrap();
                let (text, _) = rest.split_once("</a>").unwrap();
                (href.to_owned(), text.to_owned())
            })
            .collect()
    }

    #[test]
    fn directories_first_then_files_sorted_with_a_parent_link() {
        let mut files = MemoryLookup::new()
            .with("d/b.txt", &b"bb"[..])
            .with("d/A.txt", &b"a"[..])
            .with("d/zdir/x", &b""[..])
            .with("d/Cdir/y", &b""[..])
            .with("d/.hidden", &b""[..]);
        files.insert(
            "d/big.bin",
            vec![0u8; 3 * 1024 * 1024 / 2],
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        );
        let html = html(&files, "/d/", &Site::default());
        let links = links(&html);
        let hrefs: Vec<_> = links.iter().map(|(href, _)| href.as_str()).collect();
        assert_eq!(hrefs, ["../", "Cdir/", "zdir/", "A.txt", "b.txt", "big.bin"]);
        assert!(html.contains("<td title=\"1572864 bytes\">1.5 MiB</td>"), "{html}");
        assert!(html.contains("<td title=\"2 bytes\">2 B</td>"));
        assert!(html.contains(">2023-11-14 22:13</time>"), "{html}");
        assert!(html.contains("<title>Index of /d/</title>"));
        assert!(!html.contains("hidden"));
        assert!(!html.to_lowercase().contains("<script"));
        let with_hidden = super::tests::html(&files, "/d/", &Site::default().with_hidden(true));
        assert!(with_hidden.contains("href=\".hidden\""));
        // The root has no parent link.
        assert!(!super::tests::html(&files, "/", &Site::default()).contains("href=\"../\""));
    }

    #[test]
    fn names_are_escaped_in_text_and_percent_encoded_in_links() {
        let names = [
            "a#b",
            "q?x",
            "100%",
            "c:d",
            "e;f",
            "g,h",
            "[i]",
            "<j>",
            "k&l",
            "sp ace",
            "\"q\"",
            "it's",
            "caf\u{e9}",
            "\u{65e5}\u{672c}",
        ];
        let mut files = MemoryLookup::new();
        for name in names {
            files.insert(&format!("n/{name}"), &b"x"[..], None);
        }
        let html = html(&files, "/n/", &Site::default());
        for (href, text) in links(&html).into_iter().skip(1) {
            // The link, resolved against /n/, names the file shown.
            let path = SafePath::from_request_path(&format!("/n/{href}")).unwrap();
            let name = path.file_name().to_owned();
            assert!(names.contains(&name.as_str()), "{href} -> {name}");
            let unescaped = text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            assert_eq!(unescaped, name);
            assert!(
                href.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{href}"
            );
        }
        assert_eq!(links(&html).len(), names.len() + 1);
    }

    #[test]
    fn listings_off_or_a_missing_directory_are_misses() {
        let files = MemoryLookup::new().with("d/a", &b""[..]);
        let off = Site { listings: false, ..Site::default() };
        assert!(matches!(listing(&files, "/d/", &off), Plan::NotFound));
        assert!(matches!(listing(&files, "/nope/", &Site::default()), Plan::NotFound));
        assert!(matches!(
            directory(Plan::Redirect { location: "/d/".into() }, &Site::default(), &files),
            Plan::Redirect { .. }
        ));
    }

    #[test]
    fn a_huge_directory_lists_the_first_entries_and_counts_the_rest() {
        let mut files = MemoryLookup::new();
        for i in 0..MAX_ENTRIES + 25 {
            files.insert(&format!("big/f{i:06}"), &b""[..], None);
        }
        let html = html(&files, "/big/", &Site::default());
        let links = links(&html);
        assert_eq!(links.len(), MAX_ENTRIES + 1);
        assert_eq!(links[1].0, "f000000");
        assert_eq!(links[MAX_ENTRIES].0, format!("f{:06}", MAX_ENTRIES - 1));
        assert!(html.contains("25 more entries are not listed"), "{}", &html[html.len() - 300..]);
    }

    /// A directory `odd/` whose entries are these names, each a file.
    struct Odd(Vec<EntryName<'static>>);

    impl FileLookup for Odd {
        type Handle = ();

        fn lookup(&self, path: &SafePath) -> Lookup<()> {
            match path.as_str() {
                "odd" => Lookup::Directory,
                _ => Lookup::File(crate::FileInfo::new((), 1)),
            }
        }

        fn read_dir(
            &self,
            _: &SafePath,
            visit: &mut dyn FnMut(EntryName<'_>),
        ) -> Result<(), Lookup<()>> {
            self.0.iter().for_each(|&name| visit(name));
            Ok(())
        }
    }

    fn odd_page(names: Vec<EntryName<'static>>) -> String {
        let plan = directory(
            Plan::Directory { path: SafePath::from_request_path("/odd/").unwrap() },
            &Site::default(),
            &Odd(names),
        );
        let Plan::Listing { html } = plan else { panic!("not a listing") };
        html
    }

    #[test]
    fn names_that_cannot_be_requested_are_counted_apart_from_the_cap() {
        use EntryName::{NotUtf8, Utf8};
        let html = odd_page(vec![Utf8("ok"), NotUtf8, Utf8("a\\b"), Utf8("c\u{1}"), Utf8(".h")]);
        assert_eq!(links(&html).len(), 2, "the parent and ok");
        assert!(
            html.contains("3 entries are not listed: their names cannot be requested"),
            "{html}"
        );
        assert!(!html.contains("at most") && !html.contains("empty"), "{html}");
        let html = odd_page(vec![NotUtf8]);
        assert!(html.contains("1 entry is not listed: its name cannot be requested"), "{html}");
        assert!(!html.contains("empty"), "{html}");
        let html = odd_page(vec![Utf8(".h")]);
        assert!(html.contains("This directory is empty."), "{html}");
        // Over the cap too: each count says its own reason.
        let mut names: Vec<EntryName<'static>> = (0..MAX_ENTRIES + 2)
            .map(|i| EntryName::Utf8(Box::leak(format!("f{i:06}").into_boxed_str())))
            .collect();
        names.push(NotUtf8);
        let html = odd_page(names);
        assert!(html.contains("2 more entries are not listed: a listing shows at most 10000"));
        assert!(html.contains("1 entry is not listed: its name cannot be requested"));
    }

    #[test]
    fn sizes_read_as_people_do() {
        let shown = |len| {
            let mut out = String::new();
            size(&mut out, len);
            out
        };
        assert_eq!(shown(0), "0 B");
        assert_eq!(shown(1023), "1023 B");
        assert_eq!(shown(1024), "1.0 KiB");
        assert_eq!(shown(5 << 30), "5.0 GiB");
        assert_eq!(shown(u64::MAX), "16777216.0 TiB");
    }
}
