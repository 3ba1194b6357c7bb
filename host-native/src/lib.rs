//! # portico (native host)
//!
//! Serves a folder over HTTP/1.1 with non-blocking std sockets and a few
//! worker threads, each running a readiness loop (mio). All HTTP decisions are `portico-core`'s; this crate does the
//! I/O: the listener, timeouts, the connection cap, graceful shutdown, a
//! cap-std–confined web root, sendfile for bodies, the access log.
//!
//! The server loop is generic over [`Handler`], so another host (the WASI
//! host, which runs the core in a sandbox) reuses it: it implements
//! `Handler` and calls [`serve`].

// No unsafe code but the FFI that std lacks: taking systemd's socket
// (`activation`) and listing the machine's addresses (`interfaces`), each
// allowed in its own module.
#![deny(unsafe_code)]

mod access_log;
mod activation;
pub mod cli;
pub mod clock;
pub mod compress;
mod files;
mod handler;
mod interfaces;
pub mod listings;
mod server;
mod shared;
mod worker;

pub use files::{
    Checked, Identity, OPEN_FILES, OpenFiles, Opened, Reads, RootDir, SMALL_FILE, SharedFile,
    file_id,
};
pub use handler::{
    Handler, NativeConn, NativeHandler, NativeWorker, RETRY, Reloadable, Snapshot, SpareHeads,
};
pub use portico_config::LogFormat;
pub use server::{Server, ShutdownHandle};
pub use shared::Config;

use anyhow::Context as _;

/// Run a server for `handler` as the command-line tools do: bind (or take
/// the listening socket systemd passed, and ignore `-p` and `-b`), print
/// the URL, stop on Ctrl-C or SIGTERM after the responses in flight,
/// return. The URL goes to stderr with every other message, so that stdout
/// holds nothing but access-log lines.
pub fn serve<H: Handler>(
    name: &'static str,
    args: &cli::ServeArgs,
    handler: H,
) -> anyhow::Result<()> {
    // First: it unsets LISTEN_*, which must happen before other threads.
    let passed = activation::take_listener()?;
    let from_systemd = passed.is_some();
    let config = Config { name, ..args.config() };
    let server = match passed {
        Some(listener) => Server::on_listener(listener, handler, config)?,
        None => Server::bind(args.addr(), handler, config)?,
    };
    let addr = server.local_addr()?;
    let stop = server.shutdown_handle()?;
    handle_signals(name, stop, server.handler())?;
    let root = &args.options.root;
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
    let source = if from_systemd { " (socket from systemd)" } else { "" };
    // The first line stays `NAME: serving ROOT at http://ADDR/`: scripts and
    // the tests read the address from it.
    eprintln!("{name}: serving {} at http://{addr}/{source}", root.display());
    if addr.ip().is_unspecified() {
        print_reachable(name, addr, server.dual_stack());
    }
    if let Some(note) = server.limit_note() {
        eprintln!("{name}: {note}");
    }
    server.run()
}

/// Under the start-up line of a server on every address (`0.0.0.0`,
/// `::`), one indented URL per address it answers on, loopback first.
fn print_reachable(name: &str, addr: std::net::SocketAddr, dual_stack: bool) {
    let local = interfaces::local_addresses().unwrap_or_else(|error| {
        // No netlink (a sandbox's RestrictAddressFamilies=), say.
        eprintln!("{name}: cannot list this machine's addresses ({error}); loopback only:");
        Vec::new()
    });
    for at in interfaces::reachable(addr, dual_stack, &local) {
        eprintln!("  http://{at}/");
    }
}

/// One thread for the signals: `SIGINT` and `SIGTERM` stop the server
/// after the responses in flight; `SIGHUP` reads the configuration again
/// (the command line as given, the file as it is now) and serves the new
/// site from the next request on, without closing a connection. A
/// configuration that does not load is reported and the running one kept.
/// Listening options, the root, the limits and the log format take a
/// restart.
fn handle_signals<H: Handler>(
    name: &str,
    stop: ShutdownHandle,
    handler: std::sync::Arc<H>,
) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("cannot install the signal handlers")?;
    let name = name.to_owned();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal != SIGHUP {
                    stop.shutdown();
                    continue;
                }
                let reloaded = cli::reload().and_then(|reload| {
                    handler.reload(reload.site)?;
                    Ok(reload.not_applied)
                });
                match reloaded {
                    Ok(kept) if kept.is_empty() => eprintln!("{name}: configuration reloaded"),
                    Ok(kept) => eprintln!(
                        "{name}: configuration reloaded; not applied, as {} {} a restart: {}",
                        if kept.len() == 1 { "it" } else { "they" },
                        if kept.len() == 1 { "takes" } else { "take" },
                        kept.join(", ")
                    ),
                    Err(error) => eprintln!(
                        "{name}: reload failed, keeping the running configuration: {}",
                        cli::one_line(&format!("{error:#}"))
                    ),
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
