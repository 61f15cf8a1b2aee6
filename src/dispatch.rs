//! Running one command: the contexts handlers see ([`Exec`] for keyspace commands, [`ConnCtx`]
//! for connection commands), the error type handlers return, and the mapping from engine errors
//! to Redis's texts.

use std::borrow::Cow;

use shards::{OpError, Shard};

use crate::command::{CommandId, CommandSpec};
use crate::connection::ConnState;
use crate::protocol::errors as e;
use crate::protocol::Reply;
use crate::server::Server;
use crate::shard::ShardCore;

/// A command error: its full text (without '-'). A command error keeps the connection open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    Static(&'static str),
    Owned(String),
}

impl CmdError {
    pub fn text(&self) -> &str {
        match self {
            CmdError::Static(s) => s,
            CmdError::Owned(s) => s,
        }
    }

    pub fn syntax() -> CmdError {
        CmdError::Static(e::SYNTAX)
    }
}

impl From<OpError> for CmdError {
    fn from(err: OpError) -> CmdError {
        CmdError::Static(match err {
            OpError::WrongType => e::WRONGTYPE,
            OpError::NotInteger => e::NOT_INTEGER,
            OpError::NotFloat => e::NOT_FLOAT,
            OpError::Overflow => e::OVERFLOW,
            OpError::IncrNanOrInf => e::INCR_NAN,
            OpError::NoSuchKey => e::NO_SUCH_KEY,
            OpError::SameObject => e::SAME_OBJECT,
            OpError::StringTooLong => e::STRING_TOO_LONG,
            OpError::OutOfRange => e::OFFSET_OUT_OF_RANGE,
            OpError::InvalidExpire(s) => s,
            OpError::Syntax => e::SYNTAX,
            OpError::DbIndexOutOfRange => e::DB_INDEX_OUT_OF_RANGE,
        })
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> CmdError {
        CmdError::Owned(s)
    }
}

impl From<Cow<'static, str>> for CmdError {
    fn from(s: Cow<'static, str>) -> CmdError {
        match s {
            Cow::Borrowed(b) => CmdError::Static(b),
            Cow::Owned(o) => CmdError::Owned(o),
        }
    }
}

/// The shards a keyspace command may touch: the one that owns its keys, or (on the
/// coordinator) every shard it involves, held for the command's duration.
pub enum ShardSet<'a> {
    One(&'a mut ShardCore),
    /// Cores held by the coordinator, indexed by shard id (None: not involved).
    Many(&'a [Option<*mut ShardCore>]),
}

/// What a keyspace command's handler sees.
pub struct Exec<'a> {
    pub shards: ShardSet<'a>,
    pub db: usize,
    pub reply: &'a mut Reply,
    pub server: &'a Server,
    /// The command's spec (for error texts that name it).
    pub spec: &'static CommandSpec,
    pub cmd_id: CommandId,
    /// Set by a blocking command that found nothing to serve it: the coordinator parks it.
    pub would_block: bool,
    /// Set once the command's effects are recorded (by its handler, when what it did is not
    /// the command as written: see [`crate::effects`]).
    pub effects_done: bool,
    /// Set by a write command that counts its changes as Redis does (server.dirty: 0 for a
    /// SETBIT that changed nothing, one per field for BITFIELD...); unset, a successful write
    /// counts one.
    pub dirty: Option<u64>,
}

impl<'a> Exec<'a> {
    pub fn new(shards: ShardSet<'a>, db: usize, reply: &'a mut Reply, server: &'a Server, spec: &'static CommandSpec, cmd_id: CommandId) -> Exec<'a> {
        Exec { shards, db, reply, server, spec, cmd_id, would_block: false, effects_done: false, dirty: None }
    }

    /// The engine shard owning `key`.
    #[inline]
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        &mut self.core_for(key).engine
    }

    /// The key's shard and the reply together (to write a value without copying it out).
    #[inline]
    pub fn shard_and_reply(&mut self, key: &[u8]) -> (&mut Shard, &mut Reply) {
        let core = Self::core_in(&mut self.shards, key);
        (&mut core.engine, self.reply)
    }

    #[inline]
    pub fn core_for(&mut self, key: &[u8]) -> &mut ShardCore {
        Self::core_in(&mut self.shards, key)
    }

    #[inline]
    fn core_in<'s>(shards: &'s mut ShardSet<'_>, key: &[u8]) -> &'s mut ShardCore {
        match shards {
            ShardSet::One(c) => c,
            ShardSet::Many(held) => {
                let idx = shards::route::shard_of(key, held.len());
                // The coordinator holds every shard a command's keys route to before running it.
                let ptr = held[idx].expect("coordinator holds the key's shard");
                // SAFETY: the coordinator holds this shard (its thread is parked until release)
                // and runs one Exec at a time; the &mut is tied to &mut self, so no two live
                // references to one core exist.
                unsafe { &mut *ptr }
            }
        }
    }

    /// The core this execution runs on, or the first one it holds.
    #[inline]
    pub(crate) fn first_core(&mut self) -> Option<&mut ShardCore> {
        match &mut self.shards {
            ShardSet::One(c) => Some(c),
            ShardSet::Many(held) => {
                let ptr = held.iter().flatten().next().copied()?;
                // SAFETY: as in core_in: held, and the &mut is tied to &mut self.
                Some(unsafe { &mut *ptr })
            }
        }
    }

    /// Every shard this execution can see (all shards for AllShards commands).
    pub fn for_each_core(&mut self, mut f: impl FnMut(&mut ShardCore)) {
        match &mut self.shards {
            ShardSet::One(c) => f(c),
            ShardSet::Many(held) => {
                for &ptr in held.iter().flatten() {
                    // SAFETY: as in core_for; each reference ends before the next is made.
                    f(unsafe { &mut *ptr });
                }
            }
        }
    }

    /// Number of shards in the server (not only the ones held).
    pub fn nshards(&self) -> usize {
        self.server.nshards
    }

    /// The id of the only shard in a single-shard execution.
    pub fn single_shard_id(&self) -> Option<usize> {
        match &self.shards {
            ShardSet::One(c) => Some(c.engine.id),
            ShardSet::Many(_) => None,
        }
    }

    pub fn now_ms(&mut self) -> i64 {
        match &mut self.shards {
            ShardSet::One(c) => c.engine.now_ms(),
            // SAFETY: as in core_for.
            ShardSet::Many(held) => held.iter().flatten().map(|&p| unsafe { (*p).engine.now_ms() }).max().unwrap_or_else(shards::keyspace::wall_clock_ms),
        }
    }

    /// Runs `f` for the key's shard and the key, in argument order (DEL, EXISTS, MGET...).
    pub fn keys_each<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>, mut f: impl FnMut(&mut Shard, usize, &'k [u8])) {
        let db = self.db;
        for k in keys {
            f(self.shard(k), db, k);
        }
    }
}

/// Runs a keyspace command: maxmemory first (eviction, or `-OOM` for a DENYOOM command that
/// would not fit), then its handler, and when it succeeded, records its effects.
#[inline]
pub fn run_data(x: &mut Exec<'_>, f: crate::command::DataFn, args: &crate::protocol::parse::Args<'_>) -> crate::command::CmdResult {
    crate::evict::before_command(x)?;
    run_data_queued(x, f, args)
}

/// Runs a command queued in a transaction: EXEC made the maxmemory check for all of them.
#[inline]
pub fn run_data_queued(x: &mut Exec<'_>, f: crate::command::DataFn, args: &crate::protocol::parse::Args<'_>) -> crate::command::CmdResult {
    let res = f(x, args);
    if res.is_ok() {
        crate::effects::record(x, args);
        if x.spec.has(crate::command::flag::WRITE) {
            // Counted where it ran (INFO sums every shard's count).
            let n = x.dirty.unwrap_or(1);
            if let Some(core) = x.first_core() {
                core.stats.dirty += n;
            }
        }
    }
    res
}

/// What a connection command's handler sees.
pub struct ConnCtx<'a> {
    pub conn: &'a mut ConnState,
    pub reply: &'a mut Reply,
    pub server: &'a Server,
    pub core: &'a mut ShardCore,
}
