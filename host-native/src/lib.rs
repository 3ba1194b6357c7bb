//! # portico (native host)
//!
//! Serves a folder over HTTP/1.1 with std sockets and one thread per
//! connection. All HTTP decisions are `portico-core`'s; this crate does the
//! I/O: the listener, timeouts, the connection cap, graceful shutdown, a
//! cap-std–confined web root, sendfile for bodies, the access log.
//!
//! The server loop is generic over [`Handler`], so another host (the WASI
//! host, which runs the core in a sandbox) reuses it: it implements
//! `Handler` and calls [`serve`].

#![forbid(unsafe_code)]

mod access_log;
pub mod cli;
mod config;
mod connection;
mod files;
mod handler;
mod server;

pub use access_log::LogFormat;
pub use files::{RootDir, file_id};
pub use handler::{Handler, NativeHandler, Now, Step};
pub use server::{Config, Server, ShutdownHandle};

use anyhow::Context as _;

/// Run a server for `handler` as the command-line tools do: bind, print the
/// URL, stop on Ctrl-C or SIGTERM after the responses in flight, return.
/// The URL goes to stderr with every other message, so that stdout holds
/// nothing but access-log lines.
pub fn serve<H: Handler>(name: &str, args: &cli::ServeArgs, handler: H) -> anyhow::Result<()> {
    let server = Server::bind(args.addr(), handler, args.config())?;
    let addr = server.local_addr()?;
    let stop = server.shutdown_handle()?;
    ctrlc::set_handler(move || stop.shutdown()).context("cannot install the signal handler")?;
    let root = std::fs::canonicalize(&args.root).unwrap_or_else(|_| args.root.clone());
    eprintln!("{name}: serving {} at http://{addr}/", root.display());
    server.run()
}
