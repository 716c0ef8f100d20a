//! [`Cluster`]: a primary and its read replicas as one object: [`Cluster::writer`] for
//! writes (and for reads that must see them), [`Cluster::reader`] for reads spread over the
//! healthy replicas, with health and lag per node watched in the background.
//!
//! # How a reader is picked
//! Among the replicas that are healthy and, with [`ClusterBuilder::max_replica_lag`], not
//! lagging beyond it, the least busy one (fewest connections in use plus callers waiting, read
//! from each pool's counts) wins; ties go round robin, so an idle cluster still spreads. A
//! replica is unhealthy when its last background check failed, or at once when its pool fails
//! fast (its breaker is open: its connects are failing), so a stopped replica is skipped from
//! the first failed connect, before the next background check. When no replica qualifies,
//! readers go to the primary ([`ClusterBuilder::fallback_to_primary`], on by default), or, with
//! the fallback off, to the least busy replica anyway, whose errors then say what is wrong.
//!
//! # Lag
//! Each background check asks every replica how far its replay is behind:
//! `now() - pg_last_xact_replay_timestamp()` while it has received WAL it has not replayed yet,
//! and zero when replay has caught up with what it received (an idle primary writes nothing,
//! so the replay timestamp ages without any real lag). A replica that is not in recovery (it
//! was promoted) reports no lag.
//!
//! # Read-your-writes
//! Replication is asynchronous: a row committed through the writer may not be on a replica yet.
//! A read that must see a write just made goes through [`Cluster::writer`]; that choice is the
//! caller's, never guessed.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tarn_pool::Status;

use crate::config::{Config, ConfigError};
use crate::error::Error;
use crate::health::HealthReport;
use crate::pool::{Builder, Pool};

/// Default [`ClusterBuilder::check_interval`].
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A primary pool and read replica pools, with per-node health.
///
/// Cheap to clone (an `Arc`). The background checks stop when the last clone is dropped or on
/// [`close`](Cluster::close).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Node,
    replicas: Vec<Node>,
    fallback_to_primary: bool,
    max_replica_lag: Option<Duration>,
    /// Round-robin start for ties between equally busy replicas.
    next: AtomicUsize,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// One server of the cluster: its pool and what the background checks last found.
struct Node {
    name: String,
    pool: Pool,
    /// The last background check answered.
    healthy: AtomicBool,
    /// Replay lag in milliseconds at the last check; `u64::MAX` for unknown.
    lag_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Node {
    fn new(pool: Pool) -> Node {
        let name = node_name(pool.config());
        Node {
            name,
            pool,
            healthy: AtomicBool::new(true),
            lag_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// Healthy now: the last check answered and the pool is not failing fast.
    fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed) && !self.pool.status().breaker_open
    }

    fn lag(&self) -> Option<Duration> {
        match self.lag_ms.load(Ordering::Relaxed) {
            u64::MAX => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            name: self.name.clone(),
            healthy: self.is_healthy(),
            lag: self.lag(),
            last_error: self.last_error.lock().clone(),
            pool: self.pool.status(),
        }
    }
}

/// `host:port` of a pool's first host, for status and errors.
fn node_name(config: &Config) -> String {
    let hosts: Vec<String> = config
        .hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .ports()
                .get(i)
                .or(config.ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                crate::Host::Tcp(name) => format!("{name}:{port}"),
                crate::Host::Unix(dir) => format!("{}:{port}", dir.display()),
            }
        })
        .collect();
    hosts.join(",")
}

/// What a node looks like now: for a health endpoint or metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// `host:port` (a list for a multi-host writer).
    pub name: String,
    /// Whether the node is used: its last check answered and its pool is not failing fast.
    pub healthy: bool,
    /// Replay lag at the last check (replicas); `None` when unknown.
    #[serde(serialize_with = "serialize_lag")]
    pub lag: Option<Duration>,
    /// Why the last check failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The node's pool counts.
    #[serde(skip)]
    pub pool: Status,
}

fn serialize_lag<S: serde::Serializer>(lag: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match lag {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}

/// Every node's status: the writer first, then the replicas.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The primary.
    pub writer: NodeStatus,
    /// The replicas, in the order configured.
    pub replicas: Vec<NodeStatus>,
}

/// Builds a [`Cluster`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClusterBuilder {
    writer: Option<String>,
    replicas: Vec<String>,
    base: Option<Box<dyn Fn(Builder) -> Builder + Send + Sync>>,
    fallback_to_primary: bool,
    max_replica_lag: Option<Duration>,
    check_interval: Duration,
}

impl std::fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("replicas", &self.replicas.len())
            .field("fallback_to_primary", &self.fallback_to_primary)
            .field("max_replica_lag", &self.max_replica_lag)
            .field("check_interval", &self.check_interval)
            .finish_non_exhaustive()
    }
}

impl ClusterBuilder {
    /// The primary's connection string. A multi-host string with
    /// `target_session_attrs=read-write` lets the writer follow a failover by itself. Without
    /// it, the writer is the [`pool`](ClusterBuilder::pool) settings as they are (for example
    /// a [`Config::from_env`] given there).
    pub fn writer(mut self, url: &str) -> Self {
        self.writer = Some(url.to_owned());
        self
    }

    /// Adds a replica's connection string (one per replica).
    pub fn replica(mut self, url: &str) -> Self {
        self.replicas.push(url.to_owned());
        self
    }

    /// Adds every replica of a list such as `DATABASE_REPLICA_URLS`: URLs separated by
    /// whitespace, or by a comma right before `postgres://` (a comma elsewhere belongs to a
    /// multi-host URL).
    pub fn replicas(mut self, list: &str) -> Self {
        self.replicas
            .extend(split_urls(list).into_iter().map(str::to_owned));
        self
    }

    /// Pool settings applied to every node's pool (`max_size`, timeouts, TLS, ...), given as a
    /// function of a fresh builder; the node's connection string is applied after it, so it
    /// wins for what it says (host, port, user, ...).
    pub fn pool(mut self, settings: impl Fn(Builder) -> Builder + Send + Sync + 'static) -> Self {
        self.base = Some(Box::new(settings));
        self
    }

    /// Whether [`Cluster::reader`] falls back to the primary when no replica qualifies.
    /// Default true.
    pub fn fallback_to_primary(mut self, fallback: bool) -> Self {
        self.fallback_to_primary = fallback;
        self
    }

    /// Replicas whose replay lag is beyond this are skipped by [`Cluster::reader`] until
    /// they catch up. Default: lag is measured and reported, but not used to skip.
    pub fn max_replica_lag(mut self, lag: Duration) -> Self {
        self.max_replica_lag = Some(lag);
        self
    }

    /// How often the background task checks every node (health and lag). Default 1 s.
    pub fn check_interval(mut self, interval: Duration) -> Self {
        self.check_interval = interval;
        self
    }

    /// Builds every node's pool and starts the background checks. Must be called within a
    /// tokio runtime.
    ///
    /// # Cancel safety
    /// Dropping the future drops the pools built so far.
    pub async fn build(self) -> Result<Cluster, Error> {
        if self.writer.is_none() && self.base.is_none() {
            return Err(ConfigError::new(
                "writer",
                "a cluster needs a writer (the primary): a URL, or the pool settings",
            )
            .into());
        }
        if self.check_interval.is_zero() {
            return Err(ConfigError::new("check_interval", "must be greater than zero").into());
        }
        let settings = |url: &str| {
            let builder = match &self.base {
                Some(f) => f(Pool::builder()),
                None => Pool::builder(),
            };
            builder.url(url)
        };
        let writer = match &self.writer {
            Some(url) => settings(url),
            None => self
                .base
                .as_ref()
                .map_or_else(Pool::builder, |f| f(Pool::builder())),
        };
        let writer = Node::new(writer.build().await?);
        let mut replicas = Vec::new();
        for url in &self.replicas {
            replicas.push(Node::new(settings(url).build().await?));
        }
        let inner = Arc::new(Inner {
            writer,
            replicas,
            fallback_to_primary: self.fallback_to_primary,
            max_replica_lag: self.max_replica_lag,
            next: AtomicUsize::new(0),
            monitor: Mutex::new(None),
        });
        let monitor = tokio::spawn(monitor(Arc::downgrade(&inner), self.check_interval));
        *inner.monitor.lock() = Some(monitor);
        Ok(Cluster { inner })
    }
}

impl Cluster {
    /// A builder: set [`writer`](ClusterBuilder::writer), add
    /// [`replica`](ClusterBuilder::replica)s, then [`build`](ClusterBuilder::build).
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            writer: None,
            replicas: Vec::new(),
            base: None,
            fallback_to_primary: true,
            max_replica_lag: None,
            check_interval: DEFAULT_CHECK_INTERVAL,
        }
    }

    /// A cluster from the environment: `DATABASE_URL` for the writer and
    /// `DATABASE_REPLICA_URLS` for the replicas (URLs separated by whitespace, or by commas
    /// before each `postgres://`), with the pool variables of [`Config::from_env`] for every
    /// node.
    ///
    /// # Cancel safety
    /// As [`ClusterBuilder::build`].
    pub async fn from_env() -> Result<Cluster, Error> {
        let base = Config::from_env()?;
        let replicas = std::env::var("DATABASE_REPLICA_URLS").unwrap_or_default();
        // The writer is the environment's pool; every replica starts from the same settings
        // and its own URL wins for what it says (one without credentials inherits them).
        Cluster::builder()
            .replicas(&replicas)
            .pool(move |b| b.config(base.clone()))
            .build()
            .await
    }

    /// Splits a list of connection strings such as `DATABASE_REPLICA_URLS`: whitespace between
    /// URLs, or a comma right before `postgres://` / `postgresql://`.
    pub fn split_urls(list: &str) -> Vec<&str> {
        split_urls(list)
    }

    /// The primary's pool: every write, and every read that must see the caller's writes.
    pub fn writer(&self) -> &Pool {
        &self.inner.writer.pool
    }

    /// A pool for a read: the least busy healthy replica within `max_replica_lag`, else the
    /// primary (or, with the fallback off, the least busy replica anyway). See the module
    /// docs.
    pub fn reader(&self) -> &Pool {
        let inner = &*self.inner;
        let n = inner.replicas.len();
        if n == 0 {
            return &inner.writer.pool;
        }
        let start = inner.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, &Node)> = None;
        let mut any: Option<(usize, &Node)> = None;
        for i in 0..n {
            let node = &inner.replicas[(start + i) % n];
            let status = node.pool.status();
            let load = status.in_use + status.waiting;
            if any.is_none_or(|(l, _)| load < l) {
                any = Some((load, node));
            }
            let lagging = inner
                .max_replica_lag
                .is_some_and(|max| node.lag().is_none_or(|lag| lag > max));
            if !node.is_healthy() || lagging {
                continue;
            }
            if best.is_none_or(|(l, _)| load < l) {
                best = Some((load, node));
            }
        }
        match (best, any) {
            (Some((_, node)), _) => &node.pool,
            (None, Some((_, node))) if !inner.fallback_to_primary => &node.pool,
            _ => &inner.writer.pool,
        }
    }

    /// Every node's pool: the writer first, then the replicas.
    pub fn pools(&self) -> impl Iterator<Item = &Pool> {
        std::iter::once(&self.inner.writer.pool).chain(self.inner.replicas.iter().map(|n| &n.pool))
    }

    /// Every node's health and lag as the background checks last found them, and their pool
    /// counts now.
    pub fn status(&self) -> ClusterStatus {
        ClusterStatus {
            writer: self.inner.writer.status(),
            replicas: self.inner.replicas.iter().map(Node::status).collect(),
        }
    }

    /// Checks every node now ([`Pool::check_connection`] on each), for a health endpoint:
    /// `(name, report)`, the writer first.
    pub async fn check_connections(&self) -> Vec<(String, HealthReport)> {
        let mut out = Vec::new();
        for node in std::iter::once(&self.inner.writer).chain(&self.inner.replicas) {
            out.push((node.name.clone(), node.pool.check_connection().await));
        }
        out
    }

    /// Stops the background checks and closes every pool (as [`Pool::close`]).
    pub async fn close(&self) {
        if let Some(monitor) = self.inner.monitor.lock().take() {
            monitor.abort();
        }
        for pool in self.pools() {
            pool.close().await;
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("status", &self.status())
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(monitor) = self.monitor.get_mut().take() {
            monitor.abort();
        }
    }
}

/// Splits `DATABASE_REPLICA_URLS`: whitespace between URLs, or a comma right before a scheme
/// (a comma elsewhere belongs to a multi-host URL).
fn split_urls(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for token in s.split_whitespace() {
        let mut rest = token;
        loop {
            let next = [",postgres://", ",postgresql://"]
                .iter()
                .filter_map(|sep| rest.find(sep))
                .min();
            match next {
                Some(at) => {
                    out.push(&rest[..at]);
                    rest = &rest[at + 1..];
                }
                None => {
                    out.push(rest);
                    break;
                }
            }
        }
    }
    out.retain(|u| !u.is_empty());
    out
}

/// The background checks: every `interval`, each node's health, and each replica's lag.
/// Holds only a `Weak`, so it ends with the cluster.
async fn monitor(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // One at a time, each bounded by the interval or 2 s, whichever is longer (a fresh
        // connect to a node that just came back may take a moment on a busy machine): a hung
        // node cannot stall the others for longer than that.
        let bound = interval.max(Duration::from_secs(2));
        check_node(&inner.writer, bound, false).await;
        for node in &inner.replicas {
            check_node(node, bound, true).await;
        }
    }
}

/// The query behind the lag: zero when replay has caught up with what was received, else the
/// age of the last replayed transaction; NULL off recovery.
const LAG_SQL: &str = "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL \
     WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0::float8 \
     ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END";

async fn check_node(node: &Node, bound: Duration, replica: bool) {
    let sql = if replica {
        LAG_SQL
    } else {
        "SELECT NULL::float8"
    };
    let result = tokio::time::timeout(bound, async {
        let mut conn = node.pool.get_timeout(bound).await?;
        conn.query_one(sql, &[]).await
    })
    .await;
    match result {
        Ok(Ok(row)) => {
            let lag: Option<f64> = row.try_get(0).ok().flatten();
            let ms = lag.map_or(0, |secs| (secs.max(0.0) * 1000.0) as u64);
            node.lag_ms.store(ms, Ordering::Relaxed);
            node.healthy.store(true, Ordering::Relaxed);
            *node.last_error.lock() = None;
        }
        Ok(Err(e)) => mark_down(node, e.to_string()),
        Err(_) => mark_down(node, format!("health check timed out after {bound:?}")),
    }
}

fn mark_down(node: &Node, why: String) {
    if node.healthy.swap(false, Ordering::Relaxed) {
        tracing::warn!(node = %node.name, error = %why, "tarn: cluster node unhealthy");
    }
    node.lag_ms.store(u64::MAX, Ordering::Relaxed);
    *node.last_error.lock() = Some(why);
}

#[cfg(test)]
mod tests {
    use super::split_urls;

    #[test]
    fn replica_urls_split_on_whitespace_and_before_a_scheme() {
        assert_eq!(
            split_urls("postgres://a/d postgres://b/d"),
            ["postgres://a/d", "postgres://b/d"]
        );
        assert_eq!(
            split_urls("postgres://a/d,postgresql://b/d"),
            ["postgres://a/d", "postgresql://b/d"]
        );
        // A comma inside a multi-host URL stays.
        assert_eq!(
            split_urls("postgres://h1:1,h2:2/d ,postgres://c/d"),
            ["postgres://h1:1,h2:2/d", "postgres://c/d"]
        );
        assert!(split_urls("  ").is_empty());
    }
}
