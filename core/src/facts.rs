//! What a log line says of a request, found in the bytes the client sent:
//! the request line (or whatever stood in its place), its three parts, and
//! a header field's first value. It reads raw bytes, not the parsed
//! request, because a log line is also written for bytes that did not
//! parse (a 400, a 408 for a head cut short) and because portico-wasi's
//! host never sees its guest's parse: every host logs the same facts of
//! the same bytes.

/// The request line and header lines at the start of some input (from
/// the first byte of a request; more may follow, only the head is read).
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'b> {
    line: &'b [u8],
    fields: &'b [u8],
}

impl<'b> RequestFacts<'b> {
    /// The facts of the request whose bytes begin `input`. Leading empty
    /// lines are skipped, as RFC 9112 §2.2 lets a server.
    #[must_use]
    pub fn of(input: &'b [u8]) -> Self {
        let start = input.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(input.len());
        let input = &input[start..];
        let (line, fields) = match input.iter().position(|&b| b == b'\n') {
            Some(end) => (&input[..end], &input[end + 1..]),
            None => (input, &[][..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Self { line, fields }
    }

    /// The request line without its line ending; empty when there was no
    /// request (a connection refused at the cap).
    #[must_use]
    pub fn line(&self) -> &'b [u8] {
        self.line
    }

    /// The first value of header field `name` (matched case-insensitively)
    /// before the head's empty line, without the whitespace around it.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&'b [u8]> {
        for line in self.fields.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            if line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
                return Some(line[colon + 1..].trim_ascii());
            }
        }
        None
    }
}

/// A request line's `[method, target, protocol]`: the text before the
/// first space, between it and the last, after the last (a target with
/// spaces in it stays whole). A line with one space has no protocol, one
/// with none only a method, an empty one nothing. It takes any line (one
/// a log cut short, say), not only [`RequestFacts::line`].
#[must_use]
pub fn request_line_parts(line: &[u8]) -> [Option<&[u8]>; 3] {
    if line.is_empty() {
        return [None, None, None];
    }
    let Some(first) = line.iter().position(|&b| b == b' ') else {
        return [Some(line), None, None];
    };
    let last = line.iter().rposition(|&b| b == b' ').unwrap_or(first);
    if last == first {
        return [Some(&line[..first]), Some(&line[first + 1..]), None];
    }
    [Some(&line[..first]), Some(&line[first + 1..last]), Some(&line[last + 1..])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_skips_leading_newlines_and_strips_cr() {
        assert_eq!(
            RequestFacts::of(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n").line(),
            b"GET / HTTP/1.1"
        );
        assert_eq!(RequestFacts::of(b"GET /partial").line(), b"GET /partial");
        assert_eq!(RequestFacts::of(b"").line(), b"");
    }

    #[test]
    fn the_line_in_parts() {
        let parts = request_line_parts;
        assert_eq!(
            parts(b"GET / HTTP/1.1"),
            [Some(&b"GET"[..]), Some(&b"/"[..]), Some(&b"HTTP/1.1"[..])]
        );
        assert_eq!(
            parts(b"GET /a b HTTP/1.1"),
            [Some(&b"GET"[..]), Some(&b"/a b"[..]), Some(&b"HTTP/1.1"[..])]
        );
        assert_eq!(parts(b"GET /cut"), [Some(&b"GET"[..]), Some(&b"/cut"[..]), None]);
        assert_eq!(parts(b"GARBAGE"), [Some(&b"GARBAGE"[..]), None, None]);
        assert_eq!(parts(b""), [None, None, None]);
    }

    #[test]
    fn fields_are_found_case_insensitively_in_the_head_only() {
        let facts = RequestFacts::of(
            b"GET / HTTP/1.1\r\nuser-AGENT:  curl/8 \r\nHost: x\r\n\r\n\
              GET / HTTP/1.1\r\nReferer: http://next/\r\n\r\n",
        );
        assert_eq!(facts.field("user-agent"), Some(&b"curl/8"[..]));
        assert_eq!(facts.field("referer"), None, "a field of the next request");
        let facts = RequestFacts::of(b"GET / HTTP/1.1\nReferer:http://a/\nUser-Agent: x");
        assert_eq!(facts.field("referer"), Some(&b"http://a/"[..]));
        assert_eq!(facts.field("user-agent"), Some(&b"x"[..]), "a head cut short");
    }
}
