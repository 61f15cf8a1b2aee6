//! The append-only file: per shard, an optional base (the shard's dataset at the start of the
//! last rewrite) and increments, each increment a RESP command log of that shard's effects (see
//! [`shards::effects`] for the records and their grouping), and one manifest naming them all.
//!
//! Layout, in `dir/appenddirname/`:
//! - `<appendfilename>.manifest`: a text file, one line per file:
//!   `file <name> seq <n> type b|i shard <s>`, after a `shards <n>` line. It is written to a
//!   temporary name, fsynced, and renamed, so a reader sees the old manifest or the new one.
//! - `<appendfilename>.s<shard>.<seq>.base.rdb` (or `.base.aof` with aof-use-rdb-preamble no): a
//!   shard's base, an RDB file (or RESP commands), written by a rewrite ([`rewrite`]).
//! - `<appendfilename>.s<shard>.<seq>.incr.aof`: an increment. SELECT precedes a record whose
//!   database differs from the previous record's.
//!
//! A shard's files apply in manifest order: its base (if any), then its increments by seq. The
//! shard appends to its last increment.
//!
//! Durability: a shard writes its pending records to its segment before any reply that
//! depends on them leaves (connection replies, replies to forwarded commands, and the
//! coordinator's replies after it wrote the held shards' records). With `appendfsync always`
//! the write is followed by fdatasync before the reply; with `everysec` a plain thread
//! ([`spawn_fsync_thread`]) fsyncs every segment once a second; with `no` the kernel decides.
//! A kill -9 loses nothing acknowledged in any mode (the records are in the kernel); a machine
//! crash loses at most the last second with `everysec`.
//!
//! Space ahead: a segment writes zeros [`RESERVE`] bytes at a time past its last record, and
//! its records over them (positional writes at the segment's logical size). A write that
//! allocates page cache costs per page, and a small write gets small pages: a loop turn's
//! ~7 KB of records cost 640 us per MB written into fresh space, 260 into space reserved in
//! 256 KiB writes (ext4, kernel 6.18, deleting the file included). So a segment's file can end
//! in zeros: a clean shutdown, a rewrite's switch and CONFIG SET appendonly no trim them
//! ([`Segment::trim`]); after a kill or a crash the loader trims them, with a warning
//! ([`load::scan`] reads up to the last byte that is not zero: a record never ends in one).

pub mod check;
pub mod load;
pub mod rewrite;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shards::effects::{encode_into, Effects, NO_DB};

use crate::config::Config;
use crate::server::Server;

/// One shard's open segment.
pub struct Segment {
    file: File,
    pub path: PathBuf,
    /// The database of the last record written (SELECT is written when it changes).
    selected_db: Option<usize>,
    /// Bytes encoded but not yet written (kept across a failed write, to retry).
    pending: Vec<u8>,
    /// Bytes of records in the segment file (where the next one goes).
    pub size: u64,
    /// Where the zeros written ahead end (the file's length, unless a write failed).
    reserved: u64,
    /// No more zeros ahead (the server is stopping).
    closing: bool,
    /// The segment's seq in the manifest.
    pub seq: u64,
    /// The last write or fsync failed; writes are retried on every flush.
    pub failing: bool,
    /// With everysec, when the write was first put off because an fsync was in progress (ms;
    /// 0: not put off). Redis's aof_flush_postponed_start.
    pub postponed_since: i64,
}

impl Segment {
    pub fn open(path: &Path, seq: u64) -> std::io::Result<Segment> {
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(path)?;
        let size = file.metadata()?.len();
        Ok(Segment {
            file,
            path: path.to_path_buf(),
            selected_db: None,
            pending: Vec::new(),
            size,
            reserved: size,
            closing: false,
            seq,
            failing: false,
            postponed_since: 0,
        })
    }

    /// The segment's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends from `end` on: where the records in the file end as a reader found them
    /// (DEBUG LOADAOF; nothing is pending then).
    pub fn continue_at(&mut self, end: u64) {
        self.size = end;
        self.reserved = self.file.metadata().map_or(end, |m| m.len()).max(end);
    }

    /// Cuts the zeros written ahead, so the file ends with its last record, and writes no more
    /// of them (at shutdown, or when the shard leaves this segment).
    pub fn trim(&mut self) {
        self.closing = true;
        if self.reserved > self.size {
            match self.file.set_len(self.size) {
                Ok(()) => self.reserved = self.size,
                Err(e) => tracing::warn!("Can't trim the space reserved past the last record of {}: {e}", self.path.display()),
            }
        }
    }

    /// Writes `buf` at the end of the records: first, when it would pass the zeros written
    /// ahead, more of them up to the next [`RESERVE`] boundary (a write of that size or more
    /// goes without). Reserving is best effort: when it fails (disk full) the records are
    /// written all the same, and only their own write can fail.
    fn write_records(&mut self, buf: &[u8]) -> (usize, std::io::Result<()>) {
        let end = self.size + buf.len() as u64;
        if end > self.reserved && !self.closing && (buf.len() as u64) < RESERVE {
            let to = end.next_multiple_of(RESERVE);
            while self.reserved < to {
                let zeros = &ZEROS[..(to - self.reserved).min(RESERVE) as usize];
                let (n, res) = write_all_at(&self.file, zeros, self.reserved);
                self.reserved += n as u64;
                if res.is_err() {
                    break;
                }
            }
        }
        let (done, res) = write_all_at(&self.file, buf, self.size);
        self.size += done as u64;
        self.reserved = self.reserved.max(self.size);
        (done, res)
    }

    /// A handle to the same file, for the fsync thread.
    pub fn sync_handle(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Encodes records for writing, with SELECT where the database changes.
    pub fn append(&mut self, e: &Effects) {
        for (db, bytes) in e.iter() {
            if let Some(db) = db {
                if self.selected_db != Some(db) {
                    let mut ib = itoa::Buffer::new();
                    encode_into(&mut self.pending, 2, [&b"SELECT"[..], ib.format(db).as_bytes()].into_iter());
                    self.selected_db = Some(db);
                }
            }
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Writes taken effects (then fdatasyncs if `sync`): straight from their buffer when
    /// nothing is pending and no record needs a SELECT first (the common case: one copy, into
    /// the page cache), else through [`Segment::append`] and [`Segment::write_out`]. On error
    /// the unwritten bytes stay pending, as with `write_out`.
    pub fn write_effects(&mut self, e: &Effects, sync: bool) -> std::io::Result<()> {
        let same_db = e.recs.iter().all(|r| r.db == NO_DB || Some(r.db as usize) == self.selected_db);
        if !self.pending.is_empty() || !same_db {
            self.append(e);
            return self.write_out(sync);
        }
        let (done, res) = self.write_records(&e.buf);
        if res.is_err() {
            self.pending.extend_from_slice(&e.buf[done..]);
        }
        res?;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes what is pending, then fdatasyncs if `sync`. On error the unwritten bytes stay
    /// pending for the next attempt.
    pub fn write_out(&mut self, sync: bool) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let (done, res) = self.write_records(&pending);
            self.pending = pending;
            self.pending.drain(..done);
            res?;
        }
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

/// Zeros written ahead of a segment's records, this many bytes at a time (aligned).
pub const RESERVE: u64 = 256 << 10;
static ZEROS: [u8; RESERVE as usize] = [0; RESERVE as usize];

/// Writes all of `buf` at `offset`, retrying short writes and EINTR: how many bytes went out,
/// and the error that stopped it if any.
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> (usize, std::io::Result<()>) {
    use std::os::unix::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        match file.write_at(&buf[done..], offset + done as u64) {
            Ok(0) => return (done, Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write"))),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// The AOF directory of a configuration.
pub fn aof_dir(cfg: &Config) -> PathBuf {
    Path::new(&cfg.dir).join(&cfg.appenddirname)
}

pub fn manifest_path(cfg: &Config) -> PathBuf {
    aof_dir(cfg).join(format!("{}.manifest", cfg.appendfilename))
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: String,
    pub seq: u64,
    pub kind: char,
    pub shard: usize,
}

/// The kinds of file a shard has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Incr,
    BaseRdb,
    BaseAof,
}

impl ManifestFile {
    /// A base written as RDB (the others are RESP command logs).
    pub fn is_rdb(&self) -> bool {
        self.kind == 'b' && self.name.ends_with(".rdb")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub shards: usize,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn new_for(cfg: &Config, shards: usize) -> Manifest {
        let files = (0..shards).map(|s| ManifestFile { name: format!("{}.s{s}.1.incr.aof", cfg.appendfilename), seq: 1, kind: 'i', shard: s }).collect();
        Manifest { shards, files }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Manifest, String> {
        let mut shards = None;
        let mut files = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("Invalid AOF manifest file format: {} line {}: '{line}'", path.display(), i + 1);
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            match words.as_slice() {
                ["shards", n] => shards = Some(n.parse().map_err(|_| bad())?),
                ["file", name, rest @ ..] => {
                    let mut f = ManifestFile { name: name.to_string(), seq: 0, kind: 'i', shard: usize::MAX };
                    for kv in rest.chunks(2) {
                        match kv {
                            ["seq", v] => f.seq = v.parse().map_err(|_| bad())?,
                            ["type", v] => f.kind = v.chars().next().ok_or_else(bad)?,
                            ["shard", v] => f.shard = v.parse().map_err(|_| bad())?,
                            _ => return Err(bad()),
                        }
                    }
                    if f.shard == usize::MAX || f.name.contains('/') {
                        return Err(bad());
                    }
                    files.push(f);
                }
                _ => return Err(bad()),
            }
        }
        let shards = shards.ok_or_else(|| format!("Invalid AOF manifest file format: {}: no 'shards' line", path.display()))?;
        if files.iter().any(|f| f.shard >= shards) {
            return Err(format!("Invalid AOF manifest file format: {}: a file names a shard >= {shards}", path.display()));
        }
        Ok(Manifest { shards, files })
    }

    pub fn render(&self) -> String {
        let mut s = String::from("# shardis append-only manifest: the segments of each shard, applied in seq order.\n");
        s.push_str(&format!("shards {}\n", self.shards));
        for f in &self.files {
            s.push_str(&format!("file {} seq {} type {} shard {}\n", f.name, f.seq, f.kind, f.shard));
        }
        s
    }

    /// The segment files of one shard, in the order they apply.
    pub fn files_of(&self, shard: usize) -> Vec<&ManifestFile> {
        let mut v: Vec<&ManifestFile> = self.files.iter().filter(|f| f.shard == shard).collect();
        v.sort_by_key(|f| (f.kind != 'b', f.seq));
        v
    }

    /// The seq after every file of `shard`.
    pub fn next_seq(&self, shard: usize) -> u64 {
        self.files.iter().filter(|f| f.shard == shard).map(|f| f.seq).max().unwrap_or(0) + 1
    }

    /// The name of a shard's file: `<appendfilename>.s<shard>.<seq>.incr.aof`, or
    /// `.base.rdb` / `.base.aof` for a base.
    pub fn file_name(appendfilename: &str, shard: usize, seq: u64, kind: FileKind) -> String {
        let suffix = match kind {
            FileKind::Incr => "incr.aof",
            FileKind::BaseRdb => "base.rdb",
            FileKind::BaseAof => "base.aof",
        };
        format!("{appendfilename}.s{shard}.{seq}.{suffix}")
    }

    /// Writes the manifest durably: a temporary file, fsync, rename, fsync of the directory.
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("manifest.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Files the fsync thread syncs once a second (everysec), one slot per shard.
#[derive(Default)]
pub struct SyncFiles {
    /// Per shard: the segment it appends to, and during a rewrite's switch also the next one.
    files: Mutex<Vec<Vec<File>>>,
}

impl SyncFiles {
    /// The file of `shard` (None: the shard has no segment).
    pub fn set_shard(&self, shard: usize, file: Option<File>) {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() <= shard {
            files.resize_with(shard + 1, Vec::new);
        }
        files[shard] = file.into_iter().collect();
    }

    /// Adds the segment `shard` is about to switch to, keeping the one it appends to now
    /// (both are fsynced until the next switch: until the shard switches, its records still go
    /// to the older one). For the rewrite's preparation, off the shard thread: this waits for
    /// a running fsync.
    pub fn add_next(&self, shard: usize, file: File) {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() <= shard {
            files.resize_with(shard + 1, Vec::new);
        }
        let v = &mut files[shard];
        let keep = v.len().saturating_sub(1);
        v.drain(..keep);
        v.push(file);
    }

    /// fsyncs every segment; the error of the first that failed.
    pub fn sync_all(&self) -> std::io::Result<()> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let mut first_err = None;
        for f in files.iter().flatten() {
            if let Err(e) = f.sync_data() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Per shard: the sizes INFO and the auto rewrite read, kept up to date by the shard (at a
/// rewrite's switch) and by the rewrite's finisher.
#[derive(Default)]
pub struct ShardFiles {
    /// Bytes of the shard's files other than the increment it appends to.
    pub older_bytes: AtomicU64,
    /// The shard's AOF size after its last rewrite (at startup: after loading). INFO
    /// aof_base_size, and the base of auto-aof-rewrite-percentage.
    pub base_size: AtomicU64,
}

/// Loading progress (INFO loading_*).
#[derive(Default)]
pub struct LoadProgress {
    pub start_unix: AtomicI64,
    pub start_ms: AtomicI64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
    /// used-mem of an RDB base being loaded.
    pub rdb_used_mem: AtomicU64,
}

/// AOF state shared by the shards, rewrite finishers, the fsync thread and INFO.
pub struct AofShared {
    /// The manifest as last stored; every change holds this lock from reading it to storing it
    /// (shards rewrite independently and the manifest is one file).
    pub manifest: Mutex<Option<Manifest>>,
    pub shards: Vec<ShardFiles>,
    pub rewrite: rewrite::RewriteState,
    pub load: LoadProgress,
    /// The everysec fsync is running (writes may be put off, as Redis's flushAppendOnlyFile).
    pub fsync_in_progress: AtomicBool,
    /// When the running everysec fsync started (Unix ms; 0 when none runs).
    pub fsync_started_ms: std::sync::atomic::AtomicI64,
    /// Writes done without waiting for a slow fsync (INFO aof_delayed_fsync).
    pub delayed_fsync: AtomicU64,
}

impl AofShared {
    pub fn new(nshards: usize) -> AofShared {
        AofShared {
            manifest: Mutex::new(None),
            shards: (0..nshards).map(|_| ShardFiles::default()).collect(),
            rewrite: rewrite::RewriteState::default(),
            load: LoadProgress::default(),
            fsync_in_progress: AtomicBool::new(false),
            fsync_started_ms: std::sync::atomic::AtomicI64::new(0),
            delayed_fsync: AtomicU64::new(0),
        }
    }

    /// The manifest: the one in memory, else the one on disk, else a new empty one.
    fn current(held: &Option<Manifest>, cfg: &Config, nshards: usize) -> Result<Manifest, String> {
        let mpath = manifest_path(cfg);
        let m = match held {
            Some(m) => m.clone(),
            None => match std::fs::read_to_string(&mpath) {
                Ok(text) => Manifest::parse(&text, &mpath)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest { shards: nshards, files: Vec::new() },
                Err(e) => return Err(format!("Can't read the AOF manifest {}: {e}", mpath.display())),
            },
        };
        if m.shards != nshards {
            return Err(format!("The AOF manifest {} was written by {} shards; this server has {nshards}", mpath.display(), m.shards));
        }
        Ok(m)
    }

    /// A copy of the manifest as it stands.
    pub fn manifest_now(&self, cfg: &Config, nshards: usize) -> Result<Manifest, String> {
        let guard = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        Self::current(&guard, cfg, nshards)
    }

    /// Applies `change` to the manifest and stores it durably; the in-memory manifest changes
    /// only if that worked.
    pub fn update_manifest(&self, cfg: &Config, nshards: usize, change: impl FnOnce(&mut Manifest)) -> Result<(), String> {
        let mut guard = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let mut m = Self::current(&guard, cfg, nshards)?;
        change(&mut m);
        let dir = aof_dir(cfg);
        std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create the append-only dir {}: {e}", dir.display()))?;
        let mpath = manifest_path(cfg);
        m.store(&mpath).map_err(|e| format!("Can't write the AOF manifest {}: {e}", mpath.display()))?;
        *guard = Some(m);
        Ok(())
    }
}

/// The `everysec` fsync: a plain thread, so a slow disk never stalls a shard.
pub fn spawn_fsync_thread(server: Arc<Server>) -> std::io::Result<()> {
    let test_delay = std::env::var("SHARDIS_TEST_FSYNC_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok());
    std::thread::Builder::new().name("aof-fsync".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if server.hot().appendfsync_always {
            continue;
        }
        {
            let cfg = server.config();
            if !cfg.appendonly || cfg.appendfsync == crate::config::AppendFsync::No {
                continue;
            }
        }
        server.aof.fsync_started_ms.store(shards::keyspace::wall_clock_ms(), Relaxed);
        server.aof.fsync_in_progress.store(true, Relaxed);
        if let Some(ms) = test_delay {
            // Test hook: a disk whose fsync takes this long.
            std::thread::sleep(Duration::from_millis(ms));
        }
        let res = server.aof_sync.sync_all();
        server.aof.fsync_in_progress.store(false, Relaxed);
        server.aof.fsync_started_ms.store(0, Relaxed);
        match res {
            Ok(()) => server.aof_last_fsync_ok.store(true, Relaxed),
            Err(e) => {
                if server.aof_last_fsync_ok.swap(false, Relaxed) {
                    tracing::warn!("Fsync of the append only file failed: {e}");
                }
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_damage() {
        let cfg = Config::default();
        let m = Manifest::new_for(&cfg, 3);
        let text = m.render();
        assert!(text.contains("file appendonly.aof.s2.1.incr.aof seq 1 type i shard 2"), "{text}");
        assert_eq!(Manifest::parse(&text, Path::new("m")).unwrap(), m);
        assert_eq!(m.files_of(1)[0].name, "appendonly.aof.s1.1.incr.aof");
        for bad in
            ["shards x\n", "file a seq 1 type i\nshards 1\n", "shards 1\nfile a seq 1 type i shard 4\n", "shards 1\nbogus\n", "file a seq 1 type i shard 0\n"]
        {
            let err = Manifest::parse(bad, Path::new("/d/m")).unwrap_err();
            assert!(err.contains("/d/m"), "{err}");
        }
    }

    #[test]
    fn segments_select_databases_as_records_change_them() {
        let dir = std::env::temp_dir().join(format!("shardis-seg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.aof");
        let _ = std::fs::remove_file(&path);
        let mut seg = Segment::open(&path, 1).unwrap();
        let mut log = shards::effects::EffectLog::default();
        log.set_enabled(true);
        log.push(0, &[b"SET", b"a", b"1"]);
        log.push(0, &[b"SET", b"b", b"2"]);
        log.push(5, &[b"DEL", b"a"]);
        let m = log.mark();
        log.push(5, &[b"SET", b"c", b"3"]);
        log.push(0, &[b"SET", b"d", b"4"]);
        log.group_since(m, None);
        seg.append(&log.take());
        seg.write_out(true).unwrap();
        // Zeros reserved ahead of the records, until the segment is trimmed.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), RESERVE);
        seg.trim();
        let text = std::fs::read_to_string(&path).unwrap();
        let words: Vec<&str> = text.split("\r\n").filter(|w| !w.starts_with('*') && !w.starts_with('$') && !w.is_empty()).collect();
        assert_eq!(words.join(" "), "SELECT 0 SET a 1 SET b 2 SELECT 5 DEL a MULTI SET c 3 SELECT 0 SET d 4 EXEC");
        assert_eq!(seg.size, text.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
