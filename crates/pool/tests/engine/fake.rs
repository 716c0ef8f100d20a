//! A fake manager: connect and check behave as scripted (ok, err, slow, never), connect errors
//! have a chosen class, connections can be marked broken or dirty (or, while idle, dead to the
//! probe), and counters say how many connections are alive.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tarn_pool::{ErrorClass, Manager};

/// How one connect, check or reset behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behave {
    Ok,
    Err,
    Slow(Duration),
    Never,
}

#[derive(Debug)]
pub(crate) struct FakeError(pub &'static str);

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fake {} failed", self.0)
    }
}

impl std::error::Error for FakeError {}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) connect: Mutex<Behave>,
    pub(crate) connect_script: Mutex<VecDeque<Behave>>,
    pub(crate) check: Mutex<Behave>,
    pub(crate) reset: Mutex<Behave>,
    /// The class `error_class` gives every connect error.
    pub(crate) connect_class: Mutex<ErrorClass>,
    /// Connections with an id below this are dead to `is_dead` (see `kill_all`).
    pub(crate) dead_below: AtomicUsize,
    /// Connections alive (created and not yet dropped).
    pub(crate) live: AtomicUsize,
    pub(crate) connect_attempts: AtomicUsize,
    pub(crate) created: AtomicUsize,
    pub(crate) checks: AtomicUsize,
    /// Calls of `is_dead`.
    pub(crate) probes: AtomicUsize,
    pub(crate) resets: AtomicUsize,
    pub(crate) closes: AtomicUsize,
}

impl Inner {
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    pub(crate) fn set_connect(&self, b: Behave) {
        *self.connect.lock().unwrap() = b;
    }
    pub(crate) fn set_check(&self, b: Behave) {
        *self.check.lock().unwrap() = b;
    }
    pub(crate) fn set_reset(&self, b: Behave) {
        *self.reset.lock().unwrap() = b;
    }
    pub(crate) fn set_connect_class(&self, class: ErrorClass) {
        *self.connect_class.lock().unwrap() = class;
    }
    /// Every connection opened so far is dead to the probe from now on (its peer closed the
    /// socket while it sat idle); later ones are not.
    pub(crate) fn kill_all(&self) {
        self.dead_below
            .store(self.created.load(Ordering::SeqCst), Ordering::SeqCst);
    }
    pub(crate) fn script_connects(&self, script: &[Behave]) {
        self.connect_script
            .lock()
            .unwrap()
            .extend(script.iter().copied());
    }
    pub(crate) fn count(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Fake {
    pub(crate) inner: Arc<Inner>,
}

impl Fake {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                connect: Mutex::new(Behave::Ok),
                connect_script: Mutex::new(VecDeque::new()),
                check: Mutex::new(Behave::Ok),
                reset: Mutex::new(Behave::Ok),
                connect_class: Mutex::new(ErrorClass::Transient),
                dead_below: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                connect_attempts: AtomicUsize::new(0),
                created: AtomicUsize::new(0),
                checks: AtomicUsize::new(0),
                probes: AtomicUsize::new(0),
                resets: AtomicUsize::new(0),
                closes: AtomicUsize::new(0),
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: usize,
    pub(crate) broken: bool,
    pub(crate) dirty: bool,
    inner: Arc<Inner>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.inner.live.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn behave(b: Behave, what: &'static str) -> Result<(), FakeError> {
    match b {
        Behave::Ok => Ok(()),
        Behave::Err => Err(FakeError(what)),
        Behave::Slow(d) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Behave::Never => std::future::pending().await,
    }
}

impl Manager for Fake {
    type Connection = Conn;
    type Error = FakeError;

    async fn connect(&self) -> Result<Conn, FakeError> {
        self.inner.connect_attempts.fetch_add(1, Ordering::SeqCst);
        let b = {
            let scripted = self.inner.connect_script.lock().unwrap().pop_front();
            scripted.unwrap_or(*self.inner.connect.lock().unwrap())
        };
        behave(b, "connect").await?;
        let id = self.inner.created.fetch_add(1, Ordering::SeqCst);
        self.inner.live.fetch_add(1, Ordering::SeqCst);
        Ok(Conn {
            id,
            broken: false,
            dirty: false,
            inner: Arc::clone(&self.inner),
        })
    }

    async fn check(&self, _conn: &mut Conn) -> Result<(), FakeError> {
        self.inner.checks.fetch_add(1, Ordering::SeqCst);
        let b = *self.inner.check.lock().unwrap();
        behave(b, "check").await
    }

    fn error_class(&self, _error: &FakeError) -> ErrorClass {
        *self.inner.connect_class.lock().unwrap()
    }

    fn is_dead(&self, conn: &mut Conn) -> bool {
        self.inner.probes.fetch_add(1, Ordering::SeqCst);
        conn.id < self.inner.dead_below.load(Ordering::SeqCst)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
    }

    fn needs_reset(&self, conn: &mut Conn) -> bool {
        conn.dirty
    }

    async fn reset(&self, conn: &mut Conn) -> Result<(), FakeError> {
        self.inner.resets.fetch_add(1, Ordering::SeqCst);
        let b = *self.inner.reset.lock().unwrap();
        behave(b, "reset").await?;
        conn.dirty = false;
        Ok(())
    }

    async fn close(&self, conn: Conn) {
        self.inner.closes.fetch_add(1, Ordering::SeqCst);
        drop(conn);
    }
}
