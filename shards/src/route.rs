//! Key routing: which slot, and so which shard, owns a key.
//!
//! A key's slot is CRC16 (XMODEM) of the key, or of the part between the first `{` and the next
//! `}` when that part is non-empty (Redis Cluster's hash tags), modulo 16384: exactly Redis
//! Cluster's `keyHashSlot`, so hash tags keep related keys on one shard. A slot's shard is
//! `slot % shards`.

pub const SLOTS: u16 = 16384;

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            j += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16_TABLE: [u16; 256] = crc16_table();

/// CRC16-CCITT (XMODEM), the variant Redis Cluster uses.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc = (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// Redis Cluster's keyHashSlot.
pub fn key_slot(key: &[u8]) -> u16 {
    if let Some(open) = memchr_byte(b'{', key) {
        if let Some(len) = memchr_byte(b'}', &key[open + 1..]) {
            if len > 0 {
                return crc16(&key[open + 1..open + 1 + len]) & (SLOTS - 1);
            }
        }
    }
    crc16(key) & (SLOTS - 1)
}

#[inline]
fn memchr_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// The shard that owns `key` when the keyspace is split over `shards` shards.
#[inline]
pub fn shard_of(key: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    key_slot(key) as usize % shards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on a real Redis Cluster.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_tags_route_together() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
        // An empty tag is not a tag: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        // Only the first {...} counts.
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    #[test]
    fn shard_is_slot_mod_shards() {
        assert_eq!(shard_of(b"foo", 1), 0);
        assert_eq!(shard_of(b"foo", 4), 12182 % 4);
        assert_eq!(shard_of(b"foo", 3), 12182 % 3);
    }
}
