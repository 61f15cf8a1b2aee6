//! Recording what each write did, in the owning shard's effect log ([`shards::effects`]), for
//! the AOF and the replication stream.
//!
//! The rule, per successful write command:
//! - If its handler recorded its effects itself ([`Exec::emit`]: SET .. EX as PXAT, SPOP as
//!   SREM, a served BLPOP as LPOP...), that is what stays.
//! - Otherwise, on the shard that owns all its keys (or on every shard, for a command without
//!   keys such as FLUSHALL or SWAPDB), the command as written: it is deterministic, and replayed
//!   on that shard's state it does the same again.
//! - Otherwise (keys on several shards: MSET, RENAME, SUNIONSTORE...), each shard writes out the
//!   keys the command changed there as commands that rebuild them ([`shards::effects::write_key`]),
//!   so that no shard's log needs another shard's data to replay.
//!
//! What a command, a transaction or a served blocked client leaves on several shards is
//! grouped into one unit ([`Unit`]) so that replay applies it everywhere or nowhere.

use shards::effects::{write_key, EffectLog, Mark};

use crate::command::{flag, Route};
use crate::dispatch::{Exec, ShardSet};
use crate::protocol::parse::Args;
use crate::server::Server;
use crate::shard::ShardCore;

impl Exec<'_> {
    /// Whether effects are being recorded (when not, handlers skip building rewrites).
    #[inline]
    pub fn effects_on(&mut self) -> bool {
        self.first_core().is_some_and(|c| c.engine.effects.enabled())
    }

    /// Records `argv` as (part of) this command's effect, in the log of the shard owning `key`;
    /// the command as written is then not recorded.
    pub fn emit(&mut self, key: &[u8], argv: &[&[u8]]) {
        self.effects_done = true;
        let db = self.db;
        self.shard(key).effects.push(db, argv);
    }

    /// Marks the command's effects as recorded without recording anything (a write that
    /// changed nothing, when the command as written would not replay as a no-op).
    pub fn emit_nothing(&mut self) {
        self.effects_done = true;
    }
}

/// Records the command as written: its request bytes when they are canonical RESP (one copy),
/// else encoded from its arguments.
#[inline]
fn push_as_written(log: &mut EffectLog, db: usize, args: &Args<'_>) {
    match args.raw() {
        Some(resp) => log.push_raw(db, resp),
        None => log.push_iter(db, args.len(), args.iter()),
    }
}

/// After a successful command: records its effects unless its handler did (see the module).
pub fn record(x: &mut Exec<'_>, args: &Args<'_>) {
    if x.effects_done || x.would_block || !x.spec.has(flag::WRITE) {
        return;
    }
    x.effects_done = true;
    let (db, spec) = (x.db, x.spec);
    match &mut x.shards {
        ShardSet::One(c) => push_as_written(&mut c.engine.effects, db, args),
        ShardSet::Many(held) => {
            let positions = spec.key_positions(args);
            if positions.is_empty() {
                // FLUSHALL, FLUSHDB, SWAPDB: the same on every shard.
                each_core(held, |c| push_as_written(&mut c.engine.effects, db, args));
                return;
            }
            let n = held.len();
            let first = shards::route::shard_of(&args[positions[0]], n);
            let keys_only = match spec.route {
                Route::Keys => true,
                Route::KeysOrAll(needs_all) => !needs_all(args),
                _ => false,
            };
            let one_shard = keys_only && positions.iter().all(|&p| shards::route::shard_of(&args[p], n) == first);
            if one_shard {
                if let Some(p) = held[first] {
                    // SAFETY: held by the coordinator; the only live reference.
                    unsafe { push_as_written(&mut (*p).engine.effects, db, args) };
                }
                return;
            }
            // Keys on several shards: each shard rebuilds the keys it changed.
            each_core(held, |c| {
                for (kdb, key) in c.engine.effects.stop_tracking() {
                    let mut out = EffectLog::default();
                    out.set_enabled(true);
                    let entry = c.engine.peek(kdb, &key);
                    write_key(kdb, &key, entry, &mut |d, argv| out.push(d, argv));
                    c.engine.effects.append(out.take());
                }
                c.engine.effects.start_tracking();
            });
        }
    }
}

fn each_core(held: &[Option<*mut ShardCore>], mut f: impl FnMut(&mut ShardCore)) {
    for &p in held.iter().flatten() {
        // SAFETY: the coordinator holds these cores; each reference ends before the next.
        f(unsafe { &mut *p });
    }
}

/// Starts noting the keys each held shard's writes change, for the next command run on the
/// coordinator (a command spanning shards writes them out).
pub fn track(held: &[Option<*mut ShardCore>]) {
    each_core(held, |c| c.engine.effects.start_tracking());
}

/// Everything the coordinator runs as one step (a command, a transaction, a served blocked
/// client): its records on each shard, grouped so that replay applies them whole.
pub struct Unit {
    marks: Vec<Option<Mark>>,
}

impl Unit {
    pub fn begin(held: &[Option<*mut ShardCore>]) -> Unit {
        let marks = held
            .iter()
            .map(|p| {
                // SAFETY: as in each_core.
                p.map(|p| unsafe { (*p).engine.effects.mark() })
            })
            .collect();
        Unit { marks }
    }

    /// Groups what the step recorded: MULTI/EXEC on a single shard that got several records,
    /// a unit id and shard count in MULTI when several shards got records.
    pub fn end(self, server: &Server, held: &[Option<*mut ShardCore>]) {
        let mut touched = 0;
        for (p, m) in held.iter().zip(&self.marks) {
            if let (Some(p), Some(m)) = (p, m) {
                // SAFETY: as in each_core.
                let log = unsafe { &mut (**p).engine.effects };
                let _ = log.stop_tracking();
                if log.count_since(*m) > 0 {
                    touched += 1;
                }
            }
        }
        let unit = (touched > 1).then(|| (server.next_effect_unit(), touched));
        for (p, m) in held.iter().zip(&self.marks) {
            if let (Some(p), Some(m)) = (p, m) {
                // SAFETY: as in each_core.
                unsafe { (**p).engine.effects.group_since(*m, unit) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::coordinator::{execute, CoordRequest};
    use crate::protocol::parse::Parser;
    use crate::protocol::Reply;

    /// A server with `n` shards whose effect logs are on, without threads or sockets.
    struct Rig {
        server: Server,
        cores: Vec<ShardCore>,
        client: Arc<crate::server::ClientInfo>,
    }

    impl Rig {
        fn new(n: usize) -> Rig {
            let server = Server::new(Config::default(), n);
            let cores = (0..n)
                .map(|i| {
                    let mut c = ShardCore::new(i, 16);
                    c.engine.effects.set_enabled(true);
                    c
                })
                .collect();
            Rig { server, cores, client: Arc::new(crate::server::ClientInfo::detached()) }
        }

        fn encode(argv: &[&str]) -> Vec<u8> {
            let mut v = Vec::new();
            shards::effects::encode_into(&mut v, argv.len(), argv.iter().map(|a| a.as_bytes()));
            v
        }

        /// Runs a command the way the server would: on its shard when its keys are on one,
        /// else on the coordinator with every shard held. Returns the RESP reply.
        fn run(&mut self, db: usize, argv: &[&str]) -> String {
            let buf = Self::encode(argv);
            let mut p = Parser::new();
            let n = p.parse(&buf, u64::MAX, true).unwrap().unwrap();
            let args = p.args(&buf[..n]);
            let (id, spec) = crate::command::resolve(&args).expect("known command");
            let nshards = self.cores.len();
            let owners: std::collections::BTreeSet<usize> = spec.key_positions(&args).iter().map(|&i| shards::route::shard_of(&args[i], nshards)).collect();
            let local = matches!(spec.route, Route::Keys) && owners.len() == 1 && !spec.has(flag::BLOCKING);
            if local {
                let core = &mut self.cores[*owners.iter().next().unwrap()];
                let mut reply = Reply::new(false);
                let crate::command::Handler::Data(f) = spec.handler else { panic!("not a keyspace command") };
                let mut x = Exec::new(ShardSet::One(core), db, &mut reply, &self.server, spec, id);
                if let Err(e) = crate::dispatch::run_data(&mut x, f, &args) {
                    reply.error(e.text());
                }
                return String::from_utf8_lossy(&reply.buf).into_owned();
            }
            let held: Vec<Option<*mut ShardCore>> = self.cores.iter_mut().map(|c| Some(c as *mut ShardCore)).collect();
            let req = CoordRequest { from: 0, token: 0, db, resp3: false, cmd: buf.clone(), client: self.client.clone(), multi: None };
            let out = execute(&self.server, &held, &req);
            String::from_utf8_lossy(&out.replies.buf).into_owned()
        }

        /// Runs MULTI ... EXEC of `cmds` on the coordinator.
        fn transaction(&mut self, db: usize, cmds: &[&[&str]]) -> String {
            let mut buf = Vec::new();
            for c in cmds {
                buf.extend(Self::encode(c));
            }
            let held: Vec<Option<*mut ShardCore>> = self.cores.iter_mut().map(|c| Some(c as *mut ShardCore)).collect();
            let req = CoordRequest { from: 0, token: 0, db, resp3: false, cmd: buf, client: self.client.clone(), multi: Some(cmds.len()) };
            let out = execute(&self.server, &held, &req);
            String::from_utf8_lossy(&out.replies.buf).into_owned()
        }

        /// Each shard's effects since the last call, as lines ("0 SET k v").
        fn effects(&mut self) -> Vec<Vec<String>> {
            self.cores.iter_mut().map(|c| c.engine.effects.take().lines()).collect()
        }

        fn all_effects(&mut self) -> Vec<String> {
            self.effects().into_iter().flatten().collect()
        }

        fn shard_of(&self, key: &str) -> usize {
            shards::route::shard_of(key.as_bytes(), self.cores.len())
        }
    }

    /// Keys named `prefix<i>` on distinct shards of a 4-shard rig.
    fn keys_on_distinct_shards(rig: &Rig, prefix: &str, count: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in 0.. {
            let k = format!("{prefix}{i}");
            if out.iter().all(|o| rig.shard_of(o) != rig.shard_of(&k)) {
                out.push(k);
                if out.len() == count {
                    return out;
                }
            }
        }
        unreachable!()
    }

    #[test]
    fn deterministic_writes_are_recorded_as_written_reads_not_at_all() {
        let mut rig = Rig::new(1);
        rig.run(0, &["SET", "k", "v"]);
        rig.run(3, &["LPUSH", "l", "a", "b"]);
        rig.run(0, &["GET", "k"]);
        rig.run(0, &["LRANGE", "l", "0", "-1"]);
        rig.run(0, &["INCR", "wrongtype-free"]);
        assert!(rig.run(0, &["INCR", "k"]).starts_with('-'), "INCR of a non-integer fails");
        assert_eq!(rig.all_effects(), vec!["0 SET k v", "3 LPUSH l a b", "0 INCR wrongtype-free"]);
    }

    #[test]
    fn disabled_logs_record_nothing() {
        let mut rig = Rig::new(2);
        for c in &mut rig.cores {
            c.engine.effects.set_enabled(false);
        }
        rig.run(0, &["SET", "k", "v"]);
        rig.run(0, &["MSET", "a", "1", "b", "2", "c", "3"]);
        assert!(rig.all_effects().is_empty());
    }

    #[test]
    fn keyless_writes_reach_every_shard() {
        let mut rig = Rig::new(4);
        rig.run(0, &["FLUSHALL"]);
        rig.run(2, &["SWAPDB", "2", "5"]);
        rig.run(7, &["FLUSHDB"]);
        let per_shard = rig.effects();
        for shard in &per_shard {
            // Each is one unit spanning the four shards, applied on all of them or none.
            let body: Vec<&str> = shard.iter().filter(|l| !l.starts_with("- ")).map(|l| l.as_str()).collect();
            assert_eq!(body, vec!["0 FLUSHALL", "2 SWAPDB 2 5", "7 FLUSHDB"], "FLUSHALL is in every segment, even on an empty database");
            assert_eq!(shard.len(), 9, "{shard:?}");
            assert!(shard[0].starts_with("- MULTI ") && shard[0].ends_with(" 4") && shard[2] == "- EXEC", "{shard:?}");
        }
        for i in [0, 3, 6] {
            assert!(per_shard.iter().all(|s| s[i] == per_shard[0][i]), "the same unit id on every shard");
        }
    }

    #[test]
    fn expired_keys_are_recorded_as_del() {
        let mut rig = Rig::new(1);
        rig.run(0, &["SET", "k", "v", "PX", "1"]);
        rig.effects();
        std::thread::sleep(std::time::Duration::from_millis(5));
        rig.cores[0].engine.set_now(shards::keyspace::wall_clock_ms());
        assert_eq!(rig.run(0, &["GET", "k"]), "$-1\r\n");
        assert_eq!(rig.all_effects(), vec!["0 DEL k"]);
    }

    #[test]
    fn commands_spanning_shards_leave_each_shard_its_keys_grouped_as_one_unit() {
        let mut rig = Rig::new(4);
        let k = keys_on_distinct_shards(&rig, "k", 2);
        rig.run(0, &["MSET", &k[0], "1", &k[1], "2"]);
        let per_shard = rig.effects();
        let mut units = Vec::new();
        for (s, lines) in per_shard.iter().enumerate() {
            if s == rig.shard_of(&k[0]) || s == rig.shard_of(&k[1]) {
                assert_eq!(lines.len(), 4, "shard {s}: {lines:?}");
                assert!(lines[0].starts_with("- MULTI ") && lines[0].ends_with(" 2"), "{lines:?}");
                units.push(lines[0].clone());
                assert_eq!(lines[3], "- EXEC");
                let key = if s == rig.shard_of(&k[0]) { &k[0] } else { &k[1] };
                assert_eq!(lines[1], format!("0 DEL {key}"));
                assert!(lines[2].starts_with(&format!("0 SET {key} ")));
            } else {
                assert!(lines.is_empty(), "shard {s} had no key: {lines:?}");
            }
        }
        assert_eq!(units[0], units[1], "both parts name the same unit");

        // RENAME across shards: the source's shard deletes, the destination's rebuilds.
        rig.run(0, &["DEL", &k[0], &k[1]]);
        rig.run(0, &["RPUSH", &k[0], "a", "b"]);
        rig.effects();
        assert_eq!(rig.run(0, &["RENAME", &k[0], &k[1]]), "+OK\r\n");
        let e = rig.effects();
        let src = &e[rig.shard_of(&k[0])];
        let dst = &e[rig.shard_of(&k[1])];
        assert_eq!(&src[1..], &[format!("0 DEL {}", k[0]), "- EXEC".to_string()]);
        assert_eq!(&dst[1..], &[format!("0 DEL {}", k[1]), format!("0 RPUSH {} a b", k[1]), "- EXEC".to_string()]);
    }

    #[test]
    fn transactions_are_grouped_per_shard() {
        let mut rig = Rig::new(4);
        let k = keys_on_distinct_shards(&rig, "t", 2);
        let reply = rig.transaction(0, &[&["SET", &k[0], "a"], &["INCR", "counter-free"], &["SET", &k[0], "b"], &["GET", &k[0]]]);
        assert!(reply.starts_with("*4\r\n"), "{reply}");
        let all = rig.all_effects();
        // Two shards at most: t0's and counter-free's (which may be the same shard).
        assert!(all.iter().filter(|l| l.starts_with("- MULTI")).count() >= 1, "{all:?}");
        assert!(all.contains(&format!("0 SET {} a", k[0])) && all.contains(&format!("0 SET {} b", k[0])), "{all:?}");
        assert!(!all.iter().any(|l| l.contains(" GET ")), "reads are not effects: {all:?}");

        let reply = rig.transaction(0, &[&["SET", &k[0], "x"], &["SET", &k[0], "y"]]);
        assert_eq!(reply, "*2\r\n+OK\r\n+OK\r\n");
        assert_eq!(
            rig.effects()[rig.shard_of(&k[0])],
            vec!["- MULTI".to_string(), format!("0 SET {} x", k[0]), format!("0 SET {} y", k[0]), "- EXEC".to_string()]
        );
    }

    /// The number in "... PXAT <ms>" / "PEXPIREAT <key> <ms>".
    fn last_number(line: &str) -> i64 {
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn relative_ttls_are_recorded_as_absolute_times() {
        let mut rig = Rig::new(1);
        let before = shards::keyspace::wall_clock_ms();
        rig.cores[0].engine.set_now(before);
        rig.run(0, &["SET", "a", "1", "EX", "100"]);
        rig.run(0, &["SETEX", "b", "100", "2"]);
        rig.run(0, &["PSETEX", "c", "100000", "3"]);
        rig.run(0, &["SET", "d", "4", "NX", "PX", "100000"]);
        assert_eq!(rig.run(0, &["SET", "d", "5", "NX", "PX", "100000"]), "$-1\r\n");
        rig.run(0, &["GETEX", "d", "EX", "100"]);
        rig.run(0, &["GETEX", "d"]);
        rig.run(0, &["GETEX", "missing", "EX", "100"]);
        rig.run(0, &["EXPIRE", "a", "100"]);
        assert_eq!(rig.run(0, &["EXPIRE", "a", "200", "NX"]), ":0\r\n");
        rig.run(0, &["PEXPIRE", "missing", "100"]);
        rig.run(0, &["EXPIREAT", "b", "1"]);
        let e = rig.all_effects();
        let expect = ["0 SET a 1 PXAT", "0 SET b 2 PXAT", "0 SET c 3 PXAT", "0 SET d 4 PXAT", "0 PEXPIREAT d", "0 PEXPIREAT a", "0 DEL b"];
        assert_eq!(e.len(), expect.len(), "{e:?}");
        for (line, prefix) in e.iter().zip(expect) {
            assert!(line.starts_with(prefix), "{line} should start with {prefix}");
            if prefix != "0 DEL b" {
                let at = last_number(line);
                assert!((before + 99_000..=before + 101_000).contains(&at), "{line}: {at} is not now + 100 s");
            }
        }
    }

    #[test]
    fn float_increments_are_recorded_as_their_results() {
        let mut rig = Rig::new(1);
        rig.run(0, &["SET", "f", "10.5", "EX", "1000"]);
        rig.run(0, &["INCRBYFLOAT", "f", "0.1"]);
        rig.run(0, &["HINCRBYFLOAT", "h", "x", "2.5e3"]);
        let e = rig.all_effects();
        assert_eq!(&e[1..], &["0 SET f 10.6 KEEPTTL", "0 HSET h x 2500"]);
    }

    #[test]
    fn random_pops_are_recorded_as_the_members_removed() {
        let mut rig = Rig::new(1);
        rig.run(0, &["SADD", "s", "a", "b", "c", "d", "e"]);
        rig.effects();
        let one = rig.run(0, &["SPOP", "s"]);
        let two = rig.run(0, &["SPOP", "s", "2"]);
        rig.run(0, &["SPOP", "missing"]);
        rig.run(0, &["SPOP", "s", "0"]);
        let e = rig.all_effects();
        assert_eq!(e.len(), 2, "{e:?}");
        let popped_one = one.split("\r\n").nth(1).unwrap().to_string();
        assert_eq!(e[0], format!("0 SREM s {popped_one}"));
        let mut popped_two: Vec<&str> = two.split("\r\n").skip(1).filter(|l| !l.starts_with('$') && !l.is_empty()).collect();
        let mut recorded: Vec<&str> = e[1].split(' ').skip(3).collect();
        popped_two.sort();
        recorded.sort();
        assert!(e[1].starts_with("0 SREM s "), "{}", e[1]);
        assert_eq!(popped_two, recorded);
        rig.run(0, &["SPOP", "s", "10"]);
        assert_eq!(rig.all_effects(), vec!["0 DEL s"], "popping the whole set deletes it");
    }

    #[test]
    fn a_blocking_pop_served_at_once_is_recorded_as_the_pop() {
        let mut rig = Rig::new(4);
        let k = keys_on_distinct_shards(&rig, "q", 2);
        rig.run(0, &["RPUSH", &k[1], "x", "y"]);
        rig.run(0, &["ZADD", "z", "1", "m"]);
        rig.effects();
        assert_eq!(rig.run(0, &["BLPOP", &k[0], &k[1], "0"]), format!("*2\r\n${}\r\n{}\r\n$1\r\nx\r\n", k[1].len(), k[1]));
        rig.run(0, &["BZPOPMIN", "z", "0"]);
        rig.run(0, &["BLMPOP", "0", "1", &k[1], "RIGHT", "COUNT", "5"]);
        let e = rig.effects();
        assert_eq!(e[rig.shard_of(&k[1])], vec![format!("0 LPOP {}", k[1]), format!("0 LMPOP 1 {} RIGHT COUNT 5", k[1])]);
        assert_eq!(e[rig.shard_of("z")].last().unwrap(), "0 ZPOPMIN z");
        assert!(!e.iter().flatten().any(|l| l.contains(" B")), "no blocking command is recorded: {e:?}");
    }

    #[test]
    fn moves_across_shards_record_a_pop_and_a_push() {
        let mut rig = Rig::new(4);
        let k = keys_on_distinct_shards(&rig, "m", 2);
        rig.run(0, &["RPUSH", &k[0], "a", "b", "c"]);
        rig.effects();
        assert_eq!(rig.run(0, &["LMOVE", &k[0], &k[1], "RIGHT", "LEFT"]), "$1\r\nc\r\n");
        let e = rig.effects();
        assert_eq!(&e[rig.shard_of(&k[0])][1..], &[format!("0 RPOP {}", k[0]), "- EXEC".into()]);
        assert_eq!(&e[rig.shard_of(&k[1])][1..], &[format!("0 LPUSH {} c", k[1]), "- EXEC".into()]);
        assert_eq!(e[rig.shard_of(&k[0])][0], e[rig.shard_of(&k[1])][0], "one unit");

        let s = keys_on_distinct_shards(&rig, "set", 2);
        rig.run(0, &["SADD", &s[0], "x", "y"]);
        rig.effects();
        assert_eq!(rig.run(0, &["SMOVE", &s[0], &s[1], "x"]), ":1\r\n");
        let e = rig.effects();
        assert_eq!(e[rig.shard_of(&s[0])][1], format!("0 SREM {} x", s[0]));
        assert_eq!(e[rig.shard_of(&s[1])][1], format!("0 SADD {} x", s[1]));
    }
}
