//! Checks before a connection is handed out: the dead-connection probe (`Manager::is_dead`) and
//! the health check bounded by `check_timeout`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_pool::{BuildError, Error, Phase, Pool, PoolEvent};
use tokio::time::Instant;

use crate::fake::{Behave, Fake, Inner};
use crate::settle;

/// A check that hangs (a half-open connection: the peer went silent) costs the caller
/// `check_timeout`, not its whole `acquire_timeout`: the connection is closed and the same
/// `get` is served by a fresh connection.
#[tokio::test(start_paused = true)]
async fn a_hanging_check_costs_check_timeout_and_the_same_get_gets_a_fresh_connection() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let pool = Pool::builder(Fake::new())
        .max_size(2)
        .acquire_timeout(Duration::from_secs(30))
        .check_after_idle(Some(Duration::ZERO))
        .check_timeout(Duration::from_secs(1))
        .observer(move |e| {
            let line = match e {
                PoolEvent::CheckFailed { error } => format!("CheckFailed: {error}"),
                other => format!("{other:?}"),
            };
            seen.lock().unwrap().push(line);
        })
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let first = pool.get().await.unwrap().id;
    tokio::time::sleep(Duration::from_millis(1)).await;
    fake.set_check(Behave::Never);
    let start = Instant::now();
    let conn = pool.get().await.expect("served within its acquire_timeout");
    let elapsed = start.elapsed();
    assert_ne!(conn.id, first, "the silent connection was not handed out");
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(1_010),
        "took {elapsed:?}"
    );
    let stats = pool.stats();
    assert_eq!((stats.closed_check_failed, stats.timeouts), (1, 0));
    // The fresh connection came straight from its connect: not checked.
    assert_eq!(Inner::count(&fake.checks), 1);
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e == "CheckFailed: health check timed out after 1s (check_timeout)"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Removed") && e.contains("CheckFailed")),
        "{events:?}"
    );
}

/// When the acquire's own deadline comes before `check_timeout`, the caller gets the
/// `Checking` timeout at that deadline.
#[tokio::test(start_paused = true)]
async fn the_acquire_deadline_still_bounds_a_hanging_check() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .acquire_timeout(Duration::from_millis(2_500))
        .check_after_idle(Some(Duration::ZERO))
        .check_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    drop(pool.get().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1)).await;
    pool.manager().inner.set_check(Behave::Never);
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(2_500));
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(t.phase, Phase::Checking);
    assert_eq!(pool.stats().closed_check_failed, 1);
    settle(&pool, |s| s.size == 0).await;
}

/// After a network event every idle connection may be silent. The first check that runs out
/// of `check_timeout` also evicts the connections idle at least as long, so the caller pays
/// one `check_timeout` and a connect, not one `check_timeout` per stale connection.
#[tokio::test(start_paused = true)]
async fn one_silent_check_evicts_the_stale_cohort() {
    const N: usize = 4;
    let pool = Pool::builder(Fake::new())
        .max_size(N)
        .acquire_timeout(Duration::from_secs(30))
        .check_after_idle(Some(Duration::ZERO))
        .check_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(pool.get().await.unwrap());
    }
    held.clear();
    tokio::time::sleep(Duration::from_millis(1)).await;
    fake.set_check(Behave::Never);
    let start = Instant::now();
    for _ in 0..N {
        let conn = pool.get().await.expect("no caller fails");
        assert!(conn.id >= N, "a stale connection was handed out");
        held.push(conn);
    }
    // The first caller paid one check_timeout; the rest were served by fresh connects.
    assert!(
        start.elapsed() < Duration::from_millis(1_010),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(Inner::count(&fake.checks), 1);
    let stats = pool.stats();
    assert_eq!((stats.closed_check_failed, stats.timeouts), (N as u64, 0));
}

/// Idle connections whose peer closed them are found by the probe and closed before anyone
/// gets them: every caller is served, none fails or waits.
#[tokio::test(start_paused = true)]
async fn dead_idle_connections_cost_the_callers_nothing() {
    const N: usize = 5;
    let pool = Pool::builder(Fake::new())
        .max_size(N)
        .check_after_idle(None)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut held = Vec::new();
    for _ in 0..N {
        held.push(pool.get().await.unwrap());
    }
    held.clear();
    assert_eq!(pool.status().idle, N);
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.kill_all();
    let start = Instant::now();
    for _ in 0..N {
        held.push(pool.get().await.expect("a dead connection failed a caller"));
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        held.iter().all(|c| c.id >= N),
        "a dead connection was handed out"
    );
    let stats = pool.stats();
    assert_eq!(stats.closed_dead, N as u64);
    assert_eq!(stats.timeouts, 0);
    assert_eq!(stats.connections_created, 2 * N as u64);
    // Each dead one was probed once; the new ones came straight from their connects.
    assert_eq!(Inner::count(&fake.probes), N);
    assert_eq!(Inner::count(&fake.checks), 0);
    drop(held);
    settle(&pool, |s| s.idle == N).await;
}

/// The probe runs only on a connection that sat idle for some time on the pool's coarse
/// clock: never on one taken again at once (the hot path under load), nor on one handed
/// straight from a returning caller to a waiter.
#[tokio::test(start_paused = true)]
async fn the_probe_skips_connections_that_did_not_sit_idle() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .check_after_idle(None)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let a = pool.get().await.unwrap();
    drop(a);
    for _ in 0..10 {
        drop(pool.get().await.unwrap());
    }
    assert_eq!(Inner::count(&fake.probes), 0, "reused at once: no probe");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = pool.get().await.unwrap();
    assert_eq!(Inner::count(&fake.probes), 1, "sat idle: probed");
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    settle(&pool, |s| s.waiting == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let id = held.id;
    drop(held);
    assert_eq!(waiter.await.unwrap().unwrap(), id);
    assert_eq!(Inner::count(&fake.probes), 1, "handed over: no probe");
}

#[tokio::test(start_paused = true)]
async fn check_timeout_must_be_positive() {
    let err = Pool::builder(Fake::new())
        .check_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Invalid {
                setting: "check_timeout",
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
            .check_timeout,
        Duration::from_secs(5)
    );
}
