//! shardis: a Redis-compatible in-memory data server, thread-per-core on io_uring.
//!
//! Where things live: `protocol` parses requests and writes replies; `command` holds the
//! command table and one file per command family; `connection` serves a client; `shard` runs a
//! shard's runtime, mailbox and cron; `coordinator` runs commands that span shards; `boot`
//! starts it all; `config`, `info`, `stats`, `alloc` and `server` are the rest. The keyspace
//! itself is the `shards` crate.

pub mod alloc;
pub mod aof;
pub mod boot;
pub mod command;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod dispatch;
pub mod effects;
pub mod evict;
pub mod info;
pub mod protocol;
pub mod pubsub;
pub mod server;
pub mod shard;
pub mod snapshot;
pub mod stats;
