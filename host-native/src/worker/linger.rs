//! The end of a connection: a lingering close after its last response (so
//! unread request bytes do not turn the close into a reset that destroys
//! the response before the client reads it, as Apache's and nginx's
//! "lingering close"), or a close at once.

use std::io::{self, Read as _};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::conn::Phase;
use super::state::Worker;
use crate::clock;
use crate::handler::Handler;

/// After the last response, how long and how much to keep reading before
/// closing.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

impl<H: Handler> Worker<'_, H> {
    pub(super) fn begin_linger(&mut self, key: usize) {
        self.unlist(key);
        let Some(conn) = self.conns.get_mut(key) else { return };
        let mut drained = 0;
        if conn.pending.is_empty() && self.handler.input_complete(&conn.proto) {
            // The client's last request was read whole: nothing more
            // should come, so unless something did, close at once (the
            // FIN goes with the close), as nginx does, rather than shut
            // down, wait for the client's FIN and read it: that was a
            // syscall, often a wait and a wake-up, and a slot held, per
            // `Connection: close` request. Edge-triggered: with the socket
            // not readable since it was emptied, nothing has come.
            if !conn.input.readable() {
                return self.close(key);
            }
            match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => return self.close(key),
                Ok(n) => drained = n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return self.close(key);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key),
            }
        }
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return self.close(key);
        }
        conn.pending = Vec::new();
        conn.phase = Phase::Lingering { drained };
        conn.input = conn.input.on_event(true, false);
        conn.deadline = Some(clock::now().mono.saturating_add(LINGER_TIME));
        self.linger(key);
    }

    /// Read and drop what the client still sends until it closes, or
    /// [`LINGER_TIME`] or [`LINGER_BYTES`] runs out.
    pub(super) fn linger(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        let Phase::Lingering { drained } = &mut conn.phase else { return self.close(key) };
        loop {
            if *drained >= LINGER_BYTES {
                return self.close(key);
            }
            match (&conn.stream).read(&mut self.scratch) {
                Ok(0) => return self.close(key),
                Ok(n) => *drained += n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(key),
            }
        }
        self.wait(key);
    }

    pub(super) fn close(&mut self, key: usize) {
        self.unlist(key);
        if self.conns.try_remove(key).is_some() {
            self.shared.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
