//! The waiter queue: a FIFO of callers waiting for a connection, each with a hand-off cell.
//!
//! # Implementation details
//!
//! [`WaiterQueue`] is a slab (a `Vec` of slots plus a free list) with a doubly linked FIFO
//! threaded through slot indices. Enqueue, dequeue of the oldest and removal of any waiter are
//! O(1). Each slot holds a [`HandoffCell`] that the waiter's future shares (an `Arc`): a
//! connection (or an error, or the news that the deadline passed) is put straight into the
//! oldest waiter's cell and the slot leaves the FIFO, so a caller arriving later cannot take it.
//! The waiter's future collects it on its next poll under the cell's own lock, not the pool's:
//! under contention a checkout then takes the pool lock twice (join the queue; the return that
//! serves it) instead of three times. If the future is dropped first, it leaves the queue, and
//! if it was served before it could leave it passes the connection on (`checkout.rs`).
//!
//! Every method here runs with the pool lock held (the queue lives in `State`); the cells are
//! filled only then. That is the one nesting of locks, pool then cell, so a waiter that the
//! queue no longer holds always finds its hand-off in its cell. Slots carry a sequence number
//! so a stale key can never touch a reused slot. Cells are reset and reused with their slots, so
//! once the slab has grown to the largest queue seen nothing is allocated, except when a slot
//! comes round again before its previous waiter has dropped its handle.

use std::collections::VecDeque;
use std::task::Waker;

use crate::error::Error;
use crate::internals::{Left, Live};
use crate::stats::Status;
use crate::sync::{Arc, Mutex};

/// What a waiter can be handed.
#[derive(Debug)]
pub(crate) enum Handoff<C, E> {
    /// A connection, already counted as in use.
    Conn(Live<C>),
    /// The pool failed the waiter: it closed ([`Error::Closed`]), or a connect meant to serve
    /// it failed with a permanent error ([`Error::Connect`]).
    Failed(Error<E>),
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
pub(crate) struct HandoffCell<C, E>(Mutex<CellState<C, E>>);

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
        Self(Mutex::new(CellState::Waiting(Some(waker))))
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

    /// What a waiter that just left the queue ([`State::leave`]) must take and pass on: if it
    /// was no longer queued it had been served, and its cell, filled under the lock it just
    /// released, holds the hand-off.
    ///
    /// [`State::leave`]: crate::internals::State::leave
    pub(crate) fn after_leave(&self, left: &Left) -> Option<Handoff<C, E>> {
        if left.was_queued { None } else { self.take() }
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

    /// Holds a connection nobody collected yet (for the unit tests' accounting).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_served_with_conn(&self) -> bool {
        matches!(&*self.0.lock(), CellState::Served(Handoff::Conn(_)))
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
    pub(crate) fn new() -> Self {
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
    fn unlink(&mut self, index: usize) {
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
        self.unlink(index);
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
        self.unlink(key.index);
        self.slots[key.index].cell.give_up();
        true
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::task::Waker;

    use super::*;
    use crate::clock::Nanos;

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
        assert!(q.serve_oldest(Handoff::Failed(Error::Closed)).is_ok());
        assert!(matches!(
            again.poll(Waker::noop()),
            Some(Handoff::Failed(Error::Closed))
        ));
    }
}
