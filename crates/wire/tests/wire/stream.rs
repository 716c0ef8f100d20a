//! Row streams: the same rows as `query`, errors as the last item, drop safety, and the
//! socket read only as fast as the consumer asks.

use std::time::Duration;

use tarn_wire::{Config, Connection};

use crate::support::{Role, db};

fn unnamed(config: &Config) -> Config {
    let mut config = config.clone();
    config.named_statements(false);
    config
}

#[tokio::test]
async fn a_stream_yields_what_query_returns() {
    let db = db();
    for config in [
        db.config(Role::Superuser),
        unnamed(&db.config(Role::Superuser)),
    ] {
        let mut conn = Connection::connect(&config).await.unwrap();
        let sql = "SELECT g, g::text FROM generate_series(1, $1) g";
        let collected = conn.query(sql, &[&10_000i32]).await.unwrap();
        let mut stream = conn.query_stream(sql, &[&10_000i32]).await.unwrap();
        let mut n = 0usize;
        while let Some(row) = stream.next().await {
            let row = row.unwrap();
            assert_eq!(row.get::<_, i32>(0), collected[n].get::<_, i32>(0));
            assert_eq!(row.get::<_, String>(1), collected[n].get::<_, String>(1));
            n += 1;
        }
        assert_eq!(n, 10_000);
        assert_eq!(stream.rows_affected(), Some(10_000));
        // Statements that return nothing, and an empty result.
        let mut stream = conn
            .query_stream("SELECT 1 WHERE false", &[])
            .await
            .unwrap();
        assert!(stream.next().await.is_none());
        assert_eq!(stream.rows_affected(), Some(0));
    }
}

#[tokio::test]
async fn an_error_mid_stream_is_the_last_item_and_the_connection_stays_usable() {
    let db = db();
    let mut conn = db.connect().await;
    let mut stream = conn
        .query_stream(
            "SELECT CASE WHEN g < 1000 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 2000) g",
            &[],
        )
        .await
        .unwrap();
    let mut ok = 0;
    let mut last_error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => ok += 1,
            Err(e) => last_error = Some(e),
        }
    }
    // The server sends rows in batches before it reaches the failing one: some rows, then
    // the error, then nothing.
    assert!(ok < 2000, "{ok}");
    let e = last_error.expect("the division by zero");
    assert_eq!(e.code().map(|c| c.as_str()), Some("22012"), "{e}");
    assert_eq!(stream.rows_affected(), None);
    let one: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

#[tokio::test]
async fn a_stream_dropped_after_one_row_leaves_the_next_query_correct() {
    let db = db();
    let mut conn = db.connect().await;
    {
        let mut stream = conn
            .query_stream("SELECT g FROM generate_series(1, 100000) g", &[])
            .await
            .unwrap();
        let first: i32 = stream.next().await.unwrap().unwrap().get(0);
        assert_eq!(first, 1);
    }
    assert!(conn.needs_drain());
    let v: i64 = conn
        .query_one("SELECT $1::int8 * 2", &[&21i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
    assert!(!conn.needs_drain());
}

#[tokio::test]
async fn the_socket_is_read_only_as_fast_as_the_consumer_asks() {
    let db = db();
    let mut conn = db.connect().await;
    let mut admin = db.connect().await;
    let pid = conn.backend_pid();
    // 200 MB of rows: far more than the socket buffers hold.
    let mut stream = conn
        .query_stream(
            "SELECT repeat('x', 1000) FROM generate_series(1, 200000)",
            &[],
        )
        .await
        .unwrap();
    assert!(stream.next().await.is_some());
    // The consumer pauses: the server fills the socket buffers and waits to write.
    let mut waiting = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let row = admin
            .query_one(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap();
        if row.get::<_, Option<String>>(0).as_deref() == Some("ClientWrite") {
            waiting = true;
            break;
        }
    }
    assert!(waiting, "the server never waited for the client to read");
    let mut n = 1;
    while let Some(row) = stream.next().await {
        row.unwrap();
        n += 1;
    }
    assert_eq!(n, 200_000);
}
