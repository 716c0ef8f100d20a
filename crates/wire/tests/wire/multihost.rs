//! libpq's multi-host connection: hosts tried in order, a dead host skipped within its connect
//! timeout, `load_balance_hosts=random`, and `target_session_attrs` judged from what the server
//! reports. (Standbys and promotion are tested in tarn's topology tests, with the testkit's
//! streaming replication.)

use std::time::{Duration, Instant};

use tarn_testkit::{FaultProxy, PgServer, ProxyMode};
use tarn_wire::{Config, Connection, LoadBalanceHosts, TargetSessionAttrs};

/// A config for the superuser over a list of `127.0.0.1` ports.
fn config(ports: &[u16]) -> Config {
    let mut config = Config::new();
    for _ in ports {
        config.host("127.0.0.1");
    }
    config
        .ports(ports)
        .user("postgres")
        .dbname("postgres")
        .ssl_mode(tarn_wire::SslMode::Disable)
        .connect_timeout(Duration::from_millis(500));
    config
}

fn shared() -> &'static PgServer {
    PgServer::shared().expect("server")
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

async fn port_of(conn: &mut Connection) -> i32 {
    conn.query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_closed_and_a_silent_first_host_are_skipped_within_the_connect_timeout() {
    let server = shared();
    let closed = closed_port().await;
    let mut conn = Connection::connect(&config(&[closed, server.port()]))
        .await
        .unwrap();
    assert_eq!(port_of(&mut conn).await, i32::from(server.port()));

    let upstream = format!("{}:{}", server.host(), server.port())
        .parse()
        .unwrap();
    let silent = FaultProxy::start(upstream).await.unwrap();
    silent.set_mode(ProxyMode::Blackhole);
    let started = Instant::now();
    let mut conn = Connection::connect(&config(&[silent.port(), server.port()]))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(port_of(&mut conn).await, i32::from(server.port()));
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn when_every_host_fails_the_error_lists_each_one() {
    let a = closed_port().await;
    let b = closed_port().await;
    let error = Connection::connect(&config(&[a, b])).await.unwrap_err();
    assert_eq!(error.host(), Some(format!("127.0.0.1:{b}").as_str()));
    assert_eq!(error.also_tried().len(), 1, "{error}");
    let text = error.to_string();
    assert!(text.contains(&format!("127.0.0.1:{a}")), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{b}")), "{text}");
}

#[tokio::test]
async fn random_load_balancing_uses_every_host() {
    let server = shared();
    let upstream = format!("{}:{}", server.host(), server.port())
        .parse()
        .unwrap();
    let proxies = [
        FaultProxy::start(upstream).await.unwrap(),
        FaultProxy::start(upstream).await.unwrap(),
        FaultProxy::start(upstream).await.unwrap(),
    ];
    let ports: Vec<u16> = proxies.iter().map(FaultProxy::port).collect();
    let mut config = config(&ports);
    config.load_balance_hosts(LoadBalanceHosts::Random);
    for _ in 0..60 {
        Connection::connect(&config)
            .await
            .unwrap()
            .close()
            .await
            .unwrap();
    }
    let seen: Vec<u64> = proxies.iter().map(FaultProxy::connections_seen).collect();
    // Each of three hosts is first with probability 1/3; missing one in 60 tries has a
    // probability of about 3 * (2/3)^60, below 1e-10.
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    assert_eq!(seen.iter().sum::<u64>(), 60, "{seen:?}");
    // In order (the default), the first host takes them all.
    let proxies_in_order = config.load_balance_hosts(LoadBalanceHosts::Disable).clone();
    let before = proxies[0].connections_seen();
    for _ in 0..5 {
        Connection::connect(&proxies_in_order).await.unwrap();
    }
    assert_eq!(proxies[0].connections_seen(), before + 5);
}

#[tokio::test]
async fn target_session_attrs_pick_the_right_server() {
    let read_write = shared();
    // A server whose sessions are read-only by default (reported at startup).
    let read_only = PgServer::builder().start().unwrap();
    read_only
        .psql(
            "postgres",
            "ALTER SYSTEM SET default_transaction_read_only = on",
        )
        .unwrap();
    read_only
        .psql("postgres", "SELECT pg_reload_conf()")
        .unwrap();
    let (rw, ro) = (read_write.port(), read_only.port());
    // (wanted, hosts in order, the port it must land on; None: no host qualifies)
    let cases = [
        (TargetSessionAttrs::Any, [ro, rw], Some(ro)),
        (TargetSessionAttrs::ReadWrite, [ro, rw], Some(rw)),
        (TargetSessionAttrs::ReadOnly, [rw, ro], Some(ro)),
        // Neither is a standby: primary takes the first, standby finds none, prefer-standby
        // falls back to any.
        (TargetSessionAttrs::Primary, [ro, rw], Some(ro)),
        (TargetSessionAttrs::Standby, [ro, rw], None),
        (TargetSessionAttrs::PreferStandby, [rw, ro], Some(rw)),
    ];
    for (want, ports, lands) in cases {
        let mut config = config(&ports);
        config.target_session_attrs(want);
        match (Connection::connect(&config).await, lands) {
            (Ok(mut conn), Some(port)) => {
                assert_eq!(port_of(&mut conn).await, i32::from(port), "{want:?}")
            }
            (Err(e), None) => {
                assert!(e.is_session_mismatch(), "{want:?}: {e}");
                assert!(
                    e.to_string().contains("target_session_attrs=standby"),
                    "{e}"
                );
                assert_eq!(e.also_tried().len(), 1, "{e}");
            }
            (Ok(_), None) => panic!("{want:?} connected, expected no host to qualify"),
            (Err(e), Some(_)) => panic!("{want:?}: {e}"),
        }
    }
}
