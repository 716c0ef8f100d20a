//! tarn: an async PostgreSQL connection pool.
//!
//! The generic engine of [`tarn_pool`] driving [`tarn_wire`] connections: a thin client with
//! no background task per connection, FIFO hand-off to waiters, bounded connects, and
//! connections that are never handed out dirty.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), tarn::Error> {
//! // From a builder (or `tarn::Config::from_env()?`, or a URL alone).
//! let pool = tarn::Pool::builder()
//!     .url("postgres://app:secret@127.0.0.1:5432/app")
//!     .max_size(20)
//!     .min_idle(2)
//!     .idle_timeout(Duration::from_secs(30))
//!     .acquire_timeout(Duration::from_secs(2))      // waiting + connecting
//!     .statement_timeout(Duration::from_secs(30))   // server side, sent at startup
//!     .query_timeout(Duration::from_secs(30))       // client side, sends a CancelRequest
//!     .application_name("billing")
//!     .on_event(|event| tracing::debug!(?event, "pool event"))
//!     .build()
//!     .await?;
//!
//! // Acquire, run, release in one call. Parameters are `ToSql`, results `FromSql`.
//! let id = 7_i32;
//! let rows = pool.query("SELECT id, name FROM campaigns WHERE id = $1", &[&id]).await?;
//! let name: String = rows[0].get(1);
//! # let _ = name;
//!
//! // A guard: returns to the pool when dropped.
//! let mut conn = pool.get().await?;
//! let mut tx = conn.transaction().await?;           // rolls back on drop unless committed
//! tx.execute("INSERT INTO campaigns (name) VALUES ($1)", &[&"spring"]).await?;
//! let mut savepoint = tx.transaction().await?;      // nested: a savepoint
//! savepoint.execute("DELETE FROM campaigns", &[]).await?;
//! savepoint.rollback().await?;
//! tx.commit().await?;
//! drop(conn);
//!
//! // Observability and health.
//! let status = pool.status();                       // size, idle, in use, waiting, max
//! let stats = pool.stats();                         // cumulative counters
//! let health = pool.check_connection().await;       // serde-serializable report
//! println!("{} of {} connections, healthy: {}", status.size, status.max_size, health.ok);
//! # let _ = stats;
//!
//! // Graceful shutdown, in this order: stop taking requests and let those in flight finish
//! // (axum: `serve(..).with_graceful_shutdown(tarn::shutdown_signal())`), then close the pool
//! // (it waits for checked-out connections).
//! pool.close().await;
//! # Ok(()) }
//! ```
//!
//! Errors say what failed: [`Error::Acquire`] names the phase that timed out and carries the
//! pool's counts and the last connect error; [`Error::Query`] keeps the server's SQLSTATE,
//! message, detail, hint and position ([`Error::code`], [`Error::as_db_error`]);
//! [`Error::QueryTimeout`] says the client-side timeout ran out; [`ConfigError`] names the
//! setting or environment variable at fault.

mod client;
mod cluster;
mod config;
mod connection;
mod copy;
mod error;
mod health;
mod listener;
mod manager;
mod pool;
mod stream;
mod transaction;

pub use client::{GenericClient, retry_serializable};
pub use cluster::{Cluster, ClusterBuilder, ClusterStatus, DEFAULT_CHECK_INTERVAL, NodeStatus};
pub use config::{
    Config, ConfigError, DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_APPLICATION_NAME,
    DEFAULT_BREAKER_THRESHOLD, DEFAULT_CHECK_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LIFETIME,
    DEFAULT_MAX_SIZE, DEFAULT_MIN_IDLE, DEFAULT_QUERY_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, Host,
};
pub use connection::{CANCEL_GRACE, Connection};
pub use copy::{
    BinaryCopyInWriter, BinaryCopyOutStream, BinaryCopyRow, COPY_BUFFER_SIZE, CopyInSink,
    CopyOutStream,
};
pub use error::Error;
pub use health::HealthReport;
pub use listener::{
    DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_TIMEOUT, DEFAULT_RECONNECT_MAX,
    DEFAULT_RECONNECT_MIN, Listener, ListenerBuilder, ListenerEvent, ListenerStream,
    MAX_CHANNEL_LEN, MAX_NOTIFICATIONS, Notification,
};
pub use manager::PgManager;
pub use pool::{Builder, Pool, PooledConnection, ShutdownSignals, shutdown_signal};
pub use stream::RowStream;
pub use tarn_pool::{PoolEvent, RemoveReason, Stats, Status};
/// The wire client's error, which [`Row::try_get`] returns; `?` turns it into an [`Error`]
/// (`Error::Query`).
pub use tarn_wire::Error as WireError;
/// `rust_decimal`, whose `Decimal` reads and writes `numeric` (feature `rust_decimal`).
#[cfg(feature = "rust_decimal")]
pub use tarn_wire::rust_decimal;
pub use tarn_wire::{
    ChannelBinding, Column, DbError, FromSql, LoadBalanceHosts, Params, Row, RowIndex,
    SimpleQueryMessage, SimpleQueryRow, SqlState, SslMode, SslNegotiation, SslRootCert, Statement,
    TargetSessionAttrs, ToSql, ToStatement, TransactionStatus, Type, rustls, types,
};
pub use transaction::{IsolationLevel, OwnedTransaction, Transaction, TransactionOptions};

/// The service guide (`docs/service.md`), compiled here so every code block in it is a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/service.md")]
pub struct ServiceGuide;
