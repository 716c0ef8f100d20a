//! TLS, in one run against one private server with `ssl=on` (certificates made for the run by
//! the testkit), every client verifying it fully (chain and host name) against the same CA file
//! with rustls on the ring provider:
//!
//! - **connect**: a fresh TLS connection and SCRAM authentication (`ssl_only_user`, a role the
//!   server admits only over TLS; `channel_binding=require` on both sides, so both bind)
//!   through tarn-wire (`Connection::connect`, `sslmode=verify-full`) and tokio-postgres
//!   (`Config::connect` with `tokio-postgres-rustls`), one connect at a time on a
//!   current-thread runtime. Criterion reports the mean; an interleaved loop after it prints
//!   p50/p99 and the client's CPU per connect for four cases (plain or TLS, trust or SCRAM), so
//!   the cost of each layer can be read off.
//! - **select1**: `SELECT 1` through the tarn pool and deadpool-postgres (Fast recycling,
//!   `prepare_cached`) at 1, 16 and 64 tasks (pool size 16, 2-worker multi-thread runtime), over
//!   TLS and without it, built by the load test's library (`tarn_loadtest::Target`), the same
//!   code the load test and `postgres_roundtrip` measure. Criterion reports time per operation;
//!   an interleaved loop after it prints medians of throughput, the tarn/deadpool ratio with and
//!   without TLS, and client and server CPU per query.
//!
//! Run: `cargo bench -p tarn-benches --bench tls` (4 to 8 minutes). On a noisy machine, more
//! interleaved rounds narrow the ratios: `TARN_TLS_BENCH_ROUNDS=30` (default 10 counted rounds
//! of 0.4 s per setup and concurrency) and `TARN_TLS_BENCH_CONNECTS=400` (default 200 per
//! client and case). A throughput run during which other processes used more than 0.25 cores
//! (the machine's busy time in `/proc/stat` less this process's and the server's) is discarded
//! and counted, up to three times the rounds asked for; `TARN_TLS_BENCH_QUIET=0.5` moves that
//! limit. Connects are not discarded (their clients alternate connect by connect, so load hits
//! both alike); the load during them is printed. Under `cargo test` (criterion's test mode)
//! every bench runs once and the interleaved loops run a token number of times.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use tarn_loadtest::{Endpoint, PoolKind, Scenario, Target};
use tarn_testkit::{PgServer, Role, TestCerts, TlsRole, TlsSetup};
use tokio::runtime::Runtime;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

const POOL_SIZE: usize = 16;
const CONCURRENCY: [usize; 3] = [1, 16, 64];
/// The pools of the throughput comparison: tarn and deadpool at its fastest.
const POOLS: [PoolKind; 2] = [PoolKind::Tarn, PoolKind::DeadpoolCached];

/// A count from the environment (for a longer run on a noisy machine), or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// A number from the environment, or `default`.
fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// True when run by `cargo bench` (criterion's `--bench`), false in test mode.
fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

// ---------------------------------------------------------------------------------------------
// Connects.

/// How a connect authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// The superuser, `trust` (no authentication exchange).
    Trust,
    /// SCRAM-SHA-256 (over TLS: `-PLUS`, bound to the channel).
    Scram,
}

/// One way to connect, set up for both clients.
struct ConnectCase {
    name: &'static str,
    wire: tarn_wire::Config,
    pg: tokio_postgres::Config,
    /// The tokio-postgres connector over TLS; `None` for plain TCP (`NoTls`).
    tls: Option<MakeRustlsConnect>,
}

impl ConnectCase {
    fn new(server: &PgServer, ca: &Path, tls: bool, auth: Auth) -> ConnectCase {
        let params = match (tls, auth) {
            (_, Auth::Trust) => server.params(Role::Superuser, "postgres"),
            (false, Auth::Scram) => server.params(Role::Scram, "postgres"),
            (true, Auth::Scram) => server.tls_params(TlsRole::SslOnly, "postgres"),
        };
        let mut wire = tarn_wire::Config::new();
        wire.host(&params.host)
            .port(params.port)
            .user(&params.user)
            .dbname(&params.dbname);
        let mut pg = tokio_postgres::Config::new();
        pg.host(&params.host)
            .port(params.port)
            .user(&params.user)
            .dbname(&params.dbname);
        if let Some(password) = &params.password {
            wire.password(password);
            pg.password(password);
        }
        let connector = if tls {
            wire.ssl_mode(tarn_wire::SslMode::VerifyFull)
                .ssl_root_cert(tarn_wire::SslRootCert::File(ca.to_owned()));
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            if auth == Auth::Scram {
                // Both would bind anyway (`prefer`, and the server offers it over TLS); this
                // makes sure they did.
                wire.channel_binding(tarn_wire::ChannelBinding::Require);
                pg.channel_binding(tokio_postgres::config::ChannelBinding::Require);
            }
            Some(MakeRustlsConnect::new(
                tarn_loadtest::rustls_client_config(ca).expect("a rustls config from the CA"),
            ))
        } else {
            wire.ssl_mode(tarn_wire::SslMode::Disable);
            pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            None
        };
        let name = match (tls, auth) {
            (false, Auth::Trust) => "plain + trust",
            (false, Auth::Scram) => "plain + SCRAM",
            (true, Auth::Trust) => "TLS verify-full + trust",
            (true, Auth::Scram) => "TLS verify-full + SCRAM-PLUS (*)",
        };
        ConnectCase {
            name,
            wire,
            pg,
            tls: connector,
        }
    }

    /// One connect with `client`, timed up to the first `ReadyForQuery`; the connection is
    /// closed (Terminate) after the clock stops. Returns (wall, this thread's CPU) in ns.
    async fn connect(&self, client: Client) -> (u64, u64) {
        let cpu = thread_cpu_ns();
        let started = Instant::now();
        match (client, &self.tls) {
            (Client::Wire, _) => {
                let conn = tarn_wire::Connection::connect(&self.wire)
                    .await
                    .expect("tarn-wire connect");
                let took = (started.elapsed(), thread_cpu_ns());
                conn.close().await.expect("close");
                (took.0.as_nanos() as u64, took.1.saturating_sub(cpu))
            }
            (Client::Pg, None) => {
                let (client, connection) = self.pg.connect(NoTls).await.expect("connect");
                let took = (started.elapsed(), thread_cpu_ns());
                drop(client);
                connection.await.expect("close");
                (took.0.as_nanos() as u64, took.1.saturating_sub(cpu))
            }
            (Client::Pg, Some(tls)) => {
                let (client, connection) = self.pg.connect(tls.clone()).await.expect("connect");
                let took = (started.elapsed(), thread_cpu_ns());
                drop(client);
                connection.await.expect("close");
                (took.0.as_nanos() as u64, took.1.saturating_sub(cpu))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Wire,
    Pg,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Wire => "tarn-wire",
            Client::Pg => "tokio-postgres",
        }
    }
}

fn bench_connect(c: &mut Criterion, rt: &Runtime, case: &ConnectCase) {
    let mut group = c.benchmark_group("connect_tls_scram");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for client in [Client::Wire, Client::Pg] {
        group.bench_function(BenchmarkId::from_parameter(client.label()), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += Duration::from_nanos(case.connect(client).await.0);
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

/// `n` connects per client and case. Cases and clients interleave (each pass runs every case
/// once with each client; which client goes first alternates), so drift, and other processes'
/// load, hit both clients alike; no pass is discarded for that load (it is printed). Prints
/// p50/p99 wall and median client CPU. Returns the p50 ratio tarn-wire / tokio-postgres of
/// the last case (TLS + SCRAM).
fn interleaved_connects(rt: &Runtime, cases: &[ConnectCase], n: usize, quiet: &Quiet) -> f64 {
    // [case][client] -> samples.
    let mut wall = vec![[Vec::with_capacity(n), Vec::with_capacity(n)]; cases.len()];
    let mut cpu = vec![[Vec::with_capacity(n), Vec::with_capacity(n)]; cases.len()];
    let watch = quiet.watch_ticks();
    rt.block_on(async {
        // One of each first, not counted: the rustls configurations are built on first use.
        for case in cases {
            case.connect(Client::Wire).await;
            case.connect(Client::Pg).await;
        }
        for pass in 0..n {
            let order = if pass % 2 == 0 {
                [Client::Wire, Client::Pg]
            } else {
                [Client::Pg, Client::Wire]
            };
            for (c, case) in cases.iter().enumerate() {
                for client in order {
                    let (w, t) = case.connect(client).await;
                    let k = usize::from(client == Client::Pg);
                    wall[c][k].push(w);
                    cpu[c][k].push(t);
                }
            }
        }
    });
    let others = quiet.others(&watch, 0.0);
    println!(
        "\nconnects, interleaved, {n} per client and case (wall from socket to ReadyForQuery; \
         client CPU: on-CPU time of the one runtime thread):"
    );
    println!(
        "  {:<34} {:<16} {:>9} {:>9} {:>9} {:>10}",
        "case", "client", "p50", "p99", "mean", "cpu p50"
    );
    let mut last_ratio = f64::NAN;
    for (c, case) in cases.iter().enumerate() {
        let mut p50 = [0.0; 2];
        let mut p99 = [0.0; 2];
        for (k, client) in [Client::Wire, Client::Pg].into_iter().enumerate() {
            let (wall, cpu) = (&mut wall[c][k], &mut cpu[c][k]);
            wall.sort_unstable();
            cpu.sort_unstable();
            p50[k] = percentile(wall, 0.50);
            p99[k] = percentile(wall, 0.99);
            let mean = wall.iter().sum::<u64>() as f64 / wall.len().max(1) as f64 / 1e3;
            println!(
                "  {:<34} {:<16} {:>9} {:>9} {:>9} {:>10}",
                case.name,
                client.label(),
                fmt_us(p50[k]),
                fmt_us(p99[k]),
                fmt_us(mean),
                fmt_us(percentile(cpu, 0.50)),
            );
        }
        last_ratio = p50[0] / p50[1];
        println!(
            "  {:<34} {:<16} {:>8.2}x {:>8.2}x",
            "",
            "tarn / theirs",
            p50[0] / p50[1],
            p99[0] / p99[1]
        );
    }
    println!("  (*) channel_binding=require on both clients: both bound SCRAM to the TLS channel");
    println!("  other processes meanwhile: {others:.2} cores on average");
    last_ratio
}

// ---------------------------------------------------------------------------------------------
// SELECT 1 throughput through the pools.

/// Runs `iters` operations spread over `concurrency` tasks and returns the wall time.
async fn run(target: &Arc<Target>, concurrency: usize, iters: u64) -> Duration {
    let per_task = iters.div_ceil(concurrency as u64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let target = target.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    target
                        .op(Scenario::Select1, ((t as u64) << 32) + i)
                        .await
                        .expect("operation");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    started
        .elapsed()
        .mul_f64(iters as f64 / (per_task * concurrency as u64) as f64)
}

/// `concurrency` tasks loop on `SELECT 1` for `duration`; returns the operations done.
async fn run_for(target: &Arc<Target>, concurrency: usize, duration: Duration) -> u64 {
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    target
                        .op(Scenario::Select1, ((t as u64) << 32) + done)
                        .await
                        .expect("operation");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    total
}

/// The four setups of one concurrency level: (label, transport, pool), plain first.
fn build_targets(
    rt: &Runtime,
    endpoints: &[(&'static str, Endpoint); 2],
    concurrency: usize,
) -> Vec<(String, Arc<Target>)> {
    let mut targets = Vec::new();
    for (transport, endpoint) in endpoints {
        for kind in POOLS {
            let target = rt
                .block_on(Target::build(
                    kind,
                    endpoint,
                    POOL_SIZE,
                    concurrency.min(POOL_SIZE),
                ))
                .expect("pool");
            targets.push((format!("{}/{transport}", kind.label()), Arc::new(target)));
        }
    }
    targets
}

fn close_targets(rt: &Runtime, targets: Vec<(String, Arc<Target>)>) {
    for (_, target) in targets {
        if let Ok(target) = Arc::try_unwrap(target) {
            rt.block_on(target.close());
        }
    }
}

fn bench_select1(c: &mut Criterion, rt: &Runtime, endpoints: &[(&'static str, Endpoint); 2]) {
    for concurrency in CONCURRENCY {
        let mut group = c.benchmark_group(format!("select1_tls/c{concurrency}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        let targets = build_targets(rt, endpoints, concurrency);
        for (label, target) in &targets {
            group.bench_function(BenchmarkId::from_parameter(label), |b| {
                b.iter_custom(|iters| rt.block_on(run(target, concurrency, iters)))
            });
        }
        group.finish();
        close_targets(rt, targets);
    }
}

/// Interleaved rounds of the four setups at each concurrency (a warm-up round first; the order
/// reverses every round). A setup's run during which other processes were busy (see
/// [`Quiet`]) is discarded, and so is the round's tarn/deadpool pair it belongs to; rounds
/// repeat until `rounds` pairs of each transport are counted, up to three times `rounds`.
/// Prints each setup's median throughput (with p25-p75) and CPU per query, and the
/// tarn/deadpool ratios as the median of the rounds' ratios (the two pools of a transport run
/// next to each other in every round, so a ratio sees little drift). Returns, per concurrency,
/// the tarn/deadpool ratio (plain, TLS).
fn interleaved_select1(
    rt: &Runtime,
    endpoints: &[(&'static str, Endpoint); 2],
    quiet: &Quiet,
    rounds: usize,
    round: Duration,
) -> Vec<(usize, f64, f64)> {
    println!(
        "\nselect1 throughput, interleaved, rounds of {:.1} s per setup (medians and p25-p75 of \
         the counted runs; CPU per query: this process / the server's processes, medians):",
        round.as_secs_f64()
    );
    println!(
        "  {:>4} {:<40} {:>9} {:>15} {:>11} {:>11}",
        "conc", "setup", "ops/s", "p25-p75", "client cpu", "server cpu"
    );
    let mut ratios = Vec::new();
    for concurrency in CONCURRENCY {
        // Order: tarn/plain, deadpool/plain, tarn/tls, deadpool/tls.
        let targets = build_targets(rt, endpoints, concurrency);
        let mut tput: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut client_cpu: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let mut server_cpu: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        let (mut plain_ratio, mut tls_ratio) = (Vec::new(), Vec::new());
        let (mut discarded, mut others_sum, mut others_n) = (0, 0.0, 0);
        let mut r = 0;
        while plain_ratio.len().min(tls_ratio.len()) < rounds && r <= 3 * rounds {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            if r % 2 == 1 {
                order.reverse();
            }
            // This round's throughput of each setup, if its run was quiet.
            let mut this_round = vec![None; targets.len()];
            for i in order {
                let target = &targets[i].1;
                let (c0, s0) = (process_cpu_ns(), server_cpu_ns(quiet.postmaster));
                let watch = quiet.watch();
                let ops = rt.block_on(run_for(target, concurrency, round));
                let elapsed = watch.started.elapsed().as_secs_f64();
                let (c1, s1) = (process_cpu_ns(), server_cpu_ns(quiet.postmaster));
                let (client, server) = (c1.saturating_sub(c0), s1.saturating_sub(s0));
                let others = quiet.others(&watch, (client + server) as f64 / 1e9);
                if r == 0 || ops == 0 {
                    continue;
                }
                if !quiet.accepts(others) {
                    discarded += 1;
                    continue;
                }
                others_sum += others;
                others_n += 1;
                this_round[i] = Some(ops as f64 / elapsed);
                tput[i].push(ops as f64 / elapsed);
                client_cpu[i].push(client as f64 / 1e3 / ops as f64);
                server_cpu[i].push(server as f64 / 1e3 / ops as f64);
            }
            if let (Some(t), Some(d)) = (this_round[0], this_round[1]) {
                plain_ratio.push(t / d);
            }
            if let (Some(t), Some(d)) = (this_round[2], this_round[3]) {
                tls_ratio.push(t / d);
            }
            r += 1;
        }
        let mut medians = Vec::new();
        for (i, (label, _)) in targets.iter().enumerate() {
            let m = median(&mut tput[i]);
            println!(
                "  {:>4} {:<40} {:>9.0} {:>15} {:>8.1} us {:>8.1} us",
                concurrency,
                label,
                m,
                format!(
                    "{:.0}-{:.0}",
                    quartile(&tput[i], 0.25),
                    quartile(&tput[i], 0.75)
                ),
                median(&mut client_cpu[i]),
                median(&mut server_cpu[i]),
            );
            medians.push(m);
        }
        let plain = median(&mut plain_ratio);
        let tls = median(&mut tls_ratio);
        println!(
            "  {:>4} tarn / deadpool, median of {} and {} rounds' ratios: plain {plain:.2}x \
             (p25-p75 {:.2}-{:.2}), TLS {tls:.2}x (p25-p75 {:.2}-{:.2}); TLS throughput / \
             plain: tarn {:.2}x, deadpool {:.2}x",
            concurrency,
            plain_ratio.len(),
            tls_ratio.len(),
            quartile(&plain_ratio, 0.25),
            quartile(&plain_ratio, 0.75),
            quartile(&tls_ratio, 0.25),
            quartile(&tls_ratio, 0.75),
            medians[2] / medians[0],
            medians[3] / medians[1],
        );
        println!(
            "  {:>4} other processes during the counted runs: {:.2} cores on average; {discarded} \
             runs discarded",
            concurrency,
            others_sum / f64::from(others_n.max(1)),
        );
        ratios.push((concurrency, plain, tls));
        close_targets(rt, targets);
    }
    ratios
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers.

fn schedstat_ns(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// This thread's on-CPU time in nanoseconds (0 where schedstat is unavailable).
fn thread_cpu_ns() -> u64 {
    schedstat_ns(Path::new("/proc/thread-self/schedstat")).unwrap_or(0)
}

/// This process's on-CPU time (every thread), in nanoseconds.
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| schedstat_ns(&t.path().join("schedstat")))
        .sum()
}

/// On-CPU time of the postmaster and every process it started (backends, background
/// workers), in nanoseconds. Backends that exit during a round take their time with them; the
/// pools' backends live across the whole comparison.
fn server_cpu_ns(postmaster: Option<u32>) -> u64 {
    let Some(postmaster) = postmaster else {
        return 0;
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total =
        schedstat_ns(&PathBuf::from(format!("/proc/{postmaster}/schedstat"))).unwrap_or(0);
    for entry in procs.flatten() {
        let path = entry.path();
        if proc_stat(&path.join("stat")).is_some_and(|(ppid, _, _)| ppid == postmaster) {
            total += schedstat_ns(&path.join("schedstat")).unwrap_or(0);
        }
    }
    total
}

/// `/proc/<pid>/stat` fields after the name: (ppid, utime + stime, cutime + cstime), in ticks.
fn proc_stat(path: &Path) -> Option<(u32, u64, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // `pid (comm) state ppid ...`: the name may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((u32::try_from(n(1)?).ok()?, n(11)? + n(12)?, n(13)? + n(14)?))
}

/// Other processes' load, so that measurements taken while they were busy can be discarded
/// (other people share these machines): everything busy in `/proc/stat` minus this process and
/// the server (the postmaster, its live children and, through the postmaster's
/// reaped-children counters, the backends that exited).
struct Quiet {
    postmaster: Option<u32>,
    /// Runs and blocks during which other processes used more than this many cores on average
    /// are discarded.
    limit: f64,
}

/// The start of a watched stretch.
struct Watch {
    started: Instant,
    machine: u64,
    /// Our CPU seconds from tick counters, when the stretch is to be judged by them.
    ours: Option<f64>,
}

impl Quiet {
    /// Starts a stretch whose own CPU time the caller measures (precisely) itself.
    fn watch(&self) -> Watch {
        Watch {
            started: Instant::now(),
            machine: machine_busy_ticks(),
            ours: None,
        }
    }

    /// Starts a stretch whose own CPU time is read from tick counters, which also count
    /// backends that exited meanwhile (as connects leave behind).
    fn watch_ticks(&self) -> Watch {
        Watch {
            ours: Some(self.ours_ticks()),
            ..self.watch()
        }
    }

    /// This process's and the server's CPU time in seconds, from tick counters.
    fn ours_ticks(&self) -> f64 {
        let mut ticks = proc_stat(Path::new("/proc/self/stat")).map_or(0, |s| s.1);
        if let Some(postmaster) = self.postmaster {
            ticks += proc_stat(&PathBuf::from(format!("/proc/{postmaster}/stat")))
                .map_or(0, |s| s.1 + s.2);
            if let Ok(procs) = std::fs::read_dir("/proc") {
                for entry in procs.flatten() {
                    if let Some((ppid, own, _)) = proc_stat(&entry.path().join("stat"))
                        && ppid == postmaster
                    {
                        ticks += own;
                    }
                }
            }
        }
        ticks as f64 / TICKS_PER_SECOND
    }

    /// Other processes' CPU since `watch`, in cores (1.0: one core busy all along). `ours`:
    /// this process's and the server's CPU seconds meanwhile, for a [`Quiet::watch`]
    /// stretch; ignored for a [`Quiet::watch_ticks`] one.
    fn others(&self, watch: &Watch, ours: f64) -> f64 {
        let ours = match watch.ours {
            Some(start) => self.ours_ticks() - start,
            None => ours,
        };
        let machine = machine_busy_ticks().saturating_sub(watch.machine) as f64 / TICKS_PER_SECOND;
        ((machine - ours) / watch.started.elapsed().as_secs_f64().max(1e-3)).max(0.0)
    }

    fn accepts(&self, others: f64) -> bool {
        others <= self.limit
    }
}

/// Linux reports `/proc` CPU times in USER_HZ, 100 per second on every common configuration.
const TICKS_PER_SECOND: f64 = 100.0;

/// Busy ticks of every CPU: user, nice and system. Interrupt time is left out (the loopback
/// traffic of the measurement itself lands there without being charged to any process), and
/// so is steal (the host's doing, not another process's here; it shows in the spread).
fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().next() else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    v.iter().take(3).sum()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1e3
}

/// The `p` quantile of `sorted` (nearest rank); 0 when empty.
fn quartile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn fmt_us(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{us:.0}us")
    }
}

fn main() {
    let bench = bench_mode();
    let certs = TestCerts::shared().expect("test certificates");
    let ca = certs.ca_cert().path().to_owned();
    let server = PgServer::builder()
        .max_connections(200)
        .tls(TlsSetup::new(certs))
        .start()
        .expect("a PostgreSQL server with TLS");
    // Plain and TLS against the same server, so TLS is the only difference. tarn needs
    // `sslmode=disable` for plain here: its default (`prefer`) would use the server's TLS.
    let plain_url = format!("{}?sslmode=disable", server.url());
    let endpoints = [
        ("plain", Endpoint::plain(&plain_url)),
        (
            "tls",
            Endpoint::tls(&server.url(), &ca).expect("a TLS endpoint"),
        ),
    ];
    let connect_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pool_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cases = [
        ConnectCase::new(&server, &ca, false, Auth::Trust),
        ConnectCase::new(&server, &ca, false, Auth::Scram),
        ConnectCase::new(&server, &ca, true, Auth::Trust),
        ConnectCase::new(&server, &ca, true, Auth::Scram),
    ];

    let mut criterion = Criterion::default().configure_from_args();
    bench_connect(&mut criterion, &connect_rt, &cases[3]);
    bench_select1(&mut criterion, &pool_rt, &endpoints);
    criterion.final_summary();

    let (connects, rounds, round) = if bench {
        (
            env_count("TARN_TLS_BENCH_CONNECTS", 200),
            env_count("TARN_TLS_BENCH_ROUNDS", 10),
            Duration::from_millis(400),
        )
    } else {
        (2, 1, Duration::from_millis(20))
    };
    let quiet = Quiet {
        postmaster: server.pid(),
        limit: if bench {
            env_f64("TARN_TLS_BENCH_QUIET", 0.25)
        } else {
            f64::INFINITY
        },
    };
    let connect_ratio = interleaved_connects(&connect_rt, &cases, connects, &quiet);
    let ratios = interleaved_select1(&pool_rt, &endpoints, &quiet, rounds, round);

    if bench {
        println!("\ngoals (from this run):");
    } else {
        println!("\ngoals (test mode: token counts, these figures mean nothing):");
    }
    let mark = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "  [{}] connect over TLS + SCRAM: tarn-wire p50 <= 1.1x tokio-postgres (+ tokio-postgres-rustls): {connect_ratio:.2}x",
        mark(connect_ratio <= 1.1)
    );
    for (concurrency, plain, tls) in ratios {
        println!(
            "  [{}] select1 c={concurrency}: tarn/deadpool over TLS >= without TLS: {tls:.2}x vs {plain:.2}x",
            mark(tls >= plain)
        );
    }
}
