//! Per-request cost of the two hosts' handlers on the same requests over
//! the same root (`static/`), without sockets: the native handler (the
//! core in-process, cap-std lookups) against the WASI handler (the same
//! core in a wasmtime guest). Run: `cargo bench -p portico-bench --bench
//! hosts`. Prints both and the WASI/native ratio.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::Criterion;
use portico::{Handler, NativeHandler, Reads, RootDir};
use portico_bench::{REQUESTS, mean_ns, serve_one};
use portico_core::Site;
use portico_wasi::{GUEST, WasiHandler};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static");
    let native = NativeHandler::new(RootDir::open(&root).unwrap(), Site::default());
    let wasi = WasiHandler::new(GUEST, &root, Site::default()).unwrap();
    // Each as one worker thread of the server holds it.
    let (mut native_worker, mut wasi_worker) =
        (native.worker(Reads::new()), wasi.worker(Reads::new()));
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
