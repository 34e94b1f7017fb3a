//! `/var/run/ldirectord.<cfgname>.pid`: a pid counts as running only while
//! that process exists and its command line mentions `ldirectord` (as 4.12
//! checks `/proc/<pid>/cmdline`), so a reused pid reads as stale.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidState {
    /// No file, an empty one, or garbage.
    Stopped,
    /// The file names a process that is gone or is not an ldirectord.
    Stale(i32),
    Running(i32),
}

pub fn parse_pid(text: &str) -> Option<i32> {
    let pid: i32 = text.split_whitespace().next()?.parse().ok()?;
    (pid > 0).then_some(pid)
}

/// True if `pid` exists and its command line contains `ldirectord`.
pub fn is_ldirectord(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.windows(10).any(|w| w == b"ldirectord"),
        Err(_) => false,
    }
}

/// True while the process exists at all (zombies included: a reaped
/// daemon's pid disappears).
pub fn process_exists(pid: i32) -> bool {
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM)) && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

pub fn read_state(path: &Path) -> PidState {
    let Ok(text) = fs::read_to_string(path) else {
        return PidState::Stopped;
    };
    match parse_pid(&text) {
        None => PidState::Stopped,
        Some(pid) if is_ldirectord(pid) => PidState::Running(pid),
        Some(pid) => PidState::Stale(pid),
    }
}

/// The daemon's claim on its pid file; removed on drop if it still holds
/// our pid (a second daemon's file is never removed).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: i32,
}

impl PidFile {
    /// Write our pid atomically (temporary file + rename), so a reader never
    /// sees an empty file.
    pub fn create(path: &Path) -> io::Result<PidFile> {
        let pid = std::process::id() as i32;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("pid.{pid}.tmp"));
        {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{pid}")?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| parse_pid(&t))
            == Some(self.pid);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pid_text() {
        assert_eq!(parse_pid("123\n"), Some(123));
        assert_eq!(parse_pid("  77 "), Some(77));
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("x"), None);
        assert_eq!(parse_pid("-3"), None);
    }

    #[test]
    fn pid_file_is_removed_on_drop_only_if_ours() {
        let dir = std::env::temp_dir().join(format!("lddpid-{}", std::process::id()));
        let path = dir.join("ldirectord.t.pid");
        let f = PidFile::create(&path).unwrap();
        assert_eq!(
            parse_pid(&fs::read_to_string(&path).unwrap()),
            Some(std::process::id() as i32)
        );
        drop(f);
        assert!(!path.exists());
        let f = PidFile::create(&path).unwrap();
        fs::write(&path, "1\n").unwrap();
        drop(f);
        assert!(path.exists(), "another daemon's pid file must stay");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_or_foreign_pid_is_not_running() {
        let dir = std::env::temp_dir().join(format!("lddpid2-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.pid");
        assert_eq!(read_state(&path), PidState::Stopped);
        // pid 1 exists but is not an ldirectord
        fs::write(&path, "1\n").unwrap();
        assert_eq!(read_state(&path), PidState::Stale(1));
        let _ = fs::remove_dir_all(&dir);
    }
}
