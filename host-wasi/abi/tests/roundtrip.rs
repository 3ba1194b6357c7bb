//! Every value survives encode → decode unchanged, and no byte string
//! makes a decoder panic: it gives a valid value (whose encoding is those
//! very bytes) or an error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use portico_abi::{
    AbiError, Call, FileRef, Miss, Refusal, StepResult, decode_call, decode_result, decode_site,
    encode_call, encode_result, encode_site,
};
use portico_core::{
    Body, FileId, Headers, Limits, Moment, Part, PathRule, Response, ResponseHead, STATE_LEN,
    SafePath, Site, Step, Written,
};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}"
}

fn value() -> impl Strategy<Value = String> {
    // Field content: visible ASCII, obs-text (as UTF-8), inner spaces and
    // tabs, no leading or trailing whitespace.
    prop_oneof![Just(String::new()), "[!-~\u{e9}\u{4e2d}]([ \t!-~\u{e9}]{0,30}[!-~])?"]
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::vec((name(), value()), 0..12).prop_map(|fields| {
        let mut headers = Headers::new();
        for (n, v) in fields {
            headers.try_push(n, v).unwrap();
        }
        headers
    })
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 _\u{e9}\u{4e2d}#?%:;,\\[\\]<>&'\"-]{1,12}"
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

fn path() -> impl Strategy<Value = SafePath> {
    prop::collection::vec(segment(), 0..5)
        .prop_map(|segments| SafePath::from_normal(&segments.join("/")).unwrap())
}

/// A file's path: not the root, which is a directory.
fn file_path() -> impl Strategy<Value = SafePath> {
    prop::collection::vec(segment(), 1..5)
        .prop_map(|segments| SafePath::from_normal(&segments.join("/")).unwrap())
}

fn time() -> impl Strategy<Value = SystemTime> {
    (-4_000_000_000_i64..300_000_000_000, 0u32..1_000_000_000).prop_map(|(secs, nanos)| {
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
        } else {
            SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
                + Duration::from_nanos(u64::from(nanos))
        }
    })
}

fn file_ref() -> impl Strategy<Value = FileRef> {
    (file_path(), any::<u64>(), prop::option::of(time()), prop::option::of(any::<(u64, u64)>()))
        .prop_map(|(path, size, modified, id)| FileRef {
            path,
            size,
            modified,
            id: id.map(|(device, inode)| FileId { device, inode }),
        })
}

fn body() -> impl Strategy<Value = Body<FileRef>> {
    let part = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Part::Bytes),
        any::<(u64, u64)>().prop_map(|(offset, len)| Part::File { offset, len }),
    ];
    prop_oneof![
        Just(Body::Empty),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        (file_ref(), any::<u64>(), any::<u64>()).prop_map(|(handle, offset, len)| Body::File {
            handle,
            offset,
            len
        }),
        (file_ref(), prop::collection::vec(part, 0..8))
            .prop_map(|(handle, parts)| Body::Parts { handle, parts }),
    ]
}

fn response() -> impl Strategy<Value = Written<FileRef>> {
    (100u16..=999, any::<bool>(), headers(), body()).prop_map(
        |(status, keep_alive, headers, body)| {
            let mut head = ResponseHead::new(status);
            head.keep_alive = keep_alive;
            head.headers = headers;
            Response::from_parts(head, body).written(Vec::new())
        },
    )
}

fn state() -> impl Strategy<Value = [u8; STATE_LEN]> {
    prop::array::uniform32(any::<u8>())
}

fn step_result() -> impl Strategy<Value = StepResult> {
    let action = prop_oneof![
        Just(Step::NeedMore),
        (1u32..).prop_map(|n| Step::Discard(n as usize)),
        (any::<u32>(), response())
            .prop_filter("a kept-alive response consumes", |(c, r)| *c > 0 || !r.keep_alive)
            .prop_map(|(consumed, response)| Step::Respond {
                consumed: consumed as usize,
                response
            }),
        Just(Step::Close),
    ];
    (state(), prop::option::of(any::<u64>()), any::<(bool, bool)>(), action).prop_map(
        |(state, wake, (awaiting_head, input_complete), action)| {
            StepResult::new(state, wake.map(Moment::from_nanos), awaiting_head, action)
                .with_input_complete(input_complete)
        },
    )
}

fn call() -> impl Strategy<Value = Call> {
    let miss = prop_oneof![Just(Miss::NotFound), Just(Miss::Forbidden), Just(Miss::Failed)];
    (state(), time(), any::<u64>(), any::<bool>(), prop::option::of((path(), miss))).prop_map(
        |(state, wall, now, timed_out, refused)| {
            let mut call = Call::new(state, wall, Moment::from_nanos(now));
            call.timed_out = timed_out;
            call.refused = refused.map(|(path, miss)| Refusal { path, miss });
            call
        },
    )
}

fn rule() -> impl Strategy<Value = PathRule> {
    ("/[a-z*?/]{0,12}", prop::option::of(value()), headers()).prop_map(
        |(pattern, cache, fields)| {
            let mut rule = PathRule::new(pattern).unwrap().with_cache_control(cache).unwrap();
            rule.headers = fields;
            rule
        },
    )
}

fn site() -> impl Strategy<Value = Site> {
    (
        prop::collection::vec(segment(), 0..4),
        prop::option::of(path().prop_filter("a file", |p| !p.is_root())),
        any::<(bool, bool, bool)>(),
        prop::option::of(value()),
        headers(),
        any::<(u32, u32, u16, u64, u64, u64)>(),
        prop::option::of(path().prop_filter("a file", |p| !p.is_root())),
        prop::collection::vec(rule(), 0..3),
    )
        .prop_map(
            |(index, page, (listings, hidden, cors), cache, extra, limits, fallback, rules)| {
                let (head, target, fields, body, idle, head_timeout) = limits;
                let mut site = Site::default()
                    .with_index_names(index)
                    .unwrap()
                    .with_not_found_page(page.as_ref().map(SafePath::as_str))
                    .unwrap()
                    .with_cache_control(cache)
                    .unwrap()
                    .with_hidden(hidden)
                    .with_limits(
                        Limits::default()
                            .with_max_head(head as usize)
                            .with_max_target(target as usize)
                            .with_max_headers(usize::from(fields))
                            .with_max_body(body)
                            .with_idle_timeout(Duration::from_nanos(idle))
                            .with_head_timeout(Duration::from_nanos(head_timeout)),
                    );
                site.listings = listings;
                site.extra_headers = extra;
                let mut site = site
                    .with_cors(cors)
                    .with_fallback(fallback.as_ref().map(SafePath::as_str))
                    .unwrap();
                for rule in rules {
                    site = site.with_rule(rule);
                }
                site
            },
        )
}

/// A decoder's answer to arbitrary bytes: an error, or a value that
/// encodes back to exactly those bytes (one encoding per value).
fn canonical<T>(
    bytes: &[u8],
    decode: fn(&[u8]) -> Result<T, AbiError>,
    encode: fn(&T) -> Vec<u8>,
) -> Result<(), TestCaseError> {
    if let Ok(value) = decode(bytes) {
        prop_assert_eq!(encode(&value), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn step_results_round_trip(result in step_result()) {
        prop_assert_eq!(decode_result(&encode_result(&result)).unwrap(), result);
    }

    #[test]
    fn calls_round_trip(call in call()) {
        prop_assert_eq!(decode_call(&encode_call(&call)).unwrap(), call);
    }

    #[test]
    fn sites_round_trip(site in site()) {
        prop_assert_eq!(decode_site(&encode_site(&site)).unwrap(), site);
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        canonical(&bytes, decode_result, encode_result)?;
        canonical(&bytes, decode_call, encode_call)?;
        canonical(&bytes, decode_site, encode_site)?;
    }

    /// Random bytes rarely get past the first tag; damaged valid
    /// encodings reach every field's checks.
    #[test]
    fn damaged_encodings_decode_or_fail_cleanly(
        result in step_result(),
        call in call(),
        site in site(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        for (mut bytes, which) in [(encode_result(&result), 0), (encode_call(&call), 1), (encode_site(&site), 2)] {
            for (at, byte) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            let cut = cut.index(bytes.len() + 1);
            for candidate in [&bytes[..], &bytes[..cut]] {
                match which {
                    0 => canonical(candidate, decode_result, encode_result)?,
                    1 => canonical(candidate, decode_call, encode_call)?,
                    _ => canonical(candidate, decode_site, encode_site)?,
                }
            }
        }
    }
}

#[test]
fn guests_are_not_trusted() {
    let respond = |consumed, keep_alive, status: u16, headers: Headers, body| {
        let mut head = ResponseHead::new(status);
        head.keep_alive = keep_alive;
        head.headers = headers;
        encode_result(&StepResult::new(
            [0; STATE_LEN],
            None,
            false,
            Step::Respond {
                consumed,
                response: Response::from_parts(head, body).written(Vec::new()),
            },
        ))
    };
    // A kept-alive response that consumed nothing would loop for ever.
    assert_eq!(
        decode_result(&respond(0, true, 200, Headers::new(), Body::Empty)),
        Err(AbiError::NoProgress)
    );
    assert!(decode_result(&respond(0, false, 400, Headers::new(), Body::Empty)).is_ok());
    // Statuses outside 100..=999.
    for status in [0, 99, 1000, u16::MAX] {
        assert_eq!(
            decode_result(&respond(1, true, status, Headers::new(), Body::Empty)),
            Err(AbiError::BadStatus)
        );
    }
    // A discard of nothing.
    let discard = encode_result(&StepResult::new([0; STATE_LEN], None, false, Step::Discard(1)));
    let mut zero = discard.clone();
    let at = STATE_LEN + 1 + 8 + 1;
    zero[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_result(&zero), Err(AbiError::NoProgress));
    // Heads that would split the response or carry a second one, a head
    // whose status line disagrees, and a path leaving the root, written by
    // hand as a hostile guest would.
    let head_at = STATE_LEN + 1 + 8 + 1 + 4 + 2 + 1;
    let with_head = |status: u16, head: &[u8]| {
        let mut bytes = respond(1, true, status, Headers::new(), Body::Empty);
        bytes.truncate(head_at);
        bytes.extend_from_slice(&u32::try_from(head.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(head);
        bytes
    };
    let mut ok = with_head(200, b"HTTP/1.1 200 OK\r\nX: a\r\n\r\n");
    ok.push(0);
    assert!(decode_result(&ok).is_ok());
    for (status, head) in [
        (200, &b"HTTP/1.1 200 OK\r\nX: a\nSet-Cookie: b\r\n\r\n"[..]),
        (200, b"HTTP/1.1 200 OK\r\nX: a\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
        (200, b"HTTP/1.1 200 OK\r\nX: a\r\n"),
        (200, b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"),
    ] {
        let mut bytes = with_head(status, head);
        bytes.push(0);
        assert_eq!(decode_result(&bytes), Err(AbiError::BadHeader));
    }
    for bad in ["../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a\\b", "a\0b", "", "."] {
        let mut bytes = with_head(200, b"HTTP/1.1 200 OK\r\n\r\n");
        bytes.push(2);
        bytes.extend_from_slice(&u16::try_from(bad.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(bad.as_bytes());
        bytes.extend_from_slice(&[0; 8 + 1 + 12 + 16 + 16]);
        assert_eq!(decode_result(&bytes), Err(AbiError::BadPath), "{bad}");
    }
}

/// The block in guest memory: its length word and its bounds are checked
/// before its bytes are read, and a step may not consume more than it was
/// given.
#[test]
fn result_blocks_are_read_trusting_nothing() {
    use portico_abi::{BlockError, MAX_RESULT, decode_block};
    let discard = encode_result(&StepResult::new([0; STATE_LEN], None, false, Step::Discard(7)));
    let block = |total: u32, bytes: &[u8]| {
        let mut memory = vec![0xaa; 3];
        memory.extend_from_slice(&total.to_le_bytes());
        memory.extend_from_slice(bytes);
        memory
    };
    let whole = u32::try_from(discard.len() + 4).unwrap();
    let memory = block(whole, &discard);
    let result = decode_block(&memory, 3, 7, Vec::new()).unwrap();
    assert_eq!(result.step, Step::Discard(7));
    assert_eq!(decode_block(&memory, 3, 6, Vec::new()), Err(BlockError::Overconsumed));
    assert_eq!(
        decode_block(&memory, memory.len() - 2, 7, Vec::new()),
        Err(BlockError::OutOfBounds)
    );
    assert_eq!(decode_block(&memory, usize::MAX - 1, 7, Vec::new()), Err(BlockError::OutOfBounds));
    let long = block(whole + 1, &discard);
    assert_eq!(decode_block(&long, 3, 7, Vec::new()), Err(BlockError::OutOfBounds));
    for total in [0, 3, u32::try_from(MAX_RESULT).unwrap() + 1, u32::MAX] {
        assert_eq!(
            decode_block(&block(total, &discard), 3, 7, Vec::new()),
            Err(BlockError::Size(total))
        );
    }
    let short = block(whole - 1, &discard);
    assert!(matches!(decode_block(&short, 3, 7, Vec::new()), Err(BlockError::Malformed(_))));
}

/// A body's file ranges must lie within the file the guest saw.
#[test]
fn file_ranges_must_fit_the_file_seen() {
    use portico_abi::ranges_fit;
    let file = FileRef {
        path: SafePath::from_normal("a.bin").unwrap(),
        size: 10,
        modified: None,
        id: None,
    };
    let answer = |body| Response::from_parts(ResponseHead::new(200), body).written(Vec::new());
    let range = |offset, len| Body::File { handle: file.clone(), offset, len };
    assert!(ranges_fit(&answer(range(0, 10))));
    assert!(ranges_fit(&answer(range(10, 0))));
    assert!(!ranges_fit(&answer(range(0, 11))));
    assert!(!ranges_fit(&answer(range(u64::MAX, 2))), "an offset that overflows");
    let parts = |parts| Body::Parts { handle: file.clone(), parts };
    assert!(ranges_fit(&answer(parts(vec![
        Part::Bytes(b"--b".to_vec()),
        Part::File { offset: 2, len: 8 }
    ]))));
    assert!(!ranges_fit(&answer(parts(vec![
        Part::File { offset: 0, len: 1 },
        Part::File { offset: 9, len: 2 }
    ]))));
    assert!(ranges_fit(&answer(Body::Bytes(b"page".to_vec()))));
}
