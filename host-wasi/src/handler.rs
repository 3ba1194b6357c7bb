//! `portico-wasi`'s [`Handler`]: each step runs in the guest; the host
//! only moves bytes, checks what the guest answered, and streams the files
//! it names.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use portico::{
    Handler, OpenFiles, Opened as Found, Reads, Reloadable, RootDir, SharedFile, Snapshot,
    SpareHeads,
};
use portico_abi::{Call, FileRef, Miss, Refusal, StepResult};
use portico_core::{Lookup, Moment, Now, STATE_LEN, Site, Step, Written, closing_response};

/// A step as the server loop takes it: the core's, its file opened.
type Answer = Step<Written<SharedFile>>;

use crate::sandbox::{GuestFailure, Resident, Sandbox};

/// Steps connections in the WASI sandbox.
#[derive(Debug)]
pub struct WasiHandler {
    sandbox: Arc<Sandbox>,
    /// The same root the guest sees, opened by the host to stream bodies.
    root: Arc<RootDir>,
    /// What the guest was configured with at start: its limits size the
    /// buffers.
    site: Site,
    /// What it is configured with now (a reload replaces it): the host's
    /// own checks follow it.
    current: Reloadable<Site>,
}

/// A worker thread's own guest instance (see [`Handler::worker`]), the
/// files it opened for its responses ([`OpenFiles`]) and its copy of the
/// site.
#[derive(Debug)]
pub struct WasiWorker {
    resident: Resident,
    files: OpenFiles,
    site: Snapshot<Site>,
    heads: SpareHeads,
}

/// A connection as the host keeps it between steps: the guest's state
/// bytes, and what the guest said of them.
#[derive(Debug)]
pub struct WasiConn {
    state: [u8; STATE_LEN],
    wake_at: Option<Moment>,
    awaiting_head: bool,
    input_complete: bool,
    /// While a listing it asked for is read off the loop: when to step it
    /// again.
    retry_at: Option<Moment>,
}

impl WasiHandler {
    /// Compile (or load from the on-disk cache) the guest `wasm` and serve
    /// `root`, which the guest sees read-only as `/`, as `site` says (the
    /// guest is given `site` once per instance).
    pub fn new(wasm: &[u8], root: &Path, site: Site) -> anyhow::Result<Self> {
        // Opened first, so a bad root gets the same message as `portico`'s.
        Self::serving(wasm, RootDir::open(root)?, site)
    }

    /// [`WasiHandler::new`] for a root already open (and compressing on
    /// the fly as it was told: the guest's lookups of a variant's name
    /// are answered from it too). The guest gets a handle to the same
    /// directory, not the path opened again.
    pub fn serving(wasm: &[u8], files: RootDir, site: Site) -> anyhow::Result<Self> {
        let dir = files.try_clone_dir().context("cannot duplicate the web root handle")?;
        let sandbox =
            Sandbox::new(wasm, dir, files.compressor().cloned(), files.listings().cloned(), &site)?;
        let current = Reloadable::new(site.clone());
        Ok(Self { sandbox, root: Arc::new(files), site, current })
    }

    /// One call into the guest, its failures turned into closing answers.
    fn call(
        &self,
        resident: &mut Resident,
        call: &Call,
        input: &[u8],
        now: Now,
        head: Vec<u8>,
    ) -> Result<StepResult, Answer> {
        resident.step(call, input, head).map_err(|failure| match failure {
            GuestFailure::Timeout => {
                eprintln!("portico-wasi: the guest ran out of time; instance replaced");
                closing(503, now)
            }
            GuestFailure::Fault(error) => fault(now, &format!("{error:#}")),
        })
    }

    /// Open the file the guest named, beneath the same root, and check it
    /// is the file the guest saw. The guest only looked at it (a stat);
    /// opening can still fail, and then the guest answers again, told what
    /// the host found, so the same condition gets the same answer (the
    /// site's 404 page, say) as natively.
    fn open(&self, worker: &Worker<'_>, file: &FileRef) -> Result<SharedFile, Opened> {
        let Worker { resident, files, hidden } = worker;
        // The path is copied only on this rare road, not per response.
        let refused = |miss| Opened::Refused(Refusal { path: file.path.clone(), miss });
        // A hidden name is a miss here too, whatever the guest thinks.
        if !hidden && file.path.is_hidden() {
            return Err(refused(Miss::NotFound));
        }
        let rel = file.path.relative();
        let found = files.open_seen(&file.path, resident.seen(rel)).map_err(|error| {
            refused(Miss::of(&Lookup::<()>::from_io_error(&error)).unwrap_or(Miss::Failed))
        })?;
        let Found::File { file: opened, len, modified, id } = found else {
            return Err(refused(Miss::NotFound));
        };
        let same_time = file.modified.is_none_or(|seen| modified == Some(seen));
        let same_file = file.id.is_none_or(|seen| id == seen);
        if len != file.size || !same_time || !same_file {
            return Err(Opened::Changed);
        }
        Ok(opened)
    }

    /// What a guest's result means for the connection.
    fn act(&self, worker: &Worker<'_>, result: StepResult, now: Now) -> Acted {
        let StepResult { state, wake_at, awaiting_head, input_complete, step, .. } = result;
        let next = WasiConn { state, wake_at, awaiting_head, input_complete, retry_at: None };
        let step = match step {
            Step::NeedMore => Step::NeedMore,
            Step::Discard(n) => Step::Discard(n),
            Step::Close => Step::Close,
            Step::Respond { consumed, response } => match self.deliver(worker, response) {
                Ok(response) => Step::Respond { consumed, response },
                Err(Opened::Refused(refusal)) => return Acted::Refused(refusal),
                Err(Opened::Changed) => Step::Close,
                Err(Opened::Broken) => fault(now, "a body range beyond its file"),
            },
            _ => fault(now, "a step this host does not know"),
        };
        Acted::Done(next, step)
    }

    /// The guest's response, its file opened, or what to do instead.
    fn deliver(
        &self,
        worker: &Worker<'_>,
        answer: Written<FileRef>,
    ) -> Result<Written<SharedFile>, Opened> {
        if !portico_abi::ranges_fit(&answer) {
            return Err(Opened::Broken);
        }
        let Written { status, keep_alive, head, body } = answer;
        let body = body.try_map_handle(|file| self.open(worker, &file))?;
        Ok(Written { status, keep_alive, head, body })
    }
}

/// What acting on a guest's result needs of the worker.
struct Worker<'a> {
    resident: &'a Resident,
    files: &'a OpenFiles,
    /// The site's `hidden`: whether dot-names may be served.
    hidden: bool,
}

/// A guest result, acted on.
enum Acted {
    /// The connection's next state, and what to do.
    Done(WasiConn, Answer),
    /// The file the guest named cannot be served: ask again.
    Refused(Refusal),
}

impl WasiConn {
    /// A connection that will not be stepped again (its response closes).
    fn closed() -> Self {
        Self {
            state: [0; STATE_LEN],
            wake_at: None,
            awaiting_head: false,
            input_complete: false,
            retry_at: None,
        }
    }
}

/// Why a file the guest named is not sent.
enum Opened {
    /// It cannot be opened (or must not be served): the guest answers
    /// again, told this.
    Refused(Refusal),
    /// Not the file the guest saw any more: the head may promise the
    /// wrong length, so send nothing and close.
    Changed,
    /// The guest named ranges beyond the file it saw: it is broken.
    Broken,
}

impl Handler for WasiHandler {
    type Conn = WasiConn;
    type Worker = WasiWorker;

    /// A worker steps its connections on an instance of its own: no pool
    /// lock per step. A step that runs into its time limit (1 s) holds up
    /// the other connections of that worker for as long, no longer; the
    /// instance is then replaced.
    fn worker(&self, reads: Arc<Reads>) -> WasiWorker {
        WasiWorker {
            resident: Resident::new(Arc::clone(&self.sandbox), Arc::clone(&reads)),
            files: OpenFiles::new(Arc::clone(&self.root), reads),
            site: self.current.snapshot(),
            heads: SpareHeads::default(),
        }
    }

    fn recycle(&self, worker: &mut WasiWorker, head: Vec<u8>) {
        worker.heads.keep(head);
    }

    fn site(&self) -> &Site {
        &self.site
    }

    fn connect(&self) -> WasiConn {
        WasiConn { awaiting_head: true, ..WasiConn::closed() }
    }

    fn step(
        &self,
        WasiWorker { resident, files, site, heads }: &mut WasiWorker,
        conn: &mut WasiConn,
        input: &[u8],
        now: Now,
        timed_out: bool,
    ) -> Answer {
        let mut call = Call::new(conn.state, now.wall, now.mono);
        call.timed_out = timed_out;
        resident.set_waited(conn.retry_at.take().is_some());
        let first = match self.call(resident, &call, input, now, heads.take()) {
            Ok(result) => result,
            Err(step) => return step,
        };
        if resident.take_deferred() {
            // A large directory is being read off the loop: the guest's
            // answer is dropped, its state not taken, the same bytes
            // stepped again shortly.
            conn.retry_at = Some(now.mono.saturating_add(portico::RETRY));
            return Step::NeedMore;
        }
        let hidden = site.current(&self.current).hidden;
        let (next, step) = match self.act(&Worker { resident, files, hidden }, first, now) {
            Acted::Done(next, step) => (next, step),
            // The same input again, the refused file reported as the miss
            // the host found; at most once.
            Acted::Refused(refusal) => {
                call.refused = Some(refusal);
                let second = match self.call(resident, &call, input, now, heads.take()) {
                    Ok(result) => result,
                    Err(step) => return step,
                };
                match self.act(&Worker { resident, files, hidden }, second, now) {
                    Acted::Done(next, step) => (next, step),
                    // Refused again (the 404 page too): a plain page.
                    Acted::Refused(refusal) => {
                        (WasiConn::closed(), closing(refusal.miss.lookup::<()>().status(), now))
                    }
                }
            }
        };
        *conn = next;
        step
    }

    fn poll_timeout(&self, conn: &WasiConn) -> Option<Moment> {
        match (conn.wake_at, conn.retry_at) {
            (Some(deadline), Some(retry)) => Some(deadline.min(retry)),
            (deadline, retry) => deadline.or(retry),
        }
    }

    fn awaiting_head(&self, conn: &WasiConn) -> bool {
        conn.awaiting_head
    }

    fn input_complete(&self, conn: &WasiConn) -> bool {
        conn.input_complete
    }

    /// New instances get the new site; idle ones configured with the old
    /// one are dropped, and a busy one is dropped when its step ends.
    fn reload(&self, mut site: Site) -> anyhow::Result<()> {
        site.limits = self.site.limits;
        self.sandbox.reconfigure(&site);
        self.current.replace(site);
        Ok(())
    }

    /// wasmtime runs the guest on the calling thread's stack (up to its
    /// 512 KiB `max_wasm_stack`), plus the host's own frames.
    fn stack_size(&self) -> usize {
        2 << 20
    }
}

fn closing(status: u16, now: Now) -> Answer {
    // A rare road: a fresh buffer for the head.
    let response = closing_response(status, now.wall).written(Vec::new());
    Step::Respond { consumed: 0, response }
}

fn fault(now: Now, why: &str) -> Answer {
    // wasmtime's traps carry a multi-line backtrace: keep the log one line.
    let why = portico::cli::one_line(why);
    eprintln!("portico-wasi: guest failure: {why}; instance replaced");
    closing(500, now)
}
