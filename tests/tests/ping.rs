//! End-to-end: ping nodes, the built-in ipfail and respawn, our heartbeat on
//! both nodes. The cluster's client host (192.0.2.100) is the ping node, as
//! in the reference experiment `exp-ping_ipfail`; "cutting a node off" is
//! an iptables rule in the client's namespace dropping that node's ICMP.
//!
//! ha.cf: keepalive 200 ms, deadtime 1 (deadping = deadtime),
//! `ping 192.0.2.100`, `respawn hacluster /usr/lib/heartbeat/ipfail`,
//! `haresources` = `node1 IPaddr2::192.0.2.50/24/eth0 hbtest::alpha`.
//! Every VIP check polls with a deadline and fails at once if two nodes
//! hold the VIP.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use ha_tests::{hold_for, wait_for, Auth, Cluster, ClusterSpec, HaCf, Kind, Needs, Node, Timing};

use ha_tests::vip::{hbtest_running, holders, wait_owner};

const VIP: &str = "192.0.2.50";
const PING_NODE: &str = "192.0.2.100";
const HARESOURCES: &str = "node1 IPaddr2::192.0.2.50/24/eth0 hbtest::alpha\n";
const POLL: Duration = Duration::from_millis(100);

const HBTEST: &str = r#"#!/bin/sh
eval ACTION=\${$#}
STATE=/run/hbtest.state
case $ACTION in
start)	touch $STATE; exit 0;;
stop)	rm -f $STATE; exit 0;;
status)	if [ -e $STATE ]; then echo "hbtest is running"; else echo "hbtest is stopped"; fi; exit 0;;
*)	exit 2;;
esac
"#;

/// A respawned client: records each run and its pid; exits 100 once
/// /run/rsp.exit100 exists.
const RSP: &str = r#"#!/bin/sh
echo $$ > /run/rsp.pid
echo "run $$ $*" >> /run/rsp.runs
while [ ! -e /run/rsp.exit100 ]; do sleep 0.1; done
exit 100
"#;

/// iptables is needed to cut ICMP; missing it is a skip (or a failure
/// under HA_E2E_REQUIRED).
fn have_iptables(test: &str) -> bool {
    let ok = Command::new("iptables")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("HA_E2E_REQUIRED").is_some_and(|v| !v.is_empty()) {
            panic!("{test}: HA_E2E_REQUIRED is set but iptables is missing");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test}: iptables missing (apt-get install iptables)"
        );
    }
    ok
}

fn spec(kinds: [Kind; 2]) -> ClusterSpec {
    spec_with(kinds, Timing::FAST, "/usr/lib/heartbeat/ipfail")
}

/// `ipfail` is the path in the respawn line: ours runs ipfail built in
/// whatever the path; a real heartbeat needs Debian's
/// `/usr/libexec/heartbeat/ipfail`.
fn spec_with(kinds: [Kind; 2], timing: Timing, ipfail: &str) -> ClusterSpec {
    let mut hacf = HaCf::with_timing(timing);
    hacf.auto_failback = "on".into();
    hacf.extra = vec![
        format!("ping {PING_NODE}"),
        format!("respawn hacluster {ipfail}"),
        "apiauth ipfail gid=haclient uid=hacluster".into(),
    ];
    ClusterSpec::new(Auth::Sha1("HI!".into()), hacf)
        .node("node1", kinds[0])
        .node("node2", kinds[1])
        .haresources(HARESOURCES)
        .resource_script("hbtest", HBTEST)
}

/// iptables in the ping node's namespace: drop (or stop dropping) ICMP
/// coming from `node`. The rules vanish with the namespace.
fn cut_icmp(c: &Cluster, node: &Node, on: bool) -> Result<()> {
    let src = node.ip().to_string();
    let op = if on { "-I" } else { "-D" };
    let out = c
        .client()
        .ns
        .command("iptables")
        .args([op, "INPUT", "-p", "icmp", "-s", &src, "-j", "DROP"])
        .output()
        .context("iptables")?;
    ensure!(
        out.status.success(),
        "iptables {op} for {src}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `cl_status nodestatus 192.0.2.100` (exit 1 for dead, still printed).
fn ping_status(n: &Node) -> Result<String, String> {
    n.status_of(PING_NODE)
}

fn wait_ping_status(n: &Node, want: &str, timeout: Duration) -> Result<()> {
    wait_for(
        &format!("{} to see the ping node {want}", n.name()),
        timeout,
        POLL,
        || match ping_status(n)? {
            s if s == want => Ok(()),
            s => Err(s),
        },
    )
    .map(drop)
}

fn boot(c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    c.wait_all_active(Duration::from_secs(20))?;
    wait_owner(c, VIP, "node1", Duration::from_secs(25))?;
    for n in c.nodes() {
        wait_ping_status(n, "ping", Duration::from_secs(5))?;
    }
    Ok(())
}

#[test]
fn ping_node_shows_in_cl_status_and_its_loss_moves_resources() {
    let env = ha_tests::require!(Needs::Ours);
    if !have_iptables("ping_node_shows_in_cl_status_and_its_loss_moves_resources") {
        return;
    }
    let mut c = spec([Kind::Ours, Kind::Ours]).build(&env).expect("cluster");
    if let Err(e) = ping_node_shows_in_cl_status_and_its_loss_moves_resources_in(&mut c) {
        panic!("{e:#}");
    }
}

fn ping_node_shows_in_cl_status_and_its_loss_moves_resources_in(c: &mut Cluster) -> Result<()> {
    boot(c)?;
    let c = &*c;
    let n1 = c.node("node1");
    assert_eq!(n1.cl_status(&["listnodes", "-p"]).unwrap(), PING_NODE);
    assert_eq!(n1.cl_status(&["nodetype", PING_NODE]).unwrap(), "ping");
    ensure!(
        !n1.log_lines("Link 192.0.2.100:192.0.2.100 up.").is_empty(),
        "no ping link line in node1's log"
    );
    ensure!(!n1
        .log_lines("Status update for node 192.0.2.100: status ping")
        .is_empty());
    // ipfail counts as a running API client, here and (after its sign-on
    // message) on the peer.
    assert_eq!(
        n1.cl_status(&["clientstatus", "node1", "ipfail"]).unwrap(),
        "online"
    );
    wait_for(
        "node2's ipfail to be online",
        Duration::from_secs(5),
        POLL,
        || n1.cl_status(&["clientstatus", "node2", "ipfail"]),
    )?;

    // node1 loses the ping node: ipfail gives its resources to node2.
    let t0 = Instant::now();
    cut_icmp(c, c.node("node1"), true)?;
    wait_ping_status(c.node("node1"), "dead", Duration::from_secs(5))?;
    wait_owner(c, VIP, "node2", Duration::from_secs(15))?;
    // Reference (keepalive 1, deadtime 3): ≈7 s = deadping + ipfail's
    // exchange + its 2-keepalive delay + the standby.
    eprintln!("ICMP cut -> VIP on node2 after {:?}", t0.elapsed());
    let n1 = c.node("node1");
    ensure!(!n1.log_lines("node 192.0.2.100: is dead").is_empty());
    ensure!(
        !n1.log_lines("Giving up because we were told that we have less ping nodes.")
            .is_empty(),
        "node1 did not log ipfail's give-up"
    );
    ensure!(!c
        .node("node2")
        .log_lines("Telling other node that we have more visible ping nodes.")
        .is_empty());
    assert_eq!(ping_status(c.node("node2")).unwrap(), "ping");

    // ICMP back: counts balance, node2 gives foreign resources back
    // (auto_failback on).
    cut_icmp(c, c.node("node1"), false)?;
    wait_ping_status(c.node("node1"), "ping", Duration::from_secs(5))?;
    wait_owner(c, VIP, "node1", Duration::from_secs(15))?;
    ensure!(!c
        .node("node2")
        .log_lines("Giving up foreign resources (auto_failback).")
        .is_empty());
    Ok(())
}

#[test]
fn isolated_survivor_does_not_take_over_until_a_ping_node_answers() {
    let env = ha_tests::require!(Needs::Ours);
    if !have_iptables("isolated_survivor_does_not_take_over_until_a_ping_node_answers") {
        return;
    }
    let mut c = spec([Kind::Ours, Kind::Ours]).build(&env).expect("cluster");
    if let Err(e) = isolated_survivor_does_not_take_over_until_a_ping_node_answers_in(&mut c) {
        panic!("{e:#}");
    }
}

fn isolated_survivor_does_not_take_over_until_a_ping_node_answers_in(
    c: &mut Cluster,
) -> Result<()> {
    boot(c)?;

    // Both lose the ping node, the standby node first (so the owner never
    // sees a count lower than its peer's): balanced at 0 = 0, nothing moves.
    cut_icmp(c, c.node("node2"), true)?;
    wait_ping_status(c.node("node2"), "dead", Duration::from_secs(5))?;
    cut_icmp(c, c.node("node1"), true)?;
    wait_ping_status(c.node("node1"), "dead", Duration::from_secs(5))?;
    hold_for(
        "VIP staying on node1",
        Duration::from_secs(2),
        POLL,
        || match holders(c, VIP)? {
            h if h == ["node1"] => Ok(()),
            h => Err(format!("VIP on {h:?}")),
        },
    )?;

    // The owner dies. node2 cannot tell that from its own isolation: it
    // must not take over.
    c.node_mut("node1").crash()?;
    wait_for(
        "node2 to declare node1 dead",
        Duration::from_secs(5),
        POLL,
        || c.node("node2").expect_status("node1", "dead"),
    )?;
    hold_for(
        "no takeover on the isolated node",
        Timing::FAST.deadtime * 3,
        POLL,
        || match holders(c, VIP)? {
            h if h.is_empty() => Ok(()),
            h => Err(format!("VIP on {h:?}")),
        },
    )?;
    let n2 = c.node("node2");
    ensure!(
        !n2.log_lines("Not taking over its resources").is_empty(),
        "node2 did not log why it held back"
    );
    ensure!(!hbtest_running(n2), "hbtest started on the isolated node");

    // The ping node answers again: node2 knows it is not the isolated one.
    cut_icmp(c, c.node("node2"), false)?;
    let t0 = Instant::now();
    wait_owner(c, VIP, "node2", Duration::from_secs(10))?;
    eprintln!("ICMP back -> VIP on node2 after {:?}", t0.elapsed());
    Ok(())
}

fn rsp_pid(n: &Node) -> Option<i32> {
    std::fs::read_to_string(n.dir().join("run/rsp.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn rsp_runs(n: &Node) -> usize {
    std::fs::read_to_string(n.dir().join("run/rsp.runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn respawn_restarts_a_killed_client_but_not_one_exiting_100() {
    let env = ha_tests::require!(Needs::Ours);
    let mut hacf = HaCf::with_timing(Timing::FAST);
    hacf.extra = vec!["respawn root /etc/ha.d/resource.d/rsp one two".into()];
    let mut c = ClusterSpec::new(Auth::Sha1("HI!".into()), hacf)
        .node("node1", Kind::Ours)
        .node("node2", Kind::Ours)
        .resource_script("rsp", RSP)
        .build(&env)
        .expect("cluster");
    if let Err(e) = respawn_restarts_a_killed_client_but_not_one_exiting_100_in(&mut c) {
        panic!("{e:#}");
    }
}

fn respawn_restarts_a_killed_client_but_not_one_exiting_100_in(c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    c.wait_all_active(Duration::from_secs(20))?;
    let n1 = c.node("node1");
    let (first, _) = wait_for("the client to start", Duration::from_secs(10), POLL, || {
        rsp_pid(n1).ok_or_else(|| "no pid yet".to_owned())
    })?;
    let runs = std::fs::read_to_string(n1.dir().join("run/rsp.runs")).unwrap_or_default();
    ensure!(runs.contains("one two"), "arguments not passed: {runs:?}");

    // kill -9: heartbeat's rule restarts it (after 1 s: the run was short).
    let out = n1.exec(&["kill", "-9", &first.to_string()], Duration::from_secs(5))?;
    ensure!(out.status.success(), "kill failed");
    let (second, took) = wait_for(
        "the client to come back",
        Duration::from_secs(10),
        POLL,
        || match rsp_pid(n1) {
            Some(p) if p != first => Ok(p),
            _ => Err("same pid".to_owned()),
        },
    )?;
    eprintln!("client {first} killed -> {second} after {took:?}");
    assert_eq!(rsp_runs(n1), 2);
    ensure!(!n1.log_lines("Respawning client").is_empty());

    // Exit 100: never restarted.
    n1.exec(&["touch", "/run/rsp.exit100"], Duration::from_secs(5))?;
    wait_for("exit 100", Duration::from_secs(5), POLL, || {
        let out = n1
            .exec(&["kill", "-0", &second.to_string()], Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Err("still running".to_owned())
        } else {
            Ok(())
        }
    })?;
    hold_for(
        "no restart after exit 100",
        Duration::from_secs(3),
        POLL,
        || match rsp_runs(n1) {
            2 => Ok(()),
            n => Err(format!("{n} runs")),
        },
    )?;
    ensure!(!n1.log_lines("exited with return code 100").is_empty());
    Ok(())
}

/// Our built-in ipfail against a real heartbeat 3.0.6 running the real
/// ipfail binary: they must understand each other's `num_ping_nodes` /
/// `you_are_dead` / `abort_giveup`. Our node1 owns the VIP and loses the
/// ping node; the real node2 must tell it so and receive the group, and
/// give it back when the count is balanced again.
#[test]
fn builtin_ipfail_interoperates_with_real_ipfail() {
    ipfail_interop(
        "builtin_ipfail_interoperates_with_real_ipfail",
        [Kind::Ours, Kind::Real],
    );
}

/// The other way round: the real node owns the VIP and loses the ping
/// node; our node2 must answer its count with `you_are_dead`.
#[test]
fn real_ipfail_gives_up_to_builtin_ipfail() {
    ipfail_interop(
        "real_ipfail_gives_up_to_builtin_ipfail",
        [Kind::Real, Kind::Ours],
    );
}

/// Our node beside a real heartbeat running the real ipfail, in the roles
/// given (node1 owns the VIP).
fn ipfail_interop(test: &str, kinds: [Kind; 2]) {
    let env = ha_tests::require!(Needs::Ours);
    if !have_iptables(test) {
        return;
    }
    let mut c = spec_with(kinds, Timing::STANDARD, "/usr/libexec/heartbeat/ipfail")
        .build(&env)
        .expect("cluster");
    if let Err(e) = builtin_ipfail_interoperates_with_real_ipfail_in(&mut c) {
        panic!("{e:#}");
    }
}

fn builtin_ipfail_interoperates_with_real_ipfail_in(c: &mut Cluster) -> Result<()> {
    c.start_all()?;
    c.wait_all_active(Duration::from_secs(30))?;
    wait_owner(c, VIP, "node1", Duration::from_secs(40))?;
    for n in c.nodes() {
        wait_ping_status(n, "ping", Duration::from_secs(10))?;
    }
    // cl_status lists the ping node the same way on both daemons.
    let lists: Vec<(String, String, String, String)> = c
        .nodes()
        .iter()
        .map(|n| {
            (
                n.cl_status(&["listnodes"]).unwrap_or_default(),
                n.cl_status(&["listnodes", "-p"]).unwrap_or_default(),
                n.cl_status(&["nodetype", PING_NODE]).unwrap_or_default(),
                n.cl_status(&["listhblinks", PING_NODE]).unwrap_or_default(),
            )
        })
        .collect();
    eprintln!("listnodes: {lists:?}");
    ensure!(lists[0] == lists[1], "listnodes differ: {lists:?}");
    let t0 = Instant::now();
    cut_icmp(c, c.node("node1"), true)?;
    wait_owner(c, VIP, "node2", Duration::from_secs(30))?;
    eprintln!("ICMP cut on node1 -> VIP on node2 after {:?}", t0.elapsed());
    ensure!(!c
        .node("node2")
        .log_lines("Telling other node that we have more visible ping nodes.")
        .is_empty());
    ensure!(!c
        .node("node1")
        .log_lines("Giving up because we were told that we have less ping nodes.")
        .is_empty());
    cut_icmp(c, c.node("node1"), false)?;
    let t0 = Instant::now();
    wait_owner(c, VIP, "node1", Duration::from_secs(30))?;
    eprintln!("ICMP back -> VIP on node1 after {:?}", t0.elapsed());
    ensure!(!c
        .node("node2")
        .log_lines("Giving up foreign resources (auto_failback).")
        .is_empty());
    Ok(())
}
