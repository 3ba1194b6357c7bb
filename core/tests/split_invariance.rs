//! The key property of a sans-I/O parser: what the connection decides
//! depends only on the bytes, never on how the network cut them up.
//!
//! Each input is fed the way a host feeds it (append, poll until it needs
//! more or closes) whole, byte by byte, and cut at arbitrary points, and the
//! events must be the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico_core::{Limits, Parsed, parse_request};
use proptest::prelude::*;
use proptest::sample::Index;

// The host-like driver and its event record are the fuzz crate's, so the
// proptest and the connection_chunks fuzz target check one thing.
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod invariants;

use invariants::{Seen, drive as drive_with, small_limits};

/// Feed `chunks` in order to a fresh connection, as a host would.
fn drive<'a>(limits: Limits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Seen> {
    drive_with(limits, chunks, false)
}

fn whole(limits: Limits, input: &[u8]) -> Vec<Seen> {
    drive(limits, [input])
}

fn byte_by_byte(limits: Limits, input: &[u8]) -> Vec<Seen> {
    drive(limits, input.chunks(1))
}

/// Cut `input` at the given positions.
fn split_at_points<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c <= input.len()).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(&input[start..cut]);
        start = cut;
    }
    pieces.push(&input[start..]);
    pieces
}

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

const VALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX:  v  \r\n\r\n",
    b"HEAD /x HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\nHost: h\n\n",
    b"\r\n\r\nGET /after-empty-lines HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: h\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
];

const WITH_BODIES: &[&[u8]] = &[
    b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /n HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
      5;ext=1\r\nhello\r\n1a ; a=\"b c\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: 1\r\nU:2\r\n\r\n\
      GET /n HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\nGET /n HTTP/1.1\nHost: h\n\n",
    b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
      POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n\
      GET /c HTTP/1.0\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    // Bodies that end early or break their framing.
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabcX\r\n",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5 \r\n",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\nA\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
    b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nshort",
];

const INVALID: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    b"GET / http/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\rHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET h:1 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /this/target/is/longer/than/twenty-four/bytes HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /second HTTP/1.1\r\n\r\n",
];

fn corpus() -> impl Iterator<Item = &'static [u8]> {
    VALID.iter().chain(WITH_BODIES).chain(INVALID).copied()
}

/// Each corpus entry, fed whole, byte by byte, and cut once at every
/// position, under both the default and the small limits.
#[test]
fn corpus_is_split_invariant_at_every_single_cut() {
    for limits in [Limits::default(), small_limits()] {
        for input in corpus() {
            let expected = whole(limits, input);
            let shown = String::from_utf8_lossy(input);
            assert_eq!(byte_by_byte(limits, input), expected, "byte by byte: {shown:?}");
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(drive(limits, [a, b]), expected, "cut at {cut}: {shown:?}");
            }
        }
    }
}

/// The corpus says what it is meant to say, so the property above is not
/// vacuously comparing two empty lists.
#[test]
fn corpus_outcomes_are_as_intended() {
    let limits = Limits::default();
    for input in VALID {
        let seen = whole(limits, input);
        assert!(matches!(seen[0], Seen::Request(_)), "{seen:?}");
        assert!(!seen.iter().any(|e| matches!(e, Seen::Reject(_))), "{seen:?}");
    }
    for input in INVALID {
        let seen = whole(small_limits(), input);
        assert!(
            seen.iter().any(|e| matches!(e, Seen::Reject(_))),
            "{:?}: {seen:?}",
            String::from_utf8_lossy(input)
        );
    }

    let requests = |seen: &[Seen]| seen.iter().filter(|e| matches!(e, Seen::Request(_))).count();
    let seen = whole(limits, WITH_BODIES[2]);
    assert_eq!(requests(&seen), 2);
    // 9 + 7 (5;ext=1, hello) + 14 + 28 (1a ; a="b c", a-z) + 3 (0)
    // + 6 + 5 (trailers) + 2 (end).
    assert_eq!(seen[1], Seen::Discard(74));
    let seen = whole(limits, WITH_BODIES[4]);
    assert_eq!(requests(&seen), 3, "the 1.0 request closes the connection: {seen:?}");
    assert_eq!(seen.last(), Some(&Seen::Close));
    // Over the small body limit, the chunked body closes.
    assert_eq!(whole(small_limits(), WITH_BODIES[9]).last(), Some(&Seen::Close));
    assert_eq!(
        whole(limits, WITH_BODIES[10]).last(),
        Some(&Seen::End { buffered: 0, awaiting_head: false })
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Inputs near the grammar: messages built from request lines, header
/// lines and bodies, mostly right, some wrong, so that batches hold several
/// requests and bodies and go wrong, if at all, at a random depth.
fn stitched() -> impl Strategy<Value = Vec<u8>> {
    let request_line = prop_oneof![
        8 => prop::sample::select(vec![
            &b"GET / HTTP/1.1\r\n"[..],
            b"GET /x?y HTTP/1.1\r\n",
            b"POST /p HTTP/1.1\r\n",
            b"HEAD /h HTTP/1.1\n",
            b"GET /ten HTTP/1.0\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
        ]),
        1 => prop::sample::select(vec![
            &b"GET /a-target-longer-than-24-bytes HTTP/1.1\r\n"[..],
            b"GET / HTTP/2.0\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"\r\n",
        ]),
    ];
    let host = prop_oneof![
        8 => Just(&b"Host: h\r\n"[..]),
        1 => Just(&b""[..]),
        1 => Just(&b"Host: h\r\nHost: i\r\n"[..]),
    ];
    let header = prop_oneof![
        8 => prop::sample::select(vec![
            &b"Content-Length: 3\r\n"[..],
            b"Content-Length: 30\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close\r\n",
            b"Connection: keep-alive\r\n",
            b"Expect: 100-continue\r\n",
            b"X: y\n",
            b"Accept:  */*  \r\n",
        ]),
        1 => prop::sample::select(vec![
            &b" folded\r\n"[..],
            b"Bad : x\r\n",
            b"Content-Length:\r\n",
            b"X: \0\r\n",
        ]),
    ];
    let end = prop_oneof![8 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b""[..])];
    let body = prop::sample::select(vec![
        &b""[..],
        b"",
        b"abc",
        b"3\r\nabc\r\n0\r\n\r\n",
        b"1;e=v\r\nx\r\n0\r\nT: 1\r\n\r\n",
        b"f\r\n0123456789abcde\r\nf\r\n0123456789abcde\r\n0\r\n\r\n",
        b"3\r\nabcd\r\n",
        b"\r\n",
        b"\r",
        b"\0",
    ]);
    let message = (request_line, host, prop::collection::vec(header, 0..3), end, body).prop_map(
        |(line, host, headers, end, body)| [line, host, &headers.concat(), end, body].concat(),
    );
    prop::collection::vec(message, 0..5).prop_map(|messages| messages.concat())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => stitched(),
        2 => prop::sample::select(corpus().collect::<Vec<_>>()).prop_map(<[u8]>::to_vec),
        // Two corpus entries back to back: pipelining across every kind.
        2 => (prop::sample::select(corpus().collect::<Vec<_>>()),
              prop::sample::select(corpus().collect::<Vec<_>>()))
            .prop_map(|(a, b)| [a, b].concat()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn any_limits() -> impl Strategy<Value = Limits> {
    prop_oneof![Just(Limits::default()), Just(small_limits())]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Cut at arbitrary points, the bytes give the events they give whole.
    #[test]
    fn events_do_not_depend_on_how_bytes_arrive(
        input in any_input(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
        limits in any_limits(),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        let expected = whole(limits, &input);
        prop_assert_eq!(drive(limits, split_at_points(&input, &cuts)), expected.clone());
        prop_assert_eq!(byte_by_byte(limits, &input), expected.clone());
        // The state a WASI host carries between calls loses nothing.
        prop_assert_eq!(drive_with(limits, split_at_points(&input, &cuts), true), expected);
    }

    /// `parse_request` on any prefix of a buffer is `Partial` or what the
    /// whole buffer gives: it never decides early and differently.
    #[test]
    fn parse_request_on_a_prefix_is_partial_or_final(
        input in any_input(),
        limits in any_limits(),
    ) {
        let full = parse_request(&input, &limits);
        for end in 0..input.len() {
            let prefix = parse_request(&input[..end], &limits);
            match (&prefix, &full) {
                (Ok(Parsed::Partial), _) => {}
                // A complete head in the prefix is the same head, whatever
                // follows it.
                (Ok(Parsed::Complete(p)), Ok(Parsed::Complete(f))) => prop_assert_eq!(p, f),
                (Err(p), Err(f)) => prop_assert_eq!(p, f),
                _ => prop_assert!(
                    false,
                    "prefix {:?} gave {:?}, the whole buffer {:?}",
                    String::from_utf8_lossy(&input[..end]), prefix, full
                ),
            }
        }
    }
}
