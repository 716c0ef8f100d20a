//! Server-side statement_timeout and client-side query_timeout.

use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_enforced_by_the_server() {
    let db = db();
    let pool = builder(&db, &app_name("stmt_timeout"))
        .statement_timeout(Duration::from_millis(100))
        .query_timeout(None)
        .build()
        .await
        .unwrap();
    let err = pool.execute("SELECT pg_sleep(2)", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("57014"), "{err}");
    assert!(!err.is_query_timeout());
    let ok: i32 = pool.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_on_the_server_and_answers_in_time() {
    let db = db();
    let app = app_name("query_timeout");
    let limit = Duration::from_millis(300);
    let pool = builder(&db, &app)
        .max_size(1)
        .statement_timeout(None)
        .query_timeout(limit)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    let pid = conn.backend_pid();
    let started = Instant::now();
    let err = conn.execute("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            tarn::Error::QueryTimeout {
                cancelled: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(took >= limit, "{took:?}");
    assert!(took < limit + tarn::CANCEL_GRACE, "{took:?}");
    // The server is no longer running it (asked from another session), and the connection
    // is usable.
    let active = tokio::task::spawn_blocking(|| {
        tarn_testkit::PgServer::shared()
            .unwrap()
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
            )
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(active, "0");
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert_eq!(conn.backend_pid(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_abandoned_while_the_guard_is_kept_is_cancelled_not_waited_for() {
    let db = db();
    let pool = builder(&db, &app_name("abandon_kept"))
        .max_size(1)
        .statement_timeout(None)
        .query_timeout(None)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    // The caller gives up through its own timeout and keeps the connection.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(100),
        conn.execute("SELECT pg_sleep(30)", &[]),
    )
    .await;
    assert!(abandoned.is_err(), "the sleep cannot finish in 100 ms");
    // The next query cancels the abandoned one instead of waiting 30 s for it. The bound is
    // loose on purpose (a loaded machine); without the cancel it would be 30 s.
    let started = Instant::now();
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the next query waited {:?} for the abandoned one",
        started.elapsed()
    );
    // And it is gone from the server.
    let active = tokio::task::spawn_blocking(|| {
        tarn_testkit::PgServer::shared()
            .unwrap()
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
            )
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(active.trim(), "0");
}
