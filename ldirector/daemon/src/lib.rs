//! The ldirectord daemon: the tokio shell around [`ldirector::director`].
