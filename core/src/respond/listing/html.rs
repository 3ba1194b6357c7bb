//! A listing as an HTML page for people: breadcrumbs, a table whose
//! column headings are plain links that sort it (no script), the entries,
//! and a footnote for each kind of entry left out.

use std::fmt::Write as _;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::view::{Key, Order};
use super::{Entry, LeftOut, Listed, MAX_ENTRIES, MAX_PAGE_BYTES};
use crate::SafePath;

/// The `Content-Security-Policy` of a listing: its own inline style, and
/// nothing else (no script, no frame, no form, no base).
pub(crate) const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A link's characters left as they are: RFC 3986 unreserved.
const LINK: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub(super) fn page(path: &SafePath, listed: &Listed, order: Order) -> String {
    let entries = &listed.entries;
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
    html.push_str("</h1>\n<table>\n<thead><tr>");
    for (key, title) in [(Key::Name, "Name"), (Key::Size, "Size"), (Key::Time, "Modified (UTC)")] {
        heading(&mut html, key, title, order);
    }
    html.push_str("</tr></thead>\n<tbody>\n");
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
    let LeftOut { unnamable, over_cap } = listed.left_out;
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
    let _ = writeln!(
        html,
        "<footer>portico · <a href=\"{}\">JSON</a></footer>\n</main></body></html>",
        query(order)
    );
    html
}

/// The query of the link to this listing as JSON in `order`, `&` escaped
/// for an attribute.
fn query(order: Order) -> String {
    let mut query = String::from("?");
    if order != Order::DEFAULT {
        let direction = if order.descending { "desc" } else { "asc" };
        let _ = write!(query, "sort={}&amp;order={direction}", order.key.token());
    }
    query.push_str(if query.len() > 1 { "&amp;format=json" } else { "format=json" });
    query
}

/// A column heading: a link that sorts by its column, in the column's
/// first direction, or in the other one when it is sorted by it already
/// (marked with an arrow, and `aria-sort` for screen readers).
fn heading(html: &mut String, key: Key, title: &str, order: Order) {
    let current = order.key == key;
    let descending = if current { !order.descending } else { key.first_descending() };
    let direction = if descending { "desc" } else { "asc" };
    let link = format!("?sort={}&amp;order={direction}", key.token());
    if current {
        let (sort, arrow) =
            if order.descending { ("descending", "\u{2193}") } else { ("ascending", "\u{2191}") };
        let _ =
            write!(html, "<th aria-sort=\"{sort}\"><a href=\"{link}\">{title} {arrow}</a></th>");
    } else {
        let _ = write!(html, "<th><a href=\"{link}\">{title}</a></th>");
    }
}

fn row(html: &mut String, entry: &Entry) {
    let directory = entry.stat.directory;
    let slash = if directory { "/" } else { "" };
    let class = if directory { " class=\"d\"" } else { "" };
    let _ = write!(
        html,
        "<tr{class}><td><a href=\"{}{slash}\">",
        utf8_percent_encode(&entry.name, LINK)
    );
    escape(html, &entry.name);
    html.push_str(slash);
    html.push_str("</a></td>");
    if directory {
        html.push_str("<td>-</td>");
    } else {
        let len = entry.stat.len;
        let _ = write!(html, "<td title=\"{len} bytes\">");
        size(html, len);
        html.push_str("</td>");
    }
    html.push_str("<td>");
    if let Some(secs) = unix_seconds(entry.stat.modified) {
        let crate::Utc { year, month, day, hour, minute, .. } = crate::Utc::from_unix(secs);
        let _ = write!(
            html,
            "<time datetime=\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}Z\">\
             {year:04}-{month:02}-{day:02} {hour:02}:{minute:02}</time>"
        );
    }
    html.push_str("</td></tr>\n");
}

/// Seconds since the epoch, for a time at or after it.
pub(super) fn unix_seconds(time: Option<SystemTime>) -> Option<u64> {
    Some(time?.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs())
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
h1 a,th a{color:inherit}\
table{width:100%;border-collapse:collapse;font-size:.95rem}\
th,td{padding:.45rem .5rem;text-align:left;border-bottom:1px solid #8884}\
th{font-weight:600;color:#888}\
td:first-child{overflow-wrap:anywhere}\
th:nth-child(2),td:nth-child(2){text-align:right;white-space:nowrap}\
td:nth-child(3){white-space:nowrap;font-variant-numeric:tabular-nums}\
tr.d a{font-weight:600}\
a{text-decoration:none}a:hover{text-decoration:underline}\
.more,footer{color:#888;font-size:.85rem}\
footer{margin-top:1rem}footer a{color:inherit}\
@media (max-width:36rem){th:nth-child(3),td:nth-child(3){display:none}}";

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn headings_link_to_their_order_and_flip_the_current_one() {
        let mut html = String::new();
        heading(&mut html, Key::Name, "Name", Order::DEFAULT);
        assert_eq!(
            html,
            "<th aria-sort=\"ascending\"><a href=\"?sort=name&amp;order=desc\">Name \u{2191}</a></th>"
        );
        html.clear();
        heading(&mut html, Key::Time, "Modified", Order::DEFAULT);
        assert_eq!(html, "<th><a href=\"?sort=time&amp;order=desc\">Modified</a></th>");
        html.clear();
        let by_time = Order { key: Key::Time, descending: true };
        heading(&mut html, Key::Name, "Name", by_time);
        assert_eq!(html, "<th><a href=\"?sort=name&amp;order=asc\">Name</a></th>");
        assert_eq!(query(by_time), "?sort=time&amp;order=desc&amp;format=json");
        assert_eq!(query(Order::DEFAULT), "?format=json");
    }
}
