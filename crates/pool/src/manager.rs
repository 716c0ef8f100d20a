//! The [`Manager`] trait: everything the pool needs to know about a kind of connection.
//!
//! The pool never looks inside a connection. It asks the manager to open one, to check one that
//! sat idle, whether one coming back is broken or dirty, to clean a dirty one, and to close one.

use std::future::Future;

/// Opens, checks, cleans and closes connections for a [`Pool`](crate::Pool).
///
/// The synchronous methods ([`has_broken`](Manager::has_broken),
/// [`needs_reset`](Manager::needs_reset)) run on every return of a connection, possibly inside a
/// guard's `Drop` while a panic unwinds, so they must be cheap and must not panic. The pool never
/// holds its lock while calling any method of the manager.
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
    /// On error the connection is closed and the acquire moves on to another connection.
    fn check(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

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
