//! Extra threads for the forwarder: one current-thread tokio runtime each,
//! so a connection stays on one thread from accept to close (no work
//! stealing, no cross-thread wake-ups on its fast path).

use std::io;

use tokio::runtime::{Builder, Handle};

/// Starts `n` threads named `<name>-1`.. each running a current-thread
/// runtime until the process exits, and returns their handles. Pass them,
/// with the caller's own runtime first, to [`crate::Forwarder::with_runtimes`].
pub fn spawn(n: usize, name: &str) -> io::Result<Vec<Handle>> {
    let mut handles = Vec::with_capacity(n);
    for i in 1..=n {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(
                move || match Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => {
                        let _ = tx.send(Ok(rt.handle().clone()));
                        rt.block_on(std::future::pending::<()>());
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                },
            )?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("forwarder thread ended before its runtime started"))??;
        handles.push(handle);
    }
    Ok(handles)
}

/// How many forwarding threads to use in all: one per CPU this process
/// may run on, at most 8 (beyond that the real servers, not the
/// forwarder, are the limit on any director this replaces).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}
