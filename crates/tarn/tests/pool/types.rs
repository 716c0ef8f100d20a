//! User-defined types through `postgres-types`' derives, resolved from the server's catalogue:
//! an enum, a composite, a domain, an array of enums; an enum read and written as a string.

use postgres_types::{FromSql, ToSql};

use crate::common::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSql, FromSql)]
#[postgres(name = "mood")]
enum Mood {
    #[postgres(name = "sad")]
    Sad,
    #[postgres(name = "ok")]
    Ok,
    #[postgres(name = "happy")]
    Happy,
}

#[derive(Debug, Clone, PartialEq, ToSql, FromSql)]
#[postgres(name = "inventory_item")]
struct InventoryItem {
    name: String,
    supplier_id: i32,
    price: Option<f64>,
    mood: Mood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSql, FromSql)]
#[postgres(name = "positive")]
struct Positive(i32);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_types_round_trip_through_the_catalogue() {
    let db = db();
    db.psql(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TYPE inventory_item AS (name text, supplier_id int4, price float8, mood mood);
         CREATE DOMAIN positive AS int4 CHECK (VALUE > 0);
         CREATE TABLE t (m mood, ms mood[], item inventory_item, p positive)",
    )
    .unwrap();
    for named in [true, false] {
        let pool = builder(&db, &app_name("types"))
            .named_statements(named)
            .max_size(1)
            .build()
            .await
            .unwrap();
        pool.execute("DELETE FROM t", &[]).await.unwrap();
        let item = InventoryItem {
            name: "widget".into(),
            supplier_id: 42,
            price: Some(1.5),
            mood: Mood::Happy,
        };
        let moods = vec![Mood::Sad, Mood::Happy, Mood::Ok];
        pool.execute(
            "INSERT INTO t VALUES ($1, $2, $3, $4)",
            &[&Mood::Ok, &moods, &item, &Positive(7)],
        )
        .await
        .unwrap();
        let row = pool
            .query_one("SELECT m, ms, item, p FROM t", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, Mood>(0), Mood::Ok);
        assert_eq!(row.get::<_, Vec<Mood>>(1), moods);
        assert_eq!(row.get::<_, InventoryItem>(2), item);
        // A domain column arrives as its base type.
        assert_eq!(row.get::<_, i32>(3), 7);
        // An enum read as a string, and compared with a string parameter.
        assert_eq!(row.get::<_, String>(0), "ok");
        assert_eq!(row.get::<_, &str>("m"), "ok");
        let n: i64 = pool
            .query_one("SELECT count(*) FROM t WHERE m = $1", &[&"ok"])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        // A plain integer for a domain parameter, and the domain's check still applies.
        pool.execute("INSERT INTO t (p) VALUES ($1)", &[&9i32])
            .await
            .unwrap();
        let err = pool
            .execute("INSERT INTO t (p) VALUES ($1)", &[&Positive(-1)])
            .await
            .unwrap_err();
        assert_eq!(err.code().map(|c| c.as_str()), Some("23514"), "{err}");
        // A wrong Rust type is still refused, naming the column's type.
        let row = pool
            .query_one("SELECT m FROM t WHERE m IS NOT NULL", &[])
            .await
            .unwrap();
        let err = row.try_get::<_, i32>(0).unwrap_err();
        assert!(err.to_string().contains("mood"), "{err}");
    }
}

#[cfg(feature = "rust_decimal")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_as_rust_decimal() {
    let db = db();
    let pool = builder(&db, &app_name("decimal")).build().await.unwrap();
    let d: tarn::rust_decimal::Decimal = pool
        .query_one("SELECT 12345.678901::numeric", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(d.to_string(), "12345.678901");
}
