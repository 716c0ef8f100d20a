//! tarn behind a real PgBouncer (the testkit starts one in front of its server).
//!
//! Transaction mode is where a client can get another client's results: PgBouncer may give
//! each transaction (each `Sync`, outside a transaction block) a different server connection.
//! These tests drive more tarn connections than PgBouncer has server connections, with a
//! distinct SQL text per statement (so every statement is a cache miss and the statement
//! cache evicts all the time), and check every result by value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tarn_testkit::{PgBouncer, PoolMode, Role, TestDb};

use crate::common::*;

fn bouncer(db: &TestDb<'_>, mode: PoolMode, server_connections: u32) -> PgBouncer {
    PgBouncer::builder(db.server())
        .pool_mode(mode)
        .default_pool_size(server_connections)
        .max_client_conn(500)
        .start()
        .expect("PgBouncer (CI installs it: apt-get install pgbouncer)")
}

/// A pool in transaction-pooler mode through `bouncer`, as the SCRAM role.
async fn pooler_pool(bouncer: &PgBouncer, db: &TestDb<'_>, test: &str, max: usize) -> tarn::Pool {
    tarn::Pool::builder()
        .url(&bouncer.url(Role::Scram, db.name()))
        .transaction_pooler(true)
        .application_name(&app_name(test))
        .max_size(max)
        .min_idle(0)
        // Small, so the description cache evicts constantly under distinct SQL texts.
        .statement_cache_capacity(8)
        .acquire_timeout(Duration::from_secs(30))
        .build()
        .await
        .unwrap()
}

/// What went wrong over a run: results that belonged to someone else, and unexpected errors.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    wrong: AtomicU64,
    errors: AtomicU64,
    expected_errors: AtomicU64,
}

impl Tally {
    fn check(&self) {
        let (ok, wrong, errors) = (
            self.ok.load(Ordering::Relaxed),
            self.wrong.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        );
        assert_eq!(
            (wrong, errors),
            (0, 0),
            "{wrong} wrong results and {errors} unexpected errors in {ok} checked statements"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_mode_gives_every_caller_its_own_result() {
    let db = db();
    db.psql(&format!(
        "CREATE TABLE ledger (task int, n int, v int8); GRANT ALL ON ledger TO {}",
        Role::Scram.user()
    ))
    .unwrap();
    let bouncer = bouncer(&db, PoolMode::Transaction, 8);
    // 32 tarn connections over 8 server connections, 64 tasks.
    let pool = pooler_pool(&bouncer, &db, "bouncer_tx", 32).await;
    let tally = Arc::new(Tally::default());
    const TASKS: i64 = 64;
    const PER_TASK: i64 = 170; // 64 x 170 = 10,880 checked statements
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let pool = pool.clone();
        let tally = Arc::clone(&tally);
        handles.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let k = task * 100_000 + i;
                match i % 10 {
                    // An error in the middle of a result: rows, then division by zero.
                    3 => {
                        let sql = format!(
                            "SELECT CASE WHEN g < 5 THEN g ELSE 1 / (g - g) END + {k} \
                             FROM generate_series(1, 10) g WHERE $1::int8 = $1"
                        );
                        match pool.query(sql.as_str(), &[&k]).await {
                            Err(e) if e.code().map(|c| c.as_str()) == Some("22012") => {
                                tally.expected_errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("task {task}: {e}");
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {
                                tally.wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    // A transaction: its statements share one server connection.
                    7 => {
                        let result: Result<i64, tarn::Error> = async {
                            let mut conn = pool.get().await?;
                            let mut tx = conn.transaction().await?;
                            tx.execute(
                                format!("INSERT INTO ledger VALUES ($1, $2, {k})").as_str(),
                                &[&(task as i32), &(i as i32)],
                            )
                            .await?;
                            let v: i64 = tx
                                .query_one(
                                    format!(
                                        "SELECT v + 0 * {k} FROM ledger WHERE task = $1 AND n = $2"
                                    )
                                    .as_str(),
                                    &[&(task as i32), &(i as i32)],
                                )
                                .await?
                                .get(0);
                            tx.commit().await?;
                            Ok(v)
                        }
                        .await;
                        match result {
                            Ok(v) if v == k => {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(v) => {
                                eprintln!("task {task}: expected {k}, got {v}");
                                tally.wrong.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("task {task}: {e}");
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    // One-shot statements, each with its own SQL text.
                    _ => {
                        let sql = format!("SELECT $1::int8 + {k}, $2::text");
                        let tag = format!("t{task}");
                        match pool.query_one(sql.as_str(), &[&k, &tag]).await {
                            Ok(row) => {
                                let (v, t): (i64, String) = (row.get(0), row.get(1));
                                if v == 2 * k && t == tag {
                                    tally.ok.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    eprintln!("task {task}: expected {}, got {v} {t}", 2 * k);
                                    tally.wrong.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            Err(e) => {
                                eprintln!("task {task}: {e}");
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    tally.check();
    let checked = tally.ok.load(Ordering::Relaxed) + tally.expected_errors.load(Ordering::Relaxed);
    assert!(checked >= 10_000, "only {checked} statements checked");
    assert_eq!(
        tally.expected_errors.load(Ordering::Relaxed),
        (TASKS * PER_TASK / 10) as u64,
        "every mid-result error reached its own caller"
    );
    let rows: i64 = db
        .psql("SELECT count(*) FROM ledger")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        rows,
        TASKS * (PER_TASK / 10),
        "every committed row is there"
    );
    assert!(pool.status().size <= 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_and_repeats_stay_right_in_transaction_mode() {
    let db = db();
    let bouncer = bouncer(&db, PoolMode::Transaction, 2);
    let pool = pooler_pool(&bouncer, &db, "bouncer_prepared", 8).await;
    let tally = Arc::new(Tally::default());
    let mut handles = Vec::new();
    for task in 0..16i64 {
        let pool = pool.clone();
        let tally = Arc::clone(&tally);
        handles.push(tokio::spawn(async move {
            // A Statement kept across calls on one connection: each use carries its own
            // Parse, whichever server connection PgBouncer picks.
            let mut conn = pool.get().await.unwrap();
            let statement = conn
                .prepare(&format!("SELECT $1::int8 * {}", task + 1))
                .await
                .unwrap();
            for i in 0..20i64 {
                let v: i64 = conn.query_one(&statement, &[&i]).await.unwrap().get(0);
                let counter = if v == i * (task + 1) {
                    &tally.ok
                } else {
                    &tally.wrong
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            drop(conn);
            // The same few texts over and over (cache hits) while other tasks' come and go.
            for i in 0..100i64 {
                let sql = format!("SELECT $1::int8 + {}", i % 4);
                let ok = match pool.query_one(sql.as_str(), &[&i]).await {
                    Ok(row) => row.get::<_, i64>(0) == i + i % 4,
                    Err(e) => {
                        eprintln!("{e}");
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let counter = if ok { &tally.ok } else { &tally.wrong };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    tally.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_config_works_through_session_mode() {
    let db = db();
    let bouncer = bouncer(&db, PoolMode::Session, 4);
    // Nothing set but the URL: defaults include a 30 s statement_timeout, which used to ride
    // in the startup `options` that PgBouncer refuses.
    let pool = tarn::Pool::builder()
        .url(&bouncer.url(Role::Scram, db.name()))
        .min_idle(0)
        .build()
        .await
        .unwrap();
    let row = pool
        .query_one(
            "SELECT current_setting('statement_timeout'), $1::int4 + 1",
            &[&41i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "30s");
    assert_eq!(row.get::<_, i32>(1), 42);
    // Named statements are fine in session mode: the server connection is ours.
    for i in 0..50i32 {
        let v: i32 = pool
            .query_one("SELECT $1::int4 * 2", &[&i])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, i * 2);
    }
    let mut conn = pool.get().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("CREATE TEMP TABLE s (a int)", &[])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_options_refused_by_pgbouncer_say_what_to_set() {
    let db = db();
    let bouncer = bouncer(&db, PoolMode::Session, 2);
    let pool = tarn::Pool::builder()
        .url(&bouncer.url(Role::Scram, db.name()))
        .options("-c search_path=public")
        .min_idle(0)
        .acquire_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let err = pool.get().await.unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("08P01"), "{err}");
    let text = err.to_string();
    assert!(text.contains("ignore_startup_parameters"), "{text}");
    assert!(text.contains("transaction_pooler"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_timeout_cancels_through_transaction_mode() {
    let db = db();
    let bouncer = bouncer(&db, PoolMode::Transaction, 2);
    let pool = tarn::Pool::builder()
        .url(&bouncer.url(Role::Scram, db.name()))
        .transaction_pooler(true)
        .query_timeout(Duration::from_millis(300))
        .min_idle(0)
        .max_size(2)
        .build()
        .await
        .unwrap();
    let err = pool.execute("SELECT pg_sleep(30)", &[]).await.unwrap_err();
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
    // PgBouncer forwarded the cancel: the server is not running it any more, and both
    // server connections serve the next statements.
    let active = db
        .server()
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'",
        )
        .unwrap();
    assert_eq!(active.trim(), "0");
    for i in 0..10i32 {
        let v: i32 = pool
            .query_one("SELECT $1::int4", &[&i])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, i);
    }
}
