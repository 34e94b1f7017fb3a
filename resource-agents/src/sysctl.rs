//! Per-interface IPv4 sysctls under `/proc/sys/net/ipv4/conf/<if>/` (per
//! network namespace: the values seen are those of the caller's netns).

use std::fs;
use std::path::PathBuf;

use crate::ocf::RaError;

/// A `conf/<iface>/<key>` sysctl.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfKey {
    pub iface: String,
    pub key: String,
}

impl ConfKey {
    pub fn new(iface: &str, key: &str) -> Self {
        Self {
            iface: iface.to_string(),
            key: key.to_string(),
        }
    }

    /// `conf/all/arp_ignore`, the form used in saved-state files.
    pub fn name(&self) -> String {
        format!("conf/{}/{}", self.iface, self.key)
    }

    pub fn parse_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("conf/")?;
        let (iface, key) = rest.split_once('/')?;
        if iface.is_empty() || key.is_empty() || key.contains('/') || iface == ".." {
            return None;
        }
        Some(Self::new(iface, key))
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/proc/sys/net/ipv4/conf")
            .join(&self.iface)
            .join(&self.key)
    }

    pub fn exists(&self) -> bool {
        self.path().exists()
    }

    pub fn read(&self) -> Result<String, RaError> {
        fs::read_to_string(self.path())
            .map(|s| s.trim().to_string())
            .map_err(|e| RaError::from_io(format!("read sysctl {}", self.name()), &e))
    }

    pub fn write(&self, value: &str) -> Result<(), RaError> {
        fs::write(self.path(), format!("{value}\n"))
            .map_err(|e| RaError::from_io(format!("write sysctl {}={value}", self.name()), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let k = ConfKey::new("eth0.100", "arp_ignore");
        assert_eq!(k.name(), "conf/eth0.100/arp_ignore");
        assert_eq!(ConfKey::parse_name(&k.name()), Some(k));
        assert_eq!(ConfKey::parse_name("conf/all"), None);
        assert_eq!(ConfKey::parse_name("net/all/x"), None);
        assert_eq!(ConfKey::parse_name("conf/../x"), None);
        assert_eq!(ConfKey::parse_name("conf/a/b/c"), None);
    }

    #[test]
    fn reads_a_real_sysctl() {
        let v = ConfKey::new("all", "arp_ignore").read().unwrap();
        assert!(v.parse::<u32>().is_ok(), "{v}");
    }
}
