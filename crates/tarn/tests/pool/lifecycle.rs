//! Shutdown and recovery from dead backends.

use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_checked_out_connections_then_leaves_no_backend() {
    let db = db();
    let app = app_name("close");
    let pool = builder(&db, &app)
        .min_idle(2)
        .max_size(4)
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let hold = Duration::from_millis(300);
    let holder = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        drop(held);
    });
    let started = Instant::now();
    pool.close().await;
    assert!(
        started.elapsed() >= hold - Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    assert!(pool.is_closed());
    assert!(pool.get().await.unwrap_err().is_closed());
    holder.await.unwrap();
    tokio::task::spawn_blocking(move || {
        wait_for_backends(tarn_testkit::PgServer::shared().unwrap(), &app, 0)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_are_detected_and_replaced() {
    let db = db();
    let app = app_name("terminated");
    let pool = builder(&db, &app)
        .min_idle(2)
        .max_size(2)
        .check_after_idle(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        wait_for_backends(tarn_testkit::PgServer::shared().unwrap(), &a, 2)
    })
    .await
    .unwrap();
    let a = app.clone();
    let killed = tokio::task::spawn_blocking(move || {
        tarn_testkit::PgServer::shared()
            .unwrap()
            .terminate_backends(&a)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(killed, 2);
    // Each checkout probes the idle socket first (the server's FATAL and close are already
    // there), so the dead connections are replaced without a failed round trip.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..4 {
        let one: i32 = pool.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    let stats = pool.stats();
    // Both dead connections were replaced; at least one by the probe (a very slow machine may
    // leave the other's FATAL in flight until its ping).
    assert_eq!(
        stats.closed_dead + stats.closed_check_failed,
        2,
        "{stats:?}"
    );
    assert!(stats.closed_dead >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_observer() {
    use std::sync::{Arc, Mutex};
    let db = db();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let pool = builder(&db, &app_name("events"))
        .on_event(move |e| log.lock().unwrap().push(format!("{e:?}")))
        .build()
        .await
        .unwrap();
    pool.query_one("SELECT 1", &[]).await.unwrap();
    pool.close().await;
    let seen = seen.lock().unwrap();
    for kind in ["Connect", "Acquire", "Release", "Remove"] {
        assert!(
            seen.iter().any(|e| e.starts_with(kind)),
            "no {kind} event in {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_name_the_host_and_keep_their_sqlstate() {
    let db = db();
    if !db.server().has_auth_roles() {
        return; // DATABASE_URL mode: the auth roles may not exist.
    }
    let params = db.params(tarn_testkit::Role::Scram);
    // Wrong password: 28P01, visible through the acquire error.
    let pool = tarn::Pool::builder()
        .host(&params.host)
        .port(params.port)
        .user(&params.user)
        .password("not-the-password")
        .dbname(&params.dbname)
        .min_idle(0)
        .acquire_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    // A permanent error: the caller fails after one connect, not after acquire_timeout, and
    // so does the next one (the pool does not log in again for each caller).
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "waited {took:?} for a wrong password"
    );
    assert_eq!(err.code().map(|c| c.as_str()), Some("28P01"), "{err}");
    let started = Instant::now();
    let again = pool.get().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(again.code().map(|c| c.as_str()), Some("28P01"), "{again}");
    assert!(pool.stats().connect_errors <= 2, "{:?}", pool.stats());
    let wire = err.connect_error().expect("the connect error");
    assert_eq!(
        wire.host(),
        Some(format!("{}:{}", params.host, params.port).as_str())
    );
    assert!(
        err.to_string().contains(&format!(":{}", params.port)),
        "{err}"
    );
    // Missing database: 3D000.
    let pool = tarn::Pool::builder()
        .host(&params.host)
        .port(params.port)
        .user(&params.user)
        .password(params.password.as_deref().unwrap())
        .dbname("no_such_database_here")
        .min_idle(0)
        .acquire_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code().map(|c| c.as_str()), Some("3D000"), "{err}");
}
