//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.

use shards::ops::bitmap::{bit_range, bitop, first_bit, popcount, FieldOp, Overflow};
use shards::value::{StrValue, Value};

use super::flag::*;
use super::{arg_i64, row, CmdResult, CommandSpec, Handler::Data, KeySpec, Route};
use crate::dispatch::{CmdError, Exec};
use crate::protocol::parse::Args;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// getBitOffsetFromArgument: a non-negative offset below proto-max-bulk-len bytes; with
/// `hash_bits`, "#N" means N fields of that width (BITFIELD).
fn bit_offset(x: &Exec<'_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (text, mult) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let v = shards::value::parse_i64_strict(text).ok_or(CmdError::Static(BAD_OFFSET))?;
    let v = v.checked_mul(mult).ok_or(CmdError::Static(BAD_OFFSET))?;
    if v < 0 || (v >> 3) as u64 >= x.server.hot().proto_max_bulk_len {
        return Err(CmdError::Static(BAD_OFFSET));
    }
    Ok(v as u64)
}

fn setbit(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let offset = bit_offset(x, &a[2], None)?;
    let on = match &a[3][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::Static(BAD_BIT)),
    };
    let db = x.db;
    let (old, changes) = x.shard(&a[1]).setbit(db, &a[1], offset, on)?;
    x.dirty = Some(changes);
    x.reply.int(old as i64);
    Ok(())
}

fn getbit(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let offset = bit_offset(x, &a[2], None)?;
    let db = x.db;
    let bit = x.shard(&a[1]).with_string_bytes(db, &a[1], |b| b.map(|b| shards::ops::bitmap::get_field(b, offset, 1, false)).unwrap_or(0))?;
    x.reply.int(bit);
    Ok(())
}

fn unit(arg: &[u8]) -> Result<bool, CmdError> {
    if arg.eq_ignore_ascii_case(b"BIT") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"BYTE") {
        Ok(false)
    } else {
        Err(CmdError::syntax())
    }
}

fn bitcount(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let range = match a.len() {
        2 => None,
        4 | 5 => {
            let s = arg_i64(&a[2])?;
            let e = arg_i64(&a[3])?;
            let bits = if a.len() == 5 { unit(&a[4])? } else { false };
            Some((s, e, bits))
        }
        _ => return Err(CmdError::syntax()),
    };
    let db = x.db;
    let n = x.shard(&a[1]).with_string_bytes(db, &a[1], |b| {
        let b = b.unwrap_or(&[]);
        let (s, e, bits) = range.unwrap_or((0, -1, false));
        // Two negative indexes with start after end: nothing, as Redis.
        if s < 0 && e < 0 && s > e {
            return 0;
        }
        match bit_range(b.len(), s, e, bits) {
            Some((f, l)) => popcount(b, f, l),
            None => 0,
        }
    })?;
    x.reply.int(n as i64);
    Ok(())
}

fn bitpos(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let bit = match arg_i64(&a[2])? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::Static("ERR The bit argument must be 1 or 0.")),
    };
    if a.len() > 6 {
        return Err(CmdError::syntax());
    }
    let start = if a.len() >= 4 { Some(arg_i64(&a[3])?) } else { None };
    let end = if a.len() >= 5 { Some(arg_i64(&a[4])?) } else { None };
    let bits = if a.len() == 6 { unit(&a[5])? } else { false };
    let db = x.db;
    let pos = x.shard(&a[1]).with_string_bytes(db, &a[1], |b| {
        // A missing key is an endless run of zero bits.
        let Some(b) = b else { return if bit { -1 } else { 0 } };
        let s = start.unwrap_or(0);
        let e = end.unwrap_or(if bits { b.len() as i64 * 8 - 1 } else { b.len() as i64 - 1 });
        let Some((f, l)) = bit_range(b.len(), s, e, bits) else { return -1 };
        match first_bit(b, f, l, bit) {
            Some(p) => p as i64,
            // Looking for a clear bit without an explicit end: the string is taken as padded
            // with zeros on the right, so the answer is the first bit after it.
            None if !bit && end.is_none() => (l as i64 / 8 + 1) * 8,
            None => -1,
        }
    })?;
    x.reply.int(pos);
    Ok(())
}

fn bitop_cmd(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    let op = a[1].to_ascii_lowercase();
    if !matches!(op.as_slice(), b"and" | b"or" | b"xor" | b"not") {
        return Err(CmdError::syntax());
    }
    if op == b"not" && a.len() != 4 {
        return Err(CmdError::Static("ERR BITOP NOT must be called with a single source key."));
    }
    let db = x.db;
    let mut sources = Vec::with_capacity(a.len() - 3);
    for i in 3..a.len() {
        let v = x.shard(&a[i]).with_string_bytes(db, &a[i], |b| b.map(|b| b.to_vec()).unwrap_or_default())?;
        sources.push(v);
    }
    let out = bitop(&op, &sources);
    let dest = &a[2];
    let stored = x.shard(dest).store_or_delete(db, dest, out.len(), || Value::Str(StrValue::Raw(out)));
    x.dirty = Some(stored.changed as u64);
    x.reply.int(stored.len as i64);
    Ok(())
}

fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(CmdError::Static(BAD_TYPE)),
    };
    let bits = shards::value::parse_i64_strict(&arg[1..]).ok_or(CmdError::Static(BAD_TYPE))?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(CmdError::Static(BAD_TYPE));
    }
    Ok((signed, bits as u32))
}

fn bitfield_generic(x: &mut Exec<'_>, a: &Args<'_>, read_only: bool) -> CmdResult {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 2;
    while i < a.len() {
        let rem = a.len() - i - 1;
        let sub = a[i].to_ascii_lowercase();
        match sub.as_slice() {
            b"overflow" if rem >= 1 => {
                overflow = match a[i + 1].to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(CmdError::Static("ERR Invalid OVERFLOW type specified")),
                };
                i += 2;
                continue;
            }
            b"get" if rem >= 2 => {
                let (signed, bits) = field_type(&a[i + 1])?;
                let offset = bit_offset(x, &a[i + 2], Some(bits))?;
                ops.push(FieldOp::Get { signed, bits, offset });
                i += 3;
            }
            b"set" | b"incrby" if rem >= 3 => {
                let (signed, bits) = field_type(&a[i + 1])?;
                let offset = bit_offset(x, &a[i + 2], Some(bits))?;
                let v = arg_i64(&a[i + 3])?;
                ops.push(if sub == b"set" {
                    FieldOp::Set { signed, bits, offset, value: v, overflow }
                } else {
                    FieldOp::Incr { signed, bits, offset, incr: v, overflow }
                });
                i += 4;
            }
            _ => return Err(CmdError::syntax()),
        }
    }
    if read_only && ops.iter().any(|o| !matches!(o, FieldOp::Get { .. })) {
        return Err(CmdError::Static("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let db = x.db;
    let (out, changes) = x.shard(&a[1]).bitfield(db, &a[1], &ops)?;
    x.dirty = Some(changes);
    x.reply.array_len(out.len());
    for v in out {
        match v {
            Some(n) => x.reply.int(n),
            None => x.reply.null(),
        }
    }
    Ok(())
}

fn bitfield(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    bitfield_generic(x, a, false)
}

fn bitfield_ro(x: &mut Exec<'_>, a: &Args<'_>) -> CmdResult {
    bitfield_generic(x, a, true)
}

const K1: KeySpec = KeySpec::Range(1, 1, 1);
const G: &str = "bitmap";

pub static COMMANDS: &[CommandSpec] = &[
    row(
        "setbit",
        4,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(setbit),
        G,
        "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key",
        "key offset value",
    ),
    row(
        "getbit",
        3,
        READONLY | FAST,
        K1,
        Route::Keys,
        Data(getbit),
        G,
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
        "key offset",
    ),
    row("bitcount", -2, READONLY, K1, Route::Keys, Data(bitcount), G, "2.6.0", "Count set bits in a string", "key [start end [BYTE|BIT]]"),
    row("bitpos", -3, READONLY, K1, Route::Keys, Data(bitpos), G, "2.8.7", "Find first bit set or clear in a string", "key bit [start [end [BYTE|BIT]]]"),
    row(
        "bitop",
        -4,
        WRITE | DENYOOM,
        KeySpec::Range(2, -1, 1),
        Route::Keys,
        Data(bitop_cmd),
        G,
        "2.6.0",
        "Perform bitwise operations between strings",
        "AND|OR|XOR|NOT destkey key [key ...]",
    ),
    row(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        K1,
        Route::Keys,
        Data(bitfield),
        G,
        "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
        "key [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment [GET encoding offset ...]]",
    ),
    row(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        K1,
        Route::Keys,
        Data(bitfield_ro),
        G,
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        "key [GET encoding offset [GET encoding offset ...]]",
    ),
];
