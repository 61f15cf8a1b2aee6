//! The hash value type: field -> value, in one of Redis 7.0's two encodings.
//!
//! - `listpack` (small hashes): a `Vec` of (field, value) pairs in insertion order, searched
//!   linearly, as Redis walks its listpack. New fields go to the tail, an updated field keeps
//!   its place and a deleted one closes the gap, so iteration order is Redis's.
//! - `hashtable`: the crate's [`Dict`] keyed by field, which gives HSCAN Redis's cursor
//!   guarantees and HRANDFIELD its fair random sampling.
//!
//! Values are [`Bytes`]: up to 22 bytes are kept inside the pair or the table node itself, so a
//! typical short value costs no allocation of its own.
//!
//! Invariants: a hash is converted to `hashtable` when it would hold more than
//! `hash-max-listpack-entries` fields, or a field or value longer than
//! `hash-max-listpack-value` bytes (Redis's hashTypeTryConversion / hashTypeSet rules), and
//! never back. A listpack never holds the same field twice.

use std::fmt;

use crate::bytes::Bytes;
use crate::dict::{self, Dict};
use crate::types::Limits;

/// One (field, value) of the listpack encoding.
pub type Pair = (Box<[u8]>, Bytes);

/// A Redis hash value.
pub enum Hash {
    Listpack(Vec<Pair>),
    Table(Box<Table>),
}

/// The `hashtable` encoding: the fields, and the heap bytes of fields and values (so memory
/// figures are O(1)). Read access derefs to the [`Dict`]; writes go through the methods here.
#[derive(Default)]
pub struct Table {
    dict: Dict<Bytes>,
    content_bytes: usize,
}

impl std::ops::Deref for Table {
    type Target = Dict<Bytes>;

    fn deref(&self) -> &Dict<Bytes> {
        &self.dict
    }
}

impl Table {
    /// Inserts or replaces; true if the field is new. One hash; the field is copied only when
    /// it is new.
    fn insert(&mut self, field: &[u8], value: Bytes) -> bool {
        let added = value.heap_len();
        let mut value = Some(value);
        let (slot, new) = self.dict.get_or_insert_with(field, || value.take().unwrap_or_else(|| Bytes::new(b"")));
        if new {
            self.content_bytes += crate::evict::key_heap_bytes(field.len()) + added;
        } else if let Some(v) = value {
            self.content_bytes = self.content_bytes + added - slot.heap_len();
            *slot = v;
        }
        new
    }

    /// Inserts a field known to be new, already owned (conversion from a listpack).
    fn insert_new(&mut self, field: Box<[u8]>, value: Bytes) {
        self.content_bytes += crate::evict::key_heap_bytes(field.len()) + value.heap_len();
        self.dict.insert_owned(field, value);
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.dict.remove(field) {
            Some(v) => {
                self.content_bytes -= crate::evict::key_heap_bytes(field.len()) + v.heap_len();
                true
            }
            None => false,
        }
    }
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Listpack(Vec::new())
    }
}

impl Clone for Hash {
    /// COPY duplicates a hash in its encoding (Redis's hashTypeDup keeps it too).
    fn clone(&self) -> Hash {
        match self {
            Hash::Listpack(v) => Hash::Listpack(v.clone()),
            Hash::Table(d) => {
                let mut out = Box::<Table>::default();
                for (f, v) in d.iter() {
                    out.insert_new(f.into(), v.clone());
                }
                Hash::Table(out)
            }
        }
    }
}

impl PartialEq for Hash {
    /// Same fields with the same values, whatever the encoding or order.
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

impl Hash {
    /// Fields in the hash.
    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.len(),
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Heap bytes held (for memory figures): the pair array or the table with its nodes, plus
    /// every field and value. O(1) for a table; a listpack is summed (it is small: bounded by
    /// hash-max-listpack-entries, and every listpack operation is a scan of it anyway).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Listpack(v) => v.capacity() * std::mem::size_of::<Pair>() + v.iter().map(|(f, val)| f.len() + val.heap_len()).sum::<usize>(),
            Hash::Table(d) => std::mem::size_of::<Table>() + d.overhead_bytes() + d.content_bytes,
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Listpack(v) => v.iter().find(|(f, _)| **f == *field).map(|(_, v)| &**v),
            Hash::Table(d) => d.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts a listpack about to receive these field/value lengths if any is longer than
    /// hash-max-listpack-value (hashTypeTryConversion, checked before anything is written).
    pub fn convert_for_lengths(&mut self, lens: impl IntoIterator<Item = usize>, limits: &Limits) {
        if matches!(self, Hash::Listpack(_)) && lens.into_iter().any(|l| l > limits.hash_max_listpack_value) {
            self.convert_to_table();
        }
    }

    /// Sets `field` to `value`; returns true if the field is new (hashTypeSet). A listpack is
    /// converted first if either is too long, and after the write if it has too many fields.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        self.convert_for_lengths([field.len(), value.len()], limits);
        match self {
            Hash::Listpack(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| **f == *field) {
                    slot.1 = value.into();
                    return false;
                }
                v.push((field.into(), value.into()));
                if v.len() > limits.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                true
            }
            Hash::Table(d) => d.insert(field, value.into()),
        }
    }

    /// Deletes `field`; returns whether it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(v) => match v.iter().position(|(f, _)| **f == *field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.remove(field),
        }
    }

    /// listpack -> hashtable, keeping every pair (hashTypeConvertListpack).
    pub fn convert_to_table(&mut self) {
        if let Hash::Listpack(v) = self {
            let mut d = Box::<Table>::default();
            for (f, val) in std::mem::take(v) {
                d.insert_new(f, val);
            }
            *self = Hash::Table(d);
        }
    }

    /// Every (field, value): insertion order for a listpack, bucket order for a table.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(v) => Iter::Listpack(v.iter()),
            Hash::Table(d) => Iter::Table(d.iter()),
        }
    }
}

/// Iterator over a hash's (field, value) pairs.
pub enum Iter<'a> {
    Listpack(std::slice::Iter<'a, Pair>),
    Table(dict::Iter<'a, Bytes>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => it.next().map(|(f, v)| (&**f, &**v)),
            Iter::Table(it) => it.next().map(|(f, v)| (f, &**v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> Limits {
        Limits { hash_max_listpack_entries: entries, hash_max_listpack_value: value, ..Limits::default() }
    }

    #[test]
    fn listpack_keeps_insertion_order_and_updates_in_place() {
        let l = Limits::default();
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1", &l));
        assert!(h.set(b"b", b"2", &l));
        assert!(h.set(b"c", b"3", &l));
        assert!(!h.set(b"a", b"10", &l));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        let pairs: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(pairs, vec![(b"a".to_vec(), b"10".to_vec()), (b"c".to_vec(), b"3".to_vec())]);
        assert_eq!(h.encoding_name(), "listpack");
    }

    #[test]
    fn converts_past_entry_count_and_never_back() {
        let l = limits(4, 64);
        let mut h = Hash::default();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f4", b"v", &l);
        assert_eq!((h.encoding_name(), h.len()), ("hashtable", 5));
        for i in 0..5 {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        h.set(b"x", b"y", &l);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn converts_on_long_field_or_value() {
        let l = limits(128, 8);
        let mut h = Hash::default();
        h.set(b"12345678", b"12345678", &l);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"k", b"123456789", &l);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"12345678"), Some(&b"12345678"[..]));
        let mut g = Hash::default();
        g.set(b"123456789", b"v", &l);
        assert_eq!(g.encoding_name(), "hashtable");
    }

    #[test]
    fn clone_and_eq_ignore_encoding() {
        let mut a = Hash::default();
        let mut b = Hash::default();
        for i in 0..10 {
            a.set(format!("f{i}").as_bytes(), b"v", &limits(128, 64));
            b.set(format!("f{}", 9 - i).as_bytes(), b"v", &limits(2, 64));
        }
        assert_eq!(b.encoding_name(), "hashtable");
        assert_eq!(a, b);
        assert_eq!(b.clone(), a);
        b.set(b"f0", b"w", &limits(2, 64));
        assert_ne!(a, b);
    }
}
