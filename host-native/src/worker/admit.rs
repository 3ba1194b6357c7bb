//! Taking connections in: accepting from the shared listener, and the
//! connection cap. At the cap a new connection closes this worker's
//! longest-idle one; if none is idle, those accepted with it are served
//! first (they close or become idle and make room); if still none, it is
//! handed to the worker with the most idle connections; else it gets 503.

use std::io::{self, Read as _};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use portico_core::Segment;
use socket2::SockRef;

use super::conn::{Conn, NIL};
use super::outgoing::send;
use super::state::{ACCEPT_BATCH, ACCEPT_PAUSE, Worker};
use crate::access_log::Entry;
use crate::clock;
use crate::handler::Handler;
use crate::shared::{LOOPBACK_SEND_BUFFER, Shared, on_loopback};

impl<H: Handler> Worker<'_, H> {
    pub(super) fn accept(&mut self, admitted: &mut Vec<(usize, u64)>) {
        let Some(listener) = self.listener.clone() else { return };
        if !self.accept_ready || self.accept_paused.is_some_and(|until| Instant::now() < until) {
            return;
        }
        self.accept_paused = None;
        for _ in 0..ACCEPT_BATCH {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Some(conn) = self.admit(stream, peer, admitted, false) {
                        admitted.push(conn);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_ready = false;
                    return;
                }
                Err(error) if is_transient(&error) => {}
                Err(error) => {
                    // Out of file descriptors, say: the listener stays
                    // ready, so back off instead of spinning.
                    if self.may_report() {
                        eprintln!("{}: accept failed: {error}", self.config.name);
                    }
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Take a new connection (its slot and serial, to drive), or refuse
    /// it at the cap. `admitted` are the connections accepted before it in
    /// this batch, not driven yet. `handed`: another worker accepted it
    /// (and counted it in `open`) at the cap, with no idle connection of
    /// its own to close for it.
    pub(super) fn admit(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        admitted: &mut Vec<(usize, u64)>,
        handed: bool,
    ) -> Option<(usize, u64)> {
        let open = if handed {
            self.shared.open.load(Ordering::Acquire)
        } else {
            self.shared.open.fetch_add(1, Ordering::AcqRel) + 1
        };
        if open > self.config.max_connections && !self.evict() {
            // Those accepted with it are not idle only because they have
            // not been served yet: serve them now, so they close or become
            // idle and make room, as they would had they come one by one.
            // Without this a burst of clients at the cap got 503 all but
            // one.
            self.drive_all(admitted);
            admitted.clear();
            let room = self.shared.open.load(Ordering::Acquire) <= self.config.max_connections;
            if !room && !self.evict() {
                // Another worker may hold idle connections: it closes one
                // and takes this one. A connection is handed over once.
                let (stream, peer) = if handed {
                    (stream, peer)
                } else {
                    match self.shared.hand_over(&self.inbox, (stream, peer)) {
                        Ok(()) => return None,
                        Err(back) => back,
                    }
                };
                self.refuse_counted(stream, peer);
                return None;
            }
        }
        if self.tune_local_peers && on_loopback(peer) {
            let _ = SockRef::from(&stream).set_send_buffer_size(LOOPBACK_SEND_BUFFER);
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        self.serial += 1;
        let proto = self.handler.connect();
        entry.insert(Conn::new(stream, peer.ip().to_canonical(), proto, self.serial));
        Some((key, self.serial))
    }

    /// Answer 503 to a connection counted in `open`, and uncount it.
    fn refuse_counted(&self, stream: TcpStream, peer: SocketAddr) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        refuse(stream, peer, self.shared);
    }

    /// Close the inbox; refuse what was handed over and not taken.
    pub(super) fn refuse_handed(&self) {
        for (stream, peer) in self.inbox.close() {
            self.refuse_counted(stream, peer);
        }
    }

    /// Close the longest-idle connection of this worker to make room (as
    /// nginx reuses its keep-alive connections when it runs out). False if
    /// none is idle.
    fn evict(&mut self) -> bool {
        let oldest = self.idle.head;
        if oldest == NIL {
            return false;
        }
        self.close(oldest);
        let evicted = self.shared.evicted.fetch_add(1, Ordering::Relaxed) + 1;
        if self.may_report() {
            eprintln!(
                "{}: at the connection cap ({}): closing the longest-idle connections \
                 to admit new ones ({evicted} so far)",
                self.config.name, self.config.max_connections
            );
        }
        true
    }
}

fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// At the cap with no idle connection to close: a 503 right away beats
/// leaving the client in the backlog. The socket is new, so its buffer
/// takes the small answer whole; what the client already sent is read
/// first, so the close is not a reset that destroys the answer.
fn refuse(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let now = clock::now();
    let response = portico_core::closing_response::<()>(503, now.wall);
    let mut bytes = response.head_bytes();
    for segment in response.body().segments() {
        if let Segment::Bytes(body) = segment {
            bytes.extend_from_slice(body);
        }
    }
    let mut scratch = [0u8; 4096];
    let _ = (&stream).read(&mut scratch);
    let _ = send(&stream, &bytes, false);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = (&stream).read(&mut scratch);
    if let Some(log) = &shared.log {
        log.log(&Entry {
            peer: peer.ip().to_canonical(),
            when: now.wall,
            input: b"",
            status: 503,
            bytes: 0,
            duration: Duration::ZERO,
        });
    }
}
