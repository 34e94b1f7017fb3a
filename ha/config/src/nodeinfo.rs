//! (in progress)
use std::path::Path;

/// First line of `nodeinfo` if present, else `uname -n`; lower-cased.
pub fn local_node_name(nodeinfo: &Path) -> std::io::Result<String> {
    let _ = nodeinfo;
    unimplemented!()
}
