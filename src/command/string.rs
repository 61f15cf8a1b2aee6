//! String commands: GET, SET and its options, the INCR family, APPEND, ranges, MGET/MSET, LCS.

use shards::ops::string::{lcs, SetCond};
use shards::ops::Ttl;

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

fn get(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    match shard.get_str(db, &a[1])? {
        Some(v) => v.with_bytes(|b| reply.bulk(b)),
        None => reply.null(),
    }
    Ok(())
}

/// Turns EX/PX/EXAT/PXAT into an absolute ms time, with Redis's validation
/// (getExpireMillisecondsOrReply): positive, and no overflow once converted and offset by now.
pub fn expire_from(arg: &[u8], unit_ms: i64, absolute: bool, now: i64, cmd: &str) -> Result<i64, CmdError> {
    let v = arg_i64(arg)?;
    let bad = || CmdError::Owned(e::invalid_expire(cmd));
    if v <= 0 {
        return Err(bad());
    }
    let ms = v.checked_mul(unit_ms).ok_or_else(bad)?;
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now).ok_or_else(bad)
    }
}

/// The options SET shares with GETEX: which expiry, parsed from `opts`.
struct SetArgs {
    cond: SetCond,
    ttl: Ttl,
    get: bool,
}

fn parse_set_options(x: &mut Exec<'_>, a: &Args<'_>, from: usize, cmd: &str) -> Result<SetArgs, CmdError> {
    let mut out = SetArgs { cond: SetCond::Always, ttl: Ttl::Clear, get: false };
    let mut expire_given = false;
    let mut keepttl = false;
    let now = x.now_ms();
    let mut i = from;
    while i < a.len() {
        let opt = &a[i];
        let next = if i + 1 < a.len() { Some(&a[i + 1]) } else { None };
        if opt.eq_ignore_ascii_case(b"NX") && out.cond != SetCond::IfPresent {
            out.cond = SetCond::IfAbsent;
        } else if opt.eq_ignore_ascii_case(b"XX") && out.cond != SetCond::IfAbsent {
            out.cond = SetCond::IfPresent;
        } else if opt.eq_ignore_ascii_case(b"GET") {
            out.get = true;
        } else if opt.eq_ignore_ascii_case(b"KEEPTTL") && !expire_given {
            keepttl = true;
            out.ttl = Ttl::Keep;
        } else if !keepttl
            && !expire_given
            && next.is_some()
            && (opt.eq_ignore_ascii_case(b"EX") || opt.eq_ignore_ascii_case(b"PX") || opt.eq_ignore_ascii_case(b"EXAT") || opt.eq_ignore_ascii_case(b"PXAT"))
        {
            let (unit, abs) = match opt.to_ascii_uppercase().as_slice() {
                b"EX" => (1000, false),
                b"PX" => (1, false),
                b"EXAT" => (1000, true),
                _ => (1, true),
            };
            let arg = next.ok_or_else(CmdError::syntax)?;
            out.ttl = Ttl::At(expire_from(arg, unit, abs, now, cmd)?);
            expire_given = true;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    Ok(out)
}

fn set(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let opts = parse_set_options(x, a, 3, "set")?;
    let db = x.db;
    let out = x.shard(&a[1]).set(db, &a[1], &a[2], opts.cond, opts.ttl, opts.get)?;
    // NX/XX that stopped the write: nothing changed.
    x.dirty = Some(out.written as u64);
    if let Ttl::At(when) = opts.ttl {
        // A relative TTL is recorded as the absolute time, so replay does not extend it.
        if out.written && x.effects_on() {
            emit_set_pxat(x, &a[1], &a[2], when);
        }
        x.emit_nothing();
    }
    if opts.get {
        match out.old {
            Some(v) => x.reply.bulk(&v),
            None => x.reply.null(),
        }
    } else if out.written {
        x.reply.ok();
    } else {
        x.reply.null();
    }
    Ok(())
}

fn setnx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let out = x.shard(&a[1]).set(db, &a[1], &a[2], SetCond::IfAbsent, Ttl::Clear, false)?;
    x.dirty = Some(out.written as u64);
    x.reply.int(out.written as i64);
    Ok(())
}

fn setex_generic(x: &mut Exec<'_>, a: &Args<'_>, unit: i64, cmd: &str) -> CmdResult {
    let now = x.now_ms();
    let when = expire_from(&a[2], unit, false, now, cmd)?;
    let db = x.db;
    x.shard(&a[1]).set(db, &a[1], &a[3], SetCond::Always, Ttl::At(when), false)?;
    if x.effects_on() {
        emit_set_pxat(x, &a[1], &a[3], when);
    }
    x.reply.ok();
    Ok(())
}

/// SET key value PXAT when: the effect of a SET with any kind of expiry.
fn emit_set_pxat(x: &mut Exec<'_>, key: &[u8], value: &[u8], when: i64) {
    let mut b = itoa::Buffer::new();
    x.emit(key, &[b"SET", key, value, b"PXAT", b.format(when).as_bytes()]);
}

fn setex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    setex_generic(x, a, 1000, "setex")
}

fn psetex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    setex_generic(x, a, 1, "psetex")
}

fn getset(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let out = x.shard(&a[1]).set(db, &a[1], &a[2], SetCond::Always, Ttl::Clear, true)?;
    match out.old {
        Some(v) => x.reply.bulk(&v),
        None => x.reply.null(),
    }
    Ok(())
}

fn getdel(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let v = x.shard(&a[1]).getdel(db, &a[1])?;
    x.dirty = Some(v.is_some() as u64);
    match v {
        Some(v) => x.reply.bulk(&v),
        None => x.reply.null(),
    }
    Ok(())
}

fn getex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let now = x.now_ms();
    let mut ttl = Ttl::Keep;
    let mut i = 2;
    let mut seen = false;
    while i < a.len() {
        let opt = a[i].to_ascii_uppercase();
        let has_next = i + 1 < a.len();
        match opt.as_slice() {
            b"PERSIST" if !seen => {
                ttl = Ttl::Clear;
                seen = true;
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !seen && has_next => {
                let (unit, abs) = match opt.as_slice() {
                    b"EX" => (1000, false),
                    b"PX" => (1, false),
                    b"EXAT" => (1000, true),
                    _ => (1, true),
                };
                ttl = Ttl::At(expire_from(&a[i + 1], unit, abs, now, "getex")?);
                seen = true;
                i += 1;
            }
            _ => return Err(CmdError::syntax()),
        }
        i += 1;
    }
    let db = x.db;
    let out = x.shard(&a[1]).getex(db, &a[1], ttl)?;
    x.dirty = Some(out.changed as u64);
    match (&out.value, ttl) {
        (Some(_), Ttl::At(when)) if x.effects_on() => {
            let mut b = itoa::Buffer::new();
            x.emit(&a[1], &[b"PEXPIREAT", &a[1], b.format(when).as_bytes()]);
        }
        (Some(_), Ttl::Clear) if out.changed => {}
        // Without an option, PERSIST of a key without TTL, or on a missing key, GETEX changed
        // nothing.
        _ => x.emit_nothing(),
    }
    match out.value {
        Some(v) => x.reply.bulk(&v),
        None => x.reply.null(),
    }
    Ok(())
}

fn incr_generic(x: &mut Exec<'_>, key: &[u8], delta: i64) -> CmdResult {
    let db = x.db;
    let v = x.shard(key).incr_by(db, key, delta)?;
    x.reply.int(v);
    Ok(())
}

fn incr(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    incr_generic(x, &a[1], 1)
}

fn decr(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    incr_generic(x, &a[1], -1)
}

fn incrby(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let d = arg_i64(&a[2])?;
    incr_generic(x, &a[1], d)
}

fn decrby(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let d = arg_i64(&a[2])?;
    // Redis refuses to negate LLONG_MIN.
    let d = d.checked_neg().ok_or(CmdError::Static("ERR decrement would overflow"))?;
    incr_generic(x, &a[1], d)
}

fn incrbyfloat(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    // The increment goes to the op unparsed: Redis checks the key's type before it parses the
    // increment, so `INCRBYFLOAT <list> abc` is WRONGTYPE, not "not a valid float".
    let v = x.shard(&a[1]).incr_by_float(db, &a[1], &a[2])?;
    // Recorded as the value it produced: replay must not redo the float arithmetic.
    x.emit(&a[1], &[b"SET", &a[1], &v, b"KEEPTTL"]);
    x.reply.bulk(&v);
    Ok(())
}

fn append(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let max = x.server.hot().proto_max_bulk_len;
    let n = x.shard(&a[1]).append(db, &a[1], &a[2], max)?;
    x.reply.int(n as i64);
    Ok(())
}

fn strlen(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).strlen(db, &a[1])?;
    x.reply.int(n as i64);
    Ok(())
}

fn getrange(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let start = arg_i64(&a[2])?;
    let end = arg_i64(&a[3])?;
    let db = x.db;
    let v = x.shard(&a[1]).getrange(db, &a[1], start, end)?;
    x.reply.bulk(&v);
    Ok(())
}

fn setrange(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let offset = arg_i64(&a[2])?;
    if offset < 0 {
        return Err(CmdError::Static(e::OFFSET_OUT_OF_RANGE));
    }
    let db = x.db;
    let max = x.server.hot().proto_max_bulk_len;
    let n = x.shard(&a[1]).setrange(db, &a[1], offset as usize, &a[3], max)?;
    // An empty value writes nothing, not even a missing key.
    x.dirty = Some(!a[3].is_empty() as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn mget(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    x.reply.array_len(a.len() - 1);
    let db = x.db;
    for i in 1..a.len() {
        let k = &a[i];
        // MGET replies nil for a key of another type rather than an error.
        let (shard, reply) = x.shard_and_reply(k);
        match shard.get_str(db, k) {
            Ok(Some(v)) => v.with_bytes(|b| reply.bulk(b)),
            _ => reply.null(),
        }
    }
    Ok(())
}

fn mset(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::Owned(e::wrong_arity("mset")));
    }
    let db = x.db;
    for i in (1..a.len()).step_by(2) {
        x.shard(&a[i]).set(db, &a[i], &a[i + 1], SetCond::Always, Ttl::Clear, false)?;
    }
    x.dirty = Some(a.len() as u64 / 2);
    x.reply.ok();
    Ok(())
}

fn msetnx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::Owned(e::wrong_arity("msetnx")));
    }
    let db = x.db;
    for i in (1..a.len()).step_by(2) {
        if x.shard(&a[i]).exists(db, &a[i]) {
            x.dirty = Some(0);
            x.reply.int(0);
            return Ok(());
        }
    }
    for i in (1..a.len()).step_by(2) {
        x.shard(&a[i]).set(db, &a[i], &a[i + 1], SetCond::Always, Ttl::Clear, false)?;
    }
    x.dirty = Some(a.len() as u64 / 2);
    x.reply.int(1);
    Ok(())
}

fn lcs_cmd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (mut want_len, mut want_idx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut i = 3;
    while i < a.len() {
        let opt = a[i].to_ascii_uppercase();
        match opt.as_slice() {
            b"IDX" => want_idx = true,
            b"LEN" => want_len = true,
            b"WITHMATCHLEN" => withmatchlen = true,
            b"MINMATCHLEN" if i + 1 < a.len() => {
                minmatchlen = arg_i64(&a[i + 1])?.max(0);
                i += 1;
            }
            _ => return Err(CmdError::syntax()),
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(CmdError::Static("ERR If you want both the length and indexes, please just use IDX."));
    }
    let db = x.db;
    let va = match x.shard(&a[1]).get_str(db, &a[1]) {
        Ok(v) => v.map(|v| v.to_vec()).unwrap_or_default(),
        Err(_) => return Err(CmdError::Static("ERR The specified keys must contain string values")),
    };
    let vb = match x.shard(&a[2]).get_str(db, &a[2]) {
        Ok(v) => v.map(|v| v.to_vec()).unwrap_or_default(),
        Err(_) => return Err(CmdError::Static("ERR The specified keys must contain string values")),
    };
    let (s, matches) = lcs(&va, &vb);
    if want_idx {
        let kept: Vec<_> = matches.iter().filter(|m| m.len as i64 >= minmatchlen).collect();
        x.reply.map_len(2);
        x.reply.bulk(b"matches");
        x.reply.array_len(kept.len());
        for m in kept {
            x.reply.array_len(if withmatchlen { 3 } else { 2 });
            x.reply.array_len(2);
            x.reply.int(m.a.0 as i64);
            x.reply.int(m.a.1 as i64);
            x.reply.array_len(2);
            x.reply.int(m.b.0 as i64);
            x.reply.int(m.b.1 as i64);
            if withmatchlen {
                x.reply.int(m.len as i64);
            }
        }
        x.reply.bulk(b"len");
        x.reply.int(s.len() as i64);
    } else if want_len {
        x.reply.int(s.len() as i64);
    } else {
        x.reply.bulk(&s);
    }
    Ok(())
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const G: &str = "string";

pub static COMMANDS: &[CommandSpec] = &[
    row("get", 2, READONLY | FAST, K1, Route::Keys, Data(get), G, "1.0.0", "Get the value of a key", "key"),
    row(
        "set",
        -3,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(set),
        G,
        "1.0.0",
        "Set the string value of a key",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
    ),
    row("setnx", 3, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(setnx), G, "1.0.0", "Set the value of a key, only if the key does not exist", "key value"),
    row("setex", 4, WRITE | DENYOOM, K1, Route::Keys, Data(setex), G, "2.0.0", "Set the value and expiration of a key", "key seconds value"),
    row(
        "psetex",
        4,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(psetex),
        G,
        "2.6.0",
        "Set the value and expiration in milliseconds of a key",
        "key milliseconds value",
    ),
    row("getset", 3, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(getset), G, "1.0.0", "Set the string value of a key and return its old value", "key value"),
    row("getdel", 2, WRITE | FAST, K1, Route::Keys, Data(getdel), G, "6.2.0", "Get the value of a key and delete the key", "key"),
    row(
        "getex",
        -2,
        WRITE | FAST,
        K1,
        Route::Keys,
        Data(getex),
        G,
        "6.2.0",
        "Get the value of a key and optionally set its expiration",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
    ),
    row("incr", 2, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(incr), G, "1.0.0", "Increment the integer value of a key by one", "key"),
    row("decr", 2, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(decr), G, "1.0.0", "Decrement the integer value of a key by one", "key"),
    row(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(incrby),
        G,
        "1.0.0",
        "Increment the integer value of a key by the given amount",
        "key increment",
    ),
    row(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(decrby),
        G,
        "1.0.0",
        "Decrement the integer value of a key by the given number",
        "key decrement",
    ),
    row(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(incrbyfloat),
        G,
        "2.6.0",
        "Increment the float value of a key by the given amount",
        "key increment",
    ),
    row("append", 3, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(append), G, "2.0.0", "Append a value to a key", "key value"),
    row("strlen", 2, READONLY | FAST, K1, Route::Keys, Data(strlen), G, "2.2.0", "Get the length of the value stored in a key", "key"),
    row("getrange", 4, READONLY, K1, Route::Keys, Data(getrange), G, "2.4.0", "Get a substring of the string stored at a key", "key start end"),
    row("substr", 4, READONLY, K1, Route::Keys, Data(getrange), G, "1.0.0", "Get a substring of the string stored at a key", "key start end"),
    row(
        "setrange",
        4,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(setrange),
        G,
        "2.2.0",
        "Overwrite part of a string at key starting at the specified offset",
        "key offset value",
    ),
    row("mget", -2, READONLY | FAST, KeySpec::Range(1, -1, 1), Route::Keys, Data(mget), G, "1.0.0", "Get the values of all the given keys", "key [key ...]"),
    row(
        "mset",
        -3,
        WRITE | DENYOOM,
        KeySpec::Range(1, -1, 2),
        Route::Keys,
        Data(mset),
        G,
        "1.0.1",
        "Set multiple keys to multiple values",
        "key value [key value ...]",
    ),
    row(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        KeySpec::Range(1, -1, 2),
        Route::Keys,
        Data(msetnx),
        G,
        "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist",
        "key value [key value ...]",
    ),
    row(
        "lcs",
        -3,
        READONLY,
        KeySpec::Range(1, 2, 1),
        Route::Keys,
        Data(lcs_cmd),
        G,
        "7.0.0",
        "Find longest common substring",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
    ),
];
