//! The encoding of every value of the ABI: little-endian integers,
//! lengths before bytes, one tag byte before each choice (docs/ABI.md
//! draws the same layout). The decoders trust nothing: everything they
//! accept is valid.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use portico_core::{
    Body, FieldValue, FileId, Headers, Limits, Moment, Part, PathRule, STATE_LEN, SafePath, Site,
    Step, Written,
};

use crate::{
    AbiError, Call, FileRef, MAX_BODY_BYTES, MAX_FIELDS, MAX_HEAD_BYTES, MAX_HEAD_LEN, MAX_PARTS,
    MAX_PATH, MAX_SITE_ITEMS, Miss, Refusal, StepResult, valid_head,
};

/// Encode a site configuration for `portico_configure`.
#[must_use]
pub fn encode_site(site: &Site) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut w = Writer { out: &mut out };
    w.u16(len16(site.index_names.len()));
    for name in &site.index_names {
        w.text16(name);
    }
    match &site.not_found_page {
        Some(path) => {
            w.u8(1);
            w.text16(path.as_str());
        }
        None => w.u8(0),
    }
    w.u8(u8::from(site.listings));
    w.u8(u8::from(site.hidden));
    match &site.cache_control {
        Some(value) => {
            w.u8(1);
            w.text32(value);
        }
        None => w.u8(0),
    }
    w.headers(&site.extra_headers);
    w.u8(u8::from(site.cors));
    match &site.fallback {
        Some(path) => {
            w.u8(1);
            w.text16(path.as_str());
        }
        None => w.u8(0),
    }
    w.u16(len16(site.rules.len()));
    for rule in &site.rules {
        w.text16(&rule.pattern);
        match &rule.cache_control {
            Some(value) => {
                w.u8(1);
                w.text32(value);
            }
            None => w.u8(0),
        }
        w.headers(&rule.headers);
    }
    let limits = &site.limits;
    w.u64(limits.max_head as u64);
    w.u64(limits.max_target as u64);
    w.u64(limits.max_headers as u64);
    w.u64(limits.max_body);
    w.duration(limits.idle_timeout);
    w.duration(limits.head_timeout);
    out
}

/// Decode a site configuration; every setting is checked as [`Site`]'s
/// own builders check it.
pub fn decode_site(bytes: &[u8]) -> Result<Site, AbiError> {
    let mut r = Reader::new(bytes);
    let count = r.count16(MAX_SITE_ITEMS, "index names")?;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        names.push(r.text16("index name")?.to_owned());
    }
    let site = Site::default().with_index_names(names).map_err(|_| AbiError::BadSite)?;
    let page = match r.u8()? {
        0 => None,
        1 => Some(r.text16("404 page")?),
        _ => return Err(AbiError::BadTag("404 page flag")),
    };
    let site = site.with_not_found_page(page).map_err(|_| AbiError::BadPath)?;
    let listings = r.bool("listings")?;
    let hidden = r.bool("hidden")?;
    let cache_control = match r.u8()? {
        0 => None,
        1 => Some(r.text32("cache-control", MAX_HEAD_BYTES)?.to_owned()),
        _ => return Err(AbiError::BadTag("cache-control flag")),
    };
    let mut site = site
        .with_cache_control(cache_control)
        .map_err(|_| AbiError::BadHeader)?
        .with_hidden(hidden);
    site.listings = listings;
    site.extra_headers = r.headers()?;
    let mut site = site.with_cors(r.bool("cors")?);
    let fallback = match r.u8()? {
        0 => None,
        1 => Some(r.text16("fallback page")?),
        _ => return Err(AbiError::BadTag("fallback flag")),
    };
    site = site.with_fallback(fallback).map_err(|_| AbiError::BadPath)?;
    let rules = r.count16(MAX_SITE_ITEMS, "rules")?;
    for _ in 0..rules {
        let pattern = r.text16("rule pattern")?;
        let cache_control = match r.u8()? {
            0 => None,
            1 => Some(r.text32("rule cache-control", MAX_HEAD_BYTES)?.to_owned()),
            _ => return Err(AbiError::BadTag("rule cache-control flag")),
        };
        let mut rule = PathRule::new(pattern)
            .map_err(|_| AbiError::BadSite)?
            .with_cache_control(cache_control)
            .map_err(|_| AbiError::BadHeader)?;
        rule.headers = r.headers()?;
        site = site.with_rule(rule);
    }
    let size =
        |r: &mut Reader<'_>| usize::try_from(r.u64()?).map_err(|_| AbiError::TooLarge("limit"));
    let limits = Limits::default()
        .with_max_head(size(&mut r)?)
        .with_max_target(size(&mut r)?)
        .with_max_headers(size(&mut r)?)
        .with_max_body(r.u64()?)
        .with_idle_timeout(r.duration()?)
        .with_head_timeout(r.duration()?);
    r.end()?;
    Ok(site.with_limits(limits))
}

/// Encode a call for `portico_step`.
#[must_use]
pub fn encode_call(call: &Call) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_call_into(call, &mut out);
    out
}

/// Append the encoding of a call to `out` (a host reuses one buffer for
/// every step rather than allocate one per step).
pub fn encode_call_into(call: &Call, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    w.bytes(&call.state);
    w.time(call.wall);
    w.u64(call.now.as_nanos());
    let flags = u8::from(call.timed_out) | u8::from(call.refused.is_some()) << 1;
    w.u8(flags);
    if let Some(refusal) = &call.refused {
        w.u8(match refusal.miss {
            Miss::NotFound => 1,
            Miss::Forbidden => 2,
            Miss::Failed => 3,
        });
        w.text16(refusal.path.as_str());
    }
}

/// Decode a call.
pub fn decode_call(bytes: &[u8]) -> Result<Call, AbiError> {
    let mut r = Reader::new(bytes);
    let state = r.state()?;
    let wall = r.time()?;
    let now = Moment::from_nanos(r.u64()?);
    let flags = r.u8()?;
    if flags & !0b11 != 0 {
        return Err(AbiError::BadTag("call flags"));
    }
    let refused = if flags & 0b10 != 0 {
        let miss = match r.u8()? {
            1 => Miss::NotFound,
            2 => Miss::Forbidden,
            3 => Miss::Failed,
            _ => return Err(AbiError::BadTag("refusal")),
        };
        Some(Refusal { path: r.path()?, miss })
    } else {
        None
    };
    r.end()?;
    Ok(Call { state, wall, now, timed_out: flags & 1 != 0, refused })
}

/// Encode a step result (the guest's answer, after its 4-byte length).
#[must_use]
pub fn encode_result(result: &StepResult) -> Vec<u8> {
    let mut out = Vec::new();
    encode_result_into(result, &mut out);
    out
}

/// Append the encoding of a step result to `out` (the guest writes its
/// block's length word first, and the result after it, in one buffer).
pub fn encode_result_into(result: &StepResult, out: &mut Vec<u8>) {
    let generated = match &result.step {
        Step::Respond { response, .. } => match &response.body {
            Body::Bytes(bytes) => bytes.len(),
            Body::Parts { parts, .. } => parts.len() * 24,
            _ => 0,
        },
        _ => 0,
    };
    out.reserve(512 + generated);
    let mut w = Writer { out };
    w.bytes(&result.state);
    w.u8(u8::from(result.awaiting_head)
        | u8::from(result.wake_at.is_some()) << 1
        | u8::from(result.input_complete) << 2);
    w.u64(result.wake_at.map_or(0, Moment::as_nanos));
    match &result.step {
        Step::Discard(n) => {
            w.u8(1);
            w.u32(len32(*n));
        }
        Step::Respond { consumed, response } => {
            w.u8(2);
            w.u32(len32(*consumed));
            w.answer(response);
        }
        Step::Close => {
            w.u8(3);
            w.u32(0);
        }
        // NeedMore, and any step this version cannot carry: the host waits
        // for bytes and steps again, which changes nothing.
        _ => {
            w.u8(0);
            w.u32(0);
        }
    }
}

/// Decode a step result, trusting nothing in it.
pub fn decode_result(bytes: &[u8]) -> Result<StepResult, AbiError> {
    decode_result_into(bytes, Vec::new())
}

/// [`decode_result`], with a response's head copied into `head` (cleared
/// first): a host passes a buffer it reuses, so a response costs no
/// allocation for its head, and a small body appended to it later none
/// either. It fails as [`decode_result`] does.
pub fn decode_result_into(bytes: &[u8], head: Vec<u8>) -> Result<StepResult, AbiError> {
    let mut r = Reader::new(bytes);
    let state = r.state()?;
    let flags = r.u8()?;
    if flags & !0b111 != 0 {
        return Err(AbiError::BadTag("result flags"));
    }
    let wake = r.u64()?;
    let wake_at = match (flags & 0b10 != 0, wake) {
        (true, at) => Some(Moment::from_nanos(at)),
        (false, 0) => None,
        (false, _) => return Err(AbiError::BadTag("wake time without its flag")),
    };
    let tag = r.u8()?;
    let consumed = r.u32()?;
    let step = match tag {
        0 | 3 if consumed != 0 => return Err(AbiError::BadTag("consumed without a response")),
        0 => Step::NeedMore,
        1 if consumed == 0 => return Err(AbiError::NoProgress),
        1 => Step::Discard(consumed as usize),
        2 => {
            let response = r.answer(head)?;
            if response.keep_alive && consumed == 0 {
                return Err(AbiError::NoProgress);
            }
            Step::Respond { consumed: consumed as usize, response }
        }
        3 => Step::Close,
        _ => return Err(AbiError::BadTag("step")),
    };
    r.end()?;
    let (awaiting_head, input_complete) = (flags & 1 != 0, flags & 0b100 != 0);
    Ok(StepResult { state, wake_at, awaiting_head, input_complete, step })
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }
    /// A length that does not fit is written as the largest there is, so
    /// the decoder refuses it rather than misreading what follows.
    fn text16(&mut self, v: &str) {
        self.u16(len16(v.len()));
        self.bytes(v.as_bytes());
    }
    fn text32(&mut self, v: &str) {
        self.u32(len32(v.len()));
        self.bytes(v.as_bytes());
    }
    fn bytes32(&mut self, v: &[u8]) {
        self.u32(len32(v.len()));
        self.bytes(v);
    }
    fn duration(&mut self, v: Duration) {
        self.u64(u64::try_from(v.as_nanos()).unwrap_or(u64::MAX));
    }
    /// Seconds (signed: files can be stamped before 1970) and nanoseconds.
    fn time(&mut self, v: SystemTime) {
        let (secs, nanos) = match v.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => (i64::try_from(after.as_secs()).unwrap_or(i64::MAX), after.subsec_nanos()),
            Err(before) => {
                // In i128: the earliest time a reader accepts is i64::MIN
                // seconds, whose negation an i64 cannot hold (found by the
                // guest_answer fuzz target: it was written back one second
                // later, so two encodings read as one time).
                let before = before.duration();
                let secs = -i128::from(before.as_secs());
                let (secs, nanos) = match before.subsec_nanos() {
                    0 => (secs, 0),
                    n => (secs - 1, 1_000_000_000 - n),
                };
                (i64::try_from(secs).unwrap_or(i64::MIN), nanos)
            }
        };
        self.bytes(&secs.to_le_bytes());
        self.u32(nanos);
    }
    fn headers(&mut self, headers: &Headers) {
        self.u16(len16(headers.len()));
        let mut value = Vec::new();
        for (name, field) in headers.iter() {
            self.text16(name);
            value.clear();
            field.write(&mut value);
            self.bytes32(&value);
        }
    }
    fn file(&mut self, file: &FileRef) {
        self.text16(file.path.as_str());
        self.u64(file.size);
        self.u8(u8::from(file.modified.is_some()) | u8::from(file.id.is_some()) << 1);
        self.time(file.modified.unwrap_or(SystemTime::UNIX_EPOCH));
        let id = file.id.unwrap_or(FileId { device: 0, inode: 0 });
        self.u64(id.device);
        self.u64(id.inode);
    }
    fn answer(&mut self, answer: &Written<FileRef>) {
        self.u16(answer.status);
        self.u8(u8::from(answer.keep_alive));
        self.bytes32(&answer.head);
        match &answer.body {
            Body::Bytes(bytes) => {
                self.u8(1);
                self.bytes32(bytes);
            }
            Body::File { handle, offset, len } => {
                self.u8(2);
                self.file(handle);
                self.u64(*offset);
                self.u64(*len);
            }
            Body::Parts { handle, parts } => {
                self.u8(3);
                self.file(handle);
                self.u32(len32(parts.len()));
                for part in parts {
                    match part {
                        Part::File { offset, len } => {
                            self.u8(1);
                            self.u64(*offset);
                            self.u64(*len);
                        }
                        Part::Bytes(bytes) => {
                            self.u8(0);
                            self.bytes32(bytes);
                        }
                        // A part kind this version cannot carry: an empty
                        // one, which changes nothing the client sees.
                        _ => {
                            self.u8(0);
                            self.u32(0);
                        }
                    }
                }
            }
            // Body::Empty, and any body kind this version cannot carry:
            // the host closes rather than send a body the head lies about.
            _ => self.u8(0),
        }
    }
}

/// Field names and values the core sends on most responses: decoded as
/// the constants they are rather than copied, which saves the host a
/// dozen allocations a response.
const KNOWN_NAMES: [&str; 16] = [
    "Server",
    "Date",
    "Content-Type",
    "Content-Length",
    "Last-Modified",
    "Cache-Control",
    "X-Content-Type-Options",
    "Connection",
    "Location",
    "Allow",
    "Retry-After",
    "Vary",
    "ETag",
    "Accept-Ranges",
    "Content-Range",
    "Content-Encoding",
];
const KNOWN_VALUES: [&str; 9] = [
    "portico",
    "nosniff",
    "bytes",
    "Accept-Encoding",
    "close",
    "keep-alive",
    "text/html; charset=utf-8",
    "GET, HEAD, OPTIONS",
    "0",
];

fn intern(text: &str, known: &[&'static str]) -> Cow<'static, str> {
    match known.iter().find(|k| **k == text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.to_owned()),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], AbiError> {
        if n > self.bytes.len() {
            return Err(AbiError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], AbiError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, AbiError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, AbiError> {
        self.array().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Result<u32, AbiError> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, AbiError> {
        self.array().map(u64::from_le_bytes)
    }
    fn bool(&mut self, what: &'static str) -> Result<bool, AbiError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(AbiError::BadTag(what)),
        }
    }
    fn state(&mut self) -> Result<[u8; STATE_LEN], AbiError> {
        self.array()
    }
    fn count16(&mut self, cap: usize, what: &'static str) -> Result<usize, AbiError> {
        let n = usize::from(self.u16()?);
        if n > cap { Err(AbiError::TooLarge(what)) } else { Ok(n) }
    }
    fn text16(&mut self, what: &'static str) -> Result<&'a str, AbiError> {
        let n = usize::from(self.u16()?);
        if n > MAX_PATH.max(MAX_HEAD_BYTES) {
            return Err(AbiError::TooLarge(what));
        }
        std::str::from_utf8(self.take(n)?).map_err(|_| AbiError::NotUtf8(what))
    }
    fn bytes32(&mut self, what: &'static str, cap: usize) -> Result<&'a [u8], AbiError> {
        let n = self.u32()? as usize;
        if n > cap {
            return Err(AbiError::TooLarge(what));
        }
        self.take(n)
    }
    fn text32(&mut self, what: &'static str, cap: usize) -> Result<&'a str, AbiError> {
        std::str::from_utf8(self.bytes32(what, cap)?).map_err(|_| AbiError::NotUtf8(what))
    }
    fn duration(&mut self) -> Result<Duration, AbiError> {
        self.u64().map(Duration::from_nanos)
    }
    fn time(&mut self) -> Result<SystemTime, AbiError> {
        let secs = i64::from_le_bytes(self.array()?);
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(AbiError::BadTag("nanoseconds"));
        }
        let time = if secs >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        };
        time.ok_or(AbiError::TooLarge("time"))
    }
    fn path(&mut self) -> Result<SafePath, AbiError> {
        let text = self.text16("path")?;
        if text.len() > MAX_PATH {
            return Err(AbiError::TooLarge("path"));
        }
        SafePath::from_normal(text).map_err(|_| AbiError::BadPath)
    }
    fn headers(&mut self) -> Result<Headers, AbiError> {
        let count = self.count16(MAX_FIELDS, "header fields")?;
        let mut headers = Headers::new();
        let mut total = 0usize;
        for _ in 0..count {
            let name = self.text16("header name")?;
            let value = self.text32("header value", MAX_HEAD_BYTES)?;
            total += name.len() + value.len();
            if total > MAX_HEAD_BYTES {
                return Err(AbiError::TooLarge("header fields"));
            }
            headers
                .try_push(
                    intern(name, &KNOWN_NAMES),
                    FieldValue::Text(intern(value, &KNOWN_VALUES)),
                )
                .map_err(|_| AbiError::BadHeader)?;
        }
        Ok(headers)
    }
    fn file(&mut self) -> Result<FileRef, AbiError> {
        let path = self.path()?;
        // The root is a directory, never a file to send (found by the
        // guest_answer fuzz target: the host refused it only when it
        // opened it).
        if path.is_root() {
            return Err(AbiError::BadPath);
        }
        let size = self.u64()?;
        let flags = self.u8()?;
        if flags & !0b11 != 0 {
            return Err(AbiError::BadTag("file flags"));
        }
        let modified = self.time()?;
        let (device, inode) = (self.u64()?, self.u64()?);
        let modified = if flags & 1 != 0 {
            Some(modified)
        } else if modified == SystemTime::UNIX_EPOCH {
            None
        } else {
            return Err(AbiError::BadTag("time without its flag"));
        };
        let id = if flags & 2 != 0 {
            Some(FileId { device, inode })
        } else if (device, inode) == (0, 0) {
            None
        } else {
            return Err(AbiError::BadTag("identity without its flag"));
        };
        Ok(FileRef { path, size, modified, id })
    }
    fn answer(&mut self, mut owned: Vec<u8>) -> Result<Written<FileRef>, AbiError> {
        let status = self.u16()?;
        if !(100..=999).contains(&status) {
            return Err(AbiError::BadStatus);
        }
        let keep_alive = self.bool("keep-alive")?;
        let head = self.bytes32("head", MAX_HEAD_LEN)?;
        if !valid_head(head, status) {
            return Err(AbiError::BadHeader);
        }
        owned.clear();
        owned.extend_from_slice(head);
        let head = owned;
        let body = match self.u8()? {
            0 => Body::Empty,
            1 => Body::Bytes(self.bytes32("body", MAX_BODY_BYTES)?.to_vec()),
            2 => {
                let handle = self.file()?;
                Body::File { handle, offset: self.u64()?, len: self.u64()? }
            }
            3 => {
                let handle = self.file()?;
                let count = self.u32()? as usize;
                if count > MAX_PARTS {
                    return Err(AbiError::TooLarge("parts"));
                }
                let mut parts = Vec::with_capacity(count);
                let mut generated = 0usize;
                for _ in 0..count {
                    parts.push(match self.u8()? {
                        0 => {
                            let bytes = self.bytes32("part", MAX_BODY_BYTES)?;
                            generated += bytes.len();
                            if generated > MAX_BODY_BYTES {
                                return Err(AbiError::TooLarge("parts"));
                            }
                            Part::Bytes(bytes.to_vec())
                        }
                        1 => Part::File { offset: self.u64()?, len: self.u64()? },
                        _ => return Err(AbiError::BadTag("part")),
                    });
                }
                Body::Parts { handle, parts }
            }
            _ => return Err(AbiError::BadTag("body")),
        };
        Ok(Written { status, keep_alive, head, body })
    }
    fn end(&self) -> Result<(), AbiError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(AbiError::TrailingBytes) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn times_before_1970_survive() {
        for secs in [-1_i64, -86_400, 0, 1, i64::MIN, i64::MIN + 1] {
            for nanos in [0, 1, 999_999_999] {
                let t = if secs >= 0 {
                    SystemTime::UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
                } else {
                    SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                        + Duration::from_nanos(u64::from(nanos))
                };
                let mut out = Vec::new();
                Writer { out: &mut out }.time(t);
                assert_eq!(Reader::new(&out).time(), Ok(t), "{secs} {nanos}");
            }
        }
    }
}
