//! `LVSRealServer VIP [iface…] start|stop|status|monitor`: the real-server
//! side of LVS-DR (direct routing), as the usual `realserver.sh` scripts do it.
//!
//! The director forwards frames addressed to the VIP to a real server's MAC,
//! so the real server must accept the VIP (it goes on `lo` as /32, label
//! `lo:N`) without ever answering or announcing ARP for it: `arp_ignore=1`
//! (answer only for addresses on the receiving interface) and
//! `arp_announce=2` (use the best local address as ARP source) on `all`, `lo`
//! and every named interface — `all` alone is not enough if an interface's own
//! value is higher.
//!
//! The values found before the first start are kept in
//! `$HA_RSCTMP/LVSRealServer.sysctl`, and each running VIP has a marker
//! `$HA_RSCTMP/LVSRealServer-<vip>`; the last VIP to stop restores them.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::alias;
use crate::cli::Agent;
use crate::findif::Tables;
use crate::ipspec::{parse_ipv4, validate_ifname};
use crate::netlink::{Netlink, NewAddr4};
use crate::ocf::{RaError, State};
use crate::state::StateDir;
use crate::sysctl::ConfKey;

/// The sysctls set on start and their values.
pub const SETTINGS: [(&str, &str); 2] = [("arp_ignore", "1"), ("arp_announce", "2")];

const SAVED: &str = "LVSRealServer.sysctl";
const MARKER_PREFIX: &str = "LVSRealServer-";

#[derive(Debug)]
pub struct LvsRealServer {
    pub vip: Ipv4Addr,
    pub ifaces: Vec<String>,
    pub state: StateDir,
}

/// Parse saved `conf/<if>/<key> <value>` lines (bad lines are skipped).
pub fn parse_saved(text: &str) -> BTreeMap<ConfKey, String> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            let value = value.trim();
            if value.is_empty() {
                return None;
            }
            Some((ConfKey::parse_name(name)?, value.to_string()))
        })
        .collect()
}

pub fn format_saved(saved: &BTreeMap<ConfKey, String>) -> String {
    saved
        .iter()
        .map(|(k, v)| format!("{} {v}\n", k.name()))
        .collect()
}

impl LvsRealServer {
    /// `all`, `lo` and the named interfaces, each with both settings.
    pub fn keys(&self) -> Vec<(ConfKey, &'static str)> {
        let mut ifaces = vec!["all", "lo"];
        for i in &self.ifaces {
            if !ifaces.contains(&i.as_str()) {
                ifaces.push(i);
            }
        }
        ifaces
            .into_iter()
            .flat_map(|i| SETTINGS.map(|(k, v)| (ConfKey::new(i, k), v)))
            .collect()
    }

    fn saved_path(&self) -> Result<PathBuf, RaError> {
        self.state.file(SAVED)
    }

    fn marker_path(&self) -> Result<PathBuf, RaError> {
        self.state.file(&format!("{MARKER_PREFIX}{}", self.vip))
    }

    fn other_markers(&self) -> Result<bool, RaError> {
        let own = format!("{MARKER_PREFIX}{}", self.vip);
        let dir = self.state.path();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RaError::from_io(format!("read {}", dir.display()), &e)),
        };
        Ok(entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(MARKER_PREFIX) && name != own
        }))
    }

    fn on_lo<'a>(&self, t: &'a Tables) -> Option<&'a crate::netlink::Addr4> {
        t.addrs_with_ip(self.vip)
            .find(|a| t.link_by_index(a.ifindex).is_some_and(|l| l.name == "lo"))
    }

    fn save_and_set_sysctls(&self) -> Result<(), RaError> {
        let path = self.saved_path()?;
        let mut saved = fs::read_to_string(&path)
            .map(|t| parse_saved(&t))
            .unwrap_or_default();
        let keys = self.keys();
        let mut changed = false;
        for (k, _) in &keys {
            if !saved.contains_key(k) {
                saved.insert(k.clone(), k.read()?);
                changed = true;
            }
        }
        if changed {
            // Write-then-rename: a crash must not leave half the originals.
            let tmp = path.with_extension("sysctl.tmp");
            fs::write(&tmp, format_saved(&saved))
                .and_then(|()| fs::rename(&tmp, &path))
                .map_err(|e| RaError::from_io(format!("save {}", path.display()), &e))?;
        }
        for (k, v) in &keys {
            tracing::info!("sysctl net.ipv4.{}={v}", k.name().replace('/', "."));
            k.write(v)?;
        }
        Ok(())
    }

    fn restore_sysctls(&self) -> Result<(), RaError> {
        let path = self.saved_path()?;
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(RaError::from_io(format!("read {}", path.display()), &e)),
        };
        for (k, v) in parse_saved(&text) {
            if !k.exists() {
                tracing::warn!(sysctl = %k.name(), "interface gone; not restored");
                continue;
            }
            tracing::info!(
                "restoring sysctl net.ipv4.{}={v}",
                k.name().replace('/', ".")
            );
            k.write(&v)?;
        }
        fs::remove_file(&path)
            .map_err(|e| RaError::from_io(format!("remove {}", path.display()), &e))
    }
}

impl Agent for LvsRealServer {
    const NAME: &'static str = "LVSRealServer";
    const ARGS: &'static str = "<VIP> [interface...]";

    fn from_args(args: &[String]) -> Result<Self, RaError> {
        let Some((vip, ifaces)) = args.split_first() else {
            return Err(RaError::args("expected the VIP and optional interfaces"));
        };
        let vip = parse_ipv4(vip)?;
        for i in ifaces {
            validate_ifname(i)?;
        }
        Ok(Self {
            vip,
            ifaces: ifaces.to_vec(),
            state: StateDir::from_env(),
        })
    }

    fn status(&self) -> Result<State, RaError> {
        let t = Netlink::open()?.tables()?;
        Ok(if self.on_lo(&t).is_some() {
            State::Running
        } else {
            State::Stopped
        })
    }

    fn start(&self) -> Result<(), RaError> {
        for i in &self.ifaces {
            if !ConfKey::new(i, "arp_ignore").exists() {
                return Err(RaError::not_configured(format!(
                    "Invalid interface name [{i}]: no such device"
                )));
            }
        }
        let _lock = self.state.lock("LVSRealServer")?;
        // ARP first: once the VIP is on lo the host must already keep quiet.
        self.save_and_set_sysctls()?;
        let marker = self.marker_path()?;
        fs::write(&marker, format!("{}\n", self.ifaces.join(" ")))
            .map_err(|e| RaError::from_io(format!("write {}", marker.display()), &e))?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        if self.on_lo(&t).is_some() {
            return Ok(());
        }
        let lo = t
            .link_by_name("lo")
            .ok_or_else(|| RaError::generic("no loopback interface"))?;
        let label = alias::next_free("lo", t.addrs.iter().map(|a| a.label.as_str()))
            .ok_or_else(|| RaError::generic("No free alias on lo"))?;
        tracing::info!("ifconfig {label} {} netmask 255.255.255.255 up", self.vip);
        nl.add_address(&NewAddr4 {
            ifindex: lo.index,
            ip: self.vip,
            prefix: 32,
            broadcast: Some(self.vip),
            label: Some(label),
        })
        .or_else(|e| if e.is_exists() { Ok(()) } else { Err(e) })?;
        if !lo.up {
            nl.set_link_up(lo.index)?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), RaError> {
        let _lock = self.state.lock("LVSRealServer")?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        if let Some(a) = self.on_lo(&t) {
            tracing::info!("ifconfig {} down", a.label);
            nl.del_address(a.ifindex, a.local, a.prefix).or_else(|e| {
                if e.is_gone() {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        }
        let marker = self.marker_path()?;
        match fs::remove_file(&marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RaError::from_io(format!("remove {}", marker.display()), &e)),
        }
        if self.other_markers()? {
            tracing::info!("other LVS real-server VIPs still active; ARP sysctls left as they are");
            return Ok(());
        }
        self.restore_sysctls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_all_lo_and_named_interfaces_once() {
        let a = LvsRealServer {
            vip: "192.0.2.80".parse().unwrap(),
            ifaces: vec!["eth0".into(), "lo".into(), "eth0".into()],
            state: StateDir::at("/nonexistent"),
        };
        let names: Vec<String> = a
            .keys()
            .iter()
            .map(|(k, v)| format!("{}={v}", k.name()))
            .collect();
        assert_eq!(
            names,
            [
                "conf/all/arp_ignore=1",
                "conf/all/arp_announce=2",
                "conf/lo/arp_ignore=1",
                "conf/lo/arp_announce=2",
                "conf/eth0/arp_ignore=1",
                "conf/eth0/arp_announce=2",
            ]
        );
    }

    #[test]
    fn saved_file_round_trip_skips_junk() {
        let text = "conf/all/arp_ignore 0\nconf/lo/arp_announce 1\ngarbage\nconf/x 3\nconf/eth0/arp_ignore \n";
        let saved = parse_saved(text);
        assert_eq!(saved.len(), 2);
        assert_eq!(
            saved
                .get(&ConfKey::new("all", "arp_ignore"))
                .map(String::as_str),
            Some("0")
        );
        assert_eq!(parse_saved(&format_saved(&saved)), saved);
    }

    #[test]
    fn arguments() {
        assert_eq!(
            LvsRealServer::from_args(&[]).unwrap_err().rc,
            crate::ocf::Rc::Args
        );
        let e = LvsRealServer::from_args(&["192.0.2.300".into()]).unwrap_err();
        assert_eq!(e.rc, crate::ocf::Rc::NotConfigured);
        let e = LvsRealServer::from_args(&["192.0.2.3".into(), "../x".into()]).unwrap_err();
        assert_eq!(e.rc, crate::ocf::Rc::NotConfigured);
        let ok = LvsRealServer::from_args(&["192.0.2.3".into(), "eth0".into()]).unwrap();
        assert_eq!(ok.ifaces, ["eth0"]);
    }
}
