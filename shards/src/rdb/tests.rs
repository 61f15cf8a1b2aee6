//! Round trips for every encoding, payloads checked against bytes redis-server 7.0.15 produced,
//! and damaged input.

use super::*;
use crate::digest;
use crate::types::hash::Hash;

fn limits() -> Limits {
    Limits::default()
}

fn s(b: &[u8]) -> Value {
    Value::Str(StrValue::from_bytes(b))
}

fn list(items: &[&[u8]]) -> Value {
    let mut l = List::new(-2);
    for i in items {
        l.push(End::Right, i);
    }
    Value::List(Box::new(l))
}

fn hash(pairs: &[(&[u8], &[u8])]) -> Value {
    let mut h = Hash::default();
    for (f, v) in pairs {
        h.set(f, v, &limits());
    }
    Value::Hash(h)
}

fn set(members: &[&[u8]]) -> Value {
    let mut st = Set::default();
    for m in members {
        st.add(m, limits().set_max_intset_entries);
    }
    Value::Set(Box::new(st))
}

fn zset(items: &[(&[u8], f64)]) -> Value {
    let mut z = ZSet::default();
    for (m, sc) in items {
        z.insert_new(m, *sc, &limits());
    }
    Value::ZSet(z)
}

fn numbered(n: usize, prefix: &str) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("{prefix}{i}").into_bytes()).collect()
}

/// One value of every type and encoding, small and big.
fn samples() -> Vec<(&'static str, Value)> {
    let big_items = numbered(3000, "element-");
    let big_refs: Vec<&[u8]> = big_items.iter().map(|v| v.as_slice()).collect();
    let long = vec![b'z'; 70_000];
    let ints = numbered(400, "");
    let int_refs: Vec<&[u8]> = ints.iter().map(|v| v.as_slice()).collect();
    let mut out = vec![
        ("int", s(b"12345")),
        ("neg-int", s(b"-9223372036854775808")),
        ("short", s(b"hello")),
        ("empty-string", s(b"")),
        ("compressible", s(&[b'a'; 500])),
        ("incompressible", s(b"abcdefghijklmnopqrstuvwxyz0123456789")),
        ("big-string", s(&long)),
        ("list-small", list(&[b"a", b"1", b"-5000", b"", b"99999999999"])),
        ("list-big", list(&big_refs)),
        ("list-huge-elem", list(&[&long, b"x"])),
        ("hash-small", hash(&[(b"a", b"1"), (b"b", b"two")])),
        ("hash-long-value", hash(&[(b"a", &[b'v'; 100])])),
        ("set-intset", set(&[b"1", b"-70000", b"3"])),
        ("set-int64", set(&[b"1", b"9223372036854775807"])),
        ("set-strings", set(&[b"a", b"b", b"1"])),
        ("set-big-ints", set(&int_refs)),
        ("zset-small", zset(&[(b"a", 1.5), (b"b", 2.0), (b"c", f64::INFINITY), (b"d", -0.1), (b"e", 1e300)])),
    ];
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = big_items.iter().map(|k| (k.clone(), k.repeat(2))).collect();
    let pair_refs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
    out.push(("hash-big", hash(&pair_refs)));
    out.push(("set-big", set(&big_refs)));
    let z: Vec<(&[u8], f64)> = big_refs.iter().enumerate().map(|(i, m)| (*m, i as f64 / 3.0 - 500.0)).collect();
    out.push(("zset-big", zset(&z)));
    out.push(("zset-neg-inf", zset(&[(b"x", f64::NEG_INFINITY), (b"y", 0.0)])));
    out
}

#[test]
fn every_encoding_round_trips_through_a_dump_payload() {
    for compress in [true, false] {
        for (name, v) in samples() {
            let p = dump_payload(&v, compress);
            let back = restore_payload(&p, &limits(), true).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(back == v, "{name} differs after a round trip");
            assert_eq!(back.encoding_name(), v.encoding_name(), "{name}");
        }
    }
}

#[test]
fn payloads_match_redis_7_0_bytes() {
    // DUMP replies of redis-server 7.0.15 for the same data.
    let cases: Vec<(Value, &[u8])> = vec![
        (s(b"hello"), b"\x00\x05hello\n\x00cr\xdfve4 \n"),
        (s(b"12345"), b"\x00\xc190\n\x00\x9d\x94\xea'\x93\xfc\x08\xb9"),
        (list(&[b"a", b"1"]), b"\x12\x01\x02\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff\n\x00\x94\x96+#\xac\x17\xaa\x85"),
        (set(&[b"1", b"2", b"3"]), b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00\n\x00\xa5\x02\\\xe2mnM\x1b"),
        (zset(&[(b"a", 1.5), (b"b", 2.0)]), b"\x11\x14\x14\x00\x00\x00\x04\x00\x81a\x02\x831.5\x04\x81b\x02\x02\x01\xff\n\x00\xfa\x02\xb4%\xaf\x18\x87c"),
        (hash(&[(b"a", b"1")]), b"\x10\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff\n\x00\x84\xa6\x93\xe8\xaa\x17\xe4\xdb"),
    ];
    for (v, redis) in cases {
        assert_eq!(dump_payload(&v, true), redis, "{v:?}");
        assert_eq!(restore_payload(redis, &limits(), true).unwrap(), v);
    }
    // Redis's own LZF stream for 61 'a's loads too (our compressor may pick other matches).
    let lzf_payload = b"\x00\xc3\t=\x01aa\xe00\x00\x01aa\n\x00Y\xf1rc@\xa0\xb0/";
    assert_eq!(restore_payload(lzf_payload, &limits(), true).unwrap(), s(&[b'a'; 61]));
}

#[test]
fn bad_payloads_are_refused() {
    let good = dump_payload(&s(b"hello"), true);
    assert_eq!(restore_payload(b"short", &limits(), true), Err(RestoreError::VersionOrChecksum));
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    assert_eq!(restore_payload(&bad_crc, &limits(), true), Err(RestoreError::VersionOrChecksum));
    assert!(restore_payload(&bad_crc, &limits(), false).is_ok());
    // A newer RDB version than 10.
    let mut newer = encode_only(&s(b"x"));
    newer.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64(&newer);
    newer.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(restore_payload(&newer, &limits(), true), Err(RestoreError::VersionOrChecksum));
    // Every truncation of a valid body (re-checksummed) is a clean BadFormat, never a panic.
    for (_, v) in samples().into_iter().take(14) {
        let body = encode_only(&v);
        for cut in 0..body.len().min(300) {
            let p = with_footer(&body[..cut]);
            assert!(matches!(restore_payload(&p, &limits(), true), Err(RestoreError::BadFormat(_))), "cut at {cut}");
        }
    }
    // A lying length does not allocate: 2^60 bytes of string claimed, 3 given.
    let p = with_footer(&[0, 0x81, 0x10, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c']);
    assert!(matches!(restore_payload(&p, &limits(), true), Err(RestoreError::BadFormat(_))));
    // An empty collection, and a stream.
    assert!(matches!(restore_payload(&with_footer(&[TYPE_SET, 0]), &limits(), true), Err(RestoreError::BadFormat(_))));
    match restore_payload(&with_footer(&[TYPE_STREAM_LISTPACKS_2, 0]), &limits(), true) {
        Err(RestoreError::BadFormat(m)) => assert!(m.contains("stream keys are not supported yet"), "{m}"),
        other => panic!("{other:?}"),
    }
}

fn encode_only(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, v, true);
    out
}

fn with_footer(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// (db, key, value, expire_at) as the loader reports a key.
type Loaded = (usize, Vec<u8>, Value, i64);

fn load_all(bytes: &[u8]) -> Result<(Vec<Loaded>, LoadStats), RdbError> {
    let opts = LoadOptions { databases: 16, limits: limits(), skip_expired_before: None };
    let mut got = Vec::new();
    let stats = load(bytes, &opts, |db, k, v, e| got.push((db, k, v, e)))?;
    Ok((got, stats))
}

#[test]
fn a_file_round_trips_every_type_ttl_and_database() {
    let mut shard = crate::Shard::new(0, 16);
    for (i, (name, v)) in samples().into_iter().enumerate() {
        let db = i % 16;
        let expire = if i % 3 == 0 { Some(4_000_000_000_000 + i as i64) } else { None };
        shard.store(db, name.as_bytes(), v, expire, false);
    }
    for checksum in [true, false] {
        let opts = SaveOptions { checksum, ..SaveOptions::default() };
        let bytes = write_shards(Vec::new(), &[&shard], opts, &AuxFields::default()).unwrap();
        assert_eq!(&bytes[..9], b"REDIS0010");
        let (got, stats) = load_all(&bytes).unwrap();
        assert_eq!(stats.keys as usize, shard.key_count());
        assert!(stats.aux.iter().any(|(k, v)| k == b"redis-ver" && v == b"7.0.15"));
        for (db, k, v, e) in got {
            let orig = shard.dbs[db].main.get(&k).expect("key in its database");
            assert!(v == *orig.value(), "{} differs after a round trip", String::from_utf8_lossy(&k));
            assert_eq!(e, orig.expire_at());
        }
        if !checksum {
            assert_eq!(&bytes[bytes.len() - 8..], &[0u8; 8]);
        }
    }
}

#[test]
fn damaged_files_name_the_offset() {
    let mut shard = crate::Shard::new(0, 16);
    shard.store(2, b"k", list(&[b"a", b"b"]), None, false);
    let bytes = write_shards(Vec::new(), &[&shard], SaveOptions::default(), &AuxFields::default()).unwrap();
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 12] ^= 0x55;
    assert!(load_all(&flipped).is_err());
    let err = load_all(&bytes[..n - 4]).unwrap_err();
    assert_eq!(err.offset, (n - 8) as u64);
    assert!(load_all(b"RUBBISH00").unwrap_err().what.contains("wrong signature"));
    assert!(load_all(b"REDIS0011").unwrap_err().what.contains("version"));
    let opts = LoadOptions { databases: 2, limits: limits(), skip_expired_before: None };
    let err = load(&bytes[..], &opts, |_, _, _, _| {}).unwrap_err();
    assert!(err.what.contains("database 2 is out of range"), "{err}");
}

#[test]
fn expired_keys_are_skipped_when_asked() {
    let mut shard = crate::Shard::new(0, 16);
    shard.store(0, b"old", s(b"v"), Some(1_000), false);
    shard.store(0, b"new", s(b"v"), Some(10_000), false);
    let bytes = write_shards(Vec::new(), &[&shard], SaveOptions::default(), &AuxFields::default()).unwrap();
    let opts = LoadOptions { databases: 16, limits: limits(), skip_expired_before: Some(5_000) };
    let mut keys = Vec::new();
    let stats = load(&bytes[..], &opts, |_, k, _, _| keys.push(k)).unwrap();
    assert_eq!(keys, vec![b"new".to_vec()]);
    assert_eq!(stats.expired_skipped, 1);
}

#[test]
fn older_encodings_load() {
    // RDB_TYPE_LIST_QUICKLIST with one ziplist node holding "ab" and 7 (as Redis 6 writes).
    let mut zl = vec![0u8; 10];
    zl.extend_from_slice(&[0, 0x02, b'a', b'b', 4, 0xF1 + 7, 0xFF]);
    let n = zl.len() as u32;
    zl[0..4].copy_from_slice(&n.to_le_bytes());
    let mut body = vec![TYPE_LIST_QUICKLIST, 1];
    put_string(&mut body, &zl, false);
    assert_eq!(restore_payload(&with_footer(&body), &limits(), true).unwrap(), list(&[b"ab", b"7"]));
    // Plain RDB_TYPE_LIST, RDB_TYPE_ZSET with text scores, HASH_ZIPLIST.
    let mut body = vec![TYPE_LIST, 2];
    put_string(&mut body, b"x", false);
    put_string(&mut body, b"y", false);
    assert_eq!(restore_payload(&with_footer(&body), &limits(), true).unwrap(), list(&[b"x", b"y"]));
    let mut body = vec![TYPE_ZSET, 2];
    put_string(&mut body, b"m", false);
    body.extend_from_slice(&[3, b'1', b'.', b'5']);
    put_string(&mut body, b"n", false);
    body.push(254);
    assert_eq!(restore_payload(&with_footer(&body), &limits(), true).unwrap(), zset(&[(b"m", 1.5), (b"n", f64::INFINITY)]));
    let mut hz = vec![0u8; 10];
    hz.extend_from_slice(&[0, 0x01, b'f', 3, 0xF1 + 2, 0xFF]);
    let n = hz.len() as u32;
    hz[0..4].copy_from_slice(&n.to_le_bytes());
    let mut body = vec![TYPE_HASH_ZIPLIST];
    put_string(&mut body, &hz, false);
    assert_eq!(restore_payload(&with_footer(&body), &limits(), true).unwrap(), hash(&[(b"f", b"2")]));
}

#[test]
fn loaded_collections_take_the_configured_encoding() {
    // A big listpack hash loaded under small limits becomes a table, as Redis converts on load.
    let small = Limits { hash_max_listpack_entries: 2, zset_max_listpack_entries: 2, set_max_intset_entries: 2, ..Limits::default() };
    let h = restore_payload(&dump_payload(&hash(&[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]), true), &small, true).unwrap();
    assert_eq!(h.encoding_name(), "hashtable");
    let z = restore_payload(&dump_payload(&zset(&[(b"a", 1.0), (b"b", 2.0), (b"c", 3.0)]), true), &small, true).unwrap();
    assert_eq!(z.encoding_name(), "skiplist");
    let st = restore_payload(&dump_payload(&set(&[b"1", b"2", b"3"]), true), &small, true).unwrap();
    assert_eq!(st.encoding_name(), "hashtable");
}

#[test]
fn digests_match_redis_7_0() {
    // DEBUG DIGEST-VALUE replies of redis-server 7.0.15 for the same values.
    let e = |v: Value, expire_at: i64| crate::entry::KeyNode::new(b"k", v, expire_at, 0, false);
    let cases = [
        (e(s(b"hello"), 0), "36b23a1456b2dce2c3ed252c456761301dba8060"),
        (e(zset(&[(b"a", 1.5), (b"b", 2.0), (b"c", 0.1)]), 0), "2c385488a5eef8be43a6e3722a96af78cf880203"),
        (e(hash(&[(b"a", b"1")]), 0), "626a7b57a269f8f179a44902458ecb2f5920d35d"),
        (e(set(&[b"1", b"2", b"3"]), 0), "2a462a3f51a1db89738ebbeef0c47ce1bbc85246"),
        (e(list(&[b"a", b"1"]), 0), "a4b574dfd44a241b7583aa0f4da11ef31ee0b995"),
        (e(s(b"v"), 123), "311b17018163335616e089f6b951c82c477335ac"),
    ];
    for (entry, want) in &cases {
        assert_eq!(digest::hex(&digest::value_digest(Some(entry))), *want, "{:?}", entry.value().type_name());
    }
    assert_eq!(digest::hex(&digest::value_digest(None)), "0".repeat(40));
    // DEBUG DIGEST over db 0 {c: d} and db 3 {a: b}, split over two shards either way.
    for (sa, sb) in [(0, 1), (1, 0)] {
        let mut shards = [crate::Shard::new(0, 16), crate::Shard::new(1, 16)];
        shards[sa].store(3, b"a", s(b"b"), None, false);
        shards[sb].store(0, b"c", s(b"d"), None, false);
        let mut d = digest::DatasetDigest::default();
        d.add_shard(&shards[1]);
        d.add_shard(&shards[0]);
        assert_eq!(digest::hex(&d.finish()), "e6fc4b35d5db0015406ccdccc81e34dba75dddee");
    }
    assert_eq!(digest::hex(&digest::DatasetDigest::default().finish()), "0".repeat(40));
}

#[test]
fn interleaved_sink_chunks_of_several_shards_make_one_file() {
    use crate::snapshot::SnapshotSink;
    let mut shards = [crate::Shard::new(0, 16), crate::Shard::new(1, 16)];
    for (i, (name, v)) in samples().into_iter().enumerate() {
        shards[i % 2].store(i % 16, name.as_bytes(), v, if i % 4 == 0 { Some(4_000_000_000_000) } else { None }, false);
    }
    let mut out = RdbWriter::new(Vec::new(), SaveOptions::default(), &AuxFields::default()).unwrap();
    for sh in shards.iter_mut() {
        assert!(sh.snapshot_begin(Box::new(RdbSink::new(SaveOptions::default()))));
    }
    // Small steps, each shard's chunk written as soon as drained: databases interleave.
    let mut done = [false, false];
    while done.iter().any(|d| !d) {
        for (i, sh) in shards.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            done[i] = sh.snapshot_step(1);
            let chunk = sh.snapshot_sink().map(|s| s.drain()).unwrap_or_default();
            out.write_raw(&chunk).unwrap();
            if done[i] {
                sh.snapshot_end();
            }
        }
    }
    let bytes = out.finish().unwrap();
    let (got, stats) = load_all(&bytes).unwrap();
    assert_eq!(stats.keys as usize, shards.iter().map(|s| s.key_count()).sum::<usize>());
    for (db, k, v, e) in got {
        let owner = shards.iter().find_map(|s| s.dbs[db].main.get(&k)).expect("key in its database");
        assert!(v == *owner.value() && e == owner.expire_at(), "{} differs", String::from_utf8_lossy(&k));
    }
    let mut sink = RdbSink::new(SaveOptions::default());
    assert_eq!((sink.buffered(), sink.drain().len()), (0, 0));
}

#[test]
fn idle_time_or_lfu_counter_is_saved_per_policy_and_loads_back() {
    use crate::evict::{EvictConfig, Policy};
    let now = crate::keyspace::wall_clock_ms();
    let far = now + 3_600_000;
    let lfu = EvictConfig { policy: Policy::AllkeysLfu, ..EvictConfig::default() };
    let idle_300 = crate::evict::restored(None, Some(300), now, &EvictConfig::default()).unwrap();
    let freq_200 = crate::evict::restored(Some(200), None, now, &lfu).unwrap();
    for (policy, lru, want) in [
        (Policy::AllkeysLru, idle_300, (Some(300), None)),
        (Policy::VolatileLru, idle_300, (Some(300), None)),
        (Policy::AllkeysLfu, freq_200, (None, Some(200))),
        (Policy::VolatileLfu, freq_200, (None, Some(200))),
        (Policy::NoEviction, idle_300, (None, None)),
        (Policy::AllkeysRandom, idle_300, (None, None)),
        (Policy::VolatileTtl, idle_300, (None, None)),
    ] {
        let mut shard = crate::Shard::new(0, 16);
        shard.put_entry(0, b"k", Entry::new(s(b"v"), far, lru));
        let opts = SaveOptions { access: KeyAccess::of(policy, 1), ..SaveOptions::default() };
        let bytes = write_shards(Vec::new(), &[&shard], opts, &AuxFields::default()).unwrap();
        let lopts = LoadOptions { databases: 16, limits: limits(), skip_expired_before: None };
        let mut metas = Vec::new();
        load_meta(&bytes[..], &lopts, |_, _, _, m| metas.push(m)).unwrap();
        assert_eq!(metas.len(), 1);
        let m = metas[0];
        assert_eq!(m.expire_at, far, "{policy:?}");
        // A second may tick between the entry's clock and the save's.
        let idle = m.idle_secs.map(|i| if i == 301 { 300 } else { i });
        assert_eq!((idle, m.freq), want, "{policy:?}");
    }
}

#[test]
fn the_access_opcode_sits_between_the_expiry_and_the_type_as_redis_writes_it() {
    let mut shard = crate::Shard::new(0, 16);
    let lfu = crate::evict::EvictConfig { policy: crate::evict::Policy::AllkeysLfu, ..Default::default() };
    let lru = crate::evict::restored(Some(9), None, crate::keyspace::wall_clock_ms(), &lfu).unwrap();
    shard.put_entry(0, b"k", Entry::new(s(b"v"), 1_000, lru));
    let opts = SaveOptions { access: KeyAccess::of(crate::evict::Policy::AllkeysLfu, 1), ..SaveOptions::default() };
    let bytes = write_shards(Vec::new(), &[&shard], opts, &AuxFields::default()).unwrap();
    let mut record = vec![OP_EXPIRETIME_MS];
    record.extend_from_slice(&1_000i64.to_le_bytes());
    record.extend_from_slice(&[OP_FREQ, 9, TYPE_STRING, 1, b'k', 1, b'v']);
    assert!(bytes.windows(record.len()).any(|w| w == record), "{bytes:?}");
}

#[test]
fn crc64_is_redis_crc64_whole_or_in_pieces() {
    // The check value of Redis's crc64.c self-test.
    assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    // A digest fed in uneven pieces (as RdbWriter and the loader feed it) gives the same sum.
    let data: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for cut in [0, 1, 7, 63, 64, 65, 255, 4096, 4999, 5000] {
        let mut d = crc_fast::Digest::new(CRC64);
        d.update(&data[..cut]);
        d.update(&data[cut..]);
        assert_eq!(d.finalize(), crc64(&data), "cut at {cut}");
    }
}

#[test]
fn the_checksum_fed_in_blocks_is_the_checksum_of_the_whole_input() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let whole = {
        let mut d = crc_fast::Digest::new(CRC64);
        d.update(&data);
        d.finalize()
    };
    // Pieces of every size around the block: single bytes, fields, and reads bigger than it.
    let mut rng = 5u64;
    for round in 0..20 {
        let mut c = Crc::new();
        let mut at = 0;
        while at < data.len() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = match (rng >> 60) % 4 {
                0 => 1,
                1 => (rng >> 20) as usize % 64,
                2 => CRC_BLOCK - 1 + (rng >> 20) as usize % 3,
                _ => (rng >> 20) as usize % (3 * CRC_BLOCK),
            };
            let end = (at + n).min(data.len());
            c.update(&data[at..end]);
            at = end;
        }
        assert_eq!(c.finalize(), whole, "round {round}");
    }
}

#[test]
fn a_snapshot_tells_each_database_size_as_resizedb_and_a_reserved_table_never_grows() {
    let mut sh = crate::Shard::new(0, 16);
    for i in 0..300 {
        let (db, ttl) = if i < 200 { (0, None) } else { (3, if i % 2 == 0 { Some(4_000_000_000_000) } else { None }) };
        sh.store(db, format!("k{i}").as_bytes(), Value::Str(StrValue::from_bytes(b"v")), ttl, false);
    }
    let mut out = RdbWriter::new(Vec::new(), SaveOptions::default(), &AuxFields::default()).unwrap();
    assert!(sh.snapshot_begin(Box::new(RdbSink::new(SaveOptions::default()))));
    while !sh.snapshot_step(64) {}
    out.write_raw(&sh.snapshot_sink().unwrap().drain()).unwrap();
    sh.snapshot_end();
    let bytes = out.finish().unwrap();
    let mut sizes = Vec::new();
    let mut back = crate::Shard::new(0, 16);
    let opts = LoadOptions { databases: 16, limits: crate::types::Limits::default(), skip_expired_before: None };
    let stats = load_sized(
        &bytes[..],
        &opts,
        |db, n| {
            sizes.push((db, n));
            back.reserve_keys(db, n as usize);
        },
        |_, _, _, _| {},
    )
    .unwrap();
    assert_eq!(sizes, [(0, 200), (3, 100)], "the start-state sizes, before any key");
    assert_eq!(stats.keys, 300);
    // Redis's loader reads the file too (RESIZEDB then keys, a SELECTDB before them).
    let (got, _) = load_all(&bytes).unwrap();
    assert_eq!(got.len(), 300);

    // A reserved table holds its keys at the size asked for, with no growth on the way; a
    // table holding keys is left as it is.
    assert_eq!(back.dbs[0].main.buckets(), 256);
    for i in 0..200 {
        back.store(0, format!("k{i}").as_bytes(), Value::Str(StrValue::from_bytes(b"v")), None, false);
        assert!(!back.dbs[0].main.is_rehashing() && back.dbs[0].main.buckets() == 256, "grew at {i}");
    }
    back.reserve_keys(0, 100_000);
    assert_eq!(back.dbs[0].main.buckets(), 256);
}
