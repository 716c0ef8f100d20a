//! The pool's time: nanoseconds since the pool was built, read from tokio's clock (so paused time
//! in tests applies to the pool too).
//!
//! # Why a coarse clock
//!
//! Reading the clock is the single largest cost of an uncontended checkout: on the 2-core VMs we
//! measure on, one `clock_gettime` takes about 30 ns, and a get + drop that stamps the connection
//! on both ends spent 60 of its 130 ns there (see docs/pool.md). The decisions the hot path makes
//! with the time do not need nanoseconds: "has this connection sat idle longer than
//! `check_after_idle` (500 ms)?", "is it past `max_lifetime` (30 min)?", "when did it become
//! idle?". So the hot path reads `State::now`, the latest reading anyone took, instead of the
//! clock, as long as the pool's background task keeps that reading fresh: while the pool is in
//! use it ticks every `Config::clock_tick()` (a fifth of `check_after_idle`, 5 to 100 ms), and it
//! stops ticking after one tick with no use, so an idle pool costs no wakeups. The first checkout after a quiet spell reads the real clock and starts the ticks
//! again. This is the idea of Envoy's per-loop cached time and of the kernel's coarse clocks,
//! scoped to the pool.
//!
//! What that costs in accuracy, and in which direction:
//! - an idle stamp can be up to one tick older than the real return time, so a connection may
//!   be checked slightly *sooner* than `check_after_idle` says, and reaped up to one tick before
//!   `idle_timeout` (the reaper wakes at the idle deadlines it knew of at its last pass, and
//!   reaps a connection that went idle since then at a later pass, so it was never exact);
//! - a checkout can see `now` up to one tick behind, so a connection idle for slightly more than
//!   `check_after_idle` may skip its check once, and one just past `max_lifetime` may be used
//!   once more (the background task retires it at its deadline, with a real reading).
//!
//! Deadlines are never computed from the coarse reading: a caller that has to wait reads the
//! real clock, so an acquire never times out early.

use std::time::Duration;

use tokio::time::Instant;

/// A point in pool time: nanoseconds since the pool was built.
pub(crate) type Nanos = u64;

/// Converts a duration to pool nanoseconds, saturating (584 years).
#[inline]
pub(crate) fn nanos(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The pool's clock: tokio's clock, read relative to the pool's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Reads the real clock.
    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        nanos(Instant::now().saturating_duration_since(self.epoch))
    }

    /// The instant a pool time stands for (for tokio timers).
    pub(crate) fn instant(&self, at: Nanos) -> Instant {
        self.epoch
            .checked_add(Duration::from_nanos(at))
            .unwrap_or_else(|| self.epoch + Duration::from_secs(86_400 * 365 * 30))
    }
}
