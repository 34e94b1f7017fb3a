//! Sending, the own-message loopback, the job pump, and small lookups.

use std::time::Instant;

use hb_wire::Message;

use super::{Peer, RState, ResourceManager};
use crate::command::{Command, FenceTarget};
use crate::exec::{Notice, Out};
use crate::hold::Hold;
use crate::log::{Level, Log, Source};
use crate::messages::{self, StandbyPhase};

impl ResourceManager {
    pub(super) fn peer_mut(&mut self, node: &str) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.name == node)
    }

    pub(super) fn log(&mut self, level: Level, text: impl Into<String>) {
        self.log_from(Source::Heartbeat, level, text);
    }

    pub(super) fn log_from(&mut self, source: Source, level: Level, text: impl Into<String>) {
        self.out
            .push_back(Command::Log(Log::new(level, source, text)));
    }

    /// Send to the cluster; heartbeat also receives its own copy.
    pub(super) fn send(&mut self, msg: Message) {
        if self.fenced {
            return;
        }
        self.out.push_back(Command::Send(msg.clone()));
        self.loopback.push_back((msg, None));
    }

    /// heartbeat's `hb_send_resources_held()`, but with the word of what
    /// still runs here: heartbeat clears bits *before* the stops (standby,
    /// shutdown), and a peer that boots meanwhile takes those groups when
    /// its RQSTDELAY expires, while slow or retried stops still run here.
    pub(super) fn send_held(&mut self, stable: bool, info: Option<&str>) {
        self.send_held_with(stable, info, Hold::NONE);
    }

    /// [`send_held`](Self::send_held), also claiming `extra`.
    pub(super) fn send_held_with(&mut self, stable: bool, info: Option<&str>, extra: Hold) {
        if !self.nice || self.fenced {
            return;
        }
        let word = self.advertised().union(extra);
        self.last_reported = Some(word);
        let msg = messages::resource(word, stable, info);
        self.out.push_back(Command::Send(msg.clone()));
        self.loopback.push_back((msg, Some(self.i_hold)));
    }

    /// `i_hold` plus the set of every group that runs, may run, or is about
    /// to be started here.
    pub(super) fn advertised(&self) -> Hold {
        self.cfg
            .groups
            .iter()
            .enumerate()
            .filter(|(g, _)| self.exec.claims(*g))
            .fold(self.i_hold, |h, (_, spec)| {
                h.union(if spec.node == self.cfg.local {
                    Hold::LOCAL
                } else {
                    Hold::FOREIGN
                })
            })
    }

    /// Run queued work and apply our own messages until nothing moves.
    pub(super) fn pump(&mut self, now: Instant) {
        loop {
            let mut moved = false;
            let peers = &self.peers;
            self.exec.advance(now, &|node: &str| {
                peers.iter().any(|p| p.name == node && p.alive())
            });
            while let Some(o) = self.exec.pop_out() {
                moved = true;
                self.exec_out(now, o);
            }
            while let Some((m, meant)) = self.loopback.pop_front() {
                moved = true;
                if !self.fenced {
                    self.own_message(now, &m, meant);
                }
            }
            if self.rsc_needs_shutdown && !self.fenced && self.is_stable() {
                moved = true;
                self.giveup_resources();
            }
            if self.exec.idle() && !self.i_hold.intersects(Hold::LOCAL) {
                let before = self.i_hold;
                self.repair_orphans();
                moved |= self.i_hold != before;
            }
            moved |= self.report_if_changed();
            if !moved {
                break;
            }
        }
    }

    pub(super) fn exec_out(&mut self, now: Instant, o: Out) {
        match o {
            Out::Log(l) => self.out.push_back(Command::Log(l)),
            Out::Run(req) => self.out.push_back(Command::RunAgent(req)),
            Out::Send(m) => self.send(m),
            Out::SendHeld { stable, info } => self.send_held(stable, Some(info)),
            Out::StandbyDone {
                epoch,
                hold,
                given,
                acquired,
            } => {
                if epoch == self.standby_epoch {
                    // The partner acts on our `done` at once and audits it
                    // against our last report, which predates the job (the
                    // giver's still named what ran, the taker's not yet
                    // what it took): "Both machines own our resources!" /
                    // "No one owns foreign resources!". Report what runs
                    // now first. Our own part is settled: isstable is
                    // heartbeat's `resourcestate == R_STABLE`.
                    // A taker reports the set it now holds, as it will
                    // once its own `done` is applied (even where that set
                    // has no group: the peer audits words, not groups).
                    self.send_held_with(self.rstate == RState::Stable, Some("standby"), acquired);
                    self.send(messages::ask_resources(hold, StandbyPhase::Done));
                } else {
                    // heartbeat's child would still send it, and a peer in a
                    // newer exchange would take it as its own `done`.
                    self.log(
                        Level::Info,
                        "Standby was cancelled; not announcing its completion.",
                    );
                    // The exchange is void: hold exactly what the job left.
                    self.i_hold = self.i_hold.minus(given).union(acquired);
                }
            }
            Out::FenceLocal(reason) => {
                self.fenced = true;
                self.handoff = None;
                self.loopback.clear();
                self.out.push_back(Command::Fence {
                    target: FenceTarget::Local,
                    reason,
                });
            }
            _ if self.fenced => {}
            Out::Notice(n) => self.notice(n),
            Out::StartFailed(g) => self.start_failed(now, g),
            Out::TakeSucceeded(g) => {
                if let Some(c) = self.start_failures.get_mut(g) {
                    *c = 0;
                }
            }
        }
    }

    pub(super) fn notice(&mut self, n: Notice) {
        match n {
            Notice::ReqOurResourcesDone => {
                self.local_done = true;
                self.announce("req_our_resources");
            }
            Notice::IpRespTaken => {
                self.local_done = true;
                self.announce("ip-request-resp");
            }
            Notice::MachDownDone => {
                if !self.nice {
                    self.foreign_done = true;
                    self.announce("status");
                }
            }
            Notice::ShutdownReleased => self.out.push_back(Command::ShutdownReady),
        }
    }

    pub(super) fn announce(&mut self, reason: &str) {
        if self.announced || !self.local_done || !self.foreign_done {
            return;
        }
        self.announced = true;
        self.log(
            Level::Info,
            format!("Initial resource acquisition complete ({reason})"),
        );
    }

    pub(super) fn group_indices(&self, set: Hold) -> Vec<usize> {
        self.cfg
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                let local = g.node == self.cfg.local;
                (local && set.intersects(Hold::LOCAL)) || (!local && set.intersects(Hold::FOREIGN))
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub(super) fn group_index(&self, key: &str) -> Option<usize> {
        self.cfg.groups.iter().position(|g| g.key() == key)
    }
}
