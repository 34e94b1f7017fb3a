//! Our heartbeat next to the real one over the other media and under loss:
//! `ucast`, `mcast`, two media at once (bcast eth0 + ucast eth1, with eth1
//! cut and restored), and random packet loss that retransmission must
//! repair. sha1 throughout.
//!
//! node1 runs OUR daemon, node2 the REAL one; each is queried with its own
//! `cl_status`. A separate test binary from `e2e` so that it can grow
//! without touching that one; the shared steps are the same file.

#[allow(dead_code)]
#[path = "e2e/common.rs"]
mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{ensure, Result};
use ha_tests::cluster::Cluster;
use ha_tests::media::{self, PortCapture, SecondLan};
use ha_tests::udp::{decode, messages_from};
use ha_tests::{hold_for, require, wait_for, Auth, ClusterSpec, HaCf, Kind, Needs, Timing};

use common::{boot_deadline, crash_and_time_death, steady_state, FAST_POLL, SLOW_POLL};

const OURS: &str = "node1";
const REAL: &str = "node2";
/// Addresses the harness gives node1 and node2 on eth0.
const OURS_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const REAL_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 0, 0, 1);

fn auth() -> Auth {
    Auth::reference("sha1").unwrap()
}

fn hacf(t: Timing, media: &[String]) -> HaCf {
    HaCf {
        media: media.to_vec(),
        ..HaCf::with_timing(t)
    }
}

fn build(env: &ha_tests::Env, t: Timing, media: &[String]) -> Cluster {
    let c = ClusterSpec::new(auth(), hacf(t, media))
        .node(OURS, Kind::Ours)
        .node(REAL, Kind::Real)
        .build(env)
        .unwrap();
    assert_eq!(c.node(OURS).ip(), OURS_IP);
    assert_eq!(c.node(REAL).ip(), REAL_IP);
    c
}

/// Every frame `who` sent verifies, comes from `who`, and satisfies `ok`.
fn check_frames(
    cap: &PortCapture,
    who: &str,
    c: &Cluster,
    ok: impl Fn(&media::Frame) -> Result<(), String>,
) -> usize {
    let keys = c.auth().keys();
    let frames = cap.frames().unwrap();
    assert!(!frames.is_empty(), "captured nothing from {who}");
    for f in &frames {
        if let Err(e) = ok(f) {
            panic!("{who} sent {} -> {}: {e}", f.src, f.dst);
        }
        let m = decode(&f.payload, &keys).unwrap();
        assert_eq!(m.get_str("src"), Some(who));
    }
    frames.len()
}

/// `ucast eth0 <ip>` for both nodes (each also lists itself, which heartbeat
/// tolerates): each side sends only unicast, only to the peer's port 694.
#[test]
fn media_ucast_sha1_real_dies() {
    let env = require!(Needs::Ours);
    let t = Timing::FAST;
    let lines = [
        format!("ucast eth0 {OURS_IP}"),
        format!("ucast eth0 {REAL_IP}"),
    ];
    let mut c = build(&env, t, &lines);
    let caps = [
        PortCapture::node(&c, OURS).unwrap(),
        PortCapture::node(&c, REAL).unwrap(),
    ];
    // The client receives broadcasts to 694; with ucast it must get nothing.
    let client = c.capture().unwrap();
    c.start_all().unwrap();
    c.wait_all_active(boot_deadline(&t)).unwrap();
    steady_state(&c, OURS, REAL).unwrap();

    for (cap, who, peer) in [(&caps[0], OURS, REAL_IP), (&caps[1], REAL, OURS_IP)] {
        let n = check_frames(cap, who, &c, |f| {
            if f.is_group_mac() {
                return Err("not unicast".into());
            }
            if *f.dst.ip() != peer || f.dst.port() != c.udpport() {
                return Err(format!("expected only {peer}:{}", c.udpport()));
            }
            Ok(())
        });
        eprintln!("ucast: {who} sent {n} datagrams, all unicast to {peer}");
    }
    assert!(
        client.packets().is_empty(),
        "a third host received heartbeat traffic: {:?}",
        client.packets().first().map(|p| p.from)
    );
    crash_and_time_death(&mut c, REAL, OURS).unwrap();
}

/// `mcast eth0 239.0.0.1 694 1 0` on both: traffic goes to the group with
/// IP TTL 1, and membership works as with bcast.
#[test]
fn media_mcast_sha1_ours_dies() {
    let env = require!(Needs::Ours);
    let t = Timing::FAST;
    let lines = [format!("mcast eth0 {GROUP} 694 1 0")];
    let mut c = build(&env, t, &lines);
    let caps = [
        PortCapture::node(&c, OURS).unwrap(),
        PortCapture::node(&c, REAL).unwrap(),
    ];
    c.start_all().unwrap();
    c.wait_all_active(boot_deadline(&t)).unwrap();
    steady_state(&c, OURS, REAL).unwrap();
    for (cap, who) in [(&caps[0], OURS), (&caps[1], REAL)] {
        let n = check_frames(cap, who, &c, |f| {
            if *f.dst.ip() != GROUP || f.dst.port() != 694 || !f.is_group_mac() {
                return Err(format!("expected only {GROUP}:694"));
            }
            if f.ttl != 1 {
                return Err(format!("IP TTL {} (configured 1)", f.ttl));
            }
            Ok(())
        });
        eprintln!("mcast: {who} sent {n} datagrams, all to {GROUP}:694 ttl 1");
    }
    crash_and_time_death(&mut c, OURS, REAL).unwrap();
}

/// `cl_status hblinkstatus PEER eth1` on `who`: exit code and output.
fn link_status(c: &Cluster, who: &str, peer: &str) -> Result<(Option<i32>, String), String> {
    let n = c.node(who);
    let bin = n.cl_status_bin();
    let out = n
        .exec(
            &[bin.as_str(), "hblinkstatus", peer, media::IFACE2],
            Duration::from_secs(5),
        )
        .map_err(|e| format!("{who}: {e}"))?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    ))
}

/// `cl_status hblinkstatus PEER eth1` on `who` says `want` (it exits 1 for
/// a dead link, like `nodestatus` for a dead node).
fn link_is(c: &Cluster, who: &str, peer: &str, want: &str) -> Result<(), String> {
    match link_status(c, who, peer)? {
        (Some(0 | 1), s) if s == want => Ok(()),
        other => Err(format!("{who}: link {peer}:eth1 is {other:?}")),
    }
}

/// bcast on eth0 plus ucast on a second LAN. Cutting eth1 is a dead link,
/// not a dead node; restoring it brings the link back on both sides.
#[test]
fn media_bcast_and_ucast_link_cut_and_restored() {
    let env = require!(Needs::Ours);
    let t = Timing::FAST;
    let lines = [
        "bcast eth0".to_owned(),
        "ucast eth1 198.51.100.11".to_owned(),
        "ucast eth1 198.51.100.12".to_owned(),
    ];
    let mut c = build(&env, t, &lines);
    let lan2 = SecondLan::attach_all(&c).unwrap();
    assert_eq!(lan2.ip_of(OURS).unwrap(), Ipv4Addr::new(198, 51, 100, 11));
    assert_eq!(lan2.ip_of(REAL).unwrap(), Ipv4Addr::new(198, 51, 100, 12));
    c.start_all().unwrap();
    c.wait_all_active(boot_deadline(&t)).unwrap();
    let (o, r) = (OURS, REAL);
    wait_for(
        "eth1 up both ways",
        Duration::from_secs(5),
        FAST_POLL,
        || {
            link_is(&c, o, r, "up")?;
            link_is(&c, r, o, "up")
        },
    )
    .unwrap();
    steady_state(&c, OURS, REAL).unwrap();
    let up_before = [
        c.node(OURS).log_lines("Link node2:eth1 up.").len(),
        c.node(REAL).log_lines("Link node1:eth1 up.").len(),
    ];
    assert!(
        up_before.iter().all(|n| *n >= 1),
        "eth1 up not logged: {up_before:?}"
    );

    let log_at_cut = [c.node(o).ha_log().len(), c.node(r).ha_log().len()];
    lan2.cut(OURS).unwrap();
    let (_, took) = wait_for(
        "both sides to log eth1 dead",
        t.deadtime + Duration::from_secs(3),
        FAST_POLL,
        || {
            for (who, line) in [(o, "Link node2:eth1 dead."), (r, "Link node1:eth1 dead.")] {
                if c.node(who).log_lines(line).is_empty() {
                    return Err(format!("{who} has not logged {line:?}"));
                }
            }
            Ok(())
        },
    )
    .unwrap();
    eprintln!("two media: eth1 dead on both sides {took:?} after the cut");
    // Our cl_status answers like the real one, exit code included.
    let dead = [
        link_status(&c, o, r).unwrap(),
        link_status(&c, r, o).unwrap(),
    ];
    assert_eq!(dead[0].1, "dead");
    assert_eq!(dead[0], dead[1], "ours vs real cl_status hblinkstatus");
    hold_for(
        "nodes active with eth1 cut",
        Duration::from_secs(3),
        SLOW_POLL,
        || {
            c.node(o).expect_status(r, "active")?;
            c.node(r).expect_status(o, "active")
        },
    )
    .unwrap();

    lan2.restore(OURS).unwrap();
    wait_for(
        "both sides to log eth1 up again",
        Duration::from_secs(5),
        FAST_POLL,
        || {
            let now = [
                c.node(o).log_lines("Link node2:eth1 up.").len(),
                c.node(r).log_lines("Link node1:eth1 up.").len(),
            ];
            if now[0] > up_before[0] && now[1] > up_before[1] {
                Ok(())
            } else {
                Err(format!(
                    "eth1 up lines {now:?}, before the cut {up_before:?}"
                ))
            }
        },
    )
    .unwrap();
    link_is(&c, o, r, "up").unwrap();
    link_is(&c, r, o, "up").unwrap();
    no_complaints(&c).unwrap();
    for (who, from) in [(o, log_at_cut[0]), (r, log_at_cut[1])] {
        let log = c.node(who).ha_log();
        let errs: Vec<String> = log
            .get(from..)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("CRIT"))
            .map(str::to_owned)
            .collect();
        if !errs.is_empty() {
            eprintln!(
                "note: {who} logged while eth1 was cut:\n{}",
                errs.join("\n")
            );
        }
    }
    crash_and_time_death(&mut c, REAL, OURS).unwrap();
}

/// Lines in either ha-log about packets it could not use, or deaths.
fn no_complaints(c: &Cluster) -> Result<()> {
    for n in c.nodes() {
        let bad: Vec<String> = [
            "authtoken does not match",
            "authentication failed",
            "should_drop_message",
            "process_clustermsg",
            "Dumping message",
            "flow control disabled",
            "Cannot rexmit pkt",
            "Invalid rexmit",
            "is dead",
            "lost a lot of packets",
        ]
        .iter()
        .flat_map(|needle| n.log_lines(needle))
        .collect();
        ensure!(
            bad.is_empty(),
            "{} complained:\n{}",
            n.name(),
            bad.join("\n")
        );
    }
    Ok(())
}

/// Loss as a fraction of the datagrams a node receives from its peer.
const LOSS_PERCENT: u8 = 15;
/// How long the nodes run under loss.
const LOSSY: Duration = Duration::from_secs(20);

/// 15 % of each node's incoming packets from the peer are dropped for 20 s
/// (deadtime 3 for margin). Nobody is declared dead, real heartbeat asks us
/// to retransmit and we do (it ends with "No pkts missing from node1!"),
/// and we recover real's packets the same way.
#[test]
fn media_loss_is_repaired_by_retransmission() {
    let env = require!(Needs::Ours);
    let t = Timing {
        keepalive: Duration::from_millis(200),
        deadtime: Duration::from_secs(3),
        warntime: Duration::from_secs(2),
        initdead: Duration::from_secs(6),
    };
    let mut c = build(&env, t, &[]);
    let keys = c.auth().keys();
    let cap = c.capture().unwrap();
    c.start_all().unwrap();
    c.wait_all_active(boot_deadline(&t)).unwrap();

    media::drop_from(c.node(OURS), REAL_IP, c.udpport(), LOSS_PERCENT).unwrap();
    media::drop_from(c.node(REAL), OURS_IP, c.udpport(), LOSS_PERCENT).unwrap();
    let (o, r) = (c.node(OURS), c.node(REAL));
    hold_for("both active under loss", LOSSY, SLOW_POLL, || {
        o.expect_status(REAL, "active")?;
        r.expect_status(OURS, "active")
    })
    .unwrap();
    let dropped = [media::dropped(o).unwrap(), media::dropped(r).unwrap()];
    media::stop_dropping(o).unwrap();
    media::stop_dropping(r).unwrap();
    eprintln!(
        "loss: dropped {} at ours, {} at real",
        dropped[0], dropped[1]
    );
    assert!(
        dropped.iter().all(|d| *d > 0),
        "no loss was applied: {dropped:?}"
    );

    // Real heartbeat logs every gap in our stream, then "No pkts missing"
    // once retransmissions filled them all: the last gap must be followed
    // by that line.
    let gap = format!("lost packet(s) for [{OURS}]");
    let filled = format!("No pkts missing from {OURS}!");
    let (_, _) = wait_for(
        "real heartbeat to have every gap of ours filled",
        Duration::from_secs(5),
        FAST_POLL,
        || {
            let log = r.ha_log();
            let last_gap = log.rfind(&gap).ok_or("real logged no gap of ours")?;
            match log.rfind(&filled) {
                Some(f) if f > last_gap => Ok(()),
                _ => Err(format!("no {filled:?} after the last gap")),
            }
        },
    )
    .unwrap();
    let real_gaps = r.log_lines(&gap).len();
    let real_filled = r.log_lines(&filled).len();

    // Our side logs a loss line only for packets it gave up on: real
    // answered all our requests, so there must be none.
    let ours_lost = o.log_lines(&format!("lost packet(s) for [{REAL}]"));

    // What went over the wire (the client sees every broadcast; the loss is
    // at the receivers): real's requests and our retransmissions.
    let pkts = cap.packets();
    let real_msgs = messages_from(&pkts, REAL, &keys);
    let ours_msgs = messages_from(&pkts, OURS, &keys);
    let rexmit_reqs: Vec<(u64, u64, std::time::Instant)> = real_msgs
        .iter()
        .filter(|(_, m)| m.msg_type() == Some("NS_rexmit") && m.get_str("dest") == Some(OURS))
        .filter_map(|(p, m)| {
            Some((
                m.get_str("firstseq")?.parse().ok()?,
                m.get_str("lastseq")?.parse().ok()?,
                p.at,
            ))
        })
        .collect();
    let ours_reqs = ours_msgs
        .iter()
        .filter(|(_, m)| m.msg_type() == Some("NS_rexmit"))
        .count();
    let naks: Vec<String> = ours_msgs
        .iter()
        .chain(real_msgs.iter())
        .filter(|(_, m)| m.msg_type() == Some("NS_nak_rexmit"))
        .map(|(_, m)| format!("{m:?}"))
        .collect();
    // A request is answered when each seq it names is sent again after it,
    // or was already re-sent within the second before it (heartbeat, too,
    // re-sends a packet at most once a second).
    let copies = |s: u64| -> Vec<std::time::Instant> {
        ours_msgs
            .iter()
            .filter(|(_, m)| m.get_hex("seq") == Some(s))
            .map(|(p, _)| p.at)
            .collect()
    };
    let unanswered: Vec<String> = rexmit_reqs
        .iter()
        .filter(|(first, last, at)| {
            (*first..=*last).any(|s| {
                let sent = copies(s);
                !sent.iter().enumerate().any(|(i, t)| {
                    *t > *at || (i > 0 && at.saturating_duration_since(*t) < Duration::from_secs(1))
                })
            })
        })
        .map(|(f, l, _)| format!("[{f}..{l}]"))
        .collect();
    eprintln!(
        "loss: real logged {real_gaps} gaps of ours and {real_filled} \"No pkts missing\"; \
         real sent {} NS_rexmit to us ({} unanswered: {unanswered:?}); we sent {ours_reqs} \
         NS_rexmit; NS_nak_rexmit on the wire: {}; our unrecovered-loss lines: {}",
        rexmit_reqs.len(),
        unanswered.len(),
        naks.len(),
        ours_lost.len()
    );
    assert!(
        real_gaps > 0,
        "real heartbeat saw no gap: the loss did not bite"
    );
    assert!(!rexmit_reqs.is_empty(), "real sent no NS_rexmit to us");
    assert!(
        unanswered.is_empty(),
        "we did not retransmit {unanswered:?}"
    );
    assert!(ours_reqs > 0, "we never asked real for a retransmission");
    assert!(naks.is_empty(), "NAKs on the wire: {naks:?}");
    assert!(
        ours_lost.is_empty(),
        "we gave up on packets real retransmits:\n{}",
        ours_lost.join("\n")
    );
    no_complaints(&c).unwrap();
    crash_and_time_death(&mut c, OURS, REAL).unwrap();
}
