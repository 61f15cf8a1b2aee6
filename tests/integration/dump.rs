//! DUMP / RESTORE (Redis's unit/dump) and DEBUG DIGEST, over sockets; cross-checked with a real
//! redis-server 7.0 when one is installed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{for_each_shards, free_port, wait_for, Conn, Reply, TempDir};

/// A redis-server child process (killed on drop), for cross-checks.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    _dir: Option<TempDir>,
}

impl RedisServer {
    /// Starts `redis-server` in `dir` with `extra` arguments, or returns None (after saying so
    /// loudly) when the binary is not installed.
    pub fn start(dir: Option<&Path>, extra: &[&str]) -> Option<RedisServer> {
        if Command::new("redis-server").arg("--version").output().is_err() {
            eprintln!("\n*** SKIPPED: redis-server is not installed, so the cross-check with Redis 7.0 did not run ***\n");
            return None;
        }
        let own = if dir.is_none() { Some(TempDir::new("redis")) } else { None };
        let dir = dir.unwrap_or_else(|| own.as_ref().map(|d| d.path()).expect("own dir"));
        let port = free_port();
        let port_s = port.to_string();
        let mut args = vec!["--port", &port_s, "--bind", "127.0.0.1", "--save", "", "--enable-debug-command", "yes", "--dir"];
        let dir_s = dir.to_string_lossy().to_string();
        args.push(&dir_s);
        args.extend_from_slice(extra);
        let child = Command::new("redis-server").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn redis-server");
        let up = wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "redis-server did not start on port {port}");
        let r = RedisServer { child, port, _dir: own };
        // Loading a dump.rdb may take a moment: wait until it answers PING with PONG.
        let ready = wait_for(Duration::from_secs(10), || r.conn().cmd(["PING"]) == Reply::Simple("PONG".into()));
        assert!(ready, "redis-server on port {port} never became ready");
        Some(r)
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commands that build one key of every type and encoding, small and big, one with a TTL.
pub fn dataset_commands() -> Vec<Vec<Vec<u8>>> {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut add = |parts: Vec<String>| cmds.push(parts.into_iter().map(String::into_bytes).collect());
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    add(s(&["SET", "str", "hello"]));
    add(s(&["SET", "int", "12345"]));
    add(s(&["SET", "bigint", "123456789012345"]));
    add(s(&["SET", "compressible", &"abc".repeat(400)]));
    add(s(&["SET", "ttl", "v", "PX", "100000000"]));
    add(s(&["RPUSH", "list", "a", "b", "1", "-7", ""]));
    let mut big = s(&["RPUSH", "biglist"]);
    big.extend((0..3000).map(|i| format!("item-{i}")));
    add(big);
    add(s(&["HSET", "hash", "f", "v", "n", "2"]));
    let mut big = s(&["HSET", "bighash"]);
    big.extend((0..300).flat_map(|i| [format!("field-{i}"), format!("value-{i}")]));
    add(big);
    add(s(&["HSET", "hash-longval", "f", &"x".repeat(100)]));
    add(s(&["SADD", "intset", "1", "2", "3", "-100000"]));
    add(s(&["SADD", "strset", "a", "b", "c"]));
    let mut big = s(&["SADD", "bigset"]);
    big.extend((0..700).map(|i| i.to_string()));
    add(big);
    add(s(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]));
    let mut big = s(&["ZADD", "bigzset"]);
    big.extend((0..300).flat_map(|i| [format!("{}", i as f64 / 7.0), format!("m-{i}")]));
    add(big);
    cmds
}

pub const DATASET_KEYS: &[&str] =
    &["str", "int", "bigint", "compressible", "ttl", "list", "biglist", "hash", "bighash", "hash-longval", "intset", "strset", "bigset", "zset", "bigzset"];

pub fn load_dataset(c: &mut Conn) {
    for cmd in dataset_commands() {
        let r = c.cmd(&cmd);
        assert!(!r.is_error(), "{:?}: {r:?}", String::from_utf8_lossy(&cmd[0]));
    }
}

fn digest_value(c: &mut Conn, key: &str) -> String {
    let r = c.cmd(["DEBUG", "DIGEST-VALUE", key]);
    r.as_array()[0].as_str()
}

fn dump(c: &mut Conn, key: &str) -> Vec<u8> {
    match c.cmd(["DUMP", key]) {
        Reply::Bulk(Some(p)) => p,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

#[test]
fn dump_restore_round_trips_every_type() {
    for_each_shards(&["--enable-debug-command", "yes"], |srv| {
        let mut c = srv.conn();
        load_dataset(&mut c);
        for key in DATASET_KEYS {
            let payload = dump(&mut c, key);
            let copy = format!("copy:{key}");
            c.ok([b"RESTORE".as_slice(), copy.as_bytes(), b"0", &payload]);
            let enc = c.cmd(["OBJECT", "ENCODING", key]);
            assert_eq!(c.cmd(["OBJECT", "ENCODING", &copy]), enc, "{key}");
            assert_eq!(c.cmd(["TYPE", &copy]), c.cmd(["TYPE", key]), "{key}");
            // The TTL is not part of the payload: the copy has none, so compare it without.
            if *key != "ttl" {
                assert_eq!(digest_value(&mut c, &copy), digest_value(&mut c, key), "{key}");
            }
        }
        assert_eq!(c.cmd(["LRANGE", "copy:list", "0", "-1"]), Reply::bulks(&["a", "b", "1", "-7", ""]));
        assert_eq!(c.cmd(["ZSCORE", "copy:zset", "c"]), Reply::bulk("-inf"));
    });
}

#[test]
fn restore_ttl_replace_absttl_and_options() {
    for_each_shards(&["--enable-debug-command", "yes"], |srv| {
        let mut c = srv.conn();
        c.ok(["SET", "foo", "bar"]);
        let p = dump(&mut c, "foo");
        // RESTORE can set an arbitrary expire to the materialized key
        c.ok([b"RESTORE".as_slice(), b"k1", b"3000", &p]);
        let pttl = c.int(["PTTL", "k1"]);
        assert!(pttl > 2000 && pttl <= 3000, "{pttl}");
        // RESTORE can set an expire that overflows a 32 bit integer
        c.ok([b"RESTORE".as_slice(), b"k2", b"2569591501", &p]);
        let pttl = c.int(["PTTL", "k2"]);
        assert!(pttl > 2569591501 - 3000 && pttl <= 2569591501, "{pttl}");
        // RESTORE can set an absolute expire
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let at = (now + 3000).to_string();
        c.ok([b"RESTORE".as_slice(), b"k3", at.as_bytes(), &p, b"ABSTTL"]);
        let pttl = c.int(["PTTL", "k3"]);
        assert!(pttl > 2000 && pttl <= 3000, "{pttl}");
        // RESTORE with ABSTTL in the past: OK, and no key
        c.ok([b"RESTORE".as_slice(), b"k4", b"1000", &p, b"ABSTTL", b"REPLACE"]);
        assert_eq!(c.int(["EXISTS", "k4"]), 0);
        // RESTORE returns an error of the key already exists
        assert_eq!(c.cmd([b"RESTORE".as_slice(), b"foo", b"0", &p]), Reply::Error("BUSYKEY Target key name already exists.".into()));
        // RESTORE can overwrite an existing key with REPLACE
        c.ok(["SET", "other", "x"]);
        c.ok([b"RESTORE".as_slice(), b"other", b"0", &p, b"REPLACE"]);
        assert_eq!(c.cmd(["GET", "other"]), Reply::bulk("bar"));
        // REPLACE with an expired ABSTTL deletes the old key.
        c.ok([b"RESTORE".as_slice(), b"other", b"1", &p, b"REPLACE", b"ABSTTL"]);
        assert_eq!(c.int(["EXISTS", "other"]), 0);
        // RESTORE can set LRU (IDLETIME) and LFU (FREQ)
        c.ok([b"RESTORE".as_slice(), b"idle", b"0", &p, b"IDLETIME", b"1000"]);
        let idle = c.int(["OBJECT", "IDLETIME", "idle"]);
        assert!((1000..1010).contains(&idle), "{idle}");
        c.ok([b"RESTORE".as_slice(), b"freq", b"0", &p, b"FREQ", b"100"]);
        // Errors, in Redis's order and words.
        let err = |c: &mut Conn, args: &[&[u8]]| c.cmd(args).as_error().to_string();
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &p, b"invalid-option"]), "ERR syntax error");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"-1", &p]), "ERR Invalid TTL value, must be >= 0");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"abc", &p]), "ERR value is not an integer or out of range");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &p, b"IDLETIME", b"-1"]), "ERR Invalid IDLETIME value, must be >= 0");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &p, b"FREQ", b"256"]), "ERR Invalid FREQ value, must be >= 0 and <= 255");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &p, b"FREQ", b"1", b"IDLETIME", b"1"]), "ERR syntax error");
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", b"garbage-payload"]), "ERR DUMP payload version or checksum are wrong");
        let mut bad = p.clone();
        bad[1] ^= 0xFF;
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &bad]), "ERR DUMP payload version or checksum are wrong");
        // A payload with a correct checksum but a body that is not a value.
        let mut body = vec![0x02u8, 0x00]; // an empty set
        body.extend_from_slice(&10u16.to_le_bytes());
        let crc = crc64_redis(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(err(&mut c, &[b"RESTORE", b"x", b"0", &body]), "ERR Bad data format");
        assert_eq!(c.int(["EXISTS", "x"]), 0);
        // DUMP of non existing key returns nil
        assert!(c.cmd(["DUMP", "nokey"]).is_nil());
    });
}

/// Redis's CRC64 (Jones), bit by bit: an independent check of the server's.
fn crc64_redis(bytes: &[u8]) -> u64 {
    let poly: u64 = 0x95ac_9329_ac4b_c9b5; // 0xad93d23594c935a9 reflected
    let mut crc = 0u64;
    for &b in bytes {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ poly } else { crc >> 1 };
        }
    }
    crc
}

#[test]
fn debug_digest_is_the_same_whatever_the_shard_count() {
    let digests = std::cell::RefCell::new(Vec::new());
    for_each_shards(&["--enable-debug-command", "yes"], |srv| {
        let mut c = srv.conn();
        assert_eq!(c.cmd(["DEBUG", "DIGEST"]), Reply::Simple("0".repeat(40)));
        load_dataset(&mut c);
        c.ok(["SELECT", "5"]);
        c.ok(["SET", "in-db-5", "x"]);
        let d = c.cmd(["DEBUG", "DIGEST"]);
        let dv = c.cmd(["DEBUG", "DIGEST-VALUE", "in-db-5", "missing"]);
        assert_eq!(dv.as_array()[1], Reply::Simple("0".repeat(40)));
        // Changing a value changes the digest.
        c.ok(["SET", "in-db-5", "y"]);
        assert_ne!(c.cmd(["DEBUG", "DIGEST"]), d);
        c.ok(["SET", "in-db-5", "x"]);
        assert_eq!(c.cmd(["DEBUG", "DIGEST"]), d);
        digests.borrow_mut().push(d);
    });
    let digests = digests.into_inner();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[test]
fn dump_restore_and_digest_match_redis_7_0() {
    let Some(redis) = RedisServer::start(None, &[]) else { return };
    for_each_shards(&["--enable-debug-command", "yes"], |srv| {
        let (mut r, mut c) = (redis.conn(), srv.conn());
        r.ok(["FLUSHALL"]);
        // Both servers with the same encoding thresholds (shardis's default for this one is
        // 128 where redis-server 7.0's is 512).
        r.ok(["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
        load_dataset(&mut r);
        load_dataset(&mut c);
        assert_eq!(c.cmd(["DEBUG", "DIGEST"]), r.cmd(["DEBUG", "DIGEST"]), "the same commands give the same dataset digest");
        for key in DATASET_KEYS {
            assert_eq!(digest_value(&mut c, key), digest_value(&mut r, key), "DIGEST-VALUE {key}");
            assert_eq!(c.cmd(["OBJECT", "ENCODING", key]), r.cmd(["OBJECT", "ENCODING", key]), "{key}");
            // Redis -> shardis
            let from_redis = dump(&mut r, key);
            let copy = format!("from-redis:{key}");
            c.ok([b"RESTORE".as_slice(), copy.as_bytes(), b"0", &from_redis]);
            // shardis -> Redis
            let from_shardis = dump(&mut c, key);
            let copy2 = format!("from-shardis:{key}");
            r.ok([b"RESTORE".as_slice(), copy2.as_bytes(), b"0", &from_shardis]);
            if *key != "ttl" {
                assert_eq!(digest_value(&mut c, &copy), digest_value(&mut r, key), "Redis's DUMP of {key} restored here");
                assert_eq!(digest_value(&mut r, &copy2), digest_value(&mut c, key), "our DUMP of {key} restored in Redis");
            }
            assert_eq!(c.cmd(["OBJECT", "ENCODING", &copy]), r.cmd(["OBJECT", "ENCODING", &copy2]), "{key}");
        }
    });
}
