//! Connect error classes and the breaker: permanent errors fail their callers at once and slow
//! the retries; connects that keep failing open the breaker, and callers that would need a new
//! connection then fail at once until a probe connect succeeds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_pool::{BuildError, ConnectError, Error, ErrorClass, Pool, PoolEvent};
use tokio::time::Instant;

use crate::fake::{Behave, Fake, FakeError, Inner};
use crate::{settle, yield_many};

const BACKOFF_MAX: Duration = Duration::from_millis(400);

fn builder() -> tarn_pool::Builder<Fake> {
    Pool::builder(Fake::new())
        .max_size(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_millis(500))
        .backoff_base(Duration::from_millis(20))
        .backoff_max(BACKOFF_MAX)
}

/// Records each event's kind with the (paused) time it happened.
type Log = Arc<Mutex<Vec<(Instant, String)>>>;

fn logged(builder: tarn_pool::Builder<Fake>) -> (tarn_pool::Builder<Fake>, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let builder = builder.observer(move |e: &PoolEvent<'_>| {
        seen.lock()
            .unwrap()
            .push((Instant::now(), format!("{e:?}")));
    });
    (builder, log)
}

fn times_of(log: &Log, kind: &str) -> Vec<Instant> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(_, e)| e.starts_with(kind))
        .map(|(t, _)| *t)
        .collect()
}

fn assert_permanent(err: &Error<FakeError>) {
    let Error::Connect(e) = err else {
        panic!("expected Error::Connect, got {err:?}")
    };
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert_eq!(e.manager_error().expect("the manager's error").0, "connect");
    assert!(matches!(
        err.last_connect_error(),
        Some(ConnectError::Permanent(_))
    ));
    assert!(std::error::Error::source(err).is_some());
    let text = err.to_string();
    assert!(
        text.contains("permanent") && text.contains("fake connect failed"),
        "{text}"
    );
}

/// A permanent error (bad password, missing database) fails the caller waiting for that
/// connect at once, with the manager's error, instead of after acquire_timeout; it opens the
/// breaker at once (below its threshold), so the next caller fails at once too.
#[tokio::test(start_paused = true)]
async fn a_permanent_connect_error_fails_the_caller_at_once() {
    let pool = builder().build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    fake.set_connect_class(ErrorClass::Permanent);
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_permanent(&err);
    assert_eq!(Inner::count(&fake.connect_attempts), 1);
    assert!(pool.status().breaker_open);
    // The next caller does not wait for a connect that will fail the same way.
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_permanent(&err);
    assert_eq!(Inner::count(&fake.connect_attempts), 1);
    let stats = pool.stats();
    assert_eq!(
        (
            stats.failed_connect,
            stats.rejected_unreachable,
            stats.breaker_opened,
            stats.timeouts
        ),
        (1, 1, 1, 0)
    );
}

/// With the breaker off, a permanent error still fails the callers waiting for that connect
/// at once; a later caller queues and is failed by the next attempt, which comes only after
/// the slow interval.
#[tokio::test(start_paused = true)]
async fn with_the_breaker_off_a_permanent_error_still_fails_its_waiters() {
    let pool = builder().breaker_threshold(None).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    fake.set_connect_class(ErrorClass::Permanent);
    let start = Instant::now();
    assert_permanent(&pool.get().await.unwrap_err());
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(!pool.status().breaker_open);
    let start = Instant::now();
    assert_permanent(&pool.get().await.unwrap_err());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= BACKOFF_MAX / 2 && elapsed <= BACKOFF_MAX,
        "{elapsed:?}"
    );
    assert_eq!(pool.stats().breaker_opened, 0);
}

/// When nothing is idle or in use, nothing can come back to serve the waiters: a permanent
/// error fails every one of them.
#[tokio::test(start_paused = true)]
async fn a_permanent_error_fails_every_waiter_when_no_connection_could_come_back() {
    let pool = builder()
        .max_size(2)
        .breaker_threshold(None)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    fake.set_connect_class(ErrorClass::Permanent);
    let start = Instant::now();
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|c| c.id) })
        })
        .collect();
    for caller in callers {
        assert_permanent(&caller.await.unwrap().unwrap_err());
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(pool.stats().failed_connect, 5);
    // The two connects started for them (max_connecting) are the only attempts.
    assert_eq!(Inner::count(&fake.connect_attempts), 2);
}

/// With a connection in use (it will come back), a permanent error fails only the waiter each
/// failed connect was meant to serve; the rest wait for the returned connection.
#[tokio::test(start_paused = true)]
async fn with_a_connection_in_use_a_permanent_error_fails_one_waiter_per_failed_connect() {
    let pool = builder()
        .max_size(3)
        .max_connecting(2)
        .breaker_threshold(None)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let held = pool.get().await.unwrap();
    fake.set_connect(Behave::Err);
    fake.set_connect_class(ErrorClass::Permanent);
    let callers: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|c| c.id) })
        })
        .collect();
    let mut callers = callers.into_iter();
    // Two connects ran (max_connecting) and failed: the two oldest waiters fail at once.
    let start = Instant::now();
    for caller in callers.by_ref().take(2) {
        assert_permanent(&caller.await.unwrap().unwrap_err());
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(Inner::count(&fake.connect_attempts), 1 + 2);
    assert_eq!(pool.status().waiting, 1);
    // The third is served by the connection coming back.
    let id = held.id;
    drop(held);
    let last = callers.next().unwrap();
    assert_eq!(last.await.unwrap().unwrap(), id);
    assert_eq!(pool.stats().failed_connect, 2);
}

/// After a permanent error the retry loop waits half to whole `backoff_max` between attempts
/// (each one costs the server a failed login); a transient error starts from `backoff_base`.
#[tokio::test(start_paused = true)]
async fn permanent_errors_slow_the_retries_to_backoff_max() {
    for class in [ErrorClass::Permanent, ErrorClass::Transient] {
        // min_idle keeps the retry loop going with nobody waiting; the breaker is off so only
        // the class decides the pace.
        let (b, log) = logged(builder().min_idle(1).breaker_threshold(None));
        let pool = b.build().unwrap();
        // Before the background task's first pass starts the refill.
        pool.manager().inner.set_connect(Behave::Err);
        pool.manager().inner.set_connect_class(class);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let failed = times_of(&log, "ConnectFailed");
        let gaps: Vec<Duration> = failed.windows(2).map(|w| w[1] - w[0]).collect();
        match class {
            ErrorClass::Permanent => {
                assert!(
                    gaps.iter()
                        .all(|g| *g >= BACKOFF_MAX / 2 && *g <= BACKOFF_MAX),
                    "{gaps:?}"
                );
                assert!((25..=51).contains(&failed.len()), "{}", failed.len());
            }
            ErrorClass::Transient => {
                assert!(gaps[0] <= Duration::from_millis(20), "{gaps:?}");
            }
        }
        pool.close().await;
    }
}

/// The scenario the breaker is for: the server goes away. The callers already waiting wait
/// out their acquire_timeout; once the breaker is open, later callers fail at once with
/// `Error::Unreachable` while one probe connect retries every half to whole `backoff_max`;
/// when the server is back, service resumes within one probe interval.
#[tokio::test(start_paused = true)]
async fn transient_failures_open_the_breaker_and_later_callers_fail_fast_until_a_probe_succeeds() {
    let (b, log) = logged(builder());
    let pool = b.build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    let start = Instant::now();
    let first: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(|c| c.id) })
        })
        .collect();
    for caller in first {
        let err = caller.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    }
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(pool.status().breaker_open);
    assert_eq!(times_of(&log, "BreakerOpened").len(), 1);
    let opened_at = times_of(&log, "BreakerOpened")[0];
    assert!(
        opened_at - start < Duration::from_millis(500),
        "opened late"
    );

    // Later callers fail at once, with the last connect error, while the probe keeps going.
    let attempts = Inner::count(&fake.connect_attempts);
    for i in 0..20 {
        let t = Instant::now();
        let err = pool.get().await.unwrap_err();
        assert_eq!(t.elapsed(), Duration::ZERO);
        let Error::Unreachable {
            last_connect_error,
            consecutive_failures,
            open_for,
        } = &err
        else {
            panic!("expected Error::Unreachable, got {err:?}")
        };
        assert!(matches!(last_connect_error, ConnectError::Failed(_)));
        assert!(*consecutive_failures >= 3);
        assert_eq!(*open_for, Instant::now() - opened_at);
        if i == 0 {
            let text = err.to_string();
            assert!(
                text.starts_with("failing fast")
                    && text.contains("last connect failed: fake connect failed"),
                "{text}"
            );
            assert!(std::error::Error::source(&err).is_some());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One probe, every 200 to 400 ms, over those 2 s.
    let probes = Inner::count(&fake.connect_attempts) - attempts;
    assert!((4..=11).contains(&probes), "{probes} probe attempts");
    assert_eq!(pool.status().connecting, 1);

    // The server comes back.
    fake.set_connect(Behave::Ok);
    let back = Instant::now();
    let conn = loop {
        match pool.get().await {
            Ok(conn) => break conn,
            Err(Error::Unreachable { .. }) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    };
    assert!(
        back.elapsed() <= BACKOFF_MAX + Duration::from_millis(10),
        "service resumed after {:?}",
        back.elapsed()
    );
    drop(conn);
    assert!(!pool.status().breaker_open);
    let stats = pool.stats();
    assert_eq!((stats.breaker_opened, stats.breaker_closed), (1, 1));
    assert!(stats.rejected_unreachable >= 20);
    assert_eq!(times_of(&log, "BreakerClosed").len(), 1);
}

/// An open breaker with nobody asking stops probing (an unused pool costs the server
/// nothing); the next caller then waits for a connect of its own, which is the probe, and a
/// caller arriving while that probe is in flight fails at once.
#[tokio::test(start_paused = true)]
async fn a_quiet_open_breaker_lets_the_next_caller_through_as_the_probe() {
    let pool = builder().build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    assert!(matches!(pool.get().await, Err(Error::Timeout(_))));
    assert!(pool.status().breaker_open);
    let s = settle(&pool, |s| s.connecting == 0).await;
    assert_eq!(s.size, 0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let attempts = Inner::count(&fake.connect_attempts);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        Inner::count(&fake.connect_attempts),
        attempts,
        "still probing"
    );

    fake.set_connect(Behave::Ok);
    let trial = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    yield_many(4).await;
    assert_eq!(pool.status().connecting, 1);
    assert!(matches!(pool.get().await, Err(Error::Unreachable { .. })));
    let start = Instant::now();
    assert!(trial.await.unwrap().is_ok());
    assert!(start.elapsed() <= BACKOFF_MAX);
    assert!(!pool.status().breaker_open);
}

/// With the breaker off, every caller waits out its acquire_timeout as before.
#[tokio::test(start_paused = true)]
async fn with_the_breaker_off_every_caller_waits_as_before() {
    let pool = builder().breaker_threshold(None).build().unwrap();
    pool.manager().inner.set_connect(Behave::Err);
    for _ in 0..3 {
        let start = Instant::now();
        let err = pool.get().await.unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(!pool.status().breaker_open);
    }
    assert_eq!(pool.stats().breaker_opened, 0);
}

/// Failed connects while connections sit idle do not open the breaker (callers are served by
/// those); once nothing is idle, the next failure opens it.
#[tokio::test(start_paused = true)]
async fn idle_connections_keep_the_breaker_closed() {
    let pool = builder()
        .max_size(3)
        .min_idle(3)
        .max_connecting(2)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.script_connects(&[Behave::Ok, Behave::Ok]);
    fake.set_connect(Behave::Err);
    settle(&pool, |s| s.idle == 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(pool.stats().connect_errors >= 3);
    assert!(!pool.status().breaker_open);
    let held = (pool.get().await.unwrap(), pool.get().await.unwrap());
    // The refill keeps failing with nothing idle now.
    tokio::time::sleep(BACKOFF_MAX * 2).await;
    assert!(pool.status().breaker_open);
    let start = Instant::now();
    assert!(matches!(pool.get().await, Err(Error::Unreachable { .. })));
    assert_eq!(start.elapsed(), Duration::ZERO);
    drop(held);
    // Idle connections serve callers whatever the breaker says.
    assert!(pool.get().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn breaker_threshold_zero_is_refused() {
    let err = Pool::builder(Fake::new())
        .breaker_threshold(Some(0))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Invalid {
                setting: "breaker_threshold",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        Pool::builder(Fake::new())
            .build()
            .unwrap()
            .config()
            .breaker_threshold,
        Some(3)
    );
}
