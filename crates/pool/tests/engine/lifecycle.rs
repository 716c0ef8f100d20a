//! Maintenance (idle reaping, lifetime), resize, close, drop.

use std::sync::Arc;
use std::time::Duration;

use tarn_pool::{Error, Pool};

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
