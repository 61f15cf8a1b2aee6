//! RESP: the request parser (multibulk and inline), the reply writer (RESP2 and RESP3) and the
//! exact error texts clients match on.

pub mod errors;
pub mod parse;
pub mod reply;

pub use parse::{ParseError, Parser};
pub use reply::Reply;
