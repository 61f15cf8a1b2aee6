//! Generic key commands, mirroring Redis's unit/keyspace, unit/expire and unit/scan tests.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{for_each_shards, key_on_shard, keys_on_every_shard, wait_for, Conn, Reply, Server};

/// Fills db0 with `keys` through one MSET per 100 keys.
fn populate(c: &mut Conn, keys: &[String]) {
    for chunk in keys.chunks(100) {
        let mut cmd = vec!["MSET".to_string()];
        for k in chunk {
            cmd.push(k.clone());
            cmd.push(format!("val-{k}"));
        }
        c.ok(&cmd);
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn del_against_a_single_item_and_exists_counting() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("d", 4);
        populate(&mut c, &keys);
        // EXISTS counts every argument, repeats included.
        assert_eq!(c.int(["EXISTS", &keys[0], &keys[1], &keys[2], &keys[3], "nokey"]), 4);
        assert_eq!(c.int(["EXISTS", &keys[0], &keys[0]]), 2);
        assert_eq!(c.int(["DEL", &keys[0]]), 1);
        assert_eq!(c.get_str(["GET", &keys[0]]), None);
        // DEL counts each key once, across shards.
        assert_eq!(c.int(["DEL", &keys[0], &keys[1], &keys[2], &keys[3], &keys[3], "nokey"]), 3);
        assert_eq!(c.int(["EXISTS", &keys[1], &keys[2], &keys[3]]), 0);
        assert_eq!(c.int(["DBSIZE"]), 0);
        c.ok(["SET", "u", "1"]);
        assert_eq!(c.int(["UNLINK", "u", "nokey"]), 1);
    });
}

#[test]
fn expire_nx_xx_gt_lt_options() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "foo", "bar"]);
        // NX: only when the key has no TTL.
        assert_eq!(c.int(["EXPIRE", "foo", "200", "NX"]), 1);
        assert!(c.int(["TTL", "foo"]) >= 199);
        assert_eq!(c.int(["EXPIRE", "foo", "100", "NX"]), 0);
        // XX: only when it has one.
        assert_eq!(c.int(["EXPIRE", "foo", "300", "XX"]), 1);
        assert!(c.int(["TTL", "foo"]) >= 299);
        c.ok(["SET", "nottl", "bar"]);
        assert_eq!(c.int(["EXPIRE", "nottl", "100", "XX"]), 0);
        assert_eq!(c.int(["TTL", "nottl"]), -1);
        // GT: only a longer TTL; a key without TTL counts as infinite.
        assert_eq!(c.int(["EXPIRE", "foo", "100", "GT"]), 0);
        assert_eq!(c.int(["EXPIRE", "foo", "400", "GT"]), 1);
        assert!(c.int(["TTL", "foo"]) >= 399);
        assert_eq!(c.int(["EXPIRE", "nottl", "100", "GT"]), 0);
        // LT: only a shorter TTL; any TTL is shorter than none.
        assert_eq!(c.int(["EXPIRE", "foo", "500", "LT"]), 0);
        assert_eq!(c.int(["EXPIRE", "foo", "50", "LT"]), 1);
        let ttl = c.int(["TTL", "foo"]);
        assert!((49..=50).contains(&ttl), "{ttl}");
        assert_eq!(c.int(["EXPIRE", "nottl", "100", "LT"]), 1);
        // Incompatible options.
        assert_eq!(c.err(["EXPIRE", "foo", "200", "NX", "XX"]), "ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(c.err(["EXPIRE", "foo", "200", "GT", "LT"]), "ERR GT and LT options at the same time are not compatible");
        assert_eq!(c.err(["EXPIRE", "foo", "200", "AB"]), "ERR Unsupported option AB");
        assert_eq!(c.err(["EXPIRE", "foo", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(c.int(["EXPIRE", "missing", "100"]), 0);
        // A non-positive TTL deletes the key.
        assert_eq!(c.int(["EXPIRE", "foo", "-1"]), 1);
        assert_eq!(c.int(["EXISTS", "foo"]), 0);
    });
}

#[test]
fn ttl_pttl_expiretime_persist() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.int(["TTL", "missing"]), -2);
        assert_eq!(c.int(["PTTL", "missing"]), -2);
        assert_eq!(c.int(["EXPIRETIME", "missing"]), -2);
        assert_eq!(c.int(["PEXPIRETIME", "missing"]), -2);
        c.ok(["SET", "x", "y"]);
        assert_eq!(c.int(["TTL", "x"]), -1);
        assert_eq!(c.int(["PTTL", "x"]), -1);
        assert_eq!(c.int(["EXPIRETIME", "x"]), -1);
        assert_eq!(c.int(["PEXPIRETIME", "x"]), -1);
        // EXPIREAT / PEXPIREAT are returned as given.
        assert_eq!(c.int(["EXPIREAT", "x", "4000000000"]), 1);
        assert_eq!(c.int(["EXPIRETIME", "x"]), 4000000000);
        assert_eq!(c.int(["PEXPIRETIME", "x"]), 4000000000000);
        assert_eq!(c.int(["PEXPIREAT", "x", "4000000000123"]), 1);
        assert_eq!(c.int(["PEXPIRETIME", "x"]), 4000000000123);
        assert_eq!(c.int(["EXPIRETIME", "x"]), 4000000000);
        assert_eq!(c.int(["PEXPIRE", "x", "100000"]), 1);
        let pttl = c.int(["PTTL", "x"]);
        assert!(pttl > 90_000 && pttl <= 100_000, "{pttl}");
        // PERSIST can undo an EXPIRE.
        assert_eq!(c.int(["PERSIST", "x"]), 1);
        assert_eq!(c.int(["TTL", "x"]), -1);
        assert_eq!(c.int(["PERSIST", "x"]), 0);
        assert_eq!(c.int(["PERSIST", "missing"]), 0);
        assert_eq!(c.get_str(["GET", "x"]).as_deref(), Some("y"));
        // An EXPIREAT in the past deletes the key.
        assert_eq!(c.int(["EXPIREAT", "x", "1"]), 1);
        assert_eq!(c.int(["EXISTS", "x"]), 0);
    });
}

#[test]
fn redis_should_actively_expire_keys_incrementally() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("ttl", 4);
        for k in &keys {
            c.ok(["SET", k, "v", "PX", "100"]);
        }
        c.ok(["SET", "keep", "v", "PX", "100000"]);
        assert_eq!(c.int(["DBSIZE"]), 5);
        // Nobody reads the volatile keys: only active expiry can remove them. The bound is a
        // generous correctness deadline, not a timing goal.
        let gone = wait_for(Duration::from_secs(10), || c.int(["DBSIZE"]) == 1);
        assert!(gone, "keys with a 100ms TTL still counted by DBSIZE after 10s: {}", c.int(["DBSIZE"]));
        let info = c.info("keyspace");
        assert!(info.get("db0").is_some_and(|v| v.starts_with("keys=1,expires=1")), "{info:?}");
        assert_eq!(c.int(["EXISTS", "keep"]), 1);
    });
}

#[test]
fn expired_key_is_not_returned_when_read() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "x", "y", "PX", "1"]);
        assert!(wait_for(Duration::from_secs(5), || c.get_str(["GET", "x"]).is_none()));
        assert_eq!(c.int(["EXISTS", "x"]), 0);
        assert_eq!(c.int(["TTL", "x"]), -2);
    });
}

#[test]
fn rename_renamenx_across_shards() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let a = key_on_shard("ren-a", 0, 4);
        let b = key_on_shard("ren-b", 3, 4);
        c.ok(["SET", &a, "hello", "EX", "1000"]);
        c.ok(["RENAME", &a, &b]);
        assert_eq!(c.get_str(["GET", &a]), None);
        assert_eq!(c.get_str(["GET", &b]).as_deref(), Some("hello"));
        // The TTL moves with the value.
        assert!(c.int(["TTL", &b]) > 990);
        // RENAME against already existing key overwrites it.
        c.ok(["SET", &a, "a"]);
        c.ok(["RENAME", &b, &a]);
        assert_eq!(c.get_str(["GET", &a]).as_deref(), Some("hello"));
        assert_eq!(c.int(["EXISTS", &b]), 0);
        assert_eq!(c.err(["RENAME", "nokey", &b]), "ERR no such key");
        // RENAME where source and dest key are the same (existing).
        c.ok(["RENAME", &a, &a]);
        assert_eq!(c.get_str(["GET", &a]).as_deref(), Some("hello"));
        // RENAMENX against already existing key / basic usage.
        c.ok(["SET", &b, "b"]);
        assert_eq!(c.int(["RENAMENX", &a, &b]), 0);
        assert_eq!(c.cmd(["MGET", &a, &b]), Reply::bulks(&["hello", "b"]));
        c.int(["DEL", &b]);
        assert_eq!(c.int(["RENAMENX", &a, &b]), 1);
        assert_eq!(c.cmd(["MGET", &a, &b]), Reply::Array(Some(vec![Reply::Bulk(None), Reply::bulk("hello")])));
        assert_eq!(c.int(["RENAMENX", &b, &b]), 0);
        // Hash-tagged keys stay together.
        c.ok(["SET", "{t}src", "1"]);
        c.ok(["RENAME", "{t}src", "{t}dst"]);
        assert_eq!(c.get_str(["GET", "{t}dst"]).as_deref(), Some("1"));
    });
}

#[test]
fn copy_across_shards_and_dbs() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let a = key_on_shard("cp-a", 1, 4);
        let b = key_on_shard("cp-b", 2, 4);
        c.ok(["SET", &a, "foobar", "EX", "1000"]);
        assert_eq!(c.int(["COPY", &a, &b]), 1);
        assert_eq!(c.get_str(["GET", &b]).as_deref(), Some("foobar"));
        assert!(c.int(["TTL", &b]) > 990, "COPY keeps the TTL");
        c.ok(["SET", &a, "changed"]);
        assert_eq!(c.get_str(["GET", &b]).as_deref(), Some("foobar"), "the copy is independent of the source");
        assert_eq!(c.int(["COPY", &a, &b]), 0);
        assert_eq!(c.int(["COPY", &a, &b, "REPLACE"]), 1);
        assert_eq!(c.get_str(["GET", &b]).as_deref(), Some("changed"));
        assert_eq!(c.int(["COPY", "nokey", &b]), 0);
        assert_eq!(c.err(["COPY", &a, &a]), "ERR source and destination objects are the same");
        // COPY to another database.
        assert_eq!(c.int(["COPY", &a, &a, "DB", "9"]), 1);
        c.ok(["SELECT", "9"]);
        assert_eq!(c.get_str(["GET", &a]).as_deref(), Some("changed"));
        c.ok(["SELECT", "0"]);
        assert_eq!(c.err(["COPY", &a, &b, "DB", "99"]), "ERR DB index is out of range");
        assert_eq!(c.err(["COPY", &a, &b, "FOO"]), "ERR syntax error");
    });
}

#[test]
fn move_between_dbs() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "mykey", "foobar", "EX", "1000"]);
        assert_eq!(c.int(["MOVE", "mykey", "10"]), 1);
        assert_eq!(c.int(["EXISTS", "mykey"]), 0);
        c.ok(["SELECT", "10"]);
        assert_eq!(c.get_str(["GET", "mykey"]).as_deref(), Some("foobar"));
        assert!(c.int(["TTL", "mykey"]) > 990, "MOVE keeps the TTL");
        c.ok(["SELECT", "0"]);
        // MOVE against key existing in the target DB.
        c.ok(["SET", "mykey", "other"]);
        assert_eq!(c.int(["MOVE", "mykey", "10"]), 0);
        assert_eq!(c.get_str(["GET", "mykey"]).as_deref(), Some("other"));
        assert_eq!(c.int(["MOVE", "nokey", "10"]), 0);
        assert_eq!(c.err(["MOVE", "mykey", "0"]), "ERR source and destination objects are the same");
        assert_eq!(c.err(["MOVE", "mykey", "16"]), "ERR DB index is out of range");
        assert_eq!(c.err(["MOVE", "mykey", "abc"]), "ERR value is not an integer or out of range");
    });
}

#[test]
fn swapdb_flushdb_flushall() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let mut other = s.conn();
        let keys = keys_on_every_shard("sw", 4);
        populate(&mut c, &keys);
        c.ok(["SELECT", "1"]);
        c.ok(["SET", "in1", "x"]);
        assert_eq!(c.int(["DBSIZE"]), 1);
        c.ok(["SWAPDB", "0", "1"]);
        // Another connection sees the swap.
        assert_eq!(other.int(["DBSIZE"]), 1);
        assert_eq!(other.get_str(["GET", "in1"]).as_deref(), Some("x"));
        assert_eq!(c.int(["DBSIZE"]), 4);
        assert_eq!(c.err(["SWAPDB", "0", "100"]), "ERR DB index is out of range");
        assert_eq!(c.err(["SWAPDB", "a", "1"]), "ERR invalid first DB index");
        c.ok(["SWAPDB", "1", "0"]);
        assert_eq!(other.int(["DBSIZE"]), 4);
        // FLUSHDB empties only the selected database.
        c.ok(["FLUSHDB"]);
        assert_eq!(c.int(["DBSIZE"]), 0);
        assert_eq!(other.int(["DBSIZE"]), 4);
        c.ok(["SET", "in1", "x"]);
        // FLUSHALL empties them all.
        other.ok(["FLUSHALL"]);
        assert_eq!(other.int(["DBSIZE"]), 0);
        assert_eq!(c.int(["DBSIZE"]), 0);
        assert_eq!(c.err(["FLUSHALL", "FOO"]), "ERR syntax error");
        c.ok(["FLUSHALL", "SYNC"]);
        c.ok(["FLUSHDB", "ASYNC"]);
    });
}

#[test]
fn keys_with_pattern() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let names = ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"];
        for k in names {
            c.ok(["SET", k, "hello"]);
        }
        assert_eq!(sorted(c.cmd(["KEYS", "foo*"]).strings()), vec!["foo_a", "foo_b", "foo_c"]);
        assert_eq!(sorted(c.cmd(["KEYS", "*"]).strings()), sorted(names.iter().map(|s| s.to_string()).collect()));
        assert_eq!(sorted(c.cmd(["KEYS", "key_[xy]"]).strings()), vec!["key_x", "key_y"]);
        assert_eq!(sorted(c.cmd(["KEYS", "?oo_?"]).strings()), vec!["foo_a", "foo_b", "foo_c"]);
        assert_eq!(c.cmd(["KEYS", "nomatch*"]), Reply::Array(Some(vec![])));
        assert_eq!(c.int(["DBSIZE"]), 6);
    });
}

/// Iterates SCAN with `extra` options until the cursor returns to 0; returns every key seen.
fn scan_all(c: &mut Conn, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..100_000 {
        let mut cmd = vec!["SCAN", cursor.as_str()];
        cmd.extend_from_slice(extra);
        let r = c.cmd(&cmd);
        let parts = r.as_array();
        assert_eq!(parts.len(), 2, "SCAN reply {r:?}");
        let next = parts[0].as_str();
        seen.extend(parts[1].strings());
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
    panic!("SCAN never returned cursor 0");
}

#[test]
fn scan_basic() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        populate(&mut c, &keys);
        for count in [None, Some("5"), Some("100"), Some("1000")] {
            let extra: Vec<&str> = count.map(|n| vec!["COUNT", n]).unwrap_or_default();
            let seen = scan_all(&mut c, &extra);
            let set: HashSet<&String> = seen.iter().collect();
            assert_eq!(set.len(), 1000, "SCAN {extra:?} returned {} distinct keys", set.len());
            assert!(keys.iter().all(|k| set.contains(k)), "SCAN {extra:?} missed keys");
        }
        assert_eq!(c.err(["SCAN", "abc"]), "ERR invalid cursor");
        assert_eq!(c.err(["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    });
}

#[test]
fn scan_match() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys: Vec<String> = (0..1000).map(|i| format!("key:{i}")).collect();
        populate(&mut c, &keys);
        let seen: HashSet<String> = scan_all(&mut c, &["MATCH", "key:1??"]).into_iter().collect();
        let want: HashSet<String> = (100..200).map(|i| format!("key:{i}")).collect();
        assert_eq!(seen, want);
    });
}

#[test]
fn scan_type() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys: Vec<String> = (0..300).map(|i| format!("key:{i}")).collect();
        populate(&mut c, &keys);
        let strings: HashSet<String> = scan_all(&mut c, &["TYPE", "string", "COUNT", "20"]).into_iter().collect();
        assert_eq!(strings.len(), 300);
        let lists = scan_all(&mut c, &["TYPE", "list"]);
        assert!(lists.is_empty(), "{lists:?}");
    });
}

#[test]
fn scan_full_iteration_over_4_shards_returns_every_key() {
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    let keys: Vec<String> = (0..1000).map(|i| format!("scan-{i}")).collect();
    populate(&mut c, &keys);
    let seen = scan_all(&mut c, &["COUNT", "10"]);
    let set: HashSet<String> = seen.into_iter().collect();
    let want: HashSet<String> = keys.into_iter().collect();
    assert_eq!(set.len(), want.len());
    assert_eq!(set, want);
}

#[test]
fn randomkey() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert!(c.cmd(["RANDOMKEY"]).is_nil(), "RANDOMKEY against empty DB");
        c.ok(["SET", "foo", "x"]);
        assert_eq!(c.get_str(["RANDOMKEY"]).as_deref(), Some("foo"));
        c.ok(["SET", "bar", "y"]);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.insert(c.get_str(["RANDOMKEY"]).expect("a key"));
            if seen.len() == 2 {
                break;
            }
        }
        assert_eq!(seen, HashSet::from(["foo".to_string(), "bar".to_string()]));
    });
}

#[test]
fn keyspace_info_counts_keys_across_shards() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys: Vec<String> = (0..50).map(|i| format!("ks:{i}")).collect();
        populate(&mut c, &keys);
        c.ok(["SET", "vol", "x", "EX", "1000"]);
        c.ok(["SELECT", "3"]);
        c.ok(["SET", "other", "x"]);
        let info = c.info("keyspace");
        let db0 = info.get("db0").unwrap_or_else(|| panic!("no db0 in {info:?}"));
        assert!(db0.starts_with("keys=51,expires=1,"), "db0:{db0}");
        assert!(info.get("db3").is_some_and(|v| v.starts_with("keys=1,expires=0")), "{info:?}");
        assert!(!info.contains_key("db1"), "an empty db is not listed: {info:?}");
    });
}
