//! Pub/Sub: who listens to what, and getting a published message to every listener, whichever
//! shard thread serves it.
//!
//! Two halves:
//! - [`Registry`] (in [`Server::pubsub`]), shared by every thread: channel, pattern and shard
//!   channel -> the clients subscribed and the shard serving each. PUBLISH reads it (on any
//!   thread, the coordinator's included), counts the receivers as Redis does, and sends one
//!   [`Msg::Publish`] per shard that serves a receiver, through that shard's mailbox: the
//!   publisher never waits for a subscriber.
//! - [`Subscriber`], one per connection, owned by its shard thread: the connection's own
//!   subscriptions and the handle to its output. A shard keeps its subscribed connections in a
//!   thread-local table, where the mailbox task finds them to deliver.
//!
//! Invariants: a client is in the registry under a name exactly while that name is in its own
//! [`Subscriptions`] (both change together, on its thread); a message is delivered only if its
//! receiver is still subscribed when it arrives, so nothing follows an UNSUBSCRIBE's reply; and
//! a connection's subscriptions all go when it closes (QUIT, RESET, CLIENT KILL, disconnect).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};

use crate::connection::PushSink;
use crate::protocol::Reply;
use crate::server::{ClientInfo, Server};
use crate::shard::{Msg, Node};

/// The three namespaces: channels (SUBSCRIBE), patterns (PSUBSCRIBE), shard channels
/// (SSUBSCRIBE; without cluster mode they are channels of their own namespace).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    /// The words of the confirmations and messages, as Redis sends them.
    fn subscribe_word(self) -> &'static [u8] {
        [&b"subscribe"[..], b"psubscribe", b"ssubscribe"][self as usize]
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        [&b"unsubscribe"[..], b"punsubscribe", b"sunsubscribe"][self as usize]
    }
}

/// A subscribed client, as the registry knows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Member {
    client: u64,
    shard: usize,
}

/// One namespace: name -> its subscribers, in subscription order.
#[derive(Default)]
struct Namespace {
    map: RwLock<HashMap<Vec<u8>, Vec<Member>>>,
}

impl Namespace {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Vec<u8>, Vec<Member>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Vec<u8>, Vec<Member>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, name: &[u8], m: Member) {
        self.write().entry(name.to_vec()).or_default().push(m);
    }

    fn remove(&self, name: &[u8], client: u64) {
        let mut map = self.write();
        if let Some(v) = map.get_mut(name) {
            v.retain(|m| m.client != client);
            if v.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// Every subscription on the server.
#[derive(Default)]
pub struct Registry {
    spaces: [Namespace; 3],
}

/// A published message, shared by the shards that deliver it.
pub struct Publication {
    pub kind: Kind,
    pub channel: Vec<u8>,
    pub message: Vec<u8>,
}

/// One receiver on a shard: the client, and the pattern it matched (pattern subscriptions).
pub struct Delivery {
    client: u64,
    pattern: Option<Arc<[u8]>>,
}

impl Registry {
    /// Names with at least one subscriber (INFO pubsub_channels, pubsub_patterns,
    /// pubsubshard_channels; PUBSUB NUMPAT counts unique patterns this way too).
    pub fn len(&self, kind: Kind) -> usize {
        self.spaces[kind as usize].read().len()
    }

    /// Subscribers of `name` (PUBSUB NUMSUB / SHARDNUMSUB: pattern subscribers not counted).
    pub fn numsub(&self, kind: Kind, name: &[u8]) -> usize {
        self.spaces[kind as usize].read().get(name).map_or(0, Vec::len)
    }

    /// Names with subscribers, those matching `pattern` when given (PUBSUB CHANNELS /
    /// SHARDCHANNELS; Redis's stringmatchlen, with no special case for `*`).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let map = self.spaces[kind as usize].read();
        map.keys().filter(|n| pattern.is_none_or(|p| shards::glob::glob_match(p, n, false))).cloned().collect()
    }

    /// PUBLISH / SPUBLISH: queues the message for every receiver's shard and returns how many
    /// receivers there are, counted as Redis counts them: each channel subscriber once, and
    /// each client once per pattern it subscribed that matches (shard channels ignore patterns).
    pub fn publish(&self, server: &Server, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
        let mut per_shard: Vec<Vec<Delivery>> = Vec::new();
        let mut receivers = 0;
        let mut add = |m: &Member, pattern: Option<Arc<[u8]>>| {
            if per_shard.is_empty() {
                per_shard.resize_with(server.nshards, Vec::new);
            }
            if let Some(list) = per_shard.get_mut(m.shard) {
                list.push(Delivery { client: m.client, pattern });
                receivers += 1;
            }
        };
        if let Some(members) = self.spaces[kind as usize].read().get(channel) {
            members.iter().for_each(|m| add(m, None));
        }
        if kind == Kind::Channel {
            for (pattern, members) in self.spaces[Kind::Pattern as usize].read().iter() {
                if shards::glob::glob_match(pattern, channel, false) {
                    let p: Arc<[u8]> = pattern.as_slice().into();
                    members.iter().for_each(|m| add(m, Some(p.clone())));
                }
            }
        }
        if receivers == 0 {
            return 0;
        }
        let publication = Arc::new(Publication { kind, channel: channel.to_vec(), message: message.to_vec() });
        for (shard, list) in per_shard.into_iter().enumerate().filter(|(_, l)| !l.is_empty()) {
            server.mailbox(shard).send(Msg::Publish(publication.clone(), list));
        }
        receivers
    }
}

/// A connection's own subscriptions. Channels are sets, patterns a list in subscription order
/// (as Redis keeps them).
#[derive(Default)]
pub struct Subscriptions {
    channels: HashSet<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    shard_channels: HashSet<Vec<u8>>,
    /// The bytes of the names held, kept as they come and go.
    name_bytes: usize,
}

impl Subscriptions {
    fn has(&self, kind: Kind, name: &[u8]) -> bool {
        match kind {
            Kind::Channel => self.channels.contains(name),
            Kind::Pattern => self.patterns.iter().any(|p| p == name),
            Kind::Shard => self.shard_channels.contains(name),
        }
    }

    fn insert(&mut self, kind: Kind, name: &[u8]) -> bool {
        let added = match kind {
            Kind::Channel => self.channels.insert(name.to_vec()),
            Kind::Pattern if self.has(kind, name) => false,
            Kind::Pattern => {
                self.patterns.push(name.to_vec());
                true
            }
            Kind::Shard => self.shard_channels.insert(name.to_vec()),
        };
        if added {
            self.name_bytes += name.len();
        }
        added
    }

    fn remove(&mut self, kind: Kind, name: &[u8]) -> bool {
        let removed = match kind {
            Kind::Channel => self.channels.remove(name),
            Kind::Pattern => {
                let before = self.patterns.len();
                self.patterns.retain(|p| p != name);
                self.patterns.len() != before
            }
            Kind::Shard => self.shard_channels.remove(name),
        };
        if removed {
            self.name_bytes -= name.len();
        }
        removed
    }

    /// What these subscriptions cost the client (Redis's pubsubMemOverhead counts the
    /// tables; here each connection also holds its own copy of the names).
    fn mem(&self) -> usize {
        let slot = std::mem::size_of::<Vec<u8>>();
        // A hash set's slot is the element and one control byte.
        (self.channels.capacity() + self.shard_channels.capacity()) * (slot + 1) + self.patterns.capacity() * slot + self.name_bytes
    }

    fn all(&self, kind: Kind) -> Vec<Vec<u8>> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.clone(),
            Kind::Shard => self.shard_channels.iter().cloned().collect(),
        }
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel => self.channels.len(),
            Kind::Pattern => self.patterns.len(),
            Kind::Shard => self.shard_channels.len(),
        }
    }

    /// The count a confirmation carries: channels and patterns together (Redis's
    /// clientSubscriptionsCount), shard channels apart (clientShardSubscriptionsCount).
    fn reply_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard_channels.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

/// One connection's Pub/Sub side, shared by the connection task and (while it has
/// subscriptions) its shard's table of subscribers.
pub struct Subscriber {
    info: Arc<ClientInfo>,
    shard: usize,
    sink: PushSink,
    subs: RefCell<Subscriptions>,
    /// Subscribed to anything (read on every command: a plain cell, not the shared counts).
    active: Cell<bool>,
}

thread_local! {
    /// This shard's connections with at least one subscription, by client id.
    static LOCAL: RefCell<HashMap<u64, Rc<Subscriber>>> = RefCell::new(HashMap::new());
}

impl Subscriber {
    pub fn new(info: Arc<ClientInfo>, shard: usize, sink: PushSink) -> Rc<Subscriber> {
        Rc::new(Subscriber { info, shard, sink, subs: RefCell::default(), active: Cell::new(false) })
    }

    /// Whether the client has any subscription: Redis's CLIENT_PUBSUB flag (the RESP2
    /// subscribed context, the pubsub output buffer class, CLIENT LIST flags=P).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.get()
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one confirmation per name, duplicates included.
    pub fn subscribe(self: &Rc<Self>, server: &Server, kind: Kind, names: &[&[u8]], reply: &mut Reply) {
        for &name in names {
            let added = self.subs.borrow_mut().insert(kind, name);
            if added {
                server.pubsub.spaces[kind as usize].add(name, Member { client: self.info.id, shard: self.shard });
            }
            self.confirm(reply, kind.subscribe_word(), Some(name), kind);
        }
        self.counts_changed();
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: the names given, or all of this kind; with
    /// nothing to unsubscribe from, one confirmation with a null name (Redis replies always).
    pub fn unsubscribe(self: &Rc<Self>, server: &Server, kind: Kind, names: &[&[u8]], reply: &mut Reply) {
        let all;
        let names: Vec<&[u8]> = if names.is_empty() {
            all = self.subs.borrow().all(kind);
            all.iter().map(Vec::as_slice).collect()
        } else {
            names.to_vec()
        };
        for &name in &names {
            self.drop_one(server, kind, name);
            self.confirm(reply, kind.unsubscribe_word(), Some(name), kind);
        }
        if names.is_empty() {
            self.confirm(reply, kind.unsubscribe_word(), None, kind);
        }
        self.counts_changed();
    }

    /// Leaves every subscription without a word to the client (RESET, closing).
    pub fn forget_all(self: &Rc<Self>, server: &Server) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names = self.subs.borrow().all(kind);
            for name in names {
                self.drop_one(server, kind, &name);
            }
        }
        self.counts_changed();
    }

    fn drop_one(&self, server: &Server, kind: Kind, name: &[u8]) {
        if self.subs.borrow_mut().remove(kind, name) {
            server.pubsub.spaces[kind as usize].remove(name, self.info.id);
        }
    }

    fn confirm(&self, reply: &mut Reply, word: &[u8], name: Option<&[u8]>, kind: Kind) {
        reply.push_len(3);
        reply.bulk(word);
        match name {
            Some(n) => reply.bulk(n),
            None => reply.null(),
        }
        reply.int(self.subs.borrow().reply_count(kind) as i64);
    }

    /// Publishes the counts (CLIENT LIST sub/psub/ssub, the pubsub flag) and keeps the shard's
    /// table of subscribers in step.
    fn counts_changed(self: &Rc<Self>) {
        let subs = self.subs.borrow();
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            self.info.subs[kind as usize].store(subs.count(kind), Relaxed);
        }
        self.info.subs_mem.store(subs.mem(), Relaxed);
        let active = subs.total() > 0;
        self.active.set(active);
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if active {
                l.entry(self.info.id).or_insert_with(|| self.clone());
            } else {
                l.remove(&self.info.id);
            }
        });
    }
}

/// The mailbox's side: writes a publication to each receiver this shard serves that is still
/// subscribed to what it matched.
pub fn deliver(node: &Node, p: &Publication, list: Vec<Delivery>) {
    let mut out = Reply { buf: Vec::new(), resp3: false };
    for d in list {
        // A receiver gone since (closed, or unsubscribed: its confirmation has left) gets nothing.
        let Some(sub) = LOCAL.with(|l| l.borrow().get(&d.client).cloned()) else { continue };
        let still = match &d.pattern {
            Some(pat) => sub.subs.borrow().has(Kind::Pattern, pat),
            None => sub.subs.borrow().has(p.kind, &p.channel),
        };
        if !still {
            continue;
        }
        out.buf.clear();
        out.resp3 = sub.info.resp.load(Relaxed) == 3;
        match (&d.pattern, p.kind) {
            (Some(pat), _) => {
                out.push_len(4);
                out.bulk(b"pmessage");
                out.bulk(pat);
            }
            (None, Kind::Shard) => {
                out.push_len(3);
                out.bulk(b"smessage");
            }
            (None, _) => {
                out.push_len(3);
                out.bulk(b"message");
            }
        }
        out.bulk(&p.channel);
        out.bulk(&p.message);
        sub.sink.push(node, &out.buf);
    }
}

/// The shard's cron: holds this shard's subscribers to their output buffer limits.
pub fn cron(node: &Node) {
    let subscribers: Vec<Rc<Subscriber>> = LOCAL.with(|l| l.borrow().values().cloned().collect());
    for sub in subscribers {
        sub.sink.check_limits(node);
    }
}

/// Whether a command's replies are Pub/Sub pushes: they are sent even under CLIENT REPLY
/// OFF/SKIP (Redis's CLIENT_PUSHING).
pub fn replies_are_pushes(name: &str) -> bool {
    matches!(name, "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe")
}

/// The commands a RESP2 client with subscriptions may run (Redis's processCommand rule).
pub fn allowed_in_subscribed_context(name: &str) -> bool {
    replies_are_pushes(name) || matches!(name, "ping" | "quit" | "reset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_count_as_redis_replies_do() {
        let mut s = Subscriptions::default();
        assert!(s.insert(Kind::Channel, b"a"));
        assert!(!s.insert(Kind::Channel, b"a"));
        assert!(s.insert(Kind::Pattern, b"a*"));
        assert!(!s.insert(Kind::Pattern, b"a*"));
        assert!(s.insert(Kind::Shard, b"a"));
        assert_eq!(s.reply_count(Kind::Channel), 2);
        assert_eq!(s.reply_count(Kind::Pattern), 2);
        assert_eq!(s.reply_count(Kind::Shard), 1);
        assert_eq!(s.total(), 3);
        assert_eq!(s.name_bytes, 4);
        assert!(s.remove(Kind::Pattern, b"a*"));
        assert!(!s.remove(Kind::Pattern, b"a*"));
        assert_eq!(s.reply_count(Kind::Channel), 1);
        assert_eq!(s.name_bytes, 2);
    }

    #[test]
    fn namespace_drops_empty_names() {
        let ns = Namespace::default();
        ns.add(b"c", Member { client: 1, shard: 0 });
        ns.add(b"c", Member { client: 2, shard: 1 });
        ns.remove(b"c", 1);
        assert_eq!(ns.read().get(&b"c"[..]).map(Vec::len), Some(1));
        ns.remove(b"c", 2);
        assert!(ns.read().is_empty());
    }
}
