//! COPY against the real server: a million rows in and out in text and binary, checksummed
//! on both sides as they stream; sinks, streams and their futures dropped midway (no rows
//! kept, the next query right); server errors mid-copy with their SQLSTATE; the binary helpers
//! for each type; a notice per row while copying in.

use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tarn_wire::{
    BinaryCopyInWriter, BinaryCopyOutStream, COPY_BUFFER_SIZE, Connection, SqlState,
    TransactionStatus, Type,
};

use crate::support::{Role, db};

const ROWS: usize = 1_000_000;

/// FNV-1a, 64 bits: a checksum of everything sent, compared with one of everything read.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

async fn assert_usable(conn: &mut Connection) {
    assert!(!conn.is_broken());
    let row = conn
        .query_one("SELECT 'still here'::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "still here");
    assert!(!conn.needs_drain());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

async fn count(conn: &mut Connection, table: &str) -> i64 {
    conn.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Row `i` of the text tests, in COPY's text format.
fn text_row(i: usize, out: &mut Vec<u8>) {
    out.clear();
    writeln!(
        out,
        "{i}\tname-{:x}\t{}",
        i.wrapping_mul(2_654_435_761),
        i % 1000
    )
    .unwrap();
}

#[tokio::test]
async fn a_million_rows_in_and_out_as_text() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TABLE copy_text (id int8 PRIMARY KEY, name text, n int4)")
        .await
        .unwrap();

    let mut sent = Fnv::new();
    let mut row = Vec::new();
    let mut sink = conn.copy_in("COPY copy_text FROM STDIN").await.unwrap();
    assert!(!sink.is_binary());
    for i in 0..ROWS {
        text_row(i, &mut row);
        sent.update(&row);
        sink.send(&row).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), ROWS as u64);
    assert_usable(&mut conn).await;
    assert_eq!(count(&mut conn, "copy_text").await, ROWS as i64);

    let mut received = Fnv::new();
    let mut chunks = 0;
    let mut largest = 0;
    let mut stream = conn
        .copy_out("COPY (SELECT * FROM copy_text ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    assert!(!stream.is_binary());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        received.update(&chunk);
        largest = largest.max(chunk.len());
        chunks += 1;
    }
    assert_eq!(stream.rows(), Some(ROWS as u64));
    // One chunk per row: the stream holds one row at a time.
    assert_eq!(chunks, ROWS);
    assert!(largest < 64, "{largest}");
    assert_eq!(
        received.0, sent.0,
        "the data read back differs from the data sent"
    );
    assert_usable(&mut conn).await;
}

/// One row of the binary tests: int8, int4, text, bytea, timestamptz.
type BinaryRow = (
    i64,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    Option<DateTime<Utc>>,
);

/// Row `i` of the binary tests; `None`s now and then in every nullable column.
fn binary_row(i: usize) -> BinaryRow {
    let base = Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
    (
        i as i64 * 3 - 7,
        (!i.is_multiple_of(7)).then(|| (i as i32).wrapping_mul(-31)),
        (!i.is_multiple_of(11)).then(|| format!("é-{i}")),
        (!i.is_multiple_of(13)).then(|| vec![(i % 251) as u8; i % 9]),
        (!i.is_multiple_of(17))
            .then(|| base + chrono::Duration::microseconds(i as i64 * 1_000_003)),
    )
}

fn hash_binary_row(hash: &mut Fnv, row: &BinaryRow) {
    hash.update(&row.0.to_be_bytes());
    match row.1 {
        Some(n) => hash.update(&n.to_be_bytes()),
        None => hash.update(b"null"),
    }
    match &row.2 {
        Some(s) => hash.update(s.as_bytes()),
        None => hash.update(b"null"),
    }
    match &row.3 {
        Some(b) => {
            hash.update(&(b.len() as u32).to_be_bytes());
            hash.update(b);
        }
        None => hash.update(b"null"),
    }
    match row.4 {
        Some(t) => hash.update(&t.timestamp_micros().to_be_bytes()),
        None => hash.update(b"null"),
    }
}

const BINARY_TYPES: [Type; 5] = [
    Type::INT8,
    Type::INT4,
    Type::TEXT,
    Type::BYTEA,
    Type::TIMESTAMPTZ,
];

#[tokio::test]
async fn a_million_rows_in_and_out_as_binary() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query(
        "CREATE TABLE copy_bin (id int8 PRIMARY KEY, n int4, name text, data bytea, at timestamptz);
         CREATE TABLE copy_bin2 (LIKE copy_bin)",
    )
    .await
    .unwrap();

    let mut sent = Fnv::new();
    let sink = conn
        .copy_in("COPY copy_bin FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    assert!(sink.is_binary());
    let mut writer = BinaryCopyInWriter::new(sink, &BINARY_TYPES);
    for i in 0..ROWS {
        let row = binary_row(i);
        hash_binary_row(&mut sent, &row);
        writer
            .write(&[&row.0, &row.1, &row.2, &row.3, &row.4])
            .await
            .unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), ROWS as u64);
    assert_usable(&mut conn).await;

    let mut received = Fnv::new();
    let stream = conn
        .copy_out("COPY (SELECT * FROM copy_bin ORDER BY id) TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    assert!(stream.is_binary());
    let mut rows = BinaryCopyOutStream::new(stream, &BINARY_TYPES);
    let mut n = 0;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        assert_eq!(row.len(), 5);
        let decoded = (
            row.get(0),
            row.get(1),
            row.get::<Option<String>>(2),
            row.get::<Option<Vec<u8>>>(3),
            row.get(4),
        );
        hash_binary_row(&mut received, &decoded);
        n += 1;
    }
    assert_eq!(n, ROWS);
    assert_eq!(rows.rows(), Some(ROWS as u64));
    assert_eq!(
        received.0, sent.0,
        "the rows read back differ from the rows sent"
    );
    assert_usable(&mut conn).await;

    // The raw binary chunks of one COPY are a valid COPY input for another, on a second
    // connection while the first streams.
    let mut other = db.connect().await;
    let mut stream = conn
        .copy_out("COPY copy_bin TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let mut sink = other
        .copy_in("COPY copy_bin2 FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    while let Some(chunk) = stream.next().await {
        sink.send(&chunk.unwrap()).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), ROWS as u64);
    let differ: i64 = other
        .query_one(
            "SELECT count(*) FROM ((TABLE copy_bin EXCEPT ALL TABLE copy_bin2)
                                  UNION ALL (TABLE copy_bin2 EXCEPT ALL TABLE copy_bin)) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differ, 0);
    assert_usable(&mut conn).await;
    assert_usable(&mut other).await;
}

#[tokio::test]
async fn binary_helpers_round_trip_each_type_and_null() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query(
        "CREATE TABLE copy_types (i4 int4, i8 int8, t text, b bytea, ts timestamptz, f float8, ok bool)",
    )
    .await
    .unwrap();
    let types = [
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::BYTEA,
        Type::TIMESTAMPTZ,
        Type::FLOAT8,
        Type::BOOL,
    ];
    let at = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap()
        + chrono::Duration::microseconds(123_456);
    let bytes = vec![0u8, 1, 2, 255, 0];
    let sink = conn
        .copy_in("COPY copy_types FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    writer
        .write(&[
            &i32::MIN,
            &i64::MAX,
            &"tab\there, newline\n, quote ' and \\",
            &bytes,
            &at,
            &-0.5f64,
            &true,
        ])
        .await
        .unwrap();
    writer
        .write(&[
            &None::<i32>,
            &None::<i64>,
            &None::<&str>,
            &None::<Vec<u8>>,
            &None::<DateTime<Utc>>,
            &None::<f64>,
            &None::<bool>,
        ])
        .await
        .unwrap();
    writer
        .write(&[
            &0i32,
            &0i64,
            &"",
            &Vec::<u8>::new(),
            &at,
            &f64::INFINITY,
            &false,
        ])
        .await
        .unwrap();
    // A value of the wrong type: refused with its column, and nothing of the row is sent.
    let error = writer
        .write(&[&1i64, &1i64, &"x", &bytes, &at, &1.0f64, &true])
        .await
        .unwrap_err();
    assert!(
        error.is_conversion() && error.to_string().contains("parameter 0"),
        "{error}"
    );
    // A row with a value missing.
    let error = writer.write(&[&1i32]).await.unwrap_err();
    assert!(error.is_conversion(), "{error}");
    assert_eq!(writer.finish().await.unwrap(), 3);

    // The server read the values as sent.
    let row = conn
        .query_one(
            "SELECT i4, i8, t, b, ts, f, ok FROM copy_types WHERE i4 = $1",
            &[&i32::MIN],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(1), i64::MAX);
    assert_eq!(
        row.get::<_, &str>(2),
        "tab\there, newline\n, quote ' and \\"
    );
    assert_eq!(row.get::<_, Vec<u8>>(3), bytes);
    assert_eq!(row.get::<_, DateTime<Utc>>(4), at);
    let nulls: i64 = conn
        .query_one(
            "SELECT count(*) FROM copy_types WHERE num_nulls(i4, i8, t, b, ts, f, ok) = 7",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(nulls, 1);

    // And back through the binary reader.
    let stream = conn
        .copy_out(
            "COPY (SELECT * FROM copy_types ORDER BY i4 NULLS LAST) TO STDOUT (FORMAT binary)",
        )
        .await
        .unwrap();
    let mut rows = BinaryCopyOutStream::new(stream, &types);
    let first = rows.next().await.unwrap().unwrap();
    assert_eq!(first.get::<i32>(0), i32::MIN);
    assert_eq!(first.get::<i64>(1), i64::MAX);
    assert_eq!(first.get::<&str>(2), "tab\there, newline\n, quote ' and \\");
    assert_eq!(first.get::<&[u8]>(3), &bytes[..]);
    assert_eq!(first.get::<DateTime<Utc>>(4), at);
    assert_eq!(first.get::<f64>(5), -0.5);
    assert!(first.get::<bool>(6));
    // A wrong Rust type and a missing column are errors, not panics.
    assert!(first.try_get::<&str>(0).unwrap_err().is_conversion());
    assert!(first.try_get::<i32>(7).is_err());
    let zero = rows.next().await.unwrap().unwrap();
    assert_eq!(zero.get::<&str>(2), "");
    assert_eq!(zero.get::<&[u8]>(3), b"");
    assert_eq!(zero.get::<f64>(5), f64::INFINITY);
    let null = rows.next().await.unwrap().unwrap();
    for i in 0..7 {
        assert_eq!(null.raw(i), None);
    }
    assert_eq!(null.get::<Option<i32>>(0), None);
    assert_eq!(null.get::<Option<DateTime<Utc>>>(4), None);
    assert!(null.try_get::<i32>(0).is_err(), "NULL into a non-Option");
    assert!(rows.next().await.is_none());
    assert_eq!(rows.rows(), Some(3));
    assert_usable(&mut conn).await;

    // No rows at all: a header and a trailer.
    let sink = conn
        .copy_in("COPY copy_types FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    assert_eq!(
        BinaryCopyInWriter::new(sink, &types)
            .finish()
            .await
            .unwrap(),
        0
    );
    let stream = conn
        .copy_out("COPY (SELECT * FROM copy_types WHERE false) TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let mut rows = BinaryCopyOutStream::new(stream, &types);
    assert!(rows.next().await.is_none());
    assert_eq!(rows.rows(), Some(0));

    // A text COPY read as binary is an error, and the connection recovers.
    let stream = conn.copy_out("COPY copy_types TO STDOUT").await.unwrap();
    let mut rows = BinaryCopyOutStream::new(stream, &types);
    let error = rows.next().await.unwrap().unwrap_err();
    assert!(
        error.is_protocol() && error.to_string().contains("binary"),
        "{error}"
    );
    assert!(rows.next().await.is_none());
    drop(rows);
    assert_usable(&mut conn).await;
    // So are types that do not match the columns.
    let stream = conn
        .copy_out("COPY copy_types TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let mut rows = BinaryCopyOutStream::new(stream, &types[..3]);
    let error = rows.next().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("7 fields"), "{error}");
    drop(rows);
    assert_usable(&mut conn).await;
}

fn small_rows(n: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut row = Vec::new();
    for i in 0..n {
        text_row(i, &mut row);
        all.extend_from_slice(&row);
    }
    all
}

#[tokio::test]
async fn a_dropped_sink_keeps_no_rows_and_leaves_the_connection_clean() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TABLE copy_drop (id int8, name text, n int4)")
        .await
        .unwrap();
    let data = small_rows(50_000);
    assert!(data.len() > 10 * COPY_BUFFER_SIZE);

    // Dropped after some rows, with many batches already written: the next query rolls it back.
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    for line in data.split_inclusive(|&b| b == b'\n') {
        sink.send(line).await.unwrap();
    }
    drop(sink);
    assert!(conn.needs_drain());
    assert_eq!(count(&mut conn, "copy_drop").await, 0);
    assert_usable(&mut conn).await;

    // Dropped with a partial row buffered, then an explicit drain.
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    sink.send(&data[..100_000]).await.unwrap();
    sink.send(b"12\tpart").await.unwrap();
    drop(sink);
    conn.drain().await.unwrap();
    assert!(!conn.needs_drain());
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert_eq!(count(&mut conn, "copy_drop").await, 0);

    // Inside a transaction: the COPY fails it, as any error would, and ROLLBACK cleans up.
    conn.simple_query("BEGIN; INSERT INTO copy_drop VALUES (-1, 'before', 0)")
        .await
        .unwrap();
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    drop(sink);
    conn.drain().await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    conn.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(count(&mut conn, "copy_drop").await, 0);

    // A send dropped in the middle of its write (10 MiB cannot go out within a millisecond).
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    let big = small_rows(300_000);
    sink.send(&big).await.unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(1), sink.send(&big)).await;
    assert!(
        timed_out.is_err(),
        "the write should still have been under way"
    );
    drop(sink);
    assert_eq!(count(&mut conn, "copy_drop").await, 0);
    assert_usable(&mut conn).await;

    // abort() rolls back at once.
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    sink.abort("changed my mind").await.unwrap();
    assert!(!conn.needs_drain());
    assert_eq!(count(&mut conn, "copy_drop").await, 0);
    assert_usable(&mut conn).await;

    // And a finished one keeps its rows.
    let mut sink = conn.copy_in("COPY copy_drop FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 50_000);
    assert_eq!(count(&mut conn, "copy_drop").await, 50_000);
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

#[tokio::test]
async fn a_copy_dropped_at_every_poll_point_never_leaves_part_of_itself() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TABLE copy_polls (id int8, name text, n int4)")
        .await
        .unwrap();
    let data = small_rows(20_000);
    let mut finished = false;
    for polls in 0..100_000 {
        let copy = async {
            let mut sink = conn.copy_in("COPY copy_polls FROM STDIN").await?;
            for part in data.chunks(5_000) {
                sink.send(part).await?;
            }
            sink.finish().await
        };
        let outcome = poll_at_most(copy, polls).await;
        // Whatever point it was dropped at: the next query is right, and the table holds
        // none of the rows or (dropped after CopyDone was queued) all of them.
        let n = count(&mut conn, "copy_polls").await;
        assert!(n == 0 || n == 20_000, "after {polls} polls: {n} rows");
        assert_usable(&mut conn).await;
        conn.simple_query("TRUNCATE copy_polls").await.unwrap();
        if let Some(result) = outcome {
            assert_eq!(result.unwrap(), 20_000);
            assert_eq!(n, 20_000);
            finished = true;
            break;
        }
    }
    assert!(finished);

    // The same for a COPY out read to its end.
    conn.simple_query("INSERT INTO copy_polls SELECT g, 'x', 1 FROM generate_series(1, 5000) g")
        .await
        .unwrap();
    for polls in 0..100_000 {
        let read = async {
            let mut stream = conn.copy_out("COPY copy_polls TO STDOUT").await?;
            let mut n = 0;
            while let Some(chunk) = stream.next().await {
                chunk?;
                n += 1;
            }
            Ok::<_, tarn_wire::Error>(n)
        };
        let outcome = poll_at_most(read, polls).await;
        let check = conn
            .query_one("SELECT $1::int4 + 1", &[&polls.try_into().unwrap_or(0i32)])
            .await
            .unwrap();
        assert_eq!(
            check.get::<_, i32>(0),
            polls as i32 + 1,
            "after {polls} polls"
        );
        assert_usable(&mut conn).await;
        if let Some(result) = outcome {
            assert_eq!(result.unwrap(), 5000);
            return;
        }
    }
    panic!("the COPY out never completed");
}

#[tokio::test]
async fn a_dropped_copy_out_leaves_the_next_query_right() {
    let db = db();
    let mut conn = db.connect().await;
    let mut stream = conn
        .copy_out("COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g) TO STDOUT")
        .await
        .unwrap();
    for i in 1..=10 {
        let chunk = stream.next().await.unwrap().unwrap();
        assert_eq!(chunk, format!("{i}\t{}\n", "x".repeat(100)).as_bytes());
    }
    drop(stream);
    assert!(conn.needs_drain());
    let row = conn.query_one("SELECT 42::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_usable(&mut conn).await;

    // Dropped before the first chunk was read, then a COPY in on the same connection.
    conn.simple_query("CREATE TEMP TABLE after_out (a int)")
        .await
        .unwrap();
    let stream = conn
        .copy_out("COPY (SELECT generate_series(1, 100000)) TO STDOUT")
        .await
        .unwrap();
    drop(stream);
    let mut sink = conn.copy_in("COPY after_out FROM STDIN").await.unwrap();
    sink.send(b"1\n2\n3\n").await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 3);
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn a_bad_row_mid_copy_in_gives_its_sqlstate_early_and_a_clean_connection() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TABLE copy_bad (id int8, name text, n int4)")
        .await
        .unwrap();
    let mut row = Vec::new();
    let mut sink = conn.copy_in("COPY copy_bad FROM STDIN").await.unwrap();
    let mut failed_at = None;
    for i in 0..ROWS {
        if i == 100_000 {
            row.clear();
            row.extend_from_slice(b"100000\tbad\tnot-a-number\n");
        } else {
            text_row(i, &mut row);
        }
        if let Err(e) = sink.send(&row).await {
            assert_eq!(
                e.code(),
                Some(&SqlState::INVALID_TEXT_REPRESENTATION),
                "{e}"
            );
            failed_at = Some(i);
            // Every later call says the same.
            let again = sink.send(&row).await.unwrap_err();
            assert_eq!(again.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
            break;
        }
    }
    // The error came while sending, long before the end of the data.
    let failed_at = failed_at.expect("send should have returned the server's error");
    assert!((100_000..ROWS).contains(&failed_at), "{failed_at}");
    let error = sink.finish().await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    let db_error = error.as_db_error().unwrap();
    assert!(
        db_error.where_().unwrap_or("").contains("copy_bad"),
        "{db_error:?}"
    );
    assert_usable(&mut conn).await;
    assert_eq!(count(&mut conn, "copy_bad").await, 0);

    // A bad last row surfaces from finish().
    let mut sink = conn.copy_in("COPY copy_bad FROM STDIN").await.unwrap();
    sink.send(b"1\tone\t1\n2\ttwo\tx\n").await.unwrap();
    let error = sink.finish().await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    assert_usable(&mut conn).await;

    // A bad binary row (11 bytes for an int8): the server's own SQLSTATE.
    let sink = conn
        .copy_in("COPY copy_bad (id) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = BinaryCopyInWriter::new(sink, &[Type::TEXT]);
    writer.write(&[&"hello world"]).await.unwrap();
    let error = writer.finish().await.unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("22P03"), "{error}");
    assert_usable(&mut conn).await;
    assert_eq!(count(&mut conn, "copy_bad").await, 0);
}

#[tokio::test]
async fn errors_before_and_during_a_copy_out() {
    let db = db();
    let mut conn = db.connect().await;
    // Before any data.
    let error = conn.copy_out("COPY missing TO STDOUT").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    assert_usable(&mut conn).await;
    let error = conn.copy_in("COPY missing FROM STDIN").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNDEFINED_TABLE));
    assert_usable(&mut conn).await;

    // During: a division by zero on row 500.
    let mut stream = conn
        .copy_out("COPY (SELECT 1 / (500 - g) FROM generate_series(1, 1000) g) TO STDOUT")
        .await
        .unwrap();
    let mut chunks = 0;
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(_) => chunks += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(chunks, 499);
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert!(stream.next().await.is_none());
    assert_eq!(stream.rows(), None);
    assert_usable(&mut conn).await;

    // Cancelled while streaming: 57014 as the last item.
    let token = conn.cancel_token();
    let mut stream = conn
        .copy_out("COPY (SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g) TO STDOUT")
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    token.cancel_query().await.unwrap();
    let mut last = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            last = Some(e);
        }
    }
    assert_eq!(last.unwrap().code(), Some(&SqlState::QUERY_CANCELED));
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn the_wrong_kind_of_statement_is_refused_after_it_ran() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TABLE copy_kind (a int); INSERT INTO copy_kind VALUES (1), (2)")
        .await
        .unwrap();
    let error = conn.copy_in("SELECT * FROM copy_kind").await.unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert!(error.to_string().contains("COPY ... FROM STDIN"), "{error}");
    assert_usable(&mut conn).await;
    let error = conn.copy_in("COPY copy_kind TO STDOUT").await.unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert_usable(&mut conn).await;
    let error = conn.copy_out("SELECT 1").await.unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert_usable(&mut conn).await;
    // A COPY FROM STDIN through copy_out is refused with CopyFail: nothing inserted.
    let error = conn
        .copy_out("COPY copy_kind FROM STDIN")
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(error.to_string().contains("copy_in"), "{error}");
    assert_usable(&mut conn).await;
    assert_eq!(count(&mut conn, "copy_kind").await, 2);
    // The other methods keep refusing COPY as before.
    let error = conn
        .execute("COPY copy_kind FROM STDIN", &[])
        .await
        .unwrap_err();
    assert!(error.is_db(), "{error}");
    let error = conn
        .simple_query("COPY copy_kind TO STDOUT")
        .await
        .unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn a_notice_per_row_while_copying_in_does_not_stall_either_side() {
    let db = db();
    let notices = Arc::new(AtomicU64::new(0));
    let mut config = db.config(Role::Superuser);
    let seen = notices.clone();
    config.notice_callback(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    }));
    let mut conn = Connection::connect(&config).await.unwrap();
    conn.simple_query(
        "CREATE TABLE copy_noisy (id int8, name text, n int4);
         CREATE FUNCTION noisy() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE NOTICE 'row % with a notice long enough to fill the buffers quickly %',
                   NEW.id, repeat('.', 200); RETURN NEW; END $$;
         CREATE TRIGGER noisy BEFORE INSERT ON copy_noisy FOR EACH ROW EXECUTE FUNCTION noisy()",
    )
    .await
    .unwrap();
    // 200,000 notices of ~300 bytes: far more than the socket buffers of both sides hold.
    let n = 200_000;
    let data = small_rows(n);
    let copy = async {
        let mut sink = conn.copy_in("COPY copy_noisy FROM STDIN").await.unwrap();
        for line in data.split_inclusive(|&b| b == b'\n') {
            sink.send(line).await.unwrap();
        }
        sink.finish().await.unwrap()
    };
    let copied = tokio::time::timeout(Duration::from_secs(120), copy)
        .await
        .expect("the COPY stalled");
    assert_eq!(copied, n as u64);
    assert_eq!(notices.load(Ordering::Relaxed), n as u64);
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn copy_in_unnamed_mode_and_with_statements_to_close() {
    // A connection whose statement cache evicts (closes queued) and one in unnamed mode: the
    // COPY leaves the queue for the next extended request and both stay in sync.
    let db = db();
    for named in [true, false] {
        let mut config = db.config(Role::Superuser);
        config.named_statements(named).statement_cache_capacity(1);
        let mut conn = Connection::connect(&config).await.unwrap();
        conn.simple_query("CREATE TEMP TABLE t (a int)")
            .await
            .unwrap();
        for i in 0..3i32 {
            conn.query_one(&format!("SELECT {i}::int4 + $1"), &[&1i32])
                .await
                .unwrap();
        }
        let mut sink = conn.copy_in("COPY t FROM STDIN").await.unwrap();
        sink.send(b"1\n2\n").await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), 2);
        let row = conn
            .query_one("SELECT 7::int4 + $1", &[&1i32])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 8);
        assert_usable(&mut conn).await;
    }
}

#[tokio::test]
async fn copy_in_and_out_over_tls() {
    let Some(tls) = tarn_testkit::tls_server().expect("TLS server") else {
        return;
    };
    let params = tls.params(Role::Scram, "postgres");
    let mut config = tarn_wire::Config::new();
    config
        .host(&params.host)
        .port(params.port)
        .user(&params.user)
        .dbname(&params.dbname)
        .ssl_mode(tarn_wire::SslMode::Require);
    if let Some(password) = &params.password {
        config.password(password);
    }
    let mut conn = Connection::connect(&config).await.unwrap();
    let ssl: bool = conn
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
    conn.simple_query("CREATE TEMP TABLE copy_tls (id int8, name text, n int4)")
        .await
        .unwrap();
    let data = small_rows(200_000);
    // A sink dropped midway over TLS: rolled back, the connection in sync.
    let mut sink = conn.copy_in("COPY copy_tls FROM STDIN").await.unwrap();
    sink.send(&data).await.unwrap();
    sink.send(&data[..1000]).await.unwrap();
    drop(sink);
    assert_eq!(count(&mut conn, "copy_tls").await, 0);
    // A whole COPY in, row by row, and out again.
    let mut sent = Fnv::new();
    let mut sink = conn.copy_in("COPY copy_tls FROM STDIN").await.unwrap();
    for line in data.split_inclusive(|&b| b == b'\n') {
        sent.update(line);
        sink.send(line).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 200_000);
    let mut received = Fnv::new();
    let mut stream = conn
        .copy_out("COPY (SELECT * FROM copy_tls ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    while let Some(chunk) = stream.next().await {
        received.update(&chunk.unwrap());
    }
    assert_eq!(received.0, sent.0);
    assert_usable(&mut conn).await;
}
