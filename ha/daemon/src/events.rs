//! The log line heartbeat writes for each membership event, word for word
//! (heartbeat.c's `cl_log` formats), plus structured fields.

use hb_membership::{Event, LinkStatus, MediumId, NodeStatus};
use tracing::Level;

/// A line to log: level (with heartbeat's CRIT) and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: Level,
    pub crit: bool,
    pub text: String,
}

impl LogLine {
    fn info(text: String) -> Self {
        Self {
            level: Level::INFO,
            crit: false,
            text,
        }
    }
    fn warn(text: String) -> Self {
        Self {
            level: Level::WARN,
            crit: false,
            text,
        }
    }
}

fn medium_name(media: &[String], id: MediumId) -> &str {
    media.get(id).map_or("?", String::as_str)
}

/// heartbeat's words for `ev`; `local` is this node's name, `media` the link
/// names by `MediumId`.
pub fn describe(ev: &Event, local: &str, media: &[String]) -> LogLine {
    match ev {
        Event::Link {
            node,
            medium,
            status,
        } => LogLine::info(format!(
            "Link {node}:{} {}.",
            medium_name(media, *medium),
            match status {
                LinkStatus::Up => "up",
                LinkStatus::Dead => "dead",
            }
        )),
        // heartbeat says "node node2: is dead" (or nothing, for itself)
        // instead of a status update to dead.
        Event::NodeStatus {
            node,
            new: NodeStatus::Dead,
            ..
        } => LogLine {
            level: Level::DEBUG,
            crit: false,
            text: format!("Status update for node {node}: status dead"),
        },
        Event::NodeStatus { node, new, .. } if node == local => {
            LogLine::info(format!("Local status now set to: '{}'", new.as_str()))
        }
        Event::NodeStatus { node, new, .. } => LogLine::info(format!(
            "Status update for node {node}: status {}",
            new.as_str()
        )),
        Event::NodeDead { node } => LogLine::warn(format!("node {node}: is dead")),
        Event::LateHeartbeat {
            node,
            interval,
            after_dead: false,
        } => LogLine::warn(format!(
            "Late heartbeat: Node {node}: interval {} ms",
            interval.as_millis()
        )),
        Event::LateHeartbeat {
            node,
            interval,
            after_dead: true,
        } => LogLine {
            level: Level::ERROR,
            crit: true,
            text: format!(
                "Late heartbeat: Node {node}: interval {} ms (> deadtime)",
                interval.as_millis()
            ),
        },
        Event::NodeRestarted { node } => LogLine::info(format!("Heartbeat restart on node {node}")),
        Event::UuidChanged { node, uuid } => LogLine::info(format!(
            "node {node} changed its uuid to {}",
            crate::state::uuid_to_string(uuid)
        )),
        // `first..=last` were lost; heartbeat prints the seqs around the gap
        // (the last one it had, the one that arrived): "1 lost packet(s)
        // for [node2] [28:30]" when 29 is missing.
        Event::LostPackets { node, first, last } => LogLine::warn(format!(
            "{} lost packet(s) for [{node}] [{}:{}]",
            last.saturating_sub(*first).saturating_add(1),
            first.saturating_sub(1),
            last.saturating_add(1)
        )),
        // heartbeat.c logs this one at LOG_CRIT.
        Event::PartitionHealed { node } => LogLine {
            level: Level::ERROR,
            crit: true,
            text: format!("Cluster node {node} returning after partition."),
        },
        Event::CommUp => LogLine::info("Comm_now_up(): updating status to active".to_owned()),
        Event::Deliver { node, msg } => LogLine {
            level: Level::DEBUG,
            crit: false,
            text: format!(
                "Delivering {} message from {node}",
                msg.msg_type().unwrap_or("untyped")
            ),
        },
        Event::PeerShutdown { node } => {
            LogLine::info(format!("Received shutdown notice from '{node}'."))
        }
        Event::ShutdownComplete => LogLine::info(format!("{local} Heartbeat shutdown complete.")),
    }
}

fn event_node(ev: &Event) -> Option<&str> {
    match ev {
        Event::Link { node, .. }
        | Event::NodeStatus { node, .. }
        | Event::NodeDead { node }
        | Event::LateHeartbeat { node, .. }
        | Event::NodeRestarted { node }
        | Event::UuidChanged { node, .. }
        | Event::LostPackets { node, .. }
        | Event::Deliver { node, .. }
        | Event::PeerShutdown { node }
        | Event::PartitionHealed { node } => Some(node),
        Event::CommUp | Event::ShutdownComplete => None,
    }
}

fn event_kind(ev: &Event) -> &'static str {
    match ev {
        Event::Link { .. } => "link",
        Event::NodeStatus { .. } => "node_status",
        Event::NodeDead { .. } => "node_dead",
        Event::LateHeartbeat { .. } => "late_heartbeat",
        Event::NodeRestarted { .. } => "node_restarted",
        Event::UuidChanged { .. } => "uuid_changed",
        Event::LostPackets { .. } => "lost_packets",
        Event::CommUp => "comm_up",
        Event::Deliver { .. } => "deliver",
        Event::PeerShutdown { .. } => "peer_shutdown",
        Event::PartitionHealed { .. } => "partition_healed",
        Event::ShutdownComplete => "shutdown_complete",
    }
}

/// The node status word of an event, for a structured field.
fn event_status(ev: &Event) -> Option<NodeStatus> {
    match ev {
        Event::NodeStatus { new, .. } => Some(*new),
        Event::NodeDead { .. } => Some(NodeStatus::Dead),
        _ => None,
    }
}

/// Log `ev` through tracing, with `event`, `node` and `status` fields.
pub fn log_event(ev: &Event, local: &str, media: &[String]) {
    let line = describe(ev, local, media);
    let kind = event_kind(ev);
    let node = event_node(ev).unwrap_or("");
    let status = event_status(ev).map_or("", NodeStatus::as_str);
    emit(&line, kind, node, status);
}

/// `tracing` levels are compile-time constants at each call site.
pub fn emit(line: &LogLine, kind: &str, node: &str, status: &str) {
    let text = &line.text;
    match (line.level, line.crit) {
        (_, true) => tracing::error!(crit = true, event = kind, node, status, "{text}"),
        (Level::ERROR, false) => tracing::error!(event = kind, node, status, "{text}"),
        (Level::WARN, _) => tracing::warn!(event = kind, node, status, "{text}"),
        (Level::INFO, _) => tracing::info!(event = kind, node, status, "{text}"),
        _ => tracing::debug!(event = kind, node, status, "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn media() -> Vec<String> {
        vec!["eth0".into(), "eth1".into()]
    }

    fn text(ev: Event) -> String {
        describe(&ev, "node1", &media()).text
    }

    #[test]
    fn membership_lines_match_real_heartbeat_logs() {
        assert_eq!(
            text(Event::Link {
                node: "node2".into(),
                medium: 0,
                status: LinkStatus::Up
            }),
            "Link node2:eth0 up."
        );
        assert_eq!(
            text(Event::Link {
                node: "node2".into(),
                medium: 1,
                status: LinkStatus::Dead
            }),
            "Link node2:eth1 dead."
        );
        assert_eq!(
            text(Event::NodeStatus {
                node: "node2".into(),
                old: NodeStatus::Up,
                new: NodeStatus::Active
            }),
            "Status update for node node2: status active"
        );
        assert_eq!(
            text(Event::NodeStatus {
                node: "node1".into(),
                old: NodeStatus::Init,
                new: NodeStatus::Up
            }),
            "Local status now set to: 'up'"
        );
        assert_eq!(
            text(Event::NodeRestarted {
                node: "node1".into()
            }),
            "Heartbeat restart on node node1"
        );
        assert_eq!(
            text(Event::CommUp),
            "Comm_now_up(): updating status to active"
        );
        assert_eq!(
            text(Event::PeerShutdown {
                node: "node1".into()
            }),
            "Received shutdown notice from 'node1'."
        );
        assert_eq!(
            text(Event::ShutdownComplete),
            "node1 Heartbeat shutdown complete."
        );
        assert_eq!(
            text(Event::LostPackets {
                node: "node2".into(),
                first: 29,
                last: 29
            }),
            "1 lost packet(s) for [node2] [28:30]"
        );
        assert_eq!(
            text(Event::LostPackets {
                node: "node2".into(),
                first: 5,
                last: 7
            }),
            "3 lost packet(s) for [node2] [4:8]"
        );
        assert_eq!(
            text(Event::PartitionHealed {
                node: "node2".into()
            }),
            "Cluster node node2 returning after partition."
        );
    }

    #[test]
    fn dead_and_late_are_warnings_and_late_after_dead_is_crit() {
        let dead = describe(
            &Event::NodeDead {
                node: "node2".into(),
            },
            "node1",
            &media(),
        );
        assert_eq!(dead.level, Level::WARN);
        assert_eq!(dead.text, "node node2: is dead");

        let late = describe(
            &Event::LateHeartbeat {
                node: "node2".into(),
                interval: Duration::from_millis(2500),
                after_dead: false,
            },
            "node1",
            &media(),
        );
        assert_eq!((late.level, late.crit), (Level::WARN, false));
        assert_eq!(late.text, "Late heartbeat: Node node2: interval 2500 ms");

        let crit = describe(
            &Event::LateHeartbeat {
                node: "node2".into(),
                interval: Duration::from_millis(4000),
                after_dead: true,
            },
            "node1",
            &media(),
        );
        assert!(crit.crit);
        assert_eq!(
            crit.text,
            "Late heartbeat: Node node2: interval 4000 ms (> deadtime)"
        );
    }

    #[test]
    fn unknown_medium_does_not_panic() {
        assert_eq!(
            text(Event::Link {
                node: "node2".into(),
                medium: 9,
                status: LinkStatus::Up
            }),
            "Link node2:? up."
        );
    }
}
