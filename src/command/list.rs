//! List commands: LPUSH/RPUSH and the X forms, LPOP/RPOP (with count), LLEN, LRANGE, LINDEX,
//! LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH, LMPOP. The blocking forms (BLPOP,
//! BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) are not here yet.
//!
//! LMOVE/RPOPLPUSH/LMPOP reach each key through `x.shard(key)`, so the same code runs on one
//! shard or on the coordinator with every involved shard held.

use shards::ops::list::{LposOptions, LsetOutcome};
use shards::types::list::{Elem, End};

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

// Redis's texts for the errors only this family produces.
const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";

/// LEFT / RIGHT (getListPositionFromObjectOrReply): anything else is a syntax error.
fn arg_end(a: &[u8]) -> Result<End, CmdError> {
    if a.eq_ignore_ascii_case(b"LEFT") {
        Ok(End::Left)
    } else if a.eq_ignore_ascii_case(b"RIGHT") {
        Ok(End::Right)
    } else {
        Err(CmdError::syntax())
    }
}

/// An integer in 1..=i64::MAX, or `err` for anything else (getRangeLongFromObjectOrReply with
/// a message: the message covers both the parse failure and the range).
fn arg_positive(a: &[u8], err: &'static str) -> Result<usize, CmdError> {
    match shards::value::parse_i64_strict(a) {
        Some(n) if n >= 1 => Ok(n as usize),
        _ => Err(CmdError::Static(err)),
    }
}

/// An integer in 0..=i64::MAX, or `err` (getPositiveLongFromObjectOrReply with a message).
fn arg_non_negative(a: &[u8], err: &'static str) -> Result<usize, CmdError> {
    match shards::value::parse_i64_strict(a) {
        Some(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::Static(err)),
    }
}

fn reply_elems(x: &mut Exec<'_>, elems: &[Elem]) {
    x.reply.array_len(elems.len());
    for el in elems {
        x.reply.bulk(el.as_bytes());
    }
}

fn push_generic(x: &mut Exec<'_>, a: &Args<'_>, end: End, only_if_exists: bool) -> CmdResult {
    let db = x.db;
    let fill = x.server.limits().list_max_listpack_size;
    let n = x.shard(&a[1]).list_push(db, &a[1], end, a.iter().skip(2), only_if_exists, fill)?;
    // Redis counts every element pushed (none when LPUSHX/RPUSHX found no list).
    x.dirty = Some(if n == 0 { 0 } else { a.len() as u64 - 2 });
    x.reply.int(n as i64);
    Ok(())
}

fn lpush(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    push_generic(x, a, End::Left, false)
}

fn rpush(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    push_generic(x, a, End::Right, false)
}

fn lpushx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    push_generic(x, a, End::Left, true)
}

fn rpushx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    push_generic(x, a, End::Right, true)
}

/// LPOP/RPOP (popGenericCommand): without a count, a bulk or null; with one, an array, the null
/// array for a missing key, and an empty array for count 0 on an existing list.
fn pop_generic(x: &mut Exec<'_>, a: &Args<'_>, end: End) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::Owned(e::wrong_arity(x.spec.name)));
    }
    // The count is parsed before the key is looked up, as Redis does.
    let count = if a.len() == 3 { Some(arg_non_negative(&a[2], MUST_BE_POSITIVE)?) } else { None };
    let db = x.db;
    let popped = x.shard(&a[1]).list_pop(db, &a[1], end, count.unwrap_or(1))?;
    x.dirty = Some(popped.as_ref().map_or(0, |v| v.len() as u64));
    match (popped, count) {
        (None, None) => x.reply.null(),
        (None, Some(_)) => x.reply.null_array(),
        (Some(v), None) => match v.first() {
            Some(el) => x.reply.bulk(el.as_bytes()),
            None => x.reply.null(),
        },
        (Some(v), Some(_)) => reply_elems(x, &v),
    }
    Ok(())
}

fn lpop(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    pop_generic(x, a, End::Left)
}

fn rpop(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    pop_generic(x, a, End::Right)
}

fn llen(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).list_len(db, &a[1])?;
    x.reply.int(n as i64);
    Ok(())
}

fn lrange(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let start = arg_i64(&a[2])?;
    let end = arg_i64(&a[3])?;
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    match shard.list_range(db, &a[1], start, end)? {
        Some(items) => {
            reply.array_len(items.len());
            for b in items {
                reply.bulk(b);
            }
        }
        None => reply.array_len(0),
    }
    Ok(())
}

fn lindex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    // Redis looks the key up before parsing the index (see Shard::list_index).
    let index = shards::value::parse_i64_strict(&a[2]);
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    match shard.list_index(db, &a[1], index)? {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    }
    Ok(())
}

fn lset(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let index = shards::value::parse_i64_strict(&a[2]);
    let db = x.db;
    match x.shard(&a[1]).list_set(db, &a[1], index, &a[3])? {
        LsetOutcome::Done => x.reply.ok(),
        LsetOutcome::IndexOutOfRange => return Err(CmdError::Static(INDEX_OUT_OF_RANGE)),
    }
    Ok(())
}

fn linsert(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let after = if a[2].eq_ignore_ascii_case(b"AFTER") {
        true
    } else if a[2].eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let db = x.db;
    let n = x.shard(&a[1]).list_insert(db, &a[1], after, &a[3], &a[4])?;
    // 0: no list, -1: no pivot; nothing inserted either way.
    x.dirty = Some((n > 0) as u64);
    x.reply.int(n);
    Ok(())
}

fn lrem(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let count = arg_i64(&a[2])?;
    let db = x.db;
    let n = x.shard(&a[1]).list_rem(db, &a[1], count, &a[3])?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn ltrim(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let start = arg_i64(&a[2])?;
    let end = arg_i64(&a[3])?;
    let db = x.db;
    let removed = x.shard(&a[1]).list_trim(db, &a[1], start, end)?;
    // Redis counts the elements trimmed away.
    x.dirty = Some(removed as u64);
    x.reply.ok();
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] (lposCommand).
fn lpos(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen = 0usize;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        let opt = &a[j];
        if opt.eq_ignore_ascii_case(b"RANK") && more {
            j += 1;
            rank = arg_i64(&a[j])?;
            if rank == 0 {
                return Err(CmdError::Static(RANK_ZERO));
            }
        } else if opt.eq_ignore_ascii_case(b"COUNT") && more {
            j += 1;
            count = Some(arg_non_negative(&a[j], COUNT_NEGATIVE)?);
        } else if opt.eq_ignore_ascii_case(b"MAXLEN") && more {
            j += 1;
            maxlen = arg_non_negative(&a[j], MAXLEN_NEGATIVE)?;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let mut opts = LposOptions { rank, count: count.unwrap_or(1), maxlen };
    if rank == i64::MIN {
        // Redis 7.0 accepts LLONG_MIN and negates it in place, which leaves it LLONG_MIN: every
        // match from the tail then passes the rank test and the COUNT test never fires.
        opts.rank = -1;
        if count.is_some() {
            opts.count = 0;
        }
    }
    let db = x.db;
    let found = x.shard(&a[1]).list_pos(db, &a[1], &a[2], opts)?;
    let found = found.unwrap_or_default();
    if count.is_some() {
        x.reply.array_len(found.len());
        for i in found {
            x.reply.int(i as i64);
        }
    } else {
        match found.first() {
            Some(&i) => x.reply.int(i as i64),
            None => x.reply.null(),
        }
    }
    Ok(())
}

/// LMOVE/RPOPLPUSH (lmoveGenericCommand). Redis's order: a missing source answers null without
/// looking at the destination; a destination of another type is refused before anything is
/// popped; an emptied source is deleted after the push.
fn move_generic(x: &mut Exec<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let db = x.db;
    if src == dst {
        let rotated = x.shard(src).list_rotate(db, src, from, to)?;
        x.dirty = Some(rotated.is_some() as u64);
        match rotated {
            Some(el) => x.reply.bulk(el.as_bytes()),
            None => x.reply.null(),
        }
        return Ok(());
    }
    if !x.shard(src).list_check(db, src)? {
        x.dirty = Some(0);
        x.reply.null();
        return Ok(());
    }
    x.shard(dst).list_check(db, dst)?;
    let Some(el) = x.shard(src).list_pop(db, src, from, 1)?.and_then(|v| v.into_iter().next()) else {
        x.dirty = Some(0);
        x.reply.null();
        return Ok(());
    };
    x.reply.bulk(el.as_bytes());
    let fill = x.server.limits().list_max_listpack_size;
    x.shard(dst).list_push(db, dst, to, [el.as_bytes()], false, fill)?;
    if x.single_shard_id().is_none() && x.effects_on() {
        // Across shards, each side records its half: the pop and the push of that element.
        x.emit(src, &[if from == End::Left { b"LPOP" } else { b"RPOP" }, src]);
        x.emit(dst, &[if to == End::Left { b"LPUSH" } else { b"RPUSH" }, dst, el.as_bytes()]);
    }
    Ok(())
}

fn lmove(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let from = arg_end(&a[3])?;
    let to = arg_end(&a[4])?;
    move_generic(x, &a[1], &a[2], from, to)
}

fn rpoplpush(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    move_generic(x, &a[1], &a[2], End::Right, End::Left)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] (lmpopGenericCommand): pops from the
/// first non-empty list and replies [key, [elements]], or the null array.
fn lmpop(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let numkeys = arg_positive(&a[1], NUMKEYS_NOT_POSITIVE)?;
    let where_idx = numkeys.saturating_add(2);
    if where_idx >= a.len() {
        return Err(CmdError::syntax());
    }
    let end = arg_end(&a[where_idx])?;
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && a[j].eq_ignore_ascii_case(b"COUNT") && j + 1 < a.len() {
            j += 1;
            count = Some(arg_positive(&a[j], COUNT_NOT_POSITIVE)?);
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    let db = x.db;
    for k in 2..where_idx {
        let key = &a[k];
        if let Some(elems) = x.shard(key).list_pop(db, key, end, count)? {
            x.dirty = Some(elems.len() as u64);
            x.reply.array_len(2);
            x.reply.bulk(key);
            reply_elems(x, &elems);
            return Ok(());
        }
    }
    x.dirty = Some(0);
    x.reply.null_array();
    Ok(())
}

/// LMPOP's keys (Redis's lmpopGetKeys): `numkeys` keys from argument 2, none when numkeys is
/// not a positive integer that fits the arguments.
fn lmpop_keys(a: &Args<'_>) -> Vec<usize> {
    match a.iter().nth(1).and_then(shards::value::parse_i64_strict) {
        Some(n) if n >= 1 && (n as u64) <= (a.len() as u64).saturating_sub(2) => (2..2 + n as usize).collect(),
        _ => Vec::new(),
    }
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const K12: KeySpec = KeySpec::Range(1, 2, 1);
const G: &str = "list";

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(lpush),
        G,
        "1.0.0",
        "Prepend one or multiple elements to a list",
        "key element [element ...]",
    ),
    row(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(rpush),
        G,
        "1.0.0",
        "Append one or multiple elements to a list",
        "key element [element ...]",
    ),
    row(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(lpushx),
        G,
        "2.2.0",
        "Prepend an element to a list, only if the list exists",
        "key element [element ...]",
    ),
    row(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        Route::Keys,
        Data(rpushx),
        G,
        "2.2.0",
        "Append an element to a list, only if the list exists",
        "key element [element ...]",
    ),
    row("lpop", -2, WRITE | FAST, K1, Route::Keys, Data(lpop), G, "1.0.0", "Remove and get the first elements in a list", "key [count]"),
    row("rpop", -2, WRITE | FAST, K1, Route::Keys, Data(rpop), G, "1.0.0", "Remove and get the last elements in a list", "key [count]"),
    row("llen", 2, READONLY | FAST, K1, Route::Keys, Data(llen), G, "1.0.0", "Get the length of a list", "key"),
    row("lrange", 4, READONLY, K1, Route::Keys, Data(lrange), G, "1.0.0", "Get a range of elements from a list", "key start stop"),
    row("lindex", 3, READONLY, K1, Route::Keys, Data(lindex), G, "1.0.0", "Get an element from a list by its index", "key index"),
    row("lset", 4, WRITE | DENYOOM, K1, Route::Keys, Data(lset), G, "1.0.0", "Set the value of an element in a list by its index", "key index element"),
    row(
        "linsert",
        5,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(linsert),
        G,
        "2.2.0",
        "Insert an element before or after another element in a list",
        "key BEFORE|AFTER pivot element",
    ),
    row("lrem", 4, WRITE, K1, Route::Keys, Data(lrem), G, "1.0.0", "Remove elements from a list", "key count element"),
    row("ltrim", 4, WRITE, K1, Route::Keys, Data(ltrim), G, "1.0.0", "Trim a list to the specified range", "key start stop"),
    row(
        "lpos",
        -3,
        READONLY,
        K1,
        Route::Keys,
        Data(lpos),
        G,
        "6.0.6",
        "Return the index of matching elements on a list",
        "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
    ),
    row(
        "lmove",
        5,
        WRITE | DENYOOM,
        K12,
        Route::Keys,
        Data(lmove),
        G,
        "6.2.0",
        "Pop an element from a list, push it to another list and return it",
        "source destination LEFT|RIGHT LEFT|RIGHT",
    ),
    row(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        K12,
        Route::Keys,
        Data(rpoplpush),
        G,
        "1.2.0",
        "Remove the last element in a list, prepend it to another list and return it",
        "source destination",
    ),
    // Redis reports the legacy key range of a numkeys command as 0 0 0 (movable keys).
    row(
        "lmpop",
        -4,
        WRITE,
        KeySpec::Custom(lmpop_keys, 0, 0, 0),
        Route::Keys,
        Data(lmpop),
        G,
        "7.0.0",
        "Pop elements from a list",
        "numkeys key [key ...] LEFT|RIGHT [COUNT count]",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lmpop_key_positions_follow_numkeys() {
        let owned: Vec<Vec<u8>> = ["lmpop", "2", "a", "b", "LEFT"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(lmpop_keys(&Args::from_owned(&owned)), vec![2, 3]);
        let owned: Vec<Vec<u8>> = ["lmpop", "5", "a", "LEFT"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert!(lmpop_keys(&Args::from_owned(&owned)).is_empty());
        let owned: Vec<Vec<u8>> = ["lmpop", "x", "a", "LEFT"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert!(lmpop_keys(&Args::from_owned(&owned)).is_empty());
    }
}
