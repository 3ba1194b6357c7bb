//! The clocks a step needs, read by the host (the core reads none):
//! wall-clock time for `Date` and the access log, monotonic time for
//! deadlines.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use portico_core::{Moment, Now};

/// Read the clocks. The monotonic clock is read every time; the wall clock
/// at most every 100 ms per thread, and derived from the monotonic one in
/// between (as nginx caches its time): `Date` has one-second resolution, a
/// clock step shows within 100 ms, and a request costs one clock read, not
/// two. Moments count from the first call in this process.
pub fn now() -> Now {
    const REREAD: Duration = Duration::from_millis(100);
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    thread_local! {
        static WALL: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
    }
    let origin = *ORIGIN.get_or_init(Instant::now);
    let now = Instant::now();
    let wall = WALL.with(|cached| match cached.get() {
        Some((at, wall)) if now.saturating_duration_since(at) < REREAD => {
            wall + now.saturating_duration_since(at)
        }
        _ => {
            let wall = SystemTime::now();
            cached.set(Some((now, wall)));
            wall
        }
    });
    Now::new(wall, Moment::from_duration(now.saturating_duration_since(origin)))
}
