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
