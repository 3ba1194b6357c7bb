//! Parsers for the request fields the static-file stages read: entity
//! tags (RFC 9110 §8.8.3) for `If-Match`/`If-None-Match`/`If-Range`,
//! HTTP-dates (§5.6.7), `Range` (§14.1.1) and `Accept-Encoding`
//! (§12.5.3); and the range rules that turn a parsed `Range` into what is
//! sent.
//!
//! Every parser is total: any bytes give a value or `None`, never a
//! panic, in time linear in the input. They are public so that fuzz
//! targets and other embeddings can use them on their own.

use std::time::SystemTime;

/// An entity tag: `"opaque"` (strong) or `W/"opaque"` (weak).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntityTag<'a> {
    /// Sent with the `W/` prefix.
    pub weak: bool,
    /// What is between the quotes.
    pub opaque: &'a [u8],
}

impl<'a> EntityTag<'a> {
    /// Parse one whole entity tag (`"x"`, `W/"x"`), nothing around it.
    #[must_use]
    pub fn parse(value: &'a [u8]) -> Option<Self> {
        match next_tag(value)? {
            (tag, []) => Some(tag),
            _ => None,
        }
    }

    /// The strong comparison (§8.8.3.2): both strong, same opaque tag.
    /// `If-Match` and `If-Range` use it.
    #[must_use]
    pub fn strong_eq(&self, other: &EntityTag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// The weak comparison (§8.8.3.2): same opaque tag, either weak or
    /// strong. `If-None-Match` uses it.
    #[must_use]
    pub fn weak_eq(&self, other: &EntityTag<'_>) -> bool {
        self.opaque == other.opaque
    }
}

/// etagc = %x21 / %x23-7E / obs-text: no space, no `"`, no controls.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

/// The entity tag at the start of `input`, and what follows it.
fn next_tag(input: &[u8]) -> Option<(EntityTag<'_>, &[u8])> {
    let (weak, rest) = match input.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let opaque = &rest[..end];
    opaque.iter().all(|&b| is_etagc(b)).then_some((EntityTag { weak, opaque }, &rest[end + 1..]))
}

/// The value of an `If-Match` or `If-None-Match` field: `*` or a list of
/// entity tags (§13.1.1, §13.1.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Tags<'a> {
    /// `*`: any current representation.
    Any,
    /// These tags, in the order sent.
    List(Vec<EntityTag<'a>>),
}

impl Tags<'_> {
    /// Whether `current` is one of these tags, by the strong comparison
    /// (`weak == false`) or the weak one. `*` matches any tag.
    #[must_use]
    pub fn matches(&self, current: &EntityTag<'_>, weak: bool) -> bool {
        match self {
            Self::Any => true,
            Self::List(tags) => tags
                .iter()
                .any(|tag| if weak { tag.weak_eq(current) } else { tag.strong_eq(current) }),
        }
    }
}

/// At most this many entity tags are read from one request's field; a
/// longer list is invalid (and so ignored), which bounds the work a
/// request can cause.
pub const MAX_TAGS: usize = 64;

/// Parse every line of an `If-Match` or `If-None-Match` field as one
/// list. `None` if the field is invalid: `*` mixed with tags, a member
/// that is no entity tag (an entity tag may hold a comma, so the list is
/// read tag by tag, not split at commas), or over [`MAX_TAGS`] tags.
pub fn parse_tags<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<Tags<'a>> {
    let mut tags = Vec::new();
    let mut any = false;
    for line in lines {
        let mut rest = line;
        loop {
            // Members are separated by commas with optional whitespace;
            // empty members are allowed (§5.6.1).
            rest = rest.trim_ascii_start();
            while let Some(after) = rest.strip_prefix(b",") {
                rest = after.trim_ascii_start();
            }
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix(b"*") {
                any = true;
                rest = after;
            } else {
                let (tag, after) = next_tag(rest)?;
                tags.push(tag);
                if tags.len() > MAX_TAGS {
                    return None;
                }
                rest = after;
            }
            // After a member: whitespace, then a comma or the end.
            rest = rest.trim_ascii_start();
            if !rest.is_empty() && !rest.starts_with(b",") {
                return None;
            }
        }
    }
    match (any, tags.is_empty()) {
        (true, true) => Some(Tags::Any),
        (false, false) => Some(Tags::List(tags)),
        // `*` with tags, or nothing at all.
        _ => None,
    }
}

/// An HTTP-date in any of the three forms a recipient must accept
/// (§5.6.7: IMF-fixdate, RFC 850, asctime). `None` if it is not one.
#[must_use]
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?;
    httpdate::parse_http_date(text.trim_ascii()).ok()
}

/// One range-spec of a `Range: bytes=` field (§14.1.1), positions as sent
/// (numbers too large for a `u64` are read as `u64::MAX`, which means the
/// same for a file).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ByteRange {
    /// `first-last`, both included.
    FromTo(u64, u64),
    /// `first-`: to the end.
    From(u64),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// A `Range` field holding more range-specs than this is ignored (the
/// whole file is sent with 200), as RFC 9110 §14.2 allows for "many small
/// ranges": the rule Apache adopted after CVE-2011-3192.
pub const MAX_RANGES: usize = 64;

/// Parse a `Range` field value. `None` means "ignore it": another unit, a
/// syntax error, `last < first` (as numbers of any size), no range-spec at
/// all, or more than [`MAX_RANGES`] specs. The unit is case-insensitive;
/// whitespace around commas and empty list members are allowed (§5.6.1).
#[must_use]
pub fn parse_range(value: &[u8]) -> Option<Vec<ByteRange>> {
    let value = value.trim_ascii();
    let (unit, set) = value.split_at(value.iter().position(|&b| b == b'=')?);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut ranges = Vec::new();
    for member in set[1..].split(|&b| b == b',') {
        let member = member.trim_ascii();
        if member.is_empty() {
            continue;
        }
        let dash = member.iter().position(|&b| b == b'-')?;
        let (first, last) = (&member[..dash], &member[dash + 1..]);
        let range = match (number(first), number(last)) {
            (Some(first_pos), Some(last_pos)) if !smaller(last, first) => {
                ByteRange::FromTo(first_pos, last_pos)
            }
            (Some(first), None) if last.is_empty() => ByteRange::From(first),
            (None, Some(suffix)) if first.is_empty() => ByteRange::Suffix(suffix),
            _ => return None,
        };
        ranges.push(range);
        if ranges.len() > MAX_RANGES {
            return None;
        }
    }
    (!ranges.is_empty()).then_some(ranges)
}

/// Whether the digits `a` are a smaller number than the digits `b`, at any
/// size: [`number`] saturates, and `99999999999999999999-18446744073709551616`
/// is still backwards.
fn smaller(a: &[u8], b: &[u8]) -> bool {
    fn significant(digits: &[u8]) -> &[u8] {
        let zeros = digits.iter().take_while(|&&d| d == b'0').count();
        digits.get(zeros..).unwrap_or_default()
    }
    let (a, b) = (significant(a), significant(b));
    (a.len(), a) < (b.len(), b)
}

/// 1*DIGIT, saturating at `u64::MAX`.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Ranges closer than this many bytes are sent as one part: a part's own
/// lines (boundary, `Content-Type`, `Content-Range`) cost about as much,
/// and RFC 9110 §14.2 allows merging them.
pub const COALESCE_GAP: u64 = 80;

/// What a `Range` request gets for a representation of some length.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RangeSelection {
    /// No range-spec is satisfiable (§14.1.3): 416.
    Unsatisfiable,
    /// These `(offset, len)` ranges, in ascending order, none empty,
    /// separated by at least [`COALESCE_GAP`] bytes; one range is a plain
    /// 206, more a `multipart/byteranges` one.
    Ranges(Vec<(u64, u64)>),
}

/// Apply RFC 9110 §14.1.3 to `ranges` for a representation of `len`
/// bytes: a range past the end is clamped, one starting past it is
/// unsatisfiable and dropped, `-0` is unsatisfiable; what is left is sorted,
/// and ranges that overlap, touch or lie within [`COALESCE_GAP`] of each
/// other are merged. So the body never holds a byte twice, and its size is
/// at most `len` plus the lines of at most [`MAX_RANGES`] parts.
#[must_use]
pub fn select_ranges(ranges: &[ByteRange], len: u64) -> RangeSelection {
    let mut spans: Vec<(u64, u64)> = ranges
        .iter()
        .filter_map(|range| {
            // (first, last) inclusive, clamped to the representation.
            let (first, last) = match *range {
                ByteRange::FromTo(first, last) => (first, last.min(len.checked_sub(1)?)),
                ByteRange::From(first) => (first, len.checked_sub(1)?),
                ByteRange::Suffix(0) => return None,
                ByteRange::Suffix(n) => (len.saturating_sub(n), len.checked_sub(1)?),
            };
            (first < len).then_some((first, last))
        })
        .collect();
    if spans.is_empty() {
        return RangeSelection::Unsatisfiable;
    }
    spans.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (first, last) in spans {
        match merged.last_mut() {
            Some((_, end)) if first <= end.saturating_add(COALESCE_GAP) => {
                *end = (*end).max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    RangeSelection::Ranges(
        merged.into_iter().map(|(first, last)| (first, last - first + 1)).collect(),
    )
}

/// A content coding portico can serve from a precompressed sibling file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Coding {
    /// `br`, from `NAME.br`.
    Brotli,
    /// `zstd`, from `NAME.zst`.
    Zstd,
    /// `gzip` (or `x-gzip`), from `NAME.gz`.
    Gzip,
}

impl Coding {
    /// Every coding, in the server's order of preference when a client
    /// rates several the same: the smallest files first.
    pub const ALL: [Coding; 3] = [Coding::Brotli, Coding::Zstd, Coding::Gzip];

    /// The token in `Content-Encoding`.
    #[must_use]
    pub fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    /// The suffix of the sibling file holding this coding.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Brotli => ".br",
            Self::Zstd => ".zst",
            Self::Gzip => ".gz",
        }
    }
}

/// What an `Accept-Encoding` field allows, as weights in thousandths
/// (`q=0.5` is 500).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct AcceptEncoding {
    /// The weight given to each of [`Coding::ALL`] by name, if named.
    named: [Option<u16>; 3],
    /// The weight given to `identity`, if named.
    identity: Option<u16>,
    /// The weight of `*`, if sent.
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Parse every line of the field as one list. Members with a bad
    /// weight are skipped; codings portico does not serve are ignored.
    /// An absent field and an empty one both leave only `identity`
    /// acceptable.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut accept = Self::default();
        for member in lines.into_iter().flat_map(crate::request::list_elements) {
            let mut params = member.split(|&b| b == b';');
            let name = params.next().unwrap_or_default().trim_ascii();
            let mut weight = Some(1000);
            for param in params {
                let param = param.trim_ascii();
                let Some(q) = param.strip_prefix(b"q=").or_else(|| param.strip_prefix(b"Q="))
                else {
                    continue;
                };
                weight = qvalue(q);
            }
            let Some(weight) = weight else { continue };
            let slot = if name.eq_ignore_ascii_case(b"br") {
                &mut accept.named[0]
            } else if name.eq_ignore_ascii_case(b"zstd") {
                &mut accept.named[1]
            } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
                &mut accept.named[2]
            } else if name.eq_ignore_ascii_case(b"identity") {
                &mut accept.identity
            } else if name == b"*" {
                &mut accept.any
            } else {
                continue;
            };
            // Named twice: the higher weight counts.
            *slot = Some(slot.map_or(weight, |old| old.max(weight)));
        }
        accept
    }

    /// The weight of `coding`: as named, else as `*`, else 0.
    #[must_use]
    pub fn weight(&self, coding: Coding) -> u16 {
        let index = Coding::ALL.iter().position(|&c| c == coding).unwrap_or(0);
        self.named[index].or(self.any).unwrap_or(0)
    }

    /// Whether an uncompressed answer is acceptable: unless `identity;q=0`,
    /// or `*;q=0` without `identity` named (§12.5.3).
    #[must_use]
    pub fn identity_acceptable(&self) -> bool {
        self.identity.or(self.any).is_none_or(|q| q > 0)
    }

    /// The codings worth looking for, best first: weight above 0 and not
    /// below what the client gave `identity` (an `identity` left unnamed
    /// ranks below every coding named), ties in the order of
    /// [`Coding::ALL`].
    #[must_use]
    pub fn preferred(&self) -> Vec<Coding> {
        let identity = self.identity.or(self.any).unwrap_or(0);
        let mut codings: Vec<(u16, Coding)> = Coding::ALL
            .iter()
            .map(|&coding| (self.weight(coding), coding))
            .filter(|&(weight, _)| weight > 0 && weight >= identity)
            .collect();
        // Stable: equal weights keep the server's order.
        codings.sort_by_key(|&(weight, _)| std::cmp::Reverse(weight));
        codings.into_iter().map(|(_, coding)| coding).collect()
    }
}

/// The weight, in thousandths, that an `Accept` field (every line of it,
/// as one list) gives the media type `media` by its exact name (`*/*` and
/// `type/*` are not counted: a listing and a fallback page ask whether a
/// client named HTML or JSON, not whether it takes anything). The highest
/// if named twice; 0 if not named, or only with a bad weight.
pub fn accept_weight<'a>(lines: impl IntoIterator<Item = &'a [u8]>, media: &str) -> u16 {
    let mut best = 0;
    for member in lines.into_iter().flat_map(crate::request::list_elements) {
        let mut params = member.split(|&b| b == b';');
        if !params.next().unwrap_or_default().trim_ascii().eq_ignore_ascii_case(media.as_bytes()) {
            continue;
        }
        let mut weight = Some(1000);
        for param in params {
            let param = param.trim_ascii();
            if let Some(q) = param.strip_prefix(b"q=").or_else(|| param.strip_prefix(b"Q=")) {
                weight = qvalue(q);
            }
        }
        best = best.max(weight.unwrap_or(0));
    }
    best
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
/// thousandths.
fn qvalue(text: &[u8]) -> Option<u16> {
    let (int, frac) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tag(opaque: &str, weak: bool) -> EntityTag<'_> {
        EntityTag { weak, opaque: opaque.as_bytes() }
    }

    #[test]
    fn rfc9110_8_8_3_entity_tags_and_their_comparisons() {
        assert_eq!(EntityTag::parse(b"\"xyzzy\""), Some(tag("xyzzy", false)));
        assert_eq!(EntityTag::parse(b"W/\"xyzzy\""), Some(tag("xyzzy", true)));
        assert_eq!(EntityTag::parse(b"\"\""), Some(tag("", false)));
        for bad in [&b"xyzzy"[..], b"\"a", b"w/\"a\"", b"\"a b\"", b"\"a\" ", b"W/ \"a\""] {
            assert_eq!(EntityTag::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // The table of §8.8.3.2.
        let cases = [
            (("1", true), ("1", true), false, true),
            (("1", true), ("2", true), false, false),
            (("1", true), ("1", false), false, true),
            (("1", false), ("1", false), true, true),
        ];
        for ((a, aw), (b, bw), strong, weak) in cases {
            assert_eq!(tag(a, aw).strong_eq(&tag(b, bw)), strong);
            assert_eq!(tag(a, aw).weak_eq(&tag(b, bw)), weak);
        }
    }

    #[test]
    fn rfc9110_13_1_1_tag_lists_across_lines_with_commas_inside_tags() {
        let list = parse_tags([&b"\"a\", W/\"b,c\" ,,"[..], b"\"d\""]).unwrap();
        assert_eq!(list, Tags::List(vec![tag("a", false), tag("b,c", true), tag("d", false)]));
        assert_eq!(parse_tags([&b" * "[..]]), Some(Tags::Any));
        for bad in [&b"*, \"a\""[..], b"\"a\" \"b\"", b"a", b"", b"\"a\"x"] {
            assert_eq!(parse_tags([bad]), None, "{}", String::from_utf8_lossy(bad));
        }
        let many = "\"x\",".repeat(MAX_TAGS + 1);
        assert_eq!(parse_tags([many.as_bytes()]), None);
        let list = parse_tags([&b"W/\"1\""[..]]).unwrap();
        assert!(list.matches(&tag("1", false), true));
        assert!(!list.matches(&tag("1", false), false));
    }

    #[test]
    fn rfc9110_5_6_7_all_three_date_forms() {
        let expected = parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(expected));
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(expected));
        for bad in [&b"yesterday"[..], b"", b"Sun, 06 Nov 1994 25:49:37 GMT", b"\xff"] {
            assert_eq!(parse_http_date(bad), None);
        }
    }

    #[test]
    fn rfc9110_14_1_1_range_syntax() {
        use ByteRange::*;
        assert_eq!(parse_range(b"bytes=0-499"), Some(vec![FromTo(0, 499)]));
        assert_eq!(parse_range(b"Bytes = 500-, -500 ,, 7-7"), None, "no whitespace around the =");
        assert_eq!(
            parse_range(b"BYTES=500-, -500 ,, 7-7"),
            Some(vec![From(500), Suffix(500), FromTo(7, 7)])
        );
        assert_eq!(parse_range(b"bytes=99999999999999999999999-"), Some(vec![From(u64::MAX)]));
        for bad in [
            &b"bytes=5-4"[..],
            b"bytes=",
            b"bytes=,",
            b"bytes=a-b",
            b"bytes=1",
            b"bytes=--1",
            b"bytes=-",
            b"items=0-1",
            b"bytes 0-1",
            b"bytes=0-1;x",
        ] {
            assert_eq!(parse_range(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let many = format!("bytes={}", "0-0,".repeat(MAX_RANGES + 1));
        assert_eq!(parse_range(many.as_bytes()), None);
        // Positions past u64::MAX saturate; the order is still checked.
        assert_eq!(parse_range(b"bytes=007-7"), Some(vec![FromTo(7, 7)]));
        assert_eq!(
            parse_range(b"bytes=18446744073709551616-99999999999999999999"),
            Some(vec![FromTo(u64::MAX, u64::MAX)])
        );
        let enough = format!("bytes={}", "0-0,".repeat(MAX_RANGES));
        assert_eq!(parse_range(enough.as_bytes()).map(|r| r.len()), Some(MAX_RANGES));
    }

    /// Found by the `ranges_differential` fuzz target's reference
    /// parser (its seed `structured-huge`): both positions
    /// past `u64::MAX` saturated to the same number, so a backwards
    /// range-spec was read as `FromTo(u64::MAX, u64::MAX)` and answered
    /// (416 alone, a 206 without it among others) instead of ignored.
    #[test]
    fn a_backwards_range_past_u64_max_is_still_backwards() {
        for backwards in [
            &b"bytes=99999999999999999999999-18446744073709551616"[..],
            b"bytes=18446744073709551616-18446744073709551615",
            b"bytes=0-1, 100000000000000000000-099999999999999999999",
        ] {
            assert_eq!(parse_range(backwards), None, "{}", String::from_utf8_lossy(backwards));
        }
    }

    #[test]
    fn rfc9110_14_1_3_satisfiable_ranges_clamped_sorted_and_coalesced() {
        use ByteRange::*;
        let select = |ranges: &[ByteRange], len| select_ranges(ranges, len);
        let ranges = |v: &[(u64, u64)]| RangeSelection::Ranges(v.to_vec());
        assert_eq!(select(&[FromTo(0, 499)], 10_000), ranges(&[(0, 500)]));
        assert_eq!(select(&[FromTo(9_500, 20_000)], 10_000), ranges(&[(9_500, 500)]));
        assert_eq!(select(&[Suffix(500)], 10_000), ranges(&[(9_500, 500)]));
        assert_eq!(select(&[Suffix(50_000)], 10_000), ranges(&[(0, 10_000)]));
        assert_eq!(select(&[From(9_999)], 10_000), ranges(&[(9_999, 1)]));
        assert_eq!(select(&[From(10_000)], 10_000), RangeSelection::Unsatisfiable);
        assert_eq!(select(&[Suffix(0)], 10_000), RangeSelection::Unsatisfiable);
        assert_eq!(select(&[From(0)], 0), RangeSelection::Unsatisfiable);
        assert_eq!(select(&[Suffix(1)], 0), RangeSelection::Unsatisfiable);
        // Unsatisfiable members are dropped, the rest served.
        assert_eq!(select(&[From(20_000), FromTo(0, 0)], 10_000), ranges(&[(0, 1)]));
        // Overlapping, adjacent and close ranges merge; far ones do not.
        assert_eq!(
            select(&[FromTo(500, 999), FromTo(0, 499), FromTo(200, 300)], 10_000),
            ranges(&[(0, 1000)])
        );
        assert_eq!(
            select(&[FromTo(0, 9), FromTo(10 + COALESCE_GAP - 1, 200)], 10_000),
            ranges(&[(0, 201)])
        );
        assert_eq!(
            select(&[FromTo(1000, 1009), FromTo(0, 9)], 10_000),
            ranges(&[(0, 10), (1000, 10)])
        );
        assert_eq!(select(&[FromTo(0, u64::MAX)], u64::MAX), ranges(&[(0, u64::MAX)]));
    }

    #[test]
    fn rfc9110_12_5_3_accept_encoding_weights() {
        let parse = |s: &str| AcceptEncoding::parse([s.as_bytes()]);
        use Coding::*;
        assert_eq!(parse("gzip, deflate, br, zstd").preferred(), [Brotli, Zstd, Gzip]);
        assert_eq!(parse("gzip;q=1.0, br;q=0.5").preferred(), [Gzip, Brotli]);
        assert_eq!(parse("X-GZIP").preferred(), [Gzip]);
        assert_eq!(parse("*").preferred(), [Brotli, Zstd, Gzip]);
        assert_eq!(parse("*;q=0.5, gzip;q=0").preferred(), [Brotli, Zstd]);
        assert_eq!(parse("br;q=0.5, identity").preferred(), Vec::<Coding>::new());
        assert_eq!(parse("br;q=0.5, identity;q=0.5").preferred(), [Brotli]);
        assert_eq!(parse("br;q=2, gzip;q=0.1234, zstd;q=0.3").preferred(), [Zstd]);
        assert_eq!(parse("br ; q=0.8, gzip;Q=0.9").preferred(), [Gzip, Brotli]);
        assert_eq!(parse("").preferred(), Vec::<Coding>::new());
        assert!(AcceptEncoding::parse(std::iter::empty()).identity_acceptable());
        assert!(parse("gzip").identity_acceptable());
        assert!(!parse("gzip, identity;q=0").identity_acceptable());
        assert!(!parse("*;q=0").identity_acceptable());
        assert!(parse("*;q=0, identity").identity_acceptable());
        assert!(parse("identity;q=0.001").identity_acceptable());
        // Across lines, the higher weight of a coding named twice.
        let two = AcceptEncoding::parse([&b"gzip;q=0.1"[..], b"gzip, br;q=0.5"]);
        assert_eq!(two.preferred(), [Gzip, Brotli]);
    }
}
