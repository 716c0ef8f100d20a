//! [`Connection`]: a pooled PostgreSQL connection with the client-side `query_timeout`
//! (transactions are in `transaction.rs`).
//!
//! # Keeping connections clean
//!
//! A `Drop` cannot await, so a dropped transaction cannot send `ROLLBACK` at once. It records
//! the rollback instead (`pending_rollback`); the next operation on the connection sends it
//! first, and if the connection goes back to the pool first, the manager sees the open
//! transaction and rolls it back before anyone else gets the connection. A query whose
//! `query_timeout` runs out is cancelled on the server and drained; if that does not finish
//! within [`CANCEL_GRACE`], the connection is marked poisoned and the pool closes it.

use std::time::Duration;

use tarn_wire::{Params, Row, SimpleQueryMessage, Statement, ToStatement, TransactionStatus};
use tracing::Instrument;

use crate::error::Error;
use crate::manager::finish_abandoned;
use crate::stream::RowStream;
use crate::transaction::{Transaction, TransactionOptions};

/// How long, after `query_timeout` runs out, tarn waits for the server to confirm the cancel
/// and for the connection to drain. The caller gets its error within `query_timeout` plus this.
pub const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// A PostgreSQL connection owned by a pool. Reach it through
/// [`PooledConnection`](crate::PooledConnection), which derefs to it.
#[derive(Debug)]
pub struct Connection {
    pub(crate) wire: tarn_wire::Connection,
    query_timeout: Option<Duration>,
    /// Statements slower than this are logged at warn level.
    slow_query_threshold: Option<Duration>,
    /// A query timed out and the cancel was not confirmed: never reuse.
    pub(crate) poisoned: bool,
    /// A transaction (depth 1) or savepoint (depth > 1) was dropped without commit or rollback.
    pub(crate) pending_rollback: Option<u32>,
    /// Open transaction depth: 0 outside a transaction, 1 inside, +1 per savepoint.
    pub(crate) depth: u32,
    /// Something ran since the connection was last reset (for `reset_query`).
    pub(crate) used: bool,
    /// The server refused a write as read-only (25006): it is a standby now, or the session
    /// was made read-only. A pool that wants read-write sessions discards the connection.
    pub(crate) refused_write: bool,
}

/// Runs a wire call under the connection's `query_timeout`, cancelling on the server when it
/// runs out, inside a `tarn.query` span (OpenTelemetry's database conventions: `db.system`,
/// `db.statement` with the SQL text and never parameter values, then `db.rows`,
/// `duration_ms` and `db.response.status_code` on error), and logs it when it took longer than
/// `slow_query_threshold`. A macro rather than a function because the call borrows
/// `self.wire`, which the timeout path needs back once the call's future is gone.
macro_rules! timed {
    ($self:ident, $sql:expr, $call:expr) => {{
        $self.ready().await?;
        let span = tracing::debug_span!(
            "tarn.query",
            db.system = "postgresql",
            db.statement = $sql,
            db.rows = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            db.response.status_code = tracing::field::Empty,
        );
        let started = (!span.is_disabled() || $self.slow_query_threshold.is_some())
            .then(std::time::Instant::now);
        let result = match $self.query_timeout {
            None => $call.instrument(span.clone()).await.map_err(Error::from),
            Some(limit) => {
                match tokio::time::timeout(limit, $call.instrument(span.clone())).await {
                    Ok(result) => result.map_err(Error::from),
                    // Cancellation safety: the call's future is dropped here; the wire connection
                    // records the abandoned request, and `cancel_after_timeout` drains it.
                    Err(_) => Err($self.cancel_after_timeout(limit).await),
                }
            }
        };
        if let Err(e) = &result {
            $self.observe(e);
        }
        if let Some(started) = started {
            $self.record(&span, $sql, started.elapsed(), &result);
        }
        result
    }};
}

/// How many rows a call's result stands for, for its span.
pub(crate) trait RowCount {
    fn row_count(&self) -> Option<u64>;
}

impl RowCount for Vec<Row> {
    fn row_count(&self) -> Option<u64> {
        u64::try_from(self.len()).ok()
    }
}

impl RowCount for Row {
    fn row_count(&self) -> Option<u64> {
        Some(1)
    }
}

impl RowCount for Option<Row> {
    fn row_count(&self) -> Option<u64> {
        Some(u64::from(self.is_some()))
    }
}

impl RowCount for u64 {
    fn row_count(&self) -> Option<u64> {
        Some(*self)
    }
}

impl RowCount for Vec<SimpleQueryMessage> {
    fn row_count(&self) -> Option<u64> {
        let rows = self
            .iter()
            .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
            .count();
        u64::try_from(rows).ok()
    }
}

impl RowCount for Statement {
    fn row_count(&self) -> Option<u64> {
        None
    }
}

impl RowCount for tarn_wire::RowReader {
    fn row_count(&self) -> Option<u64> {
        None
    }
}

/// The SQL text of what a query method runs.
fn sql_of<S: ToStatement + ?Sized>(statement: &S) -> &str {
    match statement.to_statement_ref() {
        tarn_wire::StatementRef::Sql(sql) => sql,
        tarn_wire::StatementRef::Prepared(statement) => statement.sql(),
    }
}

impl Connection {
    pub(crate) fn new(
        wire: tarn_wire::Connection,
        query_timeout: Option<Duration>,
        slow_query_threshold: Option<Duration>,
    ) -> Self {
        Connection {
            wire,
            query_timeout,
            slow_query_threshold,
            poisoned: false,
            pending_rollback: None,
            depth: 0,
            used: false,
            refused_write: false,
        }
    }

    /// Runs a statement and returns its rows. `statement` is SQL text (prepared once per
    /// connection and cached) or a [`Statement`] from [`prepare`](Connection::prepare).
    ///
    /// # Cancel safety
    /// Dropping the future leaves an unread reply on the connection; the next operation (or
    /// the pool, on return) drains it, so no later query can read this one's rows.
    pub async fn query<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Vec<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        timed!(self, sql_of(statement), self.wire.query(statement, params))
    }

    /// Runs a statement that must return exactly one row.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn query_one<S>(&mut self, statement: &S, params: Params<'_>) -> Result<Row, Error>
    where
        S: ToStatement + ?Sized,
    {
        timed!(
            self,
            sql_of(statement),
            self.wire.query_one(statement, params)
        )
    }

    /// Runs a statement that must return at most one row.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn query_opt<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        timed!(
            self,
            sql_of(statement),
            self.wire.query_opt(statement, params)
        )
    }

    /// Runs a statement and returns how many rows it affected.
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn execute<S>(&mut self, statement: &S, params: Params<'_>) -> Result<u64, Error>
    where
        S: ToStatement + ?Sized,
    {
        timed!(
            self,
            sql_of(statement),
            self.wire.execute(statement, params)
        )
    }

    /// Runs one or more statements with the simple protocol (no parameters).
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        timed!(self, sql, self.wire.simple_query(sql))
    }

    /// Prepares a statement (or returns the cached one).
    ///
    /// # Cancel safety
    /// As [`query`](Connection::query).
    pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        timed!(self, sql, self.wire.prepare(sql))
    }

    /// Starts a transaction. It rolls back when dropped unless
    /// [`commit`](Transaction::commit)ted.
    ///
    /// # Cancel safety
    /// If the future is dropped, `BEGIN` may or may not have run; either way the connection is
    /// rolled back before anyone else uses it.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self, &TransactionOptions::default()).await
    }

    /// Starts a transaction with options (isolation level, read-only, deferrable).
    ///
    /// # Cancel safety
    /// As [`transaction`](Connection::transaction).
    pub async fn transaction_with(
        &mut self,
        options: &TransactionOptions,
    ) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self, options).await
    }

    /// Runs a statement and returns its rows as a stream, read as the caller asks for them
    /// (memory bounded by one message whatever the result size). `query_timeout` bounds the
    /// start of the statement, not the reading.
    ///
    /// # Cancel safety
    /// A stream dropped before its end leaves the rest of the reply unread; the next operation
    /// (or the pool, on return) cancels the statement on the server if it still runs and
    /// drains what is left, so no later query can read its rows.
    pub async fn query_stream<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowStream<'_>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let reader = self.start_rows(statement, params).await?;
        Ok(RowStream::borrowed(&mut self.wire, reader))
    }

    /// Starts a row stream's statement under `query_timeout`; the reader is polled with this
    /// connection's wire connection.
    pub(crate) async fn start_rows<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<tarn_wire::RowReader, Error>
    where
        S: ToStatement + ?Sized,
    {
        timed!(
            self,
            sql_of(statement),
            self.wire.start_rows(statement, params)
        )
    }

    /// The transaction status of the last `ReadyForQuery`.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.wire.transaction_status()
    }

    /// The server process serving this connection.
    pub fn backend_pid(&self) -> i32 {
        self.wire.backend_pid()
    }

    /// A server parameter (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.wire.parameter(name)
    }

    /// The wire connection underneath, for what the pool's API does not cover (e.g.
    /// [`cancel_token`](tarn_wire::Connection::cancel_token)).
    pub fn wire(&mut self) -> &mut tarn_wire::Connection {
        &mut self.wire
    }

    /// Readies the connection for a new operation: refuses a poisoned one, and sends the
    /// rollback a dropped transaction left behind.
    pub(crate) async fn ready(&mut self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        self.used = true;
        if self.wire.needs_drain() {
            // An earlier call on this connection was abandoned (its future dropped, say by
            // `tokio::time::timeout`) while the caller kept the connection: cancel it on the
            // server if it is still running, as the pool does for a dropped guard, rather than
            // make this call wait for it. Bounded by query_timeout when one is set.
            // Inside a transaction the caller goes on with, cancelling would abort it: drain.
            let may_cancel = self.wire.transaction_status() == TransactionStatus::Idle;
            let recovered = match self.query_timeout {
                Some(limit) => {
                    tokio::time::timeout(limit, finish_abandoned(&mut self.wire, may_cancel)).await
                }
                None => Ok(finish_abandoned(&mut self.wire, may_cancel).await),
            };
            match recovered {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.poisoned = true;
                    return Err(e.into());
                }
                Err(_) => {
                    self.poisoned = true;
                    return Err(Error::Poisoned);
                }
            }
        }
        if let Some(depth) = self.pending_rollback {
            let sql = if depth <= 1 {
                "ROLLBACK".to_owned()
            } else {
                format!("ROLLBACK TO SAVEPOINT tarn_sp_{depth}; RELEASE SAVEPOINT tarn_sp_{depth}")
            };
            self.wire.simple_query(&sql).await?;
            self.pending_rollback = None;
            self.depth = depth.saturating_sub(1);
        }
        Ok(())
    }

    /// After `query_timeout` ran out: cancel on the server, drain, or poison the connection.
    async fn cancel_after_timeout(&mut self, limit: Duration) -> Error {
        let token = self.wire.cancel_token();
        let wire = &mut self.wire;
        let recovered = tokio::time::timeout(CANCEL_GRACE, async {
            token.cancel_query().await?;
            wire.drain().await
        })
        .await;
        let cancelled = matches!(recovered, Ok(Ok(())));
        if !cancelled {
            self.poisoned = true;
        }
        tracing::warn!(?limit, cancelled, "tarn: query timed out");
        Error::QueryTimeout {
            timeout: limit,
            cancelled,
        }
    }

    /// Runs transaction control SQL (BEGIN, COMMIT, SAVEPOINT, ...).
    pub(crate) async fn control(&mut self, sql: &str) -> Result<(), Error> {
        timed!(self, sql, self.wire.simple_query(sql)).map(drop)
    }

    /// Fills the span's result fields and logs a slow statement.
    fn record<T: RowCount>(
        &self,
        span: &tracing::Span,
        sql: &str,
        took: Duration,
        result: &Result<T, Error>,
    ) {
        let ms = took.as_secs_f64() * 1000.0;
        span.record("duration_ms", ms);
        match result {
            Ok(value) => {
                if let Some(rows) = value.row_count() {
                    span.record("db.rows", rows);
                }
            }
            Err(e) => {
                if let Some(code) = e.code() {
                    span.record("db.response.status_code", code.as_str());
                }
            }
        }
        if self.slow_query_threshold.is_some_and(|t| took >= t) {
            tracing::warn!(
                db.statement = sql,
                duration_ms = ms,
                backend_pid = self.wire.backend_pid(),
                "tarn: slow query"
            );
        }
    }

    /// Notes what an error says about the connection's server.
    fn observe(&mut self, error: &Error) {
        if error.code().is_some_and(|c| c.as_str() == "25006") {
            self.refused_write = true;
        }
    }

    /// Drops dirty state after the pool reset the connection.
    pub(crate) fn mark_clean(&mut self) {
        self.pending_rollback = None;
        self.depth = 0;
        self.used = false;
    }
}
