//! Every connection's deadline in one heap, and the connection's wait:
//! registered with poll, its deadline in the heap, and in the idle list
//! if it is idle.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use mio::{Interest, Token};
use portico_core::Moment;

use super::conn::Phase;
use super::{Worker, log};
use crate::clock;
use crate::handler::Handler;

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

    fn push(&mut self, at: Moment, key: usize, serial: u64) {
        self.heap.push(Reverse((at, key, serial)));
    }

    /// The earliest entry, taken, if it is due by `now`.
    fn pop_due(&mut self, now: Moment) -> Option<(Moment, usize, u64)> {
        let &Reverse(entry) = self.heap.peek()?;
        if entry.0 > now {
            return None;
        }
        self.heap.pop();
        Some(entry)
    }

    /// Drop the entries `live` says can only be skipped. Without this, a
    /// stream of connections that each wait once and then close (a head
    /// split over packets, keep-alive clients that come and go) leaves
    /// their deadlines behind and grows the heap to the connection rate
    /// times the timeout: megabytes, and a deeper heap for every push and
    /// pop. Called when the heap is twice the connections, so its cost is
    /// a constant per push.
    fn compact(&mut self, live: impl Fn(Moment, usize, u64) -> bool) {
        self.heap.retain(|&Reverse((at, key, serial))| live(at, key, serial));
        if self.heap.capacity() > 4 * self.heap.len() + TIMERS_SLACK {
            self.heap.shrink_to(2 * self.heap.len() + TIMERS_SLACK);
        }
    }
}

impl<H: Handler> Worker<'_, H> {
    /// The connection waits: registered with poll, its deadline into the
    /// heap, and into the idle list if it is idle.
    pub(super) fn wait(&mut self, key: usize) {
        if self.timers.heap.len() >= 2 * self.conns.len() + TIMERS_SLACK {
            let conns = &self.conns;
            self.timers.compact(|at, key, serial| {
                conns.get(key).is_some_and(|c| c.serial == serial && c.scheduled == Some(at))
            });
        }
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !conn.registered {
            // Registered only now that it waits: a connection answered
            // and closed within its first turn never costs an epoll_ctl.
            // Readiness that came since the last read is reported at once.
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self.poll.registry().register(&mut conn.stream, Token(key), interest).is_err() {
                return self.close(key);
            }
            conn.registered = true;
        }
        let idle =
            conn.reading() && conn.pending.is_empty() && self.handler.awaiting_head(&conn.proto);
        if let Some(at) = conn.deadline
            && conn.scheduled.is_none_or(|scheduled| at < scheduled)
        {
            conn.scheduled = Some(at);
            self.timers.push(at, key, conn.serial);
        }
        // Idle since when: a connection moves to the end of the list only
        // when it becomes idle again after doing something, not when a
        // spurious wake-up (a writability edge, say) drives it.
        let moved = std::mem::take(&mut conn.active) || conn.idle.is_none();
        if !idle {
            self.unlist(key);
        } else if moved {
            self.unlist(key);
            self.list(key);
        }
    }

    /// Act on every deadline that has passed.
    pub(super) fn expire(&mut self) {
        let now = clock::now().mono;
        while let Some((_, key, serial)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.serial != serial {
                continue;
            }
            conn.scheduled = None;
            match conn.deadline {
                Some(deadline) if deadline <= now => {}
                // Moved later since: back in the heap at its new time.
                Some(_) => {
                    self.wait(key);
                    continue;
                }
                None => continue,
            }
            conn.deadline = None;
            if matches!(conn.phase, Phase::Lingering { .. }) {
                self.close(key);
            } else if let Some(out) = conn.take_out() {
                // The client took nothing for the send timeout.
                self.shared.send_timeouts.fetch_add(1, Ordering::Relaxed);
                log(self.shared, conn, &out, &conn.pending);
                self.close(key);
            } else {
                self.drive(key, true);
            }
        }
    }
}
