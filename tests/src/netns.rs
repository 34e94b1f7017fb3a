//! Network namespaces and the test LAN: one bridge namespace and one
//! namespace per host, each joined by a veth pair. Addresses come from
//! 192.0.2.0/24 (TEST-NET-1) and no namespace has a default route, so
//! nothing can leave the LAN. The host namespace is never touched: veth
//! pairs are created directly inside their target namespaces.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::thread;

use anyhow::{anyhow, Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::cmd;

/// The LAN every test cluster lives on.
pub const NET: [u8; 3] = [192, 0, 2];
/// Its broadcast address (`bcast eth0` sends here).
pub const BROADCAST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 255);
/// `BROADCAST:port`, where heartbeat's `bcast` media sends.
pub fn broadcast(port: u16) -> SocketAddr {
    SocketAddr::V4(std::net::SocketAddrV4::new(BROADCAST, port))
}

/// Interface name inside every host namespace.
pub const IFACE: &str = "eth0";

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create(name: &str) -> Result<Self> {
        cmd::ip(&["netns", "add", name])?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str]) -> Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        cmd::ip(&all)
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Run `f` on a fresh thread that has joined this namespace. Sockets
    /// created there stay bound to it wherever they are used afterwards,
    /// and the calling thread's namespace is untouched.
    pub fn run_in<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let path = format!("/run/netns/{}", self.name);
        let file = File::open(&path).with_context(|| format!("open {path}"))?;
        thread::spawn(move || -> Result<T> {
            setns(&file, CloneFlags::CLONE_NEWNET).context("setns")?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow!("thread inside netns {} panicked", self.name))?
    }

    /// A UDP socket bound to `bind` inside this namespace, allowed to
    /// broadcast.
    pub fn udp_socket(&self, bind: SocketAddr) -> Result<UdpSocket> {
        let sock = self.run_in(move || UdpSocket::bind(bind))??;
        sock.set_broadcast(true)?;
        Ok(sock)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = cmd::ip(&["netns", "del", &self.name]);
    }
}

/// One host on the LAN: its namespace and address.
#[derive(Debug)]
pub struct Host {
    pub ns: Netns,
    pub ip: Ipv4Addr,
}

impl Host {
    /// Bring `eth0` back to a fresh-boot state: only its own address, up.
    pub fn reset_link(&self) -> Result<()> {
        let cidr = format!("{}/24", self.ip);
        let brd = BROADCAST.to_string();
        self.ns.ip(&["addr", "flush", "dev", IFACE])?;
        self.ns
            .ip(&["addr", "add", &cidr, "brd", &brd, "dev", IFACE])?;
        self.ns.ip(&["link", "set", IFACE, "up"])
    }

    /// Pull the cable.
    pub fn link_down(&self) -> Result<()> {
        self.ns.ip(&["link", "set", IFACE, "down"])
    }
}

/// A bridge in its own namespace; hosts plug into it. Each [`Host`] is
/// owned by whoever uses it (a node, the client), so it can be dropped
/// before the switch.
#[derive(Debug)]
pub struct Lan {
    prefix: String,
    switch: Netns,
}

impl Lan {
    pub fn new(prefix: &str) -> Result<Self> {
        let switch = new_switch(&format!("{prefix}sw"))?;
        Ok(Self {
            prefix: prefix.to_owned(),
            switch,
        })
    }

    pub fn switch(&self) -> &Netns {
        &self.switch
    }

    /// A new host `tag` (namespace `<prefix><tag>`) with address
    /// 192.0.2.`last_octet`, plugged into the bridge.
    pub fn add_host(&self, tag: &str, last_octet: u8) -> Result<Host> {
        let ns = Netns::create(&format!("{}{tag}", self.prefix))?;
        plug(&self.switch, &ns, IFACE, &format!("p{tag}"))?;
        let host = Host {
            ns,
            ip: Ipv4Addr::new(NET[0], NET[1], NET[2], last_octet),
        };
        host.reset_link()?;
        Ok(host)
    }
}

/// A namespace holding bridge `br0`, up, with no STP and no forwarding
/// delay, so ports forward at once.
pub(crate) fn new_switch(name: &str) -> Result<Netns> {
    let switch = Netns::create(name)?;
    switch.ip(&["link", "add", "br0", "type", "bridge"])?;
    switch.ip(&[
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ])?;
    switch.ip(&["link", "set", "br0", "up"])?;
    Ok(switch)
}

/// A veth cable from `host`'s `iface` to `switch`'s `port`, enslaved to
/// `br0` and up on the switch side (the host side is configured by the caller).
pub(crate) fn plug(switch: &Netns, host: &Netns, iface: &str, port: &str) -> Result<()> {
    cmd::ip(&[
        "link",
        "add",
        "name",
        iface,
        "netns",
        host.name(),
        "type",
        "veth",
        "peer",
        "name",
        port,
        "netns",
        switch.name(),
    ])?;
    switch.ip(&["link", "set", port, "master", "br0", "up"])
}
