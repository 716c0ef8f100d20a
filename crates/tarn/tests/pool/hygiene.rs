//! A connection that may be dirty is never handed to the next user as if clean.

use std::time::Duration;

use tarn::TransactionStatus;

use crate::common::*;

async fn one_connection_pool(db: &tarn_testkit::TestDb<'_>, test: &str) -> tarn::Pool {
    let pool = builder(db, &app_name(test))
        .max_size(1)
        .build()
        .await
        .unwrap();
    pool.execute(
        "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)",
        &[],
    )
    .await
    .unwrap();
    pool
}

async fn count(pool: &tarn::Pool) -> i64 {
    pool.query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_rolls_back_before_the_next_user() {
    let db = db();
    let pool = one_connection_pool(&db, "tx_drop").await;
    let pid = {
        let mut conn = pool.get().await.unwrap();
        let mut tx = conn.transaction().await.unwrap();
        tx.execute("INSERT INTO items VALUES (1, 'a')", &[])
            .await
            .unwrap();
        drop(tx);
        conn.backend_pid()
    };
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.backend_pid(), pid, "the same connection, reused");
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    drop(conn);
    assert_eq!(count(&pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_rolls_back_before_the_same_guard_goes_on() {
    let db = db();
    let pool = one_connection_pool(&db, "tx_same_guard").await;
    let mut conn = pool.get().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO items VALUES (1, 'a')", &[])
        .await
        .unwrap();
    drop(tx);
    let n: i64 = conn
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_keeps_rows_and_savepoints_roll_back_alone() {
    let db = db();
    let pool = one_connection_pool(&db, "tx_nested").await;
    let mut conn = pool.get().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO items VALUES (1, 'kept')", &[])
        .await
        .unwrap();
    {
        let mut inner = tx.transaction().await.unwrap();
        inner
            .execute("INSERT INTO items VALUES (2, 'undone')", &[])
            .await
            .unwrap();
        inner.rollback().await.unwrap();
    }
    {
        let mut inner = tx.transaction().await.unwrap();
        inner
            .execute("INSERT INTO items VALUES (3, 'dropped')", &[])
            .await
            .unwrap();
        // Dropped: rolled back to its savepoint before the next statement.
    }
    {
        let mut inner = tx.transaction().await.unwrap();
        inner
            .execute("INSERT INTO items VALUES (4, 'released')", &[])
            .await
            .unwrap();
        inner.commit().await.unwrap();
    }
    tx.commit().await.unwrap();
    let ids: Vec<i32> = conn
        .query("SELECT id FROM items ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [1, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_is_not_handed_out() {
    let db = db();
    let pool = one_connection_pool(&db, "tx_failed").await;
    {
        let mut conn = pool.get().await.unwrap();
        conn.simple_query("BEGIN").await.unwrap();
        let err = conn.execute("SELECT 1/0", &[]).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.as_str()), Some("22012"));
        assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    }
    let mut conn = pool.get().await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i32 = conn.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_dropped_mid_result_leaks_nothing_to_the_next_user() {
    let db = db();
    let pool = one_connection_pool(&db, "dropped_query").await;
    for polls_budget in [
        Duration::from_micros(1),
        Duration::from_millis(2),
        Duration::from_millis(20),
    ] {
        {
            let mut conn = pool.get().await.unwrap();
            let big = conn.query(
                "SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g",
                &[],
            );
            let _ = tokio::time::timeout(polls_budget, big).await;
        }
        let mut conn = pool.get().await.unwrap();
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
        let answer: i32 = conn.query_one("SELECT 42", &[]).await.unwrap().get(0);
        assert_eq!(answer, 42);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_query_runs_on_returned_connections() {
    let db = db();
    let pool = builder(&db, &app_name("reset_query"))
        .max_size(1)
        .reset_query("DISCARD ALL")
        .build()
        .await
        .unwrap();
    {
        let mut conn = pool.get().await.unwrap();
        conn.simple_query("SET search_path = nowhere")
            .await
            .unwrap();
    }
    let mut conn = pool.get().await.unwrap();
    let path: String = conn
        .query_one("SELECT current_setting('search_path')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(path, "\"$user\", public");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_long_query_is_cancelled_not_waited_out() {
    let db = db();
    let pool = builder(&db, &app_name("abandoned"))
        .max_size(1)
        .query_timeout(None)
        .statement_timeout(None)
        .build()
        .await
        .unwrap();
    {
        let mut conn = pool.get().await.unwrap();
        let slow = conn.execute("SELECT pg_sleep(30)", &[]);
        // Dropped while the server runs it.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), slow)
                .await
                .is_err()
        );
    }
    let started = std::time::Instant::now();
    let mut conn = pool.get().await.unwrap();
    // The reset cancelled the sleep instead of waiting 30 s (or its own 5 s bound).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i32 = conn.query_one("SELECT 5", &[]).await.unwrap().get(0);
    assert_eq!(n, 5);
}
