//! [`Connection`]: one socket, driven by the caller's task.
//!
//! # Implementation details
//! There is no background task and no channel. Every public method takes `&mut self`, encodes
//! its whole request into the reused write buffer, writes it, and reads the reply until the
//! `ReadyForQuery` that ends it, all inside the caller's future.
//!
//! Keeping the stream in sync across dropped futures rests on two facts:
//! * `pending_ready` counts the `ReadyForQuery` messages the server still owes. It goes up by
//!   one for each `Sync`/`Query` placed in the write buffer (before the first byte is written)
//!   and down by one for each `ReadyForQuery` read.
//! * the write buffer only loses bytes once they are written, and the read buffer keeps
//!   partial input.
//!
//! So if a query future is dropped at any await point, the connection is left with unwritten
//! bytes and/or owed `ReadyForQuery`s: [`Connection::needs_drain`] is true, and
//! [`Connection::drain`] finishes the write, then reads and discards until nothing is owed.
//! Every query method drains first on its own, so a later query can never read an earlier
//! query's results. An I/O error, a protocol violation or a `FATAL` error marks the connection
//! broken instead; a broken connection refuses every request and should be dropped.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use postgres_protocol::message::backend::{ErrorResponseBody, Message, NoticeResponseBody};
use postgres_protocol::message::frontend;

use crate::cancel::{CancelTarget, CancelToken};
use crate::config::NoticeCallback;
use crate::error::{DbError, Error};
use crate::io::Framed;
use crate::statement::StatementCache;

/// The most distinct `ParameterStatus` names kept.
const MAX_PARAMETERS: usize = 256;

/// The most notifications buffered before the oldest are dropped (and counted): a connection
/// that `LISTEN`s must be read by someone, and one that nobody reads must not grow without
/// bound.
pub const MAX_NOTIFICATIONS: usize = 65_536;

/// A notification sent with `NOTIFY channel, 'payload'` (or `pg_notify`) to a channel this
/// connection `LISTEN`s on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    process_id: i32,
    channel: String,
    payload: String,
}

impl Notification {
    /// The process id of the backend that sent it.
    pub fn process_id(&self) -> i32 {
        self.process_id
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The payload (empty if none was given).
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// The transaction state reported by the last `ReadyForQuery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// Not in a transaction block (`I`).
    Idle,
    /// In a transaction block (`T`).
    InTransaction,
    /// In a failed transaction block: queries are refused until `ROLLBACK` (`E`).
    Failed,
}

impl TransactionStatus {
    fn from_byte(byte: u8) -> Option<TransactionStatus> {
        match byte {
            b'I' => Some(TransactionStatus::Idle),
            b'T' => Some(TransactionStatus::InTransaction),
            b'E' => Some(TransactionStatus::Failed),
            _ => None,
        }
    }
}

/// A connection to a PostgreSQL server.
///
/// Created by [`Connection::connect`]. Not `Clone`; `Send` so that it can move between tasks
/// (a pool hands it out), and every method takes `&mut self`.
pub struct Connection {
    pub(crate) framed: Framed,
    /// Identifies this connection in the statements it prepares.
    pub(crate) id: u64,
    pub(crate) parameters: HashMap<String, String>,
    pub(crate) process_id: i32,
    pub(crate) secret_key: i32,
    pub(crate) transaction_status: TransactionStatus,
    /// `ReadyForQuery` messages the server still owes us.
    pub(crate) pending_ready: u32,
    /// True if the last request used the simple protocol; decides how a `COPY FROM STDIN`
    /// is refused.
    pub(crate) last_request_simple: bool,
    /// A `COPY FROM STDIN` is in progress and neither `CopyDone` nor `CopyFail` has been
    /// queued: if its sink was dropped, [`drain`](Connection::drain) sends `CopyFail` first, so
    /// the server rolls the COPY back (a `Drop` cannot do I/O; see `copy.rs`).
    pub(crate) copy_fail_owed: bool,
    pub(crate) broken: bool,
    pub(crate) cache: StatementCache,
    /// Types looked up in the catalogue on this connection, by OID (see `typeinfo.rs`).
    pub(crate) types: HashMap<postgres_types::Oid, postgres_types::Type>,
    pub(crate) named_statements: bool,
    pub(crate) next_statement: u64,
    /// Names of server-side statements to close in the next request.
    pub(crate) pending_closes: Vec<String>,
    pub(crate) round_trips: u64,
    pub(crate) notice_callback: Option<NoticeCallback>,
    /// Notifications (`NOTIFY`) received and not yet taken by
    /// [`take_notification`](Connection::take_notification), oldest first; bounded by
    /// [`MAX_NOTIFICATIONS`] (the oldest are dropped, and counted, beyond it).
    pub(crate) notifications: std::collections::VecDeque<Notification>,
    /// Notifications dropped because the buffer was full.
    pub(crate) notifications_dropped: u64,
    pub(crate) cancel_target: CancelTarget,
    pub(crate) connect_timeout: Option<Duration>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("process_id", &self.process_id)
            .field("transaction_status", &self.transaction_status)
            .field("pending_ready", &self.pending_ready)
            .field("broken", &self.broken)
            .field("cached_statements", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The transaction status of the last `ReadyForQuery`.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.transaction_status
    }

    /// True if a request was abandoned part way (its future was dropped): unsent request
    /// bytes or an unread reply remain. The next query drains first on its own; a pool may
    /// call [`drain`](Connection::drain) itself to decide whether to keep the connection.
    pub fn needs_drain(&self) -> bool {
        self.pending_ready > 0 || !self.framed.write_buf.is_empty() || self.copy_fail_owed
    }

    /// True if the connection can no longer be used: an I/O error, a protocol violation, a
    /// `FATAL` error, or [`close`](Connection::close). Drop it.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// A server parameter reported at startup or later (`ParameterStatus`), e.g.
    /// `server_version`, `TimeZone`, `client_encoding`, `standard_conforming_strings`.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The server process id serving this connection (from `BackendKeyData`).
    pub fn backend_pid(&self) -> i32 {
        self.process_id
    }

    /// How many requests were written and waited for since connect (startup excluded). A
    /// cached statement costs one; a cache miss costs two (prepare, then execute).
    pub fn round_trips(&self) -> u64 {
        self.round_trips
    }

    /// How many statements the statement cache holds.
    pub fn cached_statements(&self) -> usize {
        self.cache.len()
    }

    /// The oldest notification received and not yet taken, if any. Notifications arrive with
    /// the replies to requests, or while idle (read by [`wait_for_notification`] or by
    /// [`peer_closed`](Connection::peer_closed)).
    ///
    /// [`wait_for_notification`]: Connection::wait_for_notification
    pub fn take_notification(&mut self) -> Option<Notification> {
        self.notifications.pop_front()
    }

    /// How many notifications were dropped because more than [`MAX_NOTIFICATIONS`] waited
    /// untaken.
    pub fn notifications_dropped(&self) -> u64 {
        self.notifications_dropped
    }

    /// Waits for the next notification on an idle connection: returns one already buffered at
    /// once, else reads until one arrives. Notices and parameter changes that arrive meanwhile
    /// are handled as usual; any other message (the server's `FATAL` before it closes, for
    /// example) is an error and breaks the connection.
    ///
    /// # Cancel safety
    /// Cancel safe: partial input stays in the connection's buffer, and a notification is
    /// taken from the buffer only when this returns it.
    pub async fn wait_for_notification(&mut self) -> Result<Notification, Error> {
        loop {
            if let Some(n) = self.notifications.pop_front() {
                return Ok(n);
            }
            self.begin().await?;
            let message = match self.framed.next_message().await {
                Ok(message) => message,
                Err(e) => {
                    self.broken = true;
                    return Err(e);
                }
            };
            match self.handle_async(message)? {
                None => {}
                Some(Message::ErrorResponse(body)) => {
                    let error = self.db_error(&body);
                    self.broken = true;
                    return Err(error);
                }
                Some(_) => {
                    return Err(self.protocol_error("unexpected message on an idle connection"));
                }
            }
        }
    }

    /// A token that cancels whatever this connection is running, from another task.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken::new(
            self.cancel_target.clone(),
            self.process_id,
            self.secret_key,
            self.connect_timeout,
        )
    }

    /// Brings the connection back to idle after an abandoned request: writes what is left of
    /// it, then reads and discards replies (rows, errors included) until every owed
    /// `ReadyForQuery` has arrived. `Ok` means the connection is in sync and usable; an error
    /// means it is broken.
    ///
    /// If the abandoned query is still running on the server, this waits for it to finish:
    /// send [`CancelToken::cancel_query`] first to cut it short (the drain then reads its
    /// 57014 error), and bound the wait with a timeout if the link itself may be dead.
    ///
    /// # Cancel safety
    /// Cancel safe: progress is kept in the connection, and dropping this future leaves
    /// `needs_drain()` true.
    pub async fn drain(&mut self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::closed("the connection is broken"));
        }
        // A COPY FROM STDIN abandoned unfinished: end it with CopyFail before anything else,
        // so the server rolls it back and answers with an error and ReadyForQuery.
        if self.copy_fail_owed {
            self.queue_copy_abort(crate::copy::ABANDONED)?;
        }
        self.flush().await?;
        while self.pending_ready > 0 {
            match self.recv().await? {
                Message::ErrorResponse(body) => {
                    let error = self.db_error(&body);
                    if self.broken {
                        return Err(error);
                    }
                }
                Message::CopyInResponse(_) => self.refuse_copy_in().await?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends `Terminate` and shuts the socket down.
    ///
    /// # Cancel safety
    /// Dropping the future drops the connection, which closes the socket anyway.
    pub async fn close(mut self) -> Result<(), Error> {
        self.broken = true;
        self.framed.write_buf.clear();
        frontend::terminate(&mut self.framed.write_buf);
        self.framed.flush().await?;
        self.framed.shutdown().await
    }

    /// Checks the connection can take a request, draining an abandoned one first.
    pub(crate) async fn begin(&mut self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::closed("the connection is broken"));
        }
        if self.needs_drain() {
            self.drain().await?;
        }
        Ok(())
    }

    /// Sends what is in the write buffer as a request owing `syncs` `ReadyForQuery`s.
    ///
    /// Cancellation safety: the count goes up before the first byte is written, so a drop
    /// at any point leaves `needs_drain()` true and `drain()` resynchronises.
    pub(crate) async fn send(&mut self, syncs: u32) -> Result<(), Error> {
        self.pending_ready += syncs;
        self.round_trips += 1;
        self.flush().await
    }

    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        let result = self.framed.flush().await;
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Checks, without waiting and without a round trip, whether the server has gone from an
    /// idle connection: the socket was closed or reset, or a message arrived that only comes
    /// before a server ends the session (an `ErrorResponse`, such as the `FATAL` 57P01 of an
    /// administrator shutdown). Notices and parameter changes that arrive while idle are
    /// handled as usual and do not count. True means broken (and [`is_broken`] agrees from
    /// then on).
    ///
    /// A peer that went silent (a half-open connection) cannot be seen this way; only a
    /// round trip with a deadline finds that. A connection with a request in flight is not
    /// idle, and this says false for it.
    ///
    /// [`is_broken`]: Connection::is_broken
    pub fn peer_closed(&mut self) -> bool {
        if self.broken {
            return true;
        }
        if self.needs_drain() {
            return false;
        }
        match self.framed.try_fill() {
            Ok(false) => {}
            Ok(true) | Err(_) => {
                self.broken = true;
                return true;
            }
        }
        loop {
            match self.framed.try_parse() {
                Ok(None) => return false,
                Ok(Some(message)) => match self.handle_async(message) {
                    Ok(None) => {}
                    Ok(Some(Message::ErrorResponse(body))) => {
                        let error = self.db_error(&body);
                        tracing::debug!("an idle connection received an error: {error}");
                        self.broken = true;
                        return true;
                    }
                    Ok(Some(_)) => {
                        self.broken = true;
                        return true;
                    }
                    Err(_) => return true,
                },
                Err(_) => {
                    self.broken = true;
                    return true;
                }
            }
        }
    }

    /// Reads the next message, handling the ones that can arrive at any time (notices,
    /// parameter changes, notifications) and keeping the `ReadyForQuery` count and
    /// transaction status. Any failure marks the connection broken.
    pub(crate) async fn recv(&mut self) -> Result<Message, Error> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Connection::recv) as a poll function, for streams that cannot hold a future.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<Message, Error>> {
        loop {
            let message = match std::task::ready!(self.framed.poll_next_message(cx)) {
                Ok(message) => message,
                Err(e) => {
                    self.broken = true;
                    return std::task::Poll::Ready(Err(e));
                }
            };
            if let Some(message) = self.handle_async(message)? {
                return std::task::Poll::Ready(Ok(message));
            }
        }
    }

    /// Handles a message that may arrive at any time (notice, parameter change,
    /// notification), returning `None`; keeps the `ReadyForQuery` count and transaction
    /// status; returns every other message to the caller.
    fn handle_async(&mut self, message: Message) -> Result<Option<Message>, Error> {
        match message {
            Message::NoticeResponse(body) => self.notice(&body),
            Message::ParameterStatus(body) => {
                let (Ok(name), Ok(value)) = (body.name(), body.value()) else {
                    return Err(self.protocol_error("ParameterStatus is not valid UTF-8"));
                };
                // A server reports a few dozen parameters; the cap keeps a hostile one
                // from growing the map without bound with ever new names.
                if self.parameters.len() < MAX_PARAMETERS || self.parameters.contains_key(name) {
                    self.parameters.insert(name.to_owned(), value.to_owned());
                }
            }
            Message::NotificationResponse(body) => {
                let (Ok(channel), Ok(payload)) = (body.channel(), body.message()) else {
                    return Err(self.protocol_error("NotificationResponse is not valid UTF-8"));
                };
                if self.notifications.len() >= MAX_NOTIFICATIONS {
                    self.notifications.pop_front();
                    self.notifications_dropped += 1;
                }
                self.notifications.push_back(Notification {
                    process_id: body.process_id(),
                    channel: channel.to_owned(),
                    payload: payload.to_owned(),
                });
            }
            Message::ReadyForQuery(body) => {
                let Some(status) = TransactionStatus::from_byte(body.status()) else {
                    return Err(self.protocol_error("ReadyForQuery with an unknown status"));
                };
                if self.pending_ready == 0 {
                    return Err(self.protocol_error("ReadyForQuery that no request asked for"));
                }
                self.pending_ready -= 1;
                self.transaction_status = status;
                return Ok(Some(Message::ReadyForQuery(body)));
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    /// Marks the connection broken and builds a protocol error.
    pub(crate) fn protocol_error(&mut self, message: &str) -> Error {
        self.broken = true;
        Error::protocol(message.to_owned())
    }

    /// Turns an `ErrorResponse` into an error. A malformed one, or a `FATAL`/`PANIC` one (the
    /// server closes the connection after it), marks the connection broken.
    pub(crate) fn db_error(&mut self, body: &ErrorResponseBody) -> Error {
        match DbError::parse(&mut body.fields()) {
            Ok(error) => {
                if matches!(error.severity(), "FATAL" | "PANIC") {
                    self.broken = true;
                }
                Error::db(error)
            }
            Err(error) => {
                self.broken = true;
                error
            }
        }
    }

    fn notice(&self, body: &NoticeResponseBody) {
        match DbError::parse(&mut body.fields()) {
            Ok(notice) => match &self.notice_callback {
                Some(callback) => callback(&notice),
                None if notice.severity() == "WARNING" => {
                    tracing::warn!(code = %notice.code(), "{}", notice.message());
                }
                None => tracing::info!(code = %notice.code(), "{}", notice.message()),
            },
            Err(e) => tracing::warn!("ignoring a malformed notice: {e}"),
        }
    }

    /// Answers `CopyInResponse` (a COPY FROM STDIN run through a method that does not stream
    /// COPY data) with `CopyFail`, so the server reports an error and returns to idle.
    pub(crate) async fn refuse_copy_in(&mut self) -> Result<(), Error> {
        self.queue_copy_fail()?;
        self.flush().await
    }

    /// Queues the `CopyFail` of [`refuse_copy_in`](Connection::refuse_copy_in) in the write
    /// buffer. In the extended protocol the server ignored our `Sync` while in copy mode, so
    /// another one is sent; the owed count stays.
    pub(crate) fn queue_copy_fail(&mut self) -> Result<(), Error> {
        let start = self.framed.write_buf.len();
        if let Err(e) = frontend::copy_fail(
            "COPY FROM STDIN is not supported by this method; use copy_in",
            &mut self.framed.write_buf,
        ) {
            self.framed.write_buf.truncate(start);
            return Err(Error::encode(e));
        }
        if !self.last_request_simple {
            frontend::sync(&mut self.framed.write_buf);
        }
        Ok(())
    }
}
