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

/// Read and parse; a file that cannot be read is a whole-file problem.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem::new(path, None, format!("cannot read: {e}"))],
    })?;
    parse_text(path, &text)
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
