//! The sans-IO director: check scheduling and the real-server state machine.
//!
//! The shell feeds `now`, check results and (optionally) maintenance
//! snapshots; the core answers with [`Action`]s (IPVS changes, checks to
//! start or abandon, fallback commands) and [`Event`]s (log lines in
//! ldirectord's words), and tells when it next needs to be woken
//! ([`Director::poll_timeout`]).
//!
//! Differences from ldirectord 4.12, on purpose:
//! - Checks are independent: each has its own deadline and its own interval
//!   (next start = completion + interval), so a hung server delays nobody.
//! - No add/remove flap at start or reload: a real enters the table after its
//!   first check result; a virtual's fallback (and `fallbackcommand`) is
//!   decided once no real of it is still waiting for a first result, or as
//!   soon as one is up.
//! - The desired table is computed and diffed against the table we believe
//!   the kernel has, so only real changes are issued (no `-E` for unchanged
//!   services, no re-reads).
//! - gate/ipip reals are tracked at the port IPVS stores (the virtual's), so
//!   the F7 "stuck at weight 0" bug cannot happen.
//! - Stop deletes each service once (`-D`); ldirectord first deletes every up
//!   real (`-d`). Same resulting table, the per-real log lines are kept.

mod check;
mod event;
mod reconcile;

pub use check::{
    AttemptKind, CheckId, CheckMethod, CheckOutcome, CheckProtocol, CheckRequest, CheckSpec,
    NegotiateSpec,
};
pub use event::{Event, Phase};

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{fmt_ip, Config, VirtualAddr, VirtualService};
use crate::ipvs::{DestParams, IpvsCommand, ServiceParams, Table};

use check::{plan, Plan};

/// Members of the previous configuration by (virtual, dest), with their check.
type OldMembers = HashMap<(VirtualAddr, SocketAddr), (Option<Arc<CheckSpec>>, Member)>;

/// `fallbackcommand` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackAction {
    Start,
    Stop,
}

impl FallbackAction {
    pub fn word(self) -> &'static str {
        match self {
            FallbackAction::Start => "start",
            FallbackAction::Stop => "stop",
        }
    }
}

/// Run `command_line` with `/bin/sh -c` (it is what ldirectord hands to
/// `system()`: `<fallbackcommand> start|stop <vip>:<vport> <proto>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackCommand {
    pub virt: VirtualAddr,
    pub action: FallbackAction,
    pub command_line: String,
}

/// Something for the shell to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Ipvs(IpvsCommand),
    StartCheck(CheckRequest),
    /// The attempt is no longer wanted (deadline passed, check removed by a
    /// reload, stop); its result will be ignored.
    CancelCheck {
        id: CheckId,
        attempt: u64,
    },
    Fallback(FallbackCommand),
}

/// State of one real server in one virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealState {
    /// No check result yet; the table entry is left as it was.
    Pending,
    Up,
    Down,
}

/// One real of one virtual service as [`Director::members`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub virt: VirtualAddr,
    /// The IPVS destination.
    pub dest: SocketAddr,
    /// The real as configured.
    pub configured: SocketAddr,
    /// Configured weight.
    pub weight: u32,
    /// `None` for reals without a check (`checktype=on|off`, no service).
    pub check: Option<CheckId>,
    pub state: RealState,
    pub failcount: u32,
    pub maintenance: bool,
}

#[derive(Clone, Debug)]
struct Member {
    real: usize,
    dest: SocketAddr,
    /// The real as configured (for messages).
    configured: SocketAddr,
    check: Option<CheckId>,
    state: RealState,
    failcount: u32,
    okcount: u32,
    maintenance: bool,
}

#[derive(Clone, Debug)]
struct InFlight {
    attempt: u64,
    deadline: Instant,
    kind: AttemptKind,
}

#[derive(Clone, Debug)]
struct Group {
    spec: Arc<CheckSpec>,
    /// (virtual index, member index)
    members: Vec<(usize, usize)>,
    next_due: Option<Instant>,
    in_flight: Option<InFlight>,
    /// Connect checks since the last good negotiate (`checktype=N`).
    connects: u32,
    last: Option<bool>,
}

impl Group {
    /// When the core must next look at this group: the running attempt's
    /// deadline, else when the next one is due.
    fn wake(&self) -> Option<Instant> {
        match &self.in_flight {
            Some(f) => Some(f.deadline),
            None => self.next_due,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct VirtState {
    members: Vec<Member>,
    fallback_cmd: Option<FallbackAction>,
}

/// The director core. See the module documentation.
pub struct Director {
    config: Config,
    virts: Vec<VirtState>,
    groups: BTreeMap<CheckId, Group>,
    /// Every group's [`Group::wake`], ordered: with 10,000 reals the
    /// shell asks for the next deadline after every result, so it must not
    /// cost a scan of all groups.
    wakes: BTreeSet<(Instant, CheckId)>,
    table: Table,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    next_id: u64,
    next_attempt: u64,
    stopped: bool,
}

fn service_params(v: &VirtualService) -> ServiceParams {
    ServiceParams {
        scheduler: v.scheduler,
        persistent: v.persistent,
        netmask: v.netmask,
        schedflags: v.schedflags.clone(),
        ops: v.ops,
    }
}

impl Director {
    /// Start with `config`, given the table the kernel has now (empty if
    /// unknown). Services and reals already present are adopted: a real
    /// present with weight > 0 counts as up until its first check says
    /// otherwise; dests the configuration does not list are purged; services
    /// the configuration does not list are left alone.
    pub fn new(config: Config, now: Instant, current: Table) -> Self {
        let mut d = Director {
            config: Config {
                path: config.path.clone(),
                global: config.global.clone(),
                virtuals: Vec::new(),
                warnings: Vec::new(),
            },
            virts: Vec::new(),
            groups: BTreeMap::new(),
            wakes: BTreeSet::new(),
            table: current,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 0,
            next_attempt: 0,
            stopped: false,
        };
        d.install(config, now, &HashMap::new(), &[]);
        d
    }

    /// Switch to a new configuration. Checks whose spec is unchanged keep
    /// their state, schedule and in-flight attempt; only the difference is
    /// issued.
    pub fn reload(&mut self, now: Instant, config: Config) {
        if self.stopped {
            return;
        }
        let mut old_members = HashMap::new();
        for (vi, vs) in self.virts.iter().enumerate() {
            let Some(v) = self.config.virtuals.get(vi) else {
                continue;
            };
            for m in &vs.members {
                let spec = m
                    .check
                    .and_then(|id| self.groups.get(&id))
                    .map(|g| g.spec.clone());
                old_members.insert((v.addr, m.dest), (spec, m.clone()));
            }
        }
        let old_virtuals: Vec<(VirtualAddr, Option<FallbackAction>)> = self
            .config
            .virtuals
            .iter()
            .zip(&self.virts)
            .map(|(v, s)| (v.addr, s.fallback_cmd))
            .collect();
        self.install(config, now, &old_members, &old_virtuals);
    }

    fn install(
        &mut self,
        config: Config,
        now: Instant,
        old_members: &OldMembers,
        old_virtuals: &[(VirtualAddr, Option<FallbackAction>)],
    ) {
        let mut old_groups: HashMap<Arc<CheckSpec>, (CheckId, Group)> =
            std::mem::take(&mut self.groups)
                .into_iter()
                .map(|(id, g)| (g.spec.clone(), (id, g)))
                .collect();
        let mut groups: BTreeMap<CheckId, Group> = BTreeMap::new();
        let mut by_spec: HashMap<Arc<CheckSpec>, CheckId> = HashMap::new();
        let mut virts = Vec::new();
        for (vi, v) in config.virtuals.iter().enumerate() {
            let mut vs = VirtState {
                members: Vec::new(),
                fallback_cmd: old_virtuals
                    .iter()
                    .find(|(a, _)| *a == v.addr)
                    .and_then(|(_, c)| *c),
            };
            for (ri, r) in v.reals.iter().enumerate() {
                let dest = v.dest_addr(r);
                let mut m = Member {
                    real: ri,
                    dest,
                    configured: SocketAddr::new(r.addr, r.port),
                    check: None,
                    state: RealState::Pending,
                    failcount: 0,
                    okcount: 0,
                    maintenance: false,
                };
                match plan(v, r) {
                    Plan::Static(up) => {
                        m.state = if up { RealState::Up } else { RealState::Down };
                    }
                    Plan::Check(spec) => {
                        let spec: Arc<CheckSpec> = Arc::from(spec);
                        let id = match by_spec.get(&spec) {
                            Some(id) => *id,
                            None => {
                                let (id, g) = match old_groups.remove(&spec) {
                                    Some((id, mut g)) => {
                                        g.members.clear();
                                        (id, g)
                                    }
                                    None => {
                                        self.next_id += 1;
                                        let id = CheckId(self.next_id);
                                        let g = Group {
                                            spec: spec.clone(),
                                            members: Vec::new(),
                                            next_due: Some(now),
                                            in_flight: None,
                                            connects: u32::MAX,
                                            last: None,
                                        };
                                        (id, g)
                                    }
                                };
                                by_spec.insert(spec.clone(), id);
                                groups.insert(id, g);
                                id
                            }
                        };
                        m.check = Some(id);
                        let old = old_members.get(&(v.addr, dest));
                        match old {
                            Some((Some(old_spec), om)) if **old_spec == *spec => {
                                m.state = om.state;
                                m.failcount = om.failcount;
                                m.okcount = om.okcount;
                                m.maintenance = om.maintenance;
                            }
                            _ => {
                                let last = groups.get(&id).and_then(|g| g.last);
                                m.state = match last {
                                    Some(true) => RealState::Up,
                                    Some(false) => RealState::Down,
                                    None => RealState::Pending,
                                };
                            }
                        }
                        if let Some(g) = groups.get_mut(&id) {
                            g.members.push((vi, vs.members.len()));
                        }
                    }
                }
                // Adopt what the kernel already serves (start, or a real
                // reappearing in a reload with a new check).
                if m.state == RealState::Pending {
                    if let Some(p) = self.table.dest(&v.addr, &dest) {
                        if p.weight > 0 {
                            m.state = RealState::Up;
                        }
                    }
                }
                vs.members.push(m);
            }
            virts.push(vs);
        }
        // Checks that no longer exist.
        for (_, (id, g)) in old_groups {
            if let Some(f) = g.in_flight {
                self.actions.push_back(Action::CancelCheck {
                    id,
                    attempt: f.attempt,
                });
            }
        }
        // Services: create or change, then drop the ones the old
        // configuration had and the new one does not.
        for v in &config.virtuals {
            let params = service_params(v);
            match self.table.services.get(&v.addr) {
                None => {
                    self.issue(IpvsCommand::AddService {
                        key: v.addr,
                        params,
                    });
                    self.events.push_back(Event::VirtualAdded { virt: v.addr });
                }
                Some(s) if s.params != params => {
                    self.issue(IpvsCommand::EditService {
                        key: v.addr,
                        params,
                    });
                    self.events
                        .push_back(Event::VirtualChanged { virt: v.addr });
                }
                Some(_) => {}
            }
        }
        let old_config = std::mem::replace(&mut self.config, config);
        self.wakes = groups
            .iter()
            .filter_map(|(id, g)| Some((g.wake()?, *id)))
            .collect();
        self.groups = groups;
        self.virts = virts;
        for (vi, _) in old_config.virtuals.iter().enumerate() {
            let addr = old_config.virtuals[vi].addr;
            let still = self.config.virtuals.iter().any(|v| v.addr == addr);
            if !still && self.table.services.contains_key(&addr) {
                self.issue(IpvsCommand::DeleteService { key: addr });
                self.events.push_back(Event::VirtualPurged {
                    virt: addr,
                    phase: Phase::Start,
                });
            }
        }
        for vi in 0..self.virts.len() {
            self.reconcile(vi, Phase::Start);
        }
    }

    fn issue(&mut self, cmd: IpvsCommand) {
        // Our belief follows our commands; a refused command is the shell's
        // to report (and to `resync`).
        let _ = self.table.apply(&cmd);
        self.actions.push_back(Action::Ipvs(cmd));
    }

    /// When the core next needs [`Director::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        self.wakes.first().map(|(t, _)| *t)
    }

    /// Mutate group `id` and keep [`Director::wakes`] in step.
    fn with_group<R>(&mut self, id: CheckId, f: impl FnOnce(&mut Group) -> R) -> Option<R> {
        let g = self.groups.get_mut(&id)?;
        let before = g.wake();
        let r = f(g);
        let after = g.wake();
        if before != after {
            if let Some(t) = before {
                self.wakes.remove(&(t, id));
            }
            if let Some(t) = after {
                self.wakes.insert((t, id));
            }
        }
        Some(r)
    }

    /// Expire overdue attempts (as timeouts) and start due checks.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        // Only groups whose wake has come can have anything to do; in id
        // order, overdue attempts first, then starts.
        let mut due: Vec<CheckId> = self
            .wakes
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect();
        due.sort_unstable();
        let overdue: Vec<(CheckId, u64)> = due
            .iter()
            .filter_map(|id| {
                let f = self.groups.get(id)?.in_flight.as_ref()?;
                (f.deadline <= now).then_some((*id, f.attempt))
            })
            .collect();
        for (id, attempt) in overdue {
            self.actions.push_back(Action::CancelCheck { id, attempt });
            self.handle_check_result(now, id, attempt, CheckOutcome::Timeout);
        }
        for id in due {
            let mut attempt = self.next_attempt;
            let started = self.with_group(id, |g| {
                if g.in_flight.is_some() || g.next_due.is_none_or_later(now) {
                    return None;
                }
                let kind = match g.spec.combined {
                    Some(n) if g.connects < n => AttemptKind::Connect,
                    _ => AttemptKind::Full,
                };
                attempt += 1;
                let deadline = now + g.spec.timeout(kind);
                g.in_flight = Some(InFlight {
                    attempt,
                    deadline,
                    kind,
                });
                g.next_due = None;
                Some(CheckRequest {
                    id,
                    attempt,
                    kind,
                    deadline,
                    spec: g.spec.clone(),
                })
            });
            if let Some(Some(req)) = started {
                self.next_attempt = attempt;
                self.actions.push_back(Action::StartCheck(req));
            }
        }
    }

    /// Feed the result of an attempt the core started. Stale attempts
    /// (cancelled, superseded) are ignored.
    pub fn handle_check_result(
        &mut self,
        now: Instant,
        id: CheckId,
        attempt: u64,
        outcome: CheckOutcome,
    ) {
        if self.stopped {
            return;
        }
        let ok = outcome == CheckOutcome::Up;
        let members = self.with_group(id, |g| {
            let f = g.in_flight.take_if(|f| f.attempt == attempt)?;
            g.next_due = Some(now + g.spec.interval);
            g.last = Some(ok);
            match (f.kind, ok) {
                (AttemptKind::Full, true) => g.connects = 0,
                (AttemptKind::Full, false) => {}
                (AttemptKind::Connect, true) => g.connects = g.connects.saturating_add(1),
                (AttemptKind::Connect, false) => g.connects = u32::MAX,
            }
            Some(g.members.clone())
        });
        let Some(Some(members)) = members else {
            return;
        };
        let mut touched: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (vi, mi) in members {
            if self.apply_result(vi, mi, ok) {
                touched.entry(vi).or_default().push(mi);
            }
        }
        for (vi, mis) in touched {
            self.reconcile_members(vi, &mis);
        }
    }

    /// Update one member; true if its state changed.
    fn apply_result(&mut self, vi: usize, mi: usize, ok: bool) -> bool {
        let Some(v) = self.config.virtuals.get(vi) else {
            return false;
        };
        let (failurecount, risecount, virt) = (v.failurecount, v.risecount, v.addr);
        let Some(m) = self.virts.get_mut(vi).and_then(|s| s.members.get_mut(mi)) else {
            return false;
        };
        if m.maintenance {
            return false;
        }
        let before = m.state;
        if ok {
            if m.failcount > 0 {
                self.events.push_back(Event::SoftFailureReset {
                    virt,
                    real: m.configured,
                });
            }
            m.failcount = 0;
            if m.state != RealState::Up {
                m.okcount += 1;
                if m.okcount >= risecount {
                    m.state = RealState::Up;
                    m.okcount = 0;
                }
            }
        } else {
            m.okcount = 0;
            match m.state {
                RealState::Up => {
                    m.failcount += 1;
                    if m.failcount >= failurecount {
                        m.state = RealState::Down;
                    } else {
                        self.events.push_back(Event::SoftFailure {
                            virt,
                            real: m.configured,
                            count: m.failcount,
                            limit: failurecount,
                        });
                    }
                }
                RealState::Pending => {
                    m.failcount += 1;
                    m.state = RealState::Down;
                }
                RealState::Down => {}
            }
        }
        m.state != before
    }

    /// Apply a listing of `maintenancedir`: a real is drained while a file
    /// named `<ip>:<port>`, `<ip>`, `<name>:<port>`, `<name>`,
    /// `<short>:<port>` or `<short>` exists (`names` = reverse DNS names the
    /// shell looked up, optional). Its checks keep running but are ignored;
    /// after the file goes, the next good check restores it.
    pub fn set_maintenance(&mut self, files: &BTreeSet<String>, names: &HashMap<IpAddr, String>) {
        if self.stopped {
            return;
        }
        let mut touched: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (vi, vs) in self.virts.iter_mut().enumerate() {
            let Some(v) = self.config.virtuals.get(vi) else {
                continue;
            };
            for (mi, m) in vs.members.iter_mut().enumerate() {
                let ip = fmt_ip(m.configured.ip());
                let port = m.configured.port();
                let mut candidates = vec![format!("{ip}:{port}"), ip];
                if let Some(name) = names.get(&m.configured.ip()) {
                    candidates.push(format!("{name}:{port}"));
                    candidates.push(name.clone());
                    if let Some(short) = short_name(name) {
                        candidates.push(format!("{short}:{port}"));
                        candidates.push(short.to_string());
                    }
                }
                let on = candidates.iter().any(|c| files.contains(c));
                if on != m.maintenance {
                    m.maintenance = on;
                    if on {
                        m.state = RealState::Down;
                        m.okcount = 0;
                    }
                    self.events.push_back(Event::Maintenance {
                        virt: v.addr,
                        real: m.configured,
                        on,
                    });
                    touched.entry(vi).or_default().push(mi);
                }
            }
        }
        for (vi, mis) in touched {
            self.reconcile_members(vi, &mis);
        }
    }

    /// Stop: with `cleanstop` a virtual's service is deleted (the up reals
    /// are logged as purged first, as ldirectord does); all checks end.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        for (id, g) in &self.groups {
            if let Some(f) = &g.in_flight {
                self.actions.push_back(Action::CancelCheck {
                    id: *id,
                    attempt: f.attempt,
                });
            }
        }
        for vi in 0..self.config.virtuals.len() {
            let v = &self.config.virtuals[vi];
            if !v.cleanstop || !self.table.services.contains_key(&v.addr) {
                continue;
            }
            let key = v.addr;
            let ups: Vec<SocketAddr> = self.virts[vi]
                .members
                .iter()
                .filter(|m| m.state == RealState::Up && !m.maintenance)
                .filter(|m| self.table.dest(&key, &m.dest).is_some_and(|p| p.weight > 0))
                .map(|m| m.dest)
                .collect();
            for dest in ups {
                self.events.push_back(Event::RealPurged {
                    virt: key,
                    dest,
                    phase: Phase::Stop,
                });
            }
            self.issue(IpvsCommand::DeleteService { key });
            self.events.push_back(Event::VirtualPurged {
                virt: key,
                phase: Phase::Stop,
            });
        }
        self.stopped = true;
    }

    /// Replace our belief of the kernel table (e.g. after a command failed
    /// or someone edited the table) and issue what is needed to converge.
    pub fn resync(&mut self, table: Table) {
        if self.stopped {
            return;
        }
        self.table = table;
        for vi in 0..self.virts.len() {
            self.reconcile(vi, Phase::Start);
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The table as the core believes the kernel has it.
    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// State of a real (by its IPVS destination) in a virtual service.
    pub fn real_state(&self, virt: &VirtualAddr, dest: &SocketAddr) -> Option<RealState> {
        let vi = self.config.virtuals.iter().position(|v| v.addr == *virt)?;
        self.virts
            .get(vi)?
            .members
            .iter()
            .find(|m| m.dest == *dest)
            .map(|m| {
                if m.maintenance {
                    RealState::Down
                } else {
                    m.state
                }
            })
    }

    /// Every real of every virtual service with its state, for status
    /// reports (in configuration order).
    pub fn members(&self) -> Vec<MemberInfo> {
        let mut out = Vec::new();
        for (v, vs) in self.config.virtuals.iter().zip(&self.virts) {
            for m in &vs.members {
                let weight = v.reals.get(m.real).map(|r| r.weight).unwrap_or(0);
                out.push(MemberInfo {
                    virt: v.addr,
                    dest: m.dest,
                    configured: m.configured,
                    weight,
                    check: m.check,
                    state: if m.maintenance {
                        RealState::Down
                    } else {
                        m.state
                    },
                    failcount: m.failcount,
                    maintenance: m.maintenance,
                });
            }
        }
        out
    }

    /// Number of distinct checks being run.
    pub fn check_count(&self) -> usize {
        self.groups.len()
    }
}

/// ldirectord's `^([a-z][a-z0-9\-]+)\.` short host name.
fn short_name(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('.')?;
    let mut chars = first.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && first.len() >= 2
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(first)
}

trait DueExt {
    fn is_none_or_later(&self, now: Instant) -> bool;
}

impl DueExt for Option<Instant> {
    fn is_none_or_later(&self, now: Instant) -> bool {
        match self {
            None => true,
            Some(t) => *t > now,
        }
    }
}
