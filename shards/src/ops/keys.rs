//! Generic key operations (DEL, EXISTS, EXPIRE family, TTL, RENAME, COPY, MOVE, KEYS, SCAN,
//! RANDOMKEY, OBJECT). Operations that span shards are composed by the server from these
//! per-shard pieces while the coordinator holds every shard involved.

use crate::glob::glob_match;
use crate::keyspace::{Entry, Shard};
use crate::{OpError, OpResult};

/// EXPIRE's NX | XX | GT | LT (Redis 7.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireCond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
    XxLt,
}

/// The filters of one SCAN call.
pub struct ScanFilter<'a> {
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

impl Shard {
    pub fn del(&mut self, db: usize, key: &[u8]) -> bool {
        self.remove(db, key).is_some()
    }

    pub fn type_of(&mut self, db: usize, key: &[u8]) -> &'static str {
        match self.lookup_notouch(db, key) {
            Some(e) => e.value().type_name(),
            None => "none",
        }
    }

    /// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with an absolute time already computed.
    /// Returns whether the TTL was set (or the key deleted because the time is in the past).
    pub fn expire_at(&mut self, db: usize, key: &[u8], when_ms: i64, cond: ExpireCond) -> bool {
        let now = self.now_ms();
        let Some(e) = self.lookup_mut(db, key) else { return false };
        let current = e.expire_at();
        // A key without TTL counts as an infinite TTL for GT/LT (Redis 7.0).
        let ok = match cond {
            ExpireCond::Always => true,
            ExpireCond::Nx => current == 0,
            ExpireCond::Xx => current != 0,
            ExpireCond::Gt => current != 0 && when_ms > current,
            ExpireCond::Lt => current == 0 || when_ms < current,
            ExpireCond::XxLt => current != 0 && when_ms < current,
        };
        if !ok {
            return false;
        }
        if when_ms <= now {
            // checkAlreadyExpired: the key is deleted now (and propagated as DEL).
            self.remove(db, key);
        } else {
            self.set_expire(db, key, when_ms);
        }
        true
    }

    /// PTTL in ms: -2 missing, -1 no TTL.
    pub fn pttl(&mut self, db: usize, key: &[u8]) -> i64 {
        let now = self.now_ms();
        match self.lookup_notouch(db, key) {
            None => -2,
            Some(e) if e.expire_at() == 0 => -1,
            Some(e) => (e.expire_at() - now).max(0),
        }
    }

    /// PEXPIRETIME: -2 missing, -1 no TTL.
    pub fn pexpiretime(&mut self, db: usize, key: &[u8]) -> i64 {
        match self.lookup_notouch(db, key) {
            None => -2,
            Some(e) if e.expire_at() == 0 => -1,
            Some(e) => e.expire_at(),
        }
    }

    pub fn persist(&mut self, db: usize, key: &[u8]) -> bool {
        match self.lookup_mut(db, key) {
            Some(e) if e.expire_at() != 0 => self.set_expire(db, key, 0),
            _ => false,
        }
    }

    /// Takes a key's entry out (RENAME's and MOVE's source side).
    pub fn take(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        self.remove(db, key)
    }

    /// A copy of a key's entry (COPY's source side).
    pub fn clone_entry(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        self.lookup_mut(db, key).map(|e| e.to_entry())
    }

    /// MOVE key db: same shard (the key decides the shard), different database.
    pub fn move_key(&mut self, src: usize, dst: usize, key: &[u8]) -> OpResult<bool> {
        if src == dst {
            return Err(OpError::SameObject);
        }
        if !self.exists(src, key) || self.exists(dst, key) {
            return Ok(false);
        }
        match self.take(src, key) {
            Some(e) => {
                self.put_entry(dst, key, e);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// KEYS pattern over this shard's database; expired keys are skipped (and left for expiry).
    pub fn keys(&self, db: usize, pattern: &[u8], out: &mut Vec<Vec<u8>>) {
        let now = self.now_ms();
        let all = pattern == b"*";
        for (k, e) in self.dbs[db].main.iter() {
            if !e.is_expired(now) && (all || glob_match(pattern, k, false)) {
                out.push(k.to_vec());
            }
        }
    }

    /// One SCAN step over this shard's table: visits buckets until `count` keys were collected
    /// or `count * 10` buckets were visited (Redis's maxiterations), returns the next cursor.
    pub fn scan(&mut self, db: usize, mut cursor: u64, count: usize, filter: &ScanFilter<'_>, out: &mut Vec<Vec<u8>>) -> u64 {
        let now = self.now_ms();
        let mut iterations = count.max(1) * 10;
        let d = &self.dbs[db].main;
        let mut found: Vec<Vec<u8>> = Vec::new();
        loop {
            cursor = d.scan(cursor, |k, e| {
                if e.is_expired(now) {
                    return;
                }
                if let Some(p) = filter.pattern {
                    if !glob_match(p, k, false) {
                        return;
                    }
                }
                if let Some(t) = filter.type_name {
                    if !e.value().type_name().as_bytes().eq_ignore_ascii_case(t) {
                        return;
                    }
                }
                found.push(k.to_vec());
            });
            iterations -= 1;
            if cursor == 0 || iterations == 0 || found.len() >= count {
                break;
            }
        }
        out.extend(found);
        cursor
    }

    /// A random live key of this shard's database (RANDOMKEY), or None when it is empty.
    pub fn random_key(&mut self, db: usize) -> Option<Vec<u8>> {
        let now = self.now_ms();
        // Like Redis, give up on finding a non-expired key after many tries and just return
        // one: the expired ones are still logically present until deleted.
        for _ in 0..100 {
            let mut r = self.next_rand();
            let mut rand = || {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                r
            };
            let (key, expired) = {
                let (k, e) = self.dbs[db].main.random_entry(&mut rand)?;
                (k.to_vec(), e.is_expired(now))
            };
            if !expired {
                return Some(key);
            }
            self.remove(db, &key);
        }
        None
    }
}
