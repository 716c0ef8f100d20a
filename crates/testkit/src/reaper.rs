//! The reaper: what makes sure a process the testkit starts (a postmaster, a PgBouncer) and its
//! temp dir do not outlive the test process, even when nothing drops them.
//!
//! A `static` (the shared server) is never dropped, and a test binary may be killed, so `Drop`
//! alone is not enough. Every started process therefore gets a tiny shell loop in its own
//! process group that polls the test process; once that is gone, it reads the started
//! process's pid from its pid file (whatever the pid is by then: a server may have been
//! restarted), sends it the polite stop signal, then SIGKILL after ten seconds, and removes the
//! temp dir. The owner's `Drop` cleans up itself and then kills the reaper.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::error::{Error, Result};

const SCRIPT: &str = r#"
parent=$1; dir=$2; pidfile=$3; sig=$4
while kill -0 "$parent" 2>/dev/null; do sleep 0.2; done
pid=$(head -n 1 "$pidfile" 2>/dev/null)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -"$sig" "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$dir"
"#;

/// Spawns a reaper for the process whose pid file is `pidfile` (first line: the pid) and for
/// `dir`. `signal` is the name of the stop signal (`INT`, `TERM`); `name` shows up in `ps`.
pub(crate) fn spawn(name: &str, dir: &Path, pidfile: &Path, signal: &str) -> Result<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg(name)
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(pidfile)
        .arg(signal)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C aimed at the test run must not stop the cleanup.
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io(format!("could not start the reaper {name} (sh)"), e))
}
