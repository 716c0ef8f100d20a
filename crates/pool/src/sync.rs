//! The pool lock, behind a shim (as tokio's `src/loom/mod.rs`): with `--cfg loom` it is loom's
//! mutex, so the models in `loom_models.rs` run the real bookkeeping under loom's scheduler;
//! otherwise `parking_lot`'s.

#[cfg(loom)]
pub(crate) use mocked::Mutex;
#[cfg(not(loom))]
pub(crate) use parking_lot::Mutex;

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
    }
}
