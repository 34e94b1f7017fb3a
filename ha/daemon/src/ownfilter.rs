//! A classic BPF socket filter that drops our own broadcasts and multicasts
//! in the kernel, before they are queued on the socket.
//!
//! Linux loops every IPv4 broadcast back to the sender unconditionally
//! (`IP_MULTICAST_LOOP` only covers multicast), so without it each status we
//! send wakes the loop once more for a datagram `Transport::is_own` then
//! throws away: at keepalive 10 ms that is a third of the idle work. The
//! filter applies the same rule as `is_own` (source address one of ours,
//! source port one of this link's sockets); `is_own` stays as the fallback
//! for a kernel that refuses the filter.

use std::net::Ipv4Addr;

use libc::sock_filter;

// Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
const BPF_LD_H_ABS: u16 = 0x28;
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
/// `SKF_NET_OFF`: offsets from here are relative to the IP header; plain
/// offsets are relative to the UDP header, where a UDP socket's filter
/// starts.
const SKF_NET_OFF: i32 = -0x10_0000;
/// Source address in the IPv4 header.
const IP_SADDR: i32 = 12;
/// Source port in the UDP header.
const UDP_SPORT: u32 = 0;
const ACCEPT: u32 = u32::MAX;
const DROP: u32 = 0;
/// Jump offsets are one byte; more addresses than this and we rely on
/// `is_own` alone.
const MAX_ENTRIES: usize = 200;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The program: drop when the UDP source port is one of `ports` and the IP
/// source is one of `addrs`; accept everything else. `None` when there is
/// nothing to match or too much to fit the one-byte jumps.
pub fn own_packet_filter(addrs: &[Ipv4Addr], ports: &[u16]) -> Option<Vec<sock_filter>> {
    if addrs.is_empty()
        || ports.is_empty()
        || addrs.len() > MAX_ENTRIES
        || ports.len() > MAX_ENTRIES
    {
        return None;
    }
    let (np, na) = (ports.len(), addrs.len());
    let mut prog = Vec::with_capacity(np + na + 5);
    prog.push(op(BPF_LD_H_ABS, 0, 0, UDP_SPORT));
    for (i, port) in ports.iter().enumerate() {
        // Taken: skip the remaining port tests and the accept after them.
        let jt = u8::try_from(np - i).ok()?;
        prog.push(op(BPF_JEQ_K, jt, 0, u32::from(*port)));
    }
    prog.push(op(BPF_RET_K, 0, 0, ACCEPT));
    // The kernel takes the negative offset as its two's complement.
    prog.push(op(BPF_LD_W_ABS, 0, 0, (SKF_NET_OFF + IP_SADDR) as u32));
    for (j, addr) in addrs.iter().enumerate() {
        // Taken: skip the remaining address tests and the accept: drop.
        let jt = u8::try_from(na - j).ok()?;
        prog.push(op(BPF_JEQ_K, jt, 0, u32::from(*addr)));
    }
    prog.push(op(BPF_RET_K, 0, 0, ACCEPT));
    prog.push(op(BPF_RET_K, 0, 0, DROP));
    Some(prog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn attach(sock: &UdpSocket, prog: &[sock_filter]) {
        socket2::SockRef::from(sock).attach_filter(prog).unwrap();
    }

    #[test]
    fn nothing_to_match_means_no_filter() {
        assert!(own_packet_filter(&[], &[694]).is_none());
        assert!(own_packet_filter(&[Ipv4Addr::LOCALHOST], &[]).is_none());
        let many = vec![Ipv4Addr::LOCALHOST; MAX_ENTRIES + 1];
        assert!(own_packet_filter(&many, &[694]).is_none());
    }

    #[test]
    fn jumps_land_on_the_address_block_and_on_drop() {
        let prog = own_packet_filter(
            &[Ipv4Addr::new(192, 0, 2, 11), Ipv4Addr::new(10, 0, 0, 1)],
            &[694, 695],
        )
        .unwrap();
        // ldh, 2 jeq, ret, ld, 2 jeq, ret, ret
        assert_eq!(prog.len(), 9);
        for (i, ins) in prog.iter().enumerate() {
            if ins.code == BPF_JEQ_K {
                let target = i + 1 + usize::from(ins.jt);
                let t = &prog[target];
                if i < 3 {
                    assert_eq!((t.code, t.k), (BPF_LD_W_ABS, (SKF_NET_OFF + 12) as u32));
                } else {
                    assert_eq!((t.code, t.k), (BPF_RET_K, DROP));
                }
            }
        }
    }

    /// The kernel drops what the filter says, and only that: our own port
    /// and address are dropped, another port from the same address is not.
    #[test]
    fn kernel_drops_own_packets_only() {
        let me = UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = me.local_addr().unwrap().port();
        attach(
            &me,
            &own_packet_filter(&[Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::LOCALHOST], &[port])
                .unwrap(),
        );
        me.send_to(b"own", me.local_addr().unwrap()).unwrap();
        other.send_to(b"peer", me.local_addr().unwrap()).unwrap();
        me.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        // Queued in order: had "own" passed, it would come first.
        let (n, from) = me.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"peer");
        assert_eq!(from, other.local_addr().unwrap());
        me.set_nonblocking(true).unwrap();
        assert_eq!(
            me.recv_from(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn another_source_address_passes() {
        let me = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = me.local_addr().unwrap().port();
        attach(
            &me,
            &own_packet_filter(&[Ipv4Addr::new(192, 0, 2, 1)], &[port]).unwrap(),
        );
        me.send_to(b"x", me.local_addr().unwrap()).unwrap();
        me.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(me.recv_from(&mut buf).unwrap().0, 1);
    }
}
