//! IPaddr / IPaddr2 in a fresh network namespace, observed from a second one.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{alive, prereqs, wait_for, ArpCapture, Lan};
use pnet_packet::arp::ArpOperations;

const IPADDR: &str = env!("CARGO_BIN_EXE_IPaddr");
const IPADDR2: &str = env!("CARGO_BIN_EXE_IPaddr2");
const SUCCESS: &str = "INFO:  Success";
const RUNNING: &str = "INFO:  Running OK";
const STOPPED: &str = "INFO:  Resource is stopped";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn ipaddr2_start_status_stop() {
    if !prereqs("ipaddr2_start_status_stop", &["ip"]) {
        return;
    }
    let lan = Lan::new();
    let vip = "192.0.2.50/24/eth0:vip";

    lan.agent(IPADDR2, &[vip, "status"]).expect(3, STOPPED);
    lan.agent(IPADDR2, &[vip, "monitor"]).expect(7, STOPPED);

    lan.agent(IPADDR2, &[vip, "start"]).expect(0, SUCCESS);
    let a = lan.node.addr("192.0.2.50").expect("VIP added");
    assert_eq!(a.ifname, "eth0");
    assert_eq!(a.prefixlen, 24);
    assert_eq!(a.label.as_deref(), Some("eth0:vip"));
    assert_eq!(a.broadcast, Some(ip("192.0.2.255")));
    // heartbeat's ResourceManager reads the words, not the code.
    let st = lan.agent(IPADDR2, &[vip, "status"]);
    st.expect(0, RUNNING);
    assert!(hb_resources::says_running(&st.stdout));
    lan.agent(IPADDR2, &[vip, "monitor"]).expect(0, RUNNING);

    // A second start changes nothing.
    lan.agent(IPADDR2, &[vip, "start"]).expect(0, SUCCESS);
    assert_eq!(
        lan.node
            .addrs()
            .iter()
            .filter(|a| a.local == ip("192.0.2.50"))
            .count(),
        1
    );

    lan.agent(IPADDR2, &[vip, "stop"]).expect(0, SUCCESS);
    assert_eq!(lan.node.addr("192.0.2.50"), None);
    assert!(
        lan.node.addr("192.0.2.1").is_some(),
        "the base address stays"
    );
    let st = lan.agent(IPADDR2, &[vip, "status"]);
    st.expect(3, STOPPED);
    assert!(!hb_resources::says_running(&st.stdout));
    // Stopping a stopped resource succeeds.
    lan.agent(IPADDR2, &[vip, "stop"]).expect(0, SUCCESS);
}

#[test]
fn ipaddr2_picks_interface_and_prefix_by_route() {
    if !prereqs("ipaddr2_picks_interface_and_prefix_by_route", &["ip"]) {
        return;
    }
    let lan = Lan::new();
    lan.link("eth1", "198.51.100.1/25", "198.51.100.2/25");

    lan.agent(IPADDR2, &["198.51.100.60", "start"])
        .expect(0, SUCCESS);
    let a = lan.node.addr("198.51.100.60").expect("VIP added");
    assert_eq!((a.ifname.as_str(), a.prefixlen), ("eth1", 25));
    assert_eq!(a.broadcast, Some(ip("198.51.100.127")));
    assert_eq!(
        a.label.as_deref(),
        Some("eth1"),
        "no label unless nic:label is given"
    );

    // Third part starting with a digit is the broadcast, not a NIC.
    lan.agent(IPADDR2, &["192.0.2.70/24/192.0.2.255", "start"])
        .expect(0, SUCCESS);
    let a = lan.node.addr("192.0.2.70").expect("VIP added");
    assert_eq!(
        (a.ifname.as_str(), a.broadcast),
        ("eth0", Some(ip("192.0.2.255")))
    );

    // No connected route: nothing to pick.
    let r = lan.agent(IPADDR2, &["203.0.113.9", "start"]);
    r.expect(1, "ERROR:  Generic error");
    assert!(
        r.stderr.contains("Unable to find nic or netmask"),
        "{}",
        r.stderr
    );
    lan.agent(IPADDR2, &["203.0.113.9", "status"])
        .expect(3, STOPPED);
    lan.agent(IPADDR2, &["203.0.113.9", "stop"])
        .expect(0, SUCCESS);

    // A NIC that does not exist is a configuration error.
    let r = lan.agent(IPADDR2, &["192.0.2.71/24/eth7", "start"]);
    r.expect(6, "ERROR:  Program is not configured");
    assert!(r.stderr.contains("eth7"), "{}", r.stderr);

    for v in ["198.51.100.60", "192.0.2.70/24/192.0.2.255"] {
        lan.agent(IPADDR2, &[v, "stop"]).expect(0, SUCCESS);
    }
    assert_eq!(lan.node.addr("198.51.100.60"), None);
    assert_eq!(lan.node.addr("192.0.2.70"), None);
}

#[test]
fn gratuitous_arps_reach_the_other_namespace() {
    if !prereqs("gratuitous_arps_reach_the_other_namespace", &["ip"]) {
        return;
    }
    let lan = Lan::new();
    let mac = lan.node.mac("eth0");
    let cap = ArpCapture::start(&lan.client, "eth0");

    lan.agent(IPADDR2, &["192.0.2.51", "start"])
        .expect(0, SUCCESS);
    // start returned while the burst (5 pairs, 200 ms apart) is still going.
    let at_return = cap.announcements("192.0.2.51").len();
    assert!(
        at_return < 10,
        "start waited for the whole burst ({at_return} seen)"
    );

    let seen = wait_for("10 ARPs for 192.0.2.51", Duration::from_secs(10), || {
        let s = cap.announcements("192.0.2.51");
        (s.len() >= 10).then_some(s)
    });
    for (k, a) in seen.iter().enumerate() {
        let want_op = if k % 2 == 0 {
            ArpOperations::Request
        } else {
            ArpOperations::Reply
        };
        assert_eq!(a.op, want_op, "frame {k}: request/reply pairs");
        assert_eq!(a.eth_dst, [0xff; 6], "frame {k}: broadcast");
        assert_eq!((a.eth_src, a.sender_mac), (mac, mac), "frame {k}");
        let target = if want_op == ArpOperations::Reply {
            mac
        } else {
            [0; 6]
        };
        assert_eq!(a.target_mac, target, "frame {k}");
    }
    // Half an interval between frames: the 10 span 4.5 × 200 ms.
    let span = seen[9].at.duration_since(seen[0].at);
    assert!(
        span >= Duration::from_millis(800),
        "burst too fast: {span:?}"
    );
    // The sender removes its record when done.
    let pidfile = lan.state_file("send_arp-192.0.2.51");
    wait_for("sender to finish", Duration::from_secs(10), || {
        (!pidfile.exists()).then_some(())
    });
    assert_eq!(cap.announcements("192.0.2.51").len(), 10);
    lan.agent(IPADDR2, &["192.0.2.51", "stop"])
        .expect(0, SUCCESS);
}

#[test]
fn ipaddr_burst_follows_its_environment_and_stop_ends_it() {
    if !prereqs(
        "ipaddr_burst_follows_its_environment_and_stop_ends_it",
        &["ip"],
    ) {
        return;
    }
    let lan = Lan::new();
    let cap = ArpCapture::start(&lan.client, "eth0");
    let env = [
        ("OCF_RESKEY_ARP_REPEAT", "3"),
        ("OCF_RESKEY_ARP_INTERVAL_MS", "100"),
    ];
    lan.agent_env(IPADDR, &["192.0.2.52", "start"], &env)
        .expect(0, SUCCESS);
    let pidfile = lan.state_file("send_arp-192.0.2.52");
    wait_for("sender to finish", Duration::from_secs(10), || {
        (!pidfile.exists()).then_some(())
    });
    assert_eq!(cap.announcements("192.0.2.52").len(), 6, "3 pairs");
    lan.agent(IPADDR, &["192.0.2.52", "stop"])
        .expect(0, SUCCESS);

    // The default burst lasts ~5 s; stop must end it.
    lan.agent(IPADDR, &["192.0.2.53", "start"])
        .expect(0, SUCCESS);
    let pidfile = lan.state_file("send_arp-192.0.2.53");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("sender pid recorded")
        .trim()
        .parse()
        .expect("pid");
    assert!(alive(pid));
    lan.agent(IPADDR, &["192.0.2.53", "stop"])
        .expect(0, SUCCESS);
    assert!(!pidfile.exists());
    wait_for("sender to be killed", Duration::from_secs(5), || {
        (!alive(pid)).then_some(())
    });
    let n = cap.announcements("192.0.2.53").len();
    assert!(n < 20, "burst was not cut short ({n} frames)");

    let r = lan.agent_env(
        IPADDR,
        &["192.0.2.54", "start"],
        &[("OCF_RESKEY_ARP_REPEAT", "0")],
    );
    r.expect(2, "ERROR:  Illegal argument");
    assert!(r.stderr.contains("ARP_REPEAT"), "{}", r.stderr);
}

#[test]
fn ipaddr_uses_the_next_free_alias() {
    if !prereqs("ipaddr_uses_the_next_free_alias", &["ip"]) {
        return;
    }
    let lan = Lan::new();
    let env = [
        ("OCF_RESKEY_ARP_BACKGROUND", "no"),
        ("OCF_RESKEY_ARP_REPEAT", "1"),
    ];
    let start = |v: &str| {
        lan.agent_env(IPADDR, &[v, "start"], &env)
            .expect(0, SUCCESS);
    };

    start("192.0.2.61");
    start("192.0.2.62/24/eth0");
    let a = lan.node.addr("192.0.2.61").unwrap();
    let b = lan.node.addr("192.0.2.62").unwrap();
    assert_eq!(a.label.as_deref(), Some("eth0:0"));
    assert_eq!(b.label.as_deref(), Some("eth0:1"));
    assert_eq!((a.prefixlen, a.broadcast), (24, Some(ip("192.0.2.255"))));
    lan.agent(IPADDR, &["192.0.2.61", "status"])
        .expect(0, RUNNING);
    lan.agent(IPADDR, &["192.0.2.62", "monitor"])
        .expect(0, RUNNING);

    // The freed eth0:0 is taken by the next one.
    lan.agent(IPADDR, &["192.0.2.61", "stop"])
        .expect(0, SUCCESS);
    assert_eq!(lan.node.addr("192.0.2.61"), None);
    start("192.0.2.63");
    assert_eq!(
        lan.node.addr("192.0.2.63").unwrap().label.as_deref(),
        Some("eth0:0")
    );

    // Configured for another NIC than the one holding it: an error, not "ours".
    lan.link("eth1", "198.51.100.1/24", "198.51.100.2/24");
    let r = lan.agent(IPADDR, &["192.0.2.62/24/eth1", "status"]);
    r.expect(1, "ERROR:  Generic error");
    assert!(!hb_resources::says_running(&r.stdout));

    for v in ["192.0.2.62", "192.0.2.63"] {
        lan.agent(IPADDR, &[v, "stop"]).expect(0, SUCCESS);
        lan.agent(IPADDR, &[v, "stop"]).expect(0, SUCCESS);
        lan.agent(IPADDR, &[v, "status"]).expect(3, STOPPED);
    }
    assert_eq!(
        lan.node.addrs().len(),
        3,
        "lo, eth0 and eth1 base addresses only"
    );
}
