//! Reading `ldirectord.cf` from disk with the system's names.

use std::net::{IpAddr, ToSocketAddrs as _};
use std::path::Path;

use ldirector::config::{
    self, Config, ConfigError, ParseOptions, Problem, Resolver, StaticResolver,
};

/// `/etc/hosts` and `/etc/services` first, then `getaddrinfo` for hosts
/// (ldirectord resolves with `gethostbyname`/`getaddrinfo` while parsing).
pub struct SystemResolver {
    files: StaticResolver,
}

impl SystemResolver {
    pub fn new() -> SystemResolver {
        let mut files = StaticResolver::offline();
        if let Ok(t) = std::fs::read_to_string("/etc/hosts") {
            files.load_hosts(&t);
        }
        if let Ok(t) = std::fs::read_to_string("/etc/services") {
            files.load_services(&t);
        }
        SystemResolver { files }
    }
}

impl Default for SystemResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl Resolver for SystemResolver {
    fn host(&self, name: &str, ipv6: bool) -> Option<IpAddr> {
        if let Some(a) = self.files.host(name, ipv6) {
            return Some(a);
        }
        if name.parse::<IpAddr>().is_ok() {
            return None;
        }
        (name, 0u16)
            .to_socket_addrs()
            .ok()?
            .map(|s| s.ip())
            .find(|a| a.is_ipv6() == ipv6)
    }

    fn service(&self, name: &str, protocol: Option<&str>) -> Option<u16> {
        self.files.service(name, protocol)
    }
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Largest configuration file we read: far beyond any real ldirectord.cf
/// (10,000 reals take well under 1 MiB), small enough that a wrong path
/// (a log, a device) cannot exhaust memory.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Why a configuration file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("larger than {max} bytes ({size} bytes or more), not read")]
    TooLarge { size: u64, max: u64 },
    #[error("not UTF-8 text")]
    NotText,
}

/// Read at most `max` bytes of `path` as text (blocking). The length is
/// checked on what was read, not only on the metadata, so a file that grows
/// while it is read is refused too.
pub fn read_capped(path: &Path, max: u64) -> Result<String, ReadError> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    if size > max {
        return Err(ReadError::TooLarge { size, max });
    }
    let mut buf = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    let got = buf.len() as u64;
    if got > max {
        return Err(ReadError::TooLarge { size: got, max });
    }
    String::from_utf8(buf).map_err(|_| ReadError::NotText)
}

/// [`read_capped`] with [`MAX_CONFIG_BYTES`], as a whole-file problem.
pub fn read_config(path: &Path) -> Result<String, ConfigError> {
    read_capped(path, MAX_CONFIG_BYTES).map_err(|e| ConfigError {
        problems: vec![Problem::new(path, None, e.to_string())],
    })
}

/// Read and parse; a file that cannot be read is a whole-file problem.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    parse_text(path, &read_config(path)?)
}

pub fn parse_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let resolver = SystemResolver::new();
    let host = hostname();
    config::parse(
        path,
        text,
        &ParseOptions {
            resolver: &resolver,
            hostname: &host,
        },
    )
}
