//! Connect failures, hangs, broken connections, refill with backoff.

use std::sync::Arc;
use std::time::Duration;

use tarn_pool::{ConnectError, Error, Phase, Pool};
use tokio::time::Instant;

use crate::fake::{Behave, Fake, Inner};
use crate::settle;

fn builder() -> tarn_pool::Builder<Fake> {
    Pool::builder(Fake::new())
        .max_size(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_millis(500))
        .backoff_base(Duration::from_millis(20))
        .backoff_max(Duration::from_millis(400))
}

#[tokio::test(start_paused = true)]
async fn connect_fails_once_then_serves() {
    let pool = builder().build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.script_connects(&[Behave::Err]);
    let start = Instant::now();
    let conn = pool.get().await.unwrap();
    // One retry after at most one backoff step.
    assert!(start.elapsed() <= Duration::from_millis(20));
    assert_eq!(Inner::count(&fake.connect_attempts), 2);
    let stats = pool.stats();
    assert_eq!((stats.connect_errors, stats.connections_created), (1, 1));
    drop(conn);
}

#[tokio::test(start_paused = true)]
async fn connect_always_fails_times_out_with_last_error() {
    let pool = builder().build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Err);
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let Error::Timeout(t) = &err else {
        panic!("expected a timeout, got {err:?}")
    };
    assert_eq!(t.phase, Phase::Connecting);
    assert!(matches!(
        t.last_connect_error,
        Some(ConnectError::Failed(_))
    ));
    assert!(
        err.to_string()
            .contains("last connect failed: fake connect failed"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    // Backoff (20 ms doubling to 400 ms, full jitter) bounds the attempts in 2 s; without it a
    // failing connect would spin.
    let attempts = Inner::count(&fake.connect_attempts);
    assert!((4..=100).contains(&attempts), "{attempts} attempts");
    // Nothing is left reserved once nobody waits.
    let s = settle(&pool, |s| s.connecting == 0).await;
    assert_eq!(s.size, 0);
    assert_eq!(fake.live(), 0);
}

#[tokio::test(start_paused = true)]
async fn connect_hangs_times_out_with_connect_timeout_error() {
    let pool = builder().build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.set_connect(Behave::Never);
    let start = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(matches!(
        err.last_connect_error(),
        Some(ConnectError::TimedOut(d)) if *d == Duration::from_millis(500)
    ));
    settle(&pool, |s| s.connecting == 0).await;
    // The server comes back: the pool serves at once.
    fake.set_connect(Behave::Ok);
    assert!(pool.get().await.is_ok());
    assert!(pool.stats().connect_errors >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_both_broken_and_dirty_is_closed_not_reset() {
    let pool = builder().max_size(1).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut held = pool.get().await.unwrap();
    held.broken = true;
    held.dirty = true;
    drop(held);
    // Closed on the spot: no reset runs, and the slot is free for a new connection at once.
    assert_eq!(Inner::count(&fake.resets), 0);
    assert_eq!(pool.stats().closed_broken, 1);
    let fresh = pool.get().await.unwrap();
    assert!(!fresh.broken);
    assert_eq!(Inner::count(&fake.resets), 0);
}

#[tokio::test(start_paused = true)]
async fn broken_connection_is_not_reused_and_waiter_is_served() {
    let pool = builder().max_size(1).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut held = pool.get().await.unwrap();
    let old = held.id;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.get().await.map(|c| c.id) })
    };
    settle(&pool, |s| s.waiting == 1).await;
    held.broken = true;
    drop(held);
    // The freed slot starts a replacement connect that serves the waiter.
    let new = waiter.await.unwrap().unwrap();
    assert_ne!(new, old);
    let stats = pool.stats();
    assert_eq!((stats.closed_broken, stats.connections_created), (1, 2));
    settle(&pool, |s| s.size == 1 && s.idle == 1).await;
    assert_eq!(fake.live(), 1);
    assert_eq!(Inner::count(&fake.closes), 1);
}

#[tokio::test(start_paused = true)]
async fn refill_to_min_idle_after_failures() {
    let pool = builder().max_size(4).min_idle(2).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    fake.script_connects(&[Behave::Err, Behave::Err, Behave::Err]);
    settle(&pool, |s| s.size == 2 && s.idle == 2).await;
    let stats = pool.stats();
    assert_eq!(stats.connect_errors, 3);
    assert_eq!(stats.connections_created, 2);
    assert_eq!(fake.live(), 2);
}

#[tokio::test(start_paused = true)]
async fn dirty_connection_is_reset_before_reuse() {
    let pool = builder().max_size(1).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut c = pool.get().await.unwrap();
    let id = c.id;
    c.dirty = true;
    drop(c);
    // Being reset, it still counts as in use.
    assert_eq!(pool.status().in_use, 1);
    let c = pool.get().await.unwrap();
    assert_eq!(c.id, id);
    assert!(!c.dirty);
    assert_eq!(Inner::count(&fake.resets), 1);
    drop(c);

    // A reset that fails closes the connection.
    fake.set_reset(Behave::Err);
    let mut c = pool.get().await.unwrap();
    c.dirty = true;
    drop(c);
    settle(&pool, |s| s.size == 0).await;
    assert_eq!(pool.stats().closed_reset_failed, 1);
    assert_eq!(fake.live(), 0);

    // A reset that hangs is cut off by reset_timeout.
    fake.set_reset(Behave::Never);
    let mut c = pool.get().await.unwrap();
    c.dirty = true;
    drop(c);
    settle(&pool, |s| s.size == 0).await;
    assert_eq!(pool.stats().closed_reset_failed, 2);
}

#[tokio::test(start_paused = true)]
async fn panic_while_holding_a_guard_resets_the_connection() {
    let pool = builder().max_size(1).build().unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let task = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let _conn = pool.get().await.unwrap();
            panic!("user code panics mid-transaction");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    // Not put back as clean: it went through reset first.
    settle(&pool, |s| s.idle == 1).await;
    assert_eq!(Inner::count(&fake.resets), 1);
    assert!(pool.get().await.is_ok());
}
