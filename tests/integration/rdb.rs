//! RDB files in both directions with the real redis-server 7.0: a dump.rdb written by
//! `shards::rdb` loads in Redis, and Redis's own SAVE loads through `shards::rdb`, every type
//! and encoding, TTLs, all 16 databases. Datasets are compared with DEBUG DIGEST (Redis's) and
//! `shards::digest` (ours), which the unit tests check against Redis's own values.

use shards::digest::{self, DatasetDigest};
use shards::rdb::{self, AuxFields, LoadOptions, SaveOptions};
use shards::types::hash::Hash;
use shards::types::list::{End, List};
use shards::types::set::Set;
use shards::types::zset::ZSet;
use shards::types::Limits;
use shards::{Shard, StrValue, Value};

use crate::dump::{load_dataset, RedisServer, DATASET_KEYS};
use crate::harness::{Reply, TempDir};

fn dataset_digest(shards: &[Shard]) -> String {
    let mut d = DatasetDigest::default();
    shards.iter().for_each(|s| d.add_shard(s));
    digest::hex(&d.finish())
}

fn load_file(path: &std::path::Path, nshards: usize) -> (Vec<Shard>, rdb::LoadStats) {
    let mut shards: Vec<Shard> = (0..nshards).map(|i| Shard::new(i, 16)).collect();
    let f = std::io::BufReader::new(std::fs::File::open(path).expect("open dump.rdb"));
    let opts = LoadOptions { databases: 16, limits: Limits::default(), skip_expired_before: None };
    let mut refs: Vec<&mut Shard> = shards.iter_mut().collect();
    let stats = rdb::load_into_shards(f, &opts, &mut refs).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    (shards, stats)
}

fn write_file(path: &std::path::Path, shards: &[Shard], opts: SaveOptions) {
    let f = std::io::BufWriter::new(std::fs::File::create(path).expect("create dump.rdb"));
    let refs: Vec<&Shard> = shards.iter().collect();
    rdb::write_shards(f, &refs, opts, &AuxFields::default()).expect("write dump.rdb");
}

#[test]
fn redis_save_loads_here_and_our_file_loads_back_in_redis() {
    let dir = TempDir::new("rdb-redis");
    let digest_before;
    {
        let Some(redis) = RedisServer::start(Some(dir.path()), &["--dbfilename", "dump.rdb"]) else { return };
        let mut r = redis.conn();
        // The dataset in every database, with one TTL each (and a different key per db).
        for db in 0..16 {
            r.ok(["SELECT", &db.to_string()]);
            load_dataset(&mut r);
            r.ok(["SET", &format!("only-in-{db}"), "x", "EX", &(1000 + db).to_string()]);
        }
        digest_before = r.cmd(["DEBUG", "DIGEST"]).as_str();
        r.ok(["SAVE"]);
    }
    let path = dir.path().join("dump.rdb");
    for nshards in [1, 4] {
        let (shards, stats) = load_file(&path, nshards);
        assert_eq!(stats.keys as usize, 16 * (DATASET_KEYS.len() + 1));
        assert_eq!(dataset_digest(&shards), digest_before, "Redis's dump.rdb loaded into {nshards} shards");
        for s in &shards {
            for db in &s.dbs {
                for (k, e) in db.main.iter() {
                    if k.starts_with(b"only-in-") || k == b"ttl" {
                        assert!(e.expire_at() > 0, "{} lost its TTL", String::from_utf8_lossy(k));
                    }
                }
            }
        }
        // Write it back from the shards and let Redis load our file.
        for compression in [true, false] {
            let out = TempDir::new("rdb-ours");
            write_file(&out.path().join("dump.rdb"), &shards, SaveOptions { compression, checksum: compression, ..SaveOptions::default() });
            let Some(redis) = RedisServer::start(Some(out.path()), &["--dbfilename", "dump.rdb"]) else { return };
            let mut r = redis.conn();
            assert_eq!(r.cmd(["DEBUG", "DIGEST"]).as_str(), digest_before, "our file (compression {compression}) loaded by Redis");
            r.ok(["SELECT", "7"]);
            let pttl = r.int(["PTTL", "only-in-7"]);
            assert!(pttl > 900_000 && pttl <= 1_007_000, "{pttl}");
            assert_eq!(r.int(["DBSIZE"]), (DATASET_KEYS.len() + 1) as i64);
        }
    }
}

/// A dataset built in the engine alone: every type and encoding, TTLs, several databases.
fn engine_dataset() -> Shard {
    let limits = Limits::default();
    let mut s = Shard::new(0, 16);
    let far = shards::keyspace::wall_clock_ms() + 3_600_000;
    for db in [0usize, 3, 15] {
        s.store(db, b"str", Value::Str(StrValue::from_bytes(b"hello")), None, false);
        s.store(db, b"num", Value::Str(StrValue::from_bytes(b"-42")), Some(far), false);
        s.store(db, b"long", Value::Str(StrValue::from_bytes("Z".repeat(5000).as_bytes())), None, false);
        let mut l = List::new(-2);
        (0..5000).for_each(|i| l.push(End::Right, format!("e{i}").as_bytes()));
        s.store(db, b"list", Value::List(Box::new(l)), None, false);
        let mut h = Hash::default();
        (0..10).for_each(|i| {
            h.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), &limits);
        });
        s.store(db, b"hash", Value::Hash(h), Some(far), false);
        let mut h = Hash::default();
        (0..1000).for_each(|i| {
            h.set(format!("f{i}").as_bytes(), b"v", &limits);
        });
        s.store(db, b"bighash", Value::Hash(h), None, false);
        let mut st = Set::default();
        (0..100).for_each(|i| {
            st.add(format!("{i}").as_bytes(), limits.set_max_intset_entries);
        });
        s.store(db, b"intset", Value::Set(Box::new(st)), None, false);
        let mut st = Set::default();
        (0..100).for_each(|i| {
            st.add(format!("m{i}").as_bytes(), limits.set_max_intset_entries);
        });
        s.store(db, b"set", Value::Set(Box::new(st)), None, false);
        for (name, n) in [("zset", 10), ("bigzset", 1000)] {
            let mut z = ZSet::default();
            (0..n).for_each(|i| z.insert_new(format!("m{i}").as_bytes(), i as f64 * 0.25 - 3.0, &limits));
            s.store(db, name.as_bytes(), Value::ZSet(z), None, false);
        }
    }
    s
}

#[test]
fn an_engine_dataset_written_here_loads_in_redis() {
    let shard = engine_dataset();
    let dir = TempDir::new("rdb-engine");
    write_file(&dir.path().join("dump.rdb"), std::slice::from_ref(&shard), SaveOptions::default());
    let Some(redis) = RedisServer::start(Some(dir.path()), &["--dbfilename", "dump.rdb"]) else { return };
    let mut r = redis.conn();
    assert_eq!(r.cmd(["DEBUG", "DIGEST"]).as_str(), dataset_digest(std::slice::from_ref(&shard)));
    for (db, d) in shard.dbs.iter().enumerate() {
        r.ok(["SELECT", &db.to_string()]);
        assert_eq!(r.int(["DBSIZE"]) as usize, d.len(), "db {db}");
        for (k, e) in d.main.iter() {
            let want = digest::hex(&digest::value_digest(Some(e)));
            let got = r.cmd([b"DEBUG".as_slice(), b"DIGEST-VALUE", k]);
            assert_eq!(got.as_array()[0], Reply::Simple(want), "db {db} key {}", String::from_utf8_lossy(k));
            let enc = r.cmd([b"OBJECT".as_slice(), b"ENCODING", k]).as_str();
            let ours = e.value().encoding_name();
            // Redis names small strings embstr/int the same way; a 5000-byte string is raw.
            assert_eq!(enc, ours, "encoding of {}", String::from_utf8_lossy(k));
            if e.expire_at() != 0 {
                let pttl = r.int([b"PTTL".as_slice(), k]);
                assert!(pttl > 3_500_000 && pttl <= 3_600_000, "{pttl}");
            }
        }
    }
}

/// A dump.rdb from redis-server under an LRU or LFU policy carries each key's idle time or
/// access counter (RDB_OPCODE_IDLE / RDB_OPCODE_FREQ); shardis, started with that file and the
/// same policy, keeps them (OBJECT IDLETIME / OBJECT FREQ), as Redis's objectSetLRUOrLFU does.
#[test]
fn idle_time_and_lfu_counter_survive_a_redis_dump_rdb() {
    for (policy, option, value) in [("allkeys-lru", "IDLETIME", "5000"), ("allkeys-lfu", "FREQ", "77")] {
        let dir = TempDir::new("rdb-idle");
        {
            let Some(redis) = RedisServer::start(Some(dir.path()), &["--dbfilename", "dump.rdb", "--maxmemory-policy", policy]) else { return };
            let mut r = redis.conn();
            r.ok(["SET", "proto", "v"]);
            let payload = r.cmd(["DUMP", "proto"]);
            r.ok([b"RESTORE".to_vec(), b"k".to_vec(), b"0".to_vec(), payload.as_bytes().to_vec(), option.as_bytes().to_vec(), value.as_bytes().to_vec()]);
            r.ok(["SAVE"]);
        }
        for shards in ["1", "4"] {
            let dir = dir.path().to_path_buf();
            let srv = crate::harness::Server::launch(move |port, _| {
                ["--port", &port.to_string(), "--save", "", "--shards", shards, "--maxmemory-policy", policy, "--dir", &dir.display().to_string()]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            });
            let mut c = srv.conn();
            assert_eq!(c.int(["DBSIZE"]), 2, "{policy}: the file loaded");
            if option == "IDLETIME" {
                let idle = c.int(["OBJECT", "IDLETIME", "k"]);
                assert!((5000..5100).contains(&idle), "{policy}, {shards} shards: idle {idle}");
                assert!(c.int(["OBJECT", "IDLETIME", "proto"]) < 100, "a key used just before SAVE");
            } else {
                assert_eq!(c.int(["OBJECT", "FREQ", "k"]), 77, "{policy}, {shards} shards");
            }
        }
    }
}

/// The other direction: under an LRU or LFU policy every snapshot shardis writes carries each
/// key's idle time or LFU counter, as Redis's rdbSaveKeyValuePair writes them, and under any
/// other policy neither. DEBUG RELOAD keeps them, so does an AOF base written as RDB, and
/// redis-server loading our dump.rdb reports the same OBJECT IDLETIME / OBJECT FREQ.
#[test]
fn idle_time_and_lfu_counter_are_saved_as_redis_saves_them() {
    // (policy, RESTORE option and value, what OBJECT reports after a save and load)
    type Case = (&'static str, &'static str, &'static str, fn(i64) -> bool);
    let cases: [Case; 3] = [
        ("allkeys-lru", "IDLETIME", "5000", |idle| (5000..5100).contains(&idle)),
        ("volatile-lfu", "FREQ", "77", |freq| freq == 77),
        // Not saved: the key comes back as if just created (Redis: idle 0 after DEBUG RELOAD).
        ("allkeys-random", "IDLETIME", "5000", |idle| idle < 100),
    ];
    for (policy, option, value, survived) in cases {
        for shards in ["1", "4"] {
            let dir = TempDir::new("rdb-access");
            let d = dir.path().display().to_string();
            // lfu-decay-time 0: the counter does not decay when a minute turns during the test.
            let args = [
                "--shards",
                shards,
                "--maxmemory-policy",
                policy,
                "--lfu-decay-time",
                "0",
                "--dir",
                &d,
                "--appendonly",
                "yes",
                "--enable-debug-command",
                "yes",
            ];
            let what = format!("{policy}, {shards} shards");
            {
                let srv = crate::harness::Server::start(&args);
                let mut c = srv.conn();
                c.ok(["SET", "proto", "v"]);
                let payload = c.cmd(["DUMP", "proto"]);
                c.ok([b"RESTORE".as_slice(), b"k", b"0", payload.as_bytes(), option.as_bytes(), value.as_bytes()]);
                assert_eq!(c.int(["OBJECT", option, "k"]).to_string(), value, "{what}: RESTORE applied it");
                c.ok(["DEBUG", "RELOAD"]);
                let got = c.int(["OBJECT", option, "k"]);
                assert!(survived(got), "{what}: OBJECT {option} after DEBUG RELOAD: {got}");
                // The AOF base is written as RDB (aof-use-rdb-preamble yes).
                c.cmd(["BGREWRITEAOF"]);
                let done = crate::harness::wait_for(std::time::Duration::from_secs(30), || {
                    let info = srv.info("persistence");
                    info["aof_rewrite_in_progress"] == "0" && info["aof_rewrite_scheduled"] == "0" && info["aof_rewrites"] != "0"
                });
                assert!(done, "{what}: the rewrite did not finish\n{}", srv.log());
                c.ok(["SAVE"]);
            }
            {
                let srv = crate::harness::Server::start(&args);
                let got = srv.conn().int(["OBJECT", option, "k"]);
                assert!(survived(got), "{what}: OBJECT {option} after a restart from the AOF base: {got}");
            }
            // Redis reads an appendonlydir's manifest even with appendonly no: the file alone.
            let rdir = TempDir::new("rdb-access-redis");
            std::fs::copy(dir.path().join("dump.rdb"), rdir.path().join("dump.rdb")).expect("copy dump.rdb");
            let Some(redis) = RedisServer::start(Some(rdir.path()), &["--dbfilename", "dump.rdb", "--maxmemory-policy", policy, "--lfu-decay-time", "0"])
            else {
                return;
            };
            let mut r = redis.conn();
            assert_eq!(r.int(["DBSIZE"]), 2, "{what}: Redis loaded our dump.rdb");
            let got = r.int(["OBJECT", option, "k"]);
            assert!(survived(got), "{what}: OBJECT {option} in Redis loading our dump.rdb: {got}");
        }
    }
}
