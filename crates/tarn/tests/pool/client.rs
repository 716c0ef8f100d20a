//! The data path at the tarn surface: one repository function over pool, connection and
//! transactions; owned transactions with options; row streams from each; serializable retries.

use std::time::{Duration, Instant};

use tarn::{GenericClient, IsolationLevel, TransactionOptions};

use crate::common::*;

/// Repository code written once.
async fn add_and_count(db: &mut impl GenericClient, name: &str) -> Result<i64, tarn::Error> {
    db.execute("INSERT INTO things (name) VALUES ($1)", &[&name])
        .await?;
    let row = db
        .query_one("SELECT count(*) FROM things WHERE name = $1", &[&name])
        .await?;
    Ok(row.get(0))
}

async fn things_pool(test: &str) -> (tarn_testkit::TestDb<'static>, tarn::Pool) {
    let db = db();
    let pool = builder(&db, &app_name(test))
        .max_size(4)
        .build()
        .await
        .unwrap();
    pool.execute(
        "CREATE TABLE things (id serial PRIMARY KEY, name text)",
        &[],
    )
    .await
    .unwrap();
    (db, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_repository_function_for_pool_connection_and_transactions() {
    let (_db, pool) = things_pool("generic").await;
    let mut one_shot = pool.clone();
    assert_eq!(add_and_count(&mut one_shot, "a").await.unwrap(), 1);
    let mut conn = pool.get().await.unwrap();
    assert_eq!(add_and_count(&mut conn, "a").await.unwrap(), 2);
    {
        let mut tx = conn.transaction().await.unwrap();
        assert_eq!(add_and_count(&mut tx, "a").await.unwrap(), 3);
        {
            let mut savepoint = tx.transaction().await.unwrap();
            assert_eq!(add_and_count(&mut savepoint, "a").await.unwrap(), 4);
            // Dropped: the savepoint rolls back.
        }
        tx.commit().await.unwrap();
    }
    drop(conn);
    let mut owned = pool.begin().await.unwrap();
    assert_eq!(add_and_count(&mut owned, "a").await.unwrap(), 4);
    owned.rollback().await.unwrap();
    // A generic call in a spawned task (the futures are Send).
    let mut in_task = pool.clone();
    let n = tokio::spawn(async move { add_and_count(&mut in_task, "a").await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_transactions_cross_awaits_and_roll_back_when_dropped() {
    let (_db, pool) = things_pool("owned_tx").await;
    let mut tx = pool.begin().await.unwrap();
    tx.execute("INSERT INTO things (name) VALUES ('kept')", &[])
        .await
        .unwrap();
    // Moved into a task and committed there.
    tokio::spawn(async move { tx.commit().await })
        .await
        .unwrap()
        .unwrap();
    let tx = pool.begin().await.unwrap();
    let mut tx = tx;
    tx.execute("INSERT INTO things (name) VALUES ('dropped')", &[])
        .await
        .unwrap();
    drop(tx);
    let names: Vec<String> = pool
        .query("SELECT name FROM things ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["kept"]);
    // Options reach the server.
    let mut tx = pool
        .begin_with(
            &TransactionOptions::new()
                .isolation(IsolationLevel::Serializable)
                .read_only(true),
        )
        .await
        .unwrap();
    let row = tx
        .query_one(
            "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "serializable");
    assert_eq!(row.get::<_, String>(1), "on");
    let err = tx
        .execute("INSERT INTO things (name) VALUES ('no')", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("25006"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_from_a_pool_a_connection_and_a_transaction() {
    let (_db, pool) = things_pool("streams").await;
    let sql = "SELECT g FROM generate_series(1, $1) g";
    // From the pool: the stream owns its connection.
    let mut stream = pool.query_stream(sql, &[&5000i32]).await.unwrap();
    let mut sum = 0i64;
    while let Some(row) = stream.next().await {
        sum += i64::from(row.unwrap().get::<_, i32>(0));
    }
    assert_eq!(sum, 5000 * 5001 / 2);
    assert_eq!(stream.rows_affected(), Some(5000));
    drop(stream);
    // Dropped after one row on a pooled connection: the pool cancels and drains it, so the
    // next user is served quickly and correctly.
    let mut stream = pool
        .query_stream("SELECT g FROM generate_series(1, 50000000) g", &[])
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let started = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(pool.get().await.unwrap());
    }
    for conn in &mut conns {
        let v: i32 = conn.query_one("SELECT 7", &[]).await.unwrap().get(0);
        assert_eq!(v, 7);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(conns);
    // From a transaction, and dropped mid-way while the transaction goes on.
    let mut tx = pool.begin().await.unwrap();
    {
        let mut stream = tx.query_stream(sql, &[&100000i32]).await.unwrap();
        stream.next().await.unwrap().unwrap();
    }
    let v: i64 = tx
        .query_one("SELECT 41::int8 + 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serializable_conflicts_are_retried() {
    let (_db, pool) = things_pool("serializable").await;
    pool.execute("CREATE TABLE counter (n int)", &[])
        .await
        .unwrap();
    pool.execute("INSERT INTO counter VALUES (0)", &[])
        .await
        .unwrap();
    let serializable = TransactionOptions::new().isolation(IsolationLevel::Serializable);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (pool, options) = (pool.clone(), serializable.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                tarn::retry_serializable(50, || async {
                    let mut tx = pool.begin_with(&options).await?;
                    let n: i32 = tx.query_one("SELECT n FROM counter", &[]).await?.get(0);
                    tokio::task::yield_now().await;
                    tx.execute("UPDATE counter SET n = $1", &[&(n + 1)]).await?;
                    tx.commit().await
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n: i32 = pool
        .query_one("SELECT n FROM counter", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 40, "every increment landed exactly once");
}

/// Code that names the types a helper needs, from `tarn` alone.
#[allow(
    dead_code,
    reason = "compile-time check: these names resolve from tarn"
)]
fn names_from_tarn_alone(row: &tarn::Row) -> Result<i32, tarn::Error> {
    fn run<S: tarn::ToStatement + ?Sized>(_: &S, _: tarn::Params<'_>) {}
    fn column<I: tarn::RowIndex + std::fmt::Display>(_: I) {}
    run("SELECT 1", &[]);
    column("id");
    let value: Result<i32, tarn::WireError> = row.try_get("id");
    Ok(value?)
}
