//! The public API: [`Pool`], a cheap handle over [`Shared`], with `get`, `try_get`,
//! `get_timeout`, `status`, `stats`, `resize` and `close`. Each method is a thin layer: the hot
//! path and the acquire loop live in `checkout.rs`, the bookkeeping in `internals.rs`.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{Instant, timeout_at};

use crate::config::{Config, Observer};
use crate::error::{BuildError, Error};
use crate::guard::Pooled;
use crate::internals::Wait;
use crate::manager::Manager;
use crate::shared::Shared;
use crate::stats::{PoolEvent, RemoveReason, Stats, Status};

/// An async connection pool. Cheap to clone: clones share one pool.
///
/// Dropping every clone stops the background task once the last checked-out connection and
/// in-flight connect are gone; idle connections are then dropped. Call [`close`](Pool::close)
/// for a graceful shutdown.
pub struct Pool<M: Manager> {
    shared: Arc<Shared<M>>,
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
        let shared = Arc::new(Shared::new(manager, config, observer, runtime));
        shared.revive_background();
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
        let timeout = self.shared.config.acquire_timeout;
        self.shared.acquire(timeout, Wait::Queue).await
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
        self.shared.acquire(timeout, Wait::Queue).await
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
        let timeout = self.shared.config.acquire_timeout;
        self.shared.acquire(timeout, Wait::IdleOnly).await
    }

    /// The pool's counts now, from one short lock.
    pub fn status(&self) -> Status {
        self.shared.with_state(|st| st.status())
    }

    /// Cumulative counters since the pool was built.
    pub fn stats(&self) -> Stats {
        let counters = self.shared.with_state(|st| st.counters());
        Stats::from_parts(&counters, &self.shared.waits)
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
        let removed = self.shared.with_state(|st| st.resize(max_size));
        self.shared.finish(removed);
        Ok(())
    }

    /// True once [`close`](Pool::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.shared.with_state(|st| st.is_closed())
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
        let closing = shared.with_state(|st| st.close());
        shared.background.notify_one();
        for w in closing.wake {
            w.wake();
        }
        if !closing.idle.is_empty() {
            tracing::info!(count = closing.idle.len(), "closing idle connections");
        }
        for live in closing.idle {
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
            if shared.with_state(|st| st.is_empty()) {
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
