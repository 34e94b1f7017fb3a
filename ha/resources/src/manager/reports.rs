//! nice_failback boot and the `starting` / `resource` reports: RQSTDELAY,
//! stability, auto failback, and this crate's truthful re-reports and
//! orphan repair.

use std::time::Instant;

use hb_membership::NodeStatus;
use hb_wire::Message;

use super::{Going, Peer, RState, ResourceManager};

const RSC_MGR: &str = "/usr/share/heartbeat/ResourceManager";
use crate::exec::{Notice, Step};
use crate::hold::Hold;
use crate::log::{Level, Log, Source};
use crate::messages::{self, Incoming, StandbyPhase};

impl ResourceManager {
    pub(super) fn comm_up_action(&mut self, now: Instant) {
        self.peer_report_fresh = false;
        if self.comm_up {
            return;
        }
        self.comm_up = true;
        // Membership raises Comm_now_up once every peer was heard or
        // declared dead; the first packet heard need not be a status, so a
        // peer without news is alive. It is not marked heard (heartbeat's
        // `anypacketsyet`): the initdead NodeDead may come right after
        // this, and a node never heard from must be treated as one that may
        // hold resources, as in the other order.
        for p in &mut self.peers {
            if p.status.is_none() {
                p.status = Some(NodeStatus::Up);
            }
        }
        if self.shutdown_in_progress {
            // Stopped before the cluster came up: take part in nothing.
            self.dead_at_boot.clear();
            return;
        }
        if self.peers.iter().all(Peer::alive) {
            self.foreign_done = true;
        }
        if self.peers.is_empty() {
            // heartbeat would wait for a `resource` report that nobody
            // sends; a lone node simply takes its groups.
            self.other_stable = true;
            if self.nice {
                self.rstate = RState::Stable;
            }
            self.req_our_resources(true);
            return;
        }
        if self.nice {
            self.send(messages::starting());
            self.rstate = RState::Starting;
        } else {
            self.req_our_resources(false);
        }
        self.recover_dead_at_boot(now);
    }

    /// Membership declared `node` dead before Comm_now_up. heartbeat only
    /// handles resources from Comm_now_up on; recovering now would run the
    /// mach_down job in state 0, where its own `resource … mach_down`
    /// report is dropped and the node stays in `transition` for good.
    pub(super) fn dead_before_comm_up(&mut self, node: &str) {
        let Some(p) = self.peer_mut(node) else { return };
        p.status = Some(NodeStatus::Dead);
        if !self.dead_at_boot.iter().any(|n| n == node) {
            self.dead_at_boot.push(node.to_string());
        }
    }

    fn recover_dead_at_boot(&mut self, now: Instant) {
        for node in std::mem::take(&mut self.dead_at_boot) {
            // Heard again in the meantime: it negotiates like any peer.
            if self.peers.iter().any(|p| p.name == node && !p.alive()) {
                self.peer_died(now, &node);
            }
        }
    }

    /// heartbeat's `req_our_resources()`: acquire our own groups.
    pub(super) fn req_our_resources(&mut self, getthemanyway: bool) {
        if self.shutdown_in_progress {
            return;
        }
        if self.nice {
            if (self.other_holds.intersects(Hold::FOREIGN) || self.i_hold.intersects(Hold::LOCAL))
                && !getthemanyway
                && self.going == Going::Not
            {
                self.log(Level::Info, "Local Resource acquisition completed. (none)");
                return;
            }
            self.i_hold = self.i_hold.union(Hold::LOCAL);
        }
        // `req_resource` asks the peer only in legacy mode with company.
        // heartbeat counts only peers whose status already says `active`;
        // one that is merely up may hold our groups (we restarted right
        // after it took them over), so ask whenever a peer is alive.
        let dont_ask = self.nice || !self.peers.iter().any(Peer::alive);
        let local = self.cfg.local.clone();
        let mut steps = Vec::new();
        let ours = self.group_indices(Hold::LOCAL);
        for &g in &ours {
            let key = self.cfg.groups[g].key().to_string();
            if dont_ask {
                steps.push(Step::Send(messages::ip_request_resp(&local, &key, true)));
                steps.push(Step::Log(Log::new(
                    Level::Info,
                    Source::IpRequestResp,
                    format!("received ip-request-resp {key} OK yes"),
                )));
                steps.push(Step::Take(g));
            } else {
                steps.push(Step::Send(messages::ip_request(&key)));
                self.reask_at = Some(self.clock + self.cfg.timing.rqst_delay);
            }
        }
        let text = if ours.is_empty() {
            format!("No local resources [{RSC_MGR} listkeys {local}] to acquire.")
        } else {
            "Local Resource acquisition completed.".to_string()
        };
        steps.push(Step::Log(Log::new(Level::Info, Source::Heartbeat, text)));
        if self.nice {
            steps.push(Step::SendHeld {
                stable: true,
                info: "req_our_resources()",
            });
        }
        steps.push(Step::Notice(Notice::ReqOurResourcesDone));
        if self.nice {
            self.exec.enqueue_nice(steps);
        } else {
            self.exec.enqueue(steps);
        }
    }

    pub(super) fn own_message(&mut self, now: Instant, m: &Message, meant: Option<Hold>) {
        match Incoming::parse(m) {
            Incoming::Resource {
                hold,
                full,
                isstable,
                info,
            } => {
                // A report of ours says what we held when we sent it; the
                // copy comes back after later handlers may have changed
                // that (req_our_resources right after a reply report), and
                // re-applying the old word would roll it back. Our word is
                // current by construction.
                let hold = meant.map_or(hold, |_| Some(self.i_hold.as_str()));
                self.process_resources(now, true, hold, full, isstable, info)
            }
            Incoming::AskResources { hold, info } => {
                let me = self.cfg.local.clone();
                self.ask_for_resources(now, true, &me, hold, info);
            }
            // `starting` from us is ignored; the rc.d scripts for
            // hb_takeover / ip-request exit on their own messages; our own
            // ip-request-resp was acted on when it was sent.
            _ => {}
        }
    }

    pub(super) fn peer_message(&mut self, now: Instant, node: &str, m: &Message) {
        if let Some(p) = self.peer_mut(node) {
            p.heard = true;
        }
        let incoming = Incoming::parse(m);
        if let Incoming::Shutdone = incoming {
            self.peer_shutdown(now, node);
            return;
        }
        // Answering for our own groups is always safe, and a peer that asks
        // before our Comm_now_up would otherwise never hear back.
        if let Incoming::IpRequest { key: Some(key) } = incoming {
            self.ip_request(node, key);
            return;
        }
        // heartbeat registers the resource handlers at Comm_now_up.
        if !self.comm_up {
            return;
        }
        match incoming {
            Incoming::Starting => self.process_starting(now),
            Incoming::Resource {
                hold,
                full,
                isstable,
                info,
            } => self.process_resources(now, false, hold, full, isstable, info),
            Incoming::AskResources { hold, info } => {
                self.ask_for_resources(now, false, node, hold, info)
            }
            Incoming::HbTakeover { hold } => self.hb_takeover_request(hold),
            Incoming::IpRequestResp {
                dest: Some(dest),
                key: Some(key),
                weown,
                ok,
            } if dest == self.cfg.local => self.ip_request_resp(key, weown, ok),
            _ => {}
        }
    }

    /// A peer's `starting`: reply with what we hold.
    pub(super) fn process_starting(&mut self, now: Instant) {
        if !self.nice {
            return;
        }
        let mut new = self.rstate;
        match self.rstate {
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Starting => {
                new = RState::BothStarting;
                self.foreign_done = true;
                self.announce("HB_R_BOTHSTARTING");
            }
            RState::Init | RState::BothStarting => {
                self.log(
                    Level::Error,
                    format!("Received 'starting' message in state {}", self.rstate as u8),
                );
                return;
            }
        }
        self.other_stable = false;
        if self.takeover_in_progress {
            self.log(Level::Warn, "T_STARTING received during takeover.");
        }
        // A `starting` comes from a new incarnation (a restart quicker than
        // deadtime): a standby with the old one can never finish, and
        // heartbeat would wait an hour with the released groups down.
        self.cancel_standby();
        self.peer_report_fresh = false;
        self.peer_done_unreported = false;
        self.send_held(self.rstate == RState::Stable, None);
        self.set_rstate(now, new);
    }

    pub(super) fn set_rstate(&mut self, now: Instant, new: RState) {
        self.rstate = new;
        if new == RState::RscRcvd && self.local_takeover_time.is_none() {
            // Set once, like heartbeat's local_takeover_time.
            self.local_takeover_time = Some(now + self.cfg.timing.rqst_delay);
        }
    }

    /// A `resource` report, from the peer or from ourselves.
    pub(super) fn process_resources(
        &mut self,
        now: Instant,
        from_self: bool,
        hold: Option<&str>,
        full: bool,
        isstable: Option<&str>,
        info: Option<&str>,
    ) {
        if !self.nice {
            return;
        }
        let Some(word) = hold else {
            self.log(Level::Error, "resource message without rsc_hold field.");
            return;
        };
        let n = Hold::parse(word).unwrap_or_else(|| {
            self.log(
                Level::Error,
                format!("encode_resources: bad resource type [{word}]"),
            );
            Hold::NONE
        });
        let mut new = self.rstate;
        match self.rstate {
            RState::Starting | RState::BothStarting => {
                new = RState::RscRcvd;
                if !self.auto_failback {
                    self.foreign_done = true;
                    self.announce("T_RESOURCES");
                }
            }
            RState::RscRcvd | RState::Stable | RState::Shutdown => {}
            RState::Init => {
                self.log(Level::Error, "resource message received in state 0");
                return;
            }
        }
        if !from_self {
            self.other_holds = self.other_holds.updated(n, full);
            if full {
                self.peer_report_fresh = self.going == Going::Not;
                self.peer_done_unreported = false;
            }
            if let Some(s) = isstable {
                if s == "1" {
                    if !self.other_stable {
                        self.log(Level::Info, "remote resource transition completed.");
                        self.other_stable = true;
                        self.send_held(self.rstate == RState::Stable, None);
                        self.perform_auto_failback(now);
                    }
                } else {
                    self.other_stable = false;
                }
            }
            if !matches!(self.rstate, RState::Stable | RState::Shutdown) && self.other_stable {
                self.log(Level::Info, "remote resource transition completed.");
                self.req_our_resources(false);
                new = RState::Stable;
                self.send_held(true, None);
                self.perform_auto_failback(now);
                self.foreign_done = true;
                if !self.auto_failback && self.other_holds.intersects(Hold::FOREIGN) {
                    self.local_done = true;
                }
                self.announce("T_RESOURCES(them)");
            }
        } else {
            self.i_hold = self.i_hold.updated(n, full);
            if self.i_hold.intersects(Hold::LOCAL) {
                self.local_done = true;
                self.announce("T_RESOURCES(us)");
            }
            match info {
                Some("mach_down") => {
                    self.log(Level::Info, "mach_down takeover complete.");
                    self.takeover_in_progress = false;
                    self.i_hold = self.i_hold.union(Hold::FOREIGN);
                    self.rsc_needs_failback = true;
                    self.other_stable = true;
                    self.foreign_done = true;
                    self.announce("mach_down");
                }
                Some("shutdown") => {
                    self.rstate = RState::Shutdown;
                    new = RState::Shutdown;
                }
                _ => {}
            }
        }
        self.set_rstate(now, new);
        self.audit();
    }

    /// Once idle and stable, tell the peer if what we hold changed without a
    /// report (a cancelled standby's stops, a skipped or failed take):
    /// heartbeat never needs this because its word never includes running
    /// or pending work, but ours does and the peer must see it shrink.
    pub(super) fn report_if_changed(&mut self) -> bool {
        if !self.nice
            || self.fenced
            || !self.comm_up
            || self.shutdown_in_progress
            || self.rstate != RState::Stable
            || self.going != Going::Not
            || self.standby_running.is_some()
            || !self.exec.idle()
            || !matches!(self.last_reported, Some(w) if w != self.advertised())
            || !self.peers.iter().any(Peer::alive)
        {
            return false;
        }
        self.send_held(true, None);
        true
    }

    /// heartbeat only logs "No one owns our local resources!". When the
    /// peer's fresh, stable, full report and our own idle state agree that
    /// nobody holds our local groups (e.g. a standby partner restarted
    /// mid-way), take them back. Each side only repairs its own local set,
    /// so the two never reach for the same group; a standby in progress, or
    /// a report from before the last exchange ended, rules it out.
    pub(super) fn repair_orphans(&mut self) {
        if self.nice
            && !self.fenced
            && self.peer_report_fresh
            && self.peers.iter().any(Peer::alive)
            && self.is_stable()
            && self.rstate == RState::Stable
            && !self.shutdown_in_progress
            && !self.i_hold.intersects(Hold::LOCAL)
            && !self.other_holds.intersects(Hold::FOREIGN)
            && !self.group_indices(Hold::LOCAL).is_empty()
        {
            self.req_our_resources(false);
        }
    }

    /// heartbeat's `AuditResources()`: complain about duplicated or orphaned
    /// resource sets.
    pub(super) fn audit(&mut self) {
        if !self.nice {
            return;
        }
        if self.i_hold.intersects(Hold::LOCAL) && self.other_holds.intersects(Hold::FOREIGN) {
            self.log(Level::Error, "Both machines own our resources!");
        }
        if self.other_holds.intersects(Hold::LOCAL) && self.i_hold.intersects(Hold::FOREIGN) {
            self.log(Level::Error, "Both machines own foreign resources!");
        }
        if self.is_stable()
            && !self.shutdown_in_progress
            && self.rstate != RState::Shutdown
            && !self.peer_done_unreported
        {
            if !self.i_hold.intersects(Hold::LOCAL) && !self.other_holds.intersects(Hold::FOREIGN) {
                self.log(Level::Error, "No one owns our local resources!");
            }
            if !self.other_holds.intersects(Hold::LOCAL) && !self.i_hold.intersects(Hold::FOREIGN) {
                self.log(Level::Error, "No one owns foreign resources!");
            }
        }
    }

    /// heartbeat's `PerformAutoFailback()`.
    pub(super) fn perform_auto_failback(&mut self, now: Instant) {
        if self.shutdown_in_progress
            || !self.i_hold.intersects(Hold::FOREIGN)
            || !self.rsc_needs_failback
            || !self.auto_failback
        {
            self.rsc_needs_failback = false;
            return;
        }
        if self.going != Going::Not || !self.other_stable || self.rstate != RState::Stable {
            self.log(Level::Debug, "Auto failback delayed.");
            self.auto_failback_at = Some(now + self.cfg.timing.auto_failback_retry);
            return;
        }
        self.failback_in_progress = true;
        self.standby_rsctype = Hold::FOREIGN;
        self.send(messages::ask_resources(Hold::FOREIGN, StandbyPhase::Me));
        self.rsc_needs_failback = false;
    }
}
