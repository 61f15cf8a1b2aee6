//! shardis's engine: the data one shard owns and the operations on it.
//!
//! Everything here is plain synchronous `&mut self` code: no sockets, no RESP framing, no async
//! runtime. A [`Shard`] is owned by exactly one thread at a time (its shard thread, or the
//! coordinator while that shard is held), so nothing inside needs locks.

pub mod bytes;
pub mod dict;
pub mod digest;
pub mod effects;
pub mod entry;
pub mod evict;
pub mod glob;
pub mod keyspace;
pub mod longdouble;
pub mod ops;
pub mod rdb;
pub mod route;
pub mod snapshot;
pub mod types;
pub mod value;
pub mod volatile;

pub use keyspace::{Db, Entry, Shard};
pub use value::{StrValue, Value};

/// What an engine operation can fail with. Hot-path outcomes (not found, wrong type) are plain
/// variants so they never allocate; the server maps each to Redis's exact error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    IncrNanOrInf,
    NoSuchKey,
    SameObject,
    StringTooLong,
    OutOfRange,
    InvalidExpire(&'static str),
    Syntax,
    DbIndexOutOfRange,
}

pub type OpResult<T> = Result<T, OpError>;
