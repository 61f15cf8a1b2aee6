//! AOF rewrite (BGREWRITEAOF, the automatic rewrite, CONFIG SET appendonly at run time), kill -9
//! in every stage of a rewrite, -LOADING while the dataset loads, and aof_delayed_fsync.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::aof::{launch_aof, start_aof};
use super::harness::*;

const DEBUG: &str = "--enable-debug-command";

/// Every type, TTLs, several databases, and a few hundred plain keys.
fn fill(c: &mut Conn) {
    for db in ["0", "3", "15"] {
        c.ok(["SELECT", db]);
        c.ok(["SET", "s", "hello"]);
        c.ok(["SET", "ttl", "v", "EX", "1000"]);
        c.int(["RPUSH", "l", "a", "b", "c", "d"]);
        c.int(["HSET", "h", "f1", "v1", "f2", "v2"]);
        c.int(["SADD", "set", "1", "2", "3", "x", "y"]);
        c.int(["SADD", "ints", "1", "2", "3"]);
        c.int(["ZADD", "z", "1.5", "a", "-inf", "b", "3", "c"]);
        c.int(["PEXPIRE", "z", "5000000"]);
    }
    c.ok(["SELECT", "0"]);
    for i in 0..300 {
        c.ok(["SET", &format!("key:{i}"), &format!("value {i}")]);
    }
    let big: Vec<String> = (0..500).map(|i| format!("member-{i}")).collect();
    let mut args = vec!["SADD".to_string(), "bigset".to_string()];
    args.extend(big.iter().cloned());
    c.int(args);
}

fn digest(c: &mut Conn) -> String {
    c.cmd(["DEBUG", "DIGEST"]).as_str()
}

fn aof_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir.join("appendonlydir")).expect("aof dir").map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest")
}

/// Waits for the rewrite round to end; returns INFO persistence then.
fn wait_rewrite_done(srv: &Server, rounds: u64) -> std::collections::HashMap<String, String> {
    let mut info = Default::default();
    let done = wait_for(Duration::from_secs(30), || {
        info = srv.info("persistence");
        info["aof_rewrite_in_progress"] == "0" && info["aof_rewrites"].parse::<u64>().unwrap() >= rounds
    });
    assert!(done, "the rewrite did not finish: {info:?}\n{}", srv.log());
    info
}

#[test]
fn bgrewriteaof_under_write_load_keeps_every_write_and_replaces_the_files() {
    for (shards, preamble) in [(4, "yes"), (1, "no"), (2, "yes")] {
        let dir = TempDir::new("aof-rewrite");
        let (want, counters) = {
            let srv = start_aof(dir.path(), shards, &[DEBUG, "yes", "--aof-use-rdb-preamble", preamble]);
            let mut c = srv.conn();
            fill(&mut c);
            // Writers keep going through the rewrite; what they had acknowledged must be there.
            let port = srv.port;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let writers: Vec<_> = (0..2)
                .map(|w| {
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let mut c = Conn::connect(port);
                        let mut n = 0;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                            n = c.int(["INCR", &format!("counter:{w}")]);
                            c.int(["RPUSH", &format!("log:{w}"), &n.to_string()]);
                        }
                        n
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
            assert_eq!(c.err(["BGREWRITEAOF"]), "ERR Background append only file rewriting already in progress");
            let info = wait_rewrite_done(&srv, 1);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let counters: Vec<i64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
            assert_eq!(info["aof_last_bgrewrite_status"], "ok", "{info:?}");
            assert_eq!(info["aof_rewrites"], "1");
            assert!(info["aof_last_rewrite_time_sec"].parse::<i64>().unwrap() >= 0, "{info:?}");
            assert_eq!(info["aof_current_rewrite_time_sec"], "-1");
            let base: u64 = info["aof_base_size"].parse().unwrap();
            let current: u64 = info["aof_current_size"].parse().unwrap();
            assert!(base > 0 && current >= base, "{info:?}");
            // One base and one increment per shard, the manifest naming exactly them.
            let ext = if preamble == "yes" { "rdb" } else { "aof" };
            let files = aof_files(dir.path());
            let mut expect = vec!["appendonly.aof.manifest".to_string()];
            for s in 0..shards {
                expect.push(format!("appendonly.aof.s{s}.2.base.{ext}"));
                expect.push(format!("appendonly.aof.s{s}.2.incr.aof"));
            }
            expect.sort();
            assert_eq!(files, expect, "--shards {shards}");
            let m = manifest(dir.path());
            for s in 0..shards {
                assert!(m.contains(&format!("file appendonly.aof.s{s}.2.base.{ext} seq 2 type b shard {s}\n")), "{m}");
                assert!(m.contains(&format!("file appendonly.aof.s{s}.2.incr.aof seq 2 type i shard {s}\n")), "{m}");
            }
            assert_eq!(m.matches("\nfile ").count(), 2 * shards, "{m}");
            if preamble == "yes" {
                let head = std::fs::read(dir.path().join("appendonlydir/appendonly.aof.s0.2.base.rdb")).unwrap();
                assert_eq!(&head[..9], b"REDIS0010");
            }
            (digest(&mut c), counters)
        };
        let srv = start_aof(dir.path(), shards, &[DEBUG, "yes"]);
        let mut c = srv.conn();
        assert_eq!(digest(&mut c), want, "--shards {shards} preamble {preamble}: the dataset after a restart");
        for (w, n) in counters.iter().enumerate() {
            assert_eq!(c.get_str(["GET", &format!("counter:{w}")]), Some(n.to_string()));
            assert_eq!(c.int(["LLEN", &format!("log:{w}")]), *n);
        }
        assert!(c.int(["DBSIZE"]) > 300);
    }
}

/// The stage a rewrite reached, from the log of a server started with the pause hook.
fn stage_reached(log: &str) -> u8 {
    (1..=6).rev().find(|k| log.contains(&format!("AOF rewrite stage {k}:"))).unwrap_or(0)
}

#[test]
fn kill_9_in_every_stage_of_a_rewrite_loses_nothing_acknowledged() {
    let hook = [("SHARDIS_TEST_REWRITE_PAUSE_MS", "1000")];
    for stage in 1..=6u8 {
        let dir = TempDir::new("aof-rewrite-kill");
        let want = {
            let srv = launch_aof(dir.path(), 1, &[DEBUG, "yes"], &hook, false);
            let mut c = srv.conn();
            fill(&mut c);
            for i in 0..20 {
                c.int(["INCR", "acked"]);
                c.ok(["SET", &format!("before:{i}"), "x"]);
            }
            // Stage 2 pauses the shard itself (the switch and the snapshot's start are one loop
            // turn); in stage 1 (the new increment listed by another thread, the shard still
            // appending to the old one) and from stage 3 on (the base written) it serves.
            let before = digest(&mut c);
            assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
            assert!(wait_for(Duration::from_secs(20), || stage_reached(&srv.log()) >= stage), "stage {stage} never reached:\n{}", srv.log());
            if stage != 2 {
                // The shard runs: these land in the old increment (stage 1) or the new one.
                for i in 0..20 {
                    c.int(["INCR", "acked"]);
                    c.ok(["SET", &format!("during:{i}"), "y"]);
                }
            }
            let d = if stage != 2 { digest(&mut c) } else { before };
            srv.signal(libc::SIGKILL);
            let log = srv.log();
            assert_eq!(stage_reached(&log), stage, "killed in stage {stage}:\n{log}");
            d
        };
        let srv = start_aof(dir.path(), 1, &[DEBUG, "yes"]);
        let mut c = srv.conn();
        assert_eq!(digest(&mut c), want, "kill -9 in stage {stage}: the dataset after a restart\n{}", srv.log());
        let acked = if stage != 2 { "40" } else { "20" };
        assert_eq!(c.get_str(["GET", "acked"]).as_deref(), Some(acked), "kill -9 in stage {stage}");
        // No temporary or unnamed file is left once the server is up again.
        let m = manifest(dir.path());
        for f in aof_files(dir.path()) {
            assert!(f.ends_with(".manifest") || m.contains(&format!("file {f} ")), "stage {stage}: {f} is not in the manifest:\n{m}");
        }
        // And the files that are left rewrite cleanly.
        assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
        let info = wait_rewrite_done(&srv, 1);
        assert_eq!(info["aof_last_bgrewrite_status"], "ok");
        drop(c);
        drop(srv);
        let srv = start_aof(dir.path(), 1, &[DEBUG, "yes"]);
        assert_eq!(digest(&mut srv.conn()), want, "stage {stage}: after a second rewrite and restart");
    }
}

#[test]
fn auto_aof_rewrite_fires_past_min_size_and_percentage() {
    let dir = TempDir::new("aof-auto");
    let srv = start_aof(dir.path(), 2, &[DEBUG, "yes"]);
    let mut c = srv.conn();
    let info = srv.info("persistence");
    assert_eq!((info["aof_rewrites"].as_str(), info["aof_base_size"].as_str()), ("0", "0"));
    c.ok(["CONFIG", "SET", "auto-aof-rewrite-min-size", "20kb"]);
    c.ok(["CONFIG", "SET", "auto-aof-rewrite-percentage", "100"]);
    let value = "v".repeat(100);
    let mut i = 0;
    let fired = wait_for(Duration::from_secs(30), || {
        for _ in 0..50 {
            c.ok(["SET", &format!("k{i}"), &value]);
            i += 1;
        }
        srv.info("persistence")["aof_rewrites"] != "0"
    });
    assert!(fired, "no automatic rewrite:\n{}", srv.log());
    let info = wait_rewrite_done(&srv, 1);
    assert_eq!(info["aof_last_bgrewrite_status"], "ok");
    assert!(info["aof_base_size"].parse::<u64>().unwrap() > 0, "{info:?}");
    assert!(srv.log().contains("Starting automatic rewriting of AOF on"), "{}", srv.log());
    assert!(aof_files(dir.path()).iter().any(|f| f.contains(".base.rdb")), "{:?}", aof_files(dir.path()));
    let want = digest(&mut c);
    drop(c);
    drop(srv);
    let srv = start_aof(dir.path(), 2, &[DEBUG, "yes"]);
    assert_eq!(digest(&mut srv.conn()), want);
}

/// An AOF of `n` SETs written straight to disk, for one shard.
fn write_big_aof(dir: &Path, n: usize) -> PathBuf {
    let d = dir.join("appendonlydir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("appendonly.aof.manifest"), "shards 1\nfile appendonly.aof.s0.1.incr.aof seq 1 type i shard 0\n").unwrap();
    let mut seg = Vec::new();
    for i in 0..n {
        seg.extend_from_slice(&encode(["SET".to_string(), format!("key:{i}"), format!("value:{i}")]));
    }
    let path = d.join("appendonly.aof.s0.1.incr.aof");
    std::fs::write(&path, seg).unwrap();
    path
}

#[test]
fn clients_get_loading_while_the_aof_loads_then_the_data() {
    let dir = TempDir::new("aof-loading");
    let n = 3000;
    let seg = write_big_aof(dir.path(), n);
    let total = std::fs::metadata(&seg).unwrap().len();
    // key-load-delay (Redis's test knob): 1 ms per command, so the load lasts seconds.
    let srv = launch_aof(dir.path(), 1, &["--key-load-delay", "1000"], &[], true);
    let mut c = srv.conn();
    assert_eq!(c.err(["GET", "key:1"]), "LOADING Redis is loading the dataset in memory");
    assert_eq!(c.err(["PING"]), "LOADING Redis is loading the dataset in memory");
    assert_eq!(c.err(["BGREWRITEAOF"]), "LOADING Redis is loading the dataset in memory");
    let info = c.info("persistence");
    assert_eq!(info["loading"], "1", "{info:?}");
    assert_eq!(info["async_loading"], "0");
    assert_eq!(info["loading_total_bytes"], total.to_string());
    let loaded: u64 = info["loading_loaded_bytes"].parse().unwrap();
    assert!(loaded < total, "{info:?}");
    let perc: f64 = info["loading_loaded_perc"].parse().unwrap();
    assert!((0.0..100.0).contains(&perc), "{info:?}");
    assert!(info["loading_eta_seconds"].parse::<i64>().is_ok(), "{info:?}");
    assert!(info["loading_start_time"].parse::<i64>().unwrap() > 0);
    assert_eq!(info["loading_rdb_used_mem"], "0");
    // Commands Redis flags as allowed while loading run.
    assert!(matches!(c.cmd(["CONFIG", "GET", "port"]), Reply::Array(_)));
    assert!(!c.cmd(["CLIENT", "ID"]).is_error());
    // A transaction cannot queue around it.
    c.ok(["MULTI"]);
    assert_eq!(c.err(["SET", "x", "1"]), "LOADING Redis is loading the dataset in memory");
    assert!(c.err(["EXEC"]).starts_with("EXECABORT"));
    // Then the data.
    let done = wait_for(Duration::from_secs(60), || c.info("persistence")["loading"] == "0");
    assert!(done, "loading never finished:\n{}", srv.log());
    assert!(!c.info("persistence").contains_key("loading_total_bytes"));
    assert_eq!(c.int(["DBSIZE"]), n as i64);
    assert_eq!(c.get_str(["GET", "key:1"]), Some("value:1".into()));
    let log = srv.log();
    assert!(log.contains("Loading the append only file:"), "progress is logged:\n{log}");
    assert!(log.find("Listening; loading the dataset") < log.find("Ready to accept connections"), "{log}");
}

#[test]
fn config_set_appendonly_yes_writes_a_base_then_appends() {
    let dir = TempDir::new("aof-enable");
    let d = dir.path().display().to_string();
    let want = {
        let srv = Server::start(&["--shards", "2", "--dir", &d, DEBUG, "yes"]);
        let mut c = srv.conn();
        fill(&mut c);
        assert_eq!(srv.info("persistence")["aof_enabled"], "0");
        c.ok(["CONFIG", "SET", "appendonly", "yes"]);
        let info = wait_rewrite_done(&srv, 1);
        assert_eq!(info["aof_enabled"], "1");
        assert_eq!(info["aof_rewrites"], "1", "one round turns every shard on");
        assert_eq!(info["aof_last_bgrewrite_status"], "ok");
        c.ok(["SET", "after-enable", "1"]);
        let m = manifest(dir.path());
        assert!(m.contains("type b shard 0") && m.contains("type b shard 1") && m.contains("type i shard 1"), "{m}");
        let d = digest(&mut c);
        // Turning it off stops appending: later writes are not in the files.
        c.ok(["CONFIG", "SET", "appendonly", "no"]);
        assert!(wait_for(Duration::from_secs(10), || srv.log().matches("Append only file turned off").count() == 2), "{}", srv.log());
        c.ok(["SET", "after-disable", "1"]);
        assert_eq!(srv.info("persistence")["aof_enabled"], "0");
        d
    };
    let srv = start_aof(dir.path(), 2, &[DEBUG, "yes"]);
    let mut c = srv.conn();
    assert_eq!(digest(&mut c), want);
    assert_eq!(c.get_str(["GET", "after-enable"]), Some("1".into()));
    assert_eq!(c.get_str(["GET", "after-disable"]), None);
}

#[test]
fn a_slow_fsync_delays_writes_and_counts_aof_delayed_fsync() {
    let dir = TempDir::new("aof-delayed");
    // Every everysec fsync takes 6 s: once it is 2 s old, writes wait up to 2 s more for it,
    // then go ahead and count.
    let srv = launch_aof(dir.path(), 1, &["--appendfsync", "everysec"], &[("SHARDIS_TEST_FSYNC_DELAY_MS", "6000")], false);
    let mut c = srv.conn();
    assert_eq!(srv.info("persistence")["aof_delayed_fsync"], "0");
    let start = Instant::now();
    let mut i = 0;
    let delayed = wait_for(Duration::from_secs(20), || {
        c.ok(["SET", &format!("k{i}"), "v"]);
        i += 1;
        srv.info("persistence")["aof_delayed_fsync"] != "0"
    });
    assert!(delayed, "aof_delayed_fsync stayed 0 after {:?}:\n{}", start.elapsed(), srv.log());
    assert!(srv.log().contains("Asynchronous AOF fsync is taking too long"), "{}", srv.log());
    // Every acknowledged write is in the file.
    drop(c);
    drop(srv);
    let srv = start_aof(dir.path(), 1, &[]);
    assert_eq!(srv.conn().int(["DBSIZE"]), i);
}

#[test]
fn check_aof_verifies_an_rdb_base_and_reports_damage() {
    let dir = TempDir::new("aof-check-base");
    {
        let srv = start_aof(dir.path(), 1, &[]);
        let mut c = srv.conn();
        fill(&mut c);
        assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
        wait_rewrite_done(&srv, 1);
    }
    let aofdir = dir.path().join("appendonlydir");
    let aofdir_s = aofdir.display().to_string();
    let (status, out) = run_to_exit(&["check-aof", &aofdir_s], dir.path());
    assert!(status.success(), "{out}");
    assert!(out.contains("appendonly.aof.s0.2.base.rdb is a valid RDB file"), "{out}");
    // Flip a byte in the middle of the base: the checksum (or the format) catches it.
    let base = aofdir.join("appendonly.aof.s0.2.base.rdb");
    let mut bytes = std::fs::read(&base).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&base, &bytes).unwrap();
    let (status, out) = run_to_exit(&["check-aof", "--fix", "--yes", &aofdir_s], dir.path());
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("An RDB base cannot be fixed by truncating it"), "{out}");
    // And the server refuses to start on it, naming the file.
    let d = dir.path().display().to_string();
    let (status, out) = run_to_exit(&["--port", "0", "--save", "", "--appendonly", "yes", "--shards", "1", "--dir", &d], dir.path());
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("appendonly.aof.s0.2.base.rdb"), "{out}");
}

#[test]
fn the_shard_keeps_serving_while_its_base_is_written() {
    for preamble in ["yes", "no"] {
        let dir = TempDir::new("aof-rewrite-serving");
        let want = {
            let srv = start_aof(dir.path(), 1, &[DEBUG, "yes", "--aof-use-rdb-preamble", preamble]);
            let mut c = srv.conn();
            for i in 0..1500 {
                c.send(["SET", &format!("key:{i}"), &format!("value {i}")]);
            }
            (0..1500).for_each(|_| assert_eq!(c.read(), Reply::Simple("OK".into())));
            // 500 µs per key: the base takes most of a second to write.
            c.ok(["CONFIG", "SET", "rdb-key-save-delay", "500"]);
            assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
            // Commands are answered while the base is part written (INFO shows its progress),
            // and what they change is kept: in the new increment, not in the base.
            let begun = wait_for(Duration::from_secs(10), || c.info("persistence")["current_save_keys_total"] != "0");
            assert!(begun, "the shard's snapshot never began:\n{}", srv.log());
            // A bounded number of writes: keys born during the rewrite grow the table the
            // snapshot scans, so writing without end would keep the base from finishing.
            let (mut i, mut mid) = (0, 0);
            while i < 200 {
                let info = c.info("persistence");
                if info["aof_rewrite_in_progress"] == "0" {
                    break;
                }
                let (done, total): (u64, u64) = (info["current_save_keys_processed"].parse().unwrap(), info["current_save_keys_total"].parse().unwrap());
                if done > 0 && done < total {
                    mid += 1;
                }
                assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
                if i > 0 {
                    assert_eq!(c.get_str(["GET", &format!("during:{}", i - 1)]).as_deref(), Some("y"));
                }
                c.ok(["SET", &format!("key:{}", i % 1500), "overwritten during the rewrite"]);
                c.int(["DEL", &format!("key:{}", (i + 1) % 1500)]);
                c.ok(["SET", &format!("during:{i}"), "y"]);
                i += 1;
            }
            assert!(mid >= 5, "preamble {preamble}: {mid} round trips while the base was part written ({i} in all)\n{}", srv.log());
            c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
            let info = wait_rewrite_done(&srv, 1);
            assert_eq!(info["aof_last_bgrewrite_status"], "ok", "{info:?}");
            digest(&mut c)
        };
        let srv = start_aof(dir.path(), 1, &[DEBUG, "yes"]);
        assert_eq!(digest(&mut srv.conn()), want, "preamble {preamble}: the dataset after a restart");
    }
}

#[test]
fn bgsave_and_bgrewriteaof_share_the_one_background_slot() {
    let dir = TempDir::new("aof-rewrite-slot");
    let srv = start_aof(dir.path(), 2, &[DEBUG, "yes"]);
    let mut c = srv.conn();
    fill(&mut c);
    c.ok(["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
    assert_eq!(
        c.err(["BGSAVE"]),
        "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
    );
    assert_eq!(c.cmd(["BGSAVE", "SCHEDULE"]), Reply::Simple("Background saving scheduled".into()));
    c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_rewrite_done(&srv, 1);
    // The scheduled save runs once the rewrite has freed the slot.
    let saved = wait_for(Duration::from_secs(30), || {
        let info = srv.info("persistence");
        info["rdb_saves"] == "1" && info["rdb_bgsave_in_progress"] == "0"
    });
    assert!(saved, "the scheduled BGSAVE never ran:\n{}", srv.log());
    assert!(dir.path().join("dump.rdb").exists());
    // And the other way round: a rewrite asked for during a BGSAVE waits for it.
    c.ok(["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    assert_eq!(c.cmd(["BGSAVE"]), Reply::Simple("Background saving started".into()));
    assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting scheduled".into()));
    let info = srv.info("persistence");
    assert_eq!((info["aof_rewrite_scheduled"].as_str(), info["aof_rewrite_in_progress"].as_str(), info["aof_rewrites"].as_str()), ("1", "0", "1"));
    c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let info = wait_rewrite_done(&srv, 2);
    assert_eq!((info["aof_rewrite_scheduled"].as_str(), info["aof_last_bgrewrite_status"].as_str()), ("0", "ok"));
    assert_eq!(info["rdb_saves"], "2");
    let want = digest(&mut c);
    drop(c);
    drop(srv);
    let srv = start_aof(dir.path(), 2, &[DEBUG, "yes"]);
    assert_eq!(digest(&mut srv.conn()), want);
}

#[test]
fn debug_loadaof_reloads_the_dataset_from_the_files() {
    for shards in [1, 4] {
        let dir = TempDir::new("aof-debug-loadaof");
        let srv = start_aof(dir.path(), shards, &[DEBUG, "yes"]);
        let mut c = srv.conn();
        fill(&mut c);
        let want = digest(&mut c);
        assert_eq!(c.cmd(["DEBUG", "LOADAOF"]), Reply::Simple("OK".into()));
        assert_eq!(digest(&mut c), want, "--shards {shards}");
        assert!(srv.log().contains("Append Only File loaded by DEBUG LOADAOF"), "{}", srv.log());
        // What is read is the files: a record added behind the server's back shows up.
        c.ok(["SET", "marker", "x"]);
        if shards == 1 {
            let incr = dir.path().join("appendonlydir/appendonly.aof.s0.1.incr.aof");
            write_after_records(&incr, &encode(["SET", "injected", "1"]));
        }
        assert_eq!(c.cmd(["DEBUG", "LOADAOF"]), Reply::Simple("OK".into()));
        assert_eq!(c.get_str(["GET", "marker"]).as_deref(), Some("x"));
        assert_eq!(c.get_str(["GET", "injected"]).map(|v| v == "1"), (shards == 1).then_some(true));
        // During a rewrite: the reloaded dataset and the rewrite's files agree.
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "5000"]);
        assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
        let begun = wait_for(Duration::from_secs(10), || c.info("persistence")["current_save_keys_total"] != "0");
        assert!(begun, "the shards' snapshots never began:\n{}", srv.log());
        c.ok(["SET", "during", "1"]);
        assert_eq!(c.cmd(["DEBUG", "LOADAOF"]), Reply::Simple("OK".into()));
        assert_eq!(c.info("persistence")["aof_rewrite_in_progress"], "1", "the reload ran during the rewrite");
        c.ok(["SET", "after", "1"]);
        c.ok(["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        let info = wait_rewrite_done(&srv, 1);
        assert_eq!(info["aof_last_bgrewrite_status"], "ok");
        let want = digest(&mut c);
        assert_eq!(c.get_str(["GET", "during"]).as_deref(), Some("1"));
        drop(c);
        drop(srv);
        let srv = start_aof(dir.path(), shards, &[DEBUG, "yes"]);
        assert_eq!(digest(&mut srv.conn()), want, "--shards {shards}: after a restart");
    }
    // With appendonly no, what BGREWRITEAOF wrote loads (as in Redis's "Same dataset digest
    // if saving/reloading as AOF?"); with no AOF at all Redis exits, shardis refuses.
    let dir = TempDir::new("aof-debug-loadaof-off");
    let d = dir.path().display().to_string();
    let srv = Server::start(&["--shards", "4", "--dir", &d, DEBUG, "yes"]);
    let mut c = srv.conn();
    fill(&mut c);
    assert_eq!(c.err(["DEBUG", "LOADAOF"]), "ERR There is no append only file to load");
    c.ok(["CONFIG", "SET", "aof-use-rdb-preamble", "no"]);
    assert_eq!(c.cmd(["BGREWRITEAOF"]), Reply::Simple("Background append only file rewriting started".into()));
    wait_rewrite_done(&srv, 1);
    let want = digest(&mut c);
    c.ok(["SET", "not-in-the-files", "1"]);
    assert_eq!(c.cmd(["DEBUG", "LOADAOF"]), Reply::Simple("OK".into()));
    assert_eq!(digest(&mut c), want);
}
