//! What the resource manager is told at start: the haresources groups, the
//! node names, the failback mode and the timing knobs.

use std::collections::HashSet;
use std::time::Duration;

pub use hb_config::AutoFailback;

pub use hb_config::{Resource, ResourceGroup};

/// A group as heartbeat logs it ("Acquiring resource group: node1
/// IPaddr::192.0.2.50/24/eth0 hbtest::alpha::beta").
pub fn group_line(group: &ResourceGroup) -> String {
    let mut s = group.node.clone();
    for r in &group.resources {
        s.push(' ');
        s.push_str(&r.raw);
    }
    s
}

/// A group from haresources-style tokens, for callers without a file
/// (tests, tools): `group("node1", &["IPaddr::192.0.2.50/24/eth0"])`.
pub fn group(node: &str, tokens: &[&str]) -> ResourceGroup {
    ResourceGroup {
        node: node.to_ascii_lowercase(),
        line: 0,
        resources: tokens.iter().map(|t| Resource::from_token(t)).collect(),
    }
}

/// Timing knobs. Defaults are heartbeat's where heartbeat has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    /// RQSTDELAY: how long both-starting nodes wait before taking their own
    /// groups when neither became stable (10 s).
    pub rqst_delay: Duration,
    /// `HA_STOPRETRYMAX` (10): failed stops retried this many times before
    /// the node fences itself. 0 means retry for ever, as in ResourceManager.
    pub stop_retries: u32,
    /// Pause between stop retries (`sleep 1`).
    pub stop_retry_interval: Duration,
    /// Time limits per agent action. heartbeat has none (a hung script hangs
    /// the group); these are this project's. A timeout counts as a failure.
    pub start_timeout: Duration,
    pub stop_timeout: Duration,
    pub status_timeout: Duration,
    /// How long a standby requester waits for the peer's `other` (10 s).
    pub standby_reply_timeout: Duration,
    /// How long a running standby may take before it is cancelled (1 h).
    pub standby_run_timeout: Duration,
    /// Retry period of a delayed auto failback (1 s).
    pub auto_failback_retry: Duration,
    /// After a group failed to start and was stopped again, wait this long
    /// before handing it to the peer. heartbeat waits 30 s and then runs
    /// `hb_standby` with the wrong type; see the crate docs.
    pub handoff_delay: Duration,
    /// Retry period of a failed STONITH (5 s).
    pub stonith_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            rqst_delay: Duration::from_secs(10),
            stop_retries: 10,
            stop_retry_interval: Duration::from_secs(1),
            start_timeout: Duration::from_secs(120),
            stop_timeout: Duration::from_secs(120),
            status_timeout: Duration::from_secs(30),
            standby_reply_timeout: Duration::from_secs(10),
            standby_run_timeout: Duration::from_secs(3600),
            auto_failback_retry: Duration::from_secs(1),
            handoff_delay: Duration::from_secs(2),
            stonith_retry: Duration::from_secs(5),
        }
    }
}

/// Everything the resource manager needs, filled by the shell from ha.cf and
/// haresources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's name (lower case).
    pub local: String,
    /// Every normal `node` (not ping nodes), local included.
    pub nodes: Vec<String>,
    /// haresources lines, in file order (the order of `listkeys`), as
    /// hb-config parses them.
    pub groups: Vec<ResourceGroup>,
    pub auto_failback: AutoFailback,
    /// A STONITH device is configured: dead nodes that may hold resources are
    /// fenced (`Command::Fence`) before their groups are taken.
    pub stonith: bool,
    /// Ping nodes (named as membership reports them: the address, or the
    /// `ping_group` name) that must be reachable before a dead peer's
    /// groups are taken over; empty: no such rule. The shell fills it when
    /// ipfail runs built in. See "Isolation guard" in the crate docs.
    pub isolation_ping_nodes: Vec<String>,
    pub timing: Timing,
}

/// One thing wrong with a [`Config`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("local node {0:?} is not a configured node")]
    LocalNotANode(String),
    /// heartbeat: `Bad nodename in /etc/ha.d/haresources [x]`.
    #[error("Bad nodename in haresources [{node}] (group {key})")]
    BadGroupNode { node: String, key: String },
    #[error("haresources group {index} for node {node} has no resources")]
    EmptyGroup { index: usize, node: String },
    #[error("duplicate resource group key {0}")]
    DuplicateKey(String),
}

/// All problems found in a [`Config`]; never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid resource configuration: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl Config {
    /// Check node names and group keys; collects every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if !self.nodes.iter().any(|n| n == &self.local) {
            problems.push(ConfigProblem::LocalNotANode(self.local.clone()));
        }
        let mut keys = HashSet::new();
        for (index, g) in self.groups.iter().enumerate() {
            if g.resources.is_empty() {
                problems.push(ConfigProblem::EmptyGroup {
                    index,
                    node: g.node.clone(),
                });
                continue;
            }
            if !self.nodes.iter().any(|n| n == &g.node) {
                problems.push(ConfigProblem::BadGroupNode {
                    node: g.node.clone(),
                    key: g.key().to_string(),
                });
            }
            if !keys.insert(g.key()) {
                problems.push(ConfigProblem::DuplicateKey(g.key().to_string()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_node_then_tokens_as_written() {
        let g = group("Node1", &["192.0.2.50/24/eth0", "hbtest::alpha::beta"]);
        assert_eq!(g.key(), "192.0.2.50/24/eth0");
        assert_eq!(g.resources[0].script, "IPaddr");
        assert_eq!(
            group_line(&g),
            "node1 192.0.2.50/24/eth0 hbtest::alpha::beta"
        );
    }

    #[test]
    fn validation_collects_every_problem() {
        let cfg = Config {
            local: "node3".into(),
            nodes: vec!["node1".into(), "node2".into()],
            groups: vec![
                group("node1", &["a"]),
                group("nodex", &["b"]),
                group("node2", &["a"]),
                group("node2", &[]),
            ],
            auto_failback: AutoFailback::On,
            stonith: false,
            isolation_ping_nodes: Vec::new(),
            timing: Timing::default(),
        };
        let err = cfg.validate().unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        assert!(err
            .problems
            .contains(&ConfigProblem::DuplicateKey("a".into())));
        assert!(err
            .problems
            .contains(&ConfigProblem::LocalNotANode("node3".into())));
    }
}
