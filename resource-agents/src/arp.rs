//! Gratuitous ARP, as resource-agents' `send_arp` sends it.
//!
//! Measured from the real `send_arp -i 500 -r 10`: each repeat is a *pair* of
//! broadcast frames, an ARP request `who-has VIP tell VIP` (target MAC zero)
//! and then an ARP reply `VIP is-at MAC` (target MAC = own MAC), the next
//! frame following half an interval later; the first goes out at once. Some
//! hosts only learn from one of the two kinds.
//!
//! `start` must return at once, so the burst runs in a detached child: the
//! agent re-executes itself with [`INTERNAL_FLAG`], stdio on /dev/null and in
//! its own process group, and records the child in
//! `$HA_RSCTMP/send_arp-<ip>` so `stop` can end a burst still running.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pnet_datalink::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, MutableEthernetPacket};

use crate::netlink::Netlink;
use crate::ocf::RaError;
use crate::state::StateDir;

/// `argv[1]` of the detached burst child.
pub const INTERNAL_FLAG: &str = "__send_arp";

/// Ethernet header (14) + ARP for IPv4 over Ethernet (28).
pub const FRAME_LEN: usize = 42;

/// How many request/reply pairs, how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    pub pairs: u32,
    pub interval: Duration,
}

impl Burst {
    /// When frame `k` (0-based) goes out, relative to the first.
    pub fn offset(&self, k: u32) -> Duration {
        (self.interval / 2).saturating_mul(k)
    }
    pub fn frames(&self) -> u32 {
        self.pairs.saturating_mul(2)
    }
}

fn mac_addr(m: [u8; 6]) -> MacAddr {
    let [a, b, c, d, e, f] = m;
    MacAddr(a, b, c, d, e, f)
}

/// One gratuitous ARP frame.
pub fn frame(op: ArpOperation, mac: [u8; 6], ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut buf = [0u8; FRAME_LEN];
    let own = mac_addr(mac);
    let target = if op == ArpOperations::Reply {
        own
    } else {
        MacAddr::zero()
    };
    if let Some(mut eth) = MutableEthernetPacket::new(&mut buf) {
        eth.set_destination(MacAddr::broadcast());
        eth.set_source(own);
        eth.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut arp) = buf.get_mut(14..).and_then(MutableArpPacket::new) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(op);
        arp.set_sender_hw_addr(own);
        arp.set_sender_proto_addr(ip);
        arp.set_target_hw_addr(target);
        arp.set_target_proto_addr(ip);
    }
    buf
}

#[derive(Debug, thiserror::Error)]
pub enum ArpError {
    #[error("interface {0} not found")]
    NoInterface(String),
    #[error("interface {0} has no Ethernet address")]
    NoMac(String),
    #[error("cannot open packet socket on {iface}: {source}")]
    Socket {
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sending ARP on {iface}: {source}")]
    Send {
        iface: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
}

/// Send the whole burst on `ifname` (blocks for its duration).
pub fn send_burst(ifname: &str, ip: Ipv4Addr, burst: Burst) -> Result<(), ArpError> {
    let link = Netlink::open()?
        .links()?
        .into_iter()
        .find(|l| l.name == ifname)
        .ok_or_else(|| ArpError::NoInterface(ifname.to_string()))?;
    let mac = link
        .mac
        .ok_or_else(|| ArpError::NoMac(ifname.to_string()))?;
    let iface = pnet_datalink::NetworkInterface {
        name: link.name.clone(),
        description: String::new(),
        index: link.index,
        mac: Some(mac_addr(mac)),
        ips: Vec::new(),
        flags: 0,
    };
    let socket_err = |source| ArpError::Socket {
        iface: ifname.to_string(),
        source,
    };
    let mut tx = match pnet_datalink::channel(&iface, pnet_datalink::Config::default()) {
        Ok(pnet_datalink::Channel::Ethernet(tx, _rx)) => tx,
        Ok(_) => return Err(socket_err(std::io::Error::other("not an Ethernet channel"))),
        Err(e) => return Err(socket_err(e)),
    };
    let request = frame(ArpOperations::Request, mac, ip);
    let reply = frame(ArpOperations::Reply, mac, ip);
    let t0 = Instant::now();
    for k in 0..burst.frames() {
        let due = t0 + burst.offset(k);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let f = if k % 2 == 0 { &request } else { &reply };
        match tx.send_to(f, None) {
            Some(Ok(())) => {}
            Some(Err(source)) => {
                return Err(ArpError::Send {
                    iface: ifname.to_string(),
                    source,
                })
            }
            None => {
                return Err(ArpError::Send {
                    iface: ifname.to_string(),
                    source: std::io::Error::other("no room in send buffer"),
                })
            }
        }
    }
    Ok(())
}

/// ARP settings from the OCF environment the real agents read, e.g.
/// `OCF_RESKEY_ARP_REPEAT`/`OCF_RESKEY_ARP_INTERVAL_MS` for IPaddr.
pub struct BurstEnv {
    pub count_var: &'static str,
    pub count_default: u32,
    pub interval_var: &'static str,
    pub interval_default_ms: u64,
    pub background_var: &'static str,
    /// IPaddr2 accepts 0 (no ARPs); IPaddr demands a positive count.
    pub allow_zero: bool,
}

impl BurstEnv {
    /// The burst and whether to run it in the background.
    pub fn read(&self) -> Result<(Burst, bool), RaError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let count = match var(self.count_var) {
            None => self.count_default,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n > 0 || self.allow_zero => n,
                _ => return Err(invalid(self.count_var, &v)),
            },
        };
        let interval = match var(self.interval_var) {
            None => self.interval_default_ms,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid(self.interval_var, &v)),
            },
        };
        let background = match var(self.background_var) {
            None => true,
            Some(v) => matches!(
                v.to_ascii_lowercase().as_str(),
                "yes" | "true" | "1" | "on" | "y"
            ),
        };
        Ok((
            Burst {
                pairs: count,
                interval: Duration::from_millis(interval),
            },
            background,
        ))
    }
}

fn invalid(var: &str, value: &str) -> RaError {
    let name = var.strip_prefix("OCF_RESKEY_").unwrap_or(var);
    RaError::args(format!("Invalid parameter value: {name} [{value}]"))
}

/// Announce `ip` on `ifname`: in the background (returns at once) or inline.
pub fn announce(
    state: &StateDir,
    ifname: &str,
    ip: Ipv4Addr,
    burst: Burst,
    background: bool,
) -> Result<(), RaError> {
    if burst.pairs == 0 {
        return Ok(());
    }
    if background {
        return spawn(state, ifname, ip, burst);
    }
    // The address is up either way; a failed announcement is only logged, as
    // the real agents do.
    if let Err(e) = send_burst(ifname, ip, burst) {
        tracing::error!(error = %e, "Could not send gratuitous arps");
    }
    Ok(())
}

fn pidfile_name(ip: Ipv4Addr) -> String {
    format!("send_arp-{ip}")
}

/// Start the burst in a detached child and record it; returns at once.
pub fn spawn(state: &StateDir, ifname: &str, ip: Ipv4Addr, burst: Burst) -> Result<(), RaError> {
    let exe =
        std::env::current_exe().map_err(|e| RaError::from_io("cannot find own executable", &e))?;
    let pidfile = state.file(&pidfile_name(ip))?;
    // A burst still running from an earlier start would interleave with ours.
    stop(state, ip)?;
    let child = Command::new(exe)
        .arg(INTERNAL_FLAG)
        .arg(ifname)
        .arg(ip.to_string())
        .arg(burst.pairs.to_string())
        .arg(burst.interval.as_millis().to_string())
        .arg(&pidfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| RaError::from_io("cannot start the gratuitous ARP sender", &e))?;
    fs::write(&pidfile, format!("{}\n", child.id()))
        .map_err(|e| RaError::from_io(format!("write {}", pidfile.display()), &e))?;
    tracing::info!(iface = ifname, %ip, pairs = burst.pairs, interval_ms = burst.interval.as_millis() as u64, pid = child.id(), "Sending gratuitous ARPs in the background");
    Ok(())
}

/// End a burst for `ip` if one is running (its pidfile names a live sender
/// for that IP); removes the pidfile either way.
pub fn stop(state: &StateDir, ip: Ipv4Addr) -> Result<(), RaError> {
    let pidfile = state.path().join(pidfile_name(ip));
    let Ok(text) = fs::read_to_string(&pidfile) else {
        return Ok(());
    };
    if let Ok(pid) = text.trim().parse::<i32>() {
        if is_our_sender(pid, ip) {
            match kill(Pid::from_raw(pid), Signal::SIGTERM) {
                Ok(()) => tracing::info!(%ip, pid, "killed previously running send_arp"),
                Err(e) => {
                    tracing::warn!(%ip, pid, error = %e, "Could not kill previously running send_arp")
                }
            }
        }
    }
    match fs::remove_file(&pidfile) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RaError::from_io(
            format!("remove {}", pidfile.display()),
            &e,
        )),
    }
}

/// Guards against a reused pid: the process must be our burst child for `ip`.
fn is_our_sender(pid: i32, ip: Ipv4Addr) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ip = ip.to_string();
    args.get(1) == Some(&INTERNAL_FLAG.as_bytes()) && args.get(3) == Some(&ip.as_bytes())
}

/// Entry point of the burst child: `__send_arp IFACE IP PAIRS INTERVAL_MS PIDFILE`.
pub fn run_internal(args: &[String]) -> u8 {
    let parsed = (|| {
        let iface = args.first()?;
        let ip: Ipv4Addr = args.get(1)?.parse().ok()?;
        let pairs: u32 = args.get(2)?.parse().ok()?;
        let ms: u64 = args.get(3)?.parse().ok()?;
        let pidfile = args.get(4)?;
        Some((iface, ip, pairs, Duration::from_millis(ms), pidfile))
    })();
    let Some((iface, ip, pairs, interval, pidfile)) = parsed else {
        eprintln!("{INTERNAL_FLAG}: usage: {INTERNAL_FLAG} IFACE IP PAIRS INTERVAL_MS PIDFILE");
        return 2;
    };
    let rc = match send_burst(iface, ip, Burst { pairs, interval }) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "Could not send gratuitous arps");
            1
        }
    };
    // Only remove the record if it is still ours (a later start may own it).
    let own = std::process::id().to_string();
    if fs::read_to_string(pidfile).is_ok_and(|t| t.trim() == own) {
        let _ = fs::remove_file(pidfile);
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::arp::ArpPacket;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::Packet;

    const MAC: [u8; 6] = [0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08];

    #[test]
    fn request_matches_the_real_send_arp_bytes() {
        // tcpdump -xx of `send_arp -i 500 -r 3 v0 192.0.2.52 auto …` (request).
        let want: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08,
            0xc0, 0x00, 0x02, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x02, 0x34,
        ];
        assert_eq!(
            frame(ArpOperations::Request, MAC, "192.0.2.52".parse().unwrap()),
            want
        );
    }

    #[test]
    fn reply_matches_the_real_send_arp_bytes() {
        let want: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08,
            0xc0, 0x00, 0x02, 0x34, 0x9e, 0x80, 0x2e, 0xb5, 0xb2, 0x08, 0xc0, 0x00, 0x02, 0x34,
        ];
        let got = frame(ArpOperations::Reply, MAC, "192.0.2.52".parse().unwrap());
        assert_eq!(got, want);
        let eth = EthernetPacket::new(&got).unwrap();
        let arp = ArpPacket::new(eth.payload()).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Reply);
    }

    #[test]
    fn schedule_is_half_an_interval_per_frame() {
        let b = Burst {
            pairs: 10,
            interval: Duration::from_millis(500),
        };
        assert_eq!(b.frames(), 20);
        assert_eq!(b.offset(0), Duration::ZERO);
        assert_eq!(b.offset(1), Duration::from_millis(250));
        assert_eq!(b.offset(19), Duration::from_millis(4750));
    }

    #[test]
    fn internal_entry_rejects_bad_arguments() {
        assert_eq!(run_internal(&["eth0".into(), "not-an-ip".into()]), 2);
        assert_eq!(run_internal(&[]), 2);
    }

    #[test]
    fn only_our_own_sender_is_killed() {
        // pid 1 is never a send_arp child.
        assert!(!is_our_sender(1, "192.0.2.1".parse().unwrap()));
        assert!(!is_our_sender(0, "192.0.2.1".parse().unwrap()));
        assert!(!is_our_sender(-5, "192.0.2.1".parse().unwrap()));
    }
}
