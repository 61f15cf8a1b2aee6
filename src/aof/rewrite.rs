//! AOF rewrite, per shard and without fork, in Redis 7's multi-part style: BGREWRITEAOF,
//! auto-aof-rewrite-percentage / auto-aof-rewrite-min-size, and CONFIG SET appendonly at run
//! time (which starts appending with a rewrite that creates the base, as Redis does).
//!
//! A shard's rewrite, in order (each step durable before the next, so a kill -9 at any moment
//! loses nothing: replay reads the files the manifest names, in order):
//! 1. On the shard thread, between two commands (so a `MULTI <unit> <shards>` group never
//!    straddles the switch): the pending records go to the current increment, a new empty
//!    increment `<seq+1>` is created, the manifest is stored listing the old base, the old
//!    increments and the new one, and only then does the shard append to the new increment.
//! 2. In the same loop turn, the shard's dataset is written as the new base to a temporary file
//!    ([`write_base`]): RDB (aof-use-rdb-preamble yes, the default) or RESP commands. The same
//!    turn as the switch, so base + new increment are exactly the dataset. (This pass stops
//!    the shard while it runs; an incremental snapshot that is consistent as of its start can
//!    replace `write_base` without changing the rest.)
//! 3. On a finisher thread: the base is fsynced and renamed to `<seq+1>.base.*`, the directory
//!    fsynced; then the manifest {new base, new increment} is stored (temp file, fsync, rename,
//!    directory fsync); only then are the old files deleted. Files a crash leaves behind are
//!    removed at the next startup (see `load::remove_strays`).
//!
//! The manifest is one file for all shards: every change holds [`super::AofShared::manifest`].
//! Rewrites run as rounds: BGREWRITEAOF starts one over every shard, an automatic rewrite one
//! over the shard that grew; a new round starts only when the last one ended (INFO
//! aof_rewrite_in_progress while any shard of it is still rewriting).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use shards::effects::{encode_into, write_value};

use super::{aof_dir, FileKind, Manifest, ManifestFile, Segment};
use crate::server::Server;
use crate::shard::ShardCore;

/// The prefix of a base being written (removed at startup if a crash left it).
pub const TEMP_PREFIX: &str = "temp-rewrite-";

/// What BGREWRITEAOF did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Started,
    /// A background save runs: the rewrite starts when it ends.
    Scheduled,
    InProgress,
}

/// Rewrite rounds and their outcome (INFO aof_rewrite_*, aof_last_bgrewrite_status...).
pub struct RewriteState {
    /// Serialises starting and ending rounds.
    control: Mutex<()>,
    /// Shards of the current round still rewriting.
    pub running: AtomicUsize,
    pub scheduled: AtomicBool,
    /// When the current round started (ms).
    pub started_ms: AtomicI64,
    pub last_time_sec: AtomicI64,
    pub last_ok: AtomicBool,
    /// Rounds started.
    pub rewrites: AtomicU64,
    pub consecutive_failures: AtomicU64,
    round_failed: AtomicBool,
    /// Per shard: a rewrite of this round is still to start on that shard.
    requested: OnceLock<Vec<AtomicBool>>,
}

impl Default for RewriteState {
    fn default() -> RewriteState {
        RewriteState {
            control: Mutex::new(()),
            running: AtomicUsize::new(0),
            scheduled: AtomicBool::new(false),
            started_ms: AtomicI64::new(0),
            last_time_sec: AtomicI64::new(-1),
            last_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            round_failed: AtomicBool::new(false),
            requested: OnceLock::new(),
        }
    }
}

impl RewriteState {
    fn requested(&self, nshards: usize) -> &[AtomicBool] {
        self.requested.get_or_init(|| (0..nshards).map(|_| AtomicBool::new(false)).collect())
    }

    pub fn in_progress(&self) -> bool {
        self.running.load(Relaxed) > 0
    }

    /// Seconds the current round has run, -1 when none runs (aof_current_rewrite_time_sec).
    pub fn current_time_sec(&self) -> i64 {
        if self.in_progress() {
            (shards::keyspace::wall_clock_ms() - self.started_ms.load(Relaxed)) / 1000
        } else {
            -1
        }
    }

    /// Starts a round over `shards` unless one runs.
    fn begin_round(&self, nshards: usize, shards: &[usize]) -> bool {
        let _g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if self.running.load(Relaxed) > 0 || shards.is_empty() {
            return false;
        }
        self.running.store(shards.len(), Relaxed);
        self.started_ms.store(shards::keyspace::wall_clock_ms(), Relaxed);
        self.round_failed.store(false, Relaxed);
        self.rewrites.fetch_add(1, Relaxed);
        let req = self.requested(nshards);
        for &s in shards {
            req[s].store(true, Relaxed);
        }
        true
    }

    /// One shard of the round finished (or failed).
    fn shard_done(&self, ok: bool) {
        let _g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if !ok {
            self.round_failed.store(true, Relaxed);
        }
        if self.running.fetch_sub(1, Relaxed) == 1 {
            let secs = (shards::keyspace::wall_clock_ms() - self.started_ms.load(Relaxed)) / 1000;
            self.last_time_sec.store(secs, Relaxed);
            let ok = !self.round_failed.load(Relaxed);
            self.last_ok.store(ok, Relaxed);
            if ok {
                self.consecutive_failures.store(0, Relaxed);
                tracing::info!("Background AOF rewrite finished successfully");
            } else {
                self.consecutive_failures.fetch_add(1, Relaxed);
                tracing::warn!("Background AOF rewrite terminated with error");
            }
        }
    }
}

/// BGREWRITEAOF (Redis's bgrewriteaofCommand): a round over every shard, or scheduled while a
/// background save runs.
pub fn request(server: &Server) -> Start {
    let st = &server.aof.rewrite;
    if st.in_progress() {
        return Start::InProgress;
    }
    if server.save.bgsave_running() {
        st.scheduled.store(true, Relaxed);
        return Start::Scheduled;
    }
    let all: Vec<usize> = (0..server.nshards).collect();
    if st.begin_round(server.nshards, &all) {
        tracing::info!("Background append only file rewriting started");
        Start::Started
    } else {
        Start::InProgress
    }
}

/// The shard's part, from its cron: a requested or scheduled rewrite, the automatic one, and
/// appendonly switched by CONFIG SET.
pub fn cron(server: &Arc<Server>, core: &mut ShardCore) {
    if server.loading.load(Relaxed) {
        return;
    }
    let st = &server.aof.rewrite;
    let id = core.engine.id;
    let n = server.nshards;
    let (appendonly, perc, min_size) = {
        let c = server.config();
        (c.appendonly, c.auto_aof_rewrite_percentage, c.auto_aof_rewrite_min_size)
    };
    if !appendonly && core.aof.is_some() {
        stop_appending(server, core);
    }
    if appendonly && core.aof.is_none() && !st.in_progress() {
        // Redis's startAppendOnly: a rewrite creates the base, then the shard appends. One
        // round turns every shard on (after a running round ends).
        let all: Vec<usize> = (0..n).collect();
        st.begin_round(n, &all);
    }
    if st.scheduled.load(Relaxed) && !server.save.bgsave_running() && !st.in_progress() && st.scheduled.swap(false, Relaxed) {
        let all: Vec<usize> = (0..n).collect();
        if !st.begin_round(n, &all) {
            st.scheduled.store(true, Relaxed);
        }
    }
    if st.requested(n)[id].swap(false, Relaxed) {
        run(server, core, appendonly && core.aof.is_none());
        return;
    }
    // Redis's serverCron rule: rewrite when the AOF is bigger than min-size and grew by the
    // percentage over its size after the last rewrite.
    if let Some(seg) = &core.aof {
        if perc == 0 || st.in_progress() || server.save.bgsave_running() {
            return;
        }
        let sf = &server.aof.shards[id];
        let current = sf.older_bytes.load(Relaxed) + seg.size;
        let base = sf.base_size.load(Relaxed).max(1);
        let growth = (current * 100 / base) as i64 - 100;
        if current > min_size && growth >= perc as i64 && st.begin_round(n, &[id]) {
            tracing::info!(shard = id, "Starting automatic rewriting of AOF on {growth}% growth");
            st.requested(n)[id].store(false, Relaxed);
            run(server, core, false);
        }
    }
}

/// CONFIG SET appendonly no (Redis's stopAppendOnly): write and sync what is pending, close the
/// segment, stop recording effects.
fn stop_appending(server: &Server, core: &mut ShardCore) {
    core.persist(server);
    if let Some(seg) = core.aof.take() {
        if let Ok(f) = seg.sync_handle() {
            let _ = f.sync_data();
        }
        if seg.failing {
            server.aof_failing.fetch_sub(1, Relaxed);
        }
    }
    core.engine.effects.set_enabled(false);
    server.aof_sync.set_shard(core.engine.id, None);
    tracing::info!(shard = core.engine.id, "Append only file turned off");
}

fn run(server: &Arc<Server>, core: &mut ShardCore, enabling: bool) {
    if let Err(e) = start(server, core, enabling) {
        tracing::warn!(shard = core.engine.id, "Background AOF rewrite failed: {e}");
        server.aof.rewrite.shard_done(false);
    }
}

/// Test hook: `SHARDIS_TEST_REWRITE_PAUSE_MS` makes each stage of a rewrite log itself and wait
/// that long, so a test can kill the server in every stage. Unset, nothing happens.
fn stage(shard: usize, n: u8, what: &str) {
    static PAUSE: OnceLock<Option<u64>> = OnceLock::new();
    if let Some(ms) = *PAUSE.get_or_init(|| std::env::var("SHARDIS_TEST_REWRITE_PAUSE_MS").ok().and_then(|v| v.parse().ok())) {
        tracing::info!(shard, "AOF rewrite stage {n}: {what}");
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Steps 1 and 2 on the shard thread, then hands step 3 to a finisher thread.
fn start(server: &Arc<Server>, core: &mut ShardCore, enabling: bool) -> Result<(), String> {
    let cfg = server.config().clone();
    let id = core.engine.id;
    let dir = aof_dir(&cfg);
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create the append-only dir {}: {e}", dir.display()))?;
    let rdb = cfg.extra_bool("aof-use-rdb-preamble").unwrap_or(true);
    let appending = core.aof.is_some();
    if appending && !core.persist(server) {
        return Err("Can't write the pending records to the AOF".into());
    }
    // The shard's files now; nobody else changes them while this shard's rewrite runs.
    let now = server.aof.manifest_now(&cfg, server.nshards)?;
    let seq = now.next_seq(id);
    let old_files: Vec<String> = now.files_of(id).iter().map(|f| f.name.clone()).collect();
    let mut incr = None;
    if appending || enabling {
        // Step 1: the switch.
        let name = Manifest::file_name(&cfg.appendfilename, id, seq, FileKind::Incr);
        let path = dir.join(&name);
        File::create(&path).map_err(|e| format!("Can't create the AOF file {}: {e}", path.display()))?;
        let seg = Segment::open(&path, seq).map_err(|e| format!("Can't open the AOF file {}: {e}", path.display()))?;
        if !enabling {
            // Turning the AOF on, the old files hold nothing acknowledged since it was off:
            // the manifest changes only when the base is there.
            let entry = ManifestFile { name: name.clone(), seq, kind: 'i', shard: id };
            if let Err(e) = server.aof.update_manifest(&cfg, server.nshards, |m| m.files.push(entry)) {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        }
        server.aof_sync.set_shard(id, seg.sync_handle().ok());
        let sf = &server.aof.shards[id];
        match core.aof.replace(seg) {
            Some(old) => {
                sf.older_bytes.fetch_add(old.size, Relaxed);
                if old.failing {
                    server.aof_failing.fetch_sub(1, Relaxed);
                }
            }
            None => {
                sf.older_bytes.store(0, Relaxed);
                core.engine.effects.set_enabled(true);
                tracing::info!(shard = id, "Append only file turned on: writing its base");
            }
        }
        incr = Some(name);
        stage(id, 1, "switched to the new increment");
    }
    // Step 2: the base, in this same turn.
    let kind = if rdb { FileKind::BaseRdb } else { FileKind::BaseAof };
    let base_name = Manifest::file_name(&cfg.appendfilename, id, seq, kind);
    let temp = dir.join(format!("{TEMP_PREFIX}{base_name}"));
    let t0 = std::time::Instant::now();
    let written = File::create(&temp).and_then(|f| {
        let mut w = BufWriter::with_capacity(1 << 16, f);
        write_base(&core.engine, &mut w, rdb, cfg.rdbcompression, cfg.rdbchecksum)?;
        w.into_inner().map_err(|e| e.into_error())
    });
    let file = match written {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("Can't write the AOF base {}: {e}", temp.display()));
        }
    };
    tracing::info!(shard = id, "AOF base of {} keys written in {:.3} seconds", core.engine.key_count(), t0.elapsed().as_secs_f64());
    let job = Finish { server: server.clone(), shard: id, seq, file, temp, base: dir.join(&base_name), base_name, incr, old_files, dir };
    std::thread::Builder::new().name(format!("aof-rewrite-{id}")).spawn(move || job.run()).map_err(|e| format!("Can't start the rewrite thread: {e}"))?;
    Ok(())
}

/// Step 3, off the shard thread.
struct Finish {
    server: Arc<Server>,
    shard: usize,
    seq: u64,
    file: File,
    temp: PathBuf,
    base: PathBuf,
    base_name: String,
    /// The increment the shard appends to since the switch (None: the AOF is off).
    incr: Option<String>,
    /// The shard's files before the rewrite, deleted at the end.
    old_files: Vec<String>,
    dir: PathBuf,
}

impl Finish {
    fn run(self) {
        let ok = match self.finish() {
            Ok(()) => true,
            Err(e) => {
                let _ = std::fs::remove_file(&self.temp);
                tracing::warn!(shard = self.shard, "Background AOF rewrite failed: {e}");
                false
            }
        };
        self.server.aof.rewrite.shard_done(ok);
    }

    fn finish(&self) -> Result<(), String> {
        let id = self.shard;
        stage(id, 2, "base written, not yet durable");
        self.file.sync_all().map_err(|e| format!("fsync of {}: {e}", self.temp.display()))?;
        std::fs::rename(&self.temp, &self.base).map_err(|e| format!("rename {} to {}: {e}", self.temp.display(), self.base.display()))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| format!("fsync of {}: {e}", self.dir.display()))?;
        stage(id, 3, "base durable, manifest not yet switched");
        let cfg = self.server.config().clone();
        let mut files = vec![ManifestFile { name: self.base_name.clone(), seq: self.seq, kind: 'b', shard: id }];
        if let Some(incr) = &self.incr {
            files.push(ManifestFile { name: incr.clone(), seq: self.seq, kind: 'i', shard: id });
        }
        self.server.aof.update_manifest(&cfg, self.server.nshards, |m| {
            m.files.retain(|f| f.shard != id);
            m.files.extend(files);
        })?;
        let base_len = std::fs::metadata(&self.base).map(|m| m.len()).unwrap_or(0);
        let incr_len = self.incr.as_ref().and_then(|n| std::fs::metadata(self.dir.join(n)).ok()).map_or(0, |m| m.len());
        let sf = &self.server.aof.shards[id];
        sf.older_bytes.store(base_len, Relaxed);
        sf.base_size.store(base_len + incr_len, Relaxed);
        stage(id, 4, "manifest switched, old files not yet deleted");
        for name in &self.old_files {
            if let Err(e) = std::fs::remove_file(self.dir.join(name)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(shard = id, "Can't remove the old AOF file {name}: {e}");
                }
            }
        }
        tracing::info!(shard = id, "AOF rewrite done: base {} ({base_len} bytes)", self.base_name);
        Ok(())
    }
}

/// Writes a shard's whole dataset as an AOF base: an RDB file (with the aof-base AUX field) or,
/// without the preamble, RESP commands (SELECT, then per key the commands that create it and
/// its PEXPIREAT).
pub fn write_base(shard: &shards::Shard, w: &mut impl Write, rdb: bool, compression: bool, checksum: bool) -> std::io::Result<()> {
    if rdb {
        let aux = shards::rdb::AuxFields { used_mem: crate::alloc::used_memory(), aof_base: true, ..Default::default() };
        let mut out = shards::rdb::RdbWriter::new(w, shards::rdb::SaveOptions { compression, checksum }, &aux)?;
        for (db, d) in shard.dbs.iter().enumerate() {
            if d.is_empty() {
                continue;
            }
            out.begin_db(db, d.len(), d.expires())?;
            for (k, e) in d.main.iter() {
                out.write_key(k, e)?;
            }
        }
        out.finish()?;
        return Ok(());
    }
    let mut buf = Vec::with_capacity(1 << 16);
    for (db, d) in shard.dbs.iter().enumerate() {
        if d.is_empty() {
            continue;
        }
        let mut ib = itoa::Buffer::new();
        encode_into(&mut buf, 2, [&b"SELECT"[..], ib.format(db).as_bytes()].into_iter());
        for (k, e) in d.main.iter() {
            write_value(db, k, &e.value, &mut |_, argv| encode_into(&mut buf, argv.len(), argv.iter().copied()));
            if e.expire_at != 0 {
                encode_into(&mut buf, 3, [&b"PEXPIREAT"[..], k, ib.format(e.expire_at).as_bytes()].into_iter());
            }
            if buf.len() >= 1 << 16 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)?;
    w.flush()
}

/// The base path's kind, for tools: RDB when it starts with the RDB signature.
pub fn is_rdb_file(path: &Path) -> bool {
    let mut magic = [0u8; 5];
    File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && &magic == b"REDIS"
}

#[cfg(test)]
mod tests {
    use super::*;
    use shards::value::{StrValue, Value};

    fn sample() -> shards::Shard {
        let mut s = shards::Shard::new(0, 16);
        s.store(0, b"a", Value::Str(StrValue::from_bytes(b"1")), None, false);
        s.store(0, b"t", Value::Str(StrValue::from_bytes(b"2")), Some(4_000_000_000_000), false);
        s.store(5, b"b", Value::Str(StrValue::from_bytes(b"3")), None, false);
        s
    }

    fn digest(s: &shards::Shard) -> String {
        let mut d = shards::digest::DatasetDigest::default();
        d.add_shard(s);
        shards::digest::hex(&d.finish())
    }

    #[test]
    fn an_rdb_base_loads_back_to_the_same_dataset() {
        let s = sample();
        let mut out = Vec::new();
        write_base(&s, &mut out, true, true, true).unwrap();
        assert_eq!(&out[..9], b"REDIS0010");
        let mut back = shards::Shard::new(0, 16);
        let opts = shards::rdb::LoadOptions { databases: 16, limits: Default::default(), skip_expired_before: None };
        let stats = shards::rdb::load(&out[..], &opts, |db, k, v, exp| back.put_entry(db, &k, shards::keyspace::Entry::new(v, exp, 0))).unwrap();
        assert_eq!(stats.keys, 3);
        assert!(stats.aux.iter().any(|(k, v)| k == b"aof-base" && v == b"1"), "{:?}", stats.aux);
        assert_eq!(digest(&back), digest(&s));
    }

    #[test]
    fn a_resp_base_selects_each_database_and_keeps_ttls() {
        let mut out = Vec::new();
        write_base(&sample(), &mut out, false, true, true).unwrap();
        let mut cmds = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            let argv = shards::effects::decode(rest).expect("a RESP command");
            let mut enc = Vec::new();
            encode_into(&mut enc, argv.len(), argv.iter().map(|a| a.as_slice()));
            rest = &rest[enc.len()..];
            cmds.push(argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "));
        }
        assert_eq!((cmds[0].as_str(), &cmds[4..]), ("SELECT 0", &["SELECT 5".to_string(), "SET b 3".to_string()][..]));
        let pos = |c: &str| cmds.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c} missing from {cmds:?}"));
        assert!(pos("SET a 1") < 4);
        assert!(pos("SET t 2") < pos("PEXPIREAT t 4000000000000") && pos("PEXPIREAT t 4000000000000") < 4, "{cmds:?}");
    }

    #[test]
    fn bgrewriteaof_starts_once_and_is_scheduled_behind_a_background_save() {
        let server = Server::new(crate::config::Config::default(), 2);
        let st = &server.aof.rewrite;
        assert!(server.save.claim(crate::snapshot::Child::Rdb));
        assert_eq!(request(&server), Start::Scheduled);
        assert!(st.scheduled.load(Relaxed) && !st.in_progress());
        server.save.release();
        st.scheduled.store(false, Relaxed);
        assert_eq!(request(&server), Start::Started);
        assert_eq!(request(&server), Start::InProgress);
        assert!(st.in_progress());
        assert_eq!(st.rewrites.load(Relaxed), 1);
        st.shard_done(true);
        assert!(st.in_progress(), "one shard of two is done");
        st.shard_done(false);
        assert!(!st.in_progress());
        assert!(!st.last_ok.load(Relaxed), "a shard failed, so the round did");
        assert_eq!(st.consecutive_failures.load(Relaxed), 1);
        assert!(st.last_time_sec.load(Relaxed) >= 0);
        assert_eq!(st.current_time_sec(), -1);
    }
}
