//! The instances the workers share: at most `MAX_INSTANCES` alive (the
//! pooling allocator's capacity), the idle ones kept for the next step,
//! and the lease that counts one taken out however the step ends.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::failure::GuestFailure;
use super::instance::Instance;

/// Instances alive at once (pooled, in a call, or held by a worker). A
/// step waits for one when all are busy.
pub(super) const MAX_INSTANCES: u32 = 128;

/// How long a step waits for an instance when all are busy.
const ACQUIRE_WAIT: Duration = Duration::from_secs(10);

/// The shared instances, and the signal that one was given back.
#[derive(Default)]
pub(super) struct Pool {
    slots: Mutex<Slots>,
    /// Signalled when an instance goes back to the pool or is dropped.
    released: Condvar,
}

/// Instances not in a call, and how many exist at all.
#[derive(Default)]
struct Slots {
    idle: Vec<Instance>,
    live: u32,
}

impl Pool {
    /// An idle instance of site `generation`, or one `make` makes while
    /// the pool has room, or else the next one released: with more
    /// connections stepping at once than `MAX_INSTANCES`, a step waits
    /// (a step takes microseconds, at most its deadline) instead of
    /// failing the request; past [`ACQUIRE_WAIT`] it gives up with a 503.
    pub(super) fn acquire(
        &self,
        generation: u64,
        make: impl FnOnce() -> anyhow::Result<Instance>,
    ) -> Result<Lease<'_>, GuestFailure> {
        let deadline = Instant::now() + ACQUIRE_WAIT;
        let mut slots = self.lock();
        loop {
            if let Some(instance) = slots.idle.pop() {
                if instance.generation == generation {
                    return Ok(Lease { pool: self, instance: Some(instance), kept: false });
                }
                // Configured with a site since replaced.
                slots.live -= 1;
                continue;
            }
            if slots.live < MAX_INSTANCES {
                slots.live += 1;
                drop(slots);
                // The lease owns the count from here: if instantiation
                // fails (or panics), dropping it gives the slot back.
                let mut lease = Lease { pool: self, instance: None, kept: false };
                lease.instance = Some(make().map_err(GuestFailure::Fault)?);
                return Ok(lease);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GuestFailure::Timeout);
            }
            slots =
                self.released.wait_timeout(slots, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// An instance taken out is gone: its slot is free.
    pub(super) fn release(&self) {
        self.lock().live -= 1;
        self.released.notify_one();
    }

    /// Drop the idle instances (their site was replaced).
    pub(super) fn clear(&self) {
        let mut slots = self.lock();
        let stale = slots.idle.len();
        slots.idle.clear();
        slots.live -= u32::try_from(stale).unwrap_or(0);
        drop(slots);
        self.released.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One instance taken from the pool, counted in the pool's live ones
/// until it is dropped (the instance with it) or kept (back to the idle
/// list), however the step ends, a panic included.
pub(super) struct Lease<'a> {
    pool: &'a Pool,
    instance: Option<Instance>,
    kept: bool,
}

impl Lease<'_> {
    /// The step went well: the instance goes back to the pool.
    pub(super) fn keep(mut self) {
        if let Some(instance) = self.instance.take() {
            self.pool.lock().idle.push(instance);
            self.kept = true;
            self.pool.released.notify_one();
        }
    }

    /// The instance, for a holder that counts it from now on (and gives
    /// its slot back with [`Pool::release`]).
    pub(super) fn detach(mut self) -> Option<Instance> {
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
        self.pool.release();
    }
}
