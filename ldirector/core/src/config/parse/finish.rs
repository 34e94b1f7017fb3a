//! From raw blocks to [`VirtualService`]s: name resolution, defaults and
//! the globals a virtual inherits (`ld_setup`).

use super::*;

impl Parser<'_> {
    pub(super) fn resolve_global_fallback(
        &mut self,
        f: &RawFallback,
        ipv6: bool,
    ) -> Option<GlobalFallback> {
        let addr = self.fallback_host(f, ipv6)?;
        let tcp_port = self.fallback_port(f, Some("tcp"))?;
        let udp_port = self.fallback_port(f, Some("udp"))?;
        Some(GlobalFallback {
            line: f.line,
            addr,
            tcp_port,
            udp_port,
            forward: f.forward,
        })
    }

    pub(super) fn fallback_host(&mut self, f: &RawFallback, ipv6: bool) -> Option<IpAddr> {
        let host = strip_brackets(&f.server);
        let r = self.opts.resolver.host(host, ipv6);
        if r.is_none() {
            self.err(
                f.line,
                format!(
                    "invalid {} address or could not resolve for fallback server: {}",
                    if ipv6 { "IPv6" } else { "IPv4" },
                    f.server
                ),
            );
        }
        r
    }

    /// `Some(None)` = no port given; `None` = error reported.
    pub(super) fn fallback_port(
        &mut self,
        f: &RawFallback,
        proto: Option<&str>,
    ) -> Option<Option<u16>> {
        let Some(p) = &f.port else {
            return Some(None);
        };
        match self.port(p, proto) {
            Some(n) => Some(Some(n)),
            None => {
                self.err(f.line, "invalid port for fallback server");
                None
            }
        }
    }

    /// `ld_getservbyname`: a number 0..65535 or a service name.
    pub(super) fn port(&self, text: &str, proto: Option<&str>) -> Option<u16> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse::<u16>().ok();
        }
        self.opts.resolver.service(text, proto)
    }

    pub(super) fn finish(&mut self) -> Vec<VirtualService> {
        let raws = std::mem::take(&mut self.virtuals);
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for rv in raws {
            if let Some(v) = self.finish_virtual(rv) {
                if !seen.insert(v.addr.id_str()) {
                    self.err(v.line, "duplicate virtual server");
                    continue;
                }
                out.push(v);
            }
        }
        out
    }

    pub(super) fn finish_virtual(&mut self, rv: RawVirtual) -> Option<VirtualService> {
        let g = self.global.clone();
        let proto_name = match rv.protocol {
            RawProto::Tcp => Some("tcp"),
            RawProto::Udp => Some("udp"),
            RawProto::Fwm => Some("fwm"),
        };
        // Per-virtual fallback: resolved with the virtual's protocol; no port
        // means the virtual's port.
        let own_fallback = match &rv.fallback {
            Some(f) => {
                let addr = self.fallback_host(f, rv.ipv6);
                let port = self.fallback_port(f, proto_name);
                match (addr, port) {
                    (Some(a), Some(p)) => Some((a, p, f.forward)),
                    _ => None,
                }
            }
            None => None,
        };
        let addr = match &rv.addr {
            RawAddr::Invalid => None,
            RawAddr::Fwmark(m) => Some(VirtualAddr::Fwmark {
                mark: *m,
                ipv6: rv.ipv6,
            }),
            RawAddr::HostPort { host, port } => {
                let protocol = if rv.protocol == RawProto::Udp {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                let ip = self.opts.resolver.host(host, rv.ipv6);
                let port = self.port(port, Some(protocol.name()));
                match (ip, port) {
                    (Some(ip), Some(port)) => Some(VirtualAddr::Inet {
                        protocol,
                        addr: SocketAddr::new(ip, port),
                    }),
                    _ => {
                        self.err(rv.line, "invalid address for virtual service");
                        None
                    }
                }
            }
        };
        if let Err(e) = regex::Regex::new(&rv.receive) {
            self.err(
                rv.receive_line,
                format!("receive is not a supported regular expression: {e}"),
            );
        }
        let vid = addr.map(|a| a.id_str());
        let mut reals: Vec<RealServer> = Vec::new();
        for (text, line) in &rv.reals {
            for r in self.parse_real(text, *line, rv.ipv6) {
                if let Some(q) = &r.receive {
                    if let Err(e) = regex::Regex::new(q) {
                        self.err(
                            r.line,
                            format!("receive is not a supported regular expression: {e}"),
                        );
                    }
                }
                reals.push(r);
            }
        }
        let addr = addr?;
        let vport = addr.port();
        let fallback = match own_fallback {
            Some((a, p, forward)) => Some(Fallback {
                addr: a,
                port: p.unwrap_or(vport),
                forward,
            }),
            None => {
                let gf = if rv.ipv6 { &g.fallback6 } else { &g.fallback };
                match (gf, addr) {
                    (Some(gf), VirtualAddr::Inet { protocol, .. }) => {
                        let p = match protocol {
                            Protocol::Tcp => gf.tcp_port,
                            Protocol::Udp => gf.udp_port,
                        };
                        Some(Fallback {
                            addr: gf.addr,
                            port: p.unwrap_or(vport),
                            forward: gf.forward,
                        })
                    }
                    // ldirectord's global fallback has no "fwm" entry.
                    _ => None,
                }
            }
        };
        let ct = rv.checktimeout.map(Duration::from_secs);
        let nt = rv.negotiatetimeout.map(Duration::from_secs);
        let checktimeout = ct
            .or(nt)
            .or(g.checktimeout)
            .or(g.negotiatetimeout)
            .unwrap_or(Duration::from_secs(5));
        let negotiatetimeout = nt
            .or(ct)
            .or(g.negotiatetimeout)
            .or(g.checktimeout)
            .unwrap_or(Duration::from_secs(30));
        let checkinterval = match rv.checkinterval {
            Some(n) if g.fork => Duration::from_secs(n),
            Some(_) => {
                self.warn(
                    None,
                    format!(
                        "checkinterval in virtual service {} ignored when fork=no",
                        vid.clone().unwrap_or_default()
                    ),
                );
                g.checkinterval
            }
            None => g.checkinterval,
        };
        let service = rv
            .service
            .unwrap_or_else(|| Service::from_port(addr.port()));
        let v = VirtualService {
            line: rv.line,
            addr,
            reals: Vec::new(),
            scheduler: rv.scheduler,
            persistent: rv.persistent,
            netmask: rv.netmask,
            schedflags: rv.schedflags,
            ops: rv.ops,
            service,
            checktype: rv.checktype,
            checkcommand: rv.checkcommand,
            checkport: rv.checkport,
            request: rv.request,
            receive: rv.receive,
            httpmethod: rv.httpmethod,
            virtualhost: rv.virtualhost,
            login: rv.login,
            passwd: rv.passwd,
            database: rv.database,
            secret: rv.secret,
            load: rv.load,
            checktimeout,
            negotiatetimeout,
            checkcount: rv.checkcount.unwrap_or(g.checkcount),
            failurecount: rv.failurecount.unwrap_or(g.failurecount),
            risecount: rv.risecount.unwrap_or(g.risecount),
            checkinterval,
            quiescent: rv.quiescent.unwrap_or(g.quiescent),
            cleanstop: rv.cleanstop.unwrap_or(g.cleanstop),
            fallback,
            fallbackcommand: rv.fallbackcommand.or(g.fallbackcommand.clone()),
            emailalert: rv.emailalert.or(g.emailalert.clone()),
            emailalertfreq: rv
                .emailalertfreq
                .map(Duration::from_secs)
                .unwrap_or(g.emailalertfreq),
            emailalertstatus: rv.emailalertstatus.unwrap_or(g.emailalertstatus),
            smtp: rv.smtp.or(g.smtp.clone()),
            monitorfile: rv.monitorfile,
            servicename: rv.servicename,
            comment: rv.comment,
        };
        // Two entries IPVS would store as one destination: keep the first.
        let mut dests = HashSet::new();
        let mut kept = Vec::new();
        for r in reals {
            let d = v.dest_addr(&r);
            if dests.insert(d) {
                kept.push(r);
            } else {
                self.warn(
                    Some(r.line),
                    format!(
                        "real server {}:{} is already in virtual service {} as {}; ignored",
                        fmt_ip(r.addr),
                        r.port,
                        v.addr,
                        d
                    ),
                );
            }
        }
        Some(VirtualService { reals: kept, ..v })
    }
}
