//! # portico-core
//!
//! The whole HTTP/1.1 logic of the portico static-file server, as a library
//! that does no I/O: **no sockets, no files, no clocks, no threads**. Hosts
//! (the native server, the WASI guest, your runtime) own all of those and
//! feed this crate bytes, a file lookup and the current time.
//!
//! ```text
//!  socket bytes ──▶ Connection::step(&input, now, &Site, &impl FileLookup) ──▶ Step
//!                     │ poll: nom parser, limits, keep-alive, bodies, deadlines
//!                     │       ─▶ Request<'input> (method, target, version, fields)
//!                     │ respond: policy ─▶ resolve ─▶ listing ─▶ 404 page
//!                     │          ─▶ negotiate ─▶ conditional ─▶ range ─▶ build
//!                     ▼
//!  Step::Respond { consumed, response: Response {
//!                     head: ResponseHead { status, headers (end-to-end), keep_alive, .. },
//!                     body: Empty | Bytes | File{handle, offset, len} | Parts } }
//!                     │
//!  host: drop `consumed` bytes; response.write_head(&mut out) (adds the
//!        hop-by-hop `Connection`), then each body.segments() (bytes: write;
//!        file ranges: sendfile); step again, or close
//! ```
//!
//! ## The call order every host follows
//!
//! 1. Build one [`Site`] (index names, 404 page, hidden files, headers,
//!    [`Limits`]) and make a [`Connection`] per client connection with
//!    `Connection::new(site.limits)`.
//! 2. Append received bytes to a buffer and call [`Connection::step`] with
//!    the unconsumed part, the clocks ([`Now`]), the site and a
//!    [`FileLookup`]. It returns a [`Step`]:
//!    - [`Step::NeedMore`]: wait for more bytes, but only until
//!      [`Connection::poll_timeout`]; if that passes first, call
//!      [`Connection::handle_timeout`] and step again (a stalled head then
//!      becomes a 408, an idle connection a close). If the peer closed,
//!      close;
//!    - [`Step::Discard`]: drop that many body bytes and step again;
//!    - [`Step::Respond`]: drop `consumed` bytes, write
//!      [`Response::write_head`] and then each of [`Body::segments`], and
//!      close if [`Response::keep_alive`] is false, else step again;
//!    - [`Step::Close`]: close the connection.
//!
//! The native server, the WASI guest (which hands the step's result to
//! its host through the ABI) and the fuzz driver all run this loop. A
//! runtime that parsed HTTP itself (wasi:http, hyper) skips the
//! connection: it builds a [`Request`] from parts
//! ([`Request::from_parts`]) and calls [`respond`].
//!
//! [`Connection::poll`] is the layer beneath `step`: the parser and the
//! connection's state alone, for a host that answers requests some other
//! way, and for tests and fuzzing.
//!
//! The host supplies `now` for the `Date` header, and a [`FileLookup`] that
//! resolves a [`SafePath`] below its web root. Only the sanitiser builds a
//! `SafePath`, so nothing the client sends can name a file above the root,
//! and the host opens files beneath the root with a capability API anyway.
//! Its file-system errors become lookup outcomes through
//! [`Lookup::from_io_error`], the one mapping every host shares.
//!
//! ## Example
//!
//! ```
//! use std::time::SystemTime;
//! use portico_core::{Body, Connection, MemoryLookup, Moment, Now, Site, Step};
//!
//! let site = Site::default();
//! let files = MemoryLookup::new().with("index.html", &b"<h1>hi</h1>"[..]);
//! let mut conn = Connection::new(site.limits);
//! let input = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
//! let now = Now::new(SystemTime::UNIX_EPOCH, Moment::ZERO);
//! let Step::Respond { consumed, response } = conn.step(input, now, &site, &files) else {
//!     panic!("a whole request")
//! };
//! assert_eq!(consumed, input.len());
//! assert_eq!(response.status(), 200);
//! let mut head = Vec::new();
//! response.write_head(&mut head);
//! assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(matches!(response.body(), Body::File { len: 11, .. }));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod conn;
mod error;
mod facts;
pub mod fields;
mod lookup;
mod parse;
mod path;
mod request;
mod respond;
mod response;
mod site;
mod step;
mod time;

pub use conn::{Connection, Event, Limits, STATE_LEN};
pub use error::{ProtocolError, Rejection};
pub use facts::{RequestFacts, request_line_parts};
pub use lookup::{EntryName, EntryStat, FileId, FileInfo, FileLookup, Lookup, MemoryLookup};
pub use parse::{MAX_METHOD, Parsed, field_run, is_tchar, parse_request};
pub use path::{PathError, SafePath};
pub use request::{Framing, Header, Method, Request, Target, Version};
pub use respond::{closing_response, error_response, media_type, respond};
pub use response::{
    Body, FieldValue, Headers, InvalidHeader, Part, Response, ResponseHead, Segment, Written,
    reason_phrase,
};
pub use site::{PathRule, Site, SiteError};
pub use step::Step;
pub use time::{Moment, Now, Utc};
