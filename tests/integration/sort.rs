//! SORT and SORT_RO, mirroring Redis's unit/sort, with the weights, GET targets and STORE
//! destinations spread over shards.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::harness::{for_each_shards, key_on_shard, shard_of, Conn, Reply, Server};

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Pushes ids 0..n to `key` with `push`, weight_<id> and wobj_<id>.weight set to distinct
/// weights; returns the ids in weight order.
fn random_dataset(c: &mut Conn, key: &str, push: &str, n: usize) -> Vec<String> {
    let mut pairs: Vec<(String, f64)> = Vec::new();
    for i in 0..n {
        // Distinct weights, some integers and some fractions, not in id order.
        let w = if i % 2 == 0 { ((i * 7919) % 1000) as f64 } else { ((i * 104729) % 997) as f64 + 0.5 };
        c.int([push, key, &i.to_string()]);
        c.ok(["SET", &format!("weight_{i}"), &w.to_string()]);
        c.int(["HSET", &format!("wobj_{i}"), "weight", &w.to_string()]);
        pairs.push((i.to_string(), w));
    }
    pairs.sort_by(|a, b| a.1.total_cmp(&b.1));
    pairs.into_iter().map(|(id, _)| id).collect()
}

#[test]
fn sort_by_key_and_by_hash_field_reach_every_shard() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        for push in ["RPUSH", "SADD"] {
            c.int(["DEL", "tosort"]);
            let expected = random_dataset(&mut c, "tosort", push, 100);
            if s.shards() == 4 {
                let shards: HashSet<usize> = (0..100).map(|i| shard_of(&format!("weight_{i}"), 4)).collect();
                assert_eq!(shards.len(), 4, "the weights sit on every shard");
            }
            assert_eq!(c.cmd(["SORT", "tosort", "BY", "weight_*"]), Reply::bulks(&expected), "{push}");
            assert_eq!(c.cmd(["SORT", "tosort", "BY", "wobj_*->weight"]), Reply::bulks(&expected), "{push}");
            assert_eq!(c.cmd(["SORT", "tosort", "BY", "weight_*", "LIMIT", "5", "5"]), Reply::bulks(&expected[5..10]));
            let mut rev = expected.clone();
            rev.reverse();
            assert_eq!(c.cmd(["SORT_RO", "tosort", "BY", "weight_*", "DESC"]), Reply::bulks(&rev));
            // GET # and GET pattern: the element, then its weight from wherever it lives.
            let got = c.cmd(["SORT", "tosort", "BY", "weight_*", "GET", "#", "GET", "weight_*", "GET", "wobj_*->weight"]).strings();
            assert_eq!(got.len(), 300);
            for (i, row) in got.chunks(3).enumerate() {
                assert_eq!(row[0], expected[i]);
                let w = c.get_str(["GET", &format!("weight_{}", row[0])]).expect("weight");
                assert_eq!((&row[1], &row[2]), (&w, &w));
            }
        }
    });
}

#[test]
fn sort_numeric_alpha_desc_limit() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.int(["RPUSH", "floats", "1.1", "5.10", "3.10", "7.44", "2.1", "5.75", "6.12", "0.25", "1.15"]);
        assert_eq!(c.cmd(["SORT", "floats"]), Reply::bulks(&["0.25", "1.1", "1.15", "2.1", "3.10", "5.10", "5.75", "6.12", "7.44"]));
        c.int(["RPUSH", "mylist", "2", "1", "3", "10"]);
        assert_eq!(c.cmd(["SORT", "mylist", "ALPHA"]), Reply::bulks(&["1", "10", "2", "3"]));
        assert_eq!(c.cmd(["SORT", "mylist", "DESC"]), Reply::bulks(&["10", "3", "2", "1"]));
        assert_eq!(c.cmd(["SORT", "mylist", "LIMIT", "1", "2"]), Reply::bulks(&["2", "3"]));
        // A negative offset counts from 0; a negative count means the rest.
        assert_eq!(c.cmd(["SORT", "mylist", "LIMIT", "-5", "-1"]), Reply::bulks(&["1", "2", "3", "10"]));
        assert_eq!(c.cmd(["SORT", "mylist", "LIMIT", "2", "-1"]), Reply::bulks(&["3", "10"]));
        assert_eq!(c.cmd(["SORT", "mylist", "LIMIT", "4", "1"]), Reply::bulks::<&str>(&[]));
        assert_eq!(c.cmd(["SORT", "mylist", "LIMIT", "0", "0"]), Reply::bulks::<&str>(&[]));
        // Equal scores (no weight keys at all) sort by the elements' bytes.
        c.int(["SADD", "myset", "b", "aa", "a", "c"]);
        assert_eq!(c.cmd(["SORT", "myset", "BY", "noweight_*"]), Reply::bulks(&["a", "aa", "b", "c"]));
        c.int(["ZADD", "zset", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e"]);
        assert_eq!(c.cmd(["SORT", "zset", "ALPHA", "DESC"]), Reply::bulks(&["e", "d", "c", "b", "a"]));
        // A missing key sorts as an empty list.
        assert_eq!(c.cmd(["SORT", "nokey"]), Reply::bulks::<&str>(&[]));
    });
}

#[test]
fn sort_by_nosort_keeps_the_native_order() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.int(["LPUSH", "testa", "2", "1", "4", "3", "5"]);
        assert_eq!(c.cmd(["SORT", "testa", "BY", "nosort"]), Reply::bulks(&["5", "3", "4", "1", "2"]));
        assert_eq!(c.cmd(["SORT", "testa", "BY", "nosort", "DESC", "LIMIT", "1", "2"]), Reply::bulks(&["1", "4"]));
        c.int(["ZADD", "zset", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e"]);
        assert_eq!(c.cmd(["SORT", "zset", "BY", "nosort"]), Reply::bulks(&["a", "c", "e", "b", "d"]));
        assert_eq!(c.cmd(["SORT", "zset", "BY", "nosort", "DESC"]), Reply::bulks(&["d", "b", "e", "c", "a"]));
        assert_eq!(c.cmd(["SORT", "zset", "BY", "nosort", "DESC", "LIMIT", "0", "2"]), Reply::bulks(&["d", "b"]));
        assert_eq!(c.cmd(["SORT", "zset", "BY", "nosort", "LIMIT", "5", "10"]), Reply::bulks::<&str>(&[]));
        assert_eq!(c.cmd(["SORT", "zset", "BY", "nosort", "LIMIT", "-10", "100"]), Reply::bulks(&["a", "c", "e", "b", "d"]));
        // GET on a constant pattern finds nothing; GET # is the element.
        assert_eq!(
            c.cmd(["SORT", "testa", "BY", "nosort", "LIMIT", "0", "2", "GET", "#", "GET", "const"]),
            Reply::Array(Some(vec![Reply::bulk("5"), Reply::Bulk(None), Reply::bulk("3"), Reply::Bulk(None)]))
        );
        // "->" with nothing after it is part of the key name.
        c.ok(["SET", "x:5->", "100"]);
        assert_eq!(c.cmd(["SORT", "testa", "BY", "nosort", "LIMIT", "0", "1", "GET", "x:*->"]), Reply::bulks(&["100"]));
    });
}

/// Equal ALPHA weights: a full sort keeps the list's order (glibc's qsort is a merge sort);
/// with a LIMIT, Redis sorts only the range with its unstable pqsort, and so does shardis.
#[test]
fn sort_by_with_limit_leaves_ties_where_redis_does() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let elems = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        let mut push = vec!["RPUSH", "l"];
        push.extend(elems);
        c.int(&push);
        assert_eq!(c.cmd(["SORT", "l", "BY", "nokey_*", "ALPHA"]), Reply::bulks(&elems));
        // Replies of redis-server 7.0 for the same commands.
        assert_eq!(c.cmd(["SORT", "l", "BY", "nokey_*", "ALPHA", "LIMIT", "0", "3"]), Reply::bulks(&["l", "b", "c"]));
        assert_eq!(c.cmd(["SORT", "l", "BY", "nokey_*", "ALPHA", "LIMIT", "4", "3", "DESC"]), Reply::bulks(&["e", "f", "g"]));
    });
}

#[test]
fn sort_store_writes_a_list_on_another_shard() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let n = s.shards();
        let src = key_on_shard("src", 0, n);
        let dst = key_on_shard("dst", n - 1, n);
        c.int(["RPUSH", &src, "3", "1", "2"]);
        c.ok(["SET", &dst, "old", "EX", "100"]);
        assert_eq!(c.int(["SORT", &src, "STORE", &dst]), 3);
        assert_eq!(c.cmd(["LRANGE", &dst, "0", "-1"]), Reply::bulks(&["1", "2", "3"]));
        assert_eq!(c.int(["TTL", &dst]), -1, "STORE replaces the value and its TTL");
        assert_eq!(c.get_str(["OBJECT", "ENCODING", &dst]).as_deref(), Some("quicklist"));
        // With GET patterns, each GET is an element; one that finds nothing stores "".
        c.ok(["MSET", "w_1", "c", "w_2", "b"]);
        assert_eq!(c.int(["SORT", &src, "BY", "nosort", "GET", "#", "GET", "w_*", "STORE", &dst]), 6);
        assert_eq!(c.cmd(["LRANGE", &dst, "0", "-1"]), Reply::bulks(&["3", "", "1", "c", "2", "b"]));
        // A set stored with a constant BY is still sorted (ALPHA), so replicas agree.
        c.int(["SADD", "myset", "b", "c", "a", "aa"]);
        assert_eq!(c.int(["SORT", "myset", "BY", "_", "STORE", &dst]), 4);
        assert_eq!(c.cmd(["LRANGE", &dst, "0", "-1"]), Reply::bulks(&["a", "aa", "b", "c"]));
        // An empty result deletes the destination and replies 0.
        assert_eq!(c.int(["SORT", &src, "LIMIT", "10", "10", "STORE", &dst]), 0);
        assert_eq!(c.int(["EXISTS", &dst]), 0);
        assert_eq!(c.int(["SORT", "emptylist", "STORE", &src]), 0);
        assert_eq!(c.int(["EXISTS", &src]), 0);
    });
}

#[test]
fn sort_store_serves_a_blocked_pop() {
    for_each_shards(&[], |s| {
        let n = s.shards();
        let src = key_on_shard("notfoo", 0, n);
        let dst = key_on_shard("foo", n - 1, n);
        let mut blocked = s.conn();
        blocked.send(["BLPOP", &dst, "5"]);
        let mut c = s.conn();
        assert!(crate::harness::wait_for(std::time::Duration::from_secs(5), || c.info("clients").get("blocked_clients").map(String::as_str) == Some("1")));
        c.int(["LPUSH", &src, "hello", "hola", "aguacate", "konichiwa", "zanzibar"]);
        assert_eq!(c.int(["SORT", &src, "ALPHA", "STORE", &dst]), 5);
        assert_eq!(blocked.read(), Reply::bulks(&[dst.as_str(), "aguacate"]));
    });
}

#[test]
fn sort_errors() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.int(["SADD", "myset", "1", "2", "3", "4", "not-a-double"]);
        assert_eq!(c.err(["SORT", "myset"]), NOT_DOUBLE);
        c.int(["DEL", "myset"]);
        c.int(["SADD", "myset", "1", "2", "3", "4"]);
        c.ok(["MSET", "score:1", "10", "score:2", "20", "score:3", "30", "score:4", "not-a-double"]);
        assert_eq!(c.err(["SORT", "myset", "BY", "score:*"]), NOT_DOUBLE);
        // The failed SORT stored nothing.
        assert_eq!(c.err(["SORT", "myset", "BY", "score:*", "STORE", "out"]), NOT_DOUBLE);
        assert_eq!(c.int(["EXISTS", "out"]), 0);
        c.ok(["SET", "str", "x"]);
        c.int(["HSET", "hash", "f", "v"]);
        assert_eq!(c.err(["SORT", "str"]), WRONGTYPE);
        assert_eq!(c.err(["SORT_RO", "hash"]), WRONGTYPE);
        assert_eq!(c.err(["SORT", "myset", "LIMIT", "a", "1"]), "ERR value is not an integer or out of range");
        assert_eq!(c.err(["SORT", "myset", "LIMIT", "1"]), "ERR syntax error");
        assert_eq!(c.err(["SORT", "myset", "BOGUS"]), "ERR syntax error");
        assert_eq!(c.err(["SORT_RO", "myset", "STORE", "bar"]), "ERR syntax error");
        // Options are read before the key: a syntax error wins over WRONGTYPE.
        assert_eq!(c.err(["SORT", "str", "BOGUS"]), "ERR syntax error");
        assert_eq!(c.err(["SORT"]), "ERR wrong number of arguments for 'sort' command");
    });
}

#[test]
fn sort_extracts_store_correctly() {
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "SORT", "abc", "STORE", "def"]), Reply::bulks(&["abc", "def"]));
    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def"]), Reply::bulks(&["abc", "def"]));
    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "SORT", "abc", "BY", "w_*", "GET", "#"]), Reply::bulks(&["abc"]));
    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "SORT_RO", "abc"]), Reply::bulks(&["abc"]));
}

#[test]
fn sort_with_patterns_inside_multi() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.int(["RPUSH", "ids", "1", "2", "3"]);
        c.ok(["MSET", "w_1", "3", "w_2", "1", "w_3", "2"]);
        c.ok(["MULTI"]);
        assert_eq!(c.cmd(["SORT", "ids", "BY", "w_*"]), Reply::Simple("QUEUED".into()));
        assert_eq!(c.cmd(["SORT", "ids", "BY", "w_*", "DESC", "GET", "w_*", "STORE", "out"]), Reply::Simple("QUEUED".into()));
        let got = c.cmd(["EXEC"]);
        assert_eq!(got, Reply::Array(Some(vec![Reply::bulks(&["2", "3", "1"]), Reply::Int(3)])));
        assert_eq!(c.cmd(["LRANGE", "out", "0", "-1"]), Reply::bulks(&["3", "2", "1"]));
    });
}

/// A SORT whose weights live on every shard sees them all from one moment: a concurrent MSET
/// that rewrites every weight (reversing the order) is seen whole or not at all.
#[test]
fn sort_by_pattern_is_atomic_across_shards() {
    let s = Server::start(&["--shards", "4"]);
    let mut w = s.conn();
    let mut r = s.conn();
    let ids: Vec<String> = (0..16).map(|i| i.to_string()).collect();
    let mut push = vec!["RPUSH".to_string(), "ids".to_string()];
    push.extend(ids.iter().cloned());
    r.int(&push);
    let mset = |up: bool| {
        let mut cmd = vec!["MSET".to_string()];
        for (i, id) in ids.iter().enumerate() {
            cmd.extend([format!("w_{id}"), (if up { i } else { 100 - i }).to_string()]);
        }
        cmd
    };
    let (up_cmd, down_cmd) = (mset(true), mset(false));
    w.ok(&up_cmd);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            for round in 0..1000 {
                w.ok(if round % 2 == 0 { &down_cmd } else { &up_cmd });
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut rev = ids.clone();
    rev.reverse();
    let (up, down) = (Reply::bulks(&ids), Reply::bulks(&rev));
    while !done.load(Ordering::SeqCst) {
        let got = r.cmd(["SORT", "ids", "BY", "w_*"]);
        assert!(got == up || got == down, "SORT saw a partial MSET: {got:?}");
    }
    writer.join().expect("writer thread");
}
