//! Shared pieces of portico's benchmarks: the committed request corpus,
//! the requests a handler is timed on and how one is served, and a reader
//! for criterion's results, to print ratios between peers measured in the
//! same run (this machine is shared and noisy: absolute numbers mean
//! little, ratios in one run mean more).

use std::path::{Path, PathBuf};

use portico::{Handler, clock};
use portico_core::Step;

/// The requests a handler is timed on, by name, over `static/`.
pub const REQUESTS: [(&str, &[u8]); 4] = [
    // What wrk sends in bench/load.py: one small file, no other fields.
    ("small_file", b"GET /style.css HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
    ("index", b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"),
    ("missing", b"GET /no/such/file.html HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("browser_get", include_bytes!("../corpus/browser_get.http")),
];

/// One whole request through a handler, as the server loop drives it: the
/// step (the head serialised by the core, natively or in the guest), the
/// head copied into `out` as the loop does before writing it. The status.
///
/// # Panics
///
/// If the handler does not answer with a response: the requests above
/// are all answered at once.
pub fn serve_one<H: Handler>(
    handler: &H,
    worker: &mut H::Worker,
    request: &[u8],
    out: &mut Vec<u8>,
) -> u16 {
    let mut conn = handler.connect();
    match handler.step(worker, &mut conn, request, clock::now(), false) {
        // The head as the handler wrote it (portico) or the guest did
        // (portico-wasi); the server copies it into its send buffer and
        // keeps the buffer for the next response.
        Step::Respond { response, .. } => {
            out.clear();
            out.extend_from_slice(&response.head);
            handler.recycle(worker, response.head);
            response.status
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

/// One request (or batch) from `bench/corpus/`.
#[derive(Debug)]
pub struct Sample {
    /// The file name without `.http`.
    pub name: &'static str,
    /// The raw bytes.
    pub bytes: &'static [u8],
    /// How many requests the bytes hold.
    pub requests: usize,
}

/// The corpus: a browser GET with 13 header fields, a curl GET, a request
/// with a 4 KiB cookie, and 16 pipelined requests.
pub fn corpus() -> [Sample; 4] {
    [
        Sample {
            name: "browser_get",
            bytes: include_bytes!("../corpus/browser_get.http"),
            requests: 1,
        },
        Sample { name: "curl_get", bytes: include_bytes!("../corpus/curl_get.http"), requests: 1 },
        Sample {
            name: "cookie_4k",
            bytes: include_bytes!("../corpus/cookie_4k.http"),
            requests: 1,
        },
        Sample {
            name: "pipelined_16",
            bytes: include_bytes!("../corpus/pipelined_16.http"),
            requests: 16,
        },
    ]
}

/// criterion's output directory, next to the bench executable's profile
/// directory (`target/criterion`), unless `CRITERION_HOME` says otherwise.
fn criterion_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<bench>
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// The mean time in nanoseconds criterion just measured for
/// `group/function`, if it did.
pub fn mean_ns(group: &str, function: &str) -> Option<f64> {
    let path: PathBuf = criterion_home()?.join(group).join(function).join("new/estimates.json");
    mean_from_json(&std::fs::read_to_string(Path::new(&path)).ok()?)
}

/// `"mean":{..."point_estimate":N` from criterion's estimates.json.
fn mean_from_json(json: &str) -> Option<f64> {
    let mean = &json[json.find("\"mean\"")?..];
    let at = mean.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let rest = &mean[at..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_mean_point_estimate() {
        let json = r#"{"mean":{"confidence_interval":{"lower_bound":1.0},"point_estimate":123.5,"standard_error":2.0},"median":{"point_estimate":9.0}}"#;
        assert_eq!(super::mean_from_json(json), Some(123.5));
    }
}
