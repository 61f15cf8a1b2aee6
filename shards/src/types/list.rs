//! The list value type.
//!
//! Redis 7.0 stores every list as a quicklist (a linked list of listpack nodes) and OBJECT
//! ENCODING always says "quicklist", even for a one-element list: the standalone listpack list
//! encoding only arrived in 7.2, and the 7.0 Tcl suite asserts "quicklist" for small lists
//! (unit/type/list "LPUSH, RPUSH, LLENGTH, LINDEX, LPOP - ziplist"). So there is no conversion.
//!
//! Representation, the same shape as Redis's: a ring buffer (`VecDeque`) of nodes, each node one
//! contiguous buffer of packed entries `[len varint][bytes][len varint, bytes reversed]` (the
//! trailing copy lets a node be read from its end, like a listpack's backlen). A node holds what
//! `list-max-listpack-size` allows, fixed when the list is created as Redis's quicklist does:
//! negative = 4/8/16/32/64 KB of entries, positive = that many entries (and at most 8 KB,
//! Redis's SIZE_SAFETY_LIMIT); a node always accepts its first entry. Push and pop at either
//! end touch only the end node (O(1) amortised, a memmove of at most one node at the head);
//! LINDEX/LSET walk nodes from the nearer end; LINSERT/LREM/LPOS are O(n) as in Redis. A short
//! entry costs its length plus 2 bytes, against 24+ for a boxed element per slot.

use std::collections::VecDeque;

/// One element taken out of a list (what LPOP/RPOP/LMOVE hand back), kept off the heap when short.
pub use crate::bytes::Bytes as Elem;

/// Which end of a list (Redis's LIST_HEAD / LIST_TAIL, the LEFT / RIGHT arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// Redis's SIZE_SAFETY_LIMIT: the byte cap of a node when the fill is an entry count.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Byte caps of fills -1..-5 (Redis's optimization_level).
const SIZE_CLASSES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Writes `n` as LEB128 into `out`, returning the byte count.
fn leb(mut n: usize, out: &mut [u8; 10]) -> usize {
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = b;
            return i + 1;
        }
        out[i] = b | 0x80;
        i += 1;
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut l = 1;
    while n >= 0x80 {
        n >>= 7;
        l += 1;
    }
    l
}

/// Bytes an entry of `len` bytes takes in a node.
fn entry_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

/// One packed node. Entries: `[len LEB128][bytes][len LEB128 reversed]`.
#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    count: usize,
}

/// An entry's place in a node: where it starts and ends, and its data.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    data: usize,
    len: usize,
    end: usize,
}

impl Node {
    fn with_entry(v: &[u8]) -> Node {
        let mut n = Node { buf: Vec::with_capacity(entry_size(v.len())), count: 0 };
        n.insert_at(0, v);
        n
    }

    /// The entry starting at byte `pos`.
    #[inline]
    fn read_at(&self, pos: usize) -> Span {
        let (mut len, mut shift, mut p) = (0usize, 0u32, pos);
        loop {
            let b = self.buf[p];
            p += 1;
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let h = p - pos;
        Span { start: pos, data: p, len, end: p + len + h }
    }

    /// The entry ending at byte `end` (exclusive).
    #[inline]
    fn read_before(&self, end: usize) -> Span {
        let (mut len, mut shift, mut p) = (0usize, 0u32, end);
        loop {
            p -= 1;
            let b = self.buf[p];
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let h = end - p;
        let data = p - len;
        Span { start: data - h, data, len, end }
    }

    fn bytes(&self, s: Span) -> &[u8] {
        &self.buf[s.data..s.data + s.len]
    }

    /// The `k`-th entry, scanning from the nearer end of the node.
    fn nth(&self, k: usize) -> Span {
        if k < self.count / 2 + 1 {
            let mut s = self.read_at(0);
            for _ in 0..k {
                s = self.read_at(s.end);
            }
            s
        } else {
            let mut s = self.read_before(self.buf.len());
            for _ in 0..self.count - 1 - k {
                s = self.read_before(s.start);
            }
            s
        }
    }

    /// Whether one more entry of `len` bytes stays within the fill (Redis's
    /// _quicklistNodeAllowInsert); an empty node takes anything.
    fn allows(&self, len: usize, fill: i64) -> bool {
        if self.count == 0 {
            return true;
        }
        let new_size = self.buf.len() + entry_size(len);
        if fill >= 0 {
            self.count < fill as usize && new_size <= SIZE_SAFETY_LIMIT
        } else {
            let class = (fill.unsigned_abs().min(SIZE_CLASSES.len() as u64) - 1) as usize;
            new_size <= SIZE_CLASSES[class]
        }
    }

    /// Whether the node is past its fill (after an LSET/LINSERT grew it) and should split.
    fn over(&self, fill: i64) -> bool {
        if self.count <= 1 {
            return false;
        }
        if fill >= 0 {
            self.count > (fill as usize).max(1) || self.buf.len() > SIZE_SAFETY_LIMIT
        } else {
            let class = (fill.unsigned_abs().min(SIZE_CLASSES.len() as u64) - 1) as usize;
            self.buf.len() > SIZE_CLASSES[class]
        }
    }

    /// Inserts an entry at byte offset `pos` (an entry boundary).
    fn insert_at(&mut self, pos: usize, v: &[u8]) {
        let mut hdr = [0u8; 10];
        let h = leb(v.len(), &mut hdr);
        let mut trailer = hdr;
        trailer[..h].reverse();
        let parts = hdr[..h].iter().chain(v.iter()).chain(trailer[..h].iter()).copied();
        self.buf.splice(pos..pos, parts);
        self.count += 1;
    }

    fn remove(&mut self, s: Span) {
        self.buf.drain(s.start..s.end);
        self.count -= 1;
    }

    /// Splits off the entries from the `k`-th on into a new node.
    fn split_off(&mut self, k: usize) -> Node {
        let at = self.nth(k).start;
        let tail = Node { buf: self.buf.split_off(at), count: self.count - k };
        self.count = k;
        tail
    }
}

/// A Redis list value. Never empty while stored: the ops delete a key whose list empties.
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// list-max-listpack-size when the list was created (Redis's quicklist->fill).
    fill: i64,
    /// Sum of the nodes' buffer capacities, kept by every change so memory figures are O(1).
    bytes: usize,
}

impl Clone for List {
    fn clone(&self) -> List {
        // A cloned buffer's capacity is its length: count again.
        let nodes = self.nodes.clone();
        let bytes = nodes.iter().map(|n| n.buf.capacity()).sum();
        List { nodes, len: self.len, fill: self.fill, bytes }
    }
}

impl Default for List {
    fn default() -> List {
        List::new(-2)
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter_from(0).eq(other.iter_from(0))
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter_from(0).map(String::from_utf8_lossy)).finish()
    }
}

/// Forward iteration over a list's elements (LRANGE, LPOS, equality).
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    node: usize,
    pos: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        while self.pos >= self.nodes[self.node].buf.len() {
            self.node += 1;
            self.pos = 0;
        }
        let n = &self.nodes[self.node];
        let s = n.read_at(self.pos);
        self.pos = s.end;
        self.remaining -= 1;
        Some(&n.buf[s.data..s.data + s.len])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl List {
    /// An empty list whose nodes follow `fill` (list-max-listpack-size).
    pub fn new(fill: i64) -> List {
        List { nodes: VecDeque::new(), len: 0, fill, bytes: 0 }
    }

    /// Elements in the collection.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name OBJECT ENCODING reports (always "quicklist" in Redis 7.0, see the module doc).
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes held (for memory figures).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.bytes
    }

    pub fn push(&mut self, end: End, value: &[u8]) {
        let fill = self.fill;
        let node = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        };
        match node {
            Some(n) if n.allows(value.len(), fill) => {
                let (before, at) = (n.buf.capacity(), if end == End::Left { 0 } else { n.buf.len() });
                n.insert_at(at, value);
                self.bytes = self.bytes + n.buf.capacity() - before;
            }
            _ => {
                let n = Node::with_entry(value);
                self.bytes += n.buf.capacity();
                match end {
                    End::Left => self.nodes.push_front(n),
                    End::Right => self.nodes.push_back(n),
                }
            }
        }
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Elem> {
        let (node, e) = match end {
            End::Left => {
                let n = self.nodes.front_mut()?;
                let s = n.read_at(0);
                let e = Elem::new(n.bytes(s));
                n.remove(s);
                (n, e)
            }
            End::Right => {
                let n = self.nodes.back_mut()?;
                let s = n.read_before(n.buf.len());
                let e = Elem::new(n.bytes(s));
                n.remove(s);
                (n, e)
            }
        };
        if node.count == 0 {
            self.bytes -= node.buf.capacity();
            match end {
                End::Left => self.nodes.pop_front(),
                End::Right => self.nodes.pop_back(),
            };
        }
        self.len -= 1;
        Some(e)
    }

    /// The node holding element `i` (< len) and the element's index inside it, walking from the
    /// nearer end of the list.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut k = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if k < n.count {
                    return (ni, k);
                }
                k -= n.count;
            }
        } else {
            let mut k = self.len - 1 - i;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                if k < n.count {
                    return (ni, n.count - 1 - k);
                }
                k -= n.count;
            }
        }
        unreachable!("index checked against the length")
    }

    /// Element at a Redis index (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        let i = self.resolve(index)?;
        let (ni, k) = self.locate(i);
        let n = &self.nodes[ni];
        Some(n.bytes(n.nth(k)))
    }

    /// Replaces the element at a Redis index; false if the index is out of range.
    pub fn set(&mut self, index: i64, value: &[u8]) -> bool {
        let Some(i) = self.resolve(index) else { return false };
        let (ni, k) = self.locate(i);
        let n = &mut self.nodes[ni];
        let before = n.buf.capacity();
        let s = n.nth(k);
        n.remove(s);
        n.insert_at(s.start, value);
        self.bytes = self.bytes + n.buf.capacity() - before;
        self.split_if_over(ni);
        true
    }

    /// Splits node `ni` in two while it is past the fill (Redis splits a node that an insert
    /// or replacement made too big).
    fn split_if_over(&mut self, ni: usize) {
        if self.nodes[ni].over(self.fill) {
            let half = self.nodes[ni].count / 2;
            let tail = self.nodes[ni].split_off(half);
            self.bytes += tail.buf.capacity();
            self.nodes.insert(ni + 1, tail);
            self.split_if_over(ni + 1);
            self.split_if_over(ni);
        }
    }

    fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 { len.checked_add(index)? } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// Elements from `from` (0-based) on, front to back.
    pub fn iter_from(&self, from: usize) -> Iter<'_> {
        if from >= self.len {
            return Iter { nodes: &self.nodes, node: 0, pos: 0, remaining: 0 };
        }
        let (ni, k) = self.locate(from);
        let pos = self.nodes[ni].nth(k).start;
        Iter { nodes: &self.nodes, node: ni, pos, remaining: self.len - from }
    }

    /// Elements `start..=end` (0-based, already clamped, start <= end < len).
    pub fn slice(&self, start: usize, end: usize) -> Iter<'_> {
        let mut it = self.iter_from(start);
        it.remaining = it.remaining.min(end + 1 - start);
        it
    }

    /// Inserts before or after the first element equal to `pivot`, searching from the head.
    /// Returns false if the pivot is not there.
    pub fn insert_at_pivot(&mut self, after: bool, pivot: &[u8], value: &[u8]) -> bool {
        for ni in 0..self.nodes.len() {
            let n = &mut self.nodes[ni];
            let mut pos = 0;
            while pos < n.buf.len() {
                let s = n.read_at(pos);
                if n.bytes(s) == pivot {
                    let before = n.buf.capacity();
                    n.insert_at(if after { s.end } else { s.start }, value);
                    self.bytes = self.bytes + n.buf.capacity() - before;
                    self.len += 1;
                    self.split_if_over(ni);
                    return true;
                }
                pos = s.end;
            }
        }
        false
    }

    /// LREM: removes up to `count` elements equal to `value` (0 = all), from the head, or from
    /// the tail when `count` is negative. Returns how many went.
    pub fn remove_matching(&mut self, count: i64, value: &[u8]) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs().min(usize::MAX as u64) as usize };
        let mut removed = 0usize;
        let order: Vec<usize> = if count >= 0 { (0..self.nodes.len()).collect() } else { (0..self.nodes.len()).rev().collect() };
        for ni in order {
            if removed == limit {
                break;
            }
            let n = &mut self.nodes[ni];
            // Find this node's victims in scan order, then rebuild the node once: O(node).
            let mut victims: Vec<(usize, usize)> = Vec::new();
            if count >= 0 {
                let mut pos = 0;
                while pos < n.buf.len() && removed + victims.len() < limit {
                    let s = n.read_at(pos);
                    if n.bytes(s) == value {
                        victims.push((s.start, s.end));
                    }
                    pos = s.end;
                }
            } else {
                let mut end = n.buf.len();
                while end > 0 && removed + victims.len() < limit {
                    let s = n.read_before(end);
                    if n.bytes(s) == value {
                        victims.push((s.start, s.end));
                    }
                    end = s.start;
                }
                victims.reverse();
            }
            if victims.is_empty() {
                continue;
            }
            let mut kept = Vec::with_capacity(n.buf.len());
            let mut from = 0;
            for &(a, b) in &victims {
                kept.extend_from_slice(&n.buf[from..a]);
                from = b;
            }
            kept.extend_from_slice(&n.buf[from..]);
            self.bytes = self.bytes + kept.capacity() - n.buf.capacity();
            n.buf = kept;
            n.count -= victims.len();
            removed += victims.len();
        }
        let bytes = &mut self.bytes;
        self.nodes.retain(|n| {
            if n.count == 0 {
                *bytes -= n.buf.capacity();
            }
            n.count > 0
        });
        self.len -= removed;
        removed
    }

    /// Drops `left` elements from the head and `right` from the tail, whole nodes at a time
    /// where possible.
    pub fn trim(&mut self, left: usize, right: usize) {
        if left.saturating_add(right) >= self.len {
            self.nodes.clear();
            self.len = 0;
            self.bytes = 0;
            return;
        }
        let mut left = left;
        while left > 0 {
            let n = self.nodes.front_mut().expect("trim stays within the length");
            if n.count <= left {
                left -= n.count;
                self.len -= n.count;
                self.bytes -= n.buf.capacity();
                self.nodes.pop_front();
            } else {
                let keep = n.split_off(left);
                self.bytes = self.bytes + keep.buf.capacity() - n.buf.capacity();
                *n = keep;
                self.len -= left;
                left = 0;
            }
        }
        let mut right = right;
        while right > 0 {
            let n = self.nodes.back_mut().expect("trim stays within the length");
            if n.count <= right {
                right -= n.count;
                self.len -= n.count;
                self.bytes -= n.buf.capacity();
                self.nodes.pop_back();
            } else {
                let k = n.count - right;
                n.split_off(k);
                self.len -= right;
                right = 0;
            }
        }
    }

    /// LPOS's scan: indexes of matches in order of discovery, starting from the head
    /// (`from_tail` false) or the tail, skipping the first `rank - 1` matches, stopping after
    /// `count` results (0 = no limit) or `maxlen` compared elements (0 = no limit).
    pub fn positions(&self, value: &[u8], rank: usize, from_tail: bool, count: usize, maxlen: usize) -> Vec<usize> {
        let scan = if maxlen == 0 { self.len } else { maxlen.min(self.len) };
        let mut out = Vec::new();
        let mut matches = 0usize;
        let mut step = 0usize;
        let mut check = |i: usize, b: &[u8]| -> bool {
            if b == value {
                matches += 1;
                if matches >= rank {
                    out.push(i);
                    if count != 0 && out.len() >= count {
                        return false;
                    }
                }
            }
            true
        };
        if from_tail {
            'nodes: for n in self.nodes.iter().rev() {
                let mut end = n.buf.len();
                while end > 0 {
                    if step == scan {
                        break 'nodes;
                    }
                    let s = n.read_before(end);
                    if !check(self.len - 1 - step, n.bytes(s)) {
                        break 'nodes;
                    }
                    step += 1;
                    end = s.start;
                }
            }
        } else {
            for (i, b) in self.iter_from(0).take(scan).enumerate() {
                if !check(i, b) {
                    break;
                }
            }
        }
        out
    }
}

/// Redis's index rule for LRANGE/LTRIM (addListRangeReply, ltrimCommand): negative counts from
/// the end, start clamped to 0, end clamped to the last element. None when the range is empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut s = if start < 0 { llen.saturating_add(start) } else { start };
    let mut e = if end < 0 { llen.saturating_add(end) } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= llen {
        return None;
    }
    if e >= llen {
        e = llen - 1;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new(-2);
        for i in items {
            l.push(End::Right, i.as_bytes());
        }
        l
    }

    fn contents(l: &List) -> Vec<String> {
        l.iter_from(0).map(|b| String::from_utf8_lossy(b).into_owned()).collect()
    }

    /// Every operation against a plain VecDeque model, for fills that make many small nodes,
    /// byte-capped nodes, and entries longer than a node (varints of several bytes).
    #[test]
    fn matches_a_simple_model_under_random_operations() {
        for fill in [1i64, 2, 5, -1, -2, 0] {
            let mut rng = 0x1234_5678_9abc_def0u64 ^ fill as u64;
            let mut rand = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut l = List::new(fill);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..4000 {
                let v: Vec<u8> = match rand(4) {
                    0 => vec![b'a' + rand(3) as u8],
                    1 => vec![b'x'; rand(300) as usize],
                    2 => vec![b'y'; 5000 + rand(20000) as usize],
                    _ => format!("{}", rand(5)).into_bytes(),
                };
                let len = m.len() as i64;
                match rand(10) {
                    0 | 1 => {
                        l.push(End::Left, &v);
                        m.push_front(v);
                    }
                    2 | 3 => {
                        l.push(End::Right, &v);
                        m.push_back(v);
                    }
                    4 => assert_eq!(l.pop(End::Left).map(|e| e.as_bytes().to_vec()), m.pop_front()),
                    5 => assert_eq!(l.pop(End::Right).map(|e| e.as_bytes().to_vec()), m.pop_back()),
                    6 => {
                        let i = rand(len as u64 + 2) as i64 - 1;
                        let ok = l.set(i, &v);
                        let at = if i < 0 { len + i } else { i };
                        assert_eq!(ok, at >= 0 && at < len);
                        if ok {
                            m[at as usize] = v;
                        }
                    }
                    7 => {
                        let pivot = vec![b'a' + rand(3) as u8];
                        let after = rand(2) == 0;
                        let found = m.iter().position(|e| *e == pivot);
                        assert_eq!(l.insert_at_pivot(after, &pivot, &v), found.is_some());
                        if let Some(p) = found {
                            m.insert(if after { p + 1 } else { p }, v);
                        }
                    }
                    8 => {
                        let target = vec![b'a' + rand(3) as u8];
                        let count = rand(5) as i64 - 2;
                        let mut removed = 0;
                        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                        let idx: Vec<usize> = if count >= 0 { (0..m.len()).collect() } else { (0..m.len()).rev().collect() };
                        let mut gone = vec![false; m.len()];
                        for i in idx {
                            if removed < limit && m[i] == target {
                                gone[i] = true;
                                removed += 1;
                            }
                        }
                        let mut k = 0;
                        m.retain(|_| {
                            k += 1;
                            !gone[k - 1]
                        });
                        assert_eq!(l.remove_matching(count, &target), removed);
                    }
                    _ => {
                        if rand(8) == 0 {
                            let (a, b) = (rand(4) as usize, rand(4) as usize);
                            l.trim(a, b);
                            if a + b >= m.len() {
                                m.clear();
                            } else {
                                m.truncate(m.len() - b);
                                m.drain(..a);
                            }
                        }
                    }
                }
                assert_eq!(l.len(), m.len());
                let i = rand(m.len() as u64 + 1) as i64;
                assert_eq!(l.get(i), m.get(i as usize).map(|v| &v[..]));
                assert_eq!(l.get(-1), m.back().map(|v| &v[..]));
                for n in &l.nodes {
                    assert!(n.count > 0);
                }
                assert_eq!(l.bytes, l.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>(), "byte count kept in step");
            }
            assert_eq!(l.clone().bytes, l.nodes.iter().map(|n| n.buf.len()).sum::<usize>());
            let all: Vec<&[u8]> = l.iter_from(0).collect();
            assert_eq!(all, m.iter().map(|v| &v[..]).collect::<Vec<_>>());
            if m.len() > 3 {
                let it = l.slice(1, m.len() - 2);
                assert_eq!(it.len(), m.len() - 2);
                assert!(it.eq(m.iter().skip(1).take(m.len() - 2).map(|v| &v[..])));
            }
            for rank in [1usize, 2] {
                for tail in [false, true] {
                    let want: Vec<usize> = if tail {
                        (0..m.len()).rev().filter(|&i| m[i] == b"a").skip(rank - 1).collect()
                    } else {
                        (0..m.len()).filter(|&i| m[i] == b"a").skip(rank - 1).collect()
                    };
                    assert_eq!(l.positions(b"a", rank, tail, 0, 0), want);
                }
            }
        }
    }

    #[test]
    fn nodes_follow_the_fill() {
        let mut l = List::new(3);
        for i in 0..10 {
            l.push(End::Right, format!("{i}").as_bytes());
        }
        assert_eq!(l.nodes.len(), 4);
        let mut l = List::new(-1);
        for _ in 0..100 {
            l.push(End::Left, &[b'z'; 100]);
        }
        // 4 KB nodes of 102-byte entries: 40 per node.
        assert_eq!(l.nodes.len(), 3);
        assert!(l.nodes.iter().all(|n| n.buf.len() <= 4096));
    }

    #[test]
    fn elements_inline_and_boxed_read_back() {
        let long = vec![b'x'; 100];
        let mut l = List::new(-2);
        l.push(End::Right, b"short");
        l.push(End::Left, &long);
        l.push(End::Right, b"");
        assert_eq!(l.get(0), Some(&long[..]));
        assert_eq!(l.get(1), Some(&b"short"[..]));
        assert_eq!(l.get(-1), Some(&b""[..]));
        assert_eq!(l.get(3), None);
        assert_eq!(l.get(-4), None);
        assert_eq!(l.get(i64::MIN), None);
        assert_eq!(std::mem::size_of::<Elem>(), 24);
        assert_eq!(l.encoding_name(), "quicklist");
    }

    #[test]
    fn lrem_from_head_and_tail() {
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove_matching(-2, b"a"), 2);
        assert_eq!(contents(&l), ["a", "b", "c"]);
        let mut l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.remove_matching(1, b"a"), 1);
        assert_eq!(contents(&l), ["b", "a", "c", "a"]);
        assert_eq!(l.remove_matching(0, b"a"), 2);
        assert_eq!(contents(&l), ["b", "c"]);
        assert_eq!(l.remove_matching(0, b"zz"), 0);
    }

    #[test]
    fn ranges_follow_redis_clamping() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(2, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(0, -10, 5), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        let mut l = list(&["1", "2", "3", "4", "5"]);
        l.trim(1, 2);
        assert_eq!(contents(&l), ["2", "3"]);
        l.trim(1, 1);
        assert!(l.is_empty());
    }

    #[test]
    fn positions_with_rank_count_maxlen() {
        let l = list(&["a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(l.positions(b"c", 1, false, 1, 0), [2]);
        assert_eq!(l.positions(b"c", 2, false, 0, 0), [6, 7]);
        assert_eq!(l.positions(b"c", 1, true, 2, 0), [7, 6]);
        assert_eq!(l.positions(b"c", 1, false, 0, 3), [2]);
        assert_eq!(l.positions(b"c", 1, true, 0, 3), [7, 6]);
        assert!(l.positions(b"x", 1, false, 0, 0).is_empty());
    }

    #[test]
    fn insert_at_pivot_before_and_after() {
        let mut l = list(&["a", "b"]);
        assert!(l.insert_at_pivot(false, b"b", b"x"));
        assert!(l.insert_at_pivot(true, b"b", b"y"));
        assert!(!l.insert_at_pivot(true, b"zz", b"y"));
        assert_eq!(contents(&l), ["a", "x", "b", "y"]);
        assert!(l.set(-1, b"z"));
        assert!(!l.set(4, b"z"));
        assert_eq!(contents(&l), ["a", "x", "b", "z"]);
    }
}
