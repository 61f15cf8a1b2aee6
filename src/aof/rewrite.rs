//! AOF rewrite, per shard and without fork, in Redis 7's multi-part style: BGREWRITEAOF,
//! auto-aof-rewrite-percentage / auto-aof-rewrite-min-size, and CONFIG SET appendonly at run
//! time (which starts appending with a rewrite that creates the base, as Redis does).
//!
//! A shard's rewrite, in order (each step durable before the next, so a kill -9 at any moment
//! loses nothing: replay reads the files the manifest names, in order):
//! 1. Off the shard thread (a short-lived thread, [`prepare`]): a new empty increment
//!    `<seq+1>` is created and the manifest is stored listing the old base, the old increments
//!    and the new one (fsyncs the shard must not wait for); meanwhile the shard goes on
//!    appending to its current increment, listed before the new one. Then, in the shard's
//!    cron, between two commands (so a `MULTI <unit> <shards>` group never straddles the
//!    switch): the pending records go to the current increment and the shard appends to the
//!    new one from then on. (Turning the AOF on does this in one turn on the shard thread:
//!    the manifest changes only in step 3.)
//! 2. In the same loop turn, the shard begins an engine snapshot ([`shards::snapshot`]) of its
//!    dataset: the snapshot is the state at its start, so base + new increment are exactly the
//!    dataset, whatever the shard does meanwhile. The shard then writes it between its other
//!    work (src/snapshot.rs `run_shard`, ~512 keys per loop turn, `rdb-key-save-delay` for
//!    tests), as RDB records ([`RdbSink`], aof-use-rdb-preamble yes, the default) or RESP
//!    commands ([`RespSink`]); the chunks go to one writer thread ([`AofJob`]), which puts each
//!    shard's base in a temporary file.
//! 3. On the writer thread, once a shard's snapshot is complete: its base is fsynced and
//!    renamed to `<seq+1>.base.*`, the directory fsynced; then the manifest {new base, new
//!    increment} is stored (temp file, fsync, rename, directory fsync); only then are the
//!    shard's old files deleted. Files a crash leaves behind are removed at the next startup
//!    (see `load::remove_strays`).
//!
//! The manifest is one file for all shards: every change holds [`super::AofShared::manifest`].
//! Rewrites run as rounds that hold the server's one snapshot slot
//! ([`crate::snapshot::SaveState::claim`] with `Child::Aof`, Redis's child process): BGSAVE
//! during a round gets "Another child process is active (AOF?)" (or is scheduled), and
//! BGREWRITEAOF during a BGSAVE is scheduled and starts when the save ends. BGREWRITEAOF and
//! CONFIG SET appendonly yes start a round over every shard (as Redis rewrites everything at
//! once), the automatic rewrite a round over the shard that grew. Each shard of a round
//! switches and begins its snapshot in its own cron (shards' files are independent, so they
//! need not start at the same instant); the round, and the slot, end when every shard of it
//! ended (INFO aof_rewrite_in_progress meanwhile).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use shards::effects::{encode_into, write_value};
use shards::entry::KeyNode;
use shards::rdb::{AuxFields, RdbSink, RdbWriter, SaveOptions};
use shards::snapshot::SnapshotSink;

use super::{aof_dir, FileKind, Manifest, ManifestFile, Segment};
use crate::server::Server;
use crate::shard::ShardCore;
use crate::snapshot::{Child, SnapshotJob};

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
    /// The current round's base writer, made by the first shard of the round to start.
    job: Mutex<Option<Arc<AofJob>>>,
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
            job: Mutex::new(None),
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

    /// Starts a round over `shards`, taking the snapshot slot: refused with `InProgress` while
    /// a round runs, `Scheduled` while something else (a BGSAVE) holds the slot.
    fn begin_round(&self, server: &Server, shards: &[usize]) -> Result<(), Start> {
        let _g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if self.running.load(Relaxed) > 0 || shards.is_empty() {
            return Err(Start::InProgress);
        }
        if !server.save.claim(Child::Aof) {
            return Err(Start::Scheduled);
        }
        self.running.store(shards.len(), Relaxed);
        self.started_ms.store(shards::keyspace::wall_clock_ms(), Relaxed);
        self.round_failed.store(false, Relaxed);
        self.rewrites.fetch_add(1, Relaxed);
        let req = self.requested(server.nshards);
        for &s in shards {
            req[s].store(true, Relaxed);
        }
        Ok(())
    }

    /// The round's base writer: the first shard of a round to start makes it (shard crons
    /// hold the `Arc<Server>` its thread needs). It expects the shards still running.
    fn job(&self, server: &Arc<Server>) -> Result<Arc<AofJob>, String> {
        let _g = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.job.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(job) = &*slot {
            return Ok(job.clone());
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let job = Arc::new(AofJob { tx, backlog: AtomicUsize::new(0) });
        let writer = BaseWriter { server: server.clone(), rx, job: job.clone(), expected: self.running.load(Relaxed), bases: HashMap::new() };
        std::thread::Builder::new().name("aof-rewrite".into()).spawn(move || writer.run()).map_err(|e| format!("Can't start the rewrite thread: {e}"))?;
        *slot = Some(job.clone());
        server.save.start_job(job.clone());
        Ok(job)
    }

    /// One shard of the round finished (or failed); the last one frees the snapshot slot.
    fn shard_done(&self, server: &Server, ok: bool) {
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
            *self.job.lock().unwrap_or_else(|p| p.into_inner()) = None;
            server.save.release();
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
    let all: Vec<usize> = (0..server.nshards).collect();
    match st.begin_round(server, &all) {
        Ok(()) => {
            tracing::info!("Background append only file rewriting started");
            Start::Started
        }
        Err(Start::Scheduled) => {
            st.scheduled.store(true, Relaxed);
            Start::Scheduled
        }
        Err(other) => other,
    }
}

/// The shard's part, from its cron: a requested or scheduled rewrite, the automatic one, and
/// appendonly switched by CONFIG SET.
pub fn cron(server: &Arc<Server>, core: &mut ShardCore) {
    if server.loading.load(Relaxed) || switch_prepared(server, core) {
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
    let all: Vec<usize> = (0..n).collect();
    if appendonly && core.aof.is_none() && !st.in_progress() {
        // Redis's startAppendOnly: a rewrite creates the base, then the shard appends. One
        // round turns every shard on (after a running round or save ends).
        let _ = st.begin_round(server, &all);
    }
    if st.scheduled.load(Relaxed)
        && !server.save.bgsave_running()
        && !st.in_progress()
        && st.scheduled.swap(false, Relaxed)
        && st.begin_round(server, &all).is_err()
    {
        st.scheduled.store(true, Relaxed);
    }
    if st.requested(n)[id].swap(false, Relaxed) {
        run(server, core, appendonly && core.aof.is_none());
        return;
    }
    // Redis's serverCron rule: rewrite when the AOF is bigger than min-size and grew by the
    // percentage over its size after the last rewrite.
    if let Some(seg) = &core.aof {
        if perc == 0 || st.in_progress() || server.save.child() != Child::None {
            return;
        }
        let sf = &server.aof.shards[id];
        let current = sf.older_bytes.load(Relaxed) + seg.size;
        let base = sf.base_size.load(Relaxed).max(1);
        let growth = (current * 100 / base) as i64 - 100;
        if current > min_size && growth >= perc as i64 && st.begin_round(server, &[id]).is_ok() {
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
    if let Some(mut seg) = core.aof.take() {
        seg.trim();
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

/// This shard's part of the round: it ends, whatever happens, with one `shard_done`.
fn run(server: &Arc<Server>, core: &mut ShardCore, enabling: bool) {
    let id = core.engine.id;
    let st = &server.aof.rewrite;
    let job = match st.job(server) {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(shard = id, "Background AOF rewrite failed: {e}");
            st.shard_done(server, false);
            return;
        }
    };
    let res = if core.aof.is_some() && !enabling { prepare(server, core, job.clone()) } else { start(server, core, enabling, &job) };
    if let Err(e) = res {
        tracing::warn!(shard = id, "Background AOF rewrite failed: {e}");
        // The writer counts this shard as ended, failed.
        job.shard_done(id, false);
    }
}

/// A switch being prepared off the shard thread (step 1 of a shard that appends).
pub struct PendingSwitch {
    job: Arc<AofJob>,
    rx: Receiver<Result<Prepared, String>>,
}

/// Step 1's files, ready: the new increment, already listed in the durable manifest.
struct Prepared {
    seg: Segment,
    name: String,
    seq: u64,
    old_files: Vec<String>,
}

/// Step 1 of a shard that appends, off its thread: creating the new increment and storing
/// the manifest that lists it take fsyncs (and the manifest lock, which another shard's
/// rewrite may hold through its own fsyncs), 1-80 ms here that every client of the shard would
/// wait. A short-lived thread does them while the shard goes on appending to its current
/// increment, which the new manifest lists before the new one: a kill -9 meanwhile replays
/// the same records. The shard switches in a later cron ([`switch_prepared`]).
fn prepare(server: &Arc<Server>, core: &mut ShardCore, job: Arc<AofJob>) -> Result<(), String> {
    let id = core.engine.id;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let srv = server.clone();
    std::thread::Builder::new()
        .name("aof-switch".into())
        .spawn(move || {
            let _ = tx.send(prepare_files(&srv, id));
        })
        .map_err(|e| format!("Can't start the AOF switch thread: {e}"))?;
    core.aof_switch = Some(Box::new(PendingSwitch { job, rx }));
    Ok(())
}

fn prepare_files(server: &Server, id: usize) -> Result<Prepared, String> {
    let cfg = server.config().clone();
    let dir = aof_dir(&cfg);
    let (seq, old_files) = files_now(server, &cfg, id)?;
    let name = Manifest::file_name(&cfg.appendfilename, id, seq, FileKind::Incr);
    let path = dir.join(&name);
    let seg = new_increment(&path, seq)?;
    let entry = ManifestFile { name: name.clone(), seq, kind: 'i', shard: id };
    if let Err(e) = server.aof.update_manifest(&cfg, server.nshards, |m| m.files.push(entry)) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    if let Ok(f) = seg.sync_handle() {
        server.aof_sync.add_next(id, f);
    }
    stage(id, 1, "new increment listed, the shard not yet switched");
    Ok(Prepared { seg, name, seq, old_files })
}

/// From the manifest as it stands: the seq of the shard's next files, and its files now.
fn files_now(server: &Server, cfg: &crate::config::Config, id: usize) -> Result<(u64, Vec<String>), String> {
    let now = server.aof.manifest_now(cfg, server.nshards)?;
    Ok((now.next_seq(id), now.files_of(id).iter().map(|f| f.name.clone()).collect()))
}

fn new_increment(path: &Path, seq: u64) -> Result<Segment, String> {
    File::create(path).map_err(|e| format!("Can't create the AOF file {}: {e}", path.display()))?;
    Segment::open(path, seq).map_err(|e| format!("Can't open the AOF file {}: {e}", path.display()))
}

/// The shard's cron, while a switch is prepared: once it is, the switch and the start of
/// step 2, between two commands. True while the preparation still runs.
pub fn switch_prepared(server: &Arc<Server>, core: &mut ShardCore) -> bool {
    let Some(p) = &core.aof_switch else { return false };
    let res = match p.rx.try_recv() {
        Ok(res) => res,
        Err(crossbeam_channel::TryRecvError::Empty) => return true,
        Err(crossbeam_channel::TryRecvError::Disconnected) => Err("the AOF switch thread ended".into()),
    };
    let Some(p) = core.aof_switch.take() else { return false };
    let id = core.engine.id;
    let res = res.and_then(|prep| {
        if core.aof.is_none() {
            // appendonly was turned off meanwhile; the listed increment stays empty.
            return Err("the append only file was turned off".into());
        }
        if !core.persist(server) {
            return Err("Can't write the pending records to the AOF".into());
        }
        switch_segment(server, core, prep.seg);
        stage(id, 2, "switched to the new increment");
        begin_base(server, core, &p.job, prep.seq, prep.old_files, Some(prep.name));
        Ok(())
    });
    if let Err(e) = res {
        tracing::warn!(shard = id, "Background AOF rewrite failed: {e}");
        p.job.shard_done(id, false);
    }
    false
}

/// The shard appends to `seg` from now on.
fn switch_segment(server: &Server, core: &mut ShardCore, seg: Segment) {
    let id = core.engine.id;
    let sf = &server.aof.shards[id];
    match core.aof.replace(seg) {
        Some(mut old) => {
            old.trim();
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

/// Step 1 and the start of step 2 in one turn on the shard thread, for a shard whose AOF is
/// being turned on (nothing it acknowledged is in the old files, so the manifest changes only
/// in step 3) or, with `enabling` false, one that does not append.
fn start(server: &Arc<Server>, core: &mut ShardCore, enabling: bool, job: &AofJob) -> Result<(), String> {
    let cfg = server.config().clone();
    let id = core.engine.id;
    let dir = aof_dir(&cfg);
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create the append-only dir {}: {e}", dir.display()))?;
    // The shard's files now; nobody else changes them while this shard's rewrite runs.
    let (seq, old_files) = files_now(server, &cfg, id)?;
    let mut incr = None;
    if enabling {
        let name = Manifest::file_name(&cfg.appendfilename, id, seq, FileKind::Incr);
        let seg = new_increment(&dir.join(&name), seq)?;
        server.aof_sync.set_shard(id, seg.sync_handle().ok());
        switch_segment(server, core, seg);
        incr = Some(name);
        stage(id, 2, "switched to the new increment");
    }
    begin_base(server, core, job, seq, old_files, incr);
    Ok(())
}

/// Step 2 begins: the snapshot is the dataset as of the switch (this same turn), turned into
/// the base by the writer thread.
fn begin_base(server: &Arc<Server>, core: &mut ShardCore, job: &AofJob, seq: u64, old_files: Vec<String>, incr: Option<String>) {
    let cfg = server.config().clone();
    let id = core.engine.id;
    let dir = aof_dir(&cfg);
    let rdb = cfg.extra_bool("aof-use-rdb-preamble").unwrap_or(true);
    let kind = if rdb { FileKind::BaseRdb } else { FileKind::BaseAof };
    let base_name = Manifest::file_name(&cfg.appendfilename, id, seq, kind);
    let opts = SaveOptions { compression: cfg.rdbcompression, checksum: cfg.rdbchecksum, access: crate::evict::key_access(&cfg) };
    let temp = dir.join(format!("{TEMP_PREFIX}{base_name}"));
    let plan = BasePlan { shard: id, seq, rdb, opts, temp, base: dir.join(&base_name), base_name, incr, old_files, dir, keys: core.engine.key_count() };
    let _ = job.tx.send(Piece::Begin(Box::new(plan)));
    if core.engine.snapshot_active() {
        // Abandoned by an earlier job whose stepping task has not noticed yet.
        core.engine.snapshot_end();
    }
    let sink: Box<dyn SnapshotSink + Send> = if rdb { Box::new(RdbSink::new(opts)) } else { Box::new(RespSink::default()) };
    core.engine.snapshot_begin(sink);
    server.save.wake_shard(id);
}

/// A shard's base in the making: where it goes and what step 3 needs.
struct BasePlan {
    shard: usize,
    seq: u64,
    rdb: bool,
    opts: SaveOptions,
    temp: PathBuf,
    base: PathBuf,
    base_name: String,
    /// The increment the shard appends to since the switch (None: the AOF is off).
    incr: Option<String>,
    /// The shard's files before the rewrite, deleted at the end.
    old_files: Vec<String>,
    dir: PathBuf,
    /// Keys at the switch (for the log).
    keys: usize,
}

enum Piece {
    Begin(Box<BasePlan>),
    Bytes(usize, Vec<u8>),
    Done(usize, bool),
}

/// The rewrite's consumer of the shards' snapshot chunks: they go to the writer thread.
pub struct AofJob {
    tx: Sender<Piece>,
    backlog: AtomicUsize,
}

impl SnapshotJob for AofJob {
    fn chunk(&self, shard: usize, bytes: Vec<u8>) {
        self.backlog.fetch_add(bytes.len(), Relaxed);
        let _ = self.tx.send(Piece::Bytes(shard, bytes));
    }

    fn shard_done(&self, shard: usize, complete: bool) {
        let _ = self.tx.send(Piece::Done(shard, complete));
    }

    /// A round is never cancelled: a shard whose base cannot be written still steps to the
    /// end (its bytes are dropped), the others finish theirs.
    fn aborted(&self) -> bool {
        false
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Relaxed)
    }
}

/// A base file being written: an RDB file or RESP commands.
enum BaseOut {
    Rdb(Box<RdbWriter<BufWriter<File>>>),
    Resp(BufWriter<File>),
}

struct BaseFile {
    plan: Box<BasePlan>,
    /// None once writing failed (the error is kept).
    out: Result<BaseOut, String>,
    started: std::time::Instant,
}

/// The writer thread of a round: every shard's chunks into its temporary base, then step 3
/// for each shard whose snapshot completed.
struct BaseWriter {
    server: Arc<Server>,
    rx: Receiver<Piece>,
    job: Arc<AofJob>,
    /// Shards still to end their part of the round.
    expected: usize,
    bases: HashMap<usize, BaseFile>,
}

impl BaseWriter {
    fn run(mut self) {
        while self.expected > 0 {
            let Ok(piece) = self.rx.recv() else { break };
            match piece {
                Piece::Begin(plan) => {
                    let id = plan.shard;
                    let out = open_base(&plan).map_err(|e| format!("Can't write the AOF base {}: {e}", plan.temp.display()));
                    self.bases.insert(id, BaseFile { plan, out, started: std::time::Instant::now() });
                    stage(id, 3, "writing the base while the shard serves");
                }
                Piece::Bytes(id, bytes) => {
                    self.job.backlog.fetch_sub(bytes.len(), Relaxed);
                    if let Some(b) = self.bases.get_mut(&id) {
                        if let Ok(out) = &mut b.out {
                            let r = match out {
                                BaseOut::Rdb(w) => w.write_raw(&bytes),
                                BaseOut::Resp(w) => w.write_all(&bytes),
                            };
                            if let Err(e) = r {
                                b.out = Err(format!("Can't write the AOF base {}: {e}", b.plan.temp.display()));
                            }
                        }
                    }
                }
                Piece::Done(id, complete) => {
                    self.expected -= 1;
                    let ok = match self.bases.remove(&id) {
                        Some(b) => finish_shard(&self.server, b, complete),
                        // It failed before its snapshot began (and said why).
                        None => false,
                    };
                    self.server.aof.rewrite.shard_done(&self.server, ok);
                }
            }
        }
    }
}

fn open_base(plan: &BasePlan) -> std::io::Result<BaseOut> {
    let w = BufWriter::with_capacity(1 << 20, File::create(&plan.temp)?);
    if plan.rdb {
        let aux = AuxFields { used_mem: crate::alloc::used_memory(), aof_base: true, ..Default::default() };
        Ok(BaseOut::Rdb(Box::new(RdbWriter::new(w, plan.opts, &aux)?)))
    } else {
        Ok(BaseOut::Resp(w))
    }
}

/// Step 3 for one shard; false (the temporary base removed) when anything failed.
fn finish_shard(server: &Arc<Server>, b: BaseFile, complete: bool) -> bool {
    let plan = &b.plan;
    let id = plan.shard;
    let result = (|| {
        if !complete {
            return Err("the snapshot was abandoned".to_string());
        }
        let out = b.out?;
        let file = match out {
            BaseOut::Rdb(w) => w.finish().and_then(|w| w.into_inner().map_err(|e| e.into_error())),
            BaseOut::Resp(w) => w.into_inner().map_err(|e| e.into_error()),
        }
        .map_err(|e| format!("Can't write the AOF base {}: {e}", plan.temp.display()))?;
        tracing::info!(shard = id, "AOF base of {} keys written in {:.3} seconds", plan.keys, b.started.elapsed().as_secs_f64());
        commit(server, plan, file)
    })();
    match result {
        Ok(()) => true,
        Err(e) => {
            let _ = std::fs::remove_file(&plan.temp);
            tracing::warn!(shard = id, "Background AOF rewrite failed: {e}");
            false
        }
    }
}

/// The base made durable under its name, the manifest switched to it, the old files deleted.
fn commit(server: &Server, plan: &BasePlan, file: File) -> Result<(), String> {
    let id = plan.shard;
    stage(id, 4, "base written, not yet durable");
    file.sync_all().map_err(|e| format!("fsync of {}: {e}", plan.temp.display()))?;
    drop(file);
    std::fs::rename(&plan.temp, &plan.base).map_err(|e| format!("rename {} to {}: {e}", plan.temp.display(), plan.base.display()))?;
    File::open(&plan.dir).and_then(|d| d.sync_all()).map_err(|e| format!("fsync of {}: {e}", plan.dir.display()))?;
    stage(id, 5, "base durable, manifest not yet switched");
    let cfg = server.config().clone();
    let mut files = vec![ManifestFile { name: plan.base_name.clone(), seq: plan.seq, kind: 'b', shard: id }];
    if let Some(incr) = &plan.incr {
        files.push(ManifestFile { name: incr.clone(), seq: plan.seq, kind: 'i', shard: id });
    }
    server.aof.update_manifest(&cfg, server.nshards, |m| {
        m.files.retain(|f| f.shard != id);
        m.files.extend(files);
    })?;
    let base_len = std::fs::metadata(&plan.base).map(|m| m.len()).unwrap_or(0);
    // The increment's records, not the zeros its segment reserved past them.
    let incr_len = plan.incr.as_ref().and_then(|n| super::load::records_len(&plan.dir.join(n)).ok()).unwrap_or(0);
    let sf = &server.aof.shards[id];
    sf.older_bytes.store(base_len, Relaxed);
    sf.base_size.store(base_len + incr_len, Relaxed);
    stage(id, 6, "manifest switched, old files not yet deleted");
    for name in &plan.old_files {
        if let Err(e) = std::fs::remove_file(plan.dir.join(name)) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(shard = id, "Can't remove the old AOF file {name}: {e}");
            }
        }
    }
    tracing::info!(shard = id, "AOF rewrite done: base {} ({base_len} bytes)", plan.base_name);
    Ok(())
}

/// A snapshot sink for a base without the RDB preamble: each key as the RESP commands that
/// create it (shards::effects::write_value) and its PEXPIREAT, SELECT where the database
/// changes. Every drained chunk starts with its own SELECT, so chunks stand alone.
#[derive(Default)]
pub struct RespSink {
    buf: Vec<u8>,
    db: Option<usize>,
}

impl SnapshotSink for RespSink {
    fn key(&mut self, db: usize, key: &[u8], entry: &KeyNode) {
        let buf = &mut self.buf;
        let mut ib = itoa::Buffer::new();
        if self.db != Some(db) {
            encode_into(buf, 2, [&b"SELECT"[..], ib.format(db).as_bytes()].into_iter());
            self.db = Some(db);
        }
        write_value(db, key, &entry.value(), &mut |_, argv| encode_into(buf, argv.len(), argv.iter().copied()));
        if entry.expire_at() != 0 {
            encode_into(buf, 3, [&b"PEXPIREAT"[..], key, ib.format(entry.expire_at()).as_bytes()].into_iter());
        }
    }

    fn drain(&mut self) -> Vec<u8> {
        self.db = None;
        std::mem::take(&mut self.buf)
    }

    fn buffered(&self) -> usize {
        self.buf.len()
    }
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

    /// The chunks a snapshot of `s` produces, one key per step, as the writer receives them.
    fn snapshot_chunks(s: &mut shards::Shard, sink: Box<dyn SnapshotSink + Send>) -> Vec<Vec<u8>> {
        assert!(s.snapshot_begin(sink));
        let mut chunks = Vec::new();
        loop {
            let done = s.snapshot_step(1);
            chunks.push(s.snapshot_sink().expect("active").drain());
            if done {
                break;
            }
        }
        s.snapshot_end();
        chunks
    }

    #[test]
    fn an_rdb_base_from_snapshot_chunks_loads_back_to_the_same_dataset() {
        let mut s = sample();
        let opts = SaveOptions::default();
        let chunks = snapshot_chunks(&mut s, Box::new(RdbSink::new(opts)));
        let aux = AuxFields { aof_base: true, ..Default::default() };
        let mut out = RdbWriter::new(Vec::new(), opts, &aux).unwrap();
        chunks.iter().for_each(|c| out.write_raw(c).unwrap());
        let out = out.finish().unwrap();
        assert_eq!(&out[..9], b"REDIS0010");
        let mut back = shards::Shard::new(0, 16);
        let lopts = shards::rdb::LoadOptions { databases: 16, limits: Default::default(), skip_expired_before: None };
        let stats = shards::rdb::load(&out[..], &lopts, |db, k, v, exp| back.put_entry(db, &k, shards::keyspace::Entry::new(v, exp, 0))).unwrap();
        assert_eq!(stats.keys, 3);
        assert!(stats.aux.iter().any(|(k, v)| k == b"aof-base" && v == b"1"), "{:?}", stats.aux);
        assert_eq!(digest(&back), digest(&s));
    }

    /// The commands of a RESP base, one string each.
    fn commands(mut rest: &[u8]) -> Vec<String> {
        let mut cmds = Vec::new();
        while !rest.is_empty() {
            let argv = shards::effects::decode(rest).expect("a RESP command");
            let mut enc = Vec::new();
            encode_into(&mut enc, argv.len(), argv.iter().map(|a| a.as_slice()));
            rest = &rest[enc.len()..];
            cmds.push(argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "));
        }
        cmds
    }

    #[test]
    fn a_resp_base_selects_each_database_in_every_chunk_and_keeps_ttls() {
        let chunks = snapshot_chunks(&mut sample(), Box::<RespSink>::default());
        let mut all = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            assert!(commands(c)[0].starts_with("SELECT "), "a chunk stands alone: {:?}", commands(c));
            all.extend_from_slice(c);
        }
        let cmds = commands(&all);
        let pos = |c: &str| cmds.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c} missing from {cmds:?}"));
        assert_eq!(cmds[pos("SET b 3") - 1], "SELECT 5");
        assert!(cmds[..pos("SET a 1")].iter().rev().find(|c| c.starts_with("SELECT")).is_some_and(|c| c == "SELECT 0"), "{cmds:?}");
        assert_eq!(cmds[pos("SET t 2") + 1], "PEXPIREAT t 4000000000000", "{cmds:?}");
        assert_eq!(cmds.iter().filter(|c| c.starts_with("SET")).count(), 3);
    }

    #[test]
    fn bgrewriteaof_starts_once_holds_the_slot_and_is_scheduled_behind_a_background_save() {
        let server = Server::new(crate::config::Config::default(), 2);
        let st = &server.aof.rewrite;
        assert!(server.save.claim(Child::Rdb));
        assert_eq!(request(&server), Start::Scheduled);
        assert!(st.scheduled.load(Relaxed) && !st.in_progress());
        server.save.release();
        st.scheduled.store(false, Relaxed);
        assert_eq!(request(&server), Start::Started);
        assert_eq!(server.save.child(), Child::Aof, "a round holds the snapshot slot");
        assert!(!server.save.claim(Child::Rdb));
        assert_eq!(request(&server), Start::InProgress);
        assert!(st.in_progress());
        assert_eq!(st.rewrites.load(Relaxed), 1);
        st.shard_done(&server, true);
        assert!(st.in_progress(), "one shard of two is done");
        assert_eq!(server.save.child(), Child::Aof);
        st.shard_done(&server, false);
        assert!(!st.in_progress());
        assert_eq!(server.save.child(), Child::None, "the last shard frees the slot");
        assert!(!st.last_ok.load(Relaxed), "a shard failed, so the round did");
        assert_eq!(st.consecutive_failures.load(Relaxed), 1);
        assert!(st.last_time_sec.load(Relaxed) >= 0);
        assert_eq!(st.current_time_sec(), -1);
    }
}
