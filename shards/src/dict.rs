//! `Dict<V>`: the hash table of hashes and sets, keyed by byte strings, modelled on Redis's
//! `dict.c`; and [`Chains<N>`], the table machinery it shares with the keyspace's table
//! ([`crate::entry::KeyTable`]), which chains its own compact nodes.
//!
//! A `Dict` owns every key (inside its heap node: up to 22 bytes inline, longer ones boxed, see
//! [`Bytes`]) and every value. Redis's design is
//! copied rather than using `std::collections::HashMap` because three server features depend
//! on the table layout itself:
//!
//! * **SCAN** needs a cursor that stays valid across resizes. With power-of-two tables and a
//!   reverse-binary cursor, every element present for the whole scan is returned at least once,
//!   even if the table grows or shrinks between calls (it may be returned more than once).
//! * **Random sampling** (RANDOMKEY, eviction, active expiry) needs cheap access to random buckets.
//! * **Resizing must never stall**: a resize allocates the new table and then moves one bucket per
//!   mutating operation (plus whatever [`Chains::rehash_steps`] does from cron).
//!
//! The machinery knows a node only through [`ChainNode`] (its key and its link), so the same
//! code serves `Box<Node<V>>` and the keyspace's variable-size nodes.
//!
//! Invariants:
//! * `ht[0]` is the main table. `ht[1]` is empty unless a rehash is in progress
//!   (`rehash_idx.is_some()`), in which case new keys go to `ht[1]` and every bucket of `ht[0]`
//!   below `rehash_idx` is empty.
//! * Table sizes are 0 or a power of two; `used` counts the nodes actually in each table.
//! * A key appears at most once across both tables.
//! * Growth: when `used >= size` (load factor 1) an insert starts a rehash to the next power of
//!   two >= `used + 1`, unless the caller gave a byte room the new bucket array does not fit
//!   in ([`Chains::slot_hashed_within`], the keyspace at maxmemory: Redis's dictExpandAllowed);
//!   then the table waits, chains growing longer, until its load factor passes 1.618 and grows
//!   regardless. Shrink: when `used * 100 / size < 10` and `size > 4`, checked after
//!   removals and by [`Chains::shrink_if_needed`] (the owner calls it from cron).

use std::{iter, mem, slice, vec};

use crate::bytes::Bytes;

/// Size of a table on first insert (Redis `DICT_HT_INITIAL_SIZE`).
const INITIAL_SIZE: usize = 4;
/// Shrink when less than this percentage of buckets would be used (Redis `HASHTABLE_MIN_FILL`).
const MIN_FILL_PERCENT: usize = 10;
/// Sample size for `random_entry` (Redis `GETFAIR_NUM_ENTRIES`).
const FAIR_SAMPLE: usize = 15;
/// Redis's HASHTABLE_MAX_LOAD_FACTOR (1.618) as a fraction: up to this load factor a table whose
/// new bucket array does not fit in its room does not grow (dictExpandAllowed).
const MAX_LOAD_FACTOR: (usize, usize) = (1618, 1000);
/// Random probes before `random_node` falls back to a linear walk. Redis loops forever; a bound
/// keeps a broken random source from hanging the server.
const RANDOM_PROBES: usize = 1000;

/// A chained node, as the table sees it: implemented by the node's *owning pointer* (what a
/// bucket or a `next` link holds), so a node of any layout can be chained.
pub trait ChainNode: Sized {
    /// Bytes from the node's address that a lookup reads (its key and link): what
    /// [`Chains::prefetch_node`] asks the cache for.
    const LOOKUP_SPAN: usize;
    fn key(&self) -> &[u8];
    fn next(&self) -> &Option<Self>;
    fn next_mut(&mut self) -> &mut Option<Self>;
    /// Where the node's memory starts (only for prefetching).
    fn addr(&self) -> *const u8;

    /// Second prefetch step of a walk over every node (a snapshot, SAVE): called once the node's
    /// first bytes are in the cache (or on their way), asks for the rest of what writing the
    /// node out reads. Nothing by default.
    #[inline]
    fn prefetch_body(&self) {}

    /// Third step, once the body is in the cache: asks for what the node points to that writing
    /// it out reads (a string value kept outside the node). Nothing by default.
    #[inline]
    fn prefetch_outside(&self) {}
}

type Link<N> = Option<N>;
type DictLink<V> = Link<Box<Node<V>>>;

/// One chained entry of a [`Dict`]. Deliberately minimal (no cached hash): key fat pointer +
/// value + next.
pub struct Node<V> {
    key: Bytes,
    value: V,
    next: DictLink<V>,
}

impl<V> ChainNode for Box<Node<V>> {
    const LOOKUP_SPAN: usize = mem::size_of::<Node<V>>();

    #[inline]
    fn key(&self) -> &[u8] {
        &self.key
    }

    #[inline]
    fn addr(&self) -> *const u8 {
        &**self as *const Node<V> as *const u8
    }

    #[inline]
    fn next(&self) -> &Option<Self> {
        &self.next
    }

    #[inline]
    fn next_mut(&mut self) -> &mut Option<Self> {
        &mut self.next
    }
}

struct Table<N> {
    buckets: Vec<Link<N>>,
    used: usize,
}

impl<N: ChainNode> Table<N> {
    fn with_size(size: usize) -> Self {
        let mut buckets = Vec::with_capacity(size);
        buckets.resize_with(size, || None);
        Table { buckets, used: 0 }
    }

    fn empty() -> Self {
        Self::with_size(0)
    }

    /// `size - 1`; for an empty table this is `usize::MAX`, so `buckets.get(h & mask)` is simply
    /// `None` and lookups need no separate emptiness branch.
    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The first node of hash `h`'s chain that `is` picks.
    #[inline(always)]
    fn find(&self, h: u64, mut is: impl FnMut(&N) -> bool) -> Option<&N> {
        let mut cur = self.buckets.get(h as usize & self.mask())?.as_ref();
        while let Some(n) = cur {
            if is(n) {
                return Some(n);
            }
            cur = n.next().as_ref();
        }
        None
    }
}

/// A hint to load the cache line at `p`; never faults, whatever `p` points to.
#[inline(always)]
pub(crate) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch instructions do not access memory architecturally (no fault, no UB).
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Walks a chain to the first node `is` picks, or else to the empty link at the chain's end.
#[inline(always)]
fn chain_entry<N: ChainNode>(mut cur: &mut Link<N>, mut is: impl FnMut(&N) -> bool) -> Result<&mut N, &mut Link<N>> {
    while cur.as_ref().is_some_and(|n| !is(n)) {
        match cur {
            Some(n) => cur = n.next_mut(),
            None => break,
        }
    }
    match cur {
        Some(n) => Ok(n),
        None => Err(cur),
    }
}

fn new_node<V>(key: Bytes, value: V) -> Box<Node<V>> {
    Box::new(Node { key, value, next: None })
}

/// Unlinks and returns the node holding `key`, if the chain has one.
fn chain_remove<N: ChainNode>(mut cur: &mut Link<N>, key: &[u8]) -> Option<N> {
    loop {
        if *cur.as_ref()?.key() == *key {
            let mut node = cur.take()?;
            *cur = node.next_mut().take();
            return Some(node);
        }
        cur = cur.as_mut()?.next_mut();
    }
}

/// Calls `f` on every node of one chain.
fn visit_chain<'a, N: ChainNode>(mut cur: Option<&'a N>, f: &mut impl FnMut(&'a N)) {
    while let Some(n) = cur {
        f(n);
        cur = n.next().as_ref();
    }
}

/// The buckets one dictScan call at `cursor` visits, as (table, bucket) in visiting order, for
/// tables of `sizes` buckets (the second 0 when not rehashing; the first non-zero); returns the
/// next cursor.
fn scan_buckets(sizes: [usize; 2], cursor: u64, mut visit: impl FnMut(usize, usize)) -> u64 {
    let mask = |size: usize| size.wrapping_sub(1) as u64;
    // Increment the reversed cursor: the high bits (which a mask drops) change first, so the
    // cursor means the same set of buckets whether the table is larger or smaller.
    let next = |v: u64| v.reverse_bits().wrapping_add(1).reverse_bits();
    let mut v = cursor;
    if sizes[1] == 0 {
        let m0 = mask(sizes[0]);
        visit(0, (v & m0) as usize);
        v |= !m0; // set unmasked bits so the increment carries into the masked ones
        return next(v);
    }
    let (small, large) = if sizes[0] <= sizes[1] { (0, 1) } else { (1, 0) };
    let (m0, m1) = (mask(sizes[small]), mask(sizes[large]));
    visit(small, (v & m0) as usize);
    // Then every bucket of the larger table that is an expansion of the small bucket.
    loop {
        visit(large, (v & m1) as usize);
        v |= !m1;
        v = next(v);
        if v & (m0 ^ m1) == 0 {
            break;
        }
    }
    v
}

/// The table machinery over nodes `N` (see the module docs); [`Dict`] is its instance over
/// `Box<Node<V>>`.
pub struct Chains<N> {
    ht: [Table<N>; 2],
    /// Next bucket of `ht[0]` to move into `ht[1]`; `None` when not rehashing.
    rehash_idx: Option<usize>,
    /// Per-dict random seed so bucket placement cannot be predicted by clients (HashDoS).
    hasher: ahash::RandomState,
}

/// A hash table of byte-string keys and `V` values.
pub type Dict<V> = Chains<Box<Node<V>>>;

impl<N: ChainNode> Default for Chains<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a missing key belongs: the empty link at the end of its chain, and that table's count.
pub struct Vacant<'a, N> {
    link: &'a mut Link<N>,
    used: &'a mut usize,
}

impl<'a, N> Vacant<'a, N> {
    /// Links `node` (whose key must be the one looked up) in.
    #[inline]
    pub fn insert(self, node: N) -> &'a mut N {
        *self.used += 1;
        self.link.insert(node)
    }
}

impl<N: ChainNode> Chains<N> {
    /// An empty dict; no buckets are allocated until the first insert.
    pub fn new() -> Self {
        let hasher = ahash::RandomState::new();
        Chains { ht: [Table::empty(), Table::empty()], rehash_idx: None, hasher }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ht[0].used + self.ht[1].used
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Number of buckets in table 0 (during a rehash, the table being migrated from, as Redis
    /// reports it).
    pub fn buckets(&self) -> usize {
        self.ht[0].buckets.len()
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The node holding `key`.
    #[inline]
    pub fn node(&self, key: &[u8]) -> Option<&N> {
        if self.is_empty() {
            return None; // skip hashing entirely for empty dicts
        }
        let h = self.hash(key);
        // Slice equality compares lengths before memcmp.
        let found = self.ht[0].find(h, |n| *n.key() == *key);
        if found.is_some() || self.rehash_idx.is_none() {
            return found;
        }
        self.ht[1].find(h, |n| *n.key() == *key)
    }

    /// The node of hash `h` (see [`Chains::hash_of`]) that `is` picks, walking only that hash's
    /// chain in each table in use: finds a node by something other than its key (the
    /// keyspace's volatile index keeps a key's hash, not the key).
    pub fn find_hashed(&self, h: u64, mut is: impl FnMut(&N) -> bool) -> Option<&N> {
        self.ht[..self.tables()].iter().find_map(|t| t.find(h, &mut is))
    }

    /// [`Chains::find_hashed`], mutably (no rehash step: nothing moves).
    pub fn find_hashed_mut(&mut self, h: u64, mut is: impl FnMut(&N) -> bool) -> Option<&mut N> {
        let tables = self.tables();
        self.ht[..tables].iter_mut().find_map(|t| {
            let mask = t.mask();
            chain_entry(t.buckets.get_mut(h as usize & mask)?, &mut is).ok()
        })
    }

    #[inline]
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.node(key).is_some()
    }

    /// The hash a lookup of `key` would compute, for [`Dict::prefetch_bucket`] and
    /// [`Dict::prefetch_node`].
    #[inline]
    pub fn hash_of(&self, key: &[u8]) -> u64 {
        self.hash(key)
    }

    /// Asks the CPU to start loading the bucket slot of hash `h` (no effect on results). A
    /// lookup otherwise waits on two dependent cache misses, the slot then the node; issuing
    /// the slots of a whole pipeline first lets those misses overlap.
    #[inline]
    pub fn prefetch_bucket(&self, h: u64) {
        for t in &self.ht[..self.tables()] {
            if let Some(slot) = t.buckets.get(h as usize & t.mask()) {
                prefetch(slot as *const Link<N> as *const u8);
            }
        }
    }

    /// Second step after [`Dict::prefetch_bucket`]: reads the slot (by now in the cache, or on
    /// its way) and asks for the first node of its chain.
    #[inline]
    pub fn prefetch_node(&self, h: u64) {
        for t in &self.ht[..self.tables()] {
            if let Some(Some(node)) = t.buckets.get(h as usize & t.mask()) {
                // A node may straddle two cache lines: ask for both ends.
                let p = node.addr();
                prefetch(p);
                prefetch(p.wrapping_add(N::LOOKUP_SPAN - 1));
            }
        }
    }

    /// How many of `ht` hold entries: 2 while rehashing.
    #[inline]
    fn tables(&self) -> usize {
        if self.rehash_idx.is_some() {
            2
        } else {
            1
        }
    }

    /// Mutable lookup; like Redis's dictFind it advances an in-progress rehash by one step.
    #[inline(always)]
    pub fn node_mut(&mut self, key: &[u8]) -> Option<&mut N> {
        if self.is_empty() {
            return None; // also guarantees ht[0] has buckets, as `entry` requires
        }
        self.step();
        let h = self.hash(key);
        self.entry(h, key).ok()
    }

    /// The node holding `key`, or else where to insert it (one hash, one walk): the insertion
    /// half of dictAddRaw/dictFind. Grows the table first if needed.
    #[inline]
    pub fn slot(&mut self, key: &[u8]) -> Result<&mut N, Vacant<'_, N>> {
        let h = self.hash(key);
        self.slot_hashed(h, key)
    }

    /// [`Chains::slot`] for a caller that already has `h`, the key's [`Chains::hash_of`].
    #[inline]
    pub fn slot_hashed(&mut self, h: u64, key: &[u8]) -> Result<&mut N, Vacant<'_, N>> {
        self.slot_hashed_within(h, key, usize::MAX)
    }

    /// [`Chains::slot_hashed`] for a table that may allocate at most `room` bytes for a new
    /// bucket array while its load factor is at most 1.618 (Redis's dictExpandAllowed for the
    /// keyspace: at maxmemory, a doubling would make the owner evict a whole new table's worth
    /// at once). `room` is read only when a growth would start.
    #[inline]
    pub fn slot_hashed_within(&mut self, h: u64, key: &[u8], room: usize) -> Result<&mut N, Vacant<'_, N>> {
        self.prepare_insert(room);
        self.entry(h, key).map_err(|(link, used)| Vacant { link, used })
    }

    /// Unlinks and returns the node holding `key`.
    pub fn remove_node(&mut self, key: &[u8]) -> Option<N> {
        if self.is_empty() {
            return None;
        }
        self.step();
        let h = self.hash(key);
        let tables = self.tables();
        let node = self.ht[..tables].iter_mut().find_map(|t| {
            let mask = t.mask();
            let n = chain_remove(t.buckets.get_mut(h as usize & mask)?, key)?;
            t.used -= 1;
            Some(n)
        })?;
        self.shrink_if_needed();
        Some(node)
    }

    /// Drops every entry and frees the bucket arrays.
    pub fn clear(&mut self) {
        self.ht = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Remove every node for which keep returns false; returns the number removed.
    pub fn retain_nodes(&mut self, mut keep: impl FnMut(&mut N) -> bool) -> usize {
        let mut removed = 0;
        for t in &mut self.ht {
            let Table { buckets, used } = t;
            for slot in buckets.iter_mut() {
                let mut cur = slot;
                // Unlink in place (rather than rebuilding chains) so that a panic in `keep` or in
                // a value's Drop leaves the table and its counts consistent.
                while let Some(n) = cur.as_mut() {
                    if keep(n) {
                        match cur {
                            Some(n) => cur = n.next_mut(),
                            None => break,
                        }
                    } else if let Some(mut dead) = cur.take() {
                        *cur = dead.next_mut().take();
                        *used -= 1;
                        removed += 1;
                    }
                }
            }
        }
        if removed > 0 {
            self.shrink_if_needed();
        }
        removed
    }

    /// Does up to `n` rehash steps (each moves one bucket, skipping at most 10 empty buckets per
    /// step, as Redis's dictRehash). Returns true if a rehash is still in progress.
    pub fn rehash_steps(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        if n == 0 {
            return true;
        }
        let mut empty_visits = n.saturating_mul(10);
        let hasher = &self.hasher;
        let [t0, t1] = &mut self.ht;
        let mask1 = t1.mask();
        for _ in 0..n {
            if t0.used == 0 {
                break;
            }
            while let Some(None) = t0.buckets.get(idx) {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let Some(slot) = t0.buckets.get_mut(idx) else {
                break; // unreachable: t0.used > 0 means a non-empty bucket at or after idx
            };
            let mut chain = slot.take();
            while let Some(mut node) = chain {
                chain = node.next_mut().take();
                let i = hasher.hash_one(node.key()) as usize & mask1;
                *node.next_mut() = t1.buckets[i].take();
                t1.buckets[i] = Some(node);
                t0.used -= 1;
                t1.used += 1;
            }
            idx += 1;
        }
        if t0.used == 0 {
            self.ht[0] = mem::replace(&mut self.ht[1], Table::empty());
            self.rehash_idx = None;
            // Removals during the rehash skipped their shrink check; catch up now.
            self.shrink_if_needed();
            return self.rehash_idx.is_some();
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// One rehash step if a rehash is in progress; called by every mutating operation.
    #[inline]
    fn step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash_steps(1);
        }
    }

    /// Starts a shrink rehash when the table is under 10% full (never below the initial size).
    pub fn shrink_if_needed(&mut self) {
        let size = self.ht[0].buckets.len();
        if self.rehash_idx.is_some() || size <= INITIAL_SIZE {
            return;
        }
        let used = self.ht[0].used;
        if used.saturating_mul(100) / size < MIN_FILL_PERCENT {
            // used + 1 (Redis uses `used`) so an exact power of two does not land at load factor
            // 1 and regrow on the very next insert.
            let target = (used + 1).next_power_of_two().max(INITIAL_SIZE);
            self.resize(target);
        }
    }

    /// Sizes an empty table for `n` nodes at once (dictExpand on RDB's RESIZEDB), so that
    /// inserting them does not grow it step by step, moving every node along the way. No
    /// effect once it holds a node.
    pub fn reserve_empty(&mut self, n: usize) {
        if self.is_empty() && self.rehash_idx.is_none() && n > self.ht[0].buckets.len() {
            if let Some(size) = n.checked_next_power_of_two() {
                self.ht[0] = Table::with_size(size.max(INITIAL_SIZE));
            }
        }
    }

    /// Before an insert: a rehash step, and growth if due (see the module docs; `room` as in
    /// [`Chains::slot_hashed_within`]).
    fn prepare_insert(&mut self, room: usize) {
        self.step();
        if self.rehash_idx.is_some() {
            return;
        }
        let (size, used) = (self.ht[0].buckets.len(), self.ht[0].used);
        if size == 0 {
            self.ht[0] = Table::with_size(INITIAL_SIZE);
        } else if used >= size {
            if let Some(target) = (used + 1).checked_next_power_of_two() {
                // dictExpandAllowed: the new array must fit unless the load factor is past 1.618.
                let (num, den) = MAX_LOAD_FACTOR;
                if target.saturating_mul(mem::size_of::<Link<N>>()) > room && used.saturating_mul(den) <= size.saturating_mul(num) {
                    return;
                }
                self.resize(target);
            }
        }
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(self.rehash_idx.is_none() && size.is_power_of_two());
        if size == self.ht[0].buckets.len() {
            return;
        }
        if self.ht[0].used == 0 {
            self.ht[0] = Table::with_size(size); // nothing to migrate
        } else {
            self.ht[1] = Table::with_size(size);
            self.rehash_idx = Some(0);
        }
    }

    /// The node for `key`, or else the empty link where it belongs (at the end of its chain in
    /// the table new keys go to) with that table's `used` counter. One hash, one walk per table.
    /// Requires the table(s) searched to have buckets: a non-empty dict, or `prepare_insert` first.
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn entry(&mut self, h: u64, key: &[u8]) -> Result<&mut N, (&mut Link<N>, &mut usize)> {
        let rehashing = self.rehash_idx.is_some();
        let [t0, t1] = &mut self.ht;
        let mask0 = t0.mask();
        let Table { buckets, used } = t0;
        match chain_entry(&mut buckets[h as usize & mask0], |n| *n.key() == *key) {
            Ok(n) => return Ok(n),
            Err(tail) if !rehashing => return Err((tail, used)),
            Err(_) => {}
        }
        let mask1 = t1.mask();
        let Table { buckets, used } = t1;
        chain_entry(&mut buckets[h as usize & mask1], |n| *n.key() == *key).map_err(|tail| (tail, used))
    }

    /// Redis dictScan: visits every node of the bucket(s) the cursor names (both tables while
    /// rehashing, smaller table first, then all expansions of that cursor in the larger), calls
    /// f for each, returns the next cursor (0 = done). Reverse-binary increment.
    pub fn scan_nodes(&self, cursor: u64, mut f: impl FnMut(&N)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        scan_buckets(self.table_sizes(), cursor, |t, b| {
            let head = self.ht[t].buckets.get(b).and_then(|l| l.as_ref());
            visit_chain(head, &mut |n: &N| f(n));
        })
    }

    /// [`Chains::scan_nodes`] with mutable access to the nodes (a snapshot marks what it wrote).
    /// The same cursor rules hold: the table layout does not change during one call. `f` may
    /// replace a node's allocation (the keyspace's nodes change size) but not its key.
    pub fn scan_nodes_mut(&mut self, cursor: u64, mut f: impl FnMut(&mut N)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let sizes = self.table_sizes();
        if sizes[1] == 0 {
            self.scan_prefetch(cursor);
        }
        let ht = &mut self.ht;
        scan_buckets(sizes, cursor, |t, b| {
            let mut cur = ht[t].buckets.get_mut(b).and_then(|l| l.as_mut());
            while let Some(n) = cur {
                f(n);
                cur = n.next_mut().as_mut();
            }
        })
    }

    /// A scan visits buckets in reverse-binary order, so each step is a cache miss on the bucket
    /// array, then on the node, then on its body: asks for the bucket slot [`SCAN_AHEAD_SLOT`]
    /// steps ahead, the first node of the one [`AHEAD_HEAD`] ahead (its slot asked for earlier)
    /// and the body of the one [`AHEAD_BODY`] ahead. Only while not rehashing (one table).
    #[inline]
    fn scan_prefetch(&self, cursor: u64) {
        let buckets = &self.ht[0].buckets;
        let bits = buckets.len().trailing_zeros();
        if bits < 4 {
            return;
        }
        let bucket = |k: usize| scan_bucket_ahead(cursor, bits, k);
        prefetch(&buckets[bucket(SCAN_AHEAD_SLOT)] as *const Link<N> as *const u8);
        walk_prefetch(|k| buckets[bucket(k)].as_ref());
    }

    /// Calls `f` on every node (in bucket order); `f` may replace a node as in `scan_nodes_mut`.
    pub fn for_each_node_mut(&mut self, mut f: impl FnMut(&mut N)) {
        for slot in self.ht.iter_mut().flat_map(|t| &mut t.buckets) {
            let mut cur = slot.as_mut();
            while let Some(n) = cur {
                f(n);
                cur = n.next_mut().as_mut();
            }
        }
    }

    /// Bucket counts of the two tables; the second is 0 unless a rehash is in progress.
    fn table_sizes(&self) -> [usize; 2] {
        let second = if self.rehash_idx.is_some() { self.ht[1].buckets.len() } else { 0 };
        [self.ht[0].buckets.len(), second]
    }

    /// A random node, as dictGetFairRandomKey does (sample some keys, pick one), or None if
    /// empty. `rand` is a caller-supplied u64 random source, called as often as needed.
    pub fn random_fair_node(&self, rand: &mut impl FnMut() -> u64) -> Option<&N> {
        if self.is_empty() {
            return None;
        }
        let mut picks: [Option<&N>; FAIR_SAMPLE] = [None; FAIR_SAMPLE];
        let mut got = 0;
        self.sample_nodes(FAIR_SAMPLE, rand, |n| {
            picks[got] = Some(n); // sample_nodes delivers at most FAIR_SAMPLE
            got += 1;
        });
        if got == 0 {
            // Sampling met only empty buckets (a very sparse table): probe like dictGetRandomKey.
            self.random_node(rand)
        } else {
            picks[(rand() % got as u64) as usize]
        }
    }

    /// dictGetSomeKeys: up to `count` nodes from random positions (not uniform, and in rare
    /// cases a node may be delivered twice, as in Redis), visiting at most count*10 buckets;
    /// calls f for each; returns how many were delivered.
    pub fn sample_nodes<'a>(&'a self, count: usize, rand: &mut impl FnMut() -> u64, mut f: impl FnMut(&'a N)) -> usize {
        let count = count.min(self.len());
        if count == 0 {
            return 0;
        }
        let tables = self.tables();
        let rehash_idx = self.rehash_idx.unwrap_or(0);
        let max_mask = self.ht[..tables].iter().map(Table::mask).fold(0, usize::max);
        let mut i = rand() as usize & max_mask;
        let (mut empty_run, mut stored) = (0, 0);
        for _ in 0..count.saturating_mul(10) {
            for (j, t) in self.ht[..tables].iter().enumerate() {
                // Buckets of ht[0] below rehash_idx are empty; if ht[1] is too small to have
                // bucket i either (shrinking), jump ahead to the unmigrated part.
                if tables == 2 && j == 0 && i < rehash_idx {
                    if i < self.ht[1].buckets.len() {
                        continue;
                    }
                    i = rehash_idx;
                }
                let mut cur = match t.buckets.get(i) {
                    Some(Some(n)) => Some(n),
                    Some(None) => {
                        // A long empty run: jump elsewhere rather than burn the step budget.
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            i = rand() as usize & max_mask;
                            empty_run = 0;
                        }
                        continue;
                    }
                    None => continue,
                };
                empty_run = 0;
                while let Some(n) = cur {
                    f(n);
                    stored += 1;
                    if stored == count {
                        return stored;
                    }
                    cur = n.next().as_ref();
                }
            }
            i = (i + 1) & max_mask;
        }
        stored
    }

    /// dictGetRandomKey: a random non-empty bucket, then a random node of its chain.
    fn random_node(&self, rand: &mut impl FnMut() -> u64) -> Option<&N> {
        let [t0, t1] = &self.ht;
        let (s0, s1) = (t0.buckets.len(), t1.buckets.len());
        let mut probe = || match self.rehash_idx {
            // Only ht[0][r..] and ht[1] can hold entries.
            Some(r) => {
                let h = r + (rand() % (s0 + s1 - r).max(1) as u64) as usize;
                t0.buckets.get(h).or_else(|| t1.buckets.get(h - s0))
            }
            None => t0.buckets.get(rand() as usize & t0.mask()),
        };
        let mut all = self.ht.iter().flat_map(|t| &t.buckets);
        let head = match (0..RANDOM_PROBES).find_map(|_| probe()?.as_ref()) {
            Some(head) => head,
            None => all.find_map(|b| b.as_ref())?, // linear fallback, see RANDOM_PROBES
        };
        let mut len = 0u64;
        visit_chain(Some(head), &mut |_| len += 1);
        let mut n = head;
        for _ in 0..rand() % len {
            n = n.next().as_ref()?;
        }
        Some(n)
    }

    /// Every node, in bucket order.
    pub fn nodes(&self) -> Nodes<'_, N> {
        // Skip the already-migrated (empty) prefix of ht[0] during a rehash.
        let from = self.rehash_idx.unwrap_or(0).min(self.ht[0].buckets.len());
        let buckets = self.ht[0].buckets[from..].iter().chain(&self.ht[1].buckets);
        Nodes { buckets, node: None }
    }

    /// Takes every node out, in bucket order.
    pub fn into_nodes(self) -> IntoNodes<N> {
        let [t0, t1] = self.ht;
        IntoNodes { buckets: t0.buckets.into_iter().chain(t1.buckets), chain: None }
    }

    /// Bytes of the bucket arrays (both tables while rehashing), O(1).
    pub fn bucket_bytes(&self) -> usize {
        (self.ht[0].buckets.capacity() + self.ht[1].buckets.capacity()) * mem::size_of::<Link<N>>()
    }
}

/// Iterator over the nodes of a table, in bucket order.
pub struct Nodes<'a, N> {
    buckets: iter::Chain<slice::Iter<'a, Link<N>>, slice::Iter<'a, Link<N>>>,
    node: Option<&'a N>,
}

impl<'a, N: ChainNode> Iterator for Nodes<'a, N> {
    type Item = &'a N;

    #[inline]
    fn next(&mut self) -> Option<&'a N> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next().as_ref();
                return Some(n);
            }
            // Walking every node is a string of cache misses (each node is its own allocation):
            // ask for the nodes a few buckets ahead, in two steps (see `walk_prefetch`).
            let ahead = self.buckets.clone();
            walk_prefetch(|k| ahead.clone().nth(k).and_then(|l| l.as_ref()));
            self.node = self.buckets.next()?.as_ref();
        }
    }
}

/// The bucket a scan of a table of 2^`bits` buckets (not rehashing) visits `k` steps after
/// the one of `cursor`: the cursor's low `bits` bits, reversed, count the steps taken.
#[inline]
fn scan_bucket_ahead(cursor: u64, bits: u32, k: usize) -> usize {
    let steps = cursor.reverse_bits() >> (64 - bits);
    (steps.wrapping_add(k as u64) << (64 - bits)).reverse_bits() as usize
}

/// Scan steps ahead whose bucket slot [`Chains::scan_prefetch`] asks for.
const SCAN_AHEAD_SLOT: usize = 24;
/// Buckets ahead of a walk whose first node [`walk_prefetch`] asks for, whose body, and what
/// the node points to; the second node of a chain follows one step behind the first.
const AHEAD_HEAD: usize = 12;
const AHEAD_BODY: usize = 6;
const AHEAD_OUTSIDE: usize = 3;
const AHEAD_LAST: usize = 1;

/// Software pipeline for a walk over every node: `at(k)` is the first node of the k-th bucket
/// ahead. The node [`AHEAD_HEAD`] buckets ahead is asked for; the one [`AHEAD_BODY`] ahead,
/// asked for earlier and by now in the cache, has the rest of its body asked for, and so on.
/// A bucket's second node (a third of the keys sit behind another at a load factor of one)
/// is found from the first once that is in the cache, and follows it a step behind.
#[inline(always)]
fn walk_prefetch<'a, N: ChainNode + 'a>(at: impl Fn(usize) -> Option<&'a N>) {
    if let Some(n) = at(AHEAD_HEAD) {
        prefetch_head(n);
    }
    if let Some(n) = at(AHEAD_BODY) {
        n.prefetch_body();
        if let Some(second) = n.next() {
            prefetch_head(second);
        }
    }
    if let Some(n) = at(AHEAD_OUTSIDE) {
        n.prefetch_outside();
        if let Some(second) = n.next() {
            second.prefetch_body();
        }
    }
    if let Some(second) = at(AHEAD_LAST).and_then(|n| n.next().as_ref()) {
        second.prefetch_outside();
    }
}

#[inline(always)]
fn prefetch_head<N: ChainNode>(n: &N) {
    let p = n.addr();
    prefetch(p);
    prefetch(p.wrapping_add(N::LOOKUP_SPAN - 1));
}

/// Owning iterator over the nodes of a table.
pub struct IntoNodes<N> {
    buckets: iter::Chain<vec::IntoIter<Link<N>>, vec::IntoIter<Link<N>>>,
    chain: Link<N>,
}

impl<N: ChainNode> Iterator for IntoNodes<N> {
    type Item = N;

    fn next(&mut self) -> Option<N> {
        loop {
            if let Some(mut n) = self.chain.take() {
                self.chain = n.next_mut().take();
                return Some(n);
            }
            self.chain = self.buckets.next()?;
        }
    }
}

impl<V> Dict<V> {
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.node(key).map(|n| &n.value)
    }

    #[inline]
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&[u8], &V)> {
        self.node(key).map(|n| (&*n.key, &n.value))
    }

    /// Mutable lookup; like Redis's dictFind it advances an in-progress rehash by one step.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.node_mut(key).map(|n| &mut n.value)
    }

    /// Insert or replace; returns the old value if the key existed (the stored key is kept).
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        self.insert_impl(key, value)
    }

    /// Insert with an already-owned key (no copy).
    pub fn insert_owned(&mut self, key: Box<[u8]>, value: V) -> Option<V> {
        self.insert_impl(key, value)
    }

    /// The key is copied (or moved, if owned) only when it is actually inserted.
    fn insert_impl<K: AsRef<[u8]> + Into<Bytes>>(&mut self, key: K, value: V) -> Option<V> {
        match self.slot(key.as_ref()) {
            Ok(n) => Some(mem::replace(&mut n.value, value)),
            Err(vacant) => {
                vacant.insert(new_node(key.into(), value));
                None
            }
        }
    }

    /// Returns the value for key, inserting f() first if absent; bool = inserted.
    pub fn get_or_insert_with(&mut self, key: &[u8], f: impl FnOnce() -> V) -> (&mut V, bool) {
        match self.slot(key) {
            Ok(n) => (&mut n.value, false),
            Err(vacant) => {
                // f runs before `used` changes, so a panicking f leaves counts right.
                let n = vacant.insert(new_node(key.into(), f()));
                (&mut n.value, true)
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.remove_entry(key).map(|(_, v)| v)
    }

    pub fn remove_entry(&mut self, key: &[u8]) -> Option<(Box<[u8]>, V)> {
        let Node { key, value, .. } = *self.remove_node(key)?;
        Some((key.into(), value))
    }

    /// Remove every entry for which keep returns false; returns the number removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &mut V) -> bool) -> usize {
        self.retain_nodes(|n| keep(&n.key, &mut n.value))
    }

    /// Redis dictScan over `(key, value)`: see [`Chains::scan_nodes`].
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &V)) -> u64 {
        self.scan_nodes(cursor, |n| f(&n.key, &n.value))
    }

    /// [`Dict::scan`] with mutable access to the values.
    pub fn scan_mut(&mut self, cursor: u64, mut f: impl FnMut(&[u8], &mut V)) -> u64 {
        self.scan_nodes_mut(cursor, |n| f(&n.key, &mut n.value))
    }

    /// A random element (dictGetFairRandomKey), or None if empty.
    pub fn random_entry(&self, rand: &mut impl FnMut() -> u64) -> Option<(&[u8], &V)> {
        self.random_fair_node(rand).map(|n| (&*n.key, &n.value))
    }

    /// dictGetSomeKeys over `(key, value)`: see [`Chains::sample_nodes`].
    pub fn sample(&self, count: usize, rand: &mut impl FnMut() -> u64, mut f: impl FnMut(&[u8], &V)) -> usize {
        self.sample_nodes(count, rand, |n| f(&n.key, &n.value))
    }

    pub fn iter(&self) -> Iter<'_, V> {
        Iter { nodes: self.nodes() }
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        let [t0, t1] = &mut self.ht;
        IterMut { buckets: t0.buckets.iter_mut().chain(&mut t1.buckets), node: None }
    }

    /// Bytes one entry's node allocation takes (key pointer, value, link): what an entry costs
    /// beyond its key's bytes and its value's own heap.
    pub const NODE_BYTES: usize = mem::size_of::<Node<V>>();

    /// Bytes of table overhead (bucket arrays + nodes, excluding key and value heap contents).
    pub fn overhead_bytes(&self) -> usize {
        self.bucket_bytes() + self.len() * mem::size_of::<Node<V>>()
    }
}

/// Iterator over `(&key, &value)`, in bucket order.
pub struct Iter<'a, V> {
    nodes: Nodes<'a, Box<Node<V>>>,
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a [u8], &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.nodes.next().map(|n| (&*n.key, &n.value))
    }
}

/// Iterator over `(&key, &mut value)`, in bucket order.
pub struct IterMut<'a, V> {
    buckets: iter::Chain<slice::IterMut<'a, DictLink<V>>, slice::IterMut<'a, DictLink<V>>>,
    node: Option<&'a mut Node<V>>,
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a [u8], &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node.take() {
                // Split the node into disjoint field borrows: the key and value go to the caller,
                // the next link stays with the iterator.
                let Node { key, value, next } = n;
                self.node = next.as_deref_mut();
                return Some((&**key, value));
            }
            self.node = self.buckets.next()?.as_deref_mut();
        }
    }
}

/// Owning iterator yielding `(key, value)`.
pub struct IntoIter<V> {
    nodes: IntoNodes<Box<Node<V>>>,
}

impl<V> Iterator for IntoIter<V> {
    type Item = (Box<[u8]>, V);

    fn next(&mut self) -> Option<Self::Item> {
        let Node { key, value, .. } = *self.nodes.next()?;
        Some((key.into(), value))
    }
}

impl<V> IntoIterator for Dict<V> {
    type Item = (Box<[u8]>, V);
    type IntoIter = IntoIter<V>;

    fn into_iter(self) -> IntoIter<V> {
        IntoIter { nodes: self.into_nodes() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(i: usize) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    fn filled(n: usize) -> Dict<usize> {
        let mut d = Dict::new();
        (0..n).for_each(|i| assert_eq!(d.insert(&key(i), i), None));
        d
    }

    fn xorshift(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    /// Runs a full scan, calling `between` after each call; returns the set of keys delivered
    /// and how many deliveries there were.
    fn scan_all(d: &mut Dict<usize>, mut between: impl FnMut(&mut Dict<usize>)) -> (HashSet<Vec<u8>>, usize) {
        let (mut seen, mut n, mut cursor) = (HashSet::new(), 0, 0);
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(k.to_vec());
                n += 1;
            });
            if cursor == 0 {
                return (seen, n);
            }
            between(d);
        }
    }

    fn assert_has_originals(seen: &HashSet<Vec<u8>>) {
        (0..100).for_each(|i| assert!(seen.contains(&key(i)), "original key {i} missed"));
    }

    #[test]
    fn insert_get_replace_remove_100k() {
        const N: usize = 100_000;
        let mut d = Dict::new();
        let mut checked_while_rehashing = 0;
        for i in 0..N {
            assert_eq!(d.insert(&key(i), i), None);
            if d.is_rehashing() {
                checked_while_rehashing += 1;
                assert_eq!(d.get(&key(i / 2)), Some(&(i / 2)), "lost during rehash");
                assert_eq!(d.get_mut(&key(i)).copied(), Some(i));
            }
        }
        assert!(checked_while_rehashing > 1000);
        assert_eq!(d.len(), N);
        for i in 0..N {
            assert_eq!(d.insert(&key(i), i * 2), Some(i), "replace {i}");
        }
        assert_eq!(d.len(), N);
        assert!(!d.contains_key(b"key:-1"));
        (0..N).for_each(|i| assert_eq!(d.get_key_value(&key(i)), Some((&key(i)[..], &(i * 2)))));
        let mut removed_while_rehashing = 0;
        for i in (0..N).step_by(2) {
            removed_while_rehashing += usize::from(d.is_rehashing());
            assert_eq!(d.remove(&key(i)), Some(i * 2));
            assert_eq!(d.remove(&key(i)), None);
        }
        assert_eq!(d.len(), N / 2);
        (0..N).for_each(|i| assert_eq!(d.contains_key(&key(i)), i % 2 == 1, "key {i}"));
        for i in (1..N).step_by(2) {
            removed_while_rehashing += usize::from(d.is_rehashing());
            let (k, v) = d.remove_entry(&key(i)).expect("present");
            assert_eq!((&k[..], v), (&key(i)[..], i * 2));
        }
        assert!(removed_while_rehashing > 0, "removals never shrank the table");
        assert!(d.is_empty());
        d.rehash_steps(usize::MAX);
        assert!(d.buckets() <= 8, "did not shrink: {}", d.buckets());
        assert_eq!(d.insert_owned(key(7).into(), 7), None);
        assert_eq!(d.get(&key(7)), Some(&7));
    }

    #[test]
    fn scan_prefetch_asks_for_the_buckets_the_scan_visits_next() {
        // The prefetch is only a hint: nothing breaks if it asks for the wrong buckets, it just
        // stops helping. This holds it to the scan's real order.
        for bits in [4u32, 5, 10, 17] {
            let size = 1usize << bits;
            let mut visited = Vec::new();
            let mut cursors = Vec::new();
            let mut c = 0u64;
            loop {
                cursors.push(c);
                c = scan_buckets([size, 0], c, |_, b| visited.push(b));
                if c == 0 {
                    break;
                }
            }
            assert_eq!(visited.len(), size, "one bucket per step");
            for (i, &cur) in cursors.iter().enumerate() {
                for k in [0, 1, AHEAD_BODY, AHEAD_HEAD, SCAN_AHEAD_SLOT] {
                    if i + k < size {
                        assert_eq!(scan_bucket_ahead(cur, bits, k), visited[i + k], "bits {bits} step {i} ahead {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn scan_static_returns_each_key_exactly_once() {
        let mut d = filled(1000);
        d.rehash_steps(usize::MAX);
        let (seen, n) = scan_all(&mut d, |_| {});
        assert_eq!((seen, n), ((0..1000).map(key).collect(), 1000));
        assert_eq!(Dict::<u8>::new().scan(0, |_, _| panic!("empty")), 0);
        // Frozen mid-rehash: both tables must be covered.
        let mut d = filled(600);
        assert!(d.is_rehashing());
        assert_eq!(scan_all(&mut d, |_| {}).0, (0..600).map(key).collect());
    }

    #[test]
    fn scan_mut_visits_what_scan_visits() {
        let mut d = filled(600);
        assert!(d.is_rehashing());
        let mut cursor = 0;
        loop {
            let mut seen = Vec::new();
            let next = d.scan(cursor, |k, _| seen.push(k.to_vec()));
            let mut seen_mut = Vec::new();
            assert_eq!(
                d.scan_mut(cursor, |k, v| {
                    seen_mut.push(k.to_vec());
                    *v += 1000;
                }),
                next
            );
            assert_eq!(seen, seen_mut);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!(d.iter().all(|(k, v)| *v >= 1000 && *k == *key(v - 1000)));
    }

    #[test]
    fn scan_survives_growth() {
        let mut d = filled(100);
        let (start_buckets, mut next) = (d.buckets(), 100);
        let (seen, _) = scan_all(&mut d, |d| {
            for _ in 0..10 {
                if next < 1100 {
                    d.insert(&key(next), next);
                    next += 1;
                }
            }
        });
        assert!(d.buckets() >= 4 * start_buckets, "no growth: {}", d.buckets());
        assert_has_originals(&seen);
    }

    #[test]
    fn scan_survives_shrink() {
        let mut d = filled(2100);
        d.rehash_steps(usize::MAX);
        let (start_buckets, mut next) = (d.buckets(), 100);
        let (seen, _) = scan_all(&mut d, |d| {
            for _ in 0..50 {
                if next < 2100 {
                    d.remove(&key(next));
                    next += 1;
                }
            }
            d.shrink_if_needed();
            d.rehash_steps(1);
        });
        assert!(d.buckets() * 8 <= start_buckets, "no shrink: {start_buckets} -> {}", d.buckets());
        assert_has_originals(&seen);
    }

    #[test]
    fn random_entry_covers_existing_keys() {
        let mut rand = xorshift(0x9e37_79b9_7f4a_7c15);
        assert!(Dict::<usize>::new().random_entry(&mut rand).is_none());
        let d = filled(100);
        let mut hits = HashSet::new();
        for _ in 0..10_000 {
            let (k, v) = d.random_entry(&mut rand).expect("non-empty");
            assert_eq!(k, &key(*v)[..]);
            hits.insert(*v);
        }
        assert!(hits.len() >= 90, "only {} of 100 keys drawn", hits.len());
        // Sparse and mid-shrink: sampling finds nothing, the probing fallback must.
        let mut d = filled(4096);
        d.retain(|_, v| *v < 3);
        assert!(d.is_rehashing());
        for _ in 0..100 {
            assert!(*d.random_entry(&mut rand).expect("non-empty").1 < 3);
            assert!(d.random_node(&mut rand).expect("non-empty").value < 3);
        }
    }

    #[test]
    fn sample_count_bounds() {
        let mut rand = xorshift(42);
        assert_eq!(Dict::<u8>::new().sample(10, &mut rand, |_, _| panic!("empty")), 0);
        let mut d = filled(1000);
        d.rehash_steps(usize::MAX);
        assert_eq!(d.sample(0, &mut rand, |_, _| panic!("count 0")), 0);
        for _ in 0..100 {
            let mut got = Vec::new();
            let n = d.sample(20, &mut rand, |k, v| got.push((k.to_vec(), *v)));
            assert_eq!((n, got.len()), (20, 20), "a dense table should fill the sample");
            assert!(got.iter().all(|(k, v)| *k == key(*v) && d.get(k) == Some(v)));
        }
        let mut got = 0;
        assert_eq!(filled(3).sample(50, &mut rand, |_, _| got += 1), got);
        assert!(got <= 3);
    }

    #[test]
    fn retain_clear_into_iter_iter_counts() {
        let mut d = Dict::new();
        for i in 0..10_000 {
            d.insert(&key(i), i);
            if i % 250 == 0 {
                assert_eq!(d.iter().count(), d.len(), "rehashing: {}", d.is_rehashing());
            }
        }
        assert_eq!(d.retain(|k, v| k.len() > 4 && *v % 3 == 0), 10_000 - 3334);
        assert_eq!(d.len(), 3334);
        assert!(d.get(&key(1)).is_none() && d.get(&key(3)).is_some());
        d.iter_mut().for_each(|(_, v)| *v += 1);
        assert_eq!(d.iter_mut().count(), 3334);
        let sum: usize = d.iter().map(|(_, v)| *v).sum();
        assert_eq!(sum, (0..10_000).filter(|i| i % 3 == 0).map(|i| i + 1).sum());
        let owned: Vec<(Box<[u8]>, usize)> = d.into_iter().collect();
        assert_eq!(owned.len(), 3334);
        assert!(owned.iter().all(|(k, v)| **k == *key(*v - 1)));

        let mut d = filled(1000);
        assert!(d.overhead_bytes() >= 1000 * mem::size_of::<Node<usize>>());
        d.clear();
        assert!(d.is_empty() && d.iter().next().is_none() && d.get(&key(1)).is_none());
        assert_eq!((d.buckets(), d.overhead_bytes()), (0, 0));
        d.insert(b"a", 1);
        assert_eq!(d.into_iter().count(), 1);
    }

    #[test]
    fn get_or_insert_with_inserts_once() {
        let mut d = Dict::new();
        for i in 0..1000 {
            let (v, inserted) = d.get_or_insert_with(&key(i % 100), || i);
            assert_eq!((*v, inserted), (i % 100, i < 100));
        }
        assert_eq!(d.len(), 100);
        *d.get_or_insert_with(&key(5), || unreachable!()).0 = 55;
        assert_eq!(d.get(&key(5)), Some(&55));
    }

    #[test]
    fn resize_policy_matches_redis() {
        let mut d = filled(4);
        assert_eq!(d.buckets(), 4);
        d.insert(&key(4), 4); // used == size: grow to 8
        d.rehash_steps(usize::MAX);
        assert_eq!(d.buckets(), 8);
        let mut d = filled(1024);
        assert!(!d.rehash_steps(usize::MAX));
        assert_eq!(d.buckets(), 1024);
        d.retain(|_, v| *v < 100); // 100/1024 < 10%: shrink to 128
        assert!(d.rehash_steps(1), "one step cannot migrate 100 keys");
        assert!(!d.rehash_steps(usize::MAX));
        assert_eq!((d.buckets(), d.len()), (128, 100));
        d.shrink_if_needed();
        assert!(!d.is_rehashing(), "already at the right size");
    }

    /// Inserts `key(i)` through [`Chains::slot_hashed_within`] with `room` bytes.
    fn insert_within(d: &mut Dict<usize>, i: usize, room: usize) {
        let k = key(i);
        match d.slot_hashed_within(d.hash_of(&k), &k, room) {
            Ok(_) => panic!("key {i} already present"),
            Err(vacant) => _ = vacant.insert(new_node(k[..].into(), i)),
        }
    }

    #[test]
    fn expand_allowed_waits_for_room_until_load_factor_1_618() {
        // Redis's dictExpandAllowed: 1024 full buckets, and the next array (2048 pointers) is one
        // byte bigger than the room: no growth while used/size <= 1.618, i.e. up to 1656 keys.
        let next_array = 2048 * mem::size_of::<DictLink<usize>>();
        let mut d = filled(1024);
        d.rehash_steps(usize::MAX);
        for i in 1024..=1656 {
            insert_within(&mut d, i, next_array - 1);
            assert!(!d.is_rehashing() && d.buckets() == 1024, "grew at {} keys", d.len());
        }
        // Chains are longer, lookups as exact.
        assert!((0..1657).all(|i| d.get(&key(i)) == Some(&i)));
        assert!(d.get(&key(1657)).is_none());
        insert_within(&mut d, 1657, next_array - 1); // 1657/1024 > 1.618: grows regardless
        assert!(d.is_rehashing());
        d.rehash_steps(usize::MAX);
        assert_eq!((d.buckets(), d.len()), (2048, 1658));
        assert!((0..1658).all(|i| d.get(&key(i)) == Some(&i)));

        // Room for exactly the new array (used + moremem <= maxmemory), or no limit: it grows at
        // load factor 1.
        for room in [next_array, usize::MAX] {
            let mut d = filled(1024);
            d.rehash_steps(usize::MAX);
            insert_within(&mut d, 1024, room);
            assert!(d.is_rehashing(), "room {room}");
        }
        // And no room at all still lets an empty table get its first buckets.
        let mut d = Dict::new();
        insert_within(&mut d, 0, 0);
        assert_eq!(d.buckets(), INITIAL_SIZE);
    }
}
