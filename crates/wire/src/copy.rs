//! COPY: [`Connection::copy_in`] streams data to a `COPY ... FROM STDIN` through a
//! [`CopyInSink`]; [`Connection::copy_out`] streams a `COPY ... TO STDOUT` as a
//! [`CopyOutStream`] of `Bytes` chunks. Text, CSV and binary formats alike: the SQL says which,
//! and the data passes through untouched (see `binary_copy.rs` for typed rows in the binary
//! format).
//!
//! Message flows (simple protocol, as for any COPY; `──►` client to server):
//! ```text
//! copy in:   Query("COPY t FROM STDIN")                       ──►
//!            ◄── CopyInResponse
//!            CopyData* (batched, one write per COPY_BUFFER_SIZE) ──►   (errors read meanwhile)
//!            CopyDone                                           ──►   finish()
//!            ◄── CommandComplete("COPY n") ReadyForQuery
//!   dropped: CopyFail ──► (first thing in the next drain)   ◄── ErrorResponse(57014) ReadyForQuery
//!   bad row: ◄── ErrorResponse(22P02) ReadyForQuery  (the server drops CopyData that follows)
//!
//! copy out:  Query("COPY t TO STDOUT")                        ──►
//!            ◄── CopyOutResponse CopyData* (one per row) CopyDone CommandComplete ReadyForQuery
//! ```
//!
//! # Dropped midway
//! Both types borrow the connection, and everything that links the COPY to the next request
//! lives in the [`Connection`], never in them (the architecture invariant): the owed
//! `ReadyForQuery` (`pending_ready`), unsent bytes in the write buffer, and for a COPY FROM
//! STDIN the flag `copy_fail_owed`, set when the server starts the copy and cleared once
//! `CopyDone` or `CopyFail` is queued. So dropping a sink, a stream or any of their futures at
//! any point leaves `needs_drain()` true, and [`drain`](Connection::drain) (which every request
//! runs first) finishes the write, queues the owed `CopyFail` (the server rolls the COPY back:
//! no row of it is kept) and reads everything up to `ReadyForQuery`. A `Drop` never does I/O.
//!
//! # Buffering and backpressure
//! [`CopyInSink::send`] copies data straight into the connection's write buffer as `CopyData`
//! messages (small writes share one message; a message's length is patched on every append,
//! so the buffer holds whole messages at every await) and writes only once
//! [`COPY_BUFFER_SIZE`] bytes are buffered: one system call per 64 KiB, whatever the row size.
//! While a write waits for the socket, the sink also reads what the server sends (a notice
//! per row from a trigger, or the error that ended the COPY), so neither side can wait on the
//! other, and an error stops the copy at the next write instead of after all the data.
//! [`CopyOutStream`] reads one message per chunk it yields and nothing while the consumer does
//! not poll: memory is bounded by one message, and the server waits when the socket is full.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes};
use futures_core::Stream;
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::connection::Connection;
use crate::error::{DbError, Error};

/// How many bytes a [`CopyInSink`] buffers before it writes them to the socket; also the
/// largest `CopyData` message it sends.
pub const COPY_BUFFER_SIZE: usize = 64 * 1024;

/// The `CopyFail` message a drain sends for a COPY FROM STDIN that was abandoned.
pub(crate) const ABANDONED: &str = "COPY FROM STDIN abandoned by the client";

/// Reads the row count from a `CommandComplete` tag of a COPY (`COPY 5`).
fn copy_rows(tag: &str) -> Option<u64> {
    tag.strip_prefix("COPY ").and_then(|n| n.parse().ok())
}

/// The error for a `copy_in`/`copy_out` whose statement was not the COPY asked for.
fn not_a_copy(method: &str, wanted: &str) -> Error {
    Error::copy_out_unsupported().with_message(format!(
        "{method}: the statement did not start a {wanted}; it ran, and its output was discarded"
    ))
}

impl Connection {
    /// Starts a `COPY ... FROM STDIN` and returns the sink its data goes to. `sql` is the
    /// whole statement (`COPY t (a, b) FROM STDIN (FORMAT csv)`): the format is the one it
    /// names, and the data must be in it. Sent with the simple protocol, so `sql` takes no
    /// parameters.
    ///
    /// Errors that stop the statement before any data (a missing table, a read-only
    /// transaction) are returned here, with their SQLSTATE. A statement that is not a COPY
    /// FROM STDIN is an [`is_unsupported`](Error::is_unsupported) error after it ran.
    ///
    /// # Cancel safety
    /// Dropping the future leaves `needs_drain()` true; the next request drains first, and a
    /// COPY the server has started meanwhile is ended with `CopyFail` (nothing is inserted).
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyInSink<'_>, Error> {
        self.start_copy(sql).await?;
        let mut error = None;
        loop {
            match self.recv().await? {
                Message::CopyInResponse(body) => {
                    // Set before any await: from here on a dropped sink owes a CopyFail.
                    self.copy_fail_owed = true;
                    return Ok(CopyInSink {
                        conn: self,
                        open: None,
                        binary: body.format() == 1,
                        error: None,
                        rows: None,
                    });
                }
                Message::ErrorResponse(body) => {
                    let e = self.db_error(&body);
                    if self.broken {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                Message::ReadyForQuery(_) if self.pending_ready == 0 => break,
                Message::ReadyForQuery(_) => {}
                // Not a COPY FROM STDIN: read to the end and refuse.
                Message::CopyOutResponse(_)
                | Message::CopyData(_)
                | Message::CopyDone
                | Message::RowDescription(_)
                | Message::DataRow(_)
                | Message::CommandComplete(_)
                | Message::EmptyQueryResponse => {}
                _ => return Err(self.protocol_error("unexpected message in a COPY reply")),
            }
        }
        Err(error.unwrap_or_else(|| not_a_copy("copy_in", "COPY ... FROM STDIN")))
    }

    /// Starts a `COPY ... TO STDOUT` and returns its data as a stream of chunks, one per
    /// `CopyData` message (one row each, from PostgreSQL), read as the consumer asks for them.
    /// `sql` is the whole statement (`COPY (SELECT ...) TO STDOUT (FORMAT binary)`): the format
    /// is the one it names. Sent with the simple protocol, so `sql` takes no parameters.
    ///
    /// Errors that stop the statement before any data are returned here; errors while data
    /// arrives come as the stream's last item, with their SQLSTATE. A statement that is not a
    /// COPY TO STDOUT is an [`is_unsupported`](Error::is_unsupported) error after it ran; a
    /// COPY FROM STDIN is refused with `CopyFail` (SQLSTATE 57014).
    ///
    /// # Cancel safety
    /// Dropping the future or the stream leaves `needs_drain()` true; the next request drains
    /// first, so it never sees this COPY's data. Draining reads the rest of the data; a pool
    /// cancels the statement instead (tarn does).
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOutStream<'_>, Error> {
        self.start_copy(sql).await?;
        let mut error = None;
        loop {
            match self.recv().await? {
                Message::CopyOutResponse(body) => {
                    return Ok(CopyOutStream {
                        conn: self,
                        binary: body.format() == 1,
                        flushing: false,
                        done: false,
                        rows: None,
                        error: None,
                    });
                }
                Message::CopyInResponse(_) => self.refuse_copy_in().await?,
                Message::ErrorResponse(body) => {
                    let e = self.db_error(&body);
                    if self.broken {
                        return Err(e);
                    }
                    error.get_or_insert(e);
                }
                Message::ReadyForQuery(_) if self.pending_ready == 0 => break,
                Message::ReadyForQuery(_) => {}
                Message::RowDescription(_)
                | Message::DataRow(_)
                | Message::CommandComplete(_)
                | Message::EmptyQueryResponse => {}
                _ => return Err(self.protocol_error("unexpected message in a COPY reply")),
            }
        }
        Err(error.unwrap_or_else(|| not_a_copy("copy_out", "COPY ... TO STDOUT")))
    }

    /// Drains what an earlier request left, then sends `sql` as a simple `Query`.
    async fn start_copy(&mut self, sql: &str) -> Result<(), Error> {
        self.begin().await?;
        // Statements the cache evicted stay queued for the next extended-protocol request.
        if let Err(e) = frontend::query(sql, &mut self.framed.write_buf) {
            self.framed.write_buf.clear();
            return Err(Error::encode(e));
        }
        self.last_request_simple = true;
        self.send(1).await
    }

    /// Queues `CopyFail(reason)`, ending the COPY FROM STDIN in progress; the server answers
    /// with an error (57014) and `ReadyForQuery`, and keeps none of the COPY's rows.
    pub(crate) fn queue_copy_abort(&mut self, reason: &str) -> Result<(), Error> {
        let start = self.framed.write_buf.len();
        if let Err(e) = frontend::copy_fail(reason, &mut self.framed.write_buf) {
            self.framed.write_buf.truncate(start);
            return Err(Error::encode(e));
        }
        self.copy_fail_owed = false;
        Ok(())
    }
}

/// The sink of a `COPY ... FROM STDIN`, made by [`Connection::copy_in`].
///
/// [`send`](CopyInSink::send) data in the format the statement names (any split: rows need
/// not align with calls), then [`finish`](CopyInSink::finish), which ends the COPY and
/// returns its row count. Dropped without `finish` (an early return, a `?`, a panic, a
/// timeout), the COPY is rolled back: the connection records that it owes a `CopyFail` and
/// sends it first thing in its next request or drain, so no row of it is kept and the
/// connection is clean again.
///
/// Why async methods and not `AsyncWrite`: with `AsyncWrite` the end of the data is
/// `shutdown`, which is easy to forget and cannot return the row count, and the usual
/// helpers (`tokio::io::copy`) would then roll back silently. Here the one way to keep the
/// rows is a call that says so and returns how many; every other way out rolls back.
///
/// Memory: at most [`COPY_BUFFER_SIZE`] bytes plus the data of the last `send` are buffered.
#[derive(Debug)]
#[must_use = "a COPY is rolled back unless finish() is called"]
pub struct CopyInSink<'a> {
    conn: &'a mut Connection,
    /// Where the `CopyData` message being filled starts in the write buffer; `None` when the
    /// next data starts a new message (after a flush moved the buffer).
    open: Option<usize>,
    binary: bool,
    /// The server's error once it ended the COPY (a bad row, say).
    error: Option<DbError>,
    /// The row count from `CommandComplete`.
    rows: Option<u64>,
}

impl CopyInSink<'_> {
    /// True if the statement asked for the binary format (`FORMAT binary`).
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// Adds `data` to the COPY. It is copied into the connection's write buffer, which is
    /// written to the socket once it holds [`COPY_BUFFER_SIZE`] bytes, so many small sends
    /// cost one system call; the call waits only then (backpressure from the server).
    ///
    /// An error the server reported meanwhile (a bad row: 22P02, a constraint: 23505, ...) is
    /// returned here, once the connection has read it to the end; the COPY is then over and
    /// rolled back, and every later call returns the same error.
    ///
    /// # Cancel safety
    /// `data` is taken whole or not at all: if the future is dropped before it completes,
    /// none of `data` was buffered (data of earlier calls stays buffered). Dropping the sink
    /// rolls the COPY back.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.reserve().await?;
        self.append(data);
        Ok(())
    }

    /// Writes what is buffered now, without waiting for [`COPY_BUFFER_SIZE`] (for a slow
    /// producer that wants the server to see rows as they come).
    ///
    /// # Cancel safety
    /// Cancel safe: the write buffer keeps what is not written yet.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.check()?;
        self.open = None;
        std::future::poll_fn(|cx| self.poll_drive(cx, false)).await?;
        self.failed().await
    }

    /// Ends the COPY (`CopyDone`) and returns the number of rows it copied, or the server's
    /// error with its SQLSTATE (a bad row in the last batch, for example).
    ///
    /// # Cancel safety
    /// Once polled, `CopyDone` is queued: dropping the future then leaves the connection to
    /// drain, and the COPY may or may not have been committed (as with a dropped `COMMIT`).
    pub async fn finish(mut self) -> Result<u64, Error> {
        self.check()?;
        if self.error.is_none() && self.conn.copy_fail_owed {
            frontend::copy_done(&mut self.conn.framed.write_buf);
            self.conn.copy_fail_owed = false;
            self.open = None;
        }
        std::future::poll_fn(|cx| self.poll_drive(cx, true)).await?;
        match self.error.take() {
            Some(e) => Err(Error::db(e)),
            None => Ok(self.rows.unwrap_or(0)),
        }
    }

    /// Ends the COPY with `CopyFail(reason)`: the server rolls it back. `Ok` once the
    /// connection is idle again (the server's 57014 error that confirms the rollback is not
    /// returned). Dropping the sink does the same on the connection's next use.
    ///
    /// # Cancel safety
    /// Once polled, `CopyFail` is queued; dropping the future leaves the connection to drain.
    pub async fn abort(mut self, reason: &str) -> Result<(), Error> {
        self.check()?;
        if self.conn.copy_fail_owed {
            self.conn.queue_copy_abort(reason)?;
            self.open = None;
        }
        std::future::poll_fn(|cx| self.poll_drive(cx, true)).await
    }

    /// Refuses calls on a broken connection.
    fn check(&self) -> Result<(), Error> {
        if self.conn.broken {
            return Err(Error::closed("the connection is broken"));
        }
        Ok(())
    }

    /// Makes room before new data: writes the buffer out if it is full, and returns the
    /// server's error if the COPY has failed.
    pub(crate) async fn reserve(&mut self) -> Result<(), Error> {
        self.check()?;
        if self.error.is_none() && self.conn.framed.write_buf.len() >= COPY_BUFFER_SIZE {
            // The buffer is about to move as it is written: the next data opens a new message.
            self.open = None;
            std::future::poll_fn(|cx| self.poll_drive(cx, false)).await?;
        }
        self.failed().await
    }

    /// If the server ended the COPY with an error: reads its reply to the end and returns
    /// the error (a copy of it, so every later call can return it too).
    async fn failed(&mut self) -> Result<(), Error> {
        if self.error.is_none() {
            return Ok(());
        }
        std::future::poll_fn(|cx| self.poll_drive(cx, true)).await?;
        match &self.error {
            Some(e) => Err(Error::db(e.clone())),
            None => Ok(()),
        }
    }

    /// Appends `data` as `CopyData`, filling the open message up to [`COPY_BUFFER_SIZE`]
    /// bytes of body and opening new ones as needed. Synchronous: the buffer holds whole,
    /// correctly sized messages before and after.
    fn append(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let buf = &mut self.conn.framed.write_buf;
            let start = match self.open {
                Some(start) if buf.len().saturating_sub(start + 5) < COPY_BUFFER_SIZE => start,
                _ => {
                    let start = buf.len();
                    buf.put_u8(b'd');
                    buf.put_i32(4);
                    self.open = Some(start);
                    start
                }
            };
            let room = COPY_BUFFER_SIZE - buf.len().saturating_sub(start + 5);
            let (now, rest) = data.split_at(room.min(data.len()));
            buf.extend_from_slice(now);
            data = rest;
            patch_length(buf, start);
        }
    }

    /// Encodes into the open `CopyData` message with `encode` (a binary row, say). On error
    /// the buffer is put back as it was, so a row is sent whole or not at all.
    pub(crate) fn encode_with<F>(&mut self, encode: F) -> Result<(), Error>
    where
        F: FnOnce(&mut bytes::BytesMut) -> Result<(), Error>,
    {
        let buf = &mut self.conn.framed.write_buf;
        let before = buf.len();
        let start = match self.open {
            Some(start) if before.saturating_sub(start + 5) < COPY_BUFFER_SIZE => start,
            _ => {
                buf.put_u8(b'd');
                buf.put_i32(4);
                before
            }
        };
        let result = encode(buf).and_then(|()| {
            if buf.len() - start - 1 > i32::MAX as usize {
                return Err(Error::encode(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a COPY row larger than 2 GiB",
                )));
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                patch_length(buf, start);
                self.open = Some(start);
                Ok(())
            }
            Err(e) => {
                buf.truncate(before);
                if start == before {
                    self.open = None;
                }
                Err(e)
            }
        }
    }

    /// Writes the buffer while reading what the server sends: notices and parameter changes
    /// are handled as always, the server's error is kept in `self.error`, and the COPY's
    /// `CommandComplete` gives the row count. With `settle`, also reads until the server owes
    /// nothing more (`ReadyForQuery`).
    ///
    /// Reading while writing keeps both sides moving: a server that sends much during the
    /// COPY (a notice per row) would otherwise stop reading once its own send buffer is full,
    /// while this side waited for it to read.
    fn poll_drive(&mut self, cx: &mut Context<'_>, settle: bool) -> Poll<Result<(), Error>> {
        loop {
            if self.conn.pending_ready > 0 {
                match self.conn.poll_recv(cx) {
                    Poll::Ready(Ok(message)) => {
                        self.on_message(message)?;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            return match self.conn.framed.poll_flush(cx) {
                Poll::Ready(Ok(())) if settle && self.conn.pending_ready > 0 => {
                    // The read above registered for wake-up; the write is done.
                    if self.conn.copy_fail_owed && self.error.is_none() {
                        // Unreachable through the public methods (settling follows CopyDone
                        // or CopyFail, or an error): waiting would never end.
                        return Poll::Ready(Err(self
                            .conn
                            .protocol_error("waiting for the end of a COPY that was not ended")));
                    }
                    Poll::Pending
                }
                Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => {
                    self.conn.broken = true;
                    Poll::Ready(Err(e))
                }
                Poll::Pending => Poll::Pending,
            };
        }
    }

    /// Takes one message the server sent during or after the COPY.
    fn on_message(&mut self, message: Message) -> Result<(), Error> {
        match message {
            Message::ErrorResponse(body) => {
                let e = self.conn.db_error(&body);
                if self.conn.broken {
                    return Err(e);
                }
                // The server has ended the COPY and drops whatever CopyData still comes.
                self.conn.copy_fail_owed = false;
                if self.error.is_none() {
                    self.error = e.as_db_error().cloned();
                }
            }
            Message::CommandComplete(body) => {
                let Ok(tag) = body.tag() else {
                    return Err(self.conn.protocol_error("CommandComplete tag is not UTF-8"));
                };
                if self.rows.is_none() {
                    self.rows = copy_rows(tag);
                }
            }
            Message::ReadyForQuery(_) => {}
            // Later statements of a multi-statement query string: their output is discarded,
            // and a second COPY FROM STDIN is refused.
            Message::CopyInResponse(_) => self.conn.queue_copy_fail()?,
            Message::CopyOutResponse(_)
            | Message::CopyData(_)
            | Message::CopyDone
            | Message::RowDescription(_)
            | Message::DataRow(_)
            | Message::EmptyQueryResponse => {}
            _ => {
                return Err(self
                    .conn
                    .protocol_error("unexpected message during COPY FROM STDIN"));
            }
        }
        Ok(())
    }
}

/// Writes the length of the message that starts at `start` (its type byte) into its header.
fn patch_length(buf: &mut bytes::BytesMut, start: usize) {
    // Callers bound a message far below i32::MAX; saturating keeps this panic-free anyway.
    let len = i32::try_from(buf.len().saturating_sub(start + 1)).unwrap_or(i32::MAX);
    if let Some(field) = buf.get_mut(start + 1..start + 5) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}

/// The data of a `COPY ... TO STDOUT`, made by [`Connection::copy_out`]: a [`Stream`] of
/// `Bytes` chunks (also [`next`](CopyOutStream::next)), one per `CopyData` message, which
/// PostgreSQL sends per row. Each chunk is a slice of the read buffer (no copy).
///
/// Memory is bounded by one message, and the socket is read only as the consumer polls. An
/// error while the data arrives (57014 after a cancel, 22012 in a `COPY (SELECT ...)`) is the
/// last item; the connection is idle after it. Dropped before its end, the stream leaves the
/// rest of the reply to the connection's next drain.
#[derive(Debug)]
#[must_use = "a stream does nothing unless polled"]
pub struct CopyOutStream<'a> {
    conn: &'a mut Connection,
    binary: bool,
    /// A `CopyFail` for a later COPY FROM STDIN in the same query string waits to be written.
    flushing: bool,
    done: bool,
    rows: Option<u64>,
    error: Option<Error>,
}

impl CopyOutStream<'_> {
    /// True if the statement asked for the binary format (`FORMAT binary`).
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The next chunk, `None` after the last one (or after the error that ended the stream).
    ///
    /// # Cancel safety
    /// Cancel safe: progress is kept in the stream and its connection.
    pub async fn next(&mut self) -> Option<Result<Bytes, Error>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// The number of rows the COPY sent, once the stream has ended without an error.
    pub fn rows(&self) -> Option<u64> {
        if self.done { self.rows } else { None }
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            if self.flushing {
                if let Err(e) = ready!(self.conn.framed.poll_flush(cx)) {
                    self.conn.broken = true;
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                self.flushing = false;
            }
            let message = match ready!(self.conn.poll_recv(cx)) {
                Ok(message) => message,
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            };
            match message {
                Message::CopyData(body) => {
                    if self.error.is_none() {
                        return Poll::Ready(Some(Ok(body.into_bytes())));
                    }
                }
                Message::CopyDone
                | Message::CopyOutResponse(_)
                | Message::RowDescription(_)
                | Message::DataRow(_)
                | Message::EmptyQueryResponse => {}
                Message::CommandComplete(body) => {
                    let Ok(tag) = body.tag() else {
                        self.done = true;
                        let e = self.conn.protocol_error("CommandComplete tag is not UTF-8");
                        return Poll::Ready(Some(Err(e)));
                    };
                    if self.rows.is_none() {
                        self.rows = copy_rows(tag);
                    }
                }
                Message::ErrorResponse(body) => {
                    let e = self.conn.db_error(&body);
                    if self.conn.broken {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    self.error.get_or_insert(e);
                }
                Message::CopyInResponse(_) => {
                    if let Err(e) = self.conn.queue_copy_fail() {
                        self.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    self.flushing = true;
                }
                Message::ReadyForQuery(_) if self.conn.pending_ready == 0 => {
                    self.done = true;
                    return Poll::Ready(self.error.take().map(Err));
                }
                Message::ReadyForQuery(_) => {}
                _ => {
                    self.done = true;
                    let e = self
                        .conn
                        .protocol_error("unexpected message in COPY TO STDOUT");
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl Stream for CopyOutStream<'_> {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tags() {
        assert_eq!(copy_rows("COPY 5"), Some(5));
        assert_eq!(copy_rows("COPY 0"), Some(0));
        assert_eq!(copy_rows("SELECT 5"), None);
        assert_eq!(copy_rows("COPY x"), None);
    }

    #[test]
    fn lengths_are_patched_in_place() {
        let mut buf = bytes::BytesMut::new();
        buf.put_u8(b'Q');
        buf.put_u8(b'd');
        buf.put_i32(4);
        buf.extend_from_slice(b"abc");
        patch_length(&mut buf, 1);
        assert_eq!(&buf[..], b"Qd\0\0\0\x07abc");
        // A start past the end changes nothing and does not panic.
        patch_length(&mut buf, 100);
    }

    fn assert_send<T: Send>(_: &T) {}

    #[allow(dead_code, reason = "compile-time check only; never run")]
    async fn futures_are_send(conn: &mut Connection) {
        assert_send(&conn.copy_in("COPY t FROM STDIN"));
        assert_send(&conn.copy_out("COPY t TO STDOUT"));
        let mut sink = conn.copy_in("COPY t FROM STDIN").await.unwrap();
        assert_send(&sink.send(b"1\n"));
        assert_send(&sink.flush());
        assert_send(&sink.finish());
        let mut stream = conn.copy_out("COPY t TO STDOUT").await.unwrap();
        assert_send(&stream);
        assert_send(&stream.next());
    }
}
