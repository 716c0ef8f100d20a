//! LISTEN/NOTIFY through `tarn::Listener`: order and payloads, unlisten, a terminated backend
//! (reconnect, re-listen, gap report), a server outage (backoff, recovery), a permanent error
//! returned and recovered from, the keepalive against a half-open connection, the notify
//! helper, awkward channel names, dropped notifications, `recv` in a `select!` loop, and the
//! `Stream` adapters.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tarn::{Config, Listener, ListenerEvent, ListenerStream, Notification};
use tarn_testkit::{FaultProxy, ProxyMode, Role};

use crate::common::*;

/// Far above anything a healthy run needs; only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

async fn next(listener: &mut Listener) -> ListenerEvent {
    tokio::time::timeout(PATIENCE, listener.recv())
        .await
        .expect("an event within 30 s")
        .expect("recv")
}

async fn next_notification(listener: &mut Listener) -> Notification {
    match next(listener).await {
        ListenerEvent::Notification(n) => n,
        other => panic!("expected a notification, got {other:?}"),
    }
}

async fn expect(listener: &mut Listener, channel: &str, payload: &str) {
    let n = next_notification(listener).await;
    assert_eq!(
        (n.channel(), n.payload()),
        (channel, payload),
        "unexpected notification"
    );
}

/// Terminates the backends with this `application_name` on the shared server; returns how many.
async fn terminate(app: &str) -> u64 {
    let app = app.to_owned();
    tokio::task::spawn_blocking(move || {
        tarn_testkit::PgServer::shared()
            .unwrap()
            .terminate_backends(&app)
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_notifications_arrive_in_order_with_their_payloads() {
    let db = db();
    let pool = builder(&db, &app_name("listen_order"))
        .build()
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    listener.listen("orders").await.unwrap();

    let mut sender = pool.get().await.unwrap();
    let sender_pid = sender.backend_pid();
    let sending = tokio::spawn(async move {
        for i in 0..1000 {
            let payload = format!("order {i}: 'quoted' \"and\" ✓");
            sender
                .execute("SELECT pg_notify($1, $2)", &[&"orders", &payload])
                .await
                .unwrap();
        }
    });
    for i in 0..1000 {
        let n = next_notification(&mut listener).await;
        assert_eq!(n.channel(), "orders");
        assert_eq!(n.payload(), format!("order {i}: 'quoted' \"and\" ✓"));
        assert_eq!(n.process_id(), sender_pid);
    }
    sending.await.unwrap();
    assert_eq!(listener.notifications_dropped(), 0);
    assert_eq!(listener.reconnects(), 0);
    assert_eq!(listener.channels().collect::<Vec<_>>(), ["orders"]);
    listener.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisten_stops_delivery() {
    let db = db();
    let pool = builder(&db, &app_name("listen_unlisten"))
        .build()
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    listener.listen("a").await.unwrap();
    listener.listen("b").await.unwrap();
    listener.listen("a").await.unwrap(); // idempotent
    pool.notify("a", "1").await.unwrap();
    pool.notify("b", "1").await.unwrap();
    expect(&mut listener, "a", "1").await;
    expect(&mut listener, "b", "1").await;

    // Sent in this order by one session, so "a" would come first if it were delivered.
    listener.unlisten("a").await.unwrap();
    pool.notify("a", "2").await.unwrap();
    pool.notify("b", "2").await.unwrap();
    expect(&mut listener, "b", "2").await;

    // A notification already received but not yet returned is not returned after unlisten:
    // the LISTEN round trip reads what the server sent before it.
    listener.listen("a").await.unwrap();
    pool.notify("a", "3").await.unwrap();
    pool.notify("b", "3").await.unwrap();
    listener.listen("c").await.unwrap();
    listener.unlisten("a").await.unwrap();
    expect(&mut listener, "b", "3").await;

    listener.unlisten_all().await.unwrap();
    assert_eq!(listener.channels().count(), 0);
    pool.notify("b", "4").await.unwrap();
    pool.notify("c", "4").await.unwrap();
    listener.listen("d").await.unwrap();
    pool.notify("d", "4").await.unwrap();
    expect(&mut listener, "d", "4").await;
    assert_eq!(listener.channels().collect::<Vec<_>>(), ["d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_backend_is_replaced_relistened_and_the_gap_reported() {
    let db = db();
    let pool = builder(&db, &app_name("listen_kill_pool"))
        .build()
        .await
        .unwrap();
    let app = app_name("listen_kill");
    let mut listener = pool
        .listener()
        .application_name(&app)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    listener.listen("k1").await.unwrap();
    listener.listen("k 2").await.unwrap();
    pool.notify("k1", "before").await.unwrap();
    expect(&mut listener, "k1", "before").await;
    let pid_before = listener.backend_pid().unwrap();

    assert_eq!(terminate(&app).await, 1);
    match next(&mut listener).await {
        ListenerEvent::Reconnected {
            missed_possible,
            attempts,
            cause,
            ..
        } => {
            assert!(missed_possible);
            assert!(attempts >= 1);
            assert!(cause.contains("57P01"), "cause: {cause}");
        }
        other => panic!("expected Reconnected, got {other:?}"),
    }
    assert!(listener.is_connected());
    assert_ne!(listener.backend_pid(), Some(pid_before));
    assert_eq!(listener.reconnects(), 1);
    let a = app.clone();
    tokio::task::spawn_blocking(move || {
        wait_for_backends(tarn_testkit::PgServer::shared().unwrap(), &a, 1)
    })
    .await
    .unwrap();

    // Both channels were listened on again.
    pool.notify("k 2", "after").await.unwrap();
    pool.notify("k1", "after").await.unwrap();
    expect(&mut listener, "k 2", "after").await;
    expect(&mut listener, "k1", "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_backs_off_while_the_server_is_down_and_recovers() {
    let Some(server) = tarn_testkit::controllable_server().unwrap() else {
        return;
    };
    let url = server.params(Role::Superuser, "postgres").url();
    let (min, max) = (Duration::from_millis(50), Duration::from_millis(400));
    let mut listener = Listener::builder(Config::from_url(&url).unwrap())
        .reconnect_backoff(min, max)
        .keepalive_interval(None)
        .connect()
        .await
        .unwrap();
    listener.listen("outage").await.unwrap();

    tokio::task::block_in_place(|| server.stop().unwrap());
    let receiving = tokio::spawn(async move {
        let event = listener.recv().await;
        (listener, event)
    });
    // The outage itself: there is nothing to wait for but time.
    let down_for = Duration::from_millis(1500);
    tokio::time::sleep(down_for).await;
    assert!(
        !receiving.is_finished(),
        "recv returned during the outage instead of retrying"
    );
    tokio::task::block_in_place(|| server.restart().unwrap());
    let (mut listener, event) = tokio::time::timeout(PATIENCE, receiving)
        .await
        .expect("reconnected within 30 s of the restart")
        .unwrap();
    match event.expect("recv") {
        ListenerEvent::Reconnected {
            missed_possible,
            attempts,
            downtime,
            ..
        } => {
            assert!(missed_possible);
            assert!(downtime >= down_for, "{downtime:?}");
            assert!(attempts >= 3, "{attempts} attempts in {downtime:?}");
            // Backed off: once capped, at most one attempt per max / 2, plus the first few.
            let capped = (downtime.as_secs_f64() / (max.as_secs_f64() / 2.0)) as u32;
            assert!(
                attempts <= capped + 8,
                "{attempts} attempts in {downtime:?}: no backoff"
            );
        }
        other => panic!("expected Reconnected, got {other:?}"),
    }
    let pool = tarn::Pool::builder()
        .url(&url)
        .min_idle(0)
        .build()
        .await
        .unwrap();
    pool.notify("outage", "back").await.unwrap();
    expect(&mut listener, "outage", "back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_returned_and_the_listener_recovers_after_the_fix() {
    static N: AtomicU32 = AtomicU32::new(0);
    let db = db();
    let pool = builder(&db, &app_name("listen_perm_pool"))
        .build()
        .await
        .unwrap();

    // At start-up: a wrong password fails the connect at once.
    let mut wrong = db.params(Role::Scram);
    wrong.password = Some("wrong".into());
    let started = Instant::now();
    let err = Listener::builder(Config::from_url(&wrong.url()).unwrap())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("28P01"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Later: the role loses LOGIN while the listener is down.
    let role = format!(
        "tarn_listener_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    db.psql(&format!("CREATE ROLE {role} LOGIN")).unwrap();
    let mut params = db.params(Role::Superuser);
    params.user = role.clone();
    let app = app_name("listen_perm");
    let mut listener = Listener::builder(Config::from_url(&params.url()).unwrap())
        .application_name(&app)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    listener.listen("perm").await.unwrap();
    db.psql(&format!("ALTER ROLE {role} NOLOGIN")).unwrap();
    assert_eq!(terminate(&app).await, 1);
    let err = tokio::time::timeout(PATIENCE, listener.recv())
        .await
        .expect("an answer within 30 s")
        .expect_err("a role that may not log in is not retried silently");
    assert_eq!(err.code().map(|c| c.as_str()), Some("28000"), "{err}");
    assert!(!listener.is_connected());

    db.psql(&format!("ALTER ROLE {role} LOGIN")).unwrap();
    match next(&mut listener).await {
        ListenerEvent::Reconnected {
            missed_possible,
            attempts,
            ..
        } => {
            assert!(missed_possible);
            assert!(attempts >= 2, "{attempts}");
        }
        other => panic!("expected Reconnected, got {other:?}"),
    }
    pool.notify("perm", "fixed").await.unwrap();
    expect(&mut listener, "perm", "fixed").await;
    listener.close().await;
    let _ = db.psql(&format!("DROP ROLE {role}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keepalive_finds_a_half_open_connection() {
    let db = db();
    let server = db.server();
    let upstream: SocketAddr = format!("{}:{}", server.host(), server.port())
        .parse()
        .expect("a loopback address");
    let proxy = FaultProxy::start(upstream).await.unwrap();
    let mut params = db.params(Role::Superuser);
    params.host = proxy.addr().ip().to_string();
    params.port = proxy.port();
    let (interval, timeout) = (Duration::from_millis(200), Duration::from_millis(500));
    let mut listener = Listener::builder(Config::from_url(&params.url()).unwrap())
        .keepalive_interval(interval)
        .keepalive_timeout(timeout)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    listener.listen("half open").await.unwrap();
    let pool = builder(&db, &app_name("listen_keepalive"))
        .build()
        .await
        .unwrap();
    pool.notify("half open", "before").await.unwrap();
    expect(&mut listener, "half open", "before").await;

    // The open connection goes silent in both directions; new connections pass.
    proxy.set_open_mode(ProxyMode::Blackhole);
    let started = Instant::now();
    match next(&mut listener).await {
        ListenerEvent::Reconnected {
            missed_possible,
            cause,
            ..
        } => {
            assert!(missed_possible);
            assert!(cause.contains("keepalive"), "cause: {cause}");
        }
        other => panic!("expected Reconnected, got {other:?}"),
    }
    assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
    assert_eq!(proxy.connections_seen(), 2);
    pool.notify("half open", "after").await.unwrap();
    expect(&mut listener, "half open", "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_helper_sends_any_payload_and_transactions_send_on_commit() {
    let db = db();
    let pool = builder(&db, &app_name("listen_notify"))
        .build()
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    listener.listen("n").await.unwrap();
    let long = "x".repeat(7999);
    let payloads = [
        "",
        "plain",
        "it's \"quoted\"; SELECT 1; --",
        "back\\slash $1 %s",
        "unicode ✓ ☕ 日本",
        long.as_str(),
    ];
    for payload in payloads {
        pool.notify("n", payload).await.unwrap();
    }
    for payload in payloads {
        expect(&mut listener, "n", payload).await;
    }

    // The server's limits come back as its errors.
    let err = pool.notify("", "x").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("22023"), "{err}");
    let err = pool.notify("n", &"x".repeat(8000)).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.as_str()), Some("22023"), "{err}");

    // Inside a transaction: sent on commit, never on rollback.
    let mut conn = pool.get().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("SELECT pg_notify($1, $2)", &[&"n", &"rolled back"])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = conn.transaction().await.unwrap();
    tx.execute("SELECT pg_notify($1, $2)", &[&"n", &"committed"])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(conn);
    pool.notify("n", "last").await.unwrap();
    expect(&mut listener, "n", "committed").await;
    expect(&mut listener, "n", "last").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_spaces_and_case_work_as_given() {
    let db = db();
    let pool = builder(&db, &app_name("listen_names"))
        .build()
        .await
        .unwrap();
    pool.execute("CREATE TABLE canary (id int)", &[])
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    let longest = "l".repeat(tarn::MAX_CHANNEL_LEN);
    let names = [
        "my channel",
        "it's",
        r#"say "hi""#,
        r#"x"; DROP TABLE canary; --"#,
        "Upper",
        "café ☕",
        "back\\slash",
        longest.as_str(),
    ];
    for name in names {
        listener.listen(name).await.unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        pool.notify(name, &i.to_string()).await.unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        expect(&mut listener, name, &i.to_string()).await;
    }
    // Case-sensitive: "upper" is another channel.
    pool.notify("upper", "no").await.unwrap();
    pool.notify("Upper", "yes").await.unwrap();
    expect(&mut listener, "Upper", "yes").await;
    // Nothing in a name ran as SQL.
    let rows = pool.query("SELECT id FROM canary", &[]).await.unwrap();
    assert!(rows.is_empty());
    // Unlisten quotes the same way.
    listener.unlisten(r#"say "hi""#).await.unwrap();
    pool.notify(r#"say "hi""#, "no").await.unwrap();
    pool.notify("it's", "yes").await.unwrap();
    expect(&mut listener, "it's", "yes").await;

    let too_long = "l".repeat(tarn::MAX_CHANNEL_LEN + 1);
    for bad in ["", "nul\0byte", too_long.as_str()] {
        match listener.listen(bad).await {
            Err(tarn::Error::Config(e)) => assert_eq!(e.setting(), "channel", "{e}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(listener.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_buffer_is_reported_as_dropped() {
    let db = db();
    let pool = builder(&db, &app_name("listen_flood"))
        .build()
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    listener.listen("flood").await.unwrap();
    let total = tarn::MAX_NOTIFICATIONS as u64 + 4_464;
    pool.execute(
        "SELECT pg_notify('flood', i::text) FROM generate_series(1, $1::int8) AS i",
        &[&(total as i64)],
    )
    .await
    .unwrap();
    // A round trip reads everything the server sent before its answer into the buffer.
    listener.listen("other").await.unwrap();

    let (mut dropped, mut received, mut last) = (0_u64, 0_u64, 0_u64);
    while last < total {
        match next(&mut listener).await {
            ListenerEvent::NotificationsDropped { count, .. } => {
                assert_eq!(received, 0, "drops are of the oldest, reported first");
                dropped += count;
            }
            ListenerEvent::Notification(n) => {
                let i: u64 = n.payload().parse().unwrap();
                assert!(i > last, "{i} after {last}");
                last = i;
                received += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(dropped > 0);
    assert_eq!(dropped + received, total);
    assert_eq!(listener.notifications_dropped(), dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recv_in_a_select_loop_loses_nothing() {
    let db = db();
    let pool = builder(&db, &app_name("listen_select"))
        .build()
        .await
        .unwrap();
    let mut listener = pool
        .listener()
        .keepalive_interval(Duration::from_millis(5))
        .connect()
        .await
        .unwrap();
    listener.listen("tick").await.unwrap();
    let sender = pool.clone();
    let sending = tokio::spawn(async move {
        for i in 0..300 {
            sender.notify("tick", &i.to_string()).await.unwrap();
        }
    });
    let mut got = Vec::new();
    let (mut cancelled, started) = (0, Instant::now());
    while got.len() < 300 {
        assert!(started.elapsed() < PATIENCE, "{} of 300", got.len());
        tokio::select! {
            event = listener.recv() => match event.unwrap() {
                ListenerEvent::Notification(n) => got.push(n.payload().parse::<u32>().unwrap()),
                other => panic!("{other:?}"),
            },
            () = tokio::time::sleep(Duration::from_micros(300)) => cancelled += 1,
        }
    }
    sending.await.unwrap();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
    assert!(cancelled > 0, "recv was never cancelled");
    assert_eq!(listener.reconnects(), 0);
}

async fn next_item(stream: &mut ListenerStream<'_>) -> ListenerEvent {
    let item = tokio::time::timeout(PATIENCE, poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)))
        .await
        .expect("an item within 30 s");
    item.expect("streams never end").expect("no error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_adapters_yield_what_recv_would() {
    let db = db();
    let pool = builder(&db, &app_name("listen_stream"))
        .build()
        .await
        .unwrap();
    let mut listener = pool.listener().connect().await.unwrap();
    listener.listen("s1").await.unwrap();
    pool.notify("s1", "1").await.unwrap();
    pool.notify("s1", "2").await.unwrap();
    {
        let mut stream = listener.stream();
        for want in ["1", "2"] {
            match next_item(&mut stream).await {
                ListenerEvent::Notification(n) => assert_eq!(n.payload(), want),
                other => panic!("{other:?}"),
            }
        }
    }
    // The borrow is over: change the channels, then stream from another task.
    listener.listen("s2").await.unwrap();
    let mut stream = listener.into_stream();
    let forwarding = tokio::spawn(async move {
        let mut payloads = Vec::new();
        while payloads.len() < 3 {
            if let ListenerEvent::Notification(n) = next_item(&mut stream).await {
                payloads.push(format!("{}:{}", n.channel(), n.payload()));
            }
        }
        payloads
    });
    pool.notify("s2", "a").await.unwrap();
    pool.notify("s1", "b").await.unwrap();
    pool.notify("s2", "c").await.unwrap();
    let payloads = tokio::time::timeout(PATIENCE, forwarding)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payloads, ["s2:a", "s1:b", "s2:c"]);
}
