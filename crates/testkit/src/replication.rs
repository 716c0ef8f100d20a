//! `ReplicaSet`: a primary and its streaming standbys, for tests of multi-host connection
//! strings, `target_session_attrs`, read/write routing and failover.
//!
//! # How it works
//!
//! The primary is an ordinary [`PgServer`] (initdb, the auth-matrix roles, the testkit's
//! `pg_hba.conf`, which lets the superuser make replication connections from 127.0.0.1 and the
//! unix socket) started with the replication settings below. Each standby is a `PgServer`
//! too, in a temp dir of its own on a free loopback port, made by
//! `pg_basebackup -X stream -R --checkpoint=fast` from the primary (as the superuser, over
//! TCP, through a physical replication slot named after the standby unless slots are turned
//! off). The backup brings the roles, their passwords and `pg_hba.conf` with it, so every
//! [`Role`] logs in on every node the same way; `-R` writes `standby.signal` and
//! `primary_conninfo` (with the standby's name as `application_name`, so it shows up in the
//! upstream's `pg_stat_replication`) into `postgresql.auto.conf`. The standbys are made in
//! parallel, and `start` returns once every one of them streams.
//!
//! Every node runs with the same settings (the builder's [`PgServerBuilder`], after these):
//!
//! | setting | value | why |
//! | --- | --- | --- |
//! | `wal_level` | `replica` | streaming (PostgreSQL 15's default, made explicit) |
//! | `max_wal_senders`, `max_replication_slots` | 10 | every node can be an upstream |
//! | `hot_standby` | `on` | standbys answer read-only queries |
//! | `wal_keep_size` | 128MB | a standby without a slot that was stopped for a while can catch up |
//! | `wal_retrieve_retry_interval` | 100ms | a standby reconnects quickly after its upstream restarts or after [`ReplicaSet::follow`] |
//! | `wal_receiver_status_interval` | 1s | `pg_stat_replication` is fresh |
//!
//! Replication is asynchronous (no `synchronous_standby_names`): a commit on the primary does
//! not wait for the standbys; [`ReplicaSet::wait_caught_up`] does.
//!
//! Nodes keep their identity ([`Node`]) whatever happens: after a failover,
//! [`Node::Primary`] still names the node started as the primary, which is then stopped, or a
//! second primary (split brain) if it still runs, or a standby after
//! [`ReplicaSet::rebuild_as_standby_of`]. Ports never change, so connection strings built at
//! the start stay valid.
//!
//! Cleanup is each `PgServer`'s: `Drop` stops every node (standbys first) and removes its dir,
//! and each node has its own reaper for a test process that dies without dropping.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::binaries::Binaries;
use crate::error::{Error, Result};
use crate::params::Role;
use crate::server::{PgServer, PgServerBuilder};

/// How long a promotion, a catch-up, a re-pointed standby's reconnect or a reloaded setting
/// may take before it is an error.
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(30);
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);
const SETTING_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the waits above ask again.
const POLL: Duration = Duration::from_millis(20);

/// The settings every node of a replica set starts with, before the builder's own.
const REPLICATION_SETTINGS: [(&str, &str); 7] = [
    ("wal_level", "replica"),
    ("max_wal_senders", "10"),
    ("max_replication_slots", "10"),
    ("hot_standby", "on"),
    ("wal_keep_size", "128MB"),
    ("wal_retrieve_retry_interval", "100ms"),
    ("wal_receiver_status_interval", "1s"),
];

/// One node of a [`ReplicaSet`], named by the role it was started in. The name stays when the
/// role changes: after `promote(Node::Standby(0))`, `Node::Standby(0)` is a primary.
///
/// A bare index converts to a standby: `set.promote(0)` promotes `Node::Standby(0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// The node started as the primary.
    Primary,
    /// The `i`-th node started as a standby (from 0).
    Standby(usize),
}

impl Node {
    /// `primary` or `standby_<i>`: the `application_name` of its WAL receiver on its upstream
    /// (`pg_stat_replication.application_name`) and the name of its replication slot there.
    pub fn name(self) -> String {
        match self {
            Node::Primary => "primary".into(),
            Node::Standby(i) => format!("standby_{i}"),
        }
    }

    /// The position in `ReplicaSet::upstreams`: the primary first, then the standbys.
    fn index(self) -> usize {
        match self {
            Node::Primary => 0,
            Node::Standby(i) => i + 1,
        }
    }

    fn from_index(index: usize) -> Node {
        match index {
            0 => Node::Primary,
            i => Node::Standby(i - 1),
        }
    }
}

impl From<usize> for Node {
    fn from(i: usize) -> Node {
        Node::Standby(i)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Settings for a [`ReplicaSet`].
#[derive(Debug, Clone)]
pub struct ReplicaSetBuilder {
    standbys: usize,
    slots: bool,
    server: PgServerBuilder,
}

impl Default for ReplicaSetBuilder {
    fn default() -> Self {
        Self {
            standbys: 1,
            slots: true,
            server: PgServerBuilder::default(),
        }
    }
}

impl ReplicaSetBuilder {
    /// How many standbys to start (default 1). Each costs a base backup, a second or two.
    pub fn standbys(mut self, n: usize) -> Self {
        self.standbys = n;
        self
    }

    /// Whether each standby streams through a physical replication slot on its upstream,
    /// named after it ([`Node::name`]; default on). A slot keeps the WAL a stopped standby
    /// still needs; without slots, `wal_keep_size` (128MB) is all there is.
    pub fn replication_slots(mut self, on: bool) -> Self {
        self.slots = on;
        self
    }

    /// The settings of every node: `max_connections`, `config(..)` (which come after the
    /// replication settings, so they can change them), TLS. Settings given here are on the
    /// command line and so win over `ALTER SYSTEM`: do not set `recovery_min_apply_delay` or
    /// `primary_conninfo` here, or [`ReplicaSet::set_apply_delay`] and
    /// [`ReplicaSet::follow`] cannot change them.
    pub fn node_settings(mut self, settings: PgServerBuilder) -> Self {
        self.server = settings;
        self
    }

    /// Starts the primary, then every standby (in parallel), and waits until each streams.
    /// Needs local binaries, `pg_basebackup` among them; ignores `DATABASE_URL` (see
    /// [`crate::replica_set`] for the helper that skips under it).
    pub fn start(self) -> Result<ReplicaSet> {
        let bins = Binaries::find()?;
        // Before anything starts: without it there would be a primary and no standbys.
        bins.pg_basebackup()?;
        let mut settings = self.server;
        settings.extra_config.splice(
            0..0,
            REPLICATION_SETTINGS
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        let primary = PgServer::start_local(bins.clone(), settings.clone())?;
        let names: Vec<String> = (0..self.standbys)
            .map(|i| Node::Standby(i).name())
            .collect();
        if self.slots {
            for name in &names {
                ensure_slot(&primary, name)?;
            }
        }
        let started: Vec<Result<PgServer>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|name| {
                    let (bins, settings, primary) = (bins.clone(), &settings, &primary);
                    let slot = self.slots.then_some(name.as_str());
                    scope
                        .spawn(move || PgServer::start_standby(bins, settings, primary, name, slot))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(Error::msg("the thread starting a standby panicked"))
                    })
                })
                .collect()
        });
        // Every standby that did start is dropped (stopped, removed) if another failed.
        let standbys = started.into_iter().collect::<Result<Vec<_>>>()?;
        let set = ReplicaSet {
            upstreams: Mutex::new(
                std::iter::once(None)
                    .chain(standbys.iter().map(|_| Some(Node::Primary)))
                    .collect(),
            ),
            standbys,
            primary,
            slots: self.slots,
        };
        for i in 0..set.standbys.len() {
            set.wait_streaming(Node::Standby(i), Node::Primary)?;
        }
        Ok(set)
    }
}

/// A primary and N streaming standbys, each a [`PgServer`] of its own (so `params`, `psql`,
/// `stop`, `restart`, `kill`, the roles all work as on any testkit server), with the
/// operations of failover tests: [`promote`](Self::promote),
/// [`wait_caught_up`](Self::wait_caught_up), lag injection with
/// [`set_apply_delay`](Self::set_apply_delay), [`follow`](Self::follow) and
/// [`rebuild_as_standby_of`](Self::rebuild_as_standby_of).
///
/// ```no_run
/// # fn main() -> Result<(), tarn_testkit::Error> {
/// use tarn_testkit::{Node, ReplicaSet, Role};
///
/// let set = ReplicaSet::start(2)?;
/// let url = set.url(Role::Scram, "postgres"); // postgres://scram_user:...@127.0.0.1:p0,127.0.0.1:p1,127.0.0.1:p2/postgres
/// set.primary().psql("postgres", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")?;
/// set.wait_caught_up()?;
/// assert_eq!(set.standby(0)?.psql("postgres", "SELECT x FROM t")?, "1");
///
/// set.primary().stop()?;
/// set.promote(0)?;
/// set.follow(1, 0)?; // standby 1 now streams from the new primary
/// set.rebuild_as_standby_of(Node::Primary, 0)?; // and so does the old primary
/// # let _ = url;
/// # Ok(()) }
/// ```
///
/// Methods take `&self`, as `PgServer`'s do. Every wait has a timeout (30 s), and a timeout
/// quotes the node's log.
#[derive(Debug)]
pub struct ReplicaSet {
    // Before `primary`: fields drop in declaration order, so the standbys stop first and the
    // primary has no WAL receiver left to serve when it shuts down.
    standbys: Vec<PgServer>,
    primary: PgServer,
    /// Whom each node streams from, as far as this set knows (it changes only through its
    /// own methods): `None` for a primary. The primary first, then the standbys.
    upstreams: Mutex<Vec<Option<Node>>>,
    slots: bool,
}

impl ReplicaSet {
    /// Settings for a replica set (one standby, replication slots on).
    pub fn builder() -> ReplicaSetBuilder {
        ReplicaSetBuilder::default()
    }

    /// Starts a primary and `standbys` standbys with default settings.
    pub fn start(standbys: usize) -> Result<ReplicaSet> {
        Self::builder().standbys(standbys).start()
    }

    /// The node started as the primary ([`Node::Primary`]); after a failover it may be
    /// stopped, a second primary, or a standby.
    pub fn primary(&self) -> &PgServer {
        &self.primary
    }

    /// Every node started as a standby, in order ([`Node::Standby`]).
    pub fn standbys(&self) -> &[PgServer] {
        &self.standbys
    }

    /// The `i`-th node started as a standby.
    pub fn standby(&self, i: usize) -> Result<&PgServer> {
        self.node(Node::Standby(i))
    }

    /// A node by name (a bare index is a standby).
    pub fn node(&self, node: impl Into<Node>) -> Result<&PgServer> {
        match node.into() {
            Node::Primary => Ok(&self.primary),
            Node::Standby(i) => self.standbys.get(i).ok_or_else(|| {
                Error::msg(format!(
                    "there is no standby {i}: this replica set has {} standbys",
                    self.standbys.len()
                ))
            }),
        }
    }

    /// Every node, the primary first, then the standbys in order.
    pub fn nodes(&self) -> impl Iterator<Item = (Node, &PgServer)> {
        std::iter::once((Node::Primary, &self.primary)).chain(
            self.standbys
                .iter()
                .enumerate()
                .map(|(i, server)| (Node::Standby(i), server)),
        )
    }

    /// The node `node` streams from, as this set arranged it (`promote`, `follow`,
    /// `rebuild_as_standby_of`); `None` for a primary or a node that does not exist. Stopping
    /// or killing a node does not change it.
    pub fn upstream(&self, node: impl Into<Node>) -> Option<Node> {
        self.upstreams().get(node.into().index()).copied().flatten()
    }

    /// A multi-host `postgres://` URL for `role` on `dbname` that lists every node, the primary
    /// first, then the standbys in order (`postgres://user:password@127.0.0.1:p0,127.0.0.1:p1/db`).
    /// Add `?target_session_attrs=...` as the test needs.
    pub fn url(&self, role: Role, dbname: &str) -> String {
        let params = self.primary.params(role, dbname);
        let mut url = format!("postgres://{}", percent_encode(&params.user));
        if let Some(password) = &params.password {
            url.push(':');
            url.push_str(&percent_encode(password));
        }
        url.push('@');
        let hosts: Vec<String> = self
            .nodes()
            .map(|(_, server)| format!("{}:{}", server.host(), server.port()))
            .collect();
        url.push_str(&hosts.join(","));
        url.push('/');
        url.push_str(&percent_encode(dbname));
        url
    }

    /// Whether `node` is in recovery (`SELECT pg_is_in_recovery()`): true on a standby.
    pub fn is_in_recovery(&self, node: impl Into<Node>) -> Result<bool> {
        let out = self
            .node(node)?
            .psql("postgres", "SELECT pg_is_in_recovery()")?;
        parse_bool(&out)
    }

    /// Promotes a standby to a primary (`SELECT pg_promote(false)`) and waits until it says
    /// `pg_is_in_recovery() = false`, 30 s at most. It replays the WAL it has received first.
    ///
    /// Nothing else changes: the old primary, if it runs, stays a primary too (stop it first
    /// for a clean failover), and the other standbys keep streaming from it, or retrying every
    /// 100 ms while it is down, in recovery and read-only, until [`follow`](Self::follow)
    /// points them at the new primary.
    pub fn promote(&self, node: impl Into<Node>) -> Result<()> {
        let node = node.into();
        let server = self.node(node)?;
        let started = Instant::now();
        let sent = server.psql("postgres", "SELECT pg_promote(false)")?;
        if !parse_bool(&sent)? {
            return Err(log_error(
                server,
                format!("{node} refused to be promoted (pg_promote returned false)"),
            ));
        }
        wait_for(PROMOTE_TIMEOUT, || {
            Ok((!self.is_in_recovery(node)?).then_some(()))
        })
        .map_err(|e| {
            e.unwrap_or_else(|| {
                log_error(
                    server,
                    format!(
                        "{node} was still in recovery {:?} after pg_promote",
                        started.elapsed()
                    ),
                )
            })
        })?;
        self.upstreams()[node.index()] = None;
        Ok(())
    }

    /// Waits until every running standby whose upstream runs has replayed everything its
    /// upstream had written when this was called (`pg_last_wal_replay_lsn()` on the standby
    /// against `pg_current_wal_lsn()` on a primary upstream, or its replay position for a
    /// standby upstream), 30 s at most.
    ///
    /// A stopped or killed standby, and one whose upstream is stopped or killed (after a
    /// failover, before [`follow`](Self::follow)), is skipped: it cannot catch up. A standby
    /// with an apply delay ([`set_apply_delay`](Self::set_apply_delay)) takes the delay.
    pub fn wait_caught_up(&self) -> Result<()> {
        let started = Instant::now();
        let pairs: Vec<(Node, Node)> = self
            .upstreams()
            .iter()
            .enumerate()
            .filter_map(|(i, upstream)| upstream.map(|up| (Node::from_index(i), up)))
            .collect();
        let mut targets = Vec::new();
        for (node, upstream) in pairs {
            let (server, source) = (self.node(node)?, self.node(upstream)?);
            if server.pid().is_none() || source.pid().is_none() {
                continue;
            }
            let lsn = source.psql(
                "postgres",
                "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                 ELSE pg_current_wal_lsn() END",
            )?;
            targets.push((node, server, lsn));
        }
        for (node, server, lsn) in targets {
            let query = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
            let left = CATCH_UP_TIMEOUT.saturating_sub(started.elapsed());
            wait_for(left, || {
                Ok((server.psql("postgres", &query)? == "t").then_some(()))
            })
            .map_err(|e| {
                e.unwrap_or_else(|| {
                    let state = server
                        .psql(
                            "postgres",
                            "SELECT 'received ' || coalesce(pg_last_wal_receive_lsn()::text, \
                             'nothing') || ', replayed ' || coalesce(pg_last_wal_replay_lsn()::text, \
                             'nothing') || ', recovery_min_apply_delay ' || \
                             current_setting('recovery_min_apply_delay')",
                        )
                        .unwrap_or_else(|e| format!("(could not ask it: {e})"));
                    log_error(
                        server,
                        format!(
                            "{node} did not replay up to {lsn} within {CATCH_UP_TIMEOUT:?} \
                             ({state})"
                        ),
                    )
                })
            })?;
        }
        Ok(())
    }

    /// Makes `node` apply each transaction `delay` after its commit on the primary (rounded
    /// down to whole milliseconds): `ALTER SYSTEM SET recovery_min_apply_delay` and a reload
    /// on that node; `Duration::ZERO` resets it (`ALTER SYSTEM RESET`), and transactions
    /// held back are applied at once. WAL still arrives on time (`pg_last_wal_receive_lsn()`
    /// moves, `pg_last_wal_replay_lsn()` waits). Returns once new sessions on the node see the
    /// setting.
    ///
    /// The delay is per node and stays across `restart`; a base backup made from the node
    /// (`rebuild_as_standby_of`) does not inherit it.
    pub fn set_apply_delay(&self, node: impl Into<Node>, delay: Duration) -> Result<()> {
        let node = node.into();
        let server = self.node(node)?;
        let ms = delay.as_millis();
        if ms > i32::MAX as u128 {
            return Err(Error::msg(format!(
                "an apply delay of {delay:?} is more than recovery_min_apply_delay can hold \
                 ({} ms)",
                i32::MAX
            )));
        }
        if ms == 0 {
            server.psql("postgres", "ALTER SYSTEM RESET recovery_min_apply_delay")?;
        } else {
            server.psql(
                "postgres",
                &format!("ALTER SYSTEM SET recovery_min_apply_delay = '{ms}ms'"),
            )?;
        }
        self.reload_and_wait(
            node,
            "recovery_min_apply_delay",
            &ms.to_string(),
            SETTING_TIMEOUT,
        )?;
        // The startup process re-reads the file on the same SIGHUP as the backends; give it a
        // moment so the next commit is held back (or let through) for sure.
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    }

    /// Points a running standby at another upstream: `ALTER SYSTEM SET primary_conninfo`
    /// (and `primary_slot_name`, after creating the slot on the upstream if slots are on) and a
    /// reload, then waits until it streams from there (`pg_stat_replication` on the upstream,
    /// 30 s at most). With `recovery_target_timeline = latest` (the default), it follows a
    /// promoted standby onto its new timeline.
    ///
    /// That works only if the standby has not received WAL the new upstream lacks: after a
    /// clean stop of the old primary (its last WAL reaches every standby before it exits),
    /// every standby can follow the promoted one; after a kill, one that was ahead of the
    /// promoted standby cannot (its log says the new timeline forked off before its current
    /// recovery point), and [`rebuild_as_standby_of`](Self::rebuild_as_standby_of) is the way.
    pub fn follow(&self, node: impl Into<Node>, upstream: impl Into<Node>) -> Result<()> {
        let (node, upstream) = (node.into(), upstream.into());
        if node == upstream {
            return Err(Error::msg(format!("{node} cannot follow itself")));
        }
        let (server, source) = (self.node(node)?, self.node(upstream)?);
        if !self.is_in_recovery(node)? {
            return Err(Error::msg(format!(
                "{node} is not a standby (it was promoted, or is the primary): \
                 rebuild_as_standby_of makes it one"
            )));
        }
        let name = node.name();
        server.psql(
            "postgres",
            &format!(
                "ALTER SYSTEM SET primary_conninfo = 'host={} port={} user={} \
                 application_name={name}'",
                source.host(),
                source.port(),
                Role::Superuser.user()
            ),
        )?;
        if self.slots {
            ensure_slot(source, &name)?;
            server.psql(
                "postgres",
                &format!("ALTER SYSTEM SET primary_slot_name = '{name}'"),
            )?;
        } else {
            server.psql("postgres", "ALTER SYSTEM RESET primary_slot_name")?;
        }
        self.reload_and_wait(
            node,
            "primary_conninfo",
            &format!(
                "host={} port={} user={} application_name={name}",
                source.host(),
                source.port(),
                Role::Superuser.user()
            ),
            SETTING_TIMEOUT,
        )?;
        self.upstreams()[node.index()] = Some(upstream);
        self.wait_streaming(node, upstream)
    }

    /// Makes `node` a fresh standby of `upstream`: stops it (if it runs), replaces its data
    /// with a base backup of `upstream` (through its slot if slots are on), and starts it on
    /// the same port, then waits until it streams. The cheap way back for an old primary
    /// after a failover (no `pg_rewind`): a second or two for a small cluster. Its data is
    /// now `upstream`'s: roles, `pg_hba.conf`, every `ALTER SYSTEM` setting but an apply
    /// delay.
    pub fn rebuild_as_standby_of(
        &self,
        node: impl Into<Node>,
        upstream: impl Into<Node>,
    ) -> Result<()> {
        let (node, upstream) = (node.into(), upstream.into());
        if node == upstream {
            return Err(Error::msg(format!(
                "{node} cannot be rebuilt from a backup of itself"
            )));
        }
        let (server, source) = (self.node(node)?, self.node(upstream)?);
        let name = node.name();
        if self.slots {
            ensure_slot(source, &name)?;
        }
        // Until it streams again it follows nothing; a failure leaves it so.
        self.upstreams()[node.index()] = None;
        server.rebuild_as_standby(source, &name, self.slots.then_some(name.as_str()))?;
        self.upstreams()[node.index()] = Some(upstream);
        self.wait_streaming(node, upstream)
    }

    fn upstreams(&self) -> MutexGuard<'_, Vec<Option<Node>>> {
        // Every update is a single store: a panic elsewhere cannot leave it half done.
        self.upstreams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `upstream`'s `pg_stat_replication` shows `node` streaming.
    fn wait_streaming(&self, node: Node, upstream: Node) -> Result<()> {
        let (server, source) = (self.node(node)?, self.node(upstream)?);
        let query = format!(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{}' \
             AND state = 'streaming'",
            node.name()
        );
        wait_for(STREAMING_TIMEOUT, || {
            Ok((source.psql("postgres", &query)? != "0").then_some(()))
        })
        .map_err(|e| {
            e.unwrap_or_else(|| {
                log_error(
                    server,
                    format!(
                        "{node} was not streaming from {upstream} (port {}) within \
                         {STREAMING_TIMEOUT:?}",
                        source.port()
                    ),
                )
            })
        })
    }

    /// `SELECT pg_reload_conf()` on `node`, then waits until new sessions there see `setting`
    /// at `value` (in `pg_settings`' unit).
    fn reload_and_wait(
        &self,
        node: Node,
        setting: &str,
        value: &str,
        timeout: Duration,
    ) -> Result<()> {
        let server = self.node(node)?;
        server.psql("postgres", "SELECT pg_reload_conf()")?;
        let query = format!("SELECT setting FROM pg_settings WHERE name = '{setting}'");
        let mut seen = String::new();
        wait_for(timeout, || {
            seen = server.psql("postgres", &query)?;
            Ok((seen == value).then_some(()))
        })
        .map_err(|e| {
            e.unwrap_or_else(|| {
                log_error(
                    server,
                    format!(
                        "{node}: {setting} was still {seen:?}, not {value:?}, {timeout:?} after \
                         ALTER SYSTEM and a reload (a setting given on the command line, with \
                         PgServerBuilder::config, wins over ALTER SYSTEM)"
                    ),
                )
            })
        })
    }
}

/// Calls `check` every [`POLL`] until it returns `Some`, an error, or `timeout` passes.
/// `Err(Some(e))` is `check`'s error, `Err(None)` the timeout (the caller says what did not
/// happen).
fn wait_for<T>(
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> std::result::Result<T, Option<Error>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(done) = check().map_err(Some)? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            return Err(None);
        }
        std::thread::sleep(POLL);
    }
}

/// An error that quotes `server`'s log.
fn log_error(server: &PgServer, message: String) -> Error {
    let error = Error::msg(message);
    match server.log_path() {
        Some(log) => error.with_log(&log),
        None => error,
    }
}

/// Creates the physical replication slot `name` on `server` unless it exists, reserving WAL
/// from now on.
fn ensure_slot(server: &PgServer, name: &str) -> Result<()> {
    server
        .psql(
            "postgres",
            &format!(
                "SELECT pg_create_physical_replication_slot('{name}', true) WHERE NOT EXISTS \
                 (SELECT FROM pg_replication_slots WHERE slot_name = '{name}')"
            ),
        )
        .map(drop)
}

fn parse_bool(out: &str) -> Result<bool> {
    match out.trim() {
        "t" => Ok(true),
        "f" => Ok(false),
        other => Err(Error::msg(format!(
            "expected a boolean from psql, got {other:?}"
        ))),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a URL's user,
/// password or path.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_have_stable_names_and_indexes() {
        assert_eq!(Node::Primary.name(), "primary");
        assert_eq!(Node::from(1).name(), "standby_1");
        for node in [Node::Primary, Node::Standby(0), Node::Standby(3)] {
            assert_eq!(Node::from_index(node.index()), node);
        }
    }

    #[test]
    fn percent_encodes_reserved_characters() {
        assert_eq!(percent_encode("scram_user"), "scram_user");
        assert_eq!(percent_encode("a b@c:d/é"), "a%20b%40c%3Ad%2F%C3%A9");
    }
}
