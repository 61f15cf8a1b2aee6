//! MULTI, EXEC, DISCARD. Commands between MULTI and EXEC are queued by the connection; EXEC
//! sends the whole queue to the coordinator, which holds every shard the queued commands
//! touch and runs them back to back: no other client sees any state in between, on any
//! shard, and keys the transaction fills wake blocked clients only after all of it ran.
//! WATCH marks keys; any write to one of them (on whichever shard or the coordinator) marks
//! the watching client, and EXEC, checked on the coordinator with the shards held, then
//! replies a null array and runs nothing (optimistic locking, as Redis).

use super::flag::*;
use super::{row, CmdResult, CommandSpec, Handler::Conn, KeySpec, Route};
use crate::connection::Multi;
use crate::dispatch::{CmdError, ConnCtx};
use crate::protocol::parse::Args;

pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

fn multi(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    if c.conn.multi.is_some() {
        return Err(CmdError::Static("ERR MULTI calls can not be nested"));
    }
    c.conn.multi = Some(Multi::default());
    c.reply.ok();
    Ok(())
}

fn discard(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    if c.conn.multi.take().is_none() {
        return Err(CmdError::Static("ERR DISCARD without MULTI"));
    }
    c.conn.unwatch(c.server);
    c.reply.ok();
    Ok(())
}

fn watch(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if c.conn.multi.is_some() {
        return Err(CmdError::Static("ERR WATCH inside MULTI is not allowed"));
    }
    let n = c.server.nshards;
    for k in a.iter().skip(1) {
        let slot = (c.conn.db, k.to_vec());
        if !c.conn.watching.contains(&slot) {
            c.server.add_watcher(shards::route::shard_of(k, n), c.conn.db, k, c.conn.id);
            c.conn.watching.push(slot);
        }
    }
    c.reply.ok();
    Ok(())
}

fn unwatch(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.conn.unwatch(c.server);
    c.reply.ok();
    Ok(())
}

/// EXEC reaches here only when it cannot run: no MULTI, or the queue was refused. A valid
/// EXEC is taken by the connection to the coordinator.
fn exec(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    match c.conn.multi.take() {
        None => Err(CmdError::Static("ERR EXEC without MULTI")),
        Some(_) => {
            c.conn.unwatch(c.server);
            Err(CmdError::Static(EXECABORT))
        }
    }
}

const G: &str = "transactions";
const N: KeySpec = KeySpec::None;
const L: Route = Route::Local;

pub static COMMANDS: &[CommandSpec] = &[
    row("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, N, L, Conn(multi), G, "1.2.0", "Mark the start of a transaction block", ""),
    row("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, N, L, Conn(exec), G, "1.2.0", "Execute all commands issued after MULTI", ""),
    row(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KeySpec::Range(1, -1, 1),
        L,
        Conn(watch),
        G,
        "2.2.0",
        "Watch the given keys to determine execution of the MULTI/EXEC block",
        "key [key ...]",
    ),
    row("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, N, L, Conn(unwatch), G, "2.2.0", "Forget about all watched keys", ""),
    row("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, N, L, Conn(discard), G, "2.0.0", "Discard all commands issued after MULTI", ""),
];
