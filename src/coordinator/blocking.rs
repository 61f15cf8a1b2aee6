//! Clients blocked on list and sorted-set keys, kept by the coordinator.
//!
//! Invariants:
//! - A waiter is parked only while the shards of its keys are held, right after its command
//!   found every key empty, so no write can slip between the check and the parking.
//! - Each shard's watched-key set (`Server::watched_keys`) holds exactly the (db, key) pairs of
//!   that shard with at least one waiter; shards check it after each write.
//! - Waiters on one key are served in arrival order; a waiter on several keys is served from the
//!   first that becomes ready and then leaves every queue.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::{CoordRequest, Held};
use crate::command::blocking::{count_served, plan, try_attempt};
use crate::command::{self, Handler};
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::{Args, Parser};
use crate::protocol::Reply;
use crate::server::Server;
use crate::shard::{Msg, ReplyBatch, ShardCore};

struct Waiter {
    req: CoordRequest,
    args: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    /// Every shard the command's keys live on (the source and, for BLMOVE, the destination).
    shards: Vec<usize>,
}

#[derive(Default)]
pub struct Blocked {
    next_id: u64,
    waiters: HashMap<u64, Waiter>,
    by_key: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    deadlines: BTreeSet<(Instant, u64)>,
    by_client: HashMap<u64, u64>,
}

/// How a blocking command runs while other clients wait on some of its keys.
pub enum FreeKeys {
    /// No key of it has waiters: as sent.
    All,
    /// Every key has: it queues behind them.
    None,
    /// Only on the keys without waiters (this command, re-encoded); if none of them can serve
    /// it, it waits on all its keys.
    Only(Vec<u8>),
}

fn parse_numkeys(arg: &[u8]) -> usize {
    shards::value::parse_i64_strict(arg).filter(|&n| n > 0).map_or(0, |n| n as usize)
}

fn null_array(resp3: bool) -> ReplyBatch {
    let mut r = Reply::new(resp3);
    r.null_array();
    let end = r.buf.len() as u32;
    ReplyBatch { buf: r.buf, ends: vec![end], ready: Vec::new() }
}

fn decode(cmd: &[u8]) -> Vec<Vec<u8>> {
    let mut p = Parser::new();
    match p.parse(cmd, u64::MAX, true) {
        Ok(Some(n)) => p.args(&cmd[..n]).iter().map(|a| a.to_vec()).collect(),
        _ => Vec::new(),
    }
}

/// Moves the keys handlers noted on the held shards (`ShardCore::ready_keys`) into `out`.
pub fn drain_noted(cores: &[Option<*mut ShardCore>], out: &mut Vec<(usize, Vec<u8>)>) {
    for &c in cores.iter().flatten() {
        // SAFETY: held by the coordinator, and no other reference to the core is alive here.
        out.append(unsafe { &mut (*c).ready_keys });
    }
}

impl Blocked {
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// First come, first served: a blocking command must not take from a key other clients
    /// already wait on (a push that just filled it is on its way to serve them), but it may be
    /// served at once from its other keys, as in Redis. Says how to run `req` given the keys
    /// with waiters.
    pub fn free_keys(&self, req: &CoordRequest) -> FreeKeys {
        if self.by_key.is_empty() {
            return FreeKeys::All;
        }
        let args = decode(&req.cmd);
        let owned = Args::from_owned(&args);
        let Some((_, spec)) = command::resolve(&owned) else { return FreeKeys::All };
        if !spec.has(crate::command::flag::BLOCKING) || plan(&owned).is_err() {
            return FreeKeys::All;
        }
        let waited = |k: &Vec<u8>| self.by_key.contains_key(&(req.db, k.clone()));
        // Where the keys sit: BLPOP key... timeout; BLMPOP timeout numkeys key...; BLMOVE and
        // BRPOPLPUSH have one key to wait on.
        let (first, count) = match spec.name {
            "blmpop" | "bzmpop" => (3, args.len().min(3 + parse_numkeys(&args[2])) - 3),
            "blmove" | "brpoplpush" => (1, 1),
            _ => (1, args.len() - 2),
        };
        let keys = &args[first..first + count];
        let free: Vec<Vec<u8>> = keys.iter().filter(|k| !waited(k)).cloned().collect();
        if free.len() == keys.len() {
            return FreeKeys::All;
        }
        if free.is_empty() {
            return FreeKeys::None;
        }
        let mut only: Vec<Vec<u8>> = args[..first].to_vec();
        if first == 3 {
            only[2] = free.len().to_string().into_bytes();
        }
        only.extend(free);
        only.extend_from_slice(&args[first + count..]);
        let mut cmd = Vec::new();
        crate::connection::encode_multibulk(&mut cmd, &Args::from_owned(&only));
        FreeKeys::Only(cmd)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().next().map(|(t, _)| *t)
    }

    /// Parks a client whose blocking command found nothing (the shards are still held).
    pub fn park(&mut self, server: &Server, req: CoordRequest, _cores: &[Option<*mut ShardCore>]) {
        let args = decode(&req.cmd);
        let owned = Args::from_owned(&args);
        let Ok((spec, _)) = plan(&owned) else { return };
        let n = server.nshards;
        let mut shards: Vec<usize> = match command::resolve(&owned) {
            Some((_, s)) => s.key_positions(&owned).iter().map(|&i| shards::route::shard_of(&owned[i], n)).collect(),
            None => Vec::new(),
        };
        shards.sort_unstable();
        shards.dedup();
        let id = self.next_id;
        self.next_id += 1;
        let deadline = spec.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
        if let Some(d) = deadline {
            self.deadlines.insert((d, id));
        }
        for k in &spec.keys {
            let q = self.by_key.entry((req.db, k.clone())).or_default();
            // BLPOP k k 0 waits once on k.
            if q.back() != Some(&id) {
                q.push_back(id);
            }
            server.watch_key(shards::route::shard_of(k, n), req.db, k);
        }
        req.client.blocked.store(true, Relaxed);
        self.by_client.insert(req.client.id, id);
        server.blocked_clients.fetch_add(1, Relaxed);
        self.waiters.insert(id, Waiter { req, args, keys: spec.keys, deadline, shards });
    }

    /// Takes a waiter out of every index.
    fn take(&mut self, server: &Server, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        if let Some(d) = w.deadline {
            self.deadlines.remove(&(d, id));
        }
        for k in &w.keys {
            let slot = (w.req.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                    server.unwatch_key(shards::route::shard_of(k, server.nshards), w.req.db, k);
                }
            }
        }
        self.by_client.remove(&w.req.client.id);
        w.req.client.blocked.store(false, Relaxed);
        server.blocked_clients.fetch_sub(1, Relaxed);
        Some(w)
    }

    /// Replies to waiters whose timeout has passed (a null array, as Redis).
    pub fn expire(&mut self, server: &Server, now: Instant) {
        while let Some(&(t, id)) = self.deadlines.iter().next() {
            if t > now {
                break;
            }
            if let Some(w) = self.take(server, id) {
                server.mailbox(w.req.from).send(Msg::Replies { token: w.req.token, replies: null_array(w.req.resp3) });
            }
        }
    }

    /// A client left (`unblock` None) or CLIENT UNBLOCK asked to end its wait.
    pub fn remove_client(&mut self, server: &Server, client: u64, unblock: Option<bool>) {
        let Some(&id) = self.by_client.get(&client) else { return };
        let Some(w) = self.take(server, id) else { return };
        let replies = match unblock {
            Some(true) => {
                let mut r = Reply::new(w.req.resp3);
                r.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                let end = r.buf.len() as u32;
                ReplyBatch { buf: r.buf, ends: vec![end], ready: Vec::new() }
            }
            // A departed client's slot is freed with an empty answer nobody reads.
            _ => null_array(w.req.resp3),
        };
        server.mailbox(w.req.from).send(Msg::Replies { token: w.req.token, replies });
    }

    /// Serves the waiters of keys that were written, first come first served, for as long as
    /// each key can serve. A served BLMOVE/BRPOPLPUSH may in turn feed the waiters of its
    /// destination.
    pub fn serve_ready(&mut self, server: &Server, keys: Vec<(usize, Vec<u8>)>) {
        let mut work: VecDeque<(usize, Vec<u8>)> = keys.into();
        let mut seen = 0usize;
        while let Some((db, key)) = work.pop_front() {
            seen += 1;
            if seen > 100_000 {
                break;
            }
            while let Some(&id) = self.by_key.get(&(db, key.clone())).and_then(|q| q.front()) {
                let Some(w) = self.waiters.get(&id) else { break };
                if w.req.client.closed.load(Relaxed) {
                    self.take(server, id);
                    continue;
                }
                let Some(held) = Held::new(server, w.shards.clone()) else { return };
                let owned = Args::from_owned(&w.args);
                let Ok((_, attempts)) = plan(&owned) else { break };
                let Some(at) = attempts.iter().find(|a| a.key == key) else { break };
                let Some((cmd_id, spec)) = command::resolve(&owned) else { break };
                if !matches!(spec.handler, Handler::Data(_)) {
                    break;
                }
                let mut reply = Reply::new(w.req.resp3);
                let mut x = Exec::new(ShardSet::Many(&held.cores), db, &mut reply, server, spec, cmd_id);
                // Only a key of the type the command pops from serves (Redis checks the type of
                // a ready key before serving); otherwise the client keeps waiting.
                let wanted = if at.sibling[0].first() == Some(&b'Z') { "zset" } else { "list" };
                if x.shard(&key).type_of(db, &key) != wanted {
                    break;
                }
                let unit = crate::effects::Unit::begin(&held.cores);
                crate::effects::track(&held.cores);
                let (served, popped) = match try_attempt(&mut x, at) {
                    Ok(served) => {
                        if served {
                            count_served(&mut x, at);
                        }
                        (served, served)
                    }
                    // The pop itself failed (BLMOVE into a key of another type): the client is
                    // unblocked with the error and the element stays, as in Redis.
                    Err(e) => {
                        reply.buf.clear();
                        reply.error(e.text());
                        (true, false)
                    }
                };
                unit.end(server, &held.cores);
                super::persist_held(server, &held.cores);
                drop(held);
                if !served {
                    break;
                }
                let moved_to =
                    if at.sibling.len() >= 3 && (at.sibling[0] == b"LMOVE" || at.sibling[0] == b"RPOPLPUSH") { Some(at.sibling[2].clone()) } else { None };
                if popped {
                    // The pop (and push) modified keys: their WATCHers' EXEC aborts, as in Redis.
                    for k in std::iter::once(&key).chain(moved_to.as_ref()) {
                        server.touch_watched(shards::route::shard_of(k, server.nshards), db, k);
                    }
                }
                if let Some(w) = self.take(server, id) {
                    let end = reply.buf.len() as u32;
                    server
                        .mailbox(w.req.from)
                        .send(Msg::Replies { token: w.req.token, replies: ReplyBatch { buf: reply.buf, ends: vec![end], ready: Vec::new() } });
                }
                if let Some(dst) = moved_to {
                    if self.by_key.contains_key(&(db, dst.clone())) {
                        work.push_back((db, dst));
                    }
                }
            }
        }
    }
}
