//! State shared by every thread: configuration, the client registry, global counters, the
//! slow log, and the handles to reach each shard and the coordinator.
//!
//! Everything here is read far more often than written. Values the hot path reads are atomics
//! ([`Server::hot`]); the full [`Config`] sits behind a lock taken only by CONFIG and INFO.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use crate::config::{ClientClass, Config, MaxmemoryPolicy, ObufLimit};
use crate::coordinator::CoordinatorHandle;
use crate::shard::Mailbox;

/// Configuration values read on the hot path, copied out of atomics.
#[derive(Clone, Copy, Debug)]
pub struct HotConfig {
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub lfu_policy: bool,
    pub slowlog_log_slower_than: i64,
    pub timeout: u64,
    /// appendfsync always: fdatasync before replies.
    pub appendfsync_always: bool,
}

/// One connected client, as CLIENT LIST / CLIENT KILL / INFO see it. The connection's own task
/// updates the atomics; other threads only read them (and set `kill`).
pub struct ClientInfo {
    pub id: u64,
    pub fd: i32,
    pub addr: String,
    pub laddr: String,
    pub shard: usize,
    pub created_ms: i64,
    pub last_interaction_ms: AtomicI64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Command id + 1 (0 = none yet) of the last command, and subcommand index + 1.
    pub last_cmd: AtomicU32,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<Vec<u8>>,
    pub lib_ver: Mutex<Vec<u8>>,
    pub kill: AtomicBool,
    /// Parked by the coordinator in a blocking command.
    pub blocked: AtomicBool,
    /// The connection saw its peer close (a blocked client is then never served).
    pub closed: AtomicBool,
    /// A key this client WATCHes was written: its next EXEC aborts.
    pub cas_dirty: AtomicBool,
    /// Bytes received and not yet consumed (CLIENT LIST qbuf) and the query buffer's size.
    pub qbuf: AtomicUsize,
    pub qbuf_cap: AtomicUsize,
    /// Reply bytes waiting for the socket (omem), in how many buffers (oll), and the bytes the
    /// output buffers take, written or not.
    pub omem: AtomicUsize,
    pub oll: AtomicUsize,
    pub obuf_mem: AtomicUsize,
    /// The connection task's fixed state (its parser and routing structures).
    pub state_mem: AtomicUsize,
    /// Subscriptions: channels, patterns, shard channels (CLIENT LIST sub/psub/ssub), and the
    /// bytes the connection's own record of them takes.
    pub subs: [AtomicUsize; 3],
    pub subs_mem: AtomicUsize,
}

impl ClientInfo {
    pub fn new(id: u64, fd: i32, addr: String, laddr: String, shard: usize) -> ClientInfo {
        let now = shards::keyspace::wall_clock_ms();
        ClientInfo {
            id,
            fd,
            addr,
            laddr,
            shard,
            created_ms: now,
            last_interaction_ms: now.into(),
            db: 0.into(),
            resp: 2.into(),
            last_cmd: 0.into(),
            name: Default::default(),
            lib_name: Default::default(),
            lib_ver: Default::default(),
            kill: false.into(),
            blocked: false.into(),
            closed: false.into(),
            cas_dirty: false.into(),
            qbuf: 0.into(),
            qbuf_cap: 0.into(),
            omem: 0.into(),
            oll: 0.into(),
            obuf_mem: 0.into(),
            state_mem: 0.into(),
            subs: Default::default(),
            subs_mem: 0.into(),
        }
    }

    /// Subscribed to anything: Redis's CLIENT_PUBSUB flag.
    #[inline]
    pub fn is_pubsub(&self) -> bool {
        self.subs.iter().any(|n| n.load(Relaxed) > 0)
    }

    /// The bytes this client costs: its buffers and its own state (CLIENT LIST tot-mem, INFO
    /// mem_clients_normal).
    pub fn mem_usage(&self) -> usize {
        self.qbuf_cap.load(Relaxed)
            + self.obuf_mem.load(Relaxed)
            + std::mem::size_of::<ClientInfo>()
            + self.state_mem.load(Relaxed)
            + self.subs_mem.load(Relaxed)
    }

    /// A client with no connection (tests, internal callers).
    pub fn detached() -> ClientInfo {
        ClientInfo::new(0, -1, String::new(), String::new(), 0)
    }
}

pub struct SlowlogEntry {
    pub id: u64,
    pub time: i64,
    pub duration_us: u64,
    pub args: Vec<Vec<u8>>,
    pub peer: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    pub next_id: u64,
    pub entries: VecDeque<SlowlogEntry>,
}

pub struct Server {
    pub nshards: usize,
    pub databases: usize,
    pub config: RwLock<Config>,
    pub started: Instant,
    pub start_unix_ms: i64,
    pub run_id: String,
    pub io_driver: OnceLock<&'static str>,
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    pub next_client_id: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub slowlog: Mutex<SlowLog>,
    pub mailboxes: OnceLock<Vec<Arc<Mailbox>>>,
    pub coordinator: OnceLock<CoordinatorHandle>,
    pub shutdown: AtomicBool,
    /// The active expire cycle runs (DEBUG SET-ACTIVE-EXPIRE 0 stops it, for tests of lazy
    /// expiry, as in Redis).
    pub active_expire: AtomicBool,
    pub dirty: AtomicU64,
    /// used_memory once startup finished (INFO used_memory_startup).
    pub used_memory_startup: AtomicU64,
    /// SAVE/BGSAVE state: the snapshot slot, LASTSAVE, save points' counters.
    pub save: Arc<crate::snapshot::SaveState>,
    hot_proto_max_bulk_len: AtomicU64,
    hot_client_query_buffer_limit: AtomicU64,
    hot_lfu: AtomicBool,
    hot_slowlog_slower_than: AtomicI64,
    hot_timeout: AtomicU64,
    hot_fsync_always: AtomicBool,
    /// client-output-buffer-limit of the normal and pubsub classes: hard, soft, soft seconds.
    hot_obuf: [[AtomicU64; 3]; 2],
    /// Loading the dataset at startup (INFO loading).
    pub loading: AtomicBool,
    /// The AOF segments, for the everysec fsync thread and shutdown.
    pub aof_sync: crate::aof::SyncFiles,
    /// Shards whose last AOF write failed (INFO aof_last_write_status: err while any).
    pub aof_failing: AtomicUsize,
    /// The errno of the last AOF write failure (for the MISCONF text).
    pub aof_last_errno: std::sync::atomic::AtomicI32,
    /// The everysec fsync's last outcome.
    pub aof_last_fsync_ok: AtomicBool,
    /// The AOF's manifest, per-shard sizes, rewrite and loading state.
    pub aof: crate::aof::AofShared,
    /// Bumped on every CONFIG SET so shards can refresh what they cache.
    pub config_generation: AtomicU64,
    /// Bytes the process held before any data: each shard's eviction budget leaves its share
    /// of them out (see crate::evict).
    pub evict_baseline: AtomicU64,
    /// Shards over their maxmemory share with nothing left to evict (MULTI refuses to queue).
    pub evict_failing: AtomicUsize,
    pub requirepass: RwLock<Option<Vec<u8>>>,
    limits: RwLock<shards::types::Limits>,
    /// Per shard: the (db, key) pairs blocked clients wait on, kept by the coordinator.
    watched: Vec<WatchedKeys>,
    pub blocked_clients: AtomicUsize,
    /// The last id given to a unit of effects spanning shards (see crate::effects).
    effect_unit: AtomicU64,
    /// Per shard: WATCHed (db, key) -> the ids of the clients watching it.
    watchers: Vec<Watchers>,
    /// Pub/Sub subscriptions of every client.
    pub pubsub: crate::pubsub::Registry,
}

/// (db, key) -> ids of the clients watching it.
type WatcherMap = std::collections::HashMap<(usize, Vec<u8>), Vec<u64>>;

#[derive(Default)]
struct Watchers {
    count: AtomicUsize,
    map: Mutex<WatcherMap>,
}

/// One shard's watched keys; `count` lets a shard skip the lock when nothing is watched.
#[derive(Default)]
struct WatchedKeys {
    count: AtomicUsize,
    set: Mutex<std::collections::HashSet<(usize, Vec<u8>)>>,
}

impl Server {
    pub fn new(config: Config, nshards: usize) -> Server {
        let now_ms = shards::keyspace::wall_clock_ms();
        let s = Server {
            nshards,
            databases: config.databases,
            started: Instant::now(),
            start_unix_ms: now_ms,
            run_id: random_hex40(),
            io_driver: OnceLock::new(),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            connected_clients: AtomicUsize::new(0),
            total_connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            slowlog: Mutex::new(SlowLog::default()),
            mailboxes: OnceLock::new(),
            coordinator: OnceLock::new(),
            shutdown: AtomicBool::new(false),
            active_expire: AtomicBool::new(true),
            dirty: AtomicU64::new(0),
            used_memory_startup: AtomicU64::new(0),
            save: Arc::new(crate::snapshot::SaveState::new(nshards)),
            hot_proto_max_bulk_len: AtomicU64::new(0),
            hot_client_query_buffer_limit: AtomicU64::new(0),
            hot_lfu: AtomicBool::new(false),
            hot_slowlog_slower_than: AtomicI64::new(0),
            hot_timeout: AtomicU64::new(0),
            hot_fsync_always: AtomicBool::new(false),
            hot_obuf: Default::default(),
            loading: AtomicBool::new(false),
            aof_sync: Default::default(),
            aof_failing: AtomicUsize::new(0),
            aof_last_errno: std::sync::atomic::AtomicI32::new(0),
            aof_last_fsync_ok: AtomicBool::new(true),
            aof: crate::aof::AofShared::new(nshards),
            config_generation: AtomicU64::new(0),
            evict_baseline: AtomicU64::new(0),
            evict_failing: AtomicUsize::new(0),
            requirepass: RwLock::new(None),
            limits: RwLock::new(shards::types::Limits::default()),
            watched: (0..nshards).map(|_| WatchedKeys::default()).collect(),
            watchers: (0..nshards).map(|_| Watchers::default()).collect(),
            pubsub: Default::default(),
            blocked_clients: AtomicUsize::new(0),
            // Ids stay unique across restarts: they start from the clock in microseconds.
            effect_unit: AtomicU64::new(now_ms as u64 * 1000),
            config: RwLock::new(config),
        };
        s.refresh_hot();
        s
    }

    /// Re-reads the hot values after the config changed.
    pub fn refresh_hot(&self) {
        let c = self.config.read().unwrap_or_else(|p| p.into_inner());
        self.hot_proto_max_bulk_len.store(c.proto_max_bulk_len, Relaxed);
        self.hot_client_query_buffer_limit.store(c.client_query_buffer_limit, Relaxed);
        self.hot_lfu.store(matches!(c.maxmemory_policy, MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu), Relaxed);
        self.hot_slowlog_slower_than.store(c.slowlog_log_slower_than, Relaxed);
        self.hot_timeout.store(c.timeout, Relaxed);
        self.hot_fsync_always.store(c.appendfsync == crate::config::AppendFsync::Always, Relaxed);
        for (slot, class) in self.hot_obuf.iter().zip([ClientClass::Normal, ClientClass::Pubsub]) {
            let l = c.obuf_limit(class);
            for (a, v) in slot.iter().zip([l.hard, l.soft, l.soft_seconds]) {
                a.store(v, Relaxed);
            }
        }
        *self.requirepass.write().unwrap_or_else(|p| p.into_inner()) = c.requirepass.clone();
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = shards::types::Limits {
            list_max_listpack_size: c.list_max_listpack_size,
            hash_max_listpack_entries: c.hash_max_listpack_entries as usize,
            hash_max_listpack_value: c.hash_max_listpack_value as usize,
            set_max_intset_entries: c.set_max_intset_entries as usize,
            set_max_listpack_entries: c.set_max_listpack_entries as usize,
            set_max_listpack_value: c.set_max_listpack_value as usize,
            zset_max_listpack_entries: c.zset_max_listpack_entries as usize,
            zset_max_listpack_value: c.zset_max_listpack_value as usize,
        };
        self.config_generation.fetch_add(1, Relaxed);
    }

    #[inline]
    pub fn hot(&self) -> HotConfig {
        HotConfig {
            proto_max_bulk_len: self.hot_proto_max_bulk_len.load(Relaxed),
            client_query_buffer_limit: self.hot_client_query_buffer_limit.load(Relaxed),
            lfu_policy: self.hot_lfu.load(Relaxed),
            slowlog_log_slower_than: self.hot_slowlog_slower_than.load(Relaxed),
            timeout: self.hot_timeout.load(Relaxed),
            appendfsync_always: self.hot_fsync_always.load(Relaxed),
        }
    }

    /// The output buffer limits of a client class (normal or pubsub; replicas come with
    /// replication), as configured now.
    #[inline]
    pub fn obuf_limit(&self, class: ClientClass) -> ObufLimit {
        let slot = &self.hot_obuf[(class == ClientClass::Pubsub) as usize];
        ObufLimit { class, hard: slot[0].load(Relaxed), soft: slot[1].load(Relaxed), soft_seconds: slot[2].load(Relaxed) }
    }

    pub fn watch_key(&self, shard: usize, db: usize, key: &[u8]) {
        let w = &self.watched[shard];
        let mut set = w.set.lock().unwrap_or_else(|p| p.into_inner());
        set.insert((db, key.to_vec()));
        w.count.store(set.len(), Relaxed);
    }

    pub fn unwatch_key(&self, shard: usize, db: usize, key: &[u8]) {
        let w = &self.watched[shard];
        let mut set = w.set.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&(db, key.to_vec()));
        w.count.store(set.len(), Relaxed);
    }

    #[inline]
    pub fn any_watched(&self, shard: usize) -> bool {
        self.watched[shard].count.load(Relaxed) > 0 || self.watchers[shard].count.load(Relaxed) > 0
    }

    /// WATCH: `client` watches (db, key) on `shard`.
    pub fn add_watcher(&self, shard: usize, db: usize, key: &[u8], client: u64) {
        let w = &self.watchers[shard];
        let mut map = w.map.lock().unwrap_or_else(|p| p.into_inner());
        let v = map.entry((db, key.to_vec())).or_default();
        if !v.contains(&client) {
            v.push(client);
        }
        w.count.store(map.len(), Relaxed);
    }

    pub fn remove_watcher(&self, shard: usize, db: usize, key: &[u8], client: u64) {
        let w = &self.watchers[shard];
        let mut map = w.map.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (db, key.to_vec());
        if let Some(v) = map.get_mut(&slot) {
            v.retain(|&c| c != client);
            if v.is_empty() {
                map.remove(&slot);
            }
        }
        w.count.store(map.len(), Relaxed);
    }

    /// A write to (db, key) on `shard`: every client watching it will see its EXEC abort.
    pub fn touch_watched(&self, shard: usize, db: usize, key: &[u8]) {
        let w = &self.watchers[shard];
        if w.count.load(Relaxed) == 0 {
            return;
        }
        let ids: Vec<u64> = {
            let map = w.map.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&(db, key.to_vec())).cloned().unwrap_or_default()
        };
        if ids.is_empty() {
            return;
        }
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            if let Some(c) = clients.get(&id) {
                c.cas_dirty.store(true, Relaxed);
            }
        }
    }

    /// The (db, key) pairs clients WATCH on `shard`.
    pub fn watcher_keys(&self, shard: usize) -> Vec<(usize, Vec<u8>)> {
        let w = &self.watchers[shard];
        if w.count.load(Relaxed) == 0 {
            return Vec::new();
        }
        w.map.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    pub fn is_watched(&self, shard: usize, db: usize, key: &[u8]) -> bool {
        self.watched[shard].set.lock().unwrap_or_else(|p| p.into_inner()).contains(&(db, key.to_vec()))
    }

    /// The keys of `db` on `shard` that blocked clients wait on.
    pub fn watched_in(&self, shard: usize, db: usize) -> Vec<Vec<u8>> {
        let w = &self.watched[shard];
        if w.count.load(Relaxed) == 0 {
            return Vec::new();
        }
        w.set.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(d, _)| *d == db).map(|(_, k)| k.clone()).collect()
    }

    /// The collection encoding thresholds (list-max-listpack-size and friends).
    pub fn limits(&self) -> shards::types::Limits {
        *self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config_mut(&self) -> std::sync::RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether AOF writes currently fail (write commands are then refused with MISCONF).
    pub fn aof_write_failing(&self) -> bool {
        self.aof_failing.load(Relaxed) > 0
    }

    /// Redis's MISCONF text for a failing AOF write.
    pub fn aof_misconf(&self) -> String {
        let err = std::io::Error::from_raw_os_error(self.aof_last_errno.load(Relaxed)).to_string();
        let text = err.split(" (os error").next().unwrap_or(&err);
        format!("MISCONF Errors writing to the AOF file: {text}")
    }

    /// A new id for a unit of effects spanning shards.
    pub fn next_effect_unit(&self) -> u64 {
        self.effect_unit.fetch_add(1, Relaxed) + 1
    }

    pub fn dirty_add(&self, n: u64) {
        self.dirty.fetch_add(n, Relaxed);
    }

    pub fn mailbox(&self, shard: usize) -> &Arc<Mailbox> {
        &self.mailboxes.get().expect("mailboxes are set before shards start")[shard]
    }

    pub fn register_client(&self, info: Arc<ClientInfo>) {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).insert(info.id, info);
        self.connected_clients.fetch_add(1, Relaxed);
    }

    pub fn unregister_client(&self, id: u64) {
        if self.clients.lock().unwrap_or_else(|p| p.into_inner()).remove(&id).is_some() {
            self.connected_clients.fetch_sub(1, Relaxed);
        }
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn requirepass(&self) -> Option<Vec<u8>> {
        self.requirepass.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A random 40-hex-digit run id, as Redis's getRandomHexChars.
fn random_hex40() -> String {
    let mut bytes = [0u8; 20];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_ok();
    if !ok {
        let seed = shards::keyspace::wall_clock_ms() as u64 ^ (std::process::id() as u64) << 32;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) >> 13) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
