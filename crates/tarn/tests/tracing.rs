//! Tracing, in a test binary of its own: tracing's per-callsite interest cache is global, and
//! test threads without a subscriber would race the one that sets one.

use std::time::Duration;

/// A writer that keeps what the subscriber writes, for the tracing test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn queries_are_traced_with_their_sql_and_slow_ones_logged_without_parameters() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let db = tarn_testkit::test_db().expect("test database");
    let pool = tarn::Pool::builder()
        .url(&db.url(tarn_testkit::Role::Superuser))
        .min_idle(0)
        .slow_query_threshold(Duration::from_millis(50))
        .build()
        .await
        .unwrap();
    pool.query_one("SELECT $1::text", &[&"a-secret-value"])
        .await
        .unwrap();
    pool.execute("SELECT pg_sleep(0.1), $1::text", &[&"another-secret"])
        .await
        .unwrap();
    let err = pool.execute("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("22012"));
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("tarn.query"), "{text}");
    assert!(text.contains("db.system=\"postgresql\""), "{text}");
    assert!(text.contains("db.statement=\"SELECT $1::text\""), "{text}");
    assert!(text.contains("db.rows=1"), "{text}");
    assert!(text.contains("db.response.status_code=\"22012\""), "{text}");
    assert!(text.contains("tarn: slow query"), "{text}");
    assert!(text.contains("pg_sleep"), "{text}");
    assert!(
        !text.contains("secret"),
        "a parameter value reached the log: {text}"
    );
}
