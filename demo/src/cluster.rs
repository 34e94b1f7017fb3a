//! The demo cluster, built from the harness's parts (LAN, hosts, nodes)
//! under the demo's own `hbdemo<pid>` names: two directors running our
//! heartbeat (and, as its resource, our ldirectord), the LVS-DR real
//! servers, and a client host.
//!
//! With ldirectord the directors' own HTTP service is ldirectord's fallback
//! server (on the `fallback=` address, 127.0.0.1:80); without it the
//! directors answer on the VIP themselves (wildcard address).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ha_tests::cluster::CLIENT_OCTET;
use ha_tests::names::TempDir;
use ha_tests::netns::{Host, Lan, IFACE};
use ha_tests::node::{write_mode, NodeFiles};
use ha_tests::{wait_for, Env, Kind, Node};

use crate::configs::{self, DemoConfig};
use crate::http;
use crate::realservers::{RealServers, Web};

/// What runs besides heartbeat.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Our working ldirectord: heartbeat runs it as a resource. `None`: the
    /// ldirectord resource is dropped from haresources.
    pub ldirectord: Option<PathBuf>,
    /// Our LVSRealServer agent (for the real servers).
    pub agent: PathBuf,
}

/// heartbeat's `resource.d/ldirectord`: on a real director a symlink to
/// `/usr/sbin/ldirectord`; here a wrapper that also picks the IPVS backend.
fn ldirectord_wrapper(bin: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         # hademo: heartbeat runs `ldirectord ldirectord.cf start|stop|status`.\n\
         # --ipvs auto: kernel IPVS when the kernel has it, else the userspace forwarder.\n\
         exec '{}' --ipvs auto \"$@\"\n",
        bin.display()
    )
}

/// Field order is drop order: services, nodes, real servers, client, LAN,
/// files.
#[derive(Debug)]
pub struct DemoCluster {
    servers: Vec<(String, Child)>,
    nodes: Vec<Node>,
    reals: Option<RealServers>,
    client: Host,
    /// Held for its drop (the switch namespace goes last).
    _lan: Lan,
    dir: TempDir,
    prefix: String,
    /// This program, which also is the HTTP service (`serve-http`).
    exe: PathBuf,
    /// Where the directors' own HTTP service listens; `None`: it does not
    /// run (ldirectord without a fallback server).
    director_http: Option<std::net::SocketAddrV4>,
    ldirectord: bool,
}

impl DemoCluster {
    /// Namespaces and node directories; nothing is started.
    pub fn build(prefix: &str, cfg: &DemoConfig, env: &Env, plan: &Plan) -> Result<Self> {
        let dir = TempDir::new(prefix)?;
        let lan = Lan::new(prefix)?;
        let client = lan.add_host("c", CLIENT_OCTET)?;
        let exe = std::env::current_exe().context("own path")?;
        let lvs = cfg.lvs.as_ref();
        let ldirectord = plan.ldirectord.as_ref().filter(|_| lvs.is_some());
        let mut files = NodeFiles {
            ha_cf: cfg.ha_cf.clone(),
            authkeys: cfg.authkeys.clone(),
            haresources: cfg.haresources.clone(),
            resource_scripts: Vec::new(),
            private_files: Vec::new(),
            binds: Vec::new(),
        };
        if ldirectord.is_none() {
            files.haresources = configs::without_ldirectord(&cfg.haresources);
        }
        let reals = match lvs {
            Some(l) => Some(RealServers::build(
                &lan,
                &l.reals,
                cfg.vip,
                dir.path(),
                Web::choose(cfg.nginx_site.as_deref(), &exe),
                plan.agent.clone(),
            )?),
            None => None,
        };
        let director_http = match (ldirectord, lvs) {
            (Some(_), Some(l)) => l.fallback.and_then(|f| match f {
                std::net::SocketAddr::V4(a) => Some(a),
                std::net::SocketAddr::V6(_) => None,
            }),
            _ => Some(std::net::SocketAddrV4::new(
                std::net::Ipv4Addr::UNSPECIFIED,
                http::PORT,
            )),
        };
        let mut nodes = Vec::new();
        for (i, name) in cfg.nodes.iter().enumerate() {
            let octet = u8::try_from(11 + i).context("too many nodes")?;
            let host = lan.add_host(&format!("n{}", i + 1), octet)?;
            let node = Node::prepare(name, Kind::Ours, host, dir.path().join(name), &files, env)?;
            if let (Some(bin), Some(l)) = (ldirectord, lvs) {
                let etc = node.dir().join("etc");
                write_mode(&etc.join("ldirectord.cf"), &l.text, 0o644)?;
                write_mode(
                    &etc.join("resource.d").join("ldirectord"),
                    &ldirectord_wrapper(bin),
                    0o755,
                )?;
            }
            nodes.push(node);
        }
        Ok(Self {
            servers: Vec::new(),
            nodes,
            reals,
            client,
            _lan: lan,
            dir,
            prefix: prefix.to_owned(),
            exe,
            director_http,
            ldirectord: ldirectord.is_some(),
        })
    }

    /// Whether heartbeat runs ldirectord as a resource.
    pub fn has_ldirectord(&self) -> bool {
        self.ldirectord
    }

    pub fn reals(&self) -> Option<&RealServers> {
        self.reals.as_ref()
    }

    pub fn reals_mut(&mut self) -> Option<&mut RealServers> {
        self.reals.as_mut()
    }

    /// Split borrow: the real servers and the client host (to check them from).
    pub fn reals_and_client(&mut self) -> (Option<&mut RealServers>, &Host) {
        (self.reals.as_mut(), &self.client)
    }

    /// Where the directors' own HTTP service listens.
    pub fn director_http(&self) -> Option<std::net::SocketAddrV4> {
        self.director_http
    }

    /// Whether ldirectord runs on `name`: its pid file (in the node's fresh
    /// `/run`) is there and not empty, while the node is on.
    pub fn ldirectord_running(&self, name: &str) -> bool {
        let Ok(node) = self.node(name) else {
            return false;
        };
        if !node.is_powered_on() {
            return false;
        }
        std::fs::read_dir(node.dir().join("run"))
            .map(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with("ldirectord")
                        && n.ends_with(".pid")
                        && std::fs::read_to_string(e.path()).is_ok_and(|t| !t.trim().is_empty())
                })
            })
            .unwrap_or(false)
    }

    /// Lines of `name`'s ldirectord log containing `needle`.
    pub fn ldirectord_log(&self, name: &str, needle: &str) -> Vec<String> {
        let Ok(node) = self.node(name) else {
            return Vec::new();
        };
        std::fs::read_to_string(node.dir().join("log").join("ldirectord.log"))
            .map(|t| {
                t.lines()
                    .filter(|l| l.contains(needle))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
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
        let Some(listen) = self.director_http else {
            return Ok(());
        };
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
            .args(["serve-http", "--port", &listen.port().to_string()])
            .args(["--bind", &listen.ip().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn the HTTP service")?;
        self.servers.push((name.to_owned(), child));
        if !listen.ip().is_unspecified() {
            return self.wait_local_http(name, listen);
        }
        let addr = std::net::SocketAddrV4::new(ip, listen.port());
        http::wait_answering(
            &self.client,
            addr,
            name,
            &format!("{name}'s HTTP service"),
            Duration::from_secs(5),
        )
    }

    /// Wait until `name`'s service answers on `addr` inside the node (a
    /// loopback address cannot be asked from the client).
    fn wait_local_http(&self, name: &str, addr: std::net::SocketAddrV4) -> Result<()> {
        let node = self.node(name)?;
        let exe = self.exe.display().to_string();
        let target = addr.to_string();
        wait_for(
            &format!("{name}'s HTTP service on {addr}"),
            Duration::from_secs(5),
            Duration::from_millis(50),
            || {
                let out = node
                    .exec(&[&exe, "http-get", &target], Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                match String::from_utf8_lossy(&out.stdout).trim() {
                    n if n == name => Ok(()),
                    other => Err(format!("got {other:?}")),
                }
            },
        )
        .map(drop)
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
