//! [`HealthReport`]: the answer of [`Pool::check_connection`](crate::Pool::check_connection),
//! ready to serialize as a service's health endpoint.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether the database answered, what it said, and the pool's counts at that moment.
///
/// Serializes as `{"ok": true, "database": "...", "timestamp": "...", "pool_size": n,
/// "idle_count": n, "waiting_count": n}`, or with `"ok": false` and an `"error"` instead of
/// `database` and `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// True when `SELECT current_database(), now()` answered in time.
    pub ok: bool,
    /// The database the pool is connected to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The server's clock (`now()`).
    #[serde(skip_serializing_if = "Option::is_none")]
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
