//! [`Listener`]: `LISTEN`/`NOTIFY` on a dedicated connection that reconnects with backoff,
//! re-issues every `LISTEN`, reports the gaps, and pings to find half-open connections;
//! [`Pool::listener`] and [`Pool::notify`]. The user-facing guide is on [`Listener`].
//!
//! # Implementation details
//!
//! No background task: everything happens inside [`Listener::recv`] (and `listen` /
//! `unlisten`), in the caller's task, on a [`tarn_wire::Connection`] that buffers the
//! notifications it reads.
//!
//! `recv` must be cancel safe because services call it in `select!` loops. So every piece of
//! state that outlives one await lives in the `Listener`, never in the future:
//! * `pending` holds events ready to return; an event leaves it only in the synchronous
//!   `next_ready`, right before `recv` returns it. A notification returned by
//!   `wait_for_notification` (itself cancel safe) is pushed there with no await in between.
//! * while disconnected, `outage` holds the time of the next attempt (so a dropped `recv`
//!   does not restart the backoff), the attempts so far and the cause. A connect plus
//!   re-`LISTEN` is built in a local and installed only when complete, so a dropped one
//!   leaves nothing half set up.
//! * an unanswered keepalive ping keeps its deadline in `Live::ping`; the next `recv`
//!   finishes it (the wire connection drains the old answer first) instead of starting a new
//!   one, so a `recv` cancelled more often than `keepalive_timeout` still detects a silent
//!   connection. If the deadline passed while nobody was receiving, the answer may be sitting
//!   unread, so the ping gets one more `keepalive_timeout`, once.
//!
//! Order: `pending` is refilled from the wire buffer only when empty, so everything in it is
//! older than what the wire connection holds. On a loss, the old connection's buffer is moved
//! to `pending` before the `Reconnected` event is queued behind it. A drop reported by the
//! wire counter is queued before the notifications taken with it (the dropped ones were the
//! oldest in that buffer). Notifications are filtered against the channel set when they
//! leave `pending`, which is what makes `unlisten` take effect at once.
//!
//! The streak of failed attempts and short-lived connections (shorter than the backoff's
//! maximum) drives the backoff, so a server that accepts and drops connections in a loop is
//! not hammered; a connection that lasted resets it and the first attempt after its loss is
//! immediate.
//!
//! [`ListenerStream`] boxes one `recv` future at a time; the future owns the listener (or the
//! `&mut` borrow) and gives it back with the item, so no self-reference is needed. A polled
//! notification API in tarn-wire would let `Listener` implement `Stream` itself without the
//! allocation per item.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tarn_pool::{ConnectError, ErrorClass};
pub use tarn_wire::{MAX_NOTIFICATIONS, Notification};
use tokio::time::Instant;

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::manager::connect_error_class;
use crate::pool::Pool;

/// Default shortest reconnect backoff ([`ListenerBuilder::reconnect_backoff`]).
pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(100);
/// Default longest reconnect backoff ([`ListenerBuilder::reconnect_backoff`]).
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Default [`ListenerBuilder::keepalive_interval`]: well under the idle timeouts of common
/// NATs, firewalls and cloud load balancers (4 minutes and up).
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// Default [`ListenerBuilder::keepalive_timeout`]: a ping is an empty query that a server
/// answers in about a millisecond; this leaves room for a very busy one.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest channel name, in bytes: PostgreSQL's identifier limit (`NAMEDATALEN - 1`).
pub const MAX_CHANNEL_LEN: usize = 63;

/// What [`Listener::recv`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerEvent {
    /// A notification on a channel this listener listens on.
    Notification(Notification),
    /// The connection was lost and a new one is listening on every channel again.
    /// Notifications sent while it was down were not received and cannot be recovered: catch
    /// up from the data itself.
    #[non_exhaustive]
    Reconnected {
        /// True if notifications may have been missed: the listener was listening on at least
        /// one channel while the connection was down.
        missed_possible: bool,
        /// From noticing the loss to listening again.
        downtime: Duration,
        /// Connect attempts it took (1 when the first one succeeded).
        attempts: u32,
        /// Why the connection was lost (the server's error, the I/O error, or an unanswered
        /// keepalive ping).
        cause: String,
    },
    /// Notifications were dropped because more than [`MAX_NOTIFICATIONS`] arrived
    /// during one round trip before any could be taken; they were older than every
    /// notification that follows this event.
    #[non_exhaustive]
    NotificationsDropped {
        /// How many were dropped.
        count: u64,
    },
}

/// Builds a [`Listener`]; from [`Pool::listener`] or [`Listener::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ListenerBuilder {
    config: Config,
    application_name: Option<String>,
    settings: Settings,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    reconnect_min: Duration,
    reconnect_max: Duration,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    /// Bound on `LISTEN`/`UNLISTEN` round trips: the config's `query_timeout`.
    request_timeout: Option<Duration>,
}

impl Settings {
    /// The wait before the `n`-th attempt of a streak of failed or short-lived connections:
    /// none for `n == 0`, else a random delay in `[base / 2, base]` with
    /// `base = min(reconnect_min * 2^(n-1), reconnect_max)`.
    fn backoff(&self, n: u32) -> Duration {
        if n == 0 {
            return Duration::ZERO;
        }
        let factor = 1_u32.checked_shl(n - 1).unwrap_or(u32::MAX);
        let base = self
            .reconnect_min
            .saturating_mul(factor)
            .min(self.reconnect_max);
        let half = base / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

impl ListenerBuilder {
    fn new(config: Config) -> Self {
        let request_timeout = config.query_timeout();
        ListenerBuilder {
            config,
            application_name: None,
            settings: Settings {
                reconnect_min: DEFAULT_RECONNECT_MIN,
                reconnect_max: DEFAULT_RECONNECT_MAX,
                keepalive_interval: Some(DEFAULT_KEEPALIVE_INTERVAL),
                keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
                request_timeout,
            },
        }
    }

    /// The `application_name` of the listener's connection, so that it can be told apart from
    /// the pool's in `pg_stat_activity`. Default: the config's.
    pub fn application_name(mut self, name: &str) -> Self {
        self.application_name = Some(name.to_owned());
        self
    }

    /// The reconnect backoff: after a failed attempt, the next waits a random delay between
    /// half and all of `min * 2^(n-1)` (n counting the failures in a row), never more than
    /// `max`. Default [`DEFAULT_RECONNECT_MIN`] and [`DEFAULT_RECONNECT_MAX`]. `min` must be
    /// greater than zero and at most `max`.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.settings.reconnect_min = min;
        self.settings.reconnect_max = max;
        self
    }

    /// After this long without hearing from the server, send a ping to find out whether the
    /// connection is still there (a half-open connection behind a NAT or firewall is silent
    /// otherwise); `None` sends none. Default [`DEFAULT_KEEPALIVE_INTERVAL`]. See the
    /// [`Listener` documentation](Listener#keepalive-and-half-open-connections).
    pub fn keepalive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.settings.keepalive_interval = interval.into();
        self
    }

    /// How long a ping may go unanswered before the connection counts as lost. Default
    /// [`DEFAULT_KEEPALIVE_TIMEOUT`].
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.settings.keepalive_timeout = timeout;
        self
    }

    /// Checks the settings and opens the connection (one attempt: an unreachable server or a
    /// wrong password is returned at once, as [`Error::Acquire`] with the connect error, so a
    /// service finds out at start-up). From then on the listener reconnects by itself.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future drops the connection being opened.
    pub async fn connect(self) -> Result<Listener, Error> {
        let wire_config = self.validate()?;
        let wire = tarn_wire::Connection::connect(&wire_config)
            .await
            .map_err(|e| connect_failed(e).error)?;
        tracing::debug!(
            target: "tarn::listener",
            backend_pid = wire.backend_pid(),
            "listener connected"
        );
        Ok(Listener {
            wire_config,
            settings: self.settings,
            conn: Some(Live::new(wire)),
            channels: BTreeSet::new(),
            pending: VecDeque::new(),
            outage: None,
            streak: 0,
            reconnects: 0,
            dropped: 0,
        })
    }

    fn validate(&self) -> Result<tarn_wire::Config, Error> {
        self.config.validate()?;
        if self.config.transaction_pooler() {
            return Err(ConfigError::new(
                "transaction_pooler",
                "LISTEN needs a session of its own, which a transaction pooler does not keep; \
                 build the listener from a config with a direct URL (or a session-mode pooler)",
            )
            .into());
        }
        let s = &self.settings;
        if s.reconnect_min.is_zero() || s.reconnect_min > s.reconnect_max {
            return Err(ConfigError::new(
                "reconnect_backoff",
                format!(
                    "min ({:?}) must be greater than zero and at most max ({:?})",
                    s.reconnect_min, s.reconnect_max
                ),
            )
            .into());
        }
        if s.keepalive_interval.is_some_and(|i| i.is_zero()) {
            return Err(ConfigError::new(
                "keepalive_interval",
                "must be greater than zero (None turns pings off)",
            )
            .into());
        }
        if s.keepalive_timeout.is_zero() {
            return Err(ConfigError::new("keepalive_timeout", "must be greater than zero").into());
        }
        let mut wire = self.config.wire_config();
        if let Some(name) = &self.application_name {
            if name.contains('\0') {
                return Err(ConfigError::new("application_name", "contains a NUL byte").into());
            }
            wire.application_name(name);
        }
        Ok(wire)
    }
}

/// A `LISTEN`ing connection of its own that reconnects by itself and says when
/// notifications may have been missed: PostgreSQL `LISTEN`/`NOTIFY` for services.
///
/// # What it is for
///
/// `NOTIFY` is PostgreSQL's built-in publish/subscribe: a session that ran `LISTEN channel`
/// receives every notification committed on that channel while it listens. It is the usual
/// way to wake workers when a job is queued, to invalidate caches, or to push changes to
/// connected clients without polling.
///
/// Receive with [`recv`](Listener::recv) in a loop (or [`stream`](Listener::stream)). A
/// listener that nobody receives from reads nothing, so the server keeps its notifications in
/// the notification queue shared by every session (8 GB by default; the server warns as it
/// fills, and refuses new `NOTIFY`s when it is full).
///
/// A listening session is stateful and long-lived, so a listener does not use a pooled
/// connection: it opens its own, with the same connection settings as a pool (host list,
/// `target_session_attrs`, TLS, credentials). Build one from a pool, [`Pool::listener`], or
/// from a [`Config`], [`Listener::builder`]:
///
/// ```no_run
/// use tarn::ListenerEvent;
///
/// # async fn demo(pool: tarn::Pool) -> Result<(), tarn::Error> {
/// let mut listener = pool.listener().application_name("jobs-listener").connect().await?;
/// listener.listen("jobs").await?;
///
/// // Elsewhere: publish (delivered when the publishing transaction commits).
/// pool.notify("jobs", "42").await?;
///
/// loop {
///     match listener.recv().await? {
///         ListenerEvent::Notification(n) => println!("{}: {}", n.channel(), n.payload()),
///         // The connection was lost and is back, every LISTEN re-issued; whatever was
///         // published meanwhile is gone. Catch up from the source of truth (the jobs table).
///         ListenerEvent::Reconnected { missed_possible: true, .. } => { /* rescan */ }
///         ListenerEvent::NotificationsDropped { .. } => { /* rescan */ }
///         _ => {}
///     }
/// }
/// # }
/// ```
///
/// # Delivery, order and gaps
///
/// PostgreSQL delivers a notification once to each session listening on its channel when the
/// sending transaction commits, in commit order, and never stores it for a session that is
/// not connected. So while the connection is down, notifications are lost, and no client can
/// know how many. The listener does not hide that:
///
/// - Notifications arrive as [`ListenerEvent::Notification`], in the order the server sent
///   them, each exactly once, and only for channels listened on at the time
///   [`recv`](Listener::recv) returns it (a notification already received for a channel that
///   was [`unlisten`](Listener::unlisten)ed since is discarded).
/// - When the connection is lost (the server closed it, restarted or failed over, the network
///   reset it, a keepalive ping went unanswered), the listener first delivers what it had
///   already received, then reconnects with backoff, re-issues every `LISTEN` (in one
///   round trip, atomically), and reports [`ListenerEvent::Reconnected`] with
///   `missed_possible: true` (false only if it listened on nothing throughout), how long it was
///   down, how many attempts it took and why it was lost. Every notification after that event
///   was sent after the `LISTEN`s were back.
/// - If more than [`MAX_NOTIFICATIONS`] notifications were read from the socket
///   before being taken (a huge burst that arrived during one round trip), the oldest are
///   dropped and [`ListenerEvent::NotificationsDropped`] reports how many, where they were.
///
/// The pattern that follows is the one every `LISTEN`-based design needs: keep the truth in a
/// table, treat a notification as a hint to look, and on `Reconnected` (or
/// `NotificationsDropped`) look at everything, since any hint may have been lost.
///
/// # Reconnecting and backoff
///
/// The first attempt after losing a connection that had lasted at least the backoff's maximum
/// is immediate. After a failed attempt, or after losing a connection that did not last that
/// long (a server that accepts and drops connections in a loop), the next attempt waits an
/// exponential backoff with jitter: a random delay between half and all of
/// `min * 2^(n-1)`, capped at `max`, for the n-th attempt in the streak
/// ([`ListenerBuilder::reconnect_backoff`], default [`DEFAULT_RECONNECT_MIN`] to
/// [`DEFAULT_RECONNECT_MAX`]). Each attempt is bounded by the config's `connect_timeout`
/// (per host), and the re-`LISTEN` by its `query_timeout`.
///
/// Reconnecting happens inside [`recv`](Listener::recv), which keeps retrying transient
/// failures (refused or reset connections, timeouts, a server starting up or shutting down,
/// too many clients) without returning. Failures that retrying cannot fix are returned as
/// errors: a permanent connect error (wrong password, a role that may not log in, a missing
/// database, a TLS refusal; [`Error::code`] gives the SQLSTATE) or a server error on the
/// re-`LISTEN` (`25006` on a hot standby). The listener stays usable: the next `recv` tries
/// again after the backoff, so a loop that logs the error and calls `recv` again recovers
/// once the cause is fixed, and a loop that gives up on the first error can do that too.
/// Every failed attempt is logged at `warn`, and every reconnect at `info`, under the
/// `tarn::listener` target.
///
/// # Keepalive and half-open connections
///
/// A listening connection can sit silent for hours. If a NAT, firewall or load balancer
/// between the service and the server forgets the connection, or the server's host vanishes,
/// nothing tells the client: the socket stays open, `recv` waits forever, and every
/// notification is lost without a gap report. So after [`keepalive_interval`] without hearing
/// from the server (default [`DEFAULT_KEEPALIVE_INTERVAL`]), the listener sends a ping (an
/// empty query, one round trip that the server answers at once); no answer within
/// [`keepalive_timeout`] (default [`DEFAULT_KEEPALIVE_TIMEOUT`]) means the connection is dead,
/// and the listener reconnects and reports the gap. The pings also keep idle-connection state
/// in NATs and firewalls fresh (most forget after 5 to 60 minutes) and reset the server's
/// `idle_session_timeout`. A notification counts as hearing from the server, so a busy channel
/// sends no pings. A silent connection is found within `keepalive_interval +
/// keepalive_timeout`. Turn pings off with `keepalive_interval(None)` only when nothing between
/// client and server can drop a connection silently.
///
/// The pings run while [`recv`](Listener::recv) is being awaited, which is all the time in the
/// usual receive loop. A listener nobody polls sends no pings, and a half-open connection is
/// then found at the next `recv`.
///
/// [`keepalive_interval`]: ListenerBuilder::keepalive_interval
/// [`keepalive_timeout`]: ListenerBuilder::keepalive_timeout
///
/// # Publishing
///
/// [`Pool::notify`] runs `SELECT pg_notify($1, $2)` with the channel and payload as
/// parameters. To publish only if a transaction commits (the usual need: "the job row exists
/// before anyone is woken"), run the same statement inside the transaction:
/// `tx.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])`. Identical notifications
/// (same channel and payload) within one transaction are delivered once. Payloads are limited
/// to 7,999 bytes by the server; send an id and let the receiver read the row.
///
/// # Channel names
///
/// A channel is an identifier. [`listen`](Listener::listen) and
/// [`unlisten`](Listener::unlisten) always quote it (`"` doubled), so any name works as given,
/// spaces, quotes and upper case included, and nothing in it is ever read as SQL; the names are
/// case-sensitive and match `pg_notify`'s channel argument exactly. A name must be 1 to 63
/// bytes (PostgreSQL's identifier limit; a longer one would be silently truncated by `LISTEN`
/// and refused by `pg_notify`) and contain no NUL byte; others are refused with
/// [`Error::Config`] naming `channel`.
///
/// # Transaction poolers
///
/// `LISTEN` needs a session of its own. Behind PgBouncer in transaction mode the server
/// connection is given to someone else after each transaction, and notifications go to
/// whoever holds it. A listener built from a config in
/// [`transaction_pooler`](crate::Builder::transaction_pooler) mode is refused with
/// [`Error::Config`]; build it from a config with a direct URL (or a session-mode pooler)
/// instead, and keep publishing through the pool, which works in any mode.
///
/// # Streams
///
/// [`Listener::stream`] (borrowing) and [`Listener::into_stream`] (owning, `'static`, for
/// `tokio::spawn` or a server-sent-events body) adapt `recv` to a
/// [`futures_core::Stream`] of `Result<ListenerEvent, Error>`. The stream never ends: an error
/// item is followed by further attempts, as with `recv`.
pub struct Listener {
    wire_config: tarn_wire::Config,
    settings: Settings,
    conn: Option<Live>,
    channels: BTreeSet<String>,
    /// Events ready to return, oldest first: notifications taken from the connection (or
    /// saved from a lost one), gap and drop reports.
    pending: VecDeque<ListenerEvent>,
    /// Set while there is no connection.
    outage: Option<Outage>,
    /// Failed attempts and short-lived connections in a row: how far up the backoff is.
    streak: u32,
    reconnects: u64,
    dropped: u64,
}

/// The open connection and what the keepalive needs to know about it.
struct Live {
    wire: tarn_wire::Connection,
    opened: Instant,
    /// When the server was last heard from: a notification or an answer.
    heard: Instant,
    /// An unanswered keepalive ping.
    ping: Option<Ping>,
    /// The wire connection's drop count already reported.
    dropped_seen: u64,
}

#[derive(Debug, Clone, Copy)]
struct Ping {
    deadline: Instant,
    /// The deadline was moved once because it passed while nobody was receiving.
    extended: bool,
}

impl Live {
    fn new(wire: tarn_wire::Connection) -> Self {
        let now = Instant::now();
        Live {
            wire,
            opened: now,
            heard: now,
            ping: None,
            dropped_seen: 0,
        }
    }

    fn heard_now(&mut self) {
        self.heard = Instant::now();
        self.ping = None;
    }
}

struct Outage {
    since: Instant,
    cause: String,
    attempts: u32,
    next_attempt: Instant,
    missed_possible: bool,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("channels", &self.channels)
            .field("backend_pid", &self.backend_pid())
            .field("pending", &self.pending.len())
            .field("reconnects", &self.reconnects)
            .field("notifications_dropped", &self.dropped)
            .field("outage", &self.outage.as_ref().map(|o| &o.cause))
            .finish_non_exhaustive()
    }
}

/// A failed connect or re-`LISTEN`, and whether retrying can fix it.
struct Failure {
    error: Error,
    permanent: bool,
}

fn connect_failed(error: tarn_wire::Error) -> Failure {
    let class = connect_error_class(&error);
    let error = Arc::new(error);
    let (connect, permanent) = match class {
        ErrorClass::Permanent => (ConnectError::Permanent(error), true),
        ErrorClass::Transient => (ConnectError::Failed(error), false),
    };
    Failure {
        error: Error::Acquire(tarn_pool::Error::Connect(connect)),
        permanent,
    }
}

/// `"name"` with every `"` doubled: an identifier that is exactly `name`, whatever it holds.
fn quote_channel(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

fn check_channel(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        "must not be empty".to_owned()
    } else if name.contains('\0') {
        format!("{name:?} contains a NUL byte")
    } else if name.len() > MAX_CHANNEL_LEN {
        format!(
            "{name:?} is {} bytes; PostgreSQL keeps at most {MAX_CHANNEL_LEN}",
            name.len()
        )
    } else {
        return Ok(());
    };
    Err(ConfigError::new("channel", problem).into())
}

/// Runs `future` within `limit`, if there is one; `None` when it ran out.
async fn within<T>(limit: Option<Duration>, future: impl Future<Output = T>) -> Option<T> {
    match limit {
        None => Some(future.await),
        Some(limit) => tokio::time::timeout(limit, future).await.ok(),
    }
}

/// Opens a connection and listens on every channel in one round trip.
async fn open(
    config: &tarn_wire::Config,
    channels: &BTreeSet<String>,
    request_timeout: Option<Duration>,
) -> Result<tarn_wire::Connection, Failure> {
    let mut wire = tarn_wire::Connection::connect(config)
        .await
        .map_err(connect_failed)?;
    if channels.is_empty() {
        return Ok(wire);
    }
    // One simple query is one implicit transaction: every LISTEN takes effect, or none.
    let sql: String = channels
        .iter()
        .map(|c| format!("LISTEN {};", quote_channel(c)))
        .collect();
    match within(request_timeout, wire.simple_query(&sql)).await {
        Some(Ok(_)) => Ok(wire),
        Some(Err(e)) => Failure {
            // A server error on a sound connection (25006 on a hot standby) will be the
            // same on the next attempt: report it. A broken connection may not be.
            permanent: !wire.is_broken(),
            error: Error::Query(e),
        }
        .into_err(),
        None => Failure {
            error: Error::QueryTimeout {
                timeout: request_timeout.unwrap_or_default(),
                cancelled: false,
            },
            permanent: false,
        }
        .into_err(),
    }
}

impl Failure {
    fn into_err<T>(self) -> Result<T, Failure> {
        Err(self)
    }
}

/// What a wait on the connection ended with.
enum Waited {
    Notification(Notification),
    Lost(String),
    PingDue,
}

impl Listener {
    /// A builder for a listener with `config`'s connection settings (its pool settings are
    /// not used).
    pub fn builder(config: Config) -> ListenerBuilder {
        ListenerBuilder::new(config)
    }

    /// Listens on `channel`: notifications sent to it from now on are delivered by
    /// [`recv`](Listener::recv). Idempotent. The name is quoted, so it is used exactly as
    /// given (see [Channel names](Listener#channel-names)).
    ///
    /// Returns once the server has confirmed the `LISTEN`, or, if the connection is down (or
    /// is lost during the `LISTEN`), once the channel is recorded: the reconnect that
    /// [`recv`](Listener::recv) makes then listens on it and reports the gap. Either way,
    /// every later notification on the channel is delivered unless a
    /// [`ListenerEvent::Reconnected`] says some may have been missed. Errors: an invalid name
    /// ([`Error::Config`]), or the server refused the `LISTEN` ([`Error::Query`], e.g.
    /// `25006` on a hot standby); the channel is then not listened on.
    ///
    /// # Cancel safety
    /// If the future is dropped, the channel is not listened on (a notification that arrives
    /// for it anyway is discarded); call `listen` again.
    pub async fn listen(&mut self, channel: &str) -> Result<(), Error> {
        check_channel(channel)?;
        if self.channels.contains(channel) {
            return Ok(());
        }
        let sql = format!("LISTEN {}", quote_channel(channel));
        self.request(&sql).await?;
        self.channels.insert(channel.to_owned());
        Ok(())
    }

    /// Stops listening on `channel`: from when this is called, no notification on it is
    /// returned, including ones already received and not yet returned. Listening on it again
    /// takes [`listen`](Listener::listen).
    ///
    /// # Cancel safety
    /// Cancel safe: delivery stops when the future is first polled; the `UNLISTEN` sent to
    /// the server only saves it the work of sending notifications that would be discarded.
    pub async fn unlisten(&mut self, channel: &str) -> Result<(), Error> {
        check_channel(channel)?;
        self.channels.remove(channel);
        let sql = format!("UNLISTEN {}", quote_channel(channel));
        self.request(&sql).await
    }

    /// Stops listening on every channel (`UNLISTEN *`).
    ///
    /// # Cancel safety
    /// As [`unlisten`](Listener::unlisten).
    pub async fn unlisten_all(&mut self) -> Result<(), Error> {
        self.channels.clear();
        self.request("UNLISTEN *").await
    }

    /// Runs a `LISTEN` or `UNLISTEN`. `Ok` when the server confirmed it or when there is no
    /// connection (the reconnect applies the channel set); a server error on a sound
    /// connection is returned.
    async fn request(&mut self, sql: &str) -> Result<(), Error> {
        let Some(live) = self.conn.as_mut() else {
            return Ok(());
        };
        let limit = self.settings.request_timeout;
        // Cancellation safety: the wire connection records an abandoned request and drains
        // it before the next one.
        match within(limit, live.wire.simple_query(sql)).await {
            Some(Ok(_)) => {
                live.heard_now();
                Ok(())
            }
            Some(Err(e)) if !live.wire.is_broken() => Err(Error::Query(e)),
            Some(Err(e)) => {
                self.lose(e.to_string());
                Ok(())
            }
            None => {
                self.lose(format!(
                    "no answer to {sql} within {:?} (query_timeout)",
                    limit.unwrap_or_default()
                ));
                Ok(())
            }
        }
    }

    /// The next event: a notification, or a report of a gap or of dropped notifications.
    ///
    /// Waits for the server, sending keepalive pings while it is silent. When the connection
    /// is lost, this reconnects (with backoff, retrying transient failures without returning)
    /// and returns [`ListenerEvent::Reconnected`] once every `LISTEN` is back. Returns an error
    /// only for what reconnecting cannot fix (a permanent connect error such as a wrong
    /// password, or a server error on the re-`LISTEN`); the listener stays usable, and the
    /// next call tries again after the backoff.
    ///
    /// # Cancel safety
    /// Cancel safe: no notification is lost when the future is dropped (one is removed from
    /// the listener only when this returns it), and the reconnect backoff and the keepalive
    /// deadline are kept in the listener, so `recv` in a `select!` loop keeps both going. A
    /// connect or re-`LISTEN` in progress is abandoned and the next call starts it again.
    pub async fn recv(&mut self) -> Result<ListenerEvent, Error> {
        loop {
            if let Some(event) = self.next_ready() {
                return Ok(event);
            }
            if self.conn.is_none() {
                self.reconnect().await?;
                continue;
            }
            let waited = self.wait().await;
            match waited {
                Waited::Notification(n) => {
                    self.pending.push_back(ListenerEvent::Notification(n));
                }
                Waited::Lost(cause) => self.lose(cause),
                Waited::PingDue => self.ping().await,
            }
        }
    }

    /// The next event already received, if any; discards notifications for channels no longer
    /// listened on.
    fn next_ready(&mut self) -> Option<ListenerEvent> {
        loop {
            if self.pending.is_empty() {
                self.take_received();
            }
            let event = self.pending.pop_front()?;
            if let ListenerEvent::Notification(n) = &event
                && !self.channels.contains(n.channel())
            {
                continue;
            }
            return Some(event);
        }
    }

    /// Moves what the connection has buffered into `pending`: first a report of any drops
    /// (they were older than everything still buffered), then the notifications.
    fn take_received(&mut self) {
        let Some(live) = self.conn.as_mut() else {
            return;
        };
        save_received(live, &mut self.pending, &mut self.dropped);
    }

    /// Waits for a notification, or until a keepalive ping is due.
    async fn wait(&mut self) -> Waited {
        let Some(live) = self.conn.as_mut() else {
            return Waited::Lost("not connected".into());
        };
        let read = match (self.settings.keepalive_interval, live.ping) {
            // A ping is unanswered (its recv was dropped): finish it first.
            (Some(_), Some(_)) => return Waited::PingDue,
            (Some(interval), None) => {
                let due = live.heard + interval;
                // Cancellation safety: waiting for a notification is cancel safe.
                tokio::select! {
                    biased;
                    read = live.wire.wait_for_notification() => read,
                    () = tokio::time::sleep_until(due) => return Waited::PingDue,
                }
            }
            (None, _) => live.wire.wait_for_notification().await,
        };
        match read {
            Ok(n) => {
                live.heard_now();
                Waited::Notification(n)
            }
            Err(e) => Waited::Lost(e.to_string()),
        }
    }

    /// Sends a ping (or finishes one whose `recv` was dropped) and waits for the answer until
    /// its deadline; no answer means the connection is lost.
    async fn ping(&mut self) {
        let timeout = self.settings.keepalive_timeout;
        let Some(live) = self.conn.as_mut() else {
            return;
        };
        let now = Instant::now();
        let ping = match live.ping {
            None => Ping {
                deadline: now + timeout,
                extended: false,
            },
            // The deadline passed while nobody was receiving, so the answer may be waiting
            // unread: give it one more timeout, once.
            Some(ping) if ping.deadline <= now && !ping.extended => Ping {
                deadline: now + timeout,
                extended: true,
            },
            Some(ping) => ping,
        };
        live.ping = Some(ping);
        // An empty query is the cheapest round trip the server answers; it first drains the
        // answer to an abandoned ping, if any.
        // Cancellation safety: the deadline stays in `live.ping` for the next `recv`.
        match tokio::time::timeout_at(ping.deadline, live.wire.simple_query("")).await {
            Ok(Ok(_)) => live.heard_now(),
            Ok(Err(e)) => self.lose(format!("keepalive ping failed: {e}")),
            Err(_) => self.lose(format!(
                "no answer to a keepalive ping within {timeout:?} (keepalive_timeout)"
            )),
        }
    }

    /// Drops the connection (keeping what it had received) and starts an outage.
    fn lose(&mut self, cause: String) {
        let Some(mut live) = self.conn.take() else {
            return;
        };
        save_received(&mut live, &mut self.pending, &mut self.dropped);
        let now = Instant::now();
        if now.duration_since(live.opened) >= self.settings.reconnect_max {
            self.streak = 0;
        } else {
            // A connection that did not last: back off before the next, as after a failure.
            self.streak += 1;
        }
        let delay = self.settings.backoff(self.streak);
        tracing::warn!(
            target: "tarn::listener",
            backend_pid = live.wire.backend_pid(),
            channels = self.channels.len(),
            ?delay,
            "listener connection lost, reconnecting: {cause}"
        );
        self.outage = Some(Outage {
            since: now,
            cause,
            attempts: 0,
            next_attempt: now + delay,
            missed_possible: !self.channels.is_empty(),
        });
        // Dropping the socket closes it; the server ends the backend when it notices.
    }

    /// Reconnects, with backoff, until a connection listens on every channel (then queues
    /// the gap report) or an attempt fails in a way retrying cannot fix.
    async fn reconnect(&mut self) -> Result<(), Error> {
        loop {
            let outage = self.outage.get_or_insert_with(|| {
                let now = Instant::now();
                Outage {
                    since: now,
                    cause: "not connected".into(),
                    attempts: 0,
                    next_attempt: now,
                    missed_possible: false,
                }
            });
            // Cancellation safety: the time of the next attempt is kept in the outage.
            tokio::time::sleep_until(outage.next_attempt).await;
            outage.attempts += 1;
            let attempt = open(
                &self.wire_config,
                &self.channels,
                self.settings.request_timeout,
            )
            .await;
            match attempt {
                Ok(wire) => {
                    let downtime = outage.since.elapsed();
                    let event = ListenerEvent::Reconnected {
                        missed_possible: outage.missed_possible || !self.channels.is_empty(),
                        downtime,
                        attempts: outage.attempts,
                        cause: std::mem::take(&mut outage.cause),
                    };
                    tracing::info!(
                        target: "tarn::listener",
                        backend_pid = wire.backend_pid(),
                        attempts = outage.attempts,
                        ?downtime,
                        channels = self.channels.len(),
                        "listener reconnected; notifications sent meanwhile were missed"
                    );
                    self.outage = None;
                    self.conn = Some(Live::new(wire));
                    self.reconnects += 1;
                    self.pending.push_back(event);
                    return Ok(());
                }
                Err(failure) => {
                    self.streak += 1;
                    let delay = self.settings.backoff(self.streak);
                    outage.next_attempt = Instant::now() + delay;
                    tracing::warn!(
                        target: "tarn::listener",
                        attempt = outage.attempts,
                        permanent = failure.permanent,
                        ?delay,
                        "listener reconnect failed: {}",
                        failure.error
                    );
                    if failure.permanent {
                        return Err(failure.error);
                    }
                }
            }
        }
    }

    /// The channels listened on, in byte order.
    pub fn channels(&self) -> impl Iterator<Item = &str> + '_ {
        self.channels.iter().map(String::as_str)
    }

    /// True while the listener has a connection (it may still be a dead one that the next
    /// keepalive ping finds out).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The server process id of the current connection, if any.
    pub fn backend_pid(&self) -> Option<i32> {
        self.conn.as_ref().map(|live| live.wire.backend_pid())
    }

    /// How many times the listener has reconnected since it was made.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// How many notifications were dropped in all (each drop is also reported as
    /// [`ListenerEvent::NotificationsDropped`]).
    pub fn notifications_dropped(&self) -> u64 {
        self.dropped
    }

    /// Adapts [`recv`](Listener::recv) to a [`Stream`](futures_core::Stream), borrowing the
    /// listener; drop the stream to call [`listen`](Listener::listen) again.
    pub fn stream(&mut self) -> ListenerStream<'_> {
        ListenerStream::new(Slot::Borrowed(self))
    }

    /// Adapts [`recv`](Listener::recv) to a `'static` [`Stream`](futures_core::Stream) that
    /// owns the listener (for `tokio::spawn` or a response body).
    pub fn into_stream(self) -> ListenerStream<'static> {
        ListenerStream::new(Slot::Owned(Box::new(self)))
    }

    /// Closes the connection with a `Terminate`, so the server ends the session at once.
    ///
    /// # Cancel safety
    /// Dropping the future drops the connection, which closes the socket anyway.
    pub async fn close(mut self) {
        if let Some(live) = self.conn.take() {
            let _ = live.wire.close().await;
        }
    }
}

/// Moves a connection's buffered notifications (and a report of new drops) to `pending`.
fn save_received(live: &mut Live, pending: &mut VecDeque<ListenerEvent>, total_dropped: &mut u64) {
    let dropped = live.wire.notifications_dropped();
    if dropped > live.dropped_seen {
        let count = dropped - live.dropped_seen;
        live.dropped_seen = dropped;
        *total_dropped += count;
        tracing::warn!(
            target: "tarn::listener",
            count,
            "listener dropped notifications: more than {} arrived at once",
            tarn_wire::MAX_NOTIFICATIONS
        );
        pending.push_back(ListenerEvent::NotificationsDropped { count });
    }
    let before = pending.len();
    while let Some(n) = live.wire.take_notification() {
        pending.push_back(ListenerEvent::Notification(n));
    }
    if pending.len() > before {
        live.heard_now();
    }
}

impl Pool {
    /// A [`ListenerBuilder`] with this pool's connection settings: the listener opens a
    /// connection of its own (not one of the pool's) when you call
    /// [`connect`](ListenerBuilder::connect).
    pub fn listener(&self) -> ListenerBuilder {
        Listener::builder(self.config().clone())
    }

    /// Sends a notification: `SELECT pg_notify($1, $2)`, with the channel and the payload as
    /// parameters (never spliced into SQL), on a pooled connection. Delivered to the channel's
    /// listeners at once (the statement is its own transaction). The server refuses an empty
    /// channel, one over 63 bytes, and a payload of 8,000 bytes or more.
    ///
    /// To notify only if a transaction commits, run the same statement in it.
    ///
    /// # Cancel safety
    /// As [`Pool::execute`]: if the future is dropped, the notification may or may not have
    /// been sent.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), Error> {
        self.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await
            .map(drop)
    }
}

/// Where a [`ListenerStream`] keeps its listener between items.
enum Slot<'a> {
    Borrowed(&'a mut Listener),
    Owned(Box<Listener>),
}

impl Slot<'_> {
    fn listener(&mut self) -> &mut Listener {
        match self {
            Slot::Borrowed(listener) => listener,
            Slot::Owned(listener) => listener,
        }
    }
}

type Recv<'a> = Pin<Box<dyn Future<Output = (Slot<'a>, Result<ListenerEvent, Error>)> + Send + 'a>>;

/// [`Listener::recv`] as a [`Stream`](futures_core::Stream) of `Result<ListenerEvent,
/// Error>`; from [`Listener::stream`] or [`Listener::into_stream`]. It never ends: after an
/// error item, the next poll tries again (after the backoff), as `recv` does.
///
/// Dropping the stream between items loses nothing (`recv` is cancel safe); an owning stream
/// drops its listener with it.
#[must_use = "streams do nothing unless polled"]
pub struct ListenerStream<'a> {
    idle: Option<Slot<'a>>,
    busy: Option<Recv<'a>>,
}

impl<'a> ListenerStream<'a> {
    fn new(slot: Slot<'a>) -> Self {
        ListenerStream {
            idle: Some(slot),
            busy: None,
        }
    }
}

impl fmt::Debug for ListenerStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerStream")
            .field("receiving", &self.busy.is_some())
            .finish_non_exhaustive()
    }
}

impl futures_core::Stream for ListenerStream<'_> {
    type Item = Result<ListenerEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.busy.is_none() {
            let Some(mut slot) = this.idle.take() else {
                // Unreachable: the slot is either idle or inside the future.
                return Poll::Ready(None);
            };
            this.busy = Some(Box::pin(async move {
                let result = slot.listener().recv().await;
                (slot, result)
            }));
        }
        let Some(busy) = this.busy.as_mut() else {
            return Poll::Ready(None);
        };
        match busy.as_mut().poll(cx) {
            Poll::Ready((slot, result)) => {
                this.busy = None;
                this.idle = Some(slot);
                Poll::Ready(Some(result))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_quoted_as_identifiers() {
        assert_eq!(quote_channel("jobs"), r#""jobs""#);
        assert_eq!(quote_channel("Mixed Case"), r#""Mixed Case""#);
        assert_eq!(quote_channel(r#"say "hi""#), r#""say ""hi""""#);
        assert_eq!(
            quote_channel(r#"x"; DROP TABLE t; --"#),
            r#""x""; DROP TABLE t; --""#
        );
        assert_eq!(quote_channel("it's"), r#""it's""#);
        assert_eq!(quote_channel(r"back\slash"), r#""back\slash""#);
    }

    #[test]
    fn channel_names_are_checked() {
        check_channel("a").unwrap();
        check_channel(&"é".repeat(31)).unwrap(); // 62 bytes
        check_channel(&"x".repeat(MAX_CHANNEL_LEN)).unwrap();
        for bad in [
            "",
            "a\0b",
            &"x".repeat(MAX_CHANNEL_LEN + 1),
            &"é".repeat(32),
        ] {
            let Err(Error::Config(e)) = check_channel(bad) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(e.setting(), "channel");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let settings = Settings {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(10),
            keepalive_interval: None,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            request_timeout: None,
        };
        assert_eq!(settings.backoff(0), Duration::ZERO);
        for n in 1..=64 {
            let base = Duration::from_millis(100)
                .saturating_mul(1_u32.checked_shl(n - 1).unwrap_or(u32::MAX))
                .min(Duration::from_secs(10));
            for _ in 0..50 {
                let d = settings.backoff(n);
                assert!(
                    d >= base / 2 && d <= base,
                    "attempt {n}: {d:?} not in [{base:?}/2, {base:?}]"
                );
            }
        }
        assert!(settings.backoff(u32::MAX) <= Duration::from_secs(10));
        // Jitter: not every delay is the same.
        let delays: BTreeSet<Duration> = (0..20).map(|_| settings.backoff(3)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn settings_are_validated_by_name() {
        let base = || Listener::builder(Config::default());
        let cases = [
            (
                base().reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
                "reconnect_backoff",
            ),
            (
                base().reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1)),
                "reconnect_backoff",
            ),
            (
                base().keepalive_interval(Duration::ZERO),
                "keepalive_interval",
            ),
            (
                base().keepalive_timeout(Duration::ZERO),
                "keepalive_timeout",
            ),
            (base().application_name("a\0b"), "application_name"),
            (
                Listener::builder(Config::from_url("postgres://u@h/d?pgbouncer=true").unwrap()),
                "transaction_pooler",
            ),
        ];
        for (builder, setting) in cases {
            match builder.validate() {
                Err(Error::Config(e)) => assert_eq!(e.setting(), setting, "{e}"),
                other => panic!("{setting}: {other:?}"),
            }
        }
        base().keepalive_interval(None).validate().unwrap();
    }
}
