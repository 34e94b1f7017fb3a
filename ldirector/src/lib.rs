//! ldirectord library (in progress).
