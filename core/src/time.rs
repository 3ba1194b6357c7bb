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

/// A wall-clock time in UTC, to the second, by the proleptic Gregorian
/// calendar: the one calendar the core writes its dates with (`Date`,
/// `Last-Modified`, listings) and a host its own (an access log line).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Utc {
    /// The year (1970 or later).
    pub year: u64,
    /// The month, 1 to 12.
    pub month: u8,
    /// The day of the month, 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59 (no leap seconds: Unix time has none).
    pub second: u8,
}

impl Utc {
    /// The time `secs` seconds after 1970-01-01T00:00:00Z.
    #[must_use]
    pub fn from_unix(secs: u64) -> Self {
        let (days, in_day) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        // Each below 60, 24, 13 or 32: the casts are lossless.
        Self {
            year,
            month: month as u8,
            day: day as u8,
            hour: (in_day / 3_600) as u8,
            minute: (in_day / 60 % 60) as u8,
            second: (in_day % 60) as u8,
        }
    }

    /// `when` in UTC; a time before 1970 is 1970-01-01T00:00:00Z.
    #[must_use]
    pub fn of(when: SystemTime) -> Self {
        Self::from_unix(when.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01: Howard
/// Hinnant's `civil_from_days`, on unsigned numbers since the range starts
/// at 1970.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn calendar_dates_of_known_instants() {
        let utc = |secs| {
            let t = Utc::from_unix(secs);
            (t.year, t.month, t.day, t.hour, t.minute, t.second)
        };
        assert_eq!(utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc(1_795_698_209), (2026, 11, 26, 13, 3, 29));
        assert_eq!(utc(253_402_300_799), (9999, 12, 31, 23, 59, 59));
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Utc::of(before), Utc::from_unix(0));
    }

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
