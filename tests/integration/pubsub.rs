//! Pub/Sub over real sockets: subscriptions and messages across connections served by
//! different shards, patterns and how PUBLISH counts receivers, the introspection commands,
//! the confirmations' exact shapes (RESP2 arrays, RESP3 pushes), the RESP2 subscribed context,
//! subscriptions dropped when a connection ends, and the pubsub output buffer class: a
//! subscriber that never reads is closed at its limit and the server's memory stays bounded.
//! Mirrors Redis's unit/pubsub and unit/pubsubshard.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::harness::*;

const SETTLE: Duration = Duration::from_secs(10);

fn push(items: &[Reply]) -> Reply {
    Reply::Push(items.to_vec())
}

fn arr(items: &[Reply]) -> Reply {
    Reply::Array(Some(items.to_vec()))
}

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

/// A subscription confirmation or message as RESP2 shows it.
fn msg(kind: &str, name: &str, rest: Reply) -> Reply {
    arr(&[b(kind), b(name), rest])
}

/// The shard serving a connection (CLIENT INFO's shard= field).
fn shard_of_conn(c: &mut Conn) -> usize {
    let line = c.cmd(["CLIENT", "INFO"]).as_str();
    line.split_whitespace().find_map(|kv| kv.strip_prefix("shard=")).and_then(|v| v.parse().ok()).expect("CLIENT INFO has shard=")
}

/// Connections served by `n` different shards (as many as the server has, at most), found by
/// opening connections until the kernel has spread them that far.
fn conns_on_distinct_shards(s: &Server, n: usize) -> Vec<Conn> {
    let want = n.min(s.shards());
    let mut found: HashMap<usize, Conn> = HashMap::new();
    for _ in 0..256 {
        let mut c = s.conn();
        let shard = shard_of_conn(&mut c);
        found.entry(shard).or_insert(c);
        if found.len() == want {
            break;
        }
    }
    assert_eq!(found.len(), want, "connections never landed on {want} shards");
    let mut v: Vec<(usize, Conn)> = found.into_iter().collect();
    v.sort_by_key(|(s, _)| *s);
    v.into_iter().map(|(_, c)| c).collect()
}

fn client_fields(admin: &mut Conn, id: i64) -> Option<HashMap<String, String>> {
    let list = admin.cmd(["CLIENT", "LIST", "ID", &id.to_string()]).as_str();
    let line = list.lines().next()?;
    Some(line.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn stat(s: &Server, field: &str) -> i64 {
    s.info("stats")[field].parse().expect("a number")
}

fn subscribe(c: &mut Conn, cmd: &str, names: &[&str]) -> Vec<i64> {
    let mut args = vec![cmd];
    args.extend_from_slice(names);
    c.send(&args);
    names
        .iter()
        .map(|n| {
            let r = c.read();
            let a = r.as_array();
            assert_eq!((a[0].as_str(), a[1].as_str()), (cmd.to_ascii_lowercase(), n.to_string()), "{r:?}");
            a[2].as_int()
        })
        .collect()
}

#[test]
fn pubsub_ping() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(subscribe(&mut c, "SUBSCRIBE", &["somechannel"]), vec![1]);
        assert_eq!(c.cmd(["PING"]), arr(&[b("pong"), b("")]));
        assert_eq!(c.cmd(["PING", "foo"]), arr(&[b("pong"), b("foo")]));
        assert_eq!(c.cmd(["UNSUBSCRIBE", "somechannel"]), msg("unsubscribe", "somechannel", Reply::Int(0)));
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
    });
}

#[test]
fn publish_subscribe_basics() {
    for_each_shards(&[], |s| {
        let mut sub = s.conn();
        let mut p = s.conn();
        assert_eq!(subscribe(&mut sub, "SUBSCRIBE", &["chan1", "chan2"]), vec![1, 2]);
        assert_eq!(p.int(["PUBLISH", "chan1", "hello"]), 1);
        assert_eq!(p.int(["PUBLISH", "chan2", "world"]), 1);
        assert_eq!(sub.read(), msg("message", "chan1", b("hello")));
        assert_eq!(sub.read(), msg("message", "chan2", b("world")));
        assert_eq!(sub.cmd(["UNSUBSCRIBE", "chan1"]), msg("unsubscribe", "chan1", Reply::Int(1)));
        assert_eq!(p.int(["PUBLISH", "chan1", "hello"]), 0);
        assert_eq!(p.int(["PUBLISH", "chan2", "world"]), 1);
        assert_eq!(sub.read(), msg("message", "chan2", b("world")));
        // Subscribing twice counts once; UNSUBSCRIBE without names leaves everything.
        assert_eq!(subscribe(&mut sub, "SUBSCRIBE", &["chan2", "chan3"]), vec![1, 2]);
        sub.send(["UNSUBSCRIBE"]);
        let mut left: Vec<(String, i64)> = (0..2).map(|_| sub.read()).map(|r| (r.as_array()[1].as_str(), r.as_array()[2].as_int())).collect();
        left.sort();
        assert_eq!(left.iter().map(|(_, n)| *n).sum::<i64>(), 1, "counts 1 then 0: {left:?}");
        assert_eq!(left.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["chan2", "chan3"]);
        assert_eq!(p.int(["PUBLISH", "chan2", "x"]), 0);
        assert_eq!(p.int(["PUBLISH", "chan3", "x"]), 0);
        // Nothing to leave: Redis still replies, with a null name.
        assert_eq!(sub.cmd(["UNSUBSCRIBE"]), arr(&[b("unsubscribe"), Reply::Bulk(None), Reply::Int(0)]));
        assert_eq!(sub.cmd(["PUNSUBSCRIBE"]), arr(&[b("punsubscribe"), Reply::Bulk(None), Reply::Int(0)]));
        assert_eq!(sub.cmd(["SUNSUBSCRIBE"]), arr(&[b("sunsubscribe"), Reply::Bulk(None), Reply::Int(0)]));
        assert_eq!(subscribe(&mut sub, "UNSUBSCRIBE", &["foo", "bar"]), vec![0, 0]);
    });
}

#[test]
fn publish_reaches_subscribers_on_every_shard_from_every_shard() {
    for_each_shards(&[], |s| {
        let mut subs = conns_on_distinct_shards(s, 4);
        for c in subs.iter_mut() {
            assert_eq!(subscribe(c, "SUBSCRIBE", &["news"]), vec![1]);
            assert_eq!(subscribe(c, "PSUBSCRIBE", &["n*"]), vec![2]);
        }
        let n = subs.len() as i64;
        let mut publishers = conns_on_distinct_shards(s, 4);
        for (i, p) in publishers.iter_mut().enumerate() {
            let text = format!("m{i}");
            // Each subscriber counts once for the channel and once for the pattern.
            assert_eq!(p.int(["PUBLISH", "news", &text]), 2 * n);
            for c in subs.iter_mut() {
                assert_eq!(c.read(), msg("message", "news", b(&text)));
                assert_eq!(c.read(), arr(&[b("pmessage"), b("n*"), b("news"), b(&text)]));
            }
        }
        // Messages keep their order per publisher.
        let p = &mut publishers[0];
        for i in 0..100 {
            p.send(["PUBLISH", "news", &i.to_string()]);
        }
        for _ in 0..100 {
            assert_eq!(p.read(), Reply::Int(2 * n));
        }
        for c in subs.iter_mut() {
            for i in 0..100 {
                assert_eq!(c.read(), msg("message", "news", b(&i.to_string())));
                assert_eq!(c.read().as_array()[3], b(&i.to_string()));
            }
        }
        // PUBLISH inside a transaction runs on the coordinator and still delivers.
        assert_eq!(p.cmd(["MULTI"]), Reply::ok());
        assert_eq!(p.cmd(["SET", "k", "v"]), Reply::Simple("QUEUED".into()));
        assert_eq!(p.cmd(["PUBLISH", "news", "tx"]), Reply::Simple("QUEUED".into()));
        assert_eq!(p.cmd(["EXEC"]), arr(&[Reply::ok(), Reply::Int(2 * n)]));
        for c in subs.iter_mut() {
            assert_eq!(c.read(), msg("message", "news", b("tx")));
            assert_eq!(c.read().as_array()[3], b("tx"));
        }
    });
}

#[test]
fn publish_psubscribe_basics() {
    for_each_shards(&[], |s| {
        let mut sub = s.conn();
        let mut p = s.conn();
        assert_eq!(subscribe(&mut sub, "PSUBSCRIBE", &["foo.*", "bar.*"]), vec![1, 2]);
        assert_eq!(p.int(["PUBLISH", "foo.1", "hello"]), 1);
        assert_eq!(p.int(["PUBLISH", "bar.1", "hello"]), 1);
        assert_eq!(p.int(["PUBLISH", "foo1", "hello"]), 0);
        assert_eq!(p.int(["PUBLISH", "barfoo.1", "hello"]), 0);
        assert_eq!(sub.read(), arr(&[b("pmessage"), b("foo.*"), b("foo.1"), b("hello")]));
        assert_eq!(sub.read(), arr(&[b("pmessage"), b("bar.*"), b("bar.1"), b("hello")]));
        assert_eq!(subscribe(&mut sub, "PUNSUBSCRIBE", &["foo.*"]), vec![1]);
        assert_eq!(p.int(["PUBLISH", "foo.1", "hello"]), 0);
        assert_eq!(subscribe(&mut sub, "PUNSUBSCRIBE", &["bar.*"]), vec![0]);
        assert_eq!(p.int(["PUBLISH", "bar.1", "hello"]), 0);
        // Mix SUBSCRIBE and PSUBSCRIBE: one client, two receivers counted, two messages.
        assert_eq!(subscribe(&mut sub, "SUBSCRIBE", &["foo.bar"]), vec![1]);
        assert_eq!(subscribe(&mut sub, "PSUBSCRIBE", &["foo.*"]), vec![2]);
        assert_eq!(p.int(["PUBLISH", "foo.bar", "hello"]), 2);
        assert_eq!(sub.read(), msg("message", "foo.bar", b("hello")));
        assert_eq!(sub.read(), arr(&[b("pmessage"), b("foo.*"), b("foo.bar"), b("hello")]));
    });
}

#[test]
fn numsub_numpat_and_channels_count_what_clients_subscribed() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        assert_eq!(admin.cmd(["PUBSUB", "NUMSUB", "abc", "def"]), arr(&[b("abc"), Reply::Int(0), b("def"), Reply::Int(0)]));
        assert_eq!(admin.cmd(["PUBSUB", "CHANNELS"]), arr(&[]));
        let mut subs = [s.conn(), s.conn()];
        subscribe(&mut subs[0], "SUBSCRIBE", &["ch.a", "ch.b"]);
        subscribe(&mut subs[1], "SUBSCRIBE", &["ch.a", "other"]);
        // NUMPATs returns the number of unique patterns.
        subscribe(&mut subs[0], "PSUBSCRIBE", &["foo*", "bar*"]);
        subscribe(&mut subs[1], "PSUBSCRIBE", &["foo*", "baz*"]);
        subscribe(&mut subs[1], "SSUBSCRIBE", &["ch.a"]);
        assert_eq!(admin.int(["PUBSUB", "NUMPAT"]), 3);
        assert_eq!(
            admin.cmd(["PUBSUB", "NUMSUB", "ch.a", "ch.b", "nope"]),
            arr(&[b("ch.a"), Reply::Int(2), b("ch.b"), Reply::Int(1), b("nope"), Reply::Int(0)])
        );
        let mut chans = admin.cmd(["PUBSUB", "CHANNELS"]).strings();
        chans.sort();
        assert_eq!(chans, ["ch.a", "ch.b", "other"]);
        let mut chans = admin.cmd(["PUBSUB", "CHANNELS", "ch.*"]).strings();
        chans.sort();
        assert_eq!(chans, ["ch.a", "ch.b"]);
        assert_eq!(admin.cmd(["PUBSUB", "SHARDCHANNELS"]), Reply::bulks(&["ch.a"]));
        assert_eq!(admin.cmd(["PUBSUB", "SHARDNUMSUB", "ch.a", "ch.b"]), arr(&[b("ch.a"), Reply::Int(1), b("ch.b"), Reply::Int(0)]));
        let stats = s.info("stats");
        assert_eq!((stats["pubsub_channels"].as_str(), stats["pubsub_patterns"].as_str(), stats["pubsubshard_channels"].as_str()), ("3", "3", "1"));
        assert_eq!(admin.err(["PUBSUB", "CHANNELS", "a", "b"]), "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.");
    });
}

#[test]
fn closing_a_connection_drops_its_subscriptions() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        let gone = |admin: &mut Conn| {
            wait_for(SETTLE, || {
                let st = admin.info("stats");
                st["pubsub_channels"] == "0" && st["pubsub_patterns"] == "0" && st["pubsubshard_channels"] == "0"
            })
        };
        // Disconnect.
        let mut c = s.conn();
        subscribe(&mut c, "SUBSCRIBE", &["a", "b"]);
        subscribe(&mut c, "PSUBSCRIBE", &["a*"]);
        subscribe(&mut c, "SSUBSCRIBE", &["a"]);
        assert_eq!(stat(s, "pubsub_channels"), 2);
        drop(c);
        assert!(gone(&mut admin), "{:?}", admin.info("stats"));
        assert_eq!(admin.int(["PUBLISH", "a", "x"]), 0);
        // QUIT.
        let mut c = s.conn();
        subscribe(&mut c, "SUBSCRIBE", &["a"]);
        assert_eq!(c.cmd(["QUIT"]), Reply::ok());
        assert!(gone(&mut admin));
        // RESET: subscriptions go silently, and the connection leaves the subscribed context.
        let mut c = s.conn();
        subscribe(&mut c, "SUBSCRIBE", &["a"]);
        subscribe(&mut c, "PSUBSCRIBE", &["a*"]);
        assert_eq!(c.cmd(["RESET"]), Reply::Simple("RESET".into()));
        assert_eq!(stat(s, "pubsub_channels"), 0);
        assert_eq!(stat(s, "pubsub_patterns"), 0);
        assert_eq!(admin.int(["PUBLISH", "a", "x"]), 0);
        assert_eq!(c.cmd(["GET", "nokey"]), Reply::Bulk(None));
        // CLIENT KILL.
        let mut c = s.conn();
        let id = c.int(["CLIENT", "ID"]);
        subscribe(&mut c, "SUBSCRIBE", &["a"]);
        assert_eq!(admin.cmd(["CLIENT", "KILL", "ID", &id.to_string()]), Reply::Int(1));
        assert!(gone(&mut admin));
        c.expect_closed();
    });
}

#[test]
fn subscribed_resp2_client_may_only_subscribe_ping_quit_or_reset() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        subscribe(&mut c, "SUBSCRIBE", &["x"]);
        let allowed = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
        assert_eq!(c.err(["GET", "k"]), format!("ERR Can't execute 'get': {allowed}"));
        assert_eq!(c.err(["CLIENT", "ID"]), format!("ERR Can't execute 'client|id': {allowed}"));
        assert_eq!(c.err(["PUBLISH", "x", "y"]), format!("ERR Can't execute 'publish': {allowed}"));
        assert_eq!(subscribe(&mut c, "PSUBSCRIBE", &["y*"]), vec![2]);
        assert_eq!(subscribe(&mut c, "SSUBSCRIBE", &["z"]), vec![1]);
        // Still subscribed to a shard channel: still in the context.
        subscribe(&mut c, "UNSUBSCRIBE", &["x"]);
        subscribe(&mut c, "PUNSUBSCRIBE", &["y*"]);
        assert_eq!(c.err(["GET", "k"]), format!("ERR Can't execute 'get': {allowed}"));
        subscribe(&mut c, "SUNSUBSCRIBE", &["z"]);
        assert_eq!(c.cmd(["GET", "k"]), Reply::Bulk(None));
    });
}

#[test]
fn resp3_subscribers_get_push_frames_and_may_run_any_command() {
    for_each_shards(&[], |s| {
        let mut c = s.conn3();
        let mut p = s.conn();
        c.send(["SUBSCRIBE", "r3"]);
        assert_eq!(c.read(), push(&[b("subscribe"), b("r3"), Reply::Int(1)]));
        assert_eq!(c.cmd(["GET", "nokey"]), Reply::Null);
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(p.int(["PUBLISH", "r3", "hi"]), 1);
        assert_eq!(c.read(), push(&[b("message"), b("r3"), b("hi")]));
        c.send(["PSUBSCRIBE", "r*"]);
        assert_eq!(c.read(), push(&[b("psubscribe"), b("r*"), Reply::Int(2)]));
        assert_eq!(p.int(["PUBLISH", "r3", "again"]), 2);
        assert_eq!(c.read(), push(&[b("message"), b("r3"), b("again")]));
        assert_eq!(c.read(), push(&[b("pmessage"), b("r*"), b("r3"), b("again")]));
        c.send(["SSUBSCRIBE", "r3"]);
        assert_eq!(c.read(), push(&[b("ssubscribe"), b("r3"), Reply::Int(1)]));
        assert_eq!(p.int(["SPUBLISH", "r3", "shard"]), 1);
        assert_eq!(c.read(), push(&[b("smessage"), b("r3"), b("shard")]));
        c.send(["UNSUBSCRIBE"]);
        assert_eq!(c.read(), push(&[b("unsubscribe"), b("r3"), Reply::Int(1)]));
        c.send(["PUNSUBSCRIBE"]);
        assert_eq!(c.read(), push(&[b("punsubscribe"), b("r*"), Reply::Int(0)]));
        c.send(["PUNSUBSCRIBE"]);
        assert_eq!(c.read(), push(&[b("punsubscribe"), Reply::Null, Reply::Int(0)]));
    });
}

#[test]
fn pubsub_messages_with_client_reply_off() {
    for_each_shards(&[], |s| {
        let mut c = s.conn3();
        let mut p = s.conn();
        c.send(["CLIENT", "REPLY", "OFF"]);
        c.send(["SUBSCRIBE", "channel"]);
        assert_eq!(c.read(), push(&[b("subscribe"), b("channel"), Reply::Int(1)]));
        c.send(["PING"]);
        assert_eq!(p.int(["PUBLISH", "channel", "hello"]), 1);
        // The PING's reply was dropped; the message was not.
        assert_eq!(c.read(), push(&[b("message"), b("channel"), b("hello")]));
        c.send(["UNSUBSCRIBE", "channel"]);
        assert_eq!(c.read(), push(&[b("unsubscribe"), b("channel"), Reply::Int(0)]));
    });
}

#[test]
fn spublish_ssubscribe_use_their_own_namespace() {
    for_each_shards(&[], |s| {
        let mut c1 = s.conn();
        let mut c2 = s.conn();
        let mut p = s.conn();
        assert_eq!(subscribe(&mut c1, "SSUBSCRIBE", &["chan1", "chan1"]), vec![1, 1]);
        assert_eq!(subscribe(&mut c2, "SUBSCRIBE", &["chan1"]), vec![1]);
        assert_eq!(subscribe(&mut c2, "PSUBSCRIBE", &["chan*"]), vec![2]);
        // Shard channels ignore patterns.
        assert_eq!(p.int(["SPUBLISH", "chan1", "hello"]), 1);
        assert_eq!(p.int(["PUBLISH", "chan1", "world"]), 2);
        assert_eq!(c1.read(), msg("smessage", "chan1", b("hello")));
        assert_eq!(c2.read(), msg("message", "chan1", b("world")));
        assert_eq!(p.cmd(["PUBSUB", "SHARDNUMSUB", "chan1"]), arr(&[b("chan1"), Reply::Int(1)]));
        assert_eq!(p.cmd(["PUBSUB", "NUMSUB", "chan1"]), arr(&[b("chan1"), Reply::Int(1)]));
        assert_eq!(subscribe(&mut c1, "SUNSUBSCRIBE", &["chan1"]), vec![0]);
        assert_eq!(p.int(["SPUBLISH", "chan1", "hello"]), 0);
        // Shard channels sit where keys do, but are no keys (Redis's not_key key spec flag).
        assert_eq!(p.err(["COMMAND", "GETKEYS", "SPUBLISH", "chan1", "m"]), "ERR The command has no key arguments");
    });
}

#[test]
fn client_list_shows_subscriptions_and_the_pubsub_type() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        let mut c = s.conn();
        let id = c.int(["CLIENT", "ID"]);
        let f = client_fields(&mut admin, id).expect("listed");
        assert_eq!((f["flags"].as_str(), f["sub"].as_str(), f["psub"].as_str(), f["ssub"].as_str()), ("N", "0", "0", "0"));
        subscribe(&mut c, "SUBSCRIBE", &["a", "b"]);
        subscribe(&mut c, "PSUBSCRIBE", &["a*"]);
        subscribe(&mut c, "SSUBSCRIBE", &["s1", "s2", "s3"]);
        let f = client_fields(&mut admin, id).expect("listed");
        assert_eq!((f["flags"].as_str(), f["sub"].as_str(), f["psub"].as_str(), f["ssub"].as_str()), ("P", "2", "1", "3"));
        // What the subscriptions cost shows in tot-mem.
        let before: u64 = f["tot-mem"].parse().expect("tot-mem");
        let many: Vec<String> = (0..1000).map(|i| format!("channel:{i:06}")).collect();
        let names: Vec<&str> = many.iter().map(String::as_str).collect();
        subscribe(&mut c, "SUBSCRIBE", &names);
        let f = client_fields(&mut admin, id).expect("listed");
        let after: u64 = f["tot-mem"].parse().expect("tot-mem");
        assert!(after >= before + 1000 * 14, "tot-mem {before} -> {after} for 1000 channels");
        assert_eq!(f["sub"], "1002");
        let pubsub = admin.cmd(["CLIENT", "LIST", "TYPE", "pubsub"]).as_str();
        assert_eq!(pubsub.lines().count(), 1, "{pubsub}");
        assert!(pubsub.starts_with(&format!("id={id} ")), "{pubsub}");
        let normal = admin.cmd(["CLIENT", "LIST", "TYPE", "normal"]).as_str();
        assert!(!normal.contains(&format!("id={id} ")), "{normal}");
        assert_eq!(admin.int(["CLIENT", "KILL", "TYPE", "pubsub"]), 1);
        c.expect_closed();
    });
}

/// The pubsub class's default limits (32mb hard): a subscriber that never reads is closed at
/// the limit with Redis's log line, while publishers go on and RSS stays far below what was
/// published.
#[test]
fn subscriber_that_never_reads_is_closed_at_the_pubsub_hard_limit() {
    for_each_shards(&[], |s| {
        let mut admin = s.conn();
        assert_eq!(
            admin.cmd(["CONFIG", "GET", "client-output-buffer-limit"]).as_array()[1],
            b("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        );
        let mut slow = s.conn();
        let id = slow.int(["CLIENT", "ID"]);
        subscribe(&mut slow, "SUBSCRIBE", &["flood"]);
        let mut reader = s.conn();
        subscribe(&mut reader, "SUBSCRIBE", &["flood"]);
        let rss0 = s.rss_bytes();
        let payload = "x".repeat(1 << 20);
        let mut p = s.conn();
        let mut closed_at = None;
        // Up to 300 MB published; the slow subscriber reads none of it, the other reads all.
        for i in 0..300 {
            let n = p.int(["PUBLISH", "flood", &payload]);
            assert_eq!(reader.read().as_array()[2].as_bytes().len(), 1 << 20);
            if n == 1 {
                closed_at = Some(i);
                break;
            }
        }
        let at = closed_at.expect("the subscriber that never reads was never dropped");
        assert!(at >= 32, "closed after {at} MB, below the 32 MB hard limit");
        assert!(wait_for(SETTLE, || client_fields(&mut admin, id).is_none()), "still listed: {:?}", client_fields(&mut admin, id));
        let grown = s.rss_bytes().saturating_sub(rss0);
        assert!(grown < 120 << 20, "RSS grew {grown} bytes");
        assert!(s.log().contains("scheduled to be closed ASAP for overcoming of output buffer limits."), "no log line: {}", s.log());
        let (_, closed) = slow.read_until_close(Duration::from_secs(10));
        assert!(closed, "the slow subscriber's connection is still open");
        assert_eq!(admin.cmd(["PUBSUB", "NUMSUB", "flood"]), arr(&[b("flood"), Reply::Int(1)]));
    });
}

#[test]
fn subscriber_over_the_pubsub_soft_limit_for_longer_than_its_seconds_is_closed() {
    let s = Server::start(&["--shards", "2", "--client-output-buffer-limit", "pubsub 0 2mb 1"]);
    let mut admin = s.conn();
    let mut slow = s.conn();
    let id = slow.int(["CLIENT", "ID"]);
    subscribe(&mut slow, "SUBSCRIBE", &["flood"]);
    let payload = "x".repeat(256 << 10);
    let start = Instant::now();
    let mut closed_after = None;
    // About 5 MB/s, never read.
    while start.elapsed() < Duration::from_secs(15) {
        if admin.int(["PUBLISH", "flood", &payload]) == 0 {
            closed_after = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = closed_after.expect("the subscriber over its soft limit was never closed");
    assert!(after > Duration::from_secs(1), "closed after {after:?}, before its soft limit's seconds passed");
    assert!(wait_for(SETTLE, || client_fields(&mut admin, id).is_none()));
}

#[test]
fn mem_clients_normal_counts_what_subscribers_have_not_read() {
    let s = Server::start(&["--shards", "1", "--client-output-buffer-limit", "pubsub 200mb 0 0"]);
    let mut admin = s.conn();
    let base: i64 = admin.info("memory")["mem_clients_normal"].parse().expect("number");
    let mut slow = s.conn();
    let id = slow.int(["CLIENT", "ID"]);
    subscribe(&mut slow, "SUBSCRIBE", &["flood"]);
    let payload = "x".repeat(1 << 20);
    for _ in 0..40 {
        assert_eq!(admin.int(["PUBLISH", "flood", &payload]), 1);
    }
    assert!(
        wait_for(SETTLE, || client_fields(&mut admin, id).is_some_and(|f| f["omem"].parse::<u64>().unwrap_or(0) >= 20 << 20)),
        "CLIENT LIST shows no pending output: {:?}",
        client_fields(&mut admin, id)
    );
    let now: i64 = admin.info("memory")["mem_clients_normal"].parse().expect("number");
    assert!(now - base >= 20 << 20, "mem_clients_normal went from {base} to {now}");
    drop(slow);
    assert!(wait_for(SETTLE, || admin.info("memory")["mem_clients_normal"].parse::<i64>().unwrap_or(i64::MAX) < base + (1 << 20)));
}

#[test]
fn subscribers_are_not_closed_as_idle_clients() {
    let s = Server::start(&["--shards", "2", "--timeout", "1"]);
    let mut sub = s.conn();
    subscribe(&mut sub, "SUBSCRIBE", &["quiet"]);
    let mut idle = s.conn();
    assert_eq!(idle.cmd(["PING"]), Reply::Simple("PONG".into()));
    // An idle client goes after its second; the subscriber, as quiet, stays.
    idle.expect_closed();
    assert!(sub.is_silent_for(Duration::from_millis(2500)), "the subscriber was closed as idle");
    let mut p = s.conn();
    assert_eq!(p.int(["PUBLISH", "quiet", "still here"]), 1);
    assert_eq!(sub.read(), msg("message", "quiet", b("still here")));
}

#[test]
fn subscriber_over_the_pubsub_soft_limit_is_closed_when_no_more_messages_come() {
    let s = Server::start(&["--shards", "2", "--client-output-buffer-limit", "pubsub 0 1mb 1"]);
    let mut admin = s.conn();
    let mut slow = s.conn();
    let id = slow.int(["CLIENT", "ID"]);
    subscribe(&mut slow, "SUBSCRIBE", &["flood"]);
    // 24 MB at once, well past what the kernel's socket buffers take, then silence.
    let payload = "x".repeat(1 << 20);
    for _ in 0..24 {
        assert_eq!(admin.int(["PUBLISH", "flood", &payload]), 1);
    }
    let start = Instant::now();
    assert!(
        wait_for(SETTLE, || client_fields(&mut admin, id).is_none()),
        "the subscriber over its soft limit stayed connected: {:?}",
        client_fields(&mut admin, id)
    );
    // The soft limit's second had to pass first (the cron, not a new message, closed it).
    assert!(start.elapsed() >= Duration::from_millis(500), "closed after {:?}", start.elapsed());
}
