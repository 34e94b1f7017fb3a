//! `real=` lines: address, range, port, forwarding, weight, per-real
//! request/receive and thresholds.

use super::*;

/// Largest `a->b` range we expand (ldirectord has no limit).
const MAX_RANGE: u32 = 65_536;

static RE_REAL: LazyLock<Regex> = LazyLock::new(|| {
    let host = r"([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|[A-Za-z0-9.\-]+|\[[0-9A-fa-f:]+\])";
    Regex::new(&format!(
        r"{host}(->{host})?(:([0-9]+|[A-Za-z0-9_\-]+))?{SP}+(.*)"
    ))
    .expect("static regex")
});

static RE_FLAGS_FWD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([A-Za-z0-9_]+)(.*)").expect("static regex"));

static RE_FLAGS_WEIGHT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+([0-9]+)(.*)")).expect("static regex"));

static RE_FLAGS_REQ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"{SP}+"(.*)"[, ]{SP}*"(.*)"(.*)"#)).expect("static regex")
});

static RE_FLAGS_LOWER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+l:([0-9]+)(.*)")).expect("static regex"));

static RE_FLAGS_UPPER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"{SP}+u:([0-9]+)(.*)")).expect("static regex"));

impl Parser<'_> {
    /// One `real=` value: `_ld_read_config_real_resolve` + `add_real_server`.
    pub(super) fn parse_real(&mut self, text: &str, line: usize, ipv6: bool) -> Vec<RealServer> {
        let Some(c) = RE_REAL.captures(text) else {
            self.err(line, "invalid address for real server (wrong format)");
            return Vec::new();
        };
        let ip1 = c.get(1).map_or("", |m| m.as_str());
        let ip2 = c.get(3).map(|m| m.as_str());
        let port_text = c.get(5).map_or("0", |m| m.as_str());
        let flags = c.get(6).map_or("", |m| m.as_str());
        let resolver = self.opts.resolver;
        let Some(first) = resolver.host(strip_brackets(ip1), ipv6) else {
            self.err(
                line,
                format!("invalid address ({ip1}) for real server (could not resolve host)"),
            );
            return Vec::new();
        };
        let Some(port) = self.port(port_text, None) else {
            self.err(
                line,
                format!("invalid port ({port_text}) for real server (could not resolve port)"),
            );
            return Vec::new();
        };
        let Some(proto) = self.real_flags(line, flags) else {
            return Vec::new();
        };
        let addrs: Vec<IpAddr> = match ip2 {
            None => vec![first],
            Some(ip2) => {
                let Some(last) = resolver.host(strip_brackets(ip2), ipv6) else {
                    self.err(
                        line,
                        format!(
                            "invalid address ({ip2}) for real server (could not resolve end host)"
                        ),
                    );
                    return Vec::new();
                };
                match (first, last) {
                    (IpAddr::V4(a), IpAddr::V4(b)) => {
                        let (a, b) = (u32::from(a), u32::from(b));
                        if a > b {
                            self.err(line, format!("Invalid Range: {first}-{last}: First value must be greater than or equal to the second value"));
                            return Vec::new();
                        }
                        if b - a >= MAX_RANGE {
                            self.err(
                                line,
                                format!(
                                    "Invalid Range: {first}-{last}: more than {MAX_RANGE} addresses"
                                ),
                            );
                            return Vec::new();
                        }
                        (a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect()
                    }
                    _ => {
                        self.err(line, "Address range for IPv6 is not supported yet");
                        return Vec::new();
                    }
                }
            }
        };
        addrs
            .into_iter()
            .map(|addr| RealServer {
                line,
                addr,
                port,
                ..proto.clone()
            })
            .collect()
    }

    /// `gate|masq|ipip [<weight>] ["<request>", "<receive>"] [l:N] [u:N]`,
    /// returned as a prototype real (address and port to be filled in).
    pub(super) fn real_flags(&mut self, line: usize, flags: &str) -> Option<RealServer> {
        let fwd_ok = RE_FLAGS_FWD
            .captures(flags)
            .and_then(|c| Some((Forwarding::from_name(c.get(1)?.as_str())?, c.get(2)?)));
        let Some((forward, rest)) = fwd_ok else {
            self.err(line, "forward method must be gate, masq or ipip");
            return None;
        };
        let mut rest = rest.as_str();
        let mut weight = 1u32;
        if let Some(c) = RE_FLAGS_WEIGHT.captures(rest) {
            let w = c.get(1).map_or("", |m| m.as_str());
            match w.parse::<u32>() {
                Ok(n) if n <= 65_535 => weight = n,
                _ => {
                    self.err(
                        line,
                        format!("invalid weight {w} for real server (0..65535)"),
                    );
                    return None;
                }
            }
            rest = c.get(2).map_or("", |m| m.as_str());
        }
        let mut request = None;
        let mut receive = None;
        if let Some(c) = RE_FLAGS_REQ.captures(rest) {
            let q = c.get(1).map_or("", |m| m.as_str());
            request = Some(if q.starts_with('/') {
                q.to_string()
            } else {
                format!("/{q}")
            });
            receive = Some(c.get(2).map_or("", |m| m.as_str()).to_string());
            rest = c.get(3).map_or("", |m| m.as_str());
        }
        let mut lower = 0;
        let mut upper = 0;
        for (re, out) in [
            (&*RE_FLAGS_LOWER, &mut lower),
            (&*RE_FLAGS_UPPER, &mut upper),
        ] {
            if let Some(c) = re.captures(rest) {
                let n = c.get(1).map_or("", |m| m.as_str());
                match n.parse::<u32>() {
                    Ok(n) => *out = n,
                    Err(_) => {
                        self.err(line, format!("invalid threshold {n} for real server"));
                        return None;
                    }
                }
                rest = c.get(2).map_or("", |m| m.as_str());
            }
        }
        if rest.chars().any(|c| !is_space(c)) {
            self.err(line, format!("Invalid real server line, around \"{rest}\""));
            return None;
        }
        Some(RealServer {
            line,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            forward,
            weight,
            request,
            receive,
            lower_threshold: lower,
            upper_threshold: upper,
        })
    }
}
