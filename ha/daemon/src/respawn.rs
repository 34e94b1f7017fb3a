//! `respawn <user> <command>` and `failfast <user> <command>`: heartbeat's
//! managed child clients.
//!
//! Each client starts once heartbeat is active, as `<user>` (its primary
//! group and supplementary groups), in its own process group, with stdin,
//! stdout and stderr on /dev/null and heartbeat's `HA_*` environment, run
//! as `/bin/sh -c "exec <command>"` (so the command line may carry
//! arguments). heartbeat's rules, from `ManagedChildDied`:
//! * a client that exits with code 100 is never restarted;
//! * otherwise it is restarted at once, after a 1 s pause if its previous
//!   run lasted under 30 s; after more than 10 such short runs in a row
//!   heartbeat logs "respawning too fast" and leaves it stopped;
//! * `failfast` clients are not restarted; one that dies on a signal or
//!   with a non-zero code outside a shutdown reboots the node;
//! * on shutdown each process group gets SIGTERM (SIGKILL if it lingers).
//!
//! [`RestartPolicy`] is that rule without I/O; [`Respawner`] runs it.

use std::os::unix::process::ExitStatusExt as _;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Pid, User};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// A run shorter than this counts as "short".
pub const SHORT_RUN: Duration = Duration::from_secs(30);
/// More short runs in a row than this: give up.
pub const MAX_SHORT_RUNS: u32 = 10;
/// Pause before restarting a client whose last run was short.
pub const SHORT_RUN_PAUSE: Duration = Duration::from_secs(1);
/// How long a client may take to die after SIGTERM at shutdown.
pub const TERM_GRACE: Duration = Duration::from_secs(5);
/// The exit code that means "do not restart me".
pub const NO_RESPAWN_CODE: i32 = 100;

/// How a client run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for Exit {
    fn from(s: ExitStatus) -> Exit {
        match (s.code(), s.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Code(-1),
        }
    }
}

/// What to do after a client exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Restart {
        after: Duration,
    },
    /// Leave it stopped; the reason is for the log.
    Stop(&'static str),
    /// failfast: the node must be rebooted.
    Fence,
}

/// heartbeat's restart rule for one client.
#[derive(Clone, Debug, Default)]
pub struct RestartPolicy {
    short_runs: u32,
}

impl RestartPolicy {
    pub fn on_exit(&mut self, exit: Exit, ran_for: Duration, failfast: bool) -> Verdict {
        if failfast {
            return if exit == Exit::Code(0) {
                Verdict::Stop("failfast client exited")
            } else {
                Verdict::Fence
            };
        }
        if exit == Exit::Code(NO_RESPAWN_CODE) {
            return Verdict::Stop("exit code 100");
        }
        if ran_for < SHORT_RUN {
            self.short_runs += 1;
        } else {
            self.short_runs = 0;
        }
        if self.short_runs > MAX_SHORT_RUNS {
            self.short_runs = 0;
            return Verdict::Stop("respawning too fast");
        }
        Verdict::Restart {
            after: if self.short_runs > 0 {
                SHORT_RUN_PAUSE
            } else {
                Duration::ZERO
            },
        }
    }
}

/// One `respawn`/`failfast` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    pub user: String,
    pub command: String,
    pub failfast: bool,
}

impl ClientSpec {
    fn path(&self) -> &str {
        self.command.split_ascii_whitespace().next().unwrap_or("")
    }
}

/// A failfast client died badly: the loop must fence this node.
#[derive(Debug)]
pub struct FailFast {
    pub reason: String,
}

pub struct Respawner {
    clients: Vec<ClientSpec>,
    env: Vec<(String, String)>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    started: bool,
}

impl Respawner {
    pub fn new(clients: Vec<ClientSpec>, env: Vec<(String, String)>) -> Respawner {
        Respawner {
            clients,
            env,
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            started: false,
        }
    }

    /// Start every client (once). `tx` receives failfast deaths.
    pub fn start<T: From<FailFast> + Send + 'static>(&mut self, tx: mpsc::Sender<T>) {
        if self.started {
            return;
        }
        self.started = true;
        for c in &self.clients {
            let task = Task {
                spec: c.clone(),
                env: self.env.clone(),
                stop: self.stop.subscribe(),
                pgid: Arc::new(Mutex::new(None)),
            };
            let tx = tx.clone();
            self.tasks.push(tokio::spawn(task.run(tx)));
        }
    }

    /// Stop restarting and signal every running client.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Wait for every client task to end (SIGKILL is sent after
    /// [`TERM_GRACE`] by the tasks themselves).
    pub async fn join(&mut self) {
        self.stop();
        for t in self.tasks.drain(..) {
            let _ = tokio::time::timeout(TERM_GRACE + Duration::from_secs(1), t).await;
        }
    }
}

struct Task {
    spec: ClientSpec,
    env: Vec<(String, String)>,
    stop: watch::Receiver<bool>,
    pgid: Arc<Mutex<Option<i32>>>,
}

fn is_executable(path: &str) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

impl Task {
    async fn run<T: From<FailFast> + Send + 'static>(mut self, tx: mpsc::Sender<T>) {
        let cmd = self.spec.command.clone();
        let user = match User::from_name(&self.spec.user) {
            Ok(Some(u)) => u,
            Ok(None) | Err(_) => {
                tracing::error!(command = %cmd, user = %self.spec.user,
                    "Cannot setup child process {cmd}: no user {}", self.spec.user);
                return;
            }
        };
        let mut policy = RestartPolicy::default();
        let mut pause = Duration::ZERO;
        loop {
            if *self.stop.borrow() {
                return;
            }
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = self.stop.changed() => return,
                }
            }
            tracing::info!(command = %cmd, uid = user.uid.as_raw(), gid = user.gid.as_raw(),
                "Starting child client \"{cmd}\" ({},{})", user.uid, user.gid);
            if !is_executable(self.spec.path()) {
                tracing::error!(command = %cmd, "Cannot exec {cmd}");
                return;
            }
            let mut child = match spawn(&self.spec, &user, &self.env) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(command = %cmd, error = %e, "Cannot setup child process {cmd}: {e}");
                    return;
                }
            };
            let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
            if let Ok(mut g) = self.pgid.lock() {
                *g = Some(pid);
            }
            tracing::info!(command = %cmd, pid,
                "Starting \"{cmd}\" as uid {}  gid {} (pid {pid})", user.uid, user.gid);
            let started = Instant::now();
            let status = tokio::select! {
                s = child.wait() => s,
                _ = self.stop.changed() => {
                    terminate(&cmd, pid, &mut child).await;
                    return;
                }
            };
            if let Ok(mut g) = self.pgid.lock() {
                *g = None;
            }
            let exit = match status {
                Ok(s) => Exit::from(s),
                Err(e) => {
                    tracing::error!(command = %cmd, error = %e, "Cannot wait for client {cmd}: {e}");
                    return;
                }
            };
            let shutting_down = *self.stop.borrow();
            if !shutting_down {
                match exit {
                    Exit::Code(0) => {}
                    Exit::Code(c) => {
                        tracing::error!(command = %cmd, code = c, "Client {cmd} exited with return code {c}.")
                    }
                    Exit::Signal(s) => {
                        tracing::error!(command = %cmd, pid, signal = s, "Client {cmd} (pid={pid}) killed by signal {s}.")
                    }
                }
            }
            if shutting_down {
                return;
            }
            match policy.on_exit(exit, started.elapsed(), self.spec.failfast) {
                Verdict::Restart { after } => {
                    tracing::error!(command = %cmd, "Respawning client \"{cmd}\":");
                    pause = after;
                }
                Verdict::Stop("respawning too fast") => {
                    tracing::error!(command = %cmd, "Client {cmd} \"respawning too fast\"");
                    return;
                }
                Verdict::Stop(why) => {
                    tracing::info!(command = %cmd, reason = why, "Client {cmd} not restarted ({why}).");
                    return;
                }
                Verdict::Fence => {
                    let reason = format!("failfast client {cmd} died ({exit:?})");
                    let _ = tx.send(FailFast { reason }.into()).await;
                    return;
                }
            }
        }
    }
}

fn spawn(
    spec: &ClientSpec,
    user: &User,
    env: &[(String, String)],
) -> std::io::Result<tokio::process::Child> {
    let name = std::ffi::CString::new(user.name.as_str())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (uid, gid) = (user.uid, user.gid);
    let mut c = tokio::process::Command::new("/bin/sh");
    c.arg("-c")
        .arg(format!("exec {}", spec.command))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(false);
    // SAFETY: only async-signal-safe system calls between fork and exec
    // (setpgid, initgroups' setgroups after reading the group database is
    // what heartbeat itself does in its child), on values prepared before
    // the fork.
    unsafe {
        c.pre_exec(move || {
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
            if nix::unistd::getuid().is_root() {
                nix::unistd::initgroups(&name, gid)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
            }
            Ok(())
        });
    }
    c.spawn()
}

async fn terminate(cmd: &str, pid: i32, child: &mut tokio::process::Child) {
    if pid <= 0 {
        return;
    }
    tracing::info!(command = %cmd, pid, "killing {cmd} process group {pid} with signal 15");
    let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
    if tokio::time::timeout(TERM_GRACE, child.wait())
        .await
        .is_err()
    {
        tracing::warn!(command = %cmd, pid, "killing {cmd} process group {pid} with signal 9");
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = child.wait().await;
    }
}

/// The clients ha.cf asks for, minus heartbeat's ipfail when it runs built
/// in (then `true` is returned alongside).
pub fn clients(cf: &hb_config::HaCf) -> (Vec<ClientSpec>, bool) {
    let mut out = Vec::new();
    let mut ipfail = false;
    for r in &cf.respawn {
        if hb_resources::ipfail::is_ipfail_command(&r.command) {
            tracing::info!(command = %r.command,
                "Not starting \"{}\": ipfail is built into this heartbeat.", r.command);
            ipfail = true;
            continue;
        }
        out.push(ClientSpec {
            user: r.user.clone(),
            command: r.command.clone(),
            failfast: false,
        });
    }
    for r in &cf.failfast {
        out.push(ClientSpec {
            user: r.user.clone(),
            command: r.command.clone(),
            failfast: true,
        });
    }
    (out, ipfail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn exit_100_is_never_restarted() {
        let mut p = RestartPolicy::default();
        assert_eq!(
            p.on_exit(Exit::Code(100), s(3600), false),
            Verdict::Stop("exit code 100")
        );
    }

    #[test]
    fn long_runs_restart_at_once_short_ones_after_a_pause() {
        let mut p = RestartPolicy::default();
        assert_eq!(
            p.on_exit(Exit::Code(1), s(31), false),
            Verdict::Restart {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            p.on_exit(Exit::Signal(9), s(2), false),
            Verdict::Restart {
                after: SHORT_RUN_PAUSE
            }
        );
        // A long run resets the count.
        assert_eq!(
            p.on_exit(Exit::Code(0), s(30), false),
            Verdict::Restart {
                after: Duration::ZERO
            }
        );
    }

    #[test]
    fn eleven_short_runs_in_a_row_give_up() {
        let mut p = RestartPolicy::default();
        for _ in 0..MAX_SHORT_RUNS {
            assert!(matches!(
                p.on_exit(Exit::Code(1), s(1), false),
                Verdict::Restart { .. }
            ));
        }
        assert_eq!(
            p.on_exit(Exit::Code(1), s(1), false),
            Verdict::Stop("respawning too fast")
        );
    }

    #[test]
    fn failfast_fences_on_a_bad_death_only() {
        let mut p = RestartPolicy::default();
        assert_eq!(p.on_exit(Exit::Code(3), s(100), true), Verdict::Fence);
        assert_eq!(p.on_exit(Exit::Signal(9), s(100), true), Verdict::Fence);
        assert!(matches!(
            p.on_exit(Exit::Code(0), s(100), true),
            Verdict::Stop(_)
        ));
    }

    #[test]
    fn ipfail_lines_are_taken_out() {
        let cf = hb_config::parse_ha_cf(
            std::path::Path::new("ha.cf"),
            "node a\nnode b\nbcast lo\nrespawn root /usr/lib/heartbeat/ipfail\n\
             respawn root /usr/local/bin/watcher -v\n",
        )
        .unwrap();
        let (c, ipfail) = clients(&cf);
        assert!(ipfail);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].command, "/usr/local/bin/watcher -v");
        assert_eq!(c[0].path(), "/usr/local/bin/watcher");
    }

    struct Done;
    impl From<FailFast> for Done {
        fn from(_: FailFast) -> Done {
            Done
        }
    }

    fn read_pid(path: &std::path::Path) -> Option<i32> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Real processes: a killed client comes back with a new pid; one that
    /// exits 100 stays down; stop() ends the running one.
    #[tokio::test]
    async fn restarts_killed_client_not_one_exiting_100() {
        let Ok(Some(me)) = User::from_uid(nix::unistd::getuid()) else {
            panic!("no passwd entry for the test user");
        };
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let stopfile = dir.path().join("exit100");
        let runs = dir.path().join("runs");
        let script = dir.path().join("client.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho $$ > {p}\necho run >> {r}\n\
                 while [ ! -e {s} ]; do sleep 0.05; done\nexit 100\n",
                p = pidfile.display(),
                r = runs.display(),
                s = stopfile.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

        let (tx, _rx) = mpsc::channel::<Done>(4);
        let mut r = Respawner::new(
            vec![ClientSpec {
                user: me.name.clone(),
                command: format!("{} ignored-arg", script.display()),
                failfast: false,
            }],
            vec![("HA_TEST".into(), "1".into())],
        );
        r.start(tx);
        wait_until("first run", || read_pid(&pidfile).is_some()).await;
        let first = read_pid(&pidfile).unwrap();
        nix::sys::signal::kill(Pid::from_raw(first), Signal::SIGKILL).unwrap();
        wait_until("restart", || read_pid(&pidfile).is_some_and(|p| p != first)).await;
        let count = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map(|s| s.lines().count())
                .unwrap_or(0)
        };
        assert_eq!(count(&runs), 2);

        // Exit 100: the task ends and nothing starts again.
        std::fs::write(&stopfile, "").unwrap();
        let second = read_pid(&pidfile).unwrap();
        wait_until("exit", || {
            nix::sys::signal::kill(Pid::from_raw(second), None).is_err()
        })
        .await;
        wait_until("task end", || r.tasks.iter().all(JoinHandle::is_finished)).await;
        assert_eq!(count(&runs), 2, "a client exiting 100 was restarted");
        r.join().await;
    }

    #[tokio::test]
    async fn stop_terminates_the_process_group() {
        let Ok(Some(me)) = User::from_uid(nix::unistd::getuid()) else {
            panic!("no passwd entry for the test user");
        };
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let (tx, _rx) = mpsc::channel::<Done>(4);
        let mut r = Respawner::new(
            vec![ClientSpec {
                user: me.name.clone(),
                command: format!("/bin/sh -c 'echo $$ > {}; sleep 600'", pidfile.display()),
                failfast: false,
            }],
            Vec::new(),
        );
        r.start(tx);
        wait_until("start", || read_pid(&pidfile).is_some()).await;
        let pid = read_pid(&pidfile).unwrap();
        r.join().await;
        assert!(
            nix::sys::signal::kill(Pid::from_raw(pid), None).is_err(),
            "client {pid} survived stop"
        );
    }
}
