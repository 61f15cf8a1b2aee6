//! COMMAND DOCS "arguments", derived from each row's `syntax` string.
//!
//! A row writes its arguments the way Redis's documentation prints them
//! ("key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]"); this module parses that
//! text into Redis 7.0's argument tree (name, type, token, flags, nested arguments) so one
//! string serves both the help text and COMMAND DOCS.
//!
//! The grammar, as Redis's renderer (redis-cli's `cliAddArgument`) produces it:
//! - `[...]` is an optional group; `x [x ...]` repeats x (`TOKEN x [TOKEN x ...]` repeats the
//!   token too); `[x ...]` alone is kept as one optional argument named "x ...".
//! - `a|b` separates alternatives (a oneof) and binds loosest within its group; several items
//!   in one alternative or group form a block.
//! - A word without lower-case letters is a token: followed by a lower-case word it labels that
//!   argument (`EX seconds`), alone it is a pure token (`NX`). `TYPE A|B|C` and
//!   `FILTERBY X x|Y y` put the leading token on the oneof, as Redis's specs do.
//!
//! Invariant: what we send must render back, through redis-cli's algorithm, to exactly the row's
//! syntax. A syntax the parser cannot express that way is sent as one argument named after the
//! whole text, so redis-cli's hint still reads as written (the unit tests flag such rows).

use crate::protocol::Reply;

/// An argument's type, Redis's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgType {
    Key,
    String,
    Integer,
    Double,
    Pattern,
    UnixTime,
    PureToken,
    OneOf(Vec<Arg>),
    Block(Vec<Arg>),
}

impl ArgType {
    pub fn name(&self) -> &'static str {
        match self {
            ArgType::Key => "key",
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf(_) => "oneof",
            ArgType::Block(_) => "block",
        }
    }

    fn children(&self) -> Option<&[Arg]> {
        match self {
            ArgType::OneOf(c) | ArgType::Block(c) => Some(c),
            _ => None,
        }
    }
}

/// One node of a command's argument tree, as COMMAND DOCS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub kind: ArgType,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    pub multiple_token: bool,
    /// Byte range of the argument in the syntax text (token included), and of the part after
    /// its token: what a repetition `[... ...]` is compared against.
    span: (usize, usize),
    value_span: (usize, usize),
}

impl Arg {
    fn new(name: String, kind: ArgType, span: (usize, usize)) -> Arg {
        Arg { name, kind, token: None, optional: false, multiple: false, multiple_token: false, span, value_span: span }
    }

    /// A plain argument with no token, flags or children.
    fn is_plain(&self) -> bool {
        self.token.is_none() && !self.optional && !self.multiple && self.kind.children().is_none() && self.kind != ArgType::PureToken
    }
}

/// Why a syntax string could not be parsed (the unit tests name the row and the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

type Parsed<T> = Result<T, SyntaxError>;

fn err<T>(msg: impl Into<String>) -> Parsed<T> {
    Err(SyntaxError(msg.into()))
}

/// A lexical item: a word, a bracketed group (outer span, inner span) or a `|`.
#[derive(Debug, Clone, Copy)]
enum Lex {
    Word(usize, usize),
    Group(usize, usize, usize, usize),
    Pipe(usize),
}

impl Lex {
    fn start(&self) -> usize {
        match *self {
            Lex::Word(s, _) | Lex::Group(s, ..) | Lex::Pipe(s) => s,
        }
    }
}

fn lex(src: &str, lo: usize, hi: usize) -> Parsed<Vec<Lex>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = lo;
    while i < hi {
        match b[i] {
            b' ' => i += 1,
            b'|' => {
                out.push(Lex::Pipe(i));
                i += 1;
            }
            b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < hi {
                    match b[j] {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= hi {
                    return err(format!("unclosed '[' at {i}"));
                }
                out.push(Lex::Group(i, j + 1, i + 1, j));
                i = j + 1;
            }
            b']' => return err(format!("unmatched ']' at {i}")),
            _ => {
                let s = i;
                while i < hi && !matches!(b[i], b' ' | b'|' | b'[' | b']') {
                    i += 1;
                }
                out.push(Lex::Word(s, i));
            }
        }
    }
    Ok(out)
}

/// A token word: no lower-case letters (`NX`, `EXAT`, `=`, `*`, `""`); "..." is the repeat mark.
fn is_token_word(w: &str) -> bool {
    w != "..." && !w.bytes().any(|c| c.is_ascii_lowercase())
}

/// A token that can label the argument after it (`EX seconds`): a word with a capital letter,
/// so `"" destination-db` and `* field` stay a pure token and an argument.
fn is_label_word(w: &str) -> bool {
    is_token_word(w) && w.bytes().any(|c| c.is_ascii_uppercase())
}

/// The type a lower-case argument name suggests, following Redis's specs.
fn type_for(name: &str) -> ArgType {
    const INTEGER: &[&str] = &[
        "seconds",
        "milliseconds",
        "count",
        "offset",
        "start",
        "end",
        "stop",
        "increment",
        "decrement",
        "index",
        "index1",
        "index2",
        "db",
        "destination-db",
        "numkeys",
        "numreplicas",
        "timeout",
        "port",
        "protover",
        "cursor",
        "client-id",
        "min-match-len",
        "bit",
        "len",
        "rank",
    ];
    const DOUBLE: &[&str] = &["score", "latitude", "longitude", "radius", "width", "height"];
    const KEY: &[&str] = &["key", "source", "destination", "newkey"];
    let numbered_key = name.strip_prefix("key").is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
    if name.starts_with("unix-time") {
        ArgType::UnixTime
    } else if name == "pattern" {
        ArgType::Pattern
    } else if KEY.contains(&name) || numbered_key {
        ArgType::Key
    } else if INTEGER.contains(&name) {
        ArgType::Integer
    } else if DOUBLE.contains(&name) {
        ArgType::Double
    } else {
        ArgType::String
    }
}

/// A pure token's name: the word in lower case, as Redis names them ("nx", "keepttl"), or
/// Redis's name for a symbol (xadd.json's "auto_id", migrate.json's "empty_string").
fn pure_token(word: &str, span: (usize, usize)) -> Arg {
    let name = match word {
        "*" => "auto_id".to_string(),
        "\"\"" => "empty_string".to_string(),
        "=" => "equal".to_string(),
        "~" => "approximately".to_string(),
        _ => word.to_ascii_lowercase(),
    };
    let mut a = Arg::new(name, ArgType::PureToken, span);
    a.token = Some(word.to_string());
    a
}

fn joined_name(children: &[Arg]) -> String {
    children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("_")
}

/// Parses a whole syntax string into the top-level argument list.
pub fn parse(syntax: &str) -> Parsed<Vec<Arg>> {
    if syntax.trim().is_empty() {
        return Ok(Vec::new());
    }
    group(syntax, 0, syntax.len(), true)
}

/// Parses the text `src[lo..hi]`: the top level or a group's inside. Returns the items of a
/// sequence, or one node (a oneof, a repeated block).
///
/// Inside a group `|` binds loosest (`[AUTH password|AUTH2 username password]` is two
/// alternatives, the second a block). At the top level, which is a list of arguments rather
/// than a block, it joins only its neighbours (`host port key|"" destination-db`,
/// `*|id field value`), as Redis's specs nest them.
fn group(src: &str, lo: usize, hi: usize, top: bool) -> Parsed<Vec<Arg>> {
    let items = lex(src, lo, hi)?;
    if items.is_empty() {
        return err(format!("empty group at {lo}"));
    }
    // The whole group repeated: "key value [key value ...]", "GET x|SET y [GET x|SET y ...]".
    if let Some(&Lex::Group(gs, ge, ilo, ihi)) = items.last() {
        if let Some(rep) = repeat_text(src, ilo, ihi)? {
            if items.len() > 1 && rep == src[lo..gs].trim() {
                let inner = group(src, lo, gs, false)?;
                let mut node = collapse(inner, (lo, ge))?;
                node.span = (lo, ge);
                node.multiple = true;
                node.multiple_token = node.token.is_some();
                return Ok(vec![node]);
            }
        }
    }
    let mut alternatives = vec![Vec::new()];
    for it in items {
        match it {
            Lex::Pipe(_) => alternatives.push(Vec::new()),
            other => {
                if let Some(alt) = alternatives.last_mut() {
                    alt.push(other);
                }
            }
        }
    }
    if alternatives.len() == 1 {
        return sequence(src, &alternatives[0]);
    }
    if alternatives.iter().any(Vec::is_empty) {
        return err(format!("empty alternative in {:?}", &src[lo..hi]));
    }
    if top {
        return neighbour_choices(src, &alternatives);
    }
    let mut choices = Vec::with_capacity(alternatives.len());
    for alt in &alternatives {
        let end = match alt[alt.len() - 1] {
            Lex::Word(_, e) | Lex::Group(_, e, ..) => e,
            Lex::Pipe(p) => p,
        };
        choices.push(collapse(sequence(src, alt)?, (alt[0].start(), end))?);
    }
    Ok(vec![oneof(choices)])
}

/// Top-level alternatives: each `|` makes a oneof of the items either side of it.
fn neighbour_choices(src: &str, alternatives: &[Vec<Lex>]) -> Parsed<Vec<Arg>> {
    let mut out = Vec::new();
    let mut open: Vec<Arg> = Vec::new();
    let n = alternatives.len();
    for (i, alt) in alternatives.iter().enumerate() {
        let mut nodes = sequence(src, alt)?;
        if nodes.is_empty() {
            return err("empty alternative");
        }
        if i > 0 {
            open.push(nodes.remove(0));
            if nodes.is_empty() && i + 1 < n {
                continue; // "a|b|c": b is in the same oneof as a and c
            }
            out.push(oneof(std::mem::take(&mut open)));
        }
        if i + 1 < n {
            if let Some(last) = nodes.pop() {
                open.push(last);
            }
        }
        out.append(&mut nodes);
    }
    Ok(out)
}

/// A oneof of `choices`. "TYPE A|B|C", "FILTERBY MODULE m|ACLCAT c": the first alternative's
/// leading pure token labels the whole oneof when the other alternatives are single items.
fn oneof(mut choices: Vec<Arg>) -> Arg {
    let span = (choices[0].span.0, choices[choices.len() - 1].span.1);
    let mut token = None;
    if let ArgType::Block(first) = &choices[0].kind {
        let rest_single = choices[1..].iter().all(|c| !matches!(c.kind, ArgType::Block(_)));
        if first.len() == 2 && first[0].kind == ArgType::PureToken && !first[0].optional && choices[0].token.is_none() && rest_single {
            let head = first[0].clone();
            choices[0] = first[1].clone();
            token = head.token;
        }
    }
    let mut node = Arg::new(String::new(), ArgType::OneOf(Vec::new()), span);
    node.name = match &token {
        Some(t) => t.to_ascii_lowercase(),
        None => joined_name(&choices),
    };
    node.kind = ArgType::OneOf(choices);
    node.token = token;
    node
}

/// If the group `src[ilo..ihi]` reads "R ...", the repeated text R.
fn repeat_text(src: &str, ilo: usize, ihi: usize) -> Parsed<Option<&str>> {
    let inner = lex(src, ilo, ihi)?;
    match inner.last() {
        Some(&Lex::Word(s, e)) if &src[s..e] == "..." => Ok(Some(src[ilo..s].trim())),
        _ => Ok(None),
    }
}

/// Several items of one alternative or group as one node: the item itself, a block, or a
/// block labelled by its leading token ("AUTH username password", "LIMIT offset count").
fn collapse(mut items: Vec<Arg>, span: (usize, usize)) -> Parsed<Arg> {
    if items.len() == 1 {
        return Ok(items.remove(0));
    }
    if items.is_empty() {
        return err("empty block");
    }
    let first = &items[0];
    let labelled = first.token.is_some() && first.kind != ArgType::PureToken && first.kind.children().is_none() && !first.optional && !first.multiple;
    if labelled && items[1..].iter().all(Arg::is_plain) {
        let token = items[0].token.take();
        items[0].span = items[0].value_span;
        let mut node = Arg::new(joined_name(&items), ArgType::Block(Vec::new()), span);
        node.value_span = (items[0].span.0, span.1);
        node.kind = ArgType::Block(items);
        node.token = token;
        return Ok(node);
    }
    Ok(Arg::new(joined_name(&items), ArgType::Block(items), span))
}

/// One alternative: words and groups in order, with tokens attached and repeats folded in.
fn sequence(src: &str, items: &[Lex]) -> Parsed<Vec<Arg>> {
    let mut out: Vec<Arg> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match items[i] {
            Lex::Pipe(p) => return err(format!("unexpected '|' at {p}")),
            Lex::Word(s, e) => {
                let w = &src[s..e];
                if w == "..." {
                    return err(format!("'...' outside a repeat at {s}"));
                }
                if !is_token_word(w) {
                    out.push(Arg::new(w.to_string(), type_for(w), (s, e)));
                } else if let Some(&Lex::Word(ns, ne)) =
                    items.get(i + 1).filter(|n| is_label_word(w) && matches!(n, Lex::Word(a, b) if !is_token_word(&src[*a..*b]) && &src[*a..*b] != "..."))
                {
                    let name = &src[ns..ne];
                    let mut a = Arg::new(name.to_string(), type_for(name), (s, ne));
                    a.token = Some(w.to_string());
                    a.value_span = (ns, ne);
                    out.push(a);
                    i += 1;
                } else {
                    out.push(pure_token(w, (s, e)));
                }
            }
            Lex::Group(gs, ge, ilo, ihi) => {
                if let Some(rep) = repeat_text(src, ilo, ihi)? {
                    fold_repeat(src, &mut out, rep, (gs, ge))?;
                } else {
                    let inner = group(src, ilo, ihi, false)?;
                    let mut node = collapse(inner, (gs, ge))?;
                    if node.optional {
                        return err(format!("doubly optional group at {gs}"));
                    }
                    node.optional = true;
                    node.span = (gs, ge);
                    if node.token.is_none() {
                        node.value_span = (gs, ge);
                    }
                    out.push(node);
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

/// `[R ...]` after some items: R names the last item (`key [key ...]`), its value after the
/// token (`ID client-id [client-id ...]`), the item with its token (`GET p [GET p ...]`) or
/// the last few items as a block (`field value [field value ...]`).
fn fold_repeat(src: &str, out: &mut Vec<Arg>, rep: &str, group_span: (usize, usize)) -> Parsed<()> {
    let text = |(a, b): (usize, usize)| src[a..b].trim();
    if let Some(last) = out.last_mut() {
        if !last.multiple && !last.optional {
            if last.token.is_some() && last.kind != ArgType::PureToken && text(last.value_span) == rep {
                last.multiple = true;
                last.span.1 = group_span.1;
                return Ok(());
            }
            if text(last.span) == rep {
                last.multiple = true;
                last.multiple_token = last.token.is_some();
                last.span.1 = group_span.1;
                return Ok(());
            }
        }
    }
    for k in 2..=out.len() {
        let tail = &out[out.len() - k..];
        if text((tail[0].span.0, tail[k - 1].span.1)) == rep {
            let items = out.split_off(out.len() - k);
            let span = (items[0].span.0, group_span.1);
            let mut node = collapse(items, span)?;
            node.multiple = true;
            node.multiple_token = node.token.is_some();
            out.push(node);
            return Ok(());
        }
    }
    // "[argument ...]" with nothing before it to repeat: zero or more, which Redis's renderer
    // has no spelling for; keep the text as the argument's name so the hint reads as written.
    if !rep.is_empty() && !rep.contains(['[', ']', '|']) {
        let inner = &src[group_span.0 + 1..group_span.1 - 1];
        let mut a = Arg::new(inner.to_string(), ArgType::String, group_span);
        a.optional = true;
        out.push(a);
        return Ok(());
    }
    err(format!("repeat {rep:?} matches nothing before it"))
}

/// Renders arguments back to text exactly as redis-cli 7.0's `cliConcatArguments` does.
pub fn render(args: &[Arg], sep: &str) -> String {
    let mut out = String::new();
    for (j, a) in args.iter().enumerate() {
        render_arg(a, &mut out);
        if j + 1 != args.len() {
            out.push_str(sep);
        }
    }
    out
}

fn or_empty(s: &str) -> &str {
    if s.is_empty() {
        "\"\""
    } else {
        s
    }
}

fn render_arg(a: &Arg, out: &mut String) {
    let mut token_part = a.token.as_deref().map(or_empty).unwrap_or("").to_string();
    let repeat = match &a.kind {
        ArgType::OneOf(c) => render(c, "|"),
        ArgType::Block(c) => render(c, " "),
        ArgType::PureToken => String::new(),
        _ => or_empty(&a.name).to_string(),
    };
    if !token_part.is_empty() && a.kind != ArgType::PureToken {
        token_part.push(' ');
    }
    if a.optional {
        out.push('[');
    }
    out.push_str(&token_part);
    out.push_str(&repeat);
    if a.multiple {
        out.push_str(" [");
        if a.multiple_token {
            out.push_str(&token_part);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if a.optional {
        out.push(']');
    }
}

/// The arguments COMMAND DOCS reports for `syntax`: the parsed tree when it renders back to
/// the same text, otherwise one argument carrying the text.
pub fn arguments(syntax: &str) -> Vec<Arg> {
    match parse(syntax) {
        Ok(args) if render(&args, " ") == syntax => args,
        _ if syntax.is_empty() => Vec::new(),
        _ => vec![Arg::new(syntax.to_string(), ArgType::String, (0, syntax.len()))],
    }
}

/// Writes the COMMAND DOCS "arguments" array for `syntax`, in Redis 7.0's layout: an array of
/// maps with "name", "type", and when present "token", "flags" (a set of status strings) and
/// "arguments" (for oneof and block).
pub fn write_arguments(r: &mut Reply, syntax: &str) {
    let args = arguments(syntax);
    write_list(r, &args);
}

fn write_list(r: &mut Reply, args: &[Arg]) {
    r.array_len(args.len());
    for a in args {
        write_arg(r, a);
    }
}

fn write_arg(r: &mut Reply, a: &Arg) {
    let flags: Vec<&str> =
        [(a.optional, "optional"), (a.multiple, "multiple"), (a.multiple_token, "multiple_token")].iter().filter(|f| f.0).map(|f| f.1).collect();
    let children = a.kind.children();
    r.map_len(2 + a.token.is_some() as usize + !flags.is_empty() as usize + children.is_some() as usize);
    r.bulk(b"name");
    r.bulk(a.name.as_bytes());
    r.bulk(b"type");
    r.bulk(a.kind.name().as_bytes());
    if let Some(t) = &a.token {
        r.bulk(b"token");
        r.bulk(t.as_bytes());
    }
    if !flags.is_empty() {
        r.bulk(b"flags");
        r.set_len(flags.len());
        for f in flags {
            r.simple(f);
        }
    }
    if let Some(c) = children {
        r.bulk(b"arguments");
        write_list(r, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded reply, as hiredis hands it to redis-cli.
    #[derive(Debug)]
    enum Value {
        Str(String),
        Status(String),
        Array(Vec<Value>),
        Map(Vec<Value>),
        Set(Vec<Value>),
    }

    fn decode(buf: &[u8], pos: &mut usize) -> Value {
        let line_end = buf[*pos..].windows(2).position(|w| w == b"\r\n").expect("line end") + *pos;
        let kind = buf[*pos];
        let head = std::str::from_utf8(&buf[*pos + 1..line_end]).expect("utf8").to_string();
        *pos = line_end + 2;
        let n = || head.parse::<usize>().expect("length");
        match kind {
            b'$' => {
                let s = String::from_utf8(buf[*pos..*pos + n()].to_vec()).expect("utf8");
                *pos += n() + 2;
                Value::Str(s)
            }
            b'+' => Value::Status(head),
            b'*' => Value::Array((0..n()).map(|_| decode(buf, pos)).collect()),
            b'~' => Value::Set((0..n()).map(|_| decode(buf, pos)).collect()),
            // hiredis flattens a map into 2n elements.
            b'%' => Value::Map((0..2 * n()).map(|_| decode(buf, pos)).collect()),
            other => panic!("unexpected reply type {:?}", other as char),
        }
    }

    fn elements(v: &Value) -> &[Value] {
        match v {
            Value::Array(e) | Value::Map(e) | Value::Set(e) => e,
            other => panic!("not an aggregate: {other:?}"),
        }
    }

    fn string(v: &Value) -> &str {
        match v {
            Value::Str(s) => s,
            other => panic!("assert(type == REDIS_REPLY_STRING) fails on {other:?}"),
        }
    }

    /// redis-cli 7.0's cliConcatArguments, with its asserts.
    fn cli_concat(params: &mut String, arguments: &Value, sep: &str) {
        let el = elements(arguments);
        for (j, a) in el.iter().enumerate() {
            cli_add_argument(params, a);
            if j != el.len() - 1 {
                params.push_str(sep);
            }
        }
    }

    /// redis-cli 7.0's cliAddArgument, with its asserts (a missing "type" is a NULL strcmp).
    fn cli_add_argument(params: &mut String, arg_map: &Value) {
        if !matches!(arg_map, Value::Map(_) | Value::Array(_)) {
            return;
        }
        let (mut name, mut ty, mut arguments) = (None, None, None);
        let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
        let mut token_part = String::new();
        let mut repeat_part = String::new();
        let el = elements(arg_map);
        for kv in el.chunks(2) {
            match string(&kv[0]) {
                "name" => name = Some(string(&kv[1]).to_string()),
                "token" => token_part.push_str(or_empty(string(&kv[1]))),
                "type" => ty = Some(string(&kv[1]).to_string()),
                "arguments" => arguments = Some(&kv[1]),
                "flags" => {
                    assert!(matches!(kv[1], Value::Set(_) | Value::Array(_)), "flags must be a set or array");
                    for f in elements(&kv[1]) {
                        let Value::Status(f) = f else { panic!("flag must be a status string: {f:?}") };
                        match f.as_str() {
                            "optional" => optional = true,
                            "multiple" => multiple = true,
                            "multiple_token" => multiple_token = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let ty = ty.expect("type is read with strcmp, it must be present");
        match ty.as_str() {
            "key" | "string" | "integer" | "double" | "pattern" | "unix-time" | "token" => {
                repeat_part.push_str(or_empty(name.as_deref().expect("name is read for scalar types")))
            }
            "oneof" => cli_concat(&mut repeat_part, arguments.expect("oneof needs arguments"), "|"),
            "block" => cli_concat(&mut repeat_part, arguments.expect("block needs arguments"), " "),
            "pure-token" => {}
            other => panic!("Unknown type '{other}'"),
        }
        if !token_part.is_empty() && ty != "pure-token" {
            token_part.push(' ');
        }
        if optional {
            params.push('[');
        }
        params.push_str(&token_part);
        params.push_str(&repeat_part);
        if multiple {
            params.push_str(" [");
            if multiple_token {
                params.push_str(&token_part);
            }
            params.push_str(&repeat_part);
            params.push_str(" ...]");
        }
        if optional {
            params.push(']');
        }
    }

    /// What redis-cli shows as the hint for `syntax`, decoded from the bytes we send, in RESP2
    /// and RESP3 (which must agree).
    fn cli_hint(syntax: &str) -> String {
        let mut hints = Vec::new();
        for resp3 in [false, true] {
            let mut r = Reply::new(resp3);
            write_arguments(&mut r, syntax);
            let mut pos = 0;
            let v = decode(&r.buf, &mut pos);
            assert_eq!(pos, r.buf.len(), "trailing bytes for {syntax:?}");
            assert!(matches!(v, Value::Array(_)), "arguments must be an array");
            let mut params = String::new();
            cli_concat(&mut params, &v, " ");
            hints.push(params);
        }
        assert_eq!(hints[0], hints[1], "RESP2 and RESP3 differ for {syntax:?}");
        hints.remove(0)
    }

    /// Parses without the fallback and checks the tree renders back to the same text.
    fn round_trips(syntax: &str) -> Result<Vec<Arg>, String> {
        let args = parse(syntax).map_err(|e| format!("{syntax:?}: {}", e.0))?;
        let back = render(&args, " ");
        if back != syntax {
            return Err(format!("{syntax:?} renders back as {back:?}"));
        }
        Ok(args)
    }

    /// Rows from the table and from Redis's own documentation.
    const SAMPLES: &[&str] = &[
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "key [key ...]",
        "key value [key value ...]",
        "[ASYNC|SYNC]",
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
        "ip:port|[ID client-id] [TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes/no]",
        "[protover [AUTH username password] [SETNAME clientname]]",
        "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
        "command [arg [arg ...]]",
        "[command-name [command-name ...]]",
        "key seconds [NX|XX|GT|LT]",
        "source destination [DB destination-db] [REPLACE]",
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        "subcommand [argument ...]",
        "[username] password",
        "ON|OFF|SKIP",
        "",
        // Redis syntaxes other families will need.
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]",
        "key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]",
        "host port key|\"\" destination-db timeout [COPY] [REPLACE] [AUTH password|AUTH2 username password] [KEYS key [key ...]]",
        "key [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment [GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment ...]]",
        "key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
        "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]",
    ];

    #[test]
    fn docs_samples_render_back_as_redis_cli_shows_them() {
        for s in SAMPLES {
            round_trips(s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cli_hint(s), *s, "redis-cli would show a different hint");
        }
    }

    fn scalar(name: &str, ty: ArgType, token: Option<&str>) -> (String, &'static str, Option<String>) {
        (name.to_string(), ty.name(), token.map(str::to_string))
    }

    fn shape(a: &Arg) -> (String, &'static str, Option<String>) {
        (a.name.clone(), a.kind.name(), a.token.clone())
    }

    #[test]
    fn docs_set_matches_redis_spec() {
        // Redis 7.0's set.json: key, value, condition oneof(nx, xx), get, expiration oneof.
        let args = round_trips("key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]").unwrap();
        assert_eq!(args.len(), 5);
        assert_eq!(shape(&args[0]), scalar("key", ArgType::Key, None));
        assert_eq!(shape(&args[1]), scalar("value", ArgType::String, None));
        let ArgType::OneOf(cond) = &args[2].kind else { panic!("condition is a oneof") };
        assert!(args[2].optional && !args[2].multiple);
        assert_eq!(
            cond.iter().map(shape).collect::<Vec<_>>(),
            vec![scalar("nx", ArgType::PureToken, Some("NX")), scalar("xx", ArgType::PureToken, Some("XX"))]
        );
        assert_eq!(shape(&args[3]), scalar("get", ArgType::PureToken, Some("GET")));
        assert!(args[3].optional);
        let ArgType::OneOf(exp) = &args[4].kind else { panic!("expiration is a oneof") };
        assert_eq!(
            exp.iter().map(shape).collect::<Vec<_>>(),
            vec![
                scalar("seconds", ArgType::Integer, Some("EX")),
                scalar("milliseconds", ArgType::Integer, Some("PX")),
                scalar("unix-time-seconds", ArgType::UnixTime, Some("EXAT")),
                scalar("unix-time-milliseconds", ArgType::UnixTime, Some("PXAT")),
                scalar("keepttl", ArgType::PureToken, Some("KEEPTTL")),
            ]
        );
    }

    #[test]
    fn docs_tokens_label_oneofs_and_blocks_as_redis_specs_do() {
        // client-list.json: TYPE labels the oneof; ID labels a repeated client-id.
        let args = round_trips("[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]").unwrap();
        assert_eq!((args[0].kind.name(), args[0].token.as_deref(), args[0].optional), ("oneof", Some("TYPE"), true));
        assert_eq!(args[0].kind.children().map(|c| c.len()), Some(4));
        assert_eq!(shape(&args[1]), scalar("client-id", ArgType::Integer, Some("ID")));
        assert!(args[1].optional && args[1].multiple && !args[1].multiple_token);
        // command-list.json: FILTERBY labels oneof(MODULE module-name, ACLCAT category, PATTERN pattern).
        let args = round_trips("[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]").unwrap();
        assert_eq!(args[0].token.as_deref(), Some("FILTERBY"));
        let c = args[0].kind.children().unwrap();
        assert_eq!(shape(&c[2]), scalar("pattern", ArgType::Pattern, Some("PATTERN")));
        // hello.json: an optional block whose AUTH labels the block (username, password).
        let args = round_trips("[protover [AUTH username password] [SETNAME clientname]]").unwrap();
        assert_eq!((args.len(), args[0].kind.name(), args[0].optional), (1, "block", true));
        let c = args[0].kind.children().unwrap();
        assert_eq!(shape(&c[0]), scalar("protover", ArgType::Integer, None));
        assert_eq!((c[1].name.as_str(), c[1].kind.name(), c[1].token.as_deref()), ("username_password", "block", Some("AUTH")));
        assert_eq!(shape(&c[2]), scalar("clientname", ArgType::String, Some("SETNAME")));
        // mset.json: one repeated block; SORT's GET repeats with its token.
        let args = round_trips("key value [key value ...]").unwrap();
        assert_eq!((args.len(), args[0].kind.name(), args[0].multiple), (1, "block", true));
        let args = round_trips("key [GET pattern [GET pattern ...]]").unwrap();
        assert!(args[1].optional && args[1].multiple && args[1].multiple_token);
        assert_eq!(shape(&args[1]), scalar("pattern", ArgType::Pattern, Some("GET")));
    }

    #[test]
    fn docs_every_table_row_parses_and_round_trips() {
        let mut failures = Vec::new();
        for (spec, full) in crate::command::table().specs.iter().zip(&crate::command::table().names) {
            match round_trips(spec.syntax) {
                Ok(_) => assert_eq!(cli_hint(spec.syntax), spec.syntax, "{full}"),
                Err(e) => failures.push(format!("{full}: {e}")),
            }
        }
        assert!(failures.is_empty(), "rows whose syntax does not round-trip:\n{}", failures.join("\n"));
    }

    /// Prints the tree of every sample, for whoever adds a row with a new shape:
    /// `cargo test --lib docs_print_trees -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn docs_print_trees() {
        fn show(a: &Arg, depth: usize) {
            let flags = [(a.optional, "optional"), (a.multiple, "multiple"), (a.multiple_token, "multiple_token")];
            let flags: Vec<_> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
            println!("{:w$}{} {} {:?} {:?}", "", a.name, a.kind.name(), a.token, flags, w = depth * 2);
            for c in a.kind.children().unwrap_or(&[]) {
                show(c, depth + 1);
            }
        }
        for s in SAMPLES {
            println!("== {s}");
            for a in arguments(s) {
                show(&a, 1);
            }
        }
    }

    #[test]
    fn docs_unparseable_syntax_is_sent_as_text() {
        for bad in ["key [value", "key ]", "a||b", "[]", "x ...", "[a|b ...]"] {
            assert!(round_trips(bad).is_err(), "{bad:?} should not parse");
            assert_eq!(cli_hint(bad), bad, "the fallback must still read as written");
        }
    }
}
