//! Why a request was refused before it reached `respond`.

use core::fmt;

/// A request the connection could not accept. After any of these the host
/// sends [`crate::error_response`] and closes the connection: the framing of
/// whatever follows can no longer be trusted (RFC 9112 §2.2, §6.3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The bytes do not follow the RFC 9112 message grammar.
    Malformed,
    /// An HTTP/1.1 request with no `Host` field, or with more than one
    /// (RFC 9112 §3.2).
    BadHost,
    /// `Content-Length` and `Transfer-Encoding` together, differing or invalid
    /// `Content-Length`s, or `chunked` not last (RFC 9112 §6.1, §6.3).
    BadFraming,
    /// The request-target is longer than [`crate::Limits::max_target`].
    TargetTooLong,
    /// The header section is larger than [`crate::Limits::max_head`] or has
    /// more than [`crate::Limits::max_headers`] fields.
    HeadTooLarge,
    /// The declared body is larger than [`crate::Limits::max_body`].
    BodyTooLarge,
    /// A transfer-coding other than `chunked` (RFC 9112 §6.1).
    UnknownTransferCoding,
    /// An HTTP major version other than 1 (RFC 9110 §2.5).
    VersionNotSupported,
    /// A method token longer than [`crate::MAX_METHOD`] bytes:
    /// longer than any method portico implements (RFC 9112 §3 says 501),
    /// refused as soon as it is known, not after a whole head's worth.
    LongMethod,
    /// The client sent part of a request head and then stalled past the
    /// host's read deadline. Only hosts raise this; the parser never does.
    Timeout,
}

impl ProtocolError {
    /// The status code to answer with.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::Malformed | Self::BadHost | Self::BadFraming => 400,
            Self::Timeout => 408,
            Self::BodyTooLarge => 413,
            Self::TargetTooLong => 414,
            Self::HeadTooLarge => 431,
            Self::UnknownTransferCoding | Self::LongMethod => 501,
            Self::VersionNotSupported => 505,
        }
    }

    /// A short human-readable reason, used in error pages.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "The request is not valid HTTP/1.1.",
            Self::BadHost => "An HTTP/1.1 request needs exactly one Host header field.",
            Self::BadFraming => "The request body's length is ambiguous.",
            Self::TargetTooLong => "The request target is too long.",
            Self::HeadTooLarge => "The request header section is too large.",
            Self::BodyTooLarge => "The request body is too large.",
            Self::UnknownTransferCoding => "Only the chunked transfer-coding is supported.",
            Self::VersionNotSupported => "Only HTTP/1.0 and HTTP/1.1 are supported.",
            Self::LongMethod => "This server does not implement that method.",
            Self::Timeout => "The request head did not arrive in time.",
        }
    }
}

/// A request the connection refused, with what its answer must know.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rejection {
    /// Why it was refused.
    pub error: ProtocolError,
    /// The request began `HEAD `: its answer has no body (RFC 9110 §9.3.2),
    /// even when the rest of the request was malformed.
    pub head_request: bool,
}

impl Rejection {
    /// A rejection of the request whose bytes begin `input`: a host that
    /// refuses a request itself (a 408 for a stalled head) answers a HEAD
    /// without a body too.
    #[must_use]
    pub fn new(error: ProtocolError, input: &[u8]) -> Self {
        Self { error, head_request: crate::parse::is_head_request(input) }
    }
}

impl From<ProtocolError> for Rejection {
    fn from(error: ProtocolError) -> Self {
        Self { error, head_request: false }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for ProtocolError {}
