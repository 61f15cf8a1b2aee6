//! Connection commands: HELLO and RESP3, AUTH, SELECT, CLIENT, QUIT, RESET. Mirrors Redis's
//! unit/auth, unit/protocol (RESP3) and unit/introspection tests.

use std::time::{Duration, Instant};

use crate::harness::{encode, for_each_shards, keys_on_every_shard, parse_kv, wait_for, Reply, Server};

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

#[test]
fn hello_3_switches_to_resp3() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let hello = c.cmd(["HELLO", "3"]);
        assert!(matches!(hello, Reply::Map(_)), "HELLO 3 replies with a map: {hello:?}");
        assert_eq!(hello.field("proto"), Some(Reply::Int(3)));
        assert_eq!(hello.field("server"), Some(Reply::bulk("redis")));
        assert_eq!(hello.field("mode"), Some(Reply::bulk("standalone")));
        assert_eq!(hello.field("role"), Some(Reply::bulk("master")));
        let id = hello.field("id").expect("id field").as_int();
        assert_eq!(c.int(["CLIENT", "ID"]), id);
        assert!(hello.field("version").is_some_and(|v| v.as_str().starts_with("7.")), "{hello:?}");
        // RESP3 replies afterwards, for local and forwarded keys alike.
        for k in keys_on_every_shard("r3", 4) {
            assert_eq!(c.cmd(["GET", &k]), Reply::Null, "GET of a missing key in RESP3");
        }
        let cfg = c.cmd(["CONFIG", "GET", "maxmemory"]);
        assert_eq!(cfg, Reply::Map(vec![(Reply::bulk("maxmemory"), Reply::bulk("0"))]));
        c.ok(["SET", "x", "1"]);
        assert_eq!(c.cmd(["MGET", "x", "nokey"]), Reply::Array(Some(vec![Reply::bulk("1"), Reply::Null])));
        let info = c.cmd(["CLIENT", "INFO"]);
        assert!(matches!(&info, Reply::Verbatim(f, _) if f == "txt"), "CLIENT INFO is a verbatim string in RESP3: {info:?}");
        // HELLO without a version reports the current protocol; HELLO 2 goes back.
        assert_eq!(c.cmd(["HELLO"]).field("proto"), Some(Reply::Int(3)));
        let hello2 = c.cmd(["HELLO", "2"]);
        assert!(matches!(hello2, Reply::Array(_)), "HELLO 2 replies with a flat array: {hello2:?}");
        assert_eq!(hello2.field("proto"), Some(Reply::Int(2)));
        assert_eq!(c.cmd(["GET", "nokey"]), Reply::Bulk(None));
        assert!(matches!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::Array(Some(_))));
    });
}

#[test]
fn hello_errors_and_options() {
    let s = Server::start(&["--shards", "2"]);
    let mut c = s.conn();
    assert_eq!(c.err(["HELLO", "4"]), "NOPROTO unsupported protocol version");
    assert_eq!(c.err(["HELLO", "1"]), "NOPROTO unsupported protocol version");
    assert_eq!(c.err(["HELLO", "abc"]), "ERR Protocol version is not an integer or out of range");
    // The failed HELLO left the protocol alone.
    assert_eq!(c.cmd(["GET", "nokey"]), Reply::Bulk(None));
    let r = c.cmd(["HELLO", "3", "SETNAME", "myname"]);
    assert_eq!(r.field("proto"), Some(Reply::Int(3)));
    assert_eq!(c.get_str(["CLIENT", "GETNAME"]).as_deref(), Some("myname"));
}

#[test]
fn auth_with_requirepass() {
    let s = Server::start(&["--shards", "4", "--requirepass", "foobar"]);
    let mut c = s.conn();
    // Arbitrary command gives an error when AUTH is required.
    assert_eq!(c.err(["SET", "foo", "bar"]), NOAUTH);
    assert_eq!(c.err(["GET", "foo"]), NOAUTH);
    // AUTH fails when a wrong password is given.
    assert_eq!(c.err(["AUTH", "wrong!"]), WRONGPASS);
    assert_eq!(c.err(["AUTH", "default", "wrong!"]), WRONGPASS);
    assert_eq!(c.err(["AUTH", "someuser", "foobar"]), WRONGPASS);
    assert_eq!(c.err(["GET", "foo"]), NOAUTH);
    // AUTH succeeds when the right password is given.
    c.ok(["AUTH", "foobar"]);
    c.ok(["SET", "foo", "bar"]);
    assert_eq!(c.get_str(["GET", "foo"]).as_deref(), Some("bar"));
    let mut c2 = s.conn();
    c2.ok(["AUTH", "default", "foobar"]);
    assert_eq!(c2.get_str(["GET", "foo"]).as_deref(), Some("bar"));
    // HELLO with AUTH.
    let mut c3 = s.conn();
    assert_eq!(c3.err(["HELLO", "3", "AUTH", "default", "wrong"]), WRONGPASS);
    let hello = c3.cmd(["HELLO", "3", "AUTH", "default", "foobar"]);
    assert_eq!(hello.field("proto"), Some(Reply::Int(3)));
    assert_eq!(c3.get_str(["GET", "foo"]).as_deref(), Some("bar"));
    // RESET makes the connection unauthenticated again.
    assert_eq!(c3.cmd(["RESET"]), Reply::Simple("RESET".into()));
    assert_eq!(c3.err(["GET", "foo"]), NOAUTH);
}

#[test]
fn auth_fails_if_there_is_no_password_configured_server_side() {
    let s = Server::start(&["--shards", "1"]);
    let mut c = s.conn();
    assert_eq!(
        c.err(["AUTH", "foo"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    // Default user with any password is fine when there is none.
    c.ok(["AUTH", "default", "anything"]);
}

#[test]
fn select_database() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.err(["SELECT", "16"]), "ERR DB index is out of range");
        assert_eq!(c.err(["SELECT", "-1"]), "ERR DB index is out of range");
        assert_eq!(c.err(["SELECT", "abc"]), "ERR value is not an integer or out of range");
        let keys = keys_on_every_shard("db", 4);
        for k in &keys {
            c.ok(["SET", k, "zero"]);
        }
        c.ok(["SELECT", "15"]);
        for k in &keys {
            assert_eq!(c.get_str(["GET", k]), None, "db 15 is empty");
            c.ok(["SET", k, "fifteen"]);
        }
        c.ok(["SELECT", "0"]);
        for k in &keys {
            assert_eq!(c.get_str(["GET", k]).as_deref(), Some("zero"));
        }
        let mut other = s.conn();
        assert_eq!(other.int(["DBSIZE"]), 4);
        let info = other.info("keyspace");
        assert!(info.get("db15").is_some_and(|v| parse_kv(v).get("keys").map(String::as_str) == Some("4")), "{info:?}");
    });
}

#[test]
fn client_setname_getname_id_list_info() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert!(c.cmd(["CLIENT", "GETNAME"]).is_nil(), "no name at first");
        c.ok(["CLIENT", "SETNAME", "myname"]);
        assert_eq!(c.get_str(["CLIENT", "GETNAME"]).as_deref(), Some("myname"));
        assert_eq!(c.err(["CLIENT", "SETNAME", "foo bar"]), "ERR Client names cannot contain spaces, newlines or special characters.");
        assert_eq!(c.get_str(["CLIENT", "GETNAME"]).as_deref(), Some("myname"));
        let id = c.int(["CLIENT", "ID"]);
        let mut other = s.conn();
        let other_id = other.int(["CLIENT", "ID"]);
        assert!(other_id > id, "client ids increase: {id} then {other_id}");

        let list = c.get_str(["CLIENT", "LIST"]).expect("CLIENT LIST text");
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 2, "{list}");
        let mine = lines.iter().find(|l| l.starts_with(&format!("id={id} "))).unwrap_or_else(|| panic!("no line for id {id}: {list}"));
        assert!(mine.contains(" name=myname "), "{mine}");
        assert!(mine.contains(" cmd=client|list "), "{mine}");
        assert!(mine.contains(" db=0 "), "{mine}");
        let list_by_id = c.get_str(["CLIENT", "LIST", "ID", &other_id.to_string()]).expect("CLIENT LIST ID");
        assert!(list_by_id.starts_with(&format!("id={other_id} ")) && list_by_id.lines().count() == 1, "{list_by_id}");

        c.ok(["SELECT", "3"]);
        let info = c.get_str(["CLIENT", "INFO"]).expect("CLIENT INFO text");
        assert!(info.starts_with(&format!("id={id} ")), "{info}");
        assert!(info.ends_with('\n') && info.lines().count() == 1, "{info:?}");
        assert!(info.contains(" name=myname ") && info.contains(" db=3 ") && info.contains(" cmd=client|info "), "{info}");
        // An empty name clears it.
        c.ok(["CLIENT", "SETNAME", ""]);
        assert!(c.cmd(["CLIENT", "GETNAME"]).is_nil());
        let info = s.info("clients");
        assert_eq!(info.get("connected_clients").map(String::as_str), Some("3"), "{info:?}");
    });
}

#[test]
fn client_kill_closes_the_other_connection() {
    for_each_shards(&[], |s| {
        let mut killer = s.conn();
        let mut victim = s.conn();
        let victim_id = victim.int(["CLIENT", "ID"]);
        assert_eq!(killer.int(["CLIENT", "KILL", "ID", &victim_id.to_string()]), 1);
        // The victim was idle: its socket is closed without it sending anything.
        victim.expect_closed();
        assert!(wait_for(Duration::from_secs(10), || killer.info("clients").get("connected_clients").map(String::as_str) == Some("1")));
        // The filter form counts the clients it killed: none now.
        assert_eq!(killer.int(["CLIENT", "KILL", "ID", &victim_id.to_string()]), 0);
        assert_eq!(killer.err(["CLIENT", "KILL", "ID", "abc"]), "ERR client-id should be greater than 0");
        // The old form: CLIENT KILL addr:port.
        let mut victim2 = s.conn();
        let list = victim2.get_str(["CLIENT", "INFO"]).expect("CLIENT INFO");
        let addr = list.split(' ').find_map(|f| f.strip_prefix("addr=")).expect("addr field").to_string();
        killer.ok(["CLIENT", "KILL", &addr]);
        victim2.expect_closed();
        assert_eq!(killer.err(["CLIENT", "KILL", "127.0.0.1:1"]), "ERR No such client");
        assert_eq!(killer.cmd(["PING"]), Reply::Simple("PONG".into()));
    });
}

#[test]
fn client_reply_off_on_skip() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("cr", 4);
        // CLIENT REPLY OFF/ON: disable all commands reply.
        c.send(["CLIENT", "REPLY", "OFF"]);
        c.send(["PING", "pong"]);
        for k in &keys {
            c.send(["SET", k, "1"]);
        }
        c.send(["GET", &keys[1]]);
        c.send(["MSET", &keys[0], "1", &keys[1], "1", &keys[2], "1", &keys[3], "1"]);
        c.send(["MGET", &keys[0], &keys[1], &keys[2], &keys[3]]);
        c.send(["NOSUCHCOMMAND"]);
        c.send(["CLIENT", "REPLY", "ON"]);
        assert_eq!(c.read(), Reply::ok(), "the first reply is CLIENT REPLY ON's");
        assert_eq!(c.cmd(["PING", "pong3"]), Reply::bulk("pong3"));
        for k in &keys {
            assert_eq!(c.get_str(["GET", k]).as_deref(), Some("1"), "commands ran while replies were off");
        }
        // CLIENT REPLY SKIP: skip the next command reply (forwarded or not).
        for k in &keys {
            c.send(["CLIENT", "REPLY", "SKIP"]);
            c.send(["GET", k]);
            c.send(["PING", "pong2"]);
            assert_eq!(c.read(), Reply::bulk("pong2"));
        }
        // CLIENT REPLY ON: unset SKIP flag.
        c.send(["CLIENT", "REPLY", "SKIP"]);
        c.send(["CLIENT", "REPLY", "ON"]);
        assert_eq!(c.read(), Reply::ok());
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(c.err(["CLIENT", "REPLY", "MAYBE"]), "ERR syntax error");
    });
}

#[test]
fn quit_replies_ok_and_closes() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.write_raw(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        let got = c.expect_closed();
        assert_eq!(String::from_utf8_lossy(&got), "+OK\r\n", "QUIT answers OK and nothing after it runs");
        let mut c = s.conn();
        c.ok(["SET", "a", "1"]);
        c.write_raw(b"QUIT\r\n").unwrap();
        assert_eq!(String::from_utf8_lossy(&c.expect_closed()), "+OK\r\n");
    });
}

#[test]
fn reset_restores_connection_defaults() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.cmd(["HELLO", "3"]);
        c.ok(["SELECT", "5"]);
        c.ok(["CLIENT", "SETNAME", "before"]);
        c.ok(["SET", "in5", "x"]);
        let id = c.int(["CLIENT", "ID"]);
        assert_eq!(c.cmd(["RESET"]), Reply::Simple("RESET".into()));
        assert!(c.cmd(["CLIENT", "GETNAME"]).is_nil(), "RESET clears the name");
        assert_eq!(c.cmd(["GET", "in5"]), Reply::Bulk(None), "RESET selects db 0 and RESP2");
        assert_eq!(c.int(["CLIENT", "ID"]), id, "RESET keeps the connection");
        // CLIENT REPLY OFF is undone too.
        c.send(["CLIENT", "REPLY", "OFF"]);
        c.send(["RESET"]);
        assert_eq!(c.read(), Reply::Simple("RESET".into()));
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
    });
}

#[test]
fn echo_and_ping() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(c.cmd(["PING", "hello"]), Reply::bulk("hello"));
        assert_eq!(c.cmd(["ECHO", "a\r\nb"]), Reply::bulk("a\r\nb"));
        assert_eq!(c.err(["ECHO"]), "ERR wrong number of arguments for 'echo' command");
    });
}

#[test]
fn maxclients_rejects_extra_connections() {
    let s = Server::start(&["--shards", "2", "--maxclients", "2"]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(a.cmd(["PING"]), Reply::Simple("PONG".into()));
    assert_eq!(b.cmd(["PING"]), Reply::Simple("PONG".into()));
    let mut c = s.conn();
    let got = c.expect_closed();
    assert_eq!(String::from_utf8_lossy(&got), "-ERR max number of clients reached\r\n");
    drop(b);
    // The freed slot can be used again.
    assert!(wait_for(Duration::from_secs(10), || {
        let mut d = s.conn();
        d.write_raw(b"PING\r\n").is_ok() && d.try_read().ok() == Some(Reply::Simple("PONG".into()))
    }));
    let rejected: u64 = a.info("stats")["rejected_connections"].parse().unwrap();
    assert!(rejected >= 1, "rejected_connections {rejected}");
}

#[test]
fn pipelined_hello_changes_the_encoding_of_later_replies_only() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("ph", 4);
        // Replies of commands before HELLO 3 (forwarded to other shards or not) stay RESP2;
        // those after it are RESP3, including the coordinator's.
        let mut batch = Vec::new();
        for k in &keys {
            batch.extend(encode(["GET", k]));
        }
        batch.extend(encode(["HELLO", "3"]));
        for k in &keys {
            batch.extend(encode(["GET", k]));
        }
        batch.extend(encode(["MGET", &keys[0], &keys[1], &keys[2], &keys[3]]));
        batch.extend(encode(["HELLO", "2"]));
        batch.extend(encode(["MGET", &keys[0], &keys[1], &keys[2], &keys[3]]));
        c.write_raw(&batch).unwrap();
        for k in &keys {
            assert_eq!(c.read(), Reply::Bulk(None), "GET {k} before HELLO 3");
        }
        assert!(matches!(c.read(), Reply::Map(_)));
        for k in &keys {
            assert_eq!(c.read(), Reply::Null, "GET {k} after HELLO 3");
        }
        assert_eq!(c.read(), Reply::Array(Some(vec![Reply::Null; 4])));
        assert!(matches!(c.read(), Reply::Array(_)));
        assert_eq!(c.read(), Reply::Array(Some(vec![Reply::Bulk(None); 4])));
        // Text replies are verbatim strings in RESP3.
        let mut c3 = s.conn3();
        assert!(matches!(c3.cmd(["INFO", "server"]), Reply::Verbatim(f, _) if f == "txt"));
        assert!(matches!(c3.cmd(["CLIENT", "LIST"]), Reply::Verbatim(f, _) if f == "txt"));
    });
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = Server::start(&["--shards", "2", "--timeout", "1"]);
    let mut idle = s.conn();
    let mut busy = s.conn();
    assert_eq!(idle.cmd(["PING"]), Reply::Simple("PONG".into()));
    // The idle client is closed (the bound is generous: the check runs from the server cron)
    // while a client that keeps talking all along is not.
    let start = Instant::now();
    let mut idle_closed = false;
    while !idle_closed && start.elapsed() < Duration::from_secs(15) {
        assert_eq!(busy.cmd(["PING"]), Reply::Simple("PONG".into()), "the busy client was closed");
        let (bytes, closed) = idle.read_until_close(Duration::from_millis(100));
        assert!(bytes.is_empty(), "the idle client got {bytes:?}");
        idle_closed = closed;
    }
    assert!(idle_closed, "an idle client was not closed with timeout 1");
    assert!(start.elapsed() >= Duration::from_millis(500), "closed before it was idle for the timeout");
    assert_eq!(busy.cmd(["PING"]), Reply::Simple("PONG".into()));
    // CONFIG SET timeout 0 turns it off.
    busy.ok(["CONFIG", "SET", "timeout", "0"]);
    let mut quiet = s.conn();
    assert!(quiet.is_silent_for(Duration::from_millis(2500)), "with timeout 0 an idle client stays connected");
    assert_eq!(quiet.cmd(["PING"]), Reply::Simple("PONG".into()));
}
