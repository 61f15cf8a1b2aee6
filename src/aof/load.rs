//! Loading the dataset at startup: every shard's AOF files are checked, then replayed, in
//! parallel (or, without the AOF, the snapshot hook [`load_snapshot`] runs). Boot runs this
//! after the shards serve: clients get -LOADING meanwhile, and INFO shows the progress kept in
//! [`crate::aof::LoadProgress`].
//!
//! A shard's base, when it is an RDB file, is read with [`shards::rdb::load`]; RESP bases and
//! increments go through the two passes below.
//!
//! Pass 1 ([`scan`]) reads a segment to the end without applying anything: it finds where the
//! valid records end, whether the tail is cut short (a record, or a MULTI group, that the end
//! of the file interrupts) or damaged (bytes that are not a record: startup stops with the
//! file, the offset and the repair command), and which multi-shard units the segment holds
//! whole. Pass 2 ([`replay`]) applies the records to the shard, a group only once its EXEC is
//! read, and a unit spanning shards only if every shard's segment holds it whole: a crash
//! that wrote one shard's part but not another's leaves none of it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use super::{aof_dir, manifest_path, FileKind, Manifest, Segment};

use crate::command::Handler;
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::Args;
use crate::protocol::Reply;
use crate::server::Server;
use crate::shard::ShardCore;

/// Most bytes one argument may claim (Redis's proto-max-bulk-len ceiling).
const MAX_ARG: usize = 512 * 1024 * 1024;
/// Most arguments one record may claim.
const MAX_ARGS: usize = 1 << 24;

/// What reading one record found.
enum Read1 {
    /// A whole record: [`RecordReader::args`] holds its arguments until the next read.
    Record,
    /// Clean end of file, at a record boundary.
    End,
    /// The file ends inside a record.
    Cut,
    /// Bytes that cannot be a record.
    Bad(String),
}

/// Bytes a reader asks the file for at a time (more only for a record that does not fit).
const CHUNK: usize = 1 << 20;

/// Reads RESP multibulk records, counting bytes. Each record is parsed where it lies in the
/// reader's buffer, refilled a chunk at a time, and its arguments are handed out from there:
/// no allocation or copy per record (both passes read every byte of a segment; reading a line
/// and an argument at a time into fresh vectors took 40% of a replay).
///
/// What counts as a record, a cut one or damage (and the messages) is the same whatever the
/// chunk boundaries: a line is at most 64 bytes, `*` or `$` then a count (what `usize`'s
/// `FromStr` takes) then CRLF; a bulk is followed by CRLF.
pub struct RecordReader<R> {
    r: R,
    buf: Vec<u8>,
    /// Bytes not handed out yet: `buf[pos..end]` (the batch's records first).
    pos: usize,
    end: usize,
    /// The file has nothing after `buf[..end]`.
    eof: bool,
    /// File offset just past the last record read.
    pub offset: u64,
    /// Records parsed ahead (up to [`BATCH`]), `taken` of them handed out; each record's
    /// arguments are its `ranges` ((start, length) from the record's first byte).
    batch: Vec<Rec>,
    taken: usize,
    ranges: Vec<(u32, u32)>,
    /// How reading stops after the batch, when parsing it ran into that.
    stop: Option<Read1>,
    /// A batch was just parsed: [`RecordReader::batch_keys`] has news.
    fresh: bool,
    /// The last record's arguments, copied, when one of its counts was not written the way
    /// Redis writes them (`$03`, `*+2`): [`Args::raw`] trusts a record's bytes to be canonical.
    owned: Option<Vec<Vec<u8>>>,
}

/// Records a reader parses at a time: replay warms the cache for all their keys at once.
const BATCH: usize = shards::keyspace::Shard::PREFETCH_MAX;

/// A record parsed ahead: where its bytes start in the buffer, how many, its arguments (from
/// `first` in the ranges), and whether its counts are written as Redis writes them.
#[derive(Clone, Copy)]
struct Rec {
    start: usize,
    len: usize,
    first: usize,
    argc: usize,
    canonical: bool,
}

impl<R: Read> RecordReader<R> {
    pub fn new(r: R) -> Self {
        Self::with_chunk(r, CHUNK)
    }

    fn with_chunk(r: R, chunk: usize) -> Self {
        RecordReader {
            r,
            buf: vec![0; chunk],
            pos: 0,
            end: 0,
            eof: false,
            offset: 0,
            batch: Vec::with_capacity(BATCH),
            taken: 0,
            ranges: Vec::new(),
            stop: None,
            fresh: false,
            owned: None,
        }
    }

    fn record_args(&self, r: &Rec) -> Args<'_> {
        Args::from_record(&self.buf[r.start..r.start + r.len], &self.ranges[r.first..r.first + r.argc])
    }

    /// The arguments of the record the last [`RecordReader::next`] read.
    fn args(&self) -> Args<'_> {
        match &self.owned {
            Some(owned) => Args::from_owned(owned),
            None => self.record_args(&self.batch[self.taken - 1]),
        }
    }

    /// Once per batch, right after its first record is read: `f` gets the second argument
    /// (the key, for nearly every command a log holds) of each record of the batch.
    fn batch_keys(&mut self, f: impl FnOnce(&[&[u8]])) {
        if !std::mem::take(&mut self.fresh) {
            return;
        }
        let mut keys: [&[u8]; BATCH] = [&[]; BATCH];
        let mut n = 0;
        for r in &self.batch[self.taken - 1..] {
            if r.argc >= 2 {
                let (s, l) = self.ranges[r.first + 1];
                keys[n] = &self.buf[r.start + s as usize..][..l as usize];
                n += 1;
            }
        }
        f(&keys[..n]);
    }

    fn next(&mut self) -> Read1 {
        if self.taken == self.batch.len() {
            if let Some(r) = self.stop.take() {
                return r;
            }
            if let Err(r) = self.parse_batch() {
                return r;
            }
        }
        let r = self.batch[self.taken];
        self.taken += 1;
        self.pos = r.start + r.len;
        self.offset += r.len as u64;
        self.owned = None;
        if !r.canonical {
            let owned = self.record_args(&r).iter().map(<[u8]>::to_vec).collect();
            self.owned = Some(owned);
        }
        Read1::Record
    }

    /// Parses up to [`BATCH`] records from `pos`, reading from the file when not even the
    /// first is whole in the buffer. Err: how reading stops, before any record.
    fn parse_batch(&mut self) -> Result<(), Read1> {
        self.batch.clear();
        self.ranges.clear();
        self.taken = 0;
        let mut at = self.pos;
        while self.batch.len() < BATCH {
            let first = self.ranges.len();
            let mut canonical = true;
            match parse_record(&self.buf[at..self.end], self.eof, &mut self.ranges, &mut canonical) {
                Parsed::Record(len) => {
                    self.batch.push(Rec { start: at, len, first, argc: self.ranges.len() - first, canonical });
                    at += len;
                }
                Parsed::Done(r) if self.batch.is_empty() => return Err(r),
                Parsed::Done(r) => {
                    self.stop = Some(r);
                    break;
                }
                Parsed::More if self.batch.is_empty() => {
                    self.fill().map_err(|e| Read1::Bad(format!("read error: {e}")))?;
                    at = self.pos;
                }
                Parsed::More => break,
            }
        }
        self.fresh = true;
        Ok(())
    }

    /// Moves the unread bytes to the front of the buffer, grows it if they fill it (a record
    /// bigger than a chunk), and reads once more from the file.
    fn fill(&mut self) -> std::io::Result<()> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

/// What parsing the bytes at the front of a reader's buffer found.
enum Parsed {
    /// A whole record of this many bytes.
    Record(usize),
    /// The bytes end inside a record and the file has more.
    More,
    Done(Read1),
}

/// What one header line held.
enum Line {
    /// The count, and where the line ends.
    Num(usize, usize),
    /// No byte at all, at the end of the file.
    Empty,
    More,
    Done(Read1),
}

/// Parses one record from the front of `b` (`eof`: the file ends with `b`), appending each
/// argument's (start, length) in `b` to `ranges` (none unless the record is whole).
/// `canonical` is cleared when a count is not written as Redis writes it.
fn parse_record(b: &[u8], eof: bool, ranges: &mut Vec<(u32, u32)>, canonical: &mut bool) -> Parsed {
    let base = ranges.len();
    let parsed = parse_into(b, eof, ranges, canonical);
    if !matches!(parsed, Parsed::Record(_)) {
        ranges.truncate(base);
    }
    parsed
}

fn parse_into(b: &[u8], eof: bool, ranges: &mut Vec<(u32, u32)>, canonical: &mut bool) -> Parsed {
    let (argc, mut at) = match header(b, 0, b'*', eof, canonical) {
        Line::Num(n, next) => (n, next),
        Line::Empty => return Parsed::Done(Read1::End),
        Line::More => return Parsed::More,
        Line::Done(r) => return Parsed::Done(r),
    };
    if !(1..=MAX_ARGS).contains(&argc) {
        return Parsed::Done(Read1::Bad(format!("invalid argument count {argc}")));
    }
    for _ in 0..argc {
        let (len, data) = match header(b, at, b'$', eof, canonical) {
            Line::Num(n, _) if n > MAX_ARG => return Parsed::Done(Read1::Bad("invalid bulk length".into())),
            Line::Num(n, next) => (n, next),
            Line::Empty => return Parsed::Done(Read1::Cut),
            Line::More => return Parsed::More,
            Line::Done(r) => return Parsed::Done(r),
        };
        let next = data + len + 2;
        if next > b.len() {
            return if eof { Parsed::Done(Read1::Cut) } else { Parsed::More };
        }
        if &b[data + len..next] != b"\r\n" {
            return Parsed::Done(Read1::Bad("a bulk string not followed by CRLF".into()));
        }
        let Ok(start) = u32::try_from(data) else {
            return Parsed::Done(Read1::Bad("a record longer than 4 GiB".into()));
        };
        ranges.push((start, len as u32));
        at = next;
    }
    Parsed::Record(at)
}

/// Reads the header line at `b[at..]`: `tag`, a count, CRLF, at most 64 bytes in all.
fn header(b: &[u8], at: usize, tag: u8, eof: bool, canonical: &mut bool) -> Line {
    const MAX_LINE: usize = 64;
    let window = &b[at..b.len().min(at + MAX_LINE)];
    let Some(nl) = memchr::memchr(b'\n', window) else {
        return if window.len() == MAX_LINE {
            Line::Done(Read1::Bad("a line without CRLF".into()))
        } else if !eof {
            Line::More
        } else if window.is_empty() {
            Line::Empty
        } else {
            Line::Done(Read1::Cut) // a short line at the end of the file
        };
    };
    let line = &window[..=nl];
    if !line.ends_with(b"\r\n") {
        // A short line that ends the file is a cut record; anything else is damage.
        return if line.len() < MAX_LINE && at + line.len() == b.len() {
            if eof {
                Line::Done(Read1::Cut)
            } else {
                Line::More
            }
        } else {
            Line::Done(Read1::Bad("a line without CRLF".into()))
        };
    }
    if line[0] != tag {
        return Line::Done(Read1::Bad(format!("expected '{}', found {:?}", tag as char, String::from_utf8_lossy(&line[..1]))));
    }
    let digits = &line[1..line.len() - 2];
    let fast = (1..=18).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) && (digits[0] != b'0' || digits.len() == 1);
    if fast {
        let n = digits.iter().fold(0usize, |n, &d| n * 10 + (d - b'0') as usize);
        return Line::Num(n, at + line.len());
    }
    *canonical = false;
    match std::str::from_utf8(digits).ok().and_then(|s| s.parse::<usize>().ok()) {
        Some(n) => Line::Num(n, at + line.len()),
        None => Line::Done(Read1::Bad(format!("invalid count {:?}", String::from_utf8_lossy(digits)))),
    }
}

fn is(args: &Args, name: &str) -> bool {
    args.get(0).eq_ignore_ascii_case(name.as_bytes())
}

/// A multi-shard unit's id and shard count, from `MULTI <unit> <shards>`.
fn unit_of(args: &Args) -> Option<(u64, usize)> {
    if args.len() != 3 {
        return None;
    }
    let id = std::str::from_utf8(args.get(1)).ok()?.parse().ok()?;
    let n = std::str::from_utf8(args.get(2)).ok()?.parse().ok()?;
    Some((id, n))
}

/// A multi-shard unit: its id and how many shards it spans.
type Unit = (u64, usize);
/// A command's arguments.
type Command = Vec<Vec<u8>>;

/// What pass 1 found in one segment file.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// Bytes of whole records (and whole groups) from the start.
    pub valid_len: u64,
    pub file_len: u64,
    /// Zero bytes at the end of the file, past its last byte that is not zero: space a server
    /// reserved ahead of its writes and did not trim (it was killed, or the machine crashed).
    /// Not read as records.
    pub zero_tail: u64,
    /// The file ends inside a record or a group (the rest after valid_len is that cut part).
    pub truncated: bool,
    /// Damage: the offset of the first byte that is not a record, and what was wrong.
    pub corrupt: Option<(u64, String)>,
    pub records: u64,
    /// Multi-shard units held whole: id -> shard count.
    pub units: HashMap<u64, usize>,
}

/// Pass 1 over a segment file. `progress` is called with bytes read so far.
pub fn scan(path: &Path, mut progress: impl FnMut(u64)) -> std::io::Result<Scan> {
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let content = content_len(&f, file_len)?;
    let mut rr = RecordReader::new(f.take(content));
    let mut s = Scan { file_len, zero_tail: file_len - content, ..Scan::default() };
    // Inside a group: where it started, and its unit.
    let mut group: Option<(u64, Option<(u64, usize)>)> = None;
    loop {
        let start = rr.offset;
        match rr.next() {
            Read1::Record => {
                let args = rr.args();
                s.records += 1;
                if s.records.is_multiple_of(65536) {
                    progress(rr.offset);
                }
                if is(&args, "MULTI") {
                    if group.is_some() {
                        s.corrupt = Some((start, "MULTI inside MULTI".into()));
                        return Ok(s);
                    }
                    group = Some((start, unit_of(&args)));
                } else if is(&args, "EXEC") {
                    match group.take() {
                        Some((_, unit)) => {
                            if let Some((id, n)) = unit {
                                s.units.insert(id, n);
                            }
                            s.valid_len = rr.offset;
                        }
                        None => {
                            s.corrupt = Some((start, "EXEC without MULTI".into()));
                            return Ok(s);
                        }
                    }
                } else if group.is_none() {
                    s.valid_len = rr.offset;
                }
            }
            Read1::End => {
                s.truncated = group.is_some();
                break;
            }
            Read1::Cut => {
                s.truncated = true;
                break;
            }
            Read1::Bad(what) => {
                s.corrupt = Some((start, what));
                break;
            }
        }
    }
    progress(file_len);
    Ok(s)
}

/// The bytes of records in the AOF file at `path`: its length without a zero tail.
pub fn records_len(path: &Path) -> std::io::Result<u64> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    content_len(&f, len)
}

/// The length of `f` up to its last byte that is not zero (see [`Scan::zero_tail`]), read
/// backwards from the end.
fn content_len(f: &File, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 16];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// What pass 2 did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replayed {
    pub commands: u64,
    pub failed: u64,
    /// Multi-shard units left out because another shard's segment lacks them.
    pub units_skipped: u64,
}

/// Pass 2: applies a segment's first `valid_len` bytes to `core`. `complete(unit)` says whether
/// every shard's segment holds that unit whole.
/// `progress` is told how many more bytes were applied, every megabyte or so; `delay_us` is
/// slept after each command (Redis's key-load-delay, for tests of loading).
pub fn replay(
    server: &Server,
    core: &mut ShardCore,
    path: &Path,
    valid_len: u64,
    complete: &dyn Fn(u64) -> bool,
    progress: &dyn Fn(u64),
    delay_us: u64,
) -> Result<Replayed, String> {
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut rr = RecordReader::new(f.take(valid_len));
    let mut out = Replayed::default();
    let mut reported = 0;
    let mut db = 0usize;
    // An open group: its unit, and the commands read so far.
    let mut group: Option<(Option<Unit>, Vec<Command>)> = None;
    let mut reply = Reply::new(false);
    loop {
        let start = rr.offset;
        match rr.next() {
            Read1::Record => {}
            Read1::End => break,
            Read1::Cut | Read1::Bad(_) => return Err(format!("{}: unreadable record at offset {start} on the second pass", path.display())),
        }
        rr.batch_keys(|keys| core.engine.prefetch(db, keys));
        let args = rr.args();
        if rr.offset - reported >= 1 << 20 {
            progress(rr.offset - reported);
            reported = rr.offset;
        }
        if delay_us > 0 {
            std::thread::sleep(Duration::from_micros(delay_us));
        }
        if is(&args, "MULTI") {
            group = Some((unit_of(&args), Vec::new()));
            continue;
        }
        if is(&args, "EXEC") {
            if let Some((unit, cmds)) = group.take() {
                if unit.is_none_or(|(id, _)| complete(id)) {
                    for a in cmds {
                        apply(server, core, &mut db, &Args::from_owned(&a), &mut reply, &mut out, path, start)?;
                    }
                } else {
                    out.units_skipped += 1;
                }
            }
            continue;
        }
        match &mut group {
            Some((_, cmds)) => cmds.push(args.iter().map(<[u8]>::to_vec).collect()),
            None => apply(server, core, &mut db, &args, &mut reply, &mut out, path, start)?,
        }
    }
    progress(rr.offset - reported);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    server: &Server,
    core: &mut ShardCore,
    db: &mut usize,
    args: &Args,
    reply: &mut Reply,
    out: &mut Replayed,
    path: &Path,
    offset: u64,
) -> Result<(), String> {
    if is(args, "SELECT") {
        let d = (args.len() > 1).then(|| args.get(1)).and_then(|a| std::str::from_utf8(a).ok()).and_then(|s| s.parse::<usize>().ok());
        match d {
            Some(d) if d < server.databases => *db = d,
            _ => return Err(format!("{}: invalid SELECT at offset {offset} (databases: {})", path.display(), server.databases)),
        }
        return Ok(());
    }
    let Some((id, spec)) = crate::command::resolve(args) else {
        return Err(format!("Unknown command '{}' reading the append only file {} at offset {offset}", String::from_utf8_lossy(args.get(0)), path.display()));
    };
    let Handler::Data(f) = spec.handler else {
        return Err(format!("Command '{}' cannot appear in the append only file {} (offset {offset})", String::from_utf8_lossy(args.get(0)), path.display()));
    };
    if !spec.arity_ok(args.len()) {
        return Err(format!("Wrong number of arguments for '{}' in the append only file {} at offset {offset}", spec.name, path.display()));
    }
    reply.buf.clear();
    let mut x = Exec::new(ShardSet::One(core), *db, reply, server, spec, id);
    out.commands += 1;
    if let Err(e) = f(&mut x, args) {
        out.failed += 1;
        if out.failed <= 10 {
            tracing::warn!("{}: command at offset {offset} failed on replay: {}", path.display(), e.text());
        }
    }
    Ok(())
}

/// Reads the AOF manifest (creating it, with one empty increment per shard, on first use) and
/// checks that it fits this server. None when appendonly is off. Quick: boot calls it before
/// the shards serve, so a wrong setup fails before anything listens.
pub fn prepare(server: &Server, nshards: usize) -> Result<Option<Manifest>, String> {
    let cfg = server.config().clone();
    if !cfg.appendonly {
        return Ok(None);
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
    // Before the loading state shows, so INFO never reports a load of 0 bytes.
    let total: u64 = manifest
        .files
        .iter()
        .map(|f| {
            let path = dir.join(&f.name);
            if f.is_rdb() { std::fs::metadata(&path).map(|m| m.len()) } else { records_len(&path) }.unwrap_or(0)
        })
        .sum();
    server.aof.load.total_bytes.store(total, Relaxed);
    Ok(Some(manifest))
}

/// Marks the start of loading (INFO loading_start_time, and the ETA's clock) and enters the
/// loading state, in that order: an INFO that shows `loading:1` always shows the start time.
pub fn begin_loading(server: &Server) {
    let now = shards::keyspace::wall_clock_ms();
    server.aof.load.start_unix.store(now / 1000, Relaxed);
    server.aof.load.start_ms.store(now, Relaxed);
    // Release: INFO reads `loading` with Acquire, then the start time.
    server.loading.store(true, std::sync::atomic::Ordering::Release);
}

/// Startup without the AOF: the hook that loads the snapshot (`dir/dbfilename`) into `cores`
/// (each key to its shard: [`crate::snapshot::load_dump`]); the server is in the loading state
/// while it runs, and the progress it reports in `server.aof.load` shows in INFO.
pub fn load_snapshot(server: &Server, cores: &mut [ShardCore]) -> Result<(), String> {
    crate::snapshot::load_dump(server, cores)
}

/// Loads the dataset into one core per shard: the AOF named by `manifest`, every shard in
/// parallel, or without it the snapshot ([`load_snapshot`]). Errors are the startup failure's
/// message.
pub fn load_dataset(server: &Server, nshards: usize, manifest: Option<Manifest>) -> Result<Vec<ShardCore>, String> {
    let mut cores: Vec<ShardCore> = (0..nshards).map(|i| ShardCore::new(i, server.databases)).collect();
    match manifest {
        None => load_snapshot(server, &mut cores)?,
        Some(m) => load_aof(server, &mut cores, m)?,
    }
    Ok(cores)
}

/// Logs the loading progress every few seconds until `done`.
fn log_progress(server: &Server, done: &AtomicBool) {
    let p = &server.aof.load;
    let mut ticks = 0;
    while !done.load(Relaxed) {
        // Unparked when loading ends.
        std::thread::park_timeout(Duration::from_millis(100));
        ticks += 1;
        if ticks % 20 == 0 && !done.load(Relaxed) {
            let (loaded, total) = (p.loaded_bytes.load(Relaxed), p.total_bytes.load(Relaxed));
            tracing::info!(
                "Loading the append only file: {:.2}% ({loaded} of {total} bytes)",
                if total > 0 { loaded as f64 * 100.0 / total as f64 } else { 0.0 }
            );
        }
    }
}

/// Counts the bytes read through it into the loading progress.
struct Counting<'a, R> {
    inner: R,
    pending: u64,
    to: &'a AtomicU64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 20 || n == 0 {
            self.to.fetch_add(std::mem::take(&mut self.pending), Relaxed);
        }
        Ok(n)
    }
}

/// Loads an RDB base into the shard.
fn load_rdb_base(server: &Server, core: &mut ShardCore, path: &Path, delay_us: u64) -> Result<u64, String> {
    let f = File::open(path).map_err(|e| format!("Can't open the AOF base {}: {e}", path.display()))?;
    // A key takes at least 3 bytes of the file: a RESIZEDB claiming more is not believed.
    let most_keys = f.metadata().map(|m| m.len() / 3).unwrap_or(0);
    let opts = shards::rdb::LoadOptions { databases: server.databases, limits: server.limits(), skip_expired_before: None };
    let reader = Counting { inner: BufReader::with_capacity(1 << 16, f), pending: 0, to: &server.aof.load.loaded_bytes };
    crate::evict::refresh(server, core);
    let engine = std::cell::RefCell::new(&mut core.engine);
    let resize = |db: usize, keys: u64| engine.borrow_mut().reserve_keys(db, keys.min(most_keys) as usize);
    let stats = shards::rdb::load_sized(reader, &opts, resize, |db, key, value, meta| {
        let mut engine = engine.borrow_mut();
        let lru = engine.loaded_lru(meta.freq, meta.idle_secs);
        engine.put_entry(db, &key, shards::keyspace::Entry::new(value, meta.expire_at, lru));
        if delay_us > 0 {
            std::thread::sleep(Duration::from_micros(delay_us));
        }
    })
    .map_err(|e| {
        format!(
            "Bad file format reading the append only file base {}: {e}. Make a backup of your AOF directory; the base cannot be repaired (restore it from a backup, or remove the shard's files from the manifest to start without that data).",
            path.display()
        )
    })?;
    if let Some((_, v)) = stats.aux.iter().find(|(k, _)| k == b"used-mem") {
        if let Some(n) = std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok()) {
            server.aof.load.rdb_used_mem.fetch_add(n, Relaxed);
        }
    }
    Ok(stats.keys)
}

/// The AOF: pass 1 on every shard at once, then pass 2, then each shard opens its last
/// increment for appending.
fn load_aof(server: &Server, cores: &mut [ShardCore], mut manifest: Manifest) -> Result<(), String> {
    let cfg = server.config().clone();
    let nshards = cores.len();
    let dir = aof_dir(&cfg);
    let mpath = manifest_path(&cfg);
    let started = std::time::Instant::now();
    let total = server.aof.load.total_bytes.load(Relaxed);
    let delay_us = cfg.extra_int("key-load-delay").unwrap_or(0).max(0) as u64;
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|sc| {
        let logger = sc.spawn(|| log_progress(server, &done));
        let r = load_files(server, cores, &manifest, &dir, cfg.aof_load_truncated, delay_us, true);
        done.store(true, Relaxed);
        logger.thread().unpark();
        r
    });
    let (commands, keys_from_bases, _) = result?;
    // Each shard appends to its last increment; a shard whose last file is a base (a rewrite
    // made while the AOF was off) gets a new one.
    let missing: Vec<usize> = (0..nshards).filter(|&s| manifest.files_of(s).last().is_none_or(|f| f.kind != 'i')).collect();
    if !missing.is_empty() {
        for &s in &missing {
            let seq = manifest.next_seq(s);
            manifest.files.push(super::ManifestFile { name: Manifest::file_name(&cfg.appendfilename, s, seq, FileKind::Incr), seq, kind: 'i', shard: s });
        }
        manifest.store(&mpath).map_err(|e| format!("Can't write the AOF manifest {}: {e}", mpath.display()))?;
    }
    for (shard, core) in cores.iter_mut().enumerate() {
        let files = manifest.files_of(shard);
        let last = files.last().ok_or_else(|| format!("The AOF manifest {} has no file for shard {shard}", mpath.display()))?;
        let path = dir.join(&last.name);
        let seg = Segment::open(&path, last.seq).map_err(|e| format!("Can't open the append only file {}: {e}", path.display()))?;
        let older: u64 = files[..files.len() - 1].iter().map(|f| std::fs::metadata(dir.join(&f.name)).map(|m| m.len()).unwrap_or(0)).sum();
        let sf = &server.aof.shards[shard];
        sf.older_bytes.store(older, Relaxed);
        sf.base_size.store(older + seg.size, Relaxed);
        server.aof_sync.set_shard(shard, Some(seg.sync_handle().map_err(|e| format!("Can't open the append only file {}: {e}", path.display()))?));
        core.aof = Some(seg);
        core.engine.effects.set_enabled(true);
    }
    remove_strays(&dir, &cfg.appendfilename, &manifest);
    *server.aof.manifest.lock().unwrap_or_else(|p| p.into_inner()) = Some(manifest);
    let keys: usize = cores.iter().map(|c| c.engine.key_count()).sum();
    tracing::info!(
        "DB loaded from append only file: {:.3} seconds ({commands} commands, {keys_from_bases} keys from bases, {keys} keys, {total} bytes, {nshards} shards)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Deletes files a crash left behind: a rewrite's temporary base, and shard files no longer
/// (or not yet) in the manifest. Only names this server writes are touched.
fn remove_strays(dir: &Path, appendfilename: &str, manifest: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{appendfilename}.s");
    let temp_prefix = format!("{}{appendfilename}.s", super::rewrite::TEMP_PREFIX);
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = (name.starts_with(&prefix) || name.starts_with(&temp_prefix))
            && (name.ends_with(".incr.aof") || name.ends_with(".base.rdb") || name.ends_with(".base.aof"));
        if ours && !manifest.files.iter().any(|f| f.name == name) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::info!("Removed {name}, an AOF file the manifest does not name (left by an interrupted rewrite)"),
                Err(err) => tracing::warn!("Can't remove {name}, an AOF file the manifest does not name: {err}"),
            }
        }
    }
}

/// A shard's files after pass 1: path, whether it is an RDB base, what the scan found.
type Scanned = Vec<(PathBuf, bool, Scan)>;

/// Both passes over every shard's files; (commands applied, keys loaded from RDB bases).
/// Truncates the AOF file at `path` to `len` bytes, durably.
fn cut(path: &Path, len: u64) -> Result<(), String> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| format!("Can't open {} to truncate it: {e}", path.display()))?;
    f.set_len(len).and_then(|_| f.sync_all()).map_err(|e| format!("Error truncating the AOF file {}: {e}", path.display()))
}

/// What [`load_files`] loaded: commands replayed, keys from bases, and for each shard the
/// path of its last file and the end of its records when it is a RESP increment.
type Loaded = (u64, u64, Vec<Option<(PathBuf, u64)>>);

/// Loads the files of `manifest` into `cores`. At startup (`trim`), a zero tail past the
/// last record is cut from each file; DEBUG LOADAOF reads the same files while they are
/// being written, and leaves the zeros to the segments that reserved them.
fn load_files(
    server: &Server,
    cores: &mut [ShardCore],
    manifest: &Manifest,
    dir: &Path,
    truncate_ok: bool,
    delay_us: u64,
    trim: bool,
) -> Result<Loaded, String> {
    let nshards = cores.len();
    // Pass 1 on every shard at once: find damage and whole units (RDB bases are checked as
    // they load).
    let scans: Vec<Result<Scanned, String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..nshards)
            .map(|shard| {
                let files: Vec<(PathBuf, bool)> = manifest.files_of(shard).iter().map(|f| (dir.join(&f.name), f.is_rdb())).collect();
                sc.spawn(move || -> Result<Scanned, String> {
                    let mut out = Vec::new();
                    let last = files.len().saturating_sub(1);
                    for (i, (path, rdb)) in files.iter().enumerate() {
                        if !path.exists() {
                            if i == last && !rdb {
                                // A segment created by the manifest but never written.
                                File::create(path).map_err(|e| format!("Can't create {}: {e}", path.display()))?;
                            } else {
                                return Err(format!("The AOF file {} named in the manifest is missing", path.display()));
                            }
                        }
                        if *rdb {
                            out.push((path.clone(), true, Scan::default()));
                            continue;
                        }
                        let s = scan(path, |_| {}).map_err(|e| format!("Can't read the append only file {}: {e}", path.display()))?;
                        if let Some((off, what)) = &s.corrupt {
                            return Err(corrupt_message(path, *off, what));
                        }
                        if trim && s.zero_tail > 0 && !s.truncated {
                            tracing::warn!(
                                "The AOF file {} ends in {} zero bytes past its last record: space reserved ahead of writes by a server that did not shut down cleanly. Trimming it to {} bytes.",
                                path.display(),
                                s.zero_tail,
                                s.valid_len
                            );
                            cut(path, s.valid_len)?;
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
                            cut(path, s.valid_len)?;
                        }
                        out.push((path.clone(), false, s));
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
    let ends = per_shard.iter().map(|files| files.last().filter(|(_, rdb, _)| !rdb).map(|(p, _, s)| (p.clone(), s.valid_len))).collect();
    // A unit applies only if every shard it spans holds it whole.
    let mut seen: HashMap<u64, (usize, usize)> = HashMap::new();
    for files in &per_shard {
        for (_, _, s) in files {
            for (&id, &n) in &s.units {
                seen.entry(id).or_insert((n, 0)).1 += 1;
            }
        }
    }
    let complete = |id: u64| seen.get(&id).is_some_and(|&(n, have)| have >= n);
    let loaded = &server.aof.load.loaded_bytes;
    let progress = |n: u64| {
        loaded.fetch_add(n, Relaxed);
    };
    // Pass 2 on every shard at once.
    let results: Vec<Result<(Replayed, u64), String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = cores
            .iter_mut()
            .zip(&per_shard)
            .map(|(core, files)| {
                let (complete, progress) = (&complete, &progress);
                sc.spawn(move || -> Result<(Replayed, u64), String> {
                    core.engine.set_now(shards::keyspace::wall_clock_ms());
                    let mut total = Replayed::default();
                    let mut keys = 0;
                    for (path, rdb, s) in files {
                        if *rdb {
                            keys += load_rdb_base(server, core, path, delay_us)?;
                            continue;
                        }
                        let r = replay(server, core, path, s.valid_len, complete, progress, delay_us)?;
                        total.commands += r.commands;
                        total.failed += r.failed;
                        total.units_skipped += r.units_skipped;
                    }
                    Ok((total, keys))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("AOF replay thread panicked".into()))).collect()
    });
    let (mut commands, mut skipped, mut keys) = (0, 0, 0);
    for r in results {
        let (r, k) = r?;
        commands += r.commands;
        skipped += r.units_skipped;
        keys += k;
    }
    if skipped > 0 {
        tracing::warn!("{skipped} multi-shard unit(s) at the end of the AOF were written on some shards only (a crash while writing them); none of their parts was applied");
    }
    Ok((commands, keys, ends))
}

/// DEBUG LOADAOF without any AOF manifest on disk.
pub const NO_AOF_TO_LOAD: &str = "ERR There is no append only file to load";

/// DEBUG LOADAOF (Redis's debugCommand "loadaof"), with every shard held: each shard writes
/// and fsyncs its pending records (when appending), then the dataset is emptied and loaded back from the files
/// the manifest names, with the startup loader's passes. The files are read into fresh
/// engines first, so a damaged file leaves the dataset as it was (Redis exits instead). The
/// shards go on appending to their increments; a rewrite in progress is unaffected (its
/// shards' base + increment and the reloaded dataset are the same state).
pub fn debug_loadaof(server: &Server, each: crate::snapshot::EachCore<'_>) -> Result<(), String> {
    let cfg = server.config().clone();
    // With appendonly no, the files a BGREWRITEAOF wrote load all the same (Redis's test of
    // a RESP rewrite does that); with no manifest at all Redis exits, shardis refuses.
    if !manifest_path(&cfg).exists() {
        return Err(NO_AOF_TO_LOAD.into());
    }
    let mut flushed = Ok(());
    each(&mut |c| {
        let synced = if c.persist(server) {
            c.aof.as_ref().map_or(Ok(()), |seg| seg.sync_handle().and_then(|f| f.sync_data()))
        } else {
            Err(std::io::Error::other("write failed"))
        };
        if let Err(e) = synced {
            flushed = Err(format!("ERR Can't write the append only file of shard {}: {e}", c.engine.id));
        }
    });
    flushed?;
    let manifest = server.aof.manifest_now(&cfg, server.nshards).map_err(|e| format!("ERR {e}"))?;
    let mut fresh: Vec<ShardCore> = (0..server.nshards).map(|i| ShardCore::new(i, server.databases)).collect();
    let (commands, keys, ends) = load_files(server, &mut fresh, &manifest, &aof_dir(&cfg), cfg.aof_load_truncated, 0, false).map_err(|e| {
        tracing::warn!("DEBUG LOADAOF: {e}");
        "ERR Error loading the append only file, check server logs.".to_string()
    })?;
    each(&mut |c| {
        // The shard goes on appending where the records it loaded end (they are the file's
        // now, whoever wrote them).
        if let (Some(seg), Some((path, end))) = (c.aof.as_mut(), &ends[c.engine.id]) {
            if seg.path() == path.as_path() {
                seg.continue_at(*end);
            }
        }
        c.engine.flush_all();
        for (db, d) in fresh[c.engine.id].engine.dbs.iter_mut().enumerate() {
            for n in std::mem::take(d).main.into_nodes() {
                let k = n.key().to_vec();
                c.engine.put_entry(db, &k, n.into_entry());
            }
        }
    });
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF ({commands} commands, {keys} keys from bases)");
    Ok(())
}

/// The message for damage in the middle of a segment.
pub fn corrupt_message(path: &Path, offset: u64, what: &str) -> String {
    format!(
        "Bad file format reading the append only file {}: {what} at offset {offset}. Make a backup of your AOF file, then use 'shardis check-aof --fix {}' to truncate it to the last valid record (the data after offset {offset} is lost).",
        path.display(),
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn scan_bytes(bytes: &[u8]) -> Scan {
        let dir = std::env::temp_dir().join(format!("shardis-scan-{}-{}", std::process::id(), bytes.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("seg.aof");
        std::fs::write(&p, bytes).unwrap();
        let s = scan(&p, |_| {}).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        s
    }

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    #[test]
    fn whole_records_are_valid() {
        let mut b = SET.to_vec();
        b.extend_from_slice(SET);
        let s = scan_bytes(&b);
        assert_eq!((s.valid_len, s.truncated, s.records), (b.len() as u64, false, 2));
        assert!(s.corrupt.is_none());
    }

    #[test]
    fn a_cut_record_is_a_truncated_tail_at_every_cut_point() {
        for cut in 1..SET.len() {
            let mut b = SET.to_vec();
            b.extend_from_slice(&SET[..cut]);
            let s = scan_bytes(&b);
            assert!(s.truncated, "cut at {cut}");
            assert!(s.corrupt.is_none(), "cut at {cut}: {:?}", s.corrupt);
            assert_eq!(s.valid_len, SET.len() as u64, "cut at {cut}");
        }
    }

    #[test]
    fn an_open_group_at_the_end_is_truncated_before_its_multi() {
        let mut b = SET.to_vec();
        b.extend_from_slice(b"*3\r\n$5\r\nMULTI\r\n$2\r\n77\r\n$1\r\n2\r\n");
        b.extend_from_slice(SET);
        let s = scan_bytes(&b);
        assert!(s.truncated);
        assert_eq!(s.valid_len, SET.len() as u64);
        assert!(s.units.is_empty());
        b.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
        let s = scan_bytes(&b);
        assert!(!s.truncated);
        assert_eq!(s.valid_len, b.len() as u64);
        assert_eq!(s.units.get(&77), Some(&2));
    }

    #[test]
    fn garbage_in_the_middle_is_damage_with_its_offset() {
        let mut b = SET.to_vec();
        b.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvXX");
        b.extend_from_slice(SET);
        let s = scan_bytes(&b);
        let (off, what) = s.corrupt.expect("damage found");
        assert_eq!(off, SET.len() as u64);
        assert!(what.contains("CRLF"), "{what}");
        let mut b = SET.to_vec();
        b.extend_from_slice(b"hello world\r\n");
        b.extend_from_slice(SET);
        assert_eq!(scan_bytes(&b).corrupt.map(|c| c.0), Some(SET.len() as u64));
    }

    /// The reader before records were parsed in place (a line and an argument at a time, into
    /// fresh vectors): the reference for what a record, a cut record and damage are.
    struct LineReader<R> {
        r: R,
        offset: u64,
    }

    enum Old {
        Record(Vec<Vec<u8>>),
        Stop(Read1),
    }

    impl<R: std::io::BufRead> LineReader<R> {
        fn line(&mut self, tag: u8, first: bool) -> Result<Option<usize>, Read1> {
            let mut line = Vec::new();
            let n = self.r.by_ref().take(64).read_until(b'\n', &mut line).map_err(|e| Read1::Bad(format!("read error: {e}")))?;
            if n == 0 {
                return if first { Ok(None) } else { Err(Read1::Cut) };
            }
            if !line.ends_with(b"\r\n") {
                return if n < 64 && self.r.fill_buf().map(|b| b.is_empty()).unwrap_or(true) {
                    Err(Read1::Cut)
                } else {
                    Err(Read1::Bad("a line without CRLF".into()))
                };
            }
            self.offset += n as u64;
            if line[0] != tag {
                return Err(Read1::Bad(format!("expected '{}', found {:?}", tag as char, String::from_utf8_lossy(&line[..1]))));
            }
            let num = std::str::from_utf8(&line[1..line.len() - 2]).ok().and_then(|s| s.parse::<usize>().ok());
            match num {
                Some(v) => Ok(Some(v)),
                None => Err(Read1::Bad(format!("invalid count {:?}", String::from_utf8_lossy(&line[1..line.len() - 2])))),
            }
        }

        fn next(&mut self) -> Old {
            let argc = match self.line(b'*', true) {
                Ok(None) => return Old::Stop(Read1::End),
                Ok(Some(n)) if (1..=MAX_ARGS).contains(&n) => n,
                Ok(Some(n)) => return Old::Stop(Read1::Bad(format!("invalid argument count {n}"))),
                Err(e) => return Old::Stop(e),
            };
            let mut argv = Vec::new();
            for _ in 0..argc {
                let len = match self.line(b'$', false) {
                    Ok(Some(n)) if n <= MAX_ARG => n,
                    Ok(_) => return Old::Stop(Read1::Bad("invalid bulk length".into())),
                    Err(e) => return Old::Stop(e),
                };
                let mut buf = Vec::new();
                match self.r.by_ref().take(len as u64 + 2).read_to_end(&mut buf) {
                    Ok(n) if n == len + 2 => {}
                    Ok(_) => return Old::Stop(Read1::Cut),
                    Err(e) => return Old::Stop(Read1::Bad(format!("read error: {e}"))),
                }
                if &buf[len..] != b"\r\n" {
                    return Old::Stop(Read1::Bad("a bulk string not followed by CRLF".into()));
                }
                buf.truncate(len);
                self.offset += len as u64 + 2;
                argv.push(buf);
            }
            Old::Record(argv)
        }
    }

    /// Every record (arguments and end offset) and how reading stopped, as text.
    fn outcome_new(bytes: &[u8], chunk: usize) -> Vec<String> {
        let mut rr = RecordReader::with_chunk(bytes, chunk);
        let mut out = Vec::new();
        loop {
            match rr.next() {
                Read1::Record => {
                    let args: Vec<Vec<u8>> = rr.args().iter().map(<[u8]>::to_vec).collect();
                    out.push(format!("{args:?} to {}", rr.offset));
                }
                r => {
                    out.push(stop_text(r));
                    return out;
                }
            }
        }
    }

    fn outcome_old(bytes: &[u8]) -> Vec<String> {
        let mut rr = LineReader { r: BufReader::with_capacity(16, bytes), offset: 0 };
        let mut out = Vec::new();
        loop {
            match rr.next() {
                Old::Record(args) => out.push(format!("{args:?} to {}", rr.offset)),
                Old::Stop(r) => {
                    out.push(stop_text(r));
                    return out;
                }
            }
        }
    }

    fn stop_text(r: Read1) -> String {
        match r {
            Read1::Record => unreachable!(),
            Read1::End => "end".into(),
            Read1::Cut => "cut".into(),
            Read1::Bad(what) => format!("bad: {what}"),
        }
    }

    #[test]
    fn records_read_in_place_are_what_the_line_reader_read_at_any_chunk_size() {
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut kinds = std::collections::HashSet::new();
        for round in 0..3000 {
            let mut b = Vec::new();
            for _ in 0..1 + next() % 6 {
                let argc = 1 + next() % 4;
                // Counts as Redis writes them, and now and then as a person might ($03, *+2).
                let odd = next() % 8 == 0;
                b.extend_from_slice(if odd { format!("*+{argc}\r\n") } else { format!("*{argc}\r\n") }.as_bytes());
                for _ in 0..argc {
                    let len = [0, 1, 3, 17, 70, 300][(next() % 6) as usize];
                    b.extend_from_slice(if odd { format!("$0{len}\r\n") } else { format!("${len}\r\n") }.as_bytes());
                    b.extend((0..len).map(|_| b"ab\r\n*$0"[(next() % 7) as usize]));
                    b.extend_from_slice(b"\r\n");
                }
            }
            // Damage: cut the end, change a byte, or insert some.
            match round % 4 {
                0 => {}
                1 => b.truncate((next() % b.len() as u64) as usize),
                2 => {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] = b"\r\n*$0x9 "[(next() % 8) as usize];
                }
                _ => {
                    let at = (next() % b.len() as u64) as usize;
                    let junk: Vec<u8> = (0..next() % 80).map(|_| b"\r\n*$0x9 "[(next() % 8) as usize]).collect();
                    b.splice(at..at, junk);
                }
            }
            let want = outcome_old(&b);
            kinds.insert(want.last().unwrap().split(':').next().unwrap().to_string());
            for chunk in [1, 5, 64, 1 << 20] {
                assert_eq!(outcome_new(&b, chunk), want, "round {round}, chunk {chunk}, bytes {:?}", String::from_utf8_lossy(&b));
            }
        }
        assert_eq!(kinds.len(), 3, "the rounds end in every way: {kinds:?}");
    }

    #[test]
    fn a_record_with_counts_written_oddly_is_not_passed_on_as_raw_bytes() {
        let b = b"*3\r\n$03\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let mut rr = RecordReader::new(&b[..]);
        assert!(matches!(rr.next(), Read1::Record));
        assert_eq!(rr.args().iter().collect::<Vec<_>>(), [&b"SET"[..], b"k", b"v"]);
        assert_eq!(rr.args().raw(), None, "$03 is not what encoding SET gives");
        let mut rr = RecordReader::new(SET);
        assert!(matches!(rr.next(), Read1::Record));
        assert_eq!(rr.args().raw(), Some(SET));
    }
}
