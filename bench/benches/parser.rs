//! portico-core's request parser against httparse, on the same bytes.
//! Run: `cargo bench -p portico-bench --bench parser`. Prints each
//! throughput and portico's speed as a ratio of httparse's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use portico_bench::{corpus, mean_ns};
use portico_core::{Limits, Parsed, parse_request};

/// httparse gets as many header slots as portico accepts fields.
const SLOTS: usize = 100;

fn portico_parse_all(mut bytes: &[u8], limits: &Limits) -> usize {
    let mut n = 0;
    while !bytes.is_empty() {
        match parse_request(bytes, limits) {
            Ok(Parsed::Complete(request)) => {
                n += request.headers().len();
                bytes = &bytes[request.head_len()..];
            }
            _ => panic!("the corpus is valid"),
        }
    }
    n
}

fn httparse_parse_all(mut bytes: &[u8]) -> usize {
    let mut n = 0;
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; SLOTS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => {
                n += request.headers.len();
                bytes = &bytes[len..];
            }
            _ => panic!("the corpus is valid"),
        }
    }
    n
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let limits = Limits::default();
    for sample in corpus() {
        assert_eq!(portico_parse_all(sample.bytes, &limits), httparse_parse_all(sample.bytes));
        let mut group = c.benchmark_group(format!("parse/{}", sample.name));
        group.throughput(Throughput::Bytes(sample.bytes.len() as u64));
        group.bench_function("portico", |b| {
            b.iter(|| portico_parse_all(black_box(sample.bytes), &limits));
        });
        group
            .bench_function("httparse", |b| b.iter(|| httparse_parse_all(black_box(sample.bytes))));
        group.finish();
    }
    c.final_summary();

    println!(
        "\n{:<14} {:>8} {:>14} {:>14} {:>9}",
        "request", "bytes", "portico MB/s", "httparse MB/s", "ratio"
    );
    for sample in corpus() {
        let group = format!("parse_{}", sample.name);
        let (Some(ours), Some(peer)) = (mean_ns(&group, "portico"), mean_ns(&group, "httparse"))
        else {
            continue;
        };
        let mbps = |ns: f64| sample.bytes.len() as f64 / ns * 1e3;
        println!(
            "{:<14} {:>8} {:>14.0} {:>14.0} {:>8.2}x",
            sample.name,
            sample.bytes.len(),
            mbps(ours),
            mbps(peer),
            peer / ours
        );
    }
    println!("(ratio = portico throughput / httparse throughput; above 1 is faster)");
}
