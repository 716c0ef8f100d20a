//! Error recovery: after server errors the same connection keeps working, and the
//! transaction status follows BEGIN / error / ROLLBACK.

use std::time::Duration;

use tarn_wire::{Connection, SqlState, TransactionStatus};

use crate::support::{Role, db};

async fn assert_usable(conn: &mut Connection) {
    assert!(!conn.is_broken());
    assert!(!conn.needs_drain());
    let row = conn
        .query_one("SELECT 'still here'::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "still here");
}

#[tokio::test]
async fn next_query_works_after_each_kind_of_error() {
    let db = db();
    let mut config = db.config(Role::Superuser);
    config.options("-c statement_timeout=200");
    let mut conn = Connection::connect(&config).await.unwrap();
    conn.execute("CREATE TEMP TABLE recovery_t (id int PRIMARY KEY)", &[])
        .await
        .unwrap();
    conn.execute("INSERT INTO recovery_t VALUES (1)", &[])
        .await
        .unwrap();

    let error = conn.query("SELEC 1", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::SYNTAX_ERROR));
    let position = error.as_db_error().unwrap().position();
    assert_eq!(position, Some(&tarn_wire::ErrorPosition::Original(1)));
    assert_usable(&mut conn).await;

    let error = conn
        .execute("INSERT INTO recovery_t VALUES ($1)", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::UNIQUE_VIOLATION));
    let db_error = error.as_db_error().unwrap();
    assert_eq!(db_error.table(), Some("recovery_t"));
    assert_eq!(db_error.constraint(), Some("recovery_t_pkey"));
    assert!(db_error.detail().unwrap().contains("already exists"));
    assert_eq!(db_error.severity(), "ERROR");
    assert_usable(&mut conn).await;

    let error = conn
        .query("SELECT 1 / $1::int4", &[&0i32])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_usable(&mut conn).await;

    let error = conn.query("SELECT pg_sleep(5)", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED));
    assert_usable(&mut conn).await;

    let error = conn.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED));
    assert_usable(&mut conn).await;

    // An error in the middle of a row stream: rows before it are dropped, the error returned.
    let error = conn
        .query("SELECT 10 / (5 - g) FROM generate_series(1, 10) g", &[])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::DIVISION_BY_ZERO));
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn transaction_status_follows_the_server() {
    let db = db();
    let mut conn = db.connect().await;
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    conn.simple_query("BEGIN").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.query("SELECT 1", &[]).await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.query("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    let error = conn.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(error.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    conn.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

    // The same through the extended protocol.
    conn.execute("BEGIN", &[]).await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    conn.execute("SELEC", &[]).await.unwrap_err();
    assert_eq!(conn.transaction_status(), TransactionStatus::Failed);
    conn.execute("ROLLBACK", &[]).await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn fatal_error_breaks_the_connection() {
    let db = db();
    let mut conn = db.connect().await;
    let mut admin = db.connect().await;
    let pid = conn.backend_pid();
    admin
        .query("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // The server sends FATAL 57P01 and closes; the client reports it and marks the
    // connection broken, without hanging.
    let error = tokio::time::timeout(Duration::from_secs(5), conn.query("SELECT 1", &[]))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(
        error.code() == Some(&SqlState::ADMIN_SHUTDOWN) || error.is_closed() || error.is_io(),
        "{error}"
    );
    assert!(conn.is_broken());
    assert!(conn.query("SELECT 1", &[]).await.unwrap_err().is_closed());
    assert!(conn.drain().await.is_err());
}

#[tokio::test]
async fn notices_reach_the_callback() {
    use std::sync::{Arc, Mutex};
    let db = db();
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = seen.clone();
    let mut config = db.config(Role::Superuser);
    config.notice_callback(Arc::new(move |notice: &tarn_wire::DbError| {
        sink.lock()
            .unwrap()
            .push((notice.severity().to_owned(), notice.message().to_owned()));
    }));
    let mut conn = Connection::connect(&config).await.unwrap();
    conn.execute(
        "DO $$ BEGIN RAISE WARNING 'careful'; RAISE NOTICE 'fyi'; END $$",
        &[],
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("WARNING".to_owned(), "careful".to_owned()),
            ("NOTICE".to_owned(), "fyi".to_owned())
        ]
    );
}

#[tokio::test]
async fn copy_from_stdin_is_refused_cleanly() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query("CREATE TEMP TABLE copy_t (a int)")
        .await
        .unwrap();
    let error = conn
        .simple_query("COPY copy_t FROM STDIN")
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.as_str()), Some("57014"), "{error}");
    assert_usable(&mut conn).await;
    let error = conn
        .execute("COPY copy_t FROM STDIN", &[])
        .await
        .unwrap_err();
    assert!(error.is_db(), "{error}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn copy_to_stdout_is_an_error_not_a_silent_ok() {
    let db = db();
    let mut conn = db.connect().await;
    conn.simple_query(
        "CREATE TEMP TABLE copy_out (a int); INSERT INTO copy_out SELECT generate_series(1, 1000)",
    )
    .await
    .unwrap();
    let error = conn
        .simple_query("COPY copy_out TO STDOUT")
        .await
        .unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert!(error.to_string().contains("COPY TO STDOUT"), "{error}");
    assert_usable(&mut conn).await;
    let error = conn
        .execute("COPY copy_out TO STDOUT (FORMAT binary)", &[])
        .await
        .unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert_usable(&mut conn).await;
    // Unnamed-statement mode takes the other path through the extended protocol.
    let mut config = db.config(Role::Superuser);
    config.named_statements(false);
    let mut conn = Connection::connect(&config).await.unwrap();
    let error = conn
        .query("COPY (SELECT 1) TO STDOUT", &[])
        .await
        .unwrap_err();
    assert!(error.is_unsupported(), "{error}");
    assert_usable(&mut conn).await;
}

#[tokio::test]
async fn an_idle_connection_knows_when_its_server_has_gone() {
    let db = db();
    let mut conn = db.connect().await;
    let mut admin = db.connect().await;
    assert!(!conn.peer_closed(), "a fresh idle connection is alive");
    assert_usable(&mut conn).await;
    assert!(!conn.peer_closed(), "still alive after use");
    let pid = conn.backend_pid();
    admin
        .query("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // The server sends FATAL 57P01 and closes; the probe sees it without a round trip once
    // the bytes have arrived. pg_terminate_backend returns before the backend has exited, so
    // poll (each probe is a non-blocking read).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !conn.peer_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe never saw the terminated backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(conn.is_broken());
}

#[tokio::test]
async fn the_probe_keeps_a_connection_that_only_received_a_notice() {
    let db = db();
    let mut conn = db.connect().await;
    // A ParameterStatus arrives with the reply to SET, not while idle; what an idle
    // connection can receive is a notification from another session's NOTIFY.
    conn.simple_query("LISTEN probe_channel").await.unwrap();
    let mut admin = db.connect().await;
    admin.simple_query("NOTIFY probe_channel").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!conn.peer_closed(), "a notification is not a dead server");
    assert_usable(&mut conn).await;
}
