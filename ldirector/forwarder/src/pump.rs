//! Moving one direction of a TCP connection: splice(2) through a pipe
//! (socket -> pipe -> socket, the bytes never enter userspace), or a plain
//! read/write loop where splice is not available.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// One splice call moves at most this much: the pipe's capacity. Each skb
/// fragment takes a pipe slot, so a default 16-slot pipe often moves far
/// less than 64 KiB per call; 128 KiB (32 slots) keeps calls few while a
/// connection's turn (see [`Fair`]) stays short.
const CHUNK: usize = 128 * 1024;
/// Empty pipes kept for reuse: creating one is two syscalls and two fds.
const POOL_MAX: usize = 256;

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

/// Idle pipes held for reuse (each is two fds).
pub fn pooled_pipes() -> usize {
    crate::lock(&POOL).len()
}

struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
}

impl Pipe {
    fn get() -> io::Result<Pipe> {
        if let Some(p) = crate::lock(&POOL).pop() {
            return Ok(p);
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two fds into the array we own.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just created and are owned by nobody else.
        let p = unsafe {
            Pipe {
                r: OwnedFd::from_raw_fd(fds[0]),
                w: OwnedFd::from_raw_fd(fds[1]),
            }
        };
        // A smaller pipe (per-user pipe memory limits) still works.
        // SAFETY: fcntl on an fd we own.
        unsafe { libc::fcntl(p.w.as_raw_fd(), libc::F_SETPIPE_SZ, CHUNK as libc::c_int) };
        Ok(p)
    }

    /// Back to the pool; only called when the pipe is known to be empty.
    fn put(self) {
        let mut pool = crate::lock(&POOL);
        if pool.len() < POOL_MAX {
            pool.push(self);
        }
    }
}

/// Yields to the other connections on this thread every [`CHUNK`] bytes:
/// as long as a socket stays readable, tokio would otherwise let one bulk
/// transfer move tens of megabytes before anything else runs.
#[derive(Default)]
struct Fair(usize);

impl Fair {
    async fn moved(&mut self, n: usize) {
        self.0 += n;
        if self.0 >= CHUNK {
            self.0 = 0;
            tokio::task::yield_now().await;
        }
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall on fds that outlive the call; null offsets.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Pass a FIN on. The direction that finishes last skips it: both sockets
/// are closed right after, and close() sends that FIN (everything was read,
/// so it is not a reset) for one syscall less per connection.
fn shutdown_write(s: &TcpStream, eofs: &AtomicU8) {
    if eofs.fetch_add(1, Ordering::AcqRel) == 0 {
        // ENOTCONN when the peer already reset: nothing left to tell it.
        let _ = socket2::SockRef::from(s).shutdown(std::net::Shutdown::Write);
    }
}

/// Copy `src` to `dst` until `src`'s FIN, which is passed on (`dst` shut
/// down for writing); `count` sees the size of each read. `eofs` is shared
/// by the two directions of one connection.
pub(crate) async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    use_splice: bool,
    eofs: &AtomicU8,
    count: impl Fn(usize),
) -> io::Result<()> {
    if use_splice {
        match pump_splice(src, dst, eofs, &count).await {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            r => return r,
        }
    }
    pump_copy(src, dst, eofs, &count).await
}

async fn pump_splice(
    src: &TcpStream,
    dst: &TcpStream,
    eofs: &AtomicU8,
    count: &impl Fn(usize),
) -> io::Result<()> {
    // No pipe until there is something to move: many connections only
    // ever carry data one way at a time.
    src.readable().await?;
    let pipe = Pipe::get()?;
    let mut fair = Fair::default();
    let (sfd, dfd) = (src.as_raw_fd(), dst.as_raw_fd());
    loop {
        let n = loop {
            src.readable().await?;
            match src.try_io(Interest::READABLE, || {
                splice(sfd, pipe.w.as_raw_fd(), CHUNK)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            shutdown_write(dst, eofs);
            pipe.put();
            return Ok(());
        }
        count(n);
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || splice(pipe.r.as_raw_fd(), dfd, left)) {
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        fair.moved(n).await;
    }
}

async fn pump_copy(
    src: &TcpStream,
    dst: &TcpStream,
    eofs: &AtomicU8,
    count: &impl Fn(usize),
) -> io::Result<()> {
    // Most connections move a few KiB: grow to CHUNK only once a read
    // fills the buffer, and allocate nothing for a direction never used.
    src.readable().await?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut fair = Fair::default();
    loop {
        src.readable().await?;
        let n = match src.try_read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            shutdown_write(dst, eofs);
            return Ok(());
        }
        count(n);
        let grow = n == buf.len() && buf.len() < CHUNK;
        let mut off = 0;
        while off < n {
            dst.writable().await?;
            match dst.try_write(buf.get(off..n).unwrap_or_default()) {
                Ok(m) => off += m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        fair.moved(n).await;
        if grow {
            buf.resize(CHUNK, 0);
        }
    }
}
