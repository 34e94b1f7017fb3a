//! TCP services: accept, schedule, connect to the real server, splice both
//! ways with half-close, account the connection's states like IPVS.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::service::Ended;
use crate::stats::Traffic;
use crate::{lock, ConnGuard, Options, Shared};

/// Live connections per runtime, shared by all accept loops: a runtime
/// busier than another leaves the next connection to it for a moment.
#[derive(Debug)]
pub(crate) struct Loads(Vec<AtomicUsize>);

impl Loads {
    pub(crate) fn new(n: usize) -> Arc<Loads> {
        Arc::new(Loads((0..n).map(|_| AtomicUsize::new(0)).collect()))
    }

    /// Clearly busier than the least busy other runtime: by 2 connections
    /// and a quarter (short connections come and go; only lasting
    /// imbalance matters).
    fn busier_than_another(&self, me: usize) -> bool {
        let mine = self.0.get(me).map_or(0, |l| l.load(Ordering::Relaxed));
        let least = self
            .0
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != me)
            .map(|(_, l)| l.load(Ordering::Relaxed))
            .min();
        least.is_some_and(|least| mine >= least + (least / 4).max(2))
    }
}

/// Counts one connection on runtime `me` while alive.
struct LoadGuard(Arc<Loads>, usize);

impl LoadGuard {
    fn new(loads: Arc<Loads>, me: usize) -> Self {
        if let Some(l) = loads.0.get(me) {
            l.fetch_add(1, Ordering::Relaxed);
        }
        LoadGuard(loads, me)
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if let Some(l) = self.0 .0.get(self.1) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    vip: SocketAddr,
    core: Shared,
    opts: Arc<Options>,
    loads: Arc<Loads>,
    me: usize,
) {
    let svc_traffic = lock(&core).traffic();
    loop {
        // All runtimes wake for a new connection and the first to call
        // accept() takes it; without this, one thread would take a whole
        // burst of long connections while the other idles.
        if loads.busier_than_another(me) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        match listener.accept().await {
            Ok((client, peer)) => {
                let load = LoadGuard::new(loads.clone(), me);
                tokio::spawn(handle(
                    client,
                    peer,
                    vip,
                    core.clone(),
                    svc_traffic.clone(),
                    opts.clone(),
                    load,
                ));
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

/// Close with RST, as the client of a failed IPVS connection sees it.
fn reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    vip: SocketAddr,
    core: Shared,
    svc_traffic: Arc<Traffic>,
    opts: Arc<Options>,
    _load: LoadGuard,
) {
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
    guard.established();

    // Milliseconds since `epoch` of the last bytes moved either way.
    let epoch = Instant::now();
    let last = AtomicU64::new(0);
    let seen = || last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
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
        let quiet_since = epoch + Duration::from_millis(last.load(Ordering::Relaxed));
        let r = tokio::select! {
            r = &mut upstream, if !up_done => { up_done = true; r }
            r = &mut downstream, if !down_done => { down_done = true; r }
            _ = tokio::time::sleep_until((quiet_since + idle_limit).into()) => {
                let quiet_for = Instant::now().saturating_duration_since(
                    epoch + Duration::from_millis(last.load(Ordering::Relaxed)),
                );
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
