//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB. The
//! (un)subscribe commands change the connection's own subscriptions and run on its shard;
//! PUBLISH runs wherever it is asked (its connection's shard, or the coordinator inside EXEC)
//! and hands the message to every receiver's shard (see [`crate::pubsub`]).
//!
//! Without cluster mode, shard channels (SSUBSCRIBE, SPUBLISH) are plain channels of a
//! namespace of their own, as in Redis 7.0.

use super::flag::*;
use super::{row, CmdResult, CommandSpec, Handler::Conn, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, ConnCtx, Exec};
use crate::protocol::parse::Args;
use crate::pubsub::Kind;

fn subscribe_kind(c: &mut ConnCtx<'_>, a: &Args<'_>, kind: Kind) -> CmdResult {
    c.conn.pubsub.subscribe(c.server, kind, &a.slice_from(1), c.reply);
    Ok(())
}

fn unsubscribe_kind(c: &mut ConnCtx<'_>, a: &Args<'_>, kind: Kind) -> CmdResult {
    c.conn.pubsub.unsubscribe(c.server, kind, &a.slice_from(1), c.reply);
    Ok(())
}

fn subscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    subscribe_kind(c, a, Kind::Channel)
}

fn psubscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    subscribe_kind(c, a, Kind::Pattern)
}

fn ssubscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    subscribe_kind(c, a, Kind::Shard)
}

fn unsubscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    unsubscribe_kind(c, a, Kind::Channel)
}

fn punsubscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    unsubscribe_kind(c, a, Kind::Pattern)
}

fn sunsubscribe(c: &mut ConnCtx<'_>, a: &Args<'_>) -> CmdResult {
    unsubscribe_kind(c, a, Kind::Shard)
}

fn publish_kind(x: &mut Exec<'_>, a: &Args<'_>, kind: Kind) -> CmdResult {
    let receivers = x.server.pubsub.publish(x.server, kind, &a[1], &a[2]);
    x.reply.int(receivers as i64);
    Ok(())
}

fn publish(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    publish_kind(x, a, Kind::Channel)
}

fn spublish(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    publish_kind(x, a, Kind::Shard)
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern].
fn list_names(x: &mut Exec<'_>, a: &Args<'_>, kind: Kind) -> CmdResult {
    if a.len() > 3 {
        // Redis's addReplySubcommandSyntaxError.
        return Err(CmdError::Owned(format!("ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.", String::from_utf8_lossy(&a[1]))));
    }
    let names = x.server.pubsub.names(kind, if a.len() == 3 { Some(&a[2]) } else { None });
    x.reply.array_len(names.len());
    for n in &names {
        x.reply.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB [name ...]: each name and its subscriber count.
fn count_subscribers(x: &mut Exec<'_>, a: &Args<'_>, kind: Kind) -> CmdResult {
    x.reply.array_len((a.len() - 2) * 2);
    for name in a.iter().skip(2) {
        x.reply.bulk(name);
        x.reply.int(x.server.pubsub.numsub(kind, name) as i64);
    }
    Ok(())
}

fn pubsub_channels(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    list_names(x, a, Kind::Channel)
}

fn pubsub_shardchannels(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    list_names(x, a, Kind::Shard)
}

fn pubsub_numsub(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    count_subscribers(x, a, Kind::Channel)
}

fn pubsub_shardnumsub(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    count_subscribers(x, a, Kind::Shard)
}

/// PUBSUB NUMPAT: unique patterns (Redis 7.0 counts patterns, not subscriptions).
fn pubsub_numpat(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    x.reply.int(x.server.pubsub.len(Kind::Pattern) as i64);
    Ok(())
}

fn pubsub_help(x: &mut Exec<'_>, _a: &Args<'_>) -> CmdResult {
    x.reply.help(&[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ]);
    Ok(())
}

const G: &str = "pubsub";
const N: KeySpec = KeySpec::None;
const L: Route = Route::Local;
/// Shard channels are declared as keys, as in Redis (cluster mode routes them by slot); the
/// PUBSUB flag makes their key specs not_key (see introspect's key_spec_flag).
const ALL: KeySpec = KeySpec::Range(1, -1, 1);
const FIRST: KeySpec = KeySpec::Range(1, 1, 1);
const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUB: u32 = PUBSUB | LOADING | STALE | FAST;

pub static PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    row("channels", -2, PUBSUB | LOADING | STALE, N, L, Data(pubsub_channels), G, "2.8.0", "List active channels", "[pattern]"),
    row("numsub", -2, PUBSUB | LOADING | STALE, N, L, Data(pubsub_numsub), G, "2.8.0", "Get the count of subscribers for channels", "[channel [channel ...]]"),
    row("numpat", 2, PUBSUB | LOADING | STALE, N, L, Data(pubsub_numpat), G, "2.8.0", "Get the count of unique patterns pattern subscriptions", ""),
    row("shardchannels", -2, PUBSUB | LOADING | STALE, N, L, Data(pubsub_shardchannels), G, "7.0.0", "List active shard channels", "[pattern]"),
    row(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        N,
        L,
        Data(pubsub_shardnumsub),
        G,
        "7.0.0",
        "Get the count of subscribers for shard channels",
        "[shardchannel [shardchannel ...]]",
    ),
    row("help", 2, LOADING | STALE, N, L, Data(pubsub_help), G, "6.2.0", "Show helpful text about the different subcommands", ""),
];

pub static COMMANDS: &[CommandSpec] = &[
    row("subscribe", -2, SUB, N, L, Conn(subscribe), G, "2.0.0", "Listen for messages published to the given channels", "channel [channel ...]"),
    row("unsubscribe", -1, SUB, N, L, Conn(unsubscribe), G, "2.0.0", "Stop listening for messages posted to the given channels", "[channel [channel ...]]"),
    row(
        "psubscribe",
        -2,
        SUB,
        N,
        L,
        Conn(psubscribe),
        G,
        "2.0.0",
        "Listen for messages published to channels matching the given patterns",
        "pattern [pattern ...]",
    ),
    row(
        "punsubscribe",
        -1,
        SUB,
        N,
        L,
        Conn(punsubscribe),
        G,
        "2.0.0",
        "Stop listening for messages posted to channels matching the given patterns",
        "[pattern [pattern ...]]",
    ),
    row("publish", 3, PUB, N, L, Data(publish), G, "2.0.0", "Post a message to a channel", "channel message"),
    row(
        "ssubscribe",
        -2,
        SUB,
        ALL,
        L,
        Conn(ssubscribe),
        G,
        "7.0.0",
        "Listen for messages published to the given shard channels",
        "shardchannel [shardchannel ...]",
    ),
    row(
        "sunsubscribe",
        -1,
        SUB,
        ALL,
        L,
        Conn(sunsubscribe),
        G,
        "7.0.0",
        "Stop listening for messages posted to the given shard channels",
        "[shardchannel [shardchannel ...]]",
    ),
    row("spublish", 3, PUB, FIRST, L, Data(spublish), G, "7.0.0", "Post a message to a shard channel", "shardchannel message"),
    CommandSpec { subcommands: PUBSUB_SUBCOMMANDS, ..row("pubsub", -2, 0, N, L, Data(pubsub_help), G, "2.8.0", "A container for Pub/Sub commands", "") },
];
