//! One connection, sequential queries: tarn-wire against tokio-postgres, in one run.
//!
//! Both clients run on one current-thread tokio runtime and use a prepared statement (for
//! tokio-postgres a `Statement` from `prepare`, since `query(&str)` would add a round trip;
//! for tarn-wire both a `Statement` and SQL text served from its statement cache, which are
//! one round trip each). Groups:
//! - `select1`: `SELECT 1`, decoding the value;
//! - `fetch100`: 100 rows of (int4, text, float8), decoding every value.
//!
//! Run: `cargo bench -p tarn-benches --bench wire_roundtrip -- --warm-up-time 1 --measurement-time 4`

use std::time::Instant;

use criterion::{Criterion, Throughput};
use tarn_testkit::{PgServer, Role};
use tokio::runtime::Runtime;

const SELECT1: &str = "SELECT 1::int4";
const FETCH100: &str = "SELECT g, g::text, g::float8 FROM generate_series(1, 100) g";

struct Clients {
    wire: tarn_wire::Connection,
    wire_select1: tarn_wire::Statement,
    wire_fetch100: tarn_wire::Statement,
    pg: tokio_postgres::Client,
    pg_select1: tokio_postgres::Statement,
    pg_fetch100: tokio_postgres::Statement,
    /// The server process serving each client, for its CPU time.
    wire_backend: i32,
    pg_backend: i32,
}

fn connect(rt: &Runtime, server: &PgServer, dbname: &str) -> Clients {
    let params = server.params(Role::Superuser, dbname);
    rt.block_on(async {
        let mut config = tarn_wire::Config::new();
        config
            .host(&params.host)
            .port(params.port)
            .user(&params.user)
            .dbname(&params.dbname);
        let mut wire = tarn_wire::Connection::connect(&config)
            .await
            .expect("tarn-wire connect");
        let wire_select1 = wire.prepare(SELECT1).await.expect("prepare");
        let wire_fetch100 = wire.prepare(FETCH100).await.expect("prepare");

        let (pg, connection) = tokio_postgres::connect(&params.url(), tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connect");
        tokio::spawn(connection);
        let pg_select1 = pg.prepare(SELECT1).await.expect("prepare");
        let pg_fetch100 = pg.prepare(FETCH100).await.expect("prepare");
        let wire_backend = wire.backend_pid();
        let pg_backend: i32 = pg
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("backend pid")
            .get(0);
        Clients {
            wire,
            wire_select1,
            wire_fetch100,
            pg,
            pg_select1,
            pg_fetch100,
            wire_backend,
            pg_backend,
        }
    })
}

fn bench_select1(c: &mut Criterion, rt: &Runtime, clients: &mut Clients) {
    let mut group = c.benchmark_group("select1");
    group.throughput(Throughput::Elements(1));
    group.bench_function("tarn-wire/statement", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let row = clients
                        .wire
                        .query_one(&clients.wire_select1, &[])
                        .await
                        .expect("query");
                    assert_eq!(row.get::<_, i32>(0), 1);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tarn-wire/cached-sql", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let row = clients.wire.query_one(SELECT1, &[]).await.expect("query");
                    assert_eq!(row.get::<_, i32>(0), 1);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio-postgres/statement", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let row = clients
                        .pg
                        .query_one(&clients.pg_select1, &[])
                        .await
                        .expect("query");
                    assert_eq!(row.get::<_, i32>(0), 1);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

fn bench_fetch100(c: &mut Criterion, rt: &Runtime, clients: &mut Clients) {
    let mut group = c.benchmark_group("fetch100");
    group.throughput(Throughput::Elements(100));
    group.bench_function("tarn-wire/statement", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let rows = clients
                        .wire
                        .query(&clients.wire_fetch100, &[])
                        .await
                        .expect("query");
                    let mut sum = 0i64;
                    for row in &rows {
                        sum += i64::from(row.get::<_, i32>(0));
                        sum += row.get::<_, &str>(1).len() as i64;
                        sum += row.get::<_, f64>(2) as i64;
                    }
                    assert_eq!(rows.len(), 100);
                    std::hint::black_box(sum);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("tokio-postgres/statement", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let rows = clients
                        .pg
                        .query(&clients.pg_fetch100, &[])
                        .await
                        .expect("query");
                    let mut sum = 0i64;
                    for row in &rows {
                        sum += i64::from(row.get::<_, i32>(0));
                        sum += row.get::<_, &str>(1).len() as i64;
                        sum += row.get::<_, f64>(2) as i64;
                    }
                    assert_eq!(rows.len(), 100);
                    std::hint::black_box(sum);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

#[derive(Clone, Copy)]
enum Workload {
    WireSelect1,
    PgSelect1,
    WireFetch100,
    PgFetch100,
}

/// This thread's on-CPU time in nanoseconds (Linux `/proc/thread-self/schedstat`), if known.
fn thread_cpu_ns() -> Option<u64> {
    schedstat_ns("/proc/thread-self/schedstat")
}

/// A local server process's on-CPU time in nanoseconds, if readable.
fn process_cpu_ns(pid: i32) -> Option<u64> {
    schedstat_ns(&format!("/proc/{pid}/schedstat"))
}

fn schedstat_ns(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `n` queries of `workload`; returns (wall, CPU) microseconds per query (CPU is NaN
/// where schedstat is unavailable).
fn cpu_per_query(rt: &Runtime, clients: &mut Clients, workload: Workload, n: u32) -> (f64, f64) {
    rt.block_on(async {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        for _ in 0..n {
            match workload {
                Workload::WireSelect1 => {
                    let row = clients
                        .wire
                        .query_one(&clients.wire_select1, &[])
                        .await
                        .expect("query");
                    std::hint::black_box(row.get::<_, i32>(0));
                }
                Workload::PgSelect1 => {
                    let row = clients
                        .pg
                        .query_one(&clients.pg_select1, &[])
                        .await
                        .expect("query");
                    std::hint::black_box(row.get::<_, i32>(0));
                }
                Workload::WireFetch100 => {
                    let rows = clients
                        .wire
                        .query(&clients.wire_fetch100, &[])
                        .await
                        .expect("query");
                    for row in &rows {
                        std::hint::black_box((
                            row.get::<_, i32>(0),
                            row.get::<_, &str>(1),
                            row.get::<_, f64>(2),
                        ));
                    }
                }
                Workload::PgFetch100 => {
                    let rows = clients
                        .pg
                        .query(&clients.pg_fetch100, &[])
                        .await
                        .expect("query");
                    for row in &rows {
                        std::hint::black_box((
                            row.get::<_, i32>(0),
                            row.get::<_, &str>(1),
                            row.get::<_, f64>(2),
                        ));
                    }
                }
            }
        }
        let wall = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
        let cpu = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e3 / f64::from(n),
            _ => f64::NAN,
        };
        (wall, cpu)
    })
}

fn main() {
    let server = PgServer::start().expect("start a PostgreSQL server");
    let db = server.create_database().expect("create a database");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut clients = connect(&rt, &server, db.name());

    let mut criterion = Criterion::default().configure_from_args();
    bench_select1(&mut criterion, &rt, &mut clients);
    bench_fetch100(&mut criterion, &rt, &mut clients);
    criterion.final_summary();

    // Client CPU per query, which a latency-bound wall-clock figure hides: both clients run
    // on this thread (current-thread runtime), so this thread's on-CPU time is the client's.
    // The clients alternate in chunks so that load drifting on a shared machine hits both alike.
    let rounds = 20;
    let chunk = 500;
    let workloads = [
        ("select1/tarn-wire", Workload::WireSelect1),
        ("select1/tokio-postgres", Workload::PgSelect1),
        ("fetch100/tarn-wire", Workload::WireFetch100),
        ("fetch100/tokio-postgres", Workload::PgFetch100),
    ];
    // (wall, client CPU, server CPU) per query.
    let mut totals = [(0.0f64, 0.0f64, 0.0f64); 4];
    for _ in 0..rounds {
        for (total, (_, workload)) in totals.iter_mut().zip(workloads) {
            let backend = match workload {
                Workload::WireSelect1 | Workload::WireFetch100 => clients.wire_backend,
                Workload::PgSelect1 | Workload::PgFetch100 => clients.pg_backend,
            };
            let server_start = process_cpu_ns(backend);
            let (wall, cpu) = cpu_per_query(&rt, &mut clients, workload, chunk);
            let server = match (server_start, process_cpu_ns(backend)) {
                (Some(a), Some(b)) => (b - a) as f64 / 1e3 / f64::from(chunk),
                _ => f64::NAN,
            };
            total.0 += wall / f64::from(rounds);
            total.1 += cpu / f64::from(rounds);
            total.2 += server / f64::from(rounds);
        }
    }
    println!(
        "interleaved, {} queries each (per query: wall; on-CPU time of the client thread and of \
         its server backend):",
        rounds * chunk
    );
    for ((name, _), (wall, cpu, server)) in workloads.iter().zip(totals) {
        println!(
            "  {name:<26} wall {wall:>7.1} us   client cpu {cpu:>6.2} us   server cpu {server:>6.2} us"
        );
    }
    for pair in [0, 2] {
        let (ours, theirs) = (totals[pair], totals[pair + 1]);
        println!(
            "  {:<26} throughput ratio {:.2}x, client CPU ratio {:.2}x, server CPU ratio {:.2}x",
            workloads[pair].0,
            theirs.0 / ours.0,
            ours.1 / theirs.1,
            ours.2 / theirs.2
        );
    }

    rt.block_on(async {
        let _ = clients.wire.close().await;
    });
}
