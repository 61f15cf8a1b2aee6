//! RESP request parser micro-benchmark: a 16-command pipeline (what a P16 client sends in one
//! write) parsed from one buffer, the way a connection drains its read buffer.
//!
//! Reported time is per command: each sample parses whole 16-command buffers and the elapsed
//! time is divided by 16 (`iter_custom`), so "time" reads as ns/command and "thrpt" as
//! commands/s.
//!
//!     cargo bench --bench parser
//!     cargo bench --bench parser -- set      # one case

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardis::protocol::parse::Parser;

const PIPELINE: usize = 16;
const MAX_BULK: u64 = 512 << 20;

/// `n` commands in RESP multibulk: `NAME key:NNNNNN [value]`, keys 10 bytes, values 32 bytes.
fn pipeline(name: &str, n: usize, value: Option<&[u8]>) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:06}");
        let argc = if value.is_some() { 3 } else { 2 };
        buf.extend_from_slice(format!("*{argc}\r\n${}\r\n{name}\r\n${}\r\n{key}\r\n", name.len(), key.len()).as_bytes());
        if let Some(v) = value {
            buf.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
            buf.extend_from_slice(v);
            buf.extend_from_slice(b"\r\n");
        }
    }
    buf
}

/// `n` inline commands (`GET key:NNNNNN\r\n`), as redis-cli and telnet users send them.
fn inline_pipeline(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| format!("GET key:{i:06}\r\n").into_bytes()).collect()
}

/// Parses every command in `buf`, touching each argument so nothing is optimized away.
/// Returns the number of commands.
#[inline]
fn parse_all(p: &mut Parser, buf: &[u8]) -> usize {
    let mut pos = 0;
    let mut cmds = 0;
    while pos < buf.len() {
        match p.parse(&buf[pos..], MAX_BULK, true) {
            Ok(Some(n)) => {
                let args = p.args(&buf[pos..pos + n]);
                for a in args.iter() {
                    black_box(a);
                }
                pos += n;
                cmds += 1;
            }
            other => panic!("benchmark input must parse completely: {:?}", other.err()),
        }
    }
    cmds
}

fn bench_case(c: &mut Criterion, name: &str, buf: Vec<u8>) {
    let mut p = Parser::new();
    assert_eq!(parse_all(&mut p, &buf), PIPELINE, "{name}: the buffer holds {PIPELINE} commands");
    let mut g = c.benchmark_group("parse_pipeline16");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(parse_all(&mut p, black_box(&buf)));
            }
            start.elapsed() / PIPELINE as u32
        })
    });
    g.finish();
}

fn parser(c: &mut Criterion) {
    let value = [b'x'; 32];
    bench_case(c, "set_32B_per_command", pipeline("SET", PIPELINE, Some(&value)));
    bench_case(c, "get_per_command", pipeline("GET", PIPELINE, None));
    bench_case(c, "get_inline_per_command", inline_pipeline(PIPELINE));
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = parser
}
criterion_main!(benches);
