//! `-o` mount options → `mount(2)` flags plus the filesystem's data string,
//! the split mount(8) makes.

use nix::mount::MsFlags;

use crate::ocf::RaError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Options passed to the filesystem (`errors=remount-ro,data=ordered`).
    pub data: String,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            flags: MsFlags::empty(),
            data: String::new(),
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Flags set (`true`) or cleared (`false`) by a generic option.
fn flag_option(opt: &str) -> Option<(MsFlags, bool)> {
    Some(match opt {
        "ro" => (MsFlags::MS_RDONLY, true),
        "rw" => (MsFlags::MS_RDONLY, false),
        "nosuid" => (MsFlags::MS_NOSUID, true),
        "suid" => (MsFlags::MS_NOSUID, false),
        "nodev" => (MsFlags::MS_NODEV, true),
        "dev" => (MsFlags::MS_NODEV, false),
        "noexec" => (MsFlags::MS_NOEXEC, true),
        "exec" => (MsFlags::MS_NOEXEC, false),
        "sync" => (MsFlags::MS_SYNCHRONOUS, true),
        "async" => (MsFlags::MS_SYNCHRONOUS, false),
        "dirsync" => (MsFlags::MS_DIRSYNC, true),
        "remount" => (MsFlags::MS_REMOUNT, true),
        "mand" => (MsFlags::MS_MANDLOCK, true),
        "nomand" => (MsFlags::MS_MANDLOCK, false),
        "noatime" => (MsFlags::MS_NOATIME, true),
        "atime" => (MsFlags::MS_NOATIME, false),
        "nodiratime" => (MsFlags::MS_NODIRATIME, true),
        "diratime" => (MsFlags::MS_NODIRATIME, false),
        "relatime" => (MsFlags::MS_RELATIME, true),
        "norelatime" => (MsFlags::MS_RELATIME, false),
        "strictatime" => (MsFlags::MS_STRICTATIME, true),
        "nostrictatime" => (MsFlags::MS_STRICTATIME, false),
        "lazytime" => (MsFlags::MS_LAZYTIME, true),
        "nolazytime" => (MsFlags::MS_LAZYTIME, false),
        "silent" => (MsFlags::MS_SILENT, true),
        "loud" => (MsFlags::MS_SILENT, false),
        "bind" => (MsFlags::MS_BIND, true),
        "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, true),
        _ => return None,
    })
}

/// Options only fstab/mount(8) itself look at; the kernel never sees them.
fn userspace_only(opt: &str) -> bool {
    matches!(
        opt,
        "defaults"
            | "auto"
            | "noauto"
            | "user"
            | "nouser"
            | "users"
            | "owner"
            | "group"
            | "_netdev"
            | "nofail"
    ) || opt.starts_with("x-")
        || opt.starts_with("comment=")
}

pub fn parse(options: &str) -> Result<MountOptions, RaError> {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if let Some((flag, set)) = flag_option(opt) {
            out.flags.set(flag, set);
        } else if opt == "loop" || opt.starts_with("loop=") {
            return Err(RaError::not_configured(
                "mount option 'loop' is not supported: set up the loop device and name it as the device",
            ));
        } else if !userspace_only(opt) {
            data.push(opt);
        }
    }
    out.data = data.join(",");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_data_are_split() {
        let o = parse("ro,noatime,errors=remount-ro,nosuid,data=ordered").unwrap();
        assert_eq!(
            o.flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOATIME | MsFlags::MS_NOSUID
        );
        assert_eq!(o.data, "errors=remount-ro,data=ordered");
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse("ro,rw,noexec,exec").unwrap();
        assert_eq!(o.flags, MsFlags::empty());
    }

    #[test]
    fn fstab_only_options_are_dropped() {
        let o = parse("defaults,_netdev,noauto,x-systemd.automount,nofail").unwrap();
        assert_eq!(o, MountOptions::default());
        assert_eq!(parse("").unwrap(), MountOptions::default());
    }

    #[test]
    fn bind_and_loop() {
        assert!(parse("bind,ro").unwrap().is_bind());
        assert!(parse("rbind").unwrap().flags.contains(MsFlags::MS_REC));
        assert_eq!(parse("loop").unwrap_err().rc, crate::ocf::Rc::NotConfigured);
    }
}
