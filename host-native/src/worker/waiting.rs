//! A connection waits: registered with poll, its deadline in the heap,
//! in the idle list if it is idle; and what happens when a deadline
//! passes.

use std::sync::atomic::Ordering;

use mio::{Interest, Token};

use super::conn::Phase;
use super::state::{Worker, log};
use crate::clock;
use crate::handler::Handler;

impl<H: Handler> Worker<'_, H> {
    /// The connection waits: registered with poll, its deadline into the
    /// heap, and into the idle list if it is idle.
    pub(super) fn wait(&mut self, key: usize) {
        let conns = &self.conns;
        self.timers.tidy(conns.len(), |at, key, serial| {
            conns.get(key).is_some_and(|c| c.serial == serial && c.scheduled == Some(at))
        });
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
