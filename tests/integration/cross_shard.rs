//! Commands spanning shards: atomicity through the coordinator, and pipelines whose commands
//! are forwarded to several shards keeping their order.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::harness::{encode, for_each_shards, key_on_shard, keys_on_every_shard, shard_of, wait_for, Reply, Server};

const ROUNDS: usize = 3000;

/// Eight keys, two on each shard of a 4-shard server.
fn spread_keys(prefix: &str) -> Vec<String> {
    let keys: Vec<String> = (0..8).map(|i| key_on_shard(&format!("{prefix}{i}-"), i % 4, 4)).collect();
    let shards: std::collections::HashSet<usize> = keys.iter().map(|k| shard_of(k, 4)).collect();
    assert_eq!(shards.len(), 4);
    keys
}

#[test]
fn mset_is_atomic_for_a_concurrent_mget() {
    let s = Server::start(&["--shards", "4"]);
    let keys = spread_keys("atom");
    let mut w = s.conn();
    let mut r = s.conn();
    let mut init = vec!["MSET".to_string()];
    for k in &keys {
        init.extend([k.clone(), "0".to_string()]);
    }
    w.ok(&init);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let keys = keys.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for round in 1..=ROUNDS {
                let v = round.to_string();
                let mut cmd = vec!["MSET".to_string()];
                for k in &keys {
                    cmd.extend([k.clone(), v.clone()]);
                }
                w.ok(&cmd);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut mget = vec!["MGET".to_string()];
    mget.extend(keys.iter().cloned());
    let mut reads = 0;
    let mut last = 0u64;
    while !done.load(Ordering::SeqCst) || reads == 0 {
        let got = r.cmd(&mget).strings();
        let first = &got[0];
        assert!(got.iter().all(|v| v == first), "MGET saw a partial MSET after {reads} reads: {got:?}");
        let v: u64 = first.parse().expect("a number");
        assert!(v >= last, "values went back from {last} to {v}");
        last = v;
        reads += 1;
    }
    writer.join().expect("writer thread");
    assert_eq!(r.cmd(&mget).strings(), vec![ROUNDS.to_string(); 8]);
    eprintln!("{reads} MGETs checked against {ROUNDS} MSETs");
}

#[test]
fn del_is_atomic_for_concurrent_exists_dbsize_keys() {
    let s = Server::start(&["--shards", "4"]);
    let keys = spread_keys("delx");
    let mut w = s.conn();
    let mut r = s.conn();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let keys = keys.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..ROUNDS / 2 {
                let mut mset = vec!["MSET".to_string()];
                for k in &keys {
                    mset.extend([k.clone(), "x".to_string()]);
                }
                w.ok(&mset);
                let mut del = vec!["DEL".to_string()];
                del.extend(keys.iter().cloned());
                assert_eq!(w.int(&del), 8);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut exists = vec!["EXISTS".to_string()];
    exists.extend(keys.iter().cloned());
    // DBSIZE and KEYS run on every shard through the coordinator: atomic too (DESIGN.md).
    let mut i = 0;
    while !done.load(Ordering::SeqCst) {
        let (what, n) = match i % 3 {
            0 => ("EXISTS", r.int(&exists)),
            1 => ("DBSIZE", r.int(["DBSIZE"])),
            _ => ("KEYS", r.cmd(["KEYS", "*"]).as_array().len() as i64),
        };
        assert!(n == 0 || n == 8, "{what} saw {n} of 8 keys: a partial MSET or DEL");
        i += 1;
    }
    writer.join().expect("writer thread");
    assert_eq!(r.int(&exists), 0);
}

#[test]
fn rename_across_shards_is_atomic() {
    let s = Server::start(&["--shards", "4"]);
    let a = key_on_shard("ra", 0, 4);
    let b = key_on_shard("rb", 2, 4);
    let mut w = s.conn();
    let mut r = s.conn();
    w.ok(["SET", &a, "payload"]);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, b, done) = (a.clone(), b.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 0..ROUNDS {
                let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
                w.ok(["RENAME", from, to]);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    while !done.load(Ordering::SeqCst) {
        // Exactly one of the two names holds the value at any moment.
        assert_eq!(r.int(["EXISTS", &a, &b]), 1, "RENAME across shards was observed half done");
        let got = r.cmd(["MGET", &a, &b]);
        let present: Vec<&Reply> = got.as_array().iter().filter(|v| !v.is_nil()).collect();
        assert_eq!(present, vec![&Reply::bulk("payload")], "{got:?}");
    }
    writer.join().expect("writer thread");
    assert_eq!(r.get_str(["GET", &a]).as_deref(), Some("payload"));
}

#[test]
fn pipelined_commands_on_every_shard_reply_in_order() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let counters = keys_on_every_shard("pctr", 4);
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1000usize {
            let key = format!("pk:{}", i / 2);
            match i % 4 {
                0 => {
                    batch.extend(encode(["SET", &key, &format!("v{i}")]));
                    expected.push(Reply::ok());
                }
                1 => {
                    batch.extend(encode(["GET", &format!("pk:{}", (i - 1) / 2)]));
                    expected.push(Reply::bulk(format!("v{}", i - 1)));
                }
                2 => {
                    let ctr = &counters[(i / 4) % 4];
                    batch.extend(encode(["INCR", ctr]));
                    expected.push(Reply::Int((i / 16 + 1) as i64));
                }
                _ => {
                    batch.extend(encode(["PING", &format!("p{i}")]));
                    expected.push(Reply::bulk(format!("p{i}")));
                }
            }
        }
        c.write_raw(&batch).expect("write the pipeline");
        for (i, want) in expected.iter().enumerate() {
            let got = c.read();
            assert_eq!(&got, want, "reply {i} of the pipeline");
        }
        // Counter j got one INCR per i = 4q + 2 with q % 4 == j, q in 0..250.
        for (j, ctr) in counters.iter().enumerate() {
            let incrs = (0..250).filter(|q| q % 4 == j).count();
            assert_eq!(c.get_str(["GET", ctr]), Some(incrs.to_string()));
        }
    });
}

#[test]
fn pipeline_mixing_local_forwarded_and_coordinated_commands() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("mix", 4);
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for round in 0..100 {
            let v = round.to_string();
            batch.extend(encode(["MSET", &keys[0], &v, &keys[1], &v, &keys[2], &v, &keys[3], &v]));
            expected.push(Reply::ok());
            for k in &keys {
                batch.extend(encode(["INCR", k]));
                expected.push(Reply::Int(round + 1));
            }
            batch.extend(encode(["MGET", &keys[0], &keys[1], &keys[2], &keys[3]]));
            expected.push(Reply::bulks(&vec![(round + 1).to_string(); 4]));
            batch.extend(encode(["DBSIZE"]));
            expected.push(Reply::Int(4));
        }
        c.write_raw(&batch).expect("write the pipeline");
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(&c.read(), want, "reply {i} of the pipeline");
        }
    });
}

#[test]
fn pipelined_select_applies_to_later_forwarded_commands() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("sel", 4);
        let mut batch = Vec::new();
        for k in &keys {
            batch.extend(encode(["SET", k, "db0"]));
        }
        batch.extend(encode(["SELECT", "5"]));
        for k in &keys {
            batch.extend(encode(["SET", k, "db5"]));
        }
        for k in &keys {
            batch.extend(encode(["GET", k]));
        }
        batch.extend(encode(["SELECT", "0"]));
        for k in &keys {
            batch.extend(encode(["GET", k]));
        }
        c.write_raw(&batch).expect("write the pipeline");
        for _ in 0..9 {
            assert_eq!(c.read(), Reply::ok());
        }
        for _ in &keys {
            assert_eq!(c.read(), Reply::bulk("db5"));
        }
        assert_eq!(c.read(), Reply::ok());
        for _ in &keys {
            assert_eq!(c.read(), Reply::bulk("db0"));
        }
    });
}

#[test]
fn pipeline_with_big_replies_while_the_client_keeps_writing() {
    // The client writes its whole pipeline before reading a reply (as redis-benchmark -P
    // does with a big -P): the server must keep reading while its replies pile up, and send
    // them all, in order.
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys = keys_on_every_shard("big", 4);
        let value = vec![b'v'; 64 * 1024];
        for k in &keys {
            assert_eq!(c.cmd([b"SET".as_slice(), k.as_bytes(), &value]), Reply::ok());
        }
        let mut batch = Vec::new();
        for i in 0..1000 {
            batch.extend(encode(["GET", &keys[i % 4]]));
            batch.extend(encode(["ECHO", &i.to_string()]));
        }
        let mut w = c.writer_clone();
        let writer = std::thread::spawn(move || w.write_all(&batch));
        for i in 0..1000 {
            assert_eq!(c.read(), Reply::Bulk(Some(value.clone())), "GET reply {i}");
            assert_eq!(c.read(), Reply::bulk(i.to_string()), "ECHO reply {i}");
        }
        writer.join().expect("writer thread").expect("the server took the whole pipeline");
    });
}

#[test]
fn concurrent_clients_incr_keys_on_every_shard() {
    for_each_shards(&[], |s| {
        const CLIENTS: usize = 6;
        const ROUNDS: usize = 300;
        let counters = keys_on_every_shard("cc", 4);
        let workers: Vec<_> = (0..CLIENTS)
            .map(|w| {
                let mut c = s.conn();
                let counters = counters.clone();
                std::thread::spawn(move || {
                    let own = format!("own:{w}");
                    for round in 0..ROUNDS {
                        // A pipeline of forwarded INCRs, one coordinated MSET and a MGET.
                        let mut batch = Vec::new();
                        for k in &counters {
                            batch.extend(encode(["INCR", k]));
                        }
                        let v = round.to_string();
                        batch.extend(encode(["MSET", &own, &v, &counters[0], "x", &counters[0], "0"]));
                        batch.extend(encode(["MGET", &own, &own]));
                        c.write_raw(&batch).expect("write");
                        for k in &counters {
                            let r = c.read();
                            assert!(matches!(r, Reply::Int(n) if n >= 1), "INCR {k}: {r:?}");
                        }
                        assert_eq!(c.read(), Reply::ok());
                        assert_eq!(c.read(), Reply::bulks(&[&v, &v]));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
        let mut c = s.conn();
        // counters[0] is reset by every MSET, so only the others have a known total.
        for k in &counters[1..] {
            assert_eq!(c.get_str(["GET", k]), Some((CLIENTS * ROUNDS).to_string()), "{k}");
        }
    });
}

#[test]
fn msetnx_race_has_exactly_one_winner() {
    let s = Server::start(&["--shards", "4"]);
    let keys = keys_on_every_shard("race", 4);
    for round in 0..50 {
        let keys: Vec<String> = keys.iter().map(|k| format!("{k}:{round}")).collect();
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let racers: Vec<_> = (0..4)
            .map(|w| {
                let mut c = s.conn();
                let keys = keys.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut cmd = vec!["MSETNX".to_string()];
                    for k in &keys {
                        cmd.extend([k.clone(), format!("w{w}")]);
                    }
                    barrier.wait();
                    c.int(&cmd)
                })
            })
            .collect();
        let wins: i64 = racers.into_iter().map(|r| r.join().expect("racer")).sum();
        assert_eq!(wins, 1, "round {round}: MSETNX must succeed for exactly one client");
        let mut c = s.conn();
        let mut mget = vec!["MGET".to_string()];
        mget.extend(keys.iter().cloned());
        let values = c.cmd(&mget).strings();
        assert!(values.iter().all(|v| v == &values[0]), "round {round}: keys written by several clients: {values:?}");
    }
}

#[test]
fn clients_leaving_with_forwarded_commands_in_flight_do_not_hurt_the_server() {
    for_each_shards(&[], |s| {
        let keys = keys_on_every_shard("gone", 4);
        for round in 0..20 {
            let mut c = s.conn();
            let mut batch = Vec::new();
            for i in 0..500 {
                let k = &keys[i % 4];
                batch.extend(encode(["INCR", k]));
                if i % 50 == 0 {
                    batch.extend(encode(["MSET", &keys[0], "0", &keys[1], "0", &keys[2], "0", &keys[3], "0"]));
                    batch.extend(encode(["MGET", &keys[0], &keys[1], &keys[2], &keys[3]]));
                }
            }
            c.write_raw(&batch).expect("write");
            // Leave without reading, some rounds after a partial command.
            if round % 2 == 0 {
                c.write_raw(b"*3\r\n$3\r\nSET\r\n").expect("write");
            }
            drop(c);
        }
        let mut c = s.conn();
        assert_eq!(c.cmd(["PING"]), Reply::Simple("PONG".into()));
        // How much of each abandoned pipeline ran is up to the server (Redis drops what a
        // gone client left unprocessed), but whatever ran, ran whole.
        for k in &keys {
            let v: i64 = c.get_str(["GET", k]).expect("counter exists").parse().expect("a number");
            assert!((0..=500).contains(&v), "{k} = {v}");
        }
        assert_eq!(c.int(["DBSIZE"]), 4);
        assert!(wait_for(std::time::Duration::from_secs(10), || c.info("clients")["connected_clients"] == "1"));
    });
}

#[test]
fn many_connections_at_once() {
    let s = Server::start(&["--shards", "4"]);
    let mut conns: Vec<_> = (0..200).map(|_| s.conn()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(["SET", &format!("conn:{i}"), &i.to_string()]);
    }
    for c in &mut conns {
        assert_eq!(c.read(), Reply::ok());
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.get_str(["GET", &format!("conn:{}", 199 - i)]), Some((199 - i).to_string()));
    }
    assert_eq!(conns[0].info("clients")["connected_clients"], "200");
    let ids: std::collections::HashSet<i64> = conns.iter_mut().map(|c| c.int(["CLIENT", "ID"])).collect();
    assert_eq!(ids.len(), 200, "client ids are unique");
}

#[test]
fn mget_and_del_of_thousands_of_keys_across_shards() {
    for_each_shards(&[], |s| {
        let mut c = s.conn();
        let keys: Vec<String> = (0..10_000).map(|i| format!("many:{i}")).collect();
        let mut mset = vec!["MSET".to_string()];
        for (i, k) in keys.iter().enumerate() {
            mset.extend([k.clone(), i.to_string()]);
        }
        c.ok(&mset);
        let mut mget = vec!["MGET".to_string()];
        mget.extend(keys.iter().cloned());
        mget.push("many:missing".into());
        let got = c.cmd(&mget);
        let values = got.as_array();
        assert_eq!(values.len(), 10_001);
        for (i, v) in values[..10_000].iter().enumerate() {
            assert_eq!(v, &Reply::bulk(i.to_string()), "MGET element {i}");
        }
        assert!(values[10_000].is_nil());
        let mut del = vec!["DEL".to_string()];
        del.extend(keys.iter().cloned());
        assert_eq!(c.int(&del), 10_000);
        assert_eq!(c.int(["DBSIZE"]), 0);
    });
}
