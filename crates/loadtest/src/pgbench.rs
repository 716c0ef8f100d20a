//! The server's reference line: the same `SELECT 1` load through `pgbench -M prepared` (C,
//! libpq, one thread per core), the closest thing to a physical limit on the machine.

use std::path::PathBuf;
use std::time::Duration;

/// A pgbench binary and what it needs to reach the server.
pub(crate) struct Pgbench {
    binary: PathBuf,
    url: String,
    script: tempfile_path::Script,
}

impl Pgbench {
    /// Finds pgbench on PATH or beside the server binaries; `None` when it is not installed.
    pub(crate) fn find(url: &str) -> Option<Pgbench> {
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pgbench"))
                .find(|p| p.is_file())
        });
        let beside_server = || {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .flatten()
                .map(|e| e.path().join("bin").join("pgbench"))
                .filter(|p| p.is_file())
                .collect();
            dirs.sort();
            dirs.pop()
        };
        let binary = on_path.or_else(beside_server)?;
        let script = tempfile_path::Script::new("SELECT 1;\n").ok()?;
        Some(Pgbench {
            binary,
            url: url.to_owned(),
            script,
        })
    }

    /// Runs `SELECT 1` from `clients` connections for about `duration` (whole seconds, at
    /// least one: pgbench's unit) and returns its transactions per second.
    pub(crate) async fn select1(&self, clients: usize, duration: Duration) -> Result<f64, String> {
        let threads = if clients.is_multiple_of(2) { 2 } else { 1 };
        let seconds = duration.as_secs_f64().round().max(1.0) as u64;
        let out = tokio::process::Command::new(&self.binary)
            .args(["-n", "-M", "prepared", "-f"])
            .arg(self.script.path())
            .args(["-c", &clients.to_string(), "-j", &threads.to_string()])
            .args(["-T", &seconds.to_string()])
            .arg(&self.url)
            .output()
            .await
            .map_err(|e| format!("could not run {}: {e}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{} exited with {}: {}",
                self.binary.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no tps line in pgbench's output: {stdout}"))
    }
}

mod tempfile_path {
    //! A script file that is removed when dropped.

    use std::path::{Path, PathBuf};

    pub(crate) struct Script(PathBuf);

    impl Script {
        pub(crate) fn new(text: &str) -> std::io::Result<Script> {
            let path =
                std::env::temp_dir().join(format!("tarn-loadtest-{}.sql", std::process::id()));
            std::fs::write(&path, text)?;
            Ok(Script(path))
        }

        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Script {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
