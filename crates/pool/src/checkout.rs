//! Checking a connection out: the hot path ([`Shared::fast_checkout`]), the acquire loop
//! ([`Shared::acquire`]: the probe, the bounded health check, and another try within the same
//! deadline after a dead, failed or expired connection), and the [`Checkout`] future, which
//! takes an idle connection or waits in the queue for a hand-off.
//!
//! A waiter registers no timer of its own: its deadline goes into a heap in `State` that the
//! pool's background task watches, and an expired waiter is served [`Handoff::TimedOut`]
//! through its slot like any other hand-off. Only when that task is not running (its runtime
//! was shut down while the pool lives on) does a waiter keep a timer of its own, and the task is
//! restarted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Sleep, timeout_at};

use crate::clock::{Nanos, nanos};
use crate::error::{Error, Phase};
use crate::guard::Pooled;
use crate::internals::{Back, Deadline, Live, Source, Step, Vet, Wait};
use crate::manager::Manager;
use crate::shared::Shared;
use crate::stats::{PoolEvent, RemoveReason};
use crate::waiters::{Handoff, WaiterKey};

type HandoffOf<M> = Handoff<<M as Manager>::Connection, <M as Manager>::Error>;
/// What a [`Checkout`] ends with.
type Outcome<M> = Result<Got<<M as Manager>::Connection>, Error<<M as Manager>::Error>>;

impl<M: Manager> Shared<M> {
    /// The hot path, a plain function so nothing is moved through futures: under one short
    /// lock, take the most recently returned idle connection if it needs neither a check nor
    /// retirement ([`State::take_ready`](crate::internals::State::take_ready)), and probe it
    /// after unlocking if it sat idle. Anything else (including a connection the probe found
    /// dead, which is closed) is left to [`Shared::acquire`].
    #[inline]
    pub(crate) fn fast_checkout(self: &Arc<Self>) -> Option<Pooled<M>> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        let mut vet = Vet::Ready;
        let live = self.with_state(|st| st.take_ready(&self.clock, &mut vet))?;
        let mut guard = Pooled::new(Arc::clone(self), live);
        if vet == Vet::Probe && self.manager.is_dead(guard.conn_mut()) {
            guard.discard(RemoveReason::Dead);
            return None;
        }
        self.emit(&PoolEvent::Acquired {
            wait: Duration::ZERO,
        });
        Some(guard)
    }

    /// Every acquire off the hot path: a [`Checkout`] (take an idle connection, join the queue
    /// and wait for a hand-off, or fail at once), then the probe and the health check if the
    /// connection needs them; a dead connection, a failed check or an expired connection
    /// starts over within the same deadline.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        timeout: Duration,
        wait: Wait,
    ) -> Result<Pooled<M>, Error<M::Error>> {
        // Off the hot path the caller will most likely wait (or check a connection): fix the
        // deadline now, so the clock is not read with the lock held.
        let now = self.clock.now();
        let deadline = Deadline {
            start: now,
            at: now.checked_add(nanos(timeout)),
        };
        loop {
            // Cancellation safety: dropping `Checkout` unlinks its waiter in O(1) and passes on
            // a connection it was handed but had not collected.
            let got = Checkout {
                shared: self,
                wait,
                deadline,
                timeout,
                waiting: None,
                fallback: None,
            }
            .await?;
            let idle_since = got.live.idle_since;
            let mut guard = Pooled::new(Arc::clone(self), got.live);
            if got.vet != Vet::Ready && self.manager.is_dead(guard.conn_mut()) {
                guard.discard(RemoveReason::Dead);
                continue;
            }
            if got.vet == Vet::Check {
                // Boxed: checks are rare (a connection idle past `check_after_idle`), and the
                // check's future with its timer, inline, made every `get` future 784 bytes
                // instead of 240, which callers move. A/B (docs/pool.md, median of 4 runs):
                // enqueue + cancel with 1,000 parked 1.03x deadpool's time boxed, 1.10x inline.
                let check = Box::pin(self.check(guard, idle_since, deadline, timeout));
                match check.await? {
                    Some(checked) => guard = checked,
                    None => continue,
                }
            }
            self.emit(&PoolEvent::Acquired { wait: got.waited });
            return Ok(guard);
        }
    }

    /// Health-checks the connection in `guard` within `check_timeout` or the acquire's
    /// deadline, whichever comes first. `Ok(None)` means the check failed or ran out of
    /// `check_timeout` and the connection was closed: try again. Only the acquire's deadline
    /// running out fails the caller (a [`Phase::Checking`] timeout).
    ///
    /// A check that ran out of `check_timeout` (a silent peer, not an error) also evicts the
    /// idle connections that sat idle at least as long as this one (`idle_since`): they most
    /// likely crossed the same network event, so the caller's next try is a fresh connect
    /// rather than another `check_timeout` on the next stale connection.
    async fn check(
        self: &Arc<Self>,
        mut guard: Pooled<M>,
        idle_since: Nanos,
        deadline: Deadline,
        timeout: Duration,
    ) -> Result<Option<Pooled<M>>, Error<M::Error>> {
        let check_timeout = self.config.check_timeout;
        let check_by = self.clock.now().saturating_add(nanos(check_timeout));
        let (until, acquire_bound) = match deadline.at {
            Some(at) if at <= check_by => (at, true),
            _ => (check_by, false),
        };
        guard.verified = false;
        let check = self.manager.check(guard.conn_mut());
        // Cancellation safety: the connection is inside `guard`; if this future is dropped the
        // guard's `Drop` returns it unverified (so the next caller checks it again) or resets
        // it if the manager says it is dirty.
        let result = timeout_at(self.clock.instant(until), check).await;
        match result {
            Ok(Ok(())) => {
                guard.verified = true;
                Ok(Some(guard))
            }
            Ok(Err(e)) => {
                self.emit(&PoolEvent::CheckFailed { error: &e });
                guard.discard(RemoveReason::CheckFailed);
                Ok(None)
            }
            Err(_) if acquire_bound => {
                guard.discard(RemoveReason::CheckFailed);
                let status = self.with_state(|st| st.status());
                Err(self.timeout_error(Phase::Checking, timeout, status))
            }
            Err(_) => {
                let error = CheckTimedOut(check_timeout);
                self.emit(&PoolEvent::CheckFailed { error: &error });
                guard.discard(RemoveReason::CheckFailed);
                let evicted = self.with_state(|st| st.evict_idle_since(idle_since));
                self.finish(evicted);
                Ok(None)
            }
        }
    }
}

/// The error a [`PoolEvent::CheckFailed`] carries when the check ran out of `check_timeout`.
#[derive(Debug)]
struct CheckTimedOut(Duration);

impl std::fmt::Display for CheckTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "health check timed out after {:?} (check_timeout)",
            self.0
        )
    }
}

impl std::error::Error for CheckTimedOut {}

/// A connection a [`Checkout`] got, counted in use, and what it needs before it is handed out.
struct Got<C> {
    live: Live<C>,
    vet: Vet,
    /// Time spent in the queue (zero when a connection was idle).
    waited: Duration,
}

/// One checkout as a future: the first poll takes an idle connection, fails, or joins the queue
/// (one lock in every case); later polls collect the hand-off from the waiter's slot (one lock
/// each).
struct Checkout<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    wait: Wait,
    deadline: Deadline,
    /// The timeout the caller asked for, for its error.
    timeout: Duration,
    /// The queue slot, while queued.
    waiting: Option<WaiterKey>,
    /// The waiter's own deadline timer, only when the background task was not running.
    fallback: Option<Pin<Box<Sleep>>>,
}

impl<M: Manager> Future for Checkout<'_, M> {
    type Output = Outcome<M>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.shared;
        let Some(key) = this.waiting else {
            loop {
                let step = shared.with_state(|st| {
                    st.checkout(&shared.clock, this.wait, this.deadline, cx.waker())
                });
                match step {
                    Step::Idle(live, vet) => {
                        return Poll::Ready(Ok(Got {
                            live,
                            vet,
                            waited: Duration::ZERO,
                        }));
                    }
                    Step::Expired(live, plan) => {
                        shared.close_conn(live.conn, RemoveReason::MaxLifetime);
                        shared.spawn_connects(plan);
                    }
                    Step::Refused(error, plan) => {
                        shared.spawn_connects(plan);
                        match &error {
                            Error::QueueFull { .. } => {
                                tracing::warn!("acquire rejected: too many waiters");
                            }
                            Error::Connect(_) | Error::Unreachable { .. } => {
                                tracing::debug!(%error, "acquire failed fast: the breaker is open");
                            }
                            _ => {}
                        }
                        return Poll::Ready(Err(error));
                    }
                    Step::Queued {
                        key,
                        plan,
                        pool_timer,
                    } => {
                        this.waiting = Some(key);
                        if !shared.busy.load(Ordering::Relaxed) {
                            shared.busy.store(true, Ordering::Relaxed);
                        }
                        shared.spawn_connects(plan);
                        if !pool_timer {
                            shared.revive_background();
                            if let Some(at) = this.deadline.at {
                                let sleep = tokio::time::sleep_until(shared.clock.instant(at));
                                this.fallback = Some(Box::pin(sleep));
                            }
                        }
                        return this.poll_fallback(cx);
                    }
                }
            }
        };
        if let Some(handoff) = shared.with_state(|st| st.collect(key, cx.waker())) {
            this.waiting = None;
            return Poll::Ready(this.handed(handoff));
        }
        // Polled without a hand-off: a spurious poll, or the background task that watches this
        // waiter's deadline is gone (its runtime shut down and the drop woke every waiter).
        // Restart it if so; the deadline is still in the heap it reads.
        if this.fallback.is_none() {
            shared.revive_background();
        }
        this.poll_fallback(cx)
    }
}

impl<M: Manager> Checkout<'_, M> {
    /// What the waiter's hand-off means for the caller.
    fn handed(&self, handoff: HandoffOf<M>) -> Outcome<M> {
        let shared = self.shared;
        match handoff {
            Handoff::Conn(live) => {
                let now = shared.clock.now();
                let waited = now.saturating_sub(self.deadline.start);
                shared.waits.record(waited);
                let vet = live.vet(now, shared.check_after, Source::HandOff);
                Ok(Got {
                    live,
                    vet,
                    waited: Duration::from_nanos(waited),
                })
            }
            Handoff::Failed(error) => {
                if let Error::Connect(e) = &error {
                    tracing::warn!(error = %e, "acquire failed: a permanent connect error");
                }
                Err(error)
            }
            Handoff::TimedOut(status) => {
                Err(shared.timeout_error(Phase::Waiting, self.timeout, status))
            }
        }
    }

    /// Polls the waiter's own timer, if it has one; when it fires, leaves the queue (taking a
    /// hand-off that raced with the timer, if any).
    fn poll_fallback(&mut self, cx: &mut Context<'_>) -> Poll<Outcome<M>> {
        let Some(sleep) = self.fallback.as_mut() else {
            return Poll::Pending;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let Some(key) = self.waiting.take() else {
            return Poll::Pending;
        };
        let left = self.shared.with_state(|st| st.leave(key));
        Poll::Ready(self.handed(left.handoff.unwrap_or(Handoff::TimedOut(left.status))))
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        let Some(key) = self.waiting.take() else {
            return;
        };
        // The connects planned for this waiter keep running; they serve the next waiter or go
        // idle, so nothing is cancelled here.
        let left = self.shared.with_state(|st| st.leave(key));
        if let Some(Handoff::Conn(live)) = left.handoff {
            // The connection was handed to us but never collected: pass it on unchanged.
            self.shared.give_back(live, Back::PassedOn);
        }
    }
}
