//! `PgBouncer`: a real PgBouncer in front of a [`PgServer`], so tests can run a client behind
//! a pooler in session, transaction or statement mode.
//!
//! # How it works
//!
//! [`PgBouncerBuilder::start`] makes a temp dir (`tarn-pgbouncer-XXXX`) and writes into it:
//!
//! - `pgbouncer.ini`: one wildcard database, `* = host=<server> port=<port>`, so every database
//!   name a client asks for is passed through to the server (PgBouncer registers each one as an
//!   "auto-database" on first use); `listen_addr = 127.0.0.1` on a free port and no unix
//!   socket; the settings from the builder; `admin_users` set to the server's superuser.
//! - `userlist.txt` (mode 0600): every role of the server with its *plain-text* password
//!   (the superuser with an empty one). With plain text, PgBouncer can answer whatever the
//!   server asks (cleartext, md5 or SCRAM) when it logs in as the client's role, and can itself
//!   challenge the client with md5 or SCRAM.
//! - `pg_hba.conf` for PgBouncer's `auth_type = hba`: the superuser, who has no password, is let
//!   in by `trust` (PgBouncer refuses an empty password for every password method, and admin
//!   SQL and [`Role::Superuser`] connections must keep working), every other user
//!   authenticates by the builder's [`AuthType`].
//!
//! PgBouncer runs in the foreground, its stderr going to `pgbouncer.log`, in its own process
//! group and, when the test process is root, as the `postgres` user (PgBouncer refuses to run
//! as root), which then owns the dir. `start` returns once the port accepts connections and
//! the pid file names our process; if the port was taken in the meantime it tries another.
//! `Drop` sends SIGTERM (PgBouncer 1.18's immediate shutdown), SIGKILL after ten seconds, and
//! removes the dir; a reaper (see `reaper.rs`) does the same if the test process exits without
//! dropping it.
//!
//! With a server given by `DATABASE_URL` (see [`PgServer::external`]), PgBouncer still runs
//! locally and points at that URL's host (or unix socket dir) and port; only the URL's user
//! (as [`Role::Superuser`], with the URL's password) is in the userlist, since the other roles
//! exist only on servers the testkit made.
//!
//! # What a stock PgBouncer 1.18 does that a client may not expect
//!
//! - It refuses startup parameters it does not track, `options`, `extra_float_digits` and
//!   `search_path` among them, with `FATAL: unsupported startup parameter: options` (SQLSTATE
//!   08P01), unless they are listed in `ignore_startup_parameters` (empty here by default, as
//!   in PgBouncer); listed ones are dropped, not passed on to the server. `application_name`,
//!   `client_encoding`, `DateStyle` and `TimeZone` pass.
//! - A wrong password answered to a SCRAM challenge fails with `SASL authentication failed`,
//!   to an md5 or cleartext one with `password authentication failed`.
//! - The admin console is the database `pgbouncer`; it takes the simple query protocol only.
//! - An unknown or invalid setting stops it at start-up (`FATAL cannot load config file`);
//!   [`PgBouncerBuilder::start`] then fails with the log's last lines.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::{Gid, Pid, Uid};

use crate::binaries;
use crate::error::{Error, Result};
use crate::params::{ConnParams, Role};
use crate::reaper;
use crate::server::{self, PgServer, PsqlOutput};

/// How long PgBouncer may take to listen, or to stop after SIGTERM, before we give up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The loopback address PgBouncer listens on.
const HOST: &str = "127.0.0.1";

/// Where Debian's package puts the binary (not on a normal user's PATH).
const DEBIAN_PATH: &str = "/usr/sbin/pgbouncer";

const INSTALL_HINT: &str = "install it (Debian/Ubuntu: `apt-get install pgbouncer`; Fedora: \
     `dnf install pgbouncer`; macOS: `brew install pgbouncer`) or point TARN_PGBOUNCER at the \
     binary";

/// When PgBouncer gives a server connection back to its pool (`pool_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolMode {
    /// When the client disconnects (PgBouncer's default).
    Session,
    /// When a transaction ends: between transactions a client may get another server
    /// connection, so session state (prepared statements, `SET`, advisory locks) is not kept.
    Transaction,
    /// After every statement; multi-statement transactions are refused.
    Statement,
}

impl PoolMode {
    /// The value of PgBouncer's `pool_mode` setting.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

impl fmt::Display for PoolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How PgBouncer authenticates clients that have a password. The superuser, who has none, is
/// always let in by `trust`. PgBouncer logs in to the server as the same role with the same
/// password, whatever method the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// SCRAM-SHA-256 (the default).
    ScramSha256,
    /// The md5 challenge.
    Md5,
    /// The password in clear text (PgBouncer's `plain`; `password` in its hba file).
    Plain,
    /// No password is asked for; the user must still be in the userlist.
    Trust,
}

impl AuthType {
    /// The method's name in PgBouncer's hba file.
    pub fn hba_method(self) -> &'static str {
        match self {
            AuthType::ScramSha256 => "scram-sha-256",
            AuthType::Md5 => "md5",
            AuthType::Plain => "password",
            AuthType::Trust => "trust",
        }
    }
}

/// The `pgbouncer` binary: `TARN_PGBOUNCER` (a path), then `PATH`, then `/usr/sbin/pgbouncer`;
/// the error says how to install it.
pub fn pgbouncer_binary() -> Result<PathBuf> {
    find_binary(
        std::env::var_os("TARN_PGBOUNCER"),
        std::env::var_os("PATH"),
        Path::new(DEBIAN_PATH),
    )
}

/// True when [`pgbouncer_binary`] finds a binary, so a caller can decide what to do without
/// one. (The testkit's own tests fail without it: CI installs it.)
pub fn pgbouncer_available() -> bool {
    pgbouncer_binary().is_ok()
}

fn find_binary(
    explicit: Option<OsString>,
    path: Option<OsString>,
    fallback: &Path,
) -> Result<PathBuf> {
    if let Some(explicit) = explicit.filter(|p| !p.is_empty()) {
        let explicit = PathBuf::from(explicit);
        return if explicit.is_file() {
            Ok(explicit)
        } else {
            Err(Error::msg(format!(
                "TARN_PGBOUNCER={} is not a pgbouncer binary; {INSTALL_HINT}",
                explicit.display()
            )))
        };
    }
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.is_file())
        .or_else(|| Some(fallback.to_owned()).filter(|p| p.is_file()))
        .ok_or_else(|| {
            Error::msg(format!(
                "pgbouncer was not found in TARN_PGBOUNCER, PATH or {}; {INSTALL_HINT}",
                fallback.display()
            ))
        })
}

/// Settings for a [`PgBouncer`]; every setting left alone keeps PgBouncer's own default.
#[derive(Debug, Clone)]
pub struct PgBouncerBuilder<'a> {
    server: &'a PgServer,
    pool_mode: PoolMode,
    auth_type: AuthType,
    settings: Vec<(String, String)>,
}

impl<'a> PgBouncerBuilder<'a> {
    /// `pool_mode` (default [`PoolMode::Session`], as in PgBouncer).
    pub fn pool_mode(mut self, mode: PoolMode) -> Self {
        self.pool_mode = mode;
        self
    }

    /// How clients with a password authenticate (default [`AuthType::ScramSha256`]).
    pub fn auth_type(mut self, auth: AuthType) -> Self {
        self.auth_type = auth;
        self
    }

    /// `default_pool_size`: server connections per (database, user) pair (PgBouncer's default:
    /// 20).
    pub fn default_pool_size(self, n: u32) -> Self {
        self.setting("default_pool_size", n.to_string())
    }

    /// `max_client_conn`: client connections PgBouncer accepts in all (default 100).
    pub fn max_client_conn(self, n: u32) -> Self {
        self.setting("max_client_conn", n.to_string())
    }

    /// `max_db_connections`: server connections per database, all users together (default 0,
    /// no limit).
    pub fn max_db_connections(self, n: u32) -> Self {
        self.setting("max_db_connections", n.to_string())
    }

    /// `ignore_startup_parameters`: startup parameters PgBouncer accepts and drops instead of
    /// refusing the connection (e.g. `options`, `extra_float_digits`). Default: none, as in
    /// PgBouncer.
    pub fn ignore_startup_parameters<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.setting("ignore_startup_parameters", names.join(","))
    }

    /// `query_wait_timeout`: how long a client may wait for a server connection before
    /// PgBouncer disconnects it (default 120 s). Millisecond precision.
    pub fn query_wait_timeout(self, timeout: Duration) -> Self {
        self.setting("query_wait_timeout", seconds(timeout))
    }

    /// Any other `[pgbouncer]` setting (e.g. `server_reset_query`, `DISCARD ALL`). A later
    /// value for the same name replaces an earlier one, including the testkit's own
    /// (`listen_addr`, `auth_type`, ... : change those at your own risk).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.settings.retain(|(n, _)| *n != name);
        self.settings.push((name, value));
        self
    }

    /// Writes the config, starts PgBouncer and waits until it accepts connections.
    pub fn start(self) -> Result<PgBouncer> {
        PgBouncer::start_with(self)
    }
}

/// Seconds with millisecond precision, as PgBouncer's time settings take them.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

/// A running PgBouncer in front of a [`PgServer`]; stopped, and its dir removed, on `Drop`.
///
/// ```no_run
/// # fn main() -> Result<(), tarn_testkit::Error> {
/// use tarn_testkit::{PgBouncer, PgServer, PoolMode, Role};
///
/// let server = PgServer::shared()?;
/// let db = server.create_database()?;
/// let bouncer = PgBouncer::builder(server)
///     .pool_mode(PoolMode::Transaction)
///     .default_pool_size(8)
///     .max_client_conn(500)
///     .start()?;
/// let url = bouncer.url(Role::Scram, db.name());
/// assert_eq!(bouncer.psql(Role::Superuser, db.name(), "SELECT 1")?, "1");
/// # let _ = url;
/// # Ok(()) }
/// ```
pub struct PgBouncer {
    port: u16,
    pool_mode: PoolMode,
    auth_type: AuthType,
    /// The server's superuser (or `DATABASE_URL`'s user) and password.
    superuser: (String, Option<String>),
    psql: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    pidfile: PathBuf,
    child: Option<Child>,
    reaper: Option<Child>,
}

impl PgBouncer {
    /// Settings for a PgBouncer in front of `server`.
    pub fn builder(server: &PgServer) -> PgBouncerBuilder<'_> {
        PgBouncerBuilder {
            server,
            pool_mode: PoolMode::Session,
            auth_type: AuthType::ScramSha256,
            settings: Vec::new(),
        }
    }

    /// A PgBouncer with default settings (session mode, SCRAM) in front of `server`.
    pub fn start(server: &PgServer) -> Result<PgBouncer> {
        Self::builder(server).start()
    }

    fn start_with(settings: PgBouncerBuilder<'_>) -> Result<PgBouncer> {
        let binary = pgbouncer_binary()?;
        let run_as = server::run_as_postgres("PgBouncer")?;
        let server = settings.server;
        let admin = server.params(Role::Superuser, "postgres");
        let superuser = (admin.user.clone(), admin.password.clone());
        let config = Config::new(&settings, &admin, server.has_auth_roles())?;

        let dir = tempfile::Builder::new()
            .prefix("tarn-pgbouncer-")
            .tempdir()
            .map_err(|e| Error::io("could not create a temp dir for PgBouncer", e))?
            .keep();
        let mut bouncer = PgBouncer {
            port: 0,
            pool_mode: settings.pool_mode,
            auth_type: settings.auth_type,
            superuser,
            psql: server
                .local_psql()
                .map(Path::to_owned)
                .or_else(|| binaries::find_psql().ok())
                .unwrap_or_else(|| PathBuf::from("psql")),
            log: dir.join("pgbouncer.log"),
            pidfile: dir.join("pgbouncer.pid"),
            dir,
            child: None,
            reaper: None,
        };
        // From here on `bouncer` owns the dir: its Drop removes it on every early return.
        bouncer.reaper = Some(reaper::spawn(
            "tarn-pgbouncer-reaper",
            &bouncer.dir,
            &bouncer.pidfile,
            "TERM",
        )?);
        bouncer.prepare_dir(&config, run_as)?;
        bouncer.start_on_free_port(&binary, &config, run_as)?;
        Ok(bouncer)
    }

    fn prepare_dir(&self, config: &Config, run_as: Option<(Uid, Gid)>) -> Result<()> {
        let userlist = self.dir.join("userlist.txt");
        let hba = self.dir.join("pg_hba.conf");
        let write = || -> std::io::Result<()> {
            File::create(&self.log)?;
            fs::write(&userlist, &config.userlist)?;
            fs::set_permissions(&userlist, fs::Permissions::from_mode(0o600))?;
            fs::write(&hba, &config.hba)?;
            if let Some((uid, gid)) = run_as {
                for path in [&self.dir, &self.log, &userlist, &hba] {
                    std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))?;
                }
            }
            Ok(())
        };
        write().map_err(|e| {
            Error::io(
                format!(
                    "could not write PgBouncer's files into {}",
                    self.dir.display()
                ),
                e,
            )
        })
    }

    fn start_on_free_port(
        &mut self,
        binary: &Path,
        config: &Config,
        run_as: Option<(Uid, Gid)>,
    ) -> Result<()> {
        let mut last = None;
        // Another process may take the free port between our probe and PgBouncer's bind.
        for _ in 0..5 {
            self.port = server::free_port()?;
            let ini = self.dir.join("pgbouncer.ini");
            let text = config.ini(self.port, &self.dir);
            let written = fs::write(&ini, text).and_then(|()| match run_as {
                Some((uid, gid)) => {
                    std::os::unix::fs::chown(&ini, Some(uid.as_raw()), Some(gid.as_raw()))
                }
                None => Ok(()),
            });
            written.map_err(|e| Error::io(format!("could not write {}", ini.display()), e))?;
            let log_len = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            match self.spawn(binary, &ini, run_as) {
                Ok(()) => return Ok(()),
                Err(e) if self.log_since(log_len).contains("Address already in use") => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::msg("no free port for PgBouncer")))
    }

    fn log_since(&self, offset: u64) -> String {
        fs::read(&self.log)
            .map(|bytes| {
                let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
                String::from_utf8_lossy(&bytes[start..]).into_owned()
            })
            .unwrap_or_default()
    }

    fn spawn(&mut self, binary: &Path, ini: &Path, run_as: Option<(Uid, Gid)>) -> Result<()> {
        let log = File::options()
            .append(true)
            .open(&self.log)
            .map_err(|e| Error::io(format!("could not open {}", self.log.display()), e))?;
        let mut cmd = Command::new(binary);
        cmd.arg(ini)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| Error::io("dup log", e))?)
            .stderr(log)
            // Not in the test run's process group: the testkit decides when it stops.
            .process_group(0);
        if let Some((uid, gid)) = run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let child = cmd.spawn().map_err(|e| {
            Error::io(format!("could not run {}", binary.display()), e)
                .with_named_log("pgbouncer log", &self.log)
        })?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the port accepts connections and the pid file names our process (so the
    /// listener is ours, not whoever else took the port).
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(Error::msg("PgBouncer is not running"));
            };
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(
                    Error::msg(format!("pgbouncer exited during start-up ({status})"))
                        .with_named_log("pgbouncer log", &self.log),
                );
            }
            let ours = fs::read_to_string(&self.pidfile)
                .is_ok_and(|text| text.trim() == child.id().to_string());
            if ours && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                return Err(Error::msg(format!(
                    "pgbouncer did not accept connections on {addr} within {START_TIMEOUT:?}"
                ))
                .with_named_log("pgbouncer log", &self.log));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops PgBouncer: SIGTERM (immediate shutdown: clients are disconnected), then SIGKILL
    /// if it is still there after ten seconds.
    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let _ = signal::kill(pid, Signal::SIGTERM);
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
                        "pgbouncer did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it"
                    ))
                    .with_named_log("pgbouncer log", &self.log));
                }
            }
        }
    }

    /// Connection parameters for `role` on `dbname` through PgBouncer (TCP, no unix socket).
    /// As with [`PgServer::params`], [`Role::Superuser`] is the `DATABASE_URL` user on a server
    /// given by that URL, and the other roles exist only on servers the testkit made.
    pub fn params(&self, role: Role, dbname: &str) -> ConnParams {
        let (user, password) = match role {
            Role::Superuser => self.superuser.clone(),
            role => (role.user().to_owned(), role.password().map(Into::into)),
        };
        ConnParams {
            host: HOST.into(),
            port: self.port,
            socket_dir: None,
            user,
            password,
            dbname: dbname.into(),
        }
    }

    /// A `postgres://` URL for `role` on `dbname` through PgBouncer (user and password
    /// percent-encoded, see [`ConnParams::url`]).
    pub fn url(&self, role: Role, dbname: &str) -> String {
        self.params(role, dbname).url()
    }

    /// The loopback host PgBouncer listens on.
    pub fn host(&self) -> &str {
        HOST
    }

    /// PgBouncer's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool mode it was started with.
    pub fn pool_mode(&self) -> PoolMode {
        self.pool_mode
    }

    /// How it authenticates clients that have a password.
    pub fn auth_type(&self) -> AuthType {
        self.auth_type
    }

    /// PgBouncer's log (its stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The temp dir holding its config, userlist, pid file and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// PgBouncer's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A `psql` command that connects with these parameters (e.g. from [`PgBouncer::params`]);
    /// add arguments and run it. Useful for holding a client session open from another process.
    pub fn psql_command(&self, params: &ConnParams) -> Command {
        server::local_psql_command(&self.psql, params)
    }

    /// Runs SQL through `psql` with these parameters and returns its unaligned, tuples-only
    /// output (fields separated by `|`, one row a line). A failure quotes PgBouncer's log.
    pub fn psql_as(&self, params: &ConnParams, sql: &str) -> Result<String> {
        self.run_psql(params, sql, PsqlOutput::TuplesOnly)
    }

    /// Runs SQL as `role` on `dbname` through PgBouncer, like [`PgBouncer::psql_as`].
    pub fn psql(&self, role: Role, dbname: &str, sql: &str) -> Result<String> {
        self.psql_as(&self.params(role, dbname), sql)
    }

    /// Runs a command on PgBouncer's admin console (the `pgbouncer` database, as the
    /// superuser), e.g. `SHOW POOLS`, `PAUSE`, `RESUME`, `RECONNECT`, and returns psql's
    /// tuples-only output.
    pub fn admin(&self, command: &str) -> Result<String> {
        self.run_psql(
            &self.params(Role::Superuser, "pgbouncer"),
            command,
            PsqlOutput::TuplesOnly,
        )
    }

    /// `SHOW <what>` on the admin console (e.g. `POOLS`, `DATABASES`, `CONFIG`, `CLIENTS`), one
    /// map from column name to value per row. Values are split on `|`, so a value holding one
    /// would be split too (none of the counters and names PgBouncer shows do).
    pub fn show(&self, what: &str) -> Result<Vec<BTreeMap<String, String>>> {
        let out = self.run_psql(
            &self.params(Role::Superuser, "pgbouncer"),
            &format!("SHOW {what}"),
            PsqlOutput::WithHeader,
        )?;
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
        Ok(lines
            .map(|line| {
                header
                    .iter()
                    .zip(line.split('|'))
                    .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                    .collect()
            })
            .collect())
    }

    fn run_psql(&self, params: &ConnParams, sql: &str, output: PsqlOutput) -> Result<String> {
        server::run_psql(
            self.psql_command(params),
            &self.psql.display().to_string(),
            params,
            sql,
            output,
            Some(("pgbouncer log", &self.log)),
        )
    }
}

impl fmt::Debug for PgBouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBouncer")
            .field("port", &self.port)
            .field("pool_mode", &self.pool_mode)
            .field("auth_type", &self.auth_type)
            .field("pid", &self.pid())
            .field("dir", &self.dir)
            .finish()
    }
}

impl Drop for PgBouncer {
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

/// The text of PgBouncer's files, checked once before anything is written.
struct Config {
    /// The `[databases]` wildcard's connect string.
    target: String,
    /// `[pgbouncer]` settings after the ones that depend on the port and dir.
    settings: Vec<(String, String)>,
    userlist: String,
    hba: String,
}

impl Config {
    fn new(builder: &PgBouncerBuilder<'_>, admin: &ConnParams, auth_roles: bool) -> Result<Self> {
        let bad = |what: String| Err(Error::msg(format!("cannot start PgBouncer: {what}")));
        // The server: its unix socket dir when the URL named one (`host=/dir` in PgBouncer's
        // connect string, as in libpq's), otherwise its host.
        let host = match &admin.socket_dir {
            Some(dir) => dir.display().to_string(),
            None => admin.host.clone(),
        };
        if host.contains(['\'', '\\', '\n', '\r']) {
            return bad(format!(
                "the server's host {host:?} cannot be quoted for PgBouncer"
            ));
        }
        let target = format!("host='{host}' port={}", admin.port);

        let mut users = vec![(admin.user.clone(), admin.password.clone())];
        if auth_roles {
            for role in [Role::Cleartext, Role::Md5, Role::Scram] {
                users.push((role.user().into(), role.password().map(Into::into)));
            }
        }
        let mut userlist = String::new();
        let mut hba = String::from("# Written by tarn-testkit.\n");
        for (user, password) in &users {
            if user.contains(['"', ',', '\n', '\r']) || user.is_empty() {
                return bad(format!(
                    "the user name {user:?} cannot be put in its userlist"
                ));
            }
            let password = password.as_deref().unwrap_or_default();
            if password.contains(['\n', '\r']) {
                return bad(format!("{user}'s password holds a line break"));
            }
            userlist.push_str(&format!(
                "\"{user}\" \"{}\"\n",
                password.replace('"', "\"\"")
            ));
            if password.is_empty() {
                // PgBouncer refuses an empty password with every password method.
                hba.push_str(&format!("host all \"{user}\" 127.0.0.1/32 trust\n"));
            }
        }
        hba.push_str(&format!(
            "host all all 127.0.0.1/32 {}\n",
            builder.auth_type.hba_method()
        ));

        let mut settings = vec![
            (
                "pool_mode".to_owned(),
                builder.pool_mode.as_str().to_owned(),
            ),
            ("admin_users".into(), admin.user.clone()),
        ];
        for (name, value) in &builder.settings {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return bad(format!("{name:?} is not a setting name"));
            }
            if value.contains(['\n', '\r']) {
                return bad(format!("the value of {name} holds a line break"));
            }
            settings.push((name.clone(), value.clone()));
        }
        Ok(Config {
            target,
            settings,
            userlist,
            hba,
        })
    }

    fn ini(&self, port: u16, dir: &Path) -> String {
        let path = |name: &str| dir.join(name).display().to_string();
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addr".into(), HOST.into()),
            ("listen_port".into(), port.to_string()),
            // No unix socket: clients reach it over TCP only.
            ("unix_socket_dir".into(), String::new()),
            ("auth_type".into(), "hba".into()),
            ("auth_file".into(), path("userlist.txt")),
            ("auth_hba_file".into(), path("pg_hba.conf")),
            ("pidfile".into(), path("pgbouncer.pid")),
        ];
        for (name, value) in &self.settings {
            settings.retain(|(n, _)| n != name);
            settings.push((name.clone(), value.clone()));
        }
        let mut ini = format!(
            "; Written by tarn-testkit.\n[databases]\n* = {}\n\n[pgbouncer]\n",
            self.target
        );
        for (name, value) in settings {
            ini.push_str(&format!("{name} = {value}\n"));
        }
        ini
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_lookup_order_and_error() {
        let dir = tempfile::tempdir().unwrap();
        let on_path = dir.path().join("pgbouncer");
        fs::write(&on_path, "").unwrap();
        let missing = Path::new("/nonexistent/pgbouncer");
        // PATH before the Debian location.
        let found = find_binary(None, Some(dir.path().into()), missing).unwrap();
        assert_eq!(found, on_path);
        // The fallback when PATH has none.
        let found = find_binary(None, Some("/nonexistent".into()), &on_path).unwrap();
        assert_eq!(found, on_path);
        // TARN_PGBOUNCER wins, and a wrong one is an error, not a fall-through.
        let err = find_binary(
            Some("/nonexistent/x".into()),
            Some(dir.path().into()),
            missing,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("TARN_PGBOUNCER=/nonexistent/x"), "{err}");
        let err = find_binary(None, None, missing).unwrap_err().to_string();
        assert!(err.contains("apt-get install pgbouncer"), "{err}");
    }

    #[test]
    fn durations_in_seconds() {
        assert_eq!(seconds(Duration::from_secs(3)), "3");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.500");
        assert_eq!(seconds(Duration::from_millis(20)), "0.020");
    }
}
