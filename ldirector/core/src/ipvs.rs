//! The IPVS table as a value, the commands that change it, and how ldirectord
//! 4.12 spells each command for ipvsadm.
//!
//! [`Table::apply`] follows ipvsadm 1.31 on a 6.1 kernel: the same refusals
//! ("Service already exists", "No such destination", …) and `-e` resetting
//! what it is not given (thresholds to 0).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use crate::config::{Forwarding, Netmask, Scheduler, VirtualAddr};

/// A virtual service is identified like ipvsadm does: protocol + address, or
/// firewall mark (+ family).
pub type ServiceKey = VirtualAddr;

/// Per-service settings (`-s`, `-p`, `-M`, `-b`, `-o`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceParams {
    pub scheduler: Scheduler,
    pub persistent: Option<u32>,
    pub netmask: Option<Netmask>,
    pub schedflags: Option<String>,
    pub ops: bool,
}

impl ServiceParams {
    /// A service with only a scheduler (`ipvsadm -A … -s <sched>`).
    pub fn new(scheduler: Scheduler) -> Self {
        ServiceParams {
            scheduler,
            persistent: None,
            netmask: None,
            schedflags: None,
            ops: false,
        }
    }
}

/// Per-destination settings (`-g|-m|-i`, `-w`, `-x`, `-y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestParams {
    pub forward: Forwarding,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
}

impl DestParams {
    /// What ldirectord's quiesce (`-e … -w 0` without `-x/-y`) leaves.
    pub fn quiesced(forward: Forwarding) -> Self {
        DestParams {
            forward,
            weight: 0,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    pub params: ServiceParams,
    pub dests: BTreeMap<SocketAddr, DestParams>,
}

/// The kernel's virtual server table (or what we believe it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// One change to the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpvsCommand {
    AddService {
        key: ServiceKey,
        params: ServiceParams,
    },
    EditService {
        key: ServiceKey,
        params: ServiceParams,
    },
    DeleteService {
        key: ServiceKey,
    },
    AddDest {
        key: ServiceKey,
        dest: SocketAddr,
        params: DestParams,
    },
    EditDest {
        key: ServiceKey,
        dest: SocketAddr,
        params: DestParams,
    },
    DelDest {
        key: ServiceKey,
        dest: SocketAddr,
    },
}

/// ipvsadm's refusals.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpvsError {
    #[error("Service already exists")]
    ServiceExists,
    #[error("No such service")]
    NoSuchService,
    #[error("Destination already exists")]
    DestExists,
    #[error("No such destination")]
    NoSuchDest,
}

impl Table {
    pub fn dest(&self, key: &ServiceKey, dest: &SocketAddr) -> Option<&DestParams> {
        self.services.get(key)?.dests.get(dest)
    }

    /// Apply one command as the kernel would.
    pub fn apply(&mut self, cmd: &IpvsCommand) -> Result<(), IpvsError> {
        match cmd {
            IpvsCommand::AddService { key, params } => {
                if self.services.contains_key(key) {
                    return Err(IpvsError::ServiceExists);
                }
                self.services.insert(
                    *key,
                    ServiceEntry {
                        params: params.clone(),
                        dests: BTreeMap::new(),
                    },
                );
            }
            IpvsCommand::EditService { key, params } => {
                let s = self.services.get_mut(key).ok_or(IpvsError::NoSuchService)?;
                s.params = params.clone();
            }
            IpvsCommand::DeleteService { key } => {
                self.services.remove(key).ok_or(IpvsError::NoSuchService)?;
            }
            IpvsCommand::AddDest { key, dest, params } => {
                let s = self.services.get_mut(key).ok_or(IpvsError::NoSuchService)?;
                if s.dests.contains_key(dest) {
                    return Err(IpvsError::DestExists);
                }
                s.dests.insert(*dest, *params);
            }
            IpvsCommand::EditDest { key, dest, params } => {
                let s = self.services.get_mut(key).ok_or(IpvsError::NoSuchService)?;
                let d = s.dests.get_mut(dest).ok_or(IpvsError::NoSuchDest)?;
                *d = *params;
            }
            IpvsCommand::DelDest { key, dest } => {
                let s = self.services.get_mut(key).ok_or(IpvsError::NoSuchService)?;
                s.dests.remove(dest).ok_or(IpvsError::NoSuchDest)?;
            }
        }
        Ok(())
    }

    /// `ipvsadm -L -n` style listing (sorted by our key order, not the
    /// kernel's hash order), for tests and debugging.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for (k, s) in &self.services {
            let proto = match k {
                VirtualAddr::Inet { protocol, .. } => protocol.name().to_ascii_uppercase(),
                VirtualAddr::Fwmark { .. } => "FWM".into(),
            };
            out.push_str(&format!("{proto}  {k} {}", s.params.scheduler.name()));
            if let Some(f) = &s.params.schedflags {
                out.push_str(&format!(" ({f})"));
            }
            if s.params.ops {
                out.push_str(" ops");
            }
            if let Some(p) = s.params.persistent {
                out.push_str(&format!(" persistent {p}"));
                if let Some(m) = &s.params.netmask {
                    out.push_str(&format!(" mask {m}"));
                }
            }
            out.push('\n');
            for (d, p) in &s.dests {
                let fwd = match p.forward {
                    Forwarding::Gate => "Route",
                    Forwarding::Masq => "Masq",
                    Forwarding::Ipip => "Tunnel",
                };
                out.push_str(&format!("  -> {d} {fwd} {}\n", p.weight));
            }
        }
        out
    }
}

fn service_args(key: &ServiceKey) -> Vec<String> {
    match key {
        VirtualAddr::Inet { protocol, addr } => vec![
            match protocol {
                crate::config::Protocol::Tcp => "-t".into(),
                crate::config::Protocol::Udp => "-u".into(),
            },
            addr.to_string(),
        ],
        VirtualAddr::Fwmark { mark, ipv6 } => {
            let mut v = vec!["-f".to_string(), mark.to_string()];
            if *ipv6 {
                v.push("-6".into());
            }
            v
        }
    }
}

fn service_flags(key: &ServiceKey, p: &ServiceParams) -> Vec<String> {
    let mut v = service_args(key);
    let udp = matches!(
        key,
        VirtualAddr::Inet {
            protocol: crate::config::Protocol::Udp,
            ..
        }
    );
    if udp && p.ops {
        v.push("-o".into());
    }
    v.push("-s".into());
    v.push(p.scheduler.name().into());
    if let Some(t) = p.persistent {
        v.push("-p".into());
        v.push(t.to_string());
        if let Some(m) = &p.netmask {
            v.push("-M".into());
            v.push(m.to_string());
        }
    }
    if let Some(f) = &p.schedflags {
        v.push("-b".into());
        v.push(f.clone());
    }
    v
}

impl IpvsCommand {
    pub fn key(&self) -> &ServiceKey {
        match self {
            IpvsCommand::AddService { key, .. }
            | IpvsCommand::EditService { key, .. }
            | IpvsCommand::DeleteService { key }
            | IpvsCommand::AddDest { key, .. }
            | IpvsCommand::EditDest { key, .. }
            | IpvsCommand::DelDest { key, .. } => key,
        }
    }

    /// The ipvsadm arguments ldirectord 4.12 would pass for this change.
    /// Destinations at weight 0 without thresholds use ldirectord's quiesce
    /// shape (`-e <svc> -r <rip> <fwd> -w 0`).
    pub fn ipvsadm_args(&self) -> Vec<String> {
        let dest_args = |op: &str, key: &ServiceKey, dest: &SocketAddr, p: &DestParams| {
            let mut v = vec![op.to_string()];
            v.extend(service_args(key));
            let quiesce_shape = p.weight == 0 && p.upper_threshold == 0 && p.lower_threshold == 0;
            if !quiesce_shape {
                v.extend([
                    "-x".to_string(),
                    p.upper_threshold.to_string(),
                    "-y".to_string(),
                    p.lower_threshold.to_string(),
                ]);
            }
            v.extend([
                "-r".to_string(),
                dest.to_string(),
                p.forward.flag().to_string(),
                "-w".to_string(),
                p.weight.to_string(),
            ]);
            v
        };
        match self {
            IpvsCommand::AddService { key, params } => {
                let mut v = vec!["-A".to_string()];
                v.extend(service_flags(key, params));
                v
            }
            IpvsCommand::EditService { key, params } => {
                let mut v = vec!["-E".to_string()];
                v.extend(service_flags(key, params));
                v
            }
            IpvsCommand::DeleteService { key } => {
                let mut v = vec!["-D".to_string()];
                v.extend(service_args(key));
                v
            }
            IpvsCommand::AddDest { key, dest, params } => dest_args("-a", key, dest, params),
            IpvsCommand::EditDest { key, dest, params } => dest_args("-e", key, dest, params),
            IpvsCommand::DelDest { key, dest } => {
                let mut v = vec!["-d".to_string()];
                v.extend(service_args(key));
                v.extend(["-r".to_string(), dest.to_string()]);
                v
            }
        }
    }
}

impl fmt::Display for IpvsCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ipvsadm_args().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    fn tcp(s: &str) -> ServiceKey {
        VirtualAddr::Inet {
            protocol: Protocol::Tcp,
            addr: s.parse().unwrap(),
        }
    }

    #[test]
    fn command_shapes_match_ldirectord_f8() {
        let fwm = VirtualAddr::Fwmark {
            mark: 7,
            ipv6: false,
        };
        let c = IpvsCommand::AddService {
            key: fwm,
            params: ServiceParams {
                scheduler: Scheduler::Sh,
                persistent: Some(600),
                netmask: Some(Netmask::V4("255.255.255.0".parse().unwrap())),
                schedflags: Some("sh-port".into()),
                ops: false,
            },
        };
        assert_eq!(
            c.to_string(),
            "-A -f 7 -s sh -p 600 -M 255.255.255.0 -b sh-port"
        );
        let udp = VirtualAddr::Inet {
            protocol: Protocol::Udp,
            addr: "127.0.0.100:53".parse().unwrap(),
        };
        let c = IpvsCommand::AddService {
            key: udp,
            params: ServiceParams {
                ops: true,
                ..ServiceParams::new(Scheduler::Wrr)
            },
        };
        assert_eq!(c.to_string(), "-A -u 127.0.0.100:53 -o -s wrr");
        let c = IpvsCommand::AddDest {
            key: udp,
            dest: "127.0.2.2:5353".parse().unwrap(),
            params: DestParams {
                forward: Forwarding::Masq,
                weight: 2,
                upper_threshold: 100,
                lower_threshold: 10,
            },
        };
        assert_eq!(
            c.to_string(),
            "-a -u 127.0.0.100:53 -x 100 -y 10 -r 127.0.2.2:5353 -m -w 2"
        );
        let v6 = tcp("[2001:db8::100]:80");
        let c = IpvsCommand::AddService {
            key: v6,
            params: ServiceParams {
                persistent: Some(60),
                netmask: Some(Netmask::V6Prefix(64)),
                ..ServiceParams::new(Scheduler::Wrr)
            },
        };
        assert_eq!(c.to_string(), "-A -t [2001:db8::100]:80 -s wrr -p 60 -M 64");
        let c = IpvsCommand::EditDest {
            key: tcp("127.0.0.100:80"),
            dest: "127.0.0.2:8080".parse().unwrap(),
            params: DestParams::quiesced(Forwarding::Masq),
        };
        assert_eq!(
            c.to_string(),
            "-e -t 127.0.0.100:80 -r 127.0.0.2:8080 -m -w 0"
        );
        let c = IpvsCommand::DelDest {
            key: VirtualAddr::Fwmark {
                mark: 7,
                ipv6: true,
            },
            dest: "[2001:db8::2]:0".parse().unwrap(),
        };
        assert_eq!(c.to_string(), "-d -f 7 -6 -r [2001:db8::2]:0");
        assert_eq!(
            IpvsCommand::DeleteService {
                key: tcp("127.0.0.101:80")
            }
            .to_string(),
            "-D -t 127.0.0.101:80"
        );
    }

    #[test]
    fn apply_refuses_like_ipvsadm() {
        let mut t = Table::default();
        let k = tcp("10.0.0.1:80");
        let d: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let p = DestParams::quiesced(Forwarding::Gate);
        assert_eq!(
            t.apply(&IpvsCommand::AddDest {
                key: k,
                dest: d,
                params: p
            }),
            Err(IpvsError::NoSuchService)
        );
        t.apply(&IpvsCommand::AddService {
            key: k,
            params: ServiceParams::new(Scheduler::Rr),
        })
        .unwrap();
        assert_eq!(
            t.apply(&IpvsCommand::AddService {
                key: k,
                params: ServiceParams::new(Scheduler::Rr)
            }),
            Err(IpvsError::ServiceExists)
        );
        assert_eq!(
            t.apply(&IpvsCommand::DelDest { key: k, dest: d }),
            Err(IpvsError::NoSuchDest)
        );
        t.apply(&IpvsCommand::AddDest {
            key: k,
            dest: d,
            params: p,
        })
        .unwrap();
        assert_eq!(
            t.apply(&IpvsCommand::AddDest {
                key: k,
                dest: d,
                params: p
            }),
            Err(IpvsError::DestExists)
        );
        assert_eq!(
            t.listing(),
            "TCP  10.0.0.1:80 rr\n  -> 10.0.0.2:80 Route 0\n"
        );
        t.apply(&IpvsCommand::DeleteService { key: k }).unwrap();
        assert_eq!(t, Table::default());
    }
}
