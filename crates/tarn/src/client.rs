//! [`GenericClient`]: one trait over [`Pool`] (one-shot statements), [`PooledConnection`],
//! [`Connection`], [`Transaction`] and [`OwnedTransaction`], so repository code is written
//! once and called with whichever the caller has; and [`retry_serializable`] for transactions
//! that may fail with a serialization failure.
//!
//! ```no_run
//! use tarn::{GenericClient, Pool};
//!
//! async fn campaign_name(db: &mut impl GenericClient, id: i32) -> Result<Option<String>, tarn::Error> {
//!     let row = db.query_opt("SELECT name FROM campaigns WHERE id = $1", &[&id]).await?;
//!     Ok(row.map(|r| r.get(0)))
//! }
//!
//! # async fn demo(pool: Pool) -> Result<(), tarn::Error> {
//! let mut one_shot = pool.clone();
//! campaign_name(&mut one_shot, 1).await?;            // a pool: any free connection
//! let mut conn = pool.get().await?;
//! campaign_name(&mut conn, 1).await?;                // a connection
//! let mut tx = conn.transaction().await?;
//! campaign_name(&mut tx, 1).await?;                  // inside a transaction
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use tarn_wire::{Params, Row, Statement, ToStatement};

use crate::connection::Connection;
use crate::error::Error;
use crate::pool::{Pool, PooledConnection};
use crate::stream::RowStream;
use crate::transaction::{OwnedTransaction, Transaction};

/// What pools, connections and transactions have in common. Every method's future is `Send`,
/// so generic code can run in spawned tasks.
///
/// For a [`Pool`], each call runs on a connection of its own (statements of one call are not
/// in one transaction); [`transaction`](GenericClient::transaction) on a pool is
/// [`Pool::begin`].
pub trait GenericClient: Send {
    /// The transaction [`transaction`](GenericClient::transaction) starts: a savepoint inside
    /// a transaction, a transaction on a connection, an owned transaction on a pool.
    type Transaction<'t>: GenericClient
    where
        Self: 't;

    /// Runs a statement and returns its rows.
    fn query<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send
    where
        S: ToStatement + Sync + ?Sized;

    /// Runs a statement that must return exactly one row.
    fn query_one<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Row, Error>> + Send
    where
        S: ToStatement + Sync + ?Sized;

    /// Runs a statement that must return at most one row.
    fn query_opt<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Option<Row>, Error>> + Send
    where
        S: ToStatement + Sync + ?Sized;

    /// Runs a statement and returns how many rows it affected.
    fn execute<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<u64, Error>> + Send
    where
        S: ToStatement + Sync + ?Sized;

    /// Runs a statement and returns its rows as a stream.
    fn query_stream<'s, S>(
        &'s mut self,
        statement: &S,
        params: Params<'_>,
    ) -> impl Future<Output = Result<RowStream<'s>, Error>> + Send
    where
        S: ToStatement + Sync + ?Sized;

    /// Prepares a statement (on a pool: on one of its connections, so it is only good for
    /// that connection; prefer SQL text with a pool, which every connection caches).
    fn prepare(&mut self, sql: &str) -> impl Future<Output = Result<Statement, Error>> + Send;

    /// Starts a transaction (or a savepoint inside one).
    fn transaction(&mut self) -> impl Future<Output = Result<Self::Transaction<'_>, Error>> + Send;
}

/// Forwards the statement methods to `$target`'s inherent methods of the same name (a
/// `PooledConnection` reaches `Connection`'s by deref coercion).
macro_rules! forward {
    ($target:ty) => {
        fn query<S>(
            &mut self,
            statement: &S,
            params: Params<'_>,
        ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send
        where
            S: ToStatement + Sync + ?Sized,
        {
            <$target>::query(self, statement, params)
        }

        fn query_one<S>(
            &mut self,
            statement: &S,
            params: Params<'_>,
        ) -> impl Future<Output = Result<Row, Error>> + Send
        where
            S: ToStatement + Sync + ?Sized,
        {
            <$target>::query_one(self, statement, params)
        }

        fn query_opt<S>(
            &mut self,
            statement: &S,
            params: Params<'_>,
        ) -> impl Future<Output = Result<Option<Row>, Error>> + Send
        where
            S: ToStatement + Sync + ?Sized,
        {
            <$target>::query_opt(self, statement, params)
        }

        fn execute<S>(
            &mut self,
            statement: &S,
            params: Params<'_>,
        ) -> impl Future<Output = Result<u64, Error>> + Send
        where
            S: ToStatement + Sync + ?Sized,
        {
            <$target>::execute(self, statement, params)
        }
    };
}

/// `forward!` plus the methods that borrow a connection: streams, `prepare`, `transaction`.
macro_rules! forward_connection {
    ($target:ty) => {
        forward!($target);

        fn query_stream<'s, S>(
            &'s mut self,
            statement: &S,
            params: Params<'_>,
        ) -> impl Future<Output = Result<RowStream<'s>, Error>> + Send
        where
            S: ToStatement + Sync + ?Sized,
        {
            <$target>::query_stream(self, statement, params)
        }

        fn prepare(&mut self, sql: &str) -> impl Future<Output = Result<Statement, Error>> + Send {
            <$target>::prepare(self, sql)
        }

        fn transaction(&mut self) -> impl Future<Output = Result<Transaction<'_>, Error>> + Send {
            <$target>::transaction(self)
        }
    };
}

impl GenericClient for Connection {
    type Transaction<'t> = Transaction<'t>;
    forward_connection!(Connection);
}

impl GenericClient for PooledConnection {
    type Transaction<'t> = Transaction<'t>;
    forward_connection!(Connection);
}

impl GenericClient for Transaction<'_> {
    type Transaction<'t>
        = Transaction<'t>
    where
        Self: 't;
    forward_connection!(Transaction<'_>);
}

impl GenericClient for OwnedTransaction {
    type Transaction<'t> = Transaction<'t>;
    forward_connection!(OwnedTransaction);
}

impl GenericClient for Pool {
    type Transaction<'t> = OwnedTransaction;

    forward!(Pool);

    async fn query_stream<'s, S>(
        &'s mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowStream<'s>, Error>
    where
        S: ToStatement + Sync + ?Sized,
    {
        // A stream that owns its connection lives as long as anyone wants.
        let stream: RowStream<'s> = Pool::query_stream(self, statement, params).await?;
        Ok(stream)
    }

    async fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.get().await?.prepare(sql).await
    }

    fn transaction(&mut self) -> impl Future<Output = Result<OwnedTransaction, Error>> + Send {
        Pool::begin(self)
    }
}

/// Runs `attempt` (which should start, run and commit its own transaction, typically
/// `SERIALIZABLE`) again while it fails with a serialization failure or a deadlock
/// ([`Error::is_serialization_failure`]), up to `max_attempts` times in all, with a short
/// random backoff between attempts (so the transactions that collided do not collide again).
/// Any other error, or the last attempt's, is returned as it is.
///
/// ```no_run
/// # async fn demo(pool: tarn::Pool) -> Result<(), tarn::Error> {
/// use tarn::{IsolationLevel, TransactionOptions};
/// let serializable = TransactionOptions::new().isolation(IsolationLevel::Serializable);
/// tarn::retry_serializable(5, || async {
///     let mut tx = pool.begin_with(&serializable).await?;
///     tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1", &[]).await?;
///     tx.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2", &[]).await?;
///     tx.commit().await
/// })
/// .await?;
/// # Ok(()) }
/// ```
///
/// # Cancel safety
/// Dropping the future drops the attempt in flight, whose transaction rolls back.
pub async fn retry_serializable<T, F, Fut>(max_attempts: u32, mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_serialization_failure() && tries < max_attempts.max(1) => {
                // Full jitter over 1, 2, 4 ... ms, capped at 100 ms.
                let cap = Duration::from_millis((1u64 << tries.min(7)).min(100));
                let pause = cap.mul_f64(fastrand::f64());
                tracing::debug!(tries, ?pause, "tarn: retrying a serialization failure");
                tokio::time::sleep(pause).await;
                tries += 1;
            }
            other => return other,
        }
    }
}
