//! The append-only file: one segment per shard, each a RESP command log of that shard's
//! effects (see [`shards::effects`] for the records and their grouping), and a manifest that
//! names the segments.
//!
//! Layout, in `dir/appenddirname/`:
//! - `<appendfilename>.manifest`: a text file, one line per segment file:
//!   `file <name> seq <n> type i shard <s>`, after a `shards <n>` line. It is written to a
//!   temporary name, fsynced, and renamed, so a reader sees the old manifest or the new one.
//! - `<appendfilename>.s<shard>.<seq>.incr.aof`: a segment. SELECT precedes a record whose
//!   database differs from the previous record's.
//!
//! Durability: a shard writes its pending records to its segment before any reply that
//! depends on them leaves (connection replies, replies to forwarded commands, and the
//! coordinator's replies after it wrote the held shards' records). With `appendfsync always`
//! the write is followed by fdatasync before the reply; with `everysec` a plain thread
//! ([`spawn_fsync_thread`]) fsyncs every segment once a second; with `no` the kernel decides.
//! A kill -9 loses nothing acknowledged in any mode (the records are in the kernel); a machine
//! crash loses at most the last second with `everysec`.

pub mod check;
pub mod load;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shards::effects::{encode_into, Effects};

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
    /// Bytes in the segment file.
    pub size: u64,
    /// Size when the server started (INFO aof_base_size until rewrites exist).
    pub base_size: u64,
    /// The last write or fsync failed; writes are retried on every flush.
    pub failing: bool,
}

impl Segment {
    pub fn open(path: &Path) -> std::io::Result<Segment> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Segment { file, path: path.to_path_buf(), selected_db: None, pending: Vec::new(), size, base_size: size, failing: false })
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
            let mut done = 0;
            let res = loop {
                match self.file.write(&self.pending[done..]) {
                    Ok(0) => break Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write")),
                    Ok(n) => {
                        done += n;
                        if done == self.pending.len() {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            self.size += done as u64;
            self.pending.drain(..done);
            res?;
        }
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }
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

/// Files the fsync thread syncs once a second (everysec), one per shard.
#[derive(Default)]
pub struct SyncFiles {
    files: Mutex<Vec<File>>,
}

impl SyncFiles {
    pub fn set(&self, files: Vec<File>) {
        *self.files.lock().unwrap_or_else(|p| p.into_inner()) = files;
    }

    /// fsyncs every segment; the error of the first that failed.
    pub fn sync_all(&self) -> std::io::Result<()> {
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let mut first_err = None;
        for f in files.iter() {
            if let Err(e) = f.sync_data() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// The `everysec` fsync: a plain thread, so a slow disk never stalls a shard.
pub fn spawn_fsync_thread(server: Arc<Server>) -> std::io::Result<()> {
    std::thread::Builder::new().name("aof-fsync".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if server.hot().appendfsync_always {
            continue;
        }
        if server.config().appendfsync == crate::config::AppendFsync::No {
            continue;
        }
        match server.aof_sync.sync_all() {
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

/// Opens the AOF (creating it on first use) and loads it into one core per shard, every shard
/// in parallel. Without `appendonly`, fresh cores. Errors are the startup failure's message.
pub fn open_and_load(server: &Server, nshards: usize) -> Result<Vec<crate::shard::ShardCore>, String> {
    use crate::shard::ShardCore;
    let cfg = server.config().clone();
    let mut cores: Vec<ShardCore> = (0..nshards).map(|i| ShardCore::new(i, cfg.databases)).collect();
    if !cfg.appendonly {
        return Ok(cores);
    }
    let dir = aof_dir(&cfg);
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't open or create append-only dir {}: {e}", dir.display()))?;
    let mpath = manifest_path(&cfg);
    let manifest = match std::fs::read_to_string(&mpath) {
        Ok(text) => Manifest::parse(&text, &mpath)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let m = Manifest::new_for(&cfg, nshards);
            m.store(&mpath).map_err(|e| format!("Can't write the AOF manifest {}: {e}", mpath.display()))?;
            tracing::info!("Creating AOF incr files in {} ({} shards)", dir.display(), nshards);
            m
        }
        Err(e) => return Err(format!("Can't read the AOF manifest {}: {e}", mpath.display())),
    };
    if manifest.shards != nshards {
        return Err(format!(
            "The append only file in {} was written by {} shards; this server has {nshards}. Start it with --shards {} to load it.",
            dir.display(),
            manifest.shards,
            manifest.shards
        ));
    }
    let started = std::time::Instant::now();
    let total: u64 = manifest.files.iter().map(|f| std::fs::metadata(dir.join(&f.name)).map(|m| m.len()).unwrap_or(0)).sum();
    let loaded = std::sync::atomic::AtomicU64::new(0);
    server.loading.store(true, Relaxed);
    // Pass 1 on every shard at once: find damage and whole units.
    let scans: Vec<Result<Vec<(PathBuf, load::Scan)>, String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..nshards)
            .map(|shard| {
                let files: Vec<PathBuf> = manifest.files_of(shard).iter().map(|f| dir.join(&f.name)).collect();
                let loaded = &loaded;
                let truncate_ok = cfg.aof_load_truncated;
                sc.spawn(move || -> Result<Vec<(PathBuf, load::Scan)>, String> {
                    let mut out = Vec::new();
                    let last = files.len().saturating_sub(1);
                    for (i, path) in files.iter().enumerate() {
                        if !path.exists() {
                            if i == last {
                                // A segment created by the manifest but never written.
                                File::create(path).map_err(|e| format!("Can't create {}: {e}", path.display()))?;
                            } else {
                                return Err(format!("The AOF file {} named in the manifest is missing", path.display()));
                            }
                        }
                        let mut seen = 0;
                        let s = load::scan(path, |n| {
                            loaded.fetch_add(n - seen, Relaxed);
                            seen = n;
                        })
                        .map_err(|e| format!("Can't read the append only file {}: {e}", path.display()))?;
                        if let Some((off, what)) = &s.corrupt {
                            return Err(load::corrupt_message(path, *off, what));
                        }
                        if s.truncated {
                            if i != last || !truncate_ok {
                                return Err(format!(
                                    "Unexpected end of file reading the append only file {} at offset {}. You can: 1) make a backup of your AOF file, then use 'shardis check-aof --fix {}'; 2) set 'aof-load-truncated yes' in the configuration and restart the server.",
                                    path.display(),
                                    s.valid_len,
                                    path.display()
                                ));
                            }
                            tracing::warn!(
                                "!!! Warning: short read while loading the AOF file {}!!! AOF loaded anyway because aof-load-truncated is enabled; truncating it from {} to {} bytes",
                                path.display(),
                                s.file_len,
                                s.valid_len
                            );
                            let f = OpenOptions::new().write(true).open(path).map_err(|e| format!("Can't open {} to truncate it: {e}", path.display()))?;
                            f.set_len(s.valid_len).and_then(|_| f.sync_all()).map_err(|e| format!("Error truncating the AOF file {}: {e}", path.display()))?;
                        }
                        out.push((path.clone(), s));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("AOF scan thread panicked".into()))).collect()
    });
    let mut per_shard = Vec::with_capacity(nshards);
    for s in scans {
        per_shard.push(s?);
    }
    // A unit applies only if every shard it spans holds it whole.
    let mut seen: std::collections::HashMap<u64, (usize, usize)> = std::collections::HashMap::new();
    for files in &per_shard {
        for (_, s) in files {
            for (&id, &n) in &s.units {
                seen.entry(id).or_insert((n, 0)).1 += 1;
            }
        }
    }
    let complete = |id: u64| seen.get(&id).is_some_and(|&(n, have)| have >= n);
    // Pass 2 on every shard at once.
    let results: Vec<Result<load::Replayed, String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = cores
            .iter_mut()
            .zip(&per_shard)
            .map(|(core, files)| {
                let complete = &complete;
                sc.spawn(move || -> Result<load::Replayed, String> {
                    core.engine.set_now(shards::keyspace::wall_clock_ms());
                    let mut total = load::Replayed::default();
                    for (path, s) in files {
                        let r = load::replay(server, core, path, s.valid_len, complete)?;
                        total.commands += r.commands;
                        total.failed += r.failed;
                        total.units_skipped += r.units_skipped;
                    }
                    Ok(total)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("AOF replay thread panicked".into()))).collect()
    });
    let mut commands = 0;
    let mut skipped = 0;
    for r in results {
        let r = r?;
        commands += r.commands;
        skipped += r.units_skipped;
    }
    if skipped > 0 {
        tracing::warn!("{skipped} multi-shard unit(s) at the end of the AOF were written on some shards only (a crash while writing them); none of their parts was applied");
    }
    // Open each shard's last segment for appending; the fsync thread gets a handle to each.
    let mut handles = Vec::new();
    for (shard, core) in cores.iter_mut().enumerate() {
        let files = manifest.files_of(shard);
        let last = files.last().ok_or_else(|| format!("The AOF manifest {} has no file for shard {shard}", mpath.display()))?;
        let seg = Segment::open(&dir.join(&last.name)).map_err(|e| format!("Can't open the append only file {}: {e}", dir.join(&last.name).display()))?;
        handles.push(seg.sync_handle().map_err(|e| format!("Can't open the append only file {}: {e}", seg.path.display()))?);
        core.aof = Some(seg);
        core.engine.effects.set_enabled(true);
    }
    server.aof_sync.set(handles);
    server.loading.store(false, Relaxed);
    let keys: usize = cores.iter().map(|c| c.engine.key_count()).sum();
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds ({commands} commands, {keys} keys, {total} bytes, {nshards} segments)",
        started.elapsed().as_secs_f64()
    );
    Ok(cores)
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
        let mut seg = Segment::open(&path).unwrap();
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
        let text = std::fs::read_to_string(&path).unwrap();
        let words: Vec<&str> = text.split("\r\n").filter(|w| !w.starts_with('*') && !w.starts_with('$') && !w.is_empty()).collect();
        assert_eq!(words.join(" "), "SELECT 0 SET a 1 SET b 2 SELECT 5 DEL a MULTI SET c 3 SELECT 0 SET d 4 EXEC");
        assert_eq!(seg.size, text.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
