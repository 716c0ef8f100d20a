//! Topologies against real streaming replication (the testkit's `ReplicaSet`: a primary and
//! standbys made with `pg_basebackup -R`): multi-host strings with each
//! `target_session_attrs`, failover inside one pool, read routing through `Cluster`, and a
//! cluster whose nodes sit behind their own PgBouncer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tarn::{Cluster, TargetSessionAttrs};
use tarn_testkit::{Node, PgBouncer, PgServer, PoolMode, ReplicaSet, Role, replica_set};

fn url_of(servers: &[&PgServer]) -> String {
    let hosts: Vec<String> = servers
        .iter()
        .map(|s| format!("{}:{}", s.host(), s.port()))
        .collect();
    format!("postgres://postgres@{}/postgres", hosts.join(","))
}

async fn server_port(pool: &tarn::Pool) -> u16 {
    let port: i32 = pool
        .query_one("SELECT inet_server_port()", &[])
        .await
        .unwrap()
        .get(0);
    u16::try_from(port).unwrap()
}

async fn pool_for(url: &str, attrs: TargetSessionAttrs) -> tarn::Pool {
    tarn::Pool::builder()
        .url(url)
        .target_session_attrs(attrs)
        .min_idle(0)
        .max_size(2)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_target_session_attrs_lands_on_the_right_server() {
    let Some(set) = tokio::task::block_in_place(|| replica_set(1)).unwrap() else {
        return;
    };
    let (primary, standby) = (set.primary(), set.standby(0).unwrap());
    // Both orders of the host list.
    for order in [[primary, standby], [standby, primary]] {
        let url = url_of(&order);
        let first = order[0].port();
        let cases = [
            (TargetSessionAttrs::Any, first),
            (TargetSessionAttrs::ReadWrite, primary.port()),
            (TargetSessionAttrs::Primary, primary.port()),
            (TargetSessionAttrs::ReadOnly, standby.port()),
            (TargetSessionAttrs::Standby, standby.port()),
            (TargetSessionAttrs::PreferStandby, standby.port()),
        ];
        for (attrs, want) in cases {
            let pool = pool_for(&url, attrs).await;
            assert_eq!(server_port(&pool).await, want, "{attrs:?} over {url}");
        }
    }
    // The key=value form and the environment say the same.
    let kv = format!(
        "host={},{} port={},{} user=postgres dbname=postgres target_session_attrs=standby",
        primary.host(),
        standby.host(),
        primary.port(),
        standby.port()
    );
    let pool = tarn::Pool::builder()
        .url(&kv)
        .min_idle(0)
        .build()
        .await
        .unwrap();
    assert_eq!(server_port(&pool).await, standby.port());
    let vars = [
        ("PGHOST", format!("{},{}", standby.host(), primary.host())),
        ("PGPORT", format!("{},{}", standby.port(), primary.port())),
        ("PGUSER", "postgres".to_owned()),
        ("PGTARGETSESSIONATTRS", "read-write".to_owned()),
    ];
    let config = tarn::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let pool = tarn::Pool::builder()
        .config(config)
        .min_idle(0)
        .build()
        .await
        .unwrap();
    assert_eq!(server_port(&pool).await, primary.port());
    // prefer-standby falls back to the primary when the standby is gone.
    tokio::task::block_in_place(|| standby.stop()).unwrap();
    let pool = pool_for(
        &url_of(&[standby, primary]),
        TargetSessionAttrs::PreferStandby,
    )
    .await;
    assert_eq!(server_port(&pool).await, primary.port());
    // And standby then finds none, listing each host with its reason.
    let pool = pool_for(&url_of(&[standby, primary]), TargetSessionAttrs::Standby).await;
    let err = pool.get().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("target_session_attrs=standby"), "{text}");
    assert!(text.contains(&format!(":{}", standby.port())), "{text}");
}

/// The failover test of the topology issue: load through one read-write pool, the primary
/// stopped, the standby promoted; writes resume through the same pool object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_pool_follows_a_promotion_without_being_rebuilt() {
    let Some(set) = tokio::task::block_in_place(|| replica_set(1)).unwrap() else {
        return;
    };
    let (primary, standby) = (set.primary(), set.standby(0).unwrap());
    primary
        .psql(
            "postgres",
            "CREATE TABLE acked (k bigint PRIMARY KEY, port int)",
        )
        .unwrap();
    tokio::task::block_in_place(|| set.wait_caught_up()).unwrap();
    let acquire_timeout = Duration::from_secs(5);
    let pool = tarn::Pool::builder()
        .url(&format!(
            "{}?target_session_attrs=read-write&connect_timeout=1",
            url_of(&[primary, standby])
        ))
        .max_size(4)
        .min_idle(0)
        .acquire_timeout(acquire_timeout)
        .query_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let next_key = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (pool, stop, next_key) = (pool.clone(), stop.clone(), next_key.clone());
        writers.push(tokio::spawn(async move {
            // (key, server port, when) of every acknowledged write; the slowest call.
            let mut acked = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut errors = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let k = next_key.fetch_add(1, Ordering::Relaxed) as i64;
                let started = Instant::now();
                let result = pool
                    .query_one(
                        "INSERT INTO acked VALUES ($1, inet_server_port()) RETURNING port",
                        &[&k],
                    )
                    .await;
                slowest = slowest.max(started.elapsed());
                match result {
                    Ok(row) => acked.push((k, row.get::<_, i32>(0), Instant::now())),
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (acked, slowest, errors)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // A planned failover: stop the primary (a clean shutdown sends the standby every WAL
    // record first), then promote the standby.
    tokio::task::block_in_place(|| primary.stop()).unwrap();
    tokio::task::block_in_place(|| set.promote(0)).unwrap();
    let promoted = Instant::now();
    // Writes go on for a while on the new primary; then the old primary comes back as a
    // standby of the new one, at its old address, while the load still runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| set.rebuild_as_standby_of(Node::Primary, 0usize)).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);

    let mut acked = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut errors = 0;
    for w in writers {
        let (a, s, e) = w.await.unwrap();
        acked.extend(a);
        slowest = slowest.max(s);
        errors += e;
    }
    let after: Vec<_> = acked.iter().filter(|(_, _, at)| *at > promoted).collect();
    let resumed = after
        .iter()
        .map(|(_, _, at)| at.duration_since(promoted))
        .min()
        .expect("writes resumed after the promotion");
    eprintln!(
        "failover: {} writes acknowledged, {errors} failed during the switch; first write on the \
         new primary {resumed:?} after the promote; slowest call {slowest:?}",
        acked.len()
    );
    // Writes resumed within acquire_timeout plus the breaker's probe interval (2 s).
    assert!(
        resumed < acquire_timeout + Duration::from_secs(2),
        "{resumed:?}"
    );
    // No caller hung: every call answered within query_timeout plus the cancel grace, or
    // acquire_timeout.
    assert!(
        slowest < acquire_timeout + Duration::from_secs(1),
        "{slowest:?}"
    );
    // No write went to the old address once it served a standby, or to a standby at all
    // (it would have failed with 25006): every write after the promotion is on the new
    // primary.
    for (k, port, _) in &after {
        assert_eq!(*port, i32::from(standby.port()), "write {k} went elsewhere");
    }
    // Every acknowledged write is on the new primary.
    let keys: Vec<i64> = acked.iter().map(|(k, _, _)| *k).collect();
    let new_primary = pool_for(&url_of(&[standby]), TargetSessionAttrs::Any).await;
    let present: i64 = new_primary
        .query_one("SELECT count(*) FROM acked WHERE k = ANY($1)", &[&keys])
        .await
        .unwrap()
        .get(0);
    let present = usize::try_from(present).unwrap();
    assert_eq!(present, acked.len(), "acknowledged writes lost");
}

async fn read_port(cluster: &Cluster) -> Result<u16, tarn::Error> {
    let port: i32 = cluster
        .reader()
        .query_one("SELECT inet_server_port()", &[])
        .await?
        .get(0);
    Ok(u16::try_from(port).unwrap())
}

/// Polls `cond` every 50 ms for up to `within`.
async fn eventually(within: Duration, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_spread_over_healthy_replicas_and_fall_back_to_the_primary() {
    let Some(set) = tokio::task::block_in_place(|| replica_set(2)).unwrap() else {
        return;
    };
    let primary = set.primary();
    let (s0, s1) = (set.standby(0).unwrap(), set.standby(1).unwrap());
    primary
        .psql("postgres", "CREATE TABLE ticks (at timestamptz)")
        .unwrap();
    let check = Duration::from_millis(200);
    let cluster = Cluster::builder()
        .writer(&url_of(&[primary]))
        .replica(&url_of(&[s0]))
        .replica(&url_of(&[s1]))
        .max_replica_lag(Duration::from_millis(800))
        .check_interval(check)
        .pool(|b| {
            b.min_idle(0)
                .max_size(2)
                .acquire_timeout(Duration::from_secs(2))
        })
        .build()
        .await
        .unwrap();

    // Reads spread over both replicas, none on the primary (once the first checks are in).
    eventually(
        Duration::from_secs(10),
        "both replicas checked",
        async || {
            cluster
                .status()
                .replicas
                .iter()
                .all(|r| r.healthy && r.lag.is_some())
        },
    )
    .await;
    let mut seen = std::collections::HashMap::new();
    for _ in 0..20 {
        *seen.entry(read_port(&cluster).await.unwrap()).or_insert(0) += 1;
    }
    assert!(!seen.contains_key(&primary.port()), "{seen:?}");
    assert!(seen[&s0.port()] > 0 && seen[&s1.port()] > 0, "{seen:?}");

    // A lagging replica (replay delayed while the primary keeps writing) is skipped, and
    // taken back once it catches up.
    tokio::task::block_in_place(|| set.set_apply_delay(0, Duration::from_secs(3))).unwrap();
    let writer = cluster.writer().clone();
    let writing = Arc::new(AtomicBool::new(true));
    let ticker = {
        let writing = writing.clone();
        tokio::spawn(async move {
            while writing.load(Ordering::Relaxed) {
                let _ = writer
                    .execute("INSERT INTO ticks VALUES (now())", &[])
                    .await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    eventually(
        Duration::from_secs(10),
        "s0 reported as lagging",
        async || {
            cluster.status().replicas[0]
                .lag
                .is_some_and(|l| l > Duration::from_millis(800))
        },
    )
    .await;
    for _ in 0..10 {
        assert_eq!(
            read_port(&cluster).await.unwrap(),
            s1.port(),
            "read on the lagging replica"
        );
    }
    tokio::task::block_in_place(|| set.set_apply_delay(0, Duration::ZERO)).unwrap();
    writing.store(false, Ordering::Relaxed);
    ticker.await.unwrap();
    eventually(
        Duration::from_secs(10),
        "s0 taken back after catching up",
        async || {
            let mut ports = Vec::new();
            for _ in 0..4 {
                ports.push(read_port(&cluster).await.unwrap());
            }
            ports.contains(&s0.port())
        },
    )
    .await;

    // A stopped replica is marked down by the next check (or at once when its pool fails
    // fast); no read fails after that.
    tokio::task::block_in_place(|| s1.stop()).unwrap();
    let stopped = Instant::now();
    eventually(Duration::from_secs(10), "s1 marked down", async || {
        !cluster.status().replicas[1].healthy
    })
    .await;
    eprintln!(
        "routing: the stopped replica was skipped after {:?}",
        stopped.elapsed()
    );
    for _ in 0..10 {
        assert_eq!(read_port(&cluster).await.unwrap(), s0.port());
    }
    // Every replica down: reads fall back to the primary.
    tokio::task::block_in_place(|| s0.stop()).unwrap();
    eventually(Duration::from_secs(10), "s0 marked down", async || {
        !cluster.status().replicas[0].healthy
    })
    .await;
    for _ in 0..5 {
        assert_eq!(read_port(&cluster).await.unwrap(), primary.port());
    }
    // Back: the replicas serve again.
    tokio::task::block_in_place(|| s0.restart()).unwrap();
    let back = Instant::now();
    eventually(Duration::from_secs(20), "s0 serves again", async || {
        let served = read_port(&cluster).await.is_ok_and(|p| p == s0.port());
        if !served && back.elapsed() > Duration::from_secs(15) {
            eprintln!("still waiting: {:?}", cluster.status());
        }
        served
    })
    .await;
    cluster.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_nodes_sit_behind_their_own_pgbouncer() {
    let Some(set) = tokio::task::block_in_place(|| replica_set(1)).unwrap() else {
        return;
    };
    let set: ReplicaSet = set;
    set.primary()
        .psql(
            "postgres",
            &format!(
                "CREATE TABLE notes (id int PRIMARY KEY); GRANT ALL ON notes TO {}",
                Role::Scram.user()
            ),
        )
        .unwrap();
    let bouncers: Vec<PgBouncer> = [set.primary(), set.standby(0).unwrap()]
        .into_iter()
        .map(|node| {
            PgBouncer::builder(node)
                .pool_mode(PoolMode::Transaction)
                .default_pool_size(2)
                .start()
                .unwrap()
        })
        .collect();
    let cluster = Cluster::builder()
        .writer(&bouncers[0].url(Role::Scram, "postgres"))
        .replica(&bouncers[1].url(Role::Scram, "postgres"))
        .pool(|b| b.transaction_pooler(true).min_idle(0).max_size(4))
        .build()
        .await
        .unwrap();
    for id in 0..20i32 {
        cluster
            .writer()
            .execute("INSERT INTO notes VALUES ($1)", &[&id])
            .await
            .unwrap();
    }
    tokio::task::block_in_place(|| set.wait_caught_up()).unwrap();
    for _ in 0..10 {
        let row = cluster
            .reader()
            .query_one("SELECT pg_is_in_recovery(), count(*) FROM notes", &[])
            .await
            .unwrap();
        assert!(row.get::<_, bool>(0), "a read went to the primary");
        assert_eq!(row.get::<_, i64>(1), 20);
    }
    cluster.close().await;
}
