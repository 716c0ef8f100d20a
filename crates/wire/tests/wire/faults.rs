//! Network faults through the testkit's proxy: resets, blackholes and delays end in clean
//! errors (a broken connection, a timeout), never a hang or a connection that silently reads
//! someone else's reply.

use std::time::{Duration, Instant};

use tarn_testkit::{FaultProxy, ProxyMode};
use tarn_wire::{Connection, SqlState};

use crate::support::db;

#[tokio::test]
async fn reset_connection_is_broken_not_reused() {
    let db = db();
    let proxy = FaultProxy::start(db.addr()).await.unwrap();
    let mut conn = Connection::connect(&db.config_via(proxy.addr()))
        .await
        .unwrap();
    conn.query_one("SELECT 1", &[]).await.unwrap();
    proxy.reset_all();
    let error = tokio::time::timeout(Duration::from_secs(5), conn.query_one("SELECT 1", &[]))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(error.is_closed() || error.is_io(), "{error}");
    assert!(conn.is_broken());
    assert!(conn.query("SELECT 1", &[]).await.unwrap_err().is_closed());
    assert!(conn.drain().await.is_err());
}

#[tokio::test]
async fn blackholed_connect_hits_the_connect_timeout() {
    let db = db();
    let proxy = FaultProxy::start(db.addr()).await.unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let mut config = db.config_via(proxy.addr());
    config.connect_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = Connection::connect(&config).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn abandoned_query_on_a_dead_link_cannot_be_drained() {
    let db = db();
    let proxy = FaultProxy::start(db.addr()).await.unwrap();
    let mut conn = Connection::connect(&db.config_via(proxy.addr()))
        .await
        .unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let abandoned =
        tokio::time::timeout(Duration::from_millis(200), conn.query("SELECT 1", &[])).await;
    assert!(abandoned.is_err());
    assert!(conn.needs_drain());
    proxy.reset_all();
    let error = tokio::time::timeout(Duration::from_secs(5), conn.drain())
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(error.is_closed() || error.is_io(), "{error}");
    assert!(conn.is_broken());
}

#[tokio::test]
async fn slow_link_still_answers_and_cancel_goes_through_the_same_address() {
    let db = db();
    let proxy = FaultProxy::start(db.addr()).await.unwrap();
    let mut conn = Connection::connect(&db.config_via(proxy.addr()))
        .await
        .unwrap();
    proxy.set_mode(ProxyMode::Delay(Duration::from_millis(20)));
    let row = conn.query_one("SELECT $1::int4", &[&3i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 3);
    proxy.set_mode(ProxyMode::Pass);
    let seen = proxy.connections_seen();
    let token = conn.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        token.cancel_query().await.unwrap();
    });
    let error = conn.query("SELECT pg_sleep(10)", &[]).await.unwrap_err();
    canceller.await.unwrap();
    assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED));
    assert_eq!(
        proxy.connections_seen(),
        seen + 1,
        "the cancel request used the proxy too"
    );
}
