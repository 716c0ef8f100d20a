//! The statement cache: a repeated query is one round trip; eviction closes server-side
//! statements; the unnamed-statement mode leaves nothing prepared on the server.

use tarn_wire::Connection;

use crate::support::{Role, db};

async fn server_statements(conn: &mut Connection) -> i64 {
    // Runs through the simple protocol so it does not touch the cache itself.
    let messages = conn
        .simple_query("SELECT count(*) FROM pg_prepared_statements")
        .await
        .unwrap();
    messages
        .iter()
        .find_map(|m| match m {
            tarn_wire::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v.parse().unwrap()),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn second_run_is_one_round_trip() {
    let db = db();
    let mut conn = db.connect().await;
    let sql = "SELECT $1::int4 * 2";
    let start = conn.round_trips();
    assert_eq!(
        conn.query_one(sql, &[&21i32])
            .await
            .unwrap()
            .get::<_, i32>(0),
        42
    );
    assert_eq!(
        conn.round_trips() - start,
        2,
        "a miss: prepare, then bind/execute"
    );
    for i in 0..5i32 {
        let before = conn.round_trips();
        assert_eq!(
            conn.query_one(sql, &[&i]).await.unwrap().get::<_, i32>(0),
            i * 2
        );
        assert_eq!(conn.round_trips() - before, 1, "a hit is one round trip");
    }
    // An explicit prepare of cached SQL costs nothing; executing the Statement is one trip.
    let before = conn.round_trips();
    let statement = conn.prepare(sql).await.unwrap();
    assert_eq!(conn.round_trips(), before);
    assert_eq!(statement.params(), &[tarn_wire::Type::INT4]);
    assert_eq!(statement.columns().len(), 1);
    assert_eq!(conn.execute(&statement, &[&1i32]).await.unwrap(), 1);
    assert_eq!(conn.round_trips() - before, 1);
    assert_eq!(conn.cached_statements(), 1);
}

#[tokio::test]
async fn eviction_closes_statements_on_the_server() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.statement_cache_capacity(2);
    let mut conn = Connection::connect(&config).await.unwrap();
    for i in 0..6i32 {
        let sql = format!("SELECT {i}::int4 + $1::int4");
        assert_eq!(
            conn.query_one(&sql, &[&1i32])
                .await
                .unwrap()
                .get::<_, i32>(0),
            i + 1
        );
        assert!(conn.cached_statements() <= 2);
    }
    // The Close for the last eviction rides with the next extended request.
    conn.query_one("SELECT 0::int4 + $1::int4", &[&1i32])
        .await
        .unwrap();
    assert!(server_statements(&mut conn).await <= 2);

    // A prepared Statement that was evicted still works: it is re-parsed in the same write.
    let statement = conn.prepare("SELECT 'kept'::text").await.unwrap();
    for i in 0..3 {
        conn.query_one(&format!("SELECT {i}"), &[]).await.unwrap();
    }
    let before = conn.round_trips();
    let row = conn.query_one(&statement, &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "kept");
    assert_eq!(conn.round_trips() - before, 1);
    assert!(server_statements(&mut conn).await <= 2);
}

#[tokio::test]
async fn unnamed_mode_prepares_nothing_on_the_server() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.named_statements(false);
    let mut conn = Connection::connect(&config).await.unwrap();
    for i in 0..3i32 {
        let before = conn.round_trips();
        assert_eq!(
            conn.query_one("SELECT $1::int4", &[&i])
                .await
                .unwrap()
                .get::<_, i32>(0),
            i
        );
        // A miss prepares into the unnamed statement (two round trips); a hit sends
        // Parse + Bind + Describe(portal) + Execute + Sync with the cached parameter types.
        let expected = if i == 0 { 2 } else { 1 };
        assert_eq!(conn.round_trips() - before, expected, "query {i}");
    }
    assert_eq!(server_statements(&mut conn).await, 0);
    assert_eq!(conn.cached_statements(), 1);
    // A Statement in unnamed mode: Parse + Bind + Execute + Sync, one round trip, even after
    // other queries replaced the unnamed statement.
    let statement = conn.prepare("SELECT $1::text || 'x'").await.unwrap();
    conn.query("SELECT 1", &[]).await.unwrap();
    let before = conn.round_trips();
    let row = conn.query_one(&statement, &[&"a"]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "ax");
    assert_eq!(conn.round_trips() - before, 1);
    assert_eq!(server_statements(&mut conn).await, 0);
}

#[tokio::test]
async fn statement_from_another_connection_is_refused() {
    let db = db();
    let mut a = db.connect().await;
    let mut b = db.connect().await;
    let statement = a.prepare("SELECT 1").await.unwrap();
    let error = b.query(&statement, &[]).await.unwrap_err();
    assert!(error.is_conversion(), "{error}");
    assert!(!b.needs_drain() && !b.is_broken());
}

#[tokio::test]
async fn schema_change_invalidates_the_cached_plan() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TEMP TABLE cache_t (a int); INSERT INTO cache_t VALUES (1)")
        .await
        .unwrap();
    conn.query("SELECT * FROM cache_t", &[]).await.unwrap();
    conn.simple_query("ALTER TABLE cache_t ADD COLUMN b text")
        .await
        .unwrap();
    // The server refuses the stale plan (0A000); the client forgets it and the retry works.
    let first = conn.query("SELECT * FROM cache_t", &[]).await;
    if let Err(e) = &first {
        assert_eq!(e.code().map(|c| c.as_str()), Some("0A000"), "{e}");
    }
    let rows = conn.query("SELECT * FROM cache_t", &[]).await.unwrap();
    assert_eq!(rows[0].len(), 2);
}

#[tokio::test]
async fn unnamed_mode_follows_schema_changes() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.named_statements(false);
    let mut conn = Connection::connect(&config).await.unwrap();
    conn.simple_query("CREATE TEMP TABLE unnamed_t (a int4); INSERT INTO unnamed_t VALUES (1)")
        .await
        .unwrap();
    let rows = conn.query("SELECT * FROM unnamed_t", &[]).await.unwrap();
    assert_eq!(rows[0].len(), 1);
    conn.simple_query("ALTER TABLE unnamed_t ADD COLUMN b text DEFAULT 'two'")
        .await
        .unwrap();
    // The cached description is stale, but the portal is described in the same round trip,
    // so the new column arrives decoded with the right type.
    let before = conn.round_trips();
    let rows = conn.query("SELECT * FROM unnamed_t", &[]).await.unwrap();
    assert_eq!(conn.round_trips() - before, 1);
    assert_eq!(rows[0].len(), 2);
    assert_eq!(rows[0].get::<_, &str>("b"), "two");
    // A column type change the cached parameter types no longer fit: an error once, then
    // the description is refreshed.
    conn.query("SELECT a FROM unnamed_t WHERE a = $1", &[&1i32])
        .await
        .unwrap();
    conn.simple_query("ALTER TABLE unnamed_t ALTER COLUMN a TYPE text")
        .await
        .unwrap();
    let first = conn
        .query("SELECT a FROM unnamed_t WHERE a = $1", &[&1i32])
        .await;
    if first.is_err() {
        let error = conn
            .query("SELECT a FROM unnamed_t WHERE a = $1", &[&1i32])
            .await
            .unwrap_err();
        // Now described afresh: the parameter is text, and an i32 does not encode as text.
        assert!(error.is_conversion(), "{error}");
    }
    let rows = conn
        .query("SELECT a FROM unnamed_t WHERE a = $1", &[&"1"])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, &str>(0), "1");
    assert!(!conn.is_broken());
}
