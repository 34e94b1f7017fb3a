//! One cluster node: a host on the LAN running heartbeat (real or ours) in
//! its own UTS + mount + PID namespace, with private copies of every path
//! heartbeat hard-codes.
//!
//! Per-node directory (on the host, bind-mounted inside the node):
//! `etc` → `/etc/ha.d`, `varlib` → `/var/lib/heartbeat`, `run` → `/run`,
//! `log` → `/var/log`; plus `reboot-stub` (bound over the reboot paths) and
//! `init.out` (stdout/stderr of the node's init and of a foreground daemon).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::env::{Env, REAL_CL_STATUS, REAL_INIT};
use crate::netns::Host;
use crate::procfs;
use crate::wait::wait_for;

/// Which heartbeat a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Debian's heartbeat 3.0.6 through its stock init script.
    Real,
    /// Our `heartbeat` binary.
    Ours,
    /// No daemon: the host exists (namespace, address, config) and a test
    /// drives it, e.g. with a [`crate::fakepeer::FakePeer`].
    Absent,
}

/// Files a node is configured with.
#[derive(Clone, Debug)]
pub struct NodeFiles {
    pub ha_cf: String,
    pub authkeys: String,
    pub haresources: String,
    /// Extra scripts for `/etc/ha.d/resource.d` (name, contents).
    pub resource_scripts: Vec<(String, String)>,
    /// Executables in node-private directories (directory, name,
    /// contents): each such directory is bound over the host's, so the node
    /// sees only these files there (e.g. `/etc/init.d`, which hides the
    /// host's init scripts: only for nodes of our heartbeat).
    pub private_files: Vec<(String, String, String)>,
    /// Host directories bound over a path inside the node (source,
    /// target), e.g. an installed tree from `scripts/install.sh DESTDIR`.
    pub binds: Vec<(PathBuf, String)>,
}

/// Where a private directory lives under the node dir.
fn private_sub(target: &str) -> String {
    format!("private{}", target.replace('/', "_"))
}

const REBOOT_STUB: &str = "#!/bin/sh\n\
# ha-tests: heartbeat reboots on a failed stop; inside a test node that must\n\
# only be logged.\n\
echo \"$(date '+%F %T.%N') $(hostname) REBOOT-STUB $0 $*\" >> /var/log/reboot-stub.log\n\
exit 0\n";

/// Paths covered by the reboot stub (bound only where they are regular
/// files; `/sbin/reboot` is usually a symlink to systemctl).
const STUBBED: [&str; 3] = ["/usr/bin/systemctl", "/lib/systemd/systemd", "/sbin/reboot"];

/// A running (or powered-off) node. Dropping it powers it off.
#[derive(Debug)]
pub struct Node {
    name: String,
    kind: Kind,
    dir: PathBuf,
    env: Env,
    /// `ip netns exec … unshare …`: the parent of the node's PID 1.
    child: Option<Child>,
    /// Host pid of the node's PID 1 (`nsinit`).
    init: Option<i32>,
    /// Directories bound over the host's inside the node (source, target).
    private: Vec<(PathBuf, String)>,
    // Last: the namespace goes after the processes in it.
    host: Host,
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    cmd::check(
        Command::new("cp").arg("-a").arg(src.join(".")).arg(dst),
        cmd::SHORT,
    )
    .map(drop)
}

/// Recreate the package's `/var/lib/heartbeat` directory skeleton with its
/// owners and modes (ccm/crm belong to hacluster).
fn varlib_skeleton(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst)?;
    let Ok(entries) = fs::read_dir(src) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let meta = e.metadata()?;
        if !meta.is_dir() {
            continue;
        }
        let to = dst.join(e.file_name());
        fs::create_dir_all(&to)?;
        std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid()))?;
        fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        varlib_skeleton(&e.path(), &to)?;
    }
    Ok(())
}

/// Write `path` with `mode`, replacing (never following) a symlink there.
pub fn write_mode(path: &Path, contents: &str, mode: u32) -> Result<()> {
    // The node's etc is a copy of the host's /etc/ha.d, symlinks included
    // (Debian's ldirectord links resource.d/ldirectord to /usr/sbin/ldirectord):
    // replace such a link, never write through it onto the host.
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(path).with_context(|| format!("unlink {}", path.display()))?;
    }
    fs::write(path, contents).with_context(|| format!("write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

impl Node {
    /// Lay out the node's directory under `dir` and write its config. The
    /// node is not started.
    pub fn prepare(
        name: &str,
        kind: Kind,
        host: Host,
        dir: PathBuf,
        files: &NodeFiles,
        env: &Env,
    ) -> Result<Self> {
        for sub in ["etc", "varlib", "run", "log"] {
            fs::create_dir_all(dir.join(sub))?;
            fs::set_permissions(dir.join(sub), fs::Permissions::from_mode(0o755))?;
        }
        let etc = dir.join("etc");
        copy_tree(Path::new("/etc/ha.d"), &etc)?;
        write_mode(&etc.join("ha.cf"), &files.ha_cf, 0o644)?;
        write_mode(&etc.join("authkeys"), &files.authkeys, 0o600)?;
        write_mode(&etc.join("haresources"), &files.haresources, 0o644)?;
        fs::create_dir_all(etc.join("resource.d"))?;
        for (script, body) in &files.resource_scripts {
            write_mode(&etc.join("resource.d").join(script), body, 0o755)?;
        }
        let mut private: Vec<(PathBuf, String)> = Vec::new();
        for (target, name, body) in &files.private_files {
            let sub = dir.join(private_sub(target));
            fs::create_dir_all(&sub)?;
            write_mode(&sub.join(name), body, 0o755)?;
            if !private.iter().any(|(_, t)| t == target) {
                private.push((sub, target.clone()));
            }
        }
        private.extend(files.binds.iter().cloned());
        varlib_skeleton(Path::new("/var/lib/heartbeat"), &dir.join("varlib"))?;
        write_mode(&dir.join("reboot-stub"), REBOOT_STUB, 0o755)?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            dir,
            env: env.clone(),
            child: None,
            init: None,
            private,
            host,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn ip(&self) -> std::net::Ipv4Addr {
        self.host.ip
    }

    /// The node's directory on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Host pid of the node's PID 1, while it is powered on.
    pub fn init_pid(&self) -> Option<i32> {
        self.init
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
    }

    pub fn is_powered_on(&self) -> bool {
        self.init_pid().is_some()
    }

    /// The daemon command line for this node.
    fn daemon_cmd(&self) -> Result<Vec<String>> {
        Ok(match self.kind {
            Kind::Real => vec![REAL_INIT.into(), "start".into()],
            Kind::Ours => {
                let mut v = vec![self.env.ours.join("heartbeat").display().to_string()];
                // Foreground, so that anything it prints (a panic, a refused
                // config) lands in init.out; `HA_OURS_ARGS` replaces the flags.
                match std::env::var("HA_OURS_ARGS") {
                    Ok(a) => v.extend(a.split_whitespace().map(str::to_owned)),
                    Err(_) => v.push("-f".into()),
                }
                v
            }
            Kind::Absent => bail!("node {} has no daemon to start", self.name),
        })
    }

    /// Boot the node: fresh `/run` and link (like a reboot; `/var/lib/heartbeat`
    /// and logs persist), then start heartbeat. Power-cycles a running node.
    pub fn start(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.crash()?;
        }
        let run = self.dir.join("run");
        fs::remove_dir_all(&run)?;
        for sub in ["", "lock", "resource-agents"] {
            fs::create_dir_all(run.join(sub))?;
        }
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755))?;
        self.host.reset_link()?;

        let d = |s: &str| self.dir.join(s).display().to_string();
        let mut c = self.host.ns.command("unshare");
        c.args([
            "--uts",
            "--mount",
            "--pid",
            "--fork",
            "--mount-proc",
            "--propagation",
            "private",
        ]);
        c.arg(&self.env.nsinit).args(["--hostname", &self.name]);
        for (sub, target) in [
            ("etc", "/etc/ha.d"),
            ("varlib", "/var/lib/heartbeat"),
            ("run", "/run"),
            ("log", "/var/log"),
        ] {
            c.arg("--bind").arg(format!("{}:{target}", d(sub)));
        }
        for (src, target) in &self.private {
            c.arg("--bind").arg(format!("{}:{target}", src.display()));
        }
        for target in STUBBED {
            c.arg("--stub")
                .arg(format!("{}:{target}", d("reboot-stub")));
        }
        c.arg("--").args(self.daemon_cmd()?);
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("init.out"))?;
        let _ = writeln!(
            &out,
            "=== ha-tests: starting {} ({:?})",
            self.name, self.kind
        );
        c.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        // SAFETY: prctl is async-signal-safe. If the test process dies,
        // `unshare` dies, and nsinit (which asks for the same) takes the
        // node down: no heartbeat outlives its test.
        unsafe {
            c.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = c.spawn().context("spawn unshare")?;
        let parent = child.id() as i32;
        self.child = Some(child);
        let (init, _) = wait_for(
            &format!("{}'s PID-namespace init", self.name),
            Duration::from_secs(5),
            Duration::from_millis(5),
            || {
                procfs::children(parent)
                    .first()
                    .copied()
                    .ok_or_else(|| "no child yet".into())
            },
        )?;
        self.init = Some(init);
        Ok(())
    }

    /// Graceful stop of heartbeat; the node stays powered on. Real: the
    /// stock init script. Ours: SIGTERM to the daemon, then wait for every
    /// heartbeat process to exit.
    pub fn stop(&mut self) -> Result<()> {
        match self.kind {
            Kind::Real => {
                let out = self.exec(&[REAL_INIT, "stop"], Duration::from_secs(90))?;
                if !out.status.success() {
                    bail!(
                        "{}: init script stop failed: {}",
                        self.name,
                        String::from_utf8_lossy(&out.stdout)
                    );
                }
            }
            Kind::Ours => {
                for pid in self.daemon_roots() {
                    // SAFETY: kill(2) on a pid inside this node's namespace.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
            Kind::Absent => return Ok(()),
        }
        wait_for(
            &format!("{}'s heartbeat processes to exit", self.name),
            Duration::from_secs(60),
            Duration::from_millis(50),
            || match self.daemon_pids().len() {
                0 => Ok(()),
                n => Err(format!("{n} left")),
            },
        )
        .map(drop)
    }

    /// Power off: pull the cable, then SIGKILL the node's PID 1 (the kernel
    /// kills everything else in its PID namespace).
    pub fn crash(&mut self) -> Result<()> {
        let link = self.host.link_down();
        if let Some(init) = self.init.take() {
            // SAFETY: kill(2) on the node's nsinit, which we started.
            unsafe { libc::kill(init, libc::SIGKILL) };
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if cmd::wait_deadline(&mut child, Duration::from_secs(10))?.is_none() {
                bail!("{}: unshare did not exit after SIGKILL", self.name);
            }
        }
        link
    }

    /// Run a program inside the node (all its namespaces).
    pub fn exec(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        let Some(init) = self.init_pid() else {
            bail!("{} is powered off", self.name);
        };
        let mut c = Command::new("nsenter");
        c.arg("--target")
            .arg(init.to_string())
            .args(["--net", "--uts", "--mount", "--pid", "--"])
            .args(args);
        cmd::run(&mut c, timeout)
    }

    /// The `cl_status` matching this node's daemon (ours talks to our
    /// control socket, the real one to the real API socket).
    pub fn cl_status_bin(&self) -> String {
        match self.kind {
            Kind::Ours => self.env.ours.join("cl_status").display().to_string(),
            _ => REAL_CL_STATUS.into(),
        }
    }

    /// `cl_status ARGS…` inside the node: trimmed stdout on success, the
    /// error text otherwise (real cl_status fails until Comm_now_up).
    pub fn cl_status(&self, args: &[&str]) -> Result<String, String> {
        let bin = self.cl_status_bin();
        let mut all = vec![bin.as_str()];
        all.extend_from_slice(args);
        let out = self
            .exec(&all, Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "cl_status {} -> {}: {} {}",
                args.join(" "),
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// What this node's `cl_status nodestatus PEER` says. cl_status exits 0
    /// for a live node and 1 (NORMAL_FAIL) for a dead one, printing the
    /// status either way; other codes are errors.
    pub fn status_of(&self, peer: &str) -> Result<String, String> {
        let (code, status) = self.status_with_code(peer)?;
        match code {
            Some(0 | 1) if !status.is_empty() => Ok(status),
            _ => Err(format!(
                "cl_status nodestatus {peer} -> {code:?}: {status:?}"
            )),
        }
    }

    /// `cl_status nodestatus PEER`: exit code and trimmed stdout.
    pub fn status_with_code(&self, peer: &str) -> Result<(Option<i32>, String), String> {
        let bin = self.cl_status_bin();
        let out = self
            .exec(&[bin.as_str(), "nodestatus", peer], Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if stdout.is_empty() {
            return Err(format!(
                "cl_status nodestatus {peer} -> {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok((out.status.code(), stdout))
    }

    /// Probe for [`wait_for`]: `Ok` once this node reports `peer` as `want`.
    pub fn expect_status(&self, peer: &str, want: &str) -> Result<(), String> {
        match self.status_of(peer) {
            Ok(s) if s == want => Ok(()),
            Ok(s) => Err(format!("{} says {peer} is {s:?}", self.name)),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// The node's `/var/log/ha-log`.
    pub fn ha_log(&self) -> String {
        fs::read(self.dir.join("log/ha-log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Lines of the ha-log containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.ha_log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// What the node's init and a foreground daemon printed.
    pub fn init_out(&self) -> String {
        fs::read(self.dir.join("init.out"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Every process of the node's PID namespace (host pids, PID 1 first).
    pub fn pids(&self) -> Vec<i32> {
        self.init_pid()
            .map(procfs::pid_namespace_members)
            .unwrap_or_default()
    }

    /// The node's heartbeat processes (`comm` = heartbeat).
    pub fn daemon_pids(&self) -> Vec<i32> {
        self.pids()
            .into_iter()
            .filter(|p| procfs::comm(*p).as_deref() == Some("heartbeat"))
            .collect()
    }

    /// Heartbeat processes whose parent is not heartbeat: the daemon(s) to
    /// signal for a graceful stop.
    fn daemon_roots(&self) -> Vec<i32> {
        let all = self.daemon_pids();
        all.iter()
            .copied()
            .filter(|p| !matches!(procfs::ppid(*p), Some(pp) if all.contains(&pp)))
            .collect()
    }

    fn dump_tail(&self, what: &str, text: &str, lines: usize) {
        let v: Vec<&str> = text.lines().collect();
        let from = v.len().saturating_sub(lines);
        eprintln!(
            "----- {} {what} (last {} lines) -----",
            self.name,
            v.len() - from
        );
        for l in &v[from..] {
            eprintln!("{l}");
        }
    }

    /// Print the end of the node's logs (used when a test fails).
    pub fn dump_logs(&self) {
        self.dump_tail("ha-log", &self.ha_log(), 80);
        self.dump_tail("init.out", &self.init_out(), 30);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() && self.kind != Kind::Absent {
            self.dump_logs();
        }
        let _ = self.crash();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_mode_replaces_a_symlink_and_leaves_its_target_alone() {
        let dir = std::env::temp_dir().join(format!("hbt-write-mode-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("host-binary");
        fs::write(&target, "original").unwrap();
        let link = dir.join("ldirectord");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        write_mode(&link, "#!/bin/sh\n", 0o755).unwrap();

        let host = fs::read_to_string(&target).unwrap();
        let meta = fs::symlink_metadata(&link).unwrap();
        let script = fs::read_to_string(&link).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(host, "original");
        assert!(meta.file_type().is_file());
        assert_eq!(script, "#!/bin/sh\n");
    }
}
