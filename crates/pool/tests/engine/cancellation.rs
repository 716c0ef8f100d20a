//! Cancellation in every phase, in the style of deadpool's cancellation tests: for each
//! combination of connect, check and reset behaving {ok, err, slow, never}, many tasks loop on
//! `timeout(tiny, pool.get())`, return half of what they get dirty (so it goes through a
//! reset), and some are aborted, holding a connection or not; afterwards the counts are exact
//! and the pool still serves.

use std::sync::Arc;
use std::time::Duration;

use tarn_pool::Pool;

use crate::fake::{Behave, Fake};
use crate::{assert_invariant, settle};

const BEHAVIOURS: [Behave; 4] = [
    Behave::Ok,
    Behave::Err,
    Behave::Slow(Duration::from_millis(5)),
    Behave::Never,
];

async fn run_case(connect: Behave, check: Behave, reset: Behave) {
    let pool = Pool::builder(Fake::new())
        .max_size(4)
        .check_after_idle(Some(Duration::ZERO))
        .connect_timeout(Duration::from_millis(50))
        .reset_timeout(Duration::from_millis(50))
        .acquire_timeout(Duration::from_secs(1))
        .backoff_base(Duration::from_millis(1))
        .backoff_max(Duration::from_millis(10))
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    // Start with two idle connections so the check phase is exercised too.
    let warm = (pool.get().await.unwrap(), pool.get().await.unwrap());
    drop(warm);
    fake.set_connect(connect);
    fake.set_check(check);
    fake.set_reset(reset);

    let mut tasks = Vec::new();
    for t in 0..32u64 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(t);
            for _ in 0..20 {
                let tiny = Duration::from_micros(rng.u64(0..3_000));
                if let Ok(Ok(mut conn)) = tokio::time::timeout(tiny, pool.get()).await {
                    // Left mid-transaction: the return goes through a reset.
                    conn.dirty = rng.bool();
                    tokio::time::sleep(Duration::from_micros(rng.u64(0..1_000))).await;
                    drop(conn);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(7)).await;
    for task in tasks.iter().step_by(2) {
        task.abort();
        assert_invariant(&pool.status());
    }
    for task in tasks {
        let _ = task.await;
    }
    fake.set_connect(Behave::Ok);
    fake.set_check(Behave::Ok);
    fake.set_reset(Behave::Ok);
    let s = settle(&pool, |s| s.connecting == 0 && s.in_use == 0).await;
    assert!(s.size <= 4, "{connect:?}/{check:?}/{reset:?}: {s:?}");
    assert_eq!(s.waiting, 0, "{connect:?}/{check:?}/{reset:?}: {s:?}");
    // Every connection alive is one the pool counts (closes run in spawned tasks).
    for _ in 0..100 {
        if fake.live() == pool.status().size {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        fake.live(),
        pool.status().size,
        "{connect:?}/{check:?}/{reset:?}: leaked connections"
    );
    // The pool still serves at full size.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            pool.get()
                .await
                .unwrap_or_else(|e| panic!("{connect:?}/{check:?}/{reset:?}: {e}")),
        );
    }
    let s = pool.status();
    assert_eq!(
        (s.size, s.in_use),
        (4, 4),
        "{connect:?}/{check:?}/{reset:?}"
    );
    drop(held);
    pool.close().await;
    assert_eq!(pool.status().size, 0);
    settle_live(&fake).await;
}

async fn settle_live(fake: &crate::fake::Inner) {
    for _ in 0..100 {
        if fake.live() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("connections alive after close: {}", fake.live());
}

#[tokio::test(start_paused = true)]
async fn cancellation_in_every_phase_leaks_nothing() {
    for connect in BEHAVIOURS {
        for check in BEHAVIOURS {
            for reset in BEHAVIOURS {
                run_case(connect, check, reset).await;
            }
        }
    }
}
