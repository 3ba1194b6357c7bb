//! Every connection's deadline in one heap, earliest first.

use portico_core::Moment;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How many skippable entries the timer heap may hold beyond twice the
/// connections before it is compacted.
const TIMERS_SLACK: usize = 1024;

/// Deadlines, earliest first: (when, slot, the serial of the connection it
/// was set for). Entries of closed connections, or for deadlines since
/// moved later, are skipped when they come up (or dropped together by
/// [`Timers::compact`]); a connection adds one only when its deadline
/// moves earlier than the one it has in the heap, so an idle deadline
/// pushed back after each request costs nothing here.
#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Moment, usize, u64)>>,
}

impl Timers {
    /// The earliest deadline, if any.
    pub(super) fn next(&self) -> Option<Moment> {
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    pub(super) fn push(&mut self, at: Moment, key: usize, serial: u64) {
        self.heap.push(Reverse((at, key, serial)));
    }

    /// The earliest entry, taken, if it is due by `now`.
    pub(super) fn pop_due(&mut self, now: Moment) -> Option<(Moment, usize, u64)> {
        let &Reverse(entry) = self.heap.peek()?;
        if entry.0 > now {
            return None;
        }
        self.heap.pop();
        Some(entry)
    }

    /// Once the heap holds twice `connections` (and some slack), drop
    /// the entries `live` says can only be skipped. Without this, a
    /// stream of connections that each wait once and then close (a head
    /// split over packets, keep-alive clients that come and go) leaves
    /// their deadlines behind and grows the heap to the connection rate
    /// times the timeout: megabytes, and a deeper heap for every push and
    /// pop. Done only then, its cost is a constant per push.
    pub(super) fn tidy(&mut self, connections: usize, live: impl Fn(Moment, usize, u64) -> bool) {
        if self.heap.len() < 2 * connections + TIMERS_SLACK {
            return;
        }
        self.heap.retain(|&Reverse((at, key, serial))| live(at, key, serial));
        if self.heap.capacity() > 4 * self.heap.len() + TIMERS_SLACK {
            self.heap.shrink_to(2 * self.heap.len() + TIMERS_SLACK);
        }
    }
}
