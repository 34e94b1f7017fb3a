//! smtp against a private exim4 daemon (own config, spool and port).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use ld_checks::Checker;
use ldirector::config::Service;
use ldirector::director::AttemptKind;

struct Exim {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Drop for Exim {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        if !wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_exim() -> Option<Exim> {
    let bin = ["/usr/sbin/exim4", "/usr/sbin/exim"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if !require(
        bin.is_some(),
        "exim4 not installed (apt-get install exim4-daemon-light)",
    ) {
        return None;
    }
    let dir = TempDir::new();
    let d = dir.path();
    // With an untrusted -C file exim runs as its own user: let it write.
    for sub in ["spool", "log"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        std::fs::set_permissions(d.join(sub), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = closed_port().port();
    let conf = format!(
        "primary_hostname = ldc.test\nspool_directory = {d}/spool\nlog_file_path = {d}/log/%slog\n\
         pid_file_path = {d}/exim.pid\nlocal_interfaces = 127.0.0.1\ndaemon_smtp_ports = {port}\n\
         tls_advertise_hosts =\n",
        d = d.display()
    );
    std::fs::write(d.join("exim.conf"), conf).unwrap();
    let child = Command::new(bin?)
        .arg("-C")
        .arg(d.join("exim.conf"))
        .args(["-bdf", "-oX", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn exim");
    let mut e = Exim { child, port, dir };
    if !wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }) {
        let log = std::fs::read_to_string(e.dir.path().join("log/mainlog")).unwrap_or_default();
        let _ = e.child.kill();
        panic!("exim did not start: {log}");
    }
    Some(e)
}

#[tokio::test]
async fn smtp_against_a_private_exim() {
    let Some(exim) = tokio::task::spawn_blocking(start_exim).await.unwrap() else {
        return;
    };
    let c = Checker::new().unwrap();
    let at = format!("127.0.0.1:{}", exim.port).parse().unwrap();
    for svc in [Service::Smtp, Service::Submission] {
        let r = c
            .run(&neg_spec(negotiate(svc, "/", ""), at), AttemptKind::Full)
            .await;
        assert!(r.up, "{svc:?}: {}", r.detail);
    }
    // The session was a proper one: exim logged no protocol complaint.
    let log_path = exim.dir.path().join("log/mainlog");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!log.contains("unexpected disconnection"), "{log}");
    tokio::task::spawn_blocking(move || drop(exim))
        .await
        .unwrap();
    let r = c
        .run(
            &neg_spec(negotiate(Service::Smtp, "/", ""), at),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up);
}
