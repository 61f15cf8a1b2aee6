//! Set operations (SADD, SREM, SPOP, SRANDMEMBER, the SINTER/SUNION/SDIFF algebra...), following
//! Redis 7.0's t_set.c: the same encodings after each write, the same strategies for random
//! extraction (so the distributions the Tcl suite checks come out the same), the same rules
//! for which key is looked up, checked and deleted when.
//!
//! Multi-key commands are composed by the server from per-key pieces ([`Shard::set_refs`] when
//! every key is on one shard, [`Shard::clone_set`] otherwise) and the pure functions at the
//! bottom ([`intersect`], [`union`], [`diff`]), then [`Shard::store_set`] for the *STORE forms.

use std::collections::HashSet;

use crate::keyspace::Shard;
use crate::types::set::{Member, Set};
use crate::value::Value;
use crate::{OpError, OpResult};

/// SPOP with a count uses "extract and remove" while the set keeps more than count/5 members,
/// else "keep the rest" (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_MOVE_STRATEGY_MUL: usize = 5;
/// SRANDMEMBER with a positive count copies the set and removes members when the set is at most
/// 3 times the count (Redis's SRANDMEMBER_SUB_STRATEGY_MUL), else draws until enough are unique.
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;
/// SRANDMEMBER with a negative count returns |count| members; Redis stops when the client's
/// output buffer limit closes it. The engine stops at this many reply bytes instead.
const SRANDMEMBER_MAX_REPLY_BYTES: usize = 1 << 30;

/// A member copied out of a set (what SPOP and SRANDMEMBER return).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owned {
    Int(i64),
    Bytes(Box<[u8]>),
}

impl Owned {
    fn of(m: Member<'_>) -> Owned {
        match m {
            Member::Int(n) => Owned::Int(n),
            Member::Bytes(b) => Owned::Bytes(b.into()),
        }
    }

    pub fn as_member(&self) -> Member<'_> {
        match self {
            Owned::Int(n) => Member::Int(*n),
            Owned::Bytes(b) => Member::Bytes(b),
        }
    }

    fn text_len(&self) -> usize {
        self.as_member().with_bytes(|b| b.len())
    }
}

/// What SPOP with a count took out: the whole set (the key is gone), or some members.
#[derive(Debug)]
pub enum Popped {
    All(Set),
    Some(Vec<Owned>),
}

/// A small xorshift64* stream seeded from the shard's generator, so a set borrowed from the
/// keyspace can be sampled while the shard itself is borrowed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Shard {
    fn rng(&mut self) -> Rng {
        Rng(self.next_rand() | 1)
    }

    /// A live set for reading (lookupKeyRead: counts a hit or a miss), WRONGTYPE for other types.
    pub fn get_set(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&Set>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => match e.full() {
                Some(Value::Set(s)) => Ok(Some(s)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// A live set for writing (lookupKeyWrite), WRONGTYPE for other types.
    fn get_set_mut(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&mut Set>> {
        match self.lookup_mut(db, key) {
            None => Ok(None),
            Some(e) => match e.full_mut() {
                Some(Value::Set(s)) => Ok(Some(s)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// Whether `key` holds a set (false when missing), WRONGTYPE for other types; a write lookup
    /// (SMOVE's checks).
    pub fn set_exists(&mut self, db: usize, key: &[u8]) -> OpResult<bool> {
        Ok(self.get_set_mut(db, key)?.is_some())
    }

    /// SADD: returns how many members were new. A missing key is created with the encoding its
    /// first member allows (setTypeCreate).
    pub fn sadd<'a>(&mut self, db: usize, key: &[u8], members: impl IntoIterator<Item = &'a [u8]>, max_intset: usize) -> OpResult<usize> {
        let mut members = members.into_iter().peekable();
        if let Some(set) = self.get_set_mut(db, key)? {
            return Ok(members.filter(|m| set.add(m, max_intset)).count());
        }
        let Some(first) = members.peek() else { return Ok(0) };
        let mut set = Set::new_for(first);
        let added = members.filter(|m| set.add(m, max_intset)).count();
        self.store(db, key, Value::Set(Box::new(set)), None, false);
        Ok(added)
    }

    /// SREM: returns how many members were removed; the key goes when the set empties.
    pub fn srem<'a>(&mut self, db: usize, key: &[u8], members: impl IntoIterator<Item = &'a [u8]>) -> OpResult<usize> {
        let Some(set) = self.get_set_mut(db, key)? else { return Ok(0) };
        let mut removed = 0;
        for m in members {
            if set.remove(m) {
                removed += 1;
                if set.is_empty() {
                    break;
                }
            }
        }
        if set.is_empty() {
            self.remove(db, key);
        }
        Ok(removed)
    }

    pub fn sismember(&mut self, db: usize, key: &[u8], member: &[u8]) -> OpResult<bool> {
        Ok(self.get_set(db, key)?.is_some_and(|s| s.contains(member)))
    }

    /// SMISMEMBER: one answer per member; a missing key is an empty set.
    pub fn smismember<'a>(&mut self, db: usize, key: &[u8], members: impl IntoIterator<Item = &'a [u8]>) -> OpResult<Vec<bool>> {
        let set = self.get_set(db, key)?;
        Ok(members.into_iter().map(|m| set.is_some_and(|s| s.contains(m))).collect())
    }

    pub fn scard(&mut self, db: usize, key: &[u8]) -> OpResult<usize> {
        Ok(self.get_set(db, key)?.map_or(0, Set::len))
    }

    /// SPOP without a count: one random member, removed.
    pub fn spop(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Owned>> {
        let mut rng = self.rng();
        let Some(set) = self.get_set_mut(db, key)? else { return Ok(None) };
        let Some(m) = set.random(&mut || rng.next()).map(Owned::of) else { return Ok(None) };
        set.remove_member(m.as_member());
        if set.is_empty() {
            self.remove(db, key);
        }
        Ok(Some(m))
    }

    /// SPOP key count (count > 0), with spopWithCountCommand's three cases.
    pub fn spop_count(&mut self, db: usize, key: &[u8], count: usize, max_intset: usize) -> OpResult<Option<Popped>> {
        let mut rng = self.rng();
        let mut rand = || rng.next();
        let Some(set) = self.get_set_mut(db, key)? else { return Ok(None) };
        let size = set.len();
        // CASE 1: everything goes; the key is deleted.
        if count >= size {
            let Some(Value::Set(all)) = self.remove(db, key).map(|e| e.value) else { return Ok(None) };
            return Ok(Some(Popped::All(*all)));
        }
        let remaining = size - count;
        // CASE 2: few members asked for: draw and remove them one by one.
        if remaining * SPOP_MOVE_STRATEGY_MUL > count {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                let Some(m) = set.random(&mut rand).map(Owned::of) else { break };
                set.remove_member(m.as_member());
                out.push(m);
            }
            return Ok(Some(Popped::Some(out)));
        }
        // CASE 3: most of the set is asked for: draw the members that stay into a new set (created
        // by setTypeCreate from the first one, so it may be an intset again), return the rest.
        let mut kept: Option<Set> = None;
        for _ in 0..remaining {
            let Some(m) = set.random(&mut rand).map(Owned::of) else { break };
            let k = kept.get_or_insert_with(|| m.as_member().with_bytes(Set::new_for));
            k.add_member(m.as_member(), max_intset);
            set.remove_member(m.as_member());
        }
        let old = std::mem::replace(set, kept.unwrap_or_default());
        Ok(Some(Popped::Some(old.iter().map(Owned::of).collect())))
    }

    /// SRANDMEMBER without a count.
    pub fn srandmember(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Owned>> {
        let mut rng = self.rng();
        let Some(set) = self.get_set(db, key)? else { return Ok(None) };
        Ok(set.random(&mut || rng.next()).map(Owned::of))
    }

    /// SRANDMEMBER key count: `count` < 0 may repeat members, `count` > 0 returns distinct ones,
    /// with srandmemberWithCountCommand's four cases.
    pub fn srandmember_count(&mut self, db: usize, key: &[u8], count: i64) -> OpResult<Vec<Owned>> {
        let mut rng = self.rng();
        let mut rand = || rng.next();
        let Some(set) = self.get_set(db, key)? else { return Ok(Vec::new()) };
        let (n, uniq) = (count.unsigned_abs() as usize, count >= 0);
        if n == 0 || set.is_empty() {
            return Ok(Vec::new());
        }
        // CASE 1: repeats allowed (or a single member): independent draws.
        if !uniq || n == 1 {
            let mut out = Vec::with_capacity(n.min(1 << 16));
            let mut bytes = 0usize;
            while out.len() < n && bytes < SRANDMEMBER_MAX_REPLY_BYTES {
                let Some(m) = set.random(&mut rand).map(Owned::of) else { break };
                bytes += m.text_len() + 16;
                out.push(m);
            }
            return Ok(out);
        }
        let size = set.len();
        // CASE 2: at least the whole set: all of it.
        if n >= size {
            return Ok(set.iter().map(Owned::of).collect());
        }
        // CASE 3: close to the whole set: copy it and remove random members down to the count.
        if n * SRANDMEMBER_SUB_STRATEGY_MUL > size {
            let mut all: Vec<Owned> = set.iter().map(Owned::of).collect();
            while all.len() > n {
                let i = (rand() % all.len() as u64) as usize;
                all.swap_remove(i);
            }
            return Ok(all);
        }
        // CASE 4: a small part of a big set: draw until enough distinct members.
        let mut picked: HashSet<Owned> = HashSet::with_capacity(n);
        while picked.len() < n {
            let Some(m) = set.random(&mut rand) else { break };
            picked.insert(Owned::of(m));
        }
        Ok(picked.into_iter().collect())
    }

    /// The sets at `keys` (None where missing), all on this shard: read lookups in argument order,
    /// WRONGTYPE at the first key of another type, as sinterGenericCommand checks them.
    pub fn set_refs(&mut self, db: usize, keys: &[&[u8]]) -> OpResult<Vec<Option<&Set>>> {
        for k in keys {
            self.get_set(db, k)?;
        }
        let d = &self.dbs[db];
        Ok(keys
            .iter()
            .map(|k| match d.main.get(k).and_then(|e| e.full()) {
                Some(Value::Set(s)) => Some(&**s),
                _ => None,
            })
            .collect())
    }

    /// A copy of the set at `key` (the cross-shard path of the multi-key commands).
    pub fn clone_set(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Set>> {
        Ok(self.get_set(db, key)?.cloned())
    }

    /// The *STORE commands' destination: `set` replaces whatever `key` held (setKey: the TTL
    /// goes too), or, when empty, the key is deleted. Returns the stored cardinality.
    pub fn store_set(&mut self, db: usize, key: &[u8], set: Set) -> super::Stored {
        self.store_or_delete(db, key, set.len(), || Value::Set(Box::new(set)))
    }
}

/// SINTER's core (sinterGenericCommand): calls `f` for each member common to every set, walking
/// the smallest set; a missing key (None) makes the result empty. Stops after `limit` members
/// when `limit` > 0 (SINTERCARD's LIMIT).
pub fn intersect<'a>(sets: &[Option<&'a Set>], limit: usize, mut f: impl FnMut(Member<'a>)) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else { return };
    if sets.is_empty() {
        return;
    }
    sets.sort_by_key(|s| s.len());
    let (first, rest) = (sets[0], &sets[1..]);
    let mut found = 0usize;
    for m in first.iter() {
        if rest.iter().all(|s| std::ptr::eq(*s, first) || s.contains_member(m)) {
            f(m);
            found += 1;
            if limit > 0 && found >= limit {
                return;
            }
        }
    }
}

/// The intersection as a new set, built from an empty intset as SINTERSTORE does.
pub fn intersect_into(sets: &[Option<&Set>], max_intset: usize) -> Set {
    let mut out = Set::default();
    intersect(sets, 0, |m| {
        out.add_member(m, max_intset);
    });
    out
}

/// SUNION's result, built from an empty intset by setTypeAdd (so an all-integer union that fits
/// is an intset).
pub fn union(sets: &[Option<&Set>], max_intset: usize) -> Set {
    let mut out = Set::default();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            out.add_member(m, max_intset);
        }
    }
    out
}

/// SDIFF's result (sunionDiffGenericCommand): members of the first set in none of the others.
/// `same_as_first[j]` says set j is the first key again, which empties the result. Picks
/// Redis's algorithm 1 (probe the others for each member of the first) or 2 (copy the first,
/// remove the others) by the same work estimate.
pub fn diff(sets: &[Option<&Set>], same_as_first: &[bool], max_intset: usize) -> Set {
    let mut out = Set::default();
    let Some(Some(first)) = sets.first().copied() else { return out };
    if same_as_first.iter().skip(1).any(|&same| same) {
        return out;
    }
    let present: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    let algo_one_work = first.len() * (present.len() + 1) / 2;
    let algo_two_work = first.len() + present.iter().map(|s| s.len()).sum::<usize>();
    if algo_one_work <= algo_two_work {
        // Probe the larger sets first: a member is more likely to be found early.
        let mut others = present;
        others.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for m in first.iter() {
            if !others.iter().any(|s| s.contains_member(m)) {
                out.add_member(m, max_intset);
            }
        }
    } else {
        for m in first.iter() {
            out.add_member(m, max_intset);
        }
        for s in present {
            for m in s.iter() {
                out.remove_member(m);
            }
            if out.is_empty() {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        Shard::new(0, 16)
    }

    fn sadd(s: &mut Shard, key: &str, members: &[&str]) -> usize {
        s.sadd(0, key.as_bytes(), members.iter().map(|m| m.as_bytes()), 512).unwrap()
    }

    fn members(s: &mut Shard, key: &str) -> Vec<String> {
        let mut v: Vec<String> = match s.get_set(0, key.as_bytes()).unwrap() {
            Some(set) => set.iter().map(|m| String::from_utf8(m.to_vec()).unwrap()).collect(),
            None => Vec::new(),
        };
        v.sort();
        v
    }

    fn encoding(s: &mut Shard, key: &str) -> &'static str {
        s.get_set(0, key.as_bytes()).unwrap().map_or("none", Set::encoding_name)
    }

    fn text(m: &Owned) -> String {
        String::from_utf8(m.as_member().to_vec()).unwrap()
    }

    /// "SADD, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS basics - regular set / intset".
    #[test]
    fn sadd_scard_sismember_basics() {
        let mut s = shard();
        assert_eq!(sadd(&mut s, "myset", &["foo"]), 1);
        assert_eq!(encoding(&mut s, "myset"), "hashtable");
        assert_eq!(sadd(&mut s, "myset", &["bar", "bar"]), 1);
        assert_eq!(s.scard(0, b"myset"), Ok(2));
        assert_eq!(s.sismember(0, b"myset", b"foo"), Ok(true));
        assert_eq!(s.sismember(0, b"myset", b"bla"), Ok(false));
        assert_eq!(s.smismember(0, b"myset", [&b"bla"[..], b"foo"]), Ok(vec![false, true]));
        assert_eq!(s.smismember(0, b"nokey", [&b"a"[..]]), Ok(vec![false]));
        assert_eq!(sadd(&mut s, "ints", &["17", "16", "16"]), 2);
        assert_eq!(encoding(&mut s, "ints"), "intset");
        assert_eq!(members(&mut s, "ints"), ["16", "17"]);
        assert_eq!(sadd(&mut s, "ints", &["a"]), 1);
        assert_eq!(encoding(&mut s, "ints"), "hashtable");
    }

    /// "SADD against non set", "SMISMEMBER against non set".
    #[test]
    fn wrong_type_is_refused() {
        let mut s = shard();
        s.store(0, b"str", Value::Str(crate::value::StrValue::from_bytes(b"x")), None, false);
        assert_eq!(s.sadd(0, b"str", [&b"a"[..]], 512), Err(OpError::WrongType));
        assert_eq!(s.smismember(0, b"str", [&b"a"[..]]), Err(OpError::WrongType));
        assert_eq!(s.spop(0, b"str"), Err(OpError::WrongType));
        assert_eq!(s.set_refs(0, &[b"nokey", b"str"]).map(|_| ()), Err(OpError::WrongType));
    }

    /// "SADD overflows the maximum allowed integers in an intset".
    #[test]
    fn intset_converts_past_the_limit() {
        let mut s = shard();
        let nums: Vec<String> = (0..512).map(|i| i.to_string()).collect();
        s.sadd(0, b"k", nums.iter().map(|m| m.as_bytes()), 512).unwrap();
        assert_eq!(encoding(&mut s, "k"), "intset");
        assert_eq!(sadd(&mut s, "k", &["512"]), 1);
        assert_eq!(encoding(&mut s, "k"), "hashtable");
    }

    /// "SREM basics", "SREM variadic version with more args needed to destroy the key".
    #[test]
    fn srem_deletes_the_emptied_key() {
        let mut s = shard();
        sadd(&mut s, "k", &["1", "2", "3"]);
        assert_eq!(s.srem(0, b"k", ["6", "2"].iter().map(|m| m.as_bytes())), Ok(1));
        assert_eq!(members(&mut s, "k"), ["1", "3"]);
        assert_eq!(s.srem(0, b"k", ["1", "3", "4", "5"].iter().map(|m| m.as_bytes())), Ok(2));
        assert!(!s.exists(0, b"k"));
    }

    /// "SPOP with <count>", "SPOP new implementation: code path #1/#2/#3".
    #[test]
    fn spop_count_all_three_cases() {
        for (count, left) in [(30usize, 0usize), (2, 18), (18, 2)] {
            let mut s = shard();
            let content: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
            s.sadd(0, b"k", content.iter().map(|m| m.as_bytes()), 512).unwrap();
            let popped: Vec<String> = match s.spop_count(0, b"k", count, 512).unwrap().unwrap() {
                Popped::All(set) => set.iter().map(|m| String::from_utf8(m.to_vec()).unwrap()).collect(),
                Popped::Some(v) => v.iter().map(text).collect(),
            };
            assert_eq!(popped.len(), 20 - left);
            assert_eq!(s.scard(0, b"k"), Ok(left));
            let mut union = members(&mut s, "k");
            union.extend(popped);
            union.sort();
            let mut want = content.clone();
            want.sort();
            assert_eq!(union, want, "count {count}");
            assert_eq!(s.exists(0, b"k"), left > 0);
        }
        let mut s = shard();
        sadd(&mut s, "h", &["a", "b", "c"]);
        let mut got: Vec<String> = (0..3).map(|_| text(&s.spop(0, b"h").unwrap().unwrap())).collect();
        got.sort();
        assert_eq!(got, ["a", "b", "c"]);
        assert!(!s.exists(0, b"h"));
        assert_eq!(s.spop_count(0, b"h", 5, 512).unwrap().map(|_| ()), None);
    }

    /// "SRANDMEMBER with <count>": the four paths return what they should.
    #[test]
    fn srandmember_count_paths() {
        let mut s = shard();
        let content: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        s.sadd(0, b"k", content.iter().map(|m| m.as_bytes()), 512).unwrap();
        let all: std::collections::HashSet<String> = content.iter().cloned().collect();
        assert_eq!(s.srandmember_count(0, b"k", 0).unwrap().len(), 0);
        let rep = s.srandmember_count(0, b"k", -100).unwrap();
        assert_eq!(rep.len(), 100);
        assert!(rep.iter().all(|m| all.contains(&text(m))));
        for size in [50i64, 100, 45, 5] {
            let got = s.srandmember_count(0, b"k", size).unwrap();
            let uniq: std::collections::HashSet<String> = got.iter().map(text).collect();
            assert_eq!((got.len(), uniq.len()), (size.min(50) as usize, size.min(50) as usize));
            assert!(uniq.is_subset(&all));
        }
        assert!(s.srandmember_count(0, b"nokey", 10).unwrap().is_empty());
        assert_eq!(s.scard(0, b"k"), Ok(50), "SRANDMEMBER must not remove");
    }

    /// "SRANDMEMBER histogram distribution": negative counts are uniform (chi-square < 40 with
    /// df = 9, as the Tcl test requires).
    #[test]
    fn srandmember_is_uniform() {
        for content in
            [&["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"][..], &["1", "5", "10", "50", "125", "MARY", "PATRICIA", "LINDA", "BARBARA", "ELIZABETH"]]
        {
            let mut s = shard();
            sadd(&mut s, "k", content);
            let mut hist = std::collections::HashMap::new();
            for m in s.srandmember_count(0, b"k", -1000).unwrap() {
                *hist.entry(text(&m)).or_insert(0usize) += 1;
            }
            let expected = 100.0;
            let chi: f64 = hist.values().map(|&o| (o as f64 - expected).powi(2) / expected).sum();
            assert_eq!(hist.len(), 10);
            assert!(chi < 40.0, "chi-square {chi}");
        }
    }

    /// "SINTER/SUNION/SDIFF with three sets", "SINTERSTORE ... intset", "SDIFF with same set".
    #[test]
    fn algebra() {
        let mut s = shard();
        sadd(&mut s, "a", &["1", "2", "3", "4"]);
        sadd(&mut s, "b", &["3", "4", "5", "x"]);
        let sets = s.set_refs(0, &[b"a", b"b", b"none"]).unwrap();
        let mut n = 0;
        intersect(&sets, 0, |_| n += 1);
        assert_eq!(n, 0, "a missing key empties the intersection");
        let inter = intersect_into(&sets[..2], 512);
        assert_eq!((inter.len(), inter.encoding_name()), (2, "intset"));
        let mut limited = 0;
        intersect(&sets[..2], 1, |_| limited += 1);
        assert_eq!(limited, 1);
        let u = union(&sets, 512);
        assert_eq!((u.len(), u.encoding_name()), (6, "hashtable"));
        let d = diff(&sets, &[true, false, false], 512);
        assert_eq!((d.len(), d.encoding_name()), (2, "intset"));
        assert!(d.contains(b"1") && d.contains(b"2"));
        assert!(diff(&sets[..2], &[true, true], 512).is_empty());
        let d2 = diff(&[sets[1], sets[0]], &[true, false], 512);
        assert_eq!(d2.len(), 2);
        assert_eq!(s.store_set(0, b"dst", d2), crate::ops::Stored { len: 2, changed: true });
        assert_eq!(members(&mut s, "dst"), ["5", "x"]);
        assert_eq!(s.store_set(0, b"dst", Set::default()), crate::ops::Stored { len: 0, changed: true });
        assert!(!s.exists(0, b"dst"));
    }
}
