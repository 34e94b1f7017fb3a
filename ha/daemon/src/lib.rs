//! The heartbeat daemon: tokio shell around hb-membership. (in progress)
