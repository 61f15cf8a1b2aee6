//! Engine micro-benchmarks: string ops on one `shards::Shard`, with no runtime and no sockets,
//! over 100k and 1M preloaded keys (16-byte keys, 16- or 32-byte values), keys picked at
//! random so the dictionary and the caches are exercised as under load.
//!
//! `dispatch/*` adds what a request costs above the engine in one process: RESP parsing, the
//! command table lookup, the handler's argument checks and the reply encoding (a 1-shard
//! server, as `--shards 1` runs it; no network, no coordinator).
//!
//!     cargo bench --bench engine
//!     cargo bench --bench engine -- 'get_hit/1M'     # one case

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shards::ops::string::SetCond;
use shards::ops::Ttl;
use shards::Shard;

const DB: usize = 0;
const KEY_LEN: usize = 16;

/// The i-th key: "key:" and 12 digits, 16 bytes.
fn key(i: usize) -> [u8; KEY_LEN] {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// A value that stays a raw string (no integer encoding).
fn value(len: usize, i: usize) -> Vec<u8> {
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

/// xorshift64*: a cheap random key index per iteration.
struct Picker(u64);

impl Picker {
    #[inline]
    fn next(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    }
}

fn preload(shard: &mut Shard, keys: &[[u8; KEY_LEN]], vlen: usize) {
    for (i, k) in keys.iter().enumerate() {
        let out = shard.set(DB, k, &value(vlen, i), SetCond::Always, Ttl::Clear, false).expect("preload SET");
        assert!(out.written);
    }
    assert_eq!(shard.key_count(), keys.len());
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn engine_ops(c: &mut Criterion) {
    for n in [100_000usize, 1_000_000] {
        let keys: Vec<[u8; KEY_LEN]> = (0..n).map(key).collect();
        for vlen in [16usize, 32] {
            let mut shard = Shard::new(0, 16);
            preload(&mut shard, &keys, vlen);
            let case = format!("{}/{}B", label(n), vlen);

            let mut g = c.benchmark_group("get_hit");
            g.throughput(Throughput::Elements(1));
            g.bench_function(BenchmarkId::from_parameter(&case), |b| {
                let mut pick = Picker(0x9E37_79B9_7F4A_7C15);
                b.iter(|| {
                    let k = &keys[pick.next(n)];
                    let v = shard.get_str(DB, black_box(k)).expect("string");
                    black_box(v.map(|s| s.len()))
                })
            });
            g.finish();

            if vlen == 16 {
                let mut g = c.benchmark_group("get_miss");
                g.throughput(Throughput::Elements(1));
                let missing: Vec<[u8; KEY_LEN]> = (n..n + 4096).map(key).collect();
                g.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
                    let mut pick = Picker(0xD1B5_4A32_D192_ED03);
                    b.iter(|| {
                        let k = &missing[pick.next(missing.len())];
                        black_box(shard.get_str(DB, black_box(k)).expect("string").is_some())
                    })
                });
                g.finish();
            }

            // Overwrites an existing key with a same-sized value: the SET of a warm keyspace
            // (no growth, so the dictionary stays at n keys however long criterion runs).
            let mut g = c.benchmark_group("set_overwrite");
            g.throughput(Throughput::Elements(1));
            let vals: Vec<Vec<u8>> = (0..64).map(|i| value(vlen, i + 7)).collect();
            g.bench_function(BenchmarkId::from_parameter(&case), |b| {
                let mut pick = Picker(0x2545_F491_4F6C_DD1D);
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) & 63;
                    let k = &keys[pick.next(n)];
                    black_box(shard.set(DB, black_box(k), &vals[i], SetCond::Always, Ttl::Clear, false).expect("SET").written)
                })
            });
            g.finish();
            assert_eq!(shard.key_count(), n, "overwrites keep the key count");
        }
    }
}

/// The in-process request path above the engine: parse, look up, check, run, encode.
mod dispatch {
    use super::*;
    use shardis::command::{resolve, Handler};
    use shardis::config::Config;
    use shardis::dispatch::{Exec, ShardSet};
    use shardis::protocol::parse::Parser;
    use shardis::protocol::Reply;
    use shardis::server::Server;
    use shardis::shard::ShardCore;

    /// RESP multibulk for one command.
    fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut b = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            b.extend_from_slice(a);
            b.extend_from_slice(b"\r\n");
        }
        b
    }

    /// Runs one encoded command against `core` as a connection on its own shard would.
    #[inline]
    fn run(server: &Server, core: &mut ShardCore, parser: &mut Parser, reply: &mut Reply, cmd: &[u8]) {
        let n = parser.parse(cmd, 512 << 20, true).expect("valid RESP").expect("a whole command");
        let args = parser.args(&cmd[..n]);
        let (id, spec) = resolve(&args).expect("known command");
        assert!(spec.arity_ok(args.len()));
        let Handler::Data(f) = spec.handler else { panic!("{} is not a keyspace command", spec.name) };
        let mut x = Exec::new(ShardSet::One(core), DB, reply, server, spec, id);
        f(&mut x, &args).expect("command succeeds");
    }

    pub fn bench(c: &mut Criterion) {
        let n = 100_000;
        let server = Server::new(Config::default(), 1);
        let mut core = ShardCore::new(0, 16);
        let keys: Vec<[u8; KEY_LEN]> = (0..n).map(key).collect();
        preload(&mut core.engine, &keys, 32);
        let mut parser = Parser::new();
        let mut reply = Reply::new(false);

        // One request buffer whose key bytes are rewritten per iteration, so the keys are as
        // random as in get_hit/100k/32B and set_overwrite/100k/32B (same picker): the
        // difference between the two benchmarks is the cost of the request path.
        let value = value(32, 7);
        let cases: [(&str, Vec<u8>); 2] = [("get_100k/32B", encode(&[b"GET", &keys[0]])), ("set_100k/32B", encode(&[b"SET", &keys[0], &value]))];
        let mut g = c.benchmark_group("dispatch");
        g.throughput(Throughput::Elements(1));
        for (name, mut cmd) in cases {
            let at = cmd.windows(KEY_LEN).position(|w| w == keys[0]).expect("key in the request");
            g.bench_function(name, |b| {
                let mut pick = Picker(if name.starts_with("get") { 0x9E37_79B9_7F4A_7C15 } else { 0x2545_F491_4F6C_DD1D });
                b.iter(|| {
                    cmd[at..at + KEY_LEN].copy_from_slice(&keys[pick.next(n)]);
                    run(&server, &mut core, &mut parser, &mut reply, black_box(&cmd));
                    black_box(reply.buf.len());
                    reply.buf.clear();
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = engine_ops, dispatch::bench
}
criterion_main!(benches);
