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
    s.trim().parse().map_err(|_| format!("'{s}' is not a port number (0 to 65535)"))
}

/// A connection cap: at least 1.
pub fn connections(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of connections")),
    }
}

/// Worker threads: 0 (the host's default) to [`MAX_WORKERS`].
pub fn workers(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n <= MAX_WORKERS => Ok(n),
        _ => Err(format!("at most {MAX_WORKERS} (0: one per core, half on loopback)")),
    }
}

/// A timeout in whole seconds: at least 1.
pub fn seconds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1 (seconds)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of seconds")),
    }
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
