//! One Common Log Format line per response, on stdout.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest request line logged; longer ones are cut, so a hostile
/// client cannot make log lines of any size.
const MAX_LOGGED_LINE: usize = 1024;

/// Write `host - - [date] "request line" status bytes` to stdout, in one
/// write so lines from different threads never interleave.
pub(crate) fn log(peer: IpAddr, when: SystemTime, request: &[u8], status: u16, bytes: u64) {
    let mut line = String::with_capacity(128);
    let _ = write!(line, "{peer} - - [{}] \"", clf_date(when));
    escape_into(&mut line, request_line(request));
    let _ = if bytes == 0 {
        writeln!(line, "\" {status} -")
    } else {
        writeln!(line, "\" {status} {bytes}")
    };
    // A closed stdout must not take the server down: drop the line.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// The first line of what the client sent for this request: the request
/// line, or whatever stood in its place.
fn request_line(input: &[u8]) -> &[u8] {
    let start = input.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(input.len());
    let input = &input[start..];
    let end = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
    let line = &input[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    &line[..line.len().min(MAX_LOGGED_LINE)]
}

/// Printable ASCII as is, `"` and `\` escaped, everything else `\xHH`, as
/// nginx does, so a request cannot forge log lines or terminal escapes.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            b' '..=b'~' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
}

/// `26/Nov/2026:13:03:29 +0000`
fn clf_date(when: SystemTime) -> String {
    let secs = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.get(month as usize - 1).copied().unwrap_or("Jan");
    format!(
        "{day:02}/{month}/{year}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), by the
/// proleptic Gregorian calendar (the era-based method from Howard
/// Hinnant's "chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clf_dates_match_known_instants() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(clf_date(at(0)), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_date(at(951_782_400)), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf_date(at(1_795_698_209)), "26/Nov/2026:13:03:29 +0000");
    }

    #[test]
    fn request_line_skips_leading_newlines_and_strips_cr() {
        assert_eq!(request_line(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n"), b"GET / HTTP/1.1");
        assert_eq!(request_line(b"GET /partial"), b"GET /partial");
    }

    #[test]
    fn hostile_bytes_are_escaped() {
        let mut s = String::new();
        escape_into(&mut s, b"GET /\x1b[31m\"x\\ HTTP/1.1");
        assert_eq!(s, "GET /\\x1B[31m\\\"x\\\\ HTTP/1.1");
    }
}
