//! Connection parameters and the roles of the auth matrix.

use std::path::PathBuf;

/// A login role on a testkit server. Each password role is tied to one authentication method by
/// a `pg_hba.conf` line (for TCP and for the unix socket alike), so a client's auth matrix can be
/// tested against one server, as rust-postgres's test setup does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The bootstrap superuser, `postgres`, authenticated by `trust` (no password).
    Superuser,
    /// `pass_user`: the cleartext `password` method.
    Cleartext,
    /// `md5_user`: the `md5` method, with an md5-hashed stored password.
    Md5,
    /// `scram_user`: the `scram-sha-256` method.
    Scram,
}

impl Role {
    /// Every role, superuser first.
    pub const ALL: [Role; 4] = [Role::Superuser, Role::Cleartext, Role::Md5, Role::Scram];

    /// The role's user name.
    pub fn user(self) -> &'static str {
        match self {
            Role::Superuser => "postgres",
            Role::Cleartext => "pass_user",
            Role::Md5 => "md5_user",
            Role::Scram => "scram_user",
        }
    }

    /// The role's password; `None` for the trust-authenticated superuser.
    pub fn password(self) -> Option<&'static str> {
        match self {
            Role::Superuser => None,
            Role::Cleartext => Some("pass_password"),
            Role::Md5 => Some("md5_password"),
            Role::Scram => Some("scram_password"),
        }
    }

    /// The `pg_hba.conf` method that authenticates this role.
    pub fn method(self) -> &'static str {
        match self {
            Role::Superuser => "trust",
            Role::Cleartext => "password",
            Role::Md5 => "md5",
            Role::Scram => "scram-sha-256",
        }
    }
}

/// A login role that exists only on TLS servers (see
/// [`PgServerBuilder::tls`](crate::PgServerBuilder::tls)), next to every [`Role`]. Each is bound
/// by `pg_hba.conf` to TLS connections over TCP: `hostssl` lines for `127.0.0.1` and `::1`, and a
/// `reject` for the same role on plain TCP (`hostnossl`) and on the unix socket (`local`).
///
/// A type of its own rather than more [`Role`] variants: code that loops over [`Role::ALL`]
/// expects every role to log in on every testkit server, plain or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsRole {
    /// `ssl_only_user`: `scram-sha-256` over TLS (channel binding offered), refused over plain
    /// TCP.
    SslOnly,
    /// `cert_user`: the `cert` method: a client certificate whose common name is the user,
    /// signed by the server's CA ([`TestCerts::client`](crate::TestCerts::client)); no password.
    Cert,
    /// `cert_password_user`: `scram-sha-256 clientcert=verify-full`: a client certificate for
    /// this user ([`TestCerts::client_cert_and_password`](crate::TestCerts::client_cert_and_password))
    /// *and* the password.
    CertAndPassword,
}

impl TlsRole {
    /// Every TLS-only role.
    pub const ALL: [TlsRole; 3] = [TlsRole::SslOnly, TlsRole::Cert, TlsRole::CertAndPassword];

    /// The role's user name.
    pub fn user(self) -> &'static str {
        match self {
            TlsRole::SslOnly => "ssl_only_user",
            TlsRole::Cert => "cert_user",
            TlsRole::CertAndPassword => "cert_password_user",
        }
    }

    /// The role's password; `None` for the certificate-only role.
    pub fn password(self) -> Option<&'static str> {
        match self {
            TlsRole::SslOnly => Some("ssl_only_password"),
            TlsRole::Cert => None,
            TlsRole::CertAndPassword => Some("cert_password_password"),
        }
    }

    /// The method and options of its `hostssl` line in `pg_hba.conf`.
    pub fn method(self) -> &'static str {
        match self {
            TlsRole::SslOnly => "scram-sha-256",
            TlsRole::Cert => "cert",
            TlsRole::CertAndPassword => "scram-sha-256 clientcert=verify-full",
        }
    }
}

/// Everything a client needs to reach one database as one user.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnParams {
    /// TCP host (always loopback for servers the testkit starts).
    pub host: String,
    /// TCP port; also the number in the unix socket's file name.
    pub port: u16,
    /// The directory of the server's unix socket (`.s.PGSQL.<port>`), when there is one.
    pub socket_dir: Option<PathBuf>,
    /// User name.
    pub user: String,
    /// Password, if the role has one. Never printed by `Debug`.
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
}

impl ConnParams {
    /// A `postgres://` URL for these parameters, over TCP. User and password are
    /// percent-encoded.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse("postgres://localhost/").expect("a constant URL parses");
        // Setting host, port and credentials on a postgres:// URL with a host cannot fail.
        let _ = url.set_host(Some(&self.host));
        let _ = url.set_port(Some(self.port));
        let _ = url.set_username(&self.user);
        let _ = url.set_password(self.password.as_deref());
        url.set_path(&self.dbname);
        url.into()
    }

    /// The path of the unix socket file, when the server has one.
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.socket_dir
            .as_ref()
            .map(|dir| dir.join(format!(".s.PGSQL.{}", self.port)))
    }
}

impl std::fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket_dir", &self.socket_dir)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .finish()
    }
}
