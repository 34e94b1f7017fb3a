//! The demo cluster, built from the harness's parts (LAN, hosts, nodes)
//! under the demo's own `hbdemo<pid>` names: two directors running our
//! heartbeat and the demo's HTTP service, and a client host.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ha_tests::cluster::CLIENT_OCTET;
use ha_tests::names::TempDir;
use ha_tests::netns::{Host, Lan, IFACE};
use ha_tests::node::NodeFiles;
use ha_tests::{wait_for, Env, Kind, Node};

use crate::configs::DemoConfig;
use crate::http;

/// Field order is drop order: services, nodes, client, LAN, files.
#[derive(Debug)]
pub struct DemoCluster {
    servers: Vec<(String, Child)>,
    nodes: Vec<Node>,
    client: Host,
    /// Held for its drop (the switch namespace goes last).
    _lan: Lan,
    dir: TempDir,
    prefix: String,
    /// This program, which also is the HTTP service (`serve-http`).
    exe: PathBuf,
}

impl DemoCluster {
    /// Namespaces and node directories; nothing is started.
    pub fn build(prefix: &str, cfg: &DemoConfig, env: &Env) -> Result<Self> {
        let dir = TempDir::new(prefix)?;
        let lan = Lan::new(prefix)?;
        let client = lan.add_host("c", CLIENT_OCTET)?;
        let files = NodeFiles {
            ha_cf: cfg.ha_cf.clone(),
            authkeys: cfg.authkeys.clone(),
            haresources: cfg.haresources.clone(),
            resource_scripts: Vec::new(),
        };
        let mut nodes = Vec::new();
        for (i, name) in cfg.nodes.iter().enumerate() {
            let octet = u8::try_from(11 + i).context("too many nodes")?;
            let host = lan.add_host(&format!("n{}", i + 1), octet)?;
            nodes.push(Node::prepare(
                name,
                Kind::Ours,
                host,
                dir.path().join(name),
                &files,
                env,
            )?);
        }
        Ok(Self {
            servers: Vec::new(),
            nodes,
            client,
            _lan: lan,
            dir,
            prefix: prefix.to_owned(),
            exe: std::env::current_exe().context("own path")?,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn client(&self) -> &Host {
        &self.client
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name() == name)
            .with_context(|| format!("no node {name}"))
    }

    fn node_mut(&mut self, name: &str) -> Result<&mut Node> {
        self.nodes
            .iter_mut()
            .find(|n| n.name() == name)
            .with_context(|| format!("no node {name}"))
    }

    /// Power on `name`: heartbeat, then the HTTP service, waiting until the
    /// service answers on the node's own address.
    pub fn boot(&mut self, name: &str) -> Result<()> {
        self.node_mut(name)?.start()?;
        let node = self.node(name)?;
        // start() returns once the node's PID 1 exists; it may not have set
        // the hostname (which the service answers with) yet.
        wait_for(
            &format!("{name}'s hostname"),
            Duration::from_secs(5),
            Duration::from_millis(10),
            || {
                let out = node
                    .exec(&["uname", "-n"], Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                match String::from_utf8_lossy(&out.stdout).trim() {
                    n if n == name => Ok(()),
                    other => Err(format!("hostname {other:?}")),
                }
            },
        )?;
        let init = node
            .init_pid()
            .with_context(|| format!("{name} did not come up"))?;
        let (log, ip) = (node.dir().join("http.log"), node.ip());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new("nsenter")
            .arg("--target")
            .arg(init.to_string())
            .args(["--net", "--uts", "--mount", "--pid", "--"])
            .arg(&self.exe)
            .args(["serve-http", "--port", &http::PORT.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn the HTTP service")?;
        self.servers.push((name.to_owned(), child));
        let addr = std::net::SocketAddrV4::new(ip, http::PORT);
        let want = name.to_owned();
        wait_for(
            &format!("{name}'s HTTP service"),
            Duration::from_secs(5),
            Duration::from_millis(50),
            || {
                let got = self
                    .client
                    .ns
                    .run_in(move || http::get(addr))
                    .map_err(|e| e.to_string())?;
                match got.node() {
                    Some(n) if n == want => Ok(()),
                    _ => Err(format!("{got:?}")),
                }
            },
        )?;
        Ok(())
    }

    /// Power off `name`: cable out, SIGKILL to its PID namespace (heartbeat
    /// and the HTTP service die together, with no goodbye).
    pub fn power_off(&mut self, name: &str) -> Result<()> {
        self.node_mut(name)?.crash()?;
        let mut others = Vec::new();
        for (n, mut c) in std::mem::take(&mut self.servers) {
            if n == name {
                // Its nsenter exits once the PID namespace is gone (and is
                // killed if it does not).
                let _ = ha_tests::cmd::wait_deadline(&mut c, Duration::from_secs(5));
            } else {
                others.push((n, c));
            }
        }
        self.servers = others;
        Ok(())
    }

    /// Whether `name`'s eth0 carries `vip`.
    pub fn holds(&self, name: &str, vip: Ipv4Addr) -> Result<bool> {
        let ns = self.node(name)?.host().ns.name().to_owned();
        let out = ha_tests::cmd::check(
            Command::new("ip").args(["-n", &ns, "-o", "-4", "addr", "show", "dev", IFACE]),
            ha_tests::cmd::SHORT,
        )?;
        let want = format!("inet {vip}/");
        Ok(out.lines().any(|l| l.contains(&want)))
    }

    /// Nodes holding `vip` right now.
    pub fn holders(&self, vip: Ipv4Addr) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.is_powered_on() && self.holds(n.name(), vip).unwrap_or(false))
            .map(|n| n.name().to_owned())
            .collect()
    }

    /// `cl_status nodestatus PEER` as seen on `node` (`Err` while the
    /// daemon is not up).
    pub fn status(&self, node: &str, peer: &str) -> Result<String, String> {
        self.node(node).map_err(|e| e.to_string())?.status_of(peer)
    }

    /// The `nsenter` line that runs a command inside `name`.
    pub fn enter_cmd(&self, name: &str) -> Result<String> {
        let Some(init) = self.node(name)?.init_pid() else {
            bail!("{name} is powered off");
        };
        Ok(format!(
            "nsenter --target {init} --net --uts --mount --pid --"
        ))
    }
}

impl Drop for DemoCluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.servers {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
