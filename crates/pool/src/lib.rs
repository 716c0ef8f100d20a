//! tarn-pool: a generic async connection pool engine.
//!
//! Generic over a [`Manager`] that knows how to connect, check, reset and close a connection;
//! the pool itself knows nothing of PostgreSQL, so it can be tested with a fake manager and
//! benchmarked with no I/O.
//!
//! ```no_run
//! # async fn demo<M: tarn_pool::Manager>(manager: M) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! let pool = tarn_pool::Pool::builder(manager)
//!     .max_size(16)
//!     .min_idle(2)
//!     .acquire_timeout(Duration::from_secs(2))
//!     .build()?;
//! let conn = pool.get().await?; // derefs to M::Connection
//! drop(conn); // back to the oldest waiter, or to idle
//! pool.close().await;
//! # Ok(()) }
//! ```
//!
//! # Implementation details
//!
//! `Pool` is an `Arc<Shared>`; `Shared` holds the manager, the settings, one
//! `parking_lot::Mutex<State>` and atomics for wait-time statistics. `State` (in `internals.rs`)
//! is plain synchronous bookkeeping with private fields: the idle connections, the waiter queue,
//! the counts and the settings its rules need, changed only through named transitions that keep
//! the invariant `size == idle + in_use + connecting <= max_size` (checked at every unlock in
//! debug builds) and return what the async layer must do after unlocking. The files follow the
//! jobs: `pool.rs` (the public API), `shared.rs` (the side effects of a transition),
//! `checkout.rs` (the hot path, the acquire loop, the waiting future), `connect.rs` (connect
//! tasks), `maintenance.rs` (the background task and its pass), `waiters.rs` (the FIFO),
//! `stats.rs`; `loom_models.rs` checks the locked core under loom (`make loom`).
//!
//! An uncontended `get` is: lock, pop an idle connection, unlock, and (only if it sat idle for a
//! clock tick or more) the manager's cheap `is_dead` probe, and (only if it sat idle past
//! `check_after_idle`) a health check bounded by `check_timeout`; a dead or failing connection is
//! closed and the same `get` moves on. A drop is: lock, hand the connection to the oldest waiter
//! or push it idle, unlock, wake. Neither reads the clock: they use the pool's coarse clock, a
//! reading the background task refreshes every tick while the pool is in use. A caller that has
//! to wait registers no timer either: its deadline goes into a heap that the same background task
//! watches, serving expired waiters a timeout through their slots. Waiters are served strictly
//! in arrival order by direct hand-off into their slot, under the lock of the return that
//! serves them, so a later caller can never take a connection a waiter was promised. Connects
//! run in their own tasks, so a caller giving up never cancels a connect that the next caller
//! needs; a finished connect serves the oldest waiter, else goes idle.
//! New connections are opened only for waiters not already covered by a connect in flight, or
//! to reach `min_idle`, at most `max_connecting` at once, with exponential backoff and full
//! jitter after failures. A failure the manager classes as permanent fails the waiters it was
//! meant to serve at once and slows the retries to `backoff_max`; failures in a row with nothing
//! idle open a breaker, and while it is open callers that would need a new connection fail at
//! once while one probe connect retries. The same task retires each idle connection at its own
//! (jittered) lifetime deadline.
//!
//! See `docs/pool.md` in the repository for the state machine and measured costs.

mod checkout;
mod clock;
mod config;
mod connect;
mod error;
mod guard;
mod internals;
#[cfg(all(test, loom))]
mod loom_models;
mod maintenance;
mod manager;
mod pool;
mod shared;
mod stats;
mod sync;
mod waiters;

pub use config::{Builder, Config, Observer, QueueMode};
pub use error::{BuildError, ConnectError, Error, Phase, TimeoutError};
pub use guard::Pooled;
pub use manager::{ErrorClass, Manager};
pub use pool::Pool;
pub use stats::{PoolEvent, RemoveReason, Stats, Status};
