//! The configuration files the demo runs with: read from `examples/demo/`
//! (real files a user can copy), with the timing swapped for `--slow`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ha_tests::conf::hb_duration;
use ha_tests::Timing;

/// Where the example configuration lives in the source tree.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("examples")
        .join("demo")
}

#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub dir: PathBuf,
    pub ha_cf: String,
    pub authkeys: String,
    pub haresources: String,
    pub timing: Timing,
    pub nodes: Vec<String>,
    pub auto_failback: bool,
    /// The node that owns the resource group in `haresources`.
    pub home: String,
    pub vip: Ipv4Addr,
    /// `ldirectord.cf`, when `haresources` runs ldirectord.
    pub lvs: Option<LvsConfig>,
    /// The real servers' nginx server block (`nginx-realserver.conf`).
    pub nginx_site: Option<String>,
}

/// What the demo needs to know of `ldirectord.cf`.
#[derive(Clone, Debug)]
pub struct LvsConfig {
    pub text: String,
    /// The virtual service's port (the VIP is the heartbeat resource's).
    pub port: u16,
    /// Real servers, in file order (all on the demo LAN).
    pub reals: Vec<Ipv4Addr>,
    pub fallback: Option<std::net::SocketAddr>,
    pub checkinterval: Duration,
    pub quiescent: bool,
    /// The negotiate check's URL path and expected answer.
    pub request: String,
    pub receive: String,
}

/// The first word of `haresources` that starts ldirectord, and its config
/// file argument (`ldirectord::ldirectord.cf` → `ldirectord.cf`).
fn ldirectord_resource(haresources: &str) -> Option<String> {
    haresources
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .find_map(|w| match w.split_once("::") {
            Some(("ldirectord", cf)) => Some(cf.split("::").next().unwrap_or(cf).to_owned()),
            None if w == "ldirectord" => Some("ldirectord.cf".to_owned()),
            _ => None,
        })
}

/// `haresources` without its ldirectord resource (the VIP-only story, when
/// no working ldirectord binary is at hand).
pub fn without_ldirectord(haresources: &str) -> String {
    let mut out = String::new();
    for line in haresources.lines() {
        let (body, comment) = match line.find('#') {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let kept: Vec<&str> = body
            .split_whitespace()
            .filter(|w| *w != "ldirectord" && !w.starts_with("ldirectord::"))
            .collect();
        out.push_str(&kept.join(" "));
        if !kept.is_empty() && !comment.is_empty() {
            out.push(' ');
        }
        out.push_str(comment);
        out.push('\n');
    }
    out
}

fn parse_lvs(path: &Path, text: &str, vip: Ipv4Addr) -> Result<LvsConfig> {
    use ldirector::config::{parse, ParseOptions, StaticResolver, VirtualAddr};
    let resolver = StaticResolver::offline();
    let cfg = parse(
        path,
        text,
        &ParseOptions {
            resolver: &resolver,
            hostname: "demo",
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let v = cfg
        .virtuals
        .iter()
        .find(|v| matches!(v.addr, VirtualAddr::Inet { addr, .. } if addr.ip() == vip))
        .with_context(|| format!("{}: no virtual={vip}:PORT service", path.display()))?;
    let VirtualAddr::Inet { addr, .. } = v.addr else {
        bail!(
            "{}: the demo's virtual service is address:port",
            path.display()
        );
    };
    let mut reals = Vec::new();
    for r in &v.reals {
        match r.addr {
            std::net::IpAddr::V4(a) if a.octets()[..3] == [192, 0, 2] => reals.push(a),
            other => bail!(
                "{}:{}: real server {other} is not on the demo LAN 192.0.2.0/24",
                path.display(),
                r.line
            ),
        }
    }
    if reals.is_empty() {
        bail!("{}: the virtual service has no real server", path.display());
    }
    Ok(LvsConfig {
        text: text.to_owned(),
        port: addr.port(),
        reals,
        fallback: v
            .fallback
            .as_ref()
            .map(|f| std::net::SocketAddr::new(f.addr, f.port)),
        checkinterval: v.checkinterval,
        quiescent: v.quiescent,
        request: v.request.clone(),
        receive: v.receive.clone(),
    })
}

/// `200ms` or whole seconds, as ha.cf writes durations.
fn parse_duration(v: &str) -> Option<Duration> {
    if let Some(ms) = v.strip_suffix("ms") {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    v.parse().ok().map(Duration::from_secs)
}

fn directives(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let l = l.split('#').next().unwrap_or("").trim();
        let (k, v) = l.split_once(char::is_whitespace)?;
        Some((k, v.trim()))
    })
}

/// `text` with the four timing directives set to `t`.
pub fn with_timing(text: &str, t: &Timing) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let value = match key {
            "keepalive" => Some(t.keepalive),
            "deadtime" => Some(t.deadtime),
            "warntime" => Some(t.warntime),
            "initdead" => Some(t.initdead),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&format!("{key} {}", hb_duration(v))),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn timing_of(text: &str, file: &Path) -> Result<Timing> {
    let get = |key: &str| -> Result<Duration> {
        let v = directives(text)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .with_context(|| format!("{}: no `{key}` directive", file.display()))?;
        parse_duration(v).with_context(|| format!("{}: bad {key} {v:?}", file.display()))
    };
    Ok(Timing {
        keepalive: get("keepalive")?,
        deadtime: get("deadtime")?,
        warntime: get("warntime")?,
        initdead: get("initdead")?,
    })
}

/// Home node and VIP of the first resource group that has an address
/// (`node1 IPaddr2::192.0.2.50/24/eth0`, `node1 192.0.2.50`).
fn vip_of(text: &str, file: &Path) -> Result<(String, Ipv4Addr)> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(home) = words.next() else { continue };
        for r in words {
            let arg = r
                .split_once("::")
                .filter(|(agent, _)| agent.starts_with("IPaddr"))
                .map_or(r, |(_, a)| a);
            let addr = arg.split('/').next().unwrap_or("");
            if let Ok(ip) = addr.parse::<Ipv4Addr>() {
                return Ok((home.to_owned(), ip));
            }
        }
    }
    bail!(
        "{}: no resource group with an IP address (the demo shows a VIP moving)",
        file.display()
    )
}

fn read(dir: &Path, name: &str) -> Result<(PathBuf, String)> {
    let p = dir.join(name);
    let text = std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))?;
    Ok((p, text))
}

impl DemoConfig {
    pub fn load(dir: &Path, slow: bool) -> Result<Self> {
        let (hacf_path, mut ha_cf) = read(dir, "ha.cf")?;
        let (_, authkeys) = read(dir, "authkeys")?;
        let (hares_path, haresources) = read(dir, "haresources")?;
        if slow {
            ha_cf = with_timing(&ha_cf, &Timing::STANDARD);
        }
        let timing = timing_of(&ha_cf, &hacf_path)?;
        let nodes: Vec<String> = directives(&ha_cf)
            .filter(|(k, _)| *k == "node")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
            .collect();
        if nodes.len() != 2 {
            bail!(
                "{}: the demo needs exactly two `node`s, found {nodes:?}",
                hacf_path.display()
            );
        }
        let bcast: Vec<&str> = directives(&ha_cf)
            .filter(|(k, _)| *k == "bcast")
            .map(|(_, v)| v)
            .collect();
        if bcast != [ha_tests::netns::IFACE] {
            bail!(
                "{}: the demo's LAN is `bcast {}`, found {bcast:?}",
                hacf_path.display(),
                ha_tests::netns::IFACE
            );
        }
        let auto_failback = directives(&ha_cf)
            .find(|(k, _)| *k == "auto_failback")
            .is_some_and(|(_, v)| v == "on");
        let (home, vip) = vip_of(&haresources, &hares_path)?;
        if !nodes.contains(&home) {
            bail!(
                "{}: resource home {home} is not a node of ha.cf",
                hares_path.display()
            );
        }
        let lvs = match ldirectord_resource(&haresources) {
            Some(cf) => {
                let (p, text) = read(dir, &cf)?;
                Some(parse_lvs(&p, &text, vip)?)
            }
            None => None,
        };
        let nginx_site = read(dir, "nginx-realserver.conf").ok().map(|(_, t)| t);
        Ok(Self {
            dir: dir.to_path_buf(),
            ha_cf,
            authkeys,
            haresources,
            timing,
            nodes,
            auto_failback,
            home,
            vip,
            lvs,
            nginx_site,
        })
    }

    /// The node that is not `name`.
    pub fn other(&self, name: &str) -> &str {
        self.nodes
            .iter()
            .find(|n| *n != name)
            .map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_example_loads() {
        let c = DemoConfig::load(&default_dir(), false).expect("examples/demo loads");
        assert_eq!(c.nodes, ["node1", "node2"]);
        assert_eq!(c.home, "node1");
        assert_eq!(c.vip, Ipv4Addr::new(192, 0, 2, 50));
        assert_eq!(c.timing.keepalive, Duration::from_millis(200));
        assert_eq!(c.timing.deadtime, Duration::from_secs(1));
        assert!(c.auto_failback);
        assert!(c.authkeys.contains("sha1"));
        assert_eq!(c.other("node1"), "node2");
        let lvs = c.lvs.expect("haresources runs ldirectord");
        assert_eq!(lvs.port, 80);
        assert_eq!(
            lvs.reals,
            [Ipv4Addr::new(192, 0, 2, 21), Ipv4Addr::new(192, 0, 2, 22)]
        );
        assert_eq!(lvs.fallback, Some("127.0.0.1:80".parse().expect("addr")));
        assert!(lvs.quiescent);
        assert_eq!(lvs.checkinterval, Duration::from_secs(1));
        assert_eq!(
            (lvs.request.as_str(), lvs.receive.as_str()),
            ("/alive", "alive")
        );
        assert!(c
            .nginx_site
            .is_some_and(|s| s.contains("location = /alive")));
    }

    #[test]
    fn ldirectord_resource_forms() {
        assert_eq!(
            ldirectord_resource("node1 IPaddr2::1.2.3.4/24/eth0 ldirectord::my.cf # x\n")
                .as_deref(),
            Some("my.cf")
        );
        assert_eq!(
            ldirectord_resource("node1 1.2.3.4 ldirectord\n").as_deref(),
            Some("ldirectord.cf")
        );
        assert_eq!(
            ldirectord_resource("# ldirectord::x\nnode1 1.2.3.4\n"),
            None
        );
        assert_eq!(
            without_ldirectord("# c\nnode1 IPaddr2::1.2.3.4/24/eth0 ldirectord::l.cf # t\n"),
            "# c\nnode1 IPaddr2::1.2.3.4/24/eth0 # t\n"
        );
    }

    #[test]
    fn slow_swaps_only_the_timing() {
        let c = DemoConfig::load(&default_dir(), true).expect("examples/demo loads");
        assert_eq!(c.timing, Timing::STANDARD);
        assert!(c.ha_cf.contains("\nkeepalive 1\n"));
        assert!(c.ha_cf.contains("\ndeadtime 3\n"));
        assert!(c.ha_cf.contains("\nbcast eth0\n"));
    }

    #[test]
    fn vip_forms() {
        let p = Path::new("x");
        assert_eq!(
            vip_of("# c\nnode2 IPaddr::10.0.0.1/8 httpd\n", p).ok(),
            Some(("node2".into(), Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            vip_of("node1 192.0.2.7\n", p).ok().map(|v| v.1),
            Some(Ipv4Addr::new(192, 0, 2, 7))
        );
        assert!(vip_of("node1 httpd\n", p).is_err());
        assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("x"), None);
    }
}
