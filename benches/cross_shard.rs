//! The cost of a cross-shard GET beside a local one.
//!
//! Starts `target/release/shardis --shards 2` (each shard pinned to its own CPU by shardis),
//! opens connections until one is served by shard 0 (CLIENT INFO shows `shard=`), then from
//! that one connection times GETs of a key shard 0 owns (local) and of a key shard 1 owns
//! (forwarded to shard 1 and back), at pipeline depth 1 and 16. Run with
//! `cargo bench --bench cross_shard` (build the release binary first).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn slot(key: &[u8]) -> u16 {
    shards::route::key_slot(key)
}

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Reads one reply line (and a bulk body); enough for the replies used here.
fn read_reply(r: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("reply");
    if line.first() == Some(&b'$') || line.first() == Some(&b'=') {
        let n: i64 = std::str::from_utf8(&line[1..line.len() - 2]).expect("len").parse().expect("len");
        if n >= 0 {
            let mut body = vec![0u8; n as usize + 2];
            r.read_exact(&mut body).expect("body");
            line.extend_from_slice(&body);
        }
    }
    line
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn time_gets(w: &mut TcpStream, r: &mut BufReader<TcpStream>, key: &[u8], depth: usize, total: usize) -> f64 {
    let one = cmd(&[b"GET", key]);
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * depth).collect();
    let rounds = total / depth;
    // Warm up.
    for _ in 0..rounds / 10 {
        w.write_all(&batch).expect("write");
        for _ in 0..depth {
            read_reply(r);
        }
    }
    let t0 = Instant::now();
    for _ in 0..rounds {
        w.write_all(&batch).expect("write");
        for _ in 0..depth {
            read_reply(r);
        }
    }
    t0.elapsed().as_secs_f64() * 1e6 / (rounds * depth) as f64
}

fn main() {
    let bin = std::env::var("SHARDIS_BIN").unwrap_or_else(|_| "target/release/shardis".into());
    let port = 23456;
    let child = Command::new(&bin)
        .args(["--port", &port.to_string(), "--shards", "2", "--save", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e} (build it with cargo build --release)"));
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut w, mut r) = loop {
        if Instant::now() > deadline {
            panic!("no connection landed on shard 0");
        }
        let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        s.set_nodelay(true).expect("nodelay");
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        w.write_all(&cmd(&[b"CLIENT", b"INFO"])).expect("write");
        let info = String::from_utf8_lossy(&read_reply(&mut r)).into_owned();
        if info.contains(" shard=0") {
            break (w, r);
        }
    };
    let local = (0..).map(|i| format!("local:{i}")).find(|k| slot(k.as_bytes()).is_multiple_of(2)).expect("key");
    let remote = (0..).map(|i| format!("remote:{i}")).find(|k| slot(k.as_bytes()) % 2 == 1).expect("key");
    for k in [&local, &remote] {
        w.write_all(&cmd(&[b"SET", k.as_bytes(), &[b'x'; 32]])).expect("write");
        read_reply(&mut r);
    }
    println!("cross-shard GET cost, shardis --shards 2, one connection served by shard 0, 32-byte values");
    println!("{:<6} {:>16} {:>16} {:>8}", "depth", "local us/GET", "remote us/GET", "ratio");
    for depth in [1usize, 16] {
        let total = if depth == 1 { 40_000 } else { 400_000 };
        let l = time_gets(&mut w, &mut r, local.as_bytes(), depth, total);
        let rm = time_gets(&mut w, &mut r, remote.as_bytes(), depth, total);
        println!("P{:<5} {:>16.2} {:>16.2} {:>8.2}", depth, l, rm, rm / l);
    }
}
