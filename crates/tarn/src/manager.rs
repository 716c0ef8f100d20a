//! [`PgManager`]: how the generic engine opens, checks, cleans and closes PostgreSQL
//! connections.
//!
//! What it decides on every return of a connection (synchronously, so it is cheap):
//! - broken (I/O or protocol error, FATAL, or poisoned by an unconfirmed cancel): closed;
//! - dirty (an abandoned reply to drain, a transaction open or failed, a dropped transaction
//!   guard's pending rollback, or any use at all when a `reset_query` is set): reset in a
//!   background task (drain, `ROLLBACK`, the reset query), bounded by the pool's
//!   `reset_timeout`, and closed if that fails;
//! - otherwise: straight back to the pool.

use std::sync::Arc;
use std::time::Duration;

use tarn_wire::TransactionStatus;

use crate::config::Config;
use crate::connection::Connection;

/// How long a reset waits for an abandoned reply before it cancels the query on the server.
const DRAIN_BEFORE_CANCEL: Duration = Duration::from_millis(50);

/// The PostgreSQL [`Manager`](tarn_pool::Manager) behind [`Pool`](crate::Pool).
#[derive(Debug)]
pub struct PgManager {
    config: Arc<Config>,
    wire: tarn_wire::Config,
}

impl PgManager {
    pub(crate) fn new(config: Arc<Config>) -> Self {
        let wire = config.wire_config();
        PgManager { config, wire }
    }

    /// The settings the pool was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl tarn_pool::Manager for PgManager {
    type Connection = Connection;
    type Error = tarn_wire::Error;

    async fn connect(&self) -> Result<Connection, tarn_wire::Error> {
        let wire = tarn_wire::Connection::connect(&self.wire).await?;
        Ok(Connection::new(wire, self.config.query_timeout))
    }

    async fn check(&self, conn: &mut Connection) -> Result<(), tarn_wire::Error> {
        // An empty query is the cheapest round trip the server answers (EmptyQueryResponse).
        conn.wire.simple_query("").await.map(drop)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.poisoned || conn.wire.is_broken()
    }

    fn needs_reset(&self, conn: &mut Connection) -> bool {
        conn.wire.needs_drain()
            || conn.pending_rollback.is_some()
            || conn.wire.transaction_status() != TransactionStatus::Idle
            || (conn.used && self.config.reset_query.is_some())
    }

    async fn reset(&self, conn: &mut Connection) -> Result<(), tarn_wire::Error> {
        if conn.wire.needs_drain() {
            // Usually the abandoned reply is already on its way (unread rows): drain it. If it
            // is not done soon, the query is still running on the server: cancel it rather
            // than wait it out. The whole reset is bounded by the pool's reset_timeout.
            // Cancellation safety: the drain keeps its progress in the connection.
            if tokio::time::timeout(DRAIN_BEFORE_CANCEL, conn.wire.drain())
                .await
                .is_err()
            {
                conn.wire.cancel_token().cancel_query().await?;
            }
            conn.wire.drain().await?;
        }
        if conn.wire.transaction_status() != TransactionStatus::Idle {
            conn.wire.simple_query("ROLLBACK").await?;
        }
        if let Some(sql) = &self.config.reset_query {
            conn.wire.simple_query(sql).await?;
        }
        conn.mark_clean();
        Ok(())
    }

    async fn close(&self, conn: Connection) {
        // Terminate lets the server end the backend at once instead of noticing a dead socket.
        let _ = conn.wire.close().await;
    }
}
