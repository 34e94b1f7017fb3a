//! A healed partition, our heartbeat on both nodes, no STONITH: iptables
//! drops each node's traffic from the other, both declare the other dead
//! and both take the VIP (a split brain, as heartbeat without fencing).
//! When the partition heals, each sees a node it declared dead return in
//! the same generation ("Cluster node … returning after partition."),
//! gives up its resources and restarts (heartbeat's
//! `cause_shutdown_restart`); within a bounded time the VIP is back on its
//! home node alone (auto_failback on), and never on two once the restarts
//! are through.

use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use ha_tests::{cmd, wait_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Needs, Node, Timing};

use ha_tests::vip::holders;

const VIP: &str = "192.0.2.50";
const HARESOURCES: &str = "node1 IPaddr2::192.0.2.50/24/eth0\n";
const POLL: Duration = Duration::from_millis(100);

/// Drops, in every node's namespace, what arrives from the other nodes;
/// removed on drop (also when the test fails).
struct Partition<'a> {
    nodes: Vec<&'a Node>,
}

impl<'a> Partition<'a> {
    fn cut(c: &'a Cluster) -> Result<Partition<'a>> {
        let p = Partition {
            nodes: c.nodes().iter().collect(),
        };
        for n in &p.nodes {
            for peer in c.nodes().iter().filter(|m| m.name() != n.name()) {
                let src = peer.ip().to_string();
                cmd::check(
                    n.host()
                        .ns
                        .command("iptables")
                        .args(["-A", "INPUT", "-s", &src, "-j", "DROP"]),
                    cmd::SHORT,
                )
                .with_context(|| format!("iptables in {}", n.name()))?;
            }
        }
        Ok(p)
    }

    fn heal(&self) -> Result<()> {
        for n in &self.nodes {
            cmd::check(
                n.host().ns.command("iptables").args(["-F", "INPUT"]),
                cmd::SHORT,
            )?;
        }
        Ok(())
    }
}

impl Drop for Partition<'_> {
    fn drop(&mut self) {
        let _ = self.heal();
    }
}

#[test]
fn healed_partition_leaves_exactly_one_vip_holder() {
    let env = ha_tests::require!(Needs::Ours);
    healed(&env, [Kind::Ours, Kind::Ours]);
}

/// Real heartbeat on the other side does the same (its restart sleeps
/// deadtime + 1 s before the exec).
#[test]
fn healed_partition_with_a_real_peer_leaves_exactly_one_vip_holder() {
    let env = ha_tests::require!(Needs::Ours);
    healed(&env, [Kind::Ours, Kind::Real]);
}

/// And with the group's home node real.
#[test]
fn healed_partition_with_a_real_owner_leaves_exactly_one_vip_holder() {
    let env = ha_tests::require!(Needs::Ours);
    healed(&env, [Kind::Real, Kind::Ours]);
}

fn healed(env: &ha_tests::Env, kinds: [Kind; 2]) {
    let hacf = HaCf::with_timing(Timing::FAST);
    let mut c = ClusterSpec::new(Auth::Sha1("HI!".into()), hacf)
        .node("node1", kinds[0])
        .node("node2", kinds[1])
        .haresources(HARESOURCES)
        .build(env)
        .unwrap();
    if let Err(e) = run(&mut c) {
        for n in c.nodes() {
            n.dump_logs();
        }
        panic!("{e:#}");
    }
}

fn run(c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    c.wait_all_active(Duration::from_secs(20))?;
    wait_for(
        "node1 to own the VIP",
        Duration::from_secs(25),
        POLL,
        || match holders(c, VIP)?.as_slice() {
            [one] if one == "node1" => Ok(()),
            h => Err(format!("VIP on {h:?}")),
        },
    )?;

    let part = Partition::cut(c)?;
    // No fencing: node2 declares node1 dead after deadtime and takes the
    // VIP beside it, as heartbeat does.
    let (_, split) = wait_for(
        "both nodes to hold the VIP",
        Timing::FAST.deadtime + Duration::from_secs(10),
        POLL,
        || match holders(c, VIP)?.len() {
            2 => Ok(()),
            _ => Err(format!("VIP on {:?}", holders(c, VIP)?)),
        },
    )?;
    eprintln!("split brain {split:?} after the cut");

    part.heal()?;
    // Both give up everything and restart (real heartbeat sleeps deadtime
    // + 1 s before its exec); the fresh pair negotiates like a cold boot
    // (nice_failback: RQSTDELAY 10 s), and a node that restarted first may
    // hold the group until its home node is back (auto_failback on). So:
    // settled means node1, the group's home, alone holds it with both
    // daemons back and stable; once the restarts are through, two holders
    // at once fail the test at once.
    let bound = Duration::from_secs(60);
    let mut single_seen = false;
    let (split, took) = wait_for("node1 alone to hold the VIP again", bound, POLL, || {
        let h = holders(c, VIP)?;
        // Every node that saw the heal went through its restart.
        let restarted = c.nodes().iter().all(|n| {
            n.log_lines("returning after partition").is_empty()
                || !n.log_lines("Restarting heartbeat.").is_empty()
        });
        if restarted && h.len() == 1 {
            single_seen = true;
        }
        if single_seen && h.len() > 1 {
            return Ok(Some(h));
        }
        if !restarted || h != ["node1"] {
            return Err(format!("VIP on {h:?}, restarted {restarted}"));
        }
        for n in c.nodes() {
            if n.daemon_pids().is_empty() {
                return Err(format!("{} has no heartbeat", n.name()));
            }
            let s = n.cl_status(&["rscstatus"])?;
            if s == "transition" {
                return Err(format!("{} in transition", n.name()));
            }
        }
        Ok(None)
    })?;
    if let Some(h) = split {
        bail!("VIP on {h:?} at once after the restarts");
    }
    eprintln!("node1 alone holds the VIP {took:?} after the heal");
    drop(part);

    // Never two again, and node1 keeps it.
    ha_tests::hold_for(
        "node1 keeping the VIP",
        Duration::from_secs(10),
        Duration::from_millis(250),
        || {
            let h = holders(c, VIP)?;
            if h == ["node1"] {
                Ok(())
            } else {
                Err(format!("VIP on {h:?}"))
            }
        },
    )?;
    // The first node to hear its peer again logs the heal and restarts; its
    // peer may then only ever see that restart (a new generation), not a
    // return after a partition — heartbeat races the same way.
    ensure!(
        c.nodes().iter().any(|n| {
            !n.log_lines("CRIT: Cluster node node").is_empty()
                && !n.log_lines("returning after partition").is_empty()
        }),
        "no node logged the partition heal as heartbeat does"
    );
    for n in c.nodes() {
        if n.daemon_pids().is_empty() {
            bail!("heartbeat on {} did not come back", n.name());
        }
        let p = n.dir().join("log/reboot-stub.log");
        ensure!(!p.exists(), "{} tried to reboot", n.name());
    }
    for n in c.nodes() {
        let s = n.cl_status(&["rscstatus"]).map_err(anyhow::Error::msg)?;
        ensure!(s != "transition", "{} still in transition", n.name());
    }
    Ok(())
}
