//! Black-box tests: every test starts the real `shardis` binary on a free port and talks to it
//! over TCP, with the minimal RESP client in `harness` or with the `redis` crate.
//!
//! Tests are named after the Redis Tcl test they mirror where one exists, so Redis's own suite
//! stays the checklist. Most run once with `--shards 1` and once with `--shards 4`
//! ([`harness::for_each_shards`]), because routing, forwarding and the coordinator only come
//! into play with several shards.

#[path = "integration/harness.rs"]
mod harness;

#[path = "integration/aof.rs"]
mod aof;
#[path = "integration/aof_rewrite.rs"]
mod aof_rewrite;
#[path = "integration/blocking.rs"]
mod blocking;
#[path = "integration/config.rs"]
mod config;
#[path = "integration/connection.rs"]
mod connection;
#[path = "integration/cross_shard.rs"]
mod cross_shard;
#[path = "integration/dump.rs"]
mod dump;
#[path = "integration/keys.rs"]
mod keys;
#[path = "integration/memory.rs"]
mod memory;
#[path = "integration/memory_figures.rs"]
mod memory_figures;
#[path = "integration/protocol.rs"]
mod protocol;
#[path = "integration/pubsub.rs"]
mod pubsub;
#[path = "integration/rdb.rs"]
mod rdb;
#[path = "integration/server.rs"]
mod server;
#[path = "integration/snapshot.rs"]
mod snapshot;
#[path = "integration/sort.rs"]
mod sort;
#[path = "integration/strings.rs"]
mod strings;
#[path = "integration/watch.rs"]
mod watch;
