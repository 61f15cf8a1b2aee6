//! maxmemory: every policy's survivors, the OOM refusal, evictions in INFO and the AOF, a
//! limit shrunk under load, and invariant I1 (client output buffers never drive eviction).

use std::collections::HashSet;
use std::time::Duration;

use super::harness::*;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Writes `n` keys `prefix:i` with a `size`-byte value, pipelined; returns how many were
/// refused with OOM.
fn fill(c: &mut Conn, prefix: &str, n: usize, size: usize) -> usize {
    let value = "x".repeat(size);
    let mut refused = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        for i in chunk {
            c.send(["SET", &format!("{prefix}:{i}"), &value]);
        }
        for _ in chunk {
            match c.read() {
                Reply::Error(e) => {
                    assert_eq!(e, OOM);
                    refused += 1;
                }
                r => assert_eq!(r, Reply::ok()),
            }
        }
    }
    refused
}

/// Which of `prefix:0..n` still exist.
fn alive(c: &mut Conn, prefix: &str, n: usize) -> HashSet<usize> {
    for i in 0..n {
        c.send(["EXISTS", &format!("{prefix}:{i}")]);
    }
    (0..n).filter(|_| c.read().as_int() == 1).collect()
}

fn info_u64(c: &mut Conn, section: &str, field: &str) -> u64 {
    c.info(section).get(field).unwrap_or_else(|| panic!("INFO {section} has no {field}")).parse().expect("a number")
}

/// `maxmemory` that leaves about `room` bytes for data above what the server holds now.
fn limit_with_room(c: &mut Conn, room: u64) -> String {
    (info_u64(c, "memory", "used_memory") + room).to_string()
}

#[test]
fn noeviction_refuses_writes_with_the_oom_error_and_serves_reads() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let limit = limit_with_room(&mut c, 1 << 20);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        let refused = fill(&mut c, "k", 20_000, 100);
        assert!(refused > 10_000, "only {refused} of 20000 writes of ~4 MB refused with 1 MB of room");
        assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
        assert_eq!(c.int(["DBSIZE"]) as usize, 20_000 - refused);
        // A table that began doubling before its shard reached the limit frees its old bucket
        // array when the rehash ends (in cron), which can take the shard back under the limit
        // (the likely cause of this test failing 1 run in 20 before; once more in 60 after a
        // single top-up). Let that happen, then top the shards up again, until a DENYOOM write
        // is refused: every shard is then over its limit for the writes below.
        let mut refused = refused;
        for round in 0.. {
            std::thread::sleep(std::time::Duration::from_millis(300));
            refused += fill(&mut c, "k", 20_000, 100);
            let r = c.cmd(["SET", "other", "v"]);
            if r.is_error() {
                assert_eq!(r.as_error(), OOM);
                break;
            }
            assert!(round < 10, "SET other v accepted after {round} top-ups over the limit");
            assert_eq!(c.int(["DEL", "other"]), 1);
        }
        let kept = c.int(["DBSIZE"]) as usize;
        assert!(kept < 10_000, "{kept} keys kept");
        assert!(alive(&mut c, "k", 2).len() == 2, "the first writes fit");
        // Reads, and writes that free memory, still run; DENYOOM writes do not.
        assert_eq!(c.get_str(["GET", "k:0"]).map(|v| v.len()), Some(100));
        assert_eq!(c.err(["LPUSH", "list", "v"]), OOM);
        assert_eq!(c.int(["EXPIRE", "k:1", "100"]), 1);
        let mut del = vec!["DEL".to_string()];
        del.extend(c.cmd(["KEYS", "k:*"]).strings());
        assert_eq!(c.int(&del) as usize, kept);
        c.ok(["SET", "other", "v"]);
        // Rejected, not failed: Redis's command statistics.
        let stats = c.cmd(["INFO", "commandstats"]).as_str();
        let set = stats.lines().find(|l| l.starts_with("cmdstat_set:")).expect("cmdstat_set");
        assert!(set.contains(&format!("rejected_calls={}", refused + 1)) && set.contains("failed_calls=0"), "{set}");
    });
}

#[test]
fn errorstats_rejected_call_by_oom_error() {
    // Redis's unit/info "errorstats: rejected call by OOM error": maxmemory 1 refuses any write.
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    c.ok(["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(c.err(["SET", "a", "b"]), OOM);
    assert_eq!(c.info("errorstats").get("errorstat_OOM").map(String::as_str), Some("count=1"));
    c.ok(["CONFIG", "SET", "maxmemory", "0"]);
    c.ok(["SET", "a", "b"]);
}

#[test]
fn lru_keeps_the_keys_read_recently() {
    for_each_shards(&["--maxmemory-policy", "allkeys-lru"], |s| {
        let mut c = s.conn();
        c.ok(["SET", "proto", &"x".repeat(100)]);
        let payload = c.cmd(["DUMP", "proto"]);
        // 3000 keys last used 1000 s ago; 300 of them read now.
        for i in 0..3000 {
            c.send([b"RESTORE".to_vec(), format!("k:{i}").into_bytes(), b"0".to_vec(), payload.as_bytes().to_vec(), b"IDLETIME".to_vec(), b"1000".to_vec()]);
        }
        for _ in 0..3000 {
            assert_eq!(c.read(), Reply::ok());
        }
        assert!(c.int(["OBJECT", "IDLETIME", "k:0"]) >= 1000);
        for i in 0..300 {
            assert!(c.get_str(["GET", &format!("k:{i}")]).is_some());
        }
        assert!(c.int(["OBJECT", "IDLETIME", "k:0"]) < 2);
        let limit = limit_with_room(&mut c, 0);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        // The limit leaves room for whatever else was allocated when it was read (a few hundred
        // keys' worth): 2500 new keys make well over 1000 go, and fewer than the 2700 cold ones.
        assert_eq!(fill(&mut c, "new", 2500, 100), 0);
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        assert!(evicted >= 1000, "evicted {evicted}");
        let hot = alive(&mut c, "k", 300).len();
        assert!(hot >= 295, "{hot} of the 300 keys read recently survived {evicted} evictions");
    });
}

#[test]
fn lfu_keeps_the_keys_read_often() {
    for_each_shards(&["--maxmemory-policy", "allkeys-lfu"], |s| {
        let mut c = s.conn();
        assert_eq!(fill(&mut c, "k", 3000, 100), 0);
        assert_eq!(c.int(["OBJECT", "FREQ", "k:0"]), 5, "LFU_INIT_VAL");
        for _ in 0..30 {
            for i in 0..300 {
                c.send(["GET", &format!("k:{i}")]);
            }
            for _ in 0..300 {
                c.read();
            }
        }
        assert!(c.int(["OBJECT", "FREQ", "k:0"]) > 5);
        let limit = limit_with_room(&mut c, 0);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        assert_eq!(fill(&mut c, "new", 2000, 100), 0);
        assert!(info_u64(&mut c, "stats", "evicted_keys") >= 1000);
        let hot = alive(&mut c, "k", 300).len();
        assert!(hot >= 295, "{hot} of the 300 keys read often survived");
    });
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        for_each_shards(&["--maxmemory-policy", policy], |s| {
            let mut c = s.conn();
            assert_eq!(fill(&mut c, "persistent", 1000, 100), 0);
            assert_eq!(fill(&mut c, "volatile", 1000, 100), 0);
            for i in 0..1000 {
                c.send(["EXPIRE", &format!("volatile:{i}"), &(10_000 + i).to_string()]);
            }
            for _ in 0..1000 {
                assert_eq!(c.read().as_int(), 1);
            }
            let limit = limit_with_room(&mut c, 0);
            c.ok(["CONFIG", "SET", "maxmemory", &limit]);
            // More than the volatile keys can make room for (3000 new keys need about twice what
            // 1000 volatile ones free): they all go, then writes are refused.
            let refused = fill(&mut c, "new", 3000, 100);
            assert!(refused > 0, "{policy}: nothing refused");
            assert_eq!(alive(&mut c, "persistent", 1000).len(), 1000, "{policy} evicted a key without TTL");
            assert_eq!(alive(&mut c, "volatile", 1000).len(), 0, "{policy}");
            let keyspace = c.info("keyspace");
            assert!(keyspace.get("db0").is_some_and(|l| l.contains("expires=0")), "{policy}: {keyspace:?}");
            assert_eq!(c.err(["SET", "one-more", "v"]), OOM);
        });
    }
}

#[test]
fn volatile_ttl_evicts_the_shortest_ttl_first() {
    for_each_shards(&["--maxmemory-policy", "volatile-ttl"], |s| {
        let mut c = s.conn();
        assert_eq!(fill(&mut c, "k", 2000, 100), 0);
        for i in 0..2000 {
            c.send(["EXPIRE", &format!("k:{i}"), &(1000 + i * 10).to_string()]);
        }
        for _ in 0..2000 {
            assert_eq!(c.read().as_int(), 1);
        }
        let limit = limit_with_room(&mut c, 0);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        // Enough new keys that several hundred of the 2000 must go (a new key costs about 3/4 of
        // what evicting one with a TTL frees).
        assert_eq!(fill(&mut c, "new", 1500, 100), 0);
        let left = alive(&mut c, "k", 2000);
        let evicted = 2000 - left.len();
        assert!(evicted > 300, "{evicted} evicted");
        // TTL grows with the index. Redis's approximation (5 samples into a pool of 16) mostly
        // evicts short TTLs: the longest quarter survives, most victims had the shorter half.
        let longest = left.iter().filter(|&&i| i >= 1500).count();
        assert!(longest >= 490, "{longest} of the 500 longest TTLs survived");
        // Of the victims, a perfect policy takes min(evicted, 1000) from the shorter half
        // (random eviction: about half of them). How many go depends on whether a table doubles
        // during the fill (its new bucket array is paid for with evictions too): 700 to 1400
        // over 75 runs here; past 1000 the shorter half is all but exhausted.
        let short = (0..1000).filter(|i| !left.contains(i)).count();
        let perfect = evicted.min(1000);
        assert!(short * 100 >= perfect * 85, "{short} of {evicted} evicted keys had the shorter half of the TTLs");
    });
}

#[test]
fn allkeys_random_evicts_and_counts_every_eviction() {
    for_each_shards(&["--maxmemory-policy", "allkeys-random"], |s| {
        let mut c = s.conn();
        let limit = limit_with_room(&mut c, 1 << 20);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        assert_eq!(fill(&mut c, "k", 20_000, 100), 0);
        let kept = c.int(["DBSIZE"]) as u64;
        assert!(kept < 15_000, "{kept} of ~4 MB kept with 1 MB of room");
        assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 20_000 - kept);
        // The memory the server reports stays near the limit (the accountant tracks the
        // allocator).
        let used = info_u64(&mut c, "memory", "used_memory") as f64;
        let limit: f64 = limit.parse().unwrap();
        assert!((used - limit).abs() < limit * 0.05 + 200_000.0, "used_memory {used} with maxmemory {limit}");
    });
}

#[test]
fn evictions_are_in_the_aof_and_a_restart_has_the_survivors_only() {
    let dir = TempDir::new("evict-aof");
    let d = dir.path().display().to_string();
    let args = ["--shards", "4", "--appendonly", "yes", "--appendfsync", "always", "--dir", &d, "--maxmemory-policy", "allkeys-random"];
    let before = {
        let s = Server::start(&args);
        let mut c = s.conn();
        let limit = limit_with_room(&mut c, 1 << 20);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        assert_eq!(fill(&mut c, "k", 10_000, 100), 0);
        assert!(info_u64(&mut c, "stats", "evicted_keys") > 1000);
        alive(&mut c, "k", 10_000)
    };
    let mut dels = 0;
    for e in std::fs::read_dir(dir.path().join("appendonlydir")).expect("aof dir") {
        let bytes = std::fs::read(e.expect("entry").path()).expect("read segment");
        dels += bytes.windows(9).filter(|w| w == b"$3\r\nDEL\r\n").count();
    }
    assert_eq!(dels, 10_000 - before.len(), "one DEL per eviction in the AOF");
    let s = Server::start(&args);
    let mut c = s.conn();
    assert_eq!(alive(&mut c, "k", 10_000), before);
}

#[test]
fn shrinking_maxmemory_under_load_converges_and_the_server_keeps_answering() {
    for_each_shards(&["--maxmemory-policy", "allkeys-lru"], |s| {
        let mut c = s.conn();
        assert_eq!(fill(&mut c, "k", 50_000, 200), 0);
        let start = c.int(["DBSIZE"]);
        let limit = limit_with_room(&mut c, 0).parse::<u64>().unwrap() / 4;
        c.ok(["CONFIG", "SET", "maxmemory", &limit.to_string()]);
        // A writer keeps going meanwhile; every reply is OK (eviction makes room, in bounded
        // steps), and another client is served throughout.
        let mut other = s.conn();
        for round in 0..20 {
            assert_eq!(fill(&mut c, &format!("w{round}"), 200, 200), 0);
            assert_eq!(other.cmd(["PING"]), Reply::Simple("PONG".into()));
        }
        assert!(
            wait_for(Duration::from_secs(10), || {
                let used = info_u64(&mut other, "memory", "used_memory");
                used <= limit + limit / 20
            }),
            "used_memory {} never came down to maxmemory {limit}",
            info_u64(&mut other, "memory", "used_memory")
        );
        let now = other.int(["DBSIZE"]);
        assert!(now < start / 3, "{now} keys of {start} left");
    });
}

/// I1: many clients that never read, holding large replies in the server's output buffers,
/// do not make a writer's keys be evicted: the same writes evict the same number of keys with
/// and without them.
#[test]
fn output_buffers_of_slow_clients_do_not_drive_eviction() {
    fn evicted_by_writes(slow_clients: usize) -> (u64, u64) {
        // Only the written keys (with a TTL) can be evicted, so each run frees the same keys.
        let s = Server::start(&["--shards", "4", "--maxmemory-policy", "volatile-random"]);
        let mut c = s.conn();
        c.ok(["SET", "big", &"b".repeat(256 << 10)]);
        let before = info_u64(&mut c, "memory", "used_memory");
        let mut slow = Vec::new();
        for _ in 0..slow_clients {
            let mut sc = s.conn();
            let mut req = Vec::new();
            for _ in 0..16 {
                req.extend_from_slice(&encode(["GET", "big"]));
                req.extend_from_slice(&encode(["GETRANGE", "big", "0", "-1"]));
            }
            sc.write_raw(&req).expect("send");
            slow.push(sc);
        }
        let buffered = if slow_clients > 0 {
            // The replies pile up in the server (what the kernel's socket buffers cannot hold).
            let mut grown = 0;
            assert!(
                wait_for(Duration::from_secs(20), || {
                    grown = info_u64(&mut c, "memory", "used_memory").saturating_sub(before);
                    grown > 20 << 20
                }),
                "slow clients' buffers grew only {grown} bytes"
            );
            grown
        } else {
            0
        };
        c.ok(["CONFIG", "SET", "maxmemory", &(before + (2 << 20)).to_string()]);
        let value = "v".repeat(200);
        for batch in 0..100 {
            for i in batch * 200..(batch + 1) * 200 {
                c.send(["SET", &format!("k:{i}"), &value, "EX", "100000"]);
            }
            for _ in 0..200 {
                assert_eq!(c.read(), Reply::ok(), "with {slow_clients} slow clients");
            }
        }
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
        drop(slow);
        (info_u64(&mut c, "stats", "evicted_keys"), buffered)
    }
    let (alone, _) = evicted_by_writes(0);
    let (with_slow, buffered) = evicted_by_writes(50);
    assert!(buffered > 20 << 20);
    assert!(alone > 5_000 && alone < 20_000, "{alone}");
    assert!(with_slow <= alone + alone / 50, "{with_slow} keys evicted with {buffered} bytes of output buffers, {alone} without");
}

/// Redis's unit/introspection-2 "TTL, TYPE and EXISTS do not alter the last access time of a
/// key" (LOOKUP_NOTOUCH), while GET does; TYPE and TTL still count keyspace hits.
#[test]
fn ttl_type_and_exists_leave_the_access_clock_alone() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "proto", "v"]);
        let payload = c.cmd(["DUMP", "proto"]);
        c.ok([b"RESTORE".to_vec(), b"foo".to_vec(), b"0".to_vec(), payload.as_bytes().to_vec(), b"IDLETIME".to_vec(), b"1000".to_vec()]);
        let hits = info_u64(&mut c, "stats", "keyspace_hits");
        assert_eq!(c.int(["TTL", "foo"]), -1);
        assert_eq!(c.int(["PTTL", "foo"]), -1);
        assert_eq!(c.int(["EXPIRETIME", "foo"]), -1);
        assert_eq!(c.cmd(["TYPE", "foo"]), Reply::Simple("string".into()));
        assert_eq!(c.int(["EXISTS", "foo"]), 1);
        assert!(c.int(["OBJECT", "IDLETIME", "foo"]) >= 1000, "TTL/TYPE/EXISTS touched the key");
        assert!(info_u64(&mut c, "stats", "keyspace_hits") >= hits + 4, "TTL, PTTL, EXPIRETIME and TYPE count hits");
        assert!(c.get_str(["GET", "foo"]).is_some());
        assert!(c.int(["OBJECT", "IDLETIME", "foo"]) < 2, "GET touches the key");
    });
}

/// Redis's dictExpandAllowed: at maxmemory a keyspace table does not double (allocating its
/// whole new bucket array at once) while its load factor is at most 1.618. 64000 keys sit just
/// below a table boundary (65536 buckets on one shard, 16384 on each of four: at most 16180
/// keys a shard); 10000 more cross it with about 2000 keys' worth of room. redis-server 7.0
/// evicts about 7900 of them; a table that doubled anyway would make its shard pay for a 1 MB
/// bucket array at once, a burst of some 25000 more evictions.
#[test]
fn a_full_keyspace_table_does_not_double_at_maxmemory() {
    for_each_shards(&["--maxmemory-policy", "allkeys-lru"], |s| {
        let mut c = s.conn();
        let before = info_u64(&mut c, "memory", "used_memory");
        assert_eq!(fill(&mut c, "k", 64_000, 8), 0);
        let per_key = (info_u64(&mut c, "memory", "used_memory") - before) / 64_000;
        let limit = limit_with_room(&mut c, 2000 * per_key);
        c.ok(["CONFIG", "SET", "maxmemory", &limit]);
        assert_eq!(fill(&mut c, "new", 10_000, 8), 0);
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        assert!(evicted > 0 && evicted < 10_000, "evicted {evicted} keys to store 10000 new ones with ~2000 keys' worth of room");
        assert_eq!(c.int(["DBSIZE"]) as u64, 74_000 - evicted);
    });
}
