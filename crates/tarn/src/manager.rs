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

use tarn_pool::ErrorClass;
use tarn_wire::{TargetSessionAttrs, TransactionStatus};

use crate::config::Config;
use crate::connection::Connection;

/// How long a reset waits for an abandoned reply before it cancels the query on the server.
const DRAIN_BEFORE_CANCEL: Duration = Duration::from_millis(50);

/// Brings a connection whose last request was abandoned back in sync. Usually the abandoned
/// reply is already on its way (unread rows): drain it. If it is not done within
/// [`DRAIN_BEFORE_CANCEL`] and `may_cancel`, the statement is still running on the server:
/// cancel it rather than wait it out, then drain its 57014 error. Inside a transaction the
/// caller keeps using, a cancel would abort the whole transaction, so there it only drains
/// (bounded by the caller's `query_timeout`); the pool's reset may cancel, since it rolls the
/// transaction back anyway.
///
/// The cancel cannot reach a later statement: `cancel_query` returns only once the server
/// has closed the cancel socket, which it does after signalling the backend, and the next
/// statement is written only after the drain has read the abandoned one's `ReadyForQuery`. A
/// signal that arrives while the backend waits for input is ignored by the server.
pub(crate) async fn finish_abandoned(
    wire: &mut tarn_wire::Connection,
    may_cancel: bool,
) -> Result<(), tarn_wire::Error> {
    if !wire.needs_drain() {
        return Ok(());
    }
    if !may_cancel {
        return wire.drain().await;
    }
    // Cancellation safety: the drain keeps its progress in the connection.
    if tokio::time::timeout(DRAIN_BEFORE_CANCEL, wire.drain())
        .await
        .is_err()
    {
        wire.cancel_token().cancel_query().await?;
    }
    wire.drain().await
}

/// Whether a connect error can go away by retrying. Permanent: the server's answers that only
/// a change of settings, roles or databases can fix (class 28 invalid authorization, 3D000
/// no such database, 42501 no CONNECT privilege, 08P01 protocol violation such as a refused
/// startup parameter, 0A000 unsupported), and the client's own refusals (auth policy, SCRAM
/// iteration cap, a protocol violation by the server, an unusable configuration, a TLS
/// refusal: no TLS where the sslmode needs it, a certificate that does not verify). Transient:
/// everything else, notably refused or reset sockets, timeouts, 53300 too many clients, 57P03
/// the server is starting up or shutting down.
pub(crate) fn connect_error_class(error: &tarn_wire::Error) -> ErrorClass {
    if let Some(code) = error.code() {
        let code = code.as_str();
        return if code.starts_with("28") || matches!(code, "3D000" | "42501" | "08P01" | "0A000") {
            ErrorClass::Permanent
        } else {
            ErrorClass::Transient
        };
    }
    if error.is_auth() || error.is_protocol() || error.is_config() {
        return ErrorClass::Permanent;
    }
    if error.is_tls() {
        // A refusal (no TLS on the server, a certificate that does not verify, unusable TLS
        // files) stays a refusal; a handshake cut short by the network may not.
        let network = std::error::Error::source(error)
            .and_then(|cause| cause.downcast_ref::<std::io::Error>())
            .is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::TimedOut
                )
            });
        return if network {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
    }
    ErrorClass::Transient
}

/// The PostgreSQL [`Manager`](tarn_pool::Manager) behind [`Pool`](crate::Pool).
#[derive(Debug)]
pub struct PgManager {
    config: Arc<Config>,
    wire: tarn_wire::Config,
    /// Session settings applied to each new connection (`statement_timeout`).
    setup: Option<String>,
}

impl PgManager {
    pub(crate) fn new(config: Arc<Config>) -> Self {
        let wire = config.wire_config();
        let setup = config.session_setup();
        PgManager {
            config,
            wire,
            setup,
        }
    }

    /// The settings the pool was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl PgManager {
    /// Whether an open connection is no longer on the kind of server `target_session_attrs`
    /// asks for: the server reported leaving or entering hot standby (a promotion), or, for a
    /// read-write pool, it refused a write as read-only (25006, e.g. an old primary that came
    /// back as a standby). Cheap: no round trip.
    fn wrong_server(&self, conn: &Connection) -> bool {
        let want = self.config.target_session_attrs;
        let refused = conn.refused_write
            && matches!(
                want,
                TargetSessionAttrs::ReadWrite | TargetSessionAttrs::Primary
            );
        refused || matches!(want.judge(&conn.wire), Some(Err(_)))
    }
}

impl tarn_pool::Manager for PgManager {
    type Connection = Connection;
    type Error = tarn_wire::Error;

    async fn connect(&self) -> Result<Connection, tarn_wire::Error> {
        let mut wire = tarn_wire::Connection::connect(&self.wire).await?;
        if let Some(sql) = &self.setup {
            // Cancellation safety: the connection is dropped with this future.
            wire.simple_query(sql).await?;
        }
        Ok(Connection::new(
            wire,
            self.config.query_timeout,
            self.config.slow_query_threshold,
        ))
    }

    async fn check(&self, conn: &mut Connection) -> Result<(), tarn_wire::Error> {
        // An empty query is the cheapest round trip the server answers (EmptyQueryResponse).
        conn.wire.simple_query("").await.map(drop)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.poisoned || conn.wire.is_broken() || self.wrong_server(conn)
    }

    fn needs_reset(&self, conn: &mut Connection) -> bool {
        conn.wire.needs_drain()
            || conn.pending_rollback.is_some()
            || conn.wire.transaction_status() != TransactionStatus::Idle
            || (conn.used && self.config.reset_query.is_some())
    }

    fn error_class(&self, error: &tarn_wire::Error) -> ErrorClass {
        connect_error_class(error)
    }

    fn is_dead(&self, conn: &mut Connection) -> bool {
        // The probe also reads what arrived while idle, such as a ParameterStatus saying the
        // server left hot standby, before the session is judged.
        conn.poisoned || conn.wire.peer_closed() || self.wrong_server(conn)
    }

    async fn reset(&self, conn: &mut Connection) -> Result<(), tarn_wire::Error> {
        // The whole reset is bounded by the pool's reset_timeout.
        // Cancellation safety: the drain keeps its progress in the connection.
        finish_abandoned(&mut conn.wire, true).await?;
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
