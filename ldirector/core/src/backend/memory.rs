//! A backend that only keeps the table: for tests and for running the
//! checks without touching any forwarding (`--ipvs none`).

use super::{ApplyError, Backend, BackendError, DestSnapshot, ServiceSnapshot, Snapshot, Stats};
use crate::ipvs::{IpvsCommand, Table};

#[derive(Debug, Default)]
pub struct MemoryBackend {
    pub table: Table,
    /// Every command applied, in order (refused ones included).
    pub log: Vec<IpvsCommand>,
}

impl MemoryBackend {
    pub fn new(table: Table) -> Self {
        MemoryBackend {
            table,
            log: Vec::new(),
        }
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn read(&mut self) -> Result<Table, BackendError> {
        Ok(self.table.clone())
    }

    fn apply(&mut self, cmds: &[IpvsCommand]) -> Result<(), ApplyError> {
        let mut failures = Vec::new();
        for (i, cmd) in cmds.iter().enumerate() {
            self.log.push(cmd.clone());
            if let Err(error) = self.table.apply(cmd) {
                failures.push((
                    i,
                    BackendError::Refused {
                        cmd: cmd.to_string(),
                        error,
                    },
                ));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApplyError { failures })
        }
    }

    fn snapshot(&mut self) -> Result<Snapshot, BackendError> {
        Ok(Snapshot {
            services: self
                .table
                .services
                .iter()
                .map(|(key, s)| ServiceSnapshot {
                    key: *key,
                    params: s.params.clone(),
                    stats: Stats::default(),
                    dests: s
                        .dests
                        .iter()
                        .map(|(addr, params)| DestSnapshot {
                            addr: *addr,
                            params: *params,
                            active_conns: 0,
                            inactive_conns: 0,
                            persist_conns: 0,
                            stats: Stats::default(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}
