//! What the pool reports: [`Status`] (counts now, and whether the breaker is open), [`Stats`]
//! (cumulative counters), [`PoolEvent`] and [`RemoveReason`]; and how it counts them: most
//! counters under the pool lock (`Counters`, in `State`, so they cost no atomic operation),
//! those of callers that waited in atomics (`WaitCounters`), since a woken waiter collects its
//! connection without the pool lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The pool's counts at one moment, taken under one short lock.
///
/// `size == idle + in_use + connecting`. Connections being reset after a dirty return count as
/// `in_use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Status {
    /// The current bound on `size` (changed by [`resize`](crate::Pool::resize)).
    pub max_size: usize,
    /// Connections open or being opened.
    pub size: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Connections checked out, handed to a waiter, or being reset.
    pub in_use: usize,
    /// Connects in flight (including ones backing off after a failure).
    pub connecting: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// The breaker is open: connects have been failing with no idle connection, and callers
    /// that would need a new connection may be failed at once (see
    /// [`breaker_threshold`](crate::Config::breaker_threshold)).
    pub breaker_open: bool,
}

/// Cumulative counters since the pool was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Connections handed out by `get`/`try_get` (one that then fails its health check counts
    /// too, and the acquire moves on).
    pub gets: u64,
    /// Of those, how many had to wait in the queue.
    pub gets_waited: u64,
    /// Acquires that timed out.
    pub timeouts: u64,
    /// Acquires rejected because `max_waiters` callers were waiting.
    pub rejected_queue_full: u64,
    /// Acquires failed at once because the breaker was open and no connection was idle
    /// ([`Error::Unreachable`](crate::Error::Unreachable), or
    /// [`Error::Connect`](crate::Error::Connect) after a permanent connect error).
    pub rejected_unreachable: u64,
    /// Waiting callers failed at once with [`Error::Connect`](crate::Error::Connect) because a
    /// connect meant to serve them failed with a permanent error.
    pub failed_connect: u64,
    /// Connections opened.
    pub connections_created: u64,
    /// Connects that failed or timed out.
    pub connect_errors: u64,
    /// Connections closed because the manager reported them broken on return.
    pub closed_broken: u64,
    /// Connections closed because they sat idle past `idle_timeout`.
    pub closed_idle: u64,
    /// Connections closed because they were past `max_lifetime`.
    pub closed_lifetime: u64,
    /// Connections closed because their health check failed or timed out.
    pub closed_check_failed: u64,
    /// Connections closed because [`Manager::is_dead`](crate::Manager::is_dead) found them
    /// dead before they were handed out.
    pub closed_dead: u64,
    /// Connections closed because their reset failed, timed out or could not run.
    pub closed_reset_failed: u64,
    /// Connections closed because the pool was shrunk by `resize`.
    pub closed_resized: u64,
    /// Connections closed because the pool was closing or closed.
    pub closed_close: u64,
    /// Connections taken out of the pool with [`Pooled::take`](crate::Pooled::take).
    pub taken: u64,
    /// Times the breaker opened.
    pub breaker_opened: u64,
    /// Times the breaker closed (a connect succeeded while it was open).
    pub breaker_closed: u64,
    /// Total time callers spent waiting in the queue.
    pub wait_time_total: Duration,
    /// Longest time one caller spent waiting in the queue.
    pub wait_time_max: Duration,
}

/// Why a connection left the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoveReason {
    /// The manager reported it broken on return.
    Broken,
    /// It sat idle past `idle_timeout`.
    IdleTimeout,
    /// It was past `max_lifetime`.
    MaxLifetime,
    /// Its health check failed or timed out.
    CheckFailed,
    /// [`Manager::is_dead`](crate::Manager::is_dead) found it dead before it was handed out.
    Dead,
    /// It needed a reset that failed, timed out or could not run.
    ResetFailed,
    /// The pool was shrunk below its size.
    Resized,
    /// The pool was closing or closed.
    Closed,
    /// The user took it out with [`Pooled::take`](crate::Pooled::take).
    Taken,
}

/// Something that happened in the pool, delivered to the observer set with
/// [`Builder::observer`](crate::Builder::observer) and to `tracing` (acquire and release at
/// trace level, connect and remove at info, failures at warn).
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolEvent<'a> {
    /// A connection was opened.
    Connected {
        /// How long the successful connect attempt took.
        duration: Duration,
    },
    /// A connect failed or timed out.
    ConnectFailed {
        /// The failure.
        error: &'a (dyn std::error::Error + Send + Sync + 'static),
        /// Consecutive failures so far, this one included.
        consecutive_failures: u32,
    },
    /// A health check failed or ran out of
    /// [`check_timeout`](crate::Config::check_timeout); the connection is being closed.
    CheckFailed {
        /// The manager's error, or one saying that the check timed out.
        error: &'a (dyn std::error::Error + Send + Sync + 'static),
    },
    /// The breaker opened: connects kept failing with no idle connection (or one failed with a
    /// permanent error), so callers that would need a new connection are failed at once.
    BreakerOpened {
        /// The failure that opened it.
        error: &'a (dyn std::error::Error + Send + Sync + 'static),
        /// Consecutive failures so far, this one included.
        consecutive_failures: u32,
    },
    /// The breaker closed: a connect succeeded.
    BreakerClosed {
        /// How long it was open.
        open_for: Duration,
    },
    /// A caller got a connection.
    Acquired {
        /// Time spent waiting in the queue (zero when a connection was idle).
        wait: Duration,
    },
    /// A connection came back to the pool (to idle or to a waiter).
    Released,
    /// A connection left the pool.
    Removed {
        /// Why.
        reason: RemoveReason,
    },
}

/// Cumulative counters kept under the lock (so they cost no atomic operations).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) gets: u64,
    pub(crate) rejected_queue_full: u64,
    pub(crate) created: u64,
    pub(crate) connect_errors: u64,
    pub(crate) closed_broken: u64,
    pub(crate) closed_idle: u64,
    pub(crate) closed_lifetime: u64,
    pub(crate) closed_check_failed: u64,
    pub(crate) closed_dead: u64,
    pub(crate) closed_reset_failed: u64,
    pub(crate) closed_resized: u64,
    pub(crate) closed_close: u64,
    pub(crate) taken: u64,
    pub(crate) rejected_unreachable: u64,
    pub(crate) failed_connect: u64,
    pub(crate) breaker_opened: u64,
    pub(crate) breaker_closed: u64,
}

impl Counters {
    pub(crate) fn count_removal(&mut self, reason: RemoveReason) {
        let c = match reason {
            RemoveReason::Broken => &mut self.closed_broken,
            RemoveReason::IdleTimeout => &mut self.closed_idle,
            RemoveReason::MaxLifetime => &mut self.closed_lifetime,
            RemoveReason::CheckFailed => &mut self.closed_check_failed,
            RemoveReason::Dead => &mut self.closed_dead,
            RemoveReason::ResetFailed => &mut self.closed_reset_failed,
            RemoveReason::Resized => &mut self.closed_resized,
            RemoveReason::Closed => &mut self.closed_close,
            RemoveReason::Taken => &mut self.taken,
        };
        *c += 1;
    }
}

/// Counters of callers that waited, updated outside the lock by the woken caller. (They were
/// striped by thread, each stripe on cache lines of its own, with the pool lock padded too: the
/// A/B in docs/pool.md measured the contended throughput at 0.94x deadpool's striped and 0.95x
/// plain, so they are plain.)
#[derive(Debug, Default)]
pub(crate) struct WaitCounters {
    gets_waited: AtomicU64,
    timeouts: AtomicU64,
    wait_nanos_total: AtomicU64,
    wait_nanos_max: AtomicU64,
}

impl WaitCounters {
    /// A caller got a connection after waiting `nanos`.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        self.gets_waited.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        self.wait_nanos_max.fetch_max(nanos, Ordering::Relaxed);
    }

    pub(crate) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

impl Stats {
    /// The public counters from the ones kept under the lock and the waiters' atomics.
    pub(crate) fn from_parts(c: &Counters, waits: &WaitCounters) -> Self {
        let gets_waited = waits.gets_waited.load(Ordering::Relaxed);
        Stats {
            gets: c.gets + gets_waited,
            gets_waited,
            timeouts: waits.timeouts.load(Ordering::Relaxed),
            rejected_queue_full: c.rejected_queue_full,
            connections_created: c.created,
            connect_errors: c.connect_errors,
            closed_broken: c.closed_broken,
            closed_idle: c.closed_idle,
            closed_lifetime: c.closed_lifetime,
            closed_check_failed: c.closed_check_failed,
            closed_dead: c.closed_dead,
            closed_reset_failed: c.closed_reset_failed,
            closed_resized: c.closed_resized,
            closed_close: c.closed_close,
            taken: c.taken,
            rejected_unreachable: c.rejected_unreachable,
            failed_connect: c.failed_connect,
            breaker_opened: c.breaker_opened,
            breaker_closed: c.breaker_closed,
            wait_time_total: Duration::from_nanos(waits.wait_nanos_total.load(Ordering::Relaxed)),
            wait_time_max: Duration::from_nanos(waits.wait_nanos_max.load(Ordering::Relaxed)),
        }
    }
}
