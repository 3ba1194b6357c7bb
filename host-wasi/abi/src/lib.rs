//! # portico-abi
//!
//! The guest ABI of portico-wasi, version [`ABI_VERSION`], defined once:
//! the values a host and the portico guest exchange, and the one encoding
//! both sides use. The guest (`portico-guest`) encodes what the host
//! decodes and the other way round, with these very functions, so the two
//! cannot drift apart; a property test checks that every value survives
//! the trip and that no byte string makes a decoder panic.
//!
//! It does no I/O and has no exports: it builds for the host and for
//! `wasm32`. `docs/ABI.md` describes the same bytes for embedders that are
//! not written in Rust.
//!
//! ```text
//! host                                         guest
//!  Site ──encode_site──▶ portico_configure ──decode_site──▶ Site (once per instance)
//!  Call ──encode_call──▶ portico_step      ──decode_call──▶ Call
//!  StepResult ◀─decode_result── block ◀─encode_result── StepResult
//! ```
//!
//! Everything a decoder accepts is valid: statuses are 100–999, header
//! fields cannot split the head, paths are normal paths below the root,
//! sizes are within the caps below. A guest is not trusted: the host
//! reads its answers with [`decode_block`] (the block in guest memory,
//! then [`decode_result`]) and [`ranges_fit`], and treats an error as a
//! broken instance.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::SystemTime;

use portico_core::{FileId, Lookup, Moment, STATE_LEN, SafePath, Step, Written};

/// The version of this ABI: what `portico_abi_version` returns. A host
/// refuses a module of another version.
pub const ABI_VERSION: u32 = 5;

/// The most header fields a response may carry.
pub const MAX_FIELDS: usize = 256;
/// The most bytes of header names and values in a site's extra fields.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The longest serialised response head: [`MAX_FIELDS`] fields of
/// [`MAX_HEAD_BYTES`] in all, with their separators and the status line.
pub const MAX_HEAD_LEN: usize = MAX_HEAD_BYTES + 4 * MAX_FIELDS + 1024;
/// The most generated body bytes in one response (an error page, a
/// listing, multipart boundaries).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// The longest file path.
pub const MAX_PATH: usize = 4096;
/// The most pieces of a multipart body.
pub const MAX_PARTS: usize = 4096;
/// The most index names, extra headers and similar lists in a
/// [`Site`](portico_core::Site).
pub const MAX_SITE_ITEMS: usize = 256;

/// Why bytes did not decode to a value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum AbiError {
    /// The bytes end before the value does.
    Truncated,
    /// Bytes follow a complete value.
    TrailingBytes,
    /// A tag, flag or boolean byte with no meaning here.
    BadTag(&'static str),
    /// A length or count over its cap.
    TooLarge(&'static str),
    /// Text that is not UTF-8.
    NotUtf8(&'static str),
    /// A head that is not a status line, header fields and an empty line,
    /// or a field that would break it.
    BadHeader,
    /// A path that is not a normal path below the root.
    BadPath,
    /// A status outside 100–999.
    BadStatus,
    /// A response that keeps the connection but consumed nothing (the host
    /// would answer the same bytes for ever), or a discard of nothing.
    NoProgress,
    /// A site setting the core refuses.
    BadSite,
}

impl core::fmt::Display for AbiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated"),
            Self::TrailingBytes => f.write_str("bytes after the value"),
            Self::BadTag(what) => write!(f, "invalid {what}"),
            Self::TooLarge(what) => write!(f, "{what} over its cap"),
            Self::NotUtf8(what) => write!(f, "{what} is not UTF-8"),
            Self::BadHeader => f.write_str("a malformed head or header field"),
            Self::BadPath => f.write_str("a path that is not normal"),
            Self::BadStatus => f.write_str("a status outside 100-999"),
            Self::NoProgress => {
                f.write_str("a kept-alive response or discard that consumed nothing")
            }
            Self::BadSite => f.write_str("a site setting the core refuses"),
        }
    }
}

impl std::error::Error for AbiError {}

/// What the host hands the guest with each step, besides the input bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Call {
    /// The connection state from the previous result (all zero for a new
    /// connection): [`portico_core::Connection::to_bytes`].
    pub state: [u8; STATE_LEN],
    /// Wall-clock time, for `Date`.
    pub wall: SystemTime,
    /// Monotonic time, for deadlines.
    pub now: Moment,
    /// The host woke because [`StepResult::wake_at`] passed and no bytes
    /// came: the guest applies the deadline before it looks at the input.
    pub timed_out: bool,
    /// The file the previous step named could not be served: answer the
    /// same input again as if the lookup of that path had found this.
    pub refused: Option<Refusal>,
}

impl Call {
    /// A step at `wall`/`now` with this state, no timeout, no refusal.
    #[must_use]
    pub fn new(state: [u8; STATE_LEN], wall: SystemTime, now: Moment) -> Self {
        Self { state, wall, now, timed_out: false, refused: None }
    }
}

/// A file the host could not open as the guest described it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Refusal {
    /// The path the guest named.
    pub path: SafePath,
    /// What the host found there instead.
    pub miss: Miss,
}

/// A lookup outcome without a file: what a host that refused a file
/// reports back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Miss {
    /// 404.
    NotFound,
    /// 403.
    Forbidden,
    /// 500.
    Failed,
}

impl Miss {
    /// The miss a lookup outcome is, if it is one.
    #[must_use]
    pub fn of<H>(lookup: &Lookup<H>) -> Option<Self> {
        match lookup {
            Lookup::NotFound => Some(Self::NotFound),
            Lookup::Forbidden => Some(Self::Forbidden),
            Lookup::Failed => Some(Self::Failed),
            _ => None,
        }
    }

    /// The lookup outcome this miss stands for.
    #[must_use]
    pub fn lookup<H>(self) -> Lookup<H> {
        match self {
            Self::NotFound => Lookup::NotFound,
            Self::Forbidden => Lookup::Forbidden,
            Self::Failed => Lookup::Failed,
        }
    }
}

/// A file the guest found and names for the host to stream, with what the
/// guest saw of it, so the host can check it opens the same file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FileRef {
    /// Where it is, below the root.
    pub path: SafePath,
    /// Its size when the guest looked.
    pub size: u64,
    /// Its modification time, if the guest saw one.
    pub modified: Option<SystemTime>,
    /// Its device and inode, if the guest saw them.
    pub id: Option<FileId>,
}

/// What the guest answers a step with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepResult {
    /// The connection state to hand back with the next call.
    pub state: [u8; STATE_LEN],
    /// When to wake the connection if no bytes come
    /// ([`portico_core::Connection::poll_timeout`]).
    pub wake_at: Option<Moment>,
    /// The connection waits for a request head
    /// ([`portico_core::Connection::awaiting_head`]): with nothing
    /// buffered it may be closed at shutdown.
    pub awaiting_head: bool,
    /// The client's last request was read whole and nothing more should
    /// come ([`portico_core::Connection::input_complete`]): with nothing
    /// buffered the host may close after the response without a
    /// lingering close. Off by default (see
    /// [`StepResult::with_input_complete`]).
    pub input_complete: bool,
    /// What to do: the core's own [`Step`]. A response's head is written
    /// out ([`portico_core::Response::written`]) and its file named by a
    /// [`FileRef`]; [`decode_result`] accepts only a head that is a status
    /// line with its status, header fields that cannot split it (a token,
    /// a colon, a value without CR, LF or other controls but tab), and the
    /// empty line, and a `consumed` or a discard that fits in a `u32`.
    pub step: Step<Written<FileRef>>,
}

impl StepResult {
    /// A result.
    #[must_use]
    pub fn new(
        state: [u8; STATE_LEN],
        wake_at: Option<Moment>,
        awaiting_head: bool,
        step: Step<Written<FileRef>>,
    ) -> Self {
        Self { state, wake_at, awaiting_head, input_complete: false, step }
    }

    /// With [`StepResult::input_complete`] set as given.
    #[must_use]
    pub fn with_input_complete(mut self, input_complete: bool) -> Self {
        self.input_complete = input_complete;
        self
    }
}

/// Whether `head` is a head with `status` that cannot be split: the
/// status line `HTTP/1.1 NNN reason`, then fields `name: value`, each line
/// ending in CRLF, then CRLF and nothing after. One pass, a table lookup a
/// byte: it runs for every response portico-wasi sends.
pub(crate) fn valid_head(head: &[u8], status: u16) -> bool {
    let Some(rest) = head.strip_prefix(b"HTTP/1.1 ") else { return false };
    let [a, b, c, b' ', rest @ ..] = rest else { return false };
    let digits = [*a, *b, *c];
    if !digits.iter().all(u8::is_ascii_digit)
        || digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')) != status
    {
        return false;
    }
    let Some(mut rest) = line_end(rest) else { return false };
    let mut fields = 0;
    loop {
        if rest == b"\r\n" {
            return true;
        }
        fields += 1;
        // A token, then the colon (not a token byte) that ends it.
        let name = rest.iter().position(|&b| !portico_core::is_tchar(b)).unwrap_or(rest.len());
        if fields > MAX_FIELDS || name == 0 || rest.get(name) != Some(&b':') {
            return false;
        }
        let Some(after) = line_end(&rest[name + 1..]) else { return false };
        rest = after;
    }
}

/// What follows a line of field bytes (a value, a reason phrase) and its
/// CRLF; `None` if a byte before the CRLF is not a field byte.
fn line_end(bytes: &[u8]) -> Option<&[u8]> {
    bytes[portico_core::field_run(bytes)..].strip_prefix(b"\r\n")
}

mod answer;
mod codec;

pub use answer::{BlockError, MAX_RESULT, decode_block, ranges_fit};
pub use codec::{
    decode_call, decode_result, decode_result_into, decode_site, encode_call, encode_call_into,
    encode_result, encode_result_into, encode_site,
};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use portico_core::{Body, Response};

    use super::*;

    #[test]
    fn a_head_is_checked_line_by_line() {
        let mut head = portico_core::ResponseHead::new(200);
        head.headers.try_push("Content-Length", 42u64).unwrap();
        head.headers.try_push("Date", SystemTime::UNIX_EPOCH).unwrap();
        head.headers.try_push("X-Empty", "").unwrap();
        let response: Response<FileRef> = Response::from_parts(head, Body::Empty);
        let answer = response.written(Vec::new());
        assert_eq!(
            answer.head,
            b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
              X-Empty: \r\n\r\n"
        );
        assert!(valid_head(&answer.head, 200));
        assert!(valid_head(b"HTTP/1.1 599 \r\n\r\n", 599), "an empty reason");
        assert!(valid_head(b"HTTP/1.1 200 OK\r\nA:b\tc\xff\r\n\r\n", 200), "tab, obs-text");
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "A: b\r\n".repeat(MAX_FIELDS));
        assert!(valid_head(many.as_bytes(), 200));
        let too_many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "A: b\r\n".repeat(MAX_FIELDS + 1));
        let bad: [&[u8]; 17] = [
            b"",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nX",
            b"HTTP/1.1 200 OK\r\n\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\n",
            b"HTTP/1.1 201 OK\r\n\r\n",
            b"HTTP/1.1 20x OK\r\n\r\n",
            b"HTTP/1.1 200OK\r\n\r\n",
            b"HTTP/1.1 200 O\nK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\nSet-Cookie: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\rSet-Cookie: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\x7f\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA b: c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            too_many.as_bytes(),
        ];
        for head in bad {
            assert!(!valid_head(head, 200), "{:?}", String::from_utf8_lossy(head));
        }
    }
}
