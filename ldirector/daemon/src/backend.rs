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
        IpvsMode::Userspace => Box::new(Forwarder::new(tokio::runtime::Handle::current())),
        IpvsMode::None => Box::new(MemoryBackend::default()),
        IpvsMode::Auto => match KernelBackend::open() {
            Ok(k) => Box::new(k),
            Err(BackendError::Unavailable { reason, .. }) => {
                tracing::info!(
                    reason = %reason,
                    "Kernel IPVS unavailable ({reason}), using the userspace forwarder"
                );
                Box::new(Forwarder::new(tokio::runtime::Handle::current()))
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
