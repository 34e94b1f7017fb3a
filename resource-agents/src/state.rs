//! The agents' state directory (`$HA_RSCTMP`, `/run/resource-agents` by
//! default, as resource-agents' `ocf-directories` has it) and a lock in it.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::ocf::RaError;

pub const DEFAULT_DIR: &str = "/run/resource-agents";

#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// `$HA_RSCTMP` if set and non-empty, else the default.
    pub fn from_env() -> Self {
        let dir = std::env::var_os("HA_RSCTMP")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        Self { dir }
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A file in the directory (the directory is created on demand).
    pub fn file(&self, name: &str) -> Result<PathBuf, RaError> {
        if !self.dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&self.dir)
                .map_err(|e| RaError::from_io(format!("create {}", self.dir.display()), &e))?;
        }
        Ok(self.dir.join(name))
    }

    /// Hold an exclusive lock named `name` until the guard drops; serialises
    /// agents that pick shared resources (alias numbers, saved sysctls).
    pub fn lock(&self, name: &str) -> Result<Flock<File>, RaError> {
        let path = self.file(&format!(".{name}.lock"))?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| RaError::from_io(format!("open {}", path.display()), &e))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, errno)| RaError::from_errno(format!("lock {}", path.display()), errno))
    }
}
