//! String operations (GET, SET and options, INCR family, APPEND, ranges, LCS).

use super::Ttl;
use crate::keyspace::Shard;
use crate::longdouble::{self, FloatError};
use crate::value::{StrRef, StrValue, Value};
use crate::{OpError, OpResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetCond {
    Always,
    IfAbsent,
    IfPresent,
}

/// What SET did: whether it wrote, and (with GET) the previous value.
#[derive(Debug, Default)]
pub struct SetOutcome {
    pub written: bool,
    pub old: Option<Vec<u8>>,
}

/// What GETEX found and whether it changed the key (its TTL, or deleted it).
#[derive(Debug, PartialEq)]
pub struct GetexOutcome {
    pub value: Option<Vec<u8>>,
    pub changed: bool,
}

/// LCS results: the string, its length, or the matches (IDX).
#[derive(Debug, PartialEq)]
pub struct LcsMatch {
    pub a: (usize, usize),
    pub b: (usize, usize),
    pub len: usize,
}

impl Shard {
    /// A live string value, WRONGTYPE for other types.
    #[inline]
    pub fn get_str(&mut self, db: usize, key: &[u8]) -> OpResult<Option<StrRef<'_>>> {
        match self.lookup(db, key) {
            None => Ok(None),
            Some(e) => e.str_ref().map(Some).ok_or(OpError::WrongType),
        }
    }

    /// A live string for an in-place change (stored whole first, see [`crate::entry::KeyNode::value_mut`]).
    fn get_str_mut(&mut self, db: usize, key: &[u8]) -> OpResult<Option<&mut StrValue>> {
        match self.lookup_mut(db, key) {
            None => Ok(None),
            Some(e) if e.str_ref().is_none() => Err(OpError::WrongType),
            Some(e) => match e.value_mut() {
                Value::Str(s) => Ok(Some(s)),
                _ => Err(OpError::WrongType),
            },
        }
    }

    /// SET with every option. With `get`, the old value must be a string (WRONGTYPE otherwise,
    /// and nothing is written), as in Redis 7.
    pub fn set(&mut self, db: usize, key: &[u8], value: &[u8], cond: SetCond, ttl: Ttl, get: bool) -> OpResult<SetOutcome> {
        let mut out = SetOutcome::default();
        let exists = if get {
            match self.get_str(db, key)? {
                Some(v) => {
                    out.old = Some(v.to_vec());
                    true
                }
                None => false,
            }
        } else {
            cond != SetCond::Always && self.exists(db, key)
        };
        let allowed = match cond {
            SetCond::Always => true,
            SetCond::IfAbsent => !exists,
            SetCond::IfPresent => exists,
        };
        if !allowed {
            return Ok(out);
        }
        let (expire_at, keep) = match ttl {
            Ttl::Clear => (None, false),
            Ttl::Keep => (None, true),
            Ttl::At(t) => (Some(t), false),
        };
        self.store(db, key, Value::Str(StrValue::from_bytes(value)), expire_at, keep);
        out.written = true;
        Ok(out)
    }

    /// INCRBY/DECRBY/INCR/DECR: one op with a delta.
    pub fn incr_by(&mut self, db: usize, key: &[u8], delta: i64) -> OpResult<i64> {
        match self.lookup_mut(db, key) {
            Some(e) => {
                let cur = e.str_ref().ok_or(OpError::WrongType)?.as_i64().ok_or(OpError::NotInteger)?;
                let new = cur.checked_add(delta).ok_or(OpError::Overflow)?;
                // Stored as an integer again, in place (Redis replaces the object with an int).
                let expire_at = e.expire_at();
                e.set_value(Value::Str(StrValue::Int(new)), expire_at);
                Ok(new)
            }
            None => {
                self.store(db, key, Value::Str(StrValue::Int(delta)), None, false);
                Ok(delta)
            }
        }
    }

    /// INCRBYFLOAT, computed in Redis's x87 long double (see [`longdouble`]); a missing key counts
    /// as "0". Returns the result text, which is what is stored (keeping the TTL) and replied.
    /// As in Redis's incrbyfloatCommand, the type is checked first, then the stored value is
    /// parsed, then the increment: WRONGTYPE wins over a bad increment.
    pub fn incr_by_float(&mut self, db: usize, key: &[u8], incr: &[u8]) -> OpResult<Vec<u8>> {
        let sum = match self.get_str(db, key)? {
            Some(v) => v.with_bytes(|current| longdouble::incr_by_float(current, incr)),
            None => longdouble::incr_by_float(b"0", incr),
        };
        let text = sum.map_err(|e| match e {
            FloatError::NotFloat => OpError::NotFloat,
            FloatError::NanOrInf => OpError::IncrNanOrInf,
        })?;
        self.store(db, key, Value::Str(StrValue::from_bytes(&text)), None, true);
        Ok(text)
    }

    /// APPEND: returns the new length. `max_len` is proto-max-bulk-len.
    pub fn append(&mut self, db: usize, key: &[u8], data: &[u8], max_len: u64) -> OpResult<usize> {
        match self.get_str_mut(db, key)? {
            Some(v) => {
                if (v.len() + data.len()) as u64 > max_len {
                    return Err(OpError::StringTooLong);
                }
                let raw = v.make_raw();
                raw.extend_from_slice(data);
                Ok(raw.len())
            }
            None => {
                self.store(db, key, Value::Str(StrValue::from_bytes(data)), None, false);
                Ok(data.len())
            }
        }
    }

    pub fn strlen(&mut self, db: usize, key: &[u8]) -> OpResult<usize> {
        Ok(self.get_str(db, key)?.map(|v| v.len()).unwrap_or(0))
    }

    /// GETRANGE/SUBSTR with Redis's index rules (negative from the end, clamped).
    pub fn getrange(&mut self, db: usize, key: &[u8], start: i64, end: i64) -> OpResult<Vec<u8>> {
        let Some(v) = self.get_str(db, key)? else { return Ok(Vec::new()) };
        Ok(v.with_bytes(|b| {
            let len = b.len() as i64;
            if start < 0 && end < 0 && start > end {
                return Vec::new();
            }
            let mut s = if start < 0 { len + start } else { start };
            let mut e = if end < 0 { len + end } else { end };
            if s < 0 {
                s = 0;
            }
            if e < 0 {
                e = 0;
            }
            if e >= len {
                e = len - 1;
            }
            if s > e || len == 0 {
                return Vec::new();
            }
            b[s as usize..=e as usize].to_vec()
        }))
    }

    /// SETRANGE: returns the new length. An empty `data` on a missing key creates nothing.
    pub fn setrange(&mut self, db: usize, key: &[u8], offset: usize, data: &[u8], max_len: u64) -> OpResult<usize> {
        match self.get_str_mut(db, key)? {
            Some(v) => {
                if data.is_empty() {
                    return Ok(v.len());
                }
                if (offset + data.len()) as u64 > max_len {
                    return Err(OpError::StringTooLong);
                }
                let raw = v.make_raw();
                if raw.len() < offset + data.len() {
                    raw.resize(offset + data.len(), 0);
                }
                raw[offset..offset + data.len()].copy_from_slice(data);
                Ok(raw.len())
            }
            None => {
                if data.is_empty() {
                    return Ok(0);
                }
                if (offset + data.len()) as u64 > max_len {
                    return Err(OpError::StringTooLong);
                }
                let mut raw = vec![0u8; offset + data.len()];
                raw[offset..].copy_from_slice(data);
                let len = raw.len();
                self.store(db, key, Value::Str(StrValue::Raw(raw)), None, false);
                Ok(len)
            }
        }
    }

    /// GETDEL.
    pub fn getdel(&mut self, db: usize, key: &[u8]) -> OpResult<Option<Vec<u8>>> {
        let v = match self.get_str(db, key)? {
            Some(v) => v.to_vec(),
            None => return Ok(None),
        };
        self.remove(db, key);
        Ok(Some(v))
    }

    /// GETEX: read, then apply `ttl` (`Keep` = no option given, `Clear` = PERSIST). An expiry in
    /// the past deletes the key after reading it, as Redis does.
    pub fn getex(&mut self, db: usize, key: &[u8], ttl: Ttl) -> OpResult<GetexOutcome> {
        let value = match self.get_str(db, key)? {
            Some(v) => v.to_vec(),
            None => return Ok(GetexOutcome { value: None, changed: false }),
        };
        let changed = match ttl {
            Ttl::Keep => false,
            // Only a key that had a TTL changes (removeExpire).
            Ttl::Clear => self.persist(db, key),
            Ttl::At(t) if t <= self.now_ms() => self.remove(db, key).is_some(),
            Ttl::At(t) => self.set_expire(db, key, t),
        };
        Ok(GetexOutcome { value: Some(value), changed })
    }
}

/// The LCS table of Redis's lcsCommand, and the longest common subsequence.
pub fn lcs(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<LcsMatch>) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    // dp[i][j] = LCS length of a[..i] and b[..j]
    let mut dp = vec![0u32; (alen + 1) * (blen + 1)];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * w + j] = if a[i - 1] == b[j - 1] { dp[(i - 1) * w + (j - 1)] + 1 } else { dp[(i - 1) * w + j].max(dp[i * w + (j - 1)]) };
        }
    }
    let idx = dp[alen * w + blen] as usize;
    let mut result = vec![0u8; idx];
    let mut matches = Vec::new();
    let (mut i, mut j, mut k) = (alen, blen, idx);
    // Walk back as Redis does, grouping consecutive matches into ranges.
    let mut arange: Option<(usize, usize)> = None;
    let mut brange: Option<(usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[k - 1] = a[i - 1];
            match (arange, brange) {
                (Some((as_, ae)), Some((bs, be))) if as_ == i && bs == j => {
                    arange = Some((i - 1, ae));
                    brange = Some((j - 1, be));
                }
                (None, _) => {
                    arange = Some((i - 1, i - 1));
                    brange = Some((j - 1, j - 1));
                }
                _ => {
                    emit = true;
                }
            }
            if emit {
                if let (Some(ar), Some(br)) = (arange, brange) {
                    matches.push(LcsMatch { a: ar, b: br, len: ar.1 - ar.0 + 1 });
                }
                arange = Some((i - 1, i - 1));
                brange = Some((j - 1, j - 1));
            }
            i -= 1;
            j -= 1;
            k -= 1;
        } else {
            if let (Some(ar), Some(br)) = (arange.take(), brange.take()) {
                matches.push(LcsMatch { a: ar, b: br, len: ar.1 - ar.0 + 1 });
            }
            if dp[(i - 1) * w + j] > dp[i * w + (j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
        }
    }
    if let (Some(ar), Some(br)) = (arange, brange) {
        matches.push(LcsMatch { a: ar, b: br, len: ar.1 - ar.0 + 1 });
    }
    (result, matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> Shard {
        Shard::new(0, 16)
    }

    #[test]
    fn getex_says_whether_it_changed_the_key() {
        let mut s = shard();
        let far = s.now_ms() + 100_000;
        let got = |v: &[u8], changed| GetexOutcome { value: Some(v.to_vec()), changed };
        assert_eq!(s.getex(0, b"k", Ttl::At(far)).unwrap(), GetexOutcome { value: None, changed: false });
        s.set(0, b"k", b"v", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.getex(0, b"k", Ttl::Keep).unwrap(), got(b"v", false));
        assert_eq!(s.getex(0, b"k", Ttl::Clear).unwrap(), got(b"v", false), "PERSIST without a TTL");
        assert_eq!(s.getex(0, b"k", Ttl::At(far)).unwrap(), got(b"v", true));
        assert_eq!(s.getex(0, b"k", Ttl::Clear).unwrap(), got(b"v", true), "PERSIST of a TTL");
        assert_eq!(s.pttl(0, b"k"), -1);
        assert_eq!(s.getex(0, b"k", Ttl::At(1)).unwrap(), got(b"v", true), "a time past deletes");
        assert!(!s.exists(0, b"k"));
    }

    #[test]
    fn set_nx_xx_get() {
        let mut s = shard();
        assert!(!s.set(0, b"k", b"v1", SetCond::IfPresent, Ttl::Clear, false).unwrap().written);
        assert!(s.set(0, b"k", b"v1", SetCond::IfAbsent, Ttl::Clear, false).unwrap().written);
        assert!(!s.set(0, b"k", b"v2", SetCond::IfAbsent, Ttl::Clear, false).unwrap().written);
        let out = s.set(0, b"k", b"v3", SetCond::Always, Ttl::Clear, true).unwrap();
        assert_eq!(out.old.as_deref(), Some(&b"v1"[..]));
        assert_eq!(s.get_str(0, b"k").unwrap().unwrap().to_vec(), b"v3");
    }

    #[test]
    fn incr_rules() {
        let mut s = shard();
        assert_eq!(s.incr_by(0, b"n", 5), Ok(5));
        assert_eq!(s.incr_by(0, b"n", -7), Ok(-2));
        s.set(0, b"x", b"abc", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.incr_by(0, b"x", 1), Err(OpError::NotInteger));
        s.set(0, b"m", b"9223372036854775807", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.incr_by(0, b"m", 1), Err(OpError::Overflow));
    }

    /// Mirrors Redis's "INCRBYFLOAT against non existing key", "... against key originally set
    /// with SET", "... over 32bit value", "... fails against key with spaces" and "... does not
    /// allow NaN or Infinity" (unit/type/incr.tcl); replies checked against redis-server 7.0.15.
    #[test]
    fn incrbyfloat_rules() {
        let mut s = shard();
        assert_eq!(s.incr_by_float(0, b"f", b"10.5").unwrap(), b"10.5");
        assert_eq!(s.incr_by_float(0, b"f", b"0.1").unwrap(), b"10.6");
        assert_eq!(s.get_str(0, b"f").unwrap().unwrap().to_vec(), b"10.6");
        // The long double noise Redis shows, and "-0.1" where f64 would say -0.10000000000000009.
        assert_eq!(s.incr_by_float(0, b"g", b"1000.1").unwrap(), b"1000.09999999999999998");
        s.set(0, b"n", b"1", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.incr_by_float(0, b"n", b"-1.1").unwrap(), b"-0.1");
        s.set(0, b"big", b"17179869184", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.incr_by_float(0, b"big", b"1.5").unwrap(), b"17179869185.5");
        s.set(0, b"sp", b" 11", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.incr_by_float(0, b"sp", b"1"), Err(OpError::NotFloat));
        assert_eq!(s.get_str(0, b"sp").unwrap().unwrap().to_vec(), b" 11");
        assert_eq!(s.incr_by_float(0, b"f", b"1x"), Err(OpError::NotFloat));
        assert_eq!(s.incr_by_float(0, b"f", b"+inf"), Err(OpError::IncrNanOrInf));
        assert_eq!(s.incr_by_float(0, b"f", b"nan"), Err(OpError::NotFloat));
        assert_eq!(s.get_str(0, b"f").unwrap().unwrap().to_vec(), b"10.6");
        // Nothing is created when the increment is refused.
        assert_eq!(s.incr_by_float(0, b"none", b"abc"), Err(OpError::NotFloat));
        assert!(!s.exists(0, b"none"));
    }

    #[test]
    fn ranges() {
        let mut s = shard();
        s.set(0, b"k", b"Hello World", SetCond::Always, Ttl::Clear, false).unwrap();
        assert_eq!(s.getrange(0, b"k", 0, 4).unwrap(), b"Hello");
        assert_eq!(s.getrange(0, b"k", -5, -1).unwrap(), b"World");
        assert_eq!(s.getrange(0, b"k", 5, 3).unwrap(), b"");
        // Redis clamps a negative end to 0, so this is the first byte, not empty.
        assert_eq!(s.getrange(0, b"k", 0, -100).unwrap(), b"H");
        assert_eq!(s.setrange(0, b"k", 6, b"Redis", 512 << 20).unwrap(), 11);
        assert_eq!(s.get_str(0, b"k").unwrap().unwrap().to_vec(), b"Hello Redis");
        assert_eq!(s.setrange(0, b"z", 3, b"x", 512 << 20).unwrap(), 4);
        assert_eq!(s.get_str(0, b"z").unwrap().unwrap().to_vec(), b"\0\0\0x");
        assert_eq!(s.setrange(0, b"none", 3, b"", 512 << 20).unwrap(), 0);
        assert!(!s.exists(0, b"none"));
    }

    #[test]
    fn lcs_matches_redis_example() {
        let (s, m) = lcs(b"ohmytext", b"mynewtext");
        assert_eq!(s, b"mytext");
        assert_eq!(m, vec![LcsMatch { a: (4, 7), b: (5, 8), len: 4 }, LcsMatch { a: (2, 3), b: (0, 1), len: 2 }]);
    }
}
