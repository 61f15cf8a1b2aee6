//! The packed blobs an RDB file carries as strings: listpacks (Redis 7's small hashes, sorted
//! sets and list nodes), ziplists (what Redis 6 and older wrote, still loaded by 7.0) and
//! intsets. Encoding follows listpack.c / intset.c byte for byte; decoding checks every length
//! against the blob so a damaged or hostile payload gives an error, never a panic.

/// One element of a listpack or ziplist: Redis stores integer-looking strings as integers.
#[derive(Debug, Clone, PartialEq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Elem<'_> {
    /// The element as the bytes a client sees.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Elem::Int(n) => itoa::Buffer::new().format(*n).as_bytes().to_vec(),
            Elem::Str(s) => s.to_vec(),
        }
    }
}

/// listpack.c's LP_HDR_SIZE: total bytes (u32) + element count (u16).
const LP_HDR: usize = 6;
const LP_EOF: u8 = 0xFF;
/// LP_HDR_NUMELE_UNKNOWN: the count field saturates; readers then walk the entries.
const LP_NUMELE_UNKNOWN: u16 = u16::MAX;

/// Builds a listpack the way lpAppend does: strings that are canonical integers
/// (lpStringToInt64) get the smallest integer encoding.
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        ListpackBuilder::new()
    }
}

impl ListpackBuilder {
    pub fn new() -> ListpackBuilder {
        ListpackBuilder { buf: vec![0; LP_HDR], count: 0 }
    }

    /// Bytes the listpack has so far (header included, terminator not).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes `s` would add (encoding, data and backlen).
    pub fn entry_size(s: &[u8]) -> usize {
        let enc = match crate::value::parse_i64_strict(s) {
            Some(n) => int_encoded_len(n),
            None => str_header_len(s.len()) + s.len(),
        };
        enc + backlen_size(enc)
    }

    pub fn push(&mut self, s: &[u8]) {
        match crate::value::parse_i64_strict(s) {
            Some(n) => self.push_int(n),
            None => {
                let start = self.buf.len();
                let l = s.len();
                if l < 64 {
                    self.buf.push(0x80 | l as u8);
                } else if l < 4096 {
                    self.buf.push(0xE0 | (l >> 8) as u8);
                    self.buf.push((l & 0xFF) as u8);
                } else {
                    self.buf.push(0xF0);
                    self.buf.extend_from_slice(&(l as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(s);
                self.finish_entry(start);
            }
        }
    }

    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&n) {
            self.buf.push(n as u8);
        } else if (-4096..=4095).contains(&n) {
            let u = (n as u64) & 0x1FFF;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push((u & 0xFF) as u8);
        } else if i16::try_from(n).is_ok() {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(n as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&n) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
        } else if i32::try_from(n).is_ok() {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(n as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
        self.finish_entry(start);
    }

    /// Appends the entry's backlen (lpEncodeBacklen: big-endian 7-bit groups, every byte but
    /// the first with the high bit set, so it reads right to left).
    fn finish_entry(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        let n = backlen_size(l as usize);
        for i in (0..n).rev() {
            let group = ((l >> (7 * i)) & 127) as u8;
            self.buf.push(if i == n - 1 { group } else { group | 128 });
        }
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let n = if self.count < LP_NUMELE_UNKNOWN as usize { self.count as u16 } else { LP_NUMELE_UNKNOWN };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

fn int_encoded_len(n: i64) -> usize {
    if (0..=127).contains(&n) {
        1
    } else if (-4096..=4095).contains(&n) {
        2
    } else if i16::try_from(n).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&n) {
        4
    } else if i32::try_from(n).is_ok() {
        5
    } else {
        9
    }
}

fn str_header_len(l: usize) -> usize {
    if l < 64 {
        1
    } else if l < 4096 {
        2
    } else {
        5
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64)
}

/// Every element of a listpack, in order; an error names what is wrong.
pub fn listpack_elems(lp: &[u8]) -> Result<Vec<Elem<'_>>, &'static str> {
    if lp.len() < LP_HDR + 1 {
        return Err("listpack too short");
    }
    if le(&lp[0..4]) as usize != lp.len() {
        return Err("listpack total bytes mismatch");
    }
    if lp[lp.len() - 1] != LP_EOF {
        return Err("listpack without terminator");
    }
    let declared = le(&lp[4..6]) as u16;
    let end = lp.len() - 1;
    let mut out = Vec::with_capacity(if declared == LP_NUMELE_UNKNOWN { 16 } else { declared as usize });
    let mut p = LP_HDR;
    let need = |p: usize, n: usize| if p + n <= end { Ok(()) } else { Err("listpack entry out of range") };
    while p < end {
        let b = lp[p];
        let (elem, enc_len) = if b & 0x80 == 0 {
            (Elem::Int((b & 0x7F) as i64), 1)
        } else if b & 0xC0 == 0x80 {
            let l = (b & 0x3F) as usize;
            need(p, 1 + l)?;
            (Elem::Str(&lp[p + 1..p + 1 + l]), 1 + l)
        } else if b & 0xE0 == 0xC0 {
            need(p, 2)?;
            let v = (((b & 0x1F) as u64) << 8) | lp[p + 1] as u64;
            (Elem::Int(sign_extend(v, 13)), 2)
        } else if b & 0xF0 == 0xE0 {
            need(p, 2)?;
            let l = (((b & 0x0F) as usize) << 8) | lp[p + 1] as usize;
            need(p, 2 + l)?;
            (Elem::Str(&lp[p + 2..p + 2 + l]), 2 + l)
        } else {
            let ints = |n: usize| -> Result<(Elem<'_>, usize), &'static str> {
                need(p, 1 + n)?;
                Ok((Elem::Int(sign_extend(le(&lp[p + 1..p + 1 + n]), 8 * n as u32)), 1 + n))
            };
            match b {
                0xF0 => {
                    need(p, 5)?;
                    let l = le(&lp[p + 1..p + 5]) as usize;
                    need(p, 5usize.checked_add(l).ok_or("listpack entry out of range")?)?;
                    (Elem::Str(&lp[p + 5..p + 5 + l]), 5 + l)
                }
                0xF1 => ints(2)?,
                0xF2 => ints(3)?,
                0xF3 => ints(4)?,
                0xF4 => ints(8)?,
                _ => return Err("listpack entry with a bad encoding"),
            }
        };
        let total = enc_len + backlen_size(enc_len);
        need(p, total)?;
        out.push(elem);
        p += total;
    }
    if declared != LP_NUMELE_UNKNOWN && declared as usize != out.len() {
        return Err("listpack element count mismatch");
    }
    Ok(out)
}

/// Every element of a ziplist (ziplist.c: zlbytes u32, zltail u32, zllen u16, entries of
/// prevlen + encoding + data, 0xFF).
pub fn ziplist_elems(zl: &[u8]) -> Result<Vec<Elem<'_>>, &'static str> {
    const HDR: usize = 10;
    if zl.len() < HDR + 1 || le(&zl[0..4]) as usize != zl.len() || zl[zl.len() - 1] != 0xFF {
        return Err("ziplist header is damaged");
    }
    let end = zl.len() - 1;
    let mut out = Vec::new();
    let mut p = HDR;
    let need = |p: usize, n: usize| if p + n <= end { Ok(()) } else { Err("ziplist entry out of range") };
    while p < end {
        need(p, 1)?;
        p += if zl[p] < 254 {
            1
        } else {
            need(p, 5)?;
            5
        };
        need(p, 1)?;
        let b = zl[p];
        let (elem, len) = match b >> 6 {
            0 => {
                let l = (b & 0x3F) as usize;
                need(p, 1 + l)?;
                (Elem::Str(&zl[p + 1..p + 1 + l]), 1 + l)
            }
            1 => {
                need(p, 2)?;
                let l = (((b & 0x3F) as usize) << 8) | zl[p + 1] as usize;
                need(p, 2 + l)?;
                (Elem::Str(&zl[p + 2..p + 2 + l]), 2 + l)
            }
            2 => {
                need(p, 5)?;
                let l = u32::from_be_bytes([zl[p + 1], zl[p + 2], zl[p + 3], zl[p + 4]]) as usize;
                need(p, 5 + l)?;
                (Elem::Str(&zl[p + 5..p + 5 + l]), 5 + l)
            }
            _ => {
                let int = |n: usize| -> Result<(Elem<'_>, usize), &'static str> {
                    need(p, 1 + n)?;
                    Ok((Elem::Int(sign_extend(le(&zl[p + 1..p + 1 + n]), 8 * n as u32)), 1 + n))
                };
                match b {
                    0xC0 => int(2)?,
                    0xD0 => int(4)?,
                    0xE0 => int(8)?,
                    0xF0 => int(3)?,
                    0xFE => int(1)?,
                    0xF1..=0xFD => (Elem::Int((b & 0x0F) as i64 - 1), 1),
                    _ => return Err("ziplist entry with a bad encoding"),
                }
            }
        };
        out.push(elem);
        p += len;
    }
    Ok(out)
}

/// An intset blob (intset.c: encoding u32 = 2/4/8, length u32, sorted little-endian ints).
pub fn intset_blob(ints: impl ExactSizeIterator<Item = i64> + Clone) -> Vec<u8> {
    let (lo, hi) = ints.clone().fold((0i64, 0i64), |(lo, hi), n| (lo.min(n), hi.max(n)));
    let width: usize = if i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok() {
        2
    } else if i32::try_from(lo).is_ok() && i32::try_from(hi).is_ok() {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * ints.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(ints.len() as u32).to_le_bytes());
    for n in ints {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset blob, checked as intsetValidateIntegrity does (deep).
pub fn intset_ints(blob: &[u8]) -> Result<Vec<i64>, &'static str> {
    if blob.len() < 8 {
        return Err("intset too short");
    }
    let width = le(&blob[0..4]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset with a bad encoding");
    }
    let count = le(&blob[4..8]) as usize;
    if count.checked_mul(width).and_then(|b| b.checked_add(8)) != Some(blob.len()) {
        return Err("intset length mismatch");
    }
    let ints: Vec<i64> = blob[8..].chunks_exact(width).map(|c| sign_extend(le(c), 8 * width as u32)).collect();
    if ints.windows(2).any(|w| w[0] >= w[1]) {
        return Err("intset not sorted");
    }
    Ok(ints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trips_every_encoding() {
        let big = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-4096".to_vec(),
            b"4095".to_vec(),
            b"-32768".to_vec(),
            b"8388607".to_vec(),
            b"-8388609".to_vec(),
            b"2147483647".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"".to_vec(),
            b"hello".to_vec(),
            mid.clone(),
            big.clone(),
        ];
        let mut b = ListpackBuilder::new();
        let mut predicted = LP_HDR + 1;
        for i in &items {
            predicted += ListpackBuilder::entry_size(i);
            b.push(i);
        }
        let lp = b.finish();
        assert_eq!(lp.len(), predicted);
        let back: Vec<Vec<u8>> = listpack_elems(&lp).unwrap().iter().map(Elem::to_vec).collect();
        assert_eq!(back, items);
    }

    #[test]
    fn listpack_matches_redis_bytes() {
        // redis-cli: HSET h a 1 ; DUMP h (7.0) carries this listpack.
        let mut b = ListpackBuilder::new();
        b.push(b"a");
        b.push(b"1");
        assert_eq!(b.finish(), vec![0x0c, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xFF]);
    }

    #[test]
    fn damaged_blobs_are_errors() {
        let mut b = ListpackBuilder::new();
        b.push(b"hello");
        let lp = b.finish();
        for cut in 0..lp.len() {
            assert!(listpack_elems(&lp[..cut]).is_err());
        }
        let mut bad = lp.clone();
        bad[6] = 0x8F; // string of 15 bytes: runs past the end
        assert!(listpack_elems(&bad).is_err());
        assert!(intset_ints(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0]).is_err());
        assert!(ziplist_elems(&[1, 2, 3]).is_err());
    }

    #[test]
    fn intset_round_trip_picks_width() {
        for ints in [vec![1i64, 2, 3], vec![-70000, 5], vec![i64::MIN, 0, i64::MAX]] {
            let blob = intset_blob(ints.iter().copied());
            assert_eq!(intset_ints(&blob).unwrap(), ints);
        }
        assert_eq!(intset_blob([1i64, 2].into_iter())[0], 2);
        assert_eq!(intset_blob([1i64, 1 << 40].into_iter())[0], 8);
    }

    #[test]
    fn ziplist_decodes_redis6_entries() {
        // A ziplist with "ab", 12 (immediate), 1000 (int16) as Redis 6 writes them.
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0, 0x02, b'a', b'b']);
        zl.extend_from_slice(&[4, 0xF1 + 12]);
        zl.extend_from_slice(&[2, 0xC0, 0xE8, 0x03]);
        zl.push(0xFF);
        let n = zl.len() as u32;
        zl[0..4].copy_from_slice(&n.to_le_bytes());
        zl[8] = 3;
        let got = ziplist_elems(&zl).unwrap();
        assert_eq!(got, vec![Elem::Str(b"ab"), Elem::Int(12), Elem::Int(1000)]);
    }
}
