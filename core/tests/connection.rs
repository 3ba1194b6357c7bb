//! The connection state machine: pipelining, keep-alive, skipping request
//! bodies, and closing after errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_core::{Connection, Event, Framing, Limits, Method, Moment, ProtocolError, Version};

/// What a host would see, as owned values.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Seen {
    Request { target: String, head_len: usize, keep_alive: bool },
    Discard(usize),
    Reject(ProtocolError),
    Close,
    NeedMore,
}

/// Drive `conn` over `input` the way a host does, all bytes at once, until
/// it needs more bytes or closes. Returns the events and the bytes left.
fn run(conn: &mut Connection, input: &[u8]) -> (Vec<Seen>, usize) {
    let mut buf = input.to_vec();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let event = match conn.poll(&buf, Moment::ZERO) {
            Event::NeedMore => Seen::NeedMore,
            Event::Discard(n) => {
                assert!(n > 0 && n <= buf.len(), "Discard({n}) of {} buffered", buf.len());
                buf.drain(..n);
                Seen::Discard(n)
            }
            Event::Request(request) => {
                let head_len = request.head_len();
                let event = Seen::Request {
                    target: request.target().to_owned(),
                    head_len,
                    keep_alive: request.keep_alive(),
                };
                buf.drain(..head_len);
                event
            }
            Event::Reject(portico_core::Rejection { error, .. }) => Seen::Reject(error),
            Event::Close => Seen::Close,
            other => panic!("an event this test does not know: {other:?}"),
        };
        let stop = matches!(event, Seen::NeedMore | Seen::Close);
        seen.push(event);
        if stop {
            return (seen, buf.len());
        }
    }
    panic!("the connection never settled: {seen:?}");
}

fn events(input: &[u8]) -> Vec<Seen> {
    run(&mut Connection::default(), input).0
}

fn events_with(limits: Limits, input: &[u8]) -> Vec<Seen> {
    run(&mut Connection::new(limits), input).0
}

fn req(target: &str, head_len: usize, keep_alive: bool) -> Seen {
    Seen::Request { target: target.to_owned(), head_len, keep_alive }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n")
}

#[test]
fn nothing_buffered_needs_more() {
    let mut conn = Connection::default();
    assert!(conn.awaiting_head());
    assert!(matches!(conn.poll(b"", Moment::ZERO), Event::NeedMore));
    assert!(matches!(conn.poll(b"GET / HT", Moment::ZERO), Event::NeedMore));
    assert!(conn.awaiting_head());
    assert_eq!(conn.limits(), &Limits::default());
    let limits = Limits::default().with_max_body(7);
    assert_eq!(Connection::new(limits).limits(), &limits);
}

#[test]
fn three_pipelined_requests_come_out_in_order() {
    let (a, b, c) = (get("/a"), get("/bb"), get("/ccc"));
    let input = format!("{a}{b}{c}");
    assert_eq!(
        events(input.as_bytes()),
        [
            req("/a", a.len(), true),
            req("/bb", b.len(), true),
            req("/ccc", c.len(), true),
            Seen::NeedMore,
        ]
    );
}

#[test]
fn request_fields_borrow_from_the_polled_buffer() {
    let buf = b"HEAD /x?y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let mut conn = Connection::default();
    let Event::Request(request) = conn.poll(buf, Moment::ZERO) else { panic!("a whole request") };
    assert_eq!(request.method(), Method::Head);
    assert_eq!(request.version(), Version::Http10);
    assert_eq!(request.framing(), Framing::None);
    assert_eq!(request.target().as_ptr(), buf[5..].as_ptr());
    assert_eq!(request.head_len(), buf.len());
}

#[test]
fn http_1_1_persists_by_default() {
    let input = format!("{}{}", get("/1"), get("/2"));
    let seen = events(input.as_bytes());
    assert!(matches!(
        &seen[..],
        [Seen::Request { keep_alive: true, .. }, Seen::Request { .. }, Seen::NeedMore]
    ));
}

#[test]
fn connection_close_ends_the_connection() {
    for value in ["close", "Close", "keep-alive, close", "upgrade,CLOSE"] {
        let first = format!("GET /1 HTTP/1.1\r\nHost: h\r\nConnection: {value}\r\n\r\n");
        let input = format!("{first}{}", get("/2"));
        // The pipelined request after it is never looked at.
        assert_eq!(
            events(input.as_bytes()),
            [req("/1", first.len(), false), Seen::Close],
            "Connection: {value}"
        );
    }
}

#[test]
fn http_1_0_closes_by_default() {
    let first = "GET /1 HTTP/1.0\r\n\r\n";
    let input = format!("{first}{}", get("/2"));
    assert_eq!(events(input.as_bytes()), [req("/1", first.len(), false), Seen::Close]);
}

#[test]
fn http_1_0_with_keep_alive_persists() {
    let first = "GET /1 HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    let input = format!("{first}{}", get("/2"));
    assert_eq!(
        events(input.as_bytes()),
        [req("/1", first.len(), true), req("/2", get("/2").len(), true), Seen::NeedMore]
    );
    // Unless it also says close.
    let first = "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n";
    assert_eq!(events(first.as_bytes()), [req("/1", first.len(), false), Seen::Close]);
}

#[test]
fn after_a_request_that_does_not_keep_alive_every_poll_is_close() {
    let mut conn = Connection::default();
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let Event::Request(request) = conn.poll(buf, Moment::ZERO) else { panic!("a whole request") };
    assert!(!request.keep_alive());
    assert!(matches!(conn.poll(b"", Moment::ZERO), Event::Close));
    assert!(matches!(conn.poll(get("/").as_bytes(), Moment::ZERO), Event::Close));
    assert!(!conn.awaiting_head());
}

#[test]
fn input_is_complete_only_after_a_last_request_without_a_body() {
    let poll_once = |input: &str| {
        let mut conn = Connection::default();
        let _ = conn.poll(input.as_bytes(), Moment::ZERO);
        let restored = Connection::from_bytes(*conn.limits(), &conn.to_bytes()).unwrap();
        assert_eq!(restored, conn, "carried through to_bytes");
        conn.input_complete()
    };
    assert!(poll_once("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert!(poll_once("GET / HTTP/1.0\r\n\r\n"));
    // More may come: the next request, a body, the rest of a rejected head.
    assert!(!poll_once(&get("/")));
    assert!(!poll_once(
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\n"
    ));
    assert!(!poll_once(
        "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    ));
    assert!(!poll_once("GET / HTTP/1.1\r\nHost: h\r\nBad Field: x\r\n\r\n"));
    assert!(!poll_once("GET / HTTP/1.1\r\nHost: h\r\nConn"));
    assert!(!Connection::default().input_complete());

    // Still closed like any other last request.
    let mut conn = Connection::default();
    let _ = conn.poll(b"GET / HTTP/1.0\r\n\r\n", Moment::ZERO);
    assert!(matches!(conn.poll(get("/").as_bytes(), Moment::ZERO), Event::Close));
    assert!(!conn.awaiting_head());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn content_length_body_is_discarded_before_the_next_request() {
    let post = "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
    let input = format!("{post}hello world{}", get("/next"));
    assert_eq!(
        events(input.as_bytes()),
        [
            req("/form", post.len(), true),
            Seen::Discard(11),
            req("/next", get("/next").len(), true),
            Seen::NeedMore,
        ]
    );
}

#[test]
fn content_length_body_arriving_in_pieces_is_discarded_in_pieces() {
    let mut conn = Connection::default();
    let post = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabcd";
    let (seen, left) = run(&mut conn, post);
    assert_eq!(seen[1..], [Seen::Discard(4), Seen::NeedMore]);
    assert_eq!(left, 0);
    assert!(!conn.awaiting_head());
    let (seen, left) = run(&mut conn, b"efghijGET ");
    assert_eq!(seen, [Seen::Discard(6), Seen::NeedMore]);
    assert_eq!(left, 4);
    assert!(conn.awaiting_head());
}

/// The bytes a chunked body with extensions and trailers takes.
const CHUNKED_BODY: &[u8] = b"5;name=value\r\nhello\r\n\
    1A ; ext ; quoted=\"a b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
    0;last\r\n\
    Trailer-One: 1\r\n\
    Trailer-Two:  two  \r\n\
    \r\n";

#[test]
fn chunked_body_is_discarded_exactly() {
    let post = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let input = [post.as_bytes(), CHUNKED_BODY, get("/next").as_bytes()].concat();
    let seen = events(&input);
    assert_eq!(seen[0], req("/up", post.len(), true));
    let discarded: usize = seen
        .iter()
        .skip(1)
        .take_while(|e| matches!(e, Seen::Discard(_)))
        .map(|e| if let Seen::Discard(n) = e { *n } else { 0 })
        .sum();
    assert_eq!(discarded, CHUNKED_BODY.len());
    assert_eq!(seen[seen.len() - 2..], [req("/next", get("/next").len(), true), Seen::NeedMore]);
}

/// Chunked framing needs CRLF (RFC 9112 §7.1; only the start-line and
/// fields may end in a bare LF, §2.2). Accepting `3\nabc\n0\n\n` once let
/// a body end where a front end reading it differently would not: a
/// smuggling shape. Now it is a framing error, and the connection closes.
#[test]
fn chunked_body_with_bare_lf_is_a_framing_error() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        &b"3\nabc\r\n0\r\n\r\n"[..],
        b"3\r\nabc\n0\r\n\r\n",
        b"3\r\nabc\r\n0\n\r\n",
        b"3\r\nabc\r\n0\r\n\n",
    ] {
        let input = [post.as_bytes(), body, get("/n").as_bytes()].concat();
        assert_eq!(events(&input), [req("/", post.len(), true), Seen::Close], "{body:?}");
    }
}

#[test]
fn chunked_body_arriving_byte_by_byte_discards_the_same_bytes() {
    let post = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut conn = Connection::default();
    let (seen, left) = run(&mut conn, post);
    assert_eq!(seen.len(), 2);
    assert_eq!(left, 0);
    let mut buf = Vec::new();
    let mut discarded = 0;
    for &byte in CHUNKED_BODY {
        buf.push(byte);
        let (seen, left) = run(&mut conn, &buf);
        for event in &seen {
            match event {
                Seen::Discard(n) => discarded += n,
                Seen::NeedMore => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        buf.drain(..buf.len() - left);
    }
    assert_eq!(discarded, CHUNKED_BODY.len());
    assert!(buf.is_empty());
    assert!(conn.awaiting_head());
}

#[test]
fn bad_chunk_framing_closes() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let bad: [&[u8]; 9] = [
        b"zz\r\n",                             // not a hex size
        b"\r\n",                               // no size at all
        b"-1\r\n",                             // sign
        b"5 \r\nhello\r\n0\r\n\r\n",           // whitespace not followed by ';'
        b"5\r\nhelloX\r\n0\r\n\r\n",           // data longer than its size
        b"5\r\nhello\r0\r\n\r\n",              // bare CR after data
        b"0\r\nX: a\r\n b\r\n\r\n",            // obs-fold in the trailer
        b"0\r\nBad Name: v\r\n\r\n",           // trailer that is not a field
        b"5\r\nhello\r\n0\r\nX: \x00\r\n\r\n", // control character in a trailer
    ];
    for body in bad {
        let input = [post.as_bytes(), body, get("/next").as_bytes()].concat();
        let seen = events(&input);
        assert_eq!(seen.first(), Some(&req("/", post.len(), true)));
        assert_eq!(
            seen.last(),
            Some(&Seen::Close),
            "{:?}: {seen:?}",
            String::from_utf8_lossy(body)
        );
        assert!(
            !seen[1..].iter().any(|e| matches!(e, Seen::Request { .. })),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn an_endless_chunk_size_line_closes() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut long_ext = b"1;".to_vec();
    long_ext.extend(std::iter::repeat_n(b'x', 8192));
    let input = [post.as_bytes(), &long_ext].concat();
    assert_eq!(events(&input).last(), Some(&Seen::Close));
}

#[test]
fn chunk_size_beyond_u64_closes() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let input = format!("{post}{}\r\n", "f".repeat(17));
    assert_eq!(events(input.as_bytes()).last(), Some(&Seen::Close));
}

#[test]
fn chunked_body_above_max_body_closes() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    // A chunked body counts as the bytes it takes on the wire.
    let body = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    let limits = Limits::default().with_max_body(body.len() as u64);

    // Exactly max_body bytes is fine.
    let at_limit = format!("{post}{body}{}", get("/n"));
    let seen = events_with(limits, at_limit.as_bytes());
    assert_eq!(seen[seen.len() - 2..], [req("/n", get("/n").len(), true), Seen::NeedMore]);

    // A chunk that would go over closes, as soon as its size announces it.
    let over = format!("{post}5\r\nhello\r\n5\r\nworld\r\n8\r\n");
    assert_eq!(events_with(limits, over.as_bytes()).last(), Some(&Seen::Close));
    let over = format!("{post}1a\r\n");
    assert_eq!(events_with(limits, over.as_bytes()).last(), Some(&Seen::Close));

    // Trailers count too, or an endless trailer section would hold the
    // connection open.
    let trailers = format!("{post}0\r\nX-Long-Trailer: {}\r\n", "1".repeat(30));
    assert_eq!(events_with(limits, trailers.as_bytes()).last(), Some(&Seen::Close));
}

#[test]
fn errors_are_rejected_then_the_connection_closes() {
    let cases: [(&[u8], ProtocolError); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", ProtocolError::BadHost),
        (b"GET / HTTP/2.0\r\n\r\n", ProtocolError::VersionNotSupported),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ProtocolError::Malformed),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            ProtocolError::UnknownTransferCoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n",
            ProtocolError::BodyTooLarge,
        ),
    ];
    for (input, error) in cases {
        let mut conn = Connection::default();
        let (seen, _) = run(&mut conn, input);
        assert_eq!(
            seen,
            [Seen::Reject(error), Seen::Close],
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(matches!(conn.poll(get("/").as_bytes(), Moment::ZERO), Event::Close));
    }
}

#[test]
fn an_error_after_a_good_request_is_rejected_in_turn() {
    let first = get("/ok");
    let input = format!("{first}GET / HTTP/1.1\r\nHost : h\r\n\r\n{}", get("/never"));
    assert_eq!(
        events(input.as_bytes()),
        [req("/ok", first.len(), true), Seen::Reject(ProtocolError::Malformed), Seen::Close]
    );
}

#[test]
fn expect_100_continue_with_a_body_does_not_keep_alive() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    let input = format!("{post}hello{}", get("/n"));
    assert_eq!(events(input.as_bytes()), [req("/", post.len(), false), Seen::Close]);

    let post =
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n";
    assert_eq!(events(post.as_bytes()), [req("/", post.len(), false), Seen::Close]);

    // Without a body there is nothing to wait for.
    let get_expect = "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n";
    assert_eq!(events(get_expect.as_bytes()), [req("/", get_expect.len(), true), Seen::NeedMore]);
}

#[test]
fn leading_empty_lines_between_requests_are_skipped() {
    // Some clients send a CRLF after a POST body.
    let post = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n";
    let second = format!("\r\n{}", get("/2"));
    let input = format!("{post}ab{second}");
    assert_eq!(
        events(input.as_bytes()),
        [
            req("/", post.len(), true),
            Seen::Discard(2),
            req("/2", second.len(), true),
            Seen::NeedMore
        ]
    );
}

#[test]
fn connection_is_copy_and_resumes_from_a_copy() {
    // A stateless guest hands the state back and forth with the bytes.
    let post = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab";
    let mut conn = Connection::default();
    let (_, left) = run(&mut conn, post);
    assert_eq!(left, 0);
    let mut resumed = conn;
    assert_eq!(resumed, conn);
    let (seen, _) = run(&mut resumed, b"cdGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(seen[0], Seen::Discard(2));
    assert!(matches!(seen[1], Seen::Request { .. }));
}

/// Found by fuzzing (connection_chunks): the bare-LF check on chunked
/// framing lines also ran on chunk data, so a data piece that began with
/// LF closed the connection when the bytes arrived in small reads, but
/// not when they arrived at once.
#[test]
fn chunk_data_may_start_with_lf_in_any_split() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let body = b"3\r\n\nab\r\n0\r\n\r\n";
    let input = [post.as_bytes(), body, get("/n").as_bytes()].concat();
    let whole = events(&input);
    assert_eq!(whole.last(), Some(&Seen::NeedMore), "{whole:?}");
    assert!(whole.contains(&req("/n", get("/n").len(), true)), "{whole:?}");
    for piece in 1..input.len() {
        let mut conn = Connection::default();
        let mut buf = Vec::new();
        let mut closed = false;
        for chunk in input.chunks(piece) {
            buf.extend_from_slice(chunk);
            loop {
                match conn.poll(&buf, Moment::ZERO) {
                    Event::NeedMore => break,
                    Event::Discard(n) => drop(buf.drain(..n)),
                    Event::Request(r) => {
                        let n = r.head_len();
                        buf.drain(..n);
                    }
                    _ => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        assert!(!closed, "closed when fed in pieces of {piece}");
    }
}

/// Found in review: chunk extensions were not counted against
/// `max_body`, so 2000 one-byte chunks with 4 KB extensions made an 8 MB
/// body that was skipped in full. Now the framing bytes count too.
#[test]
fn chunk_extensions_count_against_the_body_limit() {
    let post = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    let ext = "x".repeat(4000);
    let chunk = format!("1;a=\"{ext}\"\r\nX\r\n");
    let limits = Limits::default().with_max_body(64 * 1024);
    let mut input = post.as_bytes().to_vec();
    for _ in 0..20 {
        input.extend_from_slice(chunk.as_bytes());
    }
    input.extend_from_slice(b"0\r\n\r\n");
    input.extend_from_slice(get("/n").as_bytes());
    let seen = events_with(limits, &input);
    assert_eq!(seen.last(), Some(&Seen::Close), "{seen:?}");
}
