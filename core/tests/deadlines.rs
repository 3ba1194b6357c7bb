//! The connection's own deadlines: idle, head (408) and body, armed from
//! the `now` the host passes, reported by `poll_timeout`, fired by
//! `handle_timeout`, and carried through `to_bytes` like the rest of the
//! state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use portico_core::{Connection, Event, Limits, Moment, ProtocolError, Rejection};

fn limits() -> Limits {
    Limits::default()
        .with_idle_timeout(Duration::from_secs(15))
        .with_head_timeout(Duration::from_secs(10))
}

fn at(secs: u64) -> Moment {
    Moment::from_duration(Duration::from_secs(secs))
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn a_new_connection_waits_idle_and_then_closes_without_a_word() {
    let mut conn = Connection::new(limits());
    assert_eq!(conn.poll_timeout(), None, "nothing armed before the first poll");
    assert!(matches!(conn.poll(b"", at(100)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(115)));
    // Polling again with nothing new does not push the deadline back.
    assert!(matches!(conn.poll(b"", at(110)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(115)));
    // Waking early changes nothing.
    conn.handle_timeout(at(114));
    assert!(matches!(conn.poll(b"", at(114)), Event::NeedMore));
    conn.handle_timeout(at(115));
    assert!(matches!(conn.poll(b"", at(115)), Event::Close));
    assert!(matches!(conn.poll(GET, at(116)), Event::Close), "closed stays closed");
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn a_stalled_head_is_rejected_with_408_and_closes() {
    let mut conn = Connection::new(limits());
    assert!(matches!(conn.poll(b"", at(0)), Event::NeedMore));
    // The first byte of a head arms the head deadline from then.
    assert!(matches!(conn.poll(b"GET / HT", at(5)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(15)));
    assert!(matches!(conn.poll(b"GET / HTTP/1.1\r\n", at(12)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(15)), "more bytes do not extend it");
    conn.handle_timeout(at(15));
    let Event::Reject(Rejection { error, head_request }) = conn.poll(b"GET / HTTP/1.1\r\n", at(15))
    else {
        panic!("a 408")
    };
    assert_eq!((error, error.status(), head_request), (ProtocolError::Timeout, 408, false));
    assert!(matches!(conn.poll(b"", at(16)), Event::Close));
}

#[test]
fn a_stalled_head_request_gets_its_408_without_a_body() {
    let mut conn = Connection::new(limits());
    assert!(matches!(conn.poll(b"HEAD / HTTP/1.1\r\nHo", at(0)), Event::NeedMore));
    conn.handle_timeout(at(10));
    let Event::Reject(rejection) = conn.poll(b"HEAD / HTTP/1.1\r\nHo", at(10)) else {
        panic!("a 408")
    };
    assert!(rejection.head_request);
}

#[test]
fn each_request_starts_a_new_wait() {
    let mut conn = Connection::new(limits());
    assert!(matches!(conn.poll(b"GET", at(0)), Event::NeedMore));
    let mut buf = GET.to_vec();
    buf.extend_from_slice(b"GET /b");
    let Event::Request(request) = conn.poll(&buf, at(9)) else { panic!("a request") };
    let head_len = request.head_len();
    // While the host answers, nothing is armed.
    assert_eq!(conn.poll_timeout(), None);
    // The pipelined partial head gets a head deadline from when it is seen.
    assert!(matches!(conn.poll(&buf[head_len..], at(20)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(30)));
    // A request answered with nothing after it: idle from then.
    let mut conn = Connection::new(limits());
    assert!(matches!(conn.poll(GET, at(40)), Event::Request(_)));
    assert!(matches!(conn.poll(b"", at(41)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(56)));
}

#[test]
fn a_body_that_stops_arriving_closes_after_the_idle_timeout_from_its_last_bytes() {
    let mut conn = Connection::new(limits());
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    assert!(matches!(conn.poll(head, at(0)), Event::Request(_)));
    assert!(matches!(conn.poll(b"abc", at(1)), Event::Discard(3)));
    assert_eq!(conn.poll_timeout(), Some(at(16)));
    assert!(matches!(conn.poll(b"", at(2)), Event::NeedMore));
    assert!(matches!(conn.poll(b"de", at(10)), Event::Discard(2)));
    assert_eq!(conn.poll_timeout(), Some(at(25)), "progress restarts the idle time");
    conn.handle_timeout(at(25));
    assert!(matches!(conn.poll(b"", at(25)), Event::Close));
}

/// Found by the connection_clock fuzz target: a poll with no new bytes
/// (a spurious wake-up) in a body pushed its deadline back; only bytes
/// that are dropped do.
#[test]
fn a_poll_with_nothing_new_leaves_a_body_deadline_where_it_was() {
    let mut conn = Connection::new(limits());
    let head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(conn.poll(head, at(0)), Event::Request(_)));
    // Part of a chunk-size line: nothing to drop yet.
    assert!(matches!(conn.poll(b"5\r", at(1)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(16)));
    assert!(matches!(conn.poll(b"5\r", at(9)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(16)), "pushed back by a poll with nothing new");
    conn.handle_timeout(at(16));
    assert!(matches!(conn.poll(b"5\r", at(16)), Event::Close));

    let mut conn = Connection::new(limits());
    let head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    assert!(matches!(conn.poll(head, at(0)), Event::Request(_)));
    assert!(matches!(conn.poll(b"", at(1)), Event::NeedMore));
    assert!(matches!(conn.poll(b"", at(9)), Event::NeedMore));
    assert_eq!(conn.poll_timeout(), Some(at(16)));
}

#[test]
fn deadlines_travel_through_the_state_bytes() {
    for (input, now) in [
        (&b""[..], 7),
        (b"GET / H", 8),
        (b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab", 9),
    ] {
        let mut conn = Connection::new(limits());
        let mut buf = input.to_vec();
        loop {
            match conn.poll(&buf, at(now)) {
                Event::Request(request) => drop(buf.drain(..request.head_len())),
                Event::Discard(n) => drop(buf.drain(..n)),
                _ => break,
            }
        }
        let restored = Connection::from_bytes(limits(), &conn.to_bytes()).unwrap();
        assert_eq!(restored, conn);
        assert_eq!(restored.poll_timeout(), conn.poll_timeout());
        assert!(restored.poll_timeout().is_some());
    }
    // An expired head survives the trip too, and still answers 408.
    let mut conn = Connection::new(limits());
    assert!(matches!(conn.poll(b"GET", at(0)), Event::NeedMore));
    conn.handle_timeout(at(60));
    let mut restored = Connection::from_bytes(limits(), &conn.to_bytes()).unwrap();
    assert!(matches!(restored.poll(b"GET", at(60)), Event::Reject(_)));
}

#[test]
fn state_bytes_that_describe_no_state_are_refused() {
    let good = Connection::new(limits()).to_bytes();
    for (at, value) in [(0, 6), (0, 9), (1, 1), (2, 3), (2, 7), (5, 1)] {
        let mut bad = good;
        bad[at] = value;
        assert_eq!(Connection::from_bytes(limits(), &bad), None, "byte {at} = {value}");
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// One thing that happens to a connection: bytes arrive after a pause,
    /// or the host wakes after a pause with none.
    #[derive(Clone, Debug)]
    enum Happening {
        Bytes { pause_ms: u64, count: usize },
        Wake { pause_ms: u64 },
    }

    fn happenings() -> impl Strategy<Value = Vec<Happening>> {
        let one = prop_oneof![
            (0u64..12_000, 1usize..40)
                .prop_map(|(pause_ms, count)| Happening::Bytes { pause_ms, count }),
            (0u64..20_000).prop_map(|pause_ms| Happening::Wake { pause_ms }),
        ];
        prop::collection::vec(one, 1..40)
    }

    const INPUT: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
                           POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
                           HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n\
                           GET /d HTTP/1.1\r\nHost: h\r\n\r\n";

    proptest! {
        /// Whatever the timing: a deadline is never armed in the past,
        /// waking before it changes nothing, waking after it ends the
        /// connection (408 only with part of a head buffered), and the
        /// state with its deadline survives `to_bytes` at every step.
        #[test]
        fn deadlines_hold_whatever_the_timing(happenings in happenings()) {
            let mut conn = Connection::new(limits());
            let mut now = Moment::ZERO;
            let (mut fed, mut buf) = (0usize, Vec::new());
            // At the last wake: waiting for the rest of a head.
            let mut stalled = false;
            for happening in happenings {
                let woke = match happening {
                    Happening::Bytes { pause_ms, count } => {
                        now = now.saturating_add(Duration::from_millis(pause_ms));
                        let more = count.min(INPUT.len() - fed);
                        if more == 0 { return Ok(()); }
                        buf.extend_from_slice(&INPUT[fed..fed + more]);
                        fed += more;
                        false
                    }
                    Happening::Wake { pause_ms } => {
                        now = now.saturating_add(Duration::from_millis(pause_ms));
                        let before = conn;
                        stalled = conn.awaiting_head() && !buf.is_empty();
                        let deadline = conn.poll_timeout();
                        conn.handle_timeout(now);
                        if deadline.is_none_or(|at| now < at) {
                            prop_assert_eq!(conn, before, "an early wake changed the state");
                        }
                        deadline.is_some_and(|at| now >= at)
                    }
                };
                loop {
                    let restored = Connection::from_bytes(limits(), &conn.to_bytes());
                    prop_assert_eq!(restored, Some(conn));
                    match conn.poll(&buf, now) {
                        Event::NeedMore => {
                            // Always a deadline; ahead of now, except a head
                            // deadline that more bytes did not push back: the
                            // host wakes at once and the head gets its 408.
                            let Some(at) = conn.poll_timeout() else {
                                return Err(TestCaseError::fail("waiting with no deadline"));
                            };
                            if at <= now {
                                prop_assert!(conn.awaiting_head() && !buf.is_empty(), "{at:?} due at {now:?}");
                            }
                            prop_assert!(!woke, "a fired deadline still waits");
                            break;
                        }
                        Event::Discard(n) => drop(buf.drain(..n)),
                        Event::Request(request) => {
                            prop_assert!(!woke, "a request after the deadline fired");
                            let n = request.head_len();
                            buf.drain(..n);
                        }
                        Event::Reject(rejection) => {
                            prop_assert_eq!(rejection.error, ProtocolError::Timeout);
                            prop_assert!(woke && stalled, "408 without a stalled head");
                            return Ok(());
                        }
                        Event::Close => {
                            prop_assert!(woke && !stalled, "closed without a deadline, or a stalled head not answered");
                            return Ok(());
                        }
                        other => prop_assert!(false, "{other:?}"),
                    }
                }
            }
        }
    }
}
