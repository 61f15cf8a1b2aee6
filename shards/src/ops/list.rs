//! list operations. (Scaffold: being written.)
