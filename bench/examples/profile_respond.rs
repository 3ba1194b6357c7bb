//! A fixed workload for profilers (`valgrind --tool=callgrind`, `perf`):
//! N whole requests through the native handler over `static/` (step and
//! head serialisation, as the server loop does them), default 200000.
//! Instruction counts from callgrind are the steady way to compare two
//! builds of the same path on this noisy machine.
//!
//!     cargo build --release -p portico-bench --example profile_respond
//!     valgrind --tool=callgrind target/release/examples/profile_respond index 200000

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use portico::{Handler, NativeHandler, Reads, RootDir, clock};
use portico_core::Site;
use portico_core::Step;

fn main() {
    let mut args = std::env::args().skip(1);
    let request: &[u8] = match args.next().as_deref() {
        Some("missing") => b"GET /no/such/file.html HTTP/1.1\r\nHost: localhost\r\n\r\n",
        _ => b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n",
    };
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static");
    let native = NativeHandler::new(RootDir::open(&root).unwrap(), Site::default());
    let mut files = native.worker(Reads::new());
    let mut out = Vec::with_capacity(1024);
    let mut bytes = 0;
    for _ in 0..rounds {
        let mut conn = native.connect();
        if let Step::Respond { response, .. } =
            native.step(&mut files, &mut conn, black_box(request), clock::now(), false)
        {
            out.clear();
            out.extend_from_slice(&response.head);
            bytes += out.len();
            native.recycle(&mut files, response.head);
        }
    }
    println!("{bytes} head bytes");
}
