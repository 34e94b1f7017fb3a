//! Summaries of the runs and the markdown they are printed as; splicing
//! that section into `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::time::Duration;

/// One failover + failback, every time in seconds from the crash instant
/// (failback: from node1's restart). `None`: not observed.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// How long the power-off itself took (link down + SIGKILL + reap).
    pub crash_cmd: f64,
    /// The survivor's `t=stonith` broadcast (sent right after it declared
    /// the peer dead), received on the client.
    pub dead: Option<f64>,
    /// Age of node1's last heartbeat (received on the client) at the crash.
    pub last_hb: Option<f64>,
    /// "node node1: is dead" appeared in the survivor's ha-log.
    pub dead_logged: Option<f64>,
    /// "Running …/IPaddr2 … start" appeared in the survivor's ha-log.
    pub start_logged: Option<f64>,
    /// Kernel address-add event of the VIP on the survivor.
    pub vip: f64,
    /// First echo reply from the VIP after the crash command returned.
    pub ping: f64,
    /// Restart of node1 → kernel address-add event of the VIP on node1.
    pub failback: f64,
}

/// Median, min, max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn stat(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (first, last) = (*v.first()?, *v.last()?);
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: first,
        max: last,
        n,
    })
}

fn secs(s: Option<Stat>) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.2} s ({:.2}–{:.2})", s.median, s.min, s.max),
        Some(s) => format!("{:.2} s", s.median),
        None => "–".into(),
    }
}

fn ms(s: Option<Stat>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "{:.0} ({:.0}–{:.0})",
            s.median * 1e3,
            s.min * 1e3,
            s.max * 1e3
        ),
        Some(s) => format!("{:.0}", s.median * 1e3),
        None => "–".into(),
    }
}

fn ratio(ours: Option<Stat>, real: Option<Stat>) -> String {
    match (ours, real) {
        (Some(o), Some(r)) if r.median > 0.0 => format!("{:.2}", o.median / r.median),
        _ => "–".into(),
    }
}

/// The measurements of one configuration, both implementations.
pub struct ConfigRuns<'a> {
    pub label: &'a str,
    pub deadtime: Duration,
    pub ours: &'a [Run],
    pub real: &'a [Run],
    /// Ours with the project's Rust `IPaddr2` instead of the stock script
    /// (empty unless asked for).
    pub ours_rust_agent: &'a [Run],
}

type Metric = (&'static str, fn(&Run) -> Option<f64>);

const METRICS: [Metric; 4] = [
    (
        "kill → survivor declares node1 dead (`t=stonith` on the LAN)",
        |r| r.dead,
    ),
    ("**kill → VIP on survivor** (kernel address event)", |r| {
        Some(r.vip)
    }),
    ("**kill → VIP answers ping**", |r| Some(r.ping)),
    ("failback: node1 restart → VIP back on node1", |r| {
        Some(r.failback)
    }),
];

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

type Step = fn(&Run) -> Option<f64>;

const STEPS: [Step; 6] = [
    |r| r.last_hb,
    |r| Some(r.dead? + r.last_hb?),
    |r| r.dead_logged,
    |r| diff(r.start_logged, r.dead_logged),
    |r| diff(Some(r.vip), r.start_logged),
    |r| Some(r.ping - r.vip),
];

/// The `## Failover` section.
pub fn markdown(header: &str, configs: &[ConfigRuns]) -> String {
    let extra = configs.iter().any(|c| !c.ours_rust_agent.is_empty());
    let mut s = String::new();
    let _ = writeln!(s, "## Failover\n\n{header}\n");
    let _ = writeln!(
        s,
        "| config | metric | ours: median (min–max) | real 3.0.6: median (min–max) | ours / real |{}",
        if extra { " ours + Rust `IPaddr2` (not the default) |" } else { "" }
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|{}",
        if extra { "---|" } else { "" }
    );
    for c in configs {
        for (i, (name, f)) in METRICS.iter().enumerate() {
            let o = stat(c.ours.iter().filter_map(f));
            let r = stat(c.real.iter().filter_map(f));
            let label = if i == 0 { c.label } else { "" };
            let more = if extra {
                format!(" {} |", secs(stat(c.ours_rust_agent.iter().filter_map(f))))
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "| {label} | {name} | {} | {} | {} |{more}",
                secs(o),
                secs(r),
                ratio(o, r)
            );
        }
    }
    let _ = writeln!(s, "\nTarget: ours kill → VIP ≤ deadtime + 50 ms.\n");
    for c in configs {
        let Some(o) = stat(c.ours.iter().map(|r| r.vip)) else {
            continue;
        };
        let limit = c.deadtime.as_secs_f64() + 0.050;
        let within = c.ours.iter().filter(|r| r.vip <= limit).count();
        let _ = writeln!(
            s,
            "- {}: median {:.3} s vs {:.3} s → **{}** ({within} of {} runs within)",
            c.label,
            o.median,
            limit,
            if o.median <= limit { "met" } else { "MISSED" },
            c.ours.len()
        );
    }
    let _ = writeln!(
        s,
        "\nWhere the time goes, ms, median (min–max). \"logged\" = the line appeared in the survivor's \
         ha-log (file polled every 5 ms); detection = from node1's last heartbeat seen on the LAN to \
         the survivor's `t=stonith`.\n"
    );
    let _ = writeln!(
        s,
        "| config | impl | last heartbeat → kill | detection (last heartbeat → dead) | kill → \"is dead\" logged | \"is dead\" → \"Running …IPaddr2 … start\" logged | start logged → VIP | VIP → ping reply |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for c in configs {
        for (imp, runs) in [
            ("ours", c.ours),
            ("real", c.real),
            ("ours + Rust `IPaddr2`", c.ours_rust_agent),
        ] {
            if runs.is_empty() {
                continue;
            }
            let cols: Vec<String> = STEPS
                .iter()
                .map(|f| ms(stat(runs.iter().filter_map(f))))
                .collect();
            let _ = writeln!(s, "| {} | {imp} | {} |", c.label, cols.join(" | "));
        }
    }
    s
}

/// `doc` with its `## Failover` section (up to the next `## ` heading)
/// replaced by `section`, or `section` appended.
pub fn splice(doc: &str, section: &str) -> String {
    let section = section.trim_end();
    if doc.trim().is_empty() {
        return format!("# Benchmarks\n\n{section}\n");
    }
    let lines: Vec<&str> = doc.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "## Failover") else {
        return format!("{}\n\n{section}\n", doc.trim_end());
    };
    let end = lines
        .iter()
        .skip(start + 1)
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.push(section.to_owned());
    if end < lines.len() {
        out.push(String::new());
        out.extend(lines[end..].iter().map(|l| l.to_string()));
    }
    format!("{}\n", out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let s = stat([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(stat([4.0, 1.0, f64::NAN, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(stat([]), None);
    }

    #[test]
    fn splice_creates_replaces_and_appends() {
        let new = "## Failover\n\nnew table\n";
        assert_eq!(
            splice("", new),
            "# Benchmarks\n\n## Failover\n\nnew table\n"
        );
        let doc = "# Benchmarks\n\n## Footprint\n\nx\n";
        assert_eq!(
            splice(doc, new),
            "# Benchmarks\n\n## Footprint\n\nx\n\n## Failover\n\nnew table\n"
        );
        let doc = "# B\n\n## Failover\n\nold\n### sub\nold too\n\n## Footprint\n\nx\n";
        assert_eq!(
            splice(doc, new),
            "# B\n\n## Failover\n\nnew table\n\n## Footprint\n\nx\n"
        );
        let doc = "# B\n\n## Failover\n\nold\n";
        assert_eq!(splice(doc, new), "# B\n\n## Failover\n\nnew table\n");
    }

    #[test]
    fn table_has_both_implementations_and_the_target() {
        let run = |vip: f64| Run {
            crash_cmd: 0.02,
            dead: Some(vip - 0.1),
            last_hb: Some(0.05),
            dead_logged: Some(vip - 0.1),
            start_logged: Some(vip - 0.05),
            vip,
            ping: vip + 0.01,
            failback: 1.5,
        };
        let ours = [run(1.02), run(1.04), run(1.2)];
        let real = [run(1.4)];
        let md = markdown(
            "hdr",
            &[ConfigRuns {
                label: "ka 200ms / dt 1",
                deadtime: Duration::from_secs(1),
                ours: &ours,
                real: &real,
                ours_rust_agent: &[],
            }],
        );
        assert!(
            md.contains("| 1.04 s (1.02–1.20) | 1.40 s | 0.74 |"),
            "{md}"
        );
        assert!(
            md.contains("median 1.040 s vs 1.050 s → **met** (2 of 3 runs within)"),
            "{md}"
        );
        // detection = dead + age of the last heartbeat: 0.94 + 0.05 s.
        assert!(
            md.contains("| ka 200ms / dt 1 | ours | 50 (50–50) | 990 (970–1150) |"),
            "{md}"
        );
    }
}
