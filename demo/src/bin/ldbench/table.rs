//! The markdown rows of the check-round benchmark, ours vs the real
//! ldirectord 4.12 side by side, and the plot data (round time vs reals).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize, Clone)]
pub struct Res {
    pub imp: String,
    pub reals: u32,
    pub check: String,
    pub checkinterval: u64,
    pub startup_s: Option<f64>,
    #[serde(default)]
    pub startup_unconverged_s: Option<u64>,
    pub ipvsadm_calls: Option<usize>,
    pub rounds: usize,
    pub round_ms_median: Option<f64>,
    pub round_ms_min: Option<f64>,
    pub round_ms_max: Option<f64>,
    /// Absent in results from before the per-real interval was measured.
    #[serde(default)]
    pub interval_s_median: Option<f64>,
    #[serde(default)]
    pub interval_s_p99: Option<f64>,
    #[serde(default)]
    pub interval_s_max: Option<f64>,
    #[serde(default)]
    pub interval_reals: usize,
    pub cpu_pct: f64,
    pub rss_mib_max: f64,
    pub error: Option<String>,
}

fn load(p: &Path) -> Result<Res> {
    let file = if p.is_dir() {
        p.join("result.json")
    } else {
        p.to_path_buf()
    };
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", file.display()))
}

fn round_cell(r: &Res) -> String {
    if let Some(e) = &r.error {
        return format!("error: {}", e.chars().take(60).collect::<String>());
    }
    match (r.round_ms_median, r.round_ms_min, r.round_ms_max) {
        (Some(m), Some(lo), Some(hi)) => format!(
            "{} ms ({}–{}, {} rounds)",
            num(m),
            num(lo),
            num(hi),
            r.rounds
        ),
        // Checks of one round spread into the next: no quiet gap to
        // delimit rounds (the interval row still measures).
        _ if r.rounds == 0 => "none apart (rounds overlap)".into(),
        _ => "-".into(),
    }
}

fn startup_cell(r: &Res) -> String {
    match (r.startup_s, r.startup_unconverged_s) {
        (Some(s), _) => format!("{s:.2} s"),
        (None, Some(limit)) => format!("not within {limit} s"),
        (None, None) => "-".into(),
    }
}

fn interval_cell(r: &Res) -> String {
    if let Some(e) = &r.error {
        return format!("error: {}", e.chars().take(60).collect::<String>());
    }
    match (r.interval_s_median, r.interval_s_p99, r.interval_s_max) {
        (Some(m), Some(p), Some(x)) => {
            let partial = if r.interval_reals < r.reals as usize {
                format!(" ({} of {} reals)", r.interval_reals, r.reals)
            } else {
                String::new()
            };
            format!("{} / {} / {} s{partial}", num(m), num(p), num(x))
        }
        _ => "-".into(),
    }
}

/// Compact number: 3 significant digits-ish.
pub fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn ratio(ours: Option<f64>, real: Option<f64>) -> String {
    match (ours, real) {
        (Some(o), Some(r)) if r > 0.0 => format!("{:.3}", o / r),
        _ => "".into(),
    }
}

fn ok(r: &Res) -> bool {
    r.error.is_none()
}

pub fn run(paths: &[PathBuf], plot: Option<&Path>) -> Result<String> {
    let mut by: BTreeMap<(String, u32), (Option<Res>, Option<Res>)> = BTreeMap::new();
    for p in paths {
        let r = load(p)?;
        let e = by.entry((r.check.clone(), r.reals)).or_default();
        if r.imp == "ours" {
            e.0 = Some(r);
        } else {
            e.1 = Some(r);
        }
    }
    let mut out = String::new();
    for ((check, n), (ours, real)) in &by {
        let ci = ours
            .as_ref()
            .or(real.as_ref())
            .map_or(1, |r| r.checkinterval);
        let what = format!("ldirectord {n} reals, {check} checks, checkinterval {ci}");
        let cell = |r: &Option<Res>, f: &dyn Fn(&Res) -> String| {
            r.as_ref().map_or("not run".to_owned(), f)
        };
        let val = |r: &Option<Res>, f: &dyn Fn(&Res) -> Option<f64>| {
            r.as_ref().filter(|r| ok(r)).and_then(f)
        };
        let _ = writeln!(
            out,
            "| {what} | check round (median, min–max) | {} | {} | {} |",
            cell(ours, &round_cell),
            cell(real, &round_cell),
            ratio(
                val(ours, &|r| r.round_ms_median),
                val(real, &|r| r.round_ms_median)
            ),
        );
        let _ = writeln!(
            out,
            "|  | per-real check interval (median / p99 / max; configured {ci} s) | {} | {} | {} |",
            cell(ours, &interval_cell),
            cell(real, &interval_cell),
            ratio(
                val(ours, &|r| r.interval_s_median),
                val(real, &|r| r.interval_s_median)
            ),
        );
        let _ = writeln!(
            out,
            "|  | CPU, % of one core | {} | {} | {} |",
            cell(ours, &|r| format!("{:.2} %", r.cpu_pct)),
            cell(real, &|r| format!("{:.2} %", r.cpu_pct)),
            ratio(
                val(ours, &|r| Some(r.cpu_pct)),
                val(real, &|r| Some(r.cpu_pct))
            ),
        );
        let _ = writeln!(
            out,
            "|  | RSS, max | {} | {} | {} |",
            cell(ours, &|r| format!("{:.1} MiB", r.rss_mib_max)),
            cell(real, &|r| format!("{:.1} MiB", r.rss_mib_max)),
            ratio(
                val(ours, &|r| Some(r.rss_mib_max)),
                val(real, &|r| Some(r.rss_mib_max))
            ),
        );
        let _ = writeln!(
            out,
            "|  | start → every real active in the table (real: ipvsadm calls) | {} | {} | {} |",
            cell(ours, &startup_cell),
            cell(real, &|r| format!(
                "{} ({} calls)",
                startup_cell(r),
                r.ipvsadm_calls.map_or("-".into(), |c| c.to_string())
            )),
            ratio(val(ours, &|r| r.startup_s), val(real, &|r| r.startup_s)),
        );
    }
    if let Some(p) = plot {
        let mut data = String::from("# check reals ours_round_ms real_round_ms (NaN = not run)\n");
        for ((check, n), (ours, real)) in &by {
            let v = |r: &Option<Res>| {
                r.as_ref()
                    .filter(|r| ok(r))
                    .and_then(|r| r.round_ms_median)
                    .map_or("NaN".to_owned(), |m| format!("{m:.3}"))
            };
            let _ = writeln!(data, "{check} {n} {} {}", v(ours), v(real));
        }
        std::fs::write(p, data).with_context(|| format!("write {}", p.display()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_ours_and_real() {
        let dir = std::env::temp_dir().join(format!("ldbench-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mk = |name: &str, imp: &str, ms: f64, cpu: f64| {
            let p = dir.join(name);
            std::fs::write(
                &p,
                format!(
                    r#"{{"imp":"{imp}","reals":200,"check":"connect","checkinterval":1,"startup_s":1.5,
                    "ipvsadm_calls":null,"window_s":20.0,"rounds":10,"round_ms_median":{ms},
                    "round_ms_min":{ms},"round_ms_max":{ms},"period_s_median":1.0,"cpu_pct":{cpu},
                    "rss_mib_max":4.0,"error":null}}"#
                ),
            )
            .expect("write");
            p
        };
        let a = mk("a.json", "ours", 4.0, 0.5);
        // Before interval fields existed: still loads, its cell is "-".
        let b = mk("b.json", "real", 80.0, 7.0);
        let plot = dir.join("plot.dat");
        let t = run(&[a, b], Some(&plot)).expect("table");
        assert!(t.contains("| ldirectord 200 reals, connect checks, checkinterval 1 | check round (median, min–max) | 4.00 ms (4.00–4.00, 10 rounds) | 80.0 ms (80.0–80.0, 10 rounds) | 0.050 |"), "{t}");
        assert!(
            t.contains("| CPU, % of one core | 0.50 % | 7.00 % | 0.071 |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| per-real check interval (median / p99 / max; configured 1 s) | - | - |  |"
            ),
            "{t}"
        );
        let d = std::fs::read_to_string(&plot).expect("plot");
        assert!(d.contains("connect 200 4.000 80.000"), "{d}");
        // 10,000 reals: no round apart, the interval row carries it.
        let big = dir.join("big.json");
        std::fs::write(
            &big,
            r#"{"imp":"ours","reals":10000,"check":"connect","checkinterval":1,"startup_s":null,
            "startup_unconverged_s":120,"ipvsadm_calls":null,"window_s":5.0,"rounds":0,"round_ms_median":null,
            "round_ms_min":null,"round_ms_max":null,"period_s_median":null,
            "interval_s_median":1.004,"interval_s_p99":1.05,"interval_s_max":1.2,
            "interval_reals":9990,"cpu_pct":9.0,"rss_mib_max":20.0,"error":null}"#,
        )
        .expect("write");
        let t = run(&[big], None).expect("table");
        assert!(
            t.contains(
                "| check round (median, min–max) | none apart (rounds overlap) | not run |  |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| 1.00 / 1.05 / 1.20 s (9990 of 10000 reals) | not run |  |"),
            "{t}"
        );
        assert!(t.contains("| not within 120 s | not run |  |"), "{t}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
