//! health-server: an example service that embeds a [`tarn::Pool`].
//!
//! It is meant to be copied. Configuration comes only from the environment and an optional
//! `.env` file ([`Settings`]); the routes are in [`router`]; pool events are logged through
//! `tracing` and pool numbers exported to Prometheus ([`telemetry`]); SIGTERM or SIGINT stops
//! accepting, lets in-flight requests finish within `SHUTDOWN_TIMEOUT`, closes the pool and
//! returns ([`serve_until_signal`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), health_server::StartError> {
//! let settings = health_server::Settings::from_env()?;
//! health_server::run(settings).await // returns after SIGTERM/SIGINT
//! # }
//! ```
//!
//! Start-up order: read settings (a bad value is an error naming the variable), install the
//! metrics recorder, build the pool (connections open in the background), probe the database
//! once and log the answer (a database that is down is logged, not fatal: the service starts
//! and reports 503 until it comes back), create the demo schema when `DEMO_SCHEMA=1`, register
//! the signal handlers, bind, print `listening on http://ADDR` on stdout, serve.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

mod routes;
mod settings;
pub mod telemetry;

pub use routes::{AppState, MAX_SLOW_MS, router};
pub use settings::{DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SHUTDOWN_TIMEOUT, Settings, SettingsError};
use telemetry::PoolMetrics;

/// Why the service could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A variable has a bad value (named in the message).
    Settings(SettingsError),
    /// The `.env` file exists but could not be read or parsed.
    DotEnv(String),
    /// The Prometheus recorder could not be installed.
    Metrics(String),
    /// The pool could not be built.
    Pool(tarn::Error),
    /// `DEMO_SCHEMA=1` and the demo table could not be created.
    Schema(tarn::Error),
    /// The signal handlers could not be registered.
    Signals(std::io::Error),
    /// The listener could not bind `HOST:PORT`.
    Bind {
        /// What was asked for.
        address: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The HTTP server failed.
    Serve(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Settings(e) => write!(f, "{e}"),
            StartError::DotEnv(e) => write!(f, "invalid .env file: {e}"),
            StartError::Metrics(e) => write!(f, "could not install the metrics recorder: {e}"),
            StartError::Pool(e) => write!(f, "could not build the pool: {e}"),
            StartError::Schema(e) => write!(
                f,
                "DEMO_SCHEMA=1 but the demo table could not be created: {e}"
            ),
            StartError::Signals(e) => {
                write!(f, "could not register SIGTERM/SIGINT handlers: {e}")
            }
            StartError::Bind { address, source } => write!(
                f,
                "could not listen on {address} (check HOST and PORT): {source}"
            ),
            StartError::Serve(e) => write!(f, "the HTTP server failed: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Settings(e) => Some(e),
            StartError::Pool(e) | StartError::Schema(e) => Some(e),
            StartError::Signals(e) | StartError::Serve(e) => Some(e),
            StartError::Bind { source, .. } => Some(source),
            StartError::DotEnv(_) | StartError::Metrics(_) => None,
        }
    }
}

impl From<SettingsError> for StartError {
    fn from(e: SettingsError) -> Self {
        StartError::Settings(e)
    }
}

/// Loads `.env` from the working directory (or a parent) into the environment. A missing file
/// is fine; variables already set win over the file.
pub fn load_dotenv() -> Result<(), StartError> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(StartError::DotEnv(e.to_string())),
    }
}

/// Runs the service until SIGTERM or SIGINT, then shuts down gracefully and returns `Ok`.
///
/// Installs the process-wide metrics recorder, so it can run once per process.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let metrics = PoolMetrics::install().map_err(|e| StartError::Metrics(e.to_string()))?;
    let base = settings.pool.clone();
    let mut cluster = tarn::Cluster::builder().pool(move |b| {
        b.config(base.clone())
            .on_event(telemetry::observe_pool_event)
    });
    for url in &settings.replica_urls {
        cluster = cluster.replica(url);
    }
    let cluster = cluster.build().await.map_err(StartError::Pool)?;
    let pool = cluster.writer().clone();

    let report = pool.check_connection().await;
    match (&report.database, &report.error) {
        (Some(database), _) => tracing::info!(database, "database reachable"),
        (None, error) => tracing::warn!(
            error = error.as_deref().unwrap_or(""),
            "database not reachable at start-up; serving 503 on /api/db/health until it is"
        ),
    }
    if settings.demo_schema {
        create_demo_schema(&pool)
            .await
            .map_err(StartError::Schema)?;
    }

    // Registered before the listener exists, so a signal that arrives as soon as the address
    // is printed is never lost (and never kills the process with the default action).
    let mut signals = tarn::ShutdownSignals::register().map_err(StartError::Signals)?;
    let signal = async move { signals.recv().await };
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|source| StartError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(StartError::Serve)?;
    announce(local);

    let app = router(AppState {
        pool: pool.clone(),
        cluster: cluster.clone(),
        metrics,
    });
    let served = serve_until_signal(listener, app, &pool, settings.shutdown_timeout, signal).await;
    // The writer is closed by the graceful shutdown; the replicas go with the cluster.
    cluster.close().await;
    served.map_err(StartError::Serve)
}

/// Prints the one line a person (or a test) needs to find the service. It goes to stdout,
/// which carries nothing else; logs go to stderr.
fn announce(local: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop the service; the address is in the log line too.
    let _ = writeln!(
        out,
        "listening on http://{local} (open http://{local}/api/db/health)"
    );
    let _ = out.flush();
    tracing::info!(%local, "listening");
}

/// Serves `app` until `signal` completes, then: stops accepting, gives in-flight requests up
/// to `drain_timeout` to finish, closes the pool (again bounded by `drain_timeout`) and
/// returns.
///
/// A request still running when the drain time is up is abandoned (its connection is closed
/// when the process exits); the rest of the shutdown goes on.
pub async fn serve_until_signal(
    listener: TcpListener,
    app: axum::Router,
    pool: &tarn::Pool,
    drain_timeout: Duration,
    signal: impl Future<Output = &'static str> + Send + 'static,
) -> std::io::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let on_signal = async move {
        let name = signal.await;
        let _ = signalled_tx.send(name);
    };
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(on_signal)
        .into_future();
    tokio::pin!(server);

    tokio::select! {
        result = &mut server => result?,
        Ok(name) = signalled_rx => {
            tracing::info!(
                signal = name,
                ?drain_timeout,
                "shutdown signal received; no new connections, draining in-flight requests"
            );
            match tokio::time::timeout(drain_timeout, &mut server).await {
                Ok(result) => result?,
                Err(_) => tracing::warn!(
                    ?drain_timeout,
                    "in-flight requests did not finish in time; closing anyway"
                ),
            }
        }
    }

    tracing::info!("closing the pool");
    if tokio::time::timeout(drain_timeout, pool.close())
        .await
        .is_err()
    {
        tracing::warn!("the pool did not close in time; exiting anyway");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Creates the demo table `campaigns (id, name, budget_cents, created_at)` if it does not
/// exist, and seeds it with a few rows when it is empty. Safe to run on every start and from
/// several processes at once (the seed is one statement that inserts only into an empty
/// table; a concurrent duplicate fails on the primary key and is ignored).
pub async fn create_demo_schema(pool: &tarn::Pool) -> Result<(), tarn::Error> {
    pool.simple_query(
        "CREATE TABLE IF NOT EXISTS campaigns (
             id integer PRIMARY KEY,
             name text NOT NULL,
             budget_cents bigint NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let seeded = pool
        .execute(
            "INSERT INTO campaigns (id, name, budget_cents)
             SELECT g, 'campaign ' || g, g * 10000
             FROM generate_series(1, $1::int) AS g
             WHERE NOT EXISTS (SELECT 1 FROM campaigns)
             ON CONFLICT (id) DO NOTHING",
            &[&DEMO_ROWS],
        )
        .await?;
    tracing::info!(seeded, "demo schema ready: campaigns 1..={DEMO_ROWS}");
    Ok(())
}

/// Rows the demo table is seeded with (ids `1..=DEMO_ROWS`).
pub const DEMO_ROWS: i32 = 100;
