//! TCP services: accept, schedule, connect to the real server, splice both
//! ways with half-close, account the connection's states like IPVS.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tracing::{debug, warn};

use crate::service::Ended;
use crate::stats::Traffic;
use crate::{lock, Activity, ConnGuard, Options, Shared};

/// The runtimes a TCP service's connections are spread over, and how many
/// live connections each holds.
#[derive(Debug)]
pub(crate) struct Threads {
    handles: Vec<Handle>,
    loads: Vec<AtomicUsize>,
}

impl Threads {
    pub(crate) fn new(handles: Vec<Handle>) -> Arc<Threads> {
        let loads = handles.iter().map(|_| AtomicUsize::new(0)).collect();
        Arc::new(Threads { handles, loads })
    }

    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Live connections per runtime, in runtime order.
    pub(crate) fn loads(&self) -> Vec<usize> {
        self.loads
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect()
    }

    /// The runtime that serves a connection runtime `me` just accepted:
    /// `me`, unless another holds at least 2 fewer connections (the margin
    /// keeps short connections, which come and go, from being handed back
    /// and forth). Counted at once, so the next accept — on any thread —
    /// already sees it.
    fn claim(self: &Arc<Self>, me: usize) -> LoadGuard {
        let load = |i: usize| self.loads.get(i).map_or(0, |l| l.load(Ordering::Relaxed));
        let mine = load(me);
        let least = (0..self.loads.len())
            .filter(|&i| i != me)
            .map(|i| (load(i), i))
            .min();
        let target = match least {
            Some((n, i)) if n + 2 <= mine => i,
            _ => me,
        };
        if let Some(l) = self.loads.get(target) {
            l.fetch_add(1, Ordering::Relaxed);
        }
        LoadGuard(self.clone(), target)
    }
}

/// Counts one connection on runtime `.1` while alive.
struct LoadGuard(Arc<Threads>, usize);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if let Some(l) = self.0.loads.get(self.1) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Accepts on runtime `me`. Every runtime accepts from the same listening
/// socket (whichever is free takes the next connection; SO_REUSEPORT would
/// pin connections to a thread by hash, and to its delays), and a
/// connection accepted by a runtime clearly busier than another is handed
/// to that one: a burst of long connections lands on one thread otherwise,
/// as the thread that wakes first accepts the whole burst.
pub(crate) async fn serve(
    listener: TcpListener,
    vip: SocketAddr,
    core: Shared,
    opts: Arc<Options>,
    threads: Arc<Threads>,
    me: usize,
) {
    let svc_traffic = lock(&core).traffic();
    loop {
        match listener.accept().await {
            Ok((client, peer)) => {
                let load = threads.claim(me);
                let conn = Conn {
                    peer,
                    vip,
                    core: core.clone(),
                    svc_traffic: svc_traffic.clone(),
                    opts: opts.clone(),
                };
                if load.1 == me {
                    tokio::spawn(handle(client, conn, load));
                    continue;
                }
                // Moving a socket to another runtime's reactor: deregister
                // here, register there (two epoll_ctl calls, only for the
                // connections that rebalance).
                let Some(target) = threads.handles.get(load.1) else {
                    continue;
                };
                match client.into_std() {
                    Ok(std) => {
                        target.spawn(async move {
                            match TcpStream::from_std(std) {
                                Ok(client) => handle(client, conn, load).await,
                                Err(e) => {
                                    warn!(service = %vip, client = %peer, error = %e, "cannot register connection")
                                }
                            }
                        });
                    }
                    Err(e) => {
                        warn!(service = %vip, client = %peer, error = %e, "cannot move connection")
                    }
                }
            }
            Err(e) => {
                warn!(service = %vip, error = %e, "accept failed");
                // Out of fds or memory: give running connections a moment
                // to release some instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a connection task needs besides its sockets.
struct Conn {
    peer: SocketAddr,
    vip: SocketAddr,
    core: Shared,
    svc_traffic: Arc<Traffic>,
    opts: Arc<Options>,
}

/// Close with RST, as the client of a failed IPVS connection sees it.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

async fn handle(client: TcpStream, conn: Conn, _load: LoadGuard) {
    let Conn {
        peer,
        vip,
        core,
        svc_traffic,
        opts,
    } = conn;
    let conn = crate::sched::ConnInfo { client: peer, vip };
    let assigned = lock(&core).schedule(&conn, Instant::now());
    let Some(a) = assigned else {
        debug!(service = %vip, client = %peer, "no destination available");
        reset(&client);
        return;
    };
    let real = a.addr;
    let dest_traffic = a.traffic.clone();
    let mut guard = ConnGuard::new(core, a);
    let server = match tokio::time::timeout(opts.connect_timeout, TcpStream::connect(real)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(service = %vip, client = %peer, real = %real, error = %e, "connect to real server failed");
            reset(&client);
            return;
        }
        Err(_) => {
            debug!(service = %vip, client = %peer, real = %real, "connect to real server timed out");
            reset(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The last bytes moved either way: the idle timeout below and the
    // connection listing both count from it.
    let activity = Activity::new(Instant::now());
    guard.attach(activity.clone());
    guard.established();
    let seen = || activity.touch(Instant::now());
    let eofs = AtomicU8::new(0);
    let upstream = crate::pump::pump(&client, &server, opts.splice, &eofs, |n| {
        dest_traffic.add_in(n);
        svc_traffic.add_in(n);
        seen();
    });
    let downstream = crate::pump::pump(&server, &client, opts.splice, &eofs, |n| {
        dest_traffic.add_out(n);
        svc_traffic.add_out(n);
        seen();
    });
    tokio::pin!(upstream, downstream);
    let (mut up_done, mut down_done) = (false, false);
    let timeouts = opts.timeouts;
    let mut idle_limit = timeouts.tcp_established;
    let outcome = loop {
        let quiet_since = activity.last();
        let r = tokio::select! {
            r = &mut upstream, if !up_done => { up_done = true; r }
            r = &mut downstream, if !down_done => { down_done = true; r }
            _ = tokio::time::sleep_until((quiet_since + idle_limit).into()) => {
                let quiet_for = Instant::now().saturating_duration_since(activity.last());
                if quiet_for >= idle_limit {
                    // IPVS forgets a silent connection; its next packet
                    // would be answered with a reset.
                    break Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
                }
                continue;
            }
        };
        if let Err(e) = r {
            break Err(e);
        }
        // The first FIN ends ESTABLISHED.
        guard.closing();
        idle_limit = timeouts.tcp_fin_wait;
        seen();
        if up_done && down_done {
            break Ok(());
        }
    };
    match outcome {
        Ok(()) => guard.ended = Ended::Closed,
        Err(e) => {
            debug!(service = %vip, client = %peer, real = %real, error = %e, "connection reset");
            // Pass the abort on to whichever side is still there.
            reset(&client);
            reset(&server);
        }
    }
}
