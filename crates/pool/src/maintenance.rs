//! The maintenance task: one per pool. It holds only a `Weak` reference, so it never keeps the
//! pool alive, and stops when the pool is closed or its shared state is dropped.
//!
//! Each pass retires idle connections past `max_lifetime`, reaps idle ones past `idle_timeout`
//! down to `min_idle`, and refills to `min_idle` (the connect tasks back off on failure). It runs
//! at start, every `maintenance_interval`, and when poked (close, resize, a lost connect task).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::manager::Manager;
use crate::pool::Shared;

pub(crate) async fn run<M: Manager>(
    shared: Weak<Shared<M>>,
    wake: Arc<Notify>,
    mut stop: oneshot::Receiver<()>,
    interval: Duration,
) {
    loop {
        {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.with_state(|st| st.closed) {
                return;
            }
            shared.maintain();
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
            _ = &mut stop => return,
        }
    }
}
