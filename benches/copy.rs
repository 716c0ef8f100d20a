//! COPY FROM STDIN of 1,000,000 rows (text format): tarn-wire's `copy_in` against
//! tokio-postgres's `copy_in`, in one run.
//!
//! Both clients run on one current-thread tokio runtime (tokio-postgres's connection task too,
//! so this thread's CPU time is each client's whole cost), copy the same pre-built rows into
//! the same UNLOGGED table (truncated before each copy, untimed), and alternate run by run
//! (ABBA) so that load drifting on a shared machine hits both alike. Two workloads:
//! - `per-row`: one call per row (`send(&row)` / `feed(Bytes)`), as an application that
//!   produces rows one at a time would write; the clients' own batching is what is measured;
//! - `64k-chunks`: rows already batched into 64 KiB pieces by the caller.
//!
//! Reported per copy: wall time, the client thread's on-CPU time and the server backend's
//! (both from `/proc/.../schedstat`), and the ratios.
//!
//! Run: `cargo bench -p tarn-benches --bench copy`

use std::pin::pin;
use std::time::Instant;

use bytes::Bytes;
use futures_util::SinkExt;
use tarn_testkit::{PgServer, Role};
use tokio::runtime::Runtime;

const ROWS: usize = 1_000_000;
const SQL: &str = "COPY bench_copy FROM STDIN";
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Client {
    TarnWire,
    TokioPostgres,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    PerRow,
    Chunks,
}

/// The rows, once: all the bytes, and where each row ends.
struct Data {
    all: Bytes,
    ends: Vec<usize>,
}

fn build_data() -> Data {
    use std::io::Write;
    let mut all = Vec::with_capacity(ROWS * 32);
    let mut ends = Vec::with_capacity(ROWS);
    for i in 0..ROWS {
        writeln!(
            all,
            "{i}\tname-{:x}\t{}",
            (i as u64).wrapping_mul(2_654_435_761),
            i % 1000
        )
        .expect("write to a Vec");
        ends.push(all.len());
    }
    Data {
        all: all.into(),
        ends,
    }
}

struct Clients {
    wire: tarn_wire::Connection,
    pg: tokio_postgres::Client,
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
        wire.simple_query(
            "CREATE UNLOGGED TABLE bench_copy (id int8, name text, n int4);
             SET statement_timeout = 0",
        )
        .await
        .expect("create the table");
        let (pg, connection) = tokio_postgres::connect(&params.url(), tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres connect");
        tokio::spawn(connection);
        pg.batch_execute("SET statement_timeout = 0")
            .await
            .expect("set");
        let pg_backend: i32 = pg
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("backend pid")
            .get(0);
        Clients {
            wire_backend: wire.backend_pid(),
            wire,
            pg,
            pg_backend,
        }
    })
}

/// Copies every row with `client`; returns the row count the server reported.
async fn copy(clients: &mut Clients, data: &Data, client: Client, shape: Shape) -> u64 {
    match client {
        Client::TarnWire => {
            let mut sink = clients.wire.copy_in(SQL).await.expect("copy_in");
            match shape {
                Shape::PerRow => {
                    let mut start = 0;
                    for &end in &data.ends {
                        sink.send(&data.all[start..end]).await.expect("send");
                        start = end;
                    }
                }
                Shape::Chunks => {
                    for chunk in data.all.chunks(CHUNK) {
                        sink.send(chunk).await.expect("send");
                    }
                }
            }
            sink.finish().await.expect("finish")
        }
        Client::TokioPostgres => {
            let sink = clients.pg.copy_in::<_, Bytes>(SQL).await.expect("copy_in");
            let mut sink = pin!(sink);
            match shape {
                Shape::PerRow => {
                    let mut start = 0;
                    for &end in &data.ends {
                        sink.feed(data.all.slice(start..end)).await.expect("feed");
                        start = end;
                    }
                }
                Shape::Chunks => {
                    let mut start = 0;
                    while start < data.all.len() {
                        let end = (start + CHUNK).min(data.all.len());
                        sink.feed(data.all.slice(start..end)).await.expect("feed");
                        start = end;
                    }
                }
            }
            sink.as_mut().finish().await.expect("finish")
        }
    }
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

/// One timed copy: (wall, client CPU, server CPU) in milliseconds (CPU NaN if unknown).
fn measure(
    rt: &Runtime,
    clients: &mut Clients,
    data: &Data,
    client: Client,
    shape: Shape,
) -> [f64; 3] {
    rt.block_on(async {
        clients
            .wire
            .simple_query("TRUNCATE bench_copy")
            .await
            .expect("truncate");
        let backend = match client {
            Client::TarnWire => clients.wire_backend,
            Client::TokioPostgres => clients.pg_backend,
        };
        let server_start = process_cpu_ns(backend);
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let rows = copy(clients, data, client, shape).await;
        let wall = start.elapsed().as_secs_f64() * 1e3;
        let cpu = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e6,
            _ => f64::NAN,
        };
        let server = match (server_start, process_cpu_ns(backend)) {
            (Some(a), Some(b)) => (b - a) as f64 / 1e6,
            _ => f64::NAN,
        };
        assert_eq!(rows, ROWS as u64);
        [wall, cpu, server]
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() {
    let rounds: usize = std::env::var("COPY_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let server = PgServer::start().expect("start a PostgreSQL server");
    let db = server.create_database().expect("create a database");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut clients = connect(&rt, &server, db.name());
    let data = build_data();
    println!(
        "COPY FROM STDIN, {ROWS} rows of text ({:.1} MB), {rounds} copies per client and shape, \
         alternating (medians per copy):",
        data.all.len() as f64 / 1e6
    );
    // One warm-up copy each.
    for client in [Client::TarnWire, Client::TokioPostgres] {
        measure(&rt, &mut clients, &data, client, Shape::PerRow);
    }
    for (shape, name) in [(Shape::PerRow, "per-row"), (Shape::Chunks, "64k-chunks")] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [Client::TarnWire, Client::TokioPostgres]
            } else {
                [Client::TokioPostgres, Client::TarnWire]
            };
            for client in order {
                let m = measure(&rt, &mut clients, &data, client, shape);
                match client {
                    Client::TarnWire => ours.push(m),
                    Client::TokioPostgres => theirs.push(m),
                }
            }
        }
        let med = |runs: &[[f64; 3]], i: usize| median(runs.iter().map(|m| m[i]).collect());
        for (label, runs) in [("tarn-wire", &ours), ("tokio-postgres", &theirs)] {
            println!(
                "  {name:<10} {label:<15} wall {:>7.1} ms   client cpu {:>7.1} ms   server cpu {:>7.1} ms   ({:.0} rows/s)",
                med(runs, 0),
                med(runs, 1),
                med(runs, 2),
                ROWS as f64 / med(runs, 0) * 1e3
            );
        }
        println!(
            "  {name:<10} throughput ratio (tarn-wire / tokio-postgres) {:.2}x, client CPU ratio {:.2}x, server CPU ratio {:.2}x",
            med(&theirs, 0) / med(&ours, 0),
            med(&ours, 1) / med(&theirs, 1),
            med(&ours, 2) / med(&theirs, 2)
        );
    }
    rt.block_on(async {
        let _ = clients.wire.close().await;
    });
}
