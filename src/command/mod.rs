//! The command table: one declarative row per command (name, arity, flags, key positions,
//! route, handler), kept at the bottom of each family file. COMMAND and its subcommands, arity
//! checks, key extraction and routing all read these rows.
//!
//! Two kinds of handler:
//! - [`Handler::Data`] works on the keyspace through an [`Exec`]: it runs on the shard that owns
//!   its keys, or on the coordinator with every shard involved held, with the same code.
//! - [`Handler::Conn`] works on the connection's own state (SELECT, HELLO, CLIENT...) and runs
//!   on the connection's shard.

pub mod bitmap;
pub mod blocking;
pub mod connection;
pub mod docs;
pub mod dump;
pub mod hash;
pub mod introspect;
pub mod keys;
pub mod list;
pub mod pubsub;
pub mod server;
pub mod set;
pub mod sort;
pub mod string;
pub mod transactions;
pub mod zset;

// Command names are not attacker-chosen keys of a growing table: a fast fixed hasher is fine.
type HashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;
use std::sync::OnceLock;

use crate::dispatch::{CmdError, ConnCtx, Exec};
use crate::protocol::parse::Args;

pub type CmdResult = Result<(), CmdError>;
pub type DataFn = fn(&mut Exec<'_>, &Args<'_>) -> CmdResult;
pub type ConnFn = fn(&mut ConnCtx<'_>, &Args<'_>) -> CmdResult;

/// Command flags, Redis's names.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Where a command's keys are (Redis's legacy first/last/step triple), or how to find them.
#[derive(Clone, Copy)]
pub enum KeySpec {
    None,
    /// first key index, last (negative counts from the end: -1 = last argument), step.
    Range(i32, i32, i32),
    /// A function returning the key positions (commands with a numkeys argument...).
    Custom(fn(&Args<'_>) -> Vec<usize>, i32, i32, i32),
}

/// Where a command runs.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    /// On the shard owning its keys; through the coordinator if they span shards.
    Keys,
    /// As `Keys`, unless the function finds that these arguments reach keys no key position
    /// names (SORT's BY/GET patterns): then on every shard at once, through the coordinator.
    KeysOrAll(fn(&Args<'_>) -> bool),
    /// On every shard at once (DBSIZE, FLUSHALL, KEYS, INFO...): through the coordinator when
    /// there is more than one shard.
    AllShards,
    /// On the connection's shard.
    Local,
    /// SCAN: on the shard its cursor names.
    ScanCursor,
}

#[derive(Clone, Copy)]
pub enum Handler {
    Data(DataFn),
    Conn(ConnFn),
}

/// One row of the command table.
pub struct CommandSpec {
    /// Lower case, as COMMAND reports it.
    pub name: &'static str,
    /// Redis convention: N = exactly N arguments (name included), -N = at least N.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub route: Route,
    pub handler: Handler,
    /// COMMAND DOCS group (Redis's family name).
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// The argument syntax as Redis's documentation writes it, for COMMAND DOCS and help.
    pub syntax: &'static str,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        (a >= 0 && argc == a as usize) || (a < 0 && argc >= (-a) as usize)
    }

    /// The key positions in `args` (COMMAND GETKEYS, routing).
    pub fn key_positions(&self, args: &Args<'_>) -> Vec<usize> {
        match self.keys {
            KeySpec::None => Vec::new(),
            KeySpec::Range(first, last, step) => range_positions(args.len(), first, last, step),
            KeySpec::Custom(f, ..) => f(args),
        }
    }

    /// (first, last, step) as COMMAND reports them.
    pub fn legacy_range(&self) -> (i32, i32, i32) {
        match self.keys {
            KeySpec::None => (0, 0, 0),
            KeySpec::Range(f, l, s) | KeySpec::Custom(_, f, l, s) => (f, l, s),
        }
    }

    /// The full name used in errors and stats: "config|get" for subcommands.
    pub fn full_name(&self, parent: Option<&CommandSpec>) -> String {
        match parent {
            Some(p) => format!("{}|{}", p.name, self.name),
            None => self.name.to_string(),
        }
    }
}

pub fn range_positions(argc: usize, first: i32, last: i32, step: i32) -> Vec<usize> {
    if first <= 0 || step <= 0 {
        return Vec::new();
    }
    let last = if last < 0 { argc as i32 + last } else { last };
    let mut out = Vec::new();
    let mut i = first;
    while i <= last && (i as usize) < argc {
        out.push(i as usize);
        i += step;
    }
    out
}

/// A stable small number per command, for per-command statistics arrays.
pub type CommandId = u16;

pub struct CommandTable {
    /// Every command and subcommand; subcommands come right after their parent.
    pub specs: Vec<&'static CommandSpec>,
    /// Full names as stats and errors show them: "get", "client|list".
    pub names: Vec<String>,
    /// The parent of a subcommand.
    pub parents: Vec<Option<CommandId>>,
    by_name: HashMap<String, CommandId>,
}

impl CommandTable {
    fn build() -> CommandTable {
        let mut t = CommandTable { specs: Vec::new(), names: Vec::new(), parents: Vec::new(), by_name: HashMap::default() };
        for family in [
            string::COMMANDS,
            bitmap::COMMANDS,
            list::COMMANDS,
            blocking::COMMANDS,
            hash::COMMANDS,
            set::COMMANDS,
            zset::COMMANDS,
            sort::COMMANDS,
            keys::COMMANDS,
            dump::COMMANDS,
            connection::COMMANDS,
            transactions::COMMANDS,
            pubsub::COMMANDS,
            server::COMMANDS,
        ] {
            for spec in family.iter() {
                let pid = t.specs.len() as CommandId;
                t.push(spec, spec.name.to_string(), None);
                for sub in spec.subcommands {
                    t.push(sub, format!("{}|{}", spec.name, sub.name), Some(pid));
                }
            }
        }
        t
    }

    fn push(&mut self, spec: &'static CommandSpec, name: String, parent: Option<CommandId>) {
        let id = self.specs.len() as CommandId;
        self.specs.push(spec);
        self.by_name.insert(name.clone(), id);
        self.names.push(name);
        self.parents.push(parent);
    }

    /// Case-insensitive lookup of a top-level command, without allocating for names up to 32 bytes.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<(CommandId, &'static CommandSpec)> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() || name.contains(&b'|') {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
        let id = *self.by_name.get(lower)?;
        Some((id, self.specs[id as usize]))
    }

    /// Lookup by full name ("config|get"), for COMMAND INFO.
    pub fn lookup_full(&self, name: &[u8]) -> Option<(CommandId, &'static CommandSpec)> {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        let id = *self.by_name.get(&lower)?;
        Some((id, self.specs[id as usize]))
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Top-level commands only.
    pub fn top_level(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.specs.iter().zip(&self.parents).filter(|(_, p)| p.is_none()).map(|(s, _)| *s)
    }
}

/// The spec a request runs: the command, or for a container (CLIENT, CONFIG...) the
/// subcommand its second argument names. None when unknown.
#[inline]
pub fn resolve(args: &Args<'_>) -> Option<(CommandId, &'static CommandSpec)> {
    let t = table();
    let (id, spec) = t.lookup(&args[0])?;
    if spec.subcommands.is_empty() {
        return Some((id, spec));
    }
    if args.len() < 2 {
        // COMMAND alone is a command in its own right.
        return if spec.arity == -1 { Some((id, spec)) } else { None };
    }
    let sub = find_subcommand(spec, &args[1])?;
    let full = format!("{}|{}", spec.name, sub.name);
    t.by_name.get(&full).map(|&i| (i, t.specs[i as usize]))
}

/// The name errors use: "get", or "client|kill" for a subcommand.
pub fn display_name(args: &Args<'_>, spec: &'static CommandSpec) -> String {
    match table().lookup(&args[0]) {
        Some((_, parent)) if !std::ptr::eq(parent, spec) => format!("{}|{}", parent.name, spec.name),
        _ => spec.name.to_string(),
    }
}

/// A container command's subcommand, by name (case-insensitive).
pub fn find_subcommand(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

static TABLE: OnceLock<CommandTable> = OnceLock::new();

pub fn table() -> &'static CommandTable {
    TABLE.get_or_init(CommandTable::build)
}

/// Shorthand for table rows.
#[allow(clippy::too_many_arguments)]
pub const fn row(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
    route: Route,
    handler: Handler,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    syntax: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, route, handler, group, since, summary, syntax, subcommands: &[] }
}

/// Parses an integer argument with Redis's rule (string2ll), or the "not an integer" error.
pub fn arg_i64(a: &[u8]) -> Result<i64, CmdError> {
    shards::value::parse_i64_strict(a).ok_or(CmdError::Static(crate::protocol::errors::NOT_INTEGER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let t = table();
        let mut seen = std::collections::HashSet::new();
        for (s, full) in t.specs.iter().zip(&t.names) {
            assert!(seen.insert(full.clone()), "duplicate row {full}");
            assert_eq!(s.name, s.name.to_ascii_lowercase(), "{} not lower case", s.name);
            assert!(s.arity != 0, "{} arity 0", s.name);
            assert!(!(s.has(flag::WRITE) && s.has(flag::READONLY)), "{} both write and readonly", s.name);
            if matches!(s.route, Route::Keys | Route::KeysOrAll(_)) {
                assert!(!matches!(s.keys, KeySpec::None), "{} routed by keys but has none", s.name);
            }
            if let Handler::Conn(_) = s.handler {
                assert!(matches!(s.route, Route::Local), "{}: connection handlers run locally", s.name);
            }
            for sub in s.subcommands {
                assert!(sub.arity != 0, "{}|{} arity 0", s.name, sub.name);
            }
        }
        assert!(t.lookup(b"GeT").is_some());
        assert!(t.lookup(b"nosuchcommand").is_none());
    }

    #[test]
    fn key_positions_follow_the_range() {
        assert_eq!(range_positions(5, 1, -1, 2), vec![1, 3]);
        assert_eq!(range_positions(4, 1, -1, 1), vec![1, 2, 3]);
        assert_eq!(range_positions(3, 1, 1, 1), vec![1]);
    }
}
