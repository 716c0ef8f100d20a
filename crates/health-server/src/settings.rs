//! [`Settings`]: everything the service reads from its environment (and the optional `.env`
//! file, which `main` loads into the environment first).
//!
//! The pool's settings come from [`tarn::Config::from_lookup`] (`DATABASE_URL` or the libpq
//! `PG*` variables, `PG_POOL_MAX`, `PG_POOL_MIN`, `PG_*_TIMEOUT`, `PG_APP_NAME`); the service
//! adds `DATABASE_REPLICA_URLS`, `HOST`, `PORT`, `SHUTDOWN_TIMEOUT` and `DEMO_SCHEMA`. Every error names the variable
//! at fault, so a bad value stops start-up with a message that says what to fix.

use std::fmt;
use std::time::Duration;

/// Default `HOST`: loopback only, so an example never listens on every interface by accident.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default `PORT`.
pub const DEFAULT_PORT: u16 = 3000;
/// Default `SHUTDOWN_TIMEOUT`: how long in-flight requests may run after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST`: the address (or name) the HTTP listener binds.
    pub host: String,
    /// `PORT`: the listener's port; `0` picks a free one (printed at start-up).
    pub port: u16,
    /// `SHUTDOWN_TIMEOUT` (milliseconds): after a shutdown signal, how long in-flight requests
    /// may take to finish, and then how long closing the pool may take.
    pub shutdown_timeout: Duration,
    /// `DEMO_SCHEMA=1`: create and seed the demo `campaigns` table at start-up.
    pub demo_schema: bool,
    /// The pool's settings, from [`tarn::Config::from_lookup`]: the writer (the primary).
    pub pool: tarn::Config,
    /// `DATABASE_REPLICA_URLS`: read replicas (URLs separated by whitespace, or by a comma
    /// before each `postgres://`). Each is checked at start-up; reads go to them through
    /// [`tarn::Cluster::reader`].
    pub replica_urls: Vec<String>,
}

/// A variable with a bad value: names the variable and says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    variable: String,
    problem: String,
}

impl SettingsError {
    fn new(variable: &str, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }

    /// The variable at fault (e.g. `PORT`, `PG_POOL_MAX`, `port in DATABASE_URL`).
    pub fn variable(&self) -> &str {
        &self.variable
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for SettingsError {}

impl From<tarn::ConfigError> for SettingsError {
    fn from(e: tarn::ConfigError) -> Self {
        Self::new(e.setting(), e.problem())
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads any source of variables (the environment with overrides, a map in tests). An
    /// unset or empty variable keeps its default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let host = get("HOST").map_or_else(|| DEFAULT_HOST.to_owned(), |h| h.trim().to_owned());
        let port = match get("PORT") {
            None => DEFAULT_PORT,
            Some(v) => v.trim().parse::<u16>().map_err(|_| {
                SettingsError::new("PORT", format!("{v:?}: not a port number (0-65535)"))
            })?,
        };
        let shutdown_timeout = match get("SHUTDOWN_TIMEOUT") {
            None => DEFAULT_SHUTDOWN_TIMEOUT,
            Some(v) => Duration::from_millis(v.trim().parse::<u64>().map_err(|_| {
                SettingsError::new(
                    "SHUTDOWN_TIMEOUT",
                    format!("{v:?}: not a whole number of milliseconds"),
                )
            })?),
        };
        let demo_schema = match get("DEMO_SCHEMA").as_deref().map(str::trim) {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => {
                return Err(SettingsError::new(
                    "DEMO_SCHEMA",
                    format!("{other:?}: expected 1 or 0"),
                ));
            }
        };
        let pool = tarn::Config::from_lookup(&lookup)?;
        let mut replica_urls = Vec::new();
        if let Some(list) = get("DATABASE_REPLICA_URLS") {
            for url in tarn::Cluster::split_urls(&list) {
                // Checked now, so a typo stops start-up naming the variable.
                tarn::Config::from_url(url).map_err(|e| {
                    SettingsError::new(
                        "DATABASE_REPLICA_URLS",
                        format!("{}: {}", e.setting(), e.problem()),
                    )
                })?;
                replica_urls.push(url.to_owned());
            }
        }
        Ok(Settings {
            host,
            port,
            shutdown_timeout,
            demo_schema,
            pool,
            replica_urls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).expect("no variables is valid");
        assert_eq!((s.host.as_str(), s.port), (DEFAULT_HOST, DEFAULT_PORT));
        assert_eq!(s.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert!(!s.demo_schema);
        assert_eq!(s.pool.max_size(), tarn::DEFAULT_MAX_SIZE);
    }

    #[test]
    fn service_and_pool_variables_are_read() {
        let s = settings(&[
            ("HOST", "0.0.0.0"),
            ("PORT", "8080"),
            ("SHUTDOWN_TIMEOUT", "2500"),
            ("DEMO_SCHEMA", "1"),
            ("PG_POOL_MAX", "7"),
            ("PG_APP_NAME", "svc"),
        ])
        .expect("valid");
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 8080));
        assert_eq!(s.shutdown_timeout, Duration::from_millis(2500));
        assert!(s.demo_schema);
        assert_eq!(s.pool.max_size(), 7);
        assert_eq!(s.pool.application_name(), "svc");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("PORT", "http"),
            ("PORT", "70000"),
            ("SHUTDOWN_TIMEOUT", "10s"),
            ("DEMO_SCHEMA", "maybe"),
            ("PG_POOL_MAX", "abc"),
            ("PG_CONNECTION_TIMEOUT", "0"),
        ] {
            let err = settings(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable(), var, "{err}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }
}
