//! `portico-wasi`'s [`Handler`]: each step runs in the guest; the host
//! only moves bytes and streams the files the guest names.

use std::io;

use anyhow::Context as _;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use portico::{Handler, HostBody, Reply, RootDir, Step};
use portico_core::{Limits, STATE_LEN, SafePath, closing_response};
use portico_guest::{
    ACTION_CLOSE, ACTION_DISCARD, ACTION_NEED_MORE, ACTION_RESPOND, BODY_BYTES, BODY_FILE,
};

use crate::sandbox::{GuestFailure, Outcome, Sandbox};

/// Steps connections in the WASI sandbox.
#[derive(Debug)]
pub struct WasiHandler {
    sandbox: Arc<Sandbox>,
    /// The same root the guest sees, opened by the host to stream bodies.
    root: RootDir,
}

impl WasiHandler {
    /// Compile (or load from the on-disk cache) the guest `wasm` and serve
    /// `root`, which the guest sees read-only as `/`.
    pub fn new(wasm: &[u8], root: &Path) -> anyhow::Result<Self> {
        // Opened first, so a bad root gets the same message as `portico`'s;
        // the guest gets a handle to the same directory, not the path
        // opened again.
        let files = RootDir::open(root)?;
        let dir = files.try_clone_dir().context("cannot duplicate the web root handle")?;
        let sandbox = Sandbox::new(wasm, dir, Limits::default().max_head)?;
        Ok(Self { sandbox, root: files })
    }

    fn reply(&self, outcome: Outcome, now: SystemTime) -> Step {
        let body = match outcome.body_kind {
            BODY_BYTES => HostBody::Bytes(outcome.body),
            BODY_FILE => match self.open(&outcome) {
                Opened::Body(body) => body,
                // The file changed since the guest measured it: the head's
                // length may be wrong, so send nothing and close.
                Opened::Changed => return Step::Close,
                Opened::Refused(status) => {
                    return Step::Respond(Reply::from_core(0, closing_response(status, now)));
                }
                Opened::BadPath => return fault_reply(now, "the guest named an abnormal path"),
            },
            _ => HostBody::Empty,
        };
        Step::Respond(Reply {
            consumed: outcome.consumed as usize,
            status: outcome.status,
            head: outcome.head,
            body,
            keep_alive: outcome.keep_alive,
        })
    }

    /// Open the file the guest named, beneath the same root, and check it
    /// is still the file the guest measured. The guest only looked at it
    /// (a stat); opening can still fail, as natively, with the same
    /// statuses natively given.
    fn open(&self, outcome: &Outcome) -> Opened {
        // The guest is not trusted to have sanitised the path.
        let path = std::str::from_utf8(&outcome.body).ok().map(SafePath::from_normal);
        let Some(Ok(path)) = path else { return Opened::BadPath };
        if path.is_hidden() {
            return Opened::Refused(404);
        }
        let (file, meta) = match self.root.open_file(&path) {
            Ok(opened) => opened,
            Err(error) => {
                return Opened::Refused(match error.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404,
                    io::ErrorKind::PermissionDenied => 403,
                    _ => 500,
                });
            }
        };
        let fits =
            outcome.file_offset.checked_add(outcome.file_len).is_some_and(|end| end <= meta.len());
        if !meta.is_file() || meta.len() != outcome.file_size || !fits {
            return Opened::Changed;
        }
        Opened::Body(HostBody::File { file, offset: outcome.file_offset, len: outcome.file_len })
    }
}

/// What became of a file the guest named.
enum Opened {
    Body(HostBody),
    /// Not the file the guest measured any more.
    Changed,
    /// Cannot be opened (or must not be served): answer this status, close.
    Refused(u16),
    /// Not a normal path: the guest is broken.
    BadPath,
}

impl Handler for WasiHandler {
    type Conn = [u8; STATE_LEN];

    fn connect(&self) -> [u8; STATE_LEN] {
        [0; STATE_LEN]
    }

    fn step(&self, conn: &mut [u8; STATE_LEN], input: &[u8], now: SystemTime) -> Step {
        match self.sandbox.step(conn, input, now) {
            Ok(outcome) => {
                *conn = outcome.state;
                match outcome.action {
                    ACTION_NEED_MORE => Step::NeedMore,
                    ACTION_DISCARD if outcome.consumed > 0 => {
                        Step::Discard(outcome.consumed as usize)
                    }
                    ACTION_RESPOND => self.reply(outcome, now),
                    ACTION_CLOSE => Step::Close,
                    _ => fault_reply(now, "unknown action"),
                }
            }
            Err(GuestFailure::Timeout) => {
                eprintln!("portico-wasi: the guest ran out of time; instance replaced");
                Step::Respond(Reply::from_core(0, closing_response(503, now)))
            }
            Err(GuestFailure::Fault(error)) => fault_reply(now, &format!("{error:#}")),
        }
    }

    /// The guest's state byte 0 is the state kind; 0 is "waiting for a
    /// head" (see `Connection::to_bytes`).
    fn awaiting_head(&self, conn: &[u8; STATE_LEN]) -> bool {
        conn[0] == 0
    }

    fn buffer_size(&self) -> usize {
        Limits::default().max_head
    }

    /// wasmtime runs the guest on the calling thread's stack (up to its
    /// 512 KiB `max_wasm_stack`), plus the host's own frames.
    fn stack_size(&self) -> usize {
        2 << 20
    }
}

fn fault_reply(now: SystemTime, why: &str) -> Step {
    // wasmtime's traps carry a multi-line backtrace: keep the log one line.
    let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("portico-wasi: guest failure: {why}; instance replaced");
    Step::Respond(Reply::from_core(0, closing_response(500, now)))
}
