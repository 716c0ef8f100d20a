//! Test support: a fresh database per test and configs for each role.

use std::path::PathBuf;

use tarn_wire::{Config, Connection};

/// The roles of the auth matrix (mirrors the testkit's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Superuser,
    Cleartext,
    Md5,
    Scram,
}

impl Role {
    pub(crate) const ALL: [Role; 4] = [Role::Superuser, Role::Cleartext, Role::Md5, Role::Scram];

    pub(crate) fn user(self) -> &'static str {
        match self {
            Role::Superuser => "postgres",
            Role::Cleartext => "pass_user",
            Role::Md5 => "md5_user",
            Role::Scram => "scram_user",
        }
    }

    pub(crate) fn password(self) -> Option<&'static str> {
        match self {
            Role::Superuser => None,
            Role::Cleartext => Some("pass_pass"),
            Role::Md5 => Some("md5_pass"),
            Role::Scram => Some("scram_pass"),
        }
    }
}

pub(crate) struct Db {
    port: u16,
    socket_dir: Option<PathBuf>,
    dbname: String,
}

pub(crate) fn db() -> Db {
    let port = std::env::var("WIRE_DEV_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(55432);
    Db {
        port,
        socket_dir: Some(PathBuf::from("/tmp/wiredev")),
        dbname: "wiredev".to_owned(),
    }
}

impl Db {
    pub(crate) fn has_auth_roles(&self) -> bool {
        true
    }

    /// A TCP config for `role` with its right password.
    pub(crate) fn config(&self, role: Role) -> Config {
        let mut config = Config::new();
        config
            .host("127.0.0.1")
            .port(self.port)
            .user(role.user())
            .dbname(&self.dbname)
            .application_name("tarn-wire-tests");
        if let Some(password) = role.password() {
            config.password(password);
        }
        config
    }

    /// A unix-socket config for `role`, if the server has a socket directory.
    pub(crate) fn unix_config(&self, role: Role) -> Option<Config> {
        let dir = self.socket_dir.as_ref()?;
        let mut config = Config::new();
        config
            .unix_socket_dir(dir)
            .port(self.port)
            .user(role.user())
            .dbname(&self.dbname)
            .application_name("tarn-wire-tests");
        if let Some(password) = role.password() {
            config.password(password);
        }
        Some(config)
    }

    pub(crate) async fn connect(&self) -> Connection {
        Connection::connect(&self.config(Role::Superuser))
            .await
            .expect("connect")
    }

    pub(crate) async fn tokio_postgres(&self) -> tokio_postgres::Client {
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            self.port, self.dbname
        );
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connect");
        tokio::spawn(connection);
        client
    }
}
