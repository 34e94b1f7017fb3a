//! [`DeadlineTimer`]: the event loop's one deadline, on a Linux timerfd.
//!
//! tokio's `Sleep` would do, but the loop re-arms it after every expiry,
//! when tokio's timer wheel is empty: the new deadline is then "earlier than
//! anything scheduled", and tokio wakes its own driver for it (an eventfd
//! write and one more `epoll_wait`). At keepalive 10 ms that is a tenth of
//! an idle node's syscalls. A timerfd is one `timerfd_settime` per re-arm and
//! one readable descriptor in the same epoll set as the sockets.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// `AsyncFd` wants `AsRawFd`; nix's `TimerFd` only offers `AsFd`.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer at an absolute [`Instant`]. Must be made inside a tokio
/// runtime.
pub struct DeadlineTimer {
    fd: AsyncFd<Fd>,
    /// What is armed, until it is reported expired.
    deadline: Cell<Option<Instant>>,
}

impl DeadlineTimer {
    pub fn new() -> io::Result<Self> {
        // std's `Instant` is CLOCK_MONOTONIC on Linux: the same clock.
        let tfd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: `Fd` owns the descriptor, which stays open and the same
        // until the `AsyncFd` (which owns `Fd`) is dropped; we never swap it.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(tfd), Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self {
            fd,
            deadline: Cell::new(None),
        })
    }

    /// Fire at `deadline` (at once if it has passed), or never with `None`.
    /// Replaces whatever was armed, including an expiry not yet waited for.
    pub fn arm(&self, deadline: Option<Instant>) -> io::Result<()> {
        let tfd = &self.fd.get_ref().0;
        self.deadline.set(None);
        let Some(deadline) = deadline else {
            return Ok(tfd.unset()?);
        };
        // `Instant` does not expose its timespec: map it through a reading
        // of both clocks. `Instant` is read first, so the mapped deadline can
        // only be late (by the nanoseconds between the two reads), never
        // early, which would cost a wakeup that finds nothing due.
        let inst_now = Instant::now();
        let mono_now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?;
        let ahead = deadline.saturating_duration_since(inst_now);
        let at = Duration::from(mono_now).saturating_add(ahead);
        // A zero it_value disarms the timer; a monotonic clock past boot is
        // never zero, but make sure.
        let at = at.max(Duration::from_nanos(1));
        tfd.set(
            Expiration::OneShot(TimeSpec::from_duration(at)),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        self.deadline.set(Some(deadline));
        Ok(())
    }

    /// Resolves once the armed deadline has passed, once per `arm`
    /// (cancel-safe: the expiry is consumed only when this resolves).
    pub async fn expired(&self) {
        std::future::poll_fn(|cx| self.poll_expired(cx)).await
    }

    fn poll_expired(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "timerfd readiness error");
                    return Poll::Pending;
                }
                Poll::Pending => return Poll::Pending,
            };
            // No read(2) of the expiry count: the epoll registration is
            // edge-triggered and every `arm` resets the count, so the next
            // expiry is reported afresh anyway. The readiness seen here may
            // be from a deadline since replaced; the clock tells (the
            // mapping in `arm` errs late, so a real expiry always passes).
            guard.clear_ready();
            if self.deadline.get().is_some_and(|d| Instant::now() >= d) {
                self.deadline.set(None);
                return Poll::Ready(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test(flavor = "current_thread")]
    async fn fires_at_the_deadline_not_before() {
        let t = DeadlineTimer::new().unwrap();
        let deadline = Instant::now() + Duration::from_millis(30);
        t.arm(Some(deadline)).unwrap();
        tokio::time::timeout(LIMIT, t.expired()).await.unwrap();
        assert!(Instant::now() >= deadline);
        // Once per arm: the expiry is not reported twice.
        let again = tokio::time::timeout(Duration::from_millis(50), t.expired()).await;
        assert!(again.is_err(), "one expiry reported twice");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_past_deadline_fires_at_once() {
        let t = DeadlineTimer::new().unwrap();
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        t.arm(Some(past)).unwrap();
        tokio::time::timeout(LIMIT, t.expired()).await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn rearming_replaces_a_pending_expiry_and_none_disarms() {
        let t = DeadlineTimer::new().unwrap();
        t.arm(Some(Instant::now())).unwrap();
        // Readable now; re-arming far out must drop that expiry.
        let far = Instant::now() + Duration::from_secs(3600);
        t.arm(Some(far)).unwrap();
        let probe = tokio::time::timeout(Duration::from_millis(50), t.expired()).await;
        assert!(probe.is_err(), "expiry survived a re-arm");
        t.arm(None).unwrap();
        let probe = tokio::time::timeout(Duration::from_millis(50), t.expired()).await;
        assert!(probe.is_err(), "disarmed timer fired");
        // And it still works after all that.
        let soon = Instant::now() + Duration::from_millis(10);
        t.arm(Some(soon)).unwrap();
        tokio::time::timeout(LIMIT, t.expired()).await.unwrap();
        assert!(Instant::now() >= soon);
    }
}
