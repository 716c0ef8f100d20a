//! Errors: [`Error`] for acquires (generic over the manager's error, saying which phase failed
//! or timed out, or why the pool failed the caller at once), [`ConnectError`] for the last
//! failed connect (with its [`ErrorClass`]), [`BuildError`] for settings.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::manager::ErrorClass;
use crate::stats::Status;

/// The phase an acquire was in when its [`acquire_timeout`](crate::Config::acquire_timeout)
/// ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Every connection was in use: the caller waited for one to come back.
    Waiting,
    /// The pool had room and was opening a connection for the caller (or backing off after
    /// failed connects).
    Connecting,
    /// The caller had a connection and was health-checking it.
    Checking,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Waiting => "waiting for a connection",
            Phase::Connecting => "waiting for a new connection to be opened",
            Phase::Checking => "checking a connection",
        })
    }
}

/// Why the most recent connect attempt failed. Kept by the pool until a connect succeeds and
/// attached to timeouts, so a caller sees why the pool could not grow. The manager's error is
/// shared in an `Arc` because it need not be `Clone`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError<E> {
    /// [`Manager::connect`](crate::Manager::connect) returned this error, which
    /// [`Manager::error_class`](crate::Manager::error_class) classes as transient.
    Failed(Arc<E>),
    /// [`Manager::connect`](crate::Manager::connect) returned this error, which
    /// [`Manager::error_class`](crate::Manager::error_class) classes as permanent: retrying
    /// cannot fix it until a setting or the server changes.
    Permanent(Arc<E>),
    /// The connect did not finish within [`connect_timeout`](crate::Config::connect_timeout).
    TimedOut(Duration),
}

impl<E> ConnectError<E> {
    /// Whether retrying may help: [`ErrorClass::Permanent`] for [`ConnectError::Permanent`],
    /// [`ErrorClass::Transient`] otherwise (a connect that timed out is transient).
    pub fn class(&self) -> ErrorClass {
        match self {
            ConnectError::Permanent(_) => ErrorClass::Permanent,
            ConnectError::Failed(_) | ConnectError::TimedOut(_) => ErrorClass::Transient,
        }
    }

    /// The manager's error, unless the connect timed out.
    pub fn manager_error(&self) -> Option<&E> {
        match self {
            ConnectError::Failed(e) | ConnectError::Permanent(e) => Some(e),
            ConnectError::TimedOut(_) => None,
        }
    }
}

impl<E> Clone for ConnectError<E> {
    fn clone(&self) -> Self {
        match self {
            ConnectError::Failed(e) => ConnectError::Failed(Arc::clone(e)),
            ConnectError::Permanent(e) => ConnectError::Permanent(Arc::clone(e)),
            ConnectError::TimedOut(d) => ConnectError::TimedOut(*d),
        }
    }
}

impl<E: fmt::Display> fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Failed(e) => write!(f, "connect failed: {e}"),
            ConnectError::Permanent(e) => write!(f, "connect failed (permanent error): {e}"),
            ConnectError::TimedOut(d) => write!(f, "connect timed out after {d:?}"),
        }
    }
}

impl<E: StdError + 'static> StdError for ConnectError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.manager_error().map(|e| e as &(dyn StdError + 'static))
    }
}

/// An acquire ran out of time. Carries the phase, the pool's counts at that moment and, if the
/// pool's most recent connect failed, that failure.
#[derive(Debug)]
#[non_exhaustive]
pub struct TimeoutError<E> {
    /// What the acquire was doing when time ran out.
    pub phase: Phase,
    /// The timeout that ran out.
    pub after: Duration,
    /// The pool's counts at that moment.
    pub status: Status,
    /// The most recent connect failure, if no connect has succeeded since.
    pub last_connect_error: Option<ConnectError<E>>,
}

impl<E: fmt::Display> fmt::Display for TimeoutError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.status;
        write!(
            f,
            "timed out after {:?} {} (size {}/{}, idle {}, in use {}, connecting {}, waiting {})",
            self.after, self.phase, s.size, s.max_size, s.idle, s.in_use, s.connecting, s.waiting
        )?;
        if let Some(e) = &self.last_connect_error {
            write!(f, "; last {e}")?;
        }
        Ok(())
    }
}

/// Why an acquire failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The acquire ran out of time; see [`TimeoutError`] for the phase and counts.
    Timeout(TimeoutError<E>),
    /// The pool is closed (or was closed while the caller waited).
    Closed,
    /// [`max_waiters`](crate::Config::max_waiters) callers were already waiting.
    QueueFull {
        /// The configured bound.
        max_waiters: usize,
        /// The most recent connect failure, if no connect has succeeded since.
        last_connect_error: Option<ConnectError<E>>,
    },
    /// [`try_get`](crate::Pool::try_get) found no idle connection.
    Unavailable,
    /// A connect failed with an error the manager classes as permanent
    /// ([`ConnectError::Permanent`]), and the caller was failed at once instead of waiting out
    /// its timeout: it was waiting for that connect, or it arrived while the breaker was open
    /// after such a failure and found no idle connection. See docs/pool.md, "Error classes".
    Connect(ConnectError<E>),
    /// The breaker is open: connects have been failing (see
    /// [`breaker_threshold`](crate::Config::breaker_threshold)), no connection was idle, and a
    /// probe connect was already in flight, so the caller was failed at once instead of waiting
    /// for a connect that would most likely fail too.
    Unreachable {
        /// The most recent connect failure.
        last_connect_error: ConnectError<E>,
        /// Consecutive failed connects so far.
        consecutive_failures: u32,
        /// How long the breaker has been open.
        open_for: Duration,
    },
}

impl<E> Error<E> {
    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// The most recent connect failure attached to this error, if any.
    pub fn last_connect_error(&self) -> Option<&ConnectError<E>> {
        match self {
            Error::Timeout(t) => t.last_connect_error.as_ref(),
            Error::QueueFull {
                last_connect_error, ..
            } => last_connect_error.as_ref(),
            Error::Connect(e) => Some(e),
            Error::Unreachable {
                last_connect_error, ..
            } => Some(last_connect_error),
            Error::Closed | Error::Unavailable => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout(t) => t.fmt(f),
            Error::Closed => f.write_str("the pool is closed"),
            Error::QueueFull {
                max_waiters,
                last_connect_error,
            } => {
                write!(
                    f,
                    "too many callers waiting for a connection (max_waiters {max_waiters})"
                )?;
                if let Some(e) = last_connect_error {
                    write!(f, "; last {e}")?;
                }
                Ok(())
            }
            Error::Unavailable => f.write_str("no idle connection available"),
            Error::Connect(e) => e.fmt(f),
            Error::Unreachable {
                last_connect_error,
                consecutive_failures,
                open_for,
            } => write!(
                f,
                "failing fast: no idle connection, and the last {consecutive_failures} connects \
                 failed (breaker open for {open_for:?}); last {last_connect_error}"
            ),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.last_connect_error()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A setting is invalid, or the pool was built outside a tokio runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The named setting has an invalid value.
    Invalid {
        /// The setting's name, as in [`Config`](crate::Config).
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`Builder::build`](crate::Builder::build) was called outside a tokio runtime.
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Invalid { setting, reason } => {
                write!(f, "invalid pool setting `{setting}`: {reason}")
            }
            BuildError::NoRuntime => f.write_str("a pool must be built within a tokio runtime"),
        }
    }
}

impl StdError for BuildError {}
