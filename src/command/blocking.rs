//! Blocking list and sorted-set commands: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP.
//!
//! Each one is served by running its non-blocking sibling (LPOP, RPOPLPUSH, LMOVE, LMPOP,
//! ZPOPMIN, ZMPOP...) through the ordinary command table on the key that has data. So what a
//! blocked client receives, and what persistence and replicas will be told, is exactly the pop
//! or move that was performed, never the blocking command itself (invariant I4).
//!
//! They always run on the coordinator. The handler tries every key in order; when none can
//! serve it sets `Exec::would_block`, and the coordinator parks the client (see
//! coordinator::blocking) until a write makes one of its keys ready, its timeout passes, it is
//! unblocked by CLIENT UNBLOCK, or it disconnects.

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;

/// What a blocking command waits on: its keys (in order) and its timeout (None = forever).
pub struct BlockSpec {
    pub keys: Vec<Vec<u8>>,
    pub timeout_ms: Option<u64>,
}

/// Redis's getTimeoutFromObjectOrReply: seconds as a double, 0 = forever, negative refused.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<u64>, CmdError> {
    let v = shards::value::parse_f64_strict(arg).ok_or(CmdError::Static(e::TIMEOUT_NOT_FLOAT))?;
    if v.is_infinite() {
        return Err(CmdError::Static(e::TIMEOUT_NOT_FLOAT));
    }
    if v < 0.0 {
        return Err(CmdError::Static(e::TIMEOUT_NEGATIVE));
    }
    let ms = (v * 1000.0).ceil();
    if ms >= i64::MAX as f64 {
        return Err(CmdError::Static(e::TIMEOUT_NOT_FLOAT));
    }
    Ok(if ms == 0.0 { None } else { Some(ms as u64) })
}

fn direction(arg: &[u8], a: &'static str, b: &'static str) -> Result<&'static str, CmdError> {
    if arg.eq_ignore_ascii_case(a.as_bytes()) {
        Ok(a)
    } else if arg.eq_ignore_ascii_case(b.as_bytes()) {
        Ok(b)
    } else {
        Err(CmdError::syntax())
    }
}

/// The keys of a numkeys-style command (`timeout numkeys key... ` for BLMPOP/BZMPOP).
fn numkeys_keys(a: &Args<'_>, at: usize) -> Result<Vec<Vec<u8>>, CmdError> {
    let n = arg_i64(&a[at]).map_err(|_| CmdError::Static("ERR numkeys should be greater than 0"))?;
    if n <= 0 {
        return Err(CmdError::Static("ERR numkeys should be greater than 0"));
    }
    let n = n as usize;
    if at + 1 + n > a.len() {
        return Err(CmdError::syntax());
    }
    Ok((at + 1..at + 1 + n).map(|i| a[i].to_vec()).collect())
}

/// The optional `COUNT c` of BLMPOP/BZMPOP after the direction, validated as Redis does.
fn mpop_count(a: &Args<'_>, at: usize) -> Result<Option<Vec<u8>>, CmdError> {
    if at == a.len() {
        return Ok(None);
    }
    if at + 2 == a.len() && a[at].eq_ignore_ascii_case(b"COUNT") {
        let c = arg_i64(&a[at + 1]).map_err(|_| CmdError::Static("ERR count should be greater than 0"))?;
        if c <= 0 {
            return Err(CmdError::Static("ERR count should be greater than 0"));
        }
        return Ok(Some(a[at + 1].to_vec()));
    }
    Err(CmdError::syntax())
}

/// One way of serving a blocked command from one key: the sibling command's arguments, and
/// how its reply becomes the blocking command's reply.
pub struct Attempt {
    pub key: Vec<u8>,
    pub sibling: Vec<Vec<u8>>,
    pub shape: Shape,
}

#[derive(Clone, Copy)]
pub enum Shape {
    /// [key, value] around a bulk (BLPOP/BRPOP); nil means "nothing to pop".
    KeyAndBulk,
    /// The sibling's reply as it is (BLMOVE, BRPOPLPUSH, BLMPOP, BZMPOP); nil = nothing.
    AsIs,
    /// [key, member, score] from ZPOPMIN/ZPOPMAX's two-element array; empty = nothing.
    KeyAndPair,
}

/// Parses a blocking command: the keys it waits on, its timeout, and for each key the
/// sibling command that would serve it. Errors are Redis's for the same input.
pub fn plan(a: &Args<'_>) -> Result<(BlockSpec, Vec<Attempt>), CmdError> {
    let name = a[0].to_ascii_lowercase();
    let last = a.len() - 1;
    let mut attempts = Vec::new();
    let spec = match name.as_slice() {
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => {
            let timeout_ms = parse_timeout(&a[last])?;
            let keys: Vec<Vec<u8>> = (1..last).map(|i| a[i].to_vec()).collect();
            let (sib, shape): (&[u8], Shape) = match name.as_slice() {
                b"blpop" => (b"LPOP", Shape::KeyAndBulk),
                b"brpop" => (b"RPOP", Shape::KeyAndBulk),
                b"bzpopmin" => (b"ZPOPMIN", Shape::KeyAndPair),
                _ => (b"ZPOPMAX", Shape::KeyAndPair),
            };
            for k in &keys {
                attempts.push(Attempt { key: k.clone(), sibling: vec![sib.to_vec(), k.clone()], shape });
            }
            BlockSpec { keys, timeout_ms }
        }
        b"brpoplpush" => {
            let timeout_ms = parse_timeout(&a[3])?;
            attempts.push(Attempt { key: a[1].to_vec(), sibling: vec![b"RPOPLPUSH".to_vec(), a[1].to_vec(), a[2].to_vec()], shape: Shape::AsIs });
            BlockSpec { keys: vec![a[1].to_vec()], timeout_ms }
        }
        b"blmove" => {
            let from = direction(&a[3], "LEFT", "RIGHT")?;
            let to = direction(&a[4], "LEFT", "RIGHT")?;
            let timeout_ms = parse_timeout(&a[5])?;
            let sibling = vec![b"LMOVE".to_vec(), a[1].to_vec(), a[2].to_vec(), from.as_bytes().to_vec(), to.as_bytes().to_vec()];
            attempts.push(Attempt { key: a[1].to_vec(), sibling, shape: Shape::AsIs });
            BlockSpec { keys: vec![a[1].to_vec()], timeout_ms }
        }
        b"blmpop" | b"bzmpop" => {
            let timeout_ms = parse_timeout(&a[1])?;
            let keys = numkeys_keys(a, 2)?;
            let at = 3 + keys.len();
            if at >= a.len() {
                return Err(CmdError::syntax());
            }
            let (sib, dir): (&[u8], &str) =
                if name == b"blmpop" { (b"LMPOP", direction(&a[at], "LEFT", "RIGHT")?) } else { (b"ZMPOP", direction(&a[at], "MIN", "MAX")?) };
            let count = mpop_count(a, at + 1)?;
            for k in &keys {
                let mut sibling = vec![sib.to_vec(), b"1".to_vec(), k.clone(), dir.as_bytes().to_vec()];
                if let Some(c) = &count {
                    sibling.push(b"COUNT".to_vec());
                    sibling.push(c.clone());
                }
                attempts.push(Attempt { key: k.clone(), sibling, shape: Shape::AsIs });
            }
            BlockSpec { keys, timeout_ms }
        }
        _ => return Err(CmdError::Owned(e::unknown_command(&a[0], &[]))),
    };
    Ok((spec, attempts))
}

/// Runs one attempt on the held shards; true if it served the client (its reply is written).
pub fn try_attempt(x: &mut Exec<'_>, at: &Attempt) -> Result<bool, CmdError> {
    let args = Args::from_owned(&at.sibling);
    let Some((id, spec)) = super::resolve(&args) else {
        return Err(CmdError::Static("ERR this blocking command needs a command that is not available yet"));
    };
    let super::Handler::Data(f) = spec.handler else { return Ok(false) };
    let start = x.reply.buf.len();
    let (saved_spec, saved_id) = (x.spec, x.cmd_id);
    x.spec = spec;
    x.cmd_id = id;
    let res = f(x, &args);
    let out = x.reply.buf.split_off(start);
    let empty = matches!(out.as_slice(), b"$-1\r\n" | b"*-1\r\n" | b"_\r\n" | b"*0\r\n");
    if res.is_ok() && !empty {
        // The pop or move that served the client is what gets recorded, never the blocking
        // command itself.
        crate::effects::record(x, &args);
    }
    x.spec = saved_spec;
    x.cmd_id = saved_id;
    res?;
    if empty {
        return Ok(false);
    }
    match at.shape {
        Shape::AsIs => x.reply.raw(&out),
        Shape::KeyAndBulk => {
            x.reply.array_len(2);
            x.reply.bulk(&at.key);
            x.reply.raw(&out);
        }
        Shape::KeyAndPair => {
            // ZPOPMIN's "*2\r\n<member><score>" becomes "*3\r\n<key><member><score>".
            let body = match memchr::memchr(b'\n', &out) {
                Some(nl) => &out[nl + 1..],
                None => &out[..],
            };
            x.reply.array_len(3);
            x.reply.bulk(&at.key);
            x.reply.raw(body);
        }
    }
    Ok(true)
}

/// Counts the changes of a parked client's pop once it is served (rdb_changes_since_last_save).
/// Redis 7.0 counts there only the pops that add to server.dirty themselves (BLMPOP's,
/// BZPOPMIN/BZPOPMAX's and BZMPOP's: the elements popped); a BLPOP, BRPOP, BLMOVE or
/// BRPOPLPUSH served from the blocked state adds nothing.
pub fn count_served(x: &mut Exec<'_>, at: &Attempt) {
    if matches!(at.sibling[0].as_slice(), b"LMPOP" | b"ZMPOP" | b"ZPOPMIN" | b"ZPOPMAX") {
        let n = x.dirty.unwrap_or(0);
        x.core_for(&at.key).stats.dirty += n;
    }
}

/// Every blocking command's handler: serve from the first key that can, else ask the
/// coordinator to park the client.
fn blocking(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (_, attempts) = plan(a)?;
    for at in &attempts {
        if try_attempt(x, at)? {
            return Ok(());
        }
    }
    // Parked: nothing changed yet.
    x.dirty = Some(0);
    x.would_block = true;
    Ok(())
}

/// BLMPOP/BZMPOP keys: `timeout numkeys key...`.
fn mpop_keys(a: &Args<'_>) -> Vec<usize> {
    let n = a.len().checked_sub(3).map(|_| shards::value::parse_i64_strict(&a[2]).unwrap_or(0)).unwrap_or(0);
    if n <= 0 || 3 + n as usize > a.len() {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

const F: u32 = WRITE | NOSCRIPT | BLOCKING;
const R: Route = Route::Keys;

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "blpop",
        -3,
        F,
        KeySpec::Range(1, -2, 1),
        R,
        Data(blocking),
        "list",
        "2.0.0",
        "Remove and get the first element in a list, or block until one is available",
        "key [key ...] timeout",
    ),
    row(
        "brpop",
        -3,
        F,
        KeySpec::Range(1, -2, 1),
        R,
        Data(blocking),
        "list",
        "2.0.0",
        "Remove and get the last element in a list, or block until one is available",
        "key [key ...] timeout",
    ),
    row(
        "brpoplpush",
        4,
        F | DENYOOM,
        KeySpec::Range(1, 2, 1),
        R,
        Data(blocking),
        "list",
        "2.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        "source destination timeout",
    ),
    row(
        "blmove",
        6,
        F | DENYOOM,
        KeySpec::Range(1, 2, 1),
        R,
        Data(blocking),
        "list",
        "6.2.0",
        "Pop an element from a list, push it to another list and return it; or block until one is available",
        "source destination LEFT|RIGHT LEFT|RIGHT timeout",
    ),
    row(
        "blmpop",
        -5,
        F,
        KeySpec::Custom(mpop_keys, 0, 0, 0),
        R,
        Data(blocking),
        "list",
        "7.0.0",
        "Pop elements from a list, or block until one is available",
        "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]",
    ),
    row(
        "bzpopmin",
        -3,
        F | FAST,
        KeySpec::Range(1, -2, 1),
        R,
        Data(blocking),
        "sorted_set",
        "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        "key [key ...] timeout",
    ),
    row(
        "bzpopmax",
        -3,
        F | FAST,
        KeySpec::Range(1, -2, 1),
        R,
        Data(blocking),
        "sorted_set",
        "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        "key [key ...] timeout",
    ),
    row(
        "bzmpop",
        -5,
        F,
        KeySpec::Custom(mpop_keys, 0, 0, 0),
        R,
        Data(blocking),
        "sorted_set",
        "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available",
        "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
    ),
];
