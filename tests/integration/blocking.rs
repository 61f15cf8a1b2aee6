//! Blocking list and sorted-set commands over real sockets: which key serves a client blocked
//! on keys of several shards, first-come-first-served order, timeouts, CLIENT UNBLOCK, the
//! ways a key becomes ready (pushes, RENAME, MOVE, COPY, SWAPDB, Z*STORE, LMOVE) and that
//! clients leaving while blocked leave nothing behind.
//!
//! Blocked clients are parked by the coordinator; a test that needs a client parked before the
//! next step waits for INFO's blocked_clients to count it (as Redis's own tests do with
//! wait_for_blocked_clients_count), never for a fixed time.

use std::time::{Duration, Instant};

use crate::harness::{for_each_shards, key_on_shard, keys_on_every_shard, shard_of, wait_for, Conn, Reply, Server};

/// How long a test waits for the server to park or release clients; a generous bound, not a
/// timing goal.
const SETTLE: Duration = Duration::from_secs(10);

fn blocked_clients(s: &Server) -> usize {
    s.info("clients")["blocked_clients"].parse().expect("blocked_clients is a number")
}

#[track_caller]
fn wait_blocked(s: &Server, n: usize) {
    let ok = wait_for(SETTLE, || blocked_clients(s) == n);
    assert!(ok, "blocked_clients never reached {n} (it is {})", blocked_clients(s));
}

/// Sends a blocking command on `c` and waits until the server counts `n` blocked clients.
#[track_caller]
fn block(s: &Server, c: &mut Conn, args: &[&str], n: usize) {
    c.send(args);
    wait_blocked(s, n);
}

/// One key per shard of a 4-shard server, named `prefix...`; with one shard they all share it.
fn spread(prefix: &str) -> Vec<String> {
    let keys = keys_on_every_shard(prefix, 4);
    assert_eq!(keys.iter().map(|k| shard_of(k, 4)).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    keys
}

/// Every blocking command, waiting on `key` (and `dst` for the moves), with `timeout`.
fn every_blocking_command<'a>(key: &'a str, dst: &'a str, timeout: &'a str) -> Vec<Vec<&'a str>> {
    vec![
        vec!["BLPOP", key, timeout],
        vec!["BRPOP", key, timeout],
        vec!["BRPOPLPUSH", key, dst, timeout],
        vec!["BLMOVE", key, dst, "LEFT", "RIGHT", timeout],
        vec!["BLMPOP", timeout, "1", key, "LEFT"],
        vec!["BZPOPMIN", key, timeout],
        vec!["BZPOPMAX", key, timeout],
        vec!["BZMPOP", timeout, "1", key, "MIN"],
    ]
}

#[test]
fn blpop_on_keys_of_every_shard_is_served_by_the_key_that_is_pushed() {
    for_each_shards(&[], |s| {
        let keys = spread("bk");
        let mut w = s.conn();
        let mut r = s.conn();
        for (i, pushed) in keys.iter().enumerate() {
            let mut cmd: Vec<&str> = vec!["BLPOP"];
            cmd.extend(keys.iter().map(String::as_str));
            cmd.push("0");
            block(s, &mut w, &cmd, 1);
            let v = format!("v{i}");
            assert_eq!(r.int(["RPUSH", pushed.as_str(), v.as_str()]), 1);
            assert_eq!(w.read(), Reply::bulks(&[pushed.as_str(), v.as_str()]));
            wait_blocked(s, 0);
            assert_eq!(r.int(["EXISTS", pushed.as_str()]), 0, "the served element was popped");
        }
    });
}

#[test]
fn blpop_with_several_keys_ready_is_served_in_redis_order() {
    for_each_shards(&[], |s| {
        let keys = spread("order");
        let (k0, k2) = (keys[0].as_str(), keys[2].as_str());
        let mut w = s.conn();
        let mut r = s.conn();
        // Keys already holding elements: the first listed one serves, without blocking.
        r.int(["RPUSH", k2, "two"]);
        r.int(["RPUSH", k0, "zero"]);
        assert_eq!(w.cmd(["BLPOP", k0, keys[1].as_str(), k2, "0"]), Reply::bulks(&[k0, "zero"]));
        assert_eq!(w.cmd(["BLPOP", k0, keys[1].as_str(), k2, "0"]), Reply::bulks(&[k2, "two"]));
        // Keys filled together by one transaction while the client waits: Redis 7.0 serves it
        // from the key that became ready first (k2 here), after the whole EXEC.
        block(s, &mut w, &["BLPOP", k0, keys[1].as_str(), k2, "0"], 1);
        r.ok(["MULTI"]);
        r.cmd(["RPUSH", k2, "a"]);
        r.cmd(["RPUSH", k0, "b"]);
        assert_eq!(r.cmd(["EXEC"]), Reply::Array(Some(vec![Reply::Int(1), Reply::Int(1)])));
        assert_eq!(w.read(), Reply::bulks(&[k2, "a"]));
        assert_eq!(r.cmd(["LRANGE", k0, "0", "-1"]), Reply::bulks(&["b"]));
    });
}

#[test]
fn clients_blocked_on_one_key_are_served_first_come_first_served() {
    for_each_shards(&[], |s| {
        let key = "fifo";
        let mut clients: Vec<Conn> = (0..3).map(|_| s.conn()).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            block(s, c, &["BLPOP", key, "0"], i + 1);
        }
        let mut r = s.conn();
        for (i, c) in clients.iter_mut().enumerate() {
            let v = format!("e{i}");
            r.int(["RPUSH", key, v.as_str()]);
            assert_eq!(c.read(), Reply::bulks(&[key, v.as_str()]), "client {i} is served {i}th");
        }
        wait_blocked(s, 0);
    });
}

#[test]
fn a_key_others_wait_on_does_not_stop_another_key_from_serving_at_once() {
    for_each_shards(&[], |s| {
        let keys = spread("busy");
        let (waited, full) = (keys[0].as_str(), keys[1].as_str());
        let mut first = s.conn();
        let mut second = s.conn();
        let mut r = s.conn();
        block(s, &mut first, &["BLPOP", waited, "0"], 1);
        r.int(["RPUSH", full, "x", "y"]);
        // Redis serves these at once from the key that holds data.
        assert_eq!(second.cmd(["BLPOP", waited, full, "0"]), Reply::bulks(&[full, "x"]));
        assert_eq!(second.cmd(["BLMPOP", "0", "2", waited, full, "RIGHT"]), Reply::Array(Some(vec![Reply::bulk(full), Reply::bulks(&["y"])])));
        assert_eq!(blocked_clients(s), 1);
        // With every key empty it queues behind the first waiter on the shared key.
        block(s, &mut second, &["BLPOP", waited, full, "0"], 2);
        r.int(["RPUSH", waited, "for-first"]);
        assert_eq!(first.read(), Reply::bulks(&[waited, "for-first"]));
        r.int(["RPUSH", full, "for-second"]);
        assert_eq!(second.read(), Reply::bulks(&[full, "for-second"]));
        wait_blocked(s, 0);
    });
}

#[test]
fn one_push_serves_one_of_two_waiters_and_two_pushes_serve_both() {
    for_each_shards(&[], |s| {
        let key = "pair";
        let mut a = s.conn();
        let mut b = s.conn();
        let mut r = s.conn();
        block(s, &mut a, &["BLPOP", key, "0"], 1);
        block(s, &mut b, &["BLPOP", key, "0"], 2);
        r.int(["RPUSH", key, "one"]);
        assert_eq!(a.read(), Reply::bulks(&[key, "one"]));
        assert!(b.is_silent_for(Duration::from_millis(200)), "the second waiter got nothing to pop");
        assert_eq!(blocked_clients(s), 1);
        r.int(["RPUSH", key, "two"]);
        assert_eq!(b.read(), Reply::bulks(&[key, "two"]));

        block(s, &mut a, &["BLPOP", key, "0"], 1);
        block(s, &mut b, &["BLPOP", key, "0"], 2);
        assert_eq!(r.int(["RPUSH", key, "x", "y"]), 2);
        assert_eq!(a.read(), Reply::bulks(&[key, "x"]));
        assert_eq!(b.read(), Reply::bulks(&[key, "y"]));
        wait_blocked(s, 0);
        assert_eq!(r.int(["EXISTS", key]), 0);
    });
}

#[test]
fn fractional_timeout_replies_nil_after_the_timeout() {
    for_each_shards(&[], |s| {
        for resp3 in [false, true] {
            let mut c = if resp3 { s.conn3() } else { s.conn() };
            for cmd in every_blocking_command("tmo", "tmo-dst", "0.1") {
                let t0 = Instant::now();
                let r = c.cmd(&cmd);
                let waited = t0.elapsed();
                // Redis: a null array in RESP2 (*-1), a null in RESP3 (_), for every one of them.
                let want = if resp3 { Reply::Null } else { Reply::Array(None) };
                assert_eq!(r, want, "{cmd:?} resp3={resp3}");
                assert!(waited >= Duration::from_millis(100), "{cmd:?} replied after {waited:?}, before its timeout");
            }
        }
        wait_blocked(s, 0);
    });
}

#[test]
fn zero_timeout_blocks_until_served() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        block(s, &mut w, &["BRPOP", "forever", "0"], 1);
        assert!(w.is_silent_for(Duration::from_millis(1200)), "a zero timeout never times out");
        assert_eq!(blocked_clients(s), 1);
        r.int(["LPUSH", "forever", "late"]);
        assert_eq!(w.read(), Reply::bulks(&["forever", "late"]));
    });
}

#[test]
fn bad_timeouts_are_refused_with_redis_errors() {
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    for (timeout, text) in [
        ("-1", "ERR timeout is negative"),
        ("-0.5", "ERR timeout is negative"),
        ("abc", "ERR timeout is not a float or out of range"),
        ("1x", "ERR timeout is not a float or out of range"),
        ("inf", "ERR timeout is not a float or out of range"),
    ] {
        for cmd in every_blocking_command("badt", "badt-dst", timeout) {
            assert_eq!(c.err(&cmd), text, "{cmd:?}");
        }
    }
    assert_eq!(blocked_clients(&s), 0);
}

#[test]
fn blmove_and_brpoplpush_between_shards() {
    for_each_shards(&[], |s| {
        let keys = spread("mv");
        let (src, dst) = (keys[1].as_str(), keys[3].as_str());
        let mut w = s.conn();
        let mut r = s.conn();
        block(s, &mut w, &["BLMOVE", src, dst, "RIGHT", "LEFT", "0"], 1);
        r.int(["RPUSH", src, "a", "b"]);
        assert_eq!(w.read(), Reply::bulk("b"));
        assert_eq!(r.cmd(["LRANGE", src, "0", "-1"]), Reply::bulks(&["a"]));
        assert_eq!(r.cmd(["LRANGE", dst, "0", "-1"]), Reply::bulks(&["b"]));

        r.int(["DEL", src, dst]);
        block(s, &mut w, &["BRPOPLPUSH", src, dst, "0"], 1);
        r.int(["RPUSH", src, "c"]);
        assert_eq!(w.read(), Reply::bulk("c"));
        assert_eq!(r.cmd(["LRANGE", dst, "0", "-1"]), Reply::bulks(&["c"]));
        assert_eq!(r.int(["EXISTS", src]), 0);

        // A client blocked on the destination is fed by the move (Redis's "BLMOVE with a
        // client BLPOPing the target list").
        let mut t = s.conn();
        r.int(["DEL", dst]);
        block(s, &mut t, &["BLPOP", dst, "0"], 1);
        block(s, &mut w, &["BLMOVE", src, dst, "LEFT", "LEFT", "0"], 2);
        r.int(["RPUSH", src, "chain"]);
        assert_eq!(w.read(), Reply::bulk("chain"));
        assert_eq!(t.read(), Reply::bulks(&[dst, "chain"]));
        wait_blocked(s, 0);
        assert_eq!(r.int(["EXISTS", src, dst]), 0);
    });
}

#[test]
fn bzpopmin_on_keys_of_every_shard() {
    for_each_shards(&[], |s| {
        let keys = spread("bz");
        let mut w = s.conn();
        let mut r = s.conn();
        let mut cmd: Vec<&str> = vec!["BZPOPMIN"];
        cmd.extend(keys.iter().map(String::as_str));
        cmd.push("0");
        block(s, &mut w, &cmd, 1);
        r.int(["ZADD", keys[3].as_str(), "2", "two", "1", "one"]);
        assert_eq!(w.read(), Reply::bulks(&[keys[3].as_str(), "one", "1"]));
        assert_eq!(r.cmd(["ZRANGE", keys[3].as_str(), "0", "-1"]), Reply::bulks(&["two"]));

        // A non-empty key serves at once.
        cmd[0] = "BZPOPMAX";
        assert_eq!(w.cmd(&cmd), Reply::bulks(&[keys[3].as_str(), "two", "2"]));
        assert_eq!(blocked_clients(s), 0);
    });
}

#[test]
fn transaction_that_pushes_and_pops_does_not_feed_the_waiter() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        block(s, &mut w, &["BLPOP", "txk", "0"], 1);
        // Redis serves waiters only after the whole EXEC: by then the list is empty again.
        r.ok(["MULTI"]);
        r.cmd(["RPUSH", "txk", "a"]);
        r.cmd(["LPOP", "txk"]);
        assert_eq!(r.cmd(["EXEC"]), Reply::Array(Some(vec![Reply::Int(1), Reply::bulk("a")])));
        assert!(w.is_silent_for(Duration::from_millis(200)));
        assert_eq!(blocked_clients(s), 1);
        r.int(["RPUSH", "txk", "b"]);
        assert_eq!(w.read(), Reply::bulks(&["txk", "b"]));
    });
}

#[test]
fn client_unblock_timeout_and_error() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        let id = w.int(["CLIENT", "ID"]).to_string();
        assert_eq!(blocked_clients(s), 0);
        block(s, &mut w, &["BLPOP", "ub", "0"], 1);
        assert_eq!(r.int(["CLIENT", "UNBLOCK", id.as_str()]), 1);
        assert_eq!(w.read(), Reply::Array(None));
        wait_blocked(s, 0);

        block(s, &mut w, &["BZPOPMIN", "ub", "0"], 1);
        assert_eq!(r.int(["CLIENT", "UNBLOCK", id.as_str(), "TIMEOUT"]), 1);
        assert_eq!(w.read(), Reply::Array(None));
        wait_blocked(s, 0);

        block(s, &mut w, &["BLMOVE", "ub", "ub2", "LEFT", "LEFT", "0"], 1);
        assert_eq!(r.int(["CLIENT", "UNBLOCK", id.as_str(), "ERROR"]), 1);
        assert_eq!(w.read(), Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into()));
        wait_blocked(s, 0);

        assert_eq!(r.int(["CLIENT", "UNBLOCK", id.as_str()]), 0, "a client that is not blocked");
        assert_eq!(r.err(["CLIENT", "UNBLOCK", id.as_str(), "SOON"]), "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        // The unblocked client is usable, and no ghost waiter took its place.
        assert_eq!(w.cmd(["PING"]), Reply::Simple("PONG".into()));
        r.int(["RPUSH", "ub", "kept"]);
        assert_eq!(r.cmd(["LRANGE", "ub", "0", "-1"]), Reply::bulks(&["kept"]));
    });
}

#[test]
fn replies_to_pipelined_commands_arrive_before_a_blocking_command_waits() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        let mut batch = crate::harness::encode(["SELECT", "3"]);
        batch.extend(crate::harness::encode(["SET", "pipe-other", "x"]));
        batch.extend(crate::harness::encode(["BLPOP", "pipe", "0"]));
        w.write_raw(&batch).expect("send");
        assert_eq!(w.read(), Reply::ok());
        assert_eq!(w.read(), Reply::ok());
        wait_blocked(s, 1);
        r.ok(["SELECT", "3"]);
        r.int(["RPUSH", "pipe", "v"]);
        assert_eq!(w.read(), Reply::bulks(&["pipe", "v"]));
    });
}

#[test]
fn push_resulting_from_brpoplpush_affects_watch() {
    for_each_shards(&[], |s| {
        let mut blocked = s.conn();
        let mut watching = s.conn();
        let mut r = s.conn();
        r.ok(["SET", "somekey{t}", "somevalue"]);
        block(s, &mut blocked, &["BRPOPLPUSH", "srclist{t}", "dstlist{t}", "0"], 1);
        watching.ok(["WATCH", "dstlist{t}"]);
        watching.ok(["MULTI"]);
        watching.cmd(["GET", "somekey{t}"]);
        r.int(["LPUSH", "srclist{t}", "element"]);
        assert_eq!(blocked.read(), Reply::bulk("element"));
        assert_eq!(watching.cmd(["EXEC"]), Reply::Array(None), "the served move touched dstlist");
    });
}

// ---------------------------------------------------------------------------------------------
// Keys that become ready other than by a push
// ---------------------------------------------------------------------------------------------

#[test]
fn swapdb_awakes_blocked_client() {
    for_each_shards(&[], |s| {
        let keys = spread("swap");
        let mut r = s.conn();
        r.ok(["SELECT", "1"]);
        r.int(["RPUSH", keys[2].as_str(), "hello"]);
        let mut w = s.conn();
        let mut idle = s.conn();
        w.ok(["SELECT", "9"]);
        idle.ok(["SELECT", "9"]);
        block(s, &mut w, &["BRPOP", keys[2].as_str(), "0"], 1);
        // A client waiting on a key that stays empty after the swap keeps waiting.
        block(s, &mut idle, &["BLPOP", keys[0].as_str(), "0"], 2);
        r.ok(["SWAPDB", "1", "9"]);
        assert_eq!(w.read(), Reply::bulks(&[keys[2].as_str(), "hello"]));
        assert!(idle.is_silent_for(Duration::from_millis(200)));
        assert_eq!(blocked_clients(s), 1);
        r.ok(["SELECT", "9"]);
        assert_eq!(r.int(["EXISTS", keys[2].as_str()]), 0, "popped in db 9");
    });
}

#[test]
fn swapdb_does_not_serve_an_expired_key() {
    for_each_shards(&[], |s| {
        let mut r = s.conn();
        r.ok(["SELECT", "1"]);
        r.int(["RPUSH", "gone", "hello"]);
        r.int(["PEXPIRE", "gone", "50"]);
        let mut w = s.conn();
        let id = w.int(["CLIENT", "ID"]).to_string();
        w.ok(["SELECT", "9"]);
        block(s, &mut w, &["BRPOP", "gone", "0"], 1);
        std::thread::sleep(Duration::from_millis(120));
        r.ok(["SWAPDB", "1", "9"]);
        assert!(w.is_silent_for(Duration::from_millis(200)), "an expired key serves nobody");
        assert_eq!(blocked_clients(s), 1);
        assert_eq!(r.int(["CLIENT", "UNBLOCK", id.as_str()]), 1);
        assert_eq!(w.read(), Reply::Array(None));
    });
}

#[test]
fn move_into_the_database_of_a_waiter_serves_it() {
    for_each_shards(&[], |s| {
        let mut r = s.conn();
        let mut w = s.conn();
        w.ok(["SELECT", "3"]);
        block(s, &mut w, &["BLPOP", "moved", "0"], 1);
        r.int(["RPUSH", "moved", "a", "b"]);
        assert_eq!(r.int(["MOVE", "moved", "3"]), 1);
        assert_eq!(w.read(), Reply::bulks(&["moved", "a"]));
        r.ok(["SELECT", "3"]);
        assert_eq!(r.cmd(["LRANGE", "moved", "0", "-1"]), Reply::bulks(&["b"]));
    });
}

#[test]
fn copy_onto_a_waited_key_serves_it() {
    for_each_shards(&[], |s| {
        let keys = spread("cp");
        let (src, dst) = (keys[0].as_str(), keys[1].as_str());
        let mut r = s.conn();
        let mut w = s.conn();
        r.int(["RPUSH", src, "a", "b"]);
        // Same database, destination on another shard.
        block(s, &mut w, &["BLPOP", dst, "0"], 1);
        assert_eq!(r.int(["COPY", src, dst]), 1);
        assert_eq!(w.read(), Reply::bulks(&[dst, "a"]));
        // Into another database.
        w.ok(["SELECT", "4"]);
        block(s, &mut w, &["BRPOP", dst, "0"], 1);
        assert_eq!(r.int(["COPY", src, dst, "DB", "4"]), 1);
        assert_eq!(w.read(), Reply::bulks(&[dst, "b"]));
        assert_eq!(r.cmd(["LRANGE", src, "0", "-1"]), Reply::bulks(&["a", "b"]), "the source is untouched");
    });
}

#[test]
fn blpop_when_new_key_is_moved_into_place() {
    for_each_shards(&[], |s| {
        let keys = spread("ren");
        let (from, to) = (keys[3].as_str(), keys[0].as_str());
        let mut r = s.conn();
        let mut w = s.conn();
        block(s, &mut w, &["BLPOP", to, "0"], 1);
        r.int(["LPUSH", from, "abc", "def", "hij"]);
        r.ok(["RENAME", from, to]);
        assert_eq!(w.read(), Reply::bulks(&[to, "hij"]));
        assert_eq!(r.cmd(["LRANGE", to, "0", "-1"]), Reply::bulks(&["def", "abc"]));
        r.int(["DEL", to]);
        block(s, &mut w, &["BLMPOP", "0", "1", to, "RIGHT"], 1);
        r.int(["LPUSH", from, "x"]);
        assert_eq!(r.int(["RENAMENX", from, to]), 1);
        assert_eq!(w.read(), Reply::Array(Some(vec![Reply::bulk(to), Reply::bulks(&["x"])])));
    });
}

#[test]
fn lmove_into_a_waited_key_serves_it() {
    for_each_shards(&[], |s| {
        let keys = spread("lm");
        let (src, dst) = (keys[2].as_str(), keys[1].as_str());
        let mut r = s.conn();
        let mut w = s.conn();
        block(s, &mut w, &["BRPOP", dst, "0"], 1);
        r.int(["RPUSH", src, "a"]);
        assert_eq!(r.cmd(["LMOVE", src, dst, "LEFT", "LEFT"]), Reply::bulk("a"));
        assert_eq!(w.read(), Reply::bulks(&[dst, "a"]));
    });
}

#[test]
fn zset_store_commands_into_a_waited_key_serve_it() {
    for_each_shards(&[], |s| {
        // The destination on one shard, the sources on two others.
        let dst = key_on_shard("zdst", 0, 4);
        let za = key_on_shard("za", 1, 4);
        let zb = key_on_shard("zb", 2, 4);
        let mut r = s.conn();
        let mut w = s.conn();
        r.int(["ZADD", za.as_str(), "1", "a", "2", "b"]);
        r.int(["ZADD", zb.as_str(), "3", "c", "2", "b"]);
        let stores: [(Vec<&str>, Reply); 4] = [
            (vec!["ZUNIONSTORE", dst.as_str(), "2", za.as_str(), zb.as_str()], Reply::bulks(&[dst.as_str(), "a", "1"])),
            (vec!["ZINTERSTORE", dst.as_str(), "2", za.as_str(), zb.as_str()], Reply::bulks(&[dst.as_str(), "b", "4"])),
            (vec!["ZDIFFSTORE", dst.as_str(), "2", za.as_str(), zb.as_str()], Reply::bulks(&[dst.as_str(), "a", "1"])),
            (vec!["ZRANGESTORE", dst.as_str(), za.as_str(), "1", "1"], Reply::bulks(&[dst.as_str(), "b", "2"])),
        ];
        for (store, served) in stores {
            r.int(["DEL", dst.as_str()]);
            block(s, &mut w, &["BZPOPMIN", dst.as_str(), "0"], 1);
            assert!(r.int(&store) >= 1, "{store:?}");
            assert_eq!(w.read(), served, "{store:?}");
        }
        wait_blocked(s, 0);
    });
}

// ---------------------------------------------------------------------------------------------
// Clients that leave while blocked
// ---------------------------------------------------------------------------------------------

#[test]
fn commands_sent_while_blocked_run_after_the_reply() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        block(s, &mut w, &["BLPOP", "later", "0"], 1);
        w.send(["PING"]);
        w.send(["RPUSH", "later-other", "x"]);
        assert!(w.is_silent_for(Duration::from_millis(100)), "nothing runs before the blocked command");
        r.int(["RPUSH", "later", "v"]);
        assert_eq!(w.read(), Reply::bulks(&["later", "v"]));
        assert_eq!(w.read(), Reply::Simple("PONG".into()));
        assert_eq!(w.read(), Reply::Int(1));
    });
}

#[test]
fn client_that_sends_more_while_blocked_and_leaves_is_no_ghost_waiter() {
    for_each_shards(&[], |s| {
        let mut w = s.conn();
        let mut r = s.conn();
        block(s, &mut w, &["BLPOP", "ghost", "0"], 1);
        // Bytes after the blocking command, then the close: the server must still see the
        // close and drop the waiter, or the next push would be popped for nobody.
        w.send(["PING"]);
        std::thread::sleep(Duration::from_millis(50));
        drop(w);
        wait_blocked(s, 0);
        r.int(["RPUSH", "ghost", "kept"]);
        assert_eq!(r.cmd(["LRANGE", "ghost", "0", "-1"]), Reply::bulks(&["kept"]));
    });
}

/// The leak test's rounds: `PER_ROUND` clients block and disconnect in each (at most that many
/// sockets open at once on each side), 4000 in all. The first `WARMUP` rounds let the server's
/// tables reach the size one round needs; growth is measured over the rounds after them.
const PER_ROUND: usize = 500;
const ROUNDS: usize = 8;
const WARMUP: usize = 2;

fn used_memory(c: &mut Conn) -> i64 {
    c.info("memory")["used_memory"].parse().expect("used_memory is a number")
}

#[test]
fn clients_that_disconnect_while_blocked_leave_no_waiter_and_no_memory_behind() {
    let s = Server::start(&["--shards", "4"]);
    let shared = spread("leak");
    let mut r = s.conn();
    let mut after_round = Vec::new();
    for round in 0..ROUNDS {
        let mut clients = Vec::with_capacity(PER_ROUND);
        for i in 0..PER_ROUND {
            let mut c = s.conn();
            // Each client waits on a key of its own and on a key of some shard that many
            // clients share, so per-key queues of one and of many waiters are both emptied.
            // Half of them with a timeout, so the deadline index is emptied too.
            let own = format!("leak-own-{i}");
            let timeout = if i % 2 == 0 { "0" } else { "300" };
            let cmd: Vec<&str> = match i % 3 {
                0 => vec!["BLPOP", own.as_str(), shared[i % 4].as_str(), timeout],
                1 => vec!["BZPOPMIN", shared[i % 4].as_str(), own.as_str(), timeout],
                _ => vec!["BLMOVE", own.as_str(), shared[i % 4].as_str(), "LEFT", "LEFT", timeout],
            };
            c.send(&cmd);
            clients.push(c);
        }
        wait_blocked(&s, PER_ROUND);
        let parked = used_memory(&mut r);
        drop(clients);
        wait_blocked(&s, 0);
        let gone = wait_for(SETTLE, || r.info("clients")["connected_clients"] == "1");
        assert!(gone, "round {round}: the disconnected clients are still registered");
        let after = used_memory(&mut r);
        assert!(parked - after > 1000 * PER_ROUND as i64, "used_memory should see {PER_ROUND} parked clients: {parked} then {after}");
        after_round.push(after);
    }
    // No ghost waiter: pushes to every key stay where they were put.
    for k in shared.iter().map(String::as_str).chain(["leak-own-0", "leak-own-1", "leak-own-2"]) {
        assert_eq!(r.int(["RPUSH", k, "stays"]), 1, "{k}");
        assert_eq!(r.cmd(["LRANGE", k, "0", "-1"]), Reply::bulks(&["stays"]), "{k}");
    }
    // Flat, not growing per round: after the warm-up, less than 8 bytes per client that came
    // and went (a waiter that left even its index entry behind costs more than that).
    let settled = after_round[WARMUP - 1];
    let grown = after_round[ROUNDS - 1] - settled;
    let clients = ((ROUNDS - WARMUP) * PER_ROUND) as i64;
    assert!(grown < 8 * clients, "used_memory grew by {grown} bytes over {clients} blocked clients after the warm-up: {after_round:?}");
}
