//! One measurement: an ldirectord (ours or the real 4.12) checking N real
//! servers of the farm on loopback, one virtual service, `fork=no`,
//! `supervised=yes` (foreground, so the daemon is our child and its pid is
//! known); after start-up a steady-state window: check-round duration and
//! period seen by the farm (only where rounds are apart: at 10,000 reals
//! they run into each other), each real's check interval (any size), CPU
//! (utime+stime from /proc) and RSS.
//!
//! The real ldirectord runs in a private mount namespace where this binary
//! is bind-mounted over `/usr/sbin/ipvsadm` (see `ipvsadm.rs`) and `/run`
//! is a fresh tmpfs; ours runs with `--ipvs none` (its in-memory table).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::farm::{self, Farm};

pub const PORT: u16 = 8080;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impl {
    Ours,
    Real,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Connect,
    Negotiate,
}

#[derive(Debug, clap::Args)]
pub struct RoundArgs {
    #[arg(long = "impl", value_enum)]
    pub imp: Impl,
    /// Our ldirectord binary (for --impl ours).
    #[arg(long, default_value = "ldirectord")]
    pub ours: PathBuf,
    /// The real one (for --impl real).
    #[arg(long, default_value = "/usr/sbin/ldirectord")]
    pub real: PathBuf,
    #[arg(long)]
    pub reals: u32,
    #[arg(long, value_enum)]
    pub check: CheckKind,
    #[arg(long, default_value_t = 1)]
    pub checkinterval: u64,
    /// Steady-state window, seconds.
    #[arg(long, default_value_t = 20)]
    pub window: u64,
    /// Start-up limit, seconds.
    #[arg(long, default_value_t = 600)]
    pub startup_limit: u64,
    /// Scratch directory (config, logs, result.json).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub imp: Impl,
    pub reals: u32,
    pub check: CheckKind,
    pub checkinterval: u64,
    /// Start → the table has every real up (real: the stand-in's table;
    /// ours: its `list` on the control socket).
    pub startup_s: Option<f64>,
    /// Set (to the limit) when the table did not have every real up within
    /// `--startup-limit`; the window is measured anyway.
    pub startup_unconverged_s: Option<u64>,
    pub ipvsadm_calls: Option<usize>,
    pub window_s: f64,
    pub rounds: usize,
    pub round_ms_median: Option<f64>,
    pub round_ms_min: Option<f64>,
    pub round_ms_max: Option<f64>,
    pub period_s_median: Option<f64>,
    /// Time between two consecutive checks of the same real, over every
    /// check in the window (the one before may precede it).
    pub interval_s_median: Option<f64>,
    pub interval_s_p99: Option<f64>,
    pub interval_s_max: Option<f64>,
    /// Reals with a check in the window that followed an earlier one.
    pub interval_reals: usize,
    /// Checks (accepted connections) the farm saw in the window.
    pub checks_in_window: usize,
    pub cpu_pct: f64,
    pub rss_mib_max: f64,
    pub error: Option<String>,
}

fn config(a: &RoundArgs, dir: &Path) -> String {
    let last = farm::addr(a.reals.saturating_sub(1));
    let check = match a.check {
        CheckKind::Connect => "connect",
        CheckKind::Negotiate => "negotiate",
    };
    format!(
        "checktimeout=3\n\
         negotiatetimeout=3\n\
         checkinterval={ci}\n\
         fork=no\n\
         supervised=yes\n\
         logfile=\"{log}\"\n\
         quiescent=yes\n\
         virtual=127.0.0.200:80\n\
         \treal=127.0.1.1->{last}:{PORT} masq\n\
         \tchecktype={check}\n\
         \tservice=http\n\
         \trequest=\"index.html\"\n\
         \treceive=\"ldirectord-ok\"\n\
         \tscheduler=wrr\n",
        ci = a.checkinterval,
        log = dir.join("ldirectord.log").display(),
    )
}

/// utime+stime+cutime+cstime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    (f.len() == 4).then(|| f.iter().sum())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn spawn(a: &RoundArgs, cf: &Path, dir: &Path) -> Result<Child> {
    let log = std::fs::File::create(dir.join("daemon.out"))?;
    let mut c = match a.imp {
        Impl::Ours => {
            let mut c = Command::new(&a.ours);
            c.env("LDIRECTORD_RUNDIR", dir)
                .args(["--ipvs", "none"])
                .arg(cf)
                .arg("start");
            c
        }
        Impl::Real => {
            let me = std::env::current_exe().context("own path")?;
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(
                    "mount --bind \"$0\" /usr/sbin/ipvsadm && mount -t tmpfs ldbench /run && \
                     exec \"$1\" \"$2\" start",
                )
                .arg(me)
                .arg(&a.real)
                .arg(cf)
                .env("LDBENCH_IPVSADM_STATE", dir.join("ipvs.state"))
                .env("LDBENCH_IPVSADM_LOG", dir.join("ipvsadm-calls.log"));
            c
        }
    };
    c.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    c.spawn().context("start ldirectord")
}

/// Reals with weight > 0 in our daemon's table (its control socket's
/// `ipvsadm -Ln` shaped `list`).
fn ours_active(dir: &Path, cf: &Path) -> Option<usize> {
    use std::io::{Read as _, Write as _};
    let name = cf.file_name()?.to_str()?;
    let mut s =
        std::os::unix::net::UnixStream::connect(dir.join(format!("ldirectord.{name}.sock")))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"list\n").ok()?;
    let mut text = String::new();
    s.take(64 << 20).read_to_string(&mut text).ok()?;
    Some(active_in_listing(&text))
}

/// `  -> 127.0.1.1:8080  Masq  1  0  0` lines with a weight > 0.
fn active_in_listing(text: &str) -> usize {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("-> "))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
        .filter(|w| *w > 0)
        .count()
}

fn median(v: &mut [f64]) -> Option<f64> {
    quantile(v, 0.5)
}

/// Nearest-rank quantile (sorts `v`).
fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let last = v.len().checked_sub(1)?;
    let rank = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v.get(rank.min(last)).copied()
}

pub fn run(a: &RoundArgs) -> Result<Outcome> {
    std::fs::create_dir_all(&a.out)?;
    let dir = a.out.canonicalize()?;
    let cf = dir.join(format!("ldbench-{}-{:?}.cf", a.reals, a.check).to_lowercase());
    std::fs::write(&cf, config(a, &dir))?;
    let _ = std::fs::remove_file(dir.join("ipvs.state"));
    let _ = std::fs::remove_file(dir.join("ipvsadm-calls.log"));
    let farm = Farm::start(a.reals, PORT)?;
    let n = a.reals as usize;
    let gap = Duration::from_millis(a.checkinterval * 500);
    let t0 = Instant::now();
    let mut child = spawn(a, &cf, &dir)?;
    let pid = child.id();
    let mut out = Outcome {
        imp: a.imp,
        reals: a.reals,
        check: a.check,
        checkinterval: a.checkinterval,
        startup_s: None,
        startup_unconverged_s: None,
        ipvsadm_calls: None,
        window_s: 0.0,
        rounds: 0,
        round_ms_median: None,
        round_ms_min: None,
        round_ms_max: None,
        period_s_median: None,
        interval_s_median: None,
        interval_s_p99: None,
        interval_s_max: None,
        interval_reals: 0,
        checks_in_window: 0,
        cpu_pct: 0.0,
        rss_mib_max: 0.0,
        error: None,
    };
    let result = measure(a, &farm, &mut child, pid, t0, n, gap, &dir, &cf, &mut out);
    // SAFETY: kill(2) on the daemon this function started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = ha_tests::cmd::wait_deadline(&mut child, Duration::from_secs(15));
    drop(farm);
    if let Err(e) = result {
        out.error = Some(format!("{e:#}"));
    }
    std::fs::write(dir.join("result.json"), serde_json::to_string_pretty(&out)?)?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn measure(
    a: &RoundArgs,
    farm: &Farm,
    child: &mut Child,
    pid: u32,
    t0: Instant,
    n: usize,
    gap: Duration,
    dir: &Path,
    cf: &Path,
    out: &mut Outcome,
) -> Result<()> {
    let limit = t0 + Duration::from_secs(a.startup_limit);
    loop {
        if let Some(st) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("daemon.out")).unwrap_or_default();
            bail!(
                "ldirectord exited during start-up ({st}): {}",
                log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
            );
        }
        let up = match a.imp {
            Impl::Real => std::fs::read_to_string(dir.join("ipvs.state"))
                .map(|t| crate::ipvsadm::active_dests(&t) >= n)
                .unwrap_or(false),
            // Cheap test first: the listing of 10,000 reals is not free.
            Impl::Ours => farm.reals_seen() >= n && ours_active(dir, cf).is_some_and(|k| k >= n),
        };
        if up {
            out.startup_s = Some(t0.elapsed().as_secs_f64());
            break;
        }
        if Instant::now() > limit {
            // Still measure: the window shows how late the checks are.
            out.startup_unconverged_s = Some(a.startup_limit);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if a.imp == Impl::Real {
        out.ipvsadm_calls = std::fs::read_to_string(dir.join("ipvsadm-calls.log"))
            .ok()
            .map(|t| t.lines().count());
    }
    // Let the round in flight finish before the window opens.
    std::thread::sleep(Duration::from_secs(2 + a.checkinterval));
    let clk = clk_tck();
    let w0 = Instant::now();
    let c0 = cpu_ticks(pid).context("daemon gone before the window")?;
    let mut rss_max = 0u64;
    let end = w0 + Duration::from_secs(a.window);
    while Instant::now() < end {
        rss_max = rss_max.max(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(500));
    }
    let c1 = cpu_ticks(pid).context("daemon gone during the window")?;
    let w1 = Instant::now();
    let win = w1.duration_since(w0).as_secs_f64();
    out.window_s = win;
    out.cpu_pct = 100.0 * (c1.saturating_sub(c0)) as f64 / clk / win;
    out.rss_mib_max = rss_max as f64 / 1024.0;
    let all = farm.accepts_by_real();
    let (ivs, iv_reals) = farm::intervals(&all, w0, w1);
    let by_real: Vec<farm::Accept> = all
        .into_iter()
        .filter(|(_, t)| *t >= w0 && *t <= w1)
        .collect();
    out.checks_in_window = by_real.len();
    let mut ivs: Vec<f64> = ivs.iter().map(Duration::as_secs_f64).collect();
    out.interval_reals = iv_reals;
    out.interval_s_max = ivs.iter().copied().reduce(f64::max);
    out.interval_s_p99 = quantile(&mut ivs, 0.99);
    out.interval_s_median = median(&mut ivs);
    let in_window: Vec<Instant> = by_real.iter().map(|(_, t)| *t).collect();
    let rounds = farm::rounds(&in_window, gap, n);
    out.rounds = rounds.len();
    let mut durs: Vec<f64> = rounds
        .iter()
        .map(|(s, e)| e.duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    out.round_ms_min = durs.iter().copied().reduce(f64::min);
    out.round_ms_max = durs.iter().copied().reduce(f64::max);
    out.round_ms_median = median(&mut durs);
    let mut periods: Vec<f64> = rounds
        .windows(2)
        .filter_map(|w| match w {
            [x, y] => Some(y.0.duration_since(x.0).as_secs_f64()),
            _ => None,
        })
        .collect();
    out.period_s_median = median(&mut periods);
    if ivs.is_empty() {
        bail!(
            "no real checked again in the {win:.0} s window ({} checks seen)",
            by_real.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_counts_reals_with_weight() {
        let t = "IP Virtual Server version 1.2.1 (size=4096)\n\
                 Prot LocalAddress:Port Scheduler Flags\n\
                 \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                 TCP  127.0.0.200:80 wrr\n\
                 \x20 -> 127.0.1.1:8080               Masq    1      0          0\n\
                 \x20 -> 127.0.1.2:8080               Masq    0      0          0\n\
                 \x20 -> 127.0.1.3:8080               Masq    1      0          0\n";
        assert_eq!(active_in_listing(t), 2);
        let mut v = vec![3.0, 1.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.99), Some(4.0));
        assert_eq!(median(&mut v), Some(2.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
