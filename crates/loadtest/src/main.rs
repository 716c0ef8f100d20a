//! `tarn-loadtest`: puts tarn, deadpool-postgres and bb8-postgres against the same PostgreSQL
//! in one run and prints one table.
//!
//! # How a run is fair
//! - One server for everyone (a throwaway testkit server, or `--database-url`), one tokio runtime
//!   shape for every pool (multi-thread, 2 workers), the same SQL.
//! - Rounds interleave the pools (A B C D E, A B C D E, ...) so machine drift hits all alike;
//!   each pool's first round in a cell is a warm-up and is not counted; each figure is the
//!   median of the counted rounds, and the spread (max - min over median) is printed.
//! - Peers run at their default and at their fastest documented safe setting, both labelled
//!   (see the library's docs).
//! - `pgbench -M prepared` (C, libpq), when installed, runs the same `SELECT 1` load inside the
//!   same interleaving as the server's reference line.
//! - `--tls`: every pool (and pgbench) connects over TLS to a server with `ssl=on` (the
//!   testkit's, with certificates made for this run), verifying it fully against the same CA
//!   file: tarn with `sslmode=verify-full&sslrootcert=<ca>`, deadpool-postgres and bb8-postgres
//!   through `tokio-postgres-rustls` (rustls on ring, as tarn), pgbench through libpq's own
//!   `sslmode=verify-full` (OpenSSL).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tarn_loadtest::{Endpoint, PoolKind, Scenario, Target};

mod chart;
mod pgbench;

/// Load test: tarn vs deadpool-postgres vs bb8-postgres on one PostgreSQL.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Use this server instead of starting a throwaway one (also read from DATABASE_URL).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Scenarios to run (comma separated): select1, fetch100, write_tx, spike.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "select1,fetch100,write_tx,spike"
    )]
    scenario: Vec<String>,
    /// Concurrency levels (tasks) for the steady scenarios.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Pool size (max connections) of every pool.
    #[arg(long, default_value_t = 16)]
    pool_size: usize,
    /// Seconds per counted round.
    #[arg(long, default_value_t = 0.5)]
    duration: f64,
    /// Counted rounds per pool and cell (at least 3 for a median worth the name).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Tasks arriving at once in the spike scenario.
    #[arg(long, default_value_t = 64)]
    spike_tasks: usize,
    /// Print the results as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Where results.json and throughput.svg are written.
    #[arg(long, default_value = "target/loadtest")]
    out_dir: PathBuf,
    /// Skip the pgbench reference line.
    #[arg(long)]
    no_pgbench: bool,
    /// Connect every pool (and pgbench) over TLS with sslmode=verify-full. The throwaway
    /// server is started with TLS on and certificates made for this run; with --database-url,
    /// give the CA that signed the server's certificate with --tls-root-cert.
    #[arg(long)]
    tls: bool,
    /// With --tls and --database-url: the PEM file of the CA certificates to trust.
    #[arg(long, requires = "tls")]
    tls_root_cert: Option<PathBuf>,
}

/// One measured cell: a pool (or pgbench) in a scenario at a concurrency.
#[derive(Debug, Clone, Serialize)]
struct Row {
    pool: String,
    scenario: String,
    concurrency: usize,
    pool_size: usize,
    /// Median over counted rounds, operations per second (for spike: tasks per second).
    throughput: f64,
    /// (max - min) / median of the rounds' throughput, in percent.
    spread_pct: f64,
    acquire_p50_us: f64,
    acquire_p99_us: f64,
    acquire_max_us: f64,
    op_p50_us: f64,
    op_p99_us: f64,
    op_max_us: f64,
    errors: u64,
    connections_opened: u64,
    /// Spike only: median time until every task was served, in ms.
    spike_ms: Option<f64>,
    /// Throughput relative to tarn's in the same cell.
    ratio_to_tarn: Option<f64>,
}

#[derive(Debug, Default)]
struct Samples {
    throughput: Vec<f64>,
    acquire_ns: Vec<u64>,
    op_ns: Vec<u64>,
    errors: u64,
    connections_opened: u64,
    spike_ms: Vec<f64>,
    opened: Vec<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tarn-loadtest: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tarn-loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let scenarios = parse_scenarios(&args.scenario)?;
    if args.rounds == 0 || args.pool_size == 0 || args.concurrency.contains(&0) {
        return Err("--rounds, --pool-size and every --concurrency must be at least 1".into());
    }
    let duration = Duration::from_secs_f64(args.duration.max(0.01));

    // The server: DATABASE_URL's, or a throwaway one that lives as long as this run.
    let server;
    let endpoint = match &args.database_url {
        Some(url) if !url.is_empty() => match (args.tls, &args.tls_root_cert) {
            (false, _) => Endpoint::plain(url),
            (true, Some(ca)) => Endpoint::tls(url, ca)?,
            (true, None) => {
                return Err(
                    "--tls with --database-url needs --tls-root-cert (the CA that signed the \
                     server's certificate)"
                        .into(),
                );
            }
        },
        _ => {
            if args.tls_root_cert.is_some() {
                return Err(
                    "--tls-root-cert is for --database-url; the throwaway server's CA is made \
                     by this run"
                        .into(),
                );
            }
            eprintln!(
                "starting a throwaway PostgreSQL{} (set DATABASE_URL to use your own)...",
                if args.tls { " with TLS" } else { "" }
            );
            let tls = args.tls;
            let started = tokio::task::spawn_blocking(move || {
                let builder = tarn_testkit::PgServer::builder().max_connections(300);
                if tls {
                    let certs = tarn_testkit::TestCerts::shared()?;
                    builder
                        .tls(tarn_testkit::TlsSetup::new(certs))
                        .start()
                        .map(|server| (server, Some(certs.ca_cert().path().to_owned())))
                } else {
                    builder.start().map(|server| (server, None))
                }
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            let ca;
            (server, ca) = started;
            match ca {
                Some(ca) => Endpoint::tls(&server.url(), &ca)?,
                None => Endpoint::plain(&server.url()),
            }
        }
    };
    tarn_loadtest::prepare_schema(&endpoint.tarn_url()).await?;
    let pgbench = if args.no_pgbench {
        None
    } else {
        pgbench::Pgbench::find(&endpoint.tarn_url())
    };

    let steady: Vec<Scenario> = scenarios.iter().filter_map(|s| s.steady()).collect();
    let spike = scenarios.contains(&Choice::Spike);
    let kinds = PoolKind::ALL;
    let total_runs = steady.len() * args.concurrency.len() * kinds.len() * (args.rounds + 1)
        + if spike {
            kinds.len() * (args.rounds + 1)
        } else {
            0
        };
    let progress = ProgressBar::new(total_runs as u64);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
            .map_err(|e| e.to_string())?,
    );

    let mut rows = Vec::new();
    for &scenario in &steady {
        for &concurrency in &args.concurrency {
            let mut targets = Vec::new();
            for kind in kinds {
                // Warm to the pool size the load will use, so connects are not measured.
                let warm = concurrency.min(args.pool_size);
                targets.push((
                    kind,
                    Arc::new(Target::build(kind, &endpoint, args.pool_size, warm).await?),
                ));
            }
            let mut samples: Vec<Samples> = kinds.iter().map(|_| Samples::default()).collect();
            let mut bench_tps = Vec::new();
            let with_pgbench = scenario == Scenario::Select1 && pgbench.is_some();
            for round in 0..=args.rounds {
                for (i, (kind, target)) in targets.iter().enumerate() {
                    progress.set_message(format!(
                        "{} c={concurrency} {}",
                        scenario.name(),
                        kind.label()
                    ));
                    let result =
                        steady_round(target.clone(), scenario, concurrency, duration).await;
                    progress.inc(1);
                    if round > 0 {
                        let s = &mut samples[i];
                        s.throughput
                            .push(result.ops as f64 / result.elapsed.as_secs_f64());
                        s.acquire_ns.extend(result.acquire_ns);
                        s.op_ns.extend(result.op_ns);
                        s.errors += result.errors;
                    }
                }
                if with_pgbench
                    && round > 0
                    && let Some(bench) = &pgbench
                {
                    progress.set_message(format!("select1 c={concurrency} pgbench"));
                    match bench.select1(concurrency, duration).await {
                        Ok(tps) => bench_tps.push(tps),
                        Err(e) => progress.println(format!("pgbench failed: {e}")),
                    }
                }
            }
            for ((kind, target), mut s) in targets.into_iter().zip(samples) {
                s.connections_opened = target.connections_opened();
                rows.push(summarize(
                    kind.label(),
                    scenario.name(),
                    concurrency,
                    args.pool_size,
                    s,
                ));
                if let Ok(target) = Arc::try_unwrap(target) {
                    target.close().await;
                }
            }
            if !bench_tps.is_empty() {
                rows.push(summarize(
                    "pgbench -M prepared (C, libpq)",
                    scenario.name(),
                    concurrency,
                    concurrency,
                    Samples {
                        throughput: bench_tps,
                        ..Samples::default()
                    },
                ));
            }
        }
    }
    if spike {
        let mut samples: Vec<Samples> = kinds.iter().map(|_| Samples::default()).collect();
        for round in 0..=args.rounds {
            for (i, kind) in kinds.iter().enumerate() {
                progress.set_message(format!("spike {} tasks {}", args.spike_tasks, kind.label()));
                let result =
                    spike_round(*kind, &endpoint, args.pool_size, args.spike_tasks).await?;
                progress.inc(1);
                if round > 0 {
                    let s = &mut samples[i];
                    s.spike_ms.push(result.elapsed.as_secs_f64() * 1e3);
                    s.throughput
                        .push(args.spike_tasks as f64 / result.elapsed.as_secs_f64());
                    s.opened.push(result.opened);
                    s.acquire_ns.extend(result.acquire_ns);
                    s.op_ns.extend(result.op_ns);
                    s.errors += result.errors;
                }
            }
        }
        for (kind, mut s) in kinds.iter().zip(samples) {
            s.connections_opened = median_u64(&mut s.opened);
            rows.push(summarize(
                kind.label(),
                "spike",
                args.spike_tasks,
                args.pool_size,
                s,
            ));
        }
    }
    progress.finish_and_clear();
    add_ratios(&mut rows);

    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("could not create {}: {e}", args.out_dir.display()))?;
    let json_path = args.out_dir.join("results.json");
    let chart_path = args.out_dir.join("throughput.svg");
    let transport = transport_note(&endpoint);
    let report = Report {
        machine: machine_note(),
        runtime: "tokio multi-thread, 2 workers, shared by every pool".into(),
        transport: transport.clone(),
        round_seconds: duration.as_secs_f64(),
        rounds: args.rounds,
        rows: rows.clone(),
    };
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, &json)
        .map_err(|e| format!("could not write {}: {e}", json_path.display()))?;
    chart::throughput_by_concurrency(&rows, &chart_path, endpoint.is_tls())?;

    if args.json {
        println!("{json}");
    } else {
        if let Some(transport) = &transport {
            println!("transport: {transport}");
        }
        print_table(&rows);
        print_goals(&rows, endpoint.is_tls());
    }
    println!(
        "results: {}  chart: {}",
        display(&json_path),
        display(&chart_path)
    );
    Ok(())
}

#[derive(Serialize)]
struct Report {
    machine: String,
    runtime: String,
    /// With `--tls`: how each client verifies the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<String>,
    round_seconds: f64,
    rounds: usize,
    rows: Vec<Row>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Steady(Scenario),
    Spike,
}

impl Choice {
    fn steady(self) -> Option<Scenario> {
        match self {
            Choice::Steady(s) => Some(s),
            Choice::Spike => None,
        }
    }
}

fn parse_scenarios(names: &[String]) -> Result<Vec<Choice>, String> {
    names
        .iter()
        .map(|n| match n.trim() {
            "select1" => Ok(Choice::Steady(Scenario::Select1)),
            "fetch100" => Ok(Choice::Steady(Scenario::Fetch100)),
            "write_tx" => Ok(Choice::Steady(Scenario::WriteTx)),
            "spike" => Ok(Choice::Spike),
            other => Err(format!(
                "unknown scenario {other:?} (known: select1, fetch100, write_tx, spike)"
            )),
        })
        .collect()
}

struct RoundResult {
    ops: u64,
    elapsed: Duration,
    acquire_ns: Vec<u64>,
    op_ns: Vec<u64>,
    errors: u64,
}

/// `concurrency` tasks loop on the operation for `duration`.
async fn steady_round(
    target: Arc<Target>,
    scenario: Scenario,
    concurrency: usize,
    duration: Duration,
) -> RoundResult {
    // Every task starts at the same instant and stops at the same deadline.
    let start = Instant::now() + Duration::from_millis(5);
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut acquire_ns = Vec::with_capacity(4096);
            let mut op_ns = Vec::with_capacity(4096);
            let mut errors = 0;
            let mut seq = (task as u64) << 32;
            let mut now = Instant::now();
            while now < deadline {
                let began = now;
                match target.op(scenario, seq).await {
                    Ok(acquired) => acquire_ns.push(acquired.as_nanos() as u64),
                    Err(_) => errors += 1,
                }
                now = Instant::now();
                op_ns.push((now - began).as_nanos() as u64);
                seq += 1;
            }
            (acquire_ns, op_ns, errors)
        }));
    }
    let mut result = RoundResult {
        ops: 0,
        elapsed: Duration::ZERO,
        acquire_ns: Vec::new(),
        op_ns: Vec::new(),
        errors: 0,
    };
    for task in tasks {
        if let Ok((acquire, op, errors)) = task.await {
            result.ops += op.len() as u64 - errors;
            result.acquire_ns.extend(acquire);
            result.op_ns.extend(op);
            result.errors += errors;
        }
    }
    result.elapsed = Instant::now()
        .saturating_duration_since(start)
        .max(duration);
    result
}

struct SpikeResult {
    elapsed: Duration,
    opened: u64,
    acquire_ns: Vec<u64>,
    op_ns: Vec<u64>,
    errors: u64,
}

/// `tasks` tasks arrive at once at an idle pool of `pool_size` holding 2 idle connections;
/// each runs one `SELECT 1`.
async fn spike_round(
    kind: PoolKind,
    endpoint: &Endpoint,
    pool_size: usize,
    tasks: usize,
) -> Result<SpikeResult, String> {
    let target = Arc::new(Target::build(kind, endpoint, pool_size, 2).await?);
    let opened_before = target.connections_opened();
    let start = Instant::now() + Duration::from_millis(5);
    let mut handles = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let began = Instant::now();
            let result = target.op(Scenario::Select1, i as u64).await;
            (result, began.elapsed())
        }));
    }
    let mut out = SpikeResult {
        elapsed: Duration::ZERO,
        opened: 0,
        acquire_ns: Vec::new(),
        op_ns: Vec::new(),
        errors: 0,
    };
    for h in handles {
        match h.await {
            Ok((Ok(acquired), took)) => {
                out.acquire_ns.push(acquired.as_nanos() as u64);
                out.op_ns.push(took.as_nanos() as u64);
            }
            _ => out.errors += 1,
        }
    }
    out.elapsed = Instant::now().saturating_duration_since(start);
    // Let connects already under way land, so "opened" counts what the spike caused.
    tokio::time::sleep(Duration::from_millis(50)).await;
    out.opened = target.connections_opened().saturating_sub(opened_before) + 2;
    if let Ok(target) = Arc::try_unwrap(target) {
        target.close().await;
    }
    Ok(out)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1e3
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_u64(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn summarize(
    pool: &str,
    scenario: &str,
    concurrency: usize,
    pool_size: usize,
    mut s: Samples,
) -> Row {
    s.acquire_ns.sort_unstable();
    s.op_ns.sort_unstable();
    let throughput = median(&mut s.throughput);
    let spread_pct = match (s.throughput.first(), s.throughput.last()) {
        (Some(min), Some(max)) if throughput > 0.0 => (max - min) / throughput * 100.0,
        _ => 0.0,
    };
    Row {
        pool: pool.into(),
        scenario: scenario.into(),
        concurrency,
        pool_size,
        throughput,
        spread_pct,
        acquire_p50_us: percentile(&s.acquire_ns, 0.50),
        acquire_p99_us: percentile(&s.acquire_ns, 0.99),
        acquire_max_us: percentile(&s.acquire_ns, 1.0),
        op_p50_us: percentile(&s.op_ns, 0.50),
        op_p99_us: percentile(&s.op_ns, 0.99),
        op_max_us: percentile(&s.op_ns, 1.0),
        errors: s.errors,
        connections_opened: s.connections_opened,
        spike_ms: (!s.spike_ms.is_empty()).then(|| median(&mut s.spike_ms)),
        ratio_to_tarn: None,
    }
}

fn add_ratios(rows: &mut [Row]) {
    let tarn: Vec<(String, usize, f64)> = rows
        .iter()
        .filter(|r| r.pool == PoolKind::Tarn.label())
        .map(|r| (r.scenario.clone(), r.concurrency, r.throughput))
        .collect();
    for row in rows.iter_mut() {
        if let Some((_, _, t)) = tarn
            .iter()
            .find(|(s, c, _)| *s == row.scenario && *c == row.concurrency)
            && *t > 0.0
        {
            row.ratio_to_tarn = Some(row.throughput / t);
        }
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.0}ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{us:.0}us")
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<32} {:<9} {:>4} {:>4} {:>11} {:>7} {:>23} {:>23} {:>6} {:>6} {:>8}",
        "pool",
        "scenario",
        "conc",
        "size",
        "ops/s",
        "spread",
        "acquire p50/p99/max",
        "op p50/p99/max",
        "errors",
        "opened",
        "vs tarn"
    );
    let mut last = String::new();
    for r in rows {
        let cell = format!("{}{}", r.scenario, r.concurrency);
        if cell != last && !last.is_empty() {
            println!();
        }
        last = cell;
        let throughput = match r.spike_ms {
            Some(ms) => format!("{ms:.1}ms all"),
            None => format!("{:.0}", r.throughput),
        };
        let latency = |p50: f64, p99: f64, max: f64| {
            if max == 0.0 {
                "-".to_owned()
            } else {
                format!("{}/{}/{}", fmt_us(p50), fmt_us(p99), fmt_us(max))
            }
        };
        println!(
            "{:<32} {:<9} {:>4} {:>4} {:>11} {:>6.1}% {:>23} {:>23} {:>6} {:>6} {:>8}",
            r.pool,
            r.scenario,
            r.concurrency,
            r.pool_size,
            throughput,
            r.spread_pct,
            latency(r.acquire_p50_us, r.acquire_p99_us, r.acquire_max_us),
            latency(r.op_p50_us, r.op_p99_us, r.op_max_us),
            r.errors,
            if r.pool.starts_with("pgbench") {
                "-".to_owned()
            } else {
                r.connections_opened.to_string()
            },
            r.ratio_to_tarn
                .map(|x| format!("{x:.2}x"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!();
    println!(
        "ops/s: median of the counted rounds; spread: (max - min) / median. For spike, the time until all tasks were served."
    );
}

/// The goals, each checked against this run's figures and marked met or missed.
fn print_goals(rows: &[Row], tls: bool) {
    let find = |pool: &str, scenario: &str, c: usize| {
        rows.iter()
            .find(|r| r.pool.starts_with(pool) && r.scenario == scenario && r.concurrency == c)
    };
    let mut lines = Vec::new();
    for c in [16, 64] {
        let Some(tarn) = find(PoolKind::Tarn.label(), "select1", c) else {
            continue;
        };
        let mut goal = |name: String, ok: bool, detail: String| {
            lines.push(format!(
                "  [{}] {name}: {detail}",
                if ok { "met" } else { "MISSED" }
            ));
        };
        if let Some(d) = find(PoolKind::DeadpoolCached.label(), "select1", c) {
            let x = tarn.throughput / d.throughput;
            goal(
                format!("select1 c={c}: tarn >= 1.3x deadpool's best"),
                x >= 1.3,
                format!("{x:.2}x"),
            );
        }
        if let Some(b) = find(PoolKind::Bb8Default.label(), "select1", c) {
            let x = tarn.throughput / b.throughput;
            goal(
                format!("select1 c={c}: tarn >= 2x bb8's default"),
                x >= 2.0,
                format!("{x:.2}x"),
            );
        }
        if let Some(p) = find("pgbench", "select1", c) {
            let x = tarn.throughput / p.throughput;
            goal(
                format!("select1 c={c}: tarn >= 0.9x pgbench"),
                x >= 0.9,
                format!("{x:.2}x"),
            );
        }
        if c == 64 {
            goal(
                "select1 c=64: max acquire wait < 50 ms (no task starved)".into(),
                tarn.acquire_max_us < 50_000.0,
                fmt_us(tarn.acquire_max_us),
            );
        }
    }
    let spikes: Vec<&Row> = rows.iter().filter(|r| r.scenario == "spike").collect();
    if let Some(tarn) = spikes.iter().find(|r| r.pool == PoolKind::Tarn.label()) {
        let fewest = spikes
            .iter()
            .all(|r| tarn.connections_opened <= r.connections_opened);
        let fastest = spikes
            .iter()
            .all(|r| tarn.spike_ms.unwrap_or(f64::MAX) <= r.spike_ms.unwrap_or(f64::MAX) * 1.05);
        lines.push(format!(
            "  [{}] spike: tarn opens no more connections than any other pool ({} opened)",
            if fewest { "met" } else { "MISSED" },
            tarn.connections_opened
        ));
        lines.push(format!(
            "  [{}] spike: tarn serves it at least as fast (within 5%) ({:.1} ms)",
            if fastest { "met" } else { "MISSED" },
            tarn.spike_ms.unwrap_or_default()
        ));
    }
    if !lines.is_empty() {
        println!(
            "Goals (from this run{}):",
            if tls {
                "; over TLS, where the issue set them for plain TCP"
            } else {
                ""
            }
        );
        for l in lines {
            println!("{l}");
        }
    }
}

/// With `--tls`, how every client reaches and verifies the server.
fn transport_note(endpoint: &Endpoint) -> Option<String> {
    endpoint.ca_file().map(|ca| {
        format!(
            "TLS, verify-full against {} for every client (tarn: sslmode=verify-full; \
             deadpool/bb8: tokio-postgres-rustls, rustls on ring, WebPKI verifier; \
             pgbench: libpq sslmode=verify-full)",
            ca.display()
        )
    })
}

fn machine_note() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores; client and server share them")
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
