//! `benches/run.sh`'s one table: the rows of every bench, ours vs the real
//! thing. The heartbeat benches print markdown of their own; their rows are
//! re-read here (failover: the "ours / real" table; footprint: ours and real
//! rows per config), the ldirectord rows come from [`crate::table`], and
//! other helpers' benches (forwarder, kernel programming) are taken as
//! printed: their table rows, under their area name.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

pub const HEADER: &str =
    "| area | what | ours | real / reference | ours / real |\n|---|---|---|---|---|\n";

fn cells(line: &str) -> Option<Vec<String>> {
    let l = line.trim();
    let inner = l.strip_prefix('|')?.strip_suffix('|')?;
    let c: Vec<String> = inner.split('|').map(|c| c.trim().to_owned()).collect();
    // Separator rows (`|---|---|`).
    if c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ':')) {
        return None;
    }
    Some(c)
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))
}

/// Rows of failover.sh's main table: `| config | metric | ours | real |
/// ratio | …`; a blank config cell continues the previous one.
pub fn failover_rows(text: &str) -> String {
    let mut out = String::new();
    let mut config = String::new();
    for c in text.lines().filter_map(cells) {
        let [cfg, metric, ours, real, ratio, ..] = c.as_slice() else {
            continue;
        };
        if ratio.parse::<f64>().is_err() {
            continue;
        }
        if !cfg.is_empty() {
            config = cfg.clone();
        }
        let _ = writeln!(
            out,
            "| heartbeat failover, {config} | {metric} | {ours} | {real} (3.0.6) | {ratio} |"
        );
    }
    out
}

fn leading_f64(s: &str) -> Option<f64> {
    let t: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    t.parse().ok()
}

/// Rows of footprint.sh's table: `| config | impl | procs | RSS | PSS |
/// CPU |`, ours and real paired per config.
pub fn footprint_rows(text: &str) -> String {
    // config → (ours [rss, cpu], real [rss, cpu]), in file order.
    type Cells = Option<Vec<String>>;
    let mut per: Vec<(String, Cells, Cells)> = Vec::new();
    for c in text.lines().filter_map(cells) {
        let [cfg, imp, _, rss, _, cpu] = c.as_slice() else {
            continue;
        };
        if leading_f64(rss).is_none() {
            continue;
        }
        let idx = match per.iter().position(|p| p.0 == *cfg) {
            Some(i) => i,
            None => {
                per.push((cfg.clone(), None, None));
                per.len() - 1
            }
        };
        let Some(slot) = per.get_mut(idx) else {
            continue;
        };
        let v = Some(vec![rss.clone(), cpu.clone()]);
        if imp.starts_with("ours") {
            slot.1 = v;
        } else {
            slot.2 = v;
        }
    }
    let mut out = String::new();
    for (cfg, ours, real) in per {
        let (Some(o), Some(r)) = (ours, real) else {
            continue;
        };
        for (i, (what, unit)) in [("RSS per node", "MB"), ("CPU per node", "% of one core")]
            .iter()
            .enumerate()
        {
            let (ov, rv) = (
                o.get(i).cloned().unwrap_or_default(),
                r.get(i).cloned().unwrap_or_default(),
            );
            let ratio = match (leading_f64(&ov), leading_f64(&rv)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| heartbeat idle, {cfg} | {what} | {ov} {unit} | {rv} {unit} (3.0.6) | {ratio} |"
            );
        }
    }
    out
}

/// Another bench's markdown table rows, kept as printed (first cell is the
/// metric; the next three: ours, reference, ratio; more are joined).
pub fn extra_rows(area: &str, text: &str) -> String {
    let mut out = String::new();
    let mut header_skipped = false;
    for c in text.lines().filter_map(cells) {
        if !header_skipped {
            header_skipped = true;
            continue;
        }
        let mut it = c.into_iter();
        let metric = it.next().unwrap_or_default();
        let rest: Vec<String> = it.collect();
        let (ours, reference, ratio) = match rest.as_slice() {
            [a] => (a.clone(), String::new(), String::new()),
            [a, b] => (a.clone(), b.clone(), String::new()),
            [a, b, c] => (a.clone(), b.clone(), c.clone()),
            [a, b, more @ ..] => (a.clone(), b.clone(), more.join("; ")),
            [] => continue,
        };
        let _ = writeln!(
            out,
            "| {area} | {metric} | {ours} | {reference} | {ratio} |"
        );
    }
    out
}

/// Replace (or add, right after the `# ` title) the `## {title}` section
/// of the markdown file `doc`.
pub fn write_section(doc: &Path, title: &str, body: &str) -> Result<()> {
    let text = std::fs::read_to_string(doc).unwrap_or_else(|_| "# Benchmarks\n".into());
    let head = format!("## {title}");
    let section = format!("{head}\n\n{}\n", body.trim_end());
    let lines: Vec<&str> = text.lines().collect();
    let out = match lines.iter().position(|l| l.trim_end() == head) {
        Some(start) => {
            let end = lines
                .iter()
                .skip(start + 1)
                .position(|l| l.starts_with("## "))
                .map_or(lines.len(), |k| start + 1 + k);
            let mut v: Vec<String> = lines.iter().take(start).map(|s| s.to_string()).collect();
            v.push(section.trim_end().to_owned());
            if end < lines.len() {
                v.push(String::new());
            }
            v.extend(lines.iter().skip(end).map(|s| s.to_string()));
            v.join("\n") + "\n"
        }
        None => {
            let at = lines
                .iter()
                .position(|l| l.starts_with("# "))
                .map_or(0, |i| i + 1);
            let mut v: Vec<String> = lines.iter().take(at).map(|s| s.to_string()).collect();
            v.push(String::new());
            v.push(section.trim_end().to_owned());
            v.extend(lines.iter().skip(at).map(|s| s.to_string()));
            v.join("\n") + "\n"
        }
    };
    std::fs::write(doc, out).with_context(|| format!("write {}", doc.display()))
}

/// benches/forwarder.sh: a `| target | conn/s … | errors | proxy CPU µs/conn
/// | MiB/s (-c8 …) | errors | MiB/s (-c64) | errors |` table; columns are
/// found by their headers (the script has gained columns before), rows
/// `ours` and `haproxy`.
pub fn forwarder_rows(text: &str) -> String {
    let rows: Vec<Vec<String>> = text.lines().filter_map(cells).collect();
    let Some(header) = rows
        .iter()
        .find(|c| c.first().is_some_and(|x| x == "target"))
    else {
        return String::new();
    };
    let row = |name: &str| rows.iter().find(|c| c.first().is_some_and(|x| x == name));
    let (Some(o), Some(h)) = (row("ours"), row("haproxy")) else {
        return String::new();
    };
    type Column = (fn(&str) -> bool, &'static str);
    let wanted: [Column; 4] = [
        (
            |x| x.starts_with("conn/s"),
            "conn/s, Connection: close (wrk)",
        ),
        (
            |x| x.starts_with("proxy CPU"),
            "proxy CPU per connection, µs (lower is better)",
        ),
        (
            |x| x.starts_with("MiB/s") && !x.contains("-c64"),
            "throughput, MiB/s (10 MiB file, 8 streams)",
        ),
        (
            |x| x.starts_with("MiB/s") && x.contains("-c64"),
            "throughput, MiB/s (10 MiB file, 64 streams)",
        ),
    ];
    let mut out = String::new();
    for (matches, what) in wanted {
        let Some(i) = header.iter().position(|x| matches(x)) else {
            continue;
        };
        let (a, b) = (
            o.get(i).cloned().unwrap_or_default(),
            h.get(i).cloned().unwrap_or_default(),
        );
        let ratio = match (leading_f64(&a), leading_f64(&b)) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}", x / y),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| userspace forwarder (loopback, nginx reals) | {what} | {a} | {b} (haproxy) | {ratio} |"
        );
    }
    out
}

/// ldirector/kernel/benches/program_dests.sh: `| what | ms | ratio |` rows;
/// ours = one netlink batch, the reference = what 4.12 does (one `ipvsadm
/// -a` exec per destination) and `ipvsadm -R`.
pub fn kernel_rows(text: &str) -> String {
    let rows: Vec<Vec<String>> = text.lines().filter_map(cells).collect();
    let find = |p: &dyn Fn(&str) -> bool| {
        rows.iter()
            .find(|c| c.first().is_some_and(|x| p(x)))
            .and_then(|c| c.get(1).cloned())
    };
    let Some(batch) = find(&|x| x == "KernelBackend::apply, one batch") else {
        return String::new();
    };
    let n = rows
        .first()
        .and_then(|c| c.first())
        .and_then(|h| h.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_default();
    let mut out = String::new();
    for (what, pred) in [
        (
            "`ipvsadm -a` exec per destination (ldirectord 4.12's way)",
            &(|x: &str| x.contains("`ipvsadm -a` exec")) as &dyn Fn(&str) -> bool,
        ),
        ("`ipvsadm -R` (one process)", &|x: &str| {
            x.contains("`ipvsadm -R`")
        }),
    ] {
        let Some(r) = find(pred) else { continue };
        let ratio = match (leading_f64(&batch), leading_f64(&r)) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.4}", x / y),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "| IPVS programming, UML guest | {n} destinations: one netlink batch vs {what} | {batch} ms | {r} ms | {ratio} |"
        );
    }
    out
}

pub fn read_rows(kind: &str, p: &Path) -> Result<String> {
    let text = read(p)?;
    Ok(match kind {
        "failover" => failover_rows(&text),
        "footprint" => footprint_rows(&text),
        "forwarder" => forwarder_rows(&text),
        "kernel" => kernel_rows(&text),
        area => extra_rows(area, &text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_and_footprint_rows() {
        let f = "| config | metric | ours: median (min–max) | real 3.0.6: median (min–max) | ours / real | x |\n\
                 |---|---|---|---|---|---|\n\
                 | keepalive 200ms, deadtime 1 | kill → VIP | 1.13 s (1.10–1.17) | 1.20 s | 0.94 | 0.89 s |\n\
                 |  | failback | 0.26 s | 2.62 s | 0.10 | 0.06 s |\n\
                 | config | impl | last | det |\n";
        let r = failover_rows(f);
        assert_eq!(
            r,
            "| heartbeat failover, keepalive 200ms, deadtime 1 | kill → VIP | 1.13 s (1.10–1.17) | 1.20 s (3.0.6) | 0.94 |\n\
             | heartbeat failover, keepalive 200ms, deadtime 1 | failback | 0.26 s | 2.62 s (3.0.6) | 0.10 |\n"
        );
        let fp = "| config | impl | procs/node | RSS/node (MB) | PSS/node (MB) | CPU/node (% of one core) |\n\
                  |---|---|---|---|---|---|\n\
                  | keepalive 1s | real 3.0.6 | 4 | 25.0 | 7.3 | 0.100 |\n\
                  | keepalive 1s | ours | 1 | 3.5 | 0.8 | 0.020 |\n";
        let r = footprint_rows(fp);
        assert!(
            r.contains(
                "| heartbeat idle, keepalive 1s | RSS per node | 3.5 MB | 25.0 MB (3.0.6) | 0.14 |"
            ),
            "{r}"
        );
        assert!(
            r.contains(
                "| CPU per node | 0.020 % of one core | 0.100 % of one core (3.0.6) | 0.20 |"
            ),
            "{r}"
        );
        let x = extra_rows("forwarder", "| metric | ours | haproxy | ratio |\n|---|---|---|---|\n| conn/s | 9000 | 10000 | 0.90 |\n");
        assert_eq!(x, "| forwarder | conn/s | 9000 | 10000 | 0.90 |\n");
        let fw = "| target | conn/s (-c64, Connection: close) | errors | proxy CPU µs/conn | MiB/s (-c8, 10 MiB file) | errors | MiB/s (-c64) | errors |\n\
                  |---|---:|---:|---:|---:|---:|---:|---:|\n| direct | 17000 | 0 | - | 2200 | 0 | 2000 | 0 |\n\
                  | haproxy | 10000 | 0 | 100 | 2100 | 0 | 800 | 0 |\n| ours | 9000 | 0 | 120 | 2000.5 | 0 | 1600 | 0 |\n\
                  | ours-copy | 8000 | 0 | 150 | 900 | 0 | 1000 | 0 |\n";
        let r = forwarder_rows(fw);
        for row in [
            "| conn/s, Connection: close (wrk) | 9000 | 10000 (haproxy) | 0.90 |",
            "| proxy CPU per connection, µs (lower is better) | 120 | 100 (haproxy) | 1.20 |",
            "| throughput, MiB/s (10 MiB file, 8 streams) | 2000.5 | 2100 (haproxy) | 0.95 |",
            "| throughput, MiB/s (10 MiB file, 64 streams) | 1600 | 800 (haproxy) | 2.00 |",
        ] {
            assert!(r.contains(row), "{row} not in {r}");
        }
        let k = "| programming 10000 destinations (one service) | ms | × netlink batch |\n|---|---:|---:|\n\
                 | KernelBackend::apply, one batch | 50.0 | 1 |\n| `ipvsadm -R`, 10000 rules in one process | 100.0 | 2.0 |\n\
                 | 10000 × `ipvsadm -a` exec (200 timed, scaled) | 20000 | 400 |\n";
        let r = kernel_rows(k);
        assert!(r.contains("| 10000 destinations: one netlink batch vs `ipvsadm -a` exec per destination (ldirectord 4.12's way) | 50.0 ms | 20000 ms | 0.0025 |"), "{r}");
        assert!(
            r.contains("`ipvsadm -R` (one process) | 50.0 ms | 100.0 ms | 0.5000 |"),
            "{r}"
        );
    }

    #[test]
    fn section_replaced_or_added() {
        let p = std::env::temp_dir().join(format!("ldbench-doc-{}.md", std::process::id()));
        std::fs::write(&p, "# Benchmarks\n\n## Failover\n\nold\n").expect("write");
        write_section(&p, "Summary", "| a |").expect("add");
        write_section(&p, "Summary", "| b |").expect("replace");
        let t = std::fs::read_to_string(&p).expect("read");
        assert_eq!(
            t,
            "# Benchmarks\n\n## Summary\n\n| b |\n\n## Failover\n\nold\n"
        );
        let _ = std::fs::remove_file(&p);
    }
}
