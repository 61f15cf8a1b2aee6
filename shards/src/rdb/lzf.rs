//! LZF compression for RDB strings, in liblzf's format (decompression is the `lzf` crate's).
//!
//! Why not the crates' compressors: `lzf` 1.0 allocates and zeroes a 512 KiB hash table on
//! every call, `lzf-rust` 0.1 zeroes a 256 KiB one on the stack. An RDB compresses every string
//! longer than 20 bytes, so saving 100k 32-byte values spent most of its time in memset (18% of
//! the shard thread during an AOF rewrite under load, perf). Redis's own lzf_c.c never
//! initialises its table (INIT_HTAB 0): a candidate match is checked byte by byte before use,
//! so a stale slot can only cost a missed match. This does the same with one table per thread,
//! reused across calls.
//!
//! The format (liblzf's, what lzf_decompress reads):
//! - `000LLLLL` then L+1 literal bytes (1..=32);
//! - `LLLooooo oooooooo`: a back reference of L+2 bytes (L in 1..=6) at distance o+1 (o < 8192);
//! - `111ooooo LLLLLLLL oooooooo`: the same with length L+9 (up to 264).

use std::cell::RefCell;

const HLOG: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

type Table = [u32; 1 << HLOG];

thread_local! {
    static TABLE: RefCell<Box<Table>> = RefCell::new(Box::new([0u32; 1 << HLOG]));
}

/// The table slot of three bytes `v` (the first in bits 16..24): below 2^HLOG by construction,
/// so indexing a [`Table`] needs no bounds check.
#[inline]
fn slot(v: u32) -> usize {
    (v.wrapping_mul(2_654_435_761) >> (32 - HLOG)) as usize
}

/// The three bytes at `at`, as [`slot`] takes them.
#[inline]
fn three(input: &[u8], at: usize) -> u32 {
    (input[at] as u32) << 16 | (input[at + 1] as u32) << 8 | input[at + 2] as u32
}

/// Appends the literal bytes `lits` as runs of at most 32.
fn literals(out: &mut Vec<u8>, lits: &[u8]) {
    for run in lits.chunks(MAX_LIT) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

/// Appends `input` compressed to `out` if that takes at most `max_len` bytes; otherwise leaves
/// `out` as it was and returns false.
pub fn compress(input: &[u8], out: &mut Vec<u8>, max_len: usize) -> bool {
    TABLE.with(|t| {
        let mut table = t.borrow_mut();
        let start = out.len();
        let ok = compress_with(input, out, start + max_len, &mut table);
        if !ok {
            out.truncate(start);
        }
        ok
    })
}

/// How many bytes from `pos` repeat those from `cand` (< `pos`), at least the 3 already
/// compared, at most `max` (with `pos + max <= input.len()`). Eight bytes per step: a long
/// run (a value of one repeated byte, as redis-benchmark writes) cost ~350 instructions a
/// byte at a time.
#[inline]
fn match_len(input: &[u8], cand: usize, pos: usize, max: usize) -> usize {
    let mut len = 3;
    while len + 8 <= max {
        let word = |at: usize| u64::from_le_bytes(input[at..at + 8].try_into().expect("8 bytes"));
        let diff = word(cand + len) ^ word(pos + len);
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && input[cand + len] == input[pos + len] {
        len += 1;
    }
    len
}

/// What [`scan`] found.
enum Scan {
    /// The bytes at `.0` repeat those at `.1` (an earlier position of this input).
    Match(usize, usize),
    /// No match before the input's last three bytes.
    End,
    /// The literals pending would already take the output past its limit.
    OverLimit,
}

/// Looks for the next position from `from` (at most `n - 3`) whose three bytes a table slot
/// says were seen at an earlier position, recording each position passed in the table; gives
/// up at `stop`. Most strings an RDB holds do not compress (redis-benchmark's values are
/// random), so this loop runs over nearly every byte of a snapshot: it is kept apart from the
/// emitting code so that it needs few registers, and the three bytes at the position are kept
/// in a rolling `v` (one new byte per step).
#[inline]
fn scan(input: &[u8], from: usize, stop: usize, table: &mut Table) -> Scan {
    let mut v = (input[from] as u32) << 8 | input[from + 1] as u32;
    for (p, &b) in (from..).zip(&input[from + 2..]) {
        if p >= stop {
            return Scan::OverLimit;
        }
        v = (v << 8 | b as u32) & 0xFF_FFFF;
        let h = slot(v);
        let cand = table[h] as usize;
        table[h] = p as u32;
        // A slot may hold a position from this input or from an earlier one: only a position
        // before this one whose three bytes match is a reference.
        if cand < p && p - cand - 1 < MAX_OFF && three(input, cand) == v {
            return Scan::Match(p, cand);
        }
    }
    Scan::End
}

/// The compressor proper: literals up to each match [`scan`] finds, then the back reference.
/// `out.len() <= limit` whenever a scan starts, so `stop` (where the pending literals alone
/// would pass the limit) is well defined.
fn compress_with(input: &[u8], out: &mut Vec<u8>, limit: usize, table: &mut Table) -> bool {
    let n = input.len();
    let (mut pos, mut lit) = (0, 0);
    while pos + 2 < n {
        let stop = lit + (limit - out.len()) + 1;
        let (at, cand) = match scan(input, pos, stop, table) {
            Scan::Match(at, cand) => (at, cand),
            Scan::End => break,
            Scan::OverLimit => return false,
        };
        literals(out, &input[lit..at]);
        let len = match_len(input, cand, at, (n - at).min(MAX_REF));
        let (l, off) = (len - 2, at - cand - 1);
        if l < 7 {
            out.push((l << 5 | off >> 8) as u8);
        } else {
            out.push((7 << 5 | off >> 8) as u8);
            out.push((l - 7) as u8);
        }
        out.push(off as u8);
        pos = at + len;
        lit = pos;
        if out.len() > limit {
            return false;
        }
    }
    literals(out, &input[lit..]);
    out.len() <= limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(input: &[u8]) -> Option<usize> {
        let mut out = vec![0xAA]; // compress appends
        if !compress(input, &mut out, input.len()) {
            assert_eq!(out, [0xAA], "a refused compression leaves the buffer as it was");
            return None;
        }
        let back = ::lzf::decompress(&out[1..], input.len()).expect("the lzf crate decodes it");
        assert_eq!(back, input);
        Some(out.len() - 1)
    }

    #[test]
    fn the_lzf_crate_decodes_what_this_encodes() {
        assert_eq!(roundtrip(&[b'x'; 100]), Some(5), "a run compresses to a literal and a long reference");
        let text = b"the quick brown fox jumps over the lazy dog; the quick brown fox jumps again".repeat(20);
        assert!(roundtrip(&text).unwrap() < text.len() / 4);
        // Long matches (more than 264 bytes) and far ones (beyond 8 KiB) split or become literals.
        let mut rng = 0x1234_5678_u64;
        let mut random = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        };
        let noise: Vec<u8> = (0..10_000).map(|_| random()).collect();
        let mut mixed = noise.clone();
        mixed.extend_from_slice(&noise[..3000]);
        mixed.extend_from_slice(&[0u8; 1000]);
        mixed.extend_from_slice(&noise[..9000]);
        assert!(roundtrip(&mixed).is_some());
        // Incompressible input is refused, within the limit.
        assert_eq!(roundtrip(&noise), None);
    }

    #[test]
    fn match_len_is_the_byte_by_byte_length() {
        let mut rng = 99u64;
        for _ in 0..5000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let n = 4 + (rng >> 40) as usize % 400;
            // Few distinct bytes, so long matches are common.
            let input: Vec<u8> = (0..n).map(|i| b'a' + ((rng >> (i % 23)) & 1) as u8).collect();
            let pos = 1 + (rng >> 20) as usize % (n - 3);
            let cand = (rng >> 30) as usize % pos;
            if input[cand..cand + 3] != input[pos..pos + 3] {
                continue;
            }
            let max = (n - pos).min(MAX_REF);
            let mut slow = 3;
            while slow < max && input[cand + slow] == input[pos + slow] {
                slow += 1;
            }
            assert_eq!(match_len(&input, cand, pos, max), slow, "n {n} cand {cand} pos {pos}");
        }
        let run = [b'x'; 300];
        assert_eq!(match_len(&run, 0, 1, MAX_REF), MAX_REF);
        assert_eq!(match_len(&run[..32], 0, 1, 31), 31);
    }

    #[test]
    fn stale_table_slots_from_other_inputs_never_corrupt_the_output() {
        let mut rng = 7u64;
        for round in 0..2000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = 3 + (rng >> 33) as usize % 300;
            let alphabet = 1 + round % 4;
            let input: Vec<u8> = (0..len).map(|i| b'a' + ((rng >> (i % 50)) as usize % alphabet) as u8).collect();
            let mut out = Vec::new();
            if compress(&input, &mut out, len + 64) {
                assert_eq!(::lzf::decompress(&out, len).unwrap(), input, "round {round}");
            }
        }
    }
}
