//! Per-request cost of the two hosts' handlers on the same requests over
//! the same root (`static/`), without sockets: the native handler (the
//! core in-process, cap-std lookups) against the WASI handler (the same
//! core in a wasmtime guest). Run: `cargo bench -p portico-bench --bench
//! hosts`. Prints both and the WASI/native ratio.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::Criterion;
use portico::{Handler, NativeHandler, Now, RootDir, Step};
use portico_bench::mean_ns;
use portico_core::Site;
use portico_wasi::{GUEST, WasiHandler};

const REQUESTS: [(&str, &[u8]); 4] = [
    // What wrk sends in bench/load.py: one small file, no other fields.
    ("small_file", b"GET /style.css HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"),
    ("index", b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"),
    ("missing", b"GET /no/such/file.html HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ("browser_get", include_bytes!("../corpus/browser_get.http")),
];

/// One whole request through a handler, as the server loop drives it: the
/// step, and the head serialised as the loop does before writing it.
fn serve_one<H: Handler>(
    handler: &H,
    worker: &mut H::Worker,
    request: &[u8],
    out: &mut Vec<u8>,
) -> u16 {
    let mut conn = handler.connect();
    match handler.step(worker, &mut conn, request, Now::current(), false) {
        Step::Respond { response, .. } => {
            out.clear();
            response.write_head(out);
            response.status()
        }
        // portico-wasi: the head as the guest wrote it; the server copies
        // it into its send buffer.
        Step::RespondWritten { response, .. } => {
            out.clear();
            out.extend_from_slice(&response.head);
            response.status
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static");
    let native = NativeHandler::new(RootDir::open(&root).unwrap(), Site::default());
    let wasi = WasiHandler::new(GUEST, &root, Site::default()).unwrap();
    // Each as one worker thread of the server holds it.
    let (mut native_worker, mut wasi_worker) = (native.worker(), wasi.worker());
    let mut c = Criterion::default().configure_from_args();
    for (name, request) in REQUESTS {
        let mut out = Vec::with_capacity(1024);
        assert_eq!(
            serve_one(&native, &mut native_worker, request, &mut out),
            serve_one(&wasi, &mut wasi_worker, request, &mut out)
        );
        let mut group = c.benchmark_group(format!("host/{name}"));
        group.bench_function("native", |b| {
            b.iter(|| serve_one(&native, &mut native_worker, black_box(request), &mut out));
        });
        group.bench_function("wasi", |b| {
            b.iter(|| serve_one(&wasi, &mut wasi_worker, black_box(request), &mut out));
        });
        group.finish();
    }
    c.final_summary();

    println!("\n{:<12} {:>12} {:>12} {:>12}", "request", "native µs", "wasi µs", "wasi/native");
    for (name, _) in REQUESTS {
        let group = format!("host_{name}");
        if let (Some(n), Some(w)) = (mean_ns(&group, "native"), mean_ns(&group, "wasi")) {
            println!("{:<12} {:>12.2} {:>12.2} {:>11.2}x", name, n / 1e3, w / 1e3, w / n);
        }
    }
}
