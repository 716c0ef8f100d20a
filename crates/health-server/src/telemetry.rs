//! Observability: the Prometheus exporter behind `GET /metrics`, the pool-event observer that
//! logs through `tracing` and feeds the histograms, and the `tracing` subscriber set-up.
//!
//! Gauges and counters are read from the pool at scrape time ([`PoolMetrics::render`] copies
//! `Pool::status()` and `Pool::stats()` into the recorder), so they are exactly the pool's own
//! numbers and cost nothing between scrapes. Only the two histograms (acquire wait, connect
//! duration) need each event, and get it from [`observe_pool_event`]. Formatting is the
//! exporter's; nothing here writes Prometheus text by hand.

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tarn::{PoolEvent, RemoveReason};

/// Histogram of time spent waiting for a connection, from `PoolEvent::Acquired`.
pub const ACQUIRE_WAIT: &str = "tarn_pool_acquire_wait_seconds";
/// Histogram of successful connect durations, from `PoolEvent::Connected`.
pub const CONNECT_DURATION: &str = "tarn_pool_connect_seconds";

/// Bucket bounds (seconds) for both histograms: from an idle hit to a full acquire timeout.
const BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The installed Prometheus recorder and the pool it reports on.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    handle: PrometheusHandle,
}

impl PoolMetrics {
    /// Installs the process-wide recorder (once per process: a second call fails) and
    /// describes every metric so the output carries `# HELP` and units.
    pub fn install() -> Result<PoolMetrics, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(ACQUIRE_WAIT.into()), BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(CONNECT_DURATION.into()), BUCKETS)?
            .install_recorder()?;
        describe();
        Ok(PoolMetrics { handle })
    }

    /// Copies the pool's counts and counters into the recorder and renders the Prometheus
    /// text format.
    pub fn render(&self, pool: &tarn::Pool) -> String {
        let status = pool.status();
        gauge!("tarn_pool_max_size").set(status.max_size as f64);
        gauge!("tarn_pool_size").set(status.size as f64);
        gauge!("tarn_pool_idle").set(status.idle as f64);
        gauge!("tarn_pool_in_use").set(status.in_use as f64);
        gauge!("tarn_pool_connecting").set(status.connecting as f64);
        gauge!("tarn_pool_waiting").set(status.waiting as f64);

        let stats = pool.stats();
        counter!("tarn_pool_gets_total").absolute(stats.gets);
        counter!("tarn_pool_gets_waited_total").absolute(stats.gets_waited);
        counter!("tarn_pool_timeouts_total").absolute(stats.timeouts);
        counter!("tarn_pool_rejected_queue_full_total").absolute(stats.rejected_queue_full);
        counter!("tarn_pool_connections_created_total").absolute(stats.connections_created);
        counter!("tarn_pool_connect_errors_total").absolute(stats.connect_errors);
        for (reason, count) in [
            ("broken", stats.closed_broken),
            ("idle", stats.closed_idle),
            ("lifetime", stats.closed_lifetime),
            ("check_failed", stats.closed_check_failed),
            ("reset_failed", stats.closed_reset_failed),
            ("resized", stats.closed_resized),
            ("close", stats.closed_close),
            ("taken", stats.taken),
        ] {
            counter!("tarn_pool_connections_closed_total", "reason" => reason).absolute(count);
        }
        gauge!("tarn_pool_wait_seconds_max").set(stats.wait_time_max.as_secs_f64());

        self.handle.run_upkeep();
        self.handle.render()
    }
}

fn describe() {
    describe_gauge!(
        "tarn_pool_max_size",
        "The pool's bound on open connections."
    );
    describe_gauge!("tarn_pool_size", "Connections open or being opened.");
    describe_gauge!("tarn_pool_idle", "Connections idle in the pool.");
    describe_gauge!("tarn_pool_in_use", "Connections checked out.");
    describe_gauge!("tarn_pool_connecting", "Connects in flight.");
    describe_gauge!("tarn_pool_waiting", "Callers waiting for a connection.");
    describe_counter!("tarn_pool_gets_total", "Connections handed out.");
    describe_counter!(
        "tarn_pool_gets_waited_total",
        "Connections handed out after waiting in the queue."
    );
    describe_counter!("tarn_pool_timeouts_total", "Acquires that timed out.");
    describe_counter!(
        "tarn_pool_rejected_queue_full_total",
        "Acquires rejected because too many callers were waiting."
    );
    describe_counter!("tarn_pool_connections_created_total", "Connections opened.");
    describe_counter!(
        "tarn_pool_connect_errors_total",
        "Connects that failed or timed out."
    );
    describe_counter!(
        "tarn_pool_connections_closed_total",
        "Connections closed (or taken out), by reason."
    );
    describe_gauge!(
        "tarn_pool_wait_seconds_max",
        Unit::Seconds,
        "Longest time one caller waited for a connection."
    );
    describe_histogram!(
        ACQUIRE_WAIT,
        Unit::Seconds,
        "Time each acquire spent waiting in the queue (zero when a connection was idle)."
    );
    describe_histogram!(
        CONNECT_DURATION,
        Unit::Seconds,
        "Time each successful connect took."
    );
}

/// The pool's event observer: logs each event through `tracing` (target
/// `health_server::pool`) and records the histograms.
///
/// Levels: connects, acquires and releases at debug; a connection leaving for a routine reason
/// (idle, lifetime, resize, close) at info; one leaving because it broke or failed its check
/// or reset at warn; connect and check failures at warn. It runs on the thread that caused
/// the event, never under the pool's lock, and does no I/O beyond the log line.
pub fn observe_pool_event(event: &PoolEvent<'_>) {
    match event {
        PoolEvent::Connected { duration } => {
            histogram!(CONNECT_DURATION).record(duration.as_secs_f64());
            tracing::debug!(target: "health_server::pool", ?duration, "connection opened");
        }
        PoolEvent::ConnectFailed {
            error,
            consecutive_failures,
        } => {
            tracing::warn!(target: "health_server::pool", %error, consecutive_failures, "connect failed");
        }
        PoolEvent::CheckFailed { error } => {
            tracing::warn!(target: "health_server::pool", %error, "health check failed; closing the connection");
        }
        PoolEvent::Acquired { wait } => {
            histogram!(ACQUIRE_WAIT).record(wait.as_secs_f64());
            tracing::debug!(target: "health_server::pool", ?wait, "connection acquired");
        }
        PoolEvent::Released => {
            tracing::trace!(target: "health_server::pool", "connection released");
        }
        PoolEvent::Removed { reason } => match reason {
            RemoveReason::Broken | RemoveReason::CheckFailed | RemoveReason::ResetFailed => {
                tracing::warn!(target: "health_server::pool", ?reason, "connection removed");
            }
            _ => tracing::info!(target: "health_server::pool", ?reason, "connection removed"),
        },
        _ => tracing::debug!(target: "health_server::pool", ?event, "pool event"),
    }
}

/// Sets up `tracing` to stderr (stdout carries only the start-up line). `RUST_LOG` filters;
/// the default shows this service's logs at info and the pool engine's own duplicates of the
/// events above only from warn.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tarn_pool=warn"));
    // `try_init` fails only when a subscriber is already set, which then keeps working.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
