//! A small synchronous rtnetlink client: the few link/address/route requests
//! the IP agents need. Messages are built and parsed by `netlink-packet-route`;
//! this module only does the request/response exchange on a `netlink-sys`
//! socket (an agent is a short-lived CLI, so no async runtime).

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::{
    address::{AddressAttribute, AddressMessage, AddressScope},
    link::{LinkAttribute, LinkFlags, LinkMessage},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteType},
    AddressFamily, RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::ocf::{RaError, Rc};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink {request}: {source}")]
    Kernel {
        request: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink {request}: cannot decode reply: {detail}")]
    Decode {
        request: &'static str,
        detail: String,
    },
}

impl NetlinkError {
    /// The errno the kernel answered with, if that is what failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } | NetlinkError::Socket(source) => {
                source.raw_os_error()
            }
            NetlinkError::Decode { .. } => None,
        }
    }

    /// The kernel said the object is not there (already deleted, device gone).
    pub fn is_gone(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ESRCH)
        )
    }

    /// The kernel said the object exists already.
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
}

impl From<NetlinkError> for RaError {
    fn from(e: NetlinkError) -> Self {
        let rc = match e.errno() {
            Some(libc::EPERM) | Some(libc::EACCES) => Rc::Perm,
            _ => Rc::Generic,
        };
        RaError::new(rc, e.to_string())
    }
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// The 6-byte hardware address, if the link has one (not `lo`, not tun).
    pub mac: Option<[u8; 6]>,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr4 {
    pub ifindex: u32,
    pub local: Ipv4Addr,
    pub prefix: u8,
    /// `eth0`, or `eth0:0` for an alias.
    pub label: String,
    pub broadcast: Option<Ipv4Addr>,
}

/// An IPv4 route (only the fields interface lookup needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route4 {
    pub table: u32,
    pub scope_link: bool,
    pub scope_host: bool,
    pub unicast: bool,
    pub local: bool,
    pub dst: Ipv4Addr,
    pub prefix: u8,
    pub oif: Option<u32>,
}

/// An address to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddr4 {
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
}

pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        socket.bind_auto().map_err(NetlinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        Ok(Self { socket, seq: 0 })
    }

    /// Links, IPv4 addresses and IPv4 routes in one go.
    pub fn tables(&mut self) -> Result<crate::findif::Tables, NetlinkError> {
        Ok(crate::findif::Tables {
            links: self.links()?,
            addrs: self.addresses()?,
            routes: self.routes()?,
        })
    }

    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let replies = self.request(
            "get links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect())
    }

    pub fn addresses(&mut self) -> Result<Vec<Addr4>, NetlinkError> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let replies = self.request(
            "get addresses",
            RouteNetlinkMessage::GetAddress(req),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => addr_from(a),
                _ => None,
            })
            .collect())
    }

    pub fn routes(&mut self) -> Result<Vec<Route4>, NetlinkError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let replies = self.request("get routes", RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_from(r),
                _ => None,
            })
            .collect())
    }

    pub fn add_address(&mut self, new: &NewAddr4) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = new.prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = new.ifindex;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(new.ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(new.ip)));
        if let Some(b) = new.broadcast {
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &new.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        self.request(
            "add address",
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    pub fn del_address(
        &mut self,
        ifindex: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = ifindex;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        self.request(
            "delete address",
            RouteNetlinkMessage::DelAddress(msg),
            NLM_F_ACK,
        )
        .map(drop)
    }

    pub fn set_link_up(&mut self, ifindex: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request("set link up", RouteNetlinkMessage::SetLink(msg), NLM_F_ACK)
            .map(drop)
    }

    /// Send one request; collect replies until DONE (dumps) or the ACK.
    fn request(
        &mut self,
        what: &'static str,
        body: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(body));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|source| NetlinkError::Kernel {
                request: what,
                source,
            })?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) =
                self.socket
                    .recv_from_full()
                    .map_err(|source| NetlinkError::Kernel {
                        request: what,
                        source,
                    })?;
            let mut off = 0usize;
            while off < data.len() {
                let chunk = data.get(off..).unwrap_or_default();
                let reply =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(chunk).map_err(|e| {
                        NetlinkError::Decode {
                            request: what,
                            detail: e.to_string(),
                        }
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(NetlinkError::Decode {
                        request: what,
                        detail: "zero-length message".into(),
                    });
                }
                // Messages are 4-byte aligned within a datagram.
                off = off.saturating_add((len + 3) & !3);
                if reply.header.sequence_number != seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None if !dump => Ok(out),
                            None => continue,
                            Some(_) => Err(NetlinkError::Kernel {
                                request: what,
                                source: e.to_io(),
                            }),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
        }
    }
}

fn link_from(l: LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n,
            LinkAttribute::Address(bytes) => {
                if let Ok(m) = <[u8; 6]>::try_from(bytes.as_slice()) {
                    if m != [0; 6] {
                        mac = Some(m);
                    }
                }
            }
            _ => {}
        }
    }
    Link {
        index: l.header.index,
        name,
        up: l.header.flags.contains(LinkFlags::Up),
        mac,
    }
}

fn addr_from(a: AddressMessage) -> Option<Addr4> {
    if a.header.family != AddressFamily::Inet {
        return None;
    }
    let mut local = None;
    let mut address = None;
    let mut label = String::new();
    let mut broadcast = None;
    for attr in a.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(ip),
            AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(ip),
            AddressAttribute::Label(l) => label = l,
            AddressAttribute::Broadcast(b) => broadcast = Some(b),
            _ => {}
        }
    }
    Some(Addr4 {
        ifindex: a.header.index,
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
        // on point-to-point links.
        local: local.or(address)?,
        prefix: a.header.prefix_len,
        label,
        broadcast,
    })
}

fn route_from(r: RouteMessage) -> Option<Route4> {
    if r.header.address_family != AddressFamily::Inet {
        return None;
    }
    let mut table = u32::from(r.header.table);
    let mut dst = Ipv4Addr::UNSPECIFIED;
    let mut oif = None;
    for attr in r.attributes {
        match attr {
            RouteAttribute::Table(t) => table = t,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = d,
            RouteAttribute::Oif(i) => oif = Some(i),
            _ => {}
        }
    }
    Some(Route4 {
        table,
        scope_link: r.header.scope == RouteScope::Link,
        scope_host: r.header.scope == RouteScope::Host,
        unicast: r.header.kind == RouteType::Unicast,
        local: r.header.kind == RouteType::Local,
        dst,
        prefix: r.header.destination_prefix_length,
        oif,
    })
}
