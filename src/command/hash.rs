//! Hash commands: HSET/HMSET/HSETNX, HGET/HMGET, HDEL, HLEN, HEXISTS, HSTRLEN, HKEYS/HVALS/
//! HGETALL, HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN. Replies and errors as Redis 7.0 t_hash.c.

use shards::longdouble::{self, FloatError};
use shards::OpError;

use super::flag::*;
use super::keys::parse_cursor;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
const INCR_NOT_FINITE: &str = "ERR value is NaN or Infinity";
const OUT_OF_RANGE: &str = "ERR value is out of range";
/// getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX) for HRANDFIELD's count.
const COUNT_OUT_OF_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// HSET and HMSET share hsetCommand; they differ only in the reply.
fn hset_generic(x: &mut Exec<'_>, a: &Args<'_>, reply_ok: bool) -> CmdResult {
    // Fields and values come in pairs: with the name and the key, an even count.
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::Owned(e::wrong_arity(x.spec.name)));
    }
    let pairs = a.slice_from(2);
    let limits = x.server.limits();
    let db = x.db;
    let created = x.shard(&a[1]).hset(db, &a[1], &pairs, &limits)?;
    // Redis counts every field written, new or not.
    x.dirty = Some(pairs.len() as u64 / 2);
    if reply_ok {
        x.reply.ok();
    } else {
        x.reply.int(created as i64);
    }
    Ok(())
}

fn hset(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    hset_generic(x, a, false)
}

fn hmset(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    hset_generic(x, a, true)
}

fn hsetnx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let limits = x.server.limits();
    let db = x.db;
    let set = x.shard(&a[1]).hsetnx(db, &a[1], &a[2], &a[3], &limits)?;
    x.dirty = Some(set as u64);
    x.reply.int(set as i64);
    Ok(())
}

fn hget(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    match shard.get_hash(db, &a[1])?.and_then(|h| h.get(&a[2])) {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    }
    Ok(())
}

/// A missing key is an empty hash: one null per field.
fn hmget(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    let h = shard.get_hash(db, &a[1])?;
    reply.array_len(a.len() - 2);
    for i in 2..a.len() {
        match h.and_then(|h| h.get(&a[i])) {
            Some(v) => reply.bulk(v),
            None => reply.null(),
        }
    }
    Ok(())
}

fn hdel(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let fields = a.slice_from(2);
    let db = x.db;
    let n = x.shard(&a[1]).hdel(db, &a[1], &fields)?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn hlen(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).get_hash(db, &a[1])?.map_or(0, |h| h.len());
    x.reply.int(n as i64);
    Ok(())
}

fn hexists(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let found = x.shard(&a[1]).get_hash(db, &a[1])?.is_some_and(|h| h.contains(&a[2]));
    x.reply.int(found as i64);
    Ok(())
}

fn hstrlen(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).get_hash(db, &a[1])?.and_then(|h| h.get(&a[2])).map_or(0, |v| v.len());
    x.reply.int(n as i64);
    Ok(())
}

/// genericHgetallCommand: fields and values as a map (RESP3) or flat array, or only one side
/// as an array.
fn hgetall_generic(x: &mut Exec<'_>, a: &Args<'_>, fields: bool, values: bool) -> CmdResult {
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    let h = shard.get_hash(db, &a[1])?;
    let len = h.map_or(0, |h| h.len());
    if fields && values {
        reply.map_len(len);
    } else {
        reply.array_len(len);
    }
    for (f, v) in h.into_iter().flat_map(|h| h.iter()) {
        if fields {
            reply.bulk(f);
        }
        if values {
            reply.bulk(v);
        }
    }
    Ok(())
}

fn hkeys(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    hgetall_generic(x, a, true, false)
}

fn hvals(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    hgetall_generic(x, a, false, true)
}

fn hgetall(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    hgetall_generic(x, a, true, true)
}

fn hincrby(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let incr = arg_i64(&a[3])?;
    let limits = x.server.limits();
    let db = x.db;
    let v = x.shard(&a[1]).hincrby(db, &a[1], &a[2], incr, &limits).map_err(|err| match err {
        OpError::NotInteger => CmdError::Static(HASH_NOT_INTEGER),
        other => other.into(),
    })?;
    x.reply.int(v);
    Ok(())
}

fn hincrbyfloat(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    // Redis parses the increment (and refuses an infinite one) before it looks at the key:
    // 0 + incr fails exactly when incr does not parse, or is infinite.
    match longdouble::incr_by_float(b"0", &a[3]) {
        Err(FloatError::NotFloat) => return Err(CmdError::Static(e::NOT_FLOAT)),
        Err(FloatError::NanOrInf) => return Err(CmdError::Static(INCR_NOT_FINITE)),
        Ok(_) => {}
    }
    let limits = x.server.limits();
    let db = x.db;
    let v = x.shard(&a[1]).hincrbyfloat(db, &a[1], &a[2], &a[3], &limits).map_err(|err| match err {
        OpError::NotFloat => CmdError::Static(HASH_NOT_FLOAT),
        other => other.into(),
    })?;
    x.emit(&a[1], &[b"HSET", &a[1], &a[2], &v]);
    x.reply.bulk(&v);
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]].
fn hrandfield(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    if a.len() == 2 {
        let (shard, reply) = x.shard_and_reply(&a[1]);
        match shard.hrandfield_one(db, &a[1])? {
            Some(f) => reply.bulk(f),
            None => reply.null(),
        }
        return Ok(());
    }
    let count = arg_i64(&a[2])?;
    if count == i64::MIN {
        return Err(CmdError::Static(COUNT_OUT_OF_RANGE));
    }
    let withvalues = match a.len() {
        3 => false,
        4 if a[3].eq_ignore_ascii_case(b"WITHVALUES") => true,
        _ => return Err(CmdError::syntax()),
    };
    // Redis keeps count * 2 from overflowing the RESP2 reply length.
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::Static(OUT_OF_RANGE));
    }
    let (shard, reply) = x.shard_and_reply(&a[1]);
    let picked = shard.hrandfield(db, &a[1], count)?;
    // RESP3 nests each field with its value; RESP2 is flat.
    if withvalues && !reply.resp3 {
        reply.array_len(picked.len() * 2);
    } else {
        reply.array_len(picked.len());
    }
    for (f, v) in picked {
        if withvalues {
            if reply.resp3 {
                reply.array_len(2);
            }
            reply.bulk(f);
            reply.bulk(v);
        } else {
            reply.bulk(f);
        }
    }
    Ok(())
}

/// HSCAN's options, or the error they would give.
fn parse_hscan_options<'a>(a: &Args<'a>) -> Result<(usize, Option<&'a [u8]>), CmdError> {
    let mut count = 10usize;
    let mut pattern = None;
    let mut i = 3;
    while i < a.len() {
        let has_next = i + 1 < a.len();
        if a[i].eq_ignore_ascii_case(b"COUNT") && has_next {
            let c = arg_i64(&a[i + 1])?;
            if c < 1 {
                return Err(CmdError::syntax());
            }
            count = usize::try_from(c).unwrap_or(usize::MAX);
        } else if a[i].eq_ignore_ascii_case(b"MATCH") && has_next {
            // A pattern of exactly "*" matches everything: no filtering.
            pattern = if &a[i + 1] == b"*" { None } else { Some(a.get(i + 1)) };
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    Ok((count, pattern))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count].
fn hscan(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let cursor = parse_cursor(&a[2])?;
    let options = parse_hscan_options(a);
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    // Redis looks the key up before it reads the options: a missing key replies an empty scan
    // and a key of another type WRONGTYPE, whatever the options say.
    let (count, pattern) = match options {
        Ok(o) => o,
        Err(err) => {
            if shard.get_hash(db, &a[1])?.is_some() {
                return Err(err);
            }
            (10, None)
        }
    };
    let (next, found) = shard.hscan(db, &a[1], cursor, count, pattern)?;
    reply.array_len(2);
    reply.bulk(itoa::Buffer::new().format(next).as_bytes());
    reply.array_len(found.len() * 2);
    for (f, v) in found {
        reply.bulk(f);
        reply.bulk(v);
    }
    Ok(())
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const G: &str = "hash";

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(hset),
        G,
        "2.0.0",
        "Set the string value of a hash field",
        "key field value [field value ...]",
    ),
    row(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(hmset),
        G,
        "2.0.0",
        "Set multiple hash fields to multiple values",
        "key field value [field value ...]",
    ),
    row(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(hsetnx),
        G,
        "2.0.0",
        "Set the value of a hash field, only if the field does not exist",
        "key field value",
    ),
    row("hget", 3, READONLY | FAST, K1, Route::Keys, Data(hget), G, "2.0.0", "Get the value of a hash field", "key field"),
    row("hmget", -3, READONLY | FAST, K1, Route::Keys, Data(hmget), G, "2.0.0", "Get the values of all the given hash fields", "key field [field ...]"),
    row("hdel", -3, WRITE | FAST, K1, Route::Keys, Data(hdel), G, "2.0.0", "Delete one or more hash fields", "key field [field ...]"),
    row("hlen", 2, READONLY | FAST, K1, Route::Keys, Data(hlen), G, "2.0.0", "Get the number of fields in a hash", "key"),
    row("hexists", 3, READONLY | FAST, K1, Route::Keys, Data(hexists), G, "2.0.0", "Determine if a hash field exists", "key field"),
    row("hstrlen", 3, READONLY | FAST, K1, Route::Keys, Data(hstrlen), G, "3.2.0", "Get the length of the value of a hash field", "key field"),
    row("hkeys", 2, READONLY, K1, Route::Keys, Data(hkeys), G, "2.0.0", "Get all the fields in a hash", "key"),
    row("hvals", 2, READONLY, K1, Route::Keys, Data(hvals), G, "2.0.0", "Get all the values in a hash", "key"),
    row("hgetall", 2, READONLY, K1, Route::Keys, Data(hgetall), G, "2.0.0", "Get all the fields and values in a hash", "key"),
    row(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(hincrby),
        G,
        "2.0.0",
        "Increment the integer value of a hash field by the given number",
        "key field increment",
    ),
    row(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(hincrbyfloat),
        G,
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
        "key field increment",
    ),
    row("hrandfield", -2, READONLY, K1, Route::Keys, Data(hrandfield), G, "6.2.0", "Get one or multiple random fields from a hash", "key [count [WITHVALUES]]"),
    row(
        "hscan",
        -3,
        READONLY,
        K1,
        Route::Keys,
        Data(hscan),
        G,
        "2.8.0",
        "Incrementally iterate hash fields and associated values",
        "key cursor [MATCH pattern] [COUNT count]",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{table, Handler};
    use crate::dispatch::ShardSet;
    use crate::protocol::Reply;
    use crate::server::Server;
    use crate::shard::ShardCore;

    /// Runs one command line through its handler on a one-shard core, as dispatch would after
    /// its arity check; returns the raw reply (or "-error").
    fn run(core: &mut ShardCore, server: &Server, resp3: bool, line: &[&str]) -> String {
        let owned: Vec<Vec<u8>> = line.iter().map(|s| s.as_bytes().to_vec()).collect();
        let args = Args::from_owned(&owned);
        let (cmd_id, spec) = table().lookup(line[0].as_bytes()).expect("known command");
        let mut reply = Reply::new(resp3);
        if !spec.arity_ok(args.len()) {
            return format!("-{}", e::wrong_arity(spec.name));
        }
        let Handler::Data(f) = spec.handler else { panic!("hash handlers are data handlers") };
        let mut x = Exec::new(ShardSet::One(core), 0, &mut reply, server, spec, cmd_id);
        match f(&mut x, &args) {
            Ok(()) => String::from_utf8_lossy(&reply.buf).into_owned(),
            Err(err) => format!("-{}", err.text()),
        }
    }

    fn setup() -> (ShardCore, Server) {
        let server = Server::new(crate::config::Config::default(), 1);
        let core = ShardCore::new(0, 16);
        (core, server)
    }

    /// "HSET/HMSET wrong number of args", HGETALL's map in RESP3, HMGET on a missing key.
    #[test]
    fn hset_hmset_replies_and_hgetall_shapes() {
        let (mut c, s) = setup();
        assert_eq!(run(&mut c, &s, false, &["hset", "h", "a", "1", "b"]), "-ERR wrong number of arguments for 'hset' command");
        assert_eq!(run(&mut c, &s, false, &["hmset", "h", "a", "1", "b"]), "-ERR wrong number of arguments for 'hmset' command");
        assert_eq!(run(&mut c, &s, false, &["hset", "h", "a", "1", "b", "2"]), ":2\r\n");
        assert_eq!(run(&mut c, &s, false, &["hmset", "h", "a", "3"]), "+OK\r\n");
        assert_eq!(run(&mut c, &s, false, &["hgetall", "h"]), "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(run(&mut c, &s, true, &["hgetall", "h"]), "%2\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(run(&mut c, &s, true, &["hgetall", "none"]), "%0\r\n");
        assert_eq!(run(&mut c, &s, false, &["hvals", "h"]), "*2\r\n$1\r\n3\r\n$1\r\n2\r\n");
        assert_eq!(run(&mut c, &s, false, &["hmget", "none", "a", "b"]), "*2\r\n$-1\r\n$-1\r\n");
        assert_eq!(run(&mut c, &s, true, &["hget", "h", "zz"]), "_\r\n");
        assert_eq!(run(&mut c, &s, false, &["hstrlen", "h", "a"]), ":1\r\n");
    }

    /// "HINCRBY ... fails against hash value with spaces", "HINCRBYFLOAT does not allow NaN or
    /// Infinity" (nothing created), and which error wins.
    #[test]
    fn hincr_errors_in_redis_order() {
        let (mut c, s) = setup();
        run(&mut c, &s, false, &["hset", "h", "sp", " 1"]);
        assert_eq!(run(&mut c, &s, false, &["hincrby", "h", "sp", "1"]), "-ERR hash value is not an integer");
        assert_eq!(run(&mut c, &s, false, &["hincrby", "h", "n", "x"]), "-ERR value is not an integer or out of range");
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "h", "sp", "1"]), "-ERR hash value is not a float");
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "hfoo", "f", "+inf"]), "-ERR value is NaN or Infinity");
        assert_eq!(run(&mut c, &s, false, &["exists", "hfoo"]), ":0\r\n");
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "h", "f", "abc"]), "-ERR value is not a valid float");
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "h", "f", "1e5000"]), "-ERR value is not a valid float");
        run(&mut c, &s, false, &["hset", "h", "big", "1.18973149535723176502e+4932"]);
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "h", "big", "1e4913"]), "-ERR increment would produce NaN or Infinity");
        run(&mut c, &s, false, &["hset", "h", "m", "9223372036854775807"]);
        assert_eq!(run(&mut c, &s, false, &["hincrby", "h", "m", "1"]), "-ERR increment or decrement would overflow");
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "h", "f", "10.5"]), "$4\r\n10.5\r\n");
        run(&mut c, &s, false, &["set", "str", "v"]);
        assert_eq!(run(&mut c, &s, false, &["hincrbyfloat", "str", "f", "1"]), format!("-{}", e::WRONGTYPE));
    }

    /// "HRANDFIELD with RESP3", "HRANDFIELD count overflow", "... count of 0", "... against
    /// non existing key - emptyarray".
    #[test]
    fn hrandfield_reply_shapes_and_errors() {
        let (mut c, s) = setup();
        run(&mut c, &s, false, &["hset", "h", "a", "1", "b", "2", "c", "3"]);
        let r3 = run(&mut c, &s, true, &["hrandfield", "h", "3", "withvalues"]);
        assert!(r3.starts_with("*3\r\n*2\r\n$1\r\n"), "{r3:?}");
        let r2 = run(&mut c, &s, false, &["hrandfield", "h", "3", "withvalues"]);
        assert!(r2.starts_with("*6\r\n$1\r\n"), "{r2:?}");
        assert!(run(&mut c, &s, true, &["hrandfield", "h", "-5"]).starts_with("*5\r\n$1\r\n"));
        assert_eq!(run(&mut c, &s, true, &["hrandfield", "h", "0"]), "*0\r\n");
        assert_eq!(run(&mut c, &s, true, &["hrandfield", "none", "100"]), "*0\r\n");
        assert_eq!(run(&mut c, &s, true, &["hrandfield", "none"]), "_\r\n");
        assert_eq!(run(&mut c, &s, false, &["hrandfield", "h", "-9223372036854770000", "withvalues"]), "-ERR value is out of range");
        assert_eq!(
            run(&mut c, &s, false, &["hrandfield", "h", "-9223372036854775808"]),
            "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(run(&mut c, &s, false, &["hrandfield", "h", "1", "withscores"]), "-ERR syntax error");
        assert_eq!(run(&mut c, &s, false, &["hrandfield", "h", "1", "withvalues", "x"]), "-ERR syntax error");
    }

    /// HSCAN: a missing key answers an empty scan even with bad options (Redis looks the key up
    /// first); an existing one gets the option error.
    #[test]
    fn hscan_option_errors_after_the_key_lookup() {
        let (mut c, s) = setup();
        assert_eq!(run(&mut c, &s, false, &["hscan", "none", "0", "count", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(run(&mut c, &s, false, &["hscan", "none", "x"]), "-ERR invalid cursor");
        run(&mut c, &s, false, &["hset", "h", "foo", "1", "bar", "2"]);
        assert_eq!(run(&mut c, &s, false, &["hscan", "h", "0", "count", "0"]), "-ERR syntax error");
        assert_eq!(run(&mut c, &s, false, &["hscan", "h", "0", "match"]), "-ERR syntax error");
        assert_eq!(run(&mut c, &s, false, &["hscan", "h", "0", "match", "f*"]), "*2\r\n$1\r\n0\r\n*2\r\n$3\r\nfoo\r\n$1\r\n1\r\n");
        run(&mut c, &s, false, &["set", "str", "v"]);
        assert_eq!(run(&mut c, &s, false, &["hscan", "str", "0", "count", "0"]), format!("-{}", e::WRONGTYPE));
    }
}
