//! Values and their encodings.
//!
//! Strings follow Redis's three encodings so that OBJECT ENCODING means what it means in Redis:
//! `int` (a canonical 64-bit integer, stored as one), `embstr` (set whole, at most 44 bytes) and
//! `raw` (longer, or grown in place by APPEND/SETRANGE, which keep spare capacity so repeated
//! appends are amortised O(1) as with sds).

/// Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.
pub const EMBSTR_LIMIT: usize = 44;

#[derive(Debug, Clone, PartialEq)]
pub enum StrValue {
    Int(i64),
    Emb(Box<[u8]>),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    List(Box<crate::types::list::List>),
    Hash(crate::types::hash::Hash),
    Set(crate::types::set::Set),
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
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Emb(b)) => b.len(),
            Value::Str(StrValue::Raw(v)) => v.capacity(),
            Value::List(v) => std::mem::size_of::<crate::types::list::List>() + v.heap_bytes(),
            Value::Hash(v) => v.heap_bytes(),
            Value::Set(v) => v.heap_bytes(),
            Value::ZSet(v) => v.heap_bytes(),
        }
    }
}

impl StrValue {
    /// Stores `bytes` the way Redis's tryObjectEncoding would: as an integer when the text is a
    /// canonical integer of at most 20 characters, otherwise as the bytes.
    pub fn from_bytes(bytes: &[u8]) -> StrValue {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64_strict(bytes) {
                return StrValue::Int(n);
            }
        }
        StrValue::Emb(bytes.into())
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => int_len(*n),
            StrValue::Emb(b) => b.len(),
            StrValue::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with the value's bytes (integers are formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrValue::Int(n) => {
                let mut buf = itoa::Buffer::new();
                f(buf.format(*n).as_bytes())
            }
            StrValue::Emb(b) => f(b),
            StrValue::Raw(v) => f(v),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// The value as an integer, if it is one (INCR's rule: the whole string must parse).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Emb(b) => parse_i64_strict(b),
            StrValue::Raw(v) => parse_i64_strict(v),
        }
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
        assert!(matches!(StrValue::from_bytes(b"0123"), StrValue::Emb(_)));
        assert!(matches!(StrValue::from_bytes(b"+1"), StrValue::Emb(_)));
        assert!(matches!(StrValue::from_bytes(b"-0"), StrValue::Emb(_)));
        assert!(matches!(StrValue::from_bytes(b"9223372036854775808"), StrValue::Emb(_)));
        assert!(matches!(StrValue::from_bytes(b" 1"), StrValue::Emb(_)));
    }

    #[test]
    fn encodings_are_named_as_redis() {
        assert_eq!(Value::Str(StrValue::from_bytes(b"12")).encoding_name(), "int");
        assert_eq!(Value::Str(StrValue::from_bytes(b"hello")).encoding_name(), "embstr");
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
    /// Every key pays for an Entry in its table node: collections keep their tables behind a
    /// Box so a string key does not pay for the largest collection header (an inline hash table
    /// once made every key cost 200 bytes instead of 112).
    #[test]
    fn a_keyspace_entry_stays_small() {
        assert!(std::mem::size_of::<super::Value>() <= 32, "Value is {} bytes", std::mem::size_of::<super::Value>());
        assert!(std::mem::size_of::<crate::keyspace::Entry>() <= 48, "Entry is {} bytes", std::mem::size_of::<crate::keyspace::Entry>());
    }
}
