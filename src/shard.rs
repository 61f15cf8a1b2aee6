//! A shard: one thread, one monoio runtime, one engine [`shards::Shard`], its connections, its
//! mailbox and its cron.
//!
//! Invariants:
//! - [`ShardCore`] is touched only by its shard thread, except while the coordinator holds the
//!   shard: then the shard thread is parked inside [`Node::hold`] and the coordinator has
//!   exclusive access until it releases it.
//! - Nothing borrows the core across an `.await`, so the mailbox task can always take it.
//! - Cross-thread messages arrive through the [`Mailbox`]: a sender wakes the mailbox task only
//!   when it is not already notified, and monoio writes the runtime's eventfd only when the
//!   runtime is parked, so a busy shard receives batches without any wake-up cost.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender};

use crate::command::CommandId;
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::Parser;
use crate::protocol::Reply;
use crate::server::Server;
use crate::stats::ShardStats;

/// What the coordinator can reach while it holds a shard.
pub struct ShardCore {
    pub engine: shards::Shard,
    pub stats: ShardStats,
    /// Keys blocked clients wait on that writes on this shard filled, not yet reported.
    pub ready_keys: Vec<(usize, Vec<u8>)>,
    /// This shard's AOF segment, when appendonly is on.
    pub aof: Option<crate::aof::Segment>,
    /// The effect records (by [`shards::effects::EffectLog::produced`]) known to be in the AOF.
    pub durable_seq: u64,
    /// Over its maxmemory share with nothing left to evict, as last checked (crate::evict).
    pub evict_failing: bool,
    /// A rewrite's switch to a new increment, being prepared off the thread.
    pub aof_switch: Option<Box<crate::aof::rewrite::PendingSwitch>>,
}

impl ShardCore {
    pub fn new(id: usize, databases: usize) -> ShardCore {
        ShardCore {
            engine: shards::Shard::new(id, databases),
            stats: ShardStats::new(crate::command::table().len()),
            ready_keys: Vec::new(),
            aof: None,
            durable_seq: 0,
            evict_failing: false,
            aof_switch: None,
        }
    }

    /// Redis's flushAppendOnlyFile rule for everysec, adapted: once the running fsync is 2 s
    /// old (a write to a file being fsynced can block on a busy disk), a write is put off for
    /// at most 2 s more; after that it goes ahead and counts in INFO aof_delayed_fsync.
    /// True when this turn's write should wait (the caller retries a little later).
    pub fn aof_write_put_off(&mut self, server: &Server) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(seg) = &mut self.aof else { return false };
        // Replies wait for their records to be written, so putting writes off whenever an
        // fsync runs (Redis's rule; Redis sends the replies meanwhile) would stall every
        // client once a second: writes wait only once the running fsync is 2 s old, the
        // disk visibly behind.
        let now = shards::keyspace::wall_clock_ms();
        let started = server.aof.fsync_started_ms.load(Relaxed);
        let behind = started != 0 && now - started >= 2000;
        if !behind || server.hot().appendfsync_always || (self.engine.effects.is_empty() && !seg.has_pending()) {
            seg.postponed_since = 0;
            return false;
        }
        if seg.postponed_since == 0 {
            seg.postponed_since = now;
            return true;
        }
        if now - seg.postponed_since < 2000 {
            return true;
        }
        seg.postponed_since = 0;
        server.aof.delayed_fsync.fetch_add(1, Relaxed);
        tracing::warn!(
            shard = self.engine.id,
            "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis."
        );
        false
    }

    /// Writes the effects recorded so far to the AOF segment (and fdatasyncs with appendfsync
    /// always). Called before any reply that depends on them leaves. Cheap when there is
    /// nothing to write.
    /// False when the write (or fsync) failed: the records stay pending, to be retried, and
    /// write commands are refused with MISCONF until it works again.
    pub fn persist(&mut self, server: &Server) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(seg) = &mut self.aof else { return true };
        if self.engine.effects.is_empty() && !seg.has_pending() {
            return true;
        }
        let upto = self.engine.effects.produced();
        let e = self.engine.effects.take();
        let res = seg.write_effects(&e, server.hot().appendfsync_always);
        self.engine.effects.recycle(e);
        match res {
            Ok(()) => {
                self.durable_seq = upto;
                if seg.failing {
                    seg.failing = false;
                    server.aof_failing.fetch_sub(1, Relaxed);
                    tracing::warn!(shard = self.engine.id, "AOF write error looks solved, shardis can write again.");
                }
                true
            }
            Err(err) => {
                server.aof_last_errno.store(err.raw_os_error().unwrap_or(libc::EIO), Relaxed);
                if !seg.failing {
                    seg.failing = true;
                    server.aof_failing.fetch_add(1, Relaxed);
                    tracing::error!(shard = self.engine.id, "Error writing to the AOF file {}: {err}", seg.path.display());
                }
                false
            }
        }
    }

    /// After a successful write: notes the keys blocked clients wait on (cheap when none do).
    #[inline]
    pub fn note_written(&mut self, server: &Server, db: usize, spec: &crate::command::CommandSpec, args: &crate::protocol::parse::Args<'_>) {
        if !server.any_watched(self.engine.id) || !spec.has(crate::command::flag::WRITE) {
            return;
        }
        for p in spec.key_positions(args) {
            let k = &args[p];
            server.touch_watched(self.engine.id, db, k);
            if server.is_watched(self.engine.id, db, k) {
                self.ready_keys.push((db, k.to_vec()));
            }
        }
    }

    /// A key written outside its command's key positions (MOVE or COPY into another
    /// database): its WATCHers are touched and, if blocked clients wait on it, it is noted.
    /// Redis signals every key added to a database (dbAdd), whatever the command.
    pub fn note_ready(&mut self, server: &Server, db: usize, key: &[u8]) {
        server.touch_watched(self.engine.id, db, key);
        if server.is_watched(self.engine.id, db, key) {
            self.ready_keys.push((db, key.to_vec()));
        }
    }

    /// FLUSHDB, FLUSHALL and SWAPDB, before they change anything: the WATCHers of a key of
    /// `db` (every database when None) that exists in it, or in `other` (the database SWAPDB
    /// swaps it with), see their EXEC abort; watched keys that do not exist stay untouched
    /// (Redis's touchAllWatchedKeysInDb).
    pub fn touch_watched_existing(&mut self, server: &Server, db: Option<usize>, other: Option<usize>) {
        let id = self.engine.id;
        for (d, key) in server.watcher_keys(id) {
            if db.is_some_and(|x| x != d) {
                continue;
            }
            let here = |x: usize| self.engine.dbs.get(x).is_some_and(|t| t.main.contains_key(&key));
            if here(d) || other.is_some_and(here) {
                server.touch_watched(id, d, &key);
            }
        }
    }

    /// SWAPDB: every key of `db` on this shard that blocked clients wait on and that now
    /// holds a value (Redis's scanDatabaseForReadyKeys).
    pub fn note_db_ready(&mut self, server: &Server, db: usize) {
        for key in server.watched_in(self.engine.id, db) {
            if self.engine.exists(db, &key) {
                self.ready_keys.push((db, key));
            }
        }
    }
}

/// A pointer to a held shard's core, sent to the coordinator. Valid until the coordinator sends
/// the release: the owning thread is blocked and does not touch the core meanwhile.
pub struct HeldCore(pub *mut ShardCore);
// SAFETY: the pointer is only dereferenced by the coordinator between the grant and the
// release, while the owning thread is blocked on the release channel; the channel operations
// order all accesses (happens-before), and ShardCore owns only Send data.
unsafe impl Send for HeldCore {}

/// Commands forwarded from another shard, encoded as RESP multibulk, one database per command.
pub struct ForwardBatch {
    pub buf: Vec<u8>,
    pub dbs: Vec<u16>,
    /// The client that sent them (for the slow log).
    pub client: Arc<crate::server::ClientInfo>,
}

/// Replies to a forwarded batch: the encoded replies back to back, and where each one ends.
#[derive(Default, Debug)]
pub struct ReplyBatch {
    pub buf: Vec<u8>,
    pub ends: Vec<u32>,
    /// Keys blocked clients wait on that these commands filled (the origin reports them to
    /// the coordinator before replying).
    pub ready: Vec<(usize, Vec<u8>)>,
}

pub enum Msg {
    /// Run forwarded commands and send the replies to shard `from` under `token`.
    Exec { from: usize, token: u64, resp3: bool, batch: ForwardBatch },
    /// Replies to a batch this shard sent.
    Replies { token: u64, replies: ReplyBatch },
    /// The coordinator asks for exclusive access to the core.
    Hold,
    /// A published message for clients this shard serves.
    Publish(Arc<crate::pubsub::Publication>, Vec<crate::pubsub::Delivery>),
    /// Startup: the loaded dataset replaces the empty core the shard served while loading;
    /// the shard acknowledges on the channel.
    Install(Box<ShardCore>, Sender<()>),
    /// Stop accepting and end the runtime.
    Shutdown,
}

pub struct Mailbox {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    notified: AtomicBool,
    waker: AtomicWaker,
    pub grant_tx: Sender<HeldCore>,
    pub grant_rx: Receiver<HeldCore>,
    pub release_tx: Sender<()>,
    pub release_rx: Receiver<()>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Mailbox {
    pub fn new() -> Mailbox {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (grant_tx, grant_rx) = crossbeam_channel::bounded(1);
        let (release_tx, release_rx) = crossbeam_channel::bounded(1);
        Mailbox { tx, rx, notified: AtomicBool::new(false), waker: AtomicWaker::new(), grant_tx, grant_rx, release_tx, release_rx }
    }

    /// Queues a message; wakes the receiving mailbox task only if it has not been told yet.
    pub fn send(&self, msg: Msg) {
        // An unbounded channel whose receiver lives as long as the Mailbox cannot fail.
        let _ = self.tx.send(msg);
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }
}

/// A reply slot a connection waits on, filled by the mailbox task.
#[derive(Default)]
pub struct WaitSlot {
    pub result: Option<ReplyBatch>,
    pub waker: Option<Waker>,
}

/// Per-thread state of a shard.
pub struct Node {
    pub id: usize,
    pub server: Arc<Server>,
    pub core: RefCell<ShardCore>,
    waiters: RefCell<std::collections::HashMap<u64, Rc<RefCell<WaitSlot>>>>,
    next_token: Cell<u64>,
    pub mailbox: Arc<Mailbox>,
    /// Group commit: connections waiting for the AOF write of this loop turn.
    aof_waiters: RefCell<Vec<Waker>>,
    /// The AOF writer task, woken by the first connection that waits in a turn.
    aof_writer: RefCell<Option<Waker>>,
    /// Replies to forwarded batches, sent once their records are written.
    aof_deferred: RefCell<Vec<(usize, u64, ReplyBatch)>>,
}

impl Node {
    pub fn new(id: usize, server: Arc<Server>, core: ShardCore) -> Node {
        let mailbox = server.mailbox(id).clone();
        Node {
            id,
            core: RefCell::new(core),
            server,
            waiters: RefCell::new(std::collections::HashMap::new()),
            next_token: Cell::new(1),
            mailbox,
            aof_waiters: RefCell::new(Vec::new()),
            aof_writer: RefCell::new(None),
            aof_deferred: RefCell::new(Vec::new()),
        }
    }

    /// Waits until the effects recorded up to `seq` are in the AOF (written, and fsynced with
    /// appendfsync always). Group commit: every connection that waits during a loop turn is
    /// released by one write, done by the writer task once the connections ready in that turn
    /// have run. Free when the AOF is off or they already are.
    pub async fn persist(&self, seq: u64) {
        {
            let core = self.core.borrow();
            if core.aof.is_none() || core.durable_seq >= seq {
                return;
            }
        }
        if self.aof_writer.borrow().is_none() {
            // No writer task (not started yet): write now.
            self.core.borrow_mut().persist(&self.server);
            return;
        }
        poll_fn(|cx| {
            if self.core.borrow().durable_seq >= seq {
                return Poll::Ready(());
            }
            self.aof_waiters.borrow_mut().push(cx.waker().clone());
            if let Some(w) = self.aof_writer.borrow().as_ref() {
                w.wake_by_ref();
            }
            Poll::Pending
        })
        .await
    }

    /// The AOF writer task (only when appendonly is on): when connections or forwarded
    /// replies wait, writes once, then releases them all. While writing fails (disk full, I/O
    /// error) it retries every 100 ms and releases nothing: no reply acknowledges a write that
    /// is not in the AOF.
    pub async fn run_aof_writer(self: Rc<Self>) {
        loop {
            poll_fn(|cx| {
                *self.aof_writer.borrow_mut() = Some(cx.waker().clone());
                if self.aof_waiters.borrow().is_empty() && self.aof_deferred.borrow().is_empty() {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            while self.core.borrow_mut().aof_write_put_off(&self.server) {
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
            while !self.core.borrow_mut().persist(&self.server) {
                monoio::time::sleep(Duration::from_millis(100)).await;
            }
            for w in std::mem::take(&mut *self.aof_waiters.borrow_mut()) {
                w.wake();
            }
            for (from, token, replies) in std::mem::take(&mut *self.aof_deferred.borrow_mut()) {
                self.server.mailbox(from).send(Msg::Replies { token, replies });
            }
        }
    }

    /// Registers a wait slot and returns its token.
    pub fn new_waiter(&self) -> (u64, Rc<RefCell<WaitSlot>>) {
        let t = self.next_token.get();
        self.next_token.set(t + 1);
        let slot = Rc::new(RefCell::new(WaitSlot::default()));
        self.waiters.borrow_mut().insert(t, slot.clone());
        (t, slot)
    }

    /// Waits until the slot is filled.
    pub async fn wait(&self, slot: &Rc<RefCell<WaitSlot>>) -> ReplyBatch {
        poll_fn(|cx| {
            let mut s = slot.borrow_mut();
            match s.result.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The mailbox task: drains every queued message each time it runs.
    pub async fn run_mailbox(self: Rc<Self>) {
        let mb = self.mailbox.clone();
        poll_fn(|cx| {
            mb.waker.register(cx.waker());
            mb.notified.store(false, Ordering::SeqCst);
            let mut handled = 0;
            while let Ok(msg) = mb.rx.try_recv() {
                if !self.handle(msg) {
                    return Poll::Ready(());
                }
                handled += 1;
                if handled >= 1024 {
                    // Let connections run; come back on the next turn.
                    cx.waker().wake_by_ref();
                    break;
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Handles one message; false on shutdown.
    fn handle(&self, msg: Msg) -> bool {
        match msg {
            Msg::Exec { from, token, resp3, batch } => {
                let before = self.core.borrow().engine.effects.produced();
                let replies = self.exec_forwarded(resp3, &batch);
                let wrote = self.core.borrow().engine.effects.produced() > before;
                if wrote && self.core.borrow().aof.is_some() && self.aof_writer.borrow().is_some() {
                    // The replies leave with the AOF writer's next write, in the same group
                    // commit as this turn's connections.
                    self.aof_deferred.borrow_mut().push((from, token, replies));
                    if let Some(w) = self.aof_writer.borrow().as_ref() {
                        w.wake_by_ref();
                    }
                } else {
                    self.server.mailbox(from).send(Msg::Replies { token, replies });
                }
            }
            Msg::Replies { token, replies } => {
                if let Some(slot) = self.waiters.borrow_mut().remove(&token) {
                    let mut s = slot.borrow_mut();
                    s.result = Some(replies);
                    if let Some(w) = s.waker.take() {
                        w.wake();
                    }
                }
            }
            Msg::Hold => self.hold(),
            Msg::Publish(p, list) => crate::pubsub::deliver(self, &p, list),
            Msg::Install(loaded, ack) => {
                let mut core = self.core.borrow_mut();
                let mut loaded = *loaded;
                // Keep what was counted while loading (commands refused with -LOADING, INFO).
                std::mem::swap(&mut loaded.stats, &mut core.stats);
                *core = loaded;
                let _ = ack.send(());
            }
            Msg::Shutdown => return false,
        }
        true
    }

    /// Gives the coordinator the core and blocks this thread until it is released.
    fn hold(&self) {
        let mut core = self.core.borrow_mut();
        core.engine.set_now(shards::keyspace::wall_clock_ms());
        let ptr: *mut ShardCore = &mut *core;
        if self.mailbox.grant_tx.send(HeldCore(ptr)).is_ok() {
            // Blocks the runtime on purpose: the coordinator owns the core until it releases.
            let _ = self.mailbox.release_rx.recv();
        }
    }

    /// Runs commands another shard forwarded here, replies encoded in the sender's protocol.
    fn exec_forwarded(&self, resp3: bool, batch: &ForwardBatch) -> ReplyBatch {
        let mut core = self.core.borrow_mut();
        core.engine.set_now(shards::keyspace::wall_clock_ms());
        let mut reply = Reply::new(resp3);
        let mut ends = Vec::with_capacity(batch.dbs.len());
        let mut parser = Parser::new();
        let mut pos = 0;
        for &db in &batch.dbs {
            // The batch was encoded by us from commands that already parsed once.
            let n = match parser.parse(&batch.buf[pos..], u64::MAX, true) {
                Ok(Some(n)) => n,
                _ => break,
            };
            let args = parser.args(&batch.buf[pos..pos + n]);
            pos += n;
            if let Some((id, spec)) = crate::command::resolve(&args) {
                if let crate::command::Handler::Data(f) = spec.handler {
                    let t0 = crate::stats::cycles();
                    let mut x = Exec::new(ShardSet::One(&mut core), db as usize, &mut reply, &self.server, spec, id);
                    match crate::dispatch::run_data(&mut x, f, &args) {
                        Ok(()) => core.note_written(&self.server, db as usize, spec, &args),
                        Err(e) => reply.error(e.text()),
                    }
                    let us = crate::stats::cycles_to_us(crate::stats::cycles() - t0);
                    core.stats.add_usec(id, us);
                    crate::command::server::maybe_slowlog(&self.server, spec, &args, us, &batch.client);
                }
            }
            ends.push(reply.buf.len() as u32);
        }
        let ready = std::mem::take(&mut core.ready_keys);
        if self.aof_writer.borrow().is_none() {
            core.persist(&self.server);
        }
        ReplyBatch { buf: reply.buf, ends, ready }
    }

    /// Periodic work (Redis's serverCron/databasesCron): active expiry, incremental rehashing,
    /// idle client timeouts. Returns how long to sleep before the next run.
    pub fn cron(&self) -> Duration {
        let (hz, effort) = {
            let c = self.server.config();
            (c.hz.max(1), c.active_expire_effort)
        };
        let period = Duration::from_millis(1000 / hz as u64);
        let mut core = self.core.borrow_mut();
        core.engine.set_now(shards::keyspace::wall_clock_ms());
        // Redis gives the slow cycle 25% of a cron period; spend it in short slices so the
        // shard never stalls for long, and come back sooner while there is backlog.
        let slice = (period / 4).min(Duration::from_millis(5));
        let watched = self.server.any_watched(core.engine.id);
        if watched {
            core.engine.expired_log = Some(Vec::new());
        }
        let timed_out = self.server.active_expire.load(Ordering::Relaxed) && core.engine.active_expire_cycle(effort, Instant::now() + slice);
        for (db, key) in core.engine.expired_log.take().unwrap_or_default() {
            self.server.touch_watched(core.engine.id, db, &key);
        }
        let evicting = crate::evict::cron(&self.server, &mut core);
        core.engine.tables_cron(100);
        core.stats.sample_ops();
        crate::alloc::cron();
        if !core.aof_write_put_off(&self.server) {
            core.persist(&self.server);
        }
        crate::aof::rewrite::cron(&self.server, &mut core);
        crate::snapshot::cron(&self.server, &core);
        drop(core);
        self.check_client_timeouts();
        crate::pubsub::cron(self);
        if evicting {
            // Over maxmemory and stopped by the time limit: continue on the next turn, as
            // Redis's eviction timer does.
            Duration::from_millis(1)
        } else if timed_out {
            slice * 4
        } else {
            period
        }
    }

    fn check_client_timeouts(&self) {
        let timeout = self.server.hot().timeout;
        if timeout == 0 {
            return;
        }
        let now = shards::keyspace::wall_clock_ms();
        let clients = self.server.clients.lock().unwrap_or_else(|p| p.into_inner());
        // Redis's clientsCronHandleTimeout spares subscribers: they wait for messages, not idle.
        for c in clients.values().filter(|c| c.shard == self.id && !c.is_pubsub()) {
            let idle = now - c.last_interaction_ms.load(Ordering::Relaxed);
            if idle > (timeout as i64) * 1000 {
                c.kill.store(true, Ordering::Relaxed);
                // SAFETY: shutdown on a socket fd the registry entry still owns (the connection
                // unregisters before closing), waking its pending read.
                unsafe {
                    libc::shutdown(c.fd, libc::SHUT_RDWR);
                }
            }
        }
    }

    /// Records a command's statistics on this shard.
    pub fn record(&self, id: CommandId, failed: Option<&[u8]>, rejected: bool, us: u64) {
        let mut core = self.core.borrow_mut();
        core.stats.record(id, failed, rejected, us);
    }
}
