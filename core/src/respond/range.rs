//! Range requests (RFC 9110 §14): a GET for a 200 file with a valid
//! `Range: bytes=` field (and an `If-Range` that holds) gets those ranges
//! with 206, or 416 when none lies within the file.
//!
//! The rules, so that a request cannot make the answer much larger than
//! the file (the lesson of CVE-2011-3192 in Apache and CVE-2017-7529 in
//! nginx), are [`crate::fields::select_ranges`]'s: at most
//! [`crate::fields::MAX_RANGES`] range-specs (more, and the `Range` is
//! ignored); ranges clamped to the file, sorted, and merged when they
//! overlap, touch or are closer than [`crate::fields::COALESCE_GAP`]
//! bytes. A body thus holds no byte twice and at most 64 parts.

use std::time::SystemTime;

use super::{Plan, conditional};
use crate::Request;
use crate::fields::{RangeSelection, parse_range, select_ranges};
use crate::request::Method;

/// Select the ranges of a 200 file plan. Only GET has range semantics
/// (§14.2); a `Range` sent twice, in another unit or with a syntax error
/// is ignored, and the whole file is sent.
pub(crate) fn select<H>(plan: Plan<H>, request: &Request<'_>, now: SystemTime) -> Plan<H> {
    let Plan::File(mut served) = plan else { return plan };
    if served.status != 200 || request.method() != Method::Get {
        return Plan::File(served);
    }
    let mut fields = request.header_values("range");
    let (Some(value), None) = (fields.next(), fields.next()) else {
        return Plan::File(served);
    };
    let Some(ranges) = parse_range(value) else { return Plan::File(served) };
    if !conditional::if_range(&served, request, now) {
        return Plan::File(served);
    }
    match select_ranges(&ranges, served.file.len) {
        RangeSelection::Unsatisfiable => Plan::Unsatisfiable { len: served.file.len },
        RangeSelection::Ranges(ranges) => {
            served.ranges = ranges;
            Plan::File(served)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::respond::Served;
    use crate::{FileInfo, Limits, Parsed, SafePath, parse_request};

    fn ranges(method: &str, fields: &str) -> Result<Vec<(u64, u64)>, u64> {
        let raw = format!("{method} /f HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
        else {
            panic!("a request")
        };
        let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let file = FileInfo::new((), 1000).modified(Some(modified));
        let served = Served::new(200, SafePath::from_request_path("/f").unwrap(), file);
        match select(Plan::File(served), &request, modified + Duration::from_secs(60)) {
            Plan::File(served) => Ok(served.ranges),
            Plan::Unsatisfiable { len } => Err(len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc9110_14_2_ranges_of_a_get() {
        assert_eq!(ranges("GET", "Range: bytes=0-99\r\n"), Ok(vec![(0, 100)]));
        assert_eq!(ranges("GET", "Range: bytes=-10, 0-0\r\n"), Ok(vec![(0, 1), (990, 10)]));
        assert_eq!(ranges("GET", "Range: bytes=2000-\r\n"), Err(1000));
    }

    #[test]
    fn rfc9110_14_2_ignored_ranges_send_the_whole_file() {
        for fields in [
            "",
            "Range: bytes=5-1\r\n",
            "Range: lines=1-2\r\n",
            "Range: bytes=0-1\r\nRange: bytes=3-4\r\n",
            "Range: bytes=0-1\r\nIf-Range: \"other\"\r\n",
        ] {
            assert_eq!(ranges("GET", fields), Ok(vec![]), "{fields}");
        }
        // HEAD has no range semantics.
        assert_eq!(ranges("HEAD", "Range: bytes=0-1\r\n"), Ok(vec![]));
        let many = format!("Range: bytes={}\r\n", "1-1,".repeat(65));
        assert_eq!(ranges("GET", &many), Ok(vec![]));
    }
}
