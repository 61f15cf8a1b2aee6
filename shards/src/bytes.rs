//! [`Bytes`]: a short byte string kept inline (hash fields and values, the keys of every
//! [`crate::dict::Dict`]), a longer one in a boxed slice.

/// Longest value stored inline in [`Bytes`]: what fits beside a tag and a length in 24 bytes,
/// the size of a boxed slice plus the enum's tag.
pub(crate) const INLINE_CAP: usize = 22;

/// An immutable byte string that keeps short contents inline (no heap allocation).
#[derive(Clone)]
pub enum Bytes {
    Inline { len: u8, buf: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
}

impl From<&[u8]> for Bytes {
    #[inline]
    fn from(b: &[u8]) -> Bytes {
        if b.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..b.len()].copy_from_slice(b);
            Bytes::Inline { len: b.len() as u8, buf }
        } else {
            Bytes::Heap(b.into())
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Inline { len, buf } => &buf[..*len as usize],
            Bytes::Heap(b) => b,
        }
    }
}

impl Bytes {
    pub fn new(bytes: &[u8]) -> Bytes {
        Bytes::from(bytes)
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self
    }

    /// Heap bytes beyond the inline representation.
    pub fn heap_len(&self) -> usize {
        match self {
            Bytes::Inline { .. } => 0,
            Bytes::Heap(b) => b.len(),
        }
    }
}

impl From<Box<[u8]>> for Bytes {
    /// Keeps the allocation only when the contents do not fit inline.
    #[inline]
    fn from(b: Box<[u8]>) -> Bytes {
        if b.len() <= INLINE_CAP {
            Bytes::from(&*b)
        } else {
            Bytes::Heap(b)
        }
    }
}

impl From<Bytes> for Box<[u8]> {
    fn from(b: Bytes) -> Box<[u8]> {
        match b {
            Bytes::Heap(b) => b,
            inline => (*inline).into(),
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_contents_are_inline() {
        assert_eq!(std::mem::size_of::<Bytes>(), 24);
        let short = Bytes::from(&[7u8; INLINE_CAP][..]);
        assert!(matches!(short, Bytes::Inline { .. }));
        assert_eq!(&*short, &[7u8; INLINE_CAP][..]);
        let long = Bytes::from(&[9u8; INLINE_CAP + 1][..]);
        assert!(matches!(long, Bytes::Heap(_)));
        assert_eq!(&*long, &[9u8; INLINE_CAP + 1][..]);
        assert!(Bytes::from(&b""[..]).is_empty());
    }

    #[test]
    fn owned_boxes_are_kept_only_when_long() {
        let short: Box<[u8]> = b"key:000000000001"[..].into();
        assert!(matches!(Bytes::from(short), Bytes::Inline { .. }));
        let long: Box<[u8]> = vec![1u8; 40].into();
        let b = Bytes::from(long.clone());
        assert!(matches!(b, Bytes::Heap(_)));
        assert_eq!(Box::<[u8]>::from(b), long);
        assert_eq!(&*Box::<[u8]>::from(Bytes::from(&b"abc"[..])), b"abc");
    }
}
