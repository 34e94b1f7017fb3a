//! A whole test cluster: the LAN, its nodes, a client host, a scratch dir.
//! Everything is torn down on drop, in order (processes, namespaces, files),
//! also when the test panics.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::conf::{Auth, HaCf, Timing};
use crate::env::Env;
use crate::names::{fresh_prefix, TempDir};
use crate::netns::{Host, Lan, IFACE};
use crate::node::{Kind, Node, NodeFiles};
use crate::udp::{Capture, Injector};
use crate::wait::wait_for;

/// Last octet of the client's address (192.0.2.100).
pub const CLIENT_OCTET: u8 = 100;

/// What to build.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    nodes: Vec<(String, Kind)>,
    auth: Auth,
    auth_for: BTreeMap<String, Auth>,
    hacf: HaCf,
    haresources: String,
    resource_scripts: Vec<(String, String)>,
    private_files: Vec<(String, String, String)>,
    binds: Vec<(std::path::PathBuf, String)>,
}

impl ClusterSpec {
    pub fn new(auth: Auth, hacf: HaCf) -> Self {
        Self {
            nodes: Vec::new(),
            auth,
            auth_for: BTreeMap::new(),
            hacf,
            haresources: "# no resource groups: membership only\n".into(),
            resource_scripts: Vec::new(),
            private_files: Vec::new(),
            binds: Vec::new(),
        }
    }

    /// Add node `name` (192.0.2.11, .12, … in order).
    pub fn node(mut self, name: &str, kind: Kind) -> Self {
        self.nodes.push((name.to_owned(), kind));
        self
    }

    /// Give one node different `authkeys` (wrong-key tests).
    pub fn auth_for(mut self, name: &str, auth: Auth) -> Self {
        self.auth_for.insert(name.to_owned(), auth);
        self
    }

    pub fn haresources(mut self, text: &str) -> Self {
        self.haresources = text.to_owned();
        self
    }

    pub fn resource_script(mut self, name: &str, body: &str) -> Self {
        self.resource_scripts
            .push((name.to_owned(), body.to_owned()));
        self
    }

    /// An executable `name` in every node's private `dir` (see
    /// [`NodeFiles::private_files`]), e.g. an LSB script in `/etc/init.d`.
    pub fn private_file(mut self, dir: &str, name: &str, body: &str) -> Self {
        self.private_files
            .push((dir.to_owned(), name.to_owned(), body.to_owned()));
        self
    }

    /// Bind the host directory `src` over `target` in every node (e.g. an
    /// installed tree's `/usr/libexec/heartbeat`).
    pub fn bind_dir(mut self, src: &std::path::Path, target: &str) -> Self {
        self.binds.push((src.to_path_buf(), target.to_owned()));
        self
    }

    /// Create namespaces and node directories; nothing is started.
    pub fn build(self, env: &Env) -> Result<Cluster> {
        let prefix = fresh_prefix();
        let dir = TempDir::new(&prefix)?;
        let lan = Lan::new(&prefix)?;
        let client = lan.add_host("c", CLIENT_OCTET)?;
        let names: Vec<&str> = self.nodes.iter().map(|(n, _)| n.as_str()).collect();
        let ha_cf = self.hacf.render(&names, IFACE);
        let mut nodes = Vec::new();
        for (i, (name, kind)) in self.nodes.iter().enumerate() {
            let Ok(octet) = u8::try_from(11 + i) else {
                bail!("too many nodes");
            };
            let host = lan.add_host(&format!("n{}", i + 1), octet)?;
            let auth = self.auth_for.get(name).unwrap_or(&self.auth);
            let files = NodeFiles {
                ha_cf: ha_cf.clone(),
                authkeys: auth.authkeys(),
                haresources: self.haresources.clone(),
                resource_scripts: self.resource_scripts.clone(),
                private_files: self.private_files.clone(),
                binds: self.binds.clone(),
            };
            nodes.push(Node::prepare(
                name,
                *kind,
                host,
                dir.path().join(name),
                &files,
                env,
            )?);
        }
        Ok(Cluster {
            nodes,
            client,
            lan,
            dir,
            spec: self,
            prefix,
        })
    }
}

/// A built cluster. Field order is drop order.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
    client: Host,
    lan: Lan,
    dir: TempDir,
    spec: ClusterSpec,
    prefix: String,
}

impl Cluster {
    /// The `hbt<pid>x<n>` prefix of this cluster's namespaces.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn lan(&self) -> &Lan {
        &self.lan
    }

    pub fn timing(&self) -> Timing {
        self.spec.hacf.timing
    }

    pub fn udpport(&self) -> u16 {
        self.spec.hacf.udpport
    }

    /// The cluster-wide auth (not a per-node override).
    pub fn auth(&self) -> &Auth {
        &self.spec.auth
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node by name. Panics on a name the test did not define (a test bug).
    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name} in this cluster"))
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no node {name} in this cluster"))
    }

    pub fn client(&self) -> &Host {
        &self.client
    }

    /// Start every node that has a daemon.
    pub fn start_all(&mut self) -> Result<()> {
        for n in self.nodes.iter_mut().filter(|n| n.kind() != Kind::Absent) {
            n.start()?;
        }
        Ok(())
    }

    /// Wait until every daemon node reports every other daemon node
    /// `active`; returns how long that took.
    pub fn wait_all_active(&self, timeout: Duration) -> Result<Duration> {
        let live: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| n.kind() != Kind::Absent)
            .collect();
        wait_for(
            "all nodes to see each other active",
            timeout,
            Duration::from_millis(250),
            || {
                for a in &live {
                    for b in live.iter().filter(|b| b.name() != a.name()) {
                        a.expect_status(b.name(), "active")?;
                    }
                }
                Ok(())
            },
        )
        .map(|(_, t)| t)
    }

    /// Capture every datagram to the heartbeat port, seen from the client.
    pub fn capture(&self) -> Result<Capture> {
        Capture::start(&self.client.ns, self.udpport())
    }

    /// A sender on the client host (the "attacker" on the LAN).
    pub fn injector(&self) -> Result<Injector> {
        Injector::new(&self.client.ns)
    }
}
