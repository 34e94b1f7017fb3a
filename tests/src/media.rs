//! Media and link conditions beyond the default `bcast eth0` LAN: a second
//! LAN (`eth1` on every node), frame capture on a node's switch port (which,
//! unlike [`crate::udp::Capture`] on the client, also sees unicast between
//! nodes), and random loss of a peer's packets inside a node.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::cluster::Cluster;
use crate::cmd;
use crate::netns::{new_switch, plug, Host, Netns};
use crate::node::Node;
use crate::wait::wait_for;

/// The second LAN: 198.51.100.0/24 (TEST-NET-2), same last octets as on eth0.
pub const NET2: [u8; 3] = [198, 51, 100];
/// Interface name of the second LAN inside every node.
pub const IFACE2: &str = "eth1";

/// The tag of `host` inside `cluster` (`n1` for namespace `<prefix>n1`); the
/// switch ports are named `p<tag>`.
fn port_of(c: &Cluster, host: &Host) -> Result<String> {
    host.ns
        .name()
        .strip_prefix(c.prefix())
        .map(|tag| format!("p{tag}"))
        .ok_or_else(|| anyhow!("{} is not in cluster {}", host.ns.name(), c.prefix()))
}

/// A second bridge with an `eth1` into every node of a cluster. Dropping it
/// deletes the switch namespace, which takes the veth pairs (and so every
/// node's `eth1`) with it.
#[derive(Debug)]
pub struct SecondLan {
    switch: Netns,
    ports: Vec<(String, String, Ipv4Addr)>,
}

impl SecondLan {
    /// Plug every node of `c` into a new bridge as `eth1`. Call before the
    /// nodes start: heartbeat opens its media at start.
    pub fn attach_all(c: &Cluster) -> Result<Self> {
        let switch = new_switch(&format!("{}sw2", c.prefix()))?;
        let mut lan = Self {
            switch,
            ports: Vec::new(),
        };
        for n in c.nodes() {
            let port = port_of(c, n.host())?;
            let [.., last] = n.ip().octets();
            let ip = Ipv4Addr::new(NET2[0], NET2[1], NET2[2], last);
            plug(&lan.switch, &n.host().ns, IFACE2, &port)?;
            let cidr = format!("{ip}/24");
            let brd = Ipv4Addr::new(NET2[0], NET2[1], NET2[2], 255).to_string();
            let ns = &n.host().ns;
            ns.ip(&["addr", "add", &cidr, "brd", &brd, "dev", IFACE2])?;
            ns.ip(&["link", "set", IFACE2, "up"])?;
            lan.ports.push((n.name().to_owned(), port, ip));
        }
        Ok(lan)
    }

    pub fn switch(&self) -> &Netns {
        &self.switch
    }

    fn port(&self, node: &str) -> Result<&(String, String, Ipv4Addr)> {
        self.ports
            .iter()
            .find(|(n, _, _)| n == node)
            .ok_or_else(|| anyhow!("{node} is not on the second LAN"))
    }

    /// `node`'s address on eth1.
    pub fn ip_of(&self, node: &str) -> Result<Ipv4Addr> {
        self.port(node).map(|(_, _, ip)| *ip)
    }

    /// Pull `node`'s eth1 cable at the switch (the node's own interface
    /// stays configured, it just loses carrier).
    pub fn cut(&self, node: &str) -> Result<()> {
        let (_, port, _) = self.port(node)?;
        self.switch.ip(&["link", "set", port, "down"])
    }

    /// Plug it back in.
    pub fn restore(&self, node: &str) -> Result<()> {
        let (_, port, _) = self.port(node)?;
        self.switch.ip(&["link", "set", port, "up"])
    }
}

/// One UDP/IPv4 frame seen on a switch port.
#[derive(Clone, Debug)]
pub struct Frame {
    pub dst_mac: [u8; 6],
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ttl: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// Ethernet broadcast or multicast destination.
    pub fn is_group_mac(&self) -> bool {
        self.dst_mac[0] & 1 == 1
    }
}

/// `tcpdump` on one switch port, capturing what the attached host sends
/// (ingress on the port), UDP only. Stopped on drop.
#[derive(Debug)]
pub struct PortCapture {
    child: Option<Child>,
    file: PathBuf,
}

impl PortCapture {
    /// Capture `node`'s outgoing UDP on the cluster's main LAN; the pcap
    /// goes to the cluster's scratch dir.
    pub fn node(c: &Cluster, node: &str) -> Result<Self> {
        let port = port_of(c, c.node(node).host())?;
        Self::start(
            c.lan().switch(),
            &port,
            &c.dir().join(format!("{node}.pcap")),
        )
    }

    /// Capture `node`'s outgoing UDP on the second LAN.
    pub fn node_on(lan: &SecondLan, dir: &Path, node: &str) -> Result<Self> {
        let (_, port, _) = lan.port(node)?;
        Self::start(lan.switch(), port, &dir.join(format!("{node}-eth1.pcap")))
    }

    pub fn start(switch: &Netns, port: &str, file: &Path) -> Result<Self> {
        let log = file.with_extension("tcpdump.log");
        let err = fs::File::create(&log)?;
        let mut c = switch.command("tcpdump");
        c.args(["-i", port, "-Q", "in", "-n", "-U", "-s", "0", "-w"])
            .arg(file)
            .arg("udp")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        // SAFETY: prctl is async-signal-safe; tcpdump must not outlive the test.
        unsafe {
            c.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = c.spawn().context("spawn tcpdump")?;
        let mut cap = Self {
            child: Some(child),
            file: file.to_owned(),
        };
        wait_for(
            &format!("tcpdump on {port} to listen"),
            Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                if let Some(Ok(Some(st))) = cap.child.as_mut().map(|c| c.try_wait()) {
                    return Err(format!("tcpdump exited: {st}"));
                }
                let text = fs::read_to_string(&log).unwrap_or_default();
                if text.contains("listening on") {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        )?;
        Ok(cap)
    }

    /// Every complete frame written so far.
    pub fn frames(&self) -> Result<Vec<Frame>> {
        let bytes =
            fs::read(&self.file).with_context(|| format!("read {}", self.file.display()))?;
        parse_pcap(&bytes)
    }
}

impl Drop for PortCapture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Classic pcap (microsecond, either byte order), Ethernet link type. A
/// record cut short at the end (tcpdump still writing) ends the list.
pub fn parse_pcap(b: &[u8]) -> Result<Vec<Frame>> {
    let Some(magic) = b.get(..4) else {
        return Ok(Vec::new());
    };
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => bail!("not a pcap file (magic {magic:02x?})"),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    if u32_at(20) != Some(1) {
        bail!("pcap link type is not Ethernet");
    }
    let mut frames = Vec::new();
    let mut at = 24;
    while let Some(incl) = u32_at(at + 8) {
        let start = at + 16;
        let Some(rec) = b.get(start..start + incl as usize) else {
            break;
        };
        at = start + incl as usize;
        if let Some(f) = udp_frame(rec) {
            frames.push(f);
        }
    }
    Ok(frames)
}

fn udp_frame(e: &[u8]) -> Option<Frame> {
    if be16(e, 12)? != 0x0800 {
        return None;
    }
    let ip = e.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != 17 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let s: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(s))
    };
    let udp = ip.get(ihl..)?;
    let len = usize::from(be16(udp, 4)?);
    Some(Frame {
        dst_mac: e.get(..6)?.try_into().ok()?,
        src: SocketAddrV4::new(addr(12)?, be16(udp, 0)?),
        dst: SocketAddrV4::new(addr(16)?, be16(udp, 2)?),
        ttl: *ip.get(8)?,
        payload: udp.get(8..len.max(8))?.to_vec(),
    })
}

/// Drop, at random, `percent` of the heartbeat datagrams `node` receives
/// from `from` on eth0 (iptables `statistic` in the node's namespace). The
/// sender sees no error, as with loss on the wire. This kernel has no
/// `sch_netem`, and loss on OUTPUT would make `sendto` fail (EPERM) instead.
pub fn drop_from(node: &Node, from: Ipv4Addr, port: u16, percent: u8) -> Result<()> {
    let prob = format!("{:.2}", f64::from(percent) / 100.0);
    let src = from.to_string();
    let dport = port.to_string();
    cmd::check(
        node.host().ns.command("iptables").args([
            "-A",
            "INPUT",
            "-i",
            "eth0",
            "-s",
            &src,
            "-p",
            "udp",
            "--dport",
            &dport,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &prob,
            "-j",
            "DROP",
        ]),
        cmd::SHORT,
    )
    .map(drop)
}

/// Remove every loss rule of [`drop_from`] in `node`.
pub fn stop_dropping(node: &Node) -> Result<()> {
    cmd::check(
        node.host().ns.command("iptables").args(["-F", "INPUT"]),
        cmd::SHORT,
    )
    .map(drop)
}

/// How many datagrams [`drop_from`]'s rules in `node` have dropped.
pub fn dropped(node: &Node) -> Result<u64> {
    let out = cmd::check(
        node.host()
            .ns
            .command("iptables")
            .args(["-L", "INPUT", "-v", "-n", "-x"]),
        cmd::SHORT,
    )?;
    Ok(out
        .lines()
        .filter(|l| l.contains("DROP"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst_mac: [u8; 6], payload: &[u8]) -> Vec<u8> {
        let mut e = dst_mac.to_vec();
        e.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let udp_len = 8 + payload.len() as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 1, 17, 0, 0];
        ip.extend_from_slice(&[192, 0, 2, 11, 239, 0, 0, 1]);
        e.extend_from_slice(&ip);
        e.extend_from_slice(&40000u16.to_be_bytes());
        e.extend_from_slice(&694u16.to_be_bytes());
        e.extend_from_slice(&udp_len.to_be_bytes());
        e.extend_from_slice(&[0, 0]);
        e.extend_from_slice(payload);
        e
    }

    #[test]
    fn pcap_records_parse_and_a_torn_tail_is_ignored() {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        let rec = frame([1, 0, 0x5e, 0, 0, 1], b"###\n");
        for _ in 0..2 {
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            f.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            f.extend_from_slice(&rec);
        }
        f.truncate(f.len() - 3);
        let got = parse_pcap(&f).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].src.to_string(), "192.0.2.11:40000");
        assert_eq!(got[0].dst.to_string(), "239.0.0.1:694");
        assert_eq!(got[0].ttl, 1);
        assert_eq!(got[0].payload, b"###\n");
        assert!(got[0].is_group_mac());
        assert!(parse_pcap(b"nope").is_err());
        assert!(parse_pcap(&[]).unwrap().is_empty());
    }
}
