//! Everything time-driven: keepalive, the start-up `dt` bump, dead nodes and
//! links, retransmission requests and give-ups, reqnodes retries and the
//! shutdown phases. Heartbeat polls every 0.5 s; here every deadline is
//! reported exactly by `poll_timeout`, so a node dies at `last + dt` sharp.

use std::time::{Duration, Instant};

use crate::core::{Comm, Shutdown};
use crate::receive::Death;
use crate::{Event, LinkStatus, Membership, NodeStatus};

/// `t + d`, saturating at `t` if the sum is not representable (durations
/// are clamped long before that can happen).
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

impl Membership {
    pub(crate) fn run_timers(&mut self, now: Instant) {
        if self.shutdown == Shutdown::Done {
            return;
        }
        if now >= self.next_keepalive {
            self.send_status(now);
            // One status per call, however late the shell is; keep the phase.
            while self.next_keepalive <= now {
                self.next_keepalive = later(self.next_keepalive, self.config.keepalive);
            }
        }
        if self.bump_ends.is_some_and(|t| now >= t) {
            // hb_pop_deadtime
            self.bump_ends = None;
            self.advertised_deadtime = self.config.deadtime;
            self.send_status(now);
        }
        self.check_nodes(now);
        self.check_links(now);
        self.check_ping_nodes(now);
        for i in 0..self.nodes.len() {
            if i == self.local {
                continue;
            }
            let max_delay = self.tuning.max_rexmit_delay;
            let due = self.nodes[i].track.due_requests(now, max_delay);
            self.request_rexmits(now, i, &due);
            let old_fm = self.nodes[i].track.first_missing();
            let expired = self.nodes[i].track.due_giveups(now);
            self.give_up(now, i, expired, old_fm);
        }
        self.check_comm(now);
        self.shutdown_phase(now);
    }

    /// `check_for_timeouts`, nodes part.
    fn check_nodes(&mut self, now: Instant) {
        for i in 0..self.nodes.len() {
            if self.node_deadline(i).is_some_and(|d| now >= d) {
                self.mark_dead(i, Death::Deadtime);
            }
        }
    }

    /// `check_for_timeouts`, links part: same window as the node.
    fn check_links(&mut self, now: Instant) {
        for i in 0..self.nodes.len() {
            if i == self.local {
                continue;
            }
            let window = self.dead_window(i);
            for m in 0..self.nodes[i].links.len() {
                let link = &mut self.nodes[i].links[m];
                if link.status == LinkStatus::Up && now >= later(link.last_rx, window) {
                    link.status = LinkStatus::Dead;
                    let node = self.nodes[i].name.clone();
                    tracing::info!(node = %node, medium = m, "Link dead");
                    self.emit(Event::Link {
                        node,
                        medium: m,
                        status: LinkStatus::Dead,
                    });
                }
            }
        }
    }

    /// `hb_mcp_final_shutdown`: one phase after `shutdone` status goes out
    /// twice (phases 0 and 1), one phase later the process is gone.
    fn shutdown_phase(&mut self, now: Instant) {
        let Shutdown::Lingering { phase, at } = self.shutdown else {
            return;
        };
        if now < at {
            return;
        }
        if phase == 0 {
            self.send_status(now);
            self.send_status(now);
            self.shutdown = Shutdown::Lingering {
                phase: 1,
                at: later(at, self.tuning.shutdown_phase_delay),
            };
        } else {
            self.shutdown = Shutdown::Done;
            let old = self.local_status;
            self.local_status = NodeStatus::Dead;
            let node = self.config.local.clone();
            tracing::info!(node = %node, "Heartbeat shutdown complete");
            self.emit(Event::NodeStatus {
                node,
                old,
                new: NodeStatus::Dead,
            });
            self.emit(Event::ShutdownComplete);
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.shutdown == Shutdown::Done {
            return None;
        }
        let mut next = self.next_keepalive;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        consider(self.bump_ends);
        consider(self.next_ping_deadline());
        if let Comm::AskingNodes { retry_at, .. } = self.comm {
            consider(Some(retry_at));
        }
        if let Shutdown::Lingering { at, .. } = self.shutdown {
            consider(Some(at));
        }
        for i in 0..self.nodes.len() {
            if i == self.local {
                continue;
            }
            consider(self.node_deadline(i));
            let window = self.dead_window(i);
            for link in &self.nodes[i].links {
                if link.status == LinkStatus::Up {
                    consider(Some(later(link.last_rx, window)));
                }
            }
            consider(self.nodes[i].track.next_deadline());
        }
        Some(next)
    }
}
