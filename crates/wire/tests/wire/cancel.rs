//! Cancellation: CancelRequest ends a running query early, and a query future dropped at any
//! poll point never lets a later query read the earlier query's results.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tarn_wire::{Connection, SqlState, TransactionStatus};

use crate::support::{Role, db};

#[tokio::test]
async fn cancel_request_ends_pg_sleep_early() {
    let db = db();
    let mut conn = db.connect().await;
    let token = conn.cancel_token();
    assert_eq!(token.process_id(), conn.backend_pid());
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel_query().await.unwrap();
    });
    let started = Instant::now();
    let error = conn.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
    let elapsed = started.elapsed();
    canceller.await.unwrap();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    let row = conn.query_one("SELECT 2::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
}

#[tokio::test]
async fn cancel_over_the_unix_socket() {
    let db = db();
    let Some(config) = db.unix_config(Role::Superuser) else {
        println!("skipped: no unix socket directory");
        return;
    };
    let mut conn = Connection::connect(&config).await.unwrap();
    let token = conn.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel_query().await.unwrap();
    });
    let started = Instant::now();
    let error = conn.simple_query("SELECT pg_sleep(10)").await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(conn.simple_query("SELECT 1").await.unwrap().len(), 3);
}

/// Polls `future` at most `polls` times; `None` if it was still pending (and is dropped).
async fn poll_at_most<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut done = 0;
    std::future::poll_fn(|cx| {
        if done == polls {
            return Poll::Ready(None);
        }
        done += 1;
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Runs `make(conn, marker)` dropped after N polls for N = 0, 1, 2, ... until it completes,
/// and after each drop checks the next query sees its own result, not the dropped one's.
async fn drop_at_every_poll_point(conn: &mut Connection, sql: &str, mut marker: i32) -> usize {
    for polls in 0..10_000 {
        marker += 1;
        let finished = poll_at_most(conn.query(sql, &[&marker]), polls).await;
        if let Some(result) = finished {
            let rows = result.unwrap();
            assert_eq!(rows[0].get::<_, i32>(0), marker);
            return polls;
        }
        // The abandoned query must not leak into the next one.
        let check = marker + 1_000_000;
        let row = conn
            .query_one("SELECT $1::int4, 'check'::text", &[&check])
            .await
            .unwrap();
        assert_eq!(
            row.get::<_, i32>(0),
            check,
            "after dropping at poll {polls}"
        );
        assert_eq!(row.get::<_, &str>(1), "check");
        assert!(!conn.needs_drain() && !conn.is_broken());
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    }
    panic!("the query never completed");
}

#[tokio::test]
async fn dropped_query_never_leaks_into_the_next() {
    let db = db();
    let mut conn = db.connect().await;
    // A fresh SQL text each round makes every attempt a cache miss (two round trips), and a
    // large result spreads the reply over many reads: many distinct poll points.
    let mut total = 0;
    for round in 0..3 {
        let sql = format!(
            "SELECT $1::int4 + 0 * {round}, repeat('x', 2000) FROM generate_series(1, 300)"
        );
        total += drop_at_every_poll_point(&mut conn, &sql, round * 100_000).await;
        // Same SQL again: now cached, one round trip.
        total += drop_at_every_poll_point(&mut conn, &sql, round * 100_000 + 50_000).await;
    }
    assert!(total > 6, "only {total} poll points were exercised");
}

#[tokio::test]
async fn drain_after_a_dropped_query() {
    let db = db();
    let mut conn = db.connect().await;
    // About 100 KB of rows (more than the server's output buffer, so they are flushed and
    // partly read), then a pause: the future is dropped with rows in flight.
    let sql = "SELECT repeat('x', 100) FROM generate_series(1, 1000) \
               UNION ALL SELECT 'end' FROM pg_sleep(0.5)";
    let dropped = tokio::time::timeout(Duration::from_millis(250), conn.query(sql, &[])).await;
    assert!(dropped.is_err(), "the query finished before the timeout");
    assert!(conn.needs_drain());
    conn.drain().await.unwrap();
    assert!(!conn.needs_drain());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert_eq!(
        conn.query_one("SELECT 9::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        9
    );

    // A dropped pg_sleep: cancel it, then drain reads the 57014 and the connection is clean.
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        conn.query("SELECT pg_sleep(10)", &[]),
    )
    .await;
    assert!(dropped.is_err(), "the query finished before the timeout");
    assert!(conn.needs_drain());
    conn.cancel_token().cancel_query().await.unwrap();
    let started = Instant::now();
    conn.drain().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        conn.query_one("SELECT 10::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        10
    );
}

#[tokio::test]
async fn dropped_query_never_leaks_in_unnamed_statement_mode() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.named_statements(false);
    let mut conn = Connection::connect(&config).await.unwrap();
    let sql = "SELECT $1::int4 + 0, repeat('y', 2000) FROM generate_series(1, 300)";
    // First a miss (prepare, then bind), then hits (Parse + Bind + Describe + Execute).
    let mut total = drop_at_every_poll_point(&mut conn, sql, 0).await;
    total += drop_at_every_poll_point(&mut conn, sql, 500_000).await;
    assert!(total > 2, "only {total} poll points were exercised");
}
