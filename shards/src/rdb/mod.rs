//! Redis 7.0's RDB format (version 10): whole snapshot files, and the DUMP/RESTORE payload
//! that carries one value.
//!
//! Writing follows rdb.c as redis-server 7.0 writes: strings with integer and LZF encodings,
//! lists as QUICKLIST_2 of listpack nodes, small hashes/sorted sets as one listpack, intsets as
//! intset blobs, big hashes/sets/sorted sets as plain element lists (ZSET_2 with binary doubles).
//! Loading also takes every older encoding redis-server 7.0 still loads (ziplists, QUICKLIST,
//! plain LIST, ZSET with text scores); stream and module keys are refused by name.
//!
//! The file is streamed both ways: [`RdbWriter`] takes one key at a time (so a shard can write a
//! snapshot between its other work), and [`load`] reads from any `Read` and hands each key to a
//! callback (so one file can feed several shards). Nothing here trusts a length read from the
//! input: every allocation grows with the bytes actually read, and every error names its byte
//! offset.

pub mod blob;
mod lzf;

use std::fmt;
use std::io::{self, Read, Write};

use crate::entry::KeyNode;
use crate::keyspace::Entry;
use crate::types::hash::Hash;
use crate::types::list::{End, List};
use crate::types::set::Set;
use crate::types::zset::ZSet;
use crate::types::Limits;
use crate::value::{StrRef, StrValue, Value};
use blob::{Elem, ListpackBuilder};

/// RDB_VERSION of Redis 7.0.
pub const RDB_VERSION: u16 = 10;

// Value types (rdb.h).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

// Opcodes.
const OP_FUNCTION2: u8 = 245;
const OP_FUNCTION: u8 = 246;
const OP_MODULE_AUX: u8 = 247;
const OP_IDLE: u8 = 248;
const OP_FREQ: u8 = 249;
const OP_AUX: u8 = 250;
const OP_RESIZEDB: u8 = 251;
const OP_EXPIRETIME_MS: u8 = 252;
const OP_EXPIRETIME: u8 = 253;
const OP_SELECTDB: u8 = 254;
const OP_EOF: u8 = 255;

// Length encodings.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

// Quicklist node containers (quicklist.h).
const QUICKLIST_NODE_PLAIN: u64 = 1;
const QUICKLIST_NODE_PACKED: u64 = 2;
/// A list node's listpack stays within 8 KB, list-max-listpack-size -2 (Redis's default).
const LIST_NODE_BYTES: usize = 8192;

/// CRC-64/Redis (crc-fast: PCLMULQDQ folding where the CPU has it, a table otherwise). A
/// rewrite's base and a BGSAVE checksum every byte they write.
const CRC64: crc_fast::CrcAlgorithm = crc_fast::CrcAlgorithm::Crc64Redis;

/// Redis's crc64 (Jones polynomial, reflected), as RDB files and DUMP payloads use it.
pub fn crc64(bytes: &[u8]) -> u64 {
    crc_fast::checksum(CRC64, bytes)
}

/// What went wrong loading an RDB stream, and where.
#[derive(Debug)]
pub struct RdbError {
    /// Byte offset in the stream where the problem was found.
    pub offset: u64,
    pub what: String,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte offset {})", self.what, self.offset)
    }
}

impl std::error::Error for RdbError {}

// ---------------------------------------------------------------------------------------------
// Encoding

/// rdbSaveLen.
fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push((LEN_6BIT << 6) | n as u8);
    } else if n < 1 << 14 {
        out.push((LEN_14BIT << 6) | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// rdbEncodeInteger: an integer that fits 32 bits as a special string encoding.
fn put_int_encoded(out: &mut Vec<u8>, n: i64) -> bool {
    if let Ok(v) = i8::try_from(n) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// rdbSaveLongLongAsStringObject.
fn put_i64_string(out: &mut Vec<u8>, n: i64) {
    if !put_int_encoded(out, n) {
        let mut b = itoa::Buffer::new();
        let s = b.format(n).as_bytes();
        put_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// rdbSaveRawString: short integer text as an integer, longer than 20 bytes LZF-compressed
/// when that saves at least 4 bytes (rdbSaveLzfStringObject's out buffer is len-4), else raw.
fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = crate::value::parse_i64_strict(s) {
            if put_int_encoded(out, n) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        thread_local! {
            /// The compressed bytes, before their length goes out (one buffer per thread).
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let done = SCRATCH.with(|c| {
            let mut c = c.borrow_mut();
            c.clear();
            if !lzf::compress(s, &mut c, s.len() - 4) {
                return false;
            }
            out.push(0xC0 | ENC_LZF);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            if c.capacity() > 1 << 20 {
                *c = Vec::new();
            }
            true
        });
        if done {
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// d2string as zzlInsertAt uses it for a listpack score: integral values in ±2^52 as integers,
/// the rest as %.17g text.
fn score_text(v: f64) -> Vec<u8> {
    if v.is_finite() && v > -4503599627370495.0 && v < 4503599627370496.0 && v == v.trunc() && v != 0.0 {
        return itoa::Buffer::new().format(v as i64).as_bytes().to_vec();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { b"-0".to_vec() } else { b"0".to_vec() };
    }
    crate::value::format_g17(v).into_bytes()
}

/// The RDB type byte a value is written with.
pub fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => TYPE_STRING,
        Value::List(_) => TYPE_LIST_QUICKLIST_2,
        Value::Hash(Hash::Listpack(_)) => TYPE_HASH_LISTPACK,
        Value::Hash(Hash::Table(_)) => TYPE_HASH,
        Value::Set(s) => match **s {
            Set::Ints(_) => TYPE_SET_INTSET,
            Set::Hash(_) => TYPE_SET,
        },
        Value::ZSet(ZSet::Listpack(_)) => TYPE_ZSET_LISTPACK,
        Value::ZSet(ZSet::Skiplist(_)) => TYPE_ZSET_2,
    }
}

/// rdbSaveObjectType + rdbSaveObject.
pub fn encode_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    out.push(value_type(v));
    encode_body(out, v, compress);
}

/// A list as the quicklist nodes it is saved as: listpacks of at most 8 KiB
/// (list-max-listpack-size -2).
fn list_listpacks(l: &crate::types::list::List) -> Vec<Vec<u8>> {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut lp = ListpackBuilder::new();
    for e in l.iter_from(0) {
        if !lp.is_empty() && lp.len() + ListpackBuilder::entry_size(e) + 1 > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut lp).finish());
        }
        lp.push(e);
    }
    if !lp.is_empty() {
        nodes.push(lp.finish());
    }
    nodes
}

/// DEBUG OBJECT's quicklist figures of a list: (nodes, total listpack bytes).
pub fn list_quicklist_figures(l: &crate::types::list::List) -> (usize, usize) {
    let nodes = list_listpacks(l);
    (nodes.len(), nodes.iter().map(Vec::len).sum())
}

/// rdbSavedObjectLen: the bytes the value takes in an RDB file (without its type byte and key),
/// as DEBUG OBJECT's serializedlength shows it.
pub fn serialized_len(v: &Value, compress: bool) -> usize {
    let mut out = Vec::new();
    encode_body(&mut out, v, compress);
    out.len()
}

/// A string value's body: an integer as its text (int-encoded when short), else its bytes.
fn put_str(out: &mut Vec<u8>, s: StrRef<'_>, compress: bool) {
    match s {
        StrRef::Int(n) => put_i64_string(out, n),
        StrRef::Bytes(b) => put_string(out, b, compress),
    }
}

/// rdbSaveObject: the value without its type byte.
fn encode_body(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Str(s) => put_str(out, s.as_str_ref(), compress),
        Value::List(l) => {
            let nodes = list_listpacks(l);
            put_len(out, nodes.len() as u64);
            for n in &nodes {
                put_len(out, QUICKLIST_NODE_PACKED);
                put_string(out, n, compress);
            }
        }
        Value::Hash(Hash::Listpack(pairs)) => {
            let mut lp = ListpackBuilder::new();
            for (f, val) in pairs {
                lp.push(f);
                lp.push(val);
            }
            put_string(out, &lp.finish(), compress);
        }
        Value::Hash(h) => {
            put_len(out, h.len() as u64);
            for (f, val) in h.iter() {
                put_string(out, f, compress);
                put_string(out, val, compress);
            }
        }
        Value::Set(s) if matches!(**s, Set::Ints(_)) => {
            let Set::Ints(ints) = &**s else { unreachable!("matched just above") };
            let all: Vec<i64> = ints.iter().collect();
            put_string(out, &blob::intset_blob(all.iter().copied()), compress);
        }
        Value::Set(s) => {
            put_len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| put_string(out, b, compress));
            }
        }
        Value::ZSet(z @ ZSet::Listpack(_)) => {
            let mut lp = ListpackBuilder::new();
            z.for_each(|m, s| {
                lp.push(m);
                lp.push(&score_text(s));
            });
            put_string(out, &lp.finish(), compress);
        }
        Value::ZSet(z) => {
            // rdbSaveObject writes a skiplist from the tail so that loading inserts at the head.
            put_len(out, z.len() as u64);
            z.for_range(0, z.len(), true, |m, s| {
                put_string(out, m, compress);
                out.extend_from_slice(&s.to_le_bytes());
            });
        }
    }
}

/// DUMP's payload (createDumpPayload): type, value, RDB version (2 bytes LE), CRC64 (8 bytes
/// LE) of everything before it.
pub fn dump_payload(v: &Value, compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, v, compress);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why RESTORE refused a payload (its two error replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// "DUMP payload version or checksum are wrong"
    VersionOrChecksum,
    /// "Bad data format"
    BadFormat(String),
}

/// verifyDumpPayload then rdbLoadObjectType + rdbLoadObject. `verify_checksum` false is
/// skip-checksum-validation (the version is still checked).
pub fn restore_payload(p: &[u8], limits: &Limits, verify_checksum: bool) -> Result<Value, RestoreError> {
    if p.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RestoreError::VersionOrChecksum);
    }
    if verify_checksum && crc64(&p[..p.len() - 8]).to_le_bytes() != footer[2..10] {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut inp = Input::new(&p[..p.len() - 10], false);
    let read = inp.u8().and_then(|t| read_value(&mut inp, t, b"", limits));
    match read {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(RestoreError::BadFormat("empty key".into())),
        Err(e) => Err(RestoreError::BadFormat(e.to_string())),
    }
}

/// Settings of a snapshot being written (rdbcompression, rdbchecksum, and what the
/// maxmemory-policy says to keep of each key's access history).
#[derive(Debug, Clone, Copy)]
pub struct SaveOptions {
    pub compression: bool,
    pub checksum: bool,
    pub access: KeyAccess,
}

impl Default for SaveOptions {
    fn default() -> SaveOptions {
        SaveOptions { compression: true, checksum: true, access: KeyAccess::None }
    }
}

/// The access history saved before each key's type (rdbSaveKeyValuePair's savelru / savelfu).
/// It is taken as of the moment the key is encoded: a snapshot written between other work may
/// meet keys read since it began, which are then idle 0 (a clock fixed at the start would see
/// them in its future and wrap to the maximum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyAccess {
    /// Neither: the policy is not LRU or LFU.
    #[default]
    None,
    /// RDB_OPCODE_IDLE with the idle time in seconds (allkeys-lru, volatile-lru).
    Idle,
    /// RDB_OPCODE_FREQ with the LFU counter after decay, LFUDecrAndReturn (allkeys-lfu,
    /// volatile-lfu).
    Freq { decay_time: u32 },
}

impl KeyAccess {
    /// What a save under `policy` keeps.
    pub fn of(policy: crate::evict::Policy, lfu_decay_time: u32) -> KeyAccess {
        use crate::evict::Policy::*;
        match policy {
            AllkeysLru | VolatileLru => KeyAccess::Idle,
            AllkeysLfu | VolatileLfu => KeyAccess::Freq { decay_time: lfu_decay_time },
            NoEviction | AllkeysRandom | VolatileRandom | VolatileTtl => KeyAccess::None,
        }
    }

    fn encode(self, out: &mut Vec<u8>, lru: u32) {
        if self != KeyAccess::None {
            self.encode_at(out, lru, crate::keyspace::wall_clock_ms());
        }
    }

    fn encode_at(self, out: &mut Vec<u8>, lru: u32, now_ms: i64) {
        match self {
            KeyAccess::None => {}
            KeyAccess::Idle => {
                out.push(OP_IDLE);
                put_len(out, crate::evict::idle_ms(lru, now_ms) / 1000);
            }
            KeyAccess::Freq { decay_time } => {
                out.push(OP_FREQ);
                out.push(crate::evict::lfu_decr_and_return(lru, now_ms, decay_time));
            }
        }
    }
}

/// The AUX fields a snapshot opens with (rdbSaveInfoAuxFields, without replication info).
#[derive(Debug, Clone)]
pub struct AuxFields {
    pub redis_ver: String,
    /// Unix seconds of the save.
    pub ctime: i64,
    pub used_mem: u64,
    /// 1 when the file is an AOF base (aof-base).
    pub aof_base: bool,
}

impl Default for AuxFields {
    fn default() -> AuxFields {
        AuxFields { redis_ver: "7.0.15".into(), ctime: crate::keyspace::wall_clock_ms() / 1000, used_mem: 0, aof_base: false }
    }
}

/// Writes an RDB file key by key: `new` (header and AUX fields), then for each database that
/// has keys `begin_db` followed by its keys, then `finish` (EOF and checksum).
pub struct RdbWriter<W: Write> {
    w: W,
    crc: crc_fast::Digest,
    opts: SaveOptions,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> RdbWriter<W> {
    pub fn new(w: W, opts: SaveOptions, aux: &AuxFields) -> io::Result<RdbWriter<W>> {
        let mut me = RdbWriter { w, crc: crc_fast::Digest::new(CRC64), opts, buf: Vec::with_capacity(4096), written: 0 };
        me.buf.extend_from_slice(format!("REDIS{:04}", RDB_VERSION).as_bytes());
        let mut n = itoa::Buffer::new();
        me.aux(b"redis-ver", aux.redis_ver.as_bytes());
        me.aux(b"redis-bits", n.format(usize::BITS).as_bytes());
        me.aux(b"ctime", n.format(aux.ctime).as_bytes());
        me.aux(b"used-mem", n.format(aux.used_mem).as_bytes());
        me.aux(b"aof-base", if aux.aof_base { b"1" } else { b"0" });
        me.flush_buf()?;
        Ok(me)
    }

    fn aux(&mut self, k: &[u8], v: &[u8]) {
        self.buf.push(OP_AUX);
        put_string(&mut self.buf, k, false);
        put_string(&mut self.buf, v, false);
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.opts.checksum {
            self.crc.update(&self.buf);
        }
        self.w.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// SELECTDB and RESIZEDB (the database's key count and how many of them have a TTL).
    pub fn begin_db(&mut self, db: usize, keys: usize, expires: usize) -> io::Result<()> {
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(OP_RESIZEDB);
        put_len(&mut self.buf, keys as u64);
        put_len(&mut self.buf, expires as u64);
        self.flush_buf()
    }

    /// One key (rdbSaveKeyValuePair): its expiry when it has one, its access history when the
    /// options ask for it, type, key, value.
    pub fn write_key(&mut self, key: &[u8], entry: &KeyNode) -> io::Result<()> {
        encode_key(&mut self.buf, key, entry, self.opts);
        self.flush_buf()
    }

    /// Records encoded elsewhere (an [`RdbSink`]'s drained bytes), counted in the checksum.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.opts.checksum {
            self.crc.update(bytes);
        }
        self.w.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// EOF and the CRC64 of everything before it (0 with rdbchecksum no); returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OP_EOF);
        self.flush_buf()?;
        let crc = if self.opts.checksum { self.crc.finalize() } else { 0 };
        self.w.write_all(&crc.to_le_bytes())?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// rdbSaveKeyValuePair: the key's expiry when it has one, IDLE or FREQ per `opts.access`,
/// type, key, value.
fn encode_key(out: &mut Vec<u8>, key: &[u8], entry: &KeyNode, opts: SaveOptions) {
    let expire_at = entry.expire_at();
    if expire_at != 0 {
        out.push(OP_EXPIRETIME_MS);
        out.extend_from_slice(&expire_at.to_le_bytes());
    }
    opts.access.encode(out, entry.lru());
    // A string is encoded from where it is (a compact one is not built into a Value first).
    if let Some(s) = entry.str_ref() {
        out.push(TYPE_STRING);
        put_string(out, key, opts.compression);
        put_str(out, s, opts.compression);
        return;
    }
    let value = entry.value();
    out.push(value_type(&value));
    put_string(out, key, opts.compression);
    encode_body(out, &value, opts.compression);
}

/// A snapshot sink that encodes one shard's keys as RDB records, buffered until drained. Every
/// drained chunk starts with its own SELECTDB (RDB allows it repeated), so chunks of several
/// shards can be interleaved in one file between an [`RdbWriter`]'s header and `finish`.
pub struct RdbSink {
    buf: Vec<u8>,
    db: Option<usize>,
    opts: SaveOptions,
}

impl RdbSink {
    pub fn new(opts: SaveOptions) -> RdbSink {
        RdbSink { buf: Vec::new(), db: None, opts }
    }
}

impl crate::snapshot::SnapshotSink for RdbSink {
    /// SELECTDB and RESIZEDB for each database, as rdbSaveDb writes them before its keys.
    fn begin(&mut self, dbs: &[(usize, usize, usize)]) {
        for &(db, keys, expires) in dbs {
            self.buf.push(OP_SELECTDB);
            put_len(&mut self.buf, db as u64);
            self.buf.push(OP_RESIZEDB);
            put_len(&mut self.buf, keys as u64);
            put_len(&mut self.buf, expires as u64);
            self.db = Some(db);
        }
    }

    fn key(&mut self, db: usize, key: &[u8], entry: &KeyNode) {
        if self.db != Some(db) {
            self.buf.push(OP_SELECTDB);
            put_len(&mut self.buf, db as u64);
            self.db = Some(db);
        }
        encode_key(&mut self.buf, key, entry, self.opts);
    }

    /// The chunk so far; the next one starts with room for as much (chunks are alike: a loop
    /// turn's keys), so it is not regrown by doubling from nothing, each step a copy and
    /// fresh memory (page faults) on the shard thread while the old chunks are freed on the
    /// writer thread.
    fn drain(&mut self) -> Vec<u8> {
        self.db = None;
        let room = self.buf.len().next_power_of_two().min(1 << 20);
        std::mem::replace(&mut self.buf, Vec::with_capacity(room))
    }

    fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Writes every key of `shards` (all of the server's shards, so each database is complete)
/// to `w` as one snapshot.
pub fn write_shards<W: Write>(w: W, shards: &[&crate::Shard], opts: SaveOptions, aux: &AuxFields) -> io::Result<W> {
    let mut out = RdbWriter::new(w, opts, aux)?;
    let databases = shards.iter().map(|s| s.databases()).max().unwrap_or(0);
    for db in 0..databases {
        let keys: usize = shards.iter().map(|s| s.dbs[db].len()).sum();
        if keys == 0 {
            continue;
        }
        let expires: usize = shards.iter().map(|s| s.dbs[db].expires()).sum();
        out.begin_db(db, keys, expires)?;
        for s in shards {
            for (k, e) in s.dbs[db].main.iter() {
                out.write_key(k, e)?;
            }
        }
    }
    out.finish()
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A reader that counts its offset and, for files, keeps the running CRC64.
struct Input<R: Read> {
    r: R,
    pos: u64,
    crc: Option<Crc>,
}

/// Bytes [`Crc`] gathers before it feeds them to the digest.
const CRC_BLOCK: usize = 16 << 10;

/// The CRC-64 of the bytes read, fed to the digest in blocks: a digest call per field read (a
/// type byte, a length, a 16-byte key) cost more than the checksum itself, 20% of loading an
/// RDB file of 1M short strings.
struct Crc {
    digest: crc_fast::Digest,
    pending: Vec<u8>,
}

impl Crc {
    fn new() -> Crc {
        Crc { digest: crc_fast::Digest::new(CRC64), pending: Vec::with_capacity(CRC_BLOCK) }
    }

    fn update(&mut self, b: &[u8]) {
        if self.pending.len() + b.len() > CRC_BLOCK {
            self.digest.update(&self.pending);
            self.pending.clear();
            if b.len() >= CRC_BLOCK {
                self.digest.update(b);
                return;
            }
        }
        self.pending.extend_from_slice(b);
    }

    fn finalize(mut self) -> u64 {
        self.digest.update(&self.pending);
        self.digest.finalize()
    }
}

/// A length or a special string encoding (rdbLoadLenByRef's isencoded).
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Input<R> {
    fn new(r: R, checksum: bool) -> Input<R> {
        Input { r, pos: 0, crc: if checksum { Some(Crc::new()) } else { None } }
    }

    fn err<T>(&self, what: impl Into<String>) -> Result<T, RdbError> {
        Err(RdbError { offset: self.pos, what: what.into() })
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RdbError> {
        if let Err(e) = self.r.read_exact(buf) {
            return self.err(if e.kind() == io::ErrorKind::UnexpectedEof { "unexpected end of data".to_string() } else { e.to_string() });
        }
        if let Some(c) = self.crc.as_mut() {
            c.update(buf);
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.array::<1>()?[0])
    }

    /// Exactly `n` bytes; the buffer grows as bytes arrive, so a lying length cannot make it
    /// allocate more than the input holds.
    fn bytes(&mut self, n: u64) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::with_capacity(n.min(1 << 16) as usize);
        let got = match (&mut self.r).take(n).read_to_end(&mut v) {
            Ok(g) => g as u64,
            Err(e) => return self.err(e.to_string()),
        };
        if let Some(c) = self.crc.as_mut() {
            c.update(&v);
        }
        self.pos += got;
        if got != n {
            return self.err("unexpected end of data");
        }
        Ok(v)
    }

    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3F) as u64),
            1 => Len::Plain((((b & 0x3F) as u64) << 8) | self.u8()? as u64),
            3 => Len::Encoded(b & 0x3F),
            _ => match b {
                LEN_32BIT => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return self.err(format!("unknown length encoding {b:#x}")),
            },
        })
    }

    fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => self.err("string encoding where a length was expected"),
        }
    }

    /// rdbGenericLoadStringObject: plain, integer or LZF.
    fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(ENC_INT8) => Ok(itoa::Buffer::new().format(self.u8()? as i8).as_bytes().to_vec()),
            Len::Encoded(ENC_INT16) => Ok(itoa::Buffer::new().format(i16::from_le_bytes(self.array()?)).as_bytes().to_vec()),
            Len::Encoded(ENC_INT32) => Ok(itoa::Buffer::new().format(i32::from_le_bytes(self.array()?)).as_bytes().to_vec()),
            Len::Encoded(ENC_LZF) => {
                let clen = self.len()?;
                let len = self.len()?;
                let at = self.pos;
                let c = self.bytes(clen)?;
                // An LZF back reference expands 3 bytes to at most 264: a longer claim is a lie.
                if len == 0 || len > clen.saturating_mul(90).saturating_add(64) {
                    return Err(RdbError { offset: at, what: format!("LZF string claims {len} bytes from {clen}") });
                }
                match ::lzf::decompress(&c, len as usize) {
                    Ok(v) if v.len() as u64 == len => Ok(v),
                    _ => Err(RdbError { offset: at, what: "invalid LZF compressed string".into() }),
                }
            }
            Len::Encoded(e) => self.err(format!("unknown string encoding {e}")),
        }
    }

    /// rdbLoadDoubleValue: the text scores of the old ZSET type.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let b = self.bytes(n as u64)?;
                match std::str::from_utf8(&b).ok().and_then(|s| s.parse::<f64>().ok()) {
                    Some(v) => Ok(v),
                    None => self.err("bad double value"),
                }
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

/// The elements of a listpack or ziplist holding pairs (hash fields and values, zset members
/// and scores); `odd` is the error when their number is odd.
fn packed_pairs<'a>(data: &'a [u8], listpack: bool, odd: &'static str) -> Result<Vec<blob::Elem<'a>>, &'static str> {
    let elems = if listpack { blob::listpack_elems(data) } else { blob::ziplist_elems(data) }?;
    if elems.len() % 2 != 0 {
        return Err(odd);
    }
    Ok(elems)
}

/// rdbLoadObject for one value of type `t`. `Ok(None)`: an empty collection (Redis skips such
/// keys when loading a file, and RESTORE refuses them).
fn read_value<R: Read>(inp: &mut Input<R>, t: u8, key: &[u8], limits: &Limits) -> Result<Option<Value>, RdbError> {
    let start = inp.pos;
    let corrupt = |what: &str| RdbError { offset: start, what: format!("{what} (key '{}')", String::from_utf8_lossy(key)) };
    let v = match t {
        TYPE_STRING => Value::Str(StrValue::from_bytes(&inp.string()?)),
        TYPE_LIST => {
            let n = inp.len()?;
            let mut l = List::new(limits.list_max_listpack_size);
            for _ in 0..n {
                l.push(End::Right, &inp.string()?);
            }
            Value::List(Box::new(l))
        }
        TYPE_SET => {
            let n = inp.len()?;
            let mut s = Set::default();
            for _ in 0..n {
                let m = inp.string()?;
                if !s.add(&m, limits.set_max_intset_entries) {
                    return Err(corrupt("duplicate set members detected"));
                }
            }
            Value::Set(Box::new(s))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = inp.len()?;
            let mut z = ZSet::new(n as usize > limits.zset_max_listpack_entries);
            for _ in 0..n {
                let m = inp.string()?;
                let score = if t == TYPE_ZSET_2 { inp.binary_double()? } else { inp.text_double()? };
                if score.is_nan() {
                    return Err(corrupt("zset with NAN score detected"));
                }
                if z.score(&m).is_some() {
                    return Err(corrupt("duplicate zset fields detected"));
                }
                z.insert_new(&m, score, limits);
            }
            Value::ZSet(z)
        }
        TYPE_HASH => {
            let n = inp.len()?;
            let mut h = Hash::default();
            for _ in 0..n {
                let f = inp.string()?;
                let v = inp.string()?;
                if !h.set(&f, &v, limits) {
                    return Err(corrupt("duplicate hash fields detected"));
                }
            }
            Value::Hash(h)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = inp.len()?;
            let mut l = List::new(limits.list_max_listpack_size);
            for _ in 0..nodes {
                let container = if t == TYPE_LIST_QUICKLIST_2 { inp.len()? } else { QUICKLIST_NODE_PACKED };
                let data = inp.string()?;
                match container {
                    QUICKLIST_NODE_PLAIN => l.push(End::Right, &data),
                    QUICKLIST_NODE_PACKED => {
                        let elems = if t == TYPE_LIST_QUICKLIST_2 { blob::listpack_elems(&data) } else { blob::ziplist_elems(&data) };
                        // Redis skips empty nodes rather than failing the load.
                        for e in elems.map_err(corrupt)? {
                            l.push(End::Right, &e.to_vec());
                        }
                    }
                    _ => return Err(corrupt("quicklist node with an unknown container")),
                }
            }
            Value::List(Box::new(l))
        }
        TYPE_LIST_ZIPLIST => {
            let data = inp.string()?;
            let mut l = List::new(limits.list_max_listpack_size);
            for e in blob::ziplist_elems(&data).map_err(corrupt)? {
                l.push(End::Right, &e.to_vec());
            }
            Value::List(Box::new(l))
        }
        TYPE_SET_INTSET => {
            let data = inp.string()?;
            let mut s = Set::default();
            for n in blob::intset_ints(&data).map_err(corrupt)? {
                s.add_int(n, limits.set_max_intset_entries);
            }
            Value::Set(Box::new(s))
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let data = inp.string()?;
            let elems = packed_pairs(&data, t == TYPE_HASH_LISTPACK, "hash with an odd number of entries").map_err(corrupt)?;
            let mut h = Hash::default();
            for pair in elems.chunks_exact(2) {
                if !h.set(&pair[0].to_vec(), &pair[1].to_vec(), limits) {
                    return Err(corrupt("duplicate hash fields detected"));
                }
            }
            Value::Hash(h)
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let data = inp.string()?;
            let elems = packed_pairs(&data, t == TYPE_ZSET_LISTPACK, "zset with an odd number of entries").map_err(corrupt)?;
            let mut z = ZSet::new(elems.len() / 2 > limits.zset_max_listpack_entries);
            for pair in elems.chunks_exact(2) {
                let m = pair[0].to_vec();
                let score = match &pair[1] {
                    Elem::Int(n) => *n as f64,
                    Elem::Str(s) => match std::str::from_utf8(s).ok().and_then(|s| s.parse::<f64>().ok()) {
                        Some(v) if !v.is_nan() => v,
                        _ => return Err(corrupt("zset with a bad score")),
                    },
                };
                if z.score(&m).is_some() {
                    return Err(corrupt("duplicate zset fields detected"));
                }
                z.insert_new(&m, score, limits);
            }
            Value::ZSet(z)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => return Err(corrupt("stream keys are not supported yet")),
        TYPE_MODULE | TYPE_MODULE_2 => return Err(corrupt("module keys are not supported")),
        TYPE_HASH_ZIPMAP => return Err(corrupt("zipmap hashes (RDB older than Redis 2.6) are not supported")),
        _ => return Err(corrupt(&format!("unknown value type {t}"))),
    };
    let empty = match &v {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    };
    Ok(if empty { None } else { Some(v) })
}

/// How to load a file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The server's `databases`: a SELECTDB beyond it is an error.
    pub databases: usize,
    pub limits: Limits,
    /// Keys whose expiry is before this time (ms) are skipped, as a master loading its RDB
    /// does; None loads them all (an AOF preamble, a replica).
    pub skip_expired_before: Option<i64>,
}

/// What a load found.
#[derive(Debug, Default, Clone)]
pub struct LoadStats {
    pub version: u16,
    pub keys: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
    /// Function libraries in the file (FUNCTION2 opcodes), which shardis does not load.
    pub functions_skipped: u64,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub bytes: u64,
}

/// What an RDB file says about a key besides its value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyMeta {
    /// Absolute expiry in ms, 0 = no TTL.
    pub expire_at: i64,
    /// RDB_OPCODE_IDLE: seconds since last access (written under an LRU policy).
    pub idle_secs: Option<i64>,
    /// RDB_OPCODE_FREQ: the LFU counter (written under an LFU policy).
    pub freq: Option<u8>,
}

/// Reads a whole RDB stream, calling `on_key(db, key, value, expire_at_ms)` for each key
/// (`expire_at_ms` 0 = no TTL). The checksum is verified when the file has one (not 0).
pub fn load<R: Read>(r: R, opts: &LoadOptions, mut on_key: impl FnMut(usize, Vec<u8>, Value, i64)) -> Result<LoadStats, RdbError> {
    load_meta(r, opts, |db, key, value, meta| on_key(db, key, value, meta.expire_at))
}

/// [`load`], with each key's expiry, idle time and LFU counter.
pub fn load_meta<R: Read>(r: R, opts: &LoadOptions, on_key: impl FnMut(usize, Vec<u8>, Value, KeyMeta)) -> Result<LoadStats, RdbError> {
    load_sized(r, opts, |_, _| {}, on_key)
}

/// [`load_meta`], also telling `on_resize(db, keys)` what each RESIZEDB says the database
/// holds, before its keys come: a loader can size its table once instead of growing it (and
/// moving every key) along the way. The count is the file's word: cap it before allocating.
pub fn load_sized<R: Read>(
    r: R,
    opts: &LoadOptions,
    mut on_resize: impl FnMut(usize, u64),
    mut on_key: impl FnMut(usize, Vec<u8>, Value, KeyMeta),
) -> Result<LoadStats, RdbError> {
    let mut inp = Input::new(r, true);
    let magic: [u8; 9] = inp.array()?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError { offset: 0, what: "wrong signature trying to load DB from file".into() });
    }
    let version = std::str::from_utf8(&magic[5..]).ok().and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
    if !(1..=RDB_VERSION).contains(&version) {
        return Err(RdbError { offset: 5, what: format!("can't handle RDB format version {}", String::from_utf8_lossy(&magic[5..])) });
    }
    let mut stats = LoadStats { version, ..LoadStats::default() };
    let mut db = 0usize;
    let mut meta = KeyMeta::default();
    loop {
        let op = inp.u8()?;
        match op {
            OP_EXPIRETIME_MS => {
                meta.expire_at = i64::from_le_bytes(inp.array()?);
                continue;
            }
            OP_EXPIRETIME => {
                meta.expire_at = i32::from_le_bytes(inp.array()?) as i64 * 1000;
                continue;
            }
            OP_FREQ => {
                meta.freq = Some(inp.u8()?);
                continue;
            }
            OP_IDLE => {
                meta.idle_secs = Some(inp.len()?.min(i64::MAX as u64) as i64);
                continue;
            }
            OP_EOF => break,
            OP_SELECTDB => {
                let at = inp.pos;
                let n = inp.len()?;
                if n >= opts.databases as u64 {
                    return Err(RdbError { offset: at, what: format!("database {n} is out of range (databases is {})", opts.databases) });
                }
                db = n as usize;
                continue;
            }
            OP_RESIZEDB => {
                let keys = inp.len()?;
                inp.len()?;
                on_resize(db, keys);
                continue;
            }
            OP_AUX => {
                let k = inp.string()?;
                let v = inp.string()?;
                stats.aux.push((k, v));
                continue;
            }
            OP_FUNCTION2 => {
                inp.string()?;
                stats.functions_skipped += 1;
                continue;
            }
            OP_FUNCTION => return inp.err("pre-release function format (RDB_OPCODE_FUNCTION) is not supported"),
            OP_MODULE_AUX => return inp.err("module auxiliary data is not supported"),
            _ => {}
        }
        let key = inp.string()?;
        let value = read_value(&mut inp, op, &key, &opts.limits)?;
        let m = std::mem::take(&mut meta);
        match value {
            None => stats.empty_skipped += 1,
            Some(_) if m.expire_at != 0 && opts.skip_expired_before.is_some_and(|now| m.expire_at < now) => stats.expired_skipped += 1,
            Some(v) => {
                stats.keys += 1;
                on_key(db, key, v, m);
            }
        }
    }
    let computed = inp.crc.take().map(|d| d.finalize()).unwrap_or(0);
    if version >= 5 {
        let at = inp.pos;
        let stored = u64::from_le_bytes(inp.array()?);
        if stored != 0 && stored != computed {
            return Err(RdbError { offset: at, what: format!("wrong RDB checksum expected: ({stored:x}) got: ({computed:x})") });
        }
    }
    stats.bytes = inp.pos;
    Ok(stats)
}

/// Loads a stream into `shards` (each key to `shard_of(key, shards.len())`).
pub fn load_into_shards<R: Read>(r: R, opts: &LoadOptions, shards: &mut [&mut crate::Shard]) -> Result<LoadStats, RdbError> {
    let n = shards.len();
    load(r, opts, |db, key, value, expire_at| {
        let s = &mut shards[crate::route::shard_of(&key, n)];
        let lru = s.fresh_lru();
        s.put_entry(db, &key, Entry::new(value, expire_at, lru));
    })
}

#[cfg(test)]
mod tests;
