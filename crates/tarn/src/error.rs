//! [`Error`]: everything a pool operation can fail with, and predicates to tell the cases
//! apart without matching on the variants.

use std::fmt;
use std::time::Duration;

use tarn_wire::{DbError, SqlState};

use crate::config::ConfigError;

/// An error from the pool or from a query.
///
/// - [`Error::Config`]: a setting is invalid (named in the message).
/// - [`Error::Acquire`]: no connection within `acquire_timeout` (the message says which phase
///   ran out and carries the pool's counts and the last connect error), a connect failed with
///   a permanent error (wrong password, missing database: failed at once), the server is
///   unreachable and the pool fails fast, the pool is closed, or too many callers wait.
///   [`Error::code`] sees through to the last connect error's SQLSTATE.
/// - [`Error::Query`]: the server or the connection failed the query; [`Error::code`] and
///   [`Error::as_db_error`] give the SQLSTATE, message, detail, hint and position.
/// - [`Error::QueryTimeout`]: the client-side `query_timeout` ran out; tarn cancelled the
///   query on the server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid.
    Config(ConfigError),
    /// Getting a connection from the pool failed.
    Acquire(tarn_pool::Error<tarn_wire::Error>),
    /// The query failed: a server error, or the connection broke.
    Query(tarn_wire::Error),
    /// The query ran longer than `query_timeout`.
    QueryTimeout {
        /// The timeout that ran out.
        timeout: Duration,
        /// Whether the server confirmed the cancel (the connection was drained and kept); if
        /// not, the connection was closed.
        cancelled: bool,
    },
    /// An earlier query on this connection timed out and its cancel was not confirmed, so
    /// the connection will be closed when it goes back to the pool; get another one.
    Poisoned,
}

impl Error {
    /// The SQLSTATE of a server error (e.g. `23505` for a unique violation, `57014` for a
    /// statement cancelled by `statement_timeout`).
    ///
    /// For an [`Error::Acquire`], this sees through to the pool's last connect error, so a
    /// wrong password gives `28P01` and a missing database `3D000`.
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(DbError::code)
    }

    /// The server's error with all its fields, if this is one (for an [`Error::Acquire`], the
    /// last connect error's).
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            Error::Query(e) => e.as_db_error(),
            Error::Acquire(e) => last_connect_error(e).and_then(tarn_wire::Error::as_db_error),
            _ => None,
        }
    }

    /// For an [`Error::Acquire`]: the wire error of the pool's last failed connect, if it
    /// failed with one (not a timeout). It names the host (`Error::host`).
    pub fn connect_error(&self) -> Option<&tarn_wire::Error> {
        match self {
            Error::Acquire(e) => last_connect_error(e),
            _ => None,
        }
    }

    /// True for a unique violation (`23505`).
    pub fn is_unique_violation(&self) -> bool {
        self.code() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    /// True for a foreign key violation (`23503`).
    pub fn is_foreign_key_violation(&self) -> bool {
        self.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
    }

    /// True when a transaction failed only because it raced another and may succeed if run
    /// again from the start: a serialization failure (`40001`) or a deadlock (`40P01`). See
    /// [`retry_serializable`](crate::retry_serializable).
    pub fn is_serialization_failure(&self) -> bool {
        matches!(self, Error::Query(e) if e.is_serialization_failure())
    }

    /// True for any timeout: acquire, connect, or query (client side). A server-side
    /// `statement_timeout` is a server error instead (SQLSTATE 57014).
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Acquire(e) => e.is_timeout(),
            Error::Query(e) => e.is_timeout(),
            Error::QueryTimeout { .. } => true,
            Error::Config(_) | Error::Poisoned => false,
        }
    }

    /// True when the client-side `query_timeout` ran out.
    pub fn is_query_timeout(&self) -> bool {
        matches!(self, Error::QueryTimeout { .. })
    }

    /// True when the pool is closed or the connection was closed under the query.
    pub fn is_closed(&self) -> bool {
        match self {
            Error::Acquire(tarn_pool::Error::Closed) | Error::Poisoned => true,
            Error::Query(e) => e.is_closed(),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Acquire(e) => write!(f, "could not get a connection: {e}"),
            Error::Query(e) => e.fmt(f),
            Error::QueryTimeout { timeout, cancelled } => {
                write!(f, "query timed out after {timeout:?} (query_timeout); ")?;
                f.write_str(if *cancelled {
                    "it was cancelled on the server"
                } else {
                    "the server did not confirm the cancel, so the connection was closed"
                })
            }
            Error::Poisoned => f.write_str(
                "this connection is unusable: an earlier query timed out and the server did not \
                 confirm its cancel",
            ),
        }
    }
}

/// `Display` already prints every inner error (the setting, the pool's phase and last connect
/// error, the server's report), so `source()` returns nothing more: a report that walks the
/// chain (`anyhow`'s `{:#}`) prints each message once. The inner errors stay reachable with
/// [`Error::as_db_error`], [`Error::connect_error`] and by matching the variants.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<tarn_wire::Error> for Error {
    fn from(e: tarn_wire::Error) -> Self {
        Error::Query(e)
    }
}

impl From<tarn_pool::Error<tarn_wire::Error>> for Error {
    fn from(e: tarn_pool::Error<tarn_wire::Error>) -> Self {
        Error::Acquire(e)
    }
}

fn last_connect_error(e: &tarn_pool::Error<tarn_wire::Error>) -> Option<&tarn_wire::Error> {
    e.last_connect_error()?.manager_error()
}
