//! SORT and SORT_RO (Redis's sort.c): sort a list, set or sorted set by its elements or by the
//! weights a BY pattern names, take a LIMIT range, reply the elements or the values GET patterns
//! name, or STORE them as a list.
//!
//! A BY or GET pattern with '*' can name a key on any shard, so such a SORT holds every shard
//! (`Route::KeysOrAll`); without one it touches only its key and the STORE destination. The
//! handler reaches every key through `x.shard(key)`, so the same code runs either way.

use std::cmp::Ordering;

use shards::ops::sort::{c_str, has_star, pattern_target, pqsort, sort_score, Load, PatternTarget, SortKind};

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::parse::Args;
use crate::protocol::Reply;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// SORT's options, as sortCommandGeneric reads them.
struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    /// The argument index of the STORE destination (the last STORE wins).
    store: Option<usize>,
    /// The last BY pattern.
    by: Option<&'a [u8]>,
    /// Some BY pattern had no '*': nothing is sorted (this sticks even if a later BY has one).
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

impl SortOptions<'_> {
    /// Whether running these options looks up keys named by a pattern.
    fn reaches_pattern_keys(&self) -> bool {
        (!self.dontsort && self.by.is_some()) || self.gets.iter().any(|g| has_star(g))
    }
}

/// The option parser of sortCommandGeneric; SORT_RO (`readonly`) has no STORE.
fn parse<'a>(a: &Args<'a>, readonly: bool) -> Result<SortOptions<'a>, CmdError> {
    let mut o = SortOptions { desc: false, alpha: false, limit_start: 0, limit_count: -1, store: None, by: None, dontsort: false, gets: Vec::new() };
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j);
        let left = a.len() - j - 1;
        if opt.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if opt.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if opt.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if opt.eq_ignore_ascii_case(b"limit") && left >= 2 {
            o.limit_start = arg_i64(a.get(j + 1))?;
            o.limit_count = arg_i64(a.get(j + 2))?;
            j += 2;
        } else if !readonly && opt.eq_ignore_ascii_case(b"store") && left >= 1 {
            o.store = Some(j + 1);
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"by") && left >= 1 {
            let pattern = a.get(j + 1);
            // A constant BY (no '*') means: do not sort, and look nothing up.
            o.dontsort |= !has_star(pattern);
            o.by = Some(pattern);
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"get") && left >= 1 {
            o.gets.push(a.get(j + 1));
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    Ok(o)
}

/// SORT's key positions: the key and the STORE destination the command will write. For
/// arguments that do not parse (the command fails before touching any key), Redis's
/// sortGetKeys scan, so COMMAND GETKEYS answers as Redis does.
fn sort_keys(a: &Args<'_>) -> Vec<usize> {
    if let Ok(o) = parse(a, false) {
        return std::iter::once(1).chain(o.store).collect();
    }
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < a.len() {
        let arg = a.get(i);
        if arg.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if arg.eq_ignore_ascii_case(b"get") || arg.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"store") && i + 1 < a.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

fn sort_reaches_pattern_keys(a: &Args<'_>) -> bool {
    parse(a, false).is_ok_and(|o| o.reaches_pattern_keys())
}

fn sort_ro_reaches_pattern_keys(a: &Args<'_>) -> bool {
    parse(a, true).is_ok_and(|o| o.reaches_pattern_keys())
}

/// One element being sorted and what it sorts by.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the weight's bytes, None when the pattern found nothing (sorts first).
    weight: Option<Vec<u8>>,
}

/// lookupKeyByPattern for `elem`, then `f` on the value found (None: nothing found).
fn lookup_pattern<R>(x: &mut Exec<'_>, pattern: &[u8], elem: &[u8], f: impl FnOnce(&[u8], &mut Reply) -> R) -> Option<R> {
    let db = x.db;
    match pattern_target(pattern, elem) {
        PatternTarget::Element => Some(f(elem, x.reply)),
        PatternTarget::Nothing => None,
        PatternTarget::Key(key, field) => {
            let (shard, reply) = x.shard_and_reply(&key);
            shard.sort_lookup(db, &key, field, |v| f(v, reply))
        }
    }
}

/// strcoll in the C (or C.UTF-8) locale, which Redis's ALPHA uses without STORE: byte order up
/// to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    c_str(a).cmp(c_str(b))
}

/// sortCompare: numeric by score, equal scores by the elements' bytes; ALPHA by the BY weights
/// (missing ones first) or by the elements, binary with STORE and collated without.
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, store: bool) -> Ordering {
    let bytes = |x: &[u8], y: &[u8]| if store { x.cmp(y) } else { collate(x, y) };
    if !alpha {
        a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.elem.cmp(&b.elem))
    } else if by {
        match (&a.weight, &b.weight) {
            (Some(x), Some(y)) => bytes(x, y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        }
    } else {
        bytes(&a.elem, &b.elem)
    }
}

fn sort(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    sort_generic(x, a, false)
}

fn sort_ro(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    sort_generic(x, a, true)
}

fn sort_generic(x: &mut Exec<'_>, a: &Args<'_>, readonly: bool) -> CmdResult {
    let o = parse(a, readonly)?;
    let db = x.db;
    let (mut dontsort, mut alpha) = (o.dontsort, o.alpha);
    // Weights are looked up only when sorting: a constant BY (dontsort) is never read.
    let by = if dontsort { None } else { o.by };
    let (mut start, mut end) = (0i64, -1i64);
    let (_, elems) = x.shard(&a[1]).sort_source(db, &a[1], |kind, len| {
        // A set has no order of its own: sorted anyway when the result is stored, so that it
        // is the same everywhere it is replayed.
        if dontsort && kind == SortKind::Set && o.store.is_some() {
            (dontsort, alpha) = (false, true);
        }
        let len = len as i64;
        start = o.limit_start.clamp(0, len);
        let count = o.limit_count.clamp(-1, len);
        end = if count < 0 { len - 1 } else { start + count - 1 };
        if start >= len {
            (start, end) = (len - 1, len - 2);
        }
        end = end.min(len - 1);
        if !dontsort || kind == SortKind::Set {
            return Load::All;
        }
        // A list or sorted set kept in its own order: load only the range, from the tail
        // when DESC.
        let load = Load::Range { start: start.max(0) as usize, count: (end - start + 1).max(0) as usize, desc: o.desc };
        (start, end) = (0, end - start);
        load
    })?;
    let mut items: Vec<Item> = elems.into_iter().map(|elem| Item { elem, score: 0.0, weight: None }).collect();
    if !dontsort {
        for it in items.iter_mut() {
            if let Some(pattern) = by {
                if alpha {
                    it.weight = lookup_pattern(x, pattern, &it.elem, |v, _| v.to_vec());
                } else if let Some(score) = lookup_pattern(x, pattern, &it.elem, |v, _| sort_score(v)) {
                    it.score = score.ok_or(CmdError::Static(NOT_DOUBLE))?;
                }
            } else if !alpha {
                it.score = sort_score(&it.elem).ok_or(CmdError::Static(NOT_DOUBLE))?;
            }
        }
        let (store, desc, by) = (o.store.is_some(), o.desc, by.is_some());
        let order = |p: &Item, q: &Item| {
            let c = compare(p, q, alpha, by, store);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        let last = items.len() as i64 - 1;
        if by && (start != 0 || end != last) {
            // Only the LIMIT range is sorted (pqsort), as Redis does with BY.
            if end >= start {
                pqsort(&mut items, start as usize, end as usize, order);
            }
        } else {
            // glibc's qsort is a merge sort: stable, like sort_by.
            items.sort_by(order);
        }
    }
    let range = if end >= start { start as usize..end as usize + 1 } else { 0..0 };
    let picked = items.get(range).unwrap_or_default();
    let Some(dest_at) = o.store else {
        x.reply.array_len(picked.len() * o.gets.len().max(1));
        for it in picked {
            if o.gets.is_empty() {
                x.reply.bulk(&it.elem);
            }
            for g in &o.gets {
                if lookup_pattern(x, g, &it.elem, |v, reply| reply.bulk(v)).is_none() {
                    x.reply.null();
                }
            }
        }
        x.dirty = Some(0);
        return Ok(());
    };
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(picked.len() * o.gets.len().max(1));
    for it in picked {
        if o.gets.is_empty() {
            out.push(it.elem.clone());
        }
        for g in &o.gets {
            // A stored GET that found nothing is an empty string.
            out.push(lookup_pattern(x, g, &it.elem, |v, _| v.to_vec()).unwrap_or_default());
        }
    }
    let dest = a.get(dest_at);
    let fill = x.server.limits().list_max_listpack_size;
    let stored = x.shard(dest).sort_store(db, dest, out.iter().map(Vec::as_slice), fill);
    // Redis counts the elements stored, or one for a destination an empty result deleted.
    x.dirty = Some(if stored.len > 0 { stored.len as u64 } else { stored.changed as u64 });
    x.reply.int(stored.len as i64);
    Ok(())
}

const SYNTAX_RO: &str = "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]";

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "sort",
        -2,
        WRITE | DENYOOM,
        KeySpec::Custom(sort_keys, 1, 1, 1),
        Route::KeysOrAll(sort_reaches_pattern_keys),
        Data(sort),
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]",
    ),
    row(
        "sort_ro",
        -2,
        READONLY,
        KeySpec::Range(1, 1, 1),
        Route::KeysOrAll(sort_ro_reaches_pattern_keys),
        Data(sort_ro),
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        SYNTAX_RO,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn keys_are_the_key_and_the_last_store() {
        let keys = |w: &[&str]| sort_keys(&Args::from_owned(&args(w)));
        assert_eq!(keys(&["sort", "abc", "store", "def"]), vec![1, 3]);
        assert_eq!(keys(&["sort", "abc", "store", "invalid", "store", "stillbad", "store", "def"]), vec![1, 7]);
        assert_eq!(keys(&["sort", "abc", "limit", "0", "1", "get", "store", "alpha"]), vec![1]);
        // Arguments SORT refuses: Redis's sortGetKeys scan.
        assert_eq!(keys(&["sort", "abc", "bogus", "store", "def"]), vec![1, 4]);
        // The destination SORT writes, where sortGetKeys would skip it after "store limit".
        assert_eq!(keys(&["sort", "k", "store", "limit", "store", "d2", "alpha"]), vec![1, 5]);
    }

    #[test]
    fn only_patterns_with_a_star_reach_other_keys() {
        let reaches = |w: &[&str]| sort_reaches_pattern_keys(&Args::from_owned(&args(w)));
        assert!(!reaches(&["sort", "k"]));
        assert!(!reaches(&["sort", "k", "by", "nosort", "get", "#", "get", "const", "store", "d"]));
        assert!(reaches(&["sort", "k", "by", "w_*"]));
        assert!(reaches(&["sort", "k", "get", "o_*->f"]));
        // A constant BY anywhere means no sorting, so no weight lookups.
        assert!(!reaches(&["sort", "k", "by", "nosort", "by", "w_*"]));
        assert!(!reaches(&["sort", "k", "by", "w_*", "bogus"]));
        assert!(!sort_ro_reaches_pattern_keys(&Args::from_owned(&args(&["sort_ro", "k", "by", "w_*", "store", "d"]))));
    }

    #[test]
    fn alpha_without_store_collates_up_to_a_nul() {
        assert_eq!(collate(b"a\0b", b"a\0c"), Ordering::Equal);
        assert_eq!(collate(b"a", b"a\0c"), Ordering::Equal);
        assert_eq!(collate(b"10", b"2"), Ordering::Less);
        assert_eq!(collate(b"\xff", b"a"), Ordering::Greater);
    }
}
