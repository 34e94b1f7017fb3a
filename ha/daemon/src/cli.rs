//! The `heartbeat` command: heartbeat 3.0.6's flags (`-f -k -r -s -V -D -d -l
//! -v -M -W`) plus `-t` (check the configuration and exit), with its exit
//! codes (LSB: 0 ok, 1 generic, 2 bad usage, 4 no permission, 6 not
//! configured).

use std::io::Read as _;
use std::os::fd::{AsFd as _, OwnedFd};
use std::time::Duration;

use clap::Parser;
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{ForkResult, Pid};

use crate::config::Loaded;
use crate::daemon::{self, RunConfig};
use crate::logging::{self, LogTargets};
use crate::paths::DaemonPaths;
use crate::pidfile::{self, PidFile, PidFileError, PidState};

pub const LSB_EXIT_OK: i32 = 0;
pub const LSB_EXIT_GENERIC: i32 = 1;
pub const LSB_EXIT_EINVAL: i32 = 2;
pub const LSB_EXIT_EPERM: i32 = 4;
pub const LSB_EXIT_NOTCONFIGED: i32 = 6;
pub const LSB_STATUS_VAR_PID: i32 = 1;
pub const LSB_STATUS_STOPPED: i32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "heartbeat",
    about = "Linux-HA heartbeat 3.0.6 compatible cluster membership daemon",
    disable_version_flag = true
)]
pub struct Args {
    /// Stay in the foreground (do not daemonize).
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Stop the running heartbeat (SIGTERM, then wait until it has exited).
    #[arg(short = 'k')]
    pub kill: bool,
    /// Make the running heartbeat reread authkeys (SIGHUP); start it if none runs.
    #[arg(short = 'r')]
    pub reload: bool,
    /// Report whether heartbeat is running.
    #[arg(short = 's')]
    pub status: bool,
    /// Check the configuration, print every problem, and exit.
    #[arg(short = 't')]
    pub test: bool,
    /// Print the version.
    #[arg(short = 'V')]
    pub version: bool,
    /// Print the built-in defaults.
    #[arg(short = 'D')]
    pub defaults: bool,
    /// With -D: wiki format (accepted, printed as plain text).
    #[arg(short = 'W')]
    pub wiki: bool,
    /// More debug output (repeat for more).
    #[arg(short = 'd', action = clap::ArgAction::Count)]
    pub debug: u8,
    /// Do not use realtime scheduling (accepted; this daemon never does).
    #[arg(short = 'l')]
    pub no_realtime: bool,
    /// Verbose.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Do not manage resources: haresources is ignored, this node only
    /// takes part in membership (heartbeat's `-M`).
    #[arg(short = 'M')]
    pub no_manage: bool,
}

/// Parse `argv` and do what heartbeat would; returns the exit code.
pub fn heartbeat_main(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                LSB_EXIT_EINVAL
            } else {
                LSB_EXIT_OK
            };
        }
    };
    if args.version {
        println!("{}", crate::version_string());
        return LSB_EXIT_OK;
    }
    if args.defaults {
        print!("{}", crate::defaults::defaults_table());
        return LSB_EXIT_OK;
    }
    let paths = DaemonPaths::default();
    if args.kill {
        return kill_running(&paths);
    }
    if args.status {
        return report_status(&paths);
    }
    if args.test {
        return check_config(&paths);
    }
    if args.reload {
        if let PidState::Running(pid) = pidfile::read_state(&paths.pid_file) {
            return signal_reload(&paths, pid);
        }
    }
    start(&paths, &args)
}

fn print_problems(e: &hb_config::ConfigError) {
    for p in &e.problems {
        eprintln!("{p}");
    }
}

/// `-t`.
pub fn check_config(paths: &DaemonPaths) -> i32 {
    match crate::config::load(&paths.config) {
        Ok(loaded) => {
            for w in loaded.all_warnings() {
                eprintln!("{w}");
            }
            println!("Configuration validated.");
            LSB_EXIT_OK
        }
        Err(e) => {
            print_problems(&e);
            eprintln!("Configuration error, heartbeat not started.");
            LSB_EXIT_NOTCONFIGED
        }
    }
}

/// `-k`: SIGTERM the running heartbeat and wait for it to be gone.
pub fn kill_running(paths: &DaemonPaths) -> i32 {
    let PidState::Running(pid) = pidfile::read_state(&paths.pid_file) else {
        eprintln!("INFO: Heartbeat already stopped.");
        return LSB_EXIT_OK;
    };
    let target = Pid::from_raw(pid);
    if let Err(e) = kill(target, Signal::SIGTERM) {
        eprintln!("ERROR: Could not kill pid {pid}: {}", e.desc());
        return match e {
            Errno::EPERM | Errno::EACCES => LSB_EXIT_EPERM,
            _ => LSB_EXIT_GENERIC,
        };
    }
    // As heartbeat: wait as long as it takes (it may be releasing
    // resources). A zombie whose parent does not reap it counts as gone.
    while pidfile::is_heartbeat_process(pid) {
        std::thread::sleep(Duration::from_millis(100));
    }
    LSB_EXIT_OK
}

/// `-s`.
pub fn report_status(paths: &DaemonPaths) -> i32 {
    match pidfile::read_state(&paths.pid_file) {
        PidState::Running(pid) => {
            let host = logging::host_name().to_ascii_lowercase();
            let local =
                hb_config::local_node_name(&paths.config.nodeinfo).unwrap_or_else(|_| host.clone());
            println!("heartbeat OK [pid {pid} et al] is running on {host} [{local}]...");
            LSB_EXIT_OK
        }
        PidState::Stale(_) => {
            println!("heartbeat is stopped. No process");
            LSB_STATUS_VAR_PID
        }
        PidState::Stopped => {
            println!("heartbeat is stopped. No process");
            LSB_STATUS_STOPPED
        }
    }
}

/// `-r` with a running heartbeat.
fn signal_reload(paths: &DaemonPaths, pid: i32) -> i32 {
    match crate::config::load(&paths.config) {
        Ok(_) => {
            eprintln!("INFO: Signalling heartbeat pid {pid} to reread config files");
            match kill(Pid::from_raw(pid), Signal::SIGHUP) {
                Ok(()) => LSB_EXIT_OK,
                Err(e) => {
                    eprintln!("ERROR: Unable to send SIGHUP to pid {pid}: {}", e.desc());
                    LSB_EXIT_GENERIC
                }
            }
        }
        Err(e) => {
            print_problems(&e);
            eprintln!("INFO: Config errors: Heartbeat pid {pid} NOT restarted");
            LSB_EXIT_GENERIC
        }
    }
}

fn log_targets(loaded: &Loaded, args: &Args, daemonize: bool) -> LogTargets {
    let cf = &loaded.hacf;
    let mut t = LogTargets {
        logfile: cf.logfile.clone(),
        debugfile: cf.debugfile.clone(),
        facility: cf.logfacility.clone(),
        stderr: false,
        debug: u32::from(args.debug).max(cf.debug),
    };
    if t.logfile.is_none() && t.debugfile.is_none() && t.facility.is_none() {
        // Somewhere must get the lines: the terminal, or syslog once detached.
        if daemonize {
            t.facility = Some("daemon".to_owned());
        } else {
            t.stderr = true;
        }
    }
    t
}

/// Close every descriptor but stdin/stdout/stderr, as heartbeat does at
/// start: an init script's or a shell's open files must not leak into the
/// daemon (and keep, say, a pipe's writer alive for years).
fn close_inherited_fds() {
    // SAFETY: nothing in this process owns a descriptor above 2 yet.
    if unsafe { libc::close_range(3, libc::c_uint::MAX, 0) } == 0 {
        return;
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: as above; EBADF (the read_dir descriptor) is harmless.
        unsafe {
            libc::close(fd);
        }
    }
}

fn start(paths: &DaemonPaths, args: &Args) -> i32 {
    close_inherited_fds();
    let mut loaded = match crate::config::load(&paths.config) {
        Ok(l) => l,
        Err(e) => {
            print_problems(&e);
            eprintln!("ERROR: Configuration error, heartbeat not started.");
            return LSB_EXIT_NOTCONFIGED;
        }
    };
    if args.no_manage {
        // The groups stay in the file for the peer's sake; this node just
        // never owns any.
        loaded.haresources.groups.clear();
    }
    match pidfile::read_state(&paths.pid_file) {
        // A pid namespace may give us the pid of our own previous life.
        PidState::Running(pid) if pid != std::process::id() as i32 => {
            eprintln!("INFO: heartbeat: already running [pid {pid}].");
            return LSB_EXIT_OK;
        }
        _ => {}
    }
    let daemonize = !args.foreground;
    let targets = log_targets(&loaded, args, daemonize);
    if let Err(e) = logging::init(&targets, "heartbeat") {
        eprintln!("ERROR: cannot set up logging: {e}");
        return LSB_EXIT_NOTCONFIGED;
    }
    for w in loaded.all_warnings() {
        // heartbeat's own words; `-t` prints the file and line.
        tracing::warn!(path = %w.path.display(), line = w.line, "{}", w.message);
    }
    tracing::info!("**************************");
    tracing::info!(
        "Configuration validated. Starting heartbeat {}",
        crate::HEARTBEAT_VERSION
    );

    let ready_pipe = if daemonize {
        match detach() {
            Detached::Parent(code) => return code,
            Detached::Child(fd) => Some(fd),
            Detached::Failed(code) => return code,
        }
    } else {
        None
    };
    let report = |fd: &Option<OwnedFd>, msg: &[u8]| {
        if let Some(fd) = fd {
            let _ = nix::unistd::write(fd.as_fd(), msg);
        }
    };

    let _pid_guard = match PidFile::create(&paths.pid_file) {
        Ok(g) => g,
        Err(PidFileError::AlreadyRunning(pid)) => {
            tracing::info!("heartbeat: already running [pid {pid}].");
            report(
                &ready_pipe,
                format!("already running [pid {pid}]").as_bytes(),
            );
            return LSB_EXIT_OK;
        }
        Err(e) => {
            tracing::error!("heartbeat: {e}");
            report(&ready_pipe, e.to_string().as_bytes());
            return LSB_EXIT_EPERM;
        }
    };

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the event loop: {e}");
            report(&ready_pipe, e.to_string().as_bytes());
            return LSB_EXIT_GENERIC;
        }
    };
    let ready_fd = ready_pipe.as_ref().and_then(|fd| fd.try_clone().ok());
    let cfg = RunConfig {
        paths: paths.clone(),
        debug: targets.debug,
        loaded,
        handle_signals: true,
        on_ready: Some(Box::new(move || {
            if let Some(fd) = ready_fd {
                let _ = nix::unistd::write(fd.as_fd(), b"ok");
            }
        })),
        fencer: Box::new(crate::fence::RebootFencer::default()),
    };
    match runtime.block_on(daemon::run(cfg, std::future::pending())) {
        Ok(daemon::RunExit::Stopped) => LSB_EXIT_OK,
        // heartbeat was killed with -9 by its ResourceManager: no cleanup.
        Ok(daemon::RunExit::Fenced) => std::process::exit(LSB_EXIT_GENERIC),
        Ok(daemon::RunExit::Restart) => {
            drop(runtime);
            drop(_pid_guard);
            restart_self()
        }
        Err(e) => {
            tracing::error!("{e}");
            tracing::error!("Heartbeat not started: {e}");
            report(&ready_pipe, e.to_string().as_bytes());
            LSB_EXIT_GENERIC
        }
    }
}

/// Replace this process with a fresh heartbeat, same command line
/// (heartbeat's restart after a partition). Returns only on failure.
fn restart_self() -> i32 {
    use std::os::unix::process::CommandExt as _;
    tracing::info!("Restarting heartbeat.");
    let mut argv = std::env::args_os();
    let exe = std::env::current_exe()
        .map(std::ffi::OsString::from)
        .ok()
        .or_else(|| argv.next());
    let Some(exe) = exe else {
        tracing::error!("Cannot restart heartbeat: no program path.");
        return LSB_EXIT_GENERIC;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    tracing::error!("Cannot restart heartbeat: {err}");
    LSB_EXIT_GENERIC
}

enum Detached {
    /// In the parent: exit with this code.
    Parent(i32),
    /// In the daemon: report readiness (or the error) on this pipe.
    Child(OwnedFd),
    Failed(i32),
}

/// fork, setsid, chdir /, stdio to /dev/null, umask 022. The parent waits
/// until the daemon reports that its media are open (exit 0) or why it
/// could not start (exit 1), so an init script's exit code means something.
fn detach() -> Detached {
    let (rd, wr) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("heartbeat: could not start daemon: pipe: {e}");
            return Detached::Failed(LSB_EXIT_GENERIC);
        }
    };
    // SAFETY: no other thread exists yet (the runtime is built after this),
    // so the child may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            tracing::error!("heartbeat: could not start daemon: fork: {e}");
            Detached::Failed(LSB_EXIT_GENERIC)
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(wr);
            // One read: the daemon writes its verdict in one go and keeps
            // the pipe open while it runs; end-of-file means it died.
            let mut buf = [0u8; 512];
            let n = std::fs::File::from(rd).read(&mut buf).unwrap_or(0);
            let answer = buf.get(..n).unwrap_or_default();
            if answer.starts_with(b"ok") {
                Detached::Parent(LSB_EXIT_OK)
            } else if answer.starts_with(b"already running") {
                eprintln!("INFO: heartbeat: {}.", String::from_utf8_lossy(answer));
                Detached::Parent(LSB_EXIT_OK)
            } else {
                let why = String::from_utf8_lossy(answer);
                eprintln!(
                    "ERROR: heartbeat did not start{}{}",
                    if why.is_empty() { "" } else { ": " },
                    why
                );
                Detached::Parent(LSB_EXIT_GENERIC)
            }
        }
        Ok(ForkResult::Child) => {
            drop(rd);
            let _ = nix::unistd::setsid();
            let _ = nix::unistd::chdir("/");
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                use std::os::fd::AsRawFd as _;
                for fd in 0..=2 {
                    // SAFETY: dup2 onto the standard descriptors we own.
                    unsafe {
                        libc::dup2(null.as_raw_fd(), fd);
                    }
                }
            }
            Detached::Child(wr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("heartbeat").chain(a.iter().copied())).unwrap()
    }

    #[test]
    fn heartbeat_flags_parse_like_getopt() {
        let a = parse(&["-fdd"]);
        assert!(a.foreground);
        assert_eq!(a.debug, 2);
        let a = parse(&["-k"]);
        assert!(a.kill && !a.foreground);
        assert!(parse(&["-V"]).version);
        assert!(parse(&["-D", "-W"]).defaults);
        assert!(parse(&["-t"]).test);
        assert!(parse(&["-r", "-l", "-M", "-v", "-s"]).reload);
        assert!(Args::try_parse_from(["heartbeat", "-x"]).is_err());
    }

    #[test]
    fn version_and_defaults_exit_zero() {
        assert_eq!(heartbeat_main(["heartbeat".into(), "-V".into()]), 0);
        assert_eq!(heartbeat_main(["heartbeat".into(), "-D".into()]), 0);
        assert_eq!(
            heartbeat_main(["heartbeat".into(), "-Z".into()]),
            LSB_EXIT_EINVAL
        );
    }
}
