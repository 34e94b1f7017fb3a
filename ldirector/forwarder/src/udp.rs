//! UDP services: one flow per client address, each with its own socket
//! connected to the chosen real server; replies go back from the service
//! socket. A flow silent for the UDP timeout ends (IPVS's UDP entry expiry).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::service::Ended;
use crate::stats::Traffic;
use crate::{lock, Activity, ConnGuard, Shared};

const MAX_DATAGRAM: usize = 65536;

struct Flow {
    upstream: Arc<UdpSocket>,
    traffic: Arc<Traffic>,
    /// The last datagram either way (the flow's expiry counts from it).
    last: Arc<Activity>,
}

pub(crate) async fn serve(sock: Arc<UdpSocket>, vip: SocketAddr, core: Shared) {
    let svc_traffic = lock(&core).traffic();
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<SocketAddr>();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, client) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors for earlier replies surface here.
                    debug!(service = %vip, error = %e, "udp receive error");
                    continue;
                }
            },
            Some(gone) = done_rx.recv() => {
                flows.remove(&gone);
                continue;
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        let now = Instant::now();
        if let Some(f) = flows.get(&client) {
            f.last.touch(now);
            f.traffic.add_in(n);
            svc_traffic.add_in(n);
            if let Err(e) = f.upstream.send(data).await {
                debug!(service = %vip, client = %client, error = %e, "udp send to real server failed");
            }
            continue;
        }
        let conn = crate::sched::ConnInfo { client, vip };
        let assigned = lock(&core).schedule(&conn, Instant::now());
        let Some(a) = assigned else {
            debug!(service = %vip, client = %client, "no destination available");
            continue;
        };
        let bind: SocketAddr = if a.addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let upstream = match UdpSocket::bind(bind).await {
            Ok(u) => u,
            Err(e) => {
                warn!(service = %vip, error = %e, "cannot open a udp flow socket");
                let mut guard = ConnGuard::new(core.clone(), a);
                guard.ended = Ended::Expired;
                drop(guard);
                continue;
            }
        };
        let traffic = a.traffic.clone();
        let mut guard = ConnGuard::new(core.clone(), a);
        guard.ended = Ended::Expired;
        if let Err(e) = upstream.connect(guard.addr()).await {
            debug!(service = %vip, real = %guard.addr(), error = %e, "udp connect failed");
            continue;
        }
        let flow = Flow {
            upstream: Arc::new(upstream),
            traffic,
            last: Activity::new(now),
        };
        guard.attach(flow.last.clone());
        flow.traffic.add_in(n);
        svc_traffic.add_in(n);
        if let Err(e) = flow.upstream.send(data).await {
            debug!(service = %vip, client = %client, error = %e, "udp send to real server failed");
        }
        tokio::spawn(replies(
            sock.clone(),
            flow.upstream.clone(),
            client,
            flow.last.clone(),
            flow.traffic.clone(),
            svc_traffic.clone(),
            guard,
            done_tx.clone(),
        ));
        flows.insert(client, flow);
    }
}

/// Carry the real server's replies back until the flow is idle.
#[allow(clippy::too_many_arguments)]
async fn replies(
    sock: Arc<UdpSocket>,
    upstream: Arc<UdpSocket>,
    client: SocketAddr,
    last: Arc<Activity>,
    traffic: Arc<Traffic>,
    svc_traffic: Arc<Traffic>,
    guard: ConnGuard,
    done: mpsc::UnboundedSender<SocketAddr>,
) {
    let idle = guard.timeouts().udp;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let deadline = last.last() + idle;
        if Instant::now() >= deadline {
            break;
        }
        let r = tokio::time::timeout_at(deadline.into(), upstream.recv(&mut buf)).await;
        match r {
            Err(_) => continue, // re-check: the client may have spoken
            Ok(Err(e)) => {
                // ECONNREFUSED from an ICMP port unreachable: the datagram
                // is lost, the flow stays (as IPVS's entry would).
                debug!(client = %client, error = %e, "udp receive from real server failed");
            }
            Ok(Ok(n)) => {
                last.touch(Instant::now());
                traffic.add_out(n);
                svc_traffic.add_out(n);
                let _ = sock.send_to(buf.get(..n).unwrap_or_default(), client).await;
            }
        }
    }
    let _ = done.send(client);
    drop(guard);
}
