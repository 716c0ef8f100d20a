//! The health check, through an outage.

use std::time::{Duration, Instant};

use tarn_testkit::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_connection_reports_an_outage_in_time_and_recovers() {
    let Some(server) = tarn_testkit::controllable_server().unwrap() else {
        return;
    };
    let acquire_timeout = Duration::from_millis(500);
    let pool = tarn::Pool::builder()
        .url(&server.params(Role::Superuser, "postgres").url())
        .acquire_timeout(acquire_timeout)
        .min_idle(1)
        .check_after_idle(Duration::ZERO)
        .build()
        .await
        .unwrap();
    let report = pool.check_connection().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.database.as_deref(), Some("postgres"));
    assert!(report.timestamp.is_some());
    let json = serde_json::to_value(&report).unwrap();
    for field in [
        "ok",
        "database",
        "timestamp",
        "poolSize",
        "idleCount",
        "waitingCount",
    ] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
    // ISO 8601 in UTC with milliseconds, as JavaScript's toISOString.
    let ts = json["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-01-01T12:00:00.000Z".len(),
        "{ts}"
    );

    tokio::task::block_in_place(|| server.stop().unwrap());
    let started = Instant::now();
    let report = pool.check_connection().await;
    assert!(!report.ok, "{report:?}");
    assert!(report.error.is_some());
    assert!(
        started.elapsed() < acquire_timeout + Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    tokio::task::block_in_place(|| server.restart().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = pool.check_connection().await;
        if report.ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still failing after restart: {report:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
