//! Who holds a service address: the checks every failover test polls, so a
//! VIP on two nodes is caught the same way everywhere.

use std::time::Duration;

use anyhow::{bail, Result};

use crate::{wait_for, Cluster, Node};

/// How often [`wait_owner`] looks.
const POLL: Duration = Duration::from_millis(100);

/// Whether `ip` is configured on the node's eth0 (false when powered off).
pub fn has_addr(n: &Node, ip: &str) -> Result<bool, String> {
    if !n.is_powered_on() {
        return Ok(false);
    }
    let out = n
        .exec(
            &["ip", "-o", "-4", "addr", "show", "dev", "eth0"],
            Duration::from_secs(5),
        )
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).contains(&format!("inet {ip}/")))
}

/// The nodes holding `ip` now, in cluster order.
pub fn holders(c: &Cluster, ip: &str) -> Result<Vec<String>, String> {
    let mut v = Vec::new();
    for n in c.nodes() {
        if has_addr(n, ip)? {
            v.push(n.name().to_owned());
        }
    }
    Ok(v)
}

/// The tests' `hbtest` resource script runs on `n` (it keeps a state file).
pub fn hbtest_running(n: &Node) -> bool {
    n.is_powered_on() && n.dir().join("run/hbtest.state").exists()
}

/// Wait until `want` alone holds `ip` and runs hbtest; fail at once on an
/// address held twice. Returns how long it took.
pub fn wait_owner(c: &Cluster, ip: &str, want: &str, timeout: Duration) -> Result<Duration> {
    let (split, took) = wait_for(&format!("{want} to own the VIP"), timeout, POLL, || {
        let h = holders(c, ip)?;
        if h.len() > 1 {
            return Ok(Some(h));
        }
        if h == [want] && hbtest_running(c.node(want)) {
            Ok(None)
        } else {
            Err(format!("VIP on {h:?}"))
        }
    })?;
    if let Some(h) = split {
        bail!("VIP configured on {h:?} at once");
    }
    Ok(took)
}
