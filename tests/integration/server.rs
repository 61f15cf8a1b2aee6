//! Server commands and introspection: INFO, CONFIG, COMMAND, DBSIZE, TIME, SLOWLOG, DEBUG, the
//! I/O driver choice, and shutdown on SIGTERM. Mirrors Redis's unit/info, unit/introspection,
//! unit/introspection-2 and unit/slowlog tests.

use std::time::Duration;

use crate::harness::{for_each_shards, keys_on_every_shard, parse_kv, shard_of, wait_for, Conn, Reply, Server, SHARD_COUNTS};

#[test]
fn info_sections_and_fields() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let text = c.cmd(["INFO"]).as_str();
        for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Replication", "# CPU", "# Keyspace"] {
            assert!(text.contains(section), "INFO has no {section}:\n{text}");
        }
        let info = c.info("server");
        assert!(info.get("redis_version").is_some_and(|v| v.starts_with("7.")), "{info:?}");
        assert_eq!(info.get("tcp_port"), Some(&s.port.to_string()));
        assert_eq!(info.get("process_id"), Some(&s.pid().to_string()));
        assert!(info.get("run_id").is_some_and(|v| v.len() == 40), "{info:?}");
        let clients = c.info("clients");
        assert_eq!(clients.get("connected_clients").map(String::as_str), Some("1"));
        let mut second = s.conn();
        assert_eq!(second.cmd(["PING"]), Reply::Simple("PONG".into()));
        assert_eq!(c.info("clients").get("connected_clients").map(String::as_str), Some("2"));
        let memory = c.info("memory");
        for field in ["used_memory", "used_memory_rss", "maxmemory", "maxmemory_policy"] {
            assert!(memory.contains_key(field), "INFO memory has no {field}: {memory:?}");
        }
        assert!(memory["used_memory"].parse::<u64>().expect("used_memory is a number") > 0);
        // A section is case-insensitive; an unknown section is empty.
        assert!(c.cmd(["INFO", "SERVER"]).as_str().contains("redis_version:"));
        assert_eq!(c.cmd(["INFO", "nosuchsection"]).as_str(), "");
    });
}

#[test]
fn info_keyspace_and_stats_after_writes() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        for i in 0..37 {
            c.ok(["SET", &format!("w:{i}"), "v"]);
        }
        let ks = c.info("keyspace");
        assert_eq!(parse_kv(ks.get("db0").expect("db0 line")).get("keys").map(String::as_str), Some("37"), "{ks:?}");
        let stats = c.info("stats");
        let processed: u64 = stats.get("total_commands_processed").expect("total_commands_processed").parse().unwrap();
        assert!(processed >= 37, "total_commands_processed {processed}");
        assert!(stats.get("total_connections_received").is_some_and(|v| v.parse::<u64>().unwrap() >= 2), "{stats:?}");
    });
}

#[test]
fn commandstats_are_summed_across_shards() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        // From several connections (which the kernel spreads over shards), on keys of all shards.
        let mut conns: Vec<_> = (0..4).map(|_| s.conn()).collect();
        let mut n = 0;
        for (j, cj) in conns.iter_mut().enumerate() {
            for i in 0..25 {
                cj.ok(["SET", &format!("cs:{j}:{i}"), "v"]);
                n += 1;
            }
            assert_eq!(cj.get_str(["GET", &format!("cs:{j}:0")]).as_deref(), Some("v"));
        }
        let stats = c.info("commandstats");
        let set = parse_kv(stats.get("cmdstat_set").unwrap_or_else(|| panic!("no cmdstat_set: {stats:?}")));
        assert_eq!(set.get("calls"), Some(&n.to_string()), "cmdstat_set {set:?}");
        assert_eq!(set.get("failed_calls").map(String::as_str), Some("0"));
        let get = parse_kv(&stats["cmdstat_get"]);
        assert_eq!(get.get("calls").map(String::as_str), Some("4"), "cmdstat_get {get:?}");
        for field in ["usec", "usec_per_call", "rejected_calls"] {
            assert!(set.contains_key(field), "cmdstat_set has no {field}: {set:?}");
        }
        // Subcommands are counted under parent|sub.
        c.int(["CLIENT", "ID"]);
        assert!(c.info("commandstats").contains_key("cmdstat_client|id"));
        // CONFIG RESETSTAT clears them.
        c.ok(["CONFIG", "RESETSTAT"]);
        let after = c.info("commandstats");
        assert!(!after.contains_key("cmdstat_set"), "{after:?}");
    });
}

#[test]
fn errorstats_count_errors() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "str", "abc"]);
        c.err(["INCR", "str"]);
        c.err(["INCR", "str"]);
        c.err(["NOSUCHCOMMAND"]);
        c.err(["GET"]);
        c.err(["HELLO", "9"]);
        let errors = c.info("errorstats");
        assert_eq!(errors.get("errorstat_ERR").map(String::as_str), Some("count=4"), "{errors:?}");
        assert_eq!(errors.get("errorstat_NOPROTO").map(String::as_str), Some("count=1"), "{errors:?}");
        let stats = c.info("commandstats");
        let incr = parse_kv(&stats["cmdstat_incr"]);
        assert_eq!((incr["calls"].as_str(), incr["failed_calls"].as_str()), ("2", "2"), "{incr:?}");
        // Arity errors are rejected calls, not calls.
        let get = parse_kv(&stats["cmdstat_get"]);
        assert_eq!((get["calls"].as_str(), get["rejected_calls"].as_str()), ("0", "1"), "{get:?}");
        let total: u64 = c.info("stats")["total_error_replies"].parse().unwrap();
        assert_eq!(total, 5);
    });
}

#[test]
fn io_driver_is_io_uring_by_default() {
    let s = Server::start(&["--shards", "2"]);
    let info = s.info("server");
    let driver = info.get("io_driver").expect("INFO server io_driver").clone();
    if driver == "epoll" {
        // Allowed only when io_uring cannot be used here, and then the log says why.
        assert!(s.log().contains("io_uring unavailable"), "epoll chosen without the fallback log line:\n{}", s.log());
    } else {
        assert_eq!(driver, "io_uring");
        assert_eq!(info.get("multiplexing_api").map(String::as_str), Some("io_uring"));
    }
}

#[test]
fn io_driver_epoll_serves_commands() {
    let s = Server::start(&["--shards", "4", "--io-driver", "epoll"]);
    let info = s.info("server");
    assert_eq!(info.get("io_driver").map(String::as_str), Some("epoll"));
    let mut c = s.conn();
    for i in 0..100 {
        c.ok(["SET", &format!("e:{i}"), &i.to_string()]);
    }
    for i in 0..100 {
        assert_eq!(c.get_str(["GET", &format!("e:{i}")]), Some(i.to_string()));
    }
    let keys: Vec<String> = (0..100).map(|i| format!("e:{i}")).collect();
    let mut mget = vec!["MGET".to_string()];
    mget.extend(keys);
    assert_eq!(c.cmd(&mget).strings(), (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
    assert_eq!(c.int(["DBSIZE"]), 100);
}

#[test]
fn config_get_set() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "0"]));
        c.ok(["CONFIG", "SET", "maxmemory", "100mb"]);
        assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "104857600"]));
        // Every connection (on any shard) sees the change.
        assert_eq!(s.conn().cmd(["CONFIG", "GET", "maxmemory"]), Reply::bulks(&["maxmemory", "104857600"]));
        assert_eq!(s.info("memory").get("maxmemory").map(String::as_str), Some("104857600"));
        assert_eq!(c.err(["CONFIG", "SET", "foo", "bar"]), "ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
        assert_eq!(
            c.err(["CONFIG", "SET", "maxmemory", "abc"]),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        // Several parameters at once, and glob patterns.
        c.ok(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "maxmemory", "0"]);
        let pairs = c.cmd(["CONFIG", "GET", "maxmemory*"]).pairs();
        let names: Vec<String> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        for n in ["maxmemory", "maxmemory-policy", "maxmemory-samples"] {
            assert!(names.contains(&n.to_string()), "CONFIG GET maxmemory* lacks {n}: {names:?}");
        }
        assert_eq!(c.cmd(["CONFIG", "GET", "maxmemory-policy"]), Reply::bulks(&["maxmemory-policy", "allkeys-lru"]));
        assert_eq!(c.cmd(["CONFIG", "GET", "nosuchparam"]), Reply::Array(Some(vec![])));
        assert_eq!(c.cmd(["CONFIG", "GET", "port"]), Reply::bulks(&["port", &s.port.to_string()]));
    });
}

#[test]
fn command_count_info_getkeys_docs() {
    let s = Server::start(&["--shards", "2"]);
    let mut c = s.conn();
    let count = c.int(["COMMAND", "COUNT"]);
    assert!(count > 50, "COMMAND COUNT {count}");
    let all = c.cmd(["COMMAND"]);
    assert_eq!(all.as_array().len() as i64, count);

    let info = c.cmd(["COMMAND", "INFO", "get"]);
    let get = &info.as_array()[0];
    let row = get.as_array();
    assert_eq!(row[0], Reply::bulk("get"));
    assert_eq!(row[1], Reply::Int(2), "arity");
    let flags: Vec<String> = row[2].as_array().iter().map(Reply::as_str).collect();
    assert!(flags.contains(&"readonly".to_string()) && flags.contains(&"fast".to_string()), "{flags:?}");
    assert_eq!(&row[3..6], &[Reply::Int(1), Reply::Int(1), Reply::Int(1)], "first key, last key, step");
    let mset = c.cmd(["COMMAND", "INFO", "mset"]);
    let mset = mset.as_array()[0].as_array();
    assert_eq!(mset[1], Reply::Int(-3));
    assert_eq!(&mset[3..6], &[Reply::Int(1), Reply::Int(-1), Reply::Int(2)]);
    let missing = c.cmd(["COMMAND", "INFO", "nosuchcommand"]);
    assert_eq!(missing, Reply::Array(Some(vec![Reply::Array(None)])));

    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"]), Reply::bulks(&["a", "b"]));
    assert_eq!(c.cmd(["COMMAND", "GETKEYS", "get", "k"]), Reply::bulks(&["k"]));
    assert_eq!(c.err(["COMMAND", "GETKEYS", "ping", "x"]), "ERR The command has no key arguments");
    assert_eq!(c.err(["COMMAND", "GETKEYS", "nosuch", "x"]), "ERR Invalid command specified");

    let docs = c.cmd(["COMMAND", "DOCS", "get"]);
    let get_doc = docs.field("get").expect("docs for get");
    assert_eq!(get_doc.field("summary"), Some(Reply::bulk("Get the value of a key")));
    assert_eq!(get_doc.field("group"), Some(Reply::bulk("string")));
    // In RESP3 the docs are maps.
    let mut c3 = s.conn3();
    assert!(matches!(c3.cmd(["COMMAND", "DOCS", "get"]), Reply::Map(_)));
}

#[test]
fn dbsize_and_time() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.int(["DBSIZE"]), 0);
        for i in 0..20 {
            c.ok(["SET", &format!("t{i}"), "x"]);
        }
        assert_eq!(c.int(["DBSIZE"]), 20);
        let t = c.cmd(["TIME"]).strings();
        assert_eq!(t.len(), 2);
        let secs: i64 = t[0].parse().expect("seconds");
        let micros: i64 = t[1].parse().expect("microseconds");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((secs - now).abs() <= 5, "TIME {secs} vs local clock {now}");
        assert!((0..1_000_000).contains(&micros), "{micros}");
    });
}

#[test]
fn slowlog_logs_commands_over_the_threshold() {
    for_each_shards(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        c.ok(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        c.ok(["SLOWLOG", "RESET"]);
        // Commands that run on the connection's own shard.
        assert_eq!(c.cmd(["ECHO", "slowarg"]), Reply::bulk("slowarg"));
        c.ok(["CLIENT", "SETNAME", "slowcli"]);
        c.ok(["DEBUG", "SLEEP", "0"]);
        let len = c.int(["SLOWLOG", "LEN"]);
        assert!(len >= 4, "SLOWLOG LEN {len}");
        let entries = c.cmd(["SLOWLOG", "GET", "-1"]);
        let echo = slowlog_entry(&entries, &["ECHO", "slowarg"]).unwrap_or_else(|| panic!("no ECHO entry in {entries:?}"));
        let fields = echo.as_array();
        assert_eq!(fields.len(), 6, "id, time, duration, args, peer, name: {echo:?}");
        assert!(fields[4].as_str().starts_with("127.0.0.1:"), "{echo:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((fields[1].as_int() - now).abs() <= 5);
        let named = slowlog_entry(&entries, &["DEBUG", "SLEEP", "0"]).expect("DEBUG entry");
        assert_eq!(named.as_array()[5], Reply::bulk("slowcli"), "the entry names the client");
        // Newest first, ids increasing.
        let ids: Vec<i64> = entries.as_array().iter().map(|e| e.as_array()[0].as_int()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
        // A negative threshold logs nothing.
        c.ok(["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.ok(["SLOWLOG", "RESET"]);
        c.cmd(["PING"]);
        assert_eq!(c.int(["SLOWLOG", "LEN"]), 0);
        // SLOWLOG GET with a count, and the max length.
        c.ok(["CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3"]);
        for i in 0..10 {
            c.cmd(["ECHO", &i.to_string()]);
        }
        assert_eq!(c.int(["SLOWLOG", "LEN"]), 3);
        assert_eq!(c.cmd(["SLOWLOG", "GET", "1"]).as_array().len(), 1);
    });
}

/// The SLOWLOG GET entry whose arguments are `args`.
fn slowlog_entry(entries: &Reply, args: &[&str]) -> Option<Reply> {
    entries.as_array().iter().find(|e| e.as_array()[3].strings() == args).cloned()
}

#[test]
fn slowlog_logs_forwarded_and_cross_shard_commands() {
    let s = Server::start(&["--shards", "4"]);
    let mut c = s.conn();
    c.ok(["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    c.ok(["SLOWLOG", "RESET"]);
    // One key per shard: at least three of these SETs run on another shard than the
    // connection's.
    let keys = keys_on_every_shard("slow", 4);
    for k in &keys {
        c.ok(["SET", k, "v"]);
    }
    c.ok(["MSET", &keys[0], "1", &keys[1], "2", &keys[2], "3", &keys[3], "4"]);
    let entries = c.cmd(["SLOWLOG", "GET", "-1"]);
    for k in &keys {
        assert!(slowlog_entry(&entries, &["SET", k, "v"]).is_some(), "SET {k} (shard {}) not in {entries:?}", shard_of(k, 4));
    }
    let mset = ["MSET", &keys[0], "1", &keys[1], "2", &keys[2], "3", &keys[3], "4"];
    assert!(slowlog_entry(&entries, &mset).is_some(), "cross-shard MSET not in {entries:?}");
}

#[test]
fn debug_sleep_0() {
    let s = Server::start(&["--shards", "2", "--enable-debug-command", "yes"]);
    let mut c = s.conn();
    c.ok(["DEBUG", "SLEEP", "0"]);
    c.ok(["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn debug_populate_adds_the_keys_redis_adds() {
    for_each_shards(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        c.ok(["SET", "key:3", "mine"]);
        c.ok(["DEBUG", "POPULATE", "100"]);
        assert_eq!(c.int(["DBSIZE"]), 100);
        assert_eq!(c.get_str(["GET", "key:0"]), Some("value:0".into()));
        assert_eq!(c.get_str(["GET", "key:99"]), Some("value:99".into()));
        assert_eq!(c.get_str(["GET", "key:3"]), Some("mine".into()), "a key that exists is left alone");
        // A size pads the value with zero bytes or cuts it (checked against redis-server 7.0).
        c.ok(["DEBUG", "POPULATE", "3", "p", "10"]);
        assert_eq!(c.get_str(["GET", "p:1"]), Some("value:1\0\0\0".into()));
        c.ok(["DEBUG", "POPULATE", "2", "q", "3"]);
        assert_eq!(c.get_str(["GET", "q:1"]), Some("val".into()));
        assert_eq!(c.int(["DBSIZE"]), 105);
        for bad in ["-1", "x"] {
            assert_eq!(c.err(["DEBUG", "POPULATE", bad]), "ERR value is out of range, must be positive");
        }
        // As in Redis, populated keys are not changes for save points (only the SET is).
        assert_eq!(s.info("persistence")["rdb_changes_since_last_save"], "1");
    });
}

#[test]
fn debug_object_shows_what_redis_shows() {
    // Figures from redis-server 7.0.15 for the same values.
    for_each_shards(&["--enable-debug-command", "yes"], |s| {
        let mut c = s.conn();
        let object = |c: &mut Conn, key: &str| {
            let line = c.cmd(["DEBUG", "OBJECT", key]).as_str();
            assert!(line.starts_with("Value at:0x") && line.contains(" refcount:1 encoding:"), "{line}");
            assert!(line.contains(" lru:") && line.contains(" lru_seconds_idle:0"), "{line}");
            line
        };
        c.ok(["SET", "s", "bar"]);
        assert!(object(&mut c, "s").contains("encoding:embstr serializedlength:4 "));
        c.ok(["SET", "n", "12345"]);
        assert!(object(&mut c, "n").contains("encoding:int serializedlength:3 "));
        c.ok(["SET", "big", &"a".repeat(100)]);
        // Compressed: what this server's LZF makes of it (any valid LZF loads; Redis's own
        // liblzf takes 13 bytes here). DUMP holds the same bytes after a type byte, and a
        // version and a checksum after (11 bytes).
        let dumped = c.cmd(["DUMP", "big"]).as_bytes().len();
        let line = object(&mut c, "big");
        assert!(line.contains(&format!("encoding:raw serializedlength:{} ", dumped - 11)), "{line}");
        assert!(dumped - 11 < 100, "compressed: {line}");
        c.ok(["CONFIG", "SET", "rdbcompression", "no"]);
        assert!(object(&mut c, "big").contains("encoding:raw serializedlength:102 "));
        c.int(["RPUSH", "l", "a", "b", "c"]);
        let l = object(&mut c, "l");
        assert!(l.contains("encoding:quicklist serializedlength:19 "), "{l}");
        assert!(l.ends_with(" ql_nodes:1 ql_avg_node:3.00 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:16"), "{l}");
        assert_eq!(c.err(["DEBUG", "OBJECT", "nokey"]), "ERR no such key");
    });
}

#[test]
fn object_refcount_shows_redis_shared_integers() {
    // redis-server 7.0.15 answers the same: integers 0..9999 are its shared objects, unless an
    // LRU or LFU policy with maxmemory needs a clock per key.
    let s = Server::start(&["--shards", "2", "--enable-debug-command", "yes"]);
    let mut c = s.conn();
    let shared = i32::MAX as i64;
    c.ok(["SET", "foo", "5"]);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "foo"]), shared);
    assert!(c.cmd(["DEBUG", "OBJECT", "foo"]).as_str().contains(&format!(" refcount:{shared} encoding:int ")));
    c.ok(["SET", "foo", "10000"]);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "foo"]), 1);
    c.ok(["SET", "foo", "-1"]);
    assert_eq!(c.int(["INCR", "foo"]), 0);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "foo"]), shared);
    c.ok(["SET", "s", "text"]);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "s"]), 1);
    c.ok(["CONFIG", "SET", "maxmemory", "100mb"]);
    c.ok(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "foo"]), 1);
    c.ok(["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    assert_eq!(c.int(["OBJECT", "REFCOUNT", "foo"]), shared);
}

#[test]
fn debug_set_active_expire_0_leaves_expired_keys_to_lazy_expiry() {
    let s = Server::start(&["--shards", "2", "--enable-debug-command", "yes", "--hz", "100"]);
    let mut c = s.conn();
    c.ok(["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for i in 0..20 {
        c.ok(["SET", &format!("k{i}"), "v", "PX", "10"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    // Nothing touched them and the cycle is off: still counted (DBSIZE does not expire keys).
    assert_eq!(c.int(["DBSIZE"]), 20);
    assert_eq!(s.info("stats")["expired_keys"], "0");
    c.ok(["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    assert!(wait_for(Duration::from_secs(5), || c.int(["DBSIZE"]) == 0), "the active cycle expires them again");
}

#[test]
fn debug_command_is_refused_unless_enabled() {
    let s = Server::start(&["--shards", "1"]);
    let mut c = s.conn();
    let e = c.err(["DEBUG", "SLEEP", "0"]);
    assert!(e.starts_with("ERR DEBUG command not allowed."), "{e}");
}

#[test]
fn process_exits_0_on_sigterm() {
    for n in SHARD_COUNTS {
        let mut s = Server::start(&["--shards", &n.to_string()]);
        let mut c = s.conn();
        c.ok(["SET", "k", "v"]);
        s.signal(libc::SIGTERM);
        let status = s.wait_exit(Duration::from_secs(15)).expect("the server exits after SIGTERM");
        assert!(status.success(), "exit status after SIGTERM with {n} shards: {status}");
        assert!(s.log().contains("Received SIGTERM"), "{}", s.log());
        // Its clients see the connection closed.
        c.expect_closed();
    }
}

#[test]
fn maxmemory_noeviction_rejects_writes_with_oom() {
    let s = Server::start(&["--shards", "2", "--maxmemory", "1mb", "--maxmemory-policy", "noeviction"]);
    let mut c = s.conn();
    let value = "x".repeat(100_000);
    let mut oom = None;
    for i in 0..100 {
        match c.cmd(["SET", &format!("big{i}"), &value]) {
            Reply::Simple(ok) if ok == "OK" => {}
            Reply::Error(e) => {
                oom = Some(e);
                break;
            }
            other => panic!("SET replied {other:?}"),
        }
    }
    assert_eq!(oom.as_deref(), Some("OOM command not allowed when used memory > 'maxmemory'."), "10 MB written under maxmemory 1mb");
    // Reads and deletes still work.
    assert_eq!(c.get_str(["GET", "big0"]).map(|v| v.len()), Some(value.len()));
    assert_eq!(c.int(["DEL", "big0"]), 1);
}
