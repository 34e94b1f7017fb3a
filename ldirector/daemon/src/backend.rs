//! `--ipvs`: choosing the IPVS implementation.

use ld_forwarder::Forwarder;
use ld_ipvs_kernel::KernelBackend;
use ldirector::backend::memory::MemoryBackend;
use ldirector::backend::{Backend, BackendError};

use crate::cli::IpvsMode;

/// Open the backend `mode` asks for. Must run inside the tokio runtime (the
/// userspace forwarder's sockets are tasks on it).
pub fn open(mode: IpvsMode) -> Result<Box<dyn Backend>, BackendError> {
    let backend: Box<dyn Backend> = match mode {
        IpvsMode::Kernel => Box::new(KernelBackend::open()?),
        IpvsMode::Userspace => Box::new(forwarder()?),
        IpvsMode::None => Box::new(MemoryBackend::default()),
        IpvsMode::Auto => match KernelBackend::open() {
            Ok(k) => Box::new(k),
            Err(BackendError::Unavailable { reason, .. }) => {
                tracing::info!(
                    reason = %reason,
                    "Kernel IPVS unavailable ({reason}), using the userspace forwarder"
                );
                Box::new(forwarder()?)
            }
            Err(e) => return Err(e),
        },
    };
    tracing::info!(
        backend = backend.name(),
        "Using IPVS backend: {}",
        backend.name()
    );
    Ok(backend)
}

/// The userspace forwarder on this runtime (which also runs the checks)
/// plus one more thread per further CPU: forwarding is the one part of
/// ldirectord whose load grows with the traffic.
fn forwarder() -> Result<Forwarder, BackendError> {
    let mut handles = vec![tokio::runtime::Handle::current()];
    let extra = ld_forwarder::runtimes::default_count().saturating_sub(1);
    let more = ld_forwarder::runtimes::spawn(extra, "ldirectord-fwd").map_err(|e| {
        BackendError::Unavailable {
            backend: "userspace",
            reason: format!("cannot start forwarding threads: {e}"),
        }
    })?;
    handles.extend(more);
    tracing::info!(
        threads = handles.len(),
        "userspace forwarder threads: {}",
        handles.len()
    );
    Ok(Forwarder::with_runtimes(
        handles,
        ld_forwarder::Options::default(),
    ))
}
