//! Generic key commands ("generic" in Redis's groups): DEL, EXISTS, the EXPIRE family, TTL,
//! RENAME, COPY, MOVE, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TOUCH, OBJECT.

use shards::ops::keys::{ExpireCond, ScanFilter};

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

fn del(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut n = 0;
    x.keys_each(a.iter().skip(1), |s, db, k| n += s.del(db, k) as i64);
    // Redis counts the keys removed (none: nothing changed).
    x.dirty = Some(n as u64);
    x.reply.int(n);
    Ok(())
}

fn exists(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut n = 0;
    x.keys_each(a.iter().skip(1), |s, db, k| n += s.exists(db, k) as i64);
    x.reply.int(n);
    Ok(())
}

fn touch(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut n = 0;
    x.keys_each(a.iter().skip(1), |s, db, k| n += s.lookup_mut(db, k).is_some() as i64);
    x.reply.int(n);
    Ok(())
}

fn type_cmd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let t = x.shard(&a[1]).type_of(db, &a[1]);
    x.reply.simple(t);
    Ok(())
}

fn expire_generic(x: &mut Exec<'_>, a: &Args<'_>, unit_ms: i64, absolute: bool) -> CmdResult {
    let mut cond = ExpireCond::Always;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter().skip(3) {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => return Err(CmdError::Owned(format!("ERR Unsupported option {}", String::from_utf8_lossy(opt)))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::Static("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CmdError::Static("ERR GT and LT options at the same time are not compatible"));
    }
    if nx {
        cond = ExpireCond::Nx;
    } else if xx {
        cond = ExpireCond::Xx;
    }
    // A key without TTL counts as infinite: GT never applies to it, LT always does unless XX.
    if gt {
        cond = ExpireCond::Gt;
    } else if lt {
        cond = if xx { ExpireCond::XxLt } else { ExpireCond::Lt };
    }
    let v = arg_i64(&a[2])?;
    let bad = || CmdError::Owned(e::invalid_expire(x_name(a)));
    // expireGenericCommand: scale to ms, then add the base, refusing overflow either way.
    let ms = v.checked_mul(unit_ms).ok_or_else(bad)?;
    let now = x.now_ms();
    let when = if absolute { ms } else { ms.checked_add(now).ok_or_else(bad)? };
    let db = x.db;
    let done = x.shard(&a[1]).expire_at(db, &a[1], when, cond);
    x.dirty = Some(done as u64);
    if !done {
        x.emit_nothing();
    } else if x.effects_on() {
        // An absolute time, so replay does not extend the TTL; a time already past deleted the key.
        if when <= now {
            x.emit(&a[1], &[b"DEL", &a[1]]);
        } else {
            let mut b = itoa::Buffer::new();
            x.emit(&a[1], &[b"PEXPIREAT", &a[1], b.format(when).as_bytes()]);
        }
    }
    x.reply.int(done as i64);
    Ok(())
}

fn x_name(a: &Args<'_>) -> &'static str {
    let n = a[0].to_ascii_lowercase();
    match n.as_slice() {
        b"expire" => "expire",
        b"pexpire" => "pexpire",
        b"expireat" => "expireat",
        _ => "pexpireat",
    }
}

fn expire(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expire_generic(x, a, 1000, false)
}
fn pexpire(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expire_generic(x, a, 1, false)
}
fn expireat(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expire_generic(x, a, 1000, true)
}
fn pexpireat(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expire_generic(x, a, 1, true)
}

fn ttl_generic(x: &mut Exec<'_>, a: &Args<'_>, in_ms: bool) -> CmdResult {
    let db = x.db;
    let t = x.shard(&a[1]).pttl(db, &a[1]);
    // TTL rounds to the nearest second, as Redis's (ttl+500)/1000.
    x.reply.int(if t < 0 || in_ms { t } else { (t + 500) / 1000 });
    Ok(())
}

fn ttl(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    ttl_generic(x, a, false)
}
fn pttl(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    ttl_generic(x, a, true)
}

fn expiretime_generic(x: &mut Exec<'_>, a: &Args<'_>, in_ms: bool) -> CmdResult {
    let db = x.db;
    let t = x.shard(&a[1]).pexpiretime(db, &a[1]);
    x.reply.int(if t < 0 || in_ms { t } else { t / 1000 });
    Ok(())
}

fn expiretime(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expiretime_generic(x, a, false)
}
fn pexpiretime(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    expiretime_generic(x, a, true)
}

fn persist(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let done = x.shard(&a[1]).persist(db, &a[1]);
    x.dirty = Some(done as u64);
    x.reply.int(done as i64);
    Ok(())
}

/// RENAME and RENAMENX. The two keys may live on different shards: the entry moves with its
/// TTL, and the coordinator holds both shards so no one sees the key in both or neither.
fn rename_generic(x: &mut Exec<'_>, a: &Args<'_>, nx: bool) -> CmdResult {
    let db = x.db;
    let (src, dst) = (&a[1], &a[2]);
    if !x.shard(src).exists(db, src) {
        return Err(CmdError::Static(e::NO_SUCH_KEY));
    }
    if src == dst {
        x.dirty = Some(0);
        if nx {
            x.reply.int(0);
        } else {
            x.reply.ok();
        }
        return Ok(());
    }
    if nx && x.shard(dst).exists(db, dst) {
        x.dirty = Some(0);
        x.reply.int(0);
        return Ok(());
    }
    let Some(entry) = x.shard(src).take(db, src) else {
        return Err(CmdError::Static(e::NO_SUCH_KEY));
    };
    x.shard(dst).remove(db, dst);
    x.shard(dst).put_entry(db, dst, entry);
    if nx {
        x.reply.int(1);
    } else {
        x.reply.ok();
    }
    Ok(())
}

fn rename(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    rename_generic(x, a, false)
}
fn renamenx(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    rename_generic(x, a, true)
}

fn parse_db_index(x: &Exec<'_>, arg: &[u8]) -> Result<usize, CmdError> {
    let v = arg_i64(arg)?;
    if v < 0 || v as usize >= x.server.databases {
        return Err(CmdError::Static(e::DB_INDEX_OUT_OF_RANGE));
    }
    Ok(v as usize)
}

fn copy(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut dst_db = x.db;
    let mut replace = false;
    let mut i = 3;
    while i < a.len() {
        if a[i].eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if a[i].eq_ignore_ascii_case(b"DB") && i + 1 < a.len() {
            dst_db = parse_db_index(x, &a[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    let src_db = x.db;
    let (src, dst) = (&a[1], &a[2]);
    if src == dst && src_db == dst_db {
        return Err(CmdError::Static(e::SAME_OBJECT));
    }
    let Some(mut entry) = x.shard(src).clone_entry(src_db, src) else {
        x.dirty = Some(0);
        x.reply.int(0);
        return Ok(());
    };
    if x.shard(dst).exists(dst_db, dst) {
        if !replace {
            x.dirty = Some(0);
            x.reply.int(0);
            return Ok(());
        }
        x.shard(dst).remove(dst_db, dst);
    }
    entry.lru = x.shard(dst).fresh_lru();
    x.shard(dst).put_entry(dst_db, dst, entry);
    if dst_db != x.db {
        let server = x.server;
        x.core_for(dst).note_ready(server, dst_db, dst);
    }
    x.reply.int(1);
    Ok(())
}

fn move_cmd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let dst = match arg_i64(&a[2]) {
        Ok(v) if v >= 0 && (v as usize) < x.server.databases => v as usize,
        Ok(_) => return Err(CmdError::Static(e::DB_INDEX_OUT_OF_RANGE)),
        // Redis 7.0 reports a non-numeric index with the generic integer error.
        Err(_) => return Err(CmdError::Static(e::NOT_INTEGER)),
    };
    let src = x.db;
    let moved = x.shard(&a[1]).move_key(src, dst, &a[1])?;
    x.dirty = Some(moved as u64);
    if moved {
        let server = x.server;
        x.core_for(&a[1]).note_ready(server, dst, &a[1]);
    }
    x.reply.int(moved as i64);
    Ok(())
}

fn keys(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let mut out = Vec::new();
    x.for_each_core(|c| c.engine.keys(db, &a[1], &mut out));
    x.reply.array_len(out.len());
    for k in &out {
        x.reply.bulk(k);
    }
    Ok(())
}

/// SCAN cursors name a shard and a position in its table: `table_cursor * shards + shard`.
/// A shard's scan ends by moving on to the next shard's cursor 0.
pub fn scan_cursor_shard(cursor: u64, nshards: usize) -> usize {
    (cursor % nshards as u64) as usize
}

pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let s = std::str::from_utf8(arg).map_err(|_| CmdError::Static(e::INVALID_CURSOR))?;
    s.parse::<u64>().map_err(|_| CmdError::Static(e::INVALID_CURSOR))
}

fn scan(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let cursor = parse_cursor(&a[1])?;
    let mut count: usize = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < a.len() {
        let has_next = i + 1 < a.len();
        if a[i].eq_ignore_ascii_case(b"COUNT") && has_next {
            let c = arg_i64(&a[i + 1])?;
            if c < 1 {
                return Err(CmdError::syntax());
            }
            count = c as usize;
        } else if a[i].eq_ignore_ascii_case(b"MATCH") && has_next {
            let p = &a[i + 1];
            pattern = if p == b"*" { None } else { Some(p) };
        } else if a[i].eq_ignore_ascii_case(b"TYPE") && has_next {
            type_name = Some(&a[i + 1]);
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let n = x.nshards() as u64;
    let shard = cursor % n;
    let table_cursor = cursor / n;
    let db = x.db;
    let filter = ScanFilter { pattern, type_name };
    let mut out = Vec::new();
    let mut next = 0;
    let mut found = false;
    x.for_each_core(|c| {
        if c.engine.id as u64 == shard {
            found = true;
            next = c.engine.scan(db, table_cursor, count, &filter, &mut out);
        }
    });
    if !found {
        return Err(CmdError::Static(e::INVALID_CURSOR));
    }
    let next_cursor = if next != 0 {
        next.checked_mul(n).map(|v| v + shard).ok_or(CmdError::Static(e::INVALID_CURSOR))?
    } else if shard + 1 < n {
        shard + 1
    } else {
        0
    };
    x.reply.array_len(2);
    x.reply.bulk(next_cursor.to_string().as_bytes());
    x.reply.array_len(out.len());
    for k in &out {
        x.reply.bulk(k);
    }
    Ok(())
}

fn randomkey(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let db = x.db;
    // Pick a shard in proportion to its size, then a key inside it.
    let mut sizes = Vec::new();
    x.for_each_core(|c| sizes.push(c.engine.dbs[db].len()));
    let total: usize = sizes.iter().sum();
    if total == 0 {
        x.reply.null();
        return Ok(());
    }
    let mut pick = 0;
    let mut chosen = usize::MAX;
    x.for_each_core(|c| {
        if chosen == usize::MAX {
            pick = (c.engine.next_rand() % total as u64) as usize;
            chosen = 0;
        }
    });
    let mut idx = 0;
    let mut found = None;
    x.for_each_core(|c| {
        if found.is_some() {
            return;
        }
        let size = sizes[idx];
        idx += 1;
        if pick < size {
            found = c.engine.random_key(db);
            if found.is_none() {
                pick = 0;
            }
        } else {
            pick -= size;
        }
    });
    match found {
        Some(k) => x.reply.bulk(&k),
        None => x.reply.null(),
    }
    Ok(())
}

fn dbsize(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let mut n = 0;
    x.for_each_core(|c| n += c.engine.dbs[db].len());
    x.reply.int(n as i64);
    Ok(())
}

fn flush_mode(a: &Args<'_>) -> CmdResult {
    if a.len() > 2 {
        return Err(CmdError::syntax());
    }
    if a.len() == 2 && !a[1].eq_ignore_ascii_case(b"ASYNC") && !a[1].eq_ignore_ascii_case(b"SYNC") {
        return Err(CmdError::syntax());
    }
    Ok(())
}

fn flushdb(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    flush_mode(a)?;
    let (db, server) = (x.db, x.server);
    let mut removed = 0;
    x.for_each_core(|c| {
        c.touch_watched_existing(server, Some(db), None);
        removed += c.engine.dbs[db].len();
        c.engine.flush_db(db);
    });
    // Redis counts the keys removed (emptyData's return).
    x.dirty = Some(removed as u64);
    x.reply.ok();
    Ok(())
}

fn flushall(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    flush_mode(a)?;
    let server = x.server;
    let mut removed = 0;
    x.for_each_core(|c| {
        c.touch_watched_existing(server, None, None);
        removed += c.engine.key_count();
        c.engine.flush_all();
    });
    // Redis counts the keys removed (emptyData's return).
    x.dirty = Some(removed as u64);
    x.reply.ok();
    Ok(())
}

fn swapdb(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let i = arg_i64(&a[1]).map_err(|_| CmdError::Static("ERR invalid first DB index"))?;
    let j = arg_i64(&a[2]).map_err(|_| CmdError::Static("ERR invalid second DB index"))?;
    let n = x.server.databases as i64;
    if i < 0 || i >= n || j < 0 || j >= n {
        return Err(CmdError::Static(e::DB_INDEX_OUT_OF_RANGE));
    }
    let server = x.server;
    x.for_each_core(|c| {
        c.touch_watched_existing(server, Some(i as usize), Some(j as usize));
        c.touch_watched_existing(server, Some(j as usize), Some(i as usize));
        c.engine.swap_db(i as usize, j as usize);
        // Clients blocked in either database wake if their key now holds a value.
        c.note_db_ready(server, i as usize);
        c.note_db_ready(server, j as usize);
    });
    x.reply.ok();
    Ok(())
}

/// The reference count Redis would show for a value: its integers 0..9999 are shared objects
/// (refcount INT_MAX) unless maxmemory is set with an LRU or LFU policy, which needs a clock per
/// key (MAXMEMORY_FLAG_NO_SHARED_INTEGERS); every other value has one owner. Values are never
/// shared here, but OBJECT REFCOUNT and DEBUG OBJECT answer as Redis does.
pub fn shown_refcount(server: &crate::server::Server, value: Option<&shards::value::Value>) -> i64 {
    use crate::config::MaxmemoryPolicy as P;
    let Some(shards::value::Value::Str(shards::value::StrValue::Int(n))) = value else { return 1 };
    let config = server.config();
    let needs_clock = matches!(config.maxmemory_policy, P::VolatileLru | P::VolatileLfu | P::AllkeysLru | P::AllkeysLfu);
    if (0..10_000).contains(n) && (config.maxmemory == 0 || !needs_clock) {
        i32::MAX as i64
    } else {
        1
    }
}

fn object(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let sub = a[1].to_ascii_lowercase();
    let db = x.db;
    let now = x.now_ms();
    let lfu = x.server.hot().lfu_policy;
    let decay = x.server.config().lfu_decay_time;
    let key = &a[2];
    let server = x.server;
    let Some((encoding, lru, refcount)) = x.shard(key).peek(db, key).map(|e| {
        let v = e.value();
        (v.encoding_name(), e.lru(), shown_refcount(server, Some(&v)))
    }) else {
        x.reply.null();
        return Ok(());
    };
    match sub.as_slice() {
        b"encoding" => x.reply.bulk_str(encoding),
        b"refcount" => x.reply.int(refcount),
        b"idletime" => {
            if lfu {
                return Err(CmdError::Static("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
            }
            x.reply.int((shards::evict::idle_ms(lru, now) / 1000) as i64)
        }
        b"freq" => {
            if !lfu {
                return Err(CmdError::Static("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
            }
            x.reply.int(shards::evict::lfu_decr_and_return(lru, now, decay) as i64)
        }
        _ => return Err(CmdError::Owned(e::unknown_subcommand(&a[1], "object"))),
    }
    Ok(())
}

/// MEMORY USAGE key [SAMPLES n]: the bytes the key costs: its table entry (node, bucket
/// share), the key bytes and the value's heap allocations. Collections report their own exact
/// heap size, so SAMPLES (Redis's estimate from sampled elements; 0 = all) is checked as Redis
/// checks it and not needed.
fn memory_usage(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let mut j = 3;
    while j < a.len() {
        if a[j].eq_ignore_ascii_case(b"SAMPLES") && j + 1 < a.len() {
            if arg_i64(&a[j + 1])? < 0 {
                return Err(CmdError::syntax());
            }
            j += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let db = x.db;
    let key = &a[2];
    // The key's node (key, expiry and short values inline), its value's heap, one bucket pointer.
    let Some(bytes) = x.shard(key).peek(db, key).map(|e| e.alloc_bytes() + e.value_heap_bytes() + 8) else {
        x.reply.null();
        return Ok(());
    };
    x.reply.int(bytes as i64);
    Ok(())
}

/// MEMORY STATS: Redis's fields, in Redis's order, from the same figures as INFO memory.
fn memory_stats(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let m = crate::info::MemOverhead::of(x);
    let r = &mut *x.reply;
    r.map_len(27 + m.dbs.len());
    let int = |r: &mut crate::protocol::Reply, name: &str, v: u64| {
        r.bulk_str(name);
        r.int(v as i64);
    };
    int(r, "peak.allocated", m.peak);
    int(r, "total.allocated", m.used);
    int(r, "startup.allocated", m.startup);
    int(r, "replication.backlog", m.repl_backlog);
    int(r, "clients.slaves", m.clients_slaves);
    int(r, "clients.normal", m.clients_normal);
    int(r, "cluster.links", 0);
    int(r, "aof.buffer", m.aof_buffer);
    int(r, "lua.caches", 0);
    int(r, "functions.caches", 0);
    for &(db, _, main, expires) in &m.dbs {
        r.bulk_str(&format!("db.{db}"));
        r.map_len(3);
        int(r, "overhead.hashtable.main", main);
        int(r, "overhead.hashtable.expires", expires);
        int(r, "overhead.hashtable.slot-to-keys", 0);
    }
    int(r, "overhead.total", m.overhead_total());
    int(r, "keys.count", m.keys());
    int(r, "keys.bytes-per-key", m.bytes_per_key());
    int(r, "dataset.bytes", m.dataset());
    r.bulk_str("dataset.percentage");
    r.double(m.dataset_perc() as f64);
    r.bulk_str("peak.percentage");
    r.double(m.peak_perc() as f64);
    // mimalloc's committed memory stands for jemalloc's "active" (see MemOverhead::resident).
    int(r, "allocator.allocated", m.used);
    int(r, "allocator.active", m.committed);
    int(r, "allocator.resident", m.resident());
    let ratio = |r: &mut crate::protocol::Reply, name: &str, v: f32, bytes_name: &str, bytes: i64| {
        r.bulk_str(name);
        r.double(v as f64);
        r.bulk_str(bytes_name);
        r.int(bytes);
    };
    ratio(r, "allocator-fragmentation.ratio", crate::info::ratio(m.committed, m.used), "allocator-fragmentation.bytes", m.committed as i64 - m.used as i64);
    ratio(r, "allocator-rss.ratio", crate::info::ratio(m.resident(), m.committed), "allocator-rss.bytes", m.resident() as i64 - m.committed as i64);
    ratio(r, "rss-overhead.ratio", crate::info::ratio(m.rss, m.resident()), "rss-overhead.bytes", m.rss as i64 - m.resident() as i64);
    ratio(r, "fragmentation", crate::info::ratio(m.rss, m.used), "fragmentation.bytes", m.rss as i64 - m.used as i64);
    Ok(())
}

/// MEMORY DOCTOR: Redis's getMemoryDoctorReport, its checks and texts (the replica-buffer and
/// script-cache checks have nothing to look at yet).
fn memory_doctor(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let m = crate::info::MemOverhead::of(x);
    let report = doctor_report(&m);
    x.reply.verbatim(&report);
    Ok(())
}

fn doctor_report(m: &crate::info::MemOverhead) -> String {
    use crate::info::ratio;
    const MB10: i64 = 10 << 20;
    if m.used < 5 * 1024 * 1024 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mut issues = Vec::new();
    if ratio(m.peak, m.used) > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    if ratio(m.rss, m.used) > 1.4 && m.rss as i64 - m.used as i64 > MB10 {
        issues.push(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"mimalloc\".\n\n".to_string());
    }
    if ratio(m.committed, m.used) > 1.1 && m.committed as i64 - m.used as i64 > MB10 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".to_string());
    }
    if ratio(m.resident(), m.committed) > 1.1 && m.resident() as i64 - m.committed as i64 > MB10 {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if ratio(m.rss, m.resident()) > 1.1 && m.rss as i64 - m.resident() as i64 > MB10 {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n".to_string());
    }
    if m.clients > 0 && m.clients_normal / m.clients > 200 * 1024 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n".to_string());
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s = String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for i in issues {
        s.push_str(&i);
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// MEMORY MALLOC-STATS: the allocator's own statistics text (mimalloc's, where Redis shows
/// jemalloc's).
fn memory_malloc_stats(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    x.reply.verbatim(&crate::alloc::allocator_stats_text());
    Ok(())
}

/// MEMORY PURGE: every thread's mimalloc heap gives its free pages back to the OS.
fn memory_purge(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    crate::alloc::purge();
    x.reply.ok();
    Ok(())
}

fn memory_help(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    x.reply.help(&lines);
    Ok(())
}

fn object_help(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    x.reply.help(&lines);
    Ok(())
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const KALL: KeySpec = KeySpec::Range(1, -1, 1);
const K12: KeySpec = KeySpec::Range(1, 2, 1);
const G: &str = "generic";
const K2: KeySpec = KeySpec::Range(2, 2, 1);

pub static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    row("encoding", 3, READONLY, K2, Route::Keys, Data(object), G, "2.2.3", "Inspect the internal encoding of a Redis object", "key"),
    row("freq", 3, READONLY, K2, Route::Keys, Data(object), G, "4.0.0", "Get the logarithmic access frequency counter of a Redis object", "key"),
    row("idletime", 3, READONLY, K2, Route::Keys, Data(object), G, "2.2.3", "Get the time since a Redis object was last accessed", "key"),
    row("refcount", 3, READONLY, K2, Route::Keys, Data(object), G, "2.2.3", "Get the number of references to the value of the key", "key"),
    row("help", 2, LOADING | STALE, KeySpec::None, Route::Local, Data(object_help), G, "6.2.0", "Show helpful text about the different subcommands", ""),
];

pub static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    row("doctor", 2, 0, KeySpec::None, Route::AllShards, Data(memory_doctor), "server", "4.0.0", "Outputs memory problems report", ""),
    row("malloc-stats", 2, 0, KeySpec::None, Route::Local, Data(memory_malloc_stats), "server", "4.0.0", "Show allocator internal stats", ""),
    row("purge", 2, 0, KeySpec::None, Route::Local, Data(memory_purge), "server", "4.0.0", "Ask the allocator to release memory", ""),
    row("stats", 2, 0, KeySpec::None, Route::AllShards, Data(memory_stats), "server", "4.0.0", "Show memory usage details", ""),
    row("usage", -3, READONLY, K2, Route::Keys, Data(memory_usage), "server", "4.0.0", "Estimate the memory usage of a key", "key [SAMPLES count]"),
    row("help", 2, LOADING | STALE, KeySpec::None, Route::Local, Data(memory_help), "server", "4.0.0", "Show helpful text about the different subcommands", ""),
];

pub static COMMANDS: &[CommandSpec] = &[
    row("del", -2, WRITE, KALL, Route::Keys, Data(del), G, "1.0.0", "Delete a key", "key [key ...]"),
    row(
        "unlink",
        -2,
        WRITE | FAST,
        KALL,
        Route::Keys,
        Data(del),
        G,
        "4.0.0",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
        "key [key ...]",
    ),
    row("exists", -2, READONLY | FAST, KALL, Route::Keys, Data(exists), G, "1.0.0", "Determine if a key exists", "key [key ...]"),
    row(
        "touch",
        -2,
        READONLY | FAST,
        KALL,
        Route::Keys,
        Data(touch),
        G,
        "3.2.1",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
        "key [key ...]",
    ),
    row("type", 2, READONLY | FAST, K1, Route::Keys, Data(type_cmd), G, "1.0.0", "Determine the type stored at key", "key"),
    row("expire", -3, WRITE | FAST, K1, Route::Keys, Data(expire), G, "1.0.0", "Set a key's time to live in seconds", "key seconds [NX|XX|GT|LT]"),
    row("pexpire", -3, WRITE | FAST, K1, Route::Keys, Data(pexpire), G, "2.6.0", "Set a key's time to live in milliseconds", "key milliseconds [NX|XX|GT|LT]"),
    row(
        "expireat",
        -3,
        WRITE | FAST,
        K1,
        Route::Keys,
        Data(expireat),
        G,
        "1.2.0",
        "Set the expiration for a key as a UNIX timestamp",
        "key unix-time-seconds [NX|XX|GT|LT]",
    ),
    row(
        "pexpireat",
        -3,
        WRITE | FAST,
        K1,
        Route::Keys,
        Data(pexpireat),
        G,
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
    ),
    row("ttl", 2, READONLY | FAST, K1, Route::Keys, Data(ttl), G, "1.0.0", "Get the time to live for a key in seconds", "key"),
    row("pttl", 2, READONLY | FAST, K1, Route::Keys, Data(pttl), G, "2.6.0", "Get the time to live for a key in milliseconds", "key"),
    row("expiretime", 2, READONLY | FAST, K1, Route::Keys, Data(expiretime), G, "7.0.0", "Get the expiration Unix timestamp for a key", "key"),
    row(
        "pexpiretime",
        2,
        READONLY | FAST,
        K1,
        Route::Keys,
        Data(pexpiretime),
        G,
        "7.0.0",
        "Get the expiration Unix timestamp for a key in milliseconds",
        "key",
    ),
    row("persist", 2, WRITE | FAST, K1, Route::Keys, Data(persist), G, "2.2.0", "Remove the expiration from a key", "key"),
    row("rename", 3, WRITE, K12, Route::Keys, Data(rename), G, "1.0.0", "Rename a key", "key newkey"),
    row("renamenx", 3, WRITE | FAST, K12, Route::Keys, Data(renamenx), G, "1.0.0", "Rename a key, only if the new key does not exist", "key newkey"),
    row("copy", -3, WRITE | DENYOOM, K12, Route::Keys, Data(copy), G, "6.2.0", "Copy a key", "source destination [DB destination-db] [REPLACE]"),
    row("move", 3, WRITE | FAST, K1, Route::Keys, Data(move_cmd), G, "1.0.0", "Move a key to another database", "key db"),
    row("keys", 2, READONLY, KeySpec::None, Route::AllShards, Data(keys), G, "1.0.0", "Find all keys matching the given pattern", "pattern"),
    row(
        "scan",
        -2,
        READONLY,
        KeySpec::None,
        Route::ScanCursor,
        Data(scan),
        G,
        "2.8.0",
        "Incrementally iterate the keys space",
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    ),
    row("randomkey", 1, READONLY, KeySpec::None, Route::AllShards, Data(randomkey), G, "1.0.0", "Return a random key from the keyspace", ""),
    row(
        "dbsize",
        1,
        READONLY | FAST,
        KeySpec::None,
        Route::AllShards,
        Data(dbsize),
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
        "",
    ),
    row("flushdb", -1, WRITE, KeySpec::None, Route::AllShards, Data(flushdb), "server", "1.0.0", "Remove all keys from the current database", "[ASYNC|SYNC]"),
    row("flushall", -1, WRITE, KeySpec::None, Route::AllShards, Data(flushall), "server", "1.0.0", "Remove all keys from all databases", "[ASYNC|SYNC]"),
    row("swapdb", 3, WRITE | FAST, KeySpec::None, Route::AllShards, Data(swapdb), "server", "4.0.0", "Swaps two Redis databases", "index1 index2"),
    CommandSpec {
        subcommands: MEMORY_SUBCOMMANDS,
        ..row("memory", -2, 0, KeySpec::None, Route::Local, Data(memory_help), "server", "4.0.0", "A container for memory diagnostics commands", "")
    },
    CommandSpec {
        subcommands: OBJECT_SUBCOMMANDS,
        ..row("object", -2, 0, KeySpec::None, Route::Local, Data(object_help), G, "2.2.3", "A container for object introspection commands", "")
    },
];

#[cfg(test)]
mod tests {
    use super::doctor_report;
    use crate::info::MemOverhead;

    fn figures(used: u64, peak: u64, committed: u64, rss: u64) -> MemOverhead {
        MemOverhead {
            used,
            peak,
            startup: 1 << 20,
            rss,
            committed,
            repl_backlog: 0,
            clients_slaves: 0,
            clients_normal: 20_000,
            clients: 1,
            aof_buffer: 0,
            dbs: Vec::new(),
        }
    }

    #[test]
    fn memory_doctor_reports_as_redis() {
        const MB: u64 = 1 << 20;
        assert!(doctor_report(&figures(MB, MB, 8 * MB, 12 * MB)).starts_with("Hi Sam, this instance is empty or is using very little memory"));
        assert_eq!(
            doctor_report(&figures(100 * MB, 100 * MB, 104 * MB, 110 * MB)),
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
        );
        let peak = doctor_report(&figures(100 * MB, 200 * MB, 104 * MB, 110 * MB));
        assert!(peak.starts_with("Sam, I detected a few issues in this Redis instance memory implants:\n\n * Peak memory: In the past"), "{peak}");
        assert!(peak.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"), "{peak}");
        let frag = doctor_report(&figures(100 * MB, 100 * MB, 150 * MB, 160 * MB));
        assert!(frag.contains(" * High total RSS:") && frag.contains(" * High allocator fragmentation:"), "{frag}");
    }
}
