//! The testkit's error: a sentence that says what failed, where to look (the server log), and
//! how to fix it when the fix is known (e.g. which package installs the server binaries).

use std::fmt;
use std::io;
use std::path::Path;

/// An error from starting, controlling or querying a test server.
#[derive(Debug)]
pub struct Error {
    message: String,
    source: Option<io::Error>,
}

impl Error {
    pub(crate) fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(message: impl Into<String>, source: io::Error) -> Self {
        Self {
            message: message.into(),
            source: Some(source),
        }
    }

    /// Appends where the server log is, and its last lines, so every failure can be diagnosed
    /// from the test output alone.
    pub(crate) fn with_log(self, log: &Path) -> Self {
        self.with_named_log("server log", log)
    }

    /// [`Error::with_log`] for another program's log: `what` names it (e.g. `pgbouncer log`).
    pub(crate) fn with_named_log(mut self, what: &str, log: &Path) -> Self {
        let tail = std::fs::read_to_string(log)
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n    ")
            })
            .unwrap_or_default();
        self.message = format!(
            "{} ({what}: {}{}{})",
            self.message,
            log.display(),
            if tail.is_empty() {
                ""
            } else {
                "; last lines:\n    "
            },
            tail
        );
        self
    }

    /// True when the operation is not possible on this kind of server (e.g. `kill()` on a
    /// server given by `DATABASE_URL`). Tests that need it should skip with a printed reason.
    pub fn is_unsupported(&self) -> bool {
        self.message.starts_with(UNSUPPORTED)
    }

    pub(crate) fn unsupported(what: &str) -> Self {
        Self::msg(format!(
            "{UNSUPPORTED}: {what} needs a server started by the testkit, not one given by DATABASE_URL"
        ))
    }
}

const UNSUPPORTED: &str = "unsupported";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// The testkit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
