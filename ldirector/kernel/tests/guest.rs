//! KernelBackend against the real kernel IPVS, checked with the real
//! ipvsadm.
//!
//! This host has no IPVS, so the `guest_*` tests are `#[ignore]`d and run
//! inside a user-mode-linux guest: [`in_guest`] (an ordinary test) boots
//! one with the ha-tests harness and runs this very binary there with
//! `--ignored guest_`. Each guest test starts from an empty table
//! (`ipvsadm -C`) and clears it again when done.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use ld_ipvs_kernel::KernelBackend;
use ldirector::backend::listing::{render_with_info, ListFormat};
use ldirector::backend::{Backend, BackendError};
use ldirector::config::{Forwarding, Netmask, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsCommand, IpvsError, ServiceParams, Table};

/// Boot a guest and run every `guest_*` test of this binary there.
#[test]
fn in_guest() {
    let vm = ha_tests::require_vm!(["ipvsadm"]);
    let exe = std::env::current_exe().expect("own path");
    let listed = Command::new(&exe)
        .args(["--list", "--ignored", "guest_"])
        .output()
        .expect("list guest tests");
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    assert!(!names.is_empty(), "no guest tests listed");
    let share = Scratch::new();
    let cmd = format!(
        "exec {} --ignored --test-threads=1 guest_",
        ha_tests::vm::sh_quote(&exe.to_string_lossy())
    );
    let out = vm
        .run(&share.0, &cmd, std::time::Duration::from_secs(600))
        .expect("guest harness");
    assert!(out.success(), "{out}");
    for name in &names {
        assert!(
            out.stdout.contains(&format!("test {name} ... ok")),
            "{name} did not pass in the guest\n{out}"
        );
    }
}

/// A scratch dir the guest may write (the harness needs one to share).
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("ldk-guest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .expect("run ipvsadm");
    assert!(
        out.status.success(),
        "ipvsadm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 from ipvsadm")
}

/// `ipvsadm -R` with one rule per line: one exec for a whole table (fork
/// and exec are slow in user-mode-linux).
fn ipvsadm_restore(cmds: &[IpvsCommand]) {
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run ipvsadm -R");
    let mut rules = String::new();
    for c in cmds {
        rules.push_str(&c.ipvsadm_args().join(" "));
        rules.push('\n');
    }
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(rules.as_bytes())
        .expect("write rules");
    assert!(
        child.wait().expect("wait ipvsadm").success(),
        "ipvsadm -R failed on:\n{rules}"
    );
}

/// An empty IPVS table for the test, and again when it ends (even failed).
struct Clean;

impl Clean {
    fn new() -> Clean {
        ipvsadm(&["-C"]);
        Clean
    }
}

impl Drop for Clean {
    fn drop(&mut self) {
        let _ = Command::new("ipvsadm").arg("-C").status();
    }
}

fn inet(protocol: Protocol, a: &str) -> VirtualAddr {
    VirtualAddr::Inet {
        protocol,
        addr: a.parse().expect("address"),
    }
}

fn tcp(a: &str) -> VirtualAddr {
    inet(Protocol::Tcp, a)
}

fn dest(forward: Forwarding, weight: u32, x: u32, y: u32) -> DestParams {
    DestParams {
        forward,
        weight,
        upper_threshold: x,
        lower_threshold: y,
    }
}

fn add(key: VirtualAddr, params: ServiceParams) -> IpvsCommand {
    IpvsCommand::AddService { key, params }
}

fn add_dest(key: VirtualAddr, d: &str, params: DestParams) -> IpvsCommand {
    IpvsCommand::AddDest {
        key,
        dest: d.parse().expect("dest"),
        params,
    }
}

/// Every scheduler of the 6.1 kernel, every service option ldirectord can
/// set, all three forwarding methods, IPv4 and IPv6, address and firewall
/// mark services, thresholds.
fn varied() -> Vec<IpvsCommand> {
    let sh = tcp("10.0.0.1:80");
    let dns = inet(Protocol::Udp, "10.0.0.1:53");
    let v6 = tcp("[2001:db8::1]:443");
    let fwm = VirtualAddr::Fwmark {
        mark: 7,
        ipv6: false,
    };
    let fwm6 = VirtualAddr::Fwmark {
        mark: 8,
        ipv6: true,
    };
    let high = tcp("192.168.100.200:65535");
    let sip = inet(Protocol::Udp, "10.0.0.2:5060");
    let mut v = vec![
        add(
            sh,
            ServiceParams {
                persistent: Some(300),
                netmask: Some(Netmask::V4("255.255.0.0".parse().expect("mask"))),
                schedflags: Some("sh-fallback,sh-port".into()),
                ..ServiceParams::new(Scheduler::Sh)
            },
        ),
        add_dest(sh, "10.0.0.2:80", dest(Forwarding::Gate, 3, 10, 5)),
        // gate/ipip on an address service: ipvsadm stores the service port.
        add_dest(sh, "10.0.0.3:8080", dest(Forwarding::Gate, 1, 0, 0)),
        add_dest(sh, "10.0.0.4:8080", dest(Forwarding::Masq, 0, 0, 0)),
        add_dest(sh, "10.0.0.5:80", dest(Forwarding::Ipip, 2, 0, 0)),
        add(
            dns,
            ServiceParams {
                ops: true,
                ..ServiceParams::new(Scheduler::Wrr)
            },
        ),
        add_dest(dns, "10.0.0.4:5353", dest(Forwarding::Masq, 1, 0, 0)),
        add_dest(dns, "10.0.0.6:53", dest(Forwarding::Ipip, 4, 0, 0)),
        add(
            sip,
            ServiceParams {
                ops: true,
                persistent: Some(60),
                ..ServiceParams::new(Scheduler::Rr)
            },
        ),
        add(
            v6,
            ServiceParams {
                schedflags: Some("flag-3".into()),
                ..ServiceParams::new(Scheduler::Lc)
            },
        ),
        add_dest(v6, "[2001:db8::3]:8443", dest(Forwarding::Masq, 1, 0, 0)),
        add_dest(v6, "[2001:db8::4]:443", dest(Forwarding::Gate, 7, 100, 50)),
        add(
            fwm,
            ServiceParams {
                persistent: Some(360),
                schedflags: Some("mh-port".into()),
                ..ServiceParams::new(Scheduler::Mh)
            },
        ),
        add_dest(fwm, "10.0.1.1:80", dest(Forwarding::Masq, 1, 0, 0)),
        add_dest(fwm, "10.0.1.2:0", dest(Forwarding::Gate, 1, 0, 0)),
        add(
            fwm6,
            ServiceParams {
                persistent: Some(60),
                netmask: Some(Netmask::V6Prefix(64)),
                ..ServiceParams::new(Scheduler::Rr)
            },
        ),
        add_dest(fwm6, "[2001:db8::2]:0", dest(Forwarding::Gate, 1, 0, 0)),
        add(high, ServiceParams::new(Scheduler::Wlc)),
        add_dest(
            high,
            "192.168.100.201:65535",
            dest(Forwarding::Masq, 65535, 0, 0),
        ),
        add_dest(high, "10.200.0.1:65535", dest(Forwarding::Masq, 1, 0, 0)),
    ];
    let rest = [
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
    ];
    for (i, s) in rest.into_iter().enumerate() {
        let key = tcp(&format!("10.0.2.{}:80", i + 1));
        v.push(add(key, ServiceParams::new(s)));
        v.push(add_dest(
            key,
            &format!("10.0.3.{}:80", i + 1),
            dest(Forwarding::Masq, 1, 0, 0),
        ));
    }
    v
}

/// What ipvsadm shows of the table: rules (services, forwarding, weights),
/// thresholds, persistent-connection view.
fn ipvsadm_view() -> String {
    [
        ipvsadm(&["-Sn"]),
        ipvsadm(&["-Ln", "--thresholds"]),
        ipvsadm(&["-Ln", "--persistent-conn"]),
        ipvsadm(&["-Ln"]),
    ]
    .join("\n")
}

#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_apply_programs_what_ipvsadm_would() {
    let _clean = Clean::new();
    let cmds = varied();
    ipvsadm_restore(&cmds);
    let by_ipvsadm = ipvsadm_view();
    ipvsadm(&["-C"]);

    let mut k = KernelBackend::open().expect("open kernel backend");
    k.apply(&cmds).expect("apply the varied table");
    let by_us = ipvsadm_view();
    assert_eq!(by_us, by_ipvsadm);
    // And the table is what we meant (not two equal mistakes).
    let save = ipvsadm(&["-Sn"]);
    for line in [
        "-A -t 10.0.0.1:80 -s sh -p 300 -M 255.255.0.0 -b sh-fallback,sh-port",
        "-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1",
        "-a -t 10.0.0.1:80 -r 10.0.0.4:8080 -m -w 0",
        "-a -t 10.0.0.1:80 -r 10.0.0.5:80 -i -w 2 --tun-type ipip",
        "-A -u 10.0.0.1:53 -s wrr -o",
        "-a -u 10.0.0.1:53 -r 10.0.0.4:5353 -m -w 1",
        "-A -f 8 -6 -s rr -p 60 -M 64",
        "-a -f 8 -6 -r [2001:db8::2]:0 -g -w 1",
        "-a -t [2001:db8::1]:443 -r [2001:db8::3]:8443 -m -w 1",
        "-A -f 7 -s mh -p 360 -b mh-port",
        "-A -t 10.0.2.7:80 -s ovf",
    ] {
        assert!(
            save.lines().any(|l| l == line),
            "missing `{line}` in\n{save}"
        );
    }
    let thresholds = ipvsadm(&["-Ln", "--thresholds"]);
    assert!(
        thresholds.contains("  -> 10.0.0.2:80                  10         5"),
        "{thresholds}"
    );
}

#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_edits_and_deletes() {
    let _clean = Clean::new();
    let mut k = KernelBackend::open().expect("open kernel backend");
    let key = tcp("10.1.0.1:80");
    let fwm6 = VirtualAddr::Fwmark {
        mark: 9,
        ipv6: true,
    };
    k.apply(&[
        add(key, ServiceParams::new(Scheduler::Wlc)),
        add_dest(key, "10.1.0.2:80", dest(Forwarding::Masq, 1, 0, 0)),
        add_dest(key, "10.1.0.3:80", dest(Forwarding::Masq, 1, 0, 0)),
        add(fwm6, ServiceParams::new(Scheduler::Rr)),
        add_dest(fwm6, "[2001:db8::9]:0", dest(Forwarding::Gate, 1, 0, 0)),
    ])
    .expect("initial table");
    k.apply(&[
        IpvsCommand::EditService {
            key,
            params: ServiceParams {
                persistent: Some(900),
                netmask: Some(Netmask::V4("255.255.255.0".parse().expect("mask"))),
                ..ServiceParams::new(Scheduler::Sed)
            },
        },
        IpvsCommand::EditDest {
            key,
            dest: "10.1.0.2:80".parse().expect("dest"),
            params: DestParams::quiesced(Forwarding::Masq),
        },
        IpvsCommand::EditDest {
            key,
            dest: "10.1.0.3:80".parse().expect("dest"),
            params: dest(Forwarding::Masq, 5, 20, 10),
        },
        IpvsCommand::EditService {
            key: fwm6,
            params: ServiceParams {
                persistent: Some(30),
                netmask: Some(Netmask::V6Prefix(48)),
                ..ServiceParams::new(Scheduler::Dh)
            },
        },
        IpvsCommand::DelDest {
            key: fwm6,
            dest: "[2001:db8::9]:0".parse().expect("dest"),
        },
    ])
    .expect("edits");
    let save = ipvsadm(&["-Sn"]);
    assert_eq!(
        save,
        "-A -t 10.1.0.1:80 -s sed -p 900 -M 255.255.255.0\n\
         -a -t 10.1.0.1:80 -r 10.1.0.2:80 -m -w 0\n\
         -a -t 10.1.0.1:80 -r 10.1.0.3:80 -m -w 5\n\
         -A -f 9 -6 -s dh -p 30 -M 48\n"
    );
    assert!(ipvsadm(&["-Ln", "--thresholds"])
        .contains("  -> 10.1.0.3:80                  20         10"));
    k.apply(&[
        IpvsCommand::DeleteService { key },
        IpvsCommand::DeleteService { key: fwm6 },
    ])
    .expect("deletes");
    assert_eq!(ipvsadm(&["-Sn"]), "");
}

/// The model of what ipvsadm programmed: the same commands on a [`Table`].
fn model(cmds: &[IpvsCommand]) -> Table {
    let mut t = Table::default();
    for c in cmds {
        t.apply(c).expect("model accepts the varied table");
    }
    // What the kernel stores: gate/ipip destinations of address services
    // under the service's port.
    for (key, s) in &mut t.services {
        if let VirtualAddr::Inet { addr, .. } = key {
            let port = addr.port();
            s.dests = std::mem::take(&mut s.dests)
                .into_iter()
                .map(|(d, p)| match p.forward {
                    Forwarding::Gate | Forwarding::Ipip => (SocketAddr::new(d.ip(), port), p),
                    Forwarding::Masq => (d, p),
                })
                .collect::<BTreeMap<_, _>>();
        }
    }
    t
}

#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_read_round_trips_ipvsadm() {
    let _clean = Clean::new();
    let cmds = varied();
    ipvsadm_restore(&cmds);
    let mut k = KernelBackend::open().expect("open kernel backend");
    assert_eq!(k.read().expect("read"), model(&cmds));
    let snap = k.snapshot().expect("snapshot");
    for s in &snap.services {
        for d in &s.dests {
            assert_eq!(
                (d.active_conns, d.inactive_conns, d.persist_conns),
                (0, 0, 0)
            );
        }
    }
}

#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_listing_is_ipvsadms_byte_for_byte() {
    let _clean = Clean::new();
    ipvsadm_restore(&varied());
    let mut k = KernelBackend::open().expect("open kernel backend");
    let info = k.info().expect("info");
    for (format, args) in [
        (ListFormat::Plain, &["-Ln"][..]),
        (ListFormat::Stats, &["-Ln", "--stats"][..]),
        (ListFormat::Rate, &["-Ln", "--rate"][..]),
    ] {
        let ours = render_with_info(&k.snapshot().expect("snapshot"), format, info);
        assert_eq!(ours, ipvsadm(args), "{format:?}");
    }
}

fn refusal(e: &BackendError) -> Option<&IpvsError> {
    match e {
        BackendError::Refused { error, .. } => Some(error),
        _ => None,
    }
}

#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_refusals_map_like_ipvsadm() {
    let _clean = Clean::new();
    let mut k = KernelBackend::open().expect("open kernel backend");
    let key = tcp("10.2.0.1:80");
    let missing = tcp("10.2.0.9:80");
    let d = "10.2.0.2:80";
    let p = dest(Forwarding::Masq, 1, 0, 0);
    let batch = [
        add(key, ServiceParams::new(Scheduler::Rr)), // 0 ok
        add(key, ServiceParams::new(Scheduler::Rr)), // 1 exists
        add_dest(missing, d, p),                     // 2 no service
        add_dest(key, d, p),                         // 3 ok
        add_dest(key, d, p),                         // 4 exists
        IpvsCommand::EditDest {
            key,
            dest: "10.2.0.3:80".parse().expect("dest"),
            params: p,
        }, // 5 no dest
        IpvsCommand::DelDest {
            key,
            dest: "10.2.0.3:80".parse().expect("dest"),
        }, // 6 no dest
        IpvsCommand::DeleteService { key: missing }, // 7 no service
        IpvsCommand::EditService {
            key: missing,
            params: ServiceParams::new(Scheduler::Rr),
        }, // 8 no service
        add(tcp("10.2.0.4:80"), ServiceParams::new(Scheduler::Twos)), // 9 no such scheduler in 6.1
        add_dest(key, "10.2.0.5:80", p),             // 10 ok: failures do not stop the batch
    ];
    let err = k.apply(&batch).expect_err("refusals");
    let got: Vec<(usize, Option<&IpvsError>)> =
        err.failures.iter().map(|(i, e)| (*i, refusal(e))).collect();
    assert_eq!(
        got,
        [
            (1, Some(&IpvsError::ServiceExists)),
            (2, Some(&IpvsError::NoSuchService)),
            (4, Some(&IpvsError::DestExists)),
            (5, Some(&IpvsError::NoSuchDest)),
            (6, Some(&IpvsError::NoSuchDest)),
            (7, Some(&IpvsError::NoSuchService)),
            (8, Some(&IpvsError::NoSuchService)),
            (9, None),
        ]
    );
    let sched = err
        .failures
        .last()
        .map(|f| f.1.to_string())
        .unwrap_or_default();
    assert!(
        sched.contains("Scheduler or persistence engine not found"),
        "{sched}"
    );
    assert_eq!(
        ipvsadm(&["-Sn"]),
        "-A -t 10.2.0.1:80 -s rr\n\
         -a -t 10.2.0.1:80 -r 10.2.0.2:80 -m -w 1\n\
         -a -t 10.2.0.1:80 -r 10.2.0.5:80 -m -w 1\n"
    );
}

/// 10,000 destinations in one batch: every one lands (timing is the
/// bench's business, see benches/program_dests.rs).
#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_ten_thousand_dests_in_one_batch() {
    let _clean = Clean::new();
    let mut k = KernelBackend::open().expect("open kernel backend");
    let key = tcp("10.3.0.1:80");
    let mut cmds = vec![add(key, ServiceParams::new(Scheduler::Wrr))];
    for i in 0..10_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0a40_0000 + i);
        cmds.push(IpvsCommand::AddDest {
            key,
            dest: SocketAddr::new(ip.into(), 8080),
            params: dest(Forwarding::Masq, 1 + i % 7, 0, 0),
        });
    }
    k.apply(&cmds).expect("10,000 destinations");
    let t = k.read().expect("read");
    assert_eq!(t, model(&cmds));
    let listed = ipvsadm(&["-Ln"])
        .lines()
        .filter(|l| l.starts_with("  -> 10."))
        .count();
    assert_eq!(listed, 10_000);
}

fn ip(args: &str) {
    let ok = Command::new("ip")
        .args(args.split(' '))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {args}");
}

/// A dummy link for the test's addresses, deleted at the end.
struct Dummy(&'static str);

impl Drop for Dummy {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).status();
    }
}

/// Real traffic (UDP from local sockets through a NAT service; the replies
/// never come, the real servers are addresses on a dummy link): counters,
/// connection counts and rates read through netlink list exactly as
/// ipvsadm lists them.
#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_counters_and_rates_match_ipvsadm() {
    let _clean = Clean::new();
    ip("link add ldk0 type dummy");
    let _dummy = Dummy("ldk0");
    ip("addr add 10.9.0.1/24 dev ldk0");
    ip("link set ldk0 up");
    let key = inet(Protocol::Udp, "10.9.0.100:5353");
    let mut k = KernelBackend::open().expect("open kernel backend");
    k.apply(&[
        add(key, ServiceParams::new(Scheduler::Rr)),
        add_dest(key, "10.9.0.2:5353", dest(Forwarding::Masq, 1, 0, 0)),
        add_dest(key, "10.9.0.3:5353", dest(Forwarding::Masq, 1, 0, 0)),
    ])
    .expect("service");
    let vip: SocketAddr = "10.9.0.100:5353".parse().expect("vip");
    for _ in 0..51 {
        let sock = std::net::UdpSocket::bind("10.9.0.1:0").expect("bind");
        for _ in 0..4 {
            sock.send_to(&[0x5a; 100], vip).expect("send");
        }
    }
    // The kernel folds its per-CPU counters into what it reports on each
    // estimator tick (every 2 s): poll until the burst shows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let snap = loop {
        let snap = k.snapshot().expect("snapshot");
        let s = snap.services.first().expect("the service").stats;
        if (s.conns, s.inpkts) == (51, 204) {
            break snap;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "counters stuck at {s:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let s = snap.services.first().expect("the service");
    assert_eq!(s.stats.outpkts, 0);
    assert_eq!(s.stats.inbytes, 204 * 128, "IP + UDP headers + payload");
    let inact: Vec<u32> = s.dests.iter().map(|d| d.inactive_conns).collect();
    assert_eq!(inact.iter().sum::<u32>(), 51, "{inact:?}");
    let info = k.info().expect("info");
    for (format, args) in [
        (ListFormat::Plain, &["-Ln"][..]),
        (ListFormat::Stats, &["-Ln", "--stats"][..]),
    ] {
        assert_eq!(
            render_with_info(&snap, format, info),
            ipvsadm(args),
            "{format:?}"
        );
    }
    // Rates move on every tick: compare again when one fell between our
    // read and ipvsadm's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut last = (String::new(), String::new());
    loop {
        let snap = k.snapshot().expect("snapshot");
        let ticked = snap.services.iter().any(|s| s.stats.inbps > 0);
        let ours = render_with_info(&snap, ListFormat::Rate, info);
        let theirs = ipvsadm(&["-Ln", "--rate"]);
        if ticked && ours == theirs {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "--rate never matched (estimator ticked: {ticked})\nours:\n{}\nipvsadm:\n{}",
            last.0,
            last.1
        );
        last = (ours, theirs);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `open` loads `ip_vs` when the kernel lacks it (as ipvsadm does), and is
/// `Unavailable`, not an error later, without CAP_NET_ADMIN.
#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_open_loads_ip_vs_and_needs_cap_net_admin() {
    let _clean = Clean::new();
    // Schedulers use ip_vs: out first.
    let modules = std::fs::read_to_string("/proc/modules").expect("/proc/modules");
    let mut ours: Vec<&str> = modules
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|m| m.starts_with("ip_vs_"))
        .collect();
    ours.push("ip_vs");
    for m in ours {
        let ok = Command::new("rmmod")
            .arg(m)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "rmmod {m}");
    }
    assert!(!std::path::Path::new("/sys/module/ip_vs").exists());

    let mut k = KernelBackend::open().expect("open loads ip_vs");
    assert!(std::path::Path::new("/sys/module/ip_vs").exists());
    k.apply(&[add(tcp("10.4.0.1:80"), ServiceParams::new(Scheduler::Rr))])
        .expect("usable right away");

    // Credentials are per thread for the kernel: a thread that gave up
    // root (raw setresuid, not glibc's process-wide one) has no
    // CAP_NET_ADMIN.
    let unprivileged = std::thread::spawn(|| {
        // SAFETY: plain syscall on this thread's credentials.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
        assert_eq!(rc, 0, "setresuid");
        KernelBackend::open().err().map(|e| e.to_string())
    })
    .join()
    .expect("thread");
    let why = unprivileged.expect("open without CAP_NET_ADMIN must fail");
    assert!(
        why.starts_with("kernel backend unavailable: permission denied"),
        "{why}"
    );
}

/// ipvsadm's expire column (`mm:ss`, ticking) blanked.
fn mask_expire(listing: &str) -> String {
    listing
        .lines()
        .map(|l| match (l.get(..4), l.get(10..)) {
            (Some(pro), Some(rest)) if l.get(6..7) == Some(":") || l.get(7..8) == Some(":") => {
                format!("{pro}--:-- {rest}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Connections through NAT services (a TCP SYN the unreachable real server
/// never answers, UDP datagrams, IPv4 and IPv6, persistence templates)
/// list exactly as `ipvsadm -Lcn` lists them.
#[test]
#[ignore = "needs kernel IPVS: run inside the guest by in_guest"]
fn guest_connections_list_like_ipvsadm() {
    let _clean = Clean::new();
    let _ = Command::new("modprobe").arg("ipv6").status();
    ip("link add ldc0 type dummy");
    let _dummy = Dummy("ldc0");
    ip("addr add 10.19.0.1/24 dev ldc0");
    ip("-6 addr add 2001:db8:19::1/64 dev ldc0 nodad");
    ip("link set ldc0 up");
    let web = tcp("10.19.0.100:80");
    let dns = inet(Protocol::Udp, "10.19.0.100:5353");
    let dns6 = inet(Protocol::Udp, "[2001:db8:19::100]:53");
    let mut k = KernelBackend::open().expect("open kernel backend");
    k.apply(&[
        add(
            web,
            ServiceParams {
                persistent: Some(360),
                netmask: Some(Netmask::V4("255.255.255.0".parse().expect("mask"))),
                ..ServiceParams::new(Scheduler::Rr)
            },
        ),
        add_dest(web, "10.19.0.2:80", dest(Forwarding::Masq, 1, 0, 0)),
        add(dns, ServiceParams::new(Scheduler::Rr)),
        add_dest(dns, "10.19.0.3:5353", dest(Forwarding::Masq, 1, 0, 0)),
        add(
            dns6,
            ServiceParams {
                persistent: Some(30),
                ..ServiceParams::new(Scheduler::Rr)
            },
        ),
        add_dest(dns6, "[2001:db8:19::2]:53", dest(Forwarding::Masq, 1, 0, 0)),
    ])
    .expect("services");
    // The real server never answers: the connect times out, the entry
    // stays in SYN_RECV.
    let _ = std::net::TcpStream::connect_timeout(
        &"10.19.0.100:80".parse().expect("vip"),
        std::time::Duration::from_millis(300),
    );
    for (from, to) in [
        ("10.19.0.1:0", "10.19.0.100:5353"),
        ("[2001:db8:19::1]:0", "[2001:db8:19::100]:53"),
    ] {
        let sock = std::net::UdpSocket::bind(from).expect("bind");
        sock.send_to(b"hello", to).expect("send");
    }
    let ours: Vec<_> = k
        .connections()
        .expect("connections")
        .into_iter()
        .filter(|e| e.virtual_addr.ip().to_string().contains("19"))
        .collect();
    let states: BTreeMap<String, usize> = ours.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(format!("{} {} {}", e.protocol, e.virtual_addr, e.state))
            .or_default() += 1;
        m
    });
    let want: BTreeMap<String, usize> = [
        "TCP 10.19.0.100:80 SYN_RECV",
        "TCP 10.19.0.100:80 NONE",
        "UDP 10.19.0.100:5353 UDP",
        "UDP [2001:db8:19::100]:53 UDP",
        "UDP [2001:db8:19::100]:53 NONE",
    ]
    .into_iter()
    .map(|s| (s.to_string(), 1))
    .collect();
    assert_eq!(states, want, "{ours:#?}");
    let template = ours
        .iter()
        .find(|e| e.state.name() == "NONE" && e.protocol.name() == "TCP")
        .expect("TCP template");
    assert_eq!(template.client, "10.19.0.0:0".parse().expect("addr"));
    assert!(template.expires > std::time::Duration::from_secs(300));

    // The whole listing, expiry aside, byte for byte (and the same list:
    // both read the kernel's hash table in its order).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mine = ldirector::backend::listing::render_connections(
            &k.connections().expect("connections"),
            true,
        );
        let theirs = ipvsadm(&["-Lcn"]);
        if mine == theirs {
            break;
        }
        // A second ticked between the two reads.
        if std::time::Instant::now() > deadline {
            assert_eq!(mask_expire(&mine), mask_expire(&theirs));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
