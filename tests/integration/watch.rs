//! WATCH: which changes abort a watcher's EXEC (Redis's touchWatchedKey rules), on one shard
//! and across shards.

use std::time::Duration;

use crate::harness::{for_each_shards, wait_for, Conn, Reply};

/// MULTI, PING, EXEC: true when EXEC ran (a WATCHed key was not touched).
fn exec_runs(c: &mut Conn) -> bool {
    c.ok(["MULTI"]);
    assert_eq!(c.cmd(["PING"]), Reply::Simple("QUEUED".into()));
    let r = c.cmd(["EXEC"]);
    assert!(matches!(r, Reply::Array(_)) || r.is_nil(), "EXEC: {r:?}");
    !r.is_nil()
}

#[test]
fn flushes_touch_only_watched_keys_that_exist() {
    for_each_shards(&[], |srv| {
        let mut c = srv.conn();
        let mut other = srv.conn();
        // FLUSHALL does not touch non affected keys.
        c.ok(["FLUSHALL"]);
        c.ok(["WATCH", "x"]);
        other.ok(["FLUSHALL"]);
        assert!(exec_runs(&mut c), "FLUSHALL of a missing watched key aborted EXEC");
        // FLUSHALL is able to touch the watched keys (several, on any shard).
        other.ok(["MSET", "a", "1", "b", "2", "c", "3"]);
        c.ok(["WATCH", "b", "a"]);
        other.ok(["FLUSHALL"]);
        assert!(!exec_runs(&mut c), "FLUSHALL of existing watched keys did not abort EXEC");
        // FLUSHDB: same rules, and only in its own database.
        other.ok(["SET", "x", "30"]);
        c.ok(["WATCH", "x"]);
        other.ok(["FLUSHDB"]);
        assert!(!exec_runs(&mut c));
        c.ok(["WATCH", "x"]);
        other.ok(["FLUSHDB"]);
        assert!(exec_runs(&mut c), "FLUSHDB of a missing watched key aborted EXEC");
        other.ok(["SELECT", "1"]);
        other.ok(["SET", "y", "1"]);
        c.ok(["SET", "y", "0"]);
        c.ok(["WATCH", "y"]);
        other.ok(["FLUSHDB"]);
        assert!(exec_runs(&mut c), "FLUSHDB of db 1 aborted an EXEC watching db 0");
    });
}

#[test]
fn swapdb_touches_watched_keys_that_exist_in_either_database() {
    for_each_shards(&[], |srv| {
        let mut c = srv.conn();
        let mut other = srv.conn();
        c.ok(["FLUSHALL"]);
        // The key exists only in the database swapped in.
        other.ok(["SELECT", "1"]);
        other.ok(["SET", "k", "from1"]);
        c.ok(["WATCH", "k"]);
        other.ok(["SWAPDB", "0", "1"]);
        assert!(!exec_runs(&mut c), "SWAPDB bringing the watched key in did not abort EXEC");
        // In neither database: untouched.
        c.ok(["FLUSHALL"]);
        c.ok(["WATCH", "nothere"]);
        other.ok(["SWAPDB", "0", "1"]);
        assert!(exec_runs(&mut c), "SWAPDB of a key in neither database aborted EXEC");
    });
}

#[test]
fn a_watched_key_that_expires_aborts_exec() {
    for_each_shards(&[], |srv| {
        let mut c = srv.conn();
        c.ok(["FLUSHALL"]);
        c.ok(["SET", "x", "foo", "PX", "100"]);
        c.ok(["WATCH", "x"]);
        // Active expiry deletes it (DBSIZE does not look the key up).
        assert!(wait_for(Duration::from_secs(10), || c.int(["DBSIZE"]) == 0), "x never expired");
        assert!(!exec_runs(&mut c), "the expiry of a watched key did not abort EXEC");
        // A key that expires without being watched does not disturb another watch.
        c.ok(["SET", "y", "foo", "PX", "100"]);
        c.ok(["SET", "w", "bar"]);
        c.ok(["WATCH", "w"]);
        assert!(wait_for(Duration::from_secs(10), || c.int(["DBSIZE"]) == 1), "y never expired");
        assert!(exec_runs(&mut c));
    });
}
