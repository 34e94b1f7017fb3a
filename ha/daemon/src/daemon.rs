//! [`run`]: the daemon's event loop on a current-thread tokio runtime.
//!
//! The loop polls the UDP sockets, the ping socket, the signals and one
//! deadline timer ([`crate::timer`]) itself; the FIFO reader, control
//! connections, agent runs and `failfast` clients are tasks that feed a
//! single channel. The loop owns the membership core, the resource manager
//! and the built-in ipfail and is the only place that touches them. Each
//! turn: drain the core's transmits (encode once, send on every medium) and
//! events (log, control socket, ipfail, resource manager), then the
//! resource manager's duties (send, begin shutdown, fence), then wait for an
//! input or the earliest deadline of all three cores.
//!
//! The resource manager ([`crate::resources`]) sits beside the core: it gets
//! every membership event (ping nodes' too: with built-in ipfail they gate
//! its takeovers) and every FIFO message, its sends go through
//! the core, and a graceful stop first releases its groups, then shuts the
//! membership down (heartbeat's order). A local fence ends the loop at once.

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hb_membership::{Event, Membership};
use hb_resources::LocalRequest;
use hb_wire::{AuthKeys, DecodeError};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::config::{self, Loaded, StartState};
use crate::control::{self, ControlRequest, Request, Response};
use crate::fence::{AfterFence, Fencer};
use crate::fifo::{self, FifoInput};
use crate::loadavg::LoadAvg;
use crate::paths::DaemonPaths;
use crate::ping::PingSide;
use crate::ratelimit::RateLimit;
use crate::resources::{AgentDone, Duty, Resources};
use crate::respawn::{FailFast, Respawner};
use crate::state::{self, GenerationSource};
use crate::timer::DeadlineTimer;
use crate::transport::{Received, Transport, TransportError, MAX_DATAGRAM};

/// Longest we wait for the core to finish a graceful shutdown.
const MAX_SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// One log line per this interval for repeatable network noise.
const NOISE_INTERVAL: Duration = Duration::from_secs(10);
/// FIFO messages held while the core pauses clients (flow control).
const MAX_HELD_CLIENT_MESSAGES: usize = 1000;

pub struct RunConfig {
    pub paths: DaemonPaths,
    pub loaded: Loaded,
    /// `-d` count (or ha.cf `debug`).
    pub debug: u32,
    /// Install SIGTERM/SIGINT (shutdown) and SIGHUP (reload) handlers.
    pub handle_signals: bool,
    /// Called once every medium is open and the first packet can go out.
    pub on_ready: Option<Box<dyn FnOnce() + Send>>,
    /// What a failed resource stop does to this node
    /// ([`crate::fence::RebootFencer`] in production).
    pub fencer: Box<dyn Fencer>,
}

/// How the loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// Graceful shutdown completed.
    Stopped,
    /// Shut down to restart (heartbeat after "returning after partition"):
    /// the caller starts a fresh daemon.
    Restart,
    /// The node fenced itself: exit now, without any cleanup.
    Fenced,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: io::Error,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Resources(#[from] hb_resources::ConfigError),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DaemonError + 'a {
    move |source| DaemonError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// What the FIFO and control tasks hand to the loop.
#[derive(Debug)]
pub enum Input {
    Fifo(FifoInput),
    Control(ControlRequest),
    Agent(AgentDone),
    /// A `failfast` client died badly.
    FailFast(FailFast),
}

impl From<FailFast> for Input {
    fn from(f: FailFast) -> Self {
        Input::FailFast(f)
    }
}

impl From<AgentDone> for Input {
    fn from(a: AgentDone) -> Self {
        Input::Agent(a)
    }
}

impl From<FifoInput> for Input {
    fn from(f: FifoInput) -> Self {
        Input::Fifo(f)
    }
}
impl From<ControlRequest> for Input {
    fn from(c: ControlRequest) -> Self {
        Input::Control(c)
    }
}

fn wall_clock_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // A fixed seed only makes heartbeat's ACK trigger predictable.
    let _ = getrandom::getrandom(&mut b);
    u64::from_le_bytes(b)
}

/// Directories heartbeat's package would have made.
fn prepare_dirs(paths: &DaemonPaths) -> Result<(), DaemonError> {
    use std::os::unix::fs::DirBuilderExt as _;
    for dir in [&paths.run_dir, &paths.state_dir] {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err("cannot create directory", dir))?;
    }
    Ok(())
}

/// Generation (persisted before anything is sent) and uuid, logged as
/// heartbeat does.
fn start_state(paths: &DaemonPaths) -> Result<StartState, DaemonError> {
    let now = wall_clock_secs();
    let generation = state::next_generation(&paths.hb_generation, now).map_err(io_err(
        "Cannot get/increment generation number in",
        &paths.hb_generation,
    ))?;
    match generation.source {
        GenerationSource::Missing => tracing::warn!(
            generation = generation.value,
            "No Previous generation - starting at {}",
            generation.value
        ),
        GenerationSource::Broken => tracing::warn!(
            generation = generation.value,
            "BROKEN previous generation - starting at {}",
            generation.value
        ),
        GenerationSource::Previous(_) => {}
    }
    tracing::info!(
        generation = generation.value,
        "Heartbeat generation: {}",
        generation.value
    );
    let (uuid, fresh) = state::load_or_create_uuid(&paths.hb_uuid).map_err(io_err(
        "getting uuid for the local node failed:",
        &paths.hb_uuid,
    ))?;
    if fresh {
        tracing::info!("No uuid found for current node - generating a new uuid.");
    }
    tracing::debug!(uuid = %state::uuid_to_string(&uuid), "uuid is:{}", state::uuid_to_string(&uuid));
    Ok(StartState {
        generation: generation.value,
        uuid,
        wall_clock_at_start: now,
        seed: random_seed(),
    })
}

/// Directives this daemon parses but does not act on yet: say so, loudly,
/// rather than let an operator believe they work.
fn warn_unsupported(cf: &hb_config::HaCf) {
    if !cf.stonith.is_empty() || !cf.stonith_host.is_empty() {
        tracing::warn!("STONITH is not supported by this heartbeat yet: no node will be fenced.");
    }
}

async fn recv_signal(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

struct Shell {
    paths: DaemonPaths,
    loaded: Loaded,
    keys: AuthKeys,
    links: Vec<String>,
    debug: u32,
    core: Membership,
    rsc: Resources<Input>,
    /// Ping nodes and the built-in ipfail.
    ping: PingSide,
    /// `respawn`/`failfast` clients, started at Comm_now_up.
    respawn: Respawner,
    fencer: Box<dyn Fencer>,
    transport: Transport,
    tx: mpsc::Sender<Input>,
    loadavg: LoadAvg,
    auth_noise: RateLimit,
    bad_noise: RateLimit,
    send_noise: RateLimit,
    control_up: bool,
    /// Our own links were reported up (heartbeat logs them once, when the
    /// local status becomes up).
    local_links_logged: bool,
    /// Client messages waiting for flow control to reopen.
    held: std::collections::VecDeque<hb_wire::Message>,
    /// Graceful stop, phase 1: the resource manager releases its groups.
    releasing: bool,
    /// Phase 2: membership shutdown, bounded.
    shutdown_deadline: Option<Instant>,
    finished: bool,
    exit: RunExit,
}

/// Run the daemon until a graceful shutdown completes: on SIGTERM/SIGINT
/// (with `handle_signals`) or when `shutdown` resolves.
pub async fn run(
    cfg: RunConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RunExit, DaemonError> {
    let RunConfig {
        paths,
        loaded,
        debug,
        handle_signals,
        on_ready,
        fencer,
    } = cfg;
    tracing::info!("heartbeat: version {}", crate::version_string());
    warn_unsupported(&loaded.hacf);
    prepare_dirs(&paths)?;
    let start = start_state(&paths)?;

    if fifo::ensure_fifo(&paths.fifo).map_err(io_err("Cannot make fifo", &paths.fifo))? {
        tracing::info!("Creating FIFO {}.", paths.fifo.display());
    }

    let (links, link_of) = config::links(&loaded.hacf.media);
    let transport = Transport::open(&loaded.hacf.media, &link_of)?;
    let (tx, mut rx) = mpsc::channel::<Input>(256);
    fifo::spawn_reader(&paths.fifo, tx.clone()).map_err(io_err("Cannot open fifo", &paths.fifo))?;

    let mut signals = if handle_signals {
        let sig = |k| signal(k).map_err(io_err("cannot install signal handler", Path::new("-")));
        (
            Some(sig(SignalKind::terminate())?),
            Some(sig(SignalKind::interrupt())?),
            Some(sig(SignalKind::hangup())?),
        )
    } else {
        (None, None, None)
    };

    let now = Instant::now();
    let mut links = links;
    let (core, ping, clients) = crate::ping::setup(
        &loaded,
        config::membership_config(&loaded, start),
        config::membership_tuning(&loaded),
        &mut links,
        now,
    );
    let config_dir = paths
        .config
        .ha_cf
        .parent()
        .map_or_else(|| Path::new("/etc/ha.d").to_path_buf(), Path::to_path_buf);
    let respawn = Respawner::new(
        clients,
        crate::agent::environment(&loaded, &config_dir, debug),
    );
    let keepalive = loaded.hacf.keepalive;
    let rsc = Resources::new(
        &loaded,
        &paths,
        debug,
        ping.isolation_ping_nodes(),
        tx.clone(),
        now,
    )?;
    let mut shell = Shell {
        rsc,
        ping,
        respawn,
        fencer,
        keys: loaded.authkeys.clone(),
        loadavg: LoadAvg::open(&paths.loadavg, keepalive.max(Duration::from_secs(1))),
        paths,
        loaded,
        links,
        debug,
        core,
        transport,
        tx,
        auth_noise: RateLimit::new(NOISE_INTERVAL),
        bad_noise: RateLimit::new(NOISE_INTERVAL),
        send_noise: RateLimit::new(NOISE_INTERVAL),
        control_up: false,
        local_links_logged: false,
        held: std::collections::VecDeque::new(),
        releasing: false,
        shutdown_deadline: None,
        finished: false,
        exit: RunExit::Stopped,
    };
    shell.refresh_loadavg(now);
    if let Some(f) = on_ready {
        f();
    }

    let mut buf = vec![0u8; MAX_DATAGRAM];
    tokio::pin!(shutdown);
    let timer = DeadlineTimer::new().map_err(io_err("cannot create timerfd", Path::new("-")))?;
    let mut armed: Option<Instant> = None;

    loop {
        shell.drain();
        if shell.finished {
            break;
        }
        let next = [
            shell.core.poll_timeout(),
            shell.rsc.poll_timeout(),
            shell.ping.poll_timeout(),
            shell.shutdown_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        // Re-arming an unchanged timer is a needless syscall.
        if next != armed {
            match timer.arm(next) {
                Ok(()) => armed = next,
                Err(e) => tracing::error!(error = %e, "Cannot arm the timer: {e}"),
            }
        }
        let shutting_down = shell.releasing || shell.shutdown_deadline.is_some();
        tokio::select! {
            r = shell.transport.recv(&mut buf) => shell.handle_datagram(r, buf.get(..r.len).unwrap_or_default()),
            Some(input) = rx.recv() => shell.handle_input(input),
            r = shell.ping.recv() => shell.handle_ping(r),
            () = timer.expired() => {
                armed = None;
                shell.handle_timer();
            }
            () = recv_signal(&mut signals.0) => shell.begin_shutdown("SIGTERM"),
            () = recv_signal(&mut signals.1) => shell.begin_shutdown("SIGINT"),
            () = recv_signal(&mut signals.2) => shell.reload(),
            () = &mut shutdown, if !shutting_down => shell.begin_shutdown("request"),
        }
    }
    if shell.exit != RunExit::Fenced {
        shell.respawn.join().await;
        shell.cleanup();
    }
    Ok(shell.exit)
}

impl Shell {
    fn refresh_loadavg(&mut self, now: Instant) {
        if let Some(ld) = self.loadavg.poll(now) {
            self.core.set_loadavg(ld);
        }
    }

    /// Until both are quiet: send what the core wants sent, log what
    /// happened, hand events to the resource manager and its duties back.
    fn drain(&mut self) {
        loop {
            let mut busy = self.drain_core();
            let now = Instant::now();
            busy |= self.drain_ipfail(now);
            while let Some(duty) = self.rsc.poll_duty(now) {
                busy = true;
                match duty {
                    Duty::Send(msg) => self.send_client(now, msg),
                    Duty::ShutdownReady => self.begin_membership_shutdown(now),
                    Duty::FenceLocal(reason) => {
                        if self.fencer.fence_local(&reason) == AfterFence::Die {
                            self.exit = RunExit::Fenced;
                            self.finished = true;
                            return;
                        }
                    }
                }
            }
            if !busy || self.finished {
                return;
            }
        }
    }

    fn drain_core(&mut self) -> bool {
        let mut busy = false;
        while let Some(t) = self.core.poll_transmit() {
            busy = true;
            match hb_wire::encode(&t.msg, &self.keys) {
                Ok(bytes) => {
                    for (iface, e) in self.transport.send_all(&bytes) {
                        if let Some(n) = self.send_noise.allow(Instant::now()) {
                            tracing::error!(iface = %iface, error = %e, suppressed = n, "Cannot send heartbeat packet on {iface}: {e}");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, msg_type = t.msg.msg_type().unwrap_or(""), "Cannot encode message: {e}")
                }
            }
        }
        while let Some(ev) = self.core.poll_event() {
            busy = true;
            crate::events::log_event(&ev, &self.loaded.local_node, &self.links);
            let now = Instant::now();
            let stable = self.rsc_stable();
            self.ping.event(now, &ev, &self.core, &self.links, stable);
            self.rsc.membership(now, &ev);
            match ev {
                Event::PartitionHealed { .. } => {
                    // heartbeat.c's follow-up lines, then its
                    // cause_shutdown_restart(): give up every resource
                    // (the peer, if it saw the same, does likewise), and
                    // start afresh so the pair negotiates like a cold boot.
                    tracing::info!(
                        "For information on cluster partitions, See URL: http://linux-ha.org/wiki/Split_Brain"
                    );
                    tracing::warn!("Deadtime value may be too small.");
                    tracing::info!("See FAQ for information on tuning deadtime.");
                    tracing::info!("URL: http://linux-ha.org/wiki/FAQ#Heavy_Load");
                    self.exit = RunExit::Restart;
                    self.begin_shutdown("partition");
                }
                Event::CommUp => {
                    self.open_control_socket();
                    self.ping.comm_up();
                    self.respawn.start(self.tx.clone());
                }
                Event::ShutdownComplete => self.finished = true,
                Event::NodeStatus { ref node, new, .. }
                    if !self.local_links_logged
                        && *node == self.loaded.local_node
                        && new == hb_membership::NodeStatus::Up =>
                {
                    self.local_links_logged = true;
                    // Ping links are the ping nodes', not ours.
                    for link in self.links.iter().take(self.ping.first_link()) {
                        tracing::info!(event = "link", node = %node, "Link {node}:{link} up.");
                    }
                }
                _ => {}
            }
        }
        if !self.held.is_empty() && !self.core.flow_control_paused() {
            let now = Instant::now();
            while let Some(msg) = self.held.pop_front() {
                busy = true;
                self.core.send(now, msg);
                if self.core.flow_control_paused() {
                    break;
                }
            }
        }
        busy
    }

    /// A client message (resource manager, FIFO): sent now, or held while
    /// flow control pauses clients.
    fn send_client(&mut self, now: Instant, msg: hb_wire::Message) {
        if self.held.is_empty() && !self.core.flow_control_paused() {
            self.core.send(now, msg);
        } else {
            if self.held.len() >= MAX_HELD_CLIENT_MESSAGES {
                self.held.pop_front();
                tracing::warn!("Flow control: dropping the oldest held client message.");
            }
            self.held.push_back(msg);
        }
    }

    fn open_control_socket(&mut self) {
        if self.control_up {
            return;
        }
        match control::bind(&self.paths.control_socket) {
            Ok(listener) => {
                control::spawn_server(listener, self.tx.clone());
                self.control_up = true;
            }
            Err(e) => tracing::error!(
                path = %self.paths.control_socket.display(),
                error = %e,
                "Cannot create control socket {}: {e}",
                self.paths.control_socket.display()
            ),
        }
    }

    fn handle_timer(&mut self) {
        let now = Instant::now();
        if self.shutdown_deadline.is_some_and(|d| now >= d) {
            tracing::warn!(
                "Shutdown did not complete within {} s; exiting anyway.",
                MAX_SHUTDOWN_WAIT.as_secs()
            );
            tracing::info!("{} Heartbeat shutdown complete.", self.loaded.local_node);
            self.finished = true;
            return;
        }
        self.refresh_loadavg(now);
        self.core.handle_timeout(now);
        self.rsc.timeout(now);
        let stable = self.rsc_stable();
        self.ping.timeout(now, &self.keys, stable);
    }

    /// ipfail's `is_stable`: our resources are not in transition.
    fn rsc_stable(&self) -> bool {
        self.rsc.stable()
    }

    fn handle_ping(&mut self, r: io::Result<(std::net::IpAddr, Vec<u8>)>) {
        let now = Instant::now();
        match r {
            Ok((from, payload)) => self
                .ping
                .reply(now, from, &payload, &self.keys, &mut self.core),
            Err(e) => {
                if let Some(n) = self.bad_noise.allow(now) {
                    tracing::error!(error = %e, suppressed = n, "Cannot read ping reply: {e}");
                }
            }
        }
    }

    /// Carry out what the built-in ipfail decided.
    fn drain_ipfail(&mut self, now: Instant) -> bool {
        use hb_resources::ipfail::Output;
        let mut busy = false;
        while let Some(out) = self.ping.poll_output() {
            busy = true;
            match out {
                Output::Send(msg) => self.send_client(now, msg),
                Output::Standby(scope) => self.rsc.request(now, LocalRequest::Standby(scope)),
                Output::Log(level, text) => crate::ping::log_ipfail(level, &text),
            }
        }
        busy
    }

    fn handle_input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Fifo(FifoInput::Message(msg)) => {
                tracing::debug!(msg_type = msg.msg_type().unwrap_or(""), "message from FIFO");
                // Sent through the resource manager, which also applies it
                // (heartbeat's resource code sees its own ask_resources, …).
                self.rsc.local_message(now, msg);
            }
            Input::Agent(done) => self.rsc.agent_done(now, done),
            Input::FailFast(f) => {
                tracing::error!(reason = %f.reason, "{}: rebooting this node.", f.reason);
                if self.fencer.fence_local(&f.reason) == AfterFence::Die {
                    self.exit = RunExit::Fenced;
                    self.finished = true;
                }
            }
            Input::Fifo(FifoInput::Bad(e)) => {
                tracing::warn!(error = %e, "Bad message on {}: {e}", self.paths.fifo.display())
            }
            Input::Control(cr) => {
                let answer = self.answer(&cr.request);
                let _ = cr.reply.send(answer);
            }
        }
    }

    fn handle_datagram(&mut self, r: Received, data: &[u8]) {
        // The core ignores our own packets anyway; skip their signature.
        if self.transport.is_own(&r) {
            return;
        }
        let now = Instant::now();
        match hb_wire::decode(data, &self.keys) {
            Ok((msg, _format)) => {
                if let Err(reject) = self.core.handle_message(now, r.link, msg) {
                    tracing::debug!(from = %r.from, reason = %reject, "packet dropped: {reject}");
                }
            }
            Err(e @ (DecodeError::Auth(_) | DecodeError::NoAuth)) => {
                if let Some(n) = self.auth_noise.allow(now) {
                    log_auth_failure(r.from, data, &e, n);
                }
            }
            Err(e) => {
                if let Some(n) = self.bad_noise.allow(now) {
                    tracing::warn!(from = %r.from, error = %e, suppressed = n, "Bad packet from {}: {e}{}", r.from, suppressed(n));
                }
            }
        }
    }

    fn answer(&self, request: &Request) -> Response {
        match request {
            Request::Snapshot => Response::Snapshot(control::snapshot_from(
                &crate::ping::in_hacf_order(
                    self.core.nodes(),
                    &self.loaded.hacf.ping_node_positions,
                ),
                &self.links,
                &self.loaded.local_node,
                self.rsc.rsc_status(),
            )),
            Request::Parameter { name } => Response::Parameter {
                value: crate::defaults::parameter(
                    &self.loaded.hacf.raw,
                    name,
                    self.debug,
                    self.loaded.hacf.warntime.as_millis(),
                ),
            },
            // We host no API clients; a peer's clients are unknown to us:
            // heartbeat answers "offline" for a client it does not have.
            Request::ClientStatus { node, client } => {
                if let Some(online) =
                    self.ping
                        .ipfail_client_status(node, client, &self.loaded.local_node)
                {
                    Response::ClientStatus {
                        status: if online { "online" } else { "offline" }.to_owned(),
                    }
                } else if self.loaded.hacf.nodes.iter().any(|n| n == node) {
                    Response::ClientStatus {
                        status: "offline".to_owned(),
                    }
                } else {
                    Response::Error {
                        message: "EINVAL".to_owned(),
                    }
                }
            }
        }
    }

    /// Phase 1 of a graceful stop: release every group (no time limit:
    /// agents have their own, and heartbeat waits as long as it takes).
    fn begin_shutdown(&mut self, why: &str) {
        if self.releasing || self.shutdown_deadline.is_some() {
            return;
        }
        tracing::info!(
            reason = why,
            "Heartbeat shutdown in progress. ({})",
            std::process::id()
        );
        self.releasing = true;
        self.respawn.stop();
        self.rsc.request(Instant::now(), LocalRequest::Shutdown);
    }

    /// Phase 2: every group is released; say goodbye to the cluster.
    fn begin_membership_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.releasing = false;
        self.shutdown_deadline = Some(now + MAX_SHUTDOWN_WAIT);
        self.core.shutdown(now);
    }

    /// SIGHUP: authkeys take effect at once; ha.cf needs a restart.
    fn reload(&mut self) {
        tracing::info!("Rereading configuration files (SIGHUP).");
        match hb_config::load_authkeys(&self.paths.config.authkeys) {
            Ok(keys) => {
                self.keys = keys;
                tracing::info!(
                    "Authentication keys reloaded from {}.",
                    self.paths.config.authkeys.display()
                );
            }
            Err(e) => {
                for p in &e.problems {
                    tracing::error!("{p}");
                }
                tracing::error!("Authentication reparsing error: keeping the current keys.");
            }
        }
        match hb_config::load_ha_cf(&self.paths.config.ha_cf) {
            Ok(cf) if cf == self.loaded.hacf => {}
            Ok(_) => tracing::warn!(
                "{} has changed: restart heartbeat to apply it (only authkeys are reread on SIGHUP).",
                self.paths.config.ha_cf.display()
            ),
            Err(e) => {
                for p in &e.problems {
                    tracing::warn!("{p}");
                }
            }
        }
    }

    fn cleanup(&mut self) {
        if self.control_up {
            let _ = std::fs::remove_file(&self.paths.control_socket);
        }
    }
}

fn suppressed(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} similar messages suppressed)")
    }
}

/// heartbeat's wording: netstring packets fail in `is_auth_netstring`
/// ("authtoken does not match", "netstring authentication failed"),
/// classic ones in `string2msg_ll` ("node [x] failed authentication").
fn log_auth_failure(from: std::net::SocketAddr, data: &[u8], e: &DecodeError, n: u64) {
    if data.starts_with(b">>>") {
        let src = peek_src(data).unwrap_or_else(|| "?".to_owned());
        tracing::warn!(from = %from, node = %src, error = %e, suppressed = n,
            "string2msg_ll: node [{src}] failed authentication{}", suppressed(n));
    } else {
        tracing::error!(from = %from, error = %e, "authtoken does not match");
        tracing::error!(from = %from, suppressed = n,
            "netstring authentication failed, from {from}{}", suppressed(n));
    }
}

/// The claimed `src=` of an unauthenticated classic packet, for the log
/// only: printable ASCII, at most 64 characters.
fn peek_src(data: &[u8]) -> Option<String> {
    let start = data.windows(5).position(|w| w == b"\nsrc=")? + 5;
    let rest = data.get(start..)?;
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len())
        .min(64);
    let raw = rest.get(..end)?;
    Some(
        raw.iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_src_is_bounded_and_printable() {
        assert_eq!(
            peek_src(b">>>\nt=status\nsrc=node2\nseq=1\n<<<\n").as_deref(),
            Some("node2")
        );
        assert_eq!(peek_src(b">>>\nt=status\n<<<\n"), None);
        let long = [b">>>\nsrc=".as_slice(), &[b'a'; 200], b"\n"].concat();
        assert_eq!(peek_src(&long).unwrap().len(), 64);
        assert_eq!(peek_src(b">>>\nsrc=a\x01b\n").as_deref(), Some("a?b"));
    }
}
