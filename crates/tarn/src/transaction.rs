//! Transactions: [`Transaction`] (borrows a connection) and [`OwnedTransaction`] (owns a
//! pooled connection, from [`Pool::begin`](crate::Pool::begin), so it is `'static` and can be
//! held across `.await`s in a handler or moved into a task), both rolled back on drop unless
//! committed; [`TransactionOptions`] for the isolation level, read-only and deferrable.
//!
//! # Keeping connections clean
//! A `Drop` cannot await, so a dropped transaction cannot send `ROLLBACK` at once. It records
//! the rollback instead (`pending_rollback` on the connection); the next operation on the
//! connection sends it first, and if the connection goes back to the pool first, the pool's
//! reset sees the open transaction and rolls it back before anyone else gets the connection.
//! Nested transactions are savepoints (`tarn_sp_<depth>`).

use std::ops::DerefMut;

use tarn_wire::{Params, Row, SimpleQueryMessage, Statement, ToStatement};

use crate::connection::Connection;
use crate::error::Error;
use crate::pool::PooledConnection;
use crate::stream::RowStream;

/// A transaction's isolation level (`BEGIN ISOLATION LEVEL ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// `READ UNCOMMITTED` (PostgreSQL runs it as `READ COMMITTED`).
    ReadUncommitted,
    /// `READ COMMITTED`, PostgreSQL's default.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`: may fail with a serialization failure (`40001`) to be retried; see
    /// [`retry_serializable`](crate::retry_serializable).
    Serializable,
}

/// How a transaction starts: `BEGIN` with an isolation level, `READ ONLY`/`READ WRITE`,
/// `DEFERRABLE`. The default is a plain `BEGIN` (the server's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct TransactionOptions {
    isolation: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
}

impl TransactionOptions {
    /// A plain `BEGIN`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }

    /// `READ ONLY` (true) or `READ WRITE` (false).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = Some(read_only);
        self
    }

    /// `DEFERRABLE` (true) or `NOT DEFERRABLE` (false): with `SERIALIZABLE READ ONLY`, waits
    /// for a snapshot that cannot fail with a serialization failure.
    pub fn deferrable(mut self, deferrable: bool) -> Self {
        self.deferrable = Some(deferrable);
        self
    }

    /// The `BEGIN` statement these options make.
    pub fn begin_sql(&self) -> String {
        let mut sql = String::from("BEGIN");
        let mut modes = Vec::new();
        if let Some(level) = self.isolation {
            modes.push(match level {
                IsolationLevel::ReadUncommitted => "ISOLATION LEVEL READ UNCOMMITTED",
                IsolationLevel::ReadCommitted => "ISOLATION LEVEL READ COMMITTED",
                IsolationLevel::RepeatableRead => "ISOLATION LEVEL REPEATABLE READ",
                IsolationLevel::Serializable => "ISOLATION LEVEL SERIALIZABLE",
            });
        }
        if let Some(read_only) = self.read_only {
            modes.push(if read_only { "READ ONLY" } else { "READ WRITE" });
        }
        if let Some(deferrable) = self.deferrable {
            modes.push(if deferrable {
                "DEFERRABLE"
            } else {
                "NOT DEFERRABLE"
            });
        }
        if !modes.is_empty() {
            sql.push(' ');
            sql.push_str(&modes.join(", "));
        }
        sql
    }
}

/// One open level (a transaction or a savepoint) on whatever holds the connection.
struct Level<C: DerefMut<Target = Connection>> {
    conn: C,
    depth: u32,
    /// Committed, rolled back, or never begun: nothing to roll back on drop.
    done: bool,
}

impl<C: DerefMut<Target = Connection>> Level<C> {
    async fn begin(mut conn: C, options: &TransactionOptions) -> Result<Self, Error> {
        // Flush any older rollback first so the depth below is current.
        conn.ready().await?;
        let depth = conn.depth + 1;
        let sql = if depth == 1 {
            options.begin_sql()
        } else {
            format!("SAVEPOINT tarn_sp_{depth}")
        };
        let mut level = Level {
            conn,
            depth,
            // Until BEGIN succeeds there is nothing to roll back on drop.
            done: true,
        };
        level.conn.control(&sql).await?;
        level.conn.depth = depth;
        level.done = false;
        Ok(level)
    }

    async fn commit(&mut self) -> Result<(), Error> {
        let sql = if self.depth == 1 {
            "COMMIT".to_owned()
        } else {
            format!("RELEASE SAVEPOINT tarn_sp_{}", self.depth)
        };
        self.finish(&sql).await
    }

    async fn rollback(&mut self) -> Result<(), Error> {
        let sql = if self.depth == 1 {
            "ROLLBACK".to_owned()
        } else {
            format!(
                "ROLLBACK TO SAVEPOINT tarn_sp_{0}; RELEASE SAVEPOINT tarn_sp_{0}",
                self.depth
            )
        };
        self.finish(&sql).await
    }

    async fn finish(&mut self, sql: &str) -> Result<(), Error> {
        let result = self.conn.control(sql).await;
        // Whatever the outcome, this level is over: on failure the server has either ended
        // the transaction or left it failed, which the pool's reset rolls back.
        self.done = true;
        self.conn.depth = self.depth - 1;
        result
    }
}

impl<C: DerefMut<Target = Connection>> Drop for Level<C> {
    fn drop(&mut self) {
        if !self.done {
            let depth = self
                .conn
                .pending_rollback
                .map_or(self.depth, |d| d.min(self.depth));
            self.conn.pending_rollback = Some(depth);
            tracing::debug!(
                depth,
                "tarn: transaction dropped without commit; rolling back"
            );
        }
    }
}

/// A transaction (or, nested, a savepoint) on a [`Connection`].
///
/// Dropped without [`commit`](Transaction::commit) or [`rollback`](Transaction::rollback), it
/// rolls back: before the connection's next operation, or before the pool hands the connection
/// to anyone else.
#[must_use = "a transaction rolls back when dropped; call commit()"]
pub struct Transaction<'a>(Level<&'a mut Connection>);

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("depth", &self.0.depth)
            .finish_non_exhaustive()
    }
}

/// A transaction that owns its pooled connection: from [`Pool::begin`](crate::Pool::begin).
/// `'static`, so it can be held across `.await`s in a handler or moved into a task; the
/// connection goes back to the pool when it is dropped (rolled back first unless committed).
#[must_use = "a transaction rolls back when dropped; call commit()"]
pub struct OwnedTransaction(Level<PooledConnection>);

impl std::fmt::Debug for OwnedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedTransaction")
            .field("backend_pid", &self.0.conn.backend_pid())
            .finish_non_exhaustive()
    }
}

impl<'a> Transaction<'a> {
    pub(crate) async fn begin(
        conn: &'a mut Connection,
        options: &TransactionOptions,
    ) -> Result<Transaction<'a>, Error> {
        Level::begin(conn, options).await.map(Transaction)
    }
}

impl OwnedTransaction {
    pub(crate) async fn begin(
        conn: PooledConnection,
        options: &TransactionOptions,
    ) -> Result<OwnedTransaction, Error> {
        Level::begin(conn, options).await.map(OwnedTransaction)
    }
}

/// The methods both transaction types share, written once.
macro_rules! transaction_methods {
    ($ty:ty) => {
        impl $ty {
            /// Commits (or releases the savepoint).
            ///
            /// # Cancel safety
            /// If the future is dropped, the commit may or may not have happened; the
            /// connection is cleaned before reuse either way.
            pub async fn commit(mut self) -> Result<(), Error> {
                self.0.commit().await
            }

            /// Rolls back (or back to the savepoint).
            ///
            /// # Cancel safety
            /// If the future is dropped, the rollback is sent before the connection's next
            /// use.
            pub async fn rollback(mut self) -> Result<(), Error> {
                self.0.rollback().await
            }

            /// Starts a nested transaction: a savepoint.
            ///
            /// # Cancel safety
            /// As [`Connection::transaction`].
            pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
                Transaction::begin(&mut *self.0.conn, &TransactionOptions::default()).await
            }

            /// As [`Connection::query`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn query<S>(
                &mut self,
                statement: &S,
                params: Params<'_>,
            ) -> Result<Vec<Row>, Error>
            where
                S: ToStatement + ?Sized,
            {
                self.0.conn.query(statement, params).await
            }

            /// As [`Connection::query_one`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn query_one<S>(
                &mut self,
                statement: &S,
                params: Params<'_>,
            ) -> Result<Row, Error>
            where
                S: ToStatement + ?Sized,
            {
                self.0.conn.query_one(statement, params).await
            }

            /// As [`Connection::query_opt`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn query_opt<S>(
                &mut self,
                statement: &S,
                params: Params<'_>,
            ) -> Result<Option<Row>, Error>
            where
                S: ToStatement + ?Sized,
            {
                self.0.conn.query_opt(statement, params).await
            }

            /// As [`Connection::execute`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn execute<S>(
                &mut self,
                statement: &S,
                params: Params<'_>,
            ) -> Result<u64, Error>
            where
                S: ToStatement + ?Sized,
            {
                self.0.conn.execute(statement, params).await
            }

            /// As [`Connection::query_stream`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query_stream`].
            pub async fn query_stream<S>(
                &mut self,
                statement: &S,
                params: Params<'_>,
            ) -> Result<RowStream<'_>, Error>
            where
                S: ToStatement + ?Sized,
            {
                self.0.conn.query_stream(statement, params).await
            }

            /// As [`Connection::simple_query`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn simple_query(
                &mut self,
                sql: &str,
            ) -> Result<Vec<SimpleQueryMessage>, Error> {
                self.0.conn.simple_query(sql).await
            }

            /// As [`Connection::prepare`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::query`].
            pub async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
                self.0.conn.prepare(sql).await
            }

            /// The connection underneath (for COPY, `cancel_token`, parameters).
            pub fn connection(&mut self) -> &mut Connection {
                &mut *self.0.conn
            }
        }
    };
}

transaction_methods!(Transaction<'_>);
transaction_methods!(OwnedTransaction);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_statements() {
        assert_eq!(TransactionOptions::new().begin_sql(), "BEGIN");
        assert_eq!(
            TransactionOptions::new()
                .isolation(IsolationLevel::Serializable)
                .read_only(true)
                .deferrable(true)
                .begin_sql(),
            "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE"
        );
        assert_eq!(
            TransactionOptions::new().read_only(false).begin_sql(),
            "BEGIN READ WRITE"
        );
    }
}
