//! `IPaddr ip[/bits[/nic[/bcast]]] start|stop|status|monitor`: the VIP as an
//! IP alias with the next free label (`eth0:0`, `eth0:1`, …), as heartbeat's
//! `IPaddr` (`ifconfig eth0:0 IP netmask M broadcast B`) does, followed by a
//! background burst of 10 gratuitous ARP pairs 500 ms apart.
//!
//! Status (lvs_support off, as heartbeat's wrapper sets it): running when the
//! address is on any interface; if a NIC was configured and the address sits on
//! another one, that is an error. Stop removes the address wherever it is.

use crate::alias;
use crate::arp::{self, BurstEnv};
use crate::cli::Agent;
use crate::findif::{findif, NicInfo, Tables};
use crate::ipspec::IpSpec;
use crate::netlink::{Addr4, Netlink, NewAddr4};
use crate::ocf::{RaError, State};
use crate::state::StateDir;

pub const BURST: BurstEnv = BurstEnv {
    count_var: "OCF_RESKEY_ARP_REPEAT",
    count_default: 10,
    interval_var: "OCF_RESKEY_ARP_INTERVAL_MS",
    interval_default_ms: 500,
    background_var: "OCF_RESKEY_ARP_BACKGROUND",
    allow_zero: false,
};

#[derive(Debug)]
pub struct IpAddr {
    pub spec: IpSpec,
    pub state: StateDir,
}

impl IpAddr {
    fn holder<'a>(&self, t: &'a Tables) -> Option<&'a Addr4> {
        t.addrs_with_ip(self.spec.ip).next()
    }

    fn resolve(&self, t: &Tables) -> Result<NicInfo, RaError> {
        Ok(findif(
            t,
            self.spec.ip,
            self.spec.nic.as_deref(),
            self.spec.prefix,
            self.spec.broadcast,
        )?)
    }

    fn check_holder(&self, a: &Addr4) -> Result<State, RaError> {
        let actual = alias::base(&a.label);
        match self.spec.nic.as_deref() {
            Some(nic) if nic != actual => Err(RaError::generic(format!(
                "{} is running an interface ({actual}) instead of the configured one ({nic})",
                self.spec.ip
            ))),
            _ => Ok(State::Running),
        }
    }
}

impl Agent for IpAddr {
    const NAME: &'static str = "IPaddr";
    const ARGS: &'static str = "<ip-address>[/netmaskbits[/interface[/broadcast]]]";

    fn from_args(args: &[String]) -> Result<Self, RaError> {
        let [arg] = args else {
            return Err(RaError::args(format!(
                "expected exactly one IP argument, got {}",
                args.len()
            )));
        };
        Ok(Self {
            spec: IpSpec::parse(arg)?,
            state: StateDir::from_env(),
        })
    }

    fn status(&self) -> Result<State, RaError> {
        let t = Netlink::open()?.tables()?;
        match self.holder(&t) {
            None => Ok(State::Stopped),
            Some(a) => self.check_holder(a),
        }
    }

    fn start(&self) -> Result<(), RaError> {
        let (burst, background) = BURST.read()?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        let info = self.resolve(&t)?;
        if let Some(a) = self.holder(&t) {
            self.check_holder(a)?;
            tracing::info!(ip = %self.spec.ip, label = %a.label, "already running");
            return Ok(());
        }
        let label = {
            // Two starts at once must not pick the same alias number.
            let _lock = self.state.lock("IPaddr")?;
            let t = nl.tables()?;
            let label = alias::next_free(&info.nic, t.addrs.iter().map(|a| a.label.as_str()))
                .ok_or_else(|| {
                    RaError::generic(format!("No free interface found for {}", self.spec.ip))
                })?;
            tracing::info!(
                "ifconfig {label} {} netmask {} broadcast {}",
                self.spec.ip,
                std::net::Ipv4Addr::from(crate::ipspec::netmask_bits(info.prefix)),
                info.broadcast
                    .map_or_else(|| "-".to_string(), |b| b.to_string())
            );
            nl.add_address(&NewAddr4 {
                ifindex: info.ifindex,
                ip: self.spec.ip,
                prefix: info.prefix,
                broadcast: info.broadcast,
                label: Some(label.clone()),
            })
            .map_err(|e| {
                RaError::generic(format!(
                    "Could not add {} to {}: {e}",
                    self.spec.ip, info.nic
                ))
            })?;
            label
        };
        nl.set_link_up(info.ifindex)?;
        let has_mac = t
            .link_by_index(info.ifindex)
            .is_some_and(|l| l.mac.is_some());
        if has_mac {
            arp::announce(&self.state, &info.nic, self.spec.ip, burst, background)?;
        }
        match self.holder(&nl.tables()?) {
            Some(a) if a.label == label => Ok(()),
            _ => Err(RaError::generic(format!(
                "{} is not on {label} after adding it",
                self.spec.ip
            ))),
        }
    }

    fn stop(&self) -> Result<(), RaError> {
        arp::stop(&self.state, self.spec.ip)?;
        let mut nl = Netlink::open()?;
        let t = nl.tables()?;
        let Some(a) = self.holder(&t) else {
            return Ok(());
        };
        tracing::info!(ip = %self.spec.ip, label = %a.label, "ifconfig {} down", a.label);
        match nl.del_address(a.ifindex, a.local, a.prefix) {
            Ok(()) => Ok(()),
            Err(e) if e.is_gone() => Ok(()),
            Err(e) => Err(RaError::generic(format!(
                "IP Address {} NOT released: {e}",
                self.spec.ip
            ))),
        }
    }
}
