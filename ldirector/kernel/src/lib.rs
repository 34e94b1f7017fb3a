//! The kernel's IP Virtual Server as a [`Backend`], over generic netlink
//! (family `IPVS`), without forking ipvsadm.
//!
//! Requests are the ones ipvsadm 1.31 sends (`IPVS_CMD_NEW_SERVICE` …
//! `IPVS_CMD_DEL_DEST`, dumps of `GET_SERVICE`/`GET_DEST`), and refusals map
//! to ipvsadm's words ([`IpvsError`]). A batch goes out pipelined, a few
//! hundred requests per datagram, so programming 10,000 destinations costs
//! tens of system calls, not 10,000 round trips.

pub mod conns;
mod proto;
mod socket;

use std::io;
use std::process::Command;

use ldirector::backend::listing::IpvsInfo;
use ldirector::backend::{ApplyError, Backend, BackendError, ConnEntry, Snapshot};
use ldirector::ipvs::{IpvsCommand, IpvsError};

#[doc(hidden)]
pub use crate::socket::decode_reply_datagram;
use crate::socket::Genl;

pub struct KernelBackend {
    genl: Genl,
}

fn unavailable(reason: impl Into<String>) -> BackendError {
    BackendError::Unavailable {
        backend: "kernel",
        reason: reason.into(),
    }
}

fn io_err(context: &str, source: io::Error) -> BackendError {
    BackendError::Io {
        context: context.to_string(),
        source,
    }
}

fn protocol(e: impl std::fmt::Display) -> BackendError {
    BackendError::Protocol(format!("IPVS netlink: {e}"))
}

impl KernelBackend {
    /// Resolve the IPVS generic netlink family (loading `ip_vs` once if it
    /// is missing, as ipvsadm does) and check that we may use it;
    /// `Unavailable` when the kernel has no IPVS or we lack CAP_NET_ADMIN.
    pub fn open() -> Result<KernelBackend, BackendError> {
        let mut genl =
            Genl::open().map_err(|e| unavailable(format!("generic netlink socket: {e}")))?;
        let family = match genl.resolve(proto::FAMILY_NAME) {
            Ok(Some(f)) => f,
            Ok(None) => {
                // ipvsadm runs /sbin/modprobe; PATH may lack sbin dirs.
                let modprobe = ["/sbin/modprobe", "modprobe"]
                    .iter()
                    .map(|m| Command::new(m).args(["--", "ip_vs"]).output())
                    .find(|r| r.is_ok());
                tracing::debug!(?modprobe, "IPVS family absent; tried modprobe ip_vs");
                match genl.resolve(proto::FAMILY_NAME) {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        return Err(unavailable(
                            "the kernel has no IPVS (no generic netlink family IPVS, modprobe ip_vs did not help)",
                        ))
                    }
                    Err(e) => return Err(unavailable(format!("generic netlink family lookup: {e}"))),
                }
            }
            Err(e) => return Err(unavailable(format!("generic netlink family lookup: {e}"))),
        };
        genl.set_family(family);
        let mut backend = KernelBackend { genl };
        // Every IPVS command needs CAP_NET_ADMIN; find out now rather than
        // on the first change.
        backend.info().map_err(|e| match e {
            BackendError::Io { source, .. } if source.raw_os_error() == Some(libc::EPERM) => {
                unavailable("permission denied (IPVS needs CAP_NET_ADMIN)")
            }
            other => unavailable(other.to_string()),
        })?;
        tracing::debug!(family, "IPVS generic netlink family resolved");
        Ok(backend)
    }

    /// The kernel's IPVS version and connection table size (the first line
    /// of `ipvsadm -Ln`).
    pub fn info(&mut self) -> Result<IpvsInfo, BackendError> {
        let reply = self
            .genl
            .get(proto::get_info())
            .map_err(|e| io_err("IPVS_CMD_GET_INFO", e))?;
        let (version, conn_tab_size) = proto::decode_info(&reply).map_err(protocol)?;
        Ok(IpvsInfo {
            version,
            conn_tab_size,
        })
    }
}

/// What ipvsadm would say for `errno` after `cmd` (its `ipvs_strerror`).
fn refusal(cmd: &IpvsCommand, errno: i32) -> BackendError {
    use IpvsCommand::*;
    let refused = |error| BackendError::Refused {
        cmd: cmd.to_string(),
        error,
    };
    let message = match (cmd, errno) {
        (AddService { .. }, libc::EEXIST) => return refused(IpvsError::ServiceExists),
        (AddDest { .. }, libc::EEXIST) => return refused(IpvsError::DestExists),
        (_, libc::ESRCH) => return refused(IpvsError::NoSuchService),
        (EditDest { .. } | DelDest { .. }, libc::ENOENT) => return refused(IpvsError::NoSuchDest),
        (AddService { .. } | EditService { .. }, libc::ENOENT) => {
            Some("Scheduler or persistence engine not found")
        }
        (_, libc::EPERM) => Some("Permission denied (you must be root)"),
        (_, libc::EINVAL) => {
            Some("Invalid operation.  Possibly wrong module version, address not unicast, ...")
        }
        (_, libc::EAFNOSUPPORT) => Some("Operation not supported with specified address family"),
        _ => None,
    };
    let os = io::Error::from_raw_os_error(errno);
    let source = match message {
        Some(m) => io::Error::new(os.kind(), format!("{m} ({os})")),
        None => os,
    };
    io_err(&cmd.to_string(), source)
}

impl Backend for KernelBackend {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn apply(&mut self, cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        let mut failures = Vec::new();
        let mut sent = Vec::with_capacity(cmds.len());
        let mut msgs = Vec::with_capacity(cmds.len());
        for (i, cmd) in cmds.iter().enumerate() {
            match proto::encode(cmd) {
                Ok(m) => {
                    sent.push(i);
                    msgs.push(m);
                }
                Err(e) => failures.push((
                    i,
                    io_err(
                        &cmd.to_string(),
                        io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
                    ),
                )),
            }
        }
        for (i, errno) in sent.into_iter().zip(self.genl.batch(msgs)) {
            if errno != 0 {
                let Some(cmd) = cmds.get(i) else { continue };
                let err = refusal(cmd, errno);
                tracing::debug!(command = %cmd, error = %err, "IPVS change refused");
                failures.push((i, err));
            }
        }
        failures.sort_by_key(|f| f.0);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError { failures })
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        let replies = self
            .genl
            .dump(proto::get_services())
            .map_err(|e| io_err("IPVS_CMD_GET_SERVICE", e))?;
        let mut services = Vec::with_capacity(replies.len());
        for reply in &replies {
            let mut svc = match proto::decode_service(reply).map_err(protocol)? {
                Ok(s) => s,
                Err(what) => {
                    tracing::warn!(service = %what, "IPVS service not representable; left out of the table");
                    continue;
                }
            };
            let dests = match self.genl.dump(proto::get_dests(&svc.key)) {
                Ok(d) => d,
                // Deleted between the two dumps.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => continue,
                Err(e) => return Err(io_err(&format!("IPVS_CMD_GET_DEST {}", svc.key), e)),
            };
            for d in &dests {
                svc.dests
                    .push(proto::decode_dest(d, &svc.key).map_err(protocol)?);
            }
            services.push(svc);
        }
        Ok(Snapshot { services })
    }

    fn connections(&mut self) -> Result<Vec<ConnEntry>, BackendError> {
        let text = match std::fs::read_to_string(conns::CONN_PROC_FILE) {
            Ok(t) => t,
            // ip_vs unloaded since open: no table, no connections.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(conns::CONN_PROC_FILE, e)),
        };
        let (entries, bad) = conns::parse(&text);
        if bad > 0 {
            tracing::warn!(
                file = conns::CONN_PROC_FILE,
                lines = bad,
                "IPVS connection lines not understood; left out"
            );
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests;
