//! `PgServer`: a private PostgreSQL for a test run.
//!
//! # How it works
//!
//! `start()` makes a temp dir (`tarn-pg-XXXX`) holding `data/` (the cluster, made by `initdb`),
//! `sock/` (the unix socket) and `postgres.log`, writes a `pg_hba.conf` with one line per
//! authentication method, and runs `postgres` on a free loopback port with `fsync=off`
//! (commits still reach the OS, so a killed server keeps them; only a machine crash would
//! lose them). When the
//! test process runs as root, `initdb` and `postgres` run as the `postgres` user (PostgreSQL
//! refuses to run as root) and the temp dir is handed to that user.
//!
//! Cleanup has two layers. `Drop` stops the server and removes the dir. Because a `static`
//! (the shared server) is never dropped, and a test binary may be killed, every server also
//! gets a *reaper* (`reaper.rs`, shared with PgBouncer): a tiny shell loop in its own process
//! group that waits for the test process to exit, then stops the postmaster and removes the
//! dir. `Drop` kills the reaper once it has cleaned up itself.
//!
//! With [`PgServerBuilder::tls`], the server's certificate, key and CA (from a
//! [`TlsSetup`]) are copied into `tls/` of the temp dir, handed to the user the server runs as
//! (the key with mode 0600, which PostgreSQL insists on), and the server starts with `ssl=on`,
//! those files, and `pg_hba.conf` lines for the TLS-only roles ([`TlsRole`]) before the others.
//!
//! A streaming standby (see `replication.rs`) is a `PgServer` too: the same temp dir layout,
//! reaper and process handling, but `data/` comes from `pg_basebackup -R` of another testkit
//! server instead of `initdb`, so roles and `pg_hba.conf` are the source's. Every server's
//! `pg_hba.conf` lets the superuser make replication connections (unix socket and 127.0.0.1),
//! so any of them can be a source.
//!
//! Admin SQL (creating roles and databases, terminating backends) goes through `psql`, so the
//! testkit needs no client of its own and works the same for servers it did not start.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::{Gid, Pid, Uid, User};

use crate::binaries::{self, Binaries};
use crate::error::{Error, Result};
use crate::params::{ConnParams, Role, TlsRole};
use crate::reaper;
use crate::tls::{TestCerts, TlsSetup};

/// How long a server may take to start (initdb excluded) or to stop before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `pg_basebackup` may take (a fresh cluster takes a second or two).
const BASE_BACKUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The libpq variables removed from the environment of `psql`, so the caller's environment
/// cannot redirect or change it (server-side programs lose every `PG*` variable).
const LIBPQ_ENV: [&str; 15] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGSERVICE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCRL",
    "PGCHANNELBINDING",
    "PGAPPNAME",
];

/// A PostgreSQL server for tests: one the testkit started (and owns), or one named by
/// `DATABASE_URL`.
///
/// Methods take `&self` so the per-binary shared server (a `&'static PgServer`) can be used
/// from any test; the process handle sits behind a mutex.
pub struct PgServer {
    /// How to reach the server as its superuser.
    admin: ConnParams,
    /// `psql` (or, for containers, `docker exec ... psql`).
    admin_cmd: AdminCommand,
    /// The process and its files, when the testkit started the server.
    local: Option<Mutex<Local>>,
    /// Whether the auth-matrix roles (see [`Role`]) exist on this server.
    auth_roles: bool,
    /// Whether the server runs with `ssl=on` and has the TLS roles (see [`TlsRole`]).
    tls: bool,
    #[cfg(feature = "docker")]
    _container: Option<crate::docker::Container>,
}

/// How admin SQL reaches the server.
#[derive(Debug, Clone)]
pub(crate) enum AdminCommand {
    /// Run this `psql` binary locally.
    Psql(PathBuf),
    /// Run `psql` inside this container, with `docker exec`.
    #[cfg(feature = "docker")]
    DockerExec(String),
}

/// The parts of a server the testkit started itself.
struct Local {
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    bins: Binaries,
    port: u16,
    socket_dir: PathBuf,
    max_connections: u32,
    extra_config: Vec<(String, String)>,
    tls: bool,
    run_as: Option<(Uid, Gid)>,
    postmaster: Option<Child>,
    reaper: Option<Child>,
}

/// Settings for a server the testkit starts.
#[derive(Debug, Clone)]
pub struct PgServerBuilder {
    pub(crate) max_connections: u32,
    pub(crate) extra_config: Vec<(String, String)>,
    pub(crate) tls: Option<TlsSetup>,
}

impl Default for PgServerBuilder {
    fn default() -> Self {
        Self {
            max_connections: 200,
            extra_config: Vec::new(),
            tls: None,
        }
    }
}

impl PgServerBuilder {
    /// The server's `max_connections` (default 200).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Any other server setting, passed as `-c name=value` (e.g. `log_statement`, `all`).
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_config.push((name.into(), value.into()));
        self
    }

    /// Starts the server with TLS (`ssl=on`): it presents `setup`'s certificate, accepts client
    /// certificates signed by its CA, and has the TLS-only roles ([`TlsRole`]) besides every
    /// [`Role`] (which keep working over plain TCP and TLS alike). Local binaries only: with
    /// none, `start` fails even with the `docker` feature.
    ///
    /// Settings given with [`config`](Self::config) come after the TLS ones, so they can
    /// change them (e.g. `ssl_min_protocol_version`).
    pub fn tls(mut self, setup: TlsSetup) -> Self {
        self.tls = Some(setup);
        self
    }

    /// Starts the server from local binaries (or, with the `docker` feature and no local
    /// binaries, in a container). Ignores `DATABASE_URL`: this is always a private server.
    pub fn start(self) -> Result<PgServer> {
        match Binaries::find() {
            Ok(bins) => PgServer::start_local(bins, self),
            // The container has no certificates: a TLS server needs local binaries.
            #[cfg(feature = "docker")]
            Err(_) if self.tls.is_none() => crate::docker::start(self.max_connections),
            Err(e) => Err(e),
        }
    }
}

static SHARED: OnceLock<std::result::Result<PgServer, String>> = OnceLock::new();
static SHARED_TLS: OnceLock<std::result::Result<PgServer, String>> = OnceLock::new();
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl PgServer {
    /// Settings for a private server.
    pub fn builder() -> PgServerBuilder {
        PgServerBuilder::default()
    }

    /// Starts a private server with default settings. Use this (not [`PgServer::shared`]) in
    /// tests that stop, restart or kill the server.
    pub fn start() -> Result<PgServer> {
        Self::builder().start()
    }

    /// The server shared by every test in this test binary: `DATABASE_URL`'s server when that
    /// is set, otherwise a private server started on first use and removed when the process
    /// exits. Give each test its own database with [`PgServer::create_database`].
    pub fn shared() -> Result<&'static PgServer> {
        SHARED
            .get_or_init(|| match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => Self::external(&url).map_err(|e| e.to_string()),
                _ => Self::start().map_err(|e| e.to_string()),
            })
            .as_ref()
            .map_err(|e| Error::msg(format!("the shared test server did not start: {e}")))
    }

    /// The TLS server shared by every test in this test binary: started on first use with
    /// [`TestCerts::shared`] and its valid server certificate (see
    /// [`PgServerBuilder::tls`]), removed when the process exits. [`PgServer::shared`] stays
    /// a plain server (`ssl=off`), for tests of a server that does not speak TLS.
    ///
    /// With `DATABASE_URL` set, this fails with an error for which [`Error::is_unsupported`]
    /// is true: the TLS roles and certificates exist only on servers the testkit makes.
    pub fn shared_tls() -> Result<&'static PgServer> {
        if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            return Err(Error::unsupported("a TLS server"));
        }
        SHARED_TLS
            .get_or_init(|| {
                TestCerts::shared()
                    .and_then(|certs| Self::builder().tls(TlsSetup::new(certs)).start())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::msg(format!("the shared TLS test server did not start: {e}")))
    }

    /// A server named by a URL (`postgres://user:pass@host:port/db`; `?host=/dir` for a unix
    /// socket). The testkit controls nothing about it: `stop`, `restart` and `kill` fail with
    /// an error for which [`Error::is_unsupported`] is true.
    pub fn external(url: &str) -> Result<PgServer> {
        let admin = parse_url(url)?;
        Ok(PgServer {
            admin,
            admin_cmd: AdminCommand::Psql(binaries::find_psql()?),
            local: None,
            auth_roles: false,
            tls: false,
            #[cfg(feature = "docker")]
            _container: None,
        })
    }

    #[cfg(feature = "docker")]
    pub(crate) fn from_container(
        admin: ConnParams,
        container: crate::docker::Container,
    ) -> PgServer {
        PgServer {
            admin,
            admin_cmd: AdminCommand::DockerExec(container.id()),
            local: None,
            auth_roles: false,
            tls: false,
            _container: Some(container),
        }
    }

    pub(crate) fn start_local(bins: Binaries, settings: PgServerBuilder) -> Result<PgServer> {
        let mut local = Local::create(bins, &settings)?;
        // From here on `local` owns the dir: its Drop removes it on every early return.
        local.initdb()?;
        if let Some(setup) = &settings.tls {
            local.install_tls(setup)?;
        }
        local.start_on_free_port()?;
        let server = PgServer::from_local(local, true);
        server.create_auth_roles()?;
        Ok(server)
    }

    /// Starts a streaming standby of `source` (a server the testkit started): a base backup
    /// of it (`pg_basebackup -X stream -R`) in a temp dir of its own, started on a free port
    /// with `settings`. `name` is its `application_name` on the upstream; with `slot`, it
    /// streams through that physical replication slot, which must exist on `source`.
    ///
    /// Roles, passwords and `pg_hba.conf` come with the backup, so they are the source's.
    pub(crate) fn start_standby(
        bins: Binaries,
        settings: &PgServerBuilder,
        source: &PgServer,
        name: &str,
        slot: Option<&str>,
    ) -> Result<PgServer> {
        let mut local = Local::create(bins, settings)?;
        local.base_backup(source.port(), name, slot)?;
        if let Some(setup) = &settings.tls {
            local.install_tls(setup)?;
        }
        local.start_on_free_port()?;
        Ok(PgServer::from_local(local, source.auth_roles))
    }

    /// Stops this server, replaces its data with a fresh base backup of `source`, and starts
    /// it again as a streaming standby of `source` on the same port (see
    /// [`PgServer::start_standby`] for `name` and `slot`).
    pub(crate) fn rebuild_as_standby(
        &self,
        source: &PgServer,
        name: &str,
        slot: Option<&str>,
    ) -> Result<()> {
        let mut local = self.local()?;
        local.stop()?;
        match fs::remove_dir_all(&local.data) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(
                    format!("could not remove {}", local.data.display()),
                    e,
                ));
            }
        }
        local.base_backup(source.port(), name, slot)?;
        local.start_on_same_port()
    }

    fn from_local(local: Local, auth_roles: bool) -> PgServer {
        PgServer {
            admin: ConnParams {
                host: "127.0.0.1".into(),
                port: local.port,
                socket_dir: Some(local.socket_dir.clone()),
                user: Role::Superuser.user().into(),
                password: None,
                dbname: "postgres".into(),
            },
            admin_cmd: AdminCommand::Psql(local.bins.psql.clone()),
            tls: local.tls,
            local: Some(Mutex::new(local)),
            auth_roles,
            #[cfg(feature = "docker")]
            _container: None,
        }
    }

    fn create_auth_roles(&self) -> Result<()> {
        let mut sql = String::new();
        for role in [Role::Cleartext, Role::Scram, Role::Md5] {
            let encryption = if role == Role::Md5 {
                "md5"
            } else {
                "scram-sha-256"
            };
            sql.push_str(&format!(
                "SET password_encryption = '{encryption}'; CREATE ROLE {} LOGIN PASSWORD '{}'; ",
                role.user(),
                role.password().unwrap_or_default()
            ));
        }
        if self.tls {
            sql.push_str("SET password_encryption = 'scram-sha-256'; ");
            for role in TlsRole::ALL {
                match role.password() {
                    Some(password) => sql.push_str(&format!(
                        "CREATE ROLE {} LOGIN PASSWORD '{password}'; ",
                        role.user()
                    )),
                    None => sql.push_str(&format!("CREATE ROLE {} LOGIN; ", role.user())),
                }
            }
        }
        self.psql("postgres", &sql).map(drop)
    }

    /// Connection parameters for `role` on `dbname`.
    ///
    /// For a server given by `DATABASE_URL`, [`Role::Superuser`] means the URL's user.
    pub fn params(&self, role: Role, dbname: &str) -> ConnParams {
        let mut params = self.admin.clone();
        params.dbname = dbname.into();
        if role != Role::Superuser {
            params.user = role.user().into();
            params.password = role.password().map(Into::into);
        }
        params
    }

    /// Connection parameters for a TLS-only `role` on `dbname`: over TCP (`socket_dir` is
    /// `None`; the roles are refused on the unix socket), to `127.0.0.1`. The client adds the
    /// TLS settings (`sslmode`, `sslrootcert`, and for the certificate roles `sslcert` and
    /// `sslkey`, from [`TestCerts`]). On a server without TLS the role does not exist.
    pub fn tls_params(&self, role: TlsRole, dbname: &str) -> ConnParams {
        ConnParams {
            host: self.admin.host.clone(),
            port: self.admin.port,
            socket_dir: None,
            user: role.user().into(),
            password: role.password().map(Into::into),
            dbname: dbname.into(),
        }
    }

    /// True when the server runs with `ssl=on` (see [`PgServerBuilder::tls`]), with the
    /// TLS-only roles ([`TlsRole`]).
    pub fn tls_enabled(&self) -> bool {
        self.tls
    }

    /// A `postgres://` URL for the superuser on the `postgres` database (or `DATABASE_URL`'s).
    pub fn url(&self) -> String {
        self.admin.url()
    }

    /// The loopback host the server listens on.
    pub fn host(&self) -> &str {
        &self.admin.host
    }

    /// The server's TCP port (kept across `restart`).
    pub fn port(&self) -> u16 {
        self.admin.port
    }

    /// The directory holding the server's unix socket, when it has one.
    pub fn socket_dir(&self) -> Option<&Path> {
        self.admin.socket_dir.as_deref()
    }

    /// True when the auth-matrix roles ([`Role`]) exist here, i.e. the testkit made the server.
    pub fn has_auth_roles(&self) -> bool {
        self.auth_roles
    }

    /// True when the testkit controls the process: `stop`, `restart` and `kill` work.
    pub fn is_controllable(&self) -> bool {
        self.local.is_some()
    }

    /// The server log, for servers the testkit started.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.local().ok().map(|l| l.log.clone())
    }

    /// The temp dir holding data, socket and log, for servers the testkit started.
    pub fn dir(&self) -> Option<PathBuf> {
        self.local().ok().map(|l| l.dir.clone())
    }

    /// The postmaster's process id while it runs, for servers the testkit started.
    pub fn pid(&self) -> Option<u32> {
        self.local()
            .ok()
            .and_then(|l| l.postmaster.as_ref().map(Child::id))
    }

    /// Runs SQL as the superuser on `dbname` through `psql` and returns its unaligned,
    /// tuples-only output (fields separated by `|`, one row a line).
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String> {
        self.psql_as(&self.params(Role::Superuser, dbname), sql)
    }

    /// Runs SQL through `psql` with these parameters (the unix socket when `socket_dir` is
    /// set, TCP otherwise), e.g. to check that a role's password is accepted.
    pub fn psql_as(&self, params: &ConnParams, sql: &str) -> Result<String> {
        run_psql(
            self.psql_command(params),
            &format!("{:?}", self.admin_cmd),
            params,
            sql,
            PsqlOutput::TuplesOnly,
            self.log_path().as_deref().map(|log| ("server log", log)),
        )
    }

    /// A `psql` command that connects with these parameters (through the environment, so the
    /// password is not on the command line); add arguments and run it. Useful for holding a
    /// session open from another process.
    pub fn psql_command(&self, params: &ConnParams) -> Command {
        match &self.admin_cmd {
            AdminCommand::Psql(psql) => local_psql_command(psql, params),
            #[cfg(feature = "docker")]
            AdminCommand::DockerExec(id) => {
                let mut cmd = Command::new("docker");
                cmd.args([
                    "exec",
                    "-i",
                    id,
                    "psql",
                    "-U",
                    &params.user,
                    "-d",
                    &params.dbname,
                ]);
                cmd
            }
        }
    }

    /// The local `psql` binary admin SQL runs through; `None` when it runs in a container.
    pub(crate) fn local_psql(&self) -> Option<&Path> {
        match &self.admin_cmd {
            AdminCommand::Psql(psql) => Some(psql),
            #[cfg(feature = "docker")]
            AdminCommand::DockerExec(_) => None,
        }
    }

    /// Creates a fresh, empty database for one test. Databases on a server the testkit started
    /// vanish with it; on a `DATABASE_URL` server the returned guard drops the database.
    pub fn create_database(&self) -> Result<TestDb<'_>> {
        let name = format!(
            "tarn_test_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(TestDb { server: self, name })
    }

    /// Terminates every backend whose `application_name` is `application_name` and returns how
    /// many there were.
    pub fn terminate_backends(&self, application_name: &str) -> Result<u64> {
        let out = self.psql(
            "postgres",
            &format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = {}",
                quote_literal(application_name)
            ),
        )?;
        parse_count(&out)
    }

    /// How many backends have this `application_name` right now.
    pub fn count_backends(&self, application_name: &str) -> Result<u64> {
        let out = self.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = {}",
                quote_literal(application_name)
            ),
        )?;
        parse_count(&out)
    }

    /// Stops the server (fast shutdown: open sessions are ended). Data stays for `restart`.
    pub fn stop(&self) -> Result<()> {
        self.local()?.stop()
    }

    /// Starts a stopped (or killed) server again on the same port with the same data. A
    /// running server is stopped first.
    pub fn restart(&self) -> Result<()> {
        let mut local = self.local()?;
        local.stop()?;
        local.start_on_same_port()
    }

    /// Kills the postmaster with SIGKILL, as a crash would. `restart` recovers.
    pub fn kill(&self) -> Result<()> {
        let mut local = self.local()?;
        if let Some(mut child) = local.postmaster.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    fn local(&self) -> Result<MutexGuard<'_, Local>> {
        let local = self
            .local
            .as_ref()
            .ok_or_else(|| Error::unsupported("stop, restart and kill"))?;
        // A test that panicked while holding the lock leaves the state consistent (every
        // operation completes its own bookkeeping before it can fail), so poison is ignored.
        Ok(local.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("admin", &self.admin)
            .field("controllable", &self.is_controllable())
            .field("dir", &self.dir())
            .finish()
    }
}

impl Local {
    /// Makes the temp dir (`tarn-pg-XXXX` with `sock/` and `postgres.log`, handed to the user
    /// the server runs as) and spawns its reaper. Nothing runs yet and `data/` does not exist:
    /// `initdb` or a base backup makes it. The returned `Local` owns the dir: its `Drop`
    /// removes it.
    fn create(bins: Binaries, settings: &PgServerBuilder) -> Result<Local> {
        let run_as = run_as_postgres("PostgreSQL")?;
        let dir = tempfile::Builder::new()
            .prefix("tarn-pg-")
            .tempdir()
            .map_err(|e| Error::io("could not create a temp dir for the test server", e))?
            .keep();
        let socket_dir = dir.join("sock");
        let data = dir.join("data");
        let log = dir.join("postgres.log");
        let prepare = || -> std::io::Result<()> {
            fs::create_dir(&socket_dir)?;
            File::create(&log)?;
            if let Some((uid, gid)) = run_as {
                for path in [&dir, &socket_dir, &log] {
                    std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))?;
                }
            }
            Ok(())
        };
        if let Err(e) = prepare() {
            let _ = fs::remove_dir_all(&dir);
            return Err(Error::io(
                format!("could not prepare the test server's dir {}", dir.display()),
                e,
            ));
        }
        let mut local = Local {
            dir,
            data,
            log,
            bins,
            port: 0,
            socket_dir,
            max_connections: settings.max_connections,
            extra_config: settings.extra_config.clone(),
            tls: settings.tls.is_some(),
            run_as,
            postmaster: None,
            reaper: None,
        };
        local.spawn_reaper()?;
        Ok(local)
    }

    /// Spawns the reaper (see [`crate::reaper`]): once this process exits, it stops the
    /// postmaster (whatever its pid is by then, from `postmaster.pid`) with SIGINT and removes
    /// the dir.
    fn spawn_reaper(&mut self) -> Result<()> {
        let pidfile = self.data.join("postmaster.pid");
        self.reaper = Some(reaper::spawn("tarn-pg-reaper", &self.dir, &pidfile, "INT")?);
        Ok(())
    }

    /// A command for a server-side program (`initdb`, `postgres`, `pg_basebackup`): in the
    /// server's dir, as the user the server runs as, with no `PG*` variable from the caller's
    /// environment and `HOME` set to the server's dir. A standby's WAL receiver is a libpq
    /// client inside the server: it would otherwise take `PGSSLMODE` and the like from the
    /// test process, and look for `~/.pgpass` and `~/.postgresql/` client certificates in a
    /// `HOME` it may not be allowed to read (root's, under root), which makes libpq give up
    /// on TLS even with `sslmode=prefer`.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("PG") {
                cmd.env_remove(var);
            }
        }
        cmd.env("HOME", &self.dir);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn log_file(&self) -> Result<File> {
        File::options()
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("could not open {}", self.log.display()), e))
    }

    fn initdb(&self) -> Result<()> {
        let log = self.log_file()?;
        let status = self
            .command(&self.bins.initdb)
            .arg("-D")
            .arg(&self.data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .stdout(log.try_clone().map_err(|e| Error::io("dup log", e))?)
            .stderr(log)
            .status()
            .map_err(|e| {
                Error::io(format!("could not run {}", self.bins.initdb.display()), e)
                    .with_log(&self.log)
            })?;
        if !status.success() {
            return Err(Error::msg(format!("initdb failed ({status})")).with_log(&self.log));
        }
        let mut hba = String::from("# Written by tarn-testkit: one role per auth method.\n");
        if self.tls {
            // First, so the catch-all `trust` lines below never match these roles.
            hba.push_str("# TLS-only roles: refused on the unix socket and on plain TCP.\n");
            for role in TlsRole::ALL {
                hba.push_str(&format!("local all {} reject\n", role.user()));
                for addr in ["127.0.0.1/32", "::1/128"] {
                    let user = role.user();
                    hba.push_str(&format!("hostssl all {user} {addr} {}\n", role.method()));
                    hba.push_str(&format!("hostnossl all {user} {addr} reject\n"));
                }
            }
        }
        for kind in ["local all", "host all"] {
            let addr = if kind == "host all" {
                " 127.0.0.1/32"
            } else {
                ""
            };
            for role in [Role::Cleartext, Role::Md5, Role::Scram] {
                hba.push_str(&format!("{kind} {}{addr} {}\n", role.user(), role.method()));
            }
            hba.push_str(&format!("{kind} all{addr} trust\n"));
        }
        hba.push_str("host all all ::1/128 trust\n");
        // `all` does not match replication connections: the superuser may stream WAL and take
        // base backups (a `ReplicaSet`'s standbys connect this way).
        hba.push_str("# Streaming replication and base backups, for the superuser only.\n");
        let superuser = Role::Superuser.user();
        hba.push_str(&format!("local replication {superuser} trust\n"));
        hba.push_str(&format!(
            "host replication {superuser} 127.0.0.1/32 trust\n"
        ));
        fs::write(self.data.join("pg_hba.conf"), hba)
            .map_err(|e| Error::io("could not write pg_hba.conf", e))
    }

    /// Fills `data/` (which must not exist) with a base backup of the server on 127.0.0.1:`port`
    /// and makes it a streaming standby of that server: `pg_basebackup -X stream -R`, as the
    /// superuser over TCP, with `application_name` `name` and, when given, through the
    /// physical replication `slot` (which must exist). Then the recovery settings are tidied
    /// (see [`Local::tidy_standby_config`]).
    fn base_backup(&self, port: u16, name: &str, slot: Option<&str>) -> Result<()> {
        let program = self.bins.pg_basebackup()?;
        let log = self.log_file()?;
        let mut cmd = self.command(program);
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-d")
            .arg(format!(
                "host=127.0.0.1 port={port} user={} application_name={name} connect_timeout=10",
                Role::Superuser.user()
            ))
            .args(["-X", "stream", "-R", "--checkpoint=fast", "--no-sync"]);
        if let Some(slot) = slot {
            cmd.args(["-S", slot]);
        }
        cmd.stdout(log.try_clone().map_err(|e| Error::io("dup log", e))?)
            .stderr(log);
        self.run_to_end(cmd, BASE_BACKUP_TIMEOUT, "pg_basebackup")?;
        self.tidy_standby_config(slot.is_some())
    }

    /// `pg_basebackup -R` appends `primary_conninfo` (and with a slot, `primary_slot_name`) to
    /// the `postgresql.auto.conf` it copied from the source, which may hold the source's own
    /// (when the source is itself a standby, or was one). Keeps only the last of each, drops
    /// `primary_slot_name` when there is no slot, and drops `recovery_min_apply_delay`: a lag
    /// injected on the source is not the new standby's.
    fn tidy_standby_config(&self, slot: bool) -> Result<()> {
        let path = self.data.join("postgresql.auto.conf");
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("could not read {}", path.display()), e))?;
        // Written in place, so the file keeps its owner (the user the server runs as).
        fs::write(&path, tidy_auto_conf(&text, slot))
            .map_err(|e| Error::io(format!("could not write {}", path.display()), e))
    }

    /// Runs a command to its end (its output already redirected), killing it after `timeout`;
    /// a failure or a timeout quotes the log.
    fn run_to_end(&self, mut cmd: Command, timeout: Duration, what: &str) -> Result<()> {
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("could not run {what}"), e))?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(Error::msg(format!("{what} failed ({status})")).with_log(&self.log));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::msg(format!(
                        "{what} did not finish within {timeout:?}; killed it"
                    ))
                    .with_log(&self.log));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::io(format!("could not wait for {what}"), e));
                }
            }
        }
    }

    /// Copies the server certificate, its key and the CA into `tls/` of the server's dir (the
    /// key 0600, all of it owned by the user the server runs as: PostgreSQL refuses a key that
    /// group or others can read) and adds the settings that use them.
    fn install_tls(&mut self, setup: &TlsSetup) -> Result<()> {
        let owner = self.run_as.map(|(uid, gid)| (uid.as_raw(), gid.as_raw()));
        let dir = self.dir.join("tls");
        let settings = setup.install(&dir, owner).map_err(|e| {
            Error::io(
                format!("could not install the TLS files in {}", dir.display()),
                e,
            )
        })?;
        // Before any `config(..)` setting, so those win.
        self.extra_config.splice(0..0, settings);
        Ok(())
    }

    fn start_on_free_port(&mut self) -> Result<()> {
        let mut last = None;
        // Another process may take the free port between our probe and the server's bind.
        for _ in 0..5 {
            self.port = free_port()?;
            match self.spawn_postmaster() {
                Ok(()) => return Ok(()),
                Err(e) if self.log_tail_contains("could not bind") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::msg("no free port")))
    }

    fn start_on_same_port(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_postmaster() {
                Ok(()) => return Ok(()),
                // After a kill, the old backends may hold the shared memory for a moment.
                Err(_)
                    if Instant::now() < deadline
                        && (self.log_tail_contains("pre-existing shared memory block")
                            || self.log_tail_contains("could not bind")) =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn log_tail_contains(&self, needle: &str) -> bool {
        fs::read_to_string(&self.log)
            .map(|text| {
                let start = text.len().saturating_sub(2000);
                text.get(start..).unwrap_or(&text).contains(needle)
            })
            .unwrap_or(false)
    }

    fn spawn_postmaster(&mut self) -> Result<()> {
        let log = self.log_file()?;
        let mut cmd = self.command(&self.bins.postgres);
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.socket_dir);
        let mut settings = vec![
            ("listen_addresses".to_owned(), "127.0.0.1".to_owned()),
            ("fsync".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("max_connections".into(), self.max_connections.to_string()),
        ];
        settings.extend(self.extra_config.iter().cloned());
        for (name, value) in settings {
            cmd.arg("-c").arg(format!("{name}={value}"));
        }
        let child = cmd
            .stdout(log.try_clone().map_err(|e| Error::io("dup log", e))?)
            .stderr(log)
            // Not in the test run's process group: the testkit decides when it stops.
            .process_group(0)
            .spawn()
            .map_err(|e| Error::io(format!("could not run {}", self.bins.postgres.display()), e))?;
        self.postmaster = Some(child);
        self.wait_ready()
    }

    /// Waits for `postmaster.pid` to name our process and say `ready`.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pidfile = self.data.join("postmaster.pid");
        loop {
            let Some(child) = self.postmaster.as_mut() else {
                return Err(Error::msg("the server is not running"));
            };
            if let Ok(Some(status)) = child.try_wait() {
                self.postmaster = None;
                return Err(
                    Error::msg(format!("postgres exited during start-up ({status})"))
                        .with_log(&self.log),
                );
            }
            if let Ok(text) = fs::read_to_string(&pidfile) {
                let mut lines = text.lines();
                let pid_matches = lines.next().map(str::trim) == Some(&child.id().to_string());
                if pid_matches && lines.nth(6).map(str::trim) == Some("ready") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::msg(format!(
                    "postgres did not become ready within {START_TIMEOUT:?}"
                ))
                .with_log(&self.log));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.postmaster.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let pid = Pid::from_raw(child.id() as i32);
        // SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, no crash recovery later.
        let _ = signal::kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::msg(format!(
                        "postgres did not stop within {STOP_TIMEOUT:?}; killed it"
                    ))
                    .with_log(&self.log));
                }
            }
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("tarn-testkit: {e}");
        }
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("tarn-testkit: could not remove {}: {e}", self.dir.display());
        }
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }
}

/// A database of its own for one test, on a [`PgServer`].
#[derive(Debug)]
pub struct TestDb<'a> {
    server: &'a PgServer,
    name: String,
}

impl<'a> TestDb<'a> {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server it lives on.
    pub fn server(&self) -> &'a PgServer {
        self.server
    }

    /// Connection parameters for `role` on this database.
    pub fn params(&self, role: Role) -> ConnParams {
        self.server.params(role, &self.name)
    }

    /// A `postgres://` URL for `role` on this database.
    pub fn url(&self, role: Role) -> String {
        self.params(role).url()
    }

    /// Runs SQL as the superuser on this database through `psql`.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.server.psql(&self.name, sql)
    }
}

impl Drop for TestDb<'_> {
    fn drop(&mut self) {
        // A server the testkit started is removed whole; only someone else's server needs
        // tidying.
        if self.server.is_controllable() {
            return;
        }
        if let Err(e) = self.server.psql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("tarn-testkit: could not drop {}: {e}", self.name);
        }
    }
}

pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("could not find a free loopback port", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("could not find a free loopback port", e))
}

/// A local `psql` command that connects with these parameters, through the environment (so
/// the password is not on the command line), with every other libpq variable removed.
pub(crate) fn local_psql_command(psql: &Path, params: &ConnParams) -> Command {
    let mut cmd = Command::new(psql);
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    let host = match &params.socket_dir {
        Some(dir) => dir.display().to_string(),
        None => params.host.clone(),
    };
    cmd.env("PGHOST", host)
        .env("PGPORT", params.port.to_string())
        .env("PGUSER", &params.user)
        .env("PGDATABASE", &params.dbname)
        .env("PGCONNECT_TIMEOUT", "10");
    if let Some(password) = &params.password {
        cmd.env("PGPASSWORD", password);
    }
    cmd
}

/// What `psql` prints besides the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PsqlOutput {
    /// Rows only (`-t`).
    TuplesOnly,
    /// A header line of column names, then the rows (no footer).
    WithHeader,
}

/// Runs `sql` with a `psql` command made for `params` and returns its unaligned output
/// (fields separated by `|`); a failure quotes psql's stderr and, when there is one, the tail
/// of `log` (a name for it, and its path).
pub(crate) fn run_psql(
    mut cmd: Command,
    program: &str,
    params: &ConnParams,
    sql: &str,
    output: PsqlOutput,
    log: Option<(&str, &Path)>,
) -> Result<String> {
    cmd.args(["-X", "-q", "-A", "-v", "ON_ERROR_STOP=1"]);
    match output {
        PsqlOutput::TuplesOnly => cmd.arg("-t"),
        PsqlOutput::WithHeader => cmd.args(["-P", "footer=off"]),
    };
    cmd.arg("-c").arg(sql).stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("could not run psql ({program})"), e))?;
    if !out.status.success() {
        let err = Error::msg(format!(
            "psql as {} on database {:?} failed running {sql:?}: {}",
            params.user,
            params.dbname,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return Err(match log {
            Some((what, log)) => err.with_named_log(what, log),
            None => err,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The `postgres` user's ids when the test process runs as root (PostgreSQL and PgBouncer refuse
/// to run as root), `None` otherwise. `what` names the program in the error.
pub(crate) fn run_as_postgres(what: &str) -> Result<Option<(Uid, Gid)>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = User::from_name("postgres").ok().flatten().ok_or_else(|| {
        Error::msg(format!(
            "the tests run as root, {what} refuses to run as root, and there is no `postgres` \
             user to run it as: create one (`useradd --system postgres`, or install the \
             postgresql package, which does) or run as a normal user"
        ))
    })?;
    Ok(Some((user.uid, user.gid)))
}

/// See [`Local::tidy_standby_config`].
fn tidy_auto_conf(text: &str, slot: bool) -> String {
    fn key(line: &str) -> &str {
        line.split('=').next().map(str::trim).unwrap_or_default()
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut tidy = String::new();
    for (i, line) in lines.iter().enumerate() {
        let name = key(line);
        let last = !lines[i + 1..].iter().any(|later| key(later) == name);
        let keep = match name {
            "recovery_min_apply_delay" => false,
            "primary_slot_name" => slot && last,
            "primary_conninfo" => last,
            _ => true,
        };
        if keep {
            tidy.push_str(line);
            tidy.push('\n');
        }
    }
    tidy
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn parse_count(out: &str) -> Result<u64> {
    out.trim()
        .parse()
        .map_err(|_| Error::msg(format!("expected a count from psql, got {out:?}")))
}

/// Parses `postgres://user:pass@host:port/db?host=/socket/dir` into parameters.
fn parse_url(raw: &str) -> Result<ConnParams> {
    let bad = |why: &str| Error::msg(format!("DATABASE_URL is not a usable postgres URL: {why}"));
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(bad("the scheme must be postgres:// or postgresql://"));
    }
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let user = match url.username() {
        "" => "postgres".to_owned(),
        u => decode(u),
    };
    let socket_dir = url
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| PathBuf::from(v.into_owned()));
    let dbname = match url.path().trim_start_matches('/') {
        "" => user.clone(),
        db => decode(db),
    };
    Ok(ConnParams {
        host: url.host_str().unwrap_or("localhost").to_owned(),
        port: url.port().unwrap_or(5432),
        socket_dir,
        password: url.password().map(decode),
        user,
        dbname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        let p = parse_url("postgres://app:s%40cret@db.internal:6432/app_db").unwrap();
        assert_eq!(p.user, "app");
        assert_eq!(p.password.as_deref(), Some("s@cret"));
        assert_eq!((p.host.as_str(), p.port), ("db.internal", 6432));
        assert_eq!(p.dbname, "app_db");
        let p = parse_url("postgresql://localhost?host=/run/postgresql").unwrap();
        assert_eq!(p.socket_dir.as_deref(), Some(Path::new("/run/postgresql")));
        assert_eq!(
            (p.user.as_str(), p.dbname.as_str(), p.port),
            ("postgres", "postgres", 5432)
        );
        assert!(
            parse_url("mysql://x")
                .unwrap_err()
                .to_string()
                .contains("DATABASE_URL")
        );
    }

    #[test]
    fn a_standby_keeps_only_its_own_recovery_settings() {
        // What `pg_basebackup -R` leaves when the source was a delayed standby itself.
        let copied = "# Do not edit this file manually!\n\
                      primary_conninfo = 'host=127.0.0.1 port=1 application_name=standby_0'\n\
                      primary_slot_name = 'standby_0'\n\
                      recovery_min_apply_delay = '2s'\n\
                      work_mem = '8MB'\n\
                      primary_conninfo = 'host=127.0.0.1 port=2 application_name=primary'\n";
        assert_eq!(
            tidy_auto_conf(copied, false),
            "# Do not edit this file manually!\n\
             work_mem = '8MB'\n\
             primary_conninfo = 'host=127.0.0.1 port=2 application_name=primary'\n"
        );
        let with_slot = format!("{copied}primary_slot_name = 'primary'\n");
        assert_eq!(
            tidy_auto_conf(&with_slot, true),
            "# Do not edit this file manually!\n\
             work_mem = '8MB'\n\
             primary_conninfo = 'host=127.0.0.1 port=2 application_name=primary'\n\
             primary_slot_name = 'primary'\n"
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let p = parse_url("postgres://app:hunter2@localhost/app").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
