//! Collection value types (Redis's list, hash, set, sorted set), each with a compact encoding
//! for small collections and a full structure past the configured thresholds.

pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

/// Encoding thresholds, Redis's config names (the server copies them from its config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// list-max-listpack-size: positive = entries per node, negative = -1..-5 size classes
    /// (4/8/16/32/64 KB), as Redis's quicklist.
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub set_max_listpack_entries: usize,
    pub set_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

impl Default for Limits {
    /// Redis 7.0's defaults.
    fn default() -> Limits {
        Limits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}
