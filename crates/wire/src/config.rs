//! Connection settings: [`Config`] and the authentication policy [`AuthPolicy`].
//!
//! `Config` is a plain value with builder-style setters (`&mut self -> &mut Self`). It is cheap
//! to clone and is read once per connect. The password is stored but never printed: the
//! `Debug` impl shows `password: Some(<redacted>)`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::DbError;
use crate::tls::{ChannelBinding, SslMode, SslNegotiation, SslRootCert, TlsSettings};

/// A callback for server notices (`NoticeResponse`: `NOTICE`, `WARNING`, ...).
pub type NoticeCallback = Arc<dyn Fn(&DbError) + Send + Sync>;

/// Default [`Config::max_message_size`]: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// Default [`Config::statement_cache_capacity`].
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 256;
/// Default [`Config::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Config::max_scram_iterations`]. `postgres-protocol` refuses more than this too.
pub const DEFAULT_MAX_SCRAM_ITERATIONS: u32 = 100_000;

/// Where to connect: a TCP host name or address, or a directory holding a unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address, resolved at connect time.
    Tcp(String),
    /// A directory containing the server's socket `.s.PGSQL.<port>` (like libpq's `host=/dir`).
    Unix(PathBuf),
}

/// libpq's `target_session_attrs`: the kind of server a connection must land on. Judged from
/// the `in_hot_standby` and `default_transaction_read_only` parameters the server reports
/// (PostgreSQL 14 and later), else with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetSessionAttrs {
    /// Any server (the default).
    #[default]
    Any,
    /// A session that accepts writes by default: not in hot standby, and
    /// `default_transaction_read_only` off.
    ReadWrite,
    /// A session that is read-only by default: in hot standby, or
    /// `default_transaction_read_only` on.
    ReadOnly,
    /// A server not in hot standby.
    Primary,
    /// A server in hot standby.
    Standby,
    /// A standby if any host is one; otherwise any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// Parses libpq's spelling (`any`, `read-write`, `read-only`, `primary`, `standby`,
    /// `prefer-standby`).
    pub fn parse(s: &str) -> Option<TargetSessionAttrs> {
        Some(match s {
            "any" => TargetSessionAttrs::Any,
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "primary" => TargetSessionAttrs::Primary,
            "standby" => TargetSessionAttrs::Standby,
            "prefer-standby" => TargetSessionAttrs::PreferStandby,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }

    /// Judges an open connection from the parameters its server reported, without a round
    /// trip: `Some(Ok(()))` it matches, `Some(Err(why))` it does not, `None` when the server
    /// does not report them (older than PostgreSQL 14). `PreferStandby` and `Any` accept any
    /// session. A pool calls this on connections it already has, to notice a promotion (the
    /// server reports `in_hot_standby` changing).
    pub fn judge(self, conn: &crate::Connection) -> Option<Result<(), &'static str>> {
        let on = |name: &str| conn.parameter(name).map(|v| v == "on");
        Some(match self {
            TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => Ok(()),
            TargetSessionAttrs::ReadWrite => {
                if on("in_hot_standby")? {
                    Err("the server is a standby")
                } else if on("default_transaction_read_only")? {
                    Err("the session is read-only (default_transaction_read_only)")
                } else {
                    Ok(())
                }
            }
            TargetSessionAttrs::ReadOnly => {
                if on("in_hot_standby")? || on("default_transaction_read_only")? {
                    Ok(())
                } else {
                    Err("the session is read-write")
                }
            }
            TargetSessionAttrs::Primary => match on("in_hot_standby")? {
                true => Err("the server is a standby"),
                false => Ok(()),
            },
            TargetSessionAttrs::Standby => match on("in_hot_standby")? {
                true => Ok(()),
                false => Err("the server is not a standby"),
            },
        })
    }
}

/// libpq's `load_balance_hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LoadBalanceHosts {
    /// Try the hosts in the order given (the default).
    #[default]
    Disable,
    /// Try the hosts in a random order, chosen anew for each connect, to spread connections.
    Random,
}

/// An authentication method the server may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// The server accepts the connection without asking for a password.
    Trust,
    /// The password is sent in clear text (`password` in `pg_hba.conf`).
    Cleartext,
    /// The password is sent as a salted MD5 hash (`md5`).
    Md5,
    /// SCRAM-SHA-256 (`scram-sha-256`): the password never crosses the wire.
    ScramSha256,
}

/// The authentication methods the client accepts, like libpq's `require_auth`.
///
/// If the server asks for a method that is not allowed, connecting fails before any password
/// material is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    trust: bool,
    cleartext: bool,
    md5: bool,
    scram: bool,
}

impl AuthPolicy {
    /// Every method is allowed (the default).
    pub const fn any() -> AuthPolicy {
        AuthPolicy {
            trust: true,
            cleartext: true,
            md5: true,
            scram: true,
        }
    }

    /// Only SCRAM-SHA-256: refuses trust, cleartext and md5.
    pub const fn scram_only() -> AuthPolicy {
        AuthPolicy {
            trust: false,
            cleartext: false,
            md5: false,
            scram: true,
        }
    }

    /// Refuses the methods that expose the password or a replayable hash (cleartext, md5);
    /// allows trust and SCRAM-SHA-256.
    pub const fn no_weak_password() -> AuthPolicy {
        AuthPolicy {
            trust: true,
            cleartext: false,
            md5: false,
            scram: true,
        }
    }

    /// Exactly the listed methods.
    pub fn only(methods: &[AuthMethod]) -> AuthPolicy {
        let mut policy = AuthPolicy {
            trust: false,
            cleartext: false,
            md5: false,
            scram: false,
        };
        for method in methods {
            match method {
                AuthMethod::Trust => policy.trust = true,
                AuthMethod::Cleartext => policy.cleartext = true,
                AuthMethod::Md5 => policy.md5 = true,
                AuthMethod::ScramSha256 => policy.scram = true,
            }
        }
        policy
    }

    /// Whether `method` is allowed.
    pub fn allows(&self, method: AuthMethod) -> bool {
        match method {
            AuthMethod::Trust => self.trust,
            AuthMethod::Cleartext => self.cleartext,
            AuthMethod::Md5 => self.md5,
            AuthMethod::ScramSha256 => self.scram,
        }
    }
}

impl Default for AuthPolicy {
    fn default() -> AuthPolicy {
        AuthPolicy::any()
    }
}

/// Connection settings.
///
/// ```
/// use std::time::Duration;
/// let mut config = tarn_wire::Config::new();
/// config
///     .host("127.0.0.1")
///     .port(5432)
///     .user("app")
///     .password("secret")
///     .dbname("app")
///     .application_name("billing")
///     .options("-c statement_timeout=30000")
///     .connect_timeout(Duration::from_secs(5));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) hosts: Vec<Host>,
    /// One port for every host, or one per host.
    pub(crate) ports: Vec<u16>,
    pub(crate) target_session_attrs: TargetSessionAttrs,
    pub(crate) load_balance_hosts: LoadBalanceHosts,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) max_message_size: usize,
    pub(crate) statement_cache_capacity: usize,
    pub(crate) named_statements: bool,
    pub(crate) auth_policy: AuthPolicy,
    pub(crate) max_scram_iterations: u32,
    pub(crate) notice_callback: Option<NoticeCallback>,
    pub(crate) tls: TlsSettings,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// Defaults: no host (connect fails until one is set), port 5432, connect timeout 10 s,
    /// no keepalive, 64 MiB message limit, 256 cached statements, named statements on,
    /// every auth method allowed, `sslmode=prefer` and `channel_binding=prefer` (libpq's
    /// defaults).
    pub fn new() -> Config {
        Config {
            hosts: Vec::new(),
            ports: vec![5432],
            target_session_attrs: TargetSessionAttrs::Any,
            load_balance_hosts: LoadBalanceHosts::Disable,
            user: None,
            password: None,
            dbname: None,
            application_name: None,
            options: None,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            keepalive: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            statement_cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            named_statements: true,
            auth_policy: AuthPolicy::any(),
            max_scram_iterations: DEFAULT_MAX_SCRAM_ITERATIONS,
            notice_callback: None,
            tls: TlsSettings::default(),
        }
    }

    /// Adds a host to try, in order. An absolute path (starting with `/`) is a unix socket
    /// directory, as in libpq.
    pub fn host(&mut self, host: &str) -> &mut Config {
        if host.starts_with('/') {
            self.hosts.push(Host::Unix(PathBuf::from(host)));
        } else {
            self.hosts.push(Host::Tcp(host.to_owned()));
        }
        self
    }

    /// Adds a unix socket directory to try (the socket is `<dir>/.s.PGSQL.<port>`).
    pub fn unix_socket_dir(&mut self, dir: impl AsRef<Path>) -> &mut Config {
        self.hosts.push(Host::Unix(dir.as_ref().to_path_buf()));
        self
    }

    /// The hosts to try, in order.
    pub fn get_hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The server port for every host (also names the unix socket file). Default 5432.
    pub fn port(&mut self, port: u16) -> &mut Config {
        self.ports = vec![port];
        self
    }

    /// One port for every host, or one per host in the order of [`host`](Config::host), as
    /// libpq's comma-separated `port` list. Any other count is refused at connect.
    pub fn ports(&mut self, ports: &[u16]) -> &mut Config {
        self.ports = ports.to_vec();
        self
    }

    /// The port of the first host.
    pub fn get_port(&self) -> u16 {
        self.ports.first().copied().unwrap_or(5432)
    }

    /// The ports, as set.
    pub fn get_ports(&self) -> &[u16] {
        &self.ports
    }

    /// Each host with its port, in the configured order.
    pub(crate) fn targets(&self) -> Vec<(Host, u16)> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = self
                    .ports
                    .get(i)
                    .or(self.ports.first())
                    .copied()
                    .unwrap_or(5432);
                (host.clone(), port)
            })
            .collect()
    }

    /// libpq's `target_session_attrs`: which kind of server a connection must land on.
    /// Default [`TargetSessionAttrs::Any`].
    pub fn target_session_attrs(&mut self, attrs: TargetSessionAttrs) -> &mut Config {
        self.target_session_attrs = attrs;
        self
    }

    /// The `target_session_attrs`.
    pub fn get_target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs
    }

    /// libpq's `load_balance_hosts`: try the hosts in order (default) or in a random order for
    /// each connect.
    pub fn load_balance_hosts(&mut self, mode: LoadBalanceHosts) -> &mut Config {
        self.load_balance_hosts = mode;
        self
    }

    /// The role to connect as. Required.
    pub fn user(&mut self, user: &str) -> &mut Config {
        self.user = Some(user.to_owned());
        self
    }

    /// The user, if set.
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, used only if the server asks for one. Never printed.
    pub fn password(&mut self, password: impl AsRef<[u8]>) -> &mut Config {
        self.password = Some(password.as_ref().to_vec());
        self
    }

    /// Whether a password is set (the password itself is not exposed).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The database name. Defaults (on the server) to the user name.
    pub fn dbname(&mut self, dbname: &str) -> &mut Config {
        self.dbname = Some(dbname.to_owned());
        self
    }

    /// The database name, if set.
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The `application_name` reported in `pg_stat_activity`.
    pub fn application_name(&mut self, name: &str) -> &mut Config {
        self.application_name = Some(name.to_owned());
        self
    }

    /// The application name, if set.
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// The raw `options` startup parameter, e.g. `-c statement_timeout=30000`: settings
    /// applied at connect time without an extra round trip.
    pub fn options(&mut self, options: &str) -> &mut Config {
        self.options = Some(options.to_owned());
        self
    }

    /// The options, if set.
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// A deadline covering the whole connect: DNS, TCP, startup and authentication.
    /// `Duration::ZERO` disables it. Default 10 s. Also bounds a cancel request.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Config {
        self.connect_timeout = if timeout.is_zero() {
            None
        } else {
            Some(timeout)
        };
        self
    }

    /// The connect timeout, if any.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// TCP keepalive idle time; `None` (the default) leaves keepalive off.
    pub fn keepalive(&mut self, idle: Option<Duration>) -> &mut Config {
        self.keepalive = idle;
        self
    }

    /// The keepalive idle time, if on.
    pub fn get_keepalive(&self) -> Option<Duration> {
        self.keepalive
    }

    /// The largest backend message accepted, in bytes (header included). A larger length
    /// header is a protocol error and breaks the connection, so a hostile or broken server
    /// cannot make the client allocate without bound. Default 64 MiB; the floor is 1 KiB.
    pub fn max_message_size(&mut self, bytes: usize) -> &mut Config {
        self.max_message_size = bytes.max(1024);
        self
    }

    /// The message size limit.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// How many prepared statements each connection keeps, by SQL text (LRU). 0 turns the
    /// cache off: every `query(&str)` then prepares and binds (two round trips). Default 256.
    pub fn statement_cache_capacity(&mut self, capacity: usize) -> &mut Config {
        self.statement_cache_capacity = capacity;
        self
    }

    /// The statement cache capacity.
    pub fn get_statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }

    /// Whether to use named prepared statements (default `true`). Set `false` behind
    /// PgBouncer in transaction mode: only the unnamed statement is used and nothing is kept
    /// on the server. The cache then holds descriptions only: a first `query(&str)` costs two
    /// round trips, a repeat one (Parse + Bind + Describe + Execute + Sync in one write).
    pub fn named_statements(&mut self, named: bool) -> &mut Config {
        self.named_statements = named;
        self
    }

    /// Whether named statements are used.
    pub fn get_named_statements(&self) -> bool {
        self.named_statements
    }

    /// Which authentication methods the server may ask for (libpq's `require_auth`).
    pub fn require_auth(&mut self, policy: AuthPolicy) -> &mut Config {
        self.auth_policy = policy;
        self
    }

    /// The authentication policy.
    pub fn get_require_auth(&self) -> AuthPolicy {
        self.auth_policy
    }

    /// The largest SCRAM iteration count the server may ask for (each iteration costs
    /// client CPU). Default and maximum 100 000.
    pub fn max_scram_iterations(&mut self, iterations: u32) -> &mut Config {
        self.max_scram_iterations = iterations.min(DEFAULT_MAX_SCRAM_ITERATIONS);
        self
    }

    /// libpq's `sslmode` (default [`SslMode::Prefer`]); see [`SslMode`] for what each checks.
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Config {
        self.tls.mode = mode;
        self.tls.changed();
        self
    }

    /// The `sslmode`.
    pub fn get_ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// The trusted roots for `verify-ca` / `verify-full` (libpq's `sslrootcert`); setting one
    /// also makes `require` verify the chain, as in libpq. Read when the first connection is
    /// made; a changed file needs a new `Config`.
    pub fn ssl_root_cert(&mut self, root: SslRootCert) -> &mut Config {
        self.tls.root_cert = Some(root);
        self.tls.changed();
        self
    }

    /// The client certificate (PEM, with its chain) and private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1, unencrypted) presented when the server asks (libpq's `sslcert` and `sslkey`).
    pub fn ssl_client_cert(
        &mut self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> &mut Config {
        self.tls.client_cert = Some(cert.as_ref().to_path_buf());
        self.tls.client_key = Some(key.as_ref().to_path_buf());
        self.tls.changed();
        self
    }

    /// libpq's `channel_binding` (default [`ChannelBinding::Prefer`]).
    pub fn channel_binding(&mut self, binding: ChannelBinding) -> &mut Config {
        self.tls.channel_binding = binding;
        self
    }

    /// The `channel_binding` setting.
    pub fn get_channel_binding(&self) -> ChannelBinding {
        self.tls.channel_binding
    }

    /// libpq's `sslnegotiation` (default [`SslNegotiation::Postgres`]).
    pub fn ssl_negotiation(&mut self, negotiation: SslNegotiation) -> &mut Config {
        self.tls.negotiation = negotiation;
        self
    }

    /// A rustls configuration of the caller's (its roots, verifier and client certificate),
    /// used instead of the one built from `ssl_root_cert` and `ssl_client_cert`. The
    /// `sslmode` still decides whether TLS is used at all.
    pub fn tls_config(&mut self, config: std::sync::Arc<rustls::ClientConfig>) -> &mut Config {
        self.tls.custom = Some(config);
        self.tls.changed();
        self
    }

    /// Called with every notice the server sends. Without a callback notices go to
    /// `tracing` (`WARNING` at warn level, others at info).
    pub fn notice_callback(&mut self, callback: NoticeCallback) -> &mut Config {
        self.notice_callback = Some(callback);
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hosts", &self.hosts)
            .field("ports", &self.ports)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive", &self.keepalive)
            .field("max_message_size", &self.max_message_size)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("named_statements", &self.named_statements)
            .field("auth_policy", &self.auth_policy)
            .field("max_scram_iterations", &self.max_scram_iterations)
            .field("tls", &self.tls)
            .field(
                "notice_callback",
                &self.notice_callback.as_ref().map(|_| "<fn>"),
            )
            .finish()
    }
}
