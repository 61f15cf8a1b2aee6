//! The keyspace one shard owns: its databases, each key's entry (value, expiry, access clock),
//! lazy and active expiry, and the shard's keyspace statistics.
//!
//! Invariants:
//! - A key with a TTL has its expiry in its node in `Db::main` (see [`crate::entry`]) and its
//!   table hash in `Db::volatile` (a [`VolatileIndex`], 8 bytes a key, used only to count and
//!   sample TTL keys for active expiry and the volatile-* eviction policies), at the position
//!   its node records. Every path that links, unlinks or reshapes a node indexes a node that
//!   gained a TTL and un-indexes one that lost it ([`Db::take_node`], `reindex`); a key without
//!   a TTL never touches the index.
//! - An expired key is never returned: every lookup goes through [`Shard::lookup`] /
//!   [`Shard::lookup_mut`], which delete it first (Redis's expireIfNeeded).
//! - `Db::bytes` is what the database's entries cost (see [`crate::evict`]): every path that
//!   adds, replaces or removes an entry books the difference, and one that hands out an entry
//!   for an in-place write opens it for [`Shard::settle`]; every path that removes entries
//!   settles first.

use crate::entry::{KeyNode, KeyTable};
use crate::evict::{self, entry_bytes, Evictor};
use crate::value::Value;
use crate::volatile::VolatileIndex;

/// One key's data, owned outside the keyspace (moved by RENAME/MOVE/COPY, built by RESTORE and
/// loading); inside, it is a compact [`KeyNode`]. `expire_at` is an absolute Unix time in
/// milliseconds, 0 when the key has no TTL (a TTL in the past deletes the key, so 0 is never a
/// live expiry).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: i64,
    /// Last access: in the low 24 bits, the LRU clock (seconds) or, under an LFU policy, 16
    /// bits of minutes and an 8-bit access counter (Redis's robj `lru` field, see
    /// [`crate::evict`]). The top 8 bits are not the clock's.
    pub lru: u32,
    /// Snapshot colour (see [`crate::snapshot`]): sits in what was padding after `lru`.
    pub(crate) colour: bool,
}

impl Entry {
    pub fn new(value: Value, expire_at: i64, lru: u32) -> Entry {
        Entry { value, expire_at, lru, colour: false }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
}

#[derive(Default)]
pub struct Db {
    pub main: KeyTable,
    pub volatile: VolatileIndex,
    /// Estimated average TTL of volatile keys (INFO keyspace avg_ttl), updated by active expiry.
    pub avg_ttl: i64,
    /// What the entries cost, bucket arrays excluded ([`crate::evict::entry_bytes`] summed).
    pub bytes: usize,
}

impl Db {
    pub fn len(&self) -> usize {
        self.main.len()
    }

    pub fn is_empty(&self) -> bool {
        self.main.is_empty()
    }

    pub fn expires(&self) -> usize {
        self.volatile.len()
    }

    pub fn clear(&mut self) {
        self.main.clear();
        self.volatile.clear();
        self.avg_ttl = 0;
        self.bytes = 0;
    }

    /// Unlinks `key`'s node: its bytes are booked off and its TTL, if any, un-indexed.
    pub(crate) fn take_node(&mut self, key: &[u8]) -> Option<KeyNode> {
        let n = self.main.remove(key)?;
        self.bytes -= entry_bytes(&n);
        if let Some(pos) = n.volatile_pos() {
            self.volatile.remove(&mut self.main, pos);
        }
        Some(n)
    }

    /// Checks the volatile index against the table exactly (see [`crate::volatile`]).
    #[cfg(test)]
    pub(crate) fn check_volatile(&self) {
        let len = self.volatile.len();
        let mut seen = vec![false; len];
        let mut ttl_nodes = 0;
        for n in self.main.nodes() {
            let Some(pos) = n.volatile_pos() else { continue };
            ttl_nodes += 1;
            let key = String::from_utf8_lossy(n.key());
            assert!((pos as usize) < len, "{key}: volatile position {pos} out of {len}");
            assert!(!std::mem::replace(&mut seen[pos as usize], true), "{key}: volatile position {pos} taken twice");
            assert_eq!(self.volatile.hash_at(pos as usize), Some(self.main.hash_of(n.key())), "{key}: position {pos} holds another hash");
        }
        assert_eq!(len, ttl_nodes, "index length vs TTL nodes");
        for pos in 0..len {
            let n = self.volatile.node(&self.main, pos);
            assert_eq!(n.and_then(KeyNode::volatile_pos), Some(pos as u32), "position {pos} resolves to no TTL node");
        }
    }
}

/// After a node (hash `h`) was written: indexes it if it gained a TTL (it had none, `old_pos`
/// None); returns the position to un-index if it lost one (after the node's borrow ends:
/// un-indexing moves another node's position, see [`VolatileIndex::remove`]).
#[inline]
fn reindex(volatile: &mut VolatileIndex, h: u64, node: &mut KeyNode, old_pos: Option<u32>) -> Option<u32> {
    match (old_pos, node.volatile_pos()) {
        (None, Some(_)) => {
            volatile.add(h, node);
            None
        }
        (Some(pos), None) => Some(pos),
        _ => None,
    }
}

/// Keyspace counters INFO stats reports (summed over shards).
#[derive(Default, Debug, Clone)]
pub struct KeyspaceStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expired_time_cap_reached_count: u64,
    pub evicted_keys: u64,
    /// Time spent in active expiry cycles (INFO expire_cycle_cpu_milliseconds).
    pub expire_cycle_cpu_us: u64,
}

pub struct Shard {
    pub id: usize,
    pub dbs: Vec<Db>,
    pub stats: KeyspaceStats,
    /// Every change to the dataset, as commands (see [`crate::effects`]).
    pub effects: crate::effects::EffectLog,
    /// While Some, the keys expiry deletes are collected here (the owner sets it when clients
    /// WATCH keys of this shard: an expired watched key aborts their EXEC, as in Redis).
    pub expired_log: Option<Vec<(usize, Vec<u8>)>>,
    /// Eviction: the policy and limit, the candidate pool, the accountant's open key.
    pub evict: Evictor,
    /// Cached wall clock in ms, refreshed by the owner once per loop turn ([`Shard::set_now`]):
    /// commands read it instead of the system clock (Redis's mstime cache, server.mstime).
    now_ms: i64,
    rng: u64,
    /// The snapshot being written, if any, and the entry colour that means "written".
    pub(crate) snapshot: crate::snapshot::SnapshotState,
}

impl Shard {
    pub fn new(id: usize, databases: usize) -> Shard {
        let mut dbs = Vec::with_capacity(databases);
        dbs.resize_with(databases, Db::default);
        Shard {
            id,
            dbs,
            stats: KeyspaceStats::default(),
            effects: crate::effects::EffectLog::default(),
            expired_log: None,
            evict: Evictor::default(),
            now_ms: wall_clock_ms(),
            snapshot: Default::default(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        }
    }

    #[inline]
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    #[inline]
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The clock field for an entry created now (LRU clock, or LFU's initial counter).
    #[inline]
    pub fn fresh_lru(&self) -> u32 {
        evict::fresh(self.now_ms, &self.evict.config)
    }

    /// The clock field for a key loaded from an RDB file: its saved idle time (LRU policies)
    /// or LFU counter (LFU policies) when the file has the one the policy uses, as Redis's
    /// objectSetLRUOrLFU; otherwise a fresh one.
    pub fn loaded_lru(&self, freq: Option<u8>, idle_secs: Option<i64>) -> u32 {
        evict::restored(freq, idle_secs, self.now_ms, &self.evict.config).unwrap_or_else(|| self.fresh_lru())
    }

    pub(crate) fn rng_state(&self) -> u64 {
        self.rng
    }

    pub(crate) fn set_rng_state(&mut self, rng: u64) {
        self.rng = rng;
    }

    /// xorshift64*: cheap randomness for sampling (not for anything secret).
    pub fn next_rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Sizes database `db`'s key table for `n` keys, if it holds none yet (loading an RDB).
    pub fn reserve_keys(&mut self, db: usize, n: usize) {
        if let Some(d) = self.dbs.get_mut(db) {
            d.main.reserve_empty(n);
        }
    }

    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// Most keys a [`Shard::prefetch`] call takes; the rest are looked up without it.
    pub const PREFETCH_MAX: usize = 32;

    /// Warms the cache for a pipeline of lookups about to run in `db` (no effect on results):
    /// first every key's bucket slot, then every slot's first node, so the misses of the whole
    /// batch overlap instead of costing two memory round trips per command.
    pub fn prefetch(&self, db: usize, keys: &[&[u8]]) {
        let Some(d) = self.dbs.get(db) else { return };
        if d.main.is_empty() {
            return;
        }
        let mut hashes = [0u64; Self::PREFETCH_MAX];
        let n = keys.len().min(Self::PREFETCH_MAX);
        for (h, k) in hashes.iter_mut().zip(&keys[..n]) {
            *h = d.main.hash_of(k);
            d.main.prefetch_bucket(*h);
        }
        for &h in &hashes[..n] {
            d.main.prefetch_node(h);
        }
    }

    /// Deletes `key` if it has expired. Returns true when it did.
    #[inline]
    fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        let d = &mut self.dbs[db];
        if d.volatile.is_empty() {
            return false;
        }
        let expired = match d.main.get(key) {
            Some(e) => e.is_expired(self.now_ms),
            None => false,
        };
        if expired {
            self.settle();
            self.delete_expired(db, key);
        }
        expired
    }

    /// Deletes an expired key (lazy or active expiry; the caller settled): counted, and recorded
    /// as DEL (Redis propagates an expiry as DEL).
    fn delete_expired(&mut self, db: usize, key: &[u8]) {
        self.snapshot_cow(db, key);
        self.dbs[db].take_node(key);
        self.stats.expired_keys += 1;
        self.effects.push(db, &[b"DEL", key]);
        if let Some(log) = &mut self.expired_log {
            log.push((db, key.to_vec()));
        }
    }

    /// Read access to a live key, counting a hit or a miss (lookupKeyRead).
    #[inline]
    pub fn lookup(&mut self, db: usize, key: &[u8]) -> Option<&mut KeyNode> {
        self.expire_if_needed(db, key);
        match self.dbs[db].main.get_mut(key) {
            Some(e) => {
                evict::touch(e.lru_mut(), self.now_ms, &self.evict.config, &mut self.rng);
                self.stats.keyspace_hits += 1;
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Read access that leaves the key's access clock alone (Redis's LOOKUP_NOTOUCH: TYPE,
    /// TTL and the like), counting a hit or a miss.
    pub fn lookup_notouch(&mut self, db: usize, key: &[u8]) -> Option<&KeyNode> {
        self.expire_if_needed(db, key);
        let found = self.dbs[db].main.get(key);
        if found.is_some() {
            self.stats.keyspace_hits += 1;
        } else {
            self.stats.keyspace_misses += 1;
        }
        found
    }

    /// Write access to a live key (lookupKeyWrite): no hit/miss counting. The key is opened
    /// for the accountant: its new size is booked at the next keyspace call.
    #[inline]
    pub fn lookup_mut(&mut self, db: usize, key: &[u8]) -> Option<&mut KeyNode> {
        self.settle();
        self.expire_if_needed(db, key);
        self.effects.note_write(db, key);
        self.snapshot_cow(db, key);
        let e = self.dbs[db].main.get_mut(key)?;
        evict::touch(e.lru_mut(), self.now_ms, &self.evict.config, &mut self.rng);
        Shard::open_key(&mut self.evict.open, db, key, entry_bytes(e));
        Some(e)
    }

    /// Read access (counts a hit or a miss, like [`Shard::lookup`]) for a reader that changes
    /// the value's encoding, not its contents (SORT converts a sorted set): its size is booked
    /// again, nothing is recorded as written.
    pub fn lookup_reencode(&mut self, db: usize, key: &[u8]) -> Option<&mut KeyNode> {
        self.settle();
        self.lookup(db, key)?;
        let e = self.dbs[db].main.get_mut(key)?;
        Shard::open_key(&mut self.evict.open, db, key, entry_bytes(e));
        Some(e)
    }

    /// Peek without touching the access clock or the stats (TYPE-free internal use, SCAN filters).
    pub fn peek(&mut self, db: usize, key: &[u8]) -> Option<&KeyNode> {
        self.expire_if_needed(db, key);
        self.dbs[db].main.get(key)
    }

    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.expire_if_needed(db, key);
        self.dbs[db].main.contains_key(key)
    }

    /// Stores a value. `expire_at`: `Some(ms)` sets that TTL, `None` keeps the key's current TTL
    /// if `keep_ttl`, otherwise removes it (plain SET clears a TTL; KEEPTTL keeps it).
    pub fn store(&mut self, db: usize, key: &[u8], value: Value, expire_at: Option<i64>, keep_ttl: bool) {
        self.settle();
        self.effects.note_write(db, key);
        self.snapshot_cow(db, key);
        let colour = self.snapshot.colour();
        let d = &mut self.dbs[db];
        let h = d.main.hash_of(key);
        let lost_ttl = match d.main.slot_hashed_within(h, key, self.evict.expand_room) {
            Ok(node) => {
                // An overwrite is a write access: the LFU counter carries over, counted once
                // more (setKey's lookupKeyWrite, then dbOverwrite keeping the old lru under LFU).
                evict::touch(node.lru_mut(), self.now_ms, &self.evict.config, &mut self.rng);
                d.bytes -= entry_bytes(node);
                let old_pos = node.volatile_pos();
                let new_expire = match expire_at {
                    Some(t) => t,
                    None if keep_ttl => node.expire_at(),
                    None => 0,
                };
                node.set_value(value, new_expire);
                d.bytes += entry_bytes(node);
                reindex(&mut d.volatile, h, node, old_pos)
            }
            Err(vacant) => {
                let (clock, new_expire) = (evict::fresh(self.now_ms, &self.evict.config), expire_at.unwrap_or(0));
                let node = vacant.insert(KeyNode::new(key, value, new_expire, clock, colour));
                d.bytes += entry_bytes(node);
                reindex(&mut d.volatile, h, node, None)
            }
        };
        if let Some(pos) = lost_ttl {
            d.volatile.remove(&mut d.main, pos);
        }
    }

    /// Inserts or replaces a whole entry (RENAME, COPY, MOVE, SWAP, RESTORE, loading), keeping
    /// `volatile` in step.
    pub fn put_entry(&mut self, db: usize, key: &[u8], mut entry: Entry) {
        self.settle();
        self.effects.note_write(db, key);
        self.snapshot_cow(db, key);
        // Whatever it was elsewhere, here it is new: a snapshot in progress must not write it.
        entry.colour = self.snapshot.colour();
        let d = &mut self.dbs[db];
        let h = d.main.hash_of(key);
        let lost_ttl = match d.main.slot_hashed_within(h, key, self.evict.expand_room) {
            Ok(node) => {
                d.bytes -= entry_bytes(node);
                let old_pos = node.volatile_pos();
                node.set_entry(entry);
                d.bytes += entry_bytes(node);
                reindex(&mut d.volatile, h, node, old_pos)
            }
            Err(vacant) => {
                let node = vacant.insert(KeyNode::from_entry(key, entry));
                d.bytes += entry_bytes(node);
                reindex(&mut d.volatile, h, node, None)
            }
        };
        if let Some(pos) = lost_ttl {
            d.volatile.remove(&mut d.main, pos);
        }
    }

    /// Removes a key; returns its entry if it was live.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.settle();
        self.effects.note_write(db, key);
        self.snapshot_cow(db, key);
        self.dbs[db].take_node(key).map(KeyNode::into_entry)
    }

    /// Sets or clears a live key's TTL. Returns false if the key does not exist.
    pub fn set_expire(&mut self, db: usize, key: &[u8], expire_at: i64) -> bool {
        self.settle();
        self.effects.note_write(db, key);
        self.snapshot_cow(db, key);
        let d = &mut self.dbs[db];
        // The hash is needed only to index a key that gains a TTL.
        let h = if expire_at != 0 { d.main.hash_of(key) } else { 0 };
        let Some(e) = d.main.get_mut(key) else { return false };
        let old_pos = e.volatile_pos();
        d.bytes -= entry_bytes(e);
        e.set_expire_at(expire_at);
        d.bytes += entry_bytes(e);
        if let Some(pos) = reindex(&mut d.volatile, h, e, old_pos) {
            d.volatile.remove(&mut d.main, pos);
        }
        true
    }

    pub fn flush_db(&mut self, db: usize) {
        self.settle();
        if !self.snapshot_detach(db) {
            self.dbs[db].clear();
        }
    }

    pub fn flush_all(&mut self) {
        for db in 0..self.dbs.len() {
            self.flush_db(db);
        }
    }

    pub fn swap_db(&mut self, a: usize, b: usize) {
        self.settle();
        self.dbs.swap(a, b);
        self.snapshot_swap(a, b);
    }

    /// One pass of active expiry over every database, Redis's activeExpireCycle in spirit:
    /// sample volatile keys, delete the expired ones, and keep going in a database while more
    /// than `stale_percent` of a sample was expired, until `deadline` (checked every 16 rounds).
    /// Returns true if it stopped because of the time limit.
    pub fn active_expire_cycle(&mut self, effort: u32, deadline: std::time::Instant) -> bool {
        let started = std::time::Instant::now();
        let effort = effort.clamp(1, 10) as usize - 1;
        // ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP and ACCEPTABLE_STALE, adjusted by effort as Redis does.
        let per_loop = 20 + 20 / 4 * effort;
        let acceptable_stale = 10usize.saturating_sub(effort);
        let now = self.now_ms;
        let mut sampled_total = 0usize;
        let mut expired_total = 0usize;
        let mut timed_out = false;
        let mut key = Vec::new();
        self.settle();
        for db in 0..self.dbs.len() {
            let mut rounds = 0u32;
            loop {
                let len = self.dbs[db].volatile.len();
                if len == 0 {
                    break;
                }
                // The index is dense: every sample is a TTL key. A database with no more keys
                // than a sample has each checked once, from the last position down (deleting
                // one moves the last, already checked, into its place).
                let sampled = len.min(per_loop);
                let mut expired = 0usize;
                let mut ttl_sum = 0i64;
                let mut ttl_n = 0i64;
                for i in 0..sampled {
                    let left = self.dbs[db].volatile.len();
                    if left == 0 {
                        break;
                    }
                    let pos = if len <= per_loop { sampled - 1 - i } else { (self.next_rand() % left as u64) as usize };
                    let d = &self.dbs[db];
                    let Some(n) = d.volatile.node(&d.main, pos) else {
                        debug_assert!(false, "volatile position {pos} resolves to no key");
                        continue;
                    };
                    if n.is_expired(now) {
                        key.clear();
                        key.extend_from_slice(n.key());
                        self.delete_expired(db, &key);
                        expired += 1;
                    } else {
                        ttl_sum += n.expire_at() - now;
                        ttl_n += 1;
                    }
                }
                if ttl_n > 0 {
                    let avg = ttl_sum / ttl_n;
                    let d = &mut self.dbs[db];
                    // Redis keeps a running average weighted 2% to the newest sample.
                    d.avg_ttl = if d.avg_ttl == 0 { avg } else { (d.avg_ttl / 50) * 49 + avg / 50 };
                }
                sampled_total += sampled;
                expired_total += expired;
                rounds += 1;
                if rounds.is_multiple_of(16) && std::time::Instant::now() >= deadline {
                    timed_out = true;
                    self.stats.expired_time_cap_reached_count += 1;
                    break;
                }
                if expired * 100 / sampled <= acceptable_stale {
                    break;
                }
            }
            if timed_out {
                break;
            }
        }
        if sampled_total > 0 {
            let current = expired_total as f64 / sampled_total as f64;
            self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
        }
        self.stats.expire_cycle_cpu_us += started.elapsed().as_micros() as u64;
        timed_out
    }

    /// Gives each database's tables a bounded amount of incremental rehashing and lets them
    /// shrink after mass deletions (Redis's databasesCron).
    pub fn tables_cron(&mut self, steps: usize) {
        for d in &mut self.dbs {
            d.main.shrink_if_needed();
            d.main.rehash_steps(steps);
        }
    }
}

/// The system's wall clock in milliseconds since the Unix epoch.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;

    fn s(v: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(v))
    }

    #[test]
    fn lazy_expiry_hides_and_deletes_expired_keys() {
        let mut sh = Shard::new(0, 16);
        sh.set_now(1_000);
        sh.store(0, b"k", s(b"v"), Some(1_500), false);
        assert!(sh.lookup(0, b"k").is_some());
        sh.set_now(1_500);
        assert!(sh.lookup(0, b"k").is_none());
        assert_eq!(sh.dbs[0].len(), 0);
        assert_eq!(sh.dbs[0].expires(), 0);
        assert_eq!(sh.stats.expired_keys, 1);
    }

    #[test]
    fn plain_store_clears_ttl_and_keepttl_keeps_it() {
        let mut sh = Shard::new(0, 1);
        sh.store(0, b"k", s(b"v"), Some(i64::MAX), false);
        assert_eq!(sh.dbs[0].expires(), 1);
        sh.store(0, b"k", s(b"w"), None, true);
        assert_eq!(sh.dbs[0].expires(), 1);
        sh.store(0, b"k", s(b"x"), None, false);
        assert_eq!(sh.dbs[0].expires(), 0);
        assert_eq!(sh.lookup(0, b"k").map(|e| e.expire_at()), Some(0));
    }

    #[test]
    fn active_expiry_removes_unread_expired_keys() {
        let mut sh = Shard::new(0, 2);
        sh.set_now(10_000);
        for i in 0..1000 {
            sh.store(1, format!("k{i}").as_bytes(), s(b"v"), Some(10_001), false);
        }
        for i in 0..100 {
            sh.store(1, format!("p{i}").as_bytes(), s(b"v"), None, false);
        }
        sh.set_now(20_000);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        sh.active_expire_cycle(1, deadline);
        // The cycle keeps sampling while more than 10% of a sample is stale, so nearly all go.
        assert!(sh.dbs[1].expires() < 100, "left {}", sh.dbs[1].expires());
        assert_eq!(sh.dbs[1].len() - sh.dbs[1].expires(), 100);
    }
}
