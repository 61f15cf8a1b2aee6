//! Engine operations, one file per Redis command family. Each op takes already-parsed
//! arguments, works on one shard's keyspace, and returns data for the handler to reply with.

pub mod bitmap;
pub mod hash;
pub mod keys;
pub mod list;
pub mod set;
pub mod sort;
pub mod string;
pub mod zset;

/// How a write treats the key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the current TTL (SET KEEPTTL, SETRANGE, APPEND, INCR...).
    Keep,
    /// Set this absolute expiry, ms since the epoch.
    At(i64),
}

/// What a *STORE command did to its destination: how many elements it stored, and whether the
/// key changed (an empty result deletes the key; with no key there, nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub len: usize,
    pub changed: bool,
}

impl crate::Shard {
    /// The destination of a *STORE command: `value()` (of `len` elements) replaces the key and
    /// its TTL, or an empty result deletes it.
    pub fn store_or_delete(&mut self, db: usize, key: &[u8], len: usize, value: impl FnOnce() -> crate::Value) -> Stored {
        if len == 0 {
            return Stored { len, changed: self.remove(db, key).is_some() };
        }
        self.store(db, key, value(), None, false);
        Stored { len, changed: true }
    }
}
