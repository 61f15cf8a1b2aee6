//! [`KeyNode`]: one key of the keyspace, in one allocation of exactly the size it needs, and
//! [`KeyTable`], the keyspace's table of them (the [`Chains`] machinery of [`crate::dict`]).
//!
//! Why not a `Dict<Entry>`: its node is a fixed 80 bytes (key 24, value 32, expiry 8, clock and
//! colour 8, link 8) plus a separate allocation for a short string's bytes. A 16-byte key with a
//! 16-byte value needs 48: here the key and a short value are stored inline, an integer as an
//! integer, and the expiry only when the key has one.
//!
//! Layout (`repr(C)` header, then variable parts; the allocation is 8-aligned):
//! ```text
//! [next: Option<KeyNode> 8][lru u32][klen u16][vlen u8][flags u8]   header, 16 bytes
//! [expire_at i64][volatile position u32] only with flag TTL (12 bytes)
//! [key length u64, unaligned]            only with flag LONG_KEY (klen == u16::MAX)
//! [key bytes]
//! [value]  BYTES: vlen bytes, right after the key (a string of at most SMALL_CAP bytes)
//!          INT:   an i64, unaligned, right after the key (an int-encoded string)
//!          FULL:  a `Value` (32 bytes), 8-aligned (raw and longer strings, every collection)
//! ```
//! So 16 + 16 + 16 = 48 bytes for the 16-byte key and value above (60 with a TTL), 16 + 16 + 8
//! = 40 for a counter, 16 + 16 + 32 = 64 for a collection's header (its data stays where it was).
//!
//! A TTL node's volatile position is its index in its database's
//! [`crate::volatile::VolatileIndex`] (which holds the node's hash at that index): the keyspace
//! sets it when it indexes the node, and every reshape of a node that keeps its TTL carries it
//! over ([`KeyNode::replace`]), so handlers holding a `&mut KeyNode` never need the index.
//!
//! The node is handed out as `&KeyNode` (read) and `&mut KeyNode` (write: the pointer itself,
//! so a change of layout reallocates the node and relinks it in place). Values are read through
//! [`KeyNode::value`], which lends the stored `Value` or, for a compact string, builds one on
//! the stack ([`StrValue::Small`] or [`StrValue::Int`]: no allocation); [`KeyNode::value_mut`]
//! first turns a compact string into a stored `Value` (APPEND, SETRANGE and the bit commands
//! change the bytes in place, and Redis makes such a string raw anyway); [`KeyNode::set_value`]
//! stores a whole new value in its most compact form.
//!
//! Invariants: the header's flags, `klen`/key length and `vlen` alone determine the layout (and
//! so the size to free); a FULL node's `Value` is initialised unless flag MOVED says it was
//! moved out (then only the memory is freed); a TTL node in a keyspace table holds its own
//! volatile position (a new one holds [`UNINDEXED`] until the keyspace indexes it).

use std::alloc::{self, Layout};
use std::ops::Deref;
use std::ptr::{self, NonNull};

use crate::dict::{ChainNode, Chains};
use crate::keyspace::Entry;
use crate::value::{StrRef, StrValue, Value, SMALL_CAP};

/// The keyspace's table: keys to [`KeyNode`]s.
pub type KeyTable = Chains<KeyNode>;

const COLOUR: u8 = 0x01;
const TTL: u8 = 0x02;
const LONG_KEY: u8 = 0x04;
const KIND: u8 = 0x18;
const KIND_BYTES: u8 = 0x00;
const KIND_INT: u8 = 0x08;
const KIND_FULL: u8 = 0x10;
/// A FULL node whose `Value` was moved out: free the memory only.
const MOVED: u8 = 0x80;
/// `klen` value meaning "the key's length is stored after the header".
const KLEN_LONG: u16 = u16::MAX;
/// Bytes of a TTL node's expiry and volatile position.
const TTL_PART: usize = 12;
/// The volatile position of a TTL node not indexed yet.
pub(crate) const UNINDEXED: u32 = u32::MAX;

#[repr(C)]
struct Header {
    next: Option<KeyNode>,
    lru: u32,
    klen: u16,
    vlen: u8,
    flags: u8,
}

const HEADER: usize = std::mem::size_of::<Header>();
const VALUE: usize = std::mem::size_of::<Value>();

/// An owning pointer to one keyspace node (see the module docs).
pub struct KeyNode(NonNull<Header>);

// A node is plain owned data (a `Value` and bytes), moved between threads with its shard.
unsafe impl Send for KeyNode {}
unsafe impl Sync for KeyNode {}

/// How a value is stored in a node.
enum Compact<'a> {
    Bytes(&'a [u8]),
    Int(i64),
    Full,
}

fn compact(v: &Value) -> Compact<'_> {
    match v {
        Value::Str(StrValue::Int(n)) => Compact::Int(*n),
        Value::Str(s @ StrValue::Small { .. }) => match s.as_str_ref() {
            StrRef::Bytes(b) => Compact::Bytes(b),
            StrRef::Int(_) => Compact::Full,
        },
        Value::Str(StrValue::Emb(b)) if b.len() <= SMALL_CAP => Compact::Bytes(b),
        _ => Compact::Full,
    }
}

/// Bytes of the TTL part for these flags.
#[inline(always)]
fn ttl_part(flags: u8) -> usize {
    if flags & TTL != 0 {
        TTL_PART
    } else {
        0
    }
}

/// Offsets of a node's parts for its flags, key length and inline value length:
/// (key offset, value offset, allocation size).
#[inline]
fn layout_of(flags: u8, key_len: usize, vlen: u8) -> (usize, usize, usize) {
    let key_off = HEADER + ttl_part(flags) + if flags & LONG_KEY != 0 { 8 } else { 0 };
    let key_end = key_off + key_len;
    match flags & KIND {
        KIND_BYTES => (key_off, key_end, key_end + vlen as usize),
        KIND_INT => (key_off, key_end, key_end + 8),
        _ => {
            let at = (key_end + 7) & !7;
            (key_off, at, at + VALUE)
        }
    }
}

/// A value read from a node: the stored `Value`, or one built on the stack for a compact string.
pub enum ValueRef<'a> {
    Stored(&'a Value),
    Inline(Value),
}

impl Deref for ValueRef<'_> {
    type Target = Value;

    #[inline]
    fn deref(&self) -> &Value {
        match self {
            ValueRef::Stored(v) => v,
            ValueRef::Inline(v) => v,
        }
    }
}

impl ValueRef<'_> {
    pub fn into_owned(self) -> Value {
        match self {
            ValueRef::Stored(v) => v.clone(),
            ValueRef::Inline(v) => v,
        }
    }
}

impl KeyNode {
    /// A node for `key` holding `value` in its most compact form.
    pub fn new(key: &[u8], value: Value, expire_at: i64, lru: u32, colour: bool) -> KeyNode {
        let mut flags = if colour { COLOUR } else { 0 };
        if expire_at != 0 {
            flags |= TTL;
        }
        let klen = if key.len() >= KLEN_LONG as usize {
            flags |= LONG_KEY;
            KLEN_LONG
        } else {
            key.len() as u16
        };
        let (kind, vlen) = match compact(&value) {
            Compact::Bytes(b) => (KIND_BYTES, b.len() as u8),
            Compact::Int(_) => (KIND_INT, 0),
            Compact::Full => (KIND_FULL, 0),
        };
        flags |= kind;
        let (key_off, val_off, size) = layout_of(flags, key.len(), vlen);
        // Sizes are bounded by the key's length (proto-max-bulk-len), far below isize::MAX.
        let layout = Layout::from_size_align(size, 8).expect("node layout");
        // SAFETY: size >= HEADER > 0. Every part written below lies inside `size` bytes
        // (layout_of), the header at offset 0 is 8-aligned, the Value at an 8-aligned offset.
        unsafe {
            let p = alloc::alloc(layout);
            if p.is_null() {
                alloc::handle_alloc_error(layout);
            }
            ptr::write(p as *mut Header, Header { next: None, lru, klen, vlen, flags });
            let mut at = HEADER;
            if flags & TTL != 0 {
                ptr::write(p.add(at) as *mut i64, expire_at);
                ptr::write(p.add(at + 8) as *mut u32, UNINDEXED);
                at += TTL_PART;
            }
            if flags & LONG_KEY != 0 {
                ptr::write_unaligned(p.add(at) as *mut u64, key.len() as u64);
            }
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(key_off), key.len());
            match compact(&value) {
                Compact::Bytes(b) => ptr::copy_nonoverlapping(b.as_ptr(), p.add(val_off), b.len()),
                Compact::Int(n) => ptr::write_unaligned(p.add(val_off) as *mut i64, n),
                Compact::Full => {
                    ptr::write(p.add(val_off) as *mut Value, value);
                    return KeyNode(NonNull::new_unchecked(p as *mut Header));
                }
            }
            // A compact value's contents were copied; it owns no heap (or an Emb box to free).
            drop(value);
            KeyNode(NonNull::new_unchecked(p as *mut Header))
        }
    }

    /// A node holding an owned entry (RENAME, MOVE, RESTORE, loading).
    pub fn from_entry(key: &[u8], e: Entry) -> KeyNode {
        KeyNode::new(key, e.value, e.expire_at, e.lru, e.colour)
    }

    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: the allocation starts with an initialised Header.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: as above; `&mut self` owns the node.
        unsafe { self.0.as_mut() }
    }

    #[inline]
    fn base(&self) -> *mut u8 {
        self.0.as_ptr() as *mut u8
    }

    #[inline]
    fn key_len(&self) -> usize {
        let h = self.header();
        if h.klen != KLEN_LONG {
            return h.klen as usize;
        }
        let at = HEADER + ttl_part(h.flags);
        // SAFETY: LONG_KEY nodes store the length there (4-aligned after a TTL part).
        unsafe { ptr::read_unaligned(self.base().add(at) as *const u64) as usize }
    }

    #[inline]
    fn layout(&self) -> (usize, usize, usize) {
        let h = self.header();
        layout_of(h.flags, self.key_len(), h.vlen)
    }

    #[inline]
    fn kind(&self) -> u8 {
        self.header().flags & KIND
    }

    /// Offset of the value (the hot path of every read: no size computed, no long-key branch
    /// taken for ordinary keys).
    #[inline(always)]
    fn value_offset(&self) -> usize {
        let h = self.header();
        let key_end = if h.klen != KLEN_LONG { HEADER + ttl_part(h.flags) + h.klen as usize } else { self.layout().0 + self.key_len() };
        if h.flags & KIND == KIND_FULL {
            (key_end + 7) & !7
        } else {
            key_end
        }
    }

    /// The key's bytes.
    #[inline(always)]
    pub fn key(&self) -> &[u8] {
        let h = self.header();
        let (len, off) = if h.klen != KLEN_LONG {
            (h.klen as usize, HEADER + ttl_part(h.flags))
        } else {
            let (off, _, _) = self.layout();
            (self.key_len(), off)
        };
        // SAFETY: the key's bytes are at `off`, inside the allocation.
        unsafe { std::slice::from_raw_parts(self.base().add(off), len) }
    }

    /// The stored `Value` when the node holds one (never for a compact string).
    #[inline]
    pub fn full(&self) -> Option<&Value> {
        if self.kind() != KIND_FULL {
            return None;
        }
        // SAFETY: FULL nodes hold an initialised Value there (MOVED ones are never lent).
        Some(unsafe { &*(self.base().add(self.value_offset()) as *const Value) })
    }

    /// [`KeyNode::full`], mutably. A compact string gives None: callers wanting a collection
    /// answer WRONGTYPE without changing the node.
    #[inline]
    pub fn full_mut(&mut self) -> Option<&mut Value> {
        if self.kind() != KIND_FULL {
            return None;
        }
        // SAFETY: as in `full`, and `&mut self` owns the node.
        Some(unsafe { &mut *(self.base().add(self.value_offset()) as *mut Value) })
    }

    /// The value as a string view (None when it is not a string): no copy of the bytes.
    #[inline]
    pub fn str_ref(&self) -> Option<StrRef<'_>> {
        // SAFETY: the value's offset holds what the kind says: inline bytes, an i64, a Value.
        unsafe {
            let p = self.base().add(self.value_offset());
            match self.kind() {
                KIND_BYTES => Some(StrRef::Bytes(std::slice::from_raw_parts(p, self.header().vlen as usize))),
                KIND_INT => Some(StrRef::Int(ptr::read_unaligned(p as *const i64))),
                _ => match &*(p as *const Value) {
                    Value::Str(s) => Some(s.as_str_ref()),
                    _ => None,
                },
            }
        }
    }

    /// The value: the stored one, or a compact string rebuilt on the stack.
    #[inline]
    pub fn value(&self) -> ValueRef<'_> {
        if let Some(v) = self.full() {
            return ValueRef::Stored(v);
        }
        match self.str_ref() {
            Some(StrRef::Int(n)) => ValueRef::Inline(Value::Str(StrValue::Int(n))),
            Some(StrRef::Bytes(b)) => ValueRef::Inline(Value::Str(StrValue::embstr(b))),
            None => unreachable!("a compact node holds a string"),
        }
    }

    /// The value for an in-place change: a compact string is first stored as a `Value` (the
    /// node is reallocated, so its size changes: writers go through the accountant's open key).
    pub fn value_mut(&mut self) -> &mut Value {
        if self.kind() != KIND_FULL {
            let v = self.value().into_owned();
            let (expire_at, lru, colour) = (self.expire_at(), self.lru(), self.colour());
            // `new` would store the string compactly again: build FULL with a placeholder.
            let mut node = KeyNode::new(self.key(), Value::Str(StrValue::Raw(Vec::new())), expire_at, lru, colour);
            if let Some(slot) = node.full_mut() {
                *slot = v;
            }
            self.replace(node);
        }
        match self.full_mut() {
            Some(v) => v,
            None => unreachable!("just stored whole"),
        }
    }

    /// Stores `value` (in its most compact form) and `expire_at` (0: none), reallocating only
    /// when the layout changes (an overwrite of a same-sized value happens in place).
    pub fn set_value(&mut self, value: Value, expire_at: i64) {
        let h = self.header();
        if (h.flags & TTL != 0) == (expire_at != 0) {
            let (vlen, kind) = (h.vlen as usize, self.kind());
            let (_, at, _) = self.layout();
            let in_place = match compact(&value) {
                Compact::Bytes(b) if kind == KIND_BYTES && b.len() == vlen => {
                    // SAFETY: same length as the stored bytes at `at`.
                    unsafe { ptr::copy_nonoverlapping(b.as_ptr(), self.base().add(at), b.len()) };
                    true
                }
                Compact::Int(n) if kind == KIND_INT => {
                    // SAFETY: INT nodes hold an i64 at `at`.
                    unsafe { ptr::write_unaligned(self.base().add(at) as *mut i64, n) };
                    true
                }
                Compact::Full => kind == KIND_FULL,
                _ => false,
            };
            if in_place {
                if let Some(v) = self.full_mut() {
                    *v = value;
                }
                self.set_expire_in_place(expire_at);
                return;
            }
        }
        let (lru, colour) = (self.lru(), self.colour());
        self.replace(KeyNode::new(self.key(), value, expire_at, lru, colour));
    }

    /// Replaces the whole entry (value, expiry, clock, colour) of this key.
    pub fn set_entry(&mut self, e: Entry) {
        let new = KeyNode::from_entry(self.key(), e);
        self.replace(new);
    }

    /// The expiry (absolute Unix ms), 0 when none.
    #[inline]
    pub fn expire_at(&self) -> i64 {
        if self.header().flags & TTL == 0 {
            return 0;
        }
        // SAFETY: TTL nodes store the expiry right after the header.
        unsafe { ptr::read(self.base().add(HEADER) as *const i64) }
    }

    #[inline]
    pub fn is_expired(&self, now_ms: i64) -> bool {
        let t = self.expire_at();
        t != 0 && t <= now_ms
    }

    /// Sets or clears (0) the expiry; adding or removing one reallocates the node.
    pub fn set_expire_at(&mut self, expire_at: i64) {
        if (self.header().flags & TTL != 0) == (expire_at != 0) {
            self.set_expire_in_place(expire_at);
            return;
        }
        let (lru, colour) = (self.lru(), self.colour());
        let value = self.move_value_out();
        self.replace(KeyNode::new(self.key(), value, expire_at, lru, colour));
    }

    /// The node's position in its database's volatile index: None without a TTL,
    /// [`UNINDEXED`] for a TTL node the keyspace has not indexed yet.
    #[inline]
    pub(crate) fn volatile_pos(&self) -> Option<u32> {
        if self.header().flags & TTL == 0 {
            return None;
        }
        // SAFETY: TTL nodes store the position after the expiry (4-aligned).
        Some(unsafe { ptr::read(self.base().add(HEADER + 8) as *const u32) })
    }

    /// Records the node's volatile position (TTL nodes only; others have no slot for it).
    #[inline]
    pub(crate) fn set_volatile_pos(&mut self, pos: u32) {
        debug_assert!(self.header().flags & TTL != 0, "a node without TTL has no volatile position");
        if self.header().flags & TTL != 0 {
            // SAFETY: as in `volatile_pos`.
            unsafe { ptr::write(self.base().add(HEADER + 8) as *mut u32, pos) };
        }
    }

    #[inline]
    fn set_expire_in_place(&mut self, expire_at: i64) {
        if expire_at != 0 {
            // SAFETY: the caller checked the node has an expiry slot.
            unsafe { ptr::write(self.base().add(HEADER) as *mut i64, expire_at) };
        }
    }

    /// The access clock (see [`crate::evict`]).
    #[inline]
    pub fn lru(&self) -> u32 {
        self.header().lru
    }

    #[inline]
    pub fn lru_mut(&mut self) -> &mut u32 {
        &mut self.header_mut().lru
    }

    /// Snapshot colour (see [`crate::snapshot`]).
    #[inline]
    pub(crate) fn colour(&self) -> bool {
        self.header().flags & COLOUR != 0
    }

    #[inline]
    pub(crate) fn set_colour(&mut self, colour: bool) {
        let h = self.header_mut();
        h.flags = (h.flags & !COLOUR) | if colour { COLOUR } else { 0 };
    }

    /// Bytes of this node's allocation (what the accountant books for it, besides the value's
    /// own heap).
    #[inline]
    pub fn alloc_bytes(&self) -> usize {
        self.layout().2
    }

    /// Heap bytes the value holds outside the node.
    #[inline]
    pub fn value_heap_bytes(&self) -> usize {
        self.full().map_or(0, Value::heap_bytes)
    }

    /// A copy as an owned entry.
    pub fn to_entry(&self) -> Entry {
        Entry { value: self.value().into_owned(), expire_at: self.expire_at(), lru: self.lru(), colour: self.colour() }
    }

    /// The node as an owned entry (the value is moved, not copied).
    pub fn into_entry(mut self) -> Entry {
        let (expire_at, lru, colour) = (self.expire_at(), self.lru(), self.colour());
        Entry { value: self.move_value_out(), expire_at, lru, colour }
    }

    /// Takes the value out, leaving a node that frees only its memory when dropped.
    fn move_value_out(&mut self) -> Value {
        if self.kind() != KIND_FULL {
            return self.value().into_owned();
        }
        let (_, at, _) = self.layout();
        self.header_mut().flags |= MOVED;
        // SAFETY: FULL node, initialised Value at `at`; MOVED keeps Drop from dropping it again.
        unsafe { ptr::read(self.base().add(at) as *const Value) }
    }

    /// Puts `new` (same key) in this node's place in its chain, freeing this one. When both
    /// have a TTL, `new` takes over this node's volatile position (same key, same hash: the
    /// index entry stays right); adding or removing a TTL is the keyspace's to index.
    fn replace(&mut self, mut new: KeyNode) {
        new.header_mut().next = self.header_mut().next.take();
        if let (Some(pos), Some(_)) = (self.volatile_pos(), new.volatile_pos()) {
            new.set_volatile_pos(pos);
        }
        *self = new;
    }
}

impl Drop for KeyNode {
    fn drop(&mut self) {
        let (_, at, size) = self.layout();
        let flags = self.header().flags;
        // SAFETY: the node is being dropped: drop its parts once, then free exactly the layout
        // it was allocated with (determined by the header, see the module invariants).
        unsafe {
            ptr::drop_in_place(&mut self.header_mut().next);
            if flags & KIND == KIND_FULL && flags & MOVED == 0 {
                ptr::drop_in_place(self.base().add(at) as *mut Value);
            }
            alloc::dealloc(self.base(), Layout::from_size_align_unchecked(size, 8));
        }
    }
}

impl ChainNode for KeyNode {
    /// The header and a short key: a node's first 48 bytes.
    const LOOKUP_SPAN: usize = 48;

    #[inline]
    fn key(&self) -> &[u8] {
        KeyNode::key(self)
    }

    #[inline]
    fn addr(&self) -> *const u8 {
        self.0.as_ptr() as *const u8
    }

    #[inline]
    fn next(&self) -> &Option<Self> {
        &self.header().next
    }

    /// The rest of the node past its first 48 bytes (a value stored in it), up to 4 cache
    /// lines; a value kept outside the node is not followed.
    #[inline]
    fn prefetch_body(&self) {
        let p = self.0.as_ptr() as *const u8;
        let len = self.alloc_bytes();
        let mut at = Self::LOOKUP_SPAN;
        while at < len.min(256) {
            crate::dict::prefetch(p.wrapping_add(at));
            at += 64;
        }
        if len > Self::LOOKUP_SPAN {
            crate::dict::prefetch(p.wrapping_add(len - 1));
        }
    }

    /// A string value's bytes kept outside the node (an embstr longer than a node holds, a raw
    /// string): the first and the last of their cache lines, up to 4.
    #[inline]
    fn prefetch_outside(&self) {
        let bytes: &[u8] = match self.full() {
            Some(Value::Str(StrValue::Emb(b))) => b,
            Some(Value::Str(StrValue::Raw(v))) => v,
            _ => return,
        };
        let p = bytes.as_ptr();
        let len = bytes.len().min(256);
        let mut at = 0;
        while at < len {
            crate::dict::prefetch(p.wrapping_add(at));
            at += 64;
        }
        if len > 0 {
            crate::dict::prefetch(p.wrapping_add(len - 1));
        }
    }

    #[inline]
    fn next_mut(&mut self) -> &mut Option<Self> {
        &mut self.header_mut().next
    }
}

impl std::fmt::Debug for KeyNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyNode")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("value", &*self.value())
            .field("expire_at", &self.expire_at())
            .finish()
    }
}

impl KeyTable {
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&KeyNode> {
        self.node(key)
    }

    /// Mutable lookup (advances a rehash by one step, as dictFind).
    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut KeyNode> {
        self.node_mut(key)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<KeyNode> {
        self.remove_node(key)
    }

    /// Bytes of table overhead, O(1): the bucket arrays and every node's header (link, clock,
    /// lengths, flags); keys, expiries and values are the data.
    pub fn overhead_bytes(&self) -> usize {
        self.bucket_bytes() + self.len() * HEADER
    }

    /// Every `(key, node)`, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &KeyNode)> {
        self.nodes().map(|n| (n.key(), n))
    }

    /// Redis dictScan over `(key, node)`: see [`Chains::scan_nodes`].
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &KeyNode)) -> u64 {
        self.scan_nodes(cursor, |n| f(n.key(), n))
    }

    /// A random key (dictGetFairRandomKey), or None if empty.
    pub fn random_entry(&self, rand: &mut impl FnMut() -> u64) -> Option<(&[u8], &KeyNode)> {
        self.random_fair_node(rand).map(|n| (n.key(), n))
    }

    /// dictGetSomeKeys over `(key, node)`: see [`Chains::sample_nodes`].
    pub fn sample(&self, count: usize, rand: &mut impl FnMut() -> u64, mut f: impl FnMut(&[u8], &KeyNode)) -> usize {
        self.sample_nodes(count, rand, |n| f(n.key(), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Shard;
    use crate::types::list::End;

    fn s(v: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(v))
    }

    fn encoding(sh: &mut Shard, key: &[u8]) -> &'static str {
        sh.peek(0, key).map(|e| e.value().encoding_name()).unwrap_or("none")
    }

    fn bytes(sh: &mut Shard, key: &[u8]) -> Vec<u8> {
        sh.get_str(0, key).unwrap().unwrap().to_vec()
    }

    /// The accountant's running figure still equals a recount from the nodes.
    fn assert_booked(sh: &mut Shard) {
        assert_eq!(sh.dataset_bytes(), sh.dataset_bytes_recount());
    }

    #[test]
    fn strings_change_between_inline_and_whole_as_redis_encodings_do() {
        let mut sh = Shard::new(0, 1);
        sh.store(0, b"k", s(b"hello"), None, false);
        assert_eq!((encoding(&mut sh, b"k"), sh.peek(0, b"k").map(KeyNode::alloc_bytes)), ("embstr", Some(HEADER + 1 + 5)));
        // APPEND makes it raw: stored whole, with spare capacity.
        assert_eq!(sh.append(0, b"k", b" world", u64::MAX), Ok(11));
        assert_eq!((encoding(&mut sh, b"k"), bytes(&mut sh, b"k")), ("raw", b"hello world".to_vec()));
        assert!(sh.peek(0, b"k").is_some_and(|e| e.full().is_some()));
        assert_booked(&mut sh);
        // SETRANGE on an inline string, and on an integer.
        sh.store(0, b"r", s(b"abc"), None, false);
        assert_eq!(sh.setrange(0, b"r", 5, b"xy", u64::MAX), Ok(7));
        assert_eq!((encoding(&mut sh, b"r"), bytes(&mut sh, b"r")), ("raw", b"abc\0\0xy".to_vec()));
        sh.store(0, b"i", s(b"123"), None, false);
        assert_eq!(sh.setrange(0, b"i", 0, b"9", u64::MAX), Ok(3));
        assert_eq!((encoding(&mut sh, b"i"), bytes(&mut sh, b"i")), ("raw", b"923".to_vec()));
        // INCR stores an integer, in place when it already was one; a raw text that parses
        // becomes an integer again (Redis replaces the object).
        assert_eq!(sh.incr_by(0, b"i", 1), Ok(924));
        assert_eq!((encoding(&mut sh, b"i"), sh.peek(0, b"i").map(KeyNode::alloc_bytes)), ("int", Some(HEADER + 1 + 8)));
        assert_eq!(sh.incr_by(0, b"i", -1000), Ok(-76));
        assert_eq!(bytes(&mut sh, b"i"), b"-76");
        assert_eq!(sh.incr_by(0, b"r", 1), Err(crate::OpError::NotInteger));
        assert_eq!(sh.incr_by(0, b"new", 5), Ok(5));
        assert_booked(&mut sh);
        // A short string stored over a collection is inline again; a collection over a string
        // is stored whole; WRONGTYPE leaves a compact string as it was.
        sh.list_push(0, b"l", End::Right, [&b"a"[..], b"b"], false, -2).unwrap();
        assert_eq!(sh.list_push(0, b"new", End::Right, [&b"a"[..]], false, -2), Err(crate::OpError::WrongType));
        assert_eq!(encoding(&mut sh, b"new"), "int");
        sh.store(0, b"l", s(b"plain"), None, false);
        assert_eq!((encoding(&mut sh, b"l"), bytes(&mut sh, b"l")), ("embstr", b"plain".to_vec()));
        sh.list_push(0, b"k", End::Left, [&b"x"[..]], false, -2).unwrap_err();
        sh.remove(0, b"k");
        sh.list_push(0, b"k", End::Left, [&b"x"[..]], false, -2).unwrap();
        assert_eq!(sh.peek(0, b"k").map(|e| e.value().type_name()), Some("list"));
        // Longer than SMALL_CAP: an embstr stored whole.
        let long = [b'x'; SMALL_CAP + 1];
        sh.store(0, b"e", s(&long), None, false);
        assert_eq!((encoding(&mut sh, b"e"), bytes(&mut sh, b"e")), ("embstr", long.to_vec()));
        assert_booked(&mut sh);
    }

    #[test]
    fn expire_and_persist_reshape_the_node_and_keep_the_rest() {
        let mut sh = Shard::new(0, 1);
        sh.set_now(1_000);
        let key = b"key:000000000001";
        sh.store(0, key, s(b"v000000000000001"), None, false);
        let lru = sh.peek(0, key).map(KeyNode::lru);
        assert_eq!(sh.peek(0, key).map(KeyNode::alloc_bytes), Some(48));
        assert!(sh.set_expire(0, key, 5_000));
        let e = sh.peek(0, key).expect("still there");
        assert_eq!((e.alloc_bytes(), e.expire_at(), e.lru()), (60, 5_000, lru.unwrap()));
        assert_eq!(bytes(&mut sh, key), b"v000000000000001");
        assert_eq!(sh.dbs[0].expires(), 1);
        // An overwrite of the same size keeps the node (and, with KEEPTTL, the expiry).
        sh.store(0, key, s(b"w000000000000001"), None, true);
        assert_eq!(sh.peek(0, key).map(|e| (e.alloc_bytes(), e.expire_at())), Some((60, 5_000)));
        assert!(sh.persist(0, key));
        assert_eq!(sh.peek(0, key).map(|e| (e.alloc_bytes(), e.expire_at())), Some((48, 0)));
        assert_eq!((bytes(&mut sh, key), sh.dbs[0].expires()), (b"w000000000000001".to_vec(), 0));
        // A collection keeps its value when its node is reshaped.
        sh.list_push(0, b"l", End::Right, [&b"a"[..], b"b"], false, -2).unwrap();
        sh.set_expire(0, b"l", 9_000);
        sh.set_expire(0, b"l", 0);
        assert_eq!(sh.list_len(0, b"l"), Ok(2));
        sh.set_now(6_000);
        sh.store(0, b"t", s(b"1"), Some(7_000), false);
        assert_eq!(sh.peek(0, b"t").map(|e| e.alloc_bytes()), Some(HEADER + TTL_PART + 1 + 8));
        sh.set_now(7_000);
        assert!(sh.peek(0, b"t").is_none(), "expired");
        assert_booked(&mut sh);
    }

    #[test]
    fn long_keys_are_stored_inline_too() {
        let mut sh = Shard::new(0, 1);
        for len in [KLEN_LONG as usize - 1, KLEN_LONG as usize, 100_000] {
            let key: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            sh.store(0, &key, s(b"value"), None, false);
            assert_eq!(sh.peek(0, &key).map(|e| e.key() == &key[..]), Some(true));
            sh.set_expire(0, &key, i64::MAX);
            assert_eq!(sh.append(0, &key, b"!", u64::MAX), Ok(6));
            assert_eq!(sh.peek(0, &key).map(|e| (e.key().len(), e.expire_at())), Some((len, i64::MAX)));
            assert_eq!(bytes(&mut sh, &key), b"value!");
            assert_booked(&mut sh);
            assert!(sh.remove(0, &key).is_some_and(|e| e.expire_at == i64::MAX));
        }
        assert_eq!(sh.dataset_bytes(), 0);
    }

    #[test]
    fn reshaped_nodes_stay_linked_in_their_chains() {
        let mut sh = Shard::new(0, 1);
        let key = |i: usize| format!("key:{i}").into_bytes();
        for i in 0..2000 {
            sh.store(0, &key(i), s(format!("{i}").as_bytes()), None, false);
        }
        for i in 0..2000 {
            match i % 4 {
                0 => drop(sh.append(0, &key(i), b"x", u64::MAX)),
                1 => drop(sh.set_expire(0, &key(i), i64::MAX)),
                2 => sh.store(0, &key(i), s(b"a longer value, still inline"), None, false),
                _ => drop(sh.incr_by(0, &key(i), 1)),
            }
        }
        assert_eq!(sh.dbs[0].len(), 2000);
        for i in 0..2000 {
            let want = match i % 4 {
                0 => format!("{i}x"),
                1 => format!("{i}"),
                2 => "a longer value, still inline".to_string(),
                _ => format!("{}", i + 1),
            };
            assert_eq!(bytes(&mut sh, &key(i)), want.as_bytes(), "key {i}");
        }
        assert_eq!(sh.dbs[0].main.iter().count(), 2000);
        assert_booked(&mut sh);
    }
}
