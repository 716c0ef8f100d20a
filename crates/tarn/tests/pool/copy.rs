//! COPY through the pool: a million rows in and out on a pooled connection, the binary
//! helpers, COPY in transactions, sinks and streams dropped midway never reaching the next
//! user dirty, and the one-shot API refusing COPY.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use tarn::{BinaryCopyInWriter, BinaryCopyOutStream, TransactionStatus, Type};

use crate::common::*;

async fn one_connection_pool(db: &tarn_testkit::TestDb<'_>, test: &str) -> tarn::Pool {
    let pool = builder(db, &app_name(test))
        .max_size(1)
        .build()
        .await
        .unwrap();
    pool.execute(
        "CREATE TABLE IF NOT EXISTS rows (id int8, name text, n int4)",
        &[],
    )
    .await
    .unwrap();
    pool
}

async fn count(pool: &tarn::Pool) -> i64 {
    pool.query_one("SELECT count(*) FROM rows", &[])
        .await
        .unwrap()
        .get(0)
}

/// FNV-1a over everything sent, compared with the same over everything read back.
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

fn text_row(i: usize, out: &mut Vec<u8>) {
    out.clear();
    writeln!(out, "{i}\tname {i}\t{}", i % 977).unwrap();
}

fn rows(n: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut row = Vec::new();
    for i in 0..n {
        text_row(i, &mut row);
        all.extend_from_slice(&row);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_one_shot_api_refuses_copy_and_stays_clean() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_one_shot").await;
    // COPY FROM STDIN cannot be streamed through one call: CopyFail, nothing inserted.
    let error = pool.execute("COPY rows FROM STDIN", &[]).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("57014"), "{error}");
    assert!(error.to_string().contains("copy_in"), "{error}");
    let error = pool.simple_query("COPY rows FROM STDIN").await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("57014"), "{error}");
    let error = pool.query("COPY rows FROM STDIN", &[]).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("57014"), "{error}");
    // COPY TO STDOUT: read and discarded, and an error says so.
    for error in [
        pool.query("COPY rows TO STDOUT", &[]).await.unwrap_err(),
        pool.execute("COPY rows TO STDOUT", &[]).await.unwrap_err(),
        pool.simple_query("COPY rows TO STDOUT").await.unwrap_err(),
    ] {
        let tarn::Error::Query(wire) = &error else {
            panic!("{error:?}");
        };
        assert!(wire.is_unsupported(), "{error}");
        assert!(error.to_string().contains("COPY TO STDOUT"), "{error}");
    }
    assert_eq!(count(&pool).await, 0);
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_in_and_out_on_a_pooled_connection() {
    const N: usize = 1_000_000;
    let db = db();
    let pool = one_connection_pool(&db, "copy_million").await;
    let mut conn = pool.get().await.unwrap();
    let mut sent = 0xcbf2_9ce4_8422_2325u64;
    let mut row = Vec::new();
    let mut sink = conn.copy_in("COPY rows FROM STDIN").await.unwrap();
    for i in 0..N {
        text_row(i, &mut row);
        fnv(&mut sent, &row);
        sink.send(&row).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), N as u64);

    let mut received = 0xcbf2_9ce4_8422_2325u64;
    let mut stream = conn
        .copy_out("COPY (SELECT * FROM rows ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        fnv(&mut received, &chunk.unwrap());
        chunks += 1;
    }
    assert_eq!((chunks, stream.rows()), (N, Some(N as u64)));
    assert_eq!(received, sent);
    drop(conn);
    assert_eq!(count(&pool).await, N as i64);
}

/// int4, int8, text, bytea, timestamptz.
type Typed = (
    i32,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    Option<DateTime<Utc>>,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_helpers_through_the_facade() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_binary").await;
    pool.execute(
        "CREATE TABLE typed (i4 int4, i8 int8, t text, b bytea, ts timestamptz)",
        &[],
    )
    .await
    .unwrap();
    let types = [
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::BYTEA,
        Type::TIMESTAMPTZ,
    ];
    let base = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let value = |i: i32| {
        (
            i,
            (i % 3 != 0).then_some(i64::from(i) << 40),
            (i % 4 != 0).then(|| format!("row {i}")),
            (i % 5 != 0).then(|| vec![i as u8; (i % 7) as usize]),
            (i % 6 != 0).then(|| base + chrono::Duration::seconds(i.into())),
        )
    };
    let mut conn = pool.get().await.unwrap();
    let sink = conn
        .copy_in("COPY typed FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for i in 0..10_000 {
        let (a, b, c, d, e) = value(i);
        writer.write(&[&a, &b, &c, &d, &e]).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), 10_000);

    let stream = conn
        .copy_out("COPY (SELECT * FROM typed ORDER BY i4) TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let mut rows = BinaryCopyOutStream::new(stream, &types);
    let mut i = 0;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let got: Typed = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(got, value(i));
        i += 1;
    }
    assert_eq!(i, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_dropped_midway_is_rolled_back_before_the_next_user() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_sink_drop").await;
    let data = rows(50_000);
    let pid = {
        let mut conn = pool.get().await.unwrap();
        let mut sink = conn.copy_in("COPY rows FROM STDIN").await.unwrap();
        for line in data.split_inclusive(|&b| b == b'\n') {
            sink.send(line).await.unwrap();
        }
        // Dropped with the COPY open on the server: the guard goes back owing a CopyFail.
        drop(sink);
        assert!(conn.wire().needs_drain());
        conn.backend_pid()
    };
    let mut conn = pool.get().await.unwrap();
    assert_eq!(
        conn.backend_pid(),
        pid,
        "the same connection, cleaned and reused"
    );
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert!(!conn.wire().needs_drain());
    let n: i64 = conn
        .query_one("SELECT count(*) FROM rows", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Dropped, then the same guard goes on: its next operation rolls the COPY back first.
    let mut sink = conn.copy_in("COPY rows FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    drop(sink);
    let n: i64 = conn
        .query_one("SELECT count(*) FROM rows", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // And a send abandoned by a timeout in the middle of its write.
    let mut sink = conn.copy_in("COPY rows FROM STDIN").await.unwrap();
    let big = rows(300_000);
    sink.send(&big).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(1), sink.send(&big))
            .await
            .is_err()
    );
    drop(sink);
    drop(conn);
    assert_eq!(count(&pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_out_dropped_midway_is_cancelled_by_the_reset() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_out_drop").await;
    let pid = {
        let mut conn = pool.get().await.unwrap();
        // Tens of seconds of output if it were read to the end.
        let mut stream = conn
            .copy_out(
                "COPY (SELECT g, repeat('x', 200) FROM generate_series(1, 50000000) g) TO STDOUT",
            )
            .await
            .unwrap();
        for _ in 0..3 {
            stream.next().await.unwrap().unwrap();
        }
        drop(stream);
        conn.backend_pid()
    };
    let started = Instant::now();
    let mut conn = pool.get().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the reset waited out the COPY: {:?}",
        started.elapsed()
    );
    assert_eq!(conn.backend_pid(), pid);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    let n: i32 = conn.query_one("SELECT 42", &[]).await.unwrap().get(0);
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_transactions() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_tx").await;
    let data = rows(1000);
    {
        let mut conn = pool.get().await.unwrap();
        // Rolled back with its transaction.
        let mut tx = conn.transaction().await.unwrap();
        let mut sink = tx.copy_in("COPY rows FROM STDIN").await.unwrap();
        sink.send(&data).await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), 1000);
        let mut out = tx.copy_out("COPY rows TO STDOUT").await.unwrap();
        let mut seen = 0;
        while let Some(chunk) = out.next().await {
            chunk.unwrap();
            seen += 1;
        }
        assert_eq!(seen, 1000);
        tx.rollback().await.unwrap();
    }
    assert_eq!(count(&pool).await, 0);

    // Kept with an owned transaction's commit.
    let mut tx = pool.begin().await.unwrap();
    let mut sink = tx.copy_in("COPY rows FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1000);
    tx.commit().await.unwrap();
    assert_eq!(count(&pool).await, 1000);

    // A sink dropped inside a transaction that is then dropped too: nothing kept, and the
    // next user gets an idle connection.
    {
        let mut tx = pool.begin().await.unwrap();
        tx.execute("DELETE FROM rows", &[]).await.unwrap();
        let mut sink = tx.copy_in("COPY rows FROM STDIN").await.unwrap();
        sink.send(&data).await.unwrap();
        drop(sink);
    }
    let conn = pool.get().await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    drop(conn);
    assert_eq!(count(&pool).await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_gives_its_sqlstate_through_the_facade() {
    let db = db();
    let pool = one_connection_pool(&db, "copy_bad_row").await;
    let mut conn = pool.get().await.unwrap();
    let mut sink = conn.copy_in("COPY rows FROM STDIN").await.unwrap();
    sink.send(b"1\tone\t1\n2\ttwo\tnot a number\n")
        .await
        .unwrap();
    let error: tarn::Error = sink.finish().await.unwrap_err().into();
    assert_eq!(error.code().map(|c| c.as_str()), Some("22P02"), "{error}");
    let error = conn.copy_in("COPY missing FROM STDIN").await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("42P01"), "{error}");
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    drop(conn);
    assert_eq!(count(&pool).await, 0);
}
