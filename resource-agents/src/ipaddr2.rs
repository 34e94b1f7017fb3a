//! `IPaddr2 ip[/bits[/nic[:label][/bcast]]] start|stop|status|monitor`, as
//! heartbeat's `IPaddr2` wrapper runs resource-agents' IPaddr2 (`ip addr add`
//! semantics, `lvs_support=1`).
//!
//! * The address is served when `ip/prefix` is on the NIC findif picks (the
//!   configured one, or the one whose connected route holds the IP).
//! * A label is only set when the NIC is given as `nic:label`.
//! * Start brings the link up and announces the address with a background burst
//!   of 5 gratuitous ARP pairs 200 ms apart (resource-agents' IPaddr2 defaults;
//!   `OCF_RESKEY_arp_count`/`arp_interval`/`arp_bg` change them).
//! * LVS support: a director that is also a real server has the VIP as /32 on
//!   `lo`; start moves it off `lo` (saving it in `$HA_RSCTMP/<ip>`), stop puts
//!   it back.

use std::fs;
use std::net::Ipv4Addr;

use crate::arp::{self, BurstEnv};
use crate::cli::Agent;
use crate::findif::{findif, NicInfo, Tables};
use crate::ipspec::{validate_ifname, IpSpec};
use crate::netlink::{Netlink, NewAddr4};
use crate::ocf::{RaError, State};
use crate::state::StateDir;

pub const BURST: BurstEnv = BurstEnv {
    count_var: "OCF_RESKEY_arp_count",
    count_default: 5,
    interval_var: "OCF_RESKEY_arp_interval",
    interval_default_ms: 200,
    background_var: "OCF_RESKEY_arp_bg",
    allow_zero: true,
};

#[derive(Debug)]
pub struct IpAddr2 {
    pub spec: IpSpec,
    /// `nic:label` when a label was given.
    pub label: Option<String>,
    pub state: StateDir,
}

/// A loopback address moved away for LVS, as saved in `$HA_RSCTMP/<ip>`
/// (`ip prefix broadcast ifname [label]`, the real agent's first four fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedLoopback {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub ifname: String,
    pub label: Option<String>,
}

impl SavedLoopback {
    pub fn to_line(&self) -> String {
        let brd = self
            .broadcast
            .map_or_else(|| "none".to_string(), |b| b.to_string());
        let mut line = format!("{} {} {brd} {}", self.ip, self.prefix, self.ifname);
        if let Some(l) = &self.label {
            line.push(' ');
            line.push_str(l);
        }
        line
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut f = line.split_whitespace();
        let ip = f.next()?.parse().ok()?;
        let prefix = match f.next()? {
            "255.255.255.255" => 32,
            p => p.parse().ok().filter(|p| (1..=32).contains(p))?,
        };
        let broadcast = match f.next()? {
            "none" => None,
            b => Some(b.parse().ok()?),
        };
        let ifname = f.next()?.to_string();
        validate_ifname(&ifname).ok()?;
        let label = f.next().map(str::to_string);
        Some(Self {
            ip,
            prefix,
            broadcast,
            ifname,
            label,
        })
    }
}

impl IpAddr2 {
    fn resolve(&self, t: &Tables) -> Result<NicInfo, RaError> {
        Ok(findif(
            t,
            self.spec.ip,
            self.spec.nic.as_deref(),
            self.spec.prefix,
            self.spec.broadcast,
        )?)
    }

    /// The prefix on the NIC that serves the address, if any. Without a
    /// configured prefix any prefix counts: the route findif derives it from
    /// can change (another address adds a longer one), and a stop must still
    /// find the address it added.
    fn served(&self, t: &Tables, info: &NicInfo) -> Option<u8> {
        t.addrs_with_ip(self.spec.ip)
            .filter(|a| a.ifindex == info.ifindex)
            .find(|a| self.spec.prefix.is_none() || a.prefix == info.prefix)
            .map(|a| a.prefix)
    }

    fn saved_loopback_file(&self) -> Result<std::path::PathBuf, RaError> {
        self.state.file(&self.spec.ip.to_string())
    }

    /// LVS: take the VIP off `lo*` (where an LVS real-server setup put it).
    fn remove_conflicting_loopback(&self, nl: &mut Netlink, t: &Tables) -> Result<(), RaError> {
        let on_lo = t.addrs_with_ip(self.spec.ip).find(|a| {
            a.prefix == 32
                && t.link_by_index(a.ifindex)
                    .is_some_and(|l| l.name.starts_with("lo"))
        });
        let Some(a) = on_lo else {
            return Ok(());
        };
        let Some(link) = t.link_by_index(a.ifindex) else {
            return Ok(());
        };
        tracing::info!(ip = %a.local, iface = %link.name, "Removing conflicting loopback");
        let saved = SavedLoopback {
            ip: a.local,
            prefix: a.prefix,
            broadcast: a.broadcast,
            ifname: link.name.clone(),
            label: (a.label != link.name).then(|| a.label.clone()),
        };
        let file = self.saved_loopback_file()?;
        if let Err(e) = fs::write(&file, format!("{}\n", saved.to_line())) {
            tracing::error!(file = %file.display(), error = %e, "Could not save conflicting loopback; it will not be restored");
        }
        match nl.del_address(a.ifindex, a.local, a.prefix) {
            Ok(()) => Ok(()),
            Err(e) if e.is_gone() => Ok(()),
            Err(e) => Err(RaError::generic(format!(
                "Could not remove {} from {}: {e}",
                a.local, link.name
            ))),
        }
    }

    fn restore_loopback(&self, nl: &mut Netlink) -> Result<(), RaError> {
        let file = self.saved_loopback_file()?;
        let Ok(text) = fs::read_to_string(&file) else {
            return Ok(());
        };
        match SavedLoopback::parse(&text) {
            Some(saved) => {
                tracing::info!(line = %saved.to_line(), "Restoring loopback IP Address");
                let t = nl.tables()?;
                match t.link_by_name(&saved.ifname) {
                    Some(link) => {
                        let add = nl.add_address(&NewAddr4 {
                            ifindex: link.index,
                            ip: saved.ip,
                            prefix: saved.prefix,
                            broadcast: saved.broadcast,
                            label: saved.label.clone(),
                        });
                        match add {
                            Ok(()) => {}
                            Err(e) if e.is_exists() => {}
                            Err(e) => {
                                tracing::error!(error = %e, "Could not restore loopback address")
                            }
                        }
                    }
                    None => {
                        tracing::error!(iface = %saved.ifname, "Could not restore loopback address: no such interface")
                    }
                }
            }
            None => {
                tracing::error!(file = %file.display(), "unreadable saved loopback address; not restored")
            }
        }
        fs::remove_file(&file)
            .map_err(|e| RaError::from_io(format!("remove {}", file.display()), &e))
    }
}

impl Agent for IpAddr2 {
    const NAME: &'static str = "IPaddr2";
    const ARGS: &'static str = "ip-address[/netmaskbits[/interface[:label][/broadcast]]]";

    fn from_args(args: &[String]) -> Result<Self, RaError> {
        let [arg] = args else {
            return Err(RaError::args(format!(
                "expected exactly one IP argument, got {}",
                args.len()
            )));
        };
        let spec = IpSpec::parse(arg)?;
        let label = match (&spec.nic, &spec.label) {
            (Some(nic), Some(l)) => {
                let full = format!("{nic}:{l}");
                if full.len() > 15 {
                    return Err(RaError::not_configured(format!(
                        "Interface label [{full}] exceeds maximum character limit of 15"
                    )));
                }
                Some(full)
            }
            _ => None,
        };
        Ok(Self {
            spec,
            label,
            state: StateDir::from_env(),
        })
    }

    fn status(&self) -> Result<State, RaError> {
        let t = Netlink::open()?.tables()?;
        match self.resolve(&t) {
            Ok(info) if self.served(&t, &info).is_some() => Ok(State::Running),
            Ok(_) => Ok(State::Stopped),
            Err(e) => {
                tracing::info!(error = %e, "[findif] failed");
                Ok(State::Stopped)
            }
        }
    }

    fn start(&self) -> Result<(), RaError> {
        let (burst, background) = BURST.read()?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        let info = self.resolve(&t)?;
        if self.served(&t, &info).is_some() {
            tracing::info!(ip = %self.spec.ip, nic = %info.nic, "already running");
            return Ok(());
        }
        self.remove_conflicting_loopback(&mut nl, &t)?;
        tracing::info!(
            "Adding inet address {}/{}{} to device {}{}",
            self.spec.ip,
            info.prefix,
            info.broadcast
                .map_or_else(String::new, |b| format!(" with broadcast address {b}")),
            info.nic,
            self.label
                .as_ref()
                .map_or_else(String::new, |l| format!(" (with label {l})"))
        );
        nl.add_address(&NewAddr4 {
            ifindex: info.ifindex,
            ip: self.spec.ip,
            prefix: info.prefix,
            broadcast: info.broadcast,
            label: self.label.clone(),
        })
        .map_err(|e| RaError::generic(format!("Failed to add {}: {e}", self.spec.ip)))?;
        tracing::info!("Bringing device {} up", info.nic);
        nl.set_link_up(info.ifindex)?;
        let link = t.link_by_index(info.ifindex);
        let loopback = info.nic.starts_with("lo");
        if !loopback && link.is_some_and(|l| l.mac.is_some()) {
            arp::announce(&self.state, &info.nic, self.spec.ip, burst, background)?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), RaError> {
        arp::stop(&self.state, self.spec.ip)?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        let info = match self.resolve(&t) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "[findif] failed");
                return Ok(());
            }
        };
        let Some(prefix) = self.served(&t, &info) else {
            return Ok(());
        };
        tracing::info!(
            "ip -f inet addr delete {}/{prefix} dev {}",
            self.spec.ip,
            info.nic
        );
        match nl.del_address(info.ifindex, self.spec.ip, prefix) {
            Ok(()) => {}
            Err(e) if e.is_gone() => {}
            Err(e) => {
                return Err(RaError::generic(format!(
                    "Unable to remove IP [{}] from interface [{}]: {e}",
                    self.spec.ip, info.nic
                )))
            }
        }
        self.restore_loopback(&mut nl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_loopback_lines() {
        let s = SavedLoopback {
            ip: "192.0.2.80".parse().unwrap(),
            prefix: 32,
            broadcast: Some("192.0.2.80".parse().unwrap()),
            ifname: "lo".into(),
            label: Some("lo:0".into()),
        };
        assert_eq!(s.to_line(), "192.0.2.80 32 192.0.2.80 lo lo:0");
        assert_eq!(SavedLoopback::parse(&s.to_line()), Some(s));
        // The real agent's four-field form.
        let real = SavedLoopback::parse("192.0.2.80 32 255.255.255.255 lo\n").unwrap();
        assert_eq!((real.prefix, real.label), (32, None));
        assert_eq!(SavedLoopback::parse("192.0.2.80 32"), None);
        assert_eq!(SavedLoopback::parse("x 32 none lo"), None);
        assert_eq!(SavedLoopback::parse("192.0.2.80 40 none lo"), None);
    }

    #[test]
    fn label_length_is_checked() {
        let e = IpAddr2::from_args(&["192.0.2.1/24/eth0:averylonglabel".into()]).unwrap_err();
        assert_eq!(e.rc, crate::ocf::Rc::NotConfigured);
        let ok = IpAddr2::from_args(&["192.0.2.1/24/eth0:vip".into()]).unwrap();
        assert_eq!(ok.label.as_deref(), Some("eth0:vip"));
        let e = IpAddr2::from_args(&[]).unwrap_err();
        assert_eq!(e.rc, crate::ocf::Rc::Args);
    }
}
