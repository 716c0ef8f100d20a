//! A randomized, seeded, bounded stress test: gets, drops, cancellations, broken and dirty
//! connections, failing connects and resizes, interleaved; the invariant is checked after every
//! step (and, in the library, at every unlock). Then a churn on a multi-thread runtime, where
//! hand-offs and cancellations race on different threads for real.

use std::sync::Arc;
use std::time::Duration;

use tarn_pool::Pool;

use crate::fake::{Behave, Fake};
use crate::{assert_invariant, settle};

fn pick(rng: &mut fastrand::Rng) -> Behave {
    match rng.u8(0..10) {
        0..=6 => Behave::Ok,
        7 => Behave::Err,
        8 => Behave::Slow(Duration::from_millis(rng.u64(1..8))),
        _ => Behave::Never,
    }
}

async fn run(seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let pool = Pool::builder(Fake::new())
        .max_size(4)
        .min_idle(1)
        .check_after_idle(Some(Duration::from_millis(2)))
        .idle_timeout(Some(Duration::from_millis(50)))
        .max_lifetime(Some(Duration::from_millis(200)))
        .connect_timeout(Duration::from_millis(20))
        .reset_timeout(Duration::from_millis(20))
        .acquire_timeout(Duration::from_millis(100))
        .backoff_base(Duration::from_millis(1))
        .backoff_max(Duration::from_millis(20))
        .max_waiters(Some(40))
        .build()
        .unwrap();
    let fake = Arc::clone(&pool.manager().inner);
    let mut tasks = Vec::new();
    let mut max_size = 4;
    for _step in 0..1_500 {
        match rng.u8(0..20) {
            0..=9 => {
                let pool = pool.clone();
                let hold = Duration::from_micros(rng.u64(0..5_000));
                let timeout = Duration::from_micros(rng.u64(100..150_000));
                let fate = rng.u8(0..10);
                tasks.push(tokio::spawn(async move {
                    if let Ok(Ok(mut conn)) = tokio::time::timeout(timeout, pool.get()).await {
                        tokio::time::sleep(hold).await;
                        match fate {
                            0 => conn.broken = true,
                            1 => conn.dirty = true,
                            _ => {}
                        }
                        drop(conn);
                    }
                }));
            }
            10 | 11 => {
                if !tasks.is_empty() {
                    let i = rng.usize(0..tasks.len());
                    tasks.swap_remove(i).abort();
                }
            }
            12 => {
                max_size = rng.usize(1..=6);
                pool.resize(max_size).unwrap();
            }
            13 => fake.set_connect(pick(&mut rng)),
            14 => fake.set_check(pick(&mut rng)),
            15 => fake.set_reset(pick(&mut rng)),
            16 | 17 => tokio::time::sleep(Duration::from_micros(rng.u64(0..3_000))).await,
            _ => {
                for _ in 0..rng.usize(1..10) {
                    tokio::task::yield_now().await;
                }
            }
        }
        let s = pool.status();
        assert_invariant(&s);
        assert_eq!(s.max_size, max_size);
        tasks.retain(|t| !t.is_finished());
    }
    fake.set_connect(Behave::Ok);
    fake.set_check(Behave::Ok);
    fake.set_reset(Behave::Ok);
    for t in tasks {
        let _ = t.await;
    }
    let s = settle(&pool, |s| {
        s.in_use == 0 && s.connecting == 0 && s.size <= s.max_size
    })
    .await;
    assert_eq!(s.waiting, 0);
    for _ in 0..100 {
        if fake.live() == pool.status().size {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        fake.live(),
        pool.status().size,
        "seed {seed}: leaked connections"
    );
    let mut held = Vec::new();
    for _ in 0..max_size {
        held.push(pool.get().await.unwrap());
    }
    assert_eq!(pool.status().in_use, max_size);
    drop(held);
    let stats = pool.stats();
    assert!(
        stats.gets > 0 && stats.connections_created > 0,
        "seed {seed}: {stats:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn randomized_stress_keeps_the_invariant() {
    for seed in [1, 7, 42] {
        run(seed).await;
    }
}

/// The same kind of churn on a multi-thread runtime in real time, where a return handing a
/// connection over and the waiter's timeout dropping its future really run on different
/// threads at once. Bounded by iterations, not time, and nothing is asserted about how often
/// each outcome happened (that depends on how busy the machine is; the loom models in the
/// library cover the interleavings exhaustively): no connection is ever held by two callers at
/// once, no `get` fails, and afterwards nothing is lost: every connection is either idle or
/// closed, and the pool still serves its full size.
#[test]
fn threaded_churn_never_shares_or_loses_a_connection() {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = Pool::builder(Fake::new())
            .max_size(3)
            .max_connecting(3)
            // Longer than any test run: the pool's own timeout never fires, so a loaded
            // machine cannot fail a `get`; the callers' short timeouts do the cutting.
            .acquire_timeout(Duration::from_secs(3_600))
            .build()
            .unwrap();
        let fake = Arc::clone(&pool.manager().inner);
        let held = Arc::new(Mutex::new(HashSet::new()));
        let served = Arc::new(AtomicUsize::new(0));
        let gave_up = Arc::new(AtomicUsize::new(0));
        // Tasks that loop until aborted, some of them while holding a connection.
        let abortees: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    loop {
                        let conn = pool.get().await.unwrap();
                        tokio::task::yield_now().await;
                        drop(conn);
                    }
                })
            })
            .collect();
        let tasks: Vec<_> = (0..24u64)
            .map(|seed| {
                let pool = pool.clone();
                let held = Arc::clone(&held);
                let served = Arc::clone(&served);
                let gave_up = Arc::clone(&gave_up);
                tokio::spawn(async move {
                    let mut rng = fastrand::Rng::with_seed(seed);
                    for _ in 0..1_000 {
                        // Timeouts this short cut waits off in every phase, including while
                        // a connection is being handed over; a zero timeout gives up after the
                        // first poll whenever the caller had to queue.
                        let wait = match rng.u8(0..10) {
                            0 => Duration::ZERO,
                            _ => Duration::from_micros(rng.u64(0..300)),
                        };
                        match tokio::time::timeout(wait, pool.get()).await {
                            Ok(Ok(conn)) => {
                                let id = conn.id;
                                assert!(
                                    held.lock().unwrap().insert(id),
                                    "connection {id} handed to two callers"
                                );
                                // Hold it while other tasks run, so callers queue.
                                for _ in 0..rng.usize(0..8) {
                                    tokio::task::yield_now().await;
                                }
                                assert!(held.lock().unwrap().remove(&id));
                                drop(conn);
                                served.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Err(e)) => panic!("get failed: {e}"),
                            Err(_) => {
                                gave_up.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for (i, t) in abortees.iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
            t.abort();
        }
        for t in tasks {
            t.await.expect("a churn task panicked");
        }
        for t in abortees {
            assert!(t.await.unwrap_err().is_cancelled());
        }
        // Every task is done, so every guard is dropped; what may still run is a connect
        // started for a waiter that left, and the closes. Wait for them as long as it takes.
        let s = loop {
            let s = pool.status();
            assert_invariant(&s);
            if s.in_use == 0 && s.connecting == 0 && fake.live() == s.size {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert_eq!(s.waiting, 0, "{s:?}");
        let (served, gave_up) = (
            served.load(Ordering::Relaxed),
            gave_up.load(Ordering::Relaxed),
        );
        let waited = pool.stats().gets_waited;
        eprintln!("threaded churn: served {served}, gave up {gave_up}, {waited} gets waited");
        let mut all = Vec::new();
        for _ in 0..3 {
            all.push(pool.get().await.unwrap());
        }
        assert_eq!(pool.status().in_use, 3);
        drop(all);
    });
}
