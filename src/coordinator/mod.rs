//! The coordinator thread: runs commands that involve several shards atomically.
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

use std::collections::BTreeSet;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::command::{self, Handler, Route};
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::Parser;
use crate::protocol::Reply;
use crate::server::Server;
use crate::shard::{HeldCore, Msg, ReplyBatch, ShardCore};

/// A command sent to the coordinator by the shard of the connection that issued it.
pub struct CoordRequest {
    pub from: usize,
    pub token: u64,
    pub db: usize,
    pub resp3: bool,
    /// The command, RESP multibulk encoded.
    pub cmd: Vec<u8>,
    /// The client that sent it (for the slow log).
    pub client: Arc<crate::server::ClientInfo>,
}

#[derive(Clone)]
pub struct CoordinatorHandle {
    tx: Sender<CoordRequest>,
}

impl CoordinatorHandle {
    pub fn send(&self, req: CoordRequest) {
        // The coordinator lives as long as the process.
        let _ = self.tx.send(req);
    }
}

/// Most requests taken into one hold.
const MAX_BATCH: usize = 64;

pub fn spawn(server: Arc<Server>) -> std::io::Result<CoordinatorHandle> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new().name("coordinator".into()).spawn(move || run(server, rx))?;
    Ok(CoordinatorHandle { tx })
}

fn run(server: Arc<Server>, rx: Receiver<CoordRequest>) {
    let n = server.nshards;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // Which shards the batch needs.
        let mut needed = BTreeSet::new();
        for req in &batch {
            needed.extend(shards_for(&req.cmd, n));
        }
        for &s in &needed {
            server.mailbox(s).send(Msg::Hold);
        }
        let mut held: Vec<Option<HeldCore>> = (0..n).map(|_| None).collect();
        for &s in &needed {
            match server.mailbox(s).grant_rx.recv() {
                Ok(h) => held[s] = Some(h),
                Err(_) => return,
            }
        }
        // Each pointer was granted by its shard thread, which is now blocked until the release
        // below and does not touch its core meanwhile (see shard::Node::hold).
        let cores: Vec<Option<*mut ShardCore>> = held.iter().map(|h| h.as_ref().map(|h| h.0)).collect();
        for req in &batch {
            let replies = execute(&server, &cores, req);
            server.mailbox(req.from).send(Msg::Replies { token: req.token, replies });
        }
        for &s in &needed {
            let _ = server.mailbox(s).release_tx.send(());
        }
    }
}

/// The shards a command touches: its keys' shards, or all of them.
fn shards_for(cmd: &[u8], n: usize) -> Vec<usize> {
    let mut p = Parser::new();
    let Ok(Some(len)) = p.parse(cmd, u64::MAX, true) else { return Vec::new() };
    let args = p.args(&cmd[..len]);
    let Some((_, spec)) = command::resolve(&args) else { return Vec::new() };
    match spec.route {
        Route::Keys => {
            let mut v: Vec<usize> = spec.key_positions(&args).iter().map(|&i| shards::route::shard_of(&args[i], n)).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        _ => (0..n).collect(),
    }
}

fn execute(server: &Server, cores: &[Option<*mut ShardCore>], req: &CoordRequest) -> ReplyBatch {
    let mut reply = Reply::new(req.resp3);
    let mut p = Parser::new();
    let parsed = p.parse(&req.cmd, u64::MAX, true);
    if let Ok(Some(len)) = parsed {
        let args = p.args(&req.cmd[..len]);
        if let Some((id, spec)) = command::resolve(&args) {
            if let Handler::Data(f) = spec.handler {
                let t0 = crate::stats::cycles();
                let mut x = Exec { shards: ShardSet::Many(cores), db: req.db, reply: &mut reply, server, spec, cmd_id: id };
                if let Err(e) = f(&mut x, &args) {
                    reply.error(e.text());
                }
                let us = crate::stats::cycles_to_us(crate::stats::cycles() - t0);
                if let Some(&c) = cores.iter().flatten().next() {
                    // SAFETY: held, and no other reference to it is alive here.
                    unsafe { (*c).stats.add_usec(id, us) };
                }
                crate::command::server::maybe_slowlog(server, spec, &args, us, &req.client);
            }
        }
    }
    if reply.buf.is_empty() {
        reply.error("ERR internal error: command could not run on the coordinator");
    }
    let end = reply.buf.len() as u32;
    ReplyBatch { buf: reply.buf, ends: vec![end] }
}
