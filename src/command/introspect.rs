//! COMMAND and its subcommands: the command table described to clients (redis-cli builds its
//! help and hints from COMMAND DOCS; client libraries read COMMAND INFO for key positions).

use super::flag::*;
use super::{row, table, CmdResult, CommandSpec, Handler::Conn, KeySpec, Route};
use crate::dispatch::{CmdError, ConnCtx};
use crate::protocol::parse::Args;
use crate::protocol::Reply;

/// ACL categories derived from the row (Redis's @read, @write, @fast, @slow, family...).
pub fn acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mut cats = Vec::new();
    if spec.has(WRITE) {
        cats.push("@write");
    }
    if spec.has(READONLY) {
        cats.push("@read");
    }
    match spec.group {
        "string" => cats.push("@string"),
        "bitmap" => cats.push("@bitmap"),
        "list" => cats.push("@list"),
        "hash" => cats.push("@hash"),
        "set" => cats.push("@set"),
        "sorted_set" => cats.push("@sortedset"),
        "generic" => cats.push("@keyspace"),
        "connection" => cats.push("@connection"),
        "scripting" => cats.push("@scripting"),
        _ => {}
    }
    if spec.has(PUBSUB) {
        // Redis's setImplicitACLCategories: from the flag, not the group (PUBSUB HELP has neither).
        cats.push("@pubsub");
    }
    if spec.has(BLOCKING) {
        cats.push("@blocking");
    }
    if spec.has(ADMIN) {
        cats.push("@admin");
        cats.push("@dangerous");
    }
    if spec.has(FAST) {
        cats.push("@fast");
    } else {
        cats.push("@slow");
    }
    cats
}

fn write_flags(r: &mut Reply, spec: &CommandSpec) {
    let names: Vec<&str> = NAMES.iter().filter(|(f, _)| spec.has(*f)).map(|(_, n)| *n).collect();
    r.set_len(names.len());
    for n in names {
        r.simple(n);
    }
}

/// A key spec's access flag. Shard channels (SSUBSCRIBE, SPUBLISH...) are declared where keys
/// are, for cluster routing, but flagged not_key: nothing reads or writes them as keys, and
/// COMMAND GETKEYS leaves them out (Redis's CMD_KEY_NOT_KEY).
fn key_spec_flag(spec: &CommandSpec) -> &'static str {
    if spec.has(PUBSUB) {
        "not_key"
    } else if spec.has(WRITE) {
        "RW"
    } else {
        "RO"
    }
}

fn write_key_specs(r: &mut Reply, spec: &CommandSpec) {
    let (first, last, step) = spec.legacy_range();
    if first == 0 {
        r.array_len(0);
        return;
    }
    let access = key_spec_flag(spec);
    r.array_len(1);
    r.map_len(3);
    r.bulk(b"flags");
    r.set_len(1);
    r.simple(access);
    r.bulk(b"begin_search");
    r.map_len(2);
    r.bulk(b"type");
    r.bulk(b"index");
    r.bulk(b"spec");
    r.map_len(1);
    r.bulk(b"index");
    r.int(first as i64);
    r.bulk(b"find_keys");
    r.map_len(2);
    r.bulk(b"type");
    r.bulk(b"range");
    r.bulk(b"spec");
    r.map_len(3);
    r.bulk(b"lastkey");
    r.int(if last < 0 { last as i64 } else { (last - first) as i64 });
    r.bulk(b"keystep");
    r.int(step as i64);
    r.bulk(b"limit");
    r.int(0);
}

/// One COMMAND / COMMAND INFO entry, Redis 7's ten fields.
fn write_info(r: &mut Reply, spec: &CommandSpec, full_name: &str) {
    let (first, last, step) = spec.legacy_range();
    r.array_len(10);
    r.bulk(full_name.as_bytes());
    r.int(spec.arity as i64);
    write_flags(r, spec);
    r.int(first as i64);
    r.int(last as i64);
    r.int(step as i64);
    let cats = acl_categories(spec);
    r.set_len(cats.len());
    for c in cats {
        r.simple(c);
    }
    r.array_len(0);
    write_key_specs(r, spec);
    r.array_len(spec.subcommands.len());
    for sub in spec.subcommands {
        write_info(r, sub, &format!("{}|{}", full_name, sub.name));
    }
}

fn write_docs(r: &mut Reply, spec: &CommandSpec, full_name: &str) {
    let has_args = !spec.syntax.is_empty();
    let has_subs = !spec.subcommands.is_empty();
    r.map_len(3 + has_args as usize + has_subs as usize);
    r.bulk(b"summary");
    r.bulk(spec.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(spec.since.as_bytes());
    r.bulk(b"group");
    r.bulk(spec.group.as_bytes());
    if has_args {
        r.bulk(b"arguments");
        super::docs::write_arguments(r, spec.syntax);
    }
    if has_subs {
        r.bulk(b"subcommands");
        r.map_len(spec.subcommands.len());
        for sub in spec.subcommands {
            let name = format!("{}|{}", full_name, sub.name);
            r.bulk(name.as_bytes());
            write_docs(r, sub, &name);
        }
    }
}

pub fn command_all(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let t = table();
    let tops: Vec<_> = t.top_level().collect();
    c.reply.array_len(tops.len());
    for spec in tops {
        write_info(c.reply, spec, spec.name);
    }
    Ok(())
}

fn command_count(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    c.reply.int(table().top_level().count() as i64);
    Ok(())
}

fn command_info(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    if a.len() == 2 {
        return command_all(c, a);
    }
    c.reply.array_len(a.len() - 2);
    for name in a.iter().skip(2) {
        match table().lookup_full(name) {
            Some((id, spec)) => {
                let full = table().names[id as usize].clone();
                write_info(c.reply, spec, &full);
            }
            None => c.reply.null_array(),
        }
    }
    Ok(())
}

fn command_docs(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let t = table();
    if a.len() == 2 {
        let tops: Vec<_> = t.top_level().collect();
        c.reply.map_len(tops.len());
        for spec in tops {
            c.reply.bulk(spec.name.as_bytes());
            write_docs(c.reply, spec, spec.name);
        }
        return Ok(());
    }
    let found: Vec<_> = a.iter().skip(2).filter_map(|n| t.lookup_full(n)).collect();
    c.reply.map_len(found.len());
    for (id, spec) in found {
        let full = t.names[id as usize].clone();
        c.reply.bulk(full.as_bytes());
        write_docs(c.reply, spec, &full);
    }
    Ok(())
}

fn command_getkeys(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let owned: Vec<Vec<u8>> = a.iter().skip(2).map(|x| x.to_vec()).collect();
    let inner = Args::from_owned(&owned);
    let Some((_, spec)) = super::resolve(&inner) else {
        return Err(CmdError::Static("ERR Invalid command specified"));
    };
    if !spec.arity_ok(inner.len()) {
        return Err(CmdError::Static("ERR Invalid number of arguments specified for command"));
    }
    let pos = if key_spec_flag(spec) == "not_key" { Vec::new() } else { spec.key_positions(&inner) };
    if pos.is_empty() {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    let with_flags = a[1].eq_ignore_ascii_case(b"getkeysandflags");
    c.reply.array_len(pos.len());
    for p in pos {
        if with_flags {
            c.reply.array_len(2);
            c.reply.bulk(&inner[p]);
            c.reply.set_len(1);
            c.reply.simple(key_spec_flag(spec));
        } else {
            c.reply.bulk(&inner[p]);
        }
    }
    Ok(())
}

fn command_list(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    let t = table();
    let mut names: Vec<String> = t.names.clone();
    if a.len() > 2 {
        if a.len() != 5 || !a[2].eq_ignore_ascii_case(b"FILTERBY") {
            return Err(CmdError::syntax());
        }
        let kind = a[3].to_ascii_lowercase();
        let val = &a[4];
        names = match kind.as_slice() {
            b"pattern" => names.into_iter().filter(|n| shards::glob::glob_match(val, n.as_bytes(), true)).collect(),
            b"module" => Vec::new(),
            b"aclcat" => {
                let cat = format!("@{}", String::from_utf8_lossy(val).to_ascii_lowercase());
                t.specs.iter().zip(&t.names).filter(|(s, _)| acl_categories(s).contains(&cat.as_str())).map(|(_, n)| n.clone()).collect()
            }
            _ => return Err(CmdError::syntax()),
        };
    }
    c.reply.array_len(names.len());
    for n in names {
        c.reply.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_help(c: &mut ConnCtx<'_>, _a: &Args<'_>) -> CmdResult {
    let lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
    ];
    c.reply.help(&lines);
    Ok(())
}

const G: &str = "server";
const N: KeySpec = KeySpec::None;
const L: Route = Route::Local;

pub static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    row("count", 2, LOADING | STALE, N, L, Conn(command_count), G, "2.8.13", "Get total number of Redis commands", ""),
    row(
        "info",
        -2,
        LOADING | STALE,
        N,
        L,
        Conn(command_info),
        G,
        "2.8.13",
        "Get array of specific Redis command details, or all when no argument is given.",
        "[command-name [command-name ...]]",
    ),
    row(
        "docs",
        -2,
        LOADING | STALE,
        N,
        L,
        Conn(command_docs),
        G,
        "7.0.0",
        "Get array of specific Redis command documentation",
        "[command-name [command-name ...]]",
    ),
    row("getkeys", -3, LOADING | STALE, N, L, Conn(command_getkeys), G, "2.8.13", "Extract keys given a full Redis command", "command [arg [arg ...]]"),
    row(
        "getkeysandflags",
        -4,
        LOADING | STALE,
        N,
        L,
        Conn(command_getkeys),
        G,
        "7.0.0",
        "Extract keys and access flags given a full Redis command",
        "command [arg [arg ...]]",
    ),
    row(
        "list",
        -2,
        LOADING | STALE,
        N,
        L,
        Conn(command_list),
        G,
        "7.0.0",
        "Get an array of Redis command names",
        "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
    ),
    row("help", 2, LOADING | STALE, N, L, Conn(command_help), G, "5.0.0", "Show helpful text about the different subcommands", ""),
];
