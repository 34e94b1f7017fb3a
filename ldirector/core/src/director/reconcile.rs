//! Bringing the table to what the members' states ask for.
//!
//! A check result changes one member, so it reconciles only that member
//! (plus the virtual's fallback, which depends on all of them): with
//! 10,000 reals, rebuilding the whole virtual per result made start-up
//! quadratic (every real's first result rebuilt all 10,000). Loading a
//! configuration and `resync` reconcile everything, and only they can find
//! destinations nobody configured.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::*;

/// One change to issue, with the event that tells of it.
type Change = (IpvsCommand, Option<Event>);

impl Director {
    /// Everything of virtual `vi`: every member, the fallback, and purging
    /// destinations no member or fallback accounts for.
    pub(super) fn reconcile(&mut self, vi: usize, phase: Phase) {
        let Some(n) = self.virts.get(vi).map(|vs| vs.members.len()) else {
            return;
        };
        let all: Vec<usize> = (0..n).collect();
        self.reconcile_some(vi, &all, Some(phase));
    }

    /// Members `mis` of virtual `vi` and its fallback.
    pub(super) fn reconcile_members(&mut self, vi: usize, mis: &[usize]) {
        self.reconcile_some(vi, mis, None);
    }

    /// `purge`: also delete what no member accounts for, reported in this
    /// phase.
    fn reconcile_some(&mut self, vi: usize, mis: &[usize], purge: Option<Phase>) {
        let Some(v) = self.config.virtuals.get(vi) else {
            return;
        };
        if vi >= self.virts.len() {
            return;
        }
        let key = v.addr;
        if !self.table.services.contains_key(&key) {
            let params = service_params(v);
            self.issue(IpvsCommand::AddService { key, params });
            self.events.push_back(Event::VirtualAdded { virt: key });
        }
        let v = &self.config.virtuals[vi];
        let vs = &self.virts[vi];
        let mut cmds: Vec<Change> = Vec::new();
        for &mi in mis {
            let Some(m) = vs.members.get(mi) else {
                continue;
            };
            let current = self.table.dest(&key, &m.dest).copied();
            if let Some(change) = member_change(v, m, current) {
                cmds.push(change);
            }
        }

        // The fallback and the fallback command follow all members.
        let mut any_up = false;
        let mut any_pending = false;
        for m in &vs.members {
            if v.reals.get(m.real).is_none() {
                continue;
            }
            match effective(m) {
                RealState::Up => any_up = true,
                RealState::Pending => any_pending = true,
                RealState::Down => {}
            }
        }
        let fallback_dest = v.fallback.map(|fb| SocketAddr::new(fb.addr, fb.port));
        if let (Some(fb), Some(dest)) = (v.fallback, fallback_dest) {
            // A real that is also the fallback address is the real's.
            let a_wanted_member = vs.members.iter().any(|m| {
                m.dest == dest
                    && v.reals.get(m.real).is_some()
                    && desired(v, m, self.table.dest(&key, &m.dest).copied()).is_some()
            });
            if !a_wanted_member {
                let current = self.table.dest(&key, &dest).copied();
                let desired = if any_up {
                    None
                } else if !any_pending {
                    Some(DestParams {
                        forward: fb.forward,
                        weight: 1,
                        upper_threshold: 0,
                        lower_threshold: 0,
                    })
                } else {
                    current
                };
                match (current, desired) {
                    (None, Some(p)) => cmds.push((
                        IpvsCommand::AddDest {
                            key,
                            dest,
                            params: p,
                        },
                        Some(Event::FallbackAdded { virt: key, dest }),
                    )),
                    (Some(c), Some(p)) if c != p => cmds.push((
                        IpvsCommand::EditDest {
                            key,
                            dest,
                            params: p,
                        },
                        Some(Event::FallbackAdded { virt: key, dest }),
                    )),
                    (Some(_), None) => cmds.push((
                        IpvsCommand::DelDest { key, dest },
                        Some(Event::FallbackDeleted { virt: key, dest }),
                    )),
                    _ => {}
                }
            }
        }
        if let (Some(phase), Some(s)) = (purge, self.table.services.get(&key)) {
            let members: HashSet<SocketAddr> = vs.members.iter().map(|m| m.dest).collect();
            for dest in s.dests.keys() {
                if fallback_dest != Some(*dest) && !members.contains(dest) {
                    cmds.push((
                        IpvsCommand::DelDest { key, dest: *dest },
                        Some(Event::RealPurged {
                            virt: key,
                            dest: *dest,
                            phase,
                        }),
                    ));
                }
            }
        }
        let fallback_wanted = if any_up {
            Some(FallbackAction::Stop)
        } else if !any_pending {
            Some(FallbackAction::Start)
        } else {
            None
        };
        let fallback_cmd = match fallback_wanted {
            Some(a) if vs.fallback_cmd != Some(a) => Some(a),
            _ => None,
        };
        let command_line = v.fallbackcommand.as_ref().map(|c| {
            let (server, port) = match key {
                VirtualAddr::Inet { addr, .. } => (fmt_ip(addr.ip()), addr.port()),
                VirtualAddr::Fwmark { .. } => (String::new(), 0),
            };
            (c.clone(), server, port, key.protocol_name())
        });
        for (cmd, ev) in cmds {
            self.issue(cmd);
            if let Some(ev) = ev {
                self.events.push_back(ev);
            }
        }
        if let Some(a) = fallback_cmd {
            if let Some(vs) = self.virts.get_mut(vi) {
                vs.fallback_cmd = Some(a);
            }
            if let Some((c, server, port, proto)) = command_line {
                self.actions.push_back(Action::Fallback(FallbackCommand {
                    virt: key,
                    action: a,
                    command_line: format!("{c} {} {server}:{port} {proto}", a.word()),
                }));
            }
        }
    }
}

/// A member in maintenance counts as down.
fn effective(m: &Member) -> RealState {
    if m.maintenance {
        RealState::Down
    } else {
        m.state
    }
}

/// What member `m` of `v` should have in the table (`current`: what it
/// has): its weight when up, weight 0 when down and quiescent, nothing
/// when down otherwise; a pending member keeps what it has.
fn desired(v: &VirtualService, m: &Member, current: Option<DestParams>) -> Option<DestParams> {
    let r = v.reals.get(m.real)?;
    match effective(m) {
        RealState::Up => Some(DestParams {
            forward: r.forward,
            weight: r.weight,
            upper_threshold: r.upper_threshold,
            lower_threshold: r.lower_threshold,
        }),
        RealState::Down if v.quiescent => Some(DestParams::quiesced(r.forward)),
        RealState::Down => None,
        RealState::Pending => current,
    }
}

/// The command (and its event) that brings member `m` from `current` to
/// what it should have, if any.
fn member_change(v: &VirtualService, m: &Member, current: Option<DestParams>) -> Option<Change> {
    v.reals.get(m.real)?;
    let key = v.addr;
    let dest = m.dest;
    match (current, desired(v, m, current)) {
        (None, Some(p)) => {
            let ev = if p.weight == 0 {
                Event::RealQuiesced { virt: key, dest }
            } else {
                Event::RealAdded {
                    virt: key,
                    dest,
                    weight: p.weight,
                }
            };
            Some((
                IpvsCommand::AddDest {
                    key,
                    dest,
                    params: p,
                },
                Some(ev),
            ))
        }
        (Some(c), Some(p)) if c != p => {
            let ev = if p.weight == 0 {
                Event::RealQuiesced { virt: key, dest }
            } else {
                Event::RealRestored {
                    virt: key,
                    dest,
                    weight: p.weight,
                }
            };
            Some((
                IpvsCommand::EditDest {
                    key,
                    dest,
                    params: p,
                },
                Some(ev),
            ))
        }
        (Some(_), None) => {
            let mapped_from = (m.configured != m.dest).then_some(m.configured);
            Some((
                IpvsCommand::DelDest { key, dest },
                Some(Event::RealDeleted {
                    virt: key,
                    dest,
                    mapped_from,
                }),
            ))
        }
        _ => None,
    }
}
