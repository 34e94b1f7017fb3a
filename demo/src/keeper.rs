//! `--keep`: the cluster's processes die with the process that started them
//! (the harness arms PDEATHSIG), so keeping the cluster means keeping that
//! process. The demo forks at start; the child runs the demo and, when it
//! is done, detaches (new session, stdio to /dev/null) and waits for SIGTERM
//! (`kill PID` or `hademo --cleanup`), cleaning up then. The parent relays
//! the child's output by sharing the terminal, and exits with the child's
//! result as soon as the child detaches.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::process::ExitCode;

use anyhow::{Context, Result};
use nix::unistd::{fork, pipe, setsid, ForkResult};

pub enum Side {
    /// The original process: its exit code, once the keeper has detached.
    Parent(ExitCode),
    Keeper(Detach),
}

/// The keeper's end of the result pipe.
pub struct Detach {
    tx: OwnedFd,
}

/// Fork. Must run before any thread exists.
pub fn split() -> Result<Side> {
    let (rx, tx) = pipe().context("pipe")?;
    // SAFETY: called from main before any thread is spawned.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => {
            drop(tx);
            let mut code = [0u8; 1];
            let got = File::from(rx).read(&mut code);
            Ok(Side::Parent(match got {
                Ok(1) => ExitCode::from(code[0]),
                // The keeper died without reporting (Ctrl-C, crash).
                _ => {
                    let _ = nix::sys::wait::waitpid(child, None);
                    ExitCode::from(1)
                }
            }))
        }
        ForkResult::Child => {
            drop(rx);
            Ok(Side::Keeper(Detach { tx }))
        }
    }
}

impl Detach {
    /// Leave the terminal and release the parent with `code`.
    pub fn finish(self, code: u8) {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        let _ = setsid();
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            for fd in 0..3 {
                // SAFETY: dup2 onto the standard descriptors of this process.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        let _ = File::from(self.tx).write_all(&[code]);
    }
}
