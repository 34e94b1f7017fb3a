//! Filesystem on loop devices. Mounts land in the host's mount namespace under
//! a private temp dir; the fixture unmounts and detaches everything on Drop.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{prereqs, sh, wait_for, Run};

const FS: &str = env!("CARGO_BIN_EXE_Filesystem");
const SUCCESS: &str = "INFO:  Success";
const RUNNING: &str = "INFO:  Running OK";
const STOPPED: &str = "INFO:  Resource is stopped";

const NEEDS: &[&str] = &["losetup", "mkfs.ext4", "mkfs.ext2", "blkid", "fsck"];

/// A filesystem image on a loop device, with a not-yet-existing mount point.
struct LoopFs {
    dir: tempfile::TempDir,
    dev: String,
    label: String,
}

impl LoopFs {
    fn new(mkfs: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hba-fs")
            .tempdir()
            .expect("tempdir");
        let img = dir.path().join("img");
        sh(Command::new("truncate").args(["-s", "16M"]).arg(&img));
        // Unique: parallel tests must not find each other's filesystems by label.
        let label = common::unique();
        sh(Command::new(mkfs)
            .args(["-q", "-F", "-L", &label])
            .arg(&img));
        let dev = sh(Command::new("losetup").args(["-f", "--show"]).arg(&img))
            .trim()
            .to_string();
        assert!(dev.starts_with("/dev/loop"), "losetup said {dev}");
        Self { dir, dev, label }
    }

    fn mountpoint(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn mp(&self) -> String {
        self.mountpoint().to_string_lossy().into_owned()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(FS);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::of(&mut cmd)
    }

    /// The /proc/mounts line for the mount point, if mounted.
    fn mounted(&self) -> Option<String> {
        let mp = self.mp();
        std::fs::read_to_string("/proc/mounts")
            .expect("mounts")
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(mp.as_str()))
            .map(str::to_string)
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        // Deepest first; lazily, so a test that failed mid-way still cleans up.
        let prefix = self.dir.path().to_string_lossy().into_owned();
        let mut mounted: Vec<String> = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(1).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounted.sort_by(|a, b| b.cmp(a));
        for m in mounted {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("losetup")
            .args(["-d", &self.dev])
            .stderr(Stdio::null())
            .status();
    }
}

/// A process whose cwd is inside `dir`; killed on Drop if still there.
struct Squatter(Child);

impl Squatter {
    fn new(dir: &Path) -> Self {
        let child = Command::new("sleep")
            .arg("300")
            .current_dir(dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        wait_for("squatter's cwd", Duration::from_secs(5), || {
            std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|p| p == dir)
                .then_some(())
        });
        Self(child)
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ext4_start_status_stop() {
    if !prereqs("ext4_start_status_stop", NEEDS) {
        return;
    }
    let fs = LoopFs::new("mkfs.ext4");
    let mp = fs.mp();
    let args = |action| {
        [
            fs.dev.as_str(),
            mp.as_str(),
            "ext4",
            "noatime,errors=remount-ro",
            action,
        ]
    };

    fs.run(&args("status")).expect(3, STOPPED);
    fs.run(&args("monitor")).expect(7, STOPPED);
    assert!(!fs.mountpoint().exists());

    let r = fs.run(&args("start"));
    r.expect(0, SUCCESS);
    assert!(
        !r.stderr.contains("filesystem check"),
        "ext4 is not fscked: {}",
        r.stderr
    );
    let line = fs.mounted().expect("mounted");
    assert!(
        line.starts_with(&format!("{} {mp} ext4 ", fs.dev)),
        "{line}"
    );
    let opts = line.split(' ').nth(3).unwrap_or_default();
    assert!(opts.split(',').any(|o| o == "noatime"), "{line}");
    assert!(opts.contains("errors=remount-ro"), "{line}");

    let st = fs.run(&args("status"));
    st.expect(0, RUNNING);
    assert!(hb_resources::says_running(&st.stdout));
    fs.run(&args("start")).expect(0, SUCCESS);
    assert_eq!(
        std::fs::read_to_string("/proc/mounts")
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(1) == Some(mp.as_str()))
            .count(),
        1,
        "second start must not mount again"
    );
    std::fs::write(fs.mountpoint().join("data"), "kept").unwrap();

    fs.run(&args("stop")).expect(0, SUCCESS);
    assert_eq!(fs.mounted(), None);
    assert!(
        !fs.mountpoint().join("data").exists(),
        "file was on the filesystem"
    );
    fs.run(&args("status")).expect(3, STOPPED);
    fs.run(&args("stop")).expect(0, SUCCESS);

    // Trailing slash and the 3-argument form name the same mount.
    fs.run(&[&fs.dev, &format!("{mp}/"), "ext4", "start"])
        .expect(0, SUCCESS);
    assert_eq!(
        std::fs::read_to_string(fs.mountpoint().join("data")).unwrap(),
        "kept"
    );
    fs.run(&[&fs.dev, &mp, "ext4", "stop"]).expect(0, SUCCESS);
    assert_eq!(fs.mounted(), None);
}

#[test]
fn busy_mount_is_freed_by_killing_its_users() {
    if !prereqs("busy_mount_is_freed_by_killing_its_users", NEEDS) {
        return;
    }
    let fs = LoopFs::new("mkfs.ext4");
    let mp = fs.mp();
    fs.run(&[&fs.dev, &mp, "ext4", "start"]).expect(0, SUCCESS);
    let mut squatter = Squatter::new(&fs.mountpoint());

    let r = fs.run(&[&fs.dev, &mp, "ext4", "stop"]);
    r.expect(0, SUCCESS);
    assert_eq!(fs.mounted(), None);
    let status = squatter.0.wait().expect("wait");
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "TERM came first: {}",
        r.stderr
    );

    // With killing disabled the stop fails and leaves the mount and the user alone.
    fs.run(&[&fs.dev, &mp, "ext4", "start"]).expect(0, SUCCESS);
    let mut squatter = Squatter::new(&fs.mountpoint());
    let r = fs.run_env(
        &[&fs.dev, &mp, "ext4", "stop"],
        &[("OCF_RESKEY_force_unmount", "false")],
    );
    r.expect(1, "ERROR:  Generic error");
    assert!(r.stderr.contains("giving up"), "{}", r.stderr);
    assert!(fs.mounted().is_some());
    assert_eq!(squatter.0.try_wait().expect("try_wait"), None, "not killed");
    drop(squatter);
    fs.run(&[&fs.dev, &mp, "ext4", "stop"]).expect(0, SUCCESS);
}

#[test]
fn label_uuid_autodetect_and_fsck_policy() {
    if !prereqs("label_uuid_autodetect_and_fsck_policy", NEEDS) {
        return;
    }
    let fs = LoopFs::new("mkfs.ext2");
    let mp = fs.mp();

    // ext2 has no journal: fsck -p runs first (its own report lands on stderr).
    let by_label = format!("-L{}", fs.label);
    let r = fs.run(&[&by_label, &mp, "ext2", "start"]);
    r.expect(0, SUCCESS);
    assert!(
        r.stderr.contains("Starting filesystem check"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("{}: clean", fs.label)),
        "{}",
        r.stderr
    );
    assert!(fs.mounted().expect("mounted").starts_with(&fs.dev));
    fs.run(&[&by_label, &mp, "ext2", "stop"]).expect(0, SUCCESS);

    let uuid = sh(Command::new("blkid").args(["-o", "value", "-s", "UUID", &fs.dev]));
    let by_uuid = format!("UUID={}", uuid.trim());
    let r = fs.run_env(&[&by_uuid, &mp, "start"], &[("OCF_RESKEY_run_fsck", "no")]);
    r.expect(0, SUCCESS);
    assert!(!r.stderr.contains("filesystem check"), "{}", r.stderr);
    let line = fs.mounted().expect("mounted");
    assert!(line.contains(" ext2 "), "type detected: {line}");
    fs.run(&[&by_uuid, &mp, "stop"]).expect(0, SUCCESS);
    assert_eq!(fs.mounted(), None);
}

#[test]
fn refusals() {
    if !prereqs("refusals", NEEDS) {
        return;
    }
    let fs = LoopFs::new("mkfs.ext4");
    let mp = fs.mp();

    let r = fs.run(&["/dev/hba-no-such-disk", &mp, "ext4", "start"]);
    r.expect(5, "ERROR:  Program is not installed");
    assert!(r.stderr.contains("Couldn't find device"), "{}", r.stderr);
    let r = fs.run(&["-Lhba-no-such-label", &mp, "ext4", "start"]);
    r.expect(5, "ERROR:  Program is not installed");

    // Something already mounted below the mount point.
    let sub = fs.mountpoint().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("tmpfs");
    let r = fs.run(&[&fs.dev, &mp, "ext4", "start"]);
    r.expect(6, "ERROR:  Program is not configured");
    assert!(r.stderr.contains("mounted under"), "{}", r.stderr);
    assert_eq!(fs.mounted(), None);
    // (The fixture unmounts the tmpfs.)
}
