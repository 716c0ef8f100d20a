//! [`Pooled`], the guard a caller holds while using a connection, and the reset task that
//! cleans a dirty connection before it goes back.
//!
//! What happens on drop, in order: a connection the manager reports broken is closed; one
//! dropped during a panic, or that the manager says needs a reset, is reset in a spawned task
//! (still counted as in use) and returned or closed after; one whose health check was cut short
//! goes back marked unverified, so the next caller checks it; one past `max_lifetime` is
//! closed; any other is stamped idle and goes to the oldest waiter, else to idle.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;

use crate::internals::{Back, Live};
use crate::manager::Manager;
use crate::shared::Shared;
use crate::stats::RemoveReason;

const PRESENT: &str = "a guard holds its connection until it is dropped or taken";

/// A connection checked out of a [`Pool`](crate::Pool). Derefs to the connection; returns it to
/// the pool when dropped.
#[must_use = "dropping the guard returns the connection at once"]
pub struct Pooled<M: Manager> {
    live: Option<Live<M::Connection>>,
    shared: Arc<Shared<M>>,
    /// False while a health check is running: a drop then must not mark the connection fresh.
    pub(crate) verified: bool,
}

impl<M: Manager> std::fmt::Debug for Pooled<M>
where
    M::Connection: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled")
            .field("conn", &self.live.as_ref().map(|l| &l.conn))
            .finish_non_exhaustive()
    }
}

impl<M: Manager> Pooled<M> {
    #[inline]
    pub(crate) fn new(shared: Arc<Shared<M>>, live: Live<M::Connection>) -> Self {
        Self {
            live: Some(live),
            shared,
            verified: true,
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut M::Connection {
        &mut self.live.as_mut().expect(PRESENT).conn
    }

    /// Closes the connection instead of returning it.
    pub(crate) fn discard(mut self, reason: RemoveReason) {
        if let Some(live) = self.live.take() {
            self.shared.close_in_use(live.conn, reason);
        }
    }

    /// Takes the connection out of the pool: the caller owns it from now on and its slot is
    /// freed for a new connection.
    pub fn take(mut this: Self) -> M::Connection {
        let live = this.live.take().expect(PRESENT);
        this.shared.forget_in_use(RemoveReason::Taken);
        live.conn
    }

    /// How long ago the connection was opened.
    pub fn age(this: &Self) -> Duration {
        this.live
            .as_ref()
            .map(|l| Duration::from_nanos(this.shared.clock.now().saturating_sub(l.created_at)))
            .unwrap_or_default()
    }
}

impl<M: Manager> Deref for Pooled<M> {
    type Target = M::Connection;

    #[inline]
    fn deref(&self) -> &M::Connection {
        &self.live.as_ref().expect(PRESENT).conn
    }
}

impl<M: Manager> DerefMut for Pooled<M> {
    #[inline]
    fn deref_mut(&mut self) -> &mut M::Connection {
        self.conn_mut()
    }
}

impl<M: Manager> Drop for Pooled<M> {
    #[inline]
    fn drop(&mut self) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        let shared = &self.shared;
        // Broken first: a broken connection that also looks dirty must be closed at once,
        // not "reset" until reset_timeout runs out.
        if shared.manager.has_broken(&mut live.conn) {
            shared.close_in_use(live.conn, RemoveReason::Broken);
            return;
        }
        if std::thread::panicking() || shared.manager.needs_reset(&mut live.conn) {
            let resetting = Resetting {
                live: Some(live),
                shared: Arc::clone(shared),
            };
            shared.spawn(resetting.run());
            return;
        }
        let back = if self.verified {
            Back::Used
        } else {
            Back::Unverified
        };
        shared.give_back(live, back);
    }
}

/// A connection being reset, still counted as in use. If the reset task is dropped before it
/// finishes (its runtime shut down), `Drop` gives the slot back and drops the connection.
struct Resetting<M: Manager> {
    live: Option<Live<M::Connection>>,
    shared: Arc<Shared<M>>,
}

impl<M: Manager> Resetting<M> {
    async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let Some(live) = self.live.as_mut() else {
            return;
        };
        // Cancellation safety: the connection stays in `self`; if this task is dropped,
        // `Resetting::drop` uncounts it.
        let result = timeout(
            shared.config.reset_timeout,
            shared.manager.reset(&mut live.conn),
        )
        .await;
        let ok = matches!(result, Ok(Ok(()))) && !shared.manager.has_broken(&mut live.conn);
        let Some(live) = self.live.take() else {
            return;
        };
        if !ok {
            if let Ok(Err(e)) = &result {
                tracing::warn!(error = %e, "connection reset failed");
            } else {
                tracing::warn!("connection reset timed out or left it broken");
            }
            shared.close_in_use(live.conn, RemoveReason::ResetFailed);
            return;
        }
        shared.give_back(live, Back::Used);
    }
}

impl<M: Manager> Drop for Resetting<M> {
    fn drop(&mut self) {
        if self.live.take().is_some() {
            self.shared.forget_in_use(RemoveReason::ResetFailed);
        }
    }
}
