//! zset commands. (Scaffold: the rows and handlers are being written.)

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
