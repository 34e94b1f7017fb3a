//! The receive path: `process_clustermsg`, `should_drop_message` and the
//! per-type handlers, plus the node transitions they cause (dead, restarted,
//! shut down).

use std::time::{Duration, Instant};

use hb_wire::Message;

use crate::ack;
use crate::core::MAX_DEADTIME;
use crate::inbound::{self, Header};
use crate::outbound::{self, is_noseq};
use crate::seqtrack::{Class, Flush, Held, RexmitParams};
use crate::timers::later;
use crate::{Event, LinkStatus, MediumId, Membership, NodeStatus, Reject};

/// `MAX_REXMIT_BATCH`: at most this many packets (retransmissions or NAKs)
/// answer one request.
const MAX_REXMIT_BATCH: usize = 50;

/// Why a node is being marked dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Death {
    Deadtime,
    Shutdown,
}

impl Membership {
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        medium: MediumId,
        msg: Message,
    ) -> Result<(), Reject> {
        let result = self.receive_inner(now, medium, msg);
        if let Err(e) = &result {
            match e {
                Reject::Duplicate { .. } | Reject::OldGeneration { .. } => {}
                _ => self.stats.malformed += 1,
            }
            tracing::debug!(reject = %e, "packet dropped");
        }
        result
    }

    fn receive_inner(
        &mut self,
        now: Instant,
        medium: MediumId,
        msg: Message,
    ) -> Result<(), Reject> {
        let src = inbound::source(&msg)?;
        let i = self
            .index_of(&src)
            .ok_or_else(|| Reject::UnknownNode(src.clone()))?;
        if i == self.local {
            // Our own packets come back on broadcast media; we already ran
            // them through the loopback when sending.
            return Ok(());
        }
        let hdr = inbound::header(&msg, &src)?;
        if let Some(u) = hdr.srcuuid {
            let owner = self.nodes.iter().position(|n| n.uuid == Some(u));
            if owner.is_some_and(|j| j != i) {
                return Err(inbound::malformed(&src, "srcuuid"));
            }
        }

        let known = self.nodes[i].track.generation;
        if hdr.generation < known {
            self.stats.old_generation += 1;
            return Err(Reject::OldGeneration {
                node: src,
                got: hdr.generation,
                current: known,
            });
        }
        self.update_uuid(i, hdr.srcuuid);
        let restarted = hdr.generation > known;
        if restarted {
            self.restart_node(now, i, known > 0);
            self.nodes[i].track.generation = hdr.generation;
        }
        if self.nodes[i].shut_down {
            // What a stopping node still sends after `shutdone` (status
            // until it exits) must not bring it back.
            return Ok(());
        }
        self.nodes[i].heard = true;

        if is_noseq(&hdr.msg_type) {
            self.refresh_link(i, medium, now);
            return self.receive_unsequenced(now, i, &hdr, &msg);
        }
        let seq = hdr.seq.ok_or_else(|| inbound::malformed(&src, "seq"))?;
        let class = self.nodes[i].track.classify(seq);
        if matches!(class, Class::Stale | Class::Duplicate) {
            if class == Class::Duplicate {
                // The same packet on another medium proves that link works.
                self.refresh_link(i, medium, now);
            }
            self.stats.duplicates += 1;
            return Err(Reject::Duplicate { node: src, seq });
        }
        self.refresh_link(i, medium, now);
        self.track_seq(now, i, seq, class);

        let mut result = Ok(());
        let held = if !self.is_for_us(&hdr) {
            Held::Skip
        } else {
            match hdr.msg_type.as_str() {
                outbound::T_STATUS => {
                    result = self.apply_status(now, i, seq, &msg, restarted);
                    Held::Skip
                }
                outbound::T_REQNODES => {
                    self.answer_reqnodes(now, i);
                    Held::Skip
                }
                outbound::T_REPNODES => {
                    self.got_repnodes(now, i, &msg);
                    Held::Skip
                }
                outbound::T_SHUTDONE => Held::Shutdone,
                _ => Held::Deliver(msg),
            }
        };
        let bytes = match &held {
            Held::Deliver(m) => outbound::approx_size(m),
            _ => 0,
        };
        self.nodes[i].track.hold(seq, held, bytes);
        while self.nodes[i].track.over_budget() {
            let Some(oldest) = self.nodes[i].track.first_missing() else {
                break;
            };
            self.nodes[i].track.remove_missing(oldest);
            self.give_up(now, i, vec![oldest], Some(oldest));
        }
        self.release(i);
        result
    }

    /// Sequence bookkeeping for an accepted packet, with heartbeat's ACKs.
    fn track_seq(&mut self, now: Instant, i: usize, seq: u64, class: Class) {
        let params = self.rexmit_params(i);
        match class {
            Class::InOrder => {
                self.nodes[i].track.advance(seq, now, params, &mut self.rng);
                let t = &self.nodes[i].track;
                if self.flow_control && ack::should_ack(seq, t.ack_trigger, t.first_missing()) {
                    self.send_ack(now, i, seq);
                }
            }
            Class::Gap { first, last } => {
                tracing::warn!(
                    node = %self.nodes[i].name, first, last,
                    "{} lost packet(s)", last - first + 1
                );
                let old_fm = self.nodes[i].track.first_missing();
                let evicted = self.nodes[i].track.advance(seq, now, params, &mut self.rng);
                self.give_up(now, i, evicted, old_fm);
            }
            Class::TooFar { first, last } => {
                // Heartbeat: "lost a lot of packets!" and starts over.
                tracing::error!(node = %self.nodes[i].name, first, last, "lost a lot of packets");
                let flush = self.nodes[i].track.reset(true);
                self.apply_flush(i, flush);
                self.report_lost(i, &[(first, last)]);
                self.nodes[i].track.advance(seq, now, params, &mut self.rng);
            }
            Class::Recovered => {
                let old_fm = self.nodes[i].track.first_missing();
                self.nodes[i].track.remove_missing(seq);
                self.stats.recovered += 1;
                if old_fm == Some(seq) {
                    self.ack_after_fill(now, i, seq);
                }
                if self.nodes[i].track.first_missing().is_none() {
                    tracing::info!(node = %self.nodes[i].name, "No pkts missing");
                }
            }
            Class::Stale | Class::Duplicate => {}
        }
    }

    pub(crate) fn rexmit_params(&self, i: usize) -> RexmitParams {
        let max_delay = self.tuning.max_rexmit_delay;
        let giveup = self
            .tuning
            .rexmit_giveup
            .unwrap_or_else(|| self.nodes[i].deadtime.max(max_delay.saturating_mul(10)));
        RexmitParams { max_delay, giveup }
    }

    fn ack_after_fill(&mut self, now: Instant, i: usize, old_first_missing: u64) {
        if !self.flow_control {
            return;
        }
        let t = &self.nodes[i].track;
        if let Some(seq) = ack::ack_after_fill(
            old_first_missing,
            t.first_missing(),
            t.last_seq().unwrap_or(0),
            t.ack_trigger,
        ) {
            self.send_ack(now, i, seq);
        }
    }

    /// Missing seqs that will not come: report them, let the ACK point move
    /// past them (as a NAK does in heartbeat), and release what waited.
    pub(crate) fn give_up(
        &mut self,
        now: Instant,
        i: usize,
        mut seqs: Vec<u64>,
        old_first_missing: Option<u64>,
    ) {
        if seqs.is_empty() {
            return;
        }
        seqs.sort_unstable();
        self.report_lost(i, &ranges(&seqs));
        if let Some(fm) = old_first_missing.filter(|fm| seqs.binary_search(fm).is_ok()) {
            self.ack_after_fill(now, i, fm);
        }
        self.release(i);
    }

    fn report_lost(&mut self, i: usize, ranges: &[(u64, u64)]) {
        for &(first, last) in ranges {
            self.stats.lost = self
                .stats
                .lost
                .saturating_add((last - first).saturating_add(1));
            let node = self.nodes[i].name.clone();
            self.emit(Event::LostPackets { node, first, last });
        }
    }

    /// Hand out everything now in order; a released `shutdone` kills the node.
    fn release(&mut self, i: usize) {
        let items = self.nodes[i].track.release();
        let stopped = self.release_items(i, items);
        if stopped && self.nodes[i].status != NodeStatus::Dead {
            self.mark_dead(i, Death::Shutdown);
        }
    }

    /// Returns true if a `shutdone` was among them.
    fn release_items(&mut self, i: usize, items: Vec<Held>) -> bool {
        let mut stopped = false;
        for item in items {
            match item {
                Held::Skip => {}
                Held::Deliver(msg) => {
                    let node = self.nodes[i].name.clone();
                    self.emit(Event::Deliver { node, msg });
                }
                Held::Shutdone => {
                    if !self.nodes[i].shut_down {
                        self.nodes[i].shut_down = true;
                        let node = self.nodes[i].name.clone();
                        tracing::info!(node = %node, "Received shutdown notice");
                        self.emit(Event::PeerShutdown { node });
                    }
                    stopped = true;
                }
            }
        }
        stopped
    }

    fn apply_flush(&mut self, i: usize, mut flush: Flush) {
        flush.lost.sort_unstable();
        flush.lost.dedup();
        self.report_lost(i, &ranges(&flush.lost));
        self.release_items(i, flush.items);
    }

    /// `mark_node_dead`.
    pub(crate) fn mark_dead(&mut self, i: usize, why: Death) {
        let node = self.nodes[i].name.clone();
        let old = self.nodes[i].status;
        if why == Death::Deadtime {
            tracing::warn!(node = %node, "node is dead");
            self.emit(Event::NodeDead { node: node.clone() });
        }
        self.nodes[i].status = NodeStatus::Dead;
        self.nodes[i].heard = false;
        self.nodes[i].died_in_generation = Some(self.nodes[i].track.generation);
        if old != NodeStatus::Dead {
            self.emit(Event::NodeStatus {
                node,
                old,
                new: NodeStatus::Dead,
            });
        }
        let flush = self.nodes[i].track.reset(true);
        self.apply_flush(i, flush);
        self.recompute_hist_ack();
    }

    /// A higher generation: the node restarted. What the old run left
    /// waiting is released; tracking starts over.
    fn restart_node(&mut self, now: Instant, i: usize, announce: bool) {
        if announce {
            let node = self.nodes[i].name.clone();
            tracing::info!(node = %node, "Heartbeat restart on node");
            self.emit(Event::NodeRestarted { node });
        }
        let flush = self.nodes[i].track.reset(false);
        self.apply_flush(i, flush);
        let n = &mut self.nodes[i];
        n.last_status_rx = None;
        n.status_seq = 0;
        n.shut_down = false;
        n.alive_since = now;
        self.recompute_hist_ack();
    }

    /// `update_tables`: learn the uuid, or report that it changed.
    fn update_uuid(&mut self, i: usize, uuid: Option<[u8; 16]>) {
        let Some(u) = uuid else { return };
        match self.nodes[i].uuid {
            Some(old) if old == u => {}
            Some(_) => {
                self.nodes[i].uuid = Some(u);
                let node = self.nodes[i].name.clone();
                tracing::info!(node = %node, "node changed its uuid");
                self.emit(Event::UuidChanged { node, uuid: u });
            }
            None => self.nodes[i].uuid = Some(u),
        }
    }

    fn refresh_link(&mut self, i: usize, medium: MediumId, now: Instant) {
        let Some(link) = self.nodes[i].links.get_mut(medium) else {
            return;
        };
        link.last_rx = now;
        if link.status != LinkStatus::Up {
            link.status = LinkStatus::Up;
            let node = self.nodes[i].name.clone();
            self.emit(Event::Link {
                node,
                medium,
                status: LinkStatus::Up,
            });
        }
    }

    fn is_for_us(&self, hdr: &Header) -> bool {
        match (&hdr.destuuid, &hdr.dest) {
            (Some(u), _) => *u == self.config.uuid,
            (None, Some(d)) => d.eq_ignore_ascii_case(&self.config.local),
            (None, None) => true,
        }
    }

    /// `HBDoMsg_T_STATUS`.
    fn apply_status(
        &mut self,
        now: Instant,
        i: usize,
        seq: u64,
        msg: &Message,
        restarted: bool,
    ) -> Result<(), Reject> {
        let name = self.nodes[i].name.clone();
        let new = match inbound::required_str(msg, &name, "st")? {
            "init" => NodeStatus::Init,
            "up" => NodeStatus::Up,
            "active" => NodeStatus::Active,
            _ => return Err(inbound::malformed(&name, "st")),
        };
        if seq < self.nodes[i].status_seq {
            // A retransmitted old status: the newer one already counted.
            return Ok(());
        }
        let old = self.nodes[i].status;
        let was_dead = old == NodeStatus::Dead;
        if let Some(prev) = self.nodes[i].last_status_rx {
            let interval = now.saturating_duration_since(prev);
            if interval > self.config.warntime {
                tracing::warn!(node = %name, interval_ms = interval.as_millis() as u64, after_dead = was_dead, "Late heartbeat");
                self.emit(Event::LateHeartbeat {
                    node: name.clone(),
                    interval,
                    after_dead: was_dead,
                });
            }
        }
        let generation = self.nodes[i].track.generation;
        if was_dead
            && !restarted
            && generation > 0
            && self.nodes[i].died_in_generation == Some(generation)
        {
            tracing::error!(node = %name, "Cluster node returning after partition");
            self.emit(Event::PartitionHealed { node: name.clone() });
        }
        if new != old {
            tracing::info!(node = %name, status = new.as_str(), "Status update");
            self.nodes[i].status = new;
            self.emit(Event::NodeStatus {
                node: name.clone(),
                old,
                new,
            });
        }
        if let Some(dt) = msg.get_hex("dt") {
            self.nodes[i].deadtime =
                Duration::from_millis(dt).clamp(Duration::from_millis(1), MAX_DEADTIME);
        }
        if self.flow_control && msg.get("protocol").is_none() {
            tracing::info!(node = %name, "flow control disabled due to different version heartbeat");
            self.flow_control = false;
        }
        let n = &mut self.nodes[i];
        n.last_status_rx = Some(now);
        n.alive_since = now;
        n.status_seq = seq;
        if was_dead || old == NodeStatus::Init {
            self.recompute_hist_ack();
        }
        Ok(())
    }

    /// `HBDoMsg_T_REQNODES`: answer with our node list.
    fn answer_reqnodes(&mut self, now: Instant, i: usize) {
        let dest = self.nodes[i].name.clone();
        let nodelist = self.nodelist();
        self.send_sequenced(now, outbound::repnodes(&dest, &nodelist, " "));
    }

    /// `HBDoMsg_T_REPNODES`. Heartbeat would add and remove nodes to match
    /// the peer's list; ha.cf stays authoritative here (no autojoin), so a
    /// difference is only logged.
    fn got_repnodes(&mut self, now: Instant, i: usize, msg: &Message) {
        if let Some(list) = msg.get_str("nodelist") {
            let mut theirs: Vec<&str> = list.split_whitespace().collect();
            let mut ours: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            theirs.sort_unstable();
            ours.sort_unstable();
            if theirs != ours {
                tracing::warn!(node = %self.nodes[i].name, nodelist = list, "peer's node list differs from ha.cf");
            }
        }
        self.comm_now_up(now);
    }

    fn receive_unsequenced(
        &mut self,
        now: Instant,
        i: usize,
        hdr: &Header,
        msg: &Message,
    ) -> Result<(), Reject> {
        let name = self.nodes[i].name.clone();
        if hdr.msg_type == outbound::T_NAKREXMIT {
            // The sender cannot retransmit this one, to whoever asked.
            let nseq = match msg.get_hex("firstseq") {
                Some(s) if s > 0 => s,
                _ => return Err(inbound::malformed(&name, "firstseq")),
            };
            let old_fm = self.nodes[i].track.first_missing();
            if self.nodes[i].track.remove_missing(nseq) {
                tracing::error!(node = %name, seq = nseq, "Irretrievably lost packet");
                self.give_up(now, i, vec![nseq], old_fm);
            }
            return Ok(());
        }
        if !self.is_for_us(hdr) {
            return Ok(());
        }
        match hdr.msg_type.as_str() {
            outbound::T_ACKMSG => {
                let ackseq = msg
                    .get_hex("ackseq")
                    .ok_or_else(|| inbound::malformed(&name, "ackseq"))?;
                if self.flow_control {
                    self.apply_ack(i, ackseq);
                }
                Ok(())
            }
            outbound::T_REXMIT => self.answer_rexmit(now, i, msg),
            // NS_st (ping nodes) and anything newer: nothing to do.
            _ => Ok(()),
        }
    }

    /// `process_rexmit`: resend what we still have, NAK what we do not.
    fn answer_rexmit(&mut self, now: Instant, i: usize, msg: &Message) -> Result<(), Reject> {
        let name = self.nodes[i].name.clone();
        let first = inbound::decimal_field(msg, &name, "firstseq")?;
        let last = inbound::decimal_field(msg, &name, "lastseq")?;
        if first == 0 || first > last {
            return Err(inbound::malformed(&name, "firstseq"));
        }
        // Heartbeat resends one packet at most once per this window.
        let window = self
            .tuning
            .max_rexmit_delay
            .saturating_sub(Duration::from_millis(10));
        let hiseq = self.history.hiseq();
        let mut budget = MAX_REXMIT_BATCH;
        // Seqs this node already acknowledged need nothing.
        let mut seq = first.max(self.nodes[i].track.ackseq.saturating_add(1));
        while seq <= last && seq <= hiseq && budget > 0 {
            match self.history.lookup(seq) {
                crate::history::Lookup::TooNew => break,
                crate::history::Lookup::TooOld => {
                    self.send_unsequenced(now, outbound::nak(&name, seq, "seqno too low"));
                    self.stats.naks_sent += 1;
                    budget -= 1;
                }
                crate::history::Lookup::Found(sent) => {
                    let recent = sent
                        .last_rexmit
                        .is_some_and(|t| now.saturating_duration_since(t) < window);
                    if !recent {
                        sent.last_rexmit = Some(now);
                        let copy = sent.msg.clone();
                        self.push_transmit(copy);
                        self.stats.retransmissions_sent += 1;
                        budget -= 1;
                    }
                }
            }
            seq += 1;
        }
        Ok(())
    }

    /// Send NS_rexmit for due missing seqs, one per contiguous range.
    pub(crate) fn request_rexmits(&mut self, now: Instant, i: usize, seqs: &[u64]) {
        if seqs.is_empty() || self.nodes[i].status == NodeStatus::Dead {
            return;
        }
        let name = self.nodes[i].name.clone();
        for (first, last) in ranges(seqs) {
            self.send_unsequenced(now, outbound::rexmit(&name, first, last));
            self.stats.rexmit_requests_sent += 1;
        }
    }

    /// Deadline after which peer `i` is declared dead, if it is alive.
    pub(crate) fn node_deadline(&self, i: usize) -> Option<Instant> {
        let n = &self.nodes[i];
        if i == self.local || n.status == NodeStatus::Dead || n.shut_down {
            return None;
        }
        Some(later(n.alive_since, self.dead_window(i)))
    }

    /// Before Comm_now_up everyone gets initdead (heartbeat: "the network is
    /// sometimes slow to start working"), afterwards the node's own `dt`.
    pub(crate) fn dead_window(&self, i: usize) -> Duration {
        if self.comm_up() {
            self.nodes[i].deadtime
        } else {
            self.config.initdead
        }
    }
}

/// Sorted, distinct seqs as inclusive contiguous ranges.
fn ranges(seqs: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &s in seqs {
        match out.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(s) => *last = s,
            _ => out.push((s, s)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_group_contiguous_runs() {
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(ranges(&[3]), vec![(3, 3)]);
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
        assert_eq!(
            ranges(&[u64::MAX - 1, u64::MAX]),
            vec![(u64::MAX - 1, u64::MAX)]
        );
    }
}
