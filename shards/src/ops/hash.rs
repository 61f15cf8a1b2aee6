//! hash operations. (Scaffold: being written.)
