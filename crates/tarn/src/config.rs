//! [`Config`]: every setting of a [`Pool`](crate::Pool), from a builder, a URL, a libpq
//! key=value string or the environment, validated in one place.
//!
//! Parsing keeps the name of where each value came from (`PG_POOL_MAX`, `port in
//! DATABASE_URL`, the builder's `min_idle`), so an error can say exactly which input to fix.
//! Passwords are never echoed: not by `Debug`, not in an error.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;
pub use tarn_wire::Host;
use tarn_wire::{
    ChannelBinding, LoadBalanceHosts, SslMode, SslNegotiation, SslRootCert, TargetSessionAttrs,
};

/// A libpq host list (`h1,h2,/socket/dir`): each entry as [`parse_host`] reads it.
pub(crate) fn parse_hosts(hosts: &str) -> Vec<Host> {
    hosts.split(',').map(|h| parse_host(h.trim())).collect()
}

/// A libpq port list (`5432,5433`): one for every host, or one per host.
fn parse_ports(ports: &str) -> Result<Vec<u16>, String> {
    ports
        .split(',')
        .map(|p| parse_port(p).map_err(|why| format!("{:?}: {why}", p.trim())))
        .collect()
}

/// A host string as libpq reads it: an absolute path is a unix socket directory; brackets
/// around an IPv6 address (as URLs write it) are dropped.
pub(crate) fn parse_host(host: &str) -> Host {
    if host.starts_with('/') {
        Host::Unix(PathBuf::from(host))
    } else {
        Host::Tcp(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
    }
}

/// An invalid setting: names the setting (or environment variable, or URL part) and says what
/// is wrong with its value. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: String,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The setting, variable or URL part at fault (e.g. `PG_POOL_MAX`, `max_size`,
    /// `port in DATABASE_URL`).
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Default `max_size` (`PG_POOL_MAX`).
pub const DEFAULT_MAX_SIZE: usize = 20;
/// Default `min_idle` (`PG_POOL_MIN`).
pub const DEFAULT_MIN_IDLE: usize = 2;
/// Default `idle_timeout` (`PG_IDLE_TIMEOUT`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `acquire_timeout` (`PG_CONNECTION_TIMEOUT`).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `statement_timeout` (`PG_STATEMENT_TIMEOUT`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `query_timeout` (`PG_QUERY_TIMEOUT`).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `check_timeout`: a ping answers in about a millisecond on a LAN; this bounds what
/// a silent (half-open) idle connection costs the caller who drew it.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
/// Default `breaker_threshold`: consecutive failed connects, with nothing idle, after which
/// callers fail fast instead of each waiting `acquire_timeout`.
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 3;
/// Default `max_lifetime`.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// Default `application_name` (`PG_APP_NAME`, `PGAPPNAME`).
pub const DEFAULT_APPLICATION_NAME: &str = "tarn";

/// Every setting of a pool. See `docs/config.md` for the table of settings, their
/// environment variables, defaults and what each protects against.
///
/// Build one with [`Pool::builder`](crate::Pool::builder), [`Config::from_url`] or
/// [`Config::from_env`]; read it back with the getters.
#[derive(Clone)]
pub struct Config {
    /// The hosts to try, in order (libpq's comma-separated `host`).
    pub(crate) hosts: Vec<Host>,
    /// One port for every host, or one per host.
    pub(crate) ports: Vec<u16>,
    pub(crate) target_session_attrs: TargetSessionAttrs,
    pub(crate) load_balance_hosts: LoadBalanceHosts,
    pub(crate) user: String,
    pub(crate) password: Option<String>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: String,
    pub(crate) options: Option<String>,
    pub(crate) max_size: usize,
    pub(crate) min_idle: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) acquire_timeout: Duration,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) query_timeout: Option<Duration>,
    pub(crate) slow_query_threshold: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) check_after_idle: Option<Duration>,
    pub(crate) check_timeout: Duration,
    pub(crate) breaker_threshold: Option<u32>,
    pub(crate) max_waiters: Option<usize>,
    pub(crate) reset_query: Option<String>,
    pub(crate) statement_cache_capacity: usize,
    pub(crate) named_statements: bool,
    /// Behind a transaction pooler (PgBouncer `pool_mode=transaction`): self-contained
    /// requests, no session state.
    pub(crate) transaction_pooler: bool,
    /// `statement_timeout` was set by the user (builder, URL or environment), not defaulted.
    pub(crate) statement_timeout_set: bool,
    pub(crate) ssl_mode: SslMode,
    pub(crate) ssl_root_cert: Option<SslRootCert>,
    pub(crate) ssl_cert: Option<PathBuf>,
    pub(crate) ssl_key: Option<PathBuf>,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) ssl_negotiation: SslNegotiation,
    pub(crate) tls_config: Option<Arc<tarn_wire::rustls::ClientConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosts: vec![Host::Tcp("localhost".into())],
            ports: vec![5432],
            target_session_attrs: TargetSessionAttrs::Any,
            load_balance_hosts: LoadBalanceHosts::Disable,
            user: "postgres".into(),
            password: None,
            dbname: None,
            application_name: DEFAULT_APPLICATION_NAME.into(),
            options: None,
            max_size: DEFAULT_MAX_SIZE,
            min_idle: DEFAULT_MIN_IDLE,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            connect_timeout: None,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            query_timeout: Some(DEFAULT_QUERY_TIMEOUT),
            slow_query_threshold: None,
            max_lifetime: Some(DEFAULT_MAX_LIFETIME),
            check_after_idle: Some(Duration::from_millis(500)),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            breaker_threshold: Some(DEFAULT_BREAKER_THRESHOLD),
            max_waiters: None,
            reset_query: None,
            statement_cache_capacity: tarn_wire::DEFAULT_STATEMENT_CACHE_CAPACITY,
            named_statements: true,
            transaction_pooler: false,
            statement_timeout_set: false,
            ssl_mode: SslMode::Prefer,
            ssl_root_cert: None,
            ssl_cert: None,
            ssl_key: None,
            channel_binding: ChannelBinding::Prefer,
            ssl_negotiation: SslNegotiation::Postgres,
            tls_config: None,
        }
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
            .field("max_size", &self.max_size)
            .field("min_idle", &self.min_idle)
            .field("idle_timeout", &self.idle_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("connect_timeout", &self.connect_timeout())
            .field("statement_timeout", &self.statement_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("slow_query_threshold", &self.slow_query_threshold)
            .field("max_lifetime", &self.max_lifetime)
            .field("check_after_idle", &self.check_after_idle)
            .field("check_timeout", &self.check_timeout)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("max_waiters", &self.max_waiters)
            .field("reset_query", &self.reset_query)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("named_statements", &self.named_statements)
            .field("transaction_pooler", &self.transaction_pooler)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("ssl_cert", &self.ssl_cert)
            .field("ssl_key", &self.ssl_key)
            .field("channel_binding", &self.channel_binding)
            .field("ssl_negotiation", &self.ssl_negotiation)
            .field("tls_config", &self.tls_config.is_some())
            .finish()
    }
}

impl Config {
    /// Reads a connection string: a `postgres://` (or `postgresql://`) URL, or a libpq
    /// `key=value` string. Pool settings keep their defaults.
    ///
    /// Understood: host (a name, an address, or a unix socket directory: `?host=/dir`, a
    /// percent-encoded path in the host position, or `host=/dir`), port, user, password
    /// (percent-encoded in URLs), dbname, `application_name`, `options`, `connect_timeout`
    /// (seconds, as libpq), `transaction_pooler` (or its alias `pgbouncer`: `true`/`false`),
    /// the TLS parameters `sslmode`, `sslrootcert` (a file, or `system`), `sslcert`, `sslkey`,
    /// `channel_binding`, `sslnegotiation`, and these with the values that need nothing tarn
    /// lacks: `target_session_attrs=any`, `load_balance_hosts=disable`, `client_encoding=UTF8`,
    /// `gssencmode` (`disable`, `prefer`), `sslcertmode=allow`, `sslsni=1`. Every other libpq
    /// parameter is an error that names it.
    pub fn from_url(s: &str) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.apply_connection_string(s, "connection string")?;
        config.validate()?;
        Ok(config)
    }

    /// Reads the environment: `DATABASE_URL`, the libpq variables (`PGHOST`, `PGPORT`,
    /// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGAPPNAME`, `PGOPTIONS`, `PGCONNECT_TIMEOUT`,
    /// `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `PGCHANNELBINDING`,
    /// `PGSSLNEGOTIATION`, and `PGTARGETSESSIONATTRS`, `PGLOADBALANCEHOSTS`,
    /// `PGCLIENTENCODING`, `PGGSSENCMODE`, `PGSSLCERTMODE`, `PGSSLSNI` with the values
    /// [`from_url`](Config::from_url) accepts), and the pool variables `PG_POOL_MAX`,
    /// `PG_POOL_MIN`, `PG_IDLE_TIMEOUT`, `PG_CONNECTION_TIMEOUT`, `PG_STATEMENT_TIMEOUT`,
    /// `PG_QUERY_TIMEOUT` (milliseconds), `PG_APP_NAME` and `PG_TRANSACTION_POOLER`
    /// (`true`/`false`).
    ///
    /// As in libpq, a libpq variable is the fallback for what `DATABASE_URL` does not say
    /// (`PGSSLMODE=require` applies to a URL without `sslmode`). Every other variable libpq
    /// reads (`PGSERVICE`, `PGPASSFILE`, `PGSSLCRL`, ...) is an error naming it when set,
    /// never ignored. An unset or empty variable keeps its default. A bad value is an error
    /// naming the variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Config::from_env`] over any source of variables (a map in tests, a secrets store).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut config = Config::default();
        let mut from_url = Vec::new();
        if let Some(url) = get("DATABASE_URL") {
            from_url = config.apply_connection_string(&url, "DATABASE_URL")?;
        }
        for &(variable, keyword) in LIBPQ_VARIABLES {
            if from_url.iter().any(|k| k == keyword) {
                continue;
            }
            if let Some(value) = get(variable) {
                config.apply_param(keyword, value, variable)?;
            }
        }
        if let Some(app) = get("PG_APP_NAME") {
            config.application_name = app;
        }
        let count = |name: &str, min: usize| -> Result<Option<usize>, ConfigError> {
            get(name)
                .map(|v| match v.trim().parse::<usize>() {
                    Ok(n) if n >= min => Ok(n),
                    Ok(_) => Err(env_error(name, &v, format!("must be at least {min}"))),
                    Err(_) => Err(env_error(name, &v, "not a whole number")),
                })
                .transpose()
        };
        let millis = |name: &str| -> Result<Option<u64>, ConfigError> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| env_error(name, &v, "not a whole number of milliseconds"))
                })
                .transpose()
        };
        if let Some(n) = count("PG_POOL_MAX", 1)? {
            config.max_size = n;
        }
        if let Some(n) = count("PG_POOL_MIN", 0)? {
            config.min_idle = n;
        }
        if config.min_idle > config.max_size {
            return Err(ConfigError::new(
                "PG_POOL_MIN",
                format!(
                    "PG_POOL_MIN ({}) is greater than PG_POOL_MAX ({})",
                    config.min_idle, config.max_size
                ),
            ));
        }
        if let Some(ms) = millis("PG_IDLE_TIMEOUT")? {
            config.idle_timeout = nonzero_ms(ms);
        }
        if let Some(ms) = millis("PG_CONNECTION_TIMEOUT")? {
            if ms == 0 {
                return Err(env_error(
                    "PG_CONNECTION_TIMEOUT",
                    "0",
                    "must be at least 1 ms (a pool that waits forever hides an outage)",
                ));
            }
            config.acquire_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = millis("PG_STATEMENT_TIMEOUT")? {
            config.statement_timeout = nonzero_ms(ms);
            config.statement_timeout_set = true;
        }
        if let Some(v) = get("PG_TRANSACTION_POOLER") {
            config.transaction_pooler = parse_bool(&v)
                .ok_or_else(|| env_error("PG_TRANSACTION_POOLER", &v, "not true or false"))?;
        }
        if let Some(ms) = millis("PG_QUERY_TIMEOUT")? {
            config.query_timeout = nonzero_ms(ms);
        }
        if let Some(ms) = millis("PG_SLOW_QUERY_THRESHOLD")? {
            config.slow_query_threshold = nonzero_ms(ms);
        }
        config.validate()?;
        Ok(config)
    }

    /// Applies a URL or key=value string; `source` names it in errors. Returns the libpq
    /// keywords it set, so the environment does not override them.
    pub(crate) fn apply_connection_string(
        &mut self,
        s: &str,
        source: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let s = s.trim();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            self.apply_url(s, source)
        } else if s.contains('=') {
            let mut keys = Vec::new();
            for (key, value) in parse_key_values(s, source)? {
                self.apply_param(&key, value, &format!("{key} in {source}"))?;
                keys.push(key);
            }
            Ok(keys)
        } else {
            Err(ConfigError::new(
                source,
                "expected a postgres:// URL or libpq key=value pairs",
            ))
        }
    }

    fn apply_url(&mut self, s: &str, source: &str) -> Result<Vec<String>, ConfigError> {
        // libpq's multi-host form (`postgres://u@h1:p1,h2:p2/db`) is not a URL the url crate
        // accepts: take the host list out, parse the rest with one placeholder host.
        let (s, host_list) = split_host_list(s);
        let url = url::Url::parse(&s).map_err(|e| {
            // The url crate's messages name the part ("invalid port number") and never echo
            // the input, so no password can leak through them.
            ConfigError::new(source, format!("not a valid URL: {e}"))
        })?;
        let mut keys = Vec::new();
        if let Some(list) = host_list {
            let mut hosts = Vec::new();
            let mut ports = Vec::new();
            for entry in list.split(',') {
                let (host, port) = split_host_port(entry);
                if host.is_empty() {
                    return Err(ConfigError::new(
                        format!("host in {source}"),
                        "an empty host in the host list",
                    ));
                }
                hosts.push(parse_host(&percent_decode(host)));
                ports.push(match port {
                    Some(p) => parse_port(p)
                        .map_err(|why| ConfigError::new(format!("port in {source}"), why))?,
                    None => 5432,
                });
            }
            self.hosts = hosts;
            self.ports = ports;
            keys.extend(["host".to_owned(), "port".to_owned()]);
        } else {
            if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
                self.hosts = vec![parse_host(&percent_decode(host))];
                keys.push("host".to_owned());
            }
            if let Some(port) = url.port() {
                if port == 0 {
                    return Err(ConfigError::new(
                        format!("port in {source}"),
                        "0 is not a port",
                    ));
                }
                self.ports = vec![port];
                keys.push("port".to_owned());
            }
        }
        if !url.username().is_empty() {
            self.user = percent_decode(url.username());
            keys.push("user".to_owned());
        }
        if let Some(password) = url.password() {
            self.password = Some(percent_decode(password));
            keys.push("password".to_owned());
        }
        let db = url.path().trim_start_matches('/');
        if !db.is_empty() {
            self.dbname = Some(percent_decode(db));
            keys.push("dbname".to_owned());
        }
        for (key, value) in url.query_pairs() {
            self.apply_param(&key, value.into_owned(), &format!("{key} in {source}"))?;
            keys.push(key.into_owned());
        }
        Ok(keys)
    }

    /// Applies one libpq keyword; `at` names where it came from (`sslmode in DATABASE_URL`,
    /// `PGSSLMODE`) in errors.
    pub(crate) fn apply_param(
        &mut self,
        key: &str,
        value: String,
        at: &str,
    ) -> Result<(), ConfigError> {
        let err = |problem: String| ConfigError::new(at, problem);
        // Values that ask for nothing tarn lacks are accepted; any other value is refused
        // with what tarn can do instead, never silently dropped.
        let only = |allowed: &[&str], why: &str| -> Result<(), ConfigError> {
            if allowed.iter().any(|a| a.eq_ignore_ascii_case(value.trim())) {
                Ok(())
            } else {
                Err(err(format!("{value:?} is not supported: {why}")))
            }
        };
        match key {
            "host" => self.hosts = parse_hosts(&value),
            "port" => self.ports = parse_ports(&value).map_err(err)?,
            "target_session_attrs" => {
                self.target_session_attrs =
                    TargetSessionAttrs::parse(value.trim()).ok_or_else(|| {
                        err(format!(
                            "{value:?} is not a target_session_attrs (any, read-write, \
                             read-only, primary, standby, prefer-standby)"
                        ))
                    })?
            }
            "load_balance_hosts" => {
                self.load_balance_hosts = match value.trim() {
                    "disable" => LoadBalanceHosts::Disable,
                    "random" => LoadBalanceHosts::Random,
                    _ => {
                        return Err(err(format!(
                            "{value:?} is not a load_balance_hosts (disable, random)"
                        )));
                    }
                }
            }
            "user" => self.user = value,
            "password" => self.password = Some(value),
            "dbname" => self.dbname = Some(value),
            "application_name" => self.application_name = value,
            "options" => self.options = Some(value),
            "connect_timeout" => {
                let secs: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("{value:?} is not a whole number of seconds")))?;
                self.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "transaction_pooler" | "pgbouncer" => {
                self.transaction_pooler = parse_bool(&value)
                    .ok_or_else(|| err(format!("{value:?} is not true or false")))?;
            }
            "sslmode" => {
                self.ssl_mode = SslMode::parse(value.trim()).ok_or_else(|| {
                    err(format!(
                        "{value:?} is not an sslmode (disable, allow, prefer, require, \
                         verify-ca, verify-full)"
                    ))
                })?
            }
            "sslrootcert" => {
                self.ssl_root_cert = Some(match value.as_str() {
                    "system" => SslRootCert::System,
                    path => SslRootCert::File(PathBuf::from(path)),
                })
            }
            "sslcert" => self.ssl_cert = Some(PathBuf::from(value)),
            "sslkey" => self.ssl_key = Some(PathBuf::from(value)),
            "channel_binding" => {
                self.channel_binding = ChannelBinding::parse(value.trim()).ok_or_else(|| {
                    err(format!(
                        "{value:?} is not a channel_binding (disable, prefer, require)"
                    ))
                })?
            }
            "sslnegotiation" => {
                self.ssl_negotiation = match value.trim() {
                    "postgres" => SslNegotiation::Postgres,
                    "direct" => SslNegotiation::Direct,
                    _ => {
                        return Err(err(format!(
                            "{value:?} is not an sslnegotiation (postgres, direct)"
                        )));
                    }
                }
            }
            "sslpassword" => {
                return Err(err(
                    "encrypted private keys are not supported; give sslkey an unencrypted \
                     key (e.g. `openssl pkey -in key.pem -out plain.pem`)"
                        .into(),
                ));
            }
            "sslcertmode" => only(
                &["allow"],
                "tarn presents a client certificate when the server asks for one",
            )?,
            "sslsni" => only(
                &["1"],
                "tarn always sends the host name (SNI) for a DNS name",
            )?,
            "client_encoding" => only(
                &["UTF8", "UTF-8"],
                "tarn always uses UTF8, which decodes every server encoding's text",
            )?,
            "gssencmode" => only(
                &["disable", "prefer"],
                "tarn does not support GSSAPI encryption",
            )?,
            other if LIBPQ_UNSUPPORTED.contains(&other) => {
                return Err(err(format!(
                    "the libpq parameter {other:?} is not supported by tarn yet; remove it"
                )));
            }
            other => {
                return Err(err(format!("unknown parameter {other:?}")));
            }
        }
        Ok(())
    }

    /// Checks the settings against each other; the error names the builder setting.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_size == 0 {
            return Err(ConfigError::new("max_size", "must be at least 1"));
        }
        if self.min_idle > self.max_size {
            return Err(ConfigError::new(
                "min_idle",
                format!(
                    "{} is greater than max_size ({})",
                    self.min_idle, self.max_size
                ),
            ));
        }
        if self.acquire_timeout.is_zero() {
            return Err(ConfigError::new(
                "acquire_timeout",
                "must be greater than zero",
            ));
        }
        if self.check_timeout.is_zero() {
            return Err(ConfigError::new(
                "check_timeout",
                "must be greater than zero",
            ));
        }
        if self.breaker_threshold == Some(0) {
            return Err(ConfigError::new(
                "breaker_threshold",
                "must be at least 1 (None turns the breaker off)",
            ));
        }
        if self.max_waiters == Some(0) {
            return Err(ConfigError::new(
                "max_waiters",
                "must be at least 1 (None means unbounded)",
            ));
        }
        let strings = [
            ("user", Some(self.user.as_str())),
            ("password", self.password.as_deref()),
            ("dbname", self.dbname.as_deref()),
            ("application_name", Some(self.application_name.as_str())),
            ("options", self.options.as_deref()),
            ("reset_query", self.reset_query.as_deref()),
        ];
        for (name, value) in strings {
            if value.is_some_and(|v| v.contains('\0')) {
                return Err(ConfigError::new(name, "contains a NUL byte"));
            }
        }
        if self.user.is_empty() {
            return Err(ConfigError::new("user", "must not be empty"));
        }
        if self.ssl_negotiation == SslNegotiation::Direct && !self.ssl_mode.requires_tls() {
            return Err(ConfigError::new(
                "sslnegotiation",
                format!(
                    "direct needs sslmode require, verify-ca or verify-full (it is {})",
                    self.ssl_mode
                ),
            ));
        }
        if self.ssl_cert.is_some() != self.ssl_key.is_some() {
            return Err(ConfigError::new(
                if self.ssl_cert.is_some() {
                    "sslkey"
                } else {
                    "sslcert"
                },
                "sslcert and sslkey go together: set both",
            ));
        }
        if self.transaction_pooler {
            // A transaction pooler gives each transaction whichever server connection is free:
            // session state would reach other clients, or be lost.
            if self.statement_timeout_set && self.statement_timeout.is_some() {
                return Err(ConfigError::new(
                    "statement_timeout",
                    "needs session state, which a transaction pooler does not keep; set it on \
                     the role (ALTER ROLE ... SET statement_timeout) or use query_timeout",
                ));
            }
            if self.options.is_some() {
                return Err(ConfigError::new(
                    "options",
                    "startup options are session state, which a transaction pooler refuses \
                     (PgBouncer: unsupported startup parameter); set them on the role instead",
                ));
            }
            if self.reset_query.is_some() {
                return Err(ConfigError::new(
                    "reset_query",
                    "a transaction pooler resets server connections itself and may run the \
                     reset on another client's connection; remove it",
                ));
            }
        }
        if self.hosts.is_empty()
            || self
                .hosts
                .iter()
                .any(|h| matches!(h, Host::Tcp(name) if name.is_empty()))
        {
            return Err(ConfigError::new("host", "must not be empty"));
        }
        if self.ports.len() != 1 && self.ports.len() != self.hosts.len() {
            return Err(ConfigError::new(
                "port",
                format!(
                    "{} ports for {} hosts: give one port for all, or one per host",
                    self.ports.len(),
                    self.hosts.len()
                ),
            ));
        }
        Ok(())
    }

    /// The first (often the only) host or socket directory.
    pub fn host(&self) -> &Host {
        &self.hosts[0]
    }
    /// Every host, in the order tried (libpq's comma-separated `host`).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
    /// The first host's port (also the number in the unix socket's name).
    pub fn port(&self) -> u16 {
        self.ports[0]
    }
    /// The ports: one for every host, or one per host.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }
    /// libpq's `target_session_attrs`. Default `any`.
    pub fn target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs
    }
    /// libpq's `load_balance_hosts`. Default `disable`.
    pub fn load_balance_hosts(&self) -> LoadBalanceHosts {
        self.load_balance_hosts
    }
    /// The user to log in as.
    pub fn user(&self) -> &str {
        &self.user
    }
    /// Whether a password is set (the password itself is not readable back).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }
    /// The database; `None` means the server's default (the user's name).
    pub fn dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }
    /// `application_name`, shown in `pg_stat_activity`.
    pub fn application_name(&self) -> &str {
        &self.application_name
    }
    /// Extra `options` sent at startup (e.g. `-c search_path=app`).
    pub fn options(&self) -> Option<&str> {
        self.options.as_deref()
    }
    /// Most connections open at once.
    pub fn max_size(&self) -> usize {
        self.max_size
    }
    /// Connections kept open even when idle.
    pub fn min_idle(&self) -> usize {
        self.min_idle
    }
    /// Idle connections above `min_idle` are closed after this long; `None` keeps them.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
    /// Bound on a whole acquire (waiting and connecting).
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }
    /// Bound on one connect attempt to one host (TCP, TLS, startup, auth, session check).
    /// Defaults to `acquire_timeout`, divided among the hosts of a host list (so a dead first
    /// host leaves time for the next).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or_else(|| {
            let hosts = u32::try_from(self.hosts.len()).unwrap_or(u32::MAX).max(1);
            self.acquire_timeout / hosts
        })
    }
    /// Server-side `statement_timeout`, sent at startup; `None` leaves the server's.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }
    /// Client-side bound on one query, enforced with a CancelRequest; `None` means none.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }
    /// Statements that take longer are logged at warn level (`tarn: slow query`); `None`
    /// never.
    pub fn slow_query_threshold(&self) -> Option<Duration> {
        self.slow_query_threshold
    }
    /// Connections older than this are retired; `None` keeps them.
    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }
    /// Connections idle longer than this are pinged on checkout; `None` never pings.
    pub fn check_after_idle(&self) -> Option<Duration> {
        self.check_after_idle
    }
    /// Bound on one health check of a connection that sat idle.
    pub fn check_timeout(&self) -> Duration {
        self.check_timeout
    }
    /// Consecutive failed connects after which callers fail fast; `None` never.
    pub fn breaker_threshold(&self) -> Option<u32> {
        self.breaker_threshold
    }
    /// Most callers waiting at once; `None` is unbounded.
    pub fn max_waiters(&self) -> Option<usize> {
        self.max_waiters
    }
    /// SQL run on every returned connection before reuse (e.g. `DISCARD ALL`).
    pub fn reset_query(&self) -> Option<&str> {
        self.reset_query.as_deref()
    }
    /// Prepared statements cached per connection.
    pub fn statement_cache_capacity(&self) -> usize {
        self.statement_cache_capacity
    }
    /// Whether prepared statements are named (cached on the server); off in
    /// transaction-pooler mode.
    pub fn named_statements(&self) -> bool {
        self.named_statements && !self.transaction_pooler
    }
    /// libpq's `sslmode`. Default `prefer`, as in libpq.
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }
    /// Trusted roots (`sslrootcert`), if set.
    pub fn ssl_root_cert(&self) -> Option<&SslRootCert> {
        self.ssl_root_cert.as_ref()
    }
    /// `channel_binding`. Default `prefer`.
    pub fn channel_binding(&self) -> ChannelBinding {
        self.channel_binding
    }
    /// Whether tarn runs in transaction-pooler mode (behind PgBouncer `pool_mode=transaction`):
    /// every request carries its own Parse, no startup options, no session state.
    pub fn transaction_pooler(&self) -> bool {
        self.transaction_pooler
    }

    /// The statement that applies `statement_timeout` right after connecting, if one is set.
    ///
    /// Sent as a `SET` (one round trip on each new connection) rather than in the startup
    /// `options`, because PgBouncer refuses connections whose startup packet carries `options`;
    /// in transaction-pooler mode it is never sent (a session setting would leak to other
    /// clients), and `validate` refuses an explicit one.
    pub(crate) fn session_setup(&self) -> Option<String> {
        if self.transaction_pooler {
            return None;
        }
        self.statement_timeout
            .map(|t| format!("SET statement_timeout = {}", t.as_millis()))
    }

    /// The wire client's settings for one connection (host list, TLS, auth, statement cache),
    /// for code that wants a [`tarn_wire::Connection`] of its own outside the pool.
    pub fn wire_config(&self) -> tarn_wire::Config {
        let mut wire = tarn_wire::Config::new();
        for host in &self.hosts {
            match host {
                Host::Tcp(h) => wire.host(h),
                Host::Unix(dir) => wire.unix_socket_dir(dir),
            };
        }
        wire.ports(&self.ports)
            .target_session_attrs(self.target_session_attrs)
            .load_balance_hosts(self.load_balance_hosts)
            .user(&self.user)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout())
            .statement_cache_capacity(self.statement_cache_capacity)
            .named_statements(self.named_statements());
        if let Some(password) = &self.password {
            wire.password(password);
        }
        if let Some(db) = &self.dbname {
            wire.dbname(db);
        }
        if let Some(options) = &self.options {
            wire.options(options);
        }
        wire.ssl_mode(self.ssl_mode)
            .channel_binding(self.channel_binding)
            .ssl_negotiation(self.ssl_negotiation);
        if let Some(root) = &self.ssl_root_cert {
            wire.ssl_root_cert(root.clone());
        }
        if let (Some(cert), Some(key)) = (&self.ssl_cert, &self.ssl_key) {
            wire.ssl_client_cert(cert, key);
        }
        if let Some(tls) = &self.tls_config {
            wire.tls_config(Arc::clone(tls));
        }
        wire
    }
}

/// Every environment variable libpq reads, with the connection keyword it stands for.
/// `from_lookup` applies each one through the same code as the keyword, so a variable is
/// either honoured or refused by name, never ignored.
const LIBPQ_VARIABLES: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGSERVICE", "service"),
    ("PGSERVICEFILE", "servicefile"),
    ("PGSYSCONFDIR", "sysconfdir"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGREQUIRESSL", "requiressl"),
    ("PGSSLCOMPRESSION", "sslcompression"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLCERTMODE", "sslcertmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCRL", "sslcrl"),
    ("PGSSLCRLDIR", "sslcrldir"),
    ("PGSSLSNI", "sslsni"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGREQUIREPEER", "requirepeer"),
    ("PGREQUIREAUTH", "require_auth"),
    ("PGCHANNELBINDING", "channel_binding"),
    ("PGSSLMINPROTOCOLVERSION", "ssl_min_protocol_version"),
    ("PGSSLMAXPROTOCOLVERSION", "ssl_max_protocol_version"),
    ("PGGSSENCMODE", "gssencmode"),
    ("PGKRBSRVNAME", "krbsrvname"),
    ("PGGSSLIB", "gsslib"),
    ("PGGSSDELEGATION", "gssdelegation"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGCLIENTENCODING", "client_encoding"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGLOADBALANCEHOSTS", "load_balance_hosts"),
    ("PGDATESTYLE", "datestyle"),
    ("PGTZ", "timezone"),
    ("PGGEQO", "geqo"),
    ("PGLOCALEDIR", "localedir"),
];

/// libpq keywords (and the pseudo-keywords of variables above that have none) that tarn
/// does not support yet: refused by name.
const LIBPQ_UNSUPPORTED: &[&str] = &[
    "hostaddr",
    "passfile",
    "service",
    "servicefile",
    "sysconfdir",
    "requiressl",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "requirepeer",
    "require_auth",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "fallback_application_name",
    "datestyle",
    "timezone",
    "geqo",
    "localedir",
];

/// Takes a multi-host list out of a URL's authority: `postgres://u:p@h1:1,h2:2/db` becomes
/// (`postgres://u:p@placeholder/db`, `Some("h1:1,h2:2")`). A single host is left in place.
fn split_host_list(s: &str) -> (String, Option<String>) {
    let Some(scheme_end) = s.find("://") else {
        return (s.to_owned(), None);
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    if !hosts.contains(',') {
        return (s.to_owned(), None);
    }
    let rebuilt = format!(
        "{}{userinfo}placeholder{}",
        &s[..scheme_end + 3],
        &rest[authority_end..]
    );
    (rebuilt, Some(hosts.to_owned()))
}

/// `host:port`, `[v6]:port`, `host` or `[v6]` as one entry of a URL's host list.
fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.find(']') {
            Some(end) => {
                let port = rest[end + 1..].strip_prefix(':');
                (&rest[..end], port)
            }
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    }
}

/// `true`/`false` as libpq-style settings write them (`1`/`0`, `yes`/`no`, `on`/`off` too).
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn nonzero_ms(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn parse_port(s: &str) -> Result<u16, &'static str> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err("0 is not a port"),
        Ok(p) => Ok(p),
        Err(_) => Err("not a port number (1-65535)"),
    }
}

/// An error for an environment variable, quoting its value unless it may be a secret.
fn env_error(name: &str, value: &str, problem: impl Into<String>) -> ConfigError {
    let problem = problem.into();
    if name.contains("PASSWORD") || name == "DATABASE_URL" {
        ConfigError::new(name, problem)
    } else {
        ConfigError::new(name, format!("{value:?}: {problem}"))
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses libpq's `key=value key2='quoted \' value'` form.
fn parse_key_values(s: &str, source: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConfigError::new(
                source,
                format!("expected \"=\" after {key:?}"),
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => break,
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ConfigError::new(
                            source,
                            format!("unterminated quoted value for {key:?}"),
                        ));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let c = env(&[]).unwrap();
        assert_eq!(c.max_size(), 20);
        assert_eq!(c.min_idle(), 2);
        assert_eq!(c.idle_timeout(), Some(Duration::from_millis(30_000)));
        assert_eq!(c.acquire_timeout(), Duration::from_millis(2_000));
        assert_eq!(c.connect_timeout(), Duration::from_millis(2_000));
        assert_eq!(c.statement_timeout(), Some(Duration::from_millis(30_000)));
        assert_eq!(c.query_timeout(), Some(Duration::from_millis(30_000)));
        assert_eq!(c.application_name(), "tarn");
        assert_eq!(c.host(), &Host::Tcp("localhost".into()));
        assert_eq!(c.port(), 5432);
    }

    #[test]
    fn every_pool_variable_is_read() {
        let c = env(&[
            ("PG_POOL_MAX", "7"),
            ("PG_POOL_MIN", "3"),
            ("PG_IDLE_TIMEOUT", "1500"),
            ("PG_CONNECTION_TIMEOUT", "250"),
            ("PG_STATEMENT_TIMEOUT", "0"),
            ("PG_QUERY_TIMEOUT", "4000"),
            ("PG_APP_NAME", "billing"),
        ])
        .unwrap();
        assert_eq!((c.max_size(), c.min_idle()), (7, 3));
        assert_eq!(c.idle_timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(c.acquire_timeout(), Duration::from_millis(250));
        assert_eq!(c.statement_timeout(), None, "0 disables, as in PostgreSQL");
        assert_eq!(c.query_timeout(), Some(Duration::from_millis(4000)));
        assert_eq!(c.application_name(), "billing");
    }

    #[test]
    fn libpq_variables_are_read_when_there_is_no_database_url() {
        let c = env(&[
            ("PGHOST", "/var/run/postgresql"),
            ("PGPORT", "6543"),
            ("PGUSER", "app"),
            ("PGPASSWORD", "s3cret"),
            ("PGDATABASE", "appdb"),
            ("PGAPPNAME", "from-libpq"),
        ])
        .unwrap();
        assert_eq!(c.host(), &Host::Unix("/var/run/postgresql".into()));
        assert_eq!(c.port(), 6543);
        assert_eq!((c.user(), c.dbname()), ("app", Some("appdb")));
        assert!(c.has_password());
        assert_eq!(c.application_name(), "from-libpq");
        // PG_APP_NAME wins over PGAPPNAME.
        let c = env(&[("PGAPPNAME", "a"), ("PG_APP_NAME", "b")]).unwrap();
        assert_eq!(c.application_name(), "b");
        // DATABASE_URL wins over the libpq variables.
        let c = env(&[("DATABASE_URL", "postgres://u@h:1/d"), ("PGHOST", "other")]).unwrap();
        assert_eq!((c.host(), c.port()), (&Host::Tcp("h".into()), 1));
    }

    #[test]
    fn each_bad_variable_is_named_with_its_problem() {
        // (variables, the setting the error must name, a phrase it must contain)
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (
                &[("PG_POOL_MAX", "abc")],
                "PG_POOL_MAX",
                "\"abc\": not a whole number",
            ),
            (&[("PG_POOL_MAX", "0")], "PG_POOL_MAX", "at least 1"),
            (
                &[("PG_POOL_MIN", "-1")],
                "PG_POOL_MIN",
                "not a whole number",
            ),
            (
                &[("PG_POOL_MIN", "5"), ("PG_POOL_MAX", "3")],
                "PG_POOL_MIN",
                "greater than PG_POOL_MAX (3)",
            ),
            (
                &[("PG_IDLE_TIMEOUT", "30s")],
                "PG_IDLE_TIMEOUT",
                "milliseconds",
            ),
            (
                &[("PG_CONNECTION_TIMEOUT", "x")],
                "PG_CONNECTION_TIMEOUT",
                "milliseconds",
            ),
            (
                &[("PG_CONNECTION_TIMEOUT", "0")],
                "PG_CONNECTION_TIMEOUT",
                "at least 1 ms",
            ),
            (
                &[("PG_STATEMENT_TIMEOUT", "1.5")],
                "PG_STATEMENT_TIMEOUT",
                "milliseconds",
            ),
            (
                &[("PG_QUERY_TIMEOUT", "soon")],
                "PG_QUERY_TIMEOUT",
                "milliseconds",
            ),
            (&[("PGPORT", "99999")], "PGPORT", "not a port number"),
            (
                &[("DATABASE_URL", "postgres://u:pw@h:70000/d")],
                "DATABASE_URL",
                "invalid port number",
            ),
            (
                &[("DATABASE_URL", "postgres://h/d?sslmode=required")],
                "sslmode in DATABASE_URL",
                "not an sslmode",
            ),
            (
                &[("DATABASE_URL", "mysql://h/d")],
                "DATABASE_URL",
                "postgres:// URL",
            ),
        ];
        for (vars, setting, problem) in cases {
            let err = env(vars).expect_err(&format!("{vars:?} should be rejected"));
            assert_eq!(err.setting(), *setting, "{vars:?}: {err}");
            assert!(err.to_string().contains(problem), "{vars:?}: {err}");
        }
    }

    #[test]
    fn urls_with_every_part() {
        let c = Config::from_url(
            "postgres://app:p%40ss%2Fw0rd@db.example:6432/app_db?application_name=api&options=-c%20search_path%3Dapp&sslmode=disable&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(c.host(), &Host::Tcp("db.example".into()));
        assert_eq!(c.port(), 6432);
        assert_eq!(c.user(), "app");
        assert_eq!(c.password.as_deref(), Some("p@ss/w0rd"));
        assert_eq!(c.dbname(), Some("app_db"));
        assert_eq!(c.application_name(), "api");
        assert_eq!(c.options(), Some("-c search_path=app"));
        assert_eq!(c.connect_timeout(), Duration::from_secs(3));
        assert_eq!(c.options(), Some("-c search_path=app"));
        assert_eq!(
            c.session_setup().as_deref(),
            Some("SET statement_timeout = 30000")
        );
    }

    #[test]
    fn unix_sockets_in_urls_and_key_values() {
        let a = Config::from_url("postgres://app@%2Ftmp%2Fpg/db").unwrap();
        assert_eq!(a.host(), &Host::Unix("/tmp/pg".into()));
        let b = Config::from_url("postgresql:///db?host=/tmp/pg&port=5433").unwrap();
        assert_eq!(b.host(), &Host::Unix("/tmp/pg".into()));
        assert_eq!(b.port(), 5433);
        let c = Config::from_url("host=/tmp/pg port=5433 dbname=db").unwrap();
        assert_eq!(c.host(), &Host::Unix("/tmp/pg".into()));
    }

    #[test]
    fn key_value_strings() {
        let c = Config::from_url(
            "host=localhost port = 5433 user=app password='it\\'s a secret' dbname=app application_name=worker",
        )
        .unwrap();
        assert_eq!(c.port(), 5433);
        assert_eq!(c.password.as_deref(), Some("it's a secret"));
        assert_eq!(c.application_name(), "worker");
        let err = Config::from_url("host=localhost bogus=1").unwrap_err();
        assert!(
            err.to_string().contains("unknown parameter \"bogus\""),
            "{err}"
        );
        let err = Config::from_url("host=localhost port").unwrap_err();
        assert!(err.to_string().contains("expected \"=\""), "{err}");
        let err = Config::from_url("password='open").unwrap_err();
        assert!(err.to_string().contains("unterminated"), "{err}");
    }

    #[test]
    fn passwords_never_show() {
        let c = Config::from_url("postgres://app:hunter2@h/d").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = env(&[("DATABASE_URL", "postgres://app:hunter2@h:99999/d")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = Config::from_url("postgres://app:hunter2@h/d?bogus=1").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn no_libpq_variable_is_silently_ignored() {
        // Each variable libpq reads, set to a plausible value: tarn either honours it (the
        // setting changes) or refuses it with an error naming the variable.
        let honoured: &[(&str, &str)] = &[
            ("PGHOST", "db.internal"),
            ("PGPORT", "6543"),
            ("PGDATABASE", "app"),
            ("PGUSER", "app"),
            ("PGPASSWORD", "pw"),
            ("PGOPTIONS", "-c search_path=app"),
            ("PGAPPNAME", "worker"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGSSLMODE", "require"),
            ("PGSSLROOTCERT", "/etc/ca.pem"),
            ("PGCHANNELBINDING", "require"),
            ("PGTARGETSESSIONATTRS", "read-write"),
            ("PGLOADBALANCEHOSTS", "random"),
        ];
        let base = env(&[]).unwrap();
        for (var, value) in honoured {
            let c = env(&[(var, value)]).unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_ne!(
                format!("{c:?}"),
                format!("{base:?}"),
                "{var} changed nothing"
            );
        }
        // Accepted only with the values that need nothing tarn lacks.
        let accepted: &[(&str, &str, &str)] = &[
            ("PGSSLMODE", "prefer", "bogus"),
            ("PGTARGETSESSIONATTRS", "any", "readwrite"),
            ("PGLOADBALANCEHOSTS", "disable", "round-robin"),
            ("PGCLIENTENCODING", "UTF8", "LATIN1"),
            ("PGCHANNELBINDING", "disable", "always"),
            ("PGGSSENCMODE", "disable", "require"),
            ("PGSSLNEGOTIATION", "postgres", "tls"),
            ("PGSSLCERTMODE", "allow", "require"),
            ("PGSSLSNI", "1", "0"),
        ];
        for (var, ok, refused) in accepted {
            env(&[(var, ok)]).unwrap_or_else(|e| panic!("{var}={ok}: {e}"));
            let err = env(&[(var, refused)]).expect_err(&format!("{var}={refused}"));
            assert_eq!(err.setting(), *var, "{err}");
            assert!(err.to_string().contains(refused), "{err}");
        }
        // Every other variable libpq reads is refused by name whatever its value.
        let both = env(&[("PGSSLCERT", "/c.pem"), ("PGSSLKEY", "/k.pem")]).unwrap();
        assert_ne!(format!("{both:?}"), format!("{base:?}"));
        for (var, other) in [("PGSSLCERT", "sslkey"), ("PGSSLKEY", "sslcert")] {
            let err = env(&[(var, "/x.pem")]).unwrap_err();
            assert_eq!(err.setting(), other, "{var} alone: {err}");
        }
        let decided: Vec<&str> = honoured
            .iter()
            .map(|(v, _)| *v)
            .chain(accepted.iter().map(|(v, _, _)| *v))
            .chain(["PGSSLCERT", "PGSSLKEY"])
            .collect();
        let mut refused = 0;
        for (var, _) in LIBPQ_VARIABLES {
            if decided.contains(var) {
                continue;
            }
            let err = env(&[(var, "1")]).expect_err(&format!("{var} must not be ignored"));
            assert_eq!(err.setting(), *var, "{err}");
            refused += 1;
        }
        assert!(refused >= 20, "only {refused} refused variables");
    }

    #[test]
    fn tls_settings_from_every_source() {
        let c = env(&[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", "system")]).unwrap();
        assert_eq!(c.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(c.ssl_root_cert(), Some(&SslRootCert::System));
        // A URL without sslmode gets libpq's fallback from the environment; one with it wins.
        let c = env(&[
            ("DATABASE_URL", "postgres://u@h/d"),
            ("PGSSLMODE", "require"),
        ])
        .unwrap();
        assert_eq!(c.ssl_mode(), SslMode::Require);
        let c = env(&[
            ("DATABASE_URL", "postgres://u@h/d?sslmode=disable"),
            ("PGSSLMODE", "require"),
        ])
        .unwrap();
        assert_eq!(c.ssl_mode(), SslMode::Disable);
        let c = Config::from_url(
            "host=h sslmode=verify-ca sslrootcert=/ca.pem sslcert=/c.pem sslkey=/k.pem channel_binding=require",
        )
        .unwrap();
        assert_eq!(c.ssl_mode(), SslMode::VerifyCa);
        assert_eq!(c.channel_binding(), ChannelBinding::Require);
        assert_eq!(c.wire_config().get_ssl_mode(), SslMode::VerifyCa);
        assert_eq!(
            Config::default().ssl_mode(),
            SslMode::Prefer,
            "libpq's default"
        );
        let err = Config::from_url("postgres://h/d?sslmode=bogus").unwrap_err();
        assert!(
            err.to_string().contains("\"bogus\" is not an sslmode"),
            "{err}"
        );
        let err = Config::from_url("postgres://h/d?sslnegotiation=direct").unwrap_err();
        assert_eq!(err.setting(), "sslnegotiation");
        Config::from_url("postgres://h/d?sslnegotiation=direct&sslmode=require").unwrap();
        let err = Config::from_url("postgres://h/d?sslpassword=x").unwrap_err();
        assert!(err.to_string().contains("encrypted private keys"), "{err}");
        let err = Config::from_url("postgres://h/d?sslcrl=/crl.pem").unwrap_err();
        assert_eq!(err.setting(), "sslcrl in connection string");
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn libpq_variables_fill_what_the_url_leaves_out() {
        let c = env(&[
            ("DATABASE_URL", "postgres:///appdb"),
            ("PGHOST", "db.internal"),
            ("PGUSER", "app"),
            ("PGDATABASE", "other"),
        ])
        .unwrap();
        assert_eq!(c.host(), &Host::Tcp("db.internal".into()));
        assert_eq!(c.user(), "app");
        assert_eq!(c.dbname(), Some("appdb"), "the URL's database wins");
    }

    #[test]
    fn transaction_pooler_mode() {
        for url in [
            "postgres://u@h/d?pgbouncer=true",
            "postgres://u@h/d?transaction_pooler=true",
            "host=h user=u transaction_pooler=on",
        ] {
            let c = Config::from_url(url).unwrap();
            assert!(c.transaction_pooler(), "{url}");
            assert!(!c.named_statements(), "{url}");
            assert_eq!(c.session_setup(), None, "{url}: no session settings");
            assert!(!c.wire_config().get_named_statements());
            assert_eq!(c.wire_config().get_options(), None);
        }
        let c = env(&[("PG_TRANSACTION_POOLER", "true")]).unwrap();
        assert!(c.transaction_pooler());
        let err = env(&[("PG_TRANSACTION_POOLER", "maybe")]).unwrap_err();
        assert_eq!(err.setting(), "PG_TRANSACTION_POOLER");
        // Settings that need session state are refused, naming the setting.
        let err = env(&[
            ("PG_TRANSACTION_POOLER", "true"),
            ("PG_STATEMENT_TIMEOUT", "5000"),
        ])
        .unwrap_err();
        assert_eq!(err.setting(), "statement_timeout");
        env(&[
            ("PG_TRANSACTION_POOLER", "true"),
            ("PG_STATEMENT_TIMEOUT", "0"),
        ])
        .unwrap();
        let err =
            Config::from_url("postgres://u@h/d?pgbouncer=true&options=-c%20x%3D1").unwrap_err();
        assert_eq!(err.setting(), "options");
        // Direct mode keeps named statements and sets statement_timeout on each connection.
        let c = Config::from_url("postgres://u@h/d").unwrap();
        assert!(c.named_statements());
        assert_eq!(
            c.session_setup().as_deref(),
            Some("SET statement_timeout = 30000")
        );
        assert_eq!(
            c.wire_config().get_options(),
            None,
            "no startup options by default"
        );
    }

    #[test]
    fn multi_host_lists_in_every_form() {
        let want_hosts = vec![Host::Tcp("h1".into()), Host::Tcp("h2".into())];
        let c = Config::from_url(
            "postgres://u:p%40w@h1:5433,h2:5432/db?target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(c.hosts(), want_hosts.as_slice());
        assert_eq!(c.ports(), &[5433, 5432]);
        assert_eq!(c.user(), "u");
        assert_eq!(c.password.as_deref(), Some("p@w"));
        assert_eq!(c.dbname(), Some("db"));
        assert_eq!(c.target_session_attrs(), TargetSessionAttrs::ReadWrite);
        // A host without a port gets 5432; IPv6 in brackets.
        let c = Config::from_url("postgresql://u@h1,[::1]:6000/db").unwrap();
        assert_eq!(c.hosts()[1], Host::Tcp("::1".into()));
        assert_eq!(c.ports(), &[5432, 6000]);
        // key=value: one port for all, or one per host.
        let c = Config::from_url("host=h1,h2 port=6432 target_session_attrs=primary").unwrap();
        assert_eq!(c.hosts(), want_hosts.as_slice());
        assert_eq!(c.ports(), &[6432]);
        let c = Config::from_url("host=h1,h2 port=1,2 load_balance_hosts=random").unwrap();
        assert_eq!(c.ports(), &[1, 2]);
        assert_eq!(c.load_balance_hosts(), LoadBalanceHosts::Random);
        let wire = c.wire_config();
        assert_eq!(wire.get_hosts().len(), 2);
        assert_eq!(wire.get_ports(), &[1, 2]);
        // The environment.
        let c = env(&[
            ("PGHOST", "h1,h2"),
            ("PGPORT", "7000,7001"),
            ("PGTARGETSESSIONATTRS", "prefer-standby"),
        ])
        .unwrap();
        assert_eq!(c.hosts(), want_hosts.as_slice());
        assert_eq!(c.ports(), &[7000, 7001]);
        assert_eq!(c.target_session_attrs(), TargetSessionAttrs::PreferStandby);
        // The per-host connect timeout divides acquire_timeout among the hosts by default.
        assert_eq!(c.connect_timeout(), Duration::from_secs(1));
        // Mismatched counts and bad values are named.
        let err = Config::from_url("host=h1,h2,h3 port=1,2").unwrap_err();
        assert_eq!(err.setting(), "port");
        let err = Config::from_url("postgres://u@h1:1,h2:x/db").unwrap_err();
        assert_eq!(err.setting(), "port in connection string");
        let err = Config::from_url("postgres://u@h1,,h2/db").unwrap_err();
        assert_eq!(err.setting(), "host in connection string");
        let err = Config::from_url("host=h target_session_attrs=master").unwrap_err();
        assert!(
            err.to_string().contains("not a target_session_attrs"),
            "{err}"
        );
    }
}
