//! Engine tests for tarn-pool, with a fake manager and paused tokio time.
//!
//! One test binary; each module covers one area. `fake` is the configurable manager.

mod basics;
mod breaker;
mod cancellation;
mod failures;
mod fake;
mod health;
mod lifecycle;
mod stress;

use std::time::Duration;

use tarn_pool::{Pool, Status};

use fake::Fake;

/// The invariant every public snapshot must satisfy.
fn assert_invariant(s: &Status) {
    assert_eq!(
        s.size,
        s.idle + s.in_use + s.connecting,
        "counts do not add up: {s:?}"
    );
    assert!(
        s.size <= s.max_size || s.idle == 0,
        "over max_size with idle connections: {s:?}"
    );
    assert!(
        s.waiting == 0 || s.idle == 0,
        "waiters while connections idle: {s:?}"
    );
}

/// Lets spawned tasks run until the pool's status satisfies `cond` (at most ~10 s of paused
/// time), then returns it.
async fn settle(pool: &Pool<Fake>, cond: impl Fn(&Status) -> bool) -> Status {
    for _ in 0..10_000 {
        let s = pool.status();
        assert_invariant(&s);
        if cond(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("pool never reached the expected state: {:?}", pool.status());
}

/// Yields until spawned tasks have made progress.
async fn yield_many(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// Lets spawned close tasks run until exactly `n` fake connections are alive.
async fn settle_live(fake: &fake::Inner, n: usize) {
    for _ in 0..1_000 {
        if fake.live() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{} connections alive, expected {n}", fake.live());
}
