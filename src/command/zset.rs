//! Sorted set commands: ZADD and its options, ZINCRBY, the ZRANGE family (rank, BYSCORE,
//! BYLEX, REV, LIMIT, ZRANGESTORE), ZREMRANGEBY*, pops, ZRANDMEMBER, ZUNION/ZINTER/ZDIFF (and
//! their STORE forms, ZINTERCARD), ZSCAN.
//!
//! Scores are replied as Redis 7.0's addReplyDouble writes them: "%.17g" text, a bulk string in
//! RESP2 and a double in RESP3. WITHSCORES replies are flat in RESP2 and [member, score] pairs
//! in RESP3, as Redis 7.0 does.

use shards::ops::zset::{zset_algebra, Aggregate, Scored, SetOp, ZRangeBy, ZRangeSpec, ZaddFlags};
use shards::types::zset::{parse_score, LexRange, ScoreRange};

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;
use crate::protocol::Reply;

const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const INCR_SINGLE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
const MINMAX_NOT_FLOAT: &str = "ERR min or max is not a float";
const MINMAX_NOT_LEX: &str = "ERR min or max not valid string range item";
const LIMIT_NEEDS_BY: &str = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
const WITHSCORES_BYLEX: &str = "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
const OUT_OF_RANGE: &str = "ERR value is out of range";
const RANDMEMBER_RANGE: &str = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
/// The most members a negative-count ZRANDMEMBER returns (see zrandmember).
const RANDMEMBER_MAX_REPEATS: i64 = 1 << 24;
const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

/// C's printf("%.17g"), as Redis 7.0 formats scores (shared with the RDB writer and DEBUG DIGEST).
pub use shards::value::format_g17 as format_score;

/// addReplyDouble with Redis 7.0's %.17g text.
fn reply_score(reply: &mut Reply, v: f64) {
    let text = format_score(v);
    if reply.resp3 {
        reply.raw(b",");
        reply.raw(text.as_bytes());
        reply.raw(b"\r\n");
    } else {
        reply.bulk(text.as_bytes());
    }
}

/// Members, optionally with scores: flat in RESP2, [member, score] pairs in RESP3.
fn reply_scored(reply: &mut Reply, items: &[Scored], withscores: bool) {
    let pairs = withscores && reply.resp3;
    reply.array_len(if withscores && !pairs { items.len() * 2 } else { items.len() });
    for (m, s) in items {
        if pairs {
            reply.array_len(2);
        }
        reply.bulk(m);
        if withscores {
            reply_score(reply, *s);
        }
    }
}

fn not_float() -> CmdError {
    CmdError::Static(e::NOT_FLOAT)
}

/// getRangeLongFromObjectOrReply with a message that also covers "not an integer".
fn arg_range(a: &[u8], min: i64, max: i64, msg: &'static str) -> Result<i64, CmdError> {
    let v = shards::value::parse_i64_strict(a).ok_or(CmdError::Static(msg))?;
    if v < min || v > max {
        return Err(CmdError::Static(msg));
    }
    Ok(v)
}

fn zadd_generic(x: &mut Exec<'_>, a: &Args<'_>, mut flags: ZaddFlags) -> CmdResult {
    let mut ch = false;
    let mut idx = 2;
    while idx < a.len() {
        let opt = &a[idx];
        if opt.eq_ignore_ascii_case(b"nx") {
            flags.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            flags.xx = true;
        } else if opt.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if opt.eq_ignore_ascii_case(b"incr") {
            flags.incr = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            flags.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            flags.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = a.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return Err(CmdError::syntax());
    }
    if flags.nx && flags.xx {
        return Err(CmdError::Static(XX_AND_NX));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::Static(GT_LT_NX));
    }
    if flags.incr && elements > 2 {
        return Err(CmdError::Static(INCR_SINGLE_PAIR));
    }
    // Every score is parsed before anything is written: the command applies fully or not at all.
    let mut pairs = Vec::with_capacity(elements / 2);
    for j in (idx..a.len()).step_by(2) {
        pairs.push((parse_score(&a[j]).ok_or_else(not_float)?, a.get(j + 1)));
    }
    let limits = x.server.limits();
    let db = x.db;
    let out = x.shard(&a[1]).zadd(db, &a[1], flags, &pairs, &limits)?;
    if out.nan {
        return Err(CmdError::Static(SCORE_NAN));
    }
    // Redis counts the members added and the scores changed, whatever CH says.
    x.dirty = Some((out.added + out.updated) as u64);
    if flags.incr {
        if out.processed > 0 {
            reply_score(x.reply, out.score);
        } else {
            x.reply.null();
        }
    } else {
        x.reply.int((if ch { out.added + out.updated } else { out.added }) as i64);
    }
    Ok(())
}

fn zadd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zadd_generic(x, a, ZaddFlags::default())
}

fn zincrby(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zadd_generic(x, a, ZaddFlags { incr: true, ..Default::default() })
}

fn zrem(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let members = a.slice_from(2);
    let db = x.db;
    let n = x.shard(&a[1]).zrem(db, &a[1], &members)?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn zcard(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let n = x.shard(&a[1]).zcard(db, &a[1])?;
    x.reply.int(n as i64);
    Ok(())
}

fn zscore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    match x.shard(&a[1]).zscore(db, &a[1], &a[2])? {
        Some(s) => reply_score(x.reply, s),
        None => x.reply.null(),
    }
    Ok(())
}

fn zmscore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let members = a.slice_from(2);
    let db = x.db;
    let scores = x.shard(&a[1]).zmscore(db, &a[1], &members)?;
    x.reply.array_len(scores.len());
    for s in scores {
        match s {
            Some(s) => reply_score(x.reply, s),
            None => x.reply.null(),
        }
    }
    Ok(())
}

fn zrank_generic(x: &mut Exec<'_>, a: &Args<'_>, rev: bool) -> CmdResult {
    let db = x.db;
    match x.shard(&a[1]).zrank(db, &a[1], &a[2], rev)? {
        Some(r) => x.reply.int(r as i64),
        None => x.reply.null(),
    }
    Ok(())
}

fn zrank(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrank_generic(x, a, false)
}

fn zrevrank(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrank_generic(x, a, true)
}

fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    ScoreRange::parse(min, max).ok_or(CmdError::Static(MINMAX_NOT_FLOAT))
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    LexRange::parse(min, max).ok_or(CmdError::Static(MINMAX_NOT_LEX))
}

fn zcount(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let by = ZRangeBy::Score(score_range(&a[2], &a[3])?);
    let db = x.db;
    let n = x.shard(&a[1]).zcount(db, &a[1], &by)?;
    x.reply.int(n as i64);
    Ok(())
}

fn zlexcount(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let by = ZRangeBy::Lex(lex_range(&a[2], &a[3])?);
    let db = x.db;
    let n = x.shard(&a[1]).zcount(db, &a[1], &by)?;
    x.reply.int(n as i64);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// zrangeGenericCommand: `start` is the source key's index; `store` is ZRANGESTORE;
/// `kind`/`rev` are fixed by the legacy commands (Auto / None = chosen by the options).
fn zrange_generic(x: &mut Exec<'_>, a: &Args<'_>, start: usize, store: bool, mut kind: RangeKind, rev: Option<bool>) -> CmdResult {
    let mut reverse = rev;
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = start + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = &a[j];
        if !store && opt.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if opt.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = arg_i64(&a[j + 1])?;
            limit = arg_i64(&a[j + 2])?;
            j += 2;
        } else if reverse.is_none() && opt.eq_ignore_ascii_case(b"rev") {
            reverse = Some(true);
        } else if kind == RangeKind::Auto && opt.eq_ignore_ascii_case(b"bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && opt.eq_ignore_ascii_case(b"byscore") {
            kind = RangeKind::Score;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit != -1 && kind == RangeKind::Rank {
        return Err(CmdError::Static(LIMIT_NEEDS_BY));
    }
    if withscores && kind == RangeKind::Lex {
        return Err(CmdError::Static(WITHSCORES_BYLEX));
    }
    let (mut lo, mut hi) = (&a[start + 1], &a[start + 2]);
    if reverse && kind != RangeKind::Rank {
        // BYSCORE/BYLEX with REV take the range as max, min.
        std::mem::swap(&mut lo, &mut hi);
    }
    let by = match kind {
        RangeKind::Score => ZRangeBy::Score(score_range(lo, hi)?),
        RangeKind::Lex => ZRangeBy::Lex(lex_range(lo, hi)?),
        _ => ZRangeBy::Rank(arg_i64(lo)?, arg_i64(hi)?),
    };
    let spec = ZRangeSpec { by, rev: reverse, offset, limit };
    let db = x.db;
    let src = &a[start];
    let items = x.shard(src).zrange(db, src, &spec)?;
    if store {
        let limits = x.server.limits();
        let stored = x.shard(&a[1]).zstore(db, &a[1], items, &limits);
        x.dirty = Some(stored.changed as u64);
        x.reply.int(stored.len as i64);
    } else {
        reply_scored(x.reply, &items, withscores);
    }
    Ok(())
}

fn zrange(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Auto, None)
}

fn zrangestore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 2, true, RangeKind::Auto, None)
}

fn zrevrange(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Rank, Some(true))
}

fn zrangebyscore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Score, Some(false))
}

fn zrevrangebyscore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Score, Some(true))
}

fn zrangebylex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Lex, Some(false))
}

fn zrevrangebylex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zrange_generic(x, a, 1, false, RangeKind::Lex, Some(true))
}

fn zremrange_generic(x: &mut Exec<'_>, a: &Args<'_>, kind: RangeKind) -> CmdResult {
    let by = match kind {
        RangeKind::Score => ZRangeBy::Score(score_range(&a[2], &a[3])?),
        RangeKind::Lex => ZRangeBy::Lex(lex_range(&a[2], &a[3])?),
        _ => ZRangeBy::Rank(arg_i64(&a[2])?, arg_i64(&a[3])?),
    };
    let db = x.db;
    let n = x.shard(&a[1]).zremrange(db, &a[1], &by)?;
    x.dirty = Some(n as u64);
    x.reply.int(n as i64);
    Ok(())
}

fn zremrangebyrank(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zremrange_generic(x, a, RangeKind::Rank)
}

fn zremrangebyscore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zremrange_generic(x, a, RangeKind::Score)
}

fn zremrangebylex(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zremrange_generic(x, a, RangeKind::Lex)
}

/// ZPOPMIN/ZPOPMAX key [count]: a flat array, or [member, score] pairs in RESP3 when a count
/// was given (genericZpopCommand's use_nested_array).
fn zpop_generic(x: &mut Exec<'_>, a: &Args<'_>, max: bool) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::syntax());
    }
    let count = if a.len() == 3 {
        let c = arg_i64(&a[2])?;
        if c < 0 {
            return Err(CmdError::Static(MUST_BE_POSITIVE));
        }
        Some(c as usize)
    } else {
        None
    };
    let db = x.db;
    let Some(items) = x.shard(&a[1]).zpop(db, &a[1], max, count.unwrap_or(1))? else {
        x.dirty = Some(0);
        x.reply.array_len(0);
        return Ok(());
    };
    x.dirty = Some(items.len() as u64);
    let nested = x.reply.resp3 && count.is_some();
    x.reply.array_len(if nested { items.len() } else { items.len() * 2 });
    for (m, s) in &items {
        if nested {
            x.reply.array_len(2);
        }
        x.reply.bulk(m);
        reply_score(x.reply, *s);
    }
    Ok(())
}

fn zpopmin(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zpop_generic(x, a, false)
}

fn zpopmax(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zpop_generic(x, a, true)
}

/// The keys of a `numkeys key [key ...]` command whose numkeys is at `at`; none when numkeys
/// is not a positive integer that fits (the handler then fails before touching any key).
fn numkeys_keys(a: &Args<'_>, at: usize) -> Vec<usize> {
    match a.len().checked_sub(at + 1).and_then(|room| shards::value::parse_i64_strict(a.get(at)).filter(|&n| n >= 1 && n as usize <= room)) {
        Some(n) => (at + 1..at + 1 + n as usize).collect(),
        None => Vec::new(),
    }
}

fn keys_numkeys_at1(a: &Args<'_>) -> Vec<usize> {
    numkeys_keys(a, 1)
}

/// ZUNIONSTORE and friends: the destination, then the numkeys sources.
fn keys_store_numkeys_at2(a: &Args<'_>) -> Vec<usize> {
    let mut v = numkeys_keys(a, 2);
    if a.len() > 1 {
        v.insert(0, 1);
    }
    v
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: the first non-empty set is popped.
fn zmpop(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let numkeys = arg_range(&a[1], 1, i64::MAX, NUMKEYS_POSITIVE)? as usize;
    let where_idx = match numkeys.checked_add(2) {
        Some(w) if w < a.len() => w,
        _ => return Err(CmdError::syntax()),
    };
    let max = if a[where_idx].eq_ignore_ascii_case(b"MIN") {
        false
    } else if a[where_idx].eq_ignore_ascii_case(b"MAX") {
        true
    } else {
        return Err(CmdError::syntax());
    };
    let mut count: Option<usize> = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && a[j].eq_ignore_ascii_case(b"COUNT") && j + 1 < a.len() {
            count = Some(arg_range(&a[j + 1], 1, i64::MAX, COUNT_POSITIVE)? as usize);
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let count = count.unwrap_or(1);
    let db = x.db;
    for k in 2..where_idx {
        let key = &a[k];
        if let Some(items) = x.shard(key).zpop(db, key, max, count)? {
            x.dirty = Some(items.len() as u64);
            x.reply.array_len(2);
            x.reply.bulk(key);
            x.reply.array_len(items.len());
            for (m, s) in &items {
                x.reply.array_len(2);
                x.reply.bulk(m);
                reply_score(x.reply, *s);
            }
            return Ok(());
        }
    }
    x.dirty = Some(0);
    x.reply.null_array();
    Ok(())
}

fn zrandmember(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    if a.len() < 3 {
        match x.shard(&a[1]).zrandmember_one(db, &a[1])? {
            Some(m) => x.reply.bulk(&m),
            None => x.reply.null(),
        }
        return Ok(());
    }
    let count = arg_i64(&a[2])?;
    if count == i64::MIN {
        return Err(CmdError::Static(RANDMEMBER_RANGE));
    }
    if a.len() > 4 || (a.len() == 4 && !a[3].eq_ignore_ascii_case(b"withscores")) {
        return Err(CmdError::syntax());
    }
    let withscores = a.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::Static(OUT_OF_RANGE));
    }
    // Redis streams a huge repeated sample into the client's output buffer until memory runs
    // out; a reply is built whole here, so an absurd count is refused instead of aborting.
    if count < -RANDMEMBER_MAX_REPEATS {
        return Err(CmdError::Static(OUT_OF_RANGE));
    }
    let items = x.shard(&a[1]).zrandmember(db, &a[1], count)?.unwrap_or_default();
    reply_scored(x.reply, &items, withscores);
    Ok(())
}

/// zunionInterDiffGenericCommand. `dst` is the destination key for the STORE forms; `card`
/// is ZINTERCARD. As in Redis, the sources are looked up (WRONGTYPE) before the options
/// after them are parsed, so the error a client sees is Redis's.
fn zsetop_generic(x: &mut Exec<'_>, a: &Args<'_>, op: SetOp, numkeys_at: usize, store: bool, card: bool) -> CmdResult {
    let setnum = arg_i64(&a[numkeys_at])?;
    if setnum < 1 {
        let name = x.spec.name;
        return Err(CmdError::Owned(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    if setnum > (a.len() - (numkeys_at + 1)) as i64 {
        return Err(CmdError::syntax());
    }
    let setnum = setnum as usize;
    let first = numkeys_at + 1;
    let db = x.db;
    let mut sources = Vec::with_capacity(setnum);
    for k in first..first + setnum {
        sources.push(x.shard(&a[k]).zset_entries(db, &a[k])?);
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = first + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        let opt = &a[j];
        if op != SetOp::Diff && !card && remaining > setnum && opt.eq_ignore_ascii_case(b"weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_score(&a[j + 1 + i]).ok_or(CmdError::Static(WEIGHT_NOT_FLOAT))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff && !card && remaining >= 2 && opt.eq_ignore_ascii_case(b"aggregate") {
            let v = &a[j + 1];
            agg = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(CmdError::syntax());
            };
            j += 2;
        } else if !store && !card && opt.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && opt.eq_ignore_ascii_case(b"limit") {
            let l = shards::value::parse_i64_strict(&a[j + 1]).filter(|&l| l >= 0).ok_or(CmdError::Static(LIMIT_NEGATIVE))?;
            limit = l as usize;
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let result = zset_algebra(op, &sources, &weights, agg, if card { limit } else { 0 });
    if store {
        let limits = x.server.limits();
        let stored = x.shard(&a[1]).zstore(db, &a[1], result, &limits);
        x.dirty = Some(stored.changed as u64);
        x.reply.int(stored.len as i64);
    } else if card {
        x.reply.int(result.len() as i64);
    } else {
        reply_scored(x.reply, &result, withscores);
    }
    Ok(())
}

fn zunion(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Union, 1, false, false)
}

fn zinter(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Inter, 1, false, false)
}

fn zdiff(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Diff, 1, false, false)
}

fn zintercard(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Inter, 1, false, true)
}

fn zunionstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Union, 2, true, false)
}

fn zinterstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Inter, 2, true, false)
}

fn zdiffstore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    zsetop_generic(x, a, SetOp::Diff, 2, true, false)
}

/// parseScanCursorOrReply: strtoul, so "-1" wraps to the largest cursor as in Redis.
fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::Static(e::INVALID_CURSOR);
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let v: u64 = std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or_else(bad)?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: the cursor is checked first, then the key,
/// then the options (zscanCommand + scanGenericCommand). Scores are %.17g bulk strings.
fn zscan(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let cursor = parse_cursor(&a[2])?;
    let db = x.db;
    if x.shard(&a[1]).get_zset(db, &a[1])?.is_none() {
        x.reply.array_len(2);
        x.reply.bulk(b"0");
        x.reply.array_len(0);
        return Ok(());
    }
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < a.len() {
        let has_next = i + 1 < a.len();
        if a[i].eq_ignore_ascii_case(b"count") && has_next {
            let c = arg_i64(&a[i + 1])?;
            if c < 1 {
                return Err(CmdError::syntax());
            }
            count = c as usize;
        } else if a[i].eq_ignore_ascii_case(b"match") && has_next {
            let p = a.get(i + 1);
            pattern = if p == b"*" { None } else { Some(p) };
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let (next, items) = x.shard(&a[1]).zscan(db, &a[1], cursor, count, pattern)?.unwrap_or_default();
    x.reply.array_len(2);
    x.reply.bulk(next.to_string().as_bytes());
    x.reply.array_len(items.len() * 2);
    for (m, s) in &items {
        x.reply.bulk(m);
        x.reply.bulk(format_score(*s).as_bytes());
    }
    Ok(())
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const NUMKEYS: KeySpec = KeySpec::Custom(keys_numkeys_at1, 0, 0, 0);
const STORE_NUMKEYS: KeySpec = KeySpec::Custom(keys_store_numkeys_at2, 1, 1, 1);
const G: &str = "sorted_set";
const KEYS: Route = Route::Keys;

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        K1,
        KEYS,
        Data(zadd),
        G,
        "1.2.0",
        "Add one or more members to a sorted set, or update its score if it already exists",
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
    ),
    row("zincrby", 4, WRITE | DENYOOM | FAST, K1, KEYS, Data(zincrby), G, "1.2.0", "Increment the score of a member in a sorted set", "key increment member"),
    row("zrem", -3, WRITE | FAST, K1, KEYS, Data(zrem), G, "1.2.0", "Remove one or more members from a sorted set", "key member [member ...]"),
    row("zcard", 2, READONLY | FAST, K1, KEYS, Data(zcard), G, "1.2.0", "Get the number of members in a sorted set", "key"),
    row("zscore", 3, READONLY | FAST, K1, KEYS, Data(zscore), G, "1.2.0", "Get the score associated with the given member in a sorted set", "key member"),
    row(
        "zmscore",
        -3,
        READONLY | FAST,
        K1,
        KEYS,
        Data(zmscore),
        G,
        "6.2.0",
        "Get the score associated with the given members in a sorted set",
        "key member [member ...]",
    ),
    row("zrank", 3, READONLY | FAST, K1, KEYS, Data(zrank), G, "2.0.0", "Determine the index of a member in a sorted set", "key member"),
    row(
        "zrevrank",
        3,
        READONLY | FAST,
        K1,
        KEYS,
        Data(zrevrank),
        G,
        "2.0.0",
        "Determine the index of a member in a sorted set, with scores ordered from high to low",
        "key member",
    ),
    row(
        "zcount",
        4,
        READONLY | FAST,
        K1,
        KEYS,
        Data(zcount),
        G,
        "2.0.0",
        "Count the members in a sorted set with scores within the given values",
        "key min max",
    ),
    row(
        "zlexcount",
        4,
        READONLY | FAST,
        K1,
        KEYS,
        Data(zlexcount),
        G,
        "2.8.9",
        "Count the number of members in a sorted set between a given lexicographical range",
        "key min max",
    ),
    row(
        "zrange",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrange),
        G,
        "1.2.0",
        "Return a range of members in a sorted set",
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
    ),
    row(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        KeySpec::Range(1, 2, 1),
        KEYS,
        Data(zrangestore),
        G,
        "6.2.0",
        "Store a range of members from sorted set into another key",
        "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
    ),
    row(
        "zrevrange",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrevrange),
        G,
        "1.2.0",
        "Return a range of members in a sorted set, by index, with scores ordered from high to low",
        "key start stop [WITHSCORES]",
    ),
    row(
        "zrangebyscore",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrangebyscore),
        G,
        "1.0.5",
        "Return a range of members in a sorted set, by score",
        "key min max [WITHSCORES] [LIMIT offset count]",
    ),
    row(
        "zrevrangebyscore",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrevrangebyscore),
        G,
        "2.2.0",
        "Return a range of members in a sorted set, by score, with scores ordered from high to low",
        "key max min [WITHSCORES] [LIMIT offset count]",
    ),
    row(
        "zrangebylex",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrangebylex),
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range",
        "key min max [LIMIT offset count]",
    ),
    row(
        "zrevrangebylex",
        -4,
        READONLY,
        K1,
        KEYS,
        Data(zrevrangebylex),
        G,
        "2.8.9",
        "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
        "key max min [LIMIT offset count]",
    ),
    row(
        "zremrangebyrank",
        4,
        WRITE,
        K1,
        KEYS,
        Data(zremrangebyrank),
        G,
        "2.0.0",
        "Remove all members in a sorted set within the given indexes",
        "key start stop",
    ),
    row(
        "zremrangebyscore",
        4,
        WRITE,
        K1,
        KEYS,
        Data(zremrangebyscore),
        G,
        "1.2.0",
        "Remove all members in a sorted set within the given scores",
        "key min max",
    ),
    row(
        "zremrangebylex",
        4,
        WRITE,
        K1,
        KEYS,
        Data(zremrangebylex),
        G,
        "2.8.9",
        "Remove all members in a sorted set between the given lexicographical range",
        "key min max",
    ),
    row("zpopmin", -2, WRITE | FAST, K1, KEYS, Data(zpopmin), G, "5.0.0", "Remove and return members with the lowest scores in a sorted set", "key [count]"),
    row("zpopmax", -2, WRITE | FAST, K1, KEYS, Data(zpopmax), G, "5.0.0", "Remove and return members with the highest scores in a sorted set", "key [count]"),
    row(
        "zmpop",
        -4,
        WRITE,
        NUMKEYS,
        KEYS,
        Data(zmpop),
        G,
        "7.0.0",
        "Remove and return members with scores in a sorted set",
        "numkeys key [key ...] MIN|MAX [COUNT count]",
    ),
    row(
        "zrandmember",
        -2,
        READONLY,
        K1,
        KEYS,
        Data(zrandmember),
        G,
        "6.2.0",
        "Get one or multiple random elements from a sorted set",
        "key [count [WITHSCORES]]",
    ),
    row(
        "zunion",
        -3,
        READONLY,
        NUMKEYS,
        KEYS,
        Data(zunion),
        G,
        "6.2.0",
        "Add multiple sorted sets",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    ),
    row(
        "zinter",
        -3,
        READONLY,
        NUMKEYS,
        KEYS,
        Data(zinter),
        G,
        "6.2.0",
        "Intersect multiple sorted sets",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    ),
    row("zdiff", -3, READONLY, NUMKEYS, KEYS, Data(zdiff), G, "6.2.0", "Subtract multiple sorted sets", "numkeys key [key ...] [WITHSCORES]"),
    row(
        "zintercard",
        -3,
        READONLY,
        NUMKEYS,
        KEYS,
        Data(zintercard),
        G,
        "7.0.0",
        "Intersect multiple sorted sets and return the cardinality of the result",
        "numkeys key [key ...] [LIMIT limit]",
    ),
    row(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        STORE_NUMKEYS,
        KEYS,
        Data(zunionstore),
        G,
        "2.0.0",
        "Add multiple sorted sets and store the resulting sorted set in a new key",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    ),
    row(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        STORE_NUMKEYS,
        KEYS,
        Data(zinterstore),
        G,
        "2.0.0",
        "Intersect multiple sorted sets and store the resulting sorted set in a new key",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    ),
    row(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        STORE_NUMKEYS,
        KEYS,
        Data(zdiffstore),
        G,
        "6.2.0",
        "Subtract multiple sorted sets and store the resulting sorted set in a new key",
        "destination numkeys key [key ...]",
    ),
    row(
        "zscan",
        -3,
        READONLY,
        K1,
        KEYS,
        Data(zscan),
        G,
        "2.8.0",
        "Incrementally iterate sorted sets elements and associated scores",
        "key cursor [MATCH pattern] [COUNT count]",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// printf("%.17g") as Redis 7.0 replies scores ("zset score double range" and friends).
    #[test]
    fn scores_format_like_printf_17g() {
        assert_eq!(format_score(1.0), "1");
        assert_eq!(format_score(1.5), "1.5");
        assert_eq!(format_score(0.1), "0.10000000000000001");
        assert_eq!(format_score(-2.0), "-2");
        assert_eq!(format_score(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(format_score(1e17), "1e+17");
        assert_eq!(format_score(12345678901234567.0), "12345678901234568");
        assert_eq!(format_score(0.0001), "0.0001");
        assert_eq!(format_score(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_score(f64::INFINITY), "inf");
        assert_eq!(format_score(-0.0), "-0");
    }
}
