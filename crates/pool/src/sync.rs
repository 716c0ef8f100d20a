//! The synchronisation types of the pool's locked core, behind one shim (as tokio's
//! `src/loom/mod.rs`): with `--cfg loom` they are loom's, so the models in `loom_models.rs` run
//! the real bookkeeping under loom's scheduler; otherwise `parking_lot`'s mutex and std's `Arc`.
//!
//! Only what the models exercise goes through here: the pool lock around `State` and the
//! waiters' hand-off cells (their mutex and the `Arc` the queue and the waiter share).

#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use mocked::Mutex;

#[cfg(loom)]
mod mocked {
    /// loom's mutex with `parking_lot`'s signature (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().expect("no poisoning in the models")
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().expect("no poisoning in the models")
        }
    }
}
