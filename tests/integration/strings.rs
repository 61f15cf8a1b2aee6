//! String commands, mirroring Redis's unit/type/string and unit/type/incr tests.

use crate::harness::{for_each_shards, key_on_shard, keys_on_every_shard, Reply};

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";
const SYNTAX: &str = "ERR syntax error";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

#[test]
fn set_and_get_an_item() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "x", "foobar"]);
        assert_eq!(c.get_str(["GET", "x"]).as_deref(), Some("foobar"));
        c.ok(["SET", "x", ""]);
        assert_eq!(c.get_str(["GET", "x"]).as_deref(), Some(""));
        assert_eq!(c.get_str(["GET", "nosuchkey"]), None);
        // Every key of a batch spread over all shards is readable from one connection.
        for i in 0..200 {
            c.ok(["SET", &format!("key:{i}"), &format!("value:{i}")]);
        }
        for i in 0..200 {
            assert_eq!(c.get_str(["GET", &format!("key:{i}")]), Some(format!("value:{i}")));
        }
    });
}

#[test]
fn set_nx_xx_get_options() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        // SETNX target key missing / exists.
        assert_eq!(c.cmd(["SET", "nx", "1", "NX"]), Reply::ok());
        assert!(c.cmd(["SET", "nx", "2", "NX"]).is_nil());
        assert_eq!(c.get_str(["GET", "nx"]).as_deref(), Some("1"));
        assert!(c.cmd(["SET", "xx", "1", "XX"]).is_nil());
        assert_eq!(c.get_str(["GET", "xx"]), None);
        c.ok(["SET", "nx", "3", "XX"]);
        assert_eq!(c.get_str(["GET", "nx"]).as_deref(), Some("3"));
        // Extended SET GET option.
        assert_eq!(c.cmd(["SET", "g", "new", "GET"]), Reply::Bulk(None));
        assert_eq!(c.cmd(["SET", "g", "newer", "GET"]), Reply::bulk("new"));
        assert_eq!(c.get_str(["GET", "g"]).as_deref(), Some("newer"));
        // GET with NX replies the old value and does not set (Redis 7.0).
        assert_eq!(c.cmd(["SET", "g", "x", "NX", "GET"]), Reply::bulk("newer"));
        assert_eq!(c.get_str(["GET", "g"]).as_deref(), Some("newer"));
        assert_eq!(c.cmd(["SET", "g", "y", "XX", "GET"]), Reply::bulk("newer"));
        assert_eq!(c.get_str(["GET", "g"]).as_deref(), Some("y"));
        assert_eq!(c.err(["SET", "k", "v", "NX", "XX"]), SYNTAX);
        assert_eq!(c.err(["SET", "k", "v", "FOO"]), SYNTAX);
        assert_eq!(c.get_str(["GET", "k"]), None);
    });
}

#[test]
fn set_expire_options() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.err(["SET", "k", "v", "EX", "0"]), "ERR invalid expire time in 'set' command");
        assert_eq!(c.err(["SET", "k", "v", "EX", "-1"]), "ERR invalid expire time in 'set' command");
        assert_eq!(c.err(["SET", "k", "v", "PX", "0"]), "ERR invalid expire time in 'set' command");
        assert_eq!(c.err(["SET", "k", "v", "EX", "abc"]), NOT_INTEGER);
        assert_eq!(c.err(["SET", "k", "v", "EX", "10", "PX", "100"]), SYNTAX);
        assert_eq!(c.err(["SET", "k", "v", "KEEPTTL", "EX", "10"]), SYNTAX);
        assert_eq!(c.err(["SET", "k", "v", "EX"]), SYNTAX);
        assert_eq!(c.int(["EXISTS", "k"]), 0);

        c.ok(["SET", "ex", "v", "EX", "100"]);
        let ttl = c.int(["TTL", "ex"]);
        assert!((99..=100).contains(&ttl), "TTL after EX 100: {ttl}");
        c.ok(["SET", "px", "v", "PX", "100000"]);
        let pttl = c.int(["PTTL", "px"]);
        assert!(pttl > 90_000 && pttl <= 100_000, "PTTL after PX 100000: {pttl}");

        // EXAT/PXAT are absolute: EXPIRETIME gives the time back.
        let at = now_ms() / 1000 + 1000;
        c.ok(["SET", "exat", "v", "EXAT", &at.to_string()]);
        assert_eq!(c.int(["EXPIRETIME", "exat"]), at);
        let pat = now_ms() + 1_000_000;
        c.ok(["SET", "pxat", "v", "PXAT", &pat.to_string()]);
        assert_eq!(c.int(["PEXPIRETIME", "pxat"]), pat);

        // A plain SET clears the TTL; KEEPTTL keeps it.
        c.ok(["SET", "ex", "v2"]);
        assert_eq!(c.int(["TTL", "ex"]), -1);
        c.ok(["SET", "exat", "v2", "KEEPTTL"]);
        assert_eq!(c.int(["EXPIRETIME", "exat"]), at);
        assert_eq!(c.get_str(["GET", "exat"]).as_deref(), Some("v2"));

        // A time already past deletes the key (Redis: the SET is turned into a DEL).
        c.ok(["SET", "past", "v", "PXAT", "1"]);
        assert_eq!(c.get_str(["GET", "past"]), None);
    });
}

#[test]
fn incr_family() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        // INCR against non existing key / key created by INCR itself.
        assert_eq!(c.int(["INCR", "novar"]), 1);
        assert_eq!(c.get_str(["GET", "novar"]).as_deref(), Some("1"));
        assert_eq!(c.int(["INCR", "novar"]), 2);
        // INCR against key originally set with SET.
        c.ok(["SET", "novar", "100"]);
        assert_eq!(c.int(["INCR", "novar"]), 101);
        // INCR over 32bit value.
        c.ok(["SET", "novar", "17179869184"]);
        assert_eq!(c.int(["INCR", "novar"]), 17179869185);
        assert_eq!(c.int(["INCRBY", "novar", "17179869184"]), 34359738369);
        assert_eq!(c.int(["DECR", "novar"]), 34359738368);
        assert_eq!(c.int(["DECRBY", "novar", "34359738368"]), 0);
        assert_eq!(c.int(["DECRBY", "fresh", "5"]), -5);
        // INCR fails against key with spaces (left / right / both) and non-integers.
        for v in [" 11", "11 ", " 11 ", "1.5", "abc", ""] {
            c.ok(["SET", "novar", v]);
            assert_eq!(c.err(["INCR", "novar"]), NOT_INTEGER, "INCR of {v:?}");
        }
        // INCR fails against a key holding an overflowing number.
        c.ok(["SET", "novar", "9223372036854775808"]);
        assert_eq!(c.err(["INCR", "novar"]), NOT_INTEGER);
        c.ok(["SET", "max", "9223372036854775807"]);
        assert_eq!(c.err(["INCR", "max"]), OVERFLOW);
        assert_eq!(c.err(["INCRBY", "max", "1"]), OVERFLOW);
        c.ok(["SET", "min", "-9223372036854775808"]);
        assert_eq!(c.err(["DECR", "min"]), OVERFLOW);
        assert_eq!(c.err(["INCRBY", "min", "-1"]), OVERFLOW);
        // DECRBY negation overflow.
        c.ok(["SET", "x", "0"]);
        assert_eq!(c.err(["DECRBY", "x", "-9223372036854775808"]), "ERR decrement would overflow");
        assert_eq!(c.err(["INCRBY", "x", "abc"]), NOT_INTEGER);
        assert_eq!(c.get_str(["GET", "max"]).as_deref(), Some("9223372036854775807"));
        // INCR on keys of every shard, from one connection.
        for k in keys_on_every_shard("ctr", 4) {
            assert_eq!(c.int(["INCRBY", &k, "7"]), 7);
            assert_eq!(c.int(["INCR", &k]), 8);
        }
    });
}

#[test]
fn incrbyfloat() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.get_str(["INCRBYFLOAT", "novar", "1"]).as_deref(), Some("1"));
        assert_eq!(c.get_str(["INCRBYFLOAT", "novar", "0.25"]).as_deref(), Some("1.25"));
        c.ok(["SET", "f", "10.5"]);
        assert_eq!(c.get_str(["INCRBYFLOAT", "f", "0.1"]).as_deref(), Some("10.6"));
        c.ok(["SET", "f", "5.0e3"]);
        assert_eq!(c.get_str(["INCRBYFLOAT", "f", "2.0e2"]).as_deref(), Some("5200"));
        c.ok(["SET", "f", "-5"]);
        assert_eq!(c.get_str(["INCRBYFLOAT", "f", "2.5"]).as_deref(), Some("-2.5"));
        assert_eq!(c.get_str(["INCRBYFLOAT", "f", "1e2"]).as_deref(), Some("97.5"));
        c.ok(["SET", "f", " 11"]);
        assert_eq!(c.err(["INCRBYFLOAT", "f", "1"]), "ERR value is not a valid float");
        c.ok(["SET", "f", "1"]);
        assert_eq!(c.err(["INCRBYFLOAT", "f", "abc"]), "ERR value is not a valid float");
        assert_eq!(c.err(["INCRBYFLOAT", "f", "+inf"]), "ERR increment would produce NaN or Infinity");
        assert_eq!(c.get_str(["GET", "f"]).as_deref(), Some("1"));
    });
}

#[test]
fn incrbyfloat_decrement() {
    // Redis's "INCRBYFLOAT decrement" (which rounds only for platforms without long double).
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "foo", "1"]);
        assert_eq!(c.get_str(["INCRBYFLOAT", "foo", "-1.1"]).as_deref(), Some("-0.1"));
        c.ok(["SET", "foo", "0.1"]);
        assert_eq!(c.get_str(["INCRBYFLOAT", "foo", "0.2"]).as_deref(), Some("0.3"));
    });
}

#[test]
fn append_strlen_getrange_setrange() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        assert_eq!(c.int(["APPEND", "foo", "bar"]), 3);
        assert_eq!(c.get_str(["GET", "foo"]).as_deref(), Some("bar"));
        assert_eq!(c.int(["APPEND", "foo", "100"]), 6);
        assert_eq!(c.get_str(["GET", "foo"]).as_deref(), Some("bar100"));
        assert_eq!(c.int(["STRLEN", "foo"]), 6);
        assert_eq!(c.int(["STRLEN", "notakey"]), 0);
        c.ok(["SET", "n", "-555"]);
        assert_eq!(c.int(["STRLEN", "n"]), 4);

        // GETRANGE against string value.
        c.ok(["SET", "mykey", "Hello World"]);
        assert_eq!(c.get_str(["GETRANGE", "mykey", "0", "3"]).as_deref(), Some("Hell"));
        assert_eq!(c.get_str(["GETRANGE", "mykey", "0", "-1"]).as_deref(), Some("Hello World"));
        assert_eq!(c.get_str(["GETRANGE", "mykey", "-4", "-1"]).as_deref(), Some("orld"));
        assert_eq!(c.get_str(["GETRANGE", "mykey", "5", "3"]).as_deref(), Some(""));
        assert_eq!(c.get_str(["GETRANGE", "mykey", "5", "5000"]).as_deref(), Some(" World"));
        assert_eq!(c.get_str(["GETRANGE", "mykey", "-5000", "10000"]).as_deref(), Some("Hello World"));
        assert_eq!(c.get_str(["GETRANGE", "missing", "0", "-1"]).as_deref(), Some(""));
        // GETRANGE against integer-encoded value.
        c.ok(["SET", "mykey", "1234"]);
        assert_eq!(c.get_str(["GETRANGE", "mykey", "0", "2"]).as_deref(), Some("123"));

        // SETRANGE against non-existing key pads with zero bytes.
        assert_eq!(c.int(["SETRANGE", "sr", "1", "foo"]), 4);
        assert_eq!(c.cmd(["GET", "sr"]), Reply::bulk(b"\0foo"));
        assert_eq!(c.int(["SETRANGE", "sr", "0", "b"]), 4);
        assert_eq!(c.get_str(["GET", "sr"]).as_deref(), Some("bfoo"));
        assert_eq!(c.int(["SETRANGE", "sr2", "0", ""]), 0);
        assert_eq!(c.int(["EXISTS", "sr2"]), 0);
        c.ok(["SET", "mykey", "1234"]);
        assert_eq!(c.int(["SETRANGE", "mykey", "1", "3"]), 4);
        assert_eq!(c.get_str(["GET", "mykey"]).as_deref(), Some("1334"));
        assert_eq!(c.err(["SETRANGE", "mykey", "-1", "x"]), "ERR offset is out of range");
        assert_eq!(c.err(["SETRANGE", "mykey", "536870911", "xx"]), "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    });
}

#[test]
fn getex_getdel_getset() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "foo", "bar"]);
        assert_eq!(c.get_str(["GETEX", "foo", "EX", "100"]).as_deref(), Some("bar"));
        let ttl = c.int(["TTL", "foo"]);
        assert!((99..=100).contains(&ttl), "TTL after GETEX EX 100: {ttl}");
        assert_eq!(c.get_str(["GETEX", "foo", "PERSIST"]).as_deref(), Some("bar"));
        assert_eq!(c.int(["TTL", "foo"]), -1);
        assert_eq!(c.get_str(["GETEX", "foo"]).as_deref(), Some("bar"));
        assert_eq!(c.get_str(["GETEX", "missing", "EX", "10"]), None);
        assert_eq!(c.err(["GETEX", "foo", "EX", "0"]), "ERR invalid expire time in 'getex' command");
        assert_eq!(c.err(["GETEX", "foo", "EX", "10", "PX", "100"]), SYNTAX);
        assert_eq!(c.err(["GETEX", "foo", "EX", "10", "PERSIST"]), SYNTAX);

        assert_eq!(c.get_str(["GETDEL", "foo"]).as_deref(), Some("bar"));
        assert_eq!(c.get_str(["GETDEL", "foo"]), None);
        assert_eq!(c.int(["EXISTS", "foo"]), 0);

        assert_eq!(c.get_str(["GETSET", "gs", "a"]), None);
        assert_eq!(c.get_str(["GETSET", "gs", "b"]).as_deref(), Some("a"));
        assert_eq!(c.get_str(["GET", "gs"]).as_deref(), Some("b"));
        // GETSET clears the TTL like SET.
        c.ok(["SET", "gs", "c", "EX", "100"]);
        assert_eq!(c.get_str(["GETSET", "gs", "d"]).as_deref(), Some("c"));
        assert_eq!(c.int(["TTL", "gs"]), -1);
    });
}

#[test]
fn mset_mget_msetnx_across_shards() {
    for_each_shards(&[], |s| {
        let n = s.shards();
        let mut c = s.conn();
        // Keys on every shard of a 4-shard server (on one shard of a 1-shard one).
        let keys: Vec<String> = (0..4).flat_map(|sh| (0..3).map(move |i| key_on_shard(&format!("m{i}:"), sh, 4))).collect();
        let mut mset = vec!["MSET".to_string()];
        for (i, k) in keys.iter().enumerate() {
            mset.push(k.clone());
            mset.push(format!("v{i}"));
        }
        c.ok(&mset);
        let mut mget = vec!["MGET".to_string()];
        mget.extend(keys.iter().cloned());
        mget.insert(3, "missing".into());
        let got = c.cmd(&mget);
        let mut want: Vec<Reply> = (0..keys.len()).map(|i| Reply::bulk(format!("v{i}"))).collect();
        want.insert(2, Reply::Bulk(None));
        assert_eq!(got, Reply::Array(Some(want)), "MGET over {n} shards");
        assert_eq!(c.err(["MSET", "a", "1", "b"]), "ERR wrong number of arguments for 'mset' command");

        // MSETNX with an already existing key: nothing is set.
        let a = key_on_shard("nx-a", 0, 4);
        let b = key_on_shard("nx-b", 3, 4);
        c.ok(["SET", &b, "old"]);
        assert_eq!(c.int(["MSETNX", &a, "1", &b, "2"]), 0);
        assert_eq!(c.get_str(["GET", &a]), None);
        assert_eq!(c.get_str(["GET", &b]).as_deref(), Some("old"));
        // MSETNX with not existing keys: all are set.
        let d = key_on_shard("nx-d", 2, 4);
        assert_eq!(c.int(["MSETNX", &a, "1", &d, "2"]), 1);
        assert_eq!(c.cmd(["MGET", &a, &d]), Reply::bulks(&["1", "2"]));
        // MSETNX with the same key twice, not existing.
        assert_eq!(c.int(["MSETNX", "dup", "x", "dup", "y"]), 1);
        assert_eq!(c.get_str(["GET", "dup"]).as_deref(), Some("y"));
    });
}

#[test]
fn lcs() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        // The two keys are on different shards of a 4-shard server.
        let a = key_on_shard("lcs-a", 1, 4);
        let b = key_on_shard("lcs-b", 2, 4);
        c.ok(["MSET", &a, "ohmytext", &b, "mynewtext"]);
        assert_eq!(c.get_str(["LCS", &a, &b]).as_deref(), Some("mytext"));
        assert_eq!(c.int(["LCS", &a, &b, "LEN"]), 6);
        let idx = c.cmd(["LCS", &a, &b, "IDX"]);
        let want = Reply::Array(Some(vec![
            Reply::bulk("matches"),
            Reply::Array(Some(vec![
                Reply::Array(Some(vec![Reply::Array(Some(vec![Reply::Int(4), Reply::Int(7)])), Reply::Array(Some(vec![Reply::Int(5), Reply::Int(8)]))])),
                Reply::Array(Some(vec![Reply::Array(Some(vec![Reply::Int(2), Reply::Int(3)])), Reply::Array(Some(vec![Reply::Int(0), Reply::Int(1)]))])),
            ])),
            Reply::bulk("len"),
            Reply::Int(6),
        ]));
        assert_eq!(idx, want);
        let withlen = c.cmd(["LCS", &a, &b, "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
        let matches = withlen.field("matches").expect("matches field");
        assert_eq!(
            matches,
            Reply::Array(Some(vec![Reply::Array(Some(vec![
                Reply::Array(Some(vec![Reply::Int(4), Reply::Int(7)])),
                Reply::Array(Some(vec![Reply::Int(5), Reply::Int(8)])),
                Reply::Int(4),
            ]))]))
        );
        assert_eq!(c.get_str(["LCS", &a, "missing"]).as_deref(), Some(""));
        assert_eq!(c.err(["LCS", &a, &b, "LEN", "IDX"]), "ERR If you want both the length and indexes, please just use IDX.");
    });
}

#[test]
fn object_encoding_and_type() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        c.ok(["SET", "int", "12345"]);
        c.ok(["SET", "emb", "hello"]);
        c.ok(["SET", "raw", &"x".repeat(100)]);
        assert_eq!(c.get_str(["OBJECT", "ENCODING", "int"]).as_deref(), Some("int"));
        assert_eq!(c.get_str(["OBJECT", "ENCODING", "emb"]).as_deref(), Some("embstr"));
        assert_eq!(c.get_str(["OBJECT", "ENCODING", "raw"]).as_deref(), Some("raw"));
        // APPEND makes a string raw (Redis: "APPEND modifies the encoding from int to raw").
        c.int(["APPEND", "int", "6"]);
        assert_eq!(c.get_str(["OBJECT", "ENCODING", "int"]).as_deref(), Some("raw"));
        assert_eq!(c.get_str(["GET", "int"]).as_deref(), Some("123456"));
        assert!(c.cmd(["OBJECT", "ENCODING", "missing"]).is_nil());
        assert_eq!(c.cmd(["TYPE", "emb"]), Reply::Simple("string".into()));
        assert_eq!(c.cmd(["TYPE", "missing"]), Reply::Simple("none".into()));
    });
}

#[test]
fn binary_safe_values() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let value: Vec<u8> = (0..=255u8).chain(b"\r\n\0\r\n$3\r\n*1\r\n".iter().copied()).collect();
        let key = b"bin\r\n\0key".to_vec();
        assert_eq!(c.cmd([b"SET".to_vec(), key.clone(), value.clone()]), Reply::ok());
        assert_eq!(c.cmd([b"GET".to_vec(), key.clone()]), Reply::Bulk(Some(value.clone())));
        assert_eq!(c.cmd([b"STRLEN".to_vec(), key.clone()]), Reply::Int(value.len() as i64));
        // The empty key and keys with braces are keys like any other.
        assert_eq!(c.cmd(["SET", "", "empty"]), Reply::ok());
        assert_eq!(c.cmd(["GET", ""]), Reply::bulk("empty"));
        for k in ["{}", "{", "}{", "{a}{b}", "a{}b"] {
            assert_eq!(c.cmd(["SET", k, k]), Reply::ok());
        }
        assert_eq!(c.cmd(["MGET", "", "{}", "{", "}{", "{a}{b}", "a{}b"]), Reply::bulks(&["empty", "{}", "{", "}{", "{a}{b}", "a{}b"]));
        let big = vec![b'\n'; 1 << 20];
        assert_eq!(c.cmd([b"SET".as_slice(), b"big", &big]), Reply::ok());
        assert_eq!(c.cmd(["GET", "big"]), Reply::Bulk(Some(big)));
    });
}

#[test]
fn redis_crate_client_works() {
    use redis::Commands;
    for_each_shards(&[], |s| {
        let client = s.redis_client();
        let mut con = client.get_connection().expect("redis crate connects");
        let _: () = con.set("rk", "hello").expect("SET");
        let v: String = con.get("rk").expect("GET");
        assert_eq!(v, "hello");
        let missing: Option<String> = con.get("rk-missing").expect("GET missing");
        assert_eq!(missing, None);
        let keys = keys_on_every_shard("rc", 4);
        let pairs: Vec<(String, i64)> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as i64)).collect();
        let _: () = con.mset(&pairs).expect("MSET");
        let got: Vec<i64> = con.mget(&keys).expect("MGET");
        assert_eq!(got, vec![0, 1, 2, 3]);
        let n: i64 = con.incr("counter", 5).expect("INCRBY");
        assert_eq!(n, 5);
        let (a, b, c): (i64, i64, Option<String>) =
            redis::pipe().incr(&keys[0], 10).incr(&keys[3], 20).set("p", "x").ignore().get("p").query(&mut con).expect("pipeline");
        assert_eq!((a, b, c.as_deref()), (10, 23, Some("x")));
        let err = con.incr::<_, _, i64>("rk", 1).expect_err("INCR of a non-number fails");
        assert!(err.to_string().contains("value is not an integer or out of range"), "{err}");
    });
}

#[test]
fn redis_crate_pipelines_and_resp3() {
    use redis::Commands;
    let s = crate::harness::Server::start(&["--shards", "4"]);
    // A 1000-command pipeline over keys of every shard.
    let mut con = s.redis_client().get_connection().expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("rp:{i}"), i).ignore();
        pipe.incr(format!("rp:{i}"), 1);
    }
    let incremented: Vec<i64> = pipe.query(&mut con).expect("pipeline");
    assert_eq!(incremented, (1..=500).collect::<Vec<i64>>());
    let keys: Vec<String> = (0..500).map(|i| format!("rp:{i}")).collect();
    let values: Vec<i64> = con.mget(&keys).expect("MGET");
    assert_eq!(values, (1..=500).collect::<Vec<i64>>());
    let n: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    assert_eq!(n, 500);
    // The same client library over RESP3 (it sends HELLO 3 on connect).
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/?protocol=resp3", s.port)).expect("client");
    let mut con3 = client.get_connection().expect("connect with RESP3");
    let v: Option<String> = con3.get("missing").expect("GET missing over RESP3");
    assert_eq!(v, None);
    let v: i64 = con3.get("rp:41").expect("GET over RESP3");
    assert_eq!(v, 42);
    let cfg: std::collections::HashMap<String, String> = redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(&mut con3).expect("CONFIG GET");
    assert_eq!(cfg.get("maxmemory").map(String::as_str), Some("0"));
}
