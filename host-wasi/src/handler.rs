//! `portico-wasi`'s [`Handler`]: each step runs in the guest; the host
//! only moves bytes and streams the files the guest names.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use portico::{Handler, HostBody, Reply, RootDir, Step};
use portico_core::{Limits, STATE_LEN, SafePath, closing_response};
use portico_guest::{
    ACTION_CLOSE, ACTION_DISCARD, ACTION_NEED_MORE, ACTION_RESPOND, BODY_BYTES, BODY_EMPTY,
    BODY_FILE,
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
        // Opened first, so a bad root gets the same message as `portico`'s.
        let files = RootDir::open(root)?;
        let sandbox = Sandbox::new(wasm, root, Limits::default().max_head)?;
        Ok(Self { sandbox, root: files })
    }

    fn reply(&self, outcome: Outcome) -> Step {
        let body = match outcome.body_kind {
            BODY_EMPTY => HostBody::Empty,
            BODY_BYTES => HostBody::Bytes(outcome.body),
            BODY_FILE => match self.open(&outcome) {
                Some(body) => body,
                // The file is gone or changed since the guest saw it: the
                // head's length may be wrong, so send nothing and close.
                None => return Step::Close,
            },
            _ => return fault_reply(SystemTime::now(), "unknown body kind"),
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
    /// is still the file the guest measured.
    fn open(&self, outcome: &Outcome) -> Option<HostBody> {
        let path = std::str::from_utf8(&outcome.body).ok()?;
        // The guest is not trusted to have sanitised the path.
        let path = SafePath::from_normal(path).ok()?;
        let (file, meta) = self.root.open_file(&path).ok()?;
        let end = outcome.file_offset.checked_add(outcome.file_len)?;
        if !meta.is_file() || meta.len() != outcome.file_size || end > meta.len() {
            return None;
        }
        Some(HostBody::File { file, offset: outcome.file_offset, len: outcome.file_len })
    }
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
                    ACTION_RESPOND => self.reply(outcome),
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
