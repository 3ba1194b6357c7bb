//! The idle connections, longest-idle first: a list threaded through the
//! connections' slots ([`Links`]), so joining, leaving and taking the
//! oldest are O(1). Its length is published in the worker's inbox, for
//! another worker at the cap to pick whom to hand a connection to.

use std::sync::atomic::Ordering;

use super::Worker;
use super::conn::{Links, NIL};
use crate::handler::Handler;

/// The ends of the list.
pub(super) struct Idle {
    pub(super) head: usize,
    pub(super) tail: usize,
    /// How many connections it holds.
    pub(super) count: usize,
}

impl Default for Idle {
    fn default() -> Self {
        Self { head: NIL, tail: NIL, count: 0 }
    }
}

impl<H: Handler> Worker<'_, H> {
    /// Append `key` to the list (it is not in it).
    pub(super) fn list(&mut self, key: usize) {
        let tail = self.idle.tail;
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.idle = Some(Links { prev: tail, next: NIL });
        self.idle.count += 1;
        self.inbox.idle.store(self.idle.count, Ordering::Relaxed);
        match self.conns.get_mut(tail).and_then(|last| last.idle.as_mut()) {
            Some(last) => last.next = key,
            None => self.idle.head = key,
        }
        self.idle.tail = key;
    }

    /// Take `key` out of the list, if it is in it.
    pub(super) fn unlist(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let Some(Links { prev, next }) = conn.idle.take() else { return };
        self.idle.count -= 1;
        self.inbox.idle.store(self.idle.count, Ordering::Relaxed);
        match self.conns.get_mut(prev).and_then(|before| before.idle.as_mut()) {
            Some(before) => before.next = next,
            None => self.idle.head = next,
        }
        match self.conns.get_mut(next).and_then(|after| after.idle.as_mut()) {
            Some(after) => after.prev = prev,
            None => self.idle.tail = prev,
        }
    }
}
