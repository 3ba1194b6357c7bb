//! A listing as JSON for programs (`Accept: application/json`, or
//! `?format=json`): the same entries in the same order as the HTML page,
//! with what it left out counted.
//!
//! ```json
//! {"path":"/docs/","sort":"name","order":"asc",
//!  "entries":[
//!   {"name":"img","type":"directory","modified":"2026-12-01T10:00:00Z","mtime":1796119200},
//!   {"name":"a.txt","type":"file","size":12,"modified":"2026-12-01T09:59:58Z","mtime":1796119198}],
//!  "not_listed":{"over_limit":0,"page_size":0,"unnamable":0}}
//! ```
//!
//! `modified` (RFC 3339, UTC) and `mtime` (seconds since the epoch) are
//! left out when the file system keeps no time (or one before 1970).

use std::fmt::Write as _;

use super::view::Order;
use super::{Listed, MAX_PAGE_BYTES};
use crate::SafePath;

pub(super) fn document(path: &SafePath, listed: &Listed, order: Order) -> String {
    let entries = &listed.entries;
    let mut json = String::with_capacity(128 + entries.len() * 120);
    json.push_str("{\"path\":");
    let shown = format!("/{}{}", path.as_str(), if path.is_root() { "" } else { "/" });
    string(&mut json, &shown);
    let _ = write!(
        json,
        ",\"sort\":\"{}\",\"order\":\"{}\",\"entries\":[",
        order.key.token(),
        if order.descending { "desc" } else { "asc" }
    );
    let mut cut = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        if json.len() > MAX_PAGE_BYTES {
            cut = entries.len() - i;
            break;
        }
        if i > 0 {
            json.push(',');
        }
        json.push_str("\n{\"name\":");
        string(&mut json, &entry.name);
        if entry.stat.directory {
            json.push_str(",\"type\":\"directory\"");
        } else {
            let _ = write!(json, ",\"type\":\"file\",\"size\":{}", entry.stat.len);
        }
        if let Some(secs) = super::html::unix_seconds(entry.stat.modified) {
            let crate::Utc { year, month, day, hour, minute, second, .. } =
                crate::Utc::from_unix(secs);
            let _ = write!(
                json,
                ",\"modified\":\"{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z\",\"mtime\":{secs}"
            );
        }
        json.push('}');
    }
    let _ = writeln!(
        json,
        "],\n\"not_listed\":{{\"over_limit\":{},\"page_size\":{cut},\"unnamable\":{}}}}}",
        listed.left_out.over_cap, listed.left_out.unnamable
    );
    json
}

/// `text` as a JSON string. Besides `"` and `\`, controls, `<`, `>`, `&`
/// and the two line separators JavaScript once refused are written as
/// `\u` escapes, so the text stays inert wherever it is pasted.
fn string(json: &mut String, text: &str) {
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            c if c.is_control() || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    let _ = write!(json, "\\u{unit:04x}");
                }
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_could_break_out() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c<d>&\u{1}\u{2028}\u{e9}\u{1F600}");
        assert_eq!(out, r#""a\"b\\c\u003cd\u003e\u0026\u0001\u2028é😀""#);
    }
}
