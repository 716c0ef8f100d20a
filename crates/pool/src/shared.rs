//! [`Shared`]: what every clone of a `Pool`, every guard and every pool task shares (the
//! manager, the settings, the one lock over [`State`], the background task's notifications, the
//! waiters' counters), and the side effects that follow a transition of `State`: waking,
//! spawning, closing connections, emitting events.
//!
//! Every lock of the pool's state is taken through [`Shared::with_state`], which checks the
//! invariant (in debug builds) before unlocking and then pokes the background task if the
//! locked code asked for it. Code here never changes a count itself: it locks, calls one of
//! `State`'s transitions, unlocks, and performs what the transition returned.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::clock::{Clock, Nanos, nanos};
use crate::config::{Config, Observer};
use crate::error::{Error, Phase, TimeoutError};
use crate::internals::{Back, Freed, Live, Removed, Returned, Settings, State};
use crate::manager::Manager;
use crate::stats::{PoolEvent, RemoveReason, Status, WaitCounters};
use crate::sync::Mutex;

/// The state every clone of a [`Pool`](crate::Pool), every guard and every pool task shares.
pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: Config,
    /// `check_after_idle` in pool nanoseconds, for connections handed over outside the lock.
    pub(crate) check_after: Option<Nanos>,
    /// One lock over all bookkeeping: critical sections are a few field updates, never an
    /// `.await`, and allocate only when a queue grows past its previous high-water mark, so one
    /// lock for all the counts is cheaper than splitting them and makes the invariant easy to
    /// check.
    state: Mutex<State<M::Connection, M::Error>>,
    pub(crate) clock: Clock,
    observer: Option<Observer>,
    /// The runtime the pool was built on, used when a task must be spawned from a thread that
    /// is not inside a runtime (a guard dropped elsewhere).
    runtime: Handle,
    /// Wakes the background task early: a deadline earlier than it planned for, the clock
    /// going live, or a maintenance pass wanted (see `maintain_requested`).
    pub(crate) background: Arc<Notify>,
    /// Set with a poke when the next background pass must run maintenance at once (a connect
    /// task that died).
    pub(crate) maintain_requested: AtomicBool,
    /// A hint, read without the lock: the last checkout found nothing idle and queued. While
    /// it is set, `get` skips the hot path's lock (which would find nothing) and goes straight
    /// to the queue. Set when a caller queues, cleared whenever a connection goes idle (by a
    /// return or a connect: both go through [`Shared::settle`]). A stale value costs one lock
    /// at most, never a connection: the queueing step takes an idle connection if there is one.
    /// A/B (`pool_overhead`, pools taking turns, median of 5 runs each, docs/pool.md): an
    /// enqueue and cancel with 1,000 parked took 1.03x deadpool's time with it, 1.13x without;
    /// contended throughput was 1.00x deadpool's with it, 0.98x without.
    pub(crate) busy: AtomicBool,
    /// Signalled when the pool reaches size 0 while closed.
    pub(crate) drained: Notify,
    /// Written by every caller that waited, outside the lock.
    pub(crate) waits: WaitCounters,
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // The background task holds only a `Weak`: poked, it finds the pool gone and stops.
        // Idle connections are dropped with the state, not closed gracefully: no runtime can
        // be relied on here.
        self.background.notify_one();
    }
}

impl<M: Manager> Shared<M> {
    pub(crate) fn new(
        manager: M,
        config: Config,
        observer: Option<Observer>,
        runtime: Handle,
    ) -> Self {
        Self {
            manager,
            check_after: config.check_after_idle.map(nanos),
            state: Mutex::new(State::new(Settings::new(&config))),
            clock: Clock::new(),
            config,
            observer,
            runtime,
            background: Arc::new(Notify::new()),
            maintain_requested: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            drained: Notify::new(),
            waits: WaitCounters::default(),
        }
    }

    /// Runs `f` under the lock and checks the invariant before unlocking; then pokes the
    /// background task if `f` asked for it.
    #[inline]
    pub(crate) fn with_state<R>(
        &self,
        f: impl FnOnce(&mut State<M::Connection, M::Error>) -> R,
    ) -> R {
        let mut st = self.state.lock();
        let r = f(&mut st);
        debug_assert!(
            st.invariant_holds(),
            "pool invariant broken: {:?}",
            st.status()
        );
        let poke = st.take_poke();
        drop(st);
        if poke {
            self.background.notify_one();
        }
        r
    }

    /// Starts the background task (on the current runtime) if it is not running: when the
    /// pool is built, and again if the runtime it ran on was shut down while the pool lives on
    /// in another.
    pub(crate) fn revive_background(self: &Arc<Self>) {
        if self.with_state(|st| st.start_background()) {
            tracing::debug!("starting the pool's background task");
            self.spawn(crate::maintenance::run(
                Arc::downgrade(self),
                Arc::clone(&self.background),
            ));
        }
    }

    /// Asks the background task for a maintenance pass at once.
    pub(crate) fn request_maintenance(&self) {
        self.maintain_requested.store(true, Ordering::Release);
        self.background.notify_one();
    }

    /// Spawns `fut` on the current runtime, else on the pool's. If neither accepts it, the
    /// future is dropped, which runs its guards.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match Handle::try_current() {
            Ok(handle) => drop(handle.spawn(fut)),
            Err(_) => drop(self.runtime.spawn(fut)),
        }
    }

    /// Emits an event to `tracing` and the observer. Never called under the lock.
    #[inline]
    pub(crate) fn emit(&self, event: &PoolEvent<'_>) {
        match event {
            PoolEvent::Connected { duration } => {
                tracing::info!(?duration, "connection opened");
            }
            PoolEvent::ConnectFailed {
                error,
                consecutive_failures,
            } => {
                tracing::warn!(%error, consecutive_failures, "connect failed");
            }
            PoolEvent::CheckFailed { error } => {
                tracing::warn!(%error, "health check failed");
            }
            PoolEvent::BreakerOpened {
                error,
                consecutive_failures,
            } => {
                tracing::warn!(
                    %error,
                    consecutive_failures,
                    "breaker open: failing callers that need a new connection at once"
                );
            }
            PoolEvent::BreakerClosed { open_for } => {
                tracing::info!(?open_for, "breaker closed: a connect succeeded");
            }
            PoolEvent::Acquired { wait } => tracing::trace!(?wait, "connection acquired"),
            PoolEvent::Released => tracing::trace!("connection released"),
            PoolEvent::Removed { reason } => tracing::info!(?reason, "connection removed"),
        }
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }

    /// A timeout error from the counts taken when it happened.
    pub(crate) fn timeout_error(
        &self,
        phase: Phase,
        after: Duration,
        status: Status,
    ) -> Error<M::Error> {
        self.waits.timed_out();
        let last = self.with_state(|st| st.last_connect_error());
        // The caller was waiting for a new connection if the pool had room to open one.
        let phase = match phase {
            Phase::Waiting if status.size < status.max_size || status.connecting > 0 => {
                Phase::Connecting
            }
            p => p,
        };
        let error = TimeoutError {
            phase,
            after,
            status,
            last_connect_error: last,
        };
        tracing::warn!(%error, "acquire timed out");
        Error::Timeout(error)
    }

    // ---- connections coming back or leaving ---------------------------------------------------

    /// Gives back a connection counted as in use (to a waiter, to idle, or closed); see
    /// [`State::put_back`].
    #[inline]
    pub(crate) fn give_back(self: &Arc<Self>, live: Live<M::Connection>, back: Back) {
        let returned = self.with_state(|st| st.put_back(live, back, &self.clock));
        if self.settle(returned) {
            self.emit(&PoolEvent::Released);
        }
    }

    /// Acts on where a returned connection went, outside the lock: wakes the waiter it was
    /// handed to, clears the `busy` hint if it went idle, or closes it. Returns false when it
    /// was closed.
    pub(crate) fn settle(self: &Arc<Self>, returned: Returned<M::Connection>) -> bool {
        match returned {
            Returned::Idle => {
                if self.busy.load(Ordering::Relaxed) {
                    self.busy.store(false, Ordering::Relaxed);
                }
                true
            }
            Returned::Handed(waker) => {
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            Returned::Close {
                live,
                reason,
                freed,
            } => {
                self.close_conn(live.conn, reason);
                self.after_freed(freed);
                false
            }
        }
    }

    /// Forgets a connection that was in use and closes it.
    pub(crate) fn close_in_use(self: &Arc<Self>, conn: M::Connection, reason: RemoveReason) {
        let freed = self.with_state(|st| st.retire(reason));
        self.close_conn(conn, reason);
        self.after_freed(freed);
    }

    /// Forgets a connection that was in use without closing it (it is being dropped here, or
    /// taken by the user).
    pub(crate) fn forget_in_use(self: &Arc<Self>, reason: RemoveReason) {
        let freed = self.with_state(|st| st.retire(reason));
        self.emit(&PoolEvent::Removed { reason });
        self.after_freed(freed);
    }

    /// Closes connections already taken out of the counts, then starts the connects planned
    /// after.
    pub(crate) fn finish(self: &Arc<Self>, removed: Removed<M::Connection>) {
        for (live, reason) in removed.removed {
            self.close_conn(live.conn, reason);
        }
        self.spawn_connects(removed.plan);
    }

    /// After a slot was freed: start its replacement connects, and tell `close()` if the pool
    /// just drained.
    pub(crate) fn after_freed(self: &Arc<Self>, freed: Freed) {
        self.spawn_connects(freed.plan);
        if freed.drained {
            self.drained.notify_waiters();
        }
    }

    /// Closes a connection that already left the counts, gracefully, in a task of its own.
    pub(crate) fn close_conn(self: &Arc<Self>, conn: M::Connection, reason: RemoveReason) {
        self.emit(&PoolEvent::Removed { reason });
        let shared = Arc::clone(self);
        self.spawn(async move { shared.manager.close(conn).await });
    }
}
