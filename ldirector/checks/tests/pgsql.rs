//! pgsql against a private PostgreSQL instance (own directory, own port on
//! 127.0.0.1, TLS on): SCRAM and MD5 logins, rows / no rows / errors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use ld_checks::Checker;
use ldirector::config::Service;
use ldirector::director::AttemptKind;

fn pg_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Runs as the `postgres` user when we are root (initdb refuses root).
fn as_pg(cmd: &mut Command) -> &mut Command {
    if is_root() {
        if let Some((uid, gid)) = postgres_ids() {
            cmd.uid(uid).gid(gid);
        }
    }
    cmd
}

fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

struct Postgres {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Fast shutdown, then KILL if it lingers.
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let done = wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn start_postgres() -> Option<Postgres> {
    let bin = pg_bindir();
    if !require(
        bin.is_some(),
        "PostgreSQL server not installed (apt-get install postgresql-15)",
    ) {
        return None;
    }
    let bin = bin?;
    if is_root()
        && !require(
            postgres_ids().is_some(),
            "no postgres user to run the server as",
        )
    {
        return None;
    }
    let dir = TempDir::new();
    let d = dir.path().to_path_buf();
    let data = d.join("data");
    std::fs::write(d.join("pw"), "pgpass\n").unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["db.example".to_string()]).unwrap();
    std::fs::write(d.join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("server.key"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if let (true, Some((uid, gid))) = (is_root(), postgres_ids()) {
        for p in [
            d.clone(),
            d.join("pw"),
            d.join("server.crt"),
            d.join("server.key"),
        ] {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
    }
    let out = as_pg(Command::new(bin.join("initdb")).args([
        "-D",
        data.to_str().unwrap(),
        "-U",
        "ldc",
        "--auth=md5",
        "--pwfile",
        d.join("pw").to_str().unwrap(),
        "--no-sync",
        "-E",
        "UTF8",
    ]))
    .stdin(Stdio::null())
    .output()
    .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = closed_port().port();
    let child = as_pg(Command::new(bin.join("postgres")).args([
        "-D",
        data.to_str().unwrap(),
        "-p",
        &port.to_string(),
        "-k",
        d.to_str().unwrap(),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "ssl=on",
        "-c",
        &format!("ssl_cert_file={}", d.join("server.crt").display()),
        "-c",
        &format!("ssl_key_file={}", d.join("server.key").display()),
    ]))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::from(std::fs::File::create(d.join("log")).unwrap()))
    .spawn()
    .expect("spawn postgres");
    let mut pg = Postgres {
        child,
        port,
        _dir: dir,
    };
    let ready = wait_until(Duration::from_secs(30), || {
        Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ready {
        let log = std::fs::read_to_string(d.join("log")).unwrap_or_default();
        let _ = pg.child.kill();
        panic!("postgres did not start: {log}");
    }
    // A second role whose password is stored as MD5: the server then asks
    // for an MD5 answer instead of SCRAM.
    let out = Command::new(bin.join("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "ldc",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args([
            "-c",
            "SET password_encryption = 'md5'",
            "-c",
            "CREATE ROLE m LOGIN PASSWORD 'mpw'",
        ])
        .env("PGPASSWORD", "pgpass")
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(pg)
}

#[tokio::test]
async fn pgsql_against_a_private_postgres() {
    let Some(pg) = tokio::task::spawn_blocking(start_postgres).await.unwrap() else {
        return;
    };
    let at = format!("127.0.0.1:{}", pg.port).parse().unwrap();
    let c = Checker::new().unwrap();
    let check = |login: &str, pw: &str, q: &str| {
        let mut n = negotiate(Service::Pgsql, q, "");
        n.login = login.into();
        n.passwd = pw.into();
        n.database = "postgres".into();
        neg_spec(n, at)
    };
    // SCRAM-SHA-256 over TLS (the query only has a row on a TLS connection).
    let tls_only = "/SELECT 1 FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl";
    let r = c
        .run(&check("ldc", "pgpass", tls_only), AttemptKind::Full)
        .await;
    assert!(r.up, "{}", r.detail);
    let r = c
        .run(&check("m", "mpw", "/SELECT 1"), AttemptKind::Full)
        .await;
    assert!(r.up, "md5: {}", r.detail);
    let r = c
        .run(&check("ldc", "wrong", "/SELECT 1"), AttemptKind::Full)
        .await;
    assert!(!r.up && r.detail.contains("28P01"), "{}", r.detail);
    let r = c
        .run(
            &check("ldc", "pgpass", "/SELECT 1 WHERE false"),
            AttemptKind::Full,
        )
        .await;
    assert!(!r.up && r.detail.contains("no rows"), "{}", r.detail);
    let r = c
        .run(&check("ldc", "pgpass", "/SELEC 1"), AttemptKind::Full)
        .await;
    assert!(!r.up && r.detail.contains("42601"), "{}", r.detail);
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}
