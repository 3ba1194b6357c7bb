//! The idle connections, longest-idle first: a list threaded through the
//! connections' slots ([`Links`]), so joining, leaving and taking the
//! oldest are O(1). The worker publishes its length in its inbox, for
//! another worker at the cap to pick whom to hand a connection to.

use slab::Slab;

use super::conn::{Conn, Links, NIL};

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

impl Idle {
    /// Append `key` to the list (it is not in it).
    pub(super) fn push<C>(&mut self, conns: &mut Slab<Conn<C>>, key: usize) {
        let tail = self.tail;
        let Some(conn) = conns.get_mut(key) else { return };
        conn.idle = Some(Links { prev: tail, next: NIL });
        self.count += 1;
        match conns.get_mut(tail).and_then(|last| last.idle.as_mut()) {
            Some(last) => last.next = key,
            None => self.head = key,
        }
        self.tail = key;
    }

    /// Take `key` out of the list; whether it was in it.
    pub(super) fn remove<C>(&mut self, conns: &mut Slab<Conn<C>>, key: usize) -> bool {
        let Some(conn) = conns.get_mut(key) else { return false };
        let Some(Links { prev, next }) = conn.idle.take() else { return false };
        self.count -= 1;
        match conns.get_mut(prev).and_then(|before| before.idle.as_mut()) {
            Some(before) => before.next = next,
            None => self.head = next,
        }
        match conns.get_mut(next).and_then(|after| after.idle.as_mut()) {
            Some(after) => after.prev = prev,
            None => self.tail = prev,
        }
        true
    }
}
