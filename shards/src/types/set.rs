//! The set value type, with Redis 7.0's two encodings:
//!
//! * `intset` ([`Set::Ints`], an [`IntSet`]): a sorted array of integers, used while every member
//!   is an integer by Redis's string2ll rule (canonical text, fits in 64 bits) and the count is
//!   at most `set-max-intset-entries`. As intset.c, the array is 2, 4 or 8 bytes per integer,
//!   the narrowest that holds every member, widened (never narrowed) when a wider one arrives;
//!   lookups are binary searches.
//! * `hashtable` ([`Set::Hash`]): the crate's [`Dict`] with unit values, which gives SSCAN
//!   Redis's cursor guarantees and SRANDMEMBER/SPOP Redis's random sampling.
//!
//! Invariants: an `IntSet` is strictly increasing; a set converts from `Ints` to `Hash`
//! when a non-integer is added or it grows past the limit (setTypeAdd) and never back, except
//! that SPOP's "keep the rest" strategy builds a new set from scratch as Redis does.

use crate::dict::{self, Dict};
use crate::value::parse_i64_strict;

/// Redis caps set-max-intset-entries at 1G entries because of intset internals (setTypeAdd).
const INTSET_HARD_LIMIT: usize = 1 << 30;

/// A Redis set value.
pub enum Set {
    Ints(IntSet),
    Hash(Box<HashSet>),
}

/// The `hashtable` encoding: the members, and their total length (for memory figures).
#[derive(Default)]
pub struct HashSet {
    dict: Dict<()>,
    member_bytes: usize,
}

/// One member as the set holds it: an integer of an intset, or the bytes of a hashtable member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's text (integers are formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Member::Int(n) => {
                let mut buf = itoa::Buffer::new();
                f(buf.format(n).as_bytes())
            }
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
}

impl Default for Set {
    fn default() -> Set {
        Set::Ints(IntSet::default())
    }
}

impl Clone for Set {
    fn clone(&self) -> Set {
        match self {
            Set::Ints(v) => Set::Ints(v.clone()),
            Set::Hash(h) => {
                let mut out = HashSet::default();
                for (k, _) in h.dict.iter() {
                    out.insert(k);
                }
                Set::Hash(Box::new(out))
            }
        }
    }
}

impl PartialEq for Set {
    /// Same members, whatever the encodings.
    fn eq(&self, other: &Set) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains_member(m))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<String> = self.iter().map(|m| m.with_bytes(|b| String::from_utf8_lossy(b).into_owned())).collect();
        write!(f, "Set({}, {:?})", self.encoding_name(), members)
    }
}

impl HashSet {
    fn insert(&mut self, m: &[u8]) -> bool {
        let (_, inserted) = self.dict.get_or_insert_with(m, || ());
        if inserted {
            self.member_bytes += crate::evict::key_heap_bytes(m.len());
        }
        inserted
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        let removed = self.dict.remove(m).is_some();
        if removed {
            self.member_bytes -= crate::evict::key_heap_bytes(m.len());
        }
        removed
    }
}

impl Set {
    /// An empty set of the encoding that can hold `first` (setTypeCreate).
    pub fn new_for(first: &[u8]) -> Set {
        if parse_i64_strict(first).is_some() {
            Set::Ints(IntSet::default())
        } else {
            Set::Hash(Box::default())
        }
    }

    /// Elements in the collection.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Hash(h) => h.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Hash(_) => "hashtable",
        }
    }

    /// Heap bytes held (for memory figures).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(v) => v.heap_bytes(),
            Set::Hash(h) => std::mem::size_of::<HashSet>() + h.dict.overhead_bytes() + h.member_bytes,
        }
    }

    /// Adds a member; true if it was not there (setTypeAdd). `max_intset` is
    /// set-max-intset-entries: an intset that grows past it becomes a hashtable.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match self {
            Set::Hash(h) => h.insert(m),
            Set::Ints(_) => match parse_i64_strict(m) {
                Some(n) => self.add_int(n, max_intset),
                None => {
                    self.convert_to_hash();
                    self.add(m, max_intset)
                }
            },
        }
    }

    /// Adds an integer member (no text round trip while the set is an intset).
    pub fn add_int(&mut self, n: i64, max_intset: usize) -> bool {
        match self {
            Set::Hash(h) => {
                let mut buf = itoa::Buffer::new();
                h.insert(buf.format(n).as_bytes())
            }
            Set::Ints(v) => {
                if !v.insert(n) {
                    return false;
                }
                if v.len() > max_intset.min(INTSET_HARD_LIMIT) {
                    self.convert_to_hash();
                }
                true
            }
        }
    }

    /// Adds a member taken from another set.
    pub fn add_member(&mut self, m: Member<'_>, max_intset: usize) -> bool {
        match m {
            Member::Int(n) => self.add_int(n, max_intset),
            Member::Bytes(b) => self.add(b, max_intset),
        }
    }

    /// Removes a member; true if it was there (setTypeRemove).
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Hash(h) => h.remove(m),
            Set::Ints(v) => parse_i64_strict(m).is_some_and(|n| v.remove(n)),
        }
    }

    pub fn remove_member(&mut self, m: Member<'_>) -> bool {
        match (m, &mut *self) {
            (Member::Int(n), Set::Ints(v)) => v.remove(n),
            _ => m.with_bytes(|b| self.remove(b)),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Hash(h) => h.dict.contains_key(m),
            Set::Ints(v) => parse_i64_strict(m).is_some_and(|n| v.contains(n)),
        }
    }

    /// Membership of a member of another set: integer against intset needs no formatting.
    pub fn contains_member(&self, m: Member<'_>) -> bool {
        match (m, self) {
            (Member::Int(n), Set::Ints(v)) => v.contains(n),
            (Member::Int(n), Set::Hash(h)) => {
                let mut buf = itoa::Buffer::new();
                h.dict.contains_key(buf.format(n).as_bytes())
            }
            (Member::Bytes(b), _) => self.contains(b),
        }
    }

    /// The members: ascending integers for an intset, bucket order for a hashtable.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Ints(v) => Iter::Ints(v.iter()),
            Set::Hash(h) => Iter::Hash(h.dict.iter()),
        }
    }

    /// A random member (setTypeRandomElement): a uniform index for an intset (intsetRandom),
    /// dictGetFairRandomKey for a hashtable. None only when empty.
    pub fn random(&self, rand: &mut impl FnMut() -> u64) -> Option<Member<'_>> {
        match self {
            Set::Ints(v) if v.is_empty() => None,
            Set::Ints(v) => Some(Member::Int(v.get((rand() % v.len() as u64) as usize))),
            Set::Hash(h) => h.dict.random_entry(rand).map(|(k, _)| Member::Bytes(k)),
        }
    }

    /// One SSCAN step over a hashtable (Redis's scanGenericCommand loop: dictScan until `count`
    /// members were gathered, at most count*10 buckets visited, or the cursor wraps to 0). An
    /// intset returns every member at once with cursor 0.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match self {
            Set::Ints(v) => {
                v.iter().for_each(|n| f(Member::Int(n)));
                0
            }
            Set::Hash(h) => {
                let mut cursor = cursor;
                let mut got = 0usize;
                let mut max_iterations = count.saturating_mul(10);
                loop {
                    cursor = h.dict.scan(cursor, |k, _| {
                        got += 1;
                        f(Member::Bytes(k));
                    });
                    if cursor == 0 || max_iterations == 0 || got >= count {
                        break;
                    }
                    max_iterations -= 1;
                }
                cursor
            }
        }
    }

    /// setTypeConvert(OBJ_ENCODING_HT).
    fn convert_to_hash(&mut self) {
        if let Set::Ints(v) = self {
            let mut h = HashSet::default();
            let mut buf = itoa::Buffer::new();
            for n in v.iter() {
                h.insert(buf.format(n).as_bytes());
            }
            *self = Set::Hash(Box::new(h));
        }
    }
}

/// Redis's intset: sorted integers stored at the narrowest width (2, 4 or 8 bytes) that holds
/// them all.
#[derive(Clone, Debug)]
pub enum IntSet {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> IntSet {
        IntSet::I16(Vec::new())
    }
}

/// Binary search in one width of array; a value outside the width's range is simply absent.
fn search<T: TryFrom<i64> + Ord>(v: &[T], n: i64) -> Result<usize, usize> {
    match T::try_from(n) {
        Ok(t) => v.binary_search(&t),
        Err(_) if n < 0 => Err(0),
        Err(_) => Err(v.len()),
    }
}

impl IntSet {
    pub fn len(&self) -> usize {
        match self {
            IntSet::I16(v) => v.len(),
            IntSet::I32(v) => v.len(),
            IntSet::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The integer at `i` (0-based; `i` < len).
    pub fn get(&self, i: usize) -> i64 {
        match self {
            IntSet::I16(v) => v[i] as i64,
            IntSet::I32(v) => v[i] as i64,
            IntSet::I64(v) => v[i],
        }
    }

    fn position(&self, n: i64) -> Result<usize, usize> {
        match self {
            IntSet::I16(v) => search(v, n),
            IntSet::I32(v) => search(v, n),
            IntSet::I64(v) => search(v, n),
        }
    }

    pub fn contains(&self, n: i64) -> bool {
        self.position(n).is_ok()
    }

    /// intsetAdd: true if `n` was not there. Widens the array first when `n` needs it
    /// (intsetUpgradeAndAdd).
    pub fn insert(&mut self, n: i64) -> bool {
        let needed = if i16::try_from(n).is_ok() {
            2
        } else if i32::try_from(n).is_ok() {
            4
        } else {
            8
        };
        if needed > self.width() {
            let all: Vec<i64> = self.iter().collect();
            *self = match needed {
                4 => IntSet::I32(all.iter().map(|&x| x as i32).collect()),
                _ => IntSet::I64(all),
            };
        }
        let Err(pos) = self.position(n) else { return false };
        match self {
            IntSet::I16(v) => v.insert(pos, n as i16),
            IntSet::I32(v) => v.insert(pos, n as i32),
            IntSet::I64(v) => v.insert(pos, n),
        }
        true
    }

    /// intsetRemove: true if `n` was there. The width stays.
    pub fn remove(&mut self, n: i64) -> bool {
        let Ok(pos) = self.position(n) else { return false };
        match self {
            IntSet::I16(v) => {
                v.remove(pos);
            }
            IntSet::I32(v) => {
                v.remove(pos);
            }
            IntSet::I64(v) => {
                v.remove(pos);
            }
        }
        true
    }

    /// Bytes per integer.
    fn width(&self) -> usize {
        match self {
            IntSet::I16(_) => 2,
            IntSet::I32(_) => 4,
            IntSet::I64(_) => 8,
        }
    }

    pub fn heap_bytes(&self) -> usize {
        let cap = match self {
            IntSet::I16(v) => v.capacity(),
            IntSet::I32(v) => v.capacity(),
            IntSet::I64(v) => v.capacity(),
        };
        cap * self.width()
    }

    /// The integers in ascending order.
    pub fn iter(&self) -> IntIter<'_> {
        IntIter { set: self, next: 0 }
    }
}

/// Iterator over an [`IntSet`], ascending.
pub struct IntIter<'a> {
    set: &'a IntSet,
    next: usize,
}

impl Iterator for IntIter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        if self.next >= self.set.len() {
            return None;
        }
        self.next += 1;
        Some(self.set.get(self.next - 1))
    }
}

/// Iterator over a set's members.
pub enum Iter<'a> {
    Ints(IntIter<'a>),
    Hash(dict::Iter<'a, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(it) => it.next().map(Member::Int),
            Iter::Hash(it) => it.next().map(|(k, _)| Member::Bytes(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(members: &[&str], max: usize) -> Set {
        let mut s = Set::new_for(members[0].as_bytes());
        for m in members {
            s.add(m.as_bytes(), max);
        }
        s
    }

    #[test]
    fn intset_until_a_non_integer_or_the_limit() {
        let mut s = build(&["3", "1", "2"], 512);
        assert_eq!(s.encoding_name(), "intset");
        assert!(matches!(&s, Set::Ints(v) if v.iter().collect::<Vec<_>>() == [1, 2, 3]));
        assert!(!s.add(b"2", 512));
        // Not canonical integers: string2ll refuses them, so they are strings.
        for m in ["01", "+1", "-0", " 1", "9223372036854775808"] {
            let t = build(&[m], 512);
            assert_eq!(t.encoding_name(), "hashtable", "{m}");
        }
        assert!(s.add(b"a", 512));
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"a") && !s.contains(b"4"));
        let mut s = Set::new_for(b"0");
        (0..512).for_each(|i| assert!(s.add_int(i, 512)));
        assert_eq!(s.encoding_name(), "intset");
        assert!(s.add_int(512, 512));
        assert_eq!((s.encoding_name(), s.len()), ("hashtable", 513));
        // set-max-intset-entries 0: the first integer already converts.
        assert_eq!(build(&["1"], 0).encoding_name(), "hashtable");
    }

    #[test]
    fn intset_widens_as_intset_c() {
        let mut v = IntSet::default();
        assert!(v.insert(5) && v.insert(-3) && !v.insert(5));
        assert_eq!((v.width(), v.len()), (2, 2));
        assert!(!v.contains(70_000) && !v.contains(i64::MIN) && !v.remove(1 << 40));
        assert!(v.insert(70_000));
        assert_eq!(v.width(), 4);
        assert!(v.insert(i64::MIN) && v.insert(i64::MAX));
        assert_eq!(v.width(), 8);
        assert_eq!(v.iter().collect::<Vec<_>>(), [i64::MIN, -3, 5, 70_000, i64::MAX]);
        assert!(v.remove(70_000) && v.remove(i64::MIN) && !v.remove(70_000));
        assert_eq!((v.width(), v.iter().collect::<Vec<_>>()), (8, vec![-3, 5, i64::MAX]));
        assert!(v.contains(-3) && v.contains(i64::MAX));
    }

    #[test]
    fn remove_and_membership_across_encodings() {
        let mut s = build(&["1", "2", "3"], 512);
        assert!(!s.remove(b"a") && !s.remove(b"01") && s.remove(b"2"));
        assert!(s.contains_member(Member::Int(1)) && !s.contains_member(Member::Int(2)));
        let h = build(&["x", "1", "3"], 512);
        assert!(h.contains_member(Member::Int(3)) && h.contains_member(Member::Bytes(b"x")));
        let mut h = h;
        assert!(h.remove_member(Member::Int(1)));
        assert_eq!(h.len(), 2);
        assert_eq!(build(&["1", "2"], 512), build(&["2", "1", "a"], 512).clone_without(b"a"));
    }

    impl Set {
        fn clone_without(&self, m: &[u8]) -> Set {
            let mut c = self.clone();
            c.remove(m);
            c
        }
    }

    #[test]
    fn scan_of_a_hashtable_returns_every_member() {
        let mut s = Set::new_for(b"m");
        (0..1000).for_each(|i| {
            s.add(format!("m{i}").as_bytes(), 512);
        });
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        let ints = build(&["5", "4"], 512);
        let mut got = Vec::new();
        assert_eq!(ints.scan(123, 1, |m| got.push(m.to_vec())), 0);
        assert_eq!(got, vec![b"4".to_vec(), b"5".to_vec()]);
    }

    #[test]
    fn random_member_belongs() {
        let mut seed = 7u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        assert!(Set::default().random(&mut rand).is_none());
        for s in [build(&["1", "2", "3"], 512), build(&["a", "b", "c"], 512)] {
            let mut hits = std::collections::HashSet::new();
            for _ in 0..200 {
                let m = s.random(&mut rand).expect("non-empty");
                assert!(s.contains_member(m));
                hits.insert(m.to_vec());
            }
            assert_eq!(hits.len(), 3);
        }
    }
}
