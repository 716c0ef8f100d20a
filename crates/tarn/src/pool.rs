//! [`Pool`], its [`Builder`], and the [`PooledConnection`] guard.
//!
//! `Pool` is a thin layer over `tarn_pool::Pool<PgManager>`: it turns [`Config`] into the
//! engine's settings, adds the query shortcuts (acquire, run, release), the health check and
//! graceful shutdown, and puts `tracing` spans around acquires.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tarn_pool::{PoolEvent, Stats, Status};
use tarn_wire::{
    ChannelBinding, LoadBalanceHosts, Params, Row, SimpleQueryMessage, SslMode, SslNegotiation,
    SslRootCert, TargetSessionAttrs, ToStatement,
};
use tracing::Instrument;

use crate::config::{Config, ConfigError, parse_hosts};
use crate::connection::Connection;
use crate::error::Error;
use crate::health::HealthReport;
use crate::manager::PgManager;
use crate::stream::RowStream;
use crate::transaction::{OwnedTransaction, TransactionOptions};

/// A pool of PostgreSQL connections. Cheap to clone: clones share one pool.
#[derive(Clone, Debug)]
pub struct Pool {
    inner: tarn_pool::Pool<PgManager>,
}

/// A connection checked out of a [`Pool`]; derefs to [`Connection`] and goes back to the
/// pool when dropped (rolled back, drained or closed first when it needs it).
#[derive(Debug)]
#[must_use = "dropping the guard returns the connection at once"]
pub struct PooledConnection(tarn_pool::Pooled<PgManager>);

impl Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl PooledConnection {
    /// Takes the connection out of the pool for good; the pool opens another in its place
    /// when needed.
    pub fn detach(self) -> Connection {
        tarn_pool::Pooled::take(self.0)
    }
}

type EventObserver = Arc<dyn Fn(&PoolEvent<'_>) + Send + Sync>;

/// Builds a [`Pool`]. Start from [`Pool::builder`]; every setting has a default (see
/// `docs/config.md`), and invalid ones are reported by [`build`](Builder::build) with their
/// name.
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    config: Config,
    error: Option<ConfigError>,
    observer: Option<EventObserver>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => |$c:ident, $v:ident| $apply:expr) => {
        $(#[$doc])*
        pub fn $name(mut self, $v: $ty) -> Self {
            let $c = &mut self.config;
            $apply;
            self
        }
    };
}

impl Builder {
    /// Takes the connection settings from a `postgres://` URL or a libpq key=value string. A
    /// bad string is reported by [`build`](Builder::build).
    pub fn url(mut self, url: &str) -> Self {
        if let Err(e) = self.config.apply_connection_string(url, "url").map(drop) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Replaces every setting (e.g. with [`Config::from_env`]); later setters still apply.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    setter!(
        /// Server host name or address; an absolute path is a unix socket directory. A
        /// comma-separated list (`h1,h2`) is tried in order, as in libpq; see
        /// [`target_session_attrs`](Builder::target_session_attrs).
        host: &str => |c, v| c.hosts = parse_hosts(v)
    );
    setter!(
        /// Server port, for every host. Default 5432.
        port: u16 => |c, v| c.ports = vec![v]
    );
    setter!(
        /// User to log in as. Default `postgres`.
        user: &str => |c, v| c.user = v.to_owned()
    );
    setter!(
        /// Password. Never printed.
        password: &str => |c, v| c.password = Some(v.to_owned())
    );
    setter!(
        /// Database. Default: the server's (the user's name).
        dbname: &str => |c, v| c.dbname = Some(v.to_owned())
    );
    setter!(
        /// `application_name`, shown in `pg_stat_activity`. Default `tarn`.
        application_name: &str => |c, v| c.application_name = v.to_owned()
    );
    setter!(
        /// Extra startup `options`, e.g. `-c search_path=app`.
        options: &str => |c, v| c.options = Some(v.to_owned())
    );
    setter!(
        /// Most connections open at once. Default 20.
        max_size: usize => |c, v| c.max_size = v
    );
    setter!(
        /// Connections kept open even when idle. Default 2.
        min_idle: usize => |c, v| c.min_idle = v
    );
    setter!(
        /// Idle connections above `min_idle` close after this long; `None` keeps them.
        /// Default 30 s.
        idle_timeout: impl Into<Option<Duration>> => |c, v| c.idle_timeout = v.into()
    );
    setter!(
        /// Bound on a whole acquire, connecting included. Default 2 s.
        acquire_timeout: Duration => |c, v| c.acquire_timeout = v
    );
    setter!(
        /// Bound on one connect (TCP, startup, auth). Default: `acquire_timeout`.
        connect_timeout: Duration => |c, v| c.connect_timeout = Some(v)
    );
    setter!(
        /// Server-side `statement_timeout`, set on each new connection (`SET`, one round trip
        /// per connect); `None` leaves the server's setting. Default 30 s, except in
        /// [`transaction_pooler`](Builder::transaction_pooler) mode, where a session setting
        /// cannot be kept and setting this is an error.
        statement_timeout: impl Into<Option<Duration>> => |c, v| {
            c.statement_timeout = v.into();
            c.statement_timeout_set = true;
        }
    );
    setter!(
        /// Client-side bound on each query: on expiry tarn sends a CancelRequest and returns
        /// [`Error::QueryTimeout`]. `None` disables it. Default 30 s.
        query_timeout: impl Into<Option<Duration>> => |c, v| c.query_timeout = v.into()
    );
    setter!(
        /// Statements that take longer than this are logged at warn level with their SQL text
        /// (never parameter values) and duration. `None` (the default) never logs.
        /// Environment: `PG_SLOW_QUERY_THRESHOLD` (ms).
        slow_query_threshold: impl Into<Option<Duration>> => |c, v| c.slow_query_threshold = v.into()
    );
    setter!(
        /// Connections older than this are closed and replaced; `None` keeps them. Default
        /// 30 min.
        max_lifetime: impl Into<Option<Duration>> => |c, v| c.max_lifetime = v.into()
    );
    setter!(
        /// Connections idle longer than this are pinged before being handed out; `None`
        /// never pings. Default 500 ms.
        check_after_idle: impl Into<Option<Duration>> => |c, v| c.check_after_idle = v.into()
    );
    setter!(
        /// Bound on one health check (a ping) of a connection that sat idle past
        /// `check_after_idle`. A check that fails or runs out of this time closes that
        /// connection and the same acquire moves on (the next idle connection, or a new
        /// connect), so a half-open connection costs a caller this, not its
        /// `acquire_timeout`. Default 500 ms.
        check_timeout: Duration => |c, v| c.check_timeout = v
    );
    setter!(
        /// Fail fast while the server is unreachable: after this many consecutive failed
        /// connects with no idle connection, a `get` that would need a new connection fails
        /// at once with the last connect error (while one probe connect retries in the
        /// background) instead of waiting `acquire_timeout`. A permanent connect error (wrong
        /// password, missing database) fails callers at once whatever this says. `None` turns
        /// the breaker off. Default 3. See docs/pool.md.
        breaker_threshold: impl Into<Option<u32>> => |c, v| c.breaker_threshold = v.into()
    );
    setter!(
        /// Most callers waiting at once; more fail at once. `None` is unbounded (default).
        max_waiters: impl Into<Option<usize>> => |c, v| c.max_waiters = v.into()
    );
    setter!(
        /// SQL run on every returned connection that was used (e.g. `DISCARD ALL`), for
        /// applications that change session state. Default none.
        reset_query: &str => |c, v| c.reset_query = Some(v.to_owned())
    );
    setter!(
        /// Prepared statements cached per connection. Default 256.
        statement_cache_capacity: usize => |c, v| c.statement_cache_capacity = v
    );
    setter!(
        /// Named, cached prepared statements (default). Off, every request that runs a
        /// statement carries its own Parse; [`transaction_pooler`](Builder::transaction_pooler)
        /// turns them off whatever this says.
        named_statements: bool => |c, v| c.named_statements = v
    );
    /// One port for every host, or one per host in the order of [`host`](Builder::host).
    pub fn ports(mut self, ports: &[u16]) -> Self {
        self.config.ports = ports.to_vec();
        self
    }

    setter!(
        /// libpq's `target_session_attrs`: the kind of server a connection must land on
        /// (`ReadWrite` for a write pool over a primary and its standbys). Connections already
        /// open are judged again when they come back and before they are handed out after
        /// sitting idle, so a pool follows a promotion. Default `Any`.
        target_session_attrs: TargetSessionAttrs => |c, v| c.target_session_attrs = v
    );
    setter!(
        /// libpq's `load_balance_hosts`: `Random` tries the hosts in a random order for each
        /// connect. Default `Disable`.
        load_balance_hosts: LoadBalanceHosts => |c, v| c.load_balance_hosts = v
    );
    setter!(
        /// libpq's `sslmode`: whether TLS is used and what is verified. Default `prefer` (TLS
        /// when the server offers it), as in libpq. See docs/config.md for the table.
        ssl_mode: SslMode => |c, v| c.ssl_mode = v
    );
    setter!(
        /// Trusted root certificates for `verify-ca` / `verify-full` (a PEM file, or
        /// [`SslRootCert::System`]); with one set, `require` verifies the chain too.
        ssl_root_cert: SslRootCert => |c, v| c.ssl_root_cert = Some(v)
    );
    setter!(
        /// libpq's `channel_binding`: `Require` authenticates only with SCRAM-SHA-256-PLUS
        /// bound to the TLS channel. Default `Prefer`.
        channel_binding: ChannelBinding => |c, v| c.channel_binding = v
    );
    setter!(
        /// libpq's `sslnegotiation`: `Direct` starts TLS without `SSLRequest` (PostgreSQL 17
        /// and later; needs `sslmode` require or stricter). Default `Postgres`.
        ssl_negotiation: SslNegotiation => |c, v| c.ssl_negotiation = v
    );
    setter!(
        /// A rustls configuration of your own (roots, verifier, client certificate), used
        /// instead of the one tarn builds from the settings; `ssl_mode` still decides whether
        /// TLS is used.
        tls_config: Arc<tarn_wire::rustls::ClientConfig> => |c, v| c.tls_config = Some(v)
    );

    /// The client certificate (PEM, with its chain) and its unencrypted private key (PEM:
    /// PKCS#8, PKCS#1 or SEC1), for servers that ask for one (libpq's `sslcert`, `sslkey`).
    pub fn ssl_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.config.ssl_cert = Some(cert.into());
        self.config.ssl_key = Some(key.into());
        self
    }

    setter!(
        /// Transaction-pooler mode, for PgBouncer (or another pooler) in
        /// `pool_mode=transaction`, where consecutive requests may run on different server
        /// connections: every request that runs a statement is self-contained (its own Parse,
        /// Bind, Execute and Sync in one write; only descriptions are cached, client side), no
        /// startup `options`, no `statement_timeout` session setting (an explicit one is an
        /// error), no `reset_query`. URL: `transaction_pooler=true` or `pgbouncer=true`;
        /// environment: `PG_TRANSACTION_POOLER=true`. Default off. See docs/config.md.
        transaction_pooler: bool => |c, v| c.transaction_pooler = v
    );

    /// Receives every pool event (connect, acquire, release, remove, error). Runs on the
    /// thread that caused the event, never under the pool's lock; keep it short. Events also
    /// go to `tracing` whether or not this is set.
    pub fn on_event(mut self, observer: impl Fn(&PoolEvent<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Validates the settings and starts the pool. Connections open in the background
    /// (`min_idle` of them at once); use [`Pool::check_connection`] to verify the database at
    /// start-up.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Cancel safety
    /// Nothing is started until the settings are valid; dropping the future after that drops
    /// the pool, which stops its background task.
    pub async fn build(self) -> Result<Pool, Error> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let config = self.config;
        config.validate()?;
        let mut engine = tarn_pool::Config::default();
        engine.max_size = config.max_size;
        engine.min_idle = config.min_idle;
        engine.acquire_timeout = config.acquire_timeout;
        // The wire client bounds each host's attempt by connect_timeout; a connect over a
        // host list may take several of them.
        engine.connect_timeout = if config.hosts.len() > 1 {
            config.acquire_timeout
        } else {
            config.connect_timeout().min(config.acquire_timeout)
        };
        engine.idle_timeout = config.idle_timeout;
        engine.max_lifetime = config.max_lifetime;
        engine.check_after_idle = config.check_after_idle;
        engine.check_timeout = config.check_timeout;
        engine.breaker_threshold = config.breaker_threshold;
        engine.max_waiters = config.max_waiters;
        let mut builder = tarn_pool::Pool::builder(PgManager::new(Arc::new(config))).config(engine);
        if let Some(observer) = self.observer {
            builder = builder.observer(move |event| observer(event));
        }
        let inner = builder.build().map_err(|e| match e {
            tarn_pool::BuildError::Invalid { setting, reason } => {
                Error::Config(ConfigError::new(setting, reason))
            }
            other => Error::Config(ConfigError::new("runtime", other.to_string())),
        })?;
        Ok(Pool { inner })
    }
}

impl Pool {
    /// A builder with every setting at its default.
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            error: None,
            observer: None,
        }
    }

    /// A pool configured from the environment ([`Config::from_env`]).
    ///
    /// # Cancel safety
    /// As [`Builder::build`].
    pub async fn from_env() -> Result<Pool, Error> {
        Pool::builder().config(Config::from_env()?).build().await
    }

    /// Gets a connection: an idle one, a new one if there is room, or the next one returned
    /// (first come, first served), all within `acquire_timeout`.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped acquire leaves the wait queue and never strands a connection or
    /// a slot.
    pub async fn get(&self) -> Result<PooledConnection, Error> {
        self.inner
            .get()
            .instrument(tracing::debug_span!("tarn.acquire"))
            .await
            .map(PooledConnection)
            .map_err(Error::Acquire)
    }

    /// [`get`](Pool::get) with its own timeout instead of `acquire_timeout`.
    ///
    /// # Cancel safety
    /// As [`get`](Pool::get).
    pub async fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection, Error> {
        self.inner
            .get_timeout(timeout)
            .instrument(tracing::debug_span!("tarn.acquire"))
            .await
            .map(PooledConnection)
            .map_err(Error::Acquire)
    }

    /// Starts a transaction on a connection of its own, returned as an [`OwnedTransaction`]
    /// (`'static`: hold it across `.await`s, move it into a task). The connection goes back to
    /// the pool when the transaction is committed, rolled back or dropped (rolled back first).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped acquire leaves nothing behind; a dropped `BEGIN` is rolled back
    /// before the connection's next use.
    pub async fn begin(&self) -> Result<OwnedTransaction, Error> {
        self.begin_with(&TransactionOptions::default()).await
    }

    /// [`begin`](Pool::begin) with options: isolation level, read-only, deferrable.
    ///
    /// # Cancel safety
    /// As [`begin`](Pool::begin).
    pub async fn begin_with(
        &self,
        options: &TransactionOptions,
    ) -> Result<OwnedTransaction, Error> {
        let conn = self.get().await?;
        OwnedTransaction::begin(conn, options).await
    }

    /// Runs a statement on a connection of its own and returns its rows as a stream that owns
    /// the connection (`'static`); the connection goes back to the pool when the stream ends or
    /// is dropped. Memory is bounded by one message, whatever the result size.
    ///
    /// # Cancel safety
    /// As [`Connection::query_stream`]: a stream dropped early is cancelled on the server and
    /// drained before the connection is reused.
    pub async fn query_stream<S>(
        &self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<RowStream<'static>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut conn = self.get().await?;
        let reader = conn.start_rows(statement, params).await?;
        Ok(RowStream::owned(conn, reader))
    }

    /// Acquires a connection, runs the statement, returns its rows and the connection.
    ///
    /// # Cancel safety
    /// As [`Connection::query`]: a dropped future never lets another caller read its rows.
    pub async fn query<S>(&self, statement: &S, params: Params<'_>) -> Result<Vec<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut conn = self.get().await?;
        conn.query(statement, params).await
    }

    /// Acquires a connection and runs a statement that must return exactly one row.
    ///
    /// # Cancel safety
    /// As [`Pool::query`].
    pub async fn query_one<S>(&self, statement: &S, params: Params<'_>) -> Result<Row, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut conn = self.get().await?;
        conn.query_one(statement, params).await
    }

    /// Acquires a connection and runs a statement that must return at most one row.
    ///
    /// # Cancel safety
    /// As [`Pool::query`].
    pub async fn query_opt<S>(
        &self,
        statement: &S,
        params: Params<'_>,
    ) -> Result<Option<Row>, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut conn = self.get().await?;
        conn.query_opt(statement, params).await
    }

    /// Acquires a connection and runs a statement, returning the rows it affected.
    ///
    /// # Cancel safety
    /// As [`Pool::query`].
    pub async fn execute<S>(&self, statement: &S, params: Params<'_>) -> Result<u64, Error>
    where
        S: ToStatement + ?Sized,
    {
        let mut conn = self.get().await?;
        conn.execute(statement, params).await
    }

    /// Acquires a connection and runs statements with the simple protocol.
    ///
    /// # Cancel safety
    /// As [`Pool::query`].
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        let mut conn = self.get().await?;
        conn.simple_query(sql).await
    }

    /// Runs `SELECT current_database(), now()` and reports the answer with the pool's counts,
    /// or the error. Answers within `acquire_timeout` even when the server is down or does
    /// not answer.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`Pool::query`].
    pub async fn check_connection(&self) -> HealthReport {
        let limit = self.config().acquire_timeout();
        let probe = async {
            let row = self
                .query_one("SELECT current_database(), now()", &[])
                .await?;
            let database: String = row.try_get(0)?;
            let now: chrono::DateTime<chrono::Utc> = row.try_get(1)?;
            Ok::<_, Error>((database, now))
        };
        let outcome = match tokio::time::timeout(limit, probe).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the database did not answer within {limit:?} (acquire_timeout)"
            )),
        };
        let status = self.status();
        let (ok, database, timestamp, error) = match outcome {
            Ok((db, ts)) => (true, Some(db), Some(ts), None),
            Err(e) => (false, None, None, Some(e)),
        };
        HealthReport {
            ok,
            database,
            timestamp,
            error,
            pool_size: status.size,
            idle_count: status.idle,
            waiting_count: status.waiting,
        }
    }

    /// The pool's counts right now: max, size, idle, in use, connecting, waiting.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Cumulative counters since the pool started.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The settings the pool was built with.
    pub fn config(&self) -> &Config {
        self.inner.manager().config()
    }

    /// Changes `max_size` at run time. Shrinking closes idle connections now and the surplus
    /// of in-use ones as they come back.
    pub fn resize(&self, max_size: usize) -> Result<(), Error> {
        self.inner
            .resize(max_size)
            .map_err(|e| Error::Config(ConfigError::new("max_size", e.to_string())))
    }

    /// Closes the pool: new acquires fail at once, waiters are told the pool is closed,
    /// checked-out connections are waited for (up to 30 s) and every connection is closed
    /// with a Terminate. Idempotent.
    ///
    /// # Cancel safety
    /// The pool is closed to new acquires as soon as this is first polled; dropping the future
    /// only stops the waiting for checked-out connections, which are closed as they come back.
    pub async fn close(&self) {
        self.inner.close().await
    }

    /// True once [`close`](Pool::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Registers for SIGTERM and SIGINT (Ctrl-C) now, and returns a future that, once one
    /// arrives, closes the pool and resolves to the signal's name. For a process with no
    /// server in front of the pool (a worker, a batch job).
    ///
    /// **Not for an HTTP service**: closing the pool at the signal fails the requests the
    /// server is still finishing ("the pool is closed"). There, stop the server first and
    /// close the pool after it has drained:
    ///
    /// ```no_run
    /// # async fn demo(pool: tarn::Pool) -> std::io::Result<()> {
    /// let mut signals = tarn::ShutdownSignals::register()?; // registered now, before serving
    /// let drained = async move {
    ///     signals.recv().await;
    /// };
    /// // axum::serve(listener, app).with_graceful_shutdown(drained).await?;
    /// # drained.await;
    /// pool.close().await; // only after the server has finished its requests
    /// # Ok(()) }
    /// ```
    ///
    /// Registration happens before this returns, so no signal sent after it is missed (a
    /// signal sent before registration would end the process with the default action).
    ///
    /// # Cancel safety
    /// Cancel safe until a signal arrives; after that, as [`close`](Pool::close).
    pub fn close_on_shutdown_signal(
        &self,
    ) -> std::io::Result<impl std::future::Future<Output = &'static str> + Send + 'static> {
        let mut signals = ShutdownSignals::register()?;
        let pool = self.clone();
        Ok(async move {
            let signal = signals.recv().await;
            tracing::info!(signal, "tarn: shutdown signal received; closing the pool");
            pool.close().await;
            signal
        })
    }
}

/// SIGTERM and SIGINT handlers, registered when this is made.
#[derive(Debug)]
pub struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    /// Registers the handlers; from now on these signals no longer end the process.
    pub fn register() -> std::io::Result<ShutdownSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(ShutdownSignals {})
        }
    }

    /// Waits for the next SIGTERM or SIGINT and returns its name (on non-unix targets,
    /// Ctrl-C).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// Registers for SIGTERM and SIGINT, waits for one and returns its name. Prefer
/// [`ShutdownSignals::register`] at start-up when a signal could arrive before this is first
/// polled.
///
/// # Cancel safety
/// Cancel safe.
pub async fn shutdown_signal() -> std::io::Result<&'static str> {
    Ok(ShutdownSignals::register()?.recv().await)
}
