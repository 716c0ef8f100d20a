//! Streaming rows: peak memory and throughput of `query_stream` over 10,000,000 rows, against
//! `query` (everything in memory) over the same 1,000,000 rows, and a 100,000-row fetch through
//! tarn's stream against tokio-postgres' `query_raw` (prepared statement), rounds interleaved,
//! medians and the per-round ratio. Runtime: tokio current-thread for both clients, one
//! connection each, against one throwaway server (or `DATABASE_URL`'s).
//!
//! Peak memory is the process's high-water mark (`VmHWM` in `/proc/self/status`), read right
//! after the 10,000,000-row stream, before anything else has run.
//!
//! `cargo bench -p tarn-benches --bench streaming` (set `STREAM_ROWS` to change 10,000,000).

use std::time::{Duration, Instant};

use futures_util::{StreamExt, pin_mut};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// This process's CPU time so far (user + system), to the microsecond.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::from_secs(tv.tv_sec().max(0) as u64)
                + Duration::from_micros(tv.tv_usec().max(0) as u64)
        };
        t(u.user_time()) + t(u.system_time())
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn tarn_stream(conn: &mut tarn_wire::Connection, sql: &str, n: i64) -> (u64, Duration) {
    let started = Instant::now();
    let mut stream = conn.query_stream(sql, &[&n]).await.expect("stream");
    let mut rows = 0u64;
    let mut sum = 0i64;
    while let Some(row) = stream.next().await {
        let row = row.expect("row");
        sum = sum.wrapping_add(row.get::<_, i64>(0));
        rows += 1;
    }
    assert!(sum > 0);
    (rows, started.elapsed())
}

async fn tarn_query(conn: &mut tarn_wire::Connection, sql: &str, n: i64) -> (u64, Duration) {
    let started = Instant::now();
    let rows = conn.query(sql, &[&n]).await.expect("query");
    let sum: i64 = rows
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .fold(0, i64::wrapping_add);
    assert!(sum > 0);
    (rows.len() as u64, started.elapsed())
}

async fn pg_query_raw(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    n: i64,
) -> (u64, Duration) {
    let started = Instant::now();
    let stream = client.query_raw(statement, [n]).await.expect("query_raw");
    pin_mut!(stream);
    let mut rows = 0u64;
    let mut sum = 0i64;
    while let Some(row) = stream.next().await {
        let row = row.expect("row");
        sum = sum.wrapping_add(row.get::<_, i64>(0));
        rows += 1;
    }
    assert!(sum > 0);
    (rows, started.elapsed())
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: keep
    // that one short.
    let full = std::env::args().any(|a| a == "--bench");
    let stream_rows: i64 = std::env::var("STREAM_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 10_000_000 } else { 100_000 });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (_server, url) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let server = tarn_testkit::PgServer::start().expect("a throwaway PostgreSQL");
            let url = server.url();
            (Some(server), url)
        }
    };
    runtime.block_on(async {
        let config = tarn::Config::from_url(&url).expect("url").wire_config();
        let mut conn = tarn_wire::Connection::connect(&config).await.expect("connect");
        let sql = "SELECT g::int8, 'row number ' || g FROM generate_series(1, $1::int8) g";

        let before = peak_rss_mb();
        let (rows, took) = tarn_stream(&mut conn, sql, stream_rows).await;
        let peak = peak_rss_mb();
        println!(
            "stream {rows} rows: {:.0} rows/s, peak RSS {peak:.1} MB (before {before:.1} MB)",
            rows as f64 / took.as_secs_f64()
        );

        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("tokio-postgres");
        tokio::spawn(connection);
        let statement = client.prepare(sql).await.expect("prepare");

        let rounds = if full { 11 } else { 3 };
        let (mut stream_1m, mut query_1m) = (Vec::new(), Vec::new());
        let n = if full { 1_000_000 } else { 100_000 };
        for _ in 0..rounds {
            let (_, s) = tarn_stream(&mut conn, sql, n).await;
            let (_, q) = tarn_query(&mut conn, sql, n).await;
            stream_1m.push(n as f64 / s.as_secs_f64());
            query_1m.push(n as f64 / q.as_secs_f64());
        }
        let (s, q) = (median(stream_1m), median(query_1m));
        println!(
            "{n} rows: stream {s:.0} rows/s, query {q:.0} rows/s: stream/query {:.2}x",
            s / q
        );

        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate who goes first, so a slow phase of the machine hits both. CPU time is
            // the whole process's: the client's share of each fetch, whichever thread ran it.
            let mut tarn_round = async || {
                let cpu = cpu_time();
                let wall = tarn_stream(&mut conn, sql, 100_000).await.1;
                (wall, cpu_time() - cpu)
            };
            let pg_round = async || {
                let cpu = cpu_time();
                let wall = pg_query_raw(&client, &statement, 100_000).await.1;
                (wall, cpu_time() - cpu)
            };
            let ((a, a_cpu), (b, b_cpu)) = if round % 2 == 0 {
                let a = tarn_round().await;
                (a, pg_round().await)
            } else {
                let b = pg_round().await;
                (tarn_round().await, b)
            };
            ours.push(a.as_secs_f64() * 1000.0);
            theirs.push(b.as_secs_f64() * 1000.0);
            ratios.push(b.as_secs_f64() / a.as_secs_f64());
            ours_cpu.push(a_cpu.as_secs_f64() * 1000.0);
            theirs_cpu.push(b_cpu.as_secs_f64() * 1000.0);
        }
        let (oc, tc) = (median(ours_cpu), median(theirs_cpu));
        println!(
            "100000 rows: tarn stream {:.1} ms, tokio-postgres query_raw {:.1} ms (medians of {rounds}); \
             tarn is {:.2}x as fast (median of per-round ratios); client CPU per fetch: tarn {oc:.1} ms, \
             tokio-postgres {tc:.1} ms ({:.2}x)",
            median(ours),
            median(theirs),
            median(ratios),
            tc / oc
        );
    });
}
