//! Time as the core sees it: only what the host tells it. A [`Moment`] is
//! a reading of the host's monotonic clock; wall-clock time (for `Date`)
//! comes in separately as a `SystemTime`.

use std::time::{Duration, SystemTime};

/// A point on the host's monotonic clock, in nanoseconds since an origin
/// the host picks (its start, say). Only differences matter, and only
/// between moments of the same host: deadlines the core derives from one
/// are compared with later ones.
///
/// The core never reads a clock; a host passes `now` into
/// [`crate::Connection::poll`] and [`crate::Connection::handle_timeout`].
/// A wall clock would do, but jumps with NTP; hosts should use a monotonic
/// one (`Instant` natively, `clock_time_get(monotonic)` in WASI).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Moment(u64);

impl Moment {
    /// The origin.
    pub const ZERO: Self = Self(0);

    /// The moment `nanos` nanoseconds after the origin.
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// The moment `since` after the origin (saturating after 584 years).
    #[must_use]
    pub fn from_duration(since: Duration) -> Self {
        Self(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds since the origin.
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + duration`, or the end of time.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The two clocks a step reads, both from the host: wall-clock time for
/// `Date` (and a log line), monotonic time for deadlines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Now {
    /// Wall-clock time, for `Date`.
    pub wall: SystemTime,
    /// Monotonic time, for deadlines.
    pub mono: Moment,
}

impl Now {
    /// Both readings.
    #[must_use]
    pub const fn new(wall: SystemTime, mono: Moment) -> Self {
        Self { wall, mono }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let m = Moment::from_duration(Duration::from_secs(2));
        assert_eq!(m.as_nanos(), 2_000_000_000);
        assert_eq!(m.saturating_add(Duration::from_millis(1)).as_nanos(), 2_001_000_000);
        assert_eq!(m.saturating_add(Duration::MAX), Moment::from_nanos(u64::MAX));
        assert_eq!(Moment::from_duration(Duration::MAX), Moment::from_nanos(u64::MAX));
        assert_eq!(m.saturating_duration_since(Moment::ZERO), Duration::from_secs(2));
        assert_eq!(Moment::ZERO.saturating_duration_since(m), Duration::ZERO);
    }
}
