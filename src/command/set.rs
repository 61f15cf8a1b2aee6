//! Set commands: SADD, SREM, SMOVE, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP, SRANDMEMBER,
//! SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! Multi-key commands read their sets in place when every key is on the executing shard, and
//! copies of them when the coordinator runs them across shards (see [`with_sets`]).

use shards::glob::glob_match;
use shards::ops::set::{diff, intersect, intersect_into, union, Owned, Popped};
use shards::types::set::{Member, Set};

use super::flag::*;
use super::{row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::parse::Args;
use crate::protocol::Reply;

// Redis 7.0's texts for the argument errors of this family.
const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
const SRANDMEMBER_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

fn member(reply: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(n) => reply.bulk_int(n),
        Member::Bytes(b) => reply.bulk(b),
    }
}

fn owned(reply: &mut Reply, m: &Owned) {
    member(reply, m.as_member())
}

/// Runs `f` over the sets at `keys` (None where a key is missing), WRONGTYPE at the first key of
/// another type. On one shard the sets are borrowed in place; across shards (the coordinator
/// holding them all) each is copied out first, since only one shard can be borrowed at a time.
fn with_sets<R>(x: &mut Exec<'_>, keys: &[&[u8]], f: impl FnOnce(&[Option<&Set>], &mut Reply) -> R) -> Result<R, CmdError> {
    let db = x.db;
    if x.single_shard_id().is_some() {
        let (shard, reply) = x.shard_and_reply(keys[0]);
        let sets = shard.set_refs(db, keys)?;
        return Ok(f(&sets, reply));
    }
    let mut copies = Vec::with_capacity(keys.len());
    for k in keys {
        copies.push(x.shard(k).clone_set(db, k)?);
    }
    let refs: Vec<Option<&Set>> = copies.iter().map(Option::as_ref).collect();
    Ok(f(&refs, x.reply))
}

fn max_intset(x: &Exec<'_>) -> usize {
    x.server.limits().set_max_intset_entries
}

fn sadd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (db, max) = (x.db, max_intset(x));
    let n = x.shard(&a[1]).sadd(db, &a[1], a.iter().skip(2), max)?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn srem(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).srem(db, &a[1], a.iter().skip(2))?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

/// SMOVE source destination member: as smoveCommand, a missing source answers 0 before the
/// destination's type is looked at; the same key on both sides only checks membership.
fn smove(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (db, max) = (x.db, max_intset(x));
    let (src, dst, m) = (&a[1], &a[2], &a[3]);
    let src_exists = x.shard(src).set_exists(db, src);
    let dst_checked = x.shard(dst).set_exists(db, dst);
    if !src_exists? {
        x.dirty = Some(0);
        x.reply.int(0);
        return Ok(());
    }
    dst_checked?;
    if src == dst {
        let is = x.shard(src).sismember(db, src, m)?;
        x.dirty = Some(0);
        x.reply.int(is as i64);
        return Ok(());
    }
    if x.shard(src).srem(db, src, [m])? == 0 {
        x.dirty = Some(0);
        x.reply.int(0);
        return Ok(());
    }
    let added = x.shard(dst).sadd(db, dst, [m], max)?;
    // Redis counts the removal, and the addition when the destination did not have it.
    x.dirty = Some(1 + added as u64);
    if x.single_shard_id().is_none() && x.effects_on() {
        x.emit(src, &[b"SREM", src, m]);
        x.emit(dst, &[b"SADD", dst, m]);
    }
    x.reply.int(1);
    Ok(())
}

fn sismember(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let is = x.shard(&a[1]).sismember(db, &a[1], &a[2])?;
    x.reply.int(is as i64);
    Ok(())
}

fn smismember(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let answers = x.shard(&a[1]).smismember(db, &a[1], a.iter().skip(2))?;
    x.reply.array_len(answers.len());
    for is in answers {
        x.reply.int(is as i64);
    }
    Ok(())
}

fn smembers(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    match shard.get_set(db, &a[1])? {
        Some(set) => {
            reply.set_len(set.len());
            set.iter().for_each(|m| member(reply, m));
        }
        None => reply.set_len(0),
    }
    Ok(())
}

fn scard(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).scard(db, &a[1])?;
    x.reply.int(n as i64);
    Ok(())
}

fn spop(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::syntax());
    }
    let (db, max) = (x.db, max_intset(x));
    if a.len() == 2 {
        match x.shard(&a[1]).spop(db, &a[1])? {
            Some(m) => {
                // The random choice is recorded as the member it made.
                if x.effects_on() {
                    let v = m.as_member().to_vec();
                    x.emit(&a[1], &[b"SREM", &a[1], &v]);
                }
                x.emit_nothing();
                owned(x.reply, &m)
            }
            None => {
                x.dirty = Some(0);
                x.emit_nothing();
                x.reply.null();
            }
        }
        return Ok(());
    }
    // getPositiveLongFromObjectOrReply with a message: every failure says "must be positive".
    let count = shards::value::parse_i64_strict(&a[2]).filter(|&c| c >= 0).ok_or(CmdError::Static(MUST_BE_POSITIVE))?;
    if count == 0 {
        // The key is still looked up and type-checked first.
        x.shard(&a[1]).set_exists(db, &a[1])?;
        x.dirty = Some(0);
        x.emit_nothing();
        x.reply.set_len(0);
        return Ok(());
    }
    match x.shard(&a[1]).spop_count(db, &a[1], count as usize, max)? {
        None => {
            x.dirty = Some(0);
            x.emit_nothing();
            x.reply.set_len(0)
        }
        Some(Popped::All(set)) => {
            x.dirty = Some(set.len() as u64);
            x.emit(&a[1], &[b"DEL", &a[1]]);
            x.reply.set_len(set.len());
            set.iter().for_each(|m| member(x.reply, m));
        }
        Some(Popped::Some(v)) => {
            x.dirty = Some(v.len() as u64);
            if x.effects_on() {
                // The members chosen, removed in bounded commands.
                let bytes: Vec<Vec<u8>> = v.iter().map(|m| m.as_member().to_vec()).collect();
                for chunk in bytes.chunks(shards::effects::MAX_ITEMS_PER_CMD) {
                    let mut argv: Vec<&[u8]> = vec![b"SREM", &a[1]];
                    argv.extend(chunk.iter().map(|m| m.as_slice()));
                    x.emit(&a[1], &argv);
                }
            }
            x.emit_nothing();
            x.reply.set_len(v.len());
            v.iter().for_each(|m| owned(x.reply, m));
        }
    }
    Ok(())
}

fn srandmember(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::syntax());
    }
    let db = x.db;
    if a.len() == 2 {
        match x.shard(&a[1]).srandmember(db, &a[1])? {
            Some(m) => owned(x.reply, &m),
            None => x.reply.null(),
        }
        return Ok(());
    }
    // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX): LONG_MIN cannot be negated.
    let count = super::arg_i64(&a[2])?;
    if count == i64::MIN {
        return Err(CmdError::Static(SRANDMEMBER_RANGE));
    }
    let v = x.shard(&a[1]).srandmember_count(db, &a[1], count)?;
    x.reply.array_len(v.len());
    v.iter().for_each(|m| owned(x.reply, m));
    Ok(())
}

fn sinter(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let keys = a.slice_from(1);
    with_sets(x, &keys, |sets, reply| {
        let mut out = Vec::new();
        intersect(sets, 0, |m| out.push(m));
        reply.set_len(out.len());
        out.into_iter().for_each(|m| member(reply, m));
    })
}

/// Where SINTERCARD's keys are: numkeys of them after the numkeys argument (none when numkeys
/// is not a positive integer: the command then fails before touching any key).
fn sintercard_keys(a: &Args<'_>) -> Vec<usize> {
    match a.len().checked_sub(2).zip(shards::value::parse_i64_strict(a.get(1))) {
        Some((avail, n)) if n > 0 => (2..2 + (n as usize).min(avail)).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let numkeys = shards::value::parse_i64_strict(&a[1]).filter(|&n| n >= 1).ok_or(CmdError::Static(NUMKEYS_POSITIVE))? as u64;
    if numkeys > (a.len() - 2) as u64 {
        return Err(CmdError::Static(NUMKEYS_TOO_MANY));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if a[i].eq_ignore_ascii_case(b"LIMIT") && i + 1 < a.len() {
            limit = shards::value::parse_i64_strict(&a[i + 1]).filter(|&l| l >= 0).ok_or(CmdError::Static(LIMIT_NEGATIVE))? as usize;
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| a.get(i)).collect();
    let n = with_sets(x, &keys, |sets, _| {
        let mut n = 0usize;
        intersect(sets, limit, |_| n += 1);
        n
    })?;
    x.reply.int(n as i64);
    Ok(())
}

/// One of the set algebra operations: the sets, their keys, set-max-intset-entries.
type SetOp = fn(&[Option<&Set>], &[&[u8]], usize) -> Set;

/// The *STORE forms: the result replaces the destination, or deletes it when empty.
fn store_generic(x: &mut Exec<'_>, a: &Args<'_>, op: SetOp) -> CmdResult {
    let (db, max) = (x.db, max_intset(x));
    let keys = a.slice_from(2);
    let result = with_sets(x, &keys, |sets, _| op(sets, &keys, max))?;
    let stored = x.shard(&a[1]).store_set(db, &a[1], result);
    // One change, when there was something to store or a destination to delete.
    x.dirty = Some(stored.changed as u64);
    x.reply.int(stored.len as i64);
    Ok(())
}

fn op_inter(sets: &[Option<&Set>], _keys: &[&[u8]], max: usize) -> Set {
    intersect_into(sets, max)
}

fn op_union(sets: &[Option<&Set>], _keys: &[&[u8]], max: usize) -> Set {
    union(sets, max)
}

/// SDIFF with the first key given again anywhere is empty (Redis compares the set objects,
/// which are the same exactly when the keys are).
fn op_diff(sets: &[Option<&Set>], keys: &[&[u8]], max: usize) -> Set {
    let same: Vec<bool> = keys.iter().map(|k| *k == keys[0]).collect();
    diff(sets, &same, max)
}

fn reply_generic(x: &mut Exec<'_>, a: &Args<'_>, op: SetOp) -> CmdResult {
    let max = max_intset(x);
    let keys = a.slice_from(1);
    with_sets(x, &keys, |sets, reply| {
        let result = op(sets, &keys, max);
        reply.set_len(result.len());
        result.iter().for_each(|m| member(reply, m));
    })
}

fn sinterstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    store_generic(x, a, op_inter)
}

fn sunion(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    reply_generic(x, a, op_union)
}

fn sunionstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    store_generic(x, a, op_union)
}

fn sdiff(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    reply_generic(x, a, op_diff)
}

fn sdiffstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    store_generic(x, a, op_diff)
}

/// parseScanCursorOrReply: strtoul's rules (an optional sign, a minus wrapping modulo 2^64, an
/// empty string reading as 0), but no leading space, no trailing text and no overflow.
fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = CmdError::Static(crate::protocol::errors::INVALID_CURSOR);
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul parsed nothing: the end pointer is the start, so only "" itself is accepted.
        return if arg.is_empty() { Ok(0) } else { Err(invalid) };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid);
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u64)).ok_or_else(|| invalid.clone())?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SSCAN's options (scanGenericCommand): COUNT >= 1, MATCH; no TYPE for a key's scan.
fn scan_options<'a>(a: &Args<'a>) -> Result<(usize, Option<&'a [u8]>), CmdError> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 3;
    while i < a.len() {
        let has_next = i + 1 < a.len();
        if a[i].eq_ignore_ascii_case(b"COUNT") && has_next {
            let c = super::arg_i64(&a[i + 1])?;
            if c < 1 {
                return Err(CmdError::syntax());
            }
            count = c as usize;
        } else if a[i].eq_ignore_ascii_case(b"MATCH") && has_next {
            let p = a.get(i + 1);
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    Ok((count, pattern))
}

fn sscan(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let cursor = parse_scan_cursor(&a[2])?;
    // Redis looks the key up before it parses the options: a missing key scans empty whatever
    // they say.
    let options = scan_options(a);
    let db = x.db;
    let (shard, reply) = x.shard_and_reply(&a[1]);
    let Some(set) = shard.get_set(db, &a[1])? else {
        reply.array_len(2);
        reply.bulk(b"0");
        reply.array_len(0);
        return Ok(());
    };
    let (count, pattern) = options?;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let next = set.scan(cursor, count, |m| {
        m.with_bytes(|b| {
            if pattern.is_none_or(|p| glob_match(p, b, false)) {
                out.push(b.to_vec());
            }
        })
    });
    reply.array_len(2);
    reply.bulk(itoa::Buffer::new().format(next).as_bytes());
    reply.array_len(out.len());
    out.iter().for_each(|m| reply.bulk(m));
    Ok(())
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const ALL: KeySpec = KeySpec::Range(1, -1, 1);
const G: &str = "set";

pub static COMMANDS: &[CommandSpec] = &[
    row("sadd", -3, WRITE | DENYOOM | FAST, K1, Route::Keys, Data(sadd), G, "1.0.0", "Add one or more members to a set", "key member [member ...]"),
    row("srem", -3, WRITE | FAST, K1, Route::Keys, Data(srem), G, "1.0.0", "Remove one or more members from a set", "key member [member ...]"),
    row(
        "smove",
        4,
        WRITE | FAST,
        KeySpec::Range(1, 2, 1),
        Route::Keys,
        Data(smove),
        G,
        "1.0.0",
        "Move a member from one set to another",
        "source destination member",
    ),
    row("sismember", 3, READONLY | FAST, K1, Route::Keys, Data(sismember), G, "1.0.0", "Determine if a given value is a member of a set", "key member"),
    row(
        "smismember",
        -3,
        READONLY | FAST,
        K1,
        Route::Keys,
        Data(smismember),
        G,
        "6.2.0",
        "Returns the membership associated with the given elements for a set",
        "key member [member ...]",
    ),
    row("smembers", 2, READONLY, K1, Route::Keys, Data(smembers), G, "1.0.0", "Get all the members in a set", "key"),
    row("scard", 2, READONLY | FAST, K1, Route::Keys, Data(scard), G, "1.0.0", "Get the number of members in a set", "key"),
    row("spop", -2, WRITE | FAST, K1, Route::Keys, Data(spop), G, "1.0.0", "Remove and return one or multiple random members from a set", "key [count]"),
    row("srandmember", -2, READONLY, K1, Route::Keys, Data(srandmember), G, "1.0.0", "Get one or multiple random members from a set", "key [count]"),
    row("sinter", -2, READONLY, ALL, Route::Keys, Data(sinter), G, "1.0.0", "Intersect multiple sets", "key [key ...]"),
    row(
        "sintercard",
        -3,
        READONLY,
        KeySpec::Custom(sintercard_keys, 0, 0, 0),
        Route::Keys,
        Data(sintercard),
        G,
        "7.0.0",
        "Intersect multiple sets and return the cardinality of the result",
        "numkeys key [key ...] [LIMIT limit]",
    ),
    row(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        Route::Keys,
        Data(sinterstore),
        G,
        "1.0.0",
        "Intersect multiple sets and store the resulting set in a key",
        "destination key [key ...]",
    ),
    row("sunion", -2, READONLY, ALL, Route::Keys, Data(sunion), G, "1.0.0", "Add multiple sets", "key [key ...]"),
    row(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        Route::Keys,
        Data(sunionstore),
        G,
        "1.0.0",
        "Add multiple sets and store the resulting set in a key",
        "destination key [key ...]",
    ),
    row("sdiff", -2, READONLY, ALL, Route::Keys, Data(sdiff), G, "1.0.0", "Subtract multiple sets", "key [key ...]"),
    row(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        ALL,
        Route::Keys,
        Data(sdiffstore),
        G,
        "1.0.0",
        "Subtract multiple sets and store the resulting set in a key",
        "destination key [key ...]",
    ),
    row("sscan", -3, READONLY, K1, Route::Keys, Data(sscan), G, "2.8.0", "Incrementally iterate Set elements", "key cursor [MATCH pattern] [COUNT count]"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sintercard_key_positions() {
        let owned: Vec<Vec<u8>> = ["sintercard", "2", "a", "b", "LIMIT", "1"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(sintercard_keys(&Args::from_owned(&owned)), vec![2, 3]);
        let bad: Vec<Vec<u8>> = ["sintercard", "x", "a"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert!(sintercard_keys(&Args::from_owned(&bad)).is_empty());
        let over: Vec<Vec<u8>> = ["sintercard", "5", "a"].iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(sintercard_keys(&Args::from_owned(&over)), vec![2]);
    }

    #[test]
    fn scan_cursor_follows_strtoul() {
        assert_eq!(parse_scan_cursor(b"42"), Ok(42));
        assert_eq!(parse_scan_cursor(b"+7"), Ok(7));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [&b"18446744073709551616"[..], b" 1", b"1 ", b"abc", b"-", b"1x"] {
            assert!(parse_scan_cursor(bad).is_err(), "{:?}", bad);
        }
    }
}
