//! The kernel's IP Virtual Server as a [`Backend`], over generic netlink
//! (family `IPVS`), without forking ipvsadm.

use ldirector::backend::{ApplyError, Backend, BackendError, Snapshot};
use ldirector::ipvs::IpvsCommand;

pub struct KernelBackend {
    _private: (),
}

impl KernelBackend {
    /// Resolve the IPVS generic netlink family; `Unavailable` when the
    /// kernel has no IPVS (and `ip_vs` cannot be loaded).
    pub fn open() -> Result<KernelBackend, BackendError> {
        Err(BackendError::Unavailable {
            backend: "kernel",
            reason: "netlink IPVS backend not implemented yet".into(),
        })
    }
}

impl Backend for KernelBackend {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn apply(&mut self, _cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot::default())
    }
}
