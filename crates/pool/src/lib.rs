//! tarn-pool: a generic async connection pool engine.
//!
//! Generic over a `Manager` that knows how to connect, check and reset a connection; the pool
//! itself knows nothing of PostgreSQL.
