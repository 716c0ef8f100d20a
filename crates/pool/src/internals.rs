//! The bookkeeping behind the pool's lock: [`State`], plain synchronous code with no `.await`,
//! no I/O and no clock of its own (it is handed readings, or reads the coarse clock).
//!
//! `State` holds the idle connections, the waiter queue, the counts, the deadlines, the connect
//! failure streak and the breaker, and the settings its rules need. Its fields are private:
//! every change goes through one of the named transitions below, each of which leaves the
//! invariant true and returns what must happen once the lock is released (a waker to wake,
//! connections to close, connects to spawn); the async layer does those things and nothing else.
//!
//! | transition | when |
//! | --- | --- |
//! | [`take_ready`](State::take_ready), [`checkout`](State::checkout), [`collect`](State::collect), [`leave`](State::leave) | a caller takes an idle connection or joins the queue, collects its hand-off, or gives up |
//! | [`put_back`](State::put_back), [`retire`](State::retire) | a connection in use comes back, or leaves the pool |
//! | [`plan_connects`](State::plan_connects) | the spike rule: how many connects to start |
//! | [`connect_succeeded`](State::connect_succeeded), [`connect_failed`](State::connect_failed), [`release_connect_slot`](State::release_connect_slot) | a connect task ends an attempt, or is dropped |
//! | [`tick`](State::tick), [`reap`](State::reap), [`evict_idle_since`](State::evict_idle_since) | the background task's pass; a silent health check |
//! | [`resize`](State::resize), [`close`](State::close), [`start_background`](State::start_background), [`background_gone`](State::background_gone) | the pool's own life |
//!
//! # The invariant
//!
//! At every unlock: `size == idle + in_use + connecting`; `size <= max_size`, or (transiently
//! after a shrink) nothing is idle and the surplus is closed as it comes back; and no caller
//! waits while a connection is idle, unless the pool is closed. Slots are taken only by
//! [`State::reserve_connect`] and given back only by [`State::free_slot`], so the counts
//! cannot drift apart; `Shared::with_state` checks the invariant at every unlock in debug
//! builds, and the unit tests below drive every transition without a runtime.
//!
//! # The connect rule
//!
//! Written once, in `connect_wanted`: a connect is started only for a waiter that no connect in
//! flight already covers, or to reach `min_idle`; never beyond `max_size`, at most
//! `max_connecting` at once, and only one (the probe) while the breaker is open.
//! [`State::plan_connects`] reserves connects while it says so, and [`State::connect_failed`]
//! retries a failed connect when it would start it again.
//!
//! # Failed connects and the breaker
//!
//! [`State::connect_failed`] records a failed connect and decides, in one place, what follows:
//! which waiters a permanent error fails at once, whether the breaker opens, whether the connect
//! task retries and how soon. `fail_fast` (inside [`State::checkout`]) decides whether a caller
//! that found nothing idle is failed at once because the breaker is open, and
//! [`State::connect_succeeded`] closes it. docs/pool.md states the rules.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::task::Waker;

use crate::clock::{Clock, Nanos, nanos};
use crate::config::{Config, QueueMode};
use crate::error::{ConnectError, Error};
use crate::manager::ErrorClass;
use crate::stats::{Counters, RemoveReason, Status};
use crate::waiters::{Handoff, WaiterKey, WaiterQueue};

/// A connection plus the times the pool keeps about it, in pool time (see `clock.rs`).
#[derive(Debug)]
pub(crate) struct Live<C> {
    pub(crate) conn: C,
    /// When it was opened.
    pub(crate) created_at: Nanos,
    /// When `max_lifetime` (less jitter) runs out; `Nanos::MAX` for never.
    pub(crate) expires_at: Nanos,
    /// When it last became idle (returned, or opened); [`UNVERIFIED`] when it came back without
    /// a finished health check, so the next caller must check it. (A sentinel rather than a
    /// `bool` keeps `Live` free of padding, which the hot path copies; see docs/pool.md.)
    pub(crate) idle_since: Nanos,
}

/// `idle_since` of a connection whose health check was cut short.
const UNVERIFIED: Nanos = Nanos::MAX;

impl<C> Live<C> {
    #[inline]
    pub(crate) fn is_unverified(&self) -> bool {
        self.idle_since == UNVERIFIED
    }

    #[inline]
    pub(crate) fn is_expired(&self, now: Nanos) -> bool {
        now >= self.expires_at
    }

    /// What the connection needs before it is handed out, judged at `now` (the coarse clock on
    /// the idle list, a real reading for a hand-off), in one rule:
    ///
    /// - a health check (with the probe first) if it came back unverified (its check was cut
    ///   short), or if it sat idle longer than `check_after`; with `check_after` zero, every
    ///   connection taken off the idle list is checked, and none handed over straight from a
    ///   returning caller or a connect;
    /// - else the probe alone ([`Manager::is_dead`](crate::Manager::is_dead)) if it is taken off
    ///   the idle list and sat there for any time at all on the coarse clock: under load a
    ///   connection is returned and taken again within one clock tick, so the hot path then
    ///   probes nothing;
    /// - else nothing.
    #[inline]
    pub(crate) fn vet(&self, now: Nanos, check_after: Option<Nanos>, source: Source) -> Vet {
        if self.is_unverified() {
            return Vet::Check;
        }
        let from_idle = source == Source::Idle;
        let idle = now.saturating_sub(self.idle_since);
        let check =
            check_after.is_some_and(|after| if after == 0 { from_idle } else { idle > after });
        if check {
            Vet::Check
        } else if from_idle && idle > 0 {
            Vet::Probe
        } else {
            Vet::Ready
        }
    }
}

/// What a connection needs before it is handed out; see [`Live::vet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vet {
    /// Nothing: hand it out.
    Ready,
    /// The dead-connection probe ([`Manager::is_dead`](crate::Manager::is_dead)).
    Probe,
    /// The probe, then a health check ([`Manager::check`](crate::Manager::check)).
    Check,
}

/// Where a connection about to be handed out comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Taken off the idle list.
    Idle,
    /// Handed to a waiter by a returning caller or a finished connect.
    HandOff,
}

/// Whether a checkout that finds nothing idle joins the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Join the FIFO queue ([`get`](crate::Pool::get)).
    Queue,
    /// Fail with [`Error::Unavailable`] ([`try_get`](crate::Pool::try_get)).
    IdleOnly,
}

/// How a connection counted as in use comes back; see [`State::put_back`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Back {
    /// A caller (or a reset) used it: stamped idle from now, or closed if past its lifetime.
    Used,
    /// Its health check was cut short: the next caller must check it.
    Unverified,
    /// Never used (a hand-off passed on by a waiter that gave up, a new connection): its
    /// stamps are kept.
    PassedOn,
}

/// When an acquire left the hot path and when it must give up (pool time), from a real clock
/// reading taken before the first lock, so the clock is never read with the lock held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) start: Nanos,
    pub(crate) at: Option<Nanos>,
}

/// The settings the rules in this file need, in pool time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    max_size: usize,
    min_idle: usize,
    max_connecting: usize,
    breaker_threshold: Option<u32>,
    max_waiters: Option<usize>,
    idle_timeout: Option<Nanos>,
    check_after: Option<Nanos>,
    queue: QueueMode,
}

impl Settings {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            max_size: config.max_size,
            min_idle: config.min_idle,
            max_connecting: config.max_connecting,
            breaker_threshold: config.breaker_threshold,
            max_waiters: config.max_waiters,
            idle_timeout: config.idle_timeout.map(nanos),
            check_after: config.check_after_idle.map(nanos),
            queue: config.queue,
        }
    }
}

/// Connects reserved under the lock, to be spawned after unlocking.
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "reserved connects hold slots: spawn them"]
pub(crate) struct ConnectPlan {
    pub(crate) count: usize,
    /// Consecutive connect failures when planned, for the first attempt's backoff.
    pub(crate) failures: u32,
    /// The last connect failed with a permanent error: the first attempt waits the slow
    /// interval (half to whole `backoff_max`), not the backoff.
    pub(crate) slow: bool,
}

/// What one locked checkout step found; see [`State::checkout`].
#[derive(Debug)]
pub(crate) enum Step<C, E> {
    /// An idle connection, counted in use, and what it needs before it is handed out.
    Idle(Live<C>, Vet),
    /// An idle connection past its lifetime, already uncounted: close it, spawn the plan, and
    /// try again.
    Expired(Live<C>, ConnectPlan),
    /// Joined the queue; spawn `plan`. `pool_timer`: the background task watches the deadline
    /// (else the waiter keeps a timer of its own).
    Queued {
        key: WaiterKey,
        plan: ConnectPlan,
        pool_timer: bool,
    },
    /// Failed at once (closed, `try_get` with nothing idle, queue full, or the breaker); spawn
    /// the plan (a probe) first.
    Refused(Error<E>, ConnectPlan),
}

/// What [`State::leave`] found.
#[derive(Debug)]
#[must_use]
pub(crate) struct Left<C, E> {
    /// What the waiter had been handed before it could leave, if anything: a connection must
    /// be passed on.
    pub(crate) handoff: Option<Handoff<C, E>>,
    /// The counts just before it left, itself included.
    pub(crate) status: Status,
}

/// What happened to a connection that came back; see [`State::put_back`].
#[derive(Debug)]
#[must_use]
pub(crate) enum Returned<C> {
    /// Pushed to the idle queue.
    Idle,
    /// Handed to the oldest waiter; wake it.
    Handed(Option<Waker>),
    /// Not kept (past its lifetime, the pool closing or over its size), already uncounted:
    /// close it.
    Close {
        live: Live<C>,
        reason: RemoveReason,
        freed: Freed,
    },
}

/// What a slot given back means; see [`State::retire`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Freed {
    /// Connects to start for the freed slot.
    pub(crate) plan: ConnectPlan,
    /// The pool just reached size 0 while closed: tell `close()`.
    pub(crate) drained: bool,
}

/// Idle connections taken out of the counts, to be closed, and the connects to start after.
#[derive(Debug)]
#[must_use]
pub(crate) struct Removed<C> {
    pub(crate) removed: Vec<(Live<C>, RemoveReason)>,
    pub(crate) plan: ConnectPlan,
}

impl<C> Default for Removed<C> {
    fn default() -> Self {
        Self {
            removed: Vec::new(),
            plan: ConnectPlan::default(),
        }
    }
}

/// What a successful connect decided; see [`State::connect_succeeded`].
#[derive(Debug)]
#[must_use]
pub(crate) struct Connected<C> {
    /// Where the new connection went.
    pub(crate) returned: Returned<C>,
    /// More connects: waiters remain uncovered, or the pool is still below `min_idle`.
    pub(crate) plan: ConnectPlan,
    /// How long the breaker was open, if this connect closed it.
    pub(crate) reopened: Option<Nanos>,
}

/// What a failed connect attempt decided; see [`State::connect_failed`].
#[derive(Debug)]
#[must_use]
pub(crate) struct AfterFailure {
    /// The connect task retries; otherwise its slot was given back.
    pub(crate) retry: bool,
    /// Consecutive failures, this one included.
    pub(crate) failures: u32,
    /// The retry waits the slow interval (half to whole `backoff_max`), not the backoff: the
    /// error was permanent, or the breaker is open and this is its probe.
    pub(crate) slow: bool,
    /// The breaker opened on this failure.
    pub(crate) opened: bool,
    /// Wakers of the waiters this failure failed (a permanent error).
    pub(crate) wake: Vec<Waker>,
    /// The pool just reached size 0 while closed.
    pub(crate) drained: bool,
}

/// What the background task's pass over the clock and the deadlines found; see
/// [`State::tick`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tick {
    /// The clock is still ticking: wake again within one tick.
    pub(crate) ticking: bool,
    /// The earliest waiter deadline left.
    pub(crate) timer_at: Option<Nanos>,
    /// The earliest deadline among idle connections ([`State::reap`]).
    pub(crate) retire_at: Nanos,
    /// The pool is closed: the task stops.
    pub(crate) closed: bool,
}

/// What [`State::close`] took out: waiters to wake (each was handed [`Error::Closed`]) and idle
/// connections to close.
#[derive(Debug)]
#[must_use]
pub(crate) struct Closing<C> {
    pub(crate) wake: Vec<Waker>,
    pub(crate) idle: Vec<Live<C>>,
}

/// Where a slot given back by [`State::free_slot`] was held.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// An idle connection, already taken off the idle list.
    Idle(RemoveReason),
    /// A connection in use.
    InUse(RemoveReason),
    /// A connect in flight that ends without a connection.
    Connecting,
}

/// The data the pool's lock guards. Every field is private; see the module docs.
#[derive(Debug)]
pub(crate) struct State<C, E> {
    settings: Settings,
    idle: VecDeque<Live<C>>,
    waiters: WaiterQueue<C, E>,
    /// Connections open or being opened: `idle.len() + in_use + connecting`.
    size: usize,
    in_use: usize,
    connecting: usize,
    /// The current bound on `size` ([`State::resize`] changes it).
    max_size: usize,
    closed: bool,
    counters: Counters,
    last_connect_error: Option<ConnectError<E>>,
    connect_failures: u32,
    /// The latest clock reading anyone took (pool time; see `clock.rs`).
    now: Nanos,
    /// The background task is ticking: `now` is at most one clock tick old.
    clock_live: bool,
    /// Someone used `now` instead of the clock since the last tick.
    clock_used: bool,
    /// The background task is running (it clears this when its future is dropped).
    background_alive: bool,
    /// Waiters' deadlines, earliest first, for the background task. Entries of waiters that
    /// were served or gave up are left in place and skipped; the heap is compacted when they
    /// outnumber the live ones.
    deadlines: BinaryHeap<Reverse<(Nanos, WaiterKey)>>,
    /// When the background task will next look at `deadlines` (`None`: it will not).
    timer_at: Option<Nanos>,
    /// The earliest deadline (lifetime, or idle timeout) among idle connections that the
    /// background task knows of, so it wakes to retire each one at its own time; `Nanos::MAX`
    /// for none. Set by [`State::reap`], lowered when a connection going idle expires sooner.
    retire_at: Nanos,
    /// When the breaker opened; `None` while it is closed.
    breaker_open_since: Option<Nanos>,
    /// Since the breaker's probe last failed, a caller was failed fast, failed by a permanent
    /// error, or timed out waiting while the breaker was open: callers are still asking, so the
    /// probe keeps going.
    probe_wanted: bool,
    /// The background task must be woken once the lock is released (the clock went live, or a
    /// deadline is earlier than it planned for). Taken by `Shared::with_state`, so no path can
    /// forget it.
    poke: bool,
}

impl<C, E> State<C, E> {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            idle: VecDeque::with_capacity(settings.max_size),
            waiters: WaiterQueue::new(),
            size: 0,
            in_use: 0,
            connecting: 0,
            max_size: settings.max_size,
            closed: false,
            counters: Counters::default(),
            last_connect_error: None,
            connect_failures: 0,
            now: 0,
            clock_live: false,
            clock_used: false,
            background_alive: false,
            deadlines: BinaryHeap::new(),
            timer_at: None,
            retire_at: Nanos::MAX,
            breaker_open_since: None,
            probe_wanted: false,
            poke: false,
        }
    }

    // ---- reading ------------------------------------------------------------------------------

    /// The invariant that holds at every unlock (see the module docs).
    pub(crate) fn invariant_holds(&self) -> bool {
        self.size == self.idle.len() + self.in_use + self.connecting
            && (self.size <= self.max_size || self.idle.is_empty())
            && (self.waiters.len() == 0 || self.idle.is_empty() || self.closed)
    }

    pub(crate) fn status(&self) -> Status {
        Status {
            max_size: self.max_size,
            size: self.size,
            idle: self.idle.len(),
            in_use: self.in_use,
            connecting: self.connecting,
            waiting: self.waiters.len(),
            breaker_open: self.breaker_open_since.is_some(),
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    pub(crate) fn last_connect_error(&self) -> Option<ConnectError<E>> {
        self.last_connect_error.clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// When the background task must next look at the idle connections: the earliest lifetime
    /// deadline among them (and idle deadline, as of its last pass); `Nanos::MAX` for none.
    pub(crate) fn next_retire(&self) -> Nanos {
        self.retire_at
    }

    /// No connection is open or being opened.
    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// No waiter queued or holding an uncollected hand-off (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn waiters_is_empty_for_tests(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Whether the background task must be woken now that the lock is released; clears it.
    #[inline]
    pub(crate) fn take_poke(&mut self) -> bool {
        std::mem::take(&mut self.poke)
    }

    // ---- the clock ----------------------------------------------------------------------------

    /// The time for a decision that tolerates one clock tick of lag: `now` while the background
    /// task keeps it fresh, else a real reading, after which the clock goes live and the
    /// background task is poked to start ticking.
    #[inline]
    fn coarse_now(&mut self, clock: &Clock) -> Nanos {
        if self.clock_live {
            self.clock_used = true;
            return self.now;
        }
        let now = self.observe(clock.now());
        if self.background_alive {
            self.clock_live = true;
            self.clock_used = true;
            self.poke = true;
        }
        now
    }

    /// Records a real clock reading; returns the (monotonic) pool time.
    #[inline]
    fn observe(&mut self, now: Nanos) -> Nanos {
        self.now = self.now.max(now);
        self.now
    }

    // ---- slots: the only places `size` changes ------------------------------------------------

    /// Takes a slot for a connect.
    fn reserve_connect(&mut self) {
        self.size += 1;
        self.connecting += 1;
    }

    /// Gives a slot back and counts why its connection left.
    fn free_slot(&mut self, held: Held) {
        match held {
            Held::Idle(reason) => self.counters.count_removal(reason),
            Held::InUse(reason) => {
                self.in_use -= 1;
                self.counters.count_removal(reason);
            }
            Held::Connecting => self.connecting -= 1,
        }
        self.size -= 1;
    }

    /// After a slot was freed: connects for it, and whether the pool just drained while closed.
    fn freed(&mut self) -> Freed {
        Freed {
            plan: self.plan_connects(),
            drained: self.closed && self.size == 0,
        }
    }

    // ---- checkout -----------------------------------------------------------------------------

    /// The hot path: the most recently returned idle connection, counted in use, if it needs
    /// neither a check nor retirement (judged on the coarse clock, so no clock is read); `vet`
    /// says whether it needs the probe. `None` leaves everything as it was, for
    /// [`State::checkout`]. (The probe decision is an out-parameter because a `(Live, Vet)`
    /// return value carries padding that the compiler copies with overlapping moves; see
    /// docs/pool.md.)
    #[inline]
    pub(crate) fn take_ready(&mut self, clock: &Clock, vet: &mut Vet) -> Option<Live<C>> {
        if self.closed || self.idle.is_empty() {
            return None;
        }
        let now = self.coarse_now(clock);
        let top = self.idle.back()?;
        let found = top.vet(now, self.settings.check_after, Source::Idle);
        if top.is_expired(now) || found == Vet::Check {
            return None;
        }
        *vet = found;
        let live = self.idle.pop_back()?;
        self.in_use += 1;
        self.counters.gets += 1;
        Some(live)
    }

    /// One locked checkout step: take an idle connection (judged on the coarse clock), refuse
    /// (closed, nothing idle for `try_get`, the breaker, a full queue), or join the queue with
    /// `waker` and `deadline` and reserve connects by the spike rule.
    pub(crate) fn checkout(
        &mut self,
        clock: &Clock,
        wait: Wait,
        deadline: Deadline,
        waker: &Waker,
    ) -> Step<C, E> {
        if self.closed {
            return Step::Refused(Error::Closed, ConnectPlan::default());
        }
        if let Some(live) = self.idle.pop_back() {
            self.in_use += 1;
            let now = self.coarse_now(clock);
            if live.is_expired(now) {
                let freed = self.retire(RemoveReason::MaxLifetime);
                return Step::Expired(live, freed.plan);
            }
            self.counters.gets += 1;
            let vet = live.vet(now, self.settings.check_after, Source::Idle);
            return Step::Idle(live, vet);
        }
        if wait == Wait::IdleOnly {
            return Step::Refused(Error::Unavailable, ConnectPlan::default());
        }
        if let Some((error, plan)) = self.fail_fast(deadline.start) {
            return Step::Refused(error, plan);
        }
        if let Some(max_waiters) = self.settings.max_waiters
            && self.waiters.len() >= max_waiters
        {
            self.counters.rejected_queue_full += 1;
            let error = Error::QueueFull {
                max_waiters,
                last_connect_error: self.last_connect_error.clone(),
            };
            return Step::Refused(error, ConnectPlan::default());
        }
        self.observe(deadline.start);
        let key = self.waiters.push_back(waker.clone());
        let pool_timer = self.background_alive;
        if let Some(at) = deadline.at.filter(|_| pool_timer) {
            self.add_deadline(at, key);
        }
        let plan = self.plan_connects();
        Step::Queued {
            key,
            plan,
            pool_timer,
        }
    }

    /// A waiter's poll: what it was handed, if it was served; otherwise its waker is kept for
    /// whoever serves it.
    #[inline]
    pub(crate) fn collect(&mut self, key: WaiterKey, waker: &Waker) -> Option<Handoff<C, E>> {
        self.waiters.collect(key, waker)
    }

    /// A waiter gives up (dropped, or its own timer fired): it leaves the queue, taking what
    /// it was handed if it was served first. Its deadline entry is skipped as stale later; the
    /// connects planned for it keep running and serve the next waiter or go idle.
    pub(crate) fn leave(&mut self, key: WaiterKey) -> Left<C, E> {
        let status = self.status();
        Left {
            handoff: self.waiters.leave(key),
            status,
        }
    }

    /// Registers a waiter's deadline with the background task, poking it when this deadline is
    /// earlier than any it will wake up for.
    fn add_deadline(&mut self, deadline: Nanos, key: WaiterKey) {
        if self.deadlines.len() >= 2 * self.waiters.len() + 32 {
            let waiters = &self.waiters;
            self.deadlines
                .retain(|Reverse((_, k))| waiters.is_waiting(*k));
        }
        self.deadlines.push(Reverse((deadline, key)));
        if self.timer_at.is_none_or(|t| deadline < t) {
            self.timer_at = Some(deadline);
            self.poke = true;
        }
    }

    /// Whether a caller that found nothing idle at `now` is failed at once because the breaker
    /// is open, and with what. Not when the pool is full of open connections (the caller waits
    /// for one to come back, as always), nor, after a transient failure, while no probe is in
    /// flight (the caller's own connect is then the next probe, and it waits for it). After a
    /// permanent failure it always is, and a probe is reserved if none is in flight (spawn the
    /// plan). Each rejection tells the probe that callers still ask.
    fn fail_fast(&mut self, now: Nanos) -> Option<(Error<E>, ConnectPlan)> {
        let since = self.breaker_open_since?;
        if self.closed || self.size.saturating_sub(self.connecting) >= self.max_size {
            return None;
        }
        let last = self.last_connect_error.as_ref()?;
        let permanent = last.class() == ErrorClass::Permanent;
        if !permanent && self.connecting == 0 {
            return None;
        }
        let error = if permanent {
            Error::Connect(last.clone())
        } else {
            Error::Unreachable {
                last_connect_error: last.clone(),
                consecutive_failures: self.connect_failures,
                open_for: std::time::Duration::from_nanos(now.saturating_sub(since)),
            }
        };
        self.probe_wanted = true;
        self.counters.rejected_unreachable += 1;
        let probe = self.connecting == 0 && self.size < self.max_size;
        if probe {
            self.reserve_connect();
        }
        Some((error, self.connect_plan(usize::from(probe))))
    }

    // ---- return -------------------------------------------------------------------------------

    /// Takes a connection counted as in use back: to the oldest waiter, else to idle, else
    /// (past its lifetime, the pool closing, or over its bound) out of the pool.
    #[inline]
    pub(crate) fn put_back(&mut self, mut live: Live<C>, back: Back, clock: &Clock) -> Returned<C> {
        match back {
            Back::Used => {
                let now = self.coarse_now(clock);
                if live.is_expired(now) {
                    return self.close_returned(live, RemoveReason::MaxLifetime);
                }
                live.idle_since = now;
            }
            Back::Unverified => live.idle_since = UNVERIFIED,
            Back::PassedOn => {}
        }
        self.place(live)
    }

    /// The oldest waiter, else idle, else out of the pool, for a connection whose stamps are
    /// settled.
    fn place(&mut self, live: Live<C>) -> Returned<C> {
        if self.closed {
            return self.close_returned(live, RemoveReason::Closed);
        }
        if self.size > self.max_size {
            return self.close_returned(live, RemoveReason::Resized);
        }
        if self.waiters.len() > 0 {
            // With a waiter in the FIFO the hand-off cannot come back.
            let waker = self
                .waiters
                .serve_oldest(Handoff::Conn(live))
                .ok()
                .flatten();
            return Returned::Handed(waker);
        }
        self.in_use -= 1;
        if live.expires_at < self.retire_at {
            // Expires before anything the background task will wake for: wake it to plan.
            self.retire_at = live.expires_at;
            self.poke = true;
        }
        match self.settings.queue {
            QueueMode::Lifo => self.idle.push_back(live),
            QueueMode::Fifo => self.idle.push_front(live),
        }
        Returned::Idle
    }

    fn close_returned(&mut self, live: Live<C>, reason: RemoveReason) -> Returned<C> {
        Returned::Close {
            live,
            reason,
            freed: self.retire(reason),
        }
    }

    /// A connection in use leaves the pool (broken, failed its probe or check or reset, past
    /// its lifetime, taken by the user): its slot is freed.
    pub(crate) fn retire(&mut self, reason: RemoveReason) -> Freed {
        self.free_slot(Held::InUse(reason));
        self.freed()
    }

    // ---- connects -----------------------------------------------------------------------------

    /// The connect rule, the one place it is written: with `in_flight` connects running and
    /// `open` slots taken, one more connect is wanted when the pool is open and below
    /// `max_size`, fewer than `max_connecting` connects run (one, the probe, while the breaker
    /// is open), and a waiter is not covered by the connects in flight or the pool is below
    /// `min_idle`.
    fn connect_wanted(&self, in_flight: usize, open: usize) -> bool {
        let cap = if self.breaker_open_since.is_some() {
            1
        } else {
            self.settings.max_connecting
        };
        !self.closed
            && open < self.max_size
            && in_flight < cap
            && (in_flight < self.waiters.len() || open < self.settings.min_idle)
    }

    /// Reserves as many connects as the connect rule wants.
    pub(crate) fn plan_connects(&mut self) -> ConnectPlan {
        let mut count = 0;
        while self.connect_wanted(self.connecting, self.size) {
            self.reserve_connect();
            count += 1;
        }
        self.connect_plan(count)
    }

    fn connect_plan(&self, count: usize) -> ConnectPlan {
        ConnectPlan {
            count,
            failures: self.connect_failures,
            slow: self
                .last_connect_error
                .as_ref()
                .is_some_and(|e| e.class() == ErrorClass::Permanent),
        }
    }

    /// A connect task gives its slot back without a result (it panicked, or was dropped with
    /// its runtime). Returns whether the pool just drained while closed. No connects are
    /// planned here: the task is gone, so the caller asks the background task for a pass.
    pub(crate) fn release_connect_slot(&mut self) -> bool {
        self.free_slot(Held::Connecting);
        self.closed && self.size == 0
    }

    /// Records a connect that succeeded at `now`: the failure streak ends, the breaker closes,
    /// and the new connection goes to the oldest waiter, else idle (or is closed if the pool
    /// closed or shrank meanwhile); then more connects if waiters remain uncovered or the pool
    /// is still below `min_idle` (the first plan was capped by `max_connecting` or the
    /// breaker).
    pub(crate) fn connect_succeeded(&mut self, live: Live<C>, now: Nanos) -> Connected<C> {
        self.observe(now);
        self.connecting -= 1;
        self.in_use += 1;
        self.counters.created += 1;
        self.connect_failures = 0;
        self.last_connect_error = None;
        self.probe_wanted = false;
        let reopened = self.breaker_open_since.take().map(|since| {
            self.counters.breaker_closed += 1;
            now.saturating_sub(since)
        });
        let returned = self.place(live);
        let plan = match returned {
            Returned::Close { .. } => ConnectPlan::default(),
            _ => self.plan_connects(),
        };
        Connected {
            returned,
            plan,
            reopened,
        }
    }

    /// Records a connect attempt that failed with `error` at `now` (its slot still reserved)
    /// and decides what follows:
    ///
    /// - a permanent error fails waiters at once with [`Error::Connect`]: every waiter when no
    ///   connection is idle or in use (none can come back to serve them), else the oldest one
    ///   if some waiter is not covered by the other connects in flight (the one this connect
    ///   was meant to serve);
    /// - the breaker opens when it is on, closed, nothing is idle, and the error is permanent
    ///   or the failures in a row reached `breaker_threshold`;
    /// - the task retries while it is still needed: while the breaker is open, only if it is
    ///   the one connect in flight (the probe) and someone still asks (a waiter, `min_idle`,
    ///   or a caller failed or timed out since its last attempt); otherwise if some waiter is not
    ///   covered by the other connects or the pool is below `min_idle`. If not, its slot is
    ///   given back here.
    pub(crate) fn connect_failed(&mut self, error: &ConnectError<E>, now: Nanos) -> AfterFailure {
        self.observe(now);
        self.counters.connect_errors += 1;
        self.connect_failures = self.connect_failures.saturating_add(1);
        self.last_connect_error = Some(error.clone());
        let permanent = error.class() == ErrorClass::Permanent;
        let mut wake = Vec::new();
        if permanent && !self.closed {
            let fail = if self.idle.is_empty() && self.in_use == 0 {
                self.waiters.len()
            } else {
                // `connecting` counts this connect too.
                usize::from(self.waiters.len() >= self.connecting)
            };
            for _ in 0..fail {
                let failed = Handoff::Failed(Error::Connect(error.clone()));
                match self.waiters.serve_oldest(failed) {
                    Ok(waker) => wake.extend(waker),
                    Err(_) => break,
                }
                self.counters.failed_connect += 1;
                self.probe_wanted = true;
            }
        }
        let mut opened = false;
        if let Some(threshold) = self.settings.breaker_threshold
            && self.breaker_open_since.is_none()
            && self.idle.is_empty()
            && (permanent || self.connect_failures >= threshold)
        {
            self.breaker_open_since = Some(now);
            self.counters.breaker_opened += 1;
            opened = true;
        }
        let open = self.breaker_open_since.is_some();
        let asked = std::mem::take(&mut self.probe_wanted);
        // Would the connect rule start this connect again, its own slot given back? While the
        // breaker is open that means it is the one connect in flight, the probe, and a waiter
        // or `min_idle` wants it; callers failed fast, failed by a permanent error or timed
        // out since its last attempt ask for it too.
        let wanted = self.connect_wanted(self.connecting - 1, self.size - 1);
        let retry = wanted
            || (open
                && asked
                && self.connecting == 1
                && !self.closed
                && self.size <= self.max_size);
        if !retry {
            self.free_slot(Held::Connecting);
        }
        AfterFailure {
            retry,
            failures: self.connect_failures,
            slow: permanent || open,
            opened,
            wake,
            drained: self.closed && self.size == 0,
        }
    }

    // ---- the background task ------------------------------------------------------------------

    /// Marks the background task running; true if it was not (and the pool is open), in which
    /// case the caller spawns it.
    pub(crate) fn start_background(&mut self) -> bool {
        let start = !self.background_alive && !self.closed;
        self.background_alive |= start;
        start
    }

    /// The background task's future was dropped (its runtime shut down while the pool lives
    /// on): the clock stops, and every waiter whose deadline it watched must poll again (their
    /// wakers go to `wake`); the first to notice restarts it.
    pub(crate) fn background_gone(&mut self, wake: &mut Vec<Waker>) {
        self.background_alive = false;
        self.clock_live = false;
        self.timer_at = None;
        self.waiters.wakers(wake);
    }

    /// The background task's pass over the clock and the deadlines: stores the reading, serves
    /// every waiter whose deadline passed with [`Handoff::TimedOut`] (their wakers go to
    /// `wake`), decides whether the clock keeps ticking, and says when to look again.
    pub(crate) fn tick(&mut self, now: Nanos, wake: &mut Vec<Waker>) -> Tick {
        self.observe(now);
        let mut snapshot = None;
        while let Some(&Reverse((deadline, key))) = self.deadlines.peek() {
            if !self.waiters.is_waiting(key) {
                self.deadlines.pop();
                continue;
            }
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            // The counts as the first expired caller saw them, itself included.
            let status = *snapshot.get_or_insert_with(|| self.status());
            wake.extend(self.waiters.serve(key, Handoff::TimedOut(status)));
            // A caller that gave up still asked: the breaker's probe keeps going.
            self.probe_wanted |= self.breaker_open_since.is_some();
        }
        self.timer_at = self.deadlines.peek().map(|Reverse((d, _))| *d);
        if self.clock_live && !self.clock_used {
            self.clock_live = false;
        }
        self.clock_used = false;
        Tick {
            ticking: self.clock_live,
            timer_at: self.timer_at,
            retire_at: self.retire_at,
            closed: self.closed,
        }
    }

    /// The maintenance pass over idle connections at `now`: takes out those past their
    /// lifetime, and, while the pool is above `min_idle`, those idle for `idle_timeout` or
    /// whose check was cut short (least recently used first); then plans connects (which
    /// refills to `min_idle`) and notes the earliest deadline among the idle connections left,
    /// for the background task's next wake-up (`retire_at`). Nothing while closed.
    pub(crate) fn reap(&mut self, now: Nanos) -> Removed<C> {
        if self.closed {
            return Removed::default();
        }
        let idle_timeout = self.settings.idle_timeout;
        let min_idle = self.settings.min_idle;
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.idle.len() {
            let live = &self.idle[i];
            let reason = if live.is_expired(now) {
                Some(RemoveReason::MaxLifetime)
            } else if self.size > min_idle
                && idle_timeout.is_some_and(|t| {
                    // One of unknown health (its check was cut short) may go at once.
                    live.is_unverified() || now.saturating_sub(live.idle_since) >= t
                })
            {
                Some(RemoveReason::IdleTimeout)
            } else {
                None
            };
            match reason.and_then(|r| self.idle.remove(i).map(|l| (l, r))) {
                Some((live, reason)) => {
                    self.free_slot(Held::Idle(reason));
                    removed.push((live, reason));
                }
                None => i += 1,
            }
        }
        // Idle deadlines count only while reaping can take the pool below its size; one that
        // passed was kept for min_idle and is not waited for.
        let reap = idle_timeout.filter(|_| self.size > min_idle);
        let mut next = Nanos::MAX;
        for live in &self.idle {
            next = next.min(live.expires_at);
            if let Some(t) = reap {
                let at = live.idle_since.saturating_add(t);
                if at > now {
                    next = next.min(at);
                }
            }
        }
        self.retire_at = next;
        Removed {
            removed,
            plan: self.plan_connects(),
        }
    }

    /// Removes the idle connections that have sat idle since `cutoff` or longer (and those of
    /// unknown health), counting them as failed checks: after a health check ran out of
    /// `check_timeout`, the connections idle at least as long as the silent one most likely
    /// crossed the same network event (a NAT or firewall that dropped its state, a failover),
    /// and checking them one by one would cost one caller a `check_timeout` each.
    pub(crate) fn evict_idle_since(&mut self, cutoff: Nanos) -> Removed<C> {
        let mut removed = Vec::new();
        let mut i = 0;
        while i < self.idle.len() {
            let live = &self.idle[i];
            if (live.idle_since <= cutoff || live.is_unverified())
                && let Some(live) = self.idle.remove(i)
            {
                self.free_slot(Held::Idle(RemoveReason::CheckFailed));
                removed.push((live, RemoveReason::CheckFailed));
            } else {
                i += 1;
            }
        }
        Removed {
            removed,
            plan: self.plan_connects(),
        }
    }

    // ---- the pool's life ----------------------------------------------------------------------

    /// Changes the bound on `size`: surplus idle connections leave at once (oldest first), the
    /// surplus in use when it comes back ([`State::put_back`]); growing plans connects for the
    /// waiters.
    pub(crate) fn resize(&mut self, max_size: usize) -> Removed<C> {
        self.max_size = max_size;
        let mut removed = Vec::new();
        while self.size > self.max_size {
            let Some(live) = self.idle.pop_front() else {
                break;
            };
            self.free_slot(Held::Idle(RemoveReason::Resized));
            removed.push((live, RemoveReason::Resized));
        }
        Removed {
            removed,
            plan: self.plan_connects(),
        }
    }

    /// Closes the pool: every waiter is handed [`Error::Closed`], the deadlines are dropped,
    /// and the idle connections leave, to be closed. Connections in use and connects in flight
    /// leave as they come back. Idempotent: a second call takes nothing.
    pub(crate) fn close(&mut self) -> Closing<C> {
        let mut closing = Closing {
            wake: Vec::new(),
            idle: Vec::new(),
        };
        if self.closed {
            return closing;
        }
        self.closed = true;
        while let Ok(waker) = self.waiters.serve_oldest(Handoff::Failed(Error::Closed)) {
            closing.wake.extend(waker);
        }
        self.deadlines.clear();
        self.timer_at = None;
        while let Some(live) = self.idle.pop_front() {
            self.free_slot(Held::Idle(RemoveReason::Closed));
            closing.idle.push(live);
        }
        closing
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::task::Waker;
    use std::time::Duration;

    use super::*;

    type St = State<u32, std::io::Error>;

    fn settings(max_size: usize) -> Settings {
        Settings::new(&Config {
            max_size,
            ..Config::default()
        })
    }

    fn live(conn: u32, now: Nanos) -> Live<u32> {
        Live {
            conn,
            created_at: now,
            expires_at: Nanos::MAX,
            idle_since: now,
        }
    }

    fn queue(st: &mut St) -> WaiterKey {
        let deadline = Deadline { start: 0, at: None };
        match st.checkout(&Clock::new(), Wait::Queue, deadline, Waker::noop()) {
            Step::Queued { key, .. } => key,
            other => panic!("expected to queue, got {other:?}"),
        }
    }

    /// Callers that queue and give up (or are served) leave stale deadline entries; the heap
    /// must stay within a constant factor of the live waiters however many come and go.
    #[test]
    fn deadline_heap_stays_bounded_under_enqueue_and_cancel() {
        let mut st = St::new(settings(1));
        st.background_alive = true;
        let parked: Vec<WaiterKey> = (0..100)
            .map(|i| {
                let key = st.waiters.push_back(Waker::noop().clone());
                st.add_deadline(1_000_000 + i, key);
                key
            })
            .collect();
        for i in 0..100_000u64 {
            let key = st.waiters.push_back(Waker::noop().clone());
            st.add_deadline(2_000_000 + i, key);
            assert!(st.leave(key).handoff.is_none());
            // Compaction runs before a push once stale entries outnumber the live ones.
            assert!(
                st.deadlines.len() <= 2 * (st.waiters.len() + 1) + 33,
                "heap grew to {} for {} waiters",
                st.deadlines.len(),
                st.waiters.len()
            );
        }
        // The parked callers' deadlines survived the compactions and fire in order.
        let mut woken = Vec::new();
        st.tick(1_000_049, &mut woken);
        assert_eq!(woken.len(), 50);
        assert_eq!(st.waiters.len(), 50);
        assert!(parked[..50].iter().all(|k| !st.waiters.is_waiting(*k)));
        assert!(parked[50..].iter().all(|k| st.waiters.is_waiting(*k)));
        assert_eq!(st.timer_at, Some(1_000_050));
    }

    /// A deadline earlier than any the background task plans for pokes it; a later one does not.
    #[test]
    fn only_an_earlier_deadline_pokes_the_background_task() {
        let mut st = St::new(settings(1));
        let a = st.waiters.push_back(Waker::noop().clone());
        st.add_deadline(500, a);
        assert!(st.take_poke());
        let b = st.waiters.push_back(Waker::noop().clone());
        st.add_deadline(900, b);
        assert!(!st.poke, "a later deadline needs no wake-up");
        let c = st.waiters.push_back(Waker::noop().clone());
        st.add_deadline(100, c);
        assert!(st.poke);
        assert_eq!(st.timer_at, Some(100));
    }

    /// The breaker's rules at the level of the counts: it opens at the threshold only with
    /// nothing idle; while open, at most one connect is planned, a caller that finds nothing
    /// idle is failed only while that probe is in flight (after a transient error), and a
    /// success closes it.
    #[test]
    fn breaker_opens_with_nothing_idle_caps_connects_and_fails_fast_only_during_a_probe() {
        let mut st = St::new(settings(4));
        let error = ConnectError::<std::io::Error>::TimedOut(Duration::from_secs(1));
        // Two callers wait; two connects for them (max_connecting 2, the default).
        for _ in 0..2 {
            let _ = st.waiters.push_back(Waker::noop().clone());
        }
        assert_eq!(st.plan_connects().count, 2);
        for failures in 1..=2 {
            let after = st.connect_failed(&error, 10);
            assert!(after.retry && !after.opened && !after.slow, "{failures}");
        }
        assert!(st.fail_fast(20).is_none(), "closed breaker");
        let after = st.connect_failed(&error, 30);
        assert!(after.opened && after.slow);
        // The other connect in flight gives its slot back at its next failure; one remains.
        assert!(!after.retry);
        assert_eq!(st.connecting, 1);
        assert!(st.status().breaker_open);
        // A new caller that finds nothing idle fails at once while the probe is in flight.
        let (failed, plan) = st.fail_fast(50).expect("fails fast");
        assert_eq!(plan.count, 0);
        assert!(matches!(
            failed,
            Error::Unreachable { consecutive_failures: 3, open_for, .. }
                if open_for == Duration::from_nanos(20)
        ));
        // The probe fails again: the waiters and the failed-fast caller still ask. Then the
        // waiters leave and nobody asks before the next failure: it stops.
        let after = st.connect_failed(&error, 60);
        assert!(after.retry);
        while st
            .waiters
            .serve_oldest(Handoff::Failed(Error::Closed))
            .is_ok()
        {}
        let after = st.connect_failed(&error, 70);
        assert!(!after.retry, "nobody asked since the last attempt");
        assert_eq!((st.size, st.connecting), (0, 0));
        // No probe in flight: the next caller is let through and its connect is the probe;
        // only one is planned however many wait.
        assert!(st.fail_fast(90).is_none());
        for _ in 0..3 {
            let _ = st.waiters.push_back(Waker::noop().clone());
        }
        assert_eq!(st.plan_connects().count, 1);
        assert!(st.fail_fast(95).is_some());
        let connected = st.connect_succeeded(live(1, 100), 100);
        assert_eq!(connected.reopened, Some(70));
        assert!(matches!(connected.returned, Returned::Handed(_)));
        assert!(!st.status().breaker_open);
        assert_eq!(
            (st.counters.breaker_opened, st.counters.breaker_closed),
            (1, 1)
        );
    }

    /// The coarse clock goes live on a real reading, stays live while it is used, and stops
    /// after one tick without use; while live, checkouts read the stored time, not the clock.
    #[test]
    fn coarse_clock_stops_after_a_tick_without_use() {
        let clock = Clock::new();
        let mut st = St::new(settings(1));
        st.background_alive = true;
        let first = st.coarse_now(&clock);
        assert!(st.clock_live && st.take_poke());
        // While live, the stored reading is returned as is.
        st.now = first + 5;
        assert_eq!(st.coarse_now(&clock), first + 5);
        assert!(!st.poke);
        let mut woken = Vec::new();
        assert!(
            st.tick(first + 10, &mut woken).ticking,
            "used since the last tick: keeps ticking"
        );
        assert!(
            !st.tick(first + 20, &mut woken).ticking,
            "unused for a tick: stops"
        );
        assert!(!st.clock_live);
        // Without a background task the clock never goes live (nobody would keep it fresh).
        let mut lone = St::new(settings(1));
        lone.coarse_now(&clock);
        assert!(!lone.clock_live && !lone.poke);
    }

    /// The connect rule at the level of the counts: connects only for uncovered waiters or to
    /// reach `min_idle`, capped by `max_connecting` and `max_size`; a connection coming back
    /// goes to the oldest waiter before idle.
    #[test]
    fn connects_cover_waiters_once_and_a_return_serves_the_oldest() {
        let mut st = St::new(settings(3));
        let first = queue(&mut st);
        assert_eq!(st.connecting, 1, "one connect for one waiter");
        let _second = queue(&mut st);
        let _third = queue(&mut st);
        assert_eq!(st.connecting, 2, "capped by max_connecting");
        assert_eq!(st.plan_connects().count, 0, "every slot planned already");
        let connected = st.connect_succeeded(live(7, 0), 0);
        assert!(matches!(connected.returned, Returned::Handed(_)));
        assert_eq!(
            connected.plan.count, 1,
            "the third waiter is still uncovered"
        );
        assert!(!st.waiters.is_waiting(first));
        assert!(matches!(
            st.collect(first, Waker::noop()),
            Some(Handoff::Conn(l)) if l.conn == 7
        ));
        assert_eq!((st.size, st.in_use, st.connecting), (3, 1, 2));
        assert!(st.invariant_holds());
    }

    /// Every transition, driven at random with no runtime, keeps the invariant, and every
    /// connection is accounted for: handed out, idle, or closed.
    #[test]
    fn random_transitions_keep_the_invariant() {
        let clock = Clock::new();
        for seed in 0..200 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut st = St::new(Settings {
                min_idle: rng.usize(0..2),
                max_connecting: rng.usize(1..4),
                ..settings(rng.usize(1..5))
            });
            st.background_alive = rng.bool();
            let mut held: Vec<Live<u32>> = Vec::new();
            let mut keys = Vec::new();
            let mut next = 0u32;
            let mut now = 0;
            for _ in 0..300 {
                now += rng.u64(0..1_000_000);
                match rng.u8(0..12) {
                    0 | 1 => {
                        let wait = if rng.bool() {
                            Wait::Queue
                        } else {
                            Wait::IdleOnly
                        };
                        let deadline = Deadline {
                            start: now,
                            at: Some(now + 50_000_000),
                        };
                        match st.checkout(&clock, wait, deadline, Waker::noop()) {
                            Step::Idle(live, _) => held.push(live),
                            Step::Queued { key, .. } => keys.push(key),
                            Step::Expired(..) | Step::Refused(..) => {}
                        }
                    }
                    2 if !keys.is_empty() => {
                        let key = keys.swap_remove(rng.usize(0..keys.len()));
                        if let Some(Handoff::Conn(live)) = st.leave(key).handoff {
                            held.push(live);
                        }
                    }
                    3 if !keys.is_empty() => {
                        let i = rng.usize(0..keys.len());
                        match st.collect(keys[i], Waker::noop()) {
                            Some(Handoff::Conn(live)) => {
                                held.push(live);
                                keys.swap_remove(i);
                            }
                            Some(_) => {
                                keys.swap_remove(i);
                            }
                            None => {}
                        }
                    }
                    4 | 5 if !held.is_empty() => {
                        let live = held.swap_remove(rng.usize(0..held.len()));
                        let back = [Back::Used, Back::Unverified, Back::PassedOn][rng.usize(0..3)];
                        let _ = st.put_back(live, back, &clock);
                    }
                    6 if !held.is_empty() => {
                        held.swap_remove(rng.usize(0..held.len()));
                        let _ = st.retire(RemoveReason::Broken);
                    }
                    7 if st.connecting > 0 => {
                        if rng.bool() {
                            next += 1;
                            let _ = st.connect_succeeded(live(next, now), now);
                        } else {
                            let error = ConnectError::TimedOut(Duration::from_secs(1));
                            let _ = st.connect_failed(&error, now);
                        }
                    }
                    8 if st.connecting > 0 && rng.u8(0..4) == 0 => {
                        st.release_connect_slot();
                    }
                    9 => {
                        let mut wake = Vec::new();
                        let _ = st.tick(now, &mut wake);
                        let _ = st.reap(now);
                    }
                    10 => {
                        let _ = st.resize(rng.usize(1..5).max(st.settings.min_idle));
                    }
                    11 if rng.u8(0..20) == 0 => {
                        let _ = st.close();
                    }
                    _ => {
                        let _ = st.plan_connects();
                    }
                }
                assert!(st.invariant_holds(), "seed {seed}: {:?}", st.status());
                assert_eq!(
                    st.in_use,
                    held.len() + st.waiters.uncollected_conns(),
                    "seed {seed}"
                );
            }
        }
    }
}
