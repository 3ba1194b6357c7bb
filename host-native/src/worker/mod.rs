//! One worker thread: a readiness loop (mio, edge-triggered epoll on
//! Linux) over non-blocking sockets. It accepts from the shared listener,
//! reads, steps the handler, writes responses that resume where they
//! stopped, and keeps every connection's deadline in one timer heap.
//! Nothing in it blocks but `poll`.
//!
//! ```text
//! poll ─▶ connections ready ─▶ read each ahead (64 at a time) ─▶ drive each:
//!                                write what is pending ─▶ step ─▶ read ─▶ step … until it waits
//!      ─▶ connections handed over by another worker at the cap ─▶ admit each (close an idle one; else 503)
//!      ─▶ listener ready ─▶ accept up to 16 ─▶ admit (at the cap: close the longest-idle; if none is, serve those
//!                                accepted before it and try again; else hand it to the worker with the most
//!                                idle connections; else 503)
//!                                ─▶ read each ahead ─▶ drive each
//!      ─▶ timers due ─▶ the core's deadline (step with timed_out), a send timeout, a linger's end
//! ```
//!
//! Memory per connection: an idle one (between requests, or before its
//! first byte) holds its socket, the core's state and a few words of
//! bookkeeping; input is read into the worker's buffers (its read-ahead
//! slots, then its one buffer of `max_head` bytes), and only the
//! bytes not yet consumed (a head cut by a packet boundary, a pipelined
//! request behind a response that is still being written) are copied out
//! to the connection.
//!
//! One concern a file. The worker's state is `state.rs`, its loop
//! `event_loop.rs`; what it does, each an `impl Worker` block:
//! `admit.rs` (accepting, the cap, hand-over, 503), `drive.rs` (one
//! connection's reads, steps and writes), `waiting.rs` (registration,
//! deadlines, the idle list, expiry), `linger.rs` (the end of a
//! connection). The leaf types they use, which know nothing of the
//! worker: `conn.rs` (a connection's state), `outgoing.rs` (a response
//! being written, sendfile), `timers.rs` (the deadline heap), `idle.rs`
//! (the idle list). Imports run one way: leaves, then `state.rs`, then
//! the rest; nothing imports this file.

mod admit;
mod conn;
mod drive;
mod event_loop;
mod idle;
mod linger;
mod outgoing;
mod state;
mod timers;
mod waiting;

pub(crate) use self::event_loop::run;
