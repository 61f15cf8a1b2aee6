//! Bitmap operations on string values (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD),
//! following Redis 7.0's bitops.c: bit 0 is the most significant bit of the first byte, a
//! write past the end grows the string with zero bytes, a missing key reads as zeros.

use crate::keyspace::Shard;
use crate::value::{StrValue, Value};
use crate::{OpError, OpResult};

/// BITFIELD's OVERFLOW modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation, already parsed.
#[derive(Debug, Clone, Copy)]
pub enum FieldOp {
    Get { signed: bool, bits: u32, offset: u64 },
    Set { signed: bool, bits: u32, offset: u64, value: i64, overflow: Overflow },
    Incr { signed: bool, bits: u32, offset: u64, incr: i64, overflow: Overflow },
}

impl Shard {
    /// The key's string, grown with zeros so that `min_len` bytes exist; created if missing
    /// (Redis's lookupStringForBitCommand).
    /// Also whether the string was created or grown (Redis then counts the write as a change
    /// even when no bit flipped).
    fn bits_for_write(&mut self, db: usize, key: &[u8], min_len: usize) -> OpResult<(&mut Vec<u8>, bool)> {
        let exists = match self.lookup_mut(db, key) {
            Some(e) => match &*e.value() {
                Value::Str(_) => true,
                _ => return Err(OpError::WrongType),
            },
            None => false,
        };
        if !exists {
            self.store(db, key, Value::Str(StrValue::Raw(Vec::new())), None, false);
        }
        let Some(e) = self.lookup_mut(db, key) else { return Err(OpError::NoSuchKey) };
        let Value::Str(s) = e.value_mut() else { return Err(OpError::WrongType) };
        let raw = s.make_raw();
        let grown = !exists || raw.len() < min_len;
        if raw.len() < min_len {
            raw.resize(min_len, 0);
        }
        Ok((raw, grown))
    }

    /// Reads the key's bytes (None when missing); WRONGTYPE for other types.
    pub fn with_string_bytes<R>(&mut self, db: usize, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> OpResult<R> {
        match self.get_str(db, key)? {
            Some(v) => Ok(v.with_bytes(|b| f(Some(b)))),
            None => Ok(f(None)),
        }
    }

    /// SETBIT: returns the previous bit, and the changes Redis counts (1 when the bit flipped
    /// or the string was created or grown, else 0).
    pub fn setbit(&mut self, db: usize, key: &[u8], offset: u64, on: bool) -> OpResult<(bool, u64)> {
        let byte = (offset >> 3) as usize;
        let (raw, grown) = self.bits_for_write(db, key, byte + 1)?;
        let mask = 1u8 << (7 - (offset & 7));
        let old = raw[byte] & mask != 0;
        if on {
            raw[byte] |= mask;
        } else {
            raw[byte] &= !mask;
        }
        Ok((old, u64::from(old != on || grown)))
    }

    /// BITFIELD: runs the operations in order; None for an operation that failed on overflow.
    /// Also the changes Redis counts: the writes that changed a field (a SET of a different
    /// value, every INCRBY), or every write done (overflow FAIL skips one) when the string was
    /// created or grown.
    pub fn bitfield(&mut self, db: usize, key: &[u8], ops: &[FieldOp]) -> OpResult<(Vec<Option<i64>>, u64)> {
        let Some(highest) = highest_written_bit(ops) else {
            // Read-only: a missing key reads as zeros and is not created.
            return self.with_string_bytes(db, key, |b| {
                let b = b.unwrap_or(&[]);
                let out = ops
                    .iter()
                    .map(|op| match *op {
                        FieldOp::Get { signed, bits, offset } => Some(get_field(b, offset, bits, signed)),
                        _ => None,
                    })
                    .collect();
                (out, 0)
            });
        };
        let (raw, grown) = self.bits_for_write(db, key, (highest >> 3) as usize + 1)?;
        let mut out = Vec::with_capacity(ops.len());
        let (mut changed, mut done) = (0, 0);
        for op in ops {
            match *op {
                FieldOp::Get { signed, bits, offset } => out.push(Some(get_field(raw, offset, bits, signed))),
                FieldOp::Set { signed, bits, offset, value, overflow } => {
                    let old = get_field(raw, offset, bits, signed);
                    match fit(value, 0, bits, signed, overflow) {
                        Some(v) => {
                            set_field(raw, offset, bits, v as u64);
                            changed += u64::from(get_field(raw, offset, bits, signed) != old);
                            done += 1;
                            out.push(Some(old));
                        }
                        None => out.push(None),
                    }
                }
                FieldOp::Incr { signed, bits, offset, incr, overflow } => {
                    let old = get_field(raw, offset, bits, signed);
                    match fit(old, incr, bits, signed, overflow) {
                        Some(v) => {
                            set_field(raw, offset, bits, v as u64);
                            changed += 1;
                            done += 1;
                            out.push(Some(v));
                        }
                        None => out.push(None),
                    }
                }
            }
        }
        Ok((out, if grown { done } else { changed }))
    }
}

/// The highest bit BITFIELD's operations write (None: they only read).
fn highest_written_bit(ops: &[FieldOp]) -> Option<u64> {
    ops.iter()
        .filter_map(|op| match *op {
            FieldOp::Set { bits, offset, .. } | FieldOp::Incr { bits, offset, .. } => Some(offset + bits as u64 - 1),
            FieldOp::Get { .. } => None,
        })
        .max()
}

/// Bit `i` of `b` (MSB first); zero past the end.
#[inline]
fn bit_at(b: &[u8], i: u64) -> u64 {
    let byte = (i >> 3) as usize;
    if byte >= b.len() {
        return 0;
    }
    ((b[byte] >> (7 - (i & 7))) & 1) as u64
}

/// Reads a `bits`-wide field at bit `offset` (getUnsignedBitfield / getSignedBitfield).
pub fn get_field(b: &[u8], offset: u64, bits: u32, signed: bool) -> i64 {
    let mut v: u64 = 0;
    for i in 0..bits as u64 {
        v = (v << 1) | bit_at(b, offset + i);
    }
    if signed && bits < 64 && v & (1 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

fn set_field(b: &mut [u8], offset: u64, bits: u32, v: u64) {
    for i in 0..bits as u64 {
        let bit = (v >> (bits as u64 - 1 - i)) & 1;
        let pos = offset + i;
        let byte = (pos >> 3) as usize;
        let mask = 1u8 << (7 - (pos & 7));
        if bit == 1 {
            b[byte] |= mask;
        } else {
            b[byte] &= !mask;
        }
    }
}

/// value + incr fitted to the field (Redis's checkSignedBitfieldOverflow /
/// checkUnsignedBitfieldOverflow): None when it overflows under FAIL.
fn fit(value: i64, incr: i64, bits: u32, signed: bool, ow: Overflow) -> Option<i64> {
    if signed {
        let max: i128 = if bits == 64 { i64::MAX as i128 } else { (1i128 << (bits - 1)) - 1 };
        let min: i128 = -max - 1;
        let sum = value as i128 + incr as i128;
        if sum >= min && sum <= max {
            return Some(sum as i64);
        }
        match ow {
            Ow::Fail => None,
            Ow::Sat => Some(if sum > max { max as i64 } else { min as i64 }),
            Ow::Wrap => {
                let c = (value as u64).wrapping_add(incr as u64);
                if bits == 64 {
                    return Some(c as i64);
                }
                let msb = 1u64 << (bits - 1);
                let mask = u64::MAX << bits;
                Some(if c & msb != 0 { (c | mask) as i64 } else { (c & !mask) as i64 })
            }
        }
    } else {
        let max: i128 = (1i128 << bits) - 1;
        let v = value as u64 as i128;
        let sum = v + incr as i128;
        if sum >= 0 && sum <= max {
            return Some(sum as i64);
        }
        match ow {
            Ow::Fail => None,
            Ow::Sat => Some(if sum > max { max as i64 } else { 0 }),
            Ow::Wrap => Some(((value as u64).wrapping_add(incr as u64) & ((1u64 << bits) - 1)) as i64),
        }
    }
}

use Overflow as Ow;

/// Resolves a [start, end] range the way BITCOUNT/BITPOS do: negative from the end, clamped.
/// Returns inclusive bit positions, or None for an empty range.
pub fn bit_range(len_bytes: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len_bytes as i64 * 8 } else { len_bytes as i64 };
    let (mut s, mut e) = (start, end);
    if s < 0 {
        s += total;
    }
    if e < 0 {
        e += total;
    }
    s = s.max(0);
    e = e.max(0);
    if e >= total {
        e = total - 1;
    }
    if s > e || total == 0 {
        return None;
    }
    if in_bits {
        Some((s as u64, e as u64))
    } else {
        Some((s as u64 * 8, e as u64 * 8 + 7))
    }
}

/// Set bits in the inclusive bit range.
pub fn popcount(b: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut n: u64 = b[fb..=lb].iter().map(|x| x.count_ones() as u64).sum();
    // Take off the bits of the edge bytes outside the range.
    let head = (first & 7) as u32;
    if head > 0 {
        n -= (b[fb] >> (8 - head)).count_ones() as u64;
    }
    let tail = 7 - (last & 7) as u32;
    if tail > 0 {
        n -= (b[lb] & ((1u8 << tail) - 1)).count_ones() as u64;
    }
    n
}

/// First bit equal to `bit` in the inclusive bit range.
pub fn first_bit(b: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut i = first;
    while i <= last {
        if i & 7 == 0 && i + 7 <= last && b[(i >> 3) as usize] == skip {
            i += 8;
            continue;
        }
        if (bit_at(b, i) == 1) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITOP over the sources; the result is as long as the longest source (shorter ones read
/// as zero bytes).
pub fn bitop(op: &[u8], sources: &[Vec<u8>]) -> Vec<u8> {
    let maxlen = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    for (i, o) in out.iter_mut().enumerate() {
        let byte = |s: &Vec<u8>| s.get(i).copied().unwrap_or(0);
        *o = match op {
            b"not" => !byte(&sources[0]),
            b"and" => sources.iter().map(byte).fold(0xFF, |a, b| a & b),
            b"or" => sources.iter().map(byte).fold(0, |a, b| a | b),
            _ => sources.iter().map(byte).fold(0, |a, b| a ^ b),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setbit_getbit_grow_and_read_back() {
        let mut s = Shard::new(0, 1);
        assert_eq!(s.setbit(0, b"k", 7, true).map(|r| r.0), Ok(false));
        assert_eq!(s.get_str(0, b"k").unwrap().unwrap().to_vec(), vec![1u8]);
        assert_eq!(s.setbit(0, b"k", 7, true).map(|r| r.0), Ok(true));
        assert_eq!(s.setbit(0, b"k", 100, true).map(|r| r.0), Ok(false));
        assert_eq!(s.strlen(0, b"k"), Ok(13));
    }

    #[test]
    fn counts_and_positions() {
        let b = b"foobar";
        let all = bit_range(b.len(), 0, -1, false).unwrap();
        assert_eq!(popcount(b, all.0, all.1), 26);
        let r = bit_range(b.len(), 1, 1, false).unwrap();
        assert_eq!(popcount(b, r.0, r.1), 6);
        let r = bit_range(b.len(), 5, 30, true).unwrap();
        assert_eq!(popcount(b, r.0, r.1), 17);
        assert_eq!(first_bit(&[0xff, 0xf0, 0x00], 0, 23, false), Some(12));
        assert_eq!(first_bit(&[0x00, 0xff, 0xf0], 0, 23, true), Some(8));
    }

    #[test]
    fn bitfield_overflow_modes() {
        assert_eq!(fit(127, 1, 8, true, Overflow::Wrap), Some(-128));
        assert_eq!(fit(127, 1, 8, true, Overflow::Sat), Some(127));
        assert_eq!(fit(127, 1, 8, true, Overflow::Fail), None);
        assert_eq!(fit(255, 1, 8, false, Overflow::Wrap), Some(0));
        assert_eq!(fit(0, -1, 8, false, Overflow::Sat), Some(0));
        let mut s = Shard::new(0, 1);
        let ops = [FieldOp::Set { signed: false, bits: 8, offset: 0, value: 255, overflow: Overflow::Wrap }, FieldOp::Get { signed: true, bits: 8, offset: 0 }];
        assert_eq!(s.bitfield(0, b"k", &ops), Ok((vec![Some(0), Some(-1)], 1)));
    }
}
