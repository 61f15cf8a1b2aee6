//! List operations (LPUSH/RPUSH and the X forms, LPOP/RPOP with count, LLEN, LRANGE, LINDEX,
//! LSET, LINSERT, LREM, LTRIM, LPOS, and the single-shard steps of LMOVE/RPOPLPUSH/LMPOP).
//!
//! Invariant kept by every op: a stored list is never empty. A write that empties a list
//! deletes the key, as Redis does.

use crate::keyspace::Shard;
use crate::types::list::{clamp_range, Elem, End, List};
use crate::value::Value;
use crate::{OpError, OpResult};

/// What LSET found (its errors are not shared with other families, so the handler names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsetOutcome {
    Done,
    IndexOutOfRange,
}

/// LPOS's parsed options.
#[derive(Debug, Clone, Copy)]
pub struct LposOptions {
    /// Non-zero: positive = from the head, negative = from the tail.
    pub rank: i64,
    /// 0 = every match (only meaningful with the COUNT option, which the handler tracks).
    pub count: usize,
    /// 0 = scan the whole list.
    pub maxlen: usize,
}

impl Shard {
    /// A live list for reading (counts a hit or a miss), WRONGTYPE for other types.
    fn list_read(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&List>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => match e.full() {
                Some(Value::List(l)) => Ok(Some(l)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// A live list for writing, WRONGTYPE for other types.
    fn list_write(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&mut List>> {
        match self.lookup_mut(db, key) {
            None => Ok(None),
            Some(e) => match e.full_mut() {
                Some(Value::List(l)) => Ok(Some(l)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// Deletes the key if its list emptied (the invariant of this module).
    fn drop_if_empty(&mut self, db: usize, key: &[u8], empty: bool) {
        if empty {
            self.remove(db, key);
        }
    }

    /// Whether `key` holds a list (false when missing), WRONGTYPE for other types: LMOVE's checks
    /// of its source and destination before anything moves.
    pub fn list_check(&mut self, db: usize, key: &[u8]) -> OpResult<bool> {
        self.list_write(db, key).map(|l| l.is_some())
    }

    /// LPUSH/RPUSH (and with `only_if_exists`, LPUSHX/RPUSHX): pushes each value in turn at
    /// `end`. Returns the new length (0 when the X form found no key). `fill` is
    /// list-max-listpack-size, which a new list keeps for its life (as Redis's quicklist does).
    pub fn list_push<'v>(
        &mut self,
        db: usize,
        key: &[u8],
        end: End,
        values: impl IntoIterator<Item = &'v [u8]>,
        only_if_exists: bool,
        fill: i64,
    ) -> OpResult<usize> {
        if let Some(l) = self.list_write(db, key)? {
            for v in values {
                l.push(end, v);
            }
            return Ok(l.len());
        }
        if only_if_exists {
            return Ok(0);
        }
        let mut l = List::new(fill);
        for v in values {
            l.push(end, v);
        }
        let len = l.len();
        if len > 0 {
            self.store(db, key, Value::List(Box::new(l)), None, false);
        }
        Ok(len)
    }

    /// Pops up to `count` elements from `end`, in pop order. None when the key does not exist
    /// (the handler picks the null form); `count` 0 on an existing list pops nothing.
    pub fn list_pop(&mut self, db: usize, key: &[u8], end: End, count: usize) -> OpResult<Option<Vec<Elem>>> {
        let Some(l) = self.list_write(db, key)? else { return Ok(None) };
        let n = count.min(l.len());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            match l.pop(end) {
                Some(e) => out.push(e),
                None => break,
            }
        }
        let empty = l.is_empty();
        self.drop_if_empty(db, key, empty);
        Ok(Some(out))
    }

    /// LMOVE/RPOPLPUSH with source and destination the same key: pop and push in one list,
    /// which is never emptied in between (Redis pushes before it deletes an empty source).
    pub fn list_rotate(&mut self, db: usize, key: &[u8], from: End, to: End) -> OpResult<Option<Elem>> {
        let Some(l) = self.list_write(db, key)? else { return Ok(None) };
        let Some(e) = l.pop(from) else { return Ok(None) };
        l.push(to, e.as_bytes());
        Ok(Some(e))
    }

    pub fn list_len(&mut self, db: usize, key: &[u8]) -> OpResult<usize> {
        Ok(self.list_read(db, key)?.map(List::len).unwrap_or(0))
    }

    /// LRANGE: the elements of `start..=end` (Redis's index rules), borrowed for the reply;
    /// None when the key is missing or the range is empty.
    pub fn list_range(&mut self, db: usize, key: &[u8], start: i64, end: i64) -> OpResult<Option<impl ExactSizeIterator<Item = &[u8]> + '_>> {
        let Some(l) = self.list_read(db, key)? else { return Ok(None) };
        Ok(clamp_range(start, end, l.len()).map(|(s, e)| l.slice(s, e)))
    }

    /// LINDEX. `index` is None when the argument was not an integer: Redis looks the key up
    /// first, so a missing key still answers null and another type still WRONGTYPE.
    pub fn list_index(&mut self, db: usize, key: &[u8], index: Option<i64>) -> OpResult<Option<&[u8]>> {
        let Some(l) = self.list_read(db, key)? else { return Ok(None) };
        let index = index.ok_or(OpError::NotInteger)?;
        Ok(l.get(index))
    }

    /// LSET, with Redis's order of checks: no such key, wrong type, bad index, out of range.
    pub fn list_set(&mut self, db: usize, key: &[u8], index: Option<i64>, value: &[u8]) -> OpResult<LsetOutcome> {
        let l = self.list_write(db, key)?.ok_or(OpError::NoSuchKey)?;
        let index = index.ok_or(OpError::NotInteger)?;
        Ok(if l.set(index, value) { LsetOutcome::Done } else { LsetOutcome::IndexOutOfRange })
    }

    /// LINSERT: the new length, -1 when the pivot is not found, 0 when the key does not exist.
    pub fn list_insert(&mut self, db: usize, key: &[u8], after: bool, pivot: &[u8], value: &[u8]) -> OpResult<i64> {
        let Some(l) = self.list_write(db, key)? else { return Ok(0) };
        Ok(if l.insert_at_pivot(after, pivot, value) { l.len() as i64 } else { -1 })
    }

    /// LREM: how many elements were removed.
    pub fn list_rem(&mut self, db: usize, key: &[u8], count: i64, value: &[u8]) -> OpResult<usize> {
        let Some(l) = self.list_write(db, key)? else { return Ok(0) };
        let removed = l.remove_matching(count, value);
        let empty = l.is_empty();
        self.drop_if_empty(db, key, empty);
        Ok(removed)
    }

    /// LTRIM with Redis's index rules; an empty range deletes the key.
    pub fn list_trim(&mut self, db: usize, key: &[u8], start: i64, end: i64) -> OpResult<usize> {
        let Some(l) = self.list_write(db, key)? else { return Ok(0) };
        let len = l.len();
        match clamp_range(start, end, len) {
            Some((s, e)) => l.trim(s, len - e - 1),
            None => l.trim(len, 0),
        }
        let (removed, empty) = (len - l.len(), l.is_empty());
        self.drop_if_empty(db, key, empty);
        Ok(removed)
    }

    /// LPOS: the matching indexes (at most one unless `opts.count` asks for more), None when
    /// the key does not exist.
    pub fn list_pos(&mut self, db: usize, key: &[u8], value: &[u8], opts: LposOptions) -> OpResult<Option<Vec<usize>>> {
        let Some(l) = self.list_read(db, key)? else { return Ok(None) };
        let rank = opts.rank.unsigned_abs().min(usize::MAX as u64) as usize;
        Ok(Some(l.positions(value, rank, opts.rank < 0, opts.count, opts.maxlen)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;

    fn shard() -> Shard {
        Shard::new(0, 16)
    }

    fn range(s: &mut Shard, key: &[u8]) -> Vec<String> {
        s.list_range(0, key, 0, -1).unwrap().into_iter().flatten().map(|b| String::from_utf8_lossy(b).into_owned()).collect()
    }

    fn push(s: &mut Shard, key: &[u8], end: End, vals: &[&str]) -> OpResult<usize> {
        s.list_push(0, key, end, vals.iter().map(|v| v.as_bytes()), false, -2)
    }

    /// Mirrors "Variadic RPUSH/LPUSH" and "LPUSHX, RPUSHX - generic".
    #[test]
    fn variadic_push_and_x_forms() {
        let mut s = shard();
        assert_eq!(push(&mut s, b"l", End::Left, &["a", "b", "c", "d"]), Ok(4));
        assert_eq!(push(&mut s, b"l", End::Right, &["0", "1", "2", "3"]), Ok(8));
        assert_eq!(range(&mut s, b"l"), ["d", "c", "b", "a", "0", "1", "2", "3"]);
        assert_eq!(s.list_push(0, b"none", End::Left, [&b"a"[..]], true, -2), Ok(0));
        assert!(!s.exists(0, b"none"));
        assert_eq!(s.list_push(0, b"l", End::Right, [&b"z"[..]], true, -2), Ok(9));
        assert_eq!(s.peek(0, b"l").map(|e| e.value().encoding_name()), Some("quicklist"));
    }

    /// Mirrors "LPUSH against non-list value error" and "LLEN against non-list value error".
    #[test]
    fn wrong_type_is_refused_and_untouched() {
        let mut s = shard();
        s.store(0, b"str", Value::Str(StrValue::from_bytes(b"x")), None, false);
        assert_eq!(push(&mut s, b"str", End::Left, &["a"]), Err(OpError::WrongType));
        assert_eq!(s.list_len(0, b"str"), Err(OpError::WrongType));
        assert_eq!(s.list_index(0, b"str", None), Err(OpError::WrongType));
        assert_eq!(s.list_set(0, b"str", Some(0), b"v"), Err(OpError::WrongType));
        assert_eq!(s.list_pop(0, b"str", End::Left, 1).map(|_| ()), Err(OpError::WrongType));
        assert_eq!(s.list_check(0, b"str"), Err(OpError::WrongType));
        assert_eq!(s.list_check(0, b"missing"), Ok(false));
    }

    /// Mirrors "RPOP/LPOP with the optional count argument": the key goes when emptied.
    #[test]
    fn pop_with_count_and_deletion() {
        let mut s = shard();
        push(&mut s, b"l", End::Left, &["aa", "bb", "cc", "dd", "ee", "ff", "gg"]).unwrap();
        let pop = |s: &mut Shard, end, n| -> Vec<String> {
            s.list_pop(0, b"l", end, n).unwrap().unwrap().iter().map(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()).collect()
        };
        assert_eq!(pop(&mut s, End::Left, 1), ["gg"]);
        assert_eq!(pop(&mut s, End::Left, 2), ["ff", "ee"]);
        assert_eq!(pop(&mut s, End::Right, 2), ["aa", "bb"]);
        assert_eq!(pop(&mut s, End::Right, 0), Vec::<String>::new());
        assert_eq!(pop(&mut s, End::Right, 123), ["cc", "dd"]);
        assert!(!s.exists(0, b"l"));
        assert_eq!(s.list_pop(0, b"l", End::Left, 1), Ok(None));
    }

    /// Mirrors "LSET against non existing key", "LSET out of range index", "LINDEX against non
    /// existing key".
    #[test]
    fn lset_and_lindex_errors_in_redis_order() {
        let mut s = shard();
        assert_eq!(s.list_set(0, b"l", None, b"v"), Err(OpError::NoSuchKey));
        assert_eq!(s.list_index(0, b"l", None), Ok(None));
        push(&mut s, b"l", End::Right, &["a", "b"]).unwrap();
        assert_eq!(s.list_set(0, b"l", Some(10), b"v"), Ok(LsetOutcome::IndexOutOfRange));
        assert_eq!(s.list_set(0, b"l", None, b"v"), Err(OpError::NotInteger));
        assert_eq!(s.list_set(0, b"l", Some(-1), b"z"), Ok(LsetOutcome::Done));
        assert_eq!(s.list_index(0, b"l", Some(1)), Ok(Some(&b"z"[..])));
        assert_eq!(s.list_index(0, b"l", None), Err(OpError::NotInteger));
    }

    /// Mirrors "LTRIM basics" and "LREM remove all the occurrences".
    #[test]
    fn trim_and_rem_delete_emptied_lists() {
        let mut s = shard();
        push(&mut s, b"l", End::Right, &["1", "2", "3", "4"]).unwrap();
        assert_eq!(s.list_trim(0, b"l", 1, -2), Ok(2), "the elements trimmed away");
        assert_eq!(range(&mut s, b"l"), ["2", "3"]);
        assert_eq!(s.list_trim(0, b"l", 5, 10), Ok(2));
        assert!(!s.exists(0, b"l"));
        assert_eq!(s.list_trim(0, b"l", 0, -1), Ok(0), "no list");
        push(&mut s, b"r", End::Right, &["x", "y", "x"]).unwrap();
        assert_eq!(s.list_rem(0, b"r", 0, b"x"), Ok(2));
        assert_eq!(s.list_rem(0, b"r", 0, b"y"), Ok(1));
        assert!(!s.exists(0, b"r"));
    }

    /// Mirrors "LINSERT - ziplist" and "LMOVE ... with the same list as src and dst".
    #[test]
    fn insert_and_rotate() {
        let mut s = shard();
        assert_eq!(s.list_insert(0, b"l", true, b"a", b"b"), Ok(0));
        push(&mut s, b"l", End::Right, &["a", "c"]).unwrap();
        assert_eq!(s.list_insert(0, b"l", true, b"a", b"b"), Ok(3));
        assert_eq!(s.list_insert(0, b"l", false, b"zz", b"b"), Ok(-1));
        let e = s.list_rotate(0, b"l", End::Right, End::Left).unwrap().unwrap();
        assert_eq!(e.as_bytes(), b"c");
        assert_eq!(range(&mut s, b"l"), ["c", "a", "b"]);
        push(&mut s, b"one", End::Right, &["x"]).unwrap();
        s.list_rotate(0, b"one", End::Left, End::Right).unwrap();
        assert_eq!(range(&mut s, b"one"), ["x"]);
    }

    /// Mirrors "LPOS COUNT + RANK option" and "LPOS non existing key".
    #[test]
    fn lpos_options() {
        let mut s = shard();
        push(&mut s, b"l", End::Right, &["a", "b", "c", "1", "2", "3", "c", "c"]).unwrap();
        let o = |rank, count, maxlen| LposOptions { rank, count, maxlen };
        assert_eq!(s.list_pos(0, b"l", b"c", o(2, 0, 0)), Ok(Some(vec![6, 7])));
        assert_eq!(s.list_pos(0, b"l", b"c", o(-1, 2, 0)), Ok(Some(vec![7, 6])));
        assert_eq!(s.list_pos(0, b"l", b"c", o(2, 0, 7)), Ok(Some(vec![6])));
        assert_eq!(s.list_pos(0, b"none", b"c", o(1, 0, 0)), Ok(None));
    }
}
