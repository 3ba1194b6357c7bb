//! Validators and conditional requests (RFC 9110 §8.8, §13): the `ETag`
//! and `Last-Modified` of a file, and `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match` and `If-Modified-Since` evaluated in the order of
//! §13.2.2, turning a file plan into 304 or 412.
//!
//! ## The entity tag
//!
//! `"<mtime seconds>.<mtime nanoseconds>-<length>-<inode>"` in lower-case
//! hex, with `-br`, `-zst` or `-gz` appended for a precompressed sibling,
//! all from the metadata the lookup already has: the file is never read
//! to make it. It is strong (§8.8.3) because any change to a file's bytes
//! changes at least one part: writing a file sets its modification time
//! (to the nanosecond on ext4, XFS, btrfs and tmpfs); replacing it by
//! rename, as editors, `rsync` and deploy tools do, gives a new inode even
//! when they copy the old time along; and a change of length shows.
//! What it cannot see is a write that keeps the length, lands within the
//! same timestamp tick as the previous one and is then stamped back, or a
//! file system that keeps times to the second and no inode numbers; such a
//! file system should not be served with long cache lifetimes. A file
//! system that reports no modification time gets no `ETag` and no
//! `Last-Modified`, and so no conditional answers.

use std::time::{Duration, SystemTime};

use super::{Plan, Served};
use crate::Request;
use crate::fields::{Coding, EntityTag, Tags, parse_http_date, parse_tags};
use crate::lookup::FileInfo;
use crate::request::Method;

/// The strong entity tag of `file`, sent in `coding`, quotes included;
/// `None` when the file system gives no modification time.
pub(crate) fn etag<H>(file: &FileInfo<H>, coding: Option<Coding>) -> Option<String> {
    let since = file.modified?.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    // By hand, not `write!`, and as bytes, not `String::push` a char at a
    // time: this runs for every file response, and both were a visible
    // share of a small response's time (most of all in the WASI guest).
    let mut tag = Vec::with_capacity(56);
    tag.push(b'"');
    push_hex(&mut tag, since.as_secs());
    tag.push(b'.');
    push_hex(&mut tag, u64::from(since.subsec_nanos()));
    tag.push(b'-');
    push_hex(&mut tag, file.len);
    if let Some(id) = file.id {
        tag.push(b'-');
        push_hex(&mut tag, id.inode);
    }
    if let Some(coding) = coding {
        tag.push(b'-');
        tag.extend_from_slice(&coding.extension().as_bytes()[1..]);
    }
    tag.push(b'"');
    // ASCII throughout.
    String::from_utf8(tag).ok()
}

/// `n` in lower-case hex, no leading zeros.
fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The `Last-Modified` of `file` as sent: never later than `now` (§8.8.2.1)
/// and, since an HTTP-date cannot say it, never before 1970 (a file stamped
/// earlier has none). Whole seconds, as the field carries.
pub(crate) fn last_modified<H>(file: &FileInfo<H>, now: SystemTime) -> Option<SystemTime> {
    let modified = file.modified?.min(now);
    let since = modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()))
}

/// Whether `Last-Modified` is a strong validator (§8.8.2.2): the file had
/// not changed for a second when the response was made, so no second
/// change could have happened within the same second unseen.
pub(crate) fn modified_is_strong<H>(file: &FileInfo<H>, now: SystemTime) -> bool {
    file.modified.is_some_and(|modified| modified + Duration::from_secs(1) <= now)
}

/// Evaluate the preconditions of §13.2.2 for a 200 file plan of a GET or
/// HEAD. A precondition field that is not valid (a bad date, a list that
/// is not entity tags, a date field sent twice) is ignored, as if absent.
pub(crate) fn evaluate<H>(plan: Plan<H>, request: &Request<'_>, now: SystemTime) -> Plan<H> {
    let Plan::File(served) = plan else { return plan };
    if served.status != 200 || !matches!(request.method(), Method::Get | Method::Head) {
        return Plan::File(served);
    }
    match precondition(&served, request, now) {
        Outcome::Proceed => Plan::File(served),
        Outcome::NotModified => Plan::NotModified(served),
        Outcome::Failed => {
            Plan::page(412, "The file does not match the conditions of this request.")
        }
    }
}

enum Outcome {
    Proceed,
    NotModified,
    Failed,
}

fn precondition<H>(served: &Served<H>, request: &Request<'_>, now: SystemTime) -> Outcome {
    // Most requests have no precondition: one pass over the names, and
    // no tag is made.
    let conditional = request.headers().iter().any(|header| {
        ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]
            .iter()
            .any(|name| header.name.eq_ignore_ascii_case(name))
    });
    if !conditional {
        return Outcome::Proceed;
    }
    let tag = etag(&served.file, served.coding);
    let current = tag.as_deref().and_then(|tag| EntityTag::parse(tag.as_bytes()));
    let modified = last_modified(&served.file, now);
    // 1. If-Match, with the strong comparison; else
    // 2. If-Unmodified-Since, when the file has a date.
    if let Some(tags) = list(request, "if-match") {
        // `*` holds whenever the file exists, tag or no tag (§13.1.1).
        let holds = matches!(tags, Tags::Any)
            || current.is_some_and(|current| tags.matches(&current, false));
        if !holds {
            return Outcome::Failed;
        }
    } else if let (Some(since), Some(modified)) =
        (single_date(request, "if-unmodified-since"), modified)
        && modified > since
    {
        return Outcome::Failed;
    }
    // 3. If-None-Match, with the weak comparison; else
    // 4. If-Modified-Since, when the file has a date.
    if let Some(tags) = list(request, "if-none-match") {
        if matches!(tags, Tags::Any) || current.is_some_and(|current| tags.matches(&current, true))
        {
            return Outcome::NotModified;
        }
    } else if let (Some(since), Some(modified)) =
        (single_date(request, "if-modified-since"), modified)
        && modified <= since
    {
        return Outcome::NotModified;
    }
    Outcome::Proceed
}

/// The entity tags of a field, if it was sent and is valid.
fn list<'b>(request: &Request<'b>, name: &str) -> Option<Tags<'b>> {
    request.header(name)?;
    parse_tags(request.header_values(name))
}

/// The date of a field that must have exactly one member (§13.1.3,
/// §13.1.4): sent twice, or not a date, it is ignored.
fn single_date(request: &Request<'_>, name: &str) -> Option<SystemTime> {
    let mut values = request.header_values(name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_http_date(value)
}

/// Whether the `If-Range` of a range request holds (§13.1.5): an entity
/// tag that matches the current one by the strong comparison, or a date
/// that equals `Last-Modified` while that is a strong validator. Without
/// the field it holds; with one that is neither, it does not.
pub(crate) fn if_range<H>(served: &Served<H>, request: &Request<'_>, now: SystemTime) -> bool {
    let mut values = request.header_values("if-range");
    let Some(value) = values.next() else { return true };
    if values.next().is_some() {
        return false;
    }
    let value = value.trim_ascii();
    if value.starts_with(b"\"") || value.starts_with(b"W/") {
        let tag = etag(&served.file, served.coding);
        let current = tag.as_deref().and_then(|tag| EntityTag::parse(tag.as_bytes()));
        return match (EntityTag::parse(value), current) {
            (Some(sent), Some(current)) => sent.strong_eq(&current),
            _ => false,
        };
    }
    match (parse_http_date(value), last_modified(&served.file, now)) {
        (Some(date), Some(modified)) => date == modified && modified_is_strong(&served.file, now),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{FileId, Limits, Parsed, SafePath, parse_request};

    const MODIFIED: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(MODIFIED + 3_600)
    }

    fn file() -> FileInfo<()> {
        FileInfo::new((), 1234)
            .modified(Some(SystemTime::UNIX_EPOCH + Duration::new(MODIFIED, 5)))
            .id(Some(FileId { device: 1, inode: 0xabc }))
    }

    fn http_date(secs: u64) -> String {
        httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn outcome(method: &str, fields: &str) -> &'static str {
        let raw = format!("{method} /f HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
        else {
            panic!("a request: {raw}")
        };
        let served = Served::new(200, SafePath::from_request_path("/f").unwrap(), file());
        match evaluate(Plan::File(served), &request, now()) {
            Plan::File(_) => "200",
            Plan::NotModified(_) => "304",
            Plan::Page { status: 412, .. } => "412",
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc9110_8_8_3_the_tag_comes_from_time_length_identity_and_coding() {
        let tag = etag(&file(), None).unwrap();
        assert_eq!(tag, format!("\"{MODIFIED:x}.5-4d2-abc\""));
        assert_eq!(
            etag(&file(), Some(Coding::Brotli)).unwrap(),
            format!("\"{MODIFIED:x}.5-4d2-abc-br\"")
        );
        assert!(EntityTag::parse(tag.as_bytes()).is_some_and(|t| !t.weak));
        let changed = [
            FileInfo::new((), 1235).modified(file().modified).id(file().id),
            FileInfo::new((), 1234)
                .modified(Some(SystemTime::UNIX_EPOCH + Duration::new(MODIFIED, 6)))
                .id(file().id),
            file().id(Some(FileId { device: 1, inode: 0xabd })),
        ];
        for other in changed {
            assert_ne!(etag(&other, None).unwrap(), tag);
        }
        assert_eq!(etag(&FileInfo::new((), 1), None), None, "no time, no tag");
        let mut hex = Vec::new();
        for n in [0, 1, 0xf, 0x10, 0xdead_beef, u64::MAX] {
            hex.clear();
            push_hex(&mut hex, n);
            assert_eq!(hex, format!("{n:x}").into_bytes());
        }
    }

    #[test]
    fn rfc9110_13_1_2_if_none_match_uses_the_weak_comparison() {
        let tag = etag(&file(), None).unwrap();
        assert_eq!(outcome("GET", &format!("If-None-Match: {tag}\r\n")), "304");
        assert_eq!(outcome("HEAD", &format!("If-None-Match: W/{tag}\r\n")), "304");
        assert_eq!(outcome("GET", &format!("If-None-Match: \"x\", {tag}\r\n")), "304");
        assert_eq!(
            outcome("GET", "If-None-Match: \"x\"\r\nIf-None-Match: *\r\n"),
            "200",
            "invalid mix"
        );
        assert_eq!(outcome("GET", "If-None-Match: *\r\n"), "304");
        assert_eq!(outcome("GET", "If-None-Match: \"other\"\r\n"), "200");
    }

    #[test]
    fn rfc9110_13_1_3_if_modified_since() {
        assert_eq!(
            outcome("GET", &format!("If-Modified-Since: {}\r\n", http_date(MODIFIED))),
            "304"
        );
        assert_eq!(
            outcome("GET", &format!("If-Modified-Since: {}\r\n", http_date(MODIFIED + 9))),
            "304"
        );
        assert_eq!(
            outcome("GET", &format!("If-Modified-Since: {}\r\n", http_date(MODIFIED - 1))),
            "200"
        );
        // Invalid dates and a field sent twice are ignored.
        assert_eq!(outcome("GET", "If-Modified-Since: yesterday\r\n"), "200");
        let twice =
            format!("If-Modified-Since: {0}\r\nIf-Modified-Since: {0}\r\n", http_date(MODIFIED));
        assert_eq!(outcome("GET", &twice), "200");
    }

    #[test]
    fn rfc9110_13_2_2_if_none_match_takes_precedence_over_if_modified_since() {
        let fresh = http_date(MODIFIED + 9);
        assert_eq!(
            outcome("GET", &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {fresh}\r\n")),
            "200"
        );
        let tag = etag(&file(), None).unwrap();
        let stale = http_date(MODIFIED - 9);
        assert_eq!(
            outcome("GET", &format!("If-None-Match: {tag}\r\nIf-Modified-Since: {stale}\r\n")),
            "304"
        );
    }

    #[test]
    fn rfc9110_13_1_1_and_13_1_4_if_match_and_if_unmodified_since_fail_with_412() {
        let tag = etag(&file(), None).unwrap();
        assert_eq!(outcome("GET", &format!("If-Match: {tag}\r\n")), "200");
        assert_eq!(outcome("GET", "If-Match: *\r\n"), "200");
        assert_eq!(outcome("GET", &format!("If-Match: W/{tag}\r\n")), "412", "strong comparison");
        assert_eq!(outcome("GET", "If-Match: \"other\"\r\n"), "412");
        assert_eq!(
            outcome("GET", &format!("If-Unmodified-Since: {}\r\n", http_date(MODIFIED))),
            "200"
        );
        assert_eq!(
            outcome("GET", &format!("If-Unmodified-Since: {}\r\n", http_date(MODIFIED - 1))),
            "412"
        );
        assert_eq!(outcome("GET", "If-Unmodified-Since: soon\r\n"), "200");
        // If-Match decides; If-Unmodified-Since is then not evaluated.
        let stale = http_date(MODIFIED - 1);
        assert_eq!(
            outcome("GET", &format!("If-Match: {tag}\r\nIf-Unmodified-Since: {stale}\r\n")),
            "200"
        );
        // 412 comes before 304.
        assert_eq!(outcome("GET", "If-Match: \"other\"\r\nIf-None-Match: *\r\n"), "412");
    }

    /// Found by the fuzzer: `*` is about whether the file exists, not
    /// about its tag, so it holds for a file without one too.
    #[test]
    fn rfc9110_13_1_1_star_needs_no_tag() {
        let raw = |fields: &str| format!("GET /f HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        for (fields, expected) in [("If-Match: *\r\n", "200"), ("If-None-Match: *\r\n", "304")] {
            let raw = raw(fields);
            let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
            else {
                panic!()
            };
            let untimed = FileInfo::new((), 3);
            let served = Served::new(200, SafePath::from_request_path("/f").unwrap(), untimed);
            let got = match evaluate(Plan::File(served), &request, now()) {
                Plan::File(_) => "200",
                Plan::NotModified(_) => "304",
                _ => "other",
            };
            assert_eq!(got, expected, "{fields}");
        }
    }

    #[test]
    fn only_200_files_of_get_and_head_are_evaluated() {
        let raw = b"GET /f HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\n\r\n";
        let Ok(Parsed::Complete(request)) = parse_request(raw, &Limits::default()) else {
            panic!()
        };
        let page = Served::new(404, SafePath::from_request_path("/f").unwrap(), file());
        assert!(matches!(evaluate(Plan::File(page), &request, now()), Plan::File(_)));
        assert!(matches!(evaluate::<()>(Plan::NotFound, &request, now()), Plan::NotFound));
    }

    #[test]
    fn rfc9110_13_1_5_if_range() {
        let check = |fields: &str, now: SystemTime| {
            let raw = format!("GET /f HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
            let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
            else {
                panic!()
            };
            let served = Served::new(200, SafePath::from_request_path("/f").unwrap(), file());
            if_range(&served, &request, now)
        };
        let tag = etag(&file(), None).unwrap();
        assert!(check("", now()));
        assert!(check(&format!("If-Range: {tag}\r\n"), now()));
        assert!(!check(&format!("If-Range: W/{tag}\r\n"), now()));
        assert!(!check("If-Range: \"other\"\r\n", now()));
        assert!(check(&format!("If-Range: {}\r\n", http_date(MODIFIED)), now()));
        assert!(!check(&format!("If-Range: {}\r\n", http_date(MODIFIED + 1)), now()));
        assert!(!check("If-Range: garbage\r\n", now()));
        // A date is only a strong validator a second after the change.
        let just_now = SystemTime::UNIX_EPOCH + Duration::new(MODIFIED, 500);
        assert!(!check(&format!("If-Range: {}\r\n", http_date(MODIFIED)), just_now));
    }
}
