//! Running resource scripts the way heartbeat's `ResourceManager` does:
//! `<script> <args…> <action>`, found in `/etc/ha.d/resource.d` then
//! `/etc/init.d` (first regular executable file), with the environment
//! heartbeat exports to its children.
//!
//! stdout goes to an anonymous memory file rather than a pipe: IPaddr leaves
//! `send_arp` running in the background with the script's stdout, and a pipe
//! would only reach end-of-file when that child exits seconds later. The
//! exit of the script itself is what ends a run; its group is killed only on
//! timeout.
//!
//! `OCF::<type>::<instance>` resources and OCF agents without a wrapper
//! script are run natively, see [`ocf`].

pub mod ocf;

use std::ffi::CString;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hb_resources::{AgentOutcome, AgentResult};

/// Most of a script's stdout we keep (`status` prints one line).
const MAX_STDOUT: u64 = 64 * 1024;

/// First regular executable `<dir>/<script>` in `dirs` (ResourceManager's
/// `resource2script`). Script names with a `/` are refused.
pub fn locate(dirs: &[PathBuf], script: &str) -> Option<PathBuf> {
    if script.is_empty() || script.contains('/') || script == "." || script == ".." {
        return None;
    }
    dirs.iter()
        .map(|d| d.join(script))
        .find(|p| is_executable(p))
}

/// A regular file someone may execute (`[ -f x -a -x x ]`).
pub fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The variables heartbeat sets for its children (`HA_CURHOST`, the log
/// settings, where the config and shell functions live).
pub fn environment(
    loaded: &hb_config::Loaded,
    config_dir: &Path,
    debug: u32,
) -> Vec<(String, String)> {
    let cf = &loaded.hacf;
    let mut env = vec![
        ("HA_CURHOST".to_owned(), loaded.local_node.clone()),
        ("HA_DIR".to_owned(), config_dir.display().to_string()),
        (
            "HA_FUNCS".to_owned(),
            config_dir.join("shellfuncs").display().to_string(),
        ),
        ("HA_DATEFMT".to_owned(), "%Y/%m/%d_%T ".to_owned()),
        (
            "HA_LOGD".to_owned(),
            if cf.use_logd { "yes" } else { "no" }.to_owned(),
        ),
        ("HA_debug".to_owned(), debug.to_string()),
        // heartbeat.c exports OCF_ROOT to every child (the OCF wrappers in
        // resource.d and the agents find their shell functions with it).
        ("OCF_ROOT".to_owned(), ocf::ROOT.to_owned()),
        ("HA_cluster_type".to_owned(), "heartbeat".to_owned()),
    ];
    if let Some(f) = &cf.logfile {
        env.push(("HA_LOGFILE".to_owned(), f.display().to_string()));
    }
    if let Some(f) = &cf.debugfile {
        env.push(("HA_DEBUGLOG".to_owned(), f.display().to_string()));
    }
    if let Some(f) = cf.logfacility.as_deref().filter(|f| *f != "none") {
        env.push(("HA_LOGFACILITY".to_owned(), f.to_owned()));
    }
    // ha.cf `env NAME=value` lines.
    env.extend(cf.env.iter().cloned());
    env
}

/// One script run.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub path: PathBuf,
    /// Arguments, the action last.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Where the script's stderr goes (heartbeat: `2>>$HA_DEBUGLOG`).
    pub stderr_to: Option<PathBuf>,
}

fn memfd() -> std::io::Result<File> {
    let name = CString::new("hb-agent-stdout").map_err(std::io::Error::other)?;
    // SAFETY: memfd_create with a valid C string; the fd is owned below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn stderr_target(path: Option<&Path>) -> Stdio {
    path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    })
    .map_or_else(Stdio::null, Stdio::from)
}

/// Run it to completion or timeout (then SIGKILL its process group).
pub async fn run(inv: Invocation) -> AgentResult {
    let mut out = match memfd() {
        Ok(f) => f,
        Err(e) => return spawn_failed(format!("cannot create stdout buffer: {e}")),
    };
    let child_out = match out.try_clone() {
        Ok(f) => f,
        Err(e) => return spawn_failed(format!("cannot create stdout buffer: {e}")),
    };
    let mut cmd = tokio::process::Command::new(&inv.path);
    cmd.args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(child_out))
        .stderr(stderr_target(inv.stderr_to.as_deref()))
        .current_dir("/")
        // Its own group, so a timeout can kill everything it started.
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return spawn_failed(format!("{}: {e}", inv.path.display())),
    };
    let pid = child.id().and_then(|p| i32::try_from(p).ok());
    let outcome = match tokio::time::timeout(inv.timeout, child.wait()).await {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(c), _) => AgentOutcome::Exited(c),
            (None, Some(s)) => AgentOutcome::Signaled(s),
            (None, None) => AgentOutcome::Exited(-1),
        },
        Ok(Err(e)) => AgentOutcome::SpawnFailed(format!("wait: {e}")),
        Err(_) => {
            if let Some(pid) = pid {
                // SAFETY: kill(2) on the process group we created.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.wait().await;
            AgentOutcome::TimedOut
        }
    };
    let mut stdout = String::new();
    if out.seek(SeekFrom::Start(0)).is_ok() {
        let mut bytes = Vec::new();
        let _ = (&mut out).take(MAX_STDOUT).read_to_end(&mut bytes);
        stdout = String::from_utf8_lossy(&bytes).into_owned();
    }
    AgentResult { outcome, stdout }
}

fn spawn_failed(why: String) -> AgentResult {
    AgentResult {
        outcome: AgentOutcome::SpawnFailed(why),
        stdout: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn lookup_prefers_resource_d_and_skips_non_executables() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("plain"), "x").unwrap();
        let in_b = script(&b, "plain", "#!/bin/sh\n");
        let in_a = script(&a, "both", "#!/bin/sh\n");
        script(&b, "both", "#!/bin/sh\n");
        let dirs = [a.clone(), b.clone()];
        assert_eq!(locate(&dirs, "plain"), Some(in_b));
        assert_eq!(locate(&dirs, "both"), Some(in_a));
        assert_eq!(locate(&dirs, "missing"), None);
        assert_eq!(locate(&dirs, "../a/both"), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn argv_env_stdout_and_exit_code() {
        let d = tempfile::tempdir().unwrap();
        let p = script(
            d.path(),
            "t",
            "#!/bin/sh\necho \"argv=[$*] host=$HA_CURHOST\"\nexit 3\n",
        );
        let r = run(Invocation {
            path: p,
            args: vec!["192.0.2.50/24/eth0".into(), "status".into()],
            env: vec![("HA_CURHOST".into(), "node1".into())],
            timeout: Duration::from_secs(10),
            stderr_to: None,
        })
        .await;
        assert_eq!(r.outcome, AgentOutcome::Exited(3));
        assert_eq!(r.stdout, "argv=[192.0.2.50/24/eth0 status] host=node1\n");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn background_children_do_not_hold_the_result() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "bg", "#!/bin/sh\nsleep 30 &\necho started\n");
        let t0 = std::time::Instant::now();
        let r = run(Invocation {
            path: p,
            args: vec!["start".into()],
            env: vec![],
            timeout: Duration::from_secs(20),
            stderr_to: None,
        })
        .await;
        assert_eq!(r.outcome, AgentOutcome::Exited(0));
        assert_eq!(r.stdout, "started\n");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn timeout_kills_the_process_group() {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("pid");
        let p = script(
            d.path(),
            "hang",
            &format!(
                "#!/bin/sh\nsleep 60 &\necho $! > {}\nwait\n",
                marker.display()
            ),
        );
        let r = run(Invocation {
            path: p,
            args: vec!["stop".into()],
            env: vec![],
            timeout: Duration::from_millis(300),
            stderr_to: None,
        })
        .await;
        assert_eq!(r.outcome, AgentOutcome::TimedOut);
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep died with its group (a zombie at most, until
        // its reaper notices).
        let gone = (0..100).any(|_| {
            let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let alive = !st.is_empty() && !st.contains(") Z ");
            if alive {
                std::thread::sleep(Duration::from_millis(20));
            }
            !alive
        });
        assert!(gone, "background child {pid} survived the timeout");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_interpreter_is_a_spawn_failure() {
        let d = tempfile::tempdir().unwrap();
        let p = script(d.path(), "bad", "#!/nonexistent/shell\n");
        let r = run(Invocation {
            path: p,
            args: vec!["start".into()],
            env: vec![],
            timeout: Duration::from_secs(5),
            stderr_to: None,
        })
        .await;
        assert!(matches!(r.outcome, AgentOutcome::SpawnFailed(_)), "{r:?}");
    }
}
