//! Redis's `long double` arithmetic, for INCRBYFLOAT (and HINCRBYFLOAT, which follows the same
//! rules).
//!
//! Redis 7.0 on x86-64 computes INCRBYFLOAT in the x87 80-bit `long double` (64-bit significand),
//! and what it prints shows that precision: `1000.1` comes back as `1000.09999999999999998`. To
//! reply byte for byte we redo exactly its steps (t_string.c incrbyfloatCommand, util.c
//! string2ld / ld2string):
//! - both operands are parsed as `strtold` would, correctly rounded (here by `rustc_apfloat`,
//!   LLVM's APFloat), with string2ld's extra refusals;
//! - the sum is rounded to nearest, ties to even, as the x87 unit does in extended precision;
//! - the result is printed as `%.17Lf` (17 digits after the point, rounded from the exact binary
//!   value with ties to even, as glibc does) and then trimmed (LD_STR_HUMAN).
//!
//! Pure functions over bytes: no state, nothing here can panic on client input.

use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round};

/// util.h MAX_LONG_DOUBLE_CHARS: string2ld refuses input this long or longer.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Why INCRBYFLOAT refused. The server maps these to `ERR value is not a valid float` and
/// `ERR increment would produce NaN or Infinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatError {
    NotFloat,
    NanOrInf,
}

/// INCRBYFLOAT's arithmetic: `current + incr` in long double, as the text Redis stores and
/// replies. Redis parses the stored value first, then the increment; both fail the same way.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, FloatError> {
    let value = string2ld(current)?;
    let incr = string2ld(incr)?;
    let sum = value.add_r(incr, Round::NearestTiesToEven).value;
    if sum.is_nan() || sum.is_infinite() {
        return Err(FloatError::NanOrInf);
    }
    Ok(ld2string_human(sum))
}

/// What `strtold` would recognise in a whole string (after the optional sign).
enum Lexeme {
    Infinity { negative: bool },
    Number { hex: bool, has_exponent: bool, nonzero: bool },
}

/// The `strtold` grammar, requiring the whole string to be consumed (string2ld rejects anything
/// strtold stops short of). Whitespace is never accepted: strtold skips it only at the start, and
/// string2ld refuses a leading space. NaN in any spelling is refused by string2ld, so it is not
/// recognised here either.
fn lex(s: &[u8]) -> Option<Lexeme> {
    let (negative, body) = match s {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Lexeme::Infinity { negative });
    }
    // "0x" without a hex digit after it is the number 0 followed by garbage, refused below
    // because no digit is found.
    let (hex, body) = match body {
        [b'0', b'x' | b'X', rest @ ..] => (true, rest),
        _ => (false, body),
    };
    let is_digit = |c: &u8| if hex { c.is_ascii_hexdigit() } else { c.is_ascii_digit() };
    let mut i = 0;
    let mut any_digit = false;
    let mut nonzero = false;
    let mut point_seen = false;
    while let Some(c) = body.get(i) {
        if is_digit(c) {
            any_digit = true;
            nonzero |= *c != b'0';
        } else if *c == b'.' && !point_seen {
            point_seen = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
        return None;
    }
    let marker = if hex { b'p' } else { b'e' };
    let mut has_exponent = false;
    if body.get(i).map(u8::to_ascii_lowercase) == Some(marker) {
        let mut j = i + 1;
        if matches!(body.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let digits_from = j;
        while body.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        // "1e" or "0x1p+": strtold stops before the marker, so the string is not consumed.
        if j == digits_from {
            return None;
        }
        has_exponent = true;
        i = j;
    }
    (i == body.len()).then_some(Lexeme::Number { hex, has_exponent, nonzero })
}

/// util.c string2ld: strtold plus Redis's refusals (empty, too long, leading space, trailing
/// garbage, NaN, and ERANGE with an infinite or zero result, i.e. overflow or total underflow;
/// a result that underflows only to a denormal is accepted, as glibc leaves it nonzero).
fn string2ld(s: &[u8]) -> Result<X87DoubleExtended, FloatError> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
        return Err(FloatError::NotFloat);
    }
    let (hex, has_exponent, nonzero) = match lex(s).ok_or(FloatError::NotFloat)? {
        Lexeme::Infinity { negative } => return Ok(if negative { -X87DoubleExtended::INFINITY } else { X87DoubleExtended::INFINITY }),
        Lexeme::Number { hex, has_exponent, nonzero } => (hex, has_exponent, nonzero),
    };
    // lex accepted only ASCII.
    let text = std::str::from_utf8(s).map_err(|_| FloatError::NotFloat)?;
    // C allows a hex float without a binary exponent; APFloat wants one.
    let parsed = if hex && !has_exponent {
        X87DoubleExtended::from_str_r(&format!("{text}p0"), Round::NearestTiesToEven)
    } else {
        X87DoubleExtended::from_str_r(text, Round::NearestTiesToEven)
    };
    let value = parsed.map_err(|_| FloatError::NotFloat)?.value;
    let overflowed = value.is_infinite();
    let underflowed_to_zero = value.is_zero() && nonzero;
    if overflowed || underflowed_to_zero || value.is_nan() {
        return Err(FloatError::NotFloat);
    }
    Ok(value)
}

const TEN_POW_17: u128 = 100_000_000_000_000_000;

/// util.c ld2string(LD_STR_HUMAN) for a finite value: `%.17Lf`, then trailing zeros after the
/// point dropped, then the point if it is last, and "-0" written as "0".
fn ld2string_human(value: X87DoubleExtended) -> Vec<u8> {
    let bits = value.to_bits();
    let negative = (bits >> 79) & 1 == 1;
    let biased_exp = ((bits >> 64) & 0x7fff) as i32;
    // The x87 format stores the integer bit, so the significand is used as is; denormals
    // (biased exponent 0) share the exponent of the smallest normal.
    let significand = bits as u64;
    let exp2 = biased_exp.max(1) - 16383 - 63;

    let mut out = Vec::with_capacity(32);
    if negative {
        out.push(b'-');
    }
    if exp2 >= 0 {
        // An integer: %.17Lf prints every digit and an all-zero fraction, which is trimmed.
        write_shifted_integer(&mut out, significand, exp2 as u32);
    } else {
        let scaled = shift_right_round_half_even(significand as u128 * TEN_POW_17, exp2.unsigned_abs());
        let int_part = (scaled / TEN_POW_17) as u64;
        let frac = (scaled % TEN_POW_17) as u64;
        out.extend_from_slice(itoa::Buffer::new().format(int_part).as_bytes());
        if frac != 0 {
            let digits = format!(".{frac:017}");
            out.extend_from_slice(digits.trim_end_matches('0').as_bytes());
        }
    }
    if out == b"-0" {
        out.remove(0);
    }
    out
}

/// `x / 2^shift` rounded to nearest, ties to even: glibc's printf rounds the exact binary value
/// in the current rounding mode.
fn shift_right_round_half_even(x: u128, shift: u32) -> u128 {
    // Callers pass x < 2^121, which is below half of 2^128: everything rounds to zero.
    if shift >= 128 {
        return 0;
    }
    let quotient = x >> shift;
    let remainder = x & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if remainder > half || (remainder == half && quotient & 1 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// Writes `significand * 2^shift` in decimal, with a little base-10^9 big integer (the largest
/// long double has 4933 integer digits, all of which Redis prints).
fn write_shifted_integer(out: &mut Vec<u8>, significand: u64, mut shift: u32) {
    const BASE: u64 = 1_000_000_000;
    // Least significant limb first.
    let mut limbs: Vec<u64> = Vec::with_capacity(8 + shift as usize / 29);
    let mut rest = significand;
    while rest != 0 {
        limbs.push(rest % BASE);
        rest /= BASE;
    }
    while shift > 0 {
        // limb * 2^32 + carry stays below 2^62 + 2^33.
        let step = shift.min(32);
        shift -= step;
        let mut carry = 0u64;
        for limb in limbs.iter_mut() {
            let t = (*limb << step) + carry;
            *limb = t % BASE;
            carry = t / BASE;
        }
        while carry != 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
    }
    let mut buf = itoa::Buffer::new();
    match limbs.split_last() {
        None => out.push(b'0'),
        Some((top, lower)) => {
            out.extend_from_slice(buf.format(*top).as_bytes());
            for limb in lower.iter().rev() {
                let digits = buf.format(*limb).as_bytes();
                out.resize(out.len() + 9 - digits.len(), b'0');
                out.extend_from_slice(digits);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FloatError::{NanOrInf, NotFloat};
    use super::*;

    /// What Redis replied. Replies too long to paste (up to 4934 digits) are pinned by length,
    /// first digits and an FNV-1a hash of the whole text.
    enum Expect {
        Reply(&'static str),
        Long { len: usize, head: &'static str, fnv1a: u64 },
        Fails(FloatError),
    }
    use Expect::{Fails, Long, Reply};

    fn fnv1a(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    }

    /// Checks one row; a missing key is the stored value "0", as in Shard::incr_by_float.
    fn check(current: Option<&[u8]>, incr: &[u8], expect: &Expect) {
        let got = incr_by_float(current.unwrap_or(b"0"), incr);
        let shown = |b: &[u8]| String::from_utf8_lossy(b).chars().take(40).collect::<String>();
        let what = format!("{:?} + {:?}", current.map(shown), shown(incr));
        match (expect, &got) {
            (Reply(text), Ok(v)) => assert_eq!(String::from_utf8_lossy(v), *text, "{what}"),
            (Long { len, head, fnv1a: hash }, Ok(v)) => {
                assert_eq!((v.len(), &v[..head.len()], fnv1a(v)), (*len, head.as_bytes(), *hash), "{what}")
            }
            (Fails(e), Err(g)) => assert_eq!(g, e, "{what}"),
            _ => panic!("{what}: got {:?}", got.map(|v| shown(&v))),
        }
    }

    /// (stored value or missing key, increment, reply). Every expected reply was taken from a
    /// real redis-server 7.0.15 on x86-64 (SET k <stored>; INCRBYFLOAT k <incr>), not from
    /// this code.
    /// (stored value or missing key, increment, expected reply).
    type Case = (Option<&'static [u8]>, &'static [u8], Expect);

    #[rustfmt::skip]
    const REDIS_7_0: &[Case] = &[
        (Some(b"1"), b"-1.1", Reply("-0.1")),
        (Some(b"10.5"), b"0.1", Reply("10.6")),
        (Some(b"0"), b"1e-20", Reply("0")),
        (Some(b"1000.1"), b"0", Reply("1000.09999999999999998")),
        (None, b"1000.1", Reply("1000.09999999999999998")),
        (Some(b"17179869184"), b"1.5", Reply("17179869185.5")),
        (Some(b"1.5e300"), b"1e300", Long { len: 301, head: "249999999999999999998618", fnv1a: 0xcd9921aa6afe699f }),
        (Some(b"1e4930"), b"1e4930", Long { len: 4931, head: "200000000000000000005234", fnv1a: 0x58ac57f4b9c546fc }),
        (Some(b"-1e4930"), b"-1e4930", Long { len: 4932, head: "-20000000000000000000523", fnv1a: 0xfa1ebf639435c29f }),
        (Some(b"0"), b"  1", Fails(NotFloat)),
        (Some(b"0"), b"1 ", Fails(NotFloat)),
        (Some(b"0"), b"1x", Fails(NotFloat)),
        (Some(b"0"), b"nan", Fails(NotFloat)),
        (Some(b"0"), b"NaN", Fails(NotFloat)),
        (Some(b"0"), b"-nan", Fails(NotFloat)),
        (Some(b"0"), b"nan(123)", Fails(NotFloat)),
        (Some(b"0"), b"inf", Fails(NanOrInf)),
        (Some(b"0"), b"+inf", Fails(NanOrInf)),
        (Some(b"0"), b"-inf", Fails(NanOrInf)),
        (Some(b"0"), b"Infinity", Fails(NanOrInf)),
        (Some(b"0"), b"-INFINITY", Fails(NanOrInf)),
        (Some(b"0"), b"infinit", Fails(NotFloat)),
        (Some(b"inf"), b"1", Fails(NanOrInf)),
        (Some(b"inf"), b"-inf", Fails(NanOrInf)),
        (Some(b"0"), b"0x1p3", Reply("8")),
        (Some(b"0"), b"0X1.8P3", Reply("12")),
        (Some(b"0"), b"0x1.8", Reply("1.5")),
        (Some(b"0"), b"0x", Fails(NotFloat)),
        (Some(b"0"), b"0x1p", Fails(NotFloat)),
        (Some(b"0"), b"0x.8p1", Reply("1")),
        (Some(b"0"), b"-0x1p-18", Reply("-0.00000381469726562")),
        (Some(b"0"), b"0x1p-18", Reply("0.00000381469726562")),
        (Some(b"0"), b"0x3p-18", Reply("0.00001144409179688")),
        (Some(b"0"), b"0x1p-16445", Reply("0")),
        (Some(b"0"), b"0x1p-16446", Fails(NotFloat)),
        (Some(b"0"), b"0x1p16384", Fails(NotFloat)),
        (Some(b"0"), b"1e", Fails(NotFloat)),
        (Some(b"0"), b"1e+", Fails(NotFloat)),
        (Some(b"0"), b"1e-", Fails(NotFloat)),
        (Some(b"0"), b".5", Reply("0.5")),
        (Some(b"0"), b"5.", Reply("5")),
        (Some(b"0"), b".", Fails(NotFloat)),
        (Some(b"0"), b"+1.5", Reply("1.5")),
        (Some(b"0"), b"-0", Reply("0")),
        (Some(b"-0"), b"-0", Reply("0")),
        (Some(b"0"), b"+-1", Fails(NotFloat)),
        (Some(b"0"), b"--1", Fails(NotFloat)),
        (Some(b"0"), b"", Fails(NotFloat)),
        (Some(b"0"), b" ", Fails(NotFloat)),
        (Some(b"0"), b"\t1", Fails(NotFloat)),
        (Some(b"0"), b"1\n", Fails(NotFloat)),
        (Some(b"0"), b"1e5x", Fails(NotFloat)),
        (Some(b"0"), b"1.2.3", Fails(NotFloat)),
        (Some(b"0"), b"3.0000000000000000001", Reply("3")),
        (Some(b"0"), b"0.333333333333333333333333", Reply("0.33333333333333333")),
        (Some(b"1"), b"0.333333333333333333333333", Reply("1.33333333333333333")),
        (Some(b"0"), b"123456789.123456789", Reply("123456789.12345678899873747")),
        (Some(b"0"), b"-1e-17", Reply("-0.00000000000000001")),
        (Some(b"0"), b"5e-18", Reply("0")),
        (Some(b"0"), b"5.000001e-18", Reply("0.00000000000000001")),
        (Some(b"0"), b"1.5e-17", Reply("0.00000000000000002")),
        (Some(b"0"), b"2.5e-17", Reply("0.00000000000000002")),
        (Some(b"0"), b"0.1", Reply("0.1")),
        (Some(b"0.1"), b"0.2", Reply("0.3")),
        (Some(b"99999999999999999999"), b"1", Reply("100000000000000000000")),
        (Some(b"1e20"), b"1", Reply("100000000000000000000")),
        (Some(b"18446744073709551615"), b"1", Reply("18446744073709551616")),
        (Some(b"9223372036854775807"), b"1", Reply("9223372036854775808")),
        (Some(b"-9223372036854775808"), b"-1", Reply("-9223372036854775809")),
        (Some(b"1e4000"), b"0", Long { len: 4000, head: "999999999999999999996546", fnv1a: 0x6c79f17f22471934 }),
        (Some(b"1e-4940"), b"0", Reply("0")),
        (Some(b"1e-5000"), b"0", Fails(NotFloat)),
        (Some(b"0"), b"1e-4940", Reply("0")),
        (Some(b"0"), b"1e-5000", Fails(NotFloat)),
        (Some(b"0"), b"0e-5000", Reply("0")),
        (Some(b"0"), b"0e99999999999", Reply("0")),
        (Some(b"0"), b"1e99999999999", Fails(NotFloat)),
        (Some(b"0"), b"1e-99999999999", Fails(NotFloat)),
        (Some(b"1.18973149535723176502e+4932"), b"0", Long { len: 4933, head: "118973149535723176502126", fnv1a: 0x142ac37b8a61dfe2 }),
        (Some(b"1.18973149535723176508e+4932"), b"0", Fails(NotFloat)),
        (Some(b"abc"), b"1", Fails(NotFloat)),
        (Some(b""), b"1", Fails(NotFloat)),
        (Some(b"1.5"), b" 1", Fails(NotFloat)),
        (Some(b" 1.5"), b"1", Fails(NotFloat)),
        (Some(b"1.5 "), b"1", Fails(NotFloat)),
        (Some(b"10"), b"-10", Reply("0")),
        (Some(b"-5"), b"2.5", Reply("-2.5")),
        (Some(b"3.14159265358979323846264338327950288"), b"0", Reply("3.14159265358979324")),
        (Some(b"2"), b"1e17", Reply("100000000000000002")),
        (Some(b"0"), b"1e18", Reply("1000000000000000000")),
        (Some(b"0"), b"12345678901234567890.5", Reply("12345678901234567890")),
        (Some(b"0"), b"0.00000000000000001", Reply("0.00000000000000001")),
        (Some(b"0"), b"0.000000000000000015", Reply("0.00000000000000002")),
        (Some(b"0"), b"0.000000000000000025", Reply("0.00000000000000002")),
        (Some(b"0"), b"1E3", Reply("1000")),
        (Some(b"0"), b"1e+3", Reply("1000")),
        (Some(b"0"), b"00001.5000", Reply("1.5")),
        (Some(b"0"), b"0x10", Reply("16")),
        (Some(b"0"), b"0xG", Fails(NotFloat)),
        (Some(b"0"), b"1_000", Fails(NotFloat)),
        (Some(b"0"), b"\xef\xbc\x91", Fails(NotFloat)),
        (Some(b"0"), b"1\x00", Fails(NotFloat)),
        (Some(b"0"), b"-.5e1", Reply("-5")),
        (Some(b"0"), b"5e-1", Reply("0.5")),
        (Some(b"0"), b"6.02214076e23", Reply("602214076000000000000000")),
        (Some(b"1e4932"), b"1e4932", Fails(NanOrInf)),
        (Some(b"-1e4932"), b"-1e4932", Fails(NanOrInf)),
        (Some(b"1.18973149535723176502e+4932"), b"1e4913", Fails(NanOrInf)),
        (Some(b"1.1"), b"2.2", Reply("3.3")),
        (Some(b"0.1"), b"-0.3", Reply("-0.2")),
        (Some(b"-0.1"), b"0.1", Reply("0")),
        (Some(b"1e-18"), b"-1e-18", Reply("0")),
        (Some(b"3"), b"-3.0000000000000000001", Reply("0")),
        (Some(b"0.5"), b"0x1p-70", Reply("0.5")),
        (Some(b"1"), b"0x1p-64", Reply("1")),
        (Some(b"1"), b"0x1p-63", Reply("1")),
        (Some(b"1"), b"0x3p-64", Reply("1")),
        (Some(b"0x1p63"), b"0x1p63", Reply("18446744073709551616")),
        (Some(b"-0x1.fffffffffffffffep16383"), b"-1", Long { len: 4934, head: "-11897314953572317650212", fnv1a: 0x78d618d9d49aa569 }),
        (Some(b"1e308"), b"1e308", Long { len: 309, head: "199999999999999999993371", fnv1a: 0x6d0db09b55205fb7 }),
        (Some(b"0"), b"1.7976931348623157e308", Long { len: 309, head: "179769313486231569995921", fnv1a: 0x15c1e277a9c028f1 }),
    ];

    #[test]
    fn incrbyfloat_matches_redis_7_0() {
        for (current, incr, expect) in REDIS_7_0 {
            check(*current, incr, expect);
        }
    }

    /// string2ld's MAX_LONG_DOUBLE_CHARS bound, on both operands, and very long inputs.
    /// Expected replies again from redis-server 7.0.15.
    #[test]
    fn incrbyfloat_long_inputs_match_redis_7_0() {
        let one_point = |zeros: usize| format!("1.{}", "0".repeat(zeros)).into_bytes();
        let padded_one = |zeros: usize| format!("{}1", "0".repeat(zeros)).into_bytes();
        // 5119 characters is the longest accepted.
        check(None, &one_point(5117), &Reply("1"));
        check(None, &one_point(5118), &Fails(NotFloat));
        check(Some(&one_point(5117)), b"0", &Reply("1"));
        check(Some(&one_point(5118)), b"0", &Fails(NotFloat));
        check(None, &padded_one(5118), &Reply("1"));
        check(None, &padded_one(5119), &Fails(NotFloat));
        // 1e-5117 underflows to zero: ERANGE, refused.
        check(None, format!("0.{}1", "0".repeat(5116)).as_bytes(), &Fails(NotFloat));
        check(None, format!("1{}", "0".repeat(4931)).as_bytes(), &Long { len: 4932, head: "100000000000000000000601", fnv1a: 0x9ed5_2d2f_cb56_38c3 });
        // Overflow while parsing is refused as not a float, not as an infinite result.
        check(None, format!("0x{}", "f".repeat(5000)).as_bytes(), &Fails(NotFloat));
    }

    #[test]
    fn printf_rounds_ties_to_even() {
        // 2^-18 * 10^17 is exactly ...2.5 and 3 * 2^-18 * 10^17 exactly ...7.5.
        assert_eq!(shift_right_round_half_even(5, 1), 2);
        assert_eq!(shift_right_round_half_even(7, 1), 4);
        assert_eq!(shift_right_round_half_even(u128::MAX >> 7, 200), 0);
    }
}
