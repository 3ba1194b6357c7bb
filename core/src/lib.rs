//! # portico-core
//!
//! The whole HTTP/1.1 logic of the portico static-file server, as a library
//! that does no I/O: **no sockets, no files, no clocks, no threads**. Hosts
//! (the native server, the WASI guest, your runtime) own all of those and
//! feed this crate bytes, a file lookup and the current time.
//!
//! ```text
//!  socket bytes ──▶ Connection::poll(&buf) ──▶ Event::Request(Request<'buf>)
//!                    (nom parser, limits,        (method, target, version,
//!                     keep-alive, bodies)         headers: slices of buf)
//!                                                        │
//!                                                        ▼
//!           respond(&request, &impl FileLookup, now) ──▶ Response
//!           (paths sanitised into SafePath,              head: Vec<u8> (serialised)
//!            lookups, index.html, 404.html)              body: Empty | Bytes | File{handle, offset, len}
//!                                                        │
//!  host writes head, streams body (sendfile), polls again or closes
//! ```
//!
//! ## The call order a host follows
//!
//! 1. Make a [`Connection`] per client connection.
//! 2. Append received bytes to a buffer and call [`Connection::poll`] with
//!    the unconsumed part. It returns an [`Event`]:
//!    - on [`Event::NeedMore`], read more (if the peer closed, close);
//!    - on [`Event::Discard`], drop that many body bytes and poll again;
//!    - on [`Event::Request`], drop [`Request::head_len`] bytes, answer
//!      with [`respond`], write [`Response::head`] then the [`Body`], and
//!      close if [`Response::keep_alive`] is false, else poll again;
//!    - on [`Event::Reject`], write [`error_response`], then close;
//!    - on [`Event::Close`], close.
//!
//! The host supplies `now` for the `Date` header, and a [`FileLookup`] that
//! resolves a [`SafePath`] below its web root. Only the sanitiser builds a
//! `SafePath`, so nothing the client sends can name a file above the root,
//! and the host opens files beneath the root with a capability API anyway.
//!
//! ## Example
//!
//! ```
//! use std::time::SystemTime;
//! use portico_core::{Body, Connection, Event, MemoryLookup, respond};
//!
//! let files = MemoryLookup::new().with("index.html", &b"<h1>hi</h1>"[..]);
//! let mut conn = Connection::default();
//! let buf = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
//! let Event::Request(request) = conn.poll(buf) else { panic!("a whole request") };
//! let response = respond(&request, &files, SystemTime::UNIX_EPOCH);
//! assert_eq!(response.status(), 200);
//! assert!(response.head().starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(matches!(response.body(), Body::File { len: 11, .. }));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod conn;
mod error;
mod lookup;
mod parse;
mod path;
mod request;
mod respond;

pub use conn::{Connection, Event, Limits, STATE_LEN};
pub use error::{ProtocolError, Rejection};
pub use lookup::{FileInfo, FileLookup, Lookup, MemoryLookup};
pub use parse::{Parsed, parse_request};
pub use path::{PathError, SafePath};
pub use request::{Framing, Header, Method, Request, Target, Version};
pub use respond::{Body, Response, closing_response, error_response, reason_phrase, respond};
