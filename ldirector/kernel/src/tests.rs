use super::*;
use crate::proto::*;
use ldirector::config::{Forwarding, Netmask, Protocol, Scheduler, VirtualAddr};
use ldirector::ipvs::{DestParams, ServiceParams};

fn tcp(s: &str) -> VirtualAddr {
    VirtualAddr::Inet {
        protocol: Protocol::Tcp,
        addr: s.parse().unwrap(),
    }
}

/// Our NEW_SERVICE attributes are the ones the kernel dumps back (minus
/// counters), so decoding what we encode must give the params back.
fn round_trip(key: VirtualAddr, p: ServiceParams) -> ServiceParams {
    let msg = encode(&IpvsCommand::AddService { key, params: p }).unwrap();
    let s = decode_service(&msg).unwrap().unwrap();
    assert_eq!(s.key, key);
    s.params
}

#[test]
fn service_attributes_round_trip() {
    let p = ServiceParams {
        persistent: Some(300),
        netmask: Some(Netmask::V4("255.255.0.0".parse().unwrap())),
        schedflags: Some("sh-fallback,sh-port".into()),
        ..ServiceParams::new(Scheduler::Sh)
    };
    assert_eq!(round_trip(tcp("10.0.0.1:80"), p.clone()), p);
    let p6 = ServiceParams {
        persistent: Some(60),
        netmask: Some(Netmask::V6Prefix(64)),
        ..ServiceParams::new(Scheduler::Mh)
    };
    assert_eq!(round_trip(tcp("[2001:db8::1]:443"), p6.clone()), p6);
    let fwm6 = VirtualAddr::Fwmark {
        mark: 7,
        ipv6: true,
    };
    assert_eq!(
        round_trip(fwm6, ServiceParams::new(Scheduler::Rr)),
        ServiceParams::new(Scheduler::Rr)
    );
    let udp = VirtualAddr::Inet {
        protocol: Protocol::Udp,
        addr: "10.0.0.1:53".parse().unwrap(),
    };
    let ops = ServiceParams {
        ops: true,
        ..ServiceParams::new(Scheduler::Wrr)
    };
    assert_eq!(round_trip(udp, ops.clone()), ops);
}

#[test]
fn read_back_is_canonical_like_ipvsadm() {
    // Flag order and a full-width mask come back as ipvsadm lists them.
    let p = ServiceParams {
        persistent: Some(10),
        netmask: Some(Netmask::V4("255.255.255.255".parse().unwrap())),
        schedflags: Some("sh-port,sh-fallback".into()),
        ..ServiceParams::new(Scheduler::Sh)
    };
    let back = round_trip(tcp("10.0.0.1:80"), p);
    assert_eq!(back.schedflags.as_deref(), Some("sh-fallback,sh-port"));
    assert_eq!(back.netmask, None);
    // ops only exists for UDP (ldirectord passes -o only there).
    let tcp_ops = ServiceParams {
        ops: true,
        ..ServiceParams::new(Scheduler::Rr)
    };
    assert!(!round_trip(tcp("10.0.0.1:81"), tcp_ops).ops);
}

#[test]
fn bad_sched_flags_and_masks_are_refused_before_sending() {
    let mut b = ServiceParams {
        schedflags: Some("sh-port".into()),
        ..ServiceParams::new(Scheduler::Wrr)
    };
    let e = encode(&IpvsCommand::AddService {
        key: tcp("10.0.0.1:80"),
        params: b.clone(),
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "incompatible scheduler flag `sh-port'");
    b.schedflags = None;
    b.persistent = Some(1);
    b.netmask = Some(Netmask::V6Prefix(64));
    assert!(encode(&IpvsCommand::AddService {
        key: tcp("10.0.0.1:80"),
        params: b,
    })
    .is_err());
}

/// A dump entry as the kernel builds it, from what we sent plus counters.
fn dest_dump_entry(cmd: &IpvsCommand, active: u32) -> IpvsMessage {
    let msg = encode(cmd).unwrap();
    let nest = msg.attrs.last().unwrap();
    let mut inner = parse_attrs(nest_value(nest)).unwrap();
    inner.extend([
        Attr::u32(DEST_ATTR_ACTIVE_CONNS, active),
        Attr::u32(DEST_ATTR_INACT_CONNS, 2),
        Attr::u32(DEST_ATTR_PERSIST_CONNS, 3),
    ]);
    IpvsMessage::new(CMD_GET_DEST, vec![Attr::nested(2, &inner)])
}

fn nest_value(a: &Attr) -> &[u8] {
    a.value()
}

#[test]
fn gate_and_ipip_dests_take_the_service_port() {
    let key = tcp("10.0.0.1:80");
    for (forward, port) in [
        (Forwarding::Gate, 80),
        (Forwarding::Ipip, 80),
        (Forwarding::Masq, 8080),
    ] {
        let cmd = IpvsCommand::AddDest {
            key,
            dest: "10.0.0.2:8080".parse().unwrap(),
            params: DestParams {
                forward,
                weight: 5,
                upper_threshold: 100,
                lower_threshold: 10,
            },
        };
        let d = decode_dest(&dest_dump_entry(&cmd, 1), &key).unwrap();
        assert_eq!(d.addr.port(), port, "{forward:?}");
        assert_eq!(d.params.forward, forward);
        assert_eq!(
            (
                d.params.weight,
                d.params.upper_threshold,
                d.params.lower_threshold
            ),
            (5, 100, 10)
        );
        assert_eq!(
            (d.active_conns, d.inactive_conns, d.persist_conns),
            (1, 2, 3)
        );
    }
    // Firewall-mark services keep the port given.
    let fwm = VirtualAddr::Fwmark {
        mark: 3,
        ipv6: true,
    };
    let cmd = IpvsCommand::AddDest {
        key: fwm,
        dest: "[2001:db8::2]:443".parse().unwrap(),
        params: DestParams::quiesced(Forwarding::Gate),
    };
    let d = decode_dest(&dest_dump_entry(&cmd, 0), &fwm).unwrap();
    assert_eq!(d.addr, "[2001:db8::2]:443".parse().unwrap());
}

#[test]
fn errnos_map_to_ipvsadm_refusals() {
    let key = tcp("10.0.0.1:80");
    let dest = "10.0.0.2:80".parse().unwrap();
    let p = DestParams::quiesced(Forwarding::Gate);
    let add_svc = IpvsCommand::AddService {
        key,
        params: ServiceParams::new(Scheduler::Rr),
    };
    let add = IpvsCommand::AddDest {
        key,
        dest,
        params: p,
    };
    let edit = IpvsCommand::EditDest {
        key,
        dest,
        params: p,
    };
    let del = IpvsCommand::DelDest { key, dest };
    let refused = |cmd: &IpvsCommand, errno| match refusal(cmd, errno) {
        BackendError::Refused { error, .. } => Some(error),
        _ => None,
    };
    assert_eq!(
        refused(&add_svc, libc::EEXIST),
        Some(IpvsError::ServiceExists)
    );
    assert_eq!(refused(&add, libc::EEXIST), Some(IpvsError::DestExists));
    assert_eq!(refused(&add, libc::ESRCH), Some(IpvsError::NoSuchService));
    assert_eq!(
        refused(&IpvsCommand::DeleteService { key }, libc::ESRCH),
        Some(IpvsError::NoSuchService)
    );
    assert_eq!(refused(&edit, libc::ENOENT), Some(IpvsError::NoSuchDest));
    assert_eq!(refused(&del, libc::ENOENT), Some(IpvsError::NoSuchDest));
    match refusal(&add_svc, libc::ENOENT) {
        BackendError::Io { context, source } => {
            assert_eq!(context, "-A -t 10.0.0.1:80 -s rr");
            assert!(source
                .to_string()
                .starts_with("Scheduler or persistence engine not found"));
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        refusal(&add, libc::EINVAL),
        BackendError::Io { .. }
    ));
}

/// A netlink header of `len` bytes with sequence number `seq`.
fn nl_header(len: u32, seq: u32) -> Vec<u8> {
    let mut h = len.to_ne_bytes().to_vec();
    h.extend_from_slice(&[0; 4]); // type, flags
    h.extend_from_slice(&seq.to_ne_bytes());
    h.extend_from_slice(&[0; 4]); // port id
    h
}

#[test]
fn datagrams_split_into_messages_and_bad_lengths_are_errors() {
    let split = |d: &[u8]| {
        let mut seen = Vec::new();
        crate::socket::for_each_message(d, |seq, m| {
            seen.push((seq, m.len()));
            Ok(())
        })
        .map(|()| seen)
    };
    // Two messages: one of 18 bytes padded to 20, then the last one without
    // its padding.
    let mut d = nl_header(18, 1);
    d.extend_from_slice(&[0; 4]);
    d.extend(nl_header(17, 2));
    d.push(0);
    assert_eq!(split(&d).unwrap(), vec![(1, 18), (2, 17)]);
    // Lengths shorter than a header, longer than the datagram, or a length
    // near u32::MAX (whose padding must not overflow).
    for len in [0, 15, 1000, u32::MAX - 1] {
        let mut d = nl_header(len, 1);
        d.extend_from_slice(&[0; 8]);
        assert!(split(&d).is_err(), "length {len}");
    }
    // Garbage in a reply datagram decodes to nothing, without a panic.
    crate::socket::decode_reply_datagram(&d);
    crate::socket::decode_reply_datagram(&[0xff; 3]);
}
