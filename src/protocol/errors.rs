//! Redis's reply and error texts, byte for byte. Clients and the Tcl suite match on them.
//! Texts here are without the leading '-' and the trailing CRLF.

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const SYNTAX: &str = "ERR syntax error";
// DUMP / RESTORE (cluster.c).
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const BAD_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const BAD_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_FORMAT: &str = "ERR Bad data format";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const INVALID_DB_INDEX: &str = "ERR invalid DB index";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const REWRITE_IN_PROGRESS: &str = "ERR Background append only file rewriting already in progress";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// stop-writes-on-bgsave-error after a failed BGSAVE.
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str =
    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const BAD_CLIENT_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";
pub const CROSSSLOT_NOT_APPLICABLE: &str = "ERR This command is not supported";

/// `ERR unknown command 'name', with args beginning with: 'a' 'b' `
pub fn unknown_command(name: &[u8], args: &[&[u8]]) -> String {
    let mut s = String::from("ERR unknown command '");
    push_sanitized(&mut s, name, 128);
    s.push_str("', with args beginning with: ");
    // Redis appends "'%.*s' " while the argument text so far is under 128 bytes.
    let start = s.len();
    for a in args {
        let used = s.len() - start;
        if used >= 128 {
            break;
        }
        s.push('\'');
        push_sanitized(&mut s, a, 128 - used);
        s.push_str("' ");
    }
    s
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> String {
    let mut s = String::from("ERR unknown subcommand '");
    push_sanitized(&mut s, sub, 128);
    s.push_str("'. Try ");
    s.push_str(&cmd.to_ascii_uppercase());
    s.push_str(" HELP.");
    s
}

/// A RESP2 client with subscriptions ran something else (Redis's processCommand).
pub fn subscribed_context(name: &str) -> String {
    format!("ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
}

pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{}' command", name)
}

pub fn invalid_expire(name: &str) -> String {
    format!("ERR invalid expire time in '{}' command", name)
}

/// Redis replaces newlines in echoed text with spaces so the error stays one protocol line.
/// Bytes that are not ASCII are shown as '?' (the reply is built as text).
fn push_sanitized(s: &mut String, bytes: &[u8], max: usize) {
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' | b'\n' => s.push(' '),
            0..=127 => s.push(b as char),
            _ => s.push('?'),
        }
    }
}
