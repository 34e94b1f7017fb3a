//! A blocking generic netlink socket speaking the IPVS family: family
//! lookup, pipelined batches of requests, dumps.

use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::protocols::NETLINK_GENERIC;
use netlink_sys::{Socket, SocketAddr};

use crate::proto::IpvsMessage;

/// Requests per `sendmsg`. The kernel handles a whole datagram before
/// `sendmsg` returns and queues one error message per failed request; the
/// chunk is small enough that even all-failed chunks fit the receive
/// buffer (a lost error would leave a command's outcome unknown).
const CHUNK_MSGS: usize = 256;
/// Stay well under the socket's send buffer (`EMSGSIZE` beyond it).
const CHUNK_BYTES: usize = 64 * 1024;
/// Receive buffer we ask for (with `SO_RCVBUFFORCE`; we are root when we
/// may talk to IPVS at all).
const RCVBUF: libc::c_int = 4 << 20;
/// Netlink caps a dump datagram at 32 KiB; twice that never truncates.
const RECV_BUF: usize = 64 * 1024;
/// The kernel answers within a datagram's processing; this only bounds a
/// wedged kernel or a lost ACK, so `apply` cannot hang the director.
const RECV_TIMEOUT_SECS: u64 = 10;

pub struct Genl {
    sock: Socket,
    seq: u32,
    family: u16,
    buf: Vec<u8>,
}

type Msg<T> = NetlinkMessage<GenlMessage<T>>;

impl Genl {
    pub fn open() -> io::Result<Genl> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Errors without the request echoed, and with the kernel's message
        // when it has one; both are optional comforts.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        if !set_rcvbuf_force(&sock, RCVBUF) {
            let _ = sock.set_rx_buf_sz(RCVBUF as usize);
        }
        socket2::SockRef::from(&sock)
            .set_read_timeout(Some(std::time::Duration::from_secs(RECV_TIMEOUT_SECS)))?;
        Ok(Genl {
            sock,
            seq: 0,
            family: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The family's id, `None` when the kernel does not know it.
    pub fn resolve(&mut self, name: &str) -> io::Result<Option<u16>> {
        let seq = self.next_seq();
        let mut msg: Msg<GenlCtrl> = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
        }));
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.sequence_number = seq;
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0)?;
        let mut id = None;
        let mut done = false;
        while !done {
            self.recv_each(|seq_no, bytes| {
                if seq_no != seq {
                    return Ok(());
                }
                match Msg::<GenlCtrl>::deserialize(bytes)
                    .map_err(invalid)?
                    .payload
                {
                    NetlinkPayload::InnerMessage(m) => {
                        for nla in m.payload.nlas {
                            if let GenlCtrlAttrs::FamilyId(f) = nla {
                                id = Some(f);
                            }
                        }
                    }
                    NetlinkPayload::Error(e) => {
                        done = true;
                        match e.code {
                            None => {}
                            Some(c) if -c.get() == libc::ENOENT => id = None,
                            Some(_) => return Err(e.to_io()),
                        }
                    }
                    NetlinkPayload::Done(_) => done = true,
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(id)
    }

    pub fn set_family(&mut self, family: u16) {
        self.family = family;
    }

    fn encode(&self, msg: IpvsMessage, flags: u16, seq: u32, out: &mut Vec<u8>) {
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(self.family);
        let mut m: Msg<IpvsMessage> = NetlinkMessage::from(genl);
        m.header.flags = flags;
        m.header.sequence_number = seq;
        m.finalize();
        let start = out.len();
        out.resize(start + m.buffer_len(), 0);
        m.serialize(&mut out[start..]);
    }

    /// Send every request, pipelined; one errno (0 = done) per request, in
    /// order. Only the last request of each datagram asks for an ACK: the
    /// kernel answers failures anyway and handles a datagram's requests in
    /// order, so that ACK means "all before it that did not fail, worked".
    pub fn batch(&mut self, msgs: Vec<IpvsMessage>) -> Vec<i32> {
        let n = msgs.len();
        let mut result: Vec<Option<i32>> = vec![None; n];
        let mut msgs = msgs.into_iter().enumerate().peekable();
        let mut out = Vec::with_capacity(CHUNK_BYTES + 4096);
        while msgs.peek().is_some() {
            out.clear();
            let first_seq = self.seq.wrapping_add(1);
            let mut count = 0;
            let mut first_idx = None;
            while let Some((idx, msg)) = msgs.next() {
                first_idx.get_or_insert(idx);
                let seq = self.next_seq();
                let last =
                    count + 1 == CHUNK_MSGS || out.len() >= CHUNK_BYTES || msgs.peek().is_none();
                let flags = NLM_F_REQUEST | if last { NLM_F_ACK } else { 0 };
                self.encode(msg, flags, seq, &mut out);
                count += 1;
                if last {
                    break;
                }
            }
            let base = first_idx.unwrap_or(0);
            let outcome = self.run_chunk(&out, first_seq, count);
            match outcome {
                Ok(errs) => {
                    for (i, e) in errs.into_iter().enumerate() {
                        result[base + i] = Some(e.unwrap_or(0));
                    }
                }
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(match e.kind() {
                        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
                        _ => libc::EIO,
                    });
                    for r in &mut result[base..base + count] {
                        r.get_or_insert(errno);
                    }
                }
            }
        }
        result.into_iter().map(|r| r.unwrap_or(libc::EIO)).collect()
    }

    /// One datagram of `count` requests with sequence numbers from
    /// `first_seq`: each request's errno, `None` for success.
    fn run_chunk(
        &mut self,
        out: &[u8],
        first_seq: u32,
        count: usize,
    ) -> io::Result<Vec<Option<i32>>> {
        self.sock.send(out, 0)?;
        let last_seq = first_seq.wrapping_add(count as u32 - 1);
        let mut errs = vec![None; count];
        let mut done = false;
        while !done {
            self.recv_each(|seq_no, bytes| {
                let idx = seq_no.wrapping_sub(first_seq) as usize;
                if idx >= count {
                    return Ok(()); // a stale answer to an earlier, abandoned request
                }
                if let NetlinkPayload::Error(e) = Msg::<IpvsMessage>::deserialize(bytes)
                    .map_err(invalid)?
                    .payload
                {
                    if let Some(c) = e.code {
                        errs[idx] = Some(-c.get());
                    }
                    if seq_no == last_seq {
                        done = true;
                    }
                }
                Ok(())
            })?;
        }
        Ok(errs)
    }

    /// A dump: every reply message until `NLMSG_DONE`.
    pub fn dump(&mut self, msg: IpvsMessage) -> io::Result<Vec<IpvsMessage>> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP)
    }

    /// A single request with a reply (`GET_INFO`).
    pub fn get(&mut self, msg: IpvsMessage) -> io::Result<IpvsMessage> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK)?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no reply from the kernel"))
    }

    fn exchange(&mut self, msg: IpvsMessage, flags: u16) -> io::Result<Vec<IpvsMessage>> {
        let seq = self.next_seq();
        let mut out = Vec::new();
        self.encode(msg, flags, seq, &mut out);
        self.sock.send(&out, 0)?;
        let mut replies = Vec::new();
        let mut done = false;
        while !done {
            self.recv_each(|seq_no, bytes| {
                if seq_no != seq {
                    return Ok(());
                }
                match Msg::<IpvsMessage>::deserialize(bytes)
                    .map_err(invalid)?
                    .payload
                {
                    NetlinkPayload::InnerMessage(m) => replies.push(m.payload),
                    NetlinkPayload::Done(_) => done = true,
                    NetlinkPayload::Error(e) => {
                        done = true;
                        if e.code.is_some() {
                            return Err(e.to_io());
                        }
                    }
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(replies)
    }

    /// Receive one datagram and hand each netlink message in it to `f`.
    fn recv_each(&mut self, f: impl FnMut(u32, &[u8]) -> io::Result<()>) -> io::Result<()> {
        let n = loop {
            match self.sock.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer from the kernel in {RECV_TIMEOUT_SECS} s"),
                    ))
                }
                r => break r?,
            }
        };
        if n > self.buf.len() {
            return Err(invalid(format!("netlink datagram of {n} bytes truncated")));
        }
        for_each_message(self.buf.get(..n).unwrap_or_default(), f)
    }
}

/// Hand each netlink message of a received datagram to `f` with its
/// sequence number.
pub(crate) fn for_each_message(
    datagram: &[u8],
    mut f: impl FnMut(u32, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut rest = datagram;
    while !rest.is_empty() {
        let nb = NetlinkBuffer::new_checked(rest).map_err(invalid)?;
        let len = nb.length() as usize;
        let Some(msg) = rest.get(..len).filter(|_| len >= 16) else {
            return Err(invalid(format!("bad netlink message length {len}")));
        };
        f(nb.sequence_number(), msg)?;
        // Messages are 4-byte aligned within a datagram; the last one's
        // padding may be missing.
        rest = rest.get(len.saturating_add(3) & !3..).unwrap_or_default();
    }
    Ok(())
}

/// What the backend does with a reply datagram to a dump or `GET_INFO`,
/// minus the socket: every message deserialized and decoded as a service,
/// a destination and an info reply. For the fuzz targets.
#[doc(hidden)]
pub fn decode_reply_datagram(datagram: &[u8]) {
    use ldirector::config::{Protocol, VirtualAddr};
    let key = VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: std::net::SocketAddr::from(([10, 0, 0, 1], 80)),
    };
    let _ = for_each_message(datagram, |_, bytes| {
        if let NetlinkPayload::InnerMessage(m) = Msg::<IpvsMessage>::deserialize(bytes)
            .map_err(invalid)?
            .payload
        {
            let _ = crate::proto::decode_service(&m.payload);
            let _ = crate::proto::decode_dest(&m.payload, &key);
            let _ = crate::proto::decode_info(&m.payload);
        }
        Ok(())
    });
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// `SO_RCVBUFFORCE` lifts the `rmem_max` cap (needs CAP_NET_ADMIN).
fn set_rcvbuf_force(sock: &Socket, size: libc::c_int) -> bool {
    // SAFETY: a valid fd, an int option value and its size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
    }
}
