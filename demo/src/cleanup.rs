//! Everything the demo makes is named `hbdemo<pid>…` (namespaces, the
//! scratch dir under the temp dir), `<pid>` being the process that owns it.
//! That makes cleanup a sweep by name, which works the same from normal
//! exit, Ctrl-C / SIGTERM (signal thread), a panic (hook; release builds
//! abort, so destructors would not run), `--cleanup`, and for leftovers of
//! a run that was SIGKILLed. The test harness uses `hbt…`, so the two never
//! touch each other's namespaces.

use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;

use ha_tests::cmd;

pub const PREFIX: &str = "hbdemo";

pub fn prefix_for(pid: u32) -> String {
    format!("{PREFIX}{pid}")
}

/// The owning pid of a demo name (`hbdemo123n1` → 123).
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn netns_names() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Kill what runs in every demo namespace whose owner matches `which`,
/// delete those namespaces and scratch dirs. Returns what was removed.
fn sweep(which: impl Fn(u32) -> bool) -> Vec<String> {
    let me = std::process::id();
    let mut removed = Vec::new();
    for ns in netns_names() {
        if !owner(&ns).is_some_and(&which) {
            continue;
        }
        if let Ok(pids) = cmd::check(Command::new("ip").args(["netns", "pids", &ns]), cmd::SHORT) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                if pid as u32 != me {
                    // SAFETY: kill(2) on a process inside a namespace the demo made.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        if cmd::ip(&["netns", "del", &ns]).is_ok() {
            removed.push(format!("removed netns {ns}"));
        }
    }
    if let Ok(d) = std::fs::read_dir(std::env::temp_dir()) {
        for e in d.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner(&name).is_some_and(&which) && std::fs::remove_dir_all(e.path()).is_ok() {
                removed.push(format!("removed dir {}", e.path().display()));
            }
        }
    }
    removed
}

/// Remove what this process made.
pub fn sweep_own() -> Vec<String> {
    let me = std::process::id();
    sweep(|p| p == me)
}

/// Remove leftovers of demo runs whose process is gone (a `--keep` keeper
/// is alive, so its cluster stays).
pub fn sweep_stale() -> Vec<String> {
    sweep(|p| !alive(p))
}

/// `--cleanup`: stop every kept demo (SIGTERM to its keeper, which cleans
/// up after itself), then remove whatever is left.
pub fn sweep_all() -> Vec<String> {
    let me = std::process::id();
    let mut owners: Vec<u32> = netns_names().iter().filter_map(|n| owner(n)).collect();
    owners.sort_unstable();
    owners.dedup();
    let mut out = Vec::new();
    let mut keepers = Vec::new();
    for pid in owners.into_iter().filter(|p| *p != me && alive(*p)) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "hademo" {
            // SAFETY: kill(2) on a demo keeper (checked by name just above).
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            out.push(format!("stopped kept demo {pid}"));
            keepers.push(pid);
        }
    }
    // Keepers clean up after themselves; whatever remains is swept.
    let _ = ha_tests::wait_for(
        "kept demos to exit",
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(50),
        || match keepers.iter().filter(|p| alive(**p)).count() {
            0 => Ok(()),
            n => Err(format!("{n} still running")),
        },
    );
    out.extend(sweep(|p| p != me));
    out
}

/// Clean up on SIGINT / SIGTERM / SIGHUP and on panic. Handlers, not a
/// blocked mask waited on: a blocked mask is inherited by every child
/// (std's `Command` does not reset it), down to heartbeat and the
/// ldirectord it starts, which then never see the SIGTERM of a stop.
pub fn install_handlers() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let name =
                    Signal::try_from(sig).map_or_else(|_| sig.to_string(), |s| s.to_string());
                eprintln!("\nhademo: {name}: cleaning up");
                for what in sweep_own() {
                    eprintln!("hademo: {what}");
                }
                std::process::exit(130);
            }
        })?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        for what in sweep_own() {
            eprintln!("hademo: {what}");
        }
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_parses_only_demo_names() {
        assert_eq!(owner("hbdemo123n1"), Some(123));
        assert_eq!(owner("hbdemo123sw"), Some(123));
        assert_eq!(owner("hbdemo123"), Some(123));
        assert_eq!(owner("hbt123x0n1"), None);
        assert_eq!(owner("hbdemox"), None);
        assert_eq!(prefix_for(7), "hbdemo7");
        assert_eq!(owner(&prefix_for(42)), Some(42));
    }
}
