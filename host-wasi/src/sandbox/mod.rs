//! The wasmtime side: one engine, the guest compiled once (and cached on
//! disk across runs, `cache.rs`), a pool of instances and the instance
//! each worker keeps (`pool.rs`), one instance and its calls under their
//! limits (`instance.rs`), and the WASI functions replaced for the guest
//! (`wasi.rs`).

mod cache;
mod instance;
mod pool;
mod wasi;

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use portico::Reloadable;
use portico_abi::encode_site;
use portico_core::Site;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, PoolingAllocationConfig, Trap,
};

use self::instance::Data;
use self::pool::Pool;
pub(crate) use self::pool::Resident;

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

/// The compiled guest and everything needed to make instances of it.
pub(crate) struct Sandbox {
    engine: Engine,
    pre: InstancePre<Data>,
    /// The web root, opened once; each instance gets a duplicate handle.
    root: cap_std::fs::Dir,
    /// The site configuration, encoded once, given to every instance; and
    /// its generation, which a reload bumps.
    site: Reloadable<Vec<u8>>,
    pool: Mutex<Pool>,
    /// Signalled when an instance goes back to the pool or is dropped.
    released: Condvar,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Compile (or load from the cache) `wasm`, which will see `root`
    /// read-only as `/` and nothing else, and serve as `site` says.
    pub(crate) fn new(
        wasm: &[u8],
        root: cap_std::fs::Dir,
        site: &Site,
    ) -> anyhow::Result<Arc<Self>> {
        let input_cap = site.limits.max_head;
        let mut config = Config::new();
        config.epoch_interruption(true);
        if std::env::var_os("PORTICO_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(MAX_INSTANCES)
            .total_memories(MAX_INSTANCES)
            .total_tables(MAX_INSTANCES)
            .max_memory_size(MEMORY_LIMIT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(wasm_error).context("cannot start wasmtime")?;
        let module = cache::load_module(&engine, wasm)?;
        let mut linker = Linker::<Data>::new(&engine);
        wasi_common::sync::add_to_linker(&mut linker, |data: &mut Data| &mut data.wasi)
            .map_err(wasm_error)
            .context("cannot link WASI")?;
        wasi::shadow(&mut linker)?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(wasm_error)
            .context("the guest module does not link against WASI preview 1")?;
        let sandbox = Arc::new(Self {
            engine,
            pre,
            root,
            site: Reloadable::new(encode_site(site)),
            pool: Mutex::default(),
            released: Condvar::new(),
        });
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

    /// Configure instances made from now on with `site`, and drop the
    /// idle ones configured with the old one.
    pub(crate) fn reconfigure(&self, site: &Site) {
        self.site.replace(encode_site(site));
        let mut pool = self.lock();
        let stale = pool.idle.len();
        pool.idle.clear();
        pool.live -= u32::try_from(stale).unwrap_or(0);
        drop(pool);
        self.released.notify_all();
    }

    fn generation(&self) -> u64 {
        self.site.generation()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
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
