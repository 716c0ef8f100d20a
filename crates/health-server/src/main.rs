//! The `health-server` binary: loads `.env`, sets up logging, runs the service from
//! [`health_server::run`], and turns a start-up error into a message on stderr and exit code 1.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let started = async {
        health_server::load_dotenv()?;
        health_server::telemetry::init_tracing();
        let settings = health_server::Settings::from_env()?;
        health_server::run(settings).await
    };
    match started.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("health-server: {e}");
            ExitCode::FAILURE
        }
    }
}
