//! The bits of /proc the harness reads: process trees, PID namespaces,
//! memory and CPU time. Everything here tolerates processes vanishing
//! between two reads.

use std::fs;

/// Direct children of `pid` (all its threads).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(s) = fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

fn pid_ns(pid: i32) -> Option<std::path::PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// Every process in the PID namespace whose init is `init` (host pids,
/// `init` first). Processes `nsenter`ed into the namespace count too.
pub fn pid_namespace_members(init: i32) -> Vec<i32> {
    let Some(ns) = pid_ns(init) else {
        return Vec::new();
    };
    let mut v: Vec<i32> = all_pids()
        .into_iter()
        .filter(|p| *p != init && pid_ns(*p).as_ref() == Some(&ns))
        .collect();
    v.sort_unstable();
    v.insert(0, init);
    v
}

/// Fields of `/proc/PID/stat` after the `comm` field (index 0 = state).
fn stat_fields(pid: i32) -> Option<(String, Vec<String>)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    let rest = s.get(close + 2..)?;
    Some((comm, rest.split_whitespace().map(str::to_owned).collect()))
}

pub fn comm(pid: i32) -> Option<String> {
    stat_fields(pid).map(|(c, _)| c)
}

pub fn ppid(pid: i32) -> Option<i32> {
    stat_fields(pid)?.1.get(1)?.parse().ok()
}

/// utime + stime of `pid` in clock ticks.
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let (_, f) = stat_fields(pid)?;
    let u: u64 = f.get(11)?.parse().ok()?;
    let s: u64 = f.get(12)?.parse().ok()?;
    Some(u + s)
}

/// A `kB` field of `/proc/PID/status` (e.g. `VmRSS`).
pub fn status_kb(pid: i32, key: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Proportional set size (kB) from `smaps_rollup`.
pub fn pss_kb(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines().find_map(|l| {
        let v = l.strip_prefix("Pss:")?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Clock ticks per second.
pub fn hz() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert!(comm(me).is_some());
        assert!(ppid(me).is_some_and(|p| p > 0));
        assert!(cpu_ticks(me).is_some());
        assert!(status_kb(me, "VmRSS").is_some_and(|kb| kb > 0));
        assert!(status_kb(me, "NoSuchKey").is_none());
        assert!(hz() > 0);
    }

    #[test]
    fn vanished_process_reads_as_none() {
        // pid_max is below 2^22 on Linux; this pid cannot exist.
        let gone = 1 << 23;
        assert_eq!(comm(gone), None);
        assert!(children(gone).is_empty());
        assert!(pid_namespace_members(gone).is_empty());
    }
}
