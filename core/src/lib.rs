//! # portico-core
//!
//! The whole HTTP/1.1 logic of the portico static-file server, as a library
//! that does no I/O: **no sockets, no files, no clocks, no threads**. Hosts
//! (the native server, the WASI guest, your runtime) own all of those and
//! feed this crate bytes, a file lookup and the current time.
//!
//! ```text
//!  socket bytes ──▶ Connection::poll(&buf, now) ──▶ Event::Request(Request<'buf>)
//!                   (nom parser, limits, keep-alive,   (method, target, version,
//!                    bodies, idle/head deadlines)       headers: slices of buf)
//!                                                              │
//!        respond(&request, &Site, &impl FileLookup, now) ◀─────┘
//!          policy ─▶ resolve ─▶ listing ─▶ 404 page ─▶ negotiate
//!          ─▶ conditional ─▶ range ─▶ build
//!                                                              │
//!                                                              ▼
//!          Response { head: ResponseHead { status, headers, keep_alive },
//!                     body: Empty | Bytes | File{handle, offset, len} | Parts }
//!                                                              │
//!  host: response.write_head(&mut out), then each body.segments()
//!        (bytes: write; file ranges: sendfile), poll again or close
//! ```
//!
//! ## The call order a host follows
//!
//! 1. Build one [`Site`] (index names, 404 page, hidden files, headers,
//!    [`Limits`]) and make a [`Connection`] per client connection with
//!    `Connection::new(site.limits)`.
//! 2. Append received bytes to a buffer and call [`Connection::poll`] with
//!    the unconsumed part and the monotonic time ([`Moment`]). It returns
//!    an [`Event`]:
//!    - on [`Event::NeedMore`], wait for more bytes, but only until
//!      [`Connection::poll_timeout`]; if that passes first, call
//!      [`Connection::handle_timeout`] and poll again (a stalled head then
//!      becomes a 408 rejection, an idle connection a close). If the peer
//!      closed, close;
//!    - on [`Event::Discard`], drop that many body bytes and poll again;
//!    - on [`Event::Request`], drop [`Request::head_len`] bytes, answer
//!      with [`respond`], write [`Response::write_head`] and then each of
//!      [`Body::segments`], and close if [`Response::keep_alive`] is false,
//!      else poll again;
//!    - on [`Event::Reject`], write [`error_response`], then close;
//!    - on [`Event::Close`], close.
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
//! use portico_core::{Body, Connection, Event, MemoryLookup, Moment, Site, respond};
//!
//! let site = Site::default();
//! let files = MemoryLookup::new().with("index.html", &b"<h1>hi</h1>"[..]);
//! let mut conn = Connection::new(site.limits);
//! let buf = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
//! let Event::Request(request) = conn.poll(buf, Moment::ZERO) else { panic!("a whole request") };
//! let response = respond(&request, &site, &files, SystemTime::UNIX_EPOCH);
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
pub mod fields;
mod lookup;
mod parse;
mod path;
mod request;
mod respond;
mod response;
mod site;
mod time;

pub use conn::{Connection, Event, Limits, STATE_LEN};
pub use error::{ProtocolError, Rejection};
pub use lookup::{FileId, FileInfo, FileLookup, Lookup, MemoryLookup};
pub use parse::{MAX_METHOD, Parsed, field_run, is_tchar, parse_request};
pub use path::{PathError, SafePath};
pub use request::{Framing, Header, Method, Request, Target, Version};
pub use respond::{closing_response, error_response, respond};
pub use response::{
    Body, FieldValue, Headers, InvalidHeader, Part, Response, ResponseHead, Segment, Written,
    reason_phrase,
};
pub use site::{PathRule, Site, SiteError};
pub use time::Moment;
