//! Maintenance (idle reaping, lifetime at each connection's own deadline), resize, close, drop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tarn_pool::{Error, Pool, PoolEvent, RemoveReason};
use tokio::time::Instant;

use crate::fake::{Fake, Inner};
use crate::{settle, settle_live};

#[tokio::test(start_paused = true)]
async fn idle_reaping_stops_at_min_idle() {
    let pool = Pool::builder(Fake::new())
        .max_size(5)
        .min_idle(2)
        .idle_timeout(Some(Duration::from_secs(10)))
        .max_lifetime(None)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    settle(&pool, |s| s.size == 2).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(pool.get().await.unwrap());
    }
    drop(held);
    assert_eq!(pool.status().idle, 5);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(pool.status().size, 5, "reaped before idle_timeout");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s = pool.status();
    assert_eq!((s.size, s.idle), (2, 2));
    assert_eq!(pool.stats().closed_idle, 3);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pool.status().size, 2);
    assert_eq!(fake.live(), 2);
}

#[tokio::test(start_paused = true)]
async fn max_lifetime_retires_idle_and_returned_connections() {
    let pool = Pool::builder(Fake::new())
        .max_size(2)
        .idle_timeout(None)
        .max_lifetime(Some(Duration::from_secs(60)))
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    drop(b); // idle
    tokio::time::sleep(Duration::from_secs(61)).await;
    // The idle one was retired by maintenance (interval 15 s) ...
    let s = pool.status();
    assert_eq!((s.size, s.idle, s.in_use), (1, 0, 1));
    // ... and the one held past its lifetime is closed when returned.
    drop(a);
    settle(&pool, |s| s.size == 0).await;
    assert_eq!(pool.stats().closed_lifetime, 2);
    settle_live(&fake, 0).await;
}

#[tokio::test(start_paused = true)]
async fn lifetimes_are_jittered() {
    let pool = Pool::builder(Fake::new())
        .max_size(20)
        .idle_timeout(None)
        .max_lifetime(Some(Duration::from_secs(1000)))
        .build()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(pool.get().await.unwrap());
    }
    drop(held);
    // All were opened at the same instant; at 97.5 % of the lifetime none has expired, and
    // jitter spreads them out so that they do not all expire at 100 %.
    tokio::time::sleep(Duration::from_secs(974)).await;
    assert_eq!(pool.status().size, 20);
    // Maintenance runs every 30 s here, so allow one interval past the last expiry.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(pool.status().size, 0);
    assert_eq!(pool.stats().closed_lifetime, 20);
}

/// Opens `n` connections at the same instant, returns them all to idle, and returns the
/// (paused) times at which each was retired for its lifetime, counted from their opening.
async fn retirement_times(n: usize, lifetime: Duration) -> Vec<Duration> {
    let retired = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&retired);
    let pool = Pool::builder(Fake::new())
        .max_size(n)
        .max_connecting(n)
        .idle_timeout(None)
        .max_lifetime(Some(lifetime))
        .observer(move |e| {
            if let PoolEvent::Removed {
                reason: RemoveReason::MaxLifetime,
            } = e
            {
                seen.lock().unwrap().push(Instant::now());
            }
        })
        .build()
        .unwrap();
    let start = Instant::now();
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.get().await.unwrap());
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "opened together");
    drop(held);
    tokio::time::sleep(lifetime + Duration::from_secs(1)).await;
    assert_eq!(pool.status().size, 0);
    assert_eq!(pool.stats().closed_lifetime, n as u64);
    let times = retired.lock().unwrap();
    times.iter().map(|t| *t - start).collect()
}

/// Idle connections are retired at their own jittered deadlines, not together at the next
/// maintenance pass: 20 connections opened together with a 10 s lifetime (no idle_timeout, so
/// the pass runs every 2.5 s) leave at distinct times spread over the jitter window (up to
/// 2.5 %, 250 ms).
#[tokio::test(start_paused = true)]
async fn idle_connections_retire_at_their_own_jittered_deadlines() {
    let lifetime = Duration::from_secs(10);
    let times = retirement_times(20, lifetime).await;
    assert_eq!(times.len(), 20);
    let window = lifetime.mul_f64(0.025);
    for t in &times {
        assert!(
            *t >= lifetime - window && *t <= lifetime + Duration::from_millis(1),
            "retired at {t:?}"
        );
    }
    let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    assert!(
        *last - *first >= Duration::from_millis(100),
        "spread over {:?}",
        *last - *first
    );
    // The timer wheel counts milliseconds: 20 deadlines in 250 ms mostly differ.
    let mut distinct: Vec<u128> = times.iter().map(|t| t.as_millis()).collect();
    distinct.dedup();
    assert!(distinct.len() >= 12, "retired at only {distinct:?}");
}

/// A short lifetime still spreads: the jitter is at least the shorter of 100 ms and 10 % of
/// the lifetime (2.5 % of 1 s would be 25 ms).
#[tokio::test(start_paused = true)]
async fn short_lifetimes_are_jittered_by_at_least_a_tenth() {
    let lifetime = Duration::from_secs(1);
    let times = retirement_times(20, lifetime).await;
    for t in &times {
        assert!(
            *t >= lifetime - Duration::from_millis(100)
                && *t <= lifetime + Duration::from_millis(1),
            "retired at {t:?}"
        );
    }
    let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    assert!(
        *last - *first >= Duration::from_millis(40),
        "spread over {:?}",
        *last - *first
    );
}

#[tokio::test(start_paused = true)]
async fn close_while_connections_are_out() {
    let pool = Pool::builder(Fake::new()).max_size(3).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let c = pool.get().await.unwrap();
    drop(c); // one idle
    let full = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|_| ()) })
    };
    settle(&pool, |s| s.waiting == 1).await;
    drop(full); // goes to the waiter, which holds it until it runs
    let closer = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.close().await })
    };
    tokio::task::yield_now().await;
    assert!(pool.is_closed());
    assert!(matches!(pool.get().await, Err(Error::Closed)));
    // The waiter was served before close; a new one is refused.
    assert!(waiter.await.unwrap().is_ok());
    settle(&pool, |s| s.size == 2).await;
    assert!(!closer.is_finished());
    drop(a);
    settle(&pool, |s| s.size == 1).await;
    assert!(!closer.is_finished());
    drop(b);
    closer.await.unwrap();
    assert_eq!(pool.status().size, 0);
    settle_live(&fake, 0).await;
    // Idempotent.
    pool.close().await;
    assert_eq!(pool.stats().closed_close, 3);
}

#[tokio::test(start_paused = true)]
async fn close_fails_waiters_and_respects_deadline() {
    let pool = Pool::builder(Fake::new())
        .max_size(1)
        .close_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|_| ()) })
    };
    settle(&pool, |s| s.waiting == 1).await;
    let start = tokio::time::Instant::now();
    pool.close().await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(matches!(waiter.await.unwrap(), Err(Error::Closed)));
    // Returned after close: closed, not reused.
    drop(held);
    settle(&pool, |s| s.size == 0).await;
}

#[tokio::test(start_paused = true)]
async fn resize_up_and_down() {
    let pool = Pool::builder(Fake::new()).max_size(2).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let a = pool.get().await.unwrap();
    let b = pool.get().await.unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    settle(&pool, |s| s.waiting == 1).await;
    pool.resize(3).unwrap();
    let id = waiter.await.unwrap().unwrap();
    assert_eq!(id, 2, "served by a new connection");
    assert_eq!(pool.status().max_size, 3);
    // Shrink: the idle one is closed at once, the held ones when they come back.
    pool.resize(1).unwrap();
    let s = settle(&pool, |s| s.size == 2).await;
    assert_eq!((s.idle, s.in_use), (0, 2));
    drop(a);
    settle(&pool, |s| s.size == 1).await;
    drop(b);
    let s = settle(&pool, |s| s.idle == 1).await;
    assert_eq!(s.size, 1);
    assert_eq!(pool.stats().closed_resized, 2);
    settle_live(&fake, 1).await;
    assert!(pool.resize(0).is_err());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pool_stops_maintenance_and_drops_connections() {
    let pool = Pool::builder(Fake::new())
        .max_size(3)
        .min_idle(3)
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    settle(&pool, |s| s.idle == 3).await;
    let weak_probe = Arc::downgrade(&fake);
    drop(pool);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.live(), 0);
    // Only the test's own handle keeps the fake alive: the pool and its task are gone.
    assert_eq!(Arc::strong_count(&fake), 1 + Inner::count(&fake.live));
    drop(weak_probe);
}
