//! The shell around [`hb_resources::ResourceManager`]: builds its config
//! from ha.cf + haresources, runs the agents it asks for (one at a time, see
//! [`crate::agent`]: resource.d / init.d scripts as heartbeat runs them,
//! `OCF::type::instance` and bare OCF agents natively), logs its lines
//! (ResourceManager's in the scripts' `ha_log` format), and hands the loop
//! what only the loop may do (send through membership, begin the membership
//! shutdown, fence).

use std::path::PathBuf;
use std::time::Instant;

use hb_membership::Event;
use hb_resources::{
    Action, AgentOutcome, AgentRequest, AgentResult, Command, Config, ConfigError, FenceTarget,
    Level, LocalRequest, OpId, ResourceManager, RscStatus, Timing,
};
use hb_wire::Message;
use tokio::sync::mpsc;

use crate::agent::{self, Invocation};
use crate::paths::DaemonPaths;

/// An agent run finished; goes back to the loop through its channel.
#[derive(Debug)]
pub struct AgentDone {
    pub op: OpId,
    pub result: AgentResult,
}

/// What the loop must do for the resource manager.
#[derive(Debug, PartialEq)]
pub enum Duty {
    /// `Membership::send` (subject to flow control).
    Send(Message),
    /// Every group is released: start the membership shutdown.
    ShutdownReady,
    /// A stop failed and the resource still runs: this node must hold
    /// nothing, now.
    FenceLocal(String),
}

/// The resource manager's config from what `load_all` read;
/// `isolation_ping_nodes`: the ping nodes gating takeovers (when ipfail runs
/// built in, see [`crate::ping::PingSide::isolation_ping_nodes`]).
pub fn config(loaded: &hb_config::Loaded, isolation_ping_nodes: Vec<String>) -> Config {
    Config {
        local: loaded.local_node.clone(),
        nodes: loaded.hacf.nodes.clone(),
        groups: loaded.haresources.groups.clone(),
        auto_failback: loaded.hacf.auto_failback,
        // STONITH devices are not supported yet (the daemon warns).
        stonith: false,
        isolation_ping_nodes,
        timing: Timing::default(),
    }
}

pub struct Resources<T> {
    rm: ResourceManager,
    dirs: Vec<PathBuf>,
    env: Vec<(String, String)>,
    stderr_to: Option<PathBuf>,
    /// `HA_DIR` (OCF instance files live in `conf/OCF` under it).
    ha_dir: PathBuf,
    tx: mpsc::Sender<T>,
}

impl<T: From<AgentDone> + Send + 'static> Resources<T> {
    pub fn new(
        loaded: &hb_config::Loaded,
        paths: &DaemonPaths,
        debug: u32,
        isolation_ping_nodes: Vec<String>,
        tx: mpsc::Sender<T>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let config_dir = paths
            .config
            .ha_cf
            .parent()
            .map_or_else(|| PathBuf::from("/etc/ha.d"), PathBuf::from);
        Ok(Self {
            rm: ResourceManager::new(config(loaded, isolation_ping_nodes), now)?,
            dirs: paths.resource_dirs.clone(),
            env: agent::environment(loaded, &config_dir, debug),
            stderr_to: loaded.hacf.debugfile.clone(),
            ha_dir: config_dir,
            tx,
        })
    }

    pub fn membership(&mut self, now: Instant, ev: &Event) {
        self.rm.handle_membership(now, ev);
    }

    pub fn agent_done(&mut self, now: Instant, done: AgentDone) {
        self.rm.handle_agent_result(now, done.op, done.result);
    }

    pub fn request(&mut self, now: Instant, req: LocalRequest) {
        self.rm.handle_request(now, req);
    }

    /// A message a local script wrote to the FIFO.
    pub fn local_message(&mut self, now: Instant, msg: Message) {
        self.rm.handle_local_message(now, msg);
    }

    pub fn timeout(&mut self, now: Instant) {
        if self.rm.poll_timeout().is_some_and(|t| now >= t) {
            self.rm.handle_timeout(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rm.poll_timeout()
    }

    /// `cl_status rscstatus`.
    pub fn rsc_status(&self) -> &'static str {
        self.rm.rsc_status().as_str()
    }

    /// ipfail's `is_stable()`: `rscstatus` is not `transition`.
    pub fn stable(&self) -> bool {
        self.rm.rsc_status() != RscStatus::Transition
    }

    /// Next thing for the loop; agents and log lines are handled here.
    pub fn poll_duty(&mut self, now: Instant) -> Option<Duty> {
        loop {
            match self.rm.poll_command()? {
                Command::Send(m) => return Some(Duty::Send(m)),
                Command::ShutdownReady => return Some(Duty::ShutdownReady),
                Command::Fence {
                    target: FenceTarget::Local,
                    reason,
                } => return Some(Duty::FenceLocal(reason)),
                Command::Fence {
                    target: FenceTarget::Node(node),
                    reason,
                } => {
                    tracing::error!(node = %node, reason = %reason, "No STONITH device configured: cannot reset {node}.");
                    self.rm.handle_fence_result(now, &node, false);
                }
                Command::Log(l) => log(&l),
                Command::RunAgent(req) => self.run_agent(now, req),
            }
        }
    }

    fn run_agent(&mut self, now: Instant, req: AgentRequest) {
        let Some(res) = self
            .rm
            .config()
            .groups
            .get(req.group)
            .and_then(|g| g.resources.get(req.resource))
            .cloned()
        else {
            self.rm.handle_agent_result(
                now,
                req.op,
                AgentResult {
                    outcome: AgentOutcome::SpawnFailed("no such resource".into()),
                    stdout: String::new(),
                },
            );
            return;
        };
        let mut env = self.env.clone();
        if req.nice_failback {
            env.push(("HA_NICEFAILBACK".to_owned(), "yes".to_owned()));
        }
        let mut ocf_label = None;
        let (path, args, shown) = match self.plan(&res.script, &res.args, req.action) {
            Ok(Planned::Script(path)) => {
                let mut args = res.args.clone();
                args.push(req.action.as_str().to_owned());
                let shown = path.display().to_string();
                (path, args, shown)
            }
            Ok(Planned::Ocf(run)) => {
                env.extend(run.env);
                ocf_label = Some(run.label);
                let shown = run.agent.display().to_string();
                (run.program, run.args, shown)
            }
            Err(why) => {
                tracing::error!(source = "ResourceManager", script = %res.script, "{why}");
                self.rm.handle_agent_result(
                    now,
                    req.op,
                    AgentResult {
                        outcome: AgentOutcome::SpawnFailed(why),
                        stdout: String::new(),
                    },
                );
                return;
            }
        };
        if req.action != Action::Status {
            // heartbeat's line names the script and its arguments; for an
            // OCF agent, the agent and the action it gets.
            let shown_args = match &ocf_label {
                Some(_) => args.last().cloned().unwrap_or_default(),
                None => args.join(" "),
            };
            tracing::info!(source = "ResourceManager", "Running {shown} {shown_args}");
        }
        let inv = Invocation {
            path,
            args,
            env,
            timeout: req.timeout,
            stderr_to: self.stderr_to.clone(),
        };
        let tx = self.tx.clone();
        let (op, action) = (req.op, req.action);
        tokio::spawn(async move {
            let mut result = agent::run(inv).await;
            if let Some(label) = &ocf_label {
                result = agent::ocf::translate(label, action, result);
            }
            if action != Action::Status {
                match &result.outcome {
                    AgentOutcome::Exited(0) => {}
                    AgentOutcome::Exited(c) => {
                        tracing::error!(
                            source = "ResourceManager",
                            code = c,
                            "Return code {c} from {shown}"
                        )
                    }
                    AgentOutcome::Signaled(s) => {
                        tracing::error!(
                            source = "ResourceManager",
                            signal = s,
                            "{shown} killed by signal {s}"
                        )
                    }
                    AgentOutcome::TimedOut => {
                        tracing::error!(
                            source = "ResourceManager",
                            "{shown} {} timed out",
                            action.as_str()
                        )
                    }
                    AgentOutcome::SpawnFailed(e) => {
                        tracing::error!(source = "ResourceManager", "Cannot run {shown}: {e}")
                    }
                }
            }
            let _ = tx.send(AgentDone { op, result }.into()).await;
        });
    }
}

enum Planned {
    Script(PathBuf),
    Ocf(agent::ocf::OcfRun),
}

impl<T> Resources<T> {
    /// `OCF::…` natively; otherwise the script from resource.d / init.d
    /// (heartbeat's lookup), else an OCF agent of that name.
    fn plan(&self, script: &str, args: &[String], action: Action) -> Result<Planned, String> {
        let root = self
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "OCF_ROOT")
            .map_or_else(
                || PathBuf::from(agent::ocf::ROOT),
                |(_, v)| PathBuf::from(v),
            );
        if script != "OCF" {
            if let Some(path) = agent::locate(&self.dirs, script) {
                return Ok(Planned::Script(path));
            }
        }
        match agent::ocf::plan(&root, &self.ha_dir, script, args, action)? {
            Some(run) => Ok(Planned::Ocf(run)),
            None => Err(format!("Cannot locate resource script {script}")),
        }
    }
}

fn log(l: &hb_resources::Log) {
    let source = l.source.as_str();
    match l.level {
        Level::Debug => tracing::debug!(source, "{}", l.text),
        Level::Info => tracing::info!(source, "{}", l.text),
        Level::Warn => tracing::warn!(source, "{}", l.text),
        Level::Error => tracing::error!(source, "{}", l.text),
        Level::Crit => tracing::error!(source, crit = true, "{}", l.text),
    }
}
