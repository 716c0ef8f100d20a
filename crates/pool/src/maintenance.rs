//! The background task, one per pool, and its maintenance pass. It holds only a `Weak`
//! reference, so it never keeps the pool alive, and stops when the pool is closed or its shared
//! state is dropped.
//!
//! It does three jobs on one timer:
//! - **deadlines**: it wakes at the earliest waiter deadline and serves every waiter whose
//!   deadline passed with a timeout, so a waiting caller costs no timer of its own (a tokio timer
//!   per waiter was a fifth of the contended acquire's CPU time; see docs/pool.md);
//! - **clock**: while the pool is in use it stores a clock reading every tick, so checkouts and
//!   returns read that instead of the clock (`clock.rs`), and it stops ticking after a tick
//!   without use;
//! - **maintenance**: every `maintenance_interval`, at once when a connect task was lost, and at
//!   the earliest deadline among idle connections (`State::next_retire`: a lifetime, or an idle
//!   timeout known at the last pass), it retires idle connections past `max_lifetime`, reaps
//!   idle ones past `idle_timeout` down to `min_idle`, and refills to `min_idle`. Waking at each
//!   idle connection's own deadline keeps the lifetime jitter: connections opened together are
//!   retired apart, not together at the next pass.
//!
//! If the task's future is dropped without the pool closing (its runtime shut down while the pool
//! lives on in another), [`Alive`] marks it gone and wakes every waiter; the first to notice
//! restarts it on its own runtime.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

use crate::clock::{Nanos, nanos};
use crate::manager::Manager;
use crate::shared::Shared;

/// The task's future. The [`Alive`] guard is made here, outside the `async` block, so it is
/// dropped with the future even if the future is never polled (a runtime shut down right after
/// the pool was built).
pub(crate) fn run<M: Manager>(
    shared: Weak<Shared<M>>,
    wake: Arc<Notify>,
) -> impl Future<Output = ()> + Send + 'static {
    let alive = Alive {
        shared: shared.clone(),
    };
    async move {
        let _alive = alive;
        let mut next_pass: Nanos = 0;
        let mut wakers = Vec::new();
        loop {
            let sleep_until = {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let now = shared.clock.now();
                let tick = shared.with_state(|st| st.tick(now, &mut wakers));
                for w in wakers.drain(..) {
                    w.wake();
                }
                if tick.closed {
                    return;
                }
                let mut retire_at = tick.retire_at;
                let due =
                    now >= next_pass || shared.maintain_requested.swap(false, Ordering::AcqRel);
                if due || now >= retire_at {
                    retire_at = maintain(&shared, now);
                }
                if due {
                    next_pass = now.saturating_add(nanos(shared.config.maintenance_interval()));
                }
                // A connection going idle after this read with an earlier deadline pokes us.
                let mut at = next_pass.min(retire_at);
                if tick.ticking {
                    at = at.min(now.saturating_add(nanos(shared.config.clock_tick())));
                }
                if let Some(t) = tick.timer_at {
                    at = at.min(t);
                }
                shared.clock.instant(at)
            };
            tokio::select! {
                _ = tokio::time::sleep_until(sleep_until) => {}
                _ = wake.notified() => {}
            }
        }
    }
}

/// One maintenance pass: retire idle connections past `max_lifetime`, reap idle ones past
/// `idle_timeout` down to `min_idle`, refill to `min_idle` ([`State::reap`]). Returns when the
/// next idle connection is due (`Nanos::MAX` for none), for the task's next wake-up.
///
/// [`State::reap`]: crate::internals::State::reap
fn maintain<M: Manager>(shared: &Arc<Shared<M>>, now: Nanos) -> Nanos {
    let (reaped, next) = shared.with_state(|st| {
        let reaped = st.reap(now);
        (reaped, st.next_retire())
    });
    shared.finish(reaped);
    next
}

/// Marks the background task gone when its future is dropped, however that happens.
struct Alive<M: Manager> {
    shared: Weak<Shared<M>>,
}

impl<M: Manager> Drop for Alive<M> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut wakers = Vec::new();
        shared.with_state(|st| st.background_gone(&mut wakers));
        for w in wakers {
            w.wake();
        }
    }
}
