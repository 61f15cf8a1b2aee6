//! [`VolatileIndex`]: a database's keys with a TTL, for active expiry and the volatile-*
//! eviction policies to sample from, at 8 bytes a key and no second table entry.
//!
//! The index holds each TTL key's table hash ([`crate::dict::Chains::hash_of`] of the database's
//! [`KeyTable`]: a table's seed never changes, rehashing included) at a position, and the key's
//! node holds that position ([`KeyNode::volatile_pos`], next to its expiry). From a position, the
//! node is the one in its hash's chain that has a TTL and that position: one short chain walk
//! ([`crate::dict::Chains::find_hashed`]). Sampling is uniform: a random position is a random TTL key.
//!
//! Why a hash and a position rather than a pointer to the node: a node's address changes whenever
//! it is reshaped (a value of another size, APPEND making a string raw, EXPIRE adding the TTL
//! part), and handlers reshape nodes through a `&mut KeyNode` from [`crate::Shard::lookup_mut`]
//! with no access to the index. A hash and a position survive reallocation: a reshape that keeps
//! the TTL carries the position over (see [`crate::entry`]); the keyspace indexes a node that
//! gains a TTL and un-indexes one that loses it or leaves the table.
//!
//! Storage: chunks of [`CHUNK`] hashes (the first one grows up to that size as a `Vec` does), so
//! growing never copies the whole index in one go (the dict this replaced rehashed
//! incrementally for the same reason), and removals give chunks back (one spare is kept, so a
//! key count hovering at a chunk boundary does not allocate and free a chunk each time).
//!
//! Invariants, for each database (checked by `Db::check_volatile` in tests):
//! - `len()` is the number of TTL nodes in its table;
//! - every TTL node's position is below `len()`, unique, and holds its key's table hash;
//! - hence every position resolves to exactly one TTL node.
//!
//! Positions are u32 ([`UNINDEXED`] excluded): 4 billion TTL keys in one database of one shard
//! would need over 250 GB for their nodes alone.

use crate::entry::{KeyNode, KeyTable, UNINDEXED};

/// log2 of [`CHUNK`]. Unit tests use chunks of 16 so that their walks cross chunk boundaries.
const CHUNK_BITS: u32 = if cfg!(test) { 4 } else { 12 };
/// Hashes per chunk: 32 KiB.
pub const CHUNK: usize = 1 << CHUNK_BITS;

/// The TTL keys of one database (see the module docs).
#[derive(Default)]
pub struct VolatileIndex {
    /// Chunk `c` holds positions `c * CHUNK ..`; all before the last in use are full.
    chunks: Vec<Vec<u64>>,
    len: usize,
}

impl VolatileIndex {
    /// How many keys have a TTL.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        *self = VolatileIndex::default();
    }

    /// Bytes the index holds, O(1): 8 per hash of its chunks' capacity, and the chunk list.
    pub fn heap_bytes(&self) -> usize {
        let hashes = self.chunks.first().map_or(0, |c0| c0.capacity() + (self.chunks.len() - 1) * CHUNK);
        hashes * std::mem::size_of::<u64>() + self.chunks.capacity() * std::mem::size_of::<Vec<u64>>()
    }

    /// The table hash at `pos`.
    #[inline]
    pub fn hash_at(&self, pos: usize) -> Option<u64> {
        self.chunks.get(pos >> CHUNK_BITS)?.get(pos & (CHUNK - 1)).copied()
    }

    /// The TTL node at `pos`, found in `main` (the table the index belongs to).
    #[inline]
    pub fn node<'a>(&self, main: &'a KeyTable, pos: usize) -> Option<&'a KeyNode> {
        let h = self.hash_at(pos)?;
        main.find_hashed(h, |n| n.volatile_pos() == Some(pos as u32))
    }

    /// Calls `f` on `count` TTL nodes at uniformly random positions (a node may come twice), or
    /// on every one when there are no more than `count` (as dictGetSomeKeys returns a small
    /// table whole). Returns how many were delivered.
    pub fn sample<'a>(&self, main: &'a KeyTable, count: usize, rand: &mut impl FnMut() -> u64, mut f: impl FnMut(&'a KeyNode)) -> usize {
        let mut delivered = 0;
        let mut visit = |pos: usize| {
            if let Some(n) = self.node(main, pos) {
                f(n);
                delivered += 1;
            }
        };
        if self.len <= count {
            (0..self.len).for_each(&mut visit);
        } else {
            (0..count).for_each(|_| visit((rand() % self.len as u64) as usize));
        }
        delivered
    }

    /// A TTL node at a uniformly random position, or None if there is none.
    pub fn random<'a>(&self, main: &'a KeyTable, rand: &mut impl FnMut() -> u64) -> Option<&'a KeyNode> {
        if self.len == 0 {
            return None;
        }
        self.node(main, (rand() % self.len as u64) as usize)
    }

    /// Indexes `node`, which has just been given a TTL (or was just linked into the table with
    /// one); `h` is its key's table hash.
    pub(crate) fn add(&mut self, h: u64, node: &mut KeyNode) {
        debug_assert_eq!(node.volatile_pos(), Some(UNINDEXED), "indexed twice, or no TTL");
        let pos = self.len;
        // See the module docs: unreachable in practice; a panic beats a corrupt index.
        assert!(pos < UNINDEXED as usize, "more than 2^32 - 1 keys with a TTL in one database of a shard");
        let c = pos >> CHUNK_BITS;
        if c == self.chunks.len() {
            self.chunks.push(if c == 0 { Vec::new() } else { Vec::with_capacity(CHUNK) });
        }
        self.chunks[c].push(h);
        self.len += 1;
        node.set_volatile_pos(pos as u32);
    }

    /// Un-indexes position `pos`, whose node lost its TTL or left `main`: the last position's
    /// hash moves into its place and that node learns its new position.
    pub(crate) fn remove(&mut self, main: &mut KeyTable, pos: u32) {
        let pos = pos as usize;
        if pos >= self.len {
            debug_assert!(false, "volatile position {pos} out of {}", self.len);
            return;
        }
        self.len -= 1;
        let last = self.len;
        let Some(h) = self.chunks.get_mut(last >> CHUNK_BITS).and_then(Vec::pop) else { return };
        if self.len == 0 {
            self.chunks = Vec::new();
        } else {
            // Chunks in use, and one spare.
            self.chunks.truncate(self.len.div_ceil(CHUNK) + 1);
        }
        if pos == last {
            return;
        }
        self.chunks[pos >> CHUNK_BITS][pos & (CHUNK - 1)] = h;
        match main.find_hashed_mut(h, |n| n.volatile_pos() == Some(last as u32)) {
            Some(moved) => moved.set_volatile_pos(pos as u32),
            None => debug_assert!(false, "no TTL node at volatile position {last}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Shard;
    use crate::value::{StrValue, Value};

    fn s(v: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(v))
    }

    fn xorshift(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    struct Discard;

    impl crate::snapshot::SnapshotSink for Discard {
        fn key(&mut self, _: usize, _: &[u8], _: &KeyNode) {}
    }

    /// Every keyspace path that links, unlinks or reshapes a node, in random order, over tables
    /// that grow, rehash and shrink; after each step the index must match the tables exactly.
    #[test]
    fn random_operations_keep_the_index_exact() {
        const DBS: usize = 3;
        const KEYS: u64 = 500;
        let mut sh = Shard::new(0, DBS);
        sh.evict.config.policy = crate::evict::Policy::VolatileLru;
        let mut now = 1_000_000_000i64;
        sh.set_now(now);
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        let long = [b'x'; crate::value::SMALL_CAP + 5];
        let (mut snapshots, mut evictions, mut expired_actively, mut most_ttl_keys) = (0, 0, 0, 0);
        for step in 0..40_000u32 {
            let r = next();
            let db = (r % DBS as u64) as usize;
            let other = (db + 1 + (r >> 4) as usize % (DBS - 1)) % DBS;
            let k = format!("key:{}", (r >> 8) % KEYS).into_bytes();
            let k2 = format!("key:{}", (r >> 20) % KEYS).into_bytes();
            let ttl = now + 1 + ((r >> 32) % 20_000) as i64;
            let with_ttl = (r >> 44).is_multiple_of(2);
            match (r >> 48) % 24 {
                0 | 1 => sh.store(db, &k, s(b"short"), with_ttl.then_some(ttl), false),
                2 => sh.store(db, &k, s(&long), None, with_ttl),
                3 => sh.store(db, &k, s(b"12345"), with_ttl.then_some(ttl), true),
                4 => {
                    let mut l = crate::types::list::List::new(-2);
                    l.push(crate::types::list::End::Right, b"element");
                    sh.store(db, &k, Value::List(Box::new(l)), with_ttl.then_some(ttl), !with_ttl);
                }
                5 => drop(sh.append(db, &k, b"+", u64::MAX)),
                6 => drop(sh.incr_by(db, &k, 1)),
                7 => drop(sh.persist(db, &k)),
                8 | 9 => drop(sh.expire_at(db, &k, ttl, crate::ops::keys::ExpireCond::Always)),
                10 => drop(sh.remove(db, &k)),
                11 => {
                    // RENAME, within a database and across.
                    let to = if with_ttl { db } else { other };
                    if let Some(e) = sh.take(db, &k) {
                        sh.remove(to, &k2);
                        sh.put_entry(to, &k2, e);
                    }
                }
                12 => drop(sh.move_key(db, other, &k)),
                13 => {
                    if let Some(e) = sh.clone_entry(db, &k) {
                        sh.put_entry(other, &k2, e);
                    }
                }
                14 if r.is_multiple_of(8) => sh.swap_db(db, other),
                15 if r.is_multiple_of(128) => sh.flush_db(db),
                15 if r % 512 == 1 => sh.flush_all(),
                16 | 17 => {
                    now += ((r >> 4) % 100) as i64;
                    sh.set_now(now);
                    let before = sh.stats.expired_keys;
                    sh.active_expire_cycle(1 + (r % 10) as u32, std::time::Instant::now() + std::time::Duration::from_secs(1));
                    expired_actively += sh.stats.expired_keys - before;
                }
                18 => drop(sh.lookup(db, &k)),
                19 if r.is_multiple_of(16) => {
                    let over = sh.dataset_bytes() as u64 / 100;
                    sh.evict.config.limit = sh.dataset_bytes() as u64 - over;
                    let before = sh.stats.evicted_keys;
                    sh.perform_evictions(|_, _| {});
                    evictions += sh.stats.evicted_keys - before;
                    sh.evict.config.limit = 0;
                }
                20 => sh.tables_cron(1 + (r % 4) as usize),
                21 if !sh.snapshot_active() => {
                    snapshots += 1;
                    sh.snapshot_begin(Box::new(Discard));
                }
                21 | 22 => {
                    if sh.snapshot_active() && sh.snapshot_step(1 + (r % 64) as usize) {
                        sh.snapshot_end();
                    }
                }
                _ => drop(sh.getex(db, &k, if with_ttl { crate::ops::Ttl::At(ttl) } else { crate::ops::Ttl::Clear })),
            }
            for (i, d) in sh.dbs.iter().enumerate() {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.check_volatile()))
                    .unwrap_or_else(|_| panic!("step {step}: db {i} after op {}", (r >> 48) % 24));
            }
            if step % 512 == 0 {
                assert_eq!(sh.dataset_bytes(), sh.dataset_bytes_recount(), "step {step}");
            }
            most_ttl_keys = most_ttl_keys.max(sh.dbs.iter().map(|d| d.expires()).sum::<usize>());
        }
        // The walk must have exercised what it claims to.
        eprintln!("{snapshots} snapshots, {evictions} evicted, {expired_actively} expired actively, at most {most_ttl_keys} TTL keys");
        assert!(snapshots > 50 && evictions > 200 && expired_actively > 1000 && most_ttl_keys > 200);
    }

    #[test]
    fn chunks_grow_and_are_given_back() {
        let mut sh = Shard::new(0, 1);
        let n = 2 * CHUNK + 10;
        for i in 0..n {
            sh.store(0, format!("k{i}").as_bytes(), s(b"v"), Some(i64::MAX), false);
        }
        let d = &sh.dbs[0];
        assert_eq!((d.volatile.len(), d.volatile.chunks.len()), (n, 3));
        let full = d.volatile.heap_bytes();
        assert!((3 * CHUNK * 8..3 * CHUNK * 8 + 256).contains(&full), "{full}");
        d.check_volatile();
        for i in 0..CHUNK + 20 {
            sh.remove(0, format!("k{i}").as_bytes());
        }
        // CHUNK - 10 left: one chunk in use, one spare.
        let d = &sh.dbs[0];
        assert_eq!((d.volatile.len(), d.volatile.chunks.len()), (CHUNK - 10, 2));
        d.check_volatile();
        for i in CHUNK + 20..n {
            sh.set_expire(0, format!("k{i}").as_bytes(), 0);
        }
        assert_eq!((sh.dbs[0].volatile.len(), sh.dbs[0].volatile.heap_bytes()), (0, 0));
        sh.dbs[0].check_volatile();
    }

    #[test]
    fn sampling_is_uniform_over_ttl_keys() {
        let mut sh = Shard::new(0, 1);
        // 100 TTL keys among 100,000 without: a table sample would mostly miss them.
        for i in 0..100_000 {
            let ttl = (i % 1000 == 0).then_some(i64::MAX);
            sh.store(0, format!("k{i}").as_bytes(), s(b"v"), ttl, false);
        }
        let d = &sh.dbs[0];
        let mut rand = xorshift(7);
        let mut hits = std::collections::HashMap::new();
        for _ in 0..200 {
            assert_eq!(d.volatile.sample(&d.main, 50, &mut rand, |n| *hits.entry(n.key().to_vec()).or_insert(0) += 1), 50);
        }
        assert_eq!(hits.len(), 100, "every TTL key drawn");
        assert!(hits.values().all(|&c| (40..=200).contains(&c)), "about 100 draws each: {:?}", hits.values().min());
        assert!(hits.keys().all(|k| d.main.get(k).is_some_and(|n| n.expire_at() != 0)));
    }
}
