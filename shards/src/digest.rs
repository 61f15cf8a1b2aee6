//! DEBUG DIGEST and DEBUG DIGEST-VALUE, computed as Redis's debug.c does (xorDigest /
//! mixDigest over SHA1), so two servers' datasets can be compared digest to digest.
//!
//! A key's digest does not depend on the order of keys, and within a database keys are
//! combined by XOR: each shard's per-database XOR can be combined in any order. Databases are
//! then chained (`mixDigest` of the database number before its keys), in database order.

use sha1::{Digest as _, Sha1};

use crate::entry::KeyNode;
use crate::keyspace::Db;
use crate::types::hash::Hash;
use crate::value::Value;

pub type Digest20 = [u8; 20];

/// xorDigest: digest ^= SHA1(bytes).
pub fn xor_digest(digest: &mut Digest20, bytes: &[u8]) {
    let h = Sha1::digest(bytes);
    for (d, x) in digest.iter_mut().zip(h.iter()) {
        *d ^= x;
    }
}

/// mixDigest: digest = SHA1(digest ^ SHA1(bytes)).
pub fn mix_digest(digest: &mut Digest20, bytes: &[u8]) {
    xor_digest(digest, bytes);
    let h = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&h);
}

/// The object type number Redis mixes in (OBJ_STRING .. OBJ_HASH).
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    }
}

/// xorObjectDigest: mixes one value (and whether it has a TTL) into `digest`.
pub fn xor_object_digest(digest: &mut Digest20, v: &Value, has_expire: bool) {
    mix_digest(digest, &type_code(v).to_be_bytes());
    match v {
        Value::Str(s) => s.with_bytes(|b| mix_digest(digest, b)),
        Value::List(l) => l.iter_from(0).for_each(|e| mix_digest(digest, e)),
        Value::Set(s) => s.iter().for_each(|m| m.with_bytes(|b| xor_digest(digest, b))),
        Value::ZSet(z) => z.for_each(|m, score| {
            let mut ele = [0u8; 20];
            mix_digest(&mut ele, m);
            // Redis 7.0 formats the score with "%.17g" here.
            mix_digest(&mut ele, crate::value::format_g17(score).as_bytes());
            xor_digest(digest, &ele);
        }),
        Value::Hash(h) => hash_digest(digest, h),
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

fn hash_digest(digest: &mut Digest20, h: &Hash) {
    for (f, v) in h.iter() {
        let mut ele = [0u8; 20];
        mix_digest(&mut ele, f);
        mix_digest(&mut ele, v);
        xor_digest(digest, &ele);
    }
}

/// DEBUG DIGEST-VALUE for one key (all zeros when it is missing).
pub fn value_digest(entry: Option<&KeyNode>) -> Digest20 {
    let mut d = [0u8; 20];
    if let Some(e) = entry {
        xor_object_digest(&mut d, &e.value(), e.expire_at() != 0);
    }
    d
}

/// One key's contribution to its database's XOR (computeDatasetDigest's per-key digest).
pub fn key_digest(key: &[u8], entry: &KeyNode) -> Digest20 {
    let mut d = [0u8; 20];
    mix_digest(&mut d, key);
    xor_object_digest(&mut d, &entry.value(), entry.expire_at() != 0);
    d
}

/// The XOR of every key digest of one database (part of a shard's share of the dataset).
/// Keys are included as stored, expired or not, as Redis's dictionary walk does.
pub fn db_xor(db: &Db) -> Option<Digest20> {
    if db.is_empty() {
        return None;
    }
    let mut acc = [0u8; 20];
    for (k, e) in db.main.iter() {
        // computeDatasetDigest: xorDigest(final, digest, 20), so the key's SHA1 is what is XORed.
        xor_digest(&mut acc, &key_digest(k, e));
    }
    Some(acc)
}

/// Accumulates computeDatasetDigest over shards: add each shard's databases in any order,
/// then `finish`.
#[derive(Default)]
pub struct DatasetDigest {
    /// Per database: XOR of its keys' digests, None while no shard had keys in it.
    dbs: Vec<Option<Digest20>>,
}

impl DatasetDigest {
    pub fn add_shard(&mut self, shard: &crate::Shard) {
        if self.dbs.len() < shard.dbs.len() {
            self.dbs.resize(shard.dbs.len(), None);
        }
        for (i, db) in shard.dbs.iter().enumerate() {
            if let Some(x) = db_xor(db) {
                let acc = self.dbs[i].get_or_insert([0u8; 20]);
                for (a, b) in acc.iter_mut().zip(x.iter()) {
                    *a ^= b;
                }
            }
        }
    }

    pub fn finish(&self) -> Digest20 {
        let mut fin = [0u8; 20];
        for (j, x) in self.dbs.iter().enumerate() {
            if let Some(x) = x {
                mix_digest(&mut fin, &(j as u32).to_be_bytes());
                for (a, b) in fin.iter_mut().zip(x.iter()) {
                    *a ^= b;
                }
            }
        }
        fin
    }
}

/// Lower-case hex, as DEBUG DIGEST replies.
pub fn hex(d: &Digest20) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
