//! Two (or more) builds of the guest side by side in one process,
//! alternating 15 laps, so the machine's noise falls on all alike:
//!
//!     cargo build --release -p portico-bench --example guest_ab
//!     target/release/examples/guest_ab A.wasm B.wasm [REQUEST] [requests per lap]
//!
//! prints each module's best and mean time per whole request (step and
//! head, `portico_bench::serve_one`) through `WasiHandler` over `static/`;
//! REQUEST names one of `portico_bench::REQUESTS` (default `small_file`,
//! what wrk asks for in `load.py`). A module built as
//! `host-wasi/build.rs` builds the embedded one (set its
//! `CARGO_PROFILE_RELEASE_*` variables, and `--target-dir` elsewhere):
//!
//!     cargo build --release -p portico-guest --target wasm32-wasip1 --target-dir /tmp/g
//!
//! `CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS` tries code-generation flags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use portico::{Handler, Reads};
use portico_bench::{REQUESTS, serve_one};
use portico_core::Site;
use portico_wasi::WasiHandler;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (paths, rest): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| a.ends_with(".wasm"));
    let name = rest.first().map_or("small_file", |s| s.as_str());
    let Some(&(_, request)) = REQUESTS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = REQUESTS.iter().map(|(n, _)| *n).collect();
        panic!("no request named {name}: one of {names:?}");
    };
    let rounds: usize = rest.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static");
    let handlers: Vec<WasiHandler> = paths
        .iter()
        .map(|p| WasiHandler::new(&std::fs::read(p).unwrap(), &root, Site::default()).unwrap())
        .collect();
    let mut workers: Vec<_> = handlers.iter().map(|h| h.worker(Reads::new())).collect();
    let mut best = vec![f64::MAX; handlers.len()];
    let mut sum = vec![0f64; handlers.len()];
    let laps = 15;
    let mut out = Vec::with_capacity(1024);
    for _ in 0..laps {
        for (i, (handler, worker)) in handlers.iter().zip(&mut workers).enumerate() {
            let start = Instant::now();
            for _ in 0..rounds {
                black_box(serve_one(handler, worker, black_box(request), &mut out));
            }
            let ns = start.elapsed().as_nanos() as f64 / rounds as f64;
            best[i] = best[i].min(ns);
            sum[i] += ns;
        }
    }
    for (i, path) in paths.iter().enumerate() {
        println!("{path}: best {:.0} ns, mean {:.0} ns", best[i], sum[i] / laps as f64);
    }
}
