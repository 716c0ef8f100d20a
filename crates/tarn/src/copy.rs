//! COPY on a pooled connection or in a transaction: [`Connection::copy_in`] and
//! [`Connection::copy_out`] (the same on [`Transaction`] and [`OwnedTransaction`]) start the
//! statement and return the wire client's [`CopyInSink`] and [`CopyOutStream`], which the
//! binary helpers ([`BinaryCopyInWriter`], [`BinaryCopyOutStream`]) wrap for typed rows.
//!
//! ```no_run
//! # async fn demo(pool: tarn::Pool) -> Result<(), tarn::Error> {
//! let mut conn = pool.get().await?;
//! let mut sink = conn.copy_in("COPY items (id, name) FROM STDIN").await?;
//! sink.send(b"1\tone\n2\ttwo\n").await?;
//! let copied = sink.finish().await?; // without finish(), the COPY is rolled back
//! # let _ = copied;
//! let mut data = conn.copy_out("COPY items TO STDOUT (FORMAT csv)").await?;
//! while let Some(chunk) = data.next().await {
//!     let chunk = chunk?; // one row, as bytes
//!     # let _ = chunk;
//! }
//! # Ok(()) }
//! ```
//!
//! # Keeping connections clean
//! Everything a COPY leaves behind is recorded in the wire connection (see
//! `tarn_wire`'s `copy.rs`): a sink dropped unfinished owes a `CopyFail`, a stream dropped early
//! leaves its rest unread, and `needs_drain()` says so. The connection's next operation, or the
//! pool's reset when the connection goes back (`PgManager::needs_reset` sees `needs_drain()`),
//! sends the `CopyFail` (the server keeps none of the COPY's rows), or cancels a COPY out that
//! still runs, and drains the reply; if that fails within the reset timeout the connection is
//! closed. No one is ever handed a connection in the middle of a COPY.
//!
//! # Timeouts
//! `query_timeout` does not bound a COPY: how long one takes depends on the caller's data and
//! pace. The server's `statement_timeout` (tarn sets 30 s by default) bounds the whole COPY,
//! waiting for the caller's data included; raise it for long COPYs
//! (`SET statement_timeout = ...`, or in the pool's settings), or bound the calls with
//! `tokio::time::timeout` (dropping any of them is safe, as above).
//!
//! The pool's one-shot methods (`pool.execute`, `pool.query`, `pool.simple_query`) keep
//! refusing COPY: a COPY FROM STDIN is answered with `CopyFail` (SQLSTATE 57014, nothing
//! inserted) and a COPY TO STDOUT with an unsupported error, since one call cannot stream.

use tracing::Instrument;

pub use tarn_wire::{
    BinaryCopyInWriter, BinaryCopyOutStream, BinaryCopyRow, COPY_BUFFER_SIZE, CopyInSink,
    CopyOutStream,
};

use crate::connection::Connection;
use crate::error::Error;
use crate::transaction::{OwnedTransaction, Transaction};

/// The `tarn.query` span of a COPY's start, as every other statement gets.
fn copy_span(sql: &str) -> tracing::Span {
    tracing::debug_span!("tarn.query", db.system = "postgresql", db.statement = sql)
}

impl Connection {
    /// Starts a `COPY ... FROM STDIN` and returns the sink its data goes to; see
    /// [`tarn_wire::Connection::copy_in`]. [`finish`](CopyInSink::finish) returns the row
    /// count; a sink dropped without it rolls the COPY back (before the connection's next
    /// operation or its return to the pool). The sink's own errors are `tarn_wire::Error`s,
    /// which `?` turns into [`Error`].
    ///
    /// Errors that stop the statement before any data (a missing table: 42P01, a read-only
    /// server: 25006) are returned here.
    ///
    /// # Cancel safety
    /// Dropping the future (or the sink) rolls back a COPY the server has started; the
    /// connection is cleaned before anyone uses it again.
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyInSink<'_>, Error> {
        self.ready().await?;
        match self.wire.copy_in(sql).instrument(copy_span(sql)).await {
            Ok(sink) => Ok(sink),
            Err(e) => {
                if e.code().is_some_and(|c| c.as_str() == "25006") {
                    self.refused_write = true;
                }
                Err(e.into())
            }
        }
    }

    /// Starts a `COPY ... TO STDOUT` and returns its data as a stream of `Bytes` chunks (one
    /// per row), read as the caller polls; see [`tarn_wire::Connection::copy_out`]. The
    /// stream's own errors are `tarn_wire::Error`s, which `?` turns into [`Error`].
    ///
    /// # Cancel safety
    /// A stream (or future) dropped before the end leaves the rest unread: the connection's
    /// next operation, or the pool's reset, cancels the COPY if it still runs and drains it.
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOutStream<'_>, Error> {
        self.ready().await?;
        Ok(self.wire.copy_out(sql).instrument(copy_span(sql)).await?)
    }
}

/// COPY inside a transaction, on the transaction's connection.
macro_rules! transaction_copy {
    ($ty:ty) => {
        impl $ty {
            /// As [`Connection::copy_in`], inside the transaction: the rows are kept only if
            /// the transaction commits. A COPY that fails (or is dropped) fails the
            /// transaction, as any error does.
            ///
            /// # Cancel safety
            /// As [`Connection::copy_in`].
            pub async fn copy_in(&mut self, sql: &str) -> Result<CopyInSink<'_>, Error> {
                self.connection().copy_in(sql).await
            }

            /// As [`Connection::copy_out`], inside the transaction.
            ///
            /// # Cancel safety
            /// As [`Connection::copy_out`].
            pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOutStream<'_>, Error> {
                self.connection().copy_out(sql).await
            }
        }
    };
}

transaction_copy!(Transaction<'_>);
transaction_copy!(OwnedTransaction);

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code, reason = "compile-time check only; never run")]
    async fn futures_are_send(conn: &mut Connection, tx: &mut OwnedTransaction) {
        assert_send(&conn.copy_in("COPY t FROM STDIN"));
        assert_send(&conn.copy_out("COPY t TO STDOUT"));
        assert_send(&tx.copy_in("COPY t FROM STDIN"));
        assert_send(&tx.copy_out("COPY t TO STDOUT"));
    }
}
