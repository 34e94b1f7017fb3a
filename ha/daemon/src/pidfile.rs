//! `/run/heartbeat.pid`, with cluster-glue's `cl_pidfile` semantics:
//! the pid as `"%10d\n"`, created by writing a temporary file and `link(2)`ing
//! it into place (atomic against a concurrent start), and a pid counts as
//! running only if that process exists *and* is a heartbeat (a reused pid of
//! an unrelated process makes the file stale, as glue's `IsRunning` does by
//! comparing `/proc/PID/exe`).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// What a pid file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidState {
    /// No file, an empty one, or garbage.
    Stopped,
    /// The file names a pid that is gone or is not a heartbeat.
    Stale(i32),
    Running(i32),
}

#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("heartbeat is already running [pid {0}]")]
    AlreadyRunning(i32),
    #[error("could not create pidfile [{path}]: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Contents as written by heartbeat (`"%10d\n"`).
pub fn format_pid(pid: i32) -> String {
    format!("{pid:>10}\n")
}

/// The pid in a pid file's text (leading blanks allowed, like `sscanf("%ld")`).
pub fn parse_pid(text: &str) -> Option<i32> {
    let tok = text.split_whitespace().next()?;
    let pid: i32 = tok.parse().ok()?;
    (pid > 0).then_some(pid)
}

/// True if `pid` exists and its executable is a heartbeat (ours or the C one).
pub fn is_heartbeat_process(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    match fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(exe) => exe
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("heartbeat")),
        // Without the right to look (not root) trust the signal probe.
        Err(e) => e.kind() == io::ErrorKind::PermissionDenied,
    }
}

pub fn read_state(path: &Path) -> PidState {
    read_state_with(path, is_heartbeat_process)
}

fn read_state_with(path: &Path, is_running: impl Fn(i32) -> bool) -> PidState {
    let Ok(text) = fs::read_to_string(path) else {
        return PidState::Stopped;
    };
    match parse_pid(&text) {
        None => PidState::Stopped,
        Some(pid) if is_running(pid) => PidState::Running(pid),
        Some(pid) => PidState::Stale(pid),
    }
}

/// Our claim on the pid file; removed again on drop.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: i32,
}

impl PidFile {
    /// Claim `path` for the current process.
    pub fn create(path: &Path) -> Result<Self, PidFileError> {
        Self::create_with(path, std::process::id() as i32, is_heartbeat_process)
    }

    fn create_with(
        path: &Path,
        pid: i32,
        is_running: impl Fn(i32) -> bool,
    ) -> Result<Self, PidFileError> {
        let io_err = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        match read_state_with(path, &is_running) {
            PidState::Running(other) if other != pid => {
                return Err(PidFileError::AlreadyRunning(other))
            }
            PidState::Stopped if !path.exists() => {}
            _ => match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            },
        }
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".{pid}"));
        let tmp = PathBuf::from(tmp_name);
        let write_tmp = || -> io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(format_pid(pid).as_bytes())
        };
        let _ = fs::remove_file(&tmp);
        let linked = write_tmp().and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(Self {
                path: path.to_path_buf(),
                pid,
            }),
            // Lost a race with another starting heartbeat.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                match read_state_with(path, &is_running) {
                    PidState::Running(other) => Err(PidFileError::AlreadyRunning(other)),
                    _ => Err(io_err(e)),
                }
            }
            Err(e) => Err(io_err(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove what is still ours.
        if let Ok(text) = fs::read_to_string(&self.path) {
            if parse_pid(&text) == Some(self.pid) {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_matches_heartbeat_bytes() {
        // Real /run/heartbeat.pid for pid 122: 7 blanks, "122", newline.
        assert_eq!(format_pid(122), "       122\n");
        assert_eq!(format_pid(122).len(), 11);
        assert_eq!(parse_pid("       122\n"), Some(122));
        assert_eq!(parse_pid("garbage"), None);
        assert_eq!(parse_pid("-5\n"), None);
        assert_eq!(parse_pid(""), None);
    }

    #[test]
    fn create_writes_pid_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat.pid");
        let guard = PidFile::create_with(&path, 4242, |_| false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "      4242\n");
        assert!(!dir.path().join("heartbeat.pid.4242").exists());
        drop(guard);
        assert!(!path.exists());
    }

    #[test]
    fn refuses_when_another_heartbeat_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat.pid");
        fs::write(&path, format_pid(777)).unwrap();
        let err = PidFile::create_with(&path, 4242, |p| p == 777).unwrap_err();
        assert!(matches!(err, PidFileError::AlreadyRunning(777)), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), format_pid(777));
    }

    #[test]
    fn replaces_stale_and_garbage_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat.pid");
        fs::write(&path, format_pid(777)).unwrap();
        assert_eq!(read_state_with(&path, |_| false), PidState::Stale(777));
        let guard = PidFile::create_with(&path, 4242, |_| false).unwrap();
        assert_eq!(parse_pid(&fs::read_to_string(&path).unwrap()), Some(4242));
        drop(guard);

        fs::write(&path, "not a pid").unwrap();
        assert_eq!(read_state_with(&path, |_| true), PidState::Stopped);
        let _guard = PidFile::create_with(&path, 4243, |_| true).unwrap();
        assert_eq!(parse_pid(&fs::read_to_string(&path).unwrap()), Some(4243));
    }

    #[test]
    fn drop_leaves_a_file_that_is_no_longer_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heartbeat.pid");
        let guard = PidFile::create_with(&path, 4242, |_| false).unwrap();
        fs::write(&path, format_pid(999)).unwrap();
        drop(guard);
        assert_eq!(fs::read_to_string(&path).unwrap(), format_pid(999));
    }

    #[test]
    fn a_live_process_that_is_not_heartbeat_is_stale() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let running = is_heartbeat_process(pid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(!running, "sleep must not count as a running heartbeat");
        // And a reaped pid is gone.
        assert!(!is_heartbeat_process(pid));
    }
}
