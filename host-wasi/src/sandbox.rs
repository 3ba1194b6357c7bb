//! The wasmtime side: one engine, the guest compiled once (and cached on
//! disk across runs), a pool of instances, and the limits each call runs
//! under.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use portico_core::STATE_LEN;
use portico_guest::{
    ABI_VERSION, ACTION_CLOSE, ACTION_DISCARD, ACTION_NEED_MORE, ACTION_RESPOND, BODY_BYTES,
    BODY_EMPTY, BODY_FILE, layout,
};
use sha2::{Digest as _, Sha256};
use wasi_common::WasiCtx;
use wasi_common::sync::WasiCtxBuilder;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::readonly::ReadOnlyDir;

/// Guest memory cap per instance, in bytes. The core needs well under 2 MiB; a guest
/// that wants more is broken or hostile.
pub const MEMORY_LIMIT: usize = 32 << 20;
/// The epoch ticks every `TICK`; a call may run for `DEADLINE_TICKS` of
/// them. A step takes microseconds, so a second means a runaway guest.
const TICK: Duration = Duration::from_millis(10);
const DEADLINE_TICKS: u64 = 100;
/// Instances alive at once (pooled or in a call). A connection thread
/// waits for one when all are busy.
const MAX_INSTANCES: u32 = 128;

/// Why a call into the guest failed. Either way the instance is dropped.
#[derive(Debug)]
pub(crate) enum GuestFailure {
    /// It ran past its time budget (epoch deadline): 503.
    Timeout,
    /// It trapped, ran out of memory, or returned nonsense: 500.
    Fault(anyhow::Error),
}

/// The store's data: the WASI context and the memory limiter.
struct Data {
    wasi: WasiCtx,
    limits: StoreLimits,
}

/// The compiled guest and everything needed to make instances of it.
pub(crate) struct Sandbox {
    engine: Engine,
    pre: InstancePre<Data>,
    /// The web root, opened once; each instance gets a duplicate handle.
    root: cap_std::fs::Dir,
    pool: Mutex<Pool>,
    /// Signalled when an instance goes back to the pool or is dropped.
    released: Condvar,
}

/// Instances not in a call, and how many exist at all (at most
/// `MAX_INSTANCES`, the pooling allocator's capacity).
#[derive(Default)]
struct Pool {
    idle: Vec<Instance>,
    live: u32,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

/// What a result block may carry: a head (portico's are a few hundred
/// bytes), a generated page, a file path. A guest asking the host to copy
/// more is broken.
const MAX_RESULT_HEAD: usize = 64 * 1024;
const MAX_RESULT_BODY: usize = 1 << 20;
const MAX_RESULT_PATH: usize = 4096;

/// WASI preview 1's `errno::nosys`.
const WASI_ENOSYS: i32 = 52;

/// How long a step waits for an instance when all are busy.
const ACQUIRE_WAIT: Duration = Duration::from_secs(10);

/// One instance taken from the pool, counted in `Pool::live` until it is
/// dropped (the instance with it) or kept (back to the idle list), however
/// the step ends, a panic included.
struct Lease<'a> {
    sandbox: &'a Sandbox,
    instance: Option<Instance>,
    kept: bool,
}

impl Lease<'_> {
    /// The step went well: the instance goes back to the pool.
    fn keep(mut self) {
        if let Some(instance) = self.instance.take() {
            self.sandbox.lock().idle.push(instance);
            self.kept = true;
            self.sandbox.released.notify_one();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // Not kept: the instance, if there is one, goes with the lease.
        self.instance = None;
        self.sandbox.lock().live -= 1;
        self.sandbox.released.notify_one();
    }
}

/// One guest instance with its exports looked up.
struct Instance {
    store: Store<Data>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    step: TypedFunc<(u32, u32, u32, u64, u32), u32>,
    /// A block of guest memory for the input, reused across calls.
    input: u32,
    input_cap: u32,
    /// `STATE_LEN` bytes of guest memory for the connection state.
    state: u32,
}

/// What one step returned, copied out of guest memory.
pub(crate) struct Outcome {
    pub(crate) action: u32,
    pub(crate) consumed: u32,
    pub(crate) status: u16,
    pub(crate) keep_alive: bool,
    pub(crate) head: Vec<u8>,
    pub(crate) body_kind: u32,
    pub(crate) body: Vec<u8>,
    pub(crate) file_offset: u64,
    pub(crate) file_len: u64,
    pub(crate) file_size: u64,
    pub(crate) state: [u8; STATE_LEN],
}

impl Sandbox {
    /// Compile (or load from the cache) `wasm`, which will see `root`
    /// read-only as `/` and nothing else. `input_cap` is the largest input
    /// a step is given.
    pub(crate) fn new(
        wasm: &[u8],
        root: cap_std::fs::Dir,
        input_cap: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(MAX_INSTANCES)
            .total_memories(MAX_INSTANCES)
            .total_tables(MAX_INSTANCES)
            .max_memory_size(MEMORY_LIMIT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(wasm_error).context("cannot start wasmtime")?;
        let module = load_module(&engine, wasm)?;
        let mut linker = Linker::<Data>::new(&engine);
        wasi_common::sync::add_to_linker(&mut linker, |data: &mut Data| &mut data.wasi)
            .map_err(wasm_error)
            .context("cannot link WASI")?;
        // The epoch deadline only interrupts wasm code: a guest asleep in
        // the host would hold its thread and instance. Sleeping and
        // yielding are refused (ENOSYS); the guest needs neither.
        linker.allow_shadowing(true);
        linker
            .func_wrap("wasi_snapshot_preview1", "poll_oneoff", |_: i32, _: i32, _: i32, _: i32| {
                WASI_ENOSYS
            })
            .and_then(|l| l.func_wrap("wasi_snapshot_preview1", "sched_yield", || WASI_ENOSYS))
            .map_err(wasm_error)
            .context("cannot link the WASI stubs")?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(wasm_error)
            .context("the guest module does not link against WASI preview 1")?;
        let sandbox =
            Arc::new(Self { engine, pre, root, pool: Mutex::default(), released: Condvar::new() });
        // The ticker first: the first instance's `_initialize` runs under
        // the same deadline as every call.
        start_ticker(&sandbox.engine);
        // Fail at start-up, not on the first request, if the module is not
        // a portico guest.
        sandbox
            .acquire(input_cap)
            .map_err(|failure| match failure {
                GuestFailure::Fault(error) => error,
                GuestFailure::Timeout => anyhow!("the guest's _initialize ran out of time"),
            })?
            .keep();
        Ok(sandbox)
    }

    /// Run one step on a pooled instance. On failure the instance is
    /// dropped; the next call gets a fresh one.
    pub(crate) fn step(
        &self,
        state: &[u8; STATE_LEN],
        input: &[u8],
        now: SystemTime,
    ) -> Result<Outcome, GuestFailure> {
        let mut lease = self.acquire(input.len())?;
        let result = lease.instance.as_mut().map(|instance| instance.call(state, input, now));
        match result {
            Some(Ok(outcome)) => {
                lease.keep();
                Ok(outcome)
            }
            // Dropping the lease drops the instance: its memory may be
            // half-updated.
            Some(Err(failure)) => Err(failure),
            None => Err(GuestFailure::Fault(anyhow!("no instance"))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle instance, or a new one while the pool has room, or else the
    /// next one released: with more connections stepping at once than
    /// `MAX_INSTANCES`, a thread waits (a step takes microseconds, at most
    /// its deadline) instead of failing the request; past [`ACQUIRE_WAIT`]
    /// it gives up with a 503.
    fn acquire(&self, input_cap: usize) -> Result<Lease<'_>, GuestFailure> {
        let deadline = Instant::now() + ACQUIRE_WAIT;
        let mut pool = self.lock();
        loop {
            if let Some(instance) = pool.idle.pop() {
                return Ok(Lease { sandbox: self, instance: Some(instance), kept: false });
            }
            if pool.live < MAX_INSTANCES {
                pool.live += 1;
                drop(pool);
                // The lease owns the count from here: if instantiation
                // fails (or panics), dropping it gives the slot back.
                let mut lease = Lease { sandbox: self, instance: None, kept: false };
                lease.instance = Some(self.instantiate(input_cap).map_err(GuestFailure::Fault)?);
                return Ok(lease);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GuestFailure::Timeout);
            }
            pool = self.released.wait_timeout(pool, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    fn instantiate(&self, input_cap: usize) -> anyhow::Result<Instance> {
        let wasi = WasiCtxBuilder::new().build();
        let dir = self.root.try_clone().context("cannot duplicate the web root handle")?;
        let dir = wasi_common::sync::dir::Dir::from_cap_std(dir);
        wasi.push_preopened_dir(Box::new(ReadOnlyDir(Box::new(dir))), "/")
            .map_err(|e| anyhow!("cannot preopen the web root: {e}"))?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, Data { wasi, limits });
        store.limiter(|data| &mut data.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(DEADLINE_TICKS);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(wasm_error)
            .context("cannot instantiate the guest (pool exhausted?)")?;
        let func = |store: &mut Store<Data>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| anyhow!("the guest does not export `{name}`"))
        };
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("the guest does not export `memory`"))?;
        let initialize =
            func(&mut store, "_initialize")?.typed::<(), ()>(&store).map_err(wasm_error)?;
        initialize
            .call(&mut store, ())
            .map_err(wasm_error)
            .context("the guest's _initialize failed")?;
        let version = func(&mut store, "portico_abi_version")?
            .typed::<(), u32>(&store)
            .map_err(wasm_error)?
            .call(&mut store, ())
            .map_err(wasm_error)?;
        if version != ABI_VERSION {
            bail!("the guest implements ABI version {version}, this host version {ABI_VERSION}");
        }
        let alloc = func(&mut store, "portico_alloc")?.typed(&store).map_err(wasm_error)?;
        let free = func(&mut store, "portico_free")?.typed(&store).map_err(wasm_error)?;
        let step = func(&mut store, "portico_step")?.typed(&store).map_err(wasm_error)?;
        let input_cap = u32::try_from(input_cap.max(16 * 1024)).unwrap_or(u32::MAX);
        let input = alloc.call(&mut store, input_cap).map_err(wasm_error)?;
        let state = alloc.call(&mut store, STATE_LEN as u32).map_err(wasm_error)?;
        if input == 0 || state == 0 {
            bail!("the guest could not allocate its input buffer");
        }
        Ok(Instance { store, memory, alloc, free, step, input, input_cap, state })
    }
}

impl Instance {
    fn call(
        &mut self,
        state: &[u8; STATE_LEN],
        input: &[u8],
        now: SystemTime,
    ) -> Result<Outcome, GuestFailure> {
        let fault = |e: anyhow::Error| GuestFailure::Fault(e);
        let input_len =
            u32::try_from(input.len()).map_err(|_| fault(anyhow!("input too large")))?;
        if input_len > self.input_cap {
            // A handler with a larger buffer than first planned: grow.
            let _ = self.free.call(&mut self.store, (self.input, self.input_cap));
            self.input = self.alloc.call(&mut self.store, input_len).map_err(classify)?;
            self.input_cap = input_len;
        }
        self.memory
            .write(&mut self.store, self.input as usize, input)
            .map_err(|e| fault(e.into()))?;
        self.memory
            .write(&mut self.store, self.state as usize, state)
            .map_err(|e| fault(e.into()))?;
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.store.set_epoch_deadline(DEADLINE_TICKS);
        let block = self
            .step
            .call(
                &mut self.store,
                (self.state, self.input, input_len, since.as_secs(), since.subsec_nanos()),
            )
            .map_err(classify)?;
        let outcome = self.read_block(block, input.len()).map_err(fault)?;
        let total = u32::try_from(outcome.1).unwrap_or(u32::MAX);
        self.free.call(&mut self.store, (block, total)).map_err(classify)?;
        Ok(outcome.0)
    }

    /// Copy a result block out of guest memory, trusting nothing in it.
    fn read_block(&self, at: u32, input_len: usize) -> anyhow::Result<(Outcome, usize)> {
        let memory = self.memory.data(&self.store);
        let at = at as usize;
        let fixed =
            memory.get(at..at + layout::DATA).ok_or_else(|| anyhow!("result out of bounds"))?;
        let u32_at = |off: usize| {
            u32::from_le_bytes([fixed[off], fixed[off + 1], fixed[off + 2], fixed[off + 3]])
        };
        let u64_at = |off: usize| u64::from(u32_at(off)) | u64::from(u32_at(off + 4)) << 32;
        let total = u32_at(layout::TOTAL_LEN) as usize;
        let head_len = u32_at(layout::HEAD_LEN) as usize;
        let body_len = u32_at(layout::BODY_LEN) as usize;
        if layout::DATA.checked_add(head_len).and_then(|n| n.checked_add(body_len)) != Some(total) {
            bail!("result block lengths do not add up");
        }
        let data = memory
            .get(at + layout::DATA..at + total)
            .ok_or_else(|| anyhow!("result out of bounds"))?;
        let consumed = u32_at(layout::CONSUMED);
        if consumed as usize > input_len {
            bail!("the guest consumed more than it was given");
        }
        let status = u16::try_from(u32_at(layout::STATUS)).map_err(|_| anyhow!("bad status"))?;
        let (action, body_kind) = (u32_at(layout::ACTION), u32_at(layout::BODY_KIND));
        let keep_alive = u32_at(layout::FLAGS) & 1 == 1;
        match action {
            ACTION_NEED_MORE | ACTION_CLOSE => {}
            ACTION_DISCARD if consumed > 0 => {}
            ACTION_RESPOND => {
                // Steps over the same bytes again and again, answering each.
                if keep_alive && consumed == 0 {
                    bail!("a kept-alive response that consumed no input");
                }
                let body_cap = match body_kind {
                    BODY_EMPTY => 0,
                    BODY_BYTES => MAX_RESULT_BODY,
                    BODY_FILE => MAX_RESULT_PATH,
                    other => bail!("unknown body kind {other}"),
                };
                if head_len > MAX_RESULT_HEAD || body_len > body_cap {
                    bail!("result head or body over its cap");
                }
            }
            other => bail!("unknown action {other} (or a discard of nothing)"),
        }
        let mut state = [0u8; STATE_LEN];
        state.copy_from_slice(&fixed[layout::STATE..layout::DATA]);
        let outcome = Outcome {
            action,
            consumed,
            status,
            keep_alive,
            head: data[..head_len].to_vec(),
            body_kind,
            body: data[head_len..].to_vec(),
            file_offset: u64_at(layout::FILE_OFFSET),
            file_len: u64_at(layout::FILE_LEN),
            file_size: u64_at(layout::FILE_SIZE),
            state,
        };
        Ok((outcome, total))
    }
}

/// A trap from the epoch deadline is a timeout; anything else a fault.
fn classify(error: wasmtime::Error) -> GuestFailure {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        GuestFailure::Timeout
    } else {
        GuestFailure::Fault(wasm_error(error))
    }
}

/// wasmtime's error type into anyhow, keeping the whole message chain.
pub(crate) fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow!("{error:#}")
}

/// One thread advances the epoch for every store of the engine.
fn start_ticker(engine: &Engine) {
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .unwrap_or_else(|e| eprintln!("portico-wasi: no epoch thread, no guest time limit: {e}"));
}

/// Compile `wasm`, or load the native code compiled by an earlier run. The
/// cache file is keyed by the module's SHA-256 and the engine's
/// compatibility hash (wasmtime version, settings, CPU), and lives in a
/// directory only this user owns and can write: loading native code is
/// only as safe as that directory, so anything else is not used.
fn load_module(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Module> {
    let key = cache_key(engine, wasm);
    let cache = cache_dir().map(|dir| dir.join(format!("guest-{key}.cwasm")));
    if let Some(path) = cache.as_deref().filter(|p| private(p, false)) {
        // SAFETY: the file is one this program serialised from this exact
        // module with this exact engine (the key), owned by this user and
        // writable by nobody else, in a directory likewise private;
        // wasmtime also checks the engine compatibility header.
        #[allow(unsafe_code)]
        let loaded = unsafe { Module::deserialize_file(engine, path) };
        if let Ok(module) = loaded {
            return Ok(module);
        }
    }
    let module =
        Module::new(engine, wasm).map_err(wasm_error).context("cannot compile the guest module")?;
    if let Some(path) = cache {
        // A cache that cannot be written only costs start-up time.
        let _ = store_module(&module, &path);
    }
    Ok(module)
}

fn store_module(module: &Module, path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let bytes = module.serialize().map_err(wasm_error)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    // create_new: O_EXCL, which also refuses to follow a symlink planted
    // at the temporary name; mode 0600.
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let written = file.write_all(&bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// Owned by this user, not a symlink, and (for a directory: also not
/// readable or searchable by) nobody else can write it.
fn private(path: &Path, directory: bool) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    let kind_ok = if directory { meta.is_dir() } else { meta.is_file() };
    let others = if directory { 0o077 } else { 0o022 };
    kind_ok && meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & others == 0
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    use std::hash::{Hash as _, Hasher};
    /// Feeds `Hash` output into SHA-256.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut sha = Sha(Sha256::new());
    sha.write(wasm);
    engine.precompile_compatibility_hash().hash(&mut sha);
    sha.0.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `$XDG_CACHE_HOME/portico` or `~/.cache/portico`, created with mode 0700,
/// if it is [`private`].
fn cache_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let dir = base.join("portico");
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    private(&dir, true).then_some(dir)
}
