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
