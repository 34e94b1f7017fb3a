//! The daemon loop: the tokio shell around [`Director`].
//!
//! One task owns the director and the backend. It sleeps until the
//! director's next deadline, a finished check, a signal, a control request
//! or the periodic housekeeping tick (configuration file, maintenance
//! directory), feeds the director, and then drains its actions: every IPVS
//! command of one step goes to the backend as one batch, checks are spawned
//! (each bounded by its deadline, all concurrent) or aborted, fallback
//! commands run on their own tasks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ld_checks::CheckResult;
use ldirector::backend::listing;
use ldirector::backend::Backend;
use ldirector::config::{AlertStatus, Config, ConfigError, VirtualAddr};
use ldirector::director::{
    Action, CheckId, CheckOutcome, CheckRequest, Director, Event, RealState,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};

use crate::control::{self, Query, Request};
use crate::disk::{self, FileChange, FileSeen, Scan, ScanRequest};
use crate::hooks;
use crate::monitor::{self, MonitorLog};
use crate::probe::Probe;
use crate::report::{self, CheckInfo, ReportInput};

/// How the loop is wired.
pub struct RunOptions {
    /// The resolved configuration file (re-read on reload).
    pub config_path: PathBuf,
    pub backend: Box<dyn Backend>,
    pub probe: Arc<dyn Probe>,
    /// Unix socket to serve status requests on.
    pub control_socket: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    /// Handle SIGHUP (reload) and SIGTERM/SIGINT/SIGQUIT (stop).
    pub signals: bool,
    control_tx: mpsc::Sender<Request>,
    control_rx: mpsc::Receiver<Request>,
}

impl RunOptions {
    pub fn new(config_path: PathBuf, backend: Box<dyn Backend>, probe: Arc<dyn Probe>) -> Self {
        let (control_tx, control_rx) = mpsc::channel(16);
        RunOptions {
            config_path,
            backend,
            probe,
            control_socket: None,
            metrics_listen: None,
            signals: false,
            control_tx,
            control_rx,
        }
    }

    /// In-process access to the same requests the control socket serves.
    pub fn controller(&self) -> Controller {
        Controller(self.control_tx.clone())
    }
}

#[derive(Clone)]
pub struct Controller(mpsc::Sender<Request>);

impl Controller {
    /// `None` once the daemon is gone.
    pub async fn query(&self, query: Query) -> Option<String> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.0.send(Request { query, reply }).await.ok()?;
        rx.await.ok()
    }
}

/// A running attempt, for cancelling it and for reporting a timeout the
/// director noticed first.
struct Attempt {
    abort: AbortHandle,
    target: String,
    started: Instant,
    deadline: Instant,
}

struct Finished {
    id: CheckId,
    attempt: u64,
    target: String,
    result: CheckResult,
    latency: Duration,
    timed_out: bool,
}

/// Blocking work the loop handed to the blocking pool.
enum Io {
    Scan(Scan),
    Reload {
        loaded: Box<disk::Loaded>,
        /// The control request to answer once applied.
        reply: Option<oneshot::Sender<String>>,
    },
}

struct Shell {
    director: Director,
    backend: Box<dyn Backend>,
    probe: Arc<dyn Probe>,
    checks: JoinSet<Finished>,
    in_flight: HashMap<(CheckId, u64), Attempt>,
    check_info: HashMap<CheckId, CheckInfo>,
    transitions: HashMap<(VirtualAddr, SocketAddr), u64>,
    config_path: PathBuf,
    /// The configuration file as last read (autoreload, callback).
    seen: FileSeen,
    io: JoinSet<Io>,
    /// A housekeeping scan is running (at most one at a time).
    scanning: bool,
    /// The daemon's state for `emailalertstatus`.
    phase: AlertStatus,
    maintenance: Option<BTreeSet<String>>,
    /// Last "Inaccessible real server" mail per real (`emailalertfreq`).
    resent: HashMap<(VirtualAddr, SocketAddr), Instant>,
    /// `monitorfile=`: the writer (started when a virtual has one) and
    /// where each check's results go.
    monitor: Option<MonitorLog>,
    monitor_index: monitor::Index,
    /// Members (virtual, real as configured) drained by `maintenancedir`.
    maintained: HashSet<(VirtualAddr, SocketAddr)>,
}

/// Run the daemon until a stop signal or `shutdown` resolves; `ready` is
/// called once the table has its initial state and the control socket
/// listens. On the way out the table is cleaned per `cleanstop`.
pub async fn run(
    config: Config,
    mut opts: RunOptions,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let now = Instant::now();
    let current = opts.backend.read().unwrap_or_else(|e| {
        tracing::warn!("Cannot read the IPVS table, assuming it empty: {e}");
        Default::default()
    });
    for w in &config.warnings {
        tracing::warn!("Warning reading file {w}");
    }
    let interval = config.global.checkinterval;
    let mut sh = Shell {
        director: Director::new(config, now, current),
        backend: opts.backend,
        probe: opts.probe,
        checks: JoinSet::new(),
        in_flight: HashMap::new(),
        check_info: HashMap::new(),
        transitions: HashMap::new(),
        seen: FileSeen::default(),
        io: JoinSet::new(),
        scanning: false,
        config_path: opts.config_path,
        phase: AlertStatus::STARTING,
        maintenance: None,
        resent: HashMap::new(),
        monitor: None,
        monitor_index: monitor::Index::default(),
        maintained: HashSet::new(),
    };
    sh.monitor_setup(false);
    let path = sh.config_path.clone();
    let (seen, _) = tokio::task::spawn_blocking(move || FileSeen::read(&path)).await?;
    sh.seen = seen;
    let req = sh.scan_request();
    let first = tokio::task::spawn_blocking(move || disk::scan(&req)).await?;
    sh.scanned(now, first);
    sh.pump();
    if let Some(path) = &opts.control_socket {
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path)
            .with_context(|| format!("control socket {}", path.display()))?;
        // Reload is one of its requests: root only, like the signal.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(|| format!("control socket {}", path.display()))?;
        tokio::spawn(control::serve_socket(l, opts.control_tx.clone()));
    }
    if let Some(addr) = opts.metrics_listen {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("metrics listener {addr}"))?;
        tracing::info!(%addr, "Serving Prometheus metrics on http://{addr}/metrics");
        tokio::spawn(control::serve_metrics(l, opts.control_tx.clone()));
    }
    drop(opts.control_tx);
    let mut signals = if opts.signals {
        Some(Signals::new()?)
    } else {
        None
    };
    for e in &sh.director.config().global.execute {
        hooks::execute(e, "start");
    }
    sh.phase = AlertStatus::RUNNING;
    ready();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let why = loop {
        let wake = sh
            .director
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => sh.director.handle_timeout(Instant::now()),
            Some(done) = sh.checks.join_next(), if !sh.checks.is_empty() => {
                if let Ok(done) = done {
                    sh.finished(done);
                }
            }
            Some(req) = opts.control_rx.recv() => sh.answer(req),
            Some(done) = sh.io.join_next(), if !sh.io.is_empty() => match done {
                Ok(io) => sh.io_done(Instant::now(), io),
                Err(e) => {
                    sh.scanning = false;
                    tracing::error!("Housekeeping task failed: {e}");
                }
            },
            _ = tick.tick() => sh.housekeeping(Instant::now()),
            sig = recv_signal(&mut signals) => match sig {
                Sig::Hup => {
                    tracing::info!("Reloading Linux Director Daemon config on signal");
                    sh.start_reload(None);
                }
                Sig::Stop(name) => break name,
            },
            _ = &mut shutdown => break "shutdown",
        }
        sh.pump();
    };
    sh.phase = AlertStatus::STOPPING;
    sh.director.stop();
    sh.pump();
    for e in &sh.director.config().global.execute {
        hooks::execute(e, "stop");
    }
    sh.checks.abort_all();
    if let Some(m) = sh.monitor.take() {
        let _ = tokio::task::spawn_blocking(move || m.close()).await;
    }
    if why == "shutdown" {
        tracing::info!("Linux Director Daemon terminated on request");
    } else {
        tracing::info!("Linux Director Daemon terminated on signal: {why}");
    }
    if let Some(path) = &opts.control_socket {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

enum Sig {
    Hup,
    Stop(&'static str),
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }
}

async fn recv_signal(s: &mut Option<Signals>) -> Sig {
    match s {
        None => std::future::pending().await,
        Some(s) => tokio::select! {
            _ = s.hup.recv() => Sig::Hup,
            _ = s.term.recv() => Sig::Stop("TERM"),
            _ = s.int.recv() => Sig::Stop("INT"),
            _ = s.quit.recv() => Sig::Stop("QUIT"),
        },
    }
}

impl Shell {
    /// Carry out everything the director asked for.
    fn pump(&mut self) {
        // A refused batch makes us re-read the table and let the director
        // converge once more; a backend that keeps refusing is only logged.
        for round in 0..2 {
            let mut batch = Vec::new();
            while let Some(a) = self.director.poll_action() {
                match a {
                    Action::Ipvs(c) => batch.push(c),
                    Action::StartCheck(req) => self.start_check(req),
                    Action::CancelCheck { id, attempt } => {
                        if let Some(a) = self.in_flight.remove(&(id, attempt)) {
                            a.abort.abort();
                            self.cancelled(id, a);
                        }
                    }
                    Action::Fallback(f) => hooks::run_shell("fallbackcommand", f.command_line),
                }
            }
            let mut failed = false;
            if !batch.is_empty() {
                for c in &batch {
                    tracing::debug!(command = %c, "ipvs {c}");
                }
                if let Err(e) = self.backend.apply(&batch) {
                    failed = true;
                    for (i, why) in &e.failures {
                        let cmd = batch.get(*i).map(|c| c.to_string()).unwrap_or_default();
                        tracing::error!(command = %cmd, backend = self.backend.name(),
                            "ipvs {cmd} failed: {why}");
                    }
                }
            }
            self.log_events();
            if !failed || round == 1 {
                break;
            }
            match self.backend.read() {
                Ok(t) => self.director.resync(t),
                Err(e) => {
                    tracing::error!("Cannot read the IPVS table: {e}");
                    break;
                }
            }
        }
    }

    fn start_check(&mut self, req: CheckRequest) {
        let probe = self.probe.clone();
        let CheckRequest {
            id,
            attempt,
            kind,
            deadline,
            spec,
        } = req;
        let target = match spec.target() {
            Some(t) => t.to_string(),
            None => spec.addr.to_string(),
        };
        let target_copy = target.clone();
        let handle = self.checks.spawn(async move {
            let started = tokio::time::Instant::now();
            let r = tokio::time::timeout_at(
                tokio::time::Instant::from_std(deadline),
                probe.probe(spec, kind),
            )
            .await;
            let latency = started.elapsed();
            let (result, timed_out) = match r {
                Ok(r) => (r, false),
                Err(_) => (CheckResult::down("timeout"), true),
            };
            Finished {
                id,
                attempt,
                target,
                result,
                latency,
                timed_out,
            }
        });
        self.in_flight.insert(
            (id, attempt),
            Attempt {
                abort: handle,
                target: target_copy,
                started: Instant::now(),
                deadline,
            },
        );
    }

    /// An attempt the director gave up on: past its deadline it is a
    /// timeout (the director has already counted it as a failure).
    fn cancelled(&mut self, id: CheckId, a: Attempt) {
        let now = Instant::now();
        if now < a.deadline {
            return;
        }
        let was_up = self.check_info.get(&id).map(|c| c.up);
        if was_up != Some(false) {
            tracing::info!(real = %a.target, detail = "timeout",
                "Check failed: real server={}: timeout", a.target);
        }
        self.monitor_result(id, false, "timeout");
        self.check_info.insert(
            id,
            CheckInfo {
                latency: now.duration_since(a.started),
                up: false,
                detail: "timeout".into(),
            },
        );
    }

    fn finished(&mut self, f: Finished) {
        if self.in_flight.remove(&(f.id, f.attempt)).is_none() {
            return;
        }
        let was_up = self.check_info.get(&f.id).map(|c| c.up);
        if f.result.up {
            tracing::debug!(real = %f.target, latency_ms = f.latency.as_millis() as u64,
                "Check ok: real server={}", f.target);
        } else if was_up != Some(false) {
            tracing::info!(real = %f.target, detail = %f.result.detail,
                latency_ms = f.latency.as_millis() as u64,
                "Check failed: real server={}: {}", f.target, f.result.detail);
        } else {
            tracing::debug!(real = %f.target, detail = %f.result.detail,
                "Check failed: real server={}: {}", f.target, f.result.detail);
        }
        let outcome = if f.timed_out {
            CheckOutcome::Timeout
        } else if f.result.up {
            CheckOutcome::Up
        } else {
            CheckOutcome::Down
        };
        self.monitor_result(f.id, f.result.up, &f.result.detail);
        self.check_info.insert(
            f.id,
            CheckInfo {
                latency: f.latency,
                up: f.result.up,
                detail: f.result.detail,
            },
        );
        self.director
            .handle_check_result(Instant::now(), f.id, f.attempt, outcome);
    }

    fn monitor_result(&mut self, id: CheckId, up: bool, detail: &str) {
        if let Some(m) = &mut self.monitor {
            let maintained = &self.maintained;
            m.result(&self.monitor_index, id, up, detail, |v, r| {
                maintained.contains(&(*v, *r))
            });
        }
    }

    /// Where check results are logged, after start and every reload.
    fn monitor_setup(&mut self, reload: bool) {
        let members = self.director.members();
        self.maintained = members
            .iter()
            .filter(|m| m.maintenance)
            .map(|m| (m.virt, m.configured))
            .collect();
        self.monitor_index = monitor::Index::build(self.director.config(), &members);
        match &self.monitor {
            Some(m) if reload => m.reopen(),
            Some(_) => {}
            None if self.monitor_index.is_empty() => {}
            None => match MonitorLog::start() {
                Ok(m) => self.monitor = Some(m),
                Err(e) => tracing::error!("Cannot start the monitorfile writer: {e}"),
            },
        }
    }

    fn log_events(&mut self) {
        while let Some(ev) = self.director.poll_event() {
            if let Event::Maintenance { virt, real, on } = &ev {
                if *on {
                    self.maintained.insert((*virt, *real));
                } else {
                    self.maintained.remove(&(*virt, *real));
                }
            }
            let (virt, dest) = match &ev {
                Event::RealAdded { virt, dest, .. }
                | Event::RealRestored { virt, dest, .. }
                | Event::RealQuiesced { virt, dest }
                | Event::RealDeleted { virt, dest, .. } => (Some(*virt), Some(*dest)),
                Event::VirtualAdded { virt }
                | Event::VirtualChanged { virt }
                | Event::VirtualPurged { virt, .. } => (Some(*virt), None),
                Event::RealPurged { virt, dest, .. }
                | Event::FallbackAdded { virt, dest }
                | Event::FallbackDeleted { virt, dest } => (Some(*virt), Some(*dest)),
                Event::SoftFailure { virt, real, .. }
                | Event::SoftFailureReset { virt, real }
                | Event::Maintenance { virt, real, .. } => (Some(*virt), Some(*real)),
            };
            let virt_s = virt.map(|v| v.to_string()).unwrap_or_default();
            let dest_s = dest.map(|d| d.to_string()).unwrap_or_default();
            tracing::info!(virt = %virt_s, real = %dest_s, "{ev}");
            let transition = matches!(
                ev,
                Event::RealAdded { .. }
                    | Event::RealRestored { .. }
                    | Event::RealQuiesced { .. }
                    | Event::RealDeleted { .. }
            );
            if let (true, Some(v), Some(d)) = (transition, virt, dest) {
                *self.transitions.entry((v, d)).or_default() += 1;
                self.alert(&v, &ev.to_string());
            }
        }
    }

    fn alert(&self, virt: &VirtualAddr, subject: &str) {
        let cfg = self.director.config();
        let Some(v) = cfg.virtuals.iter().find(|v| v.addr == *virt) else {
            return;
        };
        let Some(to) = v.emailalert.as_deref().filter(|t| !t.is_empty()) else {
            return;
        };
        if !v.emailalertstatus.contains(self.phase) {
            return;
        }
        hooks::send_alert(to, cfg.global.emailalertfrom.as_deref(), subject);
    }

    /// Re-read the configuration off the loop; [`Shell::reloaded`]
    /// applies it.
    fn start_reload(&mut self, reply: Option<oneshot::Sender<String>>) {
        let path = self.config_path.clone();
        self.io.spawn_blocking(move || Io::Reload {
            loaded: Box::new(disk::load(&path)),
            reply,
        });
    }

    fn io_done(&mut self, now: Instant, io: Io) {
        match io {
            Io::Scan(s) => {
                self.scanning = false;
                self.scanned(now, s);
            }
            Io::Reload { loaded, reply } => {
                self.seen = loaded.seen;
                let answer = match self.reloaded(now, loaded.config) {
                    Ok(()) => "ok\n".to_string(),
                    Err(e) => format!("{e}\n"),
                };
                if let Some(r) = reply {
                    let _ = r.send(answer);
                }
            }
        }
    }

    /// Switch to a freshly read configuration; on error the running one
    /// stays.
    fn reloaded(
        &mut self,
        now: Instant,
        config: Result<Config, ConfigError>,
    ) -> Result<(), ConfigError> {
        let config = match config {
            Ok(c) => c,
            Err(e) => {
                for p in &e.problems {
                    tracing::error!(problem = %p, "Error reading file {p}");
                }
                tracing::error!("Keeping the running configuration");
                return Err(e);
            }
        };
        for w in &config.warnings {
            tracing::warn!("Warning reading file {w}");
        }
        if config.global.logfile != self.director.config().global.logfile {
            tracing::warn!("logfile changed: takes effect at the next restart");
        }
        let old_execute = self.director.config().global.execute.clone();
        for e in &old_execute {
            if !config.global.execute.contains(e) {
                hooks::execute(e, "stop");
            }
        }
        for e in &config.global.execute {
            hooks::execute(e, "reload");
        }
        let phase = std::mem::replace(&mut self.phase, AlertStatus::RELOADING);
        self.director.reload(now, config);
        self.pump();
        self.monitor_setup(true);
        self.phase = phase;
        Ok(())
    }

    fn scan_request(&self) -> ScanRequest {
        let global = &self.director.config().global;
        ScanRequest {
            path: self.config_path.clone(),
            seen: self.seen.clone(),
            autoreload: global.autoreload,
            maintenancedir: global.maintenancedir.clone(),
        }
    }

    /// Every checkinterval: look at the configuration file and the
    /// maintenance directory (off the loop), re-send due alerts.
    fn housekeeping(&mut self, now: Instant) {
        if !self.scanning {
            self.scanning = true;
            let req = self.scan_request();
            self.io.spawn_blocking(move || Io::Scan(disk::scan(&req)));
        }
        if let Some((new, total)) = self.monitor.as_mut().and_then(|m| m.take_dropped()) {
            tracing::warn!(
                dropped = new,
                dropped_total = total,
                "monitorfile writer behind: dropped {new} lines ({total} in all)"
            );
        }
        self.resend_alerts(now);
    }

    fn scanned(&mut self, now: Instant, scan: Scan) {
        let path = self.config_path.display().to_string();
        match scan.change {
            None => {}
            Some(FileChange::Same) => self.seen.mtime = scan.mtime,
            Some(FileChange::Unreadable(e)) => {
                // Logged once per change of the mtime; the next edit is
                // looked at again.
                self.seen.mtime = scan.mtime;
                for p in &e.problems {
                    tracing::error!(problem = %p, "Error reading file {p}");
                }
                tracing::error!(
                    "Configuration file '{path}' unreadable: keeping the running configuration"
                );
            }
            // A reload that finished while this scan ran already took it.
            Some(FileChange::Changed { text, .. })
                if self.seen.text.as_deref() == Some(text.as_ref()) =>
            {
                self.seen.mtime = scan.mtime;
            }
            Some(FileChange::Changed { text, parsed }) => {
                self.seen = FileSeen {
                    mtime: scan.mtime,
                    text: Some(text),
                };
                tracing::info!("Configuration file '{path}' has changed on disk");
                let global = &self.director.config().global;
                let callback = global.callback.clone();
                match parsed.filter(|_| global.autoreload) {
                    Some(config) => {
                        tracing::info!(" - reread new configuration");
                        let _ = self.reloaded(now, *config);
                    }
                    None => tracing::info!(" - ignore new configuration"),
                }
                if let Some(cb) = callback {
                    hooks::run_callback(&cb, &self.config_path);
                }
            }
        }
        let files = scan.maintenance;
        if files != self.maintenance {
            self.director
                .set_maintenance(&files.clone().unwrap_or_default(), &HashMap::new());
            self.maintenance = files;
        }
    }

    /// While a real is down, mail "Inaccessible real server" every
    /// `emailalertfreq` (0 = never).
    fn resend_alerts(&mut self, now: Instant) {
        let mut due = Vec::new();
        let members = self.director.members();
        let cfg = self.director.config();
        for m in &members {
            let Some(v) = cfg.virtuals.iter().find(|v| v.addr == m.virt) else {
                continue;
            };
            let key = (m.virt, m.dest);
            if m.state != RealState::Down || v.emailalert.is_none() || v.emailalertfreq.is_zero() {
                self.resent.remove(&key);
                continue;
            }
            match self.resent.get(&key) {
                None => {
                    // The transition itself was mailed just now.
                    self.resent.insert(key, now);
                }
                Some(t) if now.duration_since(*t) >= v.emailalertfreq => {
                    self.resent.insert(key, now);
                    due.push((
                        m.virt,
                        format!("Inaccessible real server: {} ({})", m.dest, m.virt),
                    ));
                }
                Some(_) => {}
            }
        }
        for (virt, subject) in due {
            self.alert(&virt, &subject);
        }
    }

    fn report(&mut self) -> report::StatusReport {
        let snapshot = self.backend.snapshot().unwrap_or_else(|e| {
            tracing::warn!("Cannot read the IPVS table: {e}");
            Default::default()
        });
        let cfg = self.director.config();
        report::build(ReportInput {
            config: cfg.path.display().to_string(),
            backend: self.backend.name(),
            virtuals: cfg.virtuals.iter().map(|v| v.addr).collect(),
            members: self.director.members(),
            snapshot: &snapshot,
            checks: &self.check_info,
            transitions: &self.transitions,
        })
    }

    fn answer(&mut self, req: Request) {
        let text = match req.query {
            Query::Listing(fmt) => match self.backend.snapshot() {
                Ok(s) => listing::render(&s, fmt),
                Err(e) => format!("error: {e}\n"),
            },
            Query::Connections => match self.backend.connections() {
                Ok(c) => listing::render_connections(&c, true),
                Err(e) => format!("error: {e}\n"),
            },
            Query::Json => {
                let r = self.report();
                serde_json::to_string_pretty(&r).unwrap_or_default() + "\n"
            }
            Query::Metrics => report::prometheus(&self.report()),
            Query::Reload => {
                tracing::info!("Reloading Linux Director Daemon config on request");
                self.start_reload(Some(req.reply));
                return;
            }
        };
        let _ = req.reply.send(text);
    }
}
