//! The local node name (heartbeat's `get_localnodeinfo`).

use std::io;
use std::path::Path;

/// First line of `nodeinfo` (trimmed) if the file exists and that line is
/// not blank, else `uname -n`; lower-cased (ASCII, like heartbeat's
/// `inplace_ascii_strdown`).
///
/// Heartbeat differs in two corner cases we do not copy: it ignores a
/// `nodeinfo` whose first line has no trailing newline, and it keeps
/// trailing blanks in the name.
pub fn local_node_name(nodeinfo: &Path) -> io::Result<String> {
    match std::fs::read(nodeinfo) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let first = text.split('\n').next().unwrap_or("").trim();
            if !first.is_empty() {
                return Ok(first.to_ascii_lowercase());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(uname_n())
}

fn uname_n() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().to_ascii_lowercase())
        // uname(2) cannot fail on Linux; fall back to gethostname anyway.
        .or_else(|_| nix::unistd::gethostname().map(|h| h.to_string_lossy().to_ascii_lowercase()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn nodeinfo_first_line_wins_lower_cased() {
        let d = TempDir::new("nodeinfo");
        let f = d.path().join("nodeinfo");
        std::fs::write(&f, "  Node-A.Example.COM  \nsecond line\n").unwrap();
        assert_eq!(local_node_name(&f).unwrap(), "node-a.example.com");
    }

    #[test]
    fn missing_or_blank_nodeinfo_falls_back_to_uname() {
        let d = TempDir::new("nodeinfo");
        let d = d.path();
        let expect = nix::sys::utsname::uname()
            .unwrap()
            .nodename()
            .to_string_lossy()
            .to_ascii_lowercase();
        assert_eq!(local_node_name(&d.join("nodeinfo")).unwrap(), expect);
        std::fs::write(d.join("nodeinfo"), "\nnode9\n").unwrap();
        assert_eq!(local_node_name(&d.join("nodeinfo")).unwrap(), expect);
    }

    #[test]
    fn unreadable_nodeinfo_is_an_error() {
        let d = TempDir::new("nodeinfo");
        // A directory cannot be read as a file.
        assert!(local_node_name(d.path()).is_err());
    }
}
