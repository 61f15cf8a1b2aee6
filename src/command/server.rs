//! Server commands: INFO, CONFIG, COMMAND, TIME, SAVE, BGSAVE, LASTSAVE, SHUTDOWN, SLOWLOG,
//! DEBUG, FUNCTION, BGREWRITEAOF.

use std::sync::atomic::Ordering::Relaxed;

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Conn, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, ConnCtx, Exec};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;
use crate::server::{ClientInfo, Server, SlowlogEntry};
use crate::snapshot::{BgsaveRefused, Child};

fn info(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let sections: Vec<Vec<u8>> = a.iter().skip(1).map(|s| s.to_ascii_lowercase()).collect();
    let text = crate::info::render(x, &sections);
    x.reply.verbatim(&text);
    Ok(())
}

fn config_get(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let patterns: Vec<&[u8]> = a.iter().skip(2).collect();
    let pairs = c.server.config().get(&patterns);
    c.reply.map_len(pairs.len());
    for (k, v) in pairs {
        c.reply.bulk(k.as_bytes());
        c.reply.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::Owned(e::wrong_arity("config|set")));
    }
    let pairs: Vec<(&[u8], &[u8])> = (2..a.len()).step_by(2).map(|i| (&a[i], &a[i + 1])).collect();
    let changed = c.server.config_mut().set(&pairs).map_err(CmdError::Owned)?;
    c.server.refresh_hot();
    if changed.contains(&"loglevel") {
        crate::boot::apply_loglevel(&c.server.config());
    }
    c.reply.ok();
    Ok(())
}

fn config_rewrite(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.server.config().rewrite().map_err(CmdError::Owned)?;
    c.reply.ok();
    Ok(())
}

fn config_resetstat(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    x.for_each_core(|c| {
        c.stats.reset();
        c.engine.stats = Default::default();
    });
    x.server.slowlog.lock().unwrap_or_else(|p| p.into_inner()).entries.clear();
    x.server.total_connections_received.store(0, Relaxed);
    x.server.rejected_connections.store(0, Relaxed);
    x.reply.ok();
    Ok(())
}

fn config_help(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.help(&[
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ]);
    Ok(())
}

/// BGREWRITEAOF (Redis's bgrewriteaofCommand): every shard rewrites its AOF (see
/// crate::aof::rewrite); scheduled while a background save runs.
fn bgrewriteaof(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    use crate::aof::rewrite::Start;
    match crate::aof::rewrite::request(c.server) {
        Start::Started => c.reply.simple("Background append only file rewriting started"),
        Start::Scheduled => c.reply.simple("Background append only file rewriting scheduled"),
        Start::InProgress => return Err(CmdError::Static(e::REWRITE_IN_PROGRESS)),
    }
    Ok(())
}

fn time(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    c.reply.array_len(2);
    c.reply.bulk(d.as_secs().to_string().as_bytes());
    c.reply.bulk(d.subsec_micros().to_string().as_bytes());
    Ok(())
}

fn lastsave(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.int(c.server.save.lastsave.load(Relaxed));
    Ok(())
}

/// SAVE: the whole dataset written now, every shard held meanwhile (as Redis blocks).
fn save(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    let server = x.server;
    if server.save.child() == Child::Rdb {
        return Err(CmdError::Static("ERR Background save already in progress"));
    }
    crate::snapshot::save_sync(server, &mut |f| x.for_each_core(f)).map_err(|_| CmdError::Static("ERR"))?;
    x.reply.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE]: every shard starts its snapshot now (all held), then writes it between
/// its other work.
fn bgsave(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let schedule = match a.len() {
        1 => false,
        2 if a[1].eq_ignore_ascii_case(b"schedule") => true,
        _ => return Err(CmdError::syntax()),
    };
    let server = x.server;
    match crate::snapshot::bgsave_start(server, &mut |f| x.for_each_core(f)) {
        Ok(()) => x.reply.simple("Background saving started"),
        Err(BgsaveRefused::InProgress) => return Err(CmdError::Static("ERR Background save already in progress")),
        Err(BgsaveRefused::OtherChild) if schedule => {
            server.save.bgsave_scheduled.store(true, Relaxed);
            x.reply.simple("Background saving scheduled");
        }
        Err(BgsaveRefused::OtherChild) => {
            return Err(CmdError::Static(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ))
        }
        Err(BgsaveRefused::Failed) => return Err(CmdError::Static("ERR")),
    }
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], with every shard held: saves when asked or
/// when save points exist, makes the AOF durable, exits.
fn shutdown(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let (mut abort, mut save, mut nosave, mut force, mut now) = (false, false, false, false, false);
    for opt in a.iter().skip(1) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" => now = true,
            b"force" => force = true,
            b"abort" => abort = true,
            _ => return Err(CmdError::syntax()),
        }
    }
    if (save && nosave) || (abort && (save || nosave || force || now)) {
        return Err(CmdError::syntax());
    }
    if abort {
        return Err(CmdError::Static("ERR No shutdown in progress."));
    }
    tracing::warn!("User requested shutdown...");
    let server = x.server;
    if crate::snapshot::prepare_shutdown(server, &mut |f| x.for_each_core(f), save, nosave, force).is_err() {
        return Err(CmdError::Static("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    server.shutdown.store(true, Relaxed);
    tracing::warn!("shardis is now ready to exit, bye bye...");
    crate::boot::exit_now(0);
}

/// Logs the command if it ran longer than slowlog-log-slower-than (wherever it ran: on the
/// connection's shard, the owning shard or the coordinator).
pub fn maybe_slowlog(server: &Server, spec: &CommandSpec, args: &Args<'_>, us: u64, client: &ClientInfo) {
    let threshold = server.hot().slowlog_log_slower_than;
    if threshold < 0 || (us as i64) < threshold || spec.has(SKIP_SLOWLOG) {
        return;
    }
    slowlog_push(server, args, us, client);
}

/// Adds a slow command to the slow log (bounded by slowlog-max-len), Redis's formatting:
/// at most 32 arguments, each at most 128 bytes.
pub fn slowlog_push(server: &Server, args: &Args<'_>, us: u64, client: &ClientInfo) {
    let max_len = server.config().slowlog_max_len as usize;
    let mut argv: Vec<Vec<u8>> = Vec::new();
    let argc = args.len();
    let shown = argc.min(32);
    for i in 0..shown {
        if shown != argc && i == shown - 1 {
            argv.push(format!("... ({} more arguments)", argc - shown + 1).into_bytes());
            break;
        }
        let a = &args[i];
        if a.len() > 128 {
            let mut v = a[..128].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
            argv.push(v);
        } else {
            argv.push(a.to_vec());
        }
    }
    let mut log = server.slowlog.lock().unwrap_or_else(|p| p.into_inner());
    let id = log.next_id;
    log.next_id += 1;
    let name = client.name.lock().unwrap_or_else(|p| p.into_inner()).clone();
    log.entries.push_front(SlowlogEntry { id, time: shards::keyspace::wall_clock_ms() / 1000, duration_us: us, args: argv, peer: client.addr.clone(), name });
    while log.entries.len() > max_len {
        log.entries.pop_back();
    }
}

fn slowlog_get(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let count = if a.len() == 3 {
        let n = arg_i64(&a[2]).map_err(|_| CmdError::Static("ERR count should be greater than or equal to -1"))?;
        if n < -1 {
            return Err(CmdError::Static("ERR count should be greater than or equal to -1"));
        }
        if n == -1 {
            usize::MAX
        } else {
            n as usize
        }
    } else if a.len() > 3 {
        return Err(CmdError::Owned(e::wrong_arity("slowlog|get")));
    } else {
        10
    };
    let log = c.server.slowlog.lock().unwrap_or_else(|p| p.into_inner());
    let n = count.min(log.entries.len());
    c.reply.array_len(n);
    for entry in log.entries.iter().take(n) {
        c.reply.array_len(6);
        c.reply.int(entry.id as i64);
        c.reply.int(entry.time);
        c.reply.int(entry.duration_us as i64);
        c.reply.array_len(entry.args.len());
        for a in &entry.args {
            c.reply.bulk(a);
        }
        c.reply.bulk(entry.peer.as_bytes());
        c.reply.bulk(&entry.name);
    }
    Ok(())
}

fn slowlog_len(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let n = c.server.slowlog.lock().unwrap_or_else(|p| p.into_inner()).entries.len();
    c.reply.int(n as i64);
    Ok(())
}

fn slowlog_reset(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.server.slowlog.lock().unwrap_or_else(|p| p.into_inner()).entries.clear();
    c.reply.ok();
    Ok(())
}

fn slowlog_help(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.help(&[
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Prints this help.",
    ]);
    Ok(())
}

/// Redis 7's enable-debug-command (protected configs): no (default), yes, or local (loopback
/// clients only). DEBUG runs as a keyspace command (it needs every shard for DIGEST), where the
/// client's address is not at hand, so "local" allows it when the server listens on loopback
/// addresses only (every client is then local) and refuses it otherwise.
fn debug_allowed(server: &crate::server::Server) -> bool {
    let config = server.config();
    match config.extra("enable-debug-command").unwrap_or("no").to_ascii_lowercase().as_str() {
        "yes" => true,
        "local" => {
            let loopback = |b: &String| b.trim_start_matches('-').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) || b == "localhost";
            !config.bind.is_empty() && config.bind.iter().all(loopback)
        }
        _ => false,
    }
}

/// DEBUG runs on every shard at once (Route::AllShards): DIGEST covers the whole dataset, and
/// SLEEP stops the whole server, as it does Redis.
fn debug(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    if !debug_allowed(x.server) {
        return Err(CmdError::Static("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."));
    }
    match a[1].to_ascii_lowercase().as_slice() {
        b"sleep" if a.len() == 3 => {
            let secs = shards::value::parse_f64_strict(&a[2]).ok_or(CmdError::Static(e::NOT_FLOAT))?;
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.max(0.0)));
            x.reply.ok();
        }
        b"set-active-expire" if a.len() == 3 => {
            let on = arg_i64(&a[2]).map_err(|_| CmdError::Static(e::NOT_INTEGER))?;
            x.server.active_expire.store(on != 0, Relaxed);
            x.reply.ok();
        }
        b"object" if a.len() == 3 => debug_object(x, &a[2])?,
        b"populate" if (3..=5).contains(&a.len()) => debug_populate(x, a)?,
        b"digest" if a.len() == 2 => {
            let mut d = shards::digest::DatasetDigest::default();
            x.for_each_core(|c| d.add_shard(&c.engine));
            x.reply.simple(&shards::digest::hex(&d.finish()));
        }
        b"digest-value" => {
            x.reply.array_len(a.len() - 2);
            let db = x.db;
            for key in a.iter().skip(2) {
                // Like Redis, this reads the key even if it is logically expired.
                let d = shards::digest::value_digest(x.shard(key).dbs[db].main.get(key));
                x.reply.simple(&shards::digest::hex(&d));
            }
        }
        b"reload" => {
            let (mut merge, mut noflush, mut nosave) = (false, false, false);
            for opt in a.iter().skip(2) {
                match opt.to_ascii_lowercase().as_slice() {
                    b"merge" => merge = true,
                    b"noflush" => noflush = true,
                    b"nosave" => nosave = true,
                    _ => return Err(CmdError::Static("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")),
                }
            }
            // MERGE alone changes nothing here: loading replaces a key that exists.
            let _ = merge;
            let server = x.server;
            crate::snapshot::debug_reload(server, &mut |f| x.for_each_core(f), !nosave, !noflush).map_err(CmdError::Static)?;
            x.reply.ok();
        }
        b"loadaof" if a.len() == 2 => {
            let server = x.server;
            crate::aof::load::debug_loadaof(server, &mut |f| x.for_each_core(f)).map_err(CmdError::Owned)?;
            x.reply.ok();
        }
        b"help" => x.reply.help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "LOADAOF",
            "    Flush the AOF buffers on disk and reload the AOF in memory.",
            "OBJECT <key>",
            "    Show low level info about the `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. Unlike Redis, they are written to",
            "    the AOF. Cache the value with <size> if it is specified.",
            "RELOAD [option ...]",
            "    Save the RDB on disk and reload it back to memory. Options: MERGE (with NOFLUSH,",
            "    keys in both win from the file), NOFLUSH (do not empty the dataset first),",
            "    NOSAVE (load the existing file without saving first).",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Prints this help.",
        ]),
        _ => return Err(CmdError::Owned(e::unknown_subcommand(&a[1], "debug"))),
    }
    Ok(())
}

/// DEBUG OBJECT key: Redis's line of low-level facts about the value. The address is the
/// key's node; refcount as OBJECT REFCOUNT shows it; serializedlength is the value's RDB
/// length with the current rdbcompression; a list adds its quicklist figures as saved.
fn debug_object(x: &mut Exec<'_>, key: &[u8]) -> Result<(), CmdError> {
    let (db, now) = (x.db, x.now_ms());
    let config = x.server.config();
    let (compress, fill, depth) = (config.rdbcompression, config.list_max_listpack_size, config.list_compress_depth);
    drop(config);
    let lfu = x.server.hot().lfu_policy;
    let server = x.server;
    let Some(e) = x.shard(key).peek(db, key) else {
        return Err(CmdError::Static("ERR no such key"));
    };
    let value = e.value();
    let refcount = super::keys::shown_refcount(server, Some(&value));
    let lru = e.lru();
    // Under an LFU policy the field holds access counts, not a clock: Redis prints what its
    // estimate makes of it; no idle time is tracked then.
    let idle = if lfu { 0 } else { shards::evict::idle_ms(lru, now) / 1000 };
    let mut line = format!(
        "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        e as *const _,
        value.encoding_name(),
        shards::rdb::serialized_len(&value, compress),
        lru & 0xFF_FFFF,
        idle
    );
    if let shards::value::Value::List(l) = &*value {
        let (nodes, bytes) = shards::rdb::list_quicklist_figures(l);
        let avg = if nodes == 0 { 0.0 } else { l.len() as f64 / nodes as f64 };
        line.push_str(&format!(
            " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:{fill} ql_compressed:{} ql_uncompressed_size:{bytes}",
            u8::from(depth != 0)
        ));
    }
    x.reply.simple(&line);
    Ok(())
}

/// DEBUG POPULATE count [prefix] [size]: adds `count` string keys `prefix:N` (prefix "key")
/// holding "value:N", or that text cut or zero-padded to `size` bytes; keys that exist are left
/// alone. As in Redis they do not count as changes for save points (rdb_changes_since_last_save
/// stays). Unlike Redis, they are written to the AOF (as SETs): every change to the dataset is
/// logged (DESIGN.md I2), so a restart gives back what was populated.
fn debug_populate(x: &mut Exec<'_>, a: &Args<'_>) -> Result<(), CmdError> {
    // Redis 7.0 answers a negative count and one that is not a number alike.
    let positive = |v: &[u8]| -> Result<u64, CmdError> {
        arg_i64(v).ok().and_then(|n| u64::try_from(n).ok()).ok_or(CmdError::Static("ERR value is out of range, must be positive"))
    };
    let count = positive(&a[2])?;
    let size = if a.len() == 5 { positive(&a[4])? as usize } else { 0 };
    let prefix: &[u8] = if a.len() >= 4 { &a[3] } else { b"key" };
    let (db, server) = (x.db, x.server);
    let mut key = Vec::new();
    let mut value = Vec::new();
    for j in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        // Redis formats the name into a 128-byte buffer.
        key.truncate(127);
        value.clear();
        value.extend_from_slice(b"value:");
        value.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        if size > 0 {
            value.resize(size, 0);
        }
        let set = x.shard(&key).set(db, &key, &value, shards::ops::string::SetCond::IfAbsent, shards::ops::Ttl::Clear, false);
        if !set.map_err(CmdError::from)?.written {
            continue;
        }
        x.emit(&key, &[b"SET", &key, &value]);
        x.core_for(&key).note_ready(server, db, &key);
    }
    x.reply.ok();
    Ok(())
}

fn function(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    match a[1].to_ascii_lowercase().as_slice() {
        // No functions exist yet, so FLUSH has nothing to remove and LIST nothing to show.
        // FLUSH still counts one change, as functionFlushCommand's server.dirty++.
        b"flush" if a.len() <= 3 => {
            c.server.dirty_add(1);
            c.reply.ok()
        }
        b"list" => c.reply.array_len(0),
        _ => return Err(CmdError::Owned(e::unknown_subcommand(&a[1], "function"))),
    }
    Ok(())
}

const G: &str = "server";
const N: KeySpec = KeySpec::None;
const L: Route = Route::Local;

pub static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    row(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(config_get),
        G,
        "2.0.0",
        "Get the values of configuration parameters",
        "parameter [parameter ...]",
    ),
    row(
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(config_set),
        G,
        "2.0.0",
        "Set configuration parameters to the given values",
        "parameter value [parameter value ...]",
    ),
    row("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, N, Route::AllShards, Data(config_resetstat), G, "2.0.0", "Reset the stats returned by INFO", ""),
    row(
        "rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(config_rewrite),
        G,
        "2.8.0",
        "Rewrite the configuration file with the in memory configuration",
        "",
    ),
    row("help", 2, LOADING | STALE, N, L, Conn(config_help), G, "5.0.0", "Show helpful text about the different subcommands", ""),
];

pub static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    row("get", -2, ADMIN | LOADING | STALE, N, L, Conn(slowlog_get), G, "2.2.12", "Get the slow log's entries", "[count]"),
    row("len", 2, ADMIN | LOADING | STALE, N, L, Conn(slowlog_len), G, "2.2.12", "Get the slow log's length", ""),
    row("reset", 2, ADMIN | LOADING | STALE, N, L, Conn(slowlog_reset), G, "2.2.12", "Clear all entries from the slow log", ""),
    row("help", 2, LOADING | STALE, N, L, Conn(slowlog_help), G, "6.2.0", "Show helpful text about the different subcommands", ""),
];

pub static COMMANDS: &[CommandSpec] = &[
    row("info", -1, LOADING | STALE, N, Route::AllShards, Data(info), G, "1.0.0", "Get information and statistics about the server", "[section [section ...]]"),
    CommandSpec {
        subcommands: CONFIG_SUBCOMMANDS,
        ..row("config", -2, 0, N, L, Conn(config_help), G, "2.0.0", "A container for server configuration commands", "")
    },
    CommandSpec { subcommands: SLOWLOG_SUBCOMMANDS, ..row("slowlog", -2, 0, N, L, Conn(slowlog_help), G, "2.2.12", "A container for slow log commands", "") },
    row("time", 1, LOADING | STALE | FAST, N, L, Conn(time), G, "2.6.0", "Return the current server time", ""),
    row("lastsave", 1, LOADING | STALE | FAST, N, L, Conn(lastsave), G, "1.0.0", "Get the UNIX time stamp of the last successful save to disk", ""),
    row("bgrewriteaof", 1, ADMIN | NOSCRIPT, N, L, Conn(bgrewriteaof), G, "1.0.0", "Asynchronously rewrite the append-only file", ""),
    row("save", 1, ADMIN | NOSCRIPT | NO_MULTI, N, Route::AllShards, Data(save), G, "1.0.0", "Synchronously save the dataset to disk", ""),
    row("bgsave", -1, ADMIN | NOSCRIPT, N, Route::AllShards, Data(bgsave), G, "1.0.0", "Asynchronously save the dataset to disk", "[SCHEDULE]"),
    row(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        N,
        Route::AllShards,
        Data(shutdown),
        G,
        "1.0.0",
        "Synchronously save the dataset to disk and then shut down the server",
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
    ),
    row(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        Route::AllShards,
        Data(debug),
        G,
        "1.0.0",
        "A container for debugging commands",
        "subcommand [argument ...]",
    ),
    row("function", -2, NOSCRIPT | WRITE, N, L, Conn(function), "scripting", "7.0.0", "A container for function commands", "subcommand [argument ...]"),
    CommandSpec {
        subcommands: super::introspect::COMMAND_SUBCOMMANDS,
        ..row("command", -1, LOADING | STALE, N, L, Conn(super::introspect::command_all), G, "2.8.13", "Get array of Redis command details", "")
    },
];
