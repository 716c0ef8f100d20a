//! The bookkeeping behind the pool's lock: plain synchronous code, no `.await`, no I/O.
//!
//! [`State`] holds the idle connections, the waiter queue, the counts, the connect failure streak
//! and the breaker. Every method of `State` and [`WaiterQueue`] runs with the pool lock held and
//! returns what must happen after the lock is released (a waker to wake, a connection to close,
//! connects to spawn, an event to emit); the async layer in `pool.rs` does those things.
//!
//! # Failed connects and the breaker
//!
//! [`State::connect_failed`] records a failed connect and decides, in one place, what follows:
//! which waiters a permanent error fails at once, whether the breaker opens, whether the connect
//! task retries and how soon. [`State::fail_fast`] decides whether a caller that found nothing
//! idle is failed at once because the breaker is open, and [`State::connect_succeeded`] closes
//! it. docs/pool.md states the rules.
//!
//! # The waiter queue
//!
//! [`WaiterQueue`] is a slab (a `Vec` of slots plus a free list) with a doubly linked FIFO
//! threaded through slot indices. Enqueue, dequeue of the oldest and removal of any waiter are
//! O(1). Each slot holds a hand-off [`HandoffCell`] that the waiter's future shares (an `Arc`): a
//! connection (or the news that the pool closed, or that the deadline passed) is put straight
//! into the oldest waiter's cell and the slot leaves the FIFO, so a caller arriving later cannot
//! take it. The waiter's future collects it on its next poll under the cell's own lock, not the
//! pool's: under contention that is one pool lock per checkout fewer. If the future is dropped
//! first, its `Drop` passes the connection on (see `pool.rs`). Slots carry a sequence number so
//! a stale key can never touch a reused slot. Cells are reset and reused with their slots, so
//! once the slab has grown to the largest queue seen nothing is allocated, except when a slot
//! comes round again before its previous waiter has dropped its handle.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::task::Waker;

use crate::clock::{Clock, Nanos};
use crate::error::{ConnectError, Error};
use crate::manager::ErrorClass;
use crate::stats::{RemoveReason, Status};

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
pub(crate) const UNVERIFIED: Nanos = Nanos::MAX;

impl<C> Live<C> {
    #[inline]
    pub(crate) fn is_unverified(&self) -> bool {
        self.idle_since == UNVERIFIED
    }

    #[inline]
    pub(crate) fn is_expired(&self, now: Nanos) -> bool {
        now >= self.expires_at
    }
}

/// What a waiter can be handed.
#[derive(Debug)]
pub(crate) enum Handoff<C, E> {
    /// A connection, already counted as in use.
    Conn(Live<C>),
    /// A connect meant to serve this waiter failed with a permanent error.
    Failed(ConnectError<E>),
    /// The pool closed.
    Closed,
    /// The waiter's deadline passed; the pool's counts just before it was dropped from the
    /// queue.
    TimedOut(Status),
}

const NIL: usize = usize::MAX;

/// One waiter's hand-off cell, shared by its queue slot and its future through an `Arc`, so the
/// future collects what it was handed under this cell's own lock and not the pool's. The pool
/// fills it while holding the pool lock (the only nesting: pool, then cell), so a waiter that
/// the queue no longer holds always finds its hand-off here.
#[derive(Debug)]
pub(crate) struct HandoffCell<C, E>(parking_lot::Mutex<CellState<C, E>>);

#[derive(Debug)]
enum CellState<C, E> {
    /// Queued: the waker to wake when served.
    Waiting(Option<Waker>),
    /// Served and not collected yet.
    Served(Handoff<C, E>),
    /// Collected, or given up.
    Done,
}

impl<C, E> HandoffCell<C, E> {
    fn new(waker: Waker) -> Self {
        Self(parking_lot::Mutex::new(CellState::Waiting(Some(waker))))
    }

    /// Collects the hand-off if there is one; otherwise stores `waker` (unless it already has
    /// an equivalent one) so the server wakes the right task.
    #[inline]
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Handoff<C, E>> {
        let mut state = self.0.lock();
        match &mut *state {
            CellState::Served(_) => match std::mem::replace(&mut *state, CellState::Done) {
                CellState::Served(h) => Some(h),
                _ => None,
            },
            CellState::Waiting(Some(w)) if w.will_wake(waker) => None,
            CellState::Waiting(w) => {
                *w = Some(waker.clone());
                None
            }
            CellState::Done => None,
        }
    }

    /// Takes a hand-off that was never collected (the waiter gave up after being served).
    pub(crate) fn take(&self) -> Option<Handoff<C, E>> {
        let mut state = self.0.lock();
        match std::mem::replace(&mut *state, CellState::Done) {
            CellState::Served(h) => Some(h),
            _ => None,
        }
    }

    /// Puts `handoff` in the cell; returns the waker to wake after unlocking.
    fn serve(&self, handoff: Handoff<C, E>) -> Option<Waker> {
        let mut state = self.0.lock();
        let before = std::mem::replace(&mut *state, CellState::Served(handoff));
        // Only a queued waiter is served, and only once.
        debug_assert!(matches!(before, CellState::Waiting(_)), "served twice");
        match before {
            CellState::Waiting(w) => w,
            _ => None,
        }
    }

    /// Marks a waiter that left the queue unserved, dropping its waker.
    fn give_up(&self) {
        *self.0.lock() = CellState::Done;
    }

    fn waker(&self) -> Option<Waker> {
        match &*self.0.lock() {
            CellState::Waiting(w) => w.clone(),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Slot<C, E> {
    /// Identifies the waiter using this slot; a key with another `seq` is stale.
    seq: u64,
    prev: usize,
    next: usize,
    /// In the FIFO (not yet served, not given up).
    linked: bool,
    /// The hand-off cell, kept with the slot and reused by its next waiter once the previous
    /// one has dropped its handle (see [`WaiterQueue::push_back`]).
    cell: Arc<HandoffCell<C, E>>,
}

/// Identifies one waiter's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WaiterKey {
    index: usize,
    seq: u64,
}

/// FIFO of waiters with O(1) removal; see the module docs.
#[derive(Debug)]
pub(crate) struct WaiterQueue<C, E> {
    slots: Vec<Slot<C, E>>,
    /// Free slots, oldest first: a slot is reused as late as possible, so the waiter that last
    /// held its cell has most likely collected and let go of it, and the cell can be reset
    /// instead of allocated.
    free: VecDeque<usize>,
    head: usize,
    tail: usize,
    len: usize,
    next_seq: u64,
}

impl<C, E> WaiterQueue<C, E> {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: VecDeque::new(),
            head: NIL,
            tail: NIL,
            len: 0,
            next_seq: 0,
        }
    }

    /// Waiters in the FIFO (not yet served).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends a waiter at the back; returns its key and its hand-off cell. The cell of a free
    /// slot is reset in place when nobody else holds it (the usual case, as free slots are
    /// reused oldest first); a new one is allocated only when the slab grows or the slot's
    /// previous waiter still holds its handle.
    pub(crate) fn push_back(&mut self, waker: Waker) -> (WaiterKey, Arc<HandoffCell<C, E>>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let prev = self.tail;
        let index = match self.free.pop_front() {
            Some(i) => {
                let slot = &mut self.slots[i];
                slot.seq = seq;
                slot.prev = prev;
                slot.next = NIL;
                slot.linked = true;
                match Arc::get_mut(&mut slot.cell) {
                    Some(cell) => *cell.0.get_mut() = CellState::Waiting(Some(waker)),
                    None => slot.cell = Arc::new(HandoffCell::new(waker)),
                }
                i
            }
            None => {
                self.slots.push(Slot {
                    seq,
                    prev,
                    next: NIL,
                    linked: true,
                    cell: Arc::new(HandoffCell::new(waker)),
                });
                self.slots.len() - 1
            }
        };
        if prev == NIL {
            self.head = index;
        } else {
            self.slots[prev].next = index;
        }
        self.tail = index;
        self.len += 1;
        (
            WaiterKey { index, seq },
            Arc::clone(&self.slots[index].cell),
        )
    }

    /// Unlinks a waiter and frees its slot (its cell stays with the slot).
    fn remove(&mut self, index: usize) {
        let (prev, next) = {
            let s = &mut self.slots[index];
            debug_assert!(s.linked);
            s.linked = false;
            (s.prev, s.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next].prev = prev;
        }
        self.len -= 1;
        self.free.push_back(index);
    }

    /// True while the waiter is in the FIFO (not served, not cancelled).
    pub(crate) fn is_waiting(&self, key: WaiterKey) -> bool {
        self.slots
            .get(key.index)
            .is_some_and(|s| s.linked && s.seq == key.seq)
    }

    /// Serves one particular waiter (one whose deadline passed) with `handoff`. Returns its
    /// waker; does nothing if the waiter is no longer in the FIFO.
    pub(crate) fn serve(&mut self, key: WaiterKey, handoff: Handoff<C, E>) -> Option<Waker> {
        if !self.is_waiting(key) {
            return None;
        }
        self.serve_at(key.index, handoff)
    }

    /// Takes the waiter at `index` out of the FIFO and puts `handoff` in its cell.
    fn serve_at(&mut self, index: usize, handoff: Handoff<C, E>) -> Option<Waker> {
        self.remove(index);
        self.slots[index].cell.serve(handoff)
    }

    /// Clones the waker of every waiter in the FIFO into `out` (to make them poll again).
    pub(crate) fn wakers(&self, out: &mut Vec<Waker>) {
        let mut i = self.head;
        while i != NIL {
            let slot = &self.slots[i];
            out.extend(slot.cell.waker());
            i = slot.next;
        }
    }

    /// Serves the oldest waiter with `handoff`; gives the handoff back if nobody waits.
    /// Returns the waker to wake after unlocking.
    pub(crate) fn serve_oldest(
        &mut self,
        handoff: Handoff<C, E>,
    ) -> Result<Option<Waker>, Handoff<C, E>> {
        let index = self.head;
        if index == NIL {
            return Err(handoff);
        }
        Ok(self.serve_at(index, handoff))
    }

    /// Removes a waiter that gives up, wherever it is in the queue, and clears its cell (so the
    /// slab keeps no waker, and with it no task, alive until the slot is reused). Returns false
    /// if it was no longer queued: it has been served, and its cell holds what it was given,
    /// which the caller must take and pass on.
    pub(crate) fn cancel(&mut self, key: WaiterKey) -> bool {
        if !self.is_waiting(key) {
            return false;
        }
        self.remove(key.index);
        self.slots[key.index].cell.give_up();
        true
    }
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

/// What a failed connect attempt decided, under the lock; see [`State::connect_failed`].
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

/// What to do with a connection coming back, decided under the lock.
#[derive(Debug)]
#[must_use]
pub(crate) enum Returned<C> {
    /// Pushed to the idle queue.
    Idle,
    /// Handed to the oldest waiter; wake it.
    Handed(Option<Waker>),
    /// Not kept (pool closing or over its size): close it; `drained` says the pool just
    /// reached size 0 while closed.
    Close {
        live: Live<C>,
        reason: RemoveReason,
        plan: ConnectPlan,
        drained: bool,
    },
}

/// The data the pool's lock guards.
#[derive(Debug)]
pub(crate) struct State<C, E> {
    pub(crate) idle: VecDeque<Live<C>>,
    pub(crate) waiters: WaiterQueue<C, E>,
    /// Connections open or being opened: `idle.len() + in_use + connecting`.
    pub(crate) size: usize,
    pub(crate) in_use: usize,
    pub(crate) connecting: usize,
    pub(crate) max_size: usize,
    pub(crate) closed: bool,
    pub(crate) counters: Counters,
    pub(crate) last_connect_error: Option<ConnectError<E>>,
    pub(crate) connect_failures: u32,
    /// The latest clock reading anyone took (pool time; see `clock.rs`).
    pub(crate) now: Nanos,
    /// The background task is ticking: `now` is at most one clock tick old.
    pub(crate) clock_live: bool,
    /// Someone used `now` instead of the clock since the last tick.
    pub(crate) clock_used: bool,
    /// The background task is running (it clears this when its future is dropped).
    pub(crate) background_alive: bool,
    /// Waiters' deadlines, earliest first, for the background task. Entries of waiters that
    /// were served or gave up are left in place and skipped; the heap is compacted when they
    /// outnumber the live ones.
    pub(crate) deadlines: BinaryHeap<Reverse<(Nanos, WaiterKey)>>,
    /// When the background task will next look at `deadlines` (`None`: it will not).
    pub(crate) timer_at: Option<Nanos>,
    /// The earliest deadline (lifetime, or idle timeout) among idle connections that the
    /// background task knows of, so it wakes to retire each one at its own time; `Nanos::MAX`
    /// for none. Set by [`State::retire_idle`], lowered when a connection going idle expires
    /// sooner.
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
    pub(crate) poke: bool,
}

impl<C, E> State<C, E> {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            idle: VecDeque::with_capacity(max_size),
            waiters: WaiterQueue::new(),
            size: 0,
            in_use: 0,
            connecting: 0,
            max_size,
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

    /// The time for a decision that tolerates one clock tick of lag: `now` while the background
    /// task keeps it fresh, else a real reading, after which the clock goes live and the
    /// background task is poked to start ticking.
    #[inline]
    pub(crate) fn coarse_now(&mut self, clock: &Clock) -> Nanos {
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
    pub(crate) fn observe(&mut self, now: Nanos) -> Nanos {
        self.now = self.now.max(now);
        self.now
    }

    /// Registers a waiter's deadline with the background task, poking it when this deadline is
    /// earlier than any it will wake up for.
    pub(crate) fn add_deadline(&mut self, deadline: Nanos, key: WaiterKey) {
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

    /// The background task's pass over the clock and the deadlines: stores the reading, serves
    /// every waiter whose deadline passed with [`Handoff::TimedOut`] (their wakers go to
    /// `wake`), decides whether the clock keeps ticking, and sets when to look again. Returns
    /// whether the clock is still ticking.
    pub(crate) fn tick(&mut self, now: Nanos, wake: &mut Vec<Waker>) -> bool {
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
        self.clock_live
    }

    /// The invariant that holds at every unlock: the counts add up, and the pool is over its
    /// bound only transiently after a shrink, with nothing idle (the surplus is checked out or
    /// being opened and is closed when it comes back).
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

    /// Reserves connects under the spike rule: only for waiters not already covered by a
    /// connect in flight, or to reach `min_idle`; never beyond `max_size` or `max_connecting`,
    /// and, while the breaker is open, never more than one in flight (the probe).
    pub(crate) fn plan_connects(&mut self, min_idle: usize, max_connecting: usize) -> ConnectPlan {
        let max_connecting = if self.breaker_open_since.is_some() {
            1
        } else {
            max_connecting
        };
        let mut count = 0;
        while !self.closed
            && self.size < self.max_size
            && self.connecting < max_connecting
            && (self.connecting < self.waiters.len() || self.size < min_idle)
        {
            self.size += 1;
            self.connecting += 1;
            count += 1;
        }
        self.connect_plan(count)
    }

    fn connect_plan(&self, count: usize) -> ConnectPlan {
        ConnectPlan {
            count,
            failures: self.connect_failures,
            slow: self.last_connect_permanent(),
        }
    }

    fn last_connect_permanent(&self) -> bool {
        self.last_connect_error
            .as_ref()
            .is_some_and(|e| e.class() == ErrorClass::Permanent)
    }

    /// Records a connect attempt that failed with `error` at `now` (its slot still reserved)
    /// and decides what follows:
    ///
    /// - a permanent error fails waiters at once with [`Handoff::Failed`]: every waiter when
    ///   no connection is idle or in use (none can come back to serve them), else the oldest
    ///   one if some waiter is not covered by the other connects in flight (the one this
    ///   connect was meant to serve);
    /// - the breaker opens when it is on, closed, nothing is idle, and the error is permanent
    ///   or the failures in a row reached `breaker_threshold`;
    /// - the task retries while it is still needed: while the breaker is open, only if it is
    ///   the one connect in flight (the probe) and someone still asks (a waiter, `min_idle`,
    ///   or a caller failed or timed out since its last attempt); otherwise if some waiter is not
    ///   covered by the other connects or the pool is below `min_idle`. If not, its slot is
    ///   given back here.
    pub(crate) fn connect_failed(
        &mut self,
        error: &ConnectError<E>,
        now: Nanos,
        min_idle: usize,
        breaker_threshold: Option<u32>,
    ) -> AfterFailure {
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
                match self.waiters.serve_oldest(Handoff::Failed(error.clone())) {
                    Ok(waker) => wake.extend(waker),
                    Err(_) => break,
                }
                self.counters.failed_connect += 1;
                self.probe_wanted = true;
            }
        }
        let mut opened = false;
        if let Some(threshold) = breaker_threshold
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
        let needed = self.waiters.len() >= self.connecting || self.size <= min_idle;
        let retry = !self.closed
            && self.size <= self.max_size
            && if open {
                self.connecting == 1 && (self.waiters.len() > 0 || self.size <= min_idle || asked)
            } else {
                needed
            };
        if !retry {
            self.size -= 1;
            self.connecting -= 1;
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

    /// Records a connect that succeeded at `now`: the new connection is counted in use (the
    /// caller puts it back, to a waiter or idle), the failure streak ends and the breaker
    /// closes. Returns how long the breaker was open, if it was.
    pub(crate) fn connect_succeeded(&mut self, now: Nanos) -> Option<Nanos> {
        self.observe(now);
        self.connecting -= 1;
        self.in_use += 1;
        self.counters.created += 1;
        self.connect_failures = 0;
        self.last_connect_error = None;
        self.probe_wanted = false;
        let since = self.breaker_open_since.take()?;
        self.counters.breaker_closed += 1;
        Some(now.saturating_sub(since))
    }

    /// Whether a caller that found nothing idle at `now` is failed at once because the breaker
    /// is open, and with what. Not when the pool is full of open connections (the caller waits
    /// for one to come back, as always), nor, after a transient failure, while no probe is in
    /// flight (the caller's own connect is then the next probe, and it waits for it). After a
    /// permanent failure it always is, and a probe is reserved if none is in flight (spawn the
    /// plan). Each rejection tells the probe that callers still ask.
    pub(crate) fn fail_fast(&mut self, now: Nanos) -> Option<(Error<E>, ConnectPlan)> {
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
            self.size += 1;
            self.connecting += 1;
        }
        Some((error, self.connect_plan(usize::from(probe))))
    }

    /// The background task's pass over idle connections at `now`: takes out those past their
    /// lifetime, and, while the pool is above `min_idle`, those idle for `idle_timeout` or
    /// whose check was cut short (least recently used first); counts them and returns them to
    /// be closed. Then notes the earliest deadline among the idle connections left (see
    /// [`State::next_retire`]).
    pub(crate) fn retire_idle(
        &mut self,
        now: Nanos,
        idle_timeout: Option<Nanos>,
        min_idle: usize,
    ) -> Vec<(Live<C>, RemoveReason)> {
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
                    self.size -= 1;
                    self.counters.count_removal(reason);
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
        removed
    }

    /// When the background task must next look at the idle connections: the earliest lifetime
    /// deadline among them (and idle deadline, as of its last pass); `Nanos::MAX` for none.
    pub(crate) fn next_retire(&self) -> Nanos {
        self.retire_at
    }

    /// Takes a connection that is counted as in use back: to the oldest waiter, else to idle,
    /// else (closing, or over the bound) out of the pool.
    pub(crate) fn put_back(
        &mut self,
        live: Live<C>,
        lifo: bool,
        min_idle: usize,
        max_connecting: usize,
    ) -> Returned<C> {
        if self.closed || self.size > self.max_size {
            let reason = if self.closed {
                RemoveReason::Closed
            } else {
                RemoveReason::Resized
            };
            let (plan, drained) = self.remove_in_use(reason, min_idle, max_connecting);
            return Returned::Close {
                live,
                reason,
                plan,
                drained,
            };
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
        if lifo {
            self.idle.push_back(live);
        } else {
            self.idle.push_front(live);
        }
        Returned::Idle
    }

    /// Forgets a connection that was in use; returns connects to start for the freed slot and
    /// whether the pool just drained while closed.
    pub(crate) fn remove_in_use(
        &mut self,
        reason: RemoveReason,
        min_idle: usize,
        max_connecting: usize,
    ) -> (ConnectPlan, bool) {
        self.in_use -= 1;
        self.size -= 1;
        self.counters.count_removal(reason);
        let plan = self.plan_connects(min_idle, max_connecting);
        (plan, self.closed && self.size == 0)
    }

    /// Pops the next idle connection to hand out, counting it in use.
    #[inline]
    /// Removes the idle connections that have sat idle since `cutoff` or longer (and those of
    /// unknown health), counting them as failed checks: after a health check ran out of
    /// `check_timeout`, the connections idle at least as long as the silent one most likely
    /// crossed the same network event (a NAT or firewall that dropped its state, a failover),
    /// and checking them one by one would cost one caller a `check_timeout` each.
    pub(crate) fn evict_idle_since(&mut self, cutoff: Nanos) -> Vec<Live<C>> {
        let mut evicted = Vec::new();
        let mut i = 0;
        while i < self.idle.len() {
            let live = &self.idle[i];
            if live.idle_since <= cutoff || live.is_unverified() {
                if let Some(live) = self.idle.remove(i) {
                    self.size -= 1;
                    self.counters.count_removal(RemoveReason::CheckFailed);
                    evicted.push(live);
                }
            } else {
                i += 1;
            }
        }
        evicted
    }

    pub(crate) fn pop_idle(&mut self) -> Option<Live<C>> {
        let live = self.idle.pop_back()?;
        self.in_use += 1;
        Some(live)
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    type St = State<u32, std::io::Error>;

    /// Callers that queue and give up (or are served) leave stale deadline entries; the heap
    /// must stay within a constant factor of the live waiters however many come and go.
    #[test]
    fn deadline_heap_stays_bounded_under_enqueue_and_cancel() {
        let mut st = St::new(1);
        st.background_alive = true;
        let parked: Vec<WaiterKey> = (0..100)
            .map(|i| {
                let (key, _) = st.waiters.push_back(Waker::noop().clone());
                st.add_deadline(1_000_000 + i, key);
                key
            })
            .collect();
        for i in 0..100_000u64 {
            let (key, _) = st.waiters.push_back(Waker::noop().clone());
            st.add_deadline(2_000_000 + i, key);
            assert!(st.waiters.cancel(key));
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

    /// A slot's hand-off cell is reset and reused once its waiter has let go of it, and never
    /// while the waiter still holds it: a hand-off nobody collected yet survives the slot being
    /// reused by the next waiter.
    #[test]
    fn cells_are_reused_only_when_their_waiter_let_go() {
        let mut q = WaiterQueue::<u32, std::io::Error>::new();
        let live = |conn| {
            Handoff::Conn(Live {
                conn,
                created_at: 0,
                expires_at: Nanos::MAX,
                idle_since: 0,
            })
        };
        // Served and collected: the next waiter in that slot gets the same cell, reset.
        let (a, cell_a) = q.push_back(Waker::noop().clone());
        q.serve_oldest(live(1)).expect("a waiter");
        assert!(matches!(cell_a.poll(Waker::noop()), Some(Handoff::Conn(l)) if l.conn == 1));
        let first = Arc::as_ptr(&cell_a);
        drop(cell_a);
        let (b, cell_b) = q.push_back(Waker::noop().clone());
        assert_eq!(b.index, a.index);
        assert_eq!(Arc::as_ptr(&cell_b), first, "a cell nobody holds is reused");
        assert!(
            cell_b.poll(Waker::noop()).is_none(),
            "reset: nothing to collect"
        );
        // Served but not collected: the slot comes round again before the waiter polls.
        q.serve_oldest(live(2)).expect("a waiter");
        let (c, cell_c) = q.push_back(Waker::noop().clone());
        assert_eq!(c.index, b.index);
        assert!(
            !Arc::ptr_eq(&cell_b, &cell_c),
            "a held cell is replaced, not reset"
        );
        assert!(matches!(cell_b.poll(Waker::noop()), Some(Handoff::Conn(l)) if l.conn == 2));
        // A stale key cannot cancel the slot's new waiter.
        assert!(!q.cancel(b));
        assert!(q.is_waiting(c));
        assert!(q.cancel(c));
        assert_eq!(q.len(), 0);
    }

    /// A waiter that gives up unserved leaves nothing behind: its waker (and with it its task)
    /// is released at once, not when the slot is next reused, and the cell is reused after.
    #[test]
    fn cancel_releases_the_waker_and_the_cell_is_reused() {
        struct Task;
        impl std::task::Wake for Task {
            fn wake(self: Arc<Self>) {}
        }
        let task = Arc::new(Task);
        let mut q = WaiterQueue::<u32, std::io::Error>::new();
        let (key, cell) = q.push_back(Waker::from(Arc::clone(&task)));
        assert_eq!(Arc::strong_count(&task), 2, "the queue holds the waker");
        assert!(q.cancel(key));
        assert_eq!(Arc::strong_count(&task), 1, "cancel dropped the waker");
        assert!(cell.take().is_none(), "nothing was handed over");
        let first = Arc::as_ptr(&cell);
        drop(cell);
        let (_, again) = q.push_back(Waker::noop().clone());
        assert_eq!(Arc::as_ptr(&again), first);
        assert!(again.poll(Waker::noop()).is_none());
        assert!(q.serve_oldest(Handoff::Closed).is_ok());
        assert!(matches!(again.poll(Waker::noop()), Some(Handoff::Closed)));
    }

    /// A deadline earlier than any the background task plans for pokes it; a later one does not.
    #[test]
    fn only_an_earlier_deadline_pokes_the_background_task() {
        let mut st = St::new(1);
        let (a, _) = st.waiters.push_back(Waker::noop().clone());
        st.add_deadline(500, a);
        assert!(std::mem::take(&mut st.poke));
        let (b, _) = st.waiters.push_back(Waker::noop().clone());
        st.add_deadline(900, b);
        assert!(!st.poke, "a later deadline needs no wake-up");
        let (c, _) = st.waiters.push_back(Waker::noop().clone());
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
        let mut st = St::new(4);
        let error = ConnectError::<std::io::Error>::TimedOut(std::time::Duration::from_secs(1));
        // Two callers wait; two connects for them.
        for _ in 0..2 {
            let _ = st.waiters.push_back(Waker::noop().clone());
        }
        assert_eq!(st.plan_connects(0, 2).count, 2);
        for failures in 1..=2 {
            let after = st.connect_failed(&error, 10, 0, Some(3));
            assert!(after.retry && !after.opened && !after.slow, "{failures}");
        }
        assert!(st.fail_fast(20).is_none(), "closed breaker");
        let after = st.connect_failed(&error, 30, 0, Some(3));
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
                if open_for == std::time::Duration::from_nanos(20)
        ));
        // The probe fails again: the waiters and the failed-fast caller still ask. Then the
        // waiters leave and nobody asks before the next failure: it stops.
        let after = st.connect_failed(&error, 60, 0, Some(3));
        assert!(after.retry);
        while st.waiters.serve_oldest(Handoff::Closed).is_ok() {}
        let after = st.connect_failed(&error, 70, 0, Some(3));
        assert!(!after.retry, "nobody asked since the last attempt");
        assert_eq!((st.size, st.connecting), (0, 0));
        // No probe in flight: the next caller is let through and its connect is the probe;
        // only one is planned however many wait.
        assert!(st.fail_fast(90).is_none());
        for _ in 0..3 {
            let _ = st.waiters.push_back(Waker::noop().clone());
        }
        assert_eq!(st.plan_connects(0, 2).count, 1);
        assert!(st.fail_fast(95).is_some());
        assert_eq!(st.connect_succeeded(100), Some(70));
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
        let mut st = St::new(1);
        st.background_alive = true;
        let first = st.coarse_now(&clock);
        assert!(st.clock_live && std::mem::take(&mut st.poke));
        // While live, the stored reading is returned as is.
        st.now = first + 5;
        assert_eq!(st.coarse_now(&clock), first + 5);
        assert!(!st.poke);
        let mut woken = Vec::new();
        assert!(
            st.tick(first + 10, &mut woken),
            "used since the last tick: keeps ticking"
        );
        assert!(!st.tick(first + 20, &mut woken), "unused for a tick: stops");
        assert!(!st.clock_live);
        // Without a background task the clock never goes live (nobody would keep it fresh).
        let mut lone = St::new(1);
        lone.coarse_now(&clock);
        assert!(!lone.clock_live && !lone.poke);
    }
}
