//! Finding the PostgreSQL server binaries: `TARN_PG_BIN`, then `PATH`, then
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout; the newest version wins).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where `initdb`, `postgres`, `psql` and `pg_basebackup` live.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) initdb: PathBuf,
    pub(crate) postgres: PathBuf,
    pub(crate) psql: PathBuf,
    /// Beside `postgres` or the file it links to (Debian's `postgresql` package has it); only
    /// streaming standbys need it, so it may be missing.
    pub(crate) pg_basebackup: PathBuf,
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

    /// `pg_basebackup`, or an error that says how to get it.
    pub(crate) fn pg_basebackup(&self) -> Result<&Path> {
        if self.pg_basebackup.is_file() {
            return Ok(&self.pg_basebackup);
        }
        Err(Error::msg(format!(
            "{} was not found beside postgres (nor beside the file it links to): streaming \
             standbys are made with it; install the client programs of the server's version \
             (Debian/Ubuntu: `apt-get install postgresql-client-15`, which `postgresql` pulls \
             in) or point TARN_PG_BIN at a directory that holds initdb, postgres and \
             pg_basebackup",
            self.pg_basebackup.display()
        )))
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
        // Beside postgres, or beside what it links to (a PATH directory may hold only links to
        // initdb and postgres), so it is of the server's version.
        let pg_basebackup = std::iter::once(dir.to_path_buf())
            .chain(
                std::fs::canonicalize(&postgres)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf)),
            )
            .map(|d| d.join("pg_basebackup"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| dir.join("pg_basebackup"));
        Some(Self {
            initdb,
            postgres,
            psql,
            pg_basebackup,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pg_basebackup_says_how_to_get_it() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["initdb", "postgres"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let bins = Binaries::in_dir(dir.path()).unwrap();
        let err = bins.pg_basebackup().unwrap_err().to_string();
        assert!(err.contains("pg_basebackup was not found"), "{err}");
        assert!(
            err.contains("apt-get install postgresql-client-15"),
            "{err}"
        );
        std::fs::write(dir.path().join("pg_basebackup"), "").unwrap();
        let bins = Binaries::in_dir(dir.path()).unwrap();
        assert_eq!(
            bins.pg_basebackup().unwrap(),
            dir.path().join("pg_basebackup")
        );
    }
}
