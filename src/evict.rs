//! maxmemory on the server side: each shard's eviction settings derived from the config, the
//! check Redis's processCommand makes before a command runs (performEvictions, then `-OOM` for
//! a DENYOOM command when nothing more can be evicted), and the cron that catches up after
//! maxmemory shrinks. The accountant and the policies are the engine's ([`shards::evict`]).
//!
//! The OOM decision uses the shard's own dataset figure, never the process's allocator count:
//! client buffers, the AOF buffers and the effect log are not the dataset (invariant I1).

use std::sync::atomic::Ordering::Relaxed;

use shards::evict::{EvictConfig, EvictOutcome, Policy};

use crate::config::{Config, MaxmemoryPolicy};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::server::Server;
use crate::shard::ShardCore;

/// A shard's eviction settings: its share of maxmemory and of the baseline (see
/// [`shards::evict`]'s module docs for how the budget is split).
pub fn shard_config(c: &Config, nshards: usize, baseline: u64, version: u64) -> EvictConfig {
    let n = nshards.max(1) as u64;
    EvictConfig {
        limit: if c.maxmemory == 0 { 0 } else { (c.maxmemory / n).max(1) },
        // At least one byte, so that a limit below the baseline refuses writes even with no
        // data (Redis's `used_memory > maxmemory` with maxmemory 1).
        baseline: (baseline / n).max(1),
        policy: policy(c),
        samples: c.maxmemory_samples as usize,
        tenacity: c.maxmemory_eviction_tenacity,
        lfu_log_factor: c.lfu_log_factor,
        lfu_decay_time: c.lfu_decay_time,
        version,
    }
}

/// The engine's name for the configured maxmemory-policy.
pub fn policy(c: &Config) -> Policy {
    match c.maxmemory_policy {
        MaxmemoryPolicy::VolatileLru => Policy::VolatileLru,
        MaxmemoryPolicy::VolatileLfu => Policy::VolatileLfu,
        MaxmemoryPolicy::VolatileRandom => Policy::VolatileRandom,
        MaxmemoryPolicy::VolatileTtl => Policy::VolatileTtl,
        MaxmemoryPolicy::AllkeysLru => Policy::AllkeysLru,
        MaxmemoryPolicy::AllkeysLfu => Policy::AllkeysLfu,
        MaxmemoryPolicy::AllkeysRandom => Policy::AllkeysRandom,
        MaxmemoryPolicy::NoEviction => Policy::NoEviction,
    }
}

/// What a snapshot keeps of each key's access history under the configured policy (IDLE
/// under LRU, FREQ under LFU).
pub fn key_access(c: &Config) -> shards::rdb::KeyAccess {
    shards::rdb::KeyAccess::of(policy(c), c.lfu_decay_time)
}

/// Brings the shard's eviction settings up to date after a CONFIG SET (one atomic load when
/// nothing changed).
#[inline]
pub fn refresh(server: &Server, core: &mut ShardCore) {
    let version = server.config_generation.load(Relaxed);
    if core.engine.evict.config.version != version {
        let baseline = server.evict_baseline.load(Relaxed);
        core.engine.set_evict_config(shard_config(&server.config(), server.nshards, baseline, version));
    }
}

/// Evicts on one shard until it is under its limit or out of time; the outcome is also kept in
/// the server's count of shards that could not get under their limit.
pub fn perform(server: &Server, core: &mut ShardCore) -> EvictOutcome {
    refresh(server, core);
    if core.engine.evict.config.limit == 0 {
        set_failing(server, core, false);
        return EvictOutcome::Ok;
    }
    let shard = core.engine.id;
    let watched = server.any_watched(shard);
    let outcome = core.engine.perform_evictions(|db, key| {
        // An evicted key is a modified key to WATCH (signalModifiedKey).
        if watched {
            server.touch_watched(shard, db, key);
        }
    });
    set_failing(server, core, outcome == EvictOutcome::Fail);
    outcome
}

fn set_failing(server: &Server, core: &mut ShardCore, failing: bool) {
    if core.evict_failing != failing {
        core.evict_failing = failing;
        if failing {
            server.evict_failing.fetch_add(1, Relaxed);
        } else {
            server.evict_failing.fetch_sub(1, Relaxed);
        }
    }
}

/// Before a keyspace command runs (processCommand): eviction on every shard it touches; a
/// DENYOOM command is refused if one of them stays over its limit with nothing left to evict.
/// Eviction that ran out of time lets the command run (the shard catches up next time).
#[inline]
pub fn before_command(x: &mut Exec<'_>) -> Result<(), CmdError> {
    let server = x.server;
    let mut oom = false;
    x.for_each_core(|c| {
        refresh(server, c);
        if c.engine.evict.config.limit != 0 || c.evict_failing {
            oom |= perform(server, c) == EvictOutcome::Fail;
        }
    });
    if oom && x.spec.has(crate::command::flag::DENYOOM) {
        return Err(CmdError::Static(e::OOM));
    }
    Ok(())
}

/// EXEC: refused as a whole when a queued command is DENYOOM and a shard it touches cannot get
/// under its limit (Redis treats EXEC as DENYOOM when its transaction holds one).
pub fn before_exec(server: &Server, cores: &[Option<*mut ShardCore>], any_denyoom: bool) -> Result<(), CmdError> {
    let mut oom = false;
    for &p in cores.iter().flatten() {
        // SAFETY: held by the coordinator; each reference ends before the next is made.
        let c = unsafe { &mut *p };
        refresh(server, c);
        if c.engine.evict.config.limit != 0 || c.evict_failing {
            oom |= perform(server, c) == EvictOutcome::Fail;
        }
    }
    if oom && any_denyoom {
        return Err(CmdError::Static(e::OOM));
    }
    Ok(())
}

/// From the shard's cron: keeps evicting while over the limit. True while there is more to do
/// soon (the time limit stopped it), so cron comes back sooner.
pub fn cron(server: &Server, core: &mut ShardCore) -> bool {
    refresh(server, core);
    if core.engine.evict.config.limit == 0 && !core.evict_failing {
        return false;
    }
    perform(server, core) == EvictOutcome::Running
}

/// Whether a command refused with this error text was rejected before running (an OOM
/// refusal), for the command statistics (rejected_calls rather than failed_calls).
pub fn is_rejection(text: &[u8]) -> bool {
    text.starts_with(b"OOM ") || text.starts_with(b"-OOM ")
}
