//! Memory figures a user can trust (INFO memory, MEMORY STATS/USAGE/DOCTOR/MALLOC-STATS/PURGE)
//! and client output buffer limits: a client that does not read its replies is closed at the
//! limit and the server's memory stays bounded. Mirrors Redis's unit/obuf-limits and the
//! memory parts of unit/info and unit/introspection.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::*;

fn num(info: &std::collections::HashMap<String, String>, field: &str) -> i64 {
    info.get(field).unwrap_or_else(|| panic!("INFO has no {field}: {info:?}")).parse().unwrap_or_else(|_| panic!("{field} is not a number: {info:?}"))
}

/// The CLIENT LIST line of client `id`, as a field map (None once it is gone).
fn client_fields(admin: &mut Conn, id: i64) -> Option<std::collections::HashMap<String, String>> {
    let list = admin.cmd(["CLIENT", "LIST", "ID", &id.to_string()]).as_str();
    let line = list.lines().next()?;
    Some(line.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn client_gone(admin: &mut Conn, id: i64) -> bool {
    client_fields(admin, id).is_none()
}

/// Pipelines `n` commands built by `cmd(i)` from another thread while this one reads the
/// replies, so neither side waits on the other.
fn pipeline(c: &mut Conn, n: usize, cmd: impl Fn(usize) -> Vec<Vec<u8>> + Send + 'static) {
    let mut w = c.writer_clone();
    let sender = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 0..n {
            buf.extend_from_slice(&encode(cmd(i)));
            if buf.len() >= 1 << 20 {
                w.write_all(&buf).expect("send pipeline");
                buf.clear();
            }
        }
        w.write_all(&buf).expect("send pipeline");
    });
    for _ in 0..n {
        let r = c.read();
        assert!(!r.is_error(), "pipelined command failed: {r:?}");
    }
    sender.join().expect("sender thread");
}

#[test]
fn used_memory_growth_agrees_with_rss_growth_after_1m_keys() {
    let s = Server::start(&["--shards", "2"]);
    let mut c = s.conn();
    let before = c.info("memory");
    let (used0, rss0) = (num(&before, "used_memory"), s.rss_bytes() as i64);
    // 1M keys of 16 bytes holding 16-byte values.
    pipeline(&mut c, 1_000_000, |i| vec![b"SET".to_vec(), format!("key:{i:012}").into_bytes(), format!("value:{i:010}").into_bytes()]);
    assert_eq!(c.int(["DBSIZE"]), 1_000_000);
    let after = c.info("memory");
    let (used1, rss1) = (num(&after, "used_memory"), s.rss_bytes() as i64);
    let (used_growth, rss_growth) = (used1 - used0, rss1 - rss0);
    let off = (used_growth - rss_growth).abs() as f64 / rss_growth as f64;
    assert!(off <= 0.15, "used_memory grew {used_growth} bytes, RSS {rss_growth}: {:.1}% apart", off * 100.0);
    // The dataset is most of what was allocated since startup, and the figures add up.
    let overhead = num(&after, "used_memory_overhead");
    let dataset = num(&after, "used_memory_dataset");
    assert_eq!(overhead + dataset, used1, "{after:?}");
    assert!(num(&after, "used_memory_peak") >= used1);
    assert!(num(&after, "allocator_active") >= used1, "mimalloc commits at least what is allocated: {after:?}");
}

#[test]
fn client_output_buffer_hard_limit_closes_a_client_that_never_reads() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        admin.ok(["CONFIG", "SET", "client-output-buffer-limit", "normal 10mb 0 0"]);
        let value = "x".repeat(1 << 20);
        admin.ok(["SET", "big", &value]);
        let rss0 = s.rss_bytes();
        let mut reader = s.conn();
        let mut slow = s.conn();
        let id = slow.int(["CLIENT", "ID"]);
        // 300 MB of replies requested; the client reads none of them.
        let mut w = slow.writer_clone();
        let sender = std::thread::spawn(move || {
            for _ in 0..300 {
                if w.write_all(&encode(["GET", "big"])).is_err() {
                    break;
                }
            }
        });
        // Meanwhile a client that reads its replies is served as usual.
        for _ in 0..5 {
            assert_eq!(reader.cmd(["GET", "big"]).as_bytes().len(), 1 << 20);
        }
        assert!(
            wait_for(Duration::from_secs(20), || client_gone(&mut admin, id)),
            "the client that never reads is still connected: {:?}",
            client_fields(&mut admin, id)
        );
        sender.join().expect("sender");
        let grown = s.rss_bytes().saturating_sub(rss0);
        assert!(grown < 100 << 20, "RSS grew {grown} bytes while 300 MB of replies were refused");
        assert!(s.log().contains("scheduled to be closed ASAP for overcoming of output buffer limits."), "no log line: {}", s.log());
        assert_eq!(reader.cmd(["GET", "big"]).as_bytes().len(), 1 << 20);
        let (_, closed) = slow.read_until_close(Duration::from_secs(10));
        assert!(closed, "the slow client's connection is still open");
    });
}

#[test]
fn client_output_buffer_soft_limit_closes_a_client_over_it_for_longer_than_its_seconds() {
    let s = Server::start(&["--shards", "2"]);
    let mut admin = s.conn();
    admin.ok(["CONFIG", "SET", "client-output-buffer-limit", "normal 0 4mb 1"]);
    admin.ok(["SET", "big", &"x".repeat(1 << 20)]);
    let mut slow = s.conn();
    let id = slow.int(["CLIENT", "ID"]);
    let mut w = slow.writer_clone();
    let start = Instant::now();
    let mut closed_after = None;
    // About 20 MB/s of replies, never read.
    while start.elapsed() < Duration::from_secs(15) {
        if w.write_all(&encode(["GET", "big"])).is_err() || client_gone(&mut admin, id) {
            closed_after = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = closed_after.expect("the client over its soft limit was never closed");
    // Over the soft limit for more than a second: not at once (the kernel's socket buffers take
    // the first megabytes), and well before the 15 s bound.
    assert!(after > Duration::from_secs(1), "closed after {after:?}, before its soft limit's seconds passed");
    assert!(wait_for(Duration::from_secs(10), || client_gone(&mut admin, id)));
}

#[test]
fn client_output_buffer_limit_spares_clients_that_read() {
    let s = Server::start(&["--shards", "4", "--client-output-buffer-limit", "normal 4mb 2mb 1"]);
    let mut c = s.conn();
    c.ok(["SET", "big", &"x".repeat(1 << 20)]);
    // 64 MB through a client that reads each reply before asking for the next.
    for _ in 0..64 {
        assert_eq!(c.cmd(["GET", "big"]).as_bytes().len(), 1 << 20);
    }
    assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn mem_clients_normal_follows_the_buffers_clients_hold() {
    let s = Server::start(&["--shards", "1", "--client-output-buffer-limit", "normal 200mb 0 0"]);
    let mut admin = s.conn();
    admin.ok(["SET", "big", &"x".repeat(1 << 20)]);
    let base = admin.info("memory");
    let (clients0, not_counted0) = (num(&base, "mem_clients_normal"), num(&base, "mem_not_counted_for_evict"));
    assert!(clients0 > 0, "connected clients cost something: {base:?}");

    // A client that asks for 40 MB and reads nothing: the replies wait in the server.
    let mut slow = s.conn();
    let id = slow.int(["CLIENT", "ID"]);
    let mut w = slow.writer_clone();
    for _ in 0..40 {
        w.write_all(&encode(["GET", "big"])).expect("send");
    }
    assert!(
        wait_for(Duration::from_secs(10), || client_fields(&mut admin, id).is_some_and(|f| f["omem"].parse::<u64>().unwrap_or(0) >= 20 << 20)),
        "CLIENT LIST shows no pending output: {:?}",
        client_fields(&mut admin, id)
    );
    let f = client_fields(&mut admin, id).expect("client listed");
    assert!(f["oll"].parse::<u64>().unwrap() >= 1, "{f:?}");
    assert!(f["tot-mem"].parse::<u64>().unwrap() >= f["omem"].parse::<u64>().unwrap(), "{f:?}");
    let held = admin.info("memory");
    let clients1 = num(&held, "mem_clients_normal");
    assert!(clients1 >= clients0 + (20 << 20), "mem_clients_normal {clients0} -> {clients1} with 20+ MB pending");
    assert!(num(&held, "mem_not_counted_for_evict") >= not_counted0 + (20 << 20), "{held:?}");
    assert!(num(&held, "used_memory_overhead") >= clients1, "{held:?}");

    // The client goes: its buffers go with it.
    drop(slow);
    drop(w);
    assert!(
        wait_for(Duration::from_secs(10), || num(&admin.info("memory"), "mem_clients_normal") < clients0 + (1 << 20)),
        "mem_clients_normal did not fall: {:?}",
        admin.info("memory")
    );

    // A query buffer counts too: 3 MB of a 10 MB bulk sent, the rest not yet.
    let mut partial = s.conn();
    partial.write_raw(format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", 10 << 20).as_bytes()).unwrap();
    partial.write_raw(&vec![b'y'; 3 << 20]).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || num(&admin.info("memory"), "mem_clients_normal") >= clients0 + (3 << 20)),
        "a 3 MB query buffer does not show: {:?}",
        admin.info("memory")
    );
}

#[test]
fn memory_stats_doctor_malloc_stats_and_purge() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "a", "1"]);
        c.ok(["SELECT", "3"]);
        c.ok(["SET", "b", "2"]);
        let stats = c.cmd(["MEMORY", "STATS"]);
        let names: Vec<String> = stats.pairs().iter().map(|(k, _)| k.as_str()).collect();
        let expected = [
            "peak.allocated",
            "total.allocated",
            "startup.allocated",
            "replication.backlog",
            "clients.slaves",
            "clients.normal",
            "cluster.links",
            "aof.buffer",
            "lua.caches",
            "functions.caches",
            "db.0",
            "db.3",
            "overhead.total",
            "keys.count",
            "keys.bytes-per-key",
            "dataset.bytes",
            "dataset.percentage",
            "peak.percentage",
            "allocator.allocated",
            "allocator.active",
            "allocator.resident",
            "allocator-fragmentation.ratio",
            "allocator-fragmentation.bytes",
            "allocator-rss.ratio",
            "allocator-rss.bytes",
            "rss-overhead.ratio",
            "rss-overhead.bytes",
            "fragmentation",
            "fragmentation.bytes",
        ];
        assert_eq!(names, expected);
        assert_eq!(stats.field("keys.count").unwrap().as_int(), 2);
        let db0: Vec<String> = stats.field("db.0").unwrap().pairs().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(db0, ["overhead.hashtable.main", "overhead.hashtable.expires", "overhead.hashtable.slot-to-keys"]);
        assert!(stats.field("total.allocated").unwrap().as_int() <= stats.field("peak.allocated").unwrap().as_int());

        // A small instance: Redis's "empty" diagnosis.
        let doctor = c.cmd(["MEMORY", "DOCTOR"]).as_str();
        assert!(doctor.starts_with("Hi Sam, this instance is empty or is using very little memory"), "{doctor}");
        let malloc = c.cmd(["MEMORY", "MALLOC-STATS"]).as_str();
        assert!(!malloc.is_empty());
        c.ok(["MEMORY", "PURGE"]);
        assert_eq!(c.err(["MEMORY", "PURGE", "x"]), "ERR wrong number of arguments for 'memory|purge' command");
    });
}

#[test]
fn memory_usage_tracks_the_size_of_a_key() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "small", "v"]);
        c.ok(["SET", "large", &"x".repeat(100_000)]);
        let small = c.int(["MEMORY", "USAGE", "small"]);
        let large = c.int(["MEMORY", "USAGE", "large"]);
        assert!(small < 200, "{small}");
        assert!((100_000..110_000).contains(&large), "{large}");
        for i in 0..1000 {
            c.int(["HSET", "h", &format!("field:{i}"), &"v".repeat(100)]);
        }
        let hash = c.int(["MEMORY", "USAGE", "h", "SAMPLES", "0"]);
        assert!(hash > 100 * 1000, "{hash}");
        assert_eq!(c.int(["MEMORY", "USAGE", "h", "SAMPLES", "5", "SAMPLES", "10"]), hash);
        assert!(c.cmd(["MEMORY", "USAGE", "missing"]).is_nil());
        assert_eq!(c.err(["MEMORY", "USAGE", "h", "SAMPLES", "-1"]), "ERR syntax error");
        assert_eq!(c.err(["MEMORY", "USAGE", "h", "SAMPLES"]), "ERR syntax error");
        assert_eq!(c.err(["MEMORY", "USAGE", "h", "SAMPLES", "x"]), "ERR value is not an integer or out of range");
    });
}

/// Redis's unit/lazyfree "UNLINK can reclaim memory in background": a 100k-member set sent as
/// one command and then unlinked gives its memory back, including the query buffer that one
/// large request needed (it used to stay with the client).
#[test]
fn unlink_gives_back_a_large_set_and_the_query_buffer_that_brought_it() {
    let s = Server::start(&["--shards", "1"]);
    let mut c = s.conn();
    let used = |s: &Server| num(&s.info("memory"), "used_memory");
    let before = used(&s);
    let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"myset".to_vec()];
    args.extend((0..100_000).map(|i: i32| i.to_string().into_bytes()));
    assert_eq!(c.cmd(args).as_int(), 100_000);
    let peak = used(&s);
    assert!(peak > before + 1_000_000, "a 100k-member set costs more than 1 MB: {before} -> {peak}");
    let id = c.cmd(["CLIENT", "ID"]).as_int();
    let mut admin = s.conn();
    let fields = client_fields(&mut admin, id).expect("client listed");
    let qbuf_free: i64 = fields["qbuf-free"].parse().unwrap();
    assert!(qbuf_free <= 64 * 1024, "the query buffer shrank after the large request: {fields:?}");
    assert_eq!(c.cmd(["UNLINK", "myset"]).as_int(), 1);
    let after = used(&s);
    assert!(after < peak && after < before * 2, "memory reclaimed: before {before}, peak {peak}, after {after}");
}
