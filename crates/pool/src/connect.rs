//! The connect task: opens one connection for a slot reserved by the spike rule
//! ([`State::plan_connects`](crate::internals::State::plan_connects)), retrying with backoff
//! while it is still needed.
//!
//! Connects run in tasks of their own, never in a caller's future: a caller that gives up never
//! cancels a connect the next caller needs, and a finished connect serves the oldest waiter
//! (else goes idle). Whether a failed attempt retries, and how soon, is decided under the lock by
//! [`State::connect_failed`](crate::internals::State::connect_failed): exponential backoff from
//! `backoff_base` with full jitter, or the slow interval (half to whole `backoff_max`) after a
//! permanent error or while the breaker is open (this task is then its probe).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;

use crate::clock::{Nanos, nanos};
use crate::config::Config;
use crate::error::ConnectError;
use crate::internals::{ConnectPlan, Live};
use crate::manager::{ErrorClass, Manager};
use crate::shared::Shared;
use crate::stats::PoolEvent;

impl<M: Manager> Shared<M> {
    /// Spawns the connects reserved by `plan`.
    pub(crate) fn spawn_connects(self: &Arc<Self>, plan: ConnectPlan) {
        for _ in 0..plan.count {
            let slot = ConnectSlot {
                shared: Arc::clone(self),
                armed: true,
            };
            self.spawn(run_connect(slot, plan));
        }
    }
}

/// A reserved connect slot (counted in `size` and `connecting`). Dropping it armed (the connect
/// task panicked or was dropped with its runtime) gives the slot back and asks the background
/// task to re-plan, rather than spawning from inside `Drop`.
#[must_use]
struct ConnectSlot<M: Manager> {
    shared: Arc<Shared<M>>,
    armed: bool,
}

impl<M: Manager> Drop for ConnectSlot<M> {
    fn drop(&mut self) {
        if self.armed {
            if self.shared.with_state(|st| st.release_connect_slot()) {
                self.shared.drained.notify_waiters();
            }
            self.shared.request_maintenance();
        }
    }
}

/// Opens one connection for a reserved slot, retrying while it is still needed.
async fn run_connect<M: Manager>(mut slot: ConnectSlot<M>, plan: ConnectPlan) {
    let shared = Arc::clone(&slot.shared);
    let mut delay = retry_delay(&shared.config, plan.failures, plan.slow);
    loop {
        if !delay.is_zero() {
            // Cancellation safety: the slot is released by `ConnectSlot::drop`.
            tokio::time::sleep(delay).await;
        }
        let started = shared.clock.now();
        let connect_timeout = shared.config.connect_timeout;
        // Cancellation safety: as above; a half-opened connection is dropped by the manager's
        // future.
        let result = timeout(connect_timeout, shared.manager.connect()).await;
        let now = shared.clock.now();
        let error = match result {
            Ok(Ok(conn)) => {
                let live = new_live(&shared.config, conn, now);
                let connected = shared.with_state(|st| st.connect_succeeded(live, now));
                slot.armed = false;
                shared.spawn_connects(connected.plan);
                shared.emit(&PoolEvent::Connected {
                    duration: Duration::from_nanos(now.saturating_sub(started)),
                });
                if let Some(open_for) = connected.reopened {
                    shared.emit(&PoolEvent::BreakerClosed {
                        open_for: Duration::from_nanos(open_for),
                    });
                }
                let _ = shared.settle(connected.returned);
                return;
            }
            Ok(Err(e)) => match shared.manager.error_class(&e) {
                ErrorClass::Transient => ConnectError::Failed(Arc::new(e)),
                ErrorClass::Permanent => ConnectError::Permanent(Arc::new(e)),
            },
            Err(_) => ConnectError::TimedOut(connect_timeout),
        };
        let after = shared.with_state(|st| st.connect_failed(&error, now));
        if !after.retry {
            slot.armed = false;
        }
        for w in after.wake {
            w.wake();
        }
        shared.emit(&PoolEvent::ConnectFailed {
            error: &error,
            consecutive_failures: after.failures,
        });
        if after.opened {
            shared.emit(&PoolEvent::BreakerOpened {
                error: &error,
                consecutive_failures: after.failures,
            });
        }
        if after.drained {
            shared.drained.notify_waiters();
        }
        if !after.retry {
            return;
        }
        delay = retry_delay(&shared.config, after.failures, after.slow);
    }
}

/// The delay before a connect attempt after `failures` failures in a row: the slow interval if
/// `slow` (a permanent error, or the breaker's probe), else the backoff.
fn retry_delay(config: &Config, failures: u32, slow: bool) -> Duration {
    if slow {
        // Half to whole backoff_max: slow, but still spread over the pools that failed
        // together.
        return config.backoff_max.mul_f64(0.5 + 0.5 * fastrand::f64());
    }
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << (failures - 1).min(20));
    let cap = exp.min(config.backoff_max);
    // Full jitter: anywhere between zero and the capped exponential delay.
    cap.mul_f64(fastrand::f64())
}

/// A new connection opened at `now`, with its lifetime deadline shortened by a random jitter
/// (see [`Config::max_lifetime`]).
fn new_live<C>(config: &Config, conn: C, now: Nanos) -> Live<C> {
    let expires_at = config.max_lifetime.map_or(Nanos::MAX, |lifetime| {
        let jitter = Config::lifetime_jitter(lifetime).mul_f64(fastrand::f64());
        now.saturating_add(nanos(lifetime.saturating_sub(jitter)))
    });
    Live {
        conn,
        created_at: now,
        expires_at,
        idle_since: now,
    }
}
