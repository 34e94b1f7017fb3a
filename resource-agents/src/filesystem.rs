//! `Filesystem <device> <directory> [<fstype> [<options>]] start|stop|status|monitor`
//! (heartbeat's argument order for resource-agents' Filesystem).
//!
//! * device: a path, `-U<uuid>`/`-L<label>` (as haresources writes them:
//!   `Filesystem::-Ldata1::/data1::ext3`), `--uuid=…`/`--label=…`,
//!   `UUID=…`/`LABEL=…`; UUIDs and labels are resolved with blkid.
//! * start: refuse if something is mounted below the directory; done if it is
//!   mounted already; fsck (`fsck -t T -p`, failure when it exits ≥ 4) only
//!   for types without a journal, unless `OCF_RESKEY_run_fsck=force|no`;
//!   create the directory; mount(2) with `-o` split into flags and data (a
//!   `/sbin/mount.<type>` helper is used instead when one exists, as mount(8)
//!   would).
//! * status: the directory is a mount point in `/proc/mounts`.
//! * stop: unmount everything below it, other bind mounts of the same device,
//!   then the directory; while busy, TERM the processes using it (3 tries,
//!   1 s apart), then KILL (3 more) — the real agent's fast_stop with
//!   `fuser -km`. `OCF_RESKEY_force_unmount=false` disables the killing.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::Signal;

use crate::cli::Agent;
use crate::fuser;
use crate::mount_opts;
use crate::mounts::{self, Mount};
use crate::ocf::{RaError, State};

/// Types that are not on a local block device.
const NOT_BLOCK: &[&str] = &[
    "nfs4",
    "nfs",
    "efs",
    "smbfs",
    "cifs",
    "none",
    "glusterfs",
    "ceph",
    "tmpfs",
    "overlay",
    "overlayfs",
    "rozofs",
    "zfs",
    "cvfs",
    "lustre",
];

/// Types the real agent never fscks in `auto` mode (journaled or not local).
const NO_FSCK: &[&str] = &[
    "ext4",
    "ext4dev",
    "ext3",
    "reiserfs",
    "reiser4",
    "nss",
    "xfs",
    "jfs",
    "vfat",
    "fat",
    "nfs4",
    "nfs",
    "efs",
    "cifs",
    "smbfs",
    "ocfs2",
    "gfs2",
    "none",
    "lustre",
    "glusterfs",
    "ceph",
    "tmpfs",
    "overlay",
    "overlayfs",
    "rozofs",
    "zfs",
    "cvfs",
];

/// Types where a forced unmount (MNT_FORCE) can help a hung server.
const NETWORK: &[&str] = &["nfs4", "nfs", "efs", "cifs", "smbfs"];

/// Unmount attempts per signal and the pause between them.
const TRIES_PER_SIGNAL: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A child's chatter belongs in the log (stderr), not in the words on stdout.
fn stdout_to_stderr() -> Stdio {
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    Path(String),
    Uuid(String),
    Label(String),
}

impl Device {
    pub fn parse(s: &str) -> Result<Self, RaError> {
        let tagged = |v: &str, make: fn(String) -> Device| {
            let v = v.trim_start();
            if v.is_empty() {
                Err(RaError::not_configured(format!("Invalid device [{s}]")))
            } else {
                Ok(make(v.to_string()))
            }
        };
        for (prefix, make) in [
            ("--uuid=", Device::Uuid as fn(String) -> Device),
            ("--uuid ", Device::Uuid),
            ("UUID=", Device::Uuid),
            ("-U", Device::Uuid),
            ("--label=", Device::Label),
            ("--label ", Device::Label),
            ("LABEL=", Device::Label),
            ("-L", Device::Label),
        ] {
            if let Some(v) = s.strip_prefix(prefix) {
                return tagged(v, make);
            }
        }
        if s.is_empty() {
            return Err(RaError::not_configured(
                "Please set the device to be managed",
            ));
        }
        Ok(Device::Path(s.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsckMode {
    Auto,
    Force,
    No,
}

impl FsckMode {
    pub fn from_env() -> Self {
        match std::env::var("OCF_RESKEY_run_fsck").as_deref() {
            Ok("force") => Self::Force,
            Ok("no") => Self::No,
            Ok("") | Ok("auto") | Err(_) => Self::Auto,
            Ok(other) => {
                tracing::warn!("Invalid parameter value for fsck: '{other}'; setting to 'auto'");
                Self::Auto
            }
        }
    }

    pub fn needed(self, fstype: &str) -> bool {
        match self {
            Self::Force => true,
            Self::No => false,
            Self::Auto => !NO_FSCK.contains(&fstype),
        }
    }
}

#[derive(Debug)]
pub struct Filesystem {
    pub device: Device,
    /// The directory as given, trailing slashes removed.
    pub mountpoint: String,
    pub fstype: Option<String>,
    pub options: String,
    pub fsck: FsckMode,
    pub kill_users: bool,
}

/// Strip trailing slashes (`/data/` → `/data`, `///` → `/`).
pub fn normalize_mountpoint(dir: &str) -> String {
    let t = dir.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else {
        t.to_string()
    }
}

impl Filesystem {
    /// The mount point as /proc/mounts shows it (symlinks resolved).
    fn canonical(&self) -> String {
        fs::canonicalize(&self.mountpoint)
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .unwrap_or_else(|| self.mountpoint.clone())
    }

    fn is_block(&self) -> bool {
        let t = self.fstype.as_deref().unwrap_or("");
        if NOT_BLOCK.contains(&t) {
            return false;
        }
        match &self.device {
            Device::Path(p) => !Path::new(p).is_dir(),
            Device::Uuid(_) | Device::Label(_) => true,
        }
    }

    fn resolve_device(&self) -> Result<String, RaError> {
        let (flag, value, by) = match &self.device {
            Device::Path(p) => return Ok(p.clone()),
            Device::Uuid(u) => ("-U", u, "by-uuid"),
            Device::Label(l) => ("-L", l, "by-label"),
        };
        if let Ok(out) = Command::new("blkid").args([flag, value]).output() {
            let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !dev.is_empty() {
                return Ok(dev);
            }
        }
        // Without blkid (or its cache), udev's links are the other source.
        let link = Path::new("/dev/disk").join(by).join(value);
        fs::canonicalize(&link)
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .ok_or_else(|| {
                RaError::not_installed(format!(
                    "Couldn't find device [{}{value}]. Expected /dev/??? to exist",
                    if flag == "-U" { "UUID=" } else { "LABEL=" }
                ))
            })
    }

    fn detect_fstype(dev: &str) -> Result<String, RaError> {
        let out = Command::new("blkid")
            .args(["-o", "value", "-s", "TYPE", dev])
            .output()
            .map_err(|e| RaError::from_io("cannot run blkid to detect the filesystem type", &e))?;
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !t.is_empty() {
            Ok(t)
        } else {
            Err(RaError::not_configured(format!(
                "Cannot determine the filesystem type of {dev}; give it as the third argument"
            )))
        }
    }

    fn run_fsck(dev: &str, fstype: &str) -> Result<(), RaError> {
        tracing::info!("Starting filesystem check on {dev}");
        let status = Command::new("fsck")
            .args(["-t", fstype, "-p", dev])
            .stdout(stdout_to_stderr())
            .status()
            .map_err(|e| RaError::not_installed(format!("cannot run fsck: {e}")))?;
        // fsck: 1 = errors corrected, 2 = reboot advised, ≥ 4 = left uncorrected.
        match status.code() {
            Some(c) if c < 4 => Ok(()),
            _ => Err(RaError::generic(format!(
                "Couldn't successfully fsck filesystem for {dev} ({status})"
            ))),
        }
    }

    fn mount_helper(fstype: &str) -> Option<PathBuf> {
        ["/sbin", "/usr/sbin"]
            .iter()
            .map(|d| Path::new(d).join(format!("mount.{fstype}")))
            .find(|p| p.is_file())
    }

    fn do_mount(&self, dev: &str, fstype: Option<&str>) -> Result<(), RaError> {
        let opts = mount_opts::parse(&self.options)?;
        let fail = |detail: String| {
            RaError::generic(format!(
                "Couldn't mount device [{dev}] as {}: {detail}",
                self.mountpoint
            ))
        };
        if let Some(helper) = fstype.filter(|t| *t != "none").and_then(Self::mount_helper) {
            let mut cmd = Command::new(&helper);
            cmd.args([dev, self.mountpoint.as_str()])
                .stdout(stdout_to_stderr());
            if !self.options.is_empty() {
                cmd.args(["-o", self.options.as_str()]);
            }
            tracing::info!(helper = %helper.display(), "mounting through helper");
            let status = cmd.status().map_err(|e| fail(e.to_string()))?;
            return if status.success() {
                Ok(())
            } else {
                Err(fail(format!("{} {status}", helper.display())))
            };
        }
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        if opts.is_bind() {
            // A bind mount ignores other flags; they need a remount.
            let bind = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
            mount(
                Some(dev),
                self.mountpoint.as_str(),
                None::<&str>,
                bind,
                None::<&str>,
            )
            .map_err(|e| fail(e.to_string()))?;
            let rest = opts.flags - bind;
            if !rest.is_empty() {
                mount(
                    None::<&str>,
                    self.mountpoint.as_str(),
                    None::<&str>,
                    rest | MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(|e| fail(format!("remount: {e}")))?;
            }
            return Ok(());
        }
        let fstype = fstype.filter(|t| *t != "none");
        mount(
            Some(dev),
            self.mountpoint.as_str(),
            fstype,
            opts.flags,
            data,
        )
        .map_err(|e| fail(e.to_string()))
    }

    fn mounted_at<'a>(table: &'a [Mount], dir: &str) -> Option<&'a Mount> {
        table.iter().rev().find(|m| m.mountpoint == dir)
    }

    /// Unmount `dir`, signalling its users while it is busy.
    fn unmount_one(&self, dir: &str, network: bool) -> Result<(), RaError> {
        let flags = if network {
            MntFlags::MNT_FORCE
        } else {
            MntFlags::empty()
        };
        let dev = fuser::device_of(Path::new(dir)).ok();
        for sig in [Signal::SIGTERM, Signal::SIGKILL] {
            for _ in 0..TRIES_PER_SIGNAL {
                let res = umount2(dir, flags);
                if Self::mounted_at(&mounts::read()?, dir).is_none() {
                    tracing::info!("unmounted {dir} successfully");
                    return Ok(());
                }
                let why = res.err().unwrap_or(Errno::EBUSY);
                tracing::error!("Couldn't unmount {dir} ({why}); trying cleanup with {sig}");
                match (self.kill_users, dev) {
                    (true, Some(dev)) => {
                        if fuser::signal_users(dev, sig).is_empty() {
                            tracing::info!("No processes on {dir} were signalled");
                        }
                    }
                    _ => {
                        tracing::info!("No processes on {dir} were signalled. force_unmount is off")
                    }
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
        Err(RaError::generic(format!(
            "Couldn't unmount {dir}, giving up!"
        )))
    }
}

impl Agent for Filesystem {
    const NAME: &'static str = "Filesystem";
    const ARGS: &'static str = "<device> <directory> [<fstype> [<options>]]";

    fn from_args(args: &[String]) -> Result<Self, RaError> {
        let (device, dir, fstype, options) = match args {
            [d, m] => (d, m, None, None),
            [d, m, t] => (d, m, Some(t), None),
            [d, m, t, o] => (d, m, Some(t), Some(o)),
            _ => {
                return Err(RaError::args(format!(
                    "expected <device> <directory> [<fstype> [<options>]], got {} arguments",
                    args.len()
                )))
            }
        };
        if dir.is_empty() {
            return Err(RaError::not_configured("Please specify the directory"));
        }
        if !dir.starts_with('/') {
            return Err(RaError::not_configured(format!(
                "The directory [{dir}] must be an absolute path"
            )));
        }
        let fstype = fstype.filter(|t| !t.is_empty()).cloned();
        if let Some(t) = &fstype {
            if t.contains(|c: char| c.is_whitespace() || c == '/' || c == ',') {
                return Err(RaError::not_configured(format!("Invalid fstype [{t}]")));
            }
        }
        let options = options.cloned().unwrap_or_default();
        // Reject bad options before anything is touched.
        mount_opts::parse(&options)?;
        let kill_users = !matches!(
            std::env::var("OCF_RESKEY_force_unmount")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .as_str(),
            "false" | "no" | "0" | "off" | "n"
        );
        Ok(Self {
            device: Device::parse(device)?,
            mountpoint: normalize_mountpoint(dir),
            fstype,
            options,
            fsck: FsckMode::from_env(),
            kill_users,
        })
    }

    fn status(&self) -> Result<State, RaError> {
        let table = mounts::read()?;
        Ok(match Self::mounted_at(&table, &self.canonical()) {
            Some(_) => State::Running,
            None => State::Stopped,
        })
    }

    fn start(&self) -> Result<(), RaError> {
        let canonical = self.canonical();
        let table = mounts::read()?;
        if !mounts::submounts(&table, &canonical).is_empty() && canonical != "/" {
            return Err(RaError::not_configured(format!(
                "There is one or more mounts mounted under {}.",
                self.mountpoint
            )));
        }
        if Self::mounted_at(&table, &canonical).is_some() {
            tracing::info!("Filesystem {} is already mounted.", self.mountpoint);
            return Ok(());
        }
        let block = self.is_block();
        let dev = self.resolve_device()?;
        if block {
            let is_blockdev = fs::metadata(&dev).is_ok_and(|m| m.file_type().is_block_device());
            if dev != "/dev/null" && !is_blockdev {
                return Err(RaError::not_installed(format!(
                    "Couldn't find device [{dev}]. Expected /dev/??? to exist"
                )));
            }
        }
        let fstype = match (&self.fstype, block) {
            (Some(t), _) => Some(t.clone()),
            (None, true) => Some(Self::detect_fstype(&dev)?),
            (None, false) => None,
        };
        if block && dev != "/dev/null" {
            if let Some(t) = fstype.as_deref().filter(|t| self.fsck.needed(t)) {
                Self::run_fsck(&dev, t)?;
            }
        }
        if !Path::new(&self.mountpoint).is_dir() {
            tracing::info!("mkdir -p {}", self.mountpoint);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&self.mountpoint)
                .map_err(|e| {
                    RaError::not_installed(format!(
                        "Couldn't find directory [{}] to use as a mount point: {e}",
                        self.mountpoint
                    ))
                })?;
        }
        self.do_mount(&dev, fstype.as_deref())
    }

    fn stop(&self) -> Result<(), RaError> {
        let canonical = self.canonical();
        let table = mounts::read()?;
        let Some(this) = Self::mounted_at(&table, &canonical) else {
            return Ok(());
        };
        let is_bind = self.options.split(',').any(|o| o == "bind" || o == "rbind");
        let mut order: Vec<String> = mounts::submounts(&table, &canonical)
            .into_iter()
            .map(|m| m.mountpoint.clone())
            .collect();
        // Other mounts of the same block device (bind mounts of it) would keep
        // the device busy for whoever takes it over.
        if !is_bind && this.device.starts_with("/dev/") {
            let mut binds: Vec<String> = table
                .iter()
                .filter(|m| m.device == this.device && m.mountpoint != canonical)
                .filter(|m| !order.contains(&m.mountpoint))
                .map(|m| m.mountpoint.clone())
                .collect();
            binds.sort_by(|a, b| b.cmp(a));
            binds.dedup();
            order.extend(binds);
        }
        order.push(canonical);
        let network = NETWORK.contains(&this.fstype.as_str());
        let mut result = Ok(());
        for dir in order {
            tracing::info!("Trying to unmount {dir}");
            if let Err(e) = self.unmount_one(&dir, network) {
                tracing::error!("{e}");
                result = Err(e);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_forms() {
        assert_eq!(
            Device::parse("/dev/sdb1").unwrap(),
            Device::Path("/dev/sdb1".into())
        );
        assert_eq!(
            Device::parse("-Ldata1").unwrap(),
            Device::Label("data1".into())
        );
        assert_eq!(
            Device::parse("-L data1").unwrap(),
            Device::Label("data1".into())
        );
        assert_eq!(
            Device::parse("-Uabcd-1234").unwrap(),
            Device::Uuid("abcd-1234".into())
        );
        assert_eq!(
            Device::parse("UUID=abcd").unwrap(),
            Device::Uuid("abcd".into())
        );
        assert_eq!(
            Device::parse("LABEL=x y").unwrap(),
            Device::Label("x y".into())
        );
        assert_eq!(Device::parse("--uuid=u").unwrap(), Device::Uuid("u".into()));
        assert_eq!(
            Device::parse("--label l").unwrap(),
            Device::Label("l".into())
        );
        assert_eq!(
            Device::parse("server:/export").unwrap(),
            Device::Path("server:/export".into())
        );
        assert!(Device::parse("-L").is_err());
        assert!(Device::parse("UUID=").is_err());
        assert!(Device::parse("").is_err());
    }

    #[test]
    fn fsck_policy_follows_the_real_agent() {
        assert!(FsckMode::Auto.needed("ext2"));
        assert!(FsckMode::Auto.needed("btrfs"));
        assert!(!FsckMode::Auto.needed("ext4"));
        assert!(!FsckMode::Auto.needed("ext3"));
        assert!(!FsckMode::Auto.needed("xfs"));
        assert!(!FsckMode::Auto.needed("nfs"));
        assert!(FsckMode::Force.needed("ext4"));
        assert!(!FsckMode::No.needed("ext2"));
    }

    #[test]
    fn mountpoint_normalisation() {
        assert_eq!(normalize_mountpoint("/data/"), "/data");
        assert_eq!(normalize_mountpoint("/data//"), "/data");
        assert_eq!(normalize_mountpoint("///"), "/");
    }

    #[test]
    fn argument_checks() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Filesystem::from_args(&args(&["/dev/x"])).unwrap_err().rc,
            crate::ocf::Rc::Args
        );
        assert_eq!(
            Filesystem::from_args(&args(&["/dev/x", "rel/dir", "ext4"]))
                .unwrap_err()
                .rc,
            crate::ocf::Rc::NotConfigured
        );
        assert_eq!(
            Filesystem::from_args(&args(&["/dev/x", "/d", "ext4", "loop"]))
                .unwrap_err()
                .rc,
            crate::ocf::Rc::NotConfigured
        );
        let f = Filesystem::from_args(&args(&["-Ldata", "/d/", "ext3", "ro,noatime"])).unwrap();
        assert_eq!(f.mountpoint, "/d");
        assert_eq!(f.device, Device::Label("data".into()));
        assert!(f.is_block());
        let f = Filesystem::from_args(&args(&["srv:/x", "/d", "nfs"])).unwrap();
        assert!(!f.is_block());
    }
}
