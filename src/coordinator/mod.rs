//! The coordinator thread: runs commands that involve several shards atomically, and parks
//! clients blocked on list and sorted-set keys.
//!
//! It holds every shard a command involves (each shard's thread parks on a release channel
//! and hands over its core), runs the command's ordinary handler with all of them in view, then
//! releases them. While a shard is held it serves nothing, so no client can observe a
//! cross-shard command half applied. One coordinator runs commands one after another, so two
//! multi-shard commands never interleave and holding cannot deadlock: a shard only ever waits
//! for the coordinator, and the coordinator only for shards draining their mailboxes.
//!
//! Requests that queue up while a batch runs are taken together: the union of their shards is
//! held once and the commands run in arrival order, each one complete before the next.
//!
//! Blocking commands (BLPOP...) always come here. One that cannot be served at once is parked
//! in [`blocking::Blocked`]; shards report keys that waiters watch once the write that filled
//! them has finished (the writer's reply waits for the coordinator's acknowledgement, so the
//! writer's next command sees the waiter already served, as in Redis); waiters are served first
//! come, first served, by their command's non-blocking sibling.

pub mod blocking;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::command::{self, flag, Handler, Route};
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::Parser;
use crate::protocol::Reply;
use crate::server::{ClientInfo, Server};
use crate::shard::{HeldCore, Msg, ReplyBatch, ShardCore};

/// A command sent to the coordinator by the shard of the connection that issued it.
pub struct CoordRequest {
    pub from: usize,
    pub token: u64,
    pub db: usize,
    pub resp3: bool,
    /// The command, RESP multibulk encoded.
    pub cmd: Vec<u8>,
    /// The client that sent it (slow log, blocking).
    pub client: Arc<ClientInfo>,
    /// EXEC: `cmd` holds this many queued commands back to back.
    pub multi: Option<usize>,
}

/// What the coordinator receives.
pub enum CoordMsg {
    Run(CoordRequest),
    /// Keys (db, key) that blocked clients wait on were written; acknowledge to `from` under
    /// `token` once their waiters have been served.
    KeysReady {
        from: usize,
        token: u64,
        keys: Vec<(usize, Vec<u8>)>,
    },
    /// A blocked client's connection closed.
    ClientGone(u64),
    /// CLIENT UNBLOCK: end a client's wait with the timeout reply, or with an error.
    Unblock {
        client: u64,
        error: bool,
    },
    /// Run server work with every shard held (a BGSAVE from a save point, SIGTERM's save).
    WithAllShards(Box<AllShardsFn>),
}

/// See [`CoordMsg::WithAllShards`].
pub type AllShardsFn = dyn FnOnce(&Server, &[Option<*mut ShardCore>]) + Send;

#[derive(Clone)]
pub struct CoordinatorHandle {
    tx: Sender<CoordMsg>,
}

impl CoordinatorHandle {
    pub fn send(&self, req: CoordRequest) {
        // The coordinator lives as long as the process.
        let _ = self.tx.send(CoordMsg::Run(req));
    }

    pub fn send_msg(&self, msg: CoordMsg) {
        let _ = self.tx.send(msg);
    }
}

/// Most requests taken into one hold.
const MAX_BATCH: usize = 64;

pub fn spawn(server: Arc<Server>) -> std::io::Result<CoordinatorHandle> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new().name("coordinator".into()).spawn(move || run(server, rx))?;
    Ok(CoordinatorHandle { tx })
}

/// Shards held for one step; released on drop.
pub struct Held<'s> {
    server: &'s Server,
    shards: Vec<usize>,
    pub cores: Vec<Option<*mut ShardCore>>,
}

impl<'s> Held<'s> {
    /// Holds `shards` (sorted, deduplicated) until the value is dropped.
    pub fn new(server: &'s Server, shards: Vec<usize>) -> Option<Held<'s>> {
        for &s in &shards {
            server.mailbox(s).send(Msg::Hold);
        }
        let mut cores: Vec<Option<*mut ShardCore>> = (0..server.nshards).map(|_| None).collect();
        let mut held = Held { server, shards: Vec::new(), cores: Vec::new() };
        for &s in &shards {
            let h: HeldCore = server.mailbox(s).grant_rx.recv().ok()?;
            // Each pointer was granted by its shard thread, which is now blocked until the
            // release in drop and does not touch its core meanwhile (see shard::Node::hold).
            cores[s] = Some(h.0);
            held.shards.push(s);
        }
        held.cores = cores;
        Some(held)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for &s in &self.shards {
            let _ = self.server.mailbox(s).release_tx.send(());
        }
    }
}

fn run(server: Arc<Server>, rx: Receiver<CoordMsg>) {
    let mut blocked = blocking::Blocked::default();
    loop {
        let first = match blocked.next_deadline() {
            Some(deadline) => match rx.recv_deadline(deadline) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        blocked.expire(&server, Instant::now());
        let Some(first) = first else { continue };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        // Commands run under one hold of the union of their shards; the other messages are
        // handled in order around them.
        let mut runs: Vec<CoordRequest> = Vec::new();
        for msg in batch {
            match msg {
                CoordMsg::Run(req) => runs.push(req),
                other => {
                    run_batch(&server, &mut blocked, std::mem::take(&mut runs));
                    match other {
                        CoordMsg::KeysReady { from, token, keys } => {
                            blocked.serve_ready(&server, keys);
                            server.mailbox(from).send(Msg::Replies { token, replies: ReplyBatch::default() });
                        }
                        CoordMsg::ClientGone(id) => blocked.remove_client(&server, id, None),
                        CoordMsg::Unblock { client, error } => blocked.remove_client(&server, client, Some(error)),
                        CoordMsg::WithAllShards(f) => {
                            if let Some(held) = Held::new(&server, (0..server.nshards).collect()) {
                                f(&server, &held.cores);
                            }
                        }
                        CoordMsg::Run(_) => {}
                    }
                }
            }
        }
        run_batch(&server, &mut blocked, runs);
    }
}

fn run_batch(server: &Server, blocked: &mut blocking::Blocked, batch: Vec<CoordRequest>) {
    if batch.is_empty() {
        return;
    }
    let n = server.nshards;
    let mut needed = BTreeSet::new();
    for req in &batch {
        needed.extend(shards_for(&req.cmd, n));
    }
    let mut written_keys: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut outgoing: Vec<(usize, u64, ReplyBatch)> = Vec::new();
    {
        let Some(held) = Held::new(server, needed.into_iter().collect()) else { return };
        for mut req in batch {
            // First come, first served: a blocking command does not take from keys others
            // already wait on (see Blocked::free_keys).
            let free = if req.multi.is_none() { blocked.free_keys(&req) } else { blocking::FreeKeys::All };
            let outcome = match free {
                blocking::FreeKeys::All => execute(server, &held.cores, &req),
                blocking::FreeKeys::None => {
                    blocked.park(server, req, &held.cores);
                    continue;
                }
                blocking::FreeKeys::Only(cmd) => {
                    let sent = std::mem::replace(&mut req.cmd, cmd);
                    let outcome = execute(server, &held.cores, &req);
                    req.cmd = sent;
                    outcome
                }
            };
            if outcome.would_block {
                blocked.park(server, req, &held.cores);
                continue;
            }
            let mut replies = outcome.replies;
            touch_watchers(server, &req, &outcome.keys, &replies.ready, outcome.wrote);
            if outcome.wrote {
                written_keys.extend(outcome.keys.into_iter().map(|k| (req.db, k)));
                // A transaction reports its written keys (with their databases) in `ready`.
                written_keys.append(&mut replies.ready);
            }
            // Keys a handler noted itself (SWAPDB, MOVE and COPY into another database).
            blocking::drain_noted(&held.cores, &mut written_keys);
            outgoing.push((req.from, req.token, replies));
        }
        // The replies leave only once what they acknowledge is in the AOF.
        persist_held(server, &held.cores);
    }
    for (from, token, replies) in outgoing {
        server.mailbox(from).send(Msg::Replies { token, replies });
    }
    // Writes made here (LMOVE across shards, Z*STORE...) may feed waiters.
    if !blocked.is_empty() && !written_keys.is_empty() {
        blocked.serve_ready(server, written_keys);
    }
}

/// Writes the held shards' recorded effects to their AOF segments.
pub fn persist_held(server: &Server, cores: &[Option<*mut ShardCore>]) {
    for &p in cores.iter().flatten() {
        // SAFETY: held by the coordinator; each reference ends before the next.
        unsafe { (*p).persist(server) };
    }
}

/// WATCHed keys this request wrote abort their watchers' next EXEC. The writes with no key
/// (FLUSHALL, FLUSHDB, SWAPDB) touch the watched keys they affect themselves.
fn touch_watchers(server: &Server, req: &CoordRequest, keys: &[Vec<u8>], multi_keys: &[(usize, Vec<u8>)], wrote: bool) {
    if !wrote {
        return;
    }
    let n = server.nshards;
    for k in keys {
        server.touch_watched(shards::route::shard_of(k, n), req.db, k);
    }
    for (db, k) in multi_keys {
        server.touch_watched(shards::route::shard_of(k, n), *db, k);
    }
}

/// The shards a command touches: its keys' shards, or all of them.
fn shards_for(cmd: &[u8], n: usize) -> Vec<usize> {
    let mut p = Parser::new();
    let mut pos = 0;
    let mut v: Vec<usize> = Vec::new();
    // One command, or a transaction's queue of them.
    while let Ok(Some(len)) = p.parse(&cmd[pos..], u64::MAX, true) {
        let args = p.args(&cmd[pos..pos + len]);
        pos += len;
        let Some((_, spec)) = command::resolve(&args) else { continue };
        match spec.route {
            Route::KeysOrAll(all) if all(&args) => return (0..n).collect(),
            Route::Keys | Route::KeysOrAll(_) => v.extend(spec.key_positions(&args).iter().map(|&i| shards::route::shard_of(&args[i], n))),
            Route::Local => {}
            _ => return (0..n).collect(),
        }
    }
    if v.is_empty() && pos > 0 {
        // Keyless commands in a transaction still run on a held shard.
        v.push(0);
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// What running one command on the coordinator produced.
pub struct Outcome {
    pub replies: ReplyBatch,
    pub would_block: bool,
    pub wrote: bool,
    pub keys: Vec<Vec<u8>>,
}

/// EXEC: runs the queued commands in order with every shard they touch held. Connection
/// commands that make sense inside a transaction (PING, ECHO, SELECT) are answered here;
/// blocking commands do not block (Redis's rule inside MULTI).
fn execute_multi(server: &Server, cores: &[Option<*mut ShardCore>], req: &CoordRequest, count: usize) -> Outcome {
    let mut reply = Reply::new(req.resp3);
    // WATCH: checked here, with the shards held, so no write can come between check and run.
    if req.client.cas_dirty.load(std::sync::atomic::Ordering::Relaxed) {
        reply.null_array();
        let end = reply.buf.len() as u32;
        return Outcome { replies: ReplyBatch { buf: reply.buf, ends: vec![end], ready: Vec::new() }, would_block: false, wrote: false, keys: Vec::new() };
    }
    // maxmemory: EXEC is refused whole if it would write with a shard full (see crate::evict).
    if let Err(err) = crate::evict::before_exec(server, cores, queued_denyoom(&req.cmd)) {
        reply.error(err.text());
        let end = reply.buf.len() as u32;
        return Outcome { replies: ReplyBatch { buf: reply.buf, ends: vec![end], ready: Vec::new() }, would_block: false, wrote: false, keys: Vec::new() };
    }
    reply.array_len(count);
    let mut p = Parser::new();
    let mut pos = 0;
    let mut db = req.db;
    let mut keys = Vec::new();
    let unit = crate::effects::Unit::begin(cores);
    while let Ok(Some(len)) = p.parse(&req.cmd[pos..], u64::MAX, true) {
        let args = p.args(&req.cmd[pos..pos + len]);
        pos += len;
        let Some((id, spec)) = command::resolve(&args) else {
            reply.error("ERR unknown command");
            continue;
        };
        match spec.handler {
            Handler::Data(f) => {
                crate::effects::track(cores);
                let mut x = Exec::new(ShardSet::Many(cores), db, &mut reply, server, spec, id);
                match crate::dispatch::run_data_queued(&mut x, f, &args) {
                    Ok(()) if x.would_block => reply.null_array(),
                    Ok(()) => {
                        if spec.has(flag::WRITE) {
                            keys.extend(spec.key_positions(&args).into_iter().map(|i| (db, args[i].to_vec())));
                        }
                    }
                    Err(e) => reply.error(e.text()),
                }
                if let Some(&c) = cores.iter().flatten().next() {
                    // SAFETY: held, and no other reference to it is alive here.
                    unsafe { (*c).stats.record(id, None, false, 0) };
                }
            }
            Handler::Conn(_) => match spec.name {
                "ping" if args.len() == 2 => reply.bulk(&args[1]),
                "ping" => reply.simple("PONG"),
                "echo" => reply.bulk(&args[1]),
                "select" => match shards::value::parse_i64_strict(&args[1]) {
                    Some(d) if d >= 0 && (d as usize) < server.databases => {
                        db = d as usize;
                        reply.ok();
                    }
                    Some(_) => reply.error(crate::protocol::errors::DB_INDEX_OUT_OF_RANGE),
                    None => reply.error(crate::protocol::errors::NOT_INTEGER),
                },
                _ => reply.error("ERR this connection command is not supported inside MULTI by shardis yet"),
            },
        }
    }
    unit.end(server, cores);
    let end = reply.buf.len() as u32;
    let wrote = !keys.is_empty();
    // Keys written here are reported with their database in `keys` below as "db\0key" pairs.
    Outcome { replies: ReplyBatch { buf: reply.buf, ends: vec![end], ready: keys }, would_block: false, wrote, keys: Vec::new() }
}

/// Whether a queued transaction holds a DENYOOM command.
fn queued_denyoom(cmds: &[u8]) -> bool {
    let mut p = Parser::new();
    let mut pos = 0;
    while let Ok(Some(len)) = p.parse(&cmds[pos..], u64::MAX, true) {
        let args = p.args(&cmds[pos..pos + len]);
        pos += len;
        if command::resolve(&args).is_some_and(|(_, spec)| spec.has(flag::DENYOOM)) {
            return true;
        }
    }
    false
}

pub fn execute(server: &Server, cores: &[Option<*mut ShardCore>], req: &CoordRequest) -> Outcome {
    if let Some(count) = req.multi {
        return execute_multi(server, cores, req, count);
    }
    let mut reply = Reply::new(req.resp3);
    let mut p = Parser::new();
    let mut would_block = false;
    let mut wrote = false;
    let mut keys = Vec::new();
    let parsed = p.parse(&req.cmd, u64::MAX, true);
    if let Ok(Some(len)) = parsed {
        let args = p.args(&req.cmd[..len]);
        if let Some((id, spec)) = command::resolve(&args) {
            if let Handler::Data(f) = spec.handler {
                let t0 = crate::stats::cycles();
                let unit = crate::effects::Unit::begin(cores);
                crate::effects::track(cores);
                let mut x = Exec::new(ShardSet::Many(cores), req.db, &mut reply, server, spec, id);
                match crate::dispatch::run_data(&mut x, f, &args) {
                    Ok(()) => {
                        would_block = x.would_block;
                        wrote = spec.has(flag::WRITE) && !would_block;
                    }
                    Err(e) => reply.error(e.text()),
                }
                unit.end(server, cores);
                let us = crate::stats::cycles_to_us(crate::stats::cycles() - t0);
                if let Some(&c) = cores.iter().flatten().next() {
                    // SAFETY: held, and no other reference to it is alive here.
                    unsafe { (*c).stats.add_usec(id, us) };
                }
                crate::command::server::maybe_slowlog(server, spec, &args, us, &req.client);
                if wrote {
                    keys = spec.key_positions(&args).into_iter().map(|i| args[i].to_vec()).collect();
                }
            }
        }
    }
    if reply.buf.is_empty() && !would_block {
        reply.error("ERR internal error: command could not run on the coordinator");
    }
    let end = reply.buf.len() as u32;
    Outcome { replies: ReplyBatch { buf: reply.buf, ends: vec![end], ready: Vec::new() }, would_block, wrote, keys }
}
