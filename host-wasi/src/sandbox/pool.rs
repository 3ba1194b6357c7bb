//! The instances: a pool shared by the workers (at most
//! `MAX_INSTANCES`, the pooling allocator's capacity), the lease that
//! counts one taken from it however the step ends, and the instance a
//! worker keeps for itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use portico::{Identity, Reads};
use portico_abi::{Call, StepResult};
use std::sync::PoisonError;

use super::instance::Instance;
use super::{GuestFailure, MAX_INSTANCES, Sandbox};

/// Instances not in a call, and how many exist at all (at most
/// `MAX_INSTANCES`, the pooling allocator's capacity).
#[derive(Default)]
pub(super) struct Pool {
    pub(super) idle: Vec<Instance>,
    pub(super) live: u32,
}

/// How long a step waits for an instance when all are busy.
const ACQUIRE_WAIT: Duration = Duration::from_secs(10);

/// One instance taken from the pool, counted in `Pool::live` until it is
/// dropped (the instance with it) or kept (back to the idle list), however
/// the step ends, a panic included.
pub(super) struct Lease<'a> {
    sandbox: &'a Sandbox,
    instance: Option<Instance>,
    kept: bool,
}

impl Lease<'_> {
    /// The step went well: the instance goes back to the pool.
    pub(super) fn keep(mut self) {
        if let Some(instance) = self.instance.take() {
            self.sandbox.lock().idle.push(instance);
            self.kept = true;
            self.sandbox.released.notify_one();
        }
    }
}

impl Lease<'_> {
    /// The instance, for a [`Resident`] that counts it from now on.
    fn detach(mut self) -> Option<Instance> {
        self.kept = true;
        self.instance.take()
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

/// The instance a worker thread keeps for itself: taken from the pool at
/// its first step and held, so a step takes no lock but the site
/// generation's. Replaced when it fails or the site was reloaded; given
/// back (its slot counted free) when the worker ends.
pub(crate) struct Resident {
    sandbox: Arc<Sandbox>,
    instance: Option<Instance>,
    /// The worker's reads, which date its instance's checks.
    reads: Arc<Reads>,
}

impl std::fmt::Debug for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resident").field("held", &self.instance.is_some()).finish()
    }
}

impl Resident {
    pub(crate) fn new(sandbox: Arc<Sandbox>, reads: Arc<Reads>) -> Self {
        Self { sandbox, instance: None, reads }
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
        let result = instance.call(call, input, head);
        if result.is_err() {
            self.release();
        }
        result
    }

    /// What an `fstatat` said of `path` (relative to the root, `.` for
    /// the root) as the guest's stat of it in the last step was answered,
    /// if that was the last stat it made.
    pub(crate) fn seen(&self, path: &str) -> Option<Identity> {
        self.instance.as_ref().and_then(|instance| instance.vouch.of(path))
    }

    fn release(&mut self) {
        if self.instance.take().is_some() {
            self.sandbox.lock().live -= 1;
            self.sandbox.released.notify_one();
        }
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        self.release();
    }
}

impl Sandbox {
    /// An idle instance, or a new one while the pool has room, or else the
    /// next one released: with more connections stepping at once than
    /// `MAX_INSTANCES`, a thread waits (a step takes microseconds, at most
    /// its deadline) instead of failing the request; past [`ACQUIRE_WAIT`]
    /// it gives up with a 503.
    pub(super) fn acquire(&self, input_cap: usize) -> Result<Lease<'_>, GuestFailure> {
        let deadline = Instant::now() + ACQUIRE_WAIT;
        let mut pool = self.lock();
        loop {
            if let Some(instance) = pool.idle.pop() {
                if instance.generation == self.generation() {
                    return Ok(Lease { sandbox: self, instance: Some(instance), kept: false });
                }
                // Configured with a site since replaced.
                pool.live -= 1;
                continue;
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
}
