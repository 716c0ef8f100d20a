//! The HTTP routes: [`router`] and its handlers.
//!
//! - `GET /api/db/health`: the pool's health check as the seed's JSON (200 or 503), with each
//!   node of the cluster when the service has read replicas.
//! - `GET /metrics`: Prometheus text format.
//! - `GET /api/campaigns/{id}`: a parameterized query on the demo table, for load tools; a
//!   read, so it goes to a replica when there are any.
//! - `GET /api/slow?ms=N`: a demo route that holds a connection for `pg_sleep(N ms)`, to
//!   watch waiting and graceful shutdown; `N` is at most [`MAX_SLOW_MS`].
//!
//! Every failure answers with a JSON body `{"ok": false, "error": "..."}`; nothing here
//! unwraps anything that came from a request or the network.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::telemetry::PoolMetrics;

/// Longest sleep `GET /api/slow` accepts, in milliseconds.
pub const MAX_SLOW_MS: u64 = 10_000;

/// What every handler shares. Cheap to clone: the pool and the metrics handle are both
/// handles to shared state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The writer's pool (the primary).
    pub pool: tarn::Pool,
    /// The primary and its read replicas; reads go to [`tarn::Cluster::reader`].
    pub cluster: tarn::Cluster,
    /// The Prometheus recorder's handle.
    pub metrics: PoolMetrics,
}

/// The service's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/db/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/campaigns/{id}", get(campaign))
        .route("/api/slow", get(slow))
        .with_state(state)
}

/// The health body, with the seed's camelCase field names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthBody {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// The server's `now()`, RFC 3339 in UTC with milliseconds (as JavaScript's
    /// `toISOString`).
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    pool_size: usize,
    idle_count: usize,
    waiting_count: usize,
    /// Every node (the writer, then each replica) when the service has replicas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<NodeBody>,
}

/// One node in the health body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeBody {
    name: String,
    role: &'static str,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    pool_size: usize,
    idle_count: usize,
    waiting_count: usize,
}

impl NodeBody {
    fn new(role: &'static str, node: tarn::NodeStatus) -> NodeBody {
        NodeBody {
            name: node.name,
            role,
            healthy: node.healthy,
            lag_ms: node
                .lag
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            error: node.last_error,
            pool_size: node.pool.size,
            idle_count: node.pool.idle,
            waiting_count: node.pool.waiting,
        }
    }
}

impl From<tarn::HealthReport> for HealthBody {
    fn from(r: tarn::HealthReport) -> Self {
        HealthBody {
            ok: r.ok,
            database: r.database,
            timestamp: r.timestamp.map(iso_timestamp),
            error: r.error,
            pool_size: r.pool_size,
            idle_count: r.idle_count,
            waiting_count: r.waiting_count,
            nodes: Vec::new(),
        }
    }
}

fn iso_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `GET /api/db/health`. `check_connection` answers within the pool's acquire timeout even
/// when the server is down or silent, so this never hangs longer than that. The status code
/// follows the writer (reads fall back to it when replicas are down); with replicas, `nodes`
/// lists each node's health and lag as the cluster's background checks last saw them.
async fn health(State(state): State<AppState>) -> Response {
    let report = state.pool.check_connection().await;
    let status = state.cluster.status();
    let nodes = if status.replicas.is_empty() {
        Vec::new()
    } else {
        std::iter::once(NodeBody::new("writer", status.writer))
            .chain(
                status
                    .replicas
                    .into_iter()
                    .map(|n| NodeBody::new("replica", n)),
            )
            .collect()
    };
    let status = if report.ok {
        StatusCode::OK
    } else {
        tracing::warn!(
            error = report.error.as_deref().unwrap_or(""),
            "health check failed"
        );
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(HealthBody {
            nodes,
            ..HealthBody::from(report)
        }),
    )
        .into_response()
}

/// `GET /metrics`.
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.pool),
    )
        .into_response()
}

/// A campaign row as JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Campaign {
    id: i32,
    name: String,
    budget_cents: i64,
    created_at: String,
}

/// `GET /api/campaigns/{id}`: one parameterized query.
async fn campaign(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i32>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a campaign id"),
        );
    };
    // A read: the least busy healthy replica, or the primary.
    let row = state
        .cluster
        .reader()
        .query_opt(
            "SELECT id, name, budget_cents, created_at FROM campaigns WHERE id = $1",
            &[&id],
        )
        .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no campaign {id}")),
        Err(e) => return db_error(&e),
    };
    let decoded = (|| {
        Ok::<_, tarn::Error>(Campaign {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            budget_cents: row.try_get(2)?,
            created_at: iso_timestamp(row.try_get(3)?),
        })
    })();
    match decoded {
        Ok(campaign) => Json(campaign).into_response(),
        Err(e) => db_error(&e),
    }
}

/// Query string of `GET /api/slow`.
#[derive(Debug, Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

/// `GET /api/slow?ms=N`: holds a connection for `SELECT pg_sleep($1)`.
async fn slow(
    State(state): State<AppState>,
    params: Result<Query<SlowParams>, QueryRejection>,
) -> Response {
    let Ok(Query(SlowParams { ms })) = params else {
        return error(StatusCode::BAD_REQUEST, "ms must be a whole number".into());
    };
    let ms = ms.unwrap_or(1000);
    if ms > MAX_SLOW_MS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("ms must be at most {MAX_SLOW_MS}"),
        );
    }
    let seconds = ms as f64 / 1000.0;
    match state.pool.execute("SELECT pg_sleep($1)", &[&seconds]).await {
        Ok(_) => Json(serde_json::json!({ "ok": true, "sleptMs": ms })).into_response(),
        Err(e) => db_error(&e),
    }
}

/// 503 when no connection could be had (the database is down or the pool is saturated past
/// its acquire timeout), 500 for anything else.
fn db_error(e: &tarn::Error) -> Response {
    let status = match e {
        tarn::Error::Acquire(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(error = %e, "request failed");
    error(status, e.to_string())
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({ "ok": false, "error": message })),
    )
        .into_response()
}
