//! Helpers shared by the test modules.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tarn_testkit::{PgServer, Role, TestDb};

/// A unique `application_name` per test, so `pg_stat_activity` counts are per test.
pub(crate) fn app_name(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("tarn_{test}_{}", N.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn db() -> TestDb<'static> {
    tarn_testkit::test_db().expect("test database")
}

pub(crate) fn builder(db: &TestDb<'_>, app: &str) -> tarn::Builder {
    tarn::Pool::builder()
        .url(&db.url(Role::Superuser))
        .application_name(app)
        .min_idle(0)
}

/// Polls `count_backends(app)` until it equals `want`, for up to 10 s (backends exit
/// asynchronously after a Terminate).
pub(crate) fn wait_for_backends(server: &PgServer, app: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = server.count_backends(app).expect("count backends");
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app}: {n} backends, expected {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
