//! Glob-style pattern matching for KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET
//! and every other place Redis calls `stringmatchlen`.
//!
//! This is a line-by-line port of Redis's `stringmatchlen_impl` (util.c):
//! the 7.0 version with the `skipLongerMatches` early exit (CVE-2022-36021)
//! plus the `nesting > 1000` guard Redis added later against stack exhaustion
//! (CVE-2024-31228, e.g. `KEYS` with `"*?"` repeated 50000 times). The port
//! keeps Redis's quirks on purpose, because clients and the Redis test suite
//! observe them:
//!
//! * `*` never matches at the end of an exhausted string when it is the whole
//!   pattern and the string is empty (`glob_match(b"*", b"", _)` is false);
//!   Redis's KEYS and SCAN special-case a lone `*` before calling the matcher,
//!   and callers here must do the same.
//! * A `[` class with no closing `]` runs to the end of the pattern and still
//!   consumes one character of the string; `[^` alone therefore matches any
//!   single character.
//! * A trailing `\` is a literal backslash.
//! * Inside a class, `\x` compares `x` case-sensitively even with `nocase`
//!   (Redis does the same).
//! * Range bounds are compared as C `char`, which is signed on the platforms
//!   Redis ships for (x86-64, glibc), so bytes >= 0x80 sort below ASCII in
//!   case-sensitive ranges; with `nocase`, glibc's `tolower` turns them back
//!   into unsigned values (see `lower_signed`).
//! * Case folding is ASCII-only, like `tolower` in the "C" locale Redis uses
//!   for ctype.
//!
//! The port was checked against the C function compiled with gcc/glibc on
//! two million random patterns and strings (bytes from `*?[]^-\`, letters of
//! both cases, NUL and high bytes), with and without `nocase`: identical.
//!
//! The C code reads one byte past the pattern in a few places and relies on
//! the NUL terminator every `sds` string carries; `at` reproduces that by
//! yielding 0 past the end.

/// Redis: "Protection against abusive patterns" — deeper `*` recursion than
/// this is treated as no match.
const MAX_NESTING: u32 = 1000;

/// Redis's `stringmatchlen(pattern, plen, string, slen, nocase)`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, 0, string, 0, nocase, &mut skip_longer_matches, 0)
}

/// The byte at `i`, or the NUL terminator C would read past the end.
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// `tolower` restricted to ASCII, as in the "C" locale.
#[inline]
fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

/// glibc's `tolower` on a value that came from a signed `char` (range
/// bounds and the tested character in a nocase range). glibc's table maps
/// -128..=-2 to the unsigned byte value (c + 256) and leaves -1 (EOF) alone,
/// so a nocase range compares high bytes unsigned while a case-sensitive one
/// compares them signed. Redis inherits that; so do we.
#[inline]
fn lower_signed(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else if (-128..=-2).contains(&c) {
        c + 256
    } else {
        c
    }
}

/// `int start = pattern[0]` in C: `char` is signed on x86-64.
#[inline]
fn as_c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// `stringmatchlen_impl`. `p` and `s` are the C pointers as offsets into the
/// pattern and the string; the C `patternLen`/`stringLen` are the remaining
/// lengths `pat.len() - p` and `string.len() - s`.
fn match_impl(pat: &[u8], mut p: usize, string: &[u8], mut s: usize, nocase: bool, skip_longer_matches: &mut bool, nesting: u32) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }

    while p < pat.len() && s < string.len() {
        match pat[p] {
            b'*' => {
                // Collapse runs of stars: they match the same things as one.
                while p < pat.len() && at(pat, p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true; // a trailing star matches the rest
                }
                while s < string.len() {
                    if match_impl(pat, p + 1, string, s, nocase, skip_longer_matches, nesting + 1) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    s += 1;
                }
                // Redis: the rest of the pattern matches nowhere in the rest
                // of the string, so letting an earlier `*` swallow more
                // characters cannot help either; tell every caller to stop.
                // This is what keeps `a*a*a*...b` linear instead of
                // exponential.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => {
                s += 1;
            }
            b'[' => {
                p += 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                }
                let c = string[s];
                let mut matched = false;
                loop {
                    let plen = pat.len() - p;
                    if at(pat, p) == b'\\' && plen >= 2 {
                        p += 1;
                        // Redis compares escaped class members exactly,
                        // ignoring nocase.
                        if pat[p] == c {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if plen == 0 {
                        // Unterminated class: step back so the common
                        // `p += 1` below lands exactly at the end.
                        p -= 1;
                        break;
                    } else if plen >= 3 && pat[p + 1] == b'-' {
                        let mut start = as_c_char(pat[p]);
                        let mut end = as_c_char(pat[p + 2]);
                        let mut ch = as_c_char(c);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower_signed(start);
                            end = lower_signed(end);
                            ch = lower_signed(ch);
                        }
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if !nocase {
                        if pat[p] == c {
                            matched = true;
                        }
                    } else if lower(pat[p]) == lower(c) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            first => {
                let mut pc = first;
                if first == b'\\' && pat.len() - p >= 2 {
                    p += 1;
                    pc = pat[p];
                }
                let c = string[s];
                let equal = if nocase { lower(pc) == lower(c) } else { pc == c };
                if !equal {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == string.len() {
            // The string is exhausted: trailing stars match the empty rest.
            while at(pat, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p == pat.len() && s == string.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;
    use std::time::{Duration, Instant};

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn question_mark_matches_exactly_one() {
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(!m("h?llo", "heello"));
        assert!(!m("?", ""));
    }

    #[test]
    fn star_matches_any_run() {
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(!m("h*llo", "heeeellx"));
        assert!(m("*", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("*b*", "abc"));
        assert!(!m("*b*", "ac"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn lone_star_does_not_match_empty_string_like_redis() {
        // Redis's KEYS/SCAN special-case "*"; the matcher itself says no.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
    }

    #[test]
    fn classes_sets_ranges_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hallo"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        // Reversed ranges are swapped, as in Redis.
        assert!(m("[z-a]", "m"));
        // "]" right after "[" closes an empty class, which matches nothing.
        assert!(!m("[]]", "]"));
        // "[a-]": a range from 'a' down to ']' (swapped), then no "]" left.
        assert!(m("[a-]", "_"));
        assert!(!m("[a-]", "b"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?b", "a?b"));
        assert!(!m("a\\?b", "axb"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // A trailing backslash is a literal backslash.
        assert!(m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
    }

    #[test]
    fn unterminated_class_edge_cases() {
        // Pattern ending in "[": the class is empty, so it matches nothing
        // and the string must still provide a character for it.
        assert!(!m("a[", "a["));
        assert!(!m("a[", "a"));
        assert!(!m("a[", "ab"));
        // "[^" alone: a negated empty class, matches any one character.
        assert!(m("[^", "x"));
        assert!(!m("[^", "xy"));
        assert!(!m("[^", ""));
        // "[ab" without "]" still works as a class to the end of the pattern.
        assert!(m("x[ab", "xb"));
        assert!(!m("x[ab", "xc"));
    }

    #[test]
    fn nocase() {
        assert!(mi("HELLO", "hello"));
        assert!(!m("HELLO", "hello"));
        assert!(mi("h[A-Z]llo", "hello"));
        assert!(mi("h[E]llo", "hello"));
        assert!(mi("*MAX*", "maxmemory"));
        // Escaped class members ignore nocase, as in Redis.
        assert!(!mi("[\\E]", "e"));
    }

    #[test]
    fn high_bytes_compare_as_signed_char_in_ranges() {
        // On x86-64 Redis, 0xff is -1, below 'a', so [a-\xff] is [\xff-a].
        assert!(glob_match(b"[a-\xff]", b"\x01", false));
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(glob_match(b"\xe9*", b"\xe9t\xe9", false));
        // With nocase, glibc's tolower maps them back to 128..=254, so the
        // same kind of range no longer contains a high byte.
        assert!(glob_match(b"[?-\x9c]", b"\xe9", false));
        assert!(!glob_match(b"[?-\x9c]", b"\xe9", true));
    }

    #[test]
    fn pathological_star_pattern_is_fast() {
        let s = vec![b'a'; 100];
        let start = Instant::now();
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*a*a*b", &s, false));
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &s, true));
        assert!(start.elapsed() < Duration::from_secs(1));
        let mut hit = s.clone();
        hit.push(b'b');
        assert!(glob_match(b"a*a*a*a*a*a*a*a*a*a*b", &hit, false));
    }

    #[test]
    fn deep_nesting_gives_up_instead_of_overflowing() {
        // Redis's regression test: KEYS with "*?" repeated 50000 times
        // against a 50000-byte key returns nothing and does not crash.
        let pat = b"*?".repeat(50_000);
        let key = vec![b'a'; 50_000];
        let start = Instant::now();
        assert!(!glob_match(&pat, &key, false));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Under the limit the same shape still matches.
        let pat = b"*?".repeat(100);
        let key = vec![b'a'; 150];
        assert!(glob_match(&pat, &key, false));
    }
}
