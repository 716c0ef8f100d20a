//! [`HealthReport`]: the answer of [`Pool::check_connection`](crate::Pool::check_connection),
//! ready to serialize as a service's health endpoint.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// `2026-01-01T12:00:00.000Z`.
fn iso_millis<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => s.serialize_none(),
    }
}

/// Whether the database answered, what it said, and the pool's counts at that moment.
///
/// Serializes as the JSON a service's health endpoint answers (the shape Node's `pg` users
/// know): `{"ok": true, "database": "app", "timestamp": "2026-01-01T12:00:00.000Z",
/// "poolSize": 2, "idleCount": 2, "waitingCount": 0}`, with the server's `now()` in UTC with
/// milliseconds (as JavaScript's `toISOString`), or with `"ok": false` and an `"error"` instead
/// of `database` and `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// True when `SELECT current_database(), now()` answered in time.
    pub ok: bool,
    /// The database the pool is connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The server's clock (`now()`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "iso_millis")]
    pub timestamp: Option<DateTime<Utc>>,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Connections open (idle, in use, or being opened).
    pub pool_size: usize,
    /// Connections idle in the pool.
    pub idle_count: usize,
    /// Callers waiting for a connection.
    pub waiting_count: usize,
}
