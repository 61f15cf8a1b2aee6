//! COMMAND DOCS arguments, derived from each row's syntax string.

use crate::protocol::Reply;

/// Writes the "arguments" array for `syntax`. (Placeholder: an empty list until the syntax
/// parser lands; redis-cli then shows no hints but works.)
pub fn write_arguments(r: &mut Reply, _syntax: &str) {
    r.array_len(0);
}
