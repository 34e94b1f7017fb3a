//! Which processes use a filesystem, and signalling them (what `fuser -km`
//! does for the real Filesystem agent): a process uses it when its cwd, root,
//! executable, an open file or a mapped file lives on the filesystem's device.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `st_dev` of files on the filesystem mounted at `mountpoint`.
pub fn device_of(mountpoint: &Path) -> std::io::Result<u64> {
    fs::metadata(mountpoint).map(|m| m.dev())
}

/// Major and minor of a Linux `dev_t`.
pub fn major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
    (major, minor)
}

/// Does a `/proc/<pid>/maps` text map a file from device `(major, minor)`?
pub fn maps_use_device(maps: &str, major: u64, minor: u64) -> bool {
    maps.lines().any(|line| {
        let mut f = line.split_whitespace();
        let (Some(_), Some(_), Some(_), Some(dev), Some(inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return false;
        };
        if inode == "0" {
            return false;
        }
        let Some((ma, mi)) = dev.split_once(':') else {
            return false;
        };
        u64::from_str_radix(ma, 16).ok() == Some(major)
            && u64::from_str_radix(mi, 16).ok() == Some(minor)
    })
}

fn on_device(path: &Path, dev: u64) -> bool {
    // stat through the /proc magic link reaches the file even if deleted.
    fs::metadata(path).is_ok_and(|m| m.dev() == dev)
}

/// Pids (other than ours) using files on device `dev`.
pub fn pids_using(dev: u64) -> Vec<i32> {
    let own = std::process::id();
    let (major, minor) = major_minor(dev);
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 0 && u32::try_from(pid).ok() != Some(own))
        .filter(|&pid| {
            let base = Path::new("/proc").join(pid.to_string());
            ["cwd", "root", "exe"]
                .iter()
                .any(|l| on_device(&base.join(l), dev))
                || fs::read_dir(base.join("fd")).is_ok_and(|fds| {
                    fds.filter_map(Result::ok)
                        .any(|fd| on_device(&fd.path(), dev))
                })
                || fs::read_to_string(base.join("maps"))
                    .is_ok_and(|m| maps_use_device(&m, major, minor))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Send `sig` to every process using device `dev`; returns the pids signalled.
pub fn signal_users(dev: u64, sig: Signal) -> Vec<i32> {
    let pids = pids_using(dev);
    for &pid in &pids {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        tracing::info!(pid, comm = comm.trim(), signal = %sig, "sending signal to process using the filesystem");
        if let Err(e) = kill(Pid::from_raw(pid), sig) {
            tracing::warn!(pid, error = %e, "kill failed");
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_t_split() {
        for (ma, mi) in [(7, 3), (259, 65536), (4095, 255), (8, 1)] {
            assert_eq!(major_minor(nix::sys::stat::makedev(ma, mi)), (ma, mi));
        }
    }

    #[test]
    fn maps_device_column() {
        let maps = "55d0 r--p 00000000 07:03 1234 /mnt/x/bin\n\
7f00 rw-p 00000000 00:00 0 [heap]\n";
        assert!(maps_use_device(maps, 7, 3));
        assert!(!maps_use_device(maps, 7, 4));
        assert!(
            !maps_use_device(maps, 0, 0),
            "anonymous mappings don't count"
        );
        assert!(!maps_use_device("garbage", 7, 3));
    }

    #[test]
    fn finds_our_child_by_cwd() {
        let dir = std::env::temp_dir();
        let dev = device_of(&dir).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&dir)
            .spawn()
            .unwrap();
        let found = pids_using(dev).contains(&(child.id() as i32));
        let _ = child.kill();
        let _ = child.wait();
        assert!(found);
        assert!(!pids_using(dev).contains(&(std::process::id() as i32)));
    }
}
