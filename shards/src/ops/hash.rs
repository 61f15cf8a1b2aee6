//! Hash operations (HSET family, HGET family, HDEL, HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN),
//! following Redis 7.0's t_hash.c rule for rule. Read ops hand back references into the hash
//! so the handler can reply without copying.

use std::collections::HashSet;

use crate::glob::glob_match;
use crate::keyspace::Shard;
use crate::longdouble::{self, FloatError};
use crate::types::hash::Hash;
use crate::types::Limits;
use crate::value::{parse_i64_strict, Value};
use crate::{OpError, OpResult};

/// Redis's HRANDFIELD_SUB_STRATEGY_MUL: below `count * 3` fields, copy the hash and remove
/// random fields instead of drawing random ones.
const HRANDFIELD_SUB_STRATEGY_MUL: u64 = 3;

/// One HSCAN reply: the next cursor and the (field, value) pairs found.
pub type ScanPage<'a> = (u64, Vec<(&'a [u8], &'a [u8])>);

/// A small local random source seeded from the shard's, so sampling can borrow the hash while
/// drawing numbers (the shard's own generator needs `&mut Shard`).
fn local_rand(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Shard {
    /// A live hash (read access: counts a keyspace hit or miss), WRONGTYPE for other types.
    #[inline]
    pub fn get_hash(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&Hash>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => match e.full() {
                Some(Value::Hash(h)) => Ok(Some(h)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// Runs `f` on the key's hash, creating an empty one if the key is missing
    /// (hashTypeLookupWriteOrCreate). A new hash is stored only if `f` succeeds and leaves it
    /// non-empty, so a refused write creates nothing.
    fn with_hash_or_create<R>(&mut self, db: usize, key: &[u8], f: impl FnOnce(&mut Hash) -> OpResult<R>) -> OpResult<R> {
        if let Some(e) = self.lookup_mut(db, key) {
            return match e.full_mut() {
                Some(Value::Hash(h)) => f(h),
                _ => Err(OpError::WrongType),
            };
        }
        let mut h = Hash::default();
        let out = f(&mut h)?;
        if !h.is_empty() {
            self.store(db, key, Value::Hash(h), None, false);
        }
        Ok(out)
    }

    /// HSET/HMSET: `pairs` is field, value, field, value... Returns how many fields were new.
    pub fn hset(&mut self, db: usize, key: &[u8], pairs: &[&[u8]], limits: &Limits) -> OpResult<usize> {
        self.with_hash_or_create(db, key, |h| {
            // hashTypeTryConversion over every argument before the first write.
            h.convert_for_lengths(pairs.iter().map(|a| a.len()), limits);
            Ok(pairs.chunks_exact(2).filter(|p| h.set(p[0], p[1], limits)).count())
        })
    }

    /// HSETNX: returns whether the field was set.
    pub fn hsetnx(&mut self, db: usize, key: &[u8], field: &[u8], value: &[u8], limits: &Limits) -> OpResult<bool> {
        self.with_hash_or_create(db, key, |h| {
            if h.contains(field) {
                return Ok(false);
            }
            h.set(field, value, limits);
            Ok(true)
        })
    }

    /// HDEL: returns how many fields were removed. The key goes when its last field does (and
    /// Redis stops looking at the remaining arguments then).
    pub fn hdel(&mut self, db: usize, key: &[u8], fields: &[&[u8]]) -> OpResult<usize> {
        let (deleted, emptied) = match self.lookup_mut(db, key) {
            None => return Ok(0),
            Some(e) => match e.full_mut() {
                Some(Value::Hash(h)) => {
                    let mut deleted = 0;
                    for f in fields {
                        if h.remove(f) {
                            deleted += 1;
                            if h.is_empty() {
                                break;
                            }
                        }
                    }
                    (deleted, h.is_empty())
                }
                _ => return Err(OpError::WrongType),
            },
        };
        if emptied {
            self.remove(db, key);
        }
        Ok(deleted)
    }

    /// HINCRBY: `NotInteger` means the stored value is not an integer (the handler parsed the
    /// increment); `Overflow` as Redis checks it.
    pub fn hincrby(&mut self, db: usize, key: &[u8], field: &[u8], incr: i64, limits: &Limits) -> OpResult<i64> {
        self.with_hash_or_create(db, key, |h| {
            let current = match h.get(field) {
                Some(v) => parse_i64_strict(v).ok_or(OpError::NotInteger)?,
                None => 0,
            };
            let new = current.checked_add(incr).ok_or(OpError::Overflow)?;
            h.set(field, itoa::Buffer::new().format(new).as_bytes(), limits);
            Ok(new)
        })
    }

    /// HINCRBYFLOAT in long double, as INCRBYFLOAT (see [`longdouble`]). The handler has already
    /// refused a bad or infinite increment; here `NotFloat` means the stored value is not a
    /// float and `IncrNanOrInf` that the sum overflowed. Returns the text stored and replied.
    pub fn hincrbyfloat(&mut self, db: usize, key: &[u8], field: &[u8], incr: &[u8], limits: &Limits) -> OpResult<Vec<u8>> {
        self.with_hash_or_create(db, key, |h| {
            let sum = longdouble::incr_by_float(h.get(field).unwrap_or(b"0"), incr);
            let text = sum.map_err(|e| match e {
                FloatError::NotFloat => OpError::NotFloat,
                FloatError::NanOrInf => OpError::IncrNanOrInf,
            })?;
            h.set(field, &text, limits);
            Ok(text)
        })
    }

    /// HRANDFIELD without a count: one random field, None for a missing key.
    pub fn hrandfield_one(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&[u8]>> {
        let mut rand = local_rand(self.next_rand());
        let Some(h) = self.get_hash(db, key)? else { return Ok(None) };
        Ok(match h {
            // lpRandomPair: a uniform index.
            Hash::Listpack(v) => v.get((rand() % v.len().max(1) as u64) as usize).map(|(f, _)| &**f),
            Hash::Table(d) => d.random_entry(&mut rand).map(|(f, _)| f),
        })
    }

    /// HRANDFIELD with a count (hrandfieldWithCountCommand): a negative count allows repeats
    /// and the result has exactly |count| entries; a positive one returns distinct fields, at
    /// most the hash's size. Each entry is (field, value). Redis's four cases are kept because
    /// the Tcl suite's distribution tests exercise each.
    pub fn hrandfield(&mut self, db: usize, key: &[u8], count: i64) -> OpResult<Vec<(&[u8], &[u8])>> {
        let mut rand = local_rand(self.next_rand());
        let Some(h) = self.get_hash(db, key)? else { return Ok(Vec::new()) };
        let size = h.len() as u64;
        let (n, unique) = (count.unsigned_abs(), count >= 0);
        if n == 0 || size == 0 {
            return Ok(Vec::new());
        }
        // The reply grows as it is written; do not reserve a client-chosen size up front.
        let mut out = Vec::with_capacity(n.min(1024) as usize);
        // CASE 1: repeats allowed (or a single field): sample the whole hash every time.
        if !unique || n == 1 {
            match h {
                Hash::Listpack(v) => {
                    for _ in 0..n {
                        let (f, val) = &v[(rand() % size) as usize];
                        out.push((&**f, &**val));
                    }
                }
                Hash::Table(d) => {
                    for _ in 0..n {
                        if let Some((f, val)) = d.random_entry(&mut rand) {
                            out.push((f, &**val));
                        }
                    }
                }
            }
            return Ok(out);
        }
        // CASE 2: asked for at least the whole hash: return it all.
        if n >= size {
            out.extend(h.iter());
            return Ok(out);
        }
        // CASE 3: asked for most of it: copy everything, remove random entries down to n.
        if n * HRANDFIELD_SUB_STRATEGY_MUL > size {
            out.extend(h.iter());
            while out.len() as u64 > n {
                let i = (rand() % out.len() as u64) as usize;
                out.swap_remove(i);
            }
            return Ok(out);
        }
        // CASE 4: a few out of many.
        match h {
            // lpRandomPairsUnique: one pass, picking each entry with probability
            // remaining-wanted / remaining-unvisited; the result keeps listpack order.
            Hash::Listpack(v) => {
                let mut remaining = n;
                for (i, (f, val)) in v.iter().enumerate() {
                    if remaining == 0 {
                        break;
                    }
                    let r = (rand() >> 11) as f64 / (1u64 << 53) as f64;
                    if r < remaining as f64 / (size - i as u64) as f64 {
                        out.push((&**f, &**val));
                        remaining -= 1;
                    }
                }
            }
            // Draw fair random fields until n distinct ones were found, in draw order.
            Hash::Table(d) => {
                let mut seen: HashSet<&[u8]> = HashSet::with_capacity(n as usize);
                while (out.len() as u64) < n {
                    let Some((f, val)) = d.random_entry(&mut rand) else { break };
                    if seen.insert(f) {
                        out.push((f, &**val));
                    }
                }
            }
        }
        Ok(out)
    }

    /// One HSCAN step. A listpack hash is returned whole with cursor 0; a table is walked with
    /// Dict::scan until `count` fields were visited or `count * 20` buckets were looked at
    /// (Redis doubles COUNT for hashes, then allows ten iterations per element). MATCH filters
    /// after the walk, so it does not change how far a call goes. Missing key: (0, nothing).
    pub fn hscan(&mut self, db: usize, key: &[u8], cursor: u64, count: usize, pattern: Option<&[u8]>) -> OpResult<ScanPage<'_>> {
        let Some(h) = self.get_hash(db, key)? else { return Ok((0, Vec::new())) };
        let keep = |f: &[u8]| pattern.is_none_or(|p| glob_match(p, f, false));
        match h {
            Hash::Listpack(v) => Ok((0, v.iter().map(|(f, val)| (&**f, &**val)).filter(|(f, _)| keep(f)).collect())),
            Hash::Table(d) => {
                let mut matched: Vec<Vec<u8>> = Vec::new();
                let mut visited = 0usize;
                let mut iterations = count.saturating_mul(20);
                let mut cursor = cursor;
                loop {
                    cursor = d.scan(cursor, |f, _| {
                        visited += 1;
                        if keep(f) {
                            matched.push(f.to_vec());
                        }
                    });
                    if cursor == 0 || iterations == 0 || visited >= count {
                        break;
                    }
                    iterations -= 1;
                }
                // Dict::scan lends each entry only for the callback; look the matches up again
                // to return references tied to the hash.
                let out = matched.iter().filter_map(|f| d.get_key_value(f).map(|(k, v)| (k, &**v))).collect();
                Ok((cursor, out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        Shard::new(0, 16)
    }

    fn hset(s: &mut Shard, key: &[u8], pairs: &[&[u8]]) -> usize {
        s.hset(0, key, pairs, &Limits::default()).unwrap()
    }

    fn owned(v: Vec<(&[u8], &[u8])>) -> Vec<(Vec<u8>, Vec<u8>)> {
        v.into_iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    fn big_hash(s: &mut Shard, key: &[u8], n: usize) {
        for i in 0..n {
            hset(s, key, &[format!("f{i}").as_bytes(), format!("v{i}").as_bytes()]);
        }
    }

    /// "HSET in update and insert mode", "HSETNX target key missing/exists".
    #[test]
    fn hset_counts_new_fields_and_hsetnx_keeps_old() {
        let mut s = shard();
        assert_eq!(hset(&mut s, b"h", &[b"a", b"1", b"b", b"2"]), 2);
        assert_eq!(hset(&mut s, b"h", &[b"a", b"x", b"c", b"3"]), 1);
        assert_eq!(s.get_hash(0, b"h").unwrap().unwrap().get(b"a"), Some(&b"x"[..]));
        assert!(!s.hsetnx(0, b"h", b"a", b"y", &Limits::default()).unwrap());
        assert!(s.hsetnx(0, b"h", b"d", b"4", &Limits::default()).unwrap());
        assert_eq!(s.get_hash(0, b"h").unwrap().unwrap().len(), 4);
        s.set(0, b"str", b"v", crate::ops::string::SetCond::Always, crate::ops::Ttl::Clear, false).unwrap();
        assert_eq!(s.hset(0, b"str", &[b"a", b"1"], &Limits::default()), Err(OpError::WrongType));
        assert_eq!(s.get_hash(0, b"str").err(), Some(OpError::WrongType));
    }

    /// "HDEL - hash becomes empty before deleting all specified fields".
    #[test]
    fn hdel_deletes_the_emptied_key() {
        let mut s = shard();
        hset(&mut s, b"h", &[b"a", b"1", b"b", b"2", b"c", b"3"]);
        assert_eq!(s.hdel(0, b"h", &[b"a", b"x"]).unwrap(), 1);
        assert_eq!(s.hdel(0, b"h", &[b"b", b"c", b"b", b"nope"]).unwrap(), 2);
        assert!(!s.exists(0, b"h"));
        assert_eq!(s.hdel(0, b"h", &[b"a"]).unwrap(), 0);
    }

    /// "Is the big hash encoded with an hash table?" and the listpack value-size rule.
    #[test]
    fn encodings_follow_the_limits() {
        let mut s = shard();
        big_hash(&mut s, b"small", 128);
        assert_eq!(s.get_hash(0, b"small").unwrap().unwrap().encoding_name(), "listpack");
        big_hash(&mut s, b"big", 129);
        assert_eq!(s.get_hash(0, b"big").unwrap().unwrap().encoding_name(), "hashtable");
        let long = vec![b'x'; 65];
        hset(&mut s, b"long", &[b"a", b"1", b"b", &long]);
        assert_eq!(s.get_hash(0, b"long").unwrap().unwrap().encoding_name(), "hashtable");
    }

    /// "HINCRBY against non existing hash key", "... fails against hash value with spaces",
    /// "HINCRBY can detect overflows".
    #[test]
    fn hincrby_rules() {
        let mut s = shard();
        let l = Limits::default();
        assert_eq!(s.hincrby(0, b"h", b"f", 2, &l), Ok(2));
        assert_eq!(s.hincrby(0, b"h", b"f", -5, &l), Ok(-3));
        hset(&mut s, b"h", &[b"sp", b" 11"]);
        assert_eq!(s.hincrby(0, b"h", b"sp", 1, &l), Err(OpError::NotInteger));
        hset(&mut s, b"h", &[b"max", b"9223372036854775807"]);
        assert_eq!(s.hincrby(0, b"h", b"max", 1, &l), Err(OpError::Overflow));
        assert_eq!(s.hincrby(0, b"h", b"max", -1, &l), Ok(i64::MAX - 1));
        hset(&mut s, b"h", &[b"big", b"17179869184"]);
        assert_eq!(s.hincrby(0, b"h", b"big", 17179869184, &l), Ok(34359738368));
    }

    /// "HINCRBYFLOAT against hash key created by hincrby itself", "... fails against hash value
    /// with spaces", "Test HINCRBYFLOAT for correct float representation (issue #2846)" and
    /// "HINCRBYFLOAT over hash-max-listpack-value encoded with a listpack".
    #[test]
    fn hincrbyfloat_rules() {
        let mut s = shard();
        let l = Limits::default();
        assert_eq!(s.hincrbyfloat(0, b"h", b"f", b"1.23", &l).unwrap(), b"1.23");
        assert_eq!(s.hincrbyfloat(0, b"h", b"f", b"0.77", &l).unwrap(), b"2");
        assert_eq!(s.hincrbyfloat(0, b"h", b"f", b"-0.1", &l).unwrap(), b"1.9");
        assert_eq!(s.hincrby(0, b"h", b"i", 17179869184, &l), Ok(17179869184));
        assert_eq!(s.hincrbyfloat(0, b"h", b"i", b"1.5", &l).unwrap(), b"17179869185.5");
        hset(&mut s, b"h", &[b"sp", b"1 "]);
        assert_eq!(s.hincrbyfloat(0, b"h", b"sp", b"1", &l), Err(OpError::NotFloat));
        hset(&mut s, b"h", &[b"nul", b"1\x002"]);
        assert_eq!(s.hincrbyfloat(0, b"h", b"nul", b"1", &l), Err(OpError::NotFloat));
        let small = Limits { hash_max_listpack_value: 8, ..l };
        s.hincrbyfloat(0, b"a", b"tmp", b"0.000005", &small).unwrap();
        assert_eq!(s.get_hash(0, b"a").unwrap().unwrap().encoding_name(), "listpack");
        s.hincrbyfloat(0, b"b", b"tmp", b"0.0000005", &small).unwrap();
        assert_eq!(s.get_hash(0, b"b").unwrap().unwrap().encoding_name(), "hashtable");
    }

    /// "HRANDFIELD with <count>": every path returns the right number of entries, all from the
    /// hash, distinct when the count is positive; negative counts reach every field.
    #[test]
    fn hrandfield_cases() {
        let mut s = shard();
        big_hash(&mut s, b"lp", 10);
        big_hash(&mut s, b"ht", 200);
        for (key, size) in [(&b"lp"[..], 10usize), (&b"ht"[..], 200)] {
            let all: HashSet<Vec<u8>> = (0..size).map(|i| format!("f{i}").into_bytes()).collect();
            for count in [1i64, 2, 3, size as i64 / 2, size as i64 - 1, size as i64, size as i64 + 5] {
                let got = owned(s.hrandfield(0, key, count).unwrap());
                assert_eq!(got.len(), (count as usize).min(size), "{count}");
                let distinct: HashSet<_> = got.iter().map(|(f, _)| f.clone()).collect();
                assert_eq!(distinct.len(), got.len(), "repeats with count {count}");
                for (f, v) in &got {
                    assert!(all.contains(f));
                    assert_eq!(v[1..], f[1..], "value does not belong to its field");
                }
            }
            let got = owned(s.hrandfield(0, key, -5000).unwrap());
            assert_eq!(got.len(), 5000);
            let distinct: HashSet<_> = got.iter().map(|(f, _)| f.clone()).collect();
            assert_eq!(distinct, all, "negative count never drew some field");
            assert!(s.hrandfield(0, key, 0).unwrap().is_empty());
            assert!(all.contains(s.hrandfield_one(0, key).unwrap().unwrap()));
        }
        assert!(s.hrandfield(0, b"none", 5).unwrap().is_empty());
        assert_eq!(s.hrandfield_one(0, b"none").unwrap(), None);
    }

    /// "HSCAN with encoding listpack/hashtable" and "HSCAN with PATTERN".
    #[test]
    fn hscan_covers_everything_and_filters() {
        let mut s = shard();
        big_hash(&mut s, b"lp", 5);
        let (c, got) = s.hscan(0, b"lp", 123, 1, None).unwrap();
        assert_eq!((c, got.len()), (0, 5));
        big_hash(&mut s, b"ht", 1000);
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, got) = s.hscan(0, b"ht", cursor, 10, None).unwrap();
            for (f, v) in got {
                assert_eq!(f[1..], v[1..]);
                seen.insert(f.to_vec());
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        let (c, got) = s.hscan(0, b"ht", 0, 100_000, Some(b"f99*")).unwrap();
        let mut fields: Vec<_> = got.iter().map(|(f, _)| f.to_vec()).collect();
        fields.sort();
        assert_eq!((c, fields.len()), (0, 11));
        assert_eq!(s.hscan(0, b"none", 0, 10, None).unwrap(), (0, Vec::new()));
    }
}
