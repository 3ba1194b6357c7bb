//! The wasmtime side: one engine, the guest compiled once (and cached on
//! disk across runs, `cache.rs`), the instances the workers share
//! (`pool.rs`) and the one each worker keeps ([`Resident`], here), one
//! instance and its calls under their limits (`instance.rs`), the WASI
//! functions replaced for the guest (`wasi.rs`), and how a call fails
//! (`failure.rs`). Imports run one way: `failure.rs`, then
//! `instance.rs` and `wasi.rs`, then `pool.rs` and `cache.rs`, then this
//! file.

mod cache;
mod failure;
mod instance;
mod pool;
mod wasi;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use portico::{Identity, Reads, Reloadable};
use portico_abi::{Call, StepResult, encode_site};
use portico_core::Site;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

pub(crate) use self::failure::GuestFailure;
pub(crate) use self::failure::wasm_error;
pub use self::instance::MEMORY_LIMIT;
use self::instance::{Data, Instance, Template};
use self::pool::{Lease, MAX_INSTANCES, Pool};

/// The epoch ticks every `TICK`; a call may run for
/// `instance::DEADLINE_TICKS` of them.
const TICK: Duration = Duration::from_millis(10);

/// The compiled guest and everything needed to make instances of it.
pub(crate) struct Sandbox {
    template: Template,
    /// The site configuration, encoded once, given to every instance; and
    /// its generation, which a reload bumps.
    site: Reloadable<Vec<u8>>,
    pool: Pool,
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
        compress: Option<Arc<portico::compress::Compressor>>,
        listings: Option<Arc<portico::listings::Listings>>,
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
            template: Template { engine, pre, root, compress, listings },
            site: Reloadable::new(encode_site(site)),
            pool: Pool::default(),
        });
        // The ticker first: the first instance's `_initialize` runs under
        // the same deadline as every call.
        start_ticker(&sandbox.template.engine);
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
        self.pool.clear();
    }

    fn generation(&self) -> u64 {
        self.site.generation()
    }

    /// An instance configured with the current site, from the pool or
    /// made for the step.
    fn acquire(&self, input_cap: usize) -> Result<Lease<'_>, GuestFailure> {
        let snapshot = self.site.snapshot();
        let generation = snapshot.generation();
        self.pool.acquire(generation, || {
            Instance::new(&self.template, generation, snapshot.value(), input_cap)
        })
    }
}

/// The instance a worker thread keeps for itself: taken from the pool at
/// its first step and held, so a step takes no lock but the site
/// generation's. Replaced when it fails or the site was reloaded; given
/// back (its slot counted free) when the worker ends.
pub(crate) struct Resident {
    sandbox: Arc<Sandbox>,
    instance: Option<Instance>,
    /// The worker's reads, which date its instance's checks.
    reads: Arc<Reads>,
    /// The next step answers a request that waited for a listing; the
    /// last one asked for a listing being read off the loop.
    waited: bool,
    deferred: bool,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident").field("held", &self.instance.is_some()).finish()
    }
}

impl Resident {
    pub(crate) fn new(sandbox: Arc<Sandbox>, reads: Arc<Reads>) -> Self {
        Self { sandbox, instance: None, reads, waited: false, deferred: false }
    }

    /// Run one step on this worker's instance. On failure the instance is
    /// dropped (its memory may be half-updated); the next step gets a
    /// fresh one.
    /// A response's head is copied into `head`.
    pub(crate) fn step(
        &mut self,
        call: &Call,
        input: &[u8],
        head: Vec<u8>,
    ) -> Result<StepResult, GuestFailure> {
        let generation = self.sandbox.generation();
        if self.instance.as_ref().is_some_and(|held| held.generation != generation) {
            self.release();
        }
        if self.instance.is_none() {
            self.instance = self.sandbox.acquire(input.len())?.detach();
            if let Some(instance) = &self.instance {
                instance.clock.set(Arc::clone(&self.reads));
            }
        }
        let Some(instance) = self.instance.as_mut() else {
            return Err(GuestFailure::Fault(anyhow!("no instance")));
        };
        instance.clock.set_waited(self.waited);
        let result = instance.call(call, input, head);
        self.deferred = instance.clock.take_deferred();
        if result.is_err() {
            self.release();
        }
        result
    }

    /// The next step answers a request that waited for a listing read
    /// off the loop (any recent snapshot of it will do).
    pub(crate) fn set_waited(&mut self, waited: bool) {
        self.waited = waited;
    }

    /// Whether the last step asked for a listing being read off the loop:
    /// its answer is to be thrown away and the request stepped again.
    pub(crate) fn take_deferred(&mut self) -> bool {
        std::mem::take(&mut self.deferred)
    }

    /// What an `fstatat` said of `path` (relative to the root, `.` for
    /// the root) as the guest's stat of it in the last step was answered,
    /// if that was the last stat it made.
    pub(crate) fn seen(&self, path: &str) -> Option<Identity> {
        self.instance.as_ref().and_then(|instance| instance.vouch.of(path))
    }

    fn release(&mut self) {
        if self.instance.take().is_some() {
            self.sandbox.pool.release();
        }
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        self.release();
    }
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
