//! Sans-IO resource manager (in progress).
