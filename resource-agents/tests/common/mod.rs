//! Test harness: network namespaces (prefix `hba<pid>`), running the agent
//! bins inside them, reading back addresses and sysctls with iproute2, and an
//! AF_PACKET capture in another namespace. Everything a test makes is removed
//! on Drop, also when the test fails.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pnet_packet::arp::{ArpOperation, ArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::Packet;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `hba<pid>x<n>`: unique per test process and call.
pub fn unique() -> String {
    format!(
        "hba{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(cmd).is_file())
            || ["/sbin", "/usr/sbin"]
                .iter()
                .any(|d| Path::new(d).join(cmd).is_file())
    })
}

/// True if the test can run. Not being root skips it (printing SKIP), unless
/// `HA_E2E_REQUIRED=1`; a missing tool always fails the test, since as root
/// the test is expected to run.
pub fn prereqs(test: &str, commands: &[&str]) -> bool {
    let required = std::env::var("HA_E2E_REQUIRED").as_deref() == Ok("1");
    if !nix::unistd::geteuid().is_root() {
        assert!(!required, "{test}: needs root (HA_E2E_REQUIRED=1)");
        // Straight to stderr: the test harness captures println!, and a skip
        // must be visible in a normal run.
        let _ = writeln!(std::io::stderr(), "SKIP {test}: needs root");
        return false;
    }
    let missing: Vec<&str> = commands.iter().copied().filter(|c| !have(c)).collect();
    assert!(
        missing.is_empty(),
        "{test}: missing tools {missing:?} (iproute2, iputils-ping, util-linux, e2fsprogs)"
    );
    true
}

/// Run a command to completion (test plumbing, not the code under test).
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(args: &[&str]) -> String {
    sh(Command::new("ip").args(args))
}

/// A network namespace, deleted on Drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Self {
        let name = unique();
        ip(&["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Run a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> String {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args))
    }

    pub fn sysctl(&self, name: &str) -> String {
        self.exec(&["cat", &format!("/proc/sys/net/ipv4/{name}")])
            .trim()
            .to_string()
    }

    pub fn set_sysctl(&self, name: &str, value: &str) {
        self.exec(&[
            "sh",
            "-c",
            &format!("echo {value} > /proc/sys/net/ipv4/{name}"),
        ]);
    }

    pub fn mac(&self, iface: &str) -> [u8; 6] {
        let text = self.exec(&["cat", &format!("/sys/class/net/{iface}/address")]);
        let bytes: Vec<u8> = text
            .trim()
            .split(':')
            .map(|h| u8::from_str_radix(h, 16).expect("mac byte"))
            .collect();
        bytes.try_into().expect("6-byte mac")
    }

    /// IPv4 addresses as `ip -j addr` reports them.
    pub fn addrs(&self) -> Vec<AddrInfo> {
        let json = self.ip(&["-j", "-4", "addr", "show"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("ip -j output");
        let mut out = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            let ifname = link["ifname"].as_str().unwrap_or_default().to_string();
            for a in link["addr_info"].as_array().into_iter().flatten() {
                out.push(AddrInfo {
                    ifname: ifname.clone(),
                    local: a["local"].as_str().unwrap_or_default().parse().expect("ip"),
                    prefixlen: a["prefixlen"].as_u64().unwrap_or(99) as u8,
                    broadcast: a["broadcast"].as_str().map(|b| b.parse().expect("brd")),
                    label: a["label"].as_str().map(str::to_string),
                });
            }
        }
        out
    }

    pub fn addr(&self, ip: &str) -> Option<AddrInfo> {
        let ip: Ipv4Addr = ip.parse().expect("ip");
        let mut found: Vec<AddrInfo> = self.addrs().into_iter().filter(|a| a.local == ip).collect();
        assert!(found.len() <= 1, "{ip} present more than once: {found:?}");
        found.pop()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    pub ifname: String,
    pub local: Ipv4Addr,
    pub prefixlen: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
}

/// A node namespace and a client namespace joined by veth `eth0` ↔ `eth0`
/// (192.0.2.1/24 ↔ 192.0.2.2/24).
pub struct Lan {
    // Field order = drop order: the state dir outlives nothing that needs it.
    pub node: Netns,
    pub client: Netns,
    pub state: tempfile::TempDir,
}

impl Lan {
    pub fn new() -> Self {
        let node = Netns::new();
        let client = Netns::new();
        let state = tempfile::Builder::new()
            .prefix("hba-state")
            .tempdir()
            .expect("tempdir");
        let lan = Self {
            node,
            client,
            state,
        };
        lan.link("eth0", "192.0.2.1/24", "192.0.2.2/24");
        lan
    }

    /// Another veth pair `name` ↔ `name` with the given addresses.
    pub fn link(&self, name: &str, node_addr: &str, client_addr: &str) {
        ip(&[
            "-n",
            &self.node.name,
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            name,
            "netns",
            &self.client.name,
        ]);
        self.node.ip(&["addr", "add", node_addr, "dev", name]);
        self.client.ip(&["addr", "add", client_addr, "dev", name]);
        self.node.ip(&["link", "set", name, "up"]);
        self.client.ip(&["link", "set", name, "up"]);
    }

    /// Run an agent bin on the node with `HA_RSCTMP` in the test's state dir.
    pub fn agent(&self, bin: &str, args: &[&str]) -> Run {
        self.agent_env(bin, args, &[])
    }

    pub fn agent_env(&self, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.node.name, bin])
            .args(args)
            .env("HA_RSCTMP", self.state.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(&mut cmd)
    }

    pub fn state_file(&self, name: &str) -> PathBuf {
        self.state.path().join(name)
    }
}

/// A finished agent run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Run with a generous deadline; an agent that hangs fails the test.
    pub fn of(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        // Read both pipes on threads so a chatty child cannot block.
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not finish in 60 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Self {
            code: status.code().unwrap_or(-1),
            stdout: t_out.join().unwrap_or_default(),
            stderr: t_err.join().unwrap_or_default(),
        };
        assert!(
            !run.stderr.contains("panicked"),
            "{cmd:?} panicked: {}",
            run.stderr
        );
        run
    }

    #[track_caller]
    pub fn expect(&self, code: i32, words: &str) -> &Self {
        assert_eq!(
            (self.code, self.stdout.trim_end()),
            (code, words),
            "stderr: {}",
            self.stderr
        );
        self
    }
}

/// Poll `f` until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One ARP frame seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpSeen {
    pub at: Instant,
    pub eth_dst: [u8; 6],
    pub eth_src: [u8; 6],
    pub op: ArpOperation,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

fn mac6(m: pnet_datalink::MacAddr) -> [u8; 6] {
    [m.0, m.1, m.2, m.3, m.4, m.5]
}

fn parse_arp(frame: &[u8], at: Instant) -> Option<ArpSeen> {
    let eth = EthernetPacket::new(frame)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    let arp = ArpPacket::new(eth.payload())?;
    Some(ArpSeen {
        at,
        eth_dst: mac6(eth.get_destination()),
        eth_src: mac6(eth.get_source()),
        op: arp.get_operation(),
        sender_mac: mac6(arp.get_sender_hw_addr()),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: mac6(arp.get_target_hw_addr()),
        target_ip: arp.get_target_proto_addr(),
    })
}

/// Captures ARP frames on `iface` inside a namespace (a thread that joined
/// that namespace) until dropped.
pub struct ArpCapture {
    seen: Arc<Mutex<Vec<ArpSeen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ArpCapture {
    pub fn start(ns: &Netns, iface: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let nsfile = PathBuf::from("/run/netns").join(&ns.name);
        let iface = iface.to_string();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let setup = (|| -> Result<Box<dyn pnet_datalink::DataLinkReceiver>, String> {
                let f = File::open(&nsfile).map_err(|e| format!("open {nsfile:?}: {e}"))?;
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("setns: {e}"))?;
                let index = nix::net::if_::if_nametoindex(iface.as_str())
                    .map_err(|e| format!("if_nametoindex {iface}: {e}"))?;
                let ni = pnet_datalink::NetworkInterface {
                    name: iface.clone(),
                    description: String::new(),
                    index,
                    mac: None,
                    ips: Vec::new(),
                    flags: 0,
                };
                let cfg = pnet_datalink::Config {
                    read_timeout: Some(Duration::from_millis(50)),
                    ..Default::default()
                };
                match pnet_datalink::channel(&ni, cfg) {
                    Ok(pnet_datalink::Channel::Ethernet(_tx, rx)) => Ok(rx),
                    Ok(_) => Err("not an ethernet channel".into()),
                    Err(e) => Err(format!("packet socket: {e}")),
                }
            })();
            let mut rx = match setup {
                Ok(rx) => {
                    let _ = ready_tx.send(Ok(()));
                    rx
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            while !stop2.load(Ordering::Relaxed) {
                if let Ok(frame) = rx.next() {
                    if let Some(a) = parse_arp(frame, Instant::now()) {
                        seen2.lock().expect("lock").push(a);
                    }
                }
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("capture setup: {e}"),
            Err(e) => panic!("capture setup: {e}"),
        }
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// ARPs announcing `ip` (sender = target = ip) seen so far.
    pub fn announcements(&self, ip: &str) -> Vec<ArpSeen> {
        let ip: Ipv4Addr = ip.parse().expect("ip");
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|a| a.sender_ip == ip && a.target_ip == ip)
            .cloned()
            .collect()
    }
}

impl Drop for ArpCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Is a process (not a zombie) with this pid alive?
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}
