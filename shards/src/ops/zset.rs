//! zset operations. (Scaffold: being written.)
