//! What the demo saw: checks, milestones, the client's requests per
//! backend and its outages, and the summary printed at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::configs::DemoConfig;
use crate::http::Sample;
use crate::timeline::offset;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No node ever took the VIP: membership only.
    Membership,
    /// The VIP came up and the directors answer on it themselves.
    Vip,
    /// The VIP came up with ldirectord: real servers answer behind it.
    Lvs,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub what: String,
    pub ok: bool,
}

#[derive(Clone, Debug)]
pub struct Milestone {
    pub what: String,
    pub at: Duration,
}

/// The longest stretch without an answer: from the last answer before it
/// to the first answer after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    pub from: Duration,
    pub to: Duration,
}

impl Outage {
    pub fn len(&self) -> Duration {
        self.to.saturating_sub(self.from)
    }
}

#[derive(Debug)]
pub struct Report {
    pub mode: Mode,
    /// Why ldirectord is not part of the story, when it is not.
    pub no_ldirectord: Option<String>,
    pub checks: Vec<Check>,
    pub milestones: Vec<Milestone>,
    pub power_off: Option<Duration>,
    /// Requests answered per backend (the body: a real server's or a
    /// director's name), and `failed`.
    pub backends: BTreeMap<String, usize>,
    pub total: usize,
    pub longest_outage: Option<Outage>,
    /// Last answer before the power-off → first answer after it.
    pub failover_outage: Option<Outage>,
    pub samples: Vec<Sample>,
}

impl Report {
    pub fn new(no_ldirectord: Option<String>) -> Self {
        Report {
            mode: Mode::Membership,
            no_ldirectord,
            checks: Vec::new(),
            milestones: Vec::new(),
            power_off: None,
            backends: BTreeMap::new(),
            total: 0,
            longest_outage: None,
            failover_outage: None,
            samples: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    pub fn check(&mut self, what: impl Into<String>, ok: bool) -> bool {
        self.checks.push(Check {
            what: what.into(),
            ok,
        });
        ok
    }

    pub fn milestone(&mut self, what: impl Into<String>, at: Duration) {
        self.milestones.push(Milestone {
            what: what.into(),
            at,
        });
    }

    /// Fold the client's requests in.
    pub fn add_requests(&mut self, samples: &[Sample]) {
        self.total = samples.len();
        self.samples = samples.to_vec();
        for s in samples {
            let key = s.outcome.node().unwrap_or("failed").to_owned();
            *self.backends.entry(key).or_default() += 1;
        }
        self.longest_outage = longest_outage(samples);
        if let Some(off) = self.power_off {
            let last = samples
                .iter()
                .rev()
                .find(|s| s.at < off && s.outcome.node().is_some());
            let next = samples
                .iter()
                .find(|s| s.at > off && s.outcome.node().is_some());
            if let (Some(a), Some(b)) = (last, next) {
                self.failover_outage = Some(Outage {
                    from: a.at,
                    to: b.at,
                });
            }
        }
    }
}

/// The longest gap between two consecutive answered requests (failures
/// before the first answer are start-up, not an outage).
pub fn longest_outage(samples: &[Sample]) -> Option<Outage> {
    let answered: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome.node().is_some())
        .map(|s| s.at)
        .collect();
    answered
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(Outage { from: *a, to: *b }),
            _ => None,
        })
        .max_by_key(Outage::len)
}

/// For plotting (`--samples PREFIX`): `PREFIX.dat` has one line per request
/// (`seconds row backend`, row 0 = failed), `PREFIX.gpinc` the y labels and
/// one labelled vertical line per milestone, for gnuplot to `load`.
pub fn write_plot_data(r: &Report, prefix: &std::path::Path) -> std::io::Result<()> {
    let mut names: Vec<&str> = r
        .backends
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "failed")
        .collect();
    names.sort_unstable();
    let row = |o: &crate::http::Outcome| {
        o.node()
            .and_then(|n| names.iter().position(|x| *x == n))
            .map_or(0, |i| i + 1)
    };
    let mut dat = String::from("# seconds row backend\n");
    for s in &r.samples {
        dat.push_str(&format!(
            "{:.3} {} {}\n",
            s.at.as_secs_f64(),
            row(&s.outcome),
            s.outcome.node().unwrap_or("failed")
        ));
    }
    let mut inc = String::from("set ytics (\"no answer\" 0");
    for (i, n) in names.iter().enumerate() {
        inc.push_str(&format!(", \"{n}\" {}", i + 1));
    }
    inc.push_str(&format!(
        ")\nset yrange [-0.5:{}]\n",
        names.len() as f64 + 0.5 + names.len() as f64 * 0.6
    ));
    let mut ms_sorted = r.milestones.clone();
    ms_sorted.sort_by_key(|m| m.at);
    let top = names.len() as f64 + 0.6;
    for (i, m) in ms_sorted.iter().enumerate() {
        let t = m.at.as_secs_f64();
        let y = top + (i % 4) as f64 * 0.3;
        let label = m.what.replace('"', "'");
        inc.push_str(&format!(
            "set arrow from {t:.3}, graph 0 to {t:.3}, graph 1 nohead lc rgb \"#999999\" dt 2\n\
             set label \"{label}\" at {t:.3}, {y:.2} font \",7\" offset 0.2,0\n"
        ));
    }
    std::fs::write(prefix.with_extension("dat"), dat)?;
    std::fs::write(prefix.with_extension("gpinc"), inc)
}

pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The summary table.
pub fn print_summary(r: &Report, cfg: &DemoConfig) {
    let t = cfg.timing;
    let (home, other) = (cfg.home.as_str(), cfg.other(&cfg.home));
    println!("\n== summary ==");
    match r.mode {
        Mode::Lvs => println!(
            "shown: membership, the VIP {} and ldirectord moving {home} -> {other} -> {home}, \
             real servers behind it",
            cfg.vip
        ),
        Mode::Vip => println!(
            "shown: membership AND the VIP {} moving {home} -> {other} -> {home}",
            cfg.vip
        ),
        Mode::Membership => println!(
            "shown: membership only (no director took the VIP {}: the daemon does not run resources yet)",
            cfg.vip
        ),
    }
    if let Some(why) = &r.no_ldirectord {
        println!("without ldirectord: {why}");
    }
    println!(
        "timing: keepalive {} ms, deadtime {} ms, warntime {} ms, initdead {} ms; auth sha1; bcast eth0",
        ms(t.keepalive),
        ms(t.deadtime),
        ms(t.warntime),
        ms(t.initdead)
    );
    println!();
    println!(
        "| {:<52} | {:>11} | {:>15} |",
        "event", "at", "after power-off"
    );
    println!("|{:-<54}|{:->13}|{:->17}|", "", "", "");
    let mut milestones = r.milestones.clone();
    milestones.sort_by_key(|m| m.at);
    for m in &milestones {
        let since = match r.power_off {
            Some(off) if m.at >= off => format!("+{} ms", ms(m.at - off)),
            _ => String::new(),
        };
        println!("| {:<52} | {:>11} | {:>15} |", m.what, offset(m.at), since);
    }
    println!();
    println!("{:>24}: {}", "requests", r.total);
    for (who, n) in &r.backends {
        println!(
            "{:>24}: {n}",
            format!("answered by {who}").replace("answered by failed", "failed")
        );
    }
    if let Some(o) = r.failover_outage {
        println!(
            "{:>24}: {} ms ({} .. {})",
            "failover outage",
            ms(o.len()),
            offset(o.from),
            offset(o.to)
        );
    }
    if let Some(o) = r.longest_outage {
        println!(
            "{:>24}: {} ms ({} .. {})",
            "longest outage",
            ms(o.len()),
            offset(o.from),
            offset(o.to)
        );
    }
    println!();
    for c in &r.checks {
        println!("[{}] {}", if c.ok { " ok " } else { "FAIL" }, c.what);
    }
    println!(
        "\nresult: {}",
        if r.passed() {
            "PASS: the failover happened as expected"
        } else {
            "FAIL"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Outcome;

    fn s(ms: u64, who: Option<&str>) -> Sample {
        Sample {
            at: Duration::from_millis(ms),
            outcome: who.map_or(Outcome::Failed("refused".into()), |w| {
                Outcome::Node(w.into())
            }),
        }
    }

    #[test]
    fn outages_and_backends() {
        let samples = [
            s(0, None),
            s(100, Some("rs1")),
            s(200, Some("rs2")),
            s(300, None),
            s(400, None),
            s(500, Some("rs1")),
            s(600, Some("node2")),
        ];
        assert_eq!(
            longest_outage(&samples),
            Some(Outage {
                from: Duration::from_millis(200),
                to: Duration::from_millis(500)
            })
        );
        let mut r = Report::new(None);
        r.power_off = Some(Duration::from_millis(250));
        r.add_requests(&samples);
        assert_eq!(r.total, 7);
        assert_eq!(r.backends.get("rs1"), Some(&2));
        assert_eq!(r.backends.get("failed"), Some(&3));
        assert_eq!(r.backends.get("node2"), Some(&1));
        assert_eq!(
            r.failover_outage.map(|o| o.len()),
            Some(Duration::from_millis(300))
        );
        assert_eq!(longest_outage(&samples[..2]), None);
        assert!(!r.passed(), "no checks is not a pass");
        r.check("x", true);
        assert!(r.passed());
        r.check("y", false);
        assert!(!r.passed());
    }
}
