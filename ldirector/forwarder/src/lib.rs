//! A userspace L4 forwarder that behaves like IPVS, as a [`Backend`]: for
//! machines whose kernel has no IPVS (containers, CI runners, laptops).
//!
//! Each address:port service is a listening socket on the VIP (bound with
//! IP_FREEBIND, so the VIP may be added later, e.g. by heartbeat). A new
//! connection is scheduled by the same algorithm IPVS would use
//! ([`sched`]), counted as IPVS counts it (inactive until the real server
//! accepted, active while ESTABLISHED, inactive again from the first FIN
//! and for TIME_WAIT/CLOSE after the end), and proxied: TCP with splice(2),
//! UDP with one socket per client flow. It is a proxy, so the real servers
//! see the director's address as the source (like IPVS masquerading with
//! SNAT), whatever forwarding method was asked for.
//!
//! Not supported: firewall-mark services (refused with
//! [`BackendError::Unsupported`]), one-packet scheduling (`ops`, served as
//! ordinary UDP flows).

mod conns;
pub mod runtimes;
pub mod sched;
pub mod service;
pub mod stats;

mod pump;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ldirector::backend::{ApplyError, Backend, BackendError, ConnEntry, Snapshot};
use ldirector::config::{Forwarding, Protocol, VirtualAddr};
use ldirector::ipvs::{IpvsCommand, IpvsError, ServiceKey};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use conns::Activity;
pub use pump::pooled_pipes;
pub use service::Timeouts;
use service::{Assignment, Ended, ServiceCore};

type Shared = Arc<Mutex<ServiceCore>>;

/// A poisoned lock only means another task panicked mid-update; the
/// counters are still the best we have.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tunables; the defaults are IPVS's.
#[derive(Clone, Debug)]
pub struct Options {
    pub timeouts: Timeouts,
    /// Give up on a real server that does not accept within this (the
    /// client then gets a reset, as from a dead real server behind IPVS).
    pub connect_timeout: Duration,
    /// Use splice(2) for TCP (falls back to copying where unsupported).
    pub splice: bool,
    /// Listen backlog of each TCP service.
    pub backlog: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeouts: Timeouts::default(),
            connect_timeout: Duration::from_secs(5),
            splice: true,
            backlog: 4096,
        }
    }
}

/// One connection's accounting: reports its states to the service and,
/// when dropped, its end — whatever path the connection task took.
pub(crate) struct ConnGuard {
    core: Shared,
    a: Assignment,
    active: bool,
    /// How the connection is reported to have ended when dropped.
    pub(crate) ended: Ended,
}

impl ConnGuard {
    fn new(core: Shared, a: Assignment) -> Self {
        ConnGuard {
            core,
            a,
            active: false,
            ended: Ended::Reset,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.a.addr
    }

    fn timeouts(&self) -> Timeouts {
        lock(&self.core).timeouts()
    }

    /// The connection's listing entry follows `activity` from now on.
    fn attach(&self, activity: Arc<Activity>) {
        lock(&self.core).attach(&self.a, activity);
    }

    fn established(&mut self) {
        lock(&self.core).established(&self.a, Instant::now());
        self.active = true;
    }

    fn closing(&mut self) {
        if self.active {
            lock(&self.core).closing(&self.a, Instant::now());
            self.active = false;
        }
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.core).ended(&self.a, self.active, self.ended, Instant::now());
    }
}

struct Service {
    core: Shared,
    tasks: Vec<JoinHandle<()>>,
}

/// The userspace backend. Listeners and connections run as tasks on the
/// runtime given to [`Forwarder::new`]; `apply` and `snapshot` only lock
/// and update shared state.
pub struct Forwarder {
    /// Where TCP services accept (all from one listening socket) and run
    /// their connections; the first also runs UDP services and the timers.
    threads: Arc<tcp::Threads>,
    opts: Arc<Options>,
    /// In creation order (what `snapshot` lists).
    services: Vec<Service>,
    registry: Arc<Mutex<Vec<Shared>>>,
    ticker: JoinHandle<()>,
    told_about_forwarding: bool,
    seed: u64,
}

impl Forwarder {
    /// Listeners and connections run as tasks on `handle`'s runtime.
    pub fn new(handle: tokio::runtime::Handle) -> Forwarder {
        Forwarder::with_options(handle, Options::default())
    }

    pub fn with_options(handle: tokio::runtime::Handle, opts: Options) -> Forwarder {
        Forwarder::with_runtimes(vec![handle], opts)
    }

    /// Every runtime accepts from each TCP service's listening socket, so a
    /// connection lives on one thread from accept to close when each
    /// runtime is a current-thread one. An empty list means the current
    /// runtime.
    pub fn with_runtimes(handles: Vec<tokio::runtime::Handle>, opts: Options) -> Forwarder {
        let handles = if handles.is_empty() {
            vec![tokio::runtime::Handle::current()]
        } else {
            handles
        };
        let handle = handles[0].clone();
        let registry: Arc<Mutex<Vec<Shared>>> = Arc::default();
        let reg = registry.clone();
        let ticker = handle.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let now = Instant::now();
                let cores: Vec<Shared> = lock(&reg).clone();
                for c in cores {
                    lock(&c).tick(now);
                }
            }
        });
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Forwarder {
            threads: tcp::Threads::new(handles),
            opts: Arc::new(opts),
            services: Vec::new(),
            registry,
            ticker,
            told_about_forwarding: false,
            seed,
        }
    }

    /// Live TCP connections on each runtime, in the order given to
    /// [`Forwarder::with_runtimes`].
    pub fn runtime_loads(&self) -> Vec<usize> {
        self.threads.loads()
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    fn find(&self, key: &ServiceKey) -> Option<usize> {
        self.services
            .iter()
            .position(|s| lock(&s.core).key() == *key)
    }

    fn refused(cmd: &IpvsCommand, error: IpvsError) -> BackendError {
        BackendError::Refused {
            cmd: cmd.to_string(),
            error,
        }
    }

    fn apply_one(&mut self, cmd: &IpvsCommand) -> Result<(), BackendError> {
        let key = *cmd.key();
        let VirtualAddr::Inet { protocol, addr } = key else {
            return Err(BackendError::Unsupported {
                backend: "userspace",
                cmd: cmd.to_string(),
                reason: "firewall-mark services need the kernel's IPVS; \
                         the userspace forwarder only serves address:port services"
                    .into(),
            });
        };
        let existing = self.find(&key);
        match cmd {
            IpvsCommand::AddService { params, .. } => {
                if existing.is_some() {
                    return Err(Self::refused(cmd, IpvsError::ServiceExists));
                }
                if params.ops {
                    warn!(service = %key.id_str(), "one-packet scheduling (ops) is not supported by the userspace forwarder; serving UDP flows");
                }
                let seed = self.next_seed();
                let core: Shared = Arc::new(Mutex::new(ServiceCore::new(
                    key,
                    params.clone(),
                    self.opts.timeouts,
                    seed,
                )));
                let tasks = self
                    .listen(protocol, addr, core.clone())
                    .map_err(|source| BackendError::Io {
                        context: format!("{cmd}: cannot listen on {addr}"),
                        source,
                    })?;
                info!(service = %key.id_str(), scheduler = params.scheduler.name(), "userspace service listening");
                lock(&self.registry).push(core.clone());
                self.services.push(Service { core, tasks });
            }
            IpvsCommand::EditService { params, .. } => {
                let i = existing.ok_or_else(|| Self::refused(cmd, IpvsError::NoSuchService))?;
                let seed = self.next_seed();
                lock(&self.services[i].core).edit(params.clone(), seed);
            }
            IpvsCommand::DeleteService { .. } => {
                let i = existing.ok_or_else(|| Self::refused(cmd, IpvsError::NoSuchService))?;
                let s = self.services.remove(i);
                // Stops accepting; connections already running go on.
                for t in &s.tasks {
                    t.abort();
                }
                lock(&self.registry).retain(|c| !Arc::ptr_eq(c, &s.core));
                info!(service = %key.id_str(), "userspace service removed");
            }
            IpvsCommand::AddDest { dest, params, .. }
            | IpvsCommand::EditDest { dest, params, .. } => {
                let i = existing.ok_or_else(|| Self::refused(cmd, IpvsError::NoSuchService))?;
                if params.forward != Forwarding::Masq && !self.told_about_forwarding {
                    self.told_about_forwarding = true;
                    info!(service = %key.id_str(), real = %dest, "gate/ipip forwarding is proxied by the userspace forwarder (real servers see the director as the client)");
                }
                let mut core = lock(&self.services[i].core);
                let r = if matches!(cmd, IpvsCommand::AddDest { .. }) {
                    core.add_dest(*dest, *params)
                } else {
                    core.edit_dest(*dest, *params)
                };
                r.map_err(|e| Self::refused(cmd, e))?;
            }
            IpvsCommand::DelDest { dest, .. } => {
                let i = existing.ok_or_else(|| Self::refused(cmd, IpvsError::NoSuchService))?;
                lock(&self.services[i].core)
                    .del_dest(*dest)
                    .map_err(|e| Self::refused(cmd, e))?;
            }
        }
        Ok(())
    }

    fn listen(
        &self,
        protocol: Protocol,
        addr: SocketAddr,
        core: Shared,
    ) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        match protocol {
            Protocol::Tcp => {
                let sock = bind(protocol, addr, self.opts.backlog)?;
                for (i, h) in self.threads.handles().iter().enumerate() {
                    let _rt = h.enter();
                    let l = tokio::net::TcpListener::from_std(sock.try_clone()?.into())?;
                    tasks.push(h.spawn(tcp::serve(
                        l,
                        addr,
                        core.clone(),
                        self.opts.clone(),
                        self.threads.clone(),
                        i,
                    )));
                }
            }
            Protocol::Udp => {
                let Some(h) = self.threads.handles().first() else {
                    return Ok(tasks);
                };
                let sock = bind(protocol, addr, self.opts.backlog)?;
                let _rt = h.enter();
                let u = tokio::net::UdpSocket::from_std(sock.into())?;
                tasks.push(h.spawn(udp::serve(Arc::new(u), addr, core)));
            }
        }
        Ok(tasks)
    }
}

/// A listening (TCP) or bound (UDP) socket on the VIP, which need not be
/// configured yet.
fn bind(protocol: Protocol, addr: SocketAddr, backlog: i32) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let (ty, proto) = match protocol {
        Protocol::Tcp => (Type::STREAM, socket2::Protocol::TCP),
        Protocol::Udp => (Type::DGRAM, socket2::Protocol::UDP),
    };
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_freebind_ipv6(true)?;
    } else {
        s.set_freebind(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    if protocol == Protocol::Tcp {
        s.listen(backlog)?;
    }
    Ok(s)
}

impl Backend for Forwarder {
    fn name(&self) -> &'static str {
        "userspace"
    }

    fn apply(&mut self, cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        let failures: Vec<(usize, BackendError)> = cmds
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.apply_one(c).err().map(|e| (i, e)))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError { failures })
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot {
            services: self
                .services
                .iter()
                .map(|s| lock(&s.core).snapshot())
                .collect(),
        })
    }

    fn connections(&mut self) -> Result<Vec<ConnEntry>, BackendError> {
        let now = Instant::now();
        let mut out = Vec::new();
        for s in &self.services {
            lock(&s.core).connections(now, &mut out);
        }
        Ok(out)
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.ticker.abort();
        for t in self.services.iter().flat_map(|s| &s.tasks) {
            t.abort();
        }
    }
}
