//! One virtual service without I/O: its destinations with IPVS's connection
//! accounting (active/inactive/persistent, overload flags from the
//! thresholds), persistence templates, the scheduler and the statistics.
//! The socket tasks call in under a lock; every method takes `now`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldirector::backend::{ConnEntry, ConnProtocol, ConnState, DestSnapshot, ServiceSnapshot};
use ldirector::config::Netmask;
use ldirector::config::{Protocol, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsError, ServiceKey, ServiceParams};

use crate::conns::{Activity, ConnTable, SlotId, SYN_RECV_TIMEOUT};
use crate::sched::{self, Change, ConnInfo, DestView};
use crate::stats::{Estimator, Totals, Traffic};

/// Identifies one destination for its lifetime (a destination deleted and
/// added again is a new one: its old connections no longer count).
pub type DestId = u64;

#[derive(Debug)]
struct Dest {
    id: DestId,
    params: DestParams,
    view: DestView,
    persist: u32,
    conns: u64,
    traffic: Arc<Traffic>,
    est: Estimator,
}

/// A persistence template (IPVS's `IP_VS_CONN_F_TEMPLATE` connection).
#[derive(Debug)]
struct Template {
    dest: DestId,
    /// Connections started through it and not yet gone.
    controlled: u32,
    expires: Instant,
}

/// What a new connection was given.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub dest: DestId,
    pub addr: SocketAddr,
    pub traffic: Arc<Traffic>,
    template: Option<IpAddr>,
    slot: SlotId,
}

/// How long a finished connection still counts as inactive, as IPVS keeps
/// its entry in TIME_WAIT or CLOSE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Both sides closed cleanly (TIME_WAIT).
    Closed,
    /// Reset, refused or timed out (CLOSE).
    Reset,
    /// UDP: the flow already idled out.
    Expired,
}

/// IPVS's timeouts that matter to a proxy, overridable for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `ipvsadm --set` tcp: an ESTABLISHED connection silent this long is
    /// dropped (900 s).
    pub tcp_established: Duration,
    /// Silence allowed once one side sent FIN (FIN_WAIT: 120 s).
    pub tcp_fin_wait: Duration,
    /// `ipvsadm --set` tcpfin / TIME_WAIT: 120 s.
    pub tcp_time_wait: Duration,
    /// CLOSE state: 10 s.
    pub tcp_close: Duration,
    /// `ipvsadm --set` udp: 300 s of silence ends a UDP flow.
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Duration::from_secs(900),
            tcp_fin_wait: Duration::from_secs(120),
            tcp_time_wait: Duration::from_secs(120),
            tcp_close: Duration::from_secs(10),
            udp: Duration::from_secs(300),
        }
    }
}

#[derive(Debug)]
pub struct ServiceCore {
    key: ServiceKey,
    params: ServiceParams,
    sched: sched::Scheduler,
    /// In IPVS's list order: the newest destination first.
    dests: Vec<Dest>,
    templates: HashMap<IpAddr, Template>,
    /// Finished connections still counted inactive, oldest first, per
    /// linger length (each queue is then sorted by expiry).
    lingering: [VecDeque<(Instant, DestId, SlotId)>; 2],
    /// Live connections and their IPVS states, for listings.
    live: ConnTable,
    timeouts: Timeouts,
    next_id: DestId,
    conns: u64,
    traffic: Arc<Traffic>,
    est: Estimator,
}

impl ServiceCore {
    pub fn new(key: ServiceKey, params: ServiceParams, timeouts: Timeouts, seed: u64) -> Self {
        let sched = sched::Scheduler::new(
            params.scheduler,
            sched::Flags::parse(params.schedflags.as_deref()),
            &[],
            seed,
        );
        ServiceCore {
            key,
            params,
            sched,
            dests: Vec::new(),
            templates: HashMap::new(),
            lingering: Default::default(),
            live: ConnTable::default(),
            timeouts,
            next_id: 1,
            conns: 0,
            traffic: Arc::default(),
            est: Estimator::default(),
        }
    }

    pub fn key(&self) -> ServiceKey {
        self.key
    }

    pub fn params(&self) -> &ServiceParams {
        &self.params
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Service-wide counters (the data path adds to them too).
    pub fn traffic(&self) -> Arc<Traffic> {
        self.traffic.clone()
    }

    fn views(&self) -> Vec<DestView> {
        self.dests.iter().map(|d| d.view.clone()).collect()
    }

    /// `-E`: a new scheduler starts from scratch; templates stay.
    pub fn edit(&mut self, params: ServiceParams, seed: u64) {
        let views = self.views();
        self.sched = sched::Scheduler::new(
            params.scheduler,
            sched::Flags::parse(params.schedflags.as_deref()),
            &views,
            seed,
        );
        if params.persistent.is_none() {
            self.templates.clear();
            for d in &mut self.dests {
                d.persist = 0;
            }
        }
        self.params = params;
    }

    pub fn add_dest(&mut self, addr: SocketAddr, params: DestParams) -> Result<(), IpvsError> {
        if self.dests.iter().any(|d| d.view.addr == addr) {
            return Err(IpvsError::DestExists);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut view = DestView::new(addr, params.weight);
        view.last_weight = params.weight;
        self.dests.insert(
            0,
            Dest {
                id,
                params,
                view,
                persist: 0,
                conns: 0,
                traffic: Arc::default(),
                est: Estimator::default(),
            },
        );
        let views = self.views();
        self.sched.update(Change::Added(addr), &views);
        Ok(())
    }

    pub fn edit_dest(&mut self, addr: SocketAddr, params: DestParams) -> Result<(), IpvsError> {
        let d = self
            .dests
            .iter_mut()
            .find(|d| d.view.addr == addr)
            .ok_or(IpvsError::NoSuchDest)?;
        // __ip_vs_update_dest: a removed or raised upper threshold lifts
        // the overload at once.
        if params.upper_threshold == 0 || params.upper_threshold > d.params.upper_threshold {
            d.view.overloaded = false;
        }
        d.params = params;
        d.view.weight = params.weight;
        if params.weight > 0 {
            d.view.last_weight = params.weight;
        }
        let views = self.views();
        self.sched.update(Change::Updated(addr), &views);
        Ok(())
    }

    /// `-d`: no new connections; existing ones run to their end.
    pub fn del_dest(&mut self, addr: SocketAddr) -> Result<(), IpvsError> {
        let i = self
            .dests
            .iter()
            .position(|d| d.view.addr == addr)
            .ok_or(IpvsError::NoSuchDest)?;
        let prev = i.checked_sub(1).map(|p| self.dests[p].view.addr);
        let gone = self.dests.remove(i);
        // Its templates can no longer be used (the kernel's check_template
        // finds the destination unavailable).
        self.templates.retain(|_, t| t.dest != gone.id);
        let views = self.views();
        self.sched.update(Change::Removed { addr, prev }, &views);
        Ok(())
    }

    fn dest_mut(&mut self, id: DestId) -> Option<&mut Dest> {
        self.dests.iter_mut().find(|d| d.id == id)
    }

    /// The template key: the client address under the persistence mask.
    fn template_key(&self, client: IpAddr) -> IpAddr {
        match (client, self.params.netmask) {
            (IpAddr::V4(a), Some(Netmask::V4(m))) => {
                IpAddr::V4((u32::from(a) & u32::from(m)).into())
            }
            (IpAddr::V6(a), Some(Netmask::V6Prefix(p))) => {
                let p = u32::from(p.min(128));
                let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
            (a, _) => a,
        }
    }

    /// Bind a new connection to destination `idx` (ip_vs_bind_dest): it
    /// starts inactive, and the upper threshold may now be reached.
    fn bind(&mut self, idx: usize) -> Option<(DestId, SocketAddr, Arc<Traffic>)> {
        let d = self.dests.get_mut(idx)?;
        d.view.inactive += 1;
        d.conns += 1;
        self.conns += 1;
        let u = d.params.upper_threshold;
        if u != 0 && d.view.active + d.view.inactive >= u {
            d.view.overloaded = true;
        }
        Some((d.id, d.view.addr, d.traffic.clone()))
    }

    /// A new connection from `conn.client`: persistence first, then the
    /// scheduler. `None`: no destination available.
    pub fn schedule(&mut self, conn: &ConnInfo, now: Instant) -> Option<Assignment> {
        let template = self.params.persistent.map(|secs| {
            (
                self.template_key(conn.client.ip()),
                Duration::from_secs(u64::from(secs)),
            )
        });
        if let Some((tkey, timeout)) = template {
            if let Some(t) = self.templates.get_mut(&tkey) {
                // A quiesced destination keeps its persistent clients
                // (expire_quiescent_template=0, the default).
                let dest = t.dest;
                t.controlled += 1;
                t.expires = now + timeout;
                if let Some(idx) = self.dests.iter().position(|d| d.id == dest) {
                    let (dest, addr, traffic) = self.bind(idx)?;
                    let slot = self.track(conn.client, addr, now);
                    return Some(Assignment {
                        dest,
                        addr,
                        traffic,
                        template: Some(tkey),
                        slot,
                    });
                }
            }
        }
        let views = self.views();
        let idx = self.sched.schedule(&views, conn, now)?;
        let (dest, addr, traffic) = self.bind(idx)?;
        let mut tkey = None;
        if let Some((key, timeout)) = template {
            self.templates.insert(
                key,
                Template {
                    dest,
                    controlled: 1,
                    expires: now + timeout,
                },
            );
            if let Some(d) = self.dest_mut(dest) {
                d.persist += 1;
            }
            tkey = Some(key);
        }
        let slot = self.track(conn.client, addr, now);
        Some(Assignment {
            dest,
            addr,
            traffic,
            template: tkey,
            slot,
        })
    }

    fn is_udp(&self) -> bool {
        matches!(
            self.key,
            VirtualAddr::Inet {
                protocol: Protocol::Udp,
                ..
            }
        )
    }

    /// A new entry: SYN_RECV until the real server accepted (TCP), UDP.
    fn track(&mut self, client: SocketAddr, dest: SocketAddr, now: Instant) -> SlotId {
        let (state, timeout) = if self.is_udp() {
            (ConnState::Udp, self.timeouts.udp)
        } else {
            (ConnState::SynRecv, SYN_RECV_TIMEOUT)
        };
        self.live.insert(client, dest, state, now, timeout)
    }

    /// The listing of this connection follows `activity` from now on.
    pub fn attach(&mut self, a: &Assignment, activity: Arc<Activity>) {
        self.live.attach(a.slot, activity);
    }

    /// The connection to the real server is up (TCP ESTABLISHED).
    pub fn established(&mut self, a: &Assignment, now: Instant) {
        self.live.set(
            a.slot,
            ConnState::Established,
            now,
            self.timeouts.tcp_established,
        );
        if let Some(d) = self.dest_mut(a.dest) {
            d.view.inactive = d.view.inactive.saturating_sub(1);
            d.view.active += 1;
        }
    }

    /// One side sent FIN: no longer ESTABLISHED. (Which side is not
    /// told: listed as FIN_WAIT either way.)
    pub fn closing(&mut self, a: &Assignment, now: Instant) {
        self.live
            .set(a.slot, ConnState::FinWait, now, self.timeouts.tcp_fin_wait);
        if let Some(d) = self.dest_mut(a.dest) {
            d.view.active = d.view.active.saturating_sub(1);
            d.view.inactive += 1;
        }
    }

    /// The connection is gone; `was_active` as last reported. It keeps
    /// counting as inactive for TIME_WAIT/CLOSE as IPVS's entry would.
    pub fn ended(&mut self, a: &Assignment, was_active: bool, how: Ended, now: Instant) {
        if was_active {
            self.closing(a, now);
        }
        if let Some(key) = a.template {
            if let Some(t) = self.templates.get_mut(&key) {
                if t.dest == a.dest {
                    t.controlled = t.controlled.saturating_sub(1);
                }
            }
        }
        let linger = match how {
            Ended::Closed => self.timeouts.tcp_time_wait,
            Ended::Reset => self.timeouts.tcp_close,
            Ended::Expired => Duration::ZERO,
        };
        if linger.is_zero() {
            self.live.remove(a.slot);
            self.unbind(a.dest);
        } else {
            let state = if how == Ended::Reset {
                ConnState::Close
            } else {
                ConnState::TimeWait
            };
            self.live.set(a.slot, state, now, linger);
            let q = usize::from(how == Ended::Reset);
            self.lingering[q].push_back((now + linger, a.dest, a.slot));
        }
    }

    /// ip_vs_unbind_dest: the entry expired; the overload may lift (below
    /// the lower threshold, or below 3/4 of the upper one without it).
    fn unbind(&mut self, id: DestId) {
        if let Some(d) = self.dest_mut(id) {
            d.view.inactive = d.view.inactive.saturating_sub(1);
            let total = u64::from(d.view.active + d.view.inactive);
            let (u, l) = (
                u64::from(d.params.upper_threshold),
                u64::from(d.params.lower_threshold),
            );
            if l != 0 {
                if total < l {
                    d.view.overloaded = false;
                }
            } else if u != 0 {
                if total * 4 < u * 3 {
                    d.view.overloaded = false;
                }
            } else {
                d.view.overloaded = false;
            }
        }
    }

    /// Timers: lingering entries and templates expire, rates move.
    pub fn tick(&mut self, now: Instant) {
        for q in 0..2 {
            while let Some(&(at, id, slot)) = self.lingering[q].front() {
                if at > now {
                    break;
                }
                self.lingering[q].pop_front();
                self.live.remove(slot);
                self.unbind(id);
            }
        }
        self.live.compact();
        let mut expired = Vec::new();
        let timeout = Duration::from_secs(u64::from(self.params.persistent.unwrap_or(0)));
        self.templates.retain(|_, t| {
            if t.expires > now {
                return true;
            }
            if t.controlled > 0 {
                // The kernel re-arms a template that still controls
                // connections.
                t.expires = now + timeout;
                return true;
            }
            expired.push(t.dest);
            false
        });
        for id in expired {
            if let Some(d) = self.dest_mut(id) {
                d.persist = d.persist.saturating_sub(1);
            }
        }
        let totals = self.traffic.totals(self.conns);
        self.est.tick(now, totals);
        for d in &mut self.dests {
            let t = d.traffic.totals(d.conns);
            d.est.tick(now, t);
        }
    }

    /// Connection entries and persistence templates, as IPVS lists them
    /// (templates: the masked client with port 0, state NONE).
    pub fn connections(&self, now: Instant, out: &mut Vec<ConnEntry>) {
        let VirtualAddr::Inet { protocol, addr } = self.key else {
            return;
        };
        let protocol = match protocol {
            Protocol::Tcp => ConnProtocol::Tcp,
            Protocol::Udp => ConnProtocol::Udp,
        };
        for (client, t) in &self.templates {
            let Some(d) = self.dests.iter().find(|d| d.id == t.dest) else {
                continue;
            };
            out.push(ConnEntry {
                protocol: protocol.clone(),
                client: SocketAddr::new(*client, 0),
                virtual_addr: addr,
                destination: d.view.addr,
                state: ConnState::None,
                expires: t.expires.saturating_duration_since(now),
            });
        }
        self.live.entries(&protocol, addr, now, out);
    }

    pub fn snapshot(&self) -> ServiceSnapshot {
        let totals: Totals = self.traffic.totals(self.conns);
        ServiceSnapshot {
            key: self.key,
            params: self.params.clone(),
            stats: self.est.stats(totals),
            dests: self
                .dests
                .iter()
                .map(|d| DestSnapshot {
                    addr: d.view.addr,
                    params: d.params,
                    active_conns: d.view.active,
                    inactive_conns: d.view.inactive,
                    persist_conns: d.persist,
                    stats: d.est.stats(d.traffic.totals(d.conns)),
                })
                .collect(),
        }
    }
}
