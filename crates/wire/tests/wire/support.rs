//! Test support over the testkit: a fresh database per test and tarn-wire configs for each
//! role of the auth matrix, over TCP or the unix socket.

pub(crate) use tarn_testkit::Role;
use tarn_testkit::{ConnParams, TestDb};
use tarn_wire::{Config, Connection};

pub(crate) struct Db {
    db: TestDb<'static>,
}

/// A fresh, empty database on this binary's shared server.
pub(crate) fn db() -> Db {
    Db {
        db: tarn_testkit::test_db().expect("testkit database"),
    }
}

fn base_config(params: &ConnParams) -> Config {
    let mut config = Config::new();
    config
        .port(params.port)
        .user(&params.user)
        .dbname(&params.dbname)
        .application_name("tarn-wire-tests");
    if let Some(password) = &params.password {
        config.password(password);
    }
    config
}

impl Db {
    /// False under `DATABASE_URL`, where the roles of the auth matrix may not exist.
    pub(crate) fn has_auth_roles(&self) -> bool {
        self.db.server().has_auth_roles()
    }

    /// A TCP config for `role` with its right password.
    pub(crate) fn config(&self, role: Role) -> Config {
        let params = self.db.params(role);
        let mut config = base_config(&params);
        config.host(&params.host);
        config
    }

    /// A unix-socket config for `role`, if the server has a socket directory.
    pub(crate) fn unix_config(&self, role: Role) -> Option<Config> {
        let params = self.db.params(role);
        let dir = params.socket_dir.clone()?;
        let mut config = base_config(&params);
        config.unix_socket_dir(dir);
        Some(config)
    }

    /// The server's TCP address (for a proxy in front of it).
    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        let params = self.db.params(Role::Superuser);
        format!("{}:{}", params.host, params.port)
            .parse()
            .expect("the testkit's host is an IP address")
    }

    /// A superuser config that connects to `addr` instead of the server.
    pub(crate) fn config_via(&self, addr: std::net::SocketAddr) -> Config {
        let params = self.db.params(Role::Superuser);
        let mut config = base_config(&params);
        config.host(&addr.ip().to_string()).port(addr.port());
        config
    }

    /// A superuser connection over TCP.
    pub(crate) async fn connect(&self) -> Connection {
        Connection::connect(&self.config(Role::Superuser))
            .await
            .expect("connect")
    }

    /// A tokio-postgres client on the same database, its connection task spawned.
    pub(crate) async fn tokio_postgres(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.db.url(Role::Superuser), tokio_postgres::NoTls)
                .await
                .expect("tokio-postgres connect");
        tokio::spawn(connection);
        client
    }
}
