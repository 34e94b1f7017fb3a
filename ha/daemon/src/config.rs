//! Loading and checking the configuration the daemon runs with, and turning
//! it into the membership core's [`hb_membership::Config`].

use hb_config::{ConfigError, Medium};

pub use hb_config::Loaded;

/// ha.cf, authkeys, haresources and the node name, with every problem of all
/// of them (`heartbeat -t` prints them all).
pub fn load(paths: &hb_config::Paths) -> Result<Loaded, ConfigError> {
    hb_config::load_all(paths)
}

/// The interface a medium runs on.
pub fn medium_iface(m: &Medium) -> &str {
    match m {
        Medium::Bcast { iface, .. } | Medium::Mcast { iface, .. } | Medium::Ucast { iface, .. } => {
            iface
        }
    }
}

/// heartbeat names a link by its interface for every medium type
/// ("Link node2:eth0 up." for bcast, mcast and ucast alike), and several
/// media on one interface are one link. Returns the link names (index =
/// `MediumId`) and, per configured medium, its link.
pub fn links(media: &[Medium]) -> (Vec<String>, Vec<usize>) {
    let mut names: Vec<String> = Vec::new();
    let mut of_medium = Vec::with_capacity(media.len());
    for m in media {
        let iface = medium_iface(m);
        let id = match names.iter().position(|n| n == iface) {
            Some(id) => id,
            None => {
                names.push(iface.to_owned());
                names.len() - 1
            }
        };
        of_medium.push(id);
    }
    (names, of_medium)
}

/// Per-start values the shell supplies to the core.
#[derive(Clone, Copy, Debug)]
pub struct StartState {
    pub generation: u64,
    pub uuid: [u8; 16],
    pub wall_clock_at_start: u64,
    pub seed: u64,
}

pub fn membership_config(loaded: &Loaded, start: StartState) -> hb_membership::Config {
    let cf = &loaded.hacf;
    hb_membership::Config {
        local: loaded.local_node.clone(),
        nodes: cf.nodes.clone(),
        media: links(&cf.media).0,
        keepalive: cf.keepalive,
        deadtime: cf.deadtime,
        warntime: cf.warntime,
        initdead: cf.initdead,
        hopfudge: cf.hopfudge,
        generation: start.generation,
        uuid: start.uuid,
        wall_clock_at_start: start.wall_clock_at_start,
        seed: start.seed,
    }
}

/// heartbeat's compiled-in timings, with ha.cf's `max_rexmit_delay`.
pub fn membership_tuning(loaded: &Loaded) -> hb_membership::Tuning {
    hb_membership::Tuning {
        max_rexmit_delay: loaded.hacf.max_rexmit_delay,
        ..hb_membership::Tuning::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn links_are_interfaces_in_ha_cf_order() {
        let media = vec![
            Medium::Ucast {
                iface: "eth0".into(),
                peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
                port: 694,
            },
            Medium::Bcast {
                iface: "eth1".into(),
                port: 694,
            },
            Medium::Ucast {
                iface: "eth0".into(),
                peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 12)),
                port: 694,
            },
        ];
        let (names, of) = links(&media);
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!(of, [0, 1, 0]);
    }
}
