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
        if nx {
            x.reply.int(0);
        } else {
            x.reply.ok();
        }
        return Ok(());
    }
    if nx && x.shard(dst).exists(db, dst) {
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
        x.reply.int(0);
        return Ok(());
    };
    if x.shard(dst).exists(dst_db, dst) {
        if !replace {
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
    x.for_each_core(|c| {
        c.touch_watched_existing(server, Some(db), None);
        c.engine.flush_db(db);
    });
    x.reply.ok();
    Ok(())
}

fn flushall(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    flush_mode(a)?;
    let server = x.server;
    x.for_each_core(|c| {
        c.touch_watched_existing(server, None, None);
        c.engine.flush_all();
    });
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

fn object(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let sub = a[1].to_ascii_lowercase();
    let db = x.db;
    let now = x.now_ms();
    let lfu = x.server.hot().lfu_policy;
    let decay = x.server.config().lfu_decay_time;
    let key = &a[2];
    let Some((encoding, lru)) = x.shard(key).peek(db, key).map(|e| (e.value.encoding_name(), e.lru)) else {
        x.reply.null();
        return Ok(());
    };
    match sub.as_slice() {
        b"encoding" => x.reply.bulk_str(encoding),
        b"refcount" => x.reply.int(1),
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
/// heap size, so SAMPLES (Redis's estimate from sampled elements) is accepted and not needed.
fn memory_usage(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() != 3 && !(a.len() == 5 && a[3].eq_ignore_ascii_case(b"SAMPLES")) {
        return Err(CmdError::syntax());
    }
    if a.len() == 5 {
        arg_i64(&a[4])?;
    }
    let db = x.db;
    let key = &a[2];
    let Some(bytes) = x.shard(key).peek(db, key).map(|e| e.value.heap_bytes()) else {
        x.reply.null();
        return Ok(());
    };
    // Node (key box + entry + next pointer) and one bucket pointer.
    let entry = std::mem::size_of::<shards::Entry>() + 16 + 8 + 8;
    x.reply.int((entry + key.len() + bytes) as i64);
    Ok(())
}

fn memory_help(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
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
