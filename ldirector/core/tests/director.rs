//! The director core against ldirectord 4.12's documented command sequences
//! (reference §4.3, §5, §6) with a simulated kernel table and servers.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ldirector::config::{parse, Config, ParseOptions, StaticResolver, VirtualAddr};
use ldirector::director::*;
use ldirector::ipvs::Table;

fn load(name: &str) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("test data");
    let r = StaticResolver::offline();
    parse(
        &path,
        &text,
        &ParseOptions {
            resolver: &r,
            hostname: "director1",
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn text_config(text: &str) -> Config {
    let r = StaticResolver::offline();
    parse(
        Path::new("t.cf"),
        text,
        &ParseOptions {
            resolver: &r,
            hostname: "director1",
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[derive(Clone, Copy, PartialEq)]
enum Health {
    Up,
    Down,
    /// Accepts and never answers: only the deadline ends the check.
    Hang,
}

/// Simulated servers + kernel around one director.
struct World {
    d: Director,
    kernel: Table,
    t0: Instant,
    now: Instant,
    health: HashMap<IpAddr, Health>,
    /// Every IPVS command as ipvsadm arguments, since the last `take_ipvsadm`.
    ipvsadm: Vec<String>,
    fallback: Vec<String>,
    events: Vec<String>,
    running: Vec<CheckRequest>,
    started: Vec<CheckRequest>,
}

impl World {
    fn new(config: Config, kernel: Table) -> World {
        let now = Instant::now();
        let d = Director::new(config, now, kernel.clone());
        let mut w = World {
            d,
            kernel,
            t0: now,
            now,
            health: HashMap::new(),
            ipvsadm: Vec::new(),
            fallback: Vec::new(),
            events: Vec::new(),
            running: Vec::new(),
            started: Vec::new(),
        };
        w.pump();
        w
    }

    fn set(&mut self, addrs: &[&str], h: Health) {
        for a in addrs {
            self.health.insert(a.parse().expect("ip"), h);
        }
    }

    fn pump(&mut self) {
        while let Some(a) = self.d.poll_action() {
            match a {
                Action::Ipvs(cmd) => {
                    if let Err(e) = self.kernel.apply(&cmd) {
                        panic!("kernel refused {cmd}: {e}");
                    }
                    self.ipvsadm.push(cmd.to_string());
                }
                Action::StartCheck(req) => {
                    self.started.push(req.clone());
                    self.running.push(req);
                }
                Action::CancelCheck { id, attempt } => self
                    .running
                    .retain(|r| !(r.id == id && r.attempt == attempt)),
                Action::Fallback(f) => self.fallback.push(f.command_line),
            }
        }
        while let Some(e) = self.d.poll_event() {
            self.events.push(e.to_string());
        }
    }

    /// Answer every running check whose server answers; hung ones stay.
    fn answer(&mut self) {
        let running = std::mem::take(&mut self.running);
        for r in running {
            match self.health.get(&r.spec.addr).copied().unwrap_or(Health::Up) {
                Health::Hang => self.running.push(r),
                h => {
                    let out = if h == Health::Up {
                        CheckOutcome::Up
                    } else {
                        CheckOutcome::Down
                    };
                    self.d.handle_check_result(self.now, r.id, r.attempt, out);
                }
            }
        }
        self.pump();
    }

    /// Advance the clock to the core's next deadline, run it, answer checks.
    fn step(&mut self) {
        let t = self.d.poll_timeout().expect("core has a timer");
        assert!(t >= self.now, "timer in the past");
        self.now = t;
        self.d.handle_timeout(self.now);
        self.pump();
        self.answer();
    }

    /// Run until `until` has passed (simulated time).
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.d.poll_timeout().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = end;
    }

    fn take_ipvsadm(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ipvsadm)
    }

    fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
    }

    fn listing(&self) -> String {
        assert_eq!(&self.kernel, self.d.table(), "belief == kernel");
        self.kernel.listing()
    }
}

const V100: &str = "127.0.0.100:80";

#[test]
fn lifecycle_scenario_matches_reference_section_5() {
    let mut w = World::new(load("ldref-scn-step0.cf"), Table::default());
    w.set(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], Health::Up);
    w.run_for(Duration::from_millis(500));
    // Step 1: ldirectord needs 13 commands (the flap); the result is the same table.
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-A -t 127.0.0.100:80 -s wrr",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.3:8080 -m -w 2",
        ]
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.0.2:8080 Masq 1\n  -> 127.0.0.3:8080 Masq 2\n"
    );
    w.take_events();

    // Step 2: kill .2 (quiescent=yes) — the very command ldirectord issues.
    w.set(&["127.0.0.2"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-e -t 127.0.0.100:80 -r 127.0.0.2:8080 -m -w 0"]
    );
    assert_eq!(
        w.take_events(),
        vec!["Quiescent real server: 127.0.0.2:8080 (127.0.0.100:80) (Weight set to 0)"]
    );

    // Step 3: back.
    w.set(&["127.0.0.2"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1"]
    );
    assert_eq!(
        w.take_events(),
        vec![
            "Resetting soft failure count: 127.0.0.2:8080 (tcp:127.0.0.100:80)",
            "Restored real server: 127.0.0.2:8080 (127.0.0.100:80) (Weight set to 1)"
        ]
    );

    // Step 4: both die → fallback.
    w.set(&["127.0.0.2", "127.0.0.3"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-e -t 127.0.0.100:80 -r 127.0.0.2:8080 -m -w 0",
            "-e -t 127.0.0.100:80 -r 127.0.0.3:8080 -m -w 0",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.1:80 -g -w 1",
        ]
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.0.1:80 Route 1\n  -> 127.0.0.2:8080 Masq 0\n  -> 127.0.0.3:8080 Masq 0\n"
    );
    assert!(w.take_events().contains(
        &"Added fallback server: 127.0.0.1:80 (127.0.0.100:80) (Weight set to 1)".to_string()
    ));

    // Step 5: both back → fallback removed after the first restore.
    w.set(&["127.0.0.2", "127.0.0.3"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1",
            "-d -t 127.0.0.100:80 -r 127.0.0.1:80",
            "-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.3:8080 -m -w 2",
        ]
    );

    // Step 6: reload (quiescent=no, .3 weight 5, new .4, wlc). ldirectord also
    // flaps .4 (-a, -d, -a); we add it once, after its first check.
    let checks_before = w.started.len();
    w.d.reload(w.now, load("ldref-scn-step6.cf"));
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-E -t 127.0.0.100:80 -s wlc",
            "-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.3:8080 -m -w 5",
        ]
    );
    w.answer();
    assert_eq!(
        w.started.len(),
        checks_before,
        "unchanged checks keep their schedule"
    );
    w.run_for(Duration::from_millis(100));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.4:8080 -m -w 1"]
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wlc\n  -> 127.0.0.2:8080 Masq 1\n  -> 127.0.0.3:8080 Masq 5\n  -> 127.0.0.4:8080 Masq 1\n"
    );

    // Step 7/8: quiescent=no deletes and re-adds.
    w.set(&["127.0.0.2"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.0.2:8080"]
    );
    w.set(&["127.0.0.2"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1"]
    );

    // Step 9: all die.
    w.set(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-d -t 127.0.0.100:80 -r 127.0.0.2:8080",
            "-d -t 127.0.0.100:80 -r 127.0.0.3:8080",
            "-d -t 127.0.0.100:80 -r 127.0.0.4:8080",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.1:80 -g -w 1",
        ]
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wlc\n  -> 127.0.0.1:80 Route 1\n"
    );

    // Step 10: all back.
    w.set(&["127.0.0.2", "127.0.0.3", "127.0.0.4"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1",
            "-d -t 127.0.0.100:80 -r 127.0.0.1:80",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.3:8080 -m -w 5",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.4:8080 -m -w 1",
        ]
    );

    // Step 11: only virtual 127.0.0.101:80 remains. The .2 check is unchanged,
    // so its known state applies at once.
    w.take_events();
    w.d.reload(w.now, load("ldref-scn-step11.cf"));
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-A -t 127.0.0.101:80 -s wrr",
            "-D -t 127.0.0.100:80",
            "-a -t 127.0.0.101:80 -x 0 -y 0 -r 127.0.0.2:8080 -m -w 1",
        ]
    );
    assert_eq!(
        w.take_events(),
        vec![
            "Added virtual server: 127.0.0.101:80",
            "Purged virtual server (start): 127.0.0.100:80",
            "Added real server: 127.0.0.2:8080 (127.0.0.101:80) (Weight set to 1)",
        ]
    );
    assert_eq!(w.d.check_count(), 1);
    assert!(
        w.running
            .iter()
            .all(|r| r.spec.addr == "127.0.0.2".parse::<IpAddr>().unwrap()),
        "checks of removed reals were cancelled"
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.101:80 wrr\n  -> 127.0.0.2:8080 Masq 1\n"
    );

    // Step 12: stop with cleanstop → empty table.
    w.d.stop();
    w.pump();
    assert_eq!(w.take_ipvsadm(), vec!["-D -t 127.0.0.101:80"]);
    assert_eq!(
        w.take_events(),
        vec![
            "Purged real server (stop): 127.0.0.2:8080 (127.0.0.101:80)",
            "Purged virtual server (stop): 127.0.0.101:80"
        ]
    );
    assert_eq!(w.listing(), "");
    assert!(w.running.is_empty());
    assert_eq!(w.d.poll_timeout(), None);
}

#[test]
fn no_flap_at_start_a_real_enters_after_its_first_result() {
    let mut w = World::new(load("ldref-scn-step0.cf"), Table::default());
    assert_eq!(w.take_ipvsadm(), vec!["-A -t 127.0.0.100:80 -s wrr"]);
    assert!(w.fallback.is_empty());
    // Checks were requested at once, concurrently, with their own deadlines.
    w.d.handle_timeout(w.now);
    w.pump();
    assert_eq!(w.running.len(), 2);
    assert!(w
        .running
        .iter()
        .all(|r| r.deadline == w.now + Duration::from_secs(3)));
    assert!(w.take_ipvsadm().is_empty(), "nothing until a result");
    // .3 answers first and fails; .2 still pending: quiesced .3 enters at
    // weight 0, no fallback yet (a real is still pending).
    let (r2, r3) = (w.running[0].clone(), w.running[1].clone());
    assert_eq!(r3.spec.addr, "127.0.0.3".parse::<IpAddr>().unwrap());
    w.d.handle_check_result(w.now, r3.id, r3.attempt, CheckOutcome::Down);
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 127.0.0.100:80 -r 127.0.0.3:8080 -m -w 0"]
    );
    w.d.handle_check_result(w.now, r2.id, r2.attempt, CheckOutcome::Down);
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-a -t 127.0.0.100:80 -r 127.0.0.2:8080 -m -w 0",
            "-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.0.1:80 -g -w 1"
        ]
    );
    // Stale or duplicate results are ignored.
    w.d.handle_check_result(w.now, r2.id, r2.attempt, CheckOutcome::Up);
    w.pump();
    assert!(w.take_ipvsadm().is_empty());
}

#[test]
fn f1_failurecount_three_soft_failures_then_delete() {
    let mut w = World::new(load("ldref-F1.cf"), Table::default());
    w.set(&["127.0.2.1", "127.0.2.2"], Health::Up);
    w.run_for(Duration::from_millis(10));
    w.take_ipvsadm();
    w.take_events();
    w.set(&["127.0.2.1"], Health::Down);
    // Checks start `checkinterval` after the previous one completed: t = 1, 2, 3 s.
    w.run_for(Duration::from_millis(3100));
    assert_eq!(
        w.take_events(),
        vec![
            "Soft failure real server: 127.0.2.1:8080 (tcp:127.0.0.100:80) failure 1/3",
            "Soft failure real server: 127.0.2.1:8080 (tcp:127.0.0.100:80) failure 2/3",
            "Deleted real server: 127.0.2.1:8080 (127.0.0.100:80)",
        ]
    );
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.2.1:8080"]
    );
    w.set(&["127.0.2.1"], Health::Up);
    w.run_for(Duration::from_millis(1100));
    assert_eq!(
        w.take_events(),
        vec![
            "Resetting soft failure count: 127.0.2.1:8080 (tcp:127.0.0.100:80)",
            "Added real server: 127.0.2.1:8080 (127.0.0.100:80) (Weight set to 1)",
        ]
    );
}

#[test]
fn f2_combined_checktype_runs_n_c_c_c_n() {
    let mut w = World::new(load("ldref-F2.cf"), Table::default());
    w.run_for(Duration::from_millis(8500));
    let kinds: Vec<&str> = w
        .started
        .iter()
        .map(|r| match r.kind {
            AttemptKind::Full => "N",
            AttemptKind::Connect => "C",
        })
        .collect();
    assert_eq!(kinds.join(""), "NCCCNCCCN");
    // A failed connect forces the next check to be a negotiate one.
    w.set(&["127.0.2.1"], Health::Down);
    w.started.clear();
    w.run_for(Duration::from_millis(2500));
    let kinds: Vec<AttemptKind> = w.started.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        vec![AttemptKind::Connect, AttemptKind::Full, AttemptKind::Full]
    );
    // A negotiate spec carries what LWP needs.
    match &w.started[1].spec.method {
        CheckMethod::Negotiate(n) => {
            assert_eq!(
                (n.request.as_str(), n.receive.as_str()),
                ("/index.html", "ldirectord-ok")
            )
        }
        m => panic!("unexpected {m:?}"),
    }
}

#[test]
fn f3_fallback_masq_and_fallbackcommand() {
    let mut w = World::new(load("ldref-F3.cf"), Table::default());
    w.set(&["127.0.2.1", "127.0.2.2"], Health::Up);
    w.run_for(Duration::from_millis(10));
    // ldirectord ran start,stop ×3 during its flap; we run the final word once.
    assert_eq!(
        w.fallback,
        vec!["\"/tmp/ldref/features/F3/fbcmd.sh\" stop 127.0.0.100:80 tcp"]
    );
    w.set(&["127.0.2.1", "127.0.2.2"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.0.1:80 Masq 1\n  -> 127.0.2.1:8080 Masq 0\n  -> 127.0.2.2:8080 Masq 0\n"
    );
    w.set(&["127.0.2.1", "127.0.2.2"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.2.1:8080 Masq 1\n  -> 127.0.2.2:8080 Masq 1\n"
    );
    assert_eq!(
        w.fallback[1..],
        [
            "\"/tmp/ldref/features/F3/fbcmd.sh\" start 127.0.0.100:80 tcp",
            "\"/tmp/ldref/features/F3/fbcmd.sh\" stop 127.0.0.100:80 tcp"
        ]
    );
}

#[test]
fn f4_maintenancedir_drains_and_returns() {
    let mut w = World::new(load("ldref-F4.cf"), Table::default());
    w.run_for(Duration::from_millis(10));
    w.take_ipvsadm();
    let files: BTreeSet<String> = ["127.0.2.1:8080".to_string()].into();
    w.d.set_maintenance(&files, &HashMap::new());
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.2.1:8080"]
    );
    w.run_for(Duration::from_secs(3));
    assert!(
        w.take_ipvsadm().is_empty(),
        "checks do not restore it while in maintenance"
    );
    let files: BTreeSet<String> = ["127.0.2.2".to_string()].into();
    w.d.set_maintenance(&files, &HashMap::new());
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.2.2:8080"]
    );
    w.run_for(Duration::from_millis(1100));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.2.1:8080 -m -w 1"]
    );
    // By reverse name (short form) too.
    let names: HashMap<IpAddr, String> =
        [("127.0.2.1".parse().unwrap(), "web1.example.com".to_string())].into();
    let files: BTreeSet<String> = ["web1".to_string()].into();
    w.d.set_maintenance(&files, &names);
    w.pump();
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.2.1:8080"]
    );
    // 127.0.2.2's file is gone: its next good check restores it.
    w.run_for(Duration::from_millis(1100));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.2.2:8080 -m -w 1"]
    );
}

#[test]
fn f6_external_arguments_and_gate_port() {
    let mut w = World::new(load("ldref-F6.cf"), Table::default());
    w.set(&["127.0.2.2"], Health::Down);
    w.run_for(Duration::from_millis(10));
    let args: Vec<[String; 4]> = w
        .started
        .iter()
        .map(|r| match &r.spec.method {
            CheckMethod::External { command, args } => {
                assert_eq!(command, "/tmp/ldref/features/F6/check.sh");
                args.clone()
            }
            m => panic!("unexpected {m:?}"),
        })
        .collect();
    assert_eq!(
        args,
        vec![
            ["127.0.0.100", "80", "127.0.2.1", "8080"].map(String::from),
            ["127.0.0.100", "80", "127.0.2.2", "8080"].map(String::from)
        ]
    );
    assert_eq!(
        w.started[0].deadline,
        w.t0 + Duration::from_secs(2),
        "checktimeout"
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.2.1:80 Route 1\n"
    );
}

#[test]
fn f7_gate_real_with_other_port_is_tracked_at_the_stored_port() {
    // ldirectord 4.12 leaves this real at weight 0 forever; we restore it.
    let mut w = World::new(load("ldref-F7.cf"), Table::default());
    w.run_for(Duration::from_millis(10));
    assert_eq!(
        w.take_ipvsadm()[1..],
        ["-a -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.2.1:80 -g -w 1"]
    );
    w.set(&["127.0.2.1"], Health::Down);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-e -t 127.0.0.100:80 -r 127.0.2.1:80 -g -w 0"]
    );
    w.set(&["127.0.2.1"], Health::Up);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-e -t 127.0.0.100:80 -x 0 -y 0 -r 127.0.2.1:80 -g -w 1"]
    );
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.2.1:80 Route 1\n"
    );
}

#[test]
fn f8_start_commands_and_table() {
    let mut w = World::new(load("ldref-F8.cf"), Table::default());
    assert_eq!(
        w.take_ipvsadm(),
        vec![
            "-A -f 7 -s sh -p 600 -M 255.255.255.0 -b sh-port",
            "-A -u 127.0.0.100:53 -o -s wrr",
            "-A -t 127.0.0.100:443 -s wrr",
            "-A -t [2001:db8::100]:80 -s wrr -p 60 -M 64",
            "-a -f 7 -x 0 -y 0 -r 127.0.2.1:0 -g -w 2",
            "-a -f 7 -x 0 -y 0 -r 127.0.2.2:0 -i -w 1",
            "-a -u 127.0.0.100:53 -x 0 -y 0 -r 127.0.2.1:53 -m -w 1",
            "-a -u 127.0.0.100:53 -x 100 -y 10 -r 127.0.2.2:5353 -m -w 2",
            "-a -t [2001:db8::100]:80 -x 0 -y 0 -r [2001:db8::2]:8080 -m -w 1",
        ]
    );
    assert_eq!(w.d.check_count(), 0, "checktype on/off run no checks");
    assert_eq!(w.d.poll_timeout(), None);
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:443 wrr\n\
         TCP  [2001:db8::100]:80 wrr persistent 60 mask 64\n  -> [2001:db8::2]:8080 Masq 1\n\
         UDP  127.0.0.100:53 wrr ops\n  -> 127.0.2.1:53 Masq 1\n  -> 127.0.2.2:5353 Masq 2\n\
         FWM  7 sh (sh-port) persistent 600 mask 255.255.255.0\n  -> 127.0.2.1:0 Route 2\n  -> 127.0.2.2:0 Tunnel 1\n"
    );
}

#[test]
fn f9_one_check_for_the_same_real_in_two_virtuals() {
    let mut w = World::new(load("ldref-F9.cf"), Table::default());
    assert_eq!(w.d.check_count(), 1);
    w.run_for(Duration::from_millis(4500));
    assert_eq!(w.started.len(), 5, "one check per interval, not two");
    w.set(&["127.0.2.1"], Health::Down);
    w.run_for(Duration::from_secs(1));
    assert_eq!(
        w.take_events()[4..],
        [
            "Deleted real server: 127.0.2.1:8080 (127.0.0.100:80)",
            "Deleted real server: 127.0.2.1:8080 (127.0.0.101:80)"
        ]
    );
}

#[test]
fn f11_quiescent_start_table() {
    let mut w = World::new(load("ldref-F11.cf"), Table::default());
    w.set(&["127.0.2.2"], Health::Down);
    w.run_for(Duration::from_millis(10));
    assert_eq!(
        w.listing(),
        "TCP  127.0.0.100:80 wrr\n  -> 127.0.2.1:8080 Masq 1\n  -> 127.0.2.2:8080 Masq 0\n"
    );
}

#[test]
fn timeout_demo_a_hung_server_delays_nobody() {
    let mut w = World::new(load("ldref-timeout.cf"), Table::default());
    w.set(&["127.0.5.1"], Health::Hang);
    w.run_for(Duration::from_millis(4100));
    // ldirectord: rounds every 4.03 s. Here every healthy real was checked at
    // t = 0, 1, 2, 3, 4 s while the hung one waited for its 3 s deadline.
    let per_addr = |a: &str| {
        let a: IpAddr = a.parse().unwrap();
        w.started.iter().filter(|r| r.spec.addr == a).count()
    };
    assert_eq!(per_addr("127.0.4.7"), 5);
    assert_eq!(
        per_addr("127.0.5.1"),
        2,
        "t=0, timeout at 3 s, again at 4 s"
    );
    assert!(
        w.events
            .contains(&"Deleted real server: 127.0.5.1:8080 (127.0.0.100:80)".to_string())
            || !w.kernel.listing().contains("127.0.5.1")
    );
    assert!(!w.listing().contains("127.0.5.1"));
    assert_eq!(w.listing().matches("Masq 1").count(), 20);
}

#[test]
fn start_adopts_the_existing_table() {
    // Same virtual already in the kernel (another daemon, a restart): no -A,
    // the stray real is purged, the live one is kept without a command.
    let mut kernel = Table::default();
    let k: VirtualAddr = VirtualAddr::Inet {
        protocol: ldirector::config::Protocol::Tcp,
        addr: V100.parse().unwrap(),
    };
    use ldirector::ipvs::{DestParams, IpvsCommand, ServiceParams};
    kernel
        .apply(&IpvsCommand::AddService {
            key: k,
            params: ServiceParams {
                scheduler: ldirector::config::Scheduler::Wrr,
                persistent: None,
                netmask: None,
                schedflags: None,
                ops: false,
            },
        })
        .unwrap();
    for a in ["127.0.0.2:8080", "127.0.0.9:8080"] {
        kernel
            .apply(&IpvsCommand::AddDest {
                key: k,
                dest: a.parse().unwrap(),
                params: DestParams {
                    forward: ldirector::config::Forwarding::Masq,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                },
            })
            .unwrap();
    }
    let cfg = text_config("checkinterval=1\nvirtual=127.0.0.100:80\n\treal=127.0.0.2:8080 masq\n\tchecktype=connect\n");
    let mut w = World::new(cfg, kernel);
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.0.9:8080"]
    );
    assert_eq!(
        w.take_events(),
        vec!["Purged real server (start): 127.0.0.9:8080 (127.0.0.100:80)"]
    );
    assert_eq!(
        w.d.real_state(&k, &"127.0.0.2:8080".parse().unwrap()),
        Some(RealState::Up)
    );
    w.set(&["127.0.0.2"], Health::Down);
    w.run_for(Duration::from_millis(10));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-d -t 127.0.0.100:80 -r 127.0.0.2:8080"]
    );
}

#[test]
fn risecount_extension_needs_consecutive_successes() {
    let cfg = text_config(
        "checkinterval=1\nrisecount=3\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq\n\tchecktype=connect\n",
    );
    let mut w = World::new(cfg, Table::default());
    w.run_for(Duration::from_millis(1500));
    assert_eq!(w.take_ipvsadm().len(), 1, "only -A after two good checks");
    w.run_for(Duration::from_secs(1));
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-a -t 10.0.0.1:80 -x 0 -y 0 -r 10.0.0.2:80 -m -w 1"]
    );
}

#[test]
fn reload_with_a_changed_check_cancels_and_restarts_only_that_check() {
    let base = "checkinterval=5\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq\n\treal=10.0.0.3:80 masq\n\tchecktype=connect\n";
    let mut w = World::new(text_config(base), Table::default());
    w.take_ipvsadm();
    w.d.handle_timeout(w.now);
    w.pump();
    assert_eq!(w.running.len(), 2);
    let old: Vec<_> = w.running.iter().map(|r| (r.id, r.attempt)).collect();
    // A second virtual with a new real: only its check is new.
    let changed = "checkinterval=5\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq\n\treal=10.0.0.3:80 masq\n\tchecktype=connect\nvirtual=10.0.0.1:81\n\treal=10.0.0.4:81 masq\n\tchecktype=connect\n";
    w.d.reload(w.now, text_config(changed));
    w.pump();
    assert_eq!(w.running.len(), 2, "in-flight checks survive the reload");
    assert_eq!(
        w.running
            .iter()
            .map(|r| (r.id, r.attempt))
            .collect::<Vec<_>>(),
        old
    );
    w.d.handle_timeout(w.now);
    w.pump();
    assert_eq!(w.running.len(), 3, "only the new real's check starts");
    // Dropping .3's virtual entry cancels its in-flight attempt.
    let smaller =
        "checkinterval=5\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq\n\tchecktype=connect\n";
    w.d.reload(w.now, text_config(smaller));
    w.pump();
    assert_eq!(w.running.len(), 1);
    assert_eq!(
        w.take_ipvsadm(),
        vec!["-A -t 10.0.0.1:81 -s wrr", "-D -t 10.0.0.1:81"]
    );
}

#[test]
fn cleanstop_no_leaves_the_table() {
    let cfg =
        text_config("cleanstop=no\nvirtual=10.0.0.1:80\n\treal=10.0.0.2:80 masq\n\tchecktype=on\n");
    let mut w = World::new(cfg, Table::default());
    let before = w.listing();
    w.d.stop();
    w.pump();
    assert_eq!(w.listing(), before);
    assert!(before.contains("10.0.0.2:80 Masq 1"));
}

/// Random health flips, hangs and reloads: the kernel never refuses a command,
/// our belief always equals the kernel, and once every real has a result the
/// table is exactly what the states ask for (fallback iff no real is up).
#[test]
fn random_walk_keeps_table_and_states_consistent() {
    let configs = [
        load("ldref-scn-step0.cf"),
        load("ldref-scn-step6.cf"),
        load("ldref-F3.cf"),
    ];
    let addrs = [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.2.1",
        "127.0.2.2",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut w = World::new(configs[0].clone(), Table::default());
    let mut current = 0;
    for _ in 0..400 {
        match rnd(10) {
            0 => {
                current = rnd(configs.len() as u64) as usize;
                w.d.reload(w.now, configs[current].clone());
                w.pump();
            }
            1..=6 => {
                let a = addrs[rnd(addrs.len() as u64) as usize];
                let h = match rnd(5) {
                    0 => Health::Hang,
                    1 | 2 => Health::Down,
                    _ => Health::Up,
                };
                w.set(&[a], h);
            }
            _ => w.run_for(Duration::from_millis(rnd(3000))),
        }
        assert_eq!(&w.kernel, w.d.table());
    }
    // Settle: everything answers; after a few intervals states are final.
    for a in addrs {
        w.set(
            &[a],
            if rnd(2) == 0 {
                Health::Up
            } else {
                Health::Down
            },
        );
    }
    w.run_for(Duration::from_secs(10));
    let cfg = &configs[current];
    for v in &cfg.virtuals {
        let svc = &w.kernel.services[&v.addr];
        let mut any_up = false;
        for r in &v.reals {
            let up = w.health.get(&r.addr).copied().unwrap_or(Health::Up) == Health::Up;
            any_up |= up;
            let got = svc.dests.get(&v.dest_addr(r)).map(|p| p.weight);
            let want = match (up, v.quiescent) {
                (true, _) => Some(r.weight),
                (false, true) => Some(0),
                (false, false) => None,
            };
            assert_eq!(got, want, "{} in {}", r.addr, v.addr);
        }
        if let Some(fb) = v.fallback {
            let present = svc
                .dests
                .contains_key(&std::net::SocketAddr::new(fb.addr, fb.port));
            assert_eq!(present, !any_up, "fallback of {}", v.addr);
        }
    }
    assert_eq!(w.kernel.services.len(), cfg.virtuals.len());
}
