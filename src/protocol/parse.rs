//! The request parser: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands
//! (`GET k\r\n`), with Redis's protocol errors and limits.
//!
//! Parsing is resumable like Redis's processMultibulkBuffer: a command whose bytes have not all
//! arrived keeps the arguments parsed so far, so a command with many arguments arriving in many
//! reads costs O(bytes), not O(reads x bytes). Arguments are ranges into the read buffer (no
//! copy); an inline command's arguments, which may be unquoted, are owned.

use memchr::memchr;

/// Redis's PROTO_INLINE_MAX_SIZE: a line (inline command, or a `*`/`$` header) must end within it.
pub const INLINE_MAX: usize = 64 * 1024;

/// A protocol error: Redis replies `-ERR Protocol error: ...` and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooBigMbulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    ExpectedDollar(u8),
    TooBigBulkCount,
    InvalidBulkLength,
    UnauthenticatedBulkLength,
    TooBigInline,
    UnbalancedQuotes,
}

impl ParseError {
    pub fn message(&self) -> String {
        match self {
            ParseError::TooBigMbulkCount => "ERR Protocol error: too big mbulk count string".into(),
            ParseError::InvalidMultibulkLength => "ERR Protocol error: invalid multibulk length".into(),
            ParseError::UnauthenticatedMultibulkLength => "ERR Protocol error: unauthenticated multibulk length".into(),
            ParseError::ExpectedDollar(c) => format!("ERR Protocol error: expected '$', got '{}'", *c as char),
            ParseError::TooBigBulkCount => "ERR Protocol error: too big bulk count string".into(),
            ParseError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ParseError::UnauthenticatedBulkLength => "ERR Protocol error: unauthenticated bulk length".into(),
            ParseError::TooBigInline => "ERR Protocol error: too big inline request".into(),
            ParseError::UnbalancedQuotes => "ERR Protocol error: unbalanced quotes in request".into(),
        }
    }
}

/// The second argument (for most commands, the first key) of each complete RESP multibulk
/// command at the start of `buf`, up to `out.len()` of them; stops at the first command that
/// is inline, incomplete or malformed (the parser proper reports those). A cheap look ahead
/// for prefetching, never a substitute for parsing.
/// Returns how many it found and where the last command it looked at ends.
pub fn peek_second_args<'a>(buf: &'a [u8], out: &mut [&'a [u8]]) -> (usize, usize) {
    // `<tag><digits>\r\n` at `at`: the number and where the next line starts. Headers are a few
    // bytes, so a plain scan for '\r' beats memchr here.
    fn line(buf: &[u8], at: usize, tag: u8) -> Option<(usize, usize)> {
        if *buf.get(at)? != tag {
            return None;
        }
        let digits = buf.get(at + 1..)?;
        let end = digits.iter().take(21).position(|&c| c == b'\r')?;
        let n = usize::try_from(parse_len(&digits[..end])?).ok()?;
        Some((n, at + 1 + end + 2))
    }
    let (mut pos, mut found) = (0, 0);
    while found < out.len() {
        let Some((argc, mut at)) = line(buf, pos, b'*') else { break };
        let mut second = None;
        for i in 0..argc {
            let Some((len, start)) = line(buf, at, b'$') else { return (found, pos) };
            match start.checked_add(len) {
                Some(end) if end + 2 <= buf.len() => {}
                _ => return (found, pos),
            }
            let end = start + len;
            if i == 1 {
                second = Some(&buf[start..end]);
            }
            at = end + 2;
        }
        if let Some(k) = second {
            out[found] = k;
            found += 1;
        }
        pos = at;
    }
    (found, pos)
}

/// One complete command: its arguments, as ranges into the command's bytes or owned (inline).
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(u32, u32)],
    owned: &'a [Vec<u8>],
    inline: bool,
}

impl<'a> Args<'a> {
    #[inline]
    pub fn len(&self) -> usize {
        if self.inline {
            self.owned.len()
        } else {
            self.ranges.len()
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        if self.inline {
            &self.owned[i]
        } else {
            let (s, l) = self.ranges[i];
            &self.buf[s as usize..(s + l) as usize]
        }
    }

    /// Arguments from `from` on, as a vector of slices (for the less hot paths).
    pub fn slice_from(&self, from: usize) -> Vec<&'a [u8]> {
        (from..self.len()).map(|i| self.get(i)).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Args built from owned vectors (tests, the coordinator's re-issued commands).
    pub fn from_owned(owned: &'a [Vec<u8>]) -> Args<'a> {
        Args { buf: &[], ranges: &[], owned, inline: true }
    }

    /// Args of a multibulk record parsed elsewhere (the AOF loader): `record` is its bytes as
    /// written, `ranges` each argument's (start, length) in them. [`Args::raw`] trusts the
    /// record's counts to be written as Redis writes them.
    pub fn from_record(record: &'a [u8], ranges: &'a [(u32, u32)]) -> Args<'a> {
        Args { buf: record, ranges, owned: &[], inline: false }
    }

    /// The command's bytes as received, when they are exactly what encoding its arguments as a
    /// RESP multibulk gives (`*<n>`, then `$<len>` and the data for each argument, every line
    /// ending in CRLF, lengths without leading zeros): a log of commands copies them in one
    /// piece instead of encoding them again. None for inline commands and for requests the
    /// parser accepted in another form (`$03`, a bulk not followed by CRLF...).
    ///
    /// The parser checked each header's digits ([`parse_len`] takes no sign or leading zero
    /// where a length is expected, as Redis does) but, as Redis, not the LF after a header's CR
    /// nor the CRLF after a bulk's data: those are checked here, three bytes per argument, by
    /// writers only.
    pub fn raw(&self) -> Option<&'a [u8]> {
        if self.inline {
            return None;
        }
        let b = self.buf;
        let star_lf = 1 + digits(self.ranges.len()) + 1;
        if b.get(star_lf) != Some(&b'\n') {
            return None;
        }
        let mut end = 0;
        for &(s, l) in self.ranges {
            let (s, e) = (s as usize, (s + l) as usize);
            if b[s - 1] != b'\n' || b[e] != b'\r' || b[e + 1] != b'\n' {
                return None;
            }
            end = e + 2;
        }
        Some(&b[..end])
    }
}

impl std::ops::Index<usize> for Args<'_> {
    type Output = [u8];
    #[inline]
    fn index(&self, i: usize) -> &[u8] {
        self.get(i)
    }
}

#[derive(Default)]
pub struct Parser {
    /// Arguments still expected by the multibulk in progress (0 = at a command boundary).
    remaining: usize,
    /// Offset, from the command's first byte, of the first byte not parsed yet.
    next: usize,
    ranges: Vec<(u32, u32)>,
    owned: Vec<Vec<u8>>,
    inline: bool,
    /// Length of the bulk whose header was parsed but whose data has not all arrived.
    pending_bulk: Option<usize>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Bytes still needed to finish the bulk in progress, if known (lets the reader size its
    /// buffer for a large value in one step instead of doubling).
    pub fn pending_bulk(&self) -> Option<usize> {
        self.pending_bulk
    }

    /// Bytes still missing to complete the bulk in progress, given `buffered` bytes from the
    /// start of the command; None when no bulk is in progress.
    pub fn bulk_bytes_missing(&self, buffered: usize) -> Option<usize> {
        self.pending_bulk.map(|len| (self.next + len + 2).saturating_sub(buffered))
    }

    /// Tries to parse one command starting at `buf[0]`. `Ok(Some(n))`: a command of `n` bytes
    /// is complete, read it with [`Parser::args`]; `Ok(Some(n))` with zero arguments is an empty
    /// command to skip. `Ok(None)`: more bytes are needed (the progress is kept).
    pub fn parse(&mut self, buf: &[u8], max_bulk: u64, authenticated: bool) -> Result<Option<usize>, ParseError> {
        if self.remaining == 0 && self.next == 0 {
            self.ranges.clear();
            self.inline = false;
            if buf.is_empty() {
                return Ok(None);
            }
            if buf[0] != b'*' {
                return self.parse_inline(buf);
            }
            let Some(nl) = memchr(b'\r', buf) else {
                if buf.len() > INLINE_MAX {
                    return Err(ParseError::TooBigMbulkCount);
                }
                return Ok(None);
            };
            if nl + 1 >= buf.len() {
                if buf.len() > INLINE_MAX {
                    return Err(ParseError::TooBigMbulkCount);
                }
                return Ok(None);
            }
            let n = parse_len(&buf[1..nl]).ok_or(ParseError::InvalidMultibulkLength)?;
            if n > i32::MAX as i64 {
                return Err(ParseError::InvalidMultibulkLength);
            }
            if !authenticated && n > 10 {
                return Err(ParseError::UnauthenticatedMultibulkLength);
            }
            if n <= 0 {
                // An empty multibulk is skipped, as Redis does.
                return Ok(Some(nl + 2));
            }
            self.remaining = n as usize;
            self.next = nl + 2;
            // Do not trust the count for the allocation: grow as arguments arrive.
            self.ranges.reserve((n as usize).min(1024));
        }
        while self.remaining > 0 {
            let at = self.next;
            let rest = &buf[at..];
            let len = match self.pending_bulk {
                Some(len) => len,
                None => {
                    if rest.is_empty() {
                        return Ok(None);
                    }
                    let Some(nl) = memchr(b'\r', rest) else {
                        if rest.len() > INLINE_MAX {
                            return Err(ParseError::TooBigBulkCount);
                        }
                        return Ok(None);
                    };
                    if rest[0] != b'$' {
                        return Err(ParseError::ExpectedDollar(rest[0]));
                    }
                    if nl + 1 >= rest.len() {
                        if rest.len() > INLINE_MAX {
                            return Err(ParseError::TooBigBulkCount);
                        }
                        return Ok(None);
                    }
                    let l = parse_len(&rest[1..nl]).ok_or(ParseError::InvalidBulkLength)?;
                    if l < 0 || l as u64 > max_bulk {
                        return Err(ParseError::InvalidBulkLength);
                    }
                    if !authenticated && l > 16384 {
                        return Err(ParseError::UnauthenticatedBulkLength);
                    }
                    self.next = at + nl + 2;
                    self.pending_bulk = Some(l as usize);
                    l as usize
                }
            };
            let start = self.next;
            if buf.len() < start + len + 2 {
                return Ok(None);
            }
            self.ranges.push((start as u32, len as u32));
            self.pending_bulk = None;
            self.next = start + len + 2;
            self.remaining -= 1;
        }
        let n = self.next;
        self.next = 0;
        Ok(Some(n))
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let Some(nl) = memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX {
                return Err(ParseError::TooBigInline);
            }
            return Ok(None);
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.inline = true;
        self.owned = split_args(line).ok_or(ParseError::UnbalancedQuotes)?;
        Ok(Some(nl + 1))
    }

    /// The arguments of the command just parsed; `cmd` is the same buffer given to `parse`.
    pub fn args<'a>(&'a self, cmd: &'a [u8]) -> Args<'a> {
        Args { buf: cmd, ranges: &self.ranges, owned: &self.owned, inline: self.inline }
    }

    /// Gives back the room a command with very many arguments needed (Redis frees each
    /// command's argv); only between commands.
    pub fn shrink(&mut self) {
        const KEEP: usize = 1024;
        if self.in_progress() {
            return;
        }
        if self.ranges.capacity() > KEEP {
            self.ranges = Vec::new();
        }
        if self.owned.capacity() > KEEP {
            self.owned = Vec::new();
        }
    }

    /// True while a command is partly parsed (the reader must keep its bytes).
    pub fn in_progress(&self) -> bool {
        self.remaining > 0 || self.next > 0
    }
}

/// How many decimal digits `n` takes.
fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// A length header: optional '-', digits, nothing else, and no leading zero ("0" alone is
/// fine, "03" and "-0" are not): Redis's string2ll on the header. So an accepted header is
/// written exactly as encoding its value gives, which [`Args::raw`] relies on.
fn parse_len(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, d) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if d.is_empty() || (d[0] == b'0' && (d.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -v } else { v })
}

/// Redis's sdssplitargs: words separated by spaces; "double quotes" with \n \r \t \b \a \\ \"
/// and \xHH escapes; 'single quotes' with only \' ; a closing quote must be followed by a space
/// or the end. None on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' && line[i + 2].is_ascii_hexdigit() && line[i + 3].is_ascii_hexdigit() {
                    cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let mut p = Parser::new();
        let mut pos = 0;
        let mut cmds = Vec::new();
        while let Some(n) = p.parse(&input[pos..], 512 << 20, true)? {
            let a = p.args(&input[pos..pos + n]);
            cmds.push(a.iter().map(|x| x.to_vec()).collect());
            pos += n;
        }
        Ok(cmds)
    }

    #[test]
    fn peek_finds_second_arguments_and_stops_where_parsing_must_decide() {
        let mut out: [&[u8]; 4] = [&[]; 4];
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nbb\r\n$1\r\nv\r\n";
        let (n, end) = peek_second_args(buf, &mut out);
        assert_eq!((n, end), (2, buf.len()));
        assert_eq!(out[..2], [&b"a"[..], &b"bb"[..]]);
        // An incomplete command ends the look ahead before it.
        let (n, end) = peek_second_args(&buf[..buf.len() - 3], &mut out);
        assert_eq!((n, end), (1, 34));
        // Inline commands, garbage and absurd lengths stop it without a panic.
        assert_eq!(peek_second_args(b"GET a\r\n", &mut out), (0, 0));
        assert_eq!(peek_second_args(b"*2\r\n$x\r\n", &mut out), (0, 0));
        assert_eq!(peek_second_args(b"*2\r\n$18446744073709551615\r\nab\r\n", &mut out), (0, 0));
        // It looks at no more commands than it has room for.
        let many = buf.repeat(3);
        assert_eq!(peek_second_args(&many, &mut out).0, 4);
    }

    #[test]
    fn multibulk_and_pipeline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(cmds, vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]);
    }

    #[test]
    fn binary_safe_bulk() {
        let cmds = parse_all(b"*2\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n").unwrap();
        assert_eq!(cmds[0][1], b"a\r\nb");
    }

    #[test]
    fn resumes_across_reads() {
        let full = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut p = Parser::new();
        for cut in 0..full.len() {
            assert_eq!(p.parse(&full[..cut], 1 << 20, true), Ok(None), "cut {cut}");
        }
        assert_eq!(p.parse(full, 1 << 20, true), Ok(Some(full.len())));
        assert_eq!(p.args(full).get(2), b"value");
    }

    #[test]
    fn inline_commands() {
        let cmds = parse_all(b"SET k \"a b\\n\"\r\nPING\n").unwrap();
        assert_eq!(cmds[0], vec![b"SET".to_vec(), b"k".to_vec(), b"a b\n".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
        assert_eq!(parse_all(b"SET \"k\r\n"), Err(ParseError::UnbalancedQuotes));
    }

    #[test]
    fn protocol_errors_match_redis() {
        assert_eq!(parse_all(b"*1\r\nfoo\r\n"), Err(ParseError::ExpectedDollar(b'f')));
        assert_eq!(parse_all(b"*x\r\n"), Err(ParseError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n$-1\r\n"), Err(ParseError::InvalidBulkLength));
        let mut p = Parser::new();
        assert_eq!(p.parse(b"*1\r\n$1000\r\n", 100, true), Err(ParseError::InvalidBulkLength));
        assert_eq!(ParseError::InvalidBulkLength.message(), "ERR Protocol error: invalid bulk length");
        let huge = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(parse_all(&huge), Err(ParseError::TooBigInline));
        let mut p = Parser::new();
        assert_eq!(p.parse(b"*20\r\n", 100, false), Err(ParseError::UnauthenticatedMultibulkLength));
        // Lengths with a leading zero or a signed zero are refused, as Redis's string2ll does.
        assert_eq!(parse_all(b"*01\r\n$4\r\nPING\r\n"), Err(ParseError::InvalidMultibulkLength));
        assert_eq!(parse_all(b"*1\r\n$04\r\nPING\r\n"), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*1\r\n$-0\r\n\r\n"), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*2\r\n$4\r\nECHO\r\n$00\r\n\r\n"), Err(ParseError::InvalidBulkLength));
        assert_eq!(parse_all(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n").unwrap()[0][1], b"");
    }

    /// A request in canonical form is handed on as received; one the parser accepts in
    /// another form (Redis does not check the LF after a header's CR nor the CRLF after a
    /// bulk) or an inline command is not, and gets encoded instead.
    #[test]
    fn raw_bytes_only_for_canonical_requests() {
        fn raw_of(input: &[u8]) -> Option<Vec<u8>> {
            let mut p = Parser::new();
            let n = p.parse(input, 1 << 20, true).unwrap().unwrap();
            let a = p.args(&input[..n]);
            a.raw().map(|r| r.to_vec())
        }
        let set = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n";
        assert_eq!(raw_of(set).as_deref(), Some(&set[..]));
        let long = [&b"*2\r\n$4\r\nECHO\r\n$120\r\n"[..], &[b'x'; 120], b"\r\n"].concat();
        assert_eq!(raw_of(&long).as_deref(), Some(&long[..]));
        assert_eq!(raw_of(b"*1\r\n$4\rxPING\r\n"), None);
        assert_eq!(raw_of(b"*1\rx$4\r\nPING\r\n"), None);
        assert_eq!(raw_of(b"*1\r\n$4\r\nPINGab"), None);
        assert_eq!(raw_of(b"SET k v\r\n"), None);
        // The same after resuming across reads, and for the next command on the parser.
        let mut p = Parser::new();
        let bad_then_good = b"*1\r\n$4\r\nPINGab*1\r\n$4\r\nPING\r\n";
        for cut in 0..14 {
            assert_eq!(p.parse(&bad_then_good[..cut], 1 << 20, true), Ok(None));
        }
        assert_eq!(p.parse(bad_then_good, 1 << 20, true), Ok(Some(14)));
        assert_eq!(p.args(&bad_then_good[..14]).raw(), None);
        assert_eq!(p.parse(&bad_then_good[14..], 1 << 20, true), Ok(Some(14)));
        assert_eq!(p.args(&bad_then_good[14..]).raw(), Some(&bad_then_good[14..]));
    }

    /// Client input never panics the parser: random and mutated requests, fed whole and in
    /// random splits, end in a command, an incomplete state or a protocol error.
    #[test]
    fn random_input_never_panics() {
        let mut seed: u64 = 0x5EED_1234_ABCD_0001;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING \"a\\x41\"\r\n".to_vec();
        let alphabet = b"*$\r\n-0123456789abc \"'\\x";
        for round in 0..20_000 {
            let mut input = valid.clone();
            for _ in 0..(rand() % 6) {
                let pos = (rand() as usize) % input.len();
                match rand() % 3 {
                    0 => input[pos] = alphabet[(rand() as usize) % alphabet.len()],
                    1 => input.insert(pos, alphabet[(rand() as usize) % alphabet.len()]),
                    _ => {
                        input.remove(pos);
                        if input.is_empty() {
                            input.push(b'*');
                        }
                    }
                }
            }
            if round % 7 == 0 {
                input = (0..(rand() % 64)).map(|_| alphabet[(rand() as usize) % alphabet.len()]).collect();
            }
            let mut p = Parser::new();
            let mut pos = 0;
            let mut end = if input.is_empty() { 0 } else { 1 + (rand() as usize) % input.len() };
            loop {
                match p.parse(&input[pos..end], 1 << 20, round % 2 == 0) {
                    Ok(Some(n)) => {
                        let a = p.args(&input[pos..pos + n]);
                        let _ = a.iter().map(|x| x.len()).sum::<usize>();
                        pos += n;
                    }
                    Ok(None) if end < input.len() => end = input.len(),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn empty_multibulk_is_skipped() {
        let cmds = parse_all(b"*0\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        assert_eq!(cmds.len(), 2);
        assert!(cmds[0].is_empty());
    }
}
