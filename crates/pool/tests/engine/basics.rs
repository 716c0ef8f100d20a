//! Acquire, timeout, FIFO order, hand-off, queue bound, health checks, settings validation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_pool::{BuildError, Error, Phase, Pool, Pooled};
use tokio::time::Instant;

use crate::fake::{Behave, Fake, Inner};
use crate::{assert_invariant, settle, yield_many};

fn pool(max: usize) -> Pool<Fake> {
    Pool::builder(Fake::new())
        .max_size(max)
        .acquire_timeout(Duration::from_secs(30))
        .build()
        .expect("valid settings")
}

#[tokio::test(start_paused = true)]
async fn get_reuses_idle_connection_lifo() {
    let pool = pool(4);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let (ida, idb) = (a.id, b.id);
    assert_ne!(ida, idb);
    drop(a);
    drop(b);
    // LIFO: the last returned comes out first.
    assert_eq!(pool.get().await.unwrap().id, idb);
    let s = pool.status();
    assert_eq!(
        (s.size, s.idle, s.in_use, s.connecting, s.waiting),
        (2, 2, 0, 0, 0)
    );
    let stats = pool.stats();
    assert_eq!(stats.connections_created, 2);
    assert_eq!(stats.gets, 3);
}

#[tokio::test(start_paused = true)]
async fn fifo_queue_mode_rotates() {
    let pool = Pool::builder(Fake::new())
        .max_size(2)
        .queue(tarn_pool::QueueMode::Fifo)
        .build()
        .unwrap();
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let (ida, idb) = (a.id, b.id);
    drop(a);
    drop(b);
    assert_eq!(pool.get().await.unwrap().id, ida);
    assert_eq!(pool.get().await.unwrap().id, idb);
}

#[tokio::test(start_paused = true)]
async fn acquire_timeout_fires_at_configured_time() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .acquire_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let held = pool.get().await.unwrap();
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_secs(2),
        "fired early: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(2_005),
        "fired late: {elapsed:?}"
    );
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(t.phase, Phase::Waiting);
    assert_eq!(
        (t.status.size, t.status.in_use, t.status.waiting),
        (1, 1, 1)
    );
    assert!(t.last_connect_error.is_none());
    let msg = err.to_string();
    assert!(
        msg.starts_with("timed out after 2s waiting for a connection (size 1/1"),
        "{msg}"
    );
    // The timed-out waiter left the queue.
    assert_eq!(pool.status().waiting, 0);
    assert_eq!(pool.stats().timeouts, 1);
    drop(held);

    // get_timeout uses its own bound.
    let _held = pool.get().await.unwrap();
    let start = Instant::now();
    assert!(pool.get_timeout(Duration::from_millis(300)).await.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

/// Deadlines are watched by the pool's one background timer: a short timeout queued behind
/// longer ones must still fire at its own time, and each later one at its own.
#[tokio::test(start_paused = true)]
async fn mixed_timeouts_each_fire_at_their_own_time() {
    let pool = pool(1);
    let held = pool.get().await.unwrap();
    let start = Instant::now();
    let mut waiters = Vec::new();
    for ms in [5_000u64, 700, 3_000, 700, 1_200] {
        let pool = pool.clone();
        waiters.push(tokio::spawn(async move {
            let err = pool
                .get_timeout(Duration::from_millis(ms))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Timeout(_)), "{err:?}");
            (ms, start.elapsed())
        }));
        yield_many(2).await;
    }
    assert_eq!(pool.status().waiting, 5);
    for w in waiters {
        let (ms, elapsed) = w.await.unwrap();
        let want = Duration::from_millis(ms);
        assert!(
            elapsed >= want && elapsed < want + Duration::from_millis(5),
            "timeout of {ms} ms fired after {elapsed:?}"
        );
    }
    assert_eq!(pool.status().waiting, 0);
    assert_eq!(pool.stats().timeouts, 5);
    // The queue is usable afterwards: a waiter is served by hand-off.
    let pool2 = pool.clone();
    let next = tokio::spawn(async move { pool2.get().await.map(|c| c.id) });
    yield_many(4).await;
    let id = held.id;
    drop(held);
    assert_eq!(next.await.unwrap().unwrap(), id);
}

#[tokio::test(start_paused = true)]
async fn thousand_waiters_served_in_fifo_order() {
    let pool = pool(1);
    let held = pool.get().await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        let p = pool.clone();
        let order = Arc::clone(&order);
        tasks.push(tokio::spawn(async move {
            let conn = p.get().await.unwrap();
            order.lock().unwrap().push(i);
            drop(conn);
        }));
        // Make sure waiter i is queued before waiter i + 1 arrives.
        while pool.status().waiting < i + 1 {
            tokio::task::yield_now().await;
        }
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap();
    assert_eq!(*order, (0..1_000).collect::<Vec<_>>());
    assert_eq!(pool.status().size, 1);
    // Every waiter waited, and so did the first get (for the first connect).
    assert_eq!(pool.stats().gets_waited, 1_001);
}

#[tokio::test(start_paused = true)]
async fn twenty_five_thousand_waiters_on_three_connections() {
    let pool = pool(3);
    let mut tasks = Vec::with_capacity(25_000);
    for _ in 0..25_000 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let conn = pool.get().await?;
            tokio::task::yield_now().await;
            drop(conn);
            Ok::<_, Error<crate::fake::FakeError>>(())
        }));
    }
    let mut served = 0;
    for t in tasks {
        t.await.unwrap().unwrap();
        served += 1;
    }
    assert_eq!(served, 25_000);
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.waiting), (3, 3, 0));
    assert_eq!(pool.stats().gets, 25_000);
    assert_eq!(Inner::count(&pool.manager().inner.created), 3);
}

#[tokio::test(start_paused = true)]
async fn hand_off_prevents_barging() {
    let pool = pool(1);
    let held = pool.get().await.unwrap();
    let id = held.id;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.unwrap().id })
    };
    settle(&pool, |s| s.waiting == 1).await;
    drop(held);
    // The connection now belongs to the waiter, even though it has not run yet.
    let s = pool.status();
    assert_eq!((s.idle, s.in_use, s.waiting), (0, 1, 0));
    assert!(matches!(pool.try_get().await, Err(Error::Unavailable)));
    // A newcomer queues behind.
    let newcomer = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.unwrap().id })
    };
    assert_eq!(waiter.await.unwrap(), id);
    assert_eq!(newcomer.await.unwrap(), id);
}

#[tokio::test(start_paused = true)]
async fn max_waiters_rejects_at_once() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .max_waiters(Some(2))
        .build()
        .unwrap();
    let _held = pool.get().await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let pool = pool.clone();
        waiters.push(tokio::spawn(async move { pool.get().await.is_ok() }));
    }
    settle(&pool, |s| s.waiting == 2).await;
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        matches!(err, Error::QueueFull { max_waiters: 2, .. }),
        "{err:?}"
    );
    assert_eq!(pool.stats().rejected_queue_full, 1);
    for w in waiters {
        w.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn check_only_after_idle_and_failed_check_moves_on() {
    let pool = Pool::builder(Fake::new())
        .max_size(2)
        .check_after_idle(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let id = pool.get().await.unwrap().id;
    // Reused at once: no check.
    assert_eq!(pool.get().await.unwrap().id, id);
    assert_eq!(Inner::count(&fake.checks), 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(pool.get().await.unwrap().id, id);
    assert_eq!(Inner::count(&fake.checks), 1);
    // A failing check closes the connection and the acquire opens another.
    tokio::time::sleep(Duration::from_millis(600)).await;
    fake.set_check(Behave::Err);
    let conn = pool.get().await.unwrap();
    assert_ne!(conn.id, id);
    assert_eq!(pool.stats().closed_check_failed, 1);
    drop(conn);
    settle(&pool, |s| s.size == 1).await;
    assert_eq!(fake.live(), 1);
}

#[tokio::test(start_paused = true)]
async fn slow_check_times_out_in_checking_phase() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .acquire_timeout(Duration::from_secs(1))
        .check_after_idle(Some(Duration::ZERO))
        .build()
        .unwrap();
    drop(pool.get().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1)).await;
    pool.manager().inner.set_check(Behave::Never);
    let err = pool.get().await.unwrap_err();
    let Error::Timeout(t) = err else {
        panic!("expected a timeout")
    };
    assert_eq!(t.phase, Phase::Checking);
    assert_eq!(pool.stats().closed_check_failed, 1);
}

#[tokio::test(start_paused = true)]
async fn take_frees_the_slot() {
    let pool = pool(1);
    let conn = pool.get().await.unwrap();
    let conn = Pooled::take(conn);
    assert_eq!(pool.status().size, 0);
    let other = pool.get().await.unwrap();
    assert_ne!(other.id, conn.id);
    assert_eq!(pool.stats().taken, 1);
}

#[tokio::test(start_paused = true)]
async fn invalid_settings_name_the_setting() {
    let err = |b: tarn_pool::Builder<Fake>| b.build().unwrap_err();
    assert_eq!(
        err(Pool::builder(Fake::new()).max_size(0)),
        BuildError::Invalid {
            setting: "max_size",
            reason: "must be at least 1"
        }
    );
    let e = err(Pool::builder(Fake::new()).max_size(2).min_idle(3));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "min_idle",
            ..
        }
    ));
    assert!(e.to_string().contains("`min_idle`"));
    let e = err(Pool::builder(Fake::new()).max_connecting(0));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "max_connecting",
            ..
        }
    ));
    let e = err(Pool::builder(Fake::new()).acquire_timeout(Duration::ZERO));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "acquire_timeout",
            ..
        }
    ));
    let e = err(Pool::builder(Fake::new()).max_waiters(Some(0)));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "max_waiters",
            ..
        }
    ));
    let e = err(Pool::builder(Fake::new()).idle_timeout(Some(Duration::ZERO)));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "idle_timeout",
            ..
        }
    ));
    let e = err(Pool::builder(Fake::new())
        .backoff_base(Duration::from_secs(2))
        .backoff_max(Duration::from_secs(1)));
    assert!(matches!(
        e,
        BuildError::Invalid {
            setting: "backoff_max",
            ..
        }
    ));
}

#[test]
fn build_outside_runtime_fails() {
    assert_eq!(
        Pool::builder(Fake::new()).build().unwrap_err(),
        BuildError::NoRuntime
    );
}

/// A pool built on one runtime and used from another after the first shut down: its
/// background task (deadlines, clock, maintenance) died with the first runtime. Timeouts must
/// still fire, and health checks after idle must still happen, in the second runtime.
#[test]
fn pool_outlives_the_runtime_it_was_built_on() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = first.block_on(async {
        Pool::builder(Fake::new())
            .max_size(1)
            .acquire_timeout(Duration::from_secs(2))
            .check_after_idle(Some(Duration::from_millis(500)))
            .build()
            .unwrap()
    });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    // Bounded, so a waiter nobody times out fails the test instead of hanging it.
    let outcome = second.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), use_from_second_runtime(&pool)).await
    });
    assert!(outcome.is_ok(), "a waiter was never timed out");
}

/// The second runtime's part of `pool_outlives_the_runtime_it_was_built_on`.
async fn use_from_second_runtime(pool: &Pool<Fake>) {
    // The first waiter finds the background task gone: it restarts it here, and its own
    // deadline (queued before the restart) is kept by a timer of its own. The connect hangs,
    // so only that timer can end the wait.
    pool.manager().inner.set_connect(Behave::Never);
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    pool.manager().inner.set_connect(Behave::Ok);
    // The hung connect holds the only slot until connect_timeout (10 s); its retry succeeds and
    // serves this caller.
    let held = pool.get_timeout(Duration::from_secs(30)).await.unwrap();
    let id = held.id;
    for _ in 0..2 {
        let start = Instant::now();
        let err = pool.get().await.unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2_005),
            "{elapsed:?}"
        );
    }
    drop(held);
    let fake = Arc::clone(&pool.manager().inner);
    assert_eq!(pool.get().await.unwrap().id, id);
    assert_eq!(Inner::count(&fake.checks), 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(pool.get().await.unwrap().id, id);
    assert_eq!(
        Inner::count(&fake.checks),
        1,
        "idle past check_after_idle: checked"
    );
}

#[tokio::test(start_paused = true)]
async fn spike_opens_connections_only_for_waiters() {
    let pool = Pool::builder(Fake::new())
        .max_size(10)
        .max_connecting(2)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Slow(Duration::from_millis(100)));
    // Three callers arrive at once: at most 2 connects run, never 10.
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let c = pool.get().await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(c);
        }));
    }
    yield_many(10).await;
    let s = pool.status();
    assert_invariant(&s);
    assert_eq!((s.connecting, s.waiting), (2, 3));
    for t in tasks {
        t.await.unwrap();
    }
    // The third caller was served by a returned connection or a third connect, never more.
    assert!(Inner::count(&fake.created) <= 3);
    assert_eq!(pool.status().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn observer_sees_events() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .observer(move |e| seen.lock().unwrap().push(format!("{e:?}")))
        .build()
        .unwrap();
    let mut c = pool.get().await.unwrap();
    c.broken = true;
    drop(c);
    settle(&pool, |s| s.size == 0).await;
    let events = events.lock().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.split([' ', '{']).next().unwrap())
        .collect();
    assert_eq!(kinds, ["Connected", "Acquired", "Removed"], "{events:?}");
    assert!(events[2].contains("Broken"));
}
