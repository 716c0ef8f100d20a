//! `SELECT 1` and a 10-row fetch through tarn, deadpool-postgres and bb8-postgres (each at its
//! default and its fastest safe setting) at concurrency 1, 16 and 64, against one throwaway
//! server started by the bench (or `DATABASE_URL`'s). Runtime: tokio multi-thread, 2 workers,
//! the same for every pool. Reported time is wall time per operation across all tasks, so a
//! lower figure is higher throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_main};
use tarn_loadtest::{Endpoint, PoolKind, Scenario, Target};

const POOL_SIZE: usize = 16;

fn server_url() -> (Option<tarn_testkit::PgServer>, String) {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let server = tarn_testkit::PgServer::start().expect("a throwaway PostgreSQL");
            let url = server.url();
            (Some(server), url)
        }
    }
}

/// Runs `iters` operations spread over `concurrency` tasks and returns the wall time.
async fn run(target: &Arc<Target>, scenario: Scenario, concurrency: usize, iters: u64) -> Duration {
    let per_task = iters.div_ceil(concurrency as u64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let target = target.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    target
                        .op(scenario, ((t as u64) << 32) + i)
                        .await
                        .expect("operation");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    // Scale to exactly `iters` operations.
    started
        .elapsed()
        .mul_f64(iters as f64 / (per_task * concurrency as u64) as f64)
}

fn postgres_roundtrip(c: &mut Criterion) {
    let (_server, url) = server_url();
    let endpoint = Endpoint::plain(&url);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for scenario in [Scenario::Select1, Scenario::Fetch10] {
        for concurrency in [1, 16, 64] {
            let mut group = c.benchmark_group(format!("{}/c{concurrency}", scenario.name()));
            group
                .sample_size(10)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
            for kind in PoolKind::ALL {
                let target = Arc::new(
                    runtime
                        .block_on(Target::build(
                            kind,
                            &endpoint,
                            POOL_SIZE,
                            concurrency.min(POOL_SIZE),
                        ))
                        .expect("pool"),
                );
                group.bench_function(BenchmarkId::from_parameter(kind.label()), |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(run(&target, scenario, concurrency, iters))
                    })
                });
                if let Ok(target) = Arc::try_unwrap(target) {
                    runtime.block_on(target.close());
                }
            }
            group.finish();
        }
    }
}

// `criterion_group!` defines an undocumented `pub fn`; the lint cannot be satisfied from here.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::postgres_roundtrip);
}
use group::benches;

criterion_main!(benches);
