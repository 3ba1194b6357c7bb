//! One guest instance: its store (WASI context, memory limit, epoch
//! deadline), its exports, its configuration, and one step through the
//! ABI, whose answer is decoded trusting nothing in it.

use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use portico_abi::{ABI_VERSION, Call, StepResult, decode_block, encode_call_into};
use wasi_common::WasiCtx;
use wasi_common::sync::WasiCtxBuilder;
use wasmtime::{Engine, InstancePre, Memory, Store, StoreLimits, StoreLimitsBuilder, TypedFunc};

use super::failure::{GuestFailure, classify, wasm_error};
use crate::readonly::{Clock, ReadOnlyDir, Vouch};

/// Guest memory cap per instance, in bytes. The core needs well under 2 MiB; a guest
/// that wants more is broken or hostile.
pub const MEMORY_LIMIT: usize = 32 << 20;

/// A call may run for this many epoch ticks (the sandbox's ticker
/// advances the epoch every 10 ms). A step takes microseconds, so a
/// second means a runaway guest.
pub(super) const DEADLINE_TICKS: u64 = 100;

/// Room for an encoded call: fixed fields and one refused path.
const CALL_CAP: u32 = 8 * 1024;

/// The store's data: the WASI context and the memory limiter.
pub(super) struct Data {
    pub(super) wasi: WasiCtx,
    limits: StoreLimits,
    /// The web root as preopened, and its descriptor while the guest
    /// keeps it there (closing or renumbering it clears this).
    pub(super) root: ReadOnlyDir,
    pub(super) root_fd: Option<u32>,
    /// The guest's memory, once instantiated.
    pub(super) memory: Option<Memory>,
}

/// One guest instance with its exports looked up.
pub(super) struct Instance {
    store: Store<Data>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    step: TypedFunc<(u32, u32, u32, u32), u32>,
    /// A block of guest memory for the input, reused across calls.
    input: u32,
    input_cap: u32,
    /// `CALL_CAP` bytes of guest memory for the encoded call.
    call: u32,
    /// The encoded call, host-side, reused across steps.
    call_bytes: Vec<u8>,
    /// Which file the guest's last stat found during the last call.
    pub(super) vouch: Arc<Vouch>,
    /// Whose reads date its directory's checks: the worker holding it.
    pub(super) clock: Arc<Clock>,
    /// The generation of the site it was configured with.
    pub(super) generation: u64,
}

/// What every instance is made from.
pub(super) struct Template {
    pub(super) engine: Engine,
    /// The guest, linked against WASI and the host's replacements.
    pub(super) pre: InstancePre<Data>,
    /// The web root, opened once; each instance gets a duplicate handle.
    pub(super) root: cap_std::fs::Dir,
    /// Variants compressed on the fly, which the root's stat answers for
    /// names the disk does not have.
    pub(super) compress: Option<Arc<portico::compress::Compressor>>,
    /// Snapshots of large directories, read off the loop.
    pub(super) listings: Option<Arc<portico::listings::Listings>>,
}

impl Instance {
    /// A new instance of `template`: its store, its exports checked, the
    /// site (encoded, of this `generation`) given, its buffers allocated
    /// (room for `input_cap` bytes of input, grown if a step brings more).
    pub(super) fn new(
        template: &Template,
        generation: u64,
        site: &[u8],
        input_cap: usize,
    ) -> anyhow::Result<Self> {
        let (mut store, vouch, clock) = store(template)?;
        let instance = template
            .pre
            .instantiate(&mut store)
            .map_err(wasm_error)
            .context("cannot instantiate the guest (pool exhausted?)")?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("the guest does not export `memory`"))?;
        store.data_mut().memory = Some(memory);
        let initialize = typed::<(), ()>(&instance, &mut store, "_initialize")?;
        initialize
            .call(&mut store, ())
            .map_err(wasm_error)
            .context("the guest's _initialize failed")?;
        // The version before the other exports: a module of another ABI
        // version is told so, whatever it exports.
        let version = typed::<(), u32>(&instance, &mut store, "portico_abi_version")?;
        let version = version.call(&mut store, ()).map_err(wasm_error)?;
        if version != ABI_VERSION {
            bail!("the guest implements ABI version {version}, this host version {ABI_VERSION}");
        }
        let exports = Exports::of(&instance, &mut store, memory)?;
        configure(&mut store, &exports, site)?;
        let Exports { memory, alloc, free, step, .. } = exports;
        let input_cap = u32::try_from(input_cap.max(16 * 1024)).unwrap_or(u32::MAX);
        let input = alloc.call(&mut store, input_cap).map_err(wasm_error)?;
        let call = alloc.call(&mut store, CALL_CAP).map_err(wasm_error)?;
        if input == 0 || call == 0 {
            bail!("the guest could not allocate its input buffer");
        }
        let call_bytes = Vec::with_capacity(64);
        Ok(Self {
            store,
            memory,
            alloc,
            free,
            step,
            input,
            input_cap,
            call,
            call_bytes,
            vouch,
            clock,
            generation,
        })
    }
}

/// A store for one instance: a WASI context whose only file system is
/// the root, read-only, as `/`; the memory cap; the epoch deadline.
fn store(template: &Template) -> anyhow::Result<(Store<Data>, Arc<Vouch>, Arc<Clock>)> {
    let wasi = WasiCtxBuilder::new().build();
    let dir = template.root.try_clone().context("cannot duplicate the web root handle")?;
    let listing = template.root.try_clone().context("cannot duplicate the web root handle")?;
    let dir = wasi_common::sync::dir::Dir::from_cap_std(dir);
    let vouch = Arc::new(Vouch::default());
    let clock = Arc::new(Clock::default());
    let root = ReadOnlyDir::new(Box::new(dir), listing, Arc::clone(&vouch), Arc::clone(&clock))
        .compressing(template.compress.clone())
        .listing_from(template.listings.clone());
    let root_fd = wasi
        .push_dir(Box::new(root.clone()), "/".into())
        .map_err(|e| anyhow!("cannot preopen the web root: {e}"))?;
    let limits = StoreLimitsBuilder::new()
        .memory_size(MEMORY_LIMIT)
        .instances(1)
        .trap_on_grow_failure(true)
        .build();
    let data = Data { wasi, limits, root, root_fd: Some(root_fd), memory: None };
    let mut store = Store::new(&template.engine, data);
    store.limiter(|data| &mut data.limits);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(DEADLINE_TICKS);
    Ok((store, vouch, clock))
}

/// Give a new instance the site, once, before its first step.
fn configure(store: &mut Store<Data>, exports: &Exports, encoded: &[u8]) -> anyhow::Result<()> {
    let site_len = u32::try_from(encoded.len()).context("site configuration too large")?;
    let site = exports.alloc.call(&mut *store, site_len).map_err(wasm_error)?;
    exports.memory.write(&mut *store, site as usize, encoded).context("cannot write the site")?;
    match exports.configure.call(&mut *store, (site, site_len)).map_err(wasm_error)? {
        0 => {}
        code => bail!("the guest refused the site configuration (code {code})"),
    }
    exports.free.call(&mut *store, (site, site_len)).map_err(wasm_error)?;
    Ok(())
}

/// The guest's exports a step needs (docs/ABI.md), typed.
struct Exports {
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    configure: TypedFunc<(u32, u32), u32>,
    step: TypedFunc<(u32, u32, u32, u32), u32>,
}

impl Exports {
    /// Look them up; a missing or mistyped one is an error that names it.
    fn of(
        instance: &wasmtime::Instance,
        store: &mut Store<Data>,
        memory: Memory,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            memory,
            alloc: typed(instance, store, "portico_alloc")?,
            free: typed(instance, store, "portico_free")?,
            configure: typed(instance, store, "portico_configure")?,
            step: typed(instance, store, "portico_step")?,
        })
    }
}

/// The export `name`, as a function of this type.
fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &wasmtime::Instance,
    store: &mut Store<Data>,
    name: &str,
) -> anyhow::Result<TypedFunc<P, R>> {
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| anyhow!("the guest does not export `{name}`"))?;
    func.typed(&*store).map_err(wasm_error).with_context(|| format!("`{name}`"))
}

impl Instance {
    /// One step; a response's head is copied into `head` (a buffer kept
    /// from an earlier response).
    pub(super) fn call(
        &mut self,
        call: &Call,
        input: &[u8],
        head: Vec<u8>,
    ) -> Result<StepResult, GuestFailure> {
        let fault = |e: anyhow::Error| GuestFailure::Fault(e);
        let input_len =
            u32::try_from(input.len()).map_err(|_| fault(anyhow!("input too large")))?;
        if input_len > self.input_cap {
            // A handler with a larger buffer than first planned: grow.
            let _ = self.free.call(&mut self.store, (self.input, self.input_cap));
            self.input = self.alloc.call(&mut self.store, input_len).map_err(classify)?;
            self.input_cap = input_len;
        }
        self.call_bytes.clear();
        encode_call_into(call, &mut self.call_bytes);
        let encoded = &self.call_bytes;
        let call_len = u32::try_from(encoded.len())
            .ok()
            .filter(|&n| n <= CALL_CAP)
            .ok_or_else(|| fault(anyhow!("call too large")))?;
        self.memory
            .write(&mut self.store, self.input as usize, input)
            .map_err(|e| fault(e.into()))?;
        self.memory
            .write(&mut self.store, self.call as usize, encoded)
            .map_err(|e| fault(e.into()))?;
        self.store.set_epoch_deadline(DEADLINE_TICKS);
        self.vouch.clear();
        let block = self
            .step
            .call(&mut self.store, (self.call, call_len, self.input, input_len))
            .map_err(classify)?;
        // The block is the guest's, valid until the next call: not freed.
        // Decoded trusting nothing in it (portico_abi::decode_block).
        let memory = self.memory.data(&self.store);
        decode_block(memory, block as usize, input.len(), head).map_err(|e| fault(e.into()))
    }
}
