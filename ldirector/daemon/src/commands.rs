//! The commands of ldirectord's command line, with 4.12's exit codes and
//! words (§1.1 of the reference). Differences, on purpose:
//! - `status` prints its "running" line on stdout (heartbeat v1 reads only
//!   stdout), followed by the table;
//! - a configuration error never removes the running daemon's pid file:
//!   `status` and `stop` do not parse the configuration at all, `reload`
//!   refuses (rc 2) without signalling, `start` checks the pid file first;
//! - `stop` waits (bounded) until the daemon has cleaned up and exited.

use std::cell::RefCell;
use std::io::Read as _;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{ForkResult, Pid};

use crate::cli::{self, Args, Command, Invocation, StatusFormat};
use crate::control::{self, Query};
use crate::logging::{self, Sink};
use crate::paths::{self, ConfigRef};
use crate::pidfile::{self, PidFile, PidState};
use crate::probe::CheckerProbe;
use crate::{backend, load, RunOptions, VERSION_TEXT};

pub const RC_OK: i32 = 0;
pub const RC_ERROR: i32 = 1;
pub const RC_CONFIG: i32 = 2;
pub const RC_STOPPED: i32 = 3;
pub const RC_USAGE: i32 = 255;

/// How long `stop` waits for the daemon to clean up and exit.
const STOP_WAIT: Duration = Duration::from_secs(60);

pub fn main(argv: Vec<String>) -> i32 {
    if let Some(rc) = crate::ocf::maybe_ocf(&argv) {
        return rc;
    }
    let args = match cli::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{}", cli::USAGE);
            return RC_USAGE;
        }
    };
    match &args.invocation {
        Invocation::Version => {
            print!("{VERSION_TEXT}");
            RC_OK
        }
        Invocation::Help => {
            print!("{}", cli::USAGE);
            RC_OK
        }
        Invocation::Check { config } => check_config(config.as_deref()),
        Invocation::Run {
            config,
            command,
            status_format,
        } => {
            let cref = ConfigRef::new(config.as_deref());
            let Some(path) = cref.resolve() else {
                eprintln!("Config file {} not found", cref.given);
                return RC_ERROR;
            };
            let ctx = Ctx {
                args: &args,
                argv: &argv,
                cfgname: cref.cfgname.clone(),
                path,
            };
            ctx.run(*command, *status_format)
        }
    }
}

fn print_problems(e: &ldirector::config::ConfigError) {
    for p in &e.problems {
        eprintln!("{p}");
    }
}

fn check_config(config: Option<&str>) -> i32 {
    let cref = ConfigRef::new(config);
    let Some(path) = cref.resolve() else {
        eprintln!("Config file {} not found", cref.given);
        return RC_ERROR;
    };
    match load::load(&path) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("Warning: {w}");
            }
            println!("{}: syntax OK", path.display());
            RC_OK
        }
        Err(e) => {
            print_problems(&e);
            RC_ERROR
        }
    }
}

pub struct Ctx<'a> {
    pub args: &'a Args,
    pub argv: &'a [String],
    pub cfgname: String,
    /// The resolved configuration file.
    pub path: PathBuf,
}

impl Ctx<'_> {
    fn pid_file(&self) -> PathBuf {
        paths::pid_file(&self.cfgname)
    }

    fn state(&self) -> PidState {
        pidfile::read_state(&self.pid_file())
    }

    pub fn run(&self, command: Command, format: StatusFormat) -> i32 {
        match command {
            Command::Status => self.status(format),
            Command::Metrics => self.metrics(),
            Command::Stop => self.stop(),
            Command::Start => self.start(),
            Command::Restart => {
                self.stop();
                self.start()
            }
            Command::TryRestart => match self.state() {
                PidState::Running(_) => {
                    self.stop();
                    self.start()
                }
                _ => RC_OK,
            },
            Command::Reload | Command::ForceReload => self.reload(),
        }
    }

    fn stopped_line(&self) -> String {
        format!("ldirectord is stopped for {}", self.path.display())
    }

    pub fn status(&self, format: StatusFormat) -> i32 {
        match self.state() {
            PidState::Running(pid) => {
                println!(
                    "ldirectord for {} is running with pid: {pid}",
                    self.path.display()
                );
                let q = match format {
                    StatusFormat::Json => Query::Json,
                    StatusFormat::Connections => Query::Connections,
                    f => Query::Listing(f.list_format()),
                };
                match control::query(&paths::control_socket(&self.cfgname), q) {
                    Ok(text) => print!("{text}"),
                    Err(e) => eprintln!("ldirectord: no table from the daemon: {e}"),
                }
                RC_OK
            }
            PidState::Stopped => {
                println!("{}", self.stopped_line());
                RC_STOPPED
            }
            PidState::Stale(_) => {
                eprintln!(
                    "ldirectord stale pid file {} for {}",
                    self.pid_file().display(),
                    self.path.display()
                );
                println!("{}", self.stopped_line());
                RC_ERROR
            }
        }
    }

    fn metrics(&self) -> i32 {
        match self.state() {
            PidState::Running(_) => {
                match control::query(&paths::control_socket(&self.cfgname), Query::Metrics) {
                    Ok(text) => {
                        print!("{text}");
                        RC_OK
                    }
                    Err(e) => {
                        eprintln!("ldirectord: no metrics from the daemon: {e}");
                        RC_ERROR
                    }
                }
            }
            _ => {
                println!("{}", self.stopped_line());
                RC_STOPPED
            }
        }
    }

    pub fn stop(&self) -> i32 {
        match self.state() {
            PidState::Running(pid) => {
                if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
                    eprintln!("ldirectord: cannot signal pid {pid}: {e}");
                    return RC_OK;
                }
                let until = Instant::now() + STOP_WAIT;
                while pidfile::process_exists(pid) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if pidfile::process_exists(pid) {
                    eprintln!("ldirectord: pid {pid} still running after SIGTERM");
                }
                RC_OK
            }
            PidState::Stale(_) => {
                let _ = std::fs::remove_file(self.pid_file());
                RC_OK
            }
            PidState::Stopped => RC_OK,
        }
    }

    fn reload(&self) -> i32 {
        let PidState::Running(pid) = self.state() else {
            eprintln!("{}", self.stopped_line());
            return RC_ERROR;
        };
        if let Err(e) = load::load(&self.path) {
            print_problems(&e);
            eprintln!("ldirectord: not reloaded, pid {pid} keeps its configuration");
            return RC_CONFIG;
        }
        match kill(Pid::from_raw(pid), Signal::SIGHUP) {
            Ok(()) => RC_OK,
            Err(e) => {
                eprintln!("ldirectord: cannot signal pid {pid}: {e}");
                RC_ERROR
            }
        }
    }

    pub fn start(&self) -> i32 {
        if let PidState::Running(_) = self.state() {
            return RC_OK;
        }
        let config = match load::load(&self.path) {
            Ok(c) => c,
            Err(e) => {
                print_problems(&e);
                return RC_CONFIG;
            }
        };
        for w in &config.warnings {
            eprintln!("Warning: {w}");
        }
        let foreground = self.args.debug || config.global.supervised;
        let notify = if foreground {
            None
        } else {
            match detach() {
                Detached::Parent(rc) => return rc,
                Detached::Child(fd) => Some(fd),
            }
        };
        let sink = if self.args.debug {
            Sink::Stderr
        } else if config.global.supervised {
            Sink::Stdout
        } else {
            Sink::from_target(&config.global.logfile)
        };
        logging::init(sink, &self.cfgname, self.args.debug);
        tracing::info!("Invoking ldirectord invoked as: {}", self.argv.join(" "));
        if foreground {
            tracing::info!(
                "Starting Linux Director v1.186-ha with pid: {}",
                std::process::id()
            );
        } else {
            tracing::info!("Starting Linux Director v1.186-ha as daemon");
        }
        // Written once: `ok` when up, else why not; closing it ends the
        // parent's wait.
        let notify = RefCell::new(notify);
        let rc = match self.serve(config, &notify) {
            Ok(()) => RC_OK,
            Err(e) => {
                tracing::error!("Exiting with exit_status 1: {e:#}");
                if let Some(fd) = notify.borrow_mut().take() {
                    write_fd(&fd, format!("{e:#}").as_bytes());
                }
                if foreground {
                    eprintln!("ldirectord: {e:#}");
                }
                RC_ERROR
            }
        };
        rc
    }

    fn serve(
        &self,
        config: ldirector::config::Config,
        notify: &RefCell<Option<OwnedFd>>,
    ) -> anyhow::Result<()> {
        let pid_path = self.pid_file();
        let _pid = PidFile::create(&pid_path)
            .map_err(|e| anyhow::anyhow!("cannot write pid file {}: {e}", pid_path.display()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let backend = backend::open(self.args.ipvs)?;
            let checker = ld_checks::Checker::new()?;
            let mut opts = RunOptions::new(
                self.path.clone(),
                backend,
                Arc::new(CheckerProbe(Arc::new(checker))),
            );
            opts.control_socket = Some(paths::control_socket(&self.cfgname));
            opts.metrics_listen = self.args.metrics_listen;
            opts.signals = true;
            crate::run(config, opts, std::future::pending(), || {
                if let Some(fd) = notify.borrow_mut().take() {
                    write_fd(&fd, b"ok");
                }
            })
            .await
        })
    }
}

fn write_fd(fd: &OwnedFd, bytes: &[u8]) {
    let _ = nix::unistd::write(fd, bytes);
}

enum Detached {
    Parent(i32),
    /// In the daemon: write `ok` (or why not) here once up.
    Child(OwnedFd),
}

/// fork + setsid, stdio to /dev/null, chdir /. The parent returns only once
/// the daemon is up (its table set up, its socket listening), so `start`'s
/// exit code means something to heartbeat and init scripts.
fn detach() -> Detached {
    let (rd, wr) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ldirectord: cannot start daemon: pipe: {e}");
            return Detached::Parent(RC_ERROR);
        }
    };
    // SAFETY: single-threaded here (no runtime yet), so the child may run
    // arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            eprintln!("ldirectord: cannot start daemon: fork: {e}");
            Detached::Parent(RC_ERROR)
        }
        Ok(ForkResult::Parent { .. }) => {
            drop(wr);
            let mut answer = Vec::new();
            let _ = std::fs::File::from(rd).read_to_end(&mut answer);
            if answer == b"ok" {
                Detached::Parent(RC_OK)
            } else {
                let why = String::from_utf8_lossy(&answer);
                eprintln!(
                    "ldirectord: daemon did not start{}{why}",
                    if why.is_empty() { "" } else { ": " }
                );
                Detached::Parent(RC_ERROR)
            }
        }
        Ok(ForkResult::Child) => {
            drop(rd);
            let _ = nix::unistd::setsid();
            let _ = nix::unistd::chdir(Path::new("/"));
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
            close_inherited(&wr);
            Detached::Child(wr)
        }
    }
}

/// Close every descriptor above stderr we inherited (but `keep`): a caller
/// such as heartbeat reads the resource script's output until every writer
/// is gone, so a daemon holding its pipe would hang it.
fn close_inherited(keep: &OwnedFd) {
    use std::os::fd::AsRawFd as _;
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        if fd > 2 && fd != keep.as_raw_fd() {
            // SAFETY: no Rust object owns these in the fresh child; the
            // directory handle used to list them is already closed.
            unsafe {
                libc::close(fd);
            }
        }
    }
}
