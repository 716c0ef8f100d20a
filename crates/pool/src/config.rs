//! Settings: [`Config`] with documented defaults, the [`Builder`] that validates them, and
//! [`QueueMode`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BuildError;
use crate::manager::Manager;
use crate::pool::Pool;
use crate::stats::PoolEvent;

/// The order in which idle connections are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueMode {
    /// Last returned, first reused (the default): the busy set stays hot and surplus
    /// connections go cold, so [`idle_timeout`](Builder::idle_timeout) can reap them.
    #[default]
    Lifo,
    /// First returned, first reused: spreads use evenly over every connection, so none goes idle
    /// long enough to be reaped.
    Fifo,
}

/// The pool's settings. Built and validated by [`Builder`]; read back with
/// [`Pool::config`](crate::Pool::config).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Most connections open at once, counting idle, in use and being opened. Default 10.
    pub max_size: usize,
    /// Connections kept open even when idle: idle reaping never takes the pool below this and
    /// the background task opens connections while the pool is smaller. Default 0.
    pub min_idle: usize,
    /// Bound on a whole [`get`](crate::Pool::get): waiting, connecting and checking. Default 30 s.
    pub acquire_timeout: Duration,
    /// Bound on one [`Manager::connect`] attempt. Default 10 s.
    pub connect_timeout: Duration,
    /// Idle connections unused for this long are closed, down to `min_idle`. `None` keeps them.
    /// Default 10 min.
    pub idle_timeout: Option<Duration>,
    /// Connections older than this are retired: an idle one at its own deadline (the
    /// background task wakes for it), one in use when it comes back, one picked from idle just
    /// past it on checkout. Each connection's lifetime is shortened by a random amount when it
    /// is opened, so connections opened together do not expire together: up to 2.5 % of the
    /// lifetime, and up to at least the shorter of 100 ms and 10 % of it (so short lifetimes
    /// spread too). `None` keeps them forever. Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// A connection that sat idle longer than this is health-checked ([`Manager::check`]) on
    /// checkout. `Some(Duration::ZERO)` checks every connection that spent any time idle (never
    /// one just opened or just handed over by a returning caller); `None` never checks.
    /// Default 500 ms.
    ///
    /// Idle time is measured on the pool's coarse clock, which the background task refreshes
    /// every fifth of this setting (5 to 100 ms) while the pool is in use, so the hot path never
    /// reads the system clock: a connection idle up to one such tick longer than this may skip
    /// its check once.
    pub check_after_idle: Option<Duration>,
    /// Bound on one health check ([`Manager::check`]). A check that fails or runs out of this
    /// time closes the connection and the same acquire moves on to the next idle connection or
    /// a new connect; only when the acquire's own deadline comes first does the caller get a
    /// [`Phase::Checking`](crate::Phase::Checking) timeout. Keep it well under
    /// `acquire_timeout` (a ping answers in milliseconds; this bounds what a silent peer, such
    /// as a half-open TCP connection, costs a caller). Default 5 s.
    pub check_timeout: Duration,
    /// Most connects in flight at once. Default 2.
    pub max_connecting: usize,
    /// First delay after a failed connect; doubled per consecutive failure, with full jitter.
    /// Default 25 ms.
    pub backoff_base: Duration,
    /// Cap on the delay between failed connects. Default 2 s.
    ///
    /// It is also the slow cadence: after a connect error the manager classes as permanent
    /// ([`ErrorClass::Permanent`](crate::ErrorClass::Permanent)), and while the breaker is
    /// open (see [`breaker_threshold`](Config::breaker_threshold)), connects are retried every
    /// half to whole `backoff_max` (random), not on the exponential backoff.
    pub backoff_max: Duration,
    /// Consecutive failed connects, with no idle connection, after which the pool stops making
    /// callers wait for connects that keep failing (the breaker opens). A connect error the
    /// manager classes as permanent opens it at once. `None` turns the breaker off; 0 is
    /// refused. Default 3.
    ///
    /// While the breaker is open, a `get` that finds no idle connection and would need a new one
    /// (the pool is not full of open connections) fails at once: with
    /// [`Error::Unreachable`](crate::Error::Unreachable) while a probe connect is in flight, and
    /// with [`Error::Connect`](crate::Error::Connect) whenever the last connect failed with a
    /// permanent error. Callers already waiting when it opens keep their `acquire_timeout`. At
    /// most one connect runs, the probe, retried every half to whole
    /// [`backoff_max`](Config::backoff_max) while callers keep asking; when nobody has asked
    /// since its last attempt it stops, and after a transient error the next caller then waits
    /// (up to its `acquire_timeout`) for a connect of its own, which is the next probe. The
    /// first successful connect closes the breaker. See docs/pool.md, "Failing fast: the
    /// breaker".
    pub breaker_threshold: Option<u32>,
    /// Most callers allowed to wait at once; a `get` beyond it fails at once with
    /// [`Error::QueueFull`](crate::Error::QueueFull). `None` is unbounded. Default `None`.
    pub max_waiters: Option<usize>,
    /// Reuse order of idle connections. Default [`QueueMode::Lifo`].
    pub queue: QueueMode,
    /// Bound on one [`Manager::reset`]. Default 5 s.
    pub reset_timeout: Duration,
    /// How long [`close`](crate::Pool::close) waits for checked-out connections. Default 30 s.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_size: 10,
            min_idle: 0,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            check_after_idle: Some(Duration::from_millis(500)),
            check_timeout: Duration::from_secs(5),
            max_connecting: 2,
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_secs(2),
            breaker_threshold: Some(3),
            max_waiters: None,
            queue: QueueMode::Lifo,
            reset_timeout: Duration::from_secs(5),
            close_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Checks the settings against each other; the error names the offending setting.
    pub fn validate(&self) -> Result<(), BuildError> {
        fn invalid(setting: &'static str, reason: &'static str) -> Result<(), BuildError> {
            Err(BuildError::Invalid { setting, reason })
        }
        if self.max_size == 0 {
            return invalid("max_size", "must be at least 1");
        }
        if self.min_idle > self.max_size {
            return invalid("min_idle", "must not exceed max_size");
        }
        if self.acquire_timeout.is_zero() {
            return invalid("acquire_timeout", "must be greater than zero");
        }
        if self.connect_timeout.is_zero() {
            return invalid("connect_timeout", "must be greater than zero");
        }
        if self.check_timeout.is_zero() {
            return invalid("check_timeout", "must be greater than zero");
        }
        if self.reset_timeout.is_zero() {
            return invalid("reset_timeout", "must be greater than zero");
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return invalid(
                "idle_timeout",
                "must be greater than zero (use None to disable)",
            );
        }
        if self.max_lifetime.is_some_and(|d| d.is_zero()) {
            return invalid(
                "max_lifetime",
                "must be greater than zero (use None to disable)",
            );
        }
        if self.max_connecting == 0 {
            return invalid("max_connecting", "must be at least 1");
        }
        if self.backoff_base.is_zero() {
            return invalid("backoff_base", "must be greater than zero");
        }
        if self.backoff_max < self.backoff_base {
            return invalid("backoff_max", "must not be less than backoff_base");
        }
        if self.breaker_threshold == Some(0) {
            return invalid(
                "breaker_threshold",
                "must be at least 1 (use None to turn the breaker off)",
            );
        }
        if self.max_waiters == Some(0) {
            return invalid("max_waiters", "must be at least 1 (use None for unbounded)");
        }
        Ok(())
    }

    /// How often the background task runs maintenance on its own: a quarter of the shorter of
    /// `idle_timeout` and `max_lifetime`, between 10 ms and 30 s. Between passes it also wakes
    /// at the earliest deadline among idle connections (see `State::retire_idle`), so each one
    /// is retired at its own deadline rather than at the next pass.
    pub(crate) fn maintenance_interval(&self) -> Duration {
        let shortest = match (self.idle_timeout, self.max_lifetime) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Duration::from_secs(120),
        };
        (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(30))
    }

    /// The most a connection's lifetime is shortened by, at random, when it is opened: 2.5 % of
    /// `lifetime`, and at least the shorter of 100 ms and 10 % of it, so that connections opened
    /// together with a short lifetime still expire apart.
    pub(crate) fn lifetime_jitter(lifetime: Duration) -> Duration {
        let floor = (lifetime / 10).min(Duration::from_millis(100));
        lifetime.mul_f64(0.025).max(floor)
    }

    /// How often the background task refreshes the pool's coarse clock while the pool is in
    /// use: a fifth of `check_after_idle`, between 5 ms and 100 ms (see `clock.rs`).
    pub(crate) fn clock_tick(&self) -> Duration {
        match self.check_after_idle {
            Some(d) if !d.is_zero() => {
                (d / 5).clamp(Duration::from_millis(5), Duration::from_millis(100))
            }
            _ => Duration::from_millis(100),
        }
    }
}

/// The observer callback type: called for every [`PoolEvent`], never while the pool's lock is
/// held.
pub type Observer = Arc<dyn Fn(&PoolEvent<'_>) + Send + Sync>;

/// Builds a [`Pool`]: set what differs from [`Config`]'s defaults, then [`build`](Builder::build).
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder<M: Manager> {
    manager: M,
    config: Config,
    observer: Option<Observer>,
}

impl<M: Manager> fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("config", &self.config)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl<M: Manager> Builder<M> {
    pub(crate) fn new(manager: M) -> Self {
        Self {
            manager,
            config: Config::default(),
            observer: None,
        }
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    setter!(
        /// See [`Config::max_size`].
        max_size: usize
    );
    setter!(
        /// See [`Config::min_idle`].
        min_idle: usize
    );
    setter!(
        /// See [`Config::acquire_timeout`].
        acquire_timeout: Duration
    );
    setter!(
        /// See [`Config::connect_timeout`].
        connect_timeout: Duration
    );
    setter!(
        /// See [`Config::idle_timeout`].
        idle_timeout: Option<Duration>
    );
    setter!(
        /// See [`Config::max_lifetime`].
        max_lifetime: Option<Duration>
    );
    setter!(
        /// See [`Config::check_after_idle`].
        check_after_idle: Option<Duration>
    );
    setter!(
        /// See [`Config::check_timeout`].
        check_timeout: Duration
    );
    setter!(
        /// See [`Config::max_connecting`].
        max_connecting: usize
    );
    setter!(
        /// See [`Config::backoff_base`].
        backoff_base: Duration
    );
    setter!(
        /// See [`Config::backoff_max`].
        backoff_max: Duration
    );
    setter!(
        /// See [`Config::breaker_threshold`].
        breaker_threshold: Option<u32>
    );
    setter!(
        /// See [`Config::max_waiters`].
        max_waiters: Option<usize>
    );
    setter!(
        /// See [`Config::queue`].
        queue: QueueMode
    );
    setter!(
        /// See [`Config::reset_timeout`].
        reset_timeout: Duration
    );
    setter!(
        /// See [`Config::close_timeout`].
        close_timeout: Duration
    );

    /// Sets a callback that receives every [`PoolEvent`]. It runs on the thread that caused the
    /// event, never under the pool's lock; keep it short.
    pub fn observer(mut self, observer: impl Fn(&PoolEvent<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Validates the settings and starts the pool and its background task (which opens
    /// `min_idle` connections in the background).
    ///
    /// Must be called within a tokio runtime: the pool spawns its connects, resets, closes and
    /// maintenance on it.
    pub fn build(self) -> Result<Pool<M>, BuildError> {
        self.config.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        Ok(Pool::start(
            self.manager,
            self.config,
            self.observer,
            runtime,
        ))
    }
}
