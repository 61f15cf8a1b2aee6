//! The effect stream: every change a shard makes to its dataset, written as the deterministic
//! command that reproduces it, in the order the shard applied them. The AOF segment and the
//! replication feed consume it; nothing else decides what was written.
//!
//! Effects, not intentions (invariant I4): a command whose outcome depends on time, chance or
//! other shards is recorded as what it did. SET .. EX becomes SET .. PXAT, EXPIRE becomes
//! PEXPIREAT (or DEL when the time is past), INCRBYFLOAT becomes SET .. KEEPTTL, SPOP becomes
//! SREM, a blocked BLPOP served later becomes the LPOP that served it, an expired key becomes
//! DEL. A command that changed keys on several shards leaves on each shard only that shard's
//! part, as commands that need nothing from the other shards.
//!
//! Format. Records are RESP multibulk commands back to back, each with the database it applies
//! to. Two kinds of record group others into a unit applied whole or not at all:
//! - `MULTI` ... `EXEC`: a transaction (or a command that left several records) on this shard.
//! - `MULTI <unit> <shards>` ... `EXEC`: this shard's part of a unit that spans `<shards>`
//!   shards; every one of those shards' segments holds a group with the same `<unit>` id. A
//!   reader applies the unit only if all of them hold it complete.
//!
//! Group markers carry no database ([`NO_DB`]); a writer emits SELECT before a record whose
//! database differs from the last one it wrote.

use crate::entry::KeyNode;
use crate::types::set::Member;
use crate::value::Value;

/// The database of a record that belongs to none (group markers).
pub const NO_DB: u32 = u32::MAX;

/// Most elements put in one command when a key's whole value is written out.
pub const MAX_ITEMS_PER_CMD: usize = 64;

/// The largest record buffer [`EffectLog::recycle`] keeps for reuse.
pub const KEEP_BYTES: usize = 1 << 20;

/// One record: its database and where it ends in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rec {
    pub db: u32,
    pub end: usize,
}

/// A position in the log, to find what was recorded since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    buf: usize,
    recs: usize,
}

/// Effects taken from a log: records back to back in `buf`, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    pub buf: Vec<u8>,
    pub recs: Vec<Rec>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// Each record: its database (None for group markers) and its RESP bytes.
    pub fn iter(&self) -> impl Iterator<Item = (Option<usize>, &[u8])> + '_ {
        let mut start = 0;
        self.recs.iter().map(move |r| {
            let bytes = &self.buf[start..r.end];
            start = r.end;
            ((r.db != NO_DB).then_some(r.db as usize), bytes)
        })
    }

    /// The records decoded: (database, arguments). For tests and tools.
    pub fn commands(&self) -> Vec<(Option<usize>, Vec<Vec<u8>>)> {
        self.iter().map(|(db, b)| (db, decode(b).unwrap_or_default())).collect()
    }

    /// The records as readable lines ("0 SET k v", "- MULTI"), for tests and logs.
    pub fn lines(&self) -> Vec<String> {
        self.commands()
            .into_iter()
            .map(|(db, argv)| {
                let words: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                format!("{} {}", db.map(|d| d.to_string()).unwrap_or_else(|| "-".into()), words.join(" "))
            })
            .collect()
    }
}

/// A shard's effect log. Disabled (recording nothing, costing a branch) until something
/// consumes it.
#[derive(Debug, Default)]
pub struct EffectLog {
    enabled: bool,
    log: Effects,
    /// While set, the keys written through the keyspace's write paths are noted here (a
    /// command spanning shards writes out the keys it changed, see [`write_key`]).
    tracking: Option<Vec<(usize, Vec<u8>)>>,
    /// Records ever appended (taking them does not reset it): a position in the stream.
    produced: u64,
}

impl EffectLog {
    /// How many records were ever appended: compare with what a consumer has written.
    #[inline]
    pub fn produced(&self) -> u64 {
        self.produced
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.log = Effects::default();
            self.tracking = None;
        }
    }

    /// Appends one command. Does nothing while disabled.
    #[inline]
    pub fn push(&mut self, db: usize, argv: &[&[u8]]) {
        if self.enabled {
            self.push_iter(db, argv.len(), argv.iter().copied());
        }
    }

    /// Appends one command given as `n` arguments.
    pub fn push_iter<'a>(&mut self, db: usize, n: usize, argv: impl Iterator<Item = &'a [u8]>) {
        if !self.enabled {
            return;
        }
        encode_into(&mut self.log.buf, n, argv);
        self.log.recs.push(Rec { db: db as u32, end: self.log.buf.len() });
        self.produced += 1;
    }

    /// Appends one command already encoded as a RESP multibulk, such as a request's own bytes
    /// when they are in canonical form (the caller vouches for the encoding).
    #[inline]
    pub fn push_raw(&mut self, db: usize, resp: &[u8]) {
        if !self.enabled {
            return;
        }
        self.log.buf.extend_from_slice(resp);
        self.log.recs.push(Rec { db: db as u32, end: self.log.buf.len() });
        self.produced += 1;
    }

    fn push_marker(&mut self, argv: &[&[u8]]) {
        encode_into(&mut self.log.buf, argv.len(), argv.iter().copied());
        self.log.recs.push(Rec { db: NO_DB, end: self.log.buf.len() });
        self.produced += 1;
    }

    pub fn mark(&self) -> Mark {
        Mark { buf: self.log.buf.len(), recs: self.log.recs.len() }
    }

    /// Records added since `m`.
    pub fn count_since(&self, m: Mark) -> usize {
        self.log.recs.len() - m.recs
    }

    /// Groups the records added since `m` into a unit: `MULTI` before them and `EXEC` after,
    /// with the unit's id and shard count when it spans several shards. Nothing is added around
    /// fewer than two records of a single-shard unit.
    pub fn group_since(&mut self, m: Mark, unit: Option<(u64, usize)>) {
        let n = self.count_since(m);
        if n == 0 || (n == 1 && unit.is_none()) {
            return;
        }
        let mut head = Vec::with_capacity(48);
        match unit {
            None => encode_into(&mut head, 1, [&b"MULTI"[..]].into_iter()),
            Some((id, shards)) => {
                let mut a = itoa::Buffer::new();
                let mut b = itoa::Buffer::new();
                encode_into(&mut head, 3, [&b"MULTI"[..], a.format(id).as_bytes(), b.format(shards).as_bytes()].into_iter());
            }
        }
        let shift = head.len();
        self.log.buf.splice(m.buf..m.buf, head);
        for r in &mut self.log.recs[m.recs..] {
            r.end += shift;
        }
        self.log.recs.insert(m.recs, Rec { db: NO_DB, end: m.buf + shift });
        self.produced += 1;
        self.push_marker(&[b"EXEC"]);
    }

    /// Appends records taken from another log.
    pub fn append(&mut self, mut e: Effects) {
        if !self.enabled || e.is_empty() {
            return;
        }
        let base = self.log.buf.len();
        self.produced += e.recs.len() as u64;
        self.log.buf.append(&mut e.buf);
        self.log.recs.extend(e.recs.into_iter().map(|r| Rec { db: r.db, end: r.end + base }));
    }

    /// Takes everything recorded so far.
    pub fn take(&mut self) -> Effects {
        std::mem::take(&mut self.log)
    }

    /// Gives back the buffers of taken effects once consumed, so the next records are encoded
    /// into memory that is already allocated and warm in cache (a consumer that takes every
    /// loop turn would otherwise regrow both buffers from nothing each turn). Buffers over
    /// [`KEEP_BYTES`] are dropped rather than kept.
    pub fn recycle(&mut self, mut e: Effects) {
        if self.log.recs.is_empty() && self.log.buf.capacity() == 0 && e.buf.capacity() <= KEEP_BYTES {
            e.buf.clear();
            e.recs.clear();
            self.log = e;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Starts noting written keys (see [`EffectLog::note_write`]).
    pub fn start_tracking(&mut self) {
        if self.enabled {
            self.tracking = Some(Vec::new());
        }
    }

    /// Stops noting written keys and returns them, each once, in first-write order.
    pub fn stop_tracking(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut v = self.tracking.take().unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        v.retain(|k| seen.insert(k.clone()));
        v
    }

    /// Called by the keyspace's write paths.
    #[inline]
    pub fn note_write(&mut self, db: usize, key: &[u8]) {
        if let Some(t) = &mut self.tracking {
            t.push((db, key.to_vec()));
        }
    }
}

/// Encodes `n` arguments as a RESP multibulk. Hot with the AOF on (every write that is not
/// copied as received is encoded here): one capacity check per argument, lengths under 100
/// written without formatting.
pub fn encode_into<'a>(out: &mut Vec<u8>, n: usize, argv: impl Iterator<Item = &'a [u8]>) {
    out.reserve(LEN_LINE_MAX);
    // SAFETY: room for a length line was reserved just above.
    unsafe { put_len_line(out, b'*', n) };
    for a in argv {
        out.reserve(LEN_LINE_MAX + a.len() + 2);
        // SAFETY: room for the length line, the data and its CRLF was reserved just above.
        unsafe {
            put_len_line(out, b'$', a.len());
            let at = out.len();
            let p = out.as_mut_ptr().add(at);
            std::ptr::copy_nonoverlapping(a.as_ptr(), p, a.len());
            *p.add(a.len()) = b'\r';
            *p.add(a.len() + 1) = b'\n';
            out.set_len(at + a.len() + 2);
        }
    }
}

/// The longest `<tag><len>\r\n` line: a tag, 20 digits, CRLF.
const LEN_LINE_MAX: usize = 23;

/// Writes `<tag><n>\r\n` at the end of `out`.
///
/// # Safety
/// `out` must have room for [`LEN_LINE_MAX`] more bytes.
#[inline(always)]
unsafe fn put_len_line(out: &mut Vec<u8>, tag: u8, n: usize) {
    let at = out.len();
    let p = out.as_mut_ptr().add(at);
    *p = tag;
    let digits = if n < 10 {
        *p.add(1) = b'0' + n as u8;
        1
    } else if n < 100 {
        *p.add(1) = b'0' + (n / 10) as u8;
        *p.add(2) = b'0' + (n % 10) as u8;
        2
    } else {
        let mut ib = itoa::Buffer::new();
        let s = ib.format(n).as_bytes();
        std::ptr::copy_nonoverlapping(s.as_ptr(), p.add(1), s.len());
        s.len()
    };
    *p.add(1 + digits) = b'\r';
    *p.add(2 + digits) = b'\n';
    out.set_len(at + 3 + digits);
}

/// Decodes one RESP multibulk command (as [`encode_into`] writes it).
pub fn decode(b: &[u8]) -> Option<Vec<Vec<u8>>> {
    fn line(b: &[u8], pos: &mut usize, tag: u8) -> Option<usize> {
        if b.get(*pos) != Some(&tag) {
            return None;
        }
        let rest = &b[*pos + 1..];
        let nl = rest.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
        *pos += 1 + nl + 2;
        Some(n)
    }
    let mut pos = 0;
    let n = line(b, &mut pos, b'*')?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = line(b, &mut pos, b'$')?;
        out.push(b.get(pos..pos + len)?.to_vec());
        pos += len + 2;
    }
    Some(out)
}

/// Writes out a key's whole state as commands that rebuild it from nothing: DEL, then the
/// value in commands of at most [`MAX_ITEMS_PER_CMD`] elements, then its TTL. For a key that
/// does not exist, only the DEL. This is what a command spanning shards leaves for each key it
/// changed, and what an AOF rewrite writes for every key.
pub fn write_key(db: usize, key: &[u8], entry: Option<&KeyNode>, emit: &mut impl FnMut(usize, &[&[u8]])) {
    emit(db, &[b"DEL", key]);
    let Some(e) = entry else { return };
    write_value(db, key, &e.value(), emit);
    if e.expire_at() != 0 {
        let mut ib = itoa::Buffer::new();
        emit(db, &[b"PEXPIREAT", key, ib.format(e.expire_at()).as_bytes()]);
    }
}

/// The commands that create `key` holding `value` (the key must not exist before them).
pub fn write_value(db: usize, key: &[u8], value: &Value, emit: &mut impl FnMut(usize, &[&[u8]])) {
    match value {
        Value::Str(s) => s.with_bytes(|b| emit(db, &[b"SET", key, b])),
        Value::List(l) => chunked(db, b"RPUSH", key, l.iter_from(0).map(|e| vec![e.to_vec()]), emit),
        Value::Hash(h) => chunked(db, b"HSET", key, h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()]), emit),
        Value::Set(s) => chunked(
            db,
            b"SADD",
            key,
            s.iter().map(|m| match m {
                Member::Int(n) => vec![itoa::Buffer::new().format(n).as_bytes().to_vec()],
                Member::Bytes(b) => vec![b.to_vec()],
            }),
            emit,
        ),
        Value::ZSet(z) => {
            let mut items = Vec::with_capacity(z.len());
            z.for_each(|m, score| items.push(vec![format_score(score).into_bytes(), m.to_vec()]));
            chunked(db, b"ZADD", key, items.into_iter(), emit)
        }
    }
}

/// A score as text that parses back to the same double ("inf", "-inf" for the infinities).
pub fn format_score(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{score:?}")
}

fn chunked(db: usize, cmd: &[u8], key: &[u8], items: impl Iterator<Item = Vec<Vec<u8>>>, emit: &mut impl FnMut(usize, &[&[u8]])) {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut count = 0;
    let mut flush = |batch: &mut Vec<Vec<u8>>| {
        let mut argv: Vec<&[u8]> = Vec::with_capacity(batch.len() + 2);
        argv.push(cmd);
        argv.push(key);
        argv.extend(batch.iter().map(|v| v.as_slice()));
        emit(db, &argv);
        batch.clear();
    };
    for item in items {
        batch.extend(item);
        count += 1;
        if count == MAX_ITEMS_PER_CMD {
            flush(&mut batch);
            count = 0;
        }
    }
    if count > 0 {
        flush(&mut batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast encoder writes exactly what formatting each length gives, around every
    /// length boundary of the short-number paths.
    #[test]
    fn encoding_matches_plain_formatting() {
        fn plain(argv: &[Vec<u8>]) -> Vec<u8> {
            let mut out = format!("*{}\r\n", argv.len()).into_bytes();
            for a in argv {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
            out
        }
        for len in [0usize, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 100_000] {
            for n in [1usize, 2, 9, 10, 11, 99, 100, 101] {
                let argv: Vec<Vec<u8>> = (0..n).map(|i| vec![b'a' + (i % 26) as u8; if i == n - 1 { len } else { i % 13 }]).collect();
                let mut out = b"prefix".to_vec();
                encode_into(&mut out, n, argv.iter().map(|a| a.as_slice()));
                assert_eq!(&out[..6], b"prefix");
                assert_eq!(out[6..], plain(&argv)[..], "n {n} len {len}");
                assert_eq!(decode(&out[6..]), Some(argv));
            }
        }
    }
    use crate::keyspace::Shard;
    use crate::value::StrValue;

    fn on() -> EffectLog {
        let mut l = EffectLog::default();
        l.set_enabled(true);
        l
    }

    #[test]
    fn disabled_log_records_nothing() {
        let mut l = EffectLog::default();
        l.push(0, &[b"SET", b"k", b"v"]);
        l.start_tracking();
        l.note_write(0, b"k");
        assert!(l.take().is_empty());
        assert!(l.stop_tracking().is_empty());
    }

    #[test]
    fn records_round_trip_with_their_databases() {
        let mut l = on();
        l.push(0, &[b"SET", b"k", b"v\r\nwith crlf"]);
        l.push(3, &[b"DEL", b""]);
        let e = l.take();
        assert_eq!(e.commands(), vec![(Some(0), vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\nwith crlf".to_vec()]), (Some(3), vec![b"DEL".to_vec(), vec![]])]);
        assert_eq!(&e.buf[..], &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nv\r\nwith crlf\r\n*2\r\n$3\r\nDEL\r\n$0\r\n\r\n"[..]);
        assert!(l.take().is_empty(), "take empties the log");
    }

    #[test]
    fn groups_wrap_only_what_came_after_the_mark() {
        let mut l = on();
        l.push(0, &[b"SET", b"a", b"1"]);
        let m = l.mark();
        l.group_since(m, None);
        assert_eq!(l.take().lines(), vec!["0 SET a 1"], "no group around nothing");

        let m = l.mark();
        l.push(1, &[b"SET", b"b", b"2"]);
        l.group_since(m, None);
        assert_eq!(l.take().lines(), vec!["1 SET b 2"], "one record of one shard needs no group");

        l.push(0, &[b"SET", b"before", b"x"]);
        let m = l.mark();
        l.push(1, &[b"SET", b"b", b"2"]);
        l.push(1, &[b"INCR", b"b"]);
        l.group_since(m, None);
        assert_eq!(l.take().lines(), vec!["0 SET before x", "- MULTI", "1 SET b 2", "1 INCR b", "- EXEC"]);

        let m = l.mark();
        l.push(2, &[b"LPUSH", b"l", b"x"]);
        l.group_since(m, Some((77, 3)));
        assert_eq!(l.take().lines(), vec!["- MULTI 77 3", "2 LPUSH l x", "- EXEC"]);
    }

    #[test]
    fn tracking_notes_each_written_key_once() {
        let mut l = on();
        l.start_tracking();
        l.note_write(0, b"a");
        l.note_write(0, b"b");
        l.note_write(0, b"a");
        l.note_write(1, b"a");
        assert_eq!(l.stop_tracking(), vec![(0, b"a".to_vec()), (0, b"b".to_vec()), (1, b"a".to_vec())]);
        l.note_write(0, b"c");
        assert!(l.stop_tracking().is_empty(), "nothing noted after tracking stopped");
    }

    /// Replays `cmds` on a fresh shard with the engine's own operations.
    fn replay(cmds: &[(usize, Vec<Vec<u8>>)]) -> Shard {
        use crate::types::list::End;
        let mut sh = Shard::new(0, 16);
        let lim = crate::types::Limits::default();
        for (db, a) in cmds {
            let db = *db;
            let args: Vec<&[u8]> = a.iter().map(|v| v.as_slice()).collect();
            match args[0] {
                b"DEL" => {
                    sh.remove(db, args[1]);
                }
                b"SET" => sh.store(db, args[1], Value::Str(StrValue::from_bytes(args[2])), None, false),
                b"RPUSH" => {
                    sh.list_push(db, args[1], End::Right, args[2..].iter().copied(), false, -2).unwrap();
                }
                b"HSET" => {
                    sh.hset(db, args[1], &args[2..], &lim).unwrap();
                }
                b"SADD" => {
                    sh.sadd(db, args[1], args[2..].iter().copied(), 512).unwrap();
                }
                b"ZADD" => {
                    let pairs: Vec<(f64, &[u8])> = args[2..].chunks(2).map(|c| (std::str::from_utf8(c[0]).unwrap().parse().unwrap(), c[1])).collect();
                    sh.zadd(db, args[1], Default::default(), &pairs, &lim).unwrap();
                }
                b"PEXPIREAT" => {
                    sh.set_expire(db, args[1], std::str::from_utf8(args[2]).unwrap().parse().unwrap());
                }
                other => panic!("unexpected {:?}", String::from_utf8_lossy(other)),
            }
        }
        sh
    }

    #[test]
    fn write_key_rebuilds_every_type_and_its_ttl() {
        use crate::types::list::End;
        let lim = crate::types::Limits::default();
        let mut sh = Shard::new(0, 16);
        sh.store(2, b"s", Value::Str(StrValue::from_bytes(b"12345")), Some(i64::MAX / 2), false);
        let elems: Vec<Vec<u8>> = (0..150).map(|i| format!("e{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = elems.iter().map(|v| v.as_slice()).collect();
        sh.list_push(2, b"l", End::Right, refs.iter().copied(), false, -2).unwrap();
        let pairs: Vec<&[u8]> = refs.iter().flat_map(|r| [*r, &b"v"[..]]).collect();
        sh.hset(2, b"h", &pairs, &lim).unwrap();
        sh.sadd(2, b"si", [&b"1"[..], b"-7", b"300"], 512).unwrap();
        sh.sadd(2, b"ss", refs.iter().copied(), 512).unwrap();
        let mut zp: Vec<(f64, &[u8])> = refs.iter().enumerate().map(|(i, r)| (i as f64 * 0.1 - 3.0, *r)).collect();
        zp.push((f64::INFINITY, b"top"));
        zp.push((f64::NEG_INFINITY, b"bottom"));
        sh.zadd(2, b"z", Default::default(), &zp, &lim).unwrap();

        let mut cmds = Vec::new();
        for k in [&b"s"[..], b"l", b"h", b"si", b"ss", b"z", b"missing"] {
            let e = sh.peek(2, k).map(|e| KeyNode::from_entry(k, e.to_entry()));
            write_key(2, k, e.as_ref(), &mut |db, argv| cmds.push((db, argv.iter().map(|a| a.to_vec()).collect::<Vec<_>>())));
        }
        assert!(cmds.iter().all(|(_, a)| a.len() <= 2 + 2 * MAX_ITEMS_PER_CMD), "values are written in bounded commands");
        let mut back = replay(&cmds);
        for k in [&b"s"[..], b"l", b"h", b"si", b"ss", b"z"] {
            let a = sh.peek(2, k).map(|e| e.to_entry()).unwrap();
            let b = back.peek(2, k).map(|e| e.to_entry()).unwrap_or_else(|| panic!("{} missing after replay", String::from_utf8_lossy(k)));
            assert_eq!(a.expire_at, b.expire_at);
            match (&a.value, &b.value) {
                (Value::Set(x), Value::Set(y)) => {
                    let mut xs: Vec<String> = x.iter().map(|m| format!("{m:?}")).collect();
                    let mut ys: Vec<String> = y.iter().map(|m| format!("{m:?}")).collect();
                    xs.sort();
                    ys.sort();
                    assert_eq!(xs, ys);
                }
                (Value::Hash(x), Value::Hash(y)) => {
                    let mut xs: Vec<_> = x.iter().collect();
                    let mut ys: Vec<_> = y.iter().collect();
                    xs.sort();
                    ys.sort();
                    assert_eq!(xs, ys);
                }
                (Value::ZSet(x), Value::ZSet(y)) => {
                    let (mut xs, mut ys) = (Vec::new(), Vec::new());
                    x.for_each(|m, s| xs.push((m.to_vec(), s.to_bits())));
                    y.for_each(|m, s| ys.push((m.to_vec(), s.to_bits())));
                    assert_eq!(xs, ys);
                }
                (x, y) => assert_eq!(x, y),
            }
        }
        assert!(back.peek(2, b"missing").is_none());
    }

    #[test]
    fn scores_format_to_the_same_double() {
        for s in [0.1, -3.0, 1e300, 5e-324, f64::INFINITY, f64::NEG_INFINITY, 2.5e-7, 123456789012345680.0] {
            let t = format_score(s);
            let back: f64 = t.parse().unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{t}");
        }
    }
}
