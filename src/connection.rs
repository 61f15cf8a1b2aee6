//! One client connection: read, parse every complete request, run or route each one, coalesce
//! the replies into one send per turn.
//!
//! Routing per command: connection commands run here; keyspace commands run here when this
//! shard owns their keys, are forwarded (batched per destination shard) when another shard
//! does, and go through the coordinator when they span shards or need all of them. A pipeline's
//! replies keep request order: forwarded replies are spliced back in at their positions.
//! Commands that go through the coordinator are barriers: everything before them has finished
//! first, everything after them starts after.
//!
//! Replies leave through the connection's writer task ([`Outbox`]): one send in flight, each
//! turn's replies handed over whole, while the connection goes on reading. So a client that does
//! not read its replies is seen: its pending bytes are held to `client-output-buffer-limit` as
//! Redis holds them (hard limit: closed at once; soft limit: closed once over it for longer than
//! its seconds). With no limit set for its class, the connection stops reading while more than
//! [`OUTPUT_FLUSH`] bytes wait, so a client that never reads never grows the server either.
//!
//! Pub/Sub messages reach the outbox from the shard's mailbox task, through the connection's
//! [`PushSink`], while the connection waits for requests: behind the replies it still holds,
//! and held to the pubsub class's limits as they arrive (see [`crate::pubsub`]).

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Poll, Waker};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;

use crate::command::{self, flag, CommandId, Handler, Route};
use crate::config::ClientClass;
use crate::coordinator::{CoordMsg, CoordRequest};
use crate::dispatch::{ConnCtx, Exec, ShardSet};
use crate::protocol::errors as e;
use crate::protocol::parse::{Args, Parser};
use crate::protocol::Reply;
use crate::server::ClientInfo;
use crate::shard::{ForwardBatch, Msg, Node, ReplyBatch};
use crate::stats::{cycles, cycles_to_us};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// CLIENT REPLY SKIP: the next command's reply is dropped.
    SkipNext,
    /// The command being run is the one whose reply is dropped.
    Skip,
}

/// A connection's own state, as connection commands see it.
pub struct ConnState {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub info: Arc<ClientInfo>,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    /// Between MULTI and EXEC: the queued commands.
    pub multi: Option<Multi>,
    /// Keys this connection WATCHes: (db, key).
    pub watching: Vec<(usize, Vec<u8>)>,
    /// The position in this shard's effect stream its replies wait for (see Node::persist).
    pub durable_needed: u64,
    /// Its Pub/Sub subscriptions and the way messages reach its output.
    pub pubsub: Rc<crate::pubsub::Subscriber>,
}

impl ConnState {
    /// UNWATCH: forgets every watched key and the "touched" mark.
    pub fn unwatch(&mut self, server: &crate::server::Server) {
        for (db, k) in self.watching.drain(..) {
            server.remove_watcher(shards::route::shard_of(&k, server.nshards), db, &k, self.id);
        }
        self.info.cas_dirty.store(false, Relaxed);
    }
}

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    /// The queued commands, RESP multibulk encoded back to back.
    pub queued: Vec<u8>,
    pub count: usize,
    /// A queued command was refused (unknown, wrong arity): EXEC will abort.
    pub failed: bool,
    /// The database the connection will be in after EXEC (SELECT inside the transaction).
    pub final_db: Option<usize>,
}

/// What routing decided for one command.
enum Step {
    Done,
    /// Forwarded commands must finish before this one runs.
    Barrier,
    /// EXEC of a queued transaction: run it on the coordinator.
    Transaction,
    /// Run on that shard; the command's id rides along for the statistics.
    Forward(usize, CommandId),
    Coordinator,
}

/// One forwarded command's place in the reply stream.
struct Placeholder {
    at: usize,
    shard: usize,
    cmd: CommandId,
    discard: bool,
}

/// Commands forwarded during one pass over the read buffer, batched per destination.
struct Pending {
    batches: Vec<Option<ForwardBatch>>,
    places: Vec<Placeholder>,
    /// How many commands may wait forwarded before they are flushed: the owning shards build
    /// a batch's replies whole, so a pipeline of large replies (GETs of big values) is
    /// forwarded a few at a time, and one of small replies in big batches.
    max_places: usize,
}

/// Forwarded commands waiting at most, before the first replies show how large they are.
const FORWARD_BATCH_START: usize = 16;
const FORWARD_BATCH_MAX: usize = 4096;

impl Pending {
    fn new(nshards: usize) -> Pending {
        Pending { batches: (0..nshards).map(|_| None).collect(), places: Vec::new(), max_places: FORWARD_BATCH_START }
    }

    fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    fn is_full(&self) -> bool {
        self.places.len() >= self.max_places
    }

    #[allow(clippy::too_many_arguments)]
    fn add(&mut self, shard: usize, db: usize, args: &Args<'_>, at: usize, cmd: CommandId, discard: bool, client: &Arc<ClientInfo>) {
        let b = self.batches[shard].get_or_insert_with(|| ForwardBatch { buf: Vec::with_capacity(256), dbs: Vec::new(), client: client.clone() });
        encode_multibulk(&mut b.buf, args);
        b.dbs.push(db as u16);
        self.places.push(Placeholder { at, shard, cmd, discard });
    }

    /// Sends every batch, waits for all replies, and splices them into `reply` in order.
    async fn flush(&mut self, node: &Node, resp3: bool, reply: &mut Reply) {
        if self.places.is_empty() {
            return;
        }
        let mut slots = Vec::new();
        for (shard, b) in self.batches.iter_mut().enumerate() {
            if let Some(batch) = b.take() {
                let (token, slot) = node.new_waiter();
                node.server.mailbox(shard).send(Msg::Exec { from: node.id, token, resp3, batch });
                slots.push((shard, slot));
            }
        }
        let mut results: Vec<Option<ReplyBatch>> = (0..self.batches.len()).map(|_| None).collect();
        for (shard, slot) in &slots {
            results[*shard] = Some(node.wait(slot).await);
        }
        // Size the next batches so their replies come to about OUTPUT_FLUSH bytes.
        let bytes: usize = results.iter().flatten().map(|r| r.buf.len()).sum();
        let per_reply = bytes / self.places.len().max(1);
        self.max_places = (OUTPUT_FLUSH / per_reply.max(1)).clamp(1, FORWARD_BATCH_MAX);
        let mut cursors = vec![(0usize, 0usize); self.batches.len()];
        let old = std::mem::take(&mut reply.buf);
        let mut out = Vec::with_capacity(old.len() + results.iter().flatten().map(|r| r.buf.len()).sum::<usize>());
        let mut last = 0;
        {
            let mut core = node.core.borrow_mut();
            for p in self.places.drain(..) {
                out.extend_from_slice(&old[last..p.at]);
                last = p.at;
                let Some(r) = results[p.shard].as_ref() else { continue };
                let (idx, start) = cursors[p.shard];
                let end = r.ends.get(idx).copied().unwrap_or(r.buf.len() as u32) as usize;
                let one = &r.buf[start..end];
                cursors[p.shard] = (idx + 1, end);
                let failed = one.first() == Some(&b'-');
                let rejected = failed && crate::evict::is_rejection(one);
                core.stats.record(p.cmd, if failed { Some(error_text(one)) } else { None }, rejected, 0);
                if !p.discard {
                    out.extend_from_slice(one);
                }
            }
        }
        out.extend_from_slice(&old[last..]);
        reply.buf = out;
        let ready: Vec<(usize, Vec<u8>)> = results.iter_mut().flatten().flat_map(|r| std::mem::take(&mut r.ready)).collect();
        notify_ready(node, ready).await;
    }
}

/// Reports keys blocked clients wait on and waits until the coordinator has served them, so
/// the writer's reply (and its next command) comes after the waiters were served, as in Redis.
async fn notify_ready(node: &Node, keys: Vec<(usize, Vec<u8>)>) {
    if keys.is_empty() {
        return;
    }
    let Some(coord) = node.server.coordinator.get() else { return };
    let (token, slot) = node.new_waiter();
    coord.send_msg(CoordMsg::KeysReady { from: node.id, token, keys });
    node.wait(&slot).await;
}

fn error_text(reply: &[u8]) -> &[u8] {
    let body = &reply[1..];
    let end = memchr::memchr(b'\r', body).unwrap_or(body.len());
    &body[..end]
}

pub fn encode_multibulk(buf: &mut Vec<u8>, args: &Args<'_>) {
    let mut ib = itoa::Buffer::new();
    buf.push(b'*');
    buf.extend_from_slice(ib.format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for a in args.iter() {
        buf.push(b'$');
        buf.extend_from_slice(ib.format(a.len()).as_bytes());
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

const READ_CHUNK: usize = 16 * 1024;
/// A query buffer grown past this for one large request is shrunk back to [`READ_CHUNK`] once
/// the request has been served.
const QBUF_KEEP: usize = 4 * READ_CHUNK;
/// Replies accumulated past this are handed to the writer before the rest of the pipeline is
/// parsed; with no output buffer limit set, the connection reads on only once fewer than this
/// many bytes wait for the socket.
const OUTPUT_FLUSH: usize = 1 << 20;
/// Sent buffers up to this size are kept for reuse.
const KEEP_BUFFER: usize = 1 << 20;

/// One connection's replies on their way to the socket, shared by the connection task (which
/// hands over whole turns of replies) and its writer task (which sends them, one send in flight).
struct Outbox {
    /// Handed over, not yet sent.
    queued: Vec<u8>,
    /// The send in flight: its bytes and its buffer's size.
    in_flight: usize,
    in_flight_cap: usize,
    /// The last buffer sent, cleared, for the next hand-over (no allocation in steady state).
    spare: Vec<u8>,
    /// The size of the connection's reply buffer (for the memory figures).
    reply_cap: usize,
    writer: Option<Waker>,
    /// The connection task waiting for the pending bytes to go down.
    drained: Option<Waker>,
    /// A send failed: the peer is gone.
    failed: bool,
    /// The connection is done: the writer sends what is queued and ends.
    closing: bool,
    /// The connection task holds replies not yet handed over: Pub/Sub messages arriving
    /// meanwhile wait in `pushes` and follow those replies (a SUBSCRIBE's confirmation always
    /// comes before the first message it lets through).
    held: bool,
    pushes: Vec<u8>,
    /// Unix seconds when the soft limit was first seen passed (Redis's
    /// obuf_soft_limit_reached_time).
    soft_since: Option<i64>,
    info: Arc<ClientInfo>,
}

type SharedOutbox = Rc<RefCell<Outbox>>;

impl Outbox {
    /// Reply bytes not yet sent (Redis's getClientOutputBufferMemoryUsage).
    fn pending(&self) -> usize {
        self.queued.len() + self.in_flight + self.pushes.len()
    }

    /// Redis's checkClientOutputBufferLimits: the hard limit closes at once, the soft limit
    /// once it has been passed continuously for more than its seconds.
    fn over_limit(&mut self, limit: crate::config::ObufLimit, authenticated: bool) -> bool {
        let used = self.pending() as u64;
        // Redis: a client that has not authenticated may not hold more than 1 KiB of replies.
        if used > 1024 && !authenticated {
            return true;
        }
        let hard = limit.hard > 0 && used >= limit.hard;
        let mut soft = limit.soft > 0 && used >= limit.soft;
        if soft {
            let now = shards::keyspace::wall_clock_ms() / 1000;
            match self.soft_since {
                None => {
                    self.soft_since = Some(now);
                    soft = false;
                }
                Some(since) => soft = now - since > limit.soft_seconds as i64,
            }
        } else {
            self.soft_since = None;
        }
        hard || soft
    }

    /// Hands the Pub/Sub messages that waited behind the connection's replies to the writer.
    fn release_pushes(&mut self) {
        self.held = false;
        if !self.pushes.is_empty() {
            let mut p = std::mem::take(&mut self.pushes);
            self.hand_over(&mut p);
            self.pushes = p;
        }
    }

    /// Moves `buf`'s bytes to the queue (leaving `buf` empty, with a recycled buffer's room).
    fn hand_over(&mut self, buf: &mut Vec<u8>) {
        if self.queued.is_empty() {
            std::mem::swap(&mut self.queued, buf);
            if buf.capacity() == 0 {
                std::mem::swap(buf, &mut self.spare);
            }
        } else {
            self.queued.extend_from_slice(buf);
            buf.clear();
        }
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// Publishes the output figures CLIENT LIST and INFO show.
    fn publish(&self) {
        let i = &self.info;
        i.omem.store(self.pending(), Relaxed);
        i.oll.store(usize::from(!self.queued.is_empty()) + usize::from(self.in_flight > 0) + usize::from(!self.pushes.is_empty()), Relaxed);
        i.obuf_mem.store(self.reply_cap + self.queued.capacity() + self.in_flight_cap + self.spare.capacity() + self.pushes.capacity(), Relaxed);
    }

    fn wake_drained(&mut self) {
        if let Some(w) = self.drained.take() {
            w.wake();
        }
    }
}

/// The writer task: sends what the connection hands over until it closes or a send fails.
async fn write_loop(mut sock: OwnedWriteHalf<TcpStream>, ob: SharedOutbox, node: Rc<Node>) {
    loop {
        let next = poll_fn(|cx| {
            let mut o = ob.borrow_mut();
            if o.failed {
                return Poll::Ready(None);
            }
            if !o.queued.is_empty() {
                let buf = std::mem::take(&mut o.queued);
                o.in_flight = buf.len();
                o.in_flight_cap = buf.capacity();
                return Poll::Ready(Some(buf));
            }
            if o.closing {
                return Poll::Ready(None);
            }
            o.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        let Some(buf) = next else { break };
        let sent = buf.len();
        let (res, mut buf) = sock.write_all(buf).await;
        let mut o = ob.borrow_mut();
        o.in_flight = 0;
        o.in_flight_cap = 0;
        if res.is_err() {
            o.failed = true;
        } else {
            let mut core = node.core.borrow_mut();
            core.stats.net_output_bytes += sent as u64;
            core.stats.writes_processed += 1;
            buf.clear();
            if buf.capacity() <= KEEP_BUFFER && buf.capacity() > o.spare.capacity() {
                o.spare = buf;
            }
        }
        o.publish();
        o.wake_drained();
        if o.failed {
            break;
        }
    }
}

/// Logs Redis's line for a client closed over its output buffer limits.
fn log_over_limit(node: &Node, info: &ClientInfo) {
    let line = crate::command::connection::client_line(info, shards::keyspace::wall_clock_ms(), None);
    tracing::warn!(shard = node.id, "Client {line} scheduled to be closed ASAP for overcoming of output buffer limits.");
}

/// Where Pub/Sub messages for one connection go: its outbox, written to by its shard's mailbox
/// task while the connection waits for requests.
pub struct PushSink {
    ob: SharedOutbox,
}

impl PushSink {
    /// Queues a message behind the connection's replies, and holds the client to the pubsub
    /// class's output buffer limits: over them, it is closed at once and what it had not read
    /// is dropped (a subscriber that never reads never grows the server past its limit).
    pub fn push(&self, node: &Node, bytes: &[u8]) {
        let mut o = self.ob.borrow_mut();
        if o.failed || o.closing {
            return;
        }
        if o.held {
            o.pushes.extend_from_slice(bytes);
        } else {
            o.queued.extend_from_slice(bytes);
            if let Some(w) = o.writer.take() {
                w.wake();
            }
        }
        Self::enforce(node, &mut o);
        o.publish();
    }

    /// The shard's cron: a subscriber past its soft limit for longer than its seconds is
    /// closed even when no more messages come (Redis's clientsCron does the same check).
    pub fn check_limits(&self, node: &Node) {
        let mut o = self.ob.borrow_mut();
        if !o.failed && !o.closing {
            Self::enforce(node, &mut o);
        }
    }

    fn enforce(node: &Node, o: &mut Outbox) {
        if o.over_limit(node.server.obuf_limit(ClientClass::Pubsub), true) {
            log_over_limit(node, &o.info);
            o.failed = true;
            o.queued = Vec::new();
            o.pushes = Vec::new();
            o.info.kill.store(true, Relaxed);
            // SAFETY: shutdown(2) on the connection's socket, still open: its connection task is
            // alive (it leaves the shard's table of subscribers before it ends), and wakes from
            // its read to close.
            unsafe {
                libc::shutdown(o.info.fd, libc::SHUT_RDWR);
            }
            if let Some(w) = o.writer.take() {
                w.wake();
            }
            o.wake_drained();
            o.publish();
        }
    }
}

/// The connection task's side of its output.
struct Output {
    ob: SharedOutbox,
}

impl Output {
    fn new(info: Arc<ClientInfo>) -> Output {
        let ob = Outbox {
            queued: Vec::new(),
            in_flight: 0,
            in_flight_cap: 0,
            spare: Vec::new(),
            reply_cap: 0,
            writer: None,
            drained: None,
            failed: false,
            closing: false,
            held: false,
            pushes: Vec::new(),
            soft_since: None,
            info,
        };
        Output { ob: Rc::new(RefCell::new(ob)) }
    }

    fn sink(&self) -> PushSink {
        PushSink { ob: self.ob.clone() }
    }

    /// Messages arriving from now on wait behind the replies the connection holds.
    fn hold_pushes(&self) {
        self.ob.borrow_mut().held = true;
    }

    /// Hands the replies gathered so far to the writer, once the records they acknowledge are in
    /// the AOF. Then holds the client to its output buffer limits: false if it must be closed
    /// now (over a limit, or its socket failed). With no limit set for its class, waits while
    /// more than [`OUTPUT_FLUSH`] bytes are pending.
    async fn deliver(&mut self, node: &Node, conn: &ConnState, reply: &mut Reply) -> bool {
        node.persist(conn.durable_needed).await;
        // A subscribed client is of the pubsub class (Redis's getClientType).
        let class = if conn.pubsub.active() { ClientClass::Pubsub } else { ClientClass::Normal };
        let limit = node.server.obuf_limit(class);
        {
            let mut o = self.ob.borrow_mut();
            if !reply.buf.is_empty() {
                o.hand_over(&mut reply.buf);
            }
            o.release_pushes();
            o.reply_cap = reply.buf.capacity();
            o.publish();
            if o.failed {
                return false;
            }
            if o.over_limit(limit, conn.authenticated) {
                log_over_limit(node, &conn.info);
                return false;
            }
        }
        if limit.hard == 0 && limit.soft == 0 {
            self.wait_pending(OUTPUT_FLUSH).await;
        }
        !self.ob.borrow().failed
    }

    /// Waits until at most `max` bytes are pending (or the socket failed).
    async fn wait_pending(&self, max: usize) {
        poll_fn(|cx| {
            let mut o = self.ob.borrow_mut();
            if o.failed || o.pending() <= max {
                Poll::Ready(())
            } else {
                o.drained = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Ends the writer: after it has sent everything pending (`drain`), or at once.
    async fn close(&self, drain: bool, fd: i32) {
        if drain {
            self.wait_pending(0).await;
        }
        let mut o = self.ob.borrow_mut();
        o.closing = true;
        if let Some(w) = o.writer.take() {
            w.wake();
        }
        if !drain || o.failed {
            // SAFETY: shutdown(2) on the connection's socket, still open (the writer holds it):
            // a send in flight to a client that does not read fails and the writer ends.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
        drop(o);
        self.ob.borrow().info.omem.store(0, Relaxed);
    }
}

/// The socket behind the read half, for readiness polls and non-blocking reads.
fn socket(half: &OwnedReadHalf<TcpStream>) -> &TcpStream {
    // SAFETY: monoio's halves share the stream through an UnsafeCell by design (its `Split`
    // contract: reads and writes are independent); readiness polls and recv(2) on the fd touch
    // nothing a concurrent send uses.
    unsafe { &*half.0.get() }
}

/// Below this many unparsed bytes a read holds one or two commands: not worth a look ahead.
const PREFETCH_MIN_BYTES: usize = 128;

/// Warms the cache for the keys of the next commands in `rbuf` from `pos` that this shard owns
/// (see [`shards::Shard::prefetch`]); returns where the commands looked at end, so the caller
/// asks again once it has parsed that far.
fn prefetch_pipeline(node: &Node, db: usize, rbuf: &[u8], pos: usize) -> usize {
    if rbuf.len() - pos < PREFETCH_MIN_BYTES {
        return rbuf.len();
    }
    let mut keys: [&[u8]; shards::Shard::PREFETCH_MAX] = [&[]; shards::Shard::PREFETCH_MAX];
    let (n, end) = crate::protocol::parse::peek_second_args(&rbuf[pos..], &mut keys);
    if n < 2 {
        return rbuf.len();
    }
    let nshards = node.server.nshards;
    let mut mine = 0;
    for i in 0..n {
        if nshards == 1 || shards::route::shard_of(keys[i], nshards) == node.id {
            keys[mine] = keys[i];
            mine += 1;
        }
    }
    node.core.borrow().engine.prefetch(db, &keys[..mine]);
    pos + end
}

/// Serves one connection until it closes.
pub async fn serve(node: Rc<Node>, stream: TcpStream, info: Arc<ClientInfo>) {
    let server = node.server.clone();
    let mut out = Output::new(info.clone());
    let mut conn = ConnState {
        id: info.id,
        db: 0,
        resp3: false,
        authenticated: server.requirepass().is_none(),
        info: info.clone(),
        reply_mode: ReplyMode::On,
        close_after_reply: false,
        multi: None,
        watching: Vec::new(),
        durable_needed: 0,
        pubsub: crate::pubsub::Subscriber::new(info.clone(), node.id, out.sink()),
    };
    let mut parser = Parser::new();
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut reply = Reply::new(false);
    let mut pending = Pending::new(server.nshards);
    info.state_mem.store(
        std::mem::size_of::<ConnState>()
            + std::mem::size_of::<Parser>()
            + std::mem::size_of::<Pending>()
            + std::mem::size_of::<Outbox>()
            + pending.batches.capacity() * std::mem::size_of::<Option<ForwardBatch>>(),
        Relaxed,
    );
    let (mut stream, writer) = stream.into_split();
    let fd = info.fd;
    monoio::spawn(write_loop(writer, out.ob.clone(), node.clone()));
    // How the connection ends: after sending what it owes (the peer closed, QUIT, a protocol
    // error), or at once (killed, over a buffer limit, socket failed).
    let mut drain = true;
    loop {
        // Make room to read big: a chunk, or the rest of a large bulk, but never more than the
        // bytes already buffered (the buffer at most doubles per read), so memory follows the
        // bytes that actually arrive, never the length a client claims.
        let spare = rbuf.capacity() - rbuf.len();
        let missing = parser.bulk_bytes_missing(rbuf.len()).unwrap_or(0);
        let target = missing.min(rbuf.len()).max(READ_CHUNK);
        if spare < target {
            rbuf.reserve(target);
        }
        let len = rbuf.len();
        let cap = rbuf.capacity();
        let (res, slice) = stream.read(rbuf.slice_mut(len..cap)).await;
        rbuf = slice.into_inner();
        let n = match res {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if info.kill.load(Relaxed) {
            drain = false;
            break;
        }
        // As in Redis, the query buffer holds the commands being run until the pass ends.
        info.qbuf.store(rbuf.len(), Relaxed);
        info.qbuf_cap.store(rbuf.capacity(), Relaxed);
        let now = shards::keyspace::wall_clock_ms();
        info.last_interaction_ms.store(now, Relaxed);
        {
            let mut core = node.core.borrow_mut();
            core.engine.set_now(now);
            core.stats.net_input_bytes += n as u64;
            core.stats.reads_processed += 1;
        }
        let limit = server.hot().client_query_buffer_limit as usize;
        let mut pos = 0;
        let mut fatal = false;
        let mut prefetched_to = 0;
        loop {
            if pos >= prefetched_to {
                prefetched_to = prefetch_pipeline(&node, conn.db, &rbuf, pos);
            }
            let hot = server.hot();
            let parsed = parser.parse(&rbuf[pos..], hot.proto_max_bulk_len, conn.authenticated);
            match parsed {
                Err(err) => {
                    pending.flush(&node, conn.resp3, &mut reply).await;
                    let text = err.message();
                    node.core.borrow_mut().stats.record_error(text.as_bytes());
                    reply.error(&text);
                    tracing::debug!(shard = node.id, client = conn.id, "protocol error: {text}");
                    fatal = true;
                    break;
                }
                Ok(None) => break,
                Ok(Some(used)) => {
                    let cmd_bytes = &rbuf[pos..pos + used];
                    pos += used;
                    let args = parser.args(cmd_bytes);
                    if args.is_empty() {
                        continue;
                    }
                    let mut step = route(&node, &mut conn, &args, &mut reply, &pending);
                    if let Step::Barrier = step {
                        pending.flush(&node, conn.resp3, &mut reply).await;
                        step = route(&node, &mut conn, &args, &mut reply, &pending);
                    }
                    match step {
                        Step::Done | Step::Barrier => {
                            let ready = std::mem::take(&mut node.core.borrow_mut().ready_keys);
                            if !ready.is_empty() {
                                pending.flush(&node, conn.resp3, &mut reply).await;
                                notify_ready(&node, ready).await;
                            }
                        }
                        Step::Forward(shard, id) => {
                            let discard = take_discard(&mut conn);
                            pending.add(shard, conn.db, &args, reply.len(), id, discard, &conn.info);
                            if pending.is_full() {
                                pending.flush(&node, conn.resp3, &mut reply).await;
                            }
                        }
                        Step::Transaction => {
                            pending.flush(&node, conn.resp3, &mut reply).await;
                            let start = reply.len();
                            if let Some(m) = conn.multi.take() {
                                run_transaction(&node, &mut conn, m, &mut reply).await;
                            }
                            if take_discard(&mut conn) {
                                reply.buf.truncate(start);
                            }
                        }
                        Step::Coordinator => {
                            pending.flush(&node, conn.resp3, &mut reply).await;
                            // Replies to the commands before a blocking one leave before it
                            // waits, as in Redis.
                            let blocking = command::resolve(&args).is_some_and(|(_, s)| s.has(flag::BLOCKING));
                            if blocking && !reply.buf.is_empty() && !out.deliver(&node, &conn, &mut reply).await {
                                fatal = true;
                                drain = false;
                                break;
                            }
                            let start = reply.len();
                            let mut arrived = Vec::new();
                            if !run_on_coordinator(&node, &conn, &args, &mut reply, socket(&stream), &mut arrived).await {
                                // The client left while blocked.
                                fatal = true;
                                drain = false;
                                break;
                            }
                            // What the client pipelined while it was blocked is parsed next.
                            rbuf.extend_from_slice(&arrived);
                            if take_discard(&mut conn) {
                                reply.buf.truncate(start);
                            }
                        }
                    }
                    if conn.pubsub.active() && !reply.buf.is_empty() {
                        out.hold_pushes();
                    }
                    if conn.close_after_reply {
                        break;
                    }
                    // A pipeline of large replies is sent as it goes rather than all at once.
                    if reply.buf.len() >= OUTPUT_FLUSH && pending.is_empty() && !out.deliver(&node, &conn, &mut reply).await {
                        fatal = true;
                        drain = false;
                        break;
                    }
                }
            }
        }
        pending.flush(&node, conn.resp3, &mut reply).await;
        if !drain {
            break;
        }
        // Keep only the unparsed tail (a partly received command); give back the room a
        // large request needed once it has been served (Redis shrinks an idle client's query
        // buffer within seconds; memory freed by UNLINK must not stay held here).
        if pos > 0 {
            rbuf.drain(..pos);
        }
        if rbuf.capacity() > QBUF_KEEP && rbuf.len() < READ_CHUNK && !parser.in_progress() {
            rbuf.shrink_to(READ_CHUNK);
        }
        parser.shrink();
        info.qbuf.store(rbuf.len(), Relaxed);
        info.qbuf_cap.store(rbuf.capacity(), Relaxed);
        if rbuf.len() > limit {
            tracing::warn!(shard = node.id, client = conn.id, "closing client that reached max query buffer length ({} bytes)", rbuf.len());
            drain = false;
            break;
        }
        // Every write whose reply is about to leave reaches the AOF first (a turn that wrote
        // nothing here waits for nothing).
        if !out.deliver(&node, &conn, &mut reply).await {
            drain = false;
            break;
        }
        if fatal || conn.close_after_reply {
            break;
        }
        if info.kill.load(Relaxed) {
            drain = false;
            break;
        }
    }
    conn.pubsub.forget_all(&server);
    out.close(drain, fd).await;
    conn.unwatch(&server);
    server.unregister_client(conn.id);
}

/// CLIENT REPLY bookkeeping: whether this command's reply is dropped.
fn take_discard(conn: &mut ConnState) -> bool {
    match conn.reply_mode {
        ReplyMode::On => false,
        ReplyMode::Off => true,
        ReplyMode::Skip => {
            conn.reply_mode = ReplyMode::On;
            true
        }
        ReplyMode::SkipNext => {
            conn.reply_mode = ReplyMode::Skip;
            false
        }
    }
}

/// Checks a command and runs it here, or says where it must run.
fn route(node: &Node, conn: &mut ConnState, args: &Args<'_>, reply: &mut Reply, pending: &Pending) -> Step {
    let server = &node.server;
    let Some((id, spec)) = command::resolve(args) else {
        let text = match command::table().lookup(&args[0]) {
            Some((_, parent)) if !parent.subcommands.is_empty() => {
                if args.len() < 2 {
                    e::wrong_arity(parent.name)
                } else {
                    e::unknown_subcommand(&args[1], parent.name)
                }
            }
            _ => e::unknown_command(&args[0], &args.slice_from(1)),
        };
        let start = reply.len();
        reply.error(&text);
        node.core.borrow_mut().stats.record_error(text.as_bytes());
        if let Some(m) = conn.multi.as_mut() {
            m.failed = true;
        }
        discard_since(conn, reply, start);
        return Step::Done;
    };
    let start = reply.len();
    if !spec.arity_ok(args.len()) {
        let text = e::wrong_arity(&command::display_name(args, spec));
        return reject(node, conn, reply, start, id, &text);
    }
    if !conn.authenticated && !spec.has(flag::NO_AUTH) {
        reply.error(e::NOAUTH);
        node.record(id, Some(e::NOAUTH.as_bytes()), true, 0);
        discard_since(conn, reply, start);
        return Step::Done;
    }
    if (spec.has(flag::WRITE) || spec.name == "ping") && server.save.refuses_writes(server) {
        // Redis refuses PING too, so a health check notices (writeCommandsDeniedByDiskError).
        return reject(node, conn, reply, start, id, e::MISCONF_RDB);
    }
    if spec.has(flag::WRITE) && server.aof_write_failing() {
        // Reads go on; writes wait for the AOF to be writable again.
        return reject(node, conn, reply, start, id, &server.aof_misconf());
    }
    if !conn.resp3 && conn.pubsub.active() {
        // Redis's processCommand: a RESP2 connection with subscriptions only (un)subscribes,
        // pings, quits or resets (RESP3 can tell pushes from replies, so it may run anything).
        let name = command::display_name(args, spec);
        if !crate::pubsub::allowed_in_subscribed_context(&name) {
            return reject(node, conn, reply, start, id, &e::subscribed_context(&name));
        }
    }
    if !spec.has(flag::LOADING) && server.loading.load(Relaxed) {
        // Redis's processCommand: only commands flagged "loading" run while the dataset loads.
        return reject(node, conn, reply, start, id, e::LOADING);
    }
    if conn.multi.is_some() && server.evict_failing.load(Relaxed) > 0 && !matches!(spec.name, "exec" | "discard" | "quit" | "reset") {
        // Over maxmemory, nothing is queued: a transaction could grow without bound (Redis's
        // processCommand rule for clients in MULTI).
        return reject(node, conn, reply, start, id, e::OOM);
    }
    if let Some(m) = conn.multi.as_mut() {
        match spec.name {
            "exec" if !m.failed => return Step::Transaction,
            "exec" | "discard" | "multi" | "quit" | "reset" | "watch" => {}
            _ => {
                if spec.name == "select" {
                    if let Some(db) = shards::value::parse_i64_strict(&args[1]).filter(|&d| d >= 0 && (d as usize) < server.databases) {
                        m.final_db = Some(db as usize);
                    }
                }
                encode_multibulk(&mut m.queued, args);
                m.count += 1;
                reply.simple("QUEUED");
                discard_since(conn, reply, start);
                return Step::Done;
            }
        }
    }
    if matches!(spec.handler, Handler::Conn(_)) && !pending.is_empty() {
        // Connection commands may change how later replies are encoded (HELLO) or whether
        // they are sent (CLIENT REPLY): earlier forwarded commands finish first.
        return Step::Barrier;
    }
    conn.info.last_cmd.store(id as u32 + 1, Relaxed);
    let nshards = server.nshards;
    if spec.has(flag::BLOCKING) {
        return Step::Coordinator;
    }
    let target = match spec.route {
        Route::Local => None,
        Route::AllShards => {
            if nshards == 1 {
                None
            } else {
                return Step::Coordinator;
            }
        }
        Route::ScanCursor => {
            if nshards == 1 {
                None
            } else {
                match crate::command::keys::parse_cursor(&args[1]) {
                    Ok(c) => Some(crate::command::keys::scan_cursor_shard(c, nshards)),
                    Err(_) => None,
                }
            }
        }
        Route::Keys | Route::KeysOrAll(_) => {
            if nshards == 1 {
                None
            } else if matches!(spec.route, Route::KeysOrAll(all) if all(args)) {
                return Step::Coordinator;
            } else {
                let mut owner: Option<usize> = None;
                for p in spec.key_positions(args) {
                    let s = shards::route::shard_of(&args[p], nshards);
                    match owner {
                        None => owner = Some(s),
                        Some(o) if o != s => return Step::Coordinator,
                        _ => {}
                    }
                }
                owner
            }
        }
    };
    if let Some(t) = target {
        if t != node.id {
            return Step::Forward(t, id);
        }
    }
    match spec.handler {
        Handler::Data(f) => {
            let mut core = node.core.borrow_mut();
            let t0 = cycles();
            let before = core.engine.effects.produced();
            let mut x = Exec::new(ShardSet::One(&mut core), conn.db, reply, server, spec, id);
            let res = crate::dispatch::run_data(&mut x, f, args);
            let us = cycles_to_us(cycles() - t0);
            // A reply that acknowledges records leaves after they are in the AOF (a read
            // waits for nobody's records).
            let after = core.engine.effects.produced();
            if after > before {
                conn.durable_needed = after;
            }
            match res {
                Ok(()) => {
                    core.stats.record(id, None, false, us);
                    core.note_written(server, conn.db, spec, args);
                }
                Err(err) => {
                    reply.error(err.text());
                    core.stats.record(id, Some(err.text().as_bytes()), crate::evict::is_rejection(err.text().as_bytes()), us);
                }
            }
            drop(core);
            crate::command::server::maybe_slowlog(server, spec, args, us, &conn.info);
        }
        Handler::Conn(f) => {
            let mut core = node.core.borrow_mut();
            let t0 = cycles();
            let mut cx = ConnCtx { conn, reply, server, core: &mut core };
            let res = f(&mut cx, args);
            let us = cycles_to_us(cycles() - t0);
            match res {
                Ok(()) => core.stats.record(id, None, false, us),
                Err(err) => {
                    reply.error(err.text());
                    core.stats.record(id, Some(err.text().as_bytes()), false, us);
                }
            }
            drop(core);
            crate::command::server::maybe_slowlog(server, spec, args, us, &conn.info);
            reply.resp3 = conn.resp3;
            if spec.has(flag::PUBSUB) && crate::pubsub::replies_are_pushes(spec.name) {
                // Pub/Sub confirmations are pushes: CLIENT REPLY OFF/SKIP does not drop them.
                take_discard(conn);
                return Step::Done;
            }
        }
    }
    discard_since(conn, reply, start);
    Step::Done
}

/// Refuses a command before it runs: the error, the rejected-call statistics, and a queued
/// transaction marked to abort at EXEC.
fn reject(node: &Node, conn: &mut ConnState, reply: &mut Reply, start: usize, id: CommandId, text: &str) -> Step {
    reply.error(text);
    node.record(id, Some(text.as_bytes()), true, 0);
    if let Some(m) = conn.multi.as_mut() {
        m.failed = true;
    }
    discard_since(conn, reply, start);
    Step::Done
}

fn discard_since(conn: &mut ConnState, reply: &mut Reply, start: usize) {
    if take_discard(conn) {
        reply.buf.truncate(start);
    }
}

/// EXEC: the queued commands run on the coordinator as one unit.
async fn run_transaction(node: &Node, conn: &mut ConnState, m: Multi, reply: &mut Reply) {
    let (token, slot) = node.new_waiter();
    let Some(coord) = node.server.coordinator.get() else {
        reply.error("ERR coordinator unavailable");
        return;
    };
    coord.send(CoordRequest { from: node.id, token, db: conn.db, resp3: conn.resp3, cmd: m.queued, client: conn.info.clone(), multi: Some(m.count) });
    let r = node.wait(&slot).await;
    conn.unwatch(&node.server);
    if let Some(db) = m.final_db {
        conn.db = db;
        conn.info.db.store(db, Relaxed);
    }
    reply.raw(&r.buf);
}

/// Sends a command to the coordinator and appends its reply. A blocking command may wait
/// long: meanwhile the socket is watched, and if the peer closes, the coordinator is told (so
/// nothing is ever popped for a client that is gone) and false is returned. Bytes the client
/// sends meanwhile are read into `arrived` (so its closing is still seen behind them), up to
/// the query buffer limit.
async fn run_on_coordinator(node: &Node, conn: &ConnState, args: &Args<'_>, reply: &mut Reply, stream: &TcpStream, arrived: &mut Vec<u8>) -> bool {
    let mut cmd = Vec::new();
    encode_multibulk(&mut cmd, args);
    let (token, slot) = node.new_waiter();
    let Some(coord) = node.server.coordinator.get() else {
        reply.error("ERR coordinator unavailable");
        return true;
    };
    coord.send(CoordRequest { from: node.id, token, db: conn.db, resp3: conn.resp3, cmd, client: conn.info.clone(), multi: None });
    let blocking = command::resolve(args).is_some_and(|(_, s)| s.has(flag::BLOCKING));
    let r = if blocking {
        let limit = node.server.hot().client_query_buffer_limit as usize;
        let mut watch = true;
        loop {
            if !watch {
                break node.wait(&slot).await;
            }
            monoio::select! {
                r = node.wait(&slot) => break r,
                _ = stream.readable(false) => {
                    if !read_available(stream, arrived) {
                        conn.info.closed.store(true, Relaxed);
                        coord.send_msg(CoordMsg::ClientGone(conn.id));
                        return false;
                    }
                    // Past the limit, stop reading; the serve loop closes the client.
                    watch = arrived.len() <= limit;
                }
            }
        }
    } else {
        node.wait(&slot).await
    };
    let failed = r.buf.first() == Some(&b'-');
    if let Some((id, _)) = command::resolve(args) {
        node.record(id, if failed { Some(error_text(&r.buf)) } else { None }, failed && crate::evict::is_rejection(&r.buf), 0);
    }
    reply.raw(&r.buf);
    true
}

/// Reads what the socket holds (up to 16 KiB) without waiting; false if the peer has closed
/// or the socket failed.
fn read_available(stream: &TcpStream, into: &mut Vec<u8>) -> bool {
    use std::os::fd::AsRawFd;
    let mut b = [0u8; 16 * 1024];
    // SAFETY: recv into a buffer we own, of its length.
    let n = unsafe { libc::recv(stream.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) };
    match n {
        0 => false,
        n if n > 0 => {
            into.extend_from_slice(&b[..n as usize]);
            true
        }
        _ => matches!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)),
    }
}
