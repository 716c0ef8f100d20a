//! The container backend (feature `docker`): the official `postgres` image through
//! testcontainers, for machines with a Docker engine and no local PostgreSQL binaries.
//!
//! testcontainers' blocking runner drives its own runtime, which must not run inside the
//! caller's tokio runtime, so the container is started from a plain thread.

use testcontainers::ImageExt;
use testcontainers::runners::SyncRunner;
use testcontainers_modules::postgres::Postgres;

use crate::error::{Error, Result};
use crate::params::ConnParams;
use crate::server::PgServer;

/// A running container; stopped and removed when dropped.
pub(crate) struct Container(testcontainers::Container<Postgres>);

impl Container {
    pub(crate) fn id(&self) -> String {
        self.0.id().to_owned()
    }
}

/// Starts the official `postgres:15` image with trust auth and `fsync=off`.
pub(crate) fn start(max_connections: u32) -> Result<PgServer> {
    let started = std::thread::spawn(move || {
        let container = Postgres::default()
            .with_host_auth()
            .with_tag("15")
            .with_cmd([
                "postgres".to_owned(),
                "-c".into(),
                "fsync=off".into(),
                "-c".into(),
                format!("max_connections={max_connections}"),
            ])
            .start()
            .map_err(|e| Error::msg(format!("could not start the postgres container: {e}")))?;
        let port = container
            .get_host_port_ipv4(5432)
            .map_err(|e| Error::msg(format!("the postgres container has no port 5432: {e}")))?;
        Ok::<_, Error>((Container(container), port))
    })
    .join()
    .map_err(|_| Error::msg("the thread starting the postgres container panicked"))?;
    let (container, port) = started?;
    let admin = ConnParams {
        host: "127.0.0.1".into(),
        port,
        socket_dir: None,
        user: "postgres".into(),
        password: Some("postgres".into()),
        dbname: "postgres".into(),
    };
    Ok(PgServer::from_container(admin, container))
}
