//! RDB snapshots of the whole server: SAVE, BGSAVE (without fork), save points, LASTSAVE, the
//! rdb_* fields of INFO persistence, loading dump.rdb at startup, and the save SHUTDOWN and
//! SIGTERM make.
//!
//! BGSAVE runs on the coordinator with every shard held, so all shards start their snapshot
//! ([`shards::snapshot`]) at the same instant: the file is the dataset at that instant, even
//! across shards. Each shard then writes its part between its other work ([`run_shard`]) and
//! hands the encoded chunks to one writer thread, which puts them in one file: header and AUX
//! once, every shard's records, EOF and the CRC64 of the whole file; written to
//! `temp-<pid>.rdb`, fsynced, renamed over `dbfilename`, and the directory fsynced, as Redis
//! does.
//!
//! One snapshot at a time per server: [`SaveState::claim`] is the "child process" slot that a
//! BGSAVE and an AOF rewrite share (Redis's hasActiveChildProcess), and a [`SnapshotJob`] is
//! whatever consumes the shards' chunks, so the rewrite can drive the same shard loop.

use std::fs::File;
use std::future::poll_fn;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender};
use shards::rdb::{self, AuxFields, RdbSink, RdbWriter, SaveOptions};
use shards::snapshot::SnapshotSink;

use crate::server::Server;
use crate::shard::{Node, ShardCore};

/// Keys a shard writes per step before it lets its connections run again.
const STEP_KEYS: usize = 512;
/// Encoded bytes queued for the writer above which shards pause stepping (writes made
/// meanwhile are still copied out, so this bounds the backlog only loosely).
const MAX_BACKLOG: usize = 64 << 20;
/// CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points wait this long to retry.
const BGSAVE_RETRY_DELAY_SECS: i64 = 5;

/// What holds the server's single snapshot slot (Redis's child_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Child {
    None = 0,
    Rdb = 1,
    Aof = 2,
}

/// Consumes the chunks the shards' snapshot sinks produce (BGSAVE's file writer; the AOF
/// rewrite's base writer). Called on shard threads.
pub trait SnapshotJob: Send + Sync {
    /// Bytes drained from `shard`'s sink, in order.
    fn chunk(&self, shard: usize, bytes: Vec<u8>);
    /// `shard` ended its snapshot: `complete` when it wrote every key of its start state, else
    /// it abandoned it because the job was aborted. A job stays current (the slot taken)
    /// until every shard has ended, so no shard is left with a snapshot nobody consumes.
    fn shard_done(&self, shard: usize, complete: bool);
    /// True once the job failed or was cancelled: shards abandon their snapshots.
    fn aborted(&self) -> bool;
    /// Bytes handed over and not yet written out.
    fn backlog(&self) -> usize;
}

/// Runs `f` on every shard core (all of them held).
pub type EachCore<'a> = &'a mut dyn FnMut(&mut dyn FnMut(&mut ShardCore));

/// The server's snapshot state (a field of [`Server`]).
pub struct SaveState {
    child: AtomicU8,
    job: Mutex<Option<Arc<dyn SnapshotJob>>>,
    /// Only for the RDB job: to cancel it (SHUTDOWN, FLUSHALL would).
    rdb_job: Mutex<Option<Arc<RdbJob>>>,
    wakers: Vec<AtomicWaker>,
    /// BGSAVE SCHEDULE while the slot was taken: run when it frees.
    pub bgsave_scheduled: AtomicBool,
    /// A BGSAVE from a save point or the schedule is queued to the coordinator.
    requested: AtomicBool,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave: AtomicI64,
    last_bgsave_ok: AtomicBool,
    last_bgsave_time_sec: AtomicI64,
    bgsave_started_ms: AtomicI64,
    last_bgsave_try: AtomicI64,
    saves: AtomicU64,
    /// Write count (see [`dirty_total`]) the last successful save covered.
    dirty_saved: AtomicU64,
    /// Each shard's write count as of its last cron, for save points.
    shard_dirty: Vec<AtomicU64>,
    load_keys_loaded: AtomicU64,
    load_keys_expired: AtomicU64,
}

impl SaveState {
    pub fn new(nshards: usize) -> SaveState {
        SaveState {
            child: AtomicU8::new(Child::None as u8),
            job: Mutex::new(None),
            rdb_job: Mutex::new(None),
            wakers: (0..nshards).map(|_| AtomicWaker::new()).collect(),
            bgsave_scheduled: AtomicBool::new(false),
            requested: AtomicBool::new(false),
            lastsave: AtomicI64::new(unix_secs()),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_time_sec: AtomicI64::new(-1),
            bgsave_started_ms: AtomicI64::new(0),
            last_bgsave_try: AtomicI64::new(0),
            saves: AtomicU64::new(0),
            dirty_saved: AtomicU64::new(0),
            shard_dirty: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            load_keys_loaded: AtomicU64::new(0),
            load_keys_expired: AtomicU64::new(0),
        }
    }

    /// What holds the snapshot slot.
    pub fn child(&self) -> Child {
        match self.child.load(Relaxed) {
            1 => Child::Rdb,
            2 => Child::Aof,
            _ => Child::None,
        }
    }

    /// A BGSAVE runs (BGREWRITEAOF is then scheduled, not started).
    pub fn bgsave_running(&self) -> bool {
        self.child() == Child::Rdb
    }

    /// Takes the snapshot slot for `kind`; false if something holds it.
    pub fn claim(&self, kind: Child) -> bool {
        self.child.compare_exchange(Child::None as u8, kind as u8, Relaxed, Relaxed).is_ok()
    }

    /// Frees the slot (the holder's job is over).
    pub fn release(&self) {
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.child.store(Child::None as u8, Relaxed);
    }

    /// Makes `job` the consumer of the shards' snapshot chunks and wakes every shard to step
    /// its snapshot. Call with the shards' snapshots begun (from the coordinator).
    pub fn start_job(&self, job: Arc<dyn SnapshotJob>) {
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
        for w in &self.wakers {
            w.wake();
        }
    }

    /// Wakes `shard`'s stepping task (a snapshot begun on the shard itself, as the AOF
    /// rewrite does).
    pub fn wake_shard(&self, shard: usize) {
        self.wakers[shard].wake();
    }

    fn job(&self) -> Option<Arc<dyn SnapshotJob>> {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// stop-writes-on-bgsave-error: writes are refused while the last BGSAVE failed and save
    /// points are configured (Redis's writeCommandsDeniedByDiskError).
    pub fn refuses_writes(&self, server: &Server) -> bool {
        if self.last_bgsave_ok.load(Relaxed) {
            return false;
        }
        let c = server.config();
        c.stop_writes_on_bgsave_error && !c.save.is_empty()
    }

    fn saved(&self, dirty: u64) {
        self.lastsave.store(unix_secs(), Relaxed);
        self.dirty_saved.store(dirty, Relaxed);
        self.last_bgsave_ok.store(true, Relaxed);
    }
}

fn unix_secs() -> i64 {
    shards::keyspace::wall_clock_ms() / 1000
}

/// Every write so far (the server's counter and each core's), with the cores in hand.
fn dirty_total(server: &Server, each: EachCore<'_>) -> u64 {
    let mut n = server.dirty.load(Relaxed);
    each(&mut |c| {
        n += c.stats.dirty;
        server.save.shard_dirty[c.engine.id].store(c.stats.dirty, Relaxed);
    });
    n
}

/// Where the snapshot goes: `dir/dbfilename` through `dir/temp-<pid>.rdb`.
fn paths(server: &Server) -> (PathBuf, PathBuf, SaveOptions) {
    let c = server.config();
    let dir = Path::new(&c.dir);
    let opts = SaveOptions { compression: c.rdbcompression, checksum: c.rdbchecksum, access: crate::evict::key_access(&c) };
    (dir.join(&c.dbfilename), dir.join(format!("temp-{}.rdb", std::process::id())), opts)
}

fn aux() -> AuxFields {
    AuxFields { used_mem: crate::alloc::used_memory(), ..AuxFields::default() }
}

/// fsync, rename over the target, fsync the directory: the file is either the old one or the
/// complete new one, whatever happens.
fn commit_file(file: File, temp: &Path, target: &Path) -> std::io::Result<()> {
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, target)?;
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// SAVE: the whole dataset, written now with every shard held (rdbSave).
pub fn save_sync(server: &Server, each: EachCore<'_>) -> std::io::Result<()> {
    let (target, temp, opts) = paths(server);
    let dirty = dirty_total(server, each);
    let result = (|| {
        let mut out = RdbWriter::new(BufWriter::new(File::create(&temp)?), opts, &aux())?;
        let mut failed = None;
        // Shard by shard, SELECTDB repeated per shard: a valid RDB that Redis loads.
        each(&mut |c| {
            for (db, d) in c.engine.dbs.iter().enumerate() {
                if failed.is_some() || d.is_empty() {
                    continue;
                }
                let r = out.begin_db(db, d.len(), d.expires()).and_then(|()| d.main.iter().try_for_each(|(k, e)| out.write_key(k, e)));
                if let Err(e) = r {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let file = out.finish()?.into_inner().map_err(|e| e.into_error())?;
        commit_file(file, &temp, &target)
    })();
    match &result {
        Ok(()) => {
            tracing::info!("DB saved on disk");
            server.save.saved(dirty);
            server.save.saves.fetch_add(1, Relaxed);
        }
        Err(e) => {
            tracing::warn!("Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}", temp.display(), server.config().dir);
            let _ = std::fs::remove_file(&temp);
        }
    }
    result
}

/// Why BGSAVE did not start.
#[derive(Debug, PartialEq, Eq)]
pub enum BgsaveRefused {
    InProgress,
    OtherChild,
    Failed,
}

/// BGSAVE: begins a snapshot on every shard (all held) and the writer thread.
pub fn bgsave_start(server: &Server, each: EachCore<'_>) -> Result<(), BgsaveRefused> {
    let save = &server.save;
    match save.child() {
        Child::Rdb => return Err(BgsaveRefused::InProgress),
        Child::Aof => return Err(BgsaveRefused::OtherChild),
        Child::None if server.aof.rewrite.in_progress() => return Err(BgsaveRefused::OtherChild),
        Child::None => {}
    }
    if !save.claim(Child::Rdb) {
        return Err(BgsaveRefused::OtherChild);
    }
    save.bgsave_scheduled.store(false, Relaxed);
    save.last_bgsave_try.store(unix_secs(), Relaxed);
    let (target, temp, opts) = paths(server);
    let dirty = dirty_total(server, each);
    let (tx, rx) = crossbeam_channel::unbounded();
    let job = Arc::new(RdbJob { tx, aborted: AtomicBool::new(false), backlog: AtomicUsize::new(0), temp: temp.clone() });
    let writer = WriterPlan { rx, target, temp, opts, aux: aux(), shards: server.nshards, dirty, job: job.clone() };
    let save_state = server.save.clone();
    let spawned = std::thread::Builder::new().name("rdb-writer".into()).spawn(move || writer.run(&save_state));
    if let Err(e) = spawned {
        tracing::warn!("Can't save in background: cannot start the writer thread: {e}");
        save.release();
        return Err(BgsaveRefused::Failed);
    }
    save.bgsave_started_ms.store(shards::keyspace::wall_clock_ms(), Relaxed);
    save.saves.fetch_add(1, Relaxed);
    *save.rdb_job.lock().unwrap_or_else(|p| p.into_inner()) = Some(job.clone());
    begin_all(server, each, &|_| Box::new(RdbSink::new(opts)), job);
    tracing::info!("Background saving started");
    Ok(())
}

/// Begins a snapshot on every shard, into `sink(shard id)`, and makes `job` the consumer of
/// what they write: the shards start stepping at once. Call on the coordinator with every
/// shard held, holding the slot ([`SaveState::claim`]). BGSAVE uses it; so can the AOF
/// rewrite, with its own sink and job.
pub fn begin_all(server: &Server, each: EachCore<'_>, sink: &dyn Fn(usize) -> Box<dyn SnapshotSink + Send>, job: Arc<dyn SnapshotJob>) {
    each(&mut |c| {
        // A snapshot abandoned by an earlier job whose shard has not noticed yet.
        if c.engine.snapshot_active() {
            c.engine.snapshot_end();
        }
        c.engine.snapshot_begin(sink(c.engine.id));
    });
    server.save.start_job(job);
}

/// Cancels a BGSAVE in progress (killRDBChild): shards abandon their snapshots, the temp file
/// goes, the last status is left as it was.
pub fn bgsave_cancel(server: &Server) {
    if let Some(job) = server.save.rdb_job.lock().unwrap_or_else(|p| p.into_inner()).take() {
        job.aborted.store(true, Relaxed);
        let _ = job.tx.send(Piece::Cancel);
        let _ = std::fs::remove_file(&job.temp);
    }
}

enum Piece {
    Bytes(Vec<u8>),
    Done,
    Cancel,
}

/// BGSAVE's consumer: chunks go to the writer thread over a channel.
struct RdbJob {
    tx: Sender<Piece>,
    aborted: AtomicBool,
    backlog: AtomicUsize,
    temp: PathBuf,
}

impl SnapshotJob for RdbJob {
    fn chunk(&self, _shard: usize, bytes: Vec<u8>) {
        self.backlog.fetch_add(bytes.len(), Relaxed);
        let _ = self.tx.send(Piece::Bytes(bytes));
    }

    fn shard_done(&self, _shard: usize, _complete: bool) {
        let _ = self.tx.send(Piece::Done);
    }

    fn aborted(&self) -> bool {
        self.aborted.load(Relaxed)
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Relaxed)
    }
}

struct WriterPlan {
    rx: Receiver<Piece>,
    target: PathBuf,
    temp: PathBuf,
    opts: SaveOptions,
    aux: AuxFields,
    shards: usize,
    dirty: u64,
    job: Arc<RdbJob>,
}

impl WriterPlan {
    /// The writer thread: header, every shard's chunks as they come, EOF and checksum, then
    /// fsync and rename. Records the outcome and frees the slot.
    fn run(self, save: &SaveState) {
        let started = Instant::now();
        let mut ended = 0;
        let result = self.write(&mut ended);
        let cancelled = self.job.aborted.swap(true, Relaxed);
        // Every shard ends its snapshot (abandoning it, now that the job is aborted) before
        // the slot is free for the next one.
        while ended < self.shards {
            match self.rx.recv() {
                Ok(Piece::Done) => ended += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        match &result {
            Ok(()) if !cancelled => {
                tracing::info!("Background saving terminated with success");
                save.saved(self.dirty);
            }
            Ok(()) => {}
            Err(e) => {
                if !cancelled {
                    tracing::warn!("Background saving error: {e} (writing {})", self.temp.display());
                    save.last_bgsave_ok.store(false, Relaxed);
                }
                let _ = std::fs::remove_file(&self.temp);
            }
        }
        save.last_bgsave_time_sec.store(started.elapsed().as_secs() as i64, Relaxed);
        *save.rdb_job.lock().unwrap_or_else(|p| p.into_inner()) = None;
        save.release();
    }

    fn write(&self, done: &mut usize) -> std::io::Result<()> {
        let cancelled = || std::io::Error::other("cancelled");
        let mut out = RdbWriter::new(BufWriter::with_capacity(1 << 20, File::create(&self.temp)?), self.opts, &self.aux)?;
        while *done < self.shards {
            match self.rx.recv().map_err(|_| cancelled())? {
                Piece::Bytes(b) => {
                    self.job.backlog.fetch_sub(b.len(), Relaxed);
                    out.write_raw(&b)?;
                }
                Piece::Done => *done += 1,
                Piece::Cancel => return Err(cancelled()),
            }
            if self.job.aborted() {
                return Err(cancelled());
            }
        }
        let file = out.finish()?.into_inner().map_err(|e| e.into_error())?;
        commit_file(file, &self.temp, &self.target)
    }
}

/// One shard's snapshot stepping task: idle until a job starts, then steps the shard's
/// snapshot between its other work and hands the chunks to the job.
pub async fn run_shard(node: Rc<Node>) {
    let id = node.id;
    loop {
        poll_fn(|cx| {
            node.server.save.wakers[id].register(cx.waker());
            if node.core.borrow().engine.snapshot_active() && node.server.save.job().is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        loop {
            // rdb-key-save-delay (microseconds per key, for tests, as Redis's): one key per step.
            let delay = node.server.config().extra("rdb-key-save-delay").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            match step_once(&node, if delay > 0 { 1 } else { STEP_KEYS }) {
                Step::Finished => break,
                Step::Backlog => monoio::time::sleep(Duration::from_millis(1)).await,
                Step::More if delay > 0 => monoio::time::sleep(Duration::from_micros(delay)).await,
                Step::More => yield_now().await,
            }
        }
    }
}

enum Step {
    More,
    Backlog,
    Finished,
}

/// One step, synchronous: the coordinator cannot take the core in the middle of it.
fn step_once(node: &Node, keys: usize) -> Step {
    let mut core = node.core.borrow_mut();
    let engine = &mut core.engine;
    if !engine.snapshot_active() {
        return Step::Finished;
    }
    let job = match node.server.save.job() {
        Some(job) if !job.aborted() => job,
        Some(job) => {
            engine.snapshot_end();
            job.shard_done(node.id, false);
            return Step::Finished;
        }
        // Begun by someone who steps it themselves.
        None => return Step::Finished,
    };
    let backlogged = job.backlog() > MAX_BACKLOG;
    let finished = !backlogged && engine.snapshot_step(keys);
    let bytes = engine.snapshot_sink().map(|s| s.drain()).unwrap_or_default();
    if !bytes.is_empty() {
        job.chunk(node.id, bytes);
    }
    if finished {
        engine.snapshot_end();
        job.shard_done(node.id, true);
        Step::Finished
    } else if backlogged {
        Step::Backlog
    } else {
        Step::More
    }
}

/// Lets the runtime run everything else that is ready, once.
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// From each shard's cron: publishes its write count; shard 0 also checks the save points
/// and a scheduled BGSAVE (serverCron), asking the coordinator to start one when due.
pub fn cron(server: &Server, core: &ShardCore) {
    let save = &server.save;
    save.shard_dirty[core.engine.id].store(core.stats.dirty, Relaxed);
    if core.engine.id != 0 || save.child() != Child::None || server.aof.rewrite.in_progress() || save.requested.load(Relaxed) || server.loading.load(Relaxed) {
        return;
    }
    let due = save.bgsave_scheduled.load(Relaxed) || {
        let dirty = server.dirty.load(Relaxed) + save.shard_dirty.iter().map(|d| d.load(Relaxed)).sum::<u64>();
        let changes = dirty.saturating_sub(save.dirty_saved.load(Relaxed));
        let now = unix_secs();
        let since_save = now - save.lastsave.load(Relaxed);
        let may_retry = save.last_bgsave_ok.load(Relaxed) || now - save.last_bgsave_try.load(Relaxed) > BGSAVE_RETRY_DELAY_SECS;
        may_retry && server.config().save.iter().any(|&(secs, n)| changes >= n && since_save > secs as i64)
    };
    if due && !save.requested.swap(true, Relaxed) {
        tracing::info!("Save point reached (or BGSAVE scheduled): saving...");
        with_all_shards(server, |server, each| {
            server.save.requested.store(false, Relaxed);
            let _ = bgsave_start(server, each);
        });
    }
}

/// Runs `f` on the coordinator with every shard held.
pub fn with_all_shards(server: &Server, f: impl FnOnce(&Server, EachCore<'_>) + Send + 'static) {
    if let Some(coord) = server.coordinator.get() {
        coord.send_msg(crate::coordinator::CoordMsg::WithAllShards(Box::new(move |server, cores| {
            f(server, &mut |g| {
                for &p in cores.iter().flatten() {
                    // SAFETY: the coordinator holds these cores for the call; each reference
                    // ends before the next is made.
                    g(unsafe { &mut *p });
                }
            })
        })));
    }
}

/// The final save failed: the server does not exit (unless forced).
#[derive(Debug)]
pub struct ShutdownRefused;

/// SHUTDOWN's and SIGTERM's preparation (prepareForShutdown): cancel a BGSAVE, save when asked
/// or when save points exist, then make every shard's AOF records durable.
pub fn prepare_shutdown(server: &Server, each: EachCore<'_>, save: bool, nosave: bool, force: bool) -> Result<(), ShutdownRefused> {
    if server.save.child() == Child::Rdb {
        tracing::warn!("There is a child saving an .rdb. Killing it!");
        bgsave_cancel(server);
    }
    let wants_save = save || (!nosave && !server.config().save.is_empty());
    if wants_save {
        tracing::info!("Saving the final RDB snapshot before exiting.");
        if save_sync(server, each).is_err() && !force {
            tracing::warn!("Error trying to save the DB, can't exit.");
            return Err(ShutdownRefused);
        }
    }
    each(&mut |c| {
        c.persist(server);
        if let Some(seg) = c.aof.as_mut() {
            seg.trim();
        }
    });
    if server.config().appendonly {
        if let Err(e) = server.aof_sync.sync_all() {
            tracing::warn!("fsync of the AOF failed at shutdown: {e}");
        }
    }
    Ok(())
}

/// SIGTERM/SIGINT: runs the shutdown preparation on the coordinator; false if it refused (the
/// server then keeps running, as Redis does).
pub fn shutdown_on_signal(server: &Server) -> bool {
    let (tx, rx) = crossbeam_channel::bounded(1);
    with_all_shards(server, move |server, each| {
        let _ = tx.send(prepare_shutdown(server, each, false, false, false).is_ok());
    });
    rx.recv().unwrap_or(true)
}

/// At startup without the AOF: loads `dir/dbfilename` into the cores, if it exists.
pub fn load_dump(server: &Server, cores: &mut [ShardCore]) -> Result<(), String> {
    let (path, _, _) = paths(server);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("Can't open the RDB file {}: {e}", path.display())),
    };
    let started = Instant::now();
    let progress = &server.aof.load;
    progress.total_bytes.store(file.metadata().map(|m| m.len()).unwrap_or(0), Relaxed);
    let stats = load_file(server, file, &mut |f| cores.iter_mut().for_each(&mut *f)).map_err(|e| format!("Can't load the RDB file {}: {e}", path.display()))?;
    tracing::info!("DB loaded from disk: {:.3} seconds ({} keys)", started.elapsed().as_secs_f64(), stats.keys);
    Ok(())
}

/// Counts the bytes read into the loading progress (INFO loading_loaded_bytes).
struct CountingReader<'a, R> {
    inner: R,
    to: &'a AtomicU64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.to.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

/// (db, key, value, expire_at) as the loader hands them over.
type LoadedKey = (usize, Vec<u8>, shards::Value, rdb::KeyMeta);

/// Reads an RDB file into the cores (each key to its shard), skipping keys already expired.
fn load_file(server: &Server, file: File, each: EachCore<'_>) -> Result<rdb::LoadStats, rdb::RdbError> {
    let n = server.nshards;
    let now = shards::keyspace::wall_clock_ms();
    let opts = rdb::LoadOptions { databases: server.databases, limits: server.limits(), skip_expired_before: Some(now) };
    // Keys are sorted per shard first, then put in place shard by shard: only `each` reaches
    // the cores. The values are moved, never copied.
    let mut per_shard: Vec<Vec<LoadedKey>> = (0..n).map(|_| Vec::new()).collect();
    let reader = CountingReader { inner: std::io::BufReader::with_capacity(1 << 20, file), to: &server.aof.load.loaded_bytes };
    let stats = rdb::load_meta(reader, &opts, |db, key, value, meta| {
        per_shard[shards::route::shard_of(&key, n)].push((db, key, value, meta));
    })?;
    if let Some((_, v)) = stats.aux.iter().find(|(k, _)| k == b"used-mem") {
        if let Some(n) = std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()) {
            server.aof.load.rdb_used_mem.store(n, Relaxed);
        }
    }
    each(&mut |c| {
        crate::evict::refresh(server, c);
        // Each table sized once for the keys it is about to get (only an empty one is).
        let mut per_db = vec![0usize; server.databases];
        for (db, ..) in &per_shard[c.engine.id] {
            per_db[*db] += 1;
        }
        for (db, &keys) in per_db.iter().enumerate() {
            c.engine.reserve_keys(db, keys);
        }
        for (db, key, value, meta) in std::mem::take(&mut per_shard[c.engine.id]) {
            let lru = c.engine.loaded_lru(meta.freq, meta.idle_secs);
            c.engine.put_entry(db, &key, shards::Entry::new(value, meta.expire_at, lru));
        }
    });
    server.save.load_keys_loaded.store(stats.keys, Relaxed);
    server.save.load_keys_expired.store(stats.expired_skipped, Relaxed);
    Ok(stats)
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, empty the dataset, load the file back.
pub fn debug_reload(server: &Server, each: EachCore<'_>, save: bool, flush: bool) -> Result<(), &'static str> {
    if save && save_sync(server, each).is_err() {
        return Err("ERR");
    }
    if flush {
        each(&mut |c| c.engine.flush_all());
    }
    let (path, _, _) = paths(server);
    let loaded = File::open(&path).map_err(|e| e.to_string()).and_then(|f| load_file(server, f, each).map_err(|e| e.to_string()));
    match loaded {
        Ok(_) => {
            tracing::warn!("DB reloaded by DEBUG RELOAD");
            Ok(())
        }
        Err(e) => {
            tracing::warn!("DEBUG RELOAD: loading {} failed: {e}", path.display());
            Err("ERR Error trying to load the RDB dump, check server logs.")
        }
    }
}

/// The rdb_* part of INFO persistence (and the current save's progress), with every core in
/// view.
pub fn info_fields(server: &Server, each: EachCore<'_>) -> String {
    let save = &server.save;
    let dirty = dirty_total(server, each);
    let (mut processed, mut total) = (0u64, 0u64);
    each(&mut |c| {
        if let Some((w, t)) = c.engine.snapshot_progress() {
            processed += w;
            total += t;
        }
    });
    let in_progress = save.child() == Child::Rdb;
    let current = if in_progress { (shards::keyspace::wall_clock_ms() - save.bgsave_started_ms.load(Relaxed)) / 1000 } else { -1 };
    let perc = if total > 0 { processed as f64 * 100.0 / total as f64 } else { 0.0 };
    format!(
        "current_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:{perc:.2}\r\ncurrent_save_keys_processed:{processed}\r\ncurrent_save_keys_total:{total}\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{current}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        dirty.saturating_sub(save.dirty_saved.load(Relaxed)),
        in_progress as u8,
        save.lastsave.load(Relaxed),
        if save.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" },
        save.last_bgsave_time_sec.load(Relaxed),
        save.saves.load(Relaxed),
        save.load_keys_expired.load(Relaxed),
        save.load_keys_loaded.load(Relaxed),
    )
}
