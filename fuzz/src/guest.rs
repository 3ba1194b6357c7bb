//! The `guest_answer` target: what a compromised guest can make the host
//! believe. The host reads a guest's answer with `portico_abi`'s
//! `decode_block` (the result block in guest memory) and `ranges_fit`
//! (its file ranges against the file the guest saw), the sandbox's trust
//! boundary; this feeds them arbitrary memory and checks that whatever
//! they accept is something the host may act on:
//!
//! - no panic, whatever the bytes;
//! - a step consumes no more than the input it was given;
//! - a response's head is one the host may write as it is: checked here
//!   again by a second, plainer reading of RFC 9112 than the decoder's
//!   (status line with the response's own status, then `name: value`
//!   fields whose name is a token and whose value holds no CR, LF or
//!   other control but tab, then the empty line, and nothing after);
//! - a file it names is a normal path below the root (no `..`, `.` or
//!   empty segment, not absolute, no backslash or control character), so
//!   the host's open beneath the root cannot be steered out of it;
//! - once `ranges_fit` accepts it, every file range lies within the size
//!   the guest reported (which the host then checks the opened file has);
//! - what it decoded encodes back to exactly the bytes it read (the ABI
//!   has one encoding of each value, so nothing is read two ways).
//!
//! Not part of `lib.rs`: it needs `portico_abi`, which the core's replay
//! of the other targets (`core/tests/fuzz_regressions.rs`) cannot use;
//! `host-wasi/abi/tests/fuzz_regressions.rs` replays this one.

use portico_abi::{BlockError, MAX_FIELDS, decode_block, encode_result, ranges_fit};
use portico_core::{Segment, Step};

/// Guest memory from `data`: `data[0]` picks how the block's length word
/// is made (the true length, one off either way, or the next four bytes
/// as they are), `data[1]` how many bytes of other memory come before the
/// block, `data[2..4]` the input length the step was given; the rest is
/// the block's bytes. Most inputs are then a block whose length is right
/// and whose bytes reach the decoder's checks.
pub fn guest_answer(data: &[u8]) {
    let [mode, at, a, b, rest @ ..] = data else { return };
    let input_len = usize::from(u16::from_le_bytes([*a, *b]));
    let (total, bytes) = match mode % 4 {
        0 => (rest.len() as u64 + 4, rest),
        1 => (rest.len() as u64 + 5, rest),
        2 => ((rest.len() as u64 + 4).saturating_sub(1), rest),
        _ => match rest {
            [w, x, y, z, bytes @ ..] => (u64::from(u32::from_le_bytes([*w, *x, *y, *z])), bytes),
            _ => return,
        },
    };
    let Ok(total) = u32::try_from(total) else { return };
    let at = usize::from(*at);
    let mut memory = vec![0xa5; at];
    memory.extend_from_slice(&total.to_le_bytes());
    memory.extend_from_slice(bytes);

    let result = match decode_block(&memory, at, input_len, Vec::new()) {
        Ok(result) => result,
        Err(BlockError::Size(size)) => {
            assert_eq!(size, total);
            return;
        }
        Err(_) => return,
    };
    // What was read: the block's bytes after its length word.
    let read = &memory[at + 4..at + total as usize];
    assert_eq!(encode_result(&result), read, "a value read from bytes it does not encode to");

    let consumed = match &result.step {
        Step::Discard(n) | Step::Respond { consumed: n, .. } => *n,
        _ => 0,
    };
    assert!(consumed <= input_len, "consumed {consumed} of {input_len}");
    let Step::Respond { response, .. } = &result.step else { return };
    assert!(
        head_is_sound(&response.head, response.status),
        "a head the host would write as it is: {:?}",
        String::from_utf8_lossy(&response.head)
    );
    let Some(file) = response.body.handle() else { return };
    let path = file.path.as_str();
    assert!(path_is_below_the_root(path), "a path out of the root: {path:?}");
    if ranges_fit(response) {
        for segment in response.body.segments() {
            if let Segment::File { offset, len } = segment {
                let end = offset.checked_add(len);
                assert!(end.is_some_and(|end| end <= file.size), "{offset}+{len} of {}", file.size);
            }
        }
    }
}

/// RFC 9112's response head, read plainly: `HTTP/1.1 NNN reason` with
/// `status`, then `name: value` lines, each ending in CRLF, then CRLF.
fn head_is_sound(head: &[u8], status: u16) -> bool {
    let Some(text) = head.strip_suffix(b"\r\n\r\n") else { return false };
    let lines = crlf_lines(text);
    let Some((status_line, fields)) = lines.split_first() else { return false };
    let expected = format!("HTTP/1.1 {status:03} ");
    let Some(reason) = status_line.strip_prefix(expected.as_bytes()) else { return false };
    reason.iter().all(|&b| is_field_byte(b))
        && fields.len() <= MAX_FIELDS
        && fields.iter().all(|line| {
            let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            !name.is_empty()
                && name.iter().all(|&b| is_token_byte(b))
                && value.iter().all(|&b| is_field_byte(b))
        })
}

/// `text` cut at each CRLF (a lone CR or LF stays in its line, where
/// [`is_field_byte`] refuses it).
fn crlf_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.windows(2).position(|pair| pair == b"\r\n") {
        lines.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    lines.push(rest);
    lines
}

/// RFC 9110's tchar.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte of a field value or a reason phrase: visible, space, tab or
/// obs-text; never CR, LF, NUL or another control.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// A normal relative path: segments that are not empty, `.` or `..`, with
/// no backslash or control character.
fn path_is_below_the_root(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|segment| {
            !matches!(segment, "" | "." | "..")
                && !segment.contains('\\')
                && !segment.chars().any(char::is_control)
        })
}
