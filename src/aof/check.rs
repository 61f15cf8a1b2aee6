//! `shardis check-aof [--fix] [--yes] FILE|DIR`: verifies AOF segments (a file, or every
//! segment a directory's manifest names) and, with --fix, truncates a damaged one to its last
//! valid record after confirmation. An RDB base is read whole and its CRC64 checked; a damaged
//! one cannot be fixed by truncating it, and is reported as such.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Parser;

use super::load::{scan, Scan};

#[derive(Parser, Debug)]
#[command(name = "shardis check-aof", about = "Check (and repair) shardis append-only files")]
pub struct Args {
    /// Truncate a damaged or cut segment to its last valid record.
    #[arg(long)]
    pub fix: bool,
    /// Do not ask for confirmation before truncating.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// A segment file, or an append-only directory (every segment its manifest names).
    pub path: PathBuf,
}

/// The segment files under `path`.
fn files_of(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let manifest = std::fs::read_dir(path)
        .map_err(|e| format!("Cannot read {}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "manifest"));
    match manifest {
        Some(m) => {
            let text = std::fs::read_to_string(&m).map_err(|e| format!("Cannot read {}: {e}", m.display()))?;
            let man = super::Manifest::parse(&text, &m)?;
            Ok((0..man.shards).flat_map(|s| man.files_of(s).into_iter().map(|f| path.join(&f.name)).collect::<Vec<_>>()).collect())
        }
        None => {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("Cannot read {}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "aof" || x == "rdb"))
                .collect();
            v.sort();
            Ok(v)
        }
    }
}

/// Runs the command; returns the process exit code.
pub fn main(argv: &[String]) -> i32 {
    let args = match Args::try_parse_from(std::iter::once("shardis check-aof".to_string()).chain(argv.iter().cloned())) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let files = match files_of(&args.path) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("No AOF segments found in {}", args.path.display());
            return 1;
        }
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let stdin = std::io::stdin();
    let mut answers = stdin.lock();
    let mut bad = 0;
    for f in &files {
        match check_file(f, &args, &mut answers) {
            Ok(true) => {}
            Ok(false) => bad += 1,
            Err(e) => {
                eprintln!("{e}");
                bad += 1;
            }
        }
    }
    if bad > 0 {
        1
    } else {
        0
    }
}

/// Checks an RDB base: every key readable and the checksum right.
fn check_rdb_base(path: &Path, len: u64) -> Result<bool, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("Cannot open {}: {e}", path.display()))?;
    let opts = shards::rdb::LoadOptions { databases: usize::MAX, limits: shards::types::Limits::default(), skip_expired_before: None };
    match shards::rdb::load(std::io::BufReader::with_capacity(1 << 16, f), &opts, |_, _, _, _| {}) {
        Ok(stats) => {
            println!("AOF base {} is a valid RDB file ({} keys, {len} bytes, checksum verified)", path.display(), stats.keys);
            Ok(true)
        }
        Err(e) => {
            println!("AOF base {}: {e}", path.display());
            println!("AOF base {} is not valid. An RDB base cannot be fixed by truncating it: restore it from a backup.", path.display());
            Ok(false)
        }
    }
}

/// Checks one file; true when it is valid (or was fixed).
fn check_file(path: &Path, args: &Args, answers: &mut impl BufRead) -> Result<bool, String> {
    let len = std::fs::metadata(path).map_err(|e| format!("Cannot open {}: {e}", path.display()))?.len();
    if super::rewrite::is_rdb_file(path) {
        return check_rdb_base(path, len);
    }
    let show_progress = len >= 16 << 20 && std::io::stderr().is_terminal();
    let mut last_pct = 0;
    let s: Scan = scan(path, |done| {
        if show_progress && len > 0 {
            let pct = done * 100 / len;
            if pct >= last_pct + 2 || pct == 100 {
                last_pct = pct;
                let bar = "#".repeat((pct / 2) as usize);
                eprint!("\r[{bar:<50}] {pct:>3}% {}", path.display());
                if pct == 100 {
                    eprintln!();
                }
            }
        }
    })
    .map_err(|e| format!("Cannot read {}: {e}", path.display()))?;
    let problem = match (&s.corrupt, s.truncated) {
        (Some((off, what)), _) => format!("Bad file format at offset {off}: {what}"),
        (None, true) => format!("Unexpected end of file at offset {} (the last record or group is cut)", s.valid_len),
        (None, false) if s.zero_tail == 0 => {
            println!("AOF {} is valid ({} records, {} bytes)", path.display(), s.records, len);
            return Ok(true);
        }
        (None, false) => {
            println!(
                "AOF {} is valid ({} records, {} bytes) and ends in {} zero bytes: space reserved ahead of writes by a server that did not shut down cleanly (the server trims it when it starts; so does --fix)",
                path.display(),
                s.records,
                s.valid_len,
                s.zero_tail
            );
            if !args.fix {
                return Ok(true);
            }
            format!("{} zero bytes past the last record", s.zero_tail)
        }
    };
    println!("AOF {}: {problem}", path.display());
    println!("AOF analyzed: filename={}, size={}, ok_up_to={}, diff={}", path.display(), len, s.valid_len, len - s.valid_len);
    if !args.fix {
        println!("AOF {} is not valid. Use the --fix option to try fixing it.", path.display());
        return Ok(false);
    }
    if !args.yes {
        print!("This will shrink the AOF {} from {} bytes, with {} bytes, to {} bytes\nContinue? [y/N]: ", path.display(), len, len - s.valid_len, s.valid_len);
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = answers.read_line(&mut line);
        if !line.trim().eq_ignore_ascii_case("y") {
            println!("Aborting...");
            return Ok(false);
        }
    }
    let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("Cannot open {} for writing: {e}", path.display()))?;
    f.set_len(s.valid_len).and_then(|_| f.sync_all()).map_err(|e| format!("Failed to truncate {}: {e}", path.display()))?;
    println!("Successfully truncated AOF {} to {} bytes", path.display(), s.valid_len);
    Ok(true)
}
