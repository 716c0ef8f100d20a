//! The pools under comparison, each set up the way its documentation recommends, and the
//! operations every scenario runs through them. Shared by the `tarn-loadtest` command and the
//! `postgres_roundtrip` criterion bench, so both measure the same code.
//!
//! Every pool runs the same SQL against the same server. Peers are run at their default and at
//! their fastest documented safe setting, both labelled:
//! - deadpool-postgres: `RecyclingMethod::Fast` (its default) with `prepare_cached` (its fastest:
//!   one round trip per statement, binary results), and with `simple_query` (one round trip,
//!   text results) for those who do not cache statements;
//! - bb8-postgres: `test_on_check_out(true)` (its default: one extra round trip per checkout) and
//!   `false`; bb8-postgres has no statement cache, so both use `simple_query`, the one-round-trip
//!   form. (`query(&str)` would prepare on every call, a second round trip that would flatter
//!   tarn; it is never used.)
//!
//! An [`Endpoint`] says where the pools connect and whether over TLS. Over TLS every pool trusts
//! the same roots (one CA file) and verifies the server fully: tarn through its URL
//! (`sslmode=verify-full&sslrootcert=<ca>`), deadpool-postgres and bb8-postgres through
//! `tokio-postgres-rustls` with a rustls `ClientConfig` built from the same file and the same
//! provider (ring), whose verifier checks the chain and the host name (`sslmode=require` on the
//! tokio-postgres side only makes TLS mandatory; the verifier does the rest).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bb8_postgres::PostgresConnectionManager;
use deadpool_postgres::{ManagerConfig, RecyclingMethod};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where every pool connects: a server URL, plain or over TLS with one set of trusted roots.
#[derive(Clone)]
pub struct Endpoint {
    url: String,
    tls: Option<Tls>,
}

#[derive(Clone)]
struct Tls {
    ca: PathBuf,
    connector: MakeRustlsConnect,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("tls_root", &self.tls.as_ref().map(|t| &t.ca))
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Every pool connects to `url` as it is: tarn with the URL's `sslmode` (libpq's default,
    /// `prefer`, when it has none), the tokio-postgres pools without TLS (`NoTls`).
    pub fn plain(url: &str) -> Endpoint {
        Endpoint {
            url: url.to_owned(),
            tls: None,
        }
    }

    /// Every pool connects to `url` over TLS and verifies the server's certificate (chain and
    /// host name) against the CA certificates in the PEM file `ca`. `url` must not set
    /// `sslmode` or `sslrootcert` itself.
    pub fn tls(url: &str, ca: &Path) -> Result<Endpoint, String> {
        Ok(Endpoint {
            url: url.to_owned(),
            tls: Some(Tls {
                ca: ca.to_owned(),
                connector: MakeRustlsConnect::new(rustls_client_config(ca)?),
            }),
        })
    }

    /// True when the pools connect over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The trusted CA file, over TLS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// The URL tarn (and libpq, for pgbench) connects with: over TLS, the server URL with
    /// `sslmode=verify-full&sslrootcert=<ca>` added.
    pub fn tarn_url(&self) -> String {
        match &self.tls {
            None => self.url.clone(),
            Some(tls) => {
                let separator = if self.url.contains('?') { '&' } else { '?' };
                format!(
                    "{}{separator}sslmode=verify-full&sslrootcert={}",
                    self.url,
                    percent_encode(&tls.ca.to_string_lossy())
                )
            }
        }
    }

    /// The tokio-postgres configuration the deadpool and bb8 pools connect with (TLS
    /// required over TLS; the connector of [`Endpoint::rustls_connector`] verifies).
    pub fn pg_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut config: tokio_postgres::Config = self.url.parse().map_err(err)?;
        if self.tls.is_some() {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        Ok(config)
    }

    /// The `tokio-postgres-rustls` connector, over TLS.
    pub fn rustls_connector(&self) -> Option<&MakeRustlsConnect> {
        self.tls.as_ref().map(|t| &t.connector)
    }
}

/// A rustls client configuration on the ring provider that trusts the CA certificates in the
/// PEM file `ca` and verifies chain and host name (rustls' WebPKI verifier): what
/// `sslmode=verify-full` checks. No client certificate.
pub fn rustls_client_config(ca: &Path) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("{}: {e}", ca.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", ca.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in the file", ca.display()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| format!("TLS setup failed: {e}"))
}

/// Percent-encodes what a URL query value may not hold as it is (a file path's `/` stays).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A pool and the way it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum PoolKind {
    /// tarn with its defaults (cached statements, ping only after 500 ms idle).
    Tarn,
    /// deadpool-postgres, Fast recycling, `prepare_cached`.
    DeadpoolCached,
    /// deadpool-postgres, Fast recycling, `simple_query`.
    DeadpoolSimple,
    /// bb8-postgres with its default `test_on_check_out(true)`, `simple_query`.
    Bb8Default,
    /// bb8-postgres with `test_on_check_out(false)`, `simple_query`.
    Bb8NoTest,
}

impl PoolKind {
    /// Every pool, tarn first.
    pub const ALL: [PoolKind; 5] = [
        PoolKind::Tarn,
        PoolKind::DeadpoolCached,
        PoolKind::DeadpoolSimple,
        PoolKind::Bb8Default,
        PoolKind::Bb8NoTest,
    ];

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            PoolKind::Tarn => "tarn (default)",
            PoolKind::DeadpoolCached => "deadpool fast+prepare_cached",
            PoolKind::DeadpoolSimple => "deadpool fast+simple_query",
            PoolKind::Bb8Default => "bb8 default(test)+simple",
            PoolKind::Bb8NoTest => "bb8 no-test+simple",
        }
    }
}

/// What each operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Scenario {
    /// `SELECT 1`.
    Select1,
    /// 100 rows of five mixed types (int4, text, timestamptz, float8, bool), all decoded.
    Fetch100,
    /// BEGIN; INSERT; UPDATE of one of 100 counters; COMMIT (four round trips).
    WriteTx,
    /// 10 rows of two columns (the criterion bench's fetch).
    Fetch10,
}

impl Scenario {
    /// The scenario's name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Select1 => "select1",
            Scenario::Fetch100 => "fetch100",
            Scenario::WriteTx => "write_tx",
            Scenario::Fetch10 => "fetch10",
        }
    }
}

const SELECT1: &str = "SELECT 1";
const FETCH100: &str = "SELECT g, 'row ' || g::text, now(), g * 1.5::float8, g % 2 = 0 \
                        FROM generate_series(1, 100) g";
const FETCH10: &str = "SELECT g, 'row ' || g::text FROM generate_series(1, 10) g";
const INSERT: &str = "INSERT INTO lt_items (k, v) VALUES ($1, $2)";
const UPDATE: &str = "UPDATE lt_counters SET n = n + 1 WHERE id = $1";

/// Creates the tables the write scenario uses (idempotent).
pub async fn prepare_schema(url: &str) -> Result<(), String> {
    let pool = tarn::Pool::builder()
        .url(url)
        .min_idle(0)
        .max_size(1)
        .application_name("tarn-loadtest-setup")
        .build()
        .await
        .map_err(|e| e.to_string())?;
    pool.simple_query(
        "CREATE TABLE IF NOT EXISTS lt_items (id bigserial PRIMARY KEY, k bigint, v text);
         CREATE TABLE IF NOT EXISTS lt_counters (id int PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO lt_counters SELECT g, 0 FROM generate_series(0, 99) g ON CONFLICT DO NOTHING;",
    )
    .await
    .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(())
}

/// A built pool of one kind.
pub enum Target {
    /// tarn.
    Tarn(tarn::Pool),
    /// deadpool-postgres; `cached` selects `prepare_cached` over `simple_query`.
    Deadpool {
        /// The pool.
        pool: deadpool_postgres::Pool,
        /// Use `prepare_cached`.
        cached: bool,
    },
    /// bb8-postgres.
    Bb8(bb8::Pool<PostgresConnectionManager<NoTls>>),
    /// bb8-postgres over TLS (`tokio-postgres-rustls`).
    Bb8Tls(bb8::Pool<PostgresConnectionManager<MakeRustlsConnect>>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Tarn(_) => "Target::Tarn",
            Target::Deadpool { .. } => "Target::Deadpool",
            Target::Bb8(_) => "Target::Bb8",
            Target::Bb8Tls(_) => "Target::Bb8Tls",
        })
    }
}

/// bb8's settings for every run, whatever its connection manager.
fn bb8_builder<M: bb8::ManageConnection>(size: usize, warm: usize, test: bool) -> bb8::Builder<M> {
    bb8::Pool::builder()
        .max_size(size as u32)
        .min_idle(Some(warm.min(size) as u32))
        .test_on_check_out(test)
        .connection_timeout(Duration::from_secs(30))
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Target {
    /// Builds a pool of `kind` connecting to `endpoint`, with `size` connections at most and
    /// `warm` of them opened before it returns.
    pub async fn build(
        kind: PoolKind,
        endpoint: &Endpoint,
        size: usize,
        warm: usize,
    ) -> Result<Target, String> {
        let target = match kind {
            PoolKind::Tarn => Target::Tarn(
                tarn::Pool::builder()
                    .url(&endpoint.tarn_url())
                    .max_size(size)
                    .min_idle(warm.min(size))
                    .acquire_timeout(Duration::from_secs(30))
                    .application_name("tarn-loadtest")
                    .build()
                    .await
                    .map_err(err)?,
            ),
            PoolKind::DeadpoolCached | PoolKind::DeadpoolSimple => {
                let pg = endpoint.pg_config()?;
                let config = ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                };
                let manager = match endpoint.rustls_connector() {
                    None => deadpool_postgres::Manager::from_config(pg, NoTls, config),
                    Some(tls) => deadpool_postgres::Manager::from_config(pg, tls.clone(), config),
                };
                Target::Deadpool {
                    pool: deadpool_postgres::Pool::builder(manager)
                        .max_size(size)
                        .build()
                        .map_err(err)?,
                    cached: kind == PoolKind::DeadpoolCached,
                }
            }
            PoolKind::Bb8Default | PoolKind::Bb8NoTest => {
                let pg = endpoint.pg_config()?;
                let test = kind == PoolKind::Bb8Default;
                match endpoint.rustls_connector() {
                    None => Target::Bb8(
                        bb8_builder(size, warm, test)
                            .build(PostgresConnectionManager::new(pg, NoTls))
                            .await
                            .map_err(err)?,
                    ),
                    Some(tls) => Target::Bb8Tls(
                        bb8_builder(size, warm, test)
                            .build(PostgresConnectionManager::new(pg, tls.clone()))
                            .await
                            .map_err(err)?,
                    ),
                }
            }
        };
        target.warm(warm).await?;
        Ok(target)
    }

    /// Opens `n` connections by holding `n` checkouts at once, then returns them.
    async fn warm(&self, n: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        match self {
            Target::Tarn(pool) => {
                while pool.status().idle < n && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Target::Deadpool { pool, .. } => {
                let mut held = Vec::new();
                for _ in 0..n {
                    held.push(pool.get().await.map_err(err)?);
                }
            }
            Target::Bb8(pool) => {
                while (pool.state().idle_connections as usize) < n && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            Target::Bb8Tls(pool) => {
                while (pool.state().idle_connections as usize) < n && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        Ok(())
    }

    /// How many connections the pool has opened since it was built.
    pub fn connections_opened(&self) -> u64 {
        match self {
            Target::Tarn(pool) => pool.stats().connections_created,
            // deadpool keeps no counter; it never closes a healthy connection on its own, so
            // its size is what it opened.
            Target::Deadpool { pool, .. } => pool.status().size as u64,
            Target::Bb8(pool) => pool.state().statistics.connections_created,
            Target::Bb8Tls(pool) => pool.state().statistics.connections_created,
        }
    }

    /// Closes the pool and its connections.
    pub async fn close(self) {
        match self {
            Target::Tarn(pool) => pool.close().await,
            Target::Deadpool { pool, .. } => pool.close(),
            Target::Bb8(pool) => drop(pool),
            Target::Bb8Tls(pool) => drop(pool),
        }
    }

    /// Runs one operation of `scenario`; `seq` varies the written values. Returns how long the
    /// checkout took.
    pub async fn op(&self, scenario: Scenario, seq: u64) -> Result<Duration, String> {
        let started = Instant::now();
        match self {
            Target::Tarn(pool) => {
                let mut conn = pool.get().await.map_err(err)?;
                let acquired = started.elapsed();
                tarn_op(&mut conn, scenario, seq).await.map_err(err)?;
                Ok(acquired)
            }
            Target::Deadpool { pool, cached } => {
                let mut conn = pool.get().await.map_err(err)?;
                let acquired = started.elapsed();
                if *cached {
                    deadpool_cached_op(&mut conn, scenario, seq)
                        .await
                        .map_err(err)?;
                } else {
                    simple_op(&conn, scenario, seq).await.map_err(err)?;
                }
                Ok(acquired)
            }
            Target::Bb8(pool) => {
                let conn = pool.get().await.map_err(err)?;
                let acquired = started.elapsed();
                simple_op(&conn, scenario, seq).await.map_err(err)?;
                Ok(acquired)
            }
            Target::Bb8Tls(pool) => {
                let conn = pool.get().await.map_err(err)?;
                let acquired = started.elapsed();
                simple_op(&conn, scenario, seq).await.map_err(err)?;
                Ok(acquired)
            }
        }
    }
}

async fn tarn_op(
    conn: &mut tarn::Connection,
    scenario: Scenario,
    seq: u64,
) -> Result<(), tarn::Error> {
    match scenario {
        Scenario::Select1 => {
            let one: i32 = conn.query_one(SELECT1, &[]).await?.get(0);
            std::hint::black_box(one);
        }
        Scenario::Fetch100 => {
            for row in conn.query(FETCH100, &[]).await? {
                let decoded: (i32, &str, SystemTime, f64, bool) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                std::hint::black_box(decoded);
            }
        }
        Scenario::Fetch10 => {
            for row in conn.query(FETCH10, &[]).await? {
                let decoded: (i32, &str) = (row.get(0), row.get(1));
                std::hint::black_box(decoded);
            }
        }
        Scenario::WriteTx => {
            let (k, v, id) = write_values(seq);
            let mut tx = conn.transaction().await?;
            tx.execute(INSERT, &[&k, &v]).await?;
            tx.execute(UPDATE, &[&id]).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn deadpool_cached_op(
    conn: &mut deadpool_postgres::Client,
    scenario: Scenario,
    seq: u64,
) -> Result<(), tokio_postgres::Error> {
    match scenario {
        Scenario::Select1 => {
            let st = conn.prepare_cached(SELECT1).await?;
            let one: i32 = conn.query_one(&st, &[]).await?.get(0);
            std::hint::black_box(one);
        }
        Scenario::Fetch100 => {
            let st = conn.prepare_cached(FETCH100).await?;
            for row in conn.query(&st, &[]).await? {
                let decoded: (i32, &str, SystemTime, f64, bool) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                std::hint::black_box(decoded);
            }
        }
        Scenario::Fetch10 => {
            let st = conn.prepare_cached(FETCH10).await?;
            for row in conn.query(&st, &[]).await? {
                let decoded: (i32, &str) = (row.get(0), row.get(1));
                std::hint::black_box(decoded);
            }
        }
        Scenario::WriteTx => {
            let (k, v, id) = write_values(seq);
            let tx = conn.transaction().await?;
            let insert = tx.prepare_cached(INSERT).await?;
            let update = tx.prepare_cached(UPDATE).await?;
            tx.execute(&insert, &[&k, &v]).await?;
            tx.execute(&update, &[&id]).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn simple_op(
    conn: &tokio_postgres::Client,
    scenario: Scenario,
    seq: u64,
) -> Result<(), tokio_postgres::Error> {
    use tokio_postgres::SimpleQueryMessage::Row;
    let parse = |s: Option<&str>| s.and_then(|s| s.parse::<f64>().ok()).unwrap_or_default();
    match scenario {
        Scenario::Select1 => {
            for m in conn.simple_query(SELECT1).await? {
                if let Row(r) = m {
                    std::hint::black_box(parse(r.get(0)));
                }
            }
        }
        Scenario::Fetch100 | Scenario::Fetch10 => {
            let sql = if scenario == Scenario::Fetch100 {
                FETCH100
            } else {
                FETCH10
            };
            for m in conn.simple_query(sql).await? {
                if let Row(r) = m {
                    // Text results: parse what the binary clients decode.
                    let decoded = (parse(r.get(0)), r.get(1).map(str::len));
                    std::hint::black_box(decoded);
                    if scenario == Scenario::Fetch100 {
                        std::hint::black_box((r.get(2), parse(r.get(3)), r.get(4) == Some("t")));
                    }
                }
            }
        }
        Scenario::WriteTx => {
            let (k, v, id) = write_values(seq);
            conn.simple_query("BEGIN").await?;
            conn.simple_query(&format!("INSERT INTO lt_items (k, v) VALUES ({k}, '{v}')"))
                .await?;
            conn.simple_query(&format!("UPDATE lt_counters SET n = n + 1 WHERE id = {id}"))
                .await?;
            conn.simple_query("COMMIT").await?;
        }
    }
    Ok(())
}

fn write_values(seq: u64) -> (i64, String, i32) {
    (seq as i64, format!("v{seq}"), (seq % 100) as i32)
}
