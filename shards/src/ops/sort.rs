//! SORT's engine steps (Redis's sort.c): loading the elements of the list, set or sorted set to
//! sort, the BY/GET lookups a pattern names, reading a weight as a score, and storing the result
//! as a list. The command itself (options, LIMIT, the comparison, the reply) lives in the
//! server's command/sort.rs, because its pattern lookups may reach keys on any shard.

use std::cmp::Ordering;

use crate::keyspace::Shard;
use crate::types::list::{End, List};
use crate::types::zset::parse_score;
use crate::value::Value;
use crate::{OpError, OpResult};

/// The type of the value SORT reads (a missing key reads as an empty list, as in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    List,
    Set,
    ZSet,
}

/// Which elements SORT loads from its source, once it knows the type and the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Every element, in the value's own order.
    All,
    /// A list or sorted set that is not sorted (BY without '*'): `count` elements from position
    /// `start`, counted from the tail (last element first) when `desc`.
    Range { start: usize, count: usize, desc: bool },
}

/// Where a BY/GET pattern leads for one element (lookupKeyByPattern).
#[derive(Debug, PartialEq, Eq)]
pub enum PatternTarget<'p> {
    /// "#": the element itself.
    Element,
    /// No '*' in the pattern: nothing (a constant key makes no sense to look up).
    Nothing,
    /// The key the element's substitution names, and with "->field" the hash field to read.
    Key(Vec<u8>, Option<&'p [u8]>),
}

/// The part of `b` before its first NUL: Redis reads patterns, scores and (with strcoll) ALPHA
/// weights as C strings.
pub fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

/// Whether a pattern contains '*' (SORT's test for a BY that sorts and a GET that looks up).
pub fn has_star(pattern: &[u8]) -> bool {
    c_str(pattern).contains(&b'*')
}

/// lookupKeyByPattern's substitution: the first '*' becomes `elem`; "->field" after it (with a
/// non-empty field) reads that field of a hash instead of a string.
pub fn pattern_target<'p>(pattern: &'p [u8], elem: &[u8]) -> PatternTarget<'p> {
    let head = c_str(pattern);
    if head == b"#" {
        return PatternTarget::Element;
    }
    let Some(star) = head.iter().position(|&c| c == b'*') else { return PatternTarget::Nothing };
    let arrow = head[star + 1..].windows(2).position(|w| w == b"->").map(|i| star + 1 + i);
    let (postfix_end, field) = match arrow {
        Some(f) if f + 2 < head.len() => (f, Some(&pattern[f + 2..])),
        _ => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..postfix_end]);
    PatternTarget::Key(key, field)
}

/// A weight as SORT reads it (strtod on the C string, then sort.c's checks): leading spaces
/// are skipped, an empty string is 0, trailing text, NaN and ERANGE (overflow, and underflow
/// to zero or into the subnormals) are refused.
pub fn sort_score(value: &[u8]) -> Option<f64> {
    let text = c_str(value);
    // C's isspace: space, \t, \n, \v, \f, \r.
    let start = text.iter().position(|c| !matches!(c, b' ' | b'\t'..=b'\r')).unwrap_or(text.len());
    if start == text.len() {
        // No conversion: strtod's end pointer stays at the start, a NUL only when empty.
        return text.is_empty().then_some(0.0);
    }
    let text = &text[start..];
    let v = parse_score(text)?;
    let unsigned = text.strip_prefix(b"+").or_else(|| text.strip_prefix(b"-")).unwrap_or(text);
    let hex = unsigned.len() > 1 && unsigned[0] == b'0' && unsigned[1].eq_ignore_ascii_case(&b'x');
    // glibc reports ERANGE for an inexact subnormal result, which every decimal one is in practice.
    if v != 0.0 && v.abs() < f64::MIN_POSITIVE && !hex {
        return None;
    }
    Some(v)
}

/// Redis's pqsort: Bentley and McIlroy's quicksort that only recurses into the parts that
/// overlap positions `lo..=hi`. SORT with BY and a LIMIT sorts with it, and since it is not
/// stable, the order it leaves equal weights in is part of what SORT replies.
pub fn pqsort<T>(v: &mut [T], lo: usize, hi: usize, cmp: impl Fn(&T, &T) -> Ordering) {
    pqsort_part(v, 0, v.len(), lo, hi, &cmp);
}

/// Whether the part `start..start+len` overlaps `lo..=hi`, with pqsort.c's pointer tests
/// (an element is two "bytes" wide, so an empty `lo..=hi` behaves as it does there).
fn overlaps(start: usize, len: usize, lo: usize, hi: usize) -> bool {
    let (l, r) = (2 * start as i128, 2 * (start + len) as i128 - 1);
    let (lr, rr) = (2 * lo as i128, 2 * (hi as i128 + 1) - 1);
    !((lr < l && rr < l) || (lr > r && rr > r))
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    if cmp(&v[a], &v[b]).is_lt() {
        if cmp(&v[b], &v[c]).is_lt() {
            b
        } else if cmp(&v[a], &v[c]).is_lt() {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]).is_gt() {
        b
    } else if cmp(&v[a], &v[c]).is_lt() {
        a
    } else {
        c
    }
}

fn pqsort_part<T>(v: &mut [T], mut a: usize, mut n: usize, lo: usize, hi: usize, cmp: &impl Fn(&T, &T) -> Ordering) {
    let vecswap = |v: &mut [T], x: usize, y: usize, k: usize| (0..k).for_each(|i| v.swap(x + i, y + i));
    loop {
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]).is_gt() {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (a, a + n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb, mut pc, mut pd) = (a + 1, a + 1, a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c.is_gt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c.is_lt() {
                    break;
                }
                if c.is_eq() {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && overlaps(a, r, lo, hi) {
            pqsort_part(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r <= 1 {
            return;
        }
        // The right part by iteration rather than recursion, as pqsort.c does.
        (a, n) = (pn - r, r);
        if !overlaps(a, n, lo, hi) {
            return;
        }
    }
}

impl Shard {
    /// The elements SORT works on (lookupKeyRead: counts a hit or a miss). `load` picks them
    /// once the type and length are known. WRONGTYPE for a string or a hash. A sorted set is
    /// converted to a skiplist first, as Redis's SORT does destructively.
    pub fn sort_source(&mut self, db: usize, key: &[u8], load: impl FnOnce(SortKind, usize) -> Load) -> OpResult<(SortKind, Vec<Vec<u8>>)> {
        let Some(e) = self.lookup_reencode(db, key) else {
            load(SortKind::List, 0);
            return Ok((SortKind::List, Vec::new()));
        };
        match e.full_mut() {
            Some(Value::List(l)) => {
                let out = match load(SortKind::List, l.len()) {
                    Load::All => l.iter_from(0).map(<[u8]>::to_vec).collect(),
                    Load::Range { count: 0, .. } => Vec::new(),
                    Load::Range { start, count, desc: false } => l.iter_from(start).take(count).map(<[u8]>::to_vec).collect(),
                    Load::Range { start, count, desc: true } => {
                        // From position len-1-start towards the head.
                        let last = l.len().saturating_sub(start + 1);
                        let first = (last + 1).saturating_sub(count);
                        let mut v: Vec<Vec<u8>> = l.iter_from(first).take(last + 1 - first).map(<[u8]>::to_vec).collect();
                        v.reverse();
                        v
                    }
                };
                Ok((SortKind::List, out))
            }
            Some(Value::Set(s)) => {
                load(SortKind::Set, s.len());
                Ok((SortKind::Set, s.iter().map(|m| m.to_vec()).collect()))
            }
            Some(Value::ZSet(z)) => {
                z.convert_to_skiplist();
                let mut out = Vec::new();
                match load(SortKind::ZSet, z.len()) {
                    Load::All => z.for_each(|m, _| out.push(m.to_vec())),
                    Load::Range { start, count, desc } => {
                        let (lo, hi) = if desc { (z.len().saturating_sub(start + count), z.len().saturating_sub(start)) } else { (start, start + count) };
                        z.for_range(lo, hi, desc, |m, _| out.push(m.to_vec()));
                    }
                }
                Ok((SortKind::ZSet, out))
            }
            _ => Err(OpError::WrongType),
        }
    }

    /// The last step of lookupKeyByPattern: calls `f` with the string at `key`, or with `field`
    /// the value of that hash field. None (and no call) for a missing key or field, or a key of
    /// another type. A read (counts a hit or a miss).
    pub fn sort_lookup<R>(&mut self, db: usize, key: &[u8], field: Option<&[u8]>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let e = self.lookup(db, key)?;
        match (&*e.value(), field) {
            (Value::Str(s), None) => Some(s.with_bytes(f)),
            (Value::Hash(h), Some(field)) => h.get(field).map(f),
            _ => None,
        }
    }

    /// SORT ... STORE: `items` become the list at `dst`, replacing whatever was there and its
    /// TTL; no items delete `dst`. Returns how many were stored.
    pub fn sort_store<'i>(&mut self, db: usize, dst: &[u8], items: impl IntoIterator<Item = &'i [u8]>, fill: i64) -> super::Stored {
        let mut l = List::new(fill);
        for item in items {
            l.push(End::Right, item);
        }
        self.store_or_delete(db, dst, l.len(), || Value::List(Box::new(l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_substitute_the_first_star() {
        assert_eq!(pattern_target(b"#", b"a"), PatternTarget::Element);
        assert_eq!(pattern_target(b"#\0x", b"a"), PatternTarget::Element);
        assert_eq!(pattern_target(b"##", b"a"), PatternTarget::Nothing);
        assert_eq!(pattern_target(b"nosort", b"a"), PatternTarget::Nothing);
        assert_eq!(pattern_target(b"w_*", b"a"), PatternTarget::Key(b"w_a".to_vec(), None));
        assert_eq!(pattern_target(b"w_*_*", b"a"), PatternTarget::Key(b"w_a_*".to_vec(), None));
        assert_eq!(pattern_target(b"o_*->f", b"a"), PatternTarget::Key(b"o_a".to_vec(), Some(&b"f"[..])));
        assert_eq!(pattern_target(b"o_*x->f->g", b"a"), PatternTarget::Key(b"o_ax".to_vec(), Some(&b"f->g"[..])));
        // "->" with nothing after it is part of the key name.
        assert_eq!(pattern_target(b"x:*->", b"a"), PatternTarget::Key(b"x:a->".to_vec(), None));
        // An arrow before the star is part of the key name.
        assert_eq!(pattern_target(b"a->*", b"b"), PatternTarget::Key(b"a->b".to_vec(), None));
    }

    #[test]
    fn scores_follow_strtod_and_sort_c() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b" 12"), Some(12.0));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"12\0junk"), Some(12.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"+.5"), Some(0.5));
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"infinity"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"0x1p-1022"), Some(f64::MIN_POSITIVE));
        for bad in [&b"  "[..], b"12 ", b"1e", b".", b"nan", b"12abc", b"0x", b"1e400", b"1e-400", b"2.2250738585072009e-308"] {
            assert_eq!(sort_score(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    fn shard_with(db_values: &[(&[u8], Value)]) -> Shard {
        let mut s = Shard::new(0, 1);
        for (k, v) in db_values {
            s.store(0, k, v.clone(), None, false);
        }
        s
    }

    #[test]
    fn list_ranges_count_from_either_end() {
        let mut l = List::new(-2);
        for v in [b"a", b"b", b"c", b"d", b"e"] {
            l.push(End::Right, v);
        }
        let mut s = shard_with(&[(b"l", Value::List(Box::new(l)))]);
        let range = |s: &mut Shard, start, count, desc| s.sort_source(0, b"l", |_, _| Load::Range { start, count, desc }).unwrap().1;
        assert_eq!(range(&mut s, 1, 2, false), vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(range(&mut s, 1, 2, true), vec![b"d".to_vec(), b"c".to_vec()]);
        assert_eq!(range(&mut s, 0, 5, true).len(), 5);
        assert_eq!(range(&mut s, 4, 0, true), Vec::<Vec<u8>>::new());
        assert_eq!(
            s.sort_source(0, b"missing", |k, n| {
                assert_eq!((k, n), (SortKind::List, 0));
                Load::All
            })
            .unwrap()
            .1
            .len(),
            0
        );
    }

    #[test]
    fn store_replaces_or_deletes() {
        let mut s = shard_with(&[(b"d", Value::Str(crate::value::StrValue::Int(1)))]);
        assert_eq!(s.sort_store(0, b"d", [&b"x"[..], b"y"], -2).len, 2);
        assert!(matches!(s.peek(0, b"d").map(|e| e.full()), Some(Some(Value::List(l))) if l.len() == 2));
        assert_eq!(s.sort_store(0, b"d", [], -2), crate::ops::Stored { len: 0, changed: true });
        assert!(s.peek(0, b"d").is_none());
        // Nothing to store and nothing to delete: the key did not change.
        assert_eq!(s.sort_store(0, b"d", [], -2), crate::ops::Stored { len: 0, changed: false });
    }
    #[test]
    fn pqsort_sorts_the_asked_range() {
        let mut seed = 12345u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for n in [0usize, 1, 5, 7, 8, 30, 41, 100, 1000] {
            for _ in 0..20 {
                let v: Vec<u32> = (0..n).map(|_| next() % 50).collect();
                let mut full = v.clone();
                full.sort();
                let lo = if n == 0 { 0 } else { next() as usize % n };
                let hi = if n == 0 { 0 } else { lo + next() as usize % (n - lo) };
                let mut part = v.clone();
                pqsort(&mut part, lo, hi, |a, b| a.cmp(b));
                if n > 0 {
                    assert_eq!(part[lo..=hi], full[lo..=hi], "n {n} lo {lo} hi {hi}");
                }
                let mut all = v.clone();
                pqsort(&mut all, 0, n.saturating_sub(1), |a, b| a.cmp(b));
                assert_eq!(all, full);
            }
        }
    }
}
