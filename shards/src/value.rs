//! Values and their encodings.
//!
//! Strings follow Redis's three encodings so that OBJECT ENCODING means what it means in Redis:
//! `int` (a canonical 64-bit integer, stored as one), `embstr` (set whole, at most 44 bytes) and
//! `raw` (longer, or grown in place by APPEND/SETRANGE, which keep spare capacity so repeated
//! appends are amortised O(1) as with sds). An embstr of at most [`SMALL_CAP`] bytes is held
//! inside the `Value` itself ([`StrValue::Small`], no allocation): that is how a short string
//! stored inline in its keyspace node ([`crate::entry`]) is handed out as a `Value`.

/// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
pub const EMBSTR_LIMIT: usize = 44;

/// Longest string [`StrValue::Small`] holds: what fits beside the tag and a length byte in the
/// 32 bytes a `Value` takes (checked by `a_value_stays_32_bytes`).
pub const SMALL_CAP: usize = 30;

#[derive(Debug, Clone)]
pub enum StrValue {
    Int(i64),
    /// An embstr held inline (no allocation): `len` bytes of `buf`.
    Small {
        len: u8,
        buf: [u8; SMALL_CAP],
    },
    Emb(Box<[u8]>),
    Raw(Vec<u8>),
}

/// Equal when the stored representation is (an embstr equals an embstr with the same bytes,
/// however it is held), as the derived equality was before `Small` existed.
impl PartialEq for StrValue {
    fn eq(&self, other: &StrValue) -> bool {
        match (self, other) {
            (StrValue::Int(a), StrValue::Int(b)) => a == b,
            (StrValue::Raw(a), StrValue::Raw(b)) => a == b,
            (StrValue::Small { .. } | StrValue::Emb(_), StrValue::Small { .. } | StrValue::Emb(_)) => self.as_str_ref() == other.as_str_ref(),
            _ => false,
        }
    }
}

/// A borrowed view of a string value: an integer, or bytes (in a node, a box or a vector).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl StrRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            StrRef::Int(n) => int_len(*n),
            StrRef::Bytes(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with the value's bytes (integers are formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrRef::Int(n) => {
                let mut buf = itoa::Buffer::new();
                f(buf.format(*n).as_bytes())
            }
            StrRef::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// The value as an integer, if it is one (INCR's rule: the whole string must parse).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrRef::Int(n) => Some(*n),
            StrRef::Bytes(b) => parse_i64_strict(b),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(Box<crate::types::list::List>),
    Hash(crate::types::hash::Hash),
    /// Boxed, like List: an intset is 32 bytes with its own tag, which would leave no room for
    /// `Value`'s tag beside an inline [`StrValue::Small`] (`Value` must stay 32 bytes).
    Set(Box<crate::types::set::Set>),
    ZSet(crate::types::zset::ZSet),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(StrValue::Int(_)) => "int",
            Value::Str(StrValue::Small { .. }) => "embstr",
            Value::Str(StrValue::Emb(b)) if b.len() <= EMBSTR_LIMIT => "embstr",
            Value::Str(_) => "raw",
            Value::List(v) => v.encoding_name(),
            Value::Hash(v) => v.encoding_name(),
            Value::Set(v) => v.encoding_name(),
            Value::ZSet(v) => v.encoding_name(),
        }
    }

    /// Heap bytes held by the value beyond its inline representation (for memory figures).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_) | StrValue::Small { .. }) => 0,
            Value::Str(StrValue::Emb(b)) => b.len(),
            Value::Str(StrValue::Raw(v)) => v.capacity(),
            Value::List(v) => std::mem::size_of::<crate::types::list::List>() + v.heap_bytes(),
            Value::Hash(v) => v.heap_bytes(),
            Value::Set(v) => std::mem::size_of::<crate::types::set::Set>() + v.heap_bytes(),
            Value::ZSet(v) => v.heap_bytes(),
        }
    }
}

impl StrValue {
    /// Stores `bytes` the way Redis's tryObjectEncoding would: as an integer when the text is a
    /// canonical integer of at most 20 characters, otherwise as the bytes.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> StrValue {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64_strict(bytes) {
                return StrValue::Int(n);
            }
        }
        StrValue::embstr(bytes)
    }

    /// An embstr of these bytes (no integer check): inline when short enough.
    #[inline]
    pub fn embstr(bytes: &[u8]) -> StrValue {
        if bytes.len() <= SMALL_CAP {
            let mut buf = [0u8; SMALL_CAP];
            buf[..bytes.len()].copy_from_slice(bytes);
            StrValue::Small { len: bytes.len() as u8, buf }
        } else {
            StrValue::Emb(bytes.into())
        }
    }

    /// The value as a borrowed view.
    #[inline]
    pub fn as_str_ref(&self) -> StrRef<'_> {
        match self {
            StrValue::Int(n) => StrRef::Int(*n),
            StrValue::Small { len, buf } => StrRef::Bytes(&buf[..*len as usize]),
            StrValue::Emb(b) => StrRef::Bytes(b),
            StrValue::Raw(v) => StrRef::Bytes(v),
        }
    }

    pub fn len(&self) -> usize {
        self.as_str_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with the value's bytes (integers are formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.as_str_ref().with_bytes(f)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// The value as an integer, if it is one (INCR's rule: the whole string must parse).
    pub fn as_i64(&self) -> Option<i64> {
        self.as_str_ref().as_i64()
    }

    /// Turns the value into a growable buffer (for APPEND / SETRANGE), as Redis unshares and
    /// converts an embstr/int to raw before modifying it.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            let v = self.to_vec();
            *self = StrValue::Raw(v);
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("converted to Raw just above"),
        }
    }
}

fn int_len(n: i64) -> usize {
    let mut buf = itoa::Buffer::new();
    buf.format(n).len()
}

/// Redis's string2ll: optional '-', digits, no leading zeros (except "0"), no '+', no spaces,
/// must fit in i64.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis's string2ld for INCRBYFLOAT and friends: the whole string must be a number, no
/// surrounding spaces, not NaN.
pub fn parse_f64_strict(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5120 {
        return None;
    }
    if s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// Formats a float the way INCRBYFLOAT replies (Redis's ld2string in human mode: no exponent,
/// no trailing zeros, never "-0").
pub fn format_f64_human(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    // Rust's Display prints the shortest text that reads back as the same double, without an
    // exponent: the same digits Redis's %.17Lf-then-trim gives for values a double can hold.
    format!("{v}")
}

/// C's printf("%.17g"): 17 significant digits, trailing zeros dropped, exponent form when the
/// exponent is < -4 or >= 17 ("1.7976931348623157e+308"); "inf"/"-inf" as addReplyDouble.
pub fn format_g17(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Rust's {:.16e} rounds correctly to 17 significant digits, like printf.
    let sci = format!("{:.16e}", v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let d = digits.trim_end_matches('0');
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else if exp >= 0 {
        let (int, frac) = digits.split_at(exp as usize + 1);
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_encoding_only_for_canonical_text() {
        assert_eq!(StrValue::from_bytes(b"123"), StrValue::Int(123));
        assert_eq!(StrValue::from_bytes(b"-9223372036854775808"), StrValue::Int(i64::MIN));
        assert!(matches!(StrValue::from_bytes(b"0123"), StrValue::Small { len: 4, .. }));
        assert!(matches!(StrValue::from_bytes(b"+1"), StrValue::Small { .. }));
        assert!(matches!(StrValue::from_bytes(b"-0"), StrValue::Small { .. }));
        assert!(matches!(StrValue::from_bytes(b"9223372036854775808"), StrValue::Small { .. }));
        assert!(matches!(StrValue::from_bytes(b" 1"), StrValue::Small { .. }));
        assert!(matches!(StrValue::from_bytes(&[b'x'; SMALL_CAP + 1]), StrValue::Emb(_)));
        assert_eq!(StrValue::from_bytes(b"abc"), StrValue::Emb(b"abc"[..].into()));
    }

    #[test]
    fn encodings_are_named_as_redis() {
        assert_eq!(Value::Str(StrValue::from_bytes(b"12")).encoding_name(), "int");
        assert_eq!(Value::Str(StrValue::from_bytes(b"hello")).encoding_name(), "embstr");
        assert_eq!(Value::Str(StrValue::from_bytes(&[b'x'; 44])).encoding_name(), "embstr");
        let long = vec![b'x'; 45];
        assert_eq!(Value::Str(StrValue::from_bytes(&long)).encoding_name(), "raw");
        let mut s = StrValue::from_bytes(b"hi");
        s.make_raw().extend_from_slice(b"!");
        assert_eq!(Value::Str(s).encoding_name(), "raw");
    }

    #[test]
    fn floats_format_like_incrbyfloat() {
        assert_eq!(format_f64_human(10.5 + 0.1), "10.6");
        assert_eq!(format_f64_human(-0.0), "0");
        assert_eq!(format_f64_human(3.0), "3");
        assert_eq!(format_f64_human(5.0e3), "5000");
        assert_eq!(parse_f64_strict(b" 1"), None);
        assert_eq!(parse_f64_strict(b"1.5"), Some(1.5));
        assert_eq!(parse_f64_strict(b"nan"), None);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::entry::KeyNode;

    /// A short string is held in the `Value` itself, so a `Value` must not grow past 32 bytes
    /// for it (collections keep their tables behind a Box, as an inline table once made every
    /// key cost 200 bytes instead of 112).
    #[test]
    fn a_value_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    /// What a key costs in its node (see [`crate::entry`]): the 16-byte key with a 16-byte
    /// value of the memory goal fits mimalloc's 48-byte class; a TTL adds 12 bytes (the expiry
    /// and the key's position in the volatile index: its only cost besides one u64 there).
    #[test]
    fn a_keyspace_node_stays_small() {
        let node = |v: Value, ttl: i64| KeyNode::new(b"key:000000000001", v, ttl, 0, false).alloc_bytes();
        let s = |b: &[u8]| Value::Str(StrValue::from_bytes(b));
        assert_eq!(node(s(b"v000000000000001"), 0), 48);
        assert_eq!(node(s(b"v000000000000001"), 1), 60);
        assert_eq!(node(s(b"1234567890"), 0), 40, "an integer takes 8 bytes");
        assert_eq!(node(s(&[b'x'; SMALL_CAP]), 0), 16 + 16 + SMALL_CAP);
        assert_eq!(node(s(&[b'x'; SMALL_CAP + 1]), 0), 64, "stored whole, its bytes boxed");
        assert_eq!(node(Value::List(Default::default()), 1), 80, "16 + 12 + 16, 8-aligned, + 32");
    }
}
