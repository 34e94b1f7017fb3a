//! Loading and checking the configuration the daemon runs with, and turning
//! it into the membership core's [`hb_membership::Config`].

use std::path::PathBuf;

use hb_config::{ConfigError, HaCf, Medium, Problem};
use hb_wire::AuthKeys;

/// Everything read from `/etc/ha.d` that the daemon needs.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub ha_cf: HaCf,
    pub keys: AuthKeys,
    /// This node's name (`nodeinfo`, else `uname -n`), lower-cased.
    pub local: String,
}

/// Read ha.cf, authkeys and the node name; every problem in all of them.
pub fn load(paths: &hb_config::Paths) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let ha_cf = hb_config::load_ha_cf(&paths.ha_cf)
        .map_err(|e| problems.extend(e.problems))
        .ok();
    let keys = hb_config::load_authkeys(&paths.authkeys)
        .map_err(|e| problems.extend(e.problems))
        .ok();
    let local = match hb_config::local_node_name(&paths.nodeinfo) {
        Ok(name) => Some(name),
        Err(e) => {
            problems.push(Problem {
                path: paths.nodeinfo.clone(),
                line: None,
                message: format!("cannot determine the local node name: {e}"),
            });
            None
        }
    };
    if let (Some(cf), Some(local)) = (&ha_cf, &local) {
        if !cf.nodes.iter().any(|n| n == local) {
            problems.push(Problem {
                path: paths.ha_cf.clone(),
                line: None,
                message: format!(
                    "Current node [{local}] not in configuration! Cluster nodes are named by \
                     `uname -n` (or /etc/ha.d/nodeinfo) and must be declared with a 'node' directive"
                ),
            });
        }
    }
    match (ha_cf, keys, local) {
        (Some(ha_cf), Some(keys), Some(local)) if problems.is_empty() => {
            Ok(Loaded { ha_cf, keys, local })
        }
        _ => Err(ConfigError {
            problems: if problems.is_empty() {
                vec![Problem {
                    path: PathBuf::from(&paths.ha_cf),
                    line: None,
                    message: "configuration error".to_owned(),
                }]
            } else {
                problems
            },
        }),
    }
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
    let cf = &loaded.ha_cf;
    hb_membership::Config {
        local: loaded.local.clone(),
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
