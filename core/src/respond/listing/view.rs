//! How a listing is asked to look: which order and which format, from the
//! request's query (`?sort=size&order=desc`, `?format=json`, links a page
//! can carry) and its `Accept` field; and the order itself, with names
//! compared as people count (`file2` before `file10`).

use std::cmp::Ordering;

use crate::Request;
use crate::fields::accept_weight;

/// What the entries are sorted by. Directories come first whatever it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// By name, ignoring case, numbers by value.
    Name,
    /// By length (directories have none: by name among themselves).
    Size,
    /// By modification time.
    Time,
}

impl Key {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Size => "size",
            Self::Time => "time",
        }
    }

    /// The order a column's link asks for first: names A to Z, the
    /// largest and the newest first.
    pub(crate) fn first_descending(self) -> bool {
        self != Self::Name
    }
}

/// A sort key and a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) key: Key,
    pub(crate) descending: bool,
}

impl Order {
    pub(crate) const DEFAULT: Self = Self { key: Key::Name, descending: false };
}

/// The form of the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
}

/// A listing's order and format, as the request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) order: Order,
    pub(crate) format: Format,
}

impl View {
    /// From the query's `sort` (`name`, `size`, `time`), `order` (`asc`,
    /// `desc`) and `format` (`html`, `json`) parameters, the last of each
    /// counting and unknown values ignored; without `format`, JSON when
    /// `Accept` names `application/json` at least as high as `text/html`
    /// (a browser names HTML; `curl` and `fetch()` name neither, and get
    /// HTML).
    pub(crate) fn of(request: &Request<'_>) -> Self {
        let mut key = None;
        let mut descending = None;
        let mut format = None;
        let query = request.target_form().query().unwrap_or_default();
        for pair in query.split(['&', ';']) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let is = |token: &str| value.eq_ignore_ascii_case(token);
            match name {
                "sort" if is("name") => key = Some(Key::Name),
                "sort" if is("size") => key = Some(Key::Size),
                "sort" if is("time") => key = Some(Key::Time),
                "order" if is("asc") => descending = Some(false),
                "order" if is("desc") => descending = Some(true),
                "format" if is("html") => format = Some(Format::Html),
                "format" if is("json") => format = Some(Format::Json),
                _ => {}
            }
        }
        let format = format.unwrap_or_else(|| {
            let json = accept_weight(request.header_list("accept"), "application/json");
            let html = accept_weight(request.header_list("accept"), "text/html");
            if json > 0 && json >= html { Format::Json } else { Format::Html }
        });
        let key = key.unwrap_or(Key::Name);
        Self { order: Order { key, descending: descending.unwrap_or(false) }, format }
    }
}

/// Compare two names as people count, runs of ASCII digits by their
/// value (`file2` < `file10`, `v1.9` < `v1.10`), then, to make the order
/// total, by leading zeros (`7` < `07`) and the names as they are. Case
/// is the caller's: a listing compares the names' lowercase forms, made
/// once per name. No allocation: it runs in every comparison of a heap
/// of 10,000 names.
pub(crate) fn natural(a: &str, b: &str) -> Ordering {
    let (left, right) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut zeros = Ordering::Equal;
    while i < left.len() && j < right.len() {
        if left[i].is_ascii_digit() && right[j].is_ascii_digit() {
            let (l_value, l_zeros, l_end) = digits(left, i);
            let (r_value, r_zeros, r_end) = digits(right, j);
            // Shorter without its leading zeros is smaller; the same
            // length, the digits decide.
            let by_value = l_value.len().cmp(&r_value.len()).then_with(|| l_value.cmp(r_value));
            if by_value != Ordering::Equal {
                return by_value;
            }
            zeros = zeros.then(l_zeros.cmp(&r_zeros));
            (i, j) = (l_end, r_end);
        } else {
            // Bytes of UTF-8 order as the characters they encode.
            let by_byte = left[i].cmp(&right[j]);
            if by_byte != Ordering::Equal {
                return by_byte;
            }
            (i, j) = (i + 1, j + 1);
        }
    }
    (left.len() - i).cmp(&(right.len() - j)).then(zeros).then_with(|| a.cmp(b))
}

/// The run of digits from `at`: its digits after the leading zeros, how
/// many zeros led, and where it ends.
fn digits(bytes: &[u8], at: usize) -> (&[u8], usize, usize) {
    let end = bytes[at..].iter().position(|b| !b.is_ascii_digit()).map_or(bytes.len(), |n| at + n);
    let run = &bytes[at..end];
    let zeros = run.iter().take_while(|&&b| b == b'0').count();
    (&run[zeros..], zeros, end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{Limits, Parsed, parse_request};

    fn view(target: &str, accept: Option<&str>) -> View {
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{accept}\r\n");
        let Ok(Parsed::Complete(request)) = parse_request(head.as_bytes(), &Limits::default())
        else {
            panic!("{head}")
        };
        View::of(&request)
    }

    #[test]
    fn names_sort_as_people_count() {
        let mut names = vec![
            "file10", "file2", "File1", "a", "B", "file02", "v1.10", "v1.9", "10", "9", "", "x007",
            "x7", "x07", "é", "e", "ab", "a1", "a01b",
        ];
        let people = |a: &&str, b: &&str| {
            natural(&a.to_lowercase(), &b.to_lowercase()).then_with(|| a.cmp(b))
        };
        names.sort_by(people);
        assert_eq!(
            names,
            [
                "", "9", "10", "a", "a1", "a01b", "ab", "B", "e", "File1", "file2", "file02",
                "file10", "v1.9", "v1.10", "x7", "x07", "x007", "é"
            ]
        );
        // Total: equal only to itself.
        for a in &names {
            for b in &names {
                assert_eq!(natural(a, b) == Ordering::Equal, a == b, "{a} {b}");
                assert_eq!(natural(a, b), natural(b, a).reverse(), "{a} {b}");
                assert_eq!(people(a, b) == Ordering::Equal, a == b, "{a} {b}");
            }
        }
        // A run of digits longer than any integer still compares.
        let long = "9".repeat(40);
        assert_eq!(natural(&format!("1{long}"), &long), Ordering::Greater);
    }

    #[test]
    fn the_query_and_accept_choose_the_view() {
        let default = View { order: Order::DEFAULT, format: Format::Html };
        assert_eq!(view("/d/", None), default);
        assert_eq!(view("/d/?sort=bogus&order=up&x", None), default);
        let by_size = view("/d/?sort=size&order=desc", None);
        assert_eq!(by_size.order, Order { key: Key::Size, descending: true });
        assert_eq!(view("/d/?order=DESC;sort=Time", None).order.key, Key::Time);
        assert_eq!(view("/d/?format=json", None).format, Format::Json);
        assert_eq!(view("/d/?format=json&format=html", None).format, Format::Html);
        let json = |accept| view("/d/", Some(accept)).format;
        assert_eq!(json("application/json"), Format::Json);
        assert_eq!(json("application/json, text/plain, */*"), Format::Json);
        assert_eq!(json("text/html,application/xhtml+xml,*/*;q=0.8"), Format::Html);
        assert_eq!(json("text/html, application/json;q=0.9"), Format::Html);
        assert_eq!(json("application/json;q=0"), Format::Html);
        assert_eq!(json("*/*"), Format::Html);
        // The query wins over Accept.
        assert_eq!(view("/d/?format=html", Some("application/json")).format, Format::Html);
    }
}
