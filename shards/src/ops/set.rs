//! set operations. (Scaffold: being written.)
