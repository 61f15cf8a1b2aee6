//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET and CLIENT. They act on
//! the connection's own state and run on its shard.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Conn, KeySpec, Route};
use crate::connection::ReplyMode;
use crate::dispatch::{CmdError, ConnCtx};
use crate::protocol::errors as e;
use crate::protocol::parse::Args;
use crate::server::{ClientInfo, Server};

/// The version clients see: shardis speaks Redis 7.0's protocol and commands.
pub const REDIS_VERSION: &str = "7.0.15";

fn ping(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() > 2 {
        return Err(CmdError::Owned(e::wrong_arity("ping")));
    }
    if !c.conn.resp3 && c.conn.pubsub.active() {
        // Redis: in the RESP2 subscribed context PING answers in the shape of a message.
        c.reply.array_len(2);
        c.reply.bulk(b"pong");
        c.reply.bulk(if a.len() == 2 { &a[1] } else { b"" });
    } else if a.len() == 2 {
        c.reply.bulk(&a[1]);
    } else {
        c.reply.simple("PONG");
    }
    Ok(())
}

fn echo(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    c.reply.bulk(&a[1]);
    Ok(())
}

fn quit(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.ok();
    c.conn.close_after_reply = true;
    Ok(())
}

fn select(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let id = arg_i64(&a[1])?;
    if id < 0 || id as usize >= c.server.databases {
        return Err(CmdError::Static(e::DB_INDEX_OUT_OF_RANGE));
    }
    c.conn.db = id as usize;
    c.conn.info.db.store(id as usize, Relaxed);
    c.reply.ok();
    Ok(())
}

/// Checks a username/password pair against the default user (requirepass).
fn check_password(server: &Server, user: Option<&[u8]>, pass: &[u8]) -> bool {
    if let Some(u) = user {
        if u != b"default" {
            return false;
        }
    }
    match server.requirepass() {
        // The default user with no password accepts any password (Redis 7's nopass).
        None => true,
        Some(p) => p.as_slice() == pass,
    }
}

fn auth(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() > 3 {
        return Err(CmdError::syntax());
    }
    let (user, pass) = if a.len() == 3 { (Some(&a[1]), &a[2]) } else { (None, &a[1]) };
    if user.is_none() && c.server.requirepass().is_none() {
        return Err(CmdError::Static(e::AUTH_NOT_CONFIGURED));
    }
    if check_password(c.server, user, pass) {
        c.conn.authenticated = true;
        c.reply.ok();
        Ok(())
    } else {
        Err(CmdError::Static(e::WRONGPASS))
    }
}

fn hello(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let mut ver = if c.conn.resp3 { 3 } else { 2 };
    let mut i = 1;
    if a.len() >= 2 {
        let v = shards::value::parse_i64_strict(&a[1]).ok_or(CmdError::Static("ERR Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::Static(e::NOPROTO));
        }
        ver = v;
        i = 2;
    }
    let mut name: Option<&[u8]> = None;
    let mut creds: Option<(&[u8], &[u8])> = None;
    while i < a.len() {
        let more = a.len() - i - 1;
        if a[i].eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            creds = Some((&a[i + 1], &a[i + 2]));
            i += 3;
        } else if a[i].eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(&a[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::Owned(format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(&a[i]))));
        }
    }
    if let Some((u, p)) = creds {
        if !check_password(c.server, Some(u), p) {
            return Err(CmdError::Static(e::WRONGPASS));
        }
        c.conn.authenticated = true;
    }
    if !c.conn.authenticated {
        return Err(CmdError::Static("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        validate_name(n)?;
        *c.conn.info.name.lock().unwrap_or_else(|p| p.into_inner()) = n.to_vec();
    }
    c.conn.resp3 = ver == 3;
    c.reply.resp3 = c.conn.resp3;
    c.conn.info.resp.store(ver as u8, Relaxed);
    c.reply.map_len(7);
    c.reply.bulk(b"server");
    c.reply.bulk(b"redis");
    c.reply.bulk(b"version");
    c.reply.bulk(REDIS_VERSION.as_bytes());
    c.reply.bulk(b"proto");
    c.reply.int(ver);
    c.reply.bulk(b"id");
    c.reply.int(c.conn.id as i64);
    c.reply.bulk(b"mode");
    c.reply.bulk(b"standalone");
    c.reply.bulk(b"role");
    c.reply.bulk(b"master");
    c.reply.bulk(b"modules");
    c.reply.array_len(0);
    Ok(())
}

fn reset(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.conn.db = 0;
    c.conn.info.db.store(0, Relaxed);
    c.conn.resp3 = false;
    c.reply.resp3 = false;
    c.conn.info.resp.store(2, Relaxed);
    c.conn.reply_mode = ReplyMode::On;
    c.conn.multi = None;
    c.conn.unwatch(c.server);
    c.conn.pubsub.forget_all(c.server);
    c.conn.authenticated = c.server.requirepass().is_none();
    c.conn.info.name.lock().unwrap_or_else(|p| p.into_inner()).clear();
    c.reply.simple("RESET");
    Ok(())
}

fn validate_name(n: &[u8]) -> CmdResult {
    // Redis allows only printable ASCII without spaces ('!'..='~').
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Static(e::BAD_CLIENT_NAME));
    }
    Ok(())
}

fn client_id(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.int(c.conn.id as i64);
    Ok(())
}

fn client_setname(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    validate_name(&a[2])?;
    *c.conn.info.name.lock().unwrap_or_else(|p| p.into_inner()) = a[2].to_vec();
    c.reply.ok();
    Ok(())
}

fn client_getname(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let name = c.conn.info.name.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if name.is_empty() {
        c.reply.null();
    } else {
        c.reply.bulk(&name);
    }
    Ok(())
}

fn client_setinfo(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let attr = a[2].to_ascii_lowercase();
    let val = &a[3];
    if val.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Owned(format!("ERR {} cannot contain spaces, newlines or special characters.", String::from_utf8_lossy(&a[2]))));
    }
    let slot = match attr.as_slice() {
        b"lib-name" => &c.conn.info.lib_name,
        b"lib-ver" => &c.conn.info.lib_ver,
        _ => return Err(CmdError::Owned(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(&a[2])))),
    };
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = val.to_vec();
    c.reply.ok();
    Ok(())
}

/// One CLIENT LIST line: Redis 7.0's fields in Redis's order, then 7.2's lib-name/lib-ver, then
/// `shard=`, the shard thread serving the connection (extra fields go last, as Redis adds them).
pub fn client_line(info: &ClientInfo, now_ms: i64, this_shard_cmd: Option<&str>) -> String {
    let name = String::from_utf8_lossy(&info.name.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let lib_name = String::from_utf8_lossy(&info.lib_name.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let lib_ver = String::from_utf8_lossy(&info.lib_ver.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    let last = info.last_cmd.load(Relaxed);
    let cmd = match this_shard_cmd {
        Some(c) => c.to_string(),
        None if last == 0 => "NULL".to_string(),
        None => super::table().names.get(last as usize - 1).cloned().unwrap_or_else(|| "NULL".into()),
    };
    let qbuf = info.qbuf.load(Relaxed);
    // Replies are built in one buffer per pass and handed to the writer whole, so Redis's
    // static reply buffer (obl) has no counterpart: every pending byte shows in oll/omem.
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll={} omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={} shard={}",
        info.id,
        info.addr,
        info.laddr,
        info.fd,
        name,
        (now_ms - info.created_ms).max(0) / 1000,
        (now_ms - info.last_interaction_ms.load(Relaxed)).max(0) / 1000,
        if info.is_pubsub() { "P" } else { "N" },
        info.db.load(Relaxed),
        info.subs[0].load(Relaxed),
        info.subs[1].load(Relaxed),
        info.subs[2].load(Relaxed),
        qbuf,
        info.qbuf_cap.load(Relaxed).saturating_sub(qbuf),
        info.oll.load(Relaxed),
        info.omem.load(Relaxed),
        info.mem_usage(),
        cmd,
        info.resp.load(Relaxed),
        lib_name,
        lib_ver,
        info.shard,
    )
}

fn client_list(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    // TYPE normal or pubsub: whether the clients listed are subscribers.
    let mut pubsub: Option<bool> = None;
    let mut i = 2;
    while i < a.len() {
        if a[i].eq_ignore_ascii_case(b"TYPE") && i + 1 < a.len() {
            let t = a[i + 1].to_ascii_lowercase();
            match t.as_slice() {
                b"normal" => pubsub = Some(false),
                b"pubsub" => pubsub = Some(true),
                b"master" | b"replica" | b"slave" => ids = Some(Vec::new()),
                _ => return Err(CmdError::Owned(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(&a[i + 1])))),
            }
            i += 2;
        } else if a[i].eq_ignore_ascii_case(b"ID") && i + 1 < a.len() {
            let mut list = ids.take().unwrap_or_default();
            for j in i + 1..a.len() {
                match shards::value::parse_i64_strict(&a[j]) {
                    Some(v) if v > 0 => list.push(v as u64),
                    _ => return Err(CmdError::Static("ERR Invalid client ID")),
                }
            }
            ids = Some(list);
            i = a.len();
        } else {
            return Err(CmdError::syntax());
        }
    }
    let now = shards::keyspace::wall_clock_ms();
    let clients: Vec<Arc<ClientInfo>> = c.server.clients.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
    let mut out = String::new();
    for info in clients {
        if let Some(list) = &ids {
            if !list.contains(&info.id) {
                continue;
            }
        }
        if pubsub.is_some_and(|p| p != info.is_pubsub()) {
            continue;
        }
        let own = if info.id == c.conn.id { Some("client|list") } else { None };
        out.push_str(&client_line(&info, now, own));
        out.push('\n');
    }
    c.reply.verbatim(&out);
    Ok(())
}

fn client_info(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let now = shards::keyspace::wall_clock_ms();
    let mut line = client_line(&c.conn.info, now, Some("client|info"));
    line.push('\n');
    c.reply.verbatim(&line);
    Ok(())
}

/// Closes a client from any thread: mark it and shut its socket down, which ends its pending
/// read. The registry lock is held, so the fd cannot have been closed and reused meanwhile.
fn kill_client(info: &ClientInfo) {
    info.kill.store(true, Relaxed);
    // SAFETY: shutdown(2) on the client's socket, still open while it is in the registry.
    unsafe {
        libc::shutdown(info.fd, libc::SHUT_RDWR);
    }
}

fn client_kill(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() == 3 {
        // Old form: CLIENT KILL addr:port
        let addr = String::from_utf8_lossy(&a[2]).into_owned();
        let clients = c.server.clients.lock().unwrap_or_else(|p| p.into_inner());
        let Some(target) = clients.values().find(|i| i.addr == addr) else {
            return Err(CmdError::Static(e::NO_SUCH_CLIENT));
        };
        if target.id == c.conn.id {
            c.conn.close_after_reply = true;
        } else {
            kill_client(target);
        }
        c.reply.ok();
        return Ok(());
    }
    let (mut id, mut addr, mut laddr, mut skipme, mut ctype) = (None, None, None, true, None);
    let mut user: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < a.len() {
        if i + 1 >= a.len() {
            return Err(CmdError::syntax());
        }
        let v = &a[i + 1];
        match a[i].to_ascii_lowercase().as_slice() {
            b"id" => match shards::value::parse_i64_strict(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::Static("ERR client-id should be greater than 0")),
            },
            b"addr" => addr = Some(String::from_utf8_lossy(v).into_owned()),
            b"laddr" => laddr = Some(String::from_utf8_lossy(v).into_owned()),
            b"user" => user = Some(v.to_vec()),
            b"type" => {
                let t = v.to_ascii_lowercase();
                match t.as_slice() {
                    b"normal" | b"master" | b"replica" | b"slave" | b"pubsub" => ctype = Some(t),
                    _ => return Err(CmdError::Owned(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(v)))),
                }
            }
            b"skipme" => {
                if v.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if v.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    return Err(CmdError::syntax());
                }
            }
            _ => return Err(CmdError::syntax()),
        }
        i += 2;
    }
    let clients = c.server.clients.lock().unwrap_or_else(|p| p.into_inner());
    let mut killed = 0;
    for info in clients.values() {
        if id.is_some_and(|v| v != info.id) || addr.as_ref().is_some_and(|v| *v != info.addr) || laddr.as_ref().is_some_and(|v| *v != info.laddr) {
            continue;
        }
        if user.as_ref().is_some_and(|u| u != b"default") {
            continue;
        }
        // Redis's getClientType: a subscriber is of type pubsub, not normal.
        let kind: &[u8] = if info.is_pubsub() { b"pubsub" } else { b"normal" };
        if ctype.as_ref().is_some_and(|t| t.as_slice() != kind) {
            continue;
        }
        if info.id == c.conn.id {
            if skipme {
                continue;
            }
            c.conn.close_after_reply = true;
        } else {
            kill_client(info);
        }
        killed += 1;
    }
    c.reply.int(killed);
    Ok(())
}

fn client_reply(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    match a[2].to_ascii_lowercase().as_slice() {
        b"on" => {
            c.conn.reply_mode = ReplyMode::On;
            c.reply.ok();
        }
        // The reply to CLIENT REPLY OFF itself is not sent either.
        b"off" => c.conn.reply_mode = ReplyMode::Off,
        b"skip" => {
            if c.conn.reply_mode != ReplyMode::Off {
                c.conn.reply_mode = ReplyMode::SkipNext;
            }
        }
        _ => return Err(CmdError::syntax()),
    }
    Ok(())
}

fn client_no_evict(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if a[2].eq_ignore_ascii_case(b"on") || a[2].eq_ignore_ascii_case(b"off") {
        c.reply.ok();
        Ok(())
    } else {
        Err(CmdError::syntax())
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends a blocking command's wait (1 if the client was
/// blocked). The coordinator, which keeps the waiters, sends the client its reply.
fn client_unblock(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let id = shards::value::parse_i64_strict(&a[2]).ok_or(CmdError::Static(e::NOT_INTEGER))?;
    let error = if a.len() == 4 {
        if a[3].eq_ignore_ascii_case(b"ERROR") {
            true
        } else if a[3].eq_ignore_ascii_case(b"TIMEOUT") {
            false
        } else {
            return Err(CmdError::Static("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
        }
    } else {
        false
    };
    let blocked = {
        let clients = c.server.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(&(id as u64)).is_some_and(|i| i.blocked.load(Relaxed))
    };
    if blocked {
        if let Some(coord) = c.server.coordinator.get() {
            coord.send_msg(crate::coordinator::CoordMsg::Unblock { client: id as u64, error });
        }
    }
    c.reply.int(blocked as i64);
    Ok(())
}

fn client_help(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made from the specified address",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Kill connections made to specified local address",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Kill connections by type.",
        "    * USER <username>",
        "      Kill connections authenticated by <username>.",
        "    * SKIPME (YES|NO)",
        "      Skip killing current connection (default: yes).",
        "    * ID <client-id>",
        "      Kill connections by client id.",
        "LIST [options ...]",
        "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
        "      Return clients of specified type.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "    Set client library name or version.",
        "HELP",
        "    Prints this help.",
    ];
    c.reply.help(&lines);
    Ok(())
}

const G: &str = "connection";
const N: KeySpec = KeySpec::None;
const L: Route = Route::Local;

pub static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    row("id", 2, NOSCRIPT | LOADING | STALE, N, L, Conn(client_id), G, "5.0.0", "Returns the client ID for the current connection", ""),
    row("setname", 3, NOSCRIPT | LOADING | STALE, N, L, Conn(client_setname), G, "2.6.9", "Set the current connection name", "connection-name"),
    row("getname", 2, NOSCRIPT | LOADING | STALE, N, L, Conn(client_getname), G, "2.6.9", "Get the current connection name", ""),
    row(
        "setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(client_setinfo),
        G,
        "7.2.0",
        "Set client or connection specific info",
        "LIB-NAME libname|LIB-VER libver",
    ),
    row(
        "list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(client_list),
        G,
        "2.4.0",
        "Get the list of client connections",
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
    ),
    row("info", 2, NOSCRIPT | LOADING | STALE, N, L, Conn(client_info), G, "6.2.0", "Returns information about the current client connection.", ""),
    row(
        "kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(client_kill),
        G,
        "2.4.0",
        "Kill the connection of a client",
        "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes/no]",
    ),
    row("reply", 3, NOSCRIPT | LOADING | STALE, N, L, Conn(client_reply), G, "3.2.0", "Instruct the server whether to reply to commands", "ON|OFF|SKIP"),
    row(
        "unblock",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(client_unblock),
        G,
        "5.0.0",
        "Unblock a client blocked in a blocking command from a different connection",
        "client-id [TIMEOUT|ERROR]",
    ),
    row(
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        N,
        L,
        Conn(client_no_evict),
        G,
        "7.0.0",
        "Set client eviction mode for the current connection",
        "ON|OFF",
    ),
    row("help", 2, LOADING | STALE, N, L, Conn(client_help), G, "5.0.0", "Show helpful text about the different subcommands", ""),
];

pub static COMMANDS: &[CommandSpec] = &[
    row("ping", -1, FAST, N, L, Conn(ping), G, "1.0.0", "Ping the server", "[message]"),
    row("echo", 2, FAST, N, L, Conn(echo), G, "1.0.0", "Echo the given string", "message"),
    row("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, N, L, Conn(quit), G, "1.0.0", "Close the connection", ""),
    row("select", 2, LOADING | STALE | FAST, N, L, Conn(select), G, "1.0.0", "Change the selected database for the current connection", "index"),
    row(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        N,
        L,
        Conn(auth),
        G,
        "1.0.0",
        "Authenticate to the server",
        "[username] password",
    ),
    row(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        N,
        L,
        Conn(hello),
        G,
        "6.0.0",
        "Handshake with Redis",
        "[protover [AUTH username password] [SETNAME clientname]]",
    ),
    row("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, N, L, Conn(reset), G, "6.2.0", "Reset the connection", ""),
    CommandSpec {
        subcommands: CLIENT_SUBCOMMANDS,
        ..row("client", -2, 0, N, L, Conn(client_help), G, "2.4.0", "A container for client connection commands", "")
    },
];
