//! Snapshots without fork: a shard writes every key it held at one instant (the snapshot's
//! start) to a [`SnapshotSink`], a few keys at a time between its other work, while commands
//! keep changing the keyspace. BGSAVE and the AOF rewrite both use it.
//!
//! How it stays consistent, copy-before-write instead of a forked child's copy-on-write pages:
//! - Every [`KeyNode`] carries a one-bit colour. [`Shard::snapshot_begin`] flips the shard's
//!   colour, which makes every existing entry "pending" (colour differs) in O(1); entries
//!   created from then on are born "done" (they are not part of the start state).
//! - Every keyspace path that changes, deletes or moves an entry (the ones that call
//!   `effects.note_write`, plus lazy and active expiry) first calls `snapshot_cow`: a pending
//!   entry is written to the sink as it still is, under the database index it had at the start,
//!   and marked done. A later change then no longer concerns the snapshot.
//! - [`Shard::snapshot_step`] walks each database with a Dict scan cursor (every element present
//!   for the whole scan is visited at least once, across resizes), writes the pending entries
//!   and marks them done. Done entries are skipped, so "at least once" becomes "exactly once".
//! - FLUSHDB/FLUSHALL detach the old database into the snapshot, which finishes writing its
//!   pending entries from there. SWAPDB swaps the per-database cursors and remembers which
//!   start-state database each index now holds.
//!
//! Invariant: outside a snapshot, every entry has the shard's colour (`mixed` false), so the
//! flip at the next start makes all of them pending. A snapshot ended before it finished
//! leaves colours mixed; the next start repaints them first (one pass, no writes).

use std::mem;

use crate::dict::IntoNodes;
use crate::entry::{KeyNode, KeyTable};
use crate::keyspace::{Db, Shard};

/// Where a snapshot's keys go. `key` is called once for every key of the start state, with the
/// database index the key had at the start.
pub trait SnapshotSink {
    /// Called once, first: each non-empty database's index, key count and count of keys with
    /// a TTL at the snapshot's start (an RDB sink writes them as RESIZEDB, which lets a loader
    /// size its tables once).
    fn begin(&mut self, _dbs: &[(usize, usize, usize)]) {}

    fn key(&mut self, db: usize, key: &[u8], entry: &KeyNode);

    /// Takes the bytes encoded so far (an owner drains them to a file between steps).
    fn drain(&mut self) -> Vec<u8> {
        Vec::new()
    }

    /// Bytes encoded and not drained yet.
    fn buffered(&self) -> usize {
        0
    }
}

/// A shard's snapshot bookkeeping (a field of [`Shard`]).
#[derive(Default)]
pub struct SnapshotState {
    active: Option<Box<Snapshot>>,
    /// The colour of entries that are not pending.
    colour: bool,
    /// A snapshot was abandoned: colours are mixed until the next start repaints them.
    mixed: bool,
}

impl SnapshotState {
    /// The colour new entries are born with.
    #[inline]
    pub(crate) fn colour(&self) -> bool {
        self.colour
    }
}

struct Snapshot {
    sink: Box<dyn SnapshotSink + Send>,
    /// `origin[i]`: the start-state index of the database now at index `i` (SWAPDB moves them).
    origin: Vec<usize>,
    /// Per current database index: the scan cursor, and whether the scan is complete.
    cursor: Vec<u64>,
    finished: Vec<bool>,
    /// Databases flushed during the snapshot, with their start-state index: their pending
    /// entries are still written, then they are dropped.
    detached: Vec<(usize, IntoNodes<KeyNode>)>,
    keys_total: u64,
    keys_written: u64,
}

impl Snapshot {
    fn emit(&mut self, db: usize, e: &mut KeyNode, colour: bool) {
        if e.colour() != colour {
            self.sink.key(self.origin[db], e.key(), e);
            e.set_colour(colour);
            self.keys_written += 1;
        }
    }
}

impl Shard {
    /// Starts a snapshot of this shard's current state into `sink`. False (and the sink is
    /// dropped) if one is already active.
    pub fn snapshot_begin(&mut self, mut sink: Box<dyn SnapshotSink + Send>) -> bool {
        if self.snapshot.active.is_some() {
            return false;
        }
        let sizes: Vec<(usize, usize, usize)> =
            self.dbs.iter().enumerate().filter(|(_, d)| !d.is_empty()).map(|(i, d)| (i, d.len(), d.volatile.len())).collect();
        sink.begin(&sizes);
        if self.snapshot.mixed {
            let colour = self.snapshot.colour;
            for d in &mut self.dbs {
                d.main.for_each_node_mut(|e| e.set_colour(colour));
            }
            self.snapshot.mixed = false;
        }
        self.snapshot.colour = !self.snapshot.colour;
        let n = self.dbs.len();
        self.snapshot.active = Some(Box::new(Snapshot {
            sink,
            origin: (0..n).collect(),
            cursor: vec![0; n],
            finished: self.dbs.iter().map(Db::is_empty).collect(),
            detached: Vec::new(),
            keys_total: self.key_count() as u64,
            keys_written: 0,
        }));
        true
    }

    pub fn snapshot_active(&self) -> bool {
        self.snapshot.active.is_some()
    }

    /// (keys written, keys at the start) of the active snapshot.
    pub fn snapshot_progress(&self) -> Option<(u64, u64)> {
        self.snapshot.active.as_ref().map(|s| (s.keys_written, s.keys_total))
    }

    /// Writes up to about `max_keys` more keys (visiting at most that many entries, plus the
    /// rest of one bucket chain). True once every key of the start state has been written.
    pub fn snapshot_step(&mut self, max_keys: usize) -> bool {
        let colour = self.snapshot.colour;
        let Some(s) = self.snapshot.active.as_deref_mut() else { return true };
        let mut budget = max_keys.max(1);
        while let Some((db, rest)) = s.detached.last_mut() {
            let db = *db;
            for e in rest.by_ref() {
                if e.colour() != colour {
                    s.sink.key(db, e.key(), &e);
                    s.keys_written += 1;
                }
                budget -= 1;
                if budget == 0 {
                    return false;
                }
            }
            s.detached.pop();
        }
        for i in 0..self.dbs.len() {
            while !s.finished[i] {
                let mut visited = 0usize;
                let main: &mut KeyTable = &mut self.dbs[i].main;
                let next = main.scan_nodes_mut(s.cursor[i], |e| {
                    visited += 1;
                    s.emit(i, e, colour);
                });
                s.cursor[i] = next;
                s.finished[i] = next == 0;
                budget = budget.saturating_sub(visited.max(1));
                if budget == 0 {
                    return s.finished.iter().all(|&f| f);
                }
            }
        }
        true
    }

    /// The active snapshot's sink (to drain what it buffered).
    pub fn snapshot_sink(&mut self) -> Option<&mut (dyn SnapshotSink + Send + 'static)> {
        self.snapshot.active.as_mut().map(|s| &mut *s.sink)
    }

    /// Ends the snapshot and gives its sink back: after `snapshot_step` returned true, or to
    /// abandon it (then entries are left with mixed colours, repainted at the next start).
    pub fn snapshot_end(&mut self) -> Option<Box<dyn SnapshotSink + Send>> {
        let s = self.snapshot.active.take()?;
        if !s.detached.is_empty() || s.finished.iter().any(|&f| !f) {
            self.snapshot.mixed = true;
        }
        Some(s.sink)
    }

    /// Copy-before-write: called before `key` in `db` is changed, deleted or moved.
    #[inline]
    pub(crate) fn snapshot_cow(&mut self, db: usize, key: &[u8]) {
        if self.snapshot.active.is_some() {
            self.snapshot_cow_slow(db, key);
        }
    }

    #[cold]
    fn snapshot_cow_slow(&mut self, db: usize, key: &[u8]) {
        let colour = self.snapshot.colour;
        let Some(s) = self.snapshot.active.as_deref_mut() else { return };
        if let Some(e) = self.dbs[db].main.get_mut(key) {
            s.emit(db, e, colour);
        }
    }

    /// FLUSHDB during a snapshot: the database's pending entries go on being written from the
    /// detached table. False when no snapshot is active (the caller clears it in place).
    pub(crate) fn snapshot_detach(&mut self, db: usize) -> bool {
        let Some(s) = self.snapshot.active.as_deref_mut() else { return false };
        let old = mem::take(&mut self.dbs[db]);
        if !s.finished[db] && !old.is_empty() {
            s.detached.push((s.origin[db], old.main.into_nodes()));
        }
        // The fresh database has nothing from the start state.
        s.finished[db] = true;
        s.cursor[db] = 0;
        true
    }

    /// SWAPDB during a snapshot: the cursors and start-state indexes follow the databases.
    pub(crate) fn snapshot_swap(&mut self, a: usize, b: usize) {
        if let Some(s) = self.snapshot.active.as_deref_mut() {
            s.origin.swap(a, b);
            s.cursor.swap(a, b);
            s.finished.swap(a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{StrValue, Value};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    type Seen = BTreeMap<(usize, Vec<u8>), (Vec<u8>, i64)>;

    /// Collects what a snapshot wrote; a key written twice is a bug.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Seen>>);

    impl SnapshotSink for Collect {
        fn key(&mut self, db: usize, key: &[u8], entry: &KeyNode) {
            let v = match &*entry.value() {
                Value::Str(s) => s.with_bytes(|b| b.to_vec()),
                other => other.type_name().as_bytes().to_vec(),
            };
            let old = self.0.lock().unwrap().insert((db, key.to_vec()), (v, entry.expire_at()));
            assert!(old.is_none(), "key {} of db {db} written twice", String::from_utf8_lossy(key));
        }
    }

    fn s(v: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(v))
    }

    fn state(sh: &Shard) -> Seen {
        let mut out = Seen::new();
        for (db, d) in sh.dbs.iter().enumerate() {
            for (k, e) in d.main.iter() {
                let v = e.str_ref().expect("strings only");
                out.insert((db, k.to_vec()), (v.to_vec(), e.expire_at()));
            }
        }
        out
    }

    fn run_to_end(sh: &mut Shard, step: usize, mut between: impl FnMut(&mut Shard, usize)) {
        let mut turn = 0;
        while !sh.snapshot_step(step) {
            between(sh, turn);
            turn += 1;
        }
        assert!(sh.snapshot_end().is_some());
    }

    fn filled(dbs: usize, per_db: usize) -> Shard {
        let mut sh = Shard::new(0, dbs);
        sh.set_now(1_000_000);
        for db in 0..dbs {
            for i in 0..per_db {
                let ttl = if i % 7 == 0 { Some(1_000_000 + 500 + i as i64) } else { None };
                sh.store(db, format!("k{i}").as_bytes(), s(format!("v{db}-{i}").as_bytes()), ttl, false);
            }
        }
        sh
    }

    #[test]
    fn snapshot_equals_start_state_under_concurrent_changes() {
        let mut sh = filled(4, 3000);
        let start = state(&sh);
        let out = Collect::default();
        assert!(sh.snapshot_begin(Box::new(out.clone())));
        assert!(!sh.snapshot_begin(Box::new(Collect::default())), "one snapshot at a time");
        run_to_end(&mut sh, 50, |sh, turn| {
            let i = turn * 13;
            let k = |n: usize| format!("k{}", n % 3000).into_bytes();
            sh.store(0, &k(i), s(b"changed"), None, false);
            sh.remove(1, &k(i + 1));
            sh.store(2, format!("new{turn}").as_bytes(), s(b"born during"), None, false);
            sh.set_expire(3, &k(i + 2), 42);
            if let Some(e) = sh.lookup_mut(0, &k(i + 3)) {
                *e.value_mut() = s(b"mutated in place");
            }
            // RENAME k -> renamed (same shard), MOVE 1 -> 2.
            if let Some(e) = sh.remove(0, &k(i + 4)) {
                sh.put_entry(0, format!("renamed{turn}").as_bytes(), e);
            }
            if let Some(e) = sh.remove(1, &k(i + 5)) {
                sh.put_entry(2, &k(i + 5), e);
            }
            match turn {
                20 => sh.swap_db(0, 3),
                40 => sh.flush_db(1),
                60 => sh.swap_db(1, 2),
                90 => sh.flush_all(),
                _ => {}
            }
            // Time passes: lazy and active expiry delete keys with a TTL.
            if turn == 30 {
                sh.set_now(1_000_000 + 2_000);
                sh.active_expire_cycle(1, std::time::Instant::now() + std::time::Duration::from_secs(1));
                sh.lookup(2, b"k7");
            }
        });
        assert_eq!(*out.0.lock().unwrap(), start);
    }

    #[test]
    fn keys_created_during_a_snapshot_are_not_in_it_and_the_next_one_has_them() {
        let mut sh = filled(2, 500);
        let out = Collect::default();
        sh.snapshot_begin(Box::new(out.clone()));
        let start = state(&sh);
        sh.snapshot_step(10);
        sh.store(0, b"late", s(b"x"), None, false);
        sh.put_entry(1, b"copied", crate::keyspace::Entry::new(s(b"y"), 0, 0));
        run_to_end(&mut sh, 100, |_, _| {});
        assert_eq!(*out.0.lock().unwrap(), start);
        let after = state(&sh);
        let out2 = Collect::default();
        sh.snapshot_begin(Box::new(out2.clone()));
        run_to_end(&mut sh, 100, |_, _| {});
        assert_eq!(*out2.0.lock().unwrap(), after);
    }

    #[test]
    fn an_abandoned_snapshot_leaves_the_next_one_complete() {
        let mut sh = filled(3, 1000);
        sh.snapshot_begin(Box::new(Collect::default()));
        sh.snapshot_step(300);
        sh.store(0, b"k1", s(b"changed"), None, false);
        assert!(sh.snapshot_end().is_some());
        assert!(!sh.snapshot_active());
        let now = state(&sh);
        let out = Collect::default();
        sh.snapshot_begin(Box::new(out.clone()));
        assert_eq!(sh.snapshot_progress(), Some((0, 3000)));
        run_to_end(&mut sh, 77, |_, _| {});
        assert_eq!(*out.0.lock().unwrap(), now);
    }

    #[test]
    fn empty_shard_finishes_at_once() {
        let mut sh = Shard::new(0, 16);
        sh.snapshot_begin(Box::new(Collect::default()));
        assert!(sh.snapshot_step(1));
        assert!(sh.snapshot_end().is_some());
        assert!(sh.snapshot_end().is_none());
    }
}
