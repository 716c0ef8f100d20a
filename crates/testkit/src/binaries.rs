//! Finding the PostgreSQL server binaries: `TARN_PG_BIN`, then `PATH`, then
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout; the newest version wins).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where `initdb`, `postgres` and `psql` live.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
    pub(crate) psql: PathBuf,
}

const INSTALL_HINT: &str = "install them (Debian/Ubuntu: `apt-get install postgresql`; Fedora: \
     `dnf install postgresql-server`; macOS: `brew install postgresql@15`), point TARN_PG_BIN at \
     the directory that holds initdb and postgres, or set DATABASE_URL to use a running server";

impl Binaries {
    /// Finds the server binaries, or says how to install them.
    pub(crate) fn find() -> Result<Self> {
        if let Some(dir) = std::env::var_os("TARN_PG_BIN") {
            let dir = PathBuf::from(dir);
            return Self::in_dir(&dir).ok_or_else(|| {
                Error::msg(format!(
                    "TARN_PG_BIN={} does not hold initdb and postgres; {INSTALL_HINT}",
                    dir.display()
                ))
            });
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if let Some(found) = Self::in_dir(&dir) {
                    return Ok(found);
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort();
        versions
            .into_iter()
            .rev()
            .find_map(|(_, dir)| Self::in_dir(&dir))
            .ok_or_else(|| {
                Error::msg(format!(
                    "PostgreSQL server binaries (initdb, postgres) were not found in TARN_PG_BIN, \
                     PATH or /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
                ))
            })
    }

    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        if !initdb.is_file() || !postgres.is_file() {
            return None;
        }
        // psql usually sits beside the server; Debian also links it onto PATH.
        let psql = Some(dir.join("psql"))
            .filter(|p| p.is_file())
            .or_else(find_psql_on_path)
            .unwrap_or_else(|| dir.join("psql"));
        Some(Self {
            initdb,
            postgres,
            psql,
        })
    }
}

/// `psql` on PATH, for servers the testkit did not start (DATABASE_URL).
pub(crate) fn find_psql_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("psql"))
        .find(|p| p.is_file())
}

/// `psql` from wherever it can be found, with an error that says how to get it.
pub(crate) fn find_psql() -> Result<PathBuf> {
    if let Ok(bins) = Binaries::find()
        && bins.psql.is_file()
    {
        return Ok(bins.psql);
    }
    find_psql_on_path().ok_or_else(|| {
        Error::msg(
            "psql was not found (TARN_PG_BIN, PATH, /usr/lib/postgresql/*/bin): the testkit runs \
             its admin SQL through it; install the PostgreSQL client (Debian: `apt-get install \
             postgresql-client`)",
        )
    })
}
