//! Directory listings: a directory asked for with its slash and without an
//! index file becomes a page of its entries, when the site has listings on
//! (the default): HTML for people ([`html`]), JSON for programs ([`json`]),
//! as the request asks ([`view`]).
//!
//! - Directories first, then files; by name (ignoring case, numbers by
//!   value: `file2` before `file10`) unless the query asks for size or
//!   time (`?sort=size&order=desc`), which the page's column headings
//!   link to; kind, size and modification time (UTC) of each entry.
//! - Names are shown as they are (UTF-8), escaped; links are the names
//!   percent-encoded (everything but letters, digits and `-._~`),
//!   relative to the directory, so any name a request path can name
//!   round-trips. Names that are not UTF-8 or hold a control character or
//!   a backslash cannot be requested: they are not listed, and the page
//!   says how many there are.
//! - Hidden names (a leading `.`) are not listed unless the site serves
//!   them; an entry [`FileLookup::read_dir`] reports as neither a file nor
//!   a directory (a symlink out of the root, a socket, a dangling link) is
//!   not listed either, and not counted: it is not served.
//! - Bounded: the directory is read once, and only the first
//!   [`MAX_ENTRIES`] entries in the listing's order are kept (a heap) and
//!   shown (the page says how many more there are); the page stops
//!   growing at [`MAX_PAGE_BYTES`] (and says how many rows that left
//!   out). A directory of 100,000 entries costs one pass over them (a
//!   name and an `fstatat` each, in a host over a file system) and a heap
//!   of 10,000, whichever the order.
//! - The HTML page needs no script, and its `Content-Security-Policy`
//!   allows none.

mod html;
mod json;
mod view;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Plan;
use crate::lookup::{EntryName, EntryStat, FileLookup, Lookup};
use crate::{Request, SafePath, Site};
pub(crate) use html::POLICY;
pub(crate) use view::Format;
use view::{Order, View, natural};

/// At most this many entries are listed.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// Rows stop being added once the page is this large (names can be long,
/// and escape to several bytes a character).
pub(crate) const MAX_PAGE_BYTES: usize = 3 << 20;

/// A [`Plan::Directory`] becomes its listing (or a miss, with listings
/// off); every other plan passes through.
pub(crate) fn directory<L: FileLookup>(
    plan: Plan<L::Handle>,
    request: &Request<'_>,
    site: &Site,
    files: &L,
) -> Plan<L::Handle> {
    let Plan::Directory { path } = plan else { return plan };
    if !site.listings {
        return Plan::NotFound;
    }
    let view = View::of(request);
    let listed = match read(&path, view.order, site, files) {
        Ok(listed) => listed,
        Err(Lookup::Forbidden) => return Plan::page(403, "You may not read this directory."),
        Err(Lookup::NotFound | Lookup::File(_) | Lookup::Directory) => return Plan::NotFound,
        Err(Lookup::Failed) => return Plan::page(500, "The directory could not be read."),
    };
    let body = match view.format {
        Format::Html => html::page(&path, &listed, view.order),
        Format::Json => json::document(&path, &listed, view.order),
    };
    Plan::Listing { body, format: view.format }
}

/// The entries a listing shows, in its order, and what it leaves out.
pub(crate) struct Listed {
    pub(crate) entries: Vec<Entry>,
    pub(crate) left_out: LeftOut,
}

/// An entry shown.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) stat: EntryStat,
}

/// Entries a listing leaves out, besides the hidden ones and those not
/// served (neither a file nor a directory below the root), by why.
#[derive(Default)]
pub(crate) struct LeftOut {
    /// Names no request can name: not UTF-8, a control character, a
    /// backslash.
    pub(crate) unnamable: usize,
    /// Beyond the first [`MAX_ENTRIES`].
    pub(crate) over_cap: usize,
}

/// Read the directory once, keeping the first [`MAX_ENTRIES`] entries in
/// `order` in a max-heap whose top is the last of them (any later entry
/// pushes it out).
fn read<L: FileLookup>(
    path: &SafePath,
    order: Order,
    site: &Site,
    files: &L,
) -> Result<Listed, Lookup<()>> {
    let mut kept: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut left_out = LeftOut::default();
    let mut named = 0usize;
    let mut folded = String::new();
    files.read_dir(path, &mut |name, stat| {
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
        // Not served, so not listed and not counted.
        let Some(stat) = stat else { return };
        named += 1;
        // Compared before anything is allocated: in a large directory most
        // entries fall after the last one kept.
        folded.clear();
        folded.extend(name.chars().flat_map(char::to_lowercase));
        let parts = Parts { name, folded: &folded, stat };
        let full = kept.len() >= MAX_ENTRIES;
        if full && !kept.peek().is_some_and(|last| compare(order, parts, last.parts()).is_lt()) {
            return;
        }
        if full {
            kept.pop();
        }
        kept.push(Ranked { order, folded: folded.clone(), name: name.to_owned(), stat });
    })?;
    left_out.over_cap = named - kept.len();
    let entries = kept
        .into_sorted_vec()
        .into_iter()
        .map(|Ranked { name, stat, .. }| Entry { name, stat })
        .collect();
    Ok(Listed { entries, left_out })
}

/// An entry as the heap ranks it ([`compare`]). The name's lowercase form
/// is made once per entry kept, not in every comparison.
struct Ranked {
    order: Order,
    folded: String,
    name: String,
    stat: EntryStat,
}

/// What the order looks at of an entry, borrowed.
#[derive(Clone, Copy)]
struct Parts<'a> {
    name: &'a str,
    folded: &'a str,
    stat: EntryStat,
}

impl Ranked {
    fn parts(&self) -> Parts<'_> {
        Parts { name: &self.name, folded: &self.folded, stat: self.stat }
    }
}

/// Directories first, then the key in the order's direction; equal sizes
/// or times by name, A to Z, whichever the direction.
fn compare(order: Order, a: Parts<'_>, b: Parts<'_>) -> Ordering {
    let direction = |o: Ordering| if order.descending { o.reverse() } else { o };
    let by_name = || natural(a.folded, b.folded).then_with(|| a.name.cmp(b.name));
    let by_key = match order.key {
        view::Key::Name => direction(by_name()),
        view::Key::Size => direction(a.stat.len.cmp(&b.stat.len)).then_with(by_name),
        view::Key::Time => direction(a.stat.modified.cmp(&b.stat.modified)).then_with(by_name),
    };
    b.stat.directory.cmp(&a.stat.directory).then(by_key)
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(self.order, self.parts(), other.parts())
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::MemoryLookup;

    /// The listing stage's answer to a GET of `target` (a directory),
    /// with this `Accept` field if any.
    fn list<L: FileLookup>(
        files: &L,
        target: &str,
        accept: Option<&str>,
        site: &Site,
    ) -> Plan<L::Handle> {
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{accept}\r\n");
        let Ok(crate::Parsed::Complete(request)) =
            crate::parse_request(head.as_bytes(), &crate::Limits::default())
        else {
            panic!("{head}")
        };
        let path = SafePath::from_request_path(request.target_form().path().unwrap()).unwrap();
        directory(Plan::Directory { path }, &request, site, files)
    }

    fn listing(files: &MemoryLookup, dir: &str, site: &Site) -> Plan<std::sync::Arc<[u8]>> {
        list(files, dir, None, site)
    }

    fn html(files: &MemoryLookup, dir: &str, site: &Site) -> String {
        match listing(files, dir, site) {
            Plan::Listing { body, format: Format::Html } => body,
            other => panic!("{other:?}"),
        }
    }

    /// The (href, text) of every link in the table.
    fn links(html: &str) -> Vec<(String, String)> {
        let body = &html[html.find("<tbody>").unwrap()..html.find("</tbody>").unwrap()];
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
        let head = b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n";
        let Ok(crate::Parsed::Complete(get)) =
            crate::parse_request(head, &crate::Limits::default())
        else {
            panic!()
        };
        assert!(matches!(
            directory(Plan::Redirect { location: "/d/".into() }, &get, &Site::default(), &files),
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
            visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
        ) -> Result<(), Lookup<()>> {
            self.0.iter().for_each(|&name| visit(name, Some(EntryStat::file(1, None))));
            Ok(())
        }
    }

    fn odd_page(names: Vec<EntryName<'static>>) -> String {
        let plan = list(&Odd(names), "/odd/", None, &Site::default());
        let Plan::Listing { body, .. } = plan else { panic!("not a listing") };
        body
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

    /// A root of files and directories with times and sizes, directories
    /// with their time too, as a real file system has ([`MemoryLookup`]
    /// knows none for them).
    struct Timed(Vec<(&'static str, Option<u64>, u64)>);

    impl Timed {
        fn stat(&self, name: &str) -> Option<EntryStat> {
            let at = |secs| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            let &(_, len, secs) = self.0.iter().find(|(entry, ..)| *entry == name)?;
            Some(match len {
                Some(len) => EntryStat::file(len, at(secs)),
                None => EntryStat::directory(at(secs)),
            })
        }
    }

    impl FileLookup for Timed {
        type Handle = ();

        fn lookup(&self, path: &SafePath) -> Lookup<()> {
            match self.stat(path.as_str()) {
                Some(stat) if stat.directory => Lookup::Directory,
                Some(stat) => Lookup::File(crate::FileInfo::new((), stat.len)),
                None if path.is_root() => Lookup::Directory,
                None => Lookup::NotFound,
            }
        }

        fn read_dir(
            &self,
            _: &SafePath,
            visit: &mut dyn FnMut(EntryName<'_>, Option<EntryStat>),
        ) -> Result<(), Lookup<()>> {
            self.0.iter().for_each(|(name, ..)| visit(EntryName::Utf8(name), self.stat(name)));
            Ok(())
        }
    }

    fn timed() -> Timed {
        Timed(vec![
            ("file10.txt", Some(5), 1_700_000_300),
            ("file2.txt", Some(500), 1_700_000_100),
            ("File1.txt", Some(50), 1_700_000_200),
            ("zdir", None, 1_700_000_400),
            ("adir", None, 1_700_000_000),
            ("same.txt", Some(50), 1_700_000_100),
        ])
    }

    fn names(target: &str) -> Vec<String> {
        let Plan::Listing { body, .. } = list(&timed(), target, None, &Site::default()) else {
            panic!("not a listing")
        };
        links(&body).into_iter().map(|(href, _)| href).collect()
    }

    #[test]
    fn listings_sort_by_name_size_or_time_directories_first() {
        assert_eq!(
            names("/"),
            ["adir/", "zdir/", "File1.txt", "file2.txt", "file10.txt", "same.txt"]
        );
        assert_eq!(
            names("/?order=desc"),
            ["zdir/", "adir/", "same.txt", "file10.txt", "file2.txt", "File1.txt"]
        );
        // Equal sizes by name, A to Z, in either direction.
        assert_eq!(
            names("/?sort=size&order=desc"),
            ["adir/", "zdir/", "file2.txt", "File1.txt", "same.txt", "file10.txt"]
        );
        assert_eq!(
            names("/?sort=size"),
            ["adir/", "zdir/", "file10.txt", "File1.txt", "same.txt", "file2.txt"]
        );
        assert_eq!(
            names("/?sort=time&order=desc"),
            ["zdir/", "adir/", "file10.txt", "File1.txt", "file2.txt", "same.txt"]
        );
        assert_eq!(
            names("/?sort=time"),
            ["adir/", "zdir/", "file2.txt", "same.txt", "File1.txt", "file10.txt"]
        );
        // Directories show their time.
        let Plan::Listing { body, .. } = list(&timed(), "/", None, &Site::default()) else {
            panic!()
        };
        assert!(body.contains("<tr class=\"d\"><td><a href=\"zdir/\">zdir/</a></td><td>-</td><td><time datetime=\"2023-11-14T22:20Z\">"), "{body}");
        // The current column links to the other direction.
        assert!(body.contains("<a href=\"?sort=name&amp;order=desc\">Name \u{2191}</a>"), "{body}");
    }

    #[test]
    fn sorted_by_size_or_time_the_cap_keeps_the_first_in_that_order() {
        let mut files = MemoryLookup::new();
        for i in 0..MAX_ENTRIES + 5 {
            files.insert(&format!("big/f{i:06}"), vec![0u8; i % 100], None);
        }
        let Plan::Listing { body, .. } =
            list(&files, "/big/?sort=size&order=desc", None, &Site::default())
        else {
            panic!()
        };
        let shown = links(&body);
        assert_eq!(shown.len(), MAX_ENTRIES + 1);
        // The largest (99 bytes), by name; 10,005 / 100 files of each size.
        assert_eq!(shown[1].0, "f000099");
        assert!(body.contains("5 more entries are not listed"), "{}", &body[body.len() - 300..]);
        // Left out: the last five of the 101 empty files, by name.
        assert_eq!(shown[MAX_ENTRIES].0, "f009500");
        assert!(!body.contains("f009600") && !body.contains("f010000"));
    }

    #[test]
    fn json_lists_the_same_entries_for_programs() {
        let json_of = |target: &str, accept| {
            let Plan::Listing { body, format } = list(&timed(), target, accept, &Site::default())
            else {
                panic!()
            };
            assert_eq!(format, Format::Json);
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        };
        let doc = json_of("/?format=json&sort=size&order=desc", None);
        assert_eq!(doc["path"], "/");
        assert_eq!(doc["sort"], "size");
        assert_eq!(doc["order"], "desc");
        let entries = doc["entries"].as_array().unwrap();
        let names: Vec<_> = entries.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["adir", "zdir", "file2.txt", "File1.txt", "same.txt", "file10.txt"]);
        assert_eq!(entries[0]["type"], "directory");
        assert!(entries[0].get("size").is_none());
        assert_eq!(entries[0]["modified"], "2023-11-14T22:13:20Z");
        assert_eq!(entries[0]["mtime"], 1_700_000_000);
        assert_eq!(entries[2]["type"], "file");
        assert_eq!(entries[2]["size"], 500);
        assert_eq!(doc["not_listed"]["over_limit"], 0);
        assert_eq!(json_of("/", Some("application/json"))["sort"], "name");
        // Names that need escaping come back as they are.
        let mut files = MemoryLookup::new();
        for name in ["q\"uote", "<b>&amp;", "caf\u{e9}", "tab\tless"] {
            files.insert(&format!("n/{name}"), &b"x"[..], None);
        }
        let Plan::Listing { body, .. } = list(&files, "/n/?format=json", None, &Site::default())
        else {
            panic!()
        };
        assert!(!body.contains('<') && !body.contains('&'), "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut names: Vec<_> = doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        // The tab cannot be requested: counted, not listed.
        assert_eq!(names, ["<b>&amp;", "caf\u{e9}", "q\"uote"]);
        assert_eq!(doc["not_listed"]["unnamable"], 1);
        assert!(body.ends_with("}\n"));
    }
}
