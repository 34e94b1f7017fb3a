//! The IPVS generic netlink family (`include/uapi/linux/ip_vs.h`): message
//! type, attribute numbers, and the translation between our table model and
//! the kernel's attributes. Pure: no sockets here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ldirector::backend::listing::{
    sched_flag_bits, sched_flag_names, SchedFlagError, SCHED_FLAGS_MASK,
};
use ldirector::backend::{DestSnapshot, ServiceSnapshot, Stats};
use ldirector::config::{Forwarding, Netmask, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, IpvsCommand, ServiceKey, ServiceParams};
use netlink_packet_core::{
    DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, ParseableParametrized, NLA_F_NESTED,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

pub const FAMILY_NAME: &str = "IPVS";
pub(crate) const FAMILY_VERSION: u8 = 1;

pub const CMD_NEW_SERVICE: u8 = 1;
pub const CMD_SET_SERVICE: u8 = 2;
pub const CMD_DEL_SERVICE: u8 = 3;
pub const CMD_GET_SERVICE: u8 = 4;
pub const CMD_NEW_DEST: u8 = 5;
pub const CMD_SET_DEST: u8 = 6;
pub const CMD_DEL_DEST: u8 = 7;
pub const CMD_GET_DEST: u8 = 8;
pub const CMD_GET_INFO: u8 = 15;

pub(crate) const CMD_ATTR_SERVICE: u16 = 1;
pub(crate) const CMD_ATTR_DEST: u16 = 2;

pub(crate) const SVC_ATTR_AF: u16 = 1;
pub(crate) const SVC_ATTR_PROTOCOL: u16 = 2;
pub(crate) const SVC_ATTR_ADDR: u16 = 3;
pub(crate) const SVC_ATTR_PORT: u16 = 4;
pub(crate) const SVC_ATTR_FWMARK: u16 = 5;
pub(crate) const SVC_ATTR_SCHED_NAME: u16 = 6;
pub(crate) const SVC_ATTR_FLAGS: u16 = 7;
pub(crate) const SVC_ATTR_TIMEOUT: u16 = 8;
pub(crate) const SVC_ATTR_NETMASK: u16 = 9;
pub(crate) const SVC_ATTR_STATS: u16 = 10;
pub(crate) const SVC_ATTR_STATS64: u16 = 12;

pub(crate) const DEST_ATTR_ADDR: u16 = 1;
pub(crate) const DEST_ATTR_PORT: u16 = 2;
pub(crate) const DEST_ATTR_FWD_METHOD: u16 = 3;
pub(crate) const DEST_ATTR_WEIGHT: u16 = 4;
pub(crate) const DEST_ATTR_U_THRESH: u16 = 5;
pub(crate) const DEST_ATTR_L_THRESH: u16 = 6;
pub(crate) const DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub(crate) const DEST_ATTR_INACT_CONNS: u16 = 8;
pub(crate) const DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub(crate) const DEST_ATTR_STATS: u16 = 10;
pub(crate) const DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub(crate) const DEST_ATTR_STATS64: u16 = 12;

pub(crate) const INFO_ATTR_VERSION: u16 = 1;
pub(crate) const INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

pub(crate) const SVC_F_PERSISTENT: u32 = 0x0001;
pub(crate) const SVC_F_ONEPACKET: u32 = 0x0004;

pub(crate) const CONN_F_MASQ: u32 = 0;
pub(crate) const CONN_F_TUNNEL: u32 = 2;
pub(crate) const CONN_F_DROUTE: u32 = 3;
pub(crate) const CONN_F_FWD_MASK: u32 = 7;

pub(crate) const AF_INET: u16 = libc::AF_INET as u16;
pub(crate) const AF_INET6: u16 = libc::AF_INET6 as u16;
pub(crate) const IPPROTO_TCP: u16 = libc::IPPROTO_TCP as u16;
pub(crate) const IPPROTO_UDP: u16 = libc::IPPROTO_UDP as u16;

/// One attribute: its type (with `NLA_F_NESTED` when nested) and raw value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    kind: u16,
    value: Vec<u8>,
}

impl Attr {
    pub(crate) fn new(kind: u16, value: impl Into<Vec<u8>>) -> Attr {
        Attr {
            kind,
            value: value.into(),
        }
    }
    pub(crate) fn u16(kind: u16, v: u16) -> Attr {
        Attr::new(kind, v.to_ne_bytes())
    }
    pub(crate) fn u32(kind: u16, v: u32) -> Attr {
        Attr::new(kind, v.to_ne_bytes())
    }
    /// Ports travel in network byte order.
    pub(crate) fn be16(kind: u16, v: u16) -> Attr {
        Attr::new(kind, v.to_be_bytes())
    }
    pub(crate) fn nested(kind: u16, attrs: &[Attr]) -> Attr {
        let mut value = vec![0; attrs.buffer_len()];
        attrs.emit(&mut value);
        Attr::new(kind | NLA_F_NESTED, value)
    }
    /// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four.
    pub(crate) fn addr(kind: u16, ip: IpAddr) -> Attr {
        let mut v = [0u8; 16];
        match ip {
            IpAddr::V4(a) => v[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => v = a.octets(),
        }
        Attr::new(kind, v)
    }
}

impl Attr {
    #[cfg(test)]
    pub(crate) fn value(&self) -> &[u8] {
        &self.value
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        self.value.len()
    }
    fn kind(&self) -> u16 {
        self.kind
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.value);
    }
}

/// A message of the IPVS family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: u8,
    pub attrs: Vec<Attr>,
}

impl IpvsMessage {
    pub fn new(cmd: u8, attrs: Vec<Attr>) -> Self {
        IpvsMessage { cmd, attrs }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsMessage {
            cmd: header.cmd,
            attrs: parse_attrs(buf)?,
        })
    }
}

pub(crate) fn parse_attrs(buf: &[u8]) -> Result<Vec<Attr>, DecodeError> {
    NlasIterator::new(buf)
        .map(|nla| {
            let nla: NlaBuffer<&[u8]> = nla?;
            Ok(Attr::new(nla.kind(), nla.value()))
        })
        .collect()
}

fn find(attrs: &[Attr], kind: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .find(|a| a.kind & !NLA_F_NESTED == kind)
        .map(|a| a.value.as_slice())
}

fn need<'a>(attrs: &'a [Attr], kind: u16, what: &str) -> Result<&'a [u8], DecodeError> {
    find(attrs, kind).ok_or_else(|| DecodeError::from(format!("IPVS reply without {what}")))
}

fn get_u16(v: &[u8]) -> Result<u16, DecodeError> {
    v.get(..2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes)
        .ok_or_else(|| DecodeError::from("short u16 attribute"))
}

fn get_be16(v: &[u8]) -> Result<u16, DecodeError> {
    v.get(..2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes)
        .ok_or_else(|| DecodeError::from("short port attribute"))
}

fn get_u32(v: &[u8]) -> Result<u32, DecodeError> {
    v.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .ok_or_else(|| DecodeError::from("short u32 attribute"))
}

fn get_u64(v: &[u8]) -> Result<u64, DecodeError> {
    v.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .ok_or_else(|| DecodeError::from("short u64 attribute"))
}

fn get_addr(af: u16, v: &[u8]) -> Result<IpAddr, DecodeError> {
    match af {
        AF_INET => v
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        AF_INET6 => v
            .get(..16)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
    .ok_or_else(|| DecodeError::from(format!("bad address (family {af}, {} bytes)", v.len())))
}

/// Why a command cannot be put into a message.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    SchedFlag(#[from] SchedFlagError),
    #[error("netmask {0} does not fit a service of this address family")]
    Netmask(Netmask),
}

fn service_family(key: &ServiceKey) -> u16 {
    match key {
        VirtualAddr::Inet { addr, .. } if addr.is_ipv6() => AF_INET6,
        VirtualAddr::Fwmark { ipv6: true, .. } => AF_INET6,
        _ => AF_INET,
    }
}

/// The attributes that name a service (all a lookup needs).
fn service_id(key: &ServiceKey) -> Vec<Attr> {
    let mut v = vec![Attr::u16(SVC_ATTR_AF, service_family(key))];
    match key {
        VirtualAddr::Fwmark { mark, .. } => v.push(Attr::u32(SVC_ATTR_FWMARK, *mark)),
        VirtualAddr::Inet { protocol, addr } => {
            let proto = match protocol {
                Protocol::Tcp => IPPROTO_TCP,
                Protocol::Udp => IPPROTO_UDP,
            };
            v.push(Attr::u16(SVC_ATTR_PROTOCOL, proto));
            v.push(Attr::addr(SVC_ATTR_ADDR, addr.ip()));
            v.push(Attr::be16(SVC_ATTR_PORT, addr.port()));
        }
    }
    v
}

/// A whole service entry, as ipvsadm fills it for `-A`/`-E`.
fn service_full(key: &ServiceKey, p: &ServiceParams) -> Result<Vec<Attr>, EncodeError> {
    let mut flags = 0;
    if p.persistent.is_some() {
        flags |= SVC_F_PERSISTENT;
    }
    // ldirectord (and so ipvsadm) only asks for one-packet scheduling on
    // UDP services; the model keeps `ops` for the others too.
    let udp = matches!(
        key,
        VirtualAddr::Inet {
            protocol: Protocol::Udp,
            ..
        }
    );
    if p.ops && udp {
        flags |= SVC_F_ONEPACKET;
    }
    if let Some(f) = &p.schedflags {
        flags |= sched_flag_bits(p.scheduler, f)?;
    }
    let v6 = service_family(key) == AF_INET6;
    // The kernel keeps the IPv4 mask in network order and the IPv6 one as
    // a prefix length; the defaults mean "whole address".
    let netmask = match (p.netmask, v6) {
        (None, false) => u32::MAX.to_ne_bytes(),
        (None, true) => 128u32.to_ne_bytes(),
        (Some(Netmask::V4(m)), false) => m.octets(),
        (Some(Netmask::V6Prefix(len)), true) if (1..=128).contains(&len) => {
            u32::from(len).to_ne_bytes()
        }
        (Some(m), _) => return Err(EncodeError::Netmask(m)),
    };
    let mut sched = p.scheduler.name().as_bytes().to_vec();
    sched.push(0);
    let mut flag_bytes = flags.to_ne_bytes().to_vec();
    flag_bytes.extend_from_slice(&u32::MAX.to_ne_bytes());
    let mut v = service_id(key);
    v.extend([
        Attr::new(SVC_ATTR_SCHED_NAME, sched),
        Attr::new(SVC_ATTR_FLAGS, flag_bytes),
        Attr::u32(SVC_ATTR_TIMEOUT, p.persistent.unwrap_or(0)),
        Attr::new(SVC_ATTR_NETMASK, netmask),
    ]);
    Ok(v)
}

/// The port the kernel must store: ipvsadm gives direct-routing and tunnel
/// destinations of an address service the service's port.
fn dest_port(key: &ServiceKey, dest: &SocketAddr, forward: Option<Forwarding>) -> u16 {
    match (key, forward) {
        (VirtualAddr::Inet { addr, .. }, Some(Forwarding::Gate | Forwarding::Ipip)) => addr.port(),
        _ => dest.port(),
    }
}

fn dest_attrs(key: &ServiceKey, dest: &SocketAddr, p: Option<&DestParams>) -> Vec<Attr> {
    let family = if dest.is_ipv6() { AF_INET6 } else { AF_INET };
    let mut v = vec![
        Attr::addr(DEST_ATTR_ADDR, dest.ip()),
        Attr::be16(DEST_ATTR_PORT, dest_port(key, dest, p.map(|p| p.forward))),
        Attr::u16(DEST_ATTR_ADDR_FAMILY, family),
    ];
    if let Some(p) = p {
        let fwd = match p.forward {
            Forwarding::Masq => CONN_F_MASQ,
            Forwarding::Ipip => CONN_F_TUNNEL,
            Forwarding::Gate => CONN_F_DROUTE,
        };
        v.extend([
            Attr::u32(DEST_ATTR_FWD_METHOD, fwd),
            Attr::u32(DEST_ATTR_WEIGHT, p.weight),
            Attr::u32(DEST_ATTR_U_THRESH, p.upper_threshold),
            Attr::u32(DEST_ATTR_L_THRESH, p.lower_threshold),
        ]);
    }
    v
}

/// The request for one table change.
pub fn encode(cmd: &IpvsCommand) -> Result<IpvsMessage, EncodeError> {
    let svc = |attrs: Vec<Attr>| Attr::nested(CMD_ATTR_SERVICE, &attrs);
    let dst = |attrs: Vec<Attr>| Attr::nested(CMD_ATTR_DEST, &attrs);
    Ok(match cmd {
        IpvsCommand::AddService { key, params } => {
            IpvsMessage::new(CMD_NEW_SERVICE, vec![svc(service_full(key, params)?)])
        }
        IpvsCommand::EditService { key, params } => {
            IpvsMessage::new(CMD_SET_SERVICE, vec![svc(service_full(key, params)?)])
        }
        IpvsCommand::DeleteService { key } => {
            IpvsMessage::new(CMD_DEL_SERVICE, vec![svc(service_id(key))])
        }
        IpvsCommand::AddDest { key, dest, params } => IpvsMessage::new(
            CMD_NEW_DEST,
            vec![
                svc(service_id(key)),
                dst(dest_attrs(key, dest, Some(params))),
            ],
        ),
        IpvsCommand::EditDest { key, dest, params } => IpvsMessage::new(
            CMD_SET_DEST,
            vec![
                svc(service_id(key)),
                dst(dest_attrs(key, dest, Some(params))),
            ],
        ),
        // The kernel finds the destination by address and port only; the
        // forwarding method is unknown here, so the port is the one given
        // (ldirectord deletes with the port it added, which for gate/ipip
        // on an address service is already the service's).
        IpvsCommand::DelDest { key, dest } => IpvsMessage::new(
            CMD_DEL_DEST,
            vec![svc(service_id(key)), dst(dest_attrs(key, dest, None))],
        ),
    })
}

/// `GET_SERVICE` dump request (all services).
pub fn get_services() -> IpvsMessage {
    IpvsMessage::new(CMD_GET_SERVICE, vec![])
}

/// `GET_DEST` dump request for one service.
pub fn get_dests(key: &ServiceKey) -> IpvsMessage {
    IpvsMessage::new(
        CMD_GET_DEST,
        vec![Attr::nested(CMD_ATTR_SERVICE, &service_id(key))],
    )
}

pub fn get_info() -> IpvsMessage {
    IpvsMessage::new(CMD_GET_INFO, vec![])
}

/// `IPVS_INFO_ATTR_*` of a `GET_INFO` reply: (version, connection table size).
pub fn decode_info(msg: &IpvsMessage) -> Result<(u32, u32), DecodeError> {
    Ok((
        get_u32(need(&msg.attrs, INFO_ATTR_VERSION, "version")?)?,
        get_u32(need(&msg.attrs, INFO_ATTR_CONN_TAB_SIZE, "table size")?)?,
    ))
}

/// Prefer the 64-bit counters; older kernels only send the 32-bit set
/// (whose byte counters are 64-bit already).
fn decode_stats(attrs: &[Attr], stats32: u16, stats64: u16) -> Result<Stats, DecodeError> {
    let (raw, wide) = match (find(attrs, stats64), find(attrs, stats32)) {
        (Some(s), _) => (s, true),
        (None, Some(s)) => (s, false),
        (None, None) => return Ok(Stats::default()),
    };
    let inner = parse_attrs(raw)?;
    let field = |kind: u16, always_wide: bool| -> Result<u64, DecodeError> {
        match find(&inner, kind) {
            None => Ok(0),
            Some(v) if wide || always_wide => get_u64(v),
            Some(v) => get_u32(v).map(u64::from),
        }
    };
    Ok(Stats {
        conns: field(1, false)?,
        inpkts: field(2, false)?,
        outpkts: field(3, false)?,
        inbytes: field(4, true)?,
        outbytes: field(5, true)?,
        cps: field(6, false)?,
        inpps: field(7, false)?,
        outpps: field(8, false)?,
        inbps: field(9, false)?,
        outbps: field(10, false)?,
    })
}

fn nested_in(msg: &IpvsMessage, kind: u16, what: &str) -> Result<Vec<Attr>, DecodeError> {
    parse_attrs(need(&msg.attrs, kind, what)?)
}

/// What a `GET_SERVICE` dump entry says. The inner `Err` names what our
/// model cannot hold (SCTP, a scheduler we do not know); the caller logs
/// and skips such services.
pub fn decode_service(msg: &IpvsMessage) -> Result<Result<ServiceSnapshot, String>, DecodeError> {
    let a = nested_in(msg, CMD_ATTR_SERVICE, "service")?;
    let af = get_u16(need(&a, SVC_ATTR_AF, "address family")?)?;
    let key = if let Some(mark) = find(&a, SVC_ATTR_FWMARK) {
        VirtualAddr::Fwmark {
            mark: get_u32(mark)?,
            ipv6: af == AF_INET6,
        }
    } else {
        let protocol = match get_u16(need(&a, SVC_ATTR_PROTOCOL, "protocol")?)? {
            IPPROTO_TCP => Protocol::Tcp,
            IPPROTO_UDP => Protocol::Udp,
            other => return Ok(Err(format!("protocol {other}"))),
        };
        let ip = get_addr(af, need(&a, SVC_ATTR_ADDR, "address")?)?;
        let port = get_be16(need(&a, SVC_ATTR_PORT, "port")?)?;
        VirtualAddr::Inet {
            protocol,
            addr: SocketAddr::new(ip, port),
        }
    };
    let sched_raw = need(&a, SVC_ATTR_SCHED_NAME, "scheduler")?;
    let sched_name = String::from_utf8_lossy(sched_raw.split(|b| *b == 0).next().unwrap_or(&[]));
    let Some(scheduler) = Scheduler::from_name(&sched_name) else {
        return Ok(Err(format!("{key}: scheduler {sched_name}")));
    };
    let flags_raw = need(&a, SVC_ATTR_FLAGS, "flags")?;
    let flags = get_u32(flags_raw)?
        & flags_raw
            .get(4..)
            .map(get_u32)
            .transpose()?
            .unwrap_or(u32::MAX);
    let timeout = get_u32(need(&a, SVC_ATTR_TIMEOUT, "timeout")?)?;
    let netmask_raw = need(&a, SVC_ATTR_NETMASK, "netmask")?;
    let persistent = (flags & SVC_F_PERSISTENT != 0).then_some(timeout);
    let netmask = if persistent.is_none() {
        None
    } else if af == AF_INET6 {
        let len = get_u32(netmask_raw)?;
        (len != 128).then(|| Netmask::V6Prefix(u8::try_from(len).unwrap_or(128)))
    } else {
        let m: [u8; 4] = netmask_raw
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| DecodeError::from("short netmask"))?;
        (m != [255; 4]).then(|| Netmask::V4(Ipv4Addr::from(m)))
    };
    Ok(Ok(ServiceSnapshot {
        key,
        params: ServiceParams {
            scheduler,
            persistent,
            netmask,
            schedflags: sched_flag_names(scheduler, flags & SCHED_FLAGS_MASK),
            ops: flags & SVC_F_ONEPACKET != 0,
        },
        stats: decode_stats(&a, SVC_ATTR_STATS, SVC_ATTR_STATS64)?,
        dests: Vec::new(),
    }))
}

/// A `GET_DEST` dump entry of the service `key`.
pub fn decode_dest(msg: &IpvsMessage, key: &ServiceKey) -> Result<DestSnapshot, DecodeError> {
    let a = nested_in(msg, CMD_ATTR_DEST, "destination")?;
    let af = match find(&a, DEST_ATTR_ADDR_FAMILY) {
        Some(v) => get_u16(v)?,
        None => service_family(key),
    };
    let ip = get_addr(af, need(&a, DEST_ATTR_ADDR, "address")?)?;
    let port = get_be16(need(&a, DEST_ATTR_PORT, "port")?)?;
    let forward =
        match get_u32(need(&a, DEST_ATTR_FWD_METHOD, "forwarding method")?)? & CONN_F_FWD_MASK {
            CONN_F_TUNNEL => Forwarding::Ipip,
            CONN_F_DROUTE => Forwarding::Gate,
            // Masq, and Local (1) / bypass (4), which have no ldirectord
            // spelling; the 6.1 kernel reports local real servers as Masq.
            _ => Forwarding::Masq,
        };
    let u32_of =
        |kind: u16, what: &str| -> Result<u32, DecodeError> { get_u32(need(&a, kind, what)?) };
    Ok(DestSnapshot {
        addr: SocketAddr::new(ip, port),
        params: DestParams {
            forward,
            weight: u32_of(DEST_ATTR_WEIGHT, "weight")?,
            upper_threshold: u32_of(DEST_ATTR_U_THRESH, "upper threshold")?,
            lower_threshold: u32_of(DEST_ATTR_L_THRESH, "lower threshold")?,
        },
        active_conns: u32_of(DEST_ATTR_ACTIVE_CONNS, "active connections")?,
        inactive_conns: u32_of(DEST_ATTR_INACT_CONNS, "inactive connections")?,
        persist_conns: u32_of(DEST_ATTR_PERSIST_CONNS, "persistent connections")?,
        stats: decode_stats(&a, DEST_ATTR_STATS, DEST_ATTR_STATS64)?,
    })
}
