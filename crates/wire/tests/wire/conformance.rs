//! Conformance: a corpus of queries run through tarn-wire and through tokio-postgres must give
//! the same values (decoded with the same `FromSql` impls) and the same SQLSTATE codes.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use tarn_wire::{Connection, SimpleQueryMessage, ToSql, Type};

use crate::support::db;

type Param = Box<dyn ToSql + Sync + Send>;

enum Kind {
    Query,
    Execute,
}

struct Case {
    sql: &'static str,
    params: Vec<Param>,
    kind: Kind,
}

fn q(sql: &'static str) -> Case {
    Case {
        sql,
        params: Vec::new(),
        kind: Kind::Query,
    }
}

fn qp(sql: &'static str, params: Vec<Param>) -> Case {
    Case {
        sql,
        params,
        kind: Kind::Query,
    }
}

fn ex(sql: &'static str) -> Case {
    Case {
        sql,
        params: Vec::new(),
        kind: Kind::Execute,
    }
}

fn corpus() -> Vec<Case> {
    let uuid = uuid::Uuid::parse_str("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    let ts: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap();
    vec![
        q("SELECT 1::int4"),
        q("SELECT true, false, NULL::bool"),
        q("SELECT 32767::int2, (-32768)::int2, NULL::int2"),
        q("SELECT 2147483647::int4, NULL::int4"),
        q("SELECT 9223372036854775807::int8, (-1)::int8"),
        q("SELECT 1.5::float4, 'NaN'::float4, '-0'::float4"),
        q("SELECT 3.141592653589793::float8, '-Infinity'::float8"),
        q("SELECT 'hello'::text, ''::text, NULL::text"),
        q("SELECT 'héllo wörld ✓'::varchar(40), 'abc'::name, 'x'::char(3)"),
        q("SELECT '\\x00ff10'::bytea, ''::bytea, NULL::bytea"),
        q("SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL::uuid"),
        q("SELECT '{\"a\": [1, 2, {\"b\": null}]}'::json"),
        q("SELECT '{\"a\": 1, \"b\": \"x\"}'::jsonb, 'null'::jsonb"),
        q("SELECT '2024-02-29 12:34:56.789'::timestamp, NULL::timestamp"),
        q("SELECT '2024-02-29 12:34:56.789+02'::timestamptz"),
        q("SELECT '1999-12-31'::date, '12:34:56.5'::time"),
        q("SELECT ARRAY[1, 2, NULL, 4]::int4[]"),
        q("SELECT ARRAY['a', NULL, 'c']::text[], '{}'::text[]"),
        q("SELECT ARRAY[true, false]::bool[], ARRAY[1.5, 2.5]::float8[]"),
        q("SELECT '{}'::int8[], ARRAY[1, 2]::int2[], ARRAY[7]::int8[]"),
        q("SELECT ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]"),
        q("SELECT ARRAY['\\x01'::bytea, NULL]"),
        q("SELECT ARRAY['2020-01-01'::date], ARRAY['2020-01-01 00:00:01+00'::timestamptz]"),
        q("SELECT ARRAY['{\"x\": 1}'::jsonb], ARRAY['x'::varchar]"),
        q("SELECT g, g::text, g % 3 = 0 FROM generate_series(1, 50) g"),
        q("SELECT 1 WHERE false"),
        q("SELECT * FROM (VALUES (1, 'a'), (2, NULL)) v(id, name) ORDER BY id"),
        q("SELECT count(*) FROM generate_series(1, 1000)"),
        q("SELECT 7::oid, 'q'::\"char\""),
        q("SELECT repeat('x', 100000)"),
        q("SELECT 1, 2, 3, 4, 5, 6, 7, 8, 9, NULL::int4, 'eleven', 12::int8"),
        q("SELECT 1, NULL::text, 3, NULL::int8, 5, 6"),
        qp("SELECT $1::int4 + 1", vec![Box::new(41i32)]),
        qp("SELECT $1::text || '!'", vec![Box::new("hi".to_owned())]),
        qp("SELECT $1::int8", vec![Box::new(None::<i64>)]),
        qp("SELECT $1::bytea", vec![Box::new(vec![1u8, 2, 3])]),
        qp("SELECT $1::uuid", vec![Box::new(uuid)]),
        qp(
            "SELECT $1::jsonb",
            vec![Box::new(serde_json::json!({"k": [1, 2]}))],
        ),
        qp(
            "SELECT $1::timestamptz, $1::timestamptz + interval '1 day'",
            vec![Box::new(ts)],
        ),
        qp("SELECT $1::int4[]", vec![Box::new(vec![1i32, 2, 3])]),
        qp(
            "SELECT $1::text[]",
            vec![Box::new(vec![Some("a".to_owned()), None])],
        ),
        qp(
            "SELECT $1::bool, $2::float8, $3::date",
            vec![
                Box::new(true),
                Box::new(2.5f64),
                Box::new(NaiveDate::from_ymd_opt(2001, 2, 3).unwrap()),
            ],
        ),
        qp(
            "SELECT $1::int2 * 2, $2::float4",
            vec![Box::new(-7i16), Box::new(0.25f32)],
        ),
        qp("SELECT $1 IS NULL", vec![Box::new(None::<String>)]),
        // Errors: the same SQLSTATE from both clients.
        q("SELECT 1/0"),
        q("SELEC 1"),
        q("SELECT * FROM no_such_table_here"),
        q("SELECT 'x'::int"),
        q("SELECT no_such_column"),
        q("DO $$ BEGIN RAISE EXCEPTION 'custom' USING ERRCODE = '23505'; END $$"),
        q("SELECT 2147483647::int4 + 1"),
        // A parameter of the wrong Rust type: refused client-side by both, no SQLSTATE.
        qp("SELECT $1::int4", vec![Box::new("not an int".to_owned())]),
        // DML on a temp table (each client has its own session and table).
        ex("CREATE TEMP TABLE conformance_t (id int PRIMARY KEY, v text)"),
        ex("INSERT INTO conformance_t SELECT g, g::text FROM generate_series(1, 10) g"),
        ex("UPDATE conformance_t SET v = 'x' WHERE id <= 3"),
        ex("INSERT INTO conformance_t VALUES (1, 'dup')"),
        q("SELECT id, v FROM conformance_t ORDER BY id"),
        ex("DELETE FROM conformance_t"),
        q("SELECT id FROM conformance_t"),
    ]
}

/// Renders one value by the column type, decoding with the row's `try_get`.
macro_rules! render {
    ($row:expr, $i:expr, $ty:expr) => {{
        fn show<T: std::fmt::Debug, E>(value: Result<T, E>) -> String {
            match value {
                Ok(v) => format!("{v:?}"),
                Err(_) => "<decode error>".to_owned(),
            }
        }
        let row = $row;
        let i: usize = $i;
        match $ty.clone() {
            Type::BOOL => show(row.try_get::<_, Option<bool>>(i)),
            Type::INT2 => show(row.try_get::<_, Option<i16>>(i)),
            Type::INT4 => show(row.try_get::<_, Option<i32>>(i)),
            Type::INT8 => show(row.try_get::<_, Option<i64>>(i)),
            Type::OID => show(row.try_get::<_, Option<u32>>(i)),
            Type::CHAR => show(row.try_get::<_, Option<i8>>(i)),
            Type::FLOAT4 => show(row.try_get::<_, Option<f32>>(i)),
            Type::FLOAT8 => show(row.try_get::<_, Option<f64>>(i)),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR | Type::UNKNOWN => {
                show(row.try_get::<_, Option<String>>(i))
            }
            Type::BYTEA => show(row.try_get::<_, Option<Vec<u8>>>(i)),
            Type::UUID => show(row.try_get::<_, Option<uuid::Uuid>>(i)),
            Type::JSON | Type::JSONB => show(row.try_get::<_, Option<serde_json::Value>>(i)),
            Type::TIMESTAMP => show(row.try_get::<_, Option<NaiveDateTime>>(i)),
            Type::TIMESTAMPTZ => show(row.try_get::<_, Option<DateTime<Utc>>>(i)),
            Type::DATE => show(row.try_get::<_, Option<NaiveDate>>(i)),
            Type::TIME => show(row.try_get::<_, Option<NaiveTime>>(i)),
            Type::BOOL_ARRAY => show(row.try_get::<_, Option<Vec<Option<bool>>>>(i)),
            Type::INT2_ARRAY => show(row.try_get::<_, Option<Vec<Option<i16>>>>(i)),
            Type::INT4_ARRAY => show(row.try_get::<_, Option<Vec<Option<i32>>>>(i)),
            Type::INT8_ARRAY => show(row.try_get::<_, Option<Vec<Option<i64>>>>(i)),
            Type::FLOAT8_ARRAY => show(row.try_get::<_, Option<Vec<Option<f64>>>>(i)),
            Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => {
                show(row.try_get::<_, Option<Vec<Option<String>>>>(i))
            }
            Type::BYTEA_ARRAY => show(row.try_get::<_, Option<Vec<Option<Vec<u8>>>>>(i)),
            Type::UUID_ARRAY => show(row.try_get::<_, Option<Vec<Option<uuid::Uuid>>>>(i)),
            Type::JSONB_ARRAY => show(row.try_get::<_, Option<Vec<Option<serde_json::Value>>>>(i)),
            Type::DATE_ARRAY => show(row.try_get::<_, Option<Vec<Option<NaiveDate>>>>(i)),
            Type::TIMESTAMPTZ_ARRAY => {
                show(row.try_get::<_, Option<Vec<Option<DateTime<Utc>>>>>(i))
            }
            other => panic!("type {other} is not covered by the conformance renderer"),
        }
    }};
}

/// The outcome of one case: rendered rows or a row count, or the error's SQLSTATE.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows(Vec<(String, Vec<String>)>),
    Count(u64),
    Error(Option<String>),
}

async fn run_wire(conn: &mut Connection, case: &Case) -> Outcome {
    let params: Vec<&(dyn ToSql + Sync)> = case
        .params
        .iter()
        .map(|p| &**p as &(dyn ToSql + Sync))
        .collect();
    match case.kind {
        Kind::Query => match conn.query(case.sql, &params).await {
            Ok(rows) => Outcome::Rows(
                rows.iter()
                    .map(|row| {
                        let names = row
                            .columns()
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(",");
                        let values = (0..row.len())
                            .map(|i| render!(row, i, row.columns()[i].type_()))
                            .collect();
                        (names, values)
                    })
                    .collect(),
            ),
            Err(e) => Outcome::Error(e.code().map(|c| c.as_str().to_owned())),
        },
        Kind::Execute => match conn.execute(case.sql, &params).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => Outcome::Error(e.code().map(|c| c.as_str().to_owned())),
        },
    }
}

async fn run_tokio_postgres(client: &tokio_postgres::Client, case: &Case) -> Outcome {
    let params: Vec<&(dyn ToSql + Sync)> = case
        .params
        .iter()
        .map(|p| &**p as &(dyn ToSql + Sync))
        .collect();
    match case.kind {
        Kind::Query => match client.query(case.sql, &params).await {
            Ok(rows) => Outcome::Rows(
                rows.iter()
                    .map(|row| {
                        let names = row
                            .columns()
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(",");
                        let values = (0..row.len())
                            .map(|i| render!(row, i, row.columns()[i].type_()))
                            .collect();
                        (names, values)
                    })
                    .collect(),
            ),
            Err(e) => Outcome::Error(e.code().map(|c| c.code().to_owned())),
        },
        Kind::Execute => match client.execute(case.sql, &params).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => Outcome::Error(e.code().map(|c| c.code().to_owned())),
        },
    }
}

#[tokio::test]
async fn corpus_matches_tokio_postgres() {
    let db = db();
    let mut conn = db.connect().await;
    let client = db.tokio_postgres().await;
    let corpus = corpus();
    assert!(corpus.len() >= 40, "the corpus has {} cases", corpus.len());
    let mut errors = 0;
    for case in &corpus {
        let ours = run_wire(&mut conn, case).await;
        let theirs = run_tokio_postgres(&client, case).await;
        assert_eq!(ours, theirs, "case {:?}", case.sql);
        if let Outcome::Error(_) = ours {
            errors += 1;
        }
        // Every case leaves the connection usable and idle, errors included.
        assert!(
            !conn.is_broken() && !conn.needs_drain(),
            "case {:?}",
            case.sql
        );
        assert_eq!(
            conn.transaction_status(),
            tarn_wire::TransactionStatus::Idle
        );
    }
    assert!(errors >= 8, "the corpus has {errors} error cases");
    // The whole corpus again: now from the statement cache, same answers.
    let before = conn.round_trips();
    for case in corpus
        .iter()
        .filter(|c| matches!(c.kind, Kind::Query) && !c.sql.contains("conformance_t"))
    {
        let ours = run_wire(&mut conn, case).await;
        let theirs = run_tokio_postgres(&client, case).await;
        assert_eq!(ours, theirs, "cached case {:?}", case.sql);
    }
    assert!(conn.round_trips() > before);
}

#[tokio::test]
async fn simple_query_matches_tokio_postgres() {
    let db = db();
    let mut conn = db.connect().await;
    let client = db.tokio_postgres().await;
    let sql = "SELECT 1 AS a, NULL::text AS b, 'x y' AS c; SELECT g FROM generate_series(1, 3) g; \
               CREATE TEMP TABLE simple_t (id int); SELECT 1, 2, 3, 4, 5, 6, 7, NULL; INSERT INTO simple_t VALUES (1), (2); SELECT 1 WHERE false;";

    fn flatten_ours(messages: &[SimpleQueryMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| match m {
                SimpleQueryMessage::Row(row) => format!(
                    "{:?}",
                    (0..row.len()).map(|i| row.get(i)).collect::<Vec<_>>()
                ),
                SimpleQueryMessage::CommandComplete(n) => format!("complete {n}"),
                SimpleQueryMessage::RowDescription(columns) => {
                    format!(
                        "columns {:?}",
                        columns.iter().map(|c| c.name()).collect::<Vec<_>>()
                    )
                }
                _ => "other".to_owned(),
            })
            .collect()
    }
    fn flatten_theirs(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    format!(
                        "{:?}",
                        (0..row.len()).map(|i| row.get(i)).collect::<Vec<_>>()
                    )
                }
                tokio_postgres::SimpleQueryMessage::CommandComplete(n) => format!("complete {n}"),
                tokio_postgres::SimpleQueryMessage::RowDescription(columns) => {
                    format!(
                        "columns {:?}",
                        columns.iter().map(|c| c.name()).collect::<Vec<_>>()
                    )
                }
                _ => "other".to_owned(),
            })
            .collect()
    }

    let ours = conn.simple_query(sql).await.unwrap();
    let theirs = client.simple_query(sql).await.unwrap();
    assert_eq!(flatten_ours(&ours), flatten_theirs(&theirs));

    // An error stops the batch in both, with the same code.
    let bad = "SELECT 1; SELECT 1/0; SELECT 2";
    let ours = conn.simple_query(bad).await.unwrap_err();
    let theirs = client.simple_query(bad).await.unwrap_err();
    assert_eq!(
        ours.code().map(|c| c.as_str()),
        theirs.code().map(|c| c.code())
    );
    assert_eq!(conn.simple_query("SELECT 'ok'").await.unwrap().len(), 3);
}

#[tokio::test]
async fn row_access_by_name_and_errors() {
    let db = db();
    let mut conn = db.connect().await;
    let row = conn
        .query_one(
            "SELECT 1::int4 AS id, 'n'::text AS \"Name\", NULL::int8 AS missing",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>("id"), 1);
    assert_eq!(row.get::<_, &str>("Name"), "n");
    assert_eq!(row.get::<_, Option<i64>>("missing"), None);
    assert_eq!(row.len(), 3);
    assert!(row.try_get::<_, i32>("nope").unwrap_err().is_conversion());
    assert!(row.try_get::<_, i32>(7usize).unwrap_err().is_conversion());
    // Wrong Rust type and NULL into a non-Option: errors, not panics.
    assert!(
        row.try_get::<_, String>(0usize)
            .unwrap_err()
            .is_conversion()
    );
    assert!(row.try_get::<_, i64>(2usize).unwrap_err().is_conversion());

    assert!(
        conn.query_one("SELECT 1 WHERE false", &[])
            .await
            .unwrap_err()
            .is_conversion()
    );
    assert!(
        conn.query_one("SELECT * FROM generate_series(1, 2)", &[])
            .await
            .unwrap_err()
            .is_conversion()
    );
    assert!(
        conn.query_opt("SELECT 1 WHERE false", &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(conn.query_opt("SELECT 1", &[]).await.unwrap().is_some());
    // Wrong parameter count: refused before anything is sent.
    let error = conn.query("SELECT $1::int4", &[]).await.unwrap_err();
    assert!(error.is_conversion(), "{error}");
    assert!(!conn.needs_drain());
    assert_eq!(
        conn.query_one("SELECT 5::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        5
    );
}

#[tokio::test]
async fn large_values_round_trip() {
    let db = db();
    let mut conn = db.connect().await;
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let row = conn
        .query_one("SELECT $1::bytea, length($1::bytea)", &[&big])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &[u8]>(0), &big[..]);
    assert_eq!(row.get::<_, i32>(1), 3_000_000);
    // Small queries keep working after the buffers grew and were given back.
    for i in 0..3i32 {
        assert_eq!(
            conn.query_one("SELECT $1::int4", &[&i])
                .await
                .unwrap()
                .get::<_, i32>(0),
            i
        );
    }
    // A reply over a lowered limit is refused and breaks the connection cleanly.
    let mut config = db.config(crate::support::Role::Superuser);
    config.max_message_size(64 * 1024);
    let mut small = Connection::connect(&config).await.unwrap();
    let error = small
        .query("SELECT repeat('x', 100000)", &[])
        .await
        .unwrap_err();
    assert!(error.is_protocol(), "{error}");
    assert!(small.is_broken());
}

#[tokio::test]
async fn corpus_matches_in_unnamed_statement_mode() {
    let db = db();
    let mut config = db.config(crate::support::Role::Superuser);
    config.named_statements(false);
    let mut conn = Connection::connect(&config).await.unwrap();
    let client = db.tokio_postgres().await;
    let corpus = corpus();
    // Twice: the second pass runs from cached descriptions (Parse + Bind + Describe + Execute).
    for pass in 0..2 {
        for case in corpus.iter().filter(|c| !c.sql.contains("conformance_t")) {
            let ours = run_wire(&mut conn, case).await;
            let theirs = run_tokio_postgres(&client, case).await;
            assert_eq!(ours, theirs, "pass {pass}, case {:?}", case.sql);
            assert!(!conn.is_broken() && !conn.needs_drain());
        }
    }
}
