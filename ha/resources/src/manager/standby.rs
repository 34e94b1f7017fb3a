//! The 3-phase standby protocol (`ask_resources`), hb_takeover, and the
//! hand-off of groups that failed to start.

use std::time::Instant;

use super::{Going, Peer, RState, ResourceManager};
use crate::exec::Step;
use crate::hold::Hold;
use crate::log::{Level, Log, Source};
use crate::messages::{self, StandbyPhase};

impl ResourceManager {
    /// heartbeat's `ask_for_resources()`: the 3-phase standby protocol.
    pub(super) fn ask_for_resources(
        &mut self,
        now: Instant,
        from_me: bool,
        from: &str,
        hold: Option<&str>,
        info: Option<&str>,
    ) {
        if !self.nice {
            self.log(
                Level::Info,
                "Standby mode only implemented when nice_failback on",
            );
            return;
        }
        if self.rstate == RState::Shutdown {
            self.log(Level::Debug, "standby message ignored during shutdown");
            return;
        }
        let rtype = match hold {
            None => Hold::ALL,
            Some(w) => Hold::parse(w).unwrap_or_else(|| {
                self.log(
                    Level::Error,
                    format!("encode_resources: bad resource type [{w}]"),
                );
                Hold::NONE
            }),
        };
        let Some(info) = info else {
            self.log(Level::Error, "Received standby message without info/from");
            return;
        };
        let is = |word: &str| info.eq_ignore_ascii_case(word);
        if let Some(until) = self.standby_running {
            if now < until && is("me") {
                let ms = until.saturating_duration_since(now).as_millis();
                let secs = ms.div_ceil(1000);
                self.log(
                    Level::Warn,
                    format!(
                        "Standby in progress- new request from {from} ignored [{secs} seconds left]"
                    ),
                );
                return;
            }
        }
        let orig = self.going;
        let run_to = self.cfg.timing.standby_run_timeout;
        let mut ignored = false;
        match self.going {
            Going::Not => {
                if !self.other_stable {
                    self.log(
                        Level::Warn,
                        format!(
                            "standby message [{info}] from {from} ignored.  Other side is in flux."
                        ),
                    );
                    return;
                }
                if self.rstate != RState::Stable {
                    self.log(
                        Level::Warn,
                        format!("standby message [{info}] from {from} ignored.  local resources in flux."),
                    );
                    return;
                }
                self.standby_rsctype = rtype;
                if is("me") {
                    self.other_stable = false;
                    self.log(Level::Info, format!("{from} wants to go standby [{rtype}]"));
                    if from_me {
                        self.standby_running = Some(now + self.cfg.timing.standby_reply_timeout);
                        self.set_going(Going::Me);
                    } else {
                        self.set_going(Going::Other);
                        self.send(messages::ask_resources(
                            self.standby_rsctype,
                            StandbyPhase::Other,
                        ));
                        self.standby_running = Some(now + run_to);
                    }
                } else {
                    ignored = true;
                }
            }
            Going::Me => {
                if !from_me {
                    self.standby_rsctype = rtype;
                    self.standby_running = Some(now + run_to);
                    if is("other") {
                        self.log(
                            Level::Info,
                            format!("standby: {from} can take our {rtype} resources"),
                        );
                        self.go_standby_me(rtype);
                    } else {
                        ignored = true;
                    }
                } else if is("done") {
                    self.log(
                        Level::Info,
                        format!("Local standby process completed [{rtype}]."),
                    );
                    self.set_going(Going::Done);
                    self.i_hold = self.i_hold.minus(self.standby_rsctype);
                    self.standby_running = Some(now + run_to);
                } else {
                    ignored = true;
                }
            }
            Going::Other => {
                self.standby_rsctype = rtype;
                if is("done") {
                    self.standby_running = Some(now + run_to);
                    if !from_me {
                        self.log(
                            Level::Info,
                            format!("standby: acquire [{rtype}] resources from {from}"),
                        );
                        self.go_standby_other(self.standby_rsctype);
                        self.set_going(Going::Done);
                    } else {
                        ignored = true;
                    }
                } else if !from_me || !is("other") {
                    ignored = true;
                }
            }
            Going::Done => {
                self.standby_rsctype = rtype;
                if info == "done" {
                    self.standby_running = None;
                    self.set_going(Going::Not);
                    self.failback_in_progress = false;
                    if from_me {
                        self.log(
                            Level::Info,
                            format!("Standby resource acquisition done [{rtype}]."),
                        );
                        if self.auto_failback {
                            self.local_done = true;
                            self.announce("auto_failback");
                        }
                        self.i_hold = self.i_hold.union(rtype.mirrored());
                    } else {
                        self.log(
                            Level::Info,
                            format!("Other node completed standby takeover of {rtype} resources."),
                        );
                        self.peer_done_unreported = true;
                    }
                    self.send_held(true, None);
                } else {
                    ignored = true;
                }
            }
        }
        if ignored {
            self.log(
                Level::Error,
                format!(
                    "Ignored standby message '{info}' from {from} in state {}",
                    orig as u8
                ),
            );
        }
    }

    pub(super) fn set_going(&mut self, going: Going) {
        if going != self.going {
            self.peer_report_fresh = false;
        }
        self.going = going;
    }

    /// Abandon a standby exchange whose partner is gone; true if one ran.
    pub(super) fn cancel_standby(&mut self) -> bool {
        if self.going == Going::Not {
            return false;
        }
        self.log(Level::Info, "Cancelling pending standby operation");
        self.set_going(Going::Not);
        self.standby_running = None;
        self.standby_epoch += 1;
        if std::mem::take(&mut self.failback_in_progress) {
            self.rsc_needs_failback = true;
        }
        true
    }

    /// Give up `set` for a standby (`go_standby(ME, …)`); the job ends with
    /// our `done`.
    pub(super) fn go_standby_me(&mut self, set: Hold) {
        self.other_stable = false;
        self.i_hold = self.i_hold.minus(set);
        self.send_held(false, Some("standby"));
        if set.is_none() {
            self.log(Level::Error, "no resources to give up");
            return;
        }
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("give up {set} HA resources (standby)."),
        ))];
        steps.extend(self.group_indices(set).into_iter().map(Step::Give));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("{set} HA resource release completed (standby)."),
        )));
        steps.push(Step::StandbyDone {
            epoch: self.standby_epoch,
            hold: self.standby_rsctype,
            given: set,
            acquired: Hold::NONE,
        });
        self.exec.enqueue(steps);
    }

    /// Acquire what the peer gave up (`go_standby(OTHER, …)`): its `local`
    /// is our `foreign`.
    pub(super) fn go_standby_other(&mut self, set: Hold) {
        let act = set.mirrored();
        if act.is_none() {
            self.log(Level::Error, "no resources to acquire");
            return;
        }
        let mut steps = vec![Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("acquire {act} HA resources (standby)."),
        ))];
        steps.extend(self.group_indices(act).into_iter().map(Step::Take));
        steps.push(Step::Log(Log::new(
            Level::Info,
            Source::Heartbeat,
            format!("{act} HA resource acquisition completed (standby)."),
        )));
        steps.push(Step::StandbyDone {
            epoch: self.standby_epoch,
            hold: self.standby_rsctype,
            given: Hold::NONE,
            acquired: act,
        });
        self.exec.enqueue(steps);
    }

    /// The peer ran `hb_takeover`: its `rc.d/hb_takeover` runs `hb_standby`
    /// on us with all→all, local→foreign, foreign→local (anything else,
    /// `failback` included, → all).
    pub(super) fn hb_takeover_request(&mut self, hold: Option<&str>) {
        let set = match hold {
            Some("local") => Hold::FOREIGN,
            Some("foreign") => Hold::LOCAL,
            _ => Hold::ALL,
        };
        self.exec.enqueue(vec![
            Step::Log(Log::new(
                Level::Info,
                Source::HbStandby,
                format!("Going standby [{set}]."),
            )),
            Step::Send(messages::ask_resources(set, StandbyPhase::Me)),
        ]);
    }

    pub(super) fn start_failed(&mut self, now: Instant, g: usize) {
        let Some(count) = self.start_failures.get_mut(g) else {
            return;
        };
        *count += 1;
        let count = *count;
        let spec = &self.cfg.groups[g];
        let key = spec.key().to_string();
        let set = if spec.node == self.cfg.local {
            Hold::LOCAL
        } else {
            Hold::FOREIGN
        };
        if count > 1 {
            self.log(
                Level::Crit,
                format!("Resource group {key} failed to start here again; leaving it stopped."),
            );
            return;
        }
        if !self.nice {
            self.log(
                Level::Error,
                format!("Resource group {key} stays stopped: handing it over needs auto_failback on or off."),
            );
            return;
        }
        let (at, prev) = match self.handoff {
            Some((t, h)) => (t, h),
            None => (now + self.cfg.timing.handoff_delay, Hold::NONE),
        };
        self.handoff = Some((at, prev.union(set)));
    }

    /// Hand the set holding a group that failed to start to the peer,
    /// through the standby protocol (what heartbeat's delayed `hb_standby`
    /// means to do).
    pub(super) fn try_handoff(&mut self, now: Instant) {
        let Some((_, set)) = self.handoff else { return };
        if self.shutdown_in_progress {
            self.handoff = None;
            return;
        }
        if !self.peers.iter().any(Peer::alive) {
            self.handoff = None;
            self.log(
                Level::Warn,
                format!("No node can take over the failed {set} resources; they stay stopped."),
            );
            return;
        }
        if self.going != Going::Not
            || self.standby_running.is_some()
            || !self.other_stable
            || self.rstate != RState::Stable
            || !self.exec.idle()
        {
            self.handoff = Some((now + self.cfg.timing.auto_failback_retry, set));
            return;
        }
        self.handoff = None;
        self.log_from(
            Source::HbStandby,
            Level::Info,
            format!("Going standby [{set}]."),
        );
        self.send(messages::ask_resources(set, StandbyPhase::Me));
    }
}
