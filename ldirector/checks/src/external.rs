//! `external` and `external-perl`: run `command VIP VPORT RIP RPORT` (no
//! shell), exit status 0 = up.
//!
//! The command runs in its own process group, and a check that is dropped
//! (timeout, reload, shutdown) kills the whole group: a check script that
//! forks (`curl`, `sleep`, a pipeline) must not leave anything behind.
//! ldirectord sends TERM to the child only; KILL to the group is what
//! "killed on timeout" needs to mean when a script ignores TERM.

use std::process::Stdio;

use tokio::process::Command;

use crate::CheckResult;

/// Kills the process group on drop unless disarmed.
struct GroupKill {
    pgid: Option<libc::pid_t>,
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) has no memory effects; the group is ours (the
            // leader is not reaped yet while `child` lives, so the id cannot
            // have been reused).
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// `program [script] args…`; the caller bounds the future.
pub async fn run(program: &str, script: Option<&str>, args: &[String; 4]) -> CheckResult {
    let mut cmd = Command::new(program);
    if let Some(s) = script {
        cmd.arg(s);
    }
    cmd.args(args.iter())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return CheckResult::down(format!("cannot run {program}: {e}")),
    };
    // Declared after `child`, dropped before it: the group is killed while
    // the leader is still unreaped, then tokio kills and reaps the leader.
    let mut guard = GroupKill {
        pgid: child.id().and_then(|p| libc::pid_t::try_from(p).ok()),
    };
    let status = child.wait().await;
    guard.pgid = None;
    match status {
        Ok(s) if s.success() => CheckResult::up(),
        Ok(s) => CheckResult::down(format!("{} {}: {s}", program, script.unwrap_or(""))),
        Err(e) => CheckResult::down(format!("waiting for {program}: {e}")),
    }
}
