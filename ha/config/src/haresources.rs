//! `haresources`, read exactly the way heartbeat's `ResourceManager`
//! (`ipres`, `canonname`, `resource2script`, `resource2arg`) reads it.
//!
//! `ipres` is a sed/awk pipeline: strip `#…` from each line, join lines
//! ending in `\` (the backslash and newline are removed, nothing is
//! inserted), squeeze blanks and tabs, drop blank lines, lower-case field 1.
//! Each resulting line is one group `node rsc1 rsc2 …`; the group key is
//! the first resource as written (what `ResourceManager listkeys` prints and
//! what `ip-request` carries).
//!
//! Two sed quirks become errors here instead of broken groups: a `#` on a
//! continuation line is *not* stripped by sed (the join loop branches past
//! the comment rule), so heartbeat would run scripts named `#`, `web`, ...;
//! and a CR at the end of a line (DOS line endings) would become part of the
//! last resource name.

use std::path::Path;

use crate::{ConfigError, Problem};

/// Parsed `haresources`: one group per logical line, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Haresources {
    pub groups: Vec<ResourceGroup>,
}

/// One line: the node that normally owns the group, and its resources in
/// start order (stop order is the reverse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceGroup {
    /// Lower-cased, one of ha.cf's `node`s.
    pub node: String,
    /// 1-based line where the group starts.
    pub line: usize,
    /// Never empty.
    pub resources: Vec<Resource>,
}

/// One resource token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// `IPaddr` for a bare address, else the part before the first `::`.
    pub script: String,
    /// The `::`-separated arguments (`IPaddr::192.0.2.50/24/eth0` →
    /// `["192.0.2.50/24/eth0"]`; a bare address → itself).
    pub args: Vec<String>,
    /// The token as written: the name heartbeat uses for it (group keys in
    /// `ip-request`, log lines such as "Giving up resources due to failure
    /// of hbtest::alpha::beta").
    pub raw: String,
}

impl ResourceGroup {
    /// The group key: the first resource as written.
    pub fn key(&self) -> &str {
        self.resources.first().map_or("", |r| r.raw.as_str())
    }
}

impl Haresources {
    /// The group whose key is `key`.
    pub fn group(&self, key: &str) -> Option<&ResourceGroup> {
        self.groups.iter().find(|g| g.key() == key)
    }

    /// Groups whose home node is `node`.
    pub fn groups_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a ResourceGroup> + 'a {
        self.groups.iter().filter(move |g| g.node == node)
    }
}

impl Resource {
    /// Interpret one token like `canonname` + `resource2script` +
    /// `resource2arg`.
    pub fn from_token(token: &str) -> Self {
        let canon = if is_ip(token) {
            format!("IPaddr::{token}")
        } else {
            token.to_string()
        };
        let script = canon.split("::").next().unwrap_or("").to_string();
        let args = if canon.contains("::") {
            // resource2arg runs `sed 's%[^:]*::%%'` on the token as written,
            // then turns every `::` into a blank for the shell to split.
            strip_first_arg_prefix(token)
                .replace("::", " ")
                .split(' ')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        Self {
            script,
            args,
            raw: token.to_string(),
        }
    }
}

/// `isip`: the shell pattern `[0-9]*.[0-9]*.[0-9]*.[0-9]*`.
fn is_ip(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let mut i = 1;
    for _ in 0..3 {
        // Earliest ".<digit>" after i: taking the earliest never loses a match.
        match b.get(i..).and_then(|t| {
            t.windows(2)
                .position(|w| w[0] == b'.' && w[1].is_ascii_digit())
        }) {
            Some(p) => i += p + 2,
            None => return false,
        }
    }
    true
}

/// sed `s%[^:]*::%%`: remove the leftmost match of "non-colons then `::`".
fn strip_first_arg_prefix(s: &str) -> String {
    match s.find("::") {
        Some(d) => {
            let start = s[..d].rfind(':').map_or(0, |c| c + 1);
            format!("{}{}", &s[..start], &s[d + 2..])
        }
        None => s.to_string(),
    }
}

/// Read and parse `haresources`. A missing file is an error here;
/// [`crate::load_all`] treats it as "no resources".
pub fn load_haresources(path: &Path, nodes: &[String]) -> Result<Haresources, ConfigError> {
    let text =
        crate::read_text(path, "resources file").map_err(|p| ConfigError { problems: vec![p] })?;
    parse_haresources(path, &text, nodes)
}

/// Parse `haresources` text; every node must be one of `nodes` (ha.cf's
/// `node` lines, lower-cased).
pub fn parse_haresources(
    path: &Path,
    text: &str,
    nodes: &[String],
) -> Result<Haresources, ConfigError> {
    parse_checked(path, text, Some(nodes))
}

/// `nodes: None` skips the node check (ha.cf could not be read at all).
pub(crate) fn parse_checked(
    path: &Path,
    text: &str,
    nodes: Option<&[String]>,
) -> Result<Haresources, ConfigError> {
    let mut errors = Vec::new();
    let mut groups: Vec<ResourceGroup> = Vec::new();
    let err = |line: usize, msg: String| Problem::new(path, Some(line), msg);
    let physical: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < physical.len() {
        let start = i + 1;
        let first = physical[i];
        // sed's first rule: strip the comment of the first line only.
        let mut logical = match first.find('#') {
            Some(c) => first[..c].to_string(),
            None => first.to_string(),
        };
        i += 1;
        let mut cont_ok = true;
        while logical.ends_with('\\') {
            logical.pop();
            match physical.get(i) {
                Some(next) => {
                    if next.contains('#') {
                        errors.push(err(
                            i + 1,
                            "\"#\" on a continuation line is not a comment for heartbeat's \
                             ResourceManager (only the first line of a \\-joined line is \
                             stripped): it and the words after it would become resources; \
                             put the comment on a line of its own"
                                .to_string(),
                        ));
                        cont_ok = false;
                    }
                    logical.push_str(next);
                    i += 1;
                }
                None => {
                    errors.push(err(
                        i,
                        "the last line ends with \\ but there is no line to continue with"
                            .to_string(),
                    ));
                    cont_ok = false;
                    break;
                }
            }
        }
        if logical.contains('\r') {
            errors.push(err(
                start,
                "carriage return in line (DOS line endings?): heartbeat's ResourceManager \
                 would take it as part of a resource name"
                    .to_string(),
            ));
            continue;
        }
        let mut tokens = logical.split([' ', '\t']).filter(|t| !t.is_empty());
        let Some(node) = tokens.next() else {
            continue;
        };
        if !cont_ok {
            continue;
        }
        let node = node.to_ascii_lowercase();
        if let Some(nodes) = nodes {
            if !nodes.contains(&node) {
                let known = if nodes.is_empty() {
                    "none".to_string()
                } else {
                    nodes.join(", ")
                };
                errors.push(err(
                    start,
                    format!("Bad nodename [{node}]: not a node of ha.cf (nodes: {known})"),
                ));
                continue;
            }
        }
        let resources: Vec<Resource> = tokens.map(Resource::from_token).collect();
        let Some(key) = resources.first().map(|r| r.raw.clone()) else {
            errors.push(err(
                start,
                format!("node {node} has no resources on this line"),
            ));
            continue;
        };
        if let Some(prev) = groups.iter().find(|g| g.key() == key) {
            errors.push(err(
                start,
                format!(
                    "resource group {key} is already defined on line {} (the first resource \
                     of each line is the group key and must be unique)",
                    prev.line
                ),
            ));
            continue;
        }
        groups.push(ResourceGroup {
            node,
            line: start,
            resources,
        });
    }
    if errors.is_empty() {
        Ok(Haresources { groups })
    } else {
        Err(ConfigError { problems: errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        vec!["node1".into(), "node2".into()]
    }

    fn parse(text: &str) -> Result<Haresources, ConfigError> {
        parse_haresources(Path::new("haresources"), text, &nodes())
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(h) => panic!("expected errors, got {h:?}"),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reference_line() {
        let h = parse("node1 IPaddr::192.0.2.50/24/eth0 hbtest::alpha::beta\n").unwrap();
        let g = &h.groups[0];
        assert_eq!(g.node, "node1");
        assert_eq!(g.line, 1);
        assert_eq!(g.key(), "IPaddr::192.0.2.50/24/eth0");
        assert_eq!(g.resources[0].script, "IPaddr");
        assert_eq!(g.resources[0].args, ["192.0.2.50/24/eth0"]);
        assert_eq!(g.resources[1].script, "hbtest");
        assert_eq!(g.resources[1].args, ["alpha", "beta"]);
        assert_eq!(g.resources[1].raw, "hbtest::alpha::beta");
    }

    #[test]
    fn bare_address_is_ipaddr_and_keeps_its_name() {
        let h = parse("NODE1\t10.0.0.170   Filesystem::/dev/sda1::/data1::ext2 httpd\n").unwrap();
        let g = &h.groups[0];
        assert_eq!(g.node, "node1");
        assert_eq!(g.key(), "10.0.0.170");
        assert_eq!(g.resources[0].script, "IPaddr");
        assert_eq!(g.resources[0].args, ["10.0.0.170"]);
        assert_eq!(g.resources[1].args, ["/dev/sda1", "/data1", "ext2"]);
        assert_eq!(g.resources[2].script, "httpd");
        assert!(g.resources[2].args.is_empty());
    }

    #[test]
    fn isip_is_the_shell_glob() {
        assert!(is_ip("192.0.2.50/24/eth0"));
        assert!(is_ip("1x.2y.3z.4"));
        assert!(!is_ip("192.0.2"));
        assert!(!is_ip("a.1.2.3"));
        assert!(!is_ip("1...2"));
    }

    #[test]
    fn arg_prefix_like_sed() {
        assert_eq!(strip_first_arg_prefix("a:b::c"), "a:c");
        assert_eq!(strip_first_arg_prefix("a:::b"), ":b");
        assert_eq!(Resource::from_token("x::::y").script, "x");
        assert_eq!(Resource::from_token("x::::y").args, ["y"]);
        assert_eq!(Resource::from_token("s::a::::b::").args, ["a", "b"]);
        assert_eq!(Resource::from_token("10.0.0.1::foo").script, "IPaddr");
        assert_eq!(Resource::from_token("10.0.0.1::foo").args, ["foo"]);
    }

    #[test]
    fn comments_blank_lines_and_continuations() {
        let text = "# header\n\n   \nnode1 10.0.0.1 \\\n   httpd \\\nsmb\nnode2 10.0.0.2 # x\n";
        let h = parse(text).unwrap();
        assert_eq!(h.groups.len(), 2);
        let raws: Vec<&str> = h.groups[0]
            .resources
            .iter()
            .map(|r| r.raw.as_str())
            .collect();
        // `\` + newline vanish: "httpd \" + "smb" joins with the blank kept.
        assert_eq!(raws, ["10.0.0.1", "httpd", "smb"]);
        assert_eq!(h.groups[1].line, 7);
        assert_eq!(h.group("10.0.0.2").map(|g| g.node.as_str()), Some("node2"));
        assert_eq!(h.groups_of("node1").count(), 1);
    }

    #[test]
    fn join_without_blank_glues_tokens() {
        let h = parse("node1 10.0.0.1 ht\\\ntpd\n").unwrap();
        assert_eq!(h.groups[0].resources[1].raw, "httpd");
    }

    #[test]
    fn hash_on_continuation_line_is_an_error() {
        assert_eq!(
            errors("node1 10.0.0.1 \\\n  httpd # web\n"),
            [
                "haresources:2: \"#\" on a continuation line is not a comment for heartbeat's \
              ResourceManager (only the first line of a \\-joined line is stripped): it and the \
              words after it would become resources; put the comment on a line of its own"
            ]
        );
    }

    #[test]
    fn comment_after_backslash_ends_the_line() {
        // "a \ # c" loses its comment first and then no longer ends in `\`.
        let h = parse("node1 10.0.0.1 \\ # c\nnode2 10.0.0.2\n").unwrap();
        assert_eq!(h.groups.len(), 2);
        assert_eq!(h.groups[0].resources.len(), 2);
        assert_eq!(h.groups[0].resources[1].raw, "\\");
    }

    #[test]
    fn bad_node_duplicate_key_and_empty_group() {
        assert_eq!(
            errors("node3 10.0.0.1\nnode1 10.0.0.2\nnode2 10.0.0.2 httpd\nnode1\n"),
            [
                "haresources:1: Bad nodename [node3]: not a node of ha.cf (nodes: node1, node2)",
                "haresources:3: resource group 10.0.0.2 is already defined on line 2 (the first \
                 resource of each line is the group key and must be unique)",
                "haresources:4: node node1 has no resources on this line",
            ]
        );
    }

    #[test]
    fn crlf_and_dangling_backslash() {
        assert_eq!(
            errors("node1 10.0.0.1\r\n"),
            [
                "haresources:1: carriage return in line (DOS line endings?): heartbeat's \
              ResourceManager would take it as part of a resource name"
            ]
        );
        assert_eq!(
            errors("node1 10.0.0.1 \\"),
            ["haresources:1: the last line ends with \\ but there is no line to continue with"]
        );
    }
}
