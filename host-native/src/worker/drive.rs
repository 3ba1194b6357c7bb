//! One connection's reads, steps and writes: moving it as far as it goes
//! without waiting.
//!
//! ```text
//! drive: input = pending + read ahead ─▶ loop {
//!            writing a response?  write what the socket takes   (done: log, consume, go on or linger)
//!            input changed?       step the handler              (Respond: start writing; Discard: consume)
//!            socket readable?     read more                      (else: wait)
//!        } ─▶ keep what is unconsumed ─▶ wait / linger / close
//! ```

use std::io::{self, Read as _};
use std::sync::atomic::Ordering;

use portico_core::{Now, Step};

use super::conn::{Conn, Input, Phase};
use super::outgoing::{Outgoing, Wrote, is_cut_short, write_out};
use super::state::{Next, READ_AHEAD_LEN, Worker, log};
use crate::clock;
use crate::files::Reads;
use crate::handler::Handler;
use crate::shared::{Config, Shared};

/// The input a drive works on: `scratch[start..end]` is what the handler
/// has not consumed.
struct Cursor {
    start: usize,
    end: usize,
    /// The input (or the connection's state) changed since the handler
    /// last said it needs more: step before reading.
    fresh: bool,
}

/// What one part of a drive says of the next.
enum Flow {
    /// Go round again.
    Again,
    /// Stop driving and do this.
    Stop(Next),
    /// On to the next part of this round.
    On,
}

/// What a drive borrows of its worker besides the connection.
struct Turn<'a, H: Handler> {
    handler: &'a H,
    state: &'a mut H::Worker,
    shared: &'a Shared,
    config: &'a Config,
    again: &'a mut Vec<(usize, u64)>,
    scratch: &'a mut [u8],
    reads: &'a Reads,
    stopping: bool,
}

impl<H: Handler> Worker<'_, H> {
    /// Move a connection as far as it goes without waiting: finish the
    /// response being written, step the handler over what is buffered,
    /// read more while it needs more and the socket has it. `woke`: its
    /// deadline passed, and the handler is told so at its first step.
    pub(super) fn drive(&mut self, key: usize, woke: bool) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if matches!(conn.phase, Phase::Lingering { .. }) {
            return self.linger(key);
        }
        let Some(end) = take_input(conn, &mut self.scratch, &self.ahead) else {
            return self.close(key);
        };
        let mut cursor = Cursor { start: 0, end, fresh: std::mem::take(&mut conn.fresh) };
        let mut turn = Turn {
            handler: self.handler,
            state: &mut self.state,
            shared: self.shared,
            config: self.config,
            again: &mut self.again,
            scratch: &mut self.scratch,
            reads: &self.reads,
            stopping: self.shared.stopping(),
        };
        let mut woke = woke;
        let next = loop {
            if let Phase::Writing(_) = conn.phase {
                match turn.write(key, conn, &mut cursor) {
                    Flow::Stop(next) => break next,
                    Flow::Again | Flow::On => continue,
                }
            }
            if cursor.fresh || woke {
                let woken = std::mem::take(&mut woke);
                match turn.step(conn, &mut cursor, woken) {
                    Flow::Stop(next) => break next,
                    Flow::Again => continue,
                    Flow::On => {}
                }
            }
            match turn.read(conn, &mut cursor) {
                Flow::Stop(next) => break next,
                Flow::Again | Flow::On => {}
            }
        };
        // No file is looked up for this connection's input until its next
        // step says which read brought it.
        self.reads.serve(0);
        if matches!(next, Next::Wait) && conn.reading() {
            // The connection always arms a deadline while it waits; a
            // handler that armed none still does not wait for ever.
            let wait = self.handler.poll_timeout(&conn.proto);
            let idle = self.handler.site().limits.idle_timeout;
            conn.deadline = Some(wait.unwrap_or_else(|| clock::now().mono.saturating_add(idle)));
        }
        conn.pending.extend_from_slice(&self.scratch[cursor.start..cursor.end]);
        if conn.pending.is_empty() && conn.pending.capacity() > 4096 {
            conn.pending = Vec::new();
        }
        match next {
            Next::Wait => self.wait(key),
            Next::Linger => self.begin_linger(key),
            Next::Close => self.close(key),
        }
    }

    /// Read what a ready connection's socket holds (up to
    /// [`READ_AHEAD_LEN`]) into slot `slot` of the read-ahead buffer; its
    /// drive takes it from there. A connection with a response to write
    /// or a close under way is left to its drive.
    pub(super) fn read_ahead(&mut self, key: usize, serial: u64, slot: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.serial != serial
            || !conn.input.readable()
            || !conn.reading()
            || conn.ahead.is_some()
        {
            return;
        }
        let room = READ_AHEAD_LEN.min(self.scratch.len().saturating_sub(conn.pending.len()));
        let from = slot * READ_AHEAD_LEN;
        let Some(buf) = self.ahead.get_mut(from..from + room) else { return };
        if buf.is_empty() {
            return;
        }
        match (&conn.stream).read(buf) {
            Ok(0) => {
                // The end of input: drive reads it again and closes.
                conn.input = Input::Ended;
            }
            Ok(n) => {
                conn.ahead = Some((slot, n));
                conn.read_mark = self.reads.note();
                conn.active = true;
                conn.input = conn.input.after_read(n == room);
                conn.fresh = true;
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => conn.input = Input::Drained,
            // An error: drive's own read meets it (or the end) and closes.
            Err(_) => {}
        }
    }
}

/// Gather a connection's input in `scratch`: what it kept unconsumed, then
/// what was read ahead for it. Its length; `None` if it does not fit
/// (`read_ahead` leaves room for what is pending, so that cannot be; if it
/// were, closing beats losing bytes).
fn take_input<C>(conn: &mut Conn<C>, scratch: &mut [u8], ahead: &[u8]) -> Option<usize> {
    let mut end = conn.pending.len().min(scratch.len());
    scratch[..end].copy_from_slice(&conn.pending[..end]);
    conn.pending.clear();
    if let Some((slot, n)) = conn.ahead.take() {
        let from = slot * READ_AHEAD_LEN;
        let ahead = ahead.get(from..from + n)?;
        scratch.get_mut(end..end + n)?.copy_from_slice(ahead);
        end += n;
    }
    Some(end)
}

impl<H: Handler> Turn<'_, H> {
    /// Write what the socket takes of the response in hand. Done: log it,
    /// consume its request, and go on (or linger, if the connection ends).
    fn write(&mut self, key: usize, conn: &mut Conn<H::Conn>, cursor: &mut Cursor) -> Flow {
        let Phase::Writing(out) = &mut conn.phase else { return Flow::On };
        match write_out(&conn.stream, out) {
            Ok(Wrote::Done) => {
                let Some(out) = conn.take_out() else { return Flow::Stop(Next::Close) };
                log(self.shared, conn, &out, &self.scratch[cursor.start..cursor.end]);
                cursor.start += out.consumed.min(cursor.end - cursor.start);
                conn.began = None;
                // With nothing more buffered, the handler is not stepped
                // just to arm its idle deadline (a guest call for
                // portico-wasi): the wait's start is kept and given to it
                // if the deadline comes first.
                cursor.fresh = cursor.start < cursor.end;
                if !cursor.fresh {
                    conn.unarmed = Some(clock::now().mono);
                }
                let keep_alive = out.keep_alive;
                self.handler.recycle(self.state, out.head);
                if !keep_alive || self.stopping { Flow::Stop(Next::Linger) } else { Flow::Again }
            }
            Ok(Wrote::Yield) => {
                conn.deadline = Some(clock::now().mono.saturating_add(self.config.send_timeout));
                self.again.push((key, conn.serial));
                Flow::Stop(Next::Wait)
            }
            Ok(Wrote::Blocked { progressed }) => {
                if progressed || conn.deadline.is_none() {
                    let now = clock::now().mono;
                    conn.deadline = Some(now.saturating_add(self.config.send_timeout));
                }
                Flow::Stop(Next::Wait)
            }
            Err(error) => {
                if is_cut_short(&error) {
                    self.shared.cut_short.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(out) = conn.take_out() {
                    log(self.shared, conn, &out, &self.scratch[cursor.start..cursor.end]);
                }
                Flow::Stop(Next::Close)
            }
        }
    }

    /// Step the handler over the unconsumed input: a response to write, a
    /// body to skip, more to read, or the end.
    fn step(&mut self, conn: &mut Conn<H::Conn>, cursor: &mut Cursor, woke: bool) -> Flow {
        cursor.fresh = false;
        self.reads.serve(conn.read_mark);
        let now = clock::now();
        let input = &self.scratch[cursor.start..cursor.end];
        if let Some(since) = conn.unarmed.take()
            && woke
        {
            // The wait began at `since` with no step: the handler arms
            // its deadline as of then, and is then told it passed.
            let then = Now { wall: now.wall, mono: since };
            let step = self.handler.step(self.state, &mut conn.proto, input, then, false);
            if !matches!(step, Step::NeedMore) {
                return Flow::Stop(Next::Close);
            }
        }
        if conn.began.is_none() && cursor.start < cursor.end {
            conn.began = Some(now.mono);
        }
        match self.handler.step(self.state, &mut conn.proto, input, now, woke) {
            Step::NeedMore => Flow::On,
            Step::Discard(n) => {
                cursor.start += n.min(cursor.end - cursor.start);
                if cursor.start == cursor.end {
                    // Blank lines or a body skipped: the next request's
                    // time starts with its own bytes.
                    conn.began = None;
                }
                cursor.fresh = true;
                Flow::Again
            }
            Step::Respond { consumed, response } => {
                match Outgoing::new(response, consumed, now.wall) {
                    Ok(out) => conn.phase = Phase::Writing(out),
                    // A small file that shrank before its bytes were read:
                    // nothing sent yet, and nothing true to send.
                    Err(error) => {
                        if is_cut_short(&error) {
                            self.shared.cut_short.fetch_add(1, Ordering::Relaxed);
                        }
                        return Flow::Stop(Next::Close);
                    }
                }
                conn.deadline = None;
                Flow::Again
            }
            // An idle connection that timed out has nothing unread to
            // drain; any other close may.
            _ if woke => Flow::Stop(Next::Close),
            _ => Flow::Stop(Next::Linger),
        }
    }

    /// The handler needs more input: read it if the socket has it.
    fn read(&mut self, conn: &mut Conn<H::Conn>, cursor: &mut Cursor) -> Flow {
        if self.stopping && cursor.start == cursor.end && self.handler.awaiting_head(&conn.proto) {
            return Flow::Stop(Next::Close);
        }
        if !conn.input.readable() {
            return Flow::Stop(Next::Wait);
        }
        self.scratch.copy_within(cursor.start..cursor.end, 0);
        cursor.end -= cursor.start;
        cursor.start = 0;
        if cursor.end == self.scratch.len() {
            // The handler wants more than its own buffer size allows: a
            // handler bug, not the client's fault.
            return Flow::Stop(Next::Close);
        }
        match (&conn.stream).read(&mut self.scratch[cursor.end..]) {
            Ok(0) => Flow::Stop(Next::Close),
            Ok(n) => {
                conn.read_mark = self.reads.note();
                conn.active = true;
                // A read that did not fill the buffer emptied the socket:
                // the next bytes bring an event.
                conn.input = conn.input.after_read(cursor.end + n == self.scratch.len());
                cursor.end += n;
                cursor.fresh = true;
                Flow::Again
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                conn.input = Input::Drained;
                Flow::Stop(Next::Wait)
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Flow::Again,
            Err(_) => Flow::Stop(Next::Close),
        }
    }
}
