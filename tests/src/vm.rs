//! A real Linux kernel for tests that need one (IPVS, DRBD, brd/loop):
//! Debian's user-mode-linux, booted per command.
//!
//! The guest's root is this host's `/` through hostfs, read-only, with
//! guest-only tmpfs/overlays for `/tmp /run /root /etc /var` (see
//! `tests/vm/guest-init.sh`). So every host program — ipvsadm, drbd-utils,
//! nginx, our binaries in the target dir — runs unchanged on the guest
//! kernel, and there is no image to build. One directory of the host is
//! shared read-write at the same path; the command runs there through
//! `/bin/sh`, as root, with `lo` up and `modprobe` working (modules of the
//! user-mode-linux package, also autoloaded by the kernel).
//!
//! ```no_run
//! # fn t() -> anyhow::Result<()> {
//! # use std::time::Duration;
//! let vm = ha_tests::vm::Vm::probe().map_err(anyhow::Error::msg)?;
//! let out = vm.run(std::path::Path::new("/tmp/x"), "ipvsadm -Ln", Duration::from_secs(30))?;
//! assert_eq!(out.code, Some(0), "{out}");
//! # Ok(()) }
//! ```
//!
//! Cleanup: the guest runs in its own process group, killed with SIGKILL
//! when [`Vm::run`] returns or unwinds; its control dir is removed. Guests
//! of test processes that died (SIGKILL, CI timeout) are killed by the next
//! [`Vm::probe`] ([`sweep_stale`]).

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The guest's `/init`, written into each run's control dir.
const GUEST_INIT: &str = include_str!("../vm/guest-init.sh");
/// Default user-mode-linux kernel (Debian package `user-mode-linux`).
pub const UML_KERNEL: &str = "/usr/bin/linux.uml";
/// Where that package keeps the kernel's modules (`<dir>/<version>/`).
pub const UML_MODULES: &str = "/usr/lib/uml/modules";
/// Name prefix of control dirs: `ldv<pid>x<n>`.
const PREFIX: &str = "ldv";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A bootable guest configuration. Cheap to clone; each [`Vm::run`] boots a
/// fresh guest.
#[derive(Clone, Debug)]
pub struct Vm {
    kernel: PathBuf,
    moddir: PathBuf,
    mem_mib: u32,
    modules: Vec<String>,
    hostname: String,
    env: Vec<(String, String)>,
}

/// What a guest run produced.
#[derive(Clone, Debug, Default)]
pub struct VmOutput {
    /// The command's exit status; `None` if the guest gave no result
    /// (timeout, crash, boot failure).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Messages of the guest's init (failed mounts/modprobes).
    pub init_log: String,
    /// The guest was killed at the deadline.
    pub timed_out: bool,
    /// Host wall time of the whole run (boot + command + halt).
    pub wall: Duration,
    /// Guest uptime when the command started and ended (seconds).
    pub cmd_span: Option<(f64, f64)>,
    /// The run's control dir (already removed): `ldv_ctl=` on the command
    /// line of the guest's host processes.
    pub control_dir: PathBuf,
}

impl VmOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `Ok(self)` if the command exited 0, else an error carrying all output.
    pub fn ok(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            bail!("guest command failed\n{self}")
        }
    }
}

impl fmt::Display for VmOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.timed_out) {
            (Some(c), _) => writeln!(f, "exit code {c}")?,
            (None, true) => writeln!(f, "TIMED OUT")?,
            (None, false) => writeln!(f, "guest ended without a result")?,
        }
        writeln!(f, "wall {:?}, command span {:?}", self.wall, self.cmd_span)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)?;
        if !self.init_log.is_empty() {
            writeln!(f, "--- guest init ---\n{}", self.init_log)?;
        }
        Ok(())
    }
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first directory under `/usr/lib/uml/modules` (one kernel version).
fn find_moddir(base: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("modules.dep").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Full path of `prog` in `$PATH` (or the usual sbin dirs, which a non-login
/// root shell may lack).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| is_executable(p))
}

impl Vm {
    /// The default guest (`$HA_VM_KERNEL` or [`UML_KERNEL`], 256 MiB), or why
    /// this machine cannot run one.
    pub fn probe() -> Result<Vm, String> {
        SWEEP.call_once(|| {
            for what in sweep_stale() {
                eprintln!("ha-tests: killed stale guest {what}");
            }
        });
        let kernel = std::env::var_os("HA_VM_KERNEL")
            .filter(|k| !k.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(UML_KERNEL));
        if !is_executable(&kernel) {
            return Err(format!(
                "{} missing: apt-get install user-mode-linux (tests/vm/setup.sh)",
                kernel.display()
            ));
        }
        let moddir = find_moddir(Path::new(UML_MODULES))
            .ok_or_else(|| format!("no kernel modules under {UML_MODULES} (user-mode-linux)"))?;
        if fs::metadata("/dev/shm").is_err() {
            return Err("/dev/shm missing (user-mode-linux backs guest RAM there)".into());
        }
        for p in ["modprobe", "mount", "ip"] {
            if which(p).is_none() {
                return Err(format!("`{p}` not found (kmod / util-linux / iproute2)"));
            }
        }
        Ok(Vm {
            kernel,
            moddir,
            mem_mib: 256,
            modules: Vec::new(),
            hostname: "ldv".into(),
            env: Vec::new(),
        })
    }

    /// Guest RAM.
    pub fn mem_mib(mut self, mib: u32) -> Self {
        self.mem_mib = mib;
        self
    }

    /// Modules loaded before the command (`modprobe <m>`), e.g. `drbd
    /// usermode_helper=/bin/true` is better done by the command itself.
    pub fn modules<I: IntoIterator<Item = S>, S: Into<String>>(mut self, mods: I) -> Self {
        self.modules.extend(mods.into_iter().map(Into::into));
        self
    }

    /// The guest's hostname (`uname -n`; DRBD's `on <host>` sections).
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = name.into();
        self
    }

    /// An environment variable for the command.
    pub fn env(mut self, key: &str, val: impl Into<String>) -> Self {
        self.env.push((key.into(), val.into()));
        self
    }

    /// Boot a guest, run `cmd` (a `/bin/sh` script) in `share` (shared
    /// read-write, same path in the guest), halt. Err only for harness
    /// failures on the host; a failing or timed-out command is an
    /// `Ok(VmOutput)` with `code` telling.
    pub fn run(&self, share: &Path, cmd: &str, timeout: Duration) -> Result<VmOutput> {
        let share = share
            .canonicalize()
            .with_context(|| format!("shared dir {}", share.display()))?;
        let ctl = CtlDir::new()?;
        self.write_ctl(ctl.path(), &share, cmd)?;
        let start = Instant::now();
        let mut guest = Guest::boot(self, ctl.path())?;
        let deadline = start + timeout;
        let rc_file = ctl.path().join("rc");
        let mut timed_out = false;
        loop {
            if rc_file.exists() || guest.exited()? {
                break;
            }
            if Instant::now() >= deadline {
                timed_out = true;
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // The rc is written right before poweroff: let the guest halt by
        // itself (so hostfs writes are flushed), then make sure.
        let halt_by = Instant::now() + Duration::from_secs(2);
        while !timed_out && !guest.exited()? && Instant::now() < halt_by {
            thread::sleep(Duration::from_millis(20));
        }
        drop(guest);
        let read = |name: &str| {
            fs::read(ctl.path().join(name))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let code = read("rc").trim().parse::<i32>().ok();
        let span = read("uptime.start")
            .trim()
            .parse::<f64>()
            .ok()
            .zip(read("uptime.end").trim().parse::<f64>().ok());
        Ok(VmOutput {
            code,
            stdout: read("stdout"),
            stderr: read("stderr"),
            init_log: read("init.log"),
            timed_out: timed_out && code.is_none(),
            wall: start.elapsed(),
            cmd_span: span,
            control_dir: ctl.path().to_path_buf(),
        })
    }

    fn write_ctl(&self, ctl: &Path, share: &Path, cmd: &str) -> Result<()> {
        let init = ctl.join("init");
        fs::write(&init, GUEST_INIT)?;
        fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;
        let env = format!(
            "LDV_SHARE={}\nLDV_MODDIR={}\nLDV_MODULES={}\nLDV_HOSTNAME={}\n",
            sh_quote(&share.to_string_lossy()),
            sh_quote(&self.moddir.to_string_lossy()),
            sh_quote(&self.modules.join(" ")),
            sh_quote(&self.hostname),
        );
        fs::write(ctl.join("env"), env)?;
        let mut script = String::new();
        for (k, v) in &self.env {
            script.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        script.push_str(cmd);
        script.push('\n');
        fs::write(ctl.join("cmd.sh"), script)?;
        Ok(())
    }
}

/// `'…'` quoting for `/bin/sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A scratch dir for a guest test (`/tmp/ldv<pid>x<n>`, removed on drop,
/// swept like control dirs if the test process dies).
pub fn scratch_dir() -> std::io::Result<crate::names::TempDir> {
    crate::names::TempDir::new(&unique_name())
}

fn unique_name() -> String {
    format!(
        "{PREFIX}{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The per-run control dir (`/tmp/ldv<pid>x<n>`), removed on drop.
struct CtlDir(PathBuf);

impl CtlDir {
    fn new() -> Result<Self> {
        let p = std::env::temp_dir().join(unique_name());
        // The path travels on the kernel command line, split at spaces.
        if p.to_string_lossy().contains(char::is_whitespace) {
            bail!("temp dir {} contains whitespace", p.display());
        }
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        Ok(Self(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for CtlDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running guest: its own process group, SIGKILLed on drop.
struct Guest {
    child: Child,
    done: bool,
}

impl Guest {
    fn boot(vm: &Vm, ctl: &Path) -> Result<Self> {
        let ctl_s = ctl.to_string_lossy();
        let console = std::env::var_os("HA_VM_CONSOLE").is_some_and(|v| v == "1");
        let mut cmd = Command::new(&vm.kernel);
        cmd.arg(format!("mem={}M", vm.mem_mib))
            .args(["root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro"])
            .arg(format!("init={ctl_s}/init"))
            .arg(format!("ldv_ctl={ctl_s}"))
            // mconsole socket and pid file go to the control dir, not ~/.uml
            .arg(format!("uml_dir={ctl_s}"))
            .args(["ssl=null", "quiet", "panic=-1"])
            .args(if console {
                &["con0=null,fd:2", "con=null"][..]
            } else {
                &["con=null"][..]
            })
            // guest RAM is a file in TMPDIR
            .env("TMPDIR", "/dev/shm")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if console {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", vm.kernel.display()))?;
        Ok(Self { child, done: false })
    }

    fn exited(&mut self) -> Result<bool> {
        if !self.done {
            self.done = self.child.try_wait()?.is_some();
        }
        Ok(self.done)
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // The kernel's helper processes (one per guest address space) are in
        // the group too and outlive the main one if it is killed alone.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's process group.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// Kill the guests (process groups) of dead test processes, identified by
/// `ldv_ctl=<tmp>/ldv<pid>x<n>` on their command line, and remove their
/// control dirs. Returns what was removed.
pub fn sweep_stale() -> Vec<String> {
    let me = std::process::id();
    let dead = |pid: u32| pid != me && !Path::new(&format!("/proc/{pid}")).exists();
    let mut removed = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return removed;
    };
    for e in procs.filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let owner = cmdline
            .split(|b| *b == 0)
            .filter_map(|a| std::str::from_utf8(a).ok())
            .find_map(|a| a.strip_prefix("ldv_ctl="))
            .and_then(|p| Path::new(p).file_name()?.to_str().and_then(owner_pid));
        if owner.is_some_and(dead) {
            // SAFETY: kill(2) of a guest process group whose owner is gone.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
                libc::kill(pid, libc::SIGKILL);
            }
            removed.push(format!("pid {pid}"));
        }
    }
    if let Ok(d) = fs::read_dir(std::env::temp_dir()) {
        for e in d.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if owner_pid(&name).is_some_and(dead) && fs::remove_dir_all(e.path()).is_ok() {
                removed.push(format!("dir {}", e.path().display()));
            }
        }
    }
    removed
}

/// The pid in a `ldv<pid>x<n>` name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, n) = rest.split_once('x')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// `Some(vm)` if guests can run here and every program in `tools` is on the
/// host (the guest runs the host's userland); otherwise prints `SKIP` and
/// returns `None`, or panics when `HA_E2E_REQUIRED` is set.
pub fn require(test: &str, tools: &[&str]) -> Option<Vm> {
    let why = match Vm::probe() {
        Err(why) => Some(why),
        Ok(vm) => match tools.iter().find(|t| which(t).is_none()) {
            Some(t) => Some(format!("`{t}` not installed on the host")),
            None => return Some(vm),
        },
    };
    let why = why.unwrap_or_default();
    if std::env::var_os("HA_E2E_REQUIRED").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: HA_E2E_REQUIRED is set but {why}");
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: {why} (set HA_E2E_REQUIRED=1 to make this an error)"
    );
    None
}

/// `let vm = ha_tests::require_vm!(["ipvsadm"]);`: the guest for this test,
/// or return early (SKIP) when user-mode-linux or a tool is missing and
/// `HA_E2E_REQUIRED` is not set.
#[macro_export]
macro_rules! require_vm {
    ($tools:expr) => {{
        let test = ::std::thread::current().name().unwrap_or("vm").to_owned();
        match $crate::vm::require(&test, &$tools) {
            Some(vm) => vm,
            None => return,
        }
    }};
    () => {
        $crate::require_vm!([])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_control_dirs() {
        assert_eq!(owner_pid("ldv42x0"), Some(42));
        assert_eq!(owner_pid("ldv42x"), None);
        assert_eq!(owner_pid("ldvrun.abc"), None);
        assert_eq!(owner_pid("hbt42x0"), None);
    }

    #[test]
    fn sh_quote_survives_quotes() {
        assert_eq!(sh_quote("a'b c"), r"'a'\''b c'");
    }

    /// One boot covers the contract: exit code, both streams, the shared
    /// dir is writable from the guest, the guest kernel is not the host's,
    /// IPVS loads on demand and the host userland (ipvsadm if present) runs.
    #[test]
    fn guest_runs_command_with_shared_dir_and_real_ipvs() {
        let vm = crate::require_vm!().env("GREETING", "it's here");
        let dir = scratch_dir().expect("scratch");
        // outside the shared dir: visible (read-only view) but not writable through
        let other = scratch_dir().expect("scratch");
        fs::write(other.path().join("marker"), "from-host").expect("marker");
        let leak = other.path().join("guest-write");
        let host_kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let cmd = format!(
            "echo \"$GREETING\"; echo err >&2; uname -r > kernel; \
             modprobe ip_vs && head -1 /proc/net/ip_vs; \
             touch /etc/ldv-guest-only; \
             cat {marker}; touch {leak}; exit 3",
            marker = other.path().join("marker").display(),
            leak = leak.display(),
        );
        let out = vm
            .run(dir.path(), &cmd, Duration::from_secs(60))
            .expect("run");
        assert_eq!(out.code, Some(3), "{out}");
        assert!(out.stdout.starts_with("it's here\n"), "{out}");
        assert!(out.stdout.contains("IP Virtual Server version"), "{out}");
        assert!(out.stdout.ends_with("from-host"), "{out}");
        assert_eq!(out.stderr, "err\n", "{out}");
        assert!(!leak.exists(), "guest wrote to the host's /tmp");
        let guest_kernel = fs::read_to_string(dir.path().join("kernel")).expect("kernel file");
        assert_ne!(guest_kernel.trim(), host_kernel.trim());
        assert!(
            !Path::new("/etc/ldv-guest-only").exists(),
            "guest wrote to host /etc"
        );
    }

    #[test]
    fn hung_command_times_out_and_guest_is_killed() {
        let vm = crate::require_vm!();
        let dir = scratch_dir().expect("scratch");
        let out = vm
            .run(
                dir.path(),
                "echo started; sleep 600",
                Duration::from_secs(8),
            )
            .expect("run");
        assert!(out.timed_out, "{out}");
        assert_eq!(out.code, None);
        let mark = format!("ldv_ctl={}", out.control_dir.display());
        // SIGKILL reaches ptrace-stopped UML threads a moment later: poll.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let leftovers = loop {
            let l = guest_processes(&mark);
            if l.is_empty() || std::time::Instant::now() > deadline {
                break l;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(!out.control_dir.exists(), "control dir left");
        assert!(leftovers.is_empty(), "guest processes left: {leftovers:?}");
    }

    fn guest_processes(mark: &str) -> Vec<String> {
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
            .filter(|c| c.split(|b| *b == 0).any(|a| a == mark.as_bytes()))
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .collect()
    }
}
