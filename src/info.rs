//! INFO: Redis 7.0's sections and field names, every figure measured (a feature that does not
//! exist yet reports its true zero, never an invented number).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use crate::command::connection::REDIS_VERSION;
use crate::dispatch::Exec;
use crate::stats::CommandStat;

const DEFAULT: &[&str] = &["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules", "errorstats", "cluster", "keyspace"];
const ALL_EXTRA: &[&str] = &["commandstats", "latencystats"];

/// Figures summed over the shards this INFO can see.
#[derive(Default)]
struct Totals {
    commands: Vec<CommandStat>,
    errors: std::collections::BTreeMap<String, u64>,
    total_commands: u64,
    total_errors: u64,
    net_in: u64,
    net_out: u64,
    hits: u64,
    misses: u64,
    expired: u64,
    expired_stale_perc: f64,
    expired_cap: u64,
    evicted: u64,
    keyspace: Vec<(u64, u64, i64, u64)>,
    ops: u64,
    in_bps: u64,
    out_bps: u64,
    dirty: u64,
    reads: u64,
    writes: u64,
    expire_cpu_us: u64,
    aof_current: u64,
    aof_base: u64,
    aof_pending: u64,
}

fn gather(x: &mut Exec<'_>) -> Totals {
    let mut t = Totals { keyspace: vec![(0, 0, 0, 0); x.server.databases], ..Default::default() };
    let mut shards_seen = 0.0;
    let server = x.server;
    x.for_each_core(|c| {
        shards_seen += 1.0;
        if t.commands.len() < c.stats.commands.len() {
            t.commands.resize(c.stats.commands.len(), CommandStat::default());
        }
        for (acc, s) in t.commands.iter_mut().zip(&c.stats.commands) {
            acc.calls += s.calls;
            acc.usec += s.usec;
            acc.rejected_calls += s.rejected_calls;
            acc.failed_calls += s.failed_calls;
        }
        for (k, v) in &c.stats.errors {
            *t.errors.entry(k.clone()).or_insert(0) += v;
        }
        t.total_commands += c.stats.total_commands_processed;
        t.total_errors += c.stats.total_error_replies;
        t.net_in += c.stats.net_input_bytes;
        t.ops += c.stats.instantaneous_ops();
        let (i, o) = c.stats.instantaneous_io();
        t.in_bps += i;
        t.out_bps += o;
        t.dirty += c.stats.dirty;
        t.reads += c.stats.reads_processed;
        t.writes += c.stats.writes_processed;
        t.expire_cpu_us += c.engine.stats.expire_cycle_cpu_us;
        if let Some(seg) = &c.aof {
            let sf = &server.aof.shards[c.engine.id];
            t.aof_current += sf.older_bytes.load(Relaxed) + seg.size;
            t.aof_base += sf.base_size.load(Relaxed);
            t.aof_pending += seg.pending_len() as u64;
        }
        t.net_out += c.stats.net_output_bytes;
        let ks = &c.engine.stats;
        t.hits += ks.keyspace_hits;
        t.misses += ks.keyspace_misses;
        t.expired += ks.expired_keys;
        t.expired_stale_perc += ks.expired_stale_perc;
        t.expired_cap += ks.expired_time_cap_reached_count;
        t.evicted += ks.evicted_keys;
        for (i, db) in c.engine.dbs.iter().enumerate() {
            let e = &mut t.keyspace[i];
            e.0 += db.len() as u64;
            e.1 += db.expires() as u64;
            if db.avg_ttl > 0 {
                e.2 += db.avg_ttl;
                e.3 += 1;
            }
        }
    });
    if shards_seen > 0.0 {
        t.expired_stale_perc /= shards_seen;
    }
    t
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b < 1024.0 * 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.2}T", b / (1024.0 * 1024.0 * 1024.0 * 1024.0))
    }
}

fn rusage(who: i32) -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut ru) != 0 {
            return (0.0, 0.0);
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (tv(ru.ru_stime), tv(ru.ru_utime))
    }
}

/// Per database with keys: (db, keys, main table overhead, expires table overhead).
type DbOverhead = Vec<(usize, u64, u64, u64)>;

/// Redis's redisMemOverhead: where the allocated bytes go (INFO memory, MEMORY STATS, MEMORY
/// DOCTOR). Overhead is what is not the dataset: the memory at startup, client buffers, the AOF
/// buffer and the key tables; the dataset is the rest of `used_memory`.
pub struct MemOverhead {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub rss: u64,
    /// What mimalloc holds committed from the OS (allocator_active).
    pub committed: u64,
    pub repl_backlog: u64,
    pub clients_slaves: u64,
    /// Query and output buffers and per-client state of every normal client.
    pub clients_normal: u64,
    pub clients: u64,
    /// AOF records produced and not yet written to the segment files.
    pub aof_buffer: u64,
    pub dbs: DbOverhead,
}

impl MemOverhead {
    /// Gathers the figures from the shards `x` holds (all of them: INFO and MEMORY run on every
    /// shard).
    pub fn of(x: &mut Exec<'_>) -> MemOverhead {
        let mut per_db: Vec<(u64, u64, u64)> = vec![(0, 0, 0); x.server.databases];
        let mut aof = 0u64;
        x.for_each_core(|c| {
            for (i, db) in c.engine.dbs.iter().enumerate() {
                let e = &mut per_db[i];
                e.0 += db.len() as u64;
                e.1 += db.main.overhead_bytes() as u64;
                e.2 += db.volatile.heap_bytes() as u64;
            }
            if let Some(seg) = &c.aof {
                aof += seg.pending_len() as u64;
            }
        });
        // Every client, subscribers included: Redis's mem_clients_normal covers the normal and
        // pubsub classes.
        let (clients, clients_normal) = {
            let clients = x.server.clients.lock().unwrap_or_else(|p| p.into_inner());
            (clients.len() as u64, clients.values().map(|c| c.mem_usage() as u64).sum())
        };
        MemOverhead {
            used: crate::alloc::used_memory(),
            peak: crate::alloc::peak_memory(),
            startup: x.server.used_memory_startup.load(Relaxed),
            rss: crate::alloc::rss_bytes(),
            committed: crate::alloc::allocator_committed(),
            repl_backlog: 0,
            clients_slaves: 0,
            clients_normal,
            clients,
            aof_buffer: aof,
            dbs: per_db.into_iter().enumerate().filter(|(_, e)| e.0 > 0).map(|(i, (k, m, v))| (i, k, m, v)).collect(),
        }
    }

    /// allocator_resident: mimalloc's committed memory still counts pages it has reset after
    /// frees (no longer resident), so it is capped by the process's RSS.
    pub fn resident(&self) -> u64 {
        self.committed.min(self.rss)
    }

    pub fn keys(&self) -> u64 {
        self.dbs.iter().map(|d| d.1).sum()
    }

    pub fn overhead_total(&self) -> u64 {
        self.startup + self.repl_backlog + self.clients_slaves + self.clients_normal + self.aof_buffer + self.dbs.iter().map(|d| d.2 + d.3).sum::<u64>()
    }

    /// Memory not counted by the eviction accountant (invariant I1): every buffer.
    pub fn not_counted_for_evict(&self) -> u64 {
        self.repl_backlog + self.clients_slaves + self.clients_normal + self.aof_buffer
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead_total())
    }

    /// Redis's net usage: allocated beyond what startup needed (at least 1).
    fn net(&self) -> u64 {
        if self.used > self.startup {
            self.used - self.startup
        } else {
            1
        }
    }

    pub fn dataset_perc(&self) -> f32 {
        self.dataset() as f32 * 100.0 / self.net() as f32
    }

    pub fn peak_perc(&self) -> f32 {
        self.used as f32 * 100.0 / self.peak.max(1) as f32
    }

    pub fn bytes_per_key(&self) -> u64 {
        self.net().checked_div(self.keys()).unwrap_or(0)
    }
}

/// `a / b` as Redis prints its memory ratios (a float; 0 when nothing to divide by).
pub fn ratio(a: u64, b: u64) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

/// Builds the INFO text for the requested sections (Redis's rules: none = default, "all",
/// "everything", or a list of names).
pub fn render(x: &mut Exec<'_>, requested: &[Vec<u8>]) -> String {
    let mut want: Vec<&str> = Vec::new();
    if requested.is_empty() || requested.iter().any(|s| s == b"default") {
        want.extend(DEFAULT);
    }
    if requested.iter().any(|s| s == b"all" || s == b"everything") {
        want.extend(DEFAULT);
        want.extend(ALL_EXTRA);
    }
    for s in requested {
        if let Ok(name) = std::str::from_utf8(s) {
            if !matches!(name, "default" | "all" | "everything") && !want.contains(&name) {
                want.push(match name {
                    "server" => "server",
                    "clients" => "clients",
                    "memory" => "memory",
                    "persistence" => "persistence",
                    "stats" => "stats",
                    "replication" => "replication",
                    "cpu" => "cpu",
                    "modules" => "modules",
                    "errorstats" => "errorstats",
                    "cluster" => "cluster",
                    "keyspace" => "keyspace",
                    "commandstats" => "commandstats",
                    "latencystats" => "latencystats",
                    _ => continue,
                });
            }
        }
    }
    let t = gather(x);
    let server = x.server;
    let cfg = server.config().clone();
    let mut out = String::new();
    let mut first = true;
    let mut section = |out: &mut String, name: &str| {
        if !first {
            out.push_str("\r\n");
        }
        first = false;
        let _ = write!(out, "# {}\r\n", name);
    };
    let now = shards::keyspace::wall_clock_ms();
    for name in want.clone() {
        match name {
            "server" => {
                section(&mut out, "Server");
                let uptime = server.uptime_secs();
                let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
                let cfgfile = cfg.config_file().map(|p| p.display().to_string()).unwrap_or_default();
                let _ = write!(
                    out,
                    "redis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:{}\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshardis_version:{}\r\nshards:{}\r\nio_driver:{}\r\n",
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    server.io_driver.get().copied().unwrap_or("unknown"),
                    std::process::id(),
                    server.run_id,
                    cfg.port,
                    now * 1000,
                    uptime,
                    uptime / 86400,
                    cfg.hz,
                    cfg.hz,
                    (now / 1000) & ((1 << 24) - 1),
                    exe,
                    cfgfile,
                    env!("CARGO_PKG_VERSION"),
                    server.nshards,
                    server.io_driver.get().copied().unwrap_or("unknown"),
                );
            }
            "clients" => {
                section(&mut out, "Clients");
                let clients = server.clients.lock().unwrap_or_else(|p| p.into_inner());
                let max_in = clients.values().map(|c| c.qbuf.load(Relaxed)).max().unwrap_or(0);
                let max_out = clients.values().map(|c| c.omem.load(Relaxed)).max().unwrap_or(0);
                let _ = write!(
                    out,
                    "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                    clients.len(),
                    cfg.maxclients,
                    max_in,
                    max_out,
                    server.blocked_clients.load(Relaxed)
                );
            }
            "memory" => {
                section(&mut out, "Memory");
                let m = MemOverhead::of(x);
                let total = crate::alloc::total_system_memory();
                let policy = cfg.get(&[b"maxmemory-policy".as_slice()]).into_iter().next().map(|(_, v)| v).unwrap_or_default();
                let _ = write!(
                    out,
                    "used_memory:{}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{}\r\nallocator_active:{}\r\nallocator_resident:{}\r\ntotal_system_memory:{total}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:0\r\nused_memory_vm_eval:0\r\nused_memory_lua_human:0B\r\nused_memory_scripts_eval:0\r\nnumber_of_cached_scripts:0\r\nnumber_of_functions:0\r\nnumber_of_libraries:0\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:0\r\nused_memory_vm_total_human:0B\r\nused_memory_functions:0\r\nused_memory_scripts:0\r\nused_memory_scripts_human:0B\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nallocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\nallocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:{}\r\nmem_replication_backlog:{}\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:{}\r\nmem_clients_normal:{}\r\nmem_cluster_links:0\r\nmem_aof_buffer:{}\r\nmem_allocator:mimalloc\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
                    m.used,
                    human(m.used),
                    m.rss,
                    human(m.rss),
                    m.peak,
                    human(m.peak),
                    m.peak_perc(),
                    m.overhead_total(),
                    m.startup,
                    m.dataset(),
                    m.dataset_perc(),
                    m.used,
                    m.committed,
                    m.resident(),
                    human(total),
                    cfg.maxmemory,
                    human(cfg.maxmemory),
                    ratio(m.committed, m.used),
                    m.committed as i64 - m.used as i64,
                    ratio(m.resident(), m.committed),
                    m.resident() as i64 - m.committed as i64,
                    ratio(m.rss, m.resident()),
                    m.rss as i64 - m.resident() as i64,
                    ratio(m.rss, m.used),
                    m.rss as i64 - m.used as i64,
                    m.not_counted_for_evict(),
                    m.repl_backlog,
                    m.clients_slaves,
                    m.clients_normal,
                    m.aof_buffer,
                );
            }
            "persistence" => {
                section(&mut out, "Persistence");
                let aof_on = server.config().appendonly;
                let rw = &server.aof.rewrite;
                let loading = server.loading.load(std::sync::atomic::Ordering::Acquire);
                let _ = write!(
                    out,
                    "loading:{}\r\nasync_loading:0\r\n{}aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
                    loading as u8,
                    crate::snapshot::info_fields(server, &mut |f| x.for_each_core(f)),
                    aof_on as u8,
                    rw.in_progress() as u8,
                    rw.scheduled.load(Relaxed) as u8,
                    rw.last_time_sec.load(Relaxed),
                    rw.current_time_sec(),
                    if rw.last_ok.load(Relaxed) { "ok" } else { "err" },
                    rw.rewrites.load(Relaxed),
                    rw.consecutive_failures.load(Relaxed),
                    if server.aof_write_failing() { "err" } else { "ok" },
                );
                if aof_on {
                    let _ = write!(
                        out,
                        "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:{}\r\n",
                        t.aof_current,
                        t.aof_base,
                        rw.scheduled.load(Relaxed) as u8,
                        t.aof_pending,
                        server.aof.delayed_fsync.load(Relaxed)
                    );
                }
                if loading {
                    // Redis's fields, from the loader's progress (bytes applied so far).
                    let p = &server.aof.load;
                    let (total, loaded) = (p.total_bytes.load(Relaxed), p.loaded_bytes.load(Relaxed));
                    let elapsed = (shards::keyspace::wall_clock_ms() - p.start_ms.load(Relaxed)).max(0) as f64 / 1000.0;
                    let perc = if total > 0 { loaded as f64 * 100.0 / total as f64 } else { 0.0 };
                    let eta = if loaded > 0 { (elapsed * total.saturating_sub(loaded) as f64 / loaded as f64) as i64 } else { 1 };
                    let _ = write!(
                        out,
                        "loading_start_time:{}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:{}\r\nloading_loaded_bytes:{loaded}\r\nloading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
                        p.start_unix.load(Relaxed),
                        p.rdb_used_mem.load(Relaxed),
                    );
                }
            }
            "stats" => {
                section(&mut out, "Stats");
                let ops = t.ops;
                let _ = write!(
                    out,
                    "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:0\r\ntracking_total_items:0\r\ntracking_total_prefixes:0\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
                    server.total_connections_received.load(Relaxed),
                    t.total_commands,
                    ops,
                    t.net_in,
                    t.net_out,
                    t.in_bps as f64 / 1024.0,
                    t.out_bps as f64 / 1024.0,
                    server.rejected_connections.load(Relaxed),
                    t.expired,
                    t.expired_stale_perc * 100.0,
                    t.expired_cap,
                    t.expire_cpu_us / 1000,
                    t.evicted,
                    t.hits,
                    t.misses,
                    server.pubsub.len(crate::pubsub::Kind::Channel),
                    server.pubsub.len(crate::pubsub::Kind::Pattern),
                    server.pubsub.len(crate::pubsub::Kind::Shard),
                    t.total_errors,
                    t.reads,
                    t.writes,
                );
            }
            "replication" => {
                section(&mut out, "Replication");
                let _ = write!(
                    out,
                    "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                    server.run_id, cfg.repl_backlog_size
                );
            }
            "cpu" => {
                section(&mut out, "CPU");
                let (sys, user) = rusage(libc::RUSAGE_SELF);
                let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
                let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
                let _ = write!(
                    out,
                    "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\nused_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{tsys:.6}\r\nused_cpu_user_main_thread:{tuser:.6}\r\n"
                );
            }
            "modules" => section(&mut out, "Modules"),
            "errorstats" => {
                section(&mut out, "Errorstats");
                for (k, v) in &t.errors {
                    let _ = write!(out, "errorstat_{k}:count={v}\r\n");
                }
            }
            "cluster" => {
                section(&mut out, "Cluster");
                out.push_str("cluster_enabled:0\r\n");
            }
            "keyspace" => {
                section(&mut out, "Keyspace");
                for (i, (keys, expires, ttl_sum, ttl_n)) in t.keyspace.iter().enumerate() {
                    if *keys > 0 {
                        let avg = if *ttl_n > 0 { ttl_sum / *ttl_n as i64 } else { 0 };
                        let _ = write!(out, "db{i}:keys={keys},expires={expires},avg_ttl={avg}\r\n");
                    }
                }
            }
            "commandstats" => {
                section(&mut out, "Commandstats");
                let table = crate::command::table();
                for (id, s) in t.commands.iter().enumerate() {
                    if s.calls == 0 && s.rejected_calls == 0 && s.failed_calls == 0 {
                        continue;
                    }
                    let per = if s.calls > 0 { s.usec as f64 / s.calls as f64 } else { 0.0 };
                    let _ = write!(
                        out,
                        "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                        table.names[id], s.calls, s.usec, per, s.rejected_calls, s.failed_calls
                    );
                }
            }
            "latencystats" => section(&mut out, "Latencystats"),
            _ => {}
        }
    }
    out
}
