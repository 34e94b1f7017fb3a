//! LVSRealServer inside a fresh namespace: the conf/* sysctls are per netns,
//! so the host's are never touched.

mod common;

use std::process::Command;

use common::{prereqs, Lan};

const LVS: &str = env!("CARGO_BIN_EXE_LVSRealServer");
const IPADDR2: &str = env!("CARGO_BIN_EXE_IPaddr2");
const SUCCESS: &str = "INFO:  Success";

fn arp_settings(lan: &Lan) -> Vec<String> {
    ["all", "lo", "eth0"]
        .iter()
        .flat_map(|i| {
            ["arp_ignore", "arp_announce"]
                .map(|k| format!("{i}/{k}={}", lan.node.sysctl(&format!("conf/{i}/{k}"))))
        })
        .collect()
}

/// Does the node answer the client's ARP for `ip` (so a ping gets through)?
fn answers_arp_for(lan: &Lan, ip: &str) -> bool {
    lan.client.ip(&["neigh", "flush", "dev", "eth0"]);
    Command::new("ip")
        .args(["netns", "exec", &lan.client.name])
        .args(["ping", "-c", "1", "-W", "1", ip])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn sets_and_restores_arp_sysctls_and_the_vip_on_lo() {
    if !prereqs(
        "sets_and_restores_arp_sysctls_and_the_vip_on_lo",
        &["ip", "ping"],
    ) {
        return;
    }
    let lan = Lan::new();
    // Without the ARP sysctls a VIP on lo is answered on eth0: the flaw LVS-DR avoids.
    lan.node.ip(&["addr", "add", "192.0.2.99/32", "dev", "lo"]);
    assert!(
        answers_arp_for(&lan, "192.0.2.99"),
        "control: linux answers for lo addresses"
    );
    lan.node.ip(&["addr", "del", "192.0.2.99/32", "dev", "lo"]);

    // Non-default starting values, to see they come back as they were.
    lan.node.set_sysctl("conf/all/arp_announce", "1");
    lan.node.set_sysctl("conf/eth0/arp_ignore", "2");
    let before = arp_settings(&lan);

    lan.agent(LVS, &["192.0.2.80", "eth0", "status"])
        .expect(3, "INFO:  Resource is stopped");
    lan.agent(LVS, &["192.0.2.80", "eth0", "start"])
        .expect(0, SUCCESS);
    assert_eq!(
        arp_settings(&lan),
        [
            "all/arp_ignore=1",
            "all/arp_announce=2",
            "lo/arp_ignore=1",
            "lo/arp_announce=2",
            "eth0/arp_ignore=1",
            "eth0/arp_announce=2"
        ]
    );
    let vip = lan.node.addr("192.0.2.80").expect("VIP on lo");
    assert_eq!((vip.ifname.as_str(), vip.prefixlen), ("lo", 32));
    assert_eq!(vip.label.as_deref(), Some("lo:0"));
    lan.agent(LVS, &["192.0.2.80", "eth0", "status"])
        .expect(0, "INFO:  Running OK");
    assert!(
        !answers_arp_for(&lan, "192.0.2.80"),
        "real server must not answer ARP for the VIP"
    );
    assert!(
        answers_arp_for(&lan, "192.0.2.1"),
        "its own address still works"
    );

    // A second VIP; stopping the first must leave the sysctls for the second.
    lan.agent(LVS, &["192.0.2.81", "start"]).expect(0, SUCCESS);
    assert_eq!(
        lan.node.addr("192.0.2.81").unwrap().label.as_deref(),
        Some("lo:1")
    );
    lan.agent(LVS, &["192.0.2.80", "eth0", "stop"])
        .expect(0, SUCCESS);
    assert_eq!(lan.node.addr("192.0.2.80"), None);
    assert_eq!(lan.node.sysctl("conf/all/arp_ignore"), "1");
    lan.agent(LVS, &["192.0.2.81", "stop"]).expect(0, SUCCESS);
    assert_eq!(lan.node.addr("192.0.2.81"), None);
    assert_eq!(
        arp_settings(&lan),
        before,
        "originals restored by the last stop"
    );
    assert!(!lan.state_file("LVSRealServer.sysctl").exists());

    lan.agent(LVS, &["192.0.2.81", "stop"]).expect(0, SUCCESS);
    lan.agent(LVS, &["192.0.2.81", "monitor"])
        .expect(7, "INFO:  Resource is stopped");
    let r = lan.agent(LVS, &["192.0.2.82", "eth9", "start"]);
    r.expect(6, "ERROR:  Program is not configured");
    assert!(r.stderr.contains("eth9"), "{}", r.stderr);
    assert_eq!(
        arp_settings(&lan),
        before,
        "a refused start changes nothing"
    );
}

#[test]
fn ipaddr2_moves_a_real_server_vip_off_lo_and_back() {
    if !prereqs("ipaddr2_moves_a_real_server_vip_off_lo_and_back", &["ip"]) {
        return;
    }
    let lan = Lan::new();
    lan.agent(LVS, &["192.0.2.90", "eth0", "start"])
        .expect(0, SUCCESS);

    // The node becomes the director: IPaddr2 (lvs_support) takes the VIP.
    lan.agent(IPADDR2, &["192.0.2.90/24/eth0", "start"])
        .expect(0, SUCCESS);
    let a = lan.node.addr("192.0.2.90").expect("VIP");
    assert_eq!((a.ifname.as_str(), a.prefixlen), ("eth0", 24));
    lan.agent(IPADDR2, &["192.0.2.90/24/eth0", "status"])
        .expect(0, "INFO:  Running OK");
    lan.agent(LVS, &["192.0.2.90", "eth0", "status"])
        .expect(3, "INFO:  Resource is stopped");

    lan.agent(IPADDR2, &["192.0.2.90/24/eth0", "stop"])
        .expect(0, SUCCESS);
    let a = lan.node.addr("192.0.2.90").expect("VIP back on lo");
    assert_eq!((a.ifname.as_str(), a.prefixlen), ("lo", 32));
    assert_eq!(a.label.as_deref(), Some("lo:0"));
    lan.agent(LVS, &["192.0.2.90", "eth0", "status"])
        .expect(0, "INFO:  Running OK");

    lan.agent(LVS, &["192.0.2.90", "eth0", "stop"])
        .expect(0, SUCCESS);
    assert_eq!(lan.node.addr("192.0.2.90"), None);
}
