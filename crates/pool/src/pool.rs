//! The async layer: [`Pool`], its [`Shared`] core, acquires (with the dead-connection probe and
//! the bounded health check), the waiter future, connect tasks (with the error classes and the
//! breaker, whose rules live in `internals.rs`), returns, maintenance, resize and close.
//!
//! Every lock of the pool's state is taken through [`Shared::with_state`], which checks the state
//! invariant (in debug builds) before unlocking. Code here locks, asks `internals.rs` what to do,
//! unlocks, then performs the decided effects (wake, spawn, close, emit events). The only other
//! lock is a waiter's own hand-off cell, which the waiter takes alone to collect (see
//! `internals.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep, timeout, timeout_at};

use crate::clock::{Clock, Nanos, nanos};
use crate::config::{Config, Observer, QueueMode};
use crate::error::{BuildError, ConnectError, Error, Phase, TimeoutError};
use crate::guard::Pooled;
use crate::internals::{ConnectPlan, Handoff, HandoffCell, Live, Returned, State, WaiterKey};
use crate::manager::{ErrorClass, Manager};
use crate::stats::{PoolEvent, RemoveReason, Stats, Status};

/// An async connection pool. Cheap to clone: clones share one pool.
///
/// Dropping every clone stops the background task once the last checked-out connection and
/// in-flight connect are gone; idle connections are then dropped. Call [`close`](Pool::close)
/// for a graceful shutdown.
pub struct Pool<M: Manager> {
    pub(crate) shared: Arc<Shared<M>>,
}

impl<M: Manager> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M: Manager> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

/// The state every clone of a [`Pool`], every guard and every pool task shares.
pub(crate) struct Shared<M: Manager> {
    pub(crate) manager: M,
    pub(crate) config: Config,
    lifo: bool,
    /// `check_after_idle` in pool nanoseconds.
    check_after: Option<Nanos>,
    /// One lock over all bookkeeping: critical sections are a few field updates, never an
    /// `.await`, and allocate only when a queue grows past its previous high-water mark, so one
    /// lock for all the counts is cheaper than splitting them and makes the invariant easy to
    /// check. (Only the collection of a hand-off is kept off it, in the waiter's own cell.)
    state: CachePadded<Mutex<State<M::Connection, M::Error>>>,
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
    /// to the queue. Written only when it changes, under the lock: set when a caller queues,
    /// cleared when a connection goes back to idle.
    busy: AtomicBool,
    /// Signalled when the pool reaches size 0 while closed.
    drained: Notify,
    /// Written by every caller that waited, outside the lock.
    waits: WaitCounters,
}

/// Aligns `T` to two cache lines (the pair an x86 core prefetches together), so a value both
/// cores write does not share a line with another.
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Default> Default for CachePadded<T> {
    fn default() -> Self {
        Self(T::default())
    }
}

/// Stripes of [`WaitCounters`]; each thread always writes the same one.
const WAIT_STRIPES: usize = 4;

/// Counters of callers that waited, updated outside the lock by whichever thread the caller runs
/// on. Striped by thread, each stripe on cache lines of its own: under contention every
/// operation updates them, and with one shared line bouncing between the cores its first
/// update was the costliest instruction of the woken caller's path (`perf annotate`).
/// `stats()` sums them.
#[derive(Default)]
struct WaitCounters {
    stripes: [CachePadded<WaitStripe>; WAIT_STRIPES],
}

#[derive(Default)]
struct WaitStripe {
    gets_waited: AtomicU64,
    timeouts: AtomicU64,
    wait_nanos_total: AtomicU64,
    wait_nanos_max: AtomicU64,
}

impl WaitCounters {
    /// This thread's stripe: threads are numbered as they first record a wait, so the workers
    /// of a busy runtime usually land on different stripes (a shared stripe costs speed, never
    /// correctness).
    #[inline]
    fn mine(&self) -> &WaitStripe {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % WAIT_STRIPES;
        }
        &self.stripes[STRIPE.try_with(|s| *s).unwrap_or(0)]
    }

    #[inline]
    fn record(&self, nanos: u64) {
        let s = self.mine();
        s.gets_waited.fetch_add(1, Ordering::Relaxed);
        s.wait_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        // A plain load first: a new maximum is rare, and `fetch_max` is a locked
        // compare-and-swap loop even when nothing changes.
        if nanos > s.wait_nanos_max.load(Ordering::Relaxed) {
            s.wait_nanos_max.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    fn timed_out(&self) {
        self.mine().timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Totals over the stripes: (gets that waited, timeouts, total wait, longest wait), in
    /// nanoseconds.
    fn totals(&self) -> (u64, u64, u64, u64) {
        self.stripes.iter().fold((0, 0, 0, 0), |(g, t, n, m), s| {
            (
                g + s.gets_waited.load(Ordering::Relaxed),
                t + s.timeouts.load(Ordering::Relaxed),
                n.saturating_add(s.wait_nanos_total.load(Ordering::Relaxed)),
                m.max(s.wait_nanos_max.load(Ordering::Relaxed)),
            )
        })
    }
}

impl<M: Manager> Drop for Shared<M> {
    fn drop(&mut self) {
        // The background task holds only a `Weak`: poked, it finds the pool gone and stops.
        self.background.notify_one();
        let idle = std::mem::take(&mut self.state.get_mut().idle);
        // No runtime can be relied on here: idle connections are dropped, not closed gracefully.
        drop(idle);
    }
}

/// What a connection needs before it is handed out; see [`Shared::vet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vet {
    /// Nothing: hand it out.
    Ready,
    /// The dead-connection probe ([`Manager::is_dead`]).
    Probe,
    /// The probe, then a health check ([`Manager::check`]).
    Check,
}

/// What one locked checkout step found.
enum Step<C, E> {
    /// An idle connection, counted in use, to probe (and maybe check) first.
    Vet(Live<C>, Vet),
    /// An idle connection past its lifetime, already uncounted: close it and try again.
    Expired(Live<C>, ConnectPlan),
    /// What the caller's queue slot was given.
    Handed(Handoff<C, E>),
    /// Failed at once because the breaker is open; spawn the plan (a probe) first.
    FailFast(Error<E>, ConnectPlan),
    Closed,
    QueueFull,
    Unavailable,
}

/// [`Step`], [`Handoff`] and [`HandoffCell`] for manager `M`'s connection and error.
type StepOf<M> = Step<<M as Manager>::Connection, <M as Manager>::Error>;
type HandoffOf<M> = Handoff<<M as Manager>::Connection, <M as Manager>::Error>;
type CellOf<M> = HandoffCell<<M as Manager>::Connection, <M as Manager>::Error>;

/// When an acquire left the hot path and when it must give up (pool time), from a real clock
/// reading taken before the first lock, so the clock is never read with the lock held.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    start: Nanos,
    at: Option<Nanos>,
}

impl<M: Manager> Pool<M> {
    /// Starts building a pool over `manager`.
    pub fn builder(manager: M) -> crate::Builder<M> {
        crate::Builder::new(manager)
    }

    pub(crate) fn start(
        manager: M,
        config: Config,
        observer: Option<Observer>,
        runtime: Handle,
    ) -> Self {
        let mut state = State::new(config.max_size);
        state.background_alive = true;
        let shared = Arc::new(Shared {
            manager,
            lifo: config.queue == QueueMode::Lifo,
            check_after: config.check_after_idle.map(nanos),
            state: CachePadded(Mutex::new(state)),
            clock: Clock::new(),
            config,
            observer,
            runtime,
            background: Arc::new(Notify::new()),
            maintain_requested: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            drained: Notify::new(),
            waits: WaitCounters::default(),
        });
        shared.spawn(crate::maintenance::run(
            Arc::downgrade(&shared),
            Arc::clone(&shared.background),
        ));
        Pool { shared }
    }

    /// Gets a connection, waiting up to [`acquire_timeout`](Config::acquire_timeout).
    ///
    /// A connection that sat idle is probed first ([`Manager::is_dead`]), and one idle longer
    /// than [`check_after_idle`](Config::check_after_idle) is checked (within
    /// [`check_timeout`](Config::check_timeout)); one found dead or failing its check is closed
    /// and the acquire tries again. When no connection is idle the caller joins a FIFO queue and
    /// is served by direct hand-off; the pool opens a new connection for it if it has room.
    ///
    /// Fails before its timeout in two cases: with [`Error::Connect`] when a connect meant to
    /// serve it fails with a permanent error ([`Manager::error_class`]), and at once with
    /// [`Error::Unreachable`] or [`Error::Connect`] while the breaker is open and nothing is idle
    /// (see [`breaker_threshold`](Config::breaker_threshold)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future in any phase (waiting, or checking a connection) leaves
    /// the queue in O(1) and never loses a connection or a slot: a connection already handed to
    /// the caller is passed to the next waiter or back to idle, one being checked goes back
    /// through the normal return path, and a connect started for the caller keeps running in its
    /// own task and serves the next waiter.
    pub async fn get(&self) -> Result<Pooled<M>, Error<M::Error>> {
        // The hot path is here rather than in `acquire` so the guard is moved through one
        // future less (the copies showed up in `perf`).
        if let Some(guard) = self.shared.fast_checkout() {
            return Ok(guard);
        }
        self.acquire(self.shared.config.acquire_timeout, true).await
    }

    /// Like [`get`](Pool::get) with a timeout other than `acquire_timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`get`](Pool::get).
    pub async fn get_timeout(&self, timeout: Duration) -> Result<Pooled<M>, Error<M::Error>> {
        if let Some(guard) = self.shared.fast_checkout() {
            return Ok(guard);
        }
        self.acquire(timeout, true).await
    }

    /// Gets an idle connection without waiting: fails with [`Error::Unavailable`] when none is
    /// idle. The connection is still health-checked if it sat idle past `check_after_idle`
    /// (within `acquire_timeout`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection being checked goes back through the normal return path.
    pub async fn try_get(&self) -> Result<Pooled<M>, Error<M::Error>> {
        if let Some(guard) = self.shared.fast_checkout() {
            return Ok(guard);
        }
        self.acquire(self.shared.config.acquire_timeout, false)
            .await
    }

    /// Every acquire: one locked step (take an idle connection, join the queue, or fail fast
    /// while the breaker is open), a wait for the hand-off if queued, then the probe and the
    /// health check if the connection needs them; a dead connection, a failed check or an
    /// expired connection starts over within the same deadline.
    async fn acquire(&self, timeout: Duration, wait: bool) -> Result<Pooled<M>, Error<M::Error>> {
        let shared = &self.shared;
        // Off the hot path the caller will most likely wait (or check a connection): fix the
        // deadline now, so the clock is not read with the lock held.
        let now = shared.clock.now();
        let deadline = Deadline {
            start: now,
            at: now.checked_add(nanos(timeout)),
        };
        loop {
            // Cancellation safety: dropping `Checkout` unlinks its waiter in O(1) and passes on
            // a connection it was handed but had not collected.
            let checkout = Checkout {
                shared,
                wait,
                deadline,
                waiting: None,
                fallback: None,
            };
            let step = match checkout.await {
                Ok(guard) => {
                    shared.acquired(Duration::ZERO);
                    return Ok(guard);
                }
                Err(step) => step,
            };
            let (live, vet, wait_time) = match step {
                Step::Vet(live, vet) => (live, vet, Duration::ZERO),
                Step::Expired(live, plan) => {
                    shared.finish_removal(live.conn, RemoveReason::MaxLifetime, plan, false);
                    continue;
                }
                Step::Handed(Handoff::Conn(live)) => {
                    let now = shared.clock.now();
                    let waited = now.saturating_sub(deadline.start);
                    shared.waits.record(waited);
                    let waited = Duration::from_nanos(waited);
                    let vet = shared.vet(&live, now, false);
                    (live, vet, waited)
                }
                Step::Handed(Handoff::Closed) | Step::Closed => return Err(Error::Closed),
                Step::Handed(Handoff::TimedOut(status)) => {
                    return Err(shared.timeout_error(Phase::Waiting, timeout, status));
                }
                Step::Handed(Handoff::Failed(e)) => {
                    tracing::warn!(error = %e, "acquire failed: a permanent connect error");
                    return Err(Error::Connect(e));
                }
                Step::FailFast(err, plan) => {
                    shared.spawn_connects(plan);
                    tracing::debug!(error = %err, "acquire failed fast: the breaker is open");
                    return Err(err);
                }
                Step::QueueFull => return Err(shared.queue_full()),
                Step::Unavailable => return Err(Error::Unavailable),
            };
            let idle_since = live.idle_since;
            let mut guard = Pooled::new(Arc::clone(shared), live);
            if vet != Vet::Ready && shared.manager.is_dead(guard.conn_mut()) {
                guard.discard(RemoveReason::Dead);
                continue;
            }
            if vet == Vet::Check {
                match self.check(guard, idle_since, deadline, timeout).await? {
                    Some(checked) => guard = checked,
                    None => continue,
                }
            }
            shared.acquired(wait_time);
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
        &self,
        mut guard: Pooled<M>,
        idle_since: Nanos,
        deadline: Deadline,
        timeout: Duration,
    ) -> Result<Option<Pooled<M>>, Error<M::Error>> {
        let shared = &self.shared;
        let check_timeout = shared.config.check_timeout;
        let check_by = shared.clock.now().saturating_add(nanos(check_timeout));
        let (until, acquire_bound) = match deadline.at {
            Some(at) if at <= check_by => (at, true),
            _ => (check_by, false),
        };
        guard.verified = false;
        let check = shared.manager.check(guard.conn_mut());
        // Cancellation safety: the connection is inside `guard`; if this future is dropped the
        // guard's `Drop` returns it unverified (so the next caller checks it again) or resets
        // it if the manager says it is dirty.
        let result = timeout_at(shared.clock.instant(until), check).await;
        match result {
            Ok(Ok(())) => {
                guard.verified = true;
                Ok(Some(guard))
            }
            Ok(Err(e)) => {
                shared.emit(&PoolEvent::CheckFailed { error: &e });
                guard.discard(RemoveReason::CheckFailed);
                Ok(None)
            }
            Err(_) if acquire_bound => {
                guard.discard(RemoveReason::CheckFailed);
                let status = shared.with_state(|st| st.status());
                Err(shared.timeout_error(Phase::Checking, timeout, status))
            }
            Err(_) => {
                let error = CheckTimedOut(check_timeout);
                shared.emit(&PoolEvent::CheckFailed { error: &error });
                guard.discard(RemoveReason::CheckFailed);
                shared.evict_stale_idle(idle_since);
                Ok(None)
            }
        }
    }

    /// The pool's counts now, from one short lock.
    pub fn status(&self) -> Status {
        self.shared.with_state(|st| st.status())
    }

    /// Cumulative counters since the pool was built.
    pub fn stats(&self) -> Stats {
        let c = self.shared.with_state(|st| st.counters);
        let (gets_waited, timeouts, wait_nanos_total, wait_nanos_max) = self.shared.waits.totals();
        Stats {
            gets: c.gets + gets_waited,
            gets_waited,
            timeouts,
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
            wait_time_total: Duration::from_nanos(wait_nanos_total),
            wait_time_max: Duration::from_nanos(wait_nanos_max),
        }
    }

    /// The settings the pool was built with (`max_size` as built; see [`status`](Pool::status)
    /// for the current bound after [`resize`](Pool::resize)).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The manager the pool was built with.
    pub fn manager(&self) -> &M {
        &self.shared.manager
    }

    /// Changes `max_size` at run time. Growing starts connects for waiting callers at once;
    /// shrinking closes surplus idle connections at once and surplus checked-out ones when they
    /// come back.
    pub fn resize(&self, max_size: usize) -> Result<(), BuildError> {
        if max_size == 0 {
            return Err(BuildError::Invalid {
                setting: "max_size",
                reason: "must be at least 1",
            });
        }
        if max_size < self.shared.config.min_idle {
            return Err(BuildError::Invalid {
                setting: "max_size",
                reason: "must not be less than min_idle",
            });
        }
        let shared = &self.shared;
        let (surplus, plan) = shared.with_state(|st| {
            st.max_size = max_size;
            let mut surplus = Vec::new();
            while st.size > st.max_size {
                let Some(live) = st.idle.pop_front() else {
                    break;
                };
                st.size -= 1;
                st.counters.count_removal(RemoveReason::Resized);
                surplus.push(live);
            }
            let plan = shared.plan(st);
            (surplus, plan)
        });
        for live in surplus {
            shared.finish_removal(
                live.conn,
                RemoveReason::Resized,
                ConnectPlan::default(),
                false,
            );
        }
        shared.spawn_connects(plan);
        Ok(())
    }

    /// True once [`close`](Pool::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.with_state(|st| st.closed)
    }

    /// Closes the pool: new acquires fail with [`Error::Closed`] at once, current waiters are
    /// failed with it, idle connections are closed, and then this waits (up to
    /// [`close_timeout`](Config::close_timeout)) for checked-out connections and connects in
    /// flight to come back, closing them as they do. Idempotent: a second call only waits.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the pool is marked closed before the first `.await`; dropping the future
    /// only stops waiting (idle connections not yet closed gracefully are dropped).
    pub async fn close(&self) {
        let shared = &self.shared;
        let deadline = Instant::now().checked_add(shared.config.close_timeout);
        let (wakers, idle) = shared.with_state(|st| {
            let mut wakers = Vec::new();
            let mut idle = Vec::new();
            if !st.closed {
                st.closed = true;
                while let Ok(waker) = st.waiters.serve_oldest(Handoff::Closed) {
                    wakers.extend(waker);
                }
                st.deadlines.clear();
                st.timer_at = None;
                while let Some(live) = st.idle.pop_front() {
                    st.size -= 1;
                    st.counters.count_removal(RemoveReason::Closed);
                    idle.push(live);
                }
            }
            (wakers, idle)
        });
        shared.background.notify_one();
        for w in wakers {
            w.wake();
        }
        if !idle.is_empty() {
            tracing::info!(count = idle.len(), "closing idle connections");
        }
        for live in idle {
            shared.emit(&PoolEvent::Removed {
                reason: RemoveReason::Closed,
            });
            // Cancellation safety: the connection is owned by the close future; dropping it
            // drops the connection, which is already uncounted.
            let close = shared.manager.close(live.conn);
            match deadline {
                Some(deadline) => {
                    let _ = timeout_at(deadline, close).await;
                }
                None => close.await,
            }
        }
        loop {
            let drained = shared.drained.notified();
            let mut drained = std::pin::pin!(drained);
            drained.as_mut().enable();
            if shared.with_state(|st| st.size == 0) {
                break;
            }
            match deadline {
                Some(deadline) => {
                    if timeout_at(deadline, drained).await.is_err() {
                        let status = self.status();
                        tracing::warn!(
                            in_use = status.in_use,
                            connecting = status.connecting,
                            "pool close timed out with connections still out"
                        );
                        break;
                    }
                }
                None => drained.await,
            }
        }
    }
}

impl<M: Manager> Shared<M> {
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
        let poke = std::mem::take(&mut st.poke);
        drop(st);
        if poke {
            self.background.notify_one();
        }
        r
    }

    #[inline]
    pub(crate) fn plan(&self, st: &mut State<M::Connection, M::Error>) -> ConnectPlan {
        st.plan_connects(self.config.min_idle, self.config.max_connecting)
    }

    /// The hot path, a plain function so nothing is moved through futures: under one short
    /// lock, take the most recently returned idle connection if it needs neither a check nor
    /// retirement (judged on the coarse clock), and probe it after unlocking if it sat idle.
    /// Anything else (including a connection the probe found dead, which is closed) is left to
    /// [`Checkout`].
    #[inline]
    fn fast_checkout(self: &Arc<Self>) -> Option<Pooled<M>> {
        if self.busy.load(Ordering::Relaxed) {
            return None;
        }
        // Set by the closure rather than returned with the connection: a `(Live, bool)` would
        // carry padding that the compiler copies with overlapping moves (see docs/pool.md).
        let mut probe = false;
        let live = self.with_state(|st| {
            if st.closed || st.idle.is_empty() {
                return None;
            }
            let now = st.coarse_now(&self.clock);
            let top = st.idle.back()?;
            let vet = self.vet(top, now, true);
            if top.is_expired(now) || vet == Vet::Check {
                return None;
            }
            probe = vet == Vet::Probe;
            st.counters.gets += 1;
            st.pop_idle()
        })?;
        let mut guard = Pooled::new(Arc::clone(self), live);
        if probe && self.manager.is_dead(guard.conn_mut()) {
            guard.discard(RemoveReason::Dead);
            return None;
        }
        self.acquired(Duration::ZERO);
        Some(guard)
    }

    /// What a connection needs before it is handed out, judged at `now` (the coarse clock on
    /// the idle list, a real reading for a hand-off), in one rule:
    ///
    /// - a health check (with the probe first) if it came back unverified (its check was cut
    ///   short), or if it sat idle longer than `check_after_idle`; with `check_after_idle` zero,
    ///   every connection `from_idle` (taken off the idle list) is checked, and none handed over
    ///   straight from a returning caller or a connect;
    /// - else the probe alone ([`Manager::is_dead`]) if it is taken off the idle list and sat
    ///   there for any time at all on the coarse clock: under load a connection is returned and
    ///   taken again within one clock tick, so the hot path then probes nothing;
    /// - else nothing.
    #[inline]
    fn vet(&self, live: &Live<M::Connection>, now: Nanos, from_idle: bool) -> Vet {
        if live.is_unverified() {
            return Vet::Check;
        }
        let idle = now.saturating_sub(live.idle_since);
        let check = self
            .check_after
            .is_some_and(|after| if after == 0 { from_idle } else { idle > after });
        if check {
            Vet::Check
        } else if from_idle && idle > 0 {
            Vet::Probe
        } else {
            Vet::Ready
        }
    }

    /// The locked step of a checkout, one lock in every case: take an idle connection (the hot
    /// path: no clock reading, see `clock.rs`), fail at once if the breaker says so, or join
    /// the queue with `waker` and a deadline (read from the real clock the first time) and
    /// reserve connects for it.
    #[inline]
    fn lock_checkout(
        &self,
        waker: &Waker,
        wait: bool,
        deadline: Deadline,
    ) -> Locked<M::Connection, M::Error> {
        self.with_state(|st| {
            if st.closed {
                return Locked::Done(Step::Closed);
            }
            if let Some(live) = st.pop_idle() {
                let now = st.coarse_now(&self.clock);
                if live.is_expired(now) {
                    let (plan, _) = st.remove_in_use(
                        RemoveReason::MaxLifetime,
                        self.config.min_idle,
                        self.config.max_connecting,
                    );
                    return Locked::Done(Step::Expired(live, plan));
                }
                st.counters.gets += 1;
                return match self.vet(&live, now, true) {
                    Vet::Ready => Locked::Ready(live),
                    vet => Locked::Done(Step::Vet(live, vet)),
                };
            }
            if !wait {
                return Locked::Done(Step::Unavailable);
            }
            if let Some((err, plan)) = st.fail_fast(deadline.start) {
                return Locked::Done(Step::FailFast(err, plan));
            }
            if self
                .config
                .max_waiters
                .is_some_and(|max| st.waiters.len() >= max)
            {
                st.counters.rejected_queue_full += 1;
                return Locked::Done(Step::QueueFull);
            }
            st.observe(deadline.start);
            let (key, cell) = st.waiters.push_back(waker.clone());
            if !self.busy.load(Ordering::Relaxed) {
                self.busy.store(true, Ordering::Relaxed);
            }
            let pool_timer = st.background_alive;
            if let Some(at) = deadline.at.filter(|_| pool_timer) {
                st.add_deadline(at, key);
            }
            let plan = self.plan(st);
            Locked::Queued {
                key,
                cell,
                plan,
                pool_timer,
            }
        })
    }

    /// Restarts the background task (on the current runtime) if it is gone, which happens when
    /// the runtime it ran on was shut down while the pool lives on in another.
    pub(crate) fn revive_background(self: &Arc<Self>) {
        let spawn = self.with_state(|st| {
            let spawn = !st.background_alive && !st.closed;
            st.background_alive |= spawn;
            spawn
        });
        if spawn {
            tracing::debug!("restarting the pool's background task");
            self.spawn(crate::maintenance::run(
                Arc::downgrade(self),
                Arc::clone(&self.background),
            ));
        }
    }

    #[inline]
    fn acquired(&self, wait: Duration) {
        if self.observer.is_some() {
            self.emit(&PoolEvent::Acquired { wait });
        } else {
            tracing::trace!(?wait, "connection acquired");
        }
    }

    /// Asks the background task for a maintenance pass at once.
    pub(crate) fn request_maintenance(&self) {
        self.maintain_requested.store(true, Ordering::Release);
        self.background.notify_one();
    }

    fn queue_full(&self) -> Error<M::Error> {
        let last = self.with_state(|st| st.last_connect_error.clone());
        tracing::warn!("acquire rejected: too many waiters");
        Error::QueueFull {
            max_waiters: self.config.max_waiters.unwrap_or(usize::MAX),
            last_connect_error: last,
        }
    }

    /// A timeout error from the counts taken when it happened.
    fn timeout_error(&self, phase: Phase, after: Duration, status: Status) -> Error<M::Error> {
        self.waits.timed_out();
        let last = self.with_state(|st| st.last_connect_error.clone());
        // The caller was waiting for a new connection if the pool had room to open one.
        let phase = match phase {
            Phase::Waiting if status.size < status.max_size || status.connecting > 0 => {
                Phase::Connecting
            }
            p => p,
        };
        let err = TimeoutError {
            phase,
            after,
            status,
            last_connect_error: last,
        };
        tracing::warn!(error = %DisplayTimeout(&err), "acquire timed out");
        Error::Timeout(err)
    }

    /// Spawns `fut` on the current runtime, else on the pool's. Returns false if neither
    /// accepted it (the future is then dropped, which runs its guards).
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

    /// After a connection left the counts: close it gracefully, start replacement connects,
    /// and tell `close()` if the pool just drained.
    /// Closes the idle connections that sat idle since `idle_since` or longer; see
    /// [`Pool::check`].
    fn evict_stale_idle(self: &Arc<Self>, idle_since: Nanos) {
        let (evicted, plan) = self.with_state(|st| {
            let evicted = st.evict_idle_since(idle_since);
            let plan = self.plan(st);
            (evicted, plan)
        });
        for live in evicted {
            self.finish_removal(
                live.conn,
                RemoveReason::CheckFailed,
                ConnectPlan::default(),
                false,
            );
        }
        self.spawn_connects(plan);
    }

    pub(crate) fn finish_removal(
        self: &Arc<Self>,
        conn: M::Connection,
        reason: RemoveReason,
        plan: ConnectPlan,
        drained: bool,
    ) {
        self.emit(&PoolEvent::Removed { reason });
        let shared = Arc::clone(self);
        self.spawn(async move { shared.manager.close(conn).await });
        self.spawn_connects(plan);
        if drained {
            self.drained.notify_waiters();
        }
    }

    /// Returns a connection counted as in use to the pool (to a waiter, to idle, or closed).
    /// `used` means it comes back from a caller (or a reset) that used it: it is stamped idle
    /// from now, closed instead if past its lifetime, and no longer needs a check. Otherwise
    /// (a hand-off passed on, an interrupted check) its stamps are kept.
    #[inline]
    pub(crate) fn put_back(self: &Arc<Self>, mut live: Live<M::Connection>, used: bool) {
        let returned = self.with_state(|st| {
            if used {
                let now = st.coarse_now(&self.clock);
                if live.is_expired(now) {
                    let reason = RemoveReason::MaxLifetime;
                    let (plan, drained) =
                        st.remove_in_use(reason, self.config.min_idle, self.config.max_connecting);
                    let returned = Returned::Close {
                        live,
                        reason,
                        plan,
                        drained,
                    };
                    return returned;
                }
                live.idle_since = now;
            }
            let returned = st.put_back(
                live,
                self.lifo,
                self.config.min_idle,
                self.config.max_connecting,
            );
            if matches!(returned, Returned::Idle) && self.busy.load(Ordering::Relaxed) {
                self.busy.store(false, Ordering::Relaxed);
            }
            returned
        });
        if !self.settle(returned) {
            return;
        }
        if self.observer.is_some() {
            self.emit(&PoolEvent::Released);
        } else {
            tracing::trace!("connection released");
        }
    }

    /// Acts on what the state did with a returned connection, outside the lock: wakes the
    /// waiter it was handed to, or closes it. Returns false when it was closed.
    fn settle(self: &Arc<Self>, returned: Returned<M::Connection>) -> bool {
        match returned {
            Returned::Idle => true,
            Returned::Handed(waker) => {
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            Returned::Close {
                live,
                reason,
                plan,
                drained,
            } => {
                self.finish_removal(live.conn, reason, plan, drained);
                false
            }
        }
    }

    /// Forgets a connection that was in use and closes it.
    pub(crate) fn remove(self: &Arc<Self>, conn: M::Connection, reason: RemoveReason) {
        let (plan, drained) = self.with_state(|st| {
            st.remove_in_use(reason, self.config.min_idle, self.config.max_connecting)
        });
        self.finish_removal(conn, reason, plan, drained);
    }

    /// Forgets a connection that was in use without closing it (it is being dropped here, or
    /// taken by the user).
    pub(crate) fn forget(self: &Arc<Self>, reason: RemoveReason) {
        let (plan, drained) = self.with_state(|st| {
            st.remove_in_use(reason, self.config.min_idle, self.config.max_connecting)
        });
        self.emit(&PoolEvent::Removed { reason });
        self.spawn_connects(plan);
        if drained {
            self.drained.notify_waiters();
        }
    }

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

    /// The delay before a connect attempt after `failures` failures in a row: the slow
    /// interval if `slow` (a permanent error, or the breaker's probe), else the backoff.
    fn retry_delay(&self, failures: u32, slow: bool) -> Duration {
        if slow {
            // Half to whole backoff_max: slow, but still spread over the pools that failed
            // together.
            return self.config.backoff_max.mul_f64(0.5 + 0.5 * fastrand::f64());
        }
        self.backoff(failures)
    }

    fn backoff(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << (failures - 1).min(20));
        let cap = exp.min(self.config.backoff_max);
        // Full jitter: anywhere between zero and the capped exponential delay.
        cap.mul_f64(fastrand::f64())
    }

    fn new_live(&self, conn: M::Connection, now: Nanos) -> Live<M::Connection> {
        let expires_at = self.config.max_lifetime.map_or(Nanos::MAX, |lifetime| {
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

    /// One maintenance pass: retire idle connections past `max_lifetime`, reap idle ones past
    /// `idle_timeout` down to `min_idle`, refill to `min_idle`. Returns when the next idle
    /// connection is due (`Nanos::MAX` for none), for the background task's next wake-up.
    pub(crate) fn maintain(self: &Arc<Self>, now: Nanos) -> Nanos {
        let idle_timeout = self.config.idle_timeout.map(nanos);
        let min_idle = self.config.min_idle;
        let (removed, plan, next) = self.with_state(|st| {
            if st.closed {
                return (Vec::new(), ConnectPlan::default(), Nanos::MAX);
            }
            let removed = st.retire_idle(now, idle_timeout, min_idle);
            let plan = self.plan(st);
            (removed, plan, st.next_retire())
        });
        for (live, reason) in removed {
            self.finish_removal(live.conn, reason, ConnectPlan::default(), false);
        }
        self.spawn_connects(plan);
        next
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

struct DisplayTimeout<'a, E>(&'a TimeoutError<E>);

impl<E: std::fmt::Display> std::fmt::Display for DisplayTimeout<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a locked checkout step decided.
enum Locked<C, E> {
    /// An idle connection that needs neither probe nor check: the hot path.
    Ready(Live<C>),
    /// Finished without waiting.
    Done(Step<C, E>),
    /// Joined the queue; spawn `plan`. `pool_timer`: the background task watches the deadline
    /// (else the waiter keeps a timer of its own).
    Queued {
        key: WaiterKey,
        cell: Arc<HandoffCell<C, E>>,
        plan: ConnectPlan,
        pool_timer: bool,
    },
}

/// One checkout step as a future: the first poll takes an idle connection or joins the queue
/// (one lock either way); later polls collect the hand-off from the waiter's cell (the cell's
/// lock, not the pool's).
///
/// The deadline is enforced by the pool's background task, which serves an expired waiter with
/// [`Handoff::TimedOut`]: no timer is registered per waiting caller. Only when that task is not
/// running (its runtime was shut down) does a waiter fall back to a timer of its own, and the
/// task is restarted.
struct Checkout<'a, M: Manager> {
    shared: &'a Arc<Shared<M>>,
    wait: bool,
    deadline: Deadline,
    /// The queue slot and its hand-off cell, while queued.
    waiting: Option<(WaiterKey, Arc<CellOf<M>>)>,
    /// The waiter's own deadline timer, only when the background task was not running.
    fallback: Option<Pin<Box<Sleep>>>,
}

impl<M: Manager> Future for Checkout<'_, M> {
    /// A connection ready to use (the hot path), or what else the step found.
    type Output = Result<Pooled<M>, StepOf<M>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.shared;
        let Some((_, cell)) = &this.waiting else {
            let locked = shared.lock_checkout(cx.waker(), this.wait, this.deadline);
            return match locked {
                Locked::Ready(live) => Poll::Ready(Ok(Pooled::new(Arc::clone(shared), live))),
                Locked::Done(step) => Poll::Ready(Err(step)),
                Locked::Queued {
                    key,
                    cell,
                    plan,
                    pool_timer,
                } => {
                    this.waiting = Some((key, cell));
                    shared.spawn_connects(plan);
                    if !pool_timer {
                        shared.revive_background();
                        if let Some(at) = this.deadline.at {
                            let sleep = tokio::time::sleep_until(shared.clock.instant(at));
                            this.fallback = Some(Box::pin(sleep));
                        }
                    }
                    this.poll_fallback(cx)
                }
            };
        };
        if let Some(h) = cell.poll(cx.waker()) {
            this.waiting = None;
            return Poll::Ready(Err(Step::Handed(h)));
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
    /// Polls the waiter's own timer, if it has one; when it fires, leaves the queue (taking a
    /// hand-off that raced with the timer, if any).
    fn poll_fallback(&mut self, cx: &mut Context<'_>) -> Poll<Result<Pooled<M>, StepOf<M>>> {
        let Some(sleep) = self.fallback.as_mut() else {
            return Poll::Pending;
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let (handoff, status) = self.leave();
        Poll::Ready(Err(Step::Handed(
            handoff.unwrap_or(Handoff::TimedOut(status)),
        )))
    }

    /// Leaves the queue. Returns what the waiter had been handed but not collected, if
    /// anything (it was served before it could leave), and the counts just before it left,
    /// itself included.
    fn leave(&mut self) -> (Option<HandoffOf<M>>, Status) {
        let waiting = self.waiting.take();
        let (queued, status) = self.shared.with_state(|st| {
            let status = st.status();
            let queued = waiting
                .as_ref()
                .is_some_and(|(key, _)| st.waiters.cancel(*key));
            (queued, status)
        });
        // Not queued any more: served, and the cell was filled under the lock just taken.
        let handoff = match waiting {
            Some((_, cell)) if !queued => cell.take(),
            _ => None,
        };
        (handoff, status)
    }
}

impl<M: Manager> Drop for Checkout<'_, M> {
    fn drop(&mut self) {
        if self.waiting.is_none() {
            return;
        }
        // The connects planned for this waiter keep running; they serve the next waiter or go
        // idle, so nothing is cancelled here. Its deadline entry is skipped as stale.
        if let (Some(Handoff::Conn(live)), _) = self.leave() {
            // The connection was handed to us but never collected: pass it on unchanged.
            self.shared.put_back(live, false);
        }
    }
}

/// A reserved connect slot (counted in `size` and `connecting`). Dropping it armed (the connect
/// task panicked or was dropped with its runtime) gives the slot back and asks the maintenance
/// task to re-plan, rather than spawning from inside `Drop`.
#[must_use]
pub(crate) struct ConnectSlot<M: Manager> {
    shared: Arc<Shared<M>>,
    armed: bool,
}

impl<M: Manager> Drop for ConnectSlot<M> {
    fn drop(&mut self) {
        if self.armed {
            let drained = self.shared.with_state(|st| {
                st.size -= 1;
                st.connecting -= 1;
                st.closed && st.size == 0
            });
            if drained {
                self.shared.drained.notify_waiters();
            }
            self.shared.request_maintenance();
        }
    }
}

/// Opens one connection for a reserved slot, retrying while it is still needed (see
/// `State::connect_failed`): after the backoff, or the slow interval after a permanent error or
/// while the breaker is open (this task is then its probe).
async fn run_connect<M: Manager>(mut slot: ConnectSlot<M>, plan: ConnectPlan) {
    let shared = Arc::clone(&slot.shared);
    let mut delay = shared.retry_delay(plan.failures, plan.slow);
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
                let live = shared.new_live(conn, now);
                let (returned, plan, reopened) = shared.with_state(|st| {
                    let reopened = st.connect_succeeded(now);
                    let returned = st.put_back(
                        live,
                        shared.lifo,
                        shared.config.min_idle,
                        shared.config.max_connecting,
                    );
                    // More waiters than connects in flight, or still below min_idle (the first
                    // plan was capped by max_connecting, or by the breaker): keep going.
                    let plan = match returned {
                        Returned::Close { .. } => ConnectPlan::default(),
                        _ => shared.plan(st),
                    };
                    (returned, plan, reopened)
                });
                shared.spawn_connects(plan);
                slot.armed = false;
                shared.emit(&PoolEvent::Connected {
                    duration: Duration::from_nanos(now.saturating_sub(started)),
                });
                if let Some(open_for) = reopened {
                    shared.emit(&PoolEvent::BreakerClosed {
                        open_for: Duration::from_nanos(open_for),
                    });
                }
                shared.settle(returned);
                return;
            }
            Ok(Err(e)) => match shared.manager.error_class(&e) {
                ErrorClass::Transient => ConnectError::Failed(Arc::new(e)),
                ErrorClass::Permanent => ConnectError::Permanent(Arc::new(e)),
            },
            Err(_) => ConnectError::TimedOut(connect_timeout),
        };
        let after = shared.with_state(|st| {
            st.connect_failed(
                &error,
                now,
                shared.config.min_idle,
                shared.config.breaker_threshold,
            )
        });
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
        delay = shared.retry_delay(after.failures, after.slow);
    }
}
