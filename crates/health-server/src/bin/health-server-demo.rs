//! The `health-server-demo` binary behind `make demo`: the service against a throwaway
//! PostgreSQL from `tarn-testkit` when `DATABASE_URL` is unset (or against `DATABASE_URL`'s
//! server when it is set), with the demo `campaigns` table created and seeded.
//!
//! The throwaway server lives in a temp dir and is stopped and removed when the service exits
//! (Ctrl-C or SIGTERM).

use std::process::ExitCode;

use tarn_testkit::{PgServer, Role};

fn main() -> ExitCode {
    if let Err(e) = health_server::load_dotenv() {
        eprintln!("health-server-demo: {e}");
        return ExitCode::FAILURE;
    }
    health_server::telemetry::init_tracing();

    let external = std::env::var("DATABASE_URL").is_ok_and(|url| !url.trim().is_empty());
    let server = if external {
        None
    } else {
        eprintln!("health-server-demo: DATABASE_URL is unset; starting a throwaway PostgreSQL");
        match PgServer::start() {
            Ok(server) => Some(server),
            Err(e) => {
                eprintln!("health-server-demo: could not start PostgreSQL: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let database_url = server
        .as_ref()
        .map(|s| s.params(Role::Superuser, "postgres").url());
    if let Some(url) = &database_url {
        eprintln!("health-server-demo: PostgreSQL at {url}");
    }

    // The environment, with DATABASE_URL pointing at the throwaway server (setting the
    // process environment would need `unsafe` in this edition).
    let lookup = |name: &str| match (name, &database_url) {
        ("DATABASE_URL", Some(url)) => Some(url.clone()),
        _ => std::env::var(name).ok(),
    };
    let mut settings = match health_server::Settings::from_lookup(lookup) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("health-server-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    settings.demo_schema = true;

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("health-server-demo: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(health_server::run(settings));
    drop(runtime);
    // Stops and removes the throwaway server.
    drop(server);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("health-server-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
