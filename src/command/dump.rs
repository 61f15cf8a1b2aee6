//! DUMP and RESTORE (Redis's cluster.c): one value as an RDB payload with its version and
//! CRC64, and back. The payload format is the engine's (`shards::rdb`).

use shards::rdb::{self, RestoreError};
use shards::Entry;

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

fn dump(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let db = x.db;
    let compress = x.server.config().rdbcompression;
    let payload = x.shard(&a[1]).lookup(db, &a[1]).map(|entry| rdb::dump_payload(&entry.value(), compress));
    match payload {
        Some(p) => x.reply.bulk(&p),
        None => x.reply.null(),
    }
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checked in Redis's order:
/// options, BUSYKEY, TTL, payload.
fn restore(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut i = 4;
    while i < a.len() {
        let more = i + 1 < a.len();
        if a[i].eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if a[i].eq_ignore_ascii_case(b"ABSTTL") {
            absttl = true;
        } else if a[i].eq_ignore_ascii_case(b"IDLETIME") && more && freq.is_none() {
            let v = arg_i64(&a[i + 1])?;
            if v < 0 {
                return Err(CmdError::Static(e::BAD_IDLETIME));
            }
            idle = Some(v);
            i += 1;
        } else if a[i].eq_ignore_ascii_case(b"FREQ") && more && idle.is_none() {
            let v = arg_i64(&a[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::Static(e::BAD_FREQ));
            }
            freq = Some(v);
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    let (db, key) = (x.db, &a[1]);
    if !replace && x.shard(key).exists(db, key) {
        return Err(CmdError::Static(e::BUSYKEY));
    }
    let ttl = arg_i64(&a[2])?;
    if ttl < 0 {
        return Err(CmdError::Static(e::BAD_TTL));
    }
    let limits = x.server.limits();
    let value = match rdb::restore_payload(&a[3], &limits, true) {
        Ok(v) => v,
        Err(RestoreError::VersionOrChecksum) => return Err(CmdError::Static(e::BAD_PAYLOAD)),
        Err(RestoreError::BadFormat(_)) => return Err(CmdError::Static(e::BAD_FORMAT)),
    };
    let now = x.now_ms();
    let deleted = replace && x.shard(key).remove(db, key).is_some();
    let expire_at = if ttl != 0 && !absttl { ttl.saturating_add(now) } else { ttl };
    if expire_at != 0 && expire_at <= now {
        // Already expired: nothing is stored; a replaced key is gone, and is logged as DEL.
        if deleted {
            x.emit(key, &[b"DEL", key]);
        } else {
            x.emit_nothing();
        }
        x.reply.ok();
        return Ok(());
    }
    // objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME under any other.
    let shard = x.shard(key);
    let lru = shards::evict::restored(freq.map(|f| f as u8), idle, now, &shard.evict.config).unwrap_or_else(|| shard.fresh_lru());
    shard.put_entry(db, key, Entry::new(value, expire_at, lru));
    if ttl != 0 && !absttl {
        // Redis propagates a relative TTL as an absolute one (ABSTTL), so replay does not
        // extend it.
        let mut b = itoa::Buffer::new();
        let mut argv: Vec<&[u8]> = a.iter().collect();
        argv[2] = b.format(expire_at).as_bytes();
        argv.push(b"ABSTTL");
        x.emit(key, &argv);
    }
    x.reply.ok();
    Ok(())
}

const G: &str = "generic";
const K1: KeySpec = KeySpec::Range(1, 1, 1);

pub static COMMANDS: &[CommandSpec] = &[
    row("dump", 2, READONLY, K1, Route::Keys, Data(dump), G, "2.6.0", "Return a serialized version of the value stored at the specified key.", "key"),
    row(
        "restore",
        -4,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(restore),
        G,
        "2.6.0",
        "Create a key using the provided serialized value, previously obtained using DUMP.",
        "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
    ),
];
