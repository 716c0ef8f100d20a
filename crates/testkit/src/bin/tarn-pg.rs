//! `tarn-pg up | down | check | check-replicas`: a throwaway PostgreSQL for manual use
//! (`make pg-up` / `make pg-down`).
//!
//! `up` starts a server, prints its URL, and keeps it until SIGINT or SIGTERM, then removes
//! it. `down` sends SIGTERM to a running `up` (found through a pid file in the temp dir).
//! `check` starts the shared server the way a test binary does, prints its version, pid and
//! dir, and exits without stopping it, leaving the cleanup to the reaper (the testkit's tests
//! use it to prove that nothing outlives the process). `check-replicas` does the same with a
//! primary and one streaming standby, printing a `pid=` and a `dir=` line per node.

use std::path::PathBuf;
use std::process::ExitCode;

use nix::sys::signal::{self, SigSet, Signal};
use nix::unistd::Pid;
use tarn_testkit::{PgServer, ReplicaSet, Role};

fn pid_file() -> PathBuf {
    std::env::temp_dir().join("tarn-pg.pid")
}

fn up() -> Result<(), String> {
    // Block the signals before anything else so they are taken by `wait` below, not by the
    // default handler that would skip cleanup.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().map_err(|e| e.to_string())?;

    let server = PgServer::start().map_err(|e| e.to_string())?;
    std::fs::write(pid_file(), std::process::id().to_string()).map_err(|e| e.to_string())?;
    println!("PostgreSQL is up (stop with Ctrl-C or `make pg-down`):");
    println!("  DATABASE_URL={}", server.url());
    if let Some(dir) = server.socket_dir() {
        println!("  unix socket dir: {}", dir.display());
    }
    for role in [Role::Cleartext, Role::Md5, Role::Scram] {
        println!(
            "  {} auth: {}",
            role.method(),
            server.params(role, "postgres").url()
        );
    }
    if let Some(log) = server.log_path() {
        println!("  log: {}", log.display());
    }
    let signal = signals.wait().map_err(|e| e.to_string())?;
    println!("{signal:?}: stopping");
    let _ = std::fs::remove_file(pid_file());
    drop(server);
    Ok(())
}

fn down() -> Result<(), String> {
    let path = pid_file();
    let pid: i32 = std::fs::read_to_string(&path)
        .map_err(|_| format!("no server is up ({} not found)", path.display()))?
        .trim()
        .parse()
        .map_err(|_| format!("{} does not hold a pid", path.display()))?;
    signal::kill(Pid::from_raw(pid), Signal::SIGTERM)
        .map_err(|e| format!("could not signal the server's keeper (pid {pid}): {e}"))?;
    println!("asked pid {pid} to stop the server");
    Ok(())
}

fn check() -> Result<(), String> {
    let server = PgServer::shared().map_err(|e| e.to_string())?;
    let version = server
        .psql("postgres", "SHOW server_version")
        .map_err(|e| e.to_string())?;
    println!("version={version}");
    if let (Some(pid), Some(dir)) = (server.pid(), server.dir()) {
        println!("pid={pid}");
        println!("dir={}", dir.display());
    }
    Ok(())
}

fn check_replicas() -> Result<(), String> {
    let set = ReplicaSet::start(1).map_err(|e| e.to_string())?;
    for (_, server) in set.nodes() {
        if let (Some(pid), Some(dir)) = (server.pid(), server.dir()) {
            println!("pid={pid}");
            println!("dir={}", dir.display());
        }
    }
    // As a test process that dies without dropping it: only the reapers are left to clean up.
    std::mem::forget(set);
    Ok(())
}

fn main() -> ExitCode {
    let result = match std::env::args().nth(1).as_deref() {
        Some("up") => up(),
        Some("down") => down(),
        Some("check") => check(),
        Some("check-replicas") => check_replicas(),
        _ => Err("usage: tarn-pg up | down | check | check-replicas".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tarn-pg: {e}");
            ExitCode::FAILURE
        }
    }
}
