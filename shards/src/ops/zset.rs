//! Sorted set operations (ZADD and its options, ranges by rank/score/lex, pops, random
//! members, the union/intersection/difference algebra, ZSCAN).
//!
//! Commands over several keys (ZUNIONSTORE, ZRANGESTORE, ZMPOP...) are built from the
//! single-key ops here, called by the handler on each key's shard in Redis's order: read the
//! sources ([`Shard::zset_entries`], [`Shard::zrange`]), compute ([`zset_algebra`]), then
//! write the destination ([`Shard::zstore`]).

use std::collections::{HashMap, HashSet};

use crate::glob::glob_match;
use crate::keyspace::Shard;
use crate::types::zset::{listpack_score, LexRange, ScoreRange, ZSet};
use crate::types::Limits;
use crate::value::Value;
use crate::{OpError, OpResult};

/// A member and its score, copied out of a set.
pub type Scored = (Vec<u8>, f64);

/// ZADD's options (ZINCRBY is ZADD with `incr`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZaddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What ZADD did (zaddGenericCommand's counters).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ZaddOutcome {
    pub added: usize,
    pub updated: usize,
    /// Elements not skipped by NX/XX/GT/LT (INCR replies nil when this is 0).
    pub processed: usize,
    /// The last element's resulting score (INCR's reply).
    pub score: f64,
    /// An increment produced NaN: "resulting score is not a number (NaN)".
    pub nan: bool,
}

/// What a range selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ZRangeBy {
    /// start and stop indexes, Redis's rules (negative from the end).
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A full range query: ZRANGE's BYSCORE/BYLEX, REV and LIMIT offset count (count < 0 = all).
#[derive(Debug, Clone, PartialEq)]
pub struct ZRangeSpec {
    pub by: ZRangeBy,
    pub rev: bool,
    pub offset: i64,
    pub limit: i64,
}

impl ZRangeSpec {
    pub fn by(by: ZRangeBy) -> ZRangeSpec {
        ZRangeSpec { by, rev: false, offset: 0, limit: -1 }
    }

    /// The ascending ranks `lo..hi` the query selects in `z` (then visited high to low when
    /// `rev`), after REV and LIMIT.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len() as i64;
        let (lo, hi) = match &self.by {
            ZRangeBy::Rank(start, end) => {
                // genericZrangebyrankCommand's sanitizing.
                let mut start = if *start < 0 { len + start } else { *start };
                let mut end = if *end < 0 { len + end } else { *end };
                if start < 0 {
                    start = 0;
                }
                if start > end || start >= len {
                    return (0, 0);
                }
                if end >= len {
                    end = len - 1;
                }
                if self.rev {
                    // REV counts indexes from the highest score.
                    (start, end) = (len - 1 - end, len - 1 - start);
                }
                return (start as usize, end as usize + 1);
            }
            ZRangeBy::Score(r) => r.ranks(z),
            ZRangeBy::Lex(r) => r.ranks(z),
        };
        // LIMIT: a negative offset selects nothing (Redis walks off the end), a negative count
        // means no limit.
        if self.offset < 0 {
            return (0, 0);
        }
        let offset = self.offset as usize;
        let n = hi - lo;
        if offset >= n {
            return (0, 0);
        }
        let take = if self.limit < 0 { n - offset } else { (self.limit as usize).min(n - offset) };
        if self.rev {
            (hi - offset - take, hi - offset)
        } else {
            (lo + offset, lo + offset + take)
        }
    }
}

/// ZUNION/ZINTER/ZDIFF's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

/// AGGREGATE SUM|MIN|MAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// zunionInterAggregate: a sum of +inf and -inf is 0, not NaN.
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if v < *target {
                    *target = v;
                }
            }
            Aggregate::Max => {
                if v > *target {
                    *target = v;
                }
            }
        }
    }
}

/// The union, intersection or difference of `sources` (None = missing key), each weighted,
/// sorted by (score, member). With `card_limit`, an intersection stops after that many
/// members (ZINTERCARD LIMIT; 0 = no limit).
pub fn zset_algebra(op: SetOp, sources: &[Option<Vec<Scored>>], weights: &[f64], agg: Aggregate, card_limit: usize) -> Vec<Scored> {
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let len = |i: usize| sources[i].as_ref().map(|v| v.len()).unwrap_or(0);
    let mut out: Vec<Scored> = Vec::new();
    match op {
        SetOp::Inter => {
            // Smallest input first, as Redis sorts them by cardinality.
            let mut order: Vec<usize> = (0..sources.len()).collect();
            order.sort_by_key(|&i| len(i));
            if order.is_empty() || len(order[0]) == 0 {
                return out;
            }
            let maps: Vec<HashMap<&[u8], f64>> =
                order.iter().map(|&i| sources[i].as_ref().map(|v| v.iter().map(|(m, s)| (&m[..], *s)).collect()).unwrap_or_default()).collect();
            let first = order[0];
            if let Some(items) = &sources[first] {
                'outer: for (m, s) in items {
                    let mut score = weighted(*s, weights[first]);
                    for (k, &i) in order.iter().enumerate().skip(1) {
                        match maps[k].get(&m[..]) {
                            Some(v) => agg.apply(&mut score, *v * weights[i]),
                            None => continue 'outer,
                        }
                    }
                    out.push((m.clone(), score));
                    if card_limit > 0 && out.len() >= card_limit {
                        break;
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<&[u8], f64> = HashMap::new();
            let mut order: Vec<usize> = (0..sources.len()).collect();
            order.sort_by_key(|&i| len(i));
            for &i in &order {
                if let Some(items) = &sources[i] {
                    for (m, s) in items {
                        let v = weighted(*s, weights[i]);
                        match acc.get_mut(&m[..]) {
                            Some(t) => agg.apply(t, v),
                            None => {
                                acc.insert(m, v);
                            }
                        }
                    }
                }
            }
            out = acc.into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
        }
        SetOp::Diff => {
            if let Some(Some(first)) = sources.first() {
                let others: HashSet<&[u8]> = sources[1..].iter().flatten().flat_map(|v| v.iter().map(|(m, _)| &m[..])).collect();
                out = first.iter().filter(|(m, _)| !others.contains(&m[..])).cloned().collect();
            }
        }
    }
    out.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    out
}

impl Shard {
    /// A live sorted set for reading, WRONGTYPE for other types.
    pub fn get_zset(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&ZSet>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => match e.full() {
                Some(Value::ZSet(z)) => Ok(Some(z)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    fn get_zset_mut(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&mut ZSet>> {
        match self.lookup_mut(db, key) {
            None => Ok(None),
            Some(e) => match e.full_mut() {
                Some(Value::ZSet(z)) => Ok(Some(z)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// A collection that became empty is deleted, as Redis does.
    fn zset_drop_if_empty(&mut self, db: usize, key: &[u8]) {
        if matches!(self.peek(db, key), Some(e) if matches!(e.full(), Some(Value::ZSet(z)) if z.is_empty())) {
            self.remove(db, key);
        }
    }

    /// ZADD / ZINCRBY (zaddGenericCommand + zsetAdd). Scores are already parsed (none is NaN).
    pub fn zadd(&mut self, db: usize, key: &[u8], f: ZaddFlags, pairs: &[(f64, &[u8])], limits: &Limits) -> OpResult<ZaddOutcome> {
        let mut out = ZaddOutcome::default();
        if self.get_zset_mut(db, key)?.is_none() {
            if f.xx || pairs.is_empty() {
                return Ok(out);
            }
            self.store(db, key, Value::ZSet(ZSet::for_first_member(limits, pairs[0].1.len())), None, false);
        }
        let Some(z) = self.get_zset_mut(db, key)? else { return Ok(out) };
        for &(score, member) in pairs {
            match z.score(member) {
                Some(cur) => {
                    if f.nx {
                        continue;
                    }
                    let mut new = score;
                    if f.incr {
                        new += cur;
                        if new.is_nan() {
                            out.nan = true;
                            break;
                        }
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        continue;
                    }
                    out.processed += 1;
                    out.score = new;
                    if new != cur {
                        z.update_score(member, cur, new);
                        out.updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    z.insert_new(member, score, limits);
                    out.added += 1;
                    out.processed += 1;
                    out.score = score;
                }
            }
        }
        Ok(out)
    }

    /// ZREM: how many members were removed; the key goes when the set empties.
    pub fn zrem(&mut self, db: usize, key: &[u8], members: &[&[u8]]) -> OpResult<usize> {
        let Some(z) = self.get_zset_mut(db, key)? else { return Ok(0) };
        let mut n = 0;
        for m in members {
            if z.remove(m).is_some() {
                n += 1;
            }
            if z.is_empty() {
                break;
            }
        }
        self.zset_drop_if_empty(db, key);
        Ok(n)
    }

    pub fn zcard(&mut self, db: usize, key: &[u8]) -> OpResult<usize> {
        Ok(self.get_zset(db, key)?.map(|z| z.len()).unwrap_or(0))
    }

    pub fn zscore(&mut self, db: usize, key: &[u8], member: &[u8]) -> OpResult<Option<f64>> {
        Ok(self.get_zset(db, key)?.and_then(|z| z.score(member)))
    }

    pub fn zmscore(&mut self, db: usize, key: &[u8], members: &[&[u8]]) -> OpResult<Vec<Option<f64>>> {
        let z = self.get_zset(db, key)?;
        Ok(members.iter().map(|m| z.and_then(|z| z.score(m))).collect())
    }

    /// ZRANK / ZREVRANK.
    pub fn zrank(&mut self, db: usize, key: &[u8], member: &[u8], rev: bool) -> OpResult<Option<usize>> {
        let Some(z) = self.get_zset(db, key)? else { return Ok(None) };
        Ok(z.rank(member).map(|r| if rev { z.len() - 1 - r } else { r }))
    }

    /// ZCOUNT / ZLEXCOUNT: how many members a score or lex range holds.
    pub fn zcount(&mut self, db: usize, key: &[u8], by: &ZRangeBy) -> OpResult<usize> {
        let Some(z) = self.get_zset(db, key)? else { return Ok(0) };
        let (lo, hi) = ZRangeSpec::by(by.clone()).ranks(z);
        Ok(hi - lo)
    }

    /// ZRANGE and its variants: the selected members with scores, in reply order.
    pub fn zrange(&mut self, db: usize, key: &[u8], spec: &ZRangeSpec) -> OpResult<Vec<Scored>> {
        let Some(z) = self.get_zset(db, key)? else { return Ok(Vec::new()) };
        let (lo, hi) = spec.ranks(z);
        let mut out = Vec::with_capacity(hi.saturating_sub(lo));
        z.for_range(lo, hi, spec.rev, |m, s| out.push((m.to_vec(), s)));
        Ok(out)
    }

    /// ZREMRANGEBYRANK/SCORE/LEX: how many members went.
    pub fn zremrange(&mut self, db: usize, key: &[u8], by: &ZRangeBy) -> OpResult<usize> {
        let Some(z) = self.get_zset_mut(db, key)? else { return Ok(0) };
        let (lo, hi) = ZRangeSpec::by(by.clone()).ranks(z);
        let n = z.remove_range(lo, hi);
        self.zset_drop_if_empty(db, key);
        Ok(n)
    }

    /// Every member of a set with its score (a ZUNION/ZINTER/ZDIFF source); None if missing.
    /// A plain set takes part with every score 1, as Redis's zuiNext reads one.
    pub fn zset_entries(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Vec<Scored>>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => match &*e.value() {
                Value::ZSet(z) => {
                    let mut out = Vec::with_capacity(z.len());
                    z.for_each(|m, s| out.push((m.to_vec(), s)));
                    Ok(Some(out))
                }
                Value::Set(s) => Ok(Some(s.iter().map(|m| (m.to_vec(), 1.0)).collect())),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// Writes `items` (distinct members) as the set at `dst`, replacing whatever was there and
    /// its TTL; an empty result deletes `dst` (ZUNIONSTORE, ZRANGESTORE...). The encoding is
    /// listpack when the result fits the limits (zsetConvertToListpackIfNeeded).
    pub fn zstore(&mut self, db: usize, dst: &[u8], mut items: Vec<Scored>, limits: &Limits) -> super::Stored {
        // A reversed range arrives in descending order.
        if items.windows(2).any(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 > w[1].0)) {
            items.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
        }
        let n = items.len();
        self.store_or_delete(db, dst, n, || {
            let maxlen = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
            let listpack = n <= limits.zset_max_listpack_entries && maxlen <= limits.zset_max_listpack_value;
            let z = if listpack {
                ZSet::Listpack(items.into_iter().map(|(m, s)| (m.into_boxed_slice(), listpack_score(s))).collect())
            } else {
                let mut z = ZSet::new(true);
                for (m, s) in items {
                    z.insert_new(&m, s, limits);
                }
                z
            };
            Value::ZSet(z)
        })
    }

    /// ZPOPMIN/ZPOPMAX of up to `count` members; None when the key is missing.
    pub fn zpop(&mut self, db: usize, key: &[u8], max: bool, count: usize) -> OpResult<Option<Vec<Scored>>> {
        let Some(z) = self.get_zset_mut(db, key)? else { return Ok(None) };
        let n = count.min(z.len());
        let len = z.len();
        let mut out = Vec::with_capacity(n);
        if max {
            z.for_range(len - n, len, true, |m, s| out.push((m.to_vec(), s)));
            z.remove_range(len - n, len);
        } else {
            z.for_range(0, n, false, |m, s| out.push((m.to_vec(), s)));
            z.remove_range(0, n);
        }
        self.zset_drop_if_empty(db, key);
        Ok(Some(out))
    }

    /// ZRANDMEMBER with a count (zrandmemberWithCountCommand's four cases): a negative count
    /// allows repetitions; a positive one returns distinct members. None = missing key.
    pub fn zrandmember(&mut self, db: usize, key: &[u8], count: i64) -> OpResult<Option<Vec<Scored>>> {
        let mut seed = self.next_rand();
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let Some(z) = self.get_zset(db, key)? else { return Ok(None) };
        let size = z.len();
        let mut out = Vec::new();
        if count == 0 || size == 0 {
            return Ok(Some(out));
        }
        let pick = |r: u64| z.at((r % size as u64) as usize).map(|(m, s)| (m.to_vec(), s));
        // CASE 1: repetitions allowed (or a single member): independent draws.
        if count < 0 || count == 1 {
            let n = count.unsigned_abs();
            for _ in 0..n {
                out.extend(pick(rand()));
            }
            return Ok(Some(out));
        }
        let count = count as usize;
        // CASE 2: the whole set, in the order Redis's zuiNext walks it (from the tail).
        if count >= size {
            z.for_range(0, size, true, |m, s| out.push((m.to_vec(), s)));
            return Ok(Some(out));
        }
        // CASE 3: close to the whole set: drop random members until `count` remain.
        if count * 3 > size {
            let mut keep = vec![true; size];
            let mut left = size;
            while left > count {
                let i = (rand() % size as u64) as usize;
                if keep[i] {
                    keep[i] = false;
                    left -= 1;
                }
            }
            let mut i = size;
            z.for_range(0, size, true, |m, s| {
                i -= 1;
                if keep[i] {
                    out.push((m.to_vec(), s));
                }
            });
            return Ok(Some(out));
        }
        // CASE 4: a small sample of a big set: draw until `count` distinct members.
        let mut seen = HashSet::with_capacity(count);
        while out.len() < count {
            let i = (rand() % size as u64) as usize;
            if seen.insert(i) {
                out.extend(z.at(i).map(|(m, s)| (m.to_vec(), s)));
            }
        }
        Ok(Some(out))
    }

    /// ZRANDMEMBER without a count: one random member, None if the key is missing.
    pub fn zrandmember_one(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Vec<u8>>> {
        Ok(self.zrandmember(db, key, 1)?.and_then(|v| v.into_iter().next()).map(|(m, _)| m))
    }

    /// ZSCAN: the next cursor and the members (with scores) matching `pattern`. None = missing.
    pub fn zscan(&mut self, db: usize, key: &[u8], cursor: u64, count: usize, pattern: Option<&[u8]>) -> OpResult<Option<(u64, Vec<Scored>)>> {
        let Some(z) = self.get_zset(db, key)? else { return Ok(None) };
        let mut out = Vec::new();
        let next = z.scan(cursor, count, |m, s| {
            if pattern.map(|p| glob_match(p, m, false)).unwrap_or(true) {
                out.push((m.to_vec(), s));
            }
        });
        Ok(Some((next, out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        Shard::new(0, 16)
    }

    fn add(s: &mut Shard, key: &[u8], pairs: &[(f64, &str)], f: ZaddFlags) -> ZaddOutcome {
        let p: Vec<(f64, &[u8])> = pairs.iter().map(|(sc, m)| (*sc, m.as_bytes())).collect();
        s.zadd(0, key, f, &p, &Limits::default()).unwrap()
    }

    fn names(v: &[Scored]) -> Vec<String> {
        v.iter().map(|(m, _)| String::from_utf8_lossy(m).into_owned()).collect()
    }

    /// "ZADD XX option without key", "ZADD NX only add new elements without updating old
    /// ones", "ZADD GT updates existing elements when new scores are greater".
    #[test]
    fn zadd_options() {
        let mut s = shard();
        let xx = ZaddFlags { xx: true, ..Default::default() };
        assert_eq!(add(&mut s, b"z", &[(10.0, "x")], xx).added, 0);
        assert!(!s.exists(0, b"z"));
        assert_eq!(add(&mut s, b"z", &[(10.0, "x"), (20.0, "y")], ZaddFlags::default()).added, 2);
        let nx = ZaddFlags { nx: true, ..Default::default() };
        let o = add(&mut s, b"z", &[(11.0, "x"), (21.0, "y"), (100.0, "a")], nx);
        assert_eq!((o.added, o.updated), (1, 0));
        assert_eq!(s.zscore(0, b"z", b"x").unwrap(), Some(10.0));
        let gt = ZaddFlags { gt: true, ..Default::default() };
        let o = add(&mut s, b"z", &[(5.0, "x"), (30.0, "y"), (1.0, "new")], gt);
        assert_eq!((o.added, o.updated), (1, 1));
        assert_eq!(s.zscore(0, b"z", b"y").unwrap(), Some(30.0));
        let incr = ZaddFlags { incr: true, ..Default::default() };
        assert_eq!(add(&mut s, b"z", &[(2.5, "x")], incr).score, 12.5);
        add(&mut s, b"z", &[(f64::INFINITY, "i")], ZaddFlags::default());
        assert!(add(&mut s, b"z", &[(f64::NEG_INFINITY, "i")], incr).nan);
    }

    /// "ZRANGEBYSCORE with LIMIT", "ZRANGE BYSCORE REV LIMIT", "ZREVRANGE basics".
    #[test]
    fn ranges_and_limits() {
        let mut s = shard();
        add(&mut s, b"z", &[(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"), (5.0, "e")], ZaddFlags::default());
        let all = s.zrange(0, b"z", &ZRangeSpec::by(ZRangeBy::Rank(0, -1))).unwrap();
        assert_eq!(names(&all), ["a", "b", "c", "d", "e"]);
        let rev = ZRangeSpec { rev: true, ..ZRangeSpec::by(ZRangeBy::Rank(0, 1)) };
        assert_eq!(names(&s.zrange(0, b"z", &rev).unwrap()), ["e", "d"]);
        let r = ScoreRange::parse(b"(1", b"5").unwrap();
        let lim = ZRangeSpec { offset: 1, limit: 2, ..ZRangeSpec::by(ZRangeBy::Score(r)) };
        assert_eq!(names(&s.zrange(0, b"z", &lim).unwrap()), ["c", "d"]);
        let revlim = ZRangeSpec { rev: true, offset: 1, limit: 2, ..ZRangeSpec::by(ZRangeBy::Score(r)) };
        assert_eq!(names(&s.zrange(0, b"z", &revlim).unwrap()), ["d", "c"]);
        assert_eq!(s.zcount(0, b"z", &ZRangeBy::Score(r)).unwrap(), 4);
        assert_eq!(s.zrank(0, b"z", b"b", true).unwrap(), Some(3));
        assert_eq!(s.zremrange(0, b"z", &ZRangeBy::Rank(0, 1)).unwrap(), 2);
        assert_eq!(s.zcard(0, b"z").unwrap(), 3);
    }

    /// "ZPOPMIN/ZPOPMAX with count", "ZREM removes key after last element is removed".
    #[test]
    fn pops_delete_the_emptied_key() {
        let mut s = shard();
        add(&mut s, b"z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")], ZaddFlags::default());
        assert_eq!(names(&s.zpop(0, b"z", true, 2).unwrap().unwrap()), ["c", "b"]);
        assert_eq!(names(&s.zpop(0, b"z", false, 5).unwrap().unwrap()), ["a"]);
        assert!(!s.exists(0, b"z"));
        assert_eq!(s.zpop(0, b"z", false, 1).unwrap(), None);
        add(&mut s, b"z", &[(1.0, "a")], ZaddFlags::default());
        assert_eq!(s.zrem(0, b"z", &[b"a", b"b"]).unwrap(), 1);
        assert!(!s.exists(0, b"z"));
    }

    /// "ZUNIONSTORE with +inf/-inf scores", "ZINTERSTORE with weights", "ZDIFF basics".
    #[test]
    fn algebra() {
        let a = Some(vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0)]);
        let b = Some(vec![(b"b".to_vec(), 1.0), (b"c".to_vec(), 2.0), (b"d".to_vec(), 3.0)]);
        let u = zset_algebra(SetOp::Union, &[a.clone(), b.clone()], &[1.0, 1.0], Aggregate::Sum, 0);
        assert_eq!(u, vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 3.0), (b"d".to_vec(), 3.0), (b"c".to_vec(), 5.0)]);
        let i = zset_algebra(SetOp::Inter, &[a.clone(), b.clone()], &[2.0, 3.0], Aggregate::Sum, 0);
        assert_eq!(i, vec![(b"b".to_vec(), 7.0), (b"c".to_vec(), 12.0)]);
        let d = zset_algebra(SetOp::Diff, &[a, b, None], &[1.0; 3], Aggregate::Sum, 0);
        assert_eq!(d, vec![(b"a".to_vec(), 1.0)]);
        let inf = Some(vec![(b"x".to_vec(), f64::INFINITY)]);
        let ninf = Some(vec![(b"x".to_vec(), f64::NEG_INFINITY)]);
        assert_eq!(zset_algebra(SetOp::Union, &[inf, ninf], &[1.0, 1.0], Aggregate::Sum, 0), vec![(b"x".to_vec(), 0.0)]);
    }

    /// "ZRANDMEMBER with <count>": distinct members for a positive count, repeats allowed for a
    /// negative one.
    #[test]
    fn randmember_counts() {
        let mut s = shard();
        let pairs: Vec<(f64, String)> = (0..20).map(|i| (i as f64, format!("m{i}"))).collect();
        let p: Vec<(f64, &str)> = pairs.iter().map(|(sc, m)| (*sc, m.as_str())).collect();
        add(&mut s, b"z", &p, ZaddFlags::default());
        for c in [3i64, 10, 19, 20, 50] {
            let v = s.zrandmember(0, b"z", c).unwrap().unwrap();
            let uniq: HashSet<_> = v.iter().map(|(m, _)| m.clone()).collect();
            assert_eq!(uniq.len(), v.len());
            assert_eq!(v.len(), (c as usize).min(20));
        }
        assert_eq!(s.zrandmember(0, b"z", -50).unwrap().unwrap().len(), 50);
        assert_eq!(s.zrandmember(0, b"nokey", 5).unwrap(), None);
    }
}
