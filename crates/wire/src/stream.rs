//! [`RowStream`]: a query's rows one at a time, as they arrive, with memory bounded by one
//! message and the socket read only as fast as the consumer asks.
//!
//! The request is the same as [`Connection::query`]'s (one write); the stream then reads the
//! reply one message per row it yields, through the same synchronous reply steps the collecting
//! path uses. Nothing is buffered but the read buffer: a row is a slice of it (no copy), and
//! once the consumer drops a row its bytes are reused. While the consumer does not poll, nothing
//! is read, so the kernel's socket buffers fill and the server waits: backpressure all the way to
//! the server.
//!
//! # Dropped midway
//! The stream borrows the connection, so nothing else can use it meanwhile. Dropped before the
//! end, it leaves the rest of the reply owed (`needs_drain()` true): the next request drains it
//! first, so no later query can read this one's rows. Draining a huge result takes as long as
//! reading it; a pool cancels the statement instead (tarn does: a stream dropped on a pooled
//! connection is cancelled on the server, then drained).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use crate::connection::Connection;
use crate::error::Error;
use crate::query::{Params, Reply, ReplyStep};
use crate::row::Row;
use crate::statement::ToStatement;

/// The rows of one statement, as a [`Stream`] (or with [`next`](RowStream::next)).
///
/// Created by [`Connection::query_stream`]. After the last row, [`rows_affected`] gives the
/// command's row count.
///
/// [`rows_affected`]: RowStream::rows_affected
#[must_use = "a stream does nothing unless polled"]
pub struct RowStream<'a> {
    conn: &'a mut Connection,
    reader: RowReader,
}

impl std::fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// The state of a row stream without the borrow of its connection, for a stream that owns
/// its connection (a pooled one): poll it with [`poll_next`](RowReader::poll_next) and the
/// connection that started it. Made by [`Connection::start_rows`].
#[must_use = "a reader does nothing unless polled"]
pub struct RowReader {
    connection_id: u64,
    /// `None` once the reply is complete.
    reply: Option<Reply>,
    /// A `CopyFail` (the statement was a COPY FROM STDIN) is waiting to be written.
    flushing: bool,
    affected: Option<u64>,
}

impl std::fmt::Debug for RowReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowReader")
            .field("done", &self.reply.is_none())
            .field("affected", &self.affected)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Runs a statement and returns its rows as a stream, read as the consumer asks for them.
    /// `statement` is SQL text (cached like [`query`](Connection::query)'s) or a
    /// [`Statement`](crate::Statement).
    ///
    /// Errors that stop the statement before it runs (a parameter that does not encode, the
    /// server refusing to parse it) are returned here; errors while rows arrive (a division by
    /// zero on row 1,000) come as the stream's last item.
    ///
    /// # Cancel safety
    /// Dropping the future or the stream leaves `needs_drain()` true; the next call drains
    /// first, so it never sees this statement's rows.
    pub async fn query_stream<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowStream<'_>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let reader = self.start_rows(statement, params).await?;
        Ok(RowStream { conn: self, reader })
    }

    /// As [`query_stream`](Connection::query_stream), returning the stream's state apart from
    /// the connection (for a stream type that owns its connection).
    ///
    /// # Cancel safety
    /// As [`query_stream`](Connection::query_stream).
    pub async fn start_rows<S>(
        &mut self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowReader, Error>
    where
        S: ToStatement + ?Sized,
    {
        let (statement, reparse) = self.pick(statement.to_statement_ref()).await?;
        let reply = self
            .start_execute(&statement, params, reparse, true)
            .await?;
        Ok(RowReader {
            connection_id: self.id,
            reply: Some(reply),
            flushing: false,
            affected: None,
        })
    }
}

impl RowStream<'_> {
    /// The next row, `None` after the last one (or after the error that ended the stream).
    ///
    /// # Cancel safety
    /// Cancel safe: progress is kept in the stream and its connection.
    pub async fn next(&mut self) -> Option<Result<Row, Error>> {
        std::future::poll_fn(|cx| self.reader.poll_next(self.conn, cx)).await
    }

    /// The command's row count (`SELECT 3`, `UPDATE 5`), once the stream has ended without an
    /// error.
    pub fn rows_affected(&self) -> Option<u64> {
        self.reader.rows_affected()
    }
}

impl Stream for RowStream<'_> {
    type Item = Result<Row, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.reader.poll_next(this.conn, cx)
    }
}

impl RowReader {
    /// The command's row count, once the stream has ended without an error.
    pub fn rows_affected(&self) -> Option<u64> {
        self.affected
    }

    /// True once the reply is complete (the stream has ended).
    pub fn is_done(&self) -> bool {
        self.reply.is_none()
    }

    /// The next row from `conn`, which must be the connection that started this reader (any
    /// other is refused with an error).
    pub fn poll_next(
        &mut self,
        conn: &mut Connection,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Row, Error>>> {
        if self.reply.is_some() && conn.id != self.connection_id {
            return Poll::Ready(Some(Err(Error::foreign_statement())));
        }
        loop {
            let Some(reply) = self.reply.as_mut() else {
                return Poll::Ready(None);
            };
            if self.flushing {
                if let Err(e) = ready!(conn.framed.poll_flush(cx)) {
                    conn.broken = true;
                    self.reply = None;
                    return Poll::Ready(Some(Err(e)));
                }
                self.flushing = false;
            }
            let step = match ready!(conn.poll_recv(cx)) {
                Ok(message) => conn.on_reply(reply, message),
                Err(e) => Err(e),
            };
            match step {
                Ok(ReplyStep::Row(row)) => return Poll::Ready(Some(Ok(row))),
                Ok(ReplyStep::More) => {}
                Ok(ReplyStep::RefuseCopyIn) => self.flushing = true,
                Ok(ReplyStep::Done) => {
                    let Some(reply) = self.reply.take() else {
                        return Poll::Ready(None);
                    };
                    return match conn.finish_reply(reply) {
                        Ok(n) => {
                            self.affected = Some(n);
                            Poll::Ready(None)
                        }
                        Err(e) => Poll::Ready(Some(Err(e))),
                    };
                }
                Err(e) => {
                    self.reply = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}
