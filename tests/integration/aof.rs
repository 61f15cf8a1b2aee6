//! The append-only file: what the segments hold, restart equality, kill -9 with
//! `appendfsync always`, FLUSHALL (invariant I2), damaged and truncated segments.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::harness::*;

/// Starts shardis with its AOF in `dir` (which outlives the server, for restarts).
pub(super) fn start_aof(dir: &Path, shards: usize, extra: &[&str]) -> Server {
    launch_aof(dir, shards, extra, &[], false)
}

/// [`start_aof`] with environment variables (test hooks); returns while the server still
/// loads its dataset if `loading_ok`.
pub(super) fn launch_aof(dir: &Path, shards: usize, extra: &[&str], envs: &[(&str, &str)], loading_ok: bool) -> Server {
    let dir = dir.to_path_buf();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let argv = move |port: u16, _: &Path| {
        let mut v: Vec<String> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--shards", &shards.to_string(), "--dir"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        v.push(dir.display().to_string());
        v.extend(extra.iter().cloned());
        v
    };
    Server::launch_opts(argv, envs, loading_ok)
}

fn aof_args<'a>(dir: &'a str, shards: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--port", "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--shards", shards, "--dir", dir];
    v.extend_from_slice(extra);
    v
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aof"))
        .collect();
    v.sort();
    v
}

/// A segment's records as lines of words ("SET k v").
fn records(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut r = BufReader::new(&bytes[..]);
    while let Ok(Reply::Array(Some(items))) = read_reply(&mut r) {
        out.push(items.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" "));
    }
    out
}

fn all_records(dir: &Path) -> Vec<String> {
    segments(dir).iter().flat_map(|p| records(p)).collect()
}

/// Everything a client can see of the dataset: per database, each key's type, value and
/// whether it has a TTL (the TTL itself moves with time; PEXPIRETIME does not).
fn snapshot(c: &mut Conn) -> BTreeMap<(usize, String), String> {
    let mut out = BTreeMap::new();
    for db in 0..16usize {
        c.ok(["SELECT", &db.to_string()]);
        for k in c.cmd(["KEYS", "*"]).strings() {
            let t = c.cmd(["TYPE", &k]).as_str();
            let v = match t.as_str() {
                "string" => c.cmd(["GET", &k]).as_str(),
                "list" => c.cmd(["LRANGE", &k, "0", "-1"]).strings().join(","),
                "hash" => {
                    let mut v = c.cmd(["HGETALL", &k]).strings();
                    let mut pairs: Vec<String> = v.chunks_mut(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let mut v = c.cmd(["SMEMBERS", &k]).strings();
                    v.sort();
                    v.join(",")
                }
                "zset" => c.cmd(["ZRANGE", &k, "0", "-1", "WITHSCORES"]).strings().join(","),
                other => panic!("unexpected type {other}"),
            };
            let at = c.int(["PEXPIRETIME", &k]);
            out.insert((db, k), format!("{t}:{v}:{at}"));
        }
    }
    c.ok(["SELECT", "0"]);
    out
}

#[test]
fn every_type_ttl_and_database_survives_a_restart() {
    for shards in SHARD_COUNTS {
        let dir = TempDir::new("aof-restart");
        let before = {
            let srv = start_aof(dir.path(), shards, &[]);
            let mut c = srv.conn();
            for db in [0usize, 3, 15] {
                c.ok(["SELECT", &db.to_string()]);
                c.ok(["SET", "s", "hello"]);
                c.ok(["SET", "ttl", "v", "EX", "1000"]);
                c.cmd(["SET", "n", "10"]);
                c.int(["INCRBY", "n", "5"]);
                c.cmd(["INCRBYFLOAT", "f", "1.25"]);
                c.cmd(["RPUSH", "l", "a", "b", "c", "d"]);
                c.cmd(["LPOP", "l"]);
                c.cmd(["HSET", "h", "f1", "v1", "f2", "v2"]);
                c.cmd(["HINCRBYFLOAT", "h", "x", "0.5"]);
                c.cmd(["SADD", "set", "1", "2", "3", "x", "y"]);
                c.cmd(["SPOP", "set"]);
                c.cmd(["SPOP", "set", "2"]);
                c.cmd(["ZADD", "z", "1.5", "a", "-inf", "b", "3", "c"]);
                c.cmd(["ZINCRBY", "z", "0.25", "a"]);
                c.cmd(["MSET", "m1", "1", "m2", "2", "m3", "3"]);
                c.cmd(["RENAME", "m1", "renamed"]);
                c.cmd(["SUNIONSTORE", "su", "set", "set"]);
                c.cmd(["EXPIRE", "l", "5000"]);
                c.cmd(["SET", "gone", "x"]);
                c.cmd(["DEL", "gone"]);
                c.cmd(["LMOVE", "l", "l2", "LEFT", "RIGHT"]);
            }
            c.ok(["SELECT", "0"]);
            c.cmd(["SWAPDB", "3", "4"]);
            let snap = snapshot(&mut c);
            assert!(snap.len() > 30, "the dataset was built: {snap:?}");
            snap
        };
        let srv = start_aof(dir.path(), shards, &[]);
        let after = snapshot(&mut srv.conn());
        assert_eq!(before, after, "--shards {shards}: the dataset after a restart");
        assert!(srv.log().contains("DB loaded from append only file"), "{}", srv.log());
        let recs = all_records(dir.path());
        assert!(!recs.iter().any(|r| r.starts_with("SPOP") || r.starts_with("INCRBYFLOAT") || r.contains(" EX ")), "effects, not intentions: {recs:?}");
    }
}

#[test]
fn flushall_is_in_every_segment_and_a_restart_comes_back_empty() {
    // Invariant I2: FLUSHALL reaches the AOF (every shard's segment, even an empty database's).
    let dir = TempDir::new("aof-flushall");
    {
        let srv = start_aof(dir.path(), 4, &[]);
        let mut c = srv.conn();
        for i in 0..200 {
            c.ok(["SET", &format!("key:{i}"), "v"]);
        }
        c.ok(["FLUSHALL"]);
        c.ok(["SELECT", "9"]);
        c.ok(["FLUSHDB"]);
    }
    for seg in segments(dir.path()) {
        let r = records(&seg);
        assert!(r.contains(&"FLUSHALL".to_string()), "{} lacks FLUSHALL: {r:?}", seg.display());
        assert!(r.contains(&"FLUSHDB".to_string()), "{} lacks FLUSHDB: {r:?}", seg.display());
    }
    let srv = start_aof(dir.path(), 4, &[]);
    let mut c = srv.conn();
    assert_eq!(c.int(["DBSIZE"]), 0);
    c.ok(["SET", "after", "1"]);
    drop(c);
    drop(srv);
    let srv = start_aof(dir.path(), 4, &[]);
    assert_eq!(srv.conn().get_str(["GET", "after"]), Some("1".into()));
    assert_eq!(srv.conn().int(["DBSIZE"]), 1);
}

#[test]
fn debug_populate_is_logged_and_survives_a_kill() {
    // Redis does not log DEBUG POPULATE; here every change to the dataset is (I2).
    let dir = TempDir::new("aof-populate");
    {
        let srv = start_aof(dir.path(), 4, &["--enable-debug-command", "yes"]);
        let mut c = srv.conn();
        c.ok(["DEBUG", "POPULATE", "500", "pop", "20"]);
        assert_eq!(c.int(["DBSIZE"]), 500);
    } // SIGKILL
    let logged: usize = all_records(dir.path()).iter().filter(|r| r.starts_with("SET pop:")).count();
    assert_eq!(logged, 500, "one SET per populated key");
    let srv = start_aof(dir.path(), 4, &[]);
    let mut c = srv.conn();
    assert_eq!(c.int(["DBSIZE"]), 500);
    assert_eq!(c.get_str(["GET", "pop:123"]), Some(format!("value:123{}", "\0".repeat(11))));
}

#[test]
fn requests_are_logged_in_canonical_form_whatever_form_they_arrived_in() {
    // A canonical request is copied into the segment as received; one that Redis's parser
    // accepts in another form (no LF after a CR, no CRLF after a bulk) and an inline command
    // are encoded. Either way the segment holds canonical RESP that loads back.
    let dir = TempDir::new("aof-canonical");
    {
        let srv = start_aof(dir.path(), 1, &[]);
        let mut c = srv.conn();
        c.write_raw(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n").unwrap();
        c.write_raw(b"*3\r\n$3\r\nSET\r\n$1\rxb\r\n$1\r\n2XY").unwrap();
        c.write_raw(b"SET c 3\r\n").unwrap();
        for _ in 0..3 {
            assert_eq!(c.read_line().unwrap(), "+OK");
        }
    }
    let seg = segments(dir.path()).into_iter().find(|p| p.to_string_lossy().contains(".incr.")).expect("increment");
    let bytes = segment_records(&seg);
    let want = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n";
    assert!(bytes.ends_with(want), "{}", String::from_utf8_lossy(&bytes));
    let srv = start_aof(dir.path(), 1, &[]);
    let mut c = srv.conn();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(c.get_str(["GET", k]), Some(v.into()));
    }
}

#[test]
fn a_blocked_client_served_later_is_logged_as_the_pop_that_served_it() {
    let dir = TempDir::new("aof-blocked");
    {
        let srv = start_aof(dir.path(), 4, &[]);
        let mut waiter = srv.conn();
        waiter.send(["BLPOP", "queue", "0"]);
        let mut c = srv.conn();
        assert!(wait_for(Duration::from_secs(10), || c.info("clients").get("blocked_clients").map(String::as_str) == Some("1")));
        assert_eq!(c.int(["RPUSH", "queue", "a", "b"]), 2);
        assert_eq!(waiter.read(), Reply::bulks(&["queue", "a"]));
        waiter.send(["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
        assert!(wait_for(Duration::from_secs(10), || c.info("clients").get("blocked_clients").map(String::as_str) == Some("1")));
        c.int(["LPUSH", "src", "x"]);
        assert_eq!(waiter.read(), Reply::bulk("x"));
        c.cmd(["ZADD", "z", "1", "m"]);
        waiter.send(["BZPOPMIN", "z", "0"]);
        assert_eq!(waiter.read().strings(), vec!["z", "m", "1"]);
    }
    let recs = all_records(dir.path());
    assert!(recs.contains(&"LPOP queue".to_string()), "{recs:?}");
    assert!(recs.contains(&"ZPOPMIN z".to_string()), "{recs:?}");
    assert!(recs.iter().any(|r| r == "LMOVE src dst RIGHT LEFT" || r == "RPOP src"), "{recs:?}");
    assert!(!recs.iter().any(|r| r.starts_with("BLPOP") || r.starts_with("BLMOVE") || r.starts_with("BZPOPMIN")), "{recs:?}");
    let srv = start_aof(dir.path(), 4, &[]);
    let mut c = srv.conn();
    assert_eq!(c.cmd(["LRANGE", "queue", "0", "-1"]), Reply::bulks(&["b"]));
    assert_eq!(c.cmd(["LRANGE", "dst", "0", "-1"]), Reply::bulks(&["x"]));
    assert_eq!(c.int(["EXISTS", "src", "z"]), 0);
}

#[test]
fn expired_keys_are_logged_as_del() {
    let dir = TempDir::new("aof-expire");
    let srv = start_aof(dir.path(), 2, &["--hz", "100"]);
    let mut c = srv.conn();
    c.ok(["SET", "short", "v", "PX", "50"]);
    c.ok(["SET", "lazy", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(c.get_str(["GET", "lazy"]).is_none());
    assert!(wait_for(Duration::from_secs(10), || all_records(dir.path()).contains(&"DEL short".to_string())), "{:?}", all_records(dir.path()));
    assert!(all_records(dir.path()).contains(&"DEL lazy".to_string()));
}

#[test]
fn acknowledged_writes_survive_kill_9_with_appendfsync_always() {
    // A writer pipelines INCRs and SETs over keys of every shard; the server is killed with
    // SIGKILL mid-stream; every reply the writer had received must be reflected after restart.
    let rounds = std::env::var("SHARDIS_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    for round in 0..rounds {
        let dir = TempDir::new("aof-kill");
        let srv = start_aof(dir.path(), 4, &["--appendfsync", "always"]);
        let port = srv.port;
        let writer = std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut acked: BTreeMap<String, i64> = BTreeMap::new();
            let mut i: u64 = 0;
            loop {
                let mut batch = Vec::new();
                let keys: Vec<String> = (0..16).map(|j| format!("counter:{}", (i + j) % 64)).collect();
                for k in &keys {
                    batch.extend(encode(["INCR", k.as_str()]));
                }
                i += 16;
                if s.write_all(&batch).is_err() {
                    return acked;
                }
                for k in &keys {
                    match read_reply(&mut r) {
                        Ok(Reply::Int(n)) => {
                            acked.insert(k.clone(), n);
                        }
                        _ => return acked,
                    }
                }
            }
        });
        std::thread::sleep(Duration::from_millis(300 + 100 * round));
        srv.signal(libc::SIGKILL);
        let acked = writer.join().unwrap();
        drop(srv);
        assert!(!acked.is_empty(), "round {round}: the writer got replies before the kill");
        let srv = start_aof(dir.path(), 4, &[]);
        let mut c = srv.conn();
        for (k, n) in &acked {
            let v: i64 = c.get_str(["GET", k]).unwrap_or_default().parse().unwrap_or(0);
            assert!(v >= *n, "round {round}: {k} was acknowledged at {n} but is {v} after the restart");
        }
    }
}

#[test]
fn a_truncated_tail_loads_with_a_warning_or_refuses_when_told_to() {
    let dir = TempDir::new("aof-trunc");
    {
        let srv = start_aof(dir.path(), 1, &[]);
        let mut c = srv.conn();
        c.ok(["SET", "a", "1"]);
        c.ok(["SET", "b", "2"]);
    }
    let seg = segments(dir.path()).remove(0);
    let good_len = write_after_records(&seg, b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1");
    let d = dir.path().display().to_string();
    let (status, out) = run_to_exit(&aof_args(&d, "1", &["--aof-load-truncated", "no"]), dir.path());
    assert!(!status.success(), "refused: {out}");
    assert!(out.contains(&seg.display().to_string()) && out.contains(&format!("offset {good_len}")), "names the file and offset: {out}");
    assert!(out.contains("check-aof --fix"), "names the fix: {out}");

    let srv = start_aof(dir.path(), 1, &[]);
    let mut c = srv.conn();
    assert_eq!(c.get_str(["GET", "b"]), Some("2".into()));
    assert!(c.get_str(["GET", "c"]).is_none());
    assert!(srv.log().contains("aof-load-truncated"), "{}", srv.log());
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good_len, "the cut record was truncated away");
    c.ok(["SET", "c", "3"]);
    drop(c);
    drop(srv);
    let srv = start_aof(dir.path(), 1, &[]);
    assert_eq!(srv.conn().get_str(["GET", "c"]), Some("3".into()), "writes after the truncation are readable");
}

#[test]
fn damage_in_the_middle_stops_startup_naming_file_offset_and_fix() {
    let dir = TempDir::new("aof-corrupt");
    {
        let srv = start_aof(dir.path(), 1, &[]);
        let mut c = srv.conn();
        c.ok(["SET", "a", "1"]);
        c.ok(["SET", "b", "2"]);
    }
    let seg = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.windows(3).rposition(|w| w == b"*3\r").unwrap();
    bytes[at] = b'!';
    std::fs::write(&seg, &bytes).unwrap();
    let d = dir.path().display().to_string();
    let (status, out) = run_to_exit(&aof_args(&d, "1", &[]), dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains(&seg.display().to_string()) && out.contains(&format!("offset {at}")) && out.contains("check-aof --fix"), "{out}");
}

#[test]
fn a_different_shard_count_is_refused_with_the_right_one_named() {
    let dir = TempDir::new("aof-shards");
    {
        let srv = start_aof(dir.path(), 2, &[]);
        srv.conn().ok(["SET", "a", "1"]);
    }
    let d = dir.path().display().to_string();
    let (status, out) = run_to_exit(&aof_args(&d, "3", &[]), dir.path());
    assert!(!status.success(), "{out}");
    assert!(out.contains("--shards 2"), "{out}");
}

#[test]
fn a_unit_written_on_some_shards_only_is_left_out_entirely() {
    // Two segments by hand: shard 0 holds unit 7 (2 shards) whole; shard 1's part is missing,
    // as after a crash between the two writes. Neither part applies; plain records do.
    let dir = TempDir::new("aof-unit");
    let aofdir = dir.path().join("appendonlydir");
    std::fs::create_dir_all(&aofdir).unwrap();
    std::fs::write(
        aofdir.join("appendonly.aof.manifest"),
        "shards 2\nfile appendonly.aof.s0.1.incr.aof seq 1 type i shard 0\nfile appendonly.aof.s1.1.incr.aof seq 1 type i shard 1\n",
    )
    .unwrap();
    // Each key sits in the segment of the shard it routes to.
    let (plain0, partial, whole0) = (key_on_shard("plain", 0, 2), key_on_shard("partial", 0, 2), key_on_shard("whole", 0, 2));
    let (plain1, whole1) = (key_on_shard("plain", 1, 2), key_on_shard("whole", 1, 2));
    let mut s0 = Vec::new();
    s0.extend(encode(["SELECT", "0"]));
    s0.extend(encode(["SET", plain0.as_str(), "x"]));
    s0.extend(encode(["MULTI", "7", "2"]));
    s0.extend(encode(["SET", partial.as_str(), "x"]));
    s0.extend(encode(["EXEC"]));
    s0.extend(encode(["MULTI", "8", "2"]));
    s0.extend(encode(["SET", whole0.as_str(), "x"]));
    s0.extend(encode(["EXEC"]));
    let mut s1 = Vec::new();
    s1.extend(encode(["SELECT", "0"]));
    s1.extend(encode(["MULTI", "8", "2"]));
    s1.extend(encode(["SET", whole1.as_str(), "x"]));
    s1.extend(encode(["EXEC"]));
    s1.extend(encode(["SET", plain1.as_str(), "x"]));
    std::fs::write(aofdir.join("appendonly.aof.s0.1.incr.aof"), s0).unwrap();
    std::fs::write(aofdir.join("appendonly.aof.s1.1.incr.aof"), s1).unwrap();
    let srv = start_aof(dir.path(), 2, &[]);
    let mut c = srv.conn();
    assert_eq!(c.int(["EXISTS", plain0.as_str(), plain1.as_str(), whole0.as_str(), whole1.as_str()]), 4);
    assert_eq!(c.int(["EXISTS", partial.as_str()]), 0);
    assert!(srv.log().contains("written on some shards only"), "{}", srv.log());
}

/// Runs `shardis check-aof <args>` with `stdin` as its input; (exit code, output).
fn check_aof(args: &[&str], stdin: &str) -> (i32, String) {
    use std::process::{Command, Stdio};
    let mut child =
        Command::new(BIN).arg("check-aof").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn check-aof");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn check_aof_reports_and_fixes_cut_and_damaged_segments() {
    let dir = TempDir::new("check-aof");
    {
        let srv = start_aof(dir.path(), 2, &[]);
        let mut c = srv.conn();
        for k in keys_on_every_shard("k", 2) {
            c.ok(["SET", k.as_str(), "v"]);
            c.ok(["SET", &format!("{k}-2"), "v"]);
        }
    }
    let aofdir = dir.path().join("appendonlydir");
    let d = aofdir.display().to_string();
    let (code, out) = check_aof(&[&d], "");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("is valid").count(), 2, "both segments named by the manifest: {out}");

    // Cut the first segment's tail, damage the second one's middle.
    let segs = segments(dir.path());
    let len0 = write_after_records(&segs[0], b"*2\r\n$3\r\nDEL");
    let mut b1 = segment_records(&segs[1]);
    let at = b1.windows(3).rposition(|w| w == b"*3\r").unwrap();
    b1[at + 1] = b'x';
    std::fs::write(&segs[1], &b1).unwrap();

    let (code, out) = check_aof(&[&d], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("ok_up_to={len0}")) && out.contains(&format!("Bad file format at offset {at}")), "{out}");
    let s1 = segs[1].display().to_string();
    let (code, out) = check_aof(&["--fix", &s1], "n\n");
    assert_eq!(code, 1, "declined: {out}");
    assert_eq!(std::fs::metadata(&segs[1]).unwrap().len(), b1.len() as u64, "nothing truncated without a yes");
    let (code, out) = check_aof(&["--fix", &s1], "y\n");
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::metadata(&segs[1]).unwrap().len(), at as u64);
    let (code, out) = check_aof(&["--fix", "--yes", &d], "");
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::metadata(&segs[0]).unwrap().len(), len0);
    let (code, out) = check_aof(&[&d], "");
    assert_eq!(code, 0, "repaired: {out}");
    // And the server starts on the repaired files.
    let srv = start_aof(dir.path(), 2, &[]);
    assert!(srv.conn().int(["DBSIZE"]) >= 3);
}

#[test]
fn a_killed_server_leaves_reserved_zeros_that_are_trimmed_and_a_clean_stop_leaves_none() {
    // Segments write zeros ahead of their records (cheaper page-cache writes). kill -9 leaves
    // them; check-aof calls the file valid; the next start trims them and loses nothing.
    let dir = TempDir::new("aof-zero-tail");
    {
        let srv = start_aof(dir.path(), 1, &[]);
        let mut c = srv.conn();
        for i in 0..100 {
            c.ok(["SET", &format!("k{i}"), &i.to_string()]);
        }
    }
    let seg = segments(dir.path()).into_iter().find(|p| p.to_string_lossy().contains(".incr.")).expect("increment");
    let records = segment_records(&seg);
    let len = std::fs::metadata(&seg).unwrap().len();
    assert!(len > records.len() as u64, "zeros past the records after a kill: {len} bytes, {} of records", records.len());
    let aofdir = dir.path().join("appendonlydir").display().to_string();
    let (code, out) = check_aof(&[&aofdir], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("ends in {} zero bytes", len - records.len() as u64)), "{out}");
    let mut srv = start_aof(dir.path(), 1, &[]);
    assert!(srv.log().contains("zero bytes past its last record"), "{}", srv.log());
    assert_eq!(std::fs::read(&seg).unwrap(), records, "trimmed to its records at startup");
    let mut c = srv.conn();
    assert_eq!(c.int(["DBSIZE"]), 100);
    assert_eq!(c.get_str(["GET", "k99"]), Some("99".into()));
    c.ok(["SET", "after", "1"]);
    // SHUTDOWN writes the records out and trims the zeros: the file is exactly its records.
    c.send(["SHUTDOWN"]);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "SHUTDOWN exits 0");
    let bytes = std::fs::read(&seg).unwrap();
    assert!(bytes.ends_with(&encode(["SET", "after", "1"])), "no zeros after a clean stop: {:?}", &bytes[bytes.len().saturating_sub(40)..]);
    // So does SIGTERM.
    let mut srv = start_aof(dir.path(), 1, &[]);
    srv.conn().ok(["SET", "last", "2"]);
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()), "SIGTERM exits 0");
    let bytes = std::fs::read(&seg).unwrap();
    assert!(bytes.ends_with(&encode(["SET", "last", "2"])), "no zeros after SIGTERM: {:?}", &bytes[bytes.len().saturating_sub(40)..]);
    let srv = start_aof(dir.path(), 1, &[]);
    assert_eq!(srv.conn().int(["DBSIZE"]), 102);
}

/// A small tmpfs for disk-full tests, unmounted on drop; None (and a loud note) when this
/// process may not mount one.
struct SmallFs {
    dir: TempDir,
}

impl SmallFs {
    fn new(bytes: u64) -> Option<SmallFs> {
        let dir = TempDir::new("smallfs");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs", &dir.path().display().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("!!!!!!!! SKIPPED: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN); the disk-full test did not run !!!!!!!!");
            return None;
        }
        Some(SmallFs { dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_refuses_writes_with_misconf_serves_reads_and_recovers() {
    for fsync in ["everysec", "always"] {
        let Some(fs) = SmallFs::new(2 << 20) else { return };
        let srv = start_aof(fs.dir.path(), 2, &["--appendfsync", fsync]);
        let mut c = srv.conn();
        c.ok(["SET", "kept", "before"]);
        // Fill the filesystem beside the AOF until a write fails.
        let filler = fs.dir.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
        drop(f);
        // A write that fits in the space its segment reserved past its records still lands.
        c.ok(["SET", "kept", "after the disk filled"]);
        // One larger than that space cannot.
        let big = "x".repeat(512 << 10);
        let mut w = srv.conn();
        w.send(["SET", "big", big.as_str()]);
        // The write cannot reach the AOF: its reply is held, and later writes are refused.
        assert!(
            wait_for(Duration::from_secs(10), || c.info("persistence").get("aof_last_write_status").map(String::as_str) == Some("err")),
            "{fsync}: aof_last_write_status turns err"
        );
        assert!(w.is_silent_for(Duration::from_millis(300)), "{fsync}: no acknowledgement for a write that is not in the AOF");
        let err = c.err(["SET", "other", "v"]);
        assert_eq!(err, "MISCONF Errors writing to the AOF file: No space left on device", "{fsync}");
        assert_eq!(c.get_str(["GET", "kept"]), Some("after the disk filled".into()), "{fsync}: reads go on");
        // Room again: the held write is acknowledged and writes are accepted.
        std::fs::remove_file(&filler).unwrap();
        assert_eq!(w.read(), Reply::ok(), "{fsync}: the held write completes");
        assert!(wait_for(Duration::from_secs(10), || c.info("persistence").get("aof_last_write_status").map(String::as_str) == Some("ok")));
        c.ok(["SET", "other", "v"]);
        drop((c, w));
        drop(srv);
        let srv = start_aof(fs.dir.path(), 2, &[]);
        let mut c = srv.conn();
        assert_eq!(c.get_str(["GET", "big"]).map(|v| v.len()), Some(512 << 10), "{fsync}");
        assert_eq!(c.get_str(["GET", "kept"]), Some("after the disk filled".into()), "{fsync}");
        assert_eq!(c.get_str(["GET", "other"]), Some("v".into()), "{fsync}");
    }
}
