//! Each option's value from text, checked as the core checks it, with a
//! one-line reason when it cannot be used. Command lines (as clap value
//! parsers), files and variables all go through these.

use std::net::IpAddr;

use portico_core::Site;

use crate::{LogFormat, MAX_WORKERS};

/// One plain file name, as the site configuration checks it.
pub fn index(s: &str) -> Result<String, String> {
    Site::default().with_index_names([s]).map(|_| s.to_owned()).map_err(|error| error.to_string())
}

/// `Name: value`, checked as a header field the site may add.
pub fn header(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once(':') else {
        return Err(format!("'{s}' is not 'Name: value'"));
    };
    let (name, value) = (name.to_owned(), value.trim_matches([' ', '\t']).to_owned());
    Site::default()
        .with_header(name.clone(), value.clone())
        .map(|_| (name, value))
        .map_err(|error| error.to_string())
}

/// A Cache-Control value with nothing in it that could split the head.
pub fn cache_control(s: &str) -> Result<String, String> {
    Site::default()
        .with_cache_control(Some(s.to_owned()))
        .map(|_| s.to_owned())
        .map_err(|error| error.to_string())
}

/// A fallback page: a normal path below the root (`index.html`,
/// `app/shell.html`; a leading `/` is allowed, as people write URLs).
pub fn fallback(s: &str) -> Result<String, String> {
    let path = s.strip_prefix('/').unwrap_or(s);
    Site::default()
        .with_fallback(Some(path))
        .map(|_| path.to_owned())
        .map_err(|error| error.to_string())
}

/// `::1` and `[::1]` both work, as people write IPv6 addresses both ways.
pub fn ip(s: &str) -> Result<IpAddr, String> {
    let bare = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(s);
    bare.parse().map_err(|_| format!("'{s}' is not an IP address (try 127.0.0.1 or ::1)"))
}

/// A port number, 0 to 65535.
pub fn port(s: &str) -> Result<u16, String> {
    number(s, "a port number (0 to 65535)")
}

/// A connection cap: at least 1.
pub fn connections(s: &str) -> Result<u32, String> {
    number(s, "a number of connections").and_then(connections_value)
}

/// Worker threads: 0 (the host's default) to [`MAX_WORKERS`].
pub fn workers(s: &str) -> Result<u32, String> {
    number(s, "a number of workers").and_then(workers_value)
}

/// A timeout in whole seconds: at least 1.
pub fn seconds(s: &str) -> Result<u64, String> {
    number(s, "a number of seconds").and_then(seconds_value)
}

/// [`connections`] of a number a file already gave as one.
pub(crate) fn connections_value(n: u32) -> Result<u32, String> {
    if n == 0 { Err("must be at least 1".into()) } else { Ok(n) }
}

/// [`workers`] of a number a file already gave as one.
pub(crate) fn workers_value(n: u32) -> Result<u32, String> {
    if n > MAX_WORKERS {
        Err(format!("at most {MAX_WORKERS} (0: one per core, half on loopback)"))
    } else {
        Ok(n)
    }
}

/// [`seconds`] of a number a file already gave as one.
pub(crate) fn seconds_value(n: u64) -> Result<u64, String> {
    if n == 0 { Err("must be at least 1 (seconds)".into()) } else { Ok(n) }
}

/// A size in bytes: a whole number, optionally with `K`, `M` or `G`
/// (powers of 1024; `KiB`, `MB` and the like read the same), `0` included.
pub fn size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("'{s}' is not a size (bytes, or with K, M or G)")),
    };
    let number: u64 =
        number.parse().map_err(|_| format!("'{s}' is not a size (bytes, or with K, M or G)"))?;
    number.checked_mul(1 << shift).ok_or_else(|| format!("'{s}' is too large"))
}

/// A media type or range to compress: `type/subtype` or `type/*`, as
/// tokens.
pub fn media_range(s: &str) -> Result<String, String> {
    let text = s.trim();
    let token = |t: &str| !t.is_empty() && t.bytes().all(portico_core::is_tchar);
    match text.split_once('/') {
        Some((kind, sub)) if token(kind) && (sub == "*" || token(sub)) && kind != "*" => {
            Ok(text.to_ascii_lowercase())
        }
        _ => Err(format!("'{s}' is not a media type (type/subtype or type/*)")),
    }
}

/// A whole number, or why `s` is not `what`.
fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| format!("'{s}' is not {what}"))
}

/// A log format by name.
pub fn log_format(s: &str) -> Result<LogFormat, String> {
    LogFormat::from_name(s).ok_or_else(|| format!("'{s}' is not common, combined or json"))
}

/// A flag as people write it: `1`, `yes`, `on`, `true`, or `0`, `no`,
/// `off`, `false` (any case; empty is false).
pub fn boolish(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "y" | "yes" | "on" | "true" => Ok(true),
        "" | "0" | "n" | "no" | "off" | "false" => Ok(false),
        _ => Err(format!("'{s}' is not yes or no (1/0, yes/no, on/off, true/false)")),
    }
}
