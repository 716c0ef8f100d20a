//! The waiter queue: a FIFO of callers waiting for a connection, each served by direct hand-off
//! into its own slot.
//!
//! # Implementation details
//!
//! [`WaiterQueue`] is a slab (a `Vec` of slots plus a free list) with a doubly linked FIFO
//! threaded through slot indices. Enqueue, dequeue of the oldest and removal of any waiter are
//! O(1), and once the slab has grown to the longest queue seen nothing is allocated.
//!
//! A slot is queued (in the FIFO, holding the waiter's waker), served (out of the FIFO, holding
//! what it was handed: a connection, an error, or the news that its deadline passed), or free.
//! Serving the oldest waiter unlinks its slot and puts the hand-off in it under the same lock
//! as the return that served it, so a caller arriving later cannot take that connection: it is
//! the waiter's even before its task runs. The waiter collects it on its next poll
//! ([`WaiterQueue::collect`]) or, if its future is dropped first, takes it when it leaves
//! ([`WaiterQueue::leave`]) and passes it on (`checkout.rs`). Either frees the slot. Slots carry
//! a sequence number, so a stale key never touches a reused slot.
//!
//! Every method runs with the pool lock held: the queue lives in `State`. (An earlier version
//! gave each slot a hand-off cell of its own, an `Arc` with its own lock, so a waiter could
//! collect without the pool lock. The A/B in docs/pool.md, 5 runs each, found the pool faster
//! without it: contended throughput 1.00x deadpool's against 0.96x with the cells, enqueue +
//! cancel 1.03x deadpool's time against 1.31x, medians.)

use std::task::Waker;

use crate::error::Error;
use crate::internals::Live;
use crate::stats::Status;

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

#[derive(Debug)]
enum SlotState<C, E> {
    /// In the FIFO: the waker to wake when served.
    Queued(Option<Waker>),
    /// Served and not collected yet.
    Served(Handoff<C, E>),
    /// On the free list.
    Free,
}

#[derive(Debug)]
struct Slot<C, E> {
    /// Identifies the waiter using this slot; a key with another `seq` is stale.
    seq: u64,
    prev: usize,
    next: usize,
    state: SlotState<C, E>,
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
    /// Free slots, most recently freed last (reused first: its memory is the warmest).
    free: Vec<usize>,
    head: usize,
    tail: usize,
    /// Waiters in the FIFO.
    len: usize,
    next_seq: u64,
}

impl<C, E> WaiterQueue<C, E> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
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

    /// Appends a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, waker: Waker) -> WaiterKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = Slot {
            seq,
            prev: self.tail,
            next: NIL,
            state: SlotState::Queued(Some(waker)),
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        if self.tail == NIL {
            self.head = index;
        } else {
            self.slots[self.tail].next = index;
        }
        self.tail = index;
        self.len += 1;
        WaiterKey { index, seq }
    }

    /// The slot `key` names, unless the key is stale.
    fn slot_mut(&mut self, key: WaiterKey) -> Option<&mut Slot<C, E>> {
        self.slots.get_mut(key.index).filter(|s| s.seq == key.seq)
    }

    /// True while the waiter is in the FIFO (not served, not gone).
    pub(crate) fn is_waiting(&self, key: WaiterKey) -> bool {
        self.slots
            .get(key.index)
            .is_some_and(|s| s.seq == key.seq && matches!(s.state, SlotState::Queued(_)))
    }

    /// Takes a queued slot out of the FIFO (its state is left to the caller).
    fn unlink(&mut self, index: usize) {
        let (prev, next) = {
            let s = &self.slots[index];
            debug_assert!(matches!(s.state, SlotState::Queued(_)));
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
    }

    /// Frees a slot that is out of the FIFO; returns what it held.
    fn release(&mut self, index: usize) -> SlotState<C, E> {
        self.free.push(index);
        std::mem::replace(&mut self.slots[index].state, SlotState::Free)
    }

    /// Serves the waiter at `index` (queued) with `handoff`; returns its waker.
    fn serve_at(&mut self, index: usize, handoff: Handoff<C, E>) -> Option<Waker> {
        self.unlink(index);
        match std::mem::replace(&mut self.slots[index].state, SlotState::Served(handoff)) {
            SlotState::Queued(waker) => waker,
            _ => None,
        }
    }

    /// Serves the oldest waiter with `handoff`; gives the hand-off back if nobody waits.
    /// Returns the waker to wake after unlocking.
    pub(crate) fn serve_oldest(
        &mut self,
        handoff: Handoff<C, E>,
    ) -> Result<Option<Waker>, Handoff<C, E>> {
        if self.head == NIL {
            return Err(handoff);
        }
        Ok(self.serve_at(self.head, handoff))
    }

    /// Serves one particular waiter (one whose deadline passed) with `handoff`. Returns its
    /// waker; does nothing if the waiter is no longer in the FIFO.
    pub(crate) fn serve(&mut self, key: WaiterKey, handoff: Handoff<C, E>) -> Option<Waker> {
        if !self.is_waiting(key) {
            return None;
        }
        self.serve_at(key.index, handoff)
    }

    /// The waiter's poll: takes what it was handed, if it was served (freeing its slot);
    /// otherwise stores `waker` (unless it already has an equivalent one) so the server wakes
    /// the right task.
    #[inline]
    pub(crate) fn collect(&mut self, key: WaiterKey, waker: &Waker) -> Option<Handoff<C, E>> {
        let slot = self.slot_mut(key)?;
        match &mut slot.state {
            SlotState::Served(_) => match self.release(key.index) {
                SlotState::Served(handoff) => Some(handoff),
                _ => None,
            },
            SlotState::Queued(Some(w)) if w.will_wake(waker) => None,
            SlotState::Queued(w) => {
                *w = Some(waker.clone());
                None
            }
            SlotState::Free => None,
        }
    }

    /// A waiter gives up: its slot leaves the FIFO if it is still there, and is freed (its
    /// waker dropped at once). Returns what it had been handed, if it was served before it
    /// could leave: the caller must pass a connection on.
    pub(crate) fn leave(&mut self, key: WaiterKey) -> Option<Handoff<C, E>> {
        let slot = self.slot_mut(key)?;
        match slot.state {
            SlotState::Queued(_) => {
                self.unlink(key.index);
                self.release(key.index);
                None
            }
            SlotState::Served(_) => match self.release(key.index) {
                SlotState::Served(handoff) => Some(handoff),
                _ => None,
            },
            SlotState::Free => None,
        }
    }

    /// Clones the waker of every waiter in the FIFO into `out` (to make them poll again).
    pub(crate) fn wakers(&self, out: &mut Vec<Waker>) {
        let mut i = self.head;
        while i != NIL {
            let slot = &self.slots[i];
            if let SlotState::Queued(Some(w)) = &slot.state {
                out.push(w.clone());
            }
            i = slot.next;
        }
    }

    /// No slot in use: nobody queued, nothing handed and not collected (for the loom models).
    #[cfg(all(test, loom))]
    pub(crate) fn is_empty(&self) -> bool {
        self.free.len() == self.slots.len()
    }

    /// Connections handed to waiters that have not collected them yet (for the unit tests'
    /// accounting).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn uncollected_conns(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Served(Handoff::Conn(_))))
            .count()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::task::Waker;

    use super::*;
    use crate::clock::Nanos;

    fn conn(conn: u32) -> Handoff<u32, std::io::Error> {
        Handoff::Conn(Live {
            conn,
            created_at: 0,
            expires_at: Nanos::MAX,
            idle_since: 0,
        })
    }

    /// Waiters are served oldest first; a served slot stays the waiter's until it collects or
    /// leaves, and only then is it reused; a stale key touches nothing.
    #[test]
    fn served_slots_stay_with_their_waiter_until_collected() {
        let mut q = WaiterQueue::<u32, std::io::Error>::new();
        let a = q.push_back(Waker::noop().clone());
        let b = q.push_back(Waker::noop().clone());
        assert!(q.serve_oldest(conn(1)).is_ok());
        assert!(!q.is_waiting(a) && q.is_waiting(b));
        // `a` was served but has not collected: its slot is not reused.
        let c = q.push_back(Waker::noop().clone());
        assert_ne!(c.index, a.index);
        assert!(matches!(q.collect(a, Waker::noop()), Some(Handoff::Conn(l)) if l.conn == 1));
        assert!(q.collect(a, Waker::noop()).is_none(), "collected once");
        // Now it is: the next waiter gets it, and the old key is stale.
        let d = q.push_back(Waker::noop().clone());
        assert_eq!(d.index, a.index);
        assert!(q.leave(a).is_none() && q.is_waiting(d));
        // A waiter served before it could leave takes its hand-off with it.
        assert!(q.serve_oldest(conn(2)).is_ok());
        assert!(matches!(q.leave(b), Some(Handoff::Conn(l)) if l.conn == 2));
        assert_eq!(q.len(), 2);
        assert!(q.leave(c).is_none() && q.leave(d).is_none());
        assert_eq!(q.len(), 0);
        assert!(q.serve_oldest(conn(3)).is_err(), "nobody waits");
    }

    /// A waiter that gives up unserved leaves nothing behind: its waker (and with it its task)
    /// is released at once, not when the slot is next reused.
    #[test]
    fn leaving_releases_the_waker() {
        struct Task;
        impl std::task::Wake for Task {
            fn wake(self: Arc<Self>) {}
        }
        let task = Arc::new(Task);
        let mut q = WaiterQueue::<u32, std::io::Error>::new();
        let key = q.push_back(Waker::from(Arc::clone(&task)));
        assert_eq!(Arc::strong_count(&task), 2, "the queue holds the waker");
        assert!(q.leave(key).is_none());
        assert_eq!(Arc::strong_count(&task), 1, "leaving dropped the waker");
        let again = q.push_back(Waker::noop().clone());
        assert_eq!(again.index, key.index);
        assert!(q.serve_oldest(Handoff::Failed(Error::Closed)).is_ok());
        assert!(matches!(
            q.collect(again, Waker::noop()),
            Some(Handoff::Failed(Error::Closed))
        ));
    }
}
