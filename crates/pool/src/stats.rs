//! What the pool reports: [`Status`] (counts now), [`Stats`] (cumulative counters),
//! [`PoolEvent`] and [`RemoveReason`].

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
    /// Connections closed because their reset failed, timed out or could not run.
    pub closed_reset_failed: u64,
    /// Connections closed because the pool was shrunk by `resize`.
    pub closed_resized: u64,
    /// Connections closed because the pool was closing or closed.
    pub closed_close: u64,
    /// Connections taken out of the pool with [`Pooled::take`](crate::Pooled::take).
    pub taken: u64,
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
    /// A health check failed; the connection is being closed.
    CheckFailed {
        /// The manager's error.
        error: &'a (dyn std::error::Error + Send + Sync + 'static),
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
