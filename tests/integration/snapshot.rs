//! Snapshots: BGSAVE without fork under a concurrent write load, SAVE, save points, LASTSAVE,
//! SHUTDOWN SAVE/NOSAVE and SIGTERM, dump.rdb loaded at startup, DEBUG RELOAD, and
//! stop-writes-on-bgsave-error. Files are checked by loading them (here, and in the real
//! redis-server 7.0 when installed) and comparing DEBUG DIGEST.

use std::path::Path;
use std::time::Duration;

use super::dump::{load_dataset, RedisServer};
use super::harness::*;

const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Starts shardis with `--dir dir` (which outlives the server, for restarts).
fn start_in(dir: &Path, shards: usize, extra: &[&str]) -> Server {
    let dir = dir.to_path_buf();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Server::launch(move |port, _| {
        let mut v: Vec<String> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--enable-debug-command", "yes", "--shards", &shards.to_string()]
                .iter()
                .map(|s| s.to_string())
                .collect();
        v.extend(["--dir".to_string(), dir.display().to_string()]);
        v.extend(extra.iter().cloned());
        v
    })
}

fn digest(c: &mut Conn) -> String {
    c.cmd(["DEBUG", "DIGEST"]).as_str()
}

fn persistence(c: &mut Conn, field: &str) -> String {
    c.info("persistence").get(field).cloned().unwrap_or_else(|| panic!("INFO persistence has no {field}"))
}

fn wait_bgsave_done(c: &mut Conn) {
    assert!(wait_for(Duration::from_secs(60), || persistence(c, "rdb_bgsave_in_progress") == "0"), "BGSAVE never finished");
}

/// Every type in databases 0, 3 and 15, plus `n` plain keys with a TTL on every tenth.
fn fill(c: &mut Conn, n: usize) {
    for db in ["0", "3", "15"] {
        c.ok(["SELECT", db]);
        load_dataset(c);
    }
    c.ok(["SELECT", "0"]);
    for i in 0..n {
        c.send(["SET", &format!("key:{i}"), &format!("value-{i}")]);
        if i % 10 == 0 {
            c.send(["PEXPIRE", &format!("key:{i}"), "100000000"]);
        }
    }
    for i in 0..n {
        assert!(!c.read().is_error());
        if i % 10 == 0 {
            assert_eq!(c.read().as_int(), 1);
        }
    }
}

#[test]
fn bgsave_under_concurrent_writes_saves_the_dataset_as_it_was_when_it_started() {
    for shards in [1, 4] {
        let dir = TempDir::new("bgsave");
        let srv = start_in(dir.path(), shards, &[]);
        let mut c = srv.conn();
        fill(&mut c, 2000);
        let at_start = digest(&mut c);
        // Slow the snapshot down (microseconds per key) so the writes below land during it.
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "300"]);
        assert_eq!(c.cmd(["BGSAVE"]), Reply::Simple("Background saving started".into()));
        assert_eq!(persistence(&mut c, "rdb_bgsave_in_progress"), "1");
        assert_eq!(c.err(["BGSAVE"]), "ERR Background save already in progress");
        assert_eq!(c.err(["BGSAVE", "SCHEDULE"]), "ERR Background save already in progress");
        assert_eq!(c.err(["SAVE"]), "ERR Background save already in progress");
        let mut w = srv.conn();
        for i in (0..2000).step_by(7) {
            w.ok(["SET", &format!("key:{i}"), "overwritten"]);
            w.int(["DEL", &format!("key:{}", i + 1)]);
            w.int(["EXPIRE", &format!("key:{}", i + 2), "5"]);
            w.ok(["SET", &format!("new:{i}"), "born during the save"]);
        }
        w.ok(["RENAME", "key:3", "renamed"]);
        w.int(["MOVE", "key:4", "9"]);
        w.int(["LPUSH", "list", "pushed"]);
        w.int(["HSET", "bighash", "f0", "changed"]);
        w.ok(["SWAPDB", "0", "3"]);
        w.ok(["SELECT", "15"]);
        w.ok(["FLUSHDB"]);
        assert_eq!(persistence(&mut c, "rdb_bgsave_in_progress"), "1", "shards {shards}: the writes ran during the save");
        w.ok(["FLUSHALL"]);
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        wait_bgsave_done(&mut c);
        assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "ok");
        assert_eq!(persistence(&mut c, "rdb_saves"), "1");
        assert!(dir.path().join("dump.rdb").exists());
        assert!(!dir.path().join(format!("temp-{}.rdb", srv.pid())).exists(), "the temp file was renamed");
        // The file holds the dataset of the instant BGSAVE started.
        c.ok(["DEBUG", "RELOAD", "NOSAVE"]);
        assert_eq!(digest(&mut c), at_start, "shards {shards}: the file is the dataset at BGSAVE's start");
        let pttl = c.int(["PTTL", "key:10"]);
        assert!(pttl > 99_000_000, "a TTL survives: {pttl}");
        // And the real Redis 7.0 loads it to the same dataset.
        if let Some(redis) = RedisServer::start(Some(dir.path()), &["--dbfilename", "dump.rdb"]) {
            assert_eq!(redis.conn().cmd(["DEBUG", "DIGEST"]).as_str(), at_start, "shards {shards}: redis-server loads our BGSAVE");
        }
    }
}

#[test]
fn save_points_fire_and_lastsave_moves() {
    let dir = TempDir::new("savepoints");
    let srv = start_in(dir.path(), 2, &[]);
    let mut c = srv.conn();
    let before = c.int(["LASTSAVE"]);
    assert_eq!(persistence(&mut c, "rdb_saves"), "0");
    c.ok(["SET", "a", "1"]);
    c.ok(["SET", "b", "2"]);
    assert_eq!(persistence(&mut c, "rdb_changes_since_last_save"), "2");
    // One change within one second: Redis's rule is "more than 1 second since the last save".
    c.ok(["CONFIG", "SET", "save", "1 1"]);
    assert!(wait_for(Duration::from_secs(20), || persistence(&mut c, "rdb_saves") == "1"), "the save point fired");
    wait_bgsave_done(&mut c);
    assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(persistence(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(c.int(["LASTSAVE"]) > before, "LASTSAVE moves");
    assert_eq!(persistence(&mut c, "rdb_last_save_time"), c.int(["LASTSAVE"]).to_string());
    assert!(dir.path().join("dump.rdb").exists());
    // No changes: no new save.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(persistence(&mut c, "rdb_saves"), "1");
    c.ok(["CONFIG", "SET", "save", ""]);
    c.ok(["SET", "c", "3"]);
    c.ok(["SAVE"]);
    assert_eq!(persistence(&mut c, "rdb_saves"), "2");
    assert_eq!(persistence(&mut c, "rdb_changes_since_last_save"), "0");
}

#[test]
fn changes_since_last_save_count_what_changed_as_redis_does() {
    for shards in [1, 4] {
        let dir = TempDir::new("dirty");
        let srv = start_in(dir.path(), shards, &[]);
        let mut c = srv.conn();
        let changes = |c: &mut Conn| persistence(c, "rdb_changes_since_last_save").parse::<u64>().unwrap();
        c.ok(["SET", "a", "1"]);
        c.ok(["SET", "b", "2"]);
        assert_eq!(changes(&mut c), 2, "shards {shards}");
        // DEL counts the keys it removed (across shards too), none for a missing key.
        assert_eq!(c.int(["DEL", "a", "b", "nokey"]), 2);
        assert_eq!(changes(&mut c), 4, "shards {shards}: DEL of two keys");
        assert_eq!(c.int(["DEL", "nokey"]), 0);
        assert_eq!(changes(&mut c), 4, "shards {shards}: DEL of nothing");
        // SETBIT counts a flipped bit or a created or grown string, not a bit set again.
        c.int(["SETBIT", "bits", "7", "1"]);
        c.int(["SETBIT", "bits", "7", "1"]);
        assert_eq!(changes(&mut c), 5, "shards {shards}: SETBIT");
        c.int(["SETBIT", "bits", "7", "0"]);
        c.int(["SETBIT", "bits", "100", "0"]);
        assert_eq!(changes(&mut c), 7, "shards {shards}: SETBIT flip and grow");
        // BITFIELD: a SET of the same value changes nothing, INCRBY always does, GET never.
        c.cmd(["BITFIELD", "f", "SET", "u8", "0", "255"]);
        c.cmd(["BITFIELD", "f", "SET", "u8", "0", "255"]);
        c.cmd(["BITFIELD", "f", "INCRBY", "u8", "0", "1", "GET", "u8", "0"]);
        c.cmd(["BITFIELD", "f", "GET", "u8", "0"]);
        assert_eq!(changes(&mut c), 9, "shards {shards}: BITFIELD");
        // Multi-element writes count their elements, as Redis's commands add to server.dirty.
        c.ok(["MSET", "m1", "1", "m2", "2", "m3", "3"]);
        assert_eq!(changes(&mut c), 12, "shards {shards}: MSET of three");
        assert_eq!(c.int(["SADD", "s", "a", "b", "a"]), 2);
        assert_eq!(c.int(["SREM", "s", "a", "zz"]), 1);
        assert_eq!(changes(&mut c), 15, "shards {shards}: SADD 2 new, SREM 1");
        c.int(["HSET", "h", "f", "1", "g", "2"]);
        c.int(["HSET", "h", "f", "1"]);
        assert_eq!(c.int(["HDEL", "h", "f", "nof"]), 1);
        assert_eq!(changes(&mut c), 19, "shards {shards}: HSET counts fields written, HDEL fields removed");
        c.int(["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(c.int(["LPUSHX", "nolist", "a"]), 0);
        assert_eq!(changes(&mut c), 22, "shards {shards}: RPUSH of three, LPUSHX of none");
    }
}

/// Commands run before the measured one.
type Setup = &'static [&'static [&'static str]];

// Setups the table below shares.
const LIST: &[&[&str]] = &[&["RPUSH", "l", "a", "b", "c", "a", "b", "a"]];
const HASH: &[&[&str]] = &[&["HSET", "h", "f", "1", "g", "2"]];
const SETS: &[&[&str]] = &[&["SADD", "s", "a", "b", "c", "d"], &["SADD", "s2", "c", "d", "e"]];
const ZSET: &[&[&str]] = &[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]];

/// (setup, command, what redis-server 7.0.15 added to rdb_changes_since_last_save for the
/// command after that setup in an empty dataset): its `server.dirty +=`, no-ops included.
#[rustfmt::skip]
const CHANGES: &[(Setup, &[&str], u64)] = &[
    // Strings (t_string.c): a SET that NX/XX stopped, SETRANGE of nothing, GETEX without a change add 0.
    (&[], &["SET", "k", "v"], 1),
    (&[&["SET", "k", "v"]], &["SET", "k", "w", "NX"], 0),
    (&[], &["SET", "k", "w", "XX"], 0),
    (&[&["SET", "k", "v"]], &["SET", "k", "w", "GET"], 1),
    (&[&["SET", "k", "v", "EX", "100"]], &["SET", "k", "w", "KEEPTTL"], 1),
    (&[&["SET", "k", "v"]], &["SET", "k", "w", "NX", "GET"], 0),
    (&[&["SET", "k", "v"]], &["SETNX", "k", "w"], 0),
    (&[], &["SETNX", "k", "w"], 1),
    (&[], &["SETEX", "k", "100", "w"], 1),
    (&[], &["PSETEX", "k", "100000", "w"], 1),
    (&[], &["MSET", "a", "1", "b", "2", "c", "3"], 3),
    (&[], &["MSETNX", "a", "1", "b", "2", "c", "3"], 3),
    (&[&["SET", "b", "x"]], &["MSETNX", "a", "1", "b", "2", "c", "3"], 0),
    (&[&["SET", "k", "v"]], &["GETSET", "k", "w"], 1),
    (&[], &["GETSET", "k", "w"], 1),
    (&[&["SET", "k", "v"]], &["GETDEL", "k"], 1),
    (&[], &["GETDEL", "k"], 0),
    (&[&["SET", "k", "v"]], &["GETEX", "k"], 0),
    (&[&["SET", "k", "v"]], &["GETEX", "k", "EX", "100"], 1),
    (&[&["SET", "k", "v"]], &["GETEX", "k", "PERSIST"], 0),
    (&[&["SET", "k", "v", "EX", "100"]], &["GETEX", "k", "PERSIST"], 1),
    (&[], &["GETEX", "k", "EX", "100"], 0),
    (&[&["SET", "k", "v"]], &["GETEX", "k", "PXAT", "1"], 1),
    (&[&["SET", "k", "v"]], &["GETEX", "k", "EXAT", "99999999999"], 1),
    (&[&["SET", "k", "v"]], &["APPEND", "k", "w"], 1),
    (&[&["SET", "k", "v"]], &["APPEND", "k", ""], 1),
    (&[], &["APPEND", "k", "w"], 1),
    (&[], &["APPEND", "k", ""], 1),
    (&[&["SET", "k", "hello"]], &["SETRANGE", "k", "1", "a"], 1),
    (&[&["SET", "k", "hello"]], &["SETRANGE", "k", "1", ""], 0),
    (&[], &["SETRANGE", "k", "1", ""], 0),
    (&[], &["SETRANGE", "k", "1", "x"], 1),
    (&[], &["INCR", "n"], 1),
    (&[], &["INCRBY", "n", "5"], 1),
    (&[], &["INCRBYFLOAT", "n", "1.5"], 1),
    (&[], &["DECRBY", "n", "3"], 1),
    (&[], &["SETBIT", "b", "7", "1"], 1),
    (&[&["SETBIT", "b", "7", "1"]], &["SETBIT", "b", "7", "1"], 0),
    (&[], &["BITFIELD", "b", "SET", "u8", "0", "1", "SET", "u8", "8", "2"], 2),
    (&[&["SET", "a", "x"], &["SET", "b", "y"]], &["BITOP", "AND", "d", "a", "b"], 1),
    (&[], &["BITOP", "AND", "d", "a", "b"], 0),
    (&[&["SET", "d", "x"]], &["BITOP", "AND", "d", "a", "b"], 1),
    // Keys (db.c, expire.c): what was not done adds 0; FLUSHDB/FLUSHALL count the keys removed.
    (&[&["MSET", "a", "1", "b", "2"]], &["DEL", "a", "b", "c"], 2),
    (&[], &["DEL", "a"], 0),
    (&[&["MSET", "a", "1", "b", "2"]], &["UNLINK", "a", "b", "c"], 2),
    (&[&["SET", "k", "v"]], &["EXPIRE", "k", "100"], 1),
    (&[], &["EXPIRE", "k", "100"], 0),
    (&[&["SET", "k", "v", "EX", "100"]], &["EXPIRE", "k", "200", "NX"], 0),
    (&[&["SET", "k", "v"]], &["EXPIRE", "k", "-1"], 1),
    (&[&["SET", "k", "v"]], &["EXPIRE", "k", "100", "XX"], 0),
    (&[&["SET", "k", "v"]], &["EXPIRE", "k", "100", "GT"], 0),
    (&[&["SET", "k", "v", "EX", "1000"]], &["EXPIRE", "k", "100", "LT"], 1),
    (&[&["SET", "k", "v"]], &["EXPIREAT", "k", "99999999999"], 1),
    (&[&["SET", "k", "v"]], &["PEXPIREAT", "k", "1"], 1),
    (&[&["SET", "k", "v", "EX", "100"]], &["PERSIST", "k"], 1),
    (&[&["SET", "k", "v"]], &["PERSIST", "k"], 0),
    (&[], &["PERSIST", "k"], 0),
    (&[&["SET", "k", "v"]], &["RENAME", "k", "k2"], 1),
    (&[&["SET", "k", "v"], &["SET", "k2", "v"]], &["RENAME", "k", "k2"], 1),
    (&[&["SET", "k", "v"]], &["RENAME", "k", "k"], 0),
    (&[&["SET", "k", "v"], &["SET", "k2", "v"]], &["RENAMENX", "k", "k2"], 0),
    (&[&["SET", "k", "v"]], &["RENAMENX", "k", "k2"], 1),
    (&[&["SET", "k", "v"]], &["RENAMENX", "k", "k"], 0),
    (&[&["SET", "k", "v"]], &["MOVE", "k", "1"], 1),
    (&[&["SET", "k", "v"], &["SELECT", "1"], &["SET", "k", "v"], &["SELECT", "0"]], &["MOVE", "k", "1"], 0),
    (&[], &["MOVE", "k", "1"], 0),
    (&[&["SET", "k", "v"]], &["MOVE", "k", "2"], 1),
    (&[&["SET", "k", "v"]], &["COPY", "k", "k2"], 1),
    (&[&["SET", "k", "v"], &["SET", "k2", "v"]], &["COPY", "k", "k2"], 0),
    (&[&["SET", "k", "v"], &["SET", "k2", "v"]], &["COPY", "k", "k2", "REPLACE"], 1),
    (&[], &["COPY", "k", "k2"], 0),
    (&[&["SET", "k", "v"]], &["COPY", "k", "k", "DB", "3"], 1),
    (&[&["SET", "k", "v"]], &["SWAPDB", "0", "1"], 1),
    (&[], &["SWAPDB", "0", "0"], 1),
    (&[&["MSET", "a", "1", "b", "2", "c", "3"]], &["FLUSHDB"], 3),
    (&[], &["FLUSHDB"], 0),
    (&[&["MSET", "a", "1", "b", "2", "c", "3"], &["SELECT", "1"], &["SET", "k", "v"], &["SELECT", "0"]], &["FLUSHALL"], 4),
    (&[], &["FLUSHALL"], 0),
    (&[&["MSET", "a", "1", "b", "2", "c", "3"]], &["FLUSHALL", "ASYNC"], 3),
    // Lists (t_list.c): elements pushed, popped, removed or trimmed; one per LSET, LINSERT, LMOVE.
    (&[], &["LPUSH", "l", "a", "b"], 2),
    (LIST, &["RPUSHX", "l", "x", "y"], 2),
    (&[], &["LPUSHX", "l", "x", "y"], 0),
    (LIST, &["LINSERT", "l", "BEFORE", "b", "x"], 1),
    (LIST, &["LINSERT", "l", "BEFORE", "zz", "x"], 0),
    (&[], &["LINSERT", "l", "BEFORE", "zz", "x"], 0),
    (LIST, &["LSET", "l", "0", "x"], 1),
    (LIST, &["LSET", "l", "99", "x"], 0),
    (LIST, &["LPOP", "l"], 1),
    (LIST, &["LPOP", "l", "3"], 3),
    (LIST, &["LPOP", "l", "10"], 6),
    (LIST, &["LPOP", "l", "0"], 0),
    (&[], &["LPOP", "l"], 0),
    (LIST, &["RPOP", "l", "2"], 2),
    (LIST, &["LREM", "l", "0", "a"], 3),
    (LIST, &["LREM", "l", "2", "a"], 2),
    (LIST, &["LREM", "l", "0", "zz"], 0),
    (&[&["RPUSH", "l", "a", "a"]], &["LREM", "l", "0", "a"], 2),
    (LIST, &["LTRIM", "l", "1", "2"], 4),
    (LIST, &["LTRIM", "l", "0", "-1"], 0),
    (LIST, &["LTRIM", "l", "5", "1"], 6),
    (&[], &["LTRIM", "l", "0", "1"], 0),
    (LIST, &["LMOVE", "l", "d", "LEFT", "RIGHT"], 1),
    (LIST, &["LMOVE", "l", "l", "LEFT", "RIGHT"], 1),
    (&[], &["LMOVE", "l", "d", "LEFT", "RIGHT"], 0),
    (&[&["RPUSH", "l", "a"]], &["LMOVE", "l", "l", "LEFT", "RIGHT"], 1),
    (LIST, &["RPOPLPUSH", "l", "d"], 1),
    (LIST, &["LMPOP", "2", "x", "l", "LEFT", "COUNT", "4"], 4),
    (LIST, &["LMPOP", "1", "l", "RIGHT"], 1),
    (&[], &["LMPOP", "1", "l", "RIGHT"], 0),
    (LIST, &["BLPOP", "x", "l", "0"], 1),
    (LIST, &["BRPOP", "l", "0"], 1),
    (LIST, &["BLMOVE", "l", "d", "LEFT", "LEFT", "0"], 1),
    (LIST, &["BRPOPLPUSH", "l", "d", "0"], 1),
    (LIST, &["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"], 2),
    // Hashes (t_hash.c): every field HSET writes, new or not; HSETNX only when it set.
    (HASH, &["HSETNX", "h", "f", "x"], 0),
    (HASH, &["HSETNX", "h", "z", "x"], 1),
    (HASH, &["HINCRBY", "h", "f", "3"], 1),
    (&[], &["HINCRBY", "h", "f", "5"], 1),
    (HASH, &["HINCRBYFLOAT", "h", "f", "3.5"], 1),
    (HASH, &["HMSET", "h", "f", "1", "z", "2", "y", "3"], 3),
    (HASH, &["HSET", "h", "f", "1"], 1),
    (HASH, &["HDEL", "h", "f", "g"], 2),
    (HASH, &["HDEL", "h", "zz"], 0),
    // Sets (t_set.c): SMOVE is the removal plus the addition; a *STORE counts one when it changed the key.
    (SETS, &["SADD", "s", "a", "b"], 0),
    (&[&["SADD", "s", "a"]], &["SREM", "s", "a"], 1),
    (SETS, &["SREM", "s", "zz"], 0),
    (SETS, &["SMOVE", "s", "s2", "a"], 2),
    (SETS, &["SMOVE", "s", "s2", "c"], 1),
    (SETS, &["SMOVE", "s", "s2", "zz"], 0),
    (SETS, &["SMOVE", "s", "s", "a"], 0),
    (SETS, &["SMOVE", "s", "s3", "a"], 2),
    (&[&["SADD", "s", "a"]], &["SMOVE", "s", "s3", "a"], 2),
    (SETS, &["SPOP", "s"], 1),
    (SETS, &["SPOP", "s", "2"], 2),
    (SETS, &["SPOP", "s", "10"], 4),
    (SETS, &["SPOP", "s", "0"], 0),
    (&[], &["SPOP", "s", "2"], 0),
    (SETS, &["SINTERSTORE", "d", "s", "s2"], 1),
    (SETS, &["SINTERSTORE", "d", "s", "nos"], 0),
    (&[&["SADD", "s", "a", "b", "c", "d"], &["SADD", "s2", "c", "d", "e"], &["SET", "d", "x"]], &["SINTERSTORE", "d", "s", "nos"], 1),
    (SETS, &["SUNIONSTORE", "d", "s", "s2"], 1),
    (&[], &["SUNIONSTORE", "d", "a", "b"], 0),
    (SETS, &["SDIFFSTORE", "d", "s", "s2"], 1),
    (SETS, &["SDIFFSTORE", "d", "nos", "s2"], 0),
    // Sorted sets (t_zset.c): ZADD counts added + updated whatever CH says; pops and removals per member.
    (ZSET, &["ZADD", "z", "5", "e", "6", "f", "1", "a"], 2),
    (ZSET, &["ZADD", "z", "5", "a", "6", "b", "3", "c"], 2),
    (ZSET, &["ZADD", "z", "CH", "5", "a", "6", "g"], 2),
    (ZSET, &["ZADD", "z", "NX", "5", "a", "6", "g"], 1),
    (ZSET, &["ZADD", "z", "XX", "5", "a", "6", "g"], 1),
    (ZSET, &["ZADD", "z", "INCR", "5", "a"], 1),
    (ZSET, &["ZADD", "z", "NX", "INCR", "5", "a"], 0),
    (ZSET, &["ZADD", "z", "GT", "0", "a", "9", "b"], 1),
    (ZSET, &["ZADD", "z", "1", "a", "2", "b"], 0),
    (ZSET, &["ZADD", "z", "INCR", "0", "a"], 0),
    (ZSET, &["ZADD", "z", "XX", "CH", "9", "a", "9", "q"], 1),
    (ZSET, &["ZINCRBY", "z", "2", "a"], 1),
    (ZSET, &["ZINCRBY", "z", "2", "q"], 1),
    (ZSET, &["ZINCRBY", "z", "0", "a"], 0),
    (ZSET, &["ZREM", "z", "a", "b", "zz"], 2),
    (ZSET, &["ZREM", "z", "zz"], 0),
    (&[&["ZADD", "z", "1", "a"]], &["ZREM", "z", "a"], 1),
    (ZSET, &["ZREMRANGEBYRANK", "z", "0", "2"], 3),
    (ZSET, &["ZREMRANGEBYSCORE", "z", "2", "3"], 2),
    (ZSET, &["ZREMRANGEBYSCORE", "z", "20", "30"], 0),
    (&[&["ZADD", "z", "0", "a", "0", "b", "0", "c"]], &["ZREMRANGEBYLEX", "z", "[a", "[b"], 2),
    (ZSET, &["ZPOPMIN", "z"], 1),
    (ZSET, &["ZPOPMIN", "z", "3"], 3),
    (ZSET, &["ZPOPMIN", "z", "0"], 0),
    (&[], &["ZPOPMIN", "z", "3"], 0),
    (ZSET, &["ZPOPMAX", "z", "10"], 4),
    (ZSET, &["ZMPOP", "1", "z", "MIN", "COUNT", "3"], 3),
    (&[], &["ZMPOP", "1", "z", "MIN"], 0),
    (ZSET, &["BZPOPMIN", "z", "0"], 1),
    (ZSET, &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "2"], 2),
    (ZSET, &["BZMPOP", "0", "2", "q", "z", "MIN", "COUNT", "10"], 4),
    (&[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], &["ZADD", "z2", "1", "x"]], &["ZUNIONSTORE", "d", "2", "z", "z2"], 1),
    (&[], &["ZUNIONSTORE", "d", "2", "a", "b"], 0),
    (&[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], &["ZADD", "z2", "1", "x"]], &["ZINTERSTORE", "d", "2", "z", "z2"], 0),
    (&[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], &["ZADD", "z2", "1", "x"], &["SET", "d", "x"]], &["ZINTERSTORE", "d", "2", "z", "z2"], 1),
    (&[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], &["ZADD", "z2", "1", "a"]], &["ZDIFFSTORE", "d", "2", "z", "z2"], 1),
    (ZSET, &["ZDIFFSTORE", "d", "2", "z", "z"], 0),
    (ZSET, &["ZRANGESTORE", "d", "z", "0", "2"], 1),
    (ZSET, &["ZRANGESTORE", "d", "z", "10", "20"], 0),
    (&[&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"], &["SET", "d", "x"]], &["ZRANGESTORE", "d", "z", "10", "20"], 1),
    // SORT (sort.c): nothing without STORE; with it, the elements stored, or one for a deleted destination.
    (&[&["RPUSH", "n", "3", "1", "2"]], &["SORT", "n"], 0),
    (&[&["RPUSH", "n", "3", "1", "2"]], &["SORT", "n", "STORE", "d"], 3),
    (&[&["SET", "d", "x"]], &["SORT", "n", "STORE", "d"], 1),
    (&[], &["SORT", "n", "STORE", "d"], 0),
    (&[&["RPUSH", "n", "3", "1", "2"]], &["SORT", "n", "GET", "#", "GET", "nokey*", "STORE", "d"], 6),
    (&[&["SADD", "n", "3", "1", "2"]], &["SORT", "n", "STORE", "d"], 3),

];

#[test]
fn changes_since_last_save_per_command_are_redis_figures() {
    for_each_shards(&[], |srv| {
        let mut c = srv.conn();
        let changes = |c: &mut Conn| persistence(c, "rdb_changes_since_last_save").parse::<u64>().unwrap();
        for (setup, cmd, want) in CHANGES {
            c.ok(["FLUSHALL"]);
            for s in *setup {
                assert!(!c.cmd(*s).is_error(), "setup {s:?}");
            }
            let before = changes(&mut c);
            c.cmd(*cmd);
            assert_eq!(changes(&mut c) - before, *want, "{cmd:?} after {setup:?}, {} shards", srv.shards());
        }
        // A parked client served later: Redis counts BLMPOP's and BZPOPMIN's pops then, not
        // BLPOP's or BLMOVE's (the pushes count as always).
        let mut waiter = srv.conn();
        for (block, push, want) in [
            (&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "2"][..], &["RPUSH", "l", "a", "b", "c"][..], 5),
            (&["BZPOPMIN", "z", "0"], &["ZADD", "z", "1", "a", "2", "b"], 3),
            (&["BLPOP", "l", "0"], &["RPUSH", "l", "a", "b", "c"], 3),
            (&["BLMOVE", "l", "d", "LEFT", "LEFT", "0"], &["RPUSH", "l", "a", "b", "c"], 3),
        ] {
            c.ok(["FLUSHALL"]);
            let before = changes(&mut c);
            waiter.send(block);
            assert!(wait_for(Duration::from_secs(10), || c.info("clients")["blocked_clients"] == "1"), "{block:?} parked");
            assert_eq!(changes(&mut c), before, "{block:?} parked: nothing changed yet");
            c.cmd(push);
            assert!(!waiter.read().is_nil(), "{block:?} served");
            assert_eq!(changes(&mut c) - before, want, "{block:?} served by {push:?}, {} shards", srv.shards());
        }
        // The commands of a transaction count as they would alone; FUNCTION FLUSH counts one.
        let before = changes(&mut c);
        c.ok(["MULTI"]);
        c.cmd(["SET", "a", "1"]);
        c.cmd(["SADD", "s", "a", "b"]);
        c.cmd(["SET", "a", "2", "NX"]);
        c.cmd(["EXEC"]);
        c.ok(["FUNCTION", "FLUSH"]);
        assert_eq!(changes(&mut c) - before, 4, "MULTI/EXEC and FUNCTION FLUSH, {} shards", srv.shards());
    });
}

#[test]
fn shutdown_save_and_nosave_and_a_restart_loads_dump_rdb() {
    let dir = TempDir::new("shutdown");
    let mut srv = start_in(dir.path(), 4, &[]);
    let mut c = srv.conn();
    for db in 0..16 {
        c.ok(["SELECT", &db.to_string()]);
        load_dataset(&mut c);
        c.ok(["SET", &format!("only-in-{db}"), "x", "EX", &(1000 + db).to_string()]);
    }
    let before = digest(&mut c);
    c.send(["SHUTDOWN", "SAVE"]);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "SHUTDOWN SAVE exits 0");
    // Another shard count: keys are routed again as they load.
    let mut srv = start_in(dir.path(), 2, &[]);
    let mut c = srv.conn();
    assert_eq!(digest(&mut c), before, "every type, TTL and database after a restart");
    c.ok(["SELECT", "9"]);
    let ttl = c.int(["TTL", "only-in-9"]);
    assert!(ttl > 1000 && ttl <= 1009, "{ttl}");
    assert_eq!(persistence(&mut c, "rdb_last_load_keys_loaded"), (16 * 16).to_string());
    c.ok(["SET", "not-saved", "x"]);
    c.send(["SHUTDOWN", "NOSAVE"]);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));
    // SIGTERM saves when save points are configured.
    let mut srv = start_in(dir.path(), 1, &["--save", "3600 1"]);
    let mut c = srv.conn();
    assert_eq!(digest(&mut c), before, "SHUTDOWN NOSAVE left the file alone");
    c.ok(["SET", "by-sigterm", "x"]);
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));
    let srv = start_in(dir.path(), 4, &[]);
    assert_eq!(srv.conn().get_str(["GET", "by-sigterm"]), Some("x".into()));
    assert_eq!(srv.conn().err(["SHUTDOWN", "SAVE", "NOSAVE"]), "ERR syntax error");
}

#[test]
fn debug_reload_keeps_the_dataset() {
    for_each_shards(&["--enable-debug-command", "yes"], |srv| {
        let mut c = srv.conn();
        fill(&mut c, 500);
        let before = digest(&mut c);
        c.ok(["DEBUG", "RELOAD"]);
        assert_eq!(digest(&mut c), before);
        assert_eq!(c.int(["DBSIZE"]), 515);
        c.ok(["SELECT", "3"]);
        assert_eq!(c.int(["DBSIZE"]), 15);
    });
}

#[test]
fn stop_writes_on_bgsave_error_refuses_writes_until_a_bgsave_succeeds() {
    let base = TempDir::new("misconf");
    let dir = base.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let srv = start_in(&dir, 2, &["--save", "3600 1"]);
    let mut c = srv.conn();
    c.ok(["SET", "kept", "v"]);
    // The directory disappears: the snapshot cannot be written (root ignores chmod).
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(c.cmd(["BGSAVE"]), Reply::Simple("Background saving started".into()));
    wait_bgsave_done(&mut c);
    assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "err");
    assert_eq!(persistence(&mut c, "current_save_keys_total"), "0", "every shard abandoned its snapshot");
    assert_eq!(c.err(["SET", "k", "v"]), MISCONF);
    assert_eq!(c.err(["DEL", "kept"]), MISCONF);
    assert_eq!(c.err(["PING"]), MISCONF, "Redis refuses PING too, for health checks");
    assert_eq!(c.get_str(["GET", "kept"]), Some("v".into()), "reads go on");
    // The final save fails too: SHUTDOWN refuses, and so does SIGTERM (the server runs on).
    assert_eq!(c.err(["SHUTDOWN"]), "ERR Errors trying to SHUTDOWN. Check logs.");
    srv.signal(libc::SIGTERM);
    assert!(wait_for(Duration::from_secs(10), || srv.log().contains("SIGTERM received but errors trying to shut down the server")));
    assert_eq!(c.get_str(["GET", "kept"]), Some("v".into()), "still serving after a refused SIGTERM");
    // With the option off, writes are accepted while the error stands.
    c.ok(["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
    c.ok(["SET", "k", "v"]);
    c.ok(["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"]);
    assert_eq!(c.err(["SET", "k", "v"]), MISCONF);
    // The directory is back: a good BGSAVE clears it.
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(c.cmd(["BGSAVE"]), Reply::Simple("Background saving started".into()));
    wait_bgsave_done(&mut c);
    assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "ok");
    c.ok(["SET", "k", "after"]);
    assert!(dir.join("dump.rdb").exists());
    assert_eq!(c.err(["BGSAVE", "NOW"]), "ERR syntax error");
}

#[test]
fn a_damaged_dump_rdb_stops_startup_naming_the_file() {
    let dir = TempDir::new("baddump");
    std::fs::write(dir.path().join("dump.rdb"), b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\x00\x03key").unwrap();
    let d = dir.path().display().to_string();
    let (status, out) = run_to_exit(&["--port", "0", "--bind", "127.0.0.1", "--save", "", "--dir", &d], dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("Can't load the RDB file") && out.contains("dump.rdb") && out.contains("offset"), "{out}");
}

/// Keys evicted while a BGSAVE runs are still in the file: it holds the dataset of the instant
/// the save began (found by review: eviction removed keys without copy-before-write).
#[test]
fn bgsave_keeps_the_keys_evicted_while_it_runs() {
    for shards in [1, 4] {
        let dir = TempDir::new("bgsave-evict");
        let srv = start_in(dir.path(), shards, &["--maxmemory-policy", "allkeys-random"]);
        let mut c = srv.conn();
        fill(&mut c, 3000);
        let at_start = digest(&mut c);
        let keys = c.int(["DBSIZE"]);
        // The usage before the save (which allocates buffers of its own) is the limit, set once
        // the save has begun: the new keys below make room by evicting old ones.
        let used = c.info("memory")["used_memory"].clone();
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "300"]);
        assert_eq!(c.cmd(["BGSAVE"]), Reply::Simple("Background saving started".into()));
        c.ok(["CONFIG", "SET", "maxmemory", &used]);
        for i in 0..3000 {
            c.send(["SET", &format!("new:{i}"), &"x".repeat(100)]);
        }
        for _ in 0..3000 {
            assert_eq!(c.read(), Reply::ok());
        }
        let evicted: i64 = c.info("stats")["evicted_keys"].parse().unwrap();
        assert!(evicted > 100, "shards {shards}: evictions ran during the save ({evicted})");
        assert_eq!(persistence(&mut c, "rdb_bgsave_in_progress"), "1", "shards {shards}: the evictions ran during the save");
        c.ok(["CONFIG", "SET", "maxmemory", "0"]);
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        wait_bgsave_done(&mut c);
        assert_eq!(persistence(&mut c, "rdb_last_bgsave_status"), "ok");
        c.ok(["DEBUG", "RELOAD", "NOSAVE"]);
        assert_eq!(c.int(["DBSIZE"]), keys, "shards {shards}: every key of the save's start is in the file");
        assert_eq!(digest(&mut c), at_start, "shards {shards}: the file is the dataset at BGSAVE's start");
    }
}
