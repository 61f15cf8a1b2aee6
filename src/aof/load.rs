//! Loading the AOF at startup: every shard's segments are checked, then replayed, in parallel.
//!
//! Pass 1 ([`scan`]) reads a segment to the end without applying anything: it finds where the
//! valid records end, whether the tail is cut short (a record, or a MULTI group, that the end
//! of the file interrupts) or damaged (bytes that are not a record: startup stops with the
//! file, the offset and the repair command), and which multi-shard units the segment holds
//! whole. Pass 2 ([`replay`]) applies the records to the shard, a group only once its EXEC is
//! read, and a unit spanning shards only if every shard's segment holds it whole: a crash
//! that wrote one shard's part but not another's leaves none of it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

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
    Record(Vec<Vec<u8>>),
    /// Clean end of file, at a record boundary.
    End,
    /// The file ends inside a record.
    Cut,
    /// Bytes that cannot be a record.
    Bad(String),
}

/// Reads RESP multibulk records, counting bytes.
pub struct RecordReader<R> {
    r: R,
    pub offset: u64,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(r: R) -> Self {
        RecordReader { r, offset: 0 }
    }

    fn line(&mut self, tag: u8, first: bool) -> Result<Option<usize>, Read1> {
        let mut line = Vec::new();
        let n = self.r.by_ref().take(64).read_until(b'\n', &mut line).map_err(|e| Read1::Bad(format!("read error: {e}")))?;
        if n == 0 {
            return if first { Ok(None) } else { Err(Read1::Cut) };
        }
        if !line.ends_with(b"\r\n") {
            // A short line at the end of the file is a cut record; a long one is damage.
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

    fn next(&mut self) -> Read1 {
        let argc = match self.line(b'*', true) {
            Ok(None) => return Read1::End,
            Ok(Some(n)) if (1..=MAX_ARGS).contains(&n) => n,
            Ok(Some(n)) => return Read1::Bad(format!("invalid argument count {n}")),
            Err(e) => return e,
        };
        let mut argv = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let len = match self.line(b'$', false) {
                Ok(Some(n)) if n <= MAX_ARG => n,
                Ok(_) => return Read1::Bad("invalid bulk length".into()),
                Err(e) => return e,
            };
            let mut buf = Vec::new();
            match self.r.by_ref().take(len as u64 + 2).read_to_end(&mut buf) {
                Ok(n) if n == len + 2 => {}
                Ok(_) => return Read1::Cut,
                Err(e) => return Read1::Bad(format!("read error: {e}")),
            }
            if &buf[len..] != b"\r\n" {
                return Read1::Bad("a bulk string not followed by CRLF".into());
            }
            buf.truncate(len);
            self.offset += len as u64 + 2;
            argv.push(buf);
        }
        Read1::Record(argv)
    }
}

fn is(argv: &[Vec<u8>], name: &str) -> bool {
    argv[0].eq_ignore_ascii_case(name.as_bytes())
}

/// A multi-shard unit's id and shard count, from `MULTI <unit> <shards>`.
fn unit_of(argv: &[Vec<u8>]) -> Option<(u64, usize)> {
    if argv.len() != 3 {
        return None;
    }
    let id = std::str::from_utf8(&argv[1]).ok()?.parse().ok()?;
    let n = std::str::from_utf8(&argv[2]).ok()?.parse().ok()?;
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
    let mut rr = RecordReader::new(BufReader::with_capacity(1 << 16, f));
    let mut s = Scan { file_len, ..Scan::default() };
    // Inside a group: where it started, and its unit.
    let mut group: Option<(u64, Option<(u64, usize)>)> = None;
    loop {
        let start = rr.offset;
        match rr.next() {
            Read1::Record(argv) => {
                s.records += 1;
                if s.records.is_multiple_of(65536) {
                    progress(rr.offset);
                }
                if is(&argv, "MULTI") {
                    if group.is_some() {
                        s.corrupt = Some((start, "MULTI inside MULTI".into()));
                        return Ok(s);
                    }
                    group = Some((start, unit_of(&argv)));
                } else if is(&argv, "EXEC") {
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
pub fn replay(server: &Server, core: &mut ShardCore, path: &Path, valid_len: u64, complete: &dyn Fn(u64) -> bool) -> Result<Replayed, String> {
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut rr = RecordReader::new(BufReader::with_capacity(1 << 16, f.take(valid_len)));
    let mut out = Replayed::default();
    let mut db = 0usize;
    // An open group: its unit, and the commands read so far.
    let mut group: Option<(Option<Unit>, Vec<Command>)> = None;
    let mut reply = Reply::new(false);
    loop {
        let start = rr.offset;
        let argv = match rr.next() {
            Read1::Record(a) => a,
            Read1::End => break,
            Read1::Cut | Read1::Bad(_) => return Err(format!("{}: unreadable record at offset {start} on the second pass", path.display())),
        };
        if is(&argv, "MULTI") {
            group = Some((unit_of(&argv), Vec::new()));
            continue;
        }
        if is(&argv, "EXEC") {
            if let Some((unit, cmds)) = group.take() {
                if unit.is_none_or(|(id, _)| complete(id)) {
                    for a in cmds {
                        apply(server, core, &mut db, &a, &mut reply, &mut out, path, start)?;
                    }
                } else {
                    out.units_skipped += 1;
                }
            }
            continue;
        }
        match &mut group {
            Some((_, cmds)) => cmds.push(argv),
            None => apply(server, core, &mut db, &argv, &mut reply, &mut out, path, start)?,
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn apply(
    server: &Server,
    core: &mut ShardCore,
    db: &mut usize,
    argv: &[Vec<u8>],
    reply: &mut Reply,
    out: &mut Replayed,
    path: &Path,
    offset: u64,
) -> Result<(), String> {
    if is(argv, "SELECT") {
        let d = argv.get(1).and_then(|a| std::str::from_utf8(a).ok()).and_then(|s| s.parse::<usize>().ok());
        match d {
            Some(d) if d < server.databases => *db = d,
            _ => return Err(format!("{}: invalid SELECT at offset {offset} (databases: {})", path.display(), server.databases)),
        }
        return Ok(());
    }
    let args = Args::from_owned(argv);
    let Some((id, spec)) = crate::command::resolve(&args) else {
        return Err(format!("Unknown command '{}' reading the append only file {} at offset {offset}", String::from_utf8_lossy(&argv[0]), path.display()));
    };
    let Handler::Data(f) = spec.handler else {
        return Err(format!("Command '{}' cannot appear in the append only file {} (offset {offset})", String::from_utf8_lossy(&argv[0]), path.display()));
    };
    if !spec.arity_ok(argv.len()) {
        return Err(format!("Wrong number of arguments for '{}' in the append only file {} at offset {offset}", spec.name, path.display()));
    }
    reply.buf.clear();
    let mut x = Exec::new(ShardSet::One(core), *db, reply, server, spec, id);
    out.commands += 1;
    if let Err(e) = f(&mut x, &args) {
        out.failed += 1;
        if out.failed <= 10 {
            tracing::warn!("{}: command at offset {offset} failed on replay: {}", path.display(), e.text());
        }
    }
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
}
