//! The LVS-DR real servers: one namespace per server on the demo LAN,
//! made a real server by our `LVSRealServer` agent (VIP on `lo`,
//! `arp_ignore=1`/`arp_announce=2`), serving HTTP with Debian's nginx and
//! `examples/demo/nginx-realserver.conf` when nginx is installed, else with
//! the demo's own `serve-http` (same answers).
//!
//! Each server also answers on its own address: with kernel IPVS the
//! director routes frames for the VIP to it (DR), with ldirectord's
//! userspace forwarder the director proxies to that address instead.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ha_tests::cmd;
use ha_tests::netns::{Host, Lan, IFACE};

use crate::http;

pub const NGINX: &str = "/usr/sbin/nginx";

/// What serves HTTP on the real servers.
#[derive(Clone, Debug)]
pub enum Web {
    Nginx { site: String },
    Builtin { exe: PathBuf },
}

impl Web {
    /// nginx with the example's server block if both exist, else ours.
    pub fn choose(site: Option<&str>, exe: &Path) -> Self {
        match site {
            Some(s) if Path::new(NGINX).is_file() => Web::Nginx { site: s.to_owned() },
            _ => Web::Builtin {
                exe: exe.to_path_buf(),
            },
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Web::Nginx { .. } => "nginx (examples/demo/nginx-realserver.conf)",
            Web::Builtin { .. } => "hademo serve-http (nginx not installed)",
        }
    }
}

#[derive(Debug)]
pub struct RealServer {
    name: String,
    dir: PathBuf,
    http: Option<Child>,
    host: Host,
}

impl RealServer {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.host.ip
    }

    pub fn netns(&self) -> &str {
        self.host.ns.name()
    }
}

/// Field order is drop order: the servers (their processes) before `Lan`.
#[derive(Debug)]
pub struct RealServers {
    servers: Vec<RealServer>,
    web: Web,
    vip: Ipv4Addr,
    agent: PathBuf,
}

/// The main nginx config around the example's server block: every path
/// inside the server's own directory, in the foreground.
fn nginx_main(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20   client_body_temp_path {d}/tmp-body;\n\
         \x20   proxy_temp_path {d}/tmp-proxy;\n\
         \x20   fastcgi_temp_path {d}/tmp-fastcgi;\n\
         \x20   uwsgi_temp_path {d}/tmp-uwsgi;\n\
         \x20   scgi_temp_path {d}/tmp-scgi;\n\
         \x20   include {d}/site.conf;\n\
         }}\n"
    )
}

impl RealServers {
    /// One host per address (`rs1` = the first `real=`), plugged into `lan`;
    /// nothing runs yet.
    pub fn build(
        lan: &Lan,
        reals: &[Ipv4Addr],
        vip: Ipv4Addr,
        dir: &Path,
        web: Web,
        agent: PathBuf,
    ) -> Result<Self> {
        let mut servers = Vec::new();
        for (i, ip) in reals.iter().enumerate() {
            let name = format!("rs{}", i + 1);
            let host = lan.add_host(&format!("r{}", i + 1), ip.octets()[3])?;
            let sdir = dir.join(&name);
            std::fs::create_dir_all(&sdir)?;
            if let Web::Nginx { site } = &web {
                std::fs::write(sdir.join("site.conf"), site)?;
                std::fs::write(sdir.join("nginx.conf"), nginx_main(&sdir))?;
            }
            servers.push(RealServer {
                name,
                dir: sdir,
                http: None,
                host,
            });
        }
        Ok(Self {
            servers,
            web,
            vip,
            agent,
        })
    }

    pub fn servers(&self) -> &[RealServer] {
        &self.servers
    }

    pub fn names(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }

    pub fn web(&self) -> &Web {
        &self.web
    }

    fn get(&self, name: &str) -> Result<&RealServer> {
        self.servers
            .iter()
            .find(|s| s.name == name)
            .with_context(|| format!("no real server {name}"))
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut RealServer> {
        self.servers
            .iter_mut()
            .find(|s| s.name == name)
            .with_context(|| format!("no real server {name}"))
    }

    /// `LVSRealServer VIP eth0 <action>` inside the server's namespace
    /// (its state in the server's own directory).
    fn agent(&self, s: &RealServer, action: &str) -> Result<String> {
        let vip = self.vip.to_string();
        let mut c = s.host.ns.command("env");
        c.arg(format!("HA_RSCTMP={}", s.dir.join("rsctmp").display()))
            .arg(&self.agent)
            .args([vip.as_str(), IFACE, action]);
        std::fs::create_dir_all(s.dir.join("rsctmp"))?;
        cmd::check(&mut c, cmd::SHORT)
    }

    /// Make `name` an LVS-DR real server and check that it is one: the VIP
    /// on `lo`, ARP for it neither answered nor announced. Returns what the
    /// check saw (for the timeline).
    pub fn make_dr(&self, name: &str) -> Result<String> {
        let s = self.get(name)?;
        self.agent(s, "start")?;
        let lo = cmd::check(
            Command::new("ip").args(["-n", s.netns(), "-o", "-4", "addr", "show", "dev", "lo"]),
            cmd::SHORT,
        )?;
        let want = format!("inet {}/32", self.vip);
        if !lo.contains(&want) {
            bail!("{name}: LVSRealServer start left no {want} on lo: {lo}");
        }
        let mut seen = Vec::new();
        for (key, want) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let path = format!("/proc/sys/net/ipv4/conf/{IFACE}/{key}");
            let got = cmd::check(s.host.ns.command("cat").arg(&path), cmd::SHORT)?;
            if got.trim() != want {
                bail!("{name}: {path} is {} after LVSRealServer start", got.trim());
            }
            seen.push(format!("{key}={want}"));
        }
        Ok(format!(
            "VIP {}/32 on lo, {IFACE} {}",
            self.vip,
            seen.join(" ")
        ))
    }

    /// Start `name`'s web server (in its own UTS namespace with hostname
    /// `name`, so nginx's `$hostname` is the server's name) and wait until
    /// it answers on the server's own address, asked from `from`.
    pub fn start_http(&mut self, name: &str, from: &Host) -> Result<()> {
        let web = self.web.clone();
        let s = self.get_mut(name)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(s.dir.join("http.log"))?;
        let mut c = s.host.ns.command("unshare");
        c.args(["--uts", "--", "sh", "-c", "hostname \"$0\" && exec \"$@\""])
            .arg(&s.name);
        match &web {
            Web::Nginx { .. } => {
                let d = s.dir.display().to_string();
                c.args([NGINX, "-p", &d, "-c", &format!("{d}/nginx.conf")])
                    .args(["-e", &format!("{d}/nginx-error.log")])
                    .args(["-g", "daemon off;"]);
            }
            Web::Builtin { exe } => {
                c.arg(exe)
                    .args(["serve-http", "--port", &http::PORT.to_string()]);
            }
        }
        c.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        s.http = Some(
            c.spawn()
                .with_context(|| format!("start {name}'s web server"))?,
        );
        let addr = SocketAddrV4::new(s.ip(), http::PORT);
        http::wait_answering(
            from,
            addr,
            name,
            &format!("{name}'s web server"),
            Duration::from_secs(10),
        )
    }

    /// Stop `name`'s web server (SIGTERM: nginx's fast shutdown takes its
    /// workers along; SIGKILL would leave them listening).
    pub fn stop_http(&mut self, name: &str) -> Result<()> {
        let s = self.get_mut(name)?;
        if let Some(mut c) = s.http.take() {
            stop_child(&mut c);
        }
        Ok(())
    }
}

fn stop_child(c: &mut Child) {
    if let Ok(pid) = i32::try_from(c.id()) {
        // SAFETY: kill(2) on a child this process spawned and still owns.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let _ = cmd::wait_deadline(c, Duration::from_secs(5));
}

impl Drop for RealServers {
    fn drop(&mut self) {
        for s in &mut self.servers {
            if let Some(mut c) = s.http.take() {
                stop_child(&mut c);
            }
        }
    }
}
