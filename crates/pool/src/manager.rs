//! The [`Manager`] trait: everything the pool needs to know about a kind of connection.
//!
//! The pool never looks inside a connection. It asks the manager to open one (and whether a
//! failed open is worth retrying), to probe and check one that sat idle, whether one coming back
//! is broken or dirty, to clean a dirty one, and to close one.

use std::future::Future;

/// Whether a connect error is worth retrying; see [`Manager::error_class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying may succeed: the server is down, starting up, full, or the network failed.
    Transient,
    /// Retrying cannot succeed until someone changes a setting or the server: bad
    /// credentials, a missing database, an access rule, a protocol or security refusal.
    Permanent,
}

/// Opens, checks, cleans and closes connections for a [`Pool`](crate::Pool).
///
/// The synchronous methods ([`has_broken`](Manager::has_broken),
/// [`needs_reset`](Manager::needs_reset)) run on every return of a connection, possibly inside a
/// guard's `Drop` while a panic unwinds, so they must be cheap and must not panic; so must
/// [`is_dead`](Manager::is_dead) and [`error_class`](Manager::error_class). The pool never holds
/// its lock while calling any method of the manager.
///
/// # Example
///
/// A manager of in-memory "connections" (a counter each), with a switch that makes connects
/// fail, to show the parts a real manager fills in:
///
/// ```
/// use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
///
/// use tarn_pool::{ErrorClass, Manager, Pool};
///
/// #[derive(Debug)]
/// struct Refused;
///
/// impl std::fmt::Display for Refused {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("connection refused")
///     }
/// }
///
/// impl std::error::Error for Refused {}
///
/// /// A connection: an id and the number of uses so far.
/// struct Conn {
///     id: u32,
///     uses: u32,
/// }
///
/// #[derive(Default)]
/// struct Memory {
///     opened: AtomicU32,
///     down: AtomicBool,
/// }
///
/// impl Manager for Memory {
///     type Connection = Conn;
///     type Error = Refused;
///
///     async fn connect(&self) -> Result<Conn, Refused> {
///         if self.down.load(Ordering::Relaxed) {
///             return Err(Refused);
///         }
///         let id = self.opened.fetch_add(1, Ordering::Relaxed);
///         Ok(Conn { id, uses: 0 })
///     }
///
///     async fn check(&self, _conn: &mut Conn) -> Result<(), Refused> {
///         Ok(()) // a real manager sends a ping
///     }
///
///     fn error_class(&self, _error: &Refused) -> ErrorClass {
///         ErrorClass::Transient // worth retrying: the server may come back
///     }
///
///     fn has_broken(&self, conn: &mut Conn) -> bool {
///         conn.uses > 1_000 // a real manager looks at its socket
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder(Memory::default()).max_size(2).build()?;
/// let mut conn = pool.get().await?;
/// conn.uses += 1;
/// let id = conn.id;
/// drop(conn); // back to idle
/// assert_eq!(pool.get().await?.id, id, "the idle connection is reused");
/// assert_eq!(pool.manager().opened.load(Ordering::Relaxed), 1);
/// pool.close().await;
/// # Ok(())
/// # }
/// ```
pub trait Manager: Send + Sync + 'static {
    /// The connection type the pool hands out.
    type Connection: Send + 'static;
    /// The error `connect`, `check` and `reset` report.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Opens a new connection.
    ///
    /// The pool runs this in a task of its own, bounded by
    /// [`connect_timeout`](crate::Builder::connect_timeout); the future may be dropped at any
    /// `.await` when that timeout fires.
    fn connect(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send;

    /// Checks that a connection that sat idle longer than
    /// [`check_after_idle`](crate::Builder::check_after_idle) still works (a ping).
    ///
    /// Bounded by [`check_timeout`](crate::Config::check_timeout) (or what is left of the
    /// caller's acquire timeout, if less); the future is dropped when that runs out. On error or
    /// timeout the connection is closed and the acquire moves on to another connection.
    fn check(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Says whether a failed [`connect`](Manager::connect) is worth retrying.
    ///
    /// [`ErrorClass::Permanent`] errors (wrong password, missing database, a refusal by the
    /// server's access rules, a protocol or security refusal) fail the callers waiting for that
    /// connect at once with [`Error::Connect`](crate::Error::Connect), open the breaker at once
    /// (see [`breaker_threshold`](crate::Config::breaker_threshold)), and slow the retry loop to
    /// [`backoff_max`](crate::Config::backoff_max): retrying cannot fix them and each attempt
    /// costs the server a failed login. [`ErrorClass::Transient`] errors (refused, timed out,
    /// too many clients, starting up) keep the normal backoff and count towards the breaker's
    /// threshold. A connect that runs out of `connect_timeout` is always transient. The default
    /// says transient.
    fn error_class(&self, error: &Self::Error) -> ErrorClass {
        let _ = error;
        ErrorClass::Transient
    }

    /// A cheap probe, without a round trip and without waiting, of a connection that sat idle,
    /// run before it is handed out: true when its peer is known to be gone (the socket was
    /// closed or reset, or bytes arrived that an idle connection never receives). A dead
    /// connection is closed and the acquire moves on to the next idle connection or a new
    /// connect, costing the caller nothing. It cannot see a peer that went silent (that is what
    /// [`check`](Manager::check) with its [`check_timeout`](crate::Config::check_timeout) is
    /// for). The default says alive.
    ///
    /// The pool calls it on a connection taken off the idle list that sat there for any time at
    /// all on its coarse clock (which advances one tick, 5 to 100 ms, at a time), and before
    /// every health check; never on one handed straight from a returning caller or a connect to
    /// a waiter, nor on one returned and taken again within the same clock tick, so a busy pool
    /// rarely calls it.
    fn is_dead(&self, conn: &mut Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Says, cheaply and synchronously, whether a returned connection is broken (socket closed,
    /// protocol error). A broken connection is closed, never reused.
    fn has_broken(&self, conn: &mut Self::Connection) -> bool;

    /// Says, cheaply and synchronously, whether a returned connection is dirty (an open
    /// transaction, an undrained reply) and must go through [`reset`](Manager::reset) before
    /// reuse. The default says no.
    fn needs_reset(&self, conn: &mut Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Cleans a dirty connection so it can be reused. Runs in a spawned task, bounded by
    /// [`reset_timeout`](crate::Builder::reset_timeout); on error or timeout the connection is
    /// closed. The default does nothing.
    fn reset(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Closes a connection gracefully (for PostgreSQL, sends Terminate). Runs in a spawned task;
    /// when no runtime is available the connection is simply dropped instead. The default drops
    /// it.
    fn close(&self, conn: Self::Connection) -> impl Future<Output = ()> + Send {
        drop(conn);
        async {}
    }
}
