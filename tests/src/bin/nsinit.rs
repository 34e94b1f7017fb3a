//! PID 1 of one test node's private UTS + mount + PID namespace.
//!
//! `nsinit [--hostname NAME] [--bind SRC:DST]... [--stub SRC:DST]... -- CMD [ARG]...`
//!
//! Gives the node its hostname and its own view of the paths heartbeat
//! hard-codes (bind mounts), covers the reboot paths with a stub, then runs
//! CMD and reaps every orphan for as long as it lives. Killing this process
//! is the node's "power off": the kernel then kills its whole PID namespace,
//! and a `reboot(2)` inside the namespace only terminates this process.
//!
//! It runs under `unshare --mount --propagation private`, so the mounts never
//! reach the host.

use std::ffi::CString;
use std::path::Path;
use std::process::ExitCode;

use nix::mount::{mount, MsFlags};
use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, sethostname, ForkResult, Pid};

extern "C" fn exit_now(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe; leaving is the whole point.
    unsafe { libc::_exit(0) }
}

// Only there so that sigsuspend(2) returns when a child dies.
extern "C" fn on_child(_: libc::c_int) {}

struct Args {
    hostname: Option<String>,
    binds: Vec<(String, String)>,
    stubs: Vec<(String, String)>,
    cmd: Vec<String>,
}

fn split_pair(v: &str) -> Result<(String, String), String> {
    v.split_once(':')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| format!("expected SRC:DST, got {v:?}"))
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        hostname: None,
        binds: Vec::new(),
        stubs: Vec::new(),
        cmd: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--hostname" => a.hostname = Some(val()?),
            "--bind" => a.binds.push(split_pair(&val()?)?),
            "--stub" => a.stubs.push(split_pair(&val()?)?),
            "--" => {
                a.cmd = it.collect();
                break;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.cmd.is_empty() {
        return Err("missing -- CMD".into());
    }
    Ok(a)
}

fn bind(src: &str, dst: &str) -> Result<(), String> {
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| format!("bind {src} over {dst}: {e}"))
}

fn setup(a: &Args) -> Result<(), String> {
    // If the harness (our parent, `unshare`) dies without cleaning up, take
    // the node down with it instead of leaving heartbeat running.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    if let Some(h) = &a.hostname {
        sethostname(h).map_err(|e| format!("sethostname: {e}"))?;
    }
    for (src, dst) in &a.binds {
        bind(src, dst)?;
    }
    // Only stub what exists as a regular file: binding over a symlink would
    // follow it, and its target is stubbed separately.
    for (src, dst) in &a.stubs {
        if std::fs::symlink_metadata(Path::new(dst)).is_ok_and(|m| m.file_type().is_file()) {
            bind(src, dst)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nsinit: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = setup(&args) {
        eprintln!("nsinit: {e}");
        return ExitCode::from(1);
    }
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only calls _exit.
        if let Err(e) = unsafe { signal(sig, SigHandler::Handler(exit_now)) } {
            eprintln!("nsinit: signal {sig}: {e}");
        }
    }
    // SIGCHLD stays blocked except inside sigsuspend, so a child that dies
    // between the reaping pass and the wait is never missed.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    // SAFETY: the handler does nothing.
    let installed = unsafe { signal(Signal::SIGCHLD, SigHandler::Handler(on_child)) }
        .and_then(|_| chld.thread_block());
    if let Err(e) = installed {
        eprintln!("nsinit: SIGCHLD setup: {e}");
        return ExitCode::from(1);
    }
    let cmd: Vec<CString> = match args
        .cmd
        .iter()
        .map(|s| CString::new(s.as_bytes()))
        .collect()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nsinit: bad command: {e}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: single-threaded here; the child only resets signals and execs.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            for sig in [
                Signal::SIGTERM,
                Signal::SIGINT,
                Signal::SIGHUP,
                Signal::SIGCHLD,
            ] {
                // SAFETY: restoring the default disposition before exec.
                let _ = unsafe { signal(sig, SigHandler::SigDfl) };
            }
            // The mask survives exec; heartbeat must see its children die.
            let _ = chld.thread_unblock();
            let e = execvp(&cmd[0], &cmd);
            eprintln!("nsinit: exec {:?}: {e:?}", args.cmd);
            // SAFETY: leave the forked child without running parent destructors.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            eprintln!("nsinit: fork: {e}");
            return ExitCode::from(1);
        }
    };
    loop {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(status) => {
                    if status.pid() == Some(child) {
                        eprintln!("nsinit: {:?} ended: {status:?}", args.cmd);
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    eprintln!("nsinit: waitpid: {e}");
                    break;
                }
            }
        }
        // Returns after any handled signal (SIGCHLD); EINTR is its normal result.
        let _ = SigSet::empty().suspend();
    }
}
