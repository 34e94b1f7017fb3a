//! Dead and departing peers (mach_down, STONITH, `shutdone`) and our own
//! graceful shutdown.

use std::time::Instant;

use hb_membership::NodeStatus;

use super::{RState, ResourceManager};

const MACH_DOWN: &str = "/usr/share/heartbeat/mach_down";
use crate::command::{Command, FenceTarget};
use crate::exec::{Notice, Step};
use crate::hold::Hold;
use crate::log::{Level, Log, Source};
use crate::messages::{self, StonithResult};

impl ResourceManager {
    /// heartbeat's `hb_rsc_recover_dead_resources()`.
    pub(super) fn recover_dead_resources(&mut self, now: Instant, node: &str) {
        let Some(p) = self.peer_mut(node) else { return };
        p.status = Some(NodeStatus::Dead);
        let heard = std::mem::replace(&mut p.heard, false);
        let has_resources = p.has_resources;
        let announced_shutdown = p.shutdown_seen;
        self.peer_report_fresh = false;
        self.peer_done_unreported = false;
        if self.cancel_standby() && !self.other_stable && self.i_hold == Hold::ALL {
            self.other_stable = true;
        }
        if self.shutdown_in_progress {
            if !matches!(self.rstate, RState::Shutdown | RState::Stable) {
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.rsc_needs_failback = true;
        let mut need_stonith = true;
        if self.cfg.stonith {
            // heartbeat skips STONITH when the peer *reported* holding
            // nothing; a partitioned peer that reported nothing takes
            // everything too (split brain right after boot). With a device
            // configured, fence every dead peer that did not stop cleanly.
            need_stonith = !announced_shutdown;
        } else if heard {
            if self.nice {
                if self.other_holds.is_none() {
                    need_stonith = false;
                }
            } else if !has_resources {
                need_stonith = false;
            }
        }
        if need_stonith {
            if self.cfg.stonith {
                self.start_fence(node);
                return;
            }
            self.send(messages::stonith(node, StonithResult::NotConfigured));
            self.log(Level::Warn, "No STONITH device configured.");
            self.log(Level::Warn, "Shared disks are not protected.");
            self.takeover_from_node(now, node);
        } else {
            self.log(Level::Info, format!("Dead node {node} gave up resources."));
            self.send(messages::stonith(node, StonithResult::Unneeded));
            if self.nice {
                if self.i_hold == Hold::ALL {
                    self.other_stable = true;
                    return;
                }
                if !self.i_hold.intersects(Hold::LOCAL) {
                    self.req_our_resources(true);
                }
                if !self.i_hold.intersects(Hold::FOREIGN) {
                    self.takeover_from_node(now, node);
                }
            } else {
                self.takeover_from_node(now, node);
            }
        }
    }

    pub(super) fn start_fence(&mut self, node: &str) {
        if let Some(p) = self.peer_mut(node) {
            p.fence_in_flight = true;
        }
        self.log(Level::Info, format!("Resetting node {node}"));
        self.out.push_back(Command::Fence {
            target: FenceTarget::Node(node.to_string()),
            reason: format!("node {node} is dead and may hold resources"),
        });
    }

    /// heartbeat's `takeover_from_node()`: run mach_down for `node` and
    /// make sure we hold our own groups.
    pub(super) fn takeover_from_node(&mut self, now: Instant, node: &str) {
        let _ = now;
        if self.shutdown_in_progress {
            self.log(
                Level::Info,
                "Resource takeover cancelled - shutdown in progress.",
            );
            return;
        }
        self.log(
            Level::Info,
            format!("Resources being acquired from {node}."),
        );
        let mut steps = Vec::new();
        for (g, spec) in self.cfg.groups.iter().enumerate() {
            if spec.node == node {
                steps.push(Step::Log(Log::new(
                    Level::Info,
                    Source::MachDown,
                    format!("Taking over resource group {}", spec.key()),
                )));
                // nice_failback already claims these groups in `rsc_hold`, so
                // a returning node waits for us and any release is queued
                // behind this take. Legacy claims nothing: the node asks with
                // ip-request when it is back, and a late take would run the
                // group twice.
                steps.push(if self.nice {
                    Step::Take(g)
                } else {
                    Step::TakeFromDead {
                        group: g,
                        node: node.to_string(),
                    }
                });
            }
        }
        if self.nice {
            steps.push(Step::Log(Log::new(
                Level::Info,
                Source::MachDown,
                format!("{MACH_DOWN}: nice_failback: foreign resources acquired"),
            )));
            steps.push(Step::Send(messages::mach_down_done()));
        }
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::MachDown,
            format!("mach_down takeover complete for node {node}."),
        )));
        steps.push(Step::Notice(Notice::MachDownDone));
        if self.nice {
            self.exec.enqueue_nice(steps);
        } else {
            self.exec.enqueue(steps);
        }
        if self.nice {
            self.i_hold = self.i_hold.union(Hold::FOREIGN);
            self.other_holds = Hold::NONE;
            self.other_stable = true;
            self.takeover_in_progress = true;
        }
        self.req_our_resources(true);
    }

    /// The peer finished a graceful stop (`shutdone`): it holds nothing, take
    /// its groups now instead of waiting for deadtime.
    ///
    /// heartbeat also runs a standby acquisition here whose set it computes
    /// from a stale global and whose `done` message carries a stale word;
    /// the mach_down path that follows it does the real work, so only that
    /// path is kept.
    pub(super) fn peer_shutdown(&mut self, now: Instant, node: &str) {
        let Some(p) = self.peer_mut(node) else { return };
        if p.shutdown_seen {
            return;
        }
        p.shutdown_seen = true;
        p.has_resources = false;
        if self.nice {
            self.other_stable = true;
            self.other_holds = Hold::NONE;
            self.peer_done_unreported = false;
            self.cancel_standby();
        }
        self.log(
            Level::Info,
            format!("Received shutdown notice from '{node}'."),
        );
        self.takeover_from_node(now, node);
    }

    /// heartbeat's `hb_giveup_resources()`: wait until stable, then release
    /// every group and report [`Command::ShutdownReady`].
    pub(super) fn giveup_resources(&mut self) {
        if !self.is_stable() {
            if !self.rsc_needs_shutdown {
                self.log(
                    Level::Warn,
                    "Shutdown delayed until current resource activity finishes.",
                );
                self.rsc_needs_shutdown = true;
            }
            return;
        }
        self.rsc_needs_shutdown = false;
        if self.giveup_started {
            self.log(Level::Info, "Heartbeat shutdown already underway.");
            return;
        }
        self.giveup_started = true;
        self.i_hold = Hold::NONE;
        self.rstate = RState::Shutdown;
        self.send_held(false, Some("shutdown"));
        self.log(Level::Info, "Heartbeat shutdown in progress.");
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            "Giving up all HA resources.",
        ))];
        // `listkeys '.*'`: every group, held or not; stops are idempotent.
        steps.extend((0..self.cfg.groups.len()).map(Step::Give));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            "All HA resources relinquished.",
        )));
        steps.push(Step::Notice(Notice::ShutdownReleased));
        self.exec.enqueue(steps);
    }
}
