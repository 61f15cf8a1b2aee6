//! The sorted set value: members with f64 scores, ordered by (score, member bytes).
//!
//! Two encodings, named as Redis 7.0's OBJECT ENCODING reports them:
//! - `listpack`: a Vec of (member, score) kept sorted. Used while the set has at most
//!   zset-max-listpack-entries members of at most zset-max-listpack-value bytes; score lookup is
//!   a linear scan, as in Redis's listpack.
//! - `skiplist`: Redis's structure, a skiplist with spans (O(log n) insert, delete, rank and
//!   rank lookup) plus a hash index member -> node (O(1) ZSCORE). Unlike Redis's dict, the
//!   index holds no copy of the member and allocates nothing per member: its buckets are node
//!   numbers and its chains run through the nodes themselves (`Node::hnext`), so a member costs
//!   one arena slot, one block for its bytes and about 6 bytes of buckets.
//!
//! A set is converted to `skiplist` when it outgrows the limits and never back (Redis's rule).
//! Invariants: no score is NaN; the listpack Vec and the skiplist are sorted by
//! (score, member) with byte-wise member comparison (Redis's sdscmp); every linked skiplist
//! node is in the index exactly once, and the index holds nothing else.

use std::cmp::Ordering;
use std::fmt;

use crate::types::Limits;

/// Redis's ZSKIPLIST_MAXLEVEL and ZSKIPLIST_P.
const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// (score, member) order: score first, then member bytes (memcmp, shorter first on a tie).
#[inline]
fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

#[derive(Clone, Copy)]
struct Level {
    next: u32,
    span: usize,
}

/// Bytes one level takes in a node's overflow block: `next` and `span` as little-endian u32s.
const LEVEL_BYTES: usize = 8;
/// Levels kept in the node's slot itself (94% of nodes have at most 2 at p = 0.25), so a
/// traversal step reads one slot: score and links on the same cache line, as Redis's node.
const INLINE_LEVELS: usize = 2;

/// A skiplist node: score, its first levels, the links and the index chain in the arena slot
/// (48 bytes); in one block, the level count, the levels beyond the first two (for the few
/// nodes that have them) and the member's bytes. A free slot has an empty block.
struct Node {
    score: f64,
    inline: [(u32, u32); INLINE_LEVELS],
    backward: u32,
    /// Next node in the same index bucket (NIL ends the chain).
    hnext: u32,
    data: Box<[u8]>,
}

impl Node {
    fn new(member: &[u8], score: f64, nlevels: usize) -> Node {
        let extra = nlevels.saturating_sub(INLINE_LEVELS);
        let mut data = vec![0u8; 1 + extra * LEVEL_BYTES + member.len()].into_boxed_slice();
        data[0] = nlevels as u8;
        for i in 0..extra {
            let at = 1 + i * LEVEL_BYTES;
            data[at..at + 4].copy_from_slice(&NIL.to_le_bytes());
        }
        data[1 + extra * LEVEL_BYTES..].copy_from_slice(member);
        Node { score, inline: [(NIL, 0); INLINE_LEVELS], backward: NIL, hnext: NIL, data }
    }

    #[inline]
    fn nlevels(&self) -> usize {
        self.data.first().copied().unwrap_or(0) as usize
    }

    #[inline]
    fn member(&self) -> &[u8] {
        &self.data[1 + self.nlevels().saturating_sub(INLINE_LEVELS) * LEVEL_BYTES..]
    }

    #[inline]
    fn level(&self, i: usize) -> Level {
        if i < INLINE_LEVELS {
            let (next, span) = self.inline[i];
            return Level { next, span: span as usize };
        }
        let at = 1 + (i - INLINE_LEVELS) * LEVEL_BYTES;
        let b = &self.data[at..at + LEVEL_BYTES];
        Level { next: u32::from_le_bytes([b[0], b[1], b[2], b[3]]), span: u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize }
    }

    #[inline]
    fn set_level(&mut self, i: usize, l: Level) {
        // Spans count elements; a sorted set holds fewer than 2^32 of them.
        if i < INLINE_LEVELS {
            self.inline[i] = (l.next, l.span as u32);
            return;
        }
        let at = 1 + (i - INLINE_LEVELS) * LEVEL_BYTES;
        let b = &mut self.data[at..at + LEVEL_BYTES];
        b[..4].copy_from_slice(&l.next.to_le_bytes());
        b[4..].copy_from_slice(&(l.span as u32).to_le_bytes());
    }

    #[inline]
    fn set_span(&mut self, i: usize, span: usize) {
        let next = self.level(i).next;
        self.set_level(i, Level { next, span });
    }
}

/// Redis's zskiplist in an arena: node 0 is the header, links are indices.
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    rng: u64,
    /// Sum of the nodes' `data` lengths (members and overflow levels), for O(1) memory figures.
    data_bytes: usize,
}

impl SkipList {
    fn new() -> SkipList {
        let head = Node::new(&[], 0.0, MAX_LEVEL);
        let data_bytes = head.data.len();
        SkipList { nodes: vec![head], free: Vec::new(), tail: NIL, len: 0, level: 1, rng: 0x2545_F491_4F6C_DD1D, data_bytes }
    }

    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            // ZSKIPLIST_P = 0.25: two random bits both zero.
            if self.rng & 3 != 0 || level >= MAX_LEVEL {
                return level;
            }
            level += 1;
        }
    }

    #[inline]
    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    /// zslInsert: the member must not be present. Returns the new node.
    fn insert(&mut self, score: f64, member: &[u8]) -> u32 {
        let lvl = self.random_level();
        let node = Node::new(member, score, lvl);
        self.data_bytes += node.data.len();
        let new = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.link(new);
        new
    }

    /// Links the unlinked node `new` (score, member and level count set) at its place.
    fn link(&mut self, new: u32) {
        let lvl = self.node(new).nlevels();
        let score = self.node(new).score;
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        let member = self.node(new).member();
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = self.node(x).level(i);
                if l.next != NIL && cmp_entry(self.node(l.next).score, self.node(l.next).member(), score, member) == Ordering::Less {
                    rank[i] += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                let len = self.len;
                self.node_mut(HEAD).set_span(i, len);
            }
            self.level = lvl;
        }
        for i in 0..lvl {
            let u = update[i];
            let ul = self.node(u).level(i);
            self.node_mut(new).set_level(i, Level { next: ul.next, span: ul.span - (rank[0] - rank[i]) });
            self.node_mut(u).set_level(i, Level { next: new, span: (rank[0] - rank[i]) + 1 });
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let span = self.node(u).level(i).span;
            self.node_mut(u).set_span(i, span + 1);
        }
        self.node_mut(new).backward = if update[0] == HEAD { NIL } else { update[0] };
        let n0 = self.node(new).level(0).next;
        if n0 != NIL {
            self.node_mut(n0).backward = new;
        } else {
            self.tail = new;
        }
        self.len += 1;
    }

    /// The node holding (score, member) and, per level, the last node before it; None if absent.
    fn find(&self, score: f64, member: &[u8]) -> Option<(u32, [u32; MAX_LEVEL])> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.node(x).level(i);
                if l.next != NIL && cmp_entry(self.node(l.next).score, self.node(l.next).member(), score, member) == Ordering::Less {
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let x = self.node(x).level(0).next;
        if x == NIL || self.node(x).score != score || self.node(x).member() != member {
            return None;
        }
        Some((x, update))
    }

    /// zslDeleteNode: takes `x` out of every level (its slot stays allocated).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.node(u).level(i);
            if ul.next == x {
                let xl = self.node(x).level(i);
                self.node_mut(u).set_level(i, Level { next: xl.next, span: ul.span + xl.span - 1 });
            } else {
                self.node_mut(u).set_span(i, ul.span - 1);
            }
        }
        let n0 = self.node(x).level(0).next;
        let back = self.node(x).backward;
        if n0 != NIL {
            self.node_mut(n0).backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.node(HEAD).level(self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// zslDelete of a linked node: unlinks it and frees its slot.
    fn delete_node(&mut self, x: u32) {
        let n = self.node(x);
        let Some((_, update)) = self.find(n.score, n.member()) else { return };
        self.unlink(x, &update);
        let n = self.node_mut(x);
        let freed = n.data.len();
        n.data = Box::default();
        n.hnext = NIL;
        self.data_bytes -= freed;
        self.free.push(x);
    }

    /// zslUpdateScore: moves (old, member) to score `new`, in place when its neighbours
    /// allow, else unlinking and relinking the same node (no new allocation).
    fn update_score(&mut self, old: f64, member: &[u8], new: f64) -> bool {
        let Some((x, update)) = self.find(old, member) else { return false };
        let back = self.node(x).backward;
        let next = self.node(x).level(0).next;
        let after_back = back == NIL || cmp_entry(self.node(back).score, self.node(back).member(), new, member) == Ordering::Less;
        let before_next = next == NIL || cmp_entry(new, member, self.node(next).score, self.node(next).member()) == Ordering::Less;
        if after_back && before_next {
            self.node_mut(x).score = new;
            return true;
        }
        self.unlink(x, &update);
        self.node_mut(x).score = new;
        self.link(x);
        true
    }

    /// How many leading elements satisfy `pred` (which must hold for a prefix of the order).
    fn count_while(&self, pred: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut rank = 0;
        for i in (0..self.level).rev() {
            loop {
                let l = self.node(x).level(i);
                if l.next != NIL && pred(self.node(l.next).score, self.node(l.next).member()) {
                    rank += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// zslGetElementByRank with a 0-based rank.
    fn node_at(&self, rank: usize) -> u32 {
        let target = rank + 1;
        let mut traversed = 0;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.node(x).level(i);
                if l.next != NIL && traversed + l.span <= target {
                    traversed += l.span;
                    x = l.next;
                } else {
                    break;
                }
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }
}

/// Tables smaller than this are never shrunk (Redis's DICT_HT_INITIAL_SIZE).
const INDEX_MIN: usize = 4;

/// member -> node: Redis's dict (power-of-two tables, load factor 1, incremental rehash one
/// bucket per operation, shrink below 10% fill) with node numbers for entries and the chains
/// threaded through `Node::hnext`.
struct Index {
    ht: [Vec<u32>; 2],
    used: [usize; 2],
    /// Next bucket of `ht[0]` to move into `ht[1]`; None when not rehashing.
    rehash_idx: Option<usize>,
    /// Per-set seed so bucket placement cannot be predicted by clients (HashDoS).
    hasher: ahash::RandomState,
}

impl Index {
    fn new() -> Index {
        Index { ht: [Vec::new(), Vec::new()], used: [0, 0], rehash_idx: None, hasher: ahash::RandomState::new() }
    }

    #[inline]
    fn hash(&self, member: &[u8]) -> usize {
        self.hasher.hash_one(member) as usize
    }

    fn tables(&self) -> usize {
        if self.rehash_idx.is_some() {
            2
        } else {
            1
        }
    }

    fn find(&self, nodes: &[Node], member: &[u8]) -> Option<u32> {
        if self.used[0] + self.used[1] == 0 {
            return None;
        }
        let h = self.hash(member);
        for t in &self.ht[..self.tables()] {
            let mut x = t[h & (t.len() - 1)];
            while x != NIL {
                let n = &nodes[x as usize];
                if n.member() == member {
                    return Some(x);
                }
                x = n.hnext;
            }
        }
        None
    }

    /// Adds node `x`, whose member is not in the index.
    fn insert(&mut self, nodes: &mut [Node], x: u32) {
        self.rehash_step(nodes);
        if self.rehash_idx.is_none() {
            if self.ht[0].is_empty() {
                self.ht[0] = vec![NIL; INDEX_MIN];
            } else if self.used[0] >= self.ht[0].len() {
                self.resize(self.used[0] + 1);
            }
        }
        let t = self.tables() - 1;
        let b = self.hash(nodes[x as usize].member()) & (self.ht[t].len() - 1);
        nodes[x as usize].hnext = self.ht[t][b];
        self.ht[t][b] = x;
        self.used[t] += 1;
    }

    /// Removes node `x`, which must be in the index.
    fn remove(&mut self, nodes: &mut [Node], x: u32) {
        self.rehash_step(nodes);
        let h = self.hash(nodes[x as usize].member());
        for t in 0..self.tables() {
            let b = h & (self.ht[t].len() - 1);
            let mut cur = self.ht[t][b];
            let mut prev = NIL;
            while cur != NIL && cur != x {
                prev = cur;
                cur = nodes[cur as usize].hnext;
            }
            if cur == x {
                let next = nodes[x as usize].hnext;
                if prev == NIL {
                    self.ht[t][b] = next;
                } else {
                    nodes[prev as usize].hnext = next;
                }
                nodes[x as usize].hnext = NIL;
                self.used[t] -= 1;
                break;
            }
        }
        let (size, used) = (self.ht[0].len(), self.used[0]);
        if self.rehash_idx.is_none() && size > INDEX_MIN && used * 100 / size < 10 {
            self.resize(used);
        }
    }

    /// Starts moving into a table of the smallest power of two >= `want` (at least INDEX_MIN).
    fn resize(&mut self, want: usize) {
        self.ht[1] = vec![NIL; want.max(INDEX_MIN).next_power_of_two()];
        self.rehash_idx = Some(0);
    }

    /// Moves one bucket of `ht[0]` (visiting at most 10 empty ones) into `ht[1]`.
    fn rehash_step(&mut self, nodes: &mut [Node]) {
        let Some(mut i) = self.rehash_idx else { return };
        let mut empty = 10;
        while i < self.ht[0].len() && self.ht[0][i] == NIL {
            i += 1;
            empty -= 1;
            if empty == 0 {
                self.rehash_idx = Some(i);
                return;
            }
        }
        if i < self.ht[0].len() {
            let mut x = std::mem::replace(&mut self.ht[0][i], NIL);
            let mask = self.ht[1].len() - 1;
            while x != NIL {
                let next = nodes[x as usize].hnext;
                let b = self.hash(nodes[x as usize].member()) & mask;
                nodes[x as usize].hnext = self.ht[1][b];
                self.ht[1][b] = x;
                self.used[0] -= 1;
                self.used[1] += 1;
                x = next;
            }
            i += 1;
        }
        if self.used[0] == 0 {
            self.ht[0] = std::mem::take(&mut self.ht[1]);
            self.used = [self.used[1], 0];
            self.rehash_idx = None;
        } else {
            self.rehash_idx = Some(i);
        }
    }

    fn heap_bytes(&self) -> usize {
        (self.ht[0].capacity() + self.ht[1].capacity()) * 4
    }
}

/// The full encoding: skiplist for order and rank, index for member -> node.
pub struct Sorted {
    index: Index,
    list: SkipList,
    /// Sum of the members' lengths, so memory figures are O(1).
    member_bytes: usize,
}

impl Sorted {
    fn new() -> Sorted {
        Sorted { index: Index::new(), list: SkipList::new(), member_bytes: 0 }
    }

    /// Adds a member that is not present.
    fn insert(&mut self, member: &[u8], score: f64) {
        self.member_bytes += member.len();
        let x = self.list.insert(score, member);
        self.index.insert(&mut self.list.nodes, x);
    }

    fn remove_node(&mut self, x: u32) {
        self.member_bytes -= self.list.node(x).member().len();
        self.index.remove(&mut self.list.nodes, x);
        self.list.delete_node(x);
    }
}

/// A Redis sorted set value (see the module docs for the encodings).
pub enum ZSet {
    Listpack(Vec<(Box<[u8]>, f64)>),
    Skiplist(Box<Sorted>),
}

/// A score as Redis's listpack keeps it: written as text by d2string, which prints -0 as "0".
#[inline]
pub fn listpack_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::Listpack(Vec::new())
    }
}

impl ZSet {
    /// An empty set in the encoding Redis's createZsetObject / createZsetListpackObject picks.
    pub fn new(skiplist: bool) -> ZSet {
        if skiplist {
            ZSet::Skiplist(Box::new(Sorted::new()))
        } else {
            ZSet::Listpack(Vec::new())
        }
    }

    /// The encoding a new set gets for its first member (zaddGenericCommand's rule).
    pub fn for_first_member(limits: &Limits, member_len: usize) -> ZSet {
        ZSet::new(limits.zset_max_listpack_entries == 0 || member_len > limits.zset_max_listpack_value)
    }

    /// Elements in the collection.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Listpack(v) => v.len(),
            ZSet::Skiplist(s) => s.list.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSet::Listpack(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    /// Heap bytes held (for memory figures): an estimate of the allocations.
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Listpack(v) => v.capacity() * std::mem::size_of::<(Box<[u8]>, f64)>() + v.iter().map(|(m, _)| m.len()).sum::<usize>(),
            ZSet::Skiplist(s) => {
                // The box, the arena slots, each node's block (level count, overflow levels,
                // the member), the free list and the index buckets.
                let list = s.list.nodes.capacity() * std::mem::size_of::<Node>() + s.list.data_bytes + s.list.free.capacity() * std::mem::size_of::<u32>();
                std::mem::size_of::<Sorted>() + list + s.index.heap_bytes()
            }
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(v) => v.iter().find(|(m, _)| &**m == member).map(|(_, s)| *s),
            ZSet::Skiplist(s) => s.index.find(&s.list.nodes, member).map(|x| s.list.node(x).score),
        }
    }

    /// zsetConvert to skiplist (no-op when already converted).
    pub fn convert_to_skiplist(&mut self) {
        if let ZSet::Listpack(v) = self {
            let items = std::mem::take(v);
            let mut full = Sorted::new();
            for (m, s) in items {
                full.insert(&m, s);
            }
            *self = ZSet::Skiplist(Box::new(full));
        }
    }

    /// Adds a member that is not present, converting first if the listpack would outgrow the
    /// limits (zsetAdd: length+1 > entries or member longer than value).
    pub fn insert_new(&mut self, member: &[u8], score: f64, limits: &Limits) {
        if let ZSet::Listpack(v) = self {
            if v.len() + 1 > limits.zset_max_listpack_entries || member.len() > limits.zset_max_listpack_value {
                self.convert_to_skiplist();
            }
        }
        match self {
            ZSet::Listpack(v) => {
                let score = listpack_score(score);
                let at = v.partition_point(|(m, s)| cmp_entry(*s, m, score, member) == Ordering::Less);
                v.insert(at, (member.into(), score));
            }
            ZSet::Skiplist(s) => s.insert(member, score),
        }
    }

    /// Moves a present member from score `old` to `new`.
    pub fn update_score(&mut self, member: &[u8], old: f64, new: f64) {
        match self {
            ZSet::Listpack(v) => {
                if let Some(i) = v.iter().position(|(m, _)| &**m == member) {
                    let new = listpack_score(new);
                    let (m, _) = v.remove(i);
                    let at = v.partition_point(|(pm, s)| cmp_entry(*s, pm, new, &m) == Ordering::Less);
                    v.insert(at, (m, new));
                }
            }
            ZSet::Skiplist(s) => {
                s.list.update_score(old, member, new);
            }
        }
    }

    /// Removes a member; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Listpack(v) => {
                let i = v.iter().position(|(m, _)| &**m == member)?;
                Some(v.remove(i).1)
            }
            ZSet::Skiplist(s) => {
                let x = s.index.find(&s.list.nodes, member)?;
                let score = s.list.node(x).score;
                s.remove_node(x);
                Some(score)
            }
        }
    }

    /// How many leading elements (in ascending order) satisfy `pred`; `pred` must be true for
    /// a prefix of the order. This one primitive gives ranks and the bounds of score and lex
    /// ranges in O(log n) on the skiplist.
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Listpack(v) => v.partition_point(|(m, s)| pred(*s, m)),
            ZSet::Skiplist(s) => s.list.count_while(&pred),
        }
    }

    /// The 0-based ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Listpack(v) => v.iter().position(|(m, _)| &**m == member),
            ZSet::Skiplist(s) => {
                let score = s.list.node(s.index.find(&s.list.nodes, member)?).score;
                Some(s.list.count_while(&|sc, m| cmp_entry(sc, m, score, member) == Ordering::Less))
            }
        }
    }

    /// Visits ascending ranks `lo..hi` (or `hi-1` down to `lo` when `rev`).
    pub fn for_range(&self, lo: usize, hi: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match self {
            ZSet::Listpack(v) => {
                if rev {
                    v[lo..hi].iter().rev().for_each(|(m, s)| f(m, *s));
                } else {
                    v[lo..hi].iter().for_each(|(m, s)| f(m, *s));
                }
            }
            ZSet::Skiplist(s) => {
                let l = &s.list;
                let mut x = l.node_at(if rev { hi - 1 } else { lo });
                for _ in lo..hi {
                    if x == NIL {
                        break;
                    }
                    let n = l.node(x);
                    f(n.member(), n.score);
                    x = if rev { n.backward } else { n.level(0).next };
                }
            }
        }
    }

    /// Every element in ascending order.
    pub fn for_each(&self, f: impl FnMut(&[u8], f64)) {
        self.for_range(0, self.len(), false, f);
    }

    /// The element at a 0-based ascending rank.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Listpack(v) => v.get(rank).map(|(m, s)| (&**m, *s)),
            ZSet::Skiplist(s) => {
                let x = s.list.node_at(rank);
                if x == NIL {
                    None
                } else {
                    let n = s.list.node(x);
                    Some((n.member(), n.score))
                }
            }
        }
    }

    /// Removes ascending ranks `lo..hi`; returns how many went.
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        match self {
            ZSet::Listpack(v) => {
                v.drain(lo..hi);
            }
            ZSet::Skiplist(s) => {
                let mut victims = Vec::with_capacity(hi - lo);
                let mut x = s.list.node_at(lo);
                while victims.len() < hi - lo && x != NIL {
                    victims.push(x);
                    x = s.list.node(x).level(0).next;
                }
                for x in victims {
                    s.remove_node(x);
                }
            }
        }
        hi - lo
    }

    /// ZSCAN: the skiplist encoding walks the node arena, the cursor being the next slot
    /// number (nodes never move, so every member present for the whole scan is returned exactly
    /// once; slots freed and reused meanwhile may show new members, as Redis allows); the
    /// listpack encoding returns everything at once with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Listpack(v) => {
                v.iter().for_each(|(m, s)| f(m, *s));
                0
            }
            ZSet::Skiplist(s) => {
                // Slot 0 is the header; cursor 0 starts at slot 1.
                let nodes = &s.list.nodes;
                let mut at = (cursor as usize).max(1);
                let mut seen = 0usize;
                let mut budget = count.max(1) * 10;
                while at < nodes.len() && seen < count.max(1) && budget > 0 {
                    let n = &nodes[at];
                    if n.nlevels() > 0 {
                        f(n.member(), n.score);
                        seen += 1;
                    }
                    at += 1;
                    budget -= 1;
                }
                if at >= nodes.len() {
                    0
                } else {
                    at as u64
                }
            }
        }
    }
}

impl Clone for ZSet {
    fn clone(&self) -> ZSet {
        match self {
            ZSet::Listpack(v) => ZSet::Listpack(v.clone()),
            ZSet::Skiplist(_) => {
                let mut out = ZSet::new(true);
                if let ZSet::Skiplist(full) = &mut out {
                    self.for_each(|m, s| full.insert(m, s));
                }
                out
            }
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut a = Vec::with_capacity(self.len());
        self.for_each(|m, s| a.push((m.to_vec(), s)));
        let mut i = 0;
        let mut same = true;
        other.for_each(|m, s| {
            same &= a[i].0 == m && a[i].1 == s;
            i += 1;
        });
        same
    }
}

impl fmt::Debug for ZSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        self.for_each(|m, s| {
            l.entry(&(String::from_utf8_lossy(m), s));
        });
        l.finish()
    }
}

/// One end of a score range (zrangespec): a value and whether it is excluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub minex: bool,
    pub max: f64,
    pub maxex: bool,
}

impl ScoreRange {
    /// zslParseRange: "(" makes a bound exclusive; the rest is read by strtod in full.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = parse_score_bound(min)?;
        let (max, maxex) = parse_score_bound(max)?;
        Some(ScoreRange { min, minex, max, maxex })
    }

    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// The ascending ranks `lo..hi` of the elements in range.
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.count_while(|s, _| !self.gte_min(s));
        let hi = z.count_while(|s, _| self.lte_max(s));
        (lo, hi.max(lo))
    }
}

fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, ex) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let v = strtod_whole(text)?;
    Some((v, ex))
}

/// strtod over the whole text, as zslParseRange uses it: leading spaces are skipped, an empty
/// text reads as 0, trailing garbage and NaN are refused, overflow gives +-inf.
fn strtod_whole(text: &[u8]) -> Option<f64> {
    let start = text.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(text.len());
    if start == text.len() {
        return if text.is_empty() { Some(0.0) } else { None };
    }
    let s = std::str::from_utf8(&text[start..]).ok()?;
    let v: f64 = s.parse().ok().or_else(|| parse_hex_float(s))?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// strtod's hexadecimal form ("0x1.8p3"), which Rust's parser does not read.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X"))?;
    let (mant, exp) = match rest.find(['p', 'P']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in ip.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in fp.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    Some(if neg { -v } else { v })
}

/// Redis's getDoubleFromObject for scores and weights: the whole text must be a number, no
/// leading space, no NaN, and no overflow/underflow (strtod's ERANGE is refused).
pub fn parse_score(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = match s.parse() {
        Ok(v) => v,
        Err(_) => return parse_hex_float(s).filter(|v| v.is_finite()),
    };
    if v.is_nan() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_start_matches(['+', '-']);
    if v.is_infinite() && t != "inf" && t != "infinity" {
        return None; // ERANGE overflow
    }
    if v == 0.0 {
        // ERANGE underflow: a non-zero mantissa that rounded to zero.
        let mantissa = t.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    Some(v)
}

/// One end of a lex range (zlexrangespec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// "-": before every string.
    Min,
    /// "+": after every string.
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    /// zslParseLexRangeItem.
    pub fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 => Some(LexBound::Max),
            b'-' if arg.len() == 1 => Some(LexBound::Min),
            b'(' => Some(LexBound::Excl(arg[1..].to_vec())),
            b'[' => Some(LexBound::Incl(arg[1..].to_vec())),
            _ => None,
        }
    }

    /// sdscmplex(value, bound).
    fn cmp_value(&self, v: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Incl(b) | LexBound::Excl(b) => v.cmp(b),
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// zslParseLexRange.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange { min: LexBound::parse(min)?, max: LexBound::parse(max)? })
    }

    pub fn gte_min(&self, v: &[u8]) -> bool {
        let c = self.min.cmp_value(v);
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    pub fn lte_max(&self, v: &[u8]) -> bool {
        let c = self.max.cmp_value(v);
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }

    /// The ascending ranks `lo..hi` of the elements in range (members compared as bytes; as
    /// in Redis this is meaningful when all scores are equal).
    pub fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = z.count_while(|_, m| !self.gte_min(m));
        let hi = z.count_while(|_, m| self.lte_max(m));
        (lo, hi.max(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize) -> Limits {
        Limits { zset_max_listpack_entries: entries, ..Limits::default() }
    }

    fn members(z: &ZSet) -> Vec<(String, f64)> {
        let mut v = Vec::new();
        z.for_each(|m, s| v.push((String::from_utf8_lossy(m).into_owned(), s)));
        v
    }

    #[test]
    fn skiplist_keeps_order_rank_and_spans() {
        let l = limits(0);
        let mut z = ZSet::new(true);
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        let mut r: u64 = 7;
        for i in 0..2000u64 {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let m = format!("m{}", (r >> 33) % 500).into_bytes();
            let s = ((r >> 20) % 50) as f64;
            match z.score(&m) {
                Some(old) if i % 3 == 0 => {
                    z.remove(&m);
                    model.retain(|(mm, _)| *mm != m);
                    let _ = old;
                }
                Some(old) => {
                    z.update_score(&m, old, s);
                    model.iter_mut().filter(|(mm, _)| *mm == m).for_each(|e| e.1 = s);
                }
                None => {
                    z.insert_new(&m, s, &l);
                    model.push((m.clone(), s));
                }
            }
        }
        model.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        assert_eq!(z.len(), model.len());
        let mut got = Vec::new();
        z.for_each(|m, s| got.push((m.to_vec(), s)));
        assert_eq!(got, model);
        for (i, (m, s)) in model.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.at(i), Some((&m[..], *s)));
        }
        let mut rev = Vec::new();
        z.for_range(3, 10, true, |m, _| rev.push(m.to_vec()));
        let want: Vec<_> = model[3..10].iter().rev().map(|(m, _)| m.clone()).collect();
        assert_eq!(rev, want);
        let n = z.len();
        assert_eq!(z.remove_range(5, 25), 20);
        assert_eq!(z.len(), n - 20);
        assert_eq!(z.rank(&model[25].0), Some(5));
    }

    #[test]
    fn index_finds_every_member_through_growth_shrink_and_rehash() {
        let l = limits(0);
        let mut z = ZSet::new(true);
        let mut model = std::collections::BTreeMap::new();
        // Grow to 5000 (several resizes, each rehashed a bucket per operation), then remove
        // nearly all (shrinks), checking lookups of present and absent members as we go.
        for i in 0..5000u32 {
            let m = format!("member:{i}").into_bytes();
            z.insert_new(&m, f64::from(i % 97), &l);
            model.insert(m, f64::from(i % 97));
            if i % 250 == 0 {
                for (m, s) in &model {
                    assert_eq!(z.score(m), Some(*s));
                }
                assert_eq!(z.score(b"member:absent"), None);
            }
        }
        for i in (0..5000u32).filter(|i| i % 50 != 0) {
            let m = format!("member:{i}").into_bytes();
            assert_eq!(z.remove(&m), model.remove(&m));
            assert_eq!(z.remove(&m), None);
        }
        assert_eq!(z.len(), model.len());
        for (m, s) in &model {
            assert_eq!(z.score(m), Some(*s));
        }
        // Freed slots are reused; a scan in small steps returns every member exactly once.
        for i in 0..300u32 {
            let m = format!("again:{i}").into_bytes();
            z.insert_new(&m, 1.5, &l);
            model.insert(m, 1.5);
        }
        if let ZSet::Skiplist(s) = &z {
            // The shrink from 8192 buckets, rehashed a bucket per operation, has finished.
            assert_eq!(s.index.rehash_idx, None);
            assert!(s.index.ht[0].len() <= 1024, "the index shrank: {}", s.index.ht[0].len());
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, 7, |m, s| seen.push((m.to_vec(), s)));
            if cursor == 0 {
                break;
            }
        }
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<_> = model.into_iter().collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn listpack_converts_past_the_limits() {
        let l = limits(3);
        let mut z = ZSet::for_first_member(&l, 1);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.insert_new(m.as_bytes(), i as f64, &l);
        }
        assert_eq!(z.encoding_name(), "listpack");
        z.insert_new(b"d", 0.5, &l);
        assert_eq!(z.encoding_name(), "skiplist");
        assert_eq!(members(&z), vec![("a".into(), 0.0), ("d".into(), 0.5), ("b".into(), 1.0), ("c".into(), 2.0)]);
        let long = [b'x'; 65];
        assert_eq!(ZSet::for_first_member(&Limits::default(), long.len()).encoding_name(), "skiplist");
    }

    #[test]
    fn ranges_parse_like_redis() {
        let r = ScoreRange::parse(b"(1", b"+inf").unwrap();
        assert!(r.minex && !r.maxex && r.max == f64::INFINITY);
        assert!(ScoreRange::parse(b"str", b"1").is_none());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"-", b"[b").is_some());
        assert!(LexRange::parse(b"--", b"+").is_none());
        assert_eq!(parse_score(b""), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_score(b"0x"), None);
        let l = Limits::default();
        let mut z = ZSet::new(false);
        for m in ["a", "b", "c", "d"] {
            z.insert_new(m.as_bytes(), 0.0, &l);
        }
        assert_eq!(LexRange::parse(b"(a", b"[c").unwrap().ranks(&z), (1, 3));
        assert_eq!(LexRange::parse(b"[c", b"(a").unwrap().ranks(&z), (2, 2));
        assert_eq!(ScoreRange::parse(b"(0", b"1").unwrap().ranks(&z), (4, 4));
    }
}
