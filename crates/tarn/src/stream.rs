//! [`RowStream`]: a statement's rows as a `Stream`, read as the caller asks for them, from a
//! connection the stream borrows ([`Connection::query_stream`](crate::Connection::query_stream),
//! a transaction's) or owns ([`Pool::query_stream`](crate::Pool::query_stream): the pooled
//! connection goes back to the pool when the stream ends or is dropped).
//!
//! Memory is bounded by one message, whatever the result size, and the socket is not read
//! faster than the consumer polls. A stream dropped before its end leaves the rest of the reply
//! unread: the connection's next operation, or the pool's reset, cancels the statement if it
//! still runs and drains what is left, so no later query ever reads its rows.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tarn_wire::{Row, RowReader};

use crate::error::Error;
use crate::pool::PooledConnection;

/// A statement's rows, one at a time. See the module docs.
#[must_use = "a stream does nothing unless polled"]
pub struct RowStream<'a> {
    source: Source<'a>,
    reader: RowReader,
}

enum Source<'a> {
    Borrowed(&'a mut tarn_wire::Connection),
    Owned(Box<PooledConnection>),
}

impl std::fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("reader", &self.reader)
            .field("owned", &matches!(self.source, Source::Owned(_)))
            .finish()
    }
}

impl<'a> RowStream<'a> {
    pub(crate) fn borrowed(conn: &'a mut tarn_wire::Connection, reader: RowReader) -> Self {
        RowStream {
            source: Source::Borrowed(conn),
            reader,
        }
    }
}

impl RowStream<'static> {
    pub(crate) fn owned(conn: PooledConnection, reader: RowReader) -> Self {
        RowStream {
            source: Source::Owned(Box::new(conn)),
            reader,
        }
    }
}

impl RowStream<'_> {
    /// The next row; `None` after the last one (or after the error that ended the stream).
    ///
    /// # Cancel safety
    /// Cancel safe: progress is kept in the stream and its connection.
    pub async fn next(&mut self) -> Option<Result<Row, Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The command's row count, once the stream has ended without an error.
    pub fn rows_affected(&self) -> Option<u64> {
        self.reader.rows_affected()
    }
}

impl Stream for RowStream<'_> {
    type Item = Result<Row, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let conn = match &mut this.source {
            Source::Borrowed(conn) => &mut **conn,
            Source::Owned(pooled) => &mut pooled.wire,
        };
        this.reader
            .poll_next(conn, cx)
            .map(|item| item.map(|r| r.map_err(Error::from)))
    }
}
