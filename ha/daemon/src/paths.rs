//! Every path heartbeat 3.0.6 hard-codes. Production uses [`DaemonPaths::default`];
//! the end-to-end tests keep these paths and give each node its own mount
//! namespace instead, but a test may point them anywhere.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct DaemonPaths {
    /// `/etc/ha.d/{ha.cf,authkeys,haresources,nodeinfo}`.
    pub config: hb_config::Paths,
    /// `/run/heartbeat.pid`.
    pub pid_file: PathBuf,
    /// `/run/heartbeat`, where the API socket lives.
    pub run_dir: PathBuf,
    /// Our control socket. heartbeat's own API socket is `register` in the
    /// same directory; ours has a different name so the two never clash.
    pub control_socket: PathBuf,
    /// `/var/lib/heartbeat`.
    pub state_dir: PathBuf,
    pub hb_uuid: PathBuf,
    pub hb_generation: PathBuf,
    pub fifo: PathBuf,
    /// `/proc/loadavg`, sent as `ld` in every packet.
    pub loadavg: PathBuf,
    /// Where resource scripts are looked up, in order
    /// (`/etc/ha.d/resource.d`, `/etc/init.d`).
    pub resource_dirs: Vec<PathBuf>,
}

impl Default for DaemonPaths {
    fn default() -> Self {
        Self::with_roots(
            Path::new("/etc/ha.d"),
            Path::new("/run"),
            Path::new("/var/lib/heartbeat"),
        )
    }
}

impl DaemonPaths {
    /// Paths with the three roots moved (config dir, `/run`, state dir).
    pub fn with_roots(config_dir: &Path, run: &Path, state_dir: &Path) -> Self {
        let run_dir = run.join("heartbeat");
        Self {
            config: hb_config::Paths::under(config_dir),
            pid_file: run.join("heartbeat.pid"),
            control_socket: run_dir.join("rust-api.sock"),
            run_dir,
            state_dir: state_dir.to_path_buf(),
            hb_uuid: state_dir.join("hb_uuid"),
            hb_generation: state_dir.join("hb_generation"),
            fifo: state_dir.join("fifo"),
            loadavg: PathBuf::from("/proc/loadavg"),
            resource_dirs: vec![config_dir.join("resource.d"), PathBuf::from("/etc/init.d")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_heartbeats_hard_coded_paths() {
        let p = DaemonPaths::default();
        assert_eq!(p.config.ha_cf, Path::new("/etc/ha.d/ha.cf"));
        assert_eq!(p.config.authkeys, Path::new("/etc/ha.d/authkeys"));
        assert_eq!(p.pid_file, Path::new("/run/heartbeat.pid"));
        assert_eq!(p.hb_uuid, Path::new("/var/lib/heartbeat/hb_uuid"));
        assert_eq!(
            p.hb_generation,
            Path::new("/var/lib/heartbeat/hb_generation")
        );
        assert_eq!(p.fifo, Path::new("/var/lib/heartbeat/fifo"));
        assert_eq!(p.control_socket, Path::new("/run/heartbeat/rust-api.sock"));
        assert_ne!(p.control_socket, Path::new("/run/heartbeat/register"));
        assert_eq!(
            p.resource_dirs,
            [Path::new("/etc/ha.d/resource.d"), Path::new("/etc/init.d")]
        );
    }
}
