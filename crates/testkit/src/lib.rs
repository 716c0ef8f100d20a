//! tarn-testkit: throwaway PostgreSQL servers (optionally behind PgBouncer) for tests and
//! benches, and a fault-injecting TCP proxy.
//!
//! ```no_run
//! # fn main() -> Result<(), tarn_testkit::Error> {
//! use tarn_testkit::Role;
//!
//! // The server shared by this test binary (or DATABASE_URL's) and a fresh database on it.
//! let db = tarn_testkit::test_db()?;
//! let url = db.url(Role::Superuser);
//! db.psql("CREATE TABLE t (id int)")?;
//! # let _ = url;
//! # Ok(()) }
//! ```
//!
//! - [`PgServer`] runs `initdb` and `postgres` from local binaries in a temp dir (as the
//!   `postgres` user when the tests run as root), with one role per authentication method
//!   ([`Role`]); `stop`, `restart`, `kill` and `terminate_backends` drive fault tests, and
//!   `Drop` (or, for the shared server, a reaper process) removes everything.
//! - [`PgBouncer`] runs a real PgBouncer in front of a server, in session, transaction or
//!   statement mode ([`PoolMode`]), authenticating the same roles ([`AuthType`]).
//! - [`TestCerts`] makes CAs, server and client certificates at run time, and
//!   `PgServer::builder().tls(TlsSetup::new(&certs))` (or [`PgServer::shared_tls`]) starts a
//!   server with `ssl=on` and TLS-only roles ([`TlsRole`]: TLS-only password, `cert`, both).
//! - [`ReplicaSet`] is a primary and streaming standbys (each a `PgServer`, made with
//!   `pg_basebackup -R`), with promotion, catch-up waits, apply delays and re-pointing, for
//!   multi-host, `target_session_attrs` and failover tests.
//! - [`FaultProxy`] sits between a client and a server and adds latency, blackholes,
//!   resets or refuses connections on command.
//! - With the `docker` feature, a machine with a Docker engine and no local binaries gets the
//!   official `postgres` image instead.

mod binaries;
#[cfg(feature = "docker")]
mod docker;
mod error;
mod params;
mod pgbouncer;
mod proxy;
mod reaper;
mod replication;
mod server;
mod tls;

pub use error::{Error, Result};
pub use params::{ConnParams, Role, TlsRole};
pub use pgbouncer::{
    AuthType, PgBouncer, PgBouncerBuilder, PoolMode, pgbouncer_available, pgbouncer_binary,
};
pub use proxy::{FaultProxy, ProxyMode};
pub use replication::{Node, ReplicaSet, ReplicaSetBuilder};
pub use server::{PgServer, PgServerBuilder, TestDb};
pub use tls::{
    CA_NAME, ClientCert, OTHER_CA_NAME, PemFile, ServerCert, TestCerts, TlsSetup, WRONG_NAME,
};

/// A fresh database on the shared server of this test binary (see [`PgServer::shared`]).
pub fn test_db() -> Result<TestDb<'static>> {
    PgServer::shared()?.create_database()
}

/// A private server for a test that stops, restarts or kills it; `None` (with the reason
/// printed) when `DATABASE_URL` names a server the testkit must not control.
pub fn controllable_server() -> Result<Option<PgServer>> {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!(
            "skipped: this test stops or kills its server, and DATABASE_URL names a server \
             the testkit must not control"
        );
        return Ok(None);
    }
    PgServer::start().map(Some)
}

/// A primary and `standbys` streaming standbys ([`ReplicaSet::start`]) for a failover test;
/// `None` (with the reason printed) when `DATABASE_URL` names a server: the testkit makes
/// standbys only of servers it started.
pub fn replica_set(standbys: usize) -> Result<Option<ReplicaSet>> {
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!(
            "skipped: this test needs a primary with streaming standbys, which the testkit \
             makes only of servers it starts, and DATABASE_URL names another"
        );
        return Ok(None);
    }
    ReplicaSet::start(standbys).map(Some)
}

/// The TLS server shared by this test binary ([`PgServer::shared_tls`]); `None` (with the reason
/// printed) when `DATABASE_URL` names a server, which has neither the testkit's certificates nor
/// its TLS roles.
pub fn tls_server() -> Result<Option<&'static PgServer>> {
    match PgServer::shared_tls() {
        Ok(server) => Ok(Some(server)),
        Err(e) if e.is_unsupported() => {
            eprintln!("skipped: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
