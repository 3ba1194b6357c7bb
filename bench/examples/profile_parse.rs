//! A fixed workload for profilers (`valgrind --tool=callgrind`, `perf`):
//! parse each request of the benchmark corpus N times (default 20000).
//!
//!     cargo build --release -p portico-bench --example profile_parse
//!     valgrind --tool=callgrind target/release/examples/profile_parse 20000

use std::hint::black_box;

use portico_bench::corpus;
use portico_core::{Limits, Parsed, parse_request};

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let limits = Limits::default();
    let mut fields = 0;
    for _ in 0..rounds {
        for sample in corpus() {
            let mut bytes = black_box(sample.bytes);
            while let Ok(Parsed::Complete(request)) = parse_request(bytes, &limits) {
                fields += request.headers().len();
                bytes = &bytes[request.head_len()..];
            }
        }
    }
    println!("{fields} fields");
}
