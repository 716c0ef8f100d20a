//! Fault tests: tarn's pool behind the testkit's `FaultProxy`, in front of a real PostgreSQL.
//! Each test flips one switch (blackhole, reset, refuse, delay) and checks that callers get a
//! clear, timely error and that the pool recovers when the network does.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tarn_testkit::{FaultProxy, PgServer, ProxyMode, Role};

async fn proxy() -> (FaultProxy, tarn_testkit::TestDb<'static>) {
    let db = tarn_testkit::test_db().expect("test database");
    let server = PgServer::shared().expect("server");
    let upstream: SocketAddr = format!("{}:{}", server.host(), server.port())
        .parse()
        .expect("loopback address");
    (FaultProxy::start(upstream).await.expect("proxy"), db)
}

fn builder(proxy: &FaultProxy, db: &tarn_testkit::TestDb<'_>) -> tarn::Builder {
    let mut params = db.params(Role::Superuser);
    params.host = "127.0.0.1".into();
    params.port = proxy.port();
    params.socket_dir = None;
    tarn::Pool::builder()
        .url(&params.url())
        .application_name("tarn_faults")
        .min_idle(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_server_gives_acquire_timeouts_not_hangs() {
    let (proxy, db) = proxy().await;
    proxy.set_mode(ProxyMode::Blackhole);
    let acquire_timeout = Duration::from_millis(300);
    let pool = builder(&proxy, &db)
        .acquire_timeout(acquire_timeout)
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(
        took >= acquire_timeout && took < acquire_timeout * 3,
        "{took:?}"
    );
    // The message says which phase ran out and shows the pool's counts.
    let text = err.to_string();
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains("size"), "{text}");

    // When the network heals, the pool serves again without a restart.
    proxy.set_mode(ProxyMode::Pass);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match pool.query_one("SELECT 1", &[]).await {
            Ok(row) => {
                assert_eq!(row.get::<_, i32>(0), 1);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_on_a_connection_that_goes_silent_hits_query_timeout() {
    let (proxy, db) = proxy().await;
    let limit = Duration::from_millis(300);
    let pool = builder(&proxy, &db)
        .query_timeout(limit)
        .max_size(1)
        .build()
        .await
        .unwrap();
    let mut conn = pool.get().await.unwrap();
    conn.query_one("SELECT 1", &[]).await.unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let started = Instant::now();
    let err = conn.query_one("SELECT 1", &[]).await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_query_timeout(), "{err}");
    // The cancel goes straight to the server (not through the proxy), but the drain cannot
    // finish through the blackhole: the caller still hears back within the bound.
    assert!(
        took < limit + tarn::CANCEL_GRACE + Duration::from_millis(200),
        "{took:?}"
    );
    assert!(
        matches!(
            err,
            tarn::Error::QueryTimeout {
                cancelled: false,
                ..
            }
        ),
        "{err}"
    );
    // That connection is never handed out again.
    drop(conn);
    proxy.set_mode(ProxyMode::Pass);
    let mut fresh = pool.get().await.unwrap();
    let one: i32 = fresh.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert!(pool.stats().closed_broken >= 1, "{:?}", pool.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_connections_are_replaced() {
    let (proxy, db) = proxy().await;
    let pool = builder(&proxy, &db)
        .min_idle(2)
        .max_size(2)
        .check_after_idle(Duration::ZERO)
        .build()
        .await
        .unwrap();
    for _ in 0..2 {
        pool.query_one("SELECT 1", &[]).await.unwrap();
    }
    // Both min_idle connections open (not one still connecting, which would open after the
    // reset and stay open, a healthy connection the loop below would wait out).
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.status().connecting > 0 || pool.status().size < 2 {
        assert!(Instant::now() < deadline, "{:?}", pool.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = proxy.connections_seen();
    proxy.reset_all();
    // The proxy resets from its own tasks: wait until every old connection is really gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the proxy did not reset its connections"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every checkout pings an idle connection first (check_after_idle = 0), so the dead
    // ones are found and replaced instead of failing the caller.
    for _ in 0..4 {
        let one: i32 = pool.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    assert!(
        proxy.connections_seen() > seen,
        "no new connection was opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_server_fails_acquires_with_the_last_connect_error() {
    let (proxy, db) = proxy().await;
    proxy.set_mode(ProxyMode::Refuse);
    let pool = builder(&proxy, &db)
        .acquire_timeout(Duration::from_millis(400))
        .build()
        .await
        .unwrap();
    // Let the listener close before the first connect.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = pool.get().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("connect"),
        "the last connect error is missing: {text}"
    );
    assert!(pool.stats().connect_errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_during_an_outage_all_get_an_answer_in_time() {
    let (proxy, db) = proxy().await;
    proxy.set_mode(ProxyMode::Blackhole);
    let acquire_timeout = Duration::from_millis(300);
    let pool = builder(&proxy, &db)
        .acquire_timeout(acquire_timeout)
        .max_size(4)
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.query_one("SELECT 1", &[]).await.map(drop) })
        })
        .collect();
    for caller in callers {
        let err = caller.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }
    assert!(
        started.elapsed() < acquire_timeout * 4,
        "{:?}",
        started.elapsed()
    );
    let status = pool.status();
    assert!(status.size <= 4, "{status:?}");
    assert_eq!(status.waiting, 0, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_waiters_rejects_at_once_under_overload() {
    let (proxy, db) = proxy().await;
    let pool = builder(&proxy, &db)
        .max_size(1)
        .max_waiters(2)
        .acquire_timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let held = pool.get().await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.get().await.map(drop) })
        })
        .collect();
    while pool.status().waiting < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    let err = pool.get().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(err.to_string().contains("max_waiters"), "{err}");
    drop(held);
    for w in waiters {
        w.await.unwrap().unwrap();
    }
}
