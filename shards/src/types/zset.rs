//! The zset value type. (Scaffold: the representation and its operations are being written.)

/// A Redis zset value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {}

impl ZSet {
    /// Elements in the collection.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes held (for memory figures).
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
